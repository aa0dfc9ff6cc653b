//! Soak run: the real `tradebeat run` binary against the exchange simulator for a bounded
//! time, under random faults, then the database compared with the simulator's own state.
//! Not part of the test command; see RELIABILITY.md.
//!
//! ```text
//! cargo bench --bench soak -- --seconds 300 --seed 42
//! ```
//!
//! `--seconds N` (default 300) is the length of the faulty phase; the run adds about half
//! a minute to settle and compare. `--seed S` (default: random, printed) seeds every
//! random choice of the run (faults, their timing, orders, kills), so a failing run can be
//! repeated (the daemon's own timing still varies). `--keep` keeps the run's directory
//! (config, database, logs, the daemon's output), which is kept anyway when the run fails.
//!
//! While it runs:
//!
//! - the daemon follows BTCUSDT and ETHUSDT (1m, 5m) with a 2 s beat and one day of
//!   backfill, signed with the simulator's test key;
//! - a trader places resting LIMIT orders near the market, MARKET orders, and cancels
//!   open ones, over the control socket; the market price of both symbols walks at random
//!   (`SimHandle::set_order_price`), so resting orders fill while the daemon is up, down,
//!   or deaf;
//! - two pollers load the control path: `status`, `order.get`, `order.list`,
//!   `symbol.add` (SOLUSDT, an `exchangeInfo` request each time), `sync.now`;
//! - one fault at a time, drawn from the seeded generator: the user-data connection cut
//!   (`ws_drop`), a half-open link (`ws_silent`), random 503s (`http_5xx`), added latency
//!   (`latency`), an outage (`outage`), the exchange's clock stepped by 5 to 25 s
//!   (`clock_step`);
//! - and, every 15 to 45 s, `kill -9` of the daemon and a restart (`kill_9`).
//!
//! At the end, faults off, the daemon is stopped (SIGTERM), started once more to reconcile,
//! stopped again, and the database is compared with the simulator:
//!
//! - orders: every simulator order has exactly one row with its order id, status and
//!   executed quantity; no row claims an order the exchange does not have, none is left
//!   `pending` or `unknown`; no client order id was placed twice on the exchange;
//! - fills: every simulator trade has exactly one `executions` row with its price and
//!   quantity, and there is no other;
//! - klines: every stored candle equals the simulator's closed candle exactly (a candle
//!   stored before its close holds partial values and differs);
//! - beats: every scheduled beat while the daemon was up has its row, started less than
//!   1 s late; a beat missing or late within 3 s of a fault or a start is counted apart
//!   (the fault explains it), any other is "skipped".
//!
//! One table is printed; the exit status is 1 if anything was lost, duplicated, wrong or
//! skipped.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exchange_sim::{SimConfig, SimHandle, TEST_API_KEY, TEST_API_SECRET};
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;
use tradebeat::control::protocol::{
    OrderCancel, OrderGet, OrderList, OrderListParams, OrderPlace, OrderRefParams, Status,
    SymbolAdd, SymbolAddParams, SyncNow, SyncNowParams, code,
};
use tradebeat::control::{Client, ClientError};
use tradebeat::domain::{OrderRequest, OrderType, Side, StreamState, TimeInForce};

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
/// Base-asset quantity of one order (about 65 and 30 USDT).
const QUANTITY: [&str; 2] = ["0.001", "0.01"];
const INTERVALS: [&str; 2] = ["1m", "5m"];
/// The symbol the pollers add (and add again).
const ADDED: &str = "SOLUSDT";
const PERIOD_MS: i64 = 2_000;
const OFFSET_MS: i64 = 1_000;
/// A beat starting this late (ms after its time) counts as late.
const LATE_MS: i64 = 1_000;
/// A missing or late beat within this of a fault or a start is the fault's.
const FAULT_MARGIN_MS: i64 = 3_000;

