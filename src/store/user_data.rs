//! The user-data tables (schema version 4): `executions`, `balances`, `balance_changes`,
//! `list_statuses` and `user_events`, and what user-data events do to `orders`.
//!
//! [`Store::apply_user_data`] writes a batch of parsed events (the stream's writer drains
//! its channel into one call) in ONE transaction: all of it or none of it. Every write is
//! idempotent, so a replayed event (a reconnect, a reconciliation that overlaps the
//! stream) changes nothing: executions are unique per exchange event (`event_key`, see
//! `schema.sql`), balance changes per asset and event, list statuses per list and
//! transaction time, raw events per text. Order rows follow the one staleness rule of
//! [`super::orders`]: an execution report never moves an order backwards.
//!
//! Reconciliation adds what the stream missed through the same tables:
//! [`Store::record_trades`] (REST `myTrades`, one row per fill shared with the stream's
//! report of it) and [`Store::apply_account`] (REST account snapshot).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension, ToSql, Transaction, params};
use rust_decimal::Decimal;
use serde::Serialize;

use super::orders::{Progress, insert_exchange_order_tx};
use super::{Store, StoreError};
use crate::domain::{Account, ClientOrderId, Order, OrderStatus, Trade};
use crate::domain::{
    AccountPosition, BalanceUpdate, ExecutionReport, ListStatus, Spelled, UserDataEvent,
    trade_event_key,
};
use crate::domain::{Market, Symbol};

/// What one [`Store::apply_user_data`] call did. Counts are rows, over the whole batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Execution reports stored as new `executions` rows.
    pub executions_new: usize,
    /// Execution reports already stored (replays): nothing written for them.
    pub executions_duplicate: usize,
    /// Execution reports that upgraded a row recorded from REST `myTrades` to the stream's
    /// fields (not counted in `executions_new`).
    pub executions_upgraded: usize,
    /// Order rows moved forward by a report (stale reports are not counted).
    pub orders_updated: usize,
    /// Orders placed outside tradebeat (web UI, another bot), inserted from a report.
    pub orders_inserted: usize,
    /// `balances` rows written by outboundAccountPosition events (newer or equal only).
    pub balances_updated: usize,
    /// New `balance_changes` rows (outboundAccountPosition and balanceUpdate).
    pub balance_changes_new: usize,
    /// New `list_statuses` rows.
    pub list_statuses_new: usize,
    /// Unknown and invalid events newly kept raw in `user_events`.
    pub kept_raw: usize,
    /// Orders an execution report could not be attached to (e.g. empty client order id),
    /// with the reason; the execution row is still stored.
    pub unattached: Vec<String>,
    /// `positions` rows written by futures `ACCOUNT_UPDATE` events (newer or equal only).
    pub positions_updated: usize,
}

/// One row of `balances`: an asset's balance as last reported. Times are ms since the
/// epoch (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    /// The asset, e.g. `BTC`.
    pub asset: String,
    /// Available, exact decimal.
    pub free: Decimal,
    /// Locked in open orders, exact decimal.
    pub locked: Decimal,
    /// The exchange's time of the account update the amounts come from, ms.
    pub update_time: i64,
    /// `stream` (outboundAccountPosition) or `rest` (account snapshot).
    pub source: String,
    /// When the row last changed (local clock), ms.
    pub updated_at: i64,
}

/// One row of `executions` (the columns tests and tools look at most; `raw` has the rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecutionRow {
    pub id: i64,
    pub symbol: String,
    pub event_key: String,
    /// `stream` or `rest`.
    pub source: String,
    pub order_id: i64,
    pub client_order_id: Option<String>,
    pub execution_type: String,
    pub order_status: Option<String>,
    /// Decimal strings as received.
    pub last_qty: Option<String>,
    pub last_price: Option<String>,
    pub cumulative_qty: Option<String>,
    pub commission: Option<String>,
    pub commission_asset: Option<String>,
    pub trade_id: Option<i64>,
    pub execution_id: Option<i64>,
    pub event_time: Option<i64>,
    pub transaction_time: i64,
    pub raw: String,
    pub received_at: i64,
}

impl Store {
    /// Applies a batch of user-data events in one transaction (module docs):
    /// - `executionReport`: an `executions` row (unique per exchange event; a row from
    ///   REST is upgraded), and the order's row moved forward (status `X`, executed `z`,
    ///   cumulative quote `Z`, update time `T`, the order id), found by the order's client
    ///   order id, else by (market, symbol, order id); an order not stored is inserted
    ///   from the report. When no order row can be attached (client order id empty or
    ///   outside the spot pattern and no row with that order id, a client order id stored
    ///   for another order, an order type tradebeat does not know), the execution row is
    ///   still stored and the reason is in [`ApplyReport::unattached`];
    /// - `outboundAccountPosition`: `balances` (newer-or-equal `u` only) and
    ///   `balance_changes`; `balanceUpdate`: `balance_changes` only;
    /// - `listStatus`: `list_statuses`; unknown and invalid events: `user_events`;
    /// - `eventStreamTerminated`, `serverShutdown`: nothing (connection events).
    ///
    /// Errors: [`StoreError::Event`] names the event that conflicts with what is stored
    /// (nothing of the batch is written); other errors are the database's (retry).
    pub fn apply_user_data(
        &self,
        market: Market,
        events: &[UserDataEvent],
        received_at_ms: i64,
    ) -> Result<ApplyReport, StoreError> {
        self.apply_user_data_then(market, events, received_at_ms, |_| Ok(()))
    }

    /// [`Store::apply_user_data`], then `then` inside the same transaction (before the
    /// snapshot of what changed is taken), so both commit or neither does.
    pub(crate) fn apply_user_data_then(
        &self,
        market: Market,
        events: &[UserDataEvent],
        received_at_ms: i64,
        then: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(), StoreError>,
    ) -> Result<ApplyReport, StoreError> {
        let applied =
            self.apply_user_data_around(market, events, received_at_ms, |_| Ok(true), then)?;
        Ok(applied.unwrap_or_default())
    }

