//! The heartbeat: fires a beat at every `k * period + offset` (by default each minute, 5 s
//! after it) and hands it to [`MarketData`].
//!
//! Each target is computed from the clock afresh (`BeatSchedule::next_at_or_after(now)`),
//! so a slow beat, a suspended VM or a clock step never makes the schedule drift. Beats
//! never overlap: when a beat overruns, the beats it covered are skipped, logged and
//! counted in the next row's `skipped_before`, not replayed in a burst.
//!
//! At start, before the first scheduled beat, one `startup` beat runs at once so that a
//! restarted daemon catches up with the candles that closed while it was down without
//! waiting for the next minute.
//!
//! Under systemd with `WatchdogSec=`, this loop is the only sender of `WATCHDOG=1`
//! ([`Heartbeat::with_watchdog`]): every half interval while it waits for the next beat, and
//! right before and right after each beat, never while a beat runs. A hung beat (not just a
//! live process) thus stops the pings, and systemd kills and restarts the service once the
//! beat has run for `WatchdogSec`. Halfway there the beat is logged and shown in STATUS.
//! The first ping follows the start-up beat: systemd arms its watchdog at the first ping
//! or at READY=1, whichever comes first, so a start-up beat that hangs is given the daemon's
//! bounded wait for it (then READY=1) plus `WatchdogSec`, not `WatchdogSec` from the exec.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::{BeatSchedule, Clock};
use crate::market_data::MarketData;
use crate::notify;
use crate::store::{BeatTrigger, HeartbeatRow};

/// How long a beat in flight at shutdown may take to finish before it is abandoned.
/// Its writes are one transaction, so abandoning it leaves nothing half-written.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What the heartbeat tells the rest of the daemon (status, systemd notifications).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeartbeatStatus {
    /// The last beat's row, once one has run.
    pub last: Option<HeartbeatRow>,
    /// When the next scheduled beat is due, ms.
    pub next_beat_time: Option<i64>,
}

/// What runs a beat: [`MarketData`] in the daemon, a stand-in in the schedule's tests.
pub trait BeatRunner: Send + Sync + 'static {
    /// Runs the beat due at `beat_time` (ms) and returns its `heartbeats` row. Never fails:
    /// failures are recorded in the row.
    fn beat(
        &self,
        beat_time: i64,
        trigger: BeatTrigger,
        skipped_before: u32,
    ) -> impl Future<Output = HeartbeatRow> + Send;
}

impl BeatRunner for MarketData {
    fn beat(
        &self,
        beat_time: i64,
        trigger: BeatTrigger,
        skipped_before: u32,
    ) -> impl Future<Output = HeartbeatRow> + Send {
        MarketData::beat(self, beat_time, trigger, skipped_before)
    }
}

/// The beat scheduler component.
pub struct Heartbeat<R: BeatRunner = MarketData> {
    schedule: BeatSchedule,
    clock: Clock,
    runner: Arc<R>,
    status: watch::Sender<HeartbeatStatus>,
    /// systemd's watchdog interval, when it expects pings.
    watchdog: Option<Duration>,
}

impl<R: BeatRunner> Heartbeat<R> {
    /// A heartbeat firing on `schedule`, read from `clock`, whose beats `runner` runs.
    pub fn new(schedule: BeatSchedule, clock: Clock, runner: Arc<R>) -> Heartbeat<R> {
        Heartbeat {
            schedule,
            clock,
            runner,
            status: watch::Sender::new(HeartbeatStatus::default()),
            watchdog: None,
        }
    }

    /// Makes the loop send systemd `WATCHDOG=1` pings for a watchdog of `interval`
    /// ([`notify::watchdog_interval`]; `None`: no pings), as the module docs describe.
    pub fn with_watchdog(mut self, interval: Option<Duration>) -> Heartbeat<R> {
        self.watchdog = interval;
        self
    }

    /// A receiver of the heartbeat's status, updated after every beat.
    pub fn status(&self) -> watch::Receiver<HeartbeatStatus> {
        self.status.subscribe()
    }

