//! What the paper venue needs from Binance spot without an account: the public book
//! ticker it fills at, the execution reports and account updates it simulates (shaped as
//! the user-data stream sends them, so they are stored by the same code and their `raw`
//! reads like the exchange's, with `"paper": true` added), and the rejections the
//! exchange would answer (codes and messages as Binance writes them).
//!
//! Binance: "Symbol order book ticker" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>;
//! events in <https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream>;
//! codes in <https://developers.binance.com/docs/binance-spot-api-docs/errors>.

use serde_json::json;

use super::SpotClient;
use crate::domain::{
    AccountPosition, Balance, BookTicker, ExecutionReport, OrderStatus, Symbol, UserDataEvent,
};
use crate::exchange::error::ExchangeError;
use crate::exchange::transport::Endpoint;
use crate::exchange::wire::WireBookTicker;

const BOOK_TICKER: Endpoint = Endpoint {
    path: "/api/v3/ticker/bookTicker",
    weight: 2,
};

/// The endpoint named in a paper venue's rejections (the one a live order would use).
const PAPER_ORDER: &str = "/api/v3/order";

impl SpotClient {
    /// `GET /api/v3/ticker/bookTicker?symbol=` (weight 2, public): the best bid and ask
    /// of `symbol` now. Binance: "Symbol order book ticker" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>.
    ///
    /// # Errors
    /// The transport's errors; `Decode` for an answer that is not a book ticker of
    /// `symbol` with decimal prices.
    pub async fn book_ticker(&self, symbol: &Symbol) -> Result<BookTicker, ExchangeError> {
        let reply = self
            .rest
            .get(BOOK_TICKER, &[("symbol", symbol.to_string())])
            .await?;
        let decode = |detail: String| ExchangeError::Decode {
            endpoint: BOOK_TICKER.path,
            detail,
        };
        let wire: WireBookTicker =
            serde_json::from_slice(&reply.body).map_err(|e| decode(e.to_string()))?;
        if wire.symbol != symbol.as_str() {
            return Err(decode(format!("answer is for {:?}", wire.symbol)));
        }
        wire.into_book_ticker(symbol).map_err(decode)
    }
}

/// A rejection the paper venue answers as Binance would: an [`ExchangeError::Api`] with
/// Binance's code and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaperRejection {
    /// `-2010` "Account has insufficient balance for requested action."
    InsufficientBalance,
    /// `-2010` "Order would immediately match and take." (a LIMIT_MAKER that would take)
    WouldTake,
    /// `-2010` "Stop price would trigger immediately."
    WouldTrigger,
    /// `-2013` "Order does not exist." (query of an unknown order)
    NoSuchOrder,
    /// `-2011` "Unknown order sent." (cancel of an order that is not open)
    CancelRejected,
}

impl PaperRejection {
    /// The error a Binance spot endpoint answers for it (HTTP 400).
    pub fn error(self) -> ExchangeError {
        let (code, msg) = match self {
            PaperRejection::InsufficientBalance => (
                -2010,
                "Account has insufficient balance for requested action.",
            ),
            PaperRejection::WouldTake => (-2010, "Order would immediately match and take."),
            PaperRejection::WouldTrigger => (-2010, "Stop price would trigger immediately."),
            PaperRejection::NoSuchOrder => (-2013, "Order does not exist."),
            PaperRejection::CancelRejected => (-2011, "Unknown order sent."),
        };
        ExchangeError::Api {
            endpoint: PAPER_ORDER,
            http_status: 400,
            code,
            msg: msg.to_string(),
        }
    }
}

/// `report` as a user-data event whose `raw` is the `executionReport` JSON Binance would
/// send for it, with `"paper": true` (`report.raw` is ignored).
pub fn simulated_execution_report(mut report: ExecutionReport) -> UserDataEvent {
    let r = &report;
    let raw = json!({
        "e": "executionReport",
        "E": r.event_time,
        "s": r.symbol.as_str(),
        "c": r.client_order_id,
        "S": r.side.as_str(),
        "o": r.order_type.as_str(),
        "f": r.time_in_force.as_str(),
        "q": r.quantity.to_string(),
        "p": r.price.to_string(),
        "P": r.stop_price.to_string(),
        "g": r.order_list_id.unwrap_or(-1),
        "C": r.orig_client_order_id,
        "x": r.execution_type.as_str(),
        "X": r.order_status.as_str(),
        "r": r.reject_reason,
        "i": r.order_id,
        "l": r.last_qty.to_string(),
        "z": r.cumulative_qty.to_string(),
        "L": r.last_price.to_string(),
        "n": r.commission.to_string(),
        "N": r.commission_asset,
        "T": r.transaction_time,
        "t": r.trade_id,
        "I": r.execution_id,
        "w": matches!(r.order_status, OrderStatus::New | OrderStatus::PartiallyFilled),
        "m": r.is_maker,
        "M": false,
        "O": r.order_creation_time,
        "Z": r.cumulative_quote_qty.to_string(),
        "Y": r.last_quote_qty.map(|d| d.to_string()),
        "Q": r.quote_order_qty.map(|d| d.to_string()),
        "W": r.working_time,
        "paper": true,
    })
    .to_string();
    report.raw = raw;
    UserDataEvent::ExecutionReport(report)
}

/// An `outboundAccountPosition` event with `balances` (Binance sends one after every
/// change of the account), `raw` as Binance would send it with `"paper": true`.
pub fn simulated_account_position(
    event_time: i64,
    update_time: i64,
    balances: Vec<Balance>,
) -> UserDataEvent {
    let wire: Vec<_> = balances
        .iter()
        .map(|b| json!({ "a": b.asset, "f": b.free.to_string(), "l": b.locked.to_string() }))
        .collect();
    let raw = json!({
        "e": "outboundAccountPosition",
        "E": event_time,
        "u": update_time,
        "B": wire,
        "paper": true,
    })
    .to_string();
    UserDataEvent::AccountPosition(AccountPosition {
        event_time,
        last_update_time: update_time,
        balances,
        raw,
    })
}
