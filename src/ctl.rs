//! `tradebeat ctl`: the control socket's command-line client.
//!
//! One subcommand per control method (see [`crate::cli::CtlCommand`]). By default the
//! result is rendered for a person: aligned tables and key/value lines, times in UTC
//! (`2026-11-21 12:00:05`), durations in words, units named. With `--json` the daemon's
//! raw result (or error object) is printed as JSON, for scripts.
//!
//! Exit status ([`Exit`]): 0 success; 1 the daemon answered with an error (its message on
//! stderr), or `sync` ran a beat that recorded an error, or a waited-for backfill failed;
//! 2 bad usage, an unreadable config, or the daemon unreachable (with a hint naming the
//! socket and how to start the daemon) or busy (`-32008`, too many connections).
//!
//! The socket path is `--socket`, else `control.socket` of the config read like `run`
//! reads it (`--config FILE`, then `TRADEBEAT_*` environment variables).

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::cli::{CtlArgs, CtlCommand, OrderIdArgs, OrdersCommand, PlaceArgs, SymbolsCommand};
use crate::control::protocol::{
    BackfillStart, BackfillStartParams, BackfillSummary, BalanceList, BalanceListParams,
    BalanceView, BeatView, JobView, KlineList, KlineListParams, KlineView, Method, NoParams,
    OrderCancel, OrderGet, OrderList, OrderListParams, OrderPlace, OrderRefParams, OrderRequest,
    OrderView, Status, StatusInfo, SymbolAdd, SymbolAddParams, SymbolAdded, SymbolEntry,
    SymbolList, SymbolListParams, SymbolParams, SymbolRemove, SymbolView, SyncNow, SyncNowParams,
    code,
};
use crate::control::protocol::{BackfillWait, BackfillWaitParams};
use crate::control::protocol::{
    FundingRateList, FuturesListParams, MarkPriceList, OpenInterestList,
};
use crate::control::{Client, ClientError};

mod futures_tables;
mod futures_trading;
use crate::domain::{Market, Symbol};

/// The longest `symbols add --wait` waits for one answer of `backfill.wait` before it
/// shows the progress again; the daemon answers as soon as the jobs have ended.
const WAIT_PROGRESS: Duration = Duration::from_secs(1);

mod actions;
mod export;
mod queries;
mod strategies;
mod watch;
pub use watch::{WATCH_HEADER, render_event};

/// `ctl`'s exit statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Success,
    /// 1: the daemon answered with an error (or the work it did failed).
    Failed,
    /// 2: bad usage, an unreadable config, or the daemon unreachable.
    Usage,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        match e {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Failed => ExitCode::from(1),
            Exit::Usage => ExitCode::from(2),
        }
    }
}

/// Runs `tradebeat ctl`: finds the socket, runs the command, prints, returns the status.
pub fn main(args: CtlArgs) -> ExitCode {
    if let CtlCommand::Export(export) = &args.command {
        return export::run(&args, export).into();
    }
    let socket = match socket_path(&args) {
        Ok(path) => path,
        Err(message) => {
            eprintln!("tradebeat: {message}");
            return Exit::Usage.into();
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tradebeat: cannot start the runtime: {e}");
            return Exit::Failed.into();
        }
    };
    runtime
        .block_on(run(&socket, args.json, args.command))
        .into()
}

/// `--socket`, else `control.socket` of the config (`--config` and the environment).
fn socket_path(args: &CtlArgs) -> Result<PathBuf, String> {
    if let Some(path) = &args.socket {
        return Ok(path.clone());
    }
    crate::config::load(args.config.as_deref())
        .map(|c| c.control.socket)
        .map_err(|e| e.to_string())
}

/// Connects and runs one command.
pub async fn run(socket: &Path, json: bool, command: CtlCommand) -> Exit {
    let mut client = match Client::connect(socket).await {
        Ok(c) => c,
        Err(e) => return report(socket, json, &e),
    };
    // Tables of a paper daemon say so first (one `status` call; not for --json).
    let paper = !json
        && call::<Status>(&mut client, &NoParams {})
            .await
            .is_ok_and(|(_, s)| s.paper);
    let mut out = Output { json, paper };
    match execute(&mut client, &mut out, command).await {
        Ok(exit) => exit,
        Err(e) => report(socket, json, &e),
    }
}

/// Where results go: stdout, as a table or as JSON.
struct Output {
    json: bool,
    /// The daemon simulates orders: tables start with a PAPER line.
    paper: bool,
}

impl Output {
    /// Prints the raw result as pretty JSON when `--json`, else the rendering.
    fn print(&mut self, raw: &Value, render: impl FnOnce() -> String) {
        let text = if self.json {
            let mut s = serde_json::to_string_pretty(raw).unwrap_or_else(|_| raw.to_string());
            s.push('\n');
            s
        } else if self.paper {
            format!("{PAPER_HEADER}\n{}", render())
        } else {
            render()
        };
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }
}

