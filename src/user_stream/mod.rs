//! The user-data stream: every execution report, balance change and order-list update of
//! the account, from Binance's WebSocket API into SQLite, with nothing lost across
//! reconnects.
//!
//! # Subscription
//!
//! Spot listen keys are retired (Binance's changelog, 2026-01-21:
//! <https://developers.binance.com/docs/binance-spot-api-docs/CHANGELOG>). The stream connects to
//! `exchange.ws_api_url` and sends `userDataStream.subscribe.signature` with `apiKey`,
//! `timestamp`, `recvWindow` and an HMAC-SHA256 signature over those parameters sorted by
//! name (`apiKey=…&recvWindow=…&timestamp=…`, [`crate::exchange::ws_api_payload`]). Events
//! then arrive as text frames `{"subscriptionId": N, "event": {...}}`
//! ([`crate::exchange::spot::parse_frame`]). Binance: "User Data Stream requests" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/user-data-stream-requests>.
//!
//! # Keeping the connection honest
//!
//! Binance's rules for a connection: "General API Information" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/general-api-information>.
//!
//! * The server pings every 20 s and drops a client that has not answered within a minute:
//!   pongs echo the ping's payload (tungstenite queues them; the stream flushes at once).
//! * A connection that delivers no frame at all for [`UserStreamOptions::silence_timeout`]
//!   (default 60 s, three server pings) is half-open or stalled: it is dropped and
//!   replaced. After [`UserStreamOptions::keepalive_after`] of silence the stream sends its
//!   own ping, so a live server answers (a pong) well before that.
//! * Binance closes a connection after 24 h. After [`UserStreamOptions::renew_after`]
//!   (23 h) the stream opens and subscribes a second connection, then closes the first
//!   (make before break: both deliver during the overlap, and the database keeps each event
//!   once). The switch happens half-way between two beats, never during one.
//! * Reconnects wait with exponential backoff and equal jitter ([`crate::retry::reconnect`]:
//!   [`UserStreamOptions::backoff_initial`] doubling up to
//!   [`UserStreamOptions::backoff_max`]), reset once a connection has stayed healthy for a
//!   minute. A rejected key (`-2015`, `-2014`, `-1022`, `-1002`) is logged as an error and
//!   retried only every [`UserStreamOptions::rejected_retry`] (5 min): bad credentials
//!   cause no reconnect storm. `-1021` (clock) re-measures the clock offset and retries at
//!   once. `-2035` (already subscribed) counts as subscribed. `eventStreamTerminated`
//!   subscribes again on the same connection; `serverShutdown` reconnects at once.
//!
//! # Nothing lost (reconciliation)
//!
//! Events that happen while no connection is subscribed are never replayed by Binance.
//! After every (re)connect, once subscribed and before the stream reports `healthy`, it
//! reconciles over REST ([`reconcile`]): every stored order not in a final state is
//! queried, the open orders are listed (orders placed outside tradebeat are recorded too),
//! the fills of every symbol from its checkpoint on are fetched (`myTrades` with `fromId`;
//! the checkpoint moves only once a catch-up stored every fill below it, never with the
//! stream's own fills: [`reconcile`]) and the account's balances are read. All of it is idempotent with what the
//! stream delivers: a fill is one row whichever way it came (keyed by trade id), and an
//! order never moves backwards.
//!
//! # Writing
//!
//! One writer task drains the events into the store, up to [`WRITE_BATCH`] per
//! transaction ([`crate::store::Store::apply_user_data`], run on the writer's own worker
//! thread through [`crate::store::Store::run_here`], without the blocking pool's two thread
//! hand-overs): under a burst, one commit covers many events; alone, an event is committed
//! at once, unless an order's rows are on their way: the order has a caller waiting, so
//! the batch lets them commit first, and waits for a quiet moment after the last of a
//! burst ([`ORDERS_QUIET`]), for at most [`YIELD_TO_ORDERS`] in all
//! ([`crate::store::Store::yield_to_foreground`]), and takes in what arrived meanwhile. A
//! batch the database refuses is retried; if it still cannot be written, the stream asks
//! for a reconciliation, which fetches the same facts again over REST.
//!
//! Logs go to `logs/user_stream.log`: connects, subscriptions, drops, reconciliations.

mod listen_key;
pub mod reconcile;

