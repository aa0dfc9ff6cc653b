//! The WebSocket API (`GET /ws-api/v3`) with the spot user-data stream, as Binance documents
//! it: <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api> ("User Data
//! Stream requests", "Rate limits") and
//! <https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream>.
//!
//! # Requests
//!
//! JSON text frames `{"id": <string|number|null>, "method": "...", "params": {...}}`, answered
//! `{"id", "status": 200, "result": {...}, "rateLimits": [...]}` or
//! `{"id", "status": 4xx, "error": {"code": -XXXX, "msg": "..."}, "rateLimits": [...]}` with
//! Binance's codes (<https://developers.binance.com/docs/binance-spot-api-docs/errors>).
//! `rateLimits` reports the shared per-IP REQUEST_WEIGHT window, which every request is charged
//! to (an upgrade costs 2, as on Binance):
//!
//! | method | weight | result / errors |
//! |---|---|---|
//! | `userDataStream.subscribe.signature` | 2 | `{"subscriptionId": N}` (per-connection counter from 0); `-1102` missing param, 401 `-2015` other key, `-1022` bad signature, `-1021` timestamp, `-1131` recvWindow > 60000, `-2035` already subscribed |
//! | `userDataStream.unsubscribe` | 2 | `eventStreamTerminated` pushed, then `{}`; `-2036` none active |
//! | `session.subscriptions` | 2 | `[{"subscriptionId": N}]` |
//! | `ping` | 1 | `{}` |
//!
//! The signature is HMAC-SHA256 hex with [`crate::SimConfig::api_secret`] over the params
//! without `signature`, sorted by name and joined `k=v&k=v`
//! (`apiKey=…&recvWindow=…&timestamp=…`). Unknown methods get 400 `-1020`, invalid JSON
//! 400 `-1000`, a missing `method` 400 `-1102`; the connection stays open. Over the weight
//! limit: 429 (418 once banned) `-1003`.
//!
//! # Events
//!
//! Every event is pushed to every subscribed connection as its own text frame
//! `{"subscriptionId": N, "event": {...}}` (N = that connection's subscription) and recorded
//! in a bounded log ([`SentEvent`], [`WS_EVENT_LOG_CAPACITY`]) with the number of
//! connections that got it. The order engine emits `executionReport`,
//! `outboundAccountPosition` and `balanceUpdate` (see the `orders` module);
//! `serverShutdown` goes to every connection unwrapped (`{"event": {...}}`).
//!
//! # Keepalive and faults
//!
//! The server sends a ping frame (non-empty payload) every ping interval (20 s) and closes,
//! with a close frame, a connection whose oldest unanswered ping is older than the pong
//! timeout (60 s) or that has lived longer than the maximum lifetime (24 h), as Binance
//! does. A pong answers the ping whose payload it echoes and every older one. Faults: drop
//! every connection without a close frame, silence (connections stay open but nothing is
//! read or sent, not even pongs: a half-open link; the server resumes reading when silence
//! ends), refusing upgrades (HTTP 503) and a forced subscribe error. All knobs are on
//! [`crate::SimHandle`] and apply to open connections at once. Binance's rules: "General API
//! Information" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/general-api-information>.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{
        State,
        ws::{
            CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
        },
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};

use crate::{lock, state::Shared, weights::Admission};

/// Most recent events kept by the event log ([`crate::SimHandle::ws_events`]).
pub const WS_EVENT_LOG_CAPACITY: usize = 100_000;

/// Weight of a WebSocket API connection ("Rate limits" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/rate-limits>).
const CONNECTION_WEIGHT: u32 = 2;
/// Largest `recvWindow`, ms.
const MAX_RECV_WINDOW_MS: f64 = 60_000.0;
/// Default `recvWindow`, ms.
const DEFAULT_RECV_WINDOW_MS: f64 = 5_000.0;
/// Close code for a connection closed by the server's keepalive or lifetime rules.
const CLOSE_POLICY: u16 = 1008;
/// Close code for a normal close (lifetime, server shutdown).
const CLOSE_NORMAL: u16 = 1000;

