//! The futures REST endpoints (one router per market, mounted on its own listener).
//!
//! Each request passes [`gate`] first: outage, latency, the market's REQUEST_WEIGHT limiter
//! (429 → 418), the request-count limiter of `/futures/data/*`, injected 503s, the handler,
//! garbling, the `X-MBX-USED-WEIGHT-1M` header and the market's request log, as on spot.
//!
//! Binance's documentation:
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api>
//! and <https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api>.

use std::sync::{Arc, atomic::Ordering};

use axum::{
    Extension, Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;

use super::{
    FuturesMarket, FuturesShared, SimFundingRate, SimFuturesKline, SimOpenInterest,
    SimPremiumIndex,
    contracts::Contract,
    derived::{self, FUNDING_INTERVAL_MS, INTEREST_RATE, OPEN_INTEREST_HIST_KEPT_MS},
    series::{MINUTE_MS, Row, Series},
};
use crate::{
    RequestRecord,
    decimal::{SCALE, div_round, format_milli, format_units},
    error::{ApiError, json_response},
    faults::garble,
    market::Interval,
    params::Params,
    rest::{RequestContext, USED_WEIGHT_HEADER},
    weights::Admission,
};

/// Default and maximum `limit` of futures klines.
const KLINES_DEFAULT_LIMIT: i64 = 500;
const KLINES_MAX_LIMIT: i64 = 1500;
/// Default and maximum `limit` of `fundingRate`.
const FUNDING_DEFAULT_LIMIT: i64 = 100;
const FUNDING_MAX_LIMIT: i64 = 1000;
/// Default and maximum `limit` of `openInterestHist`.
const OI_HIST_DEFAULT_LIMIT: i64 = 30;
const OI_HIST_MAX_LIMIT: i64 = 500;
/// Longest COIN-M kline range.
const COINM_KLINE_RANGE_MS: i64 = 200 * 86_400_000;
/// Path of the open-interest history, the same on both hosts.
const OI_HIST_PATH: &str = "/futures/data/openInterestHist";

type Ctx = Extension<RequestContext>;
type Sim = State<Arc<FuturesShared>>;
type ApiResult = Result<Response, ApiError>;

/// The HTTP application of one futures market.
pub(crate) fn router(shared: Arc<FuturesShared>) -> Router {
    let p = shared.market.prefix();
    Router::new()
        .route(&format!("{p}/ping"), get(ping))
        .route(&format!("{p}/time"), get(time))
        .route(&format!("{p}/exchangeInfo"), get(exchange_info))
        .route(&format!("{p}/klines"), get(klines))
        .route(&format!("{p}/ticker/24hr"), get(ticker_24hr))
        .route(&format!("{p}/ticker/bookTicker"), get(book_ticker))
        .route(&format!("{p}/premiumIndex"), get(premium_index))
        .route(&format!("{p}/openInterest"), get(open_interest))
        .route(&format!("{p}/fundingRate"), get(funding_rate))
        .route(OI_HIST_PATH, get(open_interest_hist))
        .merge(super::trading_routes(shared.market))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), gate))
        .with_state(shared)
}

/// The weight of a futures request (Binance's futures market-data docs).
pub(crate) fn request_weight(market: FuturesMarket, path: &str, params: Option<&Params>) -> u32 {
    let has = |name: &str| params.is_some_and(|p| p.get(name).is_some());
    if path == OI_HIST_PATH {
        return match market {
            FuturesMarket::Usdm => 0,
            FuturesMarket::Coinm => 1,
        };
    }
    let Some(tail) = path.strip_prefix(market.prefix()) else {
        return 1;
    };
    match tail {
        "/klines" => {
            let limit = params
                .and_then(|p| p.get("limit"))
                .and_then(|l| l.parse::<i64>().ok())
                .unwrap_or(KLINES_DEFAULT_LIMIT);
            match limit {
                ..100 => 1,
                100..500 => 2,
                500..=1000 => 5,
                _ => 10,
            }
        }
        "/ticker/24hr" if has("symbol") => 1,
        "/ticker/24hr" => 40,
        "/ticker/bookTicker" if has("symbol") => 2,
        "/ticker/bookTicker" => 5,
        "/premiumIndex" => match market {
            FuturesMarket::Usdm if has("symbol") => 1,
            _ => 10,
        },
        _ => 1,
    }
}

