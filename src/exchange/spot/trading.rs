//! The spot trading and account endpoints: signed, on top of
//! [`SpotClient`]'s request machinery, and their JSON shapes (private). Binance:
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints> and
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>.
//!
//! | method | endpoint | weight | sent |
//! |---|---|---|---|
//! | [`SpotClient::place_order`] | `POST /api/v3/order` (`newOrderRespType=FULL`) | 1 | once |
//! | [`SpotClient::test_order`] | `POST /api/v3/order/test` | 1 | once |
//! | [`SpotClient::query_order`] | `GET /api/v3/order` | 4 | retried |
//! | [`SpotClient::cancel_order`] | `DELETE /api/v3/order` | 1 | once |
//! | [`SpotClient::cancel_open_orders`] | `DELETE /api/v3/openOrders` | 1 | once |
//! | [`SpotClient::open_orders`] | `GET /api/v3/openOrders` | 6, 80 for all symbols | retried |
//! | [`SpotClient::all_orders`] | `GET /api/v3/allOrders` | 20 | retried |
//! | [`SpotClient::my_trades`] | `GET /api/v3/myTrades` | 20, 5 with `orderId` | retried |
//! | [`SpotClient::my_trades_from`] | `GET /api/v3/myTrades` with `fromId` | 20 | retried |
//! | [`SpotClient::account`] | `GET /api/v3/account` | 20 | retried |
//! | [`SpotClient::ticker_price`] | `GET /api/v3/ticker/price` (public) | 2 | retried |
//!
//! "Sent once": a timeout, an HTTP 5xx or `-1006`/`-1007`/`-1000` after the request may
//! have left is [`ExchangeError::UnknownOutcome`]; the caller reconciles by querying.

use std::fmt;
use std::str::FromStr;

use reqwest::Method;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};

use super::SpotClient;
use crate::domain::Symbol;
use crate::domain::{
    Account, Balance, ClientOrderId, Fill, Order, OrderRef, OrderRequest, OrderStatus, OrderType,
    Side, TimeInForce, Trade,
};
use crate::exchange::error::ExchangeError;
use crate::exchange::transport::Endpoint;
use crate::exchange::wire::Int;

const ORDER_NEW: Endpoint = Endpoint {
    path: "/api/v3/order",
    weight: 1,
};
const ORDER_TEST: Endpoint = Endpoint {
    path: "/api/v3/order/test",
    weight: 1,
};
const ORDER_QUERY: Endpoint = Endpoint {
    path: "/api/v3/order",
    weight: 4,
};
const ORDER_CANCEL: Endpoint = Endpoint {
    path: "/api/v3/order",
    weight: 1,
};
const OPEN_ORDERS_SYMBOL: Endpoint = Endpoint {
    path: "/api/v3/openOrders",
    weight: 6,
};
const OPEN_ORDERS_ALL: Endpoint = Endpoint {
    path: "/api/v3/openOrders",
    weight: 80,
};
const OPEN_ORDERS_CANCEL: Endpoint = Endpoint {
    path: "/api/v3/openOrders",
    weight: 1,
};
const ALL_ORDERS: Endpoint = Endpoint {
    path: "/api/v3/allOrders",
    weight: 20,
};
const MY_TRADES: Endpoint = Endpoint {
    path: "/api/v3/myTrades",
    weight: 20,
};
const MY_TRADES_BY_ORDER: Endpoint = Endpoint {
    path: "/api/v3/myTrades",
    weight: 5,
};
const ACCOUNT: Endpoint = Endpoint {
    path: "/api/v3/account",
    weight: 20,
};
const TICKER_PRICE: Endpoint = Endpoint {
    path: "/api/v3/ticker/price",
    weight: 2,
};

/// Largest `limit` of `allOrders` and `myTrades` ("All orders (USER_DATA)" and "Account
/// trade list (USER_DATA)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>).
pub const ORDERS_MAX_LIMIT: u16 = 1000;

