//! Time: the one clock every component reads, and the beat schedule.
//!
//! Production code reads the system wall clock. Tests build a [`Clock::virtual_from`] that
//! starts at a chosen wall time and then follows tokio's clock, so that with paused tokio
//! time (`#[tokio::test(start_paused = true)]`) a test drives hours of beats in
//! milliseconds, deterministically, without sleeping.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The source of "now", in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone)]
pub struct Clock {
    kind: ClockKind,
}

#[derive(Debug, Clone)]
enum ClockKind {
    System,
    Virtual {
        origin_ms: i64,
        origin: tokio::time::Instant,
    },
}

impl Clock {
    /// The system wall clock.
    pub fn system() -> Clock {
        Clock {
            kind: ClockKind::System,
        }
    }

    /// A clock that reads `origin_ms` now and then advances with tokio's clock (which tests
    /// may pause and advance). Must be called inside a tokio runtime.
    pub fn virtual_from(origin_ms: i64) -> Clock {
        Clock {
            kind: ClockKind::Virtual {
                origin_ms,
                origin: tokio::time::Instant::now(),
            },
        }
    }

    /// Now, in ms since the Unix epoch, UTC.
    pub fn now_ms(&self) -> i64 {
        match &self.kind {
            ClockKind::System => system_now_ms(),
            ClockKind::Virtual { origin_ms, origin } => {
                origin_ms + i64::try_from(origin.elapsed().as_millis()).unwrap_or(i64::MAX)
            }
        }
    }

    /// Sleeps until this clock reads at least `target_ms`. Re-reads the clock after each
    /// wake-up, so a wall-clock step (NTP) neither fires a beat early nor delays it by more
    /// than the step.
    pub async fn sleep_until_ms(&self, target_ms: i64) {
        loop {
            let now = self.now_ms();
            if now >= target_ms {
                return;
            }
            let wait = u64::try_from(target_ms - now).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// The system wall clock in ms since the Unix epoch (0 if the clock reads before 1970).
pub fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// When beats fire: at `k * period + offset` ms since the Unix epoch, for every integer `k`
/// (by default every minute, 5 s after it: 12:01:05, 12:02:05 …).
///
/// Invariant: `0 <= offset < period` (the config refuses anything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeatSchedule {
    period_ms: i64,
    offset_ms: i64,
}

impl BeatSchedule {
    /// A schedule of one beat every `period_secs`, `offset_secs` after each multiple of the
    /// period. Returns `None` unless `period_secs > 0` and `offset_secs < period_secs`.
    pub fn new(period_secs: u64, offset_secs: u64) -> Option<BeatSchedule> {
        Self::from_millis(
            i64::try_from(period_secs).ok()?.checked_mul(1000)?,
            i64::try_from(offset_secs).ok()?.checked_mul(1000)?,
        )
    }

    /// As [`BeatSchedule::new`], in milliseconds.
    pub fn from_millis(period_ms: i64, offset_ms: i64) -> Option<BeatSchedule> {
        (period_ms > 0 && (0..period_ms).contains(&offset_ms)).then_some(BeatSchedule {
            period_ms,
            offset_ms,
        })
    }

    /// The period in ms.
    pub fn period_ms(&self) -> i64 {
        self.period_ms
    }

    /// The first beat time at or after `t_ms`.
    pub fn next_at_or_after(&self, t_ms: i64) -> i64 {
        let k = (t_ms - self.offset_ms).div_euclid(self.period_ms);
        let at = k * self.period_ms + self.offset_ms;
        if at >= t_ms { at } else { at + self.period_ms }
    }

    /// The first beat time strictly after `t_ms`.
    pub fn next_after(&self, t_ms: i64) -> i64 {
        self.next_at_or_after(t_ms + 1)
    }

    /// How many beat times lie in the half-open range `(from_ms, to_ms]`: the beats that
    /// came due while a beat that started at `from_ms` was still running until `to_ms`.
    pub fn beats_in(&self, from_ms: i64, to_ms: i64) -> i64 {
        if to_ms <= from_ms {
            return 0;
        }
        let k = |t: i64| (t - self.offset_ms).div_euclid(self.period_ms);
        k(to_ms) - k(from_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-21 12:00:00 UTC.
    const NOON: i64 = 1_795_262_400_000;

    #[test]
    fn beats_fall_on_the_period_plus_offset() {
        let s = BeatSchedule::new(60, 5).unwrap();
        assert_eq!(s.next_at_or_after(NOON), NOON + 5_000);
        assert_eq!(s.next_at_or_after(NOON + 5_000), NOON + 5_000);
        assert_eq!(s.next_after(NOON + 5_000), NOON + 65_000);
        assert_eq!(s.next_at_or_after(NOON + 5_001), NOON + 65_000);
        assert_eq!(s.next_at_or_after(NOON - 1), NOON + 5_000);
    }

    #[test]
    fn invalid_schedules_are_refused() {
        assert!(BeatSchedule::new(0, 0).is_none());
        assert!(BeatSchedule::new(60, 60).is_none());
        assert!(BeatSchedule::new(60, 61).is_none());
        assert!(BeatSchedule::new(1, 0).is_some());
    }

    #[test]
    fn counts_the_beats_an_overrun_covered() {
        let s = BeatSchedule::new(60, 5).unwrap();
        let beat = NOON + 5_000;
        assert_eq!(s.beats_in(beat, beat + 59_999), 0);
        assert_eq!(s.beats_in(beat, beat + 60_000), 1);
        assert_eq!(s.beats_in(beat, beat + 150_000), 2);
        assert_eq!(s.beats_in(beat, beat - 10), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn virtual_clock_follows_paused_tokio_time() {
        let clock = Clock::virtual_from(NOON);
        assert_eq!(clock.now_ms(), NOON);
        clock.sleep_until_ms(NOON + 65_000).await;
        assert_eq!(clock.now_ms(), NOON + 65_000);
        tokio::time::advance(Duration::from_millis(250)).await;
        assert_eq!(clock.now_ms(), NOON + 65_250);
    }
}
