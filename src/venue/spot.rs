//! [`SpotVenue`]: Binance spot trading (`/api/v3`) through a signed
//! [`SpotClient`]. The only place outside [`crate::exchange`] that calls the spot client's
//! trading endpoints; each method is one request (see `exchange::spot::trading` for the
//! endpoints, weights and which are sent once).
//!
//! Reference:
//! https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints

use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use rust_decimal::Decimal;

use super::{Venue, VenueResult};
use crate::domain::{
    Account, ClientOrderId, Credentials, Market, Order, OrderRef, OrderRequest, Symbol, SymbolInfo,
    Trade,
};
use crate::exchange::{ExchangeError, SpotClient};

/// Binance spot as a [`Venue`]: a [`SpotClient`] handle that signs its requests, sharing
/// the daemon's connection pool, clock offset, request-weight budget and order counts.
#[derive(Debug, Clone)]
pub struct SpotVenue {
    client: SpotClient,
}

impl SpotVenue {
    /// Spot trading for the account of `credentials` (HMAC-SHA256, `recvWindow =
    /// recv_window_ms`), through `exchange`'s pool and budgets. See
    /// https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security
    ///
    /// # Errors
    /// [`ExchangeError::InvalidRequest`] when `recv_window_ms` is not in 1..=60000 or the
    /// API key cannot be an HTTP header value.
    pub fn new(
        exchange: &SpotClient,
        credentials: &Credentials,
        recv_window_ms: u64,
    ) -> Result<SpotVenue, ExchangeError> {
        Ok(SpotVenue {
            client: exchange.with_credentials(credentials, recv_window_ms)?,
        })
    }

    /// Spot trading through an already signed handle (any [`crate::exchange::Signer`]);
    /// `None` when `client` cannot sign.
    pub fn from_signed(client: SpotClient) -> Option<SpotVenue> {
        client.is_signed().then_some(SpotVenue { client })
    }
}

impl Venue for SpotVenue {
    fn market(&self) -> Market {
        Market::Spot
    }

    /// `POST /api/v3/order` with `newOrderRespType=FULL` ([`SpotClient::place_order`]).
    fn place_order<'a>(
        &'a self,
        request: &'a OrderRequest,
        client_order_id: &'a ClientOrderId,
    ) -> BoxFuture<'a, VenueResult<Order>> {
        self.client.place_order(request, client_order_id).boxed()
    }

    /// `GET /api/v3/order` ([`SpotClient::query_order`]); `-2013` when unknown.
    fn query_order<'a>(
        &'a self,
        symbol: &'a Symbol,
        which: &'a OrderRef,
    ) -> BoxFuture<'a, VenueResult<Order>> {
        self.client.query_order(symbol, which).boxed()
    }

    /// `DELETE /api/v3/order` ([`SpotClient::cancel_order`]); `-2011` when not open.
    fn cancel_order<'a>(
        &'a self,
        symbol: &'a Symbol,
        which: &'a OrderRef,
    ) -> BoxFuture<'a, VenueResult<Order>> {
        self.client.cancel_order(symbol, which).boxed()
    }

    /// `POST /api/v3/order/test` ([`SpotClient::test_order`]).
    fn test_order<'a>(
        &'a self,
        request: &'a OrderRequest,
        client_order_id: &'a ClientOrderId,
    ) -> BoxFuture<'a, VenueResult<()>> {
        self.client.test_order(request, client_order_id).boxed()
    }

    /// `DELETE /api/v3/openOrders` ([`SpotClient::cancel_open_orders`]).
    fn cancel_open_orders<'a>(
        &'a self,
        symbol: &'a Symbol,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        self.client.cancel_open_orders(symbol).boxed()
    }

    /// `GET /api/v3/openOrders` ([`SpotClient::open_orders`]).
    fn open_orders<'a>(
        &'a self,
        symbol: Option<&'a Symbol>,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        self.client.open_orders(symbol).boxed()
    }

    /// `GET /api/v3/allOrders` ([`SpotClient::all_orders`]).
    fn all_orders<'a>(
        &'a self,
        symbol: &'a Symbol,
        from_order_id: Option<i64>,
        limit: u16,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        self.client.all_orders(symbol, from_order_id, limit).boxed()
    }

    /// `GET /api/v3/myTrades`, with `fromId` when `from_id` is given
    /// ([`SpotClient::my_trades_from`], [`SpotClient::my_trades`]).
    fn my_trades<'a>(
        &'a self,
        symbol: &'a Symbol,
        from_id: Option<i64>,
        limit: u16,
    ) -> BoxFuture<'a, VenueResult<Vec<Trade>>> {
        match from_id {
            Some(id) => self.client.my_trades_from(symbol, id, limit).boxed(),
            None => self.client.my_trades(symbol, None, limit).boxed(),
        }
    }

    /// `GET /api/v3/account` ([`SpotClient::account`]).
    fn account(&self) -> BoxFuture<'_, VenueResult<Account>> {
        self.client.account().boxed()
    }

    /// `GET /api/v3/exchangeInfo?symbol=` ([`SpotClient::exchange_info_for`]).
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

    /// `GET /api/v3/ticker/price?symbol=` ([`SpotClient::ticker_price`]).
    fn last_price<'a>(&'a self, symbol: &'a Symbol) -> BoxFuture<'a, VenueResult<Decimal>> {
        self.client.ticker_price(symbol).boxed()
    }

    fn server_now_ms(&self) -> i64 {
        self.client.server_now_ms()
    }

    /// The handle's `recvWindow`: Binance refuses a signed request whose timestamp is
    /// older than that
    /// (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security).
    fn acceptance_window_ms(&self) -> u64 {
        // A signed handle always has one; 60 s is the largest Binance accepts.
        self.client.recv_window_ms().unwrap_or(60_000)
    }

    fn check_order_rate(&self) -> VenueResult<()> {
        self.client.check_order_rate()
    }

    /// The same account through [`SpotClient::control`].
    fn for_control(&self) -> Option<Arc<dyn Venue>> {
        Some(Arc::new(SpotVenue {
            client: self.client.control(),
        }))
    }
}
