//! `[paper]`: the paper-trading settings (README.md, "Paper trading").

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::domain::Market;

/// `[paper]`: paper trading. With `enabled`, orders are simulated against the exchange's
/// real public prices (`venue::PaperVenue`) and never sent; no API key is needed.
/// Fees are fractions (`"0.001"` = 0.1 %), balances amounts, all as decimal strings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaperConfig {
    /// Simulate orders instead of sending them. Default `false`.
    pub enabled: bool,
    /// What a new paper account holds: asset → amount (spot), or per market
    /// (`{ spot = { USDT = "10000" } }`). Absent: 10000 USDT on spot. A futures market
    /// without a table of its own gets its default: 10000 USDT on `usdm`, 1 BTC on `coinm`.
    pub starting_balances: Option<BTreeMap<String, PaperBalance>>,
    /// Fee of a fill that rested first, a fraction. Default `"0.001"` (Binance spot's base
    /// tier).
    pub maker_fee: String,
    /// Fee of a fill that took liquidity at once, a fraction. Default `"0.001"`.
    pub taker_fee: String,
}

/// A value of `paper.starting_balances`: an amount, or a market's table of amounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PaperBalance {
    /// An asset's amount, a decimal string.
    Amount(String),
    /// A market's (`spot`, `usdm`, `coinm`) assets and amounts.
    Market(BTreeMap<String, String>),
}

impl Default for PaperConfig {
    fn default() -> Self {
        PaperConfig {
            enabled: false,
            starting_balances: None,
            maker_fee: "0.001".to_string(),
            taker_fee: "0.001".to_string(),
        }
    }
}

impl PaperConfig {
    /// The maker and taker fees.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the key of a fee that is not a decimal in `0..1`.
    pub fn fees(&self) -> Result<crate::domain::PaperFees, ConfigError> {
        let fee = |key: &str, text: &str| {
            let bad = || {
                ConfigError::invalid(
                    format!("paper.{key}"),
                    format!(
                        "must be a decimal fraction from 0 to below 1, such as \"0.001\", not {text:?}"
                    ),
                )
            };
            let d = crate::domain::parse_decimal(text).map_err(|_| bad())?;
            if d.is_sign_negative() || d >= Decimal::ONE {
                return Err(bad());
            }
            Ok(d)
        };
        Ok(crate::domain::PaperFees {
            maker: fee("maker_fee", &self.maker_fee)?,
            taker: fee("taker_fee", &self.taker_fee)?,
        })
    }

    /// The starting balances of `market` (asset → amount): the flat entries count for
    /// spot, a market's table for that market; a futures market without a table gets
    /// [`PaperConfig::futures_default_balances`].
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the key of an amount that is not a decimal ≥ 0, or
    /// an asset name that is not 1 to 20 upper-case letters and digits.
    pub fn starting_balances(
        &self,
        market: Market,
    ) -> Result<BTreeMap<String, Decimal>, ConfigError> {
        let Some(map) = &self.starting_balances else {
            let mut out = BTreeMap::new();
            if market == Market::Spot {
                out.insert("USDT".to_string(), Decimal::from(10_000));
            }
            out.extend(Self::futures_default_balances(market));
            return Ok(out);
        };
        let mut out = BTreeMap::new();
        let mut add = |key: String, asset: &str, text: &str| -> Result<(), ConfigError> {
            let asset_ok = (1..=20).contains(&asset.len())
                && asset
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !asset_ok {
                return Err(ConfigError::invalid(
                    key,
                    "is not an asset name (upper-case letters and digits, e.g. USDT)",
                ));
            }
            let amount = crate::domain::parse_decimal(text)
                .ok()
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(|| {
                    ConfigError::invalid(
                        key.clone(),
                        format!("must be a decimal amount ≥ 0 such as \"10000\", not {text:?}"),
                    )
                })?;
            out.insert(asset.to_string(), amount);
            Ok(())
        };
        for (key, value) in map {
            match value {
                PaperBalance::Amount(text) => {
                    if Market::from_str(key).is_ok() {
                        return Err(ConfigError::invalid(
                            format!("paper.starting_balances.{key}"),
                            "must be a table of assets and amounts, such as { USDT = \"10000\" }",
                        ));
                    }
                    if market == Market::Spot {
                        add(format!("paper.starting_balances.{key}"), key, text)?;
                    }
                }
                PaperBalance::Market(assets) => {
                    let m = Market::from_str(key).map_err(|_| {
                        ConfigError::invalid(
                            format!("paper.starting_balances.{key}"),
                            "is neither an asset with an amount nor a market (spot, usdm, coinm)",
                        )
                    })?;
                    for (asset, text) in assets {
                        let full = format!("paper.starting_balances.{key}.{asset}");
                        if m == market {
                            add(full, asset, text)?;
                        } else {
                            // Checked all the same: a typo is an error whatever the market.
                            crate::domain::parse_decimal(text).map_err(|_| {
                                ConfigError::invalid(full, format!("must be a decimal amount ≥ 0 such as \"10000\", not {text:?}"))
                            })?;
                        }
                    }
                }
            }
        }
        if market != Market::Spot && !map.contains_key(market.as_str()) {
            out.extend(Self::futures_default_balances(market));
        }
        Ok(out)
    }

