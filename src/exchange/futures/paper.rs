//! What the futures paper venue needs from Binance futures without an account: the public
//! book ticker it fills at, the `ORDER_TRADE_UPDATE` and `ACCOUNT_UPDATE` events it
//! simulates (shaped as the futures user-data stream sends them, so the same code stores
//! them and their `raw` reads like the exchange's, with `"paper": true` added), and the
//! rejections the exchange would answer (codes and messages as Binance writes them).
//!
//! Binance: "Symbol Order Book Ticker" in
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Symbol-Order-Book-Ticker>
//! and
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Symbol-Order-Book-Ticker>;
//! events in
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Order-Update>
//! and `Event-Balance-and-Position-Update`; codes in
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code>.

use serde::Deserialize;
use serde_json::json;

use super::FuturesClient;
use crate::domain::{
    AccountUpdate, BookTicker, FuturesEvent, Market, OrderTradeUpdate, Symbol, UserDataEvent,
};
use crate::exchange::error::ExchangeError;
use crate::exchange::transport::Endpoint;
use crate::exchange::wire::WireBookTicker;

const USDM_BOOK_TICKER: Endpoint = Endpoint {
    path: "/fapi/v1/ticker/bookTicker",
    weight: 2,
};
const COINM_BOOK_TICKER: Endpoint = Endpoint {
    path: "/dapi/v1/ticker/bookTicker",
    weight: 2,
};

/// USD-M answers an object for one symbol, COIN-M always an array.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(WireBookTicker),
    Many(Vec<WireBookTicker>),
}

impl FuturesClient {
    /// `GET /fapi/v1/ticker/bookTicker?symbol=` or `GET /dapi/v1/ticker/bookTicker?symbol=`
    /// (weight 2, public): the best bid and ask of `symbol` now. Prices in the quote
    /// asset; quantities in the base asset (USD-M) or contracts (COIN-M).
    ///
    /// # Errors
    /// The transport's errors; `Decode` for an answer without a book ticker of `symbol`
    /// with decimal prices.
    pub async fn book_ticker(&self, symbol: &Symbol) -> Result<BookTicker, ExchangeError> {
        let endpoint = match self.market() {
            Market::CoinM => COINM_BOOK_TICKER,
            _ => USDM_BOOK_TICKER,
        };
        let reply = self
            .rest
            .get(endpoint, &[("symbol", symbol.to_string())])
            .await?;
        let decode = |detail: String| ExchangeError::Decode {
            endpoint: endpoint.path,
            detail,
        };
        let all = match serde_json::from_slice::<OneOrMany>(&reply.body)
            .map_err(|e| decode(e.to_string()))?
        {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        };
        let wire = all
            .into_iter()
            .find(|w| w.symbol == symbol.as_str())
            .ok_or_else(|| decode(format!("no book ticker for {symbol}")))?;
        wire.into_book_ticker(symbol).map_err(decode)
    }
}

/// A rejection the futures paper venue answers as Binance futures would: an
/// [`ExchangeError::Api`] with Binance's code and message (HTTP 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuturesPaperRejection {
    /// `-2019` "Margin is insufficient."
    MarginInsufficient,
    /// `-2021` "Order would immediately trigger."
    WouldTrigger,
    /// `-5022` a post-only (GTX) order that would take.
    WouldTake,
    /// `-2022` "ReduceOnly Order is rejected." (nothing to reduce)
    ReduceOnlyRejected,
    /// `-2013` "Order does not exist."
    NoSuchOrder,
    /// `-2011` "Unknown order sent."
    CancelRejected,
    /// `-4047` "Margin type cannot be changed if there exists open orders."
    MarginTypeOpenOrders,
    /// `-4048` "Margin type cannot be changed if there exists position."
    MarginTypePosition,
}

