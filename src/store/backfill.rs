//! SQL of history backfill, gap repair and retention: the `backfill_jobs` and `gaps` tables
//! (schema version 2) and the kline queries they need.
//!
//! Every write is one transaction under the store's write lock. A backfill page commits its
//! candles, the job's new `next_start_time` and the gaps it found together, and only if the
//! job is still where the page started ([`PageCommit::expected_next_start`]): a page of a
//! job that was restarted or stopped in the meantime writes nothing.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Store, StoreError, SymbolRow, symbol_row, upsert_klines_tx};
use crate::domain::Span;
use crate::domain::{BackfillJob, GapReason, GapStatus, JobStatus};
use crate::domain::{Interval, Kline, Symbol};

/// One row of `gaps`: candles `start_time..=end_time` (open times, ms) the exchange did not
/// return.
#[derive(Debug, Clone, PartialEq)]
pub struct GapRow {
    pub symbol_id: i64,
    pub interval: Interval,
    pub start_time: i64,
    pub end_time: i64,
    pub reason: GapReason,
    /// Times the range was asked for.
    pub attempts: u32,
    pub status: GapStatus,
    pub first_seen: i64,
    pub last_checked: i64,
    /// When it is asked for again, ms.
    pub next_check: i64,
}

impl GapRow {
    /// The missing open times.
    pub fn span(&self) -> Span {
        Span::new(self.start_time, self.end_time)
    }
}

/// What a gap check reads of one series, in one snapshot ([`Store::gap_check_snapshot`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GapCheckSnapshot {
    /// The series' backfill job, if it has one.
    pub job: Option<BackfillJob>,
    /// Runs of candles missing from the stored series in the range asked for.
    pub missing: Vec<Span>,
    /// Runs of stored candles in the range without proof that they were closed when
    /// written (`closed_before` NULL or not after `close_time`): fetched again.
    pub unproven: Vec<Span>,
    /// The series' `open` and `permanent` gap rows.
    pub known: Vec<GapRow>,
}

/// One backfill page, committed by [`Store::commit_backfill_pages`].
#[derive(Debug)]
pub struct PageCommit<'a> {
    pub symbol_id: i64,
    pub interval: Interval,
    /// The job's `next_start_time` when the page was planned; the commit writes nothing if
    /// the job has moved on since (restarted, stopped).
    pub expected_next_start: i64,
    /// The job's new `next_start_time`.
    pub next_start: i64,
    /// Whether the job is complete with this page.
    pub done: bool,
    /// The page's closed candles.
    pub klines: &'a [Kline],
    /// The exchange's time read before the page's request (`klines.closed_before`).
    pub closed_before: i64,
    /// Ranges of the page the exchange did not return.
    pub gaps: &'a [GapRow],
    /// Now, ms.
    pub now: i64,
}

/// The outcome of one gap-repair fetch, committed by [`Store::commit_gap_repair`].
#[derive(Debug)]
pub struct RepairCommit<'a> {
    pub symbol_id: i64,
    pub interval: Interval,
    /// The candles the exchange returned.
    pub klines: &'a [Kline],
    /// The exchange's time read before their requests (`klines.closed_before`).
    pub closed_before: i64,
    /// The `gaps` row this repair asked for again: replaced by `missing`, or marked
    /// `filled` when `missing` is empty. `None` for holes found in the stored series.
    pub rechecked: Option<&'a GapRow>,
    /// What is still missing, as gap rows to record.
    pub missing: &'a [GapRow],
    /// Now, ms.
    pub now: i64,
}

const JOB_COLUMNS: &str = "j.symbol_id, s.symbol, j.interval, j.from_time, j.to_time,
     j.next_start_time, j.state, j.rows_written, j.last_error, j.started_at, j.updated_at";

const GAP_COLUMNS: &str = "g.symbol_id, g.interval, g.start_time, g.end_time, g.reason,
     g.attempts, g.state, g.first_seen, g.last_checked, g.next_check";

impl Store {
    /// The registered symbol with `id`, active or not.
    pub fn symbol_by_id(&self, id: i64) -> Result<Option<SymbolRow>, StoreError> {
        self.conn()?
            .query_row(
                "SELECT id, market, symbol, base_asset, quote_asset, status, active, intervals,
                        backfill_days, added_at, updated_at
                 FROM symbols WHERE id = ?1",
                [id],
                symbol_row,
            )
            .optional()?
            .transpose()
    }

