//! The SQL of the futures history backfill beyond klines (schema version 11): where the
//! `funding_rates` and open-interest history series stand, and `open_interest_gaps`, the
//! ranges Binance no longer keeps.
//!
//! The history backfill resumes from the data itself (the newest stored row + 1), so a
//! page and its gap commit in one transaction and a `kill -9` loses nothing.

use rusqlite::{OptionalExtension, Transaction, params};

use super::futures::insert_open_interest_tx;
use super::{Store, StoreError};
use crate::domain::OpenInterest;

/// `open_interest_gaps.reason` of a range Binance's `openInterestHist` no longer serves
/// (it keeps the last 30 days).
pub const NOT_KEPT_BY_EXCHANGE: &str = "not_kept_by_exchange";

/// One `open_interest_gaps` row: open-interest history of `symbol_id` at `period` that the
/// exchange cannot give, times `start_time..=end_time` (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInterestGap {
    pub symbol_id: i64,
    /// The `openInterestHist` period (`5m` …).
    pub period: String,
    /// First time missing, ms.
    pub start_time: i64,
    /// Last time missing, ms.
    pub end_time: i64,
    /// Why: [`NOT_KEPT_BY_EXCHANGE`].
    pub reason: String,
    /// When it was recorded, ms.
    pub recorded_at: i64,
}

impl Store {
    /// The newest stored funding time of a symbol, ms.
    pub fn newest_funding_time(&self, symbol_id: i64) -> Result<Option<i64>, StoreError> {
        Ok(self.conn()?.query_row(
            "SELECT MAX(funding_time) FROM funding_rates WHERE symbol_id = ?1",
            [symbol_id],
            |r| r.get(0),
        )?)
    }

    /// The newest stored open-interest reading of a symbol at `period` (`5m` …), ms.
    pub fn newest_open_interest_time(
        &self,
        symbol_id: i64,
        period: &str,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self.conn()?.query_row(
            "SELECT MAX(time) FROM open_interest WHERE symbol_id = ?1 AND period = ?2",
            params![symbol_id, period],
            |r| r.get(0),
        )?)
    }

    /// The recorded open-interest gaps of one symbol, or of all, oldest first.
    pub fn open_interest_gaps(
        &self,
        symbol_id: Option<i64>,
    ) -> Result<Vec<OpenInterestGap>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT symbol_id, period, start_time, end_time, reason, recorded_at
             FROM open_interest_gaps WHERE ?1 IS NULL OR symbol_id = ?1
             ORDER BY symbol_id, period, start_time",
        )?;
        let rows = stmt.query_map([symbol_id], |r| {
            Ok(OpenInterestGap {
                symbol_id: r.get(0)?,
                period: r.get(1)?,
                start_time: r.get(2)?,
                end_time: r.get(3)?,
                reason: r.get(4)?,
                recorded_at: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Commits one page of open-interest history of a symbol at `period` in one
    /// transaction: the readings, and `gap` (a range the exchange no longer keeps) if any.
    /// A gap that starts right after a recorded one extends it. Returns the readings
    /// written.
    pub fn commit_open_interest_page(
        &self,
        symbol_id: i64,
        period: &str,
        readings: &[OpenInterest],
        gap: Option<&OpenInterestGap>,
    ) -> Result<usize, StoreError> {
        let rows: Vec<(i64, OpenInterest)> =
            readings.iter().map(|r| (symbol_id, r.clone())).collect();
        self.write(|tx| {
            if let Some(gap) = gap {
                record_gap_tx(tx, gap)?;
            }
            insert_open_interest_tx(tx, period, None, &rows)
        })
    }

    /// Deletes open-interest history at `period` (never the beats' readings) and its gaps
    /// before `cutoff` (ms), up to `batch` rows; returns the readings deleted.
    pub fn prune_open_interest_history(
        &self,
        period: &str,
        cutoff: i64,
        batch: u32,
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
            // `open_interest` is WITHOUT ROWID: deleted by key.
            let n = tx.execute(
                "DELETE FROM open_interest WHERE (symbol_id, period, time) IN (
                     SELECT symbol_id, period, time FROM open_interest
                     WHERE period = ?1 AND time < ?2 LIMIT ?3)",
                params![period, cutoff, batch],
            )?;
            tx.execute(
                "DELETE FROM open_interest_gaps WHERE period = ?1 AND end_time < ?2",
                params![period, cutoff],
            )?;
            Ok(n)
        })
    }
}

