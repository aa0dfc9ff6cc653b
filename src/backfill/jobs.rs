//! One backfill job, driven to its end: plan a window of pages from what is stored, fetch
//! them (pipelined, in the component's request slots), commit each page with the job's new
//! `next_start_time` in one transaction, and on failure wait and carry on, or give up with
//! the exchange's reason.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use super::plan;
use super::{BackfillJob, Ctx, GapRow, Progress, lock, utc};
use crate::domain::Span;
use crate::domain::{GapReason, JobStatus};
use crate::domain::{Interval, Kline, Symbol};
use crate::exchange::{ExchangeError, KLINES_MAX_LIMIT, MarketClient, Rejection};
use crate::market_data::closed_candles_in;
use crate::store::{PageCommit, StoreError};

/// Why a round of a job failed.
#[derive(Debug)]
enum JobError {
    Exchange(ExchangeError),
    Store(StoreError),
}

/// What happens after a failed round of a job.
#[derive(Debug, PartialEq)]
enum Failure {
    /// Wait, then carry on.
    Retry { error: String, wait: Duration },
    /// The job cannot go on: record why.
    Fatal(String),
}

/// How a round of a job ended.
enum Round {
    Continue,
    /// The job's row changed under it (restarted or stopped): this task ends.
    Moved,
}

/// What to do after a failed round of a job, given the backoff for this failure and the
/// exchange's time: wait and retry (connectivity, 5xx, a malformed answer, rate limiting,
/// a ban, the database), or give up on the job (the exchange rejected the request: an
/// unknown or delisted symbol `-1121`, a bad parameter:
/// <https://developers.binance.com/docs/binance-spot-api-docs/errors>).
fn after_failure(error: JobError, backoff: Duration, server_now: i64) -> Failure {
    let e = match error {
        JobError::Store(e) => {
            return Failure::Retry {
                error: format!("database: {e}"),
                wait: backoff,
            };
        }
        JobError::Exchange(e) => e,
    };
    let wait = match &e {
        ExchangeError::RateLimited { retry_after_ms } => {
            backoff.max(Duration::from_millis(*retry_after_ms))
        }
        ExchangeError::Banned { until_ms } => backoff.max(Duration::from_millis(
            u64::try_from(until_ms - server_now).unwrap_or(0),
        )),
        _ if e.rejection() == Some(Rejection::UnknownSymbol) => {
            return Failure::Fatal(format!("symbol unknown to the exchange or delisted: {e}"));
        }
        ExchangeError::Decode { .. } => backoff,
        _ if e.is_retryable() => backoff,
        _ => return Failure::Fatal(e.to_string()),
    };
    Failure::Retry {
        error: e.to_string(),
        wait,
    }
}

/// A spawned task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Most pages of one job written in one transaction (when that many are fetched and
/// waiting): 4 000 candles, the store's write lock held for about 4 ms.
const PAGES_PER_COMMIT: usize = 4;

/// A fetched page ready to be written: its closed candles, their proof of close
/// (`klines.closed_before`), the ranges the exchange did not return, and where the job
/// goes on after it (ms).
struct ReadyPage {
    candles: Vec<Kline>,
    closed_before: i64,
    gaps: Vec<GapRow>,
    next_start: i64,
}

impl ReadyPage {
    /// A page with no candles (nothing to prove) that moves the job on to `next_start`.
    fn empty(next_start: i64) -> ReadyPage {
        ReadyPage {
            candles: Vec::new(),
            closed_before: i64::MAX,
            gaps: Vec::new(),
            next_start,
        }
    }
}

