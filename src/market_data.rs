//! Market data: what one beat fetches and stores.
//!
//! A beat takes one 24-hour ticker snapshot of every followed symbol (one request for all of
//! them), fetches every candle that has closed since the newest stored one for each symbol
//! × interval, and commits all of it, with the beat's `heartbeats` row, in one transaction.
//!
//! Followed symbols are the active rows of `symbols` whose exchange status is `TRADING`;
//! they are read from the database at every beat, so symbols added or removed while the
//! daemon runs are picked up at the next beat. The configured symbols are registered the
//! first time `exchangeInfo` is reachable: unknown or non-trading ones are reported and
//! skipped, the rest run.
//!
//! Architecture invariant: a candle is stored only once its close time has passed on the
//! exchange's clock; the still-open candle never reaches the database. "Passed" is proven
//! by the exchange itself, never by the local clock: every beat reads the exchange's time
//! (`GET /api/v3/time`) before it asks for candles, and keeps only candles that closed
//! before that time. A clock step (NTP, a resumed VM, the exchange's own clock) can then
//! delay a candle to the next beat, never store it early.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::StreamExt;
use tokio::sync::Mutex;

mod futures_part;
use futures_part::FuturesPart;

use crate::clock::Clock;
use crate::domain::{
    ExchangeInfo, Interval, Kline, Market, Symbol, SymbolStatus, Ticker, is_contract_finished,
};
use crate::exchange::{ExchangeError, MarketClient, Rejection};
use crate::store::{BeatTrigger, BeatWrite, HeartbeatRow, Store, StoreError, SymbolRow};

/// Kline requests of one beat in flight at once.
const KLINE_CONCURRENCY: usize = 8;
/// Binance's maximum `limit` for `GET /api/v3/klines`.
const MAX_KLINES_PER_REQUEST: i64 = 1000;
/// How often symbol statuses are refreshed from `exchangeInfo`, ms.
const EXCHANGE_INFO_EVERY_MS: i64 = 60 * 60_000;
/// The longest `heartbeats.error` text kept, in bytes.
const MAX_ERROR_LEN: usize = 2000;

/// Fetches and stores market data, one beat at a time.
///
/// Beats are serialized by an internal lock: a manual beat asked for while a scheduled one
/// runs waits for it, so two beats never overlap.
pub struct MarketData {
    exchange: MarketClient,
    store: Store,
    clock: Clock,
    /// Symbols from the config, registered once `exchangeInfo` has been read.
    configured: Vec<Symbol>,
    /// Intervals of symbols that name none of their own.
    default_intervals: Vec<Interval>,
    /// Scheduled beats one one-minute weight window can hold (their weight is reserved).
    beats_per_window: u32,
    /// The request weight of the last beat's plan, for `sync.now`'s admission.
    beat_weight: AtomicU32,
    state: Mutex<State>,
    /// The futures markets' parts (`usdm`, `coinm`), each with its own client.
    futures: Vec<FuturesPart>,
}

/// What the beats remember between them. Guarded by the beat lock.
#[derive(Default)]
struct State {
    /// When `exchangeInfo` was last read, local ms.
    info_read_at: Option<i64>,
    /// Set when the exchange said a followed symbol is invalid: re-read `exchangeInfo`.
    info_stale: bool,
}

/// One symbol × interval whose closed candles a beat fetches.
struct KlineTask {
    symbol_id: i64,
    symbol: Symbol,
    interval: Interval,
    /// First open time wanted, ms.
    start: i64,
    /// Open time of the newest closed candle, ms.
    last_closed: i64,
    /// The exchange's time read before the request (ms): only candles that closed before
    /// it are kept.
    closed_before: i64,
}

impl MarketData {
    /// A market-data component for the market `exchange` serves: a [`MarketClient`], or
    /// one market's client such as a `SpotClient`.
    pub fn new(
        exchange: impl Into<MarketClient>,
        store: Store,
        clock: Clock,
        configured: Vec<Symbol>,
        default_intervals: Vec<Interval>,
    ) -> MarketData {
        MarketData {
            exchange: exchange.into(),
            store,
            clock,
            configured,
            default_intervals,
            beats_per_window: beats_per_window(60_000),
            beat_weight: AtomicU32::new(0),
            state: Mutex::new(State::default()),
            futures: Vec::new(),
        }
    }

