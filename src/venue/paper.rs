//! [`PaperVenue`]: spot trading simulated against real prices, with no account and no
//! signed request. Market data comes from the exchange's public endpoints (book ticker,
//! 1m klines, exchangeInfo, time) and, when the daemon gives the venue a [`BookFeed`],
//! from the symbols' `<symbol>@bookTicker` streams; orders, fills and balances live in the
//! database, in the same rows live trading writes (`orders`, `executions`, `balances`), so
//! a restart keeps resting orders and they still fill afterwards.
//!
//! # Fill rules
//!
//! - MARKET: at once, at the book now (the symbol's streamed book while its stream is up,
//!   else a book ticker fetched for the order): a buy at the best ask, a sell at the best
//!   bid, the whole quantity, taker fee. A `quote_quantity` is turned into a base quantity
//!   rounded down to the symbol's lot step.
//! - LIMIT crossing that book (a buy at or above the ask, a sell at or below the bid):
//!   at once, as taker, at the book price. GTC fills whole; IOC fills at most the book's
//!   quantity and expires the rest; FOK fills whole if the book's quantity covers it, else
//!   expires without a fill. LIMIT_MAKER crossing is rejected ("Order would immediately
//!   match and take.").
//! - Otherwise the order rests (IOC and FOK expire instead): its funds are locked (a buy:
//!   quantity × limit price, or × stop price for STOP_LOSS/TAKE_PROFIT; a sell: the
//!   quantity) and it fills whole at its limit price with the maker fee (a market-stop type:
//!   at its stop price, taker fee) as soon as a price after its placement reaches it: a closed 1m kline that
//!   opened after it (low ≤ price for a buy, high ≥ price for a sell) or a newer book
//!   ticker (ask for a buy, bid for a sell). [`PaperVenue::check_resting`] looks, once per
//!   beat ([`PaperWatch`]).
//! - STOP_LOSS(_LIMIT) trigger when the price rises to the stop (buy) / falls to it
//!   (sell); TAKE_PROFIT(_LIMIT) the other way; a stop that would trigger at placement is
//!   rejected ("Stop price would trigger immediately."). The _LIMIT variants fill when one
//!   kline (or book) both triggers the stop and reaches the limit price.
//! - Commission: in the base asset on buys, the quote asset on sells (spot without BNB
//!   discount), `fee × amount`.
//! - Insufficient free balance: `-2010` "Account has insufficient balance for requested
//!   action.", and nothing changes. A symbol without a two-sided book yet is refused; no
//!   order is ever filled at a made-up price.
//!
//! Each change is written as the user-data stream would deliver it, through
//! [`Store::apply_user_data`]: the simulated `executionReport` (its `raw` marked
//! `"paper": true`) and an `outboundAccountPosition` with the new balances, in ONE
//! transaction. A placement through the orders logic ([`Venue::place_order_here`]) writes
//! the order's `pending` row, the fill and the answer in that same transaction, with the
//! request's `actions` row. One lock serializes the venue's writes, so a balance is never
//! checked against a stale copy, and the last ids handed out are kept in memory
//! (`IdCache`), read from the database once.
//!
//! Futures: [`super::PaperFuturesVenue`] uses the same fill conditions (`Resting`) over
//! a futures market's client and keeps positions; [`PaperWatch`] looks at both.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::FutureExt as _;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use rust_decimal::Decimal;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{BookFeed, Venue, VenueResult, locked};
use crate::clock::Clock;
use crate::domain::{
    Account, Balance, BookTicker, ClientOrderId, ExecutionReport, ExecutionType, Fill, Interval,
    Kline, Market, Order, OrderRef, OrderRequest, OrderStatus, OrderType, PaperFees, Side, Spelled,
    Symbol, SymbolInfo, TimeInForce, Trade, UserDataEvent,
};
use crate::exchange::spot::{
    PaperRejection, simulated_account_position, simulated_execution_report,
};
use crate::exchange::{ExchangeError, SpotClient};
use crate::store::{ActionRow, LocalPlacement, OrderRow, PaperIds, Store, StoreError};

/// The oldest candles a sweep looks at: one klines request's worth (1000 × 1m).
pub(super) const KLINES_BACK: i64 = 1000 * 60_000;

/// How many symbols' prices (klines and book ticker) one look reads at once.
pub(super) const PRICE_READS: usize = 8;

/// Binance spot simulated (module docs). Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct PaperVenue {
    inner: Arc<Inner>,
}

struct Inner {
    /// Public endpoints only: never signed.
    client: SpotClient,
    store: Store,
    clock: Clock,
    fees: PaperFees,
    /// Serializes every read-check-write of orders and balances.
    lock: tokio::sync::Mutex<()>,
    rules: Mutex<HashMap<Symbol, SymbolInfo>>,
    /// The last ids handed out (kept in step with every commit).
    ids: IdCache,
    /// Streamed books, when set: orders then read no book over REST.
    feed: OnceLock<BookFeed>,
}

impl std::fmt::Debug for PaperVenue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperVenue")
            .field("fees", &self.inner.fees)
            .finish_non_exhaustive()
    }
}

/// Why paper orders cannot be written.
pub(super) fn store_error(e: StoreError) -> ExchangeError {
    ExchangeError::InvalidRequest(format!("paper venue: database: {e}"))
}

/// Balances by asset: (free, locked).
type Book = BTreeMap<String, (Decimal, Decimal)>;

/// The paper account as the venue reads it (under its lock) before an operation: the
/// balances, the last ids handed out, and the newest balance update time (the simulated
/// account event of the commit is never older than it).
struct Ledger {
    balances: Book,
    ids: PaperIds,
    balances_updated: i64,
}

impl Ledger {
    fn read(s: &Store, ids: &IdCache) -> Result<Ledger, StoreError> {
        let rows = s.balances(Market::Spot)?;
        let balances_updated = rows.iter().map(|b| b.update_time).max().unwrap_or(0);
        Ok(Ledger {
            balances: rows
                .into_iter()
                .map(|b| (b.asset, (b.free, b.locked)))
                .collect(),
            ids: ids.get(s, Market::Spot)?,
            balances_updated,
        })
    }
}

