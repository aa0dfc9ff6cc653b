//! Benchmark: execution reports parsed and committed per second from a recorded burst.
//!
//! The burst is built from the recorded WebSocket-API wrapped executionReport
//! (`tests/data/user_data/execution_report_wrapped.json`): 1000 orders placed outside
//! tradebeat, each with one NEW report and 99 TRADE reports (partial fills, the last one
//! FILLED), interleaved round-robin, every frame a distinct event (own order id, trade id,
//! execution id) — 100 000 frames of ~750 bytes. The timed work is what the stream's
//! writer does: `parse_frame` on every frame, then `Store::apply_user_data` in batches of
//! up to 512 events per transaction, into a fresh database file (WAL, synchronous=NORMAL).
//!
//! Also measured: parsing alone, and one report per transaction (the commit a single
//! fill costs when the stream is quiet): p50/p99 of `parse_frame` + `apply_user_data`.
//!
//! Run with `cargo bench --bench user_stream` (release build). `USER_STREAM_BENCH_RUNS`
//! sets the number of burst runs (default 3); `USER_STREAM_BENCH_DIR` the directory the
//! databases are created in (default: the system's temporary directory), e.g. `/dev/shm`
//! to take the disk's fsyncs out. Results go to stdout.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tradebeat::domain::Market;
use tradebeat::exchange::spot::{Frame, parse_frame};
use tradebeat::store::Store;

const ORDERS: usize = 1000;
const EVENTS_PER_ORDER: usize = 100;
const BATCH: usize = 512;

fn template() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/user_data/execution_report_wrapped.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("recording")).expect("json")
}

/// The burst: order `o`'s event `k` (0 = NEW, then TRADEs), round-robin over orders.
fn burst(template: &Value, order_base: i64) -> Vec<String> {
    let mut frames = Vec::with_capacity(ORDERS * EVENTS_PER_ORDER);
    let fill = "0.01000000"; // 99 fills of 0.01 = 0.99 of the 1.0 ordered … last fills the rest
    let mut exec_id = order_base * 1000;
    for k in 0..EVENTS_PER_ORDER {
        for o in 0..ORDERS {
            let order_id = order_base + o as i64;
            let mut f = template.clone();
            let e = &mut f["event"];
            let time = 1_499_405_658_657 + (k as i64) * 10;
            exec_id += 1;
            e["c"] = json!(format!("web-{order_id}"));
            e["i"] = json!(order_id);
            e["I"] = json!(exec_id);
            e["T"] = json!(time);
            e["E"] = json!(time + 1);
            if k > 0 {
                let cumulative = if k == EVENTS_PER_ORDER - 1 {
                    "1.00000000".to_string()
                } else {
                    format!("{:.8}", k as f64 * 0.01)
                };
                let last = if k == EVENTS_PER_ORDER - 1 {
                    "0.02000000"
                } else {
                    fill
                };
                e["x"] = json!("TRADE");
                e["X"] = json!(if k == EVENTS_PER_ORDER - 1 {
                    "FILLED"
                } else {
                    "PARTIALLY_FILLED"
                });
                e["t"] = json!(exec_id);
                e["l"] = json!(last);
                e["z"] = json!(cumulative);
                e["L"] = json!("0.10264410");
                e["n"] = json!("0.00000100");
                e["N"] = json!("BNB");
                e["Z"] = json!(format!("{:.8}", k as f64 * 0.001_026_441));
                e["Y"] = json!("0.00102644");
                e["m"] = json!(k % 2 == 0);
            }
            frames.push(f.to_string());
        }
    }
    frames
}

fn parse_all(frames: &[String]) -> Vec<tradebeat::domain::UserDataEvent> {
    frames
        .iter()
        .map(|f| match parse_frame(f) {
            Ok(Frame::Event(e)) => e.event,
            other => panic!("{other:?}"),
        })
        .collect()
}

/// A fresh directory for a database, under `USER_STREAM_BENCH_DIR` when set.
fn db_dir() -> tempfile::TempDir {
    match std::env::var_os("USER_STREAM_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("tempdir in USER_STREAM_BENCH_DIR"),
        None => tempfile::tempdir().expect("tempdir"),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let runs: usize = std::env::var("USER_STREAM_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let template = template();
    let frames = burst(&template, 1_000_000);
    let bytes: usize = frames.iter().map(String::len).sum();
    println!(
        "burst: {} frames ({} orders x {} events), {:.1} MB, mean {} bytes/frame",
        frames.len(),
        ORDERS,
        EVENTS_PER_ORDER,
        bytes as f64 / 1e6,
        bytes / frames.len()
    );

    // Parsing alone.
    let start = Instant::now();
    let events = parse_all(&frames);
    let parse = start.elapsed();
    println!(
        "parse only: {:.0} frames/s ({:.2} µs/frame)",
        frames.len() as f64 / parse.as_secs_f64(),
        parse.as_secs_f64() * 1e6 / frames.len() as f64
    );
    drop(events);

    for run in 1..=runs {
        let dir = db_dir();
        let store = Store::open(&dir.path().join("bench.db")).expect("store");
        let start = Instant::now();
        let mut batch = Vec::with_capacity(BATCH);
        let mut new = 0;
        let mut orders = (0, 0);
        for chunk in frames.chunks(BATCH) {
            batch.clear();
            for f in chunk {
                match parse_frame(f) {
                    Ok(Frame::Event(e)) => batch.push(e.event),
                    other => panic!("{other:?}"),
                }
            }
            let r = store
                .apply_user_data(Market::Spot, &batch, 1)
                .expect("apply");
            new += r.executions_new;
            orders.0 += r.orders_inserted;
            orders.1 += r.orders_updated;
        }
        let elapsed = start.elapsed();
        assert_eq!(new, frames.len(), "every frame one new execution row");
        assert_eq!(orders.0, ORDERS);
        let size = std::fs::metadata(dir.path().join("bench.db"))
            .map(|m| m.len())
            .unwrap_or(0)
            + std::fs::metadata(dir.path().join("bench.db-wal"))
                .map(|m| m.len())
                .unwrap_or(0);
        println!(
            "run {run}: parse + commit {} frames in {:.2} s = {:.0} execution reports/s (batches of {BATCH}; {} order rows inserted, {} updated; db+wal {:.0} MB)",
            frames.len(),
            elapsed.as_secs_f64(),
            frames.len() as f64 / elapsed.as_secs_f64(),
            orders.0,
            orders.1,
            size as f64 / 1e6
        );
    }

    // One report per transaction: 2000 NEW/TRADE frames of fresh orders.
    let dir = db_dir();
    let store = Store::open(&dir.path().join("single.db")).expect("store");
    let singles: Vec<String> = burst(&template, 9_000_000)
        .into_iter()
        .take(2 * ORDERS)
        .collect();
    let mut times = Vec::with_capacity(singles.len());
    for f in &singles {
        let start = Instant::now();
        let event = match parse_frame(f) {
            Ok(Frame::Event(e)) => e.event,
            other => panic!("{other:?}"),
        };
        store
            .apply_user_data(Market::Spot, std::slice::from_ref(&event), 1)
            .expect("apply");
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "single report per transaction ({}): p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6,
        times[times.len() - 1].as_secs_f64() * 1e6
    );
}
