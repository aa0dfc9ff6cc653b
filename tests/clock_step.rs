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
    }
    assert_eq!(stored.last().map(|r| r.0), Some(minute));
}
