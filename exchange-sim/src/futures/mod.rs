//! USDⓈ-M (`/fapi`) and COIN-M (`/dapi`) futures market data, each market on its own
//! listener ([`crate::SimHandle::usdm_url`], [`crate::SimHandle::coinm_url`]) because
//! Binance uses the same paths on both hosts (`/futures/data/openInterestHist`).
//!
//! Each market has its own clock skew, REQUEST_WEIGHT limiter (429 → 418 as on spot), fault
//! knobs, request log and contract statuses, controlled through a [`FuturesSim`]
//! ([`crate::SimHandle::usdm`], [`crate::SimHandle::coinm`],
//! [`crate::SimHandle::futures`]). The spot API and its knobs are unchanged.
//!
//! See `rest` for the endpoints, `series` for the replayed data and `derived` for the
//! derived series (mark price, index price, funding rate, open interest).

mod contracts;
mod derived;
mod engine;
mod knobs;
mod rest;
mod series;
mod trade;
mod user_stream;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

pub(crate) use rest::router;
pub(crate) use user_stream::background;

use crate::{
    RequestRecord,
    faults::Faults,
    state::{Clock, RequestLog},
    weights::RateLimiter,
};

pub use contracts::{COINM_CONTRACT_SIZES, delivery_symbol_at};
pub use derived::{FUNDING_INTERVAL_MS, OPEN_INTEREST_HIST_KEPT_MS};
pub use knobs::{SimAlgoOrder, SimFuturesBalance, SimFuturesOrder, SimFuturesTrade, SimPosition};
pub use user_stream::{DEFAULT_LISTEN_KEY_TTL, USER_EVENT_LOG_CAPACITY};

/// A futures market of the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FuturesMarket {
    /// USDⓈ-M futures: `/fapi/v1/...` (Binance host `fapi.binance.com`).
    Usdm,
    /// COIN-M futures: `/dapi/v1/...` (Binance host `dapi.binance.com`).
    Coinm,
}

impl FuturesMarket {
    /// `"usdm"` or `"coinm"`, the names tradebeat uses.
    pub fn name(self) -> &'static str {
        match self {
            FuturesMarket::Usdm => "usdm",
            FuturesMarket::Coinm => "coinm",
        }
    }

    /// The REST path prefix: `/fapi/v1` or `/dapi/v1`.
    pub fn prefix(self) -> &'static str {
        match self {
            FuturesMarket::Usdm => "/fapi/v1",
            FuturesMarket::Coinm => "/dapi/v1",
        }
    }

    /// REQUEST_WEIGHT per minute its exchange information states by default (USD-M 2400,
    /// COIN-M 6000, as in Binance's examples).
    pub fn default_weight_limit(self) -> u32 {
        match self {
            FuturesMarket::Usdm => 2400,
            FuturesMarket::Coinm => 6000,
        }
    }
}

/// Requests per 5 minutes `/futures/data/*` allows per IP (its own limit, besides weight).
pub const FUTURES_DATA_REQUESTS_PER_5MIN: u32 = 1000;

/// Requests per 5 minutes `GET /fapi/v1/fundingRate` allows per IP (its own limit, shared
/// on Binance with `fundingInfo`; USD-M only).
pub const FUNDING_RATE_REQUESTS_PER_5MIN: u32 = 500;

/// A kline of a futures market as served: decimals are the exact wire strings.
///
/// 1m candles carry the recorded strings verbatim (USD-M) or the derived ones (COIN-M, see
/// the crate docs); higher intervals use the recorded prices of the rows holding the first
/// open, highest high, lowest low and last close, and exact sums of the minutes' volumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFuturesKline {
    /// Open time, ms since the epoch.
    pub open_time: i64,
    /// Close time, ms since the epoch (`next open - 1`).
    pub close_time: i64,
    /// Open price.
    pub open: String,
    /// High price.
    pub high: String,
    /// Low price.
    pub low: String,
    /// Close price.
    pub close: String,
    /// Volume: base asset on USD-M, contracts on COIN-M.
    pub volume: String,
    /// Index 7: quote asset volume on USD-M, base asset volume on COIN-M.
    pub quote_volume: String,
    /// Number of trades.
    pub trades: u64,
    /// Taker buy volume: base asset on USD-M, contracts on COIN-M.
    pub taker_buy_volume: String,
    /// Taker buy quote asset volume on USD-M, taker buy base asset volume on COIN-M.
    pub taker_buy_quote_volume: String,
}