/// Calls `M` and returns both the raw result (for `--json`) and the typed one.
async fn call<M: Method>(
    client: &mut Client,
    params: &M::Params,
) -> Result<(Value, M::Result), ClientError> {
    let raw = client.call_value::<M>(params).await?;
    let typed = serde_json::from_value(raw.clone())
        .map_err(|e| ClientError::Protocol(format!("{} result: {e}", M::NAME)))?;
    Ok((raw, typed))
}

async fn execute(
    client: &mut Client,
    out: &mut Output,
    command: CtlCommand,
) -> Result<Exit, ClientError> {
    match command {
        CtlCommand::Status => {
            let (raw, status) = call::<Status>(client, &NoParams {}).await?;
            out.print(&raw, || render_status(&status));
            Ok(Exit::Success)
        }
        CtlCommand::Symbols(SymbolsCommand::Add {
            symbol,
            intervals,
            backfill_days,
            wait,
            market,
        }) => {
            let params = SymbolAddParams {
                symbol: symbol.clone(),
                market: Some(market),
                intervals,
                backfill_days,
            };
            let (raw, added) = call::<SymbolAdd>(client, &params).await?;
            out.print(&raw, || render_added(&added));
            if let Some(e) = &added.backfill_error {
                if !out.json {
                    eprintln!("tradebeat: warning: backfill did not start: {}", e.message);
                }
                if wait {
                    eprintln!("tradebeat: nothing to wait for: the backfill did not start");
                    return Ok(Exit::Failed);
                }
            }
            if wait && added.backfill_error.is_none() {
                return wait_for_backfill(client, &symbol, market).await;
            }
            Ok(Exit::Success)
        }
        CtlCommand::Symbols(SymbolsCommand::Remove { symbol, market }) => {
            let params = SymbolParams {
                symbol,
                market: Some(market),
            };
            let (raw, row) = call::<SymbolRemove>(client, &params).await?;
            out.print(&raw, || render_removed(&row));
            Ok(Exit::Success)
        }
        CtlCommand::Symbols(SymbolsCommand::List { all, market }) => {
            let params = SymbolListParams {
                active: (!all).then_some(true),
                market: Some(market),
            };
            let (raw, entries) = call::<SymbolList>(client, &params).await?;
            out.print(&raw, || render_symbols(&entries, all));
            Ok(Exit::Success)
        }
        CtlCommand::Sync { symbol } => {
            let (raw, beat) = call::<SyncNow>(client, &SyncNowParams { symbol }).await?;
            out.print(&raw, || render_beat(&beat));
            if let Some(error) = &beat.error {
                eprintln!("tradebeat: the beat recorded an error: {error}");
                return Ok(Exit::Failed);
            }
            Ok(Exit::Success)
        }
        CtlCommand::Backfill {
            symbol,
            interval,
            from,
            market,
        } => {
            let params = BackfillStartParams {
                symbol,
                interval,
                from,
                market: Some(market),
            };
            let (raw, jobs) = call::<BackfillStart>(client, &params).await?;
            out.print(&raw, || render_jobs(&jobs));
            Ok(Exit::Success)
        }
        CtlCommand::Klines {
            symbol,
            interval,
            limit,
            start,
            end,
            market,
        } => {
            let params = KlineListParams {
                symbol: symbol.clone(),
                interval,
                start,
                end,
                limit,
                market: Some(market),
            };
            let (raw, klines) = call::<KlineList>(client, &params).await?;
            out.print(&raw, || render_klines(&klines, &symbol, interval.as_str()));
            Ok(Exit::Success)
        }
        CtlCommand::MarkPrices { symbol, range } => {
            let params = futures_params(&symbol, &range, None);
            let (raw, rows) = call::<MarkPriceList>(client, &params).await?;
            out.print(&raw, || {
                futures_tables::render_mark_prices(&rows, &symbol, range.market)
            });
            Ok(Exit::Success)
        }
        CtlCommand::Funding { symbol, range } => {
            let params = futures_params(&symbol, &range, None);
            let (raw, rows) = call::<FundingRateList>(client, &params).await?;
            out.print(&raw, || {
                futures_tables::render_funding(&rows, &symbol, range.market)
            });
            Ok(Exit::Success)
        }
        CtlCommand::OpenInterest {
            symbol,
            period,
            range,
        } => {
            let params = futures_params(&symbol, &range, Some(period));
            let (raw, rows) = call::<OpenInterestList>(client, &params).await?;
            out.print(&raw, || {
                futures_tables::render_open_interest(&rows, &symbol, range.market)
            });
            Ok(Exit::Success)
        }
        CtlCommand::Orders(OrdersCommand::Place(args)) => {
            let params = order_request(*args);
            let (raw, row) = call::<OrderPlace>(client, &params).await?;
            out.print(&raw, || render_order(&row));
            Ok(Exit::Success)
        }
        CtlCommand::Orders(OrdersCommand::Cancel {
            symbol,
            which,
            market,
        }) => {
            let (raw, row) = call::<OrderCancel>(client, &order_ref(symbol, which, market)).await?;
            out.print(&raw, || render_order(&row));
            Ok(Exit::Success)
        }
        CtlCommand::Orders(OrdersCommand::Get {
            symbol,
            which,
            market,
        }) => {
            let (raw, row) = call::<OrderGet>(client, &order_ref(symbol, which, market)).await?;
            out.print(&raw, || render_order(&row));
            Ok(Exit::Success)
        }
        CtlCommand::Orders(OrdersCommand::List {
            symbol,
            open,
            limit,
            live,
            market,
        }) => {
            if live {
                return queries::orders_live(client, out, symbol).await;
            }
            let params = OrderListParams {
                symbol,
                open: open.then_some(true),
                limit,
                live: None,
                market,
            };
            let (raw, rows) = call::<OrderList>(client, &params).await?;
            out.print(&raw, || render_orders(&rows, open));
            Ok(Exit::Success)
        }
        CtlCommand::Orders(OrdersCommand::CancelAll { symbol }) => {
            queries::cancel_all(client, out, symbol).await
        }
        CtlCommand::Orders(OrdersCommand::Test(args)) => {
            queries::test_order(client, out, order_request(*args)).await
        }
        CtlCommand::Positions {
            market,
            symbol,
            all,
        } => futures_trading::positions(client, out, market, symbol, all).await,
        CtlCommand::Leverage {
            symbol,
            leverage,
            market,
        } => futures_trading::leverage(client, out, symbol, market, leverage).await,
        CtlCommand::MarginType {
            symbol,
            margin_type,
            market,
        } => futures_trading::margin_type(client, out, symbol, market, margin_type).await,
        CtlCommand::Balances { asset } => {
            let (raw, rows) = call::<BalanceList>(client, &BalanceListParams { asset }).await?;
            out.print(&raw, || render_balances(&rows));
            Ok(Exit::Success)
        }
        CtlCommand::Pnl { symbol, market } => {
            let params = crate::control::protocol::PnlListParams { market, symbol };
            let (raw, rows) = call::<crate::control::protocol::PnlList>(client, &params).await?;
            out.print(&raw, || render_pnl(&rows));
            Ok(Exit::Success)
        }
        CtlCommand::Export(_) => {
            eprintln!("tradebeat: ctl export reads the database file; it is not a daemon request");
            Ok(Exit::Usage)
        }
        CtlCommand::Price { symbol, market } => queries::price(client, out, symbol, market).await,
        CtlCommand::Market { symbol, market } => queries::market(client, out, symbol, market).await,
        CtlCommand::Trades {
            symbol,
            market,
            start,
            end,
            limit,
        } => {
            let params = crate::control::protocol::TradeListParams {
                symbol,
                market,
                start,
                end,
                limit,
            };
            queries::trades(client, out, params).await
        }
        CtlCommand::Watch { events } => watch::watch(client, out, events).await,
        CtlCommand::Watchlist(command) => actions::watchlist(client, out, command).await,
        CtlCommand::Log {
            symbol,
            source,
            limit,
            before_id,
        } => {
            let params = crate::control::protocol::ActionListParams {
                symbol,
                source,
                limit,
                before_id,
            };
            actions::log(client, out, params).await
        }
        CtlCommand::Chart {
            out: file,
            format,
            interval,
            days,
        } => chart(client, out, &file, format == "svg", &interval, days).await,
        CtlCommand::Strategies(command) => strategies::strategies(client, out, command).await,
        CtlCommand::TradeStrategies(command) => {
            strategies::trade_strategies(client, out, command).await
        }
    }
}

