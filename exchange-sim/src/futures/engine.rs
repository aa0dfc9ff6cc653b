//! The futures order engine of one market: orders, fills, positions (one-way and hedge),
//! leverage, margin type, realized PnL, commission, wallet balances and the USD-M Algo
//! Service's conditional orders. The REST handlers are in `trade`; the user-data stream
//! the engine's events go to is in `user_stream`.
//!
//! # Prices
//!
//! The *contract price* (last price) of a contract is the open of the running replayed
//! minute (the close of the partial kline `klines` serves), its *mark price* the close of
//! that minute (`premiumIndex`). [`super::FuturesSim::set_last_price`] overrides both for a
//! symbol (and fills or triggers what it crosses at once),
//! [`super::FuturesSim::set_mark_price`] the mark price alone. The book is that one price
//! with unlimited quantity.
//!
//! # Matching
//!
//! * MARKET fills whole at once at the contract price (taker).
//! * LIMIT: a BUY at or above the contract price (a SELL at or below) fills at once at the
//!   contract price (taker); otherwise it rests (`NEW`) and fills whole at its limit price
//!   (maker) once the contract price reaches it. IOC/FOK that do not fill at once expire
//!   (`EXPIRED`); GTX (post-only) that would take is refused `-5022`.
//! * Conditional orders (COIN-M on `/dapi/v1/order`, USD-M through the Algo Service) trigger
//!   on the price their `workingType` names (`CONTRACT_PRICE` default, or `MARK_PRICE`):
//!   STOP / STOP_MARKET when a BUY's price rises to the stop price (a SELL's falls to it),
//!   TAKE_PROFIT / TAKE_PROFIT_MARKET the other way round; placing one that would trigger
//!   at once is refused `-2021` "Order would immediately trigger.". TRAILING_STOP_MARKET
//!   activates when the price reaches `activationPrice` (at once without one), then tracks
//!   the best price since activation and triggers when the price moves back by
//!   `callbackRate` percent. A triggered *_MARKET / trailing order fills at the contract
//!   price (taker); a triggered STOP / TAKE_PROFIT becomes a working limit order.
//! * Resting and conditional orders are evaluated before every trading request of the
//!   market, on `set_last_price`, on [`super::FuturesSim::match_orders`] and once a second
//!   by the market's background task, against the price at that moment.
//!
//! # Positions and money
//!
//! Quantities are base asset on USD-M and contracts of `contractSize` USD on COIN-M.
//! One-way mode keeps one `BOTH` position per symbol (signed amount: a fill against it
//! reduces it, realizing PnL, and a larger one flips it); hedge mode
//! (`positionSide/dual`) keeps `LONG` (BUY opens, SELL closes) and `SHORT` (SELL opens, BUY
//! closes; amount negative). Realized PnL of closing `q` at `p`: USD-M `(p − entry) × q`
//! (long; the opposite for short) in USDT; COIN-M `q × size × (1/entry − 1/p)` (long) in
//! the coin. Entry price is the quantity-weighted (USD-M) or harmonic (COIN-M) average.
//! Commission: taker 0.04 %, maker 0.02 % of the notional (USDT on USD-M; on COIN-M the
//! coin value `q × size / p`, in the coin). The wallet balance of the margin asset moves by
//! realized PnL minus commission. Break-even price: entry × (1 ± taker rate). Unrealized
//! PnL is at the mark price; the isolated wallet of an isolated position is its entry
//! notional / leverage; liquidation prices are `0` (not modelled).
//! An order that increases exposure needs initial margin `notional / leverage` within the
//! available balance (wallet + unrealized PnL − positions' and open orders' initial
//! margin): `-2019` "Margin is insufficient." otherwise.
//!
//! Binance's documentation:
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api>,
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/trade/rest-api>.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{FuturesMarket, FuturesShared, contracts::Contract, derived, series::MINUTE_MS};
use crate::{
    decimal::{SCALE, div_round, parse_units},
    error::ApiError,
    read,
};

/// Taker commission, in hundredths of a basis point (0.04 %).
const TAKER_RATE_PPM: i128 = 400;
/// Maker commission, in millionths (0.02 %).
const MAKER_RATE_PPM: i128 = 200;
/// Order ids start here.
const FIRST_ORDER_ID: i64 = 4_000_000_001;
/// Algo ids start here.
const FIRST_ALGO_ID: i64 = 2_000_001;
/// Leverage of a symbol nobody set.
pub(crate) const DEFAULT_LEVERAGE: u32 = 20;
/// Account alias of COIN-M events.
pub(crate) const ACCOUNT_ALIAS: &str = "SgsR";

/// Starting wallet balances of a market's account: (asset, amount).
pub(crate) fn starting_balances(market: FuturesMarket) -> Vec<(&'static str, &'static str)> {
    match market {
        FuturesMarket::Usdm => vec![("USDT", "100000")],
        FuturesMarket::Coinm => vec![("BTC", "10"), ("ETH", "100")],
    }
}

fn err(code: i32, msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, msg.into())
}

/// `BUY` or `SELL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Buy,
    Sell,
}

impl Side {
    pub(crate) fn parse(s: &str) -> Option<Side> {
        match s {
            "BUY" => Some(Side::Buy),
            "SELL" => Some(Side::Sell),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }

    fn sign(self) -> i128 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

/// A futures order type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Limit,
    Market,
    Stop,
    StopMarket,
    TakeProfit,
    TakeProfitMarket,
    TrailingStopMarket,
}

impl Kind {
    const ALL: [(Kind, &'static str); 7] = [
        (Kind::Limit, "LIMIT"),
        (Kind::Market, "MARKET"),
        (Kind::Stop, "STOP"),
        (Kind::StopMarket, "STOP_MARKET"),
        (Kind::TakeProfit, "TAKE_PROFIT"),
        (Kind::TakeProfitMarket, "TAKE_PROFIT_MARKET"),
        (Kind::TrailingStopMarket, "TRAILING_STOP_MARKET"),
    ];

    pub(crate) fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().find(|(_, n)| *n == s).map(|(k, _)| *k)
    }

    pub(crate) fn as_str(self) -> &'static str {
        Kind::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("LIMIT", |(_, n)| n)
    }

    /// The types the Algo Service takes (rejected `-4120` on `/fapi/v1/order`).
    pub(crate) fn is_conditional(self) -> bool {
        !matches!(self, Kind::Limit | Kind::Market)
    }

    pub(crate) fn has_price(self) -> bool {
        matches!(self, Kind::Limit | Kind::Stop | Kind::TakeProfit)
    }

    pub(crate) fn has_stop(self) -> bool {
        matches!(
            self,
            Kind::Stop | Kind::StopMarket | Kind::TakeProfit | Kind::TakeProfitMarket
        )
    }

    /// What the order becomes once triggered.
    fn triggered_kind(self) -> Kind {
        if self.has_price() {
            Kind::Limit
        } else {
            Kind::Market
        }
    }
}

/// `BOTH`, `LONG` or `SHORT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PosSide {
    Both,
    Long,
    Short,
}

impl PosSide {
    pub(crate) fn parse(s: &str) -> Option<PosSide> {
        match s {
            "BOTH" => Some(PosSide::Both),
            "LONG" => Some(PosSide::Long),
            "SHORT" => Some(PosSide::Short),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PosSide::Both => "BOTH",
            PosSide::Long => "LONG",
            PosSide::Short => "SHORT",
        }
    }
}

