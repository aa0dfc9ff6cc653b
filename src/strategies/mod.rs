//! Strategies: programs the daemon runs after a candle of an attached (market, symbol,
//! interval) has closed and its beat has committed (README.md, "Strategies").
//!
//! [`StrategyRunner`] is the component. After every beat (the heartbeat's status watch
//! changes) it reads the live trade strategies of live strategies and, for each whose
//! series has a stored candle newer than the one its last run saw, starts one run in a
//! task of its own and goes back to waiting: a run never delays a beat, another run or
//! the shutdown. At most `max_concurrent` runs execute at once.
//!
//! One run ([`run_once`]); the process is started first and its context read from the
//! database while it starts up (an interpreter's start overlaps the reads):
//! 1. the context, one JSON object on stdin: `strategy`, `trade_strategy_id`, `market`,
//!    `symbol`, `interval`, `beat_time`, `mode`, `params`, `klines` (the last 500 closed,
//!    oldest first, decimal strings as `kline.list` gives them), `ticker` (the newest
//!    stored 24 h ticker or `null`), `position` (from the stored fills, as `pnl.list`),
//!    `balances` and `open_orders` (of the trade strategy's market);
//! 2. the command, split like a shell would and run without a shell, in a process group
//!    of its own, with a minimal environment ([`STRATEGY_ENV`]: no API key, no secret ever
//!    reaches it), stderr appended to `<logging.dir>/strategy-<slug>.log`, rotated like
//!    the other logs ([`log`]);
//! 3. one JSON object read from stdout (at most [`MAX_OUTPUT_BYTES`]; a longer answer
//!    ends the run at once as `invalid_output`) within the strategy's `timeout_ms`, else
//!    the whole process group is killed (`killpg` SIGKILL);
//! 4. its `orders` placed through [`Orders::place`] of the trade strategy's market (the
//!    `order.place` path: rules, pending row, sent once; the answer names neither the
//!    market nor the symbol, the daemon sets both) with client order ids
//!    `tb-<slug>-<random>`, each bad order refused and logged while the others are placed;
//!    its `cancel` applied on that market; a market the daemon does not trade on (no
//!    credentials for it, paper off) has every order refused;
//! 5. one `strategy_runs` row.

pub mod command;
pub mod log;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::ser::SerializeMap as _;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::domain::{
    ClientOrderId, Interval, Kline, Market, OrderRef, OrderRequest, Symbol, TradingMode,
};
use crate::heartbeat::HeartbeatStatus;
use crate::orders::{OrderFilter, Orders};
use crate::store::{ActionRow, NewStrategyRun, Store, StrategyRow, TradeStrategyRow};

/// The most bytes read from a strategy's stdout; a longer answer is `invalid_output`.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// The closed candles handed to a strategy.
pub const CONTEXT_KLINES: u32 = 500;
/// The most open orders (of the trade strategy's market and symbol) handed to a strategy.
pub const CONTEXT_OPEN_ORDERS: u32 = 1000;
/// The environment a strategy runs with, and nothing else: `PATH` (the daemon's, or
/// `/usr/local/bin:/usr/bin:/bin`), `LANG=C.UTF-8`, `HOME` and `TMPDIR` (the daemon's
/// when set), `TRADEBEAT_MODE` (`paper` or `live`) and `TRADEBEAT_STRATEGY` (the slug).
pub const STRATEGY_ENV: [&str; 6] = [
    "PATH",
    "LANG",
    "HOME",
    "TMPDIR",
    "TRADEBEAT_MODE",
    "TRADEBEAT_STRATEGY",
];

/// How a run ended (`strategy_runs.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Timeout,
    ExitCode,
    InvalidOutput,
    /// In flight when the daemon stopped: killed.
    Killed,
    /// The program could not be started.
    SpawnFailed,
}

impl Outcome {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Timeout => "timeout",
            Outcome::ExitCode => "exit_code",
            Outcome::InvalidOutput => "invalid_output",
            Outcome::Killed => "killed",
            Outcome::SpawnFailed => "spawn_failed",
        }
    }
}