/// The `order.place` / `order.test` params of `ctl orders place|test`.
fn order_request(args: PlaceArgs) -> OrderRequest {
    let PlaceArgs {
        symbol,
        side,
        order_type,
        quantity,
        quote_quantity,
        price,
        stop_price,
        time_in_force,
        client_order_id,
        futures,
    } = args;
    OrderRequest {
        quantity,
        quote_quantity,
        price,
        stop_price,
        time_in_force,
        client_order_id,
        market: futures.market.unwrap_or(Market::Spot),
        reduce_only: futures.reduce_only.then_some(true),
        position_side: futures.position_side,
        close_position: futures.close_position.then_some(true),
        callback_rate: futures.callback_rate,
        activation_price: futures.activation_price,
        working_type: futures.working_type,
        price_protect: futures.price_protect.then_some(true),
        ..OrderRequest::new(symbol, side, order_type)
    }
}

fn order_ref(symbol: Symbol, which: OrderIdArgs, market: Option<Market>) -> OrderRefParams {
    OrderRefParams {
        symbol,
        order_id: which.order_id,
        client_order_id: which.client_order_id,
        market,
    }
}

/// The parameters of a futures query from the command line.
fn futures_params(
    symbol: &Symbol,
    range: &crate::cli::FuturesRange,
    period: Option<String>,
) -> FuturesListParams {
    FuturesListParams {
        symbol: symbol.clone(),
        market: range.market,
        start: range.start,
        end: range.end,
        limit: range.limit,
        period,
    }
}

