//! Signed futures trading endpoints of one market (see the `engine` module for the
//! matching and money rules).
//!
//! # Security
//!
//! TRADE and USER_DATA endpoints are signed exactly as on spot: `X-MBX-APIKEY` must carry
//! [`crate::SimConfig::api_key`] (401 `-2014` malformed, `-2015` another key); `signature`
//! is the HMAC-SHA256 hex, with [`crate::SimConfig::api_secret`], of the query string
//! without `signature` followed by the form body (`-1022`); `timestamp` must be less than
//! 1 s ahead of server time and no older than `recvWindow` (default 5000, at most 60000;
//! `-1021`). USER_STREAM endpoints (`listenKey`) need the API key only.
//!
//! # Endpoints (`{p}` is `/fapi/v1` or `/dapi/v1`)
//!
//! | endpoint | weight | notes |
//! |---|---|---|
//! | `POST {p}/order` | 0 (1 order) | `X-MBX-ORDER-COUNT-10S` / `-1M` headers; `-1015` (HTTP 429) past the ORDERS limits of exchange info (300 / 10 s, 1200 / min); ACK (default) or RESULT answer; USD-M conditional types `-4120` |
//! | `POST {p}/order/test` | 0 | every check, nothing placed: `{}` |
//! | `GET {p}/order` | 1 | `orderId` or `origClientOrderId`; `-2013` |
//! | `DELETE {p}/order` | 1 | `-2011` "Unknown order sent." for unknown or final orders |
//! | `GET {p}/openOrders` | 1 with `symbol`, else 40 | |
//! | `GET {p}/allOrders` | 5 | `symbol`, `orderId` (from), `startTime`, `endTime`, `limit` (500, ≤ 1000) |
//! | `DELETE {p}/allOpenOrders` | 1 | `{"code":200,"msg":"The operation of cancel all open order is done."}` |
//! | `GET {p}/userTrades` | 5 | `symbol` (COIN-M: or `pair`), `fromId`, `startTime`, `endTime`, `limit` (500, ≤ 1000) |
//! | `GET /fapi/v2/account`, `/fapi/v3/account`, `/dapi/v1/account` | 5 | |
//! | `GET /fapi/v2/positionRisk`, `/dapi/v1/positionRisk` (every symbol), `/fapi/v3/positionRisk` (open positions only) | 5 | |
//! | `GET /fapi/v2/balance`, `/fapi/v3/balance`, `/dapi/v1/balance` | 5 | |
//! | `POST {p}/leverage` | 1 | 1..=125 (`-4028`) |
//! | `POST {p}/marginType` | 1 | `ISOLATED`/`CROSSED`; `-4046` unchanged, `-4047` open orders, `-4048` position |
//! | `POST/GET {p}/positionSide/dual` | 1 / 30 | `-4059` unchanged, `-4067` open orders, `-4068` positions |
//! | `POST/GET/DELETE /fapi/v1/algoOrder`, `GET /fapi/v1/openAlgoOrders`, `GET /fapi/v1/allAlgoOrders`, `DELETE /fapi/v1/algoOpenOrders` | 0 / 1 / 1 / 1 (40) / 5 / 1 | USD-M only: the Algo Service |
//! | `POST/PUT/DELETE {p}/listenKey` | 1 | see `user_stream` |
//!
//! Checks, with Binance's futures codes: enums (`-1117` side, `-1116` type, `-1115`
//! timeInForce, `-1130` other enums), mandatory (`-1102`) and refused (`-1106`) parameters,
//! decimals (`-1100`, `-1111`), client ids (`^[\.A-Z\:/a-z0-9_-]{1,36}$`: `-4015` too long,
//! `-1100`; `-4116` duplicate of an open order), PRICE_FILTER (`-4013` below min, `-4002`
//! above max, `-4014` tick), LOT_SIZE / MARKET_LOT_SIZE (`-4003`, `-4004`, `-4005`, `-4023`
//! step), MIN_NOTIONAL (`-4164`, not for reduce-only), PERCENT_PRICE against the mark
//! price (`-4016` / `-4024`), MAX_NUM_ORDERS (`-2025`), 200 open algo orders (`-4045`),
//! position side (`-4061`), reduce-only (`-2022`), margin (`-2019`), immediate trigger
//! (`-2021`), post-only (`-5022`), `closePosition` only with STOP_MARKET /
//! TAKE_PROFIT_MARKET (`-4136`).
//!
//! Binance's documentation:
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api>,
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Algo-Order>,
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/trade/rest-api>.

use std::sync::{Arc, atomic::Ordering};

use axum::{
    Extension,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    FuturesMarket, FuturesShared,
    contracts::Contract,
    engine::{
        AlgoOrder, AlgoStatus, Book, Kind, NewOrder, PosSide, Side, Status, Trigger, fmt_dec,
        last_price, mark_price, value_of, would_trigger,
    },
};
use crate::{
    OrderFault,
    decimal::{SCALE, parse_units},
    error::{ApiError, json_response},
    lock,
    params::Params,
    rest::RequestContext,
};

type Sim = State<Arc<FuturesShared>>;
type Ctx = Extension<RequestContext>;

/// Largest `recvWindow`, ms.
const MAX_RECV_WINDOW_MS: i64 = 60_000;
/// Open algo orders allowed across all symbols.
const MAX_OPEN_ALGO_ORDERS: usize = 200;
/// Pattern of client order ids.
const CLIENT_ID_PATTERN: &str = "^[\\.A-Z\\:/a-z0-9_-]{1,36}$";