/// What the runner needs: shared by every run.
#[derive(Clone)]
pub struct RunnerContext {
    pub store: Store,
    /// Spot's orders component.
    pub orders: Orders,
    /// One orders component per futures market the daemon trades (live or paper); a
    /// trade strategy of a market without one has its orders refused.
    pub futures_orders: Vec<Orders>,
    pub clock: Clock,
    pub mode: TradingMode,
    /// The `strategy-<slug>.log` files (`logging.dir`, `logging.max_files`).
    pub logs: log::StrategyLogs,
}

impl RunnerContext {
    /// The orders component of `market`, if the daemon trades there.
    fn orders_of(&self, market: Market) -> Option<&Orders> {
        if market == Market::Spot {
            return Some(&self.orders);
        }
        self.futures_orders.iter().find(|o| o.market() == market)
    }
}

/// The component that runs strategies after beats.
pub struct StrategyRunner {
    ctx: RunnerContext,
    beats: watch::Receiver<HeartbeatStatus>,
    permits: Arc<Semaphore>,
}

impl StrategyRunner {
    /// Runs strategies after each beat `beats` reports, at most `max_concurrent` at once.
    pub fn new(
        ctx: RunnerContext,
        beats: watch::Receiver<HeartbeatStatus>,
        max_concurrent: usize,
    ) -> StrategyRunner {
        StrategyRunner {
            ctx,
            beats,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    async fn watch(mut self, shutdown: CancellationToken) {
        let mut runs: JoinSet<()> = JoinSet::new();
        let started: Arc<Mutex<HashMap<i64, i64>>> = Arc::default();
        let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = self.beats.changed() => {
                    if changed.is_err() {
                        shutdown.cancelled().await;
                        break;
                    }
                }
                Some(_) = runs.join_next(), if !runs.is_empty() => continue,
            }
            let beat_time = match self.beats.borrow_and_update().last.as_ref() {
                Some(row) => row.beat_time,
                None => continue,
            };
            match due_runs(&self.ctx.store, &started, &in_flight).await {
                Ok(due) => {
                    for (ts, strategy, candle) in due {
                        let ctx = self.ctx.clone();
                        let permits = Arc::clone(&self.permits);
                        let stop = shutdown.child_token();
                        let in_flight = Arc::clone(&in_flight);
                        runs.spawn(async move {
                            if let Ok(_permit) = permits.acquire_owned().await {
                                run_once(&ctx, &ts, &strategy, beat_time, candle, &stop).await;
                            }
                            in_flight
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .remove(&ts.id);
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "strategies not read after a beat"),
            }
        }
        // In-flight runs see the cancelled token, kill their process groups and record
        // themselves as `killed`.
        while runs.join_next().await.is_some() {}
    }
}

impl crate::component::Component for StrategyRunner {
    fn name(&self) -> &'static str {
        "strategies"
    }

    fn drain_deadline(&self) -> Duration {
        Duration::from_secs(3)
    }

    fn run(
        self,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.watch(shutdown)
    }
}

/// The runs due now: each live trade strategy not running now (`in_flight`) whose series
/// has a stored candle newer than the one its last run (recorded, or started by this
/// process) saw, with that candle's open time. A trade strategy still running when its
/// next candle closes runs once it has ended, on the newest candle: a slow strategy never
/// holds more than one place of the concurrency bound. `started` and `in_flight` are
/// updated with what is returned.
pub async fn due_runs(
    store: &Store,
    started: &Arc<Mutex<HashMap<i64, i64>>>,
    in_flight: &Arc<Mutex<HashSet<i64>>>,
) -> Result<Vec<(TradeStrategyRow, StrategyRow, i64)>, crate::store::StoreError> {
    let started = Arc::clone(started);
    let in_flight = Arc::clone(in_flight);
    store
        .run(move |s| {
            let recorded: HashMap<i64, i64> = s.last_strategy_runs()?.into_iter().collect();
            let mut out = Vec::new();
            let mut symbol_ids: HashMap<(Market, Symbol), Option<i64>> = HashMap::new();
            for (ts, strategy) in s.runnable_trade_strategies()? {
                let key = (ts.market, ts.symbol.clone());
                let symbol_id = match symbol_ids.get(&key) {
                    Some(id) => *id,
                    None => {
                        let id = s.symbol_by_name(ts.market, &ts.symbol)?.map(|r| r.id);
                        symbol_ids.insert(key, id);
                        id
                    }
                };
                let Some(symbol_id) = symbol_id else { continue };
                if in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .contains(&ts.id)
                {
                    continue;
                }
                let Some(newest) = s
                    .latest_klines(symbol_id, ts.interval, i64::MAX, 1)?
                    .last()
                    .map(|k| k.open_time)
                else {
                    continue;
                };
                let mut started = started.lock().unwrap_or_else(PoisonError::into_inner);
                let seen = [recorded.get(&ts.id), started.get(&ts.id)]
                    .into_iter()
                    .flatten()
                    .copied()
                    .max();
                if seen.is_none_or(|seen| newest > seen) {
                    started.insert(ts.id, newest);
                    in_flight
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(ts.id);
                    out.push((ts, strategy, newest));
                }
            }
            Ok(out)
        })
        .await
}

/// A kline as `kline.list` gives it (decimal strings), written straight to the context's
/// bytes: 500 of them per run, with no JSON tree or string built per field on the way.
struct KlineOut<'a>(&'a Kline);

impl Serialize for KlineOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let k = self.0;
        let mut m = s.serialize_map(Some(11))?;
        m.serialize_entry("open_time", &k.open_time)?;
        m.serialize_entry("close_time", &k.close_time)?;
        m.serialize_entry("open", &format_args!("{}", k.open))?;
        m.serialize_entry("high", &format_args!("{}", k.high))?;
        m.serialize_entry("low", &format_args!("{}", k.low))?;
        m.serialize_entry("close", &format_args!("{}", k.close))?;
        m.serialize_entry("volume", &format_args!("{}", k.volume))?;
        m.serialize_entry("quote_volume", &format_args!("{}", k.quote_volume))?;
        m.serialize_entry("trades", &k.trades)?;
        m.serialize_entry(
            "taker_buy_base_volume",
            &format_args!("{}", k.taker_buy_base_volume),
        )?;
        m.serialize_entry(
            "taker_buy_quote_volume",
            &format_args!("{}", k.taker_buy_quote_volume),
        )?;
        m.end()
    }
}

