//! The spot user-data events (BINANCE.md §6.3) as tradebeat's types, and their parsing
//! from one event object's JSON text.
//!
//! Keys are case-sensitive (`c`/`C`, `p`/`P`, `l`/`L`, `z`/`Z` …), so every wire field
//! carries an explicit `#[serde(rename)]`. Decimals are parsed exactly
//! ([`parse_decimal`]), never through a float. Keys tradebeat does not use are ignored.
//! An enum value that is only informative (a new order type or time in force, a new
//! execution type) is kept as its text ([`Spelled::Other`], [`ExecutionType::Other`]);
//! a value the store acts on (side, order status, a decimal, an id) that does not parse
//! makes the whole event [`UserDataEvent::Invalid`]: it is kept raw, never half-applied.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::orders::{Balance, OrderStatus, OrderType, Side, TimeInForce, parse_decimal};
use crate::types::Symbol;

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

/// `executionReport` (BINANCE.md §6.3): one change of one order.
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

/// `outboundAccountPosition` (BINANCE.md §6.3): current balances of the assets that may
/// have changed.
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

/// `balanceUpdate` (BINANCE.md §6.3): a deposit, withdrawal or transfer.
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

/// `listStatus` (BINANCE.md §6.3): the state of an order list.
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

/// The execution type `x` of an execution report (BINANCE.md §4.4).
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

// ---------------------------------------------------------------------------------------
// Parsing.

pub(crate) const EXECUTION_REPORT: &str = "executionReport";
pub(crate) const ACCOUNT_POSITION: &str = "outboundAccountPosition";
pub(crate) const BALANCE_UPDATE: &str = "balanceUpdate";
pub(crate) const LIST_STATUS: &str = "listStatus";
pub(crate) const STREAM_TERMINATED: &str = "eventStreamTerminated";
pub(crate) const SERVER_SHUTDOWN: &str = "serverShutdown";

/// What every event has: its type and (usually) its time.
#[derive(Deserialize)]
pub(crate) struct Head<'a> {
    #[serde(rename = "e", borrow)]
    pub(crate) event_type: Cow<'a, str>,
    #[serde(rename = "E", borrow, default)]
    pub(crate) event_time: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct WireExecutionReport<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "s", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "c", borrow)]
    client_order_id: Cow<'a, str>,
    #[serde(rename = "S", borrow)]
    side: Cow<'a, str>,
    #[serde(rename = "o", borrow)]
    order_type: Cow<'a, str>,
    #[serde(rename = "f", borrow)]
    time_in_force: Cow<'a, str>,
    #[serde(rename = "q", borrow)]
    quantity: Cow<'a, str>,
    #[serde(rename = "p", borrow)]
    price: Cow<'a, str>,
    #[serde(rename = "P", borrow)]
    stop_price: Cow<'a, str>,
    #[serde(rename = "g", default)]
    order_list_id: Option<i64>,
    #[serde(rename = "C", default)]
    orig_client_order_id: Option<String>,
    #[serde(rename = "x", borrow)]
    execution_type: Cow<'a, str>,
    #[serde(rename = "X", borrow)]
    order_status: Cow<'a, str>,
    #[serde(rename = "r", borrow)]
    reject_reason: Cow<'a, str>,
    #[serde(rename = "i")]
    order_id: i64,
    #[serde(rename = "l", borrow)]
    last_qty: Cow<'a, str>,
    #[serde(rename = "z", borrow)]
    cumulative_qty: Cow<'a, str>,
    #[serde(rename = "L", borrow)]
    last_price: Cow<'a, str>,
    #[serde(rename = "n", borrow)]
    commission: Cow<'a, str>,
    #[serde(rename = "N", default)]
    commission_asset: Option<String>,
    #[serde(rename = "T")]
    transaction_time: i64,
    #[serde(rename = "t")]
    trade_id: i64,
    #[serde(rename = "I", default)]
    execution_id: Option<i64>,
    #[serde(rename = "m")]
    is_maker: bool,
    #[serde(rename = "O")]
    order_creation_time: i64,
    #[serde(rename = "Z", borrow)]
    cumulative_quote_qty: Cow<'a, str>,
    #[serde(rename = "Y", default)]
    last_quote_qty: Option<String>,
    #[serde(rename = "Q", default)]
    quote_order_qty: Option<String>,
    #[serde(rename = "W", default)]
    working_time: Option<i64>,
}