/// The IP weight of a trading request, `None` for market-data paths.
pub(crate) fn weight(
    market: FuturesMarket,
    method: &Method,
    path: &str,
    params: Option<&Params>,
) -> Option<u32> {
    if path.starts_with("/ws/") || path.starts_with("/private/ws/") {
        return Some(0);
    }
    let has = |name: &str| params.is_some_and(|p| p.get(name).is_some());
    let tail = path
        .strip_prefix(market.prefix())
        .or_else(|| path.strip_prefix("/fapi/v2"))
        .or_else(|| path.strip_prefix("/fapi/v3"))?;
    let w = match tail {
        "/order" | "/algoOrder" if method == Method::POST => 0,
        "/order/test" => 0,
        "/order" | "/algoOrder" | "/allOpenOrders" | "/algoOpenOrders" | "/leverage"
        | "/marginType" | "/listenKey" => 1,
        "/openOrders" | "/openAlgoOrders" => {
            if has("symbol") {
                1
            } else {
                40
            }
        }
        "/positionSide/dual" if method == Method::GET => 30,
        "/positionSide/dual" => 1,
        "/allOrders" | "/allAlgoOrders" | "/userTrades" | "/account" | "/positionRisk"
        | "/balance" => 5,
        _ => return None,
    };
    Some(w)
}

fn err(code: i32, msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, msg.into())
}

fn invalid_parameter(name: &str) -> ApiError {
    err(-1130, format!("parameter '{name}' is invalid."))
}

fn not_required(name: &str) -> ApiError {
    err(-1106, format!("Parameter '{name}' sent when not required."))
}

fn json_ok(value: &Value) -> Response {
    json_response(StatusCode::OK, value.to_string())
}

fn done(e: Result<Response, ApiError>) -> Response {
    e.unwrap_or_else(IntoResponse::into_response)
}

// ----- security -----

fn api_key_error(code: i32, msg: &'static str) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        code,
        msg: msg.into(),
    }
}

/// Checks the API key header (USER_STREAM security).
pub(crate) fn check_api_key(sim: &FuturesShared, headers: &HeaderMap) -> Result<(), ApiError> {
    let key = headers
        .get("x-mbx-apikey")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric()))
        .ok_or_else(|| api_key_error(-2014, "API-key format invalid."))?;
    if key != sim.engine.api_key {
        return Err(api_key_error(
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        ));
    }
    Ok(())
}

fn without_signature(part: &str) -> String {
    part.split('&')
        .filter(|p| !p.starts_with("signature="))
        .collect::<Vec<_>>()
        .join("&")
}