impl Ctx {
    /// Runs one job to its end: done, failed, or moved by the handle. `client` is the
    /// symbol's market's.
    pub(super) async fn drive_job(self: &Arc<Self>, mut job: BackfillJob, client: MarketClient) {
        let key = (job.symbol_id, job.interval);
        if job.status != JobStatus::Running {
            let now = self.clock.now_ms();
            let (id, interval, next) = (job.symbol_id, job.interval, job.next_start_ms);
            match self
                .db(move |s| {
                    s.set_backfill_job_state(id, interval, next, JobStatus::Running, None, now)
                })
                .await
            {
                Ok(true) => job.status = JobStatus::Running,
                Ok(false) => return,
                Err(e) => {
                    tracing::error!(symbol = %job.symbol, interval = %job.interval, error = %e,
                        "cannot start backfill job");
                    return;
                }
            }
        }
        tracing::info!(
            symbol = %job.symbol,
            interval = %job.interval,
            from = %utc(job.from_ms),
            to = %utc(job.to_ms),
            next = %utc(job.next_start_ms),
            candles = job.interval.candle_count(job.next_start_ms, job.to_ms).max(0),
            "backfill job started"
        );
        let since = Instant::now();
        lock(&self.progress).insert(
            key,
            Progress {
                since,
                start_next: job.next_start_ms,
                next: job.next_start_ms,
                to: job.to_ms,
                last_log: since,
            },
        );
        let mut failures = 0u32;
        let mut delays = self.retry_policy().delays();
        loop {
            let failure = match self.job_round(&mut job, &client).await {
                Ok(Round::Continue) if job.status == JobStatus::Done => {
                    tracing::info!(
                        symbol = %job.symbol,
                        interval = %job.interval,
                        rows = job.rows_written,
                        secs = since.elapsed().as_secs_f64().round() as u64,
                        "backfill job done"
                    );
                    break;
                }
                Ok(Round::Continue) => {
                    failures = 0;
                    delays.reset();
                    continue;
                }
                Ok(Round::Moved) => break,
                Err(e) => {
                    failures += 1;
                    after_failure(e, delays.next_wait(), client.server_now_ms())
                }
            };
            let (id, interval, next, now) = (
                job.symbol_id,
                job.interval,
                job.next_start_ms,
                self.clock.now_ms(),
            );
            match failure {
                Failure::Retry { error, wait } => {
                    tracing::warn!(symbol = %job.symbol, interval = %job.interval,
                        next = %utc(job.next_start_ms), failures, error = %error,
                        retry_in_ms = wait.as_millis() as u64, "backfill page failed; retrying");
                    let current = self
                        .db(move |s| {
                            s.set_backfill_job_state(
                                id,
                                interval,
                                next,
                                JobStatus::Running,
                                Some(&error),
                                now,
                            )
                        })
                        .await;
                    if matches!(current, Ok(false)) {
                        break; // Stopped or restarted meanwhile.
                    }
                    tokio::time::sleep(wait).await;
                }
                Failure::Fatal(reason) => {
                    tracing::error!(symbol = %job.symbol, interval = %job.interval,
                        reason = %reason, "backfill job failed");
                    let _ = self
                        .db(move |s| {
                            s.set_backfill_job_state(
                                id,
                                interval,
                                next,
                                JobStatus::Failed,
                                Some(&reason),
                                now,
                            )
                        })
                        .await;
                    break;
                }
            }
        }
        lock(&self.progress).remove(&key);
    }