/// The context as written to the strategy: its fields, then `klines`.
#[derive(Serialize)]
struct ContextOut<'a> {
    #[serde(flatten)]
    fields: Value,
    klines: Vec<KlineOut<'a>>,
}

/// The JSON context of one run (see the module's documentation), as the bytes written to
/// the strategy's stdin.
pub async fn context(
    ctx: &RunnerContext,
    ts: &TradeStrategyRow,
    slug: &str,
    beat_time: i64,
) -> Result<Vec<u8>, String> {
    let (market, symbol, interval): (Market, Symbol, Interval) =
        (ts.market, ts.symbol.clone(), ts.interval);
    let stored = ctx
        .store
        .run(move |s| {
            let row = s.symbol_by_name(market, &symbol)?;
            let Some(row) = row else {
                return Ok(None);
            };
            let klines = s.latest_klines(row.id, interval, i64::MAX, CONTEXT_KLINES)?;
            let ticker = s.latest_ticker(row.id)?;
            let fills = s.fills_for_pnl(Some(market), Some(&symbol))?;
            let balances = s.balances(market)?;
            let open = s.orders(&OrderFilter {
                market: Some(market),
                symbol: Some(symbol.clone()),
                open: true,
                limit: CONTEXT_OPEN_ORDERS,
            })?;
            Ok(Some((row, klines, ticker, fills, balances, open)))
        })
        .await
        .map_err(|e| e.to_string())?;
    let Some((row, klines, ticker, fills, balances, open)) = stored else {
        return Err(format!("symbol {} is not registered", ts.symbol));
    };
    let entry = fills.first();
    let pnl = crate::domain::pnl::pnl_of_market(
        market,
        entry.and_then(|f| f.contract_size),
        entry.map_or(&[][..], |f| &f.fills[..]),
        &row.base_asset,
        &row.quote_asset,
        entry.and_then(|f| f.last_price),
    );
    let params: Value = serde_json::from_str(&ts.params).unwrap_or_else(|_| json!({}));
    let fields = json!({
        "strategy": slug,
        "trade_strategy_id": ts.id,
        "market": ts.market.as_str(),
        "symbol": ts.symbol.as_str(),
        "interval": ts.interval.as_str(),
        "beat_time": beat_time,
        "mode": ctx.mode.as_str(),
        "params": params,
        "ticker": ticker.map(|t| json!({
            "time": t.time,
            "last": format!("{}", t.last),
            "bid": format!("{}", t.bid),
            "ask": format!("{}", t.ask),
            "open": format!("{}", t.open),
            "high": format!("{}", t.high),
            "low": format!("{}", t.low),
            "change_percent": format!("{}", t.change_percent),
            "volume": format!("{}", t.volume),
            "quote_volume": format!("{}", t.quote_volume),
        })),
        "position": json!({
            "base_asset": row.base_asset,
            "quote_asset": row.quote_asset,
            "pnl": pnl,
        }),
        "balances": balances.iter().map(|b| json!({
            "asset": b.asset,
            "free": b.free.to_string(),
            "locked": b.locked.to_string(),
        })).collect::<Vec<_>>(),
        "open_orders": open.iter().map(|o| json!({
            "client_order_id": o.client_order_id.as_str(),
            "order_id": o.order_id,
            "side": o.side,
            "type": o.order_type,
            "price": o.price.map(|p| p.to_string()),
            "quantity": o.quantity.map(|q| q.to_string()),
            "executed_qty": o.executed_qty.to_string(),
            "status": o.status,
        })).collect::<Vec<_>>(),
    });
    let klines = klines.iter().map(KlineOut).collect();
    serde_json::to_vec(&ContextOut { fields, klines }).map_err(|e| e.to_string())
}

