//! History backfill and gap repair: every followed symbol × interval gets its history back
//! to `backfill_days`, complete and without holes, and keeps it that way.
//!
//! # Jobs
//!
//! One job per symbol × interval (`backfill_jobs`) covers the open times `from..=to`:
//! `from` is the first candle inside the symbol's `backfill_days` (its own, or
//! `market_data.backfill_days`), never older than `market_data.retention_days` would keep;
//! `to` is the newest closed candle when the job was created. Once the job has fetched up
//! to `to`, `to` moves on to the newest closed candle of that moment, until nothing closed
//! in between: a finished job covers its series up to the newest closed candle at the time
//! it finished (the beats keep the series current from there), so a symbol added between
//! two beats has its history complete when its jobs are done. Jobs are created at start for every followed series (active
//! `TRADING` symbols of every served market × their intervals), after every beat for series that appeared, and by
//! [`BackfillHandle::start`] (the control socket's `symbol.add` and `backfill.start`).
//!
//! A job fetches oldest first, in pages of up to 1000 candles (`GET /api/v3/klines` with
//! `startTime`, `endTime`, `limit`), and skips what is already stored. Each page is checked
//! with the beats' own closed-candle validation and committed in ONE transaction together
//! with the job's new `next_start_time` and the ranges of the page the exchange did not
//! return (`gaps`). A restart, or a `kill -9` at any instant, resumes at `next_start_time`:
//! nothing is lost, nothing is fetched twice.
//!
//! # Sharing the exchange with the beats
//!
//! All requests go through the symbol's market's client (spot, USDⓈ-M, COIN-M: each with
//! its own weight budget) at [`Priority::Background`](crate::exchange::Priority):
//! the weight gate holds them back above 60 % of the exchange's request-weight limit, while
//! the beats may use up to 95 %; a backfill never starves a beat and never earns a 429.
//! Up to [`BackfillOptions::max_requests_in_flight`] requests run at once (pages of several
//! jobs, and the next pages of one job while the previous one is written); writes are
//! serialized by the store's write lock.
//!
//! # Failures
//!
//! A page that fails (connectivity, 5xx, timeout, malformed payload) is asked for again
//! with capped exponential backoff, and the job carries on; its `last_error` shows why it
//! waits. An unknown or delisted symbol (`-1121`), or any other rejection, fails the job
//! with the exchange's message. Nothing stops the daemon or the other jobs.
//!
//! # Gaps
//!
//! At start and after every beat, the stored series are checked for missing candles
//! between the job's `from` and the newest stored candle — only what was added since the
//! previous check. Missing runs are fetched again. What the exchange cannot provide (a
//! halted market, a symbol not listed yet) is recorded in `gaps` with its reason, asked for
//! again after [`BackfillOptions::gap_retry_delays`], then marked `permanent` and re-checked
//! every [`BackfillOptions::permanent_gap_recheck`]. Candles are never invented.
//!
//! # Retention
//!
//! `market_data.retention_days` (per interval) is applied at start and then every
//! [`BackfillOptions::retention_every`], in batches of [`BackfillOptions::retention_batch`]
//! rows, one transaction each, so a beat never waits for more than one small batch.

mod gaps;
pub mod history;
mod jobs;
pub mod plan;
mod retention;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::MarketDataConfig;
use crate::domain::{Interval, Market, Symbol, SymbolStatus};
use crate::exchange::MarketClient;
use crate::heartbeat::HeartbeatStatus;
use crate::retry::{self, Retryable as _};
use crate::store::{Store, StoreError, SymbolRow};

use crate::domain::{BackfillJob, GapReason, GapStatus, JobStatus};
pub use crate::store::GapRow;

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
    /// The backfill has no client for the symbol's market.
    #[error("backfill does not serve the {0} market")]
    MarketNotServed(Market),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What the backfill reports of one job ([`BackfillHandle::jobs`], [`BackfillHandle::start`]):
/// the job as stored, and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    /// The job as stored in `backfill_jobs`.
    pub job: BackfillJob,
    /// Progress, 0.0 ..= 100.0 (100 once done).
    pub percent: f64,
    /// Estimated seconds to completion, when running and known.
    pub eta_secs: Option<u64>,
}