impl SimFuturesKline {
    /// The same candle with every decimal parsed to `f64` the way a client parses the
    /// served string, as the spot [`crate::SimKline`].
    pub fn to_sim_kline(&self) -> crate::SimKline {
        let f = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
        crate::SimKline {
            open_time: self.open_time,
            close_time: self.close_time,
            open: f(&self.open),
            high: f(&self.high),
            low: f(&self.low),
            close: f(&self.close),
            volume: f(&self.volume),
            quote_volume: f(&self.quote_volume),
            trades: self.trades,
            taker_buy_base_volume: f(&self.taker_buy_volume),
            taker_buy_quote_volume: f(&self.taker_buy_quote_volume),
        }
    }
}

/// One funding event as `GET /fapi/v1/fundingRate` / `GET /dapi/v1/fundingRate` serve it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFundingRate {
    /// The contract.
    pub symbol: String,
    /// Funding time, ms since the epoch (a multiple of 8 h).
    pub funding_time: i64,
    /// Funding rate, decimal string with 8 decimals (e.g. `"0.00010000"`).
    pub funding_rate: String,
    /// Mark price at the funding time, decimal string.
    pub mark_price: String,
}

/// One `premiumIndex` entry as served at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPremiumIndex {
    /// The contract.
    pub symbol: String,
    /// Mark price, decimal string with 8 decimals.
    pub mark_price: String,
    /// Index price, decimal string with 8 decimals.
    pub index_price: String,
    /// Estimated settle price, decimal string with 8 decimals.
    pub estimated_settle_price: String,
    /// Funding rate of the running period (`""` for COIN-M delivery contracts).
    pub last_funding_rate: String,
    /// Interest rate (`""` for COIN-M delivery contracts).
    pub interest_rate: String,
    /// Next funding time, ms since the epoch (0 for COIN-M delivery contracts).
    pub next_funding_time: i64,
    /// The time of the snapshot, ms since the epoch.
    pub time: i64,
}

/// Open interest of a contract at a time, as served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOpenInterest {
    /// The contract.
    pub symbol: String,
    /// Open interest: base asset on USD-M (3 decimals), contracts on COIN-M (integer).
    pub open_interest: String,
    /// Its value: quote asset (USDT) on USD-M, base asset on COIN-M; 8 decimals.
    pub open_interest_value: String,
    /// The time, ms since the epoch.
    pub time: i64,
}

/// State of one futures market's server.
#[derive(Debug)]
pub(crate) struct FuturesShared {
    pub market: FuturesMarket,
    pub clock: Clock,
    pub limiter: RateLimiter,
    /// The request-count limit of `/futures/data/*` (5-minute windows).
    pub data_limiter: RateLimiter,
    /// The request-count limit of `GET /fapi/v1/fundingRate` (5-minute windows).
    pub funding_limiter: RateLimiter,
    pub faults: Faults,
    pub log: RequestLog,
    pub contracts: contracts::Contracts,
    /// While set, every request is answered 429 (see [`FuturesSim::set_forced_429`]).
    pub forced_429: AtomicBool,
    /// The account, its orders and positions (see the `engine` module).
    pub engine: engine::Engine,
    /// Listen keys and user-stream connections.
    pub streams: user_stream::UserStreams,
}

impl FuturesShared {
    pub(crate) fn new(market: FuturesMarket, config: &crate::SimConfig) -> FuturesShared {
        FuturesShared {
            market,
            clock: Clock::new(config.clock_skew_ms),
            limiter: RateLimiter::new(market.default_weight_limit()),
            data_limiter: RateLimiter::with_window(FUTURES_DATA_REQUESTS_PER_5MIN, 5 * 60_000),
            funding_limiter: RateLimiter::with_window(FUNDING_RATE_REQUESTS_PER_5MIN, 5 * 60_000),
            faults: Faults::new(config.latency, config.error_rate_5xx),
            log: RequestLog::default(),
            contracts: contracts::Contracts::new(
                market,
                Clock::new(config.clock_skew_ms).now_ms(),
                config.extra_symbols,
            ),
            forced_429: AtomicBool::new(false),
            engine: engine::Engine::new(market, config),
            streams: user_stream::UserStreams::default(),
        }
    }
}

/// Control of one futures market of a running simulator (its own listener, clock, weight
/// limiter, faults and contract statuses). Cheap to clone.
#[derive(Clone, Debug)]
pub struct FuturesSim {
    pub(crate) shared: Arc<FuturesShared>,
    pub(crate) url: String,
}

