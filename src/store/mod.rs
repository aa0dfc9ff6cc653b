//! The SQLite store: the one place that knows SQL.
//!
//! [`Store`] wraps an r2d2 pool of rusqlite connections to one database file in WAL mode.
//! Its methods are plain blocking functions; async code calls them through
//! [`Store::run`], which moves the work onto tokio's blocking thread pool, or, for short
//! writes on a latency path, [`Store::run_here`], which runs it on the calling worker after
//! handing that worker's other tasks to another thread: no other task waits on the disk.
//! An order's few statements use [`Store::run_inline`], which skips that hand-over when no
//! other writer holds the lock.
//!
//! Writers are serialized by a mutex inside the store (and `BEGIN IMMEDIATE`), so two
//! writes never fight over SQLite's lock, and every write that belongs together (a beat's
//! tickers, klines and heartbeat row) is one transaction: a crash leaves either all of it
//! or none of it.
//!
//! The schema is `schema.sql` at the repository root, compiled into the binary. It is a
//! list of `-- version: N` migrations applied in order on open (see [`Store::open`]).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::clock::Clock;
use crate::domain::{Interval, Kline, MarkPrice, Market, OpenInterest, Symbol, SymbolInfo, Ticker};

mod backfill;
pub use backfill::{GapCheckSnapshot, GapRow, PageCommit, RepairCommit};
mod checkpoint;
pub use checkpoint::{Checkpointed, Checkpointer};
mod control;
pub use control::{Registration, SymbolCounts, SymbolSeries};
mod futures;
pub use futures::{BEAT_PERIOD, MarkPriceRow, OpenInterestRow};
mod futures_history;
mod futures_user_data;
pub use futures_history::{NOT_KEPT_BY_EXCHANGE, OpenInterestGap};
mod futures_specs;
mod market_use;
pub use futures_specs::HistorySeries;
mod paper;
pub use paper::{PaperIds, SymbolFills};
pub mod export;
mod observe;
mod orders;
mod positions;
mod queries;
pub use observe::BeatWatermark;
mod reconcile;
pub use orders::{Inserted, LocalPlacement, OrderFilter, OrderRow, Recorded};
pub use queries::{FillFilter, FillRow};
mod actions;
mod strategies;
pub use actions::{ActionFilter, ActionRow};
pub use strategies::{
    NewStrategyRun, StoredTicker, StrategyAdded, StrategyRow, StrategyUpdate, TradeStrategyRow,
};
pub use strategies::{StrategyRunFilter, StrategyRunRow};
mod order_retention;
pub use order_retention::PrunedOrders;
mod events;
mod foreground;
mod user_data;
mod watch;
mod watchlist;
pub use events::{EVENT_BUS_CAPACITY, EventBus, KlineBatch, StoreEvent};
pub use foreground::ForegroundWrite;
pub use user_data::{ApplyReport, BalanceRow, ExecutionRow};
pub use watch::DatabaseWatch;

/// The schema migrations, as shipped.
pub const SCHEMA_SQL: &str = include_str!("../../schema.sql");

/// How long a connection waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections in the pool: one writer at a time plus concurrent readers.
const POOL_SIZE: u32 = 4;
/// SQLite's page cache per pooled connection, KiB (`PRAGMA cache_size = -N`). SQLite's
/// default, 2 000 KiB, fills up once the database is a few MB: 8 MB for the pool. Pages
/// not cached are read again from the OS page cache (BENCHMARKS.md: "Heartbeat spine" has
/// what this saved, "Futures market data" what it cost a beat and the backfill).
const CACHE_KIB: u32 = 512;

/// What went wrong in the store. Messages name the database file where it helps.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file or its directory could not be opened or created.
    #[error("cannot open database {path}: {detail}")]
    Open { path: PathBuf, detail: String },
    /// The database was written by a newer tradebeat whose schema this one does not know.
    #[error(
        "database {path} has schema version {found}, newer than this tradebeat supports ({supported}); upgrade tradebeat"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// No connection could be had from the pool in time.
    #[error("database connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// A statement failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value could not be read back as its domain type.
    #[error("database holds an invalid value: {0}")]
    Corrupt(String),
    /// The blocking task running the work panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
    /// The database path no longer names the file this store opened: it was deleted,
    /// renamed or replaced under the daemon. Every later write would go to a file nobody
    /// will read again, so from then on every write is refused with this error (see
    /// [`Store::check_file`]); the daemon stops with an error so that it is restarted on
    /// the file the path names.
    #[error("database {path} was deleted or replaced while open: {detail}")]
    Replaced { path: PathBuf, detail: String },
    /// Event `index` of a user-data batch cannot be applied: it conflicts with what is
    /// stored (a constraint) or meets a stored value that does not parse. Nothing of the
    /// batch was written; apply it again with that event kept raw instead
    /// (`UserDataEvent::into_invalid`).
    #[error("user-data event {index} ({event_type}) refused: {detail}")]
    Event {
        index: usize,
        event_type: String,
        detail: String,
    },
}

thread_local! {
    /// The address of the write lock this thread holds in [`Store::run_inline`], if any.
    static HELD_WRITE_LOCK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks, for this thread, that [`Store::run_inline`] holds a store's write lock, so that
/// [`Store::write`] does not take it again; unmarked when dropped (a panic included).
struct HeldWriteLock;

impl HeldWriteLock {
    fn enter(lock: &Arc<Mutex<()>>) -> HeldWriteLock {
        HELD_WRITE_LOCK.set(Arc::as_ptr(lock).addr());
        HeldWriteLock
    }

    fn is_held(lock: &Arc<Mutex<()>>) -> bool {
        HELD_WRITE_LOCK.get() == Arc::as_ptr(lock).addr()
    }
}

impl Drop for HeldWriteLock {
    fn drop(&mut self) {
        HELD_WRITE_LOCK.set(0);
    }
}

/// A handle to the database. Cheap to clone; all clones share the pool.
#[derive(Clone)]
pub struct Store {
    pool: r2d2::Pool<SqliteConnectionManager>,
    write_lock: Arc<Mutex<()>>,
    path: Arc<PathBuf>,
    /// The opened file's device and inode, to notice the path naming another file.
    identity: (u64, u64),
    /// Set once [`Store::check_file`] saw the path name another file (or none): sticky.
    replaced: Arc<AtomicBool>,
    /// What the store committed, for subscribers (`events.rs`).
    events: EventBus,
    /// Writes someone waits for, which background writers let go first (`foreground.rs`).
    foreground: foreground::Foreground,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// A registered symbol, as stored in `symbols`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SymbolRow {
    pub id: i64,
    pub market: Market,
    pub symbol: Symbol,
    pub base_asset: String,
    pub quote_asset: String,
    /// The exchange's status when last checked (`TRADING`, `BREAK` …).
    pub status: String,
    pub active: bool,
    /// This symbol's own intervals; `None` follows `market_data.intervals`.
    pub intervals: Option<Vec<Interval>>,
    /// This symbol's own backfill depth in days; `None` follows `market_data.backfill_days`.
    pub backfill_days: Option<u32>,
    /// When the symbol was first registered, ms.
    pub added_at: i64,
    /// When the row last changed, ms.
    pub updated_at: i64,
}

/// What started a beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BeatTrigger {
    /// The minute heartbeat.
    Schedule,
    /// A beat asked for on the control socket (`sync.now`).
    Manual,
    /// The beat run once at start, before the first scheduled one, to catch up.
    Startup,
}