#[derive(Deserialize)]
struct WireAccountPosition<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "u")]
    last_update_time: i64,
    #[serde(rename = "B", borrow)]
    balances: Vec<WireBalance<'a>>,
}

#[derive(Deserialize)]
struct WireBalance<'a> {
    #[serde(rename = "a", borrow)]
    asset: Cow<'a, str>,
    #[serde(rename = "f", borrow)]
    free: Cow<'a, str>,
    #[serde(rename = "l", borrow)]
    locked: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WireBalanceUpdate<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "a", borrow)]
    asset: Cow<'a, str>,
    #[serde(rename = "d", borrow)]
    delta: Cow<'a, str>,
    #[serde(rename = "T")]
    clear_time: i64,
}

#[derive(Deserialize)]
struct WireListStatus<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "s", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "g")]
    order_list_id: i64,
    #[serde(rename = "c")]
    contingency_type: String,
    #[serde(rename = "l")]
    list_status_type: String,
    #[serde(rename = "L")]
    list_order_status: String,
    #[serde(rename = "r")]
    list_reject_reason: String,
    #[serde(rename = "C")]
    list_client_order_id: String,
    #[serde(rename = "T")]
    transaction_time: i64,
    #[serde(rename = "O")]
    orders: Vec<WireListOrder>,
}

#[derive(Deserialize)]
struct WireListOrder {
    #[serde(rename = "s")]
    symbol: String,
    #[serde(rename = "i")]
    order_id: i64,
    #[serde(rename = "c")]
    client_order_id: String,
}

#[derive(Deserialize)]
struct WireConnectionEvent {
    #[serde(rename = "E")]
    event_time: i64,
}

/// Parses one event object (`raw`, its exact text) whose head is `head`. Never fails:
/// what does not parse is [`UserDataEvent::Invalid`], an unknown type
/// [`UserDataEvent::Unknown`].
pub(crate) fn parse_event(head: Head<'_>, raw: &str) -> UserDataEvent {
    let parsed = match head.event_type.as_ref() {
        EXECUTION_REPORT => serde_json::from_str::<WireExecutionReport<'_>>(raw)
            .map_err(|e| e.to_string())
            .and_then(|w| execution_report(w, raw).map(UserDataEvent::ExecutionReport)),
        ACCOUNT_POSITION => serde_json::from_str::<WireAccountPosition<'_>>(raw)
            .map_err(|e| e.to_string())
            .and_then(|w| account_position(w, raw).map(UserDataEvent::AccountPosition)),
        BALANCE_UPDATE => serde_json::from_str::<WireBalanceUpdate<'_>>(raw)
            .map_err(|e| e.to_string())
            .and_then(|w| balance_update(w, raw).map(UserDataEvent::BalanceUpdate)),
        LIST_STATUS => serde_json::from_str::<WireListStatus<'_>>(raw)
            .map_err(|e| e.to_string())
            .and_then(|w| list_status(w, raw).map(UserDataEvent::ListStatus)),
        STREAM_TERMINATED => serde_json::from_str::<WireConnectionEvent>(raw)
            .map(|w| UserDataEvent::StreamTerminated {
                event_time: w.event_time,
            })
            .map_err(|e| e.to_string()),
        SERVER_SHUTDOWN => serde_json::from_str::<WireConnectionEvent>(raw)
            .map(|w| UserDataEvent::ServerShutdown {
                event_time: w.event_time,
            })
            .map_err(|e| e.to_string()),
        _ => {
            return UserDataEvent::Unknown {
                event_time: head_time(&head),
                event_type: head.event_type.into_owned(),
                raw: raw.to_string(),
            };
        }
    };
    parsed.unwrap_or_else(|error| UserDataEvent::Invalid {
        event_time: head_time(&head),
        event_type: head.event_type.into_owned(),
        raw: raw.to_string(),
        error,
    })
}

fn head_time(head: &Head<'_>) -> Option<i64> {
    head.event_time.and_then(|t| t.get().parse().ok())
}

/// A decimal field, the error naming its key.
fn dec(key: &str, text: &str) -> Result<Decimal, String> {
    parse_decimal(text).map_err(|e| format!("field `{key}`: {e}"))
}

