//! Benchmark: futures `ORDER_TRADE_UPDATE` events parsed and committed per second from a
//! burst (goal: ≥ 50 000 events/s on tmpfs; the disk figure reported too), as
//! `benches/user_stream.rs` measures spot's execution reports.
//!
//! The burst is built from the recorded USDⓈ-M event
//! (`tests/data/futures_user_data/order_update_trade.json`): 1000 orders placed outside
//! tradebeat, each with one NEW event and 99 TRADE events (partial fills, the last one
//! FILLED), interleaved round-robin, every frame a distinct event (own order id, trade id,
//! times) — 100 000 frames. The timed work is what the futures stream's writer does:
//! `parse_futures_frame` on every frame, then `Store::apply_user_data` for `usdm` in
//! batches of up to 512 events per transaction, into a fresh database file (WAL,
//! synchronous=NORMAL): once under `/dev/shm` (tmpfs, when it exists) and once on disk
//! (the build's temporary directory under `target/`).
//!
//! Run with `cargo bench --bench futures_user_stream` (release build).
//! `FUTURES_STREAM_BENCH_ORDERS` sets the number of orders (default 1000; 100 events
//! each). Results go to stdout.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};
use tradebeat::domain::{Market, UserDataEvent};
use tradebeat::exchange::futures::parse_futures_frame;
use tradebeat::store::Store;

const EVENTS_PER_ORDER: usize = 100;
const BATCH: usize = 512;

fn template() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/futures_user_data/order_update_trade.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("recording")).expect("json")
}

/// The burst: order `o`'s event `k` (0 = NEW, then TRADEs of 0.001), round-robin.
fn burst(template: &Value, orders: usize, order_base: i64) -> Vec<String> {
    let mut frames = Vec::with_capacity(orders * EVENTS_PER_ORDER);
    let mut trade_id = order_base * 1000;
    let qty = EVENTS_PER_ORDER as f64 - 1.0;
    for k in 0..EVENTS_PER_ORDER {
        for o in 0..orders {
            let order_id = order_base + o as i64;
            let mut f = template.clone();
            let time = 1_568_879_465_651 + (k as i64) * 10;
            f["E"] = json!(time + 1);
            f["T"] = json!(time);
            let e = &mut f["o"];
            e["c"] = json!(format!("web-{order_id}"));
            e["i"] = json!(order_id);
            e["T"] = json!(time);
            e["q"] = json!(format!("{:.3}", qty * 0.001));
            if k == 0 {
                e["x"] = json!("NEW");
                e["X"] = json!("NEW");
                e["t"] = json!(0);
                e["l"] = json!("0");
                e["z"] = json!("0");
                e["L"] = json!("0");
                e["n"] = json!("0");
                e["rp"] = json!("0");
            } else {
                trade_id += 1;
                e["x"] = json!("TRADE");
                e["X"] = json!(if k == EVENTS_PER_ORDER - 1 {
                    "FILLED"
                } else {
                    "PARTIALLY_FILLED"
                });
                e["t"] = json!(trade_id);
                e["l"] = json!("0.001");
                e["z"] = json!(format!("{:.3}", k as f64 * 0.001));
                e["m"] = json!(k % 2 == 0);
            }
            frames.push(f.to_string());
        }
    }
    frames
}

fn parse(frame: &str) -> UserDataEvent {
    match parse_futures_frame(frame) {
        Ok(event @ UserDataEvent::Futures(_)) => event,
        other => panic!("{other:?}"),
    }
}

/// Parses and commits `frames` into a fresh database under `dir`; prints the rate.
fn run(frames: &[String], orders: usize, dir: &Path, label: &str) {
    let dir = tempfile::tempdir_in(dir).expect("tempdir");
    let store = Store::open(&dir.path().join("bench.db")).expect("store");
    let start = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    let (mut new, mut inserted, mut updated) = (0, 0, 0);
    for chunk in frames.chunks(BATCH) {
        batch.clear();
        batch.extend(chunk.iter().map(|f| parse(f)));
        let r = store
            .apply_user_data(Market::UsdM, &batch, 1)
            .expect("apply");
        new += r.executions_new;
        inserted += r.orders_inserted;
        updated += r.orders_updated;
    }
    let elapsed = start.elapsed();
    assert_eq!(new, frames.len(), "every frame one new execution row");
    assert_eq!(inserted, orders);
    println!(
        "{label}: parse + commit {} ORDER_TRADE_UPDATE in {:.2} s = {:.0} events/s (batches of {BATCH}; {inserted} order rows inserted, {updated} updated)",
        frames.len(),
        elapsed.as_secs_f64(),
        frames.len() as f64 / elapsed.as_secs_f64(),
    );
}

fn main() {
    let orders: usize = std::env::var("FUTURES_STREAM_BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let template = template();
    let frames = burst(&template, orders, 1_000_000);
    let bytes: usize = frames.iter().map(String::len).sum();
    println!(
        "burst: {} frames ({orders} orders x {EVENTS_PER_ORDER} events), {:.1} MB, mean {} bytes/frame",
        frames.len(),
        bytes as f64 / 1e6,
        bytes / frames.len()
    );
    let start = Instant::now();
    let parsed: Vec<UserDataEvent> = frames.iter().map(|f| parse(f)).collect();
    let took = start.elapsed();
    println!(
        "parse only: {:.0} frames/s ({:.2} µs/frame)",
        parsed.len() as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / parsed.len() as f64
    );
    drop(parsed);
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        run(&frames, orders, shm, "tmpfs (/dev/shm)");
    } else {
        println!("tmpfs: /dev/shm does not exist here, skipped");
    }
    let disk = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&disk).expect("target tmp dir");
    run(
        &frames,
        orders,
        &disk,
        &format!("disk ({})", disk.display()),
    );
}
