//! Benchmark of the HTTP server next to the control socket: one daemon (in this process,
//! on its own tokio runtime) against the exchange simulator, with `[http] listen` on a
//! loopback port and a bearer token, and clients on a second runtime.
//!
//! 1. `GET /health` and `GET /api/v1/status` round trips over one keep-alive connection:
//!    p50 / p90 / p99 / max;
//! 2. the same with 50 clients at once (one connection each): requests/s and percentiles;
//! 3. `status` over the control socket, 1 and 50 clients, in the same run for comparison;
//! 4. the heartbeat's start lag while the 50 HTTP clients run.
//!
//! Run with `cargo bench --bench http` (release build). `HTTP_CALLS` sets the calls of (1)
//! (default 5000); (2) makes 50 × `HTTP_CALLS / 10`. Results go to stdout; copy them into
//! BENCHMARKS.md with the machine they ran on.

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
use tradebeat::control::protocol::{NoParams, Status};
use tradebeat::domain::{Interval, Secret};

const TOKEN: &str = "bench-token-0123456789";

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

/// `calls` GETs of `url` over one keep-alive connection; the latency of each. Every answer
/// must be 200 with a body.
async fn http_connection(url: &str, calls: usize) -> Vec<Duration> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    let mut lat = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let response = client
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200, "{url}");
        let body = response.bytes().await.expect("body");
        assert!(!body.is_empty());
        lat.push(t.elapsed());
    }
    lat
}

/// `calls` `status` calls over one socket connection.
async fn socket_connection(socket: &Path, calls: usize) -> Vec<Duration> {
    let mut client = Client::connect(socket).await.expect("connect");
    let mut lat = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        client.call::<Status>(&NoParams {}).await.expect("status");
        lat.push(t.elapsed());
    }
    lat
}

/// `clients` tasks at once, each running `one` `per_client` times; all latencies and the
/// wall time.
async fn fan_out<F, Fut>(clients: usize, one: F) -> (Vec<Duration>, Duration)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<Duration>> + Send + 'static,
{
    let t = Instant::now();
    let tasks: Vec<_> = (0..clients).map(|_| tokio::spawn(one())).collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("client task"));
    }
    (all, t.elapsed())
}

fn main() {
    let calls: usize = std::env::var("HTTP_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let dir = tempfile::tempdir().unwrap();

    // The daemon's runtime: what `tradebeat run` builds (one worker per core).
    let daemon_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = daemon_rt
        .block_on(exchange_sim::spawn(SimConfig::default()))
        .unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
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
    config.http.listen = Some(addr);
    config.http.token = Some(Secret::new(TOKEN));
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();
    let shutdown = CancellationToken::new();
    let daemon = daemon_rt.spawn(tradebeat::daemon::run_until(
        config,
        Clock::system(),
        shutdown.clone(),
    ));

    let clients_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    clients_rt.block_on(async {
        let health = format!("http://{addr}/health");
        let status = format!("http://{addr}/api/v1/status");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = reqwest::get(&health).await.is_ok_and(|r| r.status() == 200);
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "daemon did not become healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Warm-up.
        http_connection(&status, 500).await;
        socket_connection(&socket, 500).await;

        // 1. and 3.: one connection each.
        for (what, url) in [("GET /health", &health), ("GET /api/v1/status", &status)] {
            let t = Instant::now();
            let lat = http_connection(url, calls).await;
            report(&format!("{what}, 1 connection"), lat, t.elapsed());
        }
        let t = Instant::now();
        let lat = socket_connection(&socket, calls).await;
        report("socket status, 1 connection", lat, t.elapsed());

        // 2. and 4.: 50 clients at once; the beats' start lag meanwhile.
        let per_client = (calls / 10).max(1);
        let load_start = tradebeat::clock::system_now_ms();
        for (what, url) in [("GET /health", &health), ("GET /api/v1/status", &status)] {
            let url = Arc::new(url.clone());
            let (lat, wall) = fan_out(50, || {
                let url = Arc::clone(&url);
                async move { http_connection(&url, per_client).await }
            })
            .await;
            report(&format!("{what}, 50 clients at once"), lat, wall);
        }
        let load_end = tradebeat::clock::system_now_ms();
        let socket = Arc::new(socket.clone());
        let (lat, wall) = fan_out(50, || {
            let socket = Arc::clone(&socket);
            async move { socket_connection(&socket, per_client).await }
        })
        .await;
        report("socket status, 50 clients at once", lat, wall);

        let conn = rusqlite::Connection::open(&db).unwrap();
        let lags = |from: i64, to: i64| -> Vec<i64> {
            conn.prepare(
                "SELECT started_at - beat_time FROM heartbeats
                 WHERE trigger = 'schedule' AND beat_time BETWEEN ?1 AND ?2",
            )
            .unwrap()
            .query_map([from, to], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        println!(
            "heartbeat during the 50-client HTTP load: start lag (ms) {:?}",
            lags(load_start, load_end)
        );
        println!(
            "heartbeat before it (idle and 1-connection runs): start lag (ms) {:?}",
            lags(0, load_start)
        );
    });

    shutdown.cancel();
    daemon_rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(10), daemon).await;
        sim.shutdown().await;
    });
}
