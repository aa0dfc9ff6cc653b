//! Binance: the only module that knows Binance URLs, endpoint weights, JSON field names,
//! error codes and signing. The rest of the crate sees [`crate::domain`] types and typed
//! errors ([`ExchangeError`], [`Rejection`]).
//!
//! Two layers:
//!
//! - the transport, shared by every Binance API: `transport` ([`RestClient`]: HTTP pool,
//!   clock offset, retries, signed requests), [`signing`] (HMAC-SHA256, the payload
//!   rules), `weight` (the request-weight gate, [`Priority`]), `order_count` (the
//!   order-rate gate), `wire` (the JSON every API shares: the error body, the server
//!   time) and `error` ([`ExchangeError`], split by what the caller does next);
//! - one module per API: [`spot`] (`/api/v3` and the WebSocket API) and [`futures`]
//!   (USDⓈ-M `/fapi` and COIN-M `/dapi`, one [`FuturesClient`] per market). Each client has
//!   its own base URL, weight budget and clock offset; wire structs stay private.
//!
//! References: https://developers.binance.com/docs/binance-spot-api-docs/rest-api (general
//! info, limits, endpoints), https://developers.binance.com/docs/binance-spot-api-docs/errors

mod error;
pub mod futures;
mod market;
mod order_count;
pub mod signing;
pub mod spot;
mod transport;
mod weight;
mod wire;

pub use error::{ExchangeError, Rejection};
pub use futures::FuturesClient;
pub use market::MarketClient;
pub use signing::{HmacSha256, Signer};
pub use spot::{KLINES_MAX_LIMIT, ORDERS_MAX_LIMIT, SpotClient};
pub use transport::{ClientOptions, DEFAULT_MAX_RETRIES, RestClient};
pub use weight::{DEFAULT_WEIGHT_LIMIT, LimitsSeen, Priority, WeightStatus};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::ExchangeInfo;

/// Parses a `GET /api/v3/exchangeInfo` answer into [`ExchangeInfo`], filters included, as
/// [`SpotClient::exchange_info`] does. For tools and tests that read recorded answers.
///
/// # Errors
/// [`ExchangeError::Decode`] when the payload is not an `exchangeInfo` answer.
pub fn parse_exchange_info(body: &[u8]) -> Result<ExchangeInfo, ExchangeError> {
    spot::parse_exchange_info(body).map_err(|detail| ExchangeError::Decode {
        endpoint: "/api/v3/exchangeInfo",
        detail,
    })
}

/// Which Binance environment to use: the spot test network (<https://testnet.binance.vision>)
/// or mainnet ("General API Information" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-api-information>).
/// Testnet is the default: mainnet must be chosen explicitly.
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

    /// The USDⓈ-M futures REST base URL: `https://testnet.binancefuture.com` or
    /// `https://fapi.binance.com` (<https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info>).
    pub fn usdm_rest_url(self) -> &'static str {
        match self {
            Network::Testnet => "https://testnet.binancefuture.com",
            Network::Mainnet => "https://fapi.binance.com",
        }
    }

    /// The USDⓈ-M futures user-stream base URL (`/ws/<listenKey>` is appended). On mainnet
    /// it is the routed `/private` path: since 2026-04-23 the unrouted
    /// `wss://fstream.binance.com/ws/...` carries only public streams
    /// (<https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Important-WebSocket-Change-Notice>).
    pub fn usdm_ws_url(self) -> &'static str {
        match self {
            Network::Testnet => "wss://fstream.binancefuture.com",
            Network::Mainnet => "wss://fstream.binance.com/private",
        }
    }

    /// The COIN-M futures REST base URL: `https://testnet.binancefuture.com` or
    /// `https://dapi.binance.com` (<https://developers.binance.com/docs/derivatives/coin-margined-futures/general-info>).
    pub fn coinm_rest_url(self) -> &'static str {
        match self {
            Network::Testnet => "https://testnet.binancefuture.com",
            Network::Mainnet => "https://dapi.binance.com",
        }
    }

    /// The COIN-M futures stream base URL (user stream: `/ws/<listenKey>` is appended).
    pub fn coinm_ws_url(self) -> &'static str {
        match self {
            Network::Testnet => "wss://dstream.binancefuture.com",
            Network::Mainnet => "wss://dstream.binance.com",
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