/// Checks key, signature and timestamp (module docs); the query and body parameters.
fn authenticate(
    sim: &FuturesShared,
    ctx: &RequestContext,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Params, ApiError> {
    check_api_key(sim, headers)?;
    let query = ctx.params.raw();
    let body = std::str::from_utf8(body).map_err(|_| ApiError::illegal_chars())?;
    let (params, payload) = if body.is_empty() {
        (Params::parse(query)?, without_signature(query))
    } else {
        let all = if query.is_empty() {
            body.to_owned()
        } else {
            format!("{query}&{body}")
        };
        (
            Params::parse(&all)?,
            format!("{}{}", without_signature(query), without_signature(body)),
        )
    };
    let signature = params.mandatory("signature")?;
    if !sim.engine.signature_matches(&payload, signature) {
        return Err(err(-1022, "Signature for this request is not valid."));
    }
    let timestamp = params
        .optional_i64("timestamp")?
        .ok_or_else(|| ApiError::mandatory("timestamp"))?;
    let recv_window = match params.optional("recvWindow")? {
        None => 5_000,
        Some(v) => {
            let ms = v
                .split_once('.')
                .map_or(v, |(int, _)| int)
                .parse::<i64>()
                .map_err(|_| ApiError::illegal("recvWindow", "^[0-9]{1,20}(\\.[0-9]{1,3})?$"))?;
            if ms > MAX_RECV_WINDOW_MS {
                return Err(err(-1131, "recvWindow must be less than 60000"));
            }
            ms
        }
    };
    if timestamp >= ctx.now + 1_000 {
        return Err(err(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if ctx.now - timestamp > recv_window {
        return Err(err(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(params)
}

/// Authenticates, then evaluates resting orders (so every request sees matched state).
fn signed(
    sim: &FuturesShared,
    ctx: &RequestContext,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Params, ApiError> {
    let params = authenticate(sim, ctx, headers, body)?;
    let mut book = lock(&sim.engine.book);
    sim.sweep(&mut book, ctx.now);
    sim.flush(&mut book);
    Ok(params)
}

// ----- parameters -----

/// A decimal parameter in `1e-8` units: `-1100` malformed, `-1111` beyond 8 decimals.
fn decimal(params: &Params, name: &str) -> Result<Option<i128>, ApiError> {
    let Some(text) = params.optional(name)? else {
        return Ok(None);
    };
    if let Some(units) = parse_units(text) {
        return Ok(Some(i128::from(units)));
    }
    let plain = text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1;
    if plain {
        return Err(err(
            -1111,
            "Precision is over the maximum defined for this asset.",
        ));
    }
    Err(ApiError::illegal(name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$"))
}

/// A `"true"`/`"false"` parameter (either case).
fn flag(params: &Params, name: &str) -> Result<Option<bool>, ApiError> {
    match params.optional(name)? {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(invalid_parameter(name)),
    }
}

fn client_id(params: &Params, name: &str) -> Result<Option<String>, ApiError> {
    let Some(id) = params.optional(name)? else {
        return Ok(None);
    };
    if id.len() > 36 {
        return Err(err(
            -4015,
            "Client order id length should be less than 36 chars",
        ));
    }
    let legal = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-'));
    if !legal {
        return Err(ApiError::illegal(name, CLIENT_ID_PATTERN));
    }
    Ok(Some(id.to_owned()))
}

/// A generated client order id (22 characters, as Binance's).
fn generated_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..22)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

fn contract<'a>(sim: &'a FuturesShared, params: &Params) -> Result<&'a Contract, ApiError> {
    let symbol = params.check_symbol("symbol", params.mandatory("symbol")?)?;
    sim.contracts
        .get(symbol)
        .ok_or_else(ApiError::invalid_symbol)
}

/// A filter's decimal field in `1e-8` units (0 when absent).
fn filter_units(c: &Contract, filter: &str, field: &str) -> i128 {
    c.info["filters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["filterType"] == filter)
        .and_then(|f| f[field].as_str())
        .and_then(parse_units)
        .map_or(0, i128::from)
}

fn filter_limit(c: &Contract, filter: &str) -> Option<usize> {
    c.info["filters"]
        .as_array()?
        .iter()
        .find(|f| f["filterType"] == filter)?["limit"]
        .as_u64()
        .and_then(|l| usize::try_from(l).ok())
}

/// PRICE_FILTER on `price` (`stop`: the stop-price codes).
fn check_price(c: &Contract, price: i128, stop: bool) -> Result<(), ApiError> {
    let min = filter_units(c, "PRICE_FILTER", "minPrice");
    let max = filter_units(c, "PRICE_FILTER", "maxPrice");
    let tick = filter_units(c, "PRICE_FILTER", "tickSize");
    if price <= 0 {
        return Err(if stop {
            err(-4006, "Stop price less than zero.")
        } else {
            err(-4001, "Price less than 0.")
        });
    }
    if min > 0 && price < min {
        return Err(err(-4013, "Price less than min price."));
    }
    if max > 0 && price > max {
        return Err(if stop {
            err(-4007, "Stop price greater than max price.")
        } else {
            err(-4002, "Price greater than max price.")
        });
    }
    if tick > 0 && (price - min) % tick != 0 {
        return Err(err(-4014, "Price not increased by tick size."));
    }
    Ok(())
}

/// LOT_SIZE (or MARKET_LOT_SIZE) on `qty`.
fn check_qty(c: &Contract, qty: i128, market: bool) -> Result<(), ApiError> {
    let filter = if market {
        "MARKET_LOT_SIZE"
    } else {
        "LOT_SIZE"
    };
    let min = filter_units(c, filter, "minQty");
    let max = filter_units(c, filter, "maxQty");
    let step = filter_units(c, filter, "stepSize");
    if qty <= 0 {
        return Err(err(-4003, "Quantity less than or equal to zero."));
    }
    if min > 0 && qty < min {
        return Err(err(-4004, "Quantity less than min quantity."));
    }
    if max > 0 && qty > max {
        return Err(err(-4005, "Quantity greater than max quantity."));
    }
    if step > 0 && (qty - min) % step != 0 {
        return Err(err(-4023, "Quantity not increased by step size."));
    }
    Ok(())
}

/// PERCENT_PRICE of a limit price against the mark price.
fn check_percent(c: &Contract, price: i128, mark: i128) -> Result<(), ApiError> {
    let up = filter_units(c, "PERCENT_PRICE", "multiplierUp");
    let down = filter_units(c, "PERCENT_PRICE", "multiplierDown");
    let scale = i128::from(SCALE);
    if up > 0 && price * scale > mark * up {
        return Err(err(
            -4016,
            format!(
                "Limit price can't be higher than {}.",
                fmt_dec(mark * up / scale, c.price_decimals)
            ),
        ));
    }
    if down > 0 && price * scale < mark * down {
        return Err(err(
            -4024,
            format!(
                "Limit price can't be lower than {}.",
                fmt_dec(mark * down / scale, c.price_decimals)
            ),
        ));
    }
    Ok(())
}

/// Which endpoint a new order came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Order,
    Algo,
}

/// Parses and checks a new order (not yet its position rules, margin and triggers, which
/// the engine checks under the lock).
fn parse_new_order(
    sim: &FuturesShared,
    params: &Params,
    via: Via,
    now: i64,
) -> Result<(NewOrder, bool), ApiError> {
    let c = contract(sim, params)?;
    let side = Side::parse(params.mandatory("side")?).ok_or_else(|| err(-1117, "Invalid side."))?;
    let kind =
        Kind::parse(params.mandatory("type")?).ok_or_else(|| err(-1116, "Invalid orderType."))?;
    if via == Via::Algo {
        if params.mandatory("algoType")? != "CONDITIONAL" {
            return Err(invalid_parameter("algoType"));
        }
        if !kind.is_conditional() {
            return Err(err(-1116, "Invalid orderType."));
        }
    }
    let position_side = match params.optional("positionSide")? {
        None => PosSide::Both,
        Some(s) => PosSide::parse(s).ok_or_else(|| invalid_parameter("positionSide"))?,
    };
    let tif = match params.optional("timeInForce")? {
        None if kind == Kind::Limit => return Err(ApiError::mandatory("timeInForce")),
        None => "GTC",
        Some(t) => ["GTC", "IOC", "FOK", "GTX"]
            .into_iter()
            .find(|x| *x == t)
            .ok_or_else(|| err(-1115, "Invalid timeInForce."))?,
    };
    let close_position = flag(params, "closePosition")?.unwrap_or(false);
    let reduce_only = flag(params, "reduceOnly")?.unwrap_or(false);
    let price_protect = flag(params, "priceProtect")?.unwrap_or(false);
    if close_position && !matches!(kind, Kind::StopMarket | Kind::TakeProfitMarket) {
        return Err(err(
            -4136,
            format!(
                "Target strategy invalid for orderType {}, closePosition true",
                kind.as_str()
            ),
        ));
    }
    if close_position && params.get("reduceOnly").is_some() {
        return Err(not_required("reduceOnly"));
    }
    let qty = decimal(params, "quantity")?;
    let qty = match (qty, close_position) {
        (Some(_), true) => return Err(not_required("quantity")),
        (None, false) => return Err(ApiError::mandatory("quantity")),
        (Some(q), false) => q,
        (None, true) => 0,
    };
    let price = decimal(params, "price")?;
    let price = match (price, kind.has_price()) {
        (Some(p), true) => p,
        (None, true) => return Err(ApiError::mandatory("price")),
        (Some(_), false) => return Err(not_required("price")),
        (None, false) => 0,
    };
    let stop_name = match via {
        Via::Order => "stopPrice",
        Via::Algo => "triggerPrice",
    };
    let stop = decimal(params, stop_name)?;
    let stop = match (stop, kind.has_stop()) {
        (Some(s), true) => s,
        (None, true) => return Err(ApiError::mandatory(stop_name)),
        (Some(_), false) => return Err(not_required(stop_name)),
        (None, false) => 0,
    };
    let activation_name = match via {
        Via::Order => "activationPrice",
        Via::Algo => "activatePrice",
    };
    let (activation, callback) = if kind == Kind::TrailingStopMarket {
        let rate =
            decimal(params, "callbackRate")?.ok_or_else(|| ApiError::mandatory("callbackRate"))?;
        if rate < SCALE as i128 / 10 || rate > 10 * i128::from(SCALE) {
            return Err(invalid_parameter("callbackRate"));
        }
        (decimal(params, activation_name)?, Some(rate))
    } else {
        if params.get(activation_name).is_some() {
            return Err(not_required(activation_name));
        }
        if params.get("callbackRate").is_some() {
            return Err(not_required("callbackRate"));
        }
        (None, None)
    };
    let mark = match params.optional("workingType")? {
        None | Some("CONTRACT_PRICE") => false,
        Some("MARK_PRICE") => true,
        Some(_) => return Err(invalid_parameter("workingType")),
    };
    let id_name = match via {
        Via::Order => "newClientOrderId",
        Via::Algo => "clientAlgoId",
    };
    let client_order_id = client_id(params, id_name)?.unwrap_or_else(generated_id);
    let result = match params.optional("newOrderRespType")? {
        None | Some("ACK") => false,
        Some("RESULT") => true,
        Some(_) => return Err(invalid_parameter("newOrderRespType")),
    };
    // Filters.
    let last = last_price(sim, c, now);
    let mark_now = mark_price(sim, c, now);
    if kind.has_price() {
        check_price(c, price, false)?;
        check_percent(c, price, mark_now)?;
    }
    if kind.has_stop() {
        check_price(c, stop, true)?;
    }
    if let Some(a) = activation {
        check_price(c, a, true)?;
    }
    if !close_position {
        check_qty(c, qty, !kind.has_price())?;
        let min_notional = filter_units(c, "MIN_NOTIONAL", "notional");
        let at = if price > 0 { price } else { last };
        if min_notional > 0 && !reduce_only && value_of(c, qty, at) < min_notional {
            return Err(err(
                -4164,
                format!(
                    "Order's notional must be no smaller than {} (unless you choose reduce only).",
                    c.info["filters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|f| f["filterType"] == "MIN_NOTIONAL")
                        .and_then(|f| f["notional"].as_str())
                        .unwrap_or("0")
                ),
            ));
        }
    }
    Ok((
        NewOrder {
            symbol: c.name.clone(),
            side,
            kind,
            tif,
            qty,
            price,
            trigger: Trigger {
                stop,
                activation,
                callback,
                activated: false,
                extreme: 0,
                mark,
                price_protect,
            },
            reduce_only,
            close_position,
            position_side,
            client_order_id,
            orig_kind: None,
            good_till_date: 0,
        },
        result,
    ))
}

// ----- orders -----

fn with_counts(mut response: Response, (c10, c1m): (u32, u32)) -> Response {
    let headers = response.headers_mut();
    headers.insert("x-mbx-order-count-10s", HeaderValue::from(c10));
    headers.insert("x-mbx-order-count-1m", HeaderValue::from(c1m));
    response
}

/// HTTP 503 of an order whose execution status is unknown.
fn unknown_status() -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: -1000,
        msg: "Unknown error, please check your request or try again later.".into(),
    }
}

/// Checks order counts, then the fault; `Err` is the whole answer.
/// Order counts (10 s, 1 min) and the fault to apply.
type Admitted = ((u32, u32), Option<OrderFault>);

fn count(sim: &FuturesShared, now: i64) -> Result<Admitted, Box<Response>> {
    let per_10s = sim.engine.orders_per_10s.load(Ordering::Relaxed);
    let per_min = sim.engine.orders_per_min.load(Ordering::Relaxed);
    let counted = lock(&sim.engine.book).count_order(now, per_10s, per_min);
    let counts = match counted {
        Ok(c) => c,
        Err(e) => {
            let counts = lock(&sim.engine.book).counts(now);
            return Err(Box::new(with_counts(e.into_response(), counts)));
        }
    };
    let fault = lock(&sim.engine.fault).clone();
    if fault == Some(OrderFault::Reject503) {
        return Err(Box::new(with_counts(
            ApiError::internal().into_response(),
            counts,
        )));
    }
    Ok((counts, fault))
}

/// Answers `value` as the fault says (the order was executed).
async fn answer(value: Value, fault: Option<OrderFault>) -> Response {
    match fault {
        Some(OrderFault::ExecuteThen503) => unknown_status().into_response(),
        Some(OrderFault::DelayAnswer(delay)) => {
            tokio::time::sleep(delay).await;
            json_ok(&value)
        }
        _ => json_ok(&value),
    }
}

/// Places a new order (checks done but position rules); the answer JSON.
fn place(sim: &FuturesShared, o: NewOrder, result: bool, now: i64) -> Result<Value, ApiError> {
    let mut book = lock(&sim.engine.book);
    check_open_limits(sim, &book, &o)?;
    if book
        .orders
        .iter()
        .any(|x| x.status.is_open() && x.client_order_id == o.client_order_id)
    {
        return Err(err(-4116, "ClientOrderId is duplicated."));
    }
    let i = sim.accept(&mut book, o, now)?;
    let mut order = book.orders[i].clone();
    if !result {
        // ACK: the order as accepted.
        order.status = Status::New;
        order.executed = 0;
        order.cum_value = 0;
        order.cum_price_qty = 0;
        order.update_time = order.time;
    }
    let value = sim.order_json(&order, false);
    sim.flush(&mut book);
    Ok(value)
}

fn check_open_limits(sim: &FuturesShared, book: &Book, o: &NewOrder) -> Result<(), ApiError> {
    let Some(c) = sim.contracts.get(&o.symbol) else {
        return Err(ApiError::invalid_symbol());
    };
    if let Some(limit) = filter_limit(c, "MAX_NUM_ORDERS") {
        let open = book
            .orders
            .iter()
            .filter(|x| x.symbol == o.symbol && x.status.is_open())
            .count();
        if open >= limit {
            return Err(err(-2025, "Reach max open order limit."));
        }
    }
    Ok(())
}

/// `POST {p}/order` (TRADE).
pub(crate) async fn new_order(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match signed(&sim, &ctx, &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    // Since 2025-12-09 USD-M refuses the conditional types here.
    if sim.market == FuturesMarket::Usdm
        && params
            .get("type")
            .and_then(Kind::parse)
            .is_some_and(Kind::is_conditional)
    {
        sim.engine
            .conditional_attempts
            .fetch_add(1, Ordering::Relaxed);
        return err(
            -4120,
            "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
        )
        .into_response();
    }
    let (counts, fault) = match count(&sim, ctx.now) {
        Ok(x) => x,
        Err(response) => return *response,
    };
    let placed = parse_new_order(&sim, &params, Via::Order, ctx.now)
        .and_then(|(o, result)| place(&sim, o, result, ctx.now));
    let response = match placed {
        Ok(value) => answer(value, fault).await,
        Err(e) => e.into_response(),
    };
    with_counts(response, counts)
}

/// `POST {p}/order/test` (TRADE): every check, nothing placed.
pub(crate) async fn test_order(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        if sim.market == FuturesMarket::Usdm
            && params
                .get("type")
                .and_then(Kind::parse)
                .is_some_and(Kind::is_conditional)
        {
            sim.engine
                .conditional_attempts
                .fetch_add(1, Ordering::Relaxed);
            return Err(err(
                -4120,
                "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
            ));
        }
        let (o, _) = parse_new_order(&sim, &params, Via::Order, ctx.now)?;
        let book = lock(&sim.engine.book);
        check_open_limits(&sim, &book, &o)?;
        sim.check_position_rules(&book, &o)?;
        Ok(json_ok(&json!({})))
    })())
}

/// The order `orderId` / `origClientOrderId` names on the symbol.
fn find(book: &Book, params: &Params, symbol: &str) -> Result<Option<usize>, ApiError> {
    let order_id = params.optional_i64("orderId")?;
    let client = params.optional("origClientOrderId")?;
    if order_id.is_none() && client.is_none() {
        return Err(err(
            -1102,
            "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!",
        ));
    }
    Ok(book.orders.iter().rposition(|o| {
        o.symbol == symbol
            && order_id.is_none_or(|id| id == o.order_id)
            && client.is_none_or(|c| c == o.client_order_id)
    }))
}

/// `GET {p}/order` (USER_DATA).
pub(crate) async fn query_order(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let c = contract(&sim, &params)?;
        let book = lock(&sim.engine.book);
        let i =
            find(&book, &params, &c.name)?.ok_or_else(|| err(-2013, "Order does not exist."))?;
        Ok(json_ok(&sim.order_json(&book.orders[i], true)))
    })())
}

/// `DELETE {p}/order` (TRADE).
pub(crate) async fn cancel_order(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let c = contract(&sim, &params)?;
        let mut book = lock(&sim.engine.book);
        let i = find(&book, &params, &c.name)?
            .filter(|i| book.orders[*i].status.is_open())
            .ok_or_else(|| err(-2011, "Unknown order sent."))?;
        sim.finish(&mut book, c, i, Status::Canceled, "CANCELED", ctx.now);
        let value = sim.order_json(&book.orders[i], false);
        sim.flush(&mut book);
        Ok(json_ok(&value))
    })())
}