pub use listen_key::FuturesStreamOptions;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::{BoxFuture, Fuse, FusedFuture as _};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::{BeatSchedule, Clock};
use crate::domain::{
    Credentials, FuturesEvent, Market, StreamState, UserDataEvent, UserStreamStatus,
};
use crate::exchange::futures::{ListenKeyConnection, ListenKeyTimings};
use crate::exchange::{FuturesClient, HmacSha256, SpotClient};
use crate::orders::Orders;
use crate::retry;
use crate::store::{Store, StoreError};

use crate::exchange::spot::ws_api::{
    ConnectError, Connection, Ended, EventSink, Step, WsApiConfig,
};

/// Most events committed in one transaction.
pub const WRITE_BATCH: usize = 512;
/// Events waiting for the writer; beyond this the stream stops reading until it catches
/// up (the socket buffers the rest).
const CHANNEL_CAPACITY: usize = 8192;
/// A connection that stayed healthy this long resets the reconnect backoff.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// The longest a batch waits for pending order answers to be stored first
/// ([`Store::yield_to_foreground`]): the most a burst of orders delays the stream's rows.
const YIELD_TO_ORDERS: Duration = Duration::from_millis(5);
/// How long after the last order answer was stored a batch still waits for the next
/// order of a burst (an answer read, the next request sent): a batch begun in that gap made
/// the next order's pending row wait for it (BENCHMARKS.md, issue 19, "the stream's writes
/// wait for a quiet moment").
const ORDERS_QUIET: Duration = Duration::from_millis(2);
/// Attempts at writing one batch before giving up on it and reconciling instead.
const WRITE_ATTEMPTS: u32 = 3;

/// Timings of the stream. [`Default`] is what production uses; tests shorten them.
#[derive(Debug, Clone)]
pub struct UserStreamOptions {
    /// A connection with no frame for this long is dropped and replaced (default 60 s:
    /// Binance pings every 20 s).
    pub silence_timeout: Duration,
    /// After this long without a frame the stream pings the server itself (default 25 s).
    pub keepalive_after: Duration,
    /// Connecting (TCP, TLS, WebSocket handshake) and subscribing each give up after this
    /// (default 10 s).
    pub connect_timeout: Duration,
    /// First reconnect delay (default 1 s); doubles per failed attempt, each wait drawn
    /// between half and all of it.
    pub backoff_initial: Duration,
    /// Longest reconnect delay (default 60 s).
    pub backoff_max: Duration,
    /// Delay before trying again after the exchange rejected the API key (default 5 min).
    pub rejected_retry: Duration,
    /// Age at which a connection is replaced, before Binance's 24 h limit (default 23 h).
    pub renew_after: Duration,
    /// First delay before a failed reconciliation is tried again (default 2 s, doubling
    /// up to `backoff_max`).
    pub reconcile_retry: Duration,
}

impl Default for UserStreamOptions {
    fn default() -> UserStreamOptions {
        UserStreamOptions {
            silence_timeout: Duration::from_secs(60),
            keepalive_after: Duration::from_secs(25),
            connect_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            rejected_retry: Duration::from_secs(300),
            renew_after: Duration::from_secs(23 * 3600),
            reconcile_retry: Duration::from_secs(2),
        }
    }
}

/// What the daemon and tests see of a running stream.
#[derive(Debug, Clone)]
pub struct UserStreamHandle {
    status: watch::Receiver<UserStreamStatus>,
}

impl UserStreamHandle {
    /// A handle that always reports `off` (no credentials).
    pub fn off() -> UserStreamHandle {
        let (tx, rx) = watch::channel(UserStreamStatus::default());
        drop(tx);
        UserStreamHandle { status: rx }
    }

    /// The current status.
    pub fn status(&self) -> UserStreamStatus {
        self.status.borrow().clone()
    }

    /// A receiver that changes with every status update (state, events committed).
    pub fn watch(&self) -> watch::Receiver<UserStreamStatus> {
        self.status.clone()
    }
}

/// An event on its way to the writer.
struct Inbound {
    event: UserDataEvent,
    received_at_ms: i64,
}

/// The user-data stream component (module docs).
pub struct UserStream {
    inner: Arc<Inner>,
    events: mpsc::Receiver<Inbound>,
}

