//! SQL of `strategies`, `trade_strategies` and `strategy_runs` (schema version 10): the
//! registry behind `strategy.*` / `trade_strategy.*` and the runs the strategy runner
//! records. Rows are soft-deleted (`deleted_at`), never erased. Times are ms since the
//! epoch, UTC.

use std::str::FromStr as _;

use rusqlite::{OptionalExtension as _, Row, params};

use super::{Store, StoreError};
use crate::domain::{Interval, Market, Symbol};

/// One `strategies` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyRow {
    pub id: i64,
    pub name: String,
    /// `[a-z0-9-]`, unique among live rows; client order ids start `tb-<slug>-`.
    pub slug: String,
    /// The command line, split like a shell would and run without a shell.
    pub command: String,
    /// How long one run may take before its process group is killed, ms.
    pub timeout_ms: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// When it was removed, ms; `None` while live.
    pub deleted_at: Option<i64>,
}

/// One `trade_strategies` row, with its strategy's slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeStrategyRow {
    pub id: i64,
    pub strategy_id: i64,
    pub strategy_slug: String,
    pub market: Market,
    pub symbol: Symbol,
    pub interval: Interval,
    /// The params, a JSON object as text.
    pub params: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

/// What [`Store::add_strategy`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrategyAdded {
    Added(StrategyRow),
    /// A live strategy already has this slug.
    SlugTaken,
}

/// The fields [`Store::update_strategy`] changes; `None` keeps the stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrategyUpdate {
    pub name: Option<String>,
    pub command: Option<String>,
    pub timeout_ms: Option<i64>,
}

/// One run to record in `strategy_runs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStrategyRun {
    pub trade_strategy_id: i64,
    /// The beat whose closed candle started the run, ms.
    pub beat_time: i64,
    /// The open time of that candle, ms.
    pub candle_open_time: i64,
    /// Local clock, ms.
    pub started_at: i64,
    pub duration_ms: i64,
    /// `ok`, `timeout`, `exit_code`, `invalid_output`, `killed`, `spawn_failed`.
    pub outcome: String,
    pub exit_code: Option<i32>,
    pub orders_placed: i64,
    pub note: Option<String>,
}

const STRATEGY_COLUMNS: &str =
    "id, name, slug, command, timeout_ms, created_at, updated_at, deleted_at";

fn strategy_row(r: &Row<'_>) -> rusqlite::Result<StrategyRow> {
    Ok(StrategyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        slug: r.get(2)?,
        command: r.get(3)?,
        timeout_ms: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
        deleted_at: r.get(7)?,
    })
}

const TRADE_STRATEGY_SELECT: &str = "SELECT t.id, t.strategy_id, s.slug, t.market, t.symbol,
        t.interval, t.params, t.created_at, t.updated_at, t.deleted_at
     FROM trade_strategies t JOIN strategies s ON s.id = t.strategy_id";

type RawTradeStrategy = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
);

fn raw_trade_strategy(r: &Row<'_>) -> rusqlite::Result<RawTradeStrategy> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn trade_strategy(raw: RawTradeStrategy) -> Result<TradeStrategyRow, StoreError> {
    let (id, strategy_id, strategy_slug, market, symbol, interval, params, created, updated, del) =
        raw;
    let corrupt =
        |what: &str, v: &str| StoreError::Corrupt(format!("trade_strategies {id}: {what} {v:?}"));
    Ok(TradeStrategyRow {
        id,
        strategy_id,
        strategy_slug,
        market: Market::from_str(&market).map_err(|_| corrupt("market", &market))?,
        symbol: Symbol::from_str(&symbol).map_err(|_| corrupt("symbol", &symbol))?,
        interval: Interval::from_str(&interval).map_err(|_| corrupt("interval", &interval))?,
        params,
        created_at: created,
        updated_at: updated,
        deleted_at: del,
    })
}