impl PaperVenue {
    /// A paper spot venue over `client` (its public endpoints; an unsigned handle is
    /// enough), recording in `store`, charging `fees`.
    pub fn new(client: SpotClient, store: Store, clock: Clock, fees: PaperFees) -> PaperVenue {
        PaperVenue {
            inner: Arc::new(Inner {
                client,
                store,
                clock,
                fees,
                lock: tokio::sync::Mutex::new(()),
                rules: Mutex::new(HashMap::new()),
                ids: IdCache::default(),
                feed: OnceLock::new(),
            }),
        }
    }

    /// Makes orders read the book from `feed` (the symbol's `<symbol>@bookTicker` stream)
    /// when it has one, and over REST (`GET /api/v3/ticker/bookTicker`) only until then or
    /// while the stream is down. Without a feed, every order reads the book over REST. A
    /// second feed is ignored (the first stays).
    pub fn set_book_feed(&self, feed: BookFeed) {
        let _ = self.inner.feed.set(feed);
    }

    /// Gives the paper account `balances` (asset → amount) when it has none yet (a new
    /// paper database); returns whether it did. Recorded as an account snapshot.
    ///
    /// # Errors
    /// The database's.
    pub async fn seed_balances(
        &self,
        balances: &BTreeMap<String, Decimal>,
    ) -> Result<bool, StoreError> {
        let _guard = self.inner.lock.lock().await;
        let account = Account {
            can_trade: true,
            update_time: self.inner.clock.now_ms(),
            balances: balances
                .iter()
                .filter(|(_, amount)| !amount.is_zero())
                .map(|(asset, amount)| Balance {
                    asset: asset.clone(),
                    free: *amount,
                    locked: Decimal::ZERO,
                })
                .collect(),
        };
        let now = self.inner.clock.now_ms();
        self.inner
            .store
            .run(move |s| {
                if !s.balances(Market::Spot)?.is_empty() {
                    return Ok(false);
                }
                s.apply_account(Market::Spot, &account, now)?;
                Ok(true)
            })
            .await
    }

    async fn info(&self, symbol: &Symbol) -> VenueResult<SymbolInfo> {
        let cached = locked(&self.inner.rules).get(symbol).cloned();
        if let Some(info) = cached {
            return Ok(info);
        }
        let info = self.inner.client.exchange_info_for(symbol).await?;
        let info = info
            .symbol(symbol)
            .cloned()
            .ok_or_else(|| ExchangeError::InvalidRequest(format!("unknown symbol {symbol}")))?;
        locked(&self.inner.rules).insert(symbol.clone(), info.clone());
        Ok(info)
    }

    /// `symbol`'s streamed book, when the venue has a feed and the feed has it.
    fn streamed_book(&self, symbol: &Symbol) -> Option<BookTicker> {
        self.inner.feed.get()?.latest(symbol)
    }

