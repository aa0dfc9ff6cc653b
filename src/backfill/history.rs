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
//! that fails is logged and asked for again at the next pass.
//!
//! Binance keeps open-interest history for the last 30 days only: the older part of the
//! wanted range is recorded once in `open_interest_gaps` with reason
//! `not_kept_by_exchange` (with the first page after it) and never asked for.
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest-Statistics>,
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Get-Funding-Rate-History>.

use std::sync::Arc;

use super::plan;
use super::{Ctx, lock};
use crate::domain::{DAY_MS, Interval, Market, Symbol, SymbolStatus};
use crate::exchange::futures::{FUNDING_RATE_MAX_LIMIT, OPEN_INTEREST_HIST_MAX_LIMIT};
use crate::exchange::{ExchangeError, MarketClient};
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
            if let Err(e) = self.funding_history(&client, &row).await {
                tracing::warn!(market = row.market.as_str(), symbol = %row.symbol, error = %e,
                    "funding-rate history page failed; asked again at the next pass");
            }
            if let Err(e) = self.open_interest_history(&client, &row).await {
                tracing::warn!(market = row.market.as_str(), symbol = %row.symbol, error = %e,
                    "open-interest history page failed; asked again at the next pass");
            }
        }
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
}
