//! Profit and loss of one symbol from its fills, with average-cost accounting, in exact
//! decimals. Pure: [`pnl_of`] reads nothing and writes nothing; `pnl.list` feeds it the
//! `executions` of a (market, symbol) and the last stored price.
//!
//! # Accounting (average cost)
//!
//! The position is a signed base quantity (spot: the base bought less the base sold; a
//! sale beyond what was bought in the record opens a negative position) with an average
//! entry price. Fills are taken oldest first:
//! - a fill in the direction of the position (or from flat) moves the average entry to
//!   the quantity-weighted mean of the old entry and the fill price;
//! - a fill against it closes `min(|fill|, |position|)` at the fill price: realized PnL
//!   grows by `closed × (price − entry)` for a long (`× (entry − price)` for a short); the
//!   entry stays. What goes beyond flat opens the other way at the fill price.
//!
//! Commission is a fee, never part of the entry price: paid in the base asset (spot buys)
//! it also shrinks the base received (a buy of `q` with base commission `c` adds `q − c`),
//! and counts in `fees` at the fill price; paid in the quote asset (spot sells) it counts
//! as is; paid in any other asset (BNB) it is listed in `other_fees`, unconverted.
//! `realized_pnl` and `unrealized_pnl` are before fees; `net_pnl` is
//! `realized + unrealized − fees`. Money is in the quote asset. A division (the entry
//! price) is rounded by `rust_decimal` to 28 significant digits; every other step is
//! exact.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::Side;
use super::order::decimal_str;

/// One fill, as the PnL computation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PnlFill {
    pub side: Side,
    /// Base quantity traded.
    pub qty: Decimal,
    /// Price, in the quote asset.
    pub price: Decimal,
    pub commission: Decimal,
    /// The commission's asset; `None` when there was none.
    pub commission_asset: Option<String>,
}

/// The PnL of one symbol (module docs): quote-asset amounts, exact decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pnl {
    /// Signed base quantity held (negative: more sold than bought in the record).
    #[serde(with = "decimal_str")]
    pub position: Decimal,
    /// Average entry price of the position; zero when flat.
    #[serde(with = "decimal_str")]
    pub avg_entry: Decimal,
    /// Realized PnL of the closed quantity, before fees.
    #[serde(with = "decimal_str")]
    pub realized_pnl: Decimal,
    /// Fees paid in the base or quote asset, in the quote asset.
    #[serde(with = "decimal_str")]
    pub fees: Decimal,
    /// Fees paid in other assets, by asset, unconverted.
    pub other_fees: BTreeMap<String, String>,
    /// `position × (last − entry)` at the last price; `None` without one.
    #[serde(with = "decimal_str::option")]
    pub unrealized_pnl: Option<Decimal>,
    /// `realized + unrealized − fees` (unrealized counted as zero when unknown).
    #[serde(with = "decimal_str")]
    pub net_pnl: Decimal,
    /// Fills counted.
    pub trades: usize,
}

/// The PnL (module docs) of the fills of one symbol, oldest first, whose base and quote
/// assets are `base` and `quote`, at the last price `last_price`.
pub fn pnl_of(fills: &[PnlFill], base: &str, quote: &str, last_price: Option<Decimal>) -> Pnl {
    let mut position = Decimal::ZERO;
    let mut entry = Decimal::ZERO;
    let mut realized = Decimal::ZERO;
    let mut fees = Decimal::ZERO;
    let mut other: BTreeMap<String, Decimal> = BTreeMap::new();
    for fill in fills {
        let mut delta = match fill.side {
            Side::Buy => fill.qty,
            Side::Sell => -fill.qty,
        };
        match fill.commission_asset.as_deref() {
            _ if fill.commission.is_zero() => {}
            Some(asset) if asset == base => {
                delta -= fill.commission;
                fees += fill.commission * fill.price;
            }
            Some(asset) if asset == quote => fees += fill.commission,
            Some(asset) => *other.entry(asset.to_string()).or_default() += fill.commission,
            None => {}
        }
        if position.is_zero() || position.is_sign_positive() == delta.is_sign_positive() {
            let total = position.abs() + delta.abs();
            if !total.is_zero() {
                entry = (position.abs() * entry + delta.abs() * fill.price) / total;
            }
            position += delta;
        } else {
            let closed = delta.abs().min(position.abs());
            let per_unit = if position.is_sign_positive() {
                fill.price - entry
            } else {
                entry - fill.price
            };
            realized += closed * per_unit;
            let rest = delta.abs() - closed;
            position += delta;
            if position.is_zero() {
                entry = Decimal::ZERO;
            } else if !rest.is_zero() {
                entry = fill.price;
            }
        }
    }
    let unrealized = last_price.map(|last| position * (last - entry));
    Pnl {
        position: position.normalize(),
        avg_entry: entry.normalize(),
        realized_pnl: realized.normalize(),
        fees: fees.normalize(),
        other_fees: other
            .into_iter()
            .map(|(a, d)| (a, d.normalize().to_string()))
            .collect(),
        unrealized_pnl: unrealized.map(|u| u.normalize()),
        net_pnl: (realized + unrealized.unwrap_or_default() - fees).normalize(),
        trades: fills.len(),
    }
}

