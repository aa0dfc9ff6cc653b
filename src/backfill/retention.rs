//! Retention: candles older than `market_data.retention_days` of their interval are
//! deleted in small batches, one transaction each, so a beat never waits for more than one
//! batch. Futures open-interest history at a period (`5m` …) follows the retention of the
//! interval of the same name; funding events (a few a day) are kept.

use std::sync::Arc;

use super::plan;
use super::{Ctx, RETENTION_PAUSE, utc};

impl Ctx {
    /// Deletes candles older than each interval's retention, in small batches.
    pub(super) async fn apply_retention(self: Arc<Self>) {
        let now = self.exchange.server_now_ms();
        for (&interval, &days) in &self.retention_days {
            let cutoff = plan::retention_cutoff(now, days);
            let ids = match self
                .db(move |s| s.symbols_with_klines_before(interval, cutoff))
                .await
            {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::error!(interval = %interval, error = %e, "retention cannot run");
                    continue;
                }
            };
            let batch = self.options.retention_batch.max(1);
            let mut deleted = 0usize;
            for id in ids {
                loop {
                    match self
                        .db(move |s| s.prune_klines_batch(id, interval, cutoff, batch))
                        .await
                    {
                        Ok(n) => {
                            deleted += n;
                            if n < batch as usize {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::error!(interval = %interval, error = %e, "retention batch failed");
                            break;
                        }
                    }
                    tokio::time::sleep(RETENTION_PAUSE).await;
                }
            }
            let gaps = self
                .db(move |s| s.prune_gaps(interval, cutoff))
                .await
                .unwrap_or(0);
            // Open-interest history at the period of the same name follows the interval.
            if crate::domain::OPEN_INTEREST_PERIODS.contains(&interval.as_str()) {
                loop {
                    let period = interval.as_str();
                    match self
                        .db(move |s| s.prune_open_interest_history(period, cutoff, batch))
                        .await
                    {
                        Ok(n) => {
                            deleted += n;
                            if n < batch as usize {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::error!(interval = %interval, error = %e,
                                "open-interest retention batch failed");
                            break;
                        }
                    }
                    tokio::time::sleep(RETENTION_PAUSE).await;
                }
            }
            tracing::info!(interval = %interval, days, cutoff = %utc(cutoff), rows = deleted,
                gaps, "retention applied");
        }
    }
}
