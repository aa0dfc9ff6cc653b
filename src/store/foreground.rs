//! Writes someone is waiting for go first.
//!
//! SQLite has one writer at a time, and the store serializes its writes (`Store::write`).
//! When an order's answer comes back, the exchange sends the same news on the user-data
//! stream at about the same moment (an `executionReport` for the placement or the cancel).
//! Whichever write takes the lock first makes the other wait a whole transaction. The
//! order's caller is waiting on the control socket for its answer; nobody is waiting on
//! the stream's row.
//!
//! So the order path marks the time from writing its pending row (or sending a cancel)
//! until the answer is stored as a [`ForegroundWrite`], and the user-data writer calls
//! [`Store::yield_to_foreground`] before each batch: it waits while any foreground write is
//! pending, and until none has finished for a short quiet period, for at most the bound
//! its caller gives. Orders come in bursts (a placement and its cancel, a strategy's orders
//! at the beat): a stream batch begun in the gap between two of them made the next one's
//! pending row wait a whole transaction (BENCHMARKS.md, issue 19, "the stream's writes
//! wait for a quiet moment"). A burst of orders therefore delays the stream's rows by at
//! most that bound per batch, and never blocks them.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::Store;

/// The pending foreground writes and when the last one finished; every clone of a store
/// shares it.
pub(super) type Foreground = watch::Sender<Pending>;

/// What [`Foreground`] holds.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Pending {
    /// Foreground writes pending now.
    count: usize,
    /// When the last one finished (tokio's clock: paused in tests); `None` before any.
    last_done: Option<Instant>,
}

/// A new state: none pending, none finished yet.
pub(super) fn foreground() -> Foreground {
    watch::Sender::new(Pending::default())
}

/// A pending foreground write: counted from [`Store::foreground_write`] until dropped,
/// which also records when it finished (the start of the quiet period).
#[derive(Debug)]
#[must_use = "the write counts as pending only while the guard lives"]
pub struct ForegroundWrite(Foreground);

impl Drop for ForegroundWrite {
    fn drop(&mut self) {
        self.0.send_modify(|p| {
            p.count = p.count.saturating_sub(1);
            p.last_done = Some(Instant::now());
        });
    }
}

impl Store {
    /// Marks a write someone waits for as pending (an order's pending row about to be
    /// written, or a request sent, its answer not yet stored) until the guard is dropped.
    /// Background writers that call [`Store::yield_to_foreground`] let it go first.
    pub fn foreground_write(&self) -> ForegroundWrite {
        self.foreground.send_modify(|p| p.count += 1);
        ForegroundWrite(self.foreground.clone())
    }

    /// Waits until no foreground write is pending and none has finished for `quiet` (the
    /// gap within a burst of orders), or for `at_most`, whichever comes first. Returns
    /// whether it waited: `false`, at once, when none is pending and the last finished
    /// `quiet` ago or more.
    pub async fn yield_to_foreground(&self, quiet: Duration, at_most: Duration) -> bool {
        let mut pending = self.foreground.subscribe();
        let deadline = Instant::now() + at_most;
        let mut waited = false;
        loop {
            let now = Instant::now();
            let state = *pending.borrow_and_update();
            let quiet_until = state.last_done.map(|done| done + quiet);
            let until = match (state.count, quiet_until) {
                (0, Some(until)) if until > now => until,
                (0, _) => return waited,
                _ => deadline,
            };
            if now >= deadline {
                return waited;
            }
            waited = true;
            tokio::select! {
                changed = pending.changed() => {
                    if changed.is_err() {
                        return waited;
                    }
                }
                () = tokio::time::sleep_until(until.min(deadline)) => {}
            }
        }
    }

    /// Foreground writes pending now.
    pub fn foreground_pending(&self) -> usize {
        self.foreground.borrow().count
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

    // Whole milliseconds: tokio's timers have millisecond resolution.
    const QUIET: Duration = Duration::from_millis(2);

    /// A background writer yielding to `store`'s foreground writes (for at most 5 s):
    /// whether it waited, and for how long.
    fn spawn_writer(store: &Store) -> tokio::task::JoinHandle<(bool, Duration)> {
        let store = store.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let waited = store
                .yield_to_foreground(QUIET, Duration::from_secs(5))
                .await;
            (waited, start.elapsed())
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_background_writer_waits_for_the_pending_write_and_a_quiet_moment_then_goes() {
        let (_dir, store) = store();
        let pending = store.foreground_write();
        let waiter = spawn_writer(&store);
        tokio::time::sleep(Duration::from_millis(3)).await;
        assert!(!waiter.is_finished(), "waits while the write is pending");
        drop(pending);
        let (waited, took) = waiter.await.expect("waiter");
        assert!(waited);
        assert_eq!(
            took,
            Duration::from_millis(3) + QUIET,
            "goes once the write is stored and no other followed it for the quiet period"
        );
        assert_eq!(store.foreground_pending(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_begun_in_the_quiet_period_holds_the_writer_until_it_is_stored_too() {
        let (_dir, store) = store();
        drop(store.foreground_write());
        let waiter = spawn_writer(&store);
        // The burst's next order, half a quiet period later, stored 2 ms after that.
        tokio::time::sleep(QUIET / 2).await;
        let next = store.foreground_write();
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(
            !waiter.is_finished(),
            "waits for the next order of the burst"
        );
        drop(next);
        let (waited, took) = waiter.await.expect("waiter");
        assert!(waited);
        assert_eq!(took, QUIET / 2 + Duration::from_millis(2) + QUIET);
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_is_bounded_and_a_quiet_store_means_no_wait() {
        let (_dir, store) = store();
        let start = Instant::now();
        assert!(
            !store
                .yield_to_foreground(QUIET, Duration::from_millis(5))
                .await
        );
        assert_eq!(start.elapsed(), Duration::ZERO, "no write ever: no wait");

        drop(store.foreground_write());
        tokio::time::sleep(QUIET).await;
        let start = Instant::now();
        assert!(
            !store
                .yield_to_foreground(QUIET, Duration::from_millis(5))
                .await
        );
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the last one a quiet period ago"
        );

        let _a = store.foreground_write();
        let b = store.foreground_write();
        drop(b);
        assert_eq!(store.foreground_pending(), 1);
        let start = Instant::now();
        assert!(
            store
                .yield_to_foreground(QUIET, Duration::from_millis(5))
                .await
        );
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(5),
            "at most the bound"
        );
    }
}
