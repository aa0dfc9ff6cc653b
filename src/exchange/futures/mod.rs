//! The Binance futures market-data APIs: USDⓈ-M (`/fapi`, [`FuturesClient::usdm`]) and
//! COIN-M (`/dapi`, [`FuturesClient::coinm`]). The two speak the same shapes on different
//! paths and weights, so one client serves both, each over its own [`RestClient`] (own base
//! URL, request-weight budget taken from its own `exchangeInfo`, clock offset).
//!
//! - this file: [`FuturesClient`] and its endpoints;
//! - `usdm`, `coinm`: each market's paths and weights;
//! - `wire`: the JSON shapes, private.
//!
//! References:
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api>,
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api>.

mod coinm;
mod paper;
mod trading;
mod usdm;
mod user_data;
mod user_ws;
mod wire;

pub use paper::{FuturesPaperRejection, simulated_account_update, simulated_order_update};
pub use trading::FUTURES_ORDERS_MAX_LIMIT;
pub use user_data::{LISTEN_KEY_DOES_NOT_EXIST, ListenKeys, parse_futures_frame};
pub use user_ws::{ListenKeyConnection, ListenKeyTimings, listen_key_error};

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use url::Url;

use super::error::ExchangeError;
use super::transport::{Api, ClientOptions, Endpoint, RestClient, decode};
use super::weight::WeightStatus;
use crate::clock::Clock;
use crate::domain::{
    ContractSpec, ExchangeInfo, FundingRate, Interval, Kline, MarkPrice, Market, OpenInterest,
    Symbol, Ticker,
};

/// Largest `limit` of the futures `klines` (1500 on both markets); the daemon asks for at
/// most [`super::KLINES_MAX_LIMIT`] like on spot.
pub const FUTURES_KLINES_MAX_LIMIT: u16 = 1500;
/// Largest `limit` of `fundingRate`.
pub const FUNDING_RATE_MAX_LIMIT: u16 = 1000;
/// Largest `limit` of `openInterestHist`.
pub const OPEN_INTEREST_HIST_MAX_LIMIT: u16 = 500;

/// One futures market's endpoints and their weights.
#[derive(Debug)]
struct Paths {
    market: Market,
    time: Endpoint,
    exchange_info: Endpoint,
    /// The klines path; the weight follows the `limit` ([`klines_weight`]).
    klines: &'static str,
    /// `ticker/24hr` without a symbol (all of them).
    ticker_24hr_all: Endpoint,
    /// `premiumIndex` without a symbol (all of them).
    premium_index_all: Endpoint,
    /// `openInterest?symbol=`.
    open_interest: Endpoint,
    /// `fundingRate`.
    funding_rate: Endpoint,
    /// `/futures/data/openInterestHist` (USDⓈ-M: weight 0 but its own limit of 1000
    /// requests per 5 minutes).
    open_interest_hist: Endpoint,
}

/// The weight of a futures `klines` request of `limit` candles: 1 below 100, 2 below 500,
/// 5 up to 1000, 10 above ("Kline/Candlestick Data" of either market).
fn klines_weight(limit: u16) -> u32 {
    match limit {
        0..100 => 1,
        100..500 => 2,
        500..=1000 => 5,
        _ => 10,
    }
}

/// The futures market-data client of one market (USDⓈ-M or COIN-M).
///
/// Cheap to clone: clones share the connection pool, the clock offset and the weight
/// budget of this market. Errors are [`ExchangeError`]s as the transport describes them.
#[derive(Clone, Debug)]
pub struct FuturesClient {
    rest: RestClient,
    paths: &'static Paths,
    /// The contract specs of the newest `exchangeInfo` read through any handle.
    specs: Arc<RwLock<HashMap<Symbol, ContractSpec>>>,
}

impl FuturesClient {
    /// The USDⓈ-M futures client (`/fapi`) for `options`, reading time from `clock`.
    ///
    /// # Errors
    /// [`ExchangeError::InvalidRequest`] for a bad `rest_url`, a zero timeout, or when the
    /// HTTP client cannot be built.
    pub fn usdm(options: ClientOptions, clock: Clock) -> Result<FuturesClient, ExchangeError> {
        FuturesClient::new(&usdm::PATHS, options, clock)
    }

    /// The COIN-M futures client (`/dapi`) for `options`, reading time from `clock`.
    ///
    /// # Errors
    /// As [`FuturesClient::usdm`].
    pub fn coinm(options: ClientOptions, clock: Clock) -> Result<FuturesClient, ExchangeError> {
        FuturesClient::new(&coinm::PATHS, options, clock)
    }

    fn new(
        paths: &'static Paths,
        options: ClientOptions,
        clock: Clock,
    ) -> Result<FuturesClient, ExchangeError> {
        Ok(FuturesClient {
            rest: RestClient::new(options, clock, Api { time: paths.time })?,
            paths,
            specs: Arc::default(),
        })
    }

