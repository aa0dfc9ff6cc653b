//! Orders: signed spot trading, checked locally, recorded before it is sent, never duplicated.
//! Binance:
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>,
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints> and,
//! for unknown outcomes,
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/http-return-codes>.
//!
//! [`Orders`] is the component the control socket's `order.*` methods call, one line each:
//! [`Orders::place`], [`Orders::cancel`], [`Orders::get`], [`Orders::list`]. The daemon
//! runs it ([`Orders::run`]): it reconciles the database with the exchange at start and
//! owns the background tasks that resolve unknown outcomes.
//!
//! It trades through one [`Venue`] (Binance spot today: [`SpotVenue`]), held as
//! `Arc<dyn Venue>`: everything below that is not a request to the exchange (the rules
//! check, the pending row, never resending, resolving by query, recording the answers)
//! lives here and holds for every venue. Every order the venue reports reaches the
//! database through one function, [`Orders::record_exchange_order`].
//!
//! # Placing an order
//!
//! 1. Credentials must be configured ([`OrderError::NoCredentials`] otherwise; market
//!    data works without them).
//! 2. The symbol's rules (`exchangeInfo` filters, cached per symbol for 10 minutes and
//!    dropped after a `-1013`) and, for MARKET orders given a quantity, the last price
//!    are fetched; [`rules::check`] refuses what the exchange would refuse, naming the
//!    filter and the nearest valid value ([`OrderError::Rule`]). The order-rate limit is
//!    checked. Nothing is stored or sent for a refused request.
//! 3. The order gets its client order id (the caller's, or `tb-` + 22 random characters)
//!    and is written to `orders` as `pending` BEFORE the request leaves. A client order id
//!    already in the database is refused ([`OrderError::DuplicateClientOrderId`]): asking
//!    twice with the same id never places two orders.
//! 4. `POST /api/v3/order` (`FULL`) is sent exactly once. The answer updates the row
//!    (status, order id, executed quantities, fills). An explicit rejection stores
//!    Binance's code and msg (`REJECTED`). A request that provably never left is
//!    `not_placed`. A timeout, an HTTP 5xx or `-1006`/`-1007` leaves the row `unknown`
//!    ([`OrderError::OutcomeUnknown`]) and a background task queries the order by its
//!    client order id, with backoff, until the exchange says what happened: found → its
//!    state; `-2013` once the request's recvWindow has certainly passed (the exchange
//!    refuses it after that) → `not_placed`. The order is never sent again.
//! 5. If the database write after a successful answer fails, a CRITICAL line with the
//!    whole order goes to `logs/orders.log` and the write is retried until it succeeds.
//!
//! A venue that keeps its orders in this database (the paper spot venue:
//! [`Venue::place_order_here`]) sends nothing, so steps 3 and 4 are one transaction: the
//! pending row, the simulated fill and balances, and the answer commit together or not at
//! all. A duplicate client order id is refused as above; a refusal by the venue (`-2010`
//! and the others) is written then, as a `REJECTED` (or `not_placed`) row. For every venue,
//! the request's `actions` row ([`Orders::place_logged`]) of a placed order is written in
//! the transaction that records the answer; a refused one's is written by its caller.
//!
//! # Reconciliation at start
//!
//! Every stored order not in a final state is queried and updated; a `pending` or
//! `unknown` one the exchange does not know is resolved as above. Open orders on the
//! exchange whose client order id carries tradebeat's prefix but that are missing from
//! the database are imported.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::store::{OrderFilter, OrderRow};

mod conveniences;
pub use conveniences::{LiveMark, LiveOrder};
mod algo_ref;
mod futures_account;
mod in_use;
pub mod retention;
pub use retention::OrderRetention;

use crate::clock::Clock;
use crate::domain::Credentials;
use crate::domain::{
    ClientOrderId, Order, OrderRef, OrderRequest, OrderStatus, RuleViolation, rules,
};
use crate::domain::{Market, Symbol, SymbolInfo};
use crate::domain::{StreamState, UserStreamStatus};
use crate::exchange::{ExchangeError, Rejection, SpotClient};
use crate::retry::{self, Retryable as _};
use crate::store::{ActionRow, Inserted, LocalPlacement, Recorded, Store, StoreError};
use crate::venue::{SpotVenue, Venue};

/// How long cached symbol rules are trusted before the next order refetches them, ms.
const RULES_TTL_MS: i64 = 10 * 60_000;
/// How long a fetched last price is reused for MARKET notional checks, ms.
const PRICE_TTL_MS: i64 = 2_000;
/// Added to the recvWindow before a `-2013` counts as "never placed": the exchange's
/// propagation (data source "Memory => Database" of "Query order (USER_DATA)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>) and
/// clock-offset error, ms.
const PROPAGATION_MARGIN_MS: i64 = 5_000;
/// How long [`Orders::run`] waits for its background tasks at shutdown.
const DRAIN_DEADLINE: Duration = Duration::from_secs(3);
/// How often the orders still working on the exchange are refreshed from it while the
/// user-data stream is not healthy (off, reconnecting), so that a resting order's fills and
/// final state reach the database without anyone asking. A healthy stream delivers them as
/// they happen, and reconciles after every reconnect, so no refresh is sent then.
/// Each refresh costs 4 request weight per working order (`GET /api/v3/order`).
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// `order.list` returns this many rows when no limit is given, and at most
/// [`LIST_MAX_LIMIT`].
pub const LIST_DEFAULT_LIMIT: u32 = 100;
/// The largest `limit` of [`Orders::list`].
pub const LIST_MAX_LIMIT: u32 = 1000;

