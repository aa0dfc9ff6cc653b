//! Spot trading (Binance spot "Trading endpoints" and "Account endpoints"): signed
//! requests, one account, orders matched against the replayed prices.
//!
//! # Security (SIGNED endpoints)
//!
//! `X-MBX-APIKEY` must carry [`crate::SimConfig::api_key`] (absent or malformed: HTTP 401
//! `-2014`; another key: 401 `-2015`). `signature` is HMAC-SHA256, hex, with
//! [`crate::SimConfig::api_secret`] over the query string without its `signature`
//! parameter followed by the form body (`-1022` otherwise). `timestamp` must be less than
//! 1 s ahead of server time and no older than `recvWindow` (default 5000, at most 60000):
//! `-1021` otherwise, checked when the request is processed (after any latency), as
//! Binance's matching-engine check does.
//!
//! # Matching
//!
//! The market price of a symbol is the close of its current (partial) 1m candle, the
//! same as `ticker/price`, unless a test set one with [`crate::SimHandle::set_order_price`].
//! The book is one tick each side of it (`bookTicker`) with unlimited quantity:
//!
//! * MARKET buys fill at the ask, sells at the bid, at once and whole;
//! * a LIMIT order that crosses fills at once at the ask/bid (taker); one that does not
//!   rests (`NEW`) unless IOC/FOK (then `EXPIRED`); LIMIT_MAKER that would cross is
//!   refused `-2010`;
//! * stop orders must be placed on the right side of the market (`-2010` "Order would
//!   trigger immediately." otherwise) and rest untriggered;
//! * resting orders are evaluated before every trading request and on
//!   [`crate::SimHandle::match_orders`]: against the high/low of the 1m candles that
//!   opened after the order was placed (or last evaluated), or against the price set
//!   with `set_order_price`. A crossed limit fills whole at its limit price (maker); a
//!   triggered STOP_LOSS/TAKE_PROFIT fills at its stop price; a triggered *_LIMIT becomes
//!   a working limit order.
//!
//! Commission is 0.1 % of the asset received. Balances start at
//! [`crate::SimConfig::balances`]; resting orders lock what they may spend.
//!
//! # Checks and errors (Binance's codes and messages)
//!
//! Mandatory and refused parameters per order type (`-1102`, `-1106`), enums (`-1115`,
//! `-1116`, `-1117`), decimals (`-1100`, `-1111` beyond 8 decimals), the symbol's
//! `orderTypes` (`-2010`), `PRICE_FILTER`, `LOT_SIZE`, `MARKET_LOT_SIZE` and `NOTIONAL`
//! (`-1013` "Filter failure: NAME"), client order ids (`-1100`, `-2010` "Duplicate order
//! sent." for an open one), balances (`-2010` "Account has insufficient balance for
//! requested action."), unknown orders (`-2013` query, `-2011` cancel), order counts (`-1015`
//! with HTTP 429 past [`crate::SimConfig::orders_per_10s`] or 160 000 a day; every
//! `POST /api/v3/order` answer carries `X-MBX-ORDER-COUNT-10S` and `-1D`).
//!
//! # User-data events
//!
//! Shaped as Binance documents them:
//! <https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream>.
//!
//! Every state change emits its events to the WebSocket API (`ws_api` module) while the
//! book is still locked, so they leave in order: an accepted order `executionReport`
//! x=NEW (also when it fills at once, then x=TRADE, as on Binance); each fill x=TRADE with
//! `l`/`L`/`n`/`N`/`t`/`Y` and cumulative `z`/`Z`; a cancel x=CANCELED with `c` the cancel's
//! client order id and `C` the original one; an IOC/FOK limit without a fill x=NEW then
//! x=EXPIRED; a deposit `balanceUpdate`. After them one `outboundAccountPosition` lists the
//! assets whose free or locked amount changed. `I` is a global execution id counter, `W`
//! is present once the order is working (not for untriggered stops), `N` is null and `t`
//! -1 without a trade. Triggering a stop emits nothing by itself; orders fill whole, so
//! PARTIALLY_FILLED never occurs.
//!
//! # Faults
//!
//! [`OrderFault`] applies to `POST /api/v3/order`: execute then answer 503, answer 503
//! without executing, or execute and hold the answer past the client's timeout.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Mutex, RwLock,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    Extension,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{
    data::MINUTE_MS,
    decimal::{SCALE, div_round, format_units, parse_units},
    error::{ApiError, json_response},
    lock,
    market::{Instrument, Interval},
    params::Params,
    read,
    rest::RequestContext,
    state::Shared,
    write,
};

/// The API key the simulator accepts unless configured otherwise.
pub const TEST_API_KEY: &str = "simKey0tradebeat0TESTONLY0aZ9bY8cX7dW6eV5fU4gT3hS2iR1jQ0kP9lO8mN7";
/// The API secret the simulator accepts unless configured otherwise.
pub const TEST_API_SECRET: &str =
    "simSecret0tradebeat0TESTONLY0Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8N";

/// New orders allowed per day (Binance's documented example: "Query Unfilled Order Count
/// (USER_DATA)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>).
const ORDERS_PER_DAY: u32 = 160_000;
/// Largest `recvWindow`, ms.
const MAX_RECV_WINDOW_MS: i64 = 60_000;
/// Commission: 10 basis points of the asset received.
const COMMISSION_BPS: i128 = 10;
/// Order ids start here (like a busy exchange, not at 1).
const FIRST_ORDER_ID: i64 = 1_000_001;
/// Longest span of minutes a resting-order evaluation looks back over.
const MAX_EVAL_MINUTES: i64 = 1_440;
/// Execution ids (`I` of execution reports) start here.
const FIRST_EXECUTION_ID: i64 = 8_000_001;
/// Largest `myTrades` window between `startTime` and `endTime`, ms ("Account trade list
/// (USER_DATA)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>).
const MY_TRADES_MAX_WINDOW_MS: i64 = 86_400_000;

/// A fault injected into `POST /api/v3/order` (see [`crate::SimHandle::set_order_fault`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderFault {
    /// Execute the order, then answer HTTP 503 `-1006` ("Execution status unknown"): the
    /// client cannot know the order exists.
    ExecuteThen503,
    /// Answer HTTP 503 `-1006` without executing anything.
    Reject503,
    /// Execute the order, then hold the answer this long (past the client's timeout).
    DelayAnswer(Duration),
}

/// An order as the simulated exchange holds it; decimals as Binance formats them
/// (`"0.00100000"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOrder {
    /// e.g. `BTCUSDT`.
    pub symbol: String,
    /// The exchange's order id.
    pub order_id: i64,
    /// The client order id.
    pub client_order_id: String,
    /// `BUY` or `SELL`.
    pub side: String,
    /// `LIMIT`, `MARKET` …
    pub order_type: String,
    /// `GTC`, `IOC`, `FOK` (`GTC` for types without one, as Binance reports).
    pub time_in_force: String,
    /// Limit price (`0.00000000` without one).
    pub price: String,
    /// Quantity ordered (for quote-quantity MARKET orders: the quantity executed).
    pub orig_qty: String,
    /// Quote quantity ordered (quote-quantity MARKET orders), else zero.
    pub orig_quote_order_qty: String,
    /// Quantity executed.
    pub executed_qty: String,
    /// Quote asset transacted.
    pub cummulative_quote_qty: String,
    /// Trigger price (`0.00000000` without one).
    pub stop_price: String,
    /// `NEW`, `FILLED`, `CANCELED`, `EXPIRED` …
    pub status: String,
    /// Creation time, ms.
    pub time: i64,
    /// Last change, ms.
    pub update_time: i64,
}

/// One trade (fill) of the account, as the exchange recorded it (`GET /api/v3/myTrades`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimTrade {
    /// e.g. `BTCUSDT`.
    pub symbol: String,
    /// The trade id (`id` in myTrades, `t` in an execution report); unique per symbol.
    pub id: i64,
    /// The order it filled.
    pub order_id: i64,
    /// Price, 8 decimals.
    pub price: String,
    /// Quantity, 8 decimals.
    pub qty: String,
    /// When it happened, ms since the epoch (server time).
    pub time: i64,
}

/// One asset of the simulated account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimBalance {
    /// e.g. `USDT`.
    pub asset: String,
    /// Available, 8 decimals.
    pub free: String,
    /// Locked by resting orders, 8 decimals.
    pub locked: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Buy,
    Sell,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Limit,
    Market,
    StopLoss,
    StopLossLimit,
    TakeProfit,
    TakeProfitLimit,
    LimitMaker,
}

