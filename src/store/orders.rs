//! The `orders` table (schema version 2): one row per order, its latest known state.
//!
//! Rows are written `pending` before an order is sent ([`Store::insert_pending_order`]),
//! then moved on by what the exchange says ([`Store::record_exchange_order`], the one write
//! for an exchange's order answer) or by a local verdict ([`Store::set_order_outcome`]). An
//! update never moves an order backwards: an answer older than what is stored (a final
//! status replaced by an open one, or an older `updateTime`) is ignored, so a slow query
//! racing a cancel cannot resurrect the order; a local verdict (`not_placed`) always yields
//! to what the exchange says.

use std::sync::LazyLock;

use std::str::FromStr;

use super::actions::{ActionRow, insert_action_tx};
use super::{Store, StoreError, StoreEvent};
use crate::domain::{
    ClientOrderId, Fill, FuturesOrderState, Order, OrderRequest, OrderStatus, OrderType,
    PositionSide, Side, TimeInForce, UserDataEvent, WorkingType,
};
use crate::domain::{Market, Symbol};
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;

/// One row of `orders`: an order and its latest known state. Times are ms since the epoch
/// (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub id: i64,
    pub market: Market,
    pub symbol: Symbol,
    pub client_order_id: ClientOrderId,
    /// The exchange's order id; `None` until the exchange answered.
    pub order_id: Option<i64>,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: Option<TimeInForce>,
    pub quantity: Option<Decimal>,
    pub quote_quantity: Option<Decimal>,
    pub price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub status: OrderStatus,
    pub executed_qty: Decimal,
    pub cummulative_quote_qty: Decimal,
    /// Fills of the placement answer (empty when there were none or none were reported).
    pub fills: Vec<Fill>,
    /// Binance's error code when the exchange rejected the order.
    pub error_code: Option<i64>,
    /// Binance's message, or tradebeat's reason for `not_placed`.
    pub error_msg: Option<String>,
    /// The exchange's time of placement, ms.
    pub transact_time: Option<i64>,
    /// The exchange's time of the order's last change, ms.
    pub update_time: Option<i64>,
    /// When the row was written (local clock), ms.
    pub created_at: i64,
    /// When the row last changed (local clock), ms.
    pub updated_at: i64,
    /// Futures orders (`usdm`, `coinm`): the futures columns (position side, reduce-only,
    /// algo id, triggered order id …); `None` on spot.
    pub futures: Option<FuturesOrderState>,
}

/// What [`Store::insert_pending_order`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The row was written.
    New(OrderRow),
    /// A row with the same client order id exists (returned, unchanged).
    Exists(OrderRow),
}

/// What [`Store::record_exchange_order`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// No order was stored under its client order id: it was written as the exchange
    /// reports it (an order placed outside tradebeat, or a row lost).
    Imported(OrderRow),
    /// The stored order was brought up to date, or left as it was when the report is older
    /// than what is stored (the staleness rule, [`Progress::is_stale_against`]).
    Updated(OrderRow),
}

impl Recorded {
    /// The row as stored.
    pub fn into_row(self) -> OrderRow {
        match self {
            Recorded::Imported(row) | Recorded::Updated(row) => row,
        }
    }
}

/// What [`Store::record_local_placement`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalPlacement {
    /// The order was written; its row as stored.
    Placed(OrderRow),
    /// Nothing was written: an order is already stored under the client order id (this
    /// row).
    Exists(OrderRow),
}

/// Which orders [`Store::orders`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Only this market (every market when `None`).
    pub market: Option<Market>,
    /// Only this symbol.
    pub symbol: Option<Symbol>,
    /// Only orders not in a final state (open on the exchange, or pending/unknown).
    pub open: bool,
    /// At most this many, newest first.
    pub limit: u32,
}

const COLUMNS: &str = "id, market, symbol, client_order_id, order_id, side, type, time_in_force,
     quantity, quote_quantity, price, stop_price, status, executed_qty, cummulative_quote_qty,
     fills, error_code, error_msg, transact_time, update_time, created_at, updated_at,
     reduce_only, position_side, close_position, callback_rate, activation_price,
     working_type, price_protect, algo_id, triggered_order_id, avg_price";

/// How far an order has got: what the staleness rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Progress {
    pub(super) status: OrderStatus,
    /// The exchange's time of the change, ms.
    pub(super) update_time: Option<i64>,
    pub(super) executed_qty: Decimal,
}

impl Progress {
    /// Whether this report from the exchange would move an order stored at `stored`
    /// backwards, and must be ignored. The one rule for every path that applies the
    /// exchange's word to an order row (answers, queries, execution reports): stale if
    /// the stored status is final on the exchange and this one is not, or this one is
    /// older (update time), or it has executed less. The exchange's word always beats a
    /// local verdict (`pending`, `unknown`, `not_placed`). Reports of one order can carry
    /// the same time (NEW and TRADE): a late NEW never undoes a fill.
    ///
    /// The update time only decides between reports that do not move the order on: one
    /// that executed more, or that closes an order still open on the exchange, is applied
    /// even when its time is older. The exchange's clock may step back between two changes
    /// of one order (the order's NEW stamped after its fill); comparing times alone would
    /// then refuse every later report of the fill, and the row would stay open for good.
    pub(super) fn is_stale_against(&self, stored: &Progress) -> bool {
        let final_on_exchange = stored.status.is_final() && !stored.status.is_local();
        let moves_on = self.executed_qty > stored.executed_qty
            || (self.status.is_final() && !final_on_exchange);
        (final_on_exchange && !self.status.is_final())
            || self.executed_qty < stored.executed_qty
            || (!moves_on
                && matches!((stored.update_time, self.update_time), (Some(a), Some(b)) if b < a))
    }
}

