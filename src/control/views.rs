//! From what the components report to what the control protocol shows: the store's order
//! and balance rows and the backfill's job states become the protocol's views
//! ([`OrderView`], [`BalanceView`], [`JobView`]).
//!
//! The conversions live here, on the control side, so that the store knows nothing of the
//! protocol and the protocol nothing of the store: a socket client only ever sees a view.
//! The views' JSON is a user contract (README.md, "The protocol"); the tests below pin it,
//! field for field, to what the daemon sent before the views existed.

use crate::backfill::JobState;
use crate::control::protocol::{ActionView, BalanceView, FillView, JobView, OrderView};
use crate::domain::{Fill, JobStatus};
use crate::store::{ActionRow, BalanceRow, OrderRow};

impl From<ActionRow> for ActionView {
    fn from(r: ActionRow) -> ActionView {
        // The column holds JSON the dispatcher wrote; anything else is shown as text.
        let params = serde_json::from_str(&r.params).unwrap_or(serde_json::Value::String(r.params));
        ActionView {
            id: r.id,
            time: r.time,
            source: r.source,
            uid: r.uid,
            method: r.method,
            market: r.market,
            symbol: r.symbol,
            params,
            ok: r.ok,
            error_code: r.error_code,
            error_message: r.error_message,
        }
    }
}

impl From<&OrderRow> for OrderView {
    fn from(o: &OrderRow) -> OrderView {
        OrderView {
            id: o.id,
            market: o.market,
            symbol: o.symbol.clone(),
            client_order_id: o.client_order_id.clone(),
            order_id: o.order_id,
            side: o.side,
            order_type: o.order_type,
            time_in_force: o.time_in_force,
            quantity: o.quantity,
            quote_quantity: o.quote_quantity,
            price: o.price,
            stop_price: o.stop_price,
            status: o.status,
            executed_qty: o.executed_qty,
            cummulative_quote_qty: o.cummulative_quote_qty,
            fills: o.fills.iter().map(FillView::from).collect(),
            error_code: o.error_code,
            error_msg: o.error_msg.clone(),
            transact_time: o.transact_time,
            update_time: o.update_time,
            created_at: o.created_at,
            updated_at: o.updated_at,
            live: None,
        }
    }
}

impl From<&Fill> for FillView {
    fn from(f: &Fill) -> FillView {
        FillView {
            price: f.price,
            qty: f.qty,
            commission: f.commission,
            commission_asset: f.commission_asset.clone(),
            trade_id: f.trade_id,
        }
    }
}

impl From<&BalanceRow> for BalanceView {
    fn from(b: &BalanceRow) -> BalanceView {
        BalanceView {
            asset: b.asset.clone(),
            free: b.free,
            locked: b.locked,
            update_time: b.update_time,
            source: b.source.clone(),
            updated_at: b.updated_at,
        }
    }
}

impl From<&JobState> for JobView {
    fn from(s: &JobState) -> JobView {
        let job = &s.job;
        JobView {
            symbol_id: job.symbol_id,
            symbol: job.symbol.clone(),
            interval: job.interval,
            from_ms: job.from_ms,
            to_ms: job.to_ms,
            next_start_ms: job.next_start_ms,
            status: job_status(job.status).to_string(),
            rows_written: job.rows_written,
            percent: s.percent,
            eta_secs: s.eta_secs,
            last_error: job.last_error.clone(),
            updated_at: job.updated_at,
        }
    }
}

/// A job's status on the wire.
fn job_status(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Pending => "pending",
        JobStatus::Running => "running",
        JobStatus::Done => "done",
        JobStatus::Failed => "failed",
        JobStatus::Stopped => "stopped",
    }
}

/// Quote assets a symbol name may end with, longest first, for symbols not registered
/// (whose assets the database does not know).
const KNOWN_QUOTES: [&str; 10] = [
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY",
];

