//! `GET /metrics`: the Prometheus text exposition, built with the `prometheus` crate.
//!
//! Beats are counted from the `heartbeats` rows committed since the daemon started (read
//! at each scrape after a watermark, so every beat is counted once whatever triggered it);
//! the rest are gauges read at the scrape: request weight and the 429/418 seen per
//! market, orders by status, the user-data stream's state and reconnects, backfill jobs
//! by state, strategy runs by outcome.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::control::ControlContext;
use crate::domain::{JobStatus, StreamState};
use crate::store::{BeatWatermark, StoreError};

/// The most beat rows read per scrape (older ones are read by the next scrapes).
const BEATS_PER_SCRAPE: u32 = 10_000;

/// Upper bounds of the beat lag histogram, seconds.
const LAG_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Upper bounds of the beat duration histogram, seconds.
const DURATION_BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 60.0];

/// Every state of the user-data stream, each a label value of its gauge.
const STREAM_STATES: [StreamState; 7] = [
    StreamState::Off,
    StreamState::Connecting,
    StreamState::Reconciling,
    StreamState::Healthy,
    StreamState::Reconnecting,
    StreamState::Rejected,
    StreamState::Stopped,
];

/// Every state of a backfill job, each a label value of its gauge.
const JOB_STATES: [JobStatus; 5] = [
    JobStatus::Pending,
    JobStatus::Running,
    JobStatus::Done,
    JobStatus::Failed,
    JobStatus::Stopped,
];

/// The registry and its metrics; one per HTTP server.
pub struct Metrics {
    registry: Registry,
    beats: IntCounterVec,
    beat_lag: HistogramVec,
    beat_duration: HistogramVec,
    klines_written: IntCounter,
    weight_used: IntGaugeVec,
    weight_limit: IntGaugeVec,
    rate_limited: IntGaugeVec,
    banned: IntGaugeVec,
    orders: IntGaugeVec,
    stream_state: IntGaugeVec,
    stream_reconnects: IntGauge,
    backfill_jobs: IntGaugeVec,
    strategy_runs: IntGaugeVec,
    watermark: Mutex<BeatWatermark>,
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition")
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition")
}

