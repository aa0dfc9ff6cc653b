//! The futures trading and account endpoints of both markets, signed, on top of
//! [`FuturesClient`]'s request machinery, and their JSON shapes (private). Binance:
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api>,
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/trade>.
//!
//! | method | USDⓈ-M | COIN-M | sent |
//! |---|---|---|---|
//! | [`FuturesClient::place_order`] | `POST /fapi/v1/order`, conditional types `POST /fapi/v1/algoOrder` | `POST /dapi/v1/order` (all types) | once |
//! | [`FuturesClient::test_order`] | `POST /fapi/v1/order/test` | `POST /dapi/v1/order/test` | once |
//! | [`FuturesClient::query_order`] | `GET /fapi/v1/order`, then `GET /fapi/v1/algoOrder` | `GET /dapi/v1/order` | retried |
//! | [`FuturesClient::cancel_order`] | `DELETE /fapi/v1/order` or `DELETE /fapi/v1/algoOrder` | `DELETE /dapi/v1/order` | once |
//! | [`FuturesClient::cancel_open_orders`] | `DELETE /fapi/v1/allOpenOrders` + `DELETE /fapi/v1/algoOpenOrders` | `DELETE /dapi/v1/allOpenOrders` | once |
//! | [`FuturesClient::open_orders`] | `GET /fapi/v1/openOrders` + `GET /fapi/v1/openAlgoOrders` | `GET /dapi/v1/openOrders` | retried |
//! | [`FuturesClient::all_orders`] | `GET /fapi/v1/allOrders` | `GET /dapi/v1/allOrders` | retried |
//! | [`FuturesClient::user_trades`] | `GET /fapi/v1/userTrades` | `GET /dapi/v1/userTrades` | retried |
//! | [`FuturesClient::account`] | `GET /fapi/v2/account` | `GET /dapi/v1/account` | retried |
//! | [`FuturesClient::positions`] | `GET /fapi/v2/positionRisk` | `GET /dapi/v1/positionRisk` | retried |
//! | [`FuturesClient::set_leverage`] | `POST /fapi/v1/leverage` | `POST /dapi/v1/leverage` | once |
//! | [`FuturesClient::set_margin_type`] | `POST /fapi/v1/marginType` | `POST /dapi/v1/marginType` | once |
//! | [`FuturesClient::ticker_price`] | `GET /fapi/v1/ticker/price` | `GET /dapi/v1/ticker/price` | retried |
//!
//! USDⓈ-M moved its conditional orders (STOP, STOP_MARKET, TAKE_PROFIT,
//! TAKE_PROFIT_MARKET, TRAILING_STOP_MARKET) to the Algo Service on 2025-12-09: `POST
//! /fapi/v1/order` refuses them with `-4120`, so they are never sent there
//! (<https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Algo-Order>).
//! Our client order id is their `clientAlgoId`; every answer about one is merged into ONE
//! [`Order`] under that id, carrying its algo id and, once triggered, the order it became
//! (whose status and fills are the order's). COIN-M made no such move: its
//! `/dapi/v1/order` still takes every type.

use std::str::FromStr;

use reqwest::Method;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::FuturesClient;
use crate::domain::{
    Account, Balance, ClientOrderId, Credentials, FuturesOrderState, MarginType, Market, Order,
    OrderRef, OrderRequest, OrderStatus, OrderType, Position, PositionSide, Side, Symbol,
    TimeInForce, Trade, WorkingType,
};
use crate::exchange::error::ExchangeError;
use crate::exchange::transport::Endpoint;
use crate::exchange::wire::Int;

/// Largest `limit` of `allOrders` (1000) and `userTrades` (1000 on USDⓈ-M; COIN-M takes
/// 1000 too).
pub const FUTURES_ORDERS_MAX_LIMIT: u16 = 1000;

/// One market's trading endpoints.
struct TradingPaths {
    order_new: Endpoint,
    order_test: Endpoint,
    order_query: Endpoint,
    order_cancel: Endpoint,
    cancel_all: Endpoint,
    open_orders_symbol: Endpoint,
    open_orders_all: Endpoint,
    all_orders: Endpoint,
    user_trades: Endpoint,
    account: Endpoint,
    position_risk: Endpoint,
    leverage: Endpoint,
    margin_type: Endpoint,
    ticker_price: Endpoint,
    /// USDⓈ-M only: the Algo Service.
    algo: Option<AlgoPaths>,
}

struct AlgoPaths {
    new: Endpoint,
    query: Endpoint,
    cancel: Endpoint,
    cancel_all: Endpoint,
    open_symbol: Endpoint,
    open_all: Endpoint,
}

const fn ep(path: &'static str, weight: u32) -> Endpoint {
    Endpoint { path, weight }
}

/// USDⓈ-M weights: "Trade" and "Account" in
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api>.
const USDM: TradingPaths = TradingPaths {
    order_new: ep("/fapi/v1/order", 0),
    order_test: ep("/fapi/v1/order/test", 0),
    order_query: ep("/fapi/v1/order", 1),
    order_cancel: ep("/fapi/v1/order", 1),
    cancel_all: ep("/fapi/v1/allOpenOrders", 1),
    open_orders_symbol: ep("/fapi/v1/openOrders", 1),
    open_orders_all: ep("/fapi/v1/openOrders", 40),
    all_orders: ep("/fapi/v1/allOrders", 5),
    user_trades: ep("/fapi/v1/userTrades", 5),
    account: ep("/fapi/v2/account", 5),
    position_risk: ep("/fapi/v2/positionRisk", 5),
    leverage: ep("/fapi/v1/leverage", 1),
    margin_type: ep("/fapi/v1/marginType", 1),
    ticker_price: ep("/fapi/v1/ticker/price", 1),
    algo: Some(AlgoPaths {
        new: ep("/fapi/v1/algoOrder", 0),
        query: ep("/fapi/v1/algoOrder", 1),
        cancel: ep("/fapi/v1/algoOrder", 1),
        cancel_all: ep("/fapi/v1/algoOpenOrders", 1),
        open_symbol: ep("/fapi/v1/openAlgoOrders", 1),
        open_all: ep("/fapi/v1/openAlgoOrders", 40),
    }),
};