    /// The starting balances of a futures market whose table `starting_balances` does not
    /// give: 10000 USDT on `usdm`, 1 BTC on `coinm` (nothing for spot).
    pub fn futures_default_balances(market: Market) -> BTreeMap<String, Decimal> {
        match market {
            Market::Spot => BTreeMap::new(),
            Market::UsdM => BTreeMap::from([("USDT".to_string(), Decimal::from(10_000))]),
            Market::CoinM => BTreeMap::from([("BTC".to_string(), Decimal::ONE)]),
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.fees()?;
        for market in [Market::Spot, Market::UsdM, Market::CoinM] {
            self.starting_balances(market)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Result<super::super::Config, ConfigError> {
        let env: [(&str, &str); 0] = [];
        super::super::from_sources(Some((std::path::Path::new("test.toml"), toml)), env)
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_flat_and_per_market_balances() {
        let c = load("").unwrap();
        assert!(!c.paper.enabled);
        assert_eq!(
            c.paper.starting_balances(Market::Spot).unwrap(),
            BTreeMap::from([("USDT".to_string(), d("10000"))])
        );
        assert_eq!(c.paper.fees().unwrap().taker, d("0.001"));

        let c = load(
            "[paper]\nenabled = true\nstarting_balances = { USDT = \"500\", BTC = \"0.5\" }\nmaker_fee = \"0.0002\"\ntaker_fee = \"0.0004\"\n",
        )
        .unwrap();
        assert!(c.paper.enabled);
        let spot = c.paper.starting_balances(Market::Spot).unwrap();
        assert_eq!(spot.len(), 2, "no default merged in: {spot:?}");
        assert_eq!(spot["BTC"], d("0.5"));
        assert_eq!(c.paper.fees().unwrap().maker, d("0.0002"));

        let c = load(
            "[paper]\nstarting_balances = { spot = { USDT = \"1\" }, usdm = { USDT = \"2\" } }\n",
        )
        .unwrap();
        assert_eq!(
            c.paper.starting_balances(Market::Spot).unwrap()["USDT"],
            d("1")
        );
        assert_eq!(
            c.paper.starting_balances(Market::UsdM).unwrap()["USDT"],
            d("2")
        );
        // A futures market without a table of its own gets its default.
        assert_eq!(
            c.paper.starting_balances(Market::CoinM).unwrap(),
            BTreeMap::from([("BTC".to_string(), d("1"))])
        );
        let c = load("").unwrap();
        assert_eq!(
            c.paper.starting_balances(Market::UsdM).unwrap(),
            BTreeMap::from([("USDT".to_string(), d("10000"))])
        );
    }

    #[test]
    fn a_fee_or_balance_that_is_not_a_decimal_names_its_key() {
        for (toml, key) in [
            ("[paper]\nmaker_fee = \"0.1%\"\n", "paper.maker_fee"),
            ("[paper]\ntaker_fee = \"1.5\"\n", "paper.taker_fee"),
            ("[paper]\ntaker_fee = \"-0.001\"\n", "paper.taker_fee"),
            (
                "[paper]\nstarting_balances = { USDT = \"lots\" }\n",
                "paper.starting_balances.USDT",
            ),
            (
                "[paper]\nstarting_balances = { spot = { BTC = \"1e3\" } }\n",
                "paper.starting_balances.spot.BTC",
            ),
            (
                "[paper]\nstarting_balances = { moon = { BTC = \"1\" } }\n",
                "paper.starting_balances.moon",
            ),
        ] {
            match load(toml) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{toml}"),
                other => panic!("{toml}: expected an error naming {key}, got {other:?}"),
            }
        }
    }
}
