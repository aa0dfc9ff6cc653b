//! The futures user-data stream's wire format (USDⓈ-M and COIN-M): the listen-key
//! endpoints and the events' JSON.
//!
//! - Listen key: `POST` (create, or extend and return the active one), `PUT` (keep alive
//!   60 more minutes), `DELETE` (close) on `/fapi/v1/listenKey` or `/dapi/v1/listenKey`,
//!   weight 1, with the `X-MBX-APIKEY` header and no signature (USER_STREAM security).
//!   A `PUT` for a key the exchange no longer knows answers `-1125`.
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Start-User-Data-Stream>,
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Keepalive-User-Data-Stream>,
//!   <https://developers.binance.com/docs/derivatives/coin-margined-futures/user-data-streams/Start-User-Data-Stream>.
//! - Events arrive on `<ws_url>/ws/<listenKey>` as bare objects `{"e":…}` (a combined
//!   stream's `{"stream":…,"data":{"e":…}}` is accepted too): `ORDER_TRADE_UPDATE`,
//!   `ACCOUNT_UPDATE`, `ALGO_UPDATE`, `MARGIN_CALL`, `TRADE_LITE`, `listenKeyExpired`
//!   ([`parse_futures_frame`]).
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Order-Update>,
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Balance-and-Position-Update>,
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Algo-Order-Update>,
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-User-Data-Stream-Expired>.
//!
//! Keys are case-sensitive (`T` at the top and inside `o`, `cr`/`cp`, `ap`/`AP`), so every
//! field carries an explicit `#[serde(rename)]`. Optional fields may be absent or `null` in
//! recorded payloads (`sp`, `AP`, `cr`, `N`, `n`, `V`): both read as `None`. Nothing here
//! panics on any input.

use std::borrow::Cow;

use reqwest::Method;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::FuturesClient;
use crate::domain::{
    ACCOUNT_UPDATE, ALGO_UPDATE, AccountUpdate, AlgoUpdate, Credentials, ExecutionType,
    FuturesBalance, FuturesEvent, FuturesOrderStatus, LISTEN_KEY_EXPIRED, MARGIN_CALL, MarginCall,
    MarginCallPosition, Market, ORDER_TRADE_UPDATE, OrderTradeUpdate, PositionUpdate, Secret, Side,
    Symbol, TRADE_LITE, TradeLite, UserDataEvent, is_position_side, parse_decimal,
};
use crate::exchange::error::ExchangeError;
use crate::exchange::spot::FrameError;
use crate::exchange::transport::{Endpoint, RestClient, decode};

/// `-1125`: "This listenKey does not exist." (a keep-alive of an expired or closed key).
pub const LISTEN_KEY_DOES_NOT_EXIST: i64 = -1125;

/// The listen-key endpoints of one futures market, with the API key (never the secret:
/// these requests are not signed). Cheap to clone; shares the market client's weight
/// budget.
#[derive(Clone)]
pub struct ListenKeys {
    rest: RestClient,
    endpoint: Endpoint,
    market: Market,
}

impl std::fmt::Debug for ListenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenKeys")
            .field("endpoint", &self.endpoint.path)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct WireListenKey {
    #[serde(rename = "listenKey")]
    listen_key: String,
}

impl FuturesClient {
    /// The listen-key endpoints of this market for the account of `credentials`
    /// (`recv_window_ms` only checks the credentials can be used, as for signed requests).
    ///
    /// # Errors
    /// [`ExchangeError::InvalidRequest`] when the API key cannot be an HTTP header value.
    pub fn listen_keys(
        &self,
        credentials: &Credentials,
        recv_window_ms: u64,
    ) -> Result<ListenKeys, ExchangeError> {
        let path = match self.market() {
            Market::CoinM => "/dapi/v1/listenKey",
            _ => "/fapi/v1/listenKey",
        };
        Ok(ListenKeys {
            rest: self.rest.with_credentials(credentials, recv_window_ms)?,
            endpoint: Endpoint { path, weight: 1 },
            market: self.market(),
        })
    }
}

impl ListenKeys {
    /// The market these keys are for.
    pub fn market(&self) -> Market {
        self.market
    }

    /// `POST …/listenKey`: a new key, or the active one extended by 60 minutes.
    ///
    /// # Errors
    /// As any request; [`ExchangeError::Api`] with `-2015`/`-2014`/`-1022` for a refused
    /// API key; a malformed answer is [`ExchangeError::Decode`].
    pub async fn create(&self) -> Result<Secret, ExchangeError> {
        let reply = self.rest.keyed(Method::POST, self.endpoint).await?;
        let key: WireListenKey = serde_json::from_slice(&reply.body)
            .map_err(|e| decode(self.endpoint)(e.to_string()))?;
        Ok(Secret::new(key.listen_key))
    }

