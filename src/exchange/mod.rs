//! The Binance REST client: the only module that knows Binance URLs, endpoint weights, JSON
//! field names and (later) signing.
//!
//! TODO(helper): implement. API surface fixed below.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which Binance environment to use (BINANCE.md §1). Testnet is the default: mainnet must be
/// chosen explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    #[default]
    Testnet,
    Mainnet,
}

impl Network {
    /// The spot REST base URL: `https://testnet.binance.vision` or `https://api.binance.com`.
    pub fn rest_url(self) -> &'static str {
        match self {
            Network::Testnet => "https://testnet.binance.vision",
            Network::Mainnet => "https://api.binance.com",
        }
    }

    /// The spot market-stream base URL.
    pub fn ws_url(self) -> &'static str {
        match self {
            Network::Testnet => "wss://stream.testnet.binance.vision",
            Network::Mainnet => "wss://stream.binance.com:9443",
        }
    }

    /// The spot WebSocket API endpoint.
    pub fn ws_api_url(self) -> &'static str {
        match self {
            Network::Testnet => "wss://ws-api.testnet.binance.vision/ws-api/v3",
            Network::Mainnet => "wss://ws-api.binance.com:443/ws-api/v3",
        }
    }

    /// `"testnet"` or `"mainnet"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Testnet => "testnet",
            Network::Mainnet => "mainnet",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "testnet" => Ok(Network::Testnet),
            "mainnet" => Ok(Network::Mainnet),
            other => Err(format!(
                "unknown network {other:?}: expected testnet or mainnet"
            )),
        }
    }
}

// ---- TEMPORARY STUB (replaced by the real client on merge) ----
use crate::clock::Clock;
use crate::types::{ExchangeInfo, Interval, Kline, Symbol, Ticker};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub rest_url: url::Url,
    pub request_timeout: Duration,
    pub max_retries: u32,
}
impl ClientOptions {
    pub fn for_network(_n: Network, _o: Option<&str>, _t: Duration) -> Result<Self, ExchangeError> {
        todo!()
    }
}
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("x")]
    Connectivity {
        endpoint: &'static str,
        detail: String,
    },
    #[error("x")]
    RateLimited { retry_after_ms: u64 },
    #[error("x")]
    Banned { until_ms: i64 },
    #[error("x")]
    Api {
        endpoint: &'static str,
        http_status: u16,
        code: i64,
        msg: String,
    },
    #[error("x")]
    Decode {
        endpoint: &'static str,
        detail: String,
    },
    #[error("x")]
    InvalidRequest(String),
}
impl ExchangeError {
    pub fn code(&self) -> Option<i64> {
        todo!()
    }
}
#[derive(Debug, Clone, Copy)]
pub struct WeightStatus {
    pub used: u32,
    pub limit: u32,
    pub window_start_ms: i64,
}
#[derive(Clone, Debug)]
pub struct ExchangeClient;
#[allow(unused_variables)]
impl ExchangeClient {
    pub fn new(options: ClientOptions, clock: Clock) -> Result<Self, ExchangeError> {
        todo!()
    }
    pub fn rest_url(&self) -> &url::Url {
        todo!()
    }
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        todo!()
    }
    pub fn clock_offset_ms(&self) -> i64 {
        todo!()
    }
    pub fn server_now_ms(&self) -> i64 {
        todo!()
    }
    pub async fn exchange_info(&self) -> Result<ExchangeInfo, ExchangeError> {
        todo!()
    }
    pub async fn klines(
        &self,
        symbol: &Symbol,
        interval: Interval,
        start_time: Option<i64>,
        end_time: Option<i64>,
        limit: u16,
    ) -> Result<Vec<Kline>, ExchangeError> {
        todo!()
    }
    pub async fn tickers_24hr(&self, symbols: &[Symbol]) -> Result<Vec<Ticker>, ExchangeError> {
        todo!()
    }
    pub fn weight(&self) -> WeightStatus {
        todo!()
    }
}