impl Metrics {
    /// The metrics, counting beats committed after `watermark` (the newest row at start).
    pub fn new(watermark: BeatWatermark) -> Metrics {
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                &["trigger"],
            )
            .expect("valid metric definition")
        };
        let m = Metrics {
            registry: Registry::new(),
            beats: counter_vec(
                "tradebeat_beats_total",
                "Beats committed since start, by trigger (schedule, startup, manual) and outcome (ok, partial, failed)",
                &["trigger", "outcome"],
            ),
            beat_lag: histogram(
                "tradebeat_beat_start_lag_seconds",
                "How late a beat started after its scheduled time",
                &LAG_BUCKETS,
            ),
            beat_duration: histogram(
                "tradebeat_beat_duration_seconds",
                "How long a beat took, start to commit",
                &DURATION_BUCKETS,
            ),
            klines_written: IntCounter::new(
                "tradebeat_klines_written_total",
                "Candles written by beats since start",
            )
            .expect("valid metric definition"),
            weight_used: gauge_vec(
                "tradebeat_request_weight_used",
                "Request weight used in the current window, per market",
                &["market"],
            ),
            weight_limit: gauge_vec(
                "tradebeat_request_weight_limit",
                "Request weight limit of a window, per market",
                &["market"],
            ),
            rate_limited: gauge_vec(
                "tradebeat_exchange_429_total",
                "HTTP 429 (request weight) answers seen since start, per market",
                &["market"],
            ),
            banned: gauge_vec(
                "tradebeat_exchange_418_total",
                "HTTP 418 (IP ban) answers seen since start, per market",
                &["market"],
            ),
            orders: gauge_vec(
                "tradebeat_orders",
                "Orders in the database, by status",
                &["status"],
            ),
            stream_state: gauge_vec(
                "tradebeat_user_stream_state",
                "The user-data stream's state: 1 for the current one",
                &["state"],
            ),
            stream_reconnects: IntGauge::new(
                "tradebeat_user_stream_reconnects_total",
                "User-data stream reconnections since start",
            )
            .expect("valid metric definition"),
            backfill_jobs: gauge_vec(
                "tradebeat_backfill_jobs",
                "Backfill jobs, by state",
                &["state"],
            ),
            strategy_runs: gauge_vec(
                "tradebeat_strategy_runs",
                "Strategy runs in the database, by outcome (ok, timeout, exit_code, invalid_output, killed, spawn_failed)",
                &["outcome"],
            ),
            watermark: Mutex::new(watermark),
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 13] = [
            Box::new(m.beats.clone()),
            Box::new(m.beat_lag.clone()),
            Box::new(m.beat_duration.clone()),
            Box::new(m.klines_written.clone()),
            Box::new(m.weight_used.clone()),
            Box::new(m.weight_limit.clone()),
            Box::new(m.rate_limited.clone()),
            Box::new(m.banned.clone()),
            Box::new(m.orders.clone()),
            Box::new(m.stream_state.clone()),
            Box::new(m.stream_reconnects.clone()),
            Box::new(m.backfill_jobs.clone()),
            Box::new(m.strategy_runs.clone()),
        ];
        for c in collectors {
            m.registry
                .register(c)
                .expect("each metric is registered once");
        }
        m
    }

    /// Brings every metric up to date and renders the text exposition.
    ///
    /// # Errors
    /// The database could not be read.
    pub async fn render(&self, ctx: &ControlContext) -> Result<String, StoreError> {
        let after = *self
            .watermark
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (rows, orders, runs) = ctx
            .store
            .run(move |s| {
                Ok((
                    s.heartbeats_after(after, BEATS_PER_SCRAPE)?,
                    s.order_counts()?,
                    s.strategy_run_counts()?,
                ))
            })
            .await?;
        {
            let mut watermark = self
                .watermark
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Two scrapes at once read the same rows: only the one that still stands at
            // the old watermark counts them.
            if *watermark == after {
                for row in &rows {
                    let outcome = match (row.symbols_ok, row.symbols_failed) {
                        (_, 0) => "ok",
                        (0, _) => "failed",
                        _ => "partial",
                    };
                    let trigger = row.trigger.as_str();
                    self.beats.with_label_values(&[trigger, outcome]).inc();
                    let secs = |ms: i64| ms.max(0) as f64 / 1000.0;
                    self.beat_lag
                        .with_label_values(&[trigger])
                        .observe(secs(row.started_at - row.beat_time));
                    self.beat_duration
                        .with_label_values(&[trigger])
                        .observe(secs(row.finished_at - row.started_at));
                    self.klines_written.inc_by(u64::from(row.klines_written));
                    *watermark = (row.finished_at, row.beat_time);
                }
            }
        }
        self.orders.reset();
        for (status, count) in orders {
            self.orders
                .with_label_values(&[status.as_str()])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        self.strategy_runs.reset();
        for (outcome, count) in runs {
            self.strategy_runs
                .with_label_values(&[outcome.as_str()])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let markets = std::iter::once(&ctx.exchange).chain(ctx.market_data.futures_exchanges());
        for client in markets {
            let market = client.market().as_str();
            let weight = client.weight();
            self.weight_used
                .with_label_values(&[market])
                .set(i64::from(weight.used));
            self.weight_limit
                .with_label_values(&[market])
                .set(i64::from(weight.limit));
            let seen = client.limits_seen();
            self.rate_limited
                .with_label_values(&[market])
                .set(as_i64(seen.rate_limited));
            self.banned
                .with_label_values(&[market])
                .set(as_i64(seen.banned));
        }
        let stream = ctx.user_stream.status();
        self.stream_state.reset();
        for state in STREAM_STATES {
            self.stream_state
                .with_label_values(&[state.as_str()])
                .set(i64::from(state == stream.state));
        }
        self.stream_reconnects.set(as_i64(stream.reconnects));
        self.backfill_jobs.reset();
        let mut jobs: HashMap<&'static str, i64> = HashMap::new();
        if let Ok(states) = ctx.backfill.jobs(None).await {
            for job in states {
                *jobs.entry(job.job.status.as_str()).or_default() += 1;
            }
        }
        for status in JOB_STATES {
            self.backfill_jobs
                .with_label_values(&[status.as_str()])
                .set(jobs.get(status.as_str()).copied().unwrap_or(0));
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| StoreError::Task(format!("metrics could not be encoded: {e}")))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