/// A recorded gap, for `symbol.list` / `status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapState {
    pub symbol_id: i64,
    pub symbol: Symbol,
    pub interval: Interval,
    /// Open time of the first missing candle, ms.
    pub start_ms: i64,
    /// Open time of the last missing candle, ms.
    pub end_ms: i64,
    /// Missing candles.
    pub candles: i64,
    pub reason: GapReason,
    pub status: GapStatus,
    /// Times the range was asked for.
    pub attempts: u32,
    /// When the gap was first seen, ms.
    pub first_seen_ms: i64,
    /// When it is asked for again, ms.
    pub next_check_ms: i64,
}

impl GapState {
    fn new(symbol: Symbol, g: &GapRow) -> GapState {
        GapState {
            symbol_id: g.symbol_id,
            symbol,
            interval: g.interval,
            start_ms: g.start_time,
            end_ms: g.end_time,
            candles: g.span().candles(g.interval),
            reason: g.reason,
            status: g.status,
            attempts: g.attempts,
            first_seen_ms: g.first_seen,
            next_check_ms: g.next_check,
        }
    }
}

/// Knobs of the backfill that are not user configuration. [`Default`] is what the daemon
/// uses; tests shorten the gap schedule.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// Requests in flight at once, all jobs and repairs together. Default 4.
    pub max_requests_in_flight: usize,
    /// Jobs fetching at once; the others wait as `pending`. Default 4.
    pub max_active_jobs: usize,
    /// Pages of one job in flight at once (fetched ahead, written in order). Default 2.
    pub pipeline_depth: usize,
    /// Waits before a gap is asked for again after its 1st, 2nd … attempt; once used up the
    /// gap is `permanent`. Default 1 min, 10 min (three attempts).
    pub gap_retry_delays: Vec<Duration>,
    /// How often a permanent gap is asked for again. Default 1 day.
    pub permanent_gap_recheck: Duration,
    /// How often retention runs (also once at start). Default 1 day.
    pub retention_every: Duration,
    /// Rows deleted per retention transaction. Default 5000.
    pub retention_batch: u32,
    /// Least time between two progress lines of one job in `backfill.log`. Default 10 s.
    pub progress_log_every: Duration,
    /// First wait after a failed page; doubles per failure. Default 1 s.
    pub retry_base: Duration,
    /// Longest wait after a failed page. Default 60 s.
    pub retry_cap: Duration,
    /// Pause after each futures history request (`fundingRate`, `openInterestHist`),
    /// which keeps their own request-count limits (500 and 1000 per 5 minutes on
    /// USDⓈ-M). Default 1 s (at most 300 per 5 minutes).
    pub history_request_spacing: Duration,
}

impl Default for BackfillOptions {
    fn default() -> BackfillOptions {
        BackfillOptions {
            max_requests_in_flight: 4,
            max_active_jobs: 4,
            pipeline_depth: 2,
            gap_retry_delays: vec![Duration::from_secs(60), Duration::from_secs(600)],
            permanent_gap_recheck: Duration::from_secs(86_400),
            retention_every: Duration::from_secs(86_400),
            retention_batch: 5000,
            progress_log_every: Duration::from_secs(10),
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(60),
            history_request_spacing: Duration::from_secs(1),
        }
    }
}

/// Gap windows repaired per series and check, and due gaps re-checked per check: bounds
/// the work one check does; the rest waits for the next one.
const MAX_REPAIRS_PER_CHECK: usize = 64;
/// Store operations of the backfill at once: leaves the pool's other connections to the
/// beats and the control socket.
const DB_SLOTS: usize = 2;
/// Pause between two retention batches, so that other writers get the lock.
const RETENTION_PAUSE: Duration = Duration::from_millis(5);

type SeriesKey = (i64, Interval);

/// The history backfill component. Build it with [`Backfill::new`], run it with
/// [`Backfill::run`]; the [`BackfillHandle`] talks to it.
pub struct Backfill {
    ctx: Arc<Ctx>,
    commands: mpsc::UnboundedReceiver<Command>,
    beats: watch::Receiver<HeartbeatStatus>,
}

/// What the handle asks of the running component.
#[derive(Debug)]
enum Command {
    /// These jobs were (re)written: abort their tasks, start them from the database.
    Restart(Vec<SeriesKey>),
    /// The symbol was removed: abort its tasks.
    Stop(i64),
}

