//! The REST API (`/api/v3/...`, Binance spot "Market Data endpoints" and "General
//! endpoints") as an axum [`Router`].
//!
//! Every request passes [`gate`] first, which applies, in order: the outage switch (503 with
//! an empty body), latency, the weight limiter (429/418), injected 5xx answers, then the
//! endpoint handler, payload garbling, the `X-MBX-USED-WEIGHT-1M` header and the request
//! log. Handlers get the server time of the request and its decoded parameters through a
//! [`RequestContext`] extension, so a request sees one consistent "now".

use std::sync::Arc;

use axum::{
    Extension, Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Serialize;

use crate::{
    RequestRecord,
    decimal::{SCALE, div_round, format_milli, format_units},
    error::{ApiError, json_response},
    faults::garble,
    market::{DayStats, Instrument, Interval, SYNTHETIC_QTY},
    orders,
    params::Params,
    state::Shared,
    streams,
    weights::{Admission, request_weight},
    ws_api,
};

/// Header carrying the used request weight of the current minute.
pub const USED_WEIGHT_HEADER: &str = "x-mbx-used-weight-1m";

/// Default and maximum `limit` of `GET /api/v3/klines`.
const KLINES_DEFAULT_LIMIT: i64 = 500;
const KLINES_MAX_LIMIT: i64 = 1000;

/// What [`gate`] hands to the endpoint handlers.
#[derive(Clone, Debug)]
pub(crate) struct RequestContext {
    /// Server time of the request, ms since the epoch.
    pub now: i64,
    /// Decoded query parameters.
    pub params: Arc<Params>,
}

type Ctx = Extension<RequestContext>;
type Sim = State<Arc<Shared>>;
type ApiResult = Result<Response, ApiError>;

/// The simulator's HTTP application.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v3/ping", get(ping))
        .route("/api/v3/time", get(time))
        .route("/api/v3/exchangeInfo", get(exchange_info))
        .route("/api/v3/klines", get(klines))
        .route("/api/v3/ticker/price", get(ticker_price))
        .route("/api/v3/ticker/bookTicker", get(book_ticker))
        .route("/api/v3/ticker/24hr", get(ticker_24hr))
        .route(
            "/api/v3/order",
            post(orders::new_order)
                .get(orders::query_order)
                .delete(orders::cancel_order),
        )
        .route("/api/v3/order/test", post(orders::test_order))
        .route(
            "/api/v3/openOrders",
            get(orders::open_orders).delete(orders::cancel_all),
        )
        .route("/api/v3/allOrders", get(orders::all_orders))
        .route("/api/v3/myTrades", get(orders::my_trades))
        .route("/api/v3/account", get(orders::account))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), gate))
        // The WebSocket API has its own weights, faults and log (`ws_api` module).
        .route("/ws-api/v3", get(ws_api::upgrade))
        // Market streams (`streams` module): not weighed, not in the request log.
        .route("/ws/{stream}", get(streams::upgrade))
        .with_state(shared)
}

/// Cross-cutting request handling, see the module docs.
async fn gate(State(sim): Sim, mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();

    if sim.faults.unavailable() {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        let now = sim.clock.now_ms();
        return finish(&sim, response, method, path, query, 0, now);
    }

    let latency = sim.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let now = sim.clock.now_ms();
    let params = Params::parse(&query);
    let weight = request_weight(&method, &path, params.as_ref().ok());
    let (response, charged) = match sim.limiter.admit(weight, now) {
        Admission::Allowed => {
            let response = if sim.faults.roll_5xx() {
                ApiError::internal().into_response()
            } else {
                match params {
                    Ok(params) => {
                        request.extensions_mut().insert(RequestContext {
                            now,
                            params: Arc::new(params),
                        });
                        next.run(request).await
                    }
                    Err(error) => error.into_response(),
                }
            };
            (response, weight)
        }
        Admission::Throttled {
            retry_after_secs,
            limit,
        } => {
            let error = ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: -1003,
                msg: format!(
                    "Too much request weight used; current limit is {limit} request weight \
                     per 1 MINUTE. Please use WebSocket Streams for live updates to avoid \
                     polling the API."
                )
                .into(),
            };
            (with_retry_after(error, retry_after_secs), 0)
        }
        Admission::Banned {
            retry_after_secs,
            until_ms,
        } => {
            let error = ApiError {
                status: StatusCode::IM_A_TEAPOT,
                code: -1003,
                msg: format!(
                    "Way too much request weight used; IP banned until {until_ms}. Please use \
                     WebSocket Streams for live updates to avoid bans."
                )
                .into(),
            };
            (with_retry_after(error, retry_after_secs), 0)
        }
    };
    let response = if response.status() == StatusCode::OK && sim.faults.is_malformed(&path) {
        garble(response).await
    } else {
        response
    };
    finish(&sim, response, method, path, query, charged, now)
}

