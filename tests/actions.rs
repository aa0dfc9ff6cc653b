//! The action log against a daemon on the simulator: every state-changing control
//! request leaves exactly one `actions` row (whether it succeeded or was refused), a
//! read-only one leaves none, secrets never reach a row, a socket call records the peer's
//! uid, an HTTP call is logged as `http`, and `action.list` / `GET /api/v1/actions` /
//! `ctl log` read the rows back; a watched symbol gets tickers every beat and no klines
//! until `symbol.add` starts the rest.

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use exchange_sim::{TEST_API_KEY, TEST_API_SECRET};
use serde_json::{Value, json};
use tradebeat::control::Client;
use tradebeat::control::protocol::ErrorObject;
use tradebeat::domain::Secret;

const TOKEN: &str = "actions-test-token-0a1b2c3d4e";

/// One request on a connection of its own (each connection has its own exchange request
/// rate, so no call here is held back by the previous ones).
async fn rpc(socket: &Path, method: &str, params: Value) -> Result<Value, ErrorObject> {
    let mut client = Client::connect(socket)
        .await
        .expect("connect")
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
}

/// Every `actions` row, oldest first, as JSON objects of all columns.
fn rows(db: &Path) -> Vec<Value> {
    let conn = common::read_db(db);
    let mut stmt = conn
        .prepare(
            "SELECT id, time, source, uid, method, market, symbol, params, ok, error_code,
                    error_message
             FROM actions ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(json!({
            "id": r.get::<_, i64>(0)?,
            "time": r.get::<_, i64>(1)?,
            "source": r.get::<_, String>(2)?,
            "uid": r.get::<_, Option<i64>>(3)?,
            "method": r.get::<_, String>(4)?,
            "market": r.get::<_, Option<String>>(5)?,
            "symbol": r.get::<_, Option<String>>(6)?,
            "params": r.get::<_, String>(7)?,
            "ok": r.get::<_, bool>(8)?,
            "error_code": r.get::<_, Option<i64>>(9)?,
            "error_message": r.get::<_, Option<String>>(10)?,
        }))
    })
    .unwrap()
    .collect::<Result<Vec<_>, _>>()
    .unwrap()
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_changing_request_leaves_one_row_and_no_secret() {
    let sim = common::sim().await;
    sim.set_order_types("BTCUSDT", &["LIMIT", "MARKET"]);
    sim.set_order_price("BTCUSDT", Some("65000.00"));
    let dir = common::tempdir();
    let mut config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
    config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
    let addr = free_addr();
    config.http.listen = Some(addr);
    config.http.token = Some(Secret::new(TOKEN));
    let socket: PathBuf = config.control.socket.clone();
    let daemon = common::InProcess::start(config);
    let db = daemon.db.clone();
    common::wait_until("a beat", Duration::from_secs(20), || {
        common::heartbeat_count(&db) >= 1
    })
    .await;
    // The uid this test runs as: the owner of the directory it created.
    let uid = std::fs::metadata(dir.path()).unwrap().uid();
    assert!(
        rows(&db).is_empty(),
        "the daemon logs no request of its own at start"
    );

    let order = json!({
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "time_in_force": "GTC",
        "quantity": "0.001", "price": "60000", "client_order_id": "act-1",
    });
    let mut with_secret = order.clone();
    with_secret["api_secret"] = json!(TEST_API_SECRET);
    with_secret["client_order_id"] = json!("act-2");
    let changing: Vec<(&str, Value)> = vec![
        ("symbol.add", json!({"symbol": "ETHUSDT"})),
        ("symbol.add", json!({"symbol": "NOPEUSDT"})),
        ("symbol.remove", json!({"symbol": "ETHUSDT"})),
        ("symbol.remove", json!({"symbol": "NOPEUSDT"})),
        ("backfill.start", json!({"symbol": "NOPEUSDT"})),
        (
            "backfill.start",
            json!({"symbol": "BTCUSDT", "interval": "1m"}),
        ),
        ("sync.now", json!({})),
        ("order.place", order),
        ("order.place", with_secret),
        (
            "order.cancel",
            json!({"symbol": "BTCUSDT", "client_order_id": "act-1"}),
        ),
        (
            "order.cancel",
            json!({"symbol": "BTCUSDT", "client_order_id": "nope"}),
        ),
        ("order.cancel_all", json!({"symbol": "BTCUSDT"})),
        (
            "order.cancel_all",
            json!({"symbol": "NOPEUSDT", "bogus": 1}),
        ),
        ("strategy.add", json!({"name": "act", "command": "true"})),
        ("strategy.add", json!({"name": "act", "command": "true"})),
        (
            "strategy.update",
            json!({"strategy": "act", "timeout_ms": 1000}),
        ),
        (
            "trade_strategy.add",
            json!({"strategy": "act", "symbol": "BTCUSDT", "interval": "1m"}),
        ),
        ("trade_strategy.remove", json!({"id": 1})),
        ("trade_strategy.remove", json!({"id": 1})),
        ("strategy.remove", json!({"strategy": "act"})),
        ("watchlist.add", json!({"symbol": "SOLUSDT"})),
        ("watchlist.remove", json!({"symbol": "SOLUSDT"})),
        ("watchlist.remove", json!({"symbol": "SOLUSDT"})),
    ];
    let (mut oks, mut refusals) = (0, 0);
    for (method, params) in changing {
        let before = rows(&db).len();
        let answer = rpc(&socket, method, params.clone()).await;
        let after = rows(&db);
        assert_eq!(after.len(), before + 1, "{method} {params}: one row");
        let row = &after[before];
        assert_eq!(row["method"], method);
        assert_eq!(row["source"], "ctl");
        assert_eq!(row["uid"], json!(uid), "the socket peer's uid");
        assert_eq!(row["ok"], answer.is_ok(), "{method} {params}: {answer:?}");
        match &answer {
            Ok(_) => {
                oks += 1;
                assert_eq!(row["error_code"], Value::Null);
            }
            Err(e) => {
                refusals += 1;
                assert_eq!(row["error_code"], json!(e.code), "{method}");
                assert_eq!(row["error_message"], json!(e.message));
            }
        }
        if let Some(symbol) = params.get("symbol") {
            assert_eq!(row["symbol"], *symbol);
            assert_eq!(row["market"], "spot");
        }
    }
    assert!(oks >= 13 && refusals >= 8, "{oks} ok, {refusals} refused");

    // Read-only methods leave nothing.
    let before = rows(&db).len();
    let reading: Vec<(&str, Value)> = vec![
        ("status", json!({})),
        ("symbol.list", json!({})),
        ("kline.list", json!({"symbol": "BTCUSDT", "interval": "1m"})),
        ("order.list", json!({})),
        (
            "order.get",
            json!({"symbol": "BTCUSDT", "client_order_id": "act-1"}),
        ),
        ("balance.list", json!({})),
        ("pnl.list", json!({})),
        ("trade.list", json!({})),
        ("ticker.get", json!({"symbol": "BTCUSDT"})),
        ("action.list", json!({})),
        ("symbol.list", json!({"nope": true})),
        ("strategy.list", json!({"deleted": true})),
        ("trade_strategy.list", json!({})),
        ("strategy_run.list", json!({})),
        ("watchlist.list", json!({})),
    ];
    for (method, params) in reading {
        let _ = rpc(&socket, method, params).await;
    }
    assert_eq!(rows(&db).len(), before, "read-only methods leave no row");

    // Over HTTP: the same dispatcher, source `http`, no uid, the token nowhere.
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let response = http
        .post(format!("{base}/api/v1/sync"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let all = rows(&db);
    let last = all.last().unwrap();
    assert_eq!(
        (&last["method"], &last["source"], &last["uid"]),
        (&json!("sync.now"), &json!("http"), &Value::Null)
    );
    let listed: Value = http
        .get(format!("{base}/api/v1/actions?source=http&limit=5"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], last["id"]);
    let too_many = http
        .get(format!("{base}/api/v1/actions?limit=1001"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(too_many.status().as_u16(), 400);

    // No secret in any row; the one passed as a param is replaced.
    let text = serde_json::to_string(&all).unwrap();
    for secret in [TEST_API_SECRET, TEST_API_KEY, TOKEN] {
        assert!(!text.contains(secret), "a secret reached the action log");
    }
    assert!(
        all.iter().any(|r| r["params"]
            .as_str()
            .is_some_and(|p| p.contains(r#""api_secret":"[redacted]""#))),
        "the api_secret param is logged redacted"
    );

    // action.list: filters and pages, newest first.
    let eth = rpc(&socket, "action.list", json!({"symbol": "ETHUSDT"}))
        .await
        .unwrap();
    let methods: Vec<&str> = eth
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["symbol.remove", "symbol.add"]);
    let page = rpc(
        &socket,
        "action.list",
        json!({"limit": 2, "before_id": last["id"]}),
    )
    .await
    .unwrap();
    let ids: Vec<i64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    let last_id = last["id"].as_i64().unwrap();
    assert_eq!(ids, [last_id - 1, last_id - 2]);

    // ctl log, as a table and as JSON.
    let out = ctl(dir.path(), &socket, &["log", "--symbol", "NOPEUSDT"]).await;
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("symbol.add") && table.contains("-32001"),
        "{table}"
    );
    assert!(table.contains(&format!("ctl (uid {uid})")), "{table}");
    let out = ctl(dir.path(), &socket, &["log", "--source", "http", "--json"]).await;
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["source"], "http");

    daemon.stop().await;
}

/// Rows of `table` for one spot symbol (`klines`, `tickers`, `backfill_jobs`).
fn count(db: &Path, table: &str, symbol: &str) -> i64 {
    common::read_db(db)
        .query_row(
            &format!(
                "SELECT COUNT(*) FROM {table} t JOIN symbols s ON s.id = t.symbol_id
                 WHERE s.market = 'spot' AND s.symbol = ?1"
            ),
            [symbol],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_symbol_gets_tickers_and_no_klines_until_added() {
    let sim = common::sim().await;
    let dir = common::tempdir();
    let config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    let socket: PathBuf = config.control.socket.clone();
    let daemon = common::InProcess::start(config);
    let db = daemon.db.clone();
    common::wait_until("a beat", Duration::from_secs(20), || {
        common::heartbeat_count(&db) >= 1
    })
    .await;

    let unknown = rpc(&socket, "watchlist.add", json!({"symbol": "NOPEUSDT"}))
        .await
        .unwrap_err();
    assert_eq!(unknown.code, -32001, "{unknown:?}");
    let watched = rpc(&socket, "watchlist.add", json!({"symbol": "ethusdt"}))
        .await
        .unwrap();
    assert_eq!(
        (&watched["symbol"], &watched["following"]),
        (&json!("ETHUSDT"), &json!(false))
    );
    // Two beats with its ticker; the followed symbol's candles arrive meanwhile.
    common::wait_until("two ETHUSDT tickers", Duration::from_secs(30), || {
        count(&db, "tickers", "ETHUSDT") >= 2
    })
    .await;
    common::wait_until("BTCUSDT klines", Duration::from_secs(30), || {
        count(&db, "klines", "BTCUSDT") > 0
    })
    .await;
    assert_eq!(
        count(&db, "klines", "ETHUSDT"),
        0,
        "no klines for a watched symbol"
    );
    assert_eq!(
        count(&db, "backfill_jobs", "ETHUSDT"),
        0,
        "no backfill either"
    );
    let list = rpc(&socket, "watchlist.list", json!({})).await.unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["symbol"], "ETHUSDT");

    // symbol.add starts the rest: klines follow.
    rpc(&socket, "symbol.add", json!({"symbol": "ETHUSDT"}))
        .await
        .unwrap();
    common::wait_until("ETHUSDT klines", Duration::from_secs(30), || {
        count(&db, "klines", "ETHUSDT") > 0
    })
    .await;
    let list = rpc(&socket, "watchlist.list", json!({})).await.unwrap();
    assert_eq!(list[0]["following"], true, "{list}");
    rpc(&socket, "watchlist.remove", json!({"symbol": "ETHUSDT"}))
        .await
        .unwrap();
    let again = rpc(&socket, "watchlist.remove", json!({"symbol": "ETHUSDT"}))
        .await
        .unwrap_err();
    assert_eq!(again.code, -32004);

    // Each watchlist change is in the action log, ok or not; the list is not.
    let methods: Vec<(String, bool)> = rows(&db)
        .iter()
        .filter(|r| {
            r["method"]
                .as_str()
                .is_some_and(|m| m.starts_with("watchlist."))
        })
        .map(|r| (r["method"].as_str().unwrap().to_string(), r["ok"] == true))
        .collect();
    assert_eq!(
        methods,
        [
            ("watchlist.add".to_string(), false),
            ("watchlist.add".to_string(), true),
            ("watchlist.remove".to_string(), true),
            ("watchlist.remove".to_string(), false),
        ]
    );
    daemon.stop().await;
}

async fn ctl(dir: &Path, socket: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = common::tradebeat_command(dir);
    cmd.arg("ctl").arg("--socket").arg(socket).args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run tradebeat"))
        .await
        .unwrap()
}