/// The SQL list of final statuses, for `status IN (...)`.
/// The statuses of orders still open (not final), quoted for an SQL `IN (…)`: listed
/// rather than excluded, so that the `orders_status` index finds the few open orders
/// among all the orders ever stored (a `NOT IN` reads every row).
fn open_statuses_sql() -> String {
    OrderStatus::ALL
        .iter()
        .filter(|s| !s.is_final())
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// [`Store::orders_not_final`]'s query.
fn not_final_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM orders WHERE status IN ({}) ORDER BY id",
        open_statuses_sql()
    )
}

/// [`Store::orders_not_final_in`]'s query (`?1`: the market). Without statistics SQLite
/// would take the market's index, which holds every order of the market.
fn not_final_in_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM orders INDEXED BY orders_status
         WHERE market = ?1 AND status IN ({}) ORDER BY id",
        open_statuses_sql()
    )
}

impl Store {
    /// Writes `request` as a `pending` order under `client_order_id`, before it is sent.
    /// Returns [`Inserted::Exists`] with the stored row, writing nothing, when the client
    /// order id is taken.
    pub fn insert_pending_order(
        &self,
        market: Market,
        request: &OrderRequest,
        client_order_id: &ClientOrderId,
        now_ms: i64,
    ) -> Result<Inserted, StoreError> {
        self.write(|tx| insert_pending_tx(tx, market, request, client_order_id, now_ms))
            .inspect(|inserted| {
                if let Inserted::New(row) = inserted {
                    self.events.publish(StoreEvent::Order(row.clone()));
                }
            })
    }

    /// Records what the exchange says about an order (a placement answer, a query, a
    /// cancel, an order listed by `openOrders` or `allOrders`): the one write every such
    /// answer goes through, in one transaction. `client_order_id` is the order's own
    /// (`order.client_order_id`, checked by the caller). An order stored under it is
    /// brought up to date (order id, status, executed quantities, times, fills when the
    /// answer has some; a previous error cleared) unless the answer would move it backwards
    /// ([`Progress::is_stale_against`]: then it is left as it is); an order not stored is
    /// written as the exchange reports it, under `market`.
    pub fn record_exchange_order(
        &self,
        market: Market,
        client_order_id: &ClientOrderId,
        order: &Order,
        now_ms: i64,
    ) -> Result<Recorded, StoreError> {
        self.record_exchange_order_logged(market, client_order_id, order, now_ms, None)
    }

    /// [`Store::record_exchange_order`], with `action` (the request's `actions` row, when
    /// given) appended in the same transaction: the answer and its log entry commit
    /// together or not at all.
    ///
    /// # Errors
    /// The database's; nothing is written then.
    pub fn record_exchange_order_logged(
        &self,
        market: Market,
        client_order_id: &ClientOrderId,
        order: &Order,
        now_ms: i64,
        action: Option<&ActionRow>,
    ) -> Result<Recorded, StoreError> {
        let fills = fills_json(order)?;
        let (recorded, before, action_id) = self.write(|tx| {
            let (recorded, before) = record_exchange_order_tx(
                tx,
                market,
                client_order_id,
                order,
                fills.as_deref(),
                now_ms,
            )?;
            let action_id = action.map(|a| insert_action_tx(tx, a)).transpose()?;
            Ok((recorded, before, action_id))
        })?;
        let (Recorded::Imported(row) | Recorded::Updated(row)) = &recorded;
        if before.as_ref() != Some(row) {
            self.events.publish(StoreEvent::Order(row.clone()));
        }
        if let (Some(action), Some(id)) = (action, action_id) {
            self.published_action(action, id);
        }
        Ok(recorded)
    }

    /// A placement on a venue that keeps its orders in this database (a paper venue),
    /// in ONE transaction: the intent of `request` when given (the `pending` row
    /// [`Store::insert_pending_order`] writes, created at `now_ms`; without it the row must
    /// be stored already), the venue's simulated user-data `events` (applied as
    /// [`Store::apply_user_data`] applies them), its answer `order` (recorded as
    /// [`Store::record_exchange_order`] records it) and `action` (the request's `actions`
    /// row) when given. Nothing is written when an order is already stored under
    /// `client_order_id`. Subscribers get the changes once, after the commit.
    ///
    /// # Errors
    /// As [`Store::apply_user_data`]; nothing is written then.
    #[allow(clippy::too_many_arguments)]
    pub fn record_local_placement(
        &self,
        market: Market,
        request: Option<&OrderRequest>,
        client_order_id: &ClientOrderId,
        now_ms: i64,
        events: &[UserDataEvent],
        order: &Order,
        action: Option<&ActionRow>,
    ) -> Result<LocalPlacement, StoreError> {
        let fills = fills_json(order)?;
        let (mut existing, mut row, mut action_id) = (None, None, None);
        self.apply_user_data_around(
            market,
            events,
            now_ms,
            |tx| {
                let Some(request) = request else {
                    return Ok(true);
                };
                match insert_pending_tx(tx, market, request, client_order_id, now_ms)? {
                    Inserted::Exists(stored) => {
                        existing = Some(stored);
                        Ok(false)
                    }
                    Inserted::New(_) => Ok(true),
                }
            },
            |tx| {
                let (recorded, _) = record_exchange_order_tx(
                    tx,
                    market,
                    client_order_id,
                    order,
                    fills.as_deref(),
                    now_ms,
                )?;
                row = Some(recorded.into_row());
                action_id = action.map(|a| insert_action_tx(tx, a)).transpose()?;
                Ok(())
            },
        )?;
        if let Some(stored) = existing {
            return Ok(LocalPlacement::Exists(stored));
        }
        if let (Some(action), Some(id)) = (action, action_id) {
            self.published_action(action, id);
        }
        row.map(LocalPlacement::Placed)
            .ok_or_else(|| StoreError::Corrupt("recorded order vanished".to_string()))
    }