/// What the component's tasks share.
struct Ctx {
    store: Store,
    /// The first market's client (spot in the daemon): start-up contact and retention's
    /// clock.
    exchange: MarketClient,
    /// Every market's client, background handles; each keeps its own weight budget and
    /// clock offset.
    markets: Vec<MarketClient>,
    clock: Clock,
    default_intervals: Vec<Interval>,
    backfill_days: u32,
    retention_days: BTreeMap<Interval, u32>,
    options: BackfillOptions,
    requests: Semaphore,
    db_slots: Semaphore,
    /// In-memory progress of running jobs (rate, ETA, log cadence).
    progress: Mutex<HashMap<SeriesKey, Progress>>,
    /// Per series, the newest open time up to which the stored series was checked.
    checked: Mutex<HashMap<SeriesKey, i64>>,
    /// Per futures symbol and history series, when it was last brought up to date
    /// (exchange time, ms).
    history_checked: Mutex<HashMap<(i64, &'static str), i64>>,
    /// Per futures symbol and history series that failed: its backoff, when it may be
    /// tried again and why it failed (`history.rs`).
    history_retry: Mutex<HashMap<(i64, &'static str), history::HistoryRetry>>,
    /// Counts the jobs that ended (done, failed, moved or stopped): waiters on
    /// [`BackfillHandle::job_ends`] look at the database again when it moves.
    job_ends: watch::Sender<u64>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backfill")
            .field("store", &self.store)
            .field("backfill_days", &self.backfill_days)
            .finish_non_exhaustive()
    }
}

/// A running job's progress in this run of the daemon.
#[derive(Debug, Clone, Copy)]
struct Progress {
    since: Instant,
    /// `next_start_time` when this run began.
    start_next: i64,
    next: i64,
    to: i64,
    last_log: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Backfill {
    /// A backfill for the symbols in `store`, with `config`'s intervals, `backfill_days` and
    /// `retention_days`, fetching through `exchange` at background priority (a handle
    /// sharing its weight budget is made here). `beats` is the heartbeat's status: every
    /// finished beat triggers a gap check.
    pub fn new(
        config: &MarketDataConfig,
        store: Store,
        exchange: impl Into<MarketClient>,
        clock: Clock,
        beats: watch::Receiver<HeartbeatStatus>,
        options: BackfillOptions,
    ) -> (Backfill, BackfillHandle) {
        Backfill::for_markets(config, store, exchange, Vec::new(), clock, beats, options)
    }

    /// [`Backfill::new`] over several markets: `exchange` (contacted at start; spot in the
    /// daemon) and the futures markets' clients in `futures`. The symbols of each market
    /// are backfilled through that market's client, within its own weight budget; futures
    /// symbols also get their funding-rate and open-interest history (module `history`).
    pub fn for_markets(
        config: &MarketDataConfig,
        store: Store,
        exchange: impl Into<MarketClient>,
        futures: Vec<MarketClient>,
        clock: Clock,
        beats: watch::Receiver<HeartbeatStatus>,
        options: BackfillOptions,
    ) -> (Backfill, BackfillHandle) {
        let exchange = exchange.into().background();
        let mut markets = vec![exchange.clone()];
        markets.extend(futures.iter().map(MarketClient::background));
        let (tx, rx) = mpsc::unbounded_channel();
        let ctx = Arc::new(Ctx {
            store,
            exchange,
            markets,
            clock,
            default_intervals: config.intervals.clone(),
            backfill_days: config.backfill_days,
            retention_days: config.retention_days.clone(),
            requests: Semaphore::new(options.max_requests_in_flight.max(1)),
            db_slots: Semaphore::new(DB_SLOTS),
            options,
            progress: Mutex::new(HashMap::new()),
            checked: Mutex::new(HashMap::new()),
            history_checked: Mutex::new(HashMap::new()),
            history_retry: Mutex::new(HashMap::new()),
            job_ends: watch::Sender::new(0),
        });
        let handle = BackfillHandle {
            ctx: Arc::clone(&ctx),
            commands: tx,
        };
        (
            Backfill {
                ctx,
                commands: rx,
                beats,
            },
            handle,
        )
    }

    /// Runs jobs, gap checks and retention until `shutdown` is cancelled, then stops at
    /// once: a page being written commits or rolls back whole, and is resumed at the next
    /// start.
    pub async fn run(mut self, shutdown: CancellationToken) {
        if !self.ctx.prepare(&shutdown).await {
            return;
        }
        let mut jobs: JoinSet<SeriesKey> = JoinSet::new();
        let mut running: HashMap<SeriesKey, AbortHandle> = HashMap::new();
        let mut chores: JoinSet<Chore> = JoinSet::new();
        let (mut checking, mut pruning) = (false, false);
        let (mut sync_due, mut check_due) = (true, true);
        let (mut history_running, mut history_due) = (false, true);
        let pruning_enabled = !self.ctx.retention_days.is_empty();
        let mut prune_at = Instant::now();
        let mut last_beat = self.beats.borrow().last.as_ref().map(|r| r.beat_time);
        let mut beats_open = true;
        // Whether work happened since the last "idle" line (logged once the jobs are done
        // and the gap check and retention after them have finished).
        let mut busy = true;
        // What the last sync saw: the idle line needs jobs, every one of them done.
        let mut all_done = false;
        loop {
            if sync_due {
                sync_due = false;
                let before = running.len();
                if let Some(tally) = self.ctx.sync_jobs(&mut jobs, &mut running).await {
                    all_done = tally.all_done();
                }
                busy |= running.len() > before;
            }
            if check_due && !checking {
                check_due = false;
                checking = true;
                let ctx = Arc::clone(&self.ctx);
                chores.spawn(async move {
                    ctx.check_gaps().await;
                    Chore::Check
                });
            }
            if history_due && !history_running {
                history_due = false;
                history_running = true;
                let ctx = Arc::clone(&self.ctx);
                chores.spawn(async move {
                    ctx.sync_history().await;
                    Chore::History
                });
            }
            if pruning_enabled && !pruning && Instant::now() >= prune_at {
                pruning = true;
                prune_at = Instant::now() + self.ctx.options.retention_every;
                let ctx = Arc::clone(&self.ctx);
                chores.spawn(async move {
                    ctx.apply_retention().await;
                    Chore::Retention
                });
            }
            if busy
                && all_done
                && running.is_empty()
                && !checking
                && !pruning
                && !check_due
                && !sync_due
            {
                busy = false;
                tracing::info!("backfill idle: every job done and the stored history checked");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(command) = self.commands.recv() => {
                    let abort = |running: &mut HashMap<SeriesKey, AbortHandle>, key: &SeriesKey| {
                        if let Some(h) = running.remove(key) {
                            h.abort();
                        }
                    };
                    match command {
                        Command::Restart(keys) => {
                            for key in &keys {
                                abort(&mut running, key);
                            }
                        }
                        Command::Stop(symbol_id) => {
                            let keys: Vec<SeriesKey> =
                                running.keys().filter(|k| k.0 == symbol_id).copied().collect();
                            for key in &keys {
                                abort(&mut running, key);
                                lock(&self.ctx.progress).remove(key);
                            }
                        }
                    }
                    sync_due = true;
                }
                changed = self.beats.changed(), if beats_open => {
                    if changed.is_err() {
                        beats_open = false;
                        continue;
                    }
                    let beat = self.beats.borrow_and_update().last.as_ref().map(|r| r.beat_time);
                    if beat != last_beat {
                        last_beat = beat;
                        sync_due = true;
                        check_due = true;
                        history_due = true;
                    }
                }
                Some(joined) = jobs.join_next_with_id() => {
                    let id = match &joined {
                        Ok((id, _)) => *id,
                        Err(e) => {
                            if e.is_panic() {
                                tracing::error!(error = %e, "backfill job task panicked");
                            }
                            e.id()
                        }
                    };
                    running.retain(|_, h| h.id() != id);
                    // A job ended (done, failed, or moved): start the next, check its range.
                    sync_due = true;
                    check_due = true;
                }
                Some(chore) = chores.join_next() => {
                    match chore {
                        Ok(Chore::Check) => checking = false,
                        Ok(Chore::Retention) => pruning = false,
                        Ok(Chore::History) => history_running = false,
                        Err(e) => {
                            tracing::error!(error = %e, "backfill chore failed");
                            (checking, pruning, history_running) = (false, false, false);
                        }
                    }
                }
                _ = tokio::time::sleep_until(prune_at), if pruning_enabled && !pruning => {}
            }
        }
        jobs.shutdown().await;
        chores.shutdown().await;
        tracing::info!("backfill stopped");
    }
}

impl crate::component::Component for Backfill {
    fn name(&self) -> &'static str {
        "backfill"
    }