/// How a stream reaches its events.
enum Link {
    /// Spot: the WebSocket API, subscribed with a signature.
    WsApi {
        /// The WebSocket API endpoint and subscription credentials.
        ws: WsApiConfig,
        /// Signed REST handle sharing the daemon's weight budget and clock offset: the
        /// server time the subscriptions are stamped with, re-measured after a `-1021`.
        signed: SpotClient,
    },
    /// Futures: a listen key and its stream ([`listen_key`]).
    ListenKey(listen_key::KeyLink),
}

/// One open connection of either [`Link`].
enum Conn {
    WsApi(Connection),
    ListenKey(ListenKeyConnection),
}

impl Conn {
    /// When it was opened (and subscribed).
    fn opened(&self) -> Instant {
        match self {
            Conn::WsApi(c) => c.opened,
            Conn::ListenKey(c) => c.opened,
        }
    }

    /// The next message (cancel-safe).
    async fn next(
        &mut self,
    ) -> Option<
        Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
    > {
        match self {
            Conn::WsApi(c) => c.next().await,
            Conn::ListenKey(c) => c.next().await,
        }
    }

    async fn handle(
        &mut self,
        inner: &Inner,
        msg: Option<
            Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
        >,
    ) -> Step {
        match (self, &inner.link) {
            (Conn::WsApi(c), Link::WsApi { ws, .. }) => c.handle(ws, inner, msg).await,
            (Conn::ListenKey(c), _) => c.handle(inner, msg).await,
            (Conn::WsApi(_), Link::ListenKey(_)) => {
                Step::End(Ended::Lost("connection of another kind".into()))
            }
        }
    }

    async fn keepalive(&mut self, link: &Link) -> Step {
        match (self, link) {
            (Conn::WsApi(c), Link::WsApi { ws, .. }) => c.keepalive(ws).await,
            (Conn::ListenKey(c), Link::ListenKey(k)) => c.keepalive(&k.timings).await,
            _ => Step::End(Ended::Lost("connection of another kind".into())),
        }
    }

    async fn close(&mut self) {
        match self {
            Conn::WsApi(c) => c.close().await,
            Conn::ListenKey(c) => c.close().await,
        }
    }
}

/// What the connection loop and the writer share.
struct Inner {
    /// How connections are opened.
    link: Link,
    /// The orders component: reconciliation refreshes its orders, asks its venue and
    /// records through it.
    orders: Orders,
    store: Store,
    clock: Clock,
    schedule: BeatSchedule,
    options: UserStreamOptions,
    status: watch::Sender<UserStreamStatus>,
    events: mpsc::Sender<Inbound>,
    /// The writer lost a batch: reconcile again.
    reconcile_needed: Arc<Notify>,
    market: Market,
}

impl std::fmt::Debug for UserStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserStream")
            .field("market", &self.inner.market)
            .field("url", &self.inner.url())
            .finish_non_exhaustive()
    }
}