    /// The book an order is decided against: the streamed one when the feed has it, else
    /// a book ticker read over REST now.
    async fn book(&self, symbol: &Symbol) -> VenueResult<BookTicker> {
        let book = match self.streamed_book(symbol) {
            Some(book) => book,
            None => self.inner.client.book_ticker(symbol).await?,
        };
        if !book.is_two_sided() {
            return Err(ExchangeError::InvalidRequest(format!(
                "paper trading: no market data for {symbol} yet (no bid and ask); the order is not filled at a made-up price"
            )));
        }
        Ok(book)
    }

    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    ) -> VenueResult<R> {
        self.inner.store.run(f).await.map_err(store_error)
    }

    /// The paper account as stored, in one database call: see [`Ledger::read`].
    async fn ledger(&self) -> VenueResult<Ledger> {
        let ids = self.inner.ids.clone();
        self.read(move |s| Ledger::read(s, &ids)).await
    }

    /// Writes `reports` and the balances of `touched` assets (from `ledger`, as changed)
    /// in one transaction.
    async fn commit(
        &self,
        reports: Vec<ExecutionReport>,
        ledger: &Ledger,
        touched: &[impl AsRef<str>],
        now: i64,
    ) -> VenueResult<()> {
        let used = used_ids(&reports);
        let events = account_events(reports, ledger, touched, now);
        let local = self.inner.clock.now_ms();
        let written = self
            .read(move |s| s.apply_user_data(Market::Spot, &events, local))
            .await;
        self.inner.ids.after_write(written.is_ok(), used);
        written.map(|_| ())
    }

    /// Looks once at the prices of every symbol with resting paper orders and fills those
    /// the prices reached since they were placed (module docs). The symbols' prices are
    /// read a few at a time ([`PRICE_READS`]); every fill of the look is written in one
    /// transaction. Returns the fills.
    ///
    /// # Errors
    /// The exchange's time or the database's; the orders of a symbol whose prices cannot be
    /// read wait for the next look.
    pub async fn check_resting(&self) -> VenueResult<usize> {
        let rows = self.read(|s| s.orders_not_final_in(Market::Spot)).await?;
        let mut by_symbol: BTreeMap<Symbol, Vec<OrderRow>> = BTreeMap::new();
        for row in rows {
            if row.market == Market::Spot
                && matches!(row.status, OrderStatus::New | OrderStatus::PartiallyFilled)
                && row.order_id.is_some()
            {
                by_symbol.entry(row.symbol.clone()).or_default().push(row);
            }
        }
        if by_symbol.is_empty() {
            return Ok(0);
        }
        let now = self.inner.client.server_time().await?;
        let looks: Vec<Vec<(OrderRow, i64)>> = futures::stream::iter(by_symbol)
            .map(|(symbol, orders)| self.reached_orders(symbol, orders, now))
            .buffer_unordered(PRICE_READS)
            .collect()
            .await;
        let due: Vec<(OrderRow, i64)> = looks.into_iter().flatten().collect();
        self.fill_resting(due, now).await
    }

    /// The orders of `symbol` (all resting) its prices reached ([`reached_by`]).
    async fn reached_orders(
        &self,
        symbol: Symbol,
        orders: Vec<OrderRow>,
        now: i64,
    ) -> Vec<(OrderRow, i64)> {
        let client = &self.inner.client;
        let since = klines_since(&orders, now);
        let klines = client.klines(&symbol, Interval::M1, Some(since), None, 1000);
        // The streamed book when the feed has one (as for placements), else REST.
        let prices = match self.streamed_book(&symbol) {
            Some(book) => (klines.await, Ok(book)),
            None => tokio::join!(klines, client.book_ticker(&symbol)),
        };
        reached_by(Market::Spot, &symbol, orders, prices, now)
    }

    /// Fills each resting order of `due` whole at its price (maker; taker for a triggered
    /// market stop), at its time, all in one transaction; an order no longer open (as
    /// stored now, under the venue's lock) is left alone. Returns the fills.
    async fn fill_resting(&self, due: Vec<(OrderRow, i64)>, now: i64) -> VenueResult<usize> {
        if due.is_empty() {
            return Ok(0);
        }
        let _guard = self.inner.lock.lock().await;
        let ids: Vec<ClientOrderId> = due.iter().map(|(o, _)| o.client_order_id.clone()).collect();
        let cache = self.inner.ids.clone();
        let (current, mut ledger) = self
            .read(move |s| {
                let rows = ids
                    .iter()
                    .map(|id| s.order_by_client_id(id))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((rows, Ledger::read(s, &cache)?))
            })
            .await?;
        let (mut trade_id, mut execution_id) = (ledger.ids.trade_id, ledger.ids.execution_id);
        let balances = &mut ledger.balances;
        let mut reports = Vec::new();
        let mut touched: Vec<String> = Vec::new();
        for ((_, at), row) in due.iter().zip(current) {
            let Some(row) = row else {
                continue;
            };
            let (Some(kind), Some(order_id)) = (Resting::of(&row), row.order_id) else {
                continue;
            };
            if !matches!(row.status, OrderStatus::New | OrderStatus::PartiallyFilled) {
                continue;
            }
            let info = match self.info(&row.symbol).await {
                Ok(info) => info,
                Err(e) => {
                    tracing::warn!(symbol = %row.symbol, error = %e, "paper: symbol rules not read; the order waits for the next look");
                    continue;
                }
            };
            let qty = kind.qty - row.executed_qty;
            let price = kind.fill_price;
            let (base, quote) = (info.base_asset.as_str(), info.quote_asset.as_str());
            let quote_amount = qty * price;
            // A limit price rested on the book (maker); a triggered market stop takes.
            let is_maker = kind.order_type.needs_price();
            let fee = if is_maker {
                self.inner.fees.maker
            } else {
                self.inner.fees.taker
            };
            let commission;
            match kind.side {
                Side::Buy => {
                    commission = qty * fee;
                    move_locked(balances, quote, quote_amount, Decimal::ZERO);
                    add_free(balances, base, qty - commission);
                }
                Side::Sell => {
                    commission = quote_amount * fee;
                    move_locked(balances, base, qty, Decimal::ZERO);
                    add_free(balances, quote, quote_amount - commission);
                }
            }
            for asset in [base, quote] {
                if !touched.iter().any(|t| t == asset) {
                    touched.push(asset.to_string());
                }
            }
            trade_id += 1;
            execution_id += 1;
            let mut report = base_report(&row, order_id, now);
            report.execution_type = ExecutionType::Trade;
            report.order_status = OrderStatus::Filled;
            report.last_qty = qty;
            report.last_price = price;
            report.last_quote_qty = Some(quote_amount);
            report.cumulative_qty = row.executed_qty + qty;
            report.cumulative_quote_qty = row.cummulative_quote_qty + quote_amount;
            report.commission = commission;
            report.commission_asset = Some(commission_asset(kind.side, &info).to_string());
            report.transaction_time = (*at).max(row.update_time.unwrap_or(0));
            report.trade_id = trade_id;
            report.execution_id = Some(execution_id);
            report.is_maker = is_maker;
            reports.push(report);
        }
        let filled = reports.len();
        if filled == 0 {
            return Ok(0);
        }
        let logged: Vec<(Symbol, String, Decimal, Decimal)> = reports
            .iter()
            .map(|r| {
                (
                    r.symbol.clone(),
                    r.client_order_id.clone(),
                    r.last_price,
                    r.last_qty,
                )
            })
            .collect();
        self.commit(reports, &ledger, &touched, now).await?;
        for (symbol, client_order_id, price, qty) in logged {
            tracing::info!(%symbol, %client_order_id, %price, %qty, "paper order filled");
        }
        Ok(filled)
    }

    /// Places a paper order (module docs): the book ticker read for it, then, in one
    /// database call and one transaction under the venue's lock, the account read, the
    /// fill decided and written, the answer recorded on the order's row, with the intent
    /// (`intent`: the order's `pending` row, when the caller has not written it) and
    /// `action` (the request's `actions` row) when given.
    async fn place(
        &self,
        request: &OrderRequest,
        client_order_id: &ClientOrderId,
        intent: Option<i64>,
        action: Option<ActionRow>,
    ) -> VenueResult<(Order, LocalPlacement)> {
        let info = self.info(&request.symbol).await?;
        let book = self.book(&request.symbol).await?;
        let _guard = self.inner.lock.lock().await;
        let now = self.inner.client.server_now_ms();
        let local = self.inner.clock.now_ms();
        let taker = self.inner.fees.taker;
        let (request, id, cache) = (
            request.clone(),
            client_order_id.clone(),
            self.inner.ids.clone(),
        );
        let placed = self.inner.store.run_here(move |s| {
            let mut ledger = Ledger::read(s, &cache)?;
            let decided = match decide(&mut ledger, &request, &id, &info, &book, taker, now) {
                Ok(decided) => decided,
                Err(e) => return Ok(Err(e)),
            };
            let used = used_ids(&decided.reports);
            let events = account_events(decided.reports, &ledger, &decided.touched, now);
            let placed = s.record_local_placement(
                Market::Spot,
                intent.map(|_| &request),
                &id,
                intent.unwrap_or(local),
                &events,
                &decided.order,
                action.as_ref(),
            );
            cache.after_write(matches!(placed, Ok(LocalPlacement::Placed(_))), used);
            Ok(Ok((decided.order, placed?)))
        });
        placed.await.map_err(store_error)?
    }

    async fn find(&self, symbol: &Symbol, which: &OrderRef) -> VenueResult<Option<OrderRow>> {
        let (symbol, which) = (symbol.clone(), which.clone());
        self.read(move |s| match &which {
            OrderRef::OrderId(id) => s.order_by_exchange_id(Market::Spot, &symbol, *id),
            OrderRef::ClientOrderId(c) => {
                Ok(s.order_by_client_id(c)?.filter(|r| r.symbol == symbol))
            }
        })
        .await
    }

    async fn cancel(&self, symbol: &Symbol, which: &OrderRef) -> VenueResult<Order> {
        let info = self.info(symbol).await?;
        let _guard = self.inner.lock.lock().await;
        let row = self.find(symbol, which).await?;
        let Some((row, order_id, kind)) = row.and_then(|r| {
            let id = r.order_id?;
            let kind = Resting::of(&r)?;
            matches!(r.status, OrderStatus::New | OrderStatus::PartiallyFilled)
                .then_some((r, id, kind))
        }) else {
            return Err(PaperRejection::CancelRejected.error());
        };
        let now = self.inner.client.server_now_ms();
        let mut ledger = self.ledger().await?;
        let balances = &mut ledger.balances;
        let open = kind.qty - row.executed_qty;
        let (asset, amount) = match kind.side {
            Side::Buy => (info.quote_asset.as_str(), open * kind.fill_price),
            Side::Sell => (info.base_asset.as_str(), open),
        };
        move_locked(balances, asset, amount, Decimal::ZERO);
        add_free(balances, asset, amount);
        let mut report = base_report(&row, order_id, now);
        report.execution_type = ExecutionType::Canceled;
        report.order_status = OrderStatus::Canceled;
        report.execution_id = Some(ledger.ids.execution_id + 1);
        self.commit(vec![report], &ledger, &[asset], now).await?;
        let mut order = row_order(&row, order_id);
        order.status = OrderStatus::Canceled;
        order.update_time = Some(now);
        Ok(order)
    }
}