impl Kind {
    const ALL: [(Kind, &'static str); 7] = [
        (Kind::Limit, "LIMIT"),
        (Kind::Market, "MARKET"),
        (Kind::StopLoss, "STOP_LOSS"),
        (Kind::StopLossLimit, "STOP_LOSS_LIMIT"),
        (Kind::TakeProfit, "TAKE_PROFIT"),
        (Kind::TakeProfitLimit, "TAKE_PROFIT_LIMIT"),
        (Kind::LimitMaker, "LIMIT_MAKER"),
    ];

    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().find(|(_, n)| *n == s).map(|(k, _)| *k)
    }

    fn as_str(self) -> &'static str {
        Kind::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("LIMIT", |(_, n)| n)
    }

    fn has_price(self) -> bool {
        matches!(
            self,
            Kind::Limit | Kind::StopLossLimit | Kind::TakeProfitLimit | Kind::LimitMaker
        )
    }

    fn has_stop(self) -> bool {
        matches!(
            self,
            Kind::StopLoss | Kind::StopLossLimit | Kind::TakeProfit | Kind::TakeProfitLimit
        )
    }

    fn has_tif(self) -> bool {
        matches!(
            self,
            Kind::Limit | Kind::StopLossLimit | Kind::TakeProfitLimit
        )
    }

    /// FULL for MARKET and LIMIT, ACK for the others (the default `newOrderRespType`: "New
    /// order (TRADE)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>).
    fn default_resp(self) -> RespType {
        match self {
            Kind::Market | Kind::Limit => RespType::Full,
            _ => RespType::Ack,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RespType {
    Ack,
    Result,
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    New,
    Filled,
    Canceled,
    Expired,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::Filled => "FILLED",
            Status::Canceled => "CANCELED",
            Status::Expired => "EXPIRED",
        }
    }
}

#[derive(Clone, Debug)]
struct FillRec {
    price: i128,
    qty: i128,
    commission: i128,
    commission_asset: String,
    trade_id: i64,
}

#[derive(Clone, Debug)]
struct Trade {
    id: i64,
    order_id: i64,
    symbol: String,
    price: i128,
    qty: i128,
    quote_qty: i128,
    commission: i128,
    commission_asset: String,
    time: i64,
    is_buyer: bool,
    is_maker: bool,
}

/// One order and what it holds.
#[derive(Clone, Debug)]
struct Ord {
    symbol: String,
    base: String,
    quote: String,
    order_id: i64,
    client_order_id: String,
    side: Side,
    kind: Kind,
    tif: Option<&'static str>,
    price: i128,
    orig_qty: i128,
    quote_qty: i128,
    executed: i128,
    cumulative_quote: i128,
    stop: i128,
    status: Status,
    time: i64,
    update_time: i64,
    /// A stop order whose trigger was reached (now a working limit order).
    triggered: bool,
    /// Resting evaluation looks at candles opening after this time.
    checked_from: i64,
    /// Still locked for this order: (asset, amount).
    locked: Option<(String, i128)>,
    fills: Vec<FillRec>,
}

impl Ord {
    fn is_open(&self) -> bool {
        self.status == Status::New
    }

    fn is_working(&self) -> bool {
        !self.kind.has_stop() || self.triggered
    }

    fn public(&self) -> SimOrder {
        SimOrder {
            symbol: self.symbol.clone(),
            order_id: self.order_id,
            client_order_id: self.client_order_id.clone(),
            side: self.side.as_str().to_owned(),
            order_type: self.kind.as_str().to_owned(),
            time_in_force: self.tif.unwrap_or("GTC").to_owned(),
            price: format_units(self.price),
            orig_qty: format_units(self.orig_qty),
            orig_quote_order_qty: format_units(self.quote_qty),
            executed_qty: format_units(self.executed),
            cummulative_quote_qty: format_units(self.cumulative_quote),
            stop_price: format_units(self.stop),
            status: self.status.as_str().to_owned(),
            time: self.time,
            update_time: self.update_time,
        }
    }

    /// `GET /api/v3/order` shape.
    fn query_json(&self) -> Value {
        json!({
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": format_units(self.price),
            "origQty": format_units(self.orig_qty),
            "executedQty": format_units(self.executed),
            "cummulativeQuoteQty": format_units(self.cumulative_quote),
            "status": self.status.as_str(),
            "timeInForce": self.tif.unwrap_or("GTC"),
            "type": self.kind.as_str(),
            "side": self.side.as_str(),
            "stopPrice": format_units(self.stop),
            "icebergQty": format_units(0),
            "time": self.time,
            "updateTime": self.update_time,
            "isWorking": self.is_working(),
            "workingTime": if self.is_working() { self.time } else { -1 },
            "origQuoteOrderQty": format_units(self.quote_qty),
            "selfTradePreventionMode": "NONE",
        })
    }

