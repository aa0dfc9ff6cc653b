//! Benchmarks of the heartbeat spine, against the exchange simulator on loopback:
//!
//! 1. beat start lag (`started_at - beat_time`) over many scheduled beats;
//! 2. one beat for 200 symbols × 1m (one ticker request, 200 kline requests, one commit);
//! 3. resident memory of the daemon process with 100 symbols × 5 intervals after 10 beats
//!    (history backfill set to its minimum, one day, so that the spine is what is measured;
//!    it is still running then), when the daemon's `status` reports every backfill job ended,
//!    and 10 beats after that (steady state); each split into anonymous memory (heap, thread
//!    stacks, relocated data) and file pages (the binary's and the libraries' code, larger in
//!    a debug build), with the thread count.
//!
//! Run with `cargo bench --bench spine` (release build); `-- beat200`, `-- memory` or
//! `-- lag` runs one part. `SPINE_LAG_BEATS` sets how many
//! 1 s beats the lag measurement waits for (default 120). `TRADEBEAT_BENCH_BIN` makes the
//! memory part run another daemon binary (for example one built with another Cargo profile);
//! the daemon inherits the bench's environment (`MALLOC_ARENA_MAX` and the like). Results go
//! to stdout; copy them into BENCHMARKS.md with the machine they ran on.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use exchange_sim::SimConfig;
use tokio_util::sync::CancellationToken;
use tradebeat::clock::Clock;
use tradebeat::config::Config;
use tradebeat::control::Client;
use tradebeat::control::protocol::{NoParams, Status};
use tradebeat::domain::{Interval, Symbol};
use tradebeat::exchange::{ClientOptions, Network, SpotClient};
use tradebeat::market_data::MarketData;
use tradebeat::store::{BeatTrigger, Store};

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn config(
    url: &str,
    dir: &Path,
    symbols: Vec<Symbol>,
    intervals: Vec<Interval>,
    period: u64,
    offset: u64,
) -> Config {
    let mut c = Config::default();
    c.exchange.rest_url = Some(url.to_string());
    c.heartbeat.period_secs = period;
    c.heartbeat.offset_secs = offset;
    c.market_data.symbols = symbols;
    c.market_data.intervals = intervals;
    c.storage.database = dir.join("bench.db");
    c.logging.dir = dir.join("logs");
    // The spine is measured, not the history backfill: keep that to the minimum (one day).
    c.market_data.backfill_days = 1;
    c
}

fn sim_symbols(n: usize) -> Vec<Symbol> {
    (1..=n)
        .map(|i| format!("SIM{i:03}USDT").parse().unwrap())
        .collect()
}