/// Why an order operation failed, split by what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// No API key is configured: fix the configuration. Market data keeps working.
    #[error(
        "orders need api credentials: set TRADEBEAT_EXCHANGE__API_KEY and TRADEBEAT_EXCHANGE__API_SECRET, or exchange.api_key_file and exchange.api_secret_file"
    )]
    NoCredentials,
    /// The request breaks the exchange's rules: fix it (the message names the filter and
    /// the nearest valid value). Nothing was stored or sent.
    #[error("order refused before sending: {0}")]
    Rule(#[from] RuleViolation),
    /// The exchange does not know the symbol. Nothing was stored or sent.
    #[error("unknown symbol {0}: the exchange does not list it")]
    UnknownSymbol(Symbol),
    /// The client order id is taken by a stored order (shown): nothing was sent. Asking
    /// again with the same id after a timeout lands here, never on a second order.
    #[error(
        "client order id {} is already used by order {} (status {})",
        existing.client_order_id,
        existing.id,
        existing.status
    )]
    DuplicateClientOrderId { existing: Box<OrderRow> },
    /// No such order, neither on the exchange nor in the database. `code` and `msg` are
    /// what the exchange answered the request with (`-2013` "Order does not exist." for a
    /// query, `-2011` "Unknown order sent." for a cancel).
    #[error("no order with {which} on {symbol}")]
    NotFound {
        symbol: Symbol,
        which: OrderRef,
        code: i64,
        msg: String,
    },
    /// The exchange refused: its `code` and `msg` and the HTTP status of its answer
    /// (<https://developers.binance.com/docs/binance-spot-api-docs/errors>). For a placement
    /// the order is stored `REJECTED` with them (`order`); for a cancel, `order` is the
    /// order as the exchange now reports it.
    #[error("exchange rejected the request: code {code}: {}", msg.trim_end_matches('.'))]
    Rejected {
        code: i64,
        msg: String,
        http_status: u16,
        order: Option<Box<OrderRow>>,
    },
    /// The request may or may not have been executed (timeout, 5xx, `-1006`/`-1007`).
    /// The order is stored (`unknown` for a placement) and a background task asks the
    /// exchange until it knows: look at it again with [`Orders::get`]. Do not resend.
    #[error(
        "outcome unknown for order {} ({detail}): it is being reconciled with the exchange; it was not sent again",
        order.client_order_id
    )]
    OutcomeUnknown {
        order: Box<OrderRow>,
        detail: String,
    },
    /// The order-rate limit is reached (locally counted, or the exchange's `-1015`):
    /// retry after `retry_after_ms`. Nothing was placed.
    #[error("order rate limit reached ({detail}): retry after {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64, detail: String },
    /// The exchange could not be asked (unreachable, request weight spent, IP banned, a
    /// bad answer): nothing was placed; try again later.
    #[error("exchange unavailable: {0}")]
    Exchange(ExchangeError),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// What [`Orders::reconcile_at_start`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReconcileReport {
    /// Stored orders not in a final state that were queried.
    pub checked: usize,
    /// Of those, the ones the exchange answered for (and were updated).
    pub updated: usize,
    /// `pending`/`unknown` orders left to the background resolver.
    pub resolving: usize,
    /// Open orders with tradebeat's prefix imported from the exchange.
    pub imported: usize,
    /// Orders that could not be checked (logged).
    pub failed: usize,
}

/// The orders component (see the module docs). Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Orders {
    inner: Arc<Inner>,
    /// On a handle made by [`Orders::for_control`]: the venue at control priority, used
    /// instead of the component's own for this handle's requests.
    control_venue: Option<Arc<dyn Venue>>,
}