/// COIN-M weights: "Trade" and "Account" in
/// <https://developers.binance.com/docs/derivatives/coin-margined-futures/trade>.
const COINM: TradingPaths = TradingPaths {
    order_new: ep("/dapi/v1/order", 0),
    order_test: ep("/dapi/v1/order/test", 0),
    order_query: ep("/dapi/v1/order", 1),
    order_cancel: ep("/dapi/v1/order", 1),
    cancel_all: ep("/dapi/v1/allOpenOrders", 1),
    open_orders_symbol: ep("/dapi/v1/openOrders", 1),
    open_orders_all: ep("/dapi/v1/openOrders", 40),
    all_orders: ep("/dapi/v1/allOrders", 20),
    user_trades: ep("/dapi/v1/userTrades", 20),
    account: ep("/dapi/v1/account", 5),
    position_risk: ep("/dapi/v1/positionRisk", 1),
    leverage: ep("/dapi/v1/leverage", 1),
    margin_type: ep("/dapi/v1/marginType", 1),
    ticker_price: ep("/dapi/v1/ticker/price", 1),
    algo: None,
};

impl FuturesClient {
    fn trading(&self) -> &'static TradingPaths {
        match self.market() {
            Market::CoinM => &COINM,
            _ => &USDM,
        }
    }

    /// A handle sharing this client's pool, clock offset, weight budget and order counts
    /// that can also make SIGNED requests (HMAC-SHA256, `X-MBX-APIKEY`, `recvWindow =
    /// recv_window_ms`). Binance: "Signed endpoint security" in
    /// <https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info>.
    ///
    /// # Errors
    /// [`ExchangeError::InvalidRequest`] when `recv_window_ms` is not in 1..=60000 or the
    /// API key cannot be an HTTP header value (the message never shows the key).
    pub fn with_credentials(
        &self,
        credentials: &Credentials,
        recv_window_ms: u64,
    ) -> Result<FuturesClient, ExchangeError> {
        Ok(FuturesClient {
            rest: self.rest.with_credentials(credentials, recv_window_ms)?,
            paths: self.paths,
            specs: std::sync::Arc::clone(&self.specs),
        })
    }

    /// Whether this handle can make signed requests.
    pub fn is_signed(&self) -> bool {
        self.rest.is_signed()
    }

    /// The `recvWindow` of signed requests, ms; `None` on an unsigned handle.
    pub fn recv_window_ms(&self) -> Option<u64> {
        self.rest.recv_window_ms()
    }

    /// Whether one more order fits this market's `ORDERS` limits (taken from its
    /// `exchangeInfo`), counted locally; nothing is sent.
    ///
    /// # Errors
    /// [`ExchangeError::OrderRateLimited`] with the time to wait.
    pub fn check_order_rate(&self) -> Result<(), ExchangeError> {
        self.rest.check_order_rate()
    }

    /// The `ORDERS` limits in force: (interval ms, limit).
    pub fn order_limits(&self) -> Vec<(i64, u32)> {
        self.rest.order_limits()
    }

    /// Places `order` under `client_order_id` and returns it as the exchange answered
    /// (`newOrderRespType=RESULT`). On USDⓈ-M a conditional type goes to `POST
    /// /fapi/v1/algoOrder` (`algoType=CONDITIONAL`, `clientAlgoId`), never to
    /// `/fapi/v1/order`. Counts against the `ORDERS` limits first (over them:
    /// [`ExchangeError::OrderRateLimited`], nothing sent). Binance: "New Order (TRADE)" in
    /// <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Order>.
    ///
    /// Never resent: [`ExchangeError::UnknownOutcome`] when it may have been executed
    /// (timeout, 5xx, `-1006`/`-1007`, an unreadable 2xx); `Api` for a rejection.
    pub async fn place_order(
        &self,
        order: &OrderRequest,
        client_order_id: &ClientOrderId,
    ) -> Result<Order, ExchangeError> {
        self.check_market_of(order)?;
        let (endpoint, params, algo) = self.new_order_request(order, client_order_id, true);
        self.rest.admit_order()?;
        let reply = self.rest.signed(Method::POST, endpoint, &params).await?;
        let parsed = if algo {
            parse_algo_order(&reply.body)
        } else {
            parse_order(&reply.body)
        };
        parsed.map_err(|detail| ExchangeError::UnknownOutcome {
            endpoint: endpoint.path,
            detail: format!("accepted, but the answer cannot be read: {detail}"),
        })
    }

    /// `POST …/order/test`: the exchange checks the order without placing it. USDⓈ-M has
    /// no test endpoint for algo orders: a conditional type is refused with
    /// [`ExchangeError::InvalidRequest`], nothing sent.
    ///
    /// # Errors
    /// As [`FuturesClient::place_order`], except that nothing is ever executed.
    pub async fn test_order(
        &self,
        order: &OrderRequest,
        client_order_id: &ClientOrderId,
    ) -> Result<(), ExchangeError> {
        self.check_market_of(order)?;
        let (_, params, algo) = self.new_order_request(order, client_order_id, false);
        if algo {
            return Err(ExchangeError::InvalidRequest(format!(
                "{} orders go through the Algo Service on usdm, which has no test endpoint",
                order.order_type
            )));
        }
        let endpoint = self.trading().order_test;
        self.rest.signed(Method::POST, endpoint, &params).await?;
        Ok(())
    }

    fn check_market_of(&self, order: &OrderRequest) -> Result<(), ExchangeError> {
        if order.market != self.market() {
            return Err(ExchangeError::InvalidRequest(format!(
                "an order for {} sent to the {} client",
                order.market.as_str(),
                self.market().as_str()
            )));
        }
        Ok(())
    }

    /// The endpoint and parameters of a new order, and whether it is an algo order.
    fn new_order_request(
        &self,
        order: &OrderRequest,
        client_order_id: &ClientOrderId,
        result: bool,
    ) -> (Endpoint, Vec<(&'static str, String)>, bool) {
        let paths = self.trading();
        match &paths.algo {
            Some(algo) if order.order_type.is_conditional_on(self.market()) => {
                (algo.new, algo_order_params(order, client_order_id), true)
            }
            _ => (
                paths.order_new,
                new_order_params(order, client_order_id, result),
                false,
            ),
        }
    }

    /// One order by order id or client order id. On USDⓈ-M a client order id the matching
    /// engine does not know is asked of the Algo Service (`clientAlgoId`); a triggered algo
    /// order is merged with the order it became. A missing order is `Api` `-2013`. Binance:
    /// "Query Order (USER_DATA)" and "Query Algo Order (USER_DATA)".
    ///
    /// # Errors
    /// `Api` `-2013` when neither knows it; the transport's errors.
    pub async fn query_order(
        &self,
        symbol: &Symbol,
        which: &OrderRef,
    ) -> Result<Order, ExchangeError> {
        let paths = self.trading();
        let params = order_ref_params(symbol, which);
        let plain = self
            .rest
            .signed(Method::GET, paths.order_query, &params)
            .await
            .and_then(|r| parse_order(&r.body).map_err(decode(paths.order_query)));
        match (plain, &paths.algo, which) {
            (Err(e), Some(_), OrderRef::ClientOrderId(c)) if e.is_no_such_order() => {
                self.query_algo(symbol, c).await
            }
            // The order a triggered algo order became (it carries the algo order's type as
            // `origType`): merged with its algo order, under the same client id.
            (Ok(order), Some(_), _) if order.order_type.is_conditional_on(self.market()) => {
                match ClientOrderId::from_str(&order.client_order_id) {
                    Ok(c) => match self.query_algo_only(symbol, &c).await {
                        Ok(algo) => Ok(merge_algo(algo, order)),
                        Err(e) if e.is_no_such_order() => Ok(order),
                        Err(e) => Err(e),
                    },
                    Err(_) => Ok(order),
                }
            }
            (result, _, _) => result,
        }
    }

    /// `GET /fapi/v1/algoOrder?clientAlgoId=`, as the Algo Service reports it.
    async fn query_algo_only(
        &self,
        symbol: &Symbol,
        client_algo_id: &ClientOrderId,
    ) -> Result<Order, ExchangeError> {
        let Some(algo) = &self.trading().algo else {
            return Err(ExchangeError::InvalidRequest(
                "this market has no algo orders".into(),
            ));
        };
        let params = [
            ("symbol", symbol.to_string()),
            ("clientAlgoId", client_algo_id.to_string()),
        ];
        let reply = self.rest.signed(Method::GET, algo.query, &params).await?;
        parse_algo_order(&reply.body).map_err(decode(algo.query))
    }

    /// `GET /fapi/v1/algoOrder?clientAlgoId=`, merged with the triggered order if any.
    async fn query_algo(
        &self,
        symbol: &Symbol,
        client_algo_id: &ClientOrderId,
    ) -> Result<Order, ExchangeError> {
        let order = self.query_algo_only(symbol, client_algo_id).await?;
        self.merge_triggered(order).await
    }

    /// An algo order whose trigger placed an order: that order's state (status, executed
    /// quantities, times), under the algo order's client id, type and ids.
    async fn merge_triggered(&self, algo_order: Order) -> Result<Order, ExchangeError> {
        let Some(triggered) = algo_order
            .futures
            .as_ref()
            .and_then(|f| f.triggered_order_id)
        else {
            return Ok(algo_order);
        };
        let paths = self.trading();
        let params = order_ref_params(&algo_order.symbol, &OrderRef::OrderId(triggered));
        let reply = self
            .rest
            .signed(Method::GET, paths.order_query, &params)
            .await?;
        let actual = parse_order(&reply.body).map_err(decode(paths.order_query))?;
        Ok(merge_algo(algo_order, actual))
    }

    /// Cancels one open order and returns it as the exchange answered. On USDⓈ-M a client
    /// order id the matching engine does not know is cancelled in the Algo Service (its
    /// answer carries no order: the order is queried after). Sent once.
    ///
    /// # Errors
    /// `Api` `-2011` when not open (or unknown); `UnknownOutcome` when it may or may not
    /// have happened.
    pub async fn cancel_order(
        &self,
        symbol: &Symbol,
        which: &OrderRef,
    ) -> Result<Order, ExchangeError> {
        let paths = self.trading();
        let params = order_ref_params(symbol, which);
        let plain = self
            .rest
            .signed(Method::DELETE, paths.order_cancel, &params)
            .await;
        let reply = match (plain, &paths.algo, which) {
            (Err(e), Some(algo), OrderRef::ClientOrderId(c))
                if matches!(e.code(), Some(-2011) | Some(-2013)) =>
            {
                let params = [
                    ("symbol", symbol.to_string()),
                    ("clientAlgoId", c.to_string()),
                ];
                self.rest
                    .signed(Method::DELETE, algo.cancel, &params)
                    .await
                    .map_err(|e2| match e2.code() {
                        // Not an algo order either: the matching engine's answer stands.
                        Some(_) if e2.is_no_such_order() => e,
                        _ => e2,
                    })?;
                return self.query_algo(symbol, c).await;
            }
            (result, _, _) => result?,
        };
        parse_order(&reply.body).map_err(|detail| ExchangeError::UnknownOutcome {
            endpoint: paths.order_cancel.path,
            detail: format!("accepted, but the answer cannot be read: {detail}"),
        })
    }

    /// Cancels every open order of `symbol` (on USDⓈ-M the algo orders too, when any is
    /// open) and returns the orders that were open just before, marked CANCELED (the
    /// caller may query them for their exact final state). Sent once each.
    ///
    /// # Errors
    /// `UnknownOutcome` when a cancel may or may not have happened; the transport's errors.
    pub async fn cancel_open_orders(&self, symbol: &Symbol) -> Result<Vec<Order>, ExchangeError> {
        let open = self.open_orders(Some(symbol)).await?;
        let paths = self.trading();
        let params = [("symbol", symbol.to_string())];
        self.rest
            .signed(Method::DELETE, paths.cancel_all, &params)
            .await?;
        if let Some(algo) = &paths.algo
            && open
                .iter()
                .any(|o| o.futures.as_ref().is_some_and(|f| f.algo_id.is_some()))
        {
            self.rest
                .signed(Method::DELETE, algo.cancel_all, &params)
                .await?;
        }
        Ok(open
            .into_iter()
            .map(|mut o| {
                o.status = OrderStatus::Canceled;
                o
            })
            .collect())
    }

    /// The account's open orders on `symbol`, or on every symbol; on USDⓈ-M the open algo
    /// orders are listed too (not triggered yet; a triggered one is its order). Orders in
    /// a shape tradebeat does not know are left out and logged.
    ///
    /// # Errors
    /// The transport's errors; `Decode` for an answer that is not a list.
    pub async fn open_orders(&self, symbol: Option<&Symbol>) -> Result<Vec<Order>, ExchangeError> {
        let paths = self.trading();
        let params: Vec<(&str, String)> = symbol
            .map(|s| vec![("symbol", s.to_string())])
            .unwrap_or_default();
        let endpoint = match symbol {
            Some(_) => paths.open_orders_symbol,
            None => paths.open_orders_all,
        };
        let reply = self.rest.signed(Method::GET, endpoint, &params).await?;
        let mut orders = parse_list(&reply.body, parse_order_value).map_err(decode(endpoint))?;
        if let Some(algo) = &paths.algo {
            let endpoint = match symbol {
                Some(_) => algo.open_symbol,
                None => algo.open_all,
            };
            let reply = self.rest.signed(Method::GET, endpoint, &params).await?;
            let algos = parse_list(&reply.body, parse_algo_value).map_err(decode(endpoint))?;
            orders.extend(algos.into_iter().filter(|o| !o.status.is_final()));
        }
        Ok(orders)
    }

    /// Up to `limit` (1..=1000) orders of `symbol`, oldest first, from order id
    /// `from_order_id` on (or the most recent ones). Algo orders are not listed here (a
    /// triggered one shows as the order it became).
    ///
    /// # Errors
    /// `InvalidRequest` for a bad limit; the transport's errors.
    pub async fn all_orders(
        &self,
        symbol: &Symbol,
        from_order_id: Option<i64>,
        limit: u16,
    ) -> Result<Vec<Order>, ExchangeError> {
        check_limit(limit)?;
        let endpoint = self.trading().all_orders;
        let mut params = vec![("symbol", symbol.to_string())];
        if let Some(id) = from_order_id {
            params.push(("orderId", id.to_string()));
        }
        params.push(("limit", limit.to_string()));
        let reply = self.rest.signed(Method::GET, endpoint, &params).await?;
        parse_list(&reply.body, parse_order_value).map_err(decode(endpoint))
    }

    /// `GET …/userTrades`: up to `limit` (1..=1000) of the account's fills on `symbol`
    /// with trade id ≥ `from_id` (or the most recent ones), oldest first, with realized
    /// PnL and position side. Binance: "Account Trade List (USER_DATA)" in
    /// <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Account-Trade-List>.
    ///
    /// # Errors
    /// `InvalidRequest` for a bad limit; the transport's errors.
    pub async fn user_trades(
        &self,
        symbol: &Symbol,
        from_id: Option<i64>,
        limit: u16,
    ) -> Result<Vec<Trade>, ExchangeError> {
        check_limit(limit)?;
        let endpoint = self.trading().user_trades;
        let mut params = vec![("symbol", symbol.to_string())];
        if let Some(id) = from_id {
            params.push(("fromId", id.to_string()));
        }
        params.push(("limit", limit.to_string()));
        let reply = self.rest.signed(Method::GET, endpoint, &params).await?;
        parse_trades(&reply.body).map_err(decode(endpoint))
    }

    /// The account: whether it may trade and its assets' wallet balances (`free` = wallet
    /// balance, `locked` = 0, see [`Position`]), zero balances left out. Binance: "Account
    /// Information V2 (USER_DATA)" (USDⓈ-M), "Account Information (USER_DATA)" (COIN-M).
    ///
    /// # Errors
    /// The transport's errors; `Decode` for an answer that does not parse.
    pub async fn account(&self) -> Result<Account, ExchangeError> {
        let endpoint = self.trading().account;
        let reply = self.rest.signed(Method::GET, endpoint, &[]).await?;
        parse_account(&reply.body).map_err(decode(endpoint))
    }

    /// `GET …/positionRisk`: every position of the account (of `symbol` when given), flat
    /// ones included, as [`Position`]s of this market. Binance: "Position Information V2
    /// (USER_DATA)" in
    /// <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-Information-V2>.
    ///
    /// # Errors
    /// The transport's errors; `Decode` for an answer that does not parse.
    pub async fn positions(&self, symbol: Option<&Symbol>) -> Result<Vec<Position>, ExchangeError> {
        let endpoint = self.trading().position_risk;
        let params: Vec<(&str, String)> = match (symbol, self.market()) {
            (Some(s), Market::CoinM) => match s.as_str().split_once('_') {
                Some((pair, _)) => vec![("pair", pair.to_string())],
                None => vec![("pair", s.to_string())],
            },
            (Some(s), _) => vec![("symbol", s.to_string())],
            (None, _) => Vec::new(),
        };
        let reply = self.rest.signed(Method::GET, endpoint, &params).await?;
        let mut positions =
            parse_positions(&reply.body, self.market()).map_err(decode(endpoint))?;
        if let Some(s) = symbol {
            positions.retain(|p| &p.symbol == s);
        }
        Ok(positions)
    }

    /// `POST …/leverage`: sets the initial leverage of `symbol` (1..=125) and returns what
    /// the exchange set. Sent once. Binance: "Change Initial Leverage (TRADE)".
    ///
    /// # Errors
    /// `InvalidRequest` for a leverage out of 1..=125, nothing sent; `Api` for a rejection.
    pub async fn set_leverage(&self, symbol: &Symbol, leverage: u32) -> Result<u32, ExchangeError> {
        if !(1..=125).contains(&leverage) {
            return Err(ExchangeError::InvalidRequest(format!(
                "leverage {leverage} is out of range 1..=125"
            )));
        }
        let endpoint = self.trading().leverage;
        let params = [
            ("symbol", symbol.to_string()),
            ("leverage", leverage.to_string()),
        ];
        let reply = self.rest.signed(Method::POST, endpoint, &params).await?;
        let wire: WireLeverage = from_json(&reply.body).map_err(decode(endpoint))?;
        u32::try_from(wire.leverage.0)
            .map_err(|_| decode(endpoint)(format!("leverage {} out of range", wire.leverage.0)))
    }

    /// `POST …/marginType` (`ISOLATED` or `CROSSED`). Sent once. A symbol already in that
    /// mode answers `-4046` ("No need to change margin type."), which counts as done.
    /// Binance: "Change Margin Type (TRADE)".
    ///
    /// # Errors
    /// `Api` for a rejection (open position or orders: `-4048` …).
    pub async fn set_margin_type(
        &self,
        symbol: &Symbol,
        margin_type: MarginType,
    ) -> Result<(), ExchangeError> {
        let endpoint = self.trading().margin_type;
        let params = [
            ("symbol", symbol.to_string()),
            ("marginType", margin_type.as_str().to_string()),
        ];
        match self.rest.signed(Method::POST, endpoint, &params).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(NO_NEED_TO_CHANGE_MARGIN_TYPE) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `GET …/ticker/price?symbol=` (public): the last price of `symbol`.
    ///
    /// # Errors
    /// The transport's errors; `Decode` for an unreadable answer.
    pub async fn ticker_price(&self, symbol: &Symbol) -> Result<Decimal, ExchangeError> {
        let endpoint = self.trading().ticker_price;
        let reply = self
            .rest
            .get(endpoint, &[("symbol", symbol.to_string())])
            .await?;
        parse_ticker_price(&reply.body, symbol).map_err(decode(endpoint))
    }
}

/// `-4046` "No need to change margin type."
const NO_NEED_TO_CHANGE_MARGIN_TYPE: i64 = -4046;

fn check_limit(limit: u16) -> Result<(), ExchangeError> {
    if (1..=FUTURES_ORDERS_MAX_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(ExchangeError::InvalidRequest(format!(
            "limit {limit} is out of range 1..={FUTURES_ORDERS_MAX_LIMIT}"
        )))
    }
}

fn decode(endpoint: Endpoint) -> impl FnOnce(String) -> ExchangeError {
    move |detail| ExchangeError::Decode {
        endpoint: endpoint.path,
        detail,
    }
}

fn from_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// A decimal as sent: normalized, never in exponent form.
fn dec_param(d: Decimal) -> String {
    d.normalize().to_string()
}

fn flag(b: bool) -> String {
    if b { "true" } else { "false" }.to_string()
}

/// The futures fields every new order (plain or algo) shares.
fn push_futures_fields(p: &mut Vec<(&'static str, String)>, order: &OrderRequest) {
    if let Some(side) = order.position_side {
        p.push(("positionSide", side.as_str().to_string()));
    }
    if let Some(r) = order.reduce_only {
        p.push(("reduceOnly", flag(r)));
    }
    if let Some(c) = order.close_position {
        p.push(("closePosition", flag(c)));
    }
    if let Some(w) = order.working_type {
        p.push(("workingType", w.as_str().to_string()));
    }
    if let Some(pp) = order.price_protect {
        p.push(("priceProtect", flag(pp).to_uppercase()));
    }
}

/// The names an order endpoint gives the parameters that `POST …/order` ("New Order
/// (TRADE)") and USDⓈ-M's `POST /fapi/v1/algoOrder` ("New Algo Order (TRADE)",
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Algo-Order>)
/// spell differently; everything else is sent alike by [`order_params`].
#[derive(Debug, Clone, Copy)]
struct OrderParamNames {
    /// `algoType=CONDITIONAL` first (algo orders), or nothing.
    algo_type: Option<&'static str>,
    /// The stop price: `stopPrice` / `triggerPrice`.
    stop_price: &'static str,
    /// A trailing stop's activation price: `activationPrice` / `activatePrice`.
    activation_price: &'static str,
    /// Our client order id: `newClientOrderId` / `clientAlgoId`.
    client_id: &'static str,
}

/// `POST …/order` (both markets).
const ORDER_NAMES: OrderParamNames = OrderParamNames {
    algo_type: None,
    stop_price: "stopPrice",
    activation_price: "activationPrice",
    client_id: "newClientOrderId",
};

/// `POST /fapi/v1/algoOrder` (USDⓈ-M conditional types).
const ALGO_NAMES: OrderParamNames = OrderParamNames {
    algo_type: Some("CONDITIONAL"),
    stop_price: "triggerPrice",
    activation_price: "activatePrice",
    client_id: "clientAlgoId",
};

/// The parameters of a new order under `client_order_id`, spelled as `names` says;
/// `newOrderRespType=RESULT` when `result`.
fn order_params(
    order: &OrderRequest,
    client_order_id: &ClientOrderId,
    names: OrderParamNames,
    result: bool,
) -> Vec<(&'static str, String)> {
    let mut p = Vec::with_capacity(16);
    if let Some(algo_type) = names.algo_type {
        p.push(("algoType", algo_type.to_string()));
    }
    p.push(("symbol", order.symbol.to_string()));
    p.push(("side", order.side.as_str().to_string()));
    p.push(("type", order.order_type.as_str().to_string()));
    push_futures_fields(&mut p, order);
    if let Some(tif) = order.time_in_force {
        p.push(("timeInForce", tif.as_str().to_string()));
    }
    if let Some(q) = order.quantity {
        p.push(("quantity", dec_param(q)));
    }
    if let Some(price) = order.price {
        p.push(("price", dec_param(price)));
    }
    if let Some(stop) = order.stop_price {
        p.push((names.stop_price, dec_param(stop)));
    }
    if let Some(a) = order.activation_price {
        p.push((names.activation_price, dec_param(a)));
    }
    if let Some(c) = order.callback_rate {
        p.push(("callbackRate", dec_param(c)));
    }
    p.push((names.client_id, client_order_id.to_string()));
    if result {
        p.push(("newOrderRespType", "RESULT".to_string()));
    }
    p
}

/// `POST …/order` parameters ("New Order (TRADE)").
fn new_order_params(
    order: &OrderRequest,
    client_order_id: &ClientOrderId,
    result: bool,
) -> Vec<(&'static str, String)> {
    order_params(order, client_order_id, ORDER_NAMES, result)
}

/// `POST /fapi/v1/algoOrder` parameters ("New Algo Order (TRADE)"): `triggerPrice` for the
/// stop price, `activatePrice` for the activation price, our id as `clientAlgoId`.
fn algo_order_params(
    order: &OrderRequest,
    client_order_id: &ClientOrderId,
) -> Vec<(&'static str, String)> {
    order_params(order, client_order_id, ALGO_NAMES, false)
}

/// `symbol` plus `orderId` or `origClientOrderId`.
fn order_ref_params(symbol: &Symbol, which: &OrderRef) -> Vec<(&'static str, String)> {
    let mut p = vec![("symbol", symbol.to_string())];
    match which {
        OrderRef::OrderId(id) => p.push(("orderId", id.to_string())),
        OrderRef::ClientOrderId(c) => p.push(("origClientOrderId", c.to_string())),
    }
    p
}

/// A decimal sent as a string, parsed exactly; `""` is absent.
#[derive(Debug, Clone, Copy)]
struct Dec(Option<Decimal>);

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::Null => Ok(Dec(None)),
            serde_json::Value::String(s) if s.is_empty() => Ok(Dec(None)),
            serde_json::Value::String(s) => Decimal::from_str(&s)
                .map(|d| Dec(Some(d)))
                .map_err(|_| de::Error::custom(format!("{s:?} is not a decimal"))),
            other => Err(de::Error::custom(format!(
                "{other} is not a decimal string"
            ))),
        }
    }
}

