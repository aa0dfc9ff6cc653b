//! The command line (README.md, "Command line"): `run`, `check-config`, `ctl` and
//! `completions`.
//!
//! Exit status: 0 success, 1 failure at run time (for `ctl`: the daemon answered with an
//! error), 2 bad usage or a config error (for `ctl`: also the daemon is unreachable).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use rust_decimal::Decimal;

use crate::domain::{ClientOrderId, OrderType, Side, TimeInForce};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::domain::{Interval, Market, Symbol};

/// tradebeat: Binance market data and your own orders in one SQLite file.
#[derive(Debug, Parser)]
#[command(name = "tradebeat", version = crate::LONG_VERSION, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground (systemd runs this).
    Run {
        /// TOML config file; every key can also be set by env TRADEBEAT_SECTION__KEY.
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Validate the config and print the effective values, secrets redacted.
    CheckConfig {
        /// TOML config file; every key can also be set by env TRADEBEAT_SECTION__KEY.
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Talk to the running daemon over its control socket (human tables, or --json).
    Ctl(CtlArgs),
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// `tradebeat ctl [--socket PATH | --config FILE] [--json] COMMAND`.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The daemon's control socket [default: control.socket of the config].
    #[arg(long, short = 's', value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// TOML config file to read control.socket from (env TRADEBEAT_CONTROL__SOCKET also works).
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Print the daemon's raw JSON result (or error object) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The `ctl` subcommands, one per control method.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// The daemon's state: version, uptime, beats, symbols, backfill, request weight.
    Status,
    /// Register, remove and list symbols.
    #[command(subcommand, alias = "symbol")]
    Symbols(SymbolsCommand),
    /// Run a beat now: tickers and closed klines of every followed symbol.
    Sync {
        /// Fail unless this symbol is followed (the beat covers all followed symbols).
        symbol: Option<Symbol>,
    },
    /// Start (or restart) the history backfill of a registered symbol.
    Backfill {
        /// A registered symbol, e.g. BTCUSDT.
        symbol: Symbol,
        /// Only this interval [default: all the symbol's intervals].
        #[arg(long)]
        interval: Option<Interval>,
        /// Oldest candle wanted: a date (2026-11-01, UTC), an RFC 3339 time or ms since the
        /// epoch [default: the symbol's backfill days before now].
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        from: Option<i64>,
        /// The market: spot, usdm or coinm.
        #[arg(long, default_value = "spot")]
        market: Market,
    },
    /// Stored klines (candles) of a symbol, oldest first.
    Klines {
        /// A registered symbol, e.g. BTCUSDT.
        symbol: Symbol,
        /// The interval, e.g. 1m, 15m, 1h, 1d.
        interval: Interval,
        /// How many candles, 1 to 5000 [default: 500].
        #[arg(long, short = 'n')]
        limit: Option<u32>,
        /// First open time: a date (UTC), an RFC 3339 time or ms [default: the newest LIMIT candles].
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        start: Option<i64>,
        /// Last open time: a date (UTC), an RFC 3339 time or ms [default: now].
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        end: Option<i64>,
        /// The market: spot, usdm or coinm.
        #[arg(long, default_value = "spot")]
        market: Market,
    },
    /// Stored mark prices of a futures symbol (one premiumIndex snapshot per beat).
    MarkPrices {
        /// A futures symbol, e.g. BTCUSDT (usdm) or BTCUSD_PERP (coinm).
        symbol: Symbol,
        #[command(flatten)]
        range: FuturesRange,
    },
    /// Stored funding events of a futures symbol.
    Funding {
        /// A futures symbol.
        symbol: Symbol,
        #[command(flatten)]
        range: FuturesRange,
    },
    /// Stored open interest of a futures symbol (contracts on coinm, base asset on usdm).
    OpenInterest {
        /// A futures symbol.
        symbol: Symbol,
        /// `beat` (each beat's reading) or a history period (5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h, 1d).
        #[arg(long, default_value = "beat")]
        period: String,
        #[command(flatten)]
        range: FuturesRange,
    },
    /// Place, cancel, inspect and list your orders.
    #[command(subcommand, alias = "order")]
    Orders(OrdersCommand),
    /// Futures positions, refreshed from the exchange (flat ones with --all).
    #[command(alias = "position")]
    Positions {
        /// Only this futures market: usdm or coinm [default: both].
        #[arg(long)]
        market: Option<Market>,
        /// Only this symbol.
        #[arg(long)]
        symbol: Option<Symbol>,
        /// Flat positions too.
        #[arg(long)]
        all: bool,
    },
    /// Set a futures symbol's initial leverage.
    Leverage {
        /// The symbol, e.g. BTCUSDT.
        symbol: Symbol,
        /// 1 to 125.
        leverage: u32,
        /// The futures market: usdm or coinm.
        #[arg(long)]
        market: Market,
    },
    /// Set a futures symbol's margin type: isolated or crossed.
    MarginType {
        /// The symbol, e.g. BTCUSDT.
        symbol: Symbol,
        /// isolated or crossed.
        margin_type: crate::domain::MarginType,
        /// The futures market: usdm or coinm.
        #[arg(long)]
        market: Market,
    },
    /// Balances as last reported by the user-data stream or the account endpoint.
    #[command(alias = "balance")]
    Balances {
        /// Only this asset, e.g. BTC.
        asset: Option<String>,
    },
    /// Position, average entry, realized and unrealized PnL and fees per symbol, from the
    /// stored fills (live and paper alike).
    Pnl {
        /// Only this symbol, e.g. BTCUSDT.
        symbol: Option<crate::domain::Symbol>,
        /// Only this market (spot, usdm, coinm).
        #[arg(long)]
        market: Option<crate::domain::Market>,
    },
    /// The live price of a symbol: last, bid, ask and the last 24 hours (from the exchange).
    #[command(alias = "ticker")]
    Price {
        /// The exchange's symbol, e.g. BTCUSDT.
        symbol: Symbol,
        /// The market: spot [default: spot].
        #[arg(long)]
        market: Option<crate::domain::Market>,
    },
    /// A symbol's trading rules: tick and step size, bounds, minimum notional, precisions.
    Market {
        /// The exchange's symbol, e.g. BTCUSDT.
        symbol: Symbol,
        /// The market: spot, usdm or coinm [default: spot].
        #[arg(long)]
        market: Option<crate::domain::Market>,
    },
    /// Write stored rows to a CSV or Parquet file, straight from the database file
    /// (read-only; no daemon needed).
    Export(ExportArgs),
    /// Your fills, newest first (from the database).
    #[command(alias = "fills")]
    Trades {
        /// Only this symbol's fills.
        #[arg(long)]
        symbol: Option<Symbol>,
        /// The market: spot [default: spot].
        #[arg(long)]
        market: Option<crate::domain::Market>,
        /// Oldest fill time: a date (UTC), an RFC 3339 time or ms.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        start: Option<i64>,
        /// Newest fill time: a date (UTC), an RFC 3339 time or ms.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        end: Option<i64>,
        /// How many fills, 1 to 5000 [default: 100].
        #[arg(long, short = 'n')]
        limit: Option<u32>,
    },
    /// Watch events as they are committed, one line each (--json: one JSON object a
    /// line), until the daemon stops (exit 0) or Ctrl-C.
    Watch {
        /// The events to watch: beat, kline, order, execution, balance, position, action
        /// [default: all].
        #[arg(value_name = "EVENT")]
        events: Vec<crate::control::protocol::EventName>,
    },
    /// Write the price chart: the close of every followed symbol on a log scale, as one
    /// self-contained HTML page (script and data inline; opens offline) or an SVG.
    Chart {
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// `html` (interactive, self-contained) or `svg` (static).
        #[arg(long, default_value = "html", value_parser = ["html", "svg"])]
        format: String,
        /// The candle interval drawn.
        #[arg(long, default_value = "1h")]
        interval: String,
        /// Days back from now.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Register, change, remove and list strategies (programs run after closed candles).
    #[command(subcommand, alias = "strategy")]
    Strategies(StrategiesCommand),
    /// Attach strategies to a symbol's interval, detach them, list them.
    #[command(subcommand, alias = "trade-strategy")]
    TradeStrategies(TradeStrategiesCommand),
    /// Watch symbols: their 24 h ticker every beat, no klines, no backfill.
    #[command(subcommand)]
    Watchlist(WatchlistCommand),
    /// The action log: every state-changing request and its outcome, newest first.
    #[command(alias = "actions")]
    Log {
        /// Only requests naming this symbol.
        #[arg(long)]
        symbol: Option<Symbol>,
        /// Only this source: ctl, http, daemon or strategy:<slug>.
        #[arg(long)]
        source: Option<String>,
        /// How many rows, 1 to 1000 [default: 100].
        #[arg(long, short = 'n')]
        limit: Option<u32>,
        /// Only rows with a smaller id (the next page).
        #[arg(long)]
        before_id: Option<i64>,
    },
}

/// `ctl strategies …`.
#[derive(Debug, Subcommand)]
pub enum StrategiesCommand {
    /// Register a strategy; its program must exist.
    Add {
        /// A name for people.
        name: String,
        /// The command line (split like a shell would, run without a shell), e.g.
        /// "python3 examples/ma_crossover.py".
        command: String,
        /// [a-z0-9-] [default: derived from the name].
        #[arg(long)]
        slug: Option<String>,
        /// How long a run may take, ms [default: 5000].
        #[arg(long)]
        timeout_ms: Option<i64>,
    },
    /// Change a strategy's name, command or timeout.
    Update {
        /// The strategy's slug or id.
        strategy: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        command: Option<String>,
        #[arg(long)]
        timeout_ms: Option<i64>,
    },
    /// Remove a strategy (soft: its rows stay; its trade strategies stop running).
    Remove {
        /// The strategy's slug or id.
        strategy: String,
    },
    /// The strategies.
    List {
        /// Removed ones too.
        #[arg(long)]
        all: bool,
    },
    /// The strategies' runs, newest first: outcome, duration, orders placed, note.
    Runs {
        /// Only this strategy's runs (slug or id; removed ones too).
        #[arg(long)]
        strategy: Option<String>,
        /// Only runs on this symbol.
        #[arg(long)]
        symbol: Option<Symbol>,
        /// Only runs on this market.
        #[arg(long)]
        market: Option<Market>,
        /// Only runs that ended so: ok, timeout, exit_code, invalid_output, killed,
        /// spawn_failed.
        #[arg(long)]
        outcome: Option<String>,
        /// Oldest start time: a date (UTC), an RFC 3339 time or ms.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        start: Option<i64>,
        /// Newest start time: a date (UTC), an RFC 3339 time or ms.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        end: Option<i64>,
        /// How many runs, 1 to 1000 [default: 100].
        #[arg(long, short = 'n')]
        limit: Option<u32>,
    },
}

/// `ctl trade-strategies …`.
#[derive(Debug, Subcommand)]
pub enum TradeStrategiesCommand {
    /// Attach a strategy to a registered symbol's interval.
    Add {
        /// The strategy's slug or id.
        strategy: String,
        /// A registered symbol, e.g. BTCUSDT.
        symbol: Symbol,
        /// The interval whose closed candles run it, e.g. 1m.
        interval: Interval,
        /// The market: spot [default: spot].
        #[arg(long)]
        market: Option<Market>,
        /// The strategy's params, a JSON object, e.g. '{"fast": 5, "slow": 20}'.
        #[arg(long, value_parser = parse_json_object)]
        params: Option<serde_json::Map<String, serde_json::Value>>,
    },
    /// Detach (soft: its rows stay).
    Remove {
        /// The trade strategy's id.
        id: i64,
    },
    /// The trade strategies.
    List {
        /// Only this strategy's (slug or id).
        #[arg(long)]
        strategy: Option<String>,
        /// Removed ones too.
        #[arg(long)]
        all: bool,
    },
}

/// A JSON object argument.
fn parse_json_object(s: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str(s) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("must be a JSON object".to_string()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// `ctl orders …`.
#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// Place an order: checked against the symbol's rules, stored, sent once.
    Place(Box<PlaceArgs>),
    /// Cancel an open order.
    Cancel {
        /// The order's symbol, e.g. BTCUSDT.
        symbol: Symbol,
        #[command(flatten)]
        which: OrderIdArgs,
        /// The market: spot, usdm or coinm [default: spot].
        #[arg(long)]
        market: Option<Market>,
    },
    /// One order, refreshed from the exchange.
    Get {
        /// The order's symbol, e.g. BTCUSDT.
        symbol: Symbol,
        #[command(flatten)]
        which: OrderIdArgs,
        /// The market: spot, usdm or coinm [default: spot].
        #[arg(long)]
        market: Option<Market>,
    },
    /// Stored orders, newest first.
    #[command(alias = "ls")]
    List {
        /// Only this symbol's orders.
        #[arg(long)]
        symbol: Option<Symbol>,
        /// Only orders not in a final state (open, pending or unknown).
        #[arg(long)]
        open: bool,
        /// How many orders, 1 to 1000 [default: 100].
        #[arg(long, short = 'n')]
        limit: Option<u32>,
        /// Ask the exchange for the open orders and mark each against the database
        /// (same, differs, exchange_only, database_only).
        #[arg(long, conflicts_with_all = ["open", "limit"])]
        live: bool,
        /// The market: spot, usdm or coinm [default: spot].
        #[arg(long)]
        market: Option<Market>,
    },
    /// Cancel every open order of a symbol in one request.
    CancelAll {
        /// The symbol, e.g. BTCUSDT.
        symbol: Symbol,
    },
    /// Check an order (local rules and the exchange's test endpoint) without placing it.
    Test(Box<PlaceArgs>),
}

/// What `ctl export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportWhat {
    Klines,
    Tickers,
    Orders,
    Executions,
    MarkPrices,
    OpenInterest,
}

/// The file format of `ctl export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Parquet,
}

/// `ctl export WHAT --out FILE …`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// klines, tickers, orders, executions, mark-prices or open-interest.
    #[arg(value_enum)]
    pub what: ExportWhat,
    /// The file to write (replaced whole, only once complete).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
    /// csv or parquet [default: from the extension of --out, else csv].
    #[arg(long, value_enum)]
    pub format: Option<ExportFormat>,
    /// Only this symbol.
    #[arg(long)]
    pub symbol: Option<Symbol>,
    /// Only this market (spot, usdm, coinm).
    #[arg(long)]
    pub market: Option<crate::domain::Market>,
    /// Only this interval (klines).
    #[arg(long)]
    pub interval: Option<Interval>,
    /// First time (klines: open time; tickers: beat time; orders: created; executions:
    /// transaction time): a date (UTC), an RFC 3339 time or ms.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub start: Option<i64>,
    /// Last time, inclusive, in the same forms.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub end: Option<i64>,
    /// The database file [default: storage.database of the config].
    #[arg(long, value_name = "FILE")]
    pub database: Option<PathBuf>,
}

