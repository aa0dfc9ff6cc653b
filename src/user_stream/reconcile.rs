//! Reconciliation of the user-data stream: after every (re)connect, fetch over REST what
//! the stream may have missed while no connection was subscribed (module docs of
//! [`crate::user_stream`], "Nothing lost").
//!
//! | step | request (BINANCE.md §4.3) | weight |
//! |---|---|---|
//! | every stored order not in a final state | `GET /api/v3/order` | 4 each |
//! | the open orders (imports orders placed outside tradebeat) | `GET /api/v3/openOrders` | 80 |
//! | fills since the last stored trade, per symbol | `GET /api/v3/myTrades?fromId=` | 20 per page |
//! | orders of those fills that are not stored | `GET /api/v3/order?orderId=` | 4 each, at most [`MAX_ORDER_IMPORTS`] |
//! | balances | `GET /api/v3/account` | 20 |
//!
//! The symbols looked at are those registered, those with stored orders and those with
//! stored fills. A symbol with no stored fill yet gets its most recent 1000 fills; after
//! that, paging with `fromId` fetches every fill exactly once. Everything written is
//! idempotent with what the stream delivers (fills are keyed by trade id; orders never
//! move backwards).

use std::collections::BTreeSet;
use std::str::FromStr as _;
use std::time::Instant;

use super::Inner;
use crate::exchange::{ExchangeError, ORDERS_MAX_LIMIT};
use crate::orders::{ClientOrderId, Order, OrderError, OrderRef};
use crate::store::{Inserted, StoreError};

/// Most orders imported from fills in one reconciliation (4 weight each); the rest are
/// found by the next.
pub const MAX_ORDER_IMPORTS: usize = 100;
/// `-1121 BAD_SYMBOL`: a symbol the exchange no longer lists.
const BAD_SYMBOL: i64 = -1121;

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
    let mut report = ReconcileReport {
        orders_refreshed: inner.orders.refresh_working().await?,
        ..ReconcileReport::default()
    };

    for order in inner.signed.open_orders(None).await? {
        if record_order(inner, order).await? {
            report.orders_imported += 1;
        }
    }

    let symbols = inner
        .store
        .run(move |s| s.reconcile_symbols(market))
        .await?;
    let last = inner.store.run(move |s| s.last_trade_ids(market)).await?;
    let mut imports_left = MAX_ORDER_IMPORTS;
    for symbol in symbols {
        let mut from = last.get(&symbol).map(|id| id + 1);
        loop {
            let page = match from {
                Some(id) => {
                    inner
                        .signed
                        .my_trades_from(&symbol, id, ORDERS_MAX_LIMIT)
                        .await
                }
                None => {
                    inner
                        .signed
                        .my_trades(&symbol, None, ORDERS_MAX_LIMIT)
                        .await
                }
            };
            let page = match page {
                Ok(page) => page,
                Err(e) if e.code() == Some(BAD_SYMBOL) => {
                    tracing::warn!(symbol = %symbol, "the exchange does not list this symbol: its fills are not reconciled");
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            report.symbols += usize::from(from.is_some() || !page.is_empty());
            let full = page.len() >= usize::from(ORDERS_MAX_LIMIT);
            let next = page.last().map(|t| t.id + 1);
            let order_ids: BTreeSet<i64> = page.iter().map(|t| t.order_id).collect();
            let now = inner.clock.now_ms();
            report.trades_new += inner
                .store
                .run(move |s| s.record_trades(market, &page, now))
                .await?;
            // Orders of fills that happened while disconnected and are not stored: placed
            // outside tradebeat. Only for fills after a known one (not for the history
            // fetched the first time a symbol is seen).
            if from.is_some() {
                for order_id in order_ids {
                    if imports_left == 0 {
                        break;
                    }
                    let sym = symbol.clone();
                    let stored = inner
                        .store
                        .run(move |s| s.order_by_exchange_id(market, &sym, order_id))
                        .await?;
                    if stored.is_none() {
                        imports_left -= 1;
                        let order = inner
                            .signed
                            .query_order(&symbol, &OrderRef::OrderId(order_id))
                            .await?;
                        if record_order(inner, order).await? {
                            report.orders_imported += 1;
                        }
                    }
                }
            }
            match (from, next) {
                (Some(_), Some(next)) if full => from = Some(next),
                _ => break,
            }
        }
    }

    let account = inner.signed.account().await?;
    let now = inner.clock.now_ms();
    report.balances = inner
        .store
        .run(move |s| s.apply_account(market, &account, now))
        .await?;
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// Stores `order` as the exchange reports it: imported when unknown (true), brought up
/// to date otherwise (never backwards). Orders whose client order id is outside the spot
/// pattern are logged and left out.
async fn record_order(inner: &Inner, order: Order) -> Result<bool, ReconcileError> {
    let Ok(client_order_id) = ClientOrderId::from_str(&order.client_order_id) else {
        tracing::warn!(symbol = %order.symbol, order_id = order.order_id, "order with a client order id outside the spot pattern: not recorded");
        return Ok(false);
    };
    let market = inner.market;
    let now = inner.clock.now_ms();
    let inserted = inner
        .store
        .run(move |s| match s.import_order(market, &order, now)? {
            Inserted::New(row) => Ok(Some(row)),
            Inserted::Exists(_) => {
                s.apply_exchange_order(&client_order_id, &order, now)?;
                Ok(None)
            }
        })
        .await?;
    match inserted {
        Some(row) => {
            tracing::info!(symbol = %row.symbol, order_id = ?row.order_id, client_order_id = %row.client_order_id, status = %row.status, "order found on the exchange and recorded");
            Ok(true)
        }
        None => Ok(false),
    }
}
