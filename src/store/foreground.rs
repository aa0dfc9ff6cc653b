//! Writes someone is waiting for go first.
//!
//! SQLite has one writer at a time, and the store serializes its writes (`Store::write`).
//! When an order's answer comes back, the exchange sends the same news on the user-data
//! stream at about the same moment (an `executionReport` for the placement or the cancel).
//! Whichever write takes the lock first makes the other wait a whole transaction. The
//! order's caller is waiting on the control socket for its answer; nobody is waiting on
//! the stream's row.
//!
//! So the order path marks the time from sending a request until its answer is stored as a
//! [`ForegroundWrite`], and the user-data writer calls [`Store::yield_to_foreground`]
//! before each batch: it waits while any foreground write is pending, for at most the
//! bound its caller gives. A burst of orders therefore delays the stream's rows by at most
//! that bound per batch, and never blocks them.

use std::time::Duration;

use tokio::sync::watch;

use super::Store;

/// The count of pending foreground writes; every clone of a store shares it.
pub(super) type Foreground = watch::Sender<usize>;

/// A new count, at zero.
pub(super) fn foreground() -> Foreground {
    watch::Sender::new(0)
}

/// A pending foreground write: counted from [`Store::foreground_write`] until dropped.
#[derive(Debug)]
#[must_use = "the write counts as pending only while the guard lives"]
pub struct ForegroundWrite(Foreground);

impl Drop for ForegroundWrite {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Store {
    /// Marks a write someone waits for as pending (an order request sent, its answer not
    /// yet stored) until the guard is dropped. Background writers that call
    /// [`Store::yield_to_foreground`] let it go first.
    pub fn foreground_write(&self) -> ForegroundWrite {
        self.foreground.send_modify(|n| *n += 1);
        ForegroundWrite(self.foreground.clone())
    }

    /// Waits until no foreground write is pending, or for `at_most`, whichever comes first.
    /// Returns whether it waited: `false`, at once, when none was pending.
    pub async fn yield_to_foreground(&self, at_most: Duration) -> bool {
        if self.foreground_pending() == 0 {
            return false;
        }
        let mut pending = self.foreground.subscribe();
        let _ = tokio::time::timeout(at_most, pending.wait_for(|n| *n == 0)).await;
        true
    }

    /// Foreground writes pending now.
    pub fn foreground_pending(&self) -> usize {
        *self.foreground.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).expect("open");
        (dir, store)
    }

    #[tokio::test(start_paused = true)]
    async fn a_background_writer_waits_for_the_pending_write_then_goes() {
        let (_dir, store) = store();
        let pending = store.foreground_write();
        let waiter = {
            let store = store.clone();
            tokio::spawn(async move {
                let start = tokio::time::Instant::now();
                let waited = store.yield_to_foreground(Duration::from_secs(5)).await;
                (waited, start.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(3)).await;
        assert!(!waiter.is_finished(), "waits while the write is pending");
        drop(pending);
        let (waited, took) = waiter.await.expect("waiter");
        assert!(waited);
        assert_eq!(
            took,
            Duration::from_millis(3),
            "goes as soon as it is stored"
        );
        assert_eq!(store.foreground_pending(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_is_bounded_and_none_pending_means_no_wait() {
        let (_dir, store) = store();
        let start = tokio::time::Instant::now();
        assert!(!store.yield_to_foreground(Duration::from_millis(5)).await);
        assert_eq!(start.elapsed(), Duration::ZERO);

        let _a = store.foreground_write();
        let b = store.foreground_write();
        drop(b);
        assert_eq!(store.foreground_pending(), 1);
        let start = tokio::time::Instant::now();
        assert!(store.yield_to_foreground(Duration::from_millis(5)).await);
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(5),
            "at most the bound"
        );
    }
}