    /// [`Store::apply_user_data_then`], with `first` run in the same transaction before
    /// anything else: when it returns `false`, nothing more is done and `Ok(None)` is
    /// returned (what `first` wrote commits).
    pub(crate) fn apply_user_data_around(
        &self,
        market: Market,
        events: &[UserDataEvent],
        received_at_ms: i64,
        first: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<bool, StoreError>,
        then: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(), StoreError>,
    ) -> Result<Option<ApplyReport>, StoreError> {
        let publish = self.events.has_subscribers();
        let applied = self.write(|tx| {
            if !first(tx)? {
                return Ok(None);
            }
            let snapshot = match publish {
                true => Some(super::events::UserDataSnapshot::before(tx, market, events)?),
                false => None,
            };
            let mut report = ApplyReport::default();
            for (index, event) in events.iter().enumerate() {
                apply_event(tx, market, event, received_at_ms, &mut report).map_err(|e| {
                    if is_data_error(&e) {
                        StoreError::Event {
                            index,
                            event_type: event.event_type().to_string(),
                            detail: e.to_string(),
                        }
                    } else {
                        e
                    }
                })?;
            }
            then(tx)?;
            let changes = match snapshot {
                Some(snapshot) => snapshot.changes(tx, market, events)?,
                None => Vec::new(),
            };
            Ok(Some((report, changes)))
        })?;
        Ok(applied.map(|(report, changes)| {
            self.events.publish_all(changes);
            report
        }))
    }

    /// Records fills from `GET /api/v3/myTrades` (reconciliation), source `rest`, under
    /// the same `event_key` as the stream's report of the same fill (`trade:<id>`), so a
    /// fill is one row whichever way it came first. A trade already stored changes
    /// nothing. The client order id is the stored order's, when the order is stored.
    /// Order rows are not changed (the order's query does that). Returns the new rows.
    pub fn record_trades(
        &self,
        market: Market,
        trades: &[Trade],
        received_at_ms: i64,
    ) -> Result<usize, StoreError> {
        let publish = self.events.has_subscribers();
        let (new, changes) = self.write(|tx| {
            let after = match publish {
                true => Some(super::events::max_execution_id(tx)?),
                false => None,
            };
            let new = record_trades_tx(tx, market, trades, received_at_ms)?;
            let changes = match after {
                Some(id) => super::events::executions_after(tx, id)?,
                None => Vec::new(),
            };
            Ok((new, changes))
        })?;
        self.events.publish_all(changes);
        Ok(new)
    }

