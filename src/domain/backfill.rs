//! The vocabulary of history backfill and gap repair: a [`BackfillJob`], a job's and a
//! gap's status as stored (`backfill_jobs.state`, `gaps.state`, `gaps.reason`) and a
//! [`Span`] of candle open times.

use serde::Serialize;

use super::{Interval, Symbol};

/// One backfill job: the history of one symbol × interval, the candles that opened in
/// `from_ms..=to_ms`, fetched oldest first. The one job type of the crate: the store keeps
/// it in `backfill_jobs` (one row per series), the backfill component drives and reports
/// it, the control protocol shows it. Times are open times or instants, ms since the Unix
/// epoch, UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillJob {
    /// The symbol's `symbols.id`.
    pub symbol_id: i64,
    pub symbol: Symbol,
    pub interval: Interval,
    /// Open time of the oldest candle wanted, ms.
    pub from_ms: i64,
    /// Open time of the newest candle the job covers, ms: the newest closed candle when the
    /// job was created, moved on while it runs; candles after it are the beats'.
    pub to_ms: i64,
    /// Open time the next page starts at, ms; past `to_ms` when the job is complete.
    pub next_start_ms: i64,
    pub status: JobStatus,
    /// Candles written by this run of the job.
    pub rows_written: u64,
    /// Why the job waits (a page failed) or failed; `None` when all is well.
    pub last_error: Option<String>,
    /// When this run of the job was created, ms.
    pub started_at: i64,
    /// Last change, ms.
    pub updated_at: i64,
}

/// The state of one backfill job (`backfill_jobs.state`).
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

impl JobStatus {
    /// The name stored in `backfill_jobs.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Stopped => "stopped",
        }
    }
}

impl std::str::FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => JobStatus::Pending,
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            "failed" => JobStatus::Failed,
            "stopped" => JobStatus::Stopped,
            other => return Err(format!("unknown backfill job state {other:?}")),
        })
    }
}

/// The state of a recorded gap (`gaps.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapStatus {
    /// Asked for again at `next_check`.
    Open,
    /// Retries used up: re-checked rarely (daily by default).
    Permanent,
    /// The exchange returned every candle of it on a later attempt.
    Filled,
}

impl GapStatus {
    /// The name stored in `gaps.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            GapStatus::Open => "open",
            GapStatus::Permanent => "permanent",
            GapStatus::Filled => "filled",
        }
    }
}

impl std::str::FromStr for GapStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "open" => GapStatus::Open,
            "permanent" => GapStatus::Permanent,
            "filled" => GapStatus::Filled,
            other => return Err(format!("unknown gap state {other:?}")),
        })
    }
}

/// Why a range is missing (`gaps.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// The exchange has candles before the range but none in it (a halted market).
    NoCandles,
    /// The exchange has no candle at or before the range (the symbol was not listed yet).
    BeforeFirstCandle,
}

impl GapReason {
    /// The name stored in `gaps.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::NoCandles => "no_candles",
            GapReason::BeforeFirstCandle => "before_first_candle",
        }
    }
}

impl std::str::FromStr for GapReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "no_candles" => GapReason::NoCandles,
            "before_first_candle" => GapReason::BeforeFirstCandle,
            other => return Err(format!("unknown gap reason {other:?}")),
        })
    }
}

/// A run of candle open times on an interval's grid, both ends included, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Open time of the first candle.
    pub start: i64,
    /// Open time of the last candle (`>= start`).
    pub end: i64,
}

impl Span {
    /// The span `start..=end`.
    pub fn new(start: i64, end: i64) -> Span {
        Span { start, end }
    }

    /// Number of `interval` candles in the span.
    pub fn candles(&self, interval: Interval) -> i64 {
        interval.candle_count(self.start, self.end)
    }
}
