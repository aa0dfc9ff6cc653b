//! Benchmark of the order path's own overhead, against the exchange simulator on
//! loopback, with the simulator's time taken out.
//!
//! A timestamping TCP proxy sits between tradebeat's client and the simulator. For each
//! `Orders::place` (a LIMIT order, rules cached, connection warm):
//!
//! - **request → wire**: from the call until the first byte of the signed request
//!   reaches the proxy (rule checks, `pending` row committed, signing, HTTP encoding,
//!   loopback);
//! - **answer → row**: from the proxy starting to forward the answer's last bytes until
//!   `place` returns (HTTP decoding, parsing, the row's update committed);
//! - their sum is tradebeat's overhead per order; the time in between is the simulator's
//!   (and the proxy's, which counts against tradebeat on both sides).
//!
//! Also: one HMAC-SHA256 signature of an order's payload, and the local rule check.
//!
//! Run with `cargo bench --bench orders` (release build). `ORDERS_BENCH_N` sets the number
//! of measured orders (default 1000). Results go to stdout; copy them into BENCHMARKS.md
//! with the machine they ran on.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exchange_sim::{SimConfig, TEST_API_KEY, TEST_API_SECRET};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tradebeat::clock::Clock;
use tradebeat::component::Component as _;
use tradebeat::domain::{Credentials, Secret};
use tradebeat::domain::{OrderRequest, OrderType, Side, TimeInForce, rules};
use tradebeat::exchange::signing::encode_params;
use tradebeat::exchange::{ClientOptions, HmacSha256, Network, Signer, SpotClient};
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
        // Recorded before forwarding, so that the event exists before the other side can
        // act on the bytes (for answers this counts the proxy's write against tradebeat).
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

fn limit_order() -> OrderRequest {
    let mut r = OrderRequest::new("BTCUSDT".parse().unwrap(), Side::Buy, OrderType::Limit);
    r.quantity = Some("0.001".parse().unwrap());
    r.price = Some("60000.00".parse().unwrap());
    r.time_in_force = Some(TimeInForce::Gtc);
    r
}

async fn order_path(n: usize) {
    let sim = exchange_sim::spawn(SimConfig {
        orders_per_10s: 1_000_000,
        balances: vec![("USDT".into(), "100000000".into())],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.set_order_price("BTCUSDT", Some("65000.00"));
    let events: Events = Arc::default();
    let addr = proxy(sim.addr(), events.clone()).await;
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
    let exchange = SpotClient::new(options, Clock::system()).unwrap();
    exchange.sync_time().await.unwrap();
    let credentials = Credentials {
        api_key: Secret::new(TEST_API_KEY),
        api_secret: Secret::new(TEST_API_SECRET),
    };
    let orders = Orders::new(exchange, Some(&credentials), 5_000, store, Clock::system()).unwrap();
    for _ in 0..50 {
        orders.place(limit_order()).await.unwrap();
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
    }
    for v in [&mut to_wire, &mut to_row, &mut overhead, &mut total] {
        v.sort_unstable();
    }
    println!(
        "order path, {n} LIMIT orders placed one after another (rules cached, connection warm):"
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
}

fn micro() {
    let signer = HmacSha256::new(TEST_API_SECRET);
    let payload = encode_params([
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "0.001"),
        ("price", "60000"),
        ("newClientOrderId", "tb-0123456789abcdefghijkl"),
        ("newOrderRespType", "FULL"),
        ("recvWindow", "5000"),
        ("timestamp", "1795262400000"),
    ]);
    let n = 200_000;
    let t = Instant::now();
    let mut len = 0;
    for _ in 0..n {
        len += std::hint::black_box(signer.sign(std::hint::black_box(payload.as_bytes()))).len();
    }
    let per = t.elapsed() / n;
    assert_eq!(len, 64 * n as usize);
    println!(
        "HMAC-SHA256 signature of a {}-byte order payload: {} ns",
        payload.len(),
        per.as_nanos()
    );

    let info = tradebeat::exchange::parse_exchange_info(include_bytes!(
        "../tests/data/exchange_info_spot_full.json"
    ))
    .unwrap();
    let btc = info.symbol(&"BTCUSDT".parse().unwrap()).unwrap().clone();
    let order = limit_order();
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(rules::check(std::hint::black_box(&order), &btc, None)).unwrap();
    }
    println!(
        "local rule check of a LIMIT order: {} ns",
        (t.elapsed() / n).as_nanos()
    );
}

fn main() {
    let n = std::env::var("ORDERS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    micro();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(order_path(n));
}
