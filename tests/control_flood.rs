//! Control clients cannot starve the heartbeat: a flood of control requests that reach
//! the exchange (`order.get`, `symbol.add` → `exchangeInfo`, `sync.now`) against the
//! simulator with a low request-weight limit. The beats' weight is kept for them: every
//! scheduled beat runs on time, while control requests beyond their share are refused at
//! once (`-32006` with `retry_after_ms`) and each connection is held to its request rate
//! (`-32008` with `retry_after_ms`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use exchange_sim::{SimConfig, TEST_API_KEY, TEST_API_SECRET};
use serde_json::Value;
use tradebeat::control::protocol::{
    OrderGet, OrderRefParams, SymbolAdd, SymbolAddParams, SyncNow, SyncNowParams, code,
};
use tradebeat::control::{Client, ClientError};
use tradebeat::domain::Secret;

/// The simulator's request-weight limit per minute: a beat weighs 4 (one `ticker/24hr`,
/// one `klines`), 31 beats of a minute at a 2 s period plus `exchangeInfo` and `time` are
/// 145 kept for the beats, so control requests may use 95 % of 800 less 145 = 615, less
/// what the start-up took (backfill, reconciliation); the flood spends that in seconds
/// (`symbol.add` weighs 20).
const WEIGHT_LIMIT: u32 = 800;

/// Scheduled beats the flood must span.
const BEATS_UNDER_FLOOD: i64 = 6;

/// What one flooding client saw, by outcome.
#[derive(Debug, Default)]
struct Seen {
    ok: u32,
    /// `-32006` with `data.retry_after_ms`: the control share of the weight is spent.
    weight_refused: Vec<u64>,
    /// `-32008` with `data.retry_after_ms`: the connection's request rate is spent.
    rate_refused: Vec<u64>,
    /// The expected answers to the calls themselves: `-32004` (no such order), `-32001`
    /// (the exchange does not list the symbol).
    answered: u32,
}

fn retry_after(data: &Option<Value>) -> u64 {
    data.as_ref()
        .and_then(|d| d.get("retry_after_ms"))
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("retry_after_ms in {data:?}"))
}

/// Calls `order.get`, `symbol.add` and `sync.now` in turn as fast as the answers come,
/// until `stop`. Waits out a `-32008` (a polite client); never waits after a `-32006`.
async fn flood(mut client: Client, client_no: usize, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let mut i = client_no;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let result: Result<(), ClientError> = match i % 3 {
            0 => client
                .call::<OrderGet>(&OrderRefParams {
                    symbol: "BTCUSDT".parse().unwrap(),
                    order_id: Some(999_000 + i64::try_from(i).unwrap()),
                    client_order_id: None,
                    market: None,
                })
                .await
                .map(drop),
            1 => client
                .call::<SymbolAdd>(&SymbolAddParams {
                    symbol: "ZZZUSDT".parse().unwrap(),
                    market: None,
                    intervals: None,
                    backfill_days: None,
                })
                .await
                .map(drop),
            _ => client
                .call::<SyncNow>(&SyncNowParams { symbol: None })
                .await
                .map(drop),
        };
        match result {
            Ok(()) => seen.ok += 1,
            Err(ClientError::Rpc(e)) => match e.code {
                code::EXCHANGE_UNAVAILABLE => seen.weight_refused.push(retry_after(&e.data)),
                code::SERVER_BUSY => {
                    let wait = retry_after(&e.data);
                    seen.rate_refused.push(wait);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                code::NOT_FOUND | code::UNKNOWN_SYMBOL => seen.answered += 1,
                other => panic!("client {client_no}: unexpected error {other}: {e:?}"),
            },
            Err(e) => panic!("client {client_no}: {e:?}"),
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_flood_never_delays_a_beat_and_is_refused_at_once() {
    let sim = exchange_sim::spawn(SimConfig {
        weight_limit_per_min: WEIGHT_LIMIT,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempdir();
    let mut config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
    config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();
    let daemon = InProcess::start(config);
    wait_until(
        "the socket and the first beat",
        Duration::from_secs(20),
        || socket.exists() && heartbeat_count(&db) >= 1,
    )
    .await;

    // Four clients flood until the flood has spanned BEATS_UNDER_FLOOD scheduled beats.
    let flood_start = sim.now_ms();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for n in 0..4 {
        let client = Client::connect(&socket)
            .await
            .unwrap()
            .with_timeout(Duration::from_secs(30));
        clients.push(tokio::spawn(flood(client, n, Arc::clone(&stop))));
    }
    let scheduled_since = |from: i64| -> i64 {
        read_db(&db)
            .query_row(
                "SELECT COUNT(*) FROM heartbeats WHERE trigger = 'schedule' AND beat_time > ?1",
                [from],
                |r| r.get(0),
            )
            .unwrap()
    };
    wait_until(
        "scheduled beats while the flood runs",
        Duration::from_secs(40),
        || scheduled_since(flood_start) >= BEATS_UNDER_FLOOD,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for c in clients {
        seen.push(c.await.unwrap());
    }
    let flood_end = sim.now_ms();

    // Every scheduled beat under the flood: none skipped, each started and finished on
    // time, each stored its symbol.
    let conn = read_db(&db);
    let mut stmt = conn
        .prepare(
            "SELECT beat_time, started_at - beat_time, finished_at - beat_time, skipped_before,
                    symbols_ok, error
             FROM heartbeats WHERE trigger = 'schedule' AND beat_time > ?1 AND beat_time <= ?2
             ORDER BY beat_time",
        )
        .unwrap();
    type Beat = (i64, i64, i64, i64, i64, Option<String>);
    let beats: Vec<Beat> = stmt
        .query_map([flood_start, flood_end], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(beats.len() >= BEATS_UNDER_FLOOD as usize, "{beats:?}");
    for pair in beats.windows(2) {
        assert_eq!(pair[1].0 - pair[0].0, 2_000, "no beat skipped: {beats:?}");
    }
    for (beat_time, start_lag, end_lag, skipped, ok, error) in &beats {
        assert_eq!(*skipped, 0, "beat {beat_time} skipped beats: {beats:?}");
        assert!(
            *start_lag < 1_000,
            "beat {beat_time} started {start_lag} ms late"
        );
        assert!(
            *end_lag < 1_900,
            "beat {beat_time} finished {end_lag} ms after its time (period 2000)"
        );
        assert_eq!((*ok, error.as_deref()), (1, None), "beat {beat_time}");
    }

    // The flood was refused, at once and with a time to come back, never queued.
    let weight_refused: Vec<u64> = seen.iter().flat_map(|s| s.weight_refused.clone()).collect();
    let rate_refused: Vec<u64> = seen.iter().flat_map(|s| s.rate_refused.clone()).collect();
    let ok: u32 = seen.iter().map(|s| s.ok + s.answered).sum();
    assert!(ok > 0, "some control calls went through: {seen:?}");
    assert!(
        !weight_refused.is_empty(),
        "control calls beyond their weight share are refused with -32006: {seen:?}"
    );
    assert!(
        weight_refused.iter().all(|&ms| (1..=60_250).contains(&ms)),
        "retry_after_ms within the next window: {weight_refused:?}"
    );
    assert!(
        !rate_refused.is_empty(),
        "each connection is held to its request rate (-32008): {seen:?}"
    );
    assert!(
        rate_refused.iter().all(|&ms| (1..=1_000).contains(&ms)),
        "{rate_refused:?}"
    );
    // The exchange never had to refuse us: the gate kept below its limit.
    assert_eq!((sim.count_status(429), sim.count_status(418)), (0, 0));
    daemon.stop().await;
}