/// One event frame the simulator pushed (or would have pushed) on the WebSocket API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentEvent {
    /// When it was emitted.
    pub at: Instant,
    /// The subscription id in the frame: the first receiving connection's (`Some(0)` when
    /// nobody received it, the frame a first subscription would have got); `None` for
    /// connection events such as `serverShutdown`, which are not wrapped in a subscription.
    pub subscription_id: Option<u64>,
    /// The whole frame, e.g. `{"subscriptionId":0,"event":{"e":"executionReport",…}}`.
    pub json: String,
    /// How many connections it was sent to (0 while nobody is subscribed or the simulator
    /// is silent: the event is lost for the client, as on Binance).
    pub delivered: usize,
}

/// Runtime keepalive settings and the silence switch, watched by every connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Settings {
    ping_interval: Duration,
    pong_timeout: Duration,
    max_lifetime: Duration,
    silent: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(24 * 3600),
            silent: false,
        }
    }
}

/// What the hub asks a connection task to do.
#[derive(Debug)]
enum Command {
    /// Send this text frame (dropped while silent).
    Text(String),
    /// Drop the socket without a close frame.
    Drop,
    /// Send this text frame, then a close frame, then end.
    Shutdown(String),
}

#[derive(Debug)]
struct Conn {
    tx: mpsc::UnboundedSender<Command>,
    /// The active user-data subscription.
    subscription: Option<u64>,
}

#[derive(Debug)]
struct LogEntry {
    public: SentEvent,
    /// The event object alone, for replays.
    event: Arc<str>,
}

#[derive(Debug, Default)]
struct HubInner {
    next_conn: u64,
    conns: BTreeMap<u64, Conn>,
    log: VecDeque<LogEntry>,
}

/// Every WebSocket API connection, the event log and the WS fault knobs.
#[derive(Debug)]
pub(crate) struct WsHub {
    settings: watch::Sender<Settings>,
    refuse: AtomicBool,
    subscribe_error: Mutex<Option<(u16, i32, String)>>,
    inner: Mutex<HubInner>,
    total: AtomicU64,
    pongs: AtomicU64,
}

impl Default for WsHub {
    fn default() -> WsHub {
        WsHub {
            settings: watch::Sender::new(Settings::default()),
            refuse: AtomicBool::new(false),
            subscribe_error: Mutex::new(None),
            inner: Mutex::default(),
            total: AtomicU64::new(0),
            pongs: AtomicU64::new(0),
        }
    }
}

/// `{"subscriptionId":N,"event":EVENT}` with the event JSON kept verbatim.
fn wrap(subscription_id: u64, event: &str) -> String {
    format!("{{\"subscriptionId\":{subscription_id},\"event\":{event}}}")
}

impl WsHub {
    pub(crate) fn set_ping_interval(&self, every: Duration) {
        self.settings.send_modify(|s| s.ping_interval = every);
    }

    pub(crate) fn set_pong_timeout(&self, timeout: Duration) {
        self.settings.send_modify(|s| s.pong_timeout = timeout);
    }

    pub(crate) fn set_max_lifetime(&self, lifetime: Duration) {
        self.settings.send_modify(|s| s.max_lifetime = lifetime);
    }

    pub(crate) fn set_silent(&self, silent: bool) {
        self.settings.send_modify(|s| s.silent = silent);
    }

    fn silent(&self) -> bool {
        self.settings.borrow().silent
    }