/// Records `gap`, merged into a recorded gap of the series that ends right before it.
fn record_gap_tx(tx: &Transaction<'_>, gap: &OpenInterestGap) -> Result<(), StoreError> {
    let before: Option<i64> = tx
        .query_row(
            "SELECT start_time FROM open_interest_gaps
             WHERE symbol_id = ?1 AND period = ?2 AND end_time >= ?3 - 1 AND start_time <= ?3",
            params![gap.symbol_id, gap.period, gap.start_time],
            |r| r.get(0),
        )
        .optional()?;
    match before {
        Some(start) => {
            tx.execute(
                "UPDATE open_interest_gaps SET end_time = MAX(end_time, ?4)
                 WHERE symbol_id = ?1 AND period = ?2 AND start_time = ?3",
                params![gap.symbol_id, gap.period, start, gap.end_time],
            )?;
        }
        None => {
            tx.execute(
                "INSERT OR IGNORE INTO open_interest_gaps (symbol_id, period, start_time,
                     end_time, reason, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    gap.symbol_id,
                    gap.period,
                    gap.start_time,
                    gap.end_time,
                    gap.reason,
                    gap.recorded_at
                ],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Market, SymbolFilters, SymbolInfo, SymbolStatus};

    fn reading(time: i64) -> OpenInterest {
        OpenInterest {
            symbol: "BTCUSDT".parse().unwrap(),
            time,
            open_interest: "12.5".parse().unwrap(),
            open_interest_value: Some("1000.25".parse().unwrap()),
        }
    }

    fn gap(id: i64, start: i64, end: i64) -> OpenInterestGap {
        OpenInterestGap {
            symbol_id: id,
            period: "5m".into(),
            start_time: start,
            end_time: end,
            reason: NOT_KEPT_BY_EXCHANGE.into(),
            recorded_at: 7,
        }
    }

    #[test]
    fn a_page_and_its_gap_commit_together_and_adjacent_gaps_merge() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let info = SymbolInfo {
            symbol: "BTCUSDT".parse().unwrap(),
            status: SymbolStatus::Trading,
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            filters: SymbolFilters::default(),
        };
        let id = store
            .upsert_symbol(Market::UsdM, &info, None, None, 1)
            .unwrap()
            .id;
        assert_eq!(store.newest_open_interest_time(id, "5m").unwrap(), None);
        let page = [reading(1_000), reading(301_000)];
        assert_eq!(
            store
                .commit_open_interest_page(id, "5m", &page, Some(&gap(id, 0, 999)))
                .unwrap(),
            2
        );
        assert_eq!(
            store.newest_open_interest_time(id, "5m").unwrap(),
            Some(301_000)
        );
        // A range that aged out right after the recorded one extends it: one gap.
        store
            .commit_open_interest_page(id, "5m", &[], Some(&gap(id, 1_000, 1_999)))
            .unwrap();
        assert_eq!(
            store.open_interest_gaps(Some(id)).unwrap(),
            vec![gap(id, 0, 1_999)]
        );
        // A separate one is its own row; retention drops what ends before the cutoff.
        store
            .commit_open_interest_page(id, "5m", &[], Some(&gap(id, 5_000, 6_000)))
            .unwrap();
        assert_eq!(store.open_interest_gaps(Some(id)).unwrap().len(), 2);
        assert_eq!(
            store.prune_open_interest_history("5m", 2_000, 10).unwrap(),
            1
        );
        assert_eq!(
            store.open_interest_gaps(None).unwrap(),
            vec![gap(id, 5_000, 6_000)]
        );
        assert_eq!(
            store.newest_open_interest_time(id, "5m").unwrap(),
            Some(301_000)
        );
    }
}