    /// `POST /api/v3/order` shape for `resp`.
    fn new_order_json(&self, resp: RespType) -> Value {
        let mut v = json!({
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "transactTime": self.time,
        });
        if resp == RespType::Ack {
            return v;
        }
        let extra = json!({
            "price": format_units(self.price),
            "origQty": format_units(self.orig_qty),
            "executedQty": format_units(self.executed),
            "origQuoteOrderQty": format_units(self.quote_qty),
            "cummulativeQuoteQty": format_units(self.cumulative_quote),
            "status": self.status.as_str(),
            "timeInForce": self.tif.unwrap_or("GTC"),
            "type": self.kind.as_str(),
            "side": self.side.as_str(),
            "workingTime": if self.is_working() { self.time } else { -1 },
            "selfTradePreventionMode": "NONE",
        });
        merge(&mut v, extra);
        if self.kind.has_stop() {
            merge(&mut v, json!({ "stopPrice": format_units(self.stop) }));
        }
        if resp == RespType::Full {
            let fills: Vec<Value> = self
                .fills
                .iter()
                .map(|f| {
                    json!({
                        "price": format_units(f.price),
                        "qty": format_units(f.qty),
                        "commission": format_units(f.commission),
                        "commissionAsset": f.commission_asset,
                        "tradeId": f.trade_id,
                    })
                })
                .collect();
            merge(&mut v, json!({ "fills": fills }));
        }
        v
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

/// The account and its orders.
#[derive(Debug, Default)]
struct Book {
    next_order_id: i64,
    next_trade_id: i64,
    orders: Vec<Ord>,
    /// Index into `orders` by client order id, for open orders and the latest of each id.
    balances: BTreeMap<String, (i128, i128)>,
    trades: Vec<Trade>,
    /// (window start, count) of the 10 s and 1 day order windows.
    count_10s: (i64, u32),
    count_1d: (i64, u32),
    /// Execution id (`I`) of the next execution report.
    next_execution_id: i64,
    /// User-data events (JSON objects) of the operation in progress, pushed by [`publish`].
    outbox: Vec<String>,
    /// Balances as the last `outboundAccountPosition` reported them.
    reported: BTreeMap<String, (i128, i128)>,
}

/// The trading side of the simulator: account, orders, credentials and order faults.
#[derive(Debug)]
pub(crate) struct Trading {
    book: Mutex<Book>,
    api_key: String,
    api_secret: String,
    fault: Mutex<Option<OrderFault>>,
    /// `orderTypes` overrides by symbol.
    order_types: RwLock<HashMap<String, Vec<String>>>,
    /// Matching-price overrides by symbol, `1e-8` units.
    prices: RwLock<HashMap<String, i128>>,
    orders_per_10s: AtomicU32,
}

impl Trading {
    /// Whether `signature` is the HMAC-SHA256 (hex, either case) of `payload` with the
    /// account's API secret: the check of signed REST requests and of WebSocket API
    /// subscriptions.
    pub(crate) fn signature_matches(&self, payload: &str, signature: &str) -> bool {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(self.api_secret.as_bytes())
        else {
            return false;
        };
        mac.update(payload.as_bytes());
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        expected.eq_ignore_ascii_case(signature)
    }

    pub(crate) fn new(
        api_key: &str,
        api_secret: &str,
        balances: &[(String, String)],
        orders_per_10s: u32,
    ) -> Trading {
        let balances: BTreeMap<String, (i128, i128)> = balances
            .iter()
            .filter_map(|(asset, amount)| {
                let units = parse_units(amount);
                if units.is_none() {
                    tracing::warn!(asset, amount, "starting balance is not a decimal, ignored");
                }
                Some((asset.clone(), (i128::from(units?), 0)))
            })
            .collect();
        Trading {
            book: Mutex::new(Book {
                next_order_id: FIRST_ORDER_ID,
                next_trade_id: 1,
                next_execution_id: FIRST_EXECUTION_ID,
                reported: balances.clone(),
                balances,
                ..Book::default()
            }),
            api_key: api_key.to_owned(),
            api_secret: api_secret.to_owned(),
            fault: Mutex::new(None),
            order_types: RwLock::default(),
            prices: RwLock::default(),
            orders_per_10s: AtomicU32::new(orders_per_10s),
        }
    }

    /// The API key signed requests must carry.
    pub(crate) fn api_key(&self) -> &str {
        &self.api_key
    }

    pub(crate) fn set_fault(&self, fault: Option<OrderFault>) {
        *lock(&self.fault) = fault;
    }

    pub(crate) fn set_order_types(&self, symbol: &str, types: &[&str]) {
        write(&self.order_types).insert(
            symbol.to_owned(),
            types.iter().map(|t| (*t).to_owned()).collect(),
        );
    }

    pub(crate) fn set_price(&self, symbol: &str, price: Option<&str>) {
        let mut prices = write(&self.prices);
        match price.and_then(parse_units) {
            Some(units) => {
                prices.insert(symbol.to_owned(), i128::from(units));
            }
            None => {
                prices.remove(symbol);
            }
        }
    }

    pub(crate) fn set_orders_per_10s(&self, limit: u32) {
        self.orders_per_10s.store(limit, Ordering::Relaxed);
    }

    pub(crate) fn orders_per_10s(&self) -> u32 {
        self.orders_per_10s.load(Ordering::Relaxed)
    }

    pub(crate) fn orders(&self) -> Vec<SimOrder> {
        lock(&self.book).orders.iter().map(Ord::public).collect()
    }

    pub(crate) fn trades(&self) -> Vec<SimTrade> {
        lock(&self.book)
            .trades
            .iter()
            .map(|t| SimTrade {
                symbol: t.symbol.clone(),
                id: t.id,
                order_id: t.order_id,
                price: format_units(t.price),
                qty: format_units(t.qty),
                time: t.time,
            })
            .collect()
    }

    pub(crate) fn balances(&self) -> Vec<SimBalance> {
        lock(&self.book)
            .balances
            .iter()
            .map(|(asset, (free, locked))| SimBalance {
                asset: asset.clone(),
                free: format_units(*free),
                locked: format_units(*locked),
            })
            .collect()
    }

    /// The symbol's `orderTypes`: the override, or the recorded list.
    fn order_types_of(&self, inst: &Instrument) -> Vec<String> {
        if let Some(types) = read(&self.order_types).get(&inst.name) {
            return types.clone();
        }
        inst.info["orderTypes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect()
    }

    /// Applies the `orderTypes` overrides and the ORDERS-per-10 s limit to an
    /// exchange-information document.
    pub(crate) fn patch_exchange_info(&self, rate_limits: &mut [Value], symbols: &mut [Value]) {
        for limit in rate_limits.iter_mut() {
            if limit["rateLimitType"] == "ORDERS"
                && limit["interval"] == "SECOND"
                && limit["intervalNum"] == 10
            {
                limit["limit"] = Value::from(self.orders_per_10s());
            }
        }
        let overrides = read(&self.order_types);
        if overrides.is_empty() {
            return;
        }
        for entry in symbols.iter_mut() {
            let name = entry["symbol"].as_str().unwrap_or_default().to_owned();
            if let Some(types) = overrides.get(&name) {
                entry["orderTypes"] = Value::from(types.clone());
            }
        }
    }
}

/// The request's parameters: the query, plus a form body if one was sent.
fn request_params(ctx: &RequestContext, body: &Bytes) -> Result<(Params, String), ApiError> {
    let query = ctx.params.raw();
    let body = std::str::from_utf8(body).map_err(|_| ApiError::illegal_chars())?;
    if body.is_empty() {
        return Ok((Params::parse(query)?, query.to_owned()));
    }
    let all = if query.is_empty() {
        body.to_owned()
    } else {
        format!("{query}&{body}")
    };
    Ok((Params::parse(&all)?, format!("{query}\u{0}{body}")))
}

/// Removes the `signature=` pair from a query string or body, as sent.
fn without_signature(part: &str) -> String {
    part.split('&')
        .filter(|p| !p.starts_with("signature="))
        .collect::<Vec<_>>()
        .join("&")
}

fn api_key_error(code: i32, msg: &'static str) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        code,
        msg: msg.into(),
    }
}

/// Checks key, signature and timestamp (module docs). Returns the parameters.
fn authenticate(
    sim: &Shared,
    ctx: &RequestContext,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Params, ApiError> {
    let trading = &sim.trading;
    let key = headers
        .get("x-mbx-apikey")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric()))
        .ok_or_else(|| api_key_error(-2014, "API-key format invalid."))?;
    if key != trading.api_key {
        return Err(api_key_error(
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        ));
    }
    let (params, raw) = request_params(ctx, body)?;
    let signature = params.mandatory("signature")?;
    let payload = match raw.split_once('\u{0}') {
        Some((query, body)) => format!("{}{}", without_signature(query), without_signature(body)),
        None => without_signature(&raw),
    };
    if !trading.signature_matches(&payload, signature) {
        return Err(ApiError::bad_request(
            -1022,
            "Signature for this request is not valid.",
        ));
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
                return Err(ApiError::bad_request(
                    -1131,
                    "recvWindow must be less than 60000",
                ));
            }
            ms
        }
    };
    let now = ctx.now;
    if timestamp >= now + 1_000 {
        return Err(ApiError::bad_request(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if now - timestamp > recv_window {
        return Err(ApiError::bad_request(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(params)
}

fn err(code: i32, msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, msg.into())
}

/// A decimal parameter in `1e-8` units: `-1100` when malformed, `-1111` beyond 8
/// decimals.
fn decimal_param(params: &Params, name: &str) -> Result<Option<i128>, ApiError> {
    let Some(text) = params.optional(name)? else {
        return Ok(None);
    };
    if let Some(units) = parse_units(text) {
        return Ok(Some(i128::from(units)));
    }
    let plain = text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1
        && !text.starts_with('.')
        && !text.ends_with('.');
    if plain {
        return Err(err(
            -1111,
            format!("Parameter '{name}' has too much precision."),
        ));
    }
    Err(ApiError::illegal(name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$"))
}

/// A filter's decimal field in `1e-8` units (0 when absent or empty).
fn filter_units(info: &Value, filter: &str, field: &str) -> Option<i128> {
    let f = info["filters"]
        .as_array()?
        .iter()
        .find(|f| f["filterType"] == filter)?;
    Some(
        f[field]
            .as_str()
            .and_then(parse_units)
            .map_or(0, i128::from),
    )
}

fn filter_flag(info: &Value, filter: &str, field: &str) -> bool {
    info["filters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["filterType"] == filter)
        .and_then(|f| f[field].as_bool())
        .unwrap_or(false)
}

/// `min <= v <= max` and `v % step == 0` (zero turns a check off).
fn passes(v: i128, min: i128, max: i128, step: i128) -> bool {
    (min == 0 || v >= min) && (max == 0 || v <= max) && (step == 0 || v % step == 0)
}

fn filter_failure(name: &str) -> ApiError {
    err(-1013, format!("Filter failure: {name}"))
}

/// `qty × price` in `1e-8` units.
fn notional(qty: i128, price: i128) -> i128 {
    div_round(qty * price, i128::from(SCALE))
}

fn commission_of(amount: i128) -> i128 {
    amount * COMMISSION_BPS / 10_000
}

/// The market price of `symbol` now (module docs), `1e-8` units.
fn market_price(sim: &Shared, inst: &Instrument, now: i64) -> Option<i128> {
    if let Some(p) = read(&sim.trading.prices).get(&inst.name) {
        return Some(*p);
    }
    let blocked = inst.blocked(None);
    let candle = inst.candle(
        Interval::MINUTE,
        Interval::MINUTE.align_down(now),
        Some(now),
        &blocked,
    )?;
    (candle.close.units > 0).then_some(candle.close.units)
}

/// Lowest and highest price since `from` (candles opening after its minute, up to now),
/// or the override price.
fn price_range(sim: &Shared, inst: &Instrument, from: i64, now: i64) -> Option<(i128, i128)> {
    if let Some(p) = read(&sim.trading.prices).get(&inst.name) {
        return Some((*p, *p));
    }
    let blocked = inst.blocked(sim.gaps_of(&inst.name).as_ref());
    let now_min = now.div_euclid(MINUTE_MS);
    let first = (from.div_euclid(MINUTE_MS) + 1).max(now_min - MAX_EVAL_MINUTES + 1);
    let mut range: Option<(i128, i128)> = None;
    for minute in first..=now_min {
        if let Some(c) = inst.candle(Interval::MINUTE, minute * MINUTE_MS, Some(now), &blocked) {
            let (lo, hi) = range.unwrap_or((c.low.units, c.high.units));
            range = Some((lo.min(c.low.units), hi.max(c.high.units)));
        }
    }
    range
}

/// An `executionReport` event, keys in Binance's order ("Order Update" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream>; shaped like
/// the recorded `execution_report_wrapped.json`).
#[derive(Serialize)]
struct ExecutionReport<'a> {
    #[serde(rename = "e")]
    event_type: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "c")]
    client_order_id: &'a str,
    #[serde(rename = "S")]
    side: &'static str,
    #[serde(rename = "o")]
    order_type: &'static str,
    #[serde(rename = "f")]
    time_in_force: &'static str,
    #[serde(rename = "q")]
    quantity: String,
    #[serde(rename = "p")]
    price: String,
    #[serde(rename = "P")]
    stop_price: String,
    #[serde(rename = "F")]
    iceberg_quantity: String,
    #[serde(rename = "g")]
    order_list_id: i64,
    #[serde(rename = "C")]
    orig_client_order_id: &'a str,
    #[serde(rename = "x")]
    execution_type: &'static str,
    #[serde(rename = "X")]
    status: &'static str,
    #[serde(rename = "r")]
    reject_reason: &'static str,
    #[serde(rename = "i")]
    order_id: i64,
    #[serde(rename = "l")]
    last_quantity: String,
    #[serde(rename = "z")]
    cumulative_quantity: String,
    #[serde(rename = "L")]
    last_price: String,
    #[serde(rename = "n")]
    commission: String,
    #[serde(rename = "N")]
    commission_asset: Option<&'a str>,
    #[serde(rename = "T")]
    transaction_time: i64,
    #[serde(rename = "t")]
    trade_id: i64,
    #[serde(rename = "I")]
    execution_id: i64,
    #[serde(rename = "w")]
    on_book: bool,
    #[serde(rename = "m")]
    maker: bool,
    #[serde(rename = "M")]
    ignore: bool,
    #[serde(rename = "O")]
    created: i64,
    #[serde(rename = "Z")]
    cumulative_quote: String,
    #[serde(rename = "Y")]
    last_quote: String,
    #[serde(rename = "Q")]
    quote_order_quantity: String,
    #[serde(rename = "W", skip_serializing_if = "Option::is_none")]
    working_time: Option<i64>,
    #[serde(rename = "V")]
    self_trade_prevention: &'static str,
}

/// What an execution report reports besides the order's state.
enum Execution<'a> {
    /// Accepted; `on_book` when it rests on the book.
    New { on_book: bool },
    /// One fill.
    Trade(&'a FillRec, bool),
    /// Cancelled by the cancel request with client order id `cancel_id`.
    Canceled { cancel_id: &'a str },
    /// IOC/FOK without a fill.
    Expired,
}

/// A `balanceUpdate` event ("Balance Update" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream>).
#[derive(Serialize)]
struct BalanceUpdate<'a> {
    #[serde(rename = "e")]
    event_type: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "a")]
    asset: &'a str,
    #[serde(rename = "d")]
    delta: String,
    #[serde(rename = "T")]
    clear_time: i64,
}

/// An `outboundAccountPosition` event ("Account Update" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream>).
#[derive(Serialize)]
struct AccountPosition {
    #[serde(rename = "e")]
    event_type: &'static str,
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "u")]
    last_update: i64,
    #[serde(rename = "B")]
    balances: Vec<PositionBalance>,
}

