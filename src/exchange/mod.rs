//! The Binance REST client: the only module that knows Binance URLs, endpoint weights, JSON
//! field names and signing.
//!
//! - `client`: [`ClientOptions`] and [`ExchangeClient`], the one client every REST request
//!   goes through (connection pool, clock offset, retries, signed handles);
//! - `trading`: the signed order and account endpoints and their JSON shapes;
//! - [`signing`]: the payload rules and the pluggable [`Signer`] (HMAC-SHA256 now);
//! - `weight`: the request-weight gate ([`Priority`], [`WeightStatus`]);
//! - `order_count`: the order-rate gate (`ORDERS` limits, `X-MBX-ORDER-COUNT-*`);
//! - `wire`: Binance's market-data JSON shapes, private, parsed into the domain types of
//!   [`crate::types`];
//! - `error`: [`ExchangeError`], split by what the caller does next.
//!
//! Facts about Binance come from `BINANCE.md` (§1 URLs, §2 signing, §3 market data, §4
//! orders, §5 rate limits, §8 error codes), cited by section in the docs of each item.

mod client;
mod error;
mod order_count;
pub mod signing;
mod trading;
mod weight;
mod wire;

pub use client::{ClientOptions, DEFAULT_MAX_RETRIES, ExchangeClient, KLINES_MAX_LIMIT};
pub use error::ExchangeError;
pub use signing::{HmacSha256, Signer};
pub use trading::ORDERS_MAX_LIMIT;
pub use weight::{DEFAULT_WEIGHT_LIMIT, Priority, WeightStatus};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::types::ExchangeInfo;

/// Parses a `GET /api/v3/exchangeInfo` answer (BINANCE.md §3.4) into [`ExchangeInfo`],
/// filters included, as [`ExchangeClient::exchange_info`] does. For tools and tests that
/// read recorded answers.
///
/// # Errors
/// [`ExchangeError::Decode`] when the payload is not an `exchangeInfo` answer.
pub fn parse_exchange_info(body: &[u8]) -> Result<ExchangeInfo, ExchangeError> {
    wire::parse_exchange_info(body).map_err(|detail| ExchangeError::Decode {
        endpoint: "/api/v3/exchangeInfo",
        detail,
    })
}

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