    /// Writes an order found on the exchange but not in the database. Returns
    /// [`Inserted::Exists`] when its client order id is already stored. (Tests only: the
    /// code records through [`Store::record_exchange_order`].)
    #[cfg(test)]
    pub fn import_order(
        &self,
        market: Market,
        order: &Order,
        now_ms: i64,
    ) -> Result<Inserted, StoreError> {
        let client_order_id = ClientOrderId::from_str(&order.client_order_id)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(|tx| {
            if let Some(existing) = order_by_client_id_tx(tx, client_order_id.as_str())? {
                return Ok(Inserted::Exists(existing));
            }
            insert_exchange_order_tx(tx, market, order, &client_order_id, now_ms)?;
            let row = order_by_client_id_tx(tx, client_order_id.as_str())?
                .ok_or_else(|| StoreError::Corrupt("imported order vanished".to_string()))?;
            Ok(Inserted::New(row))
        })
    }

    /// Records what the exchange says about the order stored under `client_order_id`, as
    /// [`Store::record_exchange_order`] does for a stored order. Returns the row as stored,
    /// `None` when there is no such row. (Tests only.)
    #[cfg(test)]
    pub fn apply_exchange_order(
        &self,
        client_order_id: &ClientOrderId,
        order: &Order,
        now_ms: i64,
    ) -> Result<Option<OrderRow>, StoreError> {
        let fills = fills_json(order)?;
        self.write(|tx| {
            let Some(current) = order_by_client_id_tx(tx, client_order_id.as_str())? else {
                return Ok(None);
            };
            apply_exchange_order_tx(tx, &current, order, fills.as_deref(), now_ms)?;
            order_by_client_id_tx(tx, client_order_id.as_str())
        })
    }

    /// Sets a local verdict on the order under `client_order_id`: `unknown`, `not_placed`
    /// or `REJECTED`, with the exchange's error code (if any) and a message. Only an order
    /// that is `pending` or `unknown` changes (what the exchange said is never overwritten
    /// by a local guess). Returns the row as stored, `None` when there is no such row.
    pub fn set_order_outcome(
        &self,
        client_order_id: &ClientOrderId,
        status: OrderStatus,
        error_code: Option<i64>,
        error_msg: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<OrderRow>, StoreError> {
        let mut before = None;
        let after = self.write(|tx| {
            before = order_by_client_id_tx(tx, client_order_id.as_str())?;
            tx.execute(
                "UPDATE orders SET status = ?2, error_code = ?3, error_msg = ?4, updated_at = ?5
                 WHERE client_order_id = ?1 AND status IN ('pending', 'unknown')",
                params![
                    client_order_id.as_str(),
                    status.as_str(),
                    error_code,
                    error_msg,
                    now_ms
                ],
            )?;
            order_by_client_id_tx(tx, client_order_id.as_str())
        })?;
        if let Some(row) = after.as_ref().filter(|row| before.as_ref() != Some(*row)) {
            self.events.publish(StoreEvent::Order(row.clone()));
        }
        Ok(after)
    }

    /// The order stored under `client_order_id`.
    pub fn order_by_client_id(
        &self,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<OrderRow>, StoreError> {
        let conn = self.conn()?;
        order_by_client_id_tx(&conn, client_order_id.as_str())
    }

    /// The order of `symbol` with the exchange's order id `order_id`.
    pub fn order_by_exchange_id(
        &self,
        market: Market,
        symbol: &Symbol,
        order_id: i64,
    ) -> Result<Option<OrderRow>, StoreError> {
        let conn = self.conn()?;
        conn.query_row(
            &format!(
                "SELECT {COLUMNS} FROM orders WHERE market = ?1 AND symbol = ?2 AND order_id = ?3"
            ),
            params![market.as_str(), symbol.as_str(), order_id],
            order_row,
        )
        .optional()?
        .transpose()
    }

    /// Stored orders matching `filter`, newest first.
    pub fn orders(&self, filter: &OrderFilter) -> Result<Vec<OrderRow>, StoreError> {
        let conn = self.conn()?;
        let open = if filter.open {
            format!("AND status IN ({})", open_statuses_sql())
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM orders WHERE (?1 IS NULL OR symbol = ?1)
             AND (?3 IS NULL OR market = ?3) {open}
             ORDER BY id DESC LIMIT ?2"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(
                params![
                    filter.symbol.as_ref().map(|s| s.as_str()),
                    filter.limit,
                    filter.market.map(Market::as_str)
                ],
                order_row,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    /// Every order not in a final state, oldest first (what reconciliation looks at).
    pub fn orders_not_final(&self) -> Result<Vec<OrderRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&not_final_sql())?;
        let rows = stmt
            .query_map([], order_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    /// Every order of `market` not in a final state, oldest first (what one market's
    /// reconciliation looks at).
    pub fn orders_not_final_in(&self, market: Market) -> Result<Vec<OrderRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&not_final_in_sql())?;
        let rows = stmt
            .query_map([market.as_str()], order_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    /// The futures order of `market` with the Algo Service id `algo_id` (USDⓈ-M
    /// conditional orders).
    pub fn order_by_algo_id(
        &self,
        market: Market,
        algo_id: i64,
    ) -> Result<Option<OrderRow>, StoreError> {
        let conn = self.conn()?;
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM orders WHERE market = ?1 AND algo_id = ?2"),
            params![market.as_str(), algo_id],
            order_row,
        )
        .optional()?
        .transpose()
    }
}

/// Writes the futures columns of the order under `client_order_id`: the order's own fields
/// as given, the ids and the average price only when known (a report without them keeps
/// the stored ones).
pub(super) fn write_futures_columns_tx(
    tx: &Connection,
    client_order_id: &ClientOrderId,
    f: &FuturesOrderState,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE orders SET reduce_only = ?2, position_side = COALESCE(?3, position_side),
             close_position = ?4, callback_rate = COALESCE(?5, callback_rate),
             activation_price = COALESCE(?6, activation_price),
             working_type = COALESCE(?7, working_type), price_protect = ?8,
             algo_id = COALESCE(?9, algo_id),
             triggered_order_id = COALESCE(?10, triggered_order_id),
             avg_price = COALESCE(?11, avg_price)
         WHERE client_order_id = ?1",
    )?
    .execute(params![
        client_order_id.as_str(),
        f.reduce_only,
        f.position_side.map(PositionSide::as_str),
        f.close_position,
        f.callback_rate.map(|d| d.to_string()),
        f.activation_price.map(|d| d.to_string()),
        f.working_type.map(WorkingType::as_str),
        f.price_protect,
        f.algo_id,
        f.triggered_order_id,
        f.avg_price.map(|d| d.to_string()),
    ])?;
    Ok(())
}

/// The fills of an exchange answer as stored (JSON), `None` when it reports none.
fn fills_json(order: &Order) -> Result<Option<String>, StoreError> {
    if order.fills.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(&order.fills)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("fills: {e}")))
}