async fn beat_lag(beats: usize) {
    let sim = exchange_sim::spawn(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let c = config(
        &sim.base_url(),
        dir.path(),
        symbols,
        vec![Interval::M1, Interval::M15],
        1,
        0,
    );
    let db = c.storage.database.clone();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(tradebeat::daemon::run_until(
        c,
        Clock::system(),
        shutdown.clone(),
    ));
    let store = loop {
        if let Ok(s) = Store::open(&db) {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    loop {
        let n = store.heartbeats(u32::MAX).unwrap().len();
        if n > beats {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
    let rows = store.heartbeats(u32::MAX).unwrap();
    let mut lags: Vec<i64> = rows
        .iter()
        .filter(|r| r.trigger == BeatTrigger::Schedule)
        .map(|r| r.started_at - r.beat_time)
        .collect();
    lags.sort_unstable();
    let skipped: u32 = rows.iter().map(|r| r.skipped_before).sum();
    println!(
        "beat start lag over {} scheduled 1 s beats: p50 {} ms, p99 {} ms, max {} ms; beats skipped {}",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(0),
        skipped
    );
}

async fn beat_200_symbols() {
    // Twenty back-to-back beats spend ~9 600 request weight in a minute, more than Binance's
    // 6 000: the client would rightly hold them until the next window. A beat a minute
    // spends ~480, so lift the simulator's limit: this measures the beat, not the budget.
    let sim = exchange_sim::spawn(SimConfig {
        extra_symbols: 200,
        weight_limit_per_min: 1_000_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    let clock = Clock::system();
    let options = ClientOptions::for_network(
        Network::Testnet,
        Some(&sim.base_url()),
        Duration::from_secs(10),
    )
    .unwrap();
    let exchange = SpotClient::new(options, clock.clone()).unwrap();
    let md = Arc::new(MarketData::new(
        exchange,
        store.clone(),
        clock.clone(),
        sim_symbols(200),
        vec![Interval::M1],
    ));
    // Warm-up beat: clock offset, exchangeInfo, registration, first candles.
    let first = md.beat(clock.now_ms(), BeatTrigger::Manual, 0).await;
    assert_eq!(first.symbols_ok, 200, "{:?}", first.error);
    let raw = rusqlite::Connection::open(dir.path().join("bench.db")).unwrap();
    let mut took = Vec::new();
    for _ in 0..20 {
        // Forget the newest candle of every series so the beat fetches 200 klines again.
        raw.execute("DELETE FROM klines", []).unwrap();
        raw.execute("DELETE FROM tickers", []).unwrap();
        let t0 = Instant::now();
        let row = md.beat(clock.now_ms(), BeatTrigger::Manual, 0).await;
        took.push(t0.elapsed().as_millis() as i64);
        if t0.elapsed() > Duration::from_secs(1) {
            eprintln!("slow beat: {:?} {row:?}", t0.elapsed());
        }
        assert_eq!(
            (row.symbols_ok, row.klines_written),
            (200, 200),
            "{:?}",
            row.error
        );
        tokio::time::sleep(Duration::from_millis(5)).await; // distinct beat times
    }
    took.sort_unstable();
    println!(
        "one beat, 200 symbols x 1m (1 ticker request + 200 kline requests + commit), 20 runs: p50 {} ms, max {} ms",
        percentile(&took, 0.5),
        took.last().unwrap()
    );
}

async fn resident_memory() {
    // No binding weight limit: beats every 2 s over 100 symbols spend more than Binance's
    // 6 000 a minute on their own, and the backfill (which leaves the beats their reserve)
    // would never end. At the default 60 s period the beats spend ~1/30 of that.
    let sim = exchange_sim::spawn(SimConfig {
        extra_symbols: 100,
        weight_limit_per_min: 1_000_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let symbols: Vec<String> = sim_symbols(100)
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect();
    let db = dir.path().join("bench.db");
    let mut child = Command::new(daemon_binary())
        .arg("run")
        .current_dir(dir.path())
        .env("TRADEBEAT_EXCHANGE__REST_URL", sim.base_url())
        .env("TRADEBEAT_HEARTBEAT__PERIOD_SECS", "2")
        .env("TRADEBEAT_HEARTBEAT__OFFSET_SECS", "0")
        .env(
            "TRADEBEAT_MARKET_DATA__SYMBOLS",
            format!("[{}]", symbols.join(",")),
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
    let sample = |what: &str| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
                .unwrap_or_default()
        };
        println!(
            "daemon with 100 symbols x 5 intervals {what}: VmRSS {} kB, VmHWM (peak) {} kB; RssAnon {} kB, RssFile {} kB, {} threads; loadavg {}",
            field("VmRSS:"),
            field("VmHWM:"),
            field("RssAnon:"),
            field("RssFile:"),
            field("Threads:"),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
        );
    };
    let mut wait_beats = async |at: usize| loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default();
            panic!("the daemon exited early ({status}):\n{stderr}");
        }
        let n = Store::open(&db)
            .ok()
            .and_then(|s| s.heartbeats(1000).ok())
            .map_or(0, |b| b.len());
        if n >= at {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    wait_beats(10).await;
    sample("after 10 beats");
    // Steady state: the daemon's own `status` says every backfill job has ended, then 10
    // more beats with only the beats (and the control socket) running.
    let socket = dir.path().join("control.sock");
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = None;
    let done = loop {
        if let Ok(mut c) = Client::connect(&socket).await
            && let Ok(s) = c.call::<Status>(&NoParams {}).await
        {
            if s.backfill.jobs >= 500 && s.backfill.pending == 0 && s.backfill.running == 0 {
                break s.backfill;
            }
            last = Some(s.backfill);
        }
        assert!(
            Instant::now() < deadline,
            "backfill not ended in 5 minutes: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let at = wait_beats(0).await;
    sample(&format!(
        "backfill ended after {at} beats ({} jobs: {} done, {} failed; {} rows)",
        done.jobs, done.done, done.failed, done.rows_written
    ));
    let n = wait_beats(at + 10).await;
    sample(&format!("steady, 10 beats after the backfill ({n} beats)"));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // RUST_LOG=... shows the daemon's own log lines on stderr while benchmarking.
    if let Ok(filter) = std::env::var("RUST_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let beats = std::env::var("SPINE_LAG_BEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    // `cargo bench --bench spine -- NAME` runs one part: beat200, memory or lag.
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if run("beat200") {
        beat_200_symbols().await;
    }
    if run("memory") {
        resident_memory().await;
    }
    if run("lag") {
        beat_lag(beats).await;
    }
}

/// The daemon binary the memory part runs: `TRADEBEAT_BENCH_BIN` when set (to compare builds
/// of other profiles with the same bench), else the one Cargo built beside this bench.
fn daemon_binary() -> std::path::PathBuf {
    std::env::var_os("TRADEBEAT_BENCH_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_tradebeat").into())
}