impl Dec {
    fn or_zero(self) -> Decimal {
        self.0.unwrap_or(Decimal::ZERO)
    }

    fn nonzero(self) -> Option<Decimal> {
        self.0.filter(|d| !d.is_zero())
    }
}

/// A boolean sent as `true` or as the string `"true"`.
#[derive(Debug, Clone, Copy, Default)]
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(b) => Ok(Flag(b)),
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Flag(true)),
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Flag(false)),
            serde_json::Value::Null => Ok(Flag(false)),
            other => Err(de::Error::custom(format!("{other} is not a boolean"))),
        }
    }
}

/// An id sent as a number, a string of digits, or `""` (none).
#[derive(Debug, Clone, Copy, Default)]
struct OptId(Option<i64>);

impl<'de> Deserialize<'de> for OptId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Ok(OptId(None)),
            serde_json::Value::String(s) if s.is_empty() => Ok(OptId(None)),
            serde_json::Value::String(s) => s
                .parse()
                .map(|v: i64| OptId((v > 0).then_some(v)))
                .map_err(|_| de::Error::custom(format!("{s:?} is not an id"))),
            serde_json::Value::Number(n) => Ok(OptId(n.as_i64().filter(|v| *v > 0))),
            other => Err(de::Error::custom(format!("{other} is not an id"))),
        }
    }
}

