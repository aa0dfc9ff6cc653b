//! Shared test harness: the exchange simulator, a daemon pointed at it, and ways to read
//! the database while it runs.
//!
//! The daemon runs in real time against the simulator (which replays real recorded Binance
//! data on the wall clock), with a short beat period. Tests wait for *events* (a number of
//! heartbeat rows, a process exit) with a deadline; they never sleep for a fixed time and
//! then hope.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use exchange_sim::{SimConfig, SimHandle};
use rusqlite::{Connection, OpenFlags};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tradebeat::clock::Clock;
use tradebeat::config::Config;

/// Starts a simulator with default knobs.
pub async fn sim() -> SimHandle {
    exchange_sim::spawn(SimConfig::default())
        .await
        .expect("simulator starts")
}

/// The simulator's WebSocket API endpoint, from its base URL (`http://127.0.0.1:PORT`):
/// no test's daemon ever dials Binance's own.
pub fn ws_api_url(sim_url: &str) -> String {
    format!("{}/ws-api/v3", sim_url.replacen("http://", "ws://", 1))
}

/// A config for tests: the simulator's URL, files in `dir`, a 2 s period with a 1 s offset,
/// one day of backfill.
pub fn config(sim_url: &str, dir: &Path, symbols: &[&str], intervals: &[&str]) -> Config {
    let mut c = Config::default();
    c.exchange.rest_url = Some(sim_url.to_string());
    c.exchange.ws_api_url = Some(ws_api_url(sim_url));
    // The futures markets too: a test that trades or follows futures sets the simulator's
    // futures listeners; every other one gets the spot listener, which answers their paths
    // with 404, so that no test's daemon ever dials Binance's futures hosts.
    let ws = sim_url.replacen("http://", "ws://", 1);
    // Spot market streams (paper orders' books): the simulator's spot listener.
    c.exchange.ws_url = Some(ws.clone());
    c.exchange.usdm_rest_url = Some(sim_url.to_string());
    c.exchange.coinm_rest_url = Some(sim_url.to_string());
    c.exchange.usdm_ws_url = Some(ws.clone());
    c.exchange.coinm_ws_url = Some(ws);
    c.exchange.request_timeout_ms = 2_000;
    c.heartbeat.period_secs = 2;
    c.heartbeat.offset_secs = 1;
    c.market_data.symbols = symbols.iter().map(|s| s.parse().unwrap()).collect();
    c.market_data.intervals = intervals.iter().map(|s| s.parse().unwrap()).collect();
    // One day of history: the backfill runs in every test, and stays small.
    c.market_data.backfill_days = 1;
    c.storage.database = dir.join("tradebeat.db");
    c.control.socket = dir.join("control.sock");
    c.logging.dir = dir.join("logs");
    c
}

/// A daemon running in this process (through `daemon::run_until`).
pub struct InProcess {
    pub shutdown: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
    pub db: PathBuf,
}

impl InProcess {
    pub fn start(config: Config) -> InProcess {
        let shutdown = CancellationToken::new();
        let db = config.storage.database.clone();
        let task = tokio::spawn(tradebeat::daemon::run_until(
            config,
            Clock::system(),
            shutdown.clone(),
        ));
        InProcess { shutdown, task, db }
    }

    /// Starts with `backfill` options and returns the daemon's handles once it has built
    /// its components.
    pub async fn start_with(
        config: Config,
        backfill: tradebeat::backfill::BackfillOptions,
    ) -> (InProcess, tradebeat::daemon::Handles) {
        let options = tradebeat::daemon::RunOptions {
            backfill,
            ..Default::default()
        };
        InProcess::start_options(config, options).await
    }

    /// Starts with `options` (their `handles` is set here) and returns the daemon's handles
    /// once it has built its components.
    pub async fn start_options(
        config: Config,
        mut options: tradebeat::daemon::RunOptions,
    ) -> (InProcess, tradebeat::daemon::Handles) {
        let shutdown = CancellationToken::new();
        let db = config.storage.database.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        options.handles = Some(tx);
        let task = tokio::spawn(tradebeat::daemon::run_with(
            config,
            Clock::system(),
            shutdown.clone(),
            options,
        ));
        let handles = rx.await.expect("the daemon builds its components");
        (InProcess { shutdown, task, db }, handles)
    }

    /// Stops the daemon and waits for it; panics if it failed or took over 5 s.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("daemon stops within 5 s")
            .expect("daemon task joins")
            .expect("daemon ran without error");
    }
}

/// Opens the database read-only (the daemon may be writing).
pub fn read_db(path: &Path) -> Connection {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open db");
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c
}