/// Waits with `backfill.wait` until every backfill job of `symbol` has ended (the daemon
/// answers as soon as they have), showing progress on stderr at least every second (one
/// line rewritten in place on a terminal, a line per change otherwise).
async fn wait_for_backfill(
    client: &mut Client,
    symbol: &Symbol,
    market: Market,
) -> Result<Exit, ClientError> {
    let tty = std::io::stderr().is_terminal();
    let mut last_shown = String::new();
    let params = BackfillWaitParams {
        symbol: symbol.clone(),
        market: Some(market),
        timeout_ms: Some(u64::try_from(WAIT_PROGRESS.as_millis()).unwrap_or(1_000)),
    };
    loop {
        let summary = match client.call::<BackfillWait>(&params).await {
            Ok(summary) => summary,
            Err(ClientError::Rpc(e)) if e.code == code::NOT_FOUND => {
                eprintln!("tradebeat: {symbol} is no longer registered");
                return Ok(Exit::Failed);
            }
            Err(e) => return Err(e),
        };
        let line = format!("backfill {symbol}: {}", describe_backfill(&summary));
        if line != last_shown {
            if tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            last_shown = line;
        }
        let ended = summary.done + summary.failed + summary.stopped;
        if ended >= summary.jobs {
            if tty {
                eprintln!();
            }
            if summary.failed > 0 {
                eprintln!(
                    "tradebeat: {} backfill job(s) of {symbol} failed; see `tradebeat ctl symbols list` and logs/backfill.log",
                    summary.failed
                );
                return Ok(Exit::Failed);
            }
            return Ok(Exit::Success);
        }
    }
}