    /// Runs beats until `shutdown` is cancelled. A beat in flight at shutdown gets
    /// [`SHUTDOWN_GRACE`] to finish; no new beat starts after it.
    pub async fn run(self, shutdown: CancellationToken) {
        let startup = self.clock.now_ms();
        if self
            .run_beat(startup, BeatTrigger::Startup, 0, &shutdown)
            .await
            .is_none()
        {
            return;
        }
        let mut next = self.schedule.next_at_or_after(self.clock.now_ms());
        let mut skipped = 0;
        loop {
            self.status.send_modify(|s| s.next_beat_time = Some(next));
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.idle_until(next) => {}
            }
            self.ping();
            if self
                .run_beat(next, BeatTrigger::Schedule, skipped, &shutdown)
                .await
                .is_none()
            {
                return;
            }
            // The next beat is the first one not yet due; those that came due while this
            // one ran are skipped.
            let now = self.clock.now_ms();
            let following = self.schedule.next_at_or_after(now);
            let covered = (following - next) / self.schedule.period_ms() - 1;
            skipped = u32::try_from(covered.max(0)).unwrap_or(u32::MAX);
            if skipped > 0 {
                tracing::warn!(
                    beat_time = next,
                    skipped,
                    resume_at = following,
                    "beat overran its period; the beats it covered are skipped"
                );
            }
            next = following;
        }
    }

    /// Runs one beat; `None` when shutdown came first and the beat was abandoned.
    async fn run_beat(
        &self,
        beat_time: i64,
        trigger: BeatTrigger,
        skipped: u32,
        shutdown: &CancellationToken,
    ) -> Option<HeartbeatRow> {
        let beat = self.watched(beat_time, self.runner.beat(beat_time, trigger, skipped));
        tokio::pin!(beat);
        let row = tokio::select! {
            row = &mut beat => row,
            _ = shutdown.cancelled() => {
                match tokio::time::timeout(SHUTDOWN_GRACE, &mut beat).await {
                    Ok(row) => row,
                    Err(_) => {
                        tracing::warn!(beat_time, "beat abandoned at shutdown; nothing of it was written");
                        return None;
                    }
                }
            }
        };
        let lag_ms = row.started_at - row.beat_time;
        let duration_ms = row.finished_at - row.started_at;
        match &row.error {
            None => tracing::info!(
                beat_time = row.beat_time,
                trigger = row.trigger.as_str(),
                lag_ms,
                duration_ms,
                symbols_ok = row.symbols_ok,
                klines_written = row.klines_written,
                "beat finished"
            ),
            Some(error) => tracing::warn!(
                beat_time = row.beat_time,
                trigger = row.trigger.as_str(),
                lag_ms,
                duration_ms,
                symbols_ok = row.symbols_ok,
                symbols_failed = row.symbols_failed,
                klines_written = row.klines_written,
                error = error.as_str(),
                "beat finished with failures"
            ),
        }
        self.status.send_modify(|s| s.last = Some(row.clone()));
        notify::status(&notify::beat_status(&row));
        self.ping();
        (!shutdown.is_cancelled()).then_some(row)
    }

    /// Sends systemd `WATCHDOG=1` when a watchdog is expected.
    fn ping(&self) {
        if self.watchdog.is_some() {
            notify::watchdog();
        }
    }

    /// Sleeps until `at` (ms, on the clock), pinging the watchdog every half interval.
    async fn idle_until(&self, at: i64) {
        let Some(interval) = self.watchdog else {
            return self.clock.sleep_until_ms(at).await;
        };
        let sleep = self.clock.sleep_until_ms(at);
        tokio::pin!(sleep);
        let mut pings = tokio::time::interval(notify::ping_period(interval));
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut sleep => return,
                _ = pings.tick() => notify::watchdog(),
            }
        }
    }

    /// Runs `beat` without pinging; once it has run for half the watchdog interval, logs
    /// it and says so in STATUS: systemd restarts the service when it reaches the interval.
    async fn watched(
        &self,
        beat_time: i64,
        beat: impl Future<Output = HeartbeatRow>,
    ) -> HeartbeatRow {
        let Some(interval) = self.watchdog else {
            return beat.await;
        };
        tokio::pin!(beat);
        let started = Instant::now();
        tokio::select! {
            row = &mut beat => return row,
            _ = tokio::time::sleep(interval / 2) => {}
        }
        let running = started.elapsed();
        tracing::warn!(
            beat_time,
            running_ms = u64::try_from(running.as_millis()).unwrap_or(u64::MAX),
            watchdog_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            "beat still running; no watchdog ping until it finishes, systemd restarts tradebeat if it reaches the watchdog interval"
        );
        notify::status(&notify::stuck_status(beat_time, running, interval));
        beat.await
    }
}