/// A futures order as the order endpoints answer it ("Query Order (USER_DATA)"; COIN-M has
/// `cumBase` instead of `cumQuote`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOrder {
    symbol: String,
    order_id: Int,
    client_order_id: String,
    price: Dec,
    #[serde(default)]
    avg_price: Option<Dec>,
    orig_qty: Dec,
    executed_qty: Dec,
    #[serde(default)]
    cum_quote: Option<Dec>,
    #[serde(default)]
    cum_base: Option<Dec>,
    status: String,
    #[serde(default)]
    time_in_force: Option<String>,
    #[serde(rename = "type")]
    order_type: String,
    #[serde(default)]
    orig_type: Option<String>,
    side: String,
    #[serde(default)]
    position_side: Option<String>,
    #[serde(default)]
    stop_price: Option<Dec>,
    #[serde(default)]
    close_position: Flag,
    #[serde(default)]
    reduce_only: Flag,
    #[serde(default)]
    working_type: Option<String>,
    #[serde(default)]
    price_protect: Flag,
    #[serde(default)]
    activate_price: Option<Dec>,
    #[serde(default)]
    price_rate: Option<Dec>,
    #[serde(default)]
    time: Option<Int>,
    #[serde(default)]
    update_time: Option<Int>,
}

fn parse_enum<T: FromStr>(what: &str, s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| format!("{what}: {e}"))
}

