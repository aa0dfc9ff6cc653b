//! Control calls that must not wait: `backfill.wait` (what `ctl symbols add --wait` calls)
//! answers as soon as the symbol's backfill jobs have ended, woken by the backfill itself,
//! not on a poll; `symbol.add` validates against the cached exchangeInfo.

mod common;

use std::time::Duration;

use common::*;
use tradebeat::clock::system_now_ms;
use tradebeat::control::protocol::{
    BackfillWait, BackfillWaitParams, SymbolAdd, SymbolAddParams, code,
};
use tradebeat::control::{Client, ClientError};
use tradebeat::domain::Interval;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_wait_answers_within_100_ms_of_the_jobs_end() {
    let sim = sim().await;
    let dir = tempdir();
    let config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1h"]);
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();
    let daemon = InProcess::start(config);
    wait_until(
        "the socket and the first beat",
        Duration::from_secs(20),
        || socket.exists() && heartbeat_count(&db) >= 1,
    )
    .await;
    let mut client = Client::connect(&socket)
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(30));
    let eth = "ETHUSDT".parse().unwrap();
    let wait = |timeout_ms| BackfillWaitParams {
        symbol: "ETHUSDT".parse().unwrap(),
        market: None,
        timeout_ms: Some(timeout_ms),
    };
    // Not registered yet: refused, not waited on.
    match client.call::<BackfillWait>(&wait(0)).await {
        Err(ClientError::Rpc(e)) => assert!(e.message.contains("ETHUSDT"), "{e:?}"),
        other => panic!("expected an error, got {other:?}"),
    }

    // Each page takes 150 ms: a day of 1m candles is two pages, so the job runs a while.
    sim.set_latency(Duration::from_millis(150));
    let added = client
        .call::<SymbolAdd>(&SymbolAddParams {
            symbol: eth,
            market: None,
            intervals: Some(vec![Interval::M1]),
            backfill_days: Some(1),
        })
        .await
        .unwrap();
    assert!(added.backfill_error.is_none(), "{added:?}");
    let asked_at = system_now_ms();
    let summary = client.call::<BackfillWait>(&wait(30_000)).await.unwrap();
    let answered_at = system_now_ms();
    assert_eq!((summary.jobs, summary.done), (1, 1), "{summary:?}");

    let (state, ended_at): (String, i64) = read_db(&db)
        .query_row(
            "SELECT j.state, j.updated_at FROM backfill_jobs j JOIN symbols s ON s.id = j.symbol_id
             WHERE s.symbol = 'ETHUSDT'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(state, "done");
    assert!(
        asked_at < ended_at,
        "the job ended at {ended_at}, before the wait was asked at {asked_at}: nothing was waited for"
    );
    assert!(
        answered_at - ended_at <= 100,
        "answered {} ms after the job ended",
        answered_at - ended_at
    );
    // Once ended, it answers at once whatever the timeout.
    let again = client.call::<BackfillWait>(&wait(60_000)).await.unwrap();
    assert_eq!(again.done, 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symbol_add_validates_against_the_cached_exchange_info() {
    let sim = sim().await;
    let dir = tempdir();
    let config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1h"]);
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();
    let daemon = InProcess::start(config);
    wait_until(
        "the socket and the first beat",
        Duration::from_secs(20),
        || socket.exists() && heartbeat_count(&db) >= 1,
    )
    .await;
    let mut client = Client::connect(&socket)
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(30));
    let add = |symbol: &str| SymbolAddParams {
        symbol: symbol.parse().unwrap(),
        market: None,
        intervals: Some(vec![Interval::H1]),
        backfill_days: Some(1),
    };
    let info_reads = || {
        sim.request_log()
            .iter()
            .filter(|r| r.path == "/api/v3/exchangeInfo")
            .count()
    };
    // The first beat read exchangeInfo; symbol.add of a listed symbol reads nothing more.
    sim.clear_request_log();
    let added = client.call::<SymbolAdd>(&add("ETHUSDT")).await.unwrap();
    assert_eq!(added.symbol.symbol.as_str(), "ETHUSDT");
    assert_eq!(info_reads(), 0, "{:?}", sim.request_log());
    // A symbol the cache does not list is looked up again (it may have been listed since).
    match client.call::<SymbolAdd>(&add("ZZZUSDT")).await {
        Err(ClientError::Rpc(e)) => assert_eq!(e.code, code::UNKNOWN_SYMBOL, "{e:?}"),
        other => panic!("expected unknown_symbol, got {other:?}"),
    }
    assert_eq!(info_reads(), 1, "{:?}", sim.request_log());
    daemon.stop().await;
}