/// `GET {p}/openOrders` (USER_DATA).
pub(crate) async fn open_orders(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let symbol = match params.optional("symbol")? {
            Some(_) => Some(contract(&sim, &params)?.name.clone()),
            None => None,
        };
        let book = lock(&sim.engine.book);
        let list: Vec<Value> = book
            .orders
            .iter()
            .filter(|o| o.status.is_open() && symbol.as_ref().is_none_or(|s| *s == o.symbol))
            .map(|o| sim.order_json(o, true))
            .collect();
        Ok(json_ok(&Value::from(list)))
    })())
}

/// `limit` with Binance's default 500 and maximum 1000.
fn limit(params: &Params) -> Result<usize, ApiError> {
    Ok(params
        .optional_in_range("limit", 1, 1000)?
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(500))
}

/// `GET {p}/allOrders` (USER_DATA).
pub(crate) async fn all_orders(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let c = contract(&sim, &params)?;
        let from = params.optional_i64("orderId")?;
        let start = params.optional_i64("startTime")?;
        let end = params.optional_i64("endTime")?;
        let limit = limit(&params)?;
        let book = lock(&sim.engine.book);
        let mut list: Vec<Value> = book
            .orders
            .iter()
            .filter(|o| {
                o.symbol == c.name
                    && from.is_none_or(|f| o.order_id >= f)
                    && start.is_none_or(|s| o.time >= s)
                    && end.is_none_or(|e| o.time <= e)
            })
            .map(|o| sim.order_json(o, true))
            .collect();
        if from.is_some() {
            list.truncate(limit);
        } else if list.len() > limit {
            list.drain(..list.len() - limit);
        }
        Ok(json_ok(&Value::from(list)))
    })())
}