fn with_retry_after(error: ApiError, seconds: i64) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// Adds the used-weight header and logs the request.
fn finish(
    sim: &Shared,
    mut response: Response,
    method: Method,
    path: String,
    query: String,
    weight: u32,
    now: i64,
) -> Response {
    let used = sim.limiter.used(now);
    response
        .headers_mut()
        .insert(USED_WEIGHT_HEADER, HeaderValue::from(used));
    let status = response.status().as_u16();
    tracing::debug!(%method, %path, %query, status, weight, used, "request");
    sim.log.push(RequestRecord {
        method: method.to_string(),
        path,
        query,
        status,
        weight,
        at_ms: now,
    });
    response
}

fn json_ok<T: Serialize>(value: &T) -> ApiResult {
    let body = serde_json::to_string(value).map_err(|_| ApiError::internal())?;
    Ok(json_response(StatusCode::OK, body))
}

/// Unknown paths: 404 with an empty body.
async fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// `GET /api/v3/ping` (weight 1) → `{}`.
async fn ping() -> Response {
    json_response(StatusCode::OK, "{}".to_owned())
}

/// `GET /api/v3/time` (weight 1) → `{"serverTime":<ms>}`.
async fn time(Extension(ctx): Ctx) -> Response {
    json_response(StatusCode::OK, format!("{{\"serverTime\":{}}}", ctx.now))
}

/// Which symbols a ticker / exchange-info request asks for.
enum Selection {
    /// `symbol=X`: answered with an object.
    One(usize),
    /// `symbols=[...]`: answered with an array in request order.
    List(Vec<usize>),
    /// Neither: everything.
    All,
}

/// Resolves `symbol` / `symbols`: -1101 when both are sent, -1100 when malformed, -1121
/// when any symbol is unknown.
fn select(sim: &Shared, params: &Params) -> Result<Selection, ApiError> {
    let symbol = params.optional("symbol")?;
    let symbols = params.symbol_list("symbols")?;
    let position = |name: &str| {
        sim.market
            .position(name)
            .ok_or_else(ApiError::invalid_symbol)
    };
    match (symbol, symbols) {
        (Some(_), Some(_)) => Err(ApiError::too_many_parameters()),
        (Some(symbol), None) => {
            position(params.check_symbol("symbol", symbol)?).map(Selection::One)
        }
        (None, Some(list)) => list
            .iter()
            .map(|s| position(s))
            .collect::<Result<_, _>>()
            .map(Selection::List),
        (None, None) => Ok(Selection::All),
    }
}

/// Answers a ticker endpoint: an object for `symbol`, otherwise an array (all symbols with
/// data when nothing was selected).
fn tickers<'a, T: Serialize>(
    sim: &'a Shared,
    params: &Params,
    make: impl Fn(&'a Instrument) -> T,
) -> ApiResult {
    let instruments = sim.market.instruments();
    match select(sim, params)? {
        Selection::One(i) => json_ok(&make(&instruments[i])),
        Selection::List(list) => json_ok(
            &list
                .iter()
                .map(|&i| make(&instruments[i]))
                .collect::<Vec<_>>(),
        ),
        Selection::All => json_ok(
            &instruments
                .iter()
                .filter(|i| i.has_data())
                .map(make)
                .collect::<Vec<_>>(),
        ),
    }
}