    /// Moves the `myTrades` checkpoint of `symbol` (`trade_checkpoints`) to
    /// `next_trade_id`, never backwards. The caller vouches that every fill of the account
    /// on `symbol` with a lower trade id is stored (recorded from a catch-up that listed
    /// them all, with their orders), and that a subscribed stream delivers the fills after
    /// the catch-up's last page.
    pub fn advance_trade_checkpoint(
        &self,
        market: Market,
        symbol: &Symbol,
        next_trade_id: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO trade_checkpoints (market, symbol, next_trade_id, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (market, symbol) DO UPDATE
                 SET next_trade_id = excluded.next_trade_id, updated_at = excluded.updated_at
                 WHERE excluded.next_trade_id > next_trade_id",
            )?
            .execute(params![
                market.as_str(),
                symbol.as_str(),
                next_trade_id,
                now_ms
            ])?;
            Ok(())
        })
    }

    /// Where the next `myTrades` catch-up of each symbol of `market` starts (`fromId`):
    /// every fill with a lower trade id is stored. Symbols never caught up are absent. Only
    /// [`Store::advance_trade_checkpoint`] moves it: the highest trade id stored is no such mark,
    /// since the stream may store a fill while older ones are still missing.
    pub fn trade_checkpoints(&self, market: Market) -> Result<HashMap<Symbol, i64>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT symbol, next_trade_id FROM trade_checkpoints WHERE market = ?1",
        )?;
        let rows = stmt
            .query_map([market.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(symbol, id)| {
                symbol
                    .parse::<Symbol>()
                    .map(|s| (s, id))
                    .map_err(|e| StoreError::Corrupt(format!("trade_checkpoints.symbol: {e}")))
            })
            .collect()
    }

    /// Applies a `GET /api/v3/account` snapshot: each listed asset's balance replaces the
    /// stored one when the snapshot's `update_time` is newer or equal and the amounts
    /// differ; a stored asset absent from the snapshot (which omits zero balances) is set
    /// to zero under the same rule. Each change is also a `balance_changes` row
    /// (`account`). Returns the number of `balances` rows changed.
    pub fn apply_account(
        &self,
        market: Market,
        account: &Account,
        received_at_ms: i64,
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
            let stored: HashMap<String, BalanceRow> = balances_tx(tx, market)?
                .into_iter()
                .map(|b| (b.asset.clone(), b))
                .collect();
            let time = account.update_time;
            let mut listed = HashSet::with_capacity(account.balances.len());
            let mut targets = Vec::with_capacity(account.balances.len());
            for b in &account.balances {
                listed.insert(b.asset.as_str());
                targets.push((b.asset.as_str(), b.free, b.locked));
            }
            for asset in stored.keys() {
                if !listed.contains(asset.as_str()) {
                    targets.push((asset.as_str(), Decimal::ZERO, Decimal::ZERO));
                }
            }
            let before = match self.events.has_subscribers() {
                true => Some(super::events::balance_map(tx, market)?),
                false => None,
            };
            let mut changed = 0;
            for (asset, free, locked) in targets {
                if let Some(s) = stored.get(asset)
                    && (s.update_time > time || (s.free == free && s.locked == locked))
                {
                    continue;
                }
                upsert_balance_tx(
                    tx,
                    market,
                    asset,
                    free,
                    locked,
                    time,
                    "rest",
                    received_at_ms,
                )?;
                insert_balance_change_tx(
                    tx,
                    market,
                    asset,
                    "account",
                    time,
                    time,
                    (Some(free), Some(locked), None),
                    received_at_ms,
                )?;
                changed += 1;
            }
            let changes = match before {
                Some(before) => super::events::balance_changes(tx, market, &before)?,
                None => Vec::new(),
            };
            Ok((changed, changes))
        })
        .map(|(changed, changes)| {
            self.events.publish_all(changes);
            changed
        })
    }

    /// Every balance of `market` as last reported, by asset.
    pub fn balances(&self, market: Market) -> Result<Vec<BalanceRow>, StoreError> {
        let conn = self.conn()?;
        balances_tx(&conn, market)
    }

    /// The number of `executions` rows (all markets).
    pub fn execution_count(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn()?
            .query_row("SELECT COUNT(*) FROM executions", [], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// The stored executions of one order, oldest first.
    pub fn executions_of_order(
        &self,
        market: Market,
        symbol: &Symbol,
        order_id: i64,
    ) -> Result<Vec<ExecutionRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, symbol, event_key, source, order_id, client_order_id, execution_type,
                    order_status, last_qty, last_price, cumulative_qty, commission,
                    commission_asset, trade_id, execution_id, event_time, transaction_time, raw,
                    received_at
             FROM executions WHERE market = ?1 AND symbol = ?2 AND order_id = ?3 ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![market.as_str(), symbol.as_str(), order_id], |r| {
                Ok(ExecutionRow {
                    id: r.get(0)?,
                    symbol: r.get(1)?,
                    event_key: r.get(2)?,
                    source: r.get(3)?,
                    order_id: r.get(4)?,
                    client_order_id: r.get(5)?,
                    execution_type: r.get(6)?,
                    order_status: r.get(7)?,
                    last_qty: r.get(8)?,
                    last_price: r.get(9)?,
                    cumulative_qty: r.get(10)?,
                    commission: r.get(11)?,
                    commission_asset: r.get(12)?,
                    trade_id: r.get(13)?,
                    execution_id: r.get(14)?,
                    event_time: r.get(15)?,
                    transaction_time: r.get(16)?,
                    raw: r.get(17)?,
                    received_at: r.get(18)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// [`Store::record_trades`] inside `tx`.
fn record_trades_tx(
    tx: &Transaction<'_>,
    market: Market,
    trades: &[Trade],
    received_at_ms: i64,
) -> Result<usize, StoreError> {
    let mut client_id = tx.prepare_cached(
        "SELECT client_order_id FROM orders
             WHERE market = ?1 AND symbol = ?2 AND order_id = ?3",
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO executions (market, symbol, event_key, source, order_id,
                 client_order_id, side, execution_type, last_qty, last_price, last_quote_qty,
                 commission, commission_asset, trade_id, is_maker, transaction_time, raw,
                 received_at, realized_pnl, position_side)
             VALUES (?1, ?2, ?3, 'rest', ?4, ?5, ?6, 'TRADE', ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                     ?14, ?15, ?16, ?17, ?18)
             ON CONFLICT (market, symbol, event_key) DO NOTHING",
    )?;
    let mut new = 0;
    for t in trades {
        let cid: Option<String> = client_id
            .query_row(
                params![market.as_str(), t.symbol.as_str(), t.order_id],
                |r| r.get(0),
            )
            .optional()?;
        let raw = serde_json::to_string(t)
            .map_err(|e| StoreError::Corrupt(format!("trade {}: {e}", t.id)))?;
        new += insert.execute(params![
            market.as_str(),
            t.symbol.as_str(),
            trade_event_key(t.id),
            t.order_id,
            cid,
            if t.is_buyer { "BUY" } else { "SELL" },
            t.qty.to_string(),
            t.price.to_string(),
            t.quote_qty.to_string(),
            t.commission.to_string(),
            t.commission_asset,
            t.id,
            t.is_maker,
            t.time,
            raw,
            received_at_ms,
            t.realized_pnl.map(|d| d.to_string()),
            t.position_side.map(|p| p.as_str())
        ])?;
    }
    Ok(new)
}

/// Whether `e` comes from the event's data (a constraint it breaks, a stored value it
/// meets that does not parse) rather than from the database itself.
fn is_data_error(e: &StoreError) -> bool {
    match e {
        StoreError::Corrupt(_) => true,
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
            f.code == rusqlite::ErrorCode::ConstraintViolation
        }
        _ => false,
    }
}

fn apply_event(
    tx: &Transaction<'_>,
    market: Market,
    event: &UserDataEvent,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    match event {
        UserDataEvent::ExecutionReport(r) => execution_report(tx, market, r, received_at, report),
        UserDataEvent::AccountPosition(a) => account_position(tx, market, a, received_at, report),
        UserDataEvent::BalanceUpdate(b) => balance_update(tx, market, b, received_at, report),
        UserDataEvent::ListStatus(l) => list_status(tx, market, l, received_at, report),
        UserDataEvent::StreamTerminated { .. } | UserDataEvent::ServerShutdown { .. } => Ok(()),
        UserDataEvent::Futures(f) => {
            super::futures_user_data::apply(tx, market, f, received_at, report)
        }
        UserDataEvent::Unknown {
            event_type,
            event_time,
            raw,
        } => keep_raw(
            tx,
            market,
            (event_type, *event_time, raw, None),
            received_at,
            report,
        ),
        UserDataEvent::Invalid {
            event_type,
            event_time,
            raw,
            error,
        } => keep_raw(
            tx,
            market,
            (event_type, *event_time, raw, Some(error)),
            received_at,
            report,
        ),
    }
}

fn execution_report(
    tx: &Transaction<'_>,
    market: Market,
    r: &ExecutionReport,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    let key = r.event_key();
    let (last_qty, last_price, cumulative_qty, cumulative_quote_qty, commission) = (
        r.last_qty.to_string(),
        r.last_price.to_string(),
        r.cumulative_qty.to_string(),
        r.cumulative_quote_qty.to_string(),
        r.commission.to_string(),
    );
    let last_quote_qty = r.last_quote_qty.map(|d| d.to_string());
    // ?1..?23: the row's identity and fields, shared by the insert and the upgrade.
    let fields: [&dyn ToSql; 23] = [
        &market.as_str(),
        &r.symbol.as_str(),
        &key,
        &r.order_id,
        &r.order_client_order_id(),
        &r.side.as_str(),
        &r.order_type.as_str(),
        &r.execution_type.as_str(),
        &r.order_status.as_str(),
        &r.reject_reason.as_str(),
        &last_qty,
        &last_price,
        &last_quote_qty,
        &cumulative_qty,
        &cumulative_quote_qty,
        &commission,
        &r.commission_asset,
        &r.trade(),
        &r.execution_id,
        &r.is_maker,
        &r.event_time,
        &r.transaction_time,
        &r.raw,
    ];
    let mut with_received_at = fields.to_vec();
    with_received_at.push(&received_at);
    let inserted = tx
        .prepare_cached(
            "INSERT INTO executions (market, symbol, event_key, source, order_id, client_order_id,
                 side, order_type, execution_type, order_status, reject_reason, last_qty,
                 last_price, last_quote_qty, cumulative_qty, cumulative_quote_qty, commission,
                 commission_asset, trade_id, execution_id, is_maker, event_time,
                 transaction_time, raw, received_at)
             VALUES (?1, ?2, ?3, 'stream', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                     ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)
             ON CONFLICT (market, symbol, event_key) DO NOTHING",
        )?
        .execute(&*with_received_at)?;
    if inserted == 1 {
        report.executions_new += 1;
    } else {
        // Already stored: from REST (upgrade it to the stream's fields) or a replay.
        let upgraded = tx
            .prepare_cached(
                "UPDATE executions SET source = 'stream', order_id = ?4, client_order_id = ?5,
                     side = ?6, order_type = ?7, execution_type = ?8, order_status = ?9,
                     reject_reason = ?10, last_qty = ?11, last_price = ?12,
                     last_quote_qty = ?13, cumulative_qty = ?14, cumulative_quote_qty = ?15,
                     commission = ?16, commission_asset = ?17, trade_id = ?18,
                     execution_id = ?19, is_maker = ?20, event_time = ?21,
                     transaction_time = ?22, raw = ?23
                 WHERE market = ?1 AND symbol = ?2 AND event_key = ?3 AND source = 'rest'",
            )?
            .execute(&fields[..])?;
        if upgraded == 0 {
            // A replay: it was applied to the order in the transaction that stored it.
            report.executions_duplicate += 1;
            return Ok(());
        }
        report.executions_upgraded += 1;
    }
    apply_to_order(tx, market, r, received_at, report)
}

/// The order columns an execution report needs.
struct StoredOrder {
    id: i64,
    market: String,
    symbol: String,
    client_order_id: String,
    order_id: Option<i64>,
    progress: Progress,
}

fn stored_order(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredOrder, String, String)> {
    Ok((
        StoredOrder {
            id: r.get(0)?,
            market: r.get(1)?,
            symbol: r.get(2)?,
            client_order_id: r.get(3)?,
            order_id: r.get(4)?,
            progress: Progress {
                status: OrderStatus::Pending,
                update_time: r.get(7)?,
                executed_qty: Decimal::ZERO,
            },
        },
        r.get(5)?,
        r.get(6)?,
    ))
}

fn find_order(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<StoredOrder>, StoreError> {
    let Some((mut order, status, executed)) = conn
        .prepare_cached(sql)?
        .query_row(params, stored_order)
        .optional()?
    else {
        return Ok(None);
    };
    order.progress.status = status
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("orders.status: {e}")))?;
    order.progress.executed_qty = Decimal::from_str(&executed)
        .map_err(|e| StoreError::Corrupt(format!("orders.executed_qty: {e}")))?;
    Ok(Some(order))
}

const ORDER_BY_CLIENT_ID: &str =
    "SELECT id, market, symbol, client_order_id, order_id, status, executed_qty, update_time
     FROM orders WHERE client_order_id = ?1";
const ORDER_BY_EXCHANGE_ID: &str =
    "SELECT id, market, symbol, client_order_id, order_id, status, executed_qty, update_time
     FROM orders WHERE market = ?1 AND symbol = ?2 AND order_id = ?3";

fn apply_to_order(
    tx: &Transaction<'_>,
    market: Market,
    r: &ExecutionReport,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    let cid_text = r.order_client_order_id();
    let cid = ClientOrderId::from_str(cid_text).ok();
    let by_client_id = match &cid {
        Some(c) => find_order(tx, ORDER_BY_CLIENT_ID, [c.as_str()])?,
        None => None,
    };
    let found = match by_client_id {
        Some(o) => Some(o),
        None => find_order(
            tx,
            ORDER_BY_EXCHANGE_ID,
            params![market.as_str(), r.symbol.as_str(), r.order_id],
        )?,
    };
    let Some(order) = found else {
        return insert_order(tx, market, r, cid.as_ref(), received_at, report);
    };
    let same_order = order.market == market.as_str()
        && order.symbol == r.symbol.as_str()
        && order.order_id.is_none_or(|id| id == r.order_id);
    if !same_order {
        report.unattached.push(format!(
            "{} order {} ({}): client order id {:?} is stored for another order ({} {} order id {})",
            r.symbol,
            r.order_id,
            r.execution_type,
            order.client_order_id,
            order.market,
            order.symbol,
            order.order_id.map_or_else(|| "none".to_string(), |id| id.to_string()),
        ));
        return Ok(());
    }
    let reported = Progress {
        status: r.order_status,
        update_time: Some(r.transaction_time),
        executed_qty: r.cumulative_qty,
    };
    if reported.is_stale_against(&order.progress) {
        return Ok(());
    }
    let error_msg = (r.order_status == OrderStatus::Rejected && r.reject_reason != "NONE")
        .then(|| format!("rejected: {}", r.reject_reason));
    tx.prepare_cached(
        "UPDATE orders SET order_id = ?2, status = ?3, executed_qty = ?4,
             cummulative_quote_qty = ?5, transact_time = COALESCE(transact_time, ?6),
             update_time = ?7, error_code = NULL, error_msg = ?8, updated_at = ?9
         WHERE id = ?1",
    )?
    .execute(params![
        order.id,
        r.order_id,
        r.order_status.as_str(),
        r.cumulative_qty.to_string(),
        r.cumulative_quote_qty.to_string(),
        r.order_creation_time,
        r.transaction_time,
        error_msg,
        received_at
    ])?;
    report.orders_updated += 1;
    Ok(())
}

/// Inserts an order placed outside tradebeat from its report, when it can be stored.
fn insert_order(
    tx: &Transaction<'_>,
    market: Market,
    r: &ExecutionReport,
    cid: Option<&ClientOrderId>,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    let what = || format!("{} order {} ({})", r.symbol, r.order_id, r.execution_type);
    let Some(cid) = cid else {
        report.unattached.push(format!(
            "{}: client order id {:?} is empty or outside ^[a-zA-Z0-9-_]{{1,36}}$ and no order with this id is stored",
            what(),
            r.order_client_order_id()
        ));
        return Ok(());
    };
    let Spelled::Known(order_type) = r.order_type else {
        report.unattached.push(format!(
            "{}: order type {} is not one tradebeat stores",
            what(),
            r.order_type
        ));
        return Ok(());
    };
    let order = Order {
        symbol: r.symbol.clone(),
        order_id: r.order_id,
        client_order_id: cid.to_string(),
        side: r.side,
        order_type,
        time_in_force: r.time_in_force.known(),
        price: r.price,
        orig_qty: r.quantity,
        orig_quote_order_qty: r.quote_order_qty.unwrap_or_default(),
        executed_qty: r.cumulative_qty,
        cummulative_quote_qty: r.cumulative_quote_qty,
        stop_price: (!r.stop_price.is_zero()).then_some(r.stop_price),
        status: r.order_status,
        time: Some(r.order_creation_time),
        update_time: Some(r.transaction_time),
        fills: Vec::new(),
        futures: None,
    };
    insert_exchange_order_tx(tx, market, &order, cid, received_at)?;
    report.orders_inserted += 1;
    Ok(())
}

fn account_position(
    tx: &Transaction<'_>,
    market: Market,
    a: &AccountPosition,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    for b in &a.balances {
        report.balances_updated += upsert_balance_tx(
            tx,
            market,
            &b.asset,
            b.free,
            b.locked,
            a.last_update_time,
            "stream",
            received_at,
        )?;
        report.balance_changes_new += insert_balance_change_tx(
            tx,
            market,
            &b.asset,
            crate::domain::ACCOUNT_POSITION,
            a.event_time,
            a.last_update_time,
            (Some(b.free), Some(b.locked), None),
            received_at,
        )?;
    }
    Ok(())
}

fn balance_update(
    tx: &Transaction<'_>,
    market: Market,
    b: &BalanceUpdate,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    report.balance_changes_new += insert_balance_change_tx(
        tx,
        market,
        &b.asset,
        crate::domain::BALANCE_UPDATE,
        b.event_time,
        b.clear_time,
        (None, None, Some(b.delta)),
        received_at,
    )?;
    Ok(())
}

fn list_status(
    tx: &Transaction<'_>,
    market: Market,
    l: &ListStatus,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    let orders = serde_json::to_string(&l.orders)
        .map_err(|e| StoreError::Corrupt(format!("listStatus orders: {e}")))?;
    report.list_statuses_new += tx
        .prepare_cached(
            "INSERT INTO list_statuses (market, symbol, order_list_id, contingency_type,
                 list_status_type, list_order_status, list_reject_reason, list_client_order_id,
                 orders, event_time, transaction_time, raw, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            market.as_str(),
            l.symbol.as_str(),
            l.order_list_id,
            l.contingency_type,
            l.list_status_type,
            l.list_order_status,
            l.list_reject_reason,
            l.list_client_order_id,
            orders,
            l.event_time,
            l.transaction_time,
            l.raw,
            received_at
        ])?;
    Ok(())
}

pub(super) fn keep_raw(
    tx: &Transaction<'_>,
    market: Market,
    (event_type, event_time, raw, error): (&str, Option<i64>, &str, Option<&String>),
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    report.kept_raw += tx
        .prepare_cached(
            "INSERT INTO user_events (market, event_type, event_time, raw, error, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            market.as_str(),
            event_type,
            event_time,
            raw,
            error,
            received_at
        ])?;
    Ok(())
}