fn limit_error(status: StatusCode, msg: String, retry_after_secs: i64) -> Response {
    let mut response = ApiError {
        status,
        code: -1003,
        msg: msg.into(),
    }
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

fn rejection(admission: Admission, what: &str) -> Option<Response> {
    match admission {
        Admission::Allowed => None,
        Admission::Throttled {
            retry_after_secs,
            limit,
        } => Some(limit_error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many requests; current limit of IP is {limit} {what}. Please use the \
                 websocket for live updates to avoid polling the API."
            ),
            retry_after_secs,
        )),
        Admission::Banned {
            retry_after_secs,
            until_ms,
        } => Some(limit_error(
            StatusCode::IM_A_TEAPOT,
            format!(
                "Way too many requests; IP banned until {until_ms}. Please use the websocket \
                 for live updates to avoid bans."
            ),
            retry_after_secs,
        )),
    }
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
    let weight = super::trade::weight(sim.market, &method, &path, params.as_ref().ok())
        .unwrap_or_else(|| request_weight(sim.market, &path, params.as_ref().ok()));
    let mut rejected = if sim.forced_429.load(Ordering::Relaxed) {
        let limit = sim.limiter.limit();
        let retry_after_secs = 60 - now.rem_euclid(60_000) / 1000;
        rejection(
            Admission::Throttled {
                retry_after_secs,
                limit,
            },
            "request weight per 1 MINUTE",
        )
    } else {
        rejection(
            sim.limiter.admit(weight, now),
            "request weight per 1 MINUTE",
        )
    };
    if rejected.is_none() && path == OI_HIST_PATH {
        rejected = rejection(sim.data_limiter.admit(1, now), "requests per 5 MINUTE");
    }
    if rejected.is_none() && path == "/fapi/v1/fundingRate" {
        rejected = rejection(sim.funding_limiter.admit(1, now), "requests per 5 MINUTE");
    }
    let (response, charged) = match rejected {
        Some(response) => (response, 0),
        None => {
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
    };
    let response = if response.status() == StatusCode::OK && sim.faults.is_malformed(&path) {
        garble(response).await
    } else {
        response
    };
    finish(&sim, response, method, path, query, charged, now)
}

fn finish(
    sim: &FuturesShared,
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
    tracing::debug!(market = sim.market.name(), %method, %path, %query, status, weight, used, "request");
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

/// -1130 INVALID_PARAMETER with Binance's futures wording.
fn invalid_parameter(name: &str) -> ApiError {
    ApiError::bad_request(-1130, format!("parameter '{name}' is invalid."))
}

async fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// `GET …/ping` (weight 1) → `{}`.
async fn ping() -> Response {
    json_response(StatusCode::OK, "{}".to_owned())
}

/// `GET …/time` (weight 1) → `{"serverTime":<ms>}`.
async fn time(Extension(ctx): Ctx) -> Response {
    json_response(StatusCode::OK, format!("{{\"serverTime\":{}}}", ctx.now))
}

/// `GET …/exchangeInfo` (weight 1).
async fn exchange_info(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    json_ok(&sim.contracts.exchange_info(
        ctx.now,
        sim.limiter.limit(),
        sim.engine.orders_per_min.load(Ordering::Relaxed),
        sim.engine.orders_per_10s.load(Ordering::Relaxed),
    ))
}

/// The listed contract `symbol` names (after the pattern check), or -1121.
fn contract<'a>(
    sim: &'a FuturesShared,
    params: &Params,
    name: &str,
) -> Result<&'a Contract, ApiError> {
    let symbol = params.check_symbol(name, params.mandatory(name)?)?;
    sim.contracts
        .get(symbol)
        .ok_or_else(ApiError::invalid_symbol)
}

// ----- klines -----

/// `units` (exact at `decimals` fractional digits) as a decimal string with that many.
fn fixed(units: i128, decimals: u32) -> String {
    let text = format_units(units);
    let cut = 8 - decimals.min(8) as usize + usize::from(decimals == 0);
    text[..text.len() - cut].to_owned()
}

/// `units` rounded to `decimals` fractional digits, as such a string.
fn rounded(units: i128, decimals: u32) -> String {
    let step = 10_i128.pow(8 - decimals.min(8));
    fixed(div_round(units, step) * step, decimals)
}

