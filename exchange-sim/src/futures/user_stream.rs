//! The futures user-data stream of one market: the listen key and its WebSocket.
//!
//! * `POST {p}/listenKey` (USER_STREAM: API key only, weight 1) answers
//!   `{"listenKey":"<64 characters>"}`; while a key is active it answers the same key and
//!   extends it. `PUT {p}/listenKey` extends the active key (`{"listenKey": …}`), or
//!   answers `-1125` "This listenKey does not exist. …" when there is none.
//!   `DELETE {p}/listenKey` ends it (`{}`) and drops its connections.
//! * A key lives [`DEFAULT_LISTEN_KEY_TTL`] (60 min) after its last POST/PUT
//!   ([`super::FuturesSim::set_listen_key_ttl`] shortens it). When it runs out, every
//!   connection of the key gets `{"e":"listenKeyExpired","E":…,"listenKey":…}` and no
//!   further events; the connection stays open.
//! * `GET /ws/<listenKey>` on the market's listener ([`super::FuturesSim::ws_url`] +
//!   `/ws/<key>`; on USD-M also Binance's routed `/private/ws/<key>`) upgrades to the
//!   stream (an unknown or expired key: HTTP 400 `-1125`;
//!   refused connects: HTTP 503). The server pings every 3 minutes. Every event the order
//!   engine emits goes, as one text frame, to every connection of the active key:
//!   `ORDER_TRADE_UPDATE`, `ACCOUNT_UPDATE`, `ALGO_UPDATE` (USD-M), shaped as Binance
//!   documents them
//!   (<https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams>,
//!   <https://developers.binance.com/docs/derivatives/coin-margined-futures/user-data-streams>).
//!   Events emitted while nobody is connected are lost for the client, as on Binance.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::{
        Path, State,
        ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::{
    sync::{Notify, mpsc, watch},
    time::Instant,
};

use super::{
    FuturesMarket, FuturesShared,
    engine::{Book, fmt_dec, mark_price, qty_decimals},
    trade::check_api_key,
};
use crate::{
    error::{ApiError, json_response},
    lock,
};

/// How long a listen key lives without keepalive (Binance: 60 minutes).
pub const DEFAULT_LISTEN_KEY_TTL: Duration = Duration::from_secs(60 * 60);
/// Most recent user-stream events kept by [`super::FuturesSim::user_events`].
pub const USER_EVENT_LOG_CAPACITY: usize = 100_000;
/// The server's ping interval (Binance: 3 minutes).
const PING_INTERVAL: Duration = Duration::from_secs(180);

#[derive(Debug)]
enum Command {
    Text(Arc<str>),
    Drop,
}

#[derive(Debug)]
struct Conn {
    key: String,
    tx: mpsc::UnboundedSender<Command>,
}

#[derive(Debug)]
struct Key {
    key: String,
    kept_at: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    active: Option<Key>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    log: VecDeque<Value>,
    connections_total: u64,
}

/// The listen keys and user-stream connections of one market.
#[derive(Debug)]
pub(crate) struct UserStreams {
    inner: Mutex<Inner>,
    ttl: Mutex<Duration>,
    refuse: AtomicBool,
    refuse_until: Mutex<Option<Instant>>,
    /// Wakes the market's background task when key deadlines change.
    pub(crate) wake: Notify,
}

impl Default for UserStreams {
    fn default() -> UserStreams {
        UserStreams {
            inner: Mutex::default(),
            ttl: Mutex::new(DEFAULT_LISTEN_KEY_TTL),
            refuse: AtomicBool::new(false),
            refuse_until: Mutex::new(None),
            wake: Notify::new(),
        }
    }
}

fn new_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..64)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

impl UserStreams {
    fn record(inner: &mut Inner, event: Value) {
        if inner.log.len() >= USER_EVENT_LOG_CAPACITY {
            inner.log.pop_front();
        }
        inner.log.push_back(event);
    }

    /// Sends an engine event to the connections of the active key.
    pub(crate) fn publish(&self, event: Value) {
        let mut inner = lock(&self.inner);
        let text: Arc<str> = event.to_string().into();
        if let Some(active) = inner.active.as_ref().map(|k| k.key.clone()) {
            for conn in inner.conns.values().filter(|c| c.key == active) {
                let _ = conn.tx.send(Command::Text(Arc::clone(&text)));
            }
        }
        Self::record(&mut inner, event);
    }

    /// Sends any JSON to every open connection of the market.
    pub(crate) fn push(&self, event: Value) {
        let mut inner = lock(&self.inner);
        let text: Arc<str> = event.to_string().into();
        for conn in inner.conns.values() {
            let _ = conn.tx.send(Command::Text(Arc::clone(&text)));
        }
        Self::record(&mut inner, event);
    }

    pub(crate) fn events(&self) -> Vec<Value> {
        lock(&self.inner).log.iter().cloned().collect()
    }

