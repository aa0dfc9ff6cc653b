//! The futures part of a beat (markets `usdm` and `coinm`), one [`FuturesPart`] per
//! market, run at the same time as the spot part and as each other.
//!
//! Per beat, for the market's followed symbols: closed klines of every interval (as on
//! spot), one 24-hour ticker request for all, one `premiumIndex` request for all (mark
//! prices) and one `openInterest` request per symbol. Everything goes into the beat's one
//! transaction. A malformed `premiumIndex` or `openInterest` answer refuses the market's
//! whole part of this beat (nothing of the market is written; the reason is logged and
//! recorded in `heartbeats.error`); the other markets still commit.

use std::collections::HashMap;
use std::fmt::Write as _;

use futures::StreamExt;
use tokio::sync::Mutex;

use super::{
    KLINE_CONCURRENCY, State, describe_failures, fetch_closed, followed_series, plan_klines,
    refresh_market,
};
use crate::clock::Clock;
use crate::domain::{Interval, MarkPrice, Market, OpenInterest, Symbol, Ticker};
use crate::exchange::{ExchangeError, MarketClient, Rejection};
use crate::store::{BeatWrite, HeartbeatRow, Store};

/// One futures market's share of the beats: its client (own weight budget and clock
/// offset), its configured symbols and what its beats remember.
pub(super) struct FuturesPart {
    exchange: MarketClient,
    configured: Vec<Symbol>,
    beats_per_window: u32,
    state: Mutex<State>,
    /// The error of this market's part of the last beat.
    last_error: std::sync::Mutex<Option<String>>,
}

/// What one market's part of a beat produced.
pub(super) struct PartOutcome {
    market: Market,
    /// Symbols followed (the failed ones included).
    pub(super) symbols: usize,
    failed: usize,
    klines_written: u32,
    tickers: Vec<(i64, Ticker)>,
    klines: Vec<(i64, Interval, Vec<crate::domain::Kline>, i64)>,
    mark_prices: Vec<(i64, MarkPrice)>,
    open_interest: Vec<(i64, OpenInterest)>,
    error: Option<String>,
}

impl PartOutcome {
    /// An outcome of nothing yet for `symbols` followed symbols of `market`.
    fn new(market: Market, symbols: usize) -> PartOutcome {
        PartOutcome {
            market,
            symbols,
            failed: 0,
            klines_written: 0,
            tickers: Vec::new(),
            klines: Vec::new(),
            mark_prices: Vec::new(),
            open_interest: Vec::new(),
            error: None,
        }
    }

    /// An outcome where all `symbols` failed for `error`, with nothing to write.
    fn failed(market: Market, symbols: usize, error: String) -> PartOutcome {
        PartOutcome {
            failed: symbols,
            error: Some(error),
            ..PartOutcome::new(market, symbols)
        }
    }

    /// Adds this market's rows to the beat's write and its counts and error to the
    /// beat's row (`error` gets `"<market>: …"` after what is there).
    pub(super) fn merge_into(self, write: &mut BeatWrite, row: &mut HeartbeatRow) {
        write.tickers.extend(self.tickers);
        write.klines.extend(self.klines);
        write.mark_prices.extend(self.mark_prices);
        write.open_interest.extend(self.open_interest);
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        row.symbols_ok = row
            .symbols_ok
            .saturating_add(count(self.symbols - self.failed));
        row.symbols_failed = row.symbols_failed.saturating_add(count(self.failed));
        row.klines_written = row.klines_written.saturating_add(self.klines_written);
        if let Some(e) = self.error {
            let text = row.error.get_or_insert_with(String::new);
            if !text.is_empty() {
                text.push_str("; ");
            }
            let _ = write!(text, "{}: {e}", self.market.as_str());
        }
    }
}

impl FuturesPart {
    /// A part for the market `exchange` serves, following `configured` symbols (registered
    /// once its `exchangeInfo` has been read).
    pub(super) fn new(
        exchange: MarketClient,
        configured: Vec<Symbol>,
        beats_per_window: u32,
    ) -> Self {
        FuturesPart {
            exchange,
            configured,
            beats_per_window,
            state: Mutex::new(State::default()),
            last_error: std::sync::Mutex::new(None),
        }
    }

    /// The market's client.
    pub(super) fn exchange(&self) -> &MarketClient {
        &self.exchange
    }

    /// The error of this market's part of the last beat (`None`: none, or no beat yet).
    pub(super) fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs this market's part of a beat. Never fails: failures are in the outcome.
    pub(super) async fn beat(
        &self,
        store: &Store,
        clock: &Clock,
        default_intervals: &[Interval],
    ) -> PartOutcome {
        let outcome = self.run(store, clock, default_intervals).await;
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = outcome.error.clone();
        outcome
    }

    async fn run(
        &self,
        store: &Store,
        clock: &Clock,
        default_intervals: &[Interval],
    ) -> PartOutcome {
        let market = self.exchange.market();
        let mut state = self.state.lock().await;
        // A market with nothing configured nor registered costs no request at all.
        if self.configured.is_empty() {
            match store.run(move |s| s.symbols(market, true)).await {
                Ok(rows) if rows.is_empty() => return PartOutcome::new(market, 0),
                Ok(_) => {}
                Err(e) => return PartOutcome::failed(market, 0, format!("database: {e}")),
            }
        }
        if let Err(e) =
            refresh_market(&self.exchange, store, clock, &self.configured, &mut state).await
        {
            tracing::warn!(market = market.as_str(), error = %e,
                "exchange not ready; this market's part of the beat stores nothing");
            return PartOutcome::failed(
                market,
                self.configured.len(),
                format!("exchange not ready: {e}"),
            );
        }
        let intervals = default_intervals.to_vec();
        let (symbols, newest) = match store
            .run(move |s| followed_series(s, market, &intervals))
            .await
        {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(market = market.as_str(), error = %e, "cannot read the followed symbols");
                return PartOutcome::failed(market, 0, format!("database: {e}"));
            }
        };
        if symbols.is_empty() {
            return PartOutcome::new(market, 0);
        }
        let series: usize = symbols
            .iter()
            .map(|s| s.intervals.as_deref().unwrap_or(default_intervals).len())
            .sum();
        let weight = self.exchange.beat_weight(symbols.len(), series);
        self.exchange
            .reserve_for_beats(weight, self.beats_per_window);