struct Args {
    seconds: u64,
    seed: u64,
    keep: bool,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut args = Args {
            seconds: 300,
            seed: fastrand::u64(..),
            keep: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            match a.as_str() {
                "--seconds" => {
                    args.seconds = it
                        .next()
                        .and_then(|v| v.parse().ok())
                        .filter(|s| *s > 0)
                        .ok_or("--seconds takes a positive whole number")?
                }
                "--seed" => {
                    args.seed = it
                        .next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--seed takes a whole number")?
                }
                "--keep" => args.keep = true,
                // `cargo bench` passes `--bench`.
                "--bench" => {}
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok(args)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What happened during the run, for the table and the beat check.
#[derive(Default)]
struct Log {
    faults: BTreeMap<&'static str, u64>,
    /// (start, end) local ms of every fault, kills and starts included.
    episodes: Vec<(i64, i64)>,
    /// (start, end) local ms of every daemon process.
    runs: Vec<(i64, i64)>,
    /// method → (ok, refused by the daemon's limits, other errors, connection failures)
    calls: BTreeMap<&'static str, [u64; 4]>,
    /// (method, control error code) → how many.
    errors: BTreeMap<(&'static str, i64), u64>,
    /// (symbol, client order id) of every order.place sent.
    placed: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Log>>;

fn lock(log: &Shared) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|p| p.into_inner())
}

fn count_call<T>(log: &Shared, method: &'static str, r: &Result<T, ClientError>) {
    let slot = match r {
        Ok(_) => 0,
        Err(ClientError::Rpc(e))
            if e.code == code::EXCHANGE_UNAVAILABLE || e.code == code::SERVER_BUSY =>
        {
            1
        }
        Err(ClientError::Rpc(_)) => 2,
        Err(_) => 3,
    };
    let mut l = lock(log);
    l.calls.entry(method).or_default()[slot] += 1;
    if let Err(ClientError::Rpc(e)) = r {
        *l.errors.entry((method, e.code)).or_default() += 1;
    }
}

/// A control connection, reopened after a failure (the daemon may be down).
struct Conn {
    socket: PathBuf,
    client: Option<Client>,
}

impl Conn {
    async fn client(&mut self) -> Option<&mut Client> {
        if self.client.is_none() {
            self.client = Client::connect(&self.socket)
                .await
                .ok()
                .map(|c| c.with_timeout(Duration::from_secs(10)));
        }
        self.client.as_mut()
    }

    /// Calls `M`; counts the outcome; drops the connection after a transport failure.
    async fn call<M: tradebeat::control::protocol::Method>(
        &mut self,
        log: &Shared,
        params: &M::Params,
    ) -> Option<M::Result> {
        let Some(client) = self.client().await else {
            lock(log).calls.entry(M::NAME).or_default()[3] += 1;
            return None;
        };
        let r = client.call::<M>(params).await;
        count_call(log, M::NAME, &r);
        match r {
            Ok(v) => Some(v),
            Err(ClientError::Rpc(_)) => None,
            Err(_) => {
                self.client = None;
                None
            }
        }
    }
}

/// Sleeps `ms` or until `stop`; false once stopped.
async fn pause(stop: &CancellationToken, ms: u64) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(Duration::from_millis(ms)) => true,
    }
}

/// The market price of each symbol walks at random around where it started.
async fn walk_prices(sim: SimHandle, base: [f64; 2], seed: u64, stop: CancellationToken) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut price = base;
    while pause(&stop, 1_000).await {
        for (i, symbol) in SYMBOLS.iter().enumerate() {
            let step = (rng.f64() - 0.5) * 0.003;
            price[i] = price[i] * (1.0 + step) + (base[i] - price[i]) * 0.05;
            if let Ok(mut p) = PRICES.lock() {
                p.insert((*symbol).to_owned(), price[i]);
            }
            sim.set_order_price(symbol, Some(&format!("{:.2}", price[i])));
        }
    }
}