    /// Adds a futures market's part to every beat: `exchange` is its client (a
    /// `FuturesClient` or a [`MarketClient`] of `usdm`/`coinm`), `configured` its symbols
    /// from the config. Call after [`MarketData::with_beat_period`].
    pub fn with_futures_market(
        mut self,
        exchange: impl Into<MarketClient>,
        configured: Vec<Symbol>,
    ) -> MarketData {
        self.futures.push(FuturesPart::new(
            exchange.into(),
            configured,
            self.beats_per_window,
        ));
        self
    }

    /// The futures markets' clients, in the order they were added.
    pub fn futures_exchanges(&self) -> impl Iterator<Item = &MarketClient> {
        self.futures.iter().map(FuturesPart::exchange)
    }

    /// Each futures market's client and the error of its part of the last beat.
    pub fn futures_status(&self) -> Vec<(&MarketClient, Option<String>)> {
        self.futures
            .iter()
            .map(|p| (p.exchange(), p.last_error()))
            .collect()
    }

    /// Sets the period of the scheduled beats, ms (default a minute), from which the
    /// request weight kept for them in every one-minute window follows.
    pub fn with_beat_period(mut self, period_ms: i64) -> MarketData {
        self.beats_per_window = beats_per_window(period_ms);
        self
    }

    /// The request weight one beat over the followed symbols needs, as of the last beat
    /// (0 before the first): what a manual beat costs.
    pub fn beat_weight(&self) -> u32 {
        self.beat_weight.load(Ordering::Relaxed)
    }

    /// The exchange client, shared with the other components.
    pub fn exchange(&self) -> &MarketClient {
        &self.exchange
    }