/// Order status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::PartiallyFilled => "PARTIALLY_FILLED",
            Status::Filled => "FILLED",
            Status::Canceled => "CANCELED",
            Status::Expired => "EXPIRED",
        }
    }

    pub(crate) fn is_open(self) -> bool {
        matches!(self, Status::New | Status::PartiallyFilled)
    }
}

/// Algo order status (`algoStatus`, `X` of `ALGO_UPDATE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AlgoStatus {
    New,
    Triggered,
    Finished,
    Canceled,
    Expired,
}

impl AlgoStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AlgoStatus::New => "NEW",
            AlgoStatus::Triggered => "TRIGGERED",
            AlgoStatus::Finished => "FINISHED",
            AlgoStatus::Canceled => "CANCELED",
            AlgoStatus::Expired => "EXPIRED",
        }
    }
}

/// The trigger settings of a conditional order (COIN-M order or USD-M algo order).
#[derive(Clone, Debug, Default)]
pub(crate) struct Trigger {
    /// Stop / trigger price (0 for trailing stops until triggered).
    pub stop: i128,
    /// `activationPrice` of a trailing stop.
    pub activation: Option<i128>,
    /// `callbackRate` in percent, `1e-8` units.
    pub callback: Option<i128>,
    /// Whether a trailing stop is activated.
    pub activated: bool,
    /// Best price since activation (trailing stops).
    pub extreme: i128,
    /// `MARK_PRICE` instead of `CONTRACT_PRICE`.
    pub mark: bool,
    pub price_protect: bool,
}

impl Trigger {
    fn working_type(&self) -> &'static str {
        if self.mark {
            "MARK_PRICE"
        } else {
            "CONTRACT_PRICE"
        }
    }
}

/// A validated new order, ready for the engine.
#[derive(Clone, Debug)]
pub(crate) struct NewOrder {
    pub symbol: String,
    pub side: Side,
    pub kind: Kind,
    pub tif: &'static str,
    pub qty: i128,
    pub price: i128,
    pub trigger: Trigger,
    pub reduce_only: bool,
    pub close_position: bool,
    pub position_side: PosSide,
    pub client_order_id: String,
    /// For an order an algo order became: its type.
    pub orig_kind: Option<Kind>,
    pub good_till_date: i64,
}

/// One order.
#[derive(Clone, Debug)]
pub(crate) struct Order {
    pub symbol: String,
    pub order_id: i64,
    pub client_order_id: String,
    pub side: Side,
    pub kind: Kind,
    pub orig_kind: Kind,
    pub tif: &'static str,
    pub price: i128,
    pub qty: i128,
    pub executed: i128,
    /// USD-M: quote transacted; COIN-M: base coin transacted.
    pub cum_value: i128,
    /// Σ price × qty, for the average price.
    pub cum_price_qty: i128,
    pub trigger: Trigger,
    pub triggered: bool,
    pub reduce_only: bool,
    pub close_position: bool,
    pub position_side: PosSide,
    pub status: Status,
    pub time: i64,
    pub update_time: i64,
    pub good_till_date: i64,
}

impl Order {
    fn avg_price(&self) -> i128 {
        if self.executed == 0 {
            0
        } else {
            div_round(self.cum_price_qty, self.executed)
        }
    }

    fn is_waiting(&self) -> bool {
        self.kind.is_conditional() && !self.triggered
    }
}

/// One fill.
#[derive(Clone, Debug)]
pub(crate) struct Trade {
    pub id: i64,
    pub order_id: i64,
    pub symbol: String,
    pub side: Side,
    pub position_side: PosSide,
    pub price: i128,
    pub qty: i128,
    /// USD-M quote quantity; COIN-M base quantity (coin value).
    pub value: i128,
    pub realized: i128,
    pub commission: i128,
    pub commission_asset: String,
    pub maker: bool,
    pub time: i64,
}

/// One USD-M algo order.
#[derive(Clone, Debug)]
pub(crate) struct AlgoOrder {
    pub algo_id: i64,
    pub client_algo_id: String,
    pub new: NewOrder,
    pub status: AlgoStatus,
    pub create_time: i64,
    pub update_time: i64,
    pub trigger_time: i64,
    /// The order it became.
    pub actual_order_id: Option<i64>,
}

/// One position (per symbol and position side).
#[derive(Clone, Debug, Default)]
pub(crate) struct Position {
    /// Signed quantity (`1e-8` units): positive long, negative short.
    pub amount: i128,
    /// USD-M: Σ qty × price (quote); COIN-M: Σ qty × size / price (coin).
    pub cost: i128,
    /// Accumulated realized PnL (`cr`).
    pub realized: i128,
    pub update_time: i64,
}

/// The account and book of one market.
#[derive(Debug, Default)]
pub(crate) struct Book {
    pub orders: Vec<Order>,
    pub trades: Vec<Trade>,
    pub algos: Vec<AlgoOrder>,
    pub positions: BTreeMap<(String, PosSide), Position>,
    /// Wallet balance by asset.
    pub wallet: BTreeMap<String, i128>,
    pub leverage: BTreeMap<String, u32>,
    pub isolated: BTreeMap<String, bool>,
    pub dual: bool,
    pub next_order_id: i64,
    pub next_trade_id: i64,
    pub next_algo_id: i64,
    pub count_10s: (i64, u32),
    pub count_1m: (i64, u32),
    /// Events not yet sent to the user streams, in order.
    pub events: Vec<Value>,
}

impl Book {
    pub(crate) fn new(market: FuturesMarket) -> Book {
        Book {
            next_order_id: FIRST_ORDER_ID,
            next_trade_id: 1,
            next_algo_id: FIRST_ALGO_ID,
            wallet: starting_balances(market)
                .into_iter()
                .filter_map(|(a, v)| Some((a.to_owned(), i128::from(parse_units(v)?))))
                .collect(),
            ..Book::default()
        }
    }

    pub(crate) fn leverage_of(&self, symbol: &str) -> u32 {
        self.leverage
            .get(symbol)
            .copied()
            .unwrap_or(DEFAULT_LEVERAGE)
    }

    pub(crate) fn is_isolated(&self, symbol: &str) -> bool {
        self.isolated.get(symbol).copied().unwrap_or(false)
    }

    /// Counts a new order in the 10 s and 1 min windows; `Err` (-1015, HTTP 429) past a
    /// limit.
    pub(crate) fn count_order(
        &mut self,
        now: i64,
        per_10s: u32,
        per_min: u32,
    ) -> Result<(u32, u32), ApiError> {
        let s10 = now.div_euclid(10_000) * 10_000;
        let m1 = now.div_euclid(60_000) * 60_000;
        if self.count_10s.0 != s10 {
            self.count_10s = (s10, 0);
        }
        if self.count_1m.0 != m1 {
            self.count_1m = (m1, 0);
        }
        let too_many = |limit: u32, interval: &str| ApiError {
            status: axum::http::StatusCode::TOO_MANY_REQUESTS,
            code: -1015,
            msg: format!("Too many new orders; current limit is {limit} orders per {interval}.")
                .into(),
        };
        if self.count_10s.1 >= per_10s {
            return Err(too_many(per_10s, "10 SECOND"));
        }
        if self.count_1m.1 >= per_min {
            return Err(too_many(per_min, "MINUTE"));
        }
        self.count_10s.1 += 1;
        self.count_1m.1 += 1;
        Ok((self.count_10s.1, self.count_1m.1))
    }

