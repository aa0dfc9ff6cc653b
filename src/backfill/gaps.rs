//! Gap detection and repair: after every beat, the stored series are scanned for missing
//! candles since the previous scan; holes are fetched again, what the exchange does not
//! return is recorded in `gaps`, and recorded gaps are asked for again on their schedule
//! (bounded, then permanent and rare). Candles are never invented.

use std::sync::Arc;

use super::plan;
use super::{Ctx, GapRow, MAX_REPAIRS_PER_CHECK, SeriesKey, followed_series, lock, utc};
use crate::domain::{GapStatus, JobStatus, Span};
use crate::domain::{Interval, Kline};
use crate::store::{RepairCommit, SymbolRow};

impl Ctx {
    /// One gap check: for each followed series, the stored candles added since the last
    /// check are scanned for holes (outside the range its job still has to fetch and the
    /// gaps already recorded), holes are fetched, and what the exchange does not return is
    /// recorded; then recorded gaps that are due are asked for again.
    pub(super) async fn check_gaps(self: Arc<Self>) {
        let default_intervals = self.default_intervals.clone();
        let markets = self.served_markets();
        let series = match self
            .db(move |s| {
                let followed = followed_series(s, &markets, &default_intervals)?;
                let keys: Vec<SeriesKey> = followed.iter().map(|(r, i)| (r.id, *i)).collect();
                let newest = s.newest_open_times(&keys)?;
                Ok(followed
                    .into_iter()
                    .filter_map(|(r, i)| newest.get(&(r.id, i)).map(|&t| (r, i, t)))
                    .collect::<Vec<_>>())
            })
            .await
        {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "gap check cannot read the followed series");
                return;
            }
        };
        for (row, interval, newest) in series {
            self.check_series(&row, interval, newest).await;
        }
        self.recheck_due_gaps().await;
    }

    /// The oldest open time retention keeps for `interval` now, on its grid.
    fn kept_from(&self, interval: Interval) -> i64 {
        plan::kept_from(
            interval,
            self.exchange.server_now_ms(),
            self.retention_days.get(&interval).copied(),
        )
    }

    async fn check_series(&self, row: &SymbolRow, interval: Interval, newest: i64) {
        let key = (row.id, interval);
        let checked = lock(&self.checked).get(&key).copied();
        let id = row.id;
        let kept = self.kept_from(interval);
        let lo_guess = checked.unwrap_or(i64::MIN).max(kept);
        let snapshot = self
            .db(move |s| {
                let job = s.backfill_job(id, interval)?;
                let Some(job) = job else {
                    return Ok(None);
                };
                let lo = lo_guess.max(job.from_ms);
                let snapshot = s.gap_check_snapshot(id, interval, lo, newest)?;
                Ok(snapshot
                    .job
                    .map(|j| (j, lo, snapshot.missing, snapshot.unproven, snapshot.known)))
            })
            .await;
        let (job, lo, mut missing, unproven, known) = match snapshot {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(symbol = %row.symbol, interval = %interval, error = %e,
                    "gap check failed");
                return;
            }
        };
        if matches!(job.status, JobStatus::Failed | JobStatus::Stopped) {
            return;
        }
        let mut exclude: Vec<Span> = known.iter().map(GapRow::span).collect();
        if job.status != JobStatus::Done && job.next_start_ms <= job.to_ms {
            exclude.push(Span::new(job.next_start_ms, job.to_ms));
        }
        // Candles stored without proof of their close are fetched again like missing ones.
        missing.extend(unproven);
        missing.sort_by_key(|s| s.start);
        let holes = plan::subtract(interval, &missing, &exclude);
        let mut resolved_through = newest;
        let windows = plan::fetch_windows(interval, &holes);
        if !holes.is_empty() {
            tracing::info!(symbol = %row.symbol, interval = %interval,
                holes = holes.len(), candles = holes.iter().map(|h| h.candles(interval)).sum::<i64>(),
                first = %utc(holes[0].start), "gap check found missing candles; fetching them");
        }
        for (n, window) in windows.iter().enumerate() {
            if n >= MAX_REPAIRS_PER_CHECK {
                resolved_through = interval.add_candles(window.start, -1);
                break;
            }
            let inside: Vec<Span> = holes
                .iter()
                .filter(|h| h.end >= window.start && h.start <= window.end)
                .map(|h| Span::new(h.start.max(window.start), h.end.min(window.end)))
                .collect();
            if let Err(e) = self.repair(row, interval, *window, &inside, None).await {
                tracing::warn!(symbol = %row.symbol, interval = %interval, error = %e,
                    "gap repair failed; the next check tries again");
                resolved_through = interval.add_candles(window.start, -1);
                break;
            }
        }
        let through = if job.status == JobStatus::Done {
            resolved_through
        } else {
            resolved_through.min(interval.add_candles(job.next_start_ms, -1))
        };
        lock(&self.checked).insert(key, through.max(lo));
    }

    /// Fetches `window` and commits what came: candles stored, the parts of `missing` the
    /// exchange did not return recorded as gaps (replacing `rechecked`, if this was a
    /// recorded gap asked for again).
    async fn repair(
        &self,
        row: &SymbolRow,
        interval: Interval,
        window: Span,
        missing: &[Span],
        rechecked: Option<&GapRow>,
    ) -> Result<(), String> {
        let client = self
            .client(row.market)
            .ok_or_else(|| format!("the {} market is not served", row.market))?;
        let fetched = self
            .fetch(client, &row.symbol, interval, window)
            .await
            .map_err(|e| e.to_string())?;
        self.commit_repair(row, interval, fetched, missing, rechecked)
            .await
    }

    async fn commit_repair(
        &self,
        row: &SymbolRow,
        interval: Interval,
        (candles, closed_before): (Vec<Kline>, i64),
        missing: &[Span],
        rechecked: Option<&GapRow>,
    ) -> Result<(), String> {
        let now = self.clock.now_ms();
        let returned: Vec<i64> = candles.iter().map(|k| k.open_time).collect();
        let still: Vec<Span> = missing
            .iter()
            .flat_map(|m| plan::uncovered(interval, *m, &returned))
            .collect();
        let wanted: i64 = missing.iter().map(|m| m.candles(interval)).sum();
        let lacking: i64 = still.iter().map(|m| m.candles(interval)).sum();
        let first = returned.first().copied();
        let id = row.id;
        let first_stored = self
            .db(move |s| {
                Ok(s.klines(id, interval, i64::MIN, i64::MAX, 1)?
                    .first()
                    .map(|k| k.open_time))
            })
            .await
            .map_err(|e| e.to_string())?;
        let first_known = match (first, first_stored) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let gaps: Vec<GapRow> = still
            .iter()
            .map(|span| match rechecked {
                None => self.new_gap(row.id, interval, *span, first_known, now),
                Some(old) => {
                    let attempts = old.attempts.saturating_add(1);
                    let (status, next_check) = plan::gap_schedule(
                        attempts,
                        now,
                        &self.options.gap_retry_delays,
                        self.options.permanent_gap_recheck,
                    );
                    GapRow {
                        start_time: span.start,
                        end_time: span.end,
                        attempts,
                        status,
                        last_checked: now,
                        next_check,
                        ..old.clone()
                    }
                }
            })
            .collect();
        let rechecked_row = rechecked.cloned();
        let (to_store, to_record) = (candles, gaps.clone());
        let stored = to_store.len();
        self.db(move |s| {
            s.commit_gap_repair(&RepairCommit {
                symbol_id: id,
                interval,
                klines: &to_store,
                closed_before,
                rechecked: rechecked_row.as_ref(),
                missing: &to_record,
                now,
            })
        })
        .await
        .map_err(|e| e.to_string())?;
        if lacking < wanted {
            tracing::info!(symbol = %row.symbol, interval = %interval,
                candles = wanted - lacking, rows = stored, "gap filled");
        }
        for g in &gaps {
            let fields = (
                utc(g.start_time),
                utc(g.end_time),
                g.span().candles(interval),
            );
            if g.status == GapStatus::Permanent {
                tracing::warn!(symbol = %row.symbol, interval = %interval, start = %fields.0,
                    end = %fields.1, candles = fields.2, reason = g.reason.as_str(),
                    attempts = g.attempts, next_check = %utc(g.next_check),
                    "gap is permanent: the exchange has no candles for it");
            } else {
                tracing::info!(symbol = %row.symbol, interval = %interval, start = %fields.0,
                    end = %fields.1, candles = fields.2, reason = g.reason.as_str(),
                    attempts = g.attempts, next_check = %utc(g.next_check),
                    "gap recorded: the exchange returned no candles for it");
            }
        }
        Ok(())
    }

    /// Asks the exchange again for recorded gaps whose `next_check` has come.
    async fn recheck_due_gaps(&self) {
        let now = self.clock.now_ms();
        let default_intervals = self.default_intervals.clone();
        let markets = self.served_markets();
        let due = match self
            .db(move |s| {
                let followed: Vec<(SymbolRow, Interval)> =
                    followed_series(s, &markets, &default_intervals)?;
                let due = s.due_gaps(now, MAX_REPAIRS_PER_CHECK as u32)?;
                Ok(due
                    .into_iter()
                    .filter_map(|(_, g)| {
                        followed
                            .iter()
                            .find(|(r, i)| r.id == g.symbol_id && *i == g.interval)
                            .map(|(r, _)| (r.clone(), g))
                    })
                    .collect::<Vec<_>>())
            })
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot read due gaps");
                return;
            }
        };
        for (row, gap) in due {
            let interval = gap.interval;
            let kept = self.kept_from(interval);
            let span = Span::new(gap.start_time.max(kept), gap.end_time);
            if span.end < span.start {
                continue; // Retention deletes it.
            }
            let mut candles = Vec::new();
            let mut closed_before = i64::MAX;
            let mut failed = None;
            let Some(client) = self.client(row.market) else {
                continue;
            };
            for window in plan::fetch_windows(interval, &[span]) {
                match self.fetch(client, &row.symbol, interval, window).await {
                    Ok((mut got, proof)) => {
                        candles.append(&mut got);
                        closed_before = closed_before.min(proof);
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                tracing::warn!(symbol = %row.symbol, interval = %interval, error = %e,
                    "gap re-check failed; the next check tries again");
                continue;
            }
            if let Err(e) = self
                .commit_repair(
                    &row,
                    interval,
                    (candles, closed_before),
                    &[span],
                    Some(&gap),
                )
                .await
            {
                tracing::warn!(symbol = %row.symbol, interval = %interval, error = %e,
                    "gap re-check could not be recorded");
            }
        }
    }
}