/// Rows in `heartbeats`, or 0 while the database does not exist yet.
pub fn heartbeat_count(path: &Path) -> i64 {
    if !path.exists() {
        return 0;
    }
    read_db(path)
        .query_row("SELECT COUNT(*) FROM heartbeats", [], |r| r.get(0))
        .unwrap_or(0)
}

/// Waits (polling) until `cond` holds; panics with `what` after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A temporary directory for one test's files.
pub fn tempdir() -> TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// One stored kline row as the test reads it back: (open_time, close_time, o, h, l, c, v,
/// quote volume, trades, taker base, taker quote).
pub type Row = (i64, i64, f64, f64, f64, f64, f64, f64, i64, f64, f64);

/// Every stored kline of `symbol` × `interval`, oldest first.
pub fn stored_klines(db: &Connection, symbol: &str, interval: &str) -> Vec<Row> {
    let mut stmt = db
        .prepare(
            "SELECT k.open_time, k.close_time, k.open, k.high, k.low, k.close, k.volume,
                    k.quote_volume, k.trades, k.taker_buy_base_volume, k.taker_buy_quote_volume
             FROM klines k JOIN symbols s ON s.id = k.symbol_id
             WHERE s.symbol = ?1 AND k.interval = ?2 ORDER BY k.open_time",
        )
        .unwrap();
    stmt.query_map([symbol, interval], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The simulator's closed candle as a [`Row`], for comparing with what was stored.
pub fn sim_row(sim: &SimHandle, symbol: &str, interval: &str, open_time: i64) -> Row {
    let k = sim
        .kline(symbol, interval, open_time)
        .unwrap_or_else(|| panic!("simulator has no {symbol} {interval} candle at {open_time}"));
    (
        k.open_time,
        k.close_time,
        k.open,
        k.high,
        k.low,
        k.close,
        k.volume,
        k.quote_volume,
        k.trades as i64,
        k.taker_buy_base_volume,
        k.taker_buy_quote_volume,
    )
}

/// The simulator's candle as the daemon's domain type, for seeding a database.
pub fn to_kline(k: &exchange_sim::SimKline) -> tradebeat::domain::Kline {
    tradebeat::domain::Kline {
        open_time: k.open_time,
        close_time: k.close_time,
        open: k.open,
        high: k.high,
        low: k.low,
        close: k.close,
        volume: k.volume,
        quote_volume: k.quote_volume,
        trades: k.trades,
        taker_buy_base_volume: k.taker_buy_base_volume,
        taker_buy_quote_volume: k.taker_buy_quote_volume,
    }
}

/// The `tradebeat` binary as a child process in `dir`: none of the developer's own
/// `TRADEBEAT_*`, `RUST_LOG` or systemd variables reach it, stdin is closed, stdout and
/// stderr are piped. Callers add their arguments and environment on top.
pub fn tradebeat_command(dir: &Path) -> std::process::Command {
    scrubbed(
        std::process::Command::new(env!("CARGO_BIN_EXE_tradebeat")),
        dir,
    )
}

/// [`tradebeat_command`] started by `sh` after `umask 022`, as from an operator's usual
/// shell: the binary runs with that umask whatever the test runner's own.
pub fn tradebeat_command_umask_022(dir: &Path) -> std::process::Command {
    let mut sh = std::process::Command::new("sh");
    sh.args([
        "-c",
        r#"umask 022 && exec "$0" "$@""#,
        env!("CARGO_BIN_EXE_tradebeat"),
    ]);
    scrubbed(sh, dir)
}

/// [`tradebeat_command`] started by `sh` after `ulimit -v KIB`: the binary cannot map more
/// than `address_space_kib` KiB, so input that would make it grow fails instead of taking
/// the machine's memory. The caller adds the subcommand and its arguments.
pub fn tradebeat_command_memory_capped(
    dir: &Path,
    address_space_kib: u64,
) -> std::process::Command {
    let mut sh = std::process::Command::new("sh");
    sh.args([
        "-c",
        &format!(r#"ulimit -v {address_space_kib} && exec "$0" "$@""#),
        env!("CARGO_BIN_EXE_tradebeat"),
    ]);
    scrubbed(sh, dir)
}

/// `cmd` in `dir`, without the developer's variables, stdin closed, outputs piped.
fn scrubbed(mut cmd: std::process::Command, dir: &Path) -> std::process::Command {
    use std::process::Stdio;
    for (k, _) in std::env::vars() {
        if k.starts_with("TRADEBEAT_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}