    /// Current counts of the 10 s and 1 min windows.
    pub(crate) fn counts(&self, now: i64) -> (u32, u32) {
        let c10 = if self.count_10s.0 == now.div_euclid(10_000) * 10_000 {
            self.count_10s.1
        } else {
            0
        };
        let c1m = if self.count_1m.0 == now.div_euclid(60_000) * 60_000 {
            self.count_1m.1
        } else {
            0
        };
        (c10, c1m)
    }
}

// ----- prices, units and formatting -----

/// The contract price now (module docs), `1e-8` units.
pub(crate) fn last_price(sim: &FuturesShared, c: &Contract, now: i64) -> i128 {
    if let Some(p) = read(&sim.engine.prices).get(&c.name) {
        return *p;
    }
    i128::from(c.row(now.div_euclid(MINUTE_MS)).open.units)
}

/// The mark price now, `1e-8` units.
pub(crate) fn mark_price(sim: &FuturesShared, c: &Contract, now: i64) -> i128 {
    if let Some(p) = read(&sim.engine.marks).get(&c.name) {
        return *p;
    }
    if let Some(p) = read(&sim.engine.prices).get(&c.name) {
        return *p;
    }
    derived::mark(c, now)
}

/// `units` rounded to `decimals` fractional digits, formatted with exactly that many.
pub(crate) fn fmt_dec(units: i128, decimals: u32) -> String {
    let decimals = decimals.min(8);
    let step = 10_i128.pow(8 - decimals);
    let v = div_round(units, step);
    let sign = if v < 0 { "-" } else { "" };
    let abs = v.unsigned_abs();
    if decimals == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10_u128.pow(decimals);
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = decimals as usize
    )
}

/// Quantity decimals of a contract (`quantityPrecision`).
pub(crate) fn qty_decimals(c: &Contract) -> u32 {
    c.info["quantityPrecision"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0)
}

/// The margin (and commission) asset of a contract.
pub(crate) fn margin_asset(c: &Contract) -> String {
    c.info["marginAsset"].as_str().unwrap_or("USDT").to_owned()
}

/// Value of `qty` at `price`: USD-M quote (`qty × price`), COIN-M coin
/// (`qty × size / price`); `1e-8` units.
pub(crate) fn value_of(c: &Contract, qty: i128, price: i128) -> i128 {
    match c.contract_size {
        None => div_round(qty * price, i128::from(SCALE)),
        Some(size) if price > 0 => div_round(qty * i128::from(size) * i128::from(SCALE), price),
        Some(_) => 0,
    }
}

/// Entry price of a position.
fn entry_price(c: &Contract, p: &Position) -> i128 {
    let q = p.amount.abs();
    if q == 0 || p.cost == 0 {
        return 0;
    }
    match c.contract_size {
        None => div_round(p.cost * i128::from(SCALE), q),
        Some(size) => div_round(q * i128::from(size) * i128::from(SCALE), p.cost),
    }
}

fn break_even(c: &Contract, p: &Position) -> i128 {
    let entry = entry_price(c, p);
    let adj = entry * TAKER_RATE_PPM / 1_000_000;
    if p.amount >= 0 {
        entry + adj
    } else {
        entry - adj
    }
}

fn unrealized(c: &Contract, p: &Position, mark: i128) -> i128 {
    if p.amount == 0 {
        return 0;
    }
    let dir = p.amount.signum();
    let q = p.amount.abs();
    match c.contract_size {
        None => (value_of(c, q, mark) - p.cost) * dir,
        Some(_) => (p.cost - value_of(c, q, mark)) * dir,
    }
}

/// Initial margin of a position: entry value / leverage.
fn position_margin(book: &Book, symbol: &str, p: &Position) -> i128 {
    p.cost / i128::from(book.leverage_of(symbol).max(1))
}

// ----- events -----

impl FuturesShared {
    /// `ORDER_TRADE_UPDATE` of `o` with execution type `x` (and the trade, for `TRADE`).
    fn order_event(
        &self,
        c: &Contract,
        o: &Order,
        x: &str,
        trade: Option<&Trade>,
        now: i64,
    ) -> Value {
        let pd = c.price_decimals;
        let qd = qty_decimals(c);
        let mut inner = json!({
            "s": o.symbol,
            "c": o.client_order_id,
            "S": o.side.as_str(),
            "o": o.kind.as_str(),
            "f": o.tif,
            "q": fmt_dec(o.qty, qd),
            "p": fmt_dec(o.price, pd),
            "ap": fmt_dec(o.avg_price(), pd),
            "sp": fmt_dec(o.trigger.stop, pd),
            "x": x,
            "X": o.status.as_str(),
            "i": o.order_id,
            "l": fmt_dec(trade.map_or(0, |t| t.qty), qd),
            "z": fmt_dec(o.executed, qd),
            "L": fmt_dec(trade.map_or(0, |t| t.price), pd),
            "T": now,
            "t": trade.map_or(0, |t| t.id),
            "b": "0",
            "a": "0",
            "m": trade.is_some_and(|t| t.maker),
            "R": o.reduce_only,
            "wt": o.trigger.working_type(),
            "ot": o.orig_kind.as_str(),
            "ps": o.position_side.as_str(),
            "cp": o.close_position,
            "AP": fmt_dec(o.trigger.activation.unwrap_or(0), pd),
            "cr": fmt_dec(o.trigger.callback.unwrap_or(0), 1),
            "pP": o.trigger.price_protect,
            "si": 0,
            "ss": 0,
            "rp": fmt_dec(trade.map_or(0, |t| t.realized), 8),
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": o.good_till_date,
        });
        if let Some(t) = trade {
            inner["N"] = Value::from(t.commission_asset.clone());
            inner["n"] = Value::from(fmt_dec(t.commission, 8));
        }
        if self.market == FuturesMarket::Coinm {
            inner["ma"] = Value::from(margin_asset(c));
        }
        let mut event = json!({"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": inner});
        if self.market == FuturesMarket::Coinm {
            event["i"] = Value::from(ACCOUNT_ALIAS);
        }
        event
    }

    /// `ACCOUNT_UPDATE` with reason `m`, listing `assets` and the positions of `symbol`.
    pub(crate) fn account_event(
        &self,
        book: &Book,
        reason: &str,
        balance_changes: &[(String, i128)],
        symbol: Option<&str>,
        now: i64,
    ) -> Value {
        let balances: Vec<Value> = balance_changes
            .iter()
            .map(|(asset, change)| {
                let wb = book.wallet.get(asset).copied().unwrap_or(0);
                json!({"a": asset, "wb": fmt_dec(wb, 8), "cw": fmt_dec(wb, 8), "bc": fmt_dec(*change, 8)})
            })
            .collect();
        let mut positions = Vec::new();
        if let Some(symbol) = symbol
            && let Some(c) = self.contracts.get(symbol)
        {
            let sides: &[PosSide] = if book.dual {
                &[PosSide::Long, PosSide::Short]
            } else {
                &[PosSide::Both]
            };
            let mark = mark_price(self, c, now);
            for side in sides {
                let p = book
                    .positions
                    .get(&(symbol.to_owned(), *side))
                    .cloned()
                    .unwrap_or_default();
                positions.push(self.position_event_entry(book, c, *side, &p, mark));
            }
        }
        let mut event = json!({
            "e": "ACCOUNT_UPDATE",
            "E": now,
            "T": now,
            "a": {"m": reason, "B": balances, "P": positions},
        });
        if self.market == FuturesMarket::Coinm {
            event["i"] = Value::from(ACCOUNT_ALIAS);
        }
        event
    }