/// `DELETE {p}/allOpenOrders` (TRADE).
pub(crate) async fn cancel_all(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let c = contract(&sim, &params)?;
        let mut book = lock(&sim.engine.book);
        for i in 0..book.orders.len() {
            if book.orders[i].symbol == c.name && book.orders[i].status.is_open() {
                sim.finish(&mut book, c, i, Status::Canceled, "CANCELED", ctx.now);
            }
        }
        sim.flush(&mut book);
        Ok(json_ok(
            &json!({"code": 200, "msg": "The operation of cancel all open order is done."}),
        ))
    })())
}

/// `GET {p}/userTrades` (USER_DATA).
pub(crate) async fn user_trades(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let symbols: Vec<String> = match (sim.market, params.optional("pair")?) {
            (FuturesMarket::Coinm, Some(pair)) if params.get("symbol").is_none() => sim
                .contracts
                .listed()
                .into_iter()
                .filter(|c| c.pair == pair)
                .map(|c| c.name.clone())
                .collect(),
            _ => vec![contract(&sim, &params)?.name.clone()],
        };
        let from = params.optional_i64("fromId")?;
        let start = params.optional_i64("startTime")?;
        let end = params.optional_i64("endTime")?;
        if from.is_some() && (start.is_some() || end.is_some()) {
            return Err(ApiError::too_many_parameters());
        }
        let limit = limit(&params)?;
        let book = lock(&sim.engine.book);
        let mut list: Vec<Value> = book
            .trades
            .iter()
            .filter(|t| {
                symbols.contains(&t.symbol)
                    && from.is_none_or(|f| t.id >= f)
                    && start.is_none_or(|s| t.time >= s)
                    && end.is_none_or(|e| t.time <= e)
            })
            .map(|t| sim.trade_json(t))
            .collect();
        if from.is_some() || start.is_some() {
            list.truncate(limit);
        } else if list.len() > limit {
            list.drain(..list.len() - limit);
        }
        Ok(json_ok(&Value::from(list)))
    })())
}

