//! The Binance spot API (`/api/v3`, the WebSocket API's user-data stream): endpoints,
//! weights, JSON shapes, and the [`SpotClient`] that speaks them over the shared transport.
//!
//! - this file: [`SpotClient`] and the public market-data endpoints;
//! - `trading`: the signed order and account endpoints;
//! - `wire`: the market-data JSON shapes, private;
//! - `user_data`, `user_events`: the WebSocket API's frames and user-data events, parsed
//!   into [`crate::domain`] events;
//! - `ws_api`: one WebSocket API connection, subscribed to the user-data stream.
//!
//! Reference: https://developers.binance.com/docs/binance-spot-api-docs/rest-api

pub mod book_stream;
mod paper;
mod trading;
mod user_data;
mod user_events;
mod wire;
pub mod ws_api;

use std::sync::Arc;
use std::time::Duration;

use url::Url;

pub use paper::{PaperRejection, simulated_account_position, simulated_execution_report};
pub use trading::ORDERS_MAX_LIMIT;
pub use user_data::{Frame, FrameError, ParsedEvent, WsError, WsResponse, parse_frame};

/// `GET /api/v3/exchangeInfo` parsed, for [`crate::exchange::parse_exchange_info`].
pub(super) fn parse_exchange_info(body: &[u8]) -> Result<ExchangeInfo, String> {
    wire::parse_exchange_info(body)
}

/// A klines answer parsed (the same 12-element rows on every Binance market), for the
/// futures module.
pub(super) fn parse_klines(body: &[u8]) -> Result<Vec<Kline>, String> {
    wire::parse_klines(body)
}

use super::error::ExchangeError;
use super::signing::Signer;
use super::transport::{Api, ClientOptions, Endpoint, RestClient, decode};
use super::weight::WeightStatus;
use crate::clock::Clock;
use crate::domain::{Credentials, ExchangeInfo, Interval, Kline, Secret, Symbol, Ticker};

/// Largest `limit` of `GET /api/v3/klines` ("Kline/Candlestick data" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>).
pub const KLINES_MAX_LIMIT: u16 = 1000;

const PING: Endpoint = Endpoint {
    path: "/api/v3/ping",
    weight: 1,
};
const TIME: Endpoint = Endpoint {
    path: "/api/v3/time",
    weight: 1,
};
const EXCHANGE_INFO: Endpoint = Endpoint {
    path: "/api/v3/exchangeInfo",
    weight: 20,
};
const KLINES: Endpoint = Endpoint {
    path: "/api/v3/klines",
    weight: 2,
};

/// `GET /api/v3/ticker/24hr` with `symbols`: 2 for 1–20 symbols, 40 for 21–100, 80 above.
pub(in crate::exchange) fn ticker_24hr(symbols: usize) -> Endpoint {
    let weight = match symbols {
        0..=20 => 2,
        21..=100 => 40,
        _ => 80,
    };
    Endpoint {
        path: "/api/v3/ticker/24hr",
        weight,
    }
}

/// The spot API as the transport needs it.
const SPOT: Api = Api { time: TIME };

/// The Binance spot REST client: public market data and, on a handle made by
/// [`SpotClient::with_credentials`], signed trading.
///
/// Cheap to clone: clones share the connection pool, the clock offset and the weight
/// budget of this market. Errors are [`ExchangeError`]s, as the transport describes them
/// (`Connectivity`, `RateLimited`, `Banned`, `Api`, `Decode`, `InvalidRequest`,
/// `UnknownOutcome`, `OrderRateLimited`).
#[derive(Clone, Debug)]
pub struct SpotClient {
    rest: RestClient,
}

impl SpotClient {
    /// A client for `options`, reading time from `clock`, at interactive priority.
    ///
    /// # Errors
    /// [`ExchangeError::InvalidRequest`] for a bad `rest_url`, a zero timeout, or when the
    /// HTTP client cannot be built.
    pub fn new(options: ClientOptions, clock: Clock) -> Result<SpotClient, ExchangeError> {
        Ok(SpotClient {
            rest: RestClient::new(options, clock, SPOT)?,
        })
    }

    /// A handle sharing this client's pool, clock offset, weight budget and order counts
    /// that can also make SIGNED requests (HMAC-SHA256 with `credentials.api_secret`,
    /// `X-MBX-APIKEY`, `recvWindow = recv_window_ms`). See
    /// https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security
    ///
    /// # Errors
    /// [`ExchangeError::InvalidRequest`] when `recv_window_ms` is not in 1..=60000 or the
    /// API key cannot be an HTTP header value (the message never shows the key).
    pub fn with_credentials(
        &self,
        credentials: &Credentials,
        recv_window_ms: u64,
    ) -> Result<SpotClient, ExchangeError> {
        Ok(SpotClient {
            rest: self.rest.with_credentials(credentials, recv_window_ms)?,
        })
    }