/// The order type as asked for: `origType` when given (a triggered COIN-M stop reports
/// `type` MARKET), else `type`.
fn order_type_of(order_type: &str, orig_type: Option<&str>) -> Result<OrderType, String> {
    parse_enum(
        "type",
        orig_type.filter(|t| !t.is_empty()).unwrap_or(order_type),
    )
}

fn opt_enum<T: FromStr>(s: Option<&str>) -> Option<T> {
    s.filter(|s| !s.is_empty()).and_then(|s| s.parse().ok())
}

impl WireOrder {
    fn into_order(self) -> Result<Order, String> {
        let order_type = order_type_of(&self.order_type, self.orig_type.as_deref())?;
        Ok(Order {
            symbol: parse_enum("symbol", &self.symbol)?,
            order_id: self.order_id.0,
            client_order_id: self.client_order_id,
            side: parse_enum::<Side>("side", &self.side)?,
            order_type,
            // GTD and RPI are not offered: reported as none.
            time_in_force: opt_enum::<TimeInForce>(self.time_in_force.as_deref()),
            price: self.price.or_zero(),
            orig_qty: self.orig_qty.or_zero(),
            orig_quote_order_qty: Decimal::ZERO,
            executed_qty: self.executed_qty.or_zero(),
            cummulative_quote_qty: self
                .cum_quote
                .or(self.cum_base)
                .map_or(Decimal::ZERO, Dec::or_zero),
            stop_price: self.stop_price.and_then(Dec::nonzero),
            status: parse_enum::<OrderStatus>("status", &self.status)?,
            time: self.time.map(|t| t.0),
            update_time: self.update_time.map(|t| t.0),
            fills: Vec::new(),
            futures: Some(FuturesOrderState {
                position_side: opt_enum::<PositionSide>(self.position_side.as_deref()),
                reduce_only: self.reduce_only.0,
                close_position: self.close_position.0,
                callback_rate: self.price_rate.and_then(Dec::nonzero),
                activation_price: self.activate_price.and_then(Dec::nonzero),
                working_type: opt_enum::<WorkingType>(self.working_type.as_deref()),
                price_protect: self.price_protect.0,
                avg_price: self.avg_price.and_then(Dec::nonzero),
                algo_id: None,
                triggered_order_id: None,
            }),
        })
    }
}