impl UserStream {
    /// A stream for the account of `credentials`, connecting to `ws_api_url` (the whole
    /// endpoint, e.g. `wss://ws-api.binance.com:443/ws-api/v3`), timed by `exchange`
    /// (signed with the same credentials), reconciling through `orders` (and its venue),
    /// recording in `store`.
    /// `schedule` is the heartbeat's: connection renewals fall between beats.
    ///
    /// # Errors
    /// [`crate::exchange::ExchangeError::InvalidRequest`] when the credentials cannot sign
    /// REST requests (an API key an HTTP header cannot carry, a recvWindow out of range).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ws_api_url: &str,
        credentials: &Credentials,
        recv_window_ms: u64,
        exchange: &SpotClient,
        orders: Orders,
        store: Store,
        clock: Clock,
        schedule: BeatSchedule,
        options: UserStreamOptions,
    ) -> Result<(UserStream, UserStreamHandle), crate::exchange::ExchangeError> {
        let signed = exchange.with_credentials(credentials, recv_window_ms)?;
        let (status, status_rx) = watch::channel(UserStreamStatus {
            state: StreamState::Connecting,
            ..UserStreamStatus::default()
        });
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let inner = Arc::new(Inner {
            link: Link::WsApi {
                ws: WsApiConfig {
                    url: ws_api_url.to_string(),
                    api_key: credentials.api_key.clone(),
                    signer: HmacSha256::new(credentials.api_secret.expose()),
                    recv_window_ms,
                    connect_timeout: options.connect_timeout,
                    silence_timeout: options.silence_timeout,
                    keepalive_after: options.keepalive_after,
                },
                signed,
            },
            orders,
            store,
            clock,
            schedule,
            options,
            status,
            events: tx,
            reconcile_needed: Arc::new(Notify::new()),
            market: Market::Spot,
        });
        Ok((
            UserStream { inner, events: rx },
            UserStreamHandle { status: status_rx },
        ))
    }

    /// A futures stream (USDⓈ-M or COIN-M, the market of `exchange`) for the account of
    /// `credentials`: a listen key from `exchange`'s `listenKey` endpoint and its stream at
    /// `<ws_url>/ws/<listenKey>` (`ws_url` e.g. `wss://fstream.binance.com`), reconciling
    /// through `orders` (that market's orders component and venue), recording in `store`
    /// under the market. Everything else is as [`UserStream::new`] (module docs;
    /// [`listen_key`] for the key's life).
    ///
    /// # Errors
    /// [`crate::exchange::ExchangeError::InvalidRequest`] when the API key cannot be an
    /// HTTP header value.
    #[allow(clippy::too_many_arguments)]
    pub fn futures(
        ws_url: &str,
        credentials: &Credentials,
        recv_window_ms: u64,
        exchange: &FuturesClient,
        orders: Orders,
        store: Store,
        clock: Clock,
        schedule: BeatSchedule,
        options: FuturesStreamOptions,
    ) -> Result<(UserStream, UserStreamHandle), crate::exchange::ExchangeError> {
        let keys = exchange.listen_keys(credentials, recv_window_ms)?;
        // `off` until it runs (the daemon starts it once its market is in use).
        let (status, status_rx) = watch::channel(UserStreamStatus {
            state: StreamState::Off,
            ..UserStreamStatus::default()
        });
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let stream = options.stream;
        let inner = Arc::new(Inner {
            link: Link::ListenKey(listen_key::KeyLink {
                keys,
                ws_url: ws_url.to_string(),
                timings: ListenKeyTimings {
                    connect_timeout: stream.connect_timeout,
                    silence_timeout: stream.silence_timeout,
                    keepalive_after: stream.keepalive_after,
                },
                keepalive_every: options.listen_key_keepalive,
                created: std::sync::atomic::AtomicBool::new(false),
            }),
            orders,
            store,
            clock,
            schedule,
            options: stream,
            status,
            events: tx,
            reconcile_needed: Arc::new(Notify::new()),
            market: exchange.market(),
        });
        Ok((
            UserStream { inner, events: rx },
            UserStreamHandle { status: status_rx },
        ))
    }

    /// Runs until `shutdown`: keeps one subscribed connection, reconnecting and
    /// reconciling as the module docs say; the writer commits every event received before
    /// the stop.
    pub async fn run(self, shutdown: CancellationToken) {
        let UserStream { inner, events } = self;
        let writer = tokio::spawn(write_events(Arc::clone(&inner), events));
        inner.supervise(&shutdown).await;
        // A futures stream closes its listen key (best effort, bounded).
        if let Link::ListenKey(k) = &inner.link {
            k.close_at_shutdown().await;
        }
        inner.set(|s| {
            s.state = StreamState::Stopped;
            s.connected_since = None;
        });
        // The writer ends once every sender is gone and the queue is drained.
        drop(inner);
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "user-data writer failed");
        }
        tracing::info!("user-data stream stopped");
    }
}

impl crate::component::Component for UserStream {
    fn name(&self) -> &'static str {
        match self.inner.market {
            Market::Spot => "user_stream",
            Market::UsdM => "user_stream_usdm",
            Market::CoinM => "user_stream_coinm",
        }
    }

    /// Four seconds: closing the connection (at most 2 s) and committing the events
    /// received before the stop.
    fn drain_deadline(&self) -> Duration {
        Duration::from_secs(4)
    }

    fn run(
        self,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        UserStream::run(self, shutdown)
    }
}

impl EventSink for Inner {
    async fn deliver(&self, event: UserDataEvent) {
        self.deliver_event(event).await;
    }

    fn server_now_ms(&self) -> i64 {
        match &self.link {
            Link::WsApi { signed, .. } => signed.server_now_ms(),
            Link::ListenKey(k) => k.keys.server_now_ms(),
        }
    }
}

impl Inner {
    fn set(&self, f: impl FnOnce(&mut UserStreamStatus)) {
        self.status.send_modify(f);
    }