    /// Two seconds: it stops at once, aborting its jobs; a page being written commits or
    /// rolls back whole on the blocking pool whatever happens to the task.
    fn drain_deadline(&self) -> Duration {
        Duration::from_secs(2)
    }

    fn run(
        self,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        Backfill::run(self, shutdown)
    }
}

/// A background task of the component besides the jobs.
enum Chore {
    Check,
    Retention,
    /// A pass of the futures history (`history`).
    History,
}

impl Ctx {
    /// Runs blocking store work with one of the backfill's database slots.
    async fn db<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let _slot = self.db_slots.acquire().await.ok();
        self.store.run(f).await
    }

    /// Measures the clock offset and reads the exchange's weight limit before the first
    /// request of a job (so background work never runs on the default limit). Retries
    /// with backoff; `false` if shutdown came first.
    async fn prepare(&self, shutdown: &CancellationToken) -> bool {
        let ready = (|| async {
            self.exchange.sync_time().await?;
            self.exchange.exchange_info().await
        })
        .retry(self.retry_policy())
        .notify(|e, wait| {
            tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64,
                "exchange not reachable; backfill waits");
        });
        // Retried without end: it ends ready, or at shutdown.
        tokio::select! {
            _ = shutdown.cancelled() => false,
            r = ready => r.is_ok(),
        }
    }

    /// The backoff after failed backfill work: [`retry::backfill`] from `retry_base` up to
    /// `retry_cap`.
    fn retry_policy(&self) -> retry::Policy {
        retry::backfill(self.options.retry_base, self.options.retry_cap)
    }

    /// Creates the jobs of followed series that have none, stops the jobs of removed
    /// symbols, and starts tasks for runnable jobs, up to `max_active_jobs`. Returns the
    /// states of the followed series' jobs, or `None` when the database could not tell.
    async fn sync_jobs(
        self: &Arc<Self>,
        jobs: &mut JoinSet<SeriesKey>,
        running: &mut HashMap<SeriesKey, AbortHandle>,
    ) -> Option<JobTally> {
        let server_now = self.server_nows();
        let now = self.clock.now_ms();
        let settings = self.settings();
        let (runnable, tally) = match self
            .db(move |s| ensure_jobs(s, &settings, &server_now, now))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot read or create backfill jobs");
                return None;
            }
        };
        for (job, market) in runnable {
            if running.len() >= self.options.max_active_jobs.max(1) {
                break;
            }
            let key = (job.symbol_id, job.interval);
            let Some(client) = self.client(market).cloned() else {
                continue;
            };
            if running.contains_key(&key) {
                continue;
            }
            let ctx = Arc::clone(self);
            let handle = jobs.spawn(async move {
                ctx.drive_job(job, client).await;
                ctx.job_ends.send_modify(|n| *n += 1);
                key
            });
            running.insert(key, handle);
        }
        Some(tally)
    }

    /// The client of `market`, if this backfill serves it.
    fn client(&self, market: Market) -> Option<&MarketClient> {
        self.markets.iter().find(|c| c.market() == market)
    }

    /// The markets this backfill serves.
    fn served_markets(&self) -> Vec<Market> {
        self.markets.iter().map(MarketClient::market).collect()
    }

    /// The exchange's time now on each served market, ms.
    fn server_nows(&self) -> ServerNows {
        ServerNows(
            self.markets
                .iter()
                .map(|c| (c.market(), c.server_now_ms()))
                .collect(),
        )
    }

    fn settings(&self) -> Settings {
        Settings {
            markets: self.served_markets(),
            default_intervals: self.default_intervals.clone(),
            backfill_days: self.backfill_days,
            retention_days: self.retention_days.clone(),
        }
    }

    fn job_state(&self, job: &BackfillJob) -> JobState {
        let key = (job.symbol_id, job.interval);
        let eta_secs = (job.status == JobStatus::Running)
            .then(|| {
                lock(&self.progress).get(&key).and_then(|p| {
                    plan::eta_secs(job.interval, p.start_next, p.next, p.to, p.since.elapsed())
                })
            })
            .flatten();
        JobState {
            percent: if job.status == JobStatus::Done {
                100.0
            } else {
                plan::percent(job.interval, job.from_ms, job.to_ms, job.next_start_ms)
            },
            eta_secs,
            job: job.clone(),
        }
    }
}

