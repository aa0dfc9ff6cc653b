//! A Binance-compatible spot exchange simulator on loopback, replaying real recorded
//! market data, for tradebeat's tests and benchmarks; it also serves USDⓈ-M and COIN-M
//! futures market data (see "Futures market data" below).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = exchange_sim::spawn(exchange_sim::SimConfig::default()).await?;
//! let url = format!("{}/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5", sim.base_url());
//! // … point the client at `url`, then compare what it stored with `sim.kline(..)` …
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # What is served
//!
//! `GET` on `/api/v3/ping`, `/api/v3/time`, `/api/v3/exchangeInfo`, `/api/v3/klines`,
//! `/api/v3/ticker/price`, `/api/v3/ticker/bookTicker` and `/api/v3/ticker/24hr`, with
//! Binance's parameters, JSON shapes, error codes (`{"code":-1121,"msg":"Invalid symbol."}`),
//! request weights, `X-MBX-USED-WEIGHT-1M` header and 429 → 418 escalation (a ban after
//! more than [`REQUESTS_AFTER_429_BEFORE_BAN`] further rejected requests in a window).
//!
//! `GET /ws-api/v3` ([`SimHandle::ws_api_url`]) is the WebSocket API with the spot
//! user-data stream: `userDataStream.subscribe.signature` (HMAC
//! verified), `userDataStream.unsubscribe`, `session.subscriptions` and `ping`, answered
//! with Binance's shapes and error codes; ping frames every 20 s, a 60 s pong timeout and a
//! 24 h connection lifetime. Subscribed connections get `executionReport`,
//! `outboundAccountPosition` and `balanceUpdate` events wrapped
//! `{"subscriptionId":N,"event":{…}}`, shaped key for key like the recorded real payloads,
//! at the moment the order engine changes state; [`SimHandle::ws_events`] logs every event
//! pushed (and how many connections got it). See the `ws_api` module. Binance's documentation:
//! <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/user-data-stream-requests>,
//! <https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream>.
//!
//! Symbols: the seven of the recorded exchange information (BTCUSDT, ETHUSDT, BNBUSDT,
//! SOLUSDT, XRPUSDT with data; ETHBTC, BNBBTC listed without data: `[]` klines, all-zero
//! tickers) plus [`SimConfig::extra_symbols`] clones `SIM001USDT`, … of BTCUSDT.
//!
//! # Data
//!
//! Server time is the system clock plus [`SimConfig::clock_skew_ms`]. The recorded 30 days
//! of real 1m klines are replayed cyclically onto wall-clock minutes by a fixed mapping
//! ([`SHIFT_MINUTES`]; 2026-11-21 00:00 UTC shows the recorded 2026-04-04 00:00 UTC), so
//! every minute has data and restarts serve identical candles. Closed 1m candles carry the
//! recorded strings verbatim; fields the recording lacks are synthetic:
//!
//! | field | formula (per minute, then summed for higher intervals) |
//! |---|---|
//! | quote asset volume | volume × (high + low + close) / 3 |
//! | number of trades | ⌈quote volume / 1000⌉ |
//! | taker buy base volume | volume / 2 |
//! | taker buy quote volume | quote volume / 2 |
//!
//! The candle containing "now" is partial (values as of now), exactly like on Binance.
//! See the `market` module for all details.
//!
//! # Futures market data (USDⓈ-M `/fapi`, COIN-M `/dapi`)
//!
//! Each futures market has its own listener, [`SimHandle::usdm_url`] and
//! [`SimHandle::coinm_url`] (Binance serves `/futures/data/…` under the same path on both
//! hosts), and its own clock skew, REQUEST_WEIGHT limiter (429 → 418 as on spot, header
//! `X-MBX-USED-WEIGHT-1M`), faults and request log, controlled through [`SimHandle::usdm`],
//! [`SimHandle::coinm`] or [`SimHandle::futures`] ([`FuturesSim`]: `set_clock_skew_ms`,
//! `set_weight_limit`, `set_forced_429`, `ban_for` (a forced 418), `reset_rate_limits`,
//! `set_latency`, `set_error_rate_5xx`, `set_unavailable`, `set_malformed`,
//! `set_symbol_status`, `settle`, `delist`, `request_log`, and the served values:
//! `kline(s)`, `premium_index`, `funding_rates`, `open_interest`). The spot knobs above do
//! not touch them.
//!
//! | `GET` | weight | notes |
//! |---|---|---|
//! | `/fapi/v1/ping`, `/time`, `/exchangeInfo` (and `/dapi/v1/…`) | 1 | exchangeInfo: REQUEST_WEIGHT 2400/min (USD-M) or 6000/min (COIN-M), ORDERS 1200/min and 300/10 s |
//! | `…/klines` | 1, 2, 5, 10 for `limit` < 100, < 500, ≤ 1000, more | `limit` default 500, max 1500; COIN-M ranges at most 200 days (-1130) |
//! | `…/ticker/24hr` | 1 with `symbol`, else 40 | USD-M: object for `symbol`; COIN-M: always an array, `symbol` or `pair` |
//! | `/fapi/v1/premiumIndex` | 1 with `symbol`, else 10 | object for `symbol`, else array |
//! | `/dapi/v1/premiumIndex` | 10 | always an array, `symbol` or `pair`; delivery contracts: `lastFundingRate` `""`, `nextFundingTime` 0 |
//! | `…/openInterest` | 1 | USD-M base asset (3 decimals); COIN-M whole contracts, with `pair` and `contractType` |
//! | `…/fundingRate` | 1 | `startTime`/`endTime`/`limit` (default 100, max 1000) paged like klines; every 8 h; none for delivery contracts; USD-M also [`FUNDING_RATE_REQUESTS_PER_5MIN`] requests per 5 minutes |
//! | `/futures/data/openInterestHist` | fapi 0, dapi 1 | fapi `symbol`, dapi `pair` + `contractType`; `period` 5m…1d; `limit` default 30, max 500; only the last 30 days ([`OPEN_INTEREST_HIST_KEPT_MS`]: an older `startTime`/`endTime` is `-1130`); also [`FUTURES_DATA_REQUESTS_PER_5MIN`] requests per 5 minutes (429, then 418) |
//!
//! Unknown or delisted contracts get `-1121`. Contracts: USD-M BTCUSDT and ETHUSDT
//! perpetuals with the real specifications of a recorded `GET /fapi/v1/exchangeInfo`
//! (filters PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS,
//! MIN_NOTIONAL, PERCENT_PRICE); COIN-M BTCUSD_PERP (100 USD a contract), ETHUSD_PERP (10 USD)
//! and the quarterly BTCUSD_yymmdd current at start ([`FuturesSim::delivery_symbol`],
//! [`delivery_symbol_at`]); [`SimConfig::extra_symbols`] adds clones on both markets.
//!
//! **Recorded** (USD-M klines): real data.binance.vision `futures/um` 1m rows, BTCUSDT
//! 2023-11-15 → 2023-11-21 (one week) and ETHUSDT 2023-10-01 → 2023-10-12, replayed
//! cyclically so that wall-clock minute `m` shows row `(m − first recorded minute) mod rows`
//! (both are whole days: the time of day is kept). A closed 1m candle is the recorded row,
//! strings verbatim; higher intervals take the recorded prices of the first/highest/lowest/
//! last minute and exact sums of the volumes; the running candle ends with the running
//! minute's open.
//!
//! **Derived** (not recorded, deterministic, from the replayed rows of the minute of the
//! time asked about):
//!
//! | value | formula |
//! |---|---|
//! | COIN-M klines | the USD-M rows of the same coin: prices unchanged; volume = round(quote volume / contract size) contracts; index 7 = recorded base volume; taker buy volume likewise; the delivery contract shows the perpetual's series |
//! | mark price | close of the minute |
//! | index price, estimated settle price | (high + low + close) / 3 of the minute |
//! | funding rate at `F` (00:00, 08:00, 16:00 UTC) | 0.0001 + (close of the minute before `F` − open at `F` − 8 h) / open / 100, clamped to ±0.0075; `lastFundingRate` is the same up to now; interest rate 0.0001 |
//! | open interest (USD-M, base asset) | volume of the 1440 minutes before / 3, to 0.001 |
//! | open interest (COIN-M, contracts) | USD-M quantity × mark / contract size; a delivery contract a fifth of its perpetual's |
//! | open interest value | USD-M: quantity × mark; COIN-M: contracts × size / mark (base asset) |
//! | `CMCCirculatingSupply` | a constant per coin |
//!
//! Binance's documentation:
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api>,
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api>.
//!
//! # Futures trading (USDⓈ-M and COIN-M)
//!
//! Each futures market also trades, for one account with the same
//! [`SimConfig::api_key`] / [`SimConfig::api_secret`] as spot (HMAC and timestamp checked
//! as on spot) and its own wallet (USD-M 100 000 USDT; COIN-M 10 BTC and 100 ETH):
//! `POST/GET/DELETE {p}/order` (`{p}` = `/fapi/v1` or `/dapi/v1`; `newClientOrderId`,
//! `origClientOrderId`, `orderId`), `POST {p}/order/test`, `GET {p}/openOrders`,
//! `GET {p}/allOrders`, `DELETE {p}/allOpenOrders`, `GET {p}/userTrades` (`fromId`,
//! `limit`), `GET /fapi/v2|v3/account` and `/dapi/v1/account`, `…/balance`,
//! `GET /fapi/v2|v3/positionRisk` and `/dapi/v1/positionRisk`, `POST {p}/leverage`,
//! `POST {p}/marginType` (`-4046` when unchanged), `POST/GET {p}/positionSide/dual` (hedge
//! mode), with `X-MBX-ORDER-COUNT-10S`/`-1M` headers and the ORDERS limits of exchange info
//! (300 / 10 s, 1200 / min: [`FuturesSim::set_order_limits`]). MARKET, LIMIT (GTC, IOC,
//! FOK, GTX), reduce-only, close-position, one-way (`BOTH`) and hedge (`LONG`/`SHORT`)
//! positions, leverage, isolated or cross margin, realized PnL and commission (USDT on
//! USD-M; on COIN-M quantities are contracts of `contractSize` USD, PnL and commission in
//! the coin). COIN-M takes STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET and
//! TRAILING_STOP_MARKET on `/dapi/v1/order`; USD-M answers them `-4120` there (counted:
//! [`FuturesSim::conditional_on_order_endpoint_attempts`]) and takes them through the Algo
//! Service: `POST/GET/DELETE /fapi/v1/algoOrder` (`clientAlgoId`), `GET
//! /fapi/v1/openAlgoOrders`, `GET /fapi/v1/allAlgoOrders`, `DELETE /fapi/v1/algoOpenOrders`;
//! a triggered algo order becomes a MARKET (or LIMIT) order whose id the algo order reports
//! (`actualOrderId`). Triggers follow the replayed contract or mark price (`workingType`),
//! or a price set with [`FuturesSim::set_last_price`]. See the `futures::engine` and
//! `futures::trade` modules for every rule and error code.
//!
//! User data: `POST/PUT/DELETE {p}/listenKey` (API key only) and the stream at
//! [`FuturesSim::ws_url`]`/ws/<listenKey>`, sending `ORDER_TRADE_UPDATE`, `ACCOUNT_UPDATE`,
//! `ALGO_UPDATE` (USD-M), `MARGIN_CALL` ([`FuturesSim::emit_margin_call`]) and
//! `listenKeyExpired` when the key is not kept alive within its TTL
//! ([`FuturesSim::set_listen_key_ttl`], default 60 min; [`FuturesSim::expire_listen_key`]
//! at once); see the `futures::user_stream`
//! module. Knobs: [`FuturesSim::push_user_event`] (any JSON to every open stream),
//! [`FuturesSim::drop_user_streams`], [`FuturesSim::refuse_user_stream_connects`] (or
//! `_for` a duration), [`FuturesSim::set_order_fault`] ([`OrderFault`] on order and algo
//! placement), [`FuturesSim::set_wallet_balance`]; readers [`FuturesSim::orders`],
//! [`FuturesSim::algo_orders`], [`FuturesSim::positions`], [`FuturesSim::balances`],
//! [`FuturesSim::trades`], [`FuturesSim::listen_keys`], [`FuturesSim::user_events`].
//!
//! # Trading
//!
//! Signed `POST/GET/DELETE /api/v3/order`, `POST /api/v3/order/test`,
//! `GET/DELETE /api/v3/openOrders`, `GET /api/v3/allOrders`, `GET /api/v3/myTrades` and
//! `GET /api/v3/account` for one account ([`SimConfig::api_key`] / [`SimConfig::api_secret`],
//! starting [`SimConfig::balances`]), with HMAC and timestamp checks, the symbols'
//! filters, Binance's error codes, order-count headers and matching against the replayed
//! prices. See the `orders` module for all rules; [`SimHandle::orders`] and
//! [`SimHandle::balances`] show the exchange's side to tests. Activity "outside tradebeat"
//! goes through the same engine and events: [`SimHandle::place_order`],
//! [`SimHandle::cancel_order_by_id`], [`SimHandle::deposit`]; [`SimHandle::set_order_price`]
//! fills crossed resting orders at once.
//!
//! # Faults
//!
//! [`SimHandle`] switches latency, random 503s, outages, malformed payloads, symbol status
//! and halts (gaps) at runtime, and records every request ([`SimHandle::request_log`]).
//! [`SimHandle::set_order_fault`] makes order placement execute-then-503, 503 without
//! executing, or answer after a delay.
//!
//! On the WebSocket API: [`SimHandle::drop_ws_connections`] (a network cut: no close
//! frame), [`SimHandle::set_ws_silent`] (a half-open link: nothing read or sent, not even
//! pongs), [`SimHandle::set_ws_refuse_connections`] (upgrades answered 503),
//! [`SimHandle::set_ws_subscribe_error`] (e.g. bad credentials),
//! [`SimHandle::ws_server_shutdown`], keepalive timings ([`SimHandle::set_ws_ping_interval`],
//! [`SimHandle::set_ws_pong_timeout`], [`SimHandle::set_ws_max_lifetime`]), and events pushed
//! at will: [`SimHandle::push_ws_event`] (unknown types, `listStatus`) and
//! [`SimHandle::replay_ws_events`] (duplicates). Events emitted while nobody is subscribed
//! are lost for the client, as on Binance. [`SimHandle::set_unavailable`] also stops new
//! WebSocket connections (at TCP level) but leaves open ones alone.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod data;
mod decimal;
mod error;
mod faults;
mod futures;
mod market;
mod orders;
mod params;
mod rest;
mod state;
mod streams;
mod weights;
mod ws_api;

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::Duration,
};