    /// As [`SpotClient::with_credentials`], with any [`Signer`] (an Ed25519 key, a test
    /// double).
    ///
    /// # Errors
    /// As [`SpotClient::with_credentials`].
    pub fn with_signer(
        &self,
        api_key: &Secret,
        signer: Arc<dyn Signer>,
        recv_window_ms: u64,
    ) -> Result<SpotClient, ExchangeError> {
        Ok(SpotClient {
            rest: self.rest.with_signer(api_key, signer, recv_window_ms)?,
        })
    }

    /// A handle whose requests run at background priority (history backfill), sharing
    /// everything else.
    pub fn background(&self) -> SpotClient {
        SpotClient {
            rest: self.rest.background(),
        }
    }

    /// A handle whose requests are made for control clients, sharing everything else:
    /// refused at once with [`ExchangeError::WeightReserved`] instead of waiting when they
    /// would take request weight kept for the beats.
    pub fn control(&self) -> SpotClient {
        SpotClient {
            rest: self.rest.control(),
        }
    }

    /// The request weight of one beat over `symbols` symbols and `series` symbol ×
    /// interval series: one `ticker/24hr` for all symbols and one `klines` per series
    /// (weights as documented in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>).
    pub fn beat_weight(symbols: usize, series: usize) -> u32 {
        let series = u32::try_from(series).unwrap_or(u32::MAX);
        let tickers = if symbols == 0 {
            0
        } else {
            ticker_24hr(symbols).weight
        };
        tickers.saturating_add(series.saturating_mul(KLINES.weight))
    }

    /// Keeps, in every one-minute window, the weight of `beats` beats of `beat_weight`
    /// (from [`SpotClient::beat_weight`]) plus one `exchangeInfo` and one `time` request,
    /// for the beats: control and background requests never take it.
    pub fn reserve_for_beats(&self, beat_weight: u32, beats: u32) {
        let reserve = beat_weight
            .saturating_mul(beats)
            .saturating_add(EXCHANGE_INFO.weight + TIME.weight);
        self.rest.reserve_for_beats(reserve);
    }

    /// Counts `weight` (a manual beat's, [`SpotClient::beat_weight`]) as spent by a
    /// control client now, if the control share has room for it.
    ///
    /// # Errors
    /// [`ExchangeError::WeightReserved`] when it has not (with the time to the next
    /// window); `RateLimited` or `Banned` while a back-off or ban runs.
    pub fn prepay_control(&self, weight: u32) -> Result<(), ExchangeError> {
        self.rest.prepay_control(weight)
    }

    /// Whether this handle can make signed requests.
    pub fn is_signed(&self) -> bool {
        self.rest.is_signed()
    }

    /// The `recvWindow` of signed requests, ms; `None` on an unsigned handle.
    pub fn recv_window_ms(&self) -> Option<u64> {
        self.rest.recv_window_ms()
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.rest.request_timeout()
    }

    /// The REST base URL requests go to (scheme, host, port).
    pub fn rest_url(&self) -> &Url {
        self.rest.rest_url()
    }

