//! What the futures user-data events (USDⓈ-M, COIN-M) write, inside the batch transaction
//! of [`Store::apply_user_data`](super::Store::apply_user_data). Every write is idempotent,
//! as on spot: a replayed event changes nothing.
//!
//! - `ORDER_TRADE_UPDATE`: an `executions` row (unique per (market, symbol, `event_key`):
//!   `trade:<t>` for a fill, the key REST `userTrades` gives it too), with the realized
//!   profit `rp`, the commission `n`/`N` and the position side; and the order's row moved
//!   forward by the one staleness rule (`Progress::is_stale_against`): status, executed
//!   quantity, average price, update time, the order id. An order not stored (placed
//!   outside tradebeat, a liquidation) is imported. The liquidation-only statuses
//!   `NEW_INSURANCE` and `NEW_ADL` leave the order row as it is (the execution is kept).
//!   A triggered USDⓈ-M conditional order reports under its client algo id: the order it
//!   became fills the row's `order_id` and `triggered_order_id`.
//! - `ALGO_UPDATE`: the conditional order's row, found by its client algo id or algo id:
//!   the algo id, the id of the order it became (`ai`), and its status while it is the
//!   algo order's own (`NEW`, `CANCELED`, `EXPIRED`, `REJECTED`; once triggered the
//!   order it became reports the fills and the final status). An algo order not stored is
//!   imported while it is open.
//! - `ACCOUNT_UPDATE`: `balances` of the market (`free` = wallet balance `wb`, `locked` =
//!   0, newer-or-equal `T` only), a `balance_changes` row per asset (delta `bc`), and the
//!   `positions` rows (newer-or-equal `T` only; leverage and margin type kept when not
//!   reported).
//! - `MARGIN_CALL`, `TRADE_LITE`: kept raw in `user_events` (the stream logs a margin call
//!   as a warning).

use std::str::FromStr;

use rusqlite::{OptionalExtension, Transaction, params};
use rust_decimal::Decimal;

use super::StoreError;
use super::orders::{Progress, insert_exchange_order_tx};
use super::positions::upsert_positions_tx;
use super::user_data::{ApplyReport, insert_balance_change_tx, keep_raw, upsert_balance_tx};
use crate::domain::{
    AccountUpdate, AlgoUpdate, ClientOrderId, FuturesEvent, FuturesOrderState, MarginType, Market,
    Order, OrderStatus, OrderTradeUpdate, OrderType, Position, PositionSide, TimeInForce,
    WorkingType,
};

/// Applies one futures event (module docs).
pub(super) fn apply(
    tx: &Transaction<'_>,
    market: Market,
    event: &FuturesEvent,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    match event {
        FuturesEvent::OrderTradeUpdate(u) => order_trade_update(tx, market, u, received_at, report),
        FuturesEvent::AlgoUpdate(a) => algo_update(tx, market, a, received_at, report),
        FuturesEvent::AccountUpdate(a) => account_update(tx, market, a, received_at, report),
        FuturesEvent::MarginCall(_) | FuturesEvent::TradeLite(_) => match event.raw() {
            Some(raw) => keep_raw(
                tx,
                market,
                (event.event_type(), Some(event.event_time()), raw, None),
                received_at,
                report,
            ),
            None => Ok(()),
        },
        FuturesEvent::ListenKeyExpired { .. } => Ok(()),
    }
}

