//! [`FuturesVenue`]: Binance futures trading, USDⓈ-M (`/fapi`) or COIN-M (`/dapi`),
//! through a signed [`FuturesClient`]. Each method is the client's request (see
//! `exchange::futures::trading` for the endpoints, weights, which are sent once, and how
//! USDⓈ-M conditional orders go through the Algo Service under our client order id).
//!
//! References:
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api>,
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/trade>.

use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use rust_decimal::Decimal;

use super::{Venue, VenueResult};
use crate::domain::{
    Account, ClientOrderId, Credentials, MarginType, Market, Order, OrderRef, OrderRequest,
    Position, Symbol, SymbolInfo, Trade,
};
use crate::exchange::{ExchangeError, FuturesClient};

/// One Binance futures market as a [`Venue`]: a [`FuturesClient`] handle that signs,
/// sharing the market's connection pool, clock offset, request-weight budget and order
/// counts (its `ORDERS` limits come from that market's `exchangeInfo`).
#[derive(Debug, Clone)]
pub struct FuturesVenue {
    client: FuturesClient,
}

impl FuturesVenue {
    /// Futures trading on `client`'s market for the account of `credentials`
    /// (HMAC-SHA256, `recvWindow = recv_window_ms`).
    ///
    /// # Errors
    /// [`ExchangeError::InvalidRequest`] when `recv_window_ms` is not in 1..=60000 or the
    /// API key cannot be an HTTP header value.
    pub fn new(
        client: &FuturesClient,
        credentials: &Credentials,
        recv_window_ms: u64,
    ) -> Result<FuturesVenue, ExchangeError> {
        Ok(FuturesVenue {
            client: client.with_credentials(credentials, recv_window_ms)?,
        })
    }

    /// Futures trading through an already signed handle; `None` when `client` cannot sign.
    pub fn from_signed(client: FuturesClient) -> Option<FuturesVenue> {
        client.is_signed().then_some(FuturesVenue { client })
    }
}

impl Venue for FuturesVenue {
    fn market(&self) -> Market {
        self.client.market()
    }

    /// [`FuturesClient::place_order`]: `POST …/order`, or on USDⓈ-M for a conditional type
    /// `POST /fapi/v1/algoOrder`.
    fn place_order<'a>(
        &'a self,
        request: &'a OrderRequest,
        client_order_id: &'a ClientOrderId,
    ) -> BoxFuture<'a, VenueResult<Order>> {
        self.client.place_order(request, client_order_id).boxed()
    }

    /// [`FuturesClient::query_order`]; `-2013` when neither the matching engine nor the
    /// Algo Service knows it.
    fn query_order<'a>(
        &'a self,
        symbol: &'a Symbol,
        which: &'a OrderRef,
    ) -> BoxFuture<'a, VenueResult<Order>> {
        self.client.query_order(symbol, which).boxed()
    }

    /// [`FuturesClient::cancel_order`].
    fn cancel_order<'a>(
        &'a self,
        symbol: &'a Symbol,
        which: &'a OrderRef,
    ) -> BoxFuture<'a, VenueResult<Order>> {
        self.client.cancel_order(symbol, which).boxed()
    }

    /// [`FuturesClient::test_order`].
    fn test_order<'a>(
        &'a self,
        request: &'a OrderRequest,
        client_order_id: &'a ClientOrderId,
    ) -> BoxFuture<'a, VenueResult<()>> {
        self.client.test_order(request, client_order_id).boxed()
    }

    /// [`FuturesClient::cancel_open_orders`].
    fn cancel_open_orders<'a>(
        &'a self,
        symbol: &'a Symbol,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        self.client.cancel_open_orders(symbol).boxed()
    }

    /// [`FuturesClient::open_orders`] (algo orders included on USDⓈ-M).
    fn open_orders<'a>(
        &'a self,
        symbol: Option<&'a Symbol>,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        self.client.open_orders(symbol).boxed()
    }

    /// [`FuturesClient::all_orders`].
    fn all_orders<'a>(
        &'a self,
        symbol: &'a Symbol,
        from_order_id: Option<i64>,
        limit: u16,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        self.client.all_orders(symbol, from_order_id, limit).boxed()
    }

    /// [`FuturesClient::user_trades`].
    fn my_trades<'a>(
        &'a self,
        symbol: &'a Symbol,
        from_id: Option<i64>,
        limit: u16,
    ) -> BoxFuture<'a, VenueResult<Vec<Trade>>> {
        self.client.user_trades(symbol, from_id, limit).boxed()
    }

    /// [`FuturesClient::account`].
    fn account(&self) -> BoxFuture<'_, VenueResult<Account>> {
        self.client.account().boxed()
    }

    /// The market's `exchangeInfo`, kept for `symbol` ([`FuturesClient::exchange_info_for`]).
    fn symbol_info<'a>(
        &'a self,
        symbol: &'a Symbol,
    ) -> BoxFuture<'a, VenueResult<Option<SymbolInfo>>> {
        async move {
            let info = self.client.exchange_info_for(symbol).await?;
            Ok(info.symbol(symbol).cloned())
        }
        .boxed()
    }

    /// [`FuturesClient::ticker_price`].
    fn last_price<'a>(&'a self, symbol: &'a Symbol) -> BoxFuture<'a, VenueResult<Decimal>> {
        self.client.ticker_price(symbol).boxed()
    }

    fn server_now_ms(&self) -> i64 {
        self.client.server_now_ms()
    }

    /// The handle's `recvWindow` (futures default 5000 ms; Binance refuses a signed request
    /// older than that).
    fn acceptance_window_ms(&self) -> u64 {
        self.client.recv_window_ms().unwrap_or(60_000)
    }

    fn check_order_rate(&self) -> VenueResult<()> {
        self.client.check_order_rate()
    }

    /// [`FuturesClient::positions`].
    fn positions<'a>(
        &'a self,
        symbol: Option<&'a Symbol>,
    ) -> BoxFuture<'a, VenueResult<Vec<Position>>> {
        self.client.positions(symbol).boxed()
    }

    /// [`FuturesClient::set_leverage`].
    fn set_leverage<'a>(
        &'a self,
        symbol: &'a Symbol,
        leverage: u32,
    ) -> BoxFuture<'a, VenueResult<u32>> {
        self.client.set_leverage(symbol, leverage).boxed()
    }

    /// [`FuturesClient::set_margin_type`].
    fn set_margin_type<'a>(
        &'a self,
        symbol: &'a Symbol,
        margin_type: MarginType,
    ) -> BoxFuture<'a, VenueResult<()>> {
        self.client.set_margin_type(symbol, margin_type).boxed()
    }

    /// The same account through [`FuturesClient::control`].
    fn for_control(&self) -> Option<Arc<dyn Venue>> {
        Some(Arc::new(FuturesVenue {
            client: self.client.control(),
        }))
    }
}