impl SpotClient {
    /// `POST /api/v3/order` with `newOrderRespType=FULL`: places `order`
    /// under `client_order_id` and returns the order as the exchange answered, fills
    /// included. Counts against the `ORDERS` limits first: over them, the order is refused
    /// locally with [`ExchangeError::OrderRateLimited`] and nothing is sent. Binance: "New
    /// order (TRADE)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>.
    ///
    /// Never resent. [`ExchangeError::UnknownOutcome`] when the request may have been
    /// executed without us knowing (timeout, 5xx, `-1006`/`-1007`, or a 2xx whose body
    /// cannot be read); `Api` for an explicit rejection (`-2010`, `-1013` …);
    /// `Connectivity` only when nothing was sent. `InvalidRequest` on a handle without
    /// credentials.
    pub async fn place_order(
        &self,
        order: &OrderRequest,
        client_order_id: &ClientOrderId,
    ) -> Result<Order, ExchangeError> {
        let params = new_order_params(order, client_order_id, true);
        self.rest.admit_order()?;
        let reply = self.rest.signed(Method::POST, ORDER_NEW, &params).await?;
        parse_order(&reply.body).map_err(|detail| ExchangeError::UnknownOutcome {
            endpoint: ORDER_NEW.path,
            detail: format!("accepted, but the answer cannot be read: {detail}"),
        })
    }

    /// `POST /api/v3/order/test`: the exchange checks the order and the
    /// signature without placing it. Same errors as [`SpotClient::place_order`], except
    /// that nothing is ever executed. Binance: "Test new order (TRADE)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>.
    pub async fn test_order(
        &self,
        order: &OrderRequest,
        client_order_id: &ClientOrderId,
    ) -> Result<(), ExchangeError> {
        let params = new_order_params(order, client_order_id, false);
        self.rest.signed(Method::POST, ORDER_TEST, &params).await?;
        Ok(())
    }

    /// `GET /api/v3/order` (weight 4): one order by order id or client
    /// order id. A missing order is `Api` `-2013` ("Order does not exist."). Binance: "Query
    /// order (USER_DATA)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>.
    pub async fn query_order(
        &self,
        symbol: &Symbol,
        which: &OrderRef,
    ) -> Result<Order, ExchangeError> {
        let params = order_ref_params(symbol, which);
        let reply = self.rest.signed(Method::GET, ORDER_QUERY, &params).await?;
        parse_order(&reply.body).map_err(decode(ORDER_QUERY))
    }

    /// `DELETE /api/v3/order` (weight 1): cancels one order by order id
    /// or client order id and returns it as the exchange answered. Sent once: a timeout or
    /// 5xx is [`ExchangeError::UnknownOutcome`]. An order that is not open (filled,
    /// already cancelled, unknown) is `Api` `-2011` ("Unknown order sent."). Binance:
    /// "Cancel order (TRADE)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>.
    pub async fn cancel_order(
        &self,
        symbol: &Symbol,
        which: &OrderRef,
    ) -> Result<Order, ExchangeError> {
        let params = order_ref_params(symbol, which);
        let reply = self
            .rest
            .signed(Method::DELETE, ORDER_CANCEL, &params)
            .await?;
        parse_order(&reply.body).map_err(|detail| ExchangeError::UnknownOutcome {
            endpoint: ORDER_CANCEL.path,
            detail: format!("accepted, but the answer cannot be read: {detail}"),
        })
    }

    /// `DELETE /api/v3/openOrders` (weight 1): cancels every open order of
    /// `symbol` and returns them as the exchange answered (orders of unknown shapes, e.g.
    /// an order list, are left out and logged). Sent once: a timeout or 5xx is
    /// [`ExchangeError::UnknownOutcome`]. No open order is `Api` `-2011`. Binance: "Cancel
    /// All Open Orders on a Symbol (TRADE)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>.
    pub async fn cancel_open_orders(&self, symbol: &Symbol) -> Result<Vec<Order>, ExchangeError> {
        let params = [("symbol", symbol.to_string())];
        let reply = self
            .rest
            .signed(Method::DELETE, OPEN_ORDERS_CANCEL, &params)
            .await?;
        parse_orders(&reply.body).map_err(|detail| ExchangeError::UnknownOutcome {
            endpoint: OPEN_ORDERS_CANCEL.path,
            detail: format!("accepted, but the answer cannot be read: {detail}"),
        })
    }