/// The last ids (order, trade, execution) a paper venue handed out on its market: read
/// from the database once ([`Store::paper_ids`], a scan of the market's orders and
/// executions), then kept in step with each write. The venue is the only writer of its
/// market's ids, under its lock; after a failed write the ids are read again. Cheap to
/// clone; clones share the ids.
#[derive(Debug, Clone, Default)]
pub(super) struct IdCache(Arc<Mutex<Option<PaperIds>>>);

impl IdCache {
    /// The ids: kept ones, or read from `s` for `market`.
    ///
    /// # Errors
    /// The database's.
    pub(super) fn get(&self, s: &Store, market: Market) -> Result<PaperIds, StoreError> {
        if let Some(ids) = self.kept() {
            return Ok(ids);
        }
        let ids = s.paper_ids(market)?;
        *locked(&self.0) = Some(ids);
        Ok(ids)
    }

    /// The ids, when kept.
    pub(super) fn kept(&self) -> Option<PaperIds> {
        *locked(&self.0)
    }

    /// After a write that used ids up to `used`: kept when it committed, forgotten (read
    /// again next time) when it did not.
    pub(super) fn after_write(&self, committed: bool, used: PaperIds) {
        let mut kept = locked(&self.0);
        *kept = match (committed, *kept) {
            (true, Some(ids)) => Some(PaperIds {
                order_id: ids.order_id.max(used.order_id),
                trade_id: ids.trade_id.max(used.trade_id),
                execution_id: ids.execution_id.max(used.execution_id),
            }),
            _ => None,
        };
    }
}

/// The largest ids `reports` use (0 where none).
fn used_ids(reports: &[ExecutionReport]) -> PaperIds {
    reports.iter().fold(PaperIds::default(), |ids, r| PaperIds {
        order_id: ids.order_id.max(r.order_id),
        trade_id: ids.trade_id.max(r.trade_id),
        execution_id: ids.execution_id.max(r.execution_id.unwrap_or(0)),
    })
}

/// The user-data events a paper change is written as: `reports` as simulated
/// `executionReport`s, then one `outboundAccountPosition` with the balances of the
/// `touched` assets (from `ledger`, as changed), unless none was touched.
fn account_events(
    reports: Vec<ExecutionReport>,
    ledger: &Ledger,
    touched: &[impl AsRef<str>],
    now: i64,
) -> Vec<UserDataEvent> {
    let (balances, stored_update) = (&ledger.balances, ledger.balances_updated);
    let mut events: Vec<UserDataEvent> = reports
        .into_iter()
        .map(simulated_execution_report)
        .collect();
    let changed: Vec<Balance> = touched
        .iter()
        .map(|asset| {
            let asset = asset.as_ref();
            let (free, locked) = balances.get(asset).copied().unwrap_or_default();
            Balance {
                asset: asset.to_string(),
                free,
                locked,
            }
        })
        .collect();
    if !changed.is_empty() {
        events.push(simulated_account_position(
            now,
            now.max(stored_update),
            changed,
        ));
    }
    events
}

/// A paper placement decided: the simulated execution reports, the assets whose balances
/// changed, and the venue's answer.
struct Decided {
    reports: Vec<ExecutionReport>,
    touched: Vec<String>,
    order: Order,
}