fn order_trade_update(
    tx: &Transaction<'_>,
    market: Market,
    u: &OrderTradeUpdate,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    let key = u.event_key();
    let dec = |d: Decimal| d.to_string();
    let (last_qty, last_price, cumulative_qty, realized_pnl) = (
        dec(u.last_qty),
        dec(u.last_price),
        dec(u.cumulative_qty),
        dec(u.realized_pnl),
    );
    let commission = u.commission.map(dec);
    let last_quote_qty = u.trade().map(|_| dec(u.last_qty * u.last_price));
    let execution_type = u.execution_type.as_str();
    let order_status = u.order_status.as_str();
    let trade_id = u.trade();
    // ?1..?21: the row's identity and fields, shared by the insert and the upgrade.
    let fields: [&dyn rusqlite::ToSql; 21] = [
        &market.as_str(),
        &u.symbol.as_str(),
        &key,
        &u.order_id,
        &u.client_order_id,
        &u.side.as_str(),
        &u.order_type,
        &execution_type,
        &order_status,
        &last_qty,
        &last_price,
        &last_quote_qty,
        &cumulative_qty,
        &commission,
        &u.commission_asset,
        &trade_id,
        &u.is_maker,
        &u.event_time,
        &u.trade_time,
        &u.raw,
        &realized_pnl,
    ];
    let mut insert_params = fields.to_vec();
    insert_params.push(&u.position_side);
    insert_params.push(&received_at);
    let inserted = tx
        .prepare_cached(
            "INSERT INTO executions (market, symbol, event_key, source, order_id, client_order_id,
                 side, order_type, execution_type, order_status, last_qty, last_price,
                 last_quote_qty, cumulative_qty, commission, commission_asset, trade_id,
                 is_maker, event_time, transaction_time, raw, realized_pnl, position_side,
                 received_at)
             VALUES (?1, ?2, ?3, 'stream', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                     ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)
             ON CONFLICT (market, symbol, event_key) DO NOTHING",
        )?
        .execute(&*insert_params)?;
    if inserted == 1 {
        report.executions_new += 1;
    } else {
        // Already stored: from REST `userTrades` (upgrade it to the stream's fields) or a
        // replay (nothing to do: it was applied to the order when it was stored).
        let mut upgrade_params = fields.to_vec();
        upgrade_params.push(&u.position_side);
        let upgraded = tx
            .prepare_cached(
                "UPDATE executions SET source = 'stream', order_id = ?4, client_order_id = ?5,
                     side = ?6, order_type = ?7, execution_type = ?8, order_status = ?9,
                     last_qty = ?10, last_price = ?11, last_quote_qty = ?12,
                     cumulative_qty = ?13, commission = ?14, commission_asset = ?15,
                     trade_id = ?16, is_maker = ?17, event_time = ?18, transaction_time = ?19,
                     raw = ?20, realized_pnl = ?21, position_side = ?22
                 WHERE market = ?1 AND symbol = ?2 AND event_key = ?3 AND source = 'rest'",
            )?
            .execute(&*upgrade_params)?;
        if upgraded == 0 {
            report.executions_duplicate += 1;
            return Ok(());
        }
        report.executions_upgraded += 1;
    }
    order_from_update(tx, market, u, received_at, report)
}

/// The stored order an event names: by client order id (when valid), else by the first of
/// the `fallbacks` (`(conditions, params)`: each condition tried in turn with the same
/// params, every one of them served by an index) that finds a row. Returns (row id, market,
/// symbol, order id, algo id, progress).
type Found = (i64, String, String, Option<i64>, Option<i64>, Progress);

fn find(
    tx: &Transaction<'_>,
    client_order_id: Option<&ClientOrderId>,
    fallbacks: (&[&str], &[&dyn rusqlite::ToSql]),
) -> Result<Option<Found>, StoreError> {
    const SELECT: &str = "SELECT id, market, symbol, order_id, algo_id, status, executed_qty,
         update_time FROM orders";
    let row = |r: &rusqlite::Row<'_>| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, Option<i64>>(7)?,
        ))
    };
    let mut found = match client_order_id {
        Some(c) => tx
            .prepare_cached(&format!("{SELECT} WHERE client_order_id = ?1"))?
            .query_row([c.as_str()], row)
            .optional()?,
        None => None,
    };
    for condition in fallbacks.0 {
        if found.is_some() {
            break;
        }
        found = tx
            .prepare_cached(&format!("{SELECT} WHERE {condition}"))?
            .query_row(fallbacks.1, row)
            .optional()?;
    }
    let Some((id, market, symbol, order_id, algo_id, status, executed, update_time)) = found else {
        return Ok(None);
    };
    let progress = Progress {
        status: status
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("orders.status: {e}")))?,
        update_time,
        executed_qty: Decimal::from_str(&executed)
            .map_err(|e| StoreError::Corrupt(format!("orders.executed_qty: {e}")))?,
    };
    Ok(Some((id, market, symbol, order_id, algo_id, progress)))
}