/// `ctl orders place SYMBOL …`.
#[derive(Debug, Args)]
pub struct PlaceArgs {
    /// The exchange's symbol, e.g. BTCUSDT.
    pub symbol: Symbol,
    /// buy or sell.
    #[arg(long)]
    pub side: Side,
    /// limit, market, limit_maker, stop_loss, stop_loss_limit, take_profit or
    /// take_profit_limit; futures: limit, market, stop, stop_market, take_profit,
    /// take_profit_market, trailing_stop_market.
    #[arg(long = "type", value_name = "TYPE")]
    pub order_type: OrderType,
    /// Base-asset quantity, e.g. 0.001.
    #[arg(long, value_name = "Q", value_parser = parse_decimal, conflicts_with = "quote_quantity")]
    pub quantity: Option<Decimal>,
    /// Quote-asset amount to spend (buy) or raise (sell); market orders only.
    #[arg(long, value_name = "Q", value_parser = parse_decimal)]
    pub quote_quantity: Option<Decimal>,
    /// Limit price, in the quote asset.
    #[arg(long, value_name = "P", value_parser = parse_decimal)]
    pub price: Option<Decimal>,
    /// Trigger price of the stop and take-profit types.
    #[arg(long, value_name = "P", value_parser = parse_decimal)]
    pub stop_price: Option<Decimal>,
    /// gtc, ioc or fok (limit types).
    #[arg(long, value_name = "TIF")]
    pub time_in_force: Option<TimeInForce>,
    /// Your own id for the order (1 to 36 of a-z A-Z 0-9 - _) [default: generated, tb-…].
    #[arg(long, value_name = "ID")]
    pub client_order_id: Option<ClientOrderId>,
    #[command(flatten)]
    pub futures: FuturesOrderArgs,
}

