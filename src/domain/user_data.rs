//! The user-data events as tradebeat's types: execution reports, balance changes, order
//! lists, and the stream's own notices. `exchange` parses the wire into them. Event
//! reference: https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream
//!
//! Keys are case-sensitive (`c`/`C`, `p`/`P`, `l`/`L`, `z`/`Z` …), so every wire field
//! carries an explicit `#[serde(rename)]`. Decimals are parsed exactly
//! ([`parse_decimal`]), never through a float. Keys tradebeat does not use are ignored.
//! An enum value that is only informative (a new order type or time in force, a new
//! execution type) is kept as its text ([`Spelled::Other`], [`ExecutionType::Other`]);
//! a value the store acts on (side, order status, a decimal, an id) that does not parse
//! makes the whole event [`UserDataEvent::Invalid`]: it is kept raw, never half-applied.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::Symbol;
use super::{Balance, OrderStatus, OrderType, Side, TimeInForce};

/// One user-data event, as parsed from its JSON object.
///
/// Every typed event keeps `raw`: the event object's exact JSON text as received (the
/// inner object of a wrapped frame), for the database's `raw` columns.
// The execution report is by far the most frequent event and the largest: boxing it would
// cost an allocation per event on the hot path for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserDataEvent {
    /// `executionReport`: an order changed (placed, traded, cancelled, expired …).
    ExecutionReport(ExecutionReport),
    /// `outboundAccountPosition`: the balances of the assets that may have changed.
    AccountPosition(AccountPosition),
    /// `balanceUpdate`: a deposit, withdrawal or transfer (a delta, not a balance).
    BalanceUpdate(BalanceUpdate),
    /// `listStatus`: an order list (OCO, OTO …) changed.
    ListStatus(ListStatus),
    /// `eventStreamTerminated`: the subscription ended (unsubscribe, logout). Event time,
    /// ms.
    StreamTerminated { event_time: i64 },
    /// `serverShutdown`: the server is going away; reconnect now. Event time, ms.
    ServerShutdown { event_time: i64 },
    /// A futures (USDⓈ-M or COIN-M) user-data event, from the listen-key stream.
    Futures(super::FuturesEvent),
    /// An event type tradebeat does not know: kept raw.
    Unknown {
        event_type: String,
        /// `E` when it is an integer, ms.
        event_time: Option<i64>,
        raw: String,
    },
    /// A known type whose fields do not parse: kept raw with the reason, never
    /// half-applied.
    Invalid {
        event_type: String,
        /// `E` when it is an integer, ms.
        event_time: Option<i64>,
        raw: String,
        /// What did not parse (names the key).
        error: String,
    },
}

impl UserDataEvent {
    /// Binance's event type (`e`): `executionReport`, `outboundAccountPosition` …
    pub fn event_type(&self) -> &str {
        match self {
            UserDataEvent::ExecutionReport(_) => EXECUTION_REPORT,
            UserDataEvent::AccountPosition(_) => ACCOUNT_POSITION,
            UserDataEvent::BalanceUpdate(_) => BALANCE_UPDATE,
            UserDataEvent::ListStatus(_) => LIST_STATUS,
            UserDataEvent::StreamTerminated { .. } => STREAM_TERMINATED,
            UserDataEvent::ServerShutdown { .. } => SERVER_SHUTDOWN,
            UserDataEvent::Futures(f) => f.event_type(),
            UserDataEvent::Unknown { event_type, .. }
            | UserDataEvent::Invalid { event_type, .. } => event_type,
        }
    }

    /// The event time (`E`), ms; `None` only for an unknown or invalid event without one.
    pub fn event_time(&self) -> Option<i64> {
        match self {
            UserDataEvent::ExecutionReport(r) => Some(r.event_time),
            UserDataEvent::AccountPosition(a) => Some(a.event_time),
            UserDataEvent::BalanceUpdate(b) => Some(b.event_time),
            UserDataEvent::ListStatus(l) => Some(l.event_time),
            UserDataEvent::StreamTerminated { event_time }
            | UserDataEvent::ServerShutdown { event_time } => Some(*event_time),
            UserDataEvent::Futures(f) => Some(f.event_time()),
            UserDataEvent::Unknown { event_time, .. }
            | UserDataEvent::Invalid { event_time, .. } => *event_time,
        }
    }

    /// The event's JSON text as received; `None` for the two connection events, which
    /// carry nothing to keep.
    pub fn raw(&self) -> Option<&str> {
        match self {
            UserDataEvent::ExecutionReport(r) => Some(&r.raw),
            UserDataEvent::AccountPosition(a) => Some(&a.raw),
            UserDataEvent::BalanceUpdate(b) => Some(&b.raw),
            UserDataEvent::ListStatus(l) => Some(&l.raw),
            UserDataEvent::StreamTerminated { .. } | UserDataEvent::ServerShutdown { .. } => None,
            UserDataEvent::Futures(f) => f.raw(),
            UserDataEvent::Unknown { raw, .. } | UserDataEvent::Invalid { raw, .. } => Some(raw),
        }
    }