    /// The backfill jobs of one symbol, or of all, by symbol name then interval length.
    pub fn backfill_jobs(&self, symbol_id: Option<i64>) -> Result<Vec<BackfillJob>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM backfill_jobs j JOIN symbols s ON s.id = j.symbol_id
             WHERE ?1 IS NULL OR j.symbol_id = ?1 ORDER BY s.symbol"
        ))?;
        let rows = stmt.query_map([symbol_id], job_row)?;
        let mut jobs = rows
            .map(|r| r.map_err(StoreError::from).and_then(|r| r))
            .collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by(|a, b| (a.symbol.as_str(), a.interval).cmp(&(b.symbol.as_str(), b.interval)));
        Ok(jobs)
    }

    /// The backfill job of one symbol × interval, if any.
    pub fn backfill_job(
        &self,
        symbol_id: i64,
        interval: Interval,
    ) -> Result<Option<BackfillJob>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM backfill_jobs j JOIN symbols s ON s.id = j.symbol_id
             WHERE j.symbol_id = ?1 AND j.interval = ?2"
        ))?;
        stmt.query_row(params![symbol_id, interval.as_str()], job_row)
            .optional()?
            .transpose()
    }

    /// Creates a job, or replaces the job of the same symbol × interval (a new run).
    pub fn put_backfill_job(&self, job: &BackfillJob) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO backfill_jobs (symbol_id, interval, from_time, to_time,
                     next_start_time, state, rows_written, last_error, started_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    job.symbol_id,
                    job.interval.as_str(),
                    job.from_ms,
                    job.to_ms,
                    job.next_start_ms,
                    job.status.as_str(),
                    i64::try_from(job.rows_written).unwrap_or(i64::MAX),
                    job.last_error,
                    job.started_at,
                    job.updated_at
                ],
            )?;
            Ok(())
        })
    }

    /// Sets the state and last error (`None` clears it) of a job that is still `pending`
    /// or `running` at `expected_next_start`, i.e. still the run the caller drives.
    /// Returns `false`, changing nothing, when the job was stopped, restarted or moved on.
    pub fn set_backfill_job_state(
        &self,
        symbol_id: i64,
        interval: Interval,
        expected_next_start: i64,
        status: JobStatus,
        last_error: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE backfill_jobs SET state = ?4, last_error = ?5, updated_at = ?6
                 WHERE symbol_id = ?1 AND interval = ?2 AND next_start_time = ?3
                   AND state IN ('pending', 'running')",
                params![
                    symbol_id,
                    interval.as_str(),
                    expected_next_start,
                    status.as_str(),
                    last_error,
                    now_ms
                ],
            )?;
            Ok(n > 0)
        })
    }

    /// Moves the end (`to_time`) of a job still `running` at `expected_next_start` on to
    /// the later open time `to` (ms): candles that closed while it ran. Returns `false`,
    /// changing nothing, when the job was stopped, restarted or moved on, or already
    /// reaches `to`.
    pub fn extend_backfill_job(
        &self,
        symbol_id: i64,
        interval: Interval,
        expected_next_start: i64,
        to: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE backfill_jobs SET to_time = ?4, updated_at = ?5
                 WHERE symbol_id = ?1 AND interval = ?2 AND next_start_time = ?3
                   AND state = 'running' AND to_time < ?4",
                params![
                    symbol_id,
                    interval.as_str(),
                    expected_next_start,
                    to,
                    now_ms
                ],
            )?;
            Ok(n > 0)
        })
    }

    /// Marks every job of a symbol `stopped` (the symbol was removed), except failed ones.
    /// Returns how many changed.
    pub fn stop_backfill_jobs(&self, symbol_id: i64, now_ms: i64) -> Result<usize, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE backfill_jobs SET state = 'stopped', updated_at = ?2
                 WHERE symbol_id = ?1 AND state NOT IN ('failed', 'stopped')",
                params![symbol_id, now_ms],
            )?)
        })
    }

    /// Commits consecutive backfill pages of one job in one transaction, in order. For each
    /// page the job advances from `expected_next_start` to `next_start` (and to `done`), its
    /// candles are upserted and its gaps recorded, up to the first page whose job is not
    /// running at its `expected_next_start` any more: that page and those after it write
    /// nothing. Returns how many pages were written.
    pub fn commit_backfill_pages(&self, pages: &[PageCommit<'_>]) -> Result<usize, StoreError> {
        self.write(|tx| {
            for (written, page) in pages.iter().enumerate() {
                if !commit_page_tx(tx, page)? {
                    return Ok(written);
                }
            }
            Ok(pages.len())
        })
    }

    /// Open times of the stored candles with `start <= open_time <= end`, ascending.
    pub fn stored_open_times(
        &self,
        symbol_id: i64,
        interval: Interval,
        start: i64,
        end: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT open_time FROM klines
             WHERE symbol_id = ?1 AND interval = ?2 AND open_time BETWEEN ?3 AND ?4
             ORDER BY open_time",
        )?;
        let rows = stmt.query_map(params![symbol_id, interval.as_str(), start, end], |r| {
            r.get(0)
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The runs of candles missing from the stored series in `lo..=hi` (open times on the
    /// interval's grid, `lo` and `hi` included), oldest first. One pass over the range's
    /// open times; only the runs come back.
    pub fn missing_spans(
        &self,
        symbol_id: i64,
        interval: Interval,
        lo: i64,
        hi: i64,
    ) -> Result<Vec<Span>, StoreError> {
        Ok(scan_series(&*self.conn()?, symbol_id, interval, lo, hi)?.0)
    }

    /// What a gap check of one series reads, in one snapshot (one read transaction): its
    /// job, the runs missing in `lo..=hi`, and its `open` and `permanent` gap rows.
    pub fn gap_check_snapshot(
        &self,
        symbol_id: i64,
        interval: Interval,
        lo: i64,
        hi: i64,
    ) -> Result<GapCheckSnapshot, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let job = tx
            .prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM backfill_jobs j JOIN symbols s ON s.id = j.symbol_id
                 WHERE j.symbol_id = ?1 AND j.interval = ?2"
            ))?
            .query_row(params![symbol_id, interval.as_str()], job_row)
            .optional()?
            .transpose()?;
        let (missing, unproven) = scan_series(&tx, symbol_id, interval, lo, hi)?;
        let known = {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {GAP_COLUMNS} FROM gaps g
                 WHERE g.symbol_id = ?1 AND g.interval = ?2 AND g.state <> 'filled'
                 ORDER BY g.start_time"
            ))?;
            let rows = stmt.query_map(params![symbol_id, interval.as_str()], gap_row)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(|r| r))
                .collect::<Result<Vec<_>, _>>()?
        };
        tx.commit()?;
        Ok(GapCheckSnapshot {
            job,
            missing,
            unproven,
            known,
        })
    }

    /// Up to `limit` `open` or `permanent` gaps due for another attempt at `now_ms`, with
    /// their symbol names, the longest overdue first.
    pub fn due_gaps(&self, now_ms: i64, limit: u32) -> Result<Vec<(Symbol, GapRow)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {GAP_COLUMNS}, s.symbol FROM gaps g JOIN symbols s ON s.id = g.symbol_id
             WHERE g.state <> 'filled' AND g.next_check <= ?1 AND s.active = 1
             ORDER BY g.next_check LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![now_ms, limit], gap_with_symbol)?;
        rows.map(|r| r.map_err(StoreError::from).and_then(|r| r))
            .collect()
    }

    /// Gap rows with their symbol names: of one symbol and/or interval, or all; `filled`
    /// ones only if `include_filled`. Ordered by symbol, interval, start.
    pub fn gaps(
        &self,
        symbol_id: Option<i64>,
        interval: Option<Interval>,
        include_filled: bool,
    ) -> Result<Vec<(Symbol, GapRow)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {GAP_COLUMNS}, s.symbol FROM gaps g JOIN symbols s ON s.id = g.symbol_id
             WHERE (?1 IS NULL OR g.symbol_id = ?1) AND (?2 IS NULL OR g.interval = ?2)
               AND (?3 = 1 OR g.state <> 'filled')
             ORDER BY s.symbol, g.interval, g.start_time"
        ))?;
        let rows = stmt.query_map(
            params![symbol_id, interval.map(|i| i.as_str()), include_filled],
            gap_with_symbol,
        )?;
        rows.map(|r| r.map_err(StoreError::from).and_then(|r| r))
            .collect()
    }

    /// Commits one gap repair in one transaction: the returned candles, and the gap rows
    /// (see [`RepairCommit`]).
    pub fn commit_gap_repair(&self, repair: &RepairCommit<'_>) -> Result<(), StoreError> {
        self.write(|tx| {
            upsert_klines_tx(
                tx,
                repair.symbol_id,
                repair.interval,
                repair.klines,
                Some(repair.closed_before),
            )?;
            if let Some(old) = repair.rechecked {
                if repair.missing.is_empty() {
                    tx.execute(
                        "UPDATE gaps SET state = 'filled', attempts = attempts + 1,
                             last_checked = ?4
                         WHERE symbol_id = ?1 AND interval = ?2 AND start_time = ?3",
                        params![
                            old.symbol_id,
                            old.interval.as_str(),
                            old.start_time,
                            repair.now
                        ],
                    )?;
                    return Ok(());
                }
                tx.execute(
                    "DELETE FROM gaps WHERE symbol_id = ?1 AND interval = ?2 AND start_time = ?3",
                    params![old.symbol_id, old.interval.as_str(), old.start_time],
                )?;
            }
            for gap in repair.missing {
                record_gap_tx(tx, gap)?;
            }
            Ok(())
        })
    }

    /// Deletes up to `batch` of the oldest candles of one series with `open_time < cutoff`,
    /// in one transaction. Returns how many were deleted (fewer than `batch`: done).
    pub fn prune_klines_batch(
        &self,
        symbol_id: i64,
        interval: Interval,
        cutoff: i64,
        batch: u32,
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
            let last: Option<i64> = tx
                .prepare_cached(
                    "SELECT open_time FROM klines
                     WHERE symbol_id = ?1 AND interval = ?2 AND open_time < ?3
                     ORDER BY open_time LIMIT 1 OFFSET ?4",
                )?
                .query_row(
                    params![
                        symbol_id,
                        interval.as_str(),
                        cutoff,
                        i64::from(batch.max(1)) - 1
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            let bound = last.map_or(cutoff, |t| t + 1);
            Ok(tx.execute(
                "DELETE FROM klines WHERE symbol_id = ?1 AND interval = ?2 AND open_time < ?3",
                params![symbol_id, interval.as_str(), bound],
            )?)
        })
    }

    /// Symbol ids that have candles of `interval` older than `cutoff`.
    pub fn symbols_with_klines_before(
        &self,
        interval: Interval,
        cutoff: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM symbols s WHERE EXISTS (
                 SELECT 1 FROM klines k
                 WHERE k.symbol_id = s.id AND k.interval = ?1 AND k.open_time < ?2)",
        )?;
        let rows = stmt.query_map(params![interval.as_str(), cutoff], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes the gap rows of `interval` that end before `cutoff` (retention). Returns how
    /// many.
    pub fn prune_gaps(&self, interval: Interval, cutoff: i64) -> Result<usize, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM gaps WHERE interval = ?1 AND end_time < ?2",
                params![interval.as_str(), cutoff],
            )?)
        })
    }
}

