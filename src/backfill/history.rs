//! Futures history beyond klines: funding-rate history (`fundingRate`) into
//! `funding_rates` and open-interest history (`openInterestHist` at
//! [`OPEN_INTEREST_PERIOD`]) into `open_interest`, for every followed perpetual of the
//! served futures markets.
//!
//! One pass runs at start and after every beat (one at a time), symbol after symbol, one
//! request after another with [`BackfillOptions::history_request_spacing`](super::BackfillOptions)
//! between them: `fundingRate` (USDⓈ-M: 500 requests per 5 minutes) and `openInterestHist`
//! (1000 per 5 minutes) have limits of their own besides the request weight, which the
//! market's client keeps at background priority. Each series resumes from the newest stored
//! row (back to the symbol's `backfill_days` at most), pages oldest first, and commits each
//! page in one transaction: a restart or a `kill -9` resumes where the data stop. A page
//! that fails is logged and its series waits the backfill's backoff
//! ([`crate::retry::backfill`], longer for a `Retry-After` or a ban) before a pass asks for
//! it again. [`BackfillHandle::history`] tells where each series stands (for `status`).
//!
//! Binance keeps open-interest history for the last 30 days only: the older part of the
//! wanted range is recorded once in `open_interest_gaps` with reason
//! `not_kept_by_exchange` (with the first page after it) and never asked for.
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest-Statistics>,
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Get-Funding-Rate-History>.

use std::sync::Arc;
use std::time::Duration;

use super::plan;
use super::{BackfillError, BackfillHandle, Ctx, lock};
use crate::domain::{DAY_MS, Interval, Market, Symbol, SymbolStatus};
use crate::exchange::futures::{FUNDING_RATE_MAX_LIMIT, OPEN_INTEREST_HIST_MAX_LIMIT};
use crate::exchange::{ExchangeError, MarketClient};
use crate::retry::Delays;
use crate::store::{NOT_KEPT_BY_EXCHANGE, OpenInterestGap, StoreError, SymbolRow};

/// The `openInterestHist` period the backfill stores (`open_interest.period`).
pub const OPEN_INTEREST_PERIOD: &str = "5m";
/// [`OPEN_INTEREST_PERIOD`] as an interval (its grid).
const OPEN_INTEREST_GRID: Interval = Interval::M5;
/// How far back `openInterestHist` serves, ms (30 days).
pub const OPEN_INTEREST_KEPT_MS: i64 = 30 * DAY_MS;
/// Least time between two funding-rate requests of one symbol once it is caught up, ms:
/// funding happens every 1 to 8 hours.
const FUNDING_RECHECK_MS: i64 = 15 * 60_000;

/// Whether `symbol` of `market` is a perpetual (the contracts that fund and whose
/// open-interest history Binance serves by symbol): USDⓈ-M names without a delivery
/// suffix (`BTCUSDT`, not `BTCUSDT_250328`), COIN-M `…_PERP`.
pub fn is_perpetual(market: Market, symbol: &Symbol) -> bool {
    match market {
        Market::UsdM => !symbol.as_str().contains('_'),
        Market::CoinM => symbol.as_str().ends_with("_PERP"),
        _ => false,
    }
}

/// The history series' keys in the backfill's per-series maps.
const FUNDING: &str = "funding";
const OPEN_INTEREST: &str = "open_interest";

/// A history series that failed: the backoff of its failures so far, when it may be tried
/// again (local clock, ms) and why it failed.
#[derive(Debug)]
pub(super) struct HistoryRetry {
    delays: Delays,
    retry_at: i64,
    error: String,
}

/// Where one history series of a followed futures perpetual stands: the stored rows and,
/// after a failure, why and when it is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryState {
    pub symbol_id: i64,
    pub symbol: Symbol,
    /// `funding` or `open_interest_<period>` ([`OPEN_INTEREST_PERIOD`]).
    pub series: String,
    /// Rows stored.
    pub rows: u64,
    /// Oldest and newest stored time, ms.
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
    /// The range recorded as not kept by the exchange, first and last time missing, ms.
    pub not_kept: Option<(i64, i64)>,
    /// Why the last attempt failed; `None` after a success.
    pub last_error: Option<String>,
    /// When it is tried again after failures (local clock, ms).
    pub retry_at: Option<i64>,
}

