//! [`MarketClient`]: the public market-data side of every Binance market behind one type,
//! so that the beat, the backfill and the control socket are written once for all markets.
//!
//! One variant per market: [`Market::Spot`] (`exchange/spot`), [`Market::UsdM`] and
//! [`Market::CoinM`] (`exchange/futures`). Adding a
//! market is adding its module and one variant here: every method below then gets one
//! more match arm, and nothing above `exchange/` changes. Each variant owns its client,
//! so each market has its own base URL, request-weight budget and clock offset.

use url::Url;

use super::error::ExchangeError;
use super::futures::FuturesClient;
use super::spot::SpotClient;
use super::weight::WeightStatus;
use crate::domain::{
    ContractSpec, ExchangeInfo, FundingRate, Interval, Kline, MarkPrice, Market, OpenInterest,
    Symbol, Ticker,
};

/// The market-data client of one market. Cheap to clone (clones share the pool, the clock
/// offset and the weight budget). Errors are the [`ExchangeError`]s of the market's client.
#[derive(Debug, Clone)]
pub enum MarketClient {
    /// Binance spot (`/api/v3`).
    Spot(SpotClient),
    /// USDⓈ-M futures (`/fapi`).
    Usdm(FuturesClient),
    /// COIN-M futures (`/dapi`).
    Coinm(FuturesClient),
}