    /// `GET /api/v3/openOrders`: the account's open orders on `symbol`
    /// (weight 6), or on every symbol (weight 80). Orders in a shape tradebeat does not
    /// know (an order type it does not offer) are left out and logged. Binance: "Current
    /// open orders (USER_DATA)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>.
    pub async fn open_orders(&self, symbol: Option<&Symbol>) -> Result<Vec<Order>, ExchangeError> {
        let (endpoint, params) = match symbol {
            Some(s) => (OPEN_ORDERS_SYMBOL, vec![("symbol", s.to_string())]),
            None => (OPEN_ORDERS_ALL, Vec::new()),
        };
        let reply = self.rest.signed(Method::GET, endpoint, &params).await?;
        parse_orders(&reply.body).map_err(decode(endpoint))
    }

    /// `GET /api/v3/allOrders` (weight 20): up to `limit` (1..=1000)
    /// orders of `symbol`, oldest first, from order id `from_order_id` on (or the most
    /// recent ones). Orders of unknown shapes are left out as in
    /// [`SpotClient::open_orders`]. Binance: "All orders (USER_DATA)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>.
    pub async fn all_orders(
        &self,
        symbol: &Symbol,
        from_order_id: Option<i64>,
        limit: u16,
    ) -> Result<Vec<Order>, ExchangeError> {
        check_limit(limit)?;
        let mut params = vec![("symbol", symbol.to_string())];
        if let Some(id) = from_order_id {
            params.push(("orderId", id.to_string()));
        }
        params.push(("limit", limit.to_string()));
        let reply = self.rest.signed(Method::GET, ALL_ORDERS, &params).await?;
        parse_orders(&reply.body).map_err(decode(ALL_ORDERS))
    }

    /// `GET /api/v3/myTrades`: up to `limit` (1..=1000) of the account's
    /// trades on `symbol`, of one order when `order_id` is given (weight 5) or the most
    /// recent ones (weight 20). Binance: "Account trade list (USER_DATA)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>.
    pub async fn my_trades(
        &self,
        symbol: &Symbol,
        order_id: Option<i64>,
        limit: u16,
    ) -> Result<Vec<Trade>, ExchangeError> {
        check_limit(limit)?;
        let mut params = vec![("symbol", symbol.to_string())];
        let endpoint = match order_id {
            Some(id) => {
                params.push(("orderId", id.to_string()));
                MY_TRADES_BY_ORDER
            }
            None => MY_TRADES,
        };
        params.push(("limit", limit.to_string()));
        let reply = self.rest.signed(Method::GET, endpoint, &params).await?;
        let rows: Vec<WireTrade> = from_json(&reply.body).map_err(decode(endpoint))?;
        Ok(rows.into_iter().map(WireTrade::into_trade).collect())
    }

    /// `GET /api/v3/myTrades` with `fromId` (weight 20): up to `limit`
    /// (1..=1000) of the account's trades on `symbol` with trade id ≥ `from_id`, oldest
    /// first. Reconciliation pages through the fills it has not seen with it. Binance:
    /// "Account trade list (USER_DATA)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>.
    pub async fn my_trades_from(
        &self,
        symbol: &Symbol,
        from_id: i64,
        limit: u16,
    ) -> Result<Vec<Trade>, ExchangeError> {
        check_limit(limit)?;
        let params = [
            ("symbol", symbol.to_string()),
            ("fromId", from_id.to_string()),
            ("limit", limit.to_string()),
        ];
        let reply = self.rest.signed(Method::GET, MY_TRADES, &params).await?;
        let rows: Vec<WireTrade> = from_json(&reply.body).map_err(decode(MY_TRADES))?;
        Ok(rows.into_iter().map(WireTrade::into_trade).collect())
    }