    /// The same event as [`UserDataEvent::Invalid`] with `error`, to keep it raw instead of
    /// applying it (e.g. after the store refused it: `StoreError::Event`). A connection
    /// event has no raw text; it is kept as `{"e":…,"E":…}`.
    pub fn into_invalid(self, error: String) -> UserDataEvent {
        let event_type = self.event_type().to_string();
        let event_time = self.event_time();
        let raw = match self.raw() {
            Some(raw) => raw.to_string(),
            None => serde_json::json!({ "e": event_type, "E": event_time }).to_string(),
        };
        UserDataEvent::Invalid {
            event_type,
            event_time,
            raw,
            error,
        }
    }
}

/// `executionReport` ("Order Update" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream>): one change of
/// one order.
///
/// Decimals are exact, scale kept (`"1.00000000"` stays so). Times are ms since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionReport {
    /// `E`.
    pub event_time: i64,
    /// `s`.
    pub symbol: Symbol,
    /// `c`: the client order id of the request that caused the event (for a cancel, the
    /// cancel's own id; see [`ExecutionReport::order_client_order_id`]). May be empty.
    pub client_order_id: String,
    /// `S`.
    pub side: Side,
    /// `o`.
    pub order_type: Spelled<OrderType>,
    /// `f`.
    pub time_in_force: Spelled<TimeInForce>,
    /// `q`: order quantity (base asset).
    pub quantity: Decimal,
    /// `p`: limit price; zero for market orders.
    pub price: Decimal,
    /// `P`: stop price; zero when none.
    pub stop_price: Decimal,
    /// `g`: order list id, `-1` when not in a list; absent in some recordings.
    pub order_list_id: Option<i64>,
    /// `C`: the original client order id (the order being cancelled); empty otherwise.
    pub orig_client_order_id: String,
    /// `x`.
    pub execution_type: ExecutionType,
    /// `X`: always one of the exchange's statuses.
    pub order_status: OrderStatus,
    /// `r`: reject reason, `NONE` when none.
    pub reject_reason: String,
    /// `i`: the exchange's order id.
    pub order_id: i64,
    /// `l`: last executed quantity.
    pub last_qty: Decimal,
    /// `z`: cumulative filled quantity.
    pub cumulative_qty: Decimal,
    /// `L`: last executed price.
    pub last_price: Decimal,
    /// `n`: commission of this execution.
    pub commission: Decimal,
    /// `N`: commission asset; `None` when there was no trade.
    pub commission_asset: Option<String>,
    /// `T`: transaction time.
    pub transaction_time: i64,
    /// `t`: trade id, `-1` when not a trade.
    pub trade_id: i64,
    /// `I`: execution id; absent in some recordings.
    pub execution_id: Option<i64>,
    /// `m`: whether this trade was the maker side.
    pub is_maker: bool,
    /// `O`: order creation time.
    pub order_creation_time: i64,
    /// `Z`: cumulative quote quantity transacted.
    pub cumulative_quote_qty: Decimal,
    /// `Y`: last quote quantity transacted (`L × l`); absent in some recordings.
    pub last_quote_qty: Option<Decimal>,
    /// `Q`: quote order quantity (zero when none); absent in some recordings.
    pub quote_order_qty: Option<Decimal>,
    /// `W`: working time (once on the book).
    pub working_time: Option<i64>,
    /// The event object's exact JSON text.
    pub raw: String,
}

impl ExecutionReport {
    /// The ORDER's client order id: `C` when non-empty (a cancel names the order it
    /// cancels there), else `c`. May be empty (orders placed without one in some
    /// recordings).
    pub fn order_client_order_id(&self) -> &str {
        if self.orig_client_order_id.is_empty() {
            &self.client_order_id
        } else {
            &self.orig_client_order_id
        }
    }

    /// The trade id when this report is a trade (`t >= 0`).
    pub fn trade(&self) -> Option<i64> {
        (self.trade_id >= 0).then_some(self.trade_id)
    }

    /// The key that makes this report unique among the symbol's events (the `executions`
    /// table's `event_key`): `trade:<t>` for a trade (the same key REST `myTrades` gives
    /// the fill), else `exec:<I>`, else `event:<i>:<x>:<X>:<T>:<z>`.
    pub fn event_key(&self) -> String {
        if let Some(t) = self.trade() {
            trade_event_key(t)
        } else if let Some(i) = self.execution_id {
            format!("exec:{i}")
        } else {
            format!(
                "event:{}:{}:{}:{}:{}",
                self.order_id,
                self.execution_type,
                self.order_status,
                self.transaction_time,
                self.cumulative_qty
            )
        }
    }
}

/// The `executions.event_key` of trade `trade_id` (`trade:<id>`), from either source.
pub fn trade_event_key(trade_id: i64) -> String {
    format!("trade:{trade_id}")
}

/// `outboundAccountPosition` ("Account Update" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream>): current
/// balances of the assets that may have changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPosition {
    /// `E`, ms.
    pub event_time: i64,
    /// `u`: time of the last account update, ms (orders balances by it).
    pub last_update_time: i64,
    /// `B`: asset `a`, free `f`, locked `l`.
    pub balances: Vec<Balance>,
    pub raw: String,
}