/// Decides a paper placement of `request` against `book` (fill rules: module docs),
/// changing `ledger`'s balances as the fill and the funds it locks do; `taker` is the
/// taker fee; `now` the venue's time, ms since the epoch.
///
/// # Errors
/// The exchange's rejections (`-2010` and the others of [`PaperRejection`]), a zero
/// quantity, a stop order without its stop price; `ledger` is then left as it was.
fn decide(
    ledger: &mut Ledger,
    request: &OrderRequest,
    client_order_id: &ClientOrderId,
    info: &SymbolInfo,
    book: &BookTicker,
    taker: Decimal,
    now: i64,
) -> VenueResult<Decided> {
    let (balances, ids) = (&mut ledger.balances, ledger.ids);
    let order_id = ids.order_id + 1;
    let (base, quote) = (info.base_asset.clone(), info.quote_asset.clone());
    let side = request.side;
    let step = info
        .filters
        .market_lot_size
        .filter(|f| !f.step_size.is_zero())
        .or(info.filters.lot_size)
        .map(|f| f.step_size)
        .unwrap_or_default();
    let book_price = match side {
        Side::Buy => book.ask_price,
        Side::Sell => book.bid_price,
    };
    let book_qty = match side {
        Side::Buy => book.ask_qty,
        Side::Sell => book.bid_qty,
    };
    let qty = match (request.quantity, request.quote_quantity) {
        (Some(q), _) => q,
        (None, Some(quote_qty)) => round_down(quote_qty / book_price, step),
        (None, None) => Decimal::ZERO,
    };
    if qty <= Decimal::ZERO {
        return Err(ExchangeError::InvalidRequest(format!(
            "paper trading: the order's quantity is zero at {book_price}"
        )));
    }
    let limit = request.price;
    let tif = request.time_in_force;
    // What happens now: (fill quantity at the book, then rest?).
    let crosses = |p: Decimal| match side {
        Side::Buy => p >= book.ask_price,
        Side::Sell => p <= book.bid_price,
    };
    let (fill_now, rests) = match request.order_type {
        OrderType::Market => (qty, false),
        OrderType::Limit | OrderType::LimitMaker => {
            let p = limit.unwrap_or_default();
            if !crosses(p) {
                (Decimal::ZERO, matches!(tif, None | Some(TimeInForce::Gtc)))
            } else if request.order_type == OrderType::LimitMaker {
                return Err(PaperRejection::WouldTake.error());
            } else {
                match tif {
                    Some(TimeInForce::Ioc) => (qty.min(book_qty), false),
                    Some(TimeInForce::Fok) if qty > book_qty => (Decimal::ZERO, false),
                    _ => (qty, false),
                }
            }
        }
        _ => {
            let kind = Resting::new(
                Market::Spot,
                request.order_type,
                side,
                qty,
                limit,
                request.stop_price,
            )
            .ok_or_else(|| {
                ExchangeError::InvalidRequest("stop order without a stop price".into())
            })?;
            if kind.triggered(book_price, book_price) {
                return Err(PaperRejection::WouldTrigger.error());
            }
            (Decimal::ZERO, true)
        }
    };
    // Funds: what the exchange would check and lock.
    let lock_price = limit.or(request.stop_price).unwrap_or(book_price);
    let (need_asset, need) = match side {
        Side::Buy if request.order_type == OrderType::Market => (
            quote.clone(),
            request.quote_quantity.unwrap_or(qty * book_price),
        ),
        Side::Buy => (quote.clone(), qty * lock_price),
        Side::Sell => (base.clone(), qty),
    };
    let free = balances.get(&need_asset).map_or(Decimal::ZERO, |b| b.0);
    if free < need {
        return Err(PaperRejection::InsufficientBalance.error());
    }

    let mut reports = Vec::new();
    let mut new = ExecutionReport {
        event_time: now,
        symbol: request.symbol.clone(),
        client_order_id: client_order_id.to_string(),
        side,
        order_type: Spelled::Known(request.order_type),
        time_in_force: Spelled::Known(tif.unwrap_or(TimeInForce::Gtc)),
        quantity: qty,
        price: limit.unwrap_or_default(),
        stop_price: request.stop_price.unwrap_or_default(),
        order_list_id: Some(-1),
        orig_client_order_id: String::new(),
        execution_type: ExecutionType::New,
        order_status: OrderStatus::New,
        reject_reason: "NONE".to_string(),
        order_id,
        last_qty: Decimal::ZERO,
        cumulative_qty: Decimal::ZERO,
        last_price: Decimal::ZERO,
        commission: Decimal::ZERO,
        commission_asset: None,
        transaction_time: now,
        trade_id: -1,
        execution_id: Some(ids.execution_id + 1),
        is_maker: false,
        order_creation_time: now,
        cumulative_quote_qty: Decimal::ZERO,
        last_quote_qty: Some(Decimal::ZERO),
        quote_order_qty: Some(request.quote_quantity.unwrap_or_default()),
        working_time: Some(now),
        raw: String::new(),
    };
    reports.push(new.clone());
    let mut fills = Vec::new();
    let mut status = OrderStatus::New;
    let mut quote_done = Decimal::ZERO;
    if !fill_now.is_zero() {
        let amount = fill_now * book_price;
        let commission = match side {
            Side::Buy => {
                let c = fill_now * taker;
                add_free(balances, &quote, -amount);
                add_free(balances, &base, fill_now - c);
                c
            }
            Side::Sell => {
                let c = amount * taker;
                add_free(balances, &base, -fill_now);
                add_free(balances, &quote, amount - c);
                c
            }
        };
        status = if fill_now == qty {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        quote_done = amount;
        new.execution_type = ExecutionType::Trade;
        new.order_status = status;
        new.last_qty = fill_now;
        new.last_price = book_price;
        new.last_quote_qty = Some(amount);
        new.cumulative_qty = fill_now;
        new.cumulative_quote_qty = amount;
        new.commission = commission;
        new.commission_asset = Some(commission_asset(side, info).to_string());
        new.trade_id = ids.trade_id + 1;
        new.execution_id = Some(ids.execution_id + 2);
        reports.push(new.clone());
        fills.push(Fill {
            price: book_price,
            qty: fill_now,
            commission,
            commission_asset: commission_asset(side, info).to_string(),
            trade_id: ids.trade_id + 1,
        });
    }
    if rests {
        move_locked(balances, &need_asset, Decimal::ZERO, need);
    } else if status != OrderStatus::Filled {
        status = OrderStatus::Expired;
        new.execution_type = ExecutionType::Expired;
        new.order_status = status;
        new.last_qty = Decimal::ZERO;
        new.last_price = Decimal::ZERO;
        new.last_quote_qty = Some(Decimal::ZERO);
        new.commission = Decimal::ZERO;
        new.commission_asset = None;
        new.trade_id = -1;
        new.execution_id = Some(ids.execution_id + 3);
        reports.push(new);
    }
    let touched = if rests || !fill_now.is_zero() {
        vec![base, quote]
    } else {
        vec![]
    };
    let order = Order {
        symbol: request.symbol.clone(),
        order_id,
        client_order_id: client_order_id.to_string(),
        side,
        order_type: request.order_type,
        time_in_force: tif,
        price: limit.unwrap_or_default(),
        orig_qty: qty,
        orig_quote_order_qty: request.quote_quantity.unwrap_or_default(),
        executed_qty: fill_now,
        cummulative_quote_qty: quote_done,
        stop_price: request.stop_price,
        status,
        time: Some(now),
        update_time: Some(now),
        fills,
        futures: None,
    };
    Ok(Decided {
        reports,
        touched,
        order,
    })
}

/// A resting order's fill condition (spot and futures paper venues alike).
#[derive(Debug, Clone, Copy)]
pub(super) struct Resting {
    pub(super) market: Market,
    pub(super) order_type: OrderType,
    pub(super) side: Side,
    pub(super) qty: Decimal,
    pub(super) limit: Option<Decimal>,
    pub(super) stop: Option<Decimal>,
    /// Its limit price, or its stop price for the market-stop types.
    pub(super) fill_price: Decimal,
}

impl Resting {
    /// The fill condition of an order of `order_type` on `market`; `None` for MARKET
    /// and for a type missing the price it needs.
    pub(super) fn new(
        market: Market,
        order_type: OrderType,
        side: Side,
        qty: Decimal,
        limit: Option<Decimal>,
        stop: Option<Decimal>,
    ) -> Option<Resting> {
        if order_type == OrderType::Market || (order_type.needs_stop_price() && stop.is_none()) {
            return None;
        }
        let fill_price = if order_type.needs_price_on(market) {
            limit?
        } else {
            stop?
        };
        Some(Resting {
            market,
            order_type,
            side,
            qty,
            limit,
            stop,
            fill_price,
        })
    }

    /// The fill condition of stored order `row` (its whole quantity; a futures
    /// close-position order without one counts zero).
    pub(super) fn of(row: &OrderRow) -> Option<Resting> {
        Resting::new(
            row.market,
            row.order_type,
            row.side,
            match row.quantity {
                Some(q) => q,
                None if row.futures.as_ref().is_some_and(|f| f.close_position) => Decimal::ZERO,
                None => return None,
            },
            row.price,
            row.stop_price,
        )
    }

    /// Whether prices between `low` and `high` trigger the stop (always for non-stops).
    pub(super) fn triggered(&self, low: Decimal, high: Decimal) -> bool {
        let Some(stop) = self.stop else {
            return true;
        };
        match (self.order_type, self.side) {
            (
                OrderType::StopLoss
                | OrderType::StopLossLimit
                | OrderType::Stop
                | OrderType::StopMarket,
                Side::Buy,
            )
            | (
                OrderType::TakeProfit | OrderType::TakeProfitLimit | OrderType::TakeProfitMarket,
                Side::Sell,
            ) => high >= stop,
            (
                OrderType::StopLoss
                | OrderType::StopLossLimit
                | OrderType::Stop
                | OrderType::StopMarket,
                Side::Sell,
            )
            | (
                OrderType::TakeProfit | OrderType::TakeProfitLimit | OrderType::TakeProfitMarket,
                Side::Buy,
            ) => low <= stop,
            _ => true,
        }
    }

    /// Whether prices between `low` and `high` fill the order.
    pub(super) fn reached(&self, low: Decimal, high: Decimal) -> bool {
        let limit_ok = match (
            self.limit
                .filter(|_| self.order_type.needs_price_on(self.market)),
            self.side,
        ) {
            (None, _) => true,
            (Some(p), Side::Buy) => low <= p,
            (Some(p), Side::Sell) => high >= p,
        };
        limit_ok && self.triggered(low, high)
    }
}

/// Where the klines a look reads for `orders` (resting, of one symbol) start: the oldest
/// placement among them, at most [`KLINES_BACK`] before `now`.
pub(super) fn klines_since(orders: &[OrderRow], now: i64) -> i64 {
    orders
        .iter()
        .map(working_time)
        .min()
        .unwrap_or(now)
        .max(now - KLINES_BACK)
}

/// The `orders` of `symbol` (all resting) that its closed 1m candles since their placement,
/// or its book ticker now, reached (`prices`: the klines from [`klines_since`] and the book
/// ticker, as read), each with the time it was reached: the close of the first candle that
/// reached it, else `now`. None when the prices could not be read (logged: the orders wait
/// for the next look).
pub(super) fn reached_by(
    market: Market,
    symbol: &Symbol,
    orders: Vec<OrderRow>,
    prices: (
        Result<Vec<Kline>, ExchangeError>,
        Result<BookTicker, ExchangeError>,
    ),
    now: i64,
) -> Vec<(OrderRow, i64)> {
    let (klines, book) = match prices {
        (Ok(klines), Ok(book)) => (klines, book),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(%market, %symbol, error = %e, "paper: prices not read; its resting orders wait for the next look");
            return Vec::new();
        }
    };
    let candles: Vec<(i64, i64, Decimal, Decimal)> = klines
        .iter()
        .filter(|k| k.close_time < now)
        .filter_map(|k| Some((k.open_time, k.close_time, dec_of(k.low)?, dec_of(k.high)?)))
        .collect();
    orders
        .into_iter()
        .filter_map(|order| {
            let placed = working_time(&order);
            let kind = Resting::of(&order)?;
            let at = candles
                .iter()
                .filter(|(open, ..)| *open >= placed)
                .find(|(_, _, low, high)| kind.reached(*low, *high))
                .map(|(_, close, ..)| *close)
                .or_else(|| {
                    let p = match kind.side {
                        Side::Buy => book.ask_price,
                        Side::Sell => book.bid_price,
                    };
                    (book.is_two_sided() && kind.reached(p, p)).then_some(now)
                })?;
            Some((order, at))
        })
        .collect()
}

