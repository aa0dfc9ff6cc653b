//! The user-data stream end to end: the daemon in this process, subscribed to the
//! simulator's WebSocket API with the simulator's test key, and the simulator's faults
//! (dropped connections, silent connections, refused connections, rejected keys,
//! replayed events). Every fill on the exchange must end up in `executions` exactly once
//! and every order in its final state, whatever the network did.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use exchange_sim::{SimHandle, TEST_API_KEY, TEST_API_SECRET};
use rusqlite::params;
use serde_json::{Value, json};
use tempfile::TempDir;
use tradebeat::control::Client;
use tradebeat::control::protocol::{NoParams, OrderPlace, Status};
use tradebeat::daemon::{Handles, RunOptions};
use tradebeat::domain::OrderRequest;
use tradebeat::domain::Secret;
use tradebeat::domain::{StreamState, UserStreamStatus};
use tradebeat::user_stream::UserStreamOptions;

/// BTCUSDT's price in these tests (the simulator's book is one tick each side).
const PRICE: &str = "65000.00";

/// Short timings: a silent connection is found in 1.5 s, reconnects start at 50 ms.
fn fast() -> UserStreamOptions {
    UserStreamOptions {
        silence_timeout: Duration::from_millis(1500),
        keepalive_after: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(1),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        rejected_retry: Duration::from_secs(300),
        renew_after: Duration::from_secs(23 * 3600),
        reconcile_retry: Duration::from_millis(100),
    }
}

struct Running {
    // Dropped last (fields drop in order): the log files are flushed after the daemon
    // stopped.
    sim: SimHandle,
    _dir: TempDir,
    daemon: common::InProcess,
    handles: Handles,
    db: PathBuf,
    socket: PathBuf,
    logs: PathBuf,
    _log_default: tracing::subscriber::DefaultGuard,
    _log_files: tradebeat::logging::LogGuard,
}

impl Running {
    /// A daemon with the test credentials on a fresh simulator (BTCUSDT at [`PRICE`]);
    /// `before` runs on the simulator before the daemon starts.
    async fn start(options: UserStreamOptions, before: impl FnOnce(&SimHandle)) -> Running {
        let sim = common::sim().await;
        sim.set_order_price("BTCUSDT", Some(PRICE));
        before(&sim);
        Running::launch(sim, common::tempdir(), options).await
    }

    /// Stops the daemon (as a restart would) and starts a new one on the same simulator and
    /// the same files.
    async fn restart(self, options: UserStreamOptions) -> Running {
        let Running {
            sim,
            _dir: dir,
            daemon,
            _log_default,
            _log_files,
            ..
        } = self;
        daemon.stop().await;
        drop(_log_default);
        drop(_log_files);
        Running::launch(sim, dir, options).await
    }

    /// A daemon with the test credentials on `sim`, its files in `dir`.
    async fn launch(sim: SimHandle, dir: TempDir, options: UserStreamOptions) -> Running {
        let mut config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
        config.exchange.ws_api_url = Some(sim.ws_api_url());
        config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
        config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
        let socket = config.control.socket.clone();
        let logs = config.logging.dir.clone();
        // tradebeat's own log files, for this test's thread: every test here runs on one
        // thread (`#[tokio::test]`), so the daemon's tasks log there too.
        config.logging.level = "debug".to_string();
        let (subscriber, log_files) =
            tradebeat::logging::subscriber(&config.logging, None, false).expect("logging");
        let log_default = tracing::subscriber::set_default(subscriber);
        let (daemon, handles) = common::InProcess::start_options(
            config,
            RunOptions {
                user_stream: options,
                ..RunOptions::default()
            },
        )
        .await;
        let db = daemon.db.clone();
        Running {
            sim,
            _dir: dir,
            daemon,
            handles,
            db,
            socket,
            logs,
            _log_default: log_default,
            _log_files: log_files,
        }
    }

    async fn healthy(options: UserStreamOptions) -> Running {
        let r = Running::start(options, |_| {}).await;
        r.wait_status("the stream healthy", Duration::from_secs(20), |s| {
            s.state == StreamState::Healthy
        })
        .await;
        r
    }

    fn status(&self) -> UserStreamStatus {
        self.handles.user_stream.status()
    }

