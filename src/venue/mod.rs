//! Venues: where orders are traded. [`Venue`] is the one seam between the orders logic
//! ([`crate::orders::Orders`], and the user-data stream's reconciliation) and an exchange's
//! trading API.
//!
//! The orders logic owns what must hold whatever the venue: the symbol's rules checked
//! before sending, the intent recorded `pending` before the request leaves, a placement
//! sent exactly once, an unknown outcome resolved by querying the order by its client order
//! id and never by sending it again, the database brought up to date from what the venue
//! reports. A venue only speaks to its exchange: it places, queries, cancels and lists
//! orders, lists fills, reads the account, the symbol rules and the last price, and says
//! when a request can no longer be executed. A venue that keeps its orders in this
//! database (paper) sends nothing, and places with the intent, its change and its answer
//! in one transaction instead ([`Venue::place_order_here`]).
//!
//! The venues: [`SpotVenue`] (Binance spot, `/api/v3`, through a signed
//! [`crate::exchange::SpotClient`]), [`FuturesVenue`] (USDⓈ-M or COIN-M), and the paper
//! venues [`PaperVenue`] (spot) and [`PaperFuturesVenue`] (one per futures market); all
//! implement the same trait and leave the idempotency logic alone.
//!
//! Errors are [`ExchangeError`]s, whose typed meaning ([`ExchangeError::rejection`],
//! [`ExchangeError::is_no_such_order`]) the orders logic branches on: a venue that is not
//! an exchange answers with the codes and messages its exchange would (a paper venue
//! refuses an order with Binance's own `-2010` and message).

mod book_feed;
mod futures_venue;
mod paper;
mod paper_futures;
mod spot;

pub use book_feed::BookFeed;
pub use futures_venue::FuturesVenue;
pub use paper::{PaperBook, PaperVenue, PaperWatch};
pub use paper_futures::{DEFAULT_PAPER_LEVERAGE, PaperFuturesVenue, futures_paper_fees};
pub use spot::SpotVenue;

use std::sync::Arc;

use futures::future::BoxFuture;
use rust_decimal::Decimal;

use crate::domain::{
    Account, ClientOrderId, MarginType, Market, Order, OrderRef, OrderRequest, Position, Symbol,
    SymbolInfo, Trade,
};
use crate::exchange::ExchangeError;
use crate::store::{ActionRow, LocalPlacement};

/// A venue's answer: the value, or why the request failed, split by what the caller does
/// next ([`ExchangeError`]).
pub type VenueResult<T> = Result<T, ExchangeError>;

/// The trading operations of one market of one exchange, as the orders logic uses them.
///
/// The async methods return [`BoxFuture`]s (`Send`, borrowing their arguments) rather than
/// being `async fn`s: a trait with `async fn` (or `-> impl Future`) is not dyn-compatible,
/// and the orders component holds its venue as an `Arc<dyn Venue>` chosen at start from the
/// configuration (spot, paper, futures) without making `Orders` generic. One allocation per
/// request is nothing next to the network round trip it stands for.
///
/// Implementations are cheap to share (`Send + Sync`) and keep their own request budgets,
/// clock offset and connection pool.
pub trait Venue: Send + Sync {
    /// The market this venue trades (stored with every order row it reports).
    fn market(&self) -> Market;

