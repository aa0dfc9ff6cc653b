//! Benchmarks of the futures markets next to spot, against the exchange simulator on
//! loopback (its `extra_symbols` clones: `SIM001USDT` … on spot and USDⓈ-M, `SIM001USD_PERP`
//! … on COIN-M, each replaying a recorded series shifted in time):
//!
//! 1. `beat`: one beat for 200 spot + 100 usdm + 50 coinm symbols × 5 intervals (1m 15m 1h
//!    4h 1d) in which every series has one new closed candle (the newest stored candle of
//!    each series is deleted before the beat: the beat at a day boundary), with the request
//!    weight each market spent in it (from the simulator's request logs);
//! 2. `memory`: resident memory of the daemon process following that set (beats every 2 s,
//!    one day of backfill), sampled after 10, 20 and 30 beats (while the backfill runs),
//!    when the daemon's `status` reports every backfill job ended, and 10 and 20 beats after
//!    that (steady state);
//! 3. `backfill`: the klines backfill rate of a usdm symbol next to a spot symbol in the same
//!    daemon (1m, `FUTURES_BENCH_DAYS` days, default 30), from their `backfill_jobs` rows.
//!
//! Run with `cargo bench --bench futures` (release build); `-- beat`, `-- memory` or
//! `-- backfill` runs one part; `FUTURES_BENCH_RUNS` (default 3) repeats each.
//! `TRADEBEAT_BENCH_BIN` makes the memory part run another daemon binary (for example one
//! built with another Cargo profile); the daemon inherits the bench's environment. Results go
//! to stdout; copy them into BENCHMARKS.md with the machine's load.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use exchange_sim::{RequestRecord, SimConfig, SimHandle};
use tokio_util::sync::CancellationToken;
use tradebeat::clock::Clock;
use tradebeat::config::Config;
use tradebeat::control::Client;
use tradebeat::control::protocol::{BackfillSummary, NoParams, Status};
use tradebeat::domain::{Interval, Symbol};
use tradebeat::exchange::{ClientOptions, FuturesClient, Network, SpotClient};
use tradebeat::market_data::MarketData;
use tradebeat::store::{BeatTrigger, Store};

const SPOT: usize = 200;
const USDM: usize = 100;
const COINM: usize = 50;
const INTERVALS: [Interval; 5] = [
    Interval::M1,
    Interval::M15,
    Interval::H1,
    Interval::H4,
    Interval::D1,
];

fn names(n: usize, suffix: &str) -> Vec<String> {
    (1..=n).map(|i| format!("SIM{i:03}{suffix}")).collect()
}

fn symbols(names: &[String]) -> Vec<Symbol> {
    names.iter().map(|s| s.parse().unwrap()).collect()
}