    /// `PUT …/listenKey`: keeps the active key alive 60 more minutes.
    ///
    /// # Errors
    /// As any request; `-1125` ([`LISTEN_KEY_DOES_NOT_EXIST`]) when the key expired.
    pub async fn keep_alive(&self) -> Result<(), ExchangeError> {
        self.rest.keyed(Method::PUT, self.endpoint).await?;
        Ok(())
    }

    /// `DELETE …/listenKey`: closes the active key.
    ///
    /// # Errors
    /// As any request.
    pub async fn close(&self) -> Result<(), ExchangeError> {
        self.rest.keyed(Method::DELETE, self.endpoint).await?;
        Ok(())
    }

    /// The exchange's time now (local clock plus measured offset), ms.
    pub fn server_now_ms(&self) -> i64 {
        self.rest.server_now_ms()
    }
}

// ---------------------------------------------------------------------------------------
// Events.

/// The members of every frame shape, borrowed.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    e: Option<&'a RawValue>,
}

/// What every event has: its type and (usually) its time.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "e", borrow)]
    event_type: Cow<'a, str>,
    #[serde(rename = "E", borrow, default)]
    event_time: Option<&'a RawValue>,
}

/// Parses one text frame of a futures user-data connection into an event. A known event
/// whose fields do not parse is [`UserDataEvent::Invalid`], an unknown type
/// [`UserDataEvent::Unknown`]; both are kept raw by the store.
///
/// # Errors
/// [`FrameError::Json`] for text that is not a JSON object, [`FrameError::Shape`] for an
/// object that holds no event (no `e`, or `data` that is not an object with a string `e`).
pub fn parse_futures_frame(text: &str) -> Result<UserDataEvent, FrameError> {
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| FrameError::Json(e.to_string()))?;
    let raw = if let Some(data) = envelope.data {
        data.get()
    } else if envelope.e.is_some() {
        text.trim()
    } else {
        return Err(FrameError::Shape("no `data` or `e` member".to_string()));
    };
    let head: Head<'_> = serde_json::from_str(raw).map_err(|e| {
        FrameError::Shape(format!("the event is not an object with a string `e`: {e}"))
    })?;
    Ok(parse_event(head, raw))
}

fn parse_event(head: Head<'_>, raw: &str) -> UserDataEvent {
    fn wire<'a, T: Deserialize<'a>>(raw: &'a str) -> Result<T, String> {
        serde_json::from_str::<T>(raw).map_err(|e| e.to_string())
    }
    let parsed = match head.event_type.as_ref() {
        ORDER_TRADE_UPDATE => wire::<WireOrderEvent<'_>>(raw)
            .and_then(|w| order_trade_update(w, raw).map(FuturesEvent::OrderTradeUpdate)),
        ACCOUNT_UPDATE => wire::<WireAccountEvent<'_>>(raw)
            .and_then(|w| account_update(w, raw).map(FuturesEvent::AccountUpdate)),
        ALGO_UPDATE => wire::<WireAlgoEvent<'_>>(raw)
            .and_then(|w| algo_update(w, raw).map(FuturesEvent::AlgoUpdate)),
        MARGIN_CALL => wire::<WireMarginCall<'_>>(raw)
            .and_then(|w| margin_call(w, raw).map(FuturesEvent::MarginCall)),
        TRADE_LITE => wire::<WireTradeLite<'_>>(raw)
            .and_then(|w| trade_lite(w, raw).map(FuturesEvent::TradeLite)),
        LISTEN_KEY_EXPIRED => wire::<WireExpired>(raw).map(|w| FuturesEvent::ListenKeyExpired {
            event_time: w.event_time,
        }),
        _ => {
            return UserDataEvent::Unknown {
                event_time: head_time(&head),
                event_type: head.event_type.into_owned(),
                raw: raw.to_string(),
            };
        }
    };
    match parsed {
        Ok(event) => UserDataEvent::Futures(event),
        Err(error) => UserDataEvent::Invalid {
            event_time: head_time(&head),
            event_type: head.event_type.into_owned(),
            raw: raw.to_string(),
            error,
        },
    }
}

fn head_time(head: &Head<'_>) -> Option<i64> {
    head.event_time.and_then(|t| t.get().parse().ok())
}

#[derive(Deserialize)]
struct WireOrderEvent<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "T")]
    transaction_time: i64,
    #[serde(rename = "o", borrow)]
    order: WireOrder<'a>,
}

