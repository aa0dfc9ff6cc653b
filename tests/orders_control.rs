//! Orders over the control socket: the daemon in this process, with the simulator's test
//! credentials, driven over its real Unix socket (`order.place`, `order.cancel`,
//! `order.get`, `order.list` and their errors), and `tradebeat ctl orders …` as a process.

mod common;
mod orders_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use exchange_sim::{OrderFault, SimHandle, TEST_API_KEY, TEST_API_SECRET};
use serde_json::{Value, json};
use tempfile::TempDir;
use tradebeat::config::Config;
use tradebeat::control::protocol::{
    OrderCancel, OrderGet, OrderList, OrderListParams, OrderPlace, OrderRefParams, OrderView, code,
};
use tradebeat::control::{Client, ClientError};
use tradebeat::domain::OrderStatus;
use tradebeat::domain::Secret;

use orders_support::{BTC_PRICE, assert_matches_exchange, req, requests};

const BIN: &str = env!("CARGO_BIN_EXE_tradebeat");
const PLACE: (&str, &str) = ("POST", "/api/v3/order");

/// A daemon (with or without credentials) on a simulator where BTCUSDT allows every order
/// type at [`BTC_PRICE`].
struct Running {
    sim: SimHandle,
    dir: TempDir,
    daemon: common::InProcess,
    socket: PathBuf,
}

impl Running {
    async fn start(with_credentials: bool) -> Running {
        let sim = common::sim().await;
        sim.set_order_types(
            "BTCUSDT",
            &[
                "LIMIT",
                "LIMIT_MAKER",
                "MARKET",
                "STOP_LOSS",
                "STOP_LOSS_LIMIT",
                "TAKE_PROFIT",
                "TAKE_PROFIT_LIMIT",
            ],
        );
        sim.set_order_price("BTCUSDT", Some(BTC_PRICE));
        let dir = common::tempdir();
        let mut config: Config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
        if with_credentials {
            config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
            config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
        }
        let socket = config.control.socket.clone();
        let daemon = common::InProcess::start(config);
        common::wait_until("the control socket", Duration::from_secs(20), || {
            socket.exists()
        })
        .await;
        Running {
            sim,
            dir,
            daemon,
            socket,
        }
    }

    async fn client(&self) -> Client {
        Client::connect(&self.socket)
            .await
            .expect("connect to the control socket")
            .with_timeout(Duration::from_secs(20))
    }
}

/// The error a call ended with: code, data, message.
fn rpc_error<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (i64, Value, String) {
    match result {
        Err(ClientError::Rpc(e)) => (e.code, e.data.unwrap_or(Value::Null), e.message),
        other => panic!("expected an error response, got {other:?}"),
    }
}

fn by_order_id(symbol: &str, id: i64) -> OrderRefParams {
    OrderRefParams {
        symbol: symbol.parse().unwrap(),
        order_id: Some(id),
        client_order_id: None,
        market: None,
    }
}

fn by_client_id(symbol: &str, id: &str) -> OrderRefParams {
    OrderRefParams {
        symbol: symbol.parse().unwrap(),
        order_id: None,
        client_order_id: Some(id.parse().unwrap()),
        market: None,
    }
}

async fn list(c: &mut Client, params: OrderListParams) -> Vec<OrderView> {
    c.call::<OrderList>(&params).await.expect("order.list")
}