    /// Plans the next window of a job (up to 32 pages), fetches its pages (pipelined,
    /// bounded by the request slots) and commits them in order.
    async fn job_round(
        self: &Arc<Self>,
        job: &mut BackfillJob,
        client: &MarketClient,
    ) -> Result<Round, JobError> {
        let interval = job.interval;
        let (id, next, to) = (job.symbol_id, job.next_start_ms, job.to_ms);
        // A market's first request of this run: its clock offset and its own weight limit
        // first (spot's are read at start).
        if client.cached_exchange_info(i64::MAX).is_none() {
            client.sync_time().await.map_err(JobError::Exchange)?;
            client.exchange_info().await.map_err(JobError::Exchange)?;
        }
        if next > to {
            // The range is stored. Candles that closed since it was planned are the job's
            // too: it ends only once it reaches the newest closed candle.
            let newest = interval.last_closed_open_time(client.server_time_seen());
            if newest > to {
                return self.extend(job, newest).await;
            }
            return self.commit(job, vec![ReadyPage::empty(next)], true).await;
        }
        let window_end = plan::plan_window_end(interval, next, to);
        let (stored, known, first_stored) = self
            .db(move |s| {
                let stored = s.stored_open_times(id, interval, next, window_end)?;
                let known: Vec<Span> = s
                    .gaps(Some(id), Some(interval), false)?
                    .iter()
                    .map(|(_, g)| g.span())
                    .collect();
                let first = s.klines(id, interval, i64::MIN, i64::MAX, 1)?;
                Ok((stored, known, first.first().map(|k| k.open_time)))
            })
            .await
            .map_err(JobError::Store)?;
        let pages = plan::plan_pages(interval, next, window_end, &stored, &known);
        let after_window = interval.add_candles(window_end, 1);
        if pages.is_empty() {
            return self
                .commit(job, vec![ReadyPage::empty(after_window)], false)
                .await;
        }
        let mut first_seen = first_stored;
        // Each page is fetched (and parsed) in its own task, `depth` at a time, by a
        // producer task of its own that hands them over in order through a channel: the
        // next pages come in while one is written, whatever this task is doing (fetches
        // spawned from this task would start only once it is polled again, after the
        // write). Dropping the receiver and the producer (an error, the job aborted) aborts
        // the fetches still running.
        let depth = self.options.pipeline_depth.max(1);
        let (sender, mut fetched) = tokio::sync::mpsc::channel(PAGES_PER_COMMIT);
        let _producer = {
            let (ctx, symbol, client, pages) = (
                Arc::clone(self),
                job.symbol.clone(),
                client.clone(),
                pages.clone(),
            );
            AbortOnDrop(tokio::spawn(async move {
                let mut pages = futures::stream::iter(pages)
                    .map(|page| {
                        let (ctx, symbol, client) =
                            (Arc::clone(&ctx), symbol.clone(), client.clone());
                        AbortOnDrop(tokio::spawn(async move {
                            ctx.fetch(&client, &symbol, interval, page).await
                        }))
                    })
                    .buffered(depth);
                while let Some(page) = pages.next().await {
                    if sender.send(page).await.is_err() {
                        return;
                    }
                }
            }))
        };
        let mut index = 0;
        while let Some(first) = fetched.recv().await {
            // The pages fetched meanwhile go with it, in one transaction: a write waits for
            // no page that has not come yet, and pages that came during the last write
            // share its commit.
            let mut batch = Vec::with_capacity(PAGES_PER_COMMIT);
            let mut next = Some(first);
            while let Some(joined) = next {
                let next_start = pages.get(index + 1).map_or(after_window, |p| p.start);
                batch.push(self.ready_page(
                    job,
                    pages[index],
                    joined,
                    next_start,
                    &mut first_seen,
                    &known,
                )?);
                index += 1;
                next = if batch.len() < PAGES_PER_COMMIT {
                    fetched.try_recv().ok()
                } else {
                    None
                };
            }
            match self.commit(job, batch, false).await? {
                Round::Continue => {}
                Round::Moved => return Ok(Round::Moved),
            }
        }
        if index < pages.len() {
            // The producer ended early: it cannot, short of a panic in its task.
            return Err(JobError::Exchange(ExchangeError::InvalidRequest(
                "page fetches stopped before the window's end".into(),
            )));
        }
        Ok(Round::Continue)
    }

    /// A fetched page of `job` made ready to write: its fetch's outcome checked, the
    /// ranges of `page` it lacks (and that are not `known` gaps) as new gap rows, each
    /// logged. `first_seen` is the oldest candle known for the series, updated.
    fn ready_page(
        &self,
        job: &BackfillJob,
        page: Span,
        joined: Result<Result<(Vec<Kline>, i64), ExchangeError>, JoinError>,
        next_start: i64,
        first_seen: &mut Option<i64>,
        known: &[Span],
    ) -> Result<ReadyPage, JobError> {
        let (id, interval) = (job.symbol_id, job.interval);
        let fetched = joined.map_err(|e| {
            JobError::Exchange(ExchangeError::InvalidRequest(format!(
                "page fetch task failed: {e}"
            )))
        })?;
        let (candles, closed_before) = fetched.map_err(JobError::Exchange)?;
        let returned: Vec<i64> = candles.iter().map(|k| k.open_time).collect();
        if let Some(&t) = returned.first() {
            *first_seen = Some(first_seen.map_or(t, |f| f.min(t)));
        }
        let now = self.clock.now_ms();
        let missing = plan::subtract(interval, &plan::uncovered(interval, page, &returned), known);
        let gaps: Vec<GapRow> = missing
            .iter()
            .map(|span| self.new_gap(id, interval, *span, *first_seen, now))
            .collect();
        for g in &gaps {
            tracing::warn!(symbol = %job.symbol, interval = %interval,
                start = %utc(g.start_time), end = %utc(g.end_time),
                candles = g.span().candles(interval), reason = g.reason.as_str(),
                "gap: the exchange returned no candles for this range");
        }
        Ok(ReadyPage {
            candles,
            closed_before,
            gaps,
            next_start,
        })
    }