    /// `GET /api/v3/account` (weight 20) with `omitZeroBalances=true`:
    /// whether the account may trade, and its non-zero balances. Binance: "Account
    /// information (USER_DATA)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>.
    pub async fn account(&self) -> Result<Account, ExchangeError> {
        let params = [("omitZeroBalances", "true".to_string())];
        let reply = self.rest.signed(Method::GET, ACCOUNT, &params).await?;
        let wire: WireAccount = from_json(&reply.body).map_err(decode(ACCOUNT))?;
        Ok(Account {
            can_trade: wire.can_trade,
            update_time: wire.update_time.0,
            balances: wire
                .balances
                .into_iter()
                .map(|b| Balance {
                    asset: b.asset,
                    free: b.free.0,
                    locked: b.locked.0,
                })
                .collect(),
        })
    }

    /// `GET /api/v3/ticker/price?symbol=` (weight 2, public): the last
    /// price of `symbol`. Binance: "Symbol price ticker" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>.
    pub async fn ticker_price(&self, symbol: &Symbol) -> Result<Decimal, ExchangeError> {
        let reply = self
            .rest
            .get(TICKER_PRICE, &[("symbol", symbol.to_string())])
            .await?;
        let wire: WirePrice = from_json(&reply.body).map_err(decode(TICKER_PRICE))?;
        Ok(wire.price.0)
    }
}

fn check_limit(limit: u16) -> Result<(), ExchangeError> {
    if (1..=ORDERS_MAX_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(ExchangeError::InvalidRequest(format!(
            "limit {limit} is out of range 1..={ORDERS_MAX_LIMIT}"
        )))
    }
}

/// A decimal as sent: normalized (`0.00100000` → `0.001`), never in exponent form.
fn dec_param(d: Decimal) -> String {
    d.normalize().to_string()
}

/// The parameters of a new order, in the documented order ("New order (TRADE)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>).
fn new_order_params(
    order: &OrderRequest,
    client_order_id: &ClientOrderId,
    full: bool,
) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("symbol", order.symbol.to_string()),
        ("side", order.side.as_str().to_string()),
        ("type", order.order_type.as_str().to_string()),
    ];
    if let Some(tif) = order.time_in_force {
        p.push(("timeInForce", tif.as_str().to_string()));
    }
    if let Some(q) = order.quantity {
        p.push(("quantity", dec_param(q)));
    }
    if let Some(q) = order.quote_quantity {
        p.push(("quoteOrderQty", dec_param(q)));
    }
    if let Some(price) = order.price {
        p.push(("price", dec_param(price)));
    }
    p.push(("newClientOrderId", client_order_id.to_string()));
    if let Some(stop) = order.stop_price {
        p.push(("stopPrice", dec_param(stop)));
    }
    if full {
        p.push(("newOrderRespType", "FULL".to_string()));
    }
    p
}

/// `symbol` plus `orderId` or `origClientOrderId` ("Query order (USER_DATA)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>).
fn order_ref_params(symbol: &Symbol, which: &OrderRef) -> Vec<(&'static str, String)> {
    let mut p = vec![("symbol", symbol.to_string())];
    match which {
        OrderRef::OrderId(id) => p.push(("orderId", id.to_string())),
        OrderRef::ClientOrderId(c) => p.push(("origClientOrderId", c.to_string())),
    }
    p
}

fn decode(endpoint: Endpoint) -> impl FnOnce(String) -> ExchangeError {
    move |detail| ExchangeError::Decode {
        endpoint: endpoint.path,
        detail,
    }
}

fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// A decimal sent as a string (`"0.00100000"`), parsed exactly; negative values are
/// kept (Binance reports `-1` for unavailable historic quote quantities).
#[derive(Debug, Clone, Copy)]
struct Dec(Decimal);

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Decimal::from_str(&s)
            .map(Dec)
            .map_err(|_| de::Error::custom(format!("{s:?} is not a decimal")))
    }
}

/// A value parsed with `FromStr` from a JSON string.
struct Parsed<T>(T);