use anyhow::Context as _;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

pub use futures::{
    COINM_CONTRACT_SIZES, FUNDING_INTERVAL_MS, FUNDING_RATE_REQUESTS_PER_5MIN,
    FUTURES_DATA_REQUESTS_PER_5MIN, FuturesMarket, FuturesSim, OPEN_INTEREST_HIST_KEPT_MS,
    SimFundingRate, SimFuturesKline, SimOpenInterest, SimPremiumIndex, delivery_symbol_at,
};
pub use futures::{
    DEFAULT_LISTEN_KEY_TTL, SimAlgoOrder, SimFuturesBalance, SimFuturesOrder, SimFuturesTrade,
    SimPosition, USER_EVENT_LOG_CAPACITY,
};
pub use market::{LISTING_MS, MAP_ANCHOR_MS, RECORDED_ANCHOR_MS, SHIFT_MINUTES};
pub use orders::{OrderFault, SimBalance, SimOrder, SimTrade, TEST_API_KEY, TEST_API_SECRET};
pub use rest::USED_WEIGHT_HEADER;
pub use state::REQUEST_LOG_CAPACITY;
pub use weights::{FIRST_BAN_MS, MAX_BAN_MS, REQUESTS_AFTER_429_BEFORE_BAN};
pub use ws_api::{SentEvent, WS_EVENT_LOG_CAPACITY};