    pub(crate) fn active_keys(&self) -> Vec<String> {
        lock(&self.inner)
            .active
            .iter()
            .map(|k| k.key.clone())
            .collect()
    }

    pub(crate) fn connections(&self) -> usize {
        lock(&self.inner).conns.len()
    }

    pub(crate) fn connections_total(&self) -> u64 {
        lock(&self.inner).connections_total
    }

    pub(crate) fn set_ttl(&self, ttl: Duration) {
        *lock(&self.ttl) = ttl;
        self.wake.notify_one();
    }

    pub(crate) fn set_refuse(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::Relaxed);
        *lock(&self.refuse_until) = None;
    }

    pub(crate) fn refuse_for(&self, length: Duration) {
        *lock(&self.refuse_until) = Some(Instant::now() + length);
    }

    fn refusing(&self) -> bool {
        self.refuse.load(Ordering::Relaxed)
            || lock(&self.refuse_until).is_some_and(|until| Instant::now() < until)
    }

    /// Ends every connection without a close frame (a network cut).
    pub(crate) fn drop_all(&self) {
        for conn in lock(&self.inner).conns.values() {
            let _ = conn.tx.send(Command::Drop);
        }
    }

    /// When the active key runs out (`None` without one).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let ttl = *lock(&self.ttl);
        lock(&self.inner).active.as_ref().map(|k| k.kept_at + ttl)
    }

    /// Expires the active key if its time is up: `listenKeyExpired` to its connections.
    pub(crate) fn expire_due(&self, now_ms: i64) {
        let ttl = *lock(&self.ttl);
        self.expire(now_ms, |k| Instant::now() >= k.kept_at + ttl);
    }

    /// Expires the active key now, whatever its time.
    pub(crate) fn expire_now(&self, now_ms: i64) {
        self.expire(now_ms, |_| true);
    }

    fn expire(&self, now_ms: i64, due: impl Fn(&Key) -> bool) {
        let mut inner = lock(&self.inner);
        if !inner.active.as_ref().is_some_and(due) {
            return;
        }
        let Some(key) = inner.active.take() else {
            return;
        };
        let event = json!({"e": "listenKeyExpired", "E": now_ms, "listenKey": key.key});
        let text: Arc<str> = event.to_string().into();
        for conn in inner.conns.values().filter(|c| c.key == key.key) {
            let _ = conn.tx.send(Command::Text(Arc::clone(&text)));
        }
        tracing::debug!("listen key expired");
        Self::record(&mut inner, event);
    }

    /// POST: the active key, extended, or a new one.
    fn open(&self) -> String {
        let mut inner = lock(&self.inner);
        let key = match inner.active.as_mut() {
            Some(k) => {
                k.kept_at = Instant::now();
                k.key.clone()
            }
            None => {
                let key = new_key();
                inner.active = Some(Key {
                    key: key.clone(),
                    kept_at: Instant::now(),
                });
                key
            }
        };
        drop(inner);
        self.wake.notify_one();
        key
    }

    /// PUT: extends the active key.
    fn keep_alive(&self) -> Option<String> {
        let mut inner = lock(&self.inner);
        let k = inner.active.as_mut()?;
        k.kept_at = Instant::now();
        let key = k.key.clone();
        drop(inner);
        self.wake.notify_one();
        Some(key)
    }

    /// DELETE: ends the active key and its connections.
    fn close(&self) {
        let mut inner = lock(&self.inner);
        if let Some(key) = inner.active.take() {
            for conn in inner.conns.values().filter(|c| c.key == key.key) {
                let _ = conn.tx.send(Command::Drop);
            }
        }
    }

    fn register(&self, key: &str) -> Option<(u64, mpsc::UnboundedReceiver<Command>)> {
        let mut inner = lock(&self.inner);
        if inner.active.as_ref().is_none_or(|k| k.key != key) {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let id = inner.next_conn;
        inner.next_conn += 1;
        inner.connections_total += 1;
        inner.conns.insert(
            id,
            Conn {
                key: key.to_owned(),
                tx,
            },
        );
        Some((id, rx))
    }

    fn unregister(&self, id: u64) {
        lock(&self.inner).conns.remove(&id);
    }
}

impl FuturesShared {
    /// Sends the engine's queued events to the user streams, in order (called with the
    /// book locked).
    pub(crate) fn flush(&self, book: &mut Book) {
        for event in book.events.drain(..) {
            self.streams.publish(event);
        }
        // The background task evaluates resting orders only while there are some.
        self.streams.wake.notify_one();
    }

