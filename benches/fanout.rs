//! Benchmark: notification fan-out of a burst of fills to 20 subscribers.
//!
//! The daemon runs in this process (`daemon::run_with`) against the exchange simulator,
//! subscribed to its WebSocket API. 20 clients connect to the control socket and
//! `subscribe` to `execution`. The simulator then pushes a burst of 10 000
//! `executionReport` TRADE frames (100 orders × 100 partial fills, distinct trade ids) as
//! fast as it can, stamping the instant each frame is handed to the connection. Each fill
//! goes the whole way: WebSocket, parsing, the writer's batches, the SQLite commit, the
//! event bus, each subscriber's connection task, the socket, the client's parse. A
//! subscriber's delay for a fill is from its frame's push to the moment that subscriber
//! read the notification.
//!
//! Reported: per subscriber, fills received, `lagged` notifications and their `missed`
//! count (the goal: none lost by a subscriber that keeps up), and the delay percentiles
//! over every (subscriber, fill) pair.
//!
//! Run with `cargo bench --bench fanout` (release build). `FANOUT_SUBSCRIBERS` (default
//! 20) and `FANOUT_FILLS` (default 10 000, a multiple of 100) change the sizes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use exchange_sim::{SimConfig, TEST_API_KEY, TEST_API_SECRET};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tradebeat::clock::Clock;
use tradebeat::config::Config;
use tradebeat::control::Client;
use tradebeat::control::protocol::{Event, EventName, Subscribe, SubscribeParams};
use tradebeat::daemon::RunOptions;
use tradebeat::domain::{Secret, StreamState};

const FILLS_PER_ORDER: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The burst: `fills` TRADE reports, round-robin over `fills / 100` orders; fill `k` has
/// trade id `TRADE_BASE + k`.
const TRADE_BASE: i64 = 5_000_000;

fn burst(fills: usize) -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/user_data/execution_report_wrapped.json"
    );
    let template: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("recording")).expect("json");
    let orders = fills / FILLS_PER_ORDER;
    let mut out = Vec::with_capacity(fills);
    for step in 0..FILLS_PER_ORDER {
        for o in 0..orders {
            let k = (step * orders + o) as i64;
            let order_id = 7_000_000 + o as i64;
            let mut e = template["event"].clone();
            let time = 1_499_405_658_657 + step as i64 * 10;
            let last_fill = step == FILLS_PER_ORDER - 1;
            e["c"] = json!(format!("fan-{order_id}"));
            e["i"] = json!(order_id);
            e["I"] = json!(TRADE_BASE * 2 + k);
            e["t"] = json!(TRADE_BASE + k);
            e["T"] = json!(time);
            e["E"] = json!(time + 1);
            e["x"] = json!("TRADE");
            e["X"] = json!(if last_fill {
                "FILLED"
            } else {
                "PARTIALLY_FILLED"
            });
            e["l"] = json!("0.01000000");
            e["z"] = json!(format!("{:.8}", (step + 1) as f64 * 0.01));
            e["L"] = json!("0.10264410");
            e["n"] = json!("0.00000100");
            e["N"] = json!("BNB");
            e["Z"] = json!(format!("{:.8}", (step + 1) as f64 * 0.001_026_441));
            e["Y"] = json!("0.00102644");
            out.push(e);
        }
    }
    out
}

/// What one subscriber saw: the instant it read each fill (by trade id), and the lagged
/// notifications' `missed` counts.
struct Seen {
    read_at: HashMap<i64, Instant>,
    lagged: Vec<u64>,
}