/// Applies `order`, as the exchange reports it, to the stored row `current`: its order id,
/// status, executed quantities, times, `fills` when given; clears a previous error. Writes
/// nothing when the report is stale ([`Progress::is_stale_against`]).
fn apply_exchange_order_tx(
    tx: &Connection,
    current: &OrderRow,
    order: &Order,
    fills: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let stored = Progress {
        status: current.status,
        update_time: current.update_time,
        executed_qty: current.executed_qty,
    };
    let reported = Progress {
        status: order.status,
        update_time: order.update_time,
        executed_qty: order.executed_qty,
    };
    if reported.is_stale_against(&stored) {
        return Ok(());
    }
    tx.prepare_cached(
        "UPDATE orders SET order_id = ?2, status = ?3, executed_qty = ?4,
             cummulative_quote_qty = ?5, fills = COALESCE(?6, fills),
             transact_time = COALESCE(transact_time, ?7),
             update_time = COALESCE(?8, update_time),
             error_code = NULL, error_msg = NULL, updated_at = ?9
         WHERE id = ?1",
    )?
    .execute(params![
        current.id,
        order.exchange_order_id(),
        order.status.as_str(),
        order.executed_qty.to_string(),
        order.cummulative_quote_qty.to_string(),
        fills,
        order.time,
        order.update_time,
        now_ms
    ])?;
    if let Some(f) = &order.futures {
        write_futures_columns_tx(tx, &current.client_order_id, f)?;
    }
    Ok(())
}

/// Inserts `order`, as the exchange reports it, under `client_order_id` (an order found on
/// the exchange and not stored: reconciliation, an execution report of an order placed
/// outside tradebeat). Zero quantities and prices are stored as NULL ("not given").
pub(super) fn insert_exchange_order_tx(
    tx: &Connection,
    market: Market,
    order: &Order,
    client_order_id: &ClientOrderId,
    now_ms: i64,
) -> Result<(), StoreError> {
    let nonzero = |d: Decimal| (!d.is_zero()).then(|| d.to_string());
    tx.prepare_cached(
        "INSERT INTO orders (market, symbol, client_order_id, order_id, side, type,
             time_in_force, quantity, quote_quantity, price, stop_price, status,
             executed_qty, cummulative_quote_qty, transact_time, update_time,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?17)",
    )?
    .execute(params![
        market.as_str(),
        order.symbol.as_str(),
        client_order_id.as_str(),
        order.exchange_order_id(),
        order.side.as_str(),
        order.order_type.as_str(),
        // Binance reports GTC for types that have no time in force.
        order
            .time_in_force
            .filter(|_| order.order_type.needs_time_in_force_on(market))
            .map(|t| t.as_str()),
        nonzero(order.orig_qty),
        nonzero(order.orig_quote_order_qty),
        nonzero(order.price),
        order.stop_price.map(|d| d.to_string()),
        order.status.as_str(),
        order.executed_qty.to_string(),
        order.cummulative_quote_qty.to_string(),
        order.time,
        order.update_time,
        now_ms
    ])?;
    if let Some(f) = &order.futures {
        write_futures_columns_tx(tx, client_order_id, f)?;
    }
    Ok(())
}

/// [`Store::insert_pending_order`]'s transaction.
fn insert_pending_tx(
    tx: &Connection,
    market: Market,
    request: &OrderRequest,
    client_order_id: &ClientOrderId,
    now_ms: i64,
) -> Result<Inserted, StoreError> {
    if let Some(existing) = order_by_client_id_tx(tx, client_order_id.as_str())? {
        return Ok(Inserted::Exists(existing));
    }
    tx.prepare_cached(
        "INSERT INTO orders (market, symbol, client_order_id, side, type, time_in_force,
             quantity, quote_quantity, price, stop_price, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
    )?
    .execute(params![
        market.as_str(),
        request.symbol.as_str(),
        client_order_id.as_str(),
        request.side.as_str(),
        request.order_type.as_str(),
        request.time_in_force.map(|t| t.as_str()),
        request.quantity.map(|d| d.to_string()),
        request.quote_quantity.map(|d| d.to_string()),
        request.price.map(|d| d.to_string()),
        request.stop_price.map(|d| d.to_string()),
        OrderStatus::Pending.as_str(),
        now_ms
    ])?;
    if market != Market::Spot {
        let f = FuturesOrderState {
            position_side: request.position_side,
            reduce_only: request.reduce_only.unwrap_or(false),
            close_position: request.close_position.unwrap_or(false),
            callback_rate: request.callback_rate,
            activation_price: request.activation_price,
            working_type: request.working_type,
            price_protect: request.price_protect.unwrap_or(false),
            ..FuturesOrderState::default()
        };
        write_futures_columns_tx(tx, client_order_id, &f)?;
    }
    let row = order_by_client_id_tx(tx, client_order_id.as_str())?
        .ok_or_else(|| StoreError::Corrupt("inserted order vanished".to_string()))?;
    Ok(Inserted::New(row))
}