// ----- account -----

/// `GET /fapi/v2/account`, `/fapi/v3/account`, `/dapi/v1/account` (USER_DATA).
pub(crate) async fn account(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        signed(&sim, &ctx, &headers, &body)?;
        let book = lock(&sim.engine.book);
        Ok(json_ok(&sim.account_json(&book, ctx.now)))
    })())
}

/// `GET …/balance` (USER_DATA).
pub(crate) async fn balance(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        signed(&sim, &ctx, &headers, &body)?;
        let book = lock(&sim.engine.book);
        let account = sim.account_json(&book, ctx.now);
        let list: Vec<Value> = account["assets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let mut v = json!({
                    "accountAlias": super::engine::ACCOUNT_ALIAS,
                    "asset": a["asset"],
                    "balance": a["walletBalance"],
                    "crossWalletBalance": a["crossWalletBalance"],
                    "crossUnPnl": a["crossUnPnl"],
                    "availableBalance": a["availableBalance"],
                    "maxWithdrawAmount": a["maxWithdrawAmount"],
                    "updateTime": ctx.now,
                });
                if sim.market == FuturesMarket::Usdm {
                    v["marginAvailable"] = Value::from(true);
                } else {
                    v["withdrawAvailable"] = a["maxWithdrawAmount"].clone();
                }
                v
            })
            .collect();
        Ok(json_ok(&Value::from(list)))
    })())
}

