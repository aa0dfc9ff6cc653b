//! The SQL behind the control socket: registering a symbol atomically, deactivating one,
//! looking symbols up by name, the newest stored candle of each series and the last
//! `limit` candles of a series.
//!
//! Reads go through a pooled connection; writes through [`Store::write`] (one
//! `BEGIN IMMEDIATE` transaction under the store's write lock), like the rest of the store.

use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, SymbolRow, symbol_by_name, upsert_symbol_tx};
use crate::domain::{Interval, Kline, Market, Symbol, SymbolInfo};

/// What [`Store::register_symbol`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Registration {
    /// The symbol was inserted, or an inactive (removed) one was made active again.
    Registered(SymbolRow),
    /// The symbol is already registered and active; nothing was written.
    AlreadyActive(SymbolRow),
}

/// Symbol counts for `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SymbolCounts {
    /// Rows in `symbols` for the market, active or not.
    pub registered: u32,
    /// Active rows.
    pub active: u32,
    /// Active rows whose exchange status is `TRADING`: the ones the beats follow.
    pub following: u32,
}

/// A symbol row with the open time (ms) of the newest stored candle of each interval that
/// has any, in [`Interval::ALL`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolSeries {
    pub row: SymbolRow,
    pub newest: Vec<(Interval, i64)>,
}

impl Store {
    /// Registers a symbol unless it is already registered and active, in one transaction, so
    /// two concurrent registrations of the same symbol cannot both report success.
    ///
    /// A new symbol is inserted as active; an inactive one (removed earlier) is made active
    /// again with fresh assets and status, keeping its data and its overrides unless new
    /// ones are given. `intervals` and `backfill_days` are the symbol's own overrides
    /// (`None`: follow the config).
    pub fn register_symbol(
        &self,
        market: Market,
        info: &SymbolInfo,
        intervals: Option<&[Interval]>,
        backfill_days: Option<u32>,
        now_ms: i64,
    ) -> Result<Registration, StoreError> {
        self.write(|tx| {
            if let Some(row) = symbol_by_name(tx, market, &info.symbol)?
                && row.active
            {
                return Ok(Registration::AlreadyActive(row));
            }
            upsert_symbol_tx(tx, market, info, intervals, backfill_days, now_ms)
                .map(Registration::Registered)
        })
    }