#[derive(Deserialize)]
struct WireOrder<'a> {
    #[serde(rename = "s", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "c")]
    client_order_id: String,
    #[serde(rename = "S", borrow)]
    side: Cow<'a, str>,
    #[serde(rename = "o")]
    order_type: String,
    #[serde(rename = "f")]
    time_in_force: String,
    #[serde(rename = "q", borrow)]
    quantity: Cow<'a, str>,
    #[serde(rename = "p", borrow)]
    price: Cow<'a, str>,
    #[serde(rename = "ap", borrow)]
    average_price: Cow<'a, str>,
    #[serde(rename = "sp", borrow, default)]
    stop_price: Option<Cow<'a, str>>,
    #[serde(rename = "x", borrow)]
    execution_type: Cow<'a, str>,
    #[serde(rename = "X", borrow)]
    order_status: Cow<'a, str>,
    #[serde(rename = "i")]
    order_id: i64,
    #[serde(rename = "l", borrow)]
    last_qty: Cow<'a, str>,
    #[serde(rename = "z", borrow)]
    cumulative_qty: Cow<'a, str>,
    #[serde(rename = "L", borrow)]
    last_price: Cow<'a, str>,
    #[serde(rename = "N", default)]
    commission_asset: Option<String>,
    #[serde(rename = "n", borrow, default)]
    commission: Option<Cow<'a, str>>,
    #[serde(rename = "T")]
    trade_time: i64,
    #[serde(rename = "t")]
    trade_id: i64,
    #[serde(rename = "b", borrow)]
    bids_notional: Cow<'a, str>,
    #[serde(rename = "a", borrow)]
    asks_notional: Cow<'a, str>,
    #[serde(rename = "m")]
    is_maker: bool,
    #[serde(rename = "R")]
    reduce_only: bool,
    #[serde(rename = "wt")]
    working_type: String,
    #[serde(rename = "ot")]
    original_order_type: String,
    #[serde(rename = "ps")]
    position_side: String,
    #[serde(rename = "cp", default)]
    close_position: bool,
    #[serde(rename = "AP", borrow, default)]
    activation_price: Option<Cow<'a, str>>,
    #[serde(rename = "cr", borrow, default)]
    callback_rate: Option<Cow<'a, str>>,
    #[serde(rename = "pP", default)]
    price_protect: bool,
    #[serde(rename = "rp", borrow)]
    realized_pnl: Cow<'a, str>,
    #[serde(rename = "V", default)]
    stp_mode: Option<String>,
    #[serde(rename = "pm", default)]
    price_match: Option<String>,
    #[serde(rename = "gtd", default)]
    good_till_date: Option<i64>,
    #[serde(rename = "er", default)]
    expiry_reason: Option<String>,
    #[serde(rename = "ma", default)]
    margin_asset: Option<String>,
}

#[derive(Deserialize)]
struct WireAccountEvent<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "T")]
    transaction_time: i64,
    #[serde(rename = "a", borrow)]
    account: WireAccount<'a>,
}

#[derive(Deserialize)]
struct WireAccount<'a> {
    #[serde(rename = "m")]
    reason: String,
    #[serde(rename = "B", borrow, default)]
    balances: Vec<WireBalance<'a>>,
    #[serde(rename = "P", borrow, default)]
    positions: Vec<WirePosition<'a>>,
}

#[derive(Deserialize)]
struct WireBalance<'a> {
    #[serde(rename = "a", borrow)]
    asset: Cow<'a, str>,
    #[serde(rename = "wb", borrow)]
    wallet_balance: Cow<'a, str>,
    #[serde(rename = "cw", borrow)]
    cross_wallet_balance: Cow<'a, str>,
    #[serde(rename = "bc", borrow)]
    balance_change: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WirePosition<'a> {
    #[serde(rename = "s", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "pa", borrow)]
    amount: Cow<'a, str>,
    #[serde(rename = "ep", borrow)]
    entry_price: Cow<'a, str>,
    #[serde(rename = "bep", borrow, default)]
    break_even_price: Option<Cow<'a, str>>,
    #[serde(rename = "cr", borrow)]
    accumulated_realized: Cow<'a, str>,
    #[serde(rename = "up", borrow)]
    unrealized_pnl: Cow<'a, str>,
    #[serde(rename = "mt")]
    margin_type: String,
    #[serde(rename = "iw", borrow)]
    isolated_wallet: Cow<'a, str>,
    #[serde(rename = "ps")]
    position_side: String,
}

#[derive(Deserialize)]
struct WireAlgoEvent<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "T")]
    transaction_time: i64,
    #[serde(rename = "o", borrow)]
    order: WireAlgo<'a>,
}