/// Places, cancels and queries orders over the control socket.
async fn trade(sim: SimHandle, socket: PathBuf, log: Shared, seed: u64, stop: CancellationToken) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut conn = Conn {
        socket,
        client: None,
    };
    let mut n = 0u64;
    while pause(&stop, rng.u64(200..600)).await {
        let i = rng.usize(..SYMBOLS.len());
        let symbol = SYMBOLS[i];
        let roll = rng.u32(..100);
        if roll < 55 {
            n += 1;
            let id = format!("soak-{}-{n}", seed % 100_000);
            let side = if rng.bool() { Side::Buy } else { Side::Sell };
            let mut req = OrderRequest::new(
                symbol.parse().expect("symbol"),
                side,
                if roll < 40 {
                    OrderType::Limit
                } else {
                    OrderType::Market
                },
            );
            req.quantity = Some(Decimal::from_str(QUANTITY[i]).expect("quantity"));
            req.client_order_id = Some(id.parse().expect("client order id"));
            if req.order_type == OrderType::Limit {
                let market = current_price(&sim, symbol);
                if market <= 0.0 {
                    continue;
                }
                let away = 1.0 + rng.f64() * 0.004;
                let price = match side {
                    Side::Buy => market / away,
                    Side::Sell => market * away,
                };
                req.price = Decimal::from_str(&format!("{price:.2}")).ok();
                req.time_in_force = Some(TimeInForce::Gtc);
            }
            lock(&log).placed.push((symbol.to_owned(), id));
            conn.call::<OrderPlace>(&log, &req).await;
        } else if roll < 80 {
            let open = conn
                .call::<OrderList>(
                    &log,
                    &OrderListParams {
                        symbol: None,
                        open: Some(true),
                        limit: Some(100),
                        live: None,
                        market: None,
                    },
                )
                .await
                .unwrap_or_default();
            if let Some(o) = open.get(rng.usize(..open.len().max(1))) {
                let params = OrderRefParams {
                    symbol: o.symbol.clone(),
                    order_id: None,
                    client_order_id: Some(o.client_order_id.clone()),
                    market: None,
                };
                conn.call::<OrderCancel>(&log, &params).await;
            }
        } else if let Some(params) = random_order(&log, &mut rng) {
            conn.call::<OrderGet>(&log, &params).await;
        }
    }
}

/// The market price of `symbol` as the walk last set it.
fn current_price(sim: &SimHandle, symbol: &str) -> f64 {
    PRICES
        .lock()
        .ok()
        .and_then(|p| p.get(symbol).copied())
        .unwrap_or_else(|| last_close(sim, symbol))
}

static PRICES: Mutex<BTreeMap<String, f64>> = Mutex::new(BTreeMap::new());

fn last_close(sim: &SimHandle, symbol: &str) -> f64 {
    let now = sim.now_ms();
    sim.klines(symbol, "1m", now - 10 * 60_000, now - 60_000)
        .last()
        .map_or(0.0, |k| k.close)
}

fn random_order(log: &Shared, rng: &mut fastrand::Rng) -> Option<OrderRefParams> {
    let log = lock(log);
    if log.placed.is_empty() {
        return None;
    }
    let (symbol, id) = &log.placed[rng.usize(..log.placed.len())];
    Some(OrderRefParams {
        symbol: symbol.parse().ok()?,
        order_id: None,
        client_order_id: id.parse().ok(),
        market: None,
    })
}

/// Loads the control path with reads and requests that reach the exchange.
async fn poll(socket: PathBuf, log: Shared, seed: u64, stop: CancellationToken) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut conn = Conn {
        socket,
        client: None,
    };
    while pause(&stop, rng.u64(20..120)).await {
        match rng.u32(..100) {
            0..35 => {
                conn.call::<Status>(&log, &Default::default()).await;
            }
            35..70 => {
                if let Some(params) = random_order(&log, &mut rng) {
                    conn.call::<OrderGet>(&log, &params).await;
                }
            }
            70..85 => {
                conn.call::<OrderList>(&log, &OrderListParams::default())
                    .await;
            }
            85..98 => {
                let params = SymbolAddParams {
                    symbol: ADDED.parse().expect("symbol"),
                    market: None,
                    intervals: None,
                    backfill_days: None,
                };
                conn.call::<SymbolAdd>(&log, &params).await;
            }
            _ => {
                conn.call::<SyncNow>(&log, &SyncNowParams::default()).await;
            }
        }
    }
}