use crate::{
    market::{Candle, Interval},
    state::Shared,
};

/// How long [`SimHandle::shutdown`] waits for in-flight requests before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Start-up settings of a simulator. All of them can be changed later through
/// [`SimHandle`] (except `extra_symbols`).
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// REQUEST_WEIGHT limit per minute (Binance: 6000). Also reported in exchange info.
    /// Spot only: the futures markets start with their own
    /// ([`FuturesMarket::default_weight_limit`]).
    pub weight_limit_per_min: u32,
    /// Delay added before every answer (the start value on the futures markets too).
    pub latency: Duration,
    /// Fraction (`0.0..=1.0`, clamped) of admitted requests answered with HTTP 503
    /// `{"code":-1001,...}` (the start value on the futures markets too).
    pub error_rate_5xx: f64,
    /// Number of benchmark clones of BTCUSDT (`SIM001USDT`, `SIM002USDT`, …) to list; as
    /// many USD-M clones of the BTCUSDT perpetual (`SIM001USDT`, …) and COIN-M clones of
    /// BTCUSD_PERP (`SIM001USD_PERP`, …) are listed on the futures markets.
    pub extra_symbols: usize,
    /// Offset of server time from the system clock, in ms (clock-offset tests; the start
    /// value on the futures markets too).
    pub clock_skew_ms: i64,
    /// The API key signed requests must carry in `X-MBX-APIKEY`.
    pub api_key: String,
    /// The secret their HMAC-SHA256 signatures are made with.
    pub api_secret: String,
    /// Starting balances of the account: `(asset, decimal amount)`.
    pub balances: Vec<(String, String)>,
    /// New orders allowed per 10 s (Binance: 50); also reported by exchange info.
    pub orders_per_10s: u32,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        let balance = |asset: &str, amount: &str| (asset.to_owned(), amount.to_owned());
        SimConfig {
            weight_limit_per_min: 6000,
            latency: Duration::ZERO,
            error_rate_5xx: 0.0,
            extra_symbols: 0,
            clock_skew_ms: 0,
            api_key: TEST_API_KEY.to_owned(),
            api_secret: TEST_API_SECRET.to_owned(),
            balances: vec![
                balance("USDT", "100000"),
                balance("BTC", "1"),
                balance("ETH", "10"),
                balance("BNB", "100"),
                balance("SOL", "100"),
                balance("XRP", "10000"),
            ],
            orders_per_10s: 50,
        }
    }
}