    /// Which market this client serves ([`Market::UsdM`] or [`Market::CoinM`]).
    pub fn market(&self) -> Market {
        self.paths.market
    }

    /// A handle whose requests run at background priority (history backfill).
    pub fn background(&self) -> FuturesClient {
        FuturesClient {
            rest: self.rest.background(),
            paths: self.paths,
            specs: Arc::clone(&self.specs),
        }
    }

    /// A handle whose requests are made for control clients (refused at once instead of
    /// waiting when they would take weight kept for the beats).
    pub fn control(&self) -> FuturesClient {
        FuturesClient {
            rest: self.rest.control(),
            paths: self.paths,
            specs: Arc::clone(&self.specs),
        }
    }

    /// The request weight of one beat over `symbols` symbols and `series` series: one
    /// `ticker/24hr` and one `premiumIndex` for all symbols, one
    /// `openInterest` per symbol, one `klines` (of fewer than 500 candles) per series.
    pub fn beat_weight(&self, symbols: usize, series: usize) -> u32 {
        if symbols == 0 {
            return 0;
        }
        let p = self.paths;
        let per_symbol = u32::try_from(symbols).unwrap_or(u32::MAX);
        let series = u32::try_from(series).unwrap_or(u32::MAX);
        (p.ticker_24hr_all.weight + p.premium_index_all.weight)
            .saturating_add(per_symbol.saturating_mul(p.open_interest.weight))
            .saturating_add(series.saturating_mul(klines_weight(499)))
    }

    /// Keeps, in every one-minute window, the weight of `beats` beats of `beat_weight` plus
    /// one `exchangeInfo` and one `time`, for the beats.
    pub fn reserve_for_beats(&self, beat_weight: u32, beats: u32) {
        let reserve = beat_weight
            .saturating_mul(beats)
            .saturating_add(self.paths.exchange_info.weight + self.paths.time.weight);
        self.rest.reserve_for_beats(reserve);
    }

    /// Counts `weight` as spent by a control client now, if the control share has room.
    ///
    /// # Errors
    /// [`ExchangeError::WeightReserved`] when it has not; `RateLimited` or `Banned`
    /// while a back-off or ban runs.
    pub fn prepay_control(&self, weight: u32) -> Result<(), ExchangeError> {
        self.rest.prepay_control(weight)
    }

    /// The REST base URL requests go to (scheme, host, port).
    pub fn rest_url(&self) -> &Url {
        self.rest.rest_url()
    }

