//! [`MarketClient`]: the public market-data side of every Binance market behind one type,
//! so that the beat, the backfill and the control socket are written once for all markets.
//!
//! One variant per API module under `exchange/` (today [`Market::Spot`] only). Adding a
//! market is adding its module and one variant here: every method below then gets one
//! more match arm, and nothing above `exchange/` changes. Each variant owns its client,
//! so each market has its own base URL, request-weight budget and clock offset.

use url::Url;

use super::error::ExchangeError;
use super::spot::SpotClient;
use super::weight::WeightStatus;
use crate::domain::{ExchangeInfo, Interval, Kline, Market, Symbol, Ticker};

/// The market-data client of one market. Cheap to clone (clones share the pool, the clock
/// offset and the weight budget). Errors are the [`ExchangeError`]s of the market's client.
#[derive(Debug, Clone)]
pub enum MarketClient {
    /// Binance spot (`/api/v3`).
    Spot(SpotClient),
}

impl From<SpotClient> for MarketClient {
    fn from(client: SpotClient) -> MarketClient {
        MarketClient::Spot(client)
    }
}

impl From<&SpotClient> for MarketClient {
    fn from(client: &SpotClient) -> MarketClient {
        MarketClient::Spot(client.clone())
    }
}

impl MarketClient {
    /// Which market this client serves.
    pub fn market(&self) -> Market {
        match self {
            MarketClient::Spot(_) => Market::Spot,
        }
    }

    /// A handle whose requests run at background priority (history backfill), sharing the
    /// rest.
    pub fn background(&self) -> MarketClient {
        match self {
            MarketClient::Spot(c) => MarketClient::Spot(c.background()),
        }
    }

    /// A handle whose requests are made for control clients (refused at once instead of
    /// waiting when they would take weight kept for the beats), sharing the rest.
    pub fn control(&self) -> MarketClient {
        match self {
            MarketClient::Spot(c) => MarketClient::Spot(c.control()),
        }
    }

    /// The request weight of one beat over `symbols` symbols and `series` series.
    pub fn beat_weight(&self, symbols: usize, series: usize) -> u32 {
        match self {
            MarketClient::Spot(_) => SpotClient::beat_weight(symbols, series),
        }
    }

    /// Keeps the weight of `beats` beats of `beat_weight` (plus the beats' occasional
    /// `exchangeInfo` and `time`) in every window for the beats.
    pub fn reserve_for_beats(&self, beat_weight: u32, beats: u32) {
        match self {
            MarketClient::Spot(c) => c.reserve_for_beats(beat_weight, beats),
        }
    }

    /// Counts `weight` as spent by a control client now, if the control share has room.
    ///
    /// # Errors
    /// [`ExchangeError::WeightReserved`] when it has not; `RateLimited` or `Banned`
    /// while a back-off or ban runs.
    pub fn prepay_control(&self, weight: u32) -> Result<(), ExchangeError> {
        match self {
            MarketClient::Spot(c) => c.prepay_control(weight),
        }
    }

    /// The REST base URL requests go to (scheme, host, port).
    pub fn rest_url(&self) -> &Url {
        match self {
            MarketClient::Spot(c) => c.rest_url(),
        }
    }

    /// Measures the clock offset to the exchange (server minus local, ms), keeps it and
    /// returns it.
    ///
    /// # Errors
    /// As any request of the market's client.
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        match self {
            MarketClient::Spot(c) => c.sync_time().await,
        }
    }

    /// Measures the exchange's time now and returns its own `serverTime`, ms since the
    /// epoch (also measures the offset). The exchange's clock has passed it before any
    /// request sent after this returns: a candle closing before it is final, whatever
    /// the local clock says.
    ///
    /// # Errors
    /// As any request of the market's client.
    pub async fn server_time(&self) -> Result<i64, ExchangeError> {
        match self {
            MarketClient::Spot(c) => c.server_time().await,
        }
    }

    /// The newest server time the exchange reported to this client, ms (`i64::MIN` before
    /// the first): read before a request, a time the exchange had passed when answering.
    pub fn server_time_seen(&self) -> i64 {
        match self {
            MarketClient::Spot(c) => c.server_time_seen(),
        }
    }

    /// The last measured clock offset (server minus local), ms.
    pub fn clock_offset_ms(&self) -> i64 {
        match self {
            MarketClient::Spot(c) => c.clock_offset_ms(),
        }
    }

    /// The exchange's time now, as estimated: local clock plus offset, ms since the epoch.
    pub fn server_now_ms(&self) -> i64 {
        match self {
            MarketClient::Spot(c) => c.server_now_ms(),
        }
    }

    /// The request-weight budget as last reported, in the current server-time window.
    pub fn weight(&self) -> WeightStatus {
        match self {
            MarketClient::Spot(c) => c.weight(),
        }
    }

    /// The 429s (request weight) and 418s this market's client has seen since start.
    pub fn limits_seen(&self) -> crate::exchange::LimitsSeen {
        match self {
            MarketClient::Spot(c) => c.limits_seen(),
        }
    }

    /// The market's symbols and rules (`exchangeInfo`); adopts its rate limits.
    ///
    /// # Errors
    /// As any request; [`ExchangeError::Decode`] for an answer that does not parse.
    pub async fn exchange_info(&self) -> Result<ExchangeInfo, ExchangeError> {
        match self {
            MarketClient::Spot(c) => c.exchange_info().await,
        }
    }

    /// One symbol's rules (`exchangeInfo?symbol=`); an unknown symbol is a rejection
    /// ([`super::Rejection::UnknownSymbol`]).
    ///
    /// # Errors
    /// As [`MarketClient::exchange_info`].
    pub async fn exchange_info_for(&self, symbol: &Symbol) -> Result<ExchangeInfo, ExchangeError> {
        match self {
            MarketClient::Spot(c) => c.exchange_info_for(symbol).await,
        }
    }

    /// Up to `limit` (1..=1000) candles of `symbol` at `interval`, oldest first, from
    /// `start_time` and/or up to `end_time` (open times, ms since the epoch, UTC). The last
    /// one may still be open.
    ///
    /// # Errors
    /// [`ExchangeError::InvalidRequest`] for a bad range, before sending; else as any
    /// request.
    pub async fn klines(
        &self,
        symbol: &Symbol,
        interval: Interval,
        start_time: Option<i64>,
        end_time: Option<i64>,
        limit: u16,
    ) -> Result<Vec<Kline>, ExchangeError> {
        match self {
            MarketClient::Spot(c) => {
                c.klines(symbol, interval, start_time, end_time, limit)
                    .await
            }
        }
    }

    /// The rolling 24-hour tickers of `symbols`, in one request.
    ///
    /// # Errors
    /// As any request; one unknown symbol fails the whole request.
    pub async fn tickers_24hr(&self, symbols: &[Symbol]) -> Result<Vec<Ticker>, ExchangeError> {
        match self {
            MarketClient::Spot(c) => c.tickers_24hr(symbols).await,
        }
    }
}
