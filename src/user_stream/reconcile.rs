//! Reconciliation of the user-data stream: after every (re)connect, fetch over REST what
//! the stream may have missed while no connection was subscribed (module docs of
//! [`crate::user_stream`], "Nothing lost").
//!
//! | step | request | weight |
//! |---|---|---|
//! | every stored order not in a final state | `GET /api/v3/order` | 4 each |
//! | the open orders (imports orders placed outside tradebeat) | `GET /api/v3/openOrders` | 80 |
//! | fills from the symbol's checkpoint on, per symbol | `GET /api/v3/myTrades?fromId=` | 20 per page |
//! | orders of those fills that are not stored | `GET /api/v3/allOrders?orderId=` | 20 per 1000 orders |
//! | balances | `GET /api/v3/account` | 20 |
//! | futures only: positions | `GET /fapi/v2/positionRisk`, `GET /dapi/v1/positionRisk` | 5, 1 |
//!
//! The requests go to the orders component's venue ([`crate::venue::Venue`]; the table
//! names Binance spot's endpoints; a futures stream's venue sends `/fapi` or `/dapi`'s
//! `openOrders`, `order`, `userTrades`, `allOrders` and `account`), and every order they report is recorded through
//! [`crate::orders::Orders::record_exchange_order`].
//! Requests and weights:
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>.
//!
//! The symbols looked at are those registered, those with stored orders and those with
//! stored fills. The catch-up of a symbol is driven by what may be missing, not by the
//! fills stored: it starts at the symbol's checkpoint (`trade_checkpoints`, see
//! [`crate::store::Store::advance_trade_checkpoint`]), one past the last trade an earlier
//! catch-up was listed, and pages with `fromId` to the newest fill. Once a page's fills and
//! their orders are stored, the checkpoint moves past it, and only here: the catch-up runs
//! after the subscription, so the stream delivers every fill newer than the last page,
//! while a fill the stream stores first (or stored before a crash, or between failed
//! catch-ups) moves nothing and hides nothing older. A symbol without a checkpoint (never
//! caught up, or a database from before checkpoints) gets its most recent 1000 fills (none:
//! its checkpoint becomes 0, so later catch-ups page through everything that follows). The
//! orders of fetched fills that are not stored (placed outside tradebeat) are recorded
//! too. Everything written is idempotent with what the stream delivers (fills are keyed by
//! trade id; orders never move backwards), so fetching a fill again costs weight only.

use std::collections::BTreeSet;
use std::time::Instant;

use super::Inner;
use crate::domain::Order;
use crate::domain::Symbol;
use crate::exchange::{ExchangeError, ORDERS_MAX_LIMIT, Rejection};
use crate::orders::OrderError;
use crate::store::{Recorded, StoreError};
use crate::venue::Venue;

/// What one reconciliation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Stored orders refreshed from the exchange.
    pub orders_refreshed: usize,
    /// Orders found on the exchange that were not stored (open orders and orders of new
    /// fills), now recorded.
    pub orders_imported: usize,
    /// Symbols whose fills were fetched.
    pub symbols: usize,
    /// Fills recorded that were not stored yet.
    pub trades_new: usize,
    /// Balances written from the account snapshot.
    pub balances: usize,
    /// Futures: positions read (`positionRisk`) and stored when not older.
    pub positions: usize,
    /// How long it took, ms.
    pub elapsed_ms: u64,
}

/// Why a reconciliation did not finish; it is tried again.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("{0}")]
    Exchange(#[from] ExchangeError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Orders(#[from] OrderError),
}

