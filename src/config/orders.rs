//! `[orders]`: what tradebeat keeps of closed orders (README.md, "Order retention").

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigError;

/// `[orders]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrdersConfig {
    /// Per (market, symbol), how many final orders (FILLED, CANCELED, REJECTED, EXPIRED,
    /// `not_placed`) to keep; older ones are deleted once a day with their executions.
    /// Default `"all"`: nothing is deleted. Orders not final are never deleted.
    pub keep_closed_per_symbol: KeepClosed,
}

/// `orders.keep_closed_per_symbol`: `"all"` or a number ≥ 1 (in TOML an integer; in the
/// environment its digits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeepClosed {
    /// Keep every order (the default).
    #[default]
    All,
    /// Keep the newest N final orders per (market, symbol).
    Newest(u32),
}

impl OrdersConfig {
    /// Refuses `keep_closed_per_symbol = 0`.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.keep_closed_per_symbol == KeepClosed::Newest(0) {
            return Err(ConfigError::invalid(
                "orders.keep_closed_per_symbol",
                "must be at least 1, or \"all\" (the default) to keep every order",
            ));
        }
        Ok(())
    }
}

impl Serialize for KeepClosed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            KeepClosed::All => s.serialize_str("all"),
            KeepClosed::Newest(n) => s.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for KeepClosed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeepClosed;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"all\" or a number of orders (1 or more)")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<KeepClosed, E> {
                u32::try_from(n)
                    .map(KeepClosed::Newest)
                    .map_err(|_| E::custom(format!("{n} is too large")))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<KeepClosed, E> {
                u64::try_from(n)
                    .map_err(|_| E::custom(format!("{n} is negative")))
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<KeepClosed, E> {
                let s = s.trim();
                if s.eq_ignore_ascii_case("all") {
                    return Ok(KeepClosed::All);
                }
                s.parse::<u64>()
                    .map_err(|_| E::custom(format!("{s:?} is not \"all\" or a number")))
                    .and_then(|n| self.visit_u64(n))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_a_number_or_its_digits() {
        let parse =
            |text: &str| toml::from_str::<OrdersConfig>(text).map(|c| c.keep_closed_per_symbol);
        assert_eq!(parse("").unwrap(), KeepClosed::All);
        assert_eq!(
            parse("keep_closed_per_symbol = 3").unwrap(),
            KeepClosed::Newest(3)
        );
        assert_eq!(
            parse("keep_closed_per_symbol = \"3\"").unwrap(),
            KeepClosed::Newest(3)
        );
        assert_eq!(
            parse("keep_closed_per_symbol = \"all\"").unwrap(),
            KeepClosed::All
        );
        assert!(parse("keep_closed_per_symbol = -1").is_err());
        assert!(parse("keep_closed_per_symbol = \"some\"").is_err());
        let zero = OrdersConfig {
            keep_closed_per_symbol: KeepClosed::Newest(0),
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("orders.keep_closed_per_symbol")
        );
        assert_eq!(
            toml::to_string(&OrdersConfig::default()).unwrap(),
            "keep_closed_per_symbol = \"all\"\n"
        );
    }
}