/// The wait after a failed history page: the backoff's next wait, at least the
/// `Retry-After` of a 429 or the rest of a ban (exchange time `server_now`).
fn wait_after(e: &HistoryError, backoff: Duration, server_now: i64) -> Duration {
    match e {
        HistoryError::Exchange(ExchangeError::RateLimited { retry_after_ms }) => {
            backoff.max(Duration::from_millis(*retry_after_ms))
        }
        HistoryError::Exchange(ExchangeError::Banned { until_ms }) => backoff.max(
            Duration::from_millis(u64::try_from(until_ms - server_now).unwrap_or(0)),
        ),
        _ => backoff,
    }
}

/// Why a history page failed.
#[derive(Debug, thiserror::Error)]
enum HistoryError {
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

impl Ctx {
    /// One pass over the followed perpetuals of the served futures markets: funding and
    /// open-interest history brought up to now.
    pub(super) async fn sync_history(self: Arc<Self>) {
        let markets: Vec<Market> = self
            .served_markets()
            .into_iter()
            .filter(|m| *m != Market::Spot)
            .collect();
        let rows = match self
            .db(move |s| {
                let mut rows = Vec::new();
                for market in markets {
                    rows.extend(s.symbols(market, true)?.into_iter().filter(|r| {
                        r.status == SymbolStatus::Trading.as_str()
                            && is_perpetual(r.market, &r.symbol)
                    }));
                }
                Ok(rows)
            })
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "futures history cannot read the followed symbols");
                return;
            }
        };
        for row in rows {
            let Some(client) = self.client(row.market).cloned() else {
                continue;
            };
            if client.cached_exchange_info(i64::MAX).is_none() {
                let ready = async {
                    client.sync_time().await?;
                    client.exchange_info().await
                };
                if let Err(e) = ready.await {
                    tracing::warn!(market = row.market.as_str(), error = %e,
                        "futures history waits: the market is not reachable");
                    continue;
                }
            }
            if self.history_due(row.id, FUNDING) {
                let result = self.funding_history(&client, &row).await;
                self.history_outcome(&client, &row, FUNDING, result);
            }
            if self.history_due(row.id, OPEN_INTEREST) {
                let result = self.open_interest_history(&client, &row).await;
                self.history_outcome(&client, &row, OPEN_INTEREST, result);
            }
        }
    }

    /// Whether a history series may be asked for now: not while the backoff of its last
    /// failure runs.
    fn history_due(&self, symbol_id: i64, series: &'static str) -> bool {
        let now = self.clock.now_ms();
        lock(&self.history_retry)
            .get(&(symbol_id, series))
            .is_none_or(|r| now >= r.retry_at)
    }

    /// Records how a series' attempt ended: a success clears its backoff; a failure is
    /// logged and waits the backoff's next wait (or a `Retry-After`, or a ban's end).
    fn history_outcome(
        &self,
        client: &MarketClient,
        row: &SymbolRow,
        series: &'static str,
        result: Result<(), HistoryError>,
    ) {
        let key = (row.id, series);
        let mut retries = lock(&self.history_retry);
        let Err(e) = result else {
            retries.remove(&key);
            return;
        };
        let entry = retries.entry(key).or_insert_with(|| HistoryRetry {
            delays: self.retry_policy().delays(),
            retry_at: 0,
            error: String::new(),
        });
        let wait = wait_after(&e, entry.delays.next_wait(), client.server_now_ms());
        entry.retry_at = self
            .clock
            .now_ms()
            .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
        entry.error = e.to_string();
        tracing::warn!(market = row.market.as_str(), symbol = %row.symbol, series, error = %e,
            retry_in_ms = wait.as_millis() as u64,
            "futures history page failed; asked again after the backoff");
    }

    /// The oldest time wanted for `row`'s history now: its `backfill_days` before `now`.
    fn history_wanted_from(&self, row: &SymbolRow, now: i64) -> i64 {
        let days = row.backfill_days.unwrap_or(self.backfill_days);
        now - i64::from(days) * DAY_MS
    }

    /// Waits the spacing between two history requests, holding a request slot.
    async fn history_request<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, ExchangeError>>,
    ) -> Result<T, ExchangeError> {
        let _slot = self.requests.acquire().await.ok();
        let out = request.await;
        tokio::time::sleep(self.options.history_request_spacing).await;
        out
    }

    /// Funding events of `row` from the newest stored one (or its backfill depth) to now,
    /// a page of up to 1000 per request and transaction.
    async fn funding_history(
        &self,
        client: &MarketClient,
        row: &SymbolRow,
    ) -> Result<(), HistoryError> {
        let id = row.id;
        let now = client.server_now_ms();
        let newest = self.db(move |s| s.newest_funding_time(id)).await?;
        let key = (id, "funding");
        if let Some(t) = newest
            && now - t < FUNDING_RECHECK_MS
        {
            return Ok(());
        }
        if let Some(at) = lock(&self.history_checked).get(&key)
            && now - *at < FUNDING_RECHECK_MS
        {
            return Ok(());
        }
        let mut next = newest
            .map_or(i64::MIN, |t| t + 1)
            .max(self.history_wanted_from(row, now));
        let mut written = 0usize;
        loop {
            let rates = self
                .history_request(client.funding_rates(
                    &row.symbol,
                    next,
                    now,
                    FUNDING_RATE_MAX_LIMIT,
                ))
                .await?;
            let full = rates.len() >= usize::from(FUNDING_RATE_MAX_LIMIT);
            let mut rates = rates;
            rates.retain(|r| r.symbol == row.symbol && r.funding_time >= next);
            let last = rates.iter().map(|r| r.funding_time).max();
            written += self.db(move |s| s.upsert_funding_rates(id, &rates)).await?;
            match last {
                Some(t) if full => next = t + 1,
                _ => break,
            }
        }
        lock(&self.history_checked).insert(key, now);
        if written > 0 {
            tracing::info!(market = row.market.as_str(), symbol = %row.symbol, rows = written,
                "funding-rate history stored");
        }
        Ok(())
    }

    /// Open-interest history of `row` at [`OPEN_INTEREST_PERIOD`] from the newest stored
    /// reading (or its backfill depth) to now; what Binance no longer keeps is recorded
    /// as a gap once, with the first page.
    async fn open_interest_history(
        &self,
        client: &MarketClient,
        row: &SymbolRow,
    ) -> Result<(), HistoryError> {
        let id = row.id;
        let now = client.server_now_ms();
        let (newest, gaps) = self
            .db(move |s| {
                Ok((
                    s.newest_open_interest_time(id, OPEN_INTEREST_PERIOD)?,
                    s.open_interest_gaps(Some(id))?,
                ))
            })
            .await?;
        let last_gap_end = gaps
            .iter()
            .filter(|g| g.period == OPEN_INTEREST_PERIOD)
            .map(|g| g.end_time)
            .max();
        let mut next = newest
            .map_or(i64::MIN, |t| t + 1)
            .max(self.history_wanted_from(row, now))
            .max(last_gap_end.map_or(i64::MIN, |t| t + 1));
        // Nothing new can be there before the next period's reading.
        if newest.is_some_and(|t| now < OPEN_INTEREST_GRID.add_candles(t, 1)) {
            return Ok(());
        }
        // The oldest reading the exchange serves, one period inside its 30 days (the
        // clocks may differ a little).
        let kept = OPEN_INTEREST_GRID.add_candles(
            plan::align_up(OPEN_INTEREST_GRID, now - OPEN_INTEREST_KEPT_MS),
            1,
        );
        let mut gap = (next < kept).then(|| OpenInterestGap {
            symbol_id: id,
            period: OPEN_INTEREST_PERIOD.to_string(),
            start_time: next,
            end_time: kept - 1,
            reason: NOT_KEPT_BY_EXCHANGE.to_string(),
            recorded_at: self.clock.now_ms(),
        });
        next = next.max(kept);
        let mut written = 0usize;
        while next <= now {
            let readings = self
                .history_request(client.open_interest_hist(
                    &row.symbol,
                    OPEN_INTEREST_PERIOD,
                    next,
                    now,
                    OPEN_INTEREST_HIST_MAX_LIMIT,
                ))
                .await?;
            let full = readings.len() >= usize::from(OPEN_INTEREST_HIST_MAX_LIMIT);
            let mut readings = readings;
            readings.retain(|r| r.time >= next);
            let last = readings.iter().map(|r| r.time).max();
            let page_gap = gap.take();
            if let Some(g) = &page_gap {
                tracing::warn!(market = row.market.as_str(), symbol = %row.symbol,
                    start = g.start_time, end = g.end_time, reason = NOT_KEPT_BY_EXCHANGE,
                    "open-interest history gap: the exchange keeps the last 30 days only");
            }
            written += self
                .db(move |s| {
                    s.commit_open_interest_page(
                        id,
                        OPEN_INTEREST_PERIOD,
                        &readings,
                        page_gap.as_ref(),
                    )
                })
                .await?;
            match last {
                Some(t) if full => next = t + 1,
                _ => break,
            }
        }
        if written > 0 {
            tracing::info!(market = row.market.as_str(), symbol = %row.symbol, rows = written,
                period = OPEN_INTEREST_PERIOD, "open-interest history stored");
        }
        Ok(())
    }
}