    /// `GET …/time` (weight 1): measures and keeps the clock offset, returns it (ms).
    ///
    /// # Errors
    /// As any request.
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        self.rest.sync_time().await
    }

    /// The exchange's own time, measured now (`GET …/time`), ms since the epoch.
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

    /// The last measured clock offset (server minus local), ms.
    pub fn clock_offset_ms(&self) -> i64 {
        self.rest.clock_offset_ms()
    }

    /// The exchange's time now, as estimated: local clock plus offset, ms.
    pub fn server_now_ms(&self) -> i64 {
        self.rest.server_now_ms()
    }

    /// The request-weight budget as last reported, in the current server-time window.
    pub fn weight(&self) -> WeightStatus {
        self.rest.weight()
    }

    /// `GET …/exchangeInfo` (weight 1): the market's contracts, their status and filters;
    /// adopts its one-minute `REQUEST_WEIGHT` limit as this market's weight budget and
    /// keeps the contract specs ([`FuturesClient::contract_spec`]).
    /// COIN-M's `contractStatus` is read as the status. Symbols whose names are not valid
    /// [`Symbol`]s are left out.
    ///
    /// # Errors
    /// As any request; [`ExchangeError::Decode`] for an answer that does not parse.
    pub async fn exchange_info(&self) -> Result<ExchangeInfo, ExchangeError> {
        let endpoint = self.paths.exchange_info;
        let reply = self.rest.get(endpoint, &[]).await?;
        let info = parse_exchange_info(&reply.body).map_err(decode(endpoint))?;
        let specs = wire::parse_contract_specs(&reply.body).map_err(decode(endpoint))?;
        self.rest.adopt_limits(&info);
        self.rest.remember_exchange_info(&info);
        *self.specs.write().unwrap_or_else(PoisonError::into_inner) =
            specs.into_iter().map(|c| (c.symbol.clone(), c)).collect();
        Ok(info)
    }

    /// The contract spec of `symbol` (type, size, delivery and onboard dates) from the
    /// newest [`FuturesClient::exchange_info`] read through any handle of this client;
    /// `None` before the first or when it did not list `symbol`. Sends nothing.
    pub fn contract_spec(&self, symbol: &Symbol) -> Option<ContractSpec> {
        self.specs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(symbol)
            .cloned()
    }

    /// Every contract spec of the newest [`FuturesClient::exchange_info`], by symbol name.
    pub fn contract_specs(&self) -> Vec<ContractSpec> {
        let mut all: Vec<ContractSpec> = self
            .specs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        all
    }

    /// The 429s (request weight) and 418s seen since start.
    pub fn limits_seen(&self) -> crate::exchange::LimitsSeen {
        self.rest.limits_seen()
    }

    /// The newest answer of [`FuturesClient::exchange_info`] on any handle of this client,
    /// if it was read at most `max_age_ms` ago (local clock); sends nothing.
    pub fn cached_exchange_info(&self, max_age_ms: i64) -> Option<std::sync::Arc<ExchangeInfo>> {
        self.rest.cached_exchange_info(max_age_ms)
    }

    /// One symbol's rules: the futures `exchangeInfo` takes no symbol, so this reads all
    /// of it and keeps `symbol`. An unknown symbol is the rejection `-1121`, as spot
    /// answers it.
    ///
    /// # Errors
    /// As [`FuturesClient::exchange_info`].
    pub async fn exchange_info_for(&self, symbol: &Symbol) -> Result<ExchangeInfo, ExchangeError> {
        let mut info = self.exchange_info().await?;
        info.symbols.retain(|s| &s.symbol == symbol);
        if info.symbols.is_empty() {
            return Err(ExchangeError::Api {
                endpoint: self.paths.exchange_info.path,
                http_status: 400,
                code: -1121,
                msg: format!("Invalid symbol {symbol} on {}", self.paths.market.as_str()),
            });
        }
        Ok(info)
    }

    /// `GET …/klines`: up to `limit` (1..=1500) candles, oldest first, as on spot. On
    /// COIN-M `volume` is in contracts and `quote_volume` is the base-asset volume
    /// (Binance's columns 5 and 7, unconverted).
    ///
    /// # Errors
    /// [`ExchangeError::InvalidRequest`] for a bad limit or range, before sending; else as
    /// any request.
    pub async fn klines(
        &self,
        symbol: &Symbol,
        interval: Interval,
        start_time: Option<i64>,
        end_time: Option<i64>,
        limit: u16,
    ) -> Result<Vec<Kline>, ExchangeError> {
        if !(1..=FUTURES_KLINES_MAX_LIMIT).contains(&limit) {
            return Err(ExchangeError::InvalidRequest(format!(
                "klines limit {limit} is out of range 1..={FUTURES_KLINES_MAX_LIMIT}"
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
        let endpoint = Endpoint {
            path: self.paths.klines,
            weight: klines_weight(limit),
        };
        let reply = self.rest.get(endpoint, &query).await?;
        super::spot::parse_klines(&reply.body).map_err(decode(endpoint))
    }

    /// The 24-hour tickers of `symbols`: one `ticker/24hr` for all symbols of the market
    /// (weight 40; the futures APIs take one symbol or none), kept for `symbols`. The
    /// futures ticker has no book: `bid_*`/`ask_*` are 0. An empty slice sends nothing.
    ///
    /// # Errors
    /// As any request; [`ExchangeError::Decode`] when the answer does not parse.
    pub async fn tickers_24hr(&self, symbols: &[Symbol]) -> Result<Vec<Ticker>, ExchangeError> {
        if symbols.is_empty() {
            return Ok(Vec::new());
        }
        let endpoint = self.paths.ticker_24hr_all;
        let reply = self.rest.get(endpoint, &[]).await?;
        let mut tickers = wire::parse_tickers(&reply.body).map_err(decode(endpoint))?;
        tickers.retain(|t| symbols.contains(&t.symbol));
        Ok(tickers)
    }

    /// `GET …/premiumIndex` for all symbols (one request; weight 10): mark, index and
    /// estimated settle prices, latest funding rate and next funding time of every
    /// contract of the market. Binance:
    /// <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Mark-Price>.
    ///
    /// # Errors
    /// As any request; one malformed element refuses the whole answer
    /// ([`ExchangeError::Decode`]).
    pub async fn premium_index(&self) -> Result<Vec<MarkPrice>, ExchangeError> {
        let endpoint = self.paths.premium_index_all;
        let reply = self.rest.get(endpoint, &[]).await?;
        wire::parse_premium_index(&reply.body).map_err(decode(endpoint))
    }

    /// `GET …/openInterest?symbol=` (weight 1): the open interest now (contracts on
    /// COIN-M, base asset on USDⓈ-M). Binance:
    /// <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest>.
    ///
    /// # Errors
    /// As any request; [`ExchangeError::Decode`] when the answer is malformed or names
    /// another symbol.
    pub async fn open_interest(&self, symbol: &Symbol) -> Result<OpenInterest, ExchangeError> {
        let endpoint = self.paths.open_interest;
        let reply = self
            .rest
            .get(endpoint, &[("symbol", symbol.to_string())])
            .await?;
        let oi = wire::parse_open_interest(&reply.body).map_err(decode(endpoint))?;
        if &oi.symbol != symbol {
            return Err(decode(endpoint)(format!(
                "asked for {symbol}, answered for {}",
                oi.symbol
            )));
        }
        Ok(oi)
    }

    /// `GET …/fundingRate`: up to `limit` (1..=1000) funding events of `symbol` with
    /// `start_time <= fundingTime <= end_time` (ms), oldest first. Binance:
    /// <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Get-Funding-Rate-History>.
    ///
    /// # Errors
    /// [`ExchangeError::InvalidRequest`] for a bad limit, before sending; else as any
    /// request.
    pub async fn funding_rates(
        &self,
        symbol: &Symbol,
        start_time: i64,
        end_time: i64,
        limit: u16,
    ) -> Result<Vec<FundingRate>, ExchangeError> {
        if !(1..=FUNDING_RATE_MAX_LIMIT).contains(&limit) || start_time > end_time {
            return Err(ExchangeError::InvalidRequest(format!(
                "fundingRate limit {limit} (1..={FUNDING_RATE_MAX_LIMIT}) or range {start_time}..{end_time} is invalid"
            )));
        }
        let endpoint = self.paths.funding_rate;
        let query = [
            ("symbol", symbol.to_string()),
            ("startTime", start_time.to_string()),
            ("endTime", end_time.to_string()),
            ("limit", limit.to_string()),
        ];
        let reply = self.rest.get(endpoint, &query).await?;
        wire::parse_funding_rates(&reply.body).map_err(decode(endpoint))
    }

    /// `GET /futures/data/openInterestHist`: up to `limit` (1..=500) open-interest
    /// readings of `symbol` at `period` (`5m` … `1d`) between `start_time` and `end_time`
    /// (ms), oldest first. Binance keeps the last 30 days only. On COIN-M the series is
    /// asked by pair and contract type, both taken from the symbol (`BTCUSD_PERP` →
    /// `BTCUSD`, `PERPETUAL`; a delivery contract → `ALL` of its pair is not the
    /// contract's own, so it is refused). Binance:
    /// <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest-Statistics>.
    ///
    /// # Errors
    /// [`ExchangeError::InvalidRequest`] for a bad limit, period or COIN-M delivery
    /// contract, before sending; else as any request.
    pub async fn open_interest_hist(
        &self,
        symbol: &Symbol,
        period: &str,
        start_time: i64,
        end_time: i64,
        limit: u16,
    ) -> Result<Vec<OpenInterest>, ExchangeError> {
        if !(1..=OPEN_INTEREST_HIST_MAX_LIMIT).contains(&limit)
            || !crate::domain::OPEN_INTEREST_PERIODS.contains(&period)
            || start_time > end_time
        {
            return Err(ExchangeError::InvalidRequest(format!(
                "openInterestHist limit {limit}, period {period:?} or range {start_time}..{end_time} is invalid"
            )));
        }
        let mut query = match self.paths.market {
            Market::CoinM => {
                let Some(pair) = symbol.as_str().strip_suffix("_PERP") else {
                    return Err(ExchangeError::InvalidRequest(format!(
                        "openInterestHist of {symbol}: only COIN-M perpetuals have a series of their own"
                    )));
                };
                vec![
                    ("pair", pair.to_string()),
                    ("contractType", "PERPETUAL".to_string()),
                ]
            }
            _ => vec![("symbol", symbol.to_string())],
        };
        query.extend([
            ("period", period.to_string()),
            ("startTime", start_time.to_string()),
            ("endTime", end_time.to_string()),
            ("limit", limit.to_string()),
        ]);
        let endpoint = self.paths.open_interest_hist;
        let reply = self.rest.get(endpoint, &query).await?;
        wire::parse_open_interest_hist(&reply.body, symbol).map_err(decode(endpoint))
    }
}

/// A futures `exchangeInfo` answer → [`ExchangeInfo`], read by the spot parser (same
/// `rateLimits`, `symbols[].filters`, assets) once COIN-M's `contractStatus` is renamed
/// `status`.
pub(super) fn parse_exchange_info(body: &[u8]) -> Result<ExchangeInfo, String> {
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if let Some(symbols) = value.get_mut("symbols").and_then(|s| s.as_array_mut()) {
        for s in symbols.iter_mut().filter_map(|s| s.as_object_mut()) {
            if !s.contains_key("status")
                && let Some(status) = s.remove("contractStatus")
            {
                s.insert("status".to_string(), status);
            }
        }
    }
    let body = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    super::spot::parse_exchange_info(&body)
}

#[cfg(test)]
mod tests;