/// The PnL of one (market, symbol)'s stored fills ([`crate::domain::pnl::pnl_of_market`]).
pub(super) fn pnl_view(entry: crate::store::SymbolFills) -> crate::control::protocol::PnlView {
    let assets = entry.assets.clone().or_else(|| {
        let name = entry.symbol.as_str();
        KNOWN_QUOTES.iter().find_map(|q| {
            let base = name.strip_suffix(q)?;
            (!base.is_empty()).then(|| (base.to_string(), (*q).to_string()))
        })
    });
    let (base, quote) = assets
        .clone()
        .unwrap_or_else(|| (String::new(), String::new()));
    let pnl = crate::domain::pnl::pnl_of_market(
        entry.market,
        entry.contract_size,
        &entry.fills,
        &base,
        &quote,
        entry.last_price,
    );
    crate::control::protocol::PnlView {
        market: entry.market,
        symbol: entry.symbol,
        base_asset: assets.as_ref().map(|a| a.0.clone()),
        quote_asset: assets.map(|a| a.1),
        position: pnl.position,
        avg_entry: pnl.avg_entry,
        realized_pnl: pnl.realized_pnl,
        fees: pnl.fees,
        other_fees: pnl.other_fees,
        last_price: entry.last_price,
        unrealized_pnl: pnl.unrealized_pnl,
        net_pnl: pnl.net_pnl,
        trades: pnl.trades,
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use serde_json::{Value, json};

    use super::*;
    use crate::control::protocol;
    use crate::domain::{
        BackfillJob, ClientOrderId, Interval, Market, OrderStatus, OrderType, Side, Symbol,
        TimeInForce,
    };

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn btcusdt() -> Symbol {
        "BTCUSDT".parse().unwrap()
    }

    /// A limit order partly filled: every optional member set but `quote_quantity` and
    /// `stop_price`, one fill.
    fn limit_row() -> OrderRow {
        OrderRow {
            id: 7,
            market: Market::Spot,
            symbol: btcusdt(),
            client_order_id: "tb-golden-1".parse::<ClientOrderId>().unwrap(),
            order_id: Some(42),
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: Some(TimeInForce::Gtc),
            quantity: Some(d("0.00100000")),
            quote_quantity: None,
            price: Some(d("65000.10")),
            stop_price: None,
            status: OrderStatus::PartiallyFilled,
            executed_qty: d("0.00050000"),
            cummulative_quote_qty: d("32.50005000"),
            fills: vec![Fill {
                price: d("65000.10"),
                qty: d("0.00050000"),
                commission: d("0.0000005"),
                commission_asset: "BNB".into(),
                trade_id: 9,
            }],
            error_code: None,
            error_msg: None,
            transact_time: Some(1_795_262_400_000),
            update_time: Some(1_795_262_401_000),
            created_at: 1_795_262_399_990,
            updated_at: 1_795_262_401_010,
            futures: None,
        }
    }

    fn limit_json() -> Value {
        json!({
            "id": 7,
            "market": "spot",
            "symbol": "BTCUSDT",
            "client_order_id": "tb-golden-1",
            "order_id": 42,
            "side": "BUY",
            "type": "LIMIT",
            "time_in_force": "GTC",
            "quantity": "0.00100000",
            "quote_quantity": null,
            "price": "65000.10",
            "stop_price": null,
            "status": "PARTIALLY_FILLED",
            "executed_qty": "0.00050000",
            "cummulative_quote_qty": "32.50005000",
            "fills": [{
                "price": "65000.10",
                "qty": "0.00050000",
                "commission": "0.0000005",
                "commission_asset": "BNB",
                "trade_id": 9
            }],
            "error_code": null,
            "error_msg": null,
            "transact_time": 1_795_262_400_000_i64,
            "update_time": 1_795_262_401_000_i64,
            "created_at": 1_795_262_399_990_i64,
            "updated_at": 1_795_262_401_010_i64
        })
    }

    /// A market order by quote amount the exchange refused: no exchange id, no fills, the
    /// exchange's code and message.
    fn rejected_row() -> OrderRow {
        OrderRow {
            id: 8,
            market: Market::Spot,
            symbol: btcusdt(),
            client_order_id: "my-stop-1".parse::<ClientOrderId>().unwrap(),
            order_id: None,
            side: Side::Sell,
            order_type: OrderType::StopLossLimit,
            time_in_force: None,
            quantity: None,
            quote_quantity: Some(d("100")),
            price: None,
            stop_price: Some(d("59500")),
            status: OrderStatus::Rejected,
            executed_qty: Decimal::ZERO,
            cummulative_quote_qty: Decimal::ZERO,
            fills: vec![],
            error_code: Some(-2010),
            error_msg: Some("Account has insufficient balance for requested action.".into()),
            transact_time: None,
            update_time: None,
            created_at: 5,
            updated_at: 6,
            futures: None,
        }
    }

    fn rejected_json() -> Value {
        json!({
            "id": 8,
            "market": "spot",
            "symbol": "BTCUSDT",
            "client_order_id": "my-stop-1",
            "order_id": null,
            "side": "SELL",
            "type": "STOP_LOSS_LIMIT",
            "time_in_force": null,
            "quantity": null,
            "quote_quantity": "100",
            "price": null,
            "stop_price": "59500",
            "status": "REJECTED",
            "executed_qty": "0",
            "cummulative_quote_qty": "0",
            "fills": [],
            "error_code": -2010,
            "error_msg": "Account has insufficient balance for requested action.",
            "transact_time": null,
            "update_time": null,
            "created_at": 5,
            "updated_at": 6
        })
    }

    fn balance_row() -> BalanceRow {
        BalanceRow {
            asset: "BTC".into(),
            free: d("0.99950000"),
            locked: d("0.00100000"),
            update_time: 1_795_262_401_000,
            source: "stream".into(),
            updated_at: 1_795_262_401_020,
        }
    }

    fn balance_json() -> Value {
        json!({
            "asset": "BTC",
            "free": "0.99950000",
            "locked": "0.00100000",
            "update_time": 1_795_262_401_000_i64,
            "source": "stream",
            "updated_at": 1_795_262_401_020_i64
        })
    }

    fn job_state(status: JobStatus) -> JobState {
        JobState {
            job: BackfillJob {
                symbol_id: 3,
                symbol: btcusdt(),
                interval: Interval::H1,
                from_ms: 1_792_670_400_000,
                to_ms: 1_795_258_800_000,
                next_start_ms: 1_794_000_000_000,
                status,
                rows_written: 371,
                last_error: Some("page failed: timeout".into()),
                started_at: 1_795_262_000_000,
                updated_at: 1_795_262_400_500,
            },
            percent: 51.5,
            eta_secs: Some(42),
        }
    }

    fn job_json() -> Value {
        json!({
            "symbol_id": 3,
            "symbol": "BTCUSDT",
            "interval": "1h",
            "from_ms": 1_792_670_400_000_i64,
            "to_ms": 1_795_258_800_000_i64,
            "next_start_ms": 1_794_000_000_000_i64,
            "status": "running",
            "rows_written": 371,
            "percent": 51.5,
            "eta_secs": 42,
            "last_error": "page failed: timeout",
            "updated_at": 1_795_262_400_500_i64
        })
    }

    /// The view's JSON is `golden`, and `golden` reads back (as `ctl` reads it) into the
    /// same view.
    fn assert_golden<V>(view: V, golden: Value)
    where
        V: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        assert_eq!(serde_json::to_value(&view).unwrap(), golden);
        assert_eq!(serde_json::from_value::<V>(golden).unwrap(), view);
    }

    #[test]
    fn orders_serialize_as_today() {
        assert_golden(OrderView::from(&limit_row()), limit_json());
        assert_golden(OrderView::from(&rejected_row()), rejected_json());
    }

    #[test]
    fn balances_serialize_as_today() {
        assert_golden(BalanceView::from(&balance_row()), balance_json());
    }

    #[test]
    fn backfill_jobs_serialize_as_today() {
        assert_golden(JobView::from(&job_state(JobStatus::Running)), job_json());
        for (status, name) in [
            (JobStatus::Pending, "pending"),
            (JobStatus::Running, "running"),
            (JobStatus::Done, "done"),
            (JobStatus::Failed, "failed"),
            (JobStatus::Stopped, "stopped"),
        ] {
            let json = serde_json::to_value(JobView::from(&job_state(status))).unwrap();
            assert_eq!(json["status"], name);
        }
    }

    #[test]
    fn order_list_limits_are_the_orders_components() {
        assert_eq!(
            (
                protocol::ORDER_LIST_DEFAULT_LIMIT,
                protocol::ORDER_LIST_MAX_LIMIT
            ),
            (
                crate::orders::LIST_DEFAULT_LIMIT,
                crate::orders::LIST_MAX_LIMIT
            )
        );
    }
}