fn symbol(key: &str, text: &str) -> Result<Symbol, String> {
    text.parse().map_err(|e| format!("field `{key}`: {e}"))
}

fn execution_report(w: WireExecutionReport<'_>, raw: &str) -> Result<ExecutionReport, String> {
    let order_status = match w.order_status.parse::<OrderStatus>() {
        Ok(s) if !s.is_local() => s,
        _ => {
            return Err(format!(
                "field `X`: unknown order status {:?}",
                w.order_status
            ));
        }
    };
    Ok(ExecutionReport {
        event_time: w.event_time,
        symbol: symbol("s", &w.symbol)?,
        client_order_id: w.client_order_id.into_owned(),
        side: match w.side.as_ref() {
            "BUY" => Side::Buy,
            "SELL" => Side::Sell,
            other => return Err(format!("field `S`: invalid side {other:?}")),
        },
        order_type: Spelled::parse(&w.order_type),
        time_in_force: Spelled::parse(&w.time_in_force),
        quantity: dec("q", &w.quantity)?,
        price: dec("p", &w.price)?,
        stop_price: dec("P", &w.stop_price)?,
        order_list_id: w.order_list_id,
        orig_client_order_id: w.orig_client_order_id.unwrap_or_default(),
        execution_type: ExecutionType::parse(&w.execution_type),
        order_status,
        reject_reason: w.reject_reason.into_owned(),
        order_id: w.order_id,
        last_qty: dec("l", &w.last_qty)?,
        cumulative_qty: dec("z", &w.cumulative_qty)?,
        last_price: dec("L", &w.last_price)?,
        commission: dec("n", &w.commission)?,
        commission_asset: w.commission_asset,
        transaction_time: w.transaction_time,
        trade_id: w.trade_id,
        execution_id: w.execution_id,
        is_maker: w.is_maker,
        order_creation_time: w.order_creation_time,
        cumulative_quote_qty: dec("Z", &w.cumulative_quote_qty)?,
        last_quote_qty: w.last_quote_qty.map(|s| dec("Y", &s)).transpose()?,
        quote_order_qty: w.quote_order_qty.map(|s| dec("Q", &s)).transpose()?,
        working_time: w.working_time,
        raw: raw.to_string(),
    })
}

fn account_position(w: WireAccountPosition<'_>, raw: &str) -> Result<AccountPosition, String> {
    let balances = w
        .balances
        .into_iter()
        .map(|b| {
            Ok(Balance {
                asset: asset("B[].a", b.asset)?,
                free: dec("B[].f", &b.free)?,
                locked: dec("B[].l", &b.locked)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(AccountPosition {
        event_time: w.event_time,
        last_update_time: w.last_update_time,
        balances,
        raw: raw.to_string(),
    })
}

fn balance_update(w: WireBalanceUpdate<'_>, raw: &str) -> Result<BalanceUpdate, String> {
    Ok(BalanceUpdate {
        event_time: w.event_time,
        asset: asset("a", w.asset)?,
        delta: dec("d", &w.delta)?,
        clear_time: w.clear_time,
        raw: raw.to_string(),
    })
}

fn list_status(w: WireListStatus<'_>, raw: &str) -> Result<ListStatus, String> {
    Ok(ListStatus {
        event_time: w.event_time,
        symbol: symbol("s", &w.symbol)?,
        order_list_id: w.order_list_id,
        contingency_type: w.contingency_type,
        list_status_type: w.list_status_type,
        list_order_status: w.list_order_status,
        list_reject_reason: w.list_reject_reason,
        list_client_order_id: w.list_client_order_id,
        transaction_time: w.transaction_time,
        orders: w
            .orders
            .into_iter()
            .map(|o| ListOrder {
                symbol: o.symbol,
                order_id: o.order_id,
                client_order_id: o.client_order_id,
            })
            .collect(),
        raw: raw.to_string(),
    })
}

/// An asset name: 1 to 20 letters or digits (`BTC`, `1000SATS`), as Binance spells them.
fn asset(key: &str, text: Cow<'_, str>) -> Result<String, String> {
    let valid = (1..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric());
    if valid {
        Ok(text.into_owned())
    } else {
        Err(format!(
            "field `{key}`: invalid asset {text:?}: expected 1 to 20 letters or digits"
        ))
    }
}
