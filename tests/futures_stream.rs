//! The futures user-data stream (USDⓈ-M) end to end against the simulator: a listen key,
//! its WebSocket, the events written to `executions`, `orders`, `balances` and
//! `positions`, and the faults (an expired key, a dropped stream while orders fill, a
//! rejected API key). The stream runs as the daemon runs it (`UserStream::futures` with the
//! market's `Orders` and venue), on a fresh database; tests wait for conditions with
//! deadlines, never for a fixed time.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use exchange_sim::{SimHandle, TEST_API_KEY, TEST_API_SECRET};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tradebeat::clock::{BeatSchedule, Clock};
use tradebeat::domain::{
    Credentials, Market, OrderRequest, OrderType, Secret, Side, StreamState, UserStreamStatus,
};
use tradebeat::exchange::{ClientOptions, FuturesClient, Network};
use tradebeat::orders::Orders;
use tradebeat::store::Store;
use tradebeat::user_stream::{
    FuturesStreamOptions, UserStream, UserStreamHandle, UserStreamOptions,
};

/// Short timings: a silent connection is found in 1.5 s, reconnects start at 50 ms.
fn fast() -> FuturesStreamOptions {
    FuturesStreamOptions {
        stream: UserStreamOptions {
            silence_timeout: Duration::from_millis(1500),
            keepalive_after: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(1),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_millis(400),
            rejected_retry: Duration::from_secs(300),
            renew_after: Duration::from_secs(23 * 3600),
            reconcile_retry: Duration::from_millis(100),
        },
        listen_key_keepalive: Duration::from_secs(30 * 60),
    }
}

struct Running {
    sim: SimHandle,
    _dir: TempDir,
    db: PathBuf,
    orders: Orders,
    handle: UserStreamHandle,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    /// A USDⓈ-M stream for `api_key` on a fresh simulator (BTCUSDT at 50 000).
    async fn start_with_key(options: FuturesStreamOptions, api_key: &str) -> Running {
        let sim = common::sim().await;
        sim.usdm().set_last_price("BTCUSDT", Some("50000.0"));
        let dir = common::tempdir();
        let db = dir.path().join("tradebeat.db");
        let store = Store::open(&db).expect("database");
        let clock = Clock::system();
        let client = FuturesClient::usdm(
            ClientOptions::for_network(
                Network::Testnet,
                Some(sim.usdm().url()),
                Duration::from_secs(2),
            )
            .expect("options"),
            clock.clone(),
        )
        .expect("client");
        let credentials = Credentials {
            api_key: Secret::new(api_key),
            api_secret: Secret::new(TEST_API_SECRET),
        };
        let orders = Orders::futures(
            &client,
            Some(&credentials),
            5000,
            store.clone(),
            clock.clone(),
        )
        .expect("orders");
        let (stream, handle) = UserStream::futures(
            &sim.usdm().ws_url(),
            &credentials,
            5000,
            &client,
            orders.clone(),
            store,
            clock,
            BeatSchedule::new(2, 1).expect("schedule"),
            options,
        )
        .expect("stream");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(stream.run(shutdown.clone()));
        Running {
            sim,
            _dir: dir,
            db,
            orders,
            handle,
            shutdown,
            task,
        }
    }

    async fn start(options: FuturesStreamOptions) -> Running {
        Running::start_with_key(options, TEST_API_KEY).await
    }

    /// Started and reconciled.
    async fn healthy(options: FuturesStreamOptions) -> Running {
        let r = Running::start(options).await;
        r.wait_status("the stream healthy", |s| s.state == StreamState::Healthy)
            .await;
        r
    }

    async fn wait_status(
        &self,
        what: &str,
        pred: impl FnMut(&UserStreamStatus) -> bool,
    ) -> UserStreamStatus {
        let mut rx = self.handle.watch();
        match tokio::time::timeout(Duration::from_secs(20), rx.wait_for(pred)).await {
            Ok(Ok(s)) => s.clone(),
            _ => panic!("timed out waiting for {what}: {:?}", self.handle.status()),
        }
    }

    fn count(&self, sql: &str) -> i64 {
        common::read_db(&self.db)
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or(0)
    }

    async fn wait_count(&self, what: &str, sql: &str, want: i64) {
        common::wait_until(what, Duration::from_secs(20), || self.count(sql) == want).await;
    }

