//! The WAL checkpointer: copies the write-ahead log back into the database file off the
//! request path.
//!
//! By default SQLite checkpoints inside the commit that takes the WAL past 1000 pages, so
//! whichever write comes then (an order, a beat) pays the checkpoint's copy and its flush
//! of the database file. The store's connections turn that off (`wal_autocheckpoint =
//! 0`, see [`Store::open`]); [`Checkpointer`], a component on a connection of its own, does
//! the work instead ("Checkpointing" in <https://www.sqlite.org/wal.html>):
//!
//! - a `PASSIVE` checkpoint (never waits for and never blocks a reader or the writer)
//!   once the database has been quiet for a whole [`Checkpointer::PERIOD`] after a write,
//!   and at least every [`Checkpointer::BUSY_PERIODS`] periods while writes go on, so the
//!   WAL stays short and the next writer can start it over from its beginning;
//! - a `TRUNCATE` checkpoint, rarely: when the `-wal` file has grown past
//!   [`Checkpointer::TRUNCATE_WAL_BYTES`] (long readers kept `PASSIVE` from finishing). It
//!   takes the store's write lock for its duration, so writers wait for it on that lock
//!   rather than failing busy; this bounds the WAL's size on disk.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::Connection;
use tokio_util::sync::CancellationToken;

use super::{BUSY_TIMEOUT, Store, StoreError, open_flags};
use crate::component::Component;

/// What one checkpoint did: frames in the WAL and frames copied back, as SQLite reports
/// them (`PRAGMA wal_checkpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    /// `true` for a `TRUNCATE` checkpoint, `false` for a `PASSIVE` one.
    pub truncate: bool,
    /// SQLite could not finish (a reader or writer held it up); it is tried again later.
    pub busy: bool,
    /// Frames in the WAL.
    pub log_frames: i64,
    /// Frames copied into the database file.
    pub checkpointed_frames: i64,
}

/// The component that checkpoints the WAL; see the module docs.
#[derive(Debug)]
pub struct Checkpointer {
    store: Store,
}

/// The checkpointer's state between two looks at the database.
#[derive(Debug)]
struct Policy {
    conn: Connection,
    wal_path: PathBuf,
    /// `PRAGMA data_version` at the previous look: it changes when another connection
    /// commits.
    data_version: Option<i64>,
    /// Writes happened since the last complete checkpoint.
    dirty: bool,
    /// Consecutive periods with writes since the last checkpoint.
    busy_periods: u32,
}

impl Checkpointer {
    /// How often the checkpointer looks at the database.
    pub const PERIOD: Duration = Duration::from_secs(1);
    /// While writes go on without a quiet period, a `PASSIVE` checkpoint at least every
    /// this many periods.
    pub const BUSY_PERIODS: u32 = 5;
    /// A `-wal` file larger than this is checkpointed with `TRUNCATE` (bytes).
    pub const TRUNCATE_WAL_BYTES: u64 = 64 * 1024 * 1024;

    /// A checkpointer for `store`'s database.
    pub fn new(store: Store) -> Checkpointer {
        Checkpointer { store }
    }
}

impl Policy {
    fn open(store: &Store) -> Result<Policy, StoreError> {
        let conn = Connection::open_with_flags(store.path(), open_flags())?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mut wal = store.path().as_os_str().to_owned();
        wal.push("-wal");
        Ok(Policy {
            conn,
            wal_path: PathBuf::from(wal),
            data_version: None,
            dirty: false,
            busy_periods: 0,
        })
    }

    /// One look at the database: checkpoints if the policy says so (module docs).
    fn step(&mut self, store: &Store) -> Result<Option<Checkpointed>, StoreError> {
        if store.is_replaced() {
            return Ok(None);
        }
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let wrote = self.data_version.is_some_and(|v| v != version);
        self.data_version = Some(version);
        let wal_bytes = std::fs::metadata(&self.wal_path).map_or(0, |m| m.len());
        if wal_bytes > Checkpointer::TRUNCATE_WAL_BYTES {
            let _writer = store
                .write_lock
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            return self.checkpoint(true).map(Some);
        }
        if wrote {
            self.dirty = true;
            self.busy_periods += 1;
            if self.busy_periods < Checkpointer::BUSY_PERIODS {
                return Ok(None);
            }
        } else if !self.dirty {
            return Ok(None);
        }
        self.checkpoint(false).map(Some)
    }