fn runs() -> usize {
    std::env::var("FUTURES_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A simulator with the clones and no binding weight limit on any market: what is
/// measured is the beat and the weight it spends, not the budget's waits.
async fn big_sim() -> SimHandle {
    let sim = exchange_sim::spawn(SimConfig {
        extra_symbols: SPOT,
        weight_limit_per_min: 1_000_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.usdm().set_weight_limit(1_000_000);
    sim.coinm().set_weight_limit(1_000_000);
    sim
}

fn weight(log: &[RequestRecord]) -> (usize, u32) {
    (log.len(), log.iter().map(|r| r.weight).sum())
}

async fn one_beat() {
    let sim = big_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let store = Store::open(&db).unwrap();
    let clock = Clock::system();
    let options = |url: &str| {
        ClientOptions::for_network(Network::Testnet, Some(url), Duration::from_secs(10)).unwrap()
    };
    let spot = SpotClient::new(options(&sim.base_url()), clock.clone()).unwrap();
    let usdm = FuturesClient::usdm(options(&sim.usdm_url), clock.clone()).unwrap();
    let coinm = FuturesClient::coinm(options(&sim.coinm_url), clock.clone()).unwrap();
    let md = Arc::new(
        MarketData::new(
            spot,
            store.clone(),
            clock.clone(),
            symbols(&names(SPOT, "USDT")),
            INTERVALS.to_vec(),
        )
        .with_futures_market(usdm, symbols(&names(USDM, "USDT")))
        .with_futures_market(coinm, symbols(&names(COINM, "USD_PERP"))),
    );
    // Warm-up beat: clock offsets, exchangeInfo, registration, up to 1000 candles a series.
    let t0 = Instant::now();
    let first = md.beat(clock.now_ms(), BeatTrigger::Manual, 0).await;
    assert_eq!(
        first.symbols_ok,
        (SPOT + USDM + COINM) as u32,
        "{:?}",
        first.error
    );
    eprintln!("warm-up beat: {:?}", t0.elapsed());
    let raw = rusqlite::Connection::open(&db).unwrap();
    let series = (SPOT + USDM + COINM) * INTERVALS.len();
    let mut took = Vec::new();
    for run in 0..runs().max(1) * 2 {
        // Forget the newest candle of every series: each is asked for one candle again.
        raw.execute(
            "DELETE FROM klines WHERE (symbol_id, interval, open_time) IN (
                 SELECT symbol_id, interval, MAX(open_time) FROM klines
                 GROUP BY symbol_id, interval)",
            [],
        )
        .unwrap();
        sim.clear_request_log();
        sim.usdm().clear_request_log();
        sim.coinm().clear_request_log();
        tokio::time::sleep(Duration::from_millis(5)).await; // distinct beat times
        let load = loadavg();
        let t0 = Instant::now();
        let row = md.beat(clock.now_ms(), BeatTrigger::Manual, 0).await;
        let ms = t0.elapsed().as_millis();
        assert_eq!(row.error, None);
        assert!(
            row.klines_written as usize >= series,
            "{} of {series}",
            row.klines_written
        );
        let (sr, sw) = weight(&sim.request_log());
        let (ur, uw) = weight(&sim.usdm().request_log());
        let (cr, cw) = weight(&sim.coinm().request_log());
        println!(
            "beat {run}: {ms} ms, {} klines; spot {sr} requests weight {sw}, usdm {ur} requests weight {uw}, coinm {cr} requests weight {cw}; loadavg {load}",
            row.klines_written
        );
        took.push(ms);
    }
    took.sort_unstable();
    println!(
        "one beat, {SPOT} spot + {USDM} usdm + {COINM} coinm symbols x 5 intervals ({series} kline requests): min {} ms, median {} ms, max {} ms over {} beats",
        took[0],
        took[took.len() / 2],
        took[took.len() - 1],
        took.len()
    );
}

fn list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", quoted.join(","))
}

fn beats(db: &Path) -> usize {
    Store::open(db)
        .ok()
        .and_then(|s| s.heartbeats(1000).ok())
        .map_or(0, |b| b.len())
}

async fn resident_memory() {
    let sim = big_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let mut child = Command::new(daemon_binary())
        .arg("run")
        .current_dir(dir.path())
        .env("TRADEBEAT_EXCHANGE__REST_URL", sim.base_url())
        .env("TRADEBEAT_EXCHANGE__USDM_REST_URL", &sim.usdm_url)
        .env("TRADEBEAT_EXCHANGE__COINM_REST_URL", &sim.coinm_url)
        .env("TRADEBEAT_HEARTBEAT__PERIOD_SECS", "2")
        .env("TRADEBEAT_HEARTBEAT__OFFSET_SECS", "0")
        .env("TRADEBEAT_MARKET_DATA__SYMBOLS", list(&names(SPOT, "USDT")))
        .env(
            "TRADEBEAT_MARKET_DATA__USDM_SYMBOLS",
            list(&names(USDM, "USDT")),
        )
        .env(
            "TRADEBEAT_MARKET_DATA__COINM_SYMBOLS",
            list(&names(COINM, "USD_PERP")),
        )
        .env(
            "TRADEBEAT_MARKET_DATA__INTERVALS",
            r#"["1m","15m","1h","4h","1d"]"#,
        )
        .env("TRADEBEAT_STORAGE__DATABASE", &db)
        .env("TRADEBEAT_MARKET_DATA__BACKFILL_DAYS", "1")
        .env("TRADEBEAT_CONTROL__SOCKET", dir.path().join("control.sock"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let status = |field: &str| -> String {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        text.lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_string()
    };
    let sample = |what: &str| {
        println!(
            "daemon with {SPOT} spot + {USDM} usdm + {COINM} coinm x 5 intervals {what}: VmRSS {} kB, VmHWM (peak) {} kB; RssAnon {} kB, RssFile {} kB, {} threads; loadavg {}",
            status("VmRSS:"),
            status("VmHWM:"),
            status("RssAnon:"),
            status("RssFile:"),
            status("Threads:"),
            loadavg()
        );
    };
    let mut wait_beats = async |at: usize| loop {
        if let Some(exit) = child.try_wait().unwrap() {
            let stderr = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default();
            panic!("the daemon exited early ({exit}):\n{stderr}");
        }
        let n = beats(&db);
        if n >= at {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // During the backfill (the figures of the first runs).
    for at in [10, 20, 30] {
        wait_beats(at).await;
        sample(&format!("after {at} beats"));
    }
    // Steady state: the daemon's own `status` says every backfill job has ended; then
    // 10 and 20 more beats with nothing but the beats (and the control socket) running.
    let socket = dir.path().join("control.sock");
    let series = (SPOT + USDM + COINM) * INTERVALS.len();
    let done = backfill_ended(&socket, series, Duration::from_secs(600)).await;
    let at = wait_beats(0).await;
    sample(&format!(
        "backfill ended after {at} beats ({} jobs: {} done, {} failed, {} stopped; {} rows)",
        done.jobs, done.done, done.failed, done.stopped, done.rows_written
    ));
    for more in [10, 20] {
        let n = wait_beats(at + more).await;
        sample(&format!(
            "steady, {more} beats after the backfill ({n} beats)"
        ));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// The daemon's backfill summary (`status` on its control socket) once at least `jobs` jobs
/// exist and none is pending or running; panics after `limit`.
async fn backfill_ended(socket: &Path, jobs: usize, limit: Duration) -> BackfillSummary {
    let deadline = Instant::now() + limit;
    let mut last = None;
    loop {
        if let Ok(mut c) = Client::connect(socket).await
            && let Ok(s) = c.call::<Status>(&NoParams {}).await
        {
            let b = s.backfill;
            if b.jobs as usize >= jobs && b.pending == 0 && b.running == 0 {
                return b;
            }
            last = Some(b);
        }
        assert!(
            Instant::now() < deadline,
            "backfill not ended in {limit:?}: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// rows per second of the (market, BTCUSDT, 1m) job: its rows over its run time.
fn job_rate(conn: &rusqlite::Connection, market: &str) -> (i64, f64) {
    conn.query_row(
        "SELECT j.rows_written, j.updated_at - j.started_at FROM backfill_jobs j
         JOIN symbols s ON s.id = j.symbol_id
         WHERE s.market = ?1 AND s.symbol = 'BTCUSDT' AND j.interval = '1m' AND j.state = 'done'",
        [market],
        |r| {
            let rows: i64 = r.get(0)?;
            let ms: i64 = r.get(1)?;
            Ok((rows, rows as f64 * 1000.0 / ms.max(1) as f64))
        },
    )
    .unwrap()
}

async fn backfill_rate() {
    let days: u32 = std::env::var("FUTURES_BENCH_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let sim = exchange_sim::spawn(SimConfig::default()).await.unwrap();
    for run in 0..runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::default();
        c.exchange.rest_url = Some(sim.base_url());
        c.exchange.usdm_rest_url = Some(sim.usdm_url.clone());
        c.heartbeat.period_secs = 60;
        c.market_data.symbols = vec!["BTCUSDT".parse().unwrap()];
        c.market_data.usdm_symbols = vec!["BTCUSDT".parse().unwrap()];
        c.market_data.intervals = vec![Interval::M1];
        c.market_data.backfill_days = days;
        c.storage.database = dir.path().join("bench.db");
        c.control.socket = dir.path().join("control.sock");
        c.logging.dir = dir.path().join("logs");
        let db = c.storage.database.clone();
        let shutdown = CancellationToken::new();
        let load = loadavg();
        let task = tokio::spawn(tradebeat::daemon::run_until(
            c,
            Clock::system(),
            shutdown.clone(),
        ));
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let done = rusqlite::Connection::open_with_flags(
                &db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .ok()
            .and_then(|c| {
                c.query_row(
                    "SELECT COUNT(*) FROM backfill_jobs WHERE state = 'done'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .ok()
            })
            .unwrap_or(0);
            if done >= 2 {
                break;
            }
            assert!(Instant::now() < deadline, "backfill not done in 10 minutes");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        shutdown.cancel();
        let _ = task.await;
        let conn = rusqlite::Connection::open(&db).unwrap();
        let (spot_rows, spot) = job_rate(&conn, "spot");
        let (usdm_rows, usdm) = job_rate(&conn, "usdm");
        println!(
            "backfill run {run}, {days} days of 1m, both at once: spot {spot_rows} rows at {spot:.0} rows/s, usdm {usdm_rows} rows at {usdm:.0} rows/s, usdm/spot {:.2}; loadavg {load}",
            usdm / spot
        );
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Ok(filter) = std::env::var("RUST_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |part: &str| only.is_empty() || only.iter().any(|o| o == part);
    if wants("beat") {
        one_beat().await;
    }
    if wants("memory") {
        resident_memory().await;
    }
    if wants("backfill") {
        backfill_rate().await;
    }
}

/// The daemon binary the memory part runs: `TRADEBEAT_BENCH_BIN` when set (to compare builds
/// of other profiles with the same bench), else the one Cargo built beside this bench.
fn daemon_binary() -> std::path::PathBuf {
    std::env::var_os("TRADEBEAT_BENCH_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_tradebeat").into())
}