/// When a stored order started working (its placement time).
pub(super) fn working_time(row: &OrderRow) -> i64 {
    row.transact_time.unwrap_or(row.created_at)
}

/// A kline price (parsed from the exchange's decimal text into an `f64`) as the decimal it
/// was: the shortest text that reads back as the same `f64`.
pub(super) fn dec_of(price: f64) -> Option<Decimal> {
    Decimal::from_str(&price.to_string()).ok()
}

fn round_down(qty: Decimal, step: Decimal) -> Decimal {
    if step.is_zero() {
        qty
    } else {
        (qty / step).floor() * step
    }
}

fn commission_asset(side: Side, info: &SymbolInfo) -> &str {
    match side {
        Side::Buy => &info.base_asset,
        Side::Sell => &info.quote_asset,
    }
}

fn add_free(balances: &mut Book, asset: &str, amount: Decimal) {
    balances.entry(asset.to_string()).or_default().0 += amount;
}

/// Takes `unlock` out of the locked amount of `asset` and locks `lock` from its free one.
fn move_locked(balances: &mut Book, asset: &str, unlock: Decimal, lock: Decimal) {
    let entry = balances.entry(asset.to_string()).or_default();
    entry.1 -= unlock;
    entry.0 -= lock;
    entry.1 += lock;
}