/// A client order id `tb-<slug>-<random>` (36 characters at most).
pub fn strategy_client_order_id(slug: &str) -> Option<ClientOrderId> {
    let mut rng = fastrand::Rng::new();
    let mut id = format!("{}{slug}-", ClientOrderId::PREFIX);
    while id.len() < ClientOrderId::MAX_LEN {
        id.push(rng.alphanumeric());
    }
    id.parse().ok()
}

/// The environment of a strategy's process ([`STRATEGY_ENV`]).
fn strategy_env(mode: TradingMode, slug: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        (
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
        ),
        ("LANG", "C.UTF-8".to_string()),
        ("TRADEBEAT_MODE", mode.as_str().to_string()),
        ("TRADEBEAT_STRATEGY", slug.to_string()),
    ];
    for name in ["HOME", "TMPDIR"] {
        if let Ok(v) = std::env::var(name) {
            env.push((name, v));
        }
    }
    env
}

/// What the process did.
enum Ended {
    Output(Vec<u8>),
    Failed(Outcome, Option<i32>, String),
}

/// Runs the process: `input` (the context, read while the process starts) written to its
/// stdin, stdout read (capped), within `timeout`; the whole process group killed on
/// timeout or `stop`, or when `input` fails (`spawn_failed`, "no context: …").
async fn execute(
    ctx: &RunnerContext,
    strategy: &StrategyRow,
    input: impl std::future::Future<Output = Result<Vec<u8>, String>>,
    stop: &CancellationToken,
) -> Ended {
    let line = match command::parse(&strategy.command) {
        Ok(line) => line,
        Err(e) => return Ended::Failed(Outcome::SpawnFailed, None, e.to_string()),
    };
    let log = match ctx.logs.open(&strategy.slug) {
        Ok(log) => Some(log),
        Err(e) => {
            tracing::warn!(slug = %strategy.slug, error = %e, "strategy log not opened; stderr dropped");
            None
        }
    };
    let stderr = if log.is_some() {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    };
    let mut cmd = tokio::process::Command::new(&line.program);
    cmd.args(&line.args)
        .env_clear()
        .envs(strategy_env(ctx.mode, &strategy.slug))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return Ended::Failed(Outcome::SpawnFailed, None, e.to_string()),
    };
    let pid = child.id();
    if let (Some(pipe), Some(log)) = (child.stderr.take(), log) {
        // Ends once the process group is gone (killed below in every case).
        tokio::spawn(log::copy_stderr(pipe, log));
    }
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let work = async {
        // Written while stdout is read, so a strategy that answers before it has read
        // all of its input never blocks on a full pipe. No context, no run: the process
        // is killed below without having read anything.
        let write = async {
            let input = input.await.map_err(|e| format!("no context: {e}"))?;
            if let Some(mut stdin) = stdin.take() {
                // A strategy that does not read its input is its own business.
                let _ = stdin.write_all(&input).await;
                drop(stdin);
            }
            Ok::<(), String>(())
        };
        let read = async {
            let mut out = Vec::new();
            if let Some(stdout) = stdout.take() {
                let _ = stdout
                    .take(MAX_OUTPUT_BYTES as u64 + 1)
                    .read_to_end(&mut out)
                    .await;
            }
            Ok(out)
        };
        let ((), out) = tokio::try_join!(write, read)?;
        if out.len() > MAX_OUTPUT_BYTES {
            // Not waited for: it may be blocked writing the rest.
            return Ok((out, None));
        }
        let status = child.wait().await;
        Ok((out, Some(status)))
    };
    let timeout = Duration::from_millis(u64::try_from(strategy.timeout_ms).unwrap_or(1));
    let ended = tokio::select! {
        r = tokio::time::timeout(timeout, work) => r.ok(),
        _ = stop.cancelled() => {
            kill_group(pid);
            return Ended::Failed(Outcome::Killed, None, "killed at shutdown".into());
        }
    };
    match ended {
        Some(Err(why)) => {
            kill_group(pid);
            Ended::Failed(Outcome::SpawnFailed, None, why)
        }
        None => {
            kill_group(pid);
            Ended::Failed(
                Outcome::Timeout,
                None,
                format!(
                    "no answer within {} ms: process group killed",
                    strategy.timeout_ms
                ),
            )
        }
        Some(Ok((out, None))) => {
            // Too long an answer: cut, and counted as invalid by `parse_answer`.
            kill_group(pid);
            Ended::Output(out)
        }
        Some(Ok((_, Some(Err(e))))) => {
            kill_group(pid);
            Ended::Failed(Outcome::ExitCode, None, format!("wait failed: {e}"))
        }
        Some(Ok((out, Some(Ok(status))))) => {
            // Whatever it left behind goes with it.
            kill_group(pid);
            if !status.success() {
                return Ended::Failed(
                    Outcome::ExitCode,
                    status.code(),
                    format!("exited with {status}"),
                );
            }
            Ended::Output(out)
        }
    }
}

