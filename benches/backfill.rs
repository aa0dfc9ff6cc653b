//! Benchmarks of history backfill, against the exchange simulator on loopback:
//!
//! 1. ingest rate of a 20-day 1m backfill of one symbol (28 800 candles) by the backfill
//!    component, from the simulator (in this process, sharing the CPU) into SQLite, in
//!    rows/s: the job's own time (created → last page committed), and the wall-clock time
//!    from starting the component;
//! 2. in the same run, the raw SQLite rate of the same rows through the same upsert
//!    statement, one transaction per 1000 rows (the backfill's page size), into a fresh
//!    database: the ceiling the ingest rate is compared with;
//! 3. peak resident memory (VmHWM) of the `tradebeat` binary while it backfills 5 symbols
//!    × 5 intervals × 30 days.
//!
//! Run with `cargo bench --bench backfill` (release build). `BACKFILL_BENCH_RUNS` sets how
//! many times 1 is repeated (default 5; 2 is measured three times per run); the best and
//! the median are printed.
//! Results go to stdout; copy them into BENCHMARKS.md with the machine they ran on.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use exchange_sim::SimConfig;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tradebeat::backfill::{Backfill, BackfillOptions};
use tradebeat::clock::Clock;
use tradebeat::config::MarketDataConfig;
use tradebeat::domain::JobStatus;
use tradebeat::domain::{Interval, Kline, Market};
use tradebeat::exchange::{ClientOptions, Network, SpotClient};
use tradebeat::heartbeat::HeartbeatStatus;
use tradebeat::store::Store;

const DAYS: u32 = 20;

/// Raw upserts measured per ingest run (each into a fresh database): the raw figure is a
/// few tens of ms, noisy on a shared machine, so it gets more samples.
const RAW_PER_RUN: usize = 3;

