//! Futures components start only for a futures market in use ([`crate::orders::Orders`]'s
//! `in_use` mark): a market is in use from the start when the config follows one of its
//! symbols or the database does (an active `symbols` row) or holds orders there; later,
//! when `symbol.add` registers one of its symbols or an order is placed there. Until then
//! the market's orders component (reconciliation, refreshes) and user-data stream
//! (listen key) wait, sending nothing; they start when the mark comes, without a restart.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::component::Component;
use crate::config::Config;
use crate::domain::Market;
use crate::orders::Orders;
use crate::store::Store;

/// Marks each of `futures_orders`' markets in use when the config or the database uses
/// it. A database that cannot be read counts as in use (better a listen key too many than
/// a fill missed).
pub(super) async fn mark_used_at_start(config: &Config, store: &Store, futures_orders: &[Orders]) {
    for orders in futures_orders {
        let market = orders.market();
        let configured = match market {
            Market::UsdM => !config.market_data.usdm_symbols.is_empty(),
            Market::CoinM => !config.market_data.coinm_symbols.is_empty(),
            Market::Spot => true,
        };
        let used = configured
            || store
                .run(move |s| s.market_in_use(market))
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(market = market.as_str(), error = %e, "cannot tell whether the market is in use: starting its orders and stream");
                    true
                });
        if used {
            orders.mark_in_use();
        } else {
            tracing::info!(
                market = market.as_str(),
                "futures market not in use: its orders and user-data stream start once a symbol of it is added or an order is placed there"
            );
        }
    }
}

/// A component that starts `inner` once `in_use` turns `true` (at once if it is).
/// Shutdown before that: `inner` never runs.
pub(super) struct WhenInUse<C> {
    inner: C,
    in_use: watch::Receiver<bool>,
    market: Market,
}

impl<C: Component> WhenInUse<C> {
    /// `inner`, started once `orders`' market is in use.
    pub(super) fn new(inner: C, orders: &Orders) -> WhenInUse<C> {
        WhenInUse {
            inner,
            in_use: orders.in_use(),
            market: orders.market(),
        }
    }
}

impl<C: Component> Component for WhenInUse<C> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn drain_deadline(&self) -> Duration {
        self.inner.drain_deadline()
    }

    fn run(self, shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
        let WhenInUse {
            inner,
            mut in_use,
            market,
        } = self;
        async move {
            let waited = tokio::select! {
                _ = shutdown.cancelled() => return,
                w = in_use.wait_for(|used| *used) => w.is_ok(),
            };
            if !waited {
                // The mark can no longer come (its component is gone).
                shutdown.cancelled().await;
                return;
            }
            let name = inner.name();
            tracing::info!(
                market = market.as_str(),
                component = name,
                "futures market in use: starting"
            );
            inner.run(shutdown).await;
        }
    }
}