/// SIGKILL to the process group `pid` leads (its id is the group's: `process_group(0)`).
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        // ESRCH: already gone.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// A strategy's answer, checked: the orders that parse, the refusals, the cancels, the
/// note. Fields other than `orders`, `cancel` and `note` make the answer invalid.
struct Answer {
    orders: Vec<Result<OrderRequest, String>>,
    cancels: Vec<Result<OrderRef, String>>,
    note: Option<String>,
}

fn parse_answer(out: &[u8], market: Market, symbol: &Symbol) -> Result<Answer, String> {
    if out.len() > MAX_OUTPUT_BYTES {
        return Err(format!("answer longer than {MAX_OUTPUT_BYTES} bytes"));
    }
    let value: Value =
        serde_json::from_slice(out).map_err(|e| format!("answer is not JSON: {e}"))?;
    let Value::Object(mut map) = value else {
        return Err("answer is not a JSON object".into());
    };
    if let Some(k) = map
        .keys()
        .find(|k| !["orders", "cancel", "note"].contains(&k.as_str()))
    {
        return Err(format!("answer has an unknown field {k:?}"));
    }
    let note = match map.remove("note") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.chars().take(1000).collect()),
        Some(_) => return Err("`note` is not a string".into()),
    };
    let list = |v: Option<Value>, what: &str| match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(format!("`{what}` is not an array")),
    };
    let orders = list(map.remove("orders"), "orders")?
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let Value::Object(mut o) = o else {
                return Err(format!("orders[{i}] is not an object"));
            };
            for k in ["symbol", "market", "client_order_id"] {
                if o.contains_key(k) {
                    return Err(format!("orders[{i}]: `{k}` is the daemon's to set"));
                }
            }
            o.insert("symbol".into(), Value::String(symbol.as_str().to_string()));
            o.insert("market".into(), Value::String(market.as_str().to_string()));
            serde_json::from_value::<OrderRequest>(Value::Object(o))
                .map_err(|e| format!("orders[{i}]: {e}"))
        })
        .collect();
    let cancels = list(map.remove("cancel"), "cancel")?
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let c: Map<String, Value> = match c {
                Value::Object(c) => c,
                _ => return Err(format!("cancel[{i}] is not an object")),
            };
            let order_id = c.get("order_id").and_then(Value::as_i64);
            let client = c
                .get("client_order_id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<ClientOrderId>().ok());
            if c.keys().any(|k| k != "order_id" && k != "client_order_id") {
                return Err(format!("cancel[{i}] has an unknown field"));
            }
            OrderRef::from_parts(order_id, client)
                .ok_or_else(|| format!("cancel[{i}]: no valid order_id or client_order_id"))
        })
        .collect();
    Ok(Answer {
        orders,
        cancels,
        note,
    })
}