#[derive(Serialize)]
struct PositionBalance {
    #[serde(rename = "a")]
    asset: String,
    #[serde(rename = "f")]
    free: String,
    #[serde(rename = "l")]
    locked: String,
}

impl Book {
    /// Queues the execution report of `ord` (in its current state) for [`publish`].
    fn report(&mut self, ord: &Ord, execution: &Execution<'_>, now: i64) {
        let execution_id = self.next_execution_id;
        self.next_execution_id += 1;
        let zero = || format_units(0);
        let (execution_type, on_book, client_order_id, orig_client_order_id) = match execution {
            Execution::New { on_book } => ("NEW", *on_book, ord.client_order_id.as_str(), ""),
            Execution::Trade(..) => ("TRADE", false, ord.client_order_id.as_str(), ""),
            Execution::Canceled { cancel_id } => {
                ("CANCELED", false, *cancel_id, ord.client_order_id.as_str())
            }
            Execution::Expired => ("EXPIRED", false, ord.client_order_id.as_str(), ""),
        };
        let fill = match execution {
            Execution::Trade(fill, maker) => Some((*fill, *maker)),
            _ => None,
        };
        let report = ExecutionReport {
            event_type: "executionReport",
            event_time: now,
            symbol: &ord.symbol,
            client_order_id,
            side: ord.side.as_str(),
            order_type: ord.kind.as_str(),
            time_in_force: ord.tif.unwrap_or("GTC"),
            quantity: format_units(ord.orig_qty),
            price: format_units(ord.price),
            stop_price: format_units(ord.stop),
            iceberg_quantity: zero(),
            order_list_id: -1,
            orig_client_order_id,
            execution_type,
            status: ord.status.as_str(),
            reject_reason: "NONE",
            order_id: ord.order_id,
            last_quantity: fill.map_or_else(zero, |(f, _)| format_units(f.qty)),
            cumulative_quantity: format_units(ord.executed),
            last_price: fill.map_or_else(zero, |(f, _)| format_units(f.price)),
            commission: fill.map_or_else(|| "0".to_owned(), |(f, _)| format_units(f.commission)),
            commission_asset: fill.map(|(f, _)| f.commission_asset.as_str()),
            transaction_time: now,
            trade_id: fill.map_or(-1, |(f, _)| f.trade_id),
            execution_id,
            on_book,
            maker: fill.is_some_and(|(_, maker)| maker),
            ignore: false,
            created: ord.time,
            cumulative_quote: format_units(ord.cumulative_quote),
            last_quote: fill.map_or_else(zero, |(f, _)| format_units(notional(f.qty, f.price))),
            quote_order_quantity: format_units(ord.quote_qty),
            working_time: ord.is_working().then_some(ord.time),
            self_trade_prevention: "NONE",
        };
        match serde_json::to_string(&report) {
            Ok(json) => self.outbox.push(json),
            Err(error) => tracing::error!(%error, "execution report not serializable"),
        }
    }

    /// Queues a `balanceUpdate` of `delta` units of `asset`.
    fn report_balance_update(&mut self, asset: &str, delta: i128, now: i64) {
        let update = BalanceUpdate {
            event_type: "balanceUpdate",
            event_time: now,
            asset,
            delta: format_units(delta),
            clear_time: now,
        };
        match serde_json::to_string(&update) {
            Ok(json) => self.outbox.push(json),
            Err(error) => tracing::error!(%error, "balance update not serializable"),
        }
    }

    /// Queues an `outboundAccountPosition` with every asset changed since the last one.
    fn report_positions(&mut self, now: i64) {
        let changed: Vec<PositionBalance> = self
            .balances
            .iter()
            .filter(|(asset, now_value)| {
                self.reported.get(*asset).copied().unwrap_or((0, 0)) != **now_value
            })
            .map(|(asset, (free, locked))| PositionBalance {
                asset: asset.clone(),
                free: format_units(*free),
                locked: format_units(*locked),
            })
            .collect();
        if changed.is_empty() {
            return;
        }
        self.reported.clone_from(&self.balances);
        let position = AccountPosition {
            event_type: "outboundAccountPosition",
            event_time: now,
            last_update: now,
            balances: changed,
        };
        match serde_json::to_string(&position) {
            Ok(json) => self.outbox.push(json),
            Err(error) => tracing::error!(%error, "account position not serializable"),
        }
    }

    fn balance(&mut self, asset: &str) -> &mut (i128, i128) {
        self.balances.entry(asset.to_owned()).or_insert((0, 0))
    }