/// The futures fields of `ctl orders place|test` (with `--market usdm|coinm`).
#[derive(Debug, Args, Default)]
pub struct FuturesOrderArgs {
    /// The market: spot, usdm or coinm [default: spot].
    #[arg(long)]
    pub market: Option<Market>,
    /// Futures: only reduce the position.
    #[arg(long)]
    pub reduce_only: bool,
    /// Futures: both (one-way), long or short (hedge mode).
    #[arg(long, value_name = "SIDE")]
    pub position_side: Option<crate::domain::PositionSide>,
    /// Futures (stop_market, take_profit_market): close the whole position when triggered.
    #[arg(long)]
    pub close_position: bool,
    /// Futures (trailing_stop_market): callback rate in percent, 0.1 to 10.
    #[arg(long, value_name = "PCT", value_parser = parse_decimal)]
    pub callback_rate: Option<Decimal>,
    /// Futures (trailing_stop_market): the price the trailing starts from.
    #[arg(long, value_name = "P", value_parser = parse_decimal)]
    pub activation_price: Option<Decimal>,
    /// Futures (conditional types): mark_price or contract_price.
    #[arg(long, value_name = "W")]
    pub working_type: Option<crate::domain::WorkingType>,
    /// Futures (conditional types): refuse to trigger when last and mark prices differ much.
    #[arg(long)]
    pub price_protect: bool,
}

