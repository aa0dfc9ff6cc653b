//! Benchmarks of paper trading (README.md, "Paper trading"): a paper daemon in this process
//! against the bundled simulator on loopback, driven over its real control socket.
//!
//! 1. `place`: `order.place` round trips over the control socket, one after another, on
//!    BTCUSDT: a MARKET buy (filled at once at the book: the symbol's streamed book, from the
//!    simulator's `btcusdt@bookTicker` stream, which the first warm-up order starts) and a
//!    LIMIT buy resting 20 % below the book (funds locked, the row
//!    `NEW`); p50 / p99 / max of each. The control socket allows a connection 10 requests
//!    that reach the exchange at once, then 5 a second: the bench opens a new connection
//!    every 10 orders, outside the timed calls.
//! 2. `fills`: `PAPER_BENCH_ORDERS` (default 1000) resting paper LIMIT orders spread over
//!    `PAPER_BENCH_SYMBOLS` (default 50) simulator clones (`SIM001USDT` …), each at the
//!    lowest low (a buy) or highest high (a sell) of its candles 5 to 120 minutes ahead
//!    (not reached sooner; a symbol without such a price is left out, and said); then
//!    the simulator's clock is moved two hours ahead, so that the next beat's candles
//!    reach all of them. Measured: from the commit of the first beat that started after the
//!    move (`heartbeats.finished_at`) to the last fill committed (`executions.received_at`
//!    of the last TRADE), and from the move itself to the last fill; goal ≤ 100 ms.
//!
//! Run with `cargo bench --bench paper` (release build); `-- place` or `-- fills` runs one
//! part; `PAPER_BENCH_N` sets the round trips of each kind in part 1 (default 1000).
//! Results go to stdout, with the load average.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exchange_sim::{SimConfig, SimHandle};
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;
use tradebeat::clock::Clock;
use tradebeat::config::{Config, PaperBalance};
use tradebeat::control::Client;
use tradebeat::control::protocol::OrderPlace;
use tradebeat::domain::{OrderRequest, OrderStatus, OrderType, Side, Symbol, TimeInForce};
use tradebeat::exchange::{ClientOptions, Network, SpotClient};

const MINUTE: i64 = 60_000;
/// Requests that reach the exchange a control connection may make at once.
const PER_CONNECTION: usize = 10;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{name}: n {}, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, min {:.2} ms, max {:.2} ms",
        v.len(),
        percentile(&v, 0.5),
        percentile(&v, 0.9),
        percentile(&v, 0.99),
        v.first().copied().unwrap_or(f64::NAN),
        v.last().copied().unwrap_or(f64::NAN),
    );
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn conn(db: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c
}

