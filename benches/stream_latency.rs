//! Benchmark: stream-to-row latency of single fills through the whole user-data path.
//!
//! The daemon runs in this process (`daemon::run_with`) against the exchange simulator on
//! loopback, subscribed to its WebSocket API. For each measured fill, one MARKET order is
//! placed on the simulator directly (in-process, no HTTP); the simulator pushes its
//! `executionReport` frames (NEW, TRADE) and `outboundAccountPosition`, stamping the
//! instant each frame is handed to the connection. The latency is from the TRADE frame's
//! push to the moment the daemon's writer has committed it (the user stream's status
//! watch reports the commit), so it covers the WebSocket hop, parsing, the writer queue
//! and the SQLite transaction (orders row + executions row), and nothing of the order's
//! own placement.
//!
//! Run with `cargo bench --bench stream_latency` (release). `STREAM_BENCH_N` sets the
//! number of fills (default 500). Fills are placed one at a time, each after the previous
//! one was committed.

use std::time::{Duration, Instant};

use exchange_sim::{SimConfig, TEST_API_KEY, TEST_API_SECRET};
use tokio_util::sync::CancellationToken;
use tradebeat::clock::Clock;
use tradebeat::config::Config;
use tradebeat::daemon::RunOptions;
use tradebeat::domain::Secret;
use tradebeat::domain::StreamState;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("STREAM_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let sim = exchange_sim::spawn(SimConfig::default())
        .await
        .expect("simulator");
    sim.set_order_price("BTCUSDT", Some("65000.00"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.exchange.rest_url = Some(sim.base_url());
    config.exchange.ws_api_url = Some(sim.ws_api_url());
    config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
    config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
    config.market_data.symbols = vec!["BTCUSDT".parse().unwrap()];
    config.market_data.intervals = vec!["1m".parse().unwrap()];
    config.market_data.backfill_days = 1;
    config.storage.database = dir.path().join("tradebeat.db");
    config.control.socket = dir.path().join("control.sock");
    config.logging.dir = dir.path().join("logs");

    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let options = RunOptions {
        handles: Some(tx),
        ..RunOptions::default()
    };
    let daemon = tokio::spawn(tradebeat::daemon::run_with(
        config,
        Clock::system(),
        shutdown.clone(),
        options,
    ));
    let handles = rx.await.expect("handles");
    let mut status = handles.user_stream.watch();
    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.state == StreamState::Healthy),
    )
    .await
    .expect("stream healthy in time")
    .expect("stream status");

    let mut latencies = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let side = if i % 2 == 0 { "BUY" } else { "SELL" };
        let before = status.borrow_and_update().events_committed;
        let pushed = sim.ws_events().len();
        sim.place_order(&[
            ("symbol", "BTCUSDT"),
            ("side", side),
            ("type", "MARKET"),
            ("quantity", "0.00100000"),
        ])
        .expect("order placed");
        // NEW and TRADE come first; wait until both are committed.
        let committed = tokio::time::timeout(
            Duration::from_secs(10),
            status.wait_for(|s| s.events_committed >= before + 2),
        )
        .await
        .expect("committed in time")
        .expect("status")
        .events_committed;
        let at = Instant::now();
        let trade_pushed = sim.ws_events()[pushed..]
            .iter()
            .find(|e| e.json.contains("\"x\":\"TRADE\""))
            .map(|e| e.at)
            .expect("the TRADE frame was pushed");
        // Let the account position land before the next fill.
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            status.wait_for(|s| s.events_committed >= committed.max(before + 3)),
        )
        .await;
        if i >= 20 {
            latencies.push(at.duration_since(trade_pushed));
        }
    }
    latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!(
        "stream-to-row latency over {n} single fills: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}, mean {mean:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
    );
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), daemon).await;
}