/// An order row by its exchange id (index `orders_exchange_id`).
const BY_ORDER_ID: &str = "market = ?1 AND symbol = ?2 AND order_id = ?3";
/// A conditional order's row by the id of the order it became (index `orders_triggered`).
const BY_TRIGGERED_ORDER_ID: &str = "market = ?1 AND symbol = ?2 AND triggered_order_id = ?3";

fn order_from_update(
    tx: &Transaction<'_>,
    market: Market,
    u: &OrderTradeUpdate,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    let what = || format!("{} order {} ({})", u.symbol, u.order_id, u.execution_type);
    let Some(status) = u.order_status.order_status() else {
        report.unattached.push(format!(
            "{}: status {} is a liquidation's, not an order row's: the execution is kept",
            what(),
            u.order_status.as_str()
        ));
        return Ok(());
    };
    let cid = ClientOrderId::from_str(&u.client_order_id).ok();
    let found = find(
        tx,
        cid.as_ref(),
        // Two lookups rather than one `OR`, which SQLite would answer by scanning every
        // order of the symbol: each is served by its own index.
        (
            &[BY_ORDER_ID, BY_TRIGGERED_ORDER_ID],
            params![market.as_str(), u.symbol.as_str(), u.order_id],
        ),
    )?;
    let avg_price = (!u.average_price.is_zero()).then(|| u.average_price.to_string());
    let Some((id, row_market, row_symbol, order_id, algo_id, stored)) = found else {
        return import_order(tx, market, u, status, cid.as_ref(), received_at, report);
    };
    let same_order = row_market == market.as_str()
        && row_symbol == u.symbol.as_str()
        && order_id.is_none_or(|id| id == u.order_id);
    if !same_order {
        report.unattached.push(format!(
            "{}: client order id {:?} is stored for another order ({row_market} {row_symbol} order id {})",
            what(),
            u.client_order_id,
            order_id.map_or_else(|| "none".to_string(), |id| id.to_string()),
        ));
        return Ok(());
    }
    let reported = Progress {
        status,
        update_time: Some(u.trade_time),
        executed_qty: u.cumulative_qty,
    };
    if reported.is_stale_against(&stored) {
        return Ok(());
    }
    let cumulative_quote = (u.cumulative_qty * u.average_price).to_string();
    // An algo order's row: the order it became is the one reporting here.
    let triggered = algo_id.map(|_| u.order_id);
    tx.prepare_cached(
        "UPDATE orders SET order_id = ?2, status = ?3, executed_qty = ?4,
             cummulative_quote_qty = ?5, transact_time = COALESCE(transact_time, ?6),
             update_time = ?6, avg_price = COALESCE(?7, avg_price),
             triggered_order_id = COALESCE(?8, triggered_order_id), error_code = NULL,
             error_msg = NULL, updated_at = ?9
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        u.order_id,
        status.as_str(),
        u.cumulative_qty.to_string(),
        cumulative_quote,
        u.trade_time,
        avg_price,
        triggered,
        received_at
    ])?;
    report.orders_updated += 1;
    Ok(())
}

/// The futures fields an update reports.
fn futures_state(u: &OrderTradeUpdate) -> FuturesOrderState {
    FuturesOrderState {
        position_side: PositionSide::from_str(&u.position_side).ok(),
        reduce_only: u.reduce_only,
        close_position: u.close_position,
        callback_rate: u.callback_rate,
        activation_price: u.activation_price,
        working_type: WorkingType::from_str(&u.working_type).ok(),
        price_protect: u.price_protect,
        avg_price: (!u.average_price.is_zero()).then_some(u.average_price),
        algo_id: None,
        triggered_order_id: None,
    }
}