/// The PnL of one (market, symbol)'s fills as `pnl.list` and a strategy's context give
/// it: on COIN-M with its contract size known, [`pnl_of_coin_margined`] (contracts, money
/// in the base coin); anywhere else [`pnl_of`] (base and quote assets).
pub fn pnl_of_market(
    market: super::Market,
    contract_size: Option<Decimal>,
    fills: &[PnlFill],
    base: &str,
    quote: &str,
    last_price: Option<Decimal>,
) -> Pnl {
    match contract_size {
        Some(size) if market == super::Market::CoinM => {
            pnl_of_coin_margined(fills, size, base, last_price)
        }
        _ => pnl_of(fills, base, quote, last_price),
    }
}

/// The PnL of the fills of one COIN-M symbol, oldest first: `qty` in contracts of
/// `contract_size` USD (quote asset), money in the margin `coin` (the base asset), at the
/// last price `last_price`.
///
/// Average cost as [`pnl_of`], in coins: the entry is the harmonic mean of the fill prices
/// weighted by contracts (total contracts over the sum of `qty / price`, as Binance
/// averages COIN-M entries); closing `closed` contracts of a long realizes
/// `closed × size × (1/entry − 1/price)` coins (a short the opposite), rounded to 8
/// decimals; a commission in `coin` counts in `fees` as is (it does not change the
/// position), in any other asset in `other_fees`. `unrealized_pnl` is
/// `position × size × (1/entry − 1/last)`, to 8 decimals.
pub fn pnl_of_coin_margined(
    fills: &[PnlFill],
    contract_size: Decimal,
    coin: &str,
    last_price: Option<Decimal>,
) -> Pnl {
    const COIN_DP: u32 = 8;
    let inverse = |p: Decimal| {
        if p.is_zero() {
            Decimal::ZERO
        } else {
            Decimal::ONE / p
        }
    };
    let mut position = Decimal::ZERO;
    let mut entry = Decimal::ZERO;
    let mut realized = Decimal::ZERO;
    let mut fees = Decimal::ZERO;
    let mut other: BTreeMap<String, Decimal> = BTreeMap::new();
    for fill in fills {
        let delta = match fill.side {
            Side::Buy => fill.qty,
            Side::Sell => -fill.qty,
        };
        match fill.commission_asset.as_deref() {
            _ if fill.commission.is_zero() => {}
            Some(asset) if asset == coin => fees += fill.commission,
            Some(asset) => *other.entry(asset.to_string()).or_default() += fill.commission,
            None => {}
        }
        if position.is_zero() || position.is_sign_positive() == delta.is_sign_positive() {
            let total = position.abs() + delta.abs();
            let weights = position.abs() * inverse(entry) + delta.abs() * inverse(fill.price);
            if !weights.is_zero() {
                entry = total / weights;
            }
            position += delta;
        } else {
            let closed = delta.abs().min(position.abs());
            let long = closed * contract_size * (inverse(entry) - inverse(fill.price));
            let gain = if position.is_sign_positive() {
                long
            } else {
                -long
            };
            realized += gain.round_dp(COIN_DP);
            let rest = delta.abs() - closed;
            position += delta;
            if position.is_zero() {
                entry = Decimal::ZERO;
            } else if !rest.is_zero() {
                entry = fill.price;
            }
        }
    }
    let unrealized = last_price.filter(|p| !p.is_zero()).map(|last| {
        (position * contract_size * (inverse(entry) - inverse(last))).round_dp(COIN_DP)
    });
    let unrealized = if position.is_zero() {
        unrealized.map(|_| Decimal::ZERO)
    } else {
        unrealized
    };
    Pnl {
        position: position.normalize(),
        avg_entry: entry.round_dp(COIN_DP).normalize(),
        realized_pnl: realized.normalize(),
        fees: fees.normalize(),
        other_fees: other
            .into_iter()
            .map(|(a, d)| (a, d.normalize().to_string()))
            .collect(),
        unrealized_pnl: unrealized.map(|u| u.normalize()),
        net_pnl: (realized + unrealized.unwrap_or_default() - fees).normalize(),
        trades: fills.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn fill(side: Side, qty: &str, price: &str, fee: &str, asset: &str) -> PnlFill {
        PnlFill {
            side,
            qty: d(qty),
            price: d(price),
            commission: d(fee),
            commission_asset: Some(asset.to_string()),
        }
    }

    #[test]
    fn a_known_sequence_matches_the_hand_computed_table() {
        // buy 1 @ 100 (fee 0.001 BTC), buy 1 @ 200 (fee 0.001 BTC): held 1.998,
        // entry (0.999×100 + 0.999×200) / 1.998 = 150; fees 0.1 + 0.2.
        // sell 0.998 @ 250 (fee 0.2495 USDT): realized 0.998 × 100 = 99.8.
        // sell 1.5 @ 120 (fee 0.18 USDT): closes 1 at 120 → −30, opens −0.5 @ 120.
        let fills = [
            fill(Side::Buy, "1", "100", "0.001", "BTC"),
            fill(Side::Buy, "1", "200", "0.001", "BTC"),
            fill(Side::Sell, "0.998", "250", "0.2495", "USDT"),
            fill(Side::Sell, "1.5", "120", "0.18", "USDT"),
            fill(Side::Buy, "0.1", "110", "0.01", "BNB"),
        ];
        let p = pnl_of(&fills[..3], "BTC", "USDT", Some(d("160")));
        assert_eq!(p.position, d("1"));
        assert_eq!(p.avg_entry, d("150"));
        assert_eq!(p.realized_pnl, d("99.8"));
        assert_eq!(p.fees, d("0.5495"));
        assert_eq!(p.unrealized_pnl, Some(d("10")));
        assert_eq!(p.net_pnl, d("109.2505"));

        let p = pnl_of(&fills, "BTC", "USDT", Some(d("100")));
        // After the flip: short 0.5 @ 120; the BNB-fee buy of 0.1 @ 110 closes 0.1: +1.
        assert_eq!(p.position, d("-0.4"));
        assert_eq!(p.avg_entry, d("120"));
        assert_eq!(p.realized_pnl, d("70.8"));
        assert_eq!(p.fees, d("0.7295"));
        assert_eq!(p.other_fees.get("BNB").map(String::as_str), Some("0.01"));
        assert_eq!(p.unrealized_pnl, Some(d("8")));
        assert_eq!(p.net_pnl, d("78.0705"));
        assert_eq!(p.trades, 5);
    }

    #[test]
    fn coin_margined_pnl_is_in_coins_with_a_harmonic_entry() {
        // 2 contracts of 100 USD bought at 50000, 2 more at 62500: entry
        // 4 / (2/50000 + 2/62500) = 55555.55…; sell 3 at 62500:
        // 3 × 100 × (1/55555.55… − 1/62500) = 0.0006 BTC.
        let fills = [
            fill(Side::Buy, "2", "50000", "0.000002", "BTC"),
            fill(Side::Buy, "2", "62500", "0.0000016", "BTC"),
            fill(Side::Sell, "3", "62500", "0.0000024", "BTC"),
        ];
        let p = pnl_of_coin_margined(&fills, d("100"), "BTC", Some(d("50000")));
        assert_eq!(
            p.position,
            d("1"),
            "contracts; the coin fee does not shrink it"
        );
        assert_eq!(p.avg_entry, d("55555.55555556"));
        assert_eq!(p.realized_pnl, d("0.0006"));
        assert_eq!(p.fees, d("0.000006"));
        // 1 × 100 × (1/55555.55… − 1/50000) = 0.0018 − 0.002 = −0.0002.
        assert_eq!(p.unrealized_pnl, Some(d("-0.0002")));
        assert_eq!(p.net_pnl, d("0.000394"));
    }

    #[test]
    fn flat_after_a_round_trip_and_no_price_means_no_unrealized() {
        let fills = [
            fill(Side::Buy, "2", "10", "0", "BTC"),
            fill(Side::Sell, "2", "12.5", "0.025", "USDT"),
        ];
        let p = pnl_of(&fills, "BTC", "USDT", None);
        assert_eq!(p.position, Decimal::ZERO);
        assert_eq!(p.avg_entry, Decimal::ZERO);
        assert_eq!(p.realized_pnl, d("5"));
        assert_eq!(p.unrealized_pnl, None);
        assert_eq!(p.net_pnl, d("4.975"));
    }
}
