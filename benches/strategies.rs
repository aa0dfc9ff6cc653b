//! Benchmarks of the strategy runner (README.md, "Strategies"), a paper daemon in this
//! process against the bundled simulator on loopback, 1 s beats, BTCUSDT 1m; the
//! simulator's clock is moved a minute after each beat so that every beat closes a candle.
//! The strategy is this same binary (`--strategy FILE`): it notes the time its `main`
//! starts, the time it has read its whole context and the time it answers (ns since the
//! epoch, appended to FILE), so the process's own work is measured apart from the
//! daemon's.
//!
//! 1. `overhead`: one trade strategy answering one MARKET order a run: from the beat's
//!    commit (`heartbeats.finished_at`) to the process's `main`, and from its answer to
//!    its order's row committed filled (`orders.updated_at`).
//! 2. `fifty`: the scheduled beats' start lag (`started_at − beat_time`) without
//!    strategies, then with 50 trade strategies run on every beat (each answering one
//!    MARKET order), and how long after the beat's commit the 50th run is recorded.
//!
//! Part 1 also spawns this binary itself (`--probe`) from the bench to measure the
//! operating system's own start-up of the process (fork, exec, loading), for reference.
//!
//! Run with `cargo bench --bench strategies` (release build); `-- overhead` or `-- fifty`
//! runs one part; `STRATEGY_BENCH_RUNS` sets the runs of part 1 (default 40) and
//! `STRATEGY_BENCH_BEATS` the beats of each half of part 2 (default 20). Results go to
//! stdout, with the load average before and after.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exchange_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tradebeat::clock::Clock;
use tradebeat::config::{Config, PaperBalance};
use tradebeat::control::Client;
use tradebeat::control::protocol::{
    StrategyAdd, StrategyAddParams, StrategyRef, TradeStrategyAdd, TradeStrategyAddParams,
};

const MINUTE: i64 = 60_000;

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Strategy mode: note the start, read the context, answer one MARKET buy, note the answer.
fn strategy_main(log: &str) {
    let started = now_ns();
    let mut input = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut input);
    let read = now_ns();
    let ctx: Value = serde_json::from_slice(&input).unwrap_or(Value::Null);
    let ts = ctx["trade_strategy_id"].as_i64().unwrap_or(0);
    let answer = json!({"orders": [{"side": "BUY", "type": "MARKET", "quantity": "0.001"}]});
    let text = answer.to_string();
    let answered = now_ns();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(f, "{ts} {started} {read} {answered}");
    }
    let mut out = std::io::stdout();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{name}: n {}, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, min {:.1} ms, max {:.1} ms",
        v.len(),
        percentile(&v, 0.5),
        percentile(&v, 0.9),
        percentile(&v, 0.99),
        v.first().copied().unwrap_or(f64::NAN),
        v.last().copied().unwrap_or(f64::NAN),
    );
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

struct Daemon {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    db: PathBuf,
    client: Client,
    strategy_log: PathBuf,
    _dir: tempfile::TempDir,
}