#[derive(Deserialize)]
struct WireAlgo<'a> {
    #[serde(rename = "caid")]
    client_algo_id: String,
    #[serde(rename = "aid")]
    algo_id: i64,
    #[serde(rename = "at")]
    algo_type: String,
    #[serde(rename = "o")]
    order_type: String,
    #[serde(rename = "s", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "S", borrow)]
    side: Cow<'a, str>,
    #[serde(rename = "ps")]
    position_side: String,
    #[serde(rename = "f")]
    time_in_force: String,
    #[serde(rename = "q", borrow)]
    quantity: Cow<'a, str>,
    #[serde(rename = "X")]
    algo_status: String,
    #[serde(rename = "ai", borrow, default)]
    actual_order_id: Option<Cow<'a, str>>,
    #[serde(rename = "ap", borrow, default)]
    average_price: Option<Cow<'a, str>>,
    #[serde(rename = "aq", borrow, default)]
    executed_qty: Option<Cow<'a, str>>,
    #[serde(rename = "act", default)]
    actual_order_type: Option<String>,
    #[serde(rename = "tp", borrow, default)]
    trigger_price: Option<Cow<'a, str>>,
    #[serde(rename = "p", borrow, default)]
    price: Option<Cow<'a, str>>,
    #[serde(rename = "wt", default)]
    working_type: Option<String>,
    #[serde(rename = "cp", default)]
    close_position: bool,
    #[serde(rename = "pP", default)]
    price_protect: bool,
    #[serde(rename = "R", default)]
    reduce_only: bool,
    #[serde(rename = "tt", default)]
    trigger_time: Option<i64>,
    #[serde(rename = "rm", default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMarginCall<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "cw", borrow, default)]
    cross_wallet_balance: Option<Cow<'a, str>>,
    #[serde(rename = "p", borrow, default)]
    positions: Vec<WireMarginPosition<'a>>,
}

#[derive(Deserialize)]
struct WireMarginPosition<'a> {
    #[serde(rename = "s", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "ps")]
    position_side: String,
    #[serde(rename = "pa", borrow)]
    amount: Cow<'a, str>,
    #[serde(rename = "mp", borrow)]
    mark_price: Cow<'a, str>,
    #[serde(rename = "up", borrow)]
    unrealized_pnl: Cow<'a, str>,
    #[serde(rename = "mm", borrow)]
    maintenance_margin: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WireTradeLite<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "T")]
    transaction_time: i64,
    #[serde(rename = "s", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "c")]
    client_order_id: String,
    #[serde(rename = "S", borrow)]
    side: Cow<'a, str>,
    #[serde(rename = "q", borrow)]
    quantity: Cow<'a, str>,
    #[serde(rename = "p", borrow)]
    price: Cow<'a, str>,
    #[serde(rename = "l", borrow)]
    last_qty: Cow<'a, str>,
    #[serde(rename = "L", borrow)]
    last_price: Cow<'a, str>,
    #[serde(rename = "t")]
    trade_id: i64,
    #[serde(rename = "i")]
    order_id: i64,
    #[serde(rename = "m")]
    is_maker: bool,
}

#[derive(Deserialize)]
struct WireExpired {
    #[serde(rename = "E")]
    event_time: i64,
}

/// A decimal field, the error naming its key.
fn dec(key: &str, text: &str) -> Result<Decimal, String> {
    parse_decimal(text).map_err(|e| format!("field `{key}`: {e}"))
}

/// An optional decimal field (absent or null is `None`).
fn opt_dec(key: &str, text: Option<Cow<'_, str>>) -> Result<Option<Decimal>, String> {
    text.map(|t| dec(key, &t)).transpose()
}

fn symbol(key: &str, text: &str) -> Result<Symbol, String> {
    text.parse().map_err(|e| format!("field `{key}`: {e}"))
}

fn side(key: &str, text: &str) -> Result<Side, String> {
    match text {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        other => Err(format!("field `{key}`: invalid side {other:?}")),
    }
}

fn position_side(key: &str, text: String) -> Result<String, String> {
    if is_position_side(&text) {
        Ok(text)
    } else {
        Err(format!(
            "field `{key}`: invalid position side {text:?}: expected BOTH, LONG or SHORT"
        ))
    }
}

/// An asset name: 1 to 20 letters or digits (`USDT`, `BNFCR`), as Binance spells them.
fn asset(key: &str, text: &str) -> Result<String, String> {
    let valid = (1..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric());
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "field `{key}`: invalid asset {text:?}: expected 1 to 20 letters or digits"
        ))
    }
}

