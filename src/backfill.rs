//! History backfill and gap repair (issue 3). API SKELETON: the types and signatures below
//! are the contract the control socket codes against; the implementation replaces the
//! bodies.

use serde::Serialize;

use crate::types::{Interval, Symbol};

/// What went wrong starting or querying backfill jobs.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The symbol is not registered (or not active).
    #[error("symbol {0} is not registered")]
    UnknownSymbol(String),
    /// The interval is not one of the symbol's intervals.
    #[error("{symbol} does not follow interval {interval}")]
    UnknownInterval { symbol: Symbol, interval: Interval },
    /// The start is in the future or not a valid time.
    #[error("invalid start time {0}")]
    InvalidFrom(i64),
    /// The backfill component is not running (daemon shutting down).
    #[error("backfill is not running")]
    NotRunning,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The state of one backfill job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for its turn.
    Pending,
    /// Fetching pages.
    Running,
    /// History complete back to `from`.
    Done,
    /// Stopped with a recorded reason (symbol delisted or unknown).
    Failed,
    /// Stopped because the symbol was removed.
    Stopped,
}

/// Progress of one symbol × interval backfill, as stored in `backfill_jobs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobState {
    pub symbol_id: i64,
    pub symbol: Symbol,
    pub interval: Interval,
    /// Oldest open time wanted, ms.
    pub from_ms: i64,
    /// Newest open time the job covers, ms (candles after it are the beats' job).
    pub to_ms: i64,
    /// Open time of the next page to fetch, ms.
    pub next_start_ms: i64,
    pub status: JobStatus,
    pub rows_written: u64,
    /// 0.0 ..= 100.0.
    pub percent: f64,
    /// Estimated seconds to completion, when running.
    pub eta_secs: Option<u64>,
    pub last_error: Option<String>,
    /// Last change, ms.
    pub updated_at: i64,
}

/// A handle to the backfill component, for the control socket. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BackfillHandle {}

impl BackfillHandle {
    /// Starts (or restarts) the backfill jobs of a registered symbol: all its intervals, or
    /// only `interval`; back to `from_ms`, or to its `backfill_days`. Returns the jobs'
    /// states right after they were persisted. Jobs already complete for the range are
    /// returned as `Done` without refetching.
    pub async fn start(
        &self,
        symbol_id: i64,
        interval: Option<Interval>,
        from_ms: Option<i64>,
    ) -> Result<Vec<JobState>, BackfillError> {
        let _ = (symbol_id, interval, from_ms);
        Err(BackfillError::NotRunning)
    }

    /// Stops the symbol's jobs (the symbol was removed); their rows stay, as `Stopped`.
    pub async fn stop(&self, symbol_id: i64) -> Result<(), BackfillError> {
        let _ = symbol_id;
        Err(BackfillError::NotRunning)
    }

    /// The jobs of one symbol, or of all symbols, from the database.
    pub async fn jobs(&self, symbol_id: Option<i64>) -> Result<Vec<JobState>, BackfillError> {
        let _ = symbol_id;
        Ok(Vec::new())
    }
}