/// What job creation needs from the config.
#[derive(Debug, Clone)]
struct Settings {
    markets: Vec<Market>,
    default_intervals: Vec<Interval>,
    backfill_days: u32,
    retention_days: BTreeMap<Interval, u32>,
}

/// The exchange's time now on each served market, ms (each market has its own clock
/// offset).
#[derive(Debug, Clone)]
struct ServerNows(Vec<(Market, i64)>);

impl ServerNows {
    /// The time on `market`; the first market's when it is not served.
    fn get(&self, market: Market) -> i64 {
        self.0
            .iter()
            .find(|(m, _)| *m == market)
            .or(self.0.first())
            .map_or(0, |(_, t)| *t)
    }
}

/// Active `TRADING` symbols of `markets` × their intervals.
fn followed_series(
    store: &Store,
    markets: &[Market],
    default_intervals: &[Interval],
) -> Result<Vec<(SymbolRow, Interval)>, StoreError> {
    let mut rows = Vec::new();
    for market in markets {
        rows.extend(store.symbols(*market, true)?);
    }
    Ok(rows
        .into_iter()
        .filter(|s| s.status == SymbolStatus::Trading.as_str())
        .flat_map(|s| {
            let intervals = s
                .intervals
                .clone()
                .unwrap_or_else(|| default_intervals.to_vec());
            intervals.into_iter().map(move |i| (s.clone(), i))
        })
        .collect())
}

