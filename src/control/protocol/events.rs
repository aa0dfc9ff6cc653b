//! `subscribe` and the event notifications it starts. Part of [`super`] (the one
//! definition of the control protocol); like it, this file imports only the domain.
//!
//! After `subscribe` answered, the same connection receives one JSON-RPC notification per
//! event, until it closes:
//! `{"jsonrpc":"2.0","method":"event","params":{"type":"order","data":{…}}}`. The `data`
//! of each type is the view the query methods use for the same rows ([`BeatView`],
//! [`OrderView`] …). A subscriber that fell too far behind gets
//! `{"type":"lagged","data":{"missed":N}}` in place of the `N` events it lost. Times are
//! ms since the Unix epoch, UTC; prices and quantities are decimal strings.

use serde::{Deserialize, Serialize};

use super::{BalanceView, BeatView, JSONRPC_VERSION, KlineView, Method, OrderView};
use crate::domain::{Interval, Market, Symbol};

/// `subscribe`: the connection then receives `event` notifications of the chosen types as
/// they are committed, until it closes. Only on the control socket (a connection that
/// stays open); the HTTP `/rpc` answers `-32007`. A subscribed connection is never closed
/// as idle, and may still send requests.
pub struct Subscribe;
impl Method for Subscribe {
    const NAME: &'static str = "subscribe";
    type Params = SubscribeParams;
    type Result = Subscribed;
}

/// The method name of every notification.
pub const EVENT_METHOD: &str = "event";

/// The event types one can subscribe to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EventName {
    /// A beat committed (its `heartbeats` row).
    Beat,
    /// Closed candles a beat committed, one notification per symbol and interval.
    Kline,
    /// An order's row inserted or changed.
    Order,
    /// A fill (or another execution report) stored.
    Execution,
    /// A balance changed.
    Balance,
    /// A futures position changed (an `ACCOUNT_UPDATE` of a futures user-data stream).
    Position,
    /// An action of the daemon (reserved: nothing publishes it yet).
    Action,
}

impl EventName {
    /// Every name, in documentation order.
    pub const ALL: [EventName; 7] = [
        EventName::Beat,
        EventName::Kline,
        EventName::Order,
        EventName::Execution,
        EventName::Balance,
        EventName::Position,
        EventName::Action,
    ];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Beat => "beat",
            EventName::Kline => "kline",
            EventName::Order => "order",
            EventName::Execution => "execution",
            EventName::Balance => "balance",
            EventName::Position => "position",
            EventName::Action => "action",
        }
    }
}

impl std::str::FromStr for EventName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventName::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = EventName::ALL.iter().map(|n| n.as_str()).collect();
                format!("unknown event {s:?}: events are {}", names.join(", "))
            })
    }
}

/// `subscribe` parameters. An unknown name is refused with `-32602`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeParams {
    /// The types wanted; empty or absent: all of them.
    #[serde(default)]
    pub events: Vec<EventName>,
}

/// `subscribe` result: the types this connection now receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub events: Vec<EventName>,
}

/// One notification line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventNotification {
    /// Always [`JSONRPC_VERSION`].
    pub jsonrpc: String,
    /// Always [`EVENT_METHOD`].
    pub method: String,
    pub params: Event,
}

impl EventNotification {
    /// The notification of `event`.
    pub fn new(event: Event) -> EventNotification {
        EventNotification {
            jsonrpc: JSONRPC_VERSION.to_string(),
            method: EVENT_METHOD.to_string(),
            params: event,
        }
    }

    /// The notification as one line, with its `\n`.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_else(|e| {
            format!(r#"{{"jsonrpc":"2.0","method":"event","params":{{"type":"error","data":{{"message":"{e}"}}}}}}"#)
                .into_bytes()
        });
        line.push(b'\n');
        line
    }
}