/// A USDⓈ-M algo order ("Query Algo Order (USER_DATA)", `openAlgoOrders`, the answer of
/// "New Algo Order (TRADE)").
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAlgoOrder {
    algo_id: Int,
    client_algo_id: String,
    #[serde(alias = "type")]
    order_type: String,
    symbol: String,
    side: String,
    #[serde(default)]
    position_side: Option<String>,
    #[serde(default)]
    time_in_force: Option<String>,
    #[serde(default)]
    quantity: Option<Dec>,
    algo_status: String,
    #[serde(default)]
    trigger_price: Option<Dec>,
    #[serde(default)]
    price: Option<Dec>,
    #[serde(default)]
    working_type: Option<String>,
    #[serde(default)]
    close_position: Flag,
    #[serde(default)]
    price_protect: Flag,
    #[serde(default)]
    reduce_only: Flag,
    #[serde(default)]
    activate_price: Option<Dec>,
    #[serde(default)]
    callback_rate: Option<Dec>,
    #[serde(default)]
    create_time: Option<Int>,
    #[serde(default)]
    update_time: Option<Int>,
    #[serde(default)]
    actual_order_id: OptId,
    #[serde(default)]
    executed_qty: Option<Dec>,
    #[serde(default)]
    avg_price: Option<Dec>,
}