/// Writes one balance unless the stored one is newer; returns rows written (0 or 1).
#[allow(clippy::too_many_arguments)]
pub(super) fn upsert_balance_tx(
    tx: &Transaction<'_>,
    market: Market,
    asset: &str,
    free: Decimal,
    locked: Decimal,
    update_time: i64,
    source: &str,
    now: i64,
) -> Result<usize, StoreError> {
    Ok(tx
        .prepare_cached(
            "INSERT INTO balances (market, asset, free, locked, update_time, source, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (market, asset) DO UPDATE SET free = excluded.free,
                 locked = excluded.locked, update_time = excluded.update_time,
                 source = excluded.source, updated_at = excluded.updated_at
             WHERE excluded.update_time >= balances.update_time",
        )?
        .execute(params![
            market.as_str(),
            asset,
            free.to_string(),
            locked.to_string(),
            update_time,
            source,
            now
        ])?)
}

/// Records one balance change unless already recorded; returns rows written (0 or 1).
#[allow(clippy::too_many_arguments)]
pub(super) fn insert_balance_change_tx(
    tx: &Transaction<'_>,
    market: Market,
    asset: &str,
    event_type: &str,
    event_time: i64,
    update_time: i64,
    (free, locked, delta): (Option<Decimal>, Option<Decimal>, Option<Decimal>),
    now: i64,
) -> Result<usize, StoreError> {
    Ok(tx
        .prepare_cached(
            "INSERT INTO balance_changes (market, asset, event_type, event_time, update_time,
                 free, locked, delta, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            market.as_str(),
            asset,
            event_type,
            event_time,
            update_time,
            free.map(|d| d.to_string()),
            locked.map(|d| d.to_string()),
            delta.map(|d| d.to_string()),
            now
        ])?)
}