    fn position_event_entry(
        &self,
        book: &Book,
        c: &Contract,
        side: PosSide,
        p: &Position,
        mark: i128,
    ) -> Value {
        let isolated = book.is_isolated(&c.name);
        json!({
            "s": c.name,
            "pa": fmt_dec(p.amount, qty_decimals(c)),
            "ep": fmt_dec(entry_price(c, p), 8),
            "bep": fmt_dec(break_even(c, p), 8),
            "cr": fmt_dec(p.realized, 8),
            "up": fmt_dec(unrealized(c, p, mark), 8),
            "mt": if isolated { "isolated" } else { "cross" },
            "iw": fmt_dec(if isolated { position_margin(book, &c.name, p) } else { 0 }, 8),
            "ps": side.as_str(),
        })
    }

    /// `ALGO_UPDATE` of an algo order.
    pub(crate) fn algo_event(&self, c: &Contract, a: &AlgoOrder, book: &Book, now: i64) -> Value {
        let pd = c.price_decimals;
        let qd = qty_decimals(c);
        let actual = a
            .actual_order_id
            .and_then(|id| book.orders.iter().find(|o| o.order_id == id));
        json!({
            "e": "ALGO_UPDATE",
            "T": now,
            "E": now,
            "o": {
                "caid": a.client_algo_id,
                "aid": a.algo_id,
                "at": "CONDITIONAL",
                "o": a.new.kind.as_str(),
                "s": a.new.symbol,
                "S": a.new.side.as_str(),
                "ps": a.new.position_side.as_str(),
                "f": a.new.tif,
                "q": fmt_dec(a.new.qty, qd),
                "X": a.status.as_str(),
                "ai": a.actual_order_id.map(|id| id.to_string()).unwrap_or_default(),
                "ap": fmt_dec(actual.map_or(0, Order::avg_price), pd),
                "aq": fmt_dec(actual.map_or(0, |o| o.executed), qd),
                "act": actual.map_or("0", |o| o.kind.as_str()),
                "tp": fmt_dec(a.new.trigger.stop, pd),
                "p": fmt_dec(a.new.price, pd),
                "V": "EXPIRE_MAKER",
                "wt": a.new.trigger.working_type(),
                "pm": "NONE",
                "cp": a.new.close_position,
                "pP": a.new.trigger.price_protect,
                "R": a.new.reduce_only,
                "tt": a.trigger_time,
                "gtd": a.new.good_till_date,
                "rm": "",
            }
        })
    }
}

// ----- REST shapes -----

impl FuturesShared {
    /// An order as `POST/GET/DELETE …/order` answer it (`query`: with `time`, as
    /// `GET …/order`, `openOrders`, `allOrders` do).
    pub(crate) fn order_json(&self, o: &Order, query: bool) -> Value {
        let Some(c) = self.contracts.get(&o.symbol) else {
            return Value::Null;
        };
        let pd = c.price_decimals;
        let qd = qty_decimals(c);
        let mut v = json!({
            "orderId": o.order_id,
            "symbol": o.symbol,
            "status": o.status.as_str(),
            "clientOrderId": o.client_order_id,
            "price": fmt_dec(o.price, pd),
            "avgPrice": fmt_dec(o.avg_price(), pd),
            "origQty": fmt_dec(o.qty, qd),
            "executedQty": fmt_dec(o.executed, qd),
            "timeInForce": o.tif,
            "type": o.kind.as_str(),
            "reduceOnly": o.reduce_only,
            "closePosition": o.close_position,
            "side": o.side.as_str(),
            "positionSide": o.position_side.as_str(),
            "stopPrice": fmt_dec(o.trigger.stop, pd),
            "workingType": o.trigger.working_type(),
            "priceProtect": o.trigger.price_protect,
            "origType": o.orig_kind.as_str(),
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "updateTime": o.update_time,
        });
        match self.market {
            FuturesMarket::Usdm => {
                v["cumQuote"] = Value::from(fmt_dec(o.cum_value, 8));
                v["goodTillDate"] = Value::from(o.good_till_date);
            }
            FuturesMarket::Coinm => {
                v["cumBase"] = Value::from(fmt_dec(o.cum_value, 8));
                v["pair"] = Value::from(c.pair.clone());
            }
        }
        if query {
            v["time"] = Value::from(o.time);
        } else {
            v["cumQty"] = Value::from(fmt_dec(o.executed, qd));
        }
        if o.kind == Kind::TrailingStopMarket {
            v["activatePrice"] = Value::from(fmt_dec(o.trigger.activation.unwrap_or(0), pd));
            v["priceRate"] = Value::from(fmt_dec(o.trigger.callback.unwrap_or(0), 1));
        }
        v
    }

    /// An algo order as the algo endpoints answer it.
    pub(crate) fn algo_json(&self, a: &AlgoOrder, book: &Book) -> Value {
        let Some(c) = self.contracts.get(&a.new.symbol) else {
            return Value::Null;
        };
        let pd = c.price_decimals;
        let qd = qty_decimals(c);
        let trailing = a.new.kind == Kind::TrailingStopMarket;
        let actual = a
            .actual_order_id
            .and_then(|id| book.orders.iter().find(|o| o.order_id == id));
        let mut v = json!({
            "algoId": a.algo_id,
            "clientAlgoId": a.client_algo_id,
            "algoType": "CONDITIONAL",
            "orderType": a.new.kind.as_str(),
            "symbol": a.new.symbol,
            "side": a.new.side.as_str(),
            "positionSide": a.new.position_side.as_str(),
            "timeInForce": a.new.tif,
            "quantity": fmt_dec(a.new.qty, qd),
            "algoStatus": a.status.as_str(),
            "actualOrderId": a.actual_order_id.map(|id| id.to_string()).unwrap_or_default(),
            "actualPrice": fmt_dec(actual.map_or(0, Order::avg_price), pd),
            "triggerPrice": fmt_dec(a.new.trigger.stop, pd),
            "price": fmt_dec(a.new.price, pd),
            "icebergQuantity": null,
            "tpTriggerPrice": "0.000",
            "tpPrice": "0.000",
            "slTriggerPrice": "0.000",
            "slPrice": "0.000",
            "tpOrderType": "",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": a.new.trigger.working_type(),
            "priceMatch": "NONE",
            "closePosition": a.new.close_position,
            "priceProtect": a.new.trigger.price_protect,
            "reduceOnly": a.new.reduce_only,
            "createTime": a.create_time,
            "updateTime": a.update_time,
            "triggerTime": a.trigger_time,
            "goodTillDate": a.new.good_till_date,
        });
        if trailing {
            v["activatePrice"] = Value::from(fmt_dec(a.new.trigger.activation.unwrap_or(0), pd));
            v["callbackRate"] = Value::from(fmt_dec(a.new.trigger.callback.unwrap_or(0), 1));
        }
        v
    }