/// The daemon's essential component: without beats there is nothing to keep, so it ending
/// before shutdown stops the daemon with an error.
impl<R: BeatRunner> crate::component::Component for Heartbeat<R> {
    fn name(&self) -> &'static str {
        "heartbeat"
    }

    /// [`SHUTDOWN_GRACE`] for the beat in flight, plus a second to commit and log it.
    fn drain_deadline(&self) -> Duration {
        SHUTDOWN_GRACE + Duration::from_secs(1)
    }

    fn essential(&self) -> bool {
        true
    }

    fn run(
        self,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        Heartbeat::run(self, shutdown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    // 2026-11-21 12:00:00 UTC.
    const NOON: i64 = 1_795_262_400_000;

    /// Records each beat and takes `durations[i]` ms of (paused) tokio time for beat `i`.
    struct FakeRunner {
        clock: Clock,
        durations: Vec<u64>,
        beats: Mutex<Vec<HeartbeatRow>>,
    }

    impl BeatRunner for FakeRunner {
        async fn beat(
            &self,
            beat_time: i64,
            trigger: BeatTrigger,
            skipped_before: u32,
        ) -> HeartbeatRow {
            let started_at = self.clock.now_ms();
            let i = self.beats.lock().unwrap().len();
            let ms = self.durations.get(i).copied().unwrap_or(10);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let row = HeartbeatRow {
                beat_time,
                started_at,
                finished_at: self.clock.now_ms(),
                symbols_ok: 1,
                symbols_failed: 0,
                klines_written: 0,
                skipped_before,
                trigger,
                error: None,
            };
            self.beats.lock().unwrap().push(row.clone());
            row
        }
    }

    async fn run_for(start: i64, durations: Vec<u64>, run_ms: u64) -> Vec<HeartbeatRow> {
        let clock = Clock::virtual_from(start);
        let runner = Arc::new(FakeRunner {
            clock: clock.clone(),
            durations,
            beats: Mutex::new(vec![]),
        });
        let heartbeat = Heartbeat::new(BeatSchedule::new(60, 5).unwrap(), clock, runner.clone());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(heartbeat.run(shutdown.clone()));
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        shutdown.cancel();
        task.await.unwrap();
        runner.beats.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn beats_fire_on_the_minute_plus_offset_without_drift() {
        // Start at 12:00:30; run ten minutes of virtual time.
        let beats = run_for(NOON + 30_000, vec![], 10 * 60_000).await;
        assert_eq!(beats[0].trigger, BeatTrigger::Startup);
        assert_eq!(beats[0].beat_time, NOON + 30_000);
        let scheduled: Vec<i64> = beats[1..].iter().map(|b| b.beat_time).collect();
        let expected: Vec<i64> = (1..=10).map(|k| NOON + k * 60_000 + 5_000).collect();
        assert_eq!(scheduled, expected);
        for b in &beats[1..] {
            assert_eq!(b.started_at, b.beat_time, "no start lag under paused time");
            assert_eq!(b.trigger, BeatTrigger::Schedule);
            assert_eq!(b.skipped_before, 0);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_overrun_skips_the_covered_beats_instead_of_bursting() {
        // Startup beat 10 ms; first scheduled beat (12:01:05) runs 150 s, covering the
        // beats at 12:02:05 and 12:03:05; the next one runs at 12:04:05.
        let beats = run_for(NOON + 30_000, vec![10, 150_000], 5 * 60_000).await;
        let times: Vec<(i64, u32)> = beats[1..]
            .iter()
            .map(|b| (b.beat_time, b.skipped_before))
            .collect();
        assert_eq!(
            times,
            vec![(NOON + 65_000, 0), (NOON + 245_000, 2), (NOON + 305_000, 0)]
        );
        for b in &beats[1..] {
            assert_eq!(b.started_at, b.beat_time);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_starts_no_new_beat_and_lets_the_running_one_finish() {
        // The first scheduled beat (12:01:05) takes 2 s; shutdown arrives 1 s into it.
        let beats = run_for(NOON + 30_000, vec![10, 2_000], 36_000).await;
        assert_eq!(
            beats.len(),
            2,
            "the beat in flight finished, no other started"
        );
        assert_eq!(beats[1].finished_at, NOON + 67_000);
    }
}