/// One run of `ts` for the candle opened at `candle`, recorded in `strategy_runs`.
pub async fn run_once(
    ctx: &RunnerContext,
    ts: &TradeStrategyRow,
    strategy: &StrategyRow,
    beat_time: i64,
    candle: i64,
    stop: &CancellationToken,
) {
    let started_at = ctx.clock.now_ms();
    let t0 = Instant::now();
    let slug = strategy.slug.as_str();
    let input = async { context(ctx, ts, slug, beat_time).await };
    let (outcome, exit_code, placed, note) = match execute(ctx, strategy, input, stop).await {
        Ended::Failed(outcome, code, why) => (outcome, code, 0, Some(why)),
        Ended::Output(out) => match parse_answer(&out, ts.market, &ts.symbol) {
            Err(why) => (Outcome::InvalidOutput, None, 0, Some(why)),
            Ok(answer) => {
                let (placed, refused) = apply(ctx, ts, slug, answer.orders, answer.cancels).await;
                let note = match (answer.note, refused) {
                    (n, 0) => n,
                    (Some(n), r) => Some(format!("{n} ({r} refused)")),
                    (None, r) => Some(format!("{r} refused")),
                };
                (Outcome::Ok, Some(0), placed, note)
            }
        },
    };
    let run = NewStrategyRun {
        trade_strategy_id: ts.id,
        beat_time,
        candle_open_time: candle,
        started_at,
        duration_ms: i64::try_from(t0.elapsed().as_millis()).unwrap_or(i64::MAX),
        outcome: outcome.as_str().to_string(),
        exit_code,
        orders_placed: placed,
        note,
    };
    tracing::info!(slug, trade_strategy = ts.id, outcome = run.outcome, duration_ms = run.duration_ms, orders_placed = placed, note = ?run.note, "strategy run");
    if let Err(e) = ctx.store.run(move |s| s.record_strategy_run(&run)).await {
        tracing::error!(slug, error = %e, "strategy run not recorded");
    }
}