impl BackfillHandle {
    /// Where the history of each followed perpetual of `market` stands: funding events and
    /// open interest at [`OPEN_INTEREST_PERIOD`], from the database, with the last failure
    /// and its retry time while a backoff runs.
    ///
    /// # Errors
    /// [`BackfillError`] when the database cannot be read.
    pub async fn history(&self, market: Market) -> Result<Vec<HistoryState>, BackfillError> {
        let (funding, open_interest) = self
            .ctx
            .store
            .run(move |s| {
                Ok((
                    s.history_series(market, None)?,
                    s.history_series(market, Some(OPEN_INTEREST_PERIOD))?,
                ))
            })
            .await?;
        let retries = lock(&self.ctx.history_retry);
        let mut out = Vec::new();
        for (key, name, rows) in [
            (FUNDING, FUNDING.to_string(), funding),
            (
                OPEN_INTEREST,
                format!("{OPEN_INTEREST}_{OPEN_INTEREST_PERIOD}"),
                open_interest,
            ),
        ] {
            for h in rows.into_iter().filter(|h| is_perpetual(market, &h.symbol)) {
                let retry = retries.get(&(h.symbol_id, key));
                out.push(HistoryState {
                    symbol_id: h.symbol_id,
                    symbol: h.symbol,
                    series: name.clone(),
                    rows: h.rows,
                    oldest: h.oldest,
                    newest: h.newest,
                    not_kept: h.gap,
                    last_error: retry.map(|r| r.error.clone()),
                    retry_at: retry.map(|r| r.retry_at),
                });
            }
        }
        out.sort_by(|a, b| {
            a.symbol
                .cmp(&b.symbol)
                .then_with(|| a.series.cmp(&b.series))
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perpetuals_are_told_by_their_names() {
        let s = |n: &str| n.parse::<Symbol>().unwrap();
        assert!(is_perpetual(Market::UsdM, &s("BTCUSDT")));
        assert!(!is_perpetual(Market::UsdM, &s("BTCUSDT_250328")));
        assert!(is_perpetual(Market::CoinM, &s("BTCUSD_PERP")));
        assert!(!is_perpetual(Market::CoinM, &s("BTCUSD_251226")));
        assert!(!is_perpetual(Market::Spot, &s("BTCUSDT")));
    }

    #[test]
    fn a_failed_page_waits_the_backoff_or_longer_for_a_retry_after_or_a_ban() {
        let backoff = Duration::from_secs(2);
        let io = HistoryError::Exchange(ExchangeError::InvalidRequest("x".into()));
        assert_eq!(wait_after(&io, backoff, 0), backoff);
        let limited = HistoryError::Exchange(ExchangeError::RateLimited {
            retry_after_ms: 30_000,
        });
        assert_eq!(wait_after(&limited, backoff, 0), Duration::from_secs(30));
        let banned = HistoryError::Exchange(ExchangeError::Banned { until_ms: 1_000 });
        assert_eq!(wait_after(&banned, backoff, 500), backoff);
        assert_eq!(
            wait_after(&banned, backoff, -60_000),
            Duration::from_secs(61)
        );
    }
}