/// `GET /fapi/v2/positionRisk`, `/dapi/v1/positionRisk` (every symbol and side).
pub(crate) async fn position_risk_all(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    position_risk(&sim, &ctx, &headers, &body, true)
}

/// `GET /fapi/v3/positionRisk` (open positions only).
pub(crate) async fn position_risk_open(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    position_risk(&sim, &ctx, &headers, &body, false)
}

fn position_risk(
    sim: &FuturesShared,
    ctx: &RequestContext,
    headers: &HeaderMap,
    body: &Bytes,
    all: bool,
) -> Response {
    done((|| {
        let params = signed(sim, ctx, headers, body)?;
        let symbol = match params.optional("symbol")? {
            Some(_) => Some(contract(sim, &params)?.name.clone()),
            None => None,
        };
        let book = lock(&sim.engine.book);
        Ok(json_ok(&Value::from(sim.position_risk(
            &book,
            symbol.as_deref(),
            all,
            ctx.now,
        ))))
    })())
}

/// `POST {p}/leverage` (TRADE).
pub(crate) async fn leverage(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let c = contract(&sim, &params)?;
        let text = params.mandatory("leverage")?;
        let lev = text
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=125).contains(l))
            .ok_or_else(|| err(-4028, format!("Leverage {text} is not valid")))?;
        lock(&sim.engine.book).leverage.insert(c.name.clone(), lev);
        Ok(json_ok(&match sim.market {
            FuturesMarket::Usdm => {
                json!({"leverage": lev, "maxNotionalValue": "1000000", "symbol": c.name})
            }
            FuturesMarket::Coinm => json!({"leverage": lev, "maxQty": "1000", "symbol": c.name}),
        }))
    })())
}

/// `POST {p}/marginType` (TRADE).
pub(crate) async fn margin_type(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let c = contract(&sim, &params)?;
        let isolated = match params.mandatory("marginType")? {
            "ISOLATED" => true,
            "CROSSED" => false,
            _ => return Err(invalid_parameter("marginType")),
        };
        let mut book = lock(&sim.engine.book);
        if book.is_isolated(&c.name) == isolated {
            return Err(err(-4046, "No need to change margin type."));
        }
        if book
            .positions
            .iter()
            .any(|((s, _), p)| *s == c.name && p.amount != 0)
        {
            return Err(err(
                -4048,
                "Margin type cannot be changed if there exists position.",
            ));
        }
        if book
            .orders
            .iter()
            .any(|o| o.symbol == c.name && o.status.is_open())
        {
            return Err(err(
                -4047,
                "Margin type cannot be changed if there exists open orders.",
            ));
        }
        book.isolated.insert(c.name.clone(), isolated);
        Ok(json_ok(&json!({"code": 200, "msg": "success"})))
    })())
}

/// `POST {p}/positionSide/dual` (TRADE): `dualSidePosition` `true` (hedge) or `false`.
pub(crate) async fn set_dual(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let dual = flag(&params, "dualSidePosition")?
            .ok_or_else(|| ApiError::mandatory("dualSidePosition"))?;
        let mut book = lock(&sim.engine.book);
        if book.dual == dual {
            return Err(err(-4059, "No need to change position side."));
        }
        if book.orders.iter().any(|o| o.status.is_open()) {
            return Err(err(
                -4067,
                "Position side cannot be changed if there exists open orders.",
            ));
        }
        if book.positions.values().any(|p| p.amount != 0) {
            return Err(err(
                -4068,
                "Position side cannot be changed if there exists position.",
            ));
        }
        book.dual = dual;
        Ok(json_ok(&json!({"code": 200, "msg": "success"})))
    })())
}

/// `GET {p}/positionSide/dual` (USER_DATA).
pub(crate) async fn get_dual(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        signed(&sim, &ctx, &headers, &body)?;
        let dual = lock(&sim.engine.book).dual;
        Ok(json_ok(&json!({"dualSidePosition": dual})))
    })())
}

// ----- the Algo Service (USD-M) -----