    pub(crate) fn set_refuse(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::Relaxed);
    }

    pub(crate) fn set_subscribe_error(&self, error: Option<(u16, i32, String)>) {
        *lock(&self.subscribe_error) = error;
    }

    pub(crate) fn pongs(&self) -> u64 {
        self.pongs.load(Ordering::Relaxed)
    }

    pub(crate) fn connections_total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub(crate) fn connections_open(&self) -> usize {
        lock(&self.inner).conns.len()
    }

    pub(crate) fn subscriptions_active(&self) -> usize {
        lock(&self.inner)
            .conns
            .values()
            .filter(|c| c.subscription.is_some())
            .count()
    }

    pub(crate) fn events(&self) -> Vec<SentEvent> {
        lock(&self.inner)
            .log
            .iter()
            .map(|e| e.public.clone())
            .collect()
    }

    pub(crate) fn clear_events(&self) {
        lock(&self.inner).log.clear();
    }

    fn record(inner: &mut HubInner, entry: LogEntry) {
        if inner.log.len() == WS_EVENT_LOG_CAPACITY {
            inner.log.pop_front();
        }
        inner.log.push_back(entry);
    }

    /// Pushes an event object (JSON text) to every subscribed connection and logs it.
    pub(crate) fn publish(&self, event: &str) {
        self.publish_shared(Arc::from(event));
    }

    fn publish_shared(&self, event: Arc<str>) {
        let silent = self.silent();
        let mut inner = lock(&self.inner);
        let mut delivered = 0;
        let mut first: Option<u64> = None;
        if !silent {
            for conn in inner.conns.values() {
                if let Some(id) = conn.subscription
                    && conn.tx.send(Command::Text(wrap(id, &event))).is_ok()
                {
                    delivered += 1;
                    first.get_or_insert(id);
                }
            }
        }
        let id = first.unwrap_or(0);
        let entry = LogEntry {
            public: SentEvent {
                at: Instant::now(),
                subscription_id: Some(id),
                json: wrap(id, &event),
                delivered,
            },
            event,
        };
        Self::record(&mut inner, entry);
    }

    /// Pushes the last `n` logged events again, unchanged (re-wrapped for each connection's
    /// current subscription), oldest first.
    pub(crate) fn replay(&self, n: usize) {
        let events: Vec<Arc<str>> = {
            let inner = lock(&self.inner);
            let skip = inner.log.len().saturating_sub(n);
            inner
                .log
                .iter()
                .skip(skip)
                .map(|e| Arc::clone(&e.event))
                .collect()
        };
        for event in events {
            self.publish_shared(event);
        }
    }

    /// Sends `{"event":{"e":"serverShutdown","E":now}}` to every connection, then closes them.
    pub(crate) fn server_shutdown(&self, now_ms: i64) {
        let event = format!("{{\"e\":\"serverShutdown\",\"E\":{now_ms}}}");
        let frame = format!("{{\"event\":{event}}}");
        let silent = self.silent();
        let mut inner = lock(&self.inner);
        let mut delivered = 0;
        for conn in inner.conns.values() {
            if conn.tx.send(Command::Shutdown(frame.clone())).is_ok() && !silent {
                delivered += 1;
            }
        }
        let entry = LogEntry {
            public: SentEvent {
                at: Instant::now(),
                subscription_id: None,
                json: frame,
                delivered,
            },
            event: Arc::from(event),
        };
        Self::record(&mut inner, entry);
    }

    /// Drops every connection without a close frame.
    pub(crate) fn drop_all(&self) {
        for conn in lock(&self.inner).conns.values() {
            let _ = conn.tx.send(Command::Drop);
        }
    }

    fn register(&self) -> (u64, mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = lock(&self.inner);
        let id = inner.next_conn;
        inner.next_conn += 1;
        inner.conns.insert(
            id,
            Conn {
                tx,
                subscription: None,
            },
        );
        self.total.fetch_add(1, Ordering::Relaxed);
        (id, rx)
    }

    fn set_subscription(&self, conn: u64, subscription: Option<u64>) {
        if let Some(c) = lock(&self.inner).conns.get_mut(&conn) {
            c.subscription = subscription;
        }
    }

    /// Logs the `eventStreamTerminated` of `subscription_id` (delivered inline by the
    /// connection) and returns its frame.
    fn terminated(&self, subscription_id: u64, now_ms: i64) -> String {
        let event = format!("{{\"e\":\"eventStreamTerminated\",\"E\":{now_ms}}}");
        let frame = wrap(subscription_id, &event);
        let entry = LogEntry {
            public: SentEvent {
                at: Instant::now(),
                subscription_id: Some(subscription_id),
                json: frame.clone(),
                delivered: 1,
            },
            event: Arc::from(event),
        };
        Self::record(&mut lock(&self.inner), entry);
        frame
    }
}