    /// Commits consecutive pages of `job` in one transaction, each advancing it to its
    /// `next_start`, the last to `done` if set. `Moved` if the job moved on meanwhile (the
    /// pages from there on are not written).
    async fn commit(
        &self,
        job: &mut BackfillJob,
        pages: Vec<ReadyPage>,
        done: bool,
    ) -> Result<Round, JobError> {
        let (id, interval, first_expected) = (job.symbol_id, job.interval, job.next_start_ms);
        let now = self.clock.now_ms();
        let count = pages.len();
        let rows: u64 = pages.iter().map(|p| p.candles.len() as u64).sum();
        let last_next = pages.last().map_or(first_expected, |p| p.next_start);
        let written = self
            .db(move |s| {
                let mut expected = first_expected;
                let commits: Vec<PageCommit<'_>> = pages
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let commit = PageCommit {
                            symbol_id: id,
                            interval,
                            expected_next_start: expected,
                            next_start: p.next_start,
                            done: done && i + 1 == count,
                            klines: &p.candles,
                            closed_before: p.closed_before,
                            gaps: &p.gaps,
                            now,
                        };
                        expected = p.next_start;
                        commit
                    })
                    .collect();
                s.commit_backfill_pages(&commits)
            })
            .await
            .map_err(JobError::Store)?;
        if written < count {
            // Nothing of a job that moved on is ours to account; the next round re-reads it.
            return Ok(Round::Moved);
        }
        job.next_start_ms = last_next;
        job.rows_written += rows;
        job.updated_at = now;
        if done {
            job.status = JobStatus::Done;
        }
        self.log_progress(job);
        Ok(Round::Continue)
    }

    /// Moves the end of `job` (stored and in memory) on to `to`, the newest closed candle.
    async fn extend(&self, job: &mut BackfillJob, to: i64) -> Result<Round, JobError> {
        let (id, interval, expected) = (job.symbol_id, job.interval, job.next_start_ms);
        let now = self.clock.now_ms();
        let extended = self
            .db(move |s| s.extend_backfill_job(id, interval, expected, to, now))
            .await
            .map_err(JobError::Store)?;
        if !extended {
            return Ok(Round::Moved);
        }
        job.to_ms = to;
        job.updated_at = now;
        if let Some(p) = lock(&self.progress).get_mut(&(id, interval)) {
            p.to = to;
        }
        Ok(Round::Continue)
    }

    /// Updates a job's in-memory progress and logs it at most every `progress_log_every`.
    fn log_progress(&self, job: &BackfillJob) {
        let key = (job.symbol_id, job.interval);
        let mut progress = lock(&self.progress);
        let Some(p) = progress.get_mut(&key) else {
            return;
        };
        p.next = job.next_start_ms;
        if job.status == JobStatus::Done || p.last_log.elapsed() < self.options.progress_log_every {
            return;
        }
        p.last_log = Instant::now();
        let eta = plan::eta_secs(job.interval, p.start_next, p.next, p.to, p.since.elapsed());
        tracing::info!(
            symbol = %job.symbol,
            interval = %job.interval,
            percent = %format_args!(
                "{:.1}",
                plan::percent(job.interval, job.from_ms, job.to_ms, job.next_start_ms)
            ),
            rows = job.rows_written,
            at = %utc(job.next_start_ms),
            eta_secs = eta.unwrap_or(0),
            "backfill progress"
        );
    }

    /// A gap row for `span` first seen now; `first_seen` is the oldest candle known for the
    /// series (stored or just returned), which tells a halt from a pre-listing range.
    pub(super) fn new_gap(
        &self,
        id: i64,
        interval: Interval,
        span: Span,
        first_candle: Option<i64>,
        now: i64,
    ) -> GapRow {
        let reason = match first_candle {
            Some(t) if t < span.start => GapReason::NoCandles,
            _ => GapReason::BeforeFirstCandle,
        };
        let (status, next_check) = plan::gap_schedule(
            1,
            now,
            &self.options.gap_retry_delays,
            self.options.permanent_gap_recheck,
        );
        GapRow {
            symbol_id: id,
            interval,
            start_time: span.start,
            end_time: span.end,
            reason,
            attempts: 1,
            status,
            first_seen: now,
            last_checked: now,
            next_check,
        }
    }

    /// Fetches the candles of `page` (one request, in a request slot) that closed before
    /// the exchange's time as the exchange reported it before the request; returns them
    /// and that time (their proof of close, `klines.closed_before`).
    pub(super) async fn fetch(
        &self,
        client: &MarketClient,
        symbol: &Symbol,
        interval: Interval,
        page: Span,
    ) -> Result<(Vec<Kline>, i64), ExchangeError> {
        let _slot = self.requests.acquire().await.ok();
        let limit = u16::try_from(page.candles(interval).clamp(1, i64::from(KLINES_MAX_LIMIT)))
            .unwrap_or(KLINES_MAX_LIMIT);
        // Closed on the exchange's own clock, read before the request: the newest time it
        // reported, or a fresh reading when the page reaches past it.
        let mut closed_before = client.server_time_seen();
        if interval.close_time(page.end) >= closed_before {
            closed_before = client.server_time().await?;
        }
        let fetched = client
            .klines(
                symbol,
                interval,
                Some(page.start),
                Some(interval.close_time(page.end)),
                limit,
            )
            .await?;
        let closed = closed_candles_in(interval, page.start, page.end, fetched, closed_before)?;
        Ok((closed, closed_before))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_pages_wait_and_rejections_fail_the_job() {
        let backoff = Duration::from_secs(2);
        let now = 1_795_262_400_000;
        let retry = |e: ExchangeError| after_failure(JobError::Exchange(e), backoff, now);
        let waits = |f: Failure| match f {
            Failure::Retry { wait, .. } => wait,
            Failure::Fatal(r) => panic!("fatal: {r}"),
        };
        let connectivity = ExchangeError::Connectivity {
            endpoint: "/api/v3/klines",
            detail: "http 503".into(),
        };
        assert_eq!(waits(retry(connectivity)), backoff);
        let malformed = ExchangeError::Decode {
            endpoint: "/api/v3/klines",
            detail: "eof".into(),
        };
        assert_eq!(waits(retry(malformed)), backoff);
        let limited = ExchangeError::RateLimited {
            retry_after_ms: 30_000,
        };
        assert_eq!(waits(retry(limited)), Duration::from_secs(30));
        let banned = ExchangeError::Banned {
            until_ms: now + 120_000,
        };
        assert_eq!(waits(retry(banned)), Duration::from_secs(120));
        let busy = ExchangeError::Api {
            endpoint: "/api/v3/klines",
            http_status: 503,
            code: -1008,
            msg: "Server is currently overloaded".into(),
        };
        assert_eq!(waits(retry(busy)), backoff);
        let db = after_failure(
            JobError::Store(StoreError::Task("gone".into())),
            backoff,
            now,
        );
        assert_eq!(waits(db), backoff);

        let unknown = ExchangeError::Api {
            endpoint: "/api/v3/klines",
            http_status: 400,
            code: -1121,
            msg: "Invalid symbol.".into(),
        };
        match retry(unknown) {
            Failure::Fatal(reason) => {
                assert!(
                    reason.contains("-1121") && reason.contains("delisted"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        let bad_param = ExchangeError::Api {
            endpoint: "/api/v3/klines",
            http_status: 400,
            code: -1120,
            msg: "Invalid interval.".into(),
        };
        assert!(matches!(retry(bad_param), Failure::Fatal(_)));
    }
}
