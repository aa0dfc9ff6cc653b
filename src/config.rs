//! Configuration: one struct read with figment from defaults, then the TOML file given with
//! `--config`, then environment variables `TRADEBEAT_SECTION__KEY`.
//!
//! The keys are the contract in DESIGN.md; `config.toml.example` documents each with its
//! unit. Unknown keys are refused, and so are values that cannot work (an unknown
//! interval, an offset not below the period …): the daemon does not start on a config it
//! does not fully understand. Secrets are [`Secret`]s: redacted in `Debug`, in
//! serialization and in `check-config` output.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::exchange::Network;
use crate::types::{Interval, Symbol};

/// The whole configuration. Every section has defaults, so an empty file is valid.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub exchange: ExchangeConfig,
    pub heartbeat: HeartbeatConfig,
    pub market_data: MarketDataConfig,
    pub storage: StorageConfig,
    pub control: ControlConfig,
    pub logging: LoggingConfig,
}

/// `[exchange]`: which Binance environment to talk to, and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeConfig {
    /// `testnet` (default) or `mainnet`; mainnet must be chosen explicitly.
    pub network: Network,
    /// REST base (scheme + host[:port]); `/api/v3/...` is appended. Default: the network's.
    pub rest_url: Option<String>,
    /// Market-stream base; `/ws/<stream>` is appended. Default: the network's.
    pub ws_url: Option<String>,
    /// The WebSocket API endpoint, whole. Default: the network's.
    pub ws_api_url: Option<String>,
    /// `recvWindow` sent with signed requests, ms (1..=60000; Binance's default 5000).
    pub recv_window_ms: u64,
    /// Timeout of one REST request, ms, connect included.
    pub request_timeout_ms: u64,
    /// API key; prefer env `TRADEBEAT_EXCHANGE__API_KEY` or `api_key_file`.
    pub api_key: Option<Secret>,
    /// API secret; prefer env `TRADEBEAT_EXCHANGE__API_SECRET` or `api_secret_file`.
    pub api_secret: Option<Secret>,
    /// A file holding the API key (systemd `LoadCredential=`).
    pub api_key_file: Option<PathBuf>,
    /// A file holding the API secret (systemd `LoadCredential=`).
    pub api_secret_file: Option<PathBuf>,
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        ExchangeConfig {
            network: Network::Testnet,
            rest_url: None,
            ws_url: None,
            ws_api_url: None,
            recv_window_ms: 5000,
            request_timeout_ms: 10_000,
            api_key: None,
            api_secret: None,
            api_key_file: None,
            api_secret_file: None,
        }
    }
}

/// `[heartbeat]`: beats fire at `k * period_secs + offset_secs` seconds since the epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// Seconds between beats (> 0). Default 60.
    pub period_secs: u64,
    /// Seconds after each multiple of the period (< period_secs). Default 5.
    pub offset_secs: u64,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            period_secs: 60,
            offset_secs: 5,
        }
    }
}

/// `[market_data]`: what to follow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketDataConfig {
    /// Spot symbols registered at start (more via `ctl symbols add`).
    pub symbols: Vec<Symbol>,
    /// Kline intervals stored for every symbol that does not name its own.
    pub intervals: Vec<Interval>,
    /// Days of history each new symbol is backfilled to.
    pub backfill_days: u32,
    /// Days of klines kept per interval (`{ "1m" = 30 }`); an interval not named is kept
    /// forever.
    pub retention_days: BTreeMap<Interval, u32>,
}

impl Default for MarketDataConfig {
    fn default() -> Self {
        MarketDataConfig {
            symbols: vec![sym("BTCUSDT"), sym("ETHUSDT")],
            intervals: vec![
                Interval::M1,
                Interval::M15,
                Interval::H1,
                Interval::H4,
                Interval::D1,
            ],
            backfill_days: 30,
            retention_days: BTreeMap::new(),
        }
    }
}

fn sym(s: &str) -> Symbol {
    s.parse().unwrap_or_else(|_| unreachable!("built-in symbol {s} is valid"))
}

/// `[storage]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// The SQLite database file; its parent directory is created when missing.
    pub database: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            database: PathBuf::from("data/tradebeat.db"),
        }
    }
}

/// `[control]`: the local control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// Path of the Unix socket.
    pub socket: PathBuf,
    /// Permission bits of the socket, as an octal string (`"0600"`; `"0660"` for a group).
    pub socket_mode: String,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: PathBuf::from("data/control.sock"),
            socket_mode: "0600".to_string(),
        }
    }
}

/// `[logging]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Directory of `<component>.log` files; created when missing.
    pub dir: PathBuf,
    /// `error`, `warn`, `info`, `debug` or `trace`; `RUST_LOG` overrides it.
    pub level: String,
    /// Rotated daily files kept per component, today's included.
    pub max_files: usize,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            dir: PathBuf::from("logs"),
            level: "info".to_string(),
            max_files: 14,
        }
    }
}

/// A secret string (API key or secret). `Debug` and `Serialize` never show it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself. Call only where it is sent or used for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}
