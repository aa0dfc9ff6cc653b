//! The SQL of futures market data: `mark_prices`, `funding_rates` and `open_interest`
//! (schema version 7). Decimals are stored as their exact strings; times are ms UTC.
//!
//! The beat's rows are written by [`Store::commit_beat`] through the `*_tx` helpers here,
//! in the beat's one transaction; history pages through [`Store::upsert_funding_rates`]
//! and [`Store::upsert_open_interest_history`].

use rusqlite::{Transaction, params};
use rust_decimal::Decimal;

use super::{Store, StoreError};
use crate::domain::{FundingRate, MarkPrice, OpenInterest, Symbol};

/// The `open_interest.period` of the beat's own readings.
pub const BEAT_PERIOD: &str = "beat";

/// One stored `mark_prices` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkPriceRow {
    /// The beat's scheduled time, ms.
    pub time: i64,
    pub mark_price: Decimal,
    pub index_price: Decimal,
    pub estimated_settle_price: Option<Decimal>,
    pub funding_rate: Option<Decimal>,
    /// ms; `None` for delivery contracts.
    pub next_funding_time: Option<i64>,
}

/// One stored `open_interest` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInterestRow {
    /// `beat` or an `openInterestHist` period (`5m` …).
    pub period: String,
    /// ms.
    pub time: i64,
    /// Contracts on COIN-M, base asset on USDⓈ-M.
    pub open_interest: Decimal,
    pub open_interest_value: Option<Decimal>,
}

fn dec_text(d: &Decimal) -> String {
    d.to_string()
}

fn opt_text(d: &Option<Decimal>) -> Option<String> {
    d.as_ref().map(dec_text)
}