impl FuturesSim {
    /// Which market this is.
    pub fn market(&self) -> FuturesMarket {
        self.shared.market
    }

    /// `http://127.0.0.1:PORT` of this market's listener, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// This market's server time, ms since the epoch (system clock plus its skew).
    pub fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    /// Changes this market's server-time offset from the system clock, in ms.
    pub fn set_clock_skew_ms(&self, skew_ms: i64) {
        self.shared.clock.set_skew_ms(skew_ms);
    }

    /// Changes this market's REQUEST_WEIGHT limit per minute (also in its exchange info).
    /// `0` makes every weighted request a 429 (then 418 if the client insists).
    pub fn set_weight_limit(&self, per_min: u32) {
        self.shared.limiter.set_limit(per_min);
    }

    /// Weight used in this market's current 1-minute window.
    pub fn used_weight(&self) -> u32 {
        self.shared.limiter.used(self.now_ms())
    }

    /// Forgets this market's used weight, 429 history and IP bans (also of
    /// `/futures/data/*` and `fundingRate`).
    pub fn reset_rate_limits(&self) {
        self.shared.limiter.reset();
        self.shared.data_limiter.reset();
        self.shared.funding_limiter.reset();
    }

    /// Bans "the IP" on this market for `length` from now: every request gets HTTP 418
    /// `{"code":-1003,...}` with `Retry-After`, as after ignoring 429s. Other markets are
    /// not affected.
    pub fn ban_for(&self, length: Duration) {
        let ms = i64::try_from(length.as_millis()).unwrap_or(i64::MAX);
        self.shared
            .limiter
            .ban_until(self.now_ms().saturating_add(ms));
    }

    /// While `on`, every request of this market is answered HTTP 429
    /// `{"code":-1003,...}` with `Retry-After`, charging no weight and never escalating to
    /// a ban (use [`FuturesSim::ban_for`] for a 418).
    pub fn set_forced_429(&self, on: bool) {
        self.shared.forced_429.store(on, Ordering::Relaxed);
    }