    /// Waits for a status that satisfies `pred`; panics with `what` and the last status.
    async fn wait_status(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl FnMut(&UserStreamStatus) -> bool,
    ) -> UserStreamStatus {
        let mut rx = self.handles.user_stream.watch();
        match tokio::time::timeout(timeout, rx.wait_for(pred)).await {
            Ok(Ok(s)) => s.clone(),
            _ => panic!("timed out waiting for {what}; status: {:?}", self.status()),
        }
    }

    /// Places an order on the exchange directly (outside tradebeat); returns its order id.
    fn outside(&self, side: &str, order_type: &str, extra: &[(&str, &str)]) -> i64 {
        let mut p = vec![
            ("symbol", "BTCUSDT"),
            ("side", side),
            ("type", order_type),
            ("quantity", "0.00100000"),
        ];
        p.extend_from_slice(extra);
        let answer = self
            .sim
            .place_order(&p)
            .unwrap_or_else(|e| panic!("simulator refused {p:?}: {e:?}"));
        answer["orderId"].as_i64().expect("orderId")
    }

    async fn client(&self) -> Client {
        Client::connect(&self.socket)
            .await
            .expect("control socket")
            .with_timeout(Duration::from_secs(20))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.logs.join("user_stream.log")).unwrap_or_default()
    }

    /// Waits until `logs/user_stream.log` has `needle` (lines reach the file through a
    /// background writer).
    async fn wait_log(&self, needle: &str) {
        common::wait_until(
            &format!("{needle:?} in user_stream.log"),
            Duration::from_secs(5),
            || self.log().contains(needle),
        )
        .await;
    }
}