/// `GET /api/v3/exchangeInfo` (weight 20), optional `symbol` or `symbols`.
async fn exchange_info(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    let selection = match select(&sim, &ctx.params)? {
        Selection::One(i) => Some(vec![i]),
        Selection::List(list) => Some(list),
        Selection::All => None,
    };
    let mut info = sim.market.exchange_info(
        ctx.now,
        sim.limiter.limit(),
        selection.as_deref(),
        &sim.statuses(),
    );
    sim.trading
        .patch_exchange_info(&mut info.rate_limits, &mut info.symbols);
    json_ok(&info)
}

/// `GET /api/v3/klines` (weight 2): `symbol`, `interval` mandatory; `startTime`, `endTime`,
/// `limit` (default 500, 1..=1000) optional. See [`Instrument::klines`] for the selection.
async fn klines(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    let params = &ctx.params;
    let symbol = params.mandatory("symbol")?;
    let interval = params.mandatory("interval")?;
    let symbol = params.check_symbol("symbol", symbol)?;
    let interval = Interval::parse(interval).ok_or_else(ApiError::invalid_interval)?;
    let start = params.optional_i64("startTime")?;
    let end = params.optional_i64("endTime")?;
    let limit = params
        .optional_in_range("limit", 1, KLINES_MAX_LIMIT)?
        .unwrap_or(KLINES_DEFAULT_LIMIT);
    let instrument = sim
        .market
        .get(symbol)
        .ok_or_else(ApiError::invalid_symbol)?;
    let blocked = instrument.blocked(sim.gaps_of(symbol).as_ref());
    let limit = usize::try_from(limit).unwrap_or(0);
    let candles = instrument.klines(interval, start, end, limit, ctx.now, &blocked);
    let mut body = String::with_capacity(2 + candles.len() * 180);
    body.push('[');
    for (i, candle) in candles.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        candle.write_json(&mut body);
    }
    body.push(']');
    Ok(json_response(StatusCode::OK, body))
}

/// One entry of `GET /api/v3/ticker/price`.
#[derive(Serialize)]
struct PriceTicker<'a> {
    symbol: &'a str,
    price: String,
}

/// `GET /api/v3/ticker/price` (weight 2 with `symbol`, else 4): the current partial close.
/// Symbols without data report `"0.00000000"`.
async fn ticker_price(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    tickers(&sim, &ctx.params, |inst| PriceTicker {
        symbol: &inst.name,
        price: format_units(stats(inst, ctx.now).last),
    })
}

/// One entry of `GET /api/v3/ticker/bookTicker`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BookTicker<'a> {
    symbol: &'a str,
    bid_price: String,
    bid_qty: String,
    ask_price: String,
    ask_qty: String,
}

/// Synthetic top of book around `last`: (bid, ask, the quantity of each), one tick each
/// side, constant quantities; all zero without a price.
fn book(inst: &Instrument, last: i128) -> (String, String, String) {
    if last == 0 {
        let zero = format_units(0);
        return (zero.clone(), zero.clone(), zero);
    }
    let tick = i128::from(inst.tick);
    (
        format_units((last - tick).max(0)),
        format_units(last + tick),
        format_units(i128::from(SYNTHETIC_QTY)),
    )
}

/// The top of book of `inst` at `now` ([`book`] around the current price): what
/// `GET /api/v3/ticker/bookTicker` answers and the `<symbol>@bookTicker` stream sends.
pub(crate) fn top_of_book(inst: &Instrument, now: i64) -> (String, String, String) {
    book(inst, stats(inst, now).last)
}

/// `GET /api/v3/ticker/bookTicker` (weight 2 with `symbol`, else 4).
async fn book_ticker(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    tickers(&sim, &ctx.params, |inst| {
        let (bid, ask, qty) = top_of_book(inst, ctx.now);
        BookTicker {
            symbol: &inst.name,
            bid_price: bid,
            bid_qty: qty.clone(),
            ask_price: ask,
            ask_qty: qty,
        }
    })
}