/// One backfill page in `tx`: the job advanced, its candles upserted, its gaps recorded;
/// `false`, writing nothing, when the job has moved on.
fn commit_page_tx(tx: &Transaction<'_>, page: &PageCommit<'_>) -> Result<bool, StoreError> {
    let state = if page.done {
        JobStatus::Done
    } else {
        JobStatus::Running
    };
    // Prepared once per connection: this runs for every page.
    let advanced = tx
        .prepare_cached(
            "UPDATE backfill_jobs SET next_start_time = ?4, state = ?5,
             rows_written = rows_written + ?6, last_error = NULL, updated_at = ?7
         WHERE symbol_id = ?1 AND interval = ?2 AND state = 'running'
           AND next_start_time = ?3",
        )?
        .execute(params![
            page.symbol_id,
            page.interval.as_str(),
            page.expected_next_start,
            page.next_start,
            state.as_str(),
            i64::try_from(page.klines.len()).unwrap_or(i64::MAX),
            page.now
        ])?;
    if advanced == 0 {
        return Ok(false);
    }
    upsert_klines_tx(
        tx,
        page.symbol_id,
        page.interval,
        page.klines,
        Some(page.closed_before),
    )?;
    for gap in page.gaps {
        record_gap_tx(tx, gap)?;
    }
    Ok(true)
}