    /// Runs one beat due at `beat_time` (ms) and returns its `heartbeats` row as stored.
    ///
    /// Never fails: what went wrong (exchange unreachable, a symbol's request rejected, the
    /// database write) is logged and recorded in the row's `error`, and the next beat tries
    /// again. `skipped_before` is the number of scheduled beats skipped just before this
    /// one because the previous beat overran.
    pub async fn beat(
        &self,
        beat_time: i64,
        trigger: BeatTrigger,
        skipped_before: u32,
    ) -> HeartbeatRow {
        let mut state = self.state.lock().await;
        let started_at = self.clock.now_ms();
        let mut row = HeartbeatRow {
            beat_time,
            started_at,
            finished_at: started_at,
            symbols_ok: 0,
            symbols_failed: 0,
            klines_written: 0,
            skipped_before,
            trigger,
            error: None,
        };

        // Every market's part runs at the same time; one market failing, rate-limited or
        // banned never stops another's.
        let futures_parts = futures::future::join_all(
            self.futures
                .iter()
                .map(|part| part.beat(&self.store, &self.clock, &self.default_intervals)),
        );
        let (spot, parts) = tokio::join!(self.spot_part(&mut state, &mut row), futures_parts);
        let (mut write, mut symbols_total) = match spot {
            Some(done) => done,
            None if parts.is_empty() => return self.record_failed_beat(row).await,
            None => {
                let failed = row.symbols_failed as usize;
                (BeatWrite::empty(row.clone()), failed)
            }
        };
        for part in parts {
            symbols_total += part.symbols;
            part.merge_into(&mut write, &mut row);
        }
        write.heartbeat = row.clone();

        let clock = self.clock.clone();
        match self.store.run(move |s| s.commit_beat(&write, &clock)).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(error = %e, beat_time, "beat could not be written");
                row.symbols_ok = 0;
                row.symbols_failed = u32::try_from(symbols_total).unwrap_or(u32::MAX);
                row.klines_written = 0;
                row.error = Some(format!("database write failed: {e}"));
                self.record_failed_beat(row).await
            }
        }
    }

    /// The spot part of a beat: what it writes and how many symbols it followed, or `None`
    /// when it has nothing to write (`row` then says why).
    async fn spot_part(
        &self,
        state: &mut State,
        row: &mut HeartbeatRow,
    ) -> Option<(BeatWrite, usize)> {
        if let Err(e) = self.refresh_exchange_state(state).await {
            tracing::warn!(error = %e, "exchange not ready; the beat stores nothing");
            row.error = Some(format!("exchange not ready: {e}"));
            row.symbols_failed = u32::try_from(self.configured.len()).unwrap_or(u32::MAX);
            return None;
        }

        let default_intervals = self.default_intervals.clone();
        let followed = match self
            .store
            .run(move |s| followed_series(s, Market::Spot, &default_intervals))
            .await
        {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the followed symbols");
                row.error = Some(format!("database: {e}"));
                return None;
            }
        };
        let (symbols, newest) = followed;
        // Watched symbols the beats do not follow: their tickers only, in the same request.
        let watched = match self
            .store
            .run(|s| s.watched_ticker_only(Market::Spot))
            .await
        {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the watchlist; its tickers are skipped");
                Vec::new()
            }
        };
        // Keep every window's weight for the beats, from what they are about to fetch.
        let series: usize = symbols
            .iter()
            .map(|s| {
                s.intervals
                    .as_deref()
                    .unwrap_or(&self.default_intervals)
                    .len()
            })
            .sum();
        let weight = self.exchange.beat_weight(symbols.len(), series);
        self.beat_weight.store(weight, Ordering::Relaxed);
        self.exchange
            .reserve_for_beats(weight, self.beats_per_window);

        // The exchange's own time, read before any candle is asked for: a candle that
        // closed before it is final. Without a fresh reading the last one still proves
        // what closed before it (the newer candles wait for the next beat).
        let server_time = match self.exchange.server_time().await {
            Ok(t) => t,
            Err(e) => {
                let seen = self.exchange.server_time_seen();
                tracing::warn!(error = %e, "exchange time not read; the last one is used");
                if seen == i64::MIN {
                    row.error = Some(format!("exchange not ready: {e}"));
                    row.symbols_failed = u32::try_from(symbols.len()).unwrap_or(u32::MAX);
                    return None;
                }
                seen
            }
        };
        let tasks = plan_klines(&symbols, &newest, &self.default_intervals, server_time);
        let names: Vec<Symbol> = symbols
            .iter()
            .map(|s| s.symbol.clone())
            .chain(watched.iter().map(|(_, name)| name.clone()))
            .collect();

        let tickers = self.exchange.tickers_24hr(&names);
        let klines = futures::stream::iter(tasks)
            .map(|task| async move {
                let result = self.fetch_closed(&task).await;
                (task, result)
            })
            .buffer_unordered(KLINE_CONCURRENCY)
            .collect::<Vec<_>>();
        let (tickers, klines) = tokio::join!(tickers, klines);

        // Sort what came back into a write and a list of failures per symbol.
        let mut failures: HashMap<Symbol, String> = HashMap::new();
        let mut write = BeatWrite {
            tickers: Vec::with_capacity(symbols.len()),
            klines: Vec::with_capacity(klines.len()),
            mark_prices: Vec::new(),
            open_interest: Vec::new(),
            heartbeat: row.clone(),
        };
        let mut ticker_error = None;
        match tickers {
            Ok(list) => {
                let by_symbol: HashMap<&Symbol, &Ticker> =
                    list.iter().map(|t| (&t.symbol, t)).collect();
                for s in &symbols {
                    match by_symbol.get(&s.symbol) {
                        Some(t) => write.tickers.push((s.id, (*t).clone())),
                        None => {
                            failures.insert(s.symbol.clone(), "no ticker in the answer".into());
                        }
                    }
                }
                for (id, name) in &watched {
                    match by_symbol.get(name) {
                        Some(t) => write.tickers.push((*id, (*t).clone())),
                        None => tracing::warn!(symbol = %name, "no ticker for a watched symbol"),
                    }
                }
            }
            Err(e) => {
                if e.rejection() == Some(Rejection::UnknownSymbol) {
                    // A followed symbol no longer exists: re-read the symbol list.
                    state.info_stale = true;
                }
                tracing::warn!(error = %e, symbols = symbols.len(), "ticker request failed");
                for s in &symbols {
                    failures.insert(s.symbol.clone(), "ticker request failed".into());
                }
                ticker_error = Some(e.to_string());
            }
        }
        for (task, result) in klines {
            match result {
                Ok(closed) if closed.is_empty() => {}
                Ok(closed) => {
                    row.klines_written += u32::try_from(closed.len()).unwrap_or(u32::MAX);
                    write
                        .klines
                        .push((task.symbol_id, task.interval, closed, task.closed_before));
                }
                Err(e) => {
                    tracing::warn!(symbol = %task.symbol, interval = %task.interval, error = %e,
                        "kline request failed");
                    let entry = failures.entry(task.symbol.clone()).or_default();
                    if !entry.is_empty() {
                        entry.push_str(", ");
                    }
                    let _ = write!(entry, "klines {}: {e}", task.interval);
                }
            }
        }

        row.symbols_failed = u32::try_from(failures.len()).unwrap_or(u32::MAX);
        row.symbols_ok = u32::try_from(symbols.len() - failures.len()).unwrap_or(u32::MAX);
        row.error = describe_failures(ticker_error.as_deref(), &failures);
        write.heartbeat = row.clone();
        Some((write, symbols.len()))
    }

    /// Stores the row of a beat that wrote no data, and returns it.
    async fn record_failed_beat(&self, mut row: HeartbeatRow) -> HeartbeatRow {
        row.finished_at = self.clock.now_ms();
        let stored = row.clone();
        if let Err(e) = self.store.run(move |s| s.insert_heartbeat(&stored)).await {
            tracing::error!(error = %e, beat_time = row.beat_time, "heartbeat row could not be written");
        }
        row
    }

    /// Reads `exchangeInfo` when it is due (first beat, then hourly, or when a symbol
    /// turned out invalid), registering the configured symbols and refreshing the status
    /// of registered ones. (The clock offset is measured by every beat, with the
    /// exchange's time.)
    async fn refresh_exchange_state(&self, state: &mut State) -> Result<(), ExchangeError> {
        refresh_market(
            &self.exchange,
            &self.store,
            &self.clock,
            &self.configured,
            state,
        )
        .await
    }

    /// Fetches the candles of one task and keeps the closed, well-formed ones.
    async fn fetch_closed(&self, task: &KlineTask) -> Result<Vec<Kline>, ExchangeError> {
        fetch_closed(&self.exchange, task).await
    }
}

