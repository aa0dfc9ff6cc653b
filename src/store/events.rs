//! What the store committed, told to whoever listens: the event bus behind the control
//! socket's `subscribe`.
//!
//! The store is the one place every write goes through, so it is also the one place that
//! knows what was committed. Each write that matters to a subscriber (a beat, an order row,
//! a fill, a balance) publishes a [`StoreEvent`] on the store's [`EventBus`] right AFTER its
//! transaction committed, never before, so a subscriber never hears of a row that a
//! rollback took back.
//!
//! The bus is a bounded [`tokio::sync::broadcast`] channel of [`EVENT_BUS_CAPACITY`]
//! events. Publishing never waits: `send` writes into the ring buffer and returns; a
//! receiver that fell more than the capacity behind loses the oldest events and learns how
//! many on its next receive (`RecvError::Lagged`). So no subscriber, however slow, can block
//! a writer. When nobody listens, writes do not even read back what they would publish
//! ([`EventBus::has_subscribers`]).

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, params};
use tokio::sync::broadcast;

use super::orders::{order_by_client_id_tx, order_by_exchange_id_tx};
use super::user_data::balances_tx;
use super::{ActionRow, BalanceRow, ExecutionRow, HeartbeatRow, OrderRow, StoreError};
use crate::domain::{FuturesEvent, Interval, Kline, Market, Position, Symbol, UserDataEvent};

/// Events the bus holds for its slowest receiver before that receiver lags.
pub const EVENT_BUS_CAPACITY: usize = 4096;

/// One committed change, as stored.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreEvent {
    /// A beat's `heartbeats` row (its data committed with it).
    Beat(HeartbeatRow),
    /// The closed candles one beat committed for one series (backfill pages are not
    /// published: they are history, not news).
    Klines(KlineBatch),
    /// An `orders` row after it was inserted or changed.
    Order(OrderRow),
    /// A new `executions` row (a fill, or another execution report of an order).
    Execution { market: Market, row: ExecutionRow },
    /// A `balances` row after it changed.
    Balance { market: Market, row: BalanceRow },
    /// An `actions` row, as inserted (with its id).
    Action(ActionRow),
    /// A `positions` row after a futures user-data event changed it.
    Position(Position),
}

/// The candles of one series committed by one beat.
#[derive(Debug, Clone, PartialEq)]
pub struct KlineBatch {
    pub market: Market,
    pub symbol: Symbol,
    pub interval: Interval,
    /// Oldest first.
    pub klines: Vec<Kline>,
}

/// The store's event bus (see the module docs). Cheap to clone; clones share the channel.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<StoreEvent>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(EVENT_BUS_CAPACITY)
    }
}

impl EventBus {
    /// A bus holding up to `capacity` events for its slowest receiver (at least 1).
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus { tx }
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoreEvent>> {
        self.tx.subscribe()
    }

    /// Whether any receiver exists (writers skip reading back what nobody would hear).
    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Publishes `event` to every receiver. Never waits; with no receiver it is dropped.
    pub fn publish(&self, event: StoreEvent) {
        let _ = self.tx.send(Arc::new(event));
    }

    /// Publishes each of `events`, in order.
    pub fn publish_all(&self, events: Vec<StoreEvent>) {
        for event in events {
            self.publish(event);
        }
    }
}

/// The symbol and market of each `symbols.id` in `ids`.
pub(super) fn symbol_names(
    conn: &Connection,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, (Market, Symbol)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT market, symbol FROM symbols WHERE id = ?1")?;
    let mut out = HashMap::new();
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        let (market, symbol): (String, String) =
            stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let market = market
            .parse::<Market>()
            .map_err(|e| StoreError::Corrupt(format!("symbols.market: {e}")))?;
        let symbol = symbol
            .parse::<Symbol>()
            .map_err(|e| StoreError::Corrupt(format!("symbols.symbol: {e}")))?;
        out.insert(id, (market, symbol));
    }
    Ok(out)
}

/// What a batch of user-data events touches, read before and after it is applied (inside
/// its transaction), to publish what changed once it committed.
pub(super) struct UserDataSnapshot {
    max_execution_id: i64,
    orders: HashMap<i64, OrderRow>,
    balances: HashMap<String, BalanceRow>,
    /// The market's positions, read only when a futures account update is in the batch.
    positions: Option<Vec<Position>>,
}

impl UserDataSnapshot {
    /// Reads the state `events` may change.
    pub(super) fn before(
        conn: &Connection,
        market: Market,
        events: &[UserDataEvent],
    ) -> Result<UserDataSnapshot, StoreError> {
        let mut orders = HashMap::new();
        for row in touched_orders(conn, market, events)? {
            orders.insert(row.id, row);
        }
        let account_updates = events.iter().any(|e| {
            matches!(e, UserDataEvent::Futures(FuturesEvent::AccountUpdate(a)) if !a.positions.is_empty())
        });
        Ok(UserDataSnapshot {
            max_execution_id: max_execution_id(conn)?,
            orders,
            balances: balance_map(conn, market)?,
            positions: match account_updates {
                true => Some(super::positions::positions_of_market_tx(conn, market)?),
                false => None,
            },
        })
    }