    /// One trade as `GET …/userTrades` lists it.
    pub(crate) fn trade_json(&self, t: &Trade) -> Value {
        let Some(c) = self.contracts.get(&t.symbol) else {
            return Value::Null;
        };
        let pd = c.price_decimals;
        let qd = qty_decimals(c);
        match self.market {
            FuturesMarket::Usdm => json!({
                "buyer": t.side == Side::Buy,
                "commission": fmt_dec(t.commission, 8),
                "commissionAsset": t.commission_asset,
                "id": t.id,
                "maker": t.maker,
                "orderId": t.order_id,
                "price": fmt_dec(t.price, pd),
                "qty": fmt_dec(t.qty, qd),
                "quoteQty": fmt_dec(t.value, 8),
                "realizedPnl": fmt_dec(t.realized, 8),
                "side": t.side.as_str(),
                "positionSide": t.position_side.as_str(),
                "symbol": t.symbol,
                "time": t.time,
            }),
            FuturesMarket::Coinm => json!({
                "symbol": t.symbol,
                "id": t.id,
                "orderId": t.order_id,
                "pair": c.pair,
                "side": t.side.as_str(),
                "price": fmt_dec(t.price, pd),
                "qty": fmt_dec(t.qty, qd),
                "realizedPnl": fmt_dec(t.realized, 8),
                "marginAsset": margin_asset(c),
                "baseQty": fmt_dec(t.value, 8),
                "commission": fmt_dec(t.commission, 8),
                "commissionAsset": t.commission_asset,
                "time": t.time,
                "positionSide": t.position_side.as_str(),
                "buyer": t.side == Side::Buy,
                "maker": t.maker,
            }),
        }
    }

    /// The position entries of `positionRisk` (`all`: also empty ones, as v2 and
    /// `/dapi/v1/positionRisk` list them; v3 lists only open positions).
    pub(crate) fn position_risk(
        &self,
        book: &Book,
        symbol: Option<&str>,
        all: bool,
        now: i64,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        for c in self.contracts.listed() {
            if symbol.is_some_and(|s| s != c.name) {
                continue;
            }
            let sides: &[PosSide] = if book.dual {
                &[PosSide::Long, PosSide::Short]
            } else {
                &[PosSide::Both]
            };
            let mark = mark_price(self, c, now);
            for side in sides {
                let p = book
                    .positions
                    .get(&(c.name.clone(), *side))
                    .cloned()
                    .unwrap_or_default();
                if !all && p.amount == 0 {
                    continue;
                }
                let isolated = book.is_isolated(&c.name);
                let lev = book.leverage_of(&c.name);
                let iw = if isolated {
                    position_margin(book, &c.name, &p)
                } else {
                    0
                };
                let up = unrealized(c, &p, mark);
                let mut v = json!({
                    "symbol": c.name,
                    "positionAmt": fmt_dec(p.amount, qty_decimals(c)),
                    "entryPrice": fmt_dec(entry_price(c, &p), 8),
                    "breakEvenPrice": fmt_dec(break_even(c, &p), 8),
                    "markPrice": fmt_dec(mark, 8),
                    "unRealizedProfit": fmt_dec(up, 8),
                    "liquidationPrice": "0",
                    "leverage": lev.to_string(),
                    "marginType": if isolated { "isolated" } else { "cross" },
                    "isolatedMargin": fmt_dec(if isolated { iw + up } else { 0 }, 8),
                    "isAutoAddMargin": "false",
                    "positionSide": side.as_str(),
                    "isolatedWallet": fmt_dec(iw, 8),
                    "updateTime": p.update_time,
                });
                match self.market {
                    FuturesMarket::Usdm => {
                        v["maxNotionalValue"] = Value::from("1000000");
                        v["notional"] = Value::from(fmt_dec(
                            value_of(c, p.amount.abs(), mark) * p.amount.signum(),
                            8,
                        ));
                    }
                    FuturesMarket::Coinm => {
                        v["maxQty"] = Value::from("1000");
                        v["notionalValue"] = Value::from(fmt_dec(
                            value_of(c, p.amount.abs(), mark) * p.amount.signum(),
                            8,
                        ));
                    }
                }
                out.push(v);
            }
        }
        out
    }

    /// The account document (`/fapi/v2/account`, `/fapi/v3/account`, `/dapi/v1/account`).
    pub(crate) fn account_json(&self, book: &Book, now: i64) -> Value {
        let mut per_asset: BTreeMap<String, (i128, i128, i128, i128)> = BTreeMap::new();
        for (asset, wb) in &book.wallet {
            per_asset.insert(asset.clone(), (*wb, 0, 0, 0));
        }
        let mut positions = Vec::new();
        for c in self.contracts.listed() {
            let asset = margin_asset(c);
            let mark = mark_price(self, c, now);
            let sides: &[PosSide] = if book.dual {
                &[PosSide::Long, PosSide::Short]
            } else {
                &[PosSide::Both]
            };
            for side in sides {
                let p = book
                    .positions
                    .get(&(c.name.clone(), *side))
                    .cloned()
                    .unwrap_or_default();
                let up = unrealized(c, &p, mark);
                let im = position_margin(book, &c.name, &p);
                let oim = open_order_margin(book, c, Some(*side), self, now);
                let entry = per_asset.entry(asset.clone()).or_default();
                entry.1 += up;
                entry.2 += im;
                entry.3 += oim;
                let mut v = json!({
                    "symbol": c.name,
                    "initialMargin": fmt_dec(im + oim, 8),
                    "maintMargin": fmt_dec(im / 2, 8),
                    "unrealizedProfit": fmt_dec(up, 8),
                    "positionInitialMargin": fmt_dec(im, 8),
                    "openOrderInitialMargin": fmt_dec(oim, 8),
                    "leverage": book.leverage_of(&c.name).to_string(),
                    "isolated": book.is_isolated(&c.name),
                    "entryPrice": fmt_dec(entry_price(c, &p), 8),
                    "breakEvenPrice": fmt_dec(break_even(c, &p), 8),
                    "positionSide": side.as_str(),
                    "positionAmt": fmt_dec(p.amount, qty_decimals(c)),
                    "updateTime": p.update_time,
                });
                match self.market {
                    FuturesMarket::Usdm => {
                        v["maxNotional"] = Value::from("1000000");
                        v["bidNotional"] = Value::from("0");
                        v["askNotional"] = Value::from("0");
                    }
                    FuturesMarket::Coinm => {
                        v["maxQty"] = Value::from("1000");
                    }
                }
                positions.push(v);
            }
        }
        let assets: Vec<Value> = per_asset
            .iter()
            .map(|(asset, (wb, up, im, oim))| {
                let available = wb + up - im - oim;
                let mut v = json!({
                    "asset": asset,
                    "walletBalance": fmt_dec(*wb, 8),
                    "unrealizedProfit": fmt_dec(*up, 8),
                    "marginBalance": fmt_dec(wb + up, 8),
                    "maintMargin": fmt_dec(im / 2, 8),
                    "initialMargin": fmt_dec(im + oim, 8),
                    "positionInitialMargin": fmt_dec(*im, 8),
                    "openOrderInitialMargin": fmt_dec(*oim, 8),
                    "crossWalletBalance": fmt_dec(*wb, 8),
                    "crossUnPnl": fmt_dec(*up, 8),
                    "availableBalance": fmt_dec(available, 8),
                    "maxWithdrawAmount": fmt_dec(available.min(*wb), 8),
                    "updateTime": now,
                });
                if self.market == FuturesMarket::Usdm {
                    v["marginAvailable"] = Value::from(true);
                }
                v
            })
            .collect();
        match self.market {
            FuturesMarket::Usdm => {
                let sum = |f: fn(&(i128, i128, i128, i128)) -> i128| -> String {
                    fmt_dec(per_asset.values().map(f).sum(), 8)
                };
                json!({
                    "feeTier": 0,
                    "canTrade": true,
                    "canDeposit": true,
                    "canWithdraw": true,
                    "updateTime": 0,
                    "multiAssetsMargin": false,
                    "tradeGroupId": -1,
                    "totalInitialMargin": sum(|a| a.2 + a.3),
                    "totalMaintMargin": sum(|a| a.2 / 2),
                    "totalWalletBalance": sum(|a| a.0),
                    "totalUnrealizedProfit": sum(|a| a.1),
                    "totalMarginBalance": sum(|a| a.0 + a.1),
                    "totalPositionInitialMargin": sum(|a| a.2),
                    "totalOpenOrderInitialMargin": sum(|a| a.3),
                    "totalCrossWalletBalance": sum(|a| a.0),
                    "totalCrossUnPnl": sum(|a| a.1),
                    "availableBalance": sum(|a| a.0 + a.1 - a.2 - a.3),
                    "maxWithdrawAmount": sum(|a| (a.0 + a.1 - a.2 - a.3).min(a.0)),
                    "assets": assets,
                    "positions": positions,
                })
            }
            FuturesMarket::Coinm => json!({
                "assets": assets,
                "positions": positions,
                "canDeposit": true,
                "canTrade": true,
                "canWithdraw": true,
                "feeTier": 0,
                "updateTime": 0,
            }),
        }
    }
}