/// Prints why a command failed and returns its exit status.
fn report(socket: &Path, json: bool, error: &ClientError) -> Exit {
    match error {
        ClientError::Rpc(e) => {
            if json {
                let text = serde_json::to_string_pretty(e).unwrap_or_default();
                println!("{text}");
            }
            eprintln!("tradebeat: {e}");
            if e.code == code::SERVER_BUSY {
                return Exit::Usage;
            }
            Exit::Failed
        }
        ClientError::Protocol(_) | ClientError::Untrusted { .. } => {
            eprintln!("tradebeat: {error}");
            Exit::Failed
        }
        ClientError::Connect { source, .. } => {
            eprintln!("tradebeat: {error}");
            if source.kind() == std::io::ErrorKind::PermissionDenied {
                eprintln!(
                    "hint: the socket {} admits only its owner (control.socket_mode); run ctl as the daemon's user",
                    socket.display()
                );
            } else {
                eprintln!(
                    "hint: is the daemon running? Start it with `tradebeat run --config FILE`; \
                     ctl finds its socket with the same --config FILE, or with --socket PATH \
                     (tried {})",
                    socket.display()
                );
            }
            Exit::Usage
        }
        ClientError::Io(_) | ClientError::Closed | ClientError::Timeout(_) => {
            eprintln!("tradebeat: {error} (socket {})", socket.display());
            Exit::Usage
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rendering. Pure functions from results to text, so they are tested without a daemon.

/// `2026-11-21 12:00:05` (UTC) for ms since the epoch.
pub fn utc(ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// `45s`, `3m 05s`, `2h 03m`, `4d 01h`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}d {h:02}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// An aligned table: a header line, then one line per row, two spaces between columns;
/// columns flagged in `right` are right-aligned (numbers). Trailing spaces are trimmed.
pub fn table(headers: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            if i > 0 {
                text.push_str("  ");
            }
            let pad = width.saturating_sub(cell.chars().count());
            if right.get(i).copied().unwrap_or(false) {
                text.extend(std::iter::repeat_n(' ', pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied(), &mut out);
    for row in rows {
        line(&mut row.iter().map(String::as_str), &mut out);
    }
    out
}

/// Key/value lines with the keys padded to one width.
fn pairs(items: &[(&str, String)]) -> String {
    let width = items.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in items {
        let _ = writeln!(out, "{k:<width$}  {v}");
    }
    out
}

fn describe_beat(b: &BeatView) -> String {
    format!(
        "{} UTC ({}): {} symbol(s) ok, {} failed, {} kline(s) written; started {} ms after it was due, took {} ms",
        utc(b.beat_time),
        b.trigger,
        b.symbols_ok,
        b.symbols_failed,
        b.klines_written,
        b.started_at - b.beat_time,
        b.finished_at - b.started_at
    )
}

fn describe_backfill(s: &BackfillSummary) -> String {
    if s.jobs == 0 {
        return "no jobs".to_string();
    }
    let mut text = format!(
        "{:.1}% of {} job(s): {} done, {} running, {} pending",
        s.percent, s.jobs, s.done, s.running, s.pending
    );
    if s.failed > 0 {
        let _ = write!(text, ", {} failed", s.failed);
    }
    if s.stopped > 0 {
        let _ = write!(text, ", {} stopped", s.stopped);
    }
    let _ = write!(text, "; {} kline(s) written", s.rows_written);
    if let Some(eta) = s.eta_secs {
        let _ = write!(text, "; about {} left", duration(eta));
    }
    text
}

fn join_intervals(view: &SymbolView) -> String {
    view.intervals
        .iter()
        .map(|i| i.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// `ctl status`.
pub fn render_status(s: &StatusInfo) -> String {
    let mut items = vec![
        (
            "tradebeat",
            format!(
                "{}, up {} (since {} UTC)",
                s.version,
                duration(s.uptime_secs),
                utc(s.started_at)
            ),
        ),
        ("network", format!("{} ({})", s.network, s.rest_url)),
        ("database", s.database.clone()),
        (
            "last beat",
            s.last_beat
                .as_ref()
                .map(describe_beat)
                .unwrap_or_else(|| "none yet".to_string()),
        ),
    ];
    if let Some(error) = s.last_beat.as_ref().and_then(|b| b.error.as_ref()) {
        items.push(("  error", error.clone()));
    }
    items.push((
        "next beat",
        match s.next_beat_time {
            Some(t) => format!(
                "{} UTC (in {})",
                utc(t),
                duration(u64::try_from((t - s.now).max(0) / 1000).unwrap_or(0))
            ),
            None => "after the start-up beat".to_string(),
        },
    ));
    items.push((
        "symbols",
        format!(
            "{} followed (active and trading), {} active, {} registered",
            s.symbols.following, s.symbols.active, s.symbols.registered
        ),
    ));
    items.push(("backfill", describe_backfill(&s.backfill)));
    let permille = if s.request_weight.limit > 0 {
        f64::from(s.request_weight.used) * 100.0 / f64::from(s.request_weight.limit)
    } else {
        0.0
    };
    items.push((
        "request weight",
        format!(
            "{} of {} per minute used ({permille:.1}%)",
            s.request_weight.used, s.request_weight.limit
        ),
    ));
    items.push((
        "clock offset",
        format!(
            "{:+} ms (exchange clock minus local clock)",
            s.clock_offset_ms
        ),
    ));
    items.push(("user stream", render_user_stream(&s.user_stream, s.now)));
    for m in &s.futures {
        items.push((m.market.as_str(), futures_tables::describe_market(m)));
        for h in &m.history {
            items.push(("  history", futures_tables::describe_history(h)));
        }
        if let Some(u) = &m.user_stream {
            let key = match m.market {
                crate::domain::Market::CoinM => "coinm stream",
                _ => "usdm stream",
            };
            items.push((key, render_user_stream(u, s.now)));
        }
    }
    pairs(&items)
}

/// The `user stream` line of `ctl status`: state, then what is known of the connection.
fn render_user_stream(u: &crate::domain::UserStreamStatus, now: i64) -> String {
    use crate::domain::StreamState;
    if u.state == StreamState::Off {
        return "off (no api credentials)".to_string();
    }
    let mut parts = vec![u.state.as_str().to_string()];
    if let Some(since) = u.connected_since {
        parts.push(format!(
            "connected since {} UTC ({})",
            utc(since),
            duration(u64::try_from((now - since) / 1000).unwrap_or(0))
        ));
    }
    match u.last_event_time {
        Some(t) => parts.push(format!("last event {} UTC", utc(t))),
        None => parts.push("no event yet".to_string()),
    }
    parts.push(format!("{} reconnect(s)", u.reconnects));
    parts.push(format!("{} event(s) recorded", u.events_committed));
    if let Some(e) = &u.last_error {
        parts.push(format!("last error: {e}"));
    }
    parts.join(", ")
}

/// `ctl symbols add`.
pub fn render_added(a: &SymbolAdded) -> String {
    let v = &a.symbol;
    let mut items = vec![
        (
            "registered",
            format!(
                "{} ({}/{}, {}) on {}",
                v.symbol, v.base_asset, v.quote_asset, v.status, v.market
            ),
        ),
        (
            "intervals",
            format!(
                "{} ({})",
                join_intervals(v),
                if v.own_intervals {
                    "its own"
                } else {
                    "market_data.intervals"
                }
            ),
        ),
    ];
    let backfill = match (&a.backfill_error, a.backfill.len()) {
        (Some(e), _) => format!("{} day(s): not started: {}", v.backfill_days, e.message),
        (None, 0) => format!("{} day(s): nothing to do", v.backfill_days),
        (None, n) => format!(
            "{} day(s): {n} job(s) started; follow them with `tradebeat ctl symbols list`",
            v.backfill_days
        ),
    };
    items.push(("backfill", backfill));
    pairs(&items)
}

/// `ctl symbols remove`.
pub fn render_removed(v: &SymbolView) -> String {
    format!(
        "removed {}: the beats no longer follow it; its stored data stay (add it back with \
         `tradebeat ctl symbols add {}`)\n",
        v.symbol, v.symbol
    )
}

/// `ctl symbols list`.
pub fn render_symbols(entries: &[SymbolEntry], all: bool) -> String {
    if entries.is_empty() {
        return if all {
            "no symbols registered; add one with `tradebeat ctl symbols add BTCUSDT`\n".to_string()
        } else {
            "no active symbols; add one with `tradebeat ctl symbols add BTCUSDT` (--all lists removed ones)\n".to_string()
        };
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let v = &e.symbol;
            vec![
                v.symbol.to_string(),
                if v.active { "yes" } else { "removed" }.to_string(),
                v.status.clone(),
                join_intervals(v),
                e.last_kline_time.map(utc).unwrap_or_else(|| "-".into()),
                match &e.backfill {
                    Some(b) => format!("{:.1}%, {} of {} job(s) done", b.percent, b.done, b.jobs),
                    None => "-".to_string(),
                },
            ]
        })
        .collect();
    let mut out = table(
        &[
            "SYMBOL",
            "ACTIVE",
            "STATUS",
            "INTERVALS",
            "NEWEST KLINE OPEN (UTC)",
            "BACKFILL",
        ],
        &rows,
        &[],
    );
    // Futures: the contract spec and the history backfill, a line each below the table.
    for e in entries {
        if let Some(c) = &e.symbol.contract {
            let _ = writeln!(
                out,
                "{} contract: {}",
                e.symbol.symbol,
                futures_tables::describe_contract(c)
            );
        }
        for h in &e.history {
            let _ = writeln!(out, "{}", futures_tables::describe_history(h));
        }
    }
    out
}

/// `ctl sync`.
pub fn render_beat(b: &BeatView) -> String {
    let mut out = format!("beat {}\n", describe_beat(b));
    if let Some(e) = &b.error {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

/// `ctl backfill`.
pub fn render_jobs(jobs: &[JobView]) -> String {
    if jobs.is_empty() {
        return "no backfill jobs\n".to_string();
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.symbol.to_string(),
                j.interval.to_string(),
                j.status.clone(),
                format!("{:.1}%", j.percent),
                utc(j.from_ms),
                utc(j.to_ms),
                j.rows_written.to_string(),
                j.eta_secs.map(duration).unwrap_or_else(|| "-".into()),
                j.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "SYMBOL",
            "INTERVAL",
            "STATUS",
            "PROGRESS",
            "FROM (UTC)",
            "TO (UTC)",
            "KLINES",
            "ETA",
            "ERROR",
        ],
        &rows,
        &[false, false, false, true, false, false, true, true, false],
    )
}

/// `ctl klines`.
pub fn render_klines(klines: &[KlineView], symbol: &Symbol, interval: &str) -> String {
    if klines.is_empty() {
        return format!("no stored {interval} klines of {symbol} in that range\n");
    }
    let rows: Vec<Vec<String>> = klines
        .iter()
        .map(|k| {
            vec![
                utc(k.open_time),
                k.open.clone(),
                k.high.clone(),
                k.low.clone(),
                k.close.clone(),
                k.volume.clone(),
                k.quote_volume.clone(),
                k.trades.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "OPEN TIME (UTC)",
            "OPEN",
            "HIGH",
            "LOW",
            "CLOSE",
            "VOLUME (BASE)",
            "VOLUME (QUOTE)",
            "TRADES",
        ],
        &rows,
        &[false, true, true, true, true, true, true, true],
    )
}

/// The order table's columns.
const ORDER_HEADERS: [&str; 11] = [
    "SYMBOL",
    "SIDE",
    "TYPE",
    "PRICE",
    "STOP PRICE",
    "QTY",
    "EXECUTED",
    "STATUS",
    "ORDER ID",
    "CLIENT ORDER ID",
    "TIME (UTC)",
];
/// Which of [`ORDER_HEADERS`] are right-aligned numbers.
const ORDER_RIGHT: [bool; 11] = [
    false, false, false, true, true, true, true, false, true, false, false,
];

fn order_cells(o: &OrderView) -> Vec<String> {
    let dash = || "-".to_string();
    let qty = match (o.quantity, o.quote_quantity) {
        (Some(q), _) => q.to_string(),
        (None, Some(qq)) => format!("{qq} quote"),
        (None, None) => dash(),
    };
    vec![
        o.symbol.to_string(),
        o.side.to_string(),
        o.order_type.to_string(),
        o.price.map_or_else(dash, |p| p.to_string()),
        o.stop_price.map_or_else(dash, |p| p.to_string()),
        qty,
        o.executed_qty.to_string(),
        o.status.to_string(),
        o.order_id.map_or_else(dash, |id| id.to_string()),
        o.client_order_id.to_string(),
        utc(o.transact_time.unwrap_or(o.created_at)),
    ]
}

/// One order: its table row, then the exchange's error or tradebeat's reason, if any.
pub fn render_order(o: &OrderView) -> String {
    let mut out = table(&ORDER_HEADERS, &[order_cells(o)], &ORDER_RIGHT);
    match (o.error_code, &o.error_msg) {
        (Some(code), Some(msg)) => {
            let _ = writeln!(out, "exchange error {code}: {msg}");
        }
        (None, Some(msg)) => {
            let _ = writeln!(out, "note: {msg}");
        }
        _ => {}
    }
    out
}

/// Stored orders, newest first, one row each.
pub fn render_orders(rows: &[OrderView], open_only: bool) -> String {
    if rows.is_empty() {
        return if open_only {
            "no open orders\n".to_string()
        } else {
            "no orders\n".to_string()
        };
    }
    let cells: Vec<Vec<String>> = rows.iter().map(order_cells).collect();
    table(&ORDER_HEADERS, &cells, &ORDER_RIGHT)
}

/// Balances by asset: free, locked, and when the exchange last updated them.
pub fn render_balances(rows: &[BalanceView]) -> String {
    if rows.is_empty() {
        return "no balances reported yet (they come from the user-data stream or the account endpoint)\n"
            .to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|b| {
            vec![
                b.asset.clone(),
                b.free.to_string(),
                b.locked.to_string(),
                utc(b.update_time),
            ]
        })
        .collect();
    table(
        &["ASSET", "FREE", "LOCKED", "UPDATED (UTC)"],
        &cells,
        &[false, true, true, false],
    )
}

/// The first line of every table while the daemon trades on paper.
pub const PAPER_HEADER: &str = "PAPER (simulated orders, nothing sent to the exchange)";

/// `pnl.list` as a table: one row per (market, symbol), amounts in the quote asset.
pub fn render_pnl(rows: &[crate::control::protocol::PnlView]) -> String {
    if rows.is_empty() {
        return "no fills stored yet\n".to_string();
    }
    let opt =
        |d: Option<rust_decimal::Decimal>| d.map_or_else(|| "-".to_string(), |d| d.to_string());
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|p| {
            let mut fees = p.fees.to_string();
            for (asset, amount) in &p.other_fees {
                let _ = write!(fees, " +{amount} {asset}");
            }
            vec![
                p.market.to_string(),
                p.symbol.to_string(),
                p.position.to_string(),
                p.avg_entry.to_string(),
                p.realized_pnl.to_string(),
                fees,
                opt(p.last_price),
                opt(p.unrealized_pnl),
                p.net_pnl.to_string(),
                p.quote_asset.clone().unwrap_or_else(|| "?".to_string()),
                p.trades.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "MARKET",
            "SYMBOL",
            "POSITION",
            "AVG ENTRY",
            "REALIZED",
            "FEES",
            "LAST",
            "UNREALIZED",
            "NET",
            "IN",
            "TRADES",
        ],
        &cells,
        &[
            false, false, true, true, true, true, true, true, true, false, true,
        ],
    )
}

/// The socket client as the chart's [`Caller`](crate::chart::Caller).
struct SocketCaller<'a>(&'a mut Client);

impl crate::chart::Caller for SocketCaller<'_> {
    async fn call(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<Value, crate::control::protocol::ErrorObject> {
        let request = crate::control::protocol::Request {
            jsonrpc: crate::control::protocol::JSONRPC_VERSION.to_string(),
            id: crate::control::protocol::Id::String("chart".into()),
            method: method.to_string(),
            params: Some(params),
        };
        match self.0.request(&request).await {
            Ok(response) => match response.error {
                Some(error) => Err(error),
                None => Ok(response.result.unwrap_or_default()),
            },
            Err(ClientError::Rpc(error)) => Err(error),
            Err(e) => Err(crate::control::protocol::ErrorObject::internal(e)),
        }
    }
}

/// `ctl chart`: collects the closes over the socket and writes the page (or the SVG) to
/// `file`.
async fn chart(
    client: &mut Client,
    out: &mut Output,
    file: &Path,
    svg: bool,
    interval: &str,
    days: u32,
) -> Result<Exit, ClientError> {
    let spec =
        crate::chart::ChartSpec::new(Some(interval), Some(days)).map_err(ClientError::Rpc)?;
    let now = crate::clock::system_now_ms();
    let series = crate::chart::collect(&mut SocketCaller(client), spec, now)
        .await
        .map_err(ClientError::Rpc)?;
    let page = if svg {
        match crate::chart::svg(&series, spec) {
            Ok(page) => page,
            Err(e) => {
                eprintln!("tradebeat: {e}");
                return Ok(Exit::Failed);
            }
        }
    } else {
        crate::chart::html(&series, spec)
    };
    if let Err(e) = std::fs::write(file, page.as_bytes()) {
        eprintln!("tradebeat: cannot write {}: {e}", file.display());
        return Ok(Exit::Failed);
    }
    let symbols: Vec<&str> = series.iter().map(|s| s.symbol.as_str()).collect();
    let raw = serde_json::json!({ "file": file.display().to_string(), "symbols": symbols, "bytes": page.len() });
    out.print(&raw, || {
        format!(
            "wrote {} ({} bytes): {} symbol(s) {}\n",
            file.display(),
            page.len(),
            symbols.len(),
            symbols.join(" ")
        )
    });
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::{SymbolCountsView, WeightView};
    use crate::domain::{Interval, Market};
    use crate::exchange::Network;

    // 2026-11-21 12:00:00 UTC.
    const NOON: i64 = 1_795_262_400_000;

    #[test]
    fn times_parse_in_every_accepted_form() {
        use crate::cli::parse_time;
        assert_eq!(parse_time("1795262400000"), Ok(NOON));
        assert_eq!(parse_time("2026-11-21"), Ok(NOON - 12 * 3_600_000));
        assert_eq!(parse_time("2026-11-21T12:00:00Z"), Ok(NOON));
        assert_eq!(parse_time("2026-11-21T13:00:00+01:00"), Ok(NOON));
        for bad in ["", "yesterday", "2026-13-01", "-5", "99999999999999999999"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        assert!(parse_time("nope").unwrap_err().contains("2026-11-01"));
    }

    #[test]
    fn utc_and_durations_read_well() {
        assert_eq!(utc(NOON + 5_000), "2026-11-21 12:00:05");
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(185), "3m 05s");
        assert_eq!(duration(2 * 3600 + 180), "2h 03m");
        assert_eq!(duration(4 * 86_400 + 3600), "4d 01h");
    }

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["NAME", "N"],
            &[
                vec!["a".into(), "1".into()],
                vec!["long name".into(), "100".into()],
            ],
            &[false, true],
        );
        assert_eq!(t, "NAME         N\na            1\nlong name  100\n");
    }

    #[test]
    fn status_names_units_and_times() {
        let s = StatusInfo {
            version: "0.1.0".into(),
            now: NOON + 20_000,
            started_at: NOON - 3_600_000,
            uptime_secs: 3620,
            network: Network::Testnet,
            rest_url: "http://127.0.0.1:1/".into(),
            database: "data/tradebeat.db".into(),
            last_beat: Some(BeatView {
                beat_time: NOON + 5_000,
                started_at: NOON + 5_012,
                finished_at: NOON + 5_252,
                symbols_ok: 2,
                symbols_failed: 1,
                klines_written: 5,
                skipped_before: 0,
                trigger: "schedule".into(),
                error: Some("XRPUSDT: ticker request failed".into()),
            }),
            next_beat_time: Some(NOON + 65_000),
            symbols: SymbolCountsView {
                registered: 4,
                active: 3,
                following: 3,
            },
            backfill: BackfillSummary::default(),
            request_weight: WeightView {
                used: 24,
                limit: 6000,
                window_start: NOON,
            },
            clock_offset_ms: 3,
            user_stream: crate::domain::UserStreamStatus {
                state: crate::domain::StreamState::Healthy,
                connected_since: Some(NOON - 3_600_000),
                last_event_time: Some(NOON - 2_000),
                reconnects: 2,
                reconciled_at: Some(NOON - 3_590_000),
                events_committed: 17,
                last_error: None,
            },
            futures: vec![crate::control::protocol::MarketStatusView {
                market: crate::domain::Market::UsdM,
                symbols: SymbolCountsView {
                    registered: 1,
                    active: 1,
                    following: 1,
                },
                request_weight: WeightView {
                    used: 12,
                    limit: 2400,
                    window_start: NOON,
                },
                clock_offset_ms: -2,
                last_error: Some("ip banned".into()),
                history: vec![],
                user_stream: Some(crate::domain::UserStreamStatus {
                    state: crate::domain::StreamState::Reconnecting,
                    reconnects: 4,
                    ..crate::domain::UserStreamStatus::default()
                }),
            }],
            paper: false,
        };
        let text = render_status(&s);
        assert!(
            text.contains("usdm stream")
                && text.contains("reconnecting, no event yet, 4 reconnect(s)"),
            "{text}"
        );
        assert!(
            text.contains("usdm ") && text.contains("weight 12 of 2400 per minute"),
            "{text}"
        );
        assert!(text.contains("last error: ip banned"), "{text}");
        for want in [
            "0.1.0, up 1h 00m (since 2026-11-21 11:00:00 UTC)",
            "2026-11-21 12:00:05 UTC (schedule): 2 symbol(s) ok, 1 failed",
            "started 12 ms after it was due, took 240 ms",
            "error",
            "XRPUSDT: ticker request failed",
            "2026-11-21 12:01:05 UTC (in 45s)",
            "3 followed (active and trading), 3 active, 4 registered",
            "backfill        no jobs",
            "24 of 6000 per minute used (0.4%)",
            "+3 ms (exchange clock minus local clock)",
            "user stream     healthy, connected since 2026-11-21 11:00:00 UTC (1h 00m), last event 2026-11-21 11:59:58 UTC, 2 reconnect(s), 17 event(s) recorded",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn symbol_list_shows_progress_and_newest_kline() {
        let view = SymbolView {
            id: 1,
            market: Market::Spot,
            symbol: "BTCUSDT".parse().unwrap(),
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            status: "TRADING".into(),
            active: true,
            intervals: vec![Interval::M1, Interval::H1],
            own_intervals: false,
            backfill_days: 30,
            added_at: NOON,
            updated_at: NOON,
            contract: None,
        };
        let entry = SymbolEntry {
            symbol: view,
            last_kline_time: Some(NOON),
            newest: vec![],
            backfill: Some(BackfillSummary {
                jobs: 2,
                done: 1,
                running: 1,
                percent: 75.0,
                ..BackfillSummary::default()
            }),
            history: vec![],
        };
        let text = render_symbols(&[entry], false);
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        assert!(
            header.starts_with("SYMBOL   ACTIVE  STATUS   INTERVALS"),
            "{text}"
        );
        let row = lines.next().unwrap();
        assert!(row.contains("BTCUSDT  yes     TRADING  1m,1h"), "{text}");
        assert!(row.contains("2026-11-21 12:00:00"), "{text}");
        assert!(row.contains("75.0%, 1 of 2 job(s) done"), "{text}");
        assert!(render_symbols(&[], false).contains("symbols add"));
    }
}