/// A new run of a job over `from..` up to the newest closed candle (moved on to the newest
/// closed one when the job reaches it).
fn new_job(
    row: &SymbolRow,
    interval: Interval,
    from: i64,
    server_now: i64,
    now: i64,
) -> BackfillJob {
    let to = interval.last_closed_open_time(server_now);
    BackfillJob {
        symbol_id: row.id,
        symbol: row.symbol.clone(),
        interval,
        from_ms: from,
        to_ms: to,
        next_start_ms: from,
        status: if from > to {
            JobStatus::Done
        } else {
            JobStatus::Pending
        },
        rows_written: 0,
        last_error: None,
        started_at: now,
        updated_at: now,
    }
}

/// How many followed series have a job, and how many of those jobs are done.
#[derive(Debug, Clone, Copy, Default)]
struct JobTally {
    jobs: usize,
    done: usize,
}

impl JobTally {
    /// There are jobs and every one of them is done (none pending, running or failed).
    fn all_done(self) -> bool {
        self.jobs > 0 && self.done == self.jobs
    }
}

/// Brings `backfill_jobs` in line with the followed series and returns the runnable jobs
/// (pending or running, of followed series), longest intervals first (their history is
/// a page or two), then by symbol, with the tally of the followed series' jobs.
fn ensure_jobs(
    store: &Store,
    settings: &Settings,
    server_nows: &ServerNows,
    now: i64,
) -> Result<(Vec<(BackfillJob, Market)>, JobTally), StoreError> {
    let followed = followed_series(store, &settings.markets, &settings.default_intervals)?;
    let existing = store.backfill_jobs(None)?;
    let mut runnable = Vec::new();
    let mut tally = JobTally::default();
    for (row, interval) in &followed {
        let server_now = server_nows.get(row.market);
        let days = row.backfill_days.unwrap_or(settings.backfill_days);
        let from = plan::job_from(
            *interval,
            server_now,
            days,
            settings.retention_days.get(interval).copied(),
        );
        let current = existing
            .iter()
            .find(|j| j.symbol_id == row.id && j.interval == *interval);
        let job = match current {
            // A new series, a re-added symbol, or more history asked for in the config.
            None => Some(new_job(row, *interval, from, server_now, now)),
            Some(j) if j.status == JobStatus::Stopped => {
                Some(new_job(row, *interval, from, server_now, now))
            }
            Some(j) if j.status != JobStatus::Failed && from < j.from_ms => {
                Some(new_job(row, *interval, from, server_now, now))
            }
            Some(_) => None,
        };
        let status = job.as_ref().or(current).map(|j| j.status);
        if let Some(status) = status {
            tally.jobs += 1;
            tally.done += usize::from(status == JobStatus::Done);
        }
        if let Some(job) = job {
            store.put_backfill_job(&job)?;
            if job.status == JobStatus::Done {
                continue;
            }
            runnable.push((job, row.market));
        }
    }
    for j in &existing {
        let followed_now = followed
            .iter()
            .find(|(r, i)| r.id == j.symbol_id && *i == j.interval)
            .map(|(r, _)| r.market);
        if matches!(j.status, JobStatus::Pending | JobStatus::Running) {
            if let Some(market) = followed_now {
                if !runnable.iter().any(|(r, _): &(BackfillJob, Market)| {
                    r.symbol_id == j.symbol_id && r.interval == j.interval
                }) {
                    runnable.push((j.clone(), market));
                }
            } else if !store.symbol_by_id(j.symbol_id)?.is_some_and(|s| s.active) {
                // The symbol was removed: its jobs stop (they restart if it comes back).
                store.stop_backfill_jobs(j.symbol_id, now)?;
            }
        }
    }
    runnable.sort_by_key(|(j, _)| (std::cmp::Reverse(j.interval), j.symbol_id));
    Ok((runnable, tally))
}