/// [`Store::record_exchange_order`]'s transaction: the order brought up to date, or
/// imported; returns what was done with the row as stored, and the row before (`None` when
/// imported).
fn record_exchange_order_tx(
    tx: &Connection,
    market: Market,
    client_order_id: &ClientOrderId,
    order: &Order,
    fills: Option<&str>,
    now_ms: i64,
) -> Result<(Recorded, Option<OrderRow>), StoreError> {
    let (recorded, before): (fn(OrderRow) -> Recorded, _) =
        match order_by_client_id_tx(tx, client_order_id.as_str())? {
            Some(current) => {
                apply_exchange_order_tx(tx, &current, order, fills, now_ms)?;
                (Recorded::Updated, Some(current))
            }
            None => {
                insert_exchange_order_tx(tx, market, order, client_order_id, now_ms)?;
                if let Some(fills) = fills {
                    tx.execute(
                        "UPDATE orders SET fills = ?2 WHERE client_order_id = ?1",
                        params![client_order_id.as_str(), fills],
                    )?;
                }
                (Recorded::Imported, None)
            }
        };
    let row = order_by_client_id_tx(tx, client_order_id.as_str())?
        .ok_or_else(|| StoreError::Corrupt("recorded order vanished".to_string()))?;
    Ok((recorded(row), before))
}

pub(super) fn order_by_client_id_tx(
    conn: &Connection,
    client_order_id: &str,
) -> Result<Option<OrderRow>, StoreError> {
    // Prepared once per connection (SQLite's parse of the wide column list is most of a
    // small statement's cost): every order write reads its row through here.
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {COLUMNS} FROM orders WHERE client_order_id = ?1"));
    conn.prepare_cached(&SQL)?
        .query_row([client_order_id], order_row)
        .optional()?
        .transpose()
}

/// The order of `symbol` with the exchange's order id `order_id`.
pub(super) fn order_by_exchange_id_tx(
    conn: &Connection,
    market: Market,
    symbol: &Symbol,
    order_id: i64,
) -> Result<Option<OrderRow>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {COLUMNS} FROM orders WHERE market = ?1 AND symbol = ?2 AND order_id = ?3")
    });
    conn.prepare_cached(&SQL)?
        .query_row(
            params![market.as_str(), symbol.as_str(), order_id],
            order_row,
        )
        .optional()?
        .transpose()
}

/// Reads an `orders` row; the inner result reports values that do not parse.
fn order_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<OrderRow, StoreError>> {
    let text = |i: usize| r.get::<_, String>(i);
    let opt = |i: usize| r.get::<_, Option<String>>(i);
    let (market, symbol, client, side, kind, tif) =
        (text(1)?, text(2)?, text(3)?, text(5)?, text(6)?, opt(7)?);
    let (qty, quote, price, stop) = (opt(8)?, opt(9)?, opt(10)?, opt(11)?);
    let (status, executed, cumulative, fills) = (text(12)?, text(13)?, text(14)?, opt(15)?);
    let parsed = (|| {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("orders.{what}: {e}"))
        };
        let dec = |what: &str, s: &str| Decimal::from_str(s).map_err(|e| corrupt(what, &e));
        let opt_dec = |what: &str, s: Option<String>| s.map(|s| dec(what, &s)).transpose();
        Ok::<_, StoreError>((
            market
                .parse::<Market>()
                .map_err(|e| corrupt("market", &e))?,
            symbol
                .parse::<Symbol>()
                .map_err(|e| corrupt("symbol", &e))?,
            client
                .parse::<ClientOrderId>()
                .map_err(|e| corrupt("client_order_id", &e))?,
            side.parse::<Side>().map_err(|e| corrupt("side", &e))?,
            kind.parse::<OrderType>().map_err(|e| corrupt("type", &e))?,
            tif.map(|t| t.parse::<TimeInForce>())
                .transpose()
                .map_err(|e| corrupt("time_in_force", &e))?,
            (
                opt_dec("quantity", qty)?,
                opt_dec("quote_quantity", quote)?,
                opt_dec("price", price)?,
                opt_dec("stop_price", stop)?,
            ),
            status
                .parse::<OrderStatus>()
                .map_err(|e| corrupt("status", &e))?,
            dec("executed_qty", &executed)?,
            dec("cummulative_quote_qty", &cumulative)?,
            match fills {
                Some(json) => {
                    serde_json::from_str::<Vec<Fill>>(&json).map_err(|e| corrupt("fills", &e))?
                }
                None => Vec::new(),
            },
        ))
    })();
    Ok(match parsed {
        Ok((
            market,
            symbol,
            client_order_id,
            side,
            order_type,
            time_in_force,
            (quantity, quote_quantity, price, stop_price),
            status,
            executed_qty,
            cummulative_quote_qty,
            fills,
        )) => Ok(OrderRow {
            id: r.get(0)?,
            market,
            symbol,
            client_order_id,
            order_id: r.get(4)?,
            side,
            order_type,
            time_in_force,
            quantity,
            quote_quantity,
            price,
            stop_price,
            status,
            executed_qty,
            cummulative_quote_qty,
            fills,
            error_code: r.get(16)?,
            error_msg: r.get(17)?,
            transact_time: r.get(18)?,
            update_time: r.get(19)?,
            created_at: r.get(20)?,
            updated_at: r.get(21)?,
            futures: None,
        }),
        Err(e) => Err(e),
    }
    .and_then(|mut row| {
        if row.market != Market::Spot {
            row.futures = Some(futures_columns(r)?);
        }
        Ok(row)
    }))
}

