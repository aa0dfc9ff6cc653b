//! `subscribe` over the control socket, against the simulator: beat and kline events carry
//! what was stored, a fill shows up as order and execution events (within a second of the
//! exchange's report), a subscriber that stops reading gets `lagged` while the writers go
//! on, and an unknown event name is refused.

mod common;
mod orders_support;

use std::path::Path;
use std::time::{Duration, Instant};

use exchange_sim::{TEST_API_KEY, TEST_API_SECRET};
use tradebeat::config::Config;
use tradebeat::control::protocol::{
    Event, EventName, OrderPlace, Subscribe, SubscribeParams, SymbolParams, SymbolRemove, SyncNow,
    SyncNowParams, code,
};
use tradebeat::control::{Client, ClientError};
use tradebeat::domain::{OrderStatus, Secret};
use tradebeat::store::{BeatTrigger, HeartbeatRow, StoreEvent};

use orders_support::{BTC_PRICE, req};

/// How long any one awaited event may take.
const DEADLINE: Duration = Duration::from_secs(20);

async fn client(socket: &Path) -> Client {
    Client::connect(socket)
        .await
        .expect("connect to the control socket")
        .with_timeout(DEADLINE)
}

async fn subscribed(socket: &Path, events: &[EventName]) -> Client {
    let mut c = client(socket).await;
    let answer = c
        .call::<Subscribe>(&SubscribeParams {
            events: events.to_vec(),
        })
        .await
        .expect("subscribed");
    assert_eq!(answer.events, events.to_vec());
    c
}

/// Reads events until `done` says so, within [`DEADLINE`] overall; returns them all.
async fn read_until(c: &mut Client, mut done: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = c
            .read_event(Some(left))
            .await
            .expect("an event in time")
            .expect("the daemon keeps the connection");
        let stop = done(&event);
        seen.push(event);
        if stop {
            return seen;
        }
    }
}