/// A handle to the backfill component, for the control socket. Cheap to clone.
#[derive(Clone)]
pub struct BackfillHandle {
    ctx: Arc<Ctx>,
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for BackfillHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackfillHandle")
            .field("running", &!self.commands.is_closed())
            .finish()
    }
}

impl BackfillHandle {
    /// Starts (or restarts) the backfill jobs of a registered symbol: all its intervals, or
    /// only `interval`; back to `from_ms`, or to its `backfill_days`. Returns the jobs'
    /// states right after they were persisted. Jobs already complete for the range are
    /// returned as `Done` without refetching.
    ///
    /// `from_ms` (ms since the epoch) is moved up to the interval's grid, to what
    /// `retention_days` keeps and to the symbol's first candle (one `GET /api/v3/klines`
    /// from `from_ms` with `limit=1`: Binance answers with the first candle at or after
    /// it, so `--from 1970-01-01` starts at the listing, not 56 years of empty pages; if
    /// that request fails, `from_ms` is kept). Errors: [`BackfillError::UnknownSymbol`] for an id that is
    /// not an active registered symbol, [`BackfillError::UnknownInterval`] for an interval
    /// the symbol does not follow, [`BackfillError::InvalidFrom`] for a negative or future
    /// `from_ms`, [`BackfillError::NotRunning`] once the component has stopped.
    pub async fn start(
        &self,
        symbol_id: i64,
        interval: Option<Interval>,
        from_ms: Option<i64>,
    ) -> Result<Vec<JobState>, BackfillError> {
        if self.commands.is_closed() {
            return Err(BackfillError::NotRunning);
        }
        // The symbol's market decides the client (an unknown id is reported below).
        let row = self.ctx.db(move |s| s.symbol_by_id(symbol_id)).await?;
        let client = match &row {
            Some(r) => self
                .ctx
                .client(r.market)
                .ok_or(BackfillError::MarketNotServed(r.market))?
                .clone(),
            None => self.ctx.exchange.clone(),
        };
        let server_now = client.server_now_ms();
        let now = self.ctx.clock.now_ms();
        if let Some(from) = from_ms
            && (from < 0 || from > server_now)
        {
            return Err(BackfillError::InvalidFrom(from));
        }
        let first_candle = match (from_ms, &row) {
            (Some(from), Some(row)) => first_candle(&client, row, from).await,
            _ => None,
        };
        let settings = self.ctx.settings();
        let (jobs, restarted) = self
            .ctx
            .db(move |s| {
                Ok(start_jobs(
                    s,
                    &settings,
                    symbol_id,
                    interval,
                    from_ms.map(|f| (f, first_candle)),
                    server_now,
                    now,
                ))
            })
            .await??;
        if !restarted.is_empty() {
            for job in jobs
                .iter()
                .filter(|j| restarted.contains(&(j.symbol_id, j.interval)))
            {
                tracing::info!(symbol = %job.symbol, interval = %job.interval,
                    from = %utc(job.from_ms), "backfill requested");
            }
            self.commands
                .send(Command::Restart(restarted))
                .map_err(|_| BackfillError::NotRunning)?;
        }
        Ok(jobs.iter().map(|j| self.ctx.job_state(j)).collect())
    }

    /// Stops the symbol's jobs (the symbol was removed); their rows stay, as `Stopped`.
    /// Errors with [`BackfillError::NotRunning`] once the component has stopped.
    pub async fn stop(&self, symbol_id: i64) -> Result<(), BackfillError> {
        if self.commands.is_closed() {
            return Err(BackfillError::NotRunning);
        }
        let now = self.ctx.clock.now_ms();
        let stopped = self
            .ctx
            .db(move |s| s.stop_backfill_jobs(symbol_id, now))
            .await?;
        if stopped > 0 {
            tracing::info!(
                symbol_id,
                jobs = stopped,
                "backfill stopped for a removed symbol"
            );
            self.ctx.job_ends.send_modify(|n| *n += 1);
        }
        self.commands
            .send(Command::Stop(symbol_id))
            .map_err(|_| BackfillError::NotRunning)
    }

    /// A receiver that sees a change whenever a job has ended (done, failed, stopped, or
    /// restarted by the handle) and its state is in the database: read the jobs again then
    /// ([`BackfillHandle::jobs`]). Mark it seen before reading, so no end is missed.
    pub fn job_ends(&self) -> watch::Receiver<u64> {
        self.ctx.job_ends.subscribe()
    }