/// One run: (ingest rows/s, ingest rows/s by the wall clock, raw rows/s samples, rows).
async fn ingest_once(sim_url: &str) -> (f64, f64, Vec<f64>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("ingest.db")).unwrap();
    let clock = Clock::system();
    let options =
        ClientOptions::for_network(Network::Testnet, Some(sim_url), Duration::from_secs(10))
            .unwrap();
    let exchange = SpotClient::new(options, clock.clone()).unwrap();
    exchange.sync_time().await.unwrap();
    let info = exchange.exchange_info().await.unwrap();
    let symbol = "BTCUSDT".parse().unwrap();
    let row = store
        .upsert_symbol(Market::Spot, info.symbol(&symbol).unwrap(), None, None, 0)
        .unwrap();
    let config = MarketDataConfig {
        symbols: vec![symbol.clone()],
        intervals: vec![Interval::M1],
        backfill_days: DAYS,
        retention_days: BTreeMap::new(),
        ..MarketDataConfig::default()
    };
    let (_beats_tx, beats) = watch::channel(HeartbeatStatus::default());
    let (backfill, handle) = Backfill::new(
        &config,
        store.clone(),
        &exchange,
        clock,
        beats,
        BackfillOptions::default(),
    );
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(backfill.run(shutdown.clone()));
    let rows = loop {
        let jobs = handle.jobs(None).await.unwrap();
        if let Some(job) = jobs.first().map(|s| &s.job)
            && job.status == JobStatus::Done
        {
            break job.rows_written as usize;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let wall_secs = started.elapsed().as_secs_f64();
    shutdown.cancel();
    let _ = task.await;
    // The job's own time: from its creation (after the start-up clock and exchangeInfo
    // requests) to the commit of its last page.
    let job = store.backfill_job(row.id, Interval::M1).unwrap().unwrap();
    let ingest_secs = (job.updated_at - job.started_at).max(1) as f64 / 1000.0;

    // The same rows, through the same upsert, one transaction per 1000.
    let klines: Vec<Kline> = store
        .klines(row.id, Interval::M1, i64::MIN, i64::MAX, u32::MAX)
        .unwrap();
    assert_eq!(klines.len(), rows, "every backfilled candle read back");
    let mut raw_rates = Vec::with_capacity(RAW_PER_RUN);
    for n in 0..RAW_PER_RUN {
        let raw = Store::open(&dir.path().join(format!("raw{n}.db"))).unwrap();
        let raw_row = raw
            .upsert_symbol(Market::Spot, info.symbol(&symbol).unwrap(), None, None, 0)
            .unwrap();
        let started = Instant::now();
        for page in klines.chunks(1000) {
            raw.upsert_klines(raw_row.id, Interval::M1, page).unwrap();
        }
        raw_rates.push(rows as f64 / started.elapsed().as_secs_f64());
    }
    (
        rows as f64 / ingest_secs,
        rows as f64 / wall_secs,
        raw_rates,
        rows,
    )
}

async fn ingest(runs: usize) {
    let sim = exchange_sim::spawn(SimConfig::default()).await.unwrap();
    let mut ingest = Vec::new();
    let mut wall = Vec::new();
    let mut raw = Vec::new();
    let mut rows = 0;
    for _ in 0..runs {
        let (i, w, mut r, n) = ingest_once(&sim.base_url()).await;
        ingest.push(i);
        wall.push(w);
        raw.append(&mut r);
        rows = n;
    }
    let sort = |v: &mut Vec<f64>| v.sort_by(|a, b| a.total_cmp(b));
    sort(&mut ingest);
    sort(&mut wall);
    sort(&mut raw);
    let median = |v: &[f64]| v[v.len() / 2];
    let best = |v: &[f64]| v[v.len() - 1];
    println!(
        "ingest of a {DAYS}-day 1m backfill of BTCUSDT ({rows} rows), {runs} runs: best {:.0} rows/s, median {:.0} rows/s",
        best(&ingest),
        median(&ingest)
    );
    println!(
        "  the same by the wall clock from Backfill::run (clock and exchangeInfo requests, 10 ms polling included): best {:.0} rows/s, median {:.0} rows/s",
        best(&wall),
        median(&wall)
    );
    println!(
        "raw upsert of the same rows (1000 per transaction, fresh database), {} samples: best {:.0} rows/s, median {:.0} rows/s",
        raw.len(),
        best(&raw),
        median(&raw)
    );
    println!(
        "ingest / raw: medians {:.0} %, bests {:.0} %",
        median(&ingest) / median(&raw) * 100.0,
        best(&ingest) / best(&raw) * 100.0
    );
    sim.shutdown().await;
}

fn done_jobs(db: &Path) -> (i64, i64, i64) {
    if !db.exists() {
        return (0, 0, 0);
    }
    let Ok(store) = Store::open(db) else {
        return (0, 0, 0);
    };
    let jobs = store.backfill_jobs(None).unwrap_or_default();
    let done = jobs.iter().filter(|j| j.status == JobStatus::Done).count() as i64;
    let rows = jobs.iter().map(|j| j.rows_written as i64).sum();
    (jobs.len() as i64, done, rows)
}

fn status_field(pid: u32, name: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_default()
}

async fn peak_memory() {
    let sim = exchange_sim::spawn(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tradebeat"))
        .arg("run")
        .current_dir(dir.path())
        .env("TRADEBEAT_EXCHANGE__REST_URL", sim.base_url())
        .env(
            "TRADEBEAT_MARKET_DATA__SYMBOLS",
            r#"["BTCUSDT","ETHUSDT","BNBUSDT","SOLUSDT","XRPUSDT"]"#,
        )
        .env(
            "TRADEBEAT_MARKET_DATA__INTERVALS",
            r#"["1m","15m","1h","4h","1d"]"#,
        )
        .env("TRADEBEAT_MARKET_DATA__BACKFILL_DAYS", "30")
        .env("TRADEBEAT_STORAGE__DATABASE", &db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak_rss = 0u64;
    let rows = loop {
        peak_rss = peak_rss.max(status_field(pid, "VmRSS:").parse().unwrap_or(0));
        let (jobs, done, written) = done_jobs(&db);
        if jobs == 25 && done == 25 {
            break written;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "backfill did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "daemon backfilling 5 symbols x 5 intervals x 30 days ({rows} rows in {secs:.1} s from process start, {:.0} rows/s): VmHWM (peak) {} kB, highest VmRSS sampled {peak_rss} kB, VmRSS at the end {} kB",
        rows as f64 / secs,
        status_field(pid, "VmHWM:"),
        status_field(pid, "VmRSS:")
    );
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    sim.shutdown().await;
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runs = std::env::var("BACKFILL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    ingest(runs).await;
    peak_memory().await;
}