    /// A MARKET order of `qty` BTCUSDT through the orders component (it fills at once).
    async fn market(&self, side: Side, qty: &str) -> i64 {
        let mut request = OrderRequest::new("BTCUSDT".parse().unwrap(), side, OrderType::Market);
        request.market = Market::UsdM;
        request.quantity = Some(qty.parse::<Decimal>().unwrap());
        let row = self.orders.place(request).await.expect("order placed");
        row.order_id.expect("order id")
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("stream stops")
            .expect("stream task");
    }
}

/// A recorded payload (`tests/data/futures_user_data/<name>`), the event object only.
fn recorded(name: &str) -> Value {
    let path = format!(
        "{}/tests/data/futures_user_data/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.get("data").cloned().unwrap_or(v)
}

#[tokio::test]
async fn pushed_events_land_in_executions_orders_balances_and_positions_once() {
    let r = Running::healthy(fast()).await;
    let usdm = r.sim.usdm();
    let fill = recorded("order_update_trade.json");
    usdm.push_user_event(fill.clone());
    // Newer than the account snapshot the reconciliation stored (older updates are ignored).
    let mut account = recorded("account_update.json");
    let now = usdm.now_ms() + 1000;
    account["E"] = json!(now);
    account["T"] = json!(now);
    usdm.push_user_event(account);
    usdm.push_user_event(json!({"e":"MARGIN_CALL","E":1587727187525_i64,"cw":"3.16812045","p":[{"s":"ETHUSDT","ps":"LONG","pa":"1.327","mt":"CROSSED","iw":"0","mp":"187.17127","up":"-1.166074","mm":"1.614445"}]}));
    r.wait_count(
        "the fill",
        "SELECT COUNT(*) FROM executions WHERE event_key = 'trade:12345678'",
        1,
    )
    .await;
    r.wait_count("the positions", "SELECT COUNT(*) FROM positions", 3)
        .await;
    r.wait_count(
        "the margin call kept raw",
        "SELECT COUNT(*) FROM user_events WHERE event_type = 'MARGIN_CALL'",
        1,
    )
    .await;
    let db = common::read_db(&r.db);
    let execution: (String, String, String, String) = db
        .query_row(
            "SELECT market, realized_pnl, commission, commission_asset FROM executions
             WHERE event_key = 'trade:12345678'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        execution,
        (
            "usdm".into(),
            "12.34".into(),
            "0.01000000".into(),
            "USDT".into()
        )
    );
    // The order was not placed by tradebeat: imported from the event.
    let status: String = db
        .query_row(
            "SELECT status FROM orders WHERE market = 'usdm' AND order_id = 8886774",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(status, "PARTIALLY_FILLED");
    let long: String = db
        .query_row(
            "SELECT quantity FROM positions WHERE market = 'usdm' AND symbol = 'BTCUSDT'
             AND position_side = 'LONG'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(long, "20");
    let wallet: String = db
        .query_row(
            "SELECT free FROM balances WHERE market = 'usdm' AND asset = 'USDT'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(wallet, "122624.12345678");
    // The same event again (as after a reconnect): still one row.
    let committed = r.handle.status().events_committed;
    usdm.push_user_event(fill);
    r.wait_status("the replay committed", |s| s.events_committed > committed)
        .await;
    assert_eq!(
        r.count("SELECT COUNT(*) FROM executions WHERE event_key = 'trade:12345678'"),
        1
    );
    assert!(r.handle.status().last_event_time.is_some());
    r.stop().await;
}

#[tokio::test]
async fn a_malformed_event_is_kept_raw_and_the_events_after_it_are_applied() {
    let r = Running::healthy(fast()).await;
    let usdm = r.sim.usdm();
    let mut bad = recorded("order_update_trade.json");
    bad["o"]["X"] = Value::String("NOT_A_STATUS".into());
    usdm.push_user_event(bad);
    usdm.push_user_event(json!({"e":"STRATEGY_UPDATE","E":7,"su":{}}));
    usdm.push_user_event(recorded("order_update_settlement.json"));
    r.wait_count(
        "the event after the malformed one",
        "SELECT COUNT(*) FROM executions WHERE event_key = 'trade:12346002'",
        1,
    )
    .await;
    r.wait_count(
        "the malformed and the unknown event kept raw",
        "SELECT COUNT(*) FROM user_events",
        2,
    )
    .await;
    assert_eq!(
        r.count(
            "SELECT COUNT(*) FROM user_events WHERE event_type = 'ORDER_TRADE_UPDATE'
             AND error LIKE '%o.X%'"
        ),
        1
    );
    // Nothing of the malformed fill was written.
    assert_eq!(
        r.count("SELECT COUNT(*) FROM executions WHERE event_key = 'trade:12345678'"),
        0
    );
    r.stop().await;
}

#[tokio::test]
async fn an_expired_listen_key_gets_a_new_key_and_connection_and_no_fill_is_lost() {
    let r = Running::healthy(fast()).await;
    let usdm = r.sim.usdm();
    let first_key = usdm.listen_keys();
    assert_eq!(first_key.len(), 1);
    // The key runs out (nobody keeps it alive within a second).
    usdm.set_listen_key_ttl(Duration::from_millis(800));
    let status = r
        .wait_status("a renewal after listenKeyExpired", |s| s.reconnects >= 1)
        .await;
    usdm.set_listen_key_ttl(Duration::from_secs(3600));
    assert!(
        usdm.user_events()
            .iter()
            .any(|e| e["e"] == "listenKeyExpired"),
        "the simulator sent listenKeyExpired"
    );
    assert!(status.reconnects >= 1);
    common::wait_until("a new key", Duration::from_secs(10), || {
        let keys = usdm.listen_keys();
        keys.len() == 1 && keys != first_key
    })
    .await;
    assert!(usdm.user_stream_connections_total() >= 2);
    r.wait_status("healthy on the new key", |s| {
        s.state == StreamState::Healthy
    })
    .await;
    // Fills after the switch arrive on the new connection.
    let order_id = r.market(Side::Buy, "0.010").await;
    r.wait_count(
        "the fill on the new key",
        &format!(
            "SELECT COUNT(*) FROM executions WHERE order_id = {order_id} AND trade_id IS NOT NULL"
        ),
        1,
    )
    .await;
    r.wait_count(
        "the position",
        "SELECT COUNT(*) FROM positions WHERE symbol = 'BTCUSDT' AND quantity = '0.010'",
        1,
    )
    .await;
    r.stop().await;
}

#[tokio::test]
async fn a_stream_dropped_while_orders_fill_loses_no_fill() {
    let r = Running::healthy(fast()).await;
    let usdm = r.sim.usdm();
    let before = r.handle.status().reconnects;
    // The stream goes down and stays down while three orders fill.
    usdm.refuse_user_stream_connects(true);
    usdm.drop_user_streams();
    r.wait_status("the drop seen", |s| s.connected_since.is_none())
        .await;
    let mut ids = Vec::new();
    for side in [Side::Buy, Side::Buy, Side::Sell] {
        ids.push(r.market(side, "0.005").await);
    }
    usdm.refuse_user_stream_connects(false);
    r.wait_status("reconnected and reconciled", |s| {
        s.reconnects > before && s.state == StreamState::Healthy
    })
    .await;
    // Every fill the exchange made is stored, once, with its realized profit.
    let trades = usdm.trades();
    assert_eq!(trades.len(), 3);
    for t in &trades {
        r.wait_count(
            "a fill made while disconnected",
            &format!(
                "SELECT COUNT(*) FROM executions WHERE market = 'usdm' AND trade_id = {}",
                t.id
            ),
            1,
        )
        .await;
    }
    assert_eq!(
        r.count("SELECT COUNT(*) FROM executions WHERE trade_id IS NOT NULL"),
        3
    );
    assert_eq!(
        r.count("SELECT COUNT(*) FROM executions WHERE trade_id IS NOT NULL AND realized_pnl IS NOT NULL"),
        3
    );
    for id in ids {
        assert_eq!(
            r.count(&format!(
                "SELECT COUNT(*) FROM orders WHERE order_id = {id} AND status = 'FILLED'"
            )),
            1
        );
    }
    r.wait_count(
        "the position after the three fills",
        "SELECT COUNT(*) FROM positions WHERE symbol = 'BTCUSDT' AND position_side = 'BOTH'
         AND CAST(quantity AS REAL) = 0.005",
        1,
    )
    .await;
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_listen_key_is_kept_alive_with_put_after_30_minutes() {
    // Tokio's time is paused: it jumps ahead whenever every task waits. The production
    // keep-alive period (30 min); silence checks far apart, so the half hour passes in
    // few steps.
    let mut options = fast();
    options.listen_key_keepalive = FuturesStreamOptions::default().listen_key_keepalive;
    assert_eq!(options.listen_key_keepalive, Duration::from_secs(30 * 60));
    options.stream.keepalive_after = Duration::from_secs(2 * 3600);
    options.stream.silence_timeout = Duration::from_secs(2 * 3600);
    let r = Running::healthy(options).await;
    let usdm = r.sim.usdm();
    let key = usdm.listen_keys();
    let puts = || {
        usdm.request_log()
            .iter()
            .filter(|q| q.method == "PUT" && q.path == "/fapi/v1/listenKey" && q.status == 200)
            .count()
    };
    tokio::time::sleep(Duration::from_secs(29 * 60)).await;
    assert_eq!(puts(), 0, "no keep-alive before 30 minutes");
    tokio::time::sleep(Duration::from_secs(61)).await;
    common::wait_until("the keep-alive PUT", Duration::from_secs(10), || {
        puts() >= 1
    })
    .await;
    assert_eq!(puts(), 1, "one keep-alive after 30 minutes");
    // Kept alive, not replaced.
    assert_eq!(usdm.listen_keys(), key);
    assert_eq!(r.handle.status().reconnects, 0);
    r.stop().await;
}

/// The `DELETE …/listenKey` requests the simulator answered with `status`.
fn key_deletes(log: &[exchange_sim::RequestRecord], path: &str, status: u16) -> usize {
    log.iter()
        .filter(|q| q.method == "DELETE" && q.path == path && q.status == status)
        .count()
}

#[tokio::test]
async fn at_shutdown_the_listen_key_is_deleted() {
    let r = Running::healthy(fast()).await;
    let sim = r.sim.clone();
    let usdm = sim.usdm();
    assert_eq!(usdm.listen_keys().len(), 1);
    assert_eq!(
        key_deletes(&usdm.request_log(), "/fapi/v1/listenKey", 200),
        0
    );
    r.stop().await;
    assert_eq!(
        key_deletes(&usdm.request_log(), "/fapi/v1/listenKey", 200),
        1
    );
    assert!(usdm.listen_keys().is_empty(), "the key is closed");
}

#[tokio::test]
async fn a_listen_key_delete_that_does_not_answer_does_not_hold_the_shutdown() {
    let r = Running::healthy(fast()).await;
    let sim = r.sim.clone();
    let usdm = sim.usdm();
    // Every answer of the market now takes 30 s.
    usdm.set_latency(Duration::from_secs(30));
    let started = std::time::Instant::now();
    r.stop().await;
    // Closing the connection, then at most a second for the DELETE.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        started.elapsed()
    );
    assert_eq!(
        key_deletes(&usdm.request_log(), "/fapi/v1/listenKey", 200),
        0
    );
    assert_eq!(usdm.listen_keys().len(), 1, "the key was left to expire");
}

#[tokio::test]
async fn a_rejected_api_key_is_reported_and_not_retried_in_a_storm() {
    let r = Running::start_with_key(fast(), "not-the-test-key").await;
    let status = r
        .wait_status("rejected", |s| s.state == StreamState::Rejected)
        .await;
    assert!(status.last_error.is_some());
    let posts = || {
        r.sim
            .usdm()
            .request_log()
            .iter()
            .filter(|q| q.method == "POST" && q.path == "/fapi/v1/listenKey")
            .count()
    };
    // 1.5 s of the exchange's time (30 times the first backoff): no new attempt.
    let since = r.sim.usdm().now_ms();
    common::wait_until("1.5 s of exchange time", Duration::from_secs(10), || {
        r.sim.usdm().now_ms() >= since + 1500
    })
    .await;
    assert_eq!(posts(), 1, "one attempt, then the slow retry");
    assert_eq!(r.handle.status().state, StreamState::Rejected);
    r.stop().await;
}

#[tokio::test]
async fn the_daemon_runs_a_stream_per_futures_market_and_status_shows_each() {
    let sim = common::sim().await;
    let dir = common::tempdir();
    let mut config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    config.exchange.usdm_rest_url = Some(sim.usdm().url().to_string());
    config.exchange.usdm_ws_url = Some(sim.usdm().ws_url());
    config.exchange.coinm_rest_url = Some(sim.coinm().url().to_string());
    config.exchange.coinm_ws_url = Some(sim.coinm().ws_url());
    config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
    config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
    // Both futures markets in use (a followed symbol each): both streams start.
    config.market_data.usdm_symbols = vec!["BTCUSDT".parse().unwrap()];
    config.market_data.coinm_symbols = vec!["BTCUSD_PERP".parse().unwrap()];
    let socket = config.control.socket.clone();
    let (daemon, handles) = common::InProcess::start_options(
        config,
        tradebeat::daemon::RunOptions {
            futures_user_stream: fast(),
            ..tradebeat::daemon::RunOptions::default()
        },
    )
    .await;
    let markets: Vec<Market> = handles
        .futures_user_streams
        .iter()
        .map(|(m, _)| *m)
        .collect();
    assert_eq!(markets, vec![Market::UsdM, Market::CoinM]);
    for (market, handle) in &handles.futures_user_streams {
        let mut rx = handle.watch();
        tokio::time::timeout(
            Duration::from_secs(20),
            rx.wait_for(|s| s.state == StreamState::Healthy),
        )
        .await
        .unwrap_or_else(|_| panic!("{market} stream healthy: {:?}", handle.status()))
        .expect("status");
    }
    assert_eq!(sim.usdm().user_stream_connections(), 1);
    assert_eq!(sim.coinm().user_stream_connections(), 1);
    let mut client = tradebeat::control::Client::connect(&socket)
        .await
        .expect("control socket");
    let status = client
        .call::<tradebeat::control::protocol::Status>(&tradebeat::control::protocol::NoParams {})
        .await
        .expect("status");
    for m in &status.futures {
        let stream = m.user_stream.as_ref().expect("a stream per futures market");
        assert_eq!(stream.state, StreamState::Healthy, "{}", m.market);
        assert!(stream.connected_since.is_some());
    }
    assert_eq!(status.futures.len(), 2);
    daemon.stop().await;
    // Each stream closed its listen key at shutdown.
    assert_eq!(
        key_deletes(&sim.usdm().request_log(), "/fapi/v1/listenKey", 200),
        1
    );
    assert_eq!(
        key_deletes(&sim.coinm().request_log(), "/dapi/v1/listenKey", 200),
        1
    );
}

/// One JSON-RPC call on the control socket; the result or the error object as JSON.
async fn rpc(socket: &std::path::Path, method: &str, params: Value) -> Result<Value, Value> {
    let mut client = tradebeat::control::Client::connect(socket)
        .await
        .expect("control socket")
        .with_timeout(Duration::from_secs(20));
    let line = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    client
        .send_raw(format!("{line}\n").as_bytes())
        .await
        .expect("send");
    client
        .read_response()
        .await
        .expect("response")
        .into_result()
        .map_err(|e| serde_json::to_value(e).expect("error as JSON"))
}

async fn wait_stream(
    handle: &UserStreamHandle,
    what: &str,
    pred: impl FnMut(&UserStreamStatus) -> bool,
) {
    let mut rx = handle.watch();
    if tokio::time::timeout(Duration::from_secs(20), rx.wait_for(pred))
        .await
        .is_err()
    {
        panic!("timed out waiting for {what}: {:?}", handle.status());
    }
}

#[tokio::test]
async fn a_spot_only_user_sends_nothing_to_futures_until_a_futures_market_is_used() {
    let sim = common::sim().await;
    sim.coinm().set_last_price("BTCUSD_PERP", Some("50000"));
    let dir = common::tempdir();
    let mut config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    config.exchange.usdm_rest_url = Some(sim.usdm().url().to_string());
    config.exchange.usdm_ws_url = Some(sim.usdm().ws_url());
    config.exchange.coinm_rest_url = Some(sim.coinm().url().to_string());
    config.exchange.coinm_ws_url = Some(sim.coinm().ws_url());
    config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
    config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
    let socket = config.control.socket.clone();
    let (daemon, handles) = common::InProcess::start_options(
        config,
        tradebeat::daemon::RunOptions {
            futures_user_stream: fast(),
            ..tradebeat::daemon::RunOptions::default()
        },
    )
    .await;
    // Spot runs: beats and a healthy spot stream (its reconciliation done).
    wait_stream(&handles.user_stream, "the spot stream healthy", |s| {
        s.state == StreamState::Healthy
    })
    .await;
    let db = daemon.db.clone();
    common::wait_until("two beats", Duration::from_secs(20), || {
        common::heartbeat_count(&db) >= 2
    })
    .await;
    let stream = |market: Market| {
        handles
            .futures_user_streams
            .iter()
            .find(|(m, _)| *m == market)
            .map(|(_, h)| h.clone())
            .expect("a stream handle per futures market")
    };
    let futures_paths = |log: Vec<exchange_sim::RequestRecord>| {
        log.into_iter()
            .filter(|q| q.path.starts_with("/fapi") || q.path.starts_with("/dapi"))
            .count()
    };
    // Nothing reached either futures listener, nor a futures path on the spot one.
    assert_eq!(sim.usdm().request_log().len(), 0, "USD-M requests");
    assert_eq!(sim.coinm().request_log().len(), 0, "COIN-M requests");
    assert_eq!(futures_paths(sim.request_log()), 0);
    assert!(sim.usdm().listen_keys().is_empty());
    assert!(sim.coinm().listen_keys().is_empty());
    assert_eq!(stream(Market::UsdM).status().state, StreamState::Off);
    assert_eq!(stream(Market::CoinM).status().state, StreamState::Off);
    // `position.list` without a market shows the stored positions of the markets in use:
    // it asks neither futures host.
    let positions = rpc(&socket, "position.list", json!({}))
        .await
        .expect("positions listed");
    assert_eq!(positions, json!([]));
    assert_eq!(sim.usdm().request_log().len(), 0, "USD-M requests");
    assert_eq!(sim.coinm().request_log().len(), 0, "COIN-M requests");

    // A USD-M symbol added: USD-M's stream starts, without a restart; COIN-M stays quiet.
    rpc(
        &socket,
        "symbol.add",
        json!({"symbol": "BTCUSDT", "market": "usdm"}),
    )
    .await
    .expect("symbol added");
    wait_stream(&stream(Market::UsdM), "the USD-M stream healthy", |s| {
        s.state == StreamState::Healthy
    })
    .await;
    assert_eq!(sim.usdm().listen_keys().len(), 1);
    assert_eq!(sim.coinm().request_log().len(), 0, "COIN-M requests");

    // An order placed on COIN-M: its stream starts too.
    let placed = rpc(
        &socket,
        "order.place",
        json!({"market": "coinm", "symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT",
               "time_in_force": "GTC", "quantity": "1", "price": "48000.0"}),
    )
    .await
    .expect("order placed");
    assert_eq!(placed["status"], "NEW");
    wait_stream(&stream(Market::CoinM), "the COIN-M stream healthy", |s| {
        s.state == StreamState::Healthy
    })
    .await;
    assert_eq!(sim.coinm().listen_keys().len(), 1);
    daemon.stop().await;

    // Restarted on the same database, without futures symbols in the config: the symbol
    // and the order there put both markets in use at once.
    let mut config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    config.exchange.usdm_rest_url = Some(sim.usdm().url().to_string());
    config.exchange.usdm_ws_url = Some(sim.usdm().ws_url());
    config.exchange.coinm_rest_url = Some(sim.coinm().url().to_string());
    config.exchange.coinm_ws_url = Some(sim.coinm().ws_url());
    config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
    config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
    let (daemon, handles) = common::InProcess::start_options(
        config,
        tradebeat::daemon::RunOptions {
            futures_user_stream: fast(),
            ..tradebeat::daemon::RunOptions::default()
        },
    )
    .await;
    for (market, handle) in &handles.futures_user_streams {
        wait_stream(
            handle,
            &format!("the {market} stream healthy after the restart"),
            |s| s.state == StreamState::Healthy,
        )
        .await;
    }
    daemon.stop().await;
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_an_error_an_action_or_check_config_on_the_futures_path() {
    let sim = common::sim().await;
    sim.usdm().set_last_price("BTCUSDT", Some("50000"));
    let dir = common::tempdir();
    let mut config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    config.exchange.usdm_rest_url = Some(sim.usdm().url().to_string());
    config.exchange.usdm_ws_url = Some(sim.usdm().ws_url());
    config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
    config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
    config.market_data.usdm_symbols = vec!["BTCUSDT".parse().unwrap()];
    // The daemon's log files, everything at trace level (every task of this test runs on
    // its thread).
    config.logging.level = "debug".into();
    let (subscriber, guard) =
        tradebeat::logging::subscriber(&config.logging, Some("trace"), false).unwrap();
    let default = tracing::subscriber::set_default(subscriber);
    let mut seen = String::new();
    seen.push_str(&config.render_effective());
    seen.push_str(&format!("{config:?}"));
    let socket = config.control.socket.clone();
    let mut options = fast();
    options.listen_key_keepalive = Duration::from_millis(300);
    let (daemon, handles) = common::InProcess::start_options(
        config,
        tradebeat::daemon::RunOptions {
            futures_user_stream: options,
            ..tradebeat::daemon::RunOptions::default()
        },
    )
    .await;
    let usdm_stream = handles.futures_user_streams[0].1.clone();
    wait_stream(&usdm_stream, "the USD-M stream healthy", |s| {
        s.state == StreamState::Healthy
    })
    .await;

    // A keep-alive that fails (every answer 503 for a moment), then a new key.
    let failed_puts = || {
        sim.usdm()
            .request_log()
            .iter()
            .filter(|q| q.method == "PUT" && q.path == "/fapi/v1/listenKey" && q.status >= 500)
            .count()
    };
    sim.usdm().set_error_rate_5xx(1.0);
    common::wait_until("a failed keep-alive", Duration::from_secs(10), || {
        failed_puts() >= 1
    })
    .await;
    sim.usdm().set_error_rate_5xx(0.0);
    wait_stream(&usdm_stream, "healthy on a new connection", |s| {
        s.reconnects >= 1 && s.state == StreamState::Healthy
    })
    .await;

    // Placed, queried, cancelled; and one the exchange rejects (reduce-only, no position).
    let mut note = |r: &Result<Value, Value>| {
        seen.push_str(&format!("{r:?}\n"));
    };
    let placed = rpc(
        &socket,
        "order.place",
        json!({"market": "usdm", "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
               "time_in_force": "GTC", "quantity": "0.010", "price": "40000.0"}),
    )
    .await;
    note(&placed);
    let id = placed.expect("placed")["client_order_id"].clone();
    let which = json!({"market": "usdm", "symbol": "BTCUSDT", "client_order_id": id});
    let got = rpc(&socket, "order.get", which.clone()).await;
    note(&got);
    assert_eq!(got.expect("got")["status"], "NEW");
    let cancelled = rpc(&socket, "order.cancel", which).await;
    note(&cancelled);
    assert_eq!(cancelled.expect("cancelled")["status"], "CANCELED");
    let rejected = rpc(
        &socket,
        "order.place",
        json!({"market": "usdm", "symbol": "BTCUSDT", "side": "SELL", "type": "MARKET",
               "quantity": "0.010", "reduce_only": true}),
    )
    .await;
    note(&rejected);
    let rejection = rejected.expect_err("rejected");
    assert_eq!(
        rejection["data"]["code"], -2022,
        "the exchange's rejection: {rejection}"
    );
    // The error of a cancel of an order nobody knows.
    let unknown = rpc(
        &socket,
        "order.cancel",
        json!({"market": "usdm", "symbol": "BTCUSDT", "client_order_id": "nobody-knows"}),
    )
    .await;
    note(&unknown);
    assert!(unknown.is_err());
    let db = daemon.db.clone();
    daemon.stop().await;
    drop(default);
    drop(guard);

    // The actions rows of those requests, every column.
    let conn = common::read_db(&db);
    let mut stmt = conn
        .prepare(
            "SELECT method || ' ' || COALESCE(params, '') || ' ' || COALESCE(error_message, '')
             FROM actions",
        )
        .unwrap();
    let actions: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(actions.len() >= 4, "{actions:?}");
    seen.push_str(&actions.join("\n"));

    let files = files_under(&dir.path().join("logs"));
    let mut logged = String::new();
    for file in &files {
        logged.push_str(&std::fs::read_to_string(file).unwrap_or_default());
    }
    assert!(
        logged.contains("keep-alive failed") && logged.contains("cancelling order"),
        "the session was logged ({} files)",
        files.len()
    );
    for (what, secret) in [("api secret", TEST_API_SECRET), ("api key", TEST_API_KEY)] {
        assert!(!logged.contains(secret), "the {what} is in a log file");
        assert!(
            !seen.contains(secret),
            "the {what} is in an answer, an error, an actions row or check-config"
        );
    }
}