/// Fill rows (executions with a trade id) of `order_id`.
fn fills(db: &Path, order_id: i64) -> i64 {
    if !db.exists() {
        return 0;
    }
    common::read_db(db)
        .query_row(
            "SELECT COUNT(*) FROM executions WHERE order_id = ?1 AND trade_id IS NOT NULL",
            params![order_id],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

/// (status, executed_qty, cummulative_quote_qty) of the order row of `order_id`.
fn order_row(db: &Path, order_id: i64) -> Option<(String, String, String)> {
    common::read_db(db)
        .query_row(
            "SELECT status, executed_qty, cummulative_quote_qty FROM orders
             WHERE symbol = 'BTCUSDT' AND order_id = ?1",
            params![order_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .ok()
}

fn count(db: &Path, sql: &str) -> i64 {
    common::read_db(db)
        .query_row(sql, [], |r| r.get(0))
        .unwrap_or(-1)
}

/// Whether the stored row of every order the simulator holds says what the exchange says,
/// and every filled order has exactly one fill row.
fn matches_exchange(sim: &SimHandle, db: &Path) -> Result<(), String> {
    for o in sim.orders() {
        let Some((status, executed, quote)) = order_row(db, o.order_id) else {
            return Err(format!("order {} not stored", o.order_id));
        };
        let same = |a: &str, b: &str| a.parse::<rust_decimal::Decimal>().ok() == b.parse().ok();
        if status != o.status
            || !same(&executed, &o.executed_qty)
            || !same(&quote, &o.cummulative_quote_qty)
        {
            return Err(format!(
                "order {}: stored {status} {executed} {quote}, exchange {} {} {}",
                o.order_id, o.status, o.executed_qty, o.cummulative_quote_qty
            ));
        }
        let want = i64::from(o.status == "FILLED");
        let got = fills(db, o.order_id);
        if got != want {
            return Err(format!(
                "order {}: {got} fill rows, want {want}",
                o.order_id
            ));
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_fill_reaches_executions_and_the_order_row_within_a_second() {
    let r = Running::healthy(fast()).await;

    // An order placed outside tradebeat (the web UI, another bot) that fills at once.
    let started = Instant::now();
    let order_id = r.outside("BUY", "MARKET", &[]);
    common::wait_until("the fill and the order row", Duration::from_secs(1), || {
        fills(&r.db, order_id) == 1
            && order_row(&r.db, order_id).is_some_and(|(s, _, _)| s == "FILLED")
    })
    .await;
    let took = started.elapsed();

    // The stored fill is the exchange's, field for field, raw JSON included.
    let db = common::read_db(&r.db);
    let (kind, status, last_qty, last_price, cum_qty, commission, asset, source, raw): (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
    ) = db
        .query_row(
            "SELECT execution_type, order_status, last_qty, last_price, cumulative_qty,
                    commission, commission_asset, source, raw
             FROM executions WHERE order_id = ?1 AND trade_id IS NOT NULL",
            params![order_id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            },
        )
        .unwrap();
    let sim_order = r
        .sim
        .orders()
        .into_iter()
        .find(|o| o.order_id == order_id)
        .unwrap();
    assert_eq!(
        (kind.as_str(), status.as_str(), source.as_str()),
        ("TRADE", "FILLED", "stream")
    );
    assert_eq!(last_qty, sim_order.executed_qty);
    assert_eq!(cum_qty, sim_order.executed_qty);
    assert_eq!(asset, "BTC");
    let raw: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(raw["e"], "executionReport");
    assert_eq!(raw["L"].as_str(), Some(last_price.as_str()));
    assert_eq!(raw["n"].as_str(), Some(commission.as_str()));
    assert!(r.status().events_committed >= 2, "{:?}", r.status());

    // An order placed through tradebeat rests, then fills when the market comes to it.
    let mut client = r.client().await;
    let mut request: OrderRequest = serde_json::from_value(json!({
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "time_in_force": "GTC",
        "quantity": "0.001", "price": "64000.00"
    }))
    .unwrap();
    request.client_order_id = Some("resting-1".parse().unwrap());
    let placed = client.call::<OrderPlace>(&request).await.expect("placed");
    assert_eq!(placed.status.as_str(), "NEW");
    let resting = placed.order_id.expect("order id");
    let started = Instant::now();
    r.sim.set_order_price("BTCUSDT", Some("63990.00"));
    common::wait_until("the resting order's fill", Duration::from_secs(1), || {
        fills(&r.db, resting) == 1
            && order_row(&r.db, resting)
                .is_some_and(|(s, q, _)| s == "FILLED" && q.parse::<f64>() == Ok(0.001))
    })
    .await;
    println!(
        "stream to row: outside {took:?}, resting {:?}",
        started.elapsed()
    );

    // `status` shows the stream.
    let status = client.call::<Status>(&NoParams {}).await.unwrap();
    assert_eq!(status.user_stream.state, StreamState::Healthy);
    assert!(status.user_stream.connected_since.is_some());
    assert!(status.user_stream.last_event_time.is_some());
    assert_eq!(status.user_stream.reconnects, 0);
    r.wait_log("user-data stream subscribed").await;
    r.daemon.stop().await;
}

#[tokio::test]
async fn a_fill_during_an_outage_is_recorded_after_the_reconnect() {
    let r = Running::healthy(fast()).await;
    // A resting order placed elsewhere, and a first fill the stream delivers.
    let resting = r.outside(
        "BUY",
        "LIMIT",
        &[("timeInForce", "GTC"), ("price", "64000.00")],
    );
    let first = r.outside("SELL", "MARKET", &[]);
    common::wait_until("the first fill", Duration::from_secs(5), || {
        fills(&r.db, first) == 1 && order_row(&r.db, resting).is_some()
    })
    .await;

    // The network goes: the connection drops and new ones are refused.
    r.sim.set_ws_refuse_connections(true);
    r.sim.drop_ws_connections();
    r.wait_status("the stream to notice", Duration::from_secs(5), |s| {
        s.state != StreamState::Healthy
    })
    .await;
    // Fills while nobody listens: an order placed elsewhere, and the resting order.
    let during = r.outside("BUY", "MARKET", &[]);
    r.sim.set_order_price("BTCUSDT", Some("63990.00"));
    r.sim.set_order_price("BTCUSDT", Some(PRICE));
    assert_eq!(fills(&r.db, during), 0);
    assert_eq!(r.sim.ws_subscriptions_active(), 0);

    // The network comes back: reconnect, reconcile, and both fills are there, once.
    r.sim.set_ws_refuse_connections(false);
    let s = r
        .wait_status("healthy again", Duration::from_secs(10), |s| {
            s.state == StreamState::Healthy && s.reconnects >= 1
        })
        .await;
    assert!(s.reconciled_at.is_some());
    matches_exchange(&r.sim, &r.db).unwrap();
    assert_eq!(fills(&r.db, during), 1);
    assert_eq!(fills(&r.db, resting), 1);
    r.wait_log("user-data connection lost").await;
    r.wait_log("reconciled with the exchange").await;
    r.daemon.stop().await;
}

#[tokio::test]
async fn a_silent_connection_is_detected_and_replaced() {
    let r = Running::healthy(fast()).await;
    let total = r.sim.ws_connections_total();

    // The link goes quiet without closing: no events, no pings, no pongs.
    r.sim.set_ws_silent(true);
    let s = r
        .wait_status("the silence to be noticed", Duration::from_secs(10), |s| {
            s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("silent"))
        })
        .await;
    assert_ne!(s.state, StreamState::Healthy);
    r.sim.set_ws_silent(false);
    r.wait_status(
        "healthy on a new connection",
        Duration::from_secs(10),
        |s| s.state == StreamState::Healthy && s.reconnects >= 1,
    )
    .await;
    assert!(r.sim.ws_connections_total() > total);

    // And fills flow again.
    let order_id = r.outside("BUY", "MARKET", &[]);
    common::wait_until(
        "a fill after the replacement",
        Duration::from_secs(2),
        || fills(&r.db, order_id) == 1,
    )
    .await;
    r.daemon.stop().await;
}

#[tokio::test]
async fn a_replayed_event_is_not_stored_twice() {
    let r = Running::healthy(fast()).await;
    let order_id = r.outside("BUY", "MARKET", &[]);
    common::wait_until("the fill", Duration::from_secs(2), || {
        fills(&r.db, order_id) == 1
    })
    .await;
    let committed = r
        .wait_status("the account position too", Duration::from_secs(2), |s| {
            s.events_committed >= 3
        })
        .await
        .events_committed;
    let executions = count(&r.db, "SELECT COUNT(*) FROM executions");
    let changes = count(&r.db, "SELECT COUNT(*) FROM balance_changes");

    // The exchange sends the same frames again (NEW, TRADE, account position).
    r.sim.replay_ws_events(3);
    r.wait_status("the replay received", Duration::from_secs(2), |s| {
        s.events_committed >= committed + 3
    })
    .await;
    assert_eq!(count(&r.db, "SELECT COUNT(*) FROM executions"), executions);
    assert_eq!(
        count(&r.db, "SELECT COUNT(*) FROM balance_changes"),
        changes
    );
    assert_eq!(fills(&r.db, order_id), 1);
    r.daemon.stop().await;
}

#[tokio::test]
async fn a_rejected_key_is_reported_and_not_retried_in_a_storm() {
    let r = Running::start(fast(), |sim| {
        sim.set_ws_subscribe_error(Some((
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.".to_string(),
        )));
    })
    .await;
    let s = r
        .wait_status("the rejection", Duration::from_secs(10), |s| {
            s.state == StreamState::Rejected
        })
        .await;
    assert!(
        s.last_error.as_deref().is_some_and(|e| e.contains("-2015")),
        "{s:?}"
    );
    let attempts = r.sim.ws_connections_total();
    // Two more beats pass (4 s, 80 times the first backoff): no new attempt.
    let beats = common::heartbeat_count(&r.db);
    common::wait_until("two more beats", Duration::from_secs(10), || {
        common::heartbeat_count(&r.db) >= beats + 2
    })
    .await;
    assert_eq!(r.sim.ws_connections_total(), attempts);
    assert_eq!(r.status().state, StreamState::Rejected);
    r.wait_log("rejected the api key").await;
    let log = r.log();
    assert!(!log.contains(TEST_API_SECRET) && !log.contains(TEST_API_KEY));
    r.daemon.stop().await;
}

#[tokio::test]
async fn unknown_events_are_kept_raw_and_logged_once_and_balances_follow_the_account() {
    let r = Running::healthy(fast()).await;
    let before = r.status().events_committed;
    r.sim
        .push_ws_event(json!({"e": "somethingNew", "E": 1_800_000_000_000i64, "x": 1}));
    r.sim
        .push_ws_event(json!({"e": "somethingNew", "E": 1_800_000_000_001i64, "x": 2}));
    r.sim.deposit("USDT", "100.00000000");
    r.wait_status("the events", Duration::from_secs(2), |s| {
        s.events_committed >= before + 4
    })
    .await;
    assert_eq!(
        count(
            &r.db,
            "SELECT COUNT(*) FROM user_events WHERE event_type = 'somethingNew'"
        ),
        2
    );
    r.wait_log("unknown user-data event type").await;
    assert_eq!(
        r.log().matches("unknown user-data event type").count(),
        1,
        "{}",
        r.log()
    );
    assert_eq!(
        count(
            &r.db,
            "SELECT COUNT(*) FROM balance_changes WHERE asset = 'USDT' AND event_type = 'balanceUpdate'"
        ),
        1
    );
    // Balances are the exchange's, exactly.
    for b in r.sim.balances() {
        let stored: (String, String) = common::read_db(&r.db)
            .query_row(
                "SELECT free, locked FROM balances WHERE asset = ?1",
                params![b.asset],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap_or_else(|e| panic!("balance of {} not stored: {e}", b.asset));
        let dec = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
        assert_eq!(
            (dec(&stored.0), dec(&stored.1)),
            (dec(&b.free), dec(&b.locked)),
            "{}",
            b.asset
        );
    }
    r.daemon.stop().await;
}

#[tokio::test]
async fn the_connection_is_renewed_before_its_limit_without_losing_a_fill() {
    let mut options = fast();
    // Renew every second or so (half-way between the test config's 2 s beats).
    options.renew_after = Duration::from_millis(500);
    let r = Running::healthy(options).await;
    let mut ids = Vec::new();
    while r.status().reconnects < 3 {
        ids.push(r.outside("BUY", "MARKET", &[]));
        ids.push(r.outside("SELL", "MARKET", &[]));
        // Pace the orders by the stream itself: wait for this pair's rows.
        let last = *ids.last().unwrap();
        common::wait_until("the pair's fills", Duration::from_secs(10), || {
            fills(&r.db, last) == 1
        })
        .await;
    }
    r.wait_status("healthy", Duration::from_secs(10), |s| {
        s.state == StreamState::Healthy
    })
    .await;
    matches_exchange(&r.sim, &r.db).unwrap();
    r.wait_log("renewed").await;
    r.daemon.stop().await;
}

/// The "done when": connections dropped at random moments during many fills; the
/// database ends with every fill exactly once and every order in its final state.
#[tokio::test]
async fn random_drops_during_many_fills_lose_nothing() {
    let seed = std::env::var("TRADEBEAT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("TRADEBEAT_TEST_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let r = Running::healthy(fast()).await;
    let mut drops = 0;
    for i in 0..150 {
        if rng.f64() < 0.1 {
            r.sim.drop_ws_connections();
            drops += 1;
            // Sometimes let it come back (and reconcile) first, sometimes not.
            if rng.bool() {
                r.wait_status("healthy after a drop", Duration::from_secs(10), |s| {
                    s.state == StreamState::Healthy
                })
                .await;
            }
        }
        match i % 5 {
            0 | 1 => {
                r.outside("BUY", "MARKET", &[]);
            }
            2 | 3 => {
                r.outside("SELL", "MARKET", &[]);
            }
            _ => {
                r.outside(
                    "BUY",
                    "LIMIT",
                    &[("timeInForce", "GTC"), ("price", "64500.00")],
                );
            }
        }
        if i % 25 == 24 {
            // The market dips: the resting buys fill.
            r.sim.set_order_price("BTCUSDT", Some("64400.00"));
            r.sim.set_order_price("BTCUSDT", Some(PRICE));
        }
        if rng.f64() < 0.3 {
            tokio::task::yield_now().await;
        }
    }
    println!("{drops} drops over 150 orders");
    let mut last = Err(String::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        last = matches_exchange(&r.sim, &r.db);
        if last.is_ok() && r.status().state == StreamState::Healthy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last.unwrap_or_else(|e| panic!("seed {seed}: {e}; status {:?}", r.status()));
    let trades = count(
        &r.db,
        "SELECT COUNT(*) FROM executions WHERE trade_id IS NOT NULL",
    );
    let filled = r
        .sim
        .orders()
        .iter()
        .filter(|o| o.status == "FILLED")
        .count();
    assert_eq!(trades, i64::try_from(filled).unwrap(), "seed {seed}");
    assert!(drops > 0, "seed {seed}: no drop happened");
    r.daemon.stop().await;
}

/// Waits (tightly) until the simulator has a subscribed user-data connection.
async fn wait_subscribed(sim: &SimHandle) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.ws_subscriptions_active() == 0 {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for a subscription"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Waits until the stored orders and fills match the simulator's; panics with `what`.
async fn wait_matches(r: &Running, what: &str) {
    let mut last = Err(String::new());
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        last = matches_exchange(&r.sim, &r.db);
        if last.is_ok() && r.status().state == StreamState::Healthy {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: {last:?}; status {:?}", r.status());
}

/// Two resting buys (A above B) placed elsewhere, both stored from the stream.
async fn two_resting(r: &Running) -> (i64, i64) {
    let a = r.outside(
        "BUY",
        "LIMIT",
        &[("timeInForce", "GTC"), ("price", "64000.00")],
    );
    let b = r.outside(
        "BUY",
        "LIMIT",
        &[("timeInForce", "GTC"), ("price", "63000.00")],
    );
    common::wait_until("A and B stored", Duration::from_secs(5), || {
        order_row(&r.db, a).is_some() && order_row(&r.db, b).is_some()
    })
    .await;
    (a, b)
}

/// The market dips to `price` and comes back: the resting buys at or above it fill.
fn dip(sim: &SimHandle, price: &str) {
    sim.set_order_price("BTCUSDT", Some(price));
    sim.set_order_price("BTCUSDT", Some(PRICE));
}

/// The repro, repeated with random timing: two resting orders A and B, the stream
/// dropped, A filled during the outage, B filled right after the resubscription (the new
/// stream stores B's fill while the catch-up is still running, its requests slowed or
/// failing at random). Every fill the simulator made ends with its `executions` row. Before
/// the catch-up was driven by the trade-id checkpoint, B's fill moved `MAX(trade_id)` past
/// A's and A's fill was never fetched.
#[tokio::test]
async fn a_fill_in_an_outage_is_kept_when_the_next_fill_comes_first_on_the_new_stream() {
    let seed = std::env::var("TRADEBEAT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("TRADEBEAT_TEST_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let r = Running::healthy(fast()).await;
    // No fill yet: the first catch-up found none, so later ones page from trade id 0.
    assert_eq!(
        count(
            &r.db,
            "SELECT next_trade_id FROM trade_checkpoints WHERE symbol = 'BTCUSDT'"
        ),
        0
    );
    for round in 0..8 {
        let (a, b) = two_resting(&r).await;
        r.sim.set_ws_refuse_connections(true);
        r.sim.drop_ws_connections();
        r.wait_status("the stream to notice", Duration::from_secs(5), |s| {
            s.state != StreamState::Healthy
        })
        .await;
        dip(&r.sim, "63990.00"); // A fills while nobody listens
        // The catch-up after the reconnect is slow, or fails a few times first.
        r.sim.set_latency(Duration::from_millis(rng.u64(20..200)));
        let failing = rng.bool();
        if failing {
            r.sim.set_error_rate_5xx(1.0);
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(0..300))).await; // the outage
        r.sim.set_ws_refuse_connections(false);
        wait_subscribed(&r.sim).await;
        tokio::time::sleep(Duration::from_millis(rng.u64(0..20))).await;
        dip(&r.sim, "62990.00"); // B fills on the new stream
        common::wait_until("B's fill from the stream", Duration::from_secs(5), || {
            fills(&r.db, b) == 1
        })
        .await;
        r.sim.set_error_rate_5xx(0.0);
        wait_matches(
            &r,
            &format!("seed {seed} round {round} (failing {failing})"),
        )
        .await;
        r.sim.set_latency(Duration::ZERO);
        assert_eq!((fills(&r.db, a), fills(&r.db, b)), (1, 1), "seed {seed}");
    }
    r.daemon.stop().await;
}

/// The same outage, and the daemon restarted before any catch-up succeeded (the exchange's
/// REST answers 503 meanwhile): A's fill, made while nothing listened, is fetched by the
/// next process although B's, newer, was stored first.
#[tokio::test]
async fn a_fill_in_an_outage_is_fetched_after_a_restart() {
    let r = Running::healthy(fast()).await;
    let (a, b) = two_resting(&r).await;
    r.sim.set_ws_refuse_connections(true);
    r.sim.drop_ws_connections();
    r.wait_status("the stream to notice", Duration::from_secs(5), |s| {
        s.state != StreamState::Healthy
    })
    .await;
    dip(&r.sim, "63990.00");
    r.sim.set_error_rate_5xx(1.0);
    r.sim.set_ws_refuse_connections(false);
    wait_subscribed(&r.sim).await;
    dip(&r.sim, "62990.00");
    common::wait_until("B's fill from the stream", Duration::from_secs(5), || {
        fills(&r.db, b) == 1
    })
    .await;
    assert_eq!(fills(&r.db, a), 0);
    assert_ne!(r.status().state, StreamState::Healthy);

    let r = r.restart(fast()).await;
    r.sim.set_error_rate_5xx(0.0);
    wait_matches(&r, "after the restart").await;
    assert_eq!((fills(&r.db, a), fills(&r.db, b)), (1, 1));
    r.daemon.stop().await;
}

/// A `tradebeat run` child process, killed with SIGKILL when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill(); // SIGKILL: no shutdown path runs
        let _ = self.0.wait();
    }
}

/// Waits until the simulator has no subscribed user-data connection (a killed daemon's
/// socket is closed by the kernel).
async fn wait_unsubscribed(sim: &SimHandle) {
    common::wait_until("no subscription", Duration::from_secs(10), || {
        sim.ws_subscriptions_active() == 0
    })
    .await;
}

/// The outage repro across `kill -9` at random moments: in each cycle the real daemon runs,
/// two resting orders A and B are stored, the stream drops, A fills, the stream comes back
/// (its catch-up slowed), B fills on the new stream, and the process is killed at a random
/// moment (before or after B's fill is stored, during the catch-up). A last daemon then
/// stores every fill the simulator made, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fills_made_around_kill_9_at_random_moments_are_all_stored() {
    let seed = std::env::var("TRADEBEAT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("TRADEBEAT_TEST_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let sim = common::sim().await;
    sim.set_order_price("BTCUSDT", Some(PRICE));
    let tmp = common::tempdir();
    let dir = tmp.path();
    let db = dir.join("data/tradebeat.db");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[exchange]\nrest_url = \"{}\"\nws_api_url = \"{}\"\n\n[heartbeat]\nperiod_secs = 2\noffset_secs = 1\n\n\
             [market_data]\nsymbols = [\"BTCUSDT\"]\nintervals = [\"1m\"]\nbackfill_days = 1\n\n\
             [storage]\ndatabase = \"data/tradebeat.db\"\n\n[logging]\ndir = \"logs\"\n",
            sim.base_url(),
            sim.ws_api_url()
        ),
    )
    .unwrap();
    let spawn = || {
        let mut cmd = common::tradebeat_command(dir);
        cmd.args(["run", "--config"])
            .arg(&config)
            .env("TRADEBEAT_EXCHANGE__API_KEY", TEST_API_KEY)
            .env("TRADEBEAT_EXCHANGE__API_SECRET", TEST_API_SECRET)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        Child(cmd.spawn().expect("tradebeat starts"))
    };
    let place = |price: &str| {
        sim.place_order(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.00100000"),
            ("price", price),
        ])
        .expect("placed")["orderId"]
            .as_i64()
            .expect("orderId")
    };
    for cycle in 0..4 {
        let child = spawn();
        wait_subscribed(&sim).await;
        let (a, b) = (place("64000.00"), place("63000.00"));
        common::wait_until("A and B stored", Duration::from_secs(10), || {
            db.exists() && order_row(&db, a).is_some() && order_row(&db, b).is_some()
        })
        .await;
        sim.set_ws_refuse_connections(true);
        sim.drop_ws_connections();
        wait_unsubscribed(&sim).await;
        dip(&sim, "63990.00"); // A fills while nobody listens
        sim.set_latency(Duration::from_millis(rng.u64(50..300)));
        sim.set_ws_refuse_connections(false);
        wait_subscribed(&sim).await;
        dip(&sim, "62990.00"); // B fills on the new stream
        if rng.bool() {
            common::wait_until("B's fill from the stream", Duration::from_secs(5), || {
                fills(&db, b) == 1
            })
            .await;
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(0..600))).await; // a random moment
        drop(child); // kill -9
        sim.set_latency(Duration::ZERO);
        wait_unsubscribed(&sim).await;
        println!(
            "cycle {cycle}: at the kill, A {} fill rows, B {}",
            fills(&db, a),
            fills(&db, b)
        );
    }
    let _last = spawn();
    let mut last = Err(String::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        last = matches_exchange(&sim, &db);
        if last.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let filled = sim.orders().iter().filter(|o| o.status == "FILLED").count();
    assert_eq!(filled, 8, "seed {seed}");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM executions WHERE trade_id IS NOT NULL"
        ),
        8,
        "seed {seed}"
    );
}
