//! The spine end to end: the daemon (in this process) against the exchange simulator,
//! with a 2 s beat period.

mod common;

use std::time::Duration;

use common::*;
use tradebeat::domain::{Interval, Market, SymbolInfo, SymbolStatus};
use tradebeat::store::Store;

const MINUTE: i64 = 60_000;

/// A `heartbeats` row as the test reads it: beat_time, started_at, finished_at,
/// symbols_ok, symbols_failed, trigger, error.
type BeatRow = (i64, i64, i64, i64, i64, String, Option<String>);

/// Stores the simulator's candle at `open_time` for `symbol`, registering the symbol.
fn seed(
    db: &std::path::Path,
    sim: &exchange_sim::SimHandle,
    symbol: &str,
    interval: Interval,
    open_time: i64,
) {
    let store = Store::open(db).unwrap();
    let info = SymbolInfo {
        symbol: symbol.parse().unwrap(),
        status: SymbolStatus::Trading,
        base_asset: symbol[..3].to_string(),
        quote_asset: symbol[3..].to_string(),
        filters: Default::default(),
    };
    let row = store
        .upsert_symbol(Market::Spot, &info, None, None, 0)
        .unwrap();
    let k = sim.kline(symbol, interval.as_str(), open_time).unwrap();
    let kline = to_kline(&k);
    store.upsert_klines(row.id, interval, &[kline]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_closed_klines_identical_to_the_recorded_data() {
    let sim = sim().await;
    let dir = tempdir();
    let symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
    let config = config(&sim.base_url(), dir.path(), &symbols, &["1m", "15m", "1h"]);
    let db = config.storage.database.clone();

    // BTCUSDT was last seen 30 minutes ago: the start-up beat must fetch what it missed.
    let now = sim.now_ms();
    let seeded = Interval::M1.last_closed_open_time(now) - 30 * MINUTE;
    seed(&db, &sim, "BTCUSDT", Interval::M1, seeded);

    let daemon = InProcess::start(config);
    wait_until("three beats", Duration::from_secs(20), || {
        heartbeat_count(&db) >= 3
    })
    .await;
    // And the day of history (3 symbols × 3 intervals), so that every series is whole.
    wait_until("the backfill", Duration::from_secs(30), || {
        read_db(&db)
            .query_row(
                "SELECT COUNT(*) FROM backfill_jobs WHERE state = 'done'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0)
            == 9
    })
    .await;
    daemon.stop().await;

    let conn = read_db(&db);
    // Every beat succeeded for every symbol, and left exactly one ticker per symbol.
    let mut stmt = conn
        .prepare("SELECT beat_time, started_at, finished_at, symbols_ok, symbols_failed, trigger, error FROM heartbeats ORDER BY beat_time")
        .unwrap();
    let beats: Vec<BeatRow> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(beats.len() >= 3);
    assert_eq!(beats[0].5, "startup");
    for (beat_time, started, finished, ok, failed, trigger, error) in &beats {
        assert_eq!(
            (*ok, *failed, error.as_deref()),
            (3, 0, None),
            "beat {beat_time}"
        );
        assert!(started >= beat_time && finished >= started);
        if trigger == "schedule" {
            assert_eq!(
                beat_time.rem_euclid(2_000),
                1_000,
                "beats fall on k * 2 s + 1 s"
            );
        }
        let tickers: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM tickers WHERE time = ?1",
                [beat_time],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tickers, 3, "one ticker per symbol for beat {beat_time}");
    }
    let last_finished = beats.last().unwrap().2;

    for symbol in symbols {
        for interval in ["1m", "15m", "1h"] {
            let stored = stored_klines(&conn, symbol, interval);
            assert!(!stored.is_empty(), "{symbol} {interval} has candles");
            let grid = interval.parse::<Interval>().unwrap();
            for pair in stored.windows(2) {
                assert_eq!(
                    pair[1].0,
                    grid.add_candles(pair[0].0, 1),
                    "{symbol} {interval} has no hole"
                );
            }
            for row in &stored {
                assert_eq!(
                    *row,
                    sim_row(&sim, symbol, interval, row.0),
                    "{symbol} {interval} at {}",
                    row.0
                );
                assert!(row.1 < last_finished, "only closed candles are stored");
            }
        }
    }
    // BTCUSDT 1m: the seeded candle, the 30 it missed (and any that closed while running).
    let btc = stored_klines(&conn, "BTCUSDT", "1m");
    let from_seeded = btc.iter().filter(|r| r.0 >= seeded).count();
    assert!(
        from_seeded >= 31,
        "caught up from the seeded candle: {from_seeded} candles"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_non_trading_symbols_are_skipped_and_the_rest_run() {
    let sim = sim().await;
    sim.set_symbol_status("ETHBTC", "BREAK");
    let dir = tempdir();
    let config = config(
        &sim.base_url(),
        dir.path(),
        &["BTCUSDT", "NOPEUSDT", "ETHBTC"],
        &["1m"],
    );
    let db = config.storage.database.clone();
    let daemon = InProcess::start(config);
    wait_until("two beats", Duration::from_secs(20), || {
        heartbeat_count(&db) >= 2
    })
    .await;
    daemon.stop().await;

    let conn = read_db(&db);
    let registered: Vec<String> = conn
        .prepare("SELECT symbol FROM symbols ORDER BY symbol")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(registered, vec!["BTCUSDT"]);
    let failed: i64 = conn
        .query_row("SELECT SUM(symbols_failed) FROM heartbeats", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(failed, 0);
    assert!(!stored_klines(&conn, "BTCUSDT", "1m").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_exchange_is_recorded_and_the_daemon_recovers() {
    let sim = sim().await;
    sim.set_unavailable(true);
    let dir = tempdir();
    let config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    let db = config.storage.database.clone();
    let daemon = InProcess::start(config);

    wait_until("two failed beats", Duration::from_secs(30), || {
        heartbeat_count(&db) >= 2
    })
    .await;
    assert!(!daemon.task.is_finished(), "the daemon keeps running");
    let errors: Vec<Option<String>> = read_db(&db)
        .prepare("SELECT error FROM heartbeats ORDER BY beat_time")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        errors
            .iter()
            .all(|e| e.as_deref().is_some_and(|e| e.contains("exchange"))),
        "{errors:?}"
    );

    sim.set_unavailable(false);
    wait_until("a good beat", Duration::from_secs(30), || {
        read_db(&db)
            .query_row(
                "SELECT COUNT(*) FROM heartbeats WHERE error IS NULL AND symbols_ok = 1",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0)
            > 0
    })
    .await;
    daemon.stop().await;
    assert!(!stored_klines(&read_db(&db), "BTCUSDT", "1m").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_payload_is_refused_whole_and_the_next_beat_recovers() {
    let sim = sim().await;
    let dir = tempdir();
    let config = config(
        &sim.base_url(),
        dir.path(),
        &["BTCUSDT", "ETHUSDT"],
        &["1m"],
    );
    let db = config.storage.database.clone();
    sim.set_malformed("/api/v3/ticker/24hr", true);
    let daemon = InProcess::start(config);
    wait_until("two beats", Duration::from_secs(20), || {
        heartbeat_count(&db) >= 2
    })
    .await;
    {
        let conn = read_db(&db);
        let tickers: i64 = conn
            .query_row("SELECT COUNT(*) FROM tickers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tickers, 0, "nothing of a malformed answer is stored");
        let (failed, error): (i64, String) = conn
            .query_row(
                "SELECT symbols_failed, error FROM heartbeats ORDER BY beat_time LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(failed, 2);
        assert!(error.contains("tickers"), "{error}");
    }
    sim.set_malformed("/api/v3/ticker/24hr", false);
    wait_until("tickers again", Duration::from_secs(20), || {
        read_db(&db)
            .query_row("SELECT COUNT(*) FROM tickers", [], |r| r.get::<_, i64>(0))
            .unwrap_or(0)
            >= 2
    })
    .await;
    daemon.stop().await;
}