/// Fetches the candles of one task from `exchange` and keeps the closed, well-formed ones.
async fn fetch_closed(
    exchange: &MarketClient,
    task: &KlineTask,
) -> Result<Vec<Kline>, ExchangeError> {
    {
        let missing = task.interval.candle_count(task.start, task.last_closed);
        let limit = u16::try_from(missing.clamp(1, MAX_KLINES_PER_REQUEST)).unwrap_or(1000);
        let end = task.interval.close_time(task.last_closed);
        let fetched = exchange
            .klines(
                &task.symbol,
                task.interval,
                Some(task.start),
                Some(end),
                limit,
            )
            .await?;
        // Closed on the exchange's clock read before the request, not on ours.
        closed_candles(task, fetched, task.closed_before)
    }
}

/// Reads `exchangeInfo` of `exchange`'s market when it is due (first beat, then hourly, or
/// when a symbol turned out invalid), registering `configured` symbols and refreshing the
/// status of registered ones.
async fn refresh_market(
    exchange: &MarketClient,
    store: &Store,
    clock: &Clock,
    configured: &[Symbol],
    state: &mut State,
) -> Result<(), ExchangeError> {
    let now = clock.now_ms();
    let due = |at: Option<i64>, every: i64| at.is_none_or(|t| now - t >= every);
    if state.info_stale || due(state.info_read_at, EXCHANGE_INFO_EVERY_MS) {
        match exchange.exchange_info().await {
            Ok(info) => {
                let market = exchange.market();
                let writer = store.clone();
                let configured = configured.to_vec();
                let first = state.info_read_at.is_none();
                // Futures contract specs (type, size, dates) of the registered symbols.
                let specs = exchange.contract_specs();
                let result = store
                    .run(move |_| {
                        apply_exchange_info(&writer, market, &info, &configured, first, now)?;
                        if !specs.is_empty() {
                            writer.upsert_contract_specs(market, &specs, now)?;
                        }
                        Ok(())
                    })
                    .await;
                if let Err(e) = result {
                    tracing::error!(error = %e, "symbols could not be registered");
                } else {
                    state.info_read_at = Some(now);
                    state.info_stale = false;
                }
            }
            Err(e) if state.info_read_at.is_none() => return Err(e),
            Err(e) => tracing::warn!(error = %e, "exchangeInfo not refreshed"),
        }
    }
    Ok(())
}

/// How many scheduled beats of `period_ms` a one-minute window can hold, plus one (the
/// start-up beat).
fn beats_per_window(period_ms: i64) -> u32 {
    let period = period_ms.max(1);
    let beats = (60_000 + period - 1) / period + 1;
    u32::try_from(beats).unwrap_or(u32::MAX)
}

/// Active, trading symbols and the newest stored candle of each of their series.
type Followed = (Vec<SymbolRow>, HashMap<(i64, Interval), i64>);

fn followed_series(
    store: &Store,
    market: Market,
    default_intervals: &[Interval],
) -> Result<Followed, StoreError> {
    let symbols: Vec<SymbolRow> = store
        .symbols(market, true)?
        .into_iter()
        .filter(|s| s.status == SymbolStatus::Trading.as_str())
        .collect();
    let series: Vec<(i64, Interval)> = symbols
        .iter()
        .flat_map(|s| {
            let intervals = s.intervals.as_deref().unwrap_or(default_intervals);
            intervals.iter().map(move |i| (s.id, *i))
        })
        .collect();
    let newest = store.newest_open_times(&series)?;
    Ok((symbols, newest))
}