/// Inserts an order placed outside tradebeat (or a liquidation) from its update.
fn import_order(
    tx: &Transaction<'_>,
    market: Market,
    u: &OrderTradeUpdate,
    status: OrderStatus,
    cid: Option<&ClientOrderId>,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    let what = || format!("{} order {} ({})", u.symbol, u.order_id, u.execution_type);
    let Some(cid) = cid else {
        report.unattached.push(format!(
            "{}: client order id {:?} is empty or outside ^[a-zA-Z0-9-_]{{1,36}}$ and no order with this id is stored",
            what(),
            u.client_order_id
        ));
        return Ok(());
    };
    let Ok(order_type) = OrderType::from_str(&u.order_type) else {
        report.unattached.push(format!(
            "{}: order type {} is not one tradebeat stores",
            what(),
            u.order_type
        ));
        return Ok(());
    };
    let order = Order {
        symbol: u.symbol.clone(),
        order_id: u.order_id,
        client_order_id: cid.to_string(),
        side: u.side,
        order_type,
        time_in_force: TimeInForce::from_str(&u.time_in_force).ok(),
        price: u.price,
        orig_qty: u.quantity,
        orig_quote_order_qty: Decimal::ZERO,
        executed_qty: u.cumulative_qty,
        cummulative_quote_qty: u.cumulative_qty * u.average_price,
        stop_price: u.stop_price.filter(|d| !d.is_zero()),
        status,
        time: Some(u.trade_time),
        update_time: Some(u.trade_time),
        fills: Vec::new(),
        futures: Some(futures_state(u)),
    };
    insert_exchange_order_tx(tx, market, &order, cid, received_at)?;
    report.orders_inserted += 1;
    Ok(())
}

/// The order status an algo status sets on the row; `None` once triggered (the order it
/// became reports then).
fn algo_row_status(algo_status: &str) -> Option<OrderStatus> {
    match algo_status {
        "NEW" => Some(OrderStatus::New),
        "CANCELED" => Some(OrderStatus::Canceled),
        "EXPIRED" => Some(OrderStatus::Expired),
        "REJECTED" => Some(OrderStatus::Rejected),
        _ => None,
    }
}

fn algo_update(
    tx: &Transaction<'_>,
    market: Market,
    a: &AlgoUpdate,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    let cid = ClientOrderId::from_str(&a.client_algo_id).ok();
    let found = find(
        tx,
        cid.as_ref(),
        (
            &["market = ?1 AND algo_id = ?2"],
            params![market.as_str(), a.algo_id],
        ),
    )?;
    let Some((id, row_market, row_symbol, _, algo_id, stored)) = found else {
        return import_algo_order(tx, market, a, cid.as_ref(), received_at, report);
    };
    if row_market != market.as_str()
        || row_symbol != a.symbol.as_str()
        || algo_id.is_some_and(|id| id != a.algo_id)
    {
        report.unattached.push(format!(
            "{} algo order {} ({}): client algo id {:?} is stored for another order",
            a.symbol, a.algo_id, a.algo_status, a.client_algo_id
        ));
        return Ok(());
    }
    // The ids are facts whatever the order's progress: write them first.
    tx.prepare_cached(
        "UPDATE orders SET algo_id = ?2, triggered_order_id = COALESCE(?3, triggered_order_id),
             order_id = COALESCE(order_id, ?3), updated_at = ?4
         WHERE id = ?1",
    )?
    .execute(params![id, a.algo_id, a.actual_order_id, received_at])?;
    let Some(status) = algo_row_status(&a.algo_status) else {
        report.orders_updated += 1;
        return Ok(());
    };
    let reported = Progress {
        status,
        update_time: Some(a.transaction_time),
        executed_qty: stored.executed_qty,
    };
    if !reported.is_stale_against(&stored) {
        let error_msg = (status == OrderStatus::Rejected).then(|| {
            format!(
                "rejected: {}",
                a.reason.as_deref().unwrap_or("no reason given")
            )
        });
        tx.prepare_cached(
            "UPDATE orders SET status = ?2, update_time = ?3, error_code = NULL,
                 error_msg = ?4, updated_at = ?5
             WHERE id = ?1",
        )?
        .execute(params![
            id,
            status.as_str(),
            a.transaction_time,
            error_msg,
            received_at
        ])?;
    }
    report.orders_updated += 1;
    Ok(())
}

