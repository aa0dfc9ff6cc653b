//! The order conveniences of the control socket: the exchange's open orders compared
//! with the database ([`Orders::compare_open`]), cancel-all ([`Orders::cancel_all`]) and
//! the test order ([`Orders::test`]). Like the rest of `orders/`, they trade only through
//! the [`Venue`](crate::venue::Venue).

use std::collections::HashSet;
use std::sync::Arc;

use super::{OrderError, Orders, rate_limited};
use crate::domain::{ClientOrderId, Order, OrderRef, OrderRequest, Symbol, rules};
use crate::exchange::{ExchangeError, Rejection};
use crate::store::{OrderFilter, OrderRow};

/// How an open order on the exchange compares with the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveMark {
    /// Open on the exchange and stored with the same status and executed quantity.
    Same,
    /// Open on the exchange, not in the database (placed elsewhere, or not seen yet).
    ExchangeOnly,
    /// Not in a final state in the database, but not open on the exchange.
    DatabaseOnly,
    /// Open on both, with a different status or executed quantity.
    Differs,
}

impl LiveMark {
    /// The mark's name on the control socket: `same`, `exchange_only`, `database_only`,
    /// `differs`.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveMark::Same => "same",
            LiveMark::ExchangeOnly => "exchange_only",
            LiveMark::DatabaseOnly => "database_only",
            LiveMark::Differs => "differs",
        }
    }
}

/// One order of [`Orders::compare_open`]: the stored row and/or the exchange's word.
#[derive(Debug, Clone)]
pub struct LiveOrder {
    pub mark: LiveMark,
    pub stored: Option<OrderRow>,
    pub exchange: Option<Order>,
}

/// The most stored open orders compared.
const COMPARE_LIMIT: u32 = 1000;

impl Orders {
    /// The exchange's open orders (of `symbol`, or all) next to the database's orders not
    /// in a final state, each marked ([`LiveMark`]). Nothing is written.
    ///
    /// # Errors
    /// `NoCredentials`; the exchange's and the database's errors.
    pub async fn compare_open(
        &self,
        symbol: Option<&Symbol>,
    ) -> Result<Vec<LiveOrder>, OrderError> {
        let venue = Arc::clone(self.venue()?);
        let live = venue
            .open_orders(symbol)
            .await
            .map_err(OrderError::Exchange)?;
        let filter = OrderFilter {
            market: None,
            symbol: symbol.cloned(),
            open: true,
            limit: COMPARE_LIMIT,
        };
        let mut stored = self.list(filter).await?;
        let mut out = Vec::with_capacity(live.len() + stored.len());
        for order in live {
            let found = stored.iter().position(|row| {
                row.symbol == order.symbol
                    && (row.order_id == Some(order.order_id)
                        || row.client_order_id.as_str() == order.client_order_id)
            });
            match found {
                Some(i) => {
                    let row = stored.swap_remove(i);
                    let same = row.status == order.status && row.executed_qty == order.executed_qty;
                    out.push(LiveOrder {
                        mark: if same {
                            LiveMark::Same
                        } else {
                            LiveMark::Differs
                        },
                        stored: Some(row),
                        exchange: Some(order),
                    });
                }
                None => out.push(LiveOrder {
                    mark: LiveMark::ExchangeOnly,
                    stored: None,
                    exchange: Some(order),
                }),
            }
        }
        out.extend(stored.into_iter().map(|row| LiveOrder {
            mark: LiveMark::DatabaseOnly,
            stored: Some(row),
            exchange: None,
        }));
        Ok(out)
    }

    /// Cancels every open order of `symbol` in one request (sent once) and stores what the
    /// exchange answered; stored orders of `symbol` still not final afterwards are
    /// refreshed from the exchange. Returns the cancelled orders as stored (empty when
    /// nothing was open).
    ///
    /// # Errors
    /// `NoCredentials`; `Rejected` for another refusal; `Exchange` (e.g. an unknown
    /// outcome: the stored orders are refreshed by the next reconciliation).
    pub async fn cancel_all(&self, symbol: &Symbol) -> Result<Vec<OrderRow>, OrderError> {
        let venue = Arc::clone(self.venue()?);
        tracing::info!(symbol = %symbol, "cancelling all open orders");
        let answered = match venue.cancel_open_orders(symbol).await {
            Ok(orders) => orders,
            Err(e) if e.rejection() == Some(Rejection::CancelRejected) => {
                tracing::info!(symbol = %symbol, "no open order to cancel");
                Vec::new()
            }
            Err(ExchangeError::Api {
                code,
                msg,
                http_status,
                ..
            }) => {
                return Err(OrderError::Rejected {
                    code,
                    msg,
                    http_status,
                    order: None,
                });
            }
            Err(e) => return Err(OrderError::Exchange(e)),
        };
        let mut rows = Vec::with_capacity(answered.len());
        let mut seen = HashSet::new();
        for order in answered {
            seen.insert(order.order_id);
            rows.push(self.store_answer(order).await?);
        }
        // Rows the answer did not name (filled meanwhile, or never seen open): ask.
        let filter = OrderFilter {
            market: None,
            symbol: Some(symbol.clone()),
            open: true,
            limit: COMPARE_LIMIT,
        };
        for row in self.list(filter).await? {
            if row.order_id.is_some_and(|id| seen.contains(&id)) {
                continue;
            }
            let which = OrderRef::ClientOrderId(row.client_order_id.clone());
            if let Err(e) = self.refresh(symbol, &which).await {
                tracing::debug!(symbol = %symbol, client_order_id = %row.client_order_id, error = %e,
                    "order not refreshed after cancel-all");
            }
        }
        tracing::info!(symbol = %symbol, cancelled = rows.len(), "all open orders cancelled");
        Ok(rows)
    }

    /// Checks `request` as [`Orders::place`] would (the symbol's rules, the last price for
    /// MARKET notional, the order-rate limit), then has the exchange test it
    /// (`POST /api/v3/order/test`). Nothing is stored and nothing is placed.
    ///
    /// # Errors
    /// `NoCredentials`; `Rule` / `UnknownSymbol` (nothing sent); `RateLimited`;
    /// `Rejected` (with no order) for the exchange's refusal; `Exchange` otherwise.
    pub async fn test(&self, request: &OrderRequest) -> Result<(), OrderError> {
        let venue = Arc::clone(self.venue()?);
        let info = self.rules_for(&request.symbol).await?;
        rules::check(request, &info, None)?;
        if rules::needs_market_price(request, &info.filters)
            && let Some(last_price) = self.last_price(&request.symbol).await
        {
            rules::check(request, &info, Some(last_price))?;
        }
        venue.check_order_rate().map_err(rate_limited)?;
        let client_order_id = request
            .client_order_id
            .clone()
            .unwrap_or_else(ClientOrderId::generate);
        match venue.test_order(request, &client_order_id).await {
            Ok(()) => Ok(()),
            Err(ExchangeError::Api {
                code,
                msg,
                http_status,
                ..
            }) => Err(OrderError::Rejected {
                code,
                msg,
                http_status,
                order: None,
            }),
            Err(e) => Err(OrderError::Exchange(e)),
        }
    }
}