/// Reads a TEXT decimal column; a value that does not parse is a conversion error.
fn dec_col(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Decimal> {
    let s: String = r.get(i)?;
    s.parse().map_err(|e: rust_decimal::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn opt_dec_col(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<Decimal>> {
    match r.get::<_, Option<String>>(i)? {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|e: rust_decimal::Error| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        }),
    }
}

/// Writes the beat's mark prices (`time` = the beat's time), replacing a row of the same
/// beat.
pub(super) fn insert_mark_prices_tx(
    tx: &Transaction<'_>,
    time: i64,
    rows: &[(i64, MarkPrice)],
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO mark_prices (symbol_id, time, mark_price, index_price,
             estimated_settle_price, funding_rate, next_funding_time)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (id, m) in rows {
        stmt.execute(params![
            id,
            time,
            dec_text(&m.mark_price),
            dec_text(&m.index_price),
            opt_text(&m.estimated_settle_price),
            opt_text(&m.funding_rate),
            m.next_funding_time
        ])?;
    }
    Ok(())
}

/// Writes open-interest readings at `period`; `time` given (the beat's) or each reading's
/// own.
pub(super) fn insert_open_interest_tx(
    tx: &Transaction<'_>,
    period: &str,
    time: Option<i64>,
    rows: &[(i64, OpenInterest)],
) -> Result<usize, StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO open_interest (symbol_id, period, time, open_interest,
             open_interest_value)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (id, oi) in rows {
        stmt.execute(params![
            id,
            period,
            time.unwrap_or(oi.time),
            dec_text(&oi.open_interest),
            opt_text(&oi.open_interest_value)
        ])?;
    }
    Ok(rows.len())
}

impl Store {
    /// Upserts funding events of one symbol in one transaction; returns how many.
    pub fn upsert_funding_rates(
        &self,
        symbol_id: i64,
        rates: &[FundingRate],
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO funding_rates (symbol_id, funding_time, funding_rate,
                     mark_price)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for f in rates {
                stmt.execute(params![
                    symbol_id,
                    f.funding_time,
                    dec_text(&f.funding_rate),
                    opt_text(&f.mark_price)
                ])?;
            }
            Ok(rates.len())
        })
    }

    /// Upserts open-interest history of one symbol at `period` in one transaction;
    /// returns how many.
    pub fn upsert_open_interest_history(
        &self,
        symbol_id: i64,
        period: &str,
        readings: &[OpenInterest],
    ) -> Result<usize, StoreError> {
        let rows: Vec<(i64, OpenInterest)> =
            readings.iter().map(|r| (symbol_id, r.clone())).collect();
        self.write(|tx| insert_open_interest_tx(tx, period, None, &rows))
    }

    /// Stored mark prices of one symbol with `start <= time <= end`, oldest first, at most
    /// `limit` (the newest `limit` of the range when it holds more).
    pub fn mark_prices(
        &self,
        symbol_id: i64,
        start: i64,
        end: i64,
        limit: u32,
    ) -> Result<Vec<MarkPriceRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT * FROM (SELECT time, mark_price, index_price, estimated_settle_price,
                    funding_rate, next_funding_time
             FROM mark_prices WHERE symbol_id = ?1 AND time BETWEEN ?2 AND ?3
             ORDER BY time DESC LIMIT ?4) ORDER BY time",
        )?;
        let rows = stmt.query_map(params![symbol_id, start, end, limit], |r| {
            Ok(MarkPriceRow {
                time: r.get(0)?,
                mark_price: dec_col(r, 1)?,
                index_price: dec_col(r, 2)?,
                estimated_settle_price: opt_dec_col(r, 3)?,
                funding_rate: opt_dec_col(r, 4)?,
                next_funding_time: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stored funding events of one symbol with `start <= funding_time <= end`, oldest
    /// first, at most `limit` (the newest of the range).
    pub fn funding_rates(
        &self,
        symbol: &Symbol,
        symbol_id: i64,
        start: i64,
        end: i64,
        limit: u32,
    ) -> Result<Vec<FundingRate>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT * FROM (SELECT funding_time, funding_rate, mark_price
             FROM funding_rates WHERE symbol_id = ?1 AND funding_time BETWEEN ?2 AND ?3
             ORDER BY funding_time DESC LIMIT ?4) ORDER BY funding_time",
        )?;
        let rows = stmt.query_map(params![symbol_id, start, end, limit], |r| {
            Ok(FundingRate {
                symbol: symbol.clone(),
                funding_time: r.get(0)?,
                funding_rate: dec_col(r, 1)?,
                mark_price: opt_dec_col(r, 2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stored open interest of one symbol at `period` (`beat` or `5m` …) with
    /// `start <= time <= end`, oldest first, at most `limit` (the newest of the range).
    pub fn open_interest(
        &self,
        symbol_id: i64,
        period: &str,
        start: i64,
        end: i64,
        limit: u32,
    ) -> Result<Vec<OpenInterestRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT * FROM (SELECT period, time, open_interest, open_interest_value
             FROM open_interest WHERE symbol_id = ?1 AND period = ?2 AND time BETWEEN ?3 AND ?4
             ORDER BY time DESC LIMIT ?5) ORDER BY time",
        )?;
        let rows = stmt.query_map(params![symbol_id, period, start, end, limit], |r| {
            Ok(OpenInterestRow {
                period: r.get(0)?,
                time: r.get(1)?,
                open_interest: dec_col(r, 2)?,
                open_interest_value: opt_dec_col(r, 3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::domain::{Market, SymbolFilters, SymbolInfo, SymbolStatus};
    use crate::store::{BeatTrigger, BeatWrite, HeartbeatRow};

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn store_with(market: Market, symbol: &str) -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let info = SymbolInfo {
            symbol: symbol.parse().unwrap(),
            status: SymbolStatus::Trading,
            base_asset: "BTC".into(),
            quote_asset: "USD".into(),
            filters: SymbolFilters::default(),
        };
        let id = store
            .upsert_symbol(market, &info, None, None, 1)
            .unwrap()
            .id;
        (dir, store, id)
    }

    fn mark(symbol: &str) -> MarkPrice {
        MarkPrice {
            symbol: symbol.parse().unwrap(),
            mark_price: dec("11793.63104562"),
            index_price: dec("11781.80495970"),
            estimated_settle_price: None,
            funding_rate: Some(dec("-0.00038246")),
            next_funding_time: Some(1_597_392_000_000),
            time: 59_990,
        }
    }

    fn beat(time: i64) -> HeartbeatRow {
        HeartbeatRow {
            beat_time: time,
            started_at: time,
            finished_at: time,
            symbols_ok: 1,
            symbols_failed: 0,
            klines_written: 0,
            skipped_before: 0,
            trigger: BeatTrigger::Schedule,
            error: None,
        }
    }

    #[test]
    fn beat_rows_keep_exact_decimals_and_contracts() {
        let (_dir, store, id) = store_with(Market::CoinM, "BTCUSD_PERP");
        let oi = OpenInterest {
            symbol: "BTCUSD_PERP".parse().unwrap(),
            time: 59_999,
            open_interest: dec("15004"),
            open_interest_value: None,
        };
        let write = BeatWrite {
            tickers: vec![],
            klines: vec![],
            mark_prices: vec![(id, mark("BTCUSD_PERP"))],
            open_interest: vec![(id, oi)],
            heartbeat: beat(60_000),
        };
        store.commit_beat(&write, &Clock::system()).unwrap();
        let marks = store.mark_prices(id, 0, i64::MAX, 10).unwrap();
        assert_eq!(marks.len(), 1);
        assert_eq!(marks[0].time, 60_000, "stored at the beat's time");
        assert_eq!(marks[0].mark_price.to_string(), "11793.63104562");
        assert_eq!(marks[0].funding_rate, Some(dec("-0.00038246")));
        let ois = store
            .open_interest(id, BEAT_PERIOD, 0, i64::MAX, 10)
            .unwrap();
        assert_eq!(ois.len(), 1);
        assert_eq!(
            ois[0].open_interest.to_string(),
            "15004",
            "contracts, as sent"
        );
        assert_eq!(ois[0].time, 60_000);
    }

    #[test]
    fn a_bad_futures_row_leaves_nothing_of_the_beat() {
        let (_dir, store, id) = store_with(Market::UsdM, "BTCUSDT");
        let write = BeatWrite {
            tickers: vec![],
            klines: vec![],
            mark_prices: vec![(id, mark("BTCUSDT")), (id + 100, mark("ETHUSDT"))],
            open_interest: vec![],
            heartbeat: beat(60_000),
        };
        assert!(store.commit_beat(&write, &Clock::system()).is_err());
        assert!(store.mark_prices(id, 0, i64::MAX, 10).unwrap().is_empty());
        assert!(store.heartbeats(10).unwrap().is_empty());
    }

    #[test]
    fn history_is_upserted_and_listed_newest_window_oldest_first() {
        let (_dir, store, id) = store_with(Market::UsdM, "BTCUSDT");
        let symbol: Symbol = "BTCUSDT".parse().unwrap();
        let rates: Vec<FundingRate> = (0..5)
            .map(|i| FundingRate {
                symbol: symbol.clone(),
                funding_time: i * 8 * 3_600_000,
                funding_rate: dec("0.0001"),
                mark_price: None,
            })
            .collect();
        assert_eq!(store.upsert_funding_rates(id, &rates).unwrap(), 5);
        assert_eq!(store.upsert_funding_rates(id, &rates[..2]).unwrap(), 2);
        let listed = store.funding_rates(&symbol, id, 0, i64::MAX, 3).unwrap();
        let times: Vec<i64> = listed.iter().map(|f| f.funding_time).collect();
        assert_eq!(times, [2, 3, 4].map(|i: i64| i * 8 * 3_600_000));
        let hist = vec![OpenInterest {
            symbol,
            time: 300_000,
            open_interest: dec("20403.637"),
            open_interest_value: Some(dec("150570784.07809979")),
        }];
        store.upsert_open_interest_history(id, "5m", &hist).unwrap();
        assert!(
            store
                .open_interest(id, BEAT_PERIOD, 0, i64::MAX, 10)
                .unwrap()
                .is_empty()
        );
        let five = store.open_interest(id, "5m", 0, i64::MAX, 10).unwrap();
        assert_eq!(five[0].open_interest_value, hist[0].open_interest_value);
    }
}
