//! The user-data stream's state as the rest of the daemon sees it ([`StreamState`],
//! [`UserStreamStatus`]): plain data, published by the stream component.

use serde::{Deserialize, Serialize};

/// Where the stream is, for `status` (`user_stream.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    /// No API credentials configured: there is no user-data stream (a futures market's:
    /// also while the market is not in use, so its stream has not started).
    #[default]
    Off,
    /// Opening a connection and subscribing.
    Connecting,
    /// Subscribed; catching up over REST on what may have been missed.
    Reconciling,
    /// Subscribed and reconciled: every event is being recorded.
    Healthy,
    /// Disconnected; waiting before the next attempt.
    Reconnecting,
    /// The exchange rejected the API key (or its IP or permissions); retried slowly.
    Rejected,
    /// Stopped (the daemon is shutting down).
    Stopped,
}

impl StreamState {
    /// The state's name as `status` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Off => "off",
            StreamState::Connecting => "connecting",
            StreamState::Reconciling => "reconciling",
            StreamState::Healthy => "healthy",
            StreamState::Reconnecting => "reconnecting",
            StreamState::Rejected => "rejected",
            StreamState::Stopped => "stopped",
        }
    }
}

/// The stream's state as `status` reports it. Times are ms since the epoch (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserStreamStatus {
    pub state: StreamState,
    /// When the current connection was subscribed; `None` while there is none.
    pub connected_since: Option<i64>,
    /// The event time (`E`) of the last event received.
    pub last_event_time: Option<i64>,
    /// Connections lost or replaced since start (renewals included).
    pub reconnects: u64,
    /// When the last reconciliation finished.
    pub reconciled_at: Option<i64>,
    /// Events committed to the database since start.
    pub events_committed: u64,
    /// Why the last connection or subscription attempt failed; `None` once healthy.
    pub last_error: Option<String>,
}