/// Builds the candle of `interval` opening at `open`, as served at `now` (partial when it
/// contains `now`; `None` when it opens after `now` or closes before the onboard date).
fn candle(
    c: &Contract,
    interval: Interval,
    open: i64,
    now: Option<i64>,
) -> Option<SimFuturesKline> {
    let next = interval.next_open(open);
    if next <= c.onboard_ms || now.is_some_and(|now| open > now) {
        return None;
    }
    let series: &Series = c.series;
    let first = open.max(c.onboard_ms).div_euclid(MINUTE_MS);
    let end = next.div_euclid(MINUTE_MS);
    // The minute still running, served as its opening trade only.
    let current = now.map(|n| n.div_euclid(MINUTE_MS)).filter(|m| *m < end);
    let closed_end = current.unwrap_or(end);
    let mut kline = if closed_end > first {
        let run = c.run(first, closed_end - first);
        let rows = &series.rows;
        let row = |i: usize| -> &Row { &rows[i] };
        let single = closed_end - first == 1 && current.is_none();
        let add = |k: usize| -> String {
            if single {
                row(run.first).add[k].text.to_string()
            } else {
                fixed(run.sums.add[k], series.add_decimals[k])
            }
        };
        SimFuturesKline {
            open_time: open,
            close_time: next - 1,
            open: row(run.first).open.text.to_string(),
            high: row(run.high).high.text.to_string(),
            low: row(run.low).low.text.to_string(),
            close: row(run.last).close.text.to_string(),
            volume: add(0),
            quote_volume: add(1),
            trades: run.sums.trades,
            taker_buy_volume: add(2),
            taker_buy_quote_volume: add(3),
        }
    } else {
        let zero = |k: usize| fixed(0, series.add_decimals[k]);
        let price = c.row(first).open.text.to_string();
        SimFuturesKline {
            open_time: open,
            close_time: next - 1,
            open: price.clone(),
            high: price.clone(),
            low: price.clone(),
            close: price,
            volume: zero(0),
            quote_volume: zero(1),
            trades: 0,
            taker_buy_volume: zero(2),
            taker_buy_quote_volume: zero(3),
        }
    };
    if let Some(minute) = current.filter(|m| *m > first) {
        // Opening trade of the running minute: it may extend the range.
        let row = c.row(minute);
        let as_units = |s: &str| crate::decimal::parse_units(s).map_or(0, i128::from);
        if i128::from(row.open.units) > as_units(&kline.high) {
            kline.high = row.open.text.to_string();
        }
        if i128::from(row.open.units) < as_units(&kline.low) {
            kline.low = row.open.text.to_string();
        }
        kline.close = row.open.text.to_string();
    }
    Some(kline)
}

/// Klines selection at `now`, as on spot: with `start`, the first `limit` candles with
/// `start <= open_time <= min(end, now)`; otherwise the last `limit` with
/// `open_time <= min(end, now)`. Nothing before the onboard date.
fn select_klines(
    c: &Contract,
    interval: Interval,
    start: Option<i64>,
    end: Option<i64>,
    limit: usize,
    now: i64,
) -> Vec<SimFuturesKline> {
    let mut out = Vec::new();
    let upper = end.map_or(now, |e| e.min(now));
    let last_open = interval.align_down(upper);
    match start {
        Some(start) => {
            let mut open = interval
                .align_up(start)
                .max(interval.align_down(c.onboard_ms));
            while open <= last_open && out.len() < limit {
                if let Some(k) = candle(c, interval, open, Some(now)) {
                    out.push(k);
                }
                open = interval.next_open(open);
            }
        }
        None => {
            let mut open = last_open;
            while out.len() < limit {
                match candle(c, interval, open, Some(now)) {
                    Some(k) => out.push(k),
                    None => break,
                }
                open = interval.prev_open(open);
            }
            out.reverse();
        }
    }
    out
}

fn write_kline(k: &SimFuturesKline, out: &mut String) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        "[{},\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",{},\"{}\",{},\"{}\",\"{}\",\"0\"]",
        k.open_time,
        k.open,
        k.high,
        k.low,
        k.close,
        k.volume,
        k.close_time,
        k.quote_volume,
        k.trades,
        k.taker_buy_volume,
        k.taker_buy_quote_volume
    );
}

/// `GET …/klines`: `symbol`, `interval` mandatory; `startTime`, `endTime`, `limit`
/// (default 500, 1..=1500). COIN-M: with only `startTime` the range ends 200 days later,
/// with only `endTime` it starts 200 days earlier; a longer explicit range is -1130.
async fn klines(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    let params = &ctx.params;
    let c = contract(&sim, params, "symbol")?;
    let interval =
        Interval::parse(params.mandatory("interval")?).ok_or_else(ApiError::invalid_interval)?;
    let mut start = params.optional_i64("startTime")?;
    let mut end = params.optional_i64("endTime")?;
    let limit = params
        .optional_in_range("limit", 1, KLINES_MAX_LIMIT)?
        .unwrap_or(KLINES_DEFAULT_LIMIT);
    if sim.market == FuturesMarket::Coinm {
        match (start, end) {
            (Some(s), None) => end = Some(s.saturating_add(COINM_KLINE_RANGE_MS)),
            (None, Some(e)) => start = Some(e.saturating_sub(COINM_KLINE_RANGE_MS)),
            (Some(s), Some(e)) if e - s > COINM_KLINE_RANGE_MS => {
                return Err(invalid_parameter("endTime"));
            }
            _ => {}
        }
    }
    let limit = usize::try_from(limit).unwrap_or(0);
    let candles = select_klines(c, interval, start, end, limit, ctx.now);
    let mut body = String::with_capacity(2 + candles.len() * 160);
    body.push('[');
    for (i, k) in candles.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        write_kline(k, &mut body);
    }
    body.push(']');
    Ok(json_response(StatusCode::OK, body))
}