/// Runs one reconciliation (module docs).
pub(super) async fn reconcile(inner: &Inner) -> Result<ReconcileReport, ReconcileError> {
    let started = Instant::now();
    let market = inner.market;
    let venue: &dyn Venue = inner.orders.venue()?.as_ref();
    let mut report = ReconcileReport {
        orders_refreshed: inner.orders.refresh_working().await?,
        ..ReconcileReport::default()
    };

    for order in venue.open_orders(None).await? {
        if record_order(inner, order).await? {
            report.orders_imported += 1;
        }
    }

    let symbols = inner
        .store
        .run(move |s| s.reconcile_symbols(market))
        .await?;
    let checkpoints = inner
        .store
        .run(move |s| s.trade_checkpoints(market))
        .await?;
    for symbol in symbols {
        let mut from = checkpoints.get(&symbol).copied();
        let mut listed = true;
        loop {
            let page = match venue.my_trades(&symbol, from, ORDERS_MAX_LIMIT).await {
                Ok(page) => page,
                Err(e) if e.rejection() == Some(Rejection::UnknownSymbol) => {
                    tracing::warn!(symbol = %symbol, "the exchange does not list this symbol: its fills are not reconciled");
                    listed = false;
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            let full = page.len() >= usize::from(ORDERS_MAX_LIMIT);
            // Where the checkpoint moves once this page is stored. An empty answer to a
            // symbol's first catch-up means the account has no fill there yet: every later
            // one is at or past 0.
            let next = match page.last() {
                Some(t) => Some(t.id.saturating_add(1)),
                None if from.is_none() => Some(0),
                None => None,
            };
            let order_ids: BTreeSet<i64> = page.iter().map(|t| t.order_id).collect();
            let now = inner.clock.now_ms();
            report.trades_new += inner
                .store
                .run(move |s| s.record_trades(market, &page, now))
                .await?;
            // Orders of these fills that are not stored: placed outside tradebeat while
            // no connection was subscribed (or before tradebeat first ran).
            let sym = symbol.clone();
            let missing: BTreeSet<i64> = inner
                .store
                .run(move |s| {
                    let mut missing = BTreeSet::new();
                    for id in order_ids {
                        if s.order_by_exchange_id(market, &sym, id)?.is_none() {
                            missing.insert(id);
                        }
                    }
                    Ok::<_, StoreError>(missing)
                })
                .await?;
            report.orders_imported += import_orders(inner, venue, &symbol, missing).await?;
            if let Some(next) = next {
                let sym = symbol.clone();
                inner
                    .store
                    .run(move |s| s.advance_trade_checkpoint(market, &sym, next, now))
                    .await?;
            }
            match (from, next) {
                (Some(_), Some(next)) if full => from = Some(next),
                _ => break,
            }
        }
        report.symbols += usize::from(listed);
    }

    let account = venue.account().await?;
    let now = inner.clock.now_ms();
    report.balances = inner
        .store
        .run(move |s| s.apply_account(market, &account, now))
        .await?;
    // Futures: the positions too (`positionRisk`), flat ones included.
    if market != crate::domain::Market::Spot {
        report.positions = inner.orders.refresh_positions(None).await?.len();
    }
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// Records the orders of `symbol` with ids in `missing` (orders of fills that are not
/// stored), reading them with `allOrders` from the smallest id on, 1000 per page. Returns
/// how many were recorded.
async fn import_orders(
    inner: &Inner,
    venue: &dyn Venue,
    symbol: &Symbol,
    mut missing: BTreeSet<i64>,
) -> Result<usize, ReconcileError> {
    let mut imported = 0;
    while let Some(&first) = missing.first() {
        let page = venue
            .all_orders(symbol, Some(first), ORDERS_MAX_LIMIT)
            .await?;
        let Some(last_id) = page.last().map(|o| o.order_id) else {
            tracing::warn!(symbol = %symbol, order_id = first, "the exchange lists no order for a fill: not recorded");
            break;
        };
        for order in page {
            if missing.remove(&order.order_id) && record_order(inner, order).await? {
                imported += 1;
            }
        }
        // Ids the page passed over are not listed by the exchange.
        missing.retain(|&id| id > last_id);
    }
    Ok(imported)
}

/// Stores `order` as the exchange reports it ([`crate::orders::Orders::record_exchange_order`]):
/// imported when unknown (true), brought up to date otherwise (never backwards). Orders
/// whose client order id is outside the spot pattern are logged and left out.
async fn record_order(inner: &Inner, order: Order) -> Result<bool, ReconcileError> {
    match inner.orders.record_exchange_order(&order).await? {
        Some(Recorded::Imported(row)) => {
            tracing::info!(symbol = %row.symbol, order_id = row.order_id, client_order_id = %row.client_order_id, status = %row.status, "order found on the exchange and recorded");
            Ok(true)
        }
        Some(Recorded::Updated(_)) | None => Ok(false),
    }
}