/// Records a gap. Rows of the same series inside it are replaced; a first-attempt gap that
/// continues an open first-attempt gap of the same reason (consecutive pages of one halt)
/// extends it instead of adding a row.
fn record_gap_tx(tx: &Transaction<'_>, gap: &GapRow) -> Result<(), StoreError> {
    let interval = gap.interval.as_str();
    tx.execute(
        "DELETE FROM gaps WHERE symbol_id = ?1 AND interval = ?2
             AND start_time > ?3 AND end_time <= ?4",
        params![gap.symbol_id, interval, gap.start_time, gap.end_time],
    )?;
    if gap.attempts == 1 && gap.status == GapStatus::Open {
        let extended = tx.execute(
            "UPDATE gaps SET end_time = ?4, last_checked = ?6
             WHERE symbol_id = ?1 AND interval = ?2 AND end_time = ?3 AND state = 'open'
               AND attempts = 1 AND reason = ?5",
            params![
                gap.symbol_id,
                interval,
                gap.interval.add_candles(gap.start_time, -1),
                gap.end_time,
                gap.reason.as_str(),
                gap.last_checked
            ],
        )?;
        if extended > 0 {
            return Ok(());
        }
    }
    tx.execute(
        "INSERT INTO gaps (symbol_id, interval, start_time, end_time, reason, attempts, state,
                           first_seen, last_checked, next_check)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (symbol_id, interval, start_time) DO UPDATE SET
             end_time = excluded.end_time, reason = excluded.reason,
             attempts = excluded.attempts, state = excluded.state,
             first_seen = MIN(gaps.first_seen, excluded.first_seen),
             last_checked = excluded.last_checked, next_check = excluded.next_check",
        params![
            gap.symbol_id,
            interval,
            gap.start_time,
            gap.end_time,
            gap.reason.as_str(),
            gap.attempts,
            gap.status.as_str(),
            gap.first_seen,
            gap.last_checked,
            gap.next_check
        ],
    )?;
    Ok(())
}