impl FuturesPaperRejection {
    /// The error the market's order endpoint answers for it.
    pub fn error(self, market: Market) -> ExchangeError {
        let (code, msg) = match self {
            FuturesPaperRejection::MarginInsufficient => (-2019, "Margin is insufficient."),
            FuturesPaperRejection::WouldTrigger => (-2021, "Order would immediately trigger."),
            FuturesPaperRejection::WouldTake => (
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history",
            ),
            FuturesPaperRejection::ReduceOnlyRejected => (-2022, "ReduceOnly Order is rejected."),
            FuturesPaperRejection::NoSuchOrder => (-2013, "Order does not exist."),
            FuturesPaperRejection::CancelRejected => (-2011, "Unknown order sent."),
            FuturesPaperRejection::MarginTypeOpenOrders => (
                -4047,
                "Margin type cannot be changed if there exists open orders.",
            ),
            FuturesPaperRejection::MarginTypePosition => (
                -4048,
                "Margin type cannot be changed if there exists position.",
            ),
        };
        ExchangeError::Api {
            endpoint: match market {
                Market::CoinM => "/dapi/v1/order",
                _ => "/fapi/v1/order",
            },
            http_status: 400,
            code,
            msg: msg.to_string(),
        }
    }
}

/// `u` as a user-data event whose `raw` is the `ORDER_TRADE_UPDATE` JSON Binance would
/// send for it, with `"paper": true` (`u.raw` is ignored).
pub fn simulated_order_update(mut u: OrderTradeUpdate) -> UserDataEvent {
    let raw = json!({
        "e": "ORDER_TRADE_UPDATE",
        "E": u.event_time,
        "T": u.transaction_time,
        "o": {
            "s": u.symbol.as_str(),
            "c": u.client_order_id,
            "S": u.side.as_str(),
            "o": u.order_type,
            "f": u.time_in_force,
            "q": u.quantity.to_string(),
            "p": u.price.to_string(),
            "ap": u.average_price.to_string(),
            "sp": u.stop_price.unwrap_or_default().to_string(),
            "x": u.execution_type.as_str(),
            "X": u.order_status.as_str(),
            "i": u.order_id,
            "l": u.last_qty.to_string(),
            "z": u.cumulative_qty.to_string(),
            "L": u.last_price.to_string(),
            "N": u.commission_asset,
            "n": u.commission.map(|c| c.to_string()),
            "T": u.trade_time,
            "t": u.trade_id,
            "b": u.bids_notional.to_string(),
            "a": u.asks_notional.to_string(),
            "m": u.is_maker,
            "R": u.reduce_only,
            "wt": u.working_type,
            "ot": u.original_order_type,
            "ps": u.position_side,
            "cp": u.close_position,
            "rp": u.realized_pnl.to_string(),
            "ma": u.margin_asset,
        },
        "paper": true,
    })
    .to_string();
    u.raw = raw;
    UserDataEvent::Futures(FuturesEvent::OrderTradeUpdate(u))
}

/// `a` as a user-data event whose `raw` is the `ACCOUNT_UPDATE` JSON Binance would send
/// for it (reason `ORDER`), with `"paper": true` (`a.raw` is ignored).
pub fn simulated_account_update(mut a: AccountUpdate) -> UserDataEvent {
    let balances: Vec<_> = a
        .balances
        .iter()
        .map(|b| {
            json!({
                "a": b.asset,
                "wb": b.wallet_balance.to_string(),
                "cw": b.cross_wallet_balance.to_string(),
                "bc": b.balance_change.to_string(),
            })
        })
        .collect();
    let positions: Vec<_> = a
        .positions
        .iter()
        .map(|p| {
            json!({
                "s": p.symbol.as_str(),
                "pa": p.amount.to_string(),
                "ep": p.entry_price.to_string(),
                "bep": p.break_even_price.map(|d| d.to_string()),
                "cr": p.accumulated_realized.to_string(),
                "up": p.unrealized_pnl.to_string(),
                "mt": p.margin_type,
                "iw": p.isolated_wallet.to_string(),
                "ps": p.position_side,
            })
        })
        .collect();
    a.raw = json!({
        "e": "ACCOUNT_UPDATE",
        "E": a.event_time,
        "T": a.transaction_time,
        "a": { "m": a.reason, "B": balances, "P": positions },
        "paper": true,
    })
    .to_string();
    UserDataEvent::Futures(FuturesEvent::AccountUpdate(a))
}
