//! Order retention (`[orders] keep_closed_per_symbol = N`): [`OrderRetention`], a component
//! that, at start and then once a day, deletes per (market, symbol) the final orders beyond
//! the newest N with their executions ([`Store::prune_closed_orders_batch`]: a batch of at
//! most [`RETENTION_BATCH`] orders per transaction, a short pause between batches, so no
//! beat or order write waits long for the store's write lock). Orders not final are never
//! deleted. Each pass logs what it deleted, per market and symbol.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{PrunedOrders, Store};

/// Orders deleted per transaction.
pub const RETENTION_BATCH: u32 = 500;
/// The pause between two batches.
const BATCH_PAUSE: Duration = Duration::from_millis(5);
/// How often a pass runs (the first at start).
pub const RETENTION_EVERY: Duration = Duration::from_secs(86_400);

/// The order-retention component.
pub struct OrderRetention {
    store: Store,
    keep: u32,
}

impl OrderRetention {
    /// Keeps the newest `keep` final orders per (market, symbol).
    pub fn new(store: Store, keep: u32) -> OrderRetention {
        OrderRetention { store, keep }
    }

    /// One pass: batches until none is full (or `shutdown`); returns what was deleted. A
    /// failed batch ends the pass with an error line; the next pass tries again.
    pub async fn pass(&self, shutdown: &CancellationToken) -> PrunedOrders {
        let mut total = PrunedOrders::default();
        let keep = self.keep;
        loop {
            match self
                .store
                .run(move |s| s.prune_closed_orders_batch(keep, RETENTION_BATCH))
                .await
            {
                Ok(batch) => {
                    total.add(&batch);
                    if batch.orders < RETENTION_BATCH as usize {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "order retention batch failed; the next pass tries again");
                    break;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(BATCH_PAUSE) => {}
            }
        }
        for ((market, symbol), (orders, executions)) in &total.per_symbol {
            tracing::info!(market = %market, symbol = %symbol, orders, executions, keep,
                "order retention: closed orders deleted with their executions");
        }
        tracing::info!(
            keep,
            orders = total.orders,
            executions = total.executions,
            "order retention applied"
        );
        total
    }

    async fn run_loop(self, shutdown: CancellationToken) {
        loop {
            self.pass(&shutdown).await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(RETENTION_EVERY) => {}
            }
        }
    }
}

impl crate::component::Component for OrderRetention {
    fn name(&self) -> &'static str {
        "order_retention"
    }

    /// A batch in flight finishes (one transaction) before the component ends.
    fn drain_deadline(&self) -> Duration {
        Duration::from_secs(2)
    }

    fn run(
        self,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.run_loop(shutdown)
    }
}
