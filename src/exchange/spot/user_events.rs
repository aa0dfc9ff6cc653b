//! The spot user-data events' JSON: one event object's text parsed into the
//! [`crate::domain`] events. Event shapes:
//! https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream
//!
//! Keys are case-sensitive (`c`/`C`, `p`/`P`, `l`/`L`, `z`/`Z` …), so every wire field
//! carries an explicit `#[serde(rename)]`. Decimals are parsed exactly
//! ([`parse_decimal`]), never through a float. Keys tradebeat does not use are ignored.
//! An enum value that is only informative (a new order type or time in force, a new
//! execution type) is kept as its text ([`Spelled::Other`], [`ExecutionType::Other`]);
//! a value the store acts on (side, order status, a decimal, an id) that does not parse
//! makes the whole event [`UserDataEvent::Invalid`]: it is kept raw, never half-applied.

use std::borrow::Cow;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::domain::{
    ACCOUNT_POSITION, AccountPosition, BALANCE_UPDATE, Balance, BalanceUpdate, EXECUTION_REPORT,
    ExecutionReport, ExecutionType, LIST_STATUS, ListOrder, ListStatus, OrderStatus,
    SERVER_SHUTDOWN, STREAM_TERMINATED, Side, Spelled, Symbol, UserDataEvent, parse_decimal,
};

// ---------------------------------------------------------------------------------------
// Parsing.

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