    /// `GET /api/v3/time` (weight 1): measures the clock offset (server minus local, ms),
    /// keeps it for [`SpotClient::server_now_ms`] and returns it.
    ///
    /// # Errors
    /// As any request.
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        self.rest.sync_time().await
    }

    /// The exchange's own time, measured now (`GET /api/v3/time`, weight 1; also measures
    /// the offset): see [`RestClient::server_time`].
    ///
    /// # Errors
    /// As any request.
    pub async fn server_time(&self) -> Result<i64, ExchangeError> {
        self.rest.server_time().await
    }

    /// The newest server time the exchange reported, ms (`i64::MIN` before the first).
    pub fn server_time_seen(&self) -> i64 {
        self.rest.server_time_seen()
    }

    /// The last measured clock offset (server minus local), ms; 0 before
    /// [`SpotClient::sync_time`].
    pub fn clock_offset_ms(&self) -> i64 {
        self.rest.clock_offset_ms()
    }

    /// The exchange's time now, as estimated: local clock plus offset, ms since the epoch.
    pub fn server_now_ms(&self) -> i64 {
        self.rest.server_now_ms()
    }

    /// The `ORDERS` limits in force, `(interval_ms, limit)`: empty until an
    /// `exchangeInfo` answer published some.
    pub fn order_limits(&self) -> Vec<(i64, u32)> {
        self.rest.order_limits()
    }

    /// The request-weight budget as last reported, in the current server-time window.
    pub fn weight(&self) -> WeightStatus {
        self.rest.weight()
    }

    /// The 429s (request weight) and 418s seen since start.
    pub fn limits_seen(&self) -> crate::exchange::LimitsSeen {
        self.rest.limits_seen()
    }

    /// Whether one more order fits the `ORDERS` limits now, without counting it.
    ///
    /// # Errors
    /// [`ExchangeError::OrderRateLimited`] when it does not.
    pub fn check_order_rate(&self) -> Result<(), ExchangeError> {
        self.rest.check_order_rate()
    }

    /// `GET /api/v3/ping` (weight 1): checks that the exchange answers.
    pub async fn ping(&self) -> Result<(), ExchangeError> {
        let reply = self.rest.get(PING, &[]).await?;
        wire::parse_any(&reply.body).map_err(decode(PING))
    }

    /// `GET /api/v3/exchangeInfo` for all symbols (weight 20). Also adopts
    /// its one-minute `REQUEST_WEIGHT` limit as the weight budget. Symbols whose names are
    /// not valid [`Symbol`]s are left out. Binance: "Exchange information" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-endpoints>.
    pub async fn exchange_info(&self) -> Result<ExchangeInfo, ExchangeError> {
        let reply = self.rest.get(EXCHANGE_INFO, &[]).await?;
        let info = wire::parse_exchange_info(&reply.body).map_err(decode(EXCHANGE_INFO))?;
        self.rest.adopt_limits(&info);
        self.rest.remember_exchange_info(&info);
        Ok(info)
    }

    /// The newest answer of [`SpotClient::exchange_info`] on any handle of this client, if
    /// it was read at most `max_age_ms` ago (local clock); sends nothing.
    pub fn cached_exchange_info(&self, max_age_ms: i64) -> Option<std::sync::Arc<ExchangeInfo>> {
        self.rest.cached_exchange_info(max_age_ms)
    }

    /// `GET /api/v3/exchangeInfo?symbol=` (weight 20): the exchange's
    /// rules for one symbol, with its filters. Adopts the rate limits like
    /// [`SpotClient::exchange_info`]. An unknown symbol is `Api` `-1121`. Binance: "Exchange
    /// information" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-endpoints>.
    pub async fn exchange_info_for(&self, symbol: &Symbol) -> Result<ExchangeInfo, ExchangeError> {
        let reply = self
            .rest
            .get(EXCHANGE_INFO, &[("symbol", symbol.to_string())])
            .await?;
        let info = wire::parse_exchange_info(&reply.body).map_err(decode(EXCHANGE_INFO))?;
        self.rest.adopt_limits(&info);
        Ok(info)
    }

    /// `GET /api/v3/klines` (weight 2): up to `limit` (1..=1000) candles of
    /// `symbol` at `interval`, oldest first, from `start_time` and/or up to `end_time`
    /// (open times, ms since the epoch, UTC; neither: the most recent). Candles are
    /// returned as sent: the last one may still be open. Binance: "Kline/Candlestick data" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>.
    ///
    /// Errors with [`ExchangeError::InvalidRequest`] for a `limit` out of range or
    /// `start_time > end_time`, before anything is sent.
    pub async fn klines(
        &self,
        symbol: &Symbol,
        interval: Interval,
        start_time: Option<i64>,
        end_time: Option<i64>,
        limit: u16,
    ) -> Result<Vec<Kline>, ExchangeError> {
        if !(1..=KLINES_MAX_LIMIT).contains(&limit) {
            return Err(ExchangeError::InvalidRequest(format!(
                "klines limit {limit} is out of range 1..={KLINES_MAX_LIMIT}"
            )));
        }
        if let (Some(start), Some(end)) = (start_time, end_time)
            && start > end
        {
            return Err(ExchangeError::InvalidRequest(format!(
                "klines start time {start} is after end time {end}"
            )));
        }
        let mut query = vec![
            ("symbol", symbol.to_string()),
            ("interval", interval.to_string()),
        ];
        if let Some(start) = start_time {
            query.push(("startTime", start.to_string()));
        }
        if let Some(end) = end_time {
            query.push(("endTime", end.to_string()));
        }
        query.push(("limit", limit.to_string()));
        let reply = self.rest.get(KLINES, &query).await?;
        wire::parse_klines(&reply.body).map_err(decode(KLINES))
    }

    /// `GET /api/v3/ticker/24hr?symbols=[..]&type=FULL`: the rolling
    /// 24-hour tickers of `symbols`, in one request whatever their number (weight 2 for
    /// 1–20 symbols, 40 for 21–100, 80 above). An empty slice returns an empty vector
    /// without a request. An unknown symbol fails the whole request (`-1121`). Binance: "24hr
    /// ticker price change statistics" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>.
    pub async fn tickers_24hr(&self, symbols: &[Symbol]) -> Result<Vec<Ticker>, ExchangeError> {
        if symbols.is_empty() {
            return Ok(Vec::new());
        }
        // A compact JSON array; symbol names are [A-Z0-9] only, so need no escaping.
        let names: Vec<String> = symbols.iter().map(|s| format!("\"{s}\"")).collect();
        let query = [
            ("symbols", format!("[{}]", names.join(","))),
            ("type", "FULL".to_string()),
        ];
        let endpoint = ticker_24hr(symbols.len());
        let reply = self.rest.get(endpoint, &query).await?;
        wire::parse_tickers(&reply.body).map_err(decode(endpoint))
    }
}