    /// Marks a registered symbol inactive (its rows stay); returns the row as stored now, or
    /// `None` when the symbol was never registered. Deactivating an inactive symbol changes
    /// nothing and returns its row.
    pub fn deactivate_symbol(
        &self,
        market: Market,
        symbol: &Symbol,
        now_ms: i64,
    ) -> Result<Option<SymbolRow>, StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE symbols SET active = 0, updated_at = ?3
                 WHERE market = ?1 AND symbol = ?2 AND active = 1",
                params![market.as_str(), symbol.as_str(), now_ms],
            )?;
            symbol_by_name(tx, market, symbol)
        })
    }

    /// The row of one symbol, active or not; `None` when it was never registered.
    pub fn symbol_by_name(
        &self,
        market: Market,
        symbol: &Symbol,
    ) -> Result<Option<SymbolRow>, StoreError> {
        let conn = self.conn()?;
        symbol_by_name(&conn, market, symbol)
    }

    /// How many symbols of `market` are registered, active, and followed by the beats.
    pub fn symbol_counts(&self, market: Market) -> Result<SymbolCounts, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(active), 0),
                    COALESCE(SUM(active = 1 AND status = 'TRADING'), 0)
             FROM symbols WHERE market = ?1",
        )?;
        Ok(stmt.query_row([market.as_str()], |r| {
            Ok(SymbolCounts {
                registered: r.get(0)?,
                active: r.get(1)?,
                following: r.get(2)?,
            })
        })?)
    }

    /// The symbols of `market` by name (`active`: `Some(true)` only active ones,
    /// `Some(false)` only removed ones, `None` all), each with the newest stored open time of
    /// every interval that has candles. One primary-key lookup per symbol × interval, so
    /// the cost does not grow with the number of stored candles.
    pub fn symbol_series(
        &self,
        market: Market,
        active: Option<bool>,
    ) -> Result<Vec<SymbolSeries>, StoreError> {
        let rows: Vec<SymbolRow> = self
            .symbols(market, active == Some(true))?
            .into_iter()
            .filter(|r| active.is_none_or(|a| r.active == a))
            .collect();
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT MAX(open_time) FROM klines WHERE symbol_id = ?1 AND interval = ?2",
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut newest = Vec::new();
            for interval in Interval::ALL {
                let t: Option<i64> =
                    stmt.query_row(params![row.id, interval.as_str()], |r| r.get(0))?;
                if let Some(t) = t {
                    newest.push((interval, t));
                }
            }
            out.push(SymbolSeries { row, newest });
        }
        Ok(out)
    }

    /// The newest `limit` stored candles of one symbol and interval whose open time is at
    /// most `end` (ms), returned oldest first.
    pub fn latest_klines(
        &self,
        symbol_id: i64,
        interval: Interval,
        end: i64,
        limit: u32,
    ) -> Result<Vec<Kline>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT open_time FROM klines
             WHERE symbol_id = ?1 AND interval = ?2 AND open_time <= ?3
             ORDER BY open_time DESC LIMIT 1 OFFSET ?4",
        )?;
        // The open time of the oldest candle wanted, then one ascending range read.
        let oldest: Option<i64> = match limit {
            0 => return Ok(Vec::new()),
            n => stmt
                .query_row(params![symbol_id, interval.as_str(), end, n - 1], |r| {
                    r.get(0)
                })
                .optional()?,
        };
        drop(stmt);
        drop(conn);
        self.klines(symbol_id, interval, oldest.unwrap_or(i64::MIN), end, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SymbolStatus;

    fn info(s: &str, status: SymbolStatus) -> SymbolInfo {
        SymbolInfo {
            symbol: s.parse().unwrap(),
            status,
            base_asset: s[..3].to_string(),
            quote_asset: s[3..].to_string(),
            filters: Default::default(),
        }
    }

    fn kline(open_time: i64) -> Kline {
        Kline {
            open_time,
            close_time: open_time + 59_999,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 10.0,
            quote_volume: 15.0,
            trades: 3,
            taker_buy_base_volume: 4.0,
            taker_buy_quote_volume: 6.0,
        }
    }

    use super::super::temp_store as store;

    #[test]
    fn register_refuses_an_active_symbol_and_reactivates_a_removed_one() {
        let (_dir, store) = store();
        let btc = info("BTCUSDT", SymbolStatus::Trading);
        let first = match store
            .register_symbol(Market::Spot, &btc, Some(&[Interval::H1]), Some(7), 10)
            .unwrap()
        {
            Registration::Registered(row) => row,
            other => panic!("{other:?}"),
        };
        assert!(first.active);
        assert_eq!(first.intervals, Some(vec![Interval::H1]));
        assert!(matches!(
            store.register_symbol(Market::Spot, &btc, None, None, 11).unwrap(),
            Registration::AlreadyActive(row) if row == first
        ));

        let removed = store
            .deactivate_symbol(Market::Spot, &btc.symbol, 12)
            .unwrap()
            .unwrap();
        assert!(!removed.active);
        assert_eq!(removed.updated_at, 12);
        // Removing again changes nothing.
        let again = store
            .deactivate_symbol(Market::Spot, &btc.symbol, 13)
            .unwrap()
            .unwrap();
        assert_eq!(again, removed);
        let missing: Symbol = "ETHUSDT".parse().unwrap();
        assert_eq!(
            store.deactivate_symbol(Market::Spot, &missing, 13).unwrap(),
            None
        );

        let back = match store
            .register_symbol(Market::Spot, &btc, None, None, 14)
            .unwrap()
        {
            Registration::Registered(row) => row,
            other => panic!("{other:?}"),
        };
        assert_eq!(back.id, first.id);
        assert!(back.active);
        assert_eq!(back.intervals, Some(vec![Interval::H1]), "overrides kept");
        assert_eq!(back.added_at, 10);
    }

    #[test]
    fn counts_and_series() {
        let (_dir, store) = store();
        let btc = store
            .upsert_symbol(
                Market::Spot,
                &info("BTCUSDT", SymbolStatus::Trading),
                None,
                None,
                1,
            )
            .unwrap();
        store
            .upsert_symbol(
                Market::Spot,
                &info("ETHUSDT", SymbolStatus::Break),
                None,
                None,
                1,
            )
            .unwrap();
        let sol = store
            .upsert_symbol(
                Market::Spot,
                &info("SOLUSDT", SymbolStatus::Trading),
                None,
                None,
                1,
            )
            .unwrap();
        store
            .deactivate_symbol(Market::Spot, &sol.symbol, 2)
            .unwrap();
        assert_eq!(
            store.symbol_counts(Market::Spot).unwrap(),
            SymbolCounts {
                registered: 3,
                active: 2,
                following: 1
            }
        );
        store
            .upsert_klines(btc.id, Interval::M1, &[kline(0), kline(60_000)])
            .unwrap();
        store
            .upsert_klines(btc.id, Interval::H1, &[kline(0)])
            .unwrap();

        let all = store.symbol_series(Market::Spot, None).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(
            all[0].newest,
            vec![(Interval::M1, 60_000), (Interval::H1, 0)]
        );
        assert!(all[1].newest.is_empty());
        let active: Vec<_> = store
            .symbol_series(Market::Spot, Some(true))
            .unwrap()
            .into_iter()
            .map(|s| s.row.symbol.to_string())
            .collect();
        assert_eq!(active, ["BTCUSDT", "ETHUSDT"]);
        let removed: Vec<_> = store
            .symbol_series(Market::Spot, Some(false))
            .unwrap()
            .into_iter()
            .map(|s| s.row.symbol.to_string())
            .collect();
        assert_eq!(removed, ["SOLUSDT"]);
        assert_eq!(
            store
                .symbol_by_name(Market::Spot, &"SOLUSDT".parse().unwrap())
                .unwrap()
                .map(|r| r.active),
            Some(false)
        );
    }

    #[test]
    fn latest_klines_are_the_newest_oldest_first() {
        let (_dir, store) = store();
        let id = store
            .upsert_symbol(
                Market::Spot,
                &info("BTCUSDT", SymbolStatus::Trading),
                None,
                None,
                1,
            )
            .unwrap()
            .id;
        let ks: Vec<Kline> = (0..10).map(|i| kline(i * 60_000)).collect();
        store.upsert_klines(id, Interval::M1, &ks).unwrap();
        let times = |v: Vec<Kline>| {
            v.into_iter()
                .map(|k| k.open_time / 60_000)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            times(store.latest_klines(id, Interval::M1, i64::MAX, 3).unwrap()),
            [7, 8, 9]
        );
        assert_eq!(
            times(
                store
                    .latest_klines(id, Interval::M1, 5 * 60_000, 2)
                    .unwrap()
            ),
            [4, 5]
        );
        assert_eq!(
            times(store.latest_klines(id, Interval::M1, i64::MAX, 50).unwrap()),
            (0..10).collect::<Vec<_>>()
        );
        assert!(
            store
                .latest_klines(id, Interval::H1, i64::MAX, 5)
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .latest_klines(id, Interval::M1, i64::MAX, 0)
                .unwrap()
                .is_empty()
        );
    }
}