/// 24h statistics, or the all-zero answer Binance gives for a symbol without trades.
fn stats(inst: &Instrument, now: i64) -> DayStats {
    inst.day_stats(now).unwrap_or(DayStats {
        open: 0,
        high: 0,
        low: 0,
        last: 0,
        prev_close: 0,
        volume: 0,
        quote_volume: 0,
        open_time: now - 86_400_000,
        close_time: now,
        first_id: -1,
        last_id: -1,
        count: 0,
    })
}

/// `GET /api/v3/ticker/24hr` with `type=FULL` (the default).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FullTicker<'a> {
    symbol: &'a str,
    price_change: String,
    price_change_percent: String,
    weighted_avg_price: String,
    prev_close_price: String,
    last_price: String,
    last_qty: String,
    bid_price: String,
    bid_qty: String,
    ask_price: String,
    ask_qty: String,
    open_price: String,
    high_price: String,
    low_price: String,
    volume: String,
    quote_volume: String,
    open_time: i64,
    close_time: i64,
    first_id: i64,
    last_id: i64,
    count: u64,
}

/// `GET /api/v3/ticker/24hr` with `type=MINI`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MiniTicker<'a> {
    symbol: &'a str,
    open_price: String,
    high_price: String,
    low_price: String,
    last_price: String,
    volume: String,
    quote_volume: String,
    open_time: i64,
    close_time: i64,
    first_id: i64,
    last_id: i64,
    count: u64,
}

fn full_ticker(inst: &Instrument, now: i64) -> FullTicker<'_> {
    let s = stats(inst, now);
    let change = s.last - s.open;
    let percent_milli = if s.open > 0 {
        div_round(change * 100_000, s.open)
    } else {
        0
    };
    let weighted = if s.volume > 0 {
        div_round(s.quote_volume * i128::from(SCALE), s.volume)
    } else {
        0
    };
    let (bid, ask, qty) = book(inst, s.last);
    FullTicker {
        symbol: &inst.name,
        price_change: format_units(change),
        price_change_percent: format_milli(percent_milli),
        weighted_avg_price: format_units(weighted),
        prev_close_price: format_units(s.prev_close),
        last_price: format_units(s.last),
        last_qty: qty.clone(),
        bid_price: bid,
        bid_qty: qty.clone(),
        ask_price: ask,
        ask_qty: qty,
        open_price: format_units(s.open),
        high_price: format_units(s.high),
        low_price: format_units(s.low),
        volume: format_units(s.volume),
        quote_volume: format_units(s.quote_volume),
        open_time: s.open_time,
        close_time: s.close_time,
        first_id: s.first_id,
        last_id: s.last_id,
        count: s.count,
    }
}

fn mini_ticker(inst: &Instrument, now: i64) -> MiniTicker<'_> {
    let s = stats(inst, now);
    MiniTicker {
        symbol: &inst.name,
        open_price: format_units(s.open),
        high_price: format_units(s.high),
        low_price: format_units(s.low),
        last_price: format_units(s.last),
        volume: format_units(s.volume),
        quote_volume: format_units(s.quote_volume),
        open_time: s.open_time,
        close_time: s.close_time,
        first_id: s.first_id,
        last_id: s.last_id,
        count: s.count,
    }
}

/// `GET /api/v3/ticker/24hr` (weight: `symbol` 2; none 80; `symbols` 1–20: 2, 21–100: 40,
/// more: 80), rolling window of the last 1440 minutes including the current partial one.
async fn ticker_24hr(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    let now = ctx.now;
    match ctx.params.optional("type")? {
        None | Some("FULL") => tickers(&sim, &ctx.params, |inst| full_ticker(inst, now)),
        Some("MINI") => tickers(&sim, &ctx.params, |inst| mini_ticker(inst, now)),
        Some(_) => Err(ApiError::invalid_ticker_type()),
    }
}