/// One pass over the stored candles of a series in `lo..=hi` (open times on the interval's
/// grid, `lo` and `hi` included), in key order: the runs of missing candles, and the runs
/// of candles stored without proof of their close (`closed_before` missing or not after
/// the close time: a clock step before version 6 of the schema could store the open
/// candle as closed), each oldest first. Both kinds of runs are found here, in one read of
/// the range.
fn scan_series(
    conn: &rusqlite::Connection,
    symbol_id: i64,
    interval: Interval,
    lo: i64,
    hi: i64,
) -> Result<(Vec<Span>, Vec<Span>), StoreError> {
    if hi < lo {
        return Ok((Vec::new(), Vec::new()));
    }
    // Consecutive candles are at most the longest candle apart; a missing one makes it at
    // least two candles (for `1M`, 56 days or more against 31).
    let step = interval.longest_ms();
    let mut stmt = conn.prepare_cached(
        "SELECT open_time, closed_before IS NULL OR closed_before <= close_time FROM klines
         WHERE symbol_id = ?1 AND interval = ?2 AND open_time BETWEEN ?3 AND ?4
         ORDER BY open_time",
    )?;
    let mut rows = stmt.query(params![symbol_id, interval.as_str(), lo, hi])?;
    let (mut missing, mut unproven) = (Vec::new(), Vec::<Span>::new());
    let mut previous: Option<i64> = None;
    while let Some(row) = rows.next()? {
        let (open_time, without_proof): (i64, bool) = (row.get(0)?, row.get(1)?);
        match previous {
            None if open_time > lo => {
                missing.push(Span::new(lo, interval.add_candles(open_time, -1)));
            }
            Some(prev) if open_time - prev > step => missing.push(Span::new(
                interval.add_candles(prev, 1),
                interval.add_candles(open_time, -1),
            )),
            _ => {}
        }
        if without_proof {
            match unproven.last_mut() {
                Some(run) if interval.add_candles(run.end, 1) == open_time => run.end = open_time,
                _ => unproven.push(Span::new(open_time, open_time)),
            }
        }
        previous = Some(open_time);
    }
    match previous {
        None => missing.push(Span::new(lo, hi)),
        Some(last) => {
            let after = interval.add_candles(last, 1);
            if after <= hi {
                missing.push(Span::new(after, hi));
            }
        }
    }
    Ok((missing, unproven))
}

