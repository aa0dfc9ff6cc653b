//! The JSON shapes every Binance REST API shares: integers sent as numbers or strings, the
//! error body `{"code", "msg"}` and the server time. Private to `exchange`.
//!
//! Error codes: https://developers.binance.com/docs/binance-spot-api-docs/errors

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

/// An integer sent as a JSON number or as a string of digits (shared with the signed
/// endpoints' wire structs in `trading.rs`).
#[derive(Debug, Clone, Copy)]
pub(in crate::exchange) struct Int(pub(in crate::exchange) i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IntVisitor;
        impl Visitor<'_> for IntVisitor {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer, as a number or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format!("integer {v} is too large")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                v.parse()
                    .map(Int)
                    .map_err(|_| E::custom(format!("{v:?} is not an integer")))
            }
        }
        d.deserialize_any(IntVisitor)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireServerTime {
    server_time: Int,
}

#[derive(Deserialize)]
struct WireApiError {
    code: Int,
    msg: String,
}

fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// `{"serverTime": 1499827319559}` → the server time, ms.
pub(in crate::exchange) fn parse_server_time(body: &[u8]) -> Result<i64, String> {
    from_json::<WireServerTime>(body).map(|t| t.server_time.0)
}

/// An error body `{"code": -1121, "msg": "Invalid symbol."}` → `(code, msg)`; `None` when
/// the body is not one (<https://developers.binance.com/docs/binance-spot-api-docs/errors>).
pub(in crate::exchange) fn parse_api_error(body: &[u8]) -> Option<(i64, String)> {
    from_json::<WireApiError>(body)
        .ok()
        .map(|e| (e.code.0, e.msg))
}

/// The end of a ban from a 418 message: "… IP banned until 1663154404434. …" → ms.
pub(in crate::exchange) fn banned_until_from_msg(msg: &str) -> Option<i64> {
    const MARKER: &str = "banned until ";
    let start = msg.find(MARKER)? + MARKER.len();
    let digits: &str = &msg[start..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// A book ticker as every Binance market spells it (`symbol`, `bidPrice`, `bidQty`,
/// `askPrice`, `askQty`, decimal strings): spot's `GET /api/v3/ticker/bookTicker`, USDⓈ-M's
/// and COIN-M's `GET /fapi|dapi/v1/ticker/bookTicker`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(in crate::exchange) struct WireBookTicker {
    pub(in crate::exchange) symbol: String,
    bid_price: String,
    bid_qty: String,
    ask_price: String,
    ask_qty: String,
}

impl WireBookTicker {
    /// The book ticker of `symbol`; `Err` names the field that is not a decimal.
    pub(in crate::exchange) fn into_book_ticker(
        self,
        symbol: &crate::domain::Symbol,
    ) -> Result<crate::domain::BookTicker, String> {
        let dec =
            |key: &str, s: &str| crate::domain::parse_decimal(s).map_err(|e| format!("{key}: {e}"));
        Ok(crate::domain::BookTicker {
            symbol: symbol.clone(),
            bid_price: dec("bidPrice", &self.bid_price)?,
            bid_qty: dec("bidQty", &self.bid_qty)?,
            ask_price: dec("askPrice", &self.ask_price)?,
            ask_qty: dec("askQty", &self.ask_qty)?,
        })
    }
}