    /// The jobs of one symbol, or of all symbols, from the database, with percent done and,
    /// for running jobs, the estimated time left.
    pub async fn jobs(&self, symbol_id: Option<i64>) -> Result<Vec<JobState>, BackfillError> {
        let jobs = self
            .ctx
            .store
            .run(move |s| s.backfill_jobs(symbol_id))
            .await?;
        Ok(jobs.iter().map(|j| self.ctx.job_state(j)).collect())
    }

    /// The gaps that are not filled (`open` and `permanent`) of one symbol, or of all.
    pub async fn open_gaps(&self, symbol_id: Option<i64>) -> Result<Vec<GapState>, BackfillError> {
        let gaps = self
            .ctx
            .store
            .run(move |s| s.gaps(symbol_id, None, false))
            .await?;
        Ok(gaps
            .into_iter()
            .map(|(symbol, g)| GapState::new(symbol, &g))
            .collect())
    }
}

/// The open time of the symbol's first 1m candle at or after `from` (ms), as its market's
/// exchange reports it; `None` when the exchange has no candle since `from`, or the
/// request failed (logged).
async fn first_candle(client: &MarketClient, row: &SymbolRow, from: i64) -> Option<i64> {
    match client
        .klines(&row.symbol, Interval::M1, Some(from), None, 1)
        .await
    {
        Ok(first) => first.first().map(|k| k.open_time),
        Err(e) => {
            tracing::warn!(symbol = %row.symbol, error = %e,
                "first candle not found; the backfill starts where asked");
            None
        }
    }
}

/// The body of [`BackfillHandle::start`], on the store: the jobs as they stand after the
/// call, and the ones written anew. `from` is the start asked for and the open time of the
/// symbol's first 1m candle at or after it, when known.
fn start_jobs(
    store: &Store,
    settings: &Settings,
    symbol_id: i64,
    interval: Option<Interval>,
    from_ms: Option<(i64, Option<i64>)>,
    server_now: i64,
    now: i64,
) -> Result<(Vec<BackfillJob>, Vec<SeriesKey>), BackfillError> {
    let row = store
        .symbol_by_id(symbol_id)?
        .filter(|r| r.active)
        .ok_or_else(|| BackfillError::UnknownSymbol(symbol_id.to_string()))?;
    let followed = row
        .intervals
        .clone()
        .unwrap_or_else(|| settings.default_intervals.clone());
    let intervals = match interval {
        Some(i) if followed.contains(&i) => vec![i],
        Some(i) => {
            return Err(BackfillError::UnknownInterval {
                symbol: row.symbol,
                interval: i,
            });
        }
        None => followed,
    };
    let days = row.backfill_days.unwrap_or(settings.backfill_days);
    let mut jobs = Vec::new();
    let mut restarted = Vec::new();
    for interval in intervals {
        let retention = settings.retention_days.get(&interval).copied();
        let from = match from_ms {
            Some((f, first)) => plan::align_up(interval, f)
                .max(first.map_or(i64::MIN, |t| interval.open_time_containing(t)))
                .max(plan::kept_from(interval, server_now, retention)),
            None => plan::job_from(interval, server_now, days, retention),
        };
        let existing = store.backfill_job(row.id, interval)?;
        match existing {
            Some(j)
                if matches!(
                    j.status,
                    JobStatus::Done | JobStatus::Pending | JobStatus::Running
                ) && j.from_ms <= from =>
            {
                jobs.push(j)
            }
            _ => {
                let job = new_job(&row, interval, from, server_now, now);
                store.put_backfill_job(&job)?;
                restarted.push((job.symbol_id, job.interval));
                jobs.push(job);
            }
        }
    }
    Ok((jobs, restarted))
}

/// `ms` as an RFC 3339 UTC time for log lines.
fn utc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for s in [
            JobStatus::Pending,
            JobStatus::Running,
            JobStatus::Done,
            JobStatus::Failed,
            JobStatus::Stopped,
        ] {
            assert_eq!(s.as_str().parse::<JobStatus>(), Ok(s));
        }
        for s in [GapStatus::Open, GapStatus::Permanent, GapStatus::Filled] {
            assert_eq!(s.as_str().parse::<GapStatus>(), Ok(s));
        }
        for r in [GapReason::NoCandles, GapReason::BeforeFirstCandle] {
            assert_eq!(r.as_str().parse::<GapReason>(), Ok(r));
        }
        assert!("nope".parse::<JobStatus>().is_err());
    }

    #[test]
    fn log_times_are_rfc3339() {
        assert_eq!(utc(1_795_262_400_000), "2026-11-21T12:00:00Z");
    }
}