impl std::fmt::Debug for Orders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orders")
            .field("credentials", &self.inner.venue.is_some())
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// Where orders are traded; `None` without credentials.
    venue: Option<Arc<dyn Venue>>,
    store: Store,
    clock: Clock,
    market: Market,
    rules: Mutex<HashMap<Symbol, (SymbolInfo, i64)>>,
    /// Client order ids of placements in flight in this process: reconciliation leaves
    /// them to the placement that owns them.
    in_flight: Mutex<HashSet<ClientOrderId>>,
    prices: Mutex<HashMap<Symbol, (Decimal, i64)>>,
    /// Resolvers and write retries.
    tasks: TaskTracker,
    /// Stops the background tasks.
    stop: CancellationToken,
    /// Whether the market is in use (always for spot): [`Orders::mark_in_use`].
    in_use: watch::Sender<bool>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Orders {
    /// An orders component trading spot on Binance through `exchange` (whose connection
    /// pool, clock offset and budgets it shares, [`SpotVenue`]), recording in `store`. With
    /// `credentials` it signs with HMAC-SHA256 and `recv_window_ms`; without, every method
    /// but [`Orders::list`] answers [`OrderError::NoCredentials`].
    ///
    /// # Errors
    /// [`OrderError::Exchange`] when the credentials cannot be used (an API key with
    /// characters an HTTP header cannot carry, a recvWindow out of 1..=60000).
    pub fn new(
        exchange: SpotClient,
        credentials: Option<&Credentials>,
        recv_window_ms: u64,
        store: Store,
        clock: Clock,
    ) -> Result<Orders, OrderError> {
        let venue = credentials
            .map(|c| SpotVenue::new(&exchange, c, recv_window_ms))
            .transpose()
            .map_err(OrderError::Exchange)?
            .map(|v| Arc::new(v) as Arc<dyn Venue>);
        Ok(Orders::with_venue(venue, store, clock))
    }

    /// An orders component trading on `venue` (any [`Venue`]: spot signed with any
    /// [`crate::exchange::Signer`] through [`SpotVenue::from_signed`], a test double …),
    /// recording in `store`. Without a venue, every method but [`Orders::list`] answers
    /// [`OrderError::NoCredentials`].
    pub fn with_venue(venue: Option<Arc<dyn Venue>>, store: Store, clock: Clock) -> Orders {
        let market = venue.as_ref().map_or(Market::Spot, |v| v.market());
        Orders::with_venue_in(market, venue, store, clock)
    }

    /// As [`Orders::with_venue`], for `market` (what a component without a venue lists).
    pub(crate) fn with_venue_in(
        market: Market,
        venue: Option<Arc<dyn Venue>>,
        store: Store,
        clock: Clock,
    ) -> Orders {
        Orders {
            inner: Arc::new(Inner {
                venue,
                store,
                clock,
                market,
                rules: Mutex::new(HashMap::new()),
                in_flight: Mutex::new(HashSet::new()),
                prices: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
                stop: CancellationToken::new(),
                in_use: watch::Sender::new(market == Market::Spot),
            }),
            control_venue: None,
        }
    }

    /// Whether API credentials are configured (orders can be placed).
    pub fn has_credentials(&self) -> bool {
        self.inner.venue.is_some()
    }

    /// A handle on this component (sharing everything) for the control socket: the
    /// requests its methods make are control requests ([`Venue::for_control`]), refused at
    /// once instead of taking request weight kept for the beats. Background work (the
    /// resolvers, reconciliation) keeps the component's own venue.
    pub fn for_control(&self) -> Orders {
        Orders {
            inner: Arc::clone(&self.inner),
            control_venue: self.inner.venue.as_ref().and_then(|v| v.for_control()),
        }
    }

    /// The venue orders are traded on; [`OrderError::NoCredentials`] without one.
    pub(crate) fn venue(&self) -> Result<&Arc<dyn Venue>, OrderError> {
        self.control_venue
            .as_ref()
            .or(self.inner.venue.as_ref())
            .ok_or(OrderError::NoCredentials)
    }

    /// Places an order (module docs, "Placing an order") and returns it as stored after
    /// the exchange answered.
    ///
    /// # Errors
    /// Every [`OrderError`] variant but `NotFound`; see each for what was stored.
    pub async fn place(&self, request: OrderRequest) -> Result<OrderRow, OrderError> {
        self.place_logged(request, &mut None).await
    }

    /// [`Orders::place`], writing `action` (the request's `actions` row, as it reads when
    /// the placement succeeds) in the transaction that records the exchange's answer. The
    /// row is taken from `action` when it was written; it is left there when it was not
    /// (the placement failed, or its answer could not be stored), for the caller to write.
    ///
    /// # Errors
    /// As [`Orders::place`].
    pub async fn place_logged(
        &self,
        mut request: OrderRequest,
        action: &mut Option<ActionRow>,
    ) -> Result<OrderRow, OrderError> {
        let venue = Arc::clone(self.venue()?);
        self.mark_in_use();
        let info = self.rules_for(&request.symbol).await?;
        rules::check(&request, &info, None)?;
        if rules::needs_market_price(&request, &info.filters)
            && let Some(last_price) = self.last_price(&request.symbol).await
        {
            rules::check(&request, &info, Some(last_price))?;
        }
        if request.market != self.inner.market {
            return Err(OrderError::Exchange(ExchangeError::InvalidRequest(
                format!(
                    "an order for {} sent to the {} orders",
                    request.market.as_str(),
                    self.inner.market.as_str()
                ),
            )));
        }
        if let Some(max) = info.filters.max_num_orders
            && self.inner.market != Market::Spot
        {
            let filter = OrderFilter {
                market: Some(self.inner.market),
                symbol: Some(request.symbol.clone()),
                open: true,
                limit: max.saturating_add(1),
            };
            let open = self.inner.store.run(move |s| s.orders(&filter)).await?;
            rules::check_max_num_orders(&info.filters, open.len())?;
        }
        venue.check_order_rate().map_err(rate_limited)?;

        let client_order_id = request
            .client_order_id
            .get_or_insert_with(ClientOrderId::generate)
            .clone();
        let now = self.inner.clock.now_ms();
        let _in_flight = InFlight::new(&self.inner.in_flight, &client_order_id);
        let here = match venue.place_order_here(&request, &client_order_id, now, action.as_ref()) {
            Some(placing) => Some(placing.await),
            None => None,
        };
        let (filled, row) = match here {
            Some(Ok((order, LocalPlacement::Placed(row)))) => {
                *action = None;
                self.placed(&client_order_id, &order);
                (!order.executed_qty.is_zero(), row)
            }
            Some(Ok((_, LocalPlacement::Exists(existing)))) => {
                return Err(OrderError::DuplicateClientOrderId {
                    existing: Box::new(existing),
                });
            }
            Some(Err(e)) => {
                // Nothing was written: the intent is, now, with the venue's verdict.
                let pending = self.write_intent(&request, &client_order_id, now).await?;
                return Err(self.placement_failed(venue.as_ref(), &pending, e).await);
            }
            None => {
                self.send(venue.as_ref(), &request, &client_order_id, now, action)
                    .await?
            }
        };
        if filled && self.inner.market != Market::Spot {
            self.record_futures_fills(&row.symbol).await;
        }
        Ok(row)
    }

    /// Places `request` on a venue that trades elsewhere: the intent written `pending`,
    /// the request sent once, its answer recorded with `action` (module docs, steps 3 to
    /// 5). Returns whether the answer had fills, and the row.
    ///
    /// # Errors
    /// As [`Orders::place`].
    async fn send(
        &self,
        venue: &dyn Venue,
        request: &OrderRequest,
        client_order_id: &ClientOrderId,
        now: i64,
        action: &mut Option<ActionRow>,
    ) -> Result<(bool, OrderRow), OrderError> {
        // Its rows go before the user-data stream's: its pending row, then its answer's row
        // before the stream's news of the same order.
        let _foreground = self.inner.store.foreground_write();
        let pending = self.write_intent(request, client_order_id, now).await?;
        tracing::info!(
            client_order_id = %client_order_id,
            symbol = %request.symbol,
            side = %request.side,
            order_type = %request.order_type,
            // An `Option` of a value records the value, or nothing (the field is left out).
            quantity = request.quantity.map(tracing::field::display),
            quote_quantity = request.quote_quantity.map(tracing::field::display),
            price = request.price.map(tracing::field::display),
            stop_price = request.stop_price.map(tracing::field::display),
            "order pending, sending"
        );
        match venue.place_order(request, client_order_id).await {
            Ok(order) => {
                self.placed(client_order_id, &order);
                let filled = !order.executed_qty.is_zero();
                Ok((filled, self.record(&pending, order, action).await))
            }
            Err(e) => Err(self.placement_failed(venue, &pending, e).await),
        }
    }

    /// Writes the `pending` row of `request` under `client_order_id`, created at `now`.
    ///
    /// # Errors
    /// [`OrderError::DuplicateClientOrderId`] when an order is stored under it; the
    /// database's.
    async fn write_intent(
        &self,
        request: &OrderRequest,
        client_order_id: &ClientOrderId,
        now: i64,
    ) -> Result<OrderRow, OrderError> {
        let (market, request, id) = (self.inner.market, request.clone(), client_order_id.clone());
        let inserted = self
            .inner
            .store
            .run_inline(move |s| s.insert_pending_order(market, &request, &id, now))
            .await?;
        match inserted {
            Inserted::New(row) => Ok(row),
            Inserted::Exists(existing) => Err(OrderError::DuplicateClientOrderId {
                existing: Box::new(existing),
            }),
        }
    }

    /// The "order placed" line.
    fn placed(&self, client_order_id: &ClientOrderId, order: &Order) {
        tracing::info!(
            client_order_id = %client_order_id,
            symbol = %order.symbol,
            order_id = order.order_id,
            status = %order.status,
            executed_qty = %order.executed_qty,
            "order placed"
        );
    }

    /// Stores a placement failure on `venue` and turns it into the caller's error.
    async fn placement_failed(
        &self,
        venue: &dyn Venue,
        pending: &OrderRow,
        e: ExchangeError,
    ) -> OrderError {
        let id = pending.client_order_id.clone();
        match e {
            ExchangeError::UnknownOutcome { detail, .. } => {
                tracing::warn!(
                    client_order_id = %id,
                    symbol = %pending.symbol,
                    error = %detail,
                    "order outcome unknown: not resending, querying the exchange until it knows"
                );
                let row = self
                    .set_outcome(pending, OrderStatus::Unknown, None, Some(detail.clone()))
                    .await;
                let conclusive_after = venue.server_now_ms() + self.rejection_horizon_ms();
                self.spawn_resolver(pending.symbol.clone(), id, conclusive_after);
                OrderError::OutcomeUnknown {
                    order: Box::new(row),
                    detail,
                }
            }
            ExchangeError::Api {
                code,
                msg,
                http_status,
                ..
            } => {
                if Rejection::of(code) == Rejection::FilterFailure {
                    // Our copy of the filters is stale: refetch before the next order.
                    locked(&self.inner.rules).remove(&pending.symbol);
                }
                tracing::warn!(
                    client_order_id = %id,
                    symbol = %pending.symbol,
                    code,
                    http_status,
                    msg = %msg,
                    "order rejected by the exchange"
                );
                let stored_code = (code != 0).then_some(code);
                let row = self
                    .set_outcome(
                        pending,
                        OrderStatus::Rejected,
                        stored_code,
                        Some(msg.clone()),
                    )
                    .await;
                OrderError::Rejected {
                    code,
                    msg,
                    http_status,
                    order: Some(Box::new(row)),
                }
            }
            ExchangeError::OrderRateLimited {
                retry_after_ms,
                detail,
            } => {
                let reason = format!("not sent: order rate limit reached ({detail})");
                self.set_outcome(pending, OrderStatus::NotPlaced, None, Some(reason))
                    .await;
                OrderError::RateLimited {
                    retry_after_ms,
                    detail,
                }
            }
            other => {
                // Connectivity before anything left, a weight back-off or ban, a missing
                // credential: the exchange never saw the order.
                tracing::warn!(client_order_id = %id, symbol = %pending.symbol, error = %other, "order not sent");
                let reason = format!("not sent: {other}");
                self.set_outcome(pending, OrderStatus::NotPlaced, None, Some(reason))
                    .await;
                OrderError::Exchange(other)
            }
        }
    }

    /// Writes a local verdict; on a database failure the row is returned as it would be,
    /// and the failure logged (the order's state is still known to the caller).
    async fn set_outcome(
        &self,
        pending: &OrderRow,
        status: OrderStatus,
        code: Option<i64>,
        msg: Option<String>,
    ) -> OrderRow {
        let id = pending.client_order_id.clone();
        let now = self.inner.clock.now_ms();
        let msg2 = msg.clone();
        let result = self
            .inner
            .store
            .run(move |s| s.set_order_outcome(&id, status, code, msg2.as_deref(), now))
            .await;
        match result {
            Ok(Some(row)) => row,
            Ok(None) | Err(_) => {
                if let Err(e) = &result {
                    tracing::error!(
                        client_order_id = %pending.client_order_id,
                        status = %status,
                        error = %e,
                        "order outcome could not be recorded; reconciliation at the next start will correct it"
                    );
                }
                let mut row = pending.clone();
                row.status = status;
                row.error_code = code;
                row.error_msg = msg;
                row.updated_at = now;
                row
            }
        }
    }

    /// Records the placement answer for `pending`'s order ([`Orders::record_exchange_order`]),
    /// with `action` in the same transaction (taken from it when written); returns the row
    /// as stored, or as it will be stored when the write failed (and is being retried).
    async fn record(
        &self,
        pending: &OrderRow,
        order: Order,
        action: &mut Option<ActionRow>,
    ) -> OrderRow {
        match self.record_exchange_order_logged(&order, action).await {
            Ok(Some(recorded)) => recorded.into_row(),
            Ok(None) | Err(_) => overlay(pending, &order, self.inner.clock.now_ms()),
        }
    }

    /// Records what the venue said about an order (a placement or cancel answer, a query,
    /// an order listed by the venue): the one way such an answer reaches the database, for
    /// every caller (placement, cancel, `order.get`, the resolvers, the refreshes, both
    /// reconciliations). The row of its client order id is brought up to date, or the
    /// order imported when no row has it, in one transaction, never moving an order
    /// backwards ([`Store::record_exchange_order`]).
    ///
    /// `Ok(None)` when the order's client order id is outside the spot pattern (logged,
    /// not stored: the database keys orders by it).
    ///
    /// # Errors
    /// The database failed: a CRITICAL line with the whole order is logged and the write
    /// retried in the background until it succeeds (or the component stops).
    pub(crate) async fn record_exchange_order(
        &self,
        order: &Order,
    ) -> Result<Option<Recorded>, StoreError> {
        self.record_exchange_order_logged(order, &mut None).await
    }

    /// [`Orders::record_exchange_order`], with `action` appended in the same transaction;
    /// the row is taken from `action` when the transaction committed.
    async fn record_exchange_order_logged(
        &self,
        order: &Order,
        action: &mut Option<ActionRow>,
    ) -> Result<Option<Recorded>, StoreError> {
        let Some(id) = ClientOrderId::try_from_exchange(&order.client_order_id) else {
            tracing::warn!(symbol = %order.symbol, order_id = order.order_id, client_order_id = %order.client_order_id, "order with a client order id outside the spot pattern: not recorded");
            return Ok(None);
        };
        let (market, now) = (self.inner.market, self.inner.clock.now_ms());
        let (id2, copy, logged) = (id.clone(), order.clone(), action.clone());
        let result = self
            .inner
            .store
            .run_inline(move |s| {
                s.record_exchange_order_logged(market, &id2, &copy, now, logged.as_ref())
            })
            .await;
        match result {
            Ok(recorded) => {
                *action = None;
                Ok(Some(recorded))
            }
            Err(e) => {
                self.critical(order, &e.to_string());
                self.spawn_write_retry(id, order.clone());
                Err(e)
            }
        }
    }

    /// The CRITICAL line: an order the exchange has and the database does not.
    fn critical(&self, order: &Order, error: &str) {
        let json = serde_json::to_string(order).unwrap_or_else(|e| format!("{order:?} ({e})"));
        tracing::error!(
            critical = true,
            client_order_id = %order.client_order_id,
            symbol = %order.symbol,
            order_id = order.order_id,
            order = %json,
            error = %error,
            "CRITICAL: the exchange has this order but the database write failed; retrying the write"
        );
    }

    /// Retries writing `order` under `client_order_id` until it succeeds or the component
    /// stops (then once more, and a last CRITICAL line if that fails too).
    fn spawn_write_retry(&self, client_order_id: ClientOrderId, order: Order) {
        let this = self.clone();
        self.inner.tasks.spawn(async move {
            let mut delays = retry::record_order().delays();
            let mut attempts = 1u32;
            loop {
                let stopping = tokio::select! {
                    _ = this.inner.stop.cancelled() => true,
                    _ = tokio::time::sleep(delays.next_wait()) => false,
                };
                attempts += 1;
                let (id, copy, now) = (
                    client_order_id.clone(),
                    order.clone(),
                    this.inner.clock.now_ms(),
                );
                let market = this.inner.market;
                let result = this
                    .inner
                    .store
                    .run(move |s| s.record_exchange_order(market, &id, &copy, now))
                    .await
                    .map(Recorded::into_row);
                match result {
                    Ok(row) => {
                        tracing::warn!(
                            client_order_id = %row.client_order_id,
                            status = %row.status,
                            attempts,
                            "order recorded after a failed database write"
                        );
                        return;
                    }
                    Err(e) if stopping => {
                        this.critical(
                            &order,
                            &format!("{e}; giving up at shutdown, the next start reconciles it"),
                        );
                        return;
                    }
                    Err(e) => {
                        tracing::error!(
                            critical = true,
                            client_order_id = %client_order_id,
                            attempts,
                            error = %e,
                            "CRITICAL: order still not recorded, retrying"
                        );
                    }
                }
            }
        });
    }

    /// How long after a request's timestamp the exchange refuses it for sure (its
    /// recvWindow) plus the propagation margin, ms.
    fn rejection_horizon_ms(&self) -> i64 {
        let recv = self
            .inner
            .venue
            .as_ref()
            .map_or(60_000, |v| v.acceptance_window_ms());
        i64::try_from(recv).unwrap_or(60_000) + PROPAGATION_MARGIN_MS
    }

    /// Starts the background task that resolves the unknown outcome of `client_order_id`:
    /// it queries the order with backoff until the exchange knows it (stored as reported)
    /// or, from server time `conclusive_after_ms` on, answers `-2013` (stored
    /// `not_placed`).
    fn spawn_resolver(
        &self,
        symbol: Symbol,
        client_order_id: ClientOrderId,
        conclusive_after_ms: i64,
    ) {
        let this = self.clone();
        self.inner.tasks.spawn(async move {
            this.resolve(symbol, client_order_id, conclusive_after_ms)
                .await;
        });
    }

    async fn resolve(&self, symbol: Symbol, id: ClientOrderId, conclusive_after_ms: i64) {
        let Some(venue) = self.inner.venue.clone() else {
            return;
        };
        let which = OrderRef::ClientOrderId(id.clone());
        let mut delays = retry::resolve_order().delays();
        let mut delay = delays.next_wait();
        let mut queries = 0u32;
        loop {
            tokio::select! {
                _ = self.inner.stop.cancelled() => {
                    tracing::info!(client_order_id = %id, "stopping: unknown outcome left for the next start");
                    return;
                }
                _ = tokio::time::sleep(delay) => {}
            }
            queries += 1;
            match venue.query_order(&symbol, &which).await {
                Ok(order) => {
                    let status = order.status;
                    // A failed write is retried by its own task: nothing left to ask.
                    let stored = self.record_exchange_order(&order).await.is_ok();
                    tracing::info!(
                        client_order_id = %id,
                        status = %status,
                        queries,
                        stored,
                        "unknown outcome resolved: the exchange has the order"
                    );
                    return;
                }
                Err(e) if e.is_no_such_order() => {
                    let code = e.code();
                    let now = venue.server_now_ms();
                    if now >= conclusive_after_ms {
                        let msg = "the exchange has no such order (-2013) after the request's recvWindow passed: never placed";
                        let row = self
                            .inner
                            .store
                            .run({
                                let id = id.clone();
                                let clock = self.inner.clock.clone();
                                move |s| {
                                    s.set_order_outcome(
                                        &id,
                                        OrderStatus::NotPlaced,
                                        code,
                                        Some(msg),
                                        clock.now_ms(),
                                    )
                                }
                            })
                            .await;
                        match row {
                            Ok(_) => {
                                tracing::info!(client_order_id = %id, queries, "unknown outcome resolved: never placed");
                                return;
                            }
                            Err(e) => {
                                tracing::error!(client_order_id = %id, error = %e, "cannot record the resolved outcome, retrying")
                            }
                        }
                    } else {
                        // Not visible yet, or still inside its recvWindow: ask again by
                        // the time it cannot be executed any more.
                        let left = Duration::from_millis(
                            u64::try_from(conclusive_after_ms - now).unwrap_or(0),
                        );
                        delay = delays.next_wait().min(left.max(Duration::from_millis(50)));
                        continue;
                    }
                }
                Err(e) => {
                    tracing::warn!(client_order_id = %id, error = %e, queries, "cannot query an order of unknown outcome yet, retrying");
                }
            }
            delay = delays.next_wait();
        }
    }

    /// Cancels an open order (`DELETE /api/v3/order`) by order id or client order id and
    /// returns it as stored after the exchange answered. An order the database does not
    /// have yet is imported from the answer.
    ///
    /// # Errors
    /// `NoCredentials`; `NotFound` when the exchange refused because it has no such order
    /// and the database has none either (with the exchange's code and msg, `-2011`);
    /// `Rejected` with Binance's code, msg and HTTP status otherwise (`-2011` when the
    /// order is no longer open: `order` then carries its refreshed state);
    /// `OutcomeUnknown` when the cancel may or may not have happened and a query could not
    /// tell; `Exchange`, `Store`.
    pub async fn cancel(&self, symbol: &Symbol, which: &OrderRef) -> Result<OrderRow, OrderError> {
        self.cancel_logged(symbol, which, &mut None).await
    }

    /// [`Orders::cancel`], writing `action` (the request's `actions` row, as it reads when
    /// the cancel succeeds) in the transaction that records the exchange's answer; taken
    /// from `action` when written, left there otherwise (for the caller to write).
    ///
    /// # Errors
    /// As [`Orders::cancel`].
    pub async fn cancel_logged(
        &self,
        symbol: &Symbol,
        which: &OrderRef,
        action: &mut Option<ActionRow>,
    ) -> Result<OrderRow, OrderError> {
        let venue = Arc::clone(self.venue()?);
        let which = &self.algo_ref(symbol, which).await?;
        tracing::info!(symbol = %symbol, order = %which, "cancelling order");
        let _foreground = self.inner.store.foreground_write();
        match venue.cancel_order(symbol, which).await {
            Ok(order) => {
                tracing::info!(symbol = %symbol, order_id = order.order_id, client_order_id = %order.client_order_id, status = %order.status, "order cancelled");
                Ok(self.store_answer_logged(order, action).await?)
            }
            Err(ExchangeError::Api {
                code,
                msg,
                http_status,
                ..
            }) => {
                tracing::warn!(symbol = %symbol, order = %which, code, http_status, msg = %msg, "cancel rejected by the exchange");
                let rejection = Rejection::of(code);
                let order = if matches!(
                    rejection,
                    Rejection::CancelRejected | Rejection::NoSuchOrder
                ) {
                    // Usually filled or cancelled already, or never placed: learn which.
                    match self.refresh(symbol, which).await {
                        Ok(row) => Some(row),
                        Err(OrderError::Exchange(e)) if e.is_no_such_order() => {
                            match self.local(symbol, which).await? {
                                Some(row) => Some(row),
                                None => {
                                    return Err(OrderError::NotFound {
                                        symbol: symbol.clone(),
                                        which: which.clone(),
                                        code,
                                        msg,
                                    });
                                }
                            }
                        }
                        Err(_) => self.local(symbol, which).await?,
                    }
                } else {
                    self.local(symbol, which).await?
                };
                Err(OrderError::Rejected {
                    code,
                    msg,
                    http_status,
                    order: order.map(Box::new),
                })
            }
            Err(ExchangeError::UnknownOutcome { endpoint, detail }) => {
                tracing::warn!(symbol = %symbol, order = %which, error = %detail, "cancel outcome unknown, querying the order");
                match self.refresh(symbol, which).await {
                    Ok(row) if row.status == OrderStatus::Canceled => Ok(row),
                    Ok(row) => Err(OrderError::OutcomeUnknown {
                        order: Box::new(row),
                        detail,
                    }),
                    Err(_) => match self.local(symbol, which).await? {
                        Some(row) => Err(OrderError::OutcomeUnknown {
                            order: Box::new(row),
                            detail,
                        }),
                        None => Err(OrderError::Exchange(ExchangeError::UnknownOutcome {
                            endpoint,
                            detail,
                        })),
                    },
                }
            }
            Err(e) => Err(OrderError::Exchange(e)),
        }
    }

    /// The order, refreshed from the exchange (`GET /api/v3/order`) and stored. An order
    /// the exchange does not know but the database has (e.g. `not_placed`) is returned as
    /// stored.
    /// On USDⓈ-M, a numeric id may be the algo id of a conditional order (`algo_ref.rs`);
    /// so for [`Orders::cancel`].
    ///
    /// # Errors
    /// `NoCredentials`; `NotFound` when neither knows it (with the exchange's code and
    /// msg, `-2013`); `Exchange` when the exchange cannot be asked; `Store`.
    pub async fn get(&self, symbol: &Symbol, which: &OrderRef) -> Result<OrderRow, OrderError> {
        self.venue()?;
        let which = &self.algo_ref(symbol, which).await?;
        match self.refresh(symbol, which).await {
            Ok(row) => {
                if self.inner.market != Market::Spot && !row.executed_qty.is_zero() {
                    self.record_futures_fills(symbol).await;
                }
                Ok(row)
            }
            Err(OrderError::Exchange(ExchangeError::Api { code, msg, .. }))
                if Rejection::of(code) == Rejection::NoSuchOrder =>
            {
                self.local(symbol, which)
                    .await?
                    .ok_or_else(|| OrderError::NotFound {
                        symbol: symbol.clone(),
                        which: which.clone(),
                        code,
                        msg,
                    })
            }
            Err(e) => Err(e),
        }
    }

    /// Queries the order and stores the answer.
    async fn refresh(&self, symbol: &Symbol, which: &OrderRef) -> Result<OrderRow, OrderError> {
        let order = self
            .venue()?
            .query_order(symbol, which)
            .await
            .map_err(OrderError::Exchange)?;
        self.store_answer(order).await
    }

    /// Stores an exchange answer ([`Orders::record_exchange_order`]) and returns the row;
    /// an order whose client order id cannot be stored is returned as a row with id 0.
    async fn store_answer(&self, order: Order) -> Result<OrderRow, OrderError> {
        self.store_answer_logged(order, &mut None).await
    }

    /// [`Orders::store_answer`], with `action` written in the same transaction (taken from
    /// it when written).
    async fn store_answer_logged(
        &self,
        order: Order,
        action: &mut Option<ActionRow>,
    ) -> Result<OrderRow, OrderError> {
        match self.record_exchange_order_logged(&order, action).await? {
            Some(recorded) => Ok(recorded.into_row()),
            None => {
                let now = self.inner.clock.now_ms();
                let row = placeholder(&order, self.inner.market, ClientOrderId::generate(), now);
                Ok(overlay(&row, &order, now))
            }
        }
    }

    /// The stored row `which` names on `symbol`.
    async fn local(
        &self,
        symbol: &Symbol,
        which: &OrderRef,
    ) -> Result<Option<OrderRow>, OrderError> {
        let (symbol, which, market) = (symbol.clone(), which.clone(), self.inner.market);
        Ok(self
            .inner
            .store
            .run(move |s| match &which {
                OrderRef::OrderId(id) => s.order_by_exchange_id(market, &symbol, *id),
                OrderRef::ClientOrderId(c) => {
                    Ok(s.order_by_client_id(c)?.filter(|r| r.symbol == symbol))
                }
            })
            .await?)
    }

    /// Stored orders, newest first: of `filter.symbol` only, not in a final state only
    /// (`filter.open`), at most `filter.limit` (0: [`LIST_DEFAULT_LIMIT`]; capped at
    /// [`LIST_MAX_LIMIT`]). Reads the database only; needs no credentials.
    ///
    /// # Errors
    /// `Store`.
    pub async fn list(&self, mut filter: OrderFilter) -> Result<Vec<OrderRow>, OrderError> {
        filter.limit = match filter.limit {
            0 => LIST_DEFAULT_LIMIT,
            n => n.min(LIST_MAX_LIMIT),
        };
        // One component per market: its own orders unless another market is asked for.
        filter.market.get_or_insert(self.inner.market);
        Ok(self.inner.store.run(move |s| s.orders(&filter)).await?)
    }

    /// Reconciles the database with the exchange (module docs, "Reconciliation at
    /// start").
    ///
    /// # Errors
    /// `NoCredentials`; `Store`; `Exchange` when the open orders cannot be listed (the
    /// per-order queries that fail are counted in [`ReconcileReport::failed`] or left to
    /// the resolver).
    pub async fn reconcile_at_start(&self) -> Result<ReconcileReport, OrderError> {
        let venue = Arc::clone(self.venue()?);
        let mut report = ReconcileReport::default();
        // Any request of the previous run had its timestamp before now: from now plus
        // its recvWindow on, the exchange refuses it for sure.
        let conclusive_after = venue.server_now_ms() + self.rejection_horizon_ms();
        let market = self.inner.market;
        let rows = self
            .inner
            .store
            .run(move |s| s.orders_not_final_in(market))
            .await?;
        for row in rows {
            if locked(&self.inner.in_flight).contains(&row.client_order_id) {
                continue;
            }
            report.checked += 1;
            let which = OrderRef::ClientOrderId(row.client_order_id.clone());
            let in_doubt = matches!(row.status, OrderStatus::Pending | OrderStatus::Unknown);
            match venue.query_order(&row.symbol, &which).await {
                Ok(order) => {
                    if self.record_exchange_order(&order).await.is_ok() {
                        report.updated += 1;
                    } else {
                        report.failed += 1;
                    }
                }
                Err(e) if in_doubt => {
                    if !e.is_no_such_order() {
                        tracing::warn!(client_order_id = %row.client_order_id, error = %e, "cannot query an order in doubt yet: resolving in the background");
                    } else if row.status == OrderStatus::Pending {
                        self.set_outcome(
                            &row,
                            OrderStatus::Unknown,
                            None,
                            Some("daemon stopped before the answer".to_string()),
                        )
                        .await;
                    }
                    self.spawn_resolver(
                        row.symbol.clone(),
                        row.client_order_id.clone(),
                        conclusive_after,
                    );
                    report.resolving += 1;
                }
                Err(e) => {
                    tracing::warn!(client_order_id = %row.client_order_id, status = %row.status, error = %e, "cannot reconcile a stored order");
                    report.failed += 1;
                }
            }
        }
        let open = venue
            .open_orders(None)
            .await
            .map_err(OrderError::Exchange)?;
        for order in open {
            if !ClientOrderId::try_from_exchange(&order.client_order_id)
                .is_some_and(|id| id.is_ours())
            {
                continue;
            }
            if let Some(Recorded::Imported(row)) = self.record_exchange_order(&order).await? {
                tracing::warn!(client_order_id = %row.client_order_id, symbol = %row.symbol, order_id = row.order_id, status = %row.status, "open order of tradebeat missing from the database: imported");
                report.imported += 1;
            }
        }
        if self.inner.market != Market::Spot {
            self.reconcile_futures_account().await?;
        }
        tracing::info!(
            market = self.inner.market.as_str(),
            checked = report.checked,
            updated = report.updated,
            resolving = report.resolving,
            imported = report.imported,
            failed = report.failed,
            "orders reconciled with the exchange"
        );
        Ok(report)
    }

    /// Runs the component until `shutdown`: reconciles at start (retrying with backoff
    /// while the exchange cannot be reached), then refreshes the working orders every
    /// [`REFRESH_EVERY`] ([`Orders::refresh_working`]) unless `user_stream` is healthy; at
    /// shutdown stops the background resolvers and write retries and waits for them (up to
    /// a few seconds). Without credentials it only waits.
    pub async fn run(
        self,
        shutdown: CancellationToken,
        user_stream: watch::Receiver<UserStreamStatus>,
    ) {
        if self.has_credentials() {
            let reconciled = (|| self.reconcile_at_start())
                .retry(retry::reconcile_orders())
                .notify(|e, delay| {
                    tracing::warn!(error = %e, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "reconciliation failed, retrying");
                });
            // Retried without end: it ends reconciled, or at shutdown.
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = reconciled => {}
            }
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(REFRESH_EVERY) => {}
                }
                if user_stream.borrow().state == StreamState::Healthy {
                    continue;
                }
                let refreshed = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    r = self.refresh_working() => r,
                };
                if let Err(e) = refreshed {
                    tracing::warn!(error = %e, "working orders not refreshed");
                }
            }
        } else {
            tracing::info!("no api credentials configured: orders are off, market data runs");
        }
        shutdown.cancelled().await;
        self.stop().await;
    }

    /// Refreshes every stored order that is working on the exchange (not in a final state,
    /// and not in doubt: orders whose placement outcome is unknown have their own resolver)
    /// from the exchange (`GET /api/v3/order` by client order id: "Query order (USER_DATA)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>),
    /// and stores what it says: fills, cancellations and expiries that happened since. Returns
    /// how many orders were refreshed.
    ///
    /// # Errors
    /// `NoCredentials`; `Store`. An order that cannot be queried is logged and left for the
    /// next refresh.
    pub async fn refresh_working(&self) -> Result<usize, OrderError> {
        let venue = Arc::clone(self.venue()?);
        let market = self.inner.market;
        let rows = self
            .inner
            .store
            .run(move |s| s.orders_not_final_in(market))
            .await?;
        let mut refreshed = 0;
        for row in rows {
            if matches!(row.status, OrderStatus::Pending | OrderStatus::Unknown)
                || locked(&self.inner.in_flight).contains(&row.client_order_id)
            {
                continue;
            }
            let which = OrderRef::ClientOrderId(row.client_order_id.clone());
            match venue.query_order(&row.symbol, &which).await {
                Ok(order) => {
                    if self.record_exchange_order(&order).await.is_ok() {
                        refreshed += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(client_order_id = %row.client_order_id, status = %row.status, error = %e, "cannot refresh a working order");
                }
            }
        }
        Ok(refreshed)
    }

    /// Stops the background tasks and waits for them, up to a few seconds.
    pub async fn stop(&self) {
        self.inner.stop.cancel();
        self.inner.tasks.close();
        if tokio::time::timeout(DRAIN_DEADLINE, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background order tasks did not stop in time");
        }
    }

    /// The rules of `symbol`: cached, or fetched (`exchangeInfo?symbol=`). A stale copy is
    /// used when the exchange cannot be asked.
    async fn rules_for(&self, symbol: &Symbol) -> Result<SymbolInfo, OrderError> {
        let now = self.inner.clock.now_ms();
        let cached = locked(&self.inner.rules).get(symbol).cloned();
        if let Some((info, at)) = &cached
            && now - at < RULES_TTL_MS
        {
            return Ok(info.clone());
        }
        match self.venue()?.symbol_info(symbol).await {
            Ok(Some(info)) => {
                locked(&self.inner.rules).insert(symbol.clone(), (info.clone(), now));
                Ok(info)
            }
            Ok(None) => Err(OrderError::UnknownSymbol(symbol.clone())),
            Err(e) if e.rejection() == Some(Rejection::UnknownSymbol) => {
                Err(OrderError::UnknownSymbol(symbol.clone()))
            }
            Err(e) => match cached {
                Some((info, _)) => {
                    tracing::warn!(symbol = %symbol, error = %e, "cannot refresh the symbol's rules, using the cached ones");
                    Ok(info)
                }
                None => Err(OrderError::Exchange(e)),
            },
        }
    }

    /// The last price of `symbol` (cached for a moment), or `None` when it cannot be had:
    /// the notional of a MARKET order is then left to the exchange.
    async fn last_price(&self, symbol: &Symbol) -> Option<Decimal> {
        let now = self.inner.clock.now_ms();
        if let Some((price, at)) = locked(&self.inner.prices).get(symbol).copied()
            && now - at < PRICE_TTL_MS
        {
            return Some(price);
        }
        let Ok(venue) = self.venue() else {
            return None;
        };
        match venue.last_price(symbol).await {
            Ok(price) => {
                locked(&self.inner.prices).insert(symbol.clone(), (price, now));
                Some(price)
            }
            Err(e) => {
                tracing::debug!(symbol = %symbol, error = %e, "no last price: the notional of the market order is left to the exchange");
                None
            }
        }
    }
}

