//! The query methods (`ticker.get`, `market.get`, `trade.list`) and the order
//! conveniences (`order.cancel_all`, `order.test`), with their parameters and views. Part of [`super`] (the one definition of the control protocol); like it, this
//! file imports only the domain.
//!
//! Times are ms since the Unix epoch, UTC; prices and quantities are decimal strings.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Method;
use super::OrderView;
use crate::domain::{Market, OrderRequest, OrderType, Side, Symbol, decimal_str};

/// `ticker.get`: the symbol's live 24-hour ticker, asked from the exchange now (not from
/// the database): last price, best bid and ask, the window's open, high, low, change and
/// volumes. Binance: "24hr ticker price change statistics" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>.
pub struct TickerGet;
impl Method for TickerGet {
    const NAME: &'static str = "ticker.get";
    type Params = MarketSymbolParams;
    type Result = TickerView;
}

/// `market.get`: a symbol's trading rules from the exchange's `exchangeInfo` (cached for a
/// few minutes): status, assets, tick and step sizes, price and quantity bounds, minimum
/// notional, precisions and order types. Binance:
/// <https://developers.binance.com/docs/binance-spot-api-docs/filters>.
pub struct MarketGet;
impl Method for MarketGet {
    const NAME: &'static str = "market.get";
    type Params = MarketSymbolParams;
    type Result = MarketView;
}

/// `trade.list`: your fills, from the `executions` table (the database only), newest
/// first.
pub struct TradeList;
impl Method for TradeList {
    const NAME: &'static str = "trade.list";
    type Params = TradeListParams;
    type Result = Vec<TradeView>;
}

/// Parameters naming one symbol of one market (`ticker.get`, `market.get`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketSymbolParams {
    /// The exchange's name, e.g. `"BTCUSDT"` (lower case is accepted).
    pub symbol: Symbol,
    /// `"spot"` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
}

/// The number of fills `trade.list` returns when no `limit` is given.
pub const TRADE_LIST_DEFAULT_LIMIT: u32 = 100;
/// The most fills one `trade.list` returns.
pub const TRADE_LIST_MAX_LIMIT: u32 = 5000;

/// `trade.list` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TradeListParams {
    /// Only this symbol's fills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<Symbol>,
    /// `"spot"` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
    /// Only fills at or after this time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// Only fills at or before this time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
    /// 1..=[`TRADE_LIST_MAX_LIMIT`]; absent: [`TRADE_LIST_DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// A live 24-hour ticker (`ticker.get`). Market prices and volumes are decimal strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickerView {
    #[serde(rename = "market")]
    pub market: Market,
    #[serde(rename = "symbol")]
    pub symbol: Symbol,
    /// Last traded price.
    #[serde(rename = "last")]
    pub last: String,
    /// Best bid price and quantity.
    #[serde(rename = "bid")]
    pub bid: String,
    #[serde(rename = "bid_qty")]
    pub bid_qty: String,
    /// Best ask price and quantity.
    #[serde(rename = "ask")]
    pub ask: String,
    #[serde(rename = "ask_qty")]
    pub ask_qty: String,
    /// Price at the window's start, and its high and low.
    #[serde(rename = "open")]
    pub open: String,
    #[serde(rename = "high")]
    pub high: String,
    #[serde(rename = "low")]
    pub low: String,
    /// Change over the window, percent.
    #[serde(rename = "change_percent")]
    pub change_percent: String,
    /// Base-asset and quote-asset volume over the window.
    #[serde(rename = "volume")]
    pub volume: String,
    #[serde(rename = "quote_volume")]
    pub quote_volume: String,
    /// Trades in the window.
    #[serde(rename = "trades")]
    pub trades: u64,
    /// The window, ms.
    #[serde(rename = "open_time")]
    pub open_time: i64,
    #[serde(rename = "close_time")]
    pub close_time: i64,
}