impl From<FuturesClient> for MarketClient {
    fn from(client: FuturesClient) -> MarketClient {
        match client.market() {
            Market::CoinM => MarketClient::Coinm(client),
            _ => MarketClient::Usdm(client),
        }
    }
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
            MarketClient::Usdm(_) => Market::UsdM,
            MarketClient::Coinm(_) => Market::CoinM,
        }
    }

    /// A handle whose requests run at background priority (history backfill), sharing the
    /// rest.
    pub fn background(&self) -> MarketClient {
        match self {
            MarketClient::Spot(c) => MarketClient::Spot(c.background()),
            MarketClient::Usdm(c) => MarketClient::Usdm(c.background()),
            MarketClient::Coinm(c) => MarketClient::Coinm(c.background()),
        }
    }

    /// A handle whose requests are made for control clients (refused at once instead of
    /// waiting when they would take weight kept for the beats), sharing the rest.
    pub fn control(&self) -> MarketClient {
        match self {
            MarketClient::Spot(c) => MarketClient::Spot(c.control()),
            MarketClient::Usdm(c) => MarketClient::Usdm(c.control()),
            MarketClient::Coinm(c) => MarketClient::Coinm(c.control()),
        }
    }

    /// The request weight of one beat over `symbols` symbols and `series` series.
    pub fn beat_weight(&self, symbols: usize, series: usize) -> u32 {
        match self {
            MarketClient::Spot(_) => SpotClient::beat_weight(symbols, series),
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.beat_weight(symbols, series),
        }
    }

    /// Keeps the weight of `beats` beats of `beat_weight` (plus the beats' occasional
    /// `exchangeInfo` and `time`) in every window for the beats.
    pub fn reserve_for_beats(&self, beat_weight: u32, beats: u32) {
        match self {
            MarketClient::Spot(c) => c.reserve_for_beats(beat_weight, beats),
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => {
                c.reserve_for_beats(beat_weight, beats)
            }
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
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.prepay_control(weight),
        }
    }

    /// The REST base URL requests go to (scheme, host, port).
    pub fn rest_url(&self) -> &Url {
        match self {
            MarketClient::Spot(c) => c.rest_url(),
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.rest_url(),
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
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.sync_time().await,
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
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.server_time().await,
        }
    }

    /// The newest server time the exchange reported to this client, ms (`i64::MIN` before
    /// the first): read before a request, a time the exchange had passed when answering.
    pub fn server_time_seen(&self) -> i64 {
        match self {
            MarketClient::Spot(c) => c.server_time_seen(),
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.server_time_seen(),
        }
    }

    /// The last measured clock offset (server minus local), ms.
    pub fn clock_offset_ms(&self) -> i64 {
        match self {
            MarketClient::Spot(c) => c.clock_offset_ms(),
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.clock_offset_ms(),
        }
    }

    /// The exchange's time now, as estimated: local clock plus offset, ms since the epoch.
    pub fn server_now_ms(&self) -> i64 {
        match self {
            MarketClient::Spot(c) => c.server_now_ms(),
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.server_now_ms(),
        }
    }

    /// The request-weight budget as last reported, in the current server-time window.
    pub fn weight(&self) -> WeightStatus {
        match self {
            MarketClient::Spot(c) => c.weight(),
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.weight(),
        }
    }

    /// The 429s (request weight) and 418s this market's client has seen since start.
    pub fn limits_seen(&self) -> crate::exchange::LimitsSeen {
        match self {
            MarketClient::Spot(c) => c.limits_seen(),
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.limits_seen(),
        }
    }

    /// The market's symbols and rules (`exchangeInfo`); adopts its rate limits.
    ///
    /// # Errors
    /// As any request; [`ExchangeError::Decode`] for an answer that does not parse.
    pub async fn exchange_info(&self) -> Result<ExchangeInfo, ExchangeError> {
        match self {
            MarketClient::Spot(c) => c.exchange_info().await,
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.exchange_info().await,
        }
    }

    /// The newest full `exchangeInfo` read through any handle of this client (the beats
    /// read it first thing and hourly), if read at most `max_age_ms` ago; sends nothing.
    pub fn cached_exchange_info(&self, max_age_ms: i64) -> Option<std::sync::Arc<ExchangeInfo>> {
        match self {
            MarketClient::Spot(c) => c.cached_exchange_info(max_age_ms),
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.cached_exchange_info(max_age_ms),
        }
    }

    /// The futures contract spec of `symbol` from the newest `exchangeInfo` this client
    /// read; `None` on spot, before the first read, or when it was not listed.
    pub fn contract_spec(&self, symbol: &Symbol) -> Option<ContractSpec> {
        match self {
            MarketClient::Spot(_) => None,
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.contract_spec(symbol),
        }
    }

    /// Every futures contract spec of the newest `exchangeInfo` this client read (empty on
    /// spot).
    pub fn contract_specs(&self) -> Vec<ContractSpec> {
        match self {
            MarketClient::Spot(_) => Vec::new(),
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.contract_specs(),
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
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.exchange_info_for(symbol).await,
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
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => {
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
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => c.tickers_24hr(symbols).await,
        }
    }

    /// The futures client behind this handle, or [`ExchangeError::InvalidRequest`] naming
    /// `what` on spot.
    fn futures(&self, what: &str) -> Result<&FuturesClient, ExchangeError> {
        match self {
            MarketClient::Spot(_) => Err(ExchangeError::InvalidRequest(format!(
                "{what} exists on the futures markets (usdm, coinm), not on spot"
            ))),
            MarketClient::Usdm(c) | MarketClient::Coinm(c) => Ok(c),
        }
    }

    /// Futures: the mark price, index price, estimated settle price, funding rate and next
    /// funding time of every contract of the market, in one request
    /// ([`FuturesClient::premium_index`]).
    ///
    /// # Errors
    /// [`ExchangeError::InvalidRequest`] on spot; else as the request; a malformed element
    /// refuses the whole answer.
    pub async fn premium_index(&self) -> Result<Vec<MarkPrice>, ExchangeError> {
        self.futures("premiumIndex")?.premium_index().await
    }

    /// Futures: the open interest of `symbol` now ([`FuturesClient::open_interest`]).
    ///
    /// # Errors
    /// As [`MarketClient::premium_index`].
    pub async fn open_interest(&self, symbol: &Symbol) -> Result<OpenInterest, ExchangeError> {
        self.futures("openInterest")?.open_interest(symbol).await
    }

    /// Futures: funding events of `symbol` ([`FuturesClient::funding_rates`]).
    ///
    /// # Errors
    /// As [`MarketClient::premium_index`].
    pub async fn funding_rates(
        &self,
        symbol: &Symbol,
        start_time: i64,
        end_time: i64,
        limit: u16,
    ) -> Result<Vec<FundingRate>, ExchangeError> {
        self.futures("fundingRate")?
            .funding_rates(symbol, start_time, end_time, limit)
            .await
    }

    /// Futures: open-interest history of `symbol` at `period`
    /// ([`FuturesClient::open_interest_hist`]).
    ///
    /// # Errors
    /// As [`MarketClient::premium_index`].
    pub async fn open_interest_hist(
        &self,
        symbol: &Symbol,
        period: &str,
        start_time: i64,
        end_time: i64,
        limit: u16,
    ) -> Result<Vec<OpenInterest>, ExchangeError> {
        self.futures("openInterestHist")?
            .open_interest_hist(symbol, period, start_time, end_time, limit)
            .await
    }
}