impl<'de, T: FromStr> Deserialize<'de> for Parsed<T>
where
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(Parsed).map_err(de::Error::custom)
    }
}

/// An order in any of the shapes the order endpoints answer with
/// (<https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>,
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>).
/// A cancel answer names the cancelled order's client id `origClientOrderId` and its own
/// `clientOrderId`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOrder {
    symbol: Parsed<Symbol>,
    order_id: Int,
    client_order_id: String,
    #[serde(default)]
    orig_client_order_id: Option<String>,
    price: Dec,
    orig_qty: Dec,
    executed_qty: Dec,
    cummulative_quote_qty: Dec,
    #[serde(default)]
    orig_quote_order_qty: Option<Dec>,
    status: String,
    #[serde(default)]
    time_in_force: Option<String>,
    #[serde(rename = "type")]
    order_type: Parsed<OrderType>,
    side: Parsed<Side>,
    #[serde(default)]
    stop_price: Option<Dec>,
    #[serde(default)]
    transact_time: Option<Int>,
    #[serde(default)]
    time: Option<Int>,
    #[serde(default)]
    update_time: Option<Int>,
    #[serde(default)]
    fills: Vec<WireFill>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFill {
    price: Dec,
    qty: Dec,
    commission: Dec,
    commission_asset: String,
    trade_id: Int,
}

impl WireOrder {
    fn into_order(self) -> Result<Order, String> {
        let status = match self.status.parse::<OrderStatus>() {
            Ok(s) if !s.is_local() => s,
            _ => return Err(format!("unknown order status {:?}", self.status)),
        };
        Ok(Order {
            symbol: self.symbol.0,
            order_id: self.order_id.0,
            client_order_id: self.orig_client_order_id.unwrap_or(self.client_order_id),
            side: self.side.0,
            order_type: self.order_type.0,
            // Binance reports GTC for MARKET orders too; anything unknown reads as none.
            time_in_force: self
                .time_in_force
                .and_then(|t| t.parse::<TimeInForce>().ok()),
            price: self.price.0,
            orig_qty: self.orig_qty.0,
            orig_quote_order_qty: self.orig_quote_order_qty.map_or(Decimal::ZERO, |d| d.0),
            executed_qty: self.executed_qty.0,
            cummulative_quote_qty: self.cummulative_quote_qty.0,
            stop_price: self.stop_price.map(|d| d.0).filter(|d| !d.is_zero()),
            status,
            time: self.transact_time.or(self.time).map(|t| t.0),
            update_time: self.update_time.map(|t| t.0),
            fills: self
                .fills
                .into_iter()
                .map(|f| Fill {
                    price: f.price.0,
                    qty: f.qty.0,
                    commission: f.commission.0,
                    commission_asset: f.commission_asset,
                    trade_id: f.trade_id.0,
                })
                .collect(),
            futures: None,
        })
    }
}

/// One order answer → [`Order`].
pub(super) fn parse_order(body: &[u8]) -> Result<Order, String> {
    from_json::<WireOrder>(body)?.into_order()
}