/// An execution report about stored `row` (no trade), at `now`.
fn base_report(row: &OrderRow, order_id: i64, now: i64) -> ExecutionReport {
    ExecutionReport {
        event_time: now,
        symbol: row.symbol.clone(),
        client_order_id: row.client_order_id.to_string(),
        side: row.side,
        order_type: Spelled::Known(row.order_type),
        time_in_force: Spelled::Known(row.time_in_force.unwrap_or(TimeInForce::Gtc)),
        quantity: row.quantity.unwrap_or_default(),
        price: row.price.unwrap_or_default(),
        stop_price: row.stop_price.unwrap_or_default(),
        order_list_id: Some(-1),
        orig_client_order_id: String::new(),
        execution_type: ExecutionType::New,
        order_status: row.status,
        reject_reason: "NONE".to_string(),
        order_id,
        last_qty: Decimal::ZERO,
        cumulative_qty: row.executed_qty,
        last_price: Decimal::ZERO,
        commission: Decimal::ZERO,
        commission_asset: None,
        transaction_time: now.max(row.update_time.unwrap_or(0)),
        trade_id: -1,
        execution_id: None,
        is_maker: false,
        order_creation_time: working_time(row),
        cumulative_quote_qty: row.cummulative_quote_qty,
        last_quote_qty: Some(Decimal::ZERO),
        quote_order_qty: row.quote_quantity,
        working_time: Some(working_time(row)),
        raw: String::new(),
    }
}

/// A stored order as the venue reports it.
fn row_order(row: &OrderRow, order_id: i64) -> Order {
    Order {
        symbol: row.symbol.clone(),
        order_id,
        client_order_id: row.client_order_id.to_string(),
        side: row.side,
        order_type: row.order_type,
        time_in_force: row.time_in_force,
        price: row.price.unwrap_or_default(),
        orig_qty: row.quantity.unwrap_or_default(),
        orig_quote_order_qty: row.quote_quantity.unwrap_or_default(),
        executed_qty: row.executed_qty,
        cummulative_quote_qty: row.cummulative_quote_qty,
        stop_price: row.stop_price,
        status: row.status,
        time: row.transact_time,
        update_time: row.update_time,
        fills: row.fills.clone(),
        futures: None,
    }
}

impl Venue for PaperVenue {
    fn market(&self) -> Market {
        Market::Spot
    }

    /// Simulated at once (module docs); nothing is sent but public market-data requests.
    /// The order's `pending` row must be stored (the orders logic wrote it).
    fn place_order<'a>(
        &'a self,
        request: &'a OrderRequest,
        client_order_id: &'a ClientOrderId,
    ) -> BoxFuture<'a, VenueResult<Order>> {
        async move { Ok(self.place(request, client_order_id, None, None).await?.0) }.boxed()
    }

    /// The paper order's intent, fill and answer in one transaction.
    fn place_order_here<'a>(
        &'a self,
        request: &'a OrderRequest,
        client_order_id: &'a ClientOrderId,
        now_ms: i64,
        action: Option<&'a ActionRow>,
    ) -> Option<BoxFuture<'a, VenueResult<(Order, LocalPlacement)>>> {
        Some(
            self.place(request, client_order_id, Some(now_ms), action.cloned())
                .boxed(),
        )
    }

    /// From the database; `-2013` "Order does not exist." when it has no such paper order.
    fn query_order<'a>(
        &'a self,
        symbol: &'a Symbol,
        which: &'a OrderRef,
    ) -> BoxFuture<'a, VenueResult<Order>> {
        async move {
            match self.find(symbol, which).await? {
                Some(row) if !row.status.is_local() => match row.order_id {
                    Some(id) => Ok(row_order(&row, id)),
                    None => Err(PaperRejection::NoSuchOrder.error()),
                },
                _ => Err(PaperRejection::NoSuchOrder.error()),
            }
        }
        .boxed()
    }

    /// Cancels a resting paper order and unlocks its funds; `-2011` "Unknown order sent."
    /// when it is not open.
    fn cancel_order<'a>(
        &'a self,
        symbol: &'a Symbol,
        which: &'a OrderRef,
    ) -> BoxFuture<'a, VenueResult<Order>> {
        self.cancel(symbol, which).boxed()
    }

    /// Nothing to ask: the local checks `Orders` ran are all the paper venue has; an
    /// unknown symbol is `-1121`, as the exchange's test endpoint answers it.
    fn test_order<'a>(
        &'a self,
        request: &'a OrderRequest,
        _client_order_id: &'a ClientOrderId,
    ) -> BoxFuture<'a, VenueResult<()>> {
        async move { self.info(&request.symbol).await.map(|_| ()) }.boxed()
    }

    /// Cancels every resting paper order of `symbol`, one by one as
    /// [`Venue::cancel_order`] does; `-2011` "Unknown order sent." when none is open, as
    /// Binance answers `DELETE /api/v3/openOrders` then.
    fn cancel_open_orders<'a>(
        &'a self,
        symbol: &'a Symbol,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        async move {
            let open = self.open_orders(Some(symbol)).await?;
            if open.is_empty() {
                return Err(PaperRejection::CancelRejected.error());
            }
            let mut cancelled = Vec::with_capacity(open.len());
            for order in open {
                cancelled.push(
                    self.cancel(symbol, &OrderRef::OrderId(order.order_id))
                        .await?,
                );
            }
            Ok(cancelled)
        }
        .boxed()
    }

    fn open_orders<'a>(
        &'a self,
        symbol: Option<&'a Symbol>,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        async move {
            let rows = self.read(|s| s.orders_not_final_in(Market::Spot)).await?;
            Ok(rows
                .iter()
                .filter(|r| r.market == Market::Spot && symbol.is_none_or(|s| &r.symbol == s))
                .filter(|r| matches!(r.status, OrderStatus::New | OrderStatus::PartiallyFilled))
                .filter_map(|r| Some(row_order(r, r.order_id?)))
                .collect())
        }
        .boxed()
    }

    /// The paper orders of `symbol` from the database, oldest first.
    fn all_orders<'a>(
        &'a self,
        symbol: &'a Symbol,
        from_order_id: Option<i64>,
        limit: u16,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        async move {
            let filter = crate::store::OrderFilter {
                symbol: Some(symbol.clone()),
                limit: 1000,
                ..Default::default()
            };
            let rows = self.read(move |s| s.orders(&filter)).await?;
            let mut orders: Vec<Order> = rows
                .iter()
                .filter(|r| r.market == Market::Spot && !r.status.is_local())
                .filter_map(|r| Some(row_order(r, r.order_id?)))
                .filter(|o| from_order_id.is_none_or(|from| o.order_id >= from))
                .collect();
            orders.sort_by_key(|o| o.order_id);
            orders.truncate(usize::from(limit));
            Ok(orders)
        }
        .boxed()
    }

    /// Nothing to catch up: paper fills are stored as they are simulated.
    fn my_trades<'a>(
        &'a self,
        _symbol: &'a Symbol,
        _from_id: Option<i64>,
        _limit: u16,
    ) -> BoxFuture<'a, VenueResult<Vec<Trade>>> {
        async { Ok(Vec::new()) }.boxed()
    }

    /// The paper balances from the database.
    fn account(&self) -> BoxFuture<'_, VenueResult<Account>> {
        async move {
            let rows = self.read(|s| s.balances(Market::Spot)).await?;
            Ok(Account {
                can_trade: true,
                update_time: rows.iter().map(|b| b.update_time).max().unwrap_or(0),
                balances: rows
                    .into_iter()
                    .filter(|b| !(b.free.is_zero() && b.locked.is_zero()))
                    .map(|b| Balance {
                        asset: b.asset,
                        free: b.free,
                        locked: b.locked,
                    })
                    .collect(),
            })
        }
        .boxed()
    }

    /// `GET /api/v3/exchangeInfo?symbol=` (public).
    fn symbol_info<'a>(
        &'a self,
        symbol: &'a Symbol,
    ) -> BoxFuture<'a, VenueResult<Option<SymbolInfo>>> {
        async move {
            let info = self.inner.client.exchange_info_for(symbol).await?;
            Ok(info.symbol(symbol).cloned())
        }
        .boxed()
    }

    /// `GET /api/v3/ticker/price?symbol=` (public).
    fn last_price<'a>(&'a self, symbol: &'a Symbol) -> BoxFuture<'a, VenueResult<Decimal>> {
        self.inner.client.ticker_price(symbol).boxed()
    }

    fn server_now_ms(&self) -> i64 {
        self.inner.client.server_now_ms()
    }

    /// Zero: a paper placement either happened (its row says so) or not.
    fn acceptance_window_ms(&self) -> u64 {
        0
    }

    /// Paper orders count against no exchange limit.
    fn check_order_rate(&self) -> VenueResult<()> {
        Ok(())
    }
}