/// One fault at a time, each for a few seconds, with pauses in between.
async fn inject_faults(sim: SimHandle, log: Shared, seed: u64, stop: CancellationToken) {
    let mut rng = fastrand::Rng::with_seed(seed);
    while pause(&stop, rng.u64(2_000..6_000)).await {
        let start = now_ms();
        let hold = rng.u64(1_000..8_000);
        let kind = match rng.u32(..6) {
            0 => {
                sim.drop_ws_connections();
                "ws_drop"
            }
            1 => {
                sim.set_ws_silent(true);
                pause(&stop, hold).await;
                sim.set_ws_silent(false);
                "ws_silent"
            }
            2 => {
                sim.set_error_rate_5xx(0.05 + rng.f64() * 0.3);
                pause(&stop, hold).await;
                sim.set_error_rate_5xx(0.0);
                "http_5xx"
            }
            3 => {
                sim.set_latency(Duration::from_millis(rng.u64(50..800)));
                pause(&stop, hold).await;
                sim.set_latency(Duration::ZERO);
                "latency"
            }
            4 => {
                sim.set_unavailable(true);
                pause(&stop, hold.min(4_000)).await;
                sim.set_unavailable(false);
                "outage"
            }
            _ => {
                let step = rng.i64(5_000..25_000) * if rng.bool() { 1 } else { -1 };
                // Stay within 30 s of the true time.
                let skew = sim.clock_skew_ms() + step;
                let skew = if skew.abs() > 30_000 {
                    sim.clock_skew_ms() - step
                } else {
                    skew
                };
                sim.set_clock_skew_ms(skew);
                "clock_step"
            }
        };
        let mut l = lock(&log);
        *l.faults.entry(kind).or_default() += 1;
        l.episodes.push((start, now_ms()));
    }
}

fn start_daemon(dir: &Path, log: &Shared) -> Child {
    let out = File::options()
        .create(true)
        .append(true)
        .open(dir.join("daemon.out"))
        .expect("daemon.out");
    let err = out.try_clone().expect("daemon.out");
    let child = common::tradebeat_command(dir)
        .args(["run", "--config", "config.toml"])
        .env("TRADEBEAT_EXCHANGE__API_KEY", TEST_API_KEY)
        .env("TRADEBEAT_EXCHANGE__API_SECRET", TEST_API_SECRET)
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("tradebeat starts");
    let start = now_ms();
    let mut l = lock(log);
    l.runs.push((start, i64::MAX));
    l.episodes.push((start, start));
    child
}

fn ended(log: &Shared) {
    let mut l = lock(log);
    let end = now_ms();
    if let Some(run) = l.runs.last_mut() {
        run.1 = end;
    }
}

/// SIGTERM, then waits up to 30 s; the exit status, or None if it did not stop.
async fn stop_daemon(mut child: Child, log: &Shared) -> Option<std::process::ExitStatus> {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    ended(log);
    status
}