/// A kline as the simulator serves it, with every decimal equal to the `f64` a client gets
/// by parsing the served string (compare with `==`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimKline {
    /// Open time, ms since the epoch.
    pub open_time: i64,
    /// Close time: one ms before the next candle opens (`open_time + interval - 1` for
    /// fixed lengths; the month's last ms for `1M`).
    pub close_time: i64,
    /// Open price.
    pub open: f64,
    /// High price.
    pub high: f64,
    /// Low price.
    pub low: f64,
    /// Close price.
    pub close: f64,
    /// Base asset volume.
    pub volume: f64,
    /// Quote asset volume (synthetic).
    pub quote_volume: f64,
    /// Number of trades (synthetic).
    pub trades: u64,
    /// Taker buy base asset volume (synthetic).
    pub taker_buy_base_volume: f64,
    /// Taker buy quote asset volume (synthetic).
    pub taker_buy_quote_volume: f64,
}

impl From<&Candle> for SimKline {
    fn from(c: &Candle) -> SimKline {
        SimKline {
            open_time: c.open_time,
            close_time: c.close_time,
            open: c.open.to_f64(),
            high: c.high.to_f64(),
            low: c.low.to_f64(),
            close: c.close.to_f64(),
            volume: c.volume.to_f64(),
            quote_volume: c.quote_volume.to_f64(),
            trades: c.trades,
            taker_buy_base_volume: c.taker_buy_base.to_f64(),
            taker_buy_quote_volume: c.taker_buy_quote.to_f64(),
        }
    }
}

/// One request as seen by the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path, e.g. `/api/v3/klines`.
    pub path: String,
    /// Raw query string without `?` (empty if none).
    pub query: String,
    /// HTTP status answered.
    pub status: u16,
    /// Weight charged (0 for requests rejected with 429/418 or during an outage).
    pub weight: u32,
    /// Server time when the request was processed, ms since the epoch.
    pub at_ms: i64,
}