impl BeatTrigger {
    /// The name stored in `heartbeats.trigger`: `schedule`, `manual` or `startup`.
    pub fn as_str(self) -> &'static str {
        match self {
            BeatTrigger::Schedule => "schedule",
            BeatTrigger::Manual => "manual",
            BeatTrigger::Startup => "startup",
        }
    }
}

/// One row of `heartbeats`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HeartbeatRow {
    /// The scheduled time, ms.
    pub beat_time: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub symbols_ok: u32,
    pub symbols_failed: u32,
    pub klines_written: u32,
    /// Scheduled beats skipped right before this one because the previous one overran.
    pub skipped_before: u32,
    pub trigger: BeatTrigger,
    /// `None` when every symbol succeeded.
    pub error: Option<String>,
}

/// Everything one beat writes, committed in one transaction.
#[derive(Debug, Clone)]
pub struct BeatWrite {
    /// One ticker per symbol, keyed by `symbols.id`; stored with `time = heartbeat.beat_time`.
    pub tickers: Vec<(i64, Ticker)>,
    /// Closed candles per symbol id and interval, with the exchange's time read before
    /// their request (`klines.closed_before`: every candle closed before it).
    pub klines: Vec<(i64, Interval, Vec<Kline>, i64)>,
    /// Futures: one `premiumIndex` snapshot per symbol id; stored in `mark_prices` with
    /// `time = heartbeat.beat_time`.
    pub mark_prices: Vec<(i64, MarkPrice)>,
    /// Futures: one open-interest reading per symbol id; stored in `open_interest` with
    /// `period = 'beat'` and `time = heartbeat.beat_time`.
    pub open_interest: Vec<(i64, OpenInterest)>,
    /// The beat's row; `finished_at` is set to the clock's time just before commit.
    pub heartbeat: HeartbeatRow,
}

impl BeatWrite {
    /// A write of nothing but `heartbeat`, for the other markets' parts to fill.
    pub fn empty(heartbeat: HeartbeatRow) -> BeatWrite {
        BeatWrite {
            tickers: Vec::new(),
            klines: Vec::new(),
            mark_prices: Vec::new(),
            open_interest: Vec::new(),
            heartbeat,
        }
    }
}

