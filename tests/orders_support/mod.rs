//! Harness of the order tests: a simulator, a store in a temporary directory and an
//! [`Orders`] component signed with the simulator's test key, all in this process.

#![allow(dead_code)]

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use exchange_sim::{SimConfig, SimHandle, SimOrder, TEST_API_KEY, TEST_API_SECRET};
use rust_decimal::Decimal;
use tempfile::TempDir;
use tradebeat::clock::Clock;
use tradebeat::control::protocol::OrderView;
use tradebeat::domain::{Credentials, Secret};
use tradebeat::domain::{OrderRequest, OrderType, Side, TimeInForce};
use tradebeat::exchange::{ClientOptions, Network, SpotClient};
use tradebeat::orders::Orders;
use tradebeat::store::Store;

/// The price BTCUSDT orders match against in these tests (the book is one tick each side).
pub const BTC_PRICE: &str = "65000.00";

pub struct Bench {
    pub sim: SimHandle,
    pub dir: TempDir,
    pub store: Store,
    pub exchange: SpotClient,
    pub orders: Orders,
}

pub fn credentials() -> Credentials {
    Credentials {
        api_key: Secret::new(TEST_API_KEY),
        api_secret: Secret::new(TEST_API_SECRET),
    }
}

/// A client of `sim` with `timeout` per request.
pub fn client(sim: &SimHandle, timeout: Duration) -> SpotClient {
    let options = ClientOptions::for_network(Network::Testnet, Some(&sim.base_url()), timeout)
        .expect("options");
    SpotClient::new(options, Clock::system()).expect("client")
}

/// Simulator (with every order type allowed on BTCUSDT and its price pinned at
/// [`BTC_PRICE`]), store and orders with the test credentials and `recv_window_ms`.
pub async fn bench_with(config: SimConfig, timeout: Duration, recv_window_ms: u64) -> Bench {
    let sim = exchange_sim::spawn(config).await.expect("simulator starts");
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
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("tradebeat.db")).expect("store");
    let exchange = client(&sim, timeout);
    exchange.sync_time().await.expect("time");
    let orders = Orders::new(
        exchange.clone(),
        Some(&credentials()),
        recv_window_ms,
        store.clone(),
        Clock::system(),
    )
    .expect("orders");
    Bench {
        sim,
        dir,
        store,
        exchange,
        orders,
    }
}

pub async fn bench() -> Bench {
    bench_with(SimConfig::default(), Duration::from_secs(5), 5_000).await
}

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

/// A request written as `TYPE SIDE key=value …` (keys: q, qq, p, sp, tif, id).
pub fn req(symbol: &str, spec: &str) -> OrderRequest {
    let mut words = spec.split_whitespace();
    let order_type: OrderType = words.next().unwrap().parse().unwrap();
    let side: Side = words.next().unwrap().parse().unwrap();
    let mut r = OrderRequest::new(symbol.parse().unwrap(), side, order_type);
    for w in words {
        let (k, v) = w.split_once('=').unwrap();
        match k {
            "q" => r.quantity = Some(d(v)),
            "qq" => r.quote_quantity = Some(d(v)),
            "p" => r.price = Some(d(v)),
            "sp" => r.stop_price = Some(d(v)),
            "tif" => r.time_in_force = Some(v.parse::<TimeInForce>().unwrap()),
            "id" => r.client_order_id = Some(v.parse().unwrap()),
            other => panic!("unknown key {other}"),
        }
    }
    r
}

/// Asserts that the stored row (or the control socket's view of it) says what the exchange
/// says about the order.
pub fn assert_matches_exchange(order: impl Into<OrderView>, sim_order: &SimOrder) {
    let row: OrderView = order.into();
    assert_eq!(row.order_id, Some(sim_order.order_id), "order id");
    assert_eq!(row.client_order_id.as_str(), sim_order.client_order_id);
    assert_eq!(
        row.status.as_str(),
        sim_order.status,
        "status of {}",
        row.client_order_id
    );
    assert_eq!(row.executed_qty, d(&sim_order.executed_qty), "executed qty");
    assert_eq!(
        row.cummulative_quote_qty,
        d(&sim_order.cummulative_quote_qty),
        "cummulative quote qty"
    );
    assert_eq!(row.side.as_str(), sim_order.side);
    assert_eq!(row.order_type.as_str(), sim_order.order_type);
}

/// Number of requests the simulator got for `method path`.
pub fn requests(sim: &SimHandle, method: &str, path: &str) -> usize {
    sim.request_log()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after `timeout`.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// All files under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
