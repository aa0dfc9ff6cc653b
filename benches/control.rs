//! Benchmark of the control socket: a daemon (in this process, on its own tokio runtime)
//! against the exchange simulator, and clients on a second runtime talking to it over its
//! real Unix socket, the way `tradebeat ctl` and scripts do.
//!
//! 1. `status` round trip over one connection: p50 / p90 / p99 / max;
//! 2. `status` with 50 clients at once: throughput and latency percentiles;
//! 3. for scale, `symbol.list` and `kline.list` (500 candles) round trips;
//! 4. the heartbeat's start lag while the 50 clients run.
//!
//! Run with `cargo bench --bench control` (release build). `CONTROL_CALLS` sets the calls
//! of (1) (default 20000); (2) makes 50 × `CONTROL_CALLS / 10`. Results go to stdout; copy
//! them into BENCHMARKS.md with the machine they ran on.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use exchange_sim::SimConfig;
use tokio_util::sync::CancellationToken;
use tradebeat::clock::Clock;
use tradebeat::config::Config;
use tradebeat::control::Client;
use tradebeat::control::protocol::{
    KlineList, KlineListParams, NoParams, Status, SymbolList, SymbolListParams,
};
use tradebeat::domain::Interval;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn report(what: &str, mut lat: Vec<Duration>, wall: Duration) {
    lat.sort();
    let n = lat.len();
    println!(
        "{what}: {n} calls in {:.2} s = {:.0} calls/s; p50 {} p90 {} p99 {} max {}",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        us(percentile(&lat, 0.50)),
        us(percentile(&lat, 0.90)),
        us(percentile(&lat, 0.99)),
        us(percentile(&lat, 1.0)),
    );
}

/// The call a benchmark client repeats.
#[derive(Clone, Copy)]
enum Call {
    Status,
    SymbolList,
    KlineList500,
}

async fn call(client: &mut Client, what: Call) {
    match what {
        Call::Status => drop(client.call::<Status>(&NoParams {}).await.unwrap()),
        Call::SymbolList => drop(
            client
                .call::<SymbolList>(&SymbolListParams::default())
                .await
                .unwrap(),
        ),
        Call::KlineList500 => {
            let k = client
                .call::<KlineList>(&KlineListParams {
                    symbol: "BTCUSDT".parse().unwrap(),
                    interval: Interval::M1,
                    start: None,
                    end: None,
                    limit: Some(500),
                    market: None,
                })
                .await
                .unwrap();
            assert_eq!(k.len(), 500);
        }
    }
}

/// `calls` calls of `what` over one connection; the latency of each.
async fn one_connection(socket: &Path, calls: usize, what: Call) -> Vec<Duration> {
    let mut client = Client::connect(socket).await.expect("connect");
    let mut lat = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        call(&mut client, what).await;
        lat.push(t.elapsed());
    }
    lat
}

fn main() {
    let calls: usize = std::env::var("CONTROL_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();

    // The daemon's runtime: what `tradebeat run` builds (one worker per core).
    let daemon_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = daemon_rt
        .block_on(exchange_sim::spawn(SimConfig::default()))
        .unwrap();
    let mut config = Config::default();
    config.exchange.rest_url = Some(sim.base_url());
    config.heartbeat.period_secs = 2;
    config.heartbeat.offset_secs = 1;
    config.market_data.symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    config.market_data.intervals = vec![Interval::M1];
    config.storage.database = dir.path().join("bench.db");
    config.control.socket = dir.path().join("control.sock");
    config.logging.dir = dir.path().join("logs");
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();
    let shutdown = CancellationToken::new();
    let daemon = daemon_rt.spawn(tradebeat::daemon::run_until(
        config,
        Clock::system(),
        shutdown.clone(),
    ));

    // The clients' runtime, on threads of their own.
    let clients_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    clients_rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = Client::connect(&socket).await
                && c.call::<Status>(&NoParams {})
                    .await
                    .is_ok_and(|s| s.last_beat.is_some())
            {
                break;
            }
            assert!(Instant::now() < deadline, "daemon did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Candles for kline.list: a minute of 1m history is enough to read 500 from the
        // database once a few are there; store what the simulator has for the last 600 min.
        {
            let store = tradebeat::store::Store::open(&db).unwrap();
            let row = store
                .symbols(tradebeat::domain::Market::Spot, true)
                .unwrap()
                .into_iter()
                .find(|r| r.symbol.as_str() == "BTCUSDT")
                .unwrap();
            let end = Interval::M1.last_closed_open_time(sim.now_ms());
            let klines: Vec<tradebeat::domain::Kline> = sim
                .klines("BTCUSDT", "1m", end - 600 * 60_000, end)
                .into_iter()
                .map(|k| common::to_kline(&k))
                .collect();
            store.upsert_klines(row.id, Interval::M1, &klines).unwrap();
        }

        // Warm-up.
        one_connection(&socket, 2_000, Call::Status).await;

        // 1. status over one connection.
        let t = Instant::now();
        let lat = one_connection(&socket, calls, Call::Status).await;
        report("status, 1 connection", lat, t.elapsed());

        // 2. status with 50 clients at once; 4. beat lag meanwhile.
        let per_client = (calls / 10).max(1);
        let load_start = tradebeat::clock::system_now_ms();
        let t = Instant::now();
        let mut tasks = Vec::new();
        let socket = Arc::new(socket.clone());
        for _ in 0..50 {
            let socket = Arc::clone(&socket);
            tasks.push(tokio::spawn(async move {
                one_connection(&socket, per_client, Call::Status).await
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        let wall = t.elapsed();
        report("status, 50 clients at once", all, wall);
        let load_end = tradebeat::clock::system_now_ms();

        // 3. symbol.list and kline.list (500 candles) over one connection.
        let t = Instant::now();
        let lat = one_connection(&socket, 2_000, Call::SymbolList).await;
        report("symbol.list (3 symbols), 1 connection", lat, t.elapsed());
        let t = Instant::now();
        let lat = one_connection(&socket, 500, Call::KlineList500).await;
        report("kline.list (500 candles), 1 connection", lat, t.elapsed());

        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT started_at - beat_time FROM heartbeats
                 WHERE trigger = 'schedule' AND beat_time BETWEEN ?1 AND ?2",
            )
            .unwrap();
        let lags: Vec<i64> = stmt
            .query_map([load_start, load_end], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        println!(
            "heartbeat during the 50-client load: {} scheduled beats, start lag (ms) {:?}",
            lags.len(),
            lags
        );
    });

    shutdown.cancel();
    daemon_rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(10), daemon).await;
        sim.shutdown().await;
    });
}