/// Why an existing database file is not opened, if it is not: SQLite would open a read-only
/// file read-only (every later write failing) and would make an empty file a new, empty
/// database, hiding a restore or a mount gone wrong. A database tradebeat created is never
/// empty once its opener switched it to WAL (that writes its first page), which the check
/// waits for up to the busy timeout.
fn refuse_existing(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.permissions().readonly() {
        return Err("the file is read-only (no write permission bit): make it writable".into());
    }
    if let Err(e) = std::fs::OpenOptions::new().write(true).open(path) {
        return Err(format!("the file cannot be opened for writing: {e}"));
    }
    // Another opener may have just created it and not yet switched it to WAL: give it
    // the busy timeout, as the WAL switch below does.
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut len = meta.len();
    while len == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    }
    if len == 0 {
        return Err(
            "the file is empty and tradebeat did not create it: restore the database, or remove the file to start a new one"
                .into(),
        );
    }
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// Creates the parent directory when missing. Sets WAL journaling,
    /// `synchronous=NORMAL`, a busy timeout, foreign keys and no automatic checkpoint on
    /// every connection (the daemon runs [`Checkpointer`]). Applies
    /// each `-- version: N` section of `schema.sql` above the file's `user_version`, one
    /// transaction per section. Errors: [`StoreError::Open`] when the file or directory
    /// cannot be created or is not a database, or is an existing file that is read-only or
    /// empty (tradebeat never leaves its own database empty), [`StoreError::TooNew`] for a
    /// database from a newer tradebeat.
    ///
    /// Missing directories are created 0700 and a missing database file 0600, which SQLite
    /// gives its `-wal` and `-shm` files too (see [`crate::files`]).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |detail: String| StoreError::Open {
            path: path.to_path_buf(),
            detail,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
            crate::files::check_dir(dir).map_err(|e| open_err(e.to_string()))?;
        }
        // Neither the database nor its companions through a link planted by another
        // user; SQLite is told not to follow one either (`SQLITE_OPEN_NOFOLLOW`).
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            crate::files::refuse_symlink(Path::new(&name)).map_err(|e| open_err(e.to_string()))?;
        }
        // A new database file is created here, 0600, not by SQLite (0644 less the umask):
        // SQLite gives the `-wal` and `-shm` files the database file's mode.
        match crate::files::open_options()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => refuse_existing(path)
                .map_err(|detail| open_err(format!("{detail}; nothing was written to it")))?,
            Err(e) => return Err(open_err(e.to_string())),
        }
        // Journal mode is a property of the file: set it once, before the pool exists.
        {
            let conn = Connection::open_with_flags(path, open_flags())
                .map_err(|e| open_err(e.to_string()))?;
            conn.busy_timeout(BUSY_TIMEOUT)
                .map_err(|e| open_err(e.to_string()))?;
            // Switching a new file to WAL needs an exclusive lock, and SQLite does not wait
            // for it (no busy handler): when another process opens the same new file at
            // the same moment, try again for up to the busy timeout.
            let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
            let mode: String = loop {
                match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
                    Ok(mode) => break mode,
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::DatabaseBusy
                            && std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => return Err(open_err(e.to_string())),
                }
            };
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(open_err(format!("cannot switch to WAL mode (got {mode})")));
            }
        }
        let manager = SqliteConnectionManager::file(path)
            .with_flags(open_flags())
            .with_init(|c| {
                c.busy_timeout(BUSY_TIMEOUT)?;
                // No commit checkpoints the WAL: `Checkpointer` does, on its own
                // connection, off the request path.
                c.execute_batch(&format!(
                    "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
                     PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -{CACHE_KIB};"
                ))
            });
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| open_err(e.to_string()))?;
        // The file the connections opened: taken after they opened it, so that a file
        // swapped in between is noticed by the first check (the pool holds it open).
        let meta = std::fs::metadata(path).map_err(|e| open_err(e.to_string()))?;
        let store = Store {
            pool,
            write_lock: Arc::new(Mutex::new(())),
            path: Arc::new(path.to_path_buf()),
            identity: (meta.dev(), meta.ino()),
            replaced: Arc::new(AtomicBool::new(false)),
            events: EventBus::default(),
            foreground: foreground::foreground(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bus on which every committed beat, candle batch, order change, fill and balance
    /// change is published after its commit (see [`StoreEvent`]).
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Runs blocking store work on tokio's blocking pool and awaits it.
    ///
    /// The closure gets a clone of the store. Work that has started always runs to the
    /// end, even if the awaiting future is dropped (e.g. at shutdown): a transaction is
    /// never abandoned half-way.
    pub async fn run<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// [`Store::run`] for short work on a latency path (a paper order's transaction, a
    /// batch of user-data events; a live order's rows when [`Store::run_inline`] cannot
    /// run them straight away): on a multi-thread runtime the work runs on the calling
    /// worker thread (tokio's `block_in_place`, which moves the worker's other tasks to
    /// another thread), without the blocking pool's two thread hand-overs; elsewhere (a
    /// current-thread runtime) as [`Store::run`]. The work runs to its end either way.
    pub async fn run_here<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread {
            tokio::task::block_in_place(|| f(self))
        } else {
            self.run(f).await
        }
    }

    /// [`Store::run_here`] for a few statements on an order's path (its pending row, its
    /// answer). When no other write holds the store's write lock and a pooled connection
    /// is idle, the work runs straight on the calling thread, holding the write lock from
    /// the start: it waits for no other writer, only for its own statements (tens of µs),
    /// and skips `block_in_place`'s hand-over of the worker's other tasks (30–70 µs of a
    /// live order's place or cancel p50; BENCHMARKS.md, issue 19). Otherwise it runs as
    /// [`Store::run_here`].
    pub async fn run_inline<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        if self.pool.state().idle_connections > 0
            && let Ok(_writer) = self.write_lock.try_lock()
        {
            let _held = HeldWriteLock::enter(&self.write_lock);
            return f(self);
        }
        self.run_here(f).await
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, StoreError> {
        // Once the file was seen replaced, nothing touches the database any more: a new
        // connection would open the other file, beside the old one's `-wal` and `-shm`.
        if self.is_replaced() {
            return Err(StoreError::Replaced {
                path: self.path.to_path_buf(),
                detail: "seen earlier; the database is no longer used".into(),
            });
        }
        Ok(self.pool.get()?)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, holding the store's write lock, and
    /// commits if it returns `Ok`. Anything else rolls back.
    fn write<R>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        // `run_inline` may hold the lock already, on this thread.
        let _writer = (!HeldWriteLock::is_held(&self.write_lock)).then(|| {
            self.write_lock
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        });
        self.check_file()?;
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        // Checked again right before the commit: a commit to a replaced file is lost.
        self.check_file()?;
        tx.commit()?;
        Ok(out)
    }

    /// Checks that the database path still names the file this store opened: same device
    /// and inode, at least one link. One `stat(2)`, no database access.
    ///
    /// Every write runs it before starting and again right before committing, and the
    /// daemon runs it periodically ([`DatabaseWatch`]). Once it failed it fails for good, for every
    /// clone of this store: a file that came back under the path is not the one written to
    /// in the meantime.
    ///
    /// # Errors
    /// [`StoreError::Replaced`] when the path is missing, names another file, or the file
    /// has no link left.
    pub fn check_file(&self) -> Result<(), StoreError> {
        let replaced = |detail: String| StoreError::Replaced {
            path: self.path.to_path_buf(),
            detail,
        };
        if self.replaced.load(Ordering::Acquire) {
            return Err(replaced("seen earlier; writes are refused".into()));
        }
        let detail = match std::fs::metadata(self.path.as_path()) {
            Err(e) => Some(format!("the path cannot be read: {e}")),
            Ok(meta) if (meta.dev(), meta.ino()) != self.identity => Some(format!(
                "the path names another file (device {} inode {}, opened device {} inode {})",
                meta.dev(),
                meta.ino(),
                self.identity.0,
                self.identity.1
            )),
            Ok(meta) if meta.nlink() == 0 => Some("the file has no link left".into()),
            Ok(_) => None,
        };
        match detail {
            None => Ok(()),
            Some(detail) => {
                self.replaced.store(true, Ordering::Release);
                Err(replaced(detail))
            }
        }
    }

    /// Whether [`Store::check_file`] has failed: the database was deleted or replaced.
    pub fn is_replaced(&self) -> bool {
        self.replaced.load(Ordering::Acquire)
    }

    /// The newest schema version this binary knows.
    pub fn latest_schema_version() -> u32 {
        migrations().last().map(|(v, _)| *v).unwrap_or(0)
    }

    /// The database's schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn()?
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        self.migrate_to(Self::latest_schema_version())
    }

    /// Applies the migrations above the database's version, up to `target`. Public for the
    /// upgrade test, which builds an old database first.
    #[doc(hidden)]
    pub fn migrate_to(&self, target: u32) -> Result<(), StoreError> {
        let current = self.schema_version()?;
        let latest = Self::latest_schema_version();
        if current > latest {
            return Err(StoreError::TooNew {
                path: self.path.to_path_buf(),
                found: current,
                supported: latest,
            });
        }
        for (version, sql) in migrations() {
            if version <= current || version > target {
                continue;
            }
            // Re-read the version inside the write transaction: another process opening the
            // same file at the same moment may have applied this step already.
            let applied = self.write(|tx| {
                let now: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                if now >= version {
                    return Ok(false);
                }
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", version)?;
                Ok(true)
            })?;
            if applied {
                tracing::info!(version, path = %self.path.display(), "database schema upgraded");
            }
        }
        Ok(())
    }

    /// Registers a symbol, or refreshes a registered one: inserts it as active, or updates
    /// its assets and status and makes it active again. Overrides (`intervals`,
    /// `backfill_days`) are set only when given. Returns the row as stored.
    pub fn upsert_symbol(
        &self,
        market: Market,
        info: &SymbolInfo,
        intervals: Option<&[Interval]>,
        backfill_days: Option<u32>,
        now_ms: i64,
    ) -> Result<SymbolRow, StoreError> {
        self.write(|tx| upsert_symbol_tx(tx, market, info, intervals, backfill_days, now_ms))
    }

    /// Records the exchange's current status of a registered symbol.
    pub fn set_symbol_status(&self, id: i64, status: &str, now_ms: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE symbols SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status <> ?2",
                params![id, status, now_ms],
            )?;
            Ok(())
        })
    }

    /// Registered symbols of a market, by name; only active ones if `active_only`.
    pub fn symbols(&self, market: Market, active_only: bool) -> Result<Vec<SymbolRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, market, symbol, base_asset, quote_asset, status, active, intervals,
                    backfill_days, added_at, updated_at
             FROM symbols WHERE market = ?1 AND (active = 1 OR ?2 = 0) ORDER BY symbol",
        )?;
        let rows = stmt
            .query_map(params![market.as_str(), active_only], symbol_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    /// The open time of the newest stored candle of each `(symbol id, interval)` asked for;
    /// pairs with no candle are absent from the map.
    pub fn newest_open_times(
        &self,
        series: &[(i64, Interval)],
    ) -> Result<HashMap<(i64, Interval), i64>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT MAX(open_time) FROM klines WHERE symbol_id = ?1 AND interval = ?2",
        )?;
        let mut out = HashMap::with_capacity(series.len());
        for &(id, interval) in series {
            let newest: Option<i64> =
                stmt.query_row(params![id, interval.as_str()], |r| r.get(0))?;
            if let Some(t) = newest {
                out.insert((id, interval), t);
            }
        }
        Ok(out)
    }

    /// Writes one beat in a single transaction: its tickers, its klines (upserted), its
    /// futures mark prices and open interest, and its heartbeat row. Returns the heartbeat row as stored.
    ///
    /// The row's `finished_at` covers the commit: it is read from `clock` once the
    /// transaction has committed and written in a second, one-row transaction. Should that
    /// one fail, the row keeps the time read just before the commit (and the error is
    /// not reported: the beat's data are stored).
    pub fn commit_beat(&self, beat: &BeatWrite, clock: &Clock) -> Result<HeartbeatRow, StoreError> {
        let publish = self.events.has_subscribers();
        let (mut row, names) = self.write(|tx| {
            let time = beat.heartbeat.beat_time;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR REPLACE INTO tickers (symbol_id, time, last_price, bid_price,
                         bid_qty, ask_price, ask_qty, open_price, high_price, low_price,
                         price_change_percent, volume, quote_volume, trades,
                         window_open_time, window_close_time)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )?;
                for (id, t) in &beat.tickers {
                    stmt.execute(params![
                        id,
                        time,
                        t.last_price,
                        t.bid_price,
                        t.bid_qty,
                        t.ask_price,
                        t.ask_qty,
                        t.open_price,
                        t.high_price,
                        t.low_price,
                        t.price_change_percent,
                        t.volume,
                        t.quote_volume,
                        to_sql_count(t.trades),
                        t.open_time,
                        t.close_time
                    ])?;
                }
            }
            for (id, interval, klines, closed_before) in &beat.klines {
                upsert_klines_tx(tx, *id, *interval, klines, Some(*closed_before))?;
            }
            futures::insert_mark_prices_tx(tx, time, &beat.mark_prices)?;
            futures::insert_open_interest_tx(tx, BEAT_PERIOD, Some(time), &beat.open_interest)?;
            let mut row = beat.heartbeat.clone();
            row.finished_at = clock.now_ms();
            insert_heartbeat_tx(tx, &row)?;
            let names = if publish {
                events::symbol_names(tx, beat.klines.iter().map(|k| k.0))?
            } else {
                HashMap::new()
            };
            Ok((row, names))
        })?;
        let committed = clock.now_ms().max(row.finished_at);
        let updated = self.write(|tx| {
            Ok(tx.execute(
                "UPDATE heartbeats SET finished_at = ?1 WHERE beat_time = ?2 AND finished_at = ?3",
                params![committed, row.beat_time, row.finished_at],
            )?)
        });
        if matches!(updated, Ok(1)) {
            row.finished_at = committed;
        }
        if publish {
            for (id, interval, klines, _) in &beat.klines {
                if let (Some((market, symbol)), false) = (names.get(id), klines.is_empty()) {
                    self.events.publish(StoreEvent::Klines(KlineBatch {
                        market: *market,
                        symbol: symbol.clone(),
                        interval: *interval,
                        klines: klines.clone(),
                    }));
                }
            }
            self.events.publish(StoreEvent::Beat(row.clone()));
        }
        Ok(row)
    }

    /// Records a heartbeat row on its own, for a beat whose data could not be written.
    /// A row already stored for the same beat time is kept.
    pub fn insert_heartbeat(&self, row: &HeartbeatRow) -> Result<(), StoreError> {
        self.write(|tx| insert_heartbeat_tx(tx, row))
    }

    /// Upserts candles of one symbol and interval in one transaction; returns how many.
    /// For candles the caller knows are final (an import, a test's seed): each is recorded
    /// as proven closed (`closed_before` just after its close), so the gap check does not
    /// fetch it again.
    pub fn upsert_klines(
        &self,
        symbol_id: i64,
        interval: Interval,
        klines: &[Kline],
    ) -> Result<usize, StoreError> {
        self.write(|tx| upsert_klines_tx(tx, symbol_id, interval, klines, None))
    }

    /// Stored candles of one symbol and interval with `start <= open_time <= end`, oldest
    /// first, at most `limit`.
    pub fn klines(
        &self,
        symbol_id: i64,
        interval: Interval,
        start: i64,
        end: i64,
        limit: u32,
    ) -> Result<Vec<Kline>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT open_time, close_time, open, high, low, close, volume, quote_volume, trades,
                    taker_buy_base_volume, taker_buy_quote_volume
             FROM klines WHERE symbol_id = ?1 AND interval = ?2 AND open_time BETWEEN ?3 AND ?4
             ORDER BY open_time LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            params![symbol_id, interval.as_str(), start, end, limit],
            |r| {
                Ok(Kline {
                    open_time: r.get(0)?,
                    close_time: r.get(1)?,
                    open: r.get(2)?,
                    high: r.get(3)?,
                    low: r.get(4)?,
                    close: r.get(5)?,
                    volume: r.get(6)?,
                    quote_volume: r.get(7)?,
                    trades: u64::try_from(r.get::<_, i64>(8)?).unwrap_or(0),
                    taker_buy_base_volume: r.get(9)?,
                    taker_buy_quote_volume: r.get(10)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest heartbeat rows, newest first.
    pub fn heartbeats(&self, limit: u32) -> Result<Vec<HeartbeatRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT beat_time, started_at, finished_at, symbols_ok, symbols_failed,
                    klines_written, skipped_before, trigger, error
             FROM heartbeats ORDER BY beat_time DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(HeartbeatRow {
                beat_time: r.get(0)?,
                started_at: r.get(1)?,
                finished_at: r.get(2)?,
                symbols_ok: r.get(3)?,
                symbols_failed: r.get(4)?,
                klines_written: r.get(5)?,
                skipped_before: r.get(6)?,
                trigger: match r.get::<_, String>(7)?.as_str() {
                    "manual" => BeatTrigger::Manual,
                    "startup" => BeatTrigger::Startup,
                    _ => BeatTrigger::Schedule,
                },
                error: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The `-- version: N` sections of `schema.sql`, in file order.
fn migrations() -> Vec<(u32, &'static str)> {
    let mut out: Vec<(u32, &'static str)> = Vec::new();
    let mut current: Option<(u32, usize)> = None;
    let mut offset = 0;
    for line in SCHEMA_SQL.split_inclusive('\n') {
        if let Some(v) = line.trim().strip_prefix("-- version:") {
            if let Some((ver, start)) = current.take() {
                out.push((ver, &SCHEMA_SQL[start..offset]));
            }
            if let Ok(ver) = v.trim().parse() {
                current = Some((ver, offset + line.len()));
            }
        }
        offset += line.len();
    }
    if let Some((ver, start)) = current {
        out.push((ver, &SCHEMA_SQL[start..]));
    }
    out
}

/// Inserts a symbol as active, or refreshes a registered one (assets, status, active again;
/// overrides only when given), inside `tx`; returns the row as stored.
pub(super) fn upsert_symbol_tx(
    tx: &Transaction<'_>,
    market: Market,
    info: &SymbolInfo,
    intervals: Option<&[Interval]>,
    backfill_days: Option<u32>,
    now_ms: i64,
) -> Result<SymbolRow, StoreError> {
    tx.execute(
        "INSERT INTO symbols (market, symbol, base_asset, quote_asset, status, active,
                              intervals, backfill_days, added_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?8)
         ON CONFLICT (market, symbol) DO UPDATE SET
             base_asset = excluded.base_asset,
             quote_asset = excluded.quote_asset,
             status = excluded.status,
             active = 1,
             intervals = COALESCE(excluded.intervals, symbols.intervals),
             backfill_days = COALESCE(excluded.backfill_days, symbols.backfill_days),
             updated_at = excluded.updated_at",
        params![
            market.as_str(),
            info.symbol.as_str(),
            info.base_asset,
            info.quote_asset,
            info.status.as_str(),
            intervals.map(join_intervals),
            backfill_days,
            now_ms
        ],
    )?;
    symbol_by_name(tx, market, &info.symbol)?
        .ok_or_else(|| StoreError::Corrupt(format!("symbol {} vanished", info.symbol)))
}

fn join_intervals(intervals: &[Interval]) -> String {
    intervals
        .iter()
        .map(|i| i.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn to_sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn symbol_by_name(
    conn: &Connection,
    market: Market,
    symbol: &Symbol,
) -> Result<Option<SymbolRow>, StoreError> {
    conn.query_row(
        "SELECT id, market, symbol, base_asset, quote_asset, status, active, intervals,
                backfill_days, added_at, updated_at
         FROM symbols WHERE market = ?1 AND symbol = ?2",
        params![market.as_str(), symbol.as_str()],
        symbol_row,
    )
    .optional()?
    .transpose()
}

/// Reads a `symbols` row; the inner result reports values that do not parse.
fn symbol_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<SymbolRow, StoreError>> {
    let market: String = r.get(1)?;
    let symbol: String = r.get(2)?;
    let intervals: Option<String> = r.get(7)?;
    let parsed = (|| {
        let market = market
            .parse()
            .map_err(|e: crate::domain::ParseError| StoreError::Corrupt(e.to_string()))?;
        let symbol = symbol
            .parse()
            .map_err(|e: crate::domain::ParseError| StoreError::Corrupt(e.to_string()))?;
        let intervals = intervals
            .map(|s| {
                s.split(',')
                    .map(|i| i.parse::<Interval>())
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok((market, symbol, intervals))
    })();
    Ok(match parsed {
        Ok((market, symbol, intervals)) => Ok(SymbolRow {
            id: r.get(0)?,
            market,
            symbol,
            base_asset: r.get(3)?,
            quote_asset: r.get(4)?,
            status: r.get(5)?,
            active: r.get(6)?,
            intervals,
            backfill_days: r.get(8)?,
            added_at: r.get(9)?,
            updated_at: r.get(10)?,
        }),
        Err(e) => Err(e),
    })
}

/// Candles bound to one multi-row upsert statement (14 parameters each, 896 in all; SQLite
/// allows 32 766). One statement for 64 rows does the per-statement work (step, reset,
/// unbind) once instead of 64 times: a native upsert of the same 215 995 backfill rows ran
/// at 1.35-1.52 M rows/s this way against 0.84-0.86 M one row a statement (BENCHMARKS.md,
/// "Issue 19: the backfill's pages fetched ahead, written together, 64 candles to a
/// statement").
const KLINES_PER_STATEMENT: usize = 64;

/// The klines upsert for `rows` candles: a row per `VALUES` tuple, 14 anonymous parameters
/// each (symbol id, interval, open time, close time, open, high, low, close, volume, quote
/// volume, trades, taker-buy base and quote volume, `closed_before`), in that order. A
/// candle stored already is replaced, as is the earlier of two with the same open time.
fn upsert_klines_sql(rows: usize) -> String {
    let tuple = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let values = vec![tuple; rows].join(", ");
    format!(
        "INSERT INTO klines (symbol_id, interval, open_time, close_time, open, high, low, close,
                             volume, quote_volume, trades, taker_buy_base_volume,
                             taker_buy_quote_volume, closed_before)
         VALUES {values}
         ON CONFLICT (symbol_id, interval, open_time) DO UPDATE SET
             close_time = excluded.close_time, open = excluded.open, high = excluded.high,
             low = excluded.low, close = excluded.close, volume = excluded.volume,
             quote_volume = excluded.quote_volume, trades = excluded.trades,
             taker_buy_base_volume = excluded.taker_buy_base_volume,
             taker_buy_quote_volume = excluded.taker_buy_quote_volume,
             closed_before = excluded.closed_before"
    )
}

/// [`upsert_klines_sql`] for one candle and for [`KLINES_PER_STATEMENT`], built once.
static UPSERT_KLINE: LazyLock<String> = LazyLock::new(|| upsert_klines_sql(1));
static UPSERT_KLINES: LazyLock<String> = LazyLock::new(|| upsert_klines_sql(KLINES_PER_STATEMENT));

/// Upserts `klines` of one series with their proof of close: `closed_before`, the
/// exchange's time read before their request; `None` for candles the caller knows are final
/// (recorded as `close_time + 1`). [`KLINES_PER_STATEMENT`] to a statement, the rest one by
/// one (both statements cached per connection).
fn upsert_klines_tx(
    tx: &Transaction<'_>,
    symbol_id: i64,
    interval: Interval,
    klines: &[Kline],
    closed_before: Option<i64>,
) -> Result<usize, StoreError> {
    let bind = |stmt: &mut rusqlite::CachedStatement<'_>, row: usize, k: &Kline| {
        let at = row * 14;
        stmt.raw_bind_parameter(at + 1, symbol_id)?;
        stmt.raw_bind_parameter(at + 2, interval.as_str())?;
        stmt.raw_bind_parameter(at + 3, k.open_time)?;
        stmt.raw_bind_parameter(at + 4, k.close_time)?;
        stmt.raw_bind_parameter(at + 5, k.open)?;
        stmt.raw_bind_parameter(at + 6, k.high)?;
        stmt.raw_bind_parameter(at + 7, k.low)?;
        stmt.raw_bind_parameter(at + 8, k.close)?;
        stmt.raw_bind_parameter(at + 9, k.volume)?;
        stmt.raw_bind_parameter(at + 10, k.quote_volume)?;
        stmt.raw_bind_parameter(at + 11, to_sql_count(k.trades))?;
        stmt.raw_bind_parameter(at + 12, k.taker_buy_base_volume)?;
        stmt.raw_bind_parameter(at + 13, k.taker_buy_quote_volume)?;
        stmt.raw_bind_parameter(
            at + 14,
            closed_before.unwrap_or(k.close_time.saturating_add(1)),
        )
    };
    let mut chunks = klines.chunks_exact(KLINES_PER_STATEMENT);
    if klines.len() >= KLINES_PER_STATEMENT {
        let mut stmt = tx.prepare_cached(&UPSERT_KLINES)?;
        for chunk in &mut chunks {
            for (row, k) in chunk.iter().enumerate() {
                bind(&mut stmt, row, k)?;
            }
            stmt.raw_execute()?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut stmt = tx.prepare_cached(&UPSERT_KLINE)?;
        for k in rest {
            bind(&mut stmt, 0, k)?;
            stmt.raw_execute()?;
        }
    }
    Ok(klines.len())
}

fn insert_heartbeat_tx(tx: &Transaction<'_>, row: &HeartbeatRow) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO heartbeats (beat_time, started_at, finished_at, symbols_ok,
             symbols_failed, klines_written, skipped_before, trigger, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            row.beat_time,
            row.started_at,
            row.finished_at,
            row.symbols_ok,
            row.symbols_failed,
            row.klines_written,
            row.skipped_before,
            row.trigger.as_str(),
            row.error
        ],
    )?;
    Ok(())
}

/// How the store opens the database: rusqlite's defaults, never through a symbolic link.
fn open_flags() -> rusqlite::OpenFlags {
    rusqlite::OpenFlags::default() | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW
}

/// A store on a new database in a temporary directory, which lives as long as the
/// returned guard. (Tests only.)
#[cfg(test)]
pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(&dir.path().join("t.db")).expect("store");
    (dir, store)
}

/// The steps of SQLite's plan for `sql` (`EXPLAIN QUERY PLAN`'s detail column), its
/// parameters bound to NULL: the plan does not depend on their values. (Tests only.)
#[cfg(test)]
pub(crate) fn query_plan(store: &Store, sql: &str) -> Vec<String> {
    let conn = store.conn().expect("connection");
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("plan");
    let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
    stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
        .expect("plan rows")
        .collect::<Result<_, _>>()
        .expect("plan rows")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SymbolStatus;

    #[test]
    fn run_here_works_on_the_callers_thread_on_a_multi_thread_runtime_and_falls_back_elsewhere() {
        let (_dir, store) = temp_store();
        let work = |s: &Store| {
            let conn = s.conn()?;
            let one: i64 = conn.query_row("SELECT 1", [], |r| r.get(0))?;
            Ok((one, std::thread::current().id()))
        };
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let store2 = store.clone();
        let caller_and_worker = multi.block_on(async move {
            tokio::spawn(async move {
                let caller = std::thread::current().id();
                let (one, worker) = store2.run_here(work).await.unwrap();
                (one, caller, worker)
            })
            .await
            .unwrap()
        });
        let (one, caller, worker) = caller_and_worker;
        assert_eq!(one, 1);
        assert_eq!(caller, worker, "no hand-over to the blocking pool");
        // A current-thread runtime cannot block in place: the blocking pool does the work.
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let caller = std::thread::current().id();
        let (one, worker) = current.block_on(store.run_here(work)).unwrap();
        assert_eq!(one, 1);
        assert_ne!(caller, worker);
    }

    /// Two writes in one inline run: the first takes no lock of its own (the run holds it),
    /// and neither waits for the other.
    fn two_writes(s: &Store) -> Result<bool, StoreError> {
        let held = HeldWriteLock::is_held(&s.write_lock);
        for x in [1, 2] {
            s.write(|tx| {
                tx.execute("CREATE TABLE IF NOT EXISTS inline_t (x INTEGER)", [])?;
                tx.execute("INSERT INTO inline_t (x) VALUES (?1)", [x])?;
                Ok(())
            })?;
        }
        Ok(held)
    }

    fn inline_rows(store: &Store) -> i64 {
        let conn = store.conn().unwrap();
        conn.query_row("SELECT count(*) FROM inline_t", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn run_inline_holds_the_free_write_lock_for_its_writes_and_lets_it_go() {
        let (_dir, store) = temp_store();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let held = runtime.block_on(store.run_inline(two_writes)).unwrap();
        assert!(held, "the write lock was free: the work holds it");
        assert_eq!(inline_rows(&store), 2);
        assert!(!HeldWriteLock::is_held(&store.write_lock));
        // The lock was let go: another thread takes it at once.
        let other = store.clone();
        let free = std::thread::spawn(move || other.write_lock.try_lock().is_ok())
            .join()
            .unwrap();
        assert!(free);
    }

    #[test]
    fn run_inline_waits_in_place_when_another_writer_holds_the_lock() {
        let (_dir, store) = temp_store();
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = store.clone();
        let writer = std::thread::spawn(move || {
            let _guard = holder.write_lock.lock().unwrap();
            locked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        locked_rx.recv().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let inline = store.clone();
        let task = runtime.spawn(async move {
            inline
                .run_inline(move |s| {
                    seen_tx.send(HeldWriteLock::is_held(&s.write_lock)).unwrap();
                    two_writes(s)
                })
                .await
        });
        // The work started without the lock: it waits for it in its first write.
        assert!(!seen_rx.recv().unwrap());
        release_tx.send(()).unwrap();
        writer.join().unwrap();
        assert!(!runtime.block_on(task).unwrap().unwrap());
        assert_eq!(inline_rows(&store), 2);
    }

    fn info(s: &str) -> SymbolInfo {
        SymbolInfo {
            symbol: s.parse().unwrap(),
            status: SymbolStatus::Trading,
            base_asset: s[..3].to_string(),
            quote_asset: s[3..].to_string(),
            filters: Default::default(),
        }
    }

    fn kline(open_time: i64, close: f64) -> Kline {
        Kline {
            open_time,
            close_time: open_time + 59_999,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close,
            volume: 10.0,
            quote_volume: 15.0,
            trades: 3,
            taker_buy_base_volume: 4.0,
            taker_buy_quote_volume: 6.0,
        }
    }

    #[test]
    fn schema_has_sections_in_order() {
        let m = migrations();
        assert!(!m.is_empty());
        for (i, (v, sql)) in m.iter().enumerate() {
            assert_eq!(*v as usize, i + 1, "versions must count up from 1");
            assert!(
                sql.contains("CREATE") || sql.contains("ALTER"),
                "section {v} is empty"
            );
        }
    }

    #[test]
    fn open_creates_directories_and_sets_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/t.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            Store::latest_schema_version()
        );
        let conn = store.conn().unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        // Opening again is a no-op upgrade.
        drop(conn);
        let again = Store::open(&path).unwrap();
        assert_eq!(
            again.schema_version().unwrap(),
            Store::latest_schema_version()
        );
    }

    #[test]
    fn two_openers_at_once_both_get_an_upgraded_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || Store::open(&path).map(|s| s.schema_version()))
            })
            .collect();
        for h in handles {
            let version = h.join().unwrap().unwrap().unwrap();
            assert_eq!(version, Store::latest_schema_version());
        }
    }

    #[test]
    fn refuses_a_database_from_a_newer_tradebeat() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        drop(conn);
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found: 999, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        std::fs::write(
            &path,
            b"this is not sqlite, just text that is long enough....",
        )
        .unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(err.to_string().contains("t.db"), "{err}");
    }

    #[test]
    fn symbols_upsert_reactivates_and_keeps_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let row = store
            .upsert_symbol(
                Market::Spot,
                &info("BTCUSDT"),
                Some(&[Interval::M1, Interval::H1]),
                Some(7),
                1,
            )
            .unwrap();
        assert_eq!(row.intervals, Some(vec![Interval::M1, Interval::H1]));
        assert_eq!(row.backfill_days, Some(7));
        assert!(row.active);
        let again = store
            .upsert_symbol(Market::Spot, &info("BTCUSDT"), None, None, 2)
            .unwrap();
        assert_eq!(again.id, row.id);
        assert_eq!(again.intervals, row.intervals);
        assert_eq!(again.added_at, 1);
        assert_eq!(again.updated_at, 2);
        store.set_symbol_status(row.id, "BREAK", 3).unwrap();
        assert_eq!(
            store.symbols(Market::Spot, true).unwrap()[0].status,
            "BREAK"
        );
    }

    /// A fresh store in a temporary directory with spot BTCUSDT registered: (the
    /// directory, kept alive by the caller; the store; the symbol's id).
    fn store_with_btcusdt() -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let id = store
            .upsert_symbol(Market::Spot, &info("BTCUSDT"), None, None, 1)
            .unwrap()
            .id;
        (dir, store, id)
    }

    #[test]
    fn beat_commit_is_atomic_and_klines_upsert() {
        let (_dir, store, id) = store_with_btcusdt();
        let hb = HeartbeatRow {
            beat_time: 65_000,
            started_at: 65_001,
            finished_at: 0,
            symbols_ok: 1,
            symbols_failed: 0,
            klines_written: 2,
            skipped_before: 0,
            trigger: BeatTrigger::Schedule,
            error: None,
        };
        let beat = BeatWrite {
            tickers: vec![],
            klines: vec![(
                id,
                Interval::M1,
                vec![kline(0, 1.5), kline(60_000, 1.6)],
                i64::MAX,
            )],
            mark_prices: vec![],
            open_interest: vec![],
            heartbeat: hb.clone(),
        };
        let clock = Clock::system();
        let row = store.commit_beat(&beat, &clock).unwrap();
        assert!(row.finished_at >= row.started_at);
        // The same candle again, corrected: upserted, not duplicated.
        store
            .upsert_klines(id, Interval::M1, &[kline(60_000, 1.7)])
            .unwrap();
        let ks = store.klines(id, Interval::M1, 0, i64::MAX, 10).unwrap();
        assert_eq!(ks.len(), 2);
        assert_eq!(ks[1].close, 1.7);
        assert_eq!(
            store
                .newest_open_times(&[(id, Interval::M1), (id, Interval::H1)])
                .unwrap(),
            HashMap::from([((id, Interval::M1), 60_000)])
        );

        // A beat that fails half-way (a ticker for an unknown symbol id breaks the foreign
        // key) leaves nothing behind: no klines, no heartbeat row.
        let mut bad = beat.clone();
        bad.heartbeat.beat_time = 125_000;
        bad.klines = vec![(id, Interval::M1, vec![kline(120_000, 9.9)], i64::MAX)];
        bad.tickers = vec![(id + 100, sample_ticker())];
        assert!(store.commit_beat(&bad, &clock).is_err());
        assert_eq!(
            store
                .klines(id, Interval::M1, 0, i64::MAX, 10)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(store.heartbeats(10).unwrap().len(), 1);
    }

    #[test]
    fn klines_upsert_whole_statements_and_the_rest_field_by_field() {
        let (_dir, store, id) = store_with_btcusdt();
        // Two full statements and a rest of 3, each candle with fields of its own.
        let n = 2 * KLINES_PER_STATEMENT + 3;
        let candle = |i: usize, close: f64| {
            let t = i as i64 * 60_000;
            Kline {
                open_time: t,
                close_time: t + 59_999,
                open: i as f64,
                high: i as f64 + 0.5,
                low: i as f64 - 0.5,
                close,
                volume: i as f64 * 2.0,
                quote_volume: i as f64 * 3.0,
                trades: i as u64,
                taker_buy_base_volume: i as f64 * 4.0,
                taker_buy_quote_volume: i as f64 * 5.0,
            }
        };
        let first: Vec<Kline> = (0..n).map(|i| candle(i, 1.0)).collect();
        assert_eq!(store.upsert_klines(id, Interval::M1, &first).unwrap(), n);
        assert_eq!(
            store.klines(id, Interval::M1, 0, i64::MAX, 1000).unwrap(),
            first
        );
        // A batch across a statement's end, with one candle twice (the later one wins, as
        // one by one), replaces what it names and keeps the rest.
        let mut again: Vec<Kline> = (60..70).map(|i| candle(i, 2.0)).collect();
        again.extend((60..130).map(|i| candle(i, 3.0)));
        again.push(candle(65, 4.0));
        store.upsert_klines(id, Interval::M1, &again).unwrap();
        let stored = store.klines(id, Interval::M1, 0, i64::MAX, 1000).unwrap();
        assert_eq!(stored.len(), n);
        for (i, k) in stored.iter().enumerate() {
            let close = match i {
                65 => 4.0,
                60..130 => 3.0,
                _ => 1.0,
            };
            assert_eq!(*k, candle(i, close), "candle {i}");
        }
    }

    fn sample_ticker() -> Ticker {
        Ticker {
            symbol: "BTCUSDT".parse().unwrap(),
            last_price: 1.0,
            bid_price: 1.0,
            bid_qty: 1.0,
            ask_price: 1.0,
            ask_qty: 1.0,
            open_price: 1.0,
            high_price: 1.0,
            low_price: 1.0,
            price_change_percent: 0.0,
            volume: 1.0,
            quote_volume: 1.0,
            trades: 1,
            open_time: 0,
            close_time: 1,
        }
    }

    #[test]
    fn upgrade_from_an_older_version_keeps_data() {
        // Build a database at version 1 only, write data, then open with the full schema.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let conn = Connection::open(&path).unwrap();
            let (v, sql) = migrations()[0];
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", v).unwrap();
            conn.execute(
                "INSERT INTO symbols (market, symbol, base_asset, quote_asset, status, added_at, updated_at)
                 VALUES ('spot', 'BTCUSDT', 'BTC', 'USDT', 'TRADING', 1, 1)",
                [],
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            Store::latest_schema_version()
        );
        let symbols = store.symbols(Market::Spot, true).unwrap();
        assert_eq!(symbols.len(), 1);
        assert_eq!(symbols[0].symbol.as_str(), "BTCUSDT");
    }

    #[test]
    fn upgrade_from_version_1_adds_backfill_tables_and_keeps_klines() {
        // A version-1 database with a symbol, its overrides and candles.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let conn = Connection::open(&path).unwrap();
            let (v, sql) = migrations()[0];
            assert_eq!(v, 1);
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", v).unwrap();
            conn.execute(
                "INSERT INTO symbols (market, symbol, base_asset, quote_asset, status, intervals,
                                      backfill_days, added_at, updated_at)
                 VALUES ('spot', 'ETHUSDT', 'ETH', 'USDT', 'TRADING', '1m,1h', 7, 1, 1)",
                [],
            )
            .unwrap();
            for t in [0_i64, 60_000, 120_000] {
                conn.execute(
                    "INSERT INTO klines VALUES (1, '1m', ?1, ?1 + 59999, 1, 2, 0.5, 1.5, 10, 15, 3, 4, 6)",
                    [t],
                )
                .unwrap();
            }
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            Store::latest_schema_version()
        );
        let row = store.symbol_by_id(1).unwrap().unwrap();
        assert_eq!(row.intervals, Some(vec![Interval::M1, Interval::H1]));
        assert_eq!(row.backfill_days, Some(7));
        assert_eq!(
            store
                .klines(1, Interval::M1, 0, i64::MAX, 10)
                .unwrap()
                .len(),
            3
        );
        // The new tables are there and empty.
        assert!(store.backfill_jobs(None).unwrap().is_empty());
        assert!(store.gaps(None, None, true).unwrap().is_empty());
        let conn = store.conn().unwrap();
        for table in ["backfill_jobs", "gaps"] {
            let n: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "{table}");
        }
    }

    /// Every connection of the pool, held at once (so each one is seen).
    fn all_connections(store: &Store) -> Vec<r2d2::PooledConnection<SqliteConnectionManager>> {
        (0..POOL_SIZE).map(|_| store.conn().unwrap()).collect()
    }

    #[test]
    fn a_beats_finished_at_is_taken_after_its_commit() {
        let (_dir, store, id) = store_with_btcusdt();
        // The end of the first commit from now on, by the clock the beat reads; each
        // commit takes 5 ms, as a flush to a slow disk would.
        let committed_at = Arc::new(Mutex::new(None::<i64>));
        let clock = Clock::system();
        for conn in all_connections(&store) {
            let seen = Arc::clone(&committed_at);
            let clock = clock.clone();
            conn.commit_hook(Some(move || {
                std::thread::sleep(Duration::from_millis(5));
                seen.lock().unwrap().get_or_insert(clock.now_ms());
                false
            }))
            .unwrap();
        }
        let beat = BeatWrite {
            tickers: vec![],
            klines: vec![(id, Interval::M1, vec![kline(0, 1.5)], i64::MAX)],
            mark_prices: vec![],
            open_interest: vec![],
            heartbeat: HeartbeatRow {
                beat_time: 65_000,
                started_at: clock.now_ms(),
                finished_at: 0,
                symbols_ok: 1,
                symbols_failed: 0,
                klines_written: 1,
                skipped_before: 0,
                trigger: BeatTrigger::Schedule,
                error: None,
            },
        };
        let row = store.commit_beat(&beat, &clock).unwrap();
        let committed_at = committed_at.lock().unwrap().expect("no commit seen");
        assert!(
            row.finished_at >= committed_at,
            "finished_at {} before the commit ended at {committed_at}",
            row.finished_at
        );
        assert_eq!(store.heartbeats(1).unwrap(), vec![row]);
    }

    #[test]
    fn no_write_connection_checkpoints_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        for conn in all_connections(&store) {
            let pages: i64 = conn
                .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
                .unwrap();
            assert_eq!(pages, 0, "a commit on this connection may checkpoint");
        }
    }
}