/// A symbol's trading rules (`market.get`); a filter the exchange did not publish is
/// `null`. Decimals are strings; a zero bound means "no bound" (Binance's convention).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketView {
    #[serde(rename = "market")]
    pub market: Market,
    #[serde(rename = "symbol")]
    pub symbol: Symbol,
    /// `TRADING`, `BREAK`, `HALT` …
    #[serde(rename = "status")]
    pub status: String,
    #[serde(rename = "base_asset")]
    pub base_asset: String,
    #[serde(rename = "quote_asset")]
    pub quote_asset: String,
    /// `PRICE_FILTER`: prices are multiples of `tick_size` within `min_price..=max_price`.
    #[serde(rename = "tick_size", with = "decimal_str::option")]
    pub tick_size: Option<Decimal>,
    #[serde(rename = "min_price", with = "decimal_str::option")]
    pub min_price: Option<Decimal>,
    #[serde(rename = "max_price", with = "decimal_str::option")]
    pub max_price: Option<Decimal>,
    /// `LOT_SIZE`: quantities are multiples of `step_size` within `min_qty..=max_qty`.
    #[serde(rename = "step_size", with = "decimal_str::option")]
    pub step_size: Option<Decimal>,
    #[serde(rename = "min_qty", with = "decimal_str::option")]
    pub min_qty: Option<Decimal>,
    #[serde(rename = "max_qty", with = "decimal_str::option")]
    pub max_qty: Option<Decimal>,
    /// `MARKET_LOT_SIZE`'s step and bounds, for MARKET orders.
    #[serde(rename = "market_step_size", with = "decimal_str::option")]
    pub market_step_size: Option<Decimal>,
    #[serde(rename = "market_max_qty", with = "decimal_str::option")]
    pub market_max_qty: Option<Decimal>,
    /// `NOTIONAL` (else `MIN_NOTIONAL`): the least price × quantity, quote asset.
    #[serde(rename = "min_notional", with = "decimal_str::option")]
    pub min_notional: Option<Decimal>,
    /// `NOTIONAL`'s most price × quantity (zero: none).
    #[serde(rename = "max_notional", with = "decimal_str::option")]
    pub max_notional: Option<Decimal>,
    /// Decimal places of a valid price (from the tick size).
    #[serde(rename = "price_precision")]
    pub price_precision: Option<u32>,
    /// Decimal places of a valid quantity (from the step size).
    #[serde(rename = "quantity_precision")]
    pub quantity_precision: Option<u32>,
    /// The order types the symbol allows.
    #[serde(rename = "order_types")]
    pub order_types: Vec<OrderType>,
    /// Whether MARKET orders may give a quote quantity.
    #[serde(rename = "quote_order_qty_market_allowed")]
    pub quote_order_qty_market_allowed: bool,
    /// A futures symbol's contract spec (type, size, delivery and onboard dates) from its
    /// market's `exchangeInfo`; absent on spot.
    #[serde(rename = "contract", default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<super::ContractView>,
}

/// One fill of yours (`trade.list`), from `executions`. Decimals are strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeView {
    /// The exchange's time of the fill, ms.
    #[serde(rename = "time")]
    pub time: i64,
    #[serde(rename = "market")]
    pub market: Market,
    #[serde(rename = "symbol")]
    pub symbol: Symbol,
    /// The exchange's trade id.
    #[serde(rename = "trade_id")]
    pub trade_id: i64,
    /// The exchange's order id.
    #[serde(rename = "order_id")]
    pub order_id: i64,
    #[serde(rename = "client_order_id")]
    pub client_order_id: Option<String>,
    #[serde(rename = "side")]
    pub side: Option<Side>,
    /// Price, quote asset.
    #[serde(rename = "price", with = "decimal_str")]
    pub price: Decimal,
    /// Base-asset quantity.
    #[serde(rename = "qty", with = "decimal_str")]
    pub qty: Decimal,
    /// Quote-asset amount (price × qty when the exchange did not say).
    #[serde(rename = "quote_qty", with = "decimal_str")]
    pub quote_qty: Decimal,
    #[serde(rename = "commission", with = "decimal_str")]
    pub commission: Decimal,
    #[serde(rename = "commission_asset")]
    pub commission_asset: Option<String>,
    /// Whether the order was the maker; `null` when not reported.
    #[serde(rename = "maker")]
    pub maker: Option<bool>,
    /// Realized profit and loss (futures only; `null` on spot).
    #[serde(rename = "realized_pnl", with = "decimal_str::option")]
    pub realized_pnl: Option<Decimal>,
}

/// `order.cancel_all`: cancels every open order of a symbol in one request
/// (`DELETE /api/v3/openOrders`, "Cancel All Open Orders on a Symbol (TRADE)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>);
/// the rows follow. Returns the cancelled orders as stored (empty when none was open).
pub struct OrderCancelAll;
impl Method for OrderCancelAll {
    const NAME: &'static str = "order.cancel_all";
    type Params = MarketSymbolParams;
    type Result = Vec<OrderView>;
}

/// `order.test`: `order.place`'s local checks, then the exchange's test endpoint
/// (`POST /api/v3/order/test`, "Test new order (TRADE)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>).
/// Nothing is placed and nothing is stored.
pub struct OrderTest;
impl Method for OrderTest {
    const NAME: &'static str = "order.test";
    type Params = OrderRequest;
    type Result = OrderTested;
}

/// The result of `order.test`: the order passed the local checks and the exchange's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTested {
    #[serde(rename = "symbol")]
    pub symbol: Symbol,
    /// Always `true` (a refusal is an error response).
    #[serde(rename = "accepted")]
    pub accepted: bool,
    /// Always `false`: nothing was placed or stored.
    #[serde(rename = "placed")]
    pub placed: bool,
}
