//! The rows `tradebeat ctl export` writes, read straight from a database file opened
//! read-only (with or without a daemon running: WAL lets a reader in beside the writer),
//! one row at a time into a [`RowSink`], so memory does not grow with the row count.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, params_from_iter};

use super::StoreError;
use crate::domain::{Interval, Market, Symbol};

/// What a column holds, for typed output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// ms since the epoch, UTC.
    TimeMs,
    /// An integer (ids, counts, flags).
    Int,
    /// A market price or volume (float64).
    Float,
    /// Text: money of record as decimal strings, names, statuses.
    Text,
}

/// One output column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportColumn {
    pub name: String,
    pub kind: ColumnKind,
    /// Whether the column may hold `Null`.
    pub nullable: bool,
}

/// One value of a row, in the kind of its column (or `Null`).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

/// Where exported rows go: first the columns, then each row in order.
pub trait RowSink {
    /// The columns, once, before any row.
    ///
    /// # Errors
    /// The sink's own (e.g. the output file), as text.
    fn columns(&mut self, columns: &[ExportColumn]) -> Result<(), String>;
    /// One row, a cell per column.
    ///
    /// # Errors
    /// The sink's own, as text.
    fn row(&mut self, cells: &[Cell]) -> Result<(), String>;
}

/// The tables `tradebeat ctl export` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Klines,
    Tickers,
    Orders,
    Executions,
    MarkPrices,
    OpenInterest,
}

/// Which rows: all filters optional; times are ms, inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportFilter {
    pub market: Option<Market>,
    pub symbol: Option<Symbol>,
    pub interval: Option<Interval>,
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The table is not in this database (e.g. futures data not collected yet).
    #[error("this database has no {0} table (nothing of that kind was ever collected here)")]
    NoTable(&'static str),
    /// The filter does not apply to this kind.
    #[error("{0}")]
    Filter(String),
    /// The sink failed (writing the output).
    #[error("{0}")]
    Sink(String),
}

impl From<rusqlite::Error> for ExportError {
    fn from(e: rusqlite::Error) -> Self {
        ExportError::Store(StoreError::Sqlite(e))
    }
}

fn col(name: &str, kind: ColumnKind, nullable: bool) -> ExportColumn {
    ExportColumn {
        name: name.to_string(),
        kind,
        nullable,
    }
}

use ColumnKind::{Float, Int, Text, TimeMs};