impl Store {
    /// Inserts a live strategy, unless a live one already has `slug`.
    pub fn add_strategy(
        &self,
        name: &str,
        slug: &str,
        command: &str,
        timeout_ms: i64,
        now_ms: i64,
    ) -> Result<StrategyAdded, StoreError> {
        self.write(|tx| {
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM strategies WHERE slug = ?1 AND deleted_at IS NULL)",
                [slug],
                |r| r.get(0),
            )?;
            if taken {
                return Ok(StrategyAdded::SlugTaken);
            }
            tx.execute(
                "INSERT INTO strategies (name, slug, command, timeout_ms, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![name, slug, command, timeout_ms, now_ms],
            )?;
            let id = tx.last_insert_rowid();
            let row = tx.query_row(
                &format!("SELECT {STRATEGY_COLUMNS} FROM strategies WHERE id = ?1"),
                [id],
                strategy_row,
            )?;
            Ok(StrategyAdded::Added(row))
        })
    }

    /// The live strategy named by `reference`: its id (all digits) or its slug.
    pub fn live_strategy(&self, reference: &str) -> Result<Option<StrategyRow>, StoreError> {
        let conn = self.conn()?;
        let sql = format!(
            "SELECT {STRATEGY_COLUMNS} FROM strategies
             WHERE deleted_at IS NULL AND (slug = ?1 OR CAST(id AS TEXT) = ?1)
             ORDER BY slug = ?1 DESC LIMIT 1"
        );
        Ok(conn.query_row(&sql, [reference], strategy_row).optional()?)
    }

    /// Changes a live strategy; `None` when `id` is not a live strategy.
    pub fn update_strategy(
        &self,
        id: i64,
        update: &StrategyUpdate,
        now_ms: i64,
    ) -> Result<Option<StrategyRow>, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE strategies SET name = COALESCE(?2, name), command = COALESCE(?3, command),
                        timeout_ms = COALESCE(?4, timeout_ms), updated_at = ?5
                 WHERE id = ?1 AND deleted_at IS NULL",
                params![id, update.name, update.command, update.timeout_ms, now_ms],
            )?;
            if n == 0 {
                return Ok(None);
            }
            Ok(Some(tx.query_row(
                &format!("SELECT {STRATEGY_COLUMNS} FROM strategies WHERE id = ?1"),
                [id],
                strategy_row,
            )?))
        })
    }

    /// Soft-deletes a live strategy (its trade strategies stop running with it); `None`
    /// when `id` is not a live strategy.
    pub fn remove_strategy(&self, id: i64, now_ms: i64) -> Result<Option<StrategyRow>, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE strategies SET deleted_at = ?2, updated_at = ?2
                 WHERE id = ?1 AND deleted_at IS NULL",
                params![id, now_ms],
            )?;
            if n == 0 {
                return Ok(None);
            }
            Ok(Some(tx.query_row(
                &format!("SELECT {STRATEGY_COLUMNS} FROM strategies WHERE id = ?1"),
                [id],
                strategy_row,
            )?))
        })
    }

    /// The strategies by id, live ones only unless `deleted`.
    pub fn strategies(&self, deleted: bool) -> Result<Vec<StrategyRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {STRATEGY_COLUMNS} FROM strategies
             WHERE ?1 OR deleted_at IS NULL ORDER BY id"
        ))?;
        let rows = stmt.query_map([deleted], strategy_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Attaches live strategy `strategy_id` to a series; `None` when the strategy is not
    /// live (removed meanwhile).
    pub fn add_trade_strategy(
        &self,
        strategy_id: i64,
        market: Market,
        symbol: &Symbol,
        interval: Interval,
        params_json: &str,
        now_ms: i64,
    ) -> Result<Option<TradeStrategyRow>, StoreError> {
        let raw = self.write(|tx| {
            let n = tx.execute(
                "INSERT INTO trade_strategies
                     (strategy_id, market, symbol, interval, params, created_at, updated_at)
                 SELECT id, ?2, ?3, ?4, ?5, ?6, ?6 FROM strategies
                 WHERE id = ?1 AND deleted_at IS NULL",
                params![
                    strategy_id,
                    market.as_str(),
                    symbol.as_str(),
                    interval.as_str(),
                    params_json,
                    now_ms
                ],
            )?;
            if n == 0 {
                return Ok(None);
            }
            let id = tx.last_insert_rowid();
            Ok(Some(tx.query_row(
                &format!("{TRADE_STRATEGY_SELECT} WHERE t.id = ?1"),
                [id],
                raw_trade_strategy,
            )?))
        })?;
        raw.map(trade_strategy).transpose()
    }

    /// Soft-deletes a live trade strategy; `None` when `id` is not one.
    pub fn remove_trade_strategy(
        &self,
        id: i64,
        now_ms: i64,
    ) -> Result<Option<TradeStrategyRow>, StoreError> {
        let raw = self.write(|tx| {
            let n = tx.execute(
                "UPDATE trade_strategies SET deleted_at = ?2, updated_at = ?2
                 WHERE id = ?1 AND deleted_at IS NULL",
                params![id, now_ms],
            )?;
            if n == 0 {
                return Ok(None);
            }
            Ok(Some(tx.query_row(
                &format!("{TRADE_STRATEGY_SELECT} WHERE t.id = ?1"),
                [id],
                raw_trade_strategy,
            )?))
        })?;
        raw.map(trade_strategy).transpose()
    }

    /// Trade strategies by id: of one strategy when given, live ones only unless `deleted`.
    pub fn trade_strategies(
        &self,
        strategy_id: Option<i64>,
        deleted: bool,
    ) -> Result<Vec<TradeStrategyRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{TRADE_STRATEGY_SELECT}
             WHERE (?1 IS NULL OR t.strategy_id = ?1) AND (?2 OR t.deleted_at IS NULL)
             ORDER BY t.id"
        ))?;
        let raw = stmt
            .query_map(params![strategy_id, deleted], raw_trade_strategy)?
            .collect::<Result<Vec<_>, _>>()?;
        raw.into_iter().map(trade_strategy).collect()
    }

    /// What the runner runs: every live trade strategy of a live strategy, with it.
    pub fn runnable_trade_strategies(
        &self,
    ) -> Result<Vec<(TradeStrategyRow, StrategyRow)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{TRADE_STRATEGY_SELECT}
             WHERE t.deleted_at IS NULL AND s.deleted_at IS NULL ORDER BY t.id"
        ))?;
        let raw = stmt
            .query_map([], raw_trade_strategy)?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        let mut out = Vec::with_capacity(raw.len());
        for r in raw {
            let row = trade_strategy(r)?;
            let strategy = conn.query_row(
                &format!("SELECT {STRATEGY_COLUMNS} FROM strategies WHERE id = ?1"),
                [row.strategy_id],
                strategy_row,
            )?;
            out.push((row, strategy));
        }
        Ok(out)
    }

    /// Records one run; returns its id.
    pub fn record_strategy_run(&self, run: &NewStrategyRun) -> Result<i64, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO strategy_runs (trade_strategy_id, beat_time, candle_open_time,
                     started_at, duration_ms, outcome, exit_code, orders_placed, note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    run.trade_strategy_id,
                    run.beat_time,
                    run.candle_open_time,
                    run.started_at,
                    run.duration_ms,
                    run.outcome,
                    run.exit_code,
                    run.orders_placed,
                    run.note
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }
}