    /// Changes the delay added before every answer of this market.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.faults.set_latency(latency);
    }

    /// Changes the fraction (`0.0..=1.0`, clamped) of this market's admitted requests
    /// answered HTTP 503 `{"code":-1001,...}`.
    pub fn set_error_rate_5xx(&self, p: f64) {
        self.shared.faults.set_error_rate(p);
    }

    /// Outage of this market: new connections closed at once, requests on open ones get
    /// HTTP 503 with an empty body.
    pub fn set_unavailable(&self, down: bool) {
        self.shared.faults.set_unavailable(down);
    }

    /// While `on`, 200 answers on `endpoint_path` (e.g. `"/fapi/v1/premiumIndex"`) are
    /// truncated to half their length (invalid JSON).
    pub fn set_malformed(&self, endpoint_path: &str, on: bool) {
        self.shared.faults.set_malformed(endpoint_path, on);
    }

    /// The listed contracts, in exchange-information order (delisted ones left out).
    pub fn symbols(&self) -> Vec<String> {
        self.shared.contracts.listed_names()
    }

    /// The COIN-M quarterly delivery contract listed at start (`BTCUSD_yymmdd`); `None` on
    /// USD-M.
    pub fn delivery_symbol(&self) -> Option<String> {
        self.shared.contracts.delivery_symbol()
    }

    /// Overrides the status exchange info reports for `symbol` (`status` on USD-M,
    /// `contractStatus` on COIN-M), e.g. `"SETTLING"`, `"DELIVERING"`, `"CLOSE"`. Market data
    /// keeps being served.
    pub fn set_symbol_status(&self, symbol: &str, status: &str) {
        self.shared.contracts.set_status(symbol, status);
    }

    /// Makes a contract settle: its status becomes `SETTLING` (USD-M) or `contractStatus`
    /// `SETTLING` (COIN-M).
    pub fn settle(&self, symbol: &str) {
        self.set_symbol_status(symbol, "SETTLING");
    }

    /// Delists a contract: it leaves exchange info and every endpoint answers `-1121` for
    /// it from now on.
    pub fn delist(&self, symbol: &str) {
        self.shared.contracts.delist(symbol);
    }

    /// The closed candle served for `open_time` (also for candles still open or in the
    /// future: the replay is deterministic). `None` for an unknown symbol or interval, an
    /// `open_time` off the interval grid or before the contract's onboard date.
    pub fn kline(&self, symbol: &str, interval: &str, open_time: i64) -> Option<SimFuturesKline> {
        rest::final_kline(&self.shared, symbol, interval, open_time)
    }

    /// All closed candles with `start <= open_time <= end`, chronologically, as served.
    pub fn klines(
        &self,
        symbol: &str,
        interval: &str,
        start: i64,
        end: i64,
    ) -> Vec<SimFuturesKline> {
        rest::closed_klines(&self.shared, symbol, interval, start, end, self.now_ms())
    }

    /// The `premiumIndex` entry of `symbol` as served at `time_ms`.
    pub fn premium_index(&self, symbol: &str, time_ms: i64) -> Option<SimPremiumIndex> {
        rest::premium_index_at(&self.shared, symbol, time_ms)
    }

    /// The funding events of `symbol` with `start <= funding_time <= end` (none for
    /// COIN-M delivery contracts).
    pub fn funding_rates(&self, symbol: &str, start: i64, end: i64) -> Vec<SimFundingRate> {
        rest::funding_between(&self.shared, symbol, start, end)
    }

    /// The open interest of `symbol` as `openInterest` serves it at `time_ms`.
    pub fn open_interest(&self, symbol: &str, time_ms: i64) -> Option<SimOpenInterest> {
        rest::open_interest_at(&self.shared, symbol, time_ms)
    }

    /// The most recent requests of this market (up to [`crate::REQUEST_LOG_CAPACITY`]),
    /// oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared.log.records()
    }

    /// Requests of this market answered with `status` since start (or the last
    /// [`FuturesSim::clear_request_log`]).
    pub fn count_status(&self, status: u16) -> usize {
        self.shared.log.count_status(status)
    }

    /// Empties this market's request log and status counters.
    pub fn clear_request_log(&self) {
        self.shared.log.clear();
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod trade_tests;

/// The trading, account, algo and user-stream routes of a market (see `trade` and
/// `user_stream`).
fn trading_routes(market: FuturesMarket) -> axum::Router<Arc<FuturesShared>> {
    use axum::routing::{get, post};
    let p = market.prefix();
    let mut router = axum::Router::new()
        .route(
            &format!("{p}/order"),
            post(trade::new_order)
                .get(trade::query_order)
                .delete(trade::cancel_order),
        )
        .route(&format!("{p}/order/test"), post(trade::test_order))
        .route(&format!("{p}/openOrders"), get(trade::open_orders))
        .route(&format!("{p}/allOrders"), get(trade::all_orders))
        .route(
            &format!("{p}/allOpenOrders"),
            axum::routing::delete(trade::cancel_all),
        )
        .route(&format!("{p}/userTrades"), get(trade::user_trades))
        .route(&format!("{p}/leverage"), post(trade::leverage))
        .route(&format!("{p}/marginType"), post(trade::margin_type))
        .route(
            &format!("{p}/positionSide/dual"),
            post(trade::set_dual).get(trade::get_dual),
        )
        .route(
            &format!("{p}/listenKey"),
            post(user_stream::create_key)
                .put(user_stream::keep_key)
                .delete(user_stream::delete_key),
        )
        .route("/ws/{key}", get(user_stream::upgrade));
    router = match market {
        FuturesMarket::Usdm => router
            .route("/private/ws/{key}", get(user_stream::upgrade))
            .route("/fapi/v2/account", get(trade::account))
            .route("/fapi/v3/account", get(trade::account))
            .route("/fapi/v2/balance", get(trade::balance))
            .route("/fapi/v3/balance", get(trade::balance))
            .route("/fapi/v2/positionRisk", get(trade::position_risk_all))
            .route("/fapi/v3/positionRisk", get(trade::position_risk_open))
            .route(
                "/fapi/v1/algoOrder",
                post(trade::new_algo_order)
                    .get(trade::query_algo_order)
                    .delete(trade::cancel_algo_order),
            )
            .route("/fapi/v1/openAlgoOrders", get(trade::open_algo_orders))
            .route("/fapi/v1/allAlgoOrders", get(trade::all_algo_orders))
            .route(
                "/fapi/v1/algoOpenOrders",
                axum::routing::delete(trade::cancel_all_algo),
            ),
        FuturesMarket::Coinm => router
            .route("/dapi/v1/account", get(trade::account))
            .route("/dapi/v1/balance", get(trade::balance))
            .route("/dapi/v1/positionRisk", get(trade::position_risk_all)),
    };
    router
}