/// Writes the `actions` row of one order request a strategy made (source
/// `strategy:<slug>`), whatever its outcome: the exchange's code for a rejection, the
/// error's text for any refusal. A row that cannot be written is logged, not retried.
async fn log_action(
    ctx: &RunnerContext,
    ts: &TradeStrategyRow,
    slug: &str,
    method: &str,
    params: Value,
    error: Option<&crate::orders::OrderError>,
) {
    let code = match error {
        Some(
            crate::orders::OrderError::Rejected { code, .. }
            | crate::orders::OrderError::NotFound { code, .. },
        ) => Some(*code),
        _ => None,
    };
    let row = ActionRow {
        id: 0,
        time: ctx.clock.now_ms(),
        source: format!("strategy:{slug}"),
        uid: None,
        method: method.to_string(),
        market: Some(ts.market.as_str().to_string()),
        symbol: Some(ts.symbol.as_str().to_string()),
        params: params.to_string(),
        ok: error.is_none(),
        error_code: code,
        error_message: error.map(ToString::to_string),
    };
    if let Err(e) = ctx.store.run(move |s| s.insert_action(&row)).await {
        tracing::error!(slug, error = %e, "strategy action not logged");
    }
}

/// Places the answer's orders and applies its cancels; returns (placed, refused).
async fn apply(
    ctx: &RunnerContext,
    ts: &TradeStrategyRow,
    slug: &str,
    orders: Vec<Result<OrderRequest, String>>,
    cancels: Vec<Result<OrderRef, String>>,
) -> (i64, i64) {
    let (mut placed, mut refused) = (0, 0);
    let Some(venue_orders) = ctx.orders_of(ts.market) else {
        let refused = i64::try_from(orders.len() + cancels.len()).unwrap_or(i64::MAX);
        if refused > 0 {
            tracing::warn!(slug, trade_strategy = ts.id, market = %ts.market, refused, "strategy orders refused: this daemon does not trade on that market (no credentials for it, and paper trading off)");
        }
        return (0, refused);
    };
    for order in orders {
        let mut request = match order {
            Ok(request) => request,
            Err(why) => {
                refused += 1;
                tracing::warn!(slug, trade_strategy = ts.id, %why, "strategy order refused");
                continue;
            }
        };
        request.client_order_id = strategy_client_order_id(slug);
        let params = serde_json::to_value(&request).unwrap_or(Value::Null);
        let outcome = venue_orders.place(request).await;
        log_action(ctx, ts, slug, "order.place", params, outcome.as_ref().err()).await;
        match outcome {
            Ok(row) => {
                placed += 1;
                tracing::info!(slug, client_order_id = %row.client_order_id.as_str(), status = ?row.status, "strategy order placed");
            }
            Err(e) => {
                refused += 1;
                tracing::warn!(slug, trade_strategy = ts.id, error = %e, "strategy order refused");
            }
        }
    }
    for cancel in cancels {
        let which = match cancel {
            Ok(which) => which,
            Err(why) => {
                refused += 1;
                tracing::warn!(slug, %why, "strategy cancel refused");
                continue;
            }
        };
        let params = match &which {
            OrderRef::OrderId(id) => json!({ "symbol": ts.symbol, "order_id": id }),
            OrderRef::ClientOrderId(c) => json!({ "symbol": ts.symbol, "client_order_id": c }),
        };
        let outcome = venue_orders.cancel(&ts.symbol, &which).await;
        log_action(
            ctx,
            ts,
            slug,
            "order.cancel",
            params,
            outcome.as_ref().err(),
        )
        .await;
        if let Err(e) = outcome {
            refused += 1;
            tracing::warn!(slug, error = %e, "strategy cancel failed");
        }
    }
    (placed, refused)
}