/// `sql`'s count, 0 while the daemon has not created the database yet. One read-only
/// connection serves every poll: opening one per poll parses the whole schema each time,
/// CPU taken from the daemon under measurement every few milliseconds.
fn count(db: &Path, sql: &str) -> i64 {
    static READER: Mutex<Option<(PathBuf, rusqlite::Connection)>> = Mutex::new(None);
    let mut reader = READER.lock().unwrap_or_else(PoisonError::into_inner);
    if reader.as_ref().is_none_or(|(path, _)| path != db) {
        *reader = db
            .exists()
            .then(|| {
                rusqlite::Connection::open_with_flags(
                    db,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .ok()
            })
            .flatten()
            .map(|c| (db.to_path_buf(), c));
    }
    reader
        .as_ref()
        .and_then(|(_, c)| {
            c.prepare_cached(sql)
                .and_then(|mut st| st.query_row([], |r| r.get(0)))
                .ok()
        })
        .unwrap_or(0)
}

/// Waits until `sql` counts at least `n`.
async fn wait(db: &Path, sql: &str, n: i64, within: Duration) {
    let deadline = Instant::now() + within;
    while count(db, sql) < n {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {sql} ≥ {n}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A paper daemon following `symbols` (1m, 1 s beats), with plenty of every asset.
struct Daemon {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    db: PathBuf,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    async fn start(sim: &SimHandle, symbols: &[String]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::default();
        c.exchange.rest_url = Some(sim.base_url());
        c.exchange.ws_url = Some(sim.ws_url());
        c.heartbeat.period_secs = 1;
        c.heartbeat.offset_secs = 0;
        c.market_data.symbols = symbols.iter().map(|s| s.parse().unwrap()).collect();
        c.market_data.intervals = vec!["1m".parse().unwrap()];
        c.market_data.backfill_days = 1;
        c.storage.database = dir.path().join("bench.db");
        c.logging.dir = dir.path().join("logs");
        c.control.socket = dir.path().join("ctl.sock");
        c.paper.enabled = true;
        let mut balances = BTreeMap::from([(
            "USDT".to_string(),
            PaperBalance::Amount("1000000000".to_string()),
        )]);
        for s in symbols {
            balances.insert(
                s.trim_end_matches("USDT").to_string(),
                PaperBalance::Amount("1000".to_string()),
            );
        }
        c.paper.starting_balances = Some(balances);
        let db = c.storage.database.clone();
        let socket = c.control.socket.clone();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(tradebeat::daemon::run_until(
            c,
            Clock::system(),
            shutdown.clone(),
        ));
        let d = Daemon {
            shutdown,
            task,
            db,
            socket,
            _dir: dir,
        };
        // Every symbol has candles and a ticker: paper orders can be placed.
        let n = symbols.len() as i64;
        wait(
            &d.db,
            "SELECT COUNT(DISTINCT symbol_id) FROM klines",
            n,
            Duration::from_secs(120),
        )
        .await;
        d
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// Control connections, a new one every [`PER_CONNECTION`] orders (the socket's rate of
/// requests that reach the exchange is per connection).
struct Placer {
    socket: PathBuf,
    client: Option<Client>,
    used: usize,
}

impl Placer {
    fn new(socket: &Path) -> Placer {
        Placer {
            socket: socket.to_path_buf(),
            client: None,
            used: 0,
        }
    }

    /// A connection with a place left (opened outside any timing).
    async fn ready(&mut self) {
        if self.client.is_none() || self.used >= PER_CONNECTION {
            self.client = None;
            self.client = Some(Client::connect(&self.socket).await.expect("connects"));
            self.used = 0;
        }
    }

    /// One `order.place` (after [`Placer::ready`]): the row's status and the call's time.
    async fn place(&mut self, request: &OrderRequest) -> (OrderStatus, Duration) {
        let client = self.client.as_mut().expect("ready first");
        self.used += 1;
        let t0 = Instant::now();
        let row = client
            .call::<OrderPlace>(request)
            .await
            .expect("paper order placed");
        (row.status, t0.elapsed())
    }
}

fn spot_client(sim: &SimHandle) -> SpotClient {
    let options = ClientOptions::for_network(
        Network::Testnet,
        Some(&sim.base_url()),
        Duration::from_secs(5),
    )
    .unwrap();
    SpotClient::new(options, Clock::system()).unwrap()
}

fn order(symbol: &Symbol, side: Side, order_type: OrderType, qty: &str) -> OrderRequest {
    let mut r = OrderRequest::new(symbol.clone(), side, order_type);
    r.quantity = Some(qty.parse().unwrap());
    r
}

async fn place(n: usize) {
    let sim = exchange_sim::spawn(SimConfig {
        weight_limit_per_min: 1_000_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let d = Daemon::start(&sim, &["BTCUSDT".to_string()]).await;
    let btc: Symbol = "BTCUSDT".parse().unwrap();
    let book = spot_client(&sim).book_ticker(&btc).await.unwrap();
    let market = order(&btc, Side::Buy, OrderType::Market, "0.001");
    let mut resting = order(&btc, Side::Buy, OrderType::Limit, "0.001");
    resting.price = Some((book.bid_price * Decimal::new(8, 1)).round_dp(2));
    resting.time_in_force = Some(TimeInForce::Gtc);
    let mut placer = Placer::new(&d.socket);
    // Warm-up: rules, connections, the book's first read.
    for _ in 0..20 {
        placer.ready().await;
        placer.place(&market).await;
        placer.ready().await;
        placer.place(&resting).await;
    }
    let (mut m, mut l) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let load = loadavg();
    for _ in 0..n {
        placer.ready().await;
        let (status, took) = placer.place(&market).await;
        assert_eq!(status, OrderStatus::Filled);
        m.push(took.as_secs_f64() * 1e3);
        placer.ready().await;
        let (status, took) = placer.place(&resting).await;
        assert_eq!(status, OrderStatus::New);
        l.push(took.as_secs_f64() * 1e3);
    }
    println!("== paper order.place over the control socket (load average before: {load}) ==");
    summary("MARKET buy, filled at the book", m);
    summary("LIMIT buy resting below the book", l);
    d.stop().await;
}

async fn fills(orders: usize, symbols: usize) {
    let sim = exchange_sim::spawn(SimConfig {
        extra_symbols: symbols,
        weight_limit_per_min: 1_000_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let names: Vec<String> = (1..=symbols).map(|i| format!("SIM{i:03}USDT")).collect();
    let d = Daemon::start(&sim, &names).await;
    let client = spot_client(&sim);

    // Per symbol, a price its next two hours reach and its next minutes do not (placing
    // takes a while, and a resting order must not cross at placement): the lowest low of
    // minutes 5–120 for a buy, else the highest high for a sell.
    let now = sim.now_ms();
    let current = now - now % MINUTE;
    let extremes = |name: &str, from: i64, to: i64| {
        let candles: Vec<_> = (from..to)
            .filter_map(|i| sim.kline(name, "1m", current + i * MINUTE))
            .collect();
        assert!(!candles.is_empty(), "{name} has candles ahead");
        let low = candles.iter().map(|k| k.low).fold(f64::MAX, f64::min);
        let high = candles.iter().map(|k| k.high).fold(f64::MIN, f64::max);
        let dec = |v: f64| v.to_string().parse::<Decimal>().unwrap();
        (dec(low), dec(high))
    };
    let mut plan = Vec::new();
    for name in &names {
        let symbol: Symbol = name.parse().unwrap();
        let (near_low, near_high) = extremes(name, 0, 6);
        let (far_low, far_high) = extremes(name, 6, 121);
        let book = client.book_ticker(&symbol).await.unwrap();
        if far_low < near_low && far_low < book.bid_price {
            plan.push((symbol, Side::Buy, far_low));
        } else if far_high > near_high && far_high > book.ask_price {
            plan.push((symbol, Side::Sell, far_high));
        }
    }
    assert!(!plan.is_empty(), "some symbol moves within two hours");
    if plan.len() < names.len() {
        println!(
            "{} of {} symbols have such a price; the orders go to those",
            plan.len(),
            names.len()
        );
    }
    let requests: Vec<OrderRequest> = (0..orders)
        .map(|i| {
            let (symbol, side, price) = &plan[i % plan.len()];
            let mut r = order(symbol, *side, OrderType::Limit, "0.001");
            r.price = Some(*price);
            r.time_in_force = Some(TimeInForce::Gtc);
            r
        })
        .collect();
    let symbols = plan.len();
    let mut placer = Placer::new(&d.socket);
    let t0 = Instant::now();
    for r in &requests {
        placer.ready().await;
        let (status, _) = placer.place(r).await;
        assert_eq!(status, OrderStatus::New, "{} rests", r.symbol);
    }
    println!(
        "{} resting orders over {symbols} symbols placed in {:.1} s",
        requests.len(),
        t0.elapsed().as_secs_f64()
    );
    let n = requests.len() as i64;
    let filled = "SELECT COUNT(*) FROM orders WHERE status = 'FILLED'";
    assert_eq!(count(&d.db, filled), 0, "nothing filled before the move");

    // Two hours later on the exchange.
    let load = loadavg();
    let moved = now_ms();
    sim.set_clock_skew_ms(121 * MINUTE);
    wait(&d.db, filled, n, Duration::from_secs(300)).await;
    let c = conn(&d.db);
    let (first_fill, last_fill): (i64, i64) = c
        .query_row(
            "SELECT MIN(received_at), MAX(received_at) FROM executions
             WHERE execution_type = 'TRADE'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let (beat_started, beat_finished): (i64, i64) = c
        .query_row(
            "SELECT started_at, finished_at FROM heartbeats WHERE started_at >= ?1
             ORDER BY started_at LIMIT 1",
            [moved],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let early: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM executions WHERE execution_type = 'TRADE' AND received_at < ?1",
            [beat_finished],
            |r| r.get(0),
        )
        .unwrap();
    println!(
        "== {n} resting paper LIMIT orders over {symbols} symbols, one price move (load average before: {load}) =="
    );
    println!(
        "first beat after the move: started {} ms after it, committed {} ms after it",
        beat_started - moved,
        beat_finished - moved
    );
    println!(
        "beat committed -> last fill committed: {} ms (goal <= 100 ms); -> first fill: {} ms",
        last_fill - beat_finished,
        first_fill - beat_finished
    );
    println!(
        "clock moved -> last fill committed: {} ms; fills committed before that beat's commit (a pass already running): {early}",
        last_fill - moved
    );
    d.stop().await;
}

fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Ok(filter) = std::env::var("RUST_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let args: Vec<String> = std::env::args().collect();
    let only = args.iter().skip(1).find(|a| !a.starts_with('-')).cloned();
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("cores {cores}; load average before: {}", loadavg());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        if run("place") {
            place(env("PAPER_BENCH_N", 1000)).await;
        }
        if run("fills") {
            fills(
                env("PAPER_BENCH_ORDERS", 1000).max(1),
                env("PAPER_BENCH_SYMBOLS", 50).max(1),
            )
            .await;
        }
        println!("load average after: {}", loadavg());
    });
}