/// [`Orders`] as one of the daemon's components: [`Orders::run`] with the user-data
/// stream's status it watches (no periodic refresh while the stream is healthy).
#[derive(Debug)]
pub struct OrdersComponent {
    orders: Orders,
    user_stream: watch::Receiver<UserStreamStatus>,
}

impl OrdersComponent {
    /// `orders`, run with `user_stream` (`UserStreamHandle::watch`).
    pub fn new(orders: Orders, user_stream: watch::Receiver<UserStreamStatus>) -> Self {
        OrdersComponent {
            orders,
            user_stream,
        }
    }
}

impl crate::component::Component for OrdersComponent {
    fn name(&self) -> &'static str {
        match self.orders.inner.market {
            Market::Spot => "orders",
            Market::UsdM => "orders-usdm",
            Market::CoinM => "orders-coinm",
        }
    }

    /// The background tasks' own drain deadline (3 s), plus a second.
    fn drain_deadline(&self) -> Duration {
        DRAIN_DEADLINE + Duration::from_secs(1)
    }

    fn run(
        self,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.orders.run(shutdown, self.user_stream)
    }
}

/// Marks a placement in flight for as long as it lives.
struct InFlight<'a> {
    set: &'a Mutex<HashSet<ClientOrderId>>,
    id: ClientOrderId,
}