/// The futures columns of an `orders` row selected with `COLUMNS` (22 on).
fn futures_columns(r: &rusqlite::Row<'_>) -> Result<FuturesOrderState, StoreError> {
    let corrupt =
        |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("orders.{what}: {e}"));
    let flag = |i: usize| -> Result<bool, StoreError> {
        Ok(r.get::<_, Option<bool>>(i)?.unwrap_or(false))
    };
    let dec = |i: usize, what: &str| -> Result<Option<Decimal>, StoreError> {
        r.get::<_, Option<String>>(i)?
            .map(|s| Decimal::from_str(&s).map_err(|e| corrupt(what, &e)))
            .transpose()
    };
    Ok(FuturesOrderState {
        reduce_only: flag(22)?,
        position_side: r
            .get::<_, Option<String>>(23)?
            .map(|s| s.parse::<PositionSide>())
            .transpose()
            .map_err(|e| corrupt("position_side", &e))?,
        close_position: flag(24)?,
        callback_rate: dec(25, "callback_rate")?,
        activation_price: dec(26, "activation_price")?,
        working_type: r
            .get::<_, Option<String>>(27)?
            .map(|s| s.parse::<WorkingType>())
            .transpose()
            .map_err(|e| corrupt("working_type", &e))?,
        price_protect: flag(28)?,
        algo_id: r.get(29)?,
        triggered_order_id: r.get(30)?,
        avg_price: dec(31, "avg_price")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    use super::super::temp_store as store;

    fn limit_request() -> OrderRequest {
        let mut r = OrderRequest::new("BTCUSDT".parse().unwrap(), Side::Buy, OrderType::Limit);
        r.quantity = Some(d("0.00100000"));
        r.price = Some(d("65000.10"));
        r.time_in_force = Some(TimeInForce::Gtc);
        r
    }

    fn exchange_order(id: &ClientOrderId, status: OrderStatus, update_time: i64) -> Order {
        Order {
            symbol: "BTCUSDT".parse().unwrap(),
            order_id: 42,
            client_order_id: id.to_string(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: Some(TimeInForce::Gtc),
            price: d("65000.10000000"),
            orig_qty: d("0.00100000"),
            orig_quote_order_qty: Decimal::ZERO,
            executed_qty: d("0.00050000"),
            cummulative_quote_qty: d("32.50005000"),
            stop_price: None,
            status,
            time: Some(1_000),
            update_time: Some(update_time),
            fills: vec![Fill {
                price: d("65000.10"),
                qty: d("0.0005"),
                commission: d("0.0000005"),
                commission_asset: "BTC".into(),
                trade_id: 7,
            }],
            futures: None,
        }
    }

    /// The `actions` row of a successful `order.place` from `ctl`.
    fn placed_action() -> ActionRow {
        ActionRow {
            id: 0,
            time: 10,
            source: "ctl".into(),
            uid: None,
            method: "order.place".into(),
            market: Some("spot".into()),
            symbol: Some("BTCUSDT".into()),
            params: "{}".into(),
            ok: true,
            error_code: None,
            error_message: None,
        }
    }

    fn action_count(store: &Store) -> usize {
        let filter = super::super::ActionFilter {
            limit: 10,
            ..Default::default()
        };
        store.actions(&filter).unwrap().len()
    }

    /// Makes every insert into `actions` fail (`refused`), or lets them through again.
    fn refuse_actions(store: &Store, refused: bool) {
        let sql = match refused {
            true => {
                "CREATE TRIGGER refuse BEFORE INSERT ON actions BEGIN SELECT RAISE(ABORT, 'refused'); END;"
            }
            false => "DROP TRIGGER refuse;",
        };
        store.pool.get().unwrap().execute_batch(sql).unwrap();
    }

    #[test]
    fn an_answer_and_its_action_row_commit_together_or_not_at_all() {
        let (_dir, store) = store();
        let id: ClientOrderId = "tb-act".parse().unwrap();
        store
            .insert_pending_order(Market::Spot, &limit_request(), &id, 10)
            .unwrap();
        let action = placed_action();
        let answer = exchange_order(&id, OrderStatus::New, 100);
        // The action row cannot be written: the answer is not written either.
        refuse_actions(&store, true);
        let refused =
            store.record_exchange_order_logged(Market::Spot, &id, &answer, 20, Some(&action));
        assert!(refused.is_err(), "{refused:?}");
        let row = store.order_by_client_id(&id).unwrap().unwrap();
        assert_eq!(row.status, OrderStatus::Pending, "the answer rolled back");
        assert_eq!(action_count(&store), 0);
        // Once it can: both.
        refuse_actions(&store, false);
        let recorded = store
            .record_exchange_order_logged(Market::Spot, &id, &answer, 20, Some(&action))
            .unwrap()
            .into_row();
        assert_eq!(recorded.status, OrderStatus::New);
        assert_eq!(recorded.order_id, Some(42));
        assert_eq!(action_count(&store), 1);
    }

    #[test]
    fn a_local_placement_writes_its_intent_answer_and_action_row_together_or_not_at_all() {
        let (_dir, store) = store();
        let id: ClientOrderId = "tb-local".parse().unwrap();
        let action = placed_action();
        let answer = exchange_order(&id, OrderStatus::New, 100);
        let request = limit_request();
        let place = |store: &Store| {
            store.record_local_placement(
                Market::Spot,
                Some(&request),
                &id,
                10,
                &[],
                &answer,
                Some(&action),
            )
        };
        refuse_actions(&store, true);
        assert!(place(&store).is_err());
        assert_eq!(
            store.order_by_client_id(&id).unwrap(),
            None,
            "no intent left"
        );
        refuse_actions(&store, false);
        let LocalPlacement::Placed(row) = place(&store).unwrap() else {
            panic!("not placed");
        };
        assert_eq!(
            (row.status, row.order_id, row.created_at),
            (OrderStatus::New, Some(42), 10)
        );
        assert_eq!(action_count(&store), 1);
        // The same client order id again: nothing written.
        assert_eq!(place(&store).unwrap(), LocalPlacement::Exists(row));
        assert_eq!(action_count(&store), 1);
    }

    #[test]
    fn open_orders_are_found_through_the_status_index_not_a_scan() {
        let (_dir, store) = store();
        let open: ClientOrderId = "tb-open".parse().unwrap();
        let done: ClientOrderId = "tb-done".parse().unwrap();
        for id in [&open, &done] {
            store
                .insert_pending_order(Market::Spot, &limit_request(), id, 10)
                .unwrap();
        }
        store
            .record_exchange_order(
                Market::Spot,
                &done,
                &exchange_order(&done, OrderStatus::Filled, 100),
                20,
            )
            .unwrap();
        let ids = |rows: Vec<OrderRow>| -> Vec<ClientOrderId> {
            rows.into_iter().map(|r| r.client_order_id).collect()
        };
        assert_eq!(ids(store.orders_not_final().unwrap()), vec![open.clone()]);
        assert_eq!(
            ids(store.orders_not_final_in(Market::Spot).unwrap()),
            vec![open.clone()]
        );
        let filter = OrderFilter {
            open: true,
            limit: 10,
            ..OrderFilter::default()
        };
        assert_eq!(ids(store.orders(&filter).unwrap()), vec![open]);
        for sql in [not_final_sql(), not_final_in_sql()] {
            let plan = super::super::query_plan(&store, &sql);
            assert!(
                plan.iter().any(|step| step.contains("INDEX orders_status")),
                "{sql}: {plan:?}"
            );
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN orders")),
                "{sql}: {plan:?}"
            );
        }
    }

    #[test]
    fn pending_then_answered_with_exact_decimals() {
        let (_dir, store) = store();
        let id: ClientOrderId = "tb-abc".parse().unwrap();
        let Inserted::New(row) = store
            .insert_pending_order(Market::Spot, &limit_request(), &id, 10)
            .unwrap()
        else {
            panic!("expected a new row");
        };
        assert_eq!(row.status, OrderStatus::Pending);
        assert_eq!(row.order_id, None);
        assert_eq!(
            row.quantity.unwrap().to_string(),
            "0.00100000",
            "scale kept"
        );
        assert_eq!((row.created_at, row.updated_at), (10, 10));
        // The same client order id again: nothing written, the stored row returned.
        let again = store
            .insert_pending_order(Market::Spot, &limit_request(), &id, 11)
            .unwrap();
        assert_eq!(again, Inserted::Exists(row.clone()));

        let answered = store
            .apply_exchange_order(
                &id,
                &exchange_order(&id, OrderStatus::PartiallyFilled, 100),
                12,
            )
            .unwrap()
            .unwrap();
        assert_eq!(answered.status, OrderStatus::PartiallyFilled);
        assert_eq!(answered.order_id, Some(42));
        assert_eq!(answered.cummulative_quote_qty.to_string(), "32.50005000");
        assert_eq!(answered.fills.len(), 1);
        assert_eq!(answered.fills[0].commission, d("0.0000005"));
        assert_eq!(
            store
                .order_by_exchange_id(Market::Spot, &row.symbol, 42)
                .unwrap(),
            Some(answered.clone())
        );
    }

    #[test]
    fn updates_never_move_an_order_backwards() {
        let (_dir, store) = store();
        let id: ClientOrderId = "tb-x".parse().unwrap();
        store
            .insert_pending_order(Market::Spot, &limit_request(), &id, 1)
            .unwrap();
        store
            .apply_exchange_order(&id, &exchange_order(&id, OrderStatus::Canceled, 200), 2)
            .unwrap();
        // A slow query answered before the cancel: ignored.
        let row = store
            .apply_exchange_order(&id, &exchange_order(&id, OrderStatus::New, 100), 3)
            .unwrap()
            .unwrap();
        assert_eq!(row.status, OrderStatus::Canceled);
        assert_eq!(row.updated_at, 2);
        // A local verdict never overwrites the exchange's word.
        let row = store
            .set_order_outcome(&id, OrderStatus::NotPlaced, None, Some("x"), 4)
            .unwrap()
            .unwrap();
        assert_eq!(row.status, OrderStatus::Canceled);
        assert_eq!(row.error_msg, None);
    }

    #[test]
    fn local_outcomes_and_listing() {
        let (_dir, store) = store();
        let ids: Vec<ClientOrderId> = (0..4).map(|i| format!("tb-{i}").parse().unwrap()).collect();
        for (i, id) in ids.iter().enumerate() {
            store
                .insert_pending_order(Market::Spot, &limit_request(), id, i as i64)
                .unwrap();
        }
        store
            .set_order_outcome(
                &ids[0],
                OrderStatus::Rejected,
                Some(-2010),
                Some("Account has insufficient balance for requested action."),
                9,
            )
            .unwrap();
        store
            .set_order_outcome(&ids[1], OrderStatus::Unknown, None, Some("timed out"), 9)
            .unwrap();
        let row = store
            .set_order_outcome(
                &ids[1],
                OrderStatus::NotPlaced,
                Some(-2013),
                Some("Order does not exist."),
                10,
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            (row.status, row.error_code),
            (OrderStatus::NotPlaced, Some(-2013))
        );
        store
            .apply_exchange_order(&ids[2], &exchange_order(&ids[2], OrderStatus::New, 5), 11)
            .unwrap();

        let all = store
            .orders(&OrderFilter {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            all.iter()
                .map(|r| r.client_order_id.as_str())
                .collect::<Vec<_>>(),
            ["tb-3", "tb-2", "tb-1", "tb-0"]
        );
        let open = store
            .orders(&OrderFilter {
                open: true,
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            open.iter()
                .map(|r| r.client_order_id.as_str())
                .collect::<Vec<_>>(),
            ["tb-3", "tb-2"]
        );
        let eth = store
            .orders(&OrderFilter {
                symbol: Some("ETHUSDT".parse().unwrap()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert!(eth.is_empty());
        assert_eq!(
            store
                .orders(&OrderFilter {
                    limit: 1,
                    ..Default::default()
                })
                .unwrap()
                .len(),
            1
        );
        let not_final = store.orders_not_final().unwrap();
        assert_eq!(
            not_final
                .iter()
                .map(|r| r.client_order_id.as_str())
                .collect::<Vec<_>>(),
            ["tb-2", "tb-3"]
        );
    }

    #[test]
    fn imports_keep_the_exchanges_values() {
        let (_dir, store) = store();
        let id: ClientOrderId = "tb-imported".parse().unwrap();
        let order = exchange_order(&id, OrderStatus::New, 5);
        let Inserted::New(row) = store.import_order(Market::Spot, &order, 7).unwrap() else {
            panic!("expected a new row");
        };
        assert_eq!((row.order_id, row.status), (Some(42), OrderStatus::New));
        assert_eq!(row.price, Some(d("65000.1")));
        assert_eq!(row.quote_quantity, None, "zero is none");
        assert!(matches!(
            store.import_order(Market::Spot, &order, 8).unwrap(),
            Inserted::Exists(_)
        ));
        let mut odd = order.clone();
        odd.client_order_id = "not valid!".into();
        assert!(store.import_order(Market::Spot, &odd, 9).is_err());
    }

    #[test]
    fn recording_imports_then_updates_and_never_goes_backwards() {
        let (_dir, store) = store();
        let id: ClientOrderId = "tb-recorded".parse().unwrap();
        // Not stored: written as the exchange reports it, fills included.
        let partial = exchange_order(&id, OrderStatus::PartiallyFilled, 100);
        let Recorded::Imported(row) = store
            .record_exchange_order(Market::Spot, &id, &partial, 7)
            .unwrap()
        else {
            panic!("expected an import");
        };
        assert_eq!(
            (row.order_id, row.status, row.created_at),
            (Some(42), OrderStatus::PartiallyFilled, 7)
        );
        assert_eq!(row.fills, partial.fills);
        // Stored: brought up to date.
        let mut filled = exchange_order(&id, OrderStatus::Filled, 200);
        filled.executed_qty = d("0.001");
        let Recorded::Updated(row) = store
            .record_exchange_order(Market::Spot, &id, &filled, 8)
            .unwrap()
        else {
            panic!("expected an update");
        };
        assert_eq!(
            (row.status, row.executed_qty, row.updated_at),
            (OrderStatus::Filled, d("0.001"), 8)
        );
        // An older answer (a slow query) changes nothing.
        let stale = exchange_order(&id, OrderStatus::New, 150);
        assert_eq!(
            store
                .record_exchange_order(Market::Spot, &id, &stale, 9)
                .unwrap(),
            Recorded::Updated(row.clone())
        );
        assert_eq!(store.order_by_client_id(&id).unwrap(), Some(row));
    }

    /// The exchange's clock stepped back between an order's placement and its fill: the
    /// fill's report carries an older update time than the stored NEW, and still moves the
    /// row on (before, every report of the fill was refused as older and the row stayed
    /// NEW for good). An older report that does not move the order on stays ignored.
    #[test]
    fn a_fill_stamped_before_the_stored_new_still_moves_the_order_on() {
        let (_dir, store) = store();
        let id: ClientOrderId = "tb-step".parse().unwrap();
        store
            .insert_pending_order(Market::Spot, &limit_request(), &id, 1)
            .unwrap();
        let mut new = exchange_order(&id, OrderStatus::New, 47_484);
        new.executed_qty = Decimal::ZERO;
        new.fills.clear();
        store
            .record_exchange_order(Market::Spot, &id, &new, 2)
            .unwrap();
        let mut older_new = new.clone();
        older_new.update_time = Some(47_000);
        let Recorded::Updated(row) = store
            .record_exchange_order(Market::Spot, &id, &older_new, 3)
            .unwrap()
        else {
            panic!("expected the stored row");
        };
        assert_eq!(
            (row.status, row.update_time, row.updated_at),
            (OrderStatus::New, Some(47_484), 2),
            "an older report that moves nothing on changes nothing"
        );
        let mut filled = exchange_order(&id, OrderStatus::Filled, 44_991);
        filled.executed_qty = d("0.001");
        let Recorded::Updated(row) = store
            .record_exchange_order(Market::Spot, &id, &filled, 4)
            .unwrap()
        else {
            panic!("expected an update");
        };
        assert_eq!(
            (row.status, row.executed_qty, row.update_time),
            (OrderStatus::Filled, d("0.001"), Some(44_991))
        );
    }

    #[test]
    fn an_older_database_gains_the_orders_table_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let store = Store::open(&path).unwrap();
            store
                .conn()
                .unwrap()
                .execute("DROP TABLE orders", [])
                .unwrap();
            // Back to version 2, before the orders section (and the user-data tables
            // and the klines' proof of close after it).
            store
                .conn()
                .unwrap()
                .execute_batch(
                    "DROP TABLE executions; DROP TABLE balances; DROP TABLE balance_changes;
                     DROP TABLE list_statuses; DROP TABLE user_events;
                     DROP TABLE trade_checkpoints;
                     ALTER TABLE klines DROP COLUMN closed_before;
                     DROP TABLE mark_prices; DROP TABLE funding_rates; DROP TABLE open_interest;
                     DROP TABLE trading_mode; DROP TABLE actions; DROP TABLE watchlist;
                     DROP TABLE strategy_runs; DROP TABLE trade_strategies;
                     DROP TABLE strategies; DROP TABLE open_interest_gaps;
                     DROP TABLE positions; DROP TABLE contract_specs;",
                )
                .unwrap();
            store
                .conn()
                .unwrap()
                .pragma_update(None, "user_version", 2)
                .unwrap();
            store
                .conn()
                .unwrap()
                .execute(
                    "INSERT INTO symbols (market, symbol, base_asset, quote_asset, status, added_at, updated_at)
                     VALUES ('spot', 'BTCUSDT', 'BTC', 'USDT', 'TRADING', 1, 1)",
                    [],
                )
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            Store::latest_schema_version()
        );
        assert_eq!(store.symbols(Market::Spot, true).unwrap().len(), 1);
        let id: ClientOrderId = "tb-after-upgrade".parse().unwrap();
        assert!(matches!(
            store
                .insert_pending_order(Market::Spot, &limit_request(), &id, 1)
                .unwrap(),
            Inserted::New(_)
        ));
    }

    #[test]
    fn a_corrupt_decimal_is_an_error_not_a_panic() {
        let (_dir, store) = store();
        let id: ClientOrderId = "tb-c".parse().unwrap();
        store
            .insert_pending_order(Market::Spot, &limit_request(), &id, 1)
            .unwrap();
        store
            .conn()
            .unwrap()
            .execute("UPDATE orders SET price = 'abc'", [])
            .unwrap();
        let err = store.order_by_client_id(&id).unwrap_err();
        assert!(err.to_string().contains("orders.price"), "{err}");
    }
}