/// Starts a simulator on `127.0.0.1` with an OS-assigned port, serving in a tokio task.
pub async fn spawn(config: SimConfig) -> anyhow::Result<SimHandle> {
    spawn_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
}

/// Starts a simulator on `addr` (use port 0 for an OS-assigned port). The USD-M and
/// COIN-M listeners take OS-assigned ports on the same IP ([`SimHandle::usdm_url`],
/// [`SimHandle::coinm_url`]).
pub async fn spawn_on(config: SimConfig, addr: SocketAddr) -> anyhow::Result<SimHandle> {
    spawn_with_futures_ports(config, addr, 0, 0).await
}

/// Starts a simulator on `addr` with the USD-M listener on port `usdm_port` and the COIN-M
/// one on `coinm_port` of the same IP (0: an OS-assigned port).
pub async fn spawn_with_futures_ports(
    config: SimConfig,
    addr: SocketAddr,
    usdm_port: u16,
    coinm_port: u16,
) -> anyhow::Result<SimHandle> {
    let shared = Arc::new(Shared::new(&config));
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the exchange simulator to {addr}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let incoming = shared.faults.listener(listener);
    let app = rest::router(Arc::clone(&shared));
    let usdm = Arc::new(futures::FuturesShared::new(FuturesMarket::Usdm, &config));
    let coinm = Arc::new(futures::FuturesShared::new(FuturesMarket::Coinm, &config));
    let mut futures_servers = Vec::new();
    let mut futures_urls = Vec::new();
    for (market, port) in [(&usdm, usdm_port), (&coinm, coinm_port)] {
        let futures_addr = SocketAddr::new(addr.ip(), port);
        let listener = TcpListener::bind(futures_addr).await.with_context(|| {
            format!(
                "binding the {} simulator to {futures_addr}",
                market.market.name()
            )
        })?;
        let bound = listener.local_addr().context("reading the bound address")?;
        futures_urls.push(format!("http://{bound}"));
        futures_servers.push((
            market.faults.listener(listener),
            futures::router(Arc::clone(market)),
        ));
    }
    let (stop, mut stopped) = watch::channel(false);
    for market in [&usdm, &coinm] {
        tokio::spawn(futures::background(Arc::clone(market), stopped.clone()));
    }
    let task = tokio::spawn(async move {
        // Stops when asked to, or when the last handle is dropped (sender gone).
        let serve_futures = futures_servers.into_iter().map(|(incoming, app)| {
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let signal = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                if let Err(error) = axum::serve(incoming, app)
                    .with_graceful_shutdown(signal)
                    .await
                {
                    tracing::error!(%error, "futures simulator stopped with an error");
                }
            })
        });
        let serve_futures: Vec<_> = serve_futures.collect();
        let signal = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(incoming, app)
            .with_graceful_shutdown(signal)
            .await
        {
            tracing::error!(%error, "exchange simulator stopped with an error");
        }
        for server in serve_futures {
            let _ = server.await;
        }
    });
    tracing::info!(%local, usdm = %futures_urls[0], coinm = %futures_urls[1], "exchange simulator listening");
    let coinm_url = futures_urls.pop().unwrap_or_default();
    let usdm_url = futures_urls.pop().unwrap_or_default();
    Ok(SimHandle {
        usdm: FuturesSim {
            shared: Arc::clone(&usdm),
            url: usdm_url.clone(),
        },
        coinm: FuturesSim {
            shared: Arc::clone(&coinm),
            url: coinm_url.clone(),
        },
        usdm_url,
        coinm_url,
        shared: Arc::clone(&shared),
        addr: local,
        server: Arc::new(ServerControl {
            stop,
            task: Mutex::new(Some(task)),
            shared: Arc::clone(&shared),
            futures: [Arc::clone(&usdm), Arc::clone(&coinm)],
        }),
    })
}

/// Stops the server when the last [`SimHandle`] clone goes away.
#[derive(Debug)]
struct ServerControl {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// To end the WebSocket connections, which outlive the HTTP server's graceful stop.
    shared: Arc<Shared>,
    /// To end the futures user-data streams likewise.
    futures: [Arc<futures::FuturesShared>; 2],
}

impl Drop for ServerControl {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        self.shared.ws.drop_all();
        self.shared.streams.cut_all();
        for market in &self.futures {
            market.streams.drop_all();
        }
    }
}

/// Control of a running simulator: its address, the served data and the fault knobs.
///
/// Cheap to clone; all clones control the same server. The server stops on
/// [`SimHandle::shutdown`] or when the last clone is dropped.
#[derive(Clone)]
pub struct SimHandle {
    /// `http://127.0.0.1:PORT` of the USD-M futures listener (`/fapi/v1/...` and
    /// `/futures/data/...`), without a trailing slash.
    pub usdm_url: String,
    /// `http://127.0.0.1:PORT` of the COIN-M futures listener (`/dapi/v1/...` and
    /// `/futures/data/...`), without a trailing slash.
    pub coinm_url: String,
    usdm: FuturesSim,
    coinm: FuturesSim,
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Arc<ServerControl>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Control of the USD-M futures market (its own listener, clock, limits and faults).
    pub fn usdm(&self) -> &FuturesSim {
        &self.usdm
    }