    /// What changed since [`UserDataSnapshot::before`]: new executions, changed orders,
    /// changed balances, in that order.
    pub(super) fn changes(
        &self,
        conn: &Connection,
        market: Market,
        events: &[UserDataEvent],
    ) -> Result<Vec<StoreEvent>, StoreError> {
        let mut out = executions_after(conn, self.max_execution_id)?;
        let mut seen = std::collections::HashSet::new();
        for row in touched_orders(conn, market, events)? {
            if seen.insert(row.id) && self.orders.get(&row.id) != Some(&row) {
                out.push(StoreEvent::Order(row));
            }
        }
        out.extend(balance_changes(conn, market, &self.balances)?);
        if let Some(before) = &self.positions {
            for p in super::positions::positions_of_market_tx(conn, market)? {
                if !before.contains(&p) {
                    out.push(StoreEvent::Position(p));
                }
            }
        }
        Ok(out)
    }
}

/// The balances of `market` by asset.
pub(super) fn balance_map(
    conn: &Connection,
    market: Market,
) -> Result<HashMap<String, BalanceRow>, StoreError> {
    Ok(balances_tx(conn, market)?
        .into_iter()
        .map(|b| (b.asset.clone(), b))
        .collect())
}

/// The balances of `market` that differ from `before`, as events.
pub(super) fn balance_changes(
    conn: &Connection,
    market: Market,
    before: &HashMap<String, BalanceRow>,
) -> Result<Vec<StoreEvent>, StoreError> {
    Ok(balances_tx(conn, market)?
        .into_iter()
        .filter(|b| before.get(&b.asset) != Some(b))
        .map(|row| StoreEvent::Balance { market, row })
        .collect())
}

/// The order rows the execution reports of `events` name (by exchange order id, else by
/// the order's client order id); absent rows are left out.
fn touched_orders(
    conn: &Connection,
    market: Market,
    events: &[UserDataEvent],
) -> Result<Vec<OrderRow>, StoreError> {
    let mut out = Vec::new();
    for event in events {
        let (symbol, order_id, client_order_id) = match event {
            UserDataEvent::ExecutionReport(r) => {
                (&r.symbol, Some(r.order_id), r.order_client_order_id())
            }
            UserDataEvent::Futures(FuturesEvent::OrderTradeUpdate(u)) => {
                (&u.symbol, Some(u.order_id), u.client_order_id.as_str())
            }
            UserDataEvent::Futures(FuturesEvent::AlgoUpdate(a)) => {
                (&a.symbol, None, a.client_algo_id.as_str())
            }
            _ => continue,
        };
        let by_id = match order_id {
            Some(id) => order_by_exchange_id_tx(conn, market, symbol, id)?,
            None => None,
        };
        let row = match by_id {
            Some(row) => Some(row),
            None if !client_order_id.is_empty() => order_by_client_id_tx(conn, client_order_id)?,
            None => None,
        };
        out.extend(row);
    }
    Ok(out)
}

/// The highest `executions.id` (0 when empty).
pub(super) fn max_execution_id(conn: &Connection) -> Result<i64, StoreError> {
    Ok(
        conn.query_row("SELECT COALESCE(MAX(id), 0) FROM executions", [], |r| {
            r.get(0)
        })?,
    )
}

/// The `executions` rows with an id above `after`, oldest first, as events.
pub(super) fn executions_after(
    conn: &Connection,
    after: i64,
) -> Result<Vec<StoreEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, symbol, event_key, source, order_id, client_order_id, execution_type,
                order_status, last_qty, last_price, cumulative_qty, commission,
                commission_asset, trade_id, execution_id, event_time, transaction_time, raw,
                received_at, market
         FROM executions WHERE id > ?1 ORDER BY id",
    )?;
    let rows = stmt
        .query_map(params![after], |r| {
            Ok((
                ExecutionRow {
                    id: r.get(0)?,
                    symbol: r.get(1)?,
                    event_key: r.get(2)?,
                    source: r.get(3)?,
                    order_id: r.get(4)?,
                    client_order_id: r.get(5)?,
                    execution_type: r.get(6)?,
                    order_status: r.get(7)?,
                    last_qty: r.get(8)?,
                    last_price: r.get(9)?,
                    cumulative_qty: r.get(10)?,
                    commission: r.get(11)?,
                    commission_asset: r.get(12)?,
                    trade_id: r.get(13)?,
                    execution_id: r.get(14)?,
                    event_time: r.get(15)?,
                    transaction_time: r.get(16)?,
                    raw: r.get(17)?,
                    received_at: r.get(18)?,
                },
                r.get::<_, String>(19)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(row, market)| {
            let market = market
                .parse::<Market>()
                .map_err(|e| StoreError::Corrupt(format!("executions.market: {e}")))?;
            Ok(StoreEvent::Execution { market, row })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_never_waits_and_a_slow_receiver_learns_what_it_missed() {
        let bus = EventBus::new(4);
        assert!(!bus.has_subscribers());
        // Nobody listens: dropped, no error.
        bus.publish(StoreEvent::Beat(beat(0)));
        let mut rx = bus.subscribe();
        assert!(bus.has_subscribers());
        for t in 1..=10 {
            bus.publish(StoreEvent::Beat(beat(t)));
        }
        match rx.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(n)) => assert_eq!(n, 6),
            other => panic!("expected a lag, got {other:?}"),
        }
        let next = rx.try_recv().expect("the newest four are kept");
        assert_eq!(*next, StoreEvent::Beat(beat(7)));
    }

    fn beat(t: i64) -> HeartbeatRow {
        HeartbeatRow {
            beat_time: t,
            started_at: t,
            finished_at: t,
            symbols_ok: 0,
            symbols_failed: 0,
            klines_written: 0,
            skipped_before: 0,
            trigger: super::super::BeatTrigger::Schedule,
            error: None,
        }
    }
}
