//! `subscribe` on the control socket: a connection's subscription to the store's event
//! bus ([`crate::store::EventBus`]) and the notification lines it turns into.
//!
//! The request is answered by the socket's connection task itself (see
//! [`super::server`]), not by the [`super::Dispatch`] table: the subscription belongs to the
//! connection, which from then on writes a notification line per event of the chosen
//! types, between its answers to further requests. Each connection reads the bus through
//! its own receiver, a bounded view of the bus's ring buffer: a connection that does not
//! keep up loses the oldest events and writes one `lagged` notification with their count
//! instead; the writers that publish never wait for it.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use super::handlers::{beat_view, kline_view};
use super::protocol::{
    self, BalanceEventView, Event, EventName, EventNotification, ExecutionView, Id, KlineEventView,
    LaggedView, Method as _, PositionEventView, Response, Subscribe, SubscribeParams, Subscribed,
};
use crate::store::{EventBus, StoreEvent};

/// One connection's subscription.
pub(crate) struct Subscription {
    rx: broadcast::Receiver<Arc<StoreEvent>>,
    wanted: BTreeSet<EventName>,
}

impl Subscription {
    /// A subscription to `events` (all of them when empty) from now on.
    pub(crate) fn new(bus: &EventBus, events: &[EventName]) -> Subscription {
        let wanted = if events.is_empty() {
            EventName::ALL.into_iter().collect()
        } else {
            events.iter().copied().collect()
        };
        Subscription {
            rx: bus.subscribe(),
            wanted,
        }
    }

    /// The types this subscription delivers.
    pub(crate) fn events(&self) -> Vec<EventName> {
        self.wanted.iter().copied().collect()
    }

    /// The next notification line (with its `\n`) for this connection: an event of a
    /// wanted type, or `lagged` after events were lost. `None` once the bus is gone (the
    /// store was dropped). Cancel-safe: an event not yet returned stays on the bus.
    pub(crate) async fn next_line(&mut self) -> Option<Vec<u8>> {
        loop {
            let event = match self.rx.recv().await {
                Ok(event) => view(&event),
                Err(RecvError::Lagged(missed)) => Event::Lagged(LaggedView { missed }),
                Err(RecvError::Closed) => return None,
            };
            if event.name().is_none_or(|name| self.wanted.contains(&name)) {
                return Some(EventNotification::new(event).to_line());
            }
        }
    }
}

/// When `line` is a `subscribe` request: its response line, and the subscription when it
/// succeeded (a bad `events` is `-32602`). `None` for any other line, which the dispatcher
/// answers.
pub(crate) fn answer_subscribe(
    bus: &EventBus,
    line: &[u8],
) -> Option<(Vec<u8>, Option<Subscription>)> {
    let request = protocol::decode_request(line).ok()?;
    if request.method != Subscribe::NAME {
        return None;
    }
    let id = request.id;
    let answer = match protocol::decode_params::<SubscribeParams>(request.params) {
        Err(error) => (Response::error(id, error).to_line(), None),
        Ok(params) => {
            let subscription = Subscription::new(bus, &params.events);
            let result = Subscribed {
                events: subscription.events(),
            };
            match serde_json::to_value(result) {
                Ok(result) => (Response::result(id, result).to_line(), Some(subscription)),
                Err(e) => (
                    Response::error(
                        Id::Null,
                        protocol::ErrorObject::internal(format!("result not encoded: {e}")),
                    )
                    .to_line(),
                    None,
                ),
            }
        }
    };
    Some(answer)
}

/// The protocol's view of a store event.
fn view(event: &StoreEvent) -> Event {
    match event {
        StoreEvent::Beat(row) => Event::Beat(beat_view(row)),
        StoreEvent::Klines(batch) => Event::Kline(KlineEventView {
            market: batch.market,
            symbol: batch.symbol.clone(),
            interval: batch.interval,
            klines: batch.klines.iter().map(kline_view).collect(),
        }),
        StoreEvent::Order(row) => Event::Order(row.into()),
        StoreEvent::Execution { market, row } => Event::Execution(ExecutionView {
            id: row.id,
            market: *market,
            symbol: row.symbol.clone(),
            source: row.source.clone(),
            order_id: row.order_id,
            client_order_id: row.client_order_id.clone(),
            execution_type: row.execution_type.clone(),
            order_status: row.order_status.clone(),
            last_qty: row.last_qty.clone(),
            last_price: row.last_price.clone(),
            cumulative_qty: row.cumulative_qty.clone(),
            commission: row.commission.clone(),
            commission_asset: row.commission_asset.clone(),
            trade_id: row.trade_id,
            transaction_time: row.transaction_time,
        }),
        StoreEvent::Balance { market, row } => Event::Balance(BalanceEventView {
            market: *market,
            balance: row.into(),
        }),
        StoreEvent::Action(row) => Event::Action(row.clone().into()),
        StoreEvent::Position(p) => Event::Position(PositionEventView {
            market: p.market,
            symbol: p.symbol.clone(),
            position_side: p.position_side.as_str().to_string(),
            quantity: p.quantity.to_string(),
            entry_price: p.entry_price.to_string(),
            break_even_price: p.break_even_price.map(|d| d.to_string()),
            unrealized_pnl: p.unrealized_pnl.to_string(),
            leverage: p.leverage,
            margin_type: p.margin_type.map(|m| m.as_str().to_string()),
            isolated_wallet: p.isolated_wallet.map(|d| d.to_string()),
            updated_at: p.updated_at,
        }),
    }
}