/// Removes a connection from the hub when its task ends, however it ends.
struct Registration<'a> {
    hub: &'a WsHub,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        lock(&self.hub.inner).conns.remove(&self.id);
    }
}

/// `GET /ws-api/v3`: 503 while upgrades are refused, 429/418 over the weight limit,
/// otherwise the WebSocket upgrade.
pub(crate) async fn upgrade(
    State(sim): State<Arc<Shared>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if sim.ws.refuse.load(Ordering::Relaxed) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        return response;
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    match sim.limiter.admit(CONNECTION_WEIGHT, sim.clock.now_ms()) {
        Admission::Allowed => {}
        Admission::Throttled { .. } => return StatusCode::TOO_MANY_REQUESTS.into_response(),
        Admission::Banned { .. } => return StatusCode::IM_A_TEAPOT.into_response(),
    }
    ws.on_upgrade(move |socket| serve(sim, socket))
}

/// Per-connection user-data session.
#[derive(Debug, Default)]
struct Session {
    next_subscription_id: u64,
    active: Option<u64>,
}

/// Pings sent and not yet answered: (payload, sent at), oldest first.
type Pending = VecDeque<(String, Instant)>;

/// Serves one connection until it closes, is dropped or breaks a keepalive rule.
async fn serve(sim: Arc<Shared>, mut socket: WebSocket) {
    let hub = &sim.ws;
    let (conn, mut commands) = hub.register();
    let _registration = Registration { hub, id: conn };
    let mut settings_rx = hub.settings.subscribe();
    let opened = Instant::now();
    let mut last_ping = opened;
    let mut ping_seq: u64 = 0;
    let mut pending: Pending = VecDeque::new();
    let mut session = Session::default();
    tracing::debug!(conn, "ws-api connection opened");
    loop {
        let s = *settings_rx.borrow_and_update();
        let now = Instant::now();
        let lifetime_end = opened + s.max_lifetime;
        if now >= lifetime_end {
            tracing::debug!(conn, "ws-api connection reached its maximum lifetime");
            if !s.silent {
                close(&mut socket, CLOSE_NORMAL, "connection lifetime exceeded").await;
            }
            break;
        }
        let mut deadline = lifetime_end;
        if !s.silent {
            if let Some((_, at)) = pending.front() {
                if now >= *at + s.pong_timeout {
                    tracing::debug!(conn, "ws-api connection missed its pong");
                    close(&mut socket, CLOSE_POLICY, "pong timeout").await;
                    break;
                }
                deadline = deadline.min(*at + s.pong_timeout);
            }
            if now >= last_ping + s.ping_interval {
                ping_seq += 1;
                let payload = format!("tb{ping_seq}");
                if socket
                    .send(Message::Ping(payload.clone().into()))
                    .await
                    .is_err()
                {
                    break;
                }
                pending.push_back((payload, now));
                last_ping = now;
                if pending.len() == 1 {
                    deadline = deadline.min(now + s.pong_timeout);
                }
            }
            deadline = deadline.min(last_ping + s.ping_interval);
        }
        tokio::select! {
            command = commands.recv() => match command {
                None | Some(Command::Drop) => break,
                Some(Command::Text(text)) => {
                    if !hub.silent() && socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Command::Shutdown(text)) => {
                    if !hub.silent() && socket.send(Message::Text(text.into())).await.is_ok() {
                        close(&mut socket, CLOSE_NORMAL, "server shutdown").await;
                    }
                    break;
                }
            },
            message = socket.recv(), if !s.silent => match message {
                None | Some(Err(_)) => break,
                Some(Ok(Message::Text(text))) => {
                    for frame in handle(&sim, conn, &mut session, text.as_str()) {
                        if socket.send(Message::Text(frame.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let frame = error_frame(&Value::Null, 400, -1000, "Binary frames are not supported.", &sim);
                    if socket.send(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Pong(payload))) => {
                    hub.pongs.fetch_add(1, Ordering::Relaxed);
                    if let Some(i) = pending.iter().position(|(p, _)| p.as_bytes() == &payload[..]) {
                        pending.drain(..=i);
                    }
                }
                // Pings are answered by the WebSocket layer; a close is answered and the
                // next read ends the loop.
                Some(Ok(Message::Ping(_) | Message::Close(_))) => {}
            },
            changed = settings_rx.changed() => {
                if changed.is_err() {
                    break;
                }
                if s.silent && !settings_rx.borrow().silent {
                    // The link is back: keepalive starts afresh.
                    last_ping = Instant::now();
                    pending.clear();
                }
            }
            () = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
    if let Some(id) = session.active {
        tracing::debug!(
            conn,
            subscription_id = id,
            "ws-api subscription ended with its connection"
        );
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// The `rateLimits` array of an answer.
fn rate_limits(sim: &Shared) -> Value {
    json!([{
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": sim.limiter.limit(),
        "count": sim.limiter.used(sim.clock.now_ms()),
    }])
}

fn error_frame(id: &Value, status: u16, code: i32, msg: &str, sim: &Shared) -> String {
    json!({
        "id": id,
        "status": status,
        "error": {"code": code, "msg": msg},
        "rateLimits": rate_limits(sim),
    })
    .to_string()
}

fn ok_frame(id: &Value, result: Value, sim: &Shared) -> String {
    json!({
        "id": id,
        "status": 200,
        "result": result,
        "rateLimits": rate_limits(sim),
    })
    .to_string()
}

/// An error answer: HTTP-like status, Binance code and message.
struct WsError(u16, i32, String);

impl WsError {
    fn bad(code: i32, msg: impl Into<String>) -> WsError {
        WsError(400, code, msg.into())
    }

    fn mandatory(name: &str) -> WsError {
        WsError::bad(
            -1102,
            format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        )
    }
}

/// Answers one request frame; the frames to send, in order.
fn handle(sim: &Shared, conn: u64, session: &mut Session, text: &str) -> Vec<String> {
    let request: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return vec![error_frame(
                &Value::Null,
                400,
                -1000,
                &format!("Invalid JSON: {e}"),
                sim,
            )];
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        let WsError(status, code, msg) = WsError::mandatory("method");
        return vec![error_frame(&id, status, code, &msg, sim)];
    };
    let empty = Map::new();
    let params = match request.get("params") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(_) => {
            let WsError(status, code, msg) = WsError::mandatory("params");
            return vec![error_frame(&id, status, code, &msg, sim)];
        }
    };
    let weight = match method {
        "ping" => 1,
        "userDataStream.subscribe.signature"
        | "userDataStream.unsubscribe"
        | "session.subscriptions" => 2,
        _ => {
            return vec![error_frame(
                &id,
                400,
                -1020,
                "This operation is not supported.",
                sim,
            )];
        }
    };
    let now = sim.clock.now_ms();
    match sim.limiter.admit(weight, now) {
        Admission::Allowed => {}
        Admission::Throttled { limit, .. } => {
            let msg = format!(
                "Too much request weight used; current limit is {limit} request weight per 1 \
                 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."
            );
            return vec![error_frame(&id, 429, -1003, &msg, sim)];
        }
        Admission::Banned { until_ms, .. } => {
            let msg = format!(
                "Way too much request weight used; IP banned until {until_ms}. Please use \
                 WebSocket Streams for live updates to avoid bans."
            );
            return vec![error_frame(&id, 418, -1003, &msg, sim)];
        }
    }
    let mut frames = Vec::new();
    let result = match method {
        "ping" => Ok(json!({})),
        "session.subscriptions" => Ok(Value::from(
            session
                .active
                .map(|s| json!({ "subscriptionId": s }))
                .into_iter()
                .collect::<Vec<_>>(),
        )),
        "userDataStream.subscribe.signature" => subscribe(sim, conn, session, params, now),
        _ => unsubscribe(sim, conn, session, params, now).map(|frame| {
            frames.push(frame);
            json!({})
        }),
    };
    frames.push(match result {
        Ok(result) => ok_frame(&id, result, sim),
        Err(WsError(status, code, msg)) => error_frame(&id, status, code, &msg, sim),
    });
    frames
}

/// A parameter as the signature payload writes it: strings raw, numbers and booleans as
/// JSON; `None` for arrays, objects and null.
fn param_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn subscribe(
    sim: &Shared,
    conn: u64,
    session: &mut Session,
    params: &Map<String, Value>,
    now: i64,
) -> Result<Value, WsError> {
    if let Some((status, code, msg)) = lock(&sim.ws.subscribe_error).clone() {
        return Err(WsError(status, code, msg));
    }
    let text = |name: &str| {
        params
            .get(name)
            .and_then(param_text)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| WsError::mandatory(name))
    };
    let key = text("apiKey")?;
    let signature = text("signature")?;
    let timestamp = text("timestamp")?
        .parse::<i64>()
        .map_err(|_| WsError::mandatory("timestamp"))?;
    if key != sim.trading.api_key() {
        return Err(WsError(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.".into(),
        ));
    }
    let mut pairs = Vec::with_capacity(params.len());
    for (name, value) in params {
        if name == "signature" {
            continue;
        }
        let value = param_text(value).ok_or_else(|| WsError::mandatory(name))?;
        pairs.push(format!("{name}={value}"));
    }
    pairs.sort();
    let payload = pairs.join("&");
    if !sim.trading.signature_matches(&payload, &signature) {
        return Err(WsError::bad(
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    let recv_window = match params.get("recvWindow") {
        None => DEFAULT_RECV_WINDOW_MS,
        Some(v) => param_text(v)
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|w| w.is_finite() && *w >= 0.0)
            .ok_or_else(|| WsError::mandatory("recvWindow"))?,
    };
    if recv_window > MAX_RECV_WINDOW_MS {
        return Err(WsError::bad(-1131, "recvWindow must be less than 60000"));
    }
    if timestamp >= now + 1_000 {
        return Err(WsError::bad(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    #[allow(clippy::cast_precision_loss)] // millisecond differences are far below 2^52
    let age = (now - timestamp) as f64;
    if age > recv_window {
        return Err(WsError::bad(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    if session.active.is_some() {
        return Err(WsError::bad(
            -2035,
            "User Data Stream subscription already active.",
        ));
    }
    let id = session.next_subscription_id;
    session.next_subscription_id += 1;
    session.active = Some(id);
    sim.ws.set_subscription(conn, Some(id));
    tracing::debug!(conn, subscription_id = id, "ws-api user data subscribed");
    Ok(json!({ "subscriptionId": id }))
}

/// Ends the subscription; the `eventStreamTerminated` frame to send before the answer.
fn unsubscribe(
    sim: &Shared,
    conn: u64,
    session: &mut Session,
    params: &Map<String, Value>,
    now: i64,
) -> Result<String, WsError> {
    let wanted = match params.get("subscriptionId") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| WsError::mandatory("subscriptionId"))?,
        ),
    };
    let active = session
        .active
        .filter(|a| wanted.is_none_or(|w| w == *a))
        .ok_or_else(|| WsError::bad(-2036, "User Data Stream subscription not active."))?;
    session.active = None;
    sim.ws.set_subscription(conn, None);
    tracing::debug!(
        conn,
        subscription_id = active,
        "ws-api user data unsubscribed"
    );
    Ok(sim.ws.terminated(active, now))
}