/// An array of orders → [`Order`]s; elements tradebeat cannot read are left out (and
/// logged), the array itself must parse.
pub(super) fn parse_orders(body: &[u8]) -> Result<Vec<Order>, String> {
    let values: Vec<serde_json::Value> = from_json(body)?;
    let mut out = Vec::with_capacity(values.len());
    for value in values {
        match serde_json::from_value::<WireOrder>(value)
            .map_err(|e| e.to_string())
            .and_then(WireOrder::into_order)
        {
            Ok(order) => out.push(order),
            Err(e) => {
                tracing::warn!(error = %e, "order in a shape tradebeat does not know, left out")
            }
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTrade {
    symbol: Parsed<Symbol>,
    id: Int,
    order_id: Int,
    price: Dec,
    qty: Dec,
    quote_qty: Dec,
    commission: Dec,
    commission_asset: String,
    time: Int,
    is_buyer: bool,
    is_maker: bool,
}

impl WireTrade {
    fn into_trade(self) -> Trade {
        Trade {
            symbol: self.symbol.0,
            id: self.id.0,
            order_id: self.order_id.0,
            price: self.price.0,
            qty: self.qty.0,
            quote_qty: self.quote_qty.0,
            commission: self.commission.0,
            commission_asset: self.commission_asset,
            time: self.time.0,
            is_buyer: self.is_buyer,
            is_maker: self.is_maker,
            realized_pnl: None,
            position_side: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAccount {
    can_trade: bool,
    update_time: Int,
    balances: Vec<WireBalance>,
}

#[derive(Deserialize)]
struct WireBalance {
    asset: String,
    free: Dec,
    locked: Dec,
}

#[derive(Deserialize)]
struct WirePrice {
    price: Dec,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    // The FULL response example of "New order (TRADE)" in
    // https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints
    const FULL: &str = r#"{
        "symbol": "BTCUSDT", "orderId": 28, "orderListId": -1,
        "clientOrderId": "6gCrw2kRUAF9CvJDGP16IP", "transactTime": 1507725176595,
        "price": "0.00000000", "origQty": "10.00000000", "executedQty": "10.00000000",
        "origQuoteOrderQty": "0.000000", "cummulativeQuoteQty": "10.00000000",
        "status": "FILLED", "timeInForce": "GTC", "type": "MARKET", "side": "SELL",
        "workingTime": 1507725176595, "selfTradePreventionMode": "NONE",
        "fills": [
            {"price": "4000.00000000", "qty": "1.00000000", "commission": "4.00000000",
             "commissionAsset": "USDT", "tradeId": 56},
            {"price": "3999.00000000", "qty": "5.00000000", "commission": "19.99500000",
             "commissionAsset": "USDT", "tradeId": 57}
        ]
    }"#;

    // The response example of "Query order (USER_DATA)" in
    // https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints
    const QUERY: &str = r#"{
        "symbol": "LTCBTC", "orderId": 1, "orderListId": -1, "clientOrderId": "myOrder1",
        "price": "0.1", "origQty": "1.0", "executedQty": "0.0", "cummulativeQuoteQty": "0.0",
        "status": "NEW", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY",
        "stopPrice": "0.0", "icebergQty": "0.0", "time": 1499827319559,
        "updateTime": 1499827319559, "isWorking": true, "workingTime": 1499827319559,
        "origQuoteOrderQty": "0.000000", "selfTradePreventionMode": "NONE"
    }"#;

    #[test]
    fn the_documented_full_answer_parses_exactly() {
        let o = parse_order(FULL.as_bytes()).unwrap();
        assert_eq!(o.symbol.as_str(), "BTCUSDT");
        assert_eq!(
            (o.order_id, o.client_order_id.as_str()),
            (28, "6gCrw2kRUAF9CvJDGP16IP")
        );
        assert_eq!(
            (o.side, o.order_type, o.status),
            (Side::Sell, OrderType::Market, OrderStatus::Filled)
        );
        assert_eq!(o.executed_qty, dec("10.00000000"));
        assert_eq!(o.executed_qty.to_string(), "10.00000000", "scale kept");
        assert_eq!(o.time, Some(1_507_725_176_595));
        assert_eq!(o.fills.len(), 2);
        assert_eq!(o.fills[1].commission, dec("19.995"));
        assert_eq!(o.fills[1].trade_id, 57);
        assert_eq!(o.stop_price, None);
    }

    #[test]
    fn the_documented_query_answer_parses() {
        let o = parse_order(QUERY.as_bytes()).unwrap();
        assert_eq!(
            (o.status, o.time_in_force),
            (OrderStatus::New, Some(TimeInForce::Gtc))
        );
        assert_eq!(o.price, dec("0.1"));
        assert_eq!(o.stop_price, None, "a zero stop price is none");
        assert_eq!(
            (o.time, o.update_time),
            (Some(1_499_827_319_559), Some(1_499_827_319_559))
        );
        assert!(o.fills.is_empty());
    }

    #[test]
    fn a_cancel_answer_names_the_cancelled_orders_client_id() {
        let body = r#"{"symbol":"LTCBTC","origClientOrderId":"myOrder1","orderId":4,
            "orderListId":-1,"clientOrderId":"cancelMyOrder1","transactTime":1684804350068,
            "price":"2.00000000","origQty":"1.00000000","executedQty":"0.00000000",
            "cummulativeQuoteQty":"0.00000000","status":"CANCELED","timeInForce":"GTC",
            "type":"LIMIT","side":"BUY","selfTradePreventionMode":"NONE"}"#;
        let o = parse_order(body.as_bytes()).unwrap();
        assert_eq!(o.client_order_id, "myOrder1");
        assert_eq!(o.status, OrderStatus::Canceled);
    }

    #[test]
    fn odd_answers_are_errors_and_odd_list_elements_are_left_out() {
        for bad in [
            QUERY.replace("\"NEW\"", "\"SOMETHING_NEW\""),
            QUERY.replace("\"NEW\"", "\"pending\""),
            QUERY.replace("\"0.1\"", "0.1"),
            QUERY.replace("\"LIMIT\"", "\"OCO\""),
            QUERY[..QUERY.len() / 2].to_string(),
        ] {
            assert!(parse_order(bad.as_bytes()).is_err(), "{bad}");
        }
        let list = format!(
            "[{QUERY},{},{FULL}]",
            QUERY.replace("\"LIMIT\"", "\"ICEBERG\"")
        );
        let orders = parse_orders(list.as_bytes()).unwrap();
        assert_eq!(
            orders.iter().map(|o| o.order_id).collect::<Vec<_>>(),
            [1, 28]
        );
        assert!(parse_orders(b"{}").is_err());
    }

    #[test]
    fn new_order_parameters_are_as_documented() {
        let mut order = OrderRequest::new(
            "BTCUSDT".parse().unwrap(),
            Side::Buy,
            OrderType::StopLossLimit,
        );
        order.quantity = Some(dec("0.00100000"));
        order.price = Some(dec("65000.10"));
        order.stop_price = Some(dec("64000"));
        order.time_in_force = Some(TimeInForce::Gtc);
        let id: ClientOrderId = "tb-1".parse().unwrap();
        let p = new_order_params(&order, &id, true);
        let text: Vec<String> = p.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            text.join("&"),
            "symbol=BTCUSDT&side=BUY&type=STOP_LOSS_LIMIT&timeInForce=GTC&quantity=0.001&price=65000.1&newClientOrderId=tb-1&stopPrice=64000&newOrderRespType=FULL"
        );
        assert_eq!(
            order_ref_params(&order.symbol, &OrderRef::ClientOrderId(id)),
            [
                ("symbol", "BTCUSDT".to_string()),
                ("origClientOrderId", "tb-1".to_string())
            ]
        );
    }

    #[test]
    fn trades_account_and_price_parse() {
        let trade = r#"[{"symbol":"BNBBTC","id":28457,"orderId":100234,"orderListId":-1,
            "price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012",
            "commission":"10.10000000","commissionAsset":"BNB","time":1499865549590,
            "isBuyer":true,"isMaker":false,"isBestMatch":true}]"#;
        let rows: Vec<WireTrade> = from_json(trade.as_bytes()).unwrap();
        let t = rows.into_iter().next().unwrap().into_trade();
        assert_eq!(
            (t.id, t.order_id, t.quote_qty),
            (28457, 100234, dec("48.000012"))
        );
        let account = r#"{"makerCommission":15,"canTrade":true,"updateTime":123,
            "accountType":"SPOT","balances":[{"asset":"BTC","free":"4723846.89208129","locked":"0.00000000"}],
            "permissions":["SPOT"]}"#;
        let a: WireAccount = from_json(account.as_bytes()).unwrap();
        assert_eq!(a.balances[0].free.0, dec("4723846.89208129"));
        let p: WirePrice = from_json(br#"{"symbol":"LTCBTC","price":"4.00000200"}"#).unwrap();
        assert_eq!(p.price.0, dec("4.000002"));
    }
}