    /// Where connections go (a futures stream's base; its key is never shown).
    fn url(&self) -> &str {
        match &self.link {
            Link::WsApi { ws, .. } => &ws.url,
            Link::ListenKey(k) => &k.ws_url,
        }
    }

    /// The connect / session / back-off loop.
    async fn supervise(self: &Arc<Self>, shutdown: &CancellationToken) {
        let mut attempt: u32 = 0;
        let mut delays =
            retry::reconnect(self.options.backoff_initial, self.options.backoff_max).delays();
        let mut first = true;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            self.set(|s| s.state = StreamState::Connecting);
            let connected = tokio::select! {
                _ = shutdown.cancelled() => return,
                c = self.connect() => c,
            };
            let delay = match connected {
                Ok(conn) => {
                    if !first {
                        self.set(|s| s.reconnects += 1);
                    }
                    first = false;
                    let started = Instant::now();
                    let ended = self.session(conn, shutdown).await;
                    self.set(|s| s.connected_since = None);
                    if started.elapsed() >= STABLE_AFTER {
                        attempt = 0;
                        delays.reset();
                    }
                    match ended {
                        Ended::Shutdown => return,
                        Ended::ServerShutdown => {
                            tracing::warn!(
                                "the exchange announced a server shutdown: reconnecting now"
                            );
                            Duration::ZERO
                        }
                        Ended::Lost(reason) => {
                            tracing::warn!(reason = %reason, "user-data connection lost");
                            self.set(|s| s.last_error = Some(reason));
                            attempt += 1;
                            delays.next_wait()
                        }
                    }
                }
                Err(ConnectError::Rejected { code, msg }) => {
                    tracing::error!(code, msg = %msg, retry_in_secs = self.options.rejected_retry.as_secs(),
                        "the exchange rejected the api key for the user-data stream: check the key, its ip whitelist and its permissions");
                    self.set(|s| {
                        s.state = StreamState::Rejected;
                        s.last_error = Some(format!("code {code}: {msg}"));
                    });
                    self.options.rejected_retry
                }
                Err(e) => {
                    attempt += 1;
                    let delay = delays.next_wait();
                    tracing::warn!(error = %e, attempt, retry_in_ms = millis(delay), "cannot open the user-data stream");
                    self.set(|s| s.last_error = Some(e.to_string()));
                    delay
                }
            };
            if !delay.is_zero() {
                self.set(|s| {
                    if s.state != StreamState::Rejected {
                        s.state = StreamState::Reconnecting;
                    }
                });
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }

    /// Connects and subscribes; on `-1021` re-measures the clock offset and tries once more.
    /// A futures stream gets its listen key and opens the key's stream.
    async fn connect(self: &Arc<Self>) -> Result<Conn, ConnectError> {
        let (ws, signed) = match &self.link {
            Link::WsApi { ws, signed } => (ws, signed),
            Link::ListenKey(k) => return k.connect().await.map(Conn::ListenKey),
        };
        match Connection::open(ws, self.as_ref()).await {
            Err(ConnectError::Timestamp(msg)) => {
                tracing::warn!(msg = %msg, "subscription timestamp refused: re-measuring the clock offset");
                if let Err(e) = signed.sync_time().await {
                    tracing::warn!(error = %e, "cannot re-measure the clock offset");
                }
                Connection::open(ws, self.as_ref()).await
            }
            other => other,
        }
        .map(Conn::WsApi)
    }

    /// When the listen key is kept alive next (far away for a spot stream).
    fn key_keepalive_time(&self) -> Instant {
        match &self.link {
            Link::ListenKey(k) => Instant::now() + k.keepalive_every,
            Link::WsApi { .. } => Instant::now() + Duration::from_secs(365 * 24 * 3600),
        }
    }

    /// Keeps the listen key alive (`PUT`); nothing for a spot stream.
    async fn keep_key_alive(&self) -> Step {
        let Link::ListenKey(k) = &self.link else {
            return Step::Continue;
        };
        match k.keep_alive().await {
            Ok(()) => {
                tracing::debug!("listen key kept alive");
                Step::Continue
            }
            Err(e) => {
                tracing::warn!(error = %e, "the listen key keep-alive failed: opening a new key and connection");
                Step::Renew("the listen key keep-alive failed")
            }
        }
    }

    /// Runs one connection (and its renewals) until it is lost or the daemon stops.
    async fn session(self: &Arc<Self>, mut conn: Conn, shutdown: &CancellationToken) -> Ended {
        self.on_subscribed(&conn);
        let mut reconcile: Fuse<BoxFuture<'static, ()>> = self.reconciliation();
        let mut renewal: Fuse<BoxFuture<'static, Result<Conn, ConnectError>>> = Fuse::terminated();
        let mut renew_at = self.renewal_time(conn.opened());
        let mut key_alive_at = self.key_keepalive_time();
        let mut keepalive = tokio::time::interval(self.keepalive_tick());
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Branch futures are cancel-safe; handler bodies run to completion, so a frame
            // taken off the socket is always handled.
            let step = tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    conn.close().await;
                    return Ended::Shutdown;
                }
                msg = conn.next() => conn.handle(self.as_ref(), msg).await,
                _ = keepalive.tick() => conn.keepalive(&self.link).await,
                () = tokio::time::sleep_until(key_alive_at) => {
                    key_alive_at = self.key_keepalive_time();
                    self.keep_key_alive().await
                }
                () = &mut reconcile, if !reconcile.is_terminated() => Step::Continue,
                () = self.reconcile_needed.notified(), if reconcile.is_terminated() => {
                    tracing::warn!("reconciling again: a batch of events could not be written");
                    Step::Reconcile
                }
                () = tokio::time::sleep_until(renew_at), if renewal.is_terminated() => {
                    tracing::info!(age_secs = conn.opened().elapsed().as_secs(), "renewing the user-data connection before the exchange's 24 h limit");
                    Step::Renew("the connection nears the exchange's 24 h limit")
                }
                renewed = &mut renewal, if !renewal.is_terminated() => match renewed {
                    Ok(fresh) => {
                        let mut old = std::mem::replace(&mut conn, fresh);
                        old.close().await;
                        tracing::info!(subscription_id = self.subscription_id(&conn), "user-data connection renewed: the old one is closed");
                        self.set(|s| s.reconnects += 1);
                        self.on_subscribed(&conn);
                        renew_at = self.renewal_time(conn.opened());
                        key_alive_at = self.key_keepalive_time();
                        Step::Reconcile
                    }
                    Err(e) => {
                        let retry = Duration::from_secs(60).min(self.options.backoff_max);
                        tracing::warn!(error = %e, retry_in_ms = millis(retry), "cannot renew the user-data connection: keeping the current one, trying again");
                        renew_at = Instant::now() + retry;
                        Step::Continue
                    }
                },
            };
            match step {
                Step::Continue => {}
                Step::Renew(reason) => {
                    if renewal.is_terminated() {
                        tracing::info!(
                            reason,
                            "opening a new user-data connection before closing this one"
                        );
                        let this = Arc::clone(self);
                        // The renewal branch stays off until the attempt has finished.
                        renewal = async move { this.connect().await }.boxed().fuse();
                    }
                }
                Step::Reconcile => {
                    if reconcile.is_terminated() {
                        self.set(|s| s.state = StreamState::Reconciling);
                        reconcile = self.reconciliation();
                    }
                }
                Step::End(ended) => {
                    conn.close().await;
                    return ended;
                }
            }
        }
    }

    /// How often the session checks for silence: a quarter of the keepalive delay, so a
    /// silent connection is found within a few percent of `silence_timeout`.
    fn keepalive_tick(&self) -> Duration {
        (self
            .options
            .keepalive_after
            .min(self.options.silence_timeout)
            / 4)
        .max(Duration::from_millis(10))
    }

    /// The spot subscription id of `conn` (0 for a futures connection).
    fn subscription_id(&self, conn: &Conn) -> i64 {
        match conn {
            Conn::WsApi(c) => c.subscription_id,
            Conn::ListenKey(_) => 0,
        }
    }

    fn on_subscribed(&self, conn: &Conn) {
        let now = self.clock.now_ms();
        tracing::info!(market = %self.market, subscription_id = self.subscription_id(conn), url = %self.url(), "user-data stream subscribed");
        self.set(|s| {
            s.state = StreamState::Reconciling;
            s.connected_since = Some(now);
            s.last_error = None;
        });
    }

    /// A reconciliation, retried with backoff until it succeeds; marks the stream healthy
    /// when done.
    fn reconciliation(self: &Arc<Self>) -> Fuse<BoxFuture<'static, ()>> {
        let this = Arc::clone(self);
        async move {
            let mut failures: u32 = 0;
            let mut delays =
                retry::reconcile_stream(this.options.reconcile_retry, this.options.backoff_max)
                    .delays();
            loop {
                match reconcile::reconcile(&this).await {
                    Ok(report) => {
                        let now = this.clock.now_ms();
                        tracing::info!(
                            orders_refreshed = report.orders_refreshed,
                            orders_imported = report.orders_imported,
                            symbols = report.symbols,
                            trades_new = report.trades_new,
                            balances = report.balances,
                            positions = report.positions,
                            elapsed_ms = report.elapsed_ms,
                            "reconciled with the exchange: user-data stream healthy"
                        );
                        this.set(|s| {
                            s.state = StreamState::Healthy;
                            s.reconciled_at = Some(now);
                        });
                        return;
                    }
                    Err(e) => {
                        failures += 1;
                        let delay = delays.next_wait();
                        tracing::warn!(error = %e, failures, retry_in_ms = millis(delay), "reconciliation failed: the stream goes on, trying again");
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        }
        .boxed()
        .fuse()
    }

    /// When a connection opened at `opened` is replaced: after `renew_after`, moved to
    /// half-way between two beats.
    fn renewal_time(&self, opened: Instant) -> Instant {
        let due = opened + self.options.renew_after;
        let now_ms = self.clock.now_ms();
        let due_ms = now_ms
            + i64::try_from(due.saturating_duration_since(Instant::now()).as_millis())
                .unwrap_or(i64::MAX / 4);
        let quiet_ms = quiet_moment(&self.schedule, due_ms);
        due + Duration::from_millis(u64::try_from(quiet_ms - due_ms).unwrap_or(0))
    }

    /// Hands an event to the writer and notes its time for `status`.
    async fn deliver_event(&self, event: UserDataEvent) {
        let event_time = event.event_time();
        let received_at_ms = self.clock.now_ms();
        if event_time.is_some() {
            self.set(|s| s.last_event_time = event_time);
        }
        // The writer only stops after every sender is gone: a send cannot fail here
        // while `self` lives, but if it did the event would be fetched again by the next
        // reconciliation.
        if self
            .events
            .send(Inbound {
                event,
                received_at_ms,
            })
            .await
            .is_err()
        {
            tracing::error!("user-data writer is gone: event not recorded");
        }
    }
}

/// The first moment at or after `t_ms` that lies half-way between two beats of `schedule`.
pub fn quiet_moment(schedule: &BeatSchedule, t_ms: i64) -> i64 {
    let half = schedule.period_ms() / 2;
    let next = schedule.next_at_or_after(t_ms);
    if next - half >= t_ms {
        next - half
    } else {
        next + half
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Commits one batch: an event the store refuses (`StoreError::Event`: it conflicts with
/// what is stored) is kept raw instead and the rest applied; a database failure is retried
/// [`WRITE_ATTEMPTS`] times. Returns whether the batch was committed.
async fn commit(
    store: &Store,
    market: Market,
    mut items: Vec<UserDataEvent>,
    received_at_ms: i64,
) -> bool {
    let mut failures = 0;
    let mut waits = retry::user_data_writes(WRITE_ATTEMPTS - 1).delays();
    // Each refused event is kept raw, so this ends after at most `items.len()` refusals.
    let mut refusals_left = items.len();
    loop {
        let (result, back) = match store
            .run_here(move |s| Ok((s.apply_user_data(market, &items, received_at_ms), items)))
            .await
        {
            Ok(pair) => pair,
            Err(e) => {
                tracing::error!(error = %e, "user-data writer task failed");
                return false;
            }
        };
        items = back;
        match result {
            Ok(report) => {
                for reason in &report.unattached {
                    tracing::warn!(reason = %reason, "execution report stored without an order row");
                }
                tracing::debug!(
                    events = items.len(),
                    executions_new = report.executions_new,
                    executions_duplicate = report.executions_duplicate,
                    orders_updated = report.orders_updated,
                    orders_inserted = report.orders_inserted,
                    "user-data events committed"
                );
                return true;
            }
            Err(StoreError::Event {
                index,
                event_type,
                detail,
            }) if index < items.len() && refusals_left > 0 => {
                refusals_left -= 1;
                tracing::warn!(event_type = %event_type, error = %detail, "user-data event refused by the database: kept raw in user_events, the rest of the batch applied");
                let refused = items.remove(index);
                items.insert(index, refused.into_invalid(detail));
            }
            Err(e) => {
                failures += 1;
                tracing::error!(error = %e, attempt = failures, events = items.len(), "cannot write user-data events");
                let Some(wait) = waits.next() else {
                    return false;
                };
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The writer: drains events into the store in batches (module docs, "Writing").
async fn write_events(inner: Arc<Inner>, mut events: mpsc::Receiver<Inbound>) {
    let store = inner.store.clone();
    let market = inner.market;
    let status = inner.status.clone();
    // Not `inner` itself: it holds the channel's sender, and the writer ends when the last
    // sender is gone.
    let reconcile_needed = Arc::clone(&inner.reconcile_needed);
    drop(inner);
    let mut unknown_seen: HashSet<String> = HashSet::new();
    let mut batch: Vec<Inbound> = Vec::with_capacity(WRITE_BATCH);
    loop {
        if events.recv_many(&mut batch, WRITE_BATCH).await == 0 {
            break;
        }
        // An order on its way: its rows first (it has a caller waiting), and the next
        // order of its burst too, then this batch, with whatever else arrived meanwhile.
        if store
            .yield_to_foreground(ORDERS_QUIET, YIELD_TO_ORDERS)
            .await
            && !events.is_empty()
        {
            let room = WRITE_BATCH.saturating_sub(batch.len());
            events.recv_many(&mut batch, room).await;
        }
        for inbound in &batch {
            match &inbound.event {
                UserDataEvent::Unknown { event_type, .. }
                    if unknown_seen.insert(event_type.clone()) =>
                {
                    tracing::warn!(event_type = %event_type, "unknown user-data event type: kept raw in user_events (logged once per type)");
                }
                UserDataEvent::Invalid {
                    event_type, error, ..
                } => {
                    tracing::warn!(event_type = %event_type, error = %error, "malformed user-data event: kept raw in user_events, nothing else written");
                }
                UserDataEvent::Futures(FuturesEvent::MarginCall(m)) => {
                    let positions: Vec<String> = m
                        .positions
                        .iter()
                        .map(|p| {
                            format!(
                                "{} {} {} (maintenance margin {})",
                                p.symbol, p.position_side, p.amount, p.maintenance_margin
                            )
                        })
                        .collect();
                    tracing::warn!(market = %market, event_time = m.event_time, cross_wallet_balance = ?m.cross_wallet_balance.map(|d| d.to_string()), positions = %positions.join(", "), "MARGIN_CALL: positions near liquidation (event kept raw in user_events)");
                }
                _ => {}
            }
        }
        let received_at_ms = batch.last().map_or(0, |b| b.received_at_ms);
        let count = batch.len();
        let items: Vec<UserDataEvent> = batch.drain(..).map(|b| b.event).collect();
        if commit(&store, market, items, received_at_ms).await {
            status.send_modify(|s| s.events_committed += count as u64);
        } else {
            tracing::error!(
                events = count,
                "user-data events dropped after repeated write failures: reconciling to fetch them again"
            );
            reconcile_needed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewals_fall_half_way_between_beats() {
        // Beats at hh:mm:05 every minute.
        let schedule = BeatSchedule::new(60, 5).expect("schedule");
        let minute = 60_000;
        let base = 1_795_262_400_000; // a whole minute
        // Due at :10 -> :35 the same minute; due at :35 exactly -> :35; due at :40 -> next :35.
        assert_eq!(quiet_moment(&schedule, base + 10_000), base + 35_000);
        assert_eq!(quiet_moment(&schedule, base + 35_000), base + 35_000);
        assert_eq!(
            quiet_moment(&schedule, base + 40_000),
            base + minute + 35_000
        );
        // Due at :03 (before the beat) -> :35 of the previous beat? No: never earlier than due.
        assert_eq!(quiet_moment(&schedule, base + 3_000), base + 35_000);
        for t in (0..120_000).step_by(997) {
            let q = quiet_moment(&schedule, base + t);
            assert!(q >= base + t && q - (base + t) <= minute);
            assert_eq!((q - 5_000 - 30_000).rem_euclid(minute), 0, "{t}");
        }
    }
}