/// Inserts a conditional order placed outside tradebeat from its update, while it is open.
fn import_algo_order(
    tx: &Transaction<'_>,
    market: Market,
    a: &AlgoUpdate,
    cid: Option<&ClientOrderId>,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    let what = || format!("{} algo order {} ({})", a.symbol, a.algo_id, a.algo_status);
    let (Some(cid), Some(OrderStatus::New), Ok(order_type)) = (
        cid,
        algo_row_status(&a.algo_status),
        OrderType::from_str(&a.order_type),
    ) else {
        report.unattached.push(format!(
            "{}: not stored, and not an open conditional order with a valid client algo id: not imported",
            what()
        ));
        return Ok(());
    };
    let order = Order {
        symbol: a.symbol.clone(),
        // No order on the matching engine yet: `exchange_order_id` stores none.
        order_id: 0,
        client_order_id: cid.to_string(),
        side: a.side,
        order_type,
        time_in_force: TimeInForce::from_str(&a.time_in_force).ok(),
        price: a.price.unwrap_or_default(),
        orig_qty: a.quantity,
        orig_quote_order_qty: Decimal::ZERO,
        executed_qty: Decimal::ZERO,
        cummulative_quote_qty: Decimal::ZERO,
        stop_price: a.trigger_price.filter(|d| !d.is_zero()),
        status: OrderStatus::New,
        time: Some(a.transaction_time),
        update_time: Some(a.transaction_time),
        fills: Vec::new(),
        futures: Some(FuturesOrderState {
            position_side: PositionSide::from_str(&a.position_side).ok(),
            reduce_only: a.reduce_only,
            close_position: a.close_position,
            working_type: a
                .working_type
                .as_deref()
                .and_then(|w| WorkingType::from_str(w).ok()),
            price_protect: a.price_protect,
            algo_id: Some(a.algo_id),
            ..FuturesOrderState::default()
        }),
    };
    // With an algo id and no triggered order, no order id is stored.
    insert_exchange_order_tx(tx, market, &order, cid, received_at)?;
    report.orders_inserted += 1;
    Ok(())
}