    /// Control of the COIN-M futures market (its own listener, clock, limits and faults).
    pub fn coinm(&self) -> &FuturesSim {
        &self.coinm
    }

    /// Control of the futures market `market`.
    pub fn futures(&self, market: FuturesMarket) -> &FuturesSim {
        match market {
            FuturesMarket::Usdm => &self.usdm,
            FuturesMarket::Coinm => &self.coinm,
        }
    }

    /// The simulator's server time, ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    /// Changes the server-time offset from the system clock.
    pub fn set_clock_skew_ms(&self, skew_ms: i64) {
        self.shared.clock.set_skew_ms(skew_ms);
        self.shared.streams.clock_moved();
    }

    /// The server-time offset from the system clock.
    pub fn clock_skew_ms(&self) -> i64 {
        self.shared.clock.skew_ms()
    }

    /// Symbols that have kline data, in exchange-information order.
    pub fn symbols(&self) -> Vec<String> {
        self.shared
            .market
            .instruments()
            .iter()
            .filter(|i| i.has_data())
            .map(|i| i.name.clone())
            .collect()
    }

    /// The final (closed) candle the simulator serves for `open_time` once it has closed
    /// (also for candles still open or in the future: the replay is deterministic).
    ///
    /// `None` for an unknown symbol or interval, an `open_time` not on the interval grid, a
    /// symbol without data, or a candle entirely halted ([`SimHandle::add_gap`]) or before
    /// [`LISTING_MS`].
    pub fn kline(&self, symbol: &str, interval: &str, open_time: i64) -> Option<SimKline> {
        let interval = Interval::parse(interval)?;
        if interval.align_down(open_time) != open_time {
            return None;
        }
        let instrument = self.shared.market.get(symbol)?;
        let blocked = instrument.blocked(self.shared.gaps_of(symbol).as_ref());
        instrument
            .candle(interval, open_time, None, &blocked)
            .map(|c| SimKline::from(&c))
    }

    /// All closed candles (close time before now) with `start <= open_time <= end`, as served,
    /// chronologically. Empty for unknown symbols/intervals.
    pub fn klines(&self, symbol: &str, interval: &str, start: i64, end: i64) -> Vec<SimKline> {
        let (Some(interval), Some(instrument)) =
            (Interval::parse(interval), self.shared.market.get(symbol))
        else {
            return Vec::new();
        };
        let now = self.now_ms();
        let end = end.min(interval.prev_open(now));
        if end < start {
            return Vec::new();
        }
        let blocked = instrument.blocked(self.shared.gaps_of(symbol).as_ref());
        instrument
            .klines(interval, Some(start), Some(end), usize::MAX, now, &blocked)
            .iter()
            .map(SimKline::from)
            .collect()
    }

    /// Changes the REQUEST_WEIGHT limit per minute (also reported by exchange info).
    pub fn set_weight_limit(&self, per_min: u32) {
        self.shared.limiter.set_limit(per_min);
    }

    /// Forgets the used weight, 429 history and IP bans.
    pub fn reset_rate_limits(&self) {
        self.shared.limiter.reset();
    }

