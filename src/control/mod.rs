//! The control socket: the operator's way into a running daemon.
//!
//! - [`protocol`]: JSON-RPC 2.0 over a Unix socket, one object per line: the envelope, the
//!   error codes and one typed definition per method, shared by server, client and tests;
//! - [`server`]: [`ControlServer`], the component that owns the socket file (mode,
//!   stale-file takeover, removal at shutdown), accepts connections and enforces the
//!   limits (line length, connection count, idle and write timeouts);
//! - [`handlers`]: one handler per method and the [`Dispatch`] table that routes to them;
//! - [`actions`]: the action log's sources, its state-changing methods and secret removal
//!   (the dispatcher writes one `actions` row per state-changing request);
//! - [`rate`]: the per-connection rate of requests that reach the exchange;
//! - `views`: the `From` conversions of store rows and backfill job states into the
//!   protocol's views, so the protocol never names a store or component type;
//! - [`client`]: [`Client`], the async client `tradebeat ctl`, the tests and the benchmark
//!   use.
//!
//! The handlers reach the rest of the daemon only through [`ControlContext`]: the store,
//! the market-data component (for `sync.now`), the exchange client, the heartbeat's status,
//! the backfill handle and the orders component (for `order.*`).

pub mod actions;
pub mod client;
pub mod handlers;
pub mod protocol;
pub mod rate;
pub mod server;
mod subscribe;
mod views;

pub use actions::ActionSource;
pub use client::{Client, ClientError};
pub use handlers::Dispatch;
pub use server::{BindError, ControlLimits, ControlServer};

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use crate::backfill::BackfillHandle;
use crate::clock::Clock;
use crate::config::Config;
use crate::exchange::MarketClient;
use crate::heartbeat::HeartbeatStatus;
use crate::market_data::MarketData;
use crate::orders::Orders;
use crate::store::Store;
use crate::user_stream::UserStreamHandle;

/// What the handlers may use of the daemon. Built once by the daemon, shared by every
/// connection.
pub struct ControlContext {
    pub(crate) store: Store,
    pub(crate) market_data: Arc<MarketData>,
    pub(crate) exchange: MarketClient,
    pub(crate) heartbeat: watch::Receiver<HeartbeatStatus>,
    pub(crate) backfill: BackfillHandle,
    /// `order.*`: a handle on the daemon's component whose requests are made at control
    /// priority (without credentials its methods but `list` answer "no credentials").
    pub(crate) orders: Orders,
    pub(crate) config: Config,
    pub(crate) clock: Clock,
    /// When the daemon started, for `status.uptime_secs`.
    pub(crate) started: Instant,
    /// The same, ms since the epoch.
    pub(crate) started_at_ms: i64,
    /// Coalesces concurrent `sync.now` calls into one beat.
    pub(crate) manual_beats: handlers::ManualBeats,
    /// The user-data stream's state, for `status`.
    pub(crate) user_stream: UserStreamHandle,
    /// The futures markets' orders components (control handles), set once by the daemon
    /// ([`ControlContext::set_futures_orders`]); none without credentials.
    futures_orders: std::sync::OnceLock<Vec<Orders>>,
    /// The futures markets' user-data streams, set once by the daemon
    /// ([`ControlContext::set_futures_user_streams`]).
    futures_user_streams: std::sync::OnceLock<Vec<(crate::domain::Market, UserStreamHandle)>>,
}

impl ControlContext {
    /// A context over the daemon's parts. `heartbeat` is [`crate::heartbeat::Heartbeat::status`],
    /// taken before the heartbeat is spawned; `config` supplies the defaults of symbols
    /// that have no overrides (intervals, backfill days) and the network's name; `orders`
    /// is a clone of the orders component the daemon runs; `user_stream` reports the
    /// user-data stream ([`UserStreamHandle::off`] without credentials).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        market_data: Arc<MarketData>,
        heartbeat: watch::Receiver<HeartbeatStatus>,
        backfill: BackfillHandle,
        orders: Orders,
        config: Config,
        clock: Clock,
        user_stream: UserStreamHandle,
    ) -> Arc<ControlContext> {
        let started_at_ms = clock.now_ms();
        Arc::new(ControlContext {
            store,
            // Control requests may not take the weight kept for the beats.
            exchange: market_data.exchange().control(),
            market_data,
            heartbeat,
            backfill,
            orders: orders.for_control(),
            config,
            clock,
            started: Instant::now(),
            started_at_ms,
            manual_beats: handlers::ManualBeats::default(),
            user_stream,
            futures_orders: std::sync::OnceLock::new(),
            futures_user_streams: std::sync::OnceLock::new(),
        })
    }

    /// Hands the futures markets' orders components (one per market with credentials) to
    /// the `order.*`, `position.list`, `leverage.set` and `margin_type.set` methods; their
    /// requests are made at control priority. Only the first call counts.
    pub fn set_futures_orders(&self, orders: Vec<Orders>) {
        let handles = orders.iter().map(Orders::for_control).collect();
        if self.futures_orders.set(handles).is_err() {
            tracing::warn!("futures orders already set: ignored");
        }
    }

    /// Hands the futures markets' user-data streams to `status`. Only the first call counts.
    pub fn set_futures_user_streams(
        &self,
        streams: Vec<(crate::domain::Market, UserStreamHandle)>,
    ) {
        if self.futures_user_streams.set(streams).is_err() {
            tracing::warn!("futures user-data streams already set: ignored");
        }
    }

    /// The state of the futures `market`'s user-data stream, if it has one.
    pub(crate) fn futures_user_stream(
        &self,
        market: crate::domain::Market,
    ) -> Option<crate::domain::UserStreamStatus> {
        self.futures_user_streams
            .get()?
            .iter()
            .find(|(m, _)| *m == market)
            .map(|(_, h)| h.status())
    }

    /// The orders component of the futures `market`, if there is one.
    pub(crate) fn futures_orders(&self, market: crate::domain::Market) -> Option<Orders> {
        self.futures_orders
            .get()?
            .iter()
            .find(|o| o.market() == market)
            .cloned()
    }
}
