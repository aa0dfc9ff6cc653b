//! Query-string parameters, decoded and validated the way Binance does
//! (see "General API Information" → "Endpoint security type"/"parameters" in the spot docs):
//! parameters may come in any order, a parameter sent twice is rejected (-1101), undecodable
//! input is -1100, missing mandatory parameters are -1102.
//!
//! The raw query string is kept too, so that signed endpoints can verify an HMAC over
//! exactly the bytes the client sent.

use std::collections::HashSet;

use crate::error::ApiError;

/// Legal pattern of a symbol name.
pub(crate) const SYMBOL_PATTERN: &str = "^[A-Z0-9-_.]{1,20}$";

/// Legal pattern of an integer parameter.
const INTEGER_PATTERN: &str = "^[0-9]{1,20}$";

/// Legal pattern of a `symbols` JSON array.
const SYMBOLS_PATTERN: &str = "^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$";

/// Decoded query parameters in request order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Params {
    raw: String,
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes an `application/x-www-form-urlencoded` query string (without `?`).
    pub(crate) fn parse(query: &str) -> Result<Params, ApiError> {
        let mut pairs = Vec::new();
        let mut seen = HashSet::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let name = percent_decode(name).ok_or_else(ApiError::illegal_chars)?;
            let value = percent_decode(value).ok_or_else(ApiError::illegal_chars)?;
            if !seen.insert(name.clone()) {
                return Err(ApiError::duplicate_parameter());
            }
            pairs.push((name, value));
        }
        Ok(Params {
            raw: query.to_owned(),
            pairs,
        })
    }

    /// Parameters given as decoded pairs (in-process helpers); -1101 when a name repeats.
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Result<Params, ApiError> {
        let mut seen = HashSet::new();
        if !pairs.iter().all(|(name, _)| seen.insert(*name)) {
            return Err(ApiError::duplicate_parameter());
        }
        Ok(Params {
            raw: pairs
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("&"),
            pairs: pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        })
    }

    /// The query string exactly as received.
    pub(crate) fn raw(&self) -> &str {
        &self.raw
    }

    /// The value of `name`, if sent (possibly empty).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A mandatory parameter: -1102 when missing or empty.
    pub(crate) fn mandatory(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::mandatory(name)),
        }
    }

    /// An optional parameter: `None` when missing, -1105 when sent empty.
    pub(crate) fn optional(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.get(name) {
            Some("") => Err(ApiError::empty(name)),
            other => Ok(other),
        }
    }

    /// An optional non-negative integer (millisecond timestamps): -1100 when malformed.
    pub(crate) fn optional_i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.optional(name)?
            .map(|v| parse_integer(v).ok_or_else(|| ApiError::illegal(name, INTEGER_PATTERN)))
            .transpose()
    }

    /// An optional integer that must lie in `min..=max`: -1100 otherwise.
    pub(crate) fn optional_in_range(
        &self,
        name: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, ApiError> {
        self.optional(name)?
            .map(|v| {
                parse_integer(v)
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| ApiError::illegal(name, &format!("{min}-{max}")))
            })
            .transpose()
    }

    /// A symbol parameter's value checked against [`SYMBOL_PATTERN`] (-1100).
    pub(crate) fn check_symbol<'a>(&self, name: &str, value: &'a str) -> Result<&'a str, ApiError> {
        if valid_symbol(value) {
            Ok(value)
        } else {
            Err(ApiError::illegal(name, SYMBOL_PATTERN))
        }
    }

    /// The `symbols` parameter: a JSON array of symbol names such as `["BTCUSDT","ETHUSDT"]`.
    /// -1100 when it is not such an array, -1151 when a name repeats.
    pub(crate) fn symbol_list(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        let Some(value) = self.optional(name)? else {
            return Ok(None);
        };
        let list: Vec<String> =
            serde_json::from_str(value).map_err(|_| ApiError::illegal(name, SYMBOLS_PATTERN))?;
        if !list.iter().all(|s| valid_symbol(s)) {
            return Err(ApiError::illegal(name, SYMBOLS_PATTERN));
        }
        let mut seen = HashSet::new();
        if !list.iter().all(|s| seen.insert(s.as_str())) {
            return Err(ApiError::duplicate_symbols());
        }
        Ok(Some(list))
    }
}

/// Number of entries in a `symbols` array, leniently (for weight computation only).
pub(crate) fn count_symbols(value: &str) -> usize {
    serde_json::from_str::<Vec<serde_json::Value>>(value).map_or(1, |v| v.len())
}

/// Whether `s` matches [`SYMBOL_PATTERN`].
pub(crate) fn valid_symbol(s: &str) -> bool {
    (1..=20).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

fn parse_integer(v: &str) -> Option<i64> {
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// Form-urlencoded decoding: `+` is a space, `%XX` a byte; the result must be UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_validates() {
        let p = Params::parse("symbol=BTCUSDT&symbols=%5B%22BTCUSDT%22,%22ETHUSDT%22%5D&limit=5")
            .expect("parses");
        assert_eq!(p.get("symbol"), Some("BTCUSDT"));
        assert_eq!(
            p.symbol_list("symbols").expect("list"),
            Some(vec!["BTCUSDT".to_owned(), "ETHUSDT".to_owned()])
        );
        assert_eq!(p.optional_in_range("limit", 1, 1000), Ok(Some(5)));
        assert_eq!(p.optional_i64("startTime"), Ok(None));
        assert_eq!(p.mandatory("interval").map_err(|e| e.code), Err(-1102));
        let raw = Params::parse(r#"symbols=["BTCUSDT","BTCUSDT"]"#).expect("parses");
        assert_eq!(raw.symbol_list("symbols").map_err(|e| e.code), Err(-1151));
        let bad = Params::parse("symbols=BTCUSDT&limit=1001&startTime=-1").expect("parses");
        assert_eq!(bad.symbol_list("symbols").map_err(|e| e.code), Err(-1100));
        assert_eq!(
            bad.optional_in_range("limit", 1, 1000).map_err(|e| e.code),
            Err(-1100)
        );
        assert_eq!(
            bad.optional_i64("startTime").map_err(|e| e.code),
            Err(-1100)
        );
        assert_eq!(Params::parse("a=1&a=2").map_err(|e| e.code), Err(-1101));
        assert_eq!(Params::parse("a=%ZZ").map_err(|e| e.code), Err(-1100));
        assert_eq!(Params::parse("a=%FF").map_err(|e| e.code), Err(-1100));
        assert!(valid_symbol("SIM001USDT"));
        assert!(!valid_symbol("btcusdt"));
        assert_eq!(count_symbols(r#"["A","B"]"#), 2);
    }
}