/// Which order: `--order-id N` or `--client-order-id ID` (one of them).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct OrderIdArgs {
    /// The exchange's order id.
    #[arg(long, value_name = "N")]
    pub order_id: Option<i64>,
    /// The client order id.
    #[arg(long, value_name = "ID")]
    pub client_order_id: Option<ClientOrderId>,
}

/// A decimal as the command line gives it (`0.001`, `65000.5`): plain digits only.
fn parse_decimal(s: &str) -> Result<Decimal, String> {
    crate::domain::parse_decimal(s.trim()).map_err(|e| e.to_string())
}

/// `ctl symbols …`.
#[derive(Debug, Subcommand)]
pub enum SymbolsCommand {
    /// Register a symbol (checked against the exchange) and start its backfill.
    Add {
        /// The exchange's symbol, e.g. BTCUSDT.
        symbol: Symbol,
        /// Its own kline intervals, comma-separated [default: market_data.intervals].
        #[arg(long, value_delimiter = ',', value_name = "LIST")]
        intervals: Option<Vec<Interval>>,
        /// Days of history to backfill [default: market_data.backfill_days].
        #[arg(long, value_name = "N")]
        backfill_days: Option<u32>,
        /// Follow the backfill until it is done, showing its progress.
        #[arg(long)]
        wait: bool,
        /// The market: spot, usdm (USDⓈ-M futures) or coinm (COIN-M futures).
        #[arg(long, default_value = "spot")]
        market: Market,
    },
    /// Stop following a symbol; its stored data stay.
    #[command(alias = "rm")]
    Remove {
        /// A registered symbol.
        symbol: Symbol,
        /// The market: spot, usdm or coinm.
        #[arg(long, default_value = "spot")]
        market: Market,
    },
    /// The registered symbols with their newest kline and backfill progress.
    #[command(alias = "ls")]
    List {
        /// Include removed symbols.
        #[arg(long)]
        all: bool,
        /// The market: spot, usdm or coinm.
        #[arg(long, default_value = "spot")]
        market: Market,
    },
}

