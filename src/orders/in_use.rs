//! Whether a futures market is in use: the daemon starts a futures market's background
//! work (this component's reconciliation and refreshes, the market's user-data stream)
//! only once the user uses the market, so a spot-only user sends nothing to the futures
//! hosts. A market is in use when it is marked so: at start (a followed symbol, or order
//! rows there: `src/daemon/futures_use.rs`), by `symbol.add` of one of its symbols, or by
//! an order placed there ([`Orders::place`] marks it). Spot is always in use.

use tokio::sync::watch;

use super::Orders;

impl Orders {
    /// Marks this component's market in use (once; later calls change nothing).
    pub fn mark_in_use(&self) {
        self.inner.in_use.send_if_modified(|used| {
            let changed = !*used;
            *used = true;
            changed
        });
    }

    /// Whether the market is in use now.
    pub fn is_in_use(&self) -> bool {
        *self.inner.in_use.borrow()
    }

    /// A receiver that turns `true` once the market is in use.
    pub fn in_use(&self) -> watch::Receiver<bool> {
        self.inner.in_use.subscribe()
    }
}