/// `balanceUpdate` ("Balance Update" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream>): a deposit,
/// withdrawal or transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceUpdate {
    /// `E`, ms.
    pub event_time: i64,
    /// `a`.
    pub asset: String,
    /// `d`: the change of the balance; negative for a withdrawal.
    pub delta: Decimal,
    /// `T`: clear time, ms.
    pub clear_time: i64,
    pub raw: String,
}

/// `listStatus` (<https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream>):
/// the state of an order list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListStatus {
    /// `E`, ms.
    pub event_time: i64,
    /// `s`.
    pub symbol: Symbol,
    /// `g`.
    pub order_list_id: i64,
    /// `c`: `OCO`, `OTO` …
    pub contingency_type: String,
    /// `l`: `RESPONSE`, `EXEC_STARTED`, `UPDATED`, `ALL_DONE`.
    pub list_status_type: String,
    /// `L`: `EXECUTING`, `ALL_DONE`, `REJECT`.
    pub list_order_status: String,
    /// `r`.
    pub list_reject_reason: String,
    /// `C`.
    pub list_client_order_id: String,
    /// `T`, ms.
    pub transaction_time: i64,
    /// `O`: the list's orders.
    pub orders: Vec<ListOrder>,
    pub raw: String,
}

/// One order of a [`ListStatus`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListOrder {
    /// `s`.
    pub symbol: String,
    /// `i`.
    pub order_id: i64,
    /// `c`.
    pub client_order_id: String,
}

/// A value of one of tradebeat's enums, or the exchange's text when tradebeat does not
/// know it (a time in force such as `GTD`, a new order type): informative values never
/// make an event invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spelled<T> {
    Known(T),
    Other(String),
}

/// An enum with Binance's spelling, for [`Spelled`].
pub trait Spelling: Copy + FromStr {
    /// Binance's spelling.
    fn spelling(self) -> &'static str;
}

impl Spelling for OrderType {
    fn spelling(self) -> &'static str {
        self.as_str()
    }
}

impl Spelling for TimeInForce {
    fn spelling(self) -> &'static str {
        self.as_str()
    }
}

impl<T: Spelling> Spelled<T> {
    /// Parses `text` exactly as Binance spells it (upper case); anything else is kept as
    /// text.
    pub fn parse(text: &str) -> Spelled<T> {
        match T::from_str(text) {
            Ok(v) if v.spelling() == text => Spelled::Known(v),
            _ => Spelled::Other(text.to_string()),
        }
    }

    /// The exchange's text.
    pub fn as_str(&self) -> &str {
        match self {
            Spelled::Known(v) => v.spelling(),
            Spelled::Other(s) => s,
        }
    }

    /// The value, when tradebeat knows it.
    pub fn known(&self) -> Option<T> {
        match self {
            Spelled::Known(v) => Some(*v),
            Spelled::Other(_) => None,
        }
    }
}

impl<T: Spelling> fmt::Display for Spelled<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The execution type `x` of an execution report ("Execution types" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/enums>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionType {
    New,
    Canceled,
    /// The order was amended.
    Replaced,
    Rejected,
    Trade,
    Expired,
    /// Expired because of self-trade prevention.
    TradePrevention,
    /// A value not in the documentation (e.g. `CALCULATED` in a recording), as sent.
    Other(String),
}

impl ExecutionType {
    /// Binance's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ExecutionType::New => "NEW",
            ExecutionType::Canceled => "CANCELED",
            ExecutionType::Replaced => "REPLACED",
            ExecutionType::Rejected => "REJECTED",
            ExecutionType::Trade => "TRADE",
            ExecutionType::Expired => "EXPIRED",
            ExecutionType::TradePrevention => "TRADE_PREVENTION",
            ExecutionType::Other(s) => s,
        }
    }

    /// From Binance's spelling; never fails (unknown values are [`ExecutionType::Other`]).
    pub fn parse(text: &str) -> ExecutionType {
        match text {
            "NEW" => ExecutionType::New,
            "CANCELED" => ExecutionType::Canceled,
            "REPLACED" => ExecutionType::Replaced,
            "REJECTED" => ExecutionType::Rejected,
            "TRADE" => ExecutionType::Trade,
            "EXPIRED" => ExecutionType::Expired,
            "TRADE_PREVENTION" => ExecutionType::TradePrevention,
            other => ExecutionType::Other(other.to_string()),
        }
    }
}

impl fmt::Display for ExecutionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event type names (`e`) of the user-data events, as stored in `user_events.event_type`.
pub const EXECUTION_REPORT: &str = "executionReport";
pub const ACCOUNT_POSITION: &str = "outboundAccountPosition";
pub const BALANCE_UPDATE: &str = "balanceUpdate";
pub const LIST_STATUS: &str = "listStatus";
pub const STREAM_TERMINATED: &str = "eventStreamTerminated";
pub const SERVER_SHUTDOWN: &str = "serverShutdown";