/// The kline requests a beat makes at exchange time `server_now` (the exchange's own, read
/// before the requests; candles closing at or after it are not kept): one per symbol × interval
/// whose newest closed candle is not stored yet, starting after the newest stored candle
/// but at most [`MAX_KLINES_PER_REQUEST`] candles back (or at the newest closed candle for
/// a series with none): history, and holes older than that, are the backfill's job.
fn plan_klines(
    symbols: &[SymbolRow],
    newest: &HashMap<(i64, Interval), i64>,
    default_intervals: &[Interval],
    server_now: i64,
) -> Vec<KlineTask> {
    let mut tasks = Vec::new();
    for s in symbols {
        for &interval in s.intervals.as_deref().unwrap_or(default_intervals) {
            let last_closed = interval.last_closed_open_time(server_now);
            // Far behind (after a long stop): the newest page only; the candles before it
            // are the backfill's gap repair, at background priority.
            let newest_page = interval.add_candles(last_closed, 1 - MAX_KLINES_PER_REQUEST);
            let start = match newest.get(&(s.id, interval)) {
                Some(&t) if t >= last_closed => continue,
                Some(&t) => interval.add_candles(t, 1).max(newest_page),
                None => last_closed,
            };
            tasks.push(KlineTask {
                symbol_id: s.id,
                symbol: s.symbol.clone(),
                interval,
                start,
                last_closed,
                closed_before: server_now,
            });
        }
    }
    tasks
}

/// Keeps the candles of `fetched` that belong to the task and closed before `server_now`.
/// A candle after the newest closed one is not refused: it is the open candle when the
/// clock offset is slightly off, and the close-time filter drops it.
fn closed_candles(
    task: &KlineTask,
    fetched: Vec<Kline>,
    server_now: i64,
) -> Result<Vec<Kline>, ExchangeError> {
    closed_candles_in(task.interval, task.start, i64::MAX, fetched, server_now)
}

/// Keeps the candles of a klines answer for open times `start..=end` at `interval` that
/// have closed by `server_now` (exchange time, ms). Used by the beats and by the backfill.
///
/// A candle off the interval's grid, with a close time that does not match its open time,
/// outside the range asked for, or out of chronological order (Binance sends candles
/// oldest first, each once) means the answer cannot be trusted: the whole answer is
/// refused with [`ExchangeError::Decode`] (nothing of it is stored) and the caller asks
/// again.
pub(crate) fn closed_candles_in(
    interval: Interval,
    start: i64,
    end: i64,
    mut fetched: Vec<Kline>,
    server_now: i64,
) -> Result<Vec<Kline>, ExchangeError> {
    let bad = |detail: String| ExchangeError::Decode {
        endpoint: "klines",
        detail,
    };
    let mut previous: Option<i64> = None;
    for k in &fetched {
        let i = interval;
        if i.open_time_containing(k.open_time) != k.open_time
            || i.close_time(k.open_time) != k.close_time
        {
            return Err(bad(format!(
                "candle {}..{} is not a {} candle",
                k.open_time, k.close_time, i
            )));
        }
        if k.open_time < start || k.open_time > end || previous.is_some_and(|p| k.open_time <= p) {
            return Err(bad(format!(
                "candle {} outside the range asked for, repeated or out of order",
                k.open_time
            )));
        }
        previous = Some(k.open_time);
    }
    // In place: a backfill page is 1000 candles, about 100 KiB.
    fetched.retain(|k| k.close_time < server_now);
    Ok(fetched)
}