    /// A `MARGIN_CALL` event listing the open positions.
    pub(crate) fn margin_call_event(&self, book: &Book, now: i64) -> Value {
        let mut positions = Vec::new();
        let mut cross_wallet = 0;
        for ((symbol, side), p) in &book.positions {
            if p.amount == 0 {
                continue;
            }
            let Some(c) = self.contracts.get(symbol) else {
                continue;
            };
            let mark = mark_price(self, c, now);
            let asset = super::engine::margin_asset(c);
            cross_wallet = book.wallet.get(&asset).copied().unwrap_or(0);
            let notional = super::engine::value_of(c, p.amount.abs(), mark);
            let unrealized = match c.contract_size {
                None => (notional - p.cost) * p.amount.signum(),
                Some(_) => (p.cost - notional) * p.amount.signum(),
            };
            positions.push(json!({
                "s": symbol,
                "ps": side.as_str(),
                "pa": fmt_dec(p.amount, qty_decimals(c)),
                "mt": if book.is_isolated(symbol) { "ISOLATED" } else { "CROSSED" },
                "iw": "0",
                "mp": fmt_dec(mark, 8),
                "up": fmt_dec(unrealized, 8),
                "mm": fmt_dec(notional / 40, 8),
            }));
        }
        let mut event = json!({
            "e": "MARGIN_CALL",
            "E": now,
            "cw": fmt_dec(cross_wallet, 8),
            "p": positions,
        });
        if self.market == FuturesMarket::Coinm {
            event["i"] = Value::from(super::engine::ACCOUNT_ALIAS);
        }
        event
    }
}

type Sim = State<Arc<FuturesShared>>;

fn json_ok(value: &Value) -> Response {
    json_response(StatusCode::OK, value.to_string())
}

fn no_such_key(market: FuturesMarket) -> ApiError {
    ApiError::bad_request(
        -1125,
        format!(
            "This listenKey does not exist. Please use `POST {}/listenKey` to recreate `listenKey`",
            market.prefix()
        ),
    )
}

/// `POST {p}/listenKey` (USER_STREAM).
pub(crate) async fn create_key(State(sim): Sim, headers: HeaderMap) -> Response {
    match check_api_key(&sim, &headers) {
        Ok(()) => json_ok(&json!({"listenKey": sim.streams.open()})),
        Err(e) => e.into_response(),
    }
}

/// `PUT {p}/listenKey` (USER_STREAM).
pub(crate) async fn keep_key(State(sim): Sim, headers: HeaderMap) -> Response {
    if let Err(e) = check_api_key(&sim, &headers) {
        return e.into_response();
    }
    match sim.streams.keep_alive() {
        Some(key) => json_ok(&json!({"listenKey": key})),
        None => no_such_key(sim.market).into_response(),
    }
}

/// `DELETE {p}/listenKey` (USER_STREAM).
pub(crate) async fn delete_key(State(sim): Sim, headers: HeaderMap) -> Response {
    if let Err(e) = check_api_key(&sim, &headers) {
        return e.into_response();
    }
    sim.streams.close();
    json_ok(&json!({}))
}

/// `GET /ws/<listenKey>`: the user-data stream.
pub(crate) async fn upgrade(
    State(sim): Sim,
    Path(key): Path<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if sim.streams.refusing() {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        return response;
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let Some((id, rx)) = sim.streams.register(&key) else {
        return no_such_key(sim.market).into_response();
    };
    ws.on_upgrade(move |socket| serve(sim, id, rx, socket))
}

async fn serve(
    sim: Arc<FuturesShared>,
    id: u64,
    mut rx: mpsc::UnboundedReceiver<Command>,
    mut socket: WebSocket,
) {
    tracing::debug!(market = sim.market.name(), id, "user stream connected");
    let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
    loop {
        tokio::select! {
            command = rx.recv() => match command {
                None | Some(Command::Drop) => break,
                Some(Command::Text(text)) => {
                    if socket.send(Message::Text(text.as_ref().into())).await.is_err() {
                        break;
                    }
                }
            },
            message = socket.recv() => match message {
                None | Some(Err(_) | Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Bytes::from_static(b"tb"))).await.is_err() {
                    break;
                }
            }
        }
    }
    sim.streams.unregister(id);
    tracing::debug!(market = sim.market.name(), id, "user stream closed");
}

/// The market's background task: evaluates resting orders once a second (while there are
/// some) and expires listen keys, until `stopped`.
pub(crate) async fn background(sim: Arc<FuturesShared>, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let deadline = sim.streams.deadline();
        let resting = {
            let book = lock(&sim.engine.book);
            book.orders.iter().any(|o| o.status.is_open())
                || book
                    .algos
                    .iter()
                    .any(|a| a.status == super::engine::AlgoStatus::New)
        };
        tokio::select! {
            _ = tick.tick(), if resting => {
                let now = sim.clock.now_ms();
                let mut book = lock(&sim.engine.book);
                sim.sweep(&mut book, now);
                sim.flush(&mut book);
            }
            () = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {}
            () = sim.streams.wake.notified() => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
        sim.streams.expire_due(sim.clock.now_ms());
    }
    sim.streams.drop_all();
}
