//! The parameters of each REST route for the OpenAPI document: the JSON schema of the
//! control method's `Params` type (utoipa's `ToSchema`, derived on the protocol types, so
//! the document follows the code), an example request, and a check that a params object
//! deserializes into that type exactly as the method would.

use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::control::protocol::{self, Method};

/// One control method's parameters.
pub struct ParamsDoc {
    /// The method's name on the wire.
    pub method: &'static str,
    /// The name of its params schema under `components/schemas`.
    pub schema_name: String,
    /// The params schema (an object).
    pub schema: RefOr<Schema>,
    /// The schemas it refers to, by name.
    pub referenced: Vec<(String, RefOr<Schema>)>,
    /// `Ok` when a params object deserializes into the method's `Params` type; the
    /// message of the refusal otherwise.
    pub accepts: fn(&Value) -> Result<(), String>,
}

fn doc<M: Method>() -> ParamsDoc
where
    M::Params: ToSchema,
{
    let mut referenced = Vec::new();
    <M::Params as ToSchema>::schemas(&mut referenced);
    ParamsDoc {
        method: M::NAME,
        schema_name: <M::Params as ToSchema>::name().into_owned(),
        schema: <M::Params as utoipa::PartialSchema>::schema(),
        referenced,
        accepts: |params| {
            serde_json::from_value::<M::Params>(params.clone())
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    }
}

/// The params of every method a REST route or `POST /rpc` can call.
pub fn params_docs() -> Vec<ParamsDoc> {
    use protocol::*;
    vec![
        doc::<Status>(),
        doc::<SymbolAdd>(),
        doc::<SymbolRemove>(),
        doc::<SymbolList>(),
        doc::<SyncNow>(),
        doc::<BackfillStart>(),
        doc::<BackfillWait>(),
        doc::<KlineList>(),
        doc::<OrderPlace>(),
        doc::<OrderCancel>(),
        doc::<OrderGet>(),
        doc::<OrderList>(),
        doc::<BalanceList>(),
        doc::<MarkPriceList>(),
        doc::<FundingRateList>(),
        doc::<OpenInterestList>(),
        doc::<PnlList>(),
        doc::<TickerGet>(),
        doc::<MarketGet>(),
        doc::<TradeList>(),
        doc::<OrderCancelAll>(),
        doc::<OrderTest>(),
        doc::<StrategyAdd>(),
        doc::<StrategyUpdate>(),
        doc::<StrategyRemove>(),
        doc::<StrategyList>(),
        doc::<TradeStrategyAdd>(),
        doc::<TradeStrategyRemove>(),
        doc::<TradeStrategyList>(),
        doc::<Subscribe>(),
        doc::<ActionList>(),
        doc::<WatchlistAdd>(),
        doc::<WatchlistRemove>(),
        doc::<WatchlistList>(),
        doc::<PositionList>(),
        doc::<LeverageSet>(),
        doc::<MarginTypeSet>(),
        doc::<StrategyRunList>(),
    ]
}

/// An example params object of `method` (path segments, query and body together), as the
/// OpenAPI document shows it; `None` for a method without one.
pub fn example(method: &str) -> Option<Value> {
    let order = json!({
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001",
        "price": "60000", "time_in_force": "GTC", "client_order_id": "my-order-1"
    });
    Some(match method {
        "status" | "sync.now" | "strategy.list" => json!({}),
        "symbol.list" => json!({"active": true}),
        "symbol.add" => {
            json!({"symbol": "SOLUSDT", "intervals": ["1m", "1h"], "backfill_days": 30})
        }
        "symbol.remove" | "watchlist.add" | "watchlist.remove" => json!({"symbol": "SOLUSDT"}),
        "backfill.start" => {
            json!({"symbol": "BTCUSDT", "interval": "1h", "from": 1_735_689_600_000_i64})
        }
        "backfill.wait" => json!({"symbol": "BTCUSDT", "timeout_ms": 5000}),
        "kline.list" => json!({"symbol": "BTCUSDT", "interval": "1h", "limit": 24}),
        "order.place" | "order.test" => order,
        "order.get" | "order.cancel" => {
            json!({"symbol": "BTCUSDT", "client_order_id": "my-order-1"})
        }
        "order.list" => json!({"symbol": "BTCUSDT", "open": true}),
        "order.cancel_all" | "ticker.get" | "market.get" => json!({"symbol": "BTCUSDT"}),
        "balance.list" => json!({"asset": "BTC"}),
        "trade.list" => json!({"symbol": "BTCUSDT", "limit": 50}),
        "pnl.list" | "watchlist.list" => json!({"market": "spot"}),
        "mark_price.list" | "funding_rate.list" => {
            json!({"symbol": "BTCUSDT", "market": "usdm", "limit": 100})
        }
        "open_interest.list" => json!({"symbol": "BTCUSDT", "market": "usdm", "period": "1h"}),
        "position.list" => json!({"market": "usdm"}),
        "strategy_run.list" => json!({"strategy": "sma-cross", "outcome": "timeout", "limit": 20}),
        "leverage.set" => json!({"symbol": "BTCUSDT", "market": "usdm", "leverage": 5}),
        "margin_type.set" => {
            json!({"symbol": "BTCUSDT", "market": "usdm", "margin_type": "ISOLATED"})
        }
        "strategy.add" => json!({
            "name": "MA crossover", "command": "python3 examples/ma_crossover.py",
            "timeout_ms": 5000
        }),
        "strategy.update" => json!({"strategy": "ma-crossover", "timeout_ms": 10000}),
        "strategy.remove" => json!({"strategy": "ma-crossover"}),
        "trade_strategy.add" => json!({
            "strategy": "ma-crossover", "symbol": "BTCUSDT", "interval": "1h",
            "params": {"fast": 10, "slow": 30}
        }),
        "trade_strategy.remove" => json!({"id": "1"}),
        "trade_strategy.list" => json!({"strategy": "ma-crossover"}),
        "action.list" => json!({"source": "http", "limit": 20}),
        "subscribe" => json!({"events": ["order", "execution"]}),
        _ => return None,
    })
}