async fn wait_socket(socket: &Path) {
    common::wait_until("the control socket", DEADLINE, || socket.exists()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beat_and_kline_events_carry_the_stored_rows() {
    let sim = common::sim().await;
    // No candle is stored before the subscriber listens: the exchange is down at start.
    sim.set_unavailable(true);
    let dir = common::tempdir();
    let config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    let socket = config.control.socket.clone();
    let daemon = common::InProcess::start(config);
    wait_socket(&socket).await;
    let mut sub = subscribed(&socket, &[EventName::Beat, EventName::Kline]).await;
    sim.set_unavailable(false);
    let beat = client(&socket)
        .await
        .call::<SyncNow>(&SyncNowParams::default())
        .await
        .expect("sync.now");
    let events = read_until(
        &mut sub,
        |e| matches!(e, Event::Beat(b) if b.beat_time == beat.beat_time),
    )
    .await;

    let db = common::read_db(&daemon.db);
    let Some(Event::Beat(seen)) = events.last() else {
        unreachable!()
    };
    let (finished_at, klines_written): (i64, u32) = db
        .query_row(
            "SELECT finished_at, klines_written FROM heartbeats WHERE beat_time = ?1",
            [beat.beat_time],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the beat's row");
    assert_eq!(seen.finished_at, finished_at);
    assert_eq!(seen.klines_written, klines_written);
    assert_eq!(seen, &beat, "the event is the row sync.now answered");

    // The first beats that reached the exchange stored the newest candles: each came as a
    // kline event, equal to the stored row.
    let stored = common::stored_klines(&db, "BTCUSDT", "1m");
    let mut candles = 0;
    for event in &events {
        match event {
            Event::Kline(k) => {
                assert_eq!((k.symbol.as_str(), k.interval.as_str()), ("BTCUSDT", "1m"));
                for c in &k.klines {
                    let row = stored
                        .iter()
                        .find(|r| r.0 == c.open_time)
                        .unwrap_or_else(|| panic!("candle {} not stored", c.open_time));
                    let f = |s: &str| s.parse::<f64>().unwrap();
                    assert_eq!(
                        (row.1, row.2, row.3, row.4, row.5, row.6, row.8),
                        (
                            c.close_time,
                            f(&c.open),
                            f(&c.high),
                            f(&c.low),
                            f(&c.close),
                            f(&c.volume),
                            c.trades as i64
                        )
                    );
                    candles += 1;
                }
            }
            Event::Beat(_) => {}
            other => panic!("not subscribed to {other:?}"),
        }
    }
    assert!(candles > 0, "no kline event before the beat: {events:?}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_arrives_as_order_and_execution_events() {
    let sim = common::sim().await;
    sim.set_order_types("BTCUSDT", &["LIMIT", "MARKET"]);
    sim.set_order_price("BTCUSDT", Some(BTC_PRICE));
    let dir = common::tempdir();
    let mut config: Config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
    config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
    let socket = config.control.socket.clone();
    let daemon = common::InProcess::start(config);
    wait_socket(&socket).await;
    let mut sub = subscribed(&socket, &[EventName::Order, EventName::Execution]).await;
    let order = client(&socket)
        .await
        .call::<OrderPlace>(&req("BTCUSDT", "MARKET BUY q=0.002 id=watched-1"))
        .await
        .expect("MARKET placed");
    assert_eq!(order.status, OrderStatus::Filled);
    let order_id = order.order_id.expect("the exchange's id");
    // The fill's execution and the order's row moved to FILLED, in whichever order the
    // placement answer and the stream's report landed.
    let (mut fill_seen, mut filled_seen) = (false, false);
    let mut fill_read_at = None;
    let events = read_until(&mut sub, |e| {
        match e {
            Event::Execution(x) if x.order_id == order_id && x.execution_type == "TRADE" => {
                fill_seen = true;
                fill_read_at.get_or_insert_with(Instant::now);
            }
            Event::Order(o) if o.order_id == Some(order_id) && o.status == OrderStatus::Filled => {
                filled_seen = true
            }
            _ => {}
        }
        fill_seen && filled_seen
    })
    .await;

    // The notification came within a second of the fill: of the moment the exchange
    // pushed the TRADE report (a generous bound: the path takes milliseconds; it shows
    // the fill is published as it is stored, not with a later beat).
    let trade_pushed = sim
        .ws_events()
        .iter()
        .find(|e| {
            let frame: serde_json::Value = serde_json::from_str(&e.json).unwrap_or_default();
            frame["event"]["x"] == "TRADE" && frame["event"]["i"] == order_id
        })
        .map(|e| e.at)
        .expect("the exchange pushed the TRADE report");
    let delay = fill_read_at
        .expect("the fill was read")
        .saturating_duration_since(trade_pushed);
    assert!(
        delay < Duration::from_secs(1),
        "the fill's notification took {delay:?}"
    );

    // The pending row, then the exchange's answer, as stored.
    let orders: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Order(o) if o.client_order_id.as_str() == "watched-1" => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(
        orders.first().map(|o| o.status),
        Some(OrderStatus::Pending),
        "{events:?}"
    );
    assert!(
        orders.iter().any(|o| o.status == OrderStatus::Filled
            && o.executed_qty == order.executed_qty
            && o.order_id == Some(order_id)),
        "{events:?}"
    );
    let x = events
        .iter()
        .find_map(|e| match e {
            Event::Execution(x) if x.execution_type == "TRADE" => Some(x),
            _ => None,
        })
        .expect("the fill");
    let db = common::read_db(&daemon.db);
    let stored: (String, String, Option<i64>) = db
        .query_row(
            "SELECT last_qty, last_price, trade_id FROM executions WHERE id = ?1",
            [x.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("the execution's row");
    assert_eq!(
        (x.last_qty.clone(), x.last_price.clone(), x.trade_id),
        (Some(stored.0), Some(stored.1), stored.2)
    );
    assert_eq!(x.client_order_id.as_deref(), Some("watched-1"));
    daemon.stop().await;
}

/// A synthetic beat row the test publishes, told apart by its negative time.
fn marker(i: i64) -> StoreEvent {
    StoreEvent::Beat(HeartbeatRow {
        beat_time: -1 - i,
        started_at: 0,
        finished_at: 0,
        symbols_ok: 0,
        symbols_failed: 0,
        klines_written: 0,
        skipped_before: 0,
        trigger: BeatTrigger::Manual,
        error: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_gets_lagged_and_holds_nobody_up() {
    const BATCH: i64 = 1000;
    const BATCHES: i64 = 10;
    let sim = common::sim().await;
    let dir = common::tempdir();
    let config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    let socket = config.control.socket.clone();
    let (daemon, handles) =
        common::InProcess::start_options(config, tradebeat::daemon::RunOptions::default()).await;
    wait_socket(&socket).await;
    let stalled = subscribed(&socket, &[EventName::Beat]).await;
    let mut live = subscribed(&socket, &[EventName::Beat]).await;
    let beats_before = common::heartbeat_count(&daemon.db);

    // Far more events than the bus holds, in bursts the live subscriber keeps up with;
    // the stalled one reads nothing meanwhile.
    let mut next = 0;
    for _ in 0..BATCHES {
        for _ in 0..BATCH {
            handles.events.publish(marker(next));
            next += 1;
        }
        let last = -next;
        read_until(&mut live, |e| match e {
            Event::Beat(b) => b.beat_time == last,
            Event::Lagged(l) => panic!("the live subscriber lagged by {}", l.missed),
            _ => false,
        })
        .await;
    }
    // The writers went on: a manual beat commits while the subscriber is stalled.
    let beat = client(&socket)
        .await
        .call::<SyncNow>(&SyncNowParams::default())
        .await
        .expect("sync.now while a subscriber is stalled");
    assert!(common::heartbeat_count(&daemon.db) > beats_before);
    read_until(
        &mut live,
        |e| matches!(e, Event::Beat(b) if b.beat_time == beat.beat_time),
    )
    .await;

    // The stalled subscriber reads at last: what the socket held, then how much it lost,
    // then the newest events.
    let mut stalled = stalled;
    let events = read_until(&mut stalled, |e| matches!(e, Event::Lagged(_))).await;
    let Some(Event::Lagged(lagged)) = events.last() else {
        unreachable!()
    };
    let markers_read = events
        .iter()
        .filter(|e| matches!(e, Event::Beat(b) if b.beat_time < 0))
        .count() as u64;
    assert!(lagged.missed > 0);
    assert!(
        markers_read + lagged.missed <= (BATCH * BATCHES) as u64 + 100,
        "read {markers_read}, missed {}",
        lagged.missed
    );
    // And it is current again: the manual beat is still to come.
    read_until(
        &mut stalled,
        |e| matches!(e, Event::Beat(b) if b.beat_time == beat.beat_time),
    )
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_event_name_is_refused() {
    let sim = common::sim().await;
    let dir = common::tempdir();
    let config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    let socket = config.control.socket.clone();
    let daemon = common::InProcess::start(config);
    wait_socket(&socket).await;
    let mut c = client(&socket).await;
    let line =
        br#"{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"events":["beat","tick"]}}"#;
    c.send_raw(line).await.unwrap();
    c.send_raw(b"\n").await.unwrap();
    let response = c.read_response().await.expect("an answer");
    let error = response.error.expect("refused");
    assert_eq!(error.code, code::INVALID_PARAMS);
    assert!(error.message.contains("tick"), "{}", error.message);
    // Nothing was subscribed: the connection answers requests and gets no event.
    let beat = c
        .call::<SyncNow>(&SyncNowParams::default())
        .await
        .expect("the connection still serves requests");
    assert!(beat.beat_time > 0);
    match c.read_event(Some(Duration::from_millis(300))).await {
        Err(ClientError::Timeout(_)) => {}
        other => panic!("no event expected, got {other:?}"),
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_watch_prints_json_lines_and_exits_0_when_the_daemon_stops() {
    use std::io::BufRead as _;
    let sim = common::sim().await;
    let dir = common::tempdir();
    let config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    let socket = config.control.socket.clone();
    let daemon = common::InProcess::start(config);
    wait_socket(&socket).await;
    let mut child = common::tradebeat_command(dir.path())
        .arg("ctl")
        .arg("--socket")
        .arg(&socket)
        .args(["--json", "watch", "beat"])
        .spawn()
        .expect("ctl watch starts");
    let stdout = child.stdout.take().expect("piped stdout");
    // The scheduled beats (every 2 s) come as JSON lines.
    let first = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let first = lines.next().map(|l| l.expect("a line"));
        // Kept open: the watch must end because the daemon went away, not because its
        // output was closed.
        (first, lines)
    });
    let (first, _rest) = tokio::time::timeout(DEADLINE, first)
        .await
        .expect("a beat line in time")
        .unwrap();
    let first = first.expect("a line before the end");
    let event: Event = serde_json::from_str(&first).expect("a JSON event line");
    assert!(
        matches!(event, Event::Beat(ref b) if b.beat_time > 0),
        "{first}"
    );
    daemon.stop().await;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .expect("ctl watch ends");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_event_carries_the_logged_row() {
    let sim = common::sim().await;
    let dir = common::tempdir();
    let config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();
    let daemon = common::InProcess::start(config);
    wait_socket(&socket).await;
    let mut watcher = subscribed(&socket, &[EventName::Action]).await;
    let mut c = client(&socket).await;
    // A refused state-changing request is logged, and so published, too.
    let refused = c
        .call::<SymbolRemove>(&SymbolParams {
            symbol: "NOPEUSDT".parse().unwrap(),
            market: None,
        })
        .await;
    assert!(refused.is_err());
    let events = read_until(&mut watcher, |e| matches!(e, Event::Action(_))).await;
    let Some(Event::Action(action)) = events.last() else {
        panic!("no action event: {events:?}");
    };
    assert_eq!(
        (action.method.as_str(), action.source.as_str(), action.ok),
        ("symbol.remove", "ctl", false)
    );
    assert_eq!(action.symbol.as_deref(), Some("NOPEUSDT"));
    daemon.stop().await;
    let stored: (i64, String) = common::read_db(&db)
        .query_row(
            "SELECT id, method FROM actions WHERE symbol = 'NOPEUSDT'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(stored, (action.id, "symbol.remove".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_vanishes_is_cleaned_up() {
    let sim = common::sim().await;
    let dir = common::tempdir();
    let config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    let socket = config.control.socket.clone();
    let (daemon, handles) =
        common::InProcess::start_options(config, tradebeat::daemon::RunOptions::default()).await;
    wait_socket(&socket).await;
    // Only subscriptions listen on the bus.
    assert!(!handles.events.has_subscribers());
    let first = subscribed(&socket, &[EventName::Beat]).await;
    let second = subscribed(&socket, &[EventName::Execution]).await;
    assert!(handles.events.has_subscribers());
    // Both go away without a word (as a killed process would): their subscriptions end.
    drop(first);
    drop(second);
    let bus = handles.events.clone();
    common::wait_until("the subscriptions dropped", DEADLINE, || {
        !bus.has_subscribers()
    })
    .await;
    // The daemon goes on serving.
    client(&socket)
        .await
        .call::<SyncNow>(&SyncNowParams::default())
        .await
        .expect("sync.now after the subscribers left");
    daemon.stop().await;
}