pub(super) fn balances_tx(
    conn: &Connection,
    market: Market,
) -> Result<Vec<BalanceRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT asset, free, locked, update_time, source, updated_at
         FROM balances WHERE market = ?1 ORDER BY asset",
    )?;
    let rows = stmt
        .query_map([market.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(asset, free, locked, update_time, source, updated_at)| {
            let dec = |what: &str, s: &str| {
                Decimal::from_str(s)
                    .map_err(|e| StoreError::Corrupt(format!("balances.{what}: {e}")))
            };
            Ok(BalanceRow {
                free: dec("free", &free)?,
                locked: dec("locked", &locked)?,
                asset,
                update_time,
                source,
                updated_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Balance, OrderRequest, OrderType, Side, TimeInForce};
    use crate::exchange::spot::{Frame, parse_frame};
    use crate::store::Inserted;
    use serde_json::{Value, json};

    /// The recorded WS-API wrapped execution report (ETHBTC, order 4293153, NEW).
    const TEMPLATE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/user_data/execution_report_wrapped.json"
    ));

    use super::super::temp_store as store;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn parse(frame: &Value) -> UserDataEvent {
        match parse_frame(&frame.to_string()) {
            Ok(Frame::Event(e)) => e.event,
            other => panic!("{other:?}"),
        }
    }

    /// The recorded report with some keys changed.
    fn report(changes: Value) -> UserDataEvent {
        let mut frame: Value = serde_json::from_str(TEMPLATE).unwrap();
        for (k, v) in changes.as_object().unwrap() {
            frame["event"][k] = v.clone();
        }
        let event = parse(&frame);
        assert!(
            matches!(event, UserDataEvent::ExecutionReport(_)),
            "{event:?}"
        );
        event
    }

    fn new_report(cid: &str, order_id: i64, exec_id: i64, time: i64) -> UserDataEvent {
        report(json!({"c": cid, "i": order_id, "I": exec_id, "T": time, "E": time + 1}))
    }

    fn trade_report(
        cid: &str,
        order_id: i64,
        trade_id: i64,
        (status, last, cumulative): (&str, &str, &str),
        time: i64,
    ) -> UserDataEvent {
        report(
            json!({"c": cid, "i": order_id, "I": trade_id + 1_000_000, "t": trade_id,
                      "x": "TRADE", "X": status, "l": last, "z": cumulative,
                      "L": "0.10264410", "n": "0.00000100", "N": "BNB", "T": time,
                      "E": time + 1, "m": true}),
        )
    }

    fn position(u: i64, balances: &[(&str, &str, &str)]) -> UserDataEvent {
        position_at(u + 5, u, balances)
    }

    fn position_at(event_time: i64, u: i64, balances: &[(&str, &str, &str)]) -> UserDataEvent {
        let b: Vec<Value> = balances
            .iter()
            .map(|(a, f, l)| json!({"a": a, "f": f, "l": l}))
            .collect();
        parse(&json!({"subscriptionId": 0, "event":
            {"e": "outboundAccountPosition", "E": event_time, "u": u, "B": b}}))
    }

    fn count(store: &Store, table: &str) -> i64 {
        store
            .conn()
            .unwrap()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    fn counts(store: &Store) -> Vec<i64> {
        [
            "executions",
            "orders",
            "balances",
            "balance_changes",
            "list_statuses",
            "user_events",
        ]
        .iter()
        .map(|t| count(store, t))
        .collect()
    }

    fn pending(store: &Store, cid: &str) -> ClientOrderId {
        let id: ClientOrderId = cid.parse().unwrap();
        let mut r = OrderRequest::new("ETHBTC".parse().unwrap(), Side::Buy, OrderType::Limit);
        r.quantity = Some(d("1.00000000"));
        r.price = Some(d("0.10264410"));
        r.time_in_force = Some(TimeInForce::Gtc);
        assert!(matches!(
            store
                .insert_pending_order(Market::Spot, &r, &id, 1)
                .unwrap(),
            Inserted::New(_)
        ));
        id
    }

    fn order(store: &Store, cid: &ClientOrderId) -> crate::store::OrderRow {
        store.order_by_client_id(cid).unwrap().unwrap()
    }

    fn recorded(name: &str) -> UserDataEvent {
        let path = format!("{}/tests/data/user_data/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        match parse_frame(&text) {
            Ok(Frame::Event(e)) => e.event,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_replayed_batch_stores_nothing_twice() {
        let (_dir, store) = store();
        let cid = pending(&store, "tb-replay");
        let batch = vec![
            new_report("tb-replay", 7, 1, 100),
            trade_report("tb-replay", 7, 50, ("PARTIALLY_FILLED", "0.4", "0.4"), 110),
            trade_report("tb-replay", 7, 51, ("FILLED", "0.6", "1.00000000"), 120),
            position(120, &[("ETH", "1.5", "0"), ("BTC", "0.2", "0.1")]),
            recorded("balance_update_wrapped.json"),
            recorded("list_status_wrapped.json"),
            parse(&json!({"e": "externalLockUpdate", "E": 9, "a": "BTC", "d": "1", "T": 9})),
            parse(&json!({"e": "eventStreamTerminated", "E": 10})),
        ];
        let first = store.apply_user_data(Market::Spot, &batch, 1_000).unwrap();
        assert_eq!(
            (
                first.executions_new,
                first.orders_updated,
                first.orders_inserted
            ),
            (3, 3, 0)
        );
        assert_eq!((first.balances_updated, first.balance_changes_new), (2, 3));
        assert_eq!((first.list_statuses_new, first.kept_raw), (1, 1));
        assert!(first.unattached.is_empty(), "{:?}", first.unattached);
        let after_first = counts(&store);
        assert_eq!(after_first, vec![3, 1, 2, 3, 1, 1]);
        let row = order(&store, &cid);
        assert_eq!(row.status, OrderStatus::Filled);
        assert_eq!(row.executed_qty.to_string(), "1.00000000");
        assert_eq!((row.order_id, row.update_time), (Some(7), Some(120)));

        let again = store.apply_user_data(Market::Spot, &batch, 2_000).unwrap();
        assert_eq!(counts(&store), after_first, "nothing stored twice");
        assert_eq!(
            (
                again.executions_new,
                again.executions_duplicate,
                again.orders_updated
            ),
            (0, 3, 0)
        );
        assert_eq!(
            (
                again.balance_changes_new,
                again.list_statuses_new,
                again.kept_raw
            ),
            (0, 0, 0)
        );
        assert_eq!(
            order(&store, &cid).updated_at,
            1_000,
            "the order row untouched"
        );
        // The raw JSON is the event object exactly as received.
        let rows = store
            .executions_of_order(Market::Spot, &"ETHBTC".parse().unwrap(), 7)
            .unwrap();
        let UserDataEvent::ExecutionReport(r) = &batch[2] else {
            unreachable!()
        };
        assert_eq!(rows[2].raw, r.raw);
        assert_eq!(rows[2].event_key, "trade:51");
        assert_eq!(rows[0].event_key, "exec:1");
        assert_eq!(rows[2].last_qty.as_deref(), Some("0.6"));
    }

    #[test]
    fn a_rest_trade_then_the_streams_report_is_one_row_upgraded() {
        let (_dir, store) = store();
        let cid = pending(&store, "tb-rest");
        store
            .apply_user_data(Market::Spot, &[new_report("tb-rest", 9, 1, 100)], 1)
            .unwrap();
        let trade = Trade {
            symbol: "ETHBTC".parse().unwrap(),
            id: 77,
            order_id: 9,
            price: d("0.10264410"),
            qty: d("1.00000000"),
            quote_qty: d("0.10264410"),
            commission: d("0.00000100"),
            commission_asset: "BNB".into(),
            time: 130,
            is_buyer: true,
            is_maker: true,
            realized_pnl: None,
            position_side: None,
        };
        assert_eq!(
            store
                .record_trades(Market::Spot, std::slice::from_ref(&trade), 2)
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .record_trades(Market::Spot, std::slice::from_ref(&trade), 3)
                .unwrap(),
            0
        );
        let symbol: Symbol = "ETHBTC".parse().unwrap();
        let rows = store.executions_of_order(Market::Spot, &symbol, 9).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[1].source.as_str(), rows[1].client_order_id.as_deref()),
            ("rest", Some("tb-rest"))
        );
        assert_eq!(rows[1].order_status, None);
        // Only a catch-up page moves the checkpoint.
        assert!(store.trade_checkpoints(Market::Spot).unwrap().is_empty());

        let fill = trade_report(
            "tb-rest",
            9,
            77,
            ("FILLED", "1.00000000", "1.00000000"),
            130,
        );
        let report = store
            .apply_user_data(Market::Spot, std::slice::from_ref(&fill), 4)
            .unwrap();
        assert_eq!(
            (
                report.executions_new,
                report.executions_upgraded,
                report.orders_updated
            ),
            (0, 1, 1)
        );
        let rows = store.executions_of_order(Market::Spot, &symbol, 9).unwrap();
        assert_eq!(rows.len(), 2, "one row per fill");
        assert_eq!(rows[1].source, "stream");
        assert_eq!(rows[1].order_status.as_deref(), Some("FILLED"));
        assert_eq!(rows[1].event_time, Some(131));
        assert_eq!(rows[1].received_at, 2, "first seen");
        assert!(rows[1].raw.contains("\"t\":77"), "{}", rows[1].raw);
        assert_eq!(order(&store, &cid).status, OrderStatus::Filled);
        // The stream's report again, and the REST trade again: nothing changes.
        let report = store.apply_user_data(Market::Spot, &[fill], 5).unwrap();
        assert_eq!(report.executions_duplicate, 1);
        assert_eq!(store.record_trades(Market::Spot, &[trade], 6).unwrap(), 0);
        assert_eq!(store.execution_count().unwrap(), 2);
    }

    #[test]
    fn only_a_catch_up_moves_the_trade_checkpoint_and_never_backwards() {
        let (_dir, store) = store();
        let symbol: Symbol = "ETHBTC".parse().unwrap();
        pending(&store, "tb-cp");
        // A fill from the stream (say, newer than fills nobody fetched yet) is no checkpoint.
        let fill = trade_report("tb-cp", 9, 500, ("FILLED", "1.00000000", "1.00000000"), 130);
        store.apply_user_data(Market::Spot, &[fill], 1).unwrap();
        assert!(store.trade_checkpoints(Market::Spot).unwrap().is_empty());
        store
            .advance_trade_checkpoint(Market::Spot, &symbol, 78, 2)
            .unwrap();
        store
            .advance_trade_checkpoint(Market::Spot, &symbol, 60, 3)
            .unwrap();
        assert_eq!(
            store.trade_checkpoints(Market::Spot).unwrap(),
            HashMap::from([(symbol.clone(), 78)])
        );
        store
            .advance_trade_checkpoint(Market::Spot, &symbol, 501, 4)
            .unwrap();
        assert_eq!(
            store.trade_checkpoints(Market::Spot).unwrap(),
            HashMap::from([(symbol, 501)])
        );
    }

    #[test]
    fn order_rows_never_move_backwards_under_out_of_order_events() {
        let (_dir, store) = store();
        let cid = pending(&store, "tb-mono");
        let fill = trade_report("tb-mono", 11, 5, ("FILLED", "1.0", "1.0"), 200);
        let partial = trade_report("tb-mono", 11, 4, ("PARTIALLY_FILLED", "0.5", "0.5"), 200);
        let late_new = new_report("tb-mono", 11, 1, 200);
        let older = new_report("tb-mono", 11, 2, 150);
        for batch in [vec![fill], vec![partial], vec![late_new, older]] {
            store.apply_user_data(Market::Spot, &batch, 9).unwrap();
            let row = order(&store, &cid);
            assert_eq!(row.status, OrderStatus::Filled);
            assert_eq!(row.executed_qty, d("1.0"));
        }
        assert_eq!(
            store.execution_count().unwrap(),
            4,
            "every event is still recorded"
        );

        // The same rule for REST answers: less executed is stale even at a newer time.
        let mut answer = crate::domain::Order {
            symbol: "ETHBTC".parse().unwrap(),
            order_id: 11,
            client_order_id: "tb-mono".into(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: Some(TimeInForce::Gtc),
            price: d("0.1"),
            orig_qty: d("1"),
            orig_quote_order_qty: Decimal::ZERO,
            executed_qty: d("0.5"),
            cummulative_quote_qty: d("0.05"),
            stop_price: None,
            status: OrderStatus::Filled,
            time: Some(1),
            update_time: Some(300),
            fills: vec![],
            futures: None,
        };
        let row = store
            .apply_exchange_order(&cid, &answer, 10)
            .unwrap()
            .unwrap();
        assert_eq!(row.executed_qty, d("1.0"));
        answer.executed_qty = d("1.0");
        let row = store
            .apply_exchange_order(&cid, &answer, 11)
            .unwrap()
            .unwrap();
        assert_eq!(row.update_time, Some(300));

        // A cancel names the order in `C` and itself in `c`.
        let other = pending(&store, "tb-cancelme");
        let cancel = report(
            json!({"c": "cancel-req-1", "C": "tb-cancelme", "i": 12, "I": 30,
                                   "x": "CANCELED", "X": "CANCELED", "T": 400}),
        );
        let r = store.apply_user_data(Market::Spot, &[cancel], 12).unwrap();
        assert_eq!((r.orders_updated, r.orders_inserted), (1, 0));
        assert_eq!(order(&store, &other).status, OrderStatus::Canceled);
        assert_eq!(order(&store, &other).order_id, Some(12));
    }

    #[test]
    fn orders_placed_outside_tradebeat_are_inserted_or_reported_unattached() {
        let (_dir, store) = store();
        let outside = recorded("execution_report_stop_loss.json");
        let r = store.apply_user_data(Market::Spot, &[outside], 5).unwrap();
        assert_eq!(r.orders_inserted, 1);
        let row = order(&store, &"x-TD67BGP9-T0000000000001".parse().unwrap());
        assert_eq!(row.symbol.as_str(), "ETHUSDT");
        assert_eq!((row.order_id, row.side), (Some(12345679), Side::Sell));
        assert_eq!(row.order_type, OrderType::StopLossLimit);
        assert_eq!(row.time_in_force, Some(TimeInForce::Gtc));
        assert_eq!(row.quantity, Some(d("1.00000000")));
        assert_eq!(row.price, Some(d("2400.00000000")));
        assert_eq!(row.stop_price, Some(d("2450.00000000")));
        assert_eq!(row.quote_quantity, None);
        assert_eq!(row.status, OrderStatus::New);
        assert_eq!(
            (row.transact_time, row.update_time),
            (Some(1709654400000), Some(1709654400000))
        );
        assert_eq!(row.created_at, 5);

        // An empty client order id: the execution is kept, the order is not attachable.
        let empty = recorded("ws_spot_execution_report_empty_client_id.json");
        let r = store.apply_user_data(Market::Spot, &[empty], 6).unwrap();
        assert_eq!(
            (r.executions_new, r.orders_inserted, r.orders_updated),
            (1, 0, 0)
        );
        assert_eq!(r.unattached.len(), 1);
        assert!(
            r.unattached[0].contains("empty or outside"),
            "{:?}",
            r.unattached
        );
        // An order type tradebeat does not know: kept, not inserted.
        let odd = report(json!({"c": "web-odd", "o": "LIMIT_IF_TOUCHED", "I": 99}));
        let r = store.apply_user_data(Market::Spot, &[odd], 7).unwrap();
        assert_eq!((r.executions_new, r.orders_inserted), (1, 0));
        assert!(
            r.unattached[0].contains("LIMIT_IF_TOUCHED"),
            "{:?}",
            r.unattached
        );
        assert_eq!(store.execution_count().unwrap(), 3);
        assert_eq!(count(&store, "orders"), 1);
        // A client order id stored for another order (ids are reused once closed).
        let reused =
            report(json!({"c": "x-TD67BGP9-T0000000000001", "s": "ETHUSDT", "i": 555, "I": 100}));
        let r = store.apply_user_data(Market::Spot, &[reused], 8).unwrap();
        assert!(
            r.unattached[0].contains("another order"),
            "{:?}",
            r.unattached
        );
        assert_eq!(
            order(&store, &"x-TD67BGP9-T0000000000001".parse().unwrap()).order_id,
            Some(12345679)
        );
    }

    #[test]
    fn balances_take_newer_or_equal_updates_only() {
        let (_dir, store) = store();
        let apply = |e: UserDataEvent| store.apply_user_data(Market::Spot, &[e], 1).unwrap();
        apply(position(200, &[("BTC", "1.00000000", "0.5")]));
        apply(position(100, &[("BTC", "5", "0")]));
        let b = store.balances(Market::Spot).unwrap();
        assert_eq!((b[0].free, b[0].update_time), (d("1.00000000"), 200));
        assert_eq!(b[0].free.to_string(), "1.00000000", "scale kept");
        apply(position_at(206, 200, &[("BTC", "2", "0")]));
        assert_eq!(store.balances(Market::Spot).unwrap()[0].free, d("2"));
        // A deposit's delta is history only; the balance follows the position event.
        let r = apply(recorded("balance_update.json"));
        assert_eq!((r.balances_updated, r.balance_changes_new), (0, 1));
        assert_eq!(store.balances(Market::Spot).unwrap()[0].free, d("2"));
        let delta: String = store
            .conn()
            .unwrap()
            .query_row(
                "SELECT delta FROM balance_changes WHERE event_type = 'balanceUpdate'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(delta, "0.00100000");
        // Every position event left a change row, the stale one included.
        assert_eq!(count(&store, "balance_changes"), 4);
    }

    #[test]
    fn an_account_snapshot_zeroes_absent_assets_and_only_newer_applies() {
        let (_dir, store) = store();
        store
            .apply_user_data(
                Market::Spot,
                &[position(100, &[("BTC", "1", "0"), ("ETH", "2", "1")])],
                1,
            )
            .unwrap();
        let account = |time: i64, balances: &[(&str, &str)]| Account {
            can_trade: true,
            update_time: time,
            balances: balances
                .iter()
                .map(|(a, f)| Balance {
                    asset: a.to_string(),
                    free: d(f),
                    locked: Decimal::ZERO,
                })
                .collect(),
        };
        let snapshot = account(150, &[("BTC", "3"), ("USDT", "10.5")]);
        assert_eq!(store.apply_account(Market::Spot, &snapshot, 2).unwrap(), 3);
        let b = store.balances(Market::Spot).unwrap();
        let view: Vec<(&str, String, String, &str)> = b
            .iter()
            .map(|b| {
                (
                    b.asset.as_str(),
                    b.free.to_string(),
                    b.locked.to_string(),
                    b.source.as_str(),
                )
            })
            .collect();
        assert_eq!(
            view,
            [
                ("BTC", "3".into(), "0".into(), "rest"),
                ("ETH", "0".into(), "0".into(), "rest"),
                ("USDT", "10.5".into(), "0".into(), "rest")
            ]
        );
        // The same snapshot again changes nothing; an older one neither.
        assert_eq!(store.apply_account(Market::Spot, &snapshot, 3).unwrap(), 0);
        assert_eq!(
            store
                .apply_account(Market::Spot, &account(120, &[("BTC", "9")]), 4)
                .unwrap(),
            0
        );
        assert_eq!(store.balances(Market::Spot).unwrap()[0].free, d("3"));
        assert_eq!(count(&store, "balance_changes"), 2 + 3);
    }

    #[test]
    fn an_invalid_event_is_kept_raw_and_nothing_else_is_written() {
        let (_dir, store) = store();
        let cid = pending(&store, "tb-inv");
        let mut frame: Value = serde_json::from_str(TEMPLATE).unwrap();
        frame["event"]["c"] = json!("tb-inv");
        frame["event"]["z"] = json!("1e3");
        let bad = parse(&frame);
        let UserDataEvent::Invalid { error, .. } = &bad else {
            panic!("{bad:?}")
        };
        assert!(error.contains("field `z`"), "{error}");
        let before = counts(&store);
        let r = store
            .apply_user_data(Market::Spot, std::slice::from_ref(&bad), 3)
            .unwrap();
        assert_eq!(r.kept_raw, 1);
        let mut after = before.clone();
        after[5] += 1;
        assert_eq!(counts(&store), after);
        assert_eq!(order(&store, &cid).status, OrderStatus::Pending);
        let (kept_error, kept_raw): (String, String) = store
            .conn()
            .unwrap()
            .query_row("SELECT error, raw FROM user_events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert!(kept_error.contains("field `z`"));
        assert_eq!(kept_raw, bad.raw().unwrap());
        assert_eq!(
            store
                .apply_user_data(Market::Spot, &[bad], 4)
                .unwrap()
                .kept_raw,
            0
        );
    }

    #[test]
    fn a_batch_with_a_conflicting_event_writes_nothing_and_names_the_event() {
        let (_dir, store) = store();
        pending(&store, "tb-a");
        let b = pending(&store, "tb-b");
        store
            .apply_user_data(Market::Spot, &[new_report("tb-a", 5, 1, 100)], 1)
            .unwrap();
        let before = counts(&store);
        // tb-b reported with tb-a's order id: the database cannot hold both.
        let batch = vec![
            position(100, &[("BTC", "1", "0")]),
            new_report("tb-a", 5, 2, 101),
            new_report("tb-b", 5, 3, 102),
        ];
        let err = store.apply_user_data(Market::Spot, &batch, 2).unwrap_err();
        let StoreError::Event {
            index, event_type, ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!((*index, event_type.as_str()), (2, "executionReport"));
        assert!(err.to_string().contains("UNIQUE"), "{err}");
        assert_eq!(counts(&store), before, "nothing of the batch was written");
        assert_eq!(order(&store, &b).status, OrderStatus::Pending);
        // What the writer does next: keep that event raw, apply the rest.
        let mut batch = batch;
        let bad = batch.remove(2).into_invalid(err.to_string());
        batch.push(bad);
        let r = store.apply_user_data(Market::Spot, &batch, 3).unwrap();
        assert_eq!(
            (r.executions_new, r.kept_raw, r.balances_updated),
            (1, 1, 1)
        );
        assert_eq!(order(&store, &b).order_id, None);
    }
}