fn account_update(
    tx: &Transaction<'_>,
    market: Market,
    a: &AccountUpdate,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    for b in &a.balances {
        report.balances_updated += upsert_balance_tx(
            tx,
            market,
            &b.asset,
            b.wallet_balance,
            Decimal::ZERO,
            a.transaction_time,
            "stream",
            received_at,
        )?;
        report.balance_changes_new += insert_balance_change_tx(
            tx,
            market,
            &b.asset,
            crate::domain::ACCOUNT_UPDATE,
            a.event_time,
            a.transaction_time,
            (
                Some(b.wallet_balance),
                Some(Decimal::ZERO),
                Some(b.balance_change),
            ),
            received_at,
        )?;
    }
    let mut positions = Vec::with_capacity(a.positions.len());
    for p in &a.positions {
        positions.push(Position {
            market,
            symbol: p.symbol.clone(),
            position_side: PositionSide::from_str(&p.position_side)
                .map_err(|e| StoreError::Corrupt(format!("a.P[].ps: {e}")))?,
            quantity: p.amount,
            entry_price: p.entry_price,
            break_even_price: p.break_even_price,
            unrealized_pnl: p.unrealized_pnl,
            leverage: None,
            margin_type: MarginType::from_reported(&p.margin_type).ok(),
            isolated_wallet: Some(p.isolated_wallet),
            updated_at: a.transaction_time,
        });
    }
    report.positions_updated += upsert_positions_tx(tx, &positions)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{BY_ORDER_ID, BY_TRIGGERED_ORDER_ID};
    use crate::domain::{Market, UserDataEvent};
    use crate::exchange::futures::parse_futures_frame;
    use crate::store::Store;
    use rusqlite::params;
    use serde_json::Value;

    use super::super::temp_store as store;

    /// A recorded payload (`tests/data/futures_user_data/<name>`), the event object only.
    fn recorded(name: &str) -> Value {
        let path = format!(
            "{}/tests/data/futures_user_data/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v.get("data").cloned().unwrap_or(v)
    }

    fn event(v: &Value) -> UserDataEvent {
        parse_futures_frame(&v.to_string()).unwrap()
    }

    fn one<T: rusqlite::types::FromSql>(store: &Store, sql: &str) -> T {
        store
            .conn()
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn an_update_finds_its_order_by_an_index_never_by_scanning_the_symbols_orders() {
        let (_dir, store) = store();
        for (condition, index) in [
            (BY_ORDER_ID, "orders_exchange_id"),
            (BY_TRIGGERED_ORDER_ID, "orders_triggered"),
        ] {
            let sql = format!("SELECT id, status FROM orders WHERE {condition}");
            let plan = super::super::query_plan(&store, &sql).join("; ");
            assert!(
                plan.contains(&format!("USING INDEX {index}")) && plan.contains("order_id=?"),
                "{condition}: {plan}"
            );
        }
    }

    #[test]
    fn a_fill_is_one_execution_with_pnl_and_commission_and_imports_its_order_once() {
        let (_dir, store) = store();
        let fill = event(&recorded("order_update_trade.json"));
        let report = store
            .apply_user_data(Market::UsdM, std::slice::from_ref(&fill), 10)
            .unwrap();
        assert_eq!((report.executions_new, report.orders_inserted), (1, 1));
        let row: (String, String, String, String, String, String, String, i64) = store
            .conn()
            .unwrap()
            .query_row(
                "SELECT market, event_key, realized_pnl, commission, commission_asset,
                        position_side, last_qty, trade_id FROM executions",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            row,
            (
                "usdm".into(),
                "trade:12345678".into(),
                "12.34".into(),
                "0.01000000".into(),
                "USDT".into(),
                "LONG".into(),
                "0.001".into(),
                12_345_678
            )
        );
        let order: (String, String, i64, String, String) = store
            .conn()
            .unwrap()
            .query_row(
                "SELECT market, status, order_id, executed_qty, position_side FROM orders
                 WHERE client_order_id = 'TEST'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(
            order,
            (
                "usdm".into(),
                "PARTIALLY_FILLED".into(),
                8_886_774,
                "0.001".into(),
                "LONG".into()
            )
        );
        // The same event again (a replay after a reconnect): nothing new.
        let again = store.apply_user_data(Market::UsdM, &[fill], 20).unwrap();
        assert_eq!(
            (
                again.executions_new,
                again.executions_duplicate,
                again.orders_inserted
            ),
            (0, 1, 0)
        );
        assert_eq!(one::<i64>(&store, "SELECT COUNT(*) FROM executions"), 1);
        assert_eq!(one::<i64>(&store, "SELECT COUNT(*) FROM orders"), 1);
    }

    #[test]
    fn a_malformed_event_is_kept_raw_and_the_rest_of_its_batch_applied() {
        let (_dir, store) = store();
        let mut bad = recorded("order_update_trade_partial.json");
        bad["o"]["rp"] = Value::String("twelve".into());
        let batch = [
            event(&recorded("order_update_new.json")),
            event(&bad),
            event(&recorded("account_update.json")),
        ];
        assert!(matches!(batch[1], UserDataEvent::Invalid { .. }));
        let report = store.apply_user_data(Market::UsdM, &batch, 10).unwrap();
        assert_eq!(report.kept_raw, 1);
        assert_eq!(report.executions_new, 1);
        assert_eq!(report.positions_updated, 3);
        let (kind, error): (String, String) = store
            .conn()
            .unwrap()
            .query_row("SELECT event_type, error FROM user_events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(kind, "ORDER_TRADE_UPDATE");
        assert!(error.contains("o.rp"), "{error}");
    }

    #[test]
    fn an_account_update_writes_wallet_balances_and_positions_of_its_market() {
        let (_dir, store) = store();
        let update = event(&recorded("account_update.json"));
        let report = store.apply_user_data(Market::UsdM, &[update], 10).unwrap();
        assert_eq!((report.balances_updated, report.positions_updated), (1, 3));
        let balances = store.balances(Market::UsdM).unwrap();
        assert_eq!(balances.len(), 1);
        assert_eq!(
            (balances[0].asset.as_str(), balances[0].free.to_string()),
            ("USDT", "122624.12345678".to_string())
        );
        assert!(store.balances(Market::Spot).unwrap().is_empty());
        let positions = store.positions(Some(Market::UsdM), None, false).unwrap();
        let got: Vec<(String, String, String)> = positions
            .iter()
            .map(|p| {
                (
                    p.position_side.as_str().to_string(),
                    p.quantity.to_string(),
                    p.entry_price.to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("BOTH".into(), "0".into(), "0.00000".into()),
                ("LONG".into(), "20".into(), "6563.6".into()),
                ("SHORT".into(), "-10".into(), "6563.8".into()),
            ]
        );
        // An older update of the same position changes nothing.
        let mut older = recorded("account_update.json");
        older["T"] = Value::from(1_564_745_798_000_i64);
        older["a"]["P"][1]["pa"] = Value::String("99".into());
        store
            .apply_user_data(Market::UsdM, &[event(&older)], 20)
            .unwrap();
        let long = store.positions(Some(Market::UsdM), None, true).unwrap();
        assert!(long.iter().all(|p| p.quantity.to_string() != "99"));
    }

    #[test]
    fn an_algo_update_records_the_algo_id_and_the_order_it_became() {
        let (_dir, store) = store();
        let mut new = recorded("ws_futures_algo_update_triggering.json");
        new["o"]["X"] = Value::String("NEW".into());
        let report = store
            .apply_user_data(Market::UsdM, &[event(&new)], 10)
            .unwrap();
        assert_eq!(report.orders_inserted, 1);
        let cid = "O-20251211-053131-TEST-000-1";
        let row = |store: &Store| -> (Option<i64>, Option<i64>, Option<i64>, String) {
            store
                .conn()
                .unwrap()
                .query_row(
                    "SELECT algo_id, order_id, triggered_order_id, status FROM orders
                     WHERE client_order_id = ?1",
                    params![cid],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap()
        };
        assert_eq!(
            row(&store),
            (Some(1_000_000_033_225_453), None, None, "NEW".into())
        );
        let triggered = event(&recorded("ws_futures_algo_update_triggered.json"));
        store
            .apply_user_data(Market::UsdM, &[triggered], 20)
            .unwrap();
        assert_eq!(
            row(&store),
            (
                Some(1_000_000_033_225_453),
                Some(88_937_381_063),
                Some(88_937_381_063),
                "NEW".into()
            )
        );
        // The order it became fills under the same client id: the one row follows it.
        let fill = serde_json::json!({"e":"ORDER_TRADE_UPDATE","E":1_765_431_097_040_i64,"T":1_765_431_097_039_i64,"o":{"s":"DOGEUSDT","c":cid,"S":"BUY","o":"MARKET","f":"GTC","q":"38","p":"0","ap":"0.13856","sp":"0.13855","x":"TRADE","X":"FILLED","i":88937381063i64,"l":"38","z":"38","L":"0.13856","N":"USDT","n":"0.00263264","T":1765431097039i64,"t":777,"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"STOP_MARKET","ps":"BOTH","cp":false,"pP":false,"rp":"0"}});
        let report = store
            .apply_user_data(Market::UsdM, &[event(&fill)], 30)
            .unwrap();
        assert_eq!((report.executions_new, report.orders_updated), (1, 1));
        assert_eq!(
            row(&store),
            (
                Some(1_000_000_033_225_453),
                Some(88_937_381_063),
                Some(88_937_381_063),
                "FILLED".into()
            )
        );
        assert_eq!(one::<i64>(&store, "SELECT COUNT(*) FROM orders"), 1);
    }
}