/// Initial margin of the open (not yet filled) orders of `c` on `side` (all sides: `None`).
fn open_order_margin(
    book: &Book,
    c: &Contract,
    side: Option<PosSide>,
    sim: &FuturesShared,
    now: i64,
) -> i128 {
    let lev = i128::from(book.leverage_of(&c.name).max(1));
    book.orders
        .iter()
        .filter(|o| o.symbol == c.name && o.status.is_open() && !o.reduce_only && !o.close_position)
        .filter(|o| side.is_none_or(|s| s == o.position_side))
        .map(|o| {
            let price = if o.price > 0 {
                o.price
            } else {
                last_price(sim, c, now)
            };
            value_of(c, o.qty - o.executed, price) / lev
        })
        .sum()
}

// ----- the engine -----

/// What a triggered trigger condition compares.
fn condition_met(kind: Kind, side: Side, stop: i128, price: i128) -> bool {
    match (kind, side) {
        (Kind::Stop | Kind::StopMarket, Side::Buy)
        | (Kind::TakeProfit | Kind::TakeProfitMarket, Side::Sell) => price >= stop,
        (Kind::Stop | Kind::StopMarket, Side::Sell)
        | (Kind::TakeProfit | Kind::TakeProfitMarket, Side::Buy) => price <= stop,
        _ => false,
    }
}

/// Advances a trailing stop with `price`; whether it triggers now.
fn trailing_step(t: &mut Trigger, side: Side, price: i128) -> bool {
    if !t.activated {
        let reached = match (t.activation, side) {
            (None, _) => true,
            (Some(a), Side::Sell) => price >= a,
            (Some(a), Side::Buy) => price <= a,
        };
        if !reached {
            return false;
        }
        t.activated = true;
        t.extreme = price;
    }
    let rate = t.callback.unwrap_or(0);
    match side {
        Side::Sell => {
            t.extreme = t.extreme.max(price);
            let stop = t.extreme - div_round(t.extreme * rate, 100 * i128::from(SCALE));
            t.stop = stop;
            price <= stop
        }
        Side::Buy => {
            if t.extreme == 0 {
                t.extreme = price;
            }
            t.extreme = t.extreme.min(price);
            let stop = t.extreme + div_round(t.extreme * rate, 100 * i128::from(SCALE));
            t.stop = stop;
            price >= stop
        }
    }
}

/// Whether a trigger would fire at `last` / `mark` (without changing it).
pub(crate) fn would_trigger(kind: Kind, side: Side, t: &Trigger, last: i128, mark: i128) -> bool {
    let price = if t.mark { mark } else { last };
    if kind == Kind::TrailingStopMarket {
        return false;
    }
    condition_met(kind, side, t.stop, price)
}

impl FuturesShared {
    /// Checks position-side rules and reduce-only; returns the position side to use.
    pub(crate) fn check_position_rules(&self, book: &Book, o: &NewOrder) -> Result<(), ApiError> {
        let mismatch = || {
            err(
                -4061,
                "Order's position side does not match user's setting.",
            )
        };
        if book.dual {
            if o.position_side == PosSide::Both {
                return Err(mismatch());
            }
            if o.reduce_only {
                return Err(err(-1106, "Parameter 'reduceonly' sent when not required."));
            }
        } else if o.position_side != PosSide::Both {
            return Err(mismatch());
        }
        if book.dual && closing_side(book, o) && !o.kind.is_conditional() && !o.close_position {
            // Hedge mode: closing more than the position holds is refused.
            let held = book
                .positions
                .get(&(o.symbol.clone(), o.position_side))
                .map_or(0, |p| p.amount.abs());
            if o.qty > held {
                return Err(err(-2022, "ReduceOnly Order is rejected."));
            }
        }
        if o.reduce_only && !o.kind.is_conditional() {
            let amount = book
                .positions
                .get(&(o.symbol.clone(), PosSide::Both))
                .map_or(0, |p| p.amount);
            if amount == 0 || amount.signum() == o.side.sign() {
                return Err(err(-2022, "ReduceOnly Order is rejected."));
            }
        }
        Ok(())
    }

    /// Checks the initial margin an order needs.
    fn check_margin(
        &self,
        book: &Book,
        c: &Contract,
        o: &NewOrder,
        now: i64,
    ) -> Result<(), ApiError> {
        if o.reduce_only || o.close_position || closing_side(book, o) {
            return Ok(());
        }
        let price = if o.price > 0 {
            o.price
        } else {
            last_price(self, c, now)
        };
        let lev = i128::from(book.leverage_of(&o.symbol).max(1));
        let need = value_of(c, o.qty, price) / lev;
        let asset = margin_asset(c);
        let wallet = book.wallet.get(&asset).copied().unwrap_or(0);
        let mut used = 0;
        let mut up = 0;
        for other in self.contracts.listed() {
            if margin_asset(other) != asset {
                continue;
            }
            let mark = mark_price(self, other, now);
            for ((symbol, _), p) in book.positions.iter().filter(|((s, _), _)| *s == other.name) {
                used += position_margin(book, symbol, p);
                up += unrealized(other, p, mark);
            }
            used += open_order_margin(book, other, None, self, now);
        }
        if need > wallet + up - used {
            return Err(err(-2019, "Margin is insufficient."));
        }
        Ok(())
    }