/// Registers configured symbols and refreshes the status of registered ones from a fresh
/// `exchangeInfo`. Configured symbols that are unknown or not trading are reported and
/// skipped (on the first read only, to keep the log quiet).
fn apply_exchange_info(
    store: &Store,
    market: Market,
    info: &ExchangeInfo,
    configured: &[Symbol],
    report: bool,
    now_ms: i64,
) -> Result<(), StoreError> {
    let registered = store.symbols(market, false)?;
    for row in &registered {
        let status = info
            .symbol(&row.symbol)
            .map(|i| i.status.as_str().to_string())
            .unwrap_or_else(|| "UNKNOWN".to_string());
        if status != row.status {
            tracing::warn!(symbol = %row.symbol, from = %row.status, to = %status,
                "symbol status changed on the exchange");
            store.set_symbol_status(row.id, &status, now_ms)?;
        }
        // A futures contract that settled (delivery) or was delisted (perpetual) is over
        // for good: retire it once, with its reason, instead of failing every beat.
        if market != Market::Spot && row.active && is_contract_finished(&status) {
            store.deactivate_symbol(market, &row.symbol, now_ms)?;
            tracing::warn!(market = market.as_str(), symbol = %row.symbol, status = %status,
                "futures contract settled or delisted on the exchange; symbol retired (inactive)");
        }
    }
    for symbol in configured {
        let known = registered.iter().find(|r| &r.symbol == symbol);
        match info.symbol(symbol) {
            None => {
                if report {
                    tracing::warn!(%symbol, "configured symbol is unknown to the exchange; skipped");
                }
            }
            Some(i) if i.status != SymbolStatus::Trading => {
                if report {
                    tracing::warn!(%symbol, status = %i.status,
                        "configured symbol is not trading; skipped");
                }
            }
            // Registered and active: nothing to do. Inactive (removed by the operator):
            // stays removed.
            Some(_) if known.is_some() => {}
            Some(i) => {
                let row = store.upsert_symbol(market, i, None, None, now_ms)?;
                tracing::info!(market = market.as_str(), symbol = %row.symbol, id = row.id,
                    "symbol registered");
            }
        }
    }
    Ok(())
}