    /// Fills `ord` whole at `price`; releases its lock; moves balances; records the trade.
    fn fill(&mut self, ord: &mut Ord, price: i128, is_maker: bool, now: i64) {
        let qty = ord.orig_qty - ord.executed;
        if qty <= 0 {
            return;
        }
        let quote_amount = notional(qty, price);
        if let Some((asset, amount)) = ord.locked.take() {
            let b = self.balance(&asset);
            b.1 -= amount;
            b.0 += amount;
        }
        let (commission, commission_asset) = match ord.side {
            Side::Buy => {
                let c = commission_of(qty);
                self.balance(&ord.quote).0 -= quote_amount;
                self.balance(&ord.base).0 += qty - c;
                (c, ord.base.clone())
            }
            Side::Sell => {
                let c = commission_of(quote_amount);
                self.balance(&ord.base).0 -= qty;
                self.balance(&ord.quote).0 += quote_amount - c;
                (c, ord.quote.clone())
            }
        };
        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;
        ord.executed += qty;
        ord.cumulative_quote += quote_amount;
        ord.status = Status::Filled;
        ord.update_time = now;
        let fill = FillRec {
            price,
            qty,
            commission,
            commission_asset: commission_asset.clone(),
            trade_id,
        };
        self.report(ord, &Execution::Trade(&fill, is_maker), now);
        ord.fills.push(fill);
        self.trades.push(Trade {
            id: trade_id,
            order_id: ord.order_id,
            symbol: ord.symbol.clone(),
            price,
            qty,
            quote_qty: quote_amount,
            commission,
            commission_asset,
            time: now,
            is_buyer: ord.side == Side::Buy,
            is_maker,
        });
    }

    /// Counts a new order in the 10 s and 1 day windows; `Err` with the limit passed.
    fn count_order(&mut self, now: i64, per_10s: u32) -> Result<(u32, u32), ApiError> {
        let start_10s = now.div_euclid(10_000) * 10_000;
        let start_1d = now.div_euclid(86_400_000) * 86_400_000;
        if self.count_10s.0 != start_10s {
            self.count_10s = (start_10s, 0);
        }
        if self.count_1d.0 != start_1d {
            self.count_1d = (start_1d, 0);
        }
        let too_many = |limit: u32, interval: &str| ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: -1015,
            msg: format!("Too many new orders; current limit is {limit} orders per {interval}.")
                .into(),
        };
        if self.count_10s.1 >= per_10s {
            return Err(too_many(per_10s, "10 SECOND"));
        }
        if self.count_1d.1 >= ORDERS_PER_DAY {
            return Err(too_many(ORDERS_PER_DAY, "DAY"));
        }
        self.count_10s.1 += 1;
        self.count_1d.1 += 1;
        Ok((self.count_10s.1, self.count_1d.1))
    }

    fn counts(&self, now: i64) -> (u32, u32) {
        let c10 = if self.count_10s.0 == now.div_euclid(10_000) * 10_000 {
            self.count_10s.1
        } else {
            0
        };
        let c1d = if self.count_1d.0 == now.div_euclid(86_400_000) * 86_400_000 {
            self.count_1d.1
        } else {
            0
        };
        (c10, c1d)
    }
}

/// Pushes the queued user-data events, then an `outboundAccountPosition` if balances
/// changed, to the WebSocket API. Called with the book still locked, so events leave in
/// the order the state changed.
fn publish(sim: &Shared, book: &mut Book, now: i64) {
    book.report_positions(now);
    for event in book.outbox.drain(..) {
        sim.ws.publish(&event);
    }
}

/// Evaluates every resting order against the prices since it was last looked at.
pub(crate) fn match_resting(sim: &Shared, now: i64) {
    let mut book = lock(&sim.trading.book);
    match_resting_locked(sim, &mut book, now);
    publish(sim, &mut book, now);
}

fn match_resting_locked(sim: &Shared, book: &mut Book, now: i64) {
    let open: Vec<usize> = (0..book.orders.len())
        .filter(|&i| book.orders[i].is_open())
        .collect();
    for i in open {
        let mut ord = book.orders[i].clone();
        let Some(inst) = sim.market.get(&ord.symbol) else {
            continue;
        };
        let Some((lo, hi)) = price_range(sim, inst, ord.checked_from, now) else {
            continue;
        };
        ord.checked_from = now;
        let mut fill: Option<(i128, bool)> = None;
        if ord.kind.has_stop() && !ord.triggered {
            let above = matches!(
                (ord.kind, ord.side),
                (Kind::StopLoss | Kind::StopLossLimit, Side::Buy)
                    | (Kind::TakeProfit | Kind::TakeProfitLimit, Side::Sell)
            );
            let reached = if above {
                hi >= ord.stop
            } else {
                lo <= ord.stop
            };
            if reached {
                ord.triggered = true;
                ord.update_time = now;
                if matches!(ord.kind, Kind::StopLoss | Kind::TakeProfit) {
                    fill = Some((ord.stop, false));
                }
            }
        }
        if fill.is_none() && ord.is_working() && ord.kind.has_price() {
            let crossed = match ord.side {
                Side::Buy => lo <= ord.price,
                Side::Sell => hi >= ord.price,
            };
            if crossed {
                fill = Some((ord.price, true));
            }
        }
        if let Some((price, maker)) = fill {
            book.fill(&mut ord, price, maker, now);
            tracing::debug!(symbol = %ord.symbol, order_id = ord.order_id, price = %format_units(price), "resting order filled");
        }
        book.orders[i] = ord;
    }
}

/// What a validated new order asks for.
struct NewOrder {
    inst_index: usize,
    side: Side,
    kind: Kind,
    tif: Option<&'static str>,
    qty: Option<i128>,
    quote_qty: Option<i128>,
    price: Option<i128>,
    stop: Option<i128>,
    client_order_id: Option<String>,
    resp: RespType,
}

fn parse_new_order(sim: &Shared, params: &Params) -> Result<NewOrder, ApiError> {
    let symbol = params.mandatory("symbol")?;
    let symbol = params.check_symbol("symbol", symbol)?;
    let inst_index = sim
        .market
        .position(symbol)
        .ok_or_else(ApiError::invalid_symbol)?;
    let side = match params.mandatory("side")? {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return Err(err(-1117, "Invalid side.")),
    };
    let kind =
        Kind::parse(params.mandatory("type")?).ok_or_else(|| err(-1116, "Invalid orderType."))?;
    let tif = match params.optional("timeInForce")? {
        None => None,
        Some(t) => Some(match t {
            "GTC" => "GTC",
            "IOC" => "IOC",
            "FOK" => "FOK",
            _ => return Err(err(-1115, "Invalid timeInForce.")),
        }),
    };
    let qty = decimal_param(params, "quantity")?;
    let quote_qty = decimal_param(params, "quoteOrderQty")?;
    let price = decimal_param(params, "price")?;
    let stop = decimal_param(params, "stopPrice")?;
    let not_required =
        |name: &str| err(-1106, format!("Parameter '{name}' sent when not required."));
    match (kind.has_tif(), tif.is_some()) {
        (true, false) => return Err(ApiError::mandatory("timeInForce")),
        (false, true) => {
            return Err(err(-1114, "TimeInForce parameter sent when not required."));
        }
        _ => {}
    }
    match (kind.has_price(), price.is_some()) {
        (true, false) => return Err(ApiError::mandatory("price")),
        (false, true) => return Err(not_required("price")),
        _ => {}
    }
    match (kind.has_stop(), stop.is_some()) {
        (true, false) => return Err(ApiError::mandatory("stopPrice")),
        (false, true) => return Err(not_required("stopPrice")),
        _ => {}
    }
    if kind == Kind::Market {
        match (qty.is_some(), quote_qty.is_some()) {
            (false, false) => {
                return Err(err(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                ));
            }
            (true, true) => return Err(not_required("quoteOrderQty")),
            _ => {}
        }
    } else {
        if quote_qty.is_some() {
            return Err(not_required("quoteOrderQty"));
        }
        if qty.is_none() {
            return Err(ApiError::mandatory("quantity"));
        }
    }
    for (name, v) in [
        ("quantity", qty),
        ("quoteOrderQty", quote_qty),
        ("price", price),
        ("stopPrice", stop),
    ] {
        if v == Some(0) {
            return Err(err(-1013, format!("Invalid {name}.")));
        }
    }
    let client_order_id = match params.optional("newClientOrderId")? {
        None => None,
        Some(id) => {
            let valid = (1..=36).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(ApiError::illegal(
                    "newClientOrderId",
                    "^[a-zA-Z0-9-_]{1,36}$",
                ));
            }
            Some(id.to_owned())
        }
    };
    let resp = match params.optional("newOrderRespType")? {
        None => kind.default_resp(),
        Some("ACK") => RespType::Ack,
        Some("RESULT") => RespType::Result,
        Some("FULL") => RespType::Full,
        Some(_) => return Err(err(-1177, "Invalid newOrderRespType.")),
    };
    Ok(NewOrder {
        inst_index,
        side,
        kind,
        tif,
        qty,
        quote_qty,
        price,
        stop,
        client_order_id,
        resp,
    })
}

