//! Series Binance publishes but the recording lacks, derived deterministically from the
//! replayed 1m rows (all values exact in `1e-8` units; "minute `m`" is the replayed row
//! of the wall-clock minute containing the time):
//!
//! | value | formula |
//! |---|---|
//! | mark price at `t` | close of minute `t` |
//! | index price, estimated settle price at `t` | (high + low + close) / 3 of minute `t`, 8 decimals |
//! | funding rate of the event at `F` (every 8 h: 00:00, 08:00, 16:00 UTC) | 0.0001 + (close of minute `F`−1 − open of minute `F`−8 h) / open / 100, clamped to ±0.0075 |
//! | `lastFundingRate` at `t` | the same formula for the running period, up to minute `t` |
//! | open interest at `t` (USD-M, base asset) | volume of the 1440 minutes before minute `t` / 3, to 0.001 |
//! | open interest at `t` (COIN-M perpetual, contracts) | USD-M open interest × mark / contract size, rounded |
//! | open interest (COIN-M delivery contract) | a fifth of the perpetual's |
//! | open interest value | USD-M: open interest × mark (USDT); COIN-M: contracts × size / mark (base asset) |

use super::{contracts::Contract, series::MINUTE_MS};
use crate::decimal::{SCALE, div_round};

/// Time between funding events (8 h), ms.
pub const FUNDING_INTERVAL_MS: i64 = 8 * 3_600_000;

/// How far back `openInterestHist` serves data (30 days), ms.
pub const OPEN_INTEREST_HIST_KEPT_MS: i64 = 30 * 86_400_000;

/// The constant interest rate of perpetuals: 0.0001 (0.01 % per 8 h).
pub(crate) const INTEREST_RATE: i128 = 10_000;

/// Largest funding rate magnitude: 0.0075.
const FUNDING_CAP: i128 = 750_000;

/// USD-M open-interest quantity step: 0.001 base asset.
const OI_STEP: i128 = 100_000;

fn minute(t: i64) -> i64 {
    t.div_euclid(MINUTE_MS)
}

/// Mark price at `t` in `1e-8` units.
pub(crate) fn mark(c: &Contract, t: i64) -> i128 {
    i128::from(c.row(minute(t)).close.units)
}

/// Index price at `t` in `1e-8` units.
pub(crate) fn index(c: &Contract, t: i64) -> i128 {
    let row = c.row(minute(t));
    div_round(
        i128::from(row.high.units) + i128::from(row.low.units) + i128::from(row.close.units),
        3,
    )
}

/// The funding rate from the period opening at `period_start` up to minute `last_minute`.
fn rate(c: &Contract, period_start: i64, last_minute: i64) -> i128 {
    let open = i128::from(c.row(minute(period_start)).open.units);
    let close = i128::from(c.row(last_minute).close.units);
    if open <= 0 {
        return INTEREST_RATE;
    }
    (INTEREST_RATE + div_round((close - open) * i128::from(SCALE), open * 100))
        .clamp(-FUNDING_CAP, FUNDING_CAP)
}

/// The funding rate of the event at `funding_time` (a multiple of 8 h).
pub(crate) fn funding_rate(c: &Contract, funding_time: i64) -> i128 {
    rate(
        c,
        funding_time - FUNDING_INTERVAL_MS,
        minute(funding_time) - 1,
    )
}

/// The next funding time after `t`.
pub(crate) fn next_funding(t: i64) -> i64 {
    (t.div_euclid(FUNDING_INTERVAL_MS) + 1) * FUNDING_INTERVAL_MS
}

/// The estimated rate of the running funding period at `t`.
pub(crate) fn running_rate(c: &Contract, t: i64) -> i128 {
    rate(c, next_funding(t) - FUNDING_INTERVAL_MS, minute(t))
}

/// USD-M-style open interest at `t` in base-asset `1e-8` units (multiple of 0.001).
fn base_open_interest(c: &Contract, t: i64) -> i128 {
    let run = c.run(minute(t) - 1440, 1440);
    // Index 1 holds base volume on COIN-M series, index 0 on USD-M ones.
    let volume = if c.contract_size.is_some() {
        run.sums.add[1]
    } else {
        run.sums.add[0]
    };
    div_round(volume, 3 * OI_STEP) * OI_STEP
}

/// Open interest at `t`: base asset `1e-8` units on USD-M, whole contracts on COIN-M.
pub(crate) fn open_interest(c: &Contract, t: i64) -> i128 {
    let base = base_open_interest(c, t);
    match c.contract_size {
        None => base,
        Some(size) => {
            let usd = base * mark(c, t) / i128::from(SCALE);
            let contracts = div_round(usd, i128::from(size) * i128::from(SCALE));
            if c.perpetual() {
                contracts
            } else {
                contracts / 5
            }
        }
    }
}

/// Value of the open interest at `t` in `1e-8` units: USDT on USD-M, base asset on COIN-M.
pub(crate) fn open_interest_value(c: &Contract, t: i64) -> i128 {
    let oi = open_interest(c, t);
    let mark = mark(c, t);
    match c.contract_size {
        None => div_round(oi * mark, i128::from(SCALE)),
        Some(size) if mark > 0 => div_round(
            oi * i128::from(size) * i128::from(SCALE) * i128::from(SCALE),
            mark,
        ),
        Some(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::futures::{FuturesMarket, contracts::Contracts};

    const T: i64 = 1_796_212_800_000; // 2026-12-02 12:00 UTC

    #[test]
    fn funding_follows_the_period_and_is_bounded() {
        let c = Contracts::new(FuturesMarket::Usdm, T, 0);
        let btc = c.get("BTCUSDT").expect("BTCUSDT");
        assert_eq!(next_funding(T), T + 4 * 3_600_000);
        assert_eq!(next_funding(T + 4 * 3_600_000), T + 12 * 3_600_000);
        let f = next_funding(T);
        // The running estimate just before the event is the event's rate.
        assert_eq!(running_rate(btc, f - 1), funding_rate(btc, f));
        for k in 0..100 {
            let r = funding_rate(btc, f + k * FUNDING_INTERVAL_MS);
            assert!(r.abs() <= FUNDING_CAP, "{r}");
        }
    }

    #[test]
    fn open_interest_units() {
        let usdm = Contracts::new(FuturesMarket::Usdm, T, 0);
        let btc = usdm.get("BTCUSDT").expect("BTCUSDT");
        let oi = open_interest(btc, T);
        assert!(oi > 0 && oi % OI_STEP == 0, "{oi}");
        let coinm = Contracts::new(FuturesMarket::Coinm, T, 0);
        let perp = coinm.get("BTCUSD_PERP").expect("BTCUSD_PERP");
        let contracts = open_interest(perp, T);
        // Contracts of 100 USD: the USD-M base quantity times the price, in hundreds.
        let expected = div_round(
            oi * mark(btc, T) / i128::from(SCALE),
            100 * i128::from(SCALE),
        );
        assert_eq!(contracts, expected);
    }
}