async fn subscriber(mut client: Client, fills: usize, deadline: Instant) -> Seen {
    let mut seen = Seen {
        read_at: HashMap::with_capacity(fills),
        lagged: Vec::new(),
    };
    while seen.read_at.len() + (seen.lagged.iter().sum::<u64>() as usize) < fills {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.read_event(Some(left)).await {
            Ok(Some(Event::Execution(x))) => {
                if let Some(t) = x.trade_id.filter(|t| *t >= TRADE_BASE) {
                    seen.read_at.insert(t, Instant::now());
                }
            }
            Ok(Some(Event::Lagged(l))) => seen.lagged.push(l.missed),
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                eprintln!("subscriber stopped: {e}");
                break;
            }
        }
    }
    seen
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let subscribers = env_usize("FANOUT_SUBSCRIBERS", 20);
    let fills = env_usize("FANOUT_FILLS", 10_000) / FILLS_PER_ORDER * FILLS_PER_ORDER;
    let sim = exchange_sim::spawn(SimConfig::default())
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.exchange.rest_url = Some(sim.base_url());
    config.exchange.ws_api_url = Some(sim.ws_api_url());
    config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
    config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
    config.market_data.symbols = vec!["BTCUSDT".parse().expect("symbol")];
    config.market_data.intervals = vec!["1m".parse().expect("interval")];
    config.market_data.backfill_days = 1;
    config.storage.database = dir.path().join("tradebeat.db");
    config.control.socket = dir.path().join("control.sock");
    config.logging.dir = dir.path().join("logs");
    let socket = config.control.socket.clone();

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
    let committed_before = status.borrow_and_update().events_committed;

    let events = burst(fills);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut tasks = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let mut client = Client::connect(&socket).await.expect("connect");
        client
            .call::<Subscribe>(&SubscribeParams {
                events: vec![EventName::Execution],
            })
            .await
            .expect("subscribed");
        tasks.push(tokio::spawn(subscriber(client, fills, deadline)));
    }

    sim.clear_ws_events();
    let start = Instant::now();
    for e in events {
        sim.push_ws_event(e);
    }
    let pushed_in = start.elapsed();
    tokio::time::timeout(
        Duration::from_secs(120),
        status.wait_for(|s| s.events_committed >= committed_before + fills as u64),
    )
    .await
    .expect("the burst committed in time")
    .expect("status");
    let committed_in = start.elapsed();

    // Push instant of each fill, by trade id.
    let mut pushed_at: HashMap<i64, Instant> = HashMap::with_capacity(fills);
    for sent in sim.ws_events() {
        let frame: Value = serde_json::from_str(&sent.json).expect("frame");
        if let Some(t) = frame["event"]["t"].as_i64().filter(|t| *t >= TRADE_BASE) {
            pushed_at.insert(t, sent.at);
        }
    }
    assert_eq!(pushed_at.len(), fills, "every fill pushed once");

    let mut delays = Vec::with_capacity(fills * subscribers);
    let mut complete = 0;
    let mut last_read = start;
    for (n, task) in tasks.into_iter().enumerate() {
        let seen = task.await.expect("subscriber task");
        let missed: u64 = seen.lagged.iter().sum();
        if seen.read_at.len() == fills {
            complete += 1;
        } else {
            println!(
                "subscriber {n}: {} of {fills} fills, {} lagged notifications, {missed} missed",
                seen.read_at.len(),
                seen.lagged.len()
            );
        }
        for (t, at) in seen.read_at {
            last_read = last_read.max(at);
            if let Some(p) = pushed_at.get(&t) {
                delays.push(at.saturating_duration_since(*p));
            }
        }
    }
    delays.sort();
    println!(
        "burst of {fills} fills pushed in {}, committed in {}, read by the last subscriber after {}",
        ms(pushed_in),
        ms(committed_in),
        ms(last_read.duration_since(start))
    );
    println!(
        "{complete} of {subscribers} subscribers got every fill; push-to-read delay over {} \
         (subscriber, fill) pairs: p50 {} p90 {} p99 {} max {}",
        delays.len(),
        ms(percentile(&delays, 0.5)),
        ms(percentile(&delays, 0.9)),
        ms(percentile(&delays, 0.99)),
        ms(percentile(&delays, 1.0)),
    );
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), daemon).await;
}