/// Checks the symbol's filters and balances, then (unless `test_only`) places the order in
/// the book and returns it.
fn execute(sim: &Shared, o: NewOrder, now: i64, test_only: bool) -> Result<Option<Ord>, ApiError> {
    let inst = &sim.market.instruments()[o.inst_index];
    let info = &inst.info;
    let status = sim
        .statuses()
        .get(&inst.name)
        .cloned()
        .unwrap_or_else(|| info["status"].as_str().unwrap_or("TRADING").to_owned());
    if status != "TRADING" {
        return Err(err(-2010, "Market is closed."));
    }
    if !sim
        .trading
        .order_types_of(inst)
        .iter()
        .any(|t| t == o.kind.as_str())
    {
        return Err(err(-2010, "Unsupported order combination"));
    }
    if o.quote_qty.is_some()
        && !info["quoteOrderQtyMarketAllowed"]
            .as_bool()
            .unwrap_or(false)
    {
        return Err(err(
            -2010,
            "Quote order qty market orders are not support for this symbol.",
        ));
    }
    // PRICE_FILTER on price and stopPrice.
    if let (Some(min), Some(max), Some(tick)) = (
        filter_units(info, "PRICE_FILTER", "minPrice"),
        filter_units(info, "PRICE_FILTER", "maxPrice"),
        filter_units(info, "PRICE_FILTER", "tickSize"),
    ) {
        for v in [o.price, o.stop].into_iter().flatten() {
            if !passes(v, min, max, tick) {
                return Err(filter_failure("PRICE_FILTER"));
            }
        }
    }
    let last = market_price(sim, inst, now);
    let lot = |name: &str| -> Option<(i128, i128, i128)> {
        Some((
            filter_units(info, name, "minQty")?,
            filter_units(info, name, "maxQty")?,
            filter_units(info, name, "stepSize")?,
        ))
    };
    let step = lot("LOT_SIZE").map_or(1, |(_, _, s)| if s == 0 { 1 } else { s });
    let (ask, bid) = match last {
        Some(p) => (
            p + i128::from(inst.tick),
            (p - i128::from(inst.tick)).max(1),
        ),
        None => (0, 0),
    };
    // The quantity: given, or derived from the quote quantity at the touch.
    let qty = match (o.qty, o.quote_qty) {
        (Some(q), _) => q,
        (None, Some(quote)) => {
            let touch = match o.side {
                Side::Buy => ask,
                Side::Sell => bid,
            };
            if touch == 0 {
                return Err(err(-2010, "Market is closed."));
            }
            (quote * i128::from(SCALE) / touch) / step * step
        }
        (None, None) => 0,
    };
    if let Some((min, max, st)) = lot("LOT_SIZE")
        && !passes(qty, min, max, st)
    {
        return Err(filter_failure("LOT_SIZE"));
    }
    if o.kind == Kind::Market
        && let Some((min, max, st)) = lot("MARKET_LOT_SIZE")
        && !passes(qty, min, max, st)
    {
        return Err(filter_failure("MARKET_LOT_SIZE"));
    }
    // NOTIONAL (and the older MIN_NOTIONAL).
    let is_market = matches!(o.kind, Kind::Market | Kind::StopLoss | Kind::TakeProfit);
    let reference = match o.kind {
        Kind::Market => last,
        Kind::StopLoss | Kind::TakeProfit => o.stop,
        _ => o.price,
    };
    let value = match (o.quote_qty, reference) {
        (Some(quote), _) => Some(quote),
        (None, Some(p)) => Some(notional(qty, p)),
        (None, None) => None,
    };
    if let Some(value) = value {
        if let Some(min) = filter_units(info, "NOTIONAL", "minNotional") {
            let max = filter_units(info, "NOTIONAL", "maxNotional").unwrap_or(0);
            let apply_min = !is_market || filter_flag(info, "NOTIONAL", "applyMinToMarket");
            let apply_max = !is_market || filter_flag(info, "NOTIONAL", "applyMaxToMarket");
            if (apply_min && min != 0 && value < min) || (apply_max && max != 0 && value > max) {
                return Err(filter_failure("NOTIONAL"));
            }
        }
        if let Some(min) = filter_units(info, "MIN_NOTIONAL", "minNotional") {
            let applies = !is_market || filter_flag(info, "MIN_NOTIONAL", "applyToMarket");
            if applies && value < min {
                return Err(filter_failure("MIN_NOTIONAL"));
            }
        }
    }
    let base = info["baseAsset"].as_str().unwrap_or_default().to_owned();
    let quote = info["quoteAsset"].as_str().unwrap_or_default().to_owned();

    let mut book = lock(&sim.trading.book);
    if let Some(id) = &o.client_order_id
        && book
            .orders
            .iter()
            .any(|x| x.is_open() && &x.client_order_id == id)
    {
        return Err(err(-2010, "Duplicate order sent."));
    }
    // What happens now: an immediate fill price, a rest, or an expiry.
    let immediate: Option<i128> = match o.kind {
        Kind::Market => {
            if last.is_none() {
                return Err(err(-2010, "Market is closed."));
            }
            Some(match o.side {
                Side::Buy => ask,
                Side::Sell => bid,
            })
        }
        Kind::Limit | Kind::LimitMaker => {
            let price = o.price.unwrap_or(0);
            let crosses = last.is_some()
                && match o.side {
                    Side::Buy => price >= ask,
                    Side::Sell => price <= bid,
                };
            if crosses && o.kind == Kind::LimitMaker {
                return Err(err(-2010, "Order would immediately match and take."));
            }
            crosses.then_some(match o.side {
                Side::Buy => ask,
                Side::Sell => bid,
            })
        }
        _ => {
            let stop = o.stop.unwrap_or(0);
            if let Some(p) = last {
                let above = matches!(
                    (o.kind, o.side),
                    (Kind::StopLoss | Kind::StopLossLimit, Side::Buy)
                        | (Kind::TakeProfit | Kind::TakeProfitLimit, Side::Sell)
                );
                let wrong_side = if above { stop <= p } else { stop >= p };
                if wrong_side {
                    return Err(err(-2010, "Order would trigger immediately."));
                }
            }
            None
        }
    };
    let expires =
        immediate.is_none() && matches!(o.tif, Some("IOC" | "FOK")) && o.kind == Kind::Limit;
    // Balance check: what the order spends now, or locks while it rests.
    let (need_asset, need) = match o.side {
        Side::Buy => {
            let p = immediate.or(o.price).or(o.stop).unwrap_or(0);
            (quote.clone(), notional(qty, p))
        }
        Side::Sell => (base.clone(), qty),
    };
    if !expires && book.balance(&need_asset).0 < need {
        return Err(err(
            -2010,
            "Account has insufficient balance for requested action.",
        ));
    }
    if test_only {
        return Ok(None);
    }
    let order_id = book.next_order_id;
    book.next_order_id += 1;
    let client_order_id = o.client_order_id.unwrap_or_else(|| {
        let mut rng = fastrand::Rng::with_seed(order_id as u64);
        (0..22).map(|_| rng.alphanumeric()).collect()
    });
    let mut ord = Ord {
        symbol: inst.name.clone(),
        base,
        quote,
        order_id,
        client_order_id,
        side: o.side,
        kind: o.kind,
        tif: o.tif,
        price: o.price.unwrap_or(0),
        orig_qty: qty,
        quote_qty: o.quote_qty.unwrap_or(0),
        executed: 0,
        cumulative_quote: 0,
        stop: o.stop.unwrap_or(0),
        status: Status::New,
        time: now,
        update_time: now,
        triggered: false,
        checked_from: now,
        locked: None,
        fills: Vec::new(),
    };
    let rests = immediate.is_none() && !expires;
    book.report(
        &ord,
        &Execution::New {
            on_book: rests && ord.is_working(),
        },
        now,
    );
    if let Some(price) = immediate {
        book.fill(&mut ord, price, false, now);
    } else if expires {
        ord.status = Status::Expired;
        book.report(&ord, &Execution::Expired, now);
    } else {
        let b = book.balance(&need_asset);
        b.0 -= need;
        b.1 += need;
        ord.locked = Some((need_asset, need));
    }
    book.orders.push(ord.clone());
    publish(sim, &mut book, now);
    Ok(Some(ord))
}