    fn checkpoint(&mut self, truncate: bool) -> Result<Checkpointed, StoreError> {
        let sql = if truncate {
            "PRAGMA wal_checkpoint(TRUNCATE)"
        } else {
            "PRAGMA wal_checkpoint(PASSIVE)"
        };
        let (busy, log_frames, checkpointed_frames): (i64, i64, i64) =
            self.conn
                .query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let done = Checkpointed {
            truncate,
            busy: busy != 0,
            log_frames,
            checkpointed_frames,
        };
        self.busy_periods = 0;
        self.dirty = done.busy || checkpointed_frames < log_frames;
        Ok(done)
    }
}

impl Component for Checkpointer {
    fn name(&self) -> &'static str {
        "checkpointer"
    }

    /// A checkpoint in progress finishes on the blocking pool whatever happens; nothing to
    /// drain.
    fn drain_deadline(&self) -> Duration {
        Duration::from_secs(1)
    }

    /// Returns at shutdown (SQLite checkpoints the WAL when the last connection closes).
    /// Errors are logged and the next period tries again.
    async fn run(self, shutdown: CancellationToken) {
        let store = self.store;
        let opened = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || Policy::open(&store)).await
        };
        let mut policy = match opened {
            Ok(Ok(policy)) => policy,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "checkpointer cannot open the database; SQLite checkpoints only at shutdown");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "checkpointer did not start");
                return;
            }
        };
        let mut ticks = tokio::time::interval(Checkpointer::PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let store = store.clone();
            let stepped = tokio::task::spawn_blocking(move || {
                let result = policy.step(&store);
                (policy, result)
            })
            .await;
            let result;
            (policy, result) = match stepped {
                Ok(stepped) => stepped,
                Err(e) => {
                    tracing::error!(error = %e, "checkpoint task failed; checkpointer stops");
                    return;
                }
            };
            match result {
                Ok(Some(done)) => tracing::debug!(
                    truncate = done.truncate,
                    busy = done.busy,
                    log_frames = done.log_frames,
                    checkpointed_frames = done.checkpointed_frames,
                    "wal checkpoint"
                ),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "wal checkpoint failed; tried again"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_something(store: &Store, n: i64) {
        store
            .write(|tx| {
                tx.execute(
                    "INSERT OR REPLACE INTO heartbeats (beat_time, started_at, finished_at,
                         symbols_ok, symbols_failed, klines_written, skipped_before, trigger)
                     VALUES (?1, 0, 0, 0, 0, 0, 0, 'schedule')",
                    [n],
                )?;
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn passive_after_a_quiet_period_and_at_least_every_busy_periods() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let mut policy = Policy::open(&store).unwrap();
        assert_eq!(policy.step(&store).unwrap(), None, "nothing written yet");
        write_something(&store, 1);
        assert_eq!(policy.step(&store).unwrap(), None, "writes are going on");
        // A quiet period: everything written is copied back.
        let done = policy
            .step(&store)
            .unwrap()
            .expect("no checkpoint when quiet");
        assert!(!done.truncate && !done.busy, "{done:?}");
        assert!(done.log_frames > 0, "{done:?}");
        assert_eq!(done.checkpointed_frames, done.log_frames);
        assert_eq!(policy.step(&store).unwrap(), None, "nothing left to do");
        // Writes in every period: a checkpoint anyway after BUSY_PERIODS of them.
        let mut seen = None;
        for n in 0..Checkpointer::BUSY_PERIODS {
            assert_eq!(seen, None, "checkpointed after {n} busy periods");
            write_something(&store, 10 + i64::from(n));
            seen = policy.step(&store).unwrap();
        }
        let done = seen.expect("no checkpoint while writes went on");
        assert_eq!(done.checkpointed_frames, done.log_frames);
    }

    #[test]
    fn a_large_wal_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let mut policy = Policy::open(&store).unwrap();
        policy.step(&store).unwrap();
        let wal = dir.path().join("t.db-wal");
        // Stand-in for a WAL grown past the bound while a reader kept it.
        write_something(&store, 1);
        let file = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
        file.set_len(Checkpointer::TRUNCATE_WAL_BYTES + 1).unwrap();
        let done = policy.step(&store).unwrap().expect("no checkpoint");
        assert!(done.truncate, "{done:?}");
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    }
}