impl<'a> InFlight<'a> {
    fn new(set: &'a Mutex<HashSet<ClientOrderId>>, id: &ClientOrderId) -> InFlight<'a> {
        locked(set).insert(id.clone());
        InFlight {
            set,
            id: id.clone(),
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        locked(self.set).remove(&self.id);
    }
}

fn rate_limited(e: ExchangeError) -> OrderError {
    match e {
        ExchangeError::OrderRateLimited {
            retry_after_ms,
            detail,
        } => OrderError::RateLimited {
            retry_after_ms,
            detail,
        },
        other => OrderError::Exchange(other),
    }
}

impl ClientOrderId {
    /// The exchange's client order id as a [`ClientOrderId`], `None` when it falls outside
    /// the spot pattern.
    fn try_from_exchange(s: &str) -> Option<ClientOrderId> {
        s.parse().ok()
    }
}

/// `row` with what `order` says applied (the row [`Store::record_exchange_order`] would
/// write).
fn overlay(row: &OrderRow, order: &Order, now: i64) -> OrderRow {
    let mut out = row.clone();
    out.order_id = order.exchange_order_id();
    out.status = order.status;
    out.executed_qty = order.executed_qty;
    out.cummulative_quote_qty = order.cummulative_quote_qty;
    if !order.fills.is_empty() {
        out.fills = order.fills.clone();
    }
    out.transact_time = out.transact_time.or(order.time);
    out.update_time = order.update_time.or(out.update_time);
    out.error_code = None;
    out.error_msg = None;
    out.updated_at = now;
    out
}

/// A row for an order that could not be stored, from the exchange's answer (`id` 0).
fn placeholder(
    order: &Order,
    market: Market,
    client_order_id: ClientOrderId,
    now: i64,
) -> OrderRow {
    let nonzero = |d: Decimal| (!d.is_zero()).then_some(d);
    OrderRow {
        id: 0,
        market,
        symbol: order.symbol.clone(),
        client_order_id,
        order_id: order.exchange_order_id(),
        side: order.side,
        order_type: order.order_type,
        time_in_force: order
            .time_in_force
            .filter(|_| order.order_type.needs_time_in_force_on(market)),
        quantity: nonzero(order.orig_qty),
        quote_quantity: nonzero(order.orig_quote_order_qty),
        price: nonzero(order.price),
        stop_price: order.stop_price,
        status: order.status,
        executed_qty: order.executed_qty,
        cummulative_quote_qty: order.cummulative_quote_qty,
        fills: order.fills.clone(),
        error_code: None,
        error_msg: None,
        transact_time: order.time,
        update_time: order.update_time,
        created_at: now,
        updated_at: now,
        futures: order.futures.clone(),
    }
}