/// Opens `path` read-only; a missing file is an error (never created).
fn open_read_only(path: &Path) -> Result<Connection, ExportError> {
    if !path.is_file() {
        return Err(ExportError::Store(StoreError::Open {
            path: path.to_path_buf(),
            detail: "no such database file".into(),
        }));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Open {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn has_table(conn: &Connection, name: &str) -> Result<bool, ExportError> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Streams the rows of `kind` that `filter` selects from the database at `path` into
/// `sink`, ordered by symbol and time. Returns the number of rows.
///
/// # Errors
/// The database's (missing file, not a database); [`ExportError::NoTable`] for
/// `mark-prices` / `open-interest` in a database without them; [`ExportError::Filter`]
/// for `--interval` on anything but klines; the sink's.
pub fn export_rows(
    path: &Path,
    kind: ExportKind,
    filter: &ExportFilter,
    sink: &mut dyn RowSink,
) -> Result<u64, ExportError> {
    let conn = open_read_only(path)?;
    if filter.interval.is_some() && kind != ExportKind::Klines {
        return Err(ExportError::Filter(
            "--interval applies to klines only".into(),
        ));
    }
    let market = filter.market.map(|m| m.as_str().to_string());
    let symbol = filter.symbol.as_ref().map(|s| s.as_str().to_string());
    let interval = filter.interval.map(|i| i.as_str().to_string());
    let (start, end) = (
        filter.start.unwrap_or(i64::MIN),
        filter.end.unwrap_or(i64::MAX),
    );
    let (sql, columns): (String, Vec<ExportColumn>) = match kind {
        ExportKind::Klines => (
            "SELECT s.market, s.symbol, k.interval, k.open_time, k.close_time, k.open, k.high,
                    k.low, k.close, k.volume, k.quote_volume, k.trades,
                    k.taker_buy_base_volume, k.taker_buy_quote_volume
             FROM klines k JOIN symbols s ON s.id = k.symbol_id
             WHERE (?1 IS NULL OR s.market = ?1) AND (?2 IS NULL OR s.symbol = ?2)
               AND (?3 IS NULL OR k.interval = ?3) AND k.open_time BETWEEN ?4 AND ?5
             ORDER BY s.market, s.symbol, k.interval, k.open_time"
                .into(),
            vec![
                col("market", Text, false),
                col("symbol", Text, false),
                col("interval", Text, false),
                col("open_time", TimeMs, false),
                col("close_time", TimeMs, false),
                col("open", Float, false),
                col("high", Float, false),
                col("low", Float, false),
                col("close", Float, false),
                col("volume", Float, false),
                col("quote_volume", Float, false),
                col("trades", Int, false),
                col("taker_buy_base_volume", Float, false),
                col("taker_buy_quote_volume", Float, false),
            ],
        ),
        ExportKind::Tickers => (
            "SELECT s.market, s.symbol, t.time, t.last_price, t.bid_price, t.bid_qty,
                    t.ask_price, t.ask_qty, t.open_price, t.high_price, t.low_price,
                    t.price_change_percent, t.volume, t.quote_volume, t.trades,
                    t.window_open_time, t.window_close_time
             FROM tickers t JOIN symbols s ON s.id = t.symbol_id
             WHERE (?1 IS NULL OR s.market = ?1) AND (?2 IS NULL OR s.symbol = ?2)
               AND ?3 IS NULL AND t.time BETWEEN ?4 AND ?5
             ORDER BY s.market, s.symbol, t.time"
                .into(),
            vec![
                col("market", Text, false),
                col("symbol", Text, false),
                col("time", TimeMs, false),
                col("last_price", Float, false),
                col("bid_price", Float, false),
                col("bid_qty", Float, false),
                col("ask_price", Float, false),
                col("ask_qty", Float, false),
                col("open_price", Float, false),
                col("high_price", Float, false),
                col("low_price", Float, false),
                col("price_change_percent", Float, false),
                col("volume", Float, false),
                col("quote_volume", Float, false),
                col("trades", Int, false),
                col("window_open_time", TimeMs, false),
                col("window_close_time", TimeMs, false),
            ],
        ),
        ExportKind::Orders => (
            "SELECT id, market, symbol, client_order_id, order_id, side, type, time_in_force,
                    quantity, quote_quantity, price, stop_price, status, executed_qty,
                    cummulative_quote_qty, error_code, error_msg, transact_time, update_time,
                    created_at, updated_at
             FROM orders
             WHERE (?1 IS NULL OR market = ?1) AND (?2 IS NULL OR symbol = ?2)
               AND ?3 IS NULL AND created_at BETWEEN ?4 AND ?5
             ORDER BY market, symbol, created_at, id"
                .into(),
            vec![
                col("id", Int, false),
                col("market", Text, false),
                col("symbol", Text, false),
                col("client_order_id", Text, false),
                col("order_id", Int, true),
                col("side", Text, false),
                col("type", Text, false),
                col("time_in_force", Text, true),
                col("quantity", Text, true),
                col("quote_quantity", Text, true),
                col("price", Text, true),
                col("stop_price", Text, true),
                col("status", Text, false),
                col("executed_qty", Text, false),
                col("cummulative_quote_qty", Text, false),
                col("error_code", Int, true),
                col("error_msg", Text, true),
                col("transact_time", TimeMs, true),
                col("update_time", TimeMs, true),
                col("created_at", TimeMs, false),
                col("updated_at", TimeMs, false),
            ],
        ),
        ExportKind::Executions => (
            "SELECT id, market, symbol, order_id, client_order_id, side, order_type,
                    execution_type, order_status, last_qty, last_price, last_quote_qty,
                    cumulative_qty, cumulative_quote_qty, commission, commission_asset,
                    trade_id, is_maker, event_time, transaction_time
             FROM executions
             WHERE (?1 IS NULL OR market = ?1) AND (?2 IS NULL OR symbol = ?2)
               AND ?3 IS NULL AND transaction_time BETWEEN ?4 AND ?5
             ORDER BY market, symbol, transaction_time, id"
                .into(),
            vec![
                col("id", Int, false),
                col("market", Text, false),
                col("symbol", Text, false),
                col("order_id", Int, false),
                col("client_order_id", Text, true),
                col("side", Text, true),
                col("order_type", Text, true),
                col("execution_type", Text, false),
                col("order_status", Text, true),
                col("last_qty", Text, true),
                col("last_price", Text, true),
                col("last_quote_qty", Text, true),
                col("cumulative_qty", Text, true),
                col("cumulative_quote_qty", Text, true),
                col("commission", Text, true),
                col("commission_asset", Text, true),
                col("trade_id", Int, true),
                col("is_maker", Int, true),
                col("event_time", TimeMs, true),
                col("transaction_time", TimeMs, false),
            ],
        ),
        ExportKind::MarkPrices => (
            needs_table(&conn, "mark_prices")?,
            vec![
                col("market", Text, false),
                col("symbol", Text, false),
                col("time", TimeMs, false),
                col("mark_price", Float, false),
                col("index_price", Float, false),
                col("estimated_settle_price", Float, true),
                col("funding_rate", Float, true),
                col("next_funding_time", TimeMs, true),
            ],
        ),
        ExportKind::OpenInterest => (
            needs_table(&conn, "open_interest")?,
            vec![
                col("market", Text, false),
                col("symbol", Text, false),
                col("period", Text, false),
                col("time", TimeMs, false),
                col("open_interest", Float, false),
                col("open_interest_value", Float, true),
            ],
        ),
    };
    sink.columns(&columns).map_err(ExportError::Sink)?;
    let mut stmt = conn.prepare(&sql)?;
    let args: Vec<rusqlite::types::Value> = vec![
        market.into(),
        symbol.into(),
        interval.into(),
        start.into(),
        end.into(),
    ];
    let mut rows = stmt.query(params_from_iter(args))?;
    let mut cells = Vec::with_capacity(columns.len());
    let mut count = 0u64;
    while let Some(row) = rows.next()? {
        cells.clear();
        for (i, c) in columns.iter().enumerate() {
            cells.push(cell(row.get_ref(i)?, c)?);
        }
        sink.row(&cells).map_err(ExportError::Sink)?;
        count += 1;
    }
    Ok(count)
}

/// A stored value as a cell of its column's kind; a value of another kind is
/// [`StoreError::Corrupt`].
fn cell(v: ValueRef<'_>, c: &ExportColumn) -> Result<Cell, ExportError> {
    let bad = || {
        ExportError::Store(StoreError::Corrupt(format!(
            "column {} holds {v:?}, not a {:?}",
            c.name, c.kind
        )))
    };
    Ok(match (v, c.kind) {
        (ValueRef::Null, _) => Cell::Null,
        (ValueRef::Integer(i), Int | TimeMs) => Cell::Int(i),
        (ValueRef::Integer(i), Float) => Cell::Float(i as f64),
        // Futures prices and quantities are Binance's decimal strings (TEXT).
        (ValueRef::Text(t), Float) => Cell::Float(
            std::str::from_utf8(t)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(bad)?,
        ),
        (ValueRef::Real(f), Float) => Cell::Float(f),
        (ValueRef::Text(t), Text) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        (ValueRef::Integer(i), Text) => Cell::Text(i.to_string()),
        (ValueRef::Real(f), Text) => Cell::Text(f.to_string()),
        _ => return Err(bad()),
    })
}

/// The query of a futures table (`mark_prices`, `open_interest`), joined with `symbols`
/// for the market and symbol, filtered and ordered like the klines; `NoTable` for a
/// database older than the futures tables (schema version 7).
fn needs_table(conn: &Connection, table: &'static str) -> Result<String, ExportError> {
    if !has_table(conn, table)? {
        return Err(ExportError::NoTable(table));
    }
    let columns = match table {
        "mark_prices" => {
            "t.time, t.mark_price, t.index_price, t.estimated_settle_price, t.funding_rate,
             t.next_funding_time"
        }
        _ => "t.period, t.time, t.open_interest, t.open_interest_value",
    };
    let order = if table == "open_interest" {
        "t.period, t.time"
    } else {
        "t.time"
    };
    Ok(format!(
        "SELECT s.market, s.symbol, {columns}
         FROM {table} t JOIN symbols s ON s.id = t.symbol_id
         WHERE (?1 IS NULL OR s.market = ?1) AND (?2 IS NULL OR s.symbol = ?2)
           AND ?3 IS NULL AND t.time BETWEEN ?4 AND ?5
         ORDER BY s.market, s.symbol, {order}"
    ))
}