/// How often [`PaperWatch`] looks at least, whatever the beats do.
const WATCH_EVERY_MAX: Duration = Duration::from_secs(60);

/// A paper venue with resting orders for [`PaperWatch`] to check.
pub trait PaperBook: Send + Sync {
    /// Looks once at the prices of the symbols with resting orders and fills those they
    /// reached; returns the fills.
    ///
    /// # Errors
    /// The exchange's or the database's.
    fn check_resting(&self) -> BoxFuture<'_, VenueResult<usize>>;

    /// The market the venue simulates (for the log).
    fn paper_market(&self) -> Market;
}

impl PaperBook for PaperVenue {
    fn check_resting(&self) -> BoxFuture<'_, VenueResult<usize>> {
        PaperVenue::check_resting(self).boxed()
    }

    fn paper_market(&self) -> Market {
        Market::Spot
    }
}

/// The component that fills resting paper orders: after every beat (the heartbeat's
/// status watch changes), and at least every minute, one [`PaperBook::check_resting`]
/// of each of its venues (spot, and the futures markets').
pub struct PaperWatch<T> {
    venues: Vec<Arc<dyn PaperBook>>,
    beats: watch::Receiver<T>,
}

impl<T> PaperWatch<T> {
    /// Watches `venue`'s resting orders after each change of `beats`.
    pub fn new(venue: PaperVenue, beats: watch::Receiver<T>) -> Self {
        PaperWatch {
            venues: vec![Arc::new(venue)],
            beats,
        }
    }

    /// Watches `venue`'s resting orders too.
    #[must_use]
    pub fn with(mut self, venue: impl PaperBook + 'static) -> Self {
        self.venues.push(Arc::new(venue));
        self
    }
}

impl<T: Send + Sync + 'static> crate::component::Component for PaperWatch<T> {
    fn name(&self) -> &'static str {
        "paper"
    }

    fn drain_deadline(&self) -> Duration {
        Duration::from_secs(2)
    }

    fn run(
        self,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.watch(shutdown)
    }
}

impl<T: Send + Sync + 'static> PaperWatch<T> {
    async fn watch(mut self, shutdown: CancellationToken) {
        {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    changed = self.beats.changed() => {
                        if changed.is_err() {
                            shutdown.cancelled().await;
                            break;
                        }
                    }
                    _ = tokio::time::sleep(WATCH_EVERY_MAX) => {}
                }
                for venue in &self.venues {
                    let checked = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        r = venue.check_resting() => r,
                    };
                    let market = venue.paper_market().as_str();
                    match checked {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(market, filled = n, "resting paper orders filled"),
                        Err(e) => {
                            tracing::warn!(market, error = %e, "resting paper orders not checked")
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_once_then_kept_in_step_and_read_again_after_a_failed_write() {
        let (_dir, store) = crate::store::temp_store();
        let cache = IdCache::default();
        assert_eq!(cache.kept(), None);
        assert_eq!(
            cache.get(&store, Market::Spot).unwrap(),
            PaperIds::default()
        );
        let used = PaperIds {
            order_id: 1,
            trade_id: 1,
            execution_id: 2,
        };
        cache.after_write(true, used);
        // Kept, not read: the database has none of these ids.
        assert_eq!(cache.get(&store, Market::Spot).unwrap(), used);
        // Older ids do not move them back.
        cache.after_write(true, PaperIds::default());
        assert_eq!(cache.kept(), Some(used));
        // A write that did not commit: read again.
        cache.after_write(false, used);
        assert_eq!(cache.kept(), None);
        assert_eq!(
            cache.get(&store, Market::Spot).unwrap(),
            PaperIds::default()
        );
    }
}