/// See [`super::FuturesSim::kline`].
pub(crate) fn final_kline(
    sim: &FuturesShared,
    symbol: &str,
    interval: &str,
    open_time: i64,
) -> Option<SimFuturesKline> {
    let interval = Interval::parse(interval)?;
    if interval.align_down(open_time) != open_time {
        return None;
    }
    candle(sim.contracts.get(symbol)?, interval, open_time, None)
}

/// See [`super::FuturesSim::klines`].
pub(crate) fn closed_klines(
    sim: &FuturesShared,
    symbol: &str,
    interval: &str,
    start: i64,
    end: i64,
    now: i64,
) -> Vec<SimFuturesKline> {
    let (Some(interval), Some(c)) = (Interval::parse(interval), sim.contracts.get(symbol)) else {
        return Vec::new();
    };
    let end = end.min(interval.prev_open(now));
    if end < start {
        return Vec::new();
    }
    select_klines(c, interval, Some(start), Some(end), usize::MAX, now)
}

// ----- book ticker -----

/// Quantity served on each side of the book: the engine's book has no depth limit.
const BOOK_QTY: &str = "1000000";

/// `GET /fapi/v1/ticker/bookTicker` entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsdmBookTicker<'a> {
    symbol: &'a str,
    bid_price: String,
    bid_qty: &'a str,
    ask_price: String,
    ask_qty: &'a str,
    time: i64,
    last_update_id: i64,
}

/// `GET /dapi/v1/ticker/bookTicker` entry (with `pair`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CoinmBookTicker<'a> {
    last_update_id: i64,
    symbol: &'a str,
    pair: &'a str,
    bid_price: String,
    bid_qty: &'a str,
    ask_price: String,
    ask_qty: &'a str,
    time: i64,
}

/// `GET …/ticker/bookTicker` (weight 2 with `symbol`, else 5): the order engine's book,
/// one price (the contract price, `engine::last_price`) on both sides with a large
/// quantity. USD-M an object for `symbol`, else an array; COIN-M always an array.
async fn book_ticker(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    let (list, one) = selection(&sim, &ctx.params)?;
    let now = ctx.now;
    let price = |c: &Contract| {
        super::engine::fmt_dec(super::engine::last_price(&sim, c, now), c.price_decimals)
    };
    match sim.market {
        FuturesMarket::Usdm => one_or_many(
            list.iter()
                .map(|c| UsdmBookTicker {
                    symbol: &c.name,
                    bid_price: price(c),
                    bid_qty: BOOK_QTY,
                    ask_price: price(c),
                    ask_qty: BOOK_QTY,
                    time: now,
                    last_update_id: now,
                })
                .collect(),
            one,
        ),
        FuturesMarket::Coinm => json_ok(
            &list
                .iter()
                .map(|c| CoinmBookTicker {
                    last_update_id: now,
                    symbol: &c.name,
                    pair: &c.pair,
                    bid_price: price(c),
                    bid_qty: BOOK_QTY,
                    ask_price: price(c),
                    ask_qty: BOOK_QTY,
                    time: now,
                })
                .collect::<Vec<_>>(),
        ),
    }
}

// ----- ticker -----

/// `GET /fapi/v1/ticker/24hr` entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsdmTicker<'a> {
    symbol: &'a str,
    price_change: String,
    price_change_percent: String,
    weighted_avg_price: String,
    last_price: String,
    last_qty: &'a str,
    open_price: String,
    high_price: String,
    low_price: String,
    volume: String,
    quote_volume: String,
    open_time: i64,
    close_time: i64,
    first_id: u64,
    last_id: u64,
    count: u64,
}

/// `GET /dapi/v1/ticker/24hr` entry (volume in contracts, baseVolume in the base asset).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CoinmTicker<'a> {
    symbol: &'a str,
    pair: &'a str,
    price_change: String,
    price_change_percent: String,
    weighted_avg_price: String,
    last_price: String,
    last_qty: &'a str,
    open_price: String,
    high_price: String,
    low_price: String,
    volume: String,
    base_volume: String,
    open_time: i64,
    close_time: i64,
    first_id: u64,
    last_id: u64,
    count: u64,
}

/// 24 h statistics over the 1440 closed minutes before `now`'s minute.
struct DayStats {
    change: String,
    percent: String,
    weighted: String,
    last: String,
    open: String,
    high: String,
    low: String,
    volume: String,
    quote: String,
    first_id: u64,
    last_id: u64,
    count: u64,
}