/// Reads a `gaps` row followed by its symbol's name (column 10).
fn gap_with_symbol(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<(Symbol, GapRow), StoreError>> {
    let symbol: String = r.get(10)?;
    Ok(gap_row(r)?.and_then(|g| Ok((symbol.parse::<Symbol>().map_err(corrupt)?, g))))
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Reads a `backfill_jobs` row joined with its symbol (columns [`JOB_COLUMNS`]) into a job.
fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<BackfillJob, StoreError>> {
    let symbol: String = r.get(1)?;
    let interval: String = r.get(2)?;
    let state: String = r.get(6)?;
    let rows_written: i64 = r.get(7)?;
    let (symbol_id, from_ms, to_ms, next_start_ms) = (r.get(0)?, r.get(3)?, r.get(4)?, r.get(5)?);
    let (last_error, started_at, updated_at) = (r.get(8)?, r.get(9)?, r.get(10)?);
    Ok((|| {
        Ok(BackfillJob {
            symbol_id,
            symbol: symbol.parse().map_err(corrupt)?,
            interval: interval.parse().map_err(corrupt)?,
            from_ms,
            to_ms,
            next_start_ms,
            status: state.parse().map_err(corrupt)?,
            rows_written: u64::try_from(rows_written).unwrap_or(0),
            last_error,
            started_at,
            updated_at,
        })
    })())
}

/// Reads a `gaps` row (columns [`GAP_COLUMNS`]).
fn gap_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<GapRow, StoreError>> {
    let interval: String = r.get(1)?;
    let reason: String = r.get(4)?;
    let state: String = r.get(6)?;
    let (symbol_id, start_time, end_time, attempts) = (r.get(0)?, r.get(2)?, r.get(3)?, r.get(5)?);
    let (first_seen, last_checked, next_check) = (r.get(7)?, r.get(8)?, r.get(9)?);
    Ok((|| {
        Ok(GapRow {
            symbol_id,
            interval: interval.parse().map_err(corrupt)?,
            start_time,
            end_time,
            reason: reason.parse().map_err(corrupt)?,
            attempts,
            status: state.parse().map_err(corrupt)?,
            first_seen,
            last_checked,
            next_check,
        })
    })())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MINUTE_MS, Market, SymbolInfo, SymbolStatus};

    const NOON: i64 = 1_795_262_400_000;

    fn m(n: i64) -> i64 {
        NOON + n * MINUTE_MS
    }

    fn kline(open_time: i64) -> Kline {
        Kline {
            open_time,
            close_time: open_time + MINUTE_MS - 1,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 10.0,
            quote_volume: 15.0,
            trades: 3,
            taker_buy_base_volume: 4.0,
            taker_buy_quote_volume: 6.0,
        }
    }

    fn setup() -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let info = SymbolInfo {
            symbol: "BTCUSDT".parse().unwrap(),
            status: SymbolStatus::Trading,
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            filters: Default::default(),
        };
        let id = store
            .upsert_symbol(Market::Spot, &info, None, None, 1)
            .unwrap()
            .id;
        (dir, store, id)
    }

    fn job(id: i64, from: i64, to: i64, status: JobStatus) -> BackfillJob {
        BackfillJob {
            symbol_id: id,
            symbol: "BTCUSDT".parse().unwrap(),
            interval: Interval::M1,
            from_ms: from,
            to_ms: to,
            next_start_ms: from,
            status,
            rows_written: 0,
            last_error: None,
            started_at: 1,
            updated_at: 1,
        }
    }

    fn gap(id: i64, start: i64, end: i64, attempts: u32) -> GapRow {
        GapRow {
            symbol_id: id,
            interval: Interval::M1,
            start_time: start,
            end_time: end,
            reason: GapReason::NoCandles,
            attempts,
            status: GapStatus::Open,
            first_seen: 5,
            last_checked: 5,
            next_check: 10,
        }
    }

    /// A page of `id`'s 1m job from `expected` to `next` with candles `ks`, no gaps.
    fn page(id: i64, expected: i64, next: i64, done: bool, ks: &[Kline]) -> PageCommit<'_> {
        PageCommit {
            symbol_id: id,
            interval: Interval::M1,
            expected_next_start: expected,
            next_start: next,
            done,
            klines: ks,
            closed_before: i64::MAX,
            gaps: &[],
            now: 7,
        }
    }

    /// Commits one page on its own: whether it was written.
    fn commit_one(store: &Store, page: &PageCommit<'_>) -> bool {
        store
            .commit_backfill_pages(std::slice::from_ref(page))
            .unwrap()
            == 1
    }

    #[test]
    fn a_page_commits_only_where_the_job_stands() {
        let (_dir, store, id) = setup();
        store
            .put_backfill_job(&job(id, m(0), m(9), JobStatus::Running))
            .unwrap();
        let klines: Vec<Kline> = (0..5).map(|i| kline(m(i))).collect();
        assert!(commit_one(&store, &page(id, m(0), m(5), false, &klines)));
        // The same page again (a stale, duplicated answer) writes nothing.
        assert!(!commit_one(&store, &page(id, m(0), m(5), false, &klines)));
        let j = store.backfill_job(id, Interval::M1).unwrap().unwrap();
        assert_eq!(
            (j.next_start_ms, j.rows_written, j.status),
            (m(5), 5, JobStatus::Running)
        );
        assert!(commit_one(&store, &page(id, m(5), m(10), true, &[])));
        let j = store.backfill_job(id, Interval::M1).unwrap().unwrap();
        assert_eq!(j.status, JobStatus::Done);
        // A stopped job takes no page.
        store
            .put_backfill_job(&job(id, m(0), m(9), JobStatus::Running))
            .unwrap();
        assert!(
            store
                .set_backfill_job_state(id, Interval::M1, m(0), JobStatus::Running, Some("x"), 8)
                .unwrap()
        );
        assert_eq!(store.stop_backfill_jobs(id, 8).unwrap(), 1);
        // A task that did not see the stop cannot revive or fail the job.
        for status in [JobStatus::Running, JobStatus::Failed] {
            assert!(
                !store
                    .set_backfill_job_state(id, Interval::M1, m(0), status, Some("late"), 9)
                    .unwrap()
            );
        }
        assert!(!commit_one(&store, &page(id, m(0), m(5), false, &klines)));
        assert_eq!(
            store.backfill_jobs(Some(id)).unwrap()[0].status,
            JobStatus::Stopped
        );
    }

    #[test]
    fn pages_commit_together_up_to_the_first_the_job_has_moved_past() {
        let (_dir, store, id) = setup();
        store
            .put_backfill_job(&job(id, m(0), m(9), JobStatus::Running))
            .unwrap();
        let klines: Vec<Kline> = (0..9).map(|i| kline(m(i))).collect();
        // The third page expects the job where the first left it, not the second: it and
        // what follows it write nothing; the two before it are committed.
        let pages = [
            page(id, m(0), m(3), false, &klines[0..3]),
            page(id, m(3), m(6), false, &klines[3..6]),
            page(id, m(3), m(9), false, &klines[6..9]),
        ];
        assert_eq!(store.commit_backfill_pages(&pages).unwrap(), 2);
        let j = store.backfill_job(id, Interval::M1).unwrap().unwrap();
        assert_eq!((j.next_start_ms, j.rows_written), (m(6), 6));
        let stored: Vec<i64> = store
            .klines(id, Interval::M1, i64::MIN, i64::MAX, 100)
            .unwrap()
            .iter()
            .map(|k| k.open_time)
            .collect();
        assert_eq!(stored, (0..6).map(m).collect::<Vec<_>>());
    }

    #[test]
    fn a_running_job_is_extended_to_later_candles_only() {
        let (_dir, store, id) = setup();
        store
            .put_backfill_job(&job(id, m(0), m(9), JobStatus::Running))
            .unwrap();
        let to = |store: &Store| store.backfill_job(id, Interval::M1).unwrap().unwrap().to_ms;
        // Where the job stands: moved on.
        assert!(
            store
                .extend_backfill_job(id, Interval::M1, m(0), m(11), 8)
                .unwrap()
        );
        assert_eq!(to(&store), m(11));
        // Not back, not from a stale position.
        assert!(
            !store
                .extend_backfill_job(id, Interval::M1, m(0), m(10), 9)
                .unwrap()
        );
        assert!(
            !store
                .extend_backfill_job(id, Interval::M1, m(5), m(12), 9)
                .unwrap()
        );
        assert_eq!(to(&store), m(11));
        // Not once the job has ended.
        assert_eq!(store.stop_backfill_jobs(id, 9).unwrap(), 1);
        assert!(
            !store
                .extend_backfill_job(id, Interval::M1, m(0), m(12), 9)
                .unwrap()
        );
        assert_eq!(to(&store), m(11));
    }

    #[test]
    fn missing_spans_finds_head_holes_and_tail() {
        let (_dir, store, id) = setup();
        let stored: Vec<Kline> = [2, 3, 4, 7, 8, 12]
            .into_iter()
            .map(|i| kline(m(i)))
            .collect();
        store.upsert_klines(id, Interval::M1, &stored).unwrap();
        assert_eq!(
            store.missing_spans(id, Interval::M1, m(0), m(14)).unwrap(),
            vec![
                Span::new(m(0), m(1)),
                Span::new(m(5), m(6)),
                Span::new(m(9), m(11)),
                Span::new(m(13), m(14))
            ]
        );
        assert!(
            store
                .missing_spans(id, Interval::M1, m(2), m(4))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.missing_spans(id, Interval::M1, m(20), m(30)).unwrap(),
            vec![Span::new(m(20), m(30))]
        );
        assert_eq!(
            store
                .stored_open_times(id, Interval::M1, m(3), m(8))
                .unwrap(),
            vec![m(3), m(4), m(7), m(8)]
        );
    }

    #[test]
    fn missing_months_are_found_by_the_calendar() {
        let (_dir, store, id) = setup();
        let mo = Interval::Mo1;
        // NOON is in 2026-11: month(0) opens 2026-11-01. Stored: 2026-01, 02, 04, 05 and
        // 07; missing: March (after a 28-day month) and June (after a 31-day one).
        let month = |n: i64| mo.add_candles(NOON, n);
        let stored: Vec<Kline> = [-10, -9, -7, -6, -4]
            .into_iter()
            .map(|n| Kline {
                close_time: mo.close_time(month(n)),
                ..kline(month(n))
            })
            .collect();
        store.upsert_klines(id, mo, &stored).unwrap();
        assert_eq!(
            store.missing_spans(id, mo, month(-12), month(0)).unwrap(),
            vec![
                Span::new(month(-12), month(-11)),
                Span::new(month(-8), month(-8)),
                Span::new(month(-5), month(-5)),
                Span::new(month(-3), month(0))
            ]
        );
        assert!(
            store
                .missing_spans(id, mo, month(-10), month(-9))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn gaps_merge_when_consecutive_and_repairs_replace_or_fill() {
        let (_dir, store, id) = setup();
        store
            .put_backfill_job(&job(id, m(0), m(99), JobStatus::Running))
            .unwrap();
        // Two consecutive pages of one halt make one gap.
        for (start, end) in [(m(0), m(9)), (m(10), m(14))] {
            store
                .commit_gap_repair(&RepairCommit {
                    symbol_id: id,
                    interval: Interval::M1,
                    klines: &[],
                    closed_before: i64::MAX,
                    rechecked: None,
                    missing: &[gap(id, start, end, 1)],
                    now: 5,
                })
                .unwrap();
        }
        let gaps = store.gaps(Some(id), None, false).unwrap();
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].1.span(), Span::new(m(0), m(14)));
        assert_eq!(gaps[0].0.as_str(), "BTCUSDT");

        // A re-check that got 5..=9: two pieces remain, attempts carried on.
        let old = gaps[0].1.clone();
        let pieces = [gap(id, m(0), m(4), 2), gap(id, m(10), m(14), 2)];
        let got: Vec<Kline> = (5..10).map(|i| kline(m(i))).collect();
        store
            .commit_gap_repair(&RepairCommit {
                symbol_id: id,
                interval: Interval::M1,
                klines: &got,
                closed_before: i64::MAX,
                rechecked: Some(&old),
                missing: &pieces,
                now: 6,
            })
            .unwrap();
        let gaps: Vec<GapRow> = store
            .gaps(Some(id), Some(Interval::M1), false)
            .unwrap()
            .into_iter()
            .map(|(_, g)| g)
            .collect();
        assert_eq!(gaps, pieces.to_vec());
        assert_eq!(
            store
                .klines(id, Interval::M1, 0, i64::MAX, 100)
                .unwrap()
                .len(),
            5
        );

        // Everything came: the gap is filled, kept as history.
        store
            .commit_gap_repair(&RepairCommit {
                symbol_id: id,
                interval: Interval::M1,
                klines: &[],
                closed_before: i64::MAX,
                rechecked: Some(&gaps[1]),
                missing: &[],
                now: 7,
            })
            .unwrap();
        let all = store.gaps(Some(id), None, true).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].1.status, GapStatus::Filled);
        assert_eq!(store.gaps(Some(id), None, false).unwrap().len(), 1);
    }

    #[test]
    fn retention_prunes_in_batches() {
        let (_dir, store, id) = setup();
        let ks: Vec<Kline> = (0..100).map(|i| kline(m(i))).collect();
        store.upsert_klines(id, Interval::M1, &ks).unwrap();
        assert_eq!(
            store
                .symbols_with_klines_before(Interval::M1, m(50))
                .unwrap(),
            vec![id]
        );
        assert_eq!(
            store
                .prune_klines_batch(id, Interval::M1, m(50), 30)
                .unwrap(),
            30
        );
        assert_eq!(
            store
                .prune_klines_batch(id, Interval::M1, m(50), 30)
                .unwrap(),
            20
        );
        assert_eq!(
            store
                .prune_klines_batch(id, Interval::M1, m(50), 30)
                .unwrap(),
            0
        );
        let left = store.klines(id, Interval::M1, 0, i64::MAX, 1000).unwrap();
        assert_eq!(left.len(), 50);
        assert_eq!(left[0].open_time, m(50));
        assert!(
            store
                .symbols_with_klines_before(Interval::M1, m(50))
                .unwrap()
                .is_empty()
        );
    }
}