/// The newest stored 24 h ticker of a symbol (the strategies' context). Prices in the
/// quote asset; `time` the beat's, ms.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTicker {
    pub time: i64,
    pub last: f64,
    pub bid: f64,
    pub ask: f64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub change_percent: f64,
    pub volume: f64,
    pub quote_volume: f64,
}

impl Store {
    /// The newest stored ticker of `symbol_id`, if any.
    pub fn latest_ticker(&self, symbol_id: i64) -> Result<Option<StoredTicker>, StoreError> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT time, last_price, bid_price, ask_price, open_price, high_price,
                        low_price, price_change_percent, volume, quote_volume
                 FROM tickers WHERE symbol_id = ?1 ORDER BY time DESC LIMIT 1",
                [symbol_id],
                |r| {
                    Ok(StoredTicker {
                        time: r.get(0)?,
                        last: r.get(1)?,
                        bid: r.get(2)?,
                        ask: r.get(3)?,
                        open: r.get(4)?,
                        high: r.get(5)?,
                        low: r.get(6)?,
                        change_percent: r.get(7)?,
                        volume: r.get(8)?,
                        quote_volume: r.get(9)?,
                    })
                },
            )
            .optional()?)
    }

    /// The candle open time of the newest recorded run of each trade strategy that has
    /// one. One search of the `strategy_runs_last` index per trade strategy (schema 15):
    /// this runs at every beat, and the runs are never pruned.
    ///
    /// # Errors
    /// The database's.
    pub fn last_strategy_runs(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(LAST_STRATEGY_RUNS_SQL)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// [`Store::last_strategy_runs`]'s query.
const LAST_STRATEGY_RUNS_SQL: &str = "SELECT id, last FROM (
         SELECT t.id AS id,
                (SELECT MAX(r.candle_open_time) FROM strategy_runs r
                 WHERE r.trade_strategy_id = t.id) AS last
         FROM trade_strategies t)
     WHERE last IS NOT NULL";