    /// Places `request` under `client_order_id` and returns the order as the venue
    /// answered, fills included. Sent at most once, never retried.
    ///
    /// # Errors
    /// [`ExchangeError::UnknownOutcome`] when the request may have been executed without
    /// the answer arriving (resolve it with [`Venue::query_order`], never by placing again);
    /// `Api` for an explicit rejection; `OrderRateLimited` when it was not sent because of
    /// the order-rate limit; any other variant only when nothing was sent.
    fn place_order<'a>(
        &'a self,
        request: &'a OrderRequest,
        client_order_id: &'a ClientOrderId,
    ) -> BoxFuture<'a, VenueResult<Order>>;

    /// For a venue that keeps its orders in this database (a paper venue, where nothing
    /// leaves the process): places `request` under `client_order_id` with the intent, the
    /// venue's change and its answer written in ONE transaction
    /// ([`crate::store::Store::record_local_placement`]), `action` (the request's `actions`
    /// row) with them when given; `now_ms` is the intent's local time, ms since the epoch.
    /// `None` (the default) for a venue that trades elsewhere: the orders logic writes the
    /// intent `pending` first and then calls [`Venue::place_order`].
    ///
    /// # Errors
    /// As [`Venue::place_order`], with nothing written: the orders logic records the
    /// refusal.
    fn place_order_here<'a>(
        &'a self,
        request: &'a OrderRequest,
        client_order_id: &'a ClientOrderId,
        now_ms: i64,
        action: Option<&'a ActionRow>,
    ) -> Option<BoxFuture<'a, VenueResult<(Order, LocalPlacement)>>> {
        let _ = (request, client_order_id, now_ms, action);
        None
    }

    /// One order of `symbol` by order id or client order id, as the venue reports it now.
    ///
    /// # Errors
    /// An `Api` error whose [`ExchangeError::is_no_such_order`] holds when the venue does
    /// not know the order (not placed, not visible yet, or forgotten); the transport's
    /// errors otherwise.
    fn query_order<'a>(
        &'a self,
        symbol: &'a Symbol,
        which: &'a OrderRef,
    ) -> BoxFuture<'a, VenueResult<Order>>;

    /// Cancels one open order of `symbol` and returns it as the venue answered. Sent at
    /// most once.
    ///
    /// # Errors
    /// `Api` with [`crate::exchange::Rejection::CancelRejected`] when the order is not
    /// open (filled, cancelled, or unknown to the venue); `UnknownOutcome` when the cancel
    /// may or may not have happened.
    fn cancel_order<'a>(
        &'a self,
        symbol: &'a Symbol,
        which: &'a OrderRef,
    ) -> BoxFuture<'a, VenueResult<Order>>;

    /// The account's open orders on `symbol`, or on every symbol.
    ///
    /// # Errors
    /// The transport's errors.
    fn open_orders<'a>(
        &'a self,
        symbol: Option<&'a Symbol>,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>>;

    /// Up to `limit` (1..=[`crate::exchange::ORDERS_MAX_LIMIT`]) orders of `symbol`,
    /// oldest first, from order id `from_order_id` on (or the most recent ones).
    ///
    /// # Errors
    /// `InvalidRequest` for a limit out of range; the transport's errors.
    fn all_orders<'a>(
        &'a self,
        symbol: &'a Symbol,
        from_order_id: Option<i64>,
        limit: u16,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>>;

    /// Up to `limit` (1..=[`crate::exchange::ORDERS_MAX_LIMIT`]) of the account's fills on
    /// `symbol`, oldest first: those with trade id ≥ `from_id`, or the most recent ones.
    ///
    /// # Errors
    /// `InvalidRequest` for a limit out of range; `Api` with
    /// [`crate::exchange::Rejection::UnknownSymbol`] when the venue does not list the
    /// symbol; the transport's errors.
    fn my_trades<'a>(
        &'a self,
        symbol: &'a Symbol,
        from_id: Option<i64>,
        limit: u16,
    ) -> BoxFuture<'a, VenueResult<Vec<Trade>>>;

    /// Whether the account may trade, and its non-zero balances.
    ///
    /// # Errors
    /// The transport's errors.
    fn account(&self) -> BoxFuture<'_, VenueResult<Account>>;

    /// The trading rules (status, order types, filters) of `symbol`; `None` when the venue
    /// answers without it.
    ///
    /// # Errors
    /// `Api` with [`crate::exchange::Rejection::UnknownSymbol`] when the venue does not
    /// list the symbol; the transport's errors.
    fn symbol_info<'a>(
        &'a self,
        symbol: &'a Symbol,
    ) -> BoxFuture<'a, VenueResult<Option<SymbolInfo>>>;

    /// The last traded price of `symbol`, in its quote asset.
    ///
    /// # Errors
    /// The transport's errors.
    fn last_price<'a>(&'a self, symbol: &'a Symbol) -> BoxFuture<'a, VenueResult<Decimal>>;

    /// The venue's current time, ms since the epoch (UTC): local time corrected by the
    /// measured offset.
    fn server_now_ms(&self) -> i64;

    /// How long after it was sent a request may still be executed by the venue, ms
    /// (Binance: the signed request's `recvWindow`). Once that much venue time has passed
    /// since a placement of unknown outcome, "no such order" means it was never placed.
    fn acceptance_window_ms(&self) -> u64;

    /// Whether one more order would stay within the venue's order-rate limits, counted
    /// locally; nothing is sent.
    ///
    /// # Errors
    /// [`ExchangeError::OrderRateLimited`] with the time to wait.
    fn check_order_rate(&self) -> VenueResult<()>;

    /// Asks the venue to check `request` as if placed under `client_order_id`, without
    /// placing it (Binance: `POST /api/v3/order/test`). The default: not supported.
    ///
    /// # Errors
    /// `Api` for a rejection; `InvalidRequest` when the venue has no such check.
    fn test_order<'a>(
        &'a self,
        request: &'a OrderRequest,
        client_order_id: &'a ClientOrderId,
    ) -> BoxFuture<'a, VenueResult<()>> {
        let _ = (request, client_order_id);
        Box::pin(std::future::ready(Err(ExchangeError::InvalidRequest(
            "this venue cannot test orders".into(),
        ))))
    }

    /// Cancels every open order of `symbol` in one request and returns them as the venue
    /// answered. Sent at most once. The default: not supported.
    ///
    /// # Errors
    /// `Api` with [`crate::exchange::Rejection::CancelRejected`] when nothing is open;
    /// `UnknownOutcome` when the cancel may or may not have happened; `InvalidRequest`
    /// when the venue has no such request.
    fn cancel_open_orders<'a>(
        &'a self,
        symbol: &'a Symbol,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        let _ = symbol;
        Box::pin(std::future::ready(Err(ExchangeError::InvalidRequest(
            "this venue cannot cancel all orders at once".into(),
        ))))
    }

    /// The same venue for requests a control client asked for, whose requests are refused
    /// at once ([`ExchangeError::WeightReserved`]) rather than take weight kept for the
    /// beats; `None` (the default) when the venue has no such budget.
    fn for_control(&self) -> Option<Arc<dyn Venue>> {
        None
    }

    /// Futures venues: the account's positions (of `symbol` when given), flat ones
    /// included. The default: not supported.
    ///
    /// # Errors
    /// `InvalidRequest` when the venue has no positions; the transport's errors.
    fn positions<'a>(
        &'a self,
        symbol: Option<&'a Symbol>,
    ) -> BoxFuture<'a, VenueResult<Vec<Position>>> {
        let _ = symbol;
        Box::pin(std::future::ready(Err(not_supported(
            "this venue has no positions",
        ))))
    }

    /// Futures venues: sets the initial leverage of `symbol` and returns the one set. Sent
    /// once. The default: not supported.
    ///
    /// # Errors
    /// `Api` for a rejection; `InvalidRequest` when the venue has no leverage.
    fn set_leverage<'a>(
        &'a self,
        symbol: &'a Symbol,
        leverage: u32,
    ) -> BoxFuture<'a, VenueResult<u32>> {
        let _ = (symbol, leverage);
        Box::pin(std::future::ready(Err(not_supported(
            "this venue has no leverage",
        ))))
    }

    /// Futures venues: sets the margin type of `symbol`. Sent once. The default: not
    /// supported.
    ///
    /// # Errors
    /// `Api` for a rejection; `InvalidRequest` when the venue has no margin type.
    fn set_margin_type<'a>(
        &'a self,
        symbol: &'a Symbol,
        margin_type: MarginType,
    ) -> BoxFuture<'a, VenueResult<()>> {
        let _ = (symbol, margin_type);
        Box::pin(std::future::ready(Err(not_supported(
            "this venue has no margin type",
        ))))
    }
}

/// Locks `mutex`, taking the value over from a holder that panicked (a std mutex guards
/// plain maps here: a panic cannot leave one half-changed).
pub(super) fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn not_supported(what: &str) -> ExchangeError {
    ExchangeError::InvalidRequest(what.to_string())
}