fn day_stats(c: &Contract, now: i64) -> DayStats {
    let s = c.series;
    let end = now.div_euclid(MINUTE_MS);
    let first = end - 1440;
    let run = c.run(first, 1440);
    let (open, last) = (&s.rows[run.first].open, &s.rows[run.last].close);
    let change = i128::from(last.units) - i128::from(open.units);
    let percent = if open.units > 0 {
        div_round(change * 100_000, i128::from(open.units))
    } else {
        0
    };
    let weighted = match c.contract_size {
        // Quote volume / volume.
        None if run.sums.add[0] > 0 => {
            div_round(run.sums.add[1] * i128::from(SCALE), run.sums.add[0])
        }
        // Contracts × size / base volume.
        Some(size) if run.sums.add[1] > 0 => div_round(
            run.sums.add[0] * i128::from(size) * i128::from(SCALE),
            run.sums.add[1],
        ),
        _ => 0,
    };
    let first_id = c.trades_before(first);
    let last_id = c.trades_before(end).saturating_sub(1);
    DayStats {
        change: rounded(change, c.price_decimals),
        percent: format_milli(percent),
        weighted: rounded(weighted, c.price_decimals),
        last: last.text.to_string(),
        open: open.text.to_string(),
        high: s.rows[run.high].high.text.to_string(),
        low: s.rows[run.low].low.text.to_string(),
        volume: fixed(run.sums.add[0], s.add_decimals[0]),
        quote: fixed(run.sums.add[1], s.add_decimals[1]),
        first_id,
        last_id,
        count: run.sums.trades,
    }
}

/// The contracts a `symbol` (or, on COIN-M, `pair`) selection names; `None` = one object
/// wanted (USD-M `symbol`).
fn selection<'a>(
    sim: &'a FuturesShared,
    params: &Params,
) -> Result<(Vec<&'a Contract>, bool), ApiError> {
    if params.get("symbol").is_some() {
        let c = contract(sim, params, "symbol")?;
        return Ok((vec![c], sim.market == FuturesMarket::Usdm));
    }
    if sim.market == FuturesMarket::Coinm
        && let Some(pair) = params.optional("pair")?
    {
        let list: Vec<&Contract> = sim
            .contracts
            .listed()
            .into_iter()
            .filter(|c| c.pair == pair)
            .collect();
        if list.is_empty() {
            return Err(ApiError::invalid_symbol());
        }
        return Ok((list, false));
    }
    Ok((sim.contracts.listed(), false))
}

fn one_or_many<T: Serialize>(mut items: Vec<T>, one: bool) -> ApiResult {
    match items.pop() {
        Some(item) if one => json_ok(&item),
        Some(item) => {
            items.push(item);
            json_ok(&items)
        }
        None => json_ok(&items),
    }
}

/// `GET …/ticker/24hr` (weight 1 with `symbol`, else 40): USD-M an object for `symbol`,
/// else an array; COIN-M always an array (`symbol` or `pair` optional). Rolling window: the
/// 1440 closed minutes before the current one.
async fn ticker_24hr(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    let (list, one) = selection(&sim, &ctx.params)?;
    let now = ctx.now;
    match sim.market {
        FuturesMarket::Usdm => one_or_many(
            list.iter()
                .map(|c| {
                    let d = day_stats(c, now);
                    UsdmTicker {
                        symbol: &c.name,
                        price_change: d.change,
                        price_change_percent: d.percent,
                        weighted_avg_price: d.weighted,
                        last_price: d.last,
                        last_qty: c.min_qty,
                        open_price: d.open,
                        high_price: d.high,
                        low_price: d.low,
                        volume: d.volume,
                        quote_volume: d.quote,
                        open_time: now - 86_400_000,
                        close_time: now,
                        first_id: d.first_id,
                        last_id: d.last_id,
                        count: d.count,
                    }
                })
                .collect(),
            one,
        ),
        FuturesMarket::Coinm => json_ok(
            &list
                .iter()
                .map(|c| {
                    let d = day_stats(c, now);
                    CoinmTicker {
                        symbol: &c.name,
                        pair: &c.pair,
                        price_change: d.change,
                        price_change_percent: d.percent,
                        weighted_avg_price: d.weighted,
                        last_price: d.last,
                        last_qty: c.min_qty,
                        open_price: d.open,
                        high_price: d.high,
                        low_price: d.low,
                        volume: d.volume,
                        base_volume: d.quote,
                        open_time: now - 86_400_000,
                        close_time: now,
                        first_id: d.first_id,
                        last_id: d.last_id,
                        count: d.count,
                    }
                })
                .collect::<Vec<_>>(),
        ),
    }
}

// ----- premium index -----

/// `GET /fapi/v1/premiumIndex` entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsdmPremium {
    symbol: String,
    mark_price: String,
    index_price: String,
    estimated_settle_price: String,
    last_funding_rate: String,
    interest_rate: String,
    next_funding_time: i64,
    time: i64,
}

/// `GET /dapi/v1/premiumIndex` entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CoinmPremium {
    symbol: String,
    pair: String,
    mark_price: String,
    index_price: String,
    estimated_settle_price: String,
    last_funding_rate: String,
    interest_rate: String,
    next_funding_time: i64,
    time: i64,
}