fn with_counts(mut response: Response, (c10, c1d): (u32, u32)) -> Response {
    let headers = response.headers_mut();
    headers.insert("x-mbx-order-count-10s", HeaderValue::from(c10));
    headers.insert("x-mbx-order-count-1d", HeaderValue::from(c1d));
    response
}

fn json_ok(value: &Value) -> Response {
    json_response(StatusCode::OK, value.to_string())
}

type Sim = State<std::sync::Arc<Shared>>;
type Ctx = Extension<RequestContext>;

/// The 503 of an order whose execution status is unknown.
fn unknown_status() -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: -1006,
        msg: "An unexpected response was received from the message bus. Execution status unknown."
            .into(),
    }
}

/// `POST /api/v3/order` (TRADE, weight 1).
pub(crate) async fn new_order(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match authenticate(&sim, &ctx, &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let now = ctx.now;
    match_resting(&sim, now);
    let counted = lock(&sim.trading.book).count_order(now, sim.trading.orders_per_10s());
    let counts = match counted {
        Ok(c) => c,
        Err(e) => {
            let counts = lock(&sim.trading.book).counts(now);
            return with_counts(e.into_response(), counts);
        }
    };
    let fault = lock(&sim.trading.fault).clone();
    if fault == Some(OrderFault::Reject503) {
        return with_counts(unknown_status().into_response(), counts);
    }
    let result = parse_new_order(&sim, &params).and_then(|o| {
        let resp = o.resp;
        execute(&sim, o, now, false).map(|ord| ord.map(|ord| (ord, resp)))
    });
    let response = match result {
        Ok(None) => ApiError::internal().into_response(),
        Ok(Some((ord, resp))) => {
            tracing::debug!(symbol = %ord.symbol, order_id = ord.order_id, client_order_id = %ord.client_order_id, status = ord.status.as_str(), "order placed");
            match fault {
                Some(OrderFault::ExecuteThen503) => unknown_status().into_response(),
                Some(OrderFault::DelayAnswer(delay)) => {
                    tokio::time::sleep(delay).await;
                    json_ok(&ord.new_order_json(resp))
                }
                _ => json_ok(&ord.new_order_json(resp)),
            }
        }
        Err(e) => e.into_response(),
    };
    with_counts(response, counts)
}

/// `POST /api/v3/order/test` (TRADE, weight 1): every check, nothing placed; `{}`.
pub(crate) async fn test_order(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match authenticate(&sim, &ctx, &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match parse_new_order(&sim, &params).and_then(|o| execute(&sim, o, ctx.now, true)) {
        Ok(_) => json_ok(&json!({})),
        Err(e) => e.into_response(),
    }
}

/// Finds the order `orderId` / `origClientOrderId` names on `symbol` (the newest with that
/// client id). `-1102` when neither is sent.
fn find(book: &Book, params: &Params, symbol: &str) -> Result<Option<usize>, ApiError> {
    let order_id = params.optional_i64("orderId")?;
    let client = params.optional("origClientOrderId")?;
    let found = match (order_id, client) {
        (Some(id), client) => {
            let i = book
                .orders
                .iter()
                .position(|o| o.symbol == symbol && o.order_id == id);
            if let (Some(i), Some(c)) = (i, client)
                && book.orders[i].client_order_id != c
            {
                return Err(err(
                    -2039,
                    "Client order ID is not correct for this order ID.",
                ));
            }
            i
        }
        (None, Some(c)) => book
            .orders
            .iter()
            .rposition(|o| o.symbol == symbol && o.client_order_id == c),
        (None, None) => {
            return Err(err(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            ));
        }
    };
    Ok(found)
}

fn symbol_param<'a>(sim: &Shared, params: &'a Params) -> Result<&'a str, ApiError> {
    let symbol = params.mandatory("symbol")?;
    let symbol = params.check_symbol("symbol", symbol)?;
    sim.market
        .get(symbol)
        .ok_or_else(ApiError::invalid_symbol)?;
    Ok(symbol)
}