        let server_time = match self.exchange.server_time().await {
            Ok(t) => t,
            Err(e) => {
                let seen = self.exchange.server_time_seen();
                tracing::warn!(market = market.as_str(), error = %e,
                    "exchange time not read; the last one is used");
                if seen == i64::MIN {
                    return PartOutcome::failed(
                        market,
                        symbols.len(),
                        format!("exchange not ready: {e}"),
                    );
                }
                seen
            }
        };
        let tasks = plan_klines(&symbols, &newest, default_intervals, server_time);
        let names: Vec<Symbol> = symbols.iter().map(|s| s.symbol.clone()).collect();

        let exchange = &self.exchange;
        let tickers = exchange.tickers_24hr(&names);
        let marks = exchange.premium_index();
        let ids: Vec<(i64, Symbol)> = symbols.iter().map(|s| (s.id, s.symbol.clone())).collect();
        let interest = futures::stream::iter(ids)
            .map(|(id, symbol)| async move {
                let result = exchange.open_interest(&symbol).await;
                (id, symbol, result)
            })
            .buffer_unordered(KLINE_CONCURRENCY)
            .collect::<Vec<_>>();
        let klines = futures::stream::iter(tasks)
            .map(|task| async move {
                let result = fetch_closed(exchange, &task).await;
                (task, result)
            })
            .buffer_unordered(KLINE_CONCURRENCY)
            .collect::<Vec<_>>();
        let (tickers, marks, interest, klines) = tokio::join!(tickers, marks, interest, klines);

        // A malformed premiumIndex or openInterest answer: the market's part is refused whole.
        let malformed = match &marks {
            Err(e @ ExchangeError::Decode { .. }) => Some(e.to_string()),
            _ => interest.iter().find_map(|(_, symbol, r)| match r {
                Err(e @ ExchangeError::Decode { .. }) => Some(format!("{symbol}: {e}")),
                _ => None,
            }),
        };
        if let Some(e) = malformed {
            tracing::error!(market = market.as_str(), error = %e,
                "malformed answer; this market's part of the beat is refused");
            return PartOutcome::failed(market, symbols.len(), format!("refused: {e}"));
        }

        let mut out = PartOutcome::new(market, symbols.len());
        let mut failures: HashMap<Symbol, String> = HashMap::new();
        let mut fail = |symbol: &Symbol, what: String| {
            let entry = failures.entry(symbol.clone()).or_default();
            if !entry.is_empty() {
                entry.push_str(", ");
            }
            entry.push_str(&what);
        };
        let mut request_errors = Vec::new();
        match tickers {
            Ok(list) => {
                let by_symbol: HashMap<&Symbol, &Ticker> =
                    list.iter().map(|t| (&t.symbol, t)).collect();
                for s in &symbols {
                    match by_symbol.get(&s.symbol) {
                        Some(t) => out.tickers.push((s.id, (*t).clone())),
                        None => fail(&s.symbol, "no ticker in the answer".into()),
                    }
                }
            }
            Err(e) => {
                tracing::warn!(market = market.as_str(), error = %e, "ticker request failed");
                for s in &symbols {
                    fail(&s.symbol, "ticker request failed".into());
                }
                request_errors.push(format!("tickers: {e}"));
            }
        }
        match marks {
            Ok(list) => {
                let by_symbol: HashMap<&Symbol, &MarkPrice> =
                    list.iter().map(|m| (&m.symbol, m)).collect();
                for s in &symbols {
                    match by_symbol.get(&s.symbol) {
                        Some(m) => out.mark_prices.push((s.id, (*m).clone())),
                        None => fail(&s.symbol, "no mark price in the answer".into()),
                    }
                }
            }
            Err(e) => {
                tracing::warn!(market = market.as_str(), error = %e, "premiumIndex request failed");
                for s in &symbols {
                    fail(&s.symbol, "premiumIndex request failed".into());
                }
                request_errors.push(format!("premiumIndex: {e}"));
            }
        }
        for (id, symbol, result) in interest {
            match result {
                Ok(oi) => out.open_interest.push((id, oi)),
                Err(e) => {
                    if e.rejection() == Some(Rejection::UnknownSymbol) {
                        state.info_stale = true;
                    }
                    fail(&symbol, format!("openInterest: {e}"));
                }
            }
        }
        for (task, result) in klines {
            match result {
                Ok(closed) if closed.is_empty() => {}
                Ok(closed) => {
                    out.klines_written += u32::try_from(closed.len()).unwrap_or(u32::MAX);
                    out.klines
                        .push((task.symbol_id, task.interval, closed, task.closed_before));
                }
                Err(e) => {
                    tracing::warn!(market = market.as_str(), symbol = %task.symbol,
                        interval = %task.interval, error = %e, "kline request failed");
                    fail(&task.symbol, format!("klines {}: {e}", task.interval));
                }
            }
        }
        out.failed = failures.len();
        let request_errors = (!request_errors.is_empty()).then(|| request_errors.join("; "));
        out.error = describe_failures(request_errors.as_deref(), &failures);
        out
    }
}