/// An algo status as the order status the row shows: `NEW`, `TRIGGERING`, `TRIGGERED`
/// → NEW (the triggered order's own status replaces it once queried); `FINISHED` →
/// FILLED unless nothing executed (then CANCELED); `CANCELED`, `EXPIRED`, `REJECTED` as
/// spelled ("Algo Status" in
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Algo-Order-Update>).
fn algo_status(status: &str, executed: Decimal) -> Result<OrderStatus, String> {
    Ok(match status {
        "NEW" | "TRIGGERING" | "TRIGGERED" => OrderStatus::New,
        "FINISHED" if executed.is_zero() => OrderStatus::Canceled,
        "FINISHED" => OrderStatus::Filled,
        "CANCELED" => OrderStatus::Canceled,
        "EXPIRED" => OrderStatus::Expired,
        "REJECTED" => OrderStatus::Rejected,
        other => return Err(format!("unknown algoStatus {other:?}")),
    })
}

impl WireAlgoOrder {
    fn into_order(self) -> Result<Order, String> {
        let executed = self.executed_qty.map_or(Decimal::ZERO, Dec::or_zero);
        let triggered = self.actual_order_id.0;
        Ok(Order {
            symbol: parse_enum("symbol", &self.symbol)?,
            // No order on the matching engine until triggered (stored as none).
            order_id: triggered.unwrap_or(0),
            client_order_id: self.client_algo_id,
            side: parse_enum::<Side>("side", &self.side)?,
            order_type: parse_enum("type", &self.order_type)?,
            time_in_force: opt_enum::<TimeInForce>(self.time_in_force.as_deref()),
            price: self.price.map_or(Decimal::ZERO, Dec::or_zero),
            orig_qty: self.quantity.map_or(Decimal::ZERO, Dec::or_zero),
            orig_quote_order_qty: Decimal::ZERO,
            executed_qty: executed,
            cummulative_quote_qty: Decimal::ZERO,
            stop_price: self.trigger_price.and_then(Dec::nonzero),
            status: algo_status(&self.algo_status, executed)?,
            time: self.create_time.map(|t| t.0),
            update_time: self.update_time.map(|t| t.0),
            fills: Vec::new(),
            futures: Some(FuturesOrderState {
                position_side: opt_enum::<PositionSide>(self.position_side.as_deref()),
                reduce_only: self.reduce_only.0,
                close_position: self.close_position.0,
                callback_rate: self.callback_rate.and_then(Dec::nonzero),
                activation_price: self.activate_price.and_then(Dec::nonzero),
                working_type: opt_enum::<WorkingType>(self.working_type.as_deref()),
                price_protect: self.price_protect.0,
                avg_price: self.avg_price.and_then(Dec::nonzero),
                algo_id: Some(self.algo_id.0),
                triggered_order_id: triggered,
            }),
        })
    }
}

/// The algo order `algo` with the state of the order its trigger placed (`actual`): one
/// order under the algo order's client id and type.
fn merge_algo(algo: Order, actual: Order) -> Order {
    let mut futures = algo.futures.unwrap_or_default();
    futures.triggered_order_id = Some(actual.order_id);
    if let Some(avg) = actual.futures.as_ref().and_then(|f| f.avg_price) {
        futures.avg_price = Some(avg);
    }
    Order {
        order_id: actual.order_id,
        status: actual.status,
        executed_qty: actual.executed_qty,
        cummulative_quote_qty: actual.cummulative_quote_qty,
        update_time: actual.update_time.or(algo.update_time),
        futures: Some(futures),
        ..algo
    }
}

fn parse_order_value(v: serde_json::Value) -> Result<Order, String> {
    serde_json::from_value::<WireOrder>(v)
        .map_err(|e| e.to_string())?
        .into_order()
}

fn parse_algo_value(v: serde_json::Value) -> Result<Order, String> {
    serde_json::from_value::<WireAlgoOrder>(v)
        .map_err(|e| e.to_string())?
        .into_order()
}