/// Parses a time given on the command line: ms since the epoch (`1793491200000`), a date
/// (`2026-11-01`, midnight UTC) or an RFC 3339 time (`2026-11-01T12:00:00Z`). Returns ms.
///
/// # Errors
/// A message saying which forms are accepted.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .map_err(|_| format!("{s} is too large for ms since the epoch"));
    }
    let ms = |t: OffsetDateTime| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    if let Ok(date) = time::Date::parse(s, format_description!("[year]-[month]-[day]"))
        && let Some(t) = ms(date.midnight().assume_utc())
    {
        return Ok(t);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        && let Some(t) = ms(t)
    {
        return Ok(t);
    }
    Err(format!(
        "invalid time {s:?}: expected a date (2026-11-01, UTC), an RFC 3339 time \
         (2026-11-01T12:00:00Z) or ms since the epoch"
    ))
}

/// The market and range of the futures queries (`ctl mark-prices`, `funding`,
/// `open-interest`).
#[derive(Debug, clap::Args)]
pub struct FuturesRange {
    /// The market: usdm or coinm.
    #[arg(long, default_value = "usdm")]
    pub market: Market,
    /// How many rows, 1 to 5000, the newest of the range [default: 500].
    #[arg(long, short = 'n')]
    pub limit: Option<u32>,
    /// First time: a date (UTC), an RFC 3339 time or ms [default: no bound].
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub start: Option<i64>,
    /// Last time: a date (UTC), an RFC 3339 time or ms [default: no bound].
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub end: Option<i64>,
}

/// `ctl watchlist …`.
#[derive(Debug, Subcommand)]
pub enum WatchlistCommand {
    /// Watch a symbol listed and trading on the exchange.
    Add {
        /// The exchange's symbol, e.g. SOLUSDT.
        symbol: Symbol,
        /// The market: spot [default: spot].
        #[arg(long)]
        market: Option<Market>,
    },
    /// Stop watching a symbol (its stored tickers stay).
    Remove {
        /// A watched symbol.
        symbol: Symbol,
        /// The market: spot [default: spot].
        #[arg(long)]
        market: Option<Market>,
    },
    /// The watched symbols.
    List {
        /// Only this market.
        #[arg(long)]
        market: Option<Market>,
    },
}