fn order_trade_update(w: WireOrderEvent<'_>, raw: &str) -> Result<OrderTradeUpdate, String> {
    let o = w.order;
    let order_status = FuturesOrderStatus::parse(&o.order_status)
        .ok_or_else(|| format!("field `o.X`: unknown order status {:?}", o.order_status))?;
    let commission_asset = o.commission_asset.map(|a| asset("o.N", &a)).transpose()?;
    Ok(OrderTradeUpdate {
        event_time: w.event_time,
        transaction_time: w.transaction_time,
        symbol: symbol("o.s", &o.symbol)?,
        client_order_id: o.client_order_id,
        side: side("o.S", &o.side)?,
        order_type: o.order_type,
        time_in_force: o.time_in_force,
        quantity: dec("o.q", &o.quantity)?,
        price: dec("o.p", &o.price)?,
        average_price: dec("o.ap", &o.average_price)?,
        stop_price: opt_dec("o.sp", o.stop_price)?,
        execution_type: ExecutionType::parse(&o.execution_type),
        order_status,
        order_id: o.order_id,
        last_qty: dec("o.l", &o.last_qty)?,
        cumulative_qty: dec("o.z", &o.cumulative_qty)?,
        last_price: dec("o.L", &o.last_price)?,
        commission_asset,
        commission: opt_dec("o.n", o.commission)?,
        trade_time: o.trade_time,
        trade_id: o.trade_id,
        bids_notional: dec("o.b", &o.bids_notional)?,
        asks_notional: dec("o.a", &o.asks_notional)?,
        is_maker: o.is_maker,
        reduce_only: o.reduce_only,
        working_type: o.working_type,
        original_order_type: o.original_order_type,
        position_side: position_side("o.ps", o.position_side)?,
        close_position: o.close_position,
        activation_price: opt_dec("o.AP", o.activation_price)?,
        callback_rate: opt_dec("o.cr", o.callback_rate)?,
        price_protect: o.price_protect,
        realized_pnl: dec("o.rp", &o.realized_pnl)?,
        stp_mode: o.stp_mode,
        price_match: o.price_match,
        good_till_date: o.good_till_date,
        expiry_reason: o.expiry_reason,
        margin_asset: o.margin_asset,
        raw: raw.to_string(),
    })
}