/// An event: `{"type": …, "data": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum Event {
    /// A committed beat.
    Beat(BeatView),
    /// The closed candles one beat committed for one series.
    Kline(KlineEventView),
    /// An order as stored after the change.
    Order(OrderView),
    /// A stored execution report.
    Execution(ExecutionView),
    /// A balance as stored after the change.
    Balance(BalanceEventView),
    /// An `actions` row as written (one state-changing request and its outcome).
    Action(super::ActionView),
    /// A futures position as stored after the change.
    Position(PositionEventView),
    /// This connection fell behind and lost `missed` events (the oldest ones); what follows
    /// is current again.
    Lagged(LaggedView),
}

impl Event {
    /// The subscription type this event belongs to; `None` for `lagged`, which every
    /// subscriber gets.
    pub fn name(&self) -> Option<EventName> {
        match self {
            Event::Beat(_) => Some(EventName::Beat),
            Event::Kline(_) => Some(EventName::Kline),
            Event::Order(_) => Some(EventName::Order),
            Event::Execution(_) => Some(EventName::Execution),
            Event::Balance(_) => Some(EventName::Balance),
            Event::Action(_) => Some(EventName::Action),
            Event::Position(_) => Some(EventName::Position),
            Event::Lagged(_) => None,
        }
    }
}

/// `kline` data: one series' new closed candles, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KlineEventView {
    pub market: Market,
    pub symbol: Symbol,
    pub interval: Interval,
    pub klines: Vec<KlineView>,
}

/// `execution` data: one `executions` row (an execution report or a fill from REST).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionView {
    /// tradebeat's id of the row.
    pub id: i64,
    pub market: Market,
    pub symbol: String,
    /// `stream` or `rest`.
    pub source: String,
    /// The exchange's order id.
    pub order_id: i64,
    pub client_order_id: Option<String>,
    /// Binance's execution type (`NEW`, `TRADE`, `CANCELED` …).
    pub execution_type: String,
    /// The order's status after it.
    pub order_status: Option<String>,
    /// This fill's quantity and price; decimal strings.
    pub last_qty: Option<String>,
    pub last_price: Option<String>,
    /// The order's executed quantity after it.
    pub cumulative_qty: Option<String>,
    pub commission: Option<String>,
    pub commission_asset: Option<String>,
    /// The exchange's trade id (fills only).
    pub trade_id: Option<i64>,
    /// The exchange's time of the execution, ms.
    pub transaction_time: i64,
}

/// `balance` data: the market and the balance as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceEventView {
    pub market: Market,
    #[serde(flatten)]
    pub balance: BalanceView,
}

/// `position` data: one `positions` row (a futures position as the exchange last
/// reported it). Decimals are strings; quantities signed (negative: short), in contracts
/// on `coinm` and in the base asset on `usdm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionEventView {
    pub market: Market,
    pub symbol: Symbol,
    /// `BOTH`, `LONG` or `SHORT`.
    pub position_side: String,
    pub quantity: String,
    pub entry_price: String,
    pub break_even_price: Option<String>,
    pub unrealized_pnl: String,
    /// `None` until a report carried it.
    pub leverage: Option<u32>,
    /// `ISOLATED` or `CROSSED`, when known.
    pub margin_type: Option<String>,
    pub isolated_wallet: Option<String>,
    /// The exchange's time of the report, ms.
    pub updated_at: i64,
}

/// `lagged` data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaggedView {
    /// Events this connection lost.
    pub missed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_has_the_documented_shape() {
        let line = EventNotification::new(Event::Lagged(LaggedView { missed: 7 })).to_line();
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"jsonrpc":"2.0","method":"event",
                "params":{"type":"lagged","data":{"missed":7}}})
        );
        let back: EventNotification = serde_json::from_slice(&line).unwrap();
        assert_eq!(back.params, Event::Lagged(LaggedView { missed: 7 }));
    }

    #[test]
    fn unknown_event_names_are_refused() {
        let err = serde_json::from_value::<SubscribeParams>(
            serde_json::json!({"events": ["beat", "tick"]}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("tick"), "{err}");
        assert!("tick".parse::<EventName>().is_err());
        assert_eq!("kline".parse::<EventName>(), Ok(EventName::Kline));
    }
}