    /// Accepts a new order (all parameter and filter checks done): records it, emits
    /// `NEW` and fills what fills at once. Returns its index.
    pub(crate) fn accept(&self, book: &mut Book, o: NewOrder, now: i64) -> Result<usize, ApiError> {
        let c = self
            .contracts
            .get(&o.symbol)
            .ok_or_else(ApiError::invalid_symbol)?;
        self.check_position_rules(book, &o)?;
        let last = last_price(self, c, now);
        let mark = mark_price(self, c, now);
        if o.kind.has_stop() && would_trigger(o.kind, o.side, &o.trigger, last, mark) {
            return Err(err(-2021, "Order would immediately trigger."));
        }
        if o.kind == Kind::Limit && o.tif == "GTX" && crosses(o.side, o.price, last) {
            return Err(err(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history",
            ));
        }
        self.check_margin(book, c, &o, now)?;
        let order_id = book.next_order_id;
        book.next_order_id += 1;
        let mut trigger = o.trigger.clone();
        if o.kind == Kind::TrailingStopMarket {
            let price = if trigger.mark { mark } else { last };
            trailing_step(&mut trigger, o.side, price);
        }
        let order = Order {
            symbol: o.symbol.clone(),
            order_id,
            client_order_id: o.client_order_id.clone(),
            side: o.side,
            kind: o.kind,
            orig_kind: o.orig_kind.unwrap_or(o.kind),
            tif: o.tif,
            price: o.price,
            qty: o.qty,
            executed: 0,
            cum_value: 0,
            cum_price_qty: 0,
            trigger,
            triggered: false,
            reduce_only: o.reduce_only,
            close_position: o.close_position,
            position_side: o.position_side,
            status: Status::New,
            time: now,
            update_time: now,
            good_till_date: o.good_till_date,
        };
        book.orders.push(order);
        let i = book.orders.len() - 1;
        let event = self.order_event(c, &book.orders[i], "NEW", None, now);
        book.events.push(event);
        match o.kind {
            Kind::Market => self.fill(book, c, i, last, false, now),
            Kind::Limit => {
                if crosses(o.side, o.price, last) {
                    self.fill(book, c, i, last, false, now);
                } else if matches!(o.tif, "IOC" | "FOK") {
                    self.finish(book, c, i, Status::Expired, "EXPIRED", now);
                }
            }
            _ => {}
        }
        Ok(i)
    }

    /// Sets an order final and emits its event.
    pub(crate) fn finish(
        &self,
        book: &mut Book,
        c: &Contract,
        i: usize,
        status: Status,
        x: &str,
        now: i64,
    ) {
        let o = &mut book.orders[i];
        o.status = status;
        o.update_time = now;
        let event = self.order_event(c, &book.orders[i], x, None, now);
        book.events.push(event);
        self.algo_finished(book, i, now);
    }

    /// Fills what remains of order `i` at `price` (capped for reduce-only / closing
    /// orders by the position).
    fn fill(&self, book: &mut Book, c: &Contract, i: usize, price: i128, maker: bool, now: i64) {
        let o = book.orders[i].clone();
        let pos_side = if book.dual {
            o.position_side
        } else {
            PosSide::Both
        };
        let key = (o.symbol.clone(), pos_side);
        let pos = book.positions.get(&key).cloned().unwrap_or_default();
        let remaining = o.qty - o.executed;
        let closing = match pos_side {
            PosSide::Both => pos.amount != 0 && pos.amount.signum() != o.side.sign(),
            PosSide::Long => o.side == Side::Sell,
            PosSide::Short => o.side == Side::Buy,
        };
        let must_reduce = o.reduce_only || o.close_position || pos_side != PosSide::Both && closing;
        let qty = if o.close_position {
            if closing { pos.amount.abs() } else { 0 }
        } else if must_reduce {
            if closing {
                remaining.min(pos.amount.abs())
            } else {
                0
            }
        } else {
            remaining
        };
        if qty <= 0 {
            self.finish(book, c, i, Status::Expired, "EXPIRED", now);
            return;
        }
        // Position change.
        let mut p = pos;
        let mut realized = 0;
        let close_qty = if closing { qty.min(p.amount.abs()) } else { 0 };
        if close_qty > 0 {
            let q = p.amount.abs();
            let entry_part = div_round(p.cost * close_qty, q);
            let exit_value = value_of(c, close_qty, price);
            let dir = p.amount.signum();
            realized = match c.contract_size {
                None => (exit_value - entry_part) * dir,
                Some(_) => (entry_part - exit_value) * dir,
            };
            p.cost -= entry_part;
            p.amount -= close_qty * dir;
            p.realized += realized;
        }
        let open_qty = qty - close_qty;
        if open_qty > 0 {
            p.amount += open_qty * o.side.sign();
            p.cost += value_of(c, open_qty, price);
        }
        if p.amount == 0 {
            p.cost = 0;
        }
        p.update_time = now;
        book.positions.insert(key, p);
        // Money.
        let value = value_of(c, qty, price);
        let rate = if maker {
            MAKER_RATE_PPM
        } else {
            TAKER_RATE_PPM
        };
        let commission = div_round(value * rate, 1_000_000);
        let asset = margin_asset(c);
        let change = realized - commission;
        *book.wallet.entry(asset.clone()).or_default() += change;
        let trade = Trade {
            id: book.next_trade_id,
            order_id: o.order_id,
            symbol: o.symbol.clone(),
            side: o.side,
            position_side: o.position_side,
            price,
            qty,
            value,
            realized,
            commission,
            commission_asset: asset.clone(),
            maker,
            time: now,
        };
        book.next_trade_id += 1;
        let ord = &mut book.orders[i];
        ord.executed += qty;
        ord.cum_value += value;
        ord.cum_price_qty += price * qty;
        ord.update_time = now;
        ord.status = if ord.executed >= ord.qty || ord.close_position {
            Status::Filled
        } else {
            Status::PartiallyFilled
        };
        if ord.close_position {
            ord.qty = ord.executed;
        }
        let event = self.order_event(c, &book.orders[i], "TRADE", Some(&trade), now);
        book.events.push(event);
        book.trades.push(trade);
        let account = self.account_event(book, "ORDER", &[(asset, change)], Some(&o.symbol), now);
        book.events.push(account);
        if book.orders[i].status == Status::PartiallyFilled {
            // A reduce-only remainder the position cannot take expires.
            self.finish(book, c, i, Status::Expired, "EXPIRED", now);
        } else {
            self.algo_finished(book, i, now);
        }
    }

    /// When order `i` came from an algo order and is final: the algo order is FINISHED.
    fn algo_finished(&self, book: &mut Book, i: usize, now: i64) {
        let o = &book.orders[i];
        if o.status.is_open() {
            return;
        }
        let id = o.order_id;
        let Some(a) = book
            .algos
            .iter()
            .position(|a| a.actual_order_id == Some(id) && a.status == AlgoStatus::Triggered)
        else {
            return;
        };
        book.algos[a].status = AlgoStatus::Finished;
        book.algos[a].update_time = now;
        if let Some(c) = self.contracts.get(&book.algos[a].new.symbol) {
            let event = self.algo_event(c, &book.algos[a], book, now);
            book.events.push(event);
        }
    }