/// The `heartbeats.error` text for a beat's failures; `None` when there were none.
fn describe_failures(
    ticker_error: Option<&str>,
    failures: &HashMap<Symbol, String>,
) -> Option<String> {
    if failures.is_empty() && ticker_error.is_none() {
        return None;
    }
    let mut text = String::new();
    if let Some(e) = ticker_error {
        let _ = write!(text, "tickers: {e}");
    }
    let mut names: Vec<&Symbol> = failures.keys().collect();
    names.sort();
    for name in names {
        if !text.is_empty() {
            text.push_str("; ");
        }
        let _ = write!(text, "{name}: {}", failures[name]);
        if text.len() > MAX_ERROR_LEN {
            let mut cut = MAX_ERROR_LEN;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
            break;
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MINUTE_MS;

    // 2026-11-21 12:00:00 UTC.
    const NOON: i64 = 1_795_262_400_000;

    fn row(id: i64, symbol: &str, intervals: Option<Vec<Interval>>) -> SymbolRow {
        SymbolRow {
            id,
            market: Market::Spot,
            symbol: symbol.parse().unwrap(),
            base_asset: "X".into(),
            quote_asset: "Y".into(),
            status: "TRADING".into(),
            active: true,
            intervals,
            backfill_days: None,
            added_at: 0,
            updated_at: 0,
        }
    }

    fn kline(open_time: i64, interval: Interval) -> Kline {
        Kline {
            open_time,
            close_time: interval.close_time(open_time),
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
            quote_volume: 1.0,
            trades: 1,
            taker_buy_base_volume: 0.5,
            taker_buy_quote_volume: 0.5,
        }
    }

    #[test]
    fn plans_only_series_with_a_newly_closed_candle() {
        let symbols = [
            row(1, "BTCUSDT", None),
            row(2, "ETHUSDT", Some(vec![Interval::H1])),
        ];
        let now = NOON + 5_000; // 12:00:05
        let newest = HashMap::from([
            ((1, Interval::M1), NOON - 2 * MINUTE_MS), // 11:58 stored: 11:59 is missing
            ((1, Interval::M15), NOON - 15 * MINUTE_MS), // 11:45 stored: up to date
            ((2, Interval::H1), NOON - 60 * MINUTE_MS), // 11:00 stored: up to date
        ]);
        let tasks = plan_klines(&symbols, &newest, &[Interval::M1, Interval::M15], now);
        let planned: Vec<_> = tasks
            .iter()
            .map(|t| (t.symbol_id, t.interval, t.start, t.last_closed))
            .collect();
        assert_eq!(
            planned,
            vec![(1, Interval::M1, NOON - MINUTE_MS, NOON - MINUTE_MS)]
        );

        // At 12:15:05 both 15m and 1m are due; a series never stored starts at its newest
        // closed candle.
        let later = NOON + 15 * MINUTE_MS + 5_000;
        let tasks = plan_klines(
            &symbols[..1],
            &HashMap::new(),
            &[Interval::M1, Interval::M15],
            later,
        );
        let planned: Vec<_> = tasks.iter().map(|t| (t.interval, t.start)).collect();
        assert_eq!(
            planned,
            vec![(Interval::M1, NOON + 14 * MINUTE_MS), (Interval::M15, NOON)]
        );
    }

    #[test]
    fn calendar_intervals_are_planned_and_checked_by_the_calendar() {
        let intervals = vec![Interval::D3, Interval::W1, Interval::Mo1];
        let symbols = [row(1, "BTCUSDT", Some(intervals))];
        // 2026-12-01 00:00:05 UTC, a Tuesday, and the first day of a 3d candle.
        let now = 1_796_083_200_000 + 5_000;
        let (oct, nov) = (1_790_812_800_000, 1_793_491_200_000);
        let (nov_23, nov_28) = (1_795_392_000_000, 1_795_824_000_000);
        // October stored: November (30 days) is the month to fetch.
        let newest = HashMap::from([((1, Interval::Mo1), oct)]);
        let tasks = plan_klines(&symbols, &newest, &[], now);
        let planned: Vec<_> = tasks
            .iter()
            .map(|t| (t.interval, t.start, t.last_closed))
            .collect();
        assert_eq!(
            planned,
            vec![
                (Interval::D3, nov_28, nov_28),
                (Interval::W1, nov_23, nov_23),
                (Interval::Mo1, nov, nov),
            ]
        );
        // November closes at its last millisecond; a 31-day "month" is refused.
        let task = &tasks[2];
        let month = kline(nov, Interval::Mo1);
        assert_eq!(month.close_time, 1_796_083_200_000 - 1);
        assert_eq!(closed_candles(task, vec![month], now).unwrap(), vec![month]);
        let wrong = Kline {
            close_time: nov + 31 * 86_400_000 - 1,
            ..month
        };
        assert!(closed_candles(task, vec![wrong], now).is_err());
        // Far behind: the newest 1000 months at most.
        let newest = HashMap::from([((1, Interval::Mo1), i64::MIN)]);
        let tasks = plan_klines(&symbols, &newest, &[], now);
        assert_eq!(tasks[2].start, Interval::Mo1.add_candles(nov, -999));
    }

    #[test]
    fn a_series_far_behind_fetches_only_the_newest_page() {
        let symbols = [row(1, "BTCUSDT", Some(vec![Interval::M1]))];
        let now = NOON + 5_000;
        // Newest stored two days ago: the beat asks for the newest 1000 candles only.
        let newest = HashMap::from([((1, Interval::M1), NOON - 2 * 1440 * MINUTE_MS)]);
        let tasks = plan_klines(&symbols, &newest, &[], now);
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].start, NOON - 1000 * MINUTE_MS);
        assert_eq!(tasks[0].last_closed, NOON - MINUTE_MS);
        // 999 behind: all of them, from the one after the newest stored.
        let newest = HashMap::from([((1, Interval::M1), NOON - 1000 * MINUTE_MS)]);
        let tasks = plan_klines(&symbols, &newest, &[], now);
        assert_eq!(tasks[0].start, NOON - 999 * MINUTE_MS);
    }

    #[test]
    fn the_open_candle_is_never_kept() {
        let task = KlineTask {
            symbol_id: 1,
            symbol: "BTCUSDT".parse().unwrap(),
            interval: Interval::M1,
            start: NOON - 2 * MINUTE_MS,
            last_closed: NOON - MINUTE_MS,
            closed_before: NOON,
        };
        let fetched = vec![
            kline(NOON - 2 * MINUTE_MS, Interval::M1),
            kline(NOON - MINUTE_MS, Interval::M1),
            kline(NOON, Interval::M1), // still open at 12:00:05
        ];
        let kept = closed_candles(&task, fetched, NOON + 5_000).unwrap();
        assert_eq!(
            kept.iter().map(|k| k.open_time).collect::<Vec<_>>(),
            vec![NOON - 2 * MINUTE_MS, NOON - MINUTE_MS]
        );
    }

    #[test]
    fn malformed_candles_refuse_the_whole_answer() {
        let task = KlineTask {
            symbol_id: 1,
            symbol: "BTCUSDT".parse().unwrap(),
            interval: Interval::M1,
            start: NOON - 2 * MINUTE_MS,
            last_closed: NOON - MINUTE_MS,
            closed_before: NOON,
        };
        let mut off_grid = kline(NOON - MINUTE_MS, Interval::M1);
        off_grid.open_time += 1;
        assert!(closed_candles(&task, vec![off_grid], NOON).is_err());
        let mut bad_close = kline(NOON - MINUTE_MS, Interval::M1);
        bad_close.close_time += 60_000;
        assert!(closed_candles(&task, vec![bad_close], NOON).is_err());
        let early = kline(NOON - 10 * MINUTE_MS, Interval::M1);
        assert!(closed_candles(&task, vec![early], NOON).is_err());
        let twice = vec![
            kline(NOON - MINUTE_MS, Interval::M1),
            kline(NOON - MINUTE_MS, Interval::M1),
        ];
        assert!(closed_candles(&task, twice, NOON).is_err());
        let backwards = vec![
            kline(NOON - MINUTE_MS, Interval::M1),
            kline(NOON - 2 * MINUTE_MS, Interval::M1),
        ];
        assert!(closed_candles(&task, backwards, NOON).is_err());
        // Beyond the end asked for (the backfill's pages say where they end).
        let beyond = vec![kline(NOON, Interval::M1)];
        assert!(
            closed_candles_in(
                Interval::M1,
                NOON - MINUTE_MS,
                NOON - MINUTE_MS,
                beyond,
                NOON + MINUTE_MS
            )
            .is_err()
        );
    }

    #[test]
    fn a_settled_futures_contract_is_retired_and_spot_is_not() {
        use crate::domain::{SymbolFilters, SymbolInfo};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let info = |symbol: &str, status: &str| SymbolInfo {
            symbol: symbol.parse().unwrap(),
            status: SymbolStatus::parse(status),
            base_asset: "BTC".into(),
            quote_asset: "USD".into(),
            filters: SymbolFilters::default(),
        };
        let exchange = |symbols: Vec<SymbolInfo>| ExchangeInfo {
            server_time: 0,
            rate_limits: Vec::new(),
            symbols,
        };
        let quarter: Symbol = "BTCUSD_251226".parse().unwrap();
        let perp: Symbol = "BTCUSD_PERP".parse().unwrap();
        let configured = vec![quarter.clone(), perp.clone()];
        let trading = exchange(vec![
            info("BTCUSD_251226", "TRADING"),
            info("BTCUSD_PERP", "TRADING"),
        ]);
        apply_exchange_info(&store, Market::CoinM, &trading, &configured, true, 1).unwrap();
        assert_eq!(store.symbols(Market::CoinM, true).unwrap().len(), 2);
        // The quarter settles: retired, with its status; the perpetual goes on.
        let settled = exchange(vec![
            info("BTCUSD_251226", "SETTLING"),
            info("BTCUSD_PERP", "TRADING"),
        ]);
        apply_exchange_info(&store, Market::CoinM, &settled, &configured, false, 2).unwrap();
        let active = store.symbols(Market::CoinM, true).unwrap();
        assert_eq!(
            active.iter().map(|r| &r.symbol).collect::<Vec<_>>(),
            vec![&perp]
        );
        let all = store.symbols(Market::CoinM, false).unwrap();
        assert_eq!(all[0].status, "SETTLING");
        // Read again: still retired, not registered again as configured.
        apply_exchange_info(&store, Market::CoinM, &settled, &configured, false, 3).unwrap();
        assert_eq!(store.symbols(Market::CoinM, true).unwrap().len(), 1);
        // A spot symbol in a break is not retired (it may trade again).
        let spot = exchange(vec![info("BTCUSDT", "TRADING")]);
        let btc = vec!["BTCUSDT".parse().unwrap()];
        apply_exchange_info(&store, Market::Spot, &spot, &btc, true, 1).unwrap();
        let closed = exchange(vec![info("BTCUSDT", "CLOSE")]);
        apply_exchange_info(&store, Market::Spot, &closed, &btc, false, 2).unwrap();
        assert_eq!(store.symbols(Market::Spot, true).unwrap().len(), 1);
    }

    #[test]
    fn failure_text_is_bounded_and_sorted() {
        let failures = HashMap::from([
            ("ETHUSDT".parse().unwrap(), "klines 1m: boom".to_string()),
            (
                "BTCUSDT".parse().unwrap(),
                "ticker request failed".to_string(),
            ),
        ]);
        let text = describe_failures(None, &failures).unwrap();
        assert_eq!(
            text,
            "BTCUSDT: ticker request failed; ETHUSDT: klines 1m: boom"
        );
        assert_eq!(describe_failures(None, &HashMap::new()), None);
        let many: HashMap<Symbol, String> = (0..500)
            .map(|i| (format!("S{i}USDT").parse().unwrap(), "x".repeat(50)))
            .collect();
        assert!(describe_failures(None, &many).unwrap().len() <= MAX_ERROR_LEN + 4);
    }
}