/// `GET /api/v3/order` (USER_DATA, weight 4).
pub(crate) async fn query_order(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let params = authenticate(&sim, &ctx, &headers, &body)?;
        match_resting(&sim, ctx.now);
        let symbol = symbol_param(&sim, &params)?;
        let book = lock(&sim.trading.book);
        let i = find(&book, &params, symbol)?.ok_or_else(|| err(-2013, "Order does not exist."))?;
        Ok::<_, ApiError>(json_ok(&book.orders[i].query_json()))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `DELETE /api/v3/order` (TRADE, weight 1).
pub(crate) async fn cancel_order(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let params = authenticate(&sim, &ctx, &headers, &body)?;
        match_resting(&sim, ctx.now);
        let symbol = symbol_param(&sim, &params)?;
        let cancel_id = params.optional("newClientOrderId")?.map(str::to_owned);
        let mut book = lock(&sim.trading.book);
        let i = find(&book, &params, symbol)?
            .filter(|&i| book.orders[i].is_open())
            .ok_or_else(|| err(-2011, "Unknown order sent."))?;
        let json = cancel_at(&mut book, i, ctx.now, cancel_id);
        publish(&sim, &mut book, ctx.now);
        Ok::<_, ApiError>(json_ok(&json))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Cancels order `i`, releasing its lock; the cancel answer.
fn cancel_at(book: &mut Book, i: usize, now: i64, cancel_id: Option<String>) -> Value {
    let mut ord = book.orders[i].clone();
    if let Some((asset, amount)) = ord.locked.take() {
        let b = book.balance(&asset);
        b.1 -= amount;
        b.0 += amount;
    }
    ord.status = Status::Canceled;
    ord.update_time = now;
    book.orders[i] = ord.clone();
    let cancel_id = cancel_id.unwrap_or_else(|| format!("cancel{}", ord.order_id));
    book.report(
        &ord,
        &Execution::Canceled {
            cancel_id: &cancel_id,
        },
        now,
    );
    json!({
        "symbol": ord.symbol,
        "origClientOrderId": ord.client_order_id,
        "orderId": ord.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_id,
        "transactTime": now,
        "price": format_units(ord.price),
        "origQty": format_units(ord.orig_qty),
        "executedQty": format_units(ord.executed),
        "origQuoteOrderQty": format_units(ord.quote_qty),
        "cummulativeQuoteQty": format_units(ord.cumulative_quote),
        "status": "CANCELED",
        "timeInForce": ord.tif.unwrap_or("GTC"),
        "type": ord.kind.as_str(),
        "side": ord.side.as_str(),
        "selfTradePreventionMode": "NONE",
    })
}

/// `DELETE /api/v3/openOrders` (TRADE, weight 1): cancels every open order of `symbol`.
pub(crate) async fn cancel_all(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let params = authenticate(&sim, &ctx, &headers, &body)?;
        match_resting(&sim, ctx.now);
        let symbol = symbol_param(&sim, &params)?;
        let mut book = lock(&sim.trading.book);
        let open: Vec<usize> = (0..book.orders.len())
            .filter(|&i| book.orders[i].symbol == symbol && book.orders[i].is_open())
            .collect();
        if open.is_empty() {
            return Err(err(-2011, "Unknown order sent."));
        }
        let answers: Vec<Value> = open
            .into_iter()
            .map(|i| cancel_at(&mut book, i, ctx.now, None))
            .collect();
        publish(&sim, &mut book, ctx.now);
        Ok(json_ok(&Value::from(answers)))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/v3/openOrders` (USER_DATA, weight 6 with `symbol`, else 80).
pub(crate) async fn open_orders(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let params = authenticate(&sim, &ctx, &headers, &body)?;
        match_resting(&sim, ctx.now);
        let symbol = match params.optional("symbol")? {
            Some(_) => Some(symbol_param(&sim, &params)?),
            None => None,
        };
        let book = lock(&sim.trading.book);
        let list: Vec<Value> = book
            .orders
            .iter()
            .filter(|o| o.is_open() && symbol.is_none_or(|s| o.symbol == s))
            .map(Ord::query_json)
            .collect();
        Ok::<_, ApiError>(json_ok(&Value::from(list)))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/v3/allOrders` (USER_DATA, weight 20): `symbol`, `orderId` (from), `limit`
/// (default 500, max 1000).
pub(crate) async fn all_orders(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let params = authenticate(&sim, &ctx, &headers, &body)?;
        match_resting(&sim, ctx.now);
        let symbol = symbol_param(&sim, &params)?;
        let from = params.optional_i64("orderId")?;
        let limit = params.optional_in_range("limit", 1, 1000)?.unwrap_or(500);
        let book = lock(&sim.trading.book);
        let mut list: Vec<&Ord> = book
            .orders
            .iter()
            .filter(|o| o.symbol == symbol && from.is_none_or(|f| o.order_id >= f))
            .collect();
        let limit = usize::try_from(limit).unwrap_or(500);
        if from.is_some() {
            list.truncate(limit);
        } else if list.len() > limit {
            list.drain(..list.len() - limit);
        }
        Ok::<_, ApiError>(json_ok(&Value::from(
            list.into_iter().map(Ord::query_json).collect::<Vec<_>>(),
        )))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/v3/myTrades` (USER_DATA, weight 20, 5 with `orderId`):
/// `symbol`, optional `orderId`, `fromId`, `startTime`, `endTime` (ms), `limit` (default
/// 500, max 1000). Allowed combinations: none, `orderId`, `startTime`, `endTime`, `fromId`,
/// `startTime`+`endTime`, `orderId`+`fromId` (`-1128` otherwise); a window longer than
/// 24 h is `-1127`. With `fromId`: trades with id ≥ it, ascending, the first `limit`; with
/// `startTime`: the first `limit` from it; otherwise the most recent `limit`. Binance:
/// "Account trade list (USER_DATA)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>.
pub(crate) async fn my_trades(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let params = authenticate(&sim, &ctx, &headers, &body)?;
        match_resting(&sim, ctx.now);
        let symbol = symbol_param(&sim, &params)?;
        let order_id = params.optional_i64("orderId")?;
        let from_id = params.optional_i64("fromId")?;
        let start = params.optional_i64("startTime")?;
        let end = params.optional_i64("endTime")?;
        let limit = params.optional_in_range("limit", 1, 1000)?.unwrap_or(500);
        let allowed = matches!(
            (
                order_id.is_some(),
                from_id.is_some(),
                start.is_some(),
                end.is_some()
            ),
            (_, false, false, false)
                | (false, true, false, false)
                | (false, false, _, _)
                | (true, true, false, false)
        );
        if !allowed {
            return Err(err(-1128, "Combination of optional parameters invalid."));
        }
        if let (Some(s), Some(e)) = (start, end)
            && (e < s || e - s > MY_TRADES_MAX_WINDOW_MS)
        {
            return Err(err(
                -1127,
                "More than 24 hours between startTime and endTime.",
            ));
        }
        // A single bound spans 24 h from (or up to) it.
        let (start, end) = match (start, end) {
            (Some(s), None) => (Some(s), Some(s.saturating_add(MY_TRADES_MAX_WINDOW_MS))),
            (None, Some(e)) => (Some(e.saturating_sub(MY_TRADES_MAX_WINDOW_MS)), Some(e)),
            other => other,
        };
        let book = lock(&sim.trading.book);
        let mut list: Vec<&Trade> = book
            .trades
            .iter()
            .filter(|t| {
                t.symbol == symbol
                    && order_id.is_none_or(|id| t.order_id == id)
                    && from_id.is_none_or(|id| t.id >= id)
                    && start.is_none_or(|s| t.time >= s)
                    && end.is_none_or(|e| t.time <= e)
            })
            .collect();
        let limit = usize::try_from(limit).unwrap_or(500);
        if from_id.is_some() || start.is_some() {
            list.truncate(limit);
        } else if list.len() > limit {
            list.drain(..list.len() - limit);
        }
        let list: Vec<Value> = list.into_iter().map(Trade::json).collect();
        Ok::<_, ApiError>(json_ok(&Value::from(list)))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

impl Trade {
    /// `GET /api/v3/myTrades` element.
    fn json(&self) -> Value {
        json!({
            "symbol": self.symbol,
            "id": self.id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": format_units(self.price),
            "qty": format_units(self.qty),
            "quoteQty": format_units(self.quote_qty),
            "commission": format_units(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time,
            "isBuyer": self.is_buyer,
            "isMaker": self.is_maker,
            "isBestMatch": true,
        })
    }
}

/// Places an order for the account without HTTP or signing, through the same checks,
/// matching and events as `POST /api/v3/order` (not counted against the order-rate limits).
/// The answer as `POST /api/v3/order` gives it, or Binance's `(code, msg)`.
pub(crate) fn place_order(sim: &Shared, params: &[(&str, &str)]) -> Result<Value, (i32, String)> {
    let now = sim.clock.now_ms();
    match_resting(sim, now);
    let params = Params::from_pairs(params).map_err(ApiError::into_pair)?;
    let order = parse_new_order(sim, &params).map_err(ApiError::into_pair)?;
    let resp = order.resp;
    match execute(sim, order, now, false).map_err(ApiError::into_pair)? {
        Some(ord) => Ok(ord.new_order_json(resp)),
        None => Err((-1001, "order not placed".to_owned())),
    }
}

/// Cancels open order `order_id` of `symbol` like `DELETE /api/v3/order` (cancel client
/// order id generated): the cancel answer, or `(-2011, "Unknown order sent.")`.
pub(crate) fn cancel_order_by_id(
    sim: &Shared,
    symbol: &str,
    order_id: i64,
) -> Result<Value, (i32, String)> {
    let now = sim.clock.now_ms();
    match_resting(sim, now);
    let mut book = lock(&sim.trading.book);
    let i = book
        .orders
        .iter()
        .position(|o| o.symbol == symbol && o.order_id == order_id && o.is_open())
        .ok_or_else(|| (-2011, "Unknown order sent.".to_owned()))?;
    let answer = cancel_at(&mut book, i, now, None);
    publish(sim, &mut book, now);
    Ok(answer)
}

/// Adds `delta` units of `asset` to its free balance (negative: a withdrawal), with a
/// `balanceUpdate` and an `outboundAccountPosition` event.
pub(crate) fn deposit(sim: &Shared, asset: &str, delta: i128) {
    let now = sim.clock.now_ms();
    let mut book = lock(&sim.trading.book);
    book.balance(asset).0 += delta;
    book.report_balance_update(asset, delta, now);
    publish(sim, &mut book, now);
}

/// `GET /api/v3/account` (USER_DATA, weight 20), `omitZeroBalances` honoured.
pub(crate) async fn account(
    State(sim): Sim,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let params = authenticate(&sim, &ctx, &headers, &body)?;
        match_resting(&sim, ctx.now);
        let omit_zero = params.optional("omitZeroBalances")? == Some("true");
        let book = lock(&sim.trading.book);
        let balances: Vec<Value> = book
            .balances
            .iter()
            .filter(|(_, (free, locked))| !omit_zero || *free != 0 || *locked != 0)
            .map(|(asset, (free, locked))| {
                json!({ "asset": asset, "free": format_units(*free), "locked": format_units(*locked) })
            })
            .collect();
        Ok::<_, ApiError>(json_ok(&json!({
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000", "seller": "0.00000000"},
            "canTrade": true,
            "canWithdraw": true,
            "canDeposit": true,
            "brokered": false,
            "requireSelfTradePrevention": false,
            "preventSor": false,
            "updateTime": ctx.now,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": 354_937_868,
        })))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_payload_drops_only_the_signature() {
        assert_eq!(without_signature("a=1&signature=ff&b=2"), "a=1&b=2");
        assert_eq!(without_signature("signature=ff"), "");
        assert_eq!(without_signature("a=1"), "a=1");
    }

    #[test]
    fn filters_pass_and_fail_on_exact_units() {
        assert!(passes(1_000_000, 1_000_000, 0, 1_000_000));
        assert!(!passes(1_500_000, 1_000_000, 0, 1_000_000));
        assert!(!passes(10, 100, 0, 0));
        assert!(!passes(1_000, 0, 100, 0));
        assert!(passes(7, 0, 0, 0));
        assert_eq!(
            notional(100_000, 6_500_000_000_000),
            6_500_000_000,
            "0.001 × 65000 = 65"
        );
        assert_eq!(commission_of(100_000), 100);
    }
}