    /// Changes the delay added before every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.faults.set_latency(latency);
    }

    /// Changes the fraction (`0.0..=1.0`, clamped) of admitted requests answered with
    /// HTTP 503 `{"code":-1001,"msg":"Internal error; unable to process your request. Please
    /// try again."}`. Such requests are charged their weight.
    pub fn set_error_rate_5xx(&self, p: f64) {
        self.shared.faults.set_error_rate(p);
    }

    /// Simulates an outage: while `true`, new connections are closed right after accept and
    /// requests on open keep-alive connections get HTTP 503 with an empty body and
    /// `Connection: close`.
    pub fn set_unavailable(&self, down: bool) {
        self.shared.faults.set_unavailable(down);
    }

    /// Overrides the `status` exchange info reports for `symbol` (e.g. `"BREAK"`, `"HALT"`).
    /// Klines and tickers keep being served.
    pub fn set_symbol_status(&self, symbol: &str, status: &str) {
        if self.shared.market.get(symbol).is_none() {
            tracing::warn!(symbol, "status override for an unlisted symbol");
        }
        write(&self.shared.statuses).insert(symbol.to_owned(), status.to_owned());
    }

    /// While `on`, successful (200) answers on `endpoint_path` (e.g. `"/api/v3/klines"`)
    /// are truncated to half their length: invalid JSON with a 200 status.
    pub fn set_malformed(&self, endpoint_path: &str, on: bool) {
        self.shared.faults.set_malformed(endpoint_path, on);
    }

    /// Halts `symbol`: klines of the minutes whose open time lies in `[start_ms, end_ms]` are
    /// not served (higher intervals aggregate the remaining minutes; a candle without any
    /// is not served). Tickers ignore halts.
    pub fn add_gap(&self, symbol: &str, start_ms: i64, end_ms: i64) {
        self.shared.add_gap(symbol, start_ms, end_ms);
    }

    /// Removes all halts of `symbol`.
    pub fn clear_gaps(&self, symbol: &str) {
        write(&self.shared.gaps).remove(symbol);
    }

    /// The most recent requests (up to [`REQUEST_LOG_CAPACITY`]), oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared.log.records()
    }

    /// Number of requests answered with `status` since start (or the last
    /// [`SimHandle::clear_request_log`]).
    pub fn count_status(&self, status: u16) -> usize {
        self.shared.log.count_status(status)
    }

    /// Empties the request log and the status counters.
    pub fn clear_request_log(&self) {
        self.shared.log.clear();
    }

    /// Makes `POST /api/v3/order` misbehave (execute then 503, 503 without executing,
    /// answer late) until called again with `None`.
    pub fn set_order_fault(&self, fault: Option<OrderFault>) {
        self.shared.trading.set_fault(fault);
    }

    /// Overrides the `orderTypes` exchange info lists for `symbol` (and that the order
    /// endpoints accept), e.g. to allow `STOP_LOSS` and `TAKE_PROFIT`.
    pub fn set_order_types(&self, symbol: &str, types: &[&str]) {
        self.shared.trading.set_order_types(symbol, types);
    }

    /// Sets the price orders of `symbol` match against (a decimal string such as
    /// `"65000.5"`) instead of the replayed one, and matches resting orders against it at
    /// once; `None` returns to the replayed price.
    pub fn set_order_price(&self, symbol: &str, price: Option<&str>) {
        self.shared.trading.set_price(symbol, price);
        self.match_orders();
    }

    /// Matches resting orders against the prices since they were last looked at (this
    /// happens before every trading request anyway).
    pub fn match_orders(&self) {
        orders::match_resting(&self.shared, self.now_ms());
    }

    /// Changes how many new orders are allowed per 10 s (also reported by exchange info).
    pub fn set_orders_per_10s(&self, limit: u32) {
        self.shared.trading.set_orders_per_10s(limit);
    }

    /// Every order the exchange holds, oldest first.
    pub fn orders(&self) -> Vec<SimOrder> {
        self.shared.trading.orders()
    }

    /// The newest order with `client_order_id`.
    pub fn order(&self, client_order_id: &str) -> Option<SimOrder> {
        self.orders()
            .into_iter()
            .rev()
            .find(|o| o.client_order_id == client_order_id)
    }

    /// Every trade (fill) of the account, oldest first.
    pub fn trades(&self) -> Vec<SimTrade> {
        self.shared.trading.trades()
    }

    /// The account's balances, by asset.
    pub fn balances(&self) -> Vec<SimBalance> {
        self.shared.trading.balances()
    }

    /// Weight used in the current 1-minute window.
    pub fn used_weight(&self) -> u32 {
        self.shared.limiter.used(self.now_ms())
    }

    // ----- Market streams (module `streams`) -----

    /// `ws://127.0.0.1:PORT`, the market streams' base: `/ws/<symbol>@bookTicker` is
    /// appended (the config's `exchange.ws_url`).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Market-stream connections accepted so far.
    pub fn market_streams_opened(&self) -> u64 {
        self.shared.streams.opened()
    }

    /// Cuts every open market-stream connection (a network cut: no close frame).
    pub fn drop_market_streams(&self) {
        self.shared.streams.cut_all();
    }

    /// While `refuse` holds, market-stream upgrades are answered 503.
    pub fn set_market_streams_refused(&self, refuse: bool) {
        self.shared.streams.set_refuse(refuse);
    }

    // ----- WebSocket API and user-data stream (module `ws_api`) -----

    /// `ws://127.0.0.1:PORT/ws-api/v3`, the WebSocket API endpoint.
    pub fn ws_api_url(&self) -> String {
        format!("ws://{}/ws-api/v3", self.addr)
    }

    /// The most recent user-data event frames pushed, or that would have been pushed had a
    /// connection been subscribed (up to [`WS_EVENT_LOG_CAPACITY`]), oldest first.
    pub fn ws_events(&self) -> Vec<SentEvent> {
        self.shared.ws.events()
    }

    /// Empties the event log ([`SimHandle::ws_events`]).
    pub fn clear_ws_events(&self) {
        self.shared.ws.clear_events();
    }

    /// Places an order for the account as if from outside tradebeat: `params` as for
    /// `POST /api/v3/order` (`symbol`, `side`, `type`, `quantity`, …, without `timestamp`
    /// or `signature`), through the same checks, matching and user-data events, but without
    /// HTTP, signing, latency, faults or order-rate counting.
    ///
    /// Returns the `POST /api/v3/order` answer (`newOrderRespType` honoured), or Binance's
    /// `(code, msg)` such as `(-1013, "Filter failure: LOT_SIZE")`.
    pub fn place_order(&self, params: &[(&str, &str)]) -> Result<serde_json::Value, (i32, String)> {
        orders::place_order(&self.shared, params)
    }

    /// Cancels the open order `order_id` of `symbol` as if from outside tradebeat (cancel
    /// client order id generated): the `DELETE /api/v3/order` answer, or
    /// `(-2011, "Unknown order sent.")` when no such open order exists. Emits the
    /// `CANCELED` execution report and the balance change.
    pub fn cancel_order_by_id(
        &self,
        symbol: &str,
        order_id: i64,
    ) -> Result<serde_json::Value, (i32, String)> {
        orders::cancel_order_by_id(&self.shared, symbol, order_id)
    }

    /// Adds `amount` (a decimal string with up to 8 decimals, optionally negative for a
    /// withdrawal, e.g. `"250.5"`) to the free balance of `asset`, emitting `balanceUpdate`
    /// (`{"e":"balanceUpdate","E","a","d","T"}`) then `outboundAccountPosition`.
    ///
    /// # Panics
    ///
    /// When `amount` is not such a decimal (a bug in the calling test).
    pub fn deposit(&self, asset: &str, amount: &str) {
        let (negative, digits) = match amount.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, amount),
        };
        let Some(units) = decimal::parse_units(digits) else {
            panic!("deposit amount {amount:?} is not a decimal with at most 8 decimals");
        };
        let units = i128::from(units);
        orders::deposit(&self.shared, asset, if negative { -units } else { units });
    }

    /// Pushes `event` (an event object such as `{"e":"listStatus",…}`), wrapped
    /// `{"subscriptionId":N,"event":…}`, to every subscribed connection, and logs it.
    pub fn push_ws_event(&self, event: serde_json::Value) {
        self.shared.ws.publish(&event.to_string());
    }

    /// Pushes the last `n` logged events again, unchanged (same `E`, execution ids, …),
    /// oldest first, to every subscribed connection: replays as a client may see them.
    /// Each is re-wrapped with the receiving connection's current subscription id (also
    /// logged `eventStreamTerminated` / `serverShutdown` events). The replays are logged
    /// too.
    pub fn replay_ws_events(&self, n: usize) {
        self.shared.ws.replay(n);
    }

    /// Sends `{"event":{"e":"serverShutdown","E":<ms>}}` to every WebSocket API
    /// connection, then closes each with a close frame ("General API Information" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/general-api-information>).
    pub fn ws_server_shutdown(&self) {
        self.shared.ws.server_shutdown(self.now_ms());
    }

    /// How often the server sends a ping frame on each connection (default 20 s).
    pub fn set_ws_ping_interval(&self, every: Duration) {
        self.shared.ws.set_ping_interval(every);
    }

    /// How long a ping may stay unanswered before the server closes the connection
    /// (default 60 s).
    pub fn set_ws_pong_timeout(&self, timeout: Duration) {
        self.shared.ws.set_pong_timeout(timeout);
    }

    /// Age at which the server closes a connection (default 24 h, Binance's limit).
    pub fn set_ws_max_lifetime(&self, lifetime: Duration) {
        self.shared.ws.set_max_lifetime(lifetime);
    }

    /// Pong frames received on all connections since start (answers and unsolicited ones).
    pub fn ws_pongs_received(&self) -> u64 {
        self.shared.ws.pongs()
    }

    /// Closes every WebSocket API connection at once without a close frame (the socket is
    /// dropped), like a network cut. Events emitted while nobody is subscribed are lost
    /// for the client (logged with `delivered == 0`).
    pub fn drop_ws_connections(&self) {
        self.shared.ws.drop_all();
    }

    /// While `silent`, every WebSocket API connection (existing and new) stays open but the
    /// server sends nothing — no events, pings, pongs or answers — and reads nothing: a
    /// half-open link. Events emitted meanwhile are lost for those connections. When
    /// silence ends, connections resume (frames the client sent meanwhile are then read
    /// and answered).
    pub fn set_ws_silent(&self, silent: bool) {
        self.shared.ws.set_silent(silent);
    }

    /// While `refuse`, WebSocket upgrades are answered HTTP 503 (an outage of the WS API).
    pub fn set_ws_refuse_connections(&self, refuse: bool) {
        self.shared.ws.set_refuse(refuse);
    }

    /// Makes every `userDataStream.subscribe.signature` answer `(status, code, msg)`, e.g.
    /// `(401, -2015, "Invalid API-key, IP, or permissions for action.")`, until `None`.
    pub fn set_ws_subscribe_error(&self, error: Option<(u16, i32, String)>) {
        self.shared.ws.set_subscribe_error(error);
    }

    /// WebSocket upgrades accepted since start.
    pub fn ws_connections_total(&self) -> u64 {
        self.shared.ws.connections_total()
    }

    /// WebSocket API connections open now.
    pub fn ws_connections_open(&self) -> usize {
        self.shared.ws.connections_open()
    }

    /// Connections with an active user-data subscription now.
    pub fn ws_subscriptions_active(&self) -> usize {
        self.shared.ws.subscriptions_active()
    }

    /// Stops accepting connections, drops the WebSocket API connections (no close frame),
    /// lets in-flight requests finish (up to 5 s, then aborts them) and waits for the server
    /// task.
    pub async fn shutdown(self) {
        self.server.stop.send_replace(true);
        self.shared.ws.drop_all();
        for market in &self.server.futures {
            market.streams.drop_all();
        }
        let task = lock(&self.server.task).take();
        if let Some(mut task) = task
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

/// Locks a mutex, ignoring poisoning (the protected state stays consistent per operation).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks an `RwLock`, ignoring poisoning.
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks an `RwLock`, ignoring poisoning.
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