/// One order answer → [`Order`].
pub(super) fn parse_order(body: &[u8]) -> Result<Order, String> {
    from_json::<WireOrder>(body)?.into_order()
}

/// One algo order answer → [`Order`] (client id = `clientAlgoId`).
pub(super) fn parse_algo_order(body: &[u8]) -> Result<Order, String> {
    from_json::<WireAlgoOrder>(body)?.into_order()
}

/// A list of orders; an element in a shape tradebeat does not know is left out and
/// logged, a body that is not a list refused.
fn parse_list(
    body: &[u8],
    one: fn(serde_json::Value) -> Result<Order, String>,
) -> Result<Vec<Order>, String> {
    let values: Vec<serde_json::Value> = from_json(body)?;
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        match one(v) {
            Ok(o) => out.push(o),
            Err(e) => tracing::warn!(error = %e, "futures order in an unknown shape left out"),
        }
    }
    Ok(out)
}

/// `userTrades` element ("Account Trade List (USER_DATA)"; COIN-M has `baseQty` instead
/// of `quoteQty`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTrade {
    symbol: String,
    id: Int,
    order_id: Int,
    price: Dec,
    qty: Dec,
    #[serde(default)]
    quote_qty: Option<Dec>,
    #[serde(default)]
    base_qty: Option<Dec>,
    commission: Dec,
    commission_asset: String,
    time: Int,
    buyer: bool,
    maker: bool,
    #[serde(default)]
    realized_pnl: Option<Dec>,
    #[serde(default)]
    position_side: Option<String>,
}

pub(super) fn parse_trades(body: &[u8]) -> Result<Vec<Trade>, String> {
    let rows: Vec<WireTrade> = from_json(body)?;
    rows.into_iter()
        .map(|t| {
            Ok(Trade {
                symbol: parse_enum("symbol", &t.symbol)?,
                id: t.id.0,
                order_id: t.order_id.0,
                price: t.price.or_zero(),
                qty: t.qty.or_zero(),
                quote_qty: t
                    .quote_qty
                    .or(t.base_qty)
                    .map_or(Decimal::ZERO, Dec::or_zero),
                commission: t.commission.or_zero(),
                commission_asset: t.commission_asset,
                time: t.time.0,
                is_buyer: t.buyer,
                is_maker: t.maker,
                realized_pnl: Some(t.realized_pnl.map_or(Decimal::ZERO, Dec::or_zero)),
                position_side: opt_enum::<PositionSide>(t.position_side.as_deref()),
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAccount {
    #[serde(default = "yes")]
    can_trade: bool,
    #[serde(default)]
    update_time: Option<Int>,
    assets: Vec<WireAsset>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAsset {
    asset: String,
    wallet_balance: Dec,
    #[serde(default)]
    update_time: Option<Int>,
}

pub(super) fn parse_account(body: &[u8]) -> Result<Account, String> {
    let wire: WireAccount = from_json(body)?;
    let newest_asset = wire
        .assets
        .iter()
        .filter_map(|a| a.update_time.map(|t| t.0))
        .max()
        .unwrap_or(0);
    let update_time = wire.update_time.map_or(0, |t| t.0).max(newest_asset);
    Ok(Account {
        can_trade: wire.can_trade,
        update_time,
        balances: wire
            .assets
            .into_iter()
            .filter(|a| !a.wallet_balance.or_zero().is_zero())
            .map(|a| Balance {
                asset: a.asset,
                free: a.wallet_balance.or_zero(),
                locked: Decimal::ZERO,
            })
            .collect(),
    })
}

/// `positionRisk` element (both markets; COIN-M lacks `breakEvenPrice` on older answers).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePosition {
    symbol: String,
    position_amt: Dec,
    entry_price: Dec,
    #[serde(default)]
    break_even_price: Option<Dec>,
    un_realized_profit: Dec,
    #[serde(default)]
    leverage: Option<Int>,
    #[serde(default)]
    margin_type: Option<String>,
    #[serde(default)]
    isolated_wallet: Option<Dec>,
    #[serde(default)]
    position_side: Option<String>,
    #[serde(default)]
    update_time: Option<Int>,
}

pub(super) fn parse_positions(body: &[u8], market: Market) -> Result<Vec<Position>, String> {
    let rows: Vec<WirePosition> = from_json(body)?;
    rows.into_iter()
        .map(|p| {
            Ok(Position {
                market,
                symbol: parse_enum("symbol", &p.symbol)?,
                position_side: match p.position_side.as_deref() {
                    Some(s) => parse_enum("positionSide", s)?,
                    None => PositionSide::Both,
                },
                quantity: p.position_amt.or_zero(),
                entry_price: p.entry_price.or_zero(),
                break_even_price: p.break_even_price.and_then(|d| d.0),
                unrealized_pnl: p.un_realized_profit.or_zero(),
                leverage: p.leverage.and_then(|l| u32::try_from(l.0).ok()),
                margin_type: p
                    .margin_type
                    .as_deref()
                    .map(MarginType::from_reported)
                    .transpose()
                    .map_err(|e| e.to_string())?,
                isolated_wallet: p.isolated_wallet.and_then(|d| d.0),
                updated_at: p.update_time.map_or(0, |t| t.0),
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct WireLeverage {
    leverage: Int,
}

/// `ticker/price`: an object on USDⓈ-M, a one-element list on COIN-M.
fn parse_ticker_price(body: &[u8], symbol: &Symbol) -> Result<Decimal, String> {
    #[derive(Deserialize)]
    struct P {
        symbol: String,
        price: Dec,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(P),
        Many(Vec<P>),
    }
    let all = match from_json::<Either>(body)? {
        Either::One(p) => vec![p],
        Either::Many(v) => v,
    };
    all.into_iter()
        .find(|p| p.symbol == symbol.as_str())
        .and_then(|p| p.price.0)
        .ok_or_else(|| format!("no price for {symbol}"))
}

#[cfg(test)]
#[path = "trading_tests.rs"]
mod tests;