fn premium(c: &Contract, t: i64) -> SimPremiumIndex {
    let (rate, interest, next) = if c.perpetual() {
        (
            format_units(derived::running_rate(c, t)),
            format_units(INTEREST_RATE),
            derived::next_funding(t),
        )
    } else {
        (String::new(), String::new(), 0)
    };
    let index = format_units(derived::index(c, t));
    SimPremiumIndex {
        symbol: c.name.clone(),
        mark_price: format_units(derived::mark(c, t)),
        estimated_settle_price: index.clone(),
        index_price: index,
        last_funding_rate: rate,
        interest_rate: interest,
        next_funding_time: next,
        time: t,
    }
}

/// `GET …/premiumIndex`: USD-M weight 1 with `symbol` (an object), 10 without (an array);
/// COIN-M weight 10, `symbol` or `pair` optional, always an array.
async fn premium_index(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    let (list, one) = selection(&sim, &ctx.params)?;
    match sim.market {
        FuturesMarket::Usdm => one_or_many(
            list.iter()
                .map(|c| {
                    let p = premium(c, ctx.now);
                    UsdmPremium {
                        symbol: p.symbol,
                        mark_price: p.mark_price,
                        index_price: p.index_price,
                        estimated_settle_price: p.estimated_settle_price,
                        last_funding_rate: p.last_funding_rate,
                        interest_rate: p.interest_rate,
                        next_funding_time: p.next_funding_time,
                        time: p.time,
                    }
                })
                .collect(),
            one,
        ),
        FuturesMarket::Coinm => json_ok(
            &list
                .iter()
                .map(|c| {
                    let p = premium(c, ctx.now);
                    CoinmPremium {
                        symbol: p.symbol,
                        pair: c.pair.clone(),
                        mark_price: p.mark_price,
                        index_price: p.index_price,
                        estimated_settle_price: p.estimated_settle_price,
                        last_funding_rate: p.last_funding_rate,
                        interest_rate: p.interest_rate,
                        next_funding_time: p.next_funding_time,
                        time: p.time,
                    }
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// See [`super::FuturesSim::premium_index`].
pub(crate) fn premium_index_at(
    sim: &FuturesShared,
    symbol: &str,
    t: i64,
) -> Option<SimPremiumIndex> {
    Some(premium(sim.contracts.get(symbol)?, t))
}

// ----- open interest -----

fn oi_text(c: &Contract, oi: i128) -> String {
    match c.contract_size {
        None => fixed(oi, 3),
        Some(_) => oi.to_string(),
    }
}

fn open_interest_of(c: &Contract, t: i64) -> SimOpenInterest {
    SimOpenInterest {
        symbol: c.name.clone(),
        open_interest: oi_text(c, derived::open_interest(c, t)),
        open_interest_value: format_units(derived::open_interest_value(c, t)),
        time: t,
    }
}

/// `GET /fapi/v1/openInterest` answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsdmOpenInterest<'a> {
    open_interest: String,
    symbol: &'a str,
    time: i64,
}

/// `GET /dapi/v1/openInterest` answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CoinmOpenInterest<'a> {
    symbol: &'a str,
    pair: &'a str,
    open_interest: String,
    contract_type: &'a str,
    time: i64,
}

/// `GET …/openInterest` (weight 1): `symbol` mandatory. Base asset (3 decimals) on USD-M,
/// contracts on COIN-M.
async fn open_interest(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    let c = contract(&sim, &ctx.params, "symbol")?;
    let oi = open_interest_of(c, ctx.now);
    match sim.market {
        FuturesMarket::Usdm => json_ok(&UsdmOpenInterest {
            open_interest: oi.open_interest,
            symbol: &c.name,
            time: ctx.now,
        }),
        FuturesMarket::Coinm => json_ok(&CoinmOpenInterest {
            symbol: &c.name,
            pair: &c.pair,
            open_interest: oi.open_interest,
            contract_type: c.contract_type,
            time: ctx.now,
        }),
    }
}

/// See [`super::FuturesSim::open_interest`].
pub(crate) fn open_interest_at(
    sim: &FuturesShared,
    symbol: &str,
    t: i64,
) -> Option<SimOpenInterest> {
    Some(open_interest_of(sim.contracts.get(symbol)?, t))
}

// ----- funding rate history -----

/// `GET /fapi/v1/fundingRate` entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsdmFunding<'a> {
    symbol: &'a str,
    funding_time: i64,
    funding_rate: String,
    mark_price: String,
}

/// `GET /dapi/v1/fundingRate` entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CoinmFunding<'a> {
    symbol: &'a str,
    funding_time: i64,
    funding_rate: String,
}

/// Funding times of a perpetual, selected as klines are: with `start`, the first `limit`
/// in `[start, min(end, now)]`; otherwise the last `limit` up to `min(end, now)`.
fn funding_times(
    c: &Contract,
    start: Option<i64>,
    end: Option<i64>,
    limit: usize,
    now: i64,
) -> Vec<i64> {
    if !c.perpetual() || limit == 0 {
        return Vec::new();
    }
    let upper = end.map_or(now, |e| e.min(now));
    let first_allowed =
        c.onboard_ms.div_euclid(FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS + FUNDING_INTERVAL_MS;
    let last = upper.div_euclid(FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS;
    let mut out = Vec::new();
    match start {
        Some(start) => {
            let mut t = (start.div_euclid(FUNDING_INTERVAL_MS)
                + i64::from(start.rem_euclid(FUNDING_INTERVAL_MS) != 0))
                * FUNDING_INTERVAL_MS;
            t = t.max(first_allowed);
            while t <= last && out.len() < limit {
                out.push(t);
                t += FUNDING_INTERVAL_MS;
            }
        }
        None => {
            let mut t = last;
            while t >= first_allowed && out.len() < limit {
                out.push(t);
                t -= FUNDING_INTERVAL_MS;
            }
            out.reverse();
        }
    }
    out
}

fn funding_event(c: &Contract, t: i64) -> SimFundingRate {
    SimFundingRate {
        symbol: c.name.clone(),
        funding_time: t,
        funding_rate: format_units(derived::funding_rate(c, t)),
        mark_price: format_units(derived::mark(c, t)),
    }
}

/// `GET …/fundingRate` (weight 1): `symbol` (optional on USD-M: all perpetuals, by time),
/// `startTime`, `endTime`, `limit` (default 100, 1..=1000). Events every 8 h; none for
/// delivery contracts. USD-M also allows only 500 requests per 5 minutes (429, then 418).
async fn funding_rate(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    let params = &ctx.params;
    let contracts = if sim.market == FuturesMarket::Usdm && params.get("symbol").is_none() {
        sim.contracts.listed()
    } else {
        vec![contract(&sim, params, "symbol")?]
    };
    let start = params.optional_i64("startTime")?;
    let end = params.optional_i64("endTime")?;
    let limit = params
        .optional_in_range("limit", 1, FUNDING_MAX_LIMIT)?
        .unwrap_or(FUNDING_DEFAULT_LIMIT);
    let limit = usize::try_from(limit).unwrap_or(0);
    let mut events: Vec<SimFundingRate> = contracts
        .iter()
        .flat_map(|c| {
            funding_times(c, start, end, limit, ctx.now)
                .into_iter()
                .map(|t| funding_event(c, t))
        })
        .collect();
    events.sort_by_key(|e| e.funding_time);
    if start.is_some() {
        events.truncate(limit);
    } else if events.len() > limit {
        events.drain(..events.len() - limit);
    }
    match sim.market {
        FuturesMarket::Usdm => json_ok(
            &events
                .iter()
                .map(|e| UsdmFunding {
                    symbol: &e.symbol,
                    funding_time: e.funding_time,
                    funding_rate: e.funding_rate.clone(),
                    mark_price: e.mark_price.clone(),
                })
                .collect::<Vec<_>>(),
        ),
        FuturesMarket::Coinm => json_ok(
            &events
                .iter()
                .map(|e| CoinmFunding {
                    symbol: &e.symbol,
                    funding_time: e.funding_time,
                    funding_rate: e.funding_rate.clone(),
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// See [`super::FuturesSim::funding_rates`].
pub(crate) fn funding_between(
    sim: &FuturesShared,
    symbol: &str,
    start: i64,
    end: i64,
) -> Vec<SimFundingRate> {
    let Some(c) = sim.contracts.get(symbol) else {
        return Vec::new();
    };
    funding_times(c, Some(start), Some(end), usize::MAX, i64::MAX)
        .into_iter()
        .map(|t| funding_event(c, t))
        .collect()
}

// ----- open interest history -----

/// The periods `openInterestHist` accepts.
const PERIODS: [&str; 9] = ["5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"];

/// `GET /futures/data/openInterestHist` entry on the fapi host.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsdmOiHist<'a> {
    symbol: &'a str,
    sum_open_interest: String,
    sum_open_interest_value: String,
    #[serde(rename = "CMCCirculatingSupply")]
    cmc_circulating_supply: &'static str,
    /// A string on the fapi host.
    timestamp: String,
}

/// `GET /futures/data/openInterestHist` entry on the dapi host.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CoinmOiHist<'a> {
    pair: &'a str,
    contract_type: &'a str,
    sum_open_interest: String,
    sum_open_interest_value: String,
    timestamp: i64,
}

/// A constant circulating supply per base asset (the simulator does not model it).
fn circulating_supply(c: &Contract) -> &'static str {
    if c.base_symbol.starts_with("BTC") {
        "19600000.000000"
    } else {
        "120000000.000000"
    }
}

/// `GET /futures/data/openInterestHist` (fapi: weight 0, `symbol`; dapi: weight 1, `pair`
/// and `contractType` `ALL`/`CURRENT_QUARTER`/`NEXT_QUARTER`/`PERPETUAL`), both `period`
/// mandatory, `limit` default 30 (1..=500), `startTime`, `endTime`. Snapshots at the
/// period boundaries of the last 30 days only: a `startTime` or `endTime` older is -1130.
/// Also limited to 1000 requests per 5 minutes (429, then 418).
async fn open_interest_hist(State(sim): Sim, Extension(ctx): Ctx) -> ApiResult {
    let params = &ctx.params;
    let contracts: Vec<&Contract>;
    let mut label: Option<(&str, &str)> = None;
    match sim.market {
        FuturesMarket::Usdm => contracts = vec![contract(&sim, params, "symbol")?],
        FuturesMarket::Coinm => {
            let pair = params.check_symbol("pair", params.mandatory("pair")?)?;
            let kind = params.mandatory("contractType")?;
            if !["ALL", "CURRENT_QUARTER", "NEXT_QUARTER", "PERPETUAL"].contains(&kind) {
                return Err(invalid_parameter("contractType"));
            }
            let of_pair: Vec<&Contract> = sim
                .contracts
                .listed()
                .into_iter()
                .filter(|c| c.pair == pair)
                .collect();
            if of_pair.is_empty() {
                return Err(ApiError::invalid_symbol());
            }
            contracts = of_pair
                .into_iter()
                .filter(|c| kind == "ALL" || c.contract_type == kind)
                .collect();
            label = Some((pair, kind));
        }
    }
    let period = params.mandatory("period")?;
    let interval = PERIODS
        .contains(&period)
        .then(|| Interval::parse(period))
        .flatten()
        .ok_or_else(|| invalid_parameter("period"))?;
    let limit = params
        .optional_in_range("limit", 1, OI_HIST_MAX_LIMIT)?
        .unwrap_or(OI_HIST_DEFAULT_LIMIT);
    let start = params.optional_i64("startTime")?;
    let end = params.optional_i64("endTime")?;
    let kept_from = ctx.now - OPEN_INTEREST_HIST_KEPT_MS;
    if start.is_some_and(|s| s < kept_from) {
        return Err(invalid_parameter("startTime"));
    }
    if end.is_some_and(|e| e < kept_from) {
        return Err(invalid_parameter("endTime"));
    }
    let times = hist_times(
        interval,
        start,
        end,
        usize::try_from(limit).unwrap_or(0),
        ctx.now,
    );
    match (sim.market, label) {
        (FuturesMarket::Coinm, Some((pair, kind))) => json_ok(
            &times
                .iter()
                .filter(|_| !contracts.is_empty())
                .map(|&t| {
                    let oi: i128 = contracts.iter().map(|c| derived::open_interest(c, t)).sum();
                    let value: i128 = contracts
                        .iter()
                        .map(|c| derived::open_interest_value(c, t))
                        .sum();
                    CoinmOiHist {
                        pair,
                        contract_type: kind,
                        sum_open_interest: oi.to_string(),
                        sum_open_interest_value: format_units(value),
                        timestamp: t,
                    }
                })
                .collect::<Vec<_>>(),
        ),
        _ => {
            let Some(c) = contracts.first() else {
                return json_ok(&Vec::<()>::new());
            };
            json_ok(
                &times
                    .iter()
                    .map(|&t| UsdmOiHist {
                        symbol: &c.name,
                        sum_open_interest: format_units(derived::open_interest(c, t)),
                        sum_open_interest_value: format_units(derived::open_interest_value(c, t)),
                        cmc_circulating_supply: circulating_supply(c),
                        timestamp: t.to_string(),
                    })
                    .collect::<Vec<_>>(),
            )
        }
    }
}

/// Snapshot times of `openInterestHist`: period boundaries within the kept 30 days and up
/// to `min(end, now)`; with `start` the first `limit` from it, otherwise the last `limit`.
fn hist_times(
    interval: Interval,
    start: Option<i64>,
    end: Option<i64>,
    limit: usize,
    now: i64,
) -> Vec<i64> {
    let first = interval.align_up(now - OPEN_INTEREST_HIST_KEPT_MS);
    let last = interval.align_down(end.map_or(now, |e| e.min(now)));
    let mut out = Vec::new();
    match start {
        Some(start) => {
            let mut t = interval.align_up(start).max(first);
            while t <= last && out.len() < limit {
                out.push(t);
                t = interval.next_open(t);
            }
        }
        None => {
            let mut t = last;
            while t >= first && out.len() < limit {
                out.push(t);
                t = interval.prev_open(t);
            }
            out.reverse();
        }
    }
    out
}