fn account_update(w: WireAccountEvent<'_>, raw: &str) -> Result<AccountUpdate, String> {
    let balances = w
        .account
        .balances
        .into_iter()
        .map(|b| {
            Ok(FuturesBalance {
                asset: asset("a.B[].a", &b.asset)?,
                wallet_balance: dec("a.B[].wb", &b.wallet_balance)?,
                cross_wallet_balance: dec("a.B[].cw", &b.cross_wallet_balance)?,
                balance_change: dec("a.B[].bc", &b.balance_change)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let positions = w
        .account
        .positions
        .into_iter()
        .map(|p| {
            Ok(PositionUpdate {
                symbol: symbol("a.P[].s", &p.symbol)?,
                amount: dec("a.P[].pa", &p.amount)?,
                entry_price: dec("a.P[].ep", &p.entry_price)?,
                break_even_price: opt_dec("a.P[].bep", p.break_even_price)?,
                accumulated_realized: dec("a.P[].cr", &p.accumulated_realized)?,
                unrealized_pnl: dec("a.P[].up", &p.unrealized_pnl)?,
                margin_type: p.margin_type,
                isolated_wallet: dec("a.P[].iw", &p.isolated_wallet)?,
                position_side: position_side("a.P[].ps", p.position_side)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(AccountUpdate {
        event_time: w.event_time,
        transaction_time: w.transaction_time,
        reason: w.account.reason,
        balances,
        positions,
        raw: raw.to_string(),
    })
}

fn algo_update(w: WireAlgoEvent<'_>, raw: &str) -> Result<AlgoUpdate, String> {
    let o = w.order;
    let actual_order_id = match o.actual_order_id.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| format!("field `o.ai`: not an order id: {text:?}"))?,
        ),
    };
    Ok(AlgoUpdate {
        event_time: w.event_time,
        transaction_time: w.transaction_time,
        client_algo_id: o.client_algo_id,
        algo_id: o.algo_id,
        algo_type: o.algo_type,
        order_type: o.order_type,
        symbol: symbol("o.s", &o.symbol)?,
        side: side("o.S", &o.side)?,
        position_side: position_side("o.ps", o.position_side)?,
        time_in_force: o.time_in_force,
        quantity: dec("o.q", &o.quantity)?,
        algo_status: o.algo_status,
        actual_order_id,
        average_price: opt_dec("o.ap", o.average_price)?,
        executed_qty: opt_dec("o.aq", o.executed_qty)?,
        actual_order_type: o.actual_order_type,
        trigger_price: opt_dec("o.tp", o.trigger_price)?,
        price: opt_dec("o.p", o.price)?,
        working_type: o.working_type,
        close_position: o.close_position,
        price_protect: o.price_protect,
        reduce_only: o.reduce_only,
        trigger_time: o.trigger_time,
        reason: o.reason,
        raw: raw.to_string(),
    })
}

fn margin_call(w: WireMarginCall<'_>, raw: &str) -> Result<MarginCall, String> {
    let positions = w
        .positions
        .into_iter()
        .map(|p| {
            Ok(MarginCallPosition {
                symbol: symbol("p[].s", &p.symbol)?,
                position_side: position_side("p[].ps", p.position_side)?,
                amount: dec("p[].pa", &p.amount)?,
                mark_price: dec("p[].mp", &p.mark_price)?,
                unrealized_pnl: dec("p[].up", &p.unrealized_pnl)?,
                maintenance_margin: dec("p[].mm", &p.maintenance_margin)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(MarginCall {
        event_time: w.event_time,
        cross_wallet_balance: opt_dec("cw", w.cross_wallet_balance)?,
        positions,
        raw: raw.to_string(),
    })
}

fn trade_lite(w: WireTradeLite<'_>, raw: &str) -> Result<TradeLite, String> {
    Ok(TradeLite {
        event_time: w.event_time,
        transaction_time: w.transaction_time,
        symbol: symbol("s", &w.symbol)?,
        client_order_id: w.client_order_id,
        side: side("S", &w.side)?,
        quantity: dec("q", &w.quantity)?,
        price: dec("p", &w.price)?,
        last_qty: dec("l", &w.last_qty)?,
        last_price: dec("L", &w.last_price)?,
        trade_id: w.trade_id,
        order_id: w.order_id,
        is_maker: w.is_maker,
        raw: raw.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Every recorded payload of `tests/data/futures_user_data/`: (file name, text).
    fn recorded() -> Vec<(String, String)> {
        let dir = format!(
            "{}/tests/data/futures_user_data",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("test data directory")
            .filter_map(|e| {
                let path = e.expect("directory entry").path();
                (path.extension()? == "json").then(|| {
                    let name = path.file_name()?.to_string_lossy().into_owned();
                    Some((name, std::fs::read_to_string(&path).expect("read payload")))
                })?
            })
            .collect();
        out.sort();
        out
    }

    /// A member as text: strings as they are, numbers and booleans as JSON; `None` when
    /// absent or null.
    fn text(v: &Value, key: &str) -> Option<String> {
        match v.get(key)? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    fn d(x: Decimal) -> Option<String> {
        Some(x.to_string())
    }

    fn od(x: Option<Decimal>) -> Option<String> {
        x.map(|x| x.to_string())
    }

    fn st(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    fn n(x: impl ToString) -> Option<String> {
        Some(x.to_string())
    }

    /// Compares `(key, parsed)` pairs with the members of `v`, naming the file and key.
    fn same(file: &str, v: &Value, fields: &[(&str, Option<String>)]) {
        for (key, parsed) in fields {
            assert_eq!(&text(v, key), parsed, "{file}: field `{key}`");
        }
    }

    #[test]
    fn every_recorded_futures_payload_parses_field_for_field() {
        let files = recorded();
        assert!(files.len() >= 28, "payloads found: {}", files.len());
        let mut seen = std::collections::BTreeSet::new();
        for (file, body) in &files {
            let json: Value = serde_json::from_str(body).expect("valid json");
            let ev = json.get("data").unwrap_or(&json);
            let event = match parse_futures_frame(body) {
                Ok(UserDataEvent::Futures(f)) => f,
                other => panic!("{file}: expected a futures event, got {other:?}"),
            };
            seen.insert(event.event_type());
            let raw: Value = serde_json::from_str(event.raw().expect("raw kept")).expect("raw");
            assert_eq!(&raw, ev, "{file}: raw is the event object");
            assert_eq!(text(ev, "E"), n(event.event_time()), "{file}: E");
            match &event {
                FuturesEvent::OrderTradeUpdate(u) => {
                    assert_eq!(text(ev, "T"), n(u.transaction_time), "{file}: T");
                    let o = &ev["o"];
                    same(
                        file,
                        o,
                        &[
                            ("s", st(u.symbol.as_str())),
                            ("c", st(&u.client_order_id)),
                            ("S", st(u.side.as_str())),
                            ("o", st(&u.order_type)),
                            ("f", st(&u.time_in_force)),
                            ("q", d(u.quantity)),
                            ("p", d(u.price)),
                            ("ap", d(u.average_price)),
                            ("sp", od(u.stop_price)),
                            ("x", st(u.execution_type.as_str())),
                            ("X", st(u.order_status.as_str())),
                            ("i", n(u.order_id)),
                            ("l", d(u.last_qty)),
                            ("z", d(u.cumulative_qty)),
                            ("L", d(u.last_price)),
                            ("N", u.commission_asset.clone()),
                            ("n", od(u.commission)),
                            ("T", n(u.trade_time)),
                            ("t", n(u.trade_id)),
                            ("b", d(u.bids_notional)),
                            ("a", d(u.asks_notional)),
                            ("m", n(u.is_maker)),
                            ("R", n(u.reduce_only)),
                            ("wt", st(&u.working_type)),
                            ("ot", st(&u.original_order_type)),
                            ("ps", st(&u.position_side)),
                            ("cp", n(u.close_position)),
                            ("AP", od(u.activation_price)),
                            ("cr", od(u.callback_rate)),
                            ("pP", n(u.price_protect)),
                            ("rp", d(u.realized_pnl)),
                            ("V", u.stp_mode.clone()),
                            ("pm", u.price_match.clone()),
                            ("gtd", u.good_till_date.map(|t| t.to_string())),
                            ("er", u.expiry_reason.clone()),
                            ("ma", u.margin_asset.clone()),
                        ],
                    );
                }
                FuturesEvent::AccountUpdate(a) => {
                    assert_eq!(text(ev, "T"), n(a.transaction_time), "{file}: T");
                    let acc = &ev["a"];
                    assert_eq!(text(acc, "m"), st(&a.reason), "{file}: a.m");
                    let balances = acc["B"].as_array().expect("a.B");
                    assert_eq!(balances.len(), a.balances.len(), "{file}: a.B");
                    for (w, b) in balances.iter().zip(&a.balances) {
                        same(
                            file,
                            w,
                            &[
                                ("a", st(&b.asset)),
                                ("wb", d(b.wallet_balance)),
                                ("cw", d(b.cross_wallet_balance)),
                                ("bc", d(b.balance_change)),
                            ],
                        );
                    }
                    let positions = acc["P"].as_array().expect("a.P");
                    assert_eq!(positions.len(), a.positions.len(), "{file}: a.P");
                    for (w, p) in positions.iter().zip(&a.positions) {
                        same(
                            file,
                            w,
                            &[
                                ("s", st(p.symbol.as_str())),
                                ("pa", d(p.amount)),
                                ("ep", d(p.entry_price)),
                                ("bep", od(p.break_even_price)),
                                ("cr", d(p.accumulated_realized)),
                                ("up", d(p.unrealized_pnl)),
                                ("mt", st(&p.margin_type)),
                                ("iw", d(p.isolated_wallet)),
                                ("ps", st(&p.position_side)),
                            ],
                        );
                    }
                }
                FuturesEvent::AlgoUpdate(a) => {
                    assert_eq!(text(ev, "T"), n(a.transaction_time), "{file}: T");
                    let o = &ev["o"];
                    let ai = text(o, "ai").filter(|s| !s.is_empty());
                    assert_eq!(ai, a.actual_order_id.map(|i| i.to_string()), "{file}: ai");
                    same(
                        file,
                        o,
                        &[
                            ("caid", st(&a.client_algo_id)),
                            ("aid", n(a.algo_id)),
                            ("at", st(&a.algo_type)),
                            ("o", st(&a.order_type)),
                            ("s", st(a.symbol.as_str())),
                            ("S", st(a.side.as_str())),
                            ("ps", st(&a.position_side)),
                            ("f", st(&a.time_in_force)),
                            ("q", d(a.quantity)),
                            ("X", st(&a.algo_status)),
                            ("ap", od(a.average_price)),
                            ("aq", od(a.executed_qty)),
                            ("act", a.actual_order_type.clone()),
                            ("tp", od(a.trigger_price)),
                            ("p", od(a.price)),
                            ("wt", a.working_type.clone()),
                            ("cp", n(a.close_position)),
                            ("pP", n(a.price_protect)),
                            ("R", n(a.reduce_only)),
                            ("tt", a.trigger_time.map(|t| t.to_string())),
                            ("rm", a.reason.clone()),
                        ],
                    );
                }
                FuturesEvent::TradeLite(t) => same(
                    file,
                    ev,
                    &[
                        ("T", n(t.transaction_time)),
                        ("s", st(t.symbol.as_str())),
                        ("c", st(&t.client_order_id)),
                        ("S", st(t.side.as_str())),
                        ("q", d(t.quantity)),
                        ("p", d(t.price)),
                        ("l", d(t.last_qty)),
                        ("L", d(t.last_price)),
                        ("t", n(t.trade_id)),
                        ("i", n(t.order_id)),
                        ("m", n(t.is_maker)),
                    ],
                ),
                other => panic!("{file}: unexpected {other:?}"),
            }
        }
        for kind in [ORDER_TRADE_UPDATE, ACCOUNT_UPDATE, ALGO_UPDATE, TRADE_LITE] {
            assert!(seen.contains(kind), "no recorded {kind}");
        }
    }

    #[test]
    fn fills_are_keyed_by_trade_id_and_other_updates_by_their_content() {
        let load = |name: &str| {
            let path = format!(
                "{}/tests/data/futures_user_data/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            match parse_futures_frame(&std::fs::read_to_string(path).expect("payload")) {
                Ok(UserDataEvent::Futures(FuturesEvent::OrderTradeUpdate(u))) => u,
                other => panic!("{name}: {other:?}"),
            }
        };
        let trade = load("order_update_trade.json");
        assert_eq!(trade.event_key(), "trade:12345678");
        assert_eq!(trade.realized_pnl.to_string(), "12.34");
        assert_eq!(
            trade.commission.map(|c| c.to_string()).as_deref(),
            Some("0.01000000")
        );
        // A liquidation fill (`x` CALCULATED) is a fill too.
        let liquidation = load("ws_futures_order_update_liquidation.json");
        assert_eq!(liquidation.event_key(), "trade:1122334455");
        // A new order: `t` is 0, not a trade.
        let new = load("order_update_new.json");
        assert_eq!(new.trade(), None);
        assert_eq!(new.event_key(), "event:8886774:NEW:NEW:1568879465651:0");
        assert_eq!(
            new.callback_rate.map(|c| c.to_string()).as_deref(),
            Some("5.0")
        );
        assert_eq!(
            new.activation_price.map(|c| c.to_string()).as_deref(),
            Some("7476.89")
        );
        let insurance = load("order_update_insurance.json");
        assert_eq!(insurance.order_status, FuturesOrderStatus::NewInsurance);
        assert_eq!(insurance.order_status.order_status(), None);
    }

    #[test]
    fn the_documented_margin_call_and_expiry_events_parse() {
        // Binance's examples ("Event: Margin Call", "Event: User Data Stream Expired").
        let margin = r#"{"e":"MARGIN_CALL","E":1587727187525,"cw":"3.16812045","p":[{"s":"ETHUSDT","ps":"LONG","pa":"1.327","mt":"CROSSED","iw":"0","mp":"187.17127","up":"-1.166074","mm":"1.614445"}]}"#;
        let Ok(UserDataEvent::Futures(FuturesEvent::MarginCall(m))) = parse_futures_frame(margin)
        else {
            panic!("margin call");
        };
        assert_eq!(m.event_time, 1_587_727_187_525);
        assert_eq!(od(m.cross_wallet_balance), st("3.16812045"));
        assert_eq!(m.positions.len(), 1);
        let p = &m.positions[0];
        assert_eq!(
            (p.symbol.as_str(), p.position_side.as_str()),
            ("ETHUSDT", "LONG")
        );
        assert_eq!(
            (
                d(p.amount),
                d(p.mark_price),
                d(p.unrealized_pnl),
                d(p.maintenance_margin)
            ),
            (
                st("1.327"),
                st("187.17127"),
                st("-1.166074"),
                st("1.614445")
            )
        );
        assert_eq!(m.raw, margin);
        let expired = r#"{"e":"listenKeyExpired","E":1736996475556,"listenKey":"WsCMN0a4KHUPTQuX6IUnqEZfB1inxmv1qR4kbf1LuEjur5VdbzqvyxqG9TSjVVxv"}"#;
        let event = parse_futures_frame(expired).expect("parses");
        assert_eq!(
            event,
            UserDataEvent::Futures(FuturesEvent::ListenKeyExpired {
                event_time: 1_736_996_475_556
            })
        );
        // The key is not kept anywhere.
        assert_eq!(event.raw(), None);
    }

    #[test]
    fn malformed_and_unknown_events_are_kept_raw_with_the_reason() {
        let bad_status = r#"{"e":"ORDER_TRADE_UPDATE","E":1,"T":1,"o":{"s":"BTCUSDT","c":"x","S":"BUY","o":"LIMIT","f":"GTC","q":"1","p":"1","ap":"0","sp":"0","x":"NEW","X":"WAITING","i":1,"l":"0","z":"0","L":"0","T":1,"t":0,"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"BOTH","rp":"0"}}"#;
        match parse_futures_frame(bad_status) {
            Ok(UserDataEvent::Invalid {
                event_type,
                event_time,
                raw,
                error,
            }) => {
                assert_eq!(event_type, ORDER_TRADE_UPDATE);
                assert_eq!(event_time, Some(1));
                assert_eq!(raw, bad_status);
                assert!(error.contains("o.X"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        let bad_decimal = bad_status.replace(r#""rp":"0""#, r#""rp":"1e5""#);
        let Ok(UserDataEvent::Invalid { error, .. }) = parse_futures_frame(&bad_decimal) else {
            panic!("invalid");
        };
        assert!(error.contains("o.X") || error.contains("o.rp"), "{error}");
        let bad_side = r#"{"e":"ACCOUNT_UPDATE","E":5,"T":5,"a":{"m":"ORDER","B":[],"P":[{"s":"BTCUSDT","pa":"1","ep":"1","cr":"0","up":"0","mt":"cross","iw":"0","ps":"UP"}]}}"#;
        let Ok(UserDataEvent::Invalid { error, .. }) = parse_futures_frame(bad_side) else {
            panic!("invalid");
        };
        assert!(error.contains("a.P[].ps"), "{error}");
        let unknown = r#"{"e":"STRATEGY_UPDATE","E":7,"su":{}}"#;
        assert_eq!(
            parse_futures_frame(unknown),
            Ok(UserDataEvent::Unknown {
                event_type: "STRATEGY_UPDATE".into(),
                event_time: Some(7),
                raw: unknown.into(),
            })
        );
        assert!(matches!(
            parse_futures_frame("{not json"),
            Err(FrameError::Json(_))
        ));
        assert!(matches!(
            parse_futures_frame(r#"{"result":null,"id":1}"#),
            Err(FrameError::Shape(_))
        ));
    }
}