/// `POST /fapi/v1/algoOrder` (TRADE).
pub(crate) async fn new_algo_order(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match signed(&sim, &ctx, &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let (counts, fault) = match count(&sim, ctx.now) {
        Ok(x) => x,
        Err(response) => return *response,
    };
    let placed = parse_new_order(&sim, &params, Via::Algo, ctx.now)
        .and_then(|(o, _)| place_algo(&sim, o, ctx.now));
    let response = match placed {
        Ok(value) => answer(value, fault).await,
        Err(e) => e.into_response(),
    };
    with_counts(response, counts)
}

/// Records a new algo order; its answer JSON.
pub(crate) fn place_algo(sim: &FuturesShared, o: NewOrder, now: i64) -> Result<Value, ApiError> {
    let c = sim
        .contracts
        .get(&o.symbol)
        .ok_or_else(ApiError::invalid_symbol)?;
    let mut book = lock(&sim.engine.book);
    sim.check_position_rules(&book, &o)?;
    let open = book.algos.iter().filter(|a| a.status == AlgoStatus::New);
    if open.clone().count() >= MAX_OPEN_ALGO_ORDERS {
        return Err(err(-4045, "Reach max stop order limit."));
    }
    if book
        .algos
        .iter()
        .any(|a| a.status == AlgoStatus::New && a.client_algo_id == o.client_order_id)
    {
        return Err(err(-4116, "ClientOrderId is duplicated."));
    }
    let last = last_price(sim, c, now);
    let mark = mark_price(sim, c, now);
    if would_trigger(o.kind, o.side, &o.trigger, last, mark) {
        return Err(err(-2021, "Order would immediately trigger."));
    }
    let algo_id = book.next_algo_id;
    book.next_algo_id += 1;
    book.algos.push(AlgoOrder {
        algo_id,
        client_algo_id: o.client_order_id.clone(),
        new: o,
        status: AlgoStatus::New,
        create_time: now,
        update_time: now,
        trigger_time: 0,
        actual_order_id: None,
    });
    let a = book.algos.len() - 1;
    let value = sim.algo_json(&book.algos[a], &book);
    let event = sim.algo_event(c, &book.algos[a], &book, now);
    book.events.push(event);
    // A trailing stop without activation price is active from now on.
    sim.sweep(&mut book, now);
    sim.flush(&mut book);
    Ok(value)
}

/// The algo order `algoId` / `clientAlgoId` names.
fn find_algo(book: &Book, params: &Params) -> Result<Option<usize>, ApiError> {
    let id = params.optional_i64("algoId")?;
    let client = params.optional("clientAlgoId")?;
    if id.is_none() && client.is_none() {
        return Err(err(
            -1102,
            "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!",
        ));
    }
    Ok(book.algos.iter().rposition(|a| {
        id.is_none_or(|i| i == a.algo_id) && client.is_none_or(|c| c == a.client_algo_id)
    }))
}

/// `GET /fapi/v1/algoOrder` (USER_DATA).
pub(crate) async fn query_algo_order(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let book = lock(&sim.engine.book);
        let a = find_algo(&book, &params)?.ok_or_else(|| err(-2013, "Order does not exist."))?;
        Ok(json_ok(&sim.algo_json(&book.algos[a], &book)))
    })())
}

/// `DELETE /fapi/v1/algoOrder` (TRADE).
pub(crate) async fn cancel_algo_order(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let mut book = lock(&sim.engine.book);
        let a = find_algo(&book, &params)?
            .filter(|a| book.algos[*a].status == AlgoStatus::New)
            .ok_or_else(|| err(-2011, "Unknown order sent."))?;
        sim.cancel_algo(&mut book, a, ctx.now);
        let algo = &book.algos[a];
        let value = json!({
            "algoId": algo.algo_id,
            "clientAlgoId": algo.client_algo_id,
            "code": "200",
            "msg": "success",
        });
        sim.flush(&mut book);
        Ok(json_ok(&value))
    })())
}

/// `GET /fapi/v1/openAlgoOrders` (USER_DATA).
pub(crate) async fn open_algo_orders(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let symbol = match params.optional("symbol")? {
            Some(_) => Some(contract(&sim, &params)?.name.clone()),
            None => None,
        };
        let book = lock(&sim.engine.book);
        let list: Vec<Value> = book
            .algos
            .iter()
            .filter(|a| {
                a.status == AlgoStatus::New && symbol.as_ref().is_none_or(|s| *s == a.new.symbol)
            })
            .map(|a| sim.algo_json(a, &book))
            .collect();
        Ok(json_ok(&Value::from(list)))
    })())
}

/// `GET /fapi/v1/allAlgoOrders` (USER_DATA).
pub(crate) async fn all_algo_orders(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let c = contract(&sim, &params)?;
        let from = params.optional_i64("algoId")?;
        let start = params.optional_i64("startTime")?;
        let end = params.optional_i64("endTime")?;
        let limit = limit(&params)?;
        let book = lock(&sim.engine.book);
        let mut list: Vec<Value> = book
            .algos
            .iter()
            .filter(|a| {
                a.new.symbol == c.name
                    && from.is_none_or(|f| a.algo_id >= f)
                    && start.is_none_or(|s| a.create_time >= s)
                    && end.is_none_or(|e| a.create_time <= e)
            })
            .map(|a| sim.algo_json(a, &book))
            .collect();
        if from.is_some() {
            list.truncate(limit);
        } else if list.len() > limit {
            list.drain(..list.len() - limit);
        }
        Ok(json_ok(&Value::from(list)))
    })())
}

/// `DELETE /fapi/v1/algoOpenOrders` (TRADE).
pub(crate) async fn cancel_all_algo(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    done((|| {
        let params = signed(&sim, &ctx, &headers, &body)?;
        let c = contract(&sim, &params)?;
        let mut book = lock(&sim.engine.book);
        for a in 0..book.algos.len() {
            if book.algos[a].new.symbol == c.name && book.algos[a].status == AlgoStatus::New {
                sim.cancel_algo(&mut book, a, ctx.now);
            }
        }
        sim.flush(&mut book);
        Ok(json_ok(
            &json!({"code": 200, "msg": "The operation of cancel all open order is done."}),
        ))
    })())
}