fn config(sim: &SimHandle, socket: &Path) -> String {
    let list = |xs: &[&str]| {
        xs.iter()
            .map(|x| format!("\"{x}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "[exchange]\nrest_url = \"{}\"\nws_api_url = \"{}\"\nrequest_timeout_ms = 2000\n\n\
         [heartbeat]\nperiod_secs = {}\noffset_secs = {}\n\n\
         [market_data]\nsymbols = [{}]\nintervals = [{}]\nbackfill_days = 1\n\n\
         [storage]\ndatabase = \"data/tradebeat.db\"\n\n[control]\nsocket = \"{}\"\n\n\
         [logging]\ndir = \"logs\"\nlevel = \"debug\"\n",
        sim.base_url(),
        common::ws_api_url(&sim.base_url()),
        PERIOD_MS / 1000,
        OFFSET_MS / 1000,
        list(&SYMBOLS),
        list(&INTERVALS),
        socket.display(),
    )
}

/// Waits until the daemon answers `status` with a reconciled, healthy user-data stream
/// (reconciled after `since`) and no order is left `pending` or `unknown`.
async fn wait_settled(socket: &Path, db: &Path, since: i64, log: &Shared) -> bool {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut conn = Conn {
        socket: socket.to_owned(),
        client: None,
    };
    while Instant::now() < deadline {
        if let Some(s) = conn.call::<Status>(log, &Default::default()).await {
            let stream = s.user_stream;
            let reconciled = stream.state == StreamState::Healthy
                && stream.reconciled_at.is_some_and(|t| t >= since);
            if reconciled && s.last_beat.is_some_and(|b| b.beat_time > since) {
                let unresolved: i64 = common::read_db(db)
                    .query_row(
                        "SELECT COUNT(*) FROM orders WHERE status IN ('pending', 'unknown')",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap_or(1);
                if unresolved == 0 {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[derive(Default)]
struct Verdict {
    orders: usize,
    orders_lost: usize,
    orders_wrong: usize,
    orders_duplicated: usize,
    fills: usize,
    fills_lost: usize,
    fills_wrong: usize,
    fills_duplicated: usize,
    candles: usize,
    candles_wrong: usize,
    beats: usize,
    beats_skipped: usize,
    beats_under_faults: usize,
    notes: Vec<String>,
}

fn dec(s: &str) -> Option<Decimal> {
    Decimal::from_str(s).ok().map(|d| d.normalize())
}

fn compare_orders(sim: &SimHandle, db: &rusqlite::Connection, v: &mut Verdict) {
    let sim_orders = sim.orders();
    let mut by_id: HashMap<String, Vec<&exchange_sim::SimOrder>> = HashMap::new();
    for o in &sim_orders {
        by_id.entry(o.client_order_id.clone()).or_default().push(o);
    }
    type OrderRow = (String, Option<i64>, String, String);
    let mut stmt = db
        .prepare("SELECT client_order_id, order_id, status, executed_qty FROM orders")
        .expect("orders query");
    let rows: Vec<OrderRow> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("orders")
        .collect::<Result<_, _>>()
        .expect("orders");
    let mut rows_by_id: HashMap<&str, Vec<&OrderRow>> = HashMap::new();
    for r in &rows {
        rows_by_id.entry(r.0.as_str()).or_default().push(r);
    }
    v.orders = sim_orders.len();
    for (id, orders) in &by_id {
        if orders.len() > 1 {
            v.orders_duplicated += orders.len() - 1;
            v.notes
                .push(format!("{id}: {} orders on the exchange", orders.len()));
        }
        let o = orders[orders.len() - 1];
        match rows_by_id.get(id.as_str()).map(Vec::as_slice) {
            None | Some([]) => {
                v.orders_lost += 1;
                v.notes
                    .push(format!("{id}: no row ({} {})", o.status, o.executed_qty));
            }
            Some([row]) => {
                let same = row.1 == Some(o.order_id)
                    && row.2 == o.status
                    && dec(&row.3) == dec(&o.executed_qty);
                if !same {
                    v.orders_wrong += 1;
                    v.notes.push(format!(
                        "{id}: row {:?} {} {}, exchange {} {} {}",
                        row.1, row.2, row.3, o.order_id, o.status, o.executed_qty
                    ));
                }
            }
            Some(more) => {
                v.orders_duplicated += more.len() - 1;
                v.notes.push(format!("{id}: {} rows", more.len()));
            }
        }
    }
    for r in &rows {
        let on_exchange = by_id.contains_key(&r.0);
        if (r.1.is_some() && !on_exchange) || r.2 == "pending" || r.2 == "unknown" {
            v.orders_wrong += 1;
            v.notes.push(format!(
                "{}: row {:?} {} not matching the exchange",
                r.0, r.1, r.2
            ));
        }
    }
}

fn compare_fills(sim: &SimHandle, db: &rusqlite::Connection, v: &mut Verdict) {
    let trades = sim.trades();
    let mut stmt = db
        .prepare(
            "SELECT symbol, trade_id, order_id, last_price, last_qty FROM executions
             WHERE trade_id IS NOT NULL",
        )
        .expect("executions query");
    type FillRow = (String, i64, i64, Option<String>, Option<String>);
    let rows: Vec<FillRow> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .expect("executions")
        .collect::<Result<_, _>>()
        .expect("executions");
    let mut by_trade: HashMap<(String, i64), Vec<&FillRow>> = HashMap::new();
    for r in &rows {
        by_trade.entry((r.0.clone(), r.1)).or_default().push(r);
    }
    v.fills = trades.len();
    for t in &trades {
        match by_trade
            .remove(&(t.symbol.clone(), t.id))
            .unwrap_or_default()
            .as_slice()
        {
            [] => {
                v.fills_lost += 1;
                v.notes.push(format!(
                    "trade {} {} of order {}: no executions row",
                    t.symbol, t.id, t.order_id
                ));
            }
            [row] => {
                let same = row.2 == t.order_id
                    && row.3.as_deref().and_then(dec) == dec(&t.price)
                    && row.4.as_deref().and_then(dec) == dec(&t.qty);
                if !same {
                    v.fills_wrong += 1;
                    v.notes
                        .push(format!("trade {} {}: row {row:?}", t.symbol, t.id));
                }
            }
            more => {
                v.fills_duplicated += more.len() - 1;
                v.notes
                    .push(format!("trade {} {}: {} rows", t.symbol, t.id, more.len()));
            }
        }
    }
    for (key, extra) in by_trade {
        v.fills_duplicated += extra.len();
        v.notes
            .push(format!("executions row for unknown trade {key:?}"));
    }
}

fn compare_klines(sim: &SimHandle, db: &rusqlite::Connection, v: &mut Verdict) {
    let now = sim.now_ms();
    let mut stmt = db
        .prepare(
            "SELECT DISTINCT s.symbol, k.interval FROM klines k JOIN symbols s ON s.id = k.symbol_id",
        )
        .expect("series query");
    let series: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("series")
        .collect::<Result<_, _>>()
        .expect("series");
    for (symbol, interval) in series {
        for row in common::stored_klines(db, &symbol, &interval) {
            v.candles += 1;
            let right = row.1 < now
                && sim
                    .kline(&symbol, &interval, row.0)
                    .is_some_and(|_| common::sim_row(sim, &symbol, &interval, row.0) == row);
            if !right {
                v.candles_wrong += 1;
                v.notes
                    .push(format!("{symbol} {interval} {}: stored {row:?}", row.0));
            }
        }
    }
}

fn compare_beats(log: &Log, db: &rusqlite::Connection, v: &mut Verdict) {
    let mut stmt = db
        .prepare("SELECT beat_time, started_at FROM heartbeats WHERE trigger = 'schedule'")
        .expect("heartbeats query");
    let started: HashMap<i64, i64> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("heartbeats")
        .collect::<Result<_, _>>()
        .expect("heartbeats");
    let near_fault = |t: i64| {
        log.episodes
            .iter()
            .any(|(s, e)| t >= s - FAULT_MARGIN_MS && t <= e + FAULT_MARGIN_MS)
    };
    for &(start, end) in &log.runs {
        // Scheduled beats from after the start-up to before the end, which had time to commit.
        let mut t = (start + FAULT_MARGIN_MS).div_euclid(PERIOD_MS) * PERIOD_MS + OFFSET_MS;
        while t <= end - PERIOD_MS {
            if t > start + FAULT_MARGIN_MS {
                v.beats += 1;
                let on_time = started.get(&t).is_some_and(|s| s - t < LATE_MS);
                if !on_time {
                    if near_fault(t) {
                        v.beats_under_faults += 1;
                    } else {
                        v.beats_skipped += 1;
                        v.notes.push(format!(
                            "beat {t}: {}",
                            started
                                .get(&t)
                                .map_or("missing".to_owned(), |s| format!("{} ms late", s - t))
                        ));
                    }
                }
            }
            t += PERIOD_MS;
        }
    }
}

async fn soak(args: Args) -> ExitCode {
    println!("soak: seed {} ({} s)", args.seed, args.seconds);
    let mut seeds = fastrand::Rng::with_seed(args.seed);
    let sim = exchange_sim::spawn(SimConfig {
        balances: vec![
            ("USDT".into(), "10000000".into()),
            ("BTC".into(), "100".into()),
            ("ETH".into(), "1000".into()),
        ],
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let dir = tempfile::Builder::new()
        .prefix("tradebeat-soak-")
        .tempdir()
        .expect("tempdir");
    let path = dir.path().to_owned();
    let socket = path.join("control.sock");
    std::fs::write(path.join("config.toml"), config(&sim, &socket)).expect("config");
    let db = path.join("data/tradebeat.db");
    println!("soak: files in {}", path.display());

    let mut base = [0.0; 2];
    for (i, symbol) in SYMBOLS.iter().enumerate() {
        base[i] = last_close(&sim, symbol);
        let p = format!("{:.2}", base[i]);
        sim.set_order_price(symbol, Some(&p));
        if let Ok(mut prices) = PRICES.lock() {
            prices.insert((*symbol).to_owned(), base[i]);
        }
    }

    let log: Shared = Arc::default();
    let mut child = start_daemon(&path, &log);
    let stop = CancellationToken::new();
    let prices = tokio::spawn(walk_prices(sim.clone(), base, seeds.u64(..), stop.clone()));
    let mut tasks = vec![
        prices,
        tokio::spawn(trade(
            sim.clone(),
            socket.clone(),
            log.clone(),
            seeds.u64(..),
            stop.clone(),
        )),
        tokio::spawn(inject_faults(
            sim.clone(),
            log.clone(),
            seeds.u64(..),
            stop.clone(),
        )),
    ];
    for _ in 0..2 {
        tasks.push(tokio::spawn(poll(
            socket.clone(),
            log.clone(),
            seeds.u64(..),
            stop.clone(),
        )));
    }

    // kill -9 at random moments, restarted after up to 1.5 s.
    let end = Instant::now() + Duration::from_secs(args.seconds);
    let mut rng = fastrand::Rng::with_seed(seeds.u64(..));
    loop {
        let next = Instant::now() + Duration::from_millis(rng.u64(15_000..45_000));
        if next >= end {
            tokio::time::sleep_until(end.into()).await;
            break;
        }
        tokio::time::sleep_until(next.into()).await;
        let _ = child.kill();
        let _ = child.wait();
        ended(&log);
        let down = now_ms();
        tokio::time::sleep(Duration::from_millis(rng.u64(0..1_500))).await;
        {
            let mut l = lock(&log);
            *l.faults.entry("kill_9").or_default() += 1;
            l.episodes.push((down, now_ms()));
        }
        child = start_daemon(&path, &log);
    }

    // Settle: faults off, the market still, the daemon stopped, started to reconcile and
    // stopped again.
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    sim.set_error_rate_5xx(0.0);
    sim.set_latency(Duration::ZERO);
    sim.set_unavailable(false);
    sim.set_ws_silent(false);
    sim.match_orders();
    let mut failures = Vec::new();
    if stop_daemon(child, &log).await.is_none_or(|s| !s.success()) {
        failures.push("the daemon did not stop cleanly".to_owned());
    }
    let since = now_ms();
    let child = start_daemon(&path, &log);
    if !wait_settled(&socket, &db, since, &log).await {
        failures.push("the daemon did not settle within 90 s".to_owned());
    }
    if stop_daemon(child, &log).await.is_none_or(|s| !s.success()) {
        failures.push("the daemon did not stop cleanly at the end".to_owned());
    }

    let conn = common::read_db(&db);
    let mut v = Verdict::default();
    compare_orders(&sim, &conn, &mut v);
    compare_fills(&sim, &conn, &mut v);
    compare_klines(&sim, &conn, &mut v);
    let log = std::mem::take(&mut *lock(&log));
    compare_beats(&log, &conn, &mut v);

    let bad = v.orders_lost
        + v.orders_wrong
        + v.orders_duplicated
        + v.fills_lost
        + v.fills_wrong
        + v.fills_duplicated
        + v.candles_wrong
        + v.beats_skipped
        + failures.len();
    print_table(&args, &log, &v);
    for note in v.notes.iter().take(50) {
        println!("  {note}");
    }
    for f in &failures {
        println!("  FAILED: {f}");
    }
    sim.shutdown().await;
    if bad > 0 || args.keep {
        let kept = dir.keep();
        println!("soak: files kept in {}", kept.display());
    }
    if bad > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_table(args: &Args, log: &Log, v: &Verdict) {
    let faults: Vec<String> = log.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let calls: u64 = log.calls.values().map(|c| c.iter().sum::<u64>()).sum();
    let refused: u64 = log.calls.values().map(|c| c[1]).sum();
    println!();
    println!(
        "| seed | seconds | faults injected | orders | fills | control calls (refused) | lost | duplicated | wrong | candles (wrong) | beats (skipped; missed under faults) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} | {calls} ({refused}) | {} orders, {} fills | {} orders, {} fills | {} orders, {} fills | {} ({}) | {} ({}; {}) |",
        args.seed,
        args.seconds,
        faults.join(", "),
        v.orders,
        v.fills,
        v.orders_lost,
        v.fills_lost,
        v.orders_duplicated,
        v.fills_duplicated,
        v.orders_wrong,
        v.fills_wrong,
        v.candles,
        v.candles_wrong,
        v.beats,
        v.beats_skipped,
        v.beats_under_faults,
    );
    println!();
    for (method, [ok, refused, errors, down]) in &log.calls {
        let codes: Vec<String> = log
            .errors
            .iter()
            .filter(|((m, _), _)| m == method)
            .map(|((_, c), n)| format!("{c} ×{n}"))
            .collect();
        println!(
            "  {method}: {ok} ok, {refused} refused, {errors} errors, {down} not connected (error codes: {})",
            codes.join(", ")
        );
    }
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e}\nusage: soak [--seconds N] [--seed S] [--keep]");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(soak(args))
}