    /// Cancels algo order `a` (status NEW) and reports it.
    pub(crate) fn cancel_algo(&self, book: &mut Book, a: usize, now: i64) {
        book.algos[a].status = AlgoStatus::Canceled;
        book.algos[a].update_time = now;
        if let Some(c) = self.contracts.get(&book.algos[a].new.symbol) {
            let event = self.algo_event(c, &book.algos[a], book, now);
            book.events.push(event);
        }
    }

    /// Evaluates resting, conditional and algo orders against the prices at `now`.
    pub(crate) fn sweep(&self, book: &mut Book, now: i64) {
        for i in 0..book.orders.len() {
            if !book.orders[i].status.is_open() {
                continue;
            }
            let Some(c) = self.contracts.get(&book.orders[i].symbol) else {
                continue;
            };
            let last = last_price(self, c, now);
            let mark = mark_price(self, c, now);
            let o = &mut book.orders[i];
            let (kind, side, limit) = (o.kind, o.side, o.price);
            if o.is_waiting() {
                let price = if o.trigger.mark { mark } else { last };
                let fire = if kind == Kind::TrailingStopMarket {
                    trailing_step(&mut o.trigger, side, price)
                } else {
                    condition_met(kind, side, o.trigger.stop, price)
                };
                if !fire {
                    continue;
                }
                o.triggered = true;
                o.update_time = now;
                if kind.triggered_kind() == Kind::Market || crosses(side, limit, last) {
                    self.fill(book, c, i, last, false, now);
                }
                continue;
            }
            if kind.triggered_kind() == Kind::Limit && crosses(side, limit, last) {
                self.fill(book, c, i, limit, true, now);
            }
        }
        self.sweep_algos(book, now);
    }

    fn sweep_algos(&self, book: &mut Book, now: i64) {
        for a in 0..book.algos.len() {
            if book.algos[a].status != AlgoStatus::New {
                continue;
            }
            let Some(c) = self.contracts.get(&book.algos[a].new.symbol) else {
                continue;
            };
            let last = last_price(self, c, now);
            let mark = mark_price(self, c, now);
            let algo = &mut book.algos[a];
            let n = &mut algo.new;
            let price = if n.trigger.mark { mark } else { last };
            let fire = if n.kind == Kind::TrailingStopMarket {
                trailing_step(&mut n.trigger, n.side, price)
            } else {
                condition_met(n.kind, n.side, n.trigger.stop, price)
            };
            if !fire {
                continue;
            }
            self.trigger_algo(book, c, a, now);
        }
    }

    /// Places the order algo order `a` becomes and reports it.
    fn trigger_algo(&self, book: &mut Book, c: &Contract, a: usize, now: i64) {
        let algo = book.algos[a].clone();
        let mut n = algo.new.clone();
        n.orig_kind = Some(n.kind);
        n.kind = n.kind.triggered_kind();
        n.client_order_id = algo.client_algo_id.clone();
        if n.kind == Kind::Limit && n.tif == "GTX" {
            n.tif = "GTC";
        }
        if n.close_position {
            let key_side = if book.dual {
                n.position_side
            } else {
                PosSide::Both
            };
            let amount = book
                .positions
                .get(&(n.symbol.clone(), key_side))
                .map_or(0, |p| p.amount);
            n.qty = amount.abs();
        }
        book.algos[a].trigger_time = now;
        book.algos[a].update_time = now;
        // TRIGGERING, then TRIGGERED with the order id once it is in the book.
        let mut triggering = self.algo_event(c, &book.algos[a], book, now);
        triggering["o"]["X"] = Value::from("TRIGGERING");
        book.events.push(triggering);
        let placed = if n.qty > 0 {
            let reduce_only = n.reduce_only || n.close_position;
            n.reduce_only = reduce_only && !book.dual;
            n.close_position = false;
            self.accept_triggered(book, n.clone(), now)
        } else {
            None
        };
        match placed {
            Some(i) => {
                book.algos[a].actual_order_id = Some(book.orders[i].order_id);
                book.algos[a].status = AlgoStatus::Triggered;
                let event = self.algo_event(c, &book.algos[a], book, now);
                book.events.push(event);
                self.algo_finished(book, i, now);
            }
            None => {
                book.algos[a].status = AlgoStatus::Expired;
                let event = self.algo_event(c, &book.algos[a], book, now);
                book.events.push(event);
            }
        }
    }

    /// Places the order of a triggered algo order, bypassing the trigger checks. The
    /// order is recorded first (events `NEW`) and filled as a new order would be.
    fn accept_triggered(&self, book: &mut Book, o: NewOrder, now: i64) -> Option<usize> {
        match self.accept(book, o, now) {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::debug!(code = e.code, msg = %e.msg, "triggered algo order refused");
                None
            }
        }
    }
}

/// Whether a limit `price` on `side` is reached by the contract price `last`.
fn crosses(side: Side, price: i128, last: i128) -> bool {
    match side {
        Side::Buy => last <= price,
        Side::Sell => last >= price,
    }
}

/// Whether `o` reduces a hedge-mode position (no margin needed).
fn closing_side(book: &Book, o: &NewOrder) -> bool {
    book.dual
        && matches!(
            (o.position_side, o.side),
            (PosSide::Long, Side::Sell) | (PosSide::Short, Side::Buy)
        )
}

/// The trading state of one market plus its knobs.
#[derive(Debug)]
pub(crate) struct Engine {
    pub book: std::sync::Mutex<Book>,
    /// Contract (and mark) price overrides by symbol, `1e-8` units.
    pub prices: std::sync::RwLock<std::collections::HashMap<String, i128>>,
    /// Mark price overrides by symbol, `1e-8` units.
    pub marks: std::sync::RwLock<std::collections::HashMap<String, i128>>,
    pub api_key: String,
    pub api_secret: String,
    pub fault: std::sync::Mutex<Option<crate::OrderFault>>,
    /// Conditional types sent to `POST /fapi/v1/order` (answered -4120).
    pub conditional_attempts: std::sync::atomic::AtomicU64,
    pub orders_per_10s: std::sync::atomic::AtomicU32,
    pub orders_per_min: std::sync::atomic::AtomicU32,
}

/// New orders allowed per 10 s by default (the ORDERS limit exchange info states).
pub(crate) const DEFAULT_ORDERS_PER_10S: u32 = 300;
/// New orders allowed per minute by default.
pub(crate) const DEFAULT_ORDERS_PER_MIN: u32 = 1200;

impl Engine {
    pub(crate) fn new(market: FuturesMarket, config: &crate::SimConfig) -> Engine {
        Engine {
            book: std::sync::Mutex::new(Book::new(market)),
            prices: std::sync::RwLock::default(),
            marks: std::sync::RwLock::default(),
            api_key: config.api_key.clone(),
            api_secret: config.api_secret.clone(),
            fault: std::sync::Mutex::new(None),
            conditional_attempts: std::sync::atomic::AtomicU64::new(0),
            orders_per_10s: std::sync::atomic::AtomicU32::new(DEFAULT_ORDERS_PER_10S),
            orders_per_min: std::sync::atomic::AtomicU32::new(DEFAULT_ORDERS_PER_MIN),
        }
    }

    /// Whether `signature` is the HMAC-SHA256 (hex, either case) of `payload`.
    pub(crate) fn signature_matches(&self, payload: &str, signature: &str) -> bool {
        use hmac::{Hmac, KeyInit, Mac};
        let Ok(mut mac) =
            <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(self.api_secret.as_bytes())
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
}
