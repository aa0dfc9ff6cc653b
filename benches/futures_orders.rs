//! Benchmark of the futures order path's own overhead (USDⓈ-M), as `benches/orders.rs`
//! measures spot's: against the exchange simulator's USDⓈ-M listener on loopback, with
//! the simulator's time taken out.
//!
//! A timestamping TCP proxy sits between tradebeat's futures client and the simulator. For
//! each `Orders::place` (a resting LIMIT order, rules cached, connection warm):
//!
//! - **request → wire**: from the call until the first byte of the signed
//!   `POST /fapi/v1/order` reaches the proxy (rule checks, MAX_NUM_ORDERS count from the
//!   database, `pending` row committed, signing, HTTP encoding, loopback);
//! - **answer → row**: from the proxy starting to forward the answer's last bytes until
//!   `place` returns (HTTP decoding, parsing, the row's update with its futures columns
//!   committed);
//! - their sum is tradebeat's overhead per order (goal: p50 ≤ 1 ms).
//!
//! Each measured order is cancelled afterwards (not timed), so the open orders stay under
//! the symbol's MAX_NUM_ORDERS.
//!
//! Run with `cargo bench --bench futures_orders` (release build). `FUTURES_ORDERS_BENCH_N`
//! sets the number of measured orders (default 1000). Results go to stdout.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exchange_sim::{SimConfig, TEST_API_KEY, TEST_API_SECRET};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tradebeat::clock::Clock;
use tradebeat::component::Component as _;
use tradebeat::domain::{
    Credentials, Market, OrderRef, OrderRequest, OrderType, Secret, Side, TimeInForce,
};
use tradebeat::exchange::{ClientOptions, FuturesClient, Network};
use tradebeat::orders::Orders;
use tradebeat::store::{Checkpointer, Store};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Request,
    Response,
}

type Events = Arc<Mutex<Vec<(Instant, Dir)>>>;

/// A loopback proxy to `upstream` recording when request bytes arrive and answer bytes
/// leave. Returns its address.
async fn proxy(upstream: SocketAddr, events: Events) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(upstream).await.unwrap();
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(cr, sw, Dir::Request, events.clone()));
            tokio::spawn(pump(sr, cw, Dir::Response, events.clone()));
        }
    });
    addr
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, dir: Dir, events: Events) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Recorded before forwarding (for answers this counts the proxy's write against
        // tradebeat).
        events.lock().unwrap().push((Instant::now(), dir));
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// A BUY LIMIT below the last price: it rests.
fn limit_order() -> OrderRequest {
    let mut r = OrderRequest::new("BTCUSDT".parse().unwrap(), Side::Buy, OrderType::Limit);
    r.market = Market::UsdM;
    r.quantity = Some("0.010".parse().unwrap());
    r.price = Some("49000.0".parse().unwrap());
    r.time_in_force = Some(TimeInForce::Gtc);
    r
}

async fn order_path(n: usize) {
    let sim = exchange_sim::spawn(SimConfig::default()).await.unwrap();
    let usdm = sim.usdm();
    usdm.set_order_limits(1_000_000, 1_000_000);
    usdm.set_wallet_balance("USDT", "100000000");
    usdm.set_last_price("BTCUSDT", Some("50000.0"));
    let upstream: SocketAddr = sim
        .usdm_url
        .trim_start_matches("http://")
        .parse()
        .expect("the USD-M listener's address");
    let events: Events = Arc::default();
    let addr = proxy(upstream, events.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    // The WAL is checkpointed as in the daemon: in the background, never by a commit.
    let checkpoints = tokio_util::sync::CancellationToken::new();
    tokio::spawn(Checkpointer::new(store.clone()).run(checkpoints.clone()));
    let options = ClientOptions::for_network(
        Network::Testnet,
        Some(&format!("http://{addr}")),
        Duration::from_secs(10),
    )
    .unwrap();
    let client = FuturesClient::usdm(options, Clock::system()).unwrap();
    client.sync_time().await.unwrap();
    let credentials = Credentials {
        api_key: Secret::new(TEST_API_KEY),
        api_secret: Secret::new(TEST_API_SECRET),
    };
    let orders =
        Orders::futures(&client, Some(&credentials), 5_000, store, Clock::system()).unwrap();
    let cancel = |row: tradebeat::store::OrderRow| {
        let orders = orders.clone();
        async move {
            orders
                .cancel(&row.symbol, &OrderRef::ClientOrderId(row.client_order_id))
                .await
                .unwrap();
        }
    };
    for _ in 0..50 {
        let row = orders.place(limit_order()).await.unwrap();
        cancel(row).await;
    }
    let mut to_wire = Vec::with_capacity(n);
    let mut to_row = Vec::with_capacity(n);
    let mut overhead = Vec::with_capacity(n);
    let mut total = Vec::with_capacity(n);
    for _ in 0..n {
        events.lock().unwrap().clear();
        let t0 = Instant::now();
        let row = orders.place(limit_order()).await.unwrap();
        let t3 = Instant::now();
        assert_eq!(row.status.as_str(), "NEW");
        let ev = events.lock().unwrap().clone();
        let t1 = ev
            .iter()
            .find(|(_, d)| *d == Dir::Request)
            .map(|(t, _)| *t)
            .expect("request seen");
        let t2 = ev
            .iter()
            .rev()
            .find(|(_, d)| *d == Dir::Response)
            .map(|(t, _)| *t)
            .expect("answer seen");
        to_wire.push(t1 - t0);
        to_row.push(t3 - t2);
        overhead.push((t1 - t0) + (t3 - t2));
        total.push(t3 - t0);
        cancel(row).await;
    }
    for v in [&mut to_wire, &mut to_row, &mut overhead, &mut total] {
        v.sort_unstable();
    }
    println!(
        "USD-M order path, {n} LIMIT orders placed one after another (rules cached, connection warm; each cancelled after, untimed):"
    );
    for (name, v) in [
        ("request -> signed request on the wire", &to_wire),
        ("answer received -> row committed", &to_row),
        ("tradebeat overhead (sum)", &overhead),
        ("whole place() incl. simulator", &total),
    ] {
        println!(
            "  {name:<40} p50 {:>7}  p99 {:>7}  max {:>7}",
            us(percentile(v, 0.5)),
            us(percentile(v, 0.99)),
            us(*v.last().unwrap())
        );
    }
    checkpoints.cancel();
}

fn main() {
    let n = std::env::var("FUTURES_ORDERS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(order_path(n));
}