/// What [`Store::strategy_runs`] selects; `None` selects all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyRunFilter {
    /// Runs of the strategies with this id.
    pub strategy_id: Option<i64>,
    /// Runs of the strategies that have (or had, before their removal) this slug.
    pub strategy_slug: Option<String>,
    pub symbol: Option<Symbol>,
    pub market: Option<Market>,
    /// `ok`, `timeout`, `exit_code`, `invalid_output`, `killed`, `spawn_failed`.
    pub outcome: Option<String>,
    /// Runs started at or after this time, ms.
    pub start: i64,
    /// Runs started at or before this time, ms.
    pub end: i64,
    /// The most rows.
    pub limit: u32,
}

/// One `strategy_runs` row with what it ran: strategy slug, market, symbol, interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyRunRow {
    pub id: i64,
    pub trade_strategy_id: i64,
    pub strategy_id: i64,
    pub strategy_slug: String,
    pub market: Market,
    pub symbol: Symbol,
    pub interval: Interval,
    pub beat_time: i64,
    pub candle_open_time: i64,
    pub started_at: i64,
    pub duration_ms: i64,
    pub outcome: String,
    pub exit_code: Option<i32>,
    pub orders_placed: i64,
    pub note: Option<String>,
}

impl Store {
    /// The runs `filter` selects, newest first (by id), at most `filter.limit`.
    pub fn strategy_runs(
        &self,
        filter: &StrategyRunFilter,
    ) -> Result<Vec<StrategyRunRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT r.id, r.trade_strategy_id, t.strategy_id, s.slug, t.market, t.symbol,
                    t.interval, r.beat_time, r.candle_open_time, r.started_at, r.duration_ms,
                    r.outcome, r.exit_code, r.orders_placed, r.note
             FROM strategy_runs r
             JOIN trade_strategies t ON t.id = r.trade_strategy_id
             JOIN strategies s ON s.id = t.strategy_id
             WHERE (?1 IS NULL OR s.id = ?1) AND (?2 IS NULL OR s.slug = ?2)
               AND (?3 IS NULL OR t.symbol = ?3) AND (?4 IS NULL OR t.market = ?4)
               AND (?5 IS NULL OR r.outcome = ?5)
               AND r.started_at BETWEEN ?6 AND ?7
             ORDER BY r.id DESC LIMIT ?8",
        )?;
        let rows = stmt.query_map(
            params![
                filter.strategy_id,
                filter.strategy_slug,
                filter.symbol.as_ref().map(Symbol::as_str),
                filter.market.map(Market::as_str),
                filter.outcome,
                filter.start,
                filter.end,
                filter.limit
            ],
            |r| {
                Ok((
                    (
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ),
                    (
                        r.get::<_, i64>(7)?,
                        r.get::<_, i64>(8)?,
                        r.get::<_, i64>(9)?,
                        r.get::<_, i64>(10)?,
                        r.get::<_, String>(11)?,
                        r.get::<_, Option<i32>>(12)?,
                        r.get::<_, i64>(13)?,
                        r.get::<_, Option<String>>(14)?,
                    ),
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let ((id, ts, sid, slug, market, symbol, interval), rest) = row?;
            let corrupt = |what: &str, v: &str| {
                StoreError::Corrupt(format!("strategy_runs {id}: {what} {v:?}"))
            };
            let (
                beat_time,
                candle_open_time,
                started_at,
                duration_ms,
                outcome,
                exit_code,
                placed,
                note,
            ) = rest;
            out.push(StrategyRunRow {
                id,
                trade_strategy_id: ts,
                strategy_id: sid,
                strategy_slug: slug,
                market: Market::from_str(&market).map_err(|_| corrupt("market", &market))?,
                symbol: Symbol::from_str(&symbol).map_err(|_| corrupt("symbol", &symbol))?,
                interval: Interval::from_str(&interval)
                    .map_err(|_| corrupt("interval", &interval))?,
                beat_time,
                candle_open_time,
                started_at,
                duration_ms,
                outcome,
                exit_code,
                orders_placed: placed,
                note,
            });
        }
        Ok(out)
    }

    /// Whether any strategy, live or removed, has this id (`Some`) or slug.
    pub fn strategy_ever_existed(
        &self,
        id: Option<i64>,
        slug: Option<&str>,
    ) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        Ok(conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM strategies WHERE id = ?1 OR slug = ?2)",
            params![id, slug],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_deletes_keep_rows_free_the_slug_and_stop_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let StrategyAdded::Added(first) = store.add_strategy("MA", "ma", "true", 5000, 1).unwrap()
        else {
            panic!("not added");
        };
        assert_eq!(
            store.add_strategy("MA 2", "ma", "true", 5000, 2).unwrap(),
            StrategyAdded::SlugTaken
        );
        let btc: Symbol = "BTCUSDT".parse().unwrap();
        let ts = store
            .add_trade_strategy(first.id, Market::Spot, &btc, Interval::M1, "{}", 3)
            .unwrap()
            .expect("attached");
        assert_eq!(store.runnable_trade_strategies().unwrap().len(), 1);
        assert_eq!(store.live_strategy("ma").unwrap(), Some(first.clone()));
        assert_eq!(
            store.live_strategy(&first.id.to_string()).unwrap(),
            Some(first.clone())
        );

        let removed = store
            .remove_strategy(first.id, 4)
            .unwrap()
            .expect("removed");
        assert_eq!(removed.deleted_at, Some(4));
        assert!(store.runnable_trade_strategies().unwrap().is_empty());
        assert_eq!(store.live_strategy("ma").unwrap(), None);
        assert!(
            store
                .add_trade_strategy(first.id, Market::Spot, &btc, Interval::M1, "{}", 5)
                .unwrap()
                .is_none(),
            "a removed strategy cannot be attached"
        );
        // The rows stay; the slug is free again.
        assert_eq!(store.strategies(true).unwrap().len(), 1);
        assert!(store.strategies(false).unwrap().is_empty());
        assert_eq!(store.trade_strategies(None, false).unwrap(), vec![ts]);
        assert!(matches!(
            store.add_strategy("MA", "ma", "true", 5000, 6).unwrap(),
            StrategyAdded::Added(_)
        ));
    }

    #[test]
    fn the_newest_run_of_each_trade_strategy_is_found_through_the_index() {
        let (_dir, store) = super::super::temp_store();
        let StrategyAdded::Added(strategy) =
            store.add_strategy("MA", "ma", "true", 5000, 1).unwrap()
        else {
            panic!("not added");
        };
        let series = |symbol: &str| {
            store
                .add_trade_strategy(
                    strategy.id,
                    Market::Spot,
                    &symbol.parse().unwrap(),
                    Interval::M1,
                    "{}",
                    2,
                )
                .unwrap()
                .expect("attached")
        };
        let (btc, eth, _idle) = (series("BTCUSDT"), series("ETHUSDT"), series("BNBUSDT"));
        // Runs recorded out of candle order: the newest candle counts, not the last row.
        for (ts, candle) in [
            (&btc, 120_000),
            (&btc, 180_000),
            (&btc, 60_000),
            (&eth, 60_000),
        ] {
            store
                .record_strategy_run(&NewStrategyRun {
                    trade_strategy_id: ts.id,
                    beat_time: candle + 65_000,
                    candle_open_time: candle,
                    started_at: candle + 65_000,
                    duration_ms: 3,
                    outcome: "ok".into(),
                    exit_code: Some(0),
                    orders_placed: 0,
                    note: None,
                })
                .unwrap();
        }
        let mut last = store.last_strategy_runs().unwrap();
        last.sort_unstable();
        assert_eq!(last, vec![(btc.id, 180_000), (eth.id, 60_000)]);

        let plan = super::super::query_plan(&store, LAST_STRATEGY_RUNS_SQL);
        assert!(
            plan.iter()
                .any(|step| step.contains("SEARCH r USING COVERING INDEX strategy_runs_last")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN r")),
            "no scan of the runs: {plan:?}"
        );
    }
}
