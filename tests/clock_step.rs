//! Clock steps: a candle is stored only once the exchange's own clock says it closed, and a
//! candle stored before its close is fetched again. Against the simulator, whose clock is
//! stepped with its skew knob (an NTP step, a resumed VM or the exchange's own clock
//! change all look the same from the daemon: its estimate of the exchange's time is off).

mod common;

use std::time::Duration;

use common::*;
use tradebeat::clock::Clock;
use tradebeat::domain::Interval;
use tradebeat::exchange::{ClientOptions, Network, SpotClient};
use tradebeat::market_data::MarketData;
use tradebeat::store::{BeatTrigger, Store};

const MINUTE: i64 = 60_000;

fn client(sim: &exchange_sim::SimHandle) -> SpotClient {
    let options = ClientOptions::for_network(
        Network::Testnet,
        Some(&sim.base_url()),
        Duration::from_secs(2),
    )
    .expect("options");
    SpotClient::new(options, Clock::system()).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_clock_step_no_candle_is_stored_before_its_close() {
    let sim = sim().await;
    // The exchange's clock 57 s into its minute M.
    let phase = sim.now_ms().rem_euclid(MINUTE);
    sim.set_clock_skew_ms((57_000 - phase).rem_euclid(MINUTE));
    let minute = sim.now_ms().div_euclid(MINUTE) * MINUTE; // M
    let dir = tempdir();
    let db = dir.path().join("tradebeat.db");
    let store = Store::open(&db).unwrap();
    let exchange = client(&sim);
    let beats = MarketData::new(
        exchange.clone(),
        store,
        Clock::system(),
        vec!["BTCUSDT".parse().unwrap()],
        vec![Interval::M1],
    );

    // First beat: the offset is measured; candles up to M-1 are stored.
    let first = beats.beat(minute + 57_000, BeatTrigger::Manual, 0).await;
    assert_eq!(first.error, None);
    let conn = read_db(&db);
    let stored = stored_klines(&conn, "BTCUSDT", "1m");
    assert_eq!(stored.last().map(|r| r.0), Some(minute - MINUTE));

    // The exchange's clock steps 20 s back (or ours 20 s ahead): it reads M:37 while the
    // measured offset says the minute is over once ours has moved 3 s on.
    sim.set_clock_skew_ms(sim.clock_skew_ms() - 20_000);
    wait_until(
        "the estimate of the exchange's time passes M+1",
        Duration::from_secs(10),
        || exchange.server_now_ms() > minute + MINUTE + 200,
    )
    .await;
    assert!(sim.now_ms() < minute + MINUTE - 10_000, "the step holds");
    let second = beats.beat(minute + MINUTE, BeatTrigger::Manual, 0).await;
    assert_eq!(second.error, None);
    let stored = stored_klines(&conn, "BTCUSDT", "1m");
    assert_eq!(
        stored.last().map(|r| r.0),
        Some(minute - MINUTE),
        "candle M is still open on the exchange: nothing of it is stored"
    );
    assert_eq!(second.klines_written, 0);

    // The exchange's clock moves past M's close: the next beat stores M, final.
    sim.set_clock_skew_ms(sim.clock_skew_ms() + 20_000);
    let third = beats
        .beat(minute + MINUTE + 1, BeatTrigger::Manual, 0)
        .await;
    assert_eq!(third.error, None);
    let stored = stored_klines(&conn, "BTCUSDT", "1m");
    for row in &stored {
        assert_eq!(
            *row,
            sim_row(&sim, "BTCUSDT", "1m", row.0),
            "stored = final"
        );
        assert!(proof(&conn, row.0).1, "proven closed: {}", row.0);
    }
    assert_eq!(stored.last().map(|r| r.0), Some(minute));
}

/// `closed_before` of the stored candle, and whether it proves the candle closed.
fn proof(conn: &rusqlite::Connection, open_time: i64) -> (Option<i64>, bool) {
    conn.query_row(
        "SELECT closed_before, closed_before > close_time FROM klines
         WHERE interval = '1m' AND open_time = ?1",
        [open_time],
        |r| Ok((r.get(0)?, r.get::<_, Option<bool>>(1)?.unwrap_or(false))),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candles_stored_before_their_close_are_fetched_again() {
    let sim = sim().await;
    let dir = tempdir();
    let config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    let db = config.storage.database.clone();
    // Two candles stored with partial values: one by a version that kept no proof of
    // close (`closed_before` NULL), one written 30 s before its close.
    let newest = Interval::M1.last_closed_open_time(sim.now_ms());
    let (legacy, early) = (newest - 20 * MINUTE, newest - 10 * MINUTE);
    {
        let store = Store::open(&db).unwrap();
        let info = tradebeat::domain::SymbolInfo {
            symbol: "BTCUSDT".parse().unwrap(),
            status: tradebeat::domain::SymbolStatus::Trading,
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            filters: Default::default(),
        };
        let id = store
            .upsert_symbol(tradebeat::domain::Market::Spot, &info, None, None, 0)
            .unwrap()
            .id;
        let conn = rusqlite::Connection::open(&db).unwrap();
        for (t, closed_before) in [(legacy, None), (early, Some(early + 30_000))] {
            let k = sim.kline("BTCUSDT", "1m", t).unwrap();
            conn.execute(
                "INSERT INTO klines (symbol_id, interval, open_time, close_time, open, high,
                                     low, close, volume, quote_volume, trades,
                                     taker_buy_base_volume, taker_buy_quote_volume,
                                     closed_before)
                 VALUES (?1, '1m', ?2, ?3, ?4, ?4, ?4, ?4, 1, 1, 1, 0.5, 0.5, ?5)",
                rusqlite::params![id, t, k.close_time, k.open, closed_before],
            )
            .unwrap();
        }
    }
    let wrong = stored_klines(&read_db(&db), "BTCUSDT", "1m");
    assert_ne!(wrong[0], sim_row(&sim, "BTCUSDT", "1m", legacy));

    let daemon = InProcess::start(config);
    wait_until("both candles repaired", Duration::from_secs(60), || {
        let conn = read_db(&db);
        let stored = stored_klines(&conn, "BTCUSDT", "1m");
        [legacy, early].iter().all(|t| {
            stored.iter().find(|r| r.0 == *t) == Some(&sim_row(&sim, "BTCUSDT", "1m", *t))
                && proof(&conn, *t).1
        })
    })
    .await;
    daemon.stop().await;
    let conn = read_db(&db);
    let stored = stored_klines(&conn, "BTCUSDT", "1m");
    for row in &stored {
        assert_eq!(*row, sim_row(&sim, "BTCUSDT", "1m", row.0));
        assert!(
            proof(&conn, row.0).1,
            "every candle proven closed: {}",
            row.0
        );
    }
}
