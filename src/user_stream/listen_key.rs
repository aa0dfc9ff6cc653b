//! The futures (USDⓈ-M, COIN-M) way into a user-data stream: a listen key
//! (`POST {prefix}/listenKey`) and the WebSocket at `<ws_url>/ws/<listenKey>`, kept alive by
//! a `PUT` every [`FuturesStreamOptions::listen_key_keepalive`] (30 min; the key lives 60).
//! The session, reconnects, renewals, writer and reconciliation are the spot stream's
//! ([`super::UserStream`]); this module only opens connections and keeps the key alive.
//!
//! A new key and a new connection (make before break: the old connection is closed once
//! the new one is open, and a reconciliation follows) come on `listenKeyExpired`, after a
//! failed keep-alive, and before Binance's 24 h connection limit (`renew_after`). While a
//! key is active, `POST` answers that same key, so a renewal before 24 h keeps the key and
//! replaces the connection. A key the exchange refuses to create (`-2015`, `-2014`,
//! `-1022`, `-1002`: a bad or revoked API key) is the stream's `rejected` state, retried
//! every `rejected_retry` (5 min), never in a loop. At shutdown the key is closed
//! (`DELETE …/listenKey`) within [`CLOSE_AT_SHUTDOWN`], best effort: a failure is logged and
//! the daemon exits anyway (an unclosed key expires on its own after 60 min). Binance:
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Start-User-Data-Stream>,
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Keepalive-User-Data-Stream>,
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Close-User-Data-Stream>.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::exchange::ExchangeError;
use crate::exchange::futures::{
    ListenKeyConnection, ListenKeyTimings, ListenKeys, listen_key_error,
};
use crate::exchange::spot::ws_api::ConnectError;

use super::UserStreamOptions;

/// Timings of a futures stream. [`Default`] is what production uses; tests shorten them.
#[derive(Debug, Clone)]
pub struct FuturesStreamOptions {
    /// The connection's timings, as on spot ([`UserStreamOptions`]); `renew_after` (23 h)
    /// stays below Binance's 24 h connection limit.
    pub stream: UserStreamOptions,
    /// How often the listen key is kept alive with `PUT` (default 30 min; a key lives 60).
    pub listen_key_keepalive: Duration,
}

impl Default for FuturesStreamOptions {
    fn default() -> FuturesStreamOptions {
        FuturesStreamOptions {
            stream: UserStreamOptions::default(),
            listen_key_keepalive: Duration::from_secs(30 * 60),
        }
    }
}

/// The longest the `DELETE` of the listen key may take at shutdown (within the stream's
/// 4 s drain deadline, after closing the connection).
pub const CLOSE_AT_SHUTDOWN: Duration = Duration::from_secs(1);

/// How a futures stream connects: its market's listen-key endpoints and stream URL.
#[derive(Debug)]
pub(super) struct KeyLink {
    pub(super) keys: ListenKeys,
    /// The market's stream base (`wss://fstream.binance.com`); `/ws/<key>` is appended.
    pub(super) ws_url: String,
    pub(super) timings: ListenKeyTimings,
    pub(super) keepalive_every: Duration,
    /// A key was created (so there is one to close at shutdown).
    pub(super) created: AtomicBool,
}

impl KeyLink {
    /// Gets the listen key (`POST`) and opens its stream.
    pub(super) async fn connect(&self) -> Result<ListenKeyConnection, ConnectError> {
        let key = tokio::time::timeout(self.timings.connect_timeout, self.keys.create())
            .await
            .map_err(|_| {
                ConnectError::Timeout(self.timings.connect_timeout, "getting a listen key")
            })?
            .map_err(listen_key_error)?;
        self.created.store(true, Ordering::Relaxed);
        ListenKeyConnection::open(&self.ws_url, &key, &self.timings).await
    }

    /// Keeps the active key alive (`PUT`).
    pub(super) async fn keep_alive(&self) -> Result<(), ExchangeError> {
        self.keys.keep_alive().await
    }
}

impl KeyLink {
    /// Closes the active key (`DELETE`) if one was created, within [`CLOSE_AT_SHUTDOWN`];
    /// a failure or a timeout is logged, never waited out.
    pub(super) async fn close_at_shutdown(&self) {
        if !self.created.load(Ordering::Relaxed) {
            return;
        }
        match tokio::time::timeout(CLOSE_AT_SHUTDOWN, self.keys.close()).await {
            Ok(Ok(())) => tracing::info!("listen key closed"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot close the listen key: it expires on its own")
            }
            Err(_) => tracing::warn!(
                timeout_ms = u64::try_from(CLOSE_AT_SHUTDOWN.as_millis()).unwrap_or(u64::MAX),
                "closing the listen key took too long: it expires on its own"
            ),
        }
    }
}