/// `row` without what the user-data stream may add after `order.place` answered: the
/// exchange's update time (an execution report's transaction time) and the local time of
/// that change.
fn settled(mut row: OrderView) -> OrderView {
    row.update_time = None;
    row.updated_at = 0;
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_end_to_end_over_the_socket() {
    let d = Running::start(true).await;
    let mut c = d.client().await;

    // LIMIT (rests) and MARKET (fills now): the answer, the stored row and the exchange
    // agree.
    let limit = c
        .call::<OrderPlace>(&req(
            "BTCUSDT",
            "LIMIT BUY q=0.001 p=60000 tif=GTC id=sock-limit-1",
        ))
        .await
        .expect("LIMIT placed");
    assert_eq!(limit.status, OrderStatus::New);
    assert_eq!(limit.client_order_id.as_str(), "sock-limit-1");
    assert_matches_exchange(limit.clone(), &d.sim.order("sock-limit-1").unwrap());
    let market = c
        .call::<OrderPlace>(&req("BTCUSDT", "MARKET BUY q=0.002"))
        .await
        .expect("MARKET placed");
    assert_eq!(market.status, OrderStatus::Filled);
    assert!(market.client_order_id.is_ours(), "a generated tb- id");
    assert!(!market.fills.is_empty());
    assert_matches_exchange(
        market.clone(),
        &d.sim.order(market.client_order_id.as_str()).unwrap(),
    );
    // order.list reads the database: the stored rows are what place returned (the
    // user-data stream may have added the exchange's update time since).
    let stored = list(&mut c, OrderListParams::default()).await;
    assert_eq!(
        stored.into_iter().map(settled).collect::<Vec<_>>(),
        vec![settled(market.clone()), settled(limit.clone())],
        "newest first"
    );
    // Decimals travel as strings, times as ms.
    let raw = c
        .call_value::<OrderList>(&OrderListParams {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        raw[0]["executed_qty"],
        json!(market.executed_qty.to_string())
    );
    assert_eq!(market.executed_qty, orders_support::d("0.002"));
    assert_eq!(raw[0]["type"], json!("MARKET"));
    assert!(raw[0]["created_at"].is_i64());
    assert_eq!(d.sim.orders().len(), 2);

    // A rule violation is answered locally with the filter and the nearest valid value,
    // and nothing reaches the exchange.
    let sent = requests(&d.sim, PLACE.0, PLACE.1);
    let (code_, data, message) = rpc_error(
        c.call::<OrderPlace>(&req(
            "BTCUSDT",
            "LIMIT BUY q=0.001 p=60000.005 tif=GTC id=off-tick",
        ))
        .await,
    );
    assert_eq!(code_, code::INVALID_PARAMS, "{message}");
    assert_eq!(data["rule"], "PRICE_FILTER", "{data}");
    assert_eq!(data["param"], "price");
    assert_eq!(data["nearest"], json!(["60000", "60000.01"]), "{data}");
    assert!(message.contains("PRICE_FILTER"), "{message}");
    assert!(message.contains("60000.01"), "{message}");
    // A missing price for LIMIT, a quantity off the step, a zero quantity: same story.
    for (spec, param) in [
        ("LIMIT BUY q=0.001 tif=GTC", "price"),
        ("LIMIT BUY q=0.0000015 p=60000 tif=GTC", "quantity"),
    ] {
        let (code_, data, message) = rpc_error(c.call::<OrderPlace>(&req("BTCUSDT", spec)).await);
        assert_eq!(code_, code::INVALID_PARAMS, "{spec}: {message}");
        assert_eq!(data["param"], param, "{spec}: {data}");
        assert!(data["rule"].is_string(), "{spec}: {data}");
    }
    let (code_, data, _) = rpc_error(
        c.call::<OrderPlace>(&req("NOPEUSDT", "MARKET BUY q=0.001"))
            .await,
    );
    assert_eq!(code_, code::INVALID_PARAMS);
    assert_eq!(data["param"], "symbol");
    // A client order id already used: refused, nothing sent.
    let (code_, data, _) = rpc_error(
        c.call::<OrderPlace>(&req(
            "BTCUSDT",
            "LIMIT BUY q=0.001 p=60000 tif=GTC id=sock-limit-1",
        ))
        .await,
    );
    assert_eq!(code_, code::INVALID_PARAMS);
    assert_eq!(data["param"], "client_order_id");
    assert_eq!(data["order"]["client_order_id"], "sock-limit-1");
    assert_eq!(
        requests(&d.sim, PLACE.0, PLACE.1),
        sent,
        "nothing refused was sent"
    );
    assert!(d.sim.order("off-tick").is_none());
    assert_eq!(list(&mut c, OrderListParams::default()).await.len(), 2);

    // order.get by client order id: refreshed from the exchange.
    let got = c
        .call::<OrderGet>(&by_client_id("BTCUSDT", "sock-limit-1"))
        .await
        .unwrap();
    assert_eq!(got.order_id, limit.order_id);
    assert_matches_exchange(got.clone(), &d.sim.order("sock-limit-1").unwrap());

    // Both ids absent: -32602 naming them.
    for params in [
        json!({"symbol": "BTCUSDT"}),
        json!({"symbol": "BTCUSDT", "order_id": null}),
    ] {
        let (code_, data, message) = rpc_error(
            c.call_value::<OrderGet>(&serde_json::from_value(params).unwrap())
                .await,
        );
        assert_eq!(code_, code::INVALID_PARAMS);
        assert_eq!(data["params"], json!(["order_id", "client_order_id"]));
        assert!(
            message.contains("order_id") && message.contains("client_order_id"),
            "{message}"
        );
    }
    let (code_, _, _) = rpc_error(
        c.call::<OrderCancel>(&OrderRefParams {
            symbol: "BTCUSDT".parse().unwrap(),
            order_id: None,
            client_order_id: None,
            market: None,
        })
        .await,
    );
    assert_eq!(code_, code::INVALID_PARAMS);
    // No such order.
    let (code_, data, _) = rpc_error(
        c.call::<OrderGet>(&by_client_id("BTCUSDT", "never-placed"))
            .await,
    );
    assert_eq!(code_, code::NOT_FOUND);
    assert_eq!(data["client_order_id"], "never-placed");

    // A second resting order; order.list's filters.
    let limit2 = c
        .call::<OrderPlace>(&req(
            "BTCUSDT",
            "LIMIT SELL q=0.001 p=70000 tif=GTC id=sock-limit-2",
        ))
        .await
        .unwrap();
    let open = list(
        &mut c,
        OrderListParams {
            open: Some(true),
            ..Default::default()
        },
    )
    .await;
    let ids: Vec<&str> = open.iter().map(|o| o.client_order_id.as_str()).collect();
    assert_eq!(ids, ["sock-limit-2", "sock-limit-1"]);
    let newest = list(
        &mut c,
        OrderListParams {
            limit: Some(1),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        newest.into_iter().map(settled).collect::<Vec<_>>(),
        vec![settled(limit2.clone())]
    );
    let eth = list(
        &mut c,
        OrderListParams {
            symbol: Some("ETHUSDT".parse().unwrap()),
            ..Default::default()
        },
    )
    .await;
    assert!(eth.is_empty());
    assert_eq!(
        list(
            &mut c,
            OrderListParams {
                symbol: Some("BTCUSDT".parse().unwrap()),
                ..Default::default()
            }
        )
        .await
        .len(),
        3
    );
    for limit in [0, 1001] {
        let (code_, data, _) = rpc_error(
            c.call::<OrderList>(&OrderListParams {
                limit: Some(limit),
                ..Default::default()
            })
            .await,
        );
        assert_eq!(code_, code::INVALID_PARAMS, "limit {limit}");
        assert_eq!(data["param"], "limit");
    }

    // Cancel by order id and by client order id.
    let cancelled = c
        .call::<OrderCancel>(&by_order_id("BTCUSDT", limit.order_id.unwrap()))
        .await
        .unwrap();
    assert_eq!(cancelled.status, OrderStatus::Canceled);
    assert_matches_exchange(cancelled.clone(), &d.sim.order("sock-limit-1").unwrap());
    let cancelled = c
        .call::<OrderCancel>(&by_client_id("BTCUSDT", "sock-limit-2"))
        .await
        .unwrap();
    assert_eq!(cancelled.status, OrderStatus::Canceled);
    assert_eq!(d.sim.order("sock-limit-2").unwrap().status, "CANCELED");
    assert!(
        list(
            &mut c,
            OrderListParams {
                open: Some(true),
                ..Default::default()
            }
        )
        .await
        .is_empty()
    );
    // Cancelling it again: the exchange's rejection with Binance's code and msg, and the
    // order's state.
    let (code_, data, _) = rpc_error(
        c.call::<OrderCancel>(&by_client_id("BTCUSDT", "sock-limit-2"))
            .await,
    );
    assert_eq!(code_, code::EXCHANGE_REJECTED);
    assert_eq!(data["code"], -2011, "{data}");
    assert!(data["msg"].is_string());
    assert_eq!(data["order"]["status"], "CANCELED", "{data}");

    // An answer that never comes back intact (503): the outcome is unknown, the stored row
    // says so, and the order is not sent again.
    d.sim.set_order_fault(Some(OrderFault::Reject503));
    let before = requests(&d.sim, PLACE.0, PLACE.1);
    let (code_, data, message) = rpc_error(
        c.call::<OrderPlace>(&req("BTCUSDT", "MARKET BUY q=0.001 id=sock-unknown"))
            .await,
    );
    d.sim.set_order_fault(None);
    assert_eq!(code_, code::ORDER_OUTCOME_UNKNOWN, "{message}");
    assert_eq!(data["order"]["status"], "unknown", "{data}");
    assert_eq!(data["order"]["client_order_id"], "sock-unknown");
    assert!(message.contains("not sent again"), "{message}");
    assert_eq!(requests(&d.sim, PLACE.0, PLACE.1), before + 1);

    // The daemon is unaffected by all of that.
    assert!(
        c.call::<tradebeat::control::protocol::Status>(&tradebeat::control::protocol::NoParams {})
            .await
            .is_ok()
    );
    drop(c);
    d.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_orders_answer_how_to_configure_them() {
    let d = Running::start(false).await;
    let mut c = d.client().await;
    let (code_, data, message) = rpc_error(
        c.call::<OrderPlace>(&req("BTCUSDT", "MARKET BUY q=0.001"))
            .await,
    );
    assert_eq!(code_, code::NO_CREDENTIALS);
    assert!(
        message.contains("TRADEBEAT_EXCHANGE__API_KEY") && message.contains("api_key_file"),
        "{message}"
    );
    assert_eq!(data["env"][0], "TRADEBEAT_EXCHANGE__API_KEY");
    let (code_, _, _) = rpc_error(c.call::<OrderGet>(&by_order_id("BTCUSDT", 1)).await);
    assert_eq!(code_, code::NO_CREDENTIALS);
    let (code_, _, _) = rpc_error(c.call::<OrderCancel>(&by_order_id("BTCUSDT", 1)).await);
    assert_eq!(code_, code::NO_CREDENTIALS);
    // The database still answers; nothing was sent.
    assert!(list(&mut c, OrderListParams::default()).await.is_empty());
    assert_eq!(requests(&d.sim, PLACE.0, PLACE.1), 0);
    drop(c);
    d.daemon.stop().await;
}

/// The HTTP status the simulator answered the last `method path` request with.
fn last_status(sim: &SimHandle, method: &str, path: &str) -> u16 {
    sim.request_log()
        .iter()
        .rev()
        .find(|r| r.method == method && r.path == path)
        .unwrap_or_else(|| panic!("no {method} {path} reached the simulator"))
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_nobody_placed_is_not_found_for_cancel_as_for_get() {
    let d = Running::start(true).await;
    let mut c = d.client().await;
    // What the exchange answers a cancel of an order it does not have.
    let (exchange_code, exchange_msg) = d
        .sim
        .cancel_order_by_id("BTCUSDT", 999_999)
        .expect_err("the simulator has no such order");

    for params in [
        by_client_id("BTCUSDT", "nobody-placed-this"),
        by_order_id("BTCUSDT", 999_999),
    ] {
        let (code_, data, message) = rpc_error(c.call::<OrderCancel>(&params).await);
        assert_eq!(code_, code::NOT_FOUND, "{message} {data}");
        assert_eq!(data["code"], exchange_code, "{data}");
        assert_eq!(data["msg"], exchange_msg.as_str(), "{data}");
        assert_eq!(data["symbol"], "BTCUSDT", "{data}");
        match (&params.client_order_id, params.order_id) {
            (Some(id), _) => assert_eq!(data["client_order_id"], id.as_str(), "{data}"),
            (None, Some(id)) => assert_eq!(data["order_id"], id, "{data}"),
            (None, None) => unreachable!(),
        }
        // order.get of the same order: the same JSON-RPC code, with the query's answer.
        let (get_code, get_data, _) = rpc_error(c.call::<OrderGet>(&params).await);
        assert_eq!(get_code, code::NOT_FOUND, "{get_data}");
        assert_eq!(get_data["code"], -2013, "{get_data}");
        assert_eq!(get_data["msg"], "Order does not exist.", "{get_data}");
    }
    // Nothing was stored for them.
    assert!(list(&mut c, OrderListParams::default()).await.is_empty());
    drop(c);
    d.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_carry_the_http_status_of_the_exchanges_answer() {
    let d = Running::start(true).await;
    let mut c = d.client().await;

    // 10 BTC at 65000 is more than the simulated account's 100000 USDT: -2010.
    let (code_, data, message) = rpc_error(
        c.call::<OrderPlace>(&req("BTCUSDT", "LIMIT BUY q=10 p=65000 tif=GTC id=too-big"))
            .await,
    );
    assert_eq!(code_, code::EXCHANGE_REJECTED, "{message}");
    assert_eq!(data["code"], -2010, "{data}");
    assert_eq!(
        data["http_status"],
        last_status(&d.sim, PLACE.0, PLACE.1),
        "{data}"
    );
    assert!(
        data["http_status"]
            .as_u64()
            .is_some_and(|s| (400..500).contains(&s))
    );
    assert_eq!(data["order"]["status"], "REJECTED", "{data}");

    // A cancel the exchange refuses (the order is filled): its status too, and the order.
    let filled = c
        .call::<OrderPlace>(&req("BTCUSDT", "MARKET BUY q=0.001 id=filled-then-cancel"))
        .await
        .expect("MARKET placed");
    assert_eq!(filled.status, OrderStatus::Filled);
    let (code_, data, message) = rpc_error(
        c.call::<OrderCancel>(&by_client_id("BTCUSDT", "filled-then-cancel"))
            .await,
    );
    assert_eq!(code_, code::EXCHANGE_REJECTED, "{message}");
    assert_eq!(
        data["http_status"],
        last_status(&d.sim, "DELETE", PLACE.1),
        "{data}"
    );
    assert_eq!(data["order"]["status"], "FILLED", "{data}");
    drop(c);
    d.daemon.stop().await;
}

/// Runs `tradebeat ctl --socket SOCKET ARGS…` on the blocking pool.
async fn ctl(dir: &Path, socket: &Path, args: &[&str]) -> Output {
    let mut cmd = common::tradebeat_command(dir);
    cmd.arg("ctl").arg("--socket").arg(socket).args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run tradebeat"))
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_orders_place_get_list_cancel() {
    let d = Running::start(true).await;
    let dir = d.dir.path();
    let s = &d.socket;

    // place: a table naming the order.
    let out = ctl(
        dir,
        s,
        &[
            "orders",
            "place",
            "btcusdt",
            "--side",
            "buy",
            "--type",
            "limit",
            "--quantity",
            "0.001",
            "--price",
            "60000",
            "--time-in-force",
            "gtc",
            "--client-order-id",
            "ctl-1",
        ],
    )
    .await;
    assert_exit(&out, 0);
    let table = text(&out.stdout);
    let header = table.lines().next().unwrap();
    for column in [
        "SYMBOL",
        "SIDE",
        "TYPE",
        "PRICE",
        "QTY",
        "EXECUTED",
        "STATUS",
        "CLIENT ORDER ID",
        "TIME (UTC)",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let row = table.lines().nth(1).unwrap();
    for cell in ["BTCUSDT", "BUY", "LIMIT", "60000", "0.001", "NEW", "ctl-1"] {
        assert!(row.contains(cell), "{row}");
    }
    let sim_order = d.sim.order("ctl-1").expect("placed at the exchange");

    // place --json: the raw stored order; a market order by quote quantity.
    let out = ctl(
        dir,
        s,
        &[
            "--json",
            "orders",
            "place",
            "BTCUSDT",
            "--side",
            "sell",
            "--type",
            "market",
            "--quote-quantity",
            "100",
        ],
    )
    .await;
    assert_exit(&out, 0);
    let placed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(placed["status"], "FILLED");
    assert_eq!(placed["quote_quantity"], "100");
    assert_eq!(placed["type"], "MARKET");

    // A rule violation: exit 1, the filter and the nearest valid value on stderr, nothing
    // sent.
    let sent = requests(&d.sim, PLACE.0, PLACE.1);
    let out = ctl(
        dir,
        s,
        &[
            "orders",
            "place",
            "BTCUSDT",
            "--side",
            "buy",
            "--type",
            "limit",
            "--quantity",
            "0.001",
            "--price",
            "60000.005",
            "--time-in-force",
            "gtc",
        ],
    )
    .await;
    assert_exit(&out, 1);
    let err = text(&out.stderr);
    assert!(
        err.contains("PRICE_FILTER") && err.contains("60000.01"),
        "{err}"
    );
    assert_eq!(requests(&d.sim, PLACE.0, PLACE.1), sent);
    // Usage errors: exit 2 (a bad side, both quantities, no order id).
    for args in [
        &[
            "orders",
            "place",
            "BTCUSDT",
            "--side",
            "hold",
            "--type",
            "market",
            "--quantity",
            "1",
        ][..],
        &[
            "orders",
            "place",
            "BTCUSDT",
            "--side",
            "buy",
            "--type",
            "market",
            "--quantity",
            "1",
            "--quote-quantity",
            "1",
        ][..],
        &["orders", "cancel", "BTCUSDT"][..],
        &["orders", "get", "BTCUSDT", "--order-id", "x"][..],
    ] {
        let out = ctl(dir, s, args).await;
        assert_exit(&out, 2);
    }

    // get, list (table and json), list --open.
    let out = ctl(
        dir,
        s,
        &[
            "orders",
            "get",
            "BTCUSDT",
            "--order-id",
            &sim_order.order_id.to_string(),
        ],
    )
    .await;
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains("ctl-1"));
    let out = ctl(dir, s, &["orders", "list"]).await;
    assert_exit(&out, 0);
    assert_eq!(
        text(&out.stdout).lines().count(),
        3,
        "header and two orders"
    );
    let out = ctl(dir, s, &["--json", "orders", "list", "--open"]).await;
    assert_exit(&out, 0);
    let open: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["client_order_id"], "ctl-1");

    // cancel by client order id, then again: exit 1 with Binance's message.
    let out = ctl(
        dir,
        s,
        &["orders", "cancel", "BTCUSDT", "--client-order-id", "ctl-1"],
    )
    .await;
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains("CANCELED"));
    assert_eq!(d.sim.order("ctl-1").unwrap().status, "CANCELED");
    let out = ctl(
        dir,
        s,
        &["orders", "cancel", "BTCUSDT", "--client-order-id", "ctl-1"],
    )
    .await;
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("-2011"), "{}", text(&out.stderr));
    let out = ctl(dir, s, &["orders", "list", "--open"]).await;
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "no open orders\n");
    d.daemon.stop().await;
}

/// Starts the real daemon in `dir` with the test credentials in its environment.
fn spawn_daemon(dir: &Path, config: &Path) -> std::process::Child {
    let mut cmd = common::tradebeat_command(dir);
    cmd.args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.env("TRADEBEAT_EXCHANGE__API_KEY", TEST_API_KEY)
        .env("TRADEBEAT_EXCHANGE__API_SECRET", TEST_API_SECRET)
        .spawn()
        .expect("start the daemon")
}

/// `status` and `order_id` of the stored order `id`, if the database has it.
fn stored(db: &Path, id: &str) -> Option<(String, Option<i64>)> {
    if !db.exists() {
        return None;
    }
    common::read_db(db)
        .query_row(
            "SELECT status, order_id FROM orders WHERE client_order_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_placement_reconciles_the_order_after_restart() {
    let sim = common::sim().await;
    sim.set_order_price("BTCUSDT", Some(BTC_PRICE));
    let tmp = common::tempdir();
    let dir = tmp.path();
    let db = dir.join("data/tradebeat.db");
    let socket = dir.join("data/control.sock");
    let config = dir.join("config.toml");
    // The daemon waits long for the exchange's answer: the kill lands while it waits.
    std::fs::write(
        &config,
        format!(
            "[exchange]\nrest_url = \"{}\"\nws_api_url = \"{}\"\nrequest_timeout_ms = 30000\n\n[heartbeat]\nperiod_secs = 2\noffset_secs = 1\n\n\
             [market_data]\nsymbols = [\"BTCUSDT\"]\nintervals = [\"1m\"]\n\n[storage]\ndatabase = \"data/tradebeat.db\"\n\n\
             [logging]\ndir = \"logs\"\nlevel = \"debug\"\n",
            sim.base_url(),
            common::ws_api_url(&sim.base_url())
        ),
    )
    .unwrap();
    let mut daemon = spawn_daemon(dir, &config);
    common::wait_until("the control socket", Duration::from_secs(20), || {
        socket.exists()
    })
    .await;

    // The user-data stream would report the order's NEW before the answer: cut it, so the
    // daemon hears nothing at all between sending and the kill.
    sim.set_ws_refuse_connections(true);
    sim.drop_ws_connections();
    // The exchange executes the order and holds its answer; `ctl orders place` waits.
    sim.set_order_fault(Some(OrderFault::DelayAnswer(Duration::from_secs(60))));
    let mut place = Command::new(BIN);
    place
        .current_dir(dir)
        .args(["ctl", "--socket"])
        .arg(&socket)
        .args([
            "orders",
            "place",
            "BTCUSDT",
            "--side",
            "buy",
            "--type",
            "limit",
            "--quantity",
            "0.001",
            "--price",
            "60000",
            "--time-in-force",
            "gtc",
            "--client-order-id",
            "killed-1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let place = place.spawn().expect("run ctl");
    common::wait_until("the order at the exchange", Duration::from_secs(20), || {
        sim.order("killed-1").is_some()
    })
    .await;
    // SIGKILL between sending and the answer: the row stays pending.
    daemon.kill().expect("kill -9 the daemon");
    daemon.wait().unwrap();
    let out = tokio::task::spawn_blocking(move || place.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_exit(&out, 2);
    assert_eq!(stored(&db, "killed-1"), Some(("pending".to_string(), None)));
    sim.set_order_fault(None);
    sim.set_ws_refuse_connections(false);
    // (The simulator logs a request when it answers; the held one never was.)
    let posts = requests(&sim, PLACE.0, PLACE.1);

    // Restarted, the daemon asks the exchange and the row converges; nothing is re-sent.
    let mut daemon = spawn_daemon(dir, &config);
    let on_exchange = sim.order("killed-1").unwrap();
    common::wait_until("the reconciled row", Duration::from_secs(20), || {
        stored(&db, "killed-1") == Some(("NEW".to_string(), Some(on_exchange.order_id)))
    })
    .await;
    assert_eq!(sim.orders().len(), 1, "exactly one order at the exchange");
    assert_eq!(
        requests(&sim, PLACE.0, PLACE.1),
        posts,
        "the order was never sent again"
    );
    common::wait_until("the control socket", Duration::from_secs(20), || {
        socket.exists()
    })
    .await;
    let out = ctl(
        dir,
        &socket,
        &[
            "--json",
            "orders",
            "get",
            "BTCUSDT",
            "--client-order-id",
            "killed-1",
        ],
    )
    .await;
    assert_exit(&out, 0);
    let row: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(row["status"], "NEW");
    assert_eq!(row["order_id"], on_exchange.order_id);
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}