async fn daemon(sim: &SimHandle) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::default();
    c.exchange.rest_url = Some(sim.base_url());
    c.exchange.ws_url = Some(sim.ws_url());
    c.heartbeat.period_secs = 1;
    c.heartbeat.offset_secs = 0;
    c.market_data.symbols = vec!["BTCUSDT".parse().unwrap()];
    c.market_data.intervals = vec!["1m".parse().unwrap()];
    c.market_data.backfill_days = 1;
    c.storage.database = dir.path().join("bench.db");
    c.logging.dir = dir.path().join("logs");
    c.control.socket = dir.path().join("ctl.sock");
    c.paper.enabled = true;
    c.paper.starting_balances = Some(BTreeMap::from([(
        "USDT".to_string(),
        PaperBalance::Amount("100000000".to_string()),
    )]));
    let db = c.storage.database.clone();
    let socket = c.control.socket.clone();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(tradebeat::daemon::run_until(
        c,
        Clock::system(),
        shutdown.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = loop {
        if let Ok(c) = Client::connect(&socket).await {
            break c;
        }
        assert!(Instant::now() < deadline, "no control socket");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let strategy_log = dir.path().join("strategy-times.txt");
    let mut d = Daemon {
        shutdown,
        task,
        db,
        client,
        strategy_log,
        _dir: dir,
    };
    wait(&d.db, "SELECT COUNT(*) FROM klines", 1).await;
    let exe = std::env::current_exe().unwrap();
    d.client
        .call::<StrategyAdd>(&StrategyAddParams {
            name: "bench".into(),
            slug: Some("bench".into()),
            command: format!("{} --strategy {}", exe.display(), d.strategy_log.display()),
            timeout_ms: Some(10_000),
        })
        .await
        .expect("strategy added");
    d
}

impl Daemon {
    async fn attach(&mut self, n: usize) {
        for _ in 0..n {
            self.client
                .call::<TradeStrategyAdd>(&TradeStrategyAddParams {
                    strategy: StrategyRef::Slug("bench".into()),
                    symbol: "BTCUSDT".parse().unwrap(),
                    market: None,
                    interval: "1m".parse().unwrap(),
                    params: None,
                })
                .await
                .expect("attached");
        }
    }

    /// Stops the daemon; the returned directory keeps its database until dropped.
    async fn stop(self) -> tempfile::TempDir {
        self.shutdown.cancel();
        let _ = self.task.await;
        self._dir
    }
}

fn conn(db: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c
}

/// `sql`'s count, 0 while the daemon has not created the database yet. One read-only
/// connection serves every poll: opening one per poll parses the whole schema each time,
/// a millisecond or more of CPU taken from the daemon under measurement every 20 ms.
fn count(db: &Path, sql: &str) -> i64 {
    static READER: Mutex<Option<(PathBuf, rusqlite::Connection)>> = Mutex::new(None);
    let mut reader = READER.lock().unwrap_or_else(PoisonError::into_inner);
    if reader.as_ref().is_none_or(|(path, _)| path != db) {
        *reader =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .ok()
                .map(|c| (db.to_path_buf(), c));
    }
    reader
        .as_ref()
        .and_then(|(_, c)| {
            c.prepare_cached(sql)
                .and_then(|mut st| st.query_row([], |r| r.get(0)))
                .ok()
        })
        .unwrap_or(0)
}

/// Waits until `sql` counts at least `n` (60 s at most).
async fn wait(db: &Path, sql: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(db, sql) < n {
        assert!(Instant::now() < deadline, "timed out: {sql} < {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Moves the simulator a minute on, and waits for the beat that stores the new candle.
async fn next_candle(sim: &SimHandle, skew: &mut i64, db: &Path) {
    let klines = count(db, "SELECT COUNT(*) FROM klines");
    *skew += MINUTE;
    sim.set_clock_skew_ms(*skew);
    wait(db, "SELECT COUNT(*) FROM klines", klines + 1).await;
}

async fn overhead(runs: usize) {
    let sim = exchange_sim::spawn(SimConfig::default()).await.unwrap();
    let mut d = daemon(&sim).await;
    d.attach(1).await;
    let mut skew = 0;
    let done = "SELECT COUNT(*) FROM strategy_runs";
    wait(&d.db, done, 1).await;
    for i in 0..runs {
        next_candle(&sim, &mut skew, &d.db).await;
        wait(&d.db, done, i as i64 + 2).await;
    }
    let db = d.db.clone();
    let log = std::fs::read_to_string(&d.strategy_log).unwrap();
    let _dir = d.stop().await;

    let c = conn(&db);
    let finished: BTreeMap<i64, i64> = c
        .prepare("SELECT beat_time, finished_at FROM heartbeats")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let runs: Vec<(i64, i64, i64, String)> = c
        .prepare(
            "SELECT beat_time, started_at, duration_ms, outcome FROM strategy_runs ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let orders: Vec<(i64, String)> = c
        .prepare("SELECT updated_at, status FROM orders WHERE client_order_id LIKE 'tb-bench-%' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let times: Vec<(i128, i128, i128)> = log
        .lines()
        .filter_map(|l| {
            let v: Vec<i128> = l.split(' ').filter_map(|x| x.parse().ok()).collect();
            (v.len() == 4).then(|| (v[1], v[2], v[3]))
        })
        .collect();
    assert_eq!(runs.len(), times.len(), "a time line per run");
    assert_eq!(runs.len(), orders.len(), "an order per run");
    let ms = |ns: i128| ns as f64 / 1e6;
    let (mut to_start, mut to_runner, mut to_read, mut own, mut to_commit, mut whole) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    // The first run is the one on the candle stored at start (its beat had no strategy yet).
    for ((run, (started, read, answered)), (updated, status)) in
        runs.iter().zip(&times).zip(&orders).skip(1)
    {
        assert_eq!(run.3, "ok");
        assert_eq!(status, "FILLED");
        let Some(&fin) = finished.get(&run.0) else {
            continue;
        };
        to_start.push(ms(*started) - fin as f64);
        to_runner.push((run.1 - fin) as f64);
        to_read.push(ms(*read) - fin as f64);
        own.push(ms(answered - read));
        to_commit.push(*updated as f64 - ms(*answered));
        whole.push((run.1 + run.2 - fin) as f64);
    }
    println!("== overhead per strategy run ({} runs) ==", to_start.len());
    summary(
        "beat committed -> process main started (ms clock of the beat row)",
        to_start,
    );
    summary("  of which beat committed -> run task started", to_runner);
    summary(
        "beat committed -> context read whole by the strategy (process started meanwhile)",
        to_read,
    );
    summary("process's own work (context read -> answer written)", own);
    summary(
        "answer written -> order row committed FILLED (paper: fresh book ticker from the simulator)",
        to_commit,
    );
    summary("beat committed -> strategy_runs row", whole);
    summary(
        "reference: this binary spawned by the bench itself -> main started (fork, exec, loading)",
        spawn_to_main(40),
    );
}

/// The operating system's part of starting the strategy: this binary spawned with
/// `--probe` (which prints the time its `main` starts) `n` times, ms from just before the
/// spawn to that time.
fn spawn_to_main(n: usize) -> Vec<f64> {
    let exe = std::env::current_exe().unwrap();
    (0..n)
        .filter_map(|_| {
            let before = now_ns();
            let out = std::process::Command::new(&exe)
                .arg("--probe")
                .stdin(std::process::Stdio::null())
                .output()
                .ok()?;
            let started: i128 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
            Some((started - before) as f64 / 1e6)
        })
        .collect()
}

/// Scheduled beats' start lags (ms) of the beats after `from`.
fn lags(db: &Path, from: i64) -> Vec<f64> {
    conn(db)
        .prepare(
            "SELECT started_at - beat_time FROM heartbeats
             WHERE trigger = 'schedule' AND beat_time > ?1",
        )
        .unwrap()
        .query_map([from], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|v| v.unwrap() as f64)
        .collect()
}

fn last_beat(db: &Path) -> i64 {
    count(db, "SELECT COALESCE(MAX(beat_time), 0) FROM heartbeats")
}

async fn fifty(beats: usize) {
    let sim = exchange_sim::spawn(SimConfig::default()).await.unwrap();
    let mut d = daemon(&sim).await;
    let mut skew = 0;
    // Without strategies.
    let from = last_beat(&d.db);
    for _ in 0..beats {
        next_candle(&sim, &mut skew, &d.db).await;
    }
    let without = lags(&d.db, from);
    // With 50 on every beat.
    d.attach(50).await;
    let runs = "SELECT COUNT(*) FROM strategy_runs";
    wait(&d.db, runs, 50).await;
    let from = last_beat(&d.db);
    for i in 0..beats {
        next_candle(&sim, &mut skew, &d.db).await;
        wait(&d.db, runs, 50 * (i as i64 + 2)).await;
    }
    let with = lags(&d.db, from);
    let db = d.db.clone();
    let _dir = d.stop().await;
    let c = conn(&db);
    // Per beat with runs: from its commit to its 50th run's row.
    let spans: Vec<f64> = c
        .prepare(
            "SELECT MAX(r.started_at + r.duration_ms) - h.finished_at, COUNT(*)
             FROM strategy_runs r JOIN heartbeats h ON h.beat_time = r.beat_time
             WHERE r.beat_time > ?1 GROUP BY r.beat_time",
        )
        .unwrap()
        .query_map([from], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
        .filter_map(|r| r.ok())
        .filter(|(_, n)| *n == 50)
        .map(|(ms, _)| ms as f64)
        .collect();
    let bad = count(
        &db,
        "SELECT COUNT(*) FROM strategy_runs WHERE outcome != 'ok'",
    );
    let filled = count(
        &db,
        "SELECT COUNT(*) FROM orders WHERE client_order_id LIKE 'tb-bench-%' AND status = 'FILLED'",
    );
    println!("== 50 trade strategies on one beat ({beats} beats each) ==");
    summary("beat start lag, no strategy", without);
    summary("beat start lag, 50 trade strategies a beat", with);
    summary("beat committed -> the 50th run's row", spans);
    println!("runs not ok: {bad}; strategy orders filled: {filled}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--probe") {
        println!("{}", now_ns());
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--strategy") {
        strategy_main(args.get(i + 1).map_or("/dev/null", String::as_str));
        return;
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Ok(filter) = std::env::var("RUST_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let only = args.iter().skip(1).find(|a| !a.starts_with('-')).cloned();
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("cores {cores}; load average before: {}", loadavg());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        if run("overhead") {
            overhead(env("STRATEGY_BENCH_RUNS", 40)).await;
            println!("load average: {}", loadavg());
        }
        if run("fifty") {
            fifty(env("STRATEGY_BENCH_BEATS", 20)).await;
            println!("load average: {}", loadavg());
        }
    });
}
