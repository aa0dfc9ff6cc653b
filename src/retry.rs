//! The one retry policy: every wait between two attempts of something that failed (a read
//! from the exchange, a reconnect, a reconciliation, a database write) comes from here.
//!
//! A [`Policy`] is a capped exponential backoff: the ceiling of the `n`-th wait (from 0) is
//! `min(first × 2^n, cap)`, and the wait itself is drawn below that ceiling by its
//! [`Jitter`]. A policy may end after a number of retries. The functions below name the
//! policies the daemon uses, with their numbers, so that they can be read and changed in
//! one place.
//!
//! The schedule of ceilings and the retry loop come from the `backon` crate: a [`Policy`]
//! is a [`backon::BackoffBuilder`], so a plain loop is written
//! `(|| work()).retry(policy).notify(log).await` ([`Retryable`]); a loop with logic of its
//! own (honouring `Retry-After`, stopping on shutdown, starting over after a stable period)
//! keeps its loop and takes each wait from [`Policy::delays`]. The jitter is drawn here:
//! backon's own jitter adds up to one more ceiling on top of the ceiling, which is neither
//! "full" nor "equal" jitter and can exceed the cap.
//!
//! Waits are whole milliseconds, the resolution of tokio's timer: backon computes ceilings
//! in `f32` seconds (200 ms doubles to 400.000006 ms), so each ceiling is rounded to the
//! nearest millisecond. Sleeping goes through `tokio::time::sleep`, so tests that pause
//! tokio time see the waits exactly.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// `work.retry(policy)`: backon's retry loop over an async closure, sleeping on tokio time.
pub use backon::Retryable;

/// How a wait is drawn below its ceiling `c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly `c`.
    None,
    /// Uniformly in `0..=c` ("full jitter"): retries of many callers spread over the whole
    /// window.
    Full,
    /// Uniformly in `c/2..=c` ("equal jitter"): spread, but never much sooner than `c`.
    Equal,
}

impl Jitter {
    fn draw(self, ceiling: Duration, rng: &mut fastrand::Rng) -> Duration {
        let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        match self {
            Jitter::None => ceiling,
            Jitter::Full => Duration::from_millis(rng.u64(0..=ms)),
            Jitter::Equal => Duration::from_millis(ms / 2 + rng.u64(0..=ms - ms / 2)),
        }
    }
}

/// A capped exponential backoff: waits with ceilings `first`, `2 × first`, `4 × first` …
/// up to `cap`, drawn with a [`Jitter`], without end or for a number of retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    first: Duration,
    cap: Duration,
    jitter: Jitter,
    /// Waits before the policy gives up; `None`: never.
    max_retries: Option<u32>,
}

impl Policy {
    /// Ceilings doubling from `first` up to `cap` (`first` is capped too), drawn with
    /// `jitter`, without end.
    pub fn exponential(first: Duration, cap: Duration, jitter: Jitter) -> Policy {
        Policy {
            first: first.min(cap),
            cap,
            jitter,
            max_retries: None,
        }
    }

    /// The same policy, giving up after `retries` waits (`retries + 1` attempts in all).
    pub fn with_max_retries(self, retries: u32) -> Policy {
        Policy {
            max_retries: Some(retries),
            ..self
        }
    }

    /// The longest wait.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The waits of one run of this policy, for a loop that sleeps them itself.
    pub fn delays(self) -> Delays {
        self.delays_with(fastrand::Rng::new())
    }

    fn delays_with(self, rng: fastrand::Rng) -> Delays {
        Delays {
            policy: self,
            ceilings: self.ceilings(),
            rng,
        }
    }

    /// backon's schedule of ceilings for this policy.
    fn ceilings(self) -> ExponentialBackoff {
        let builder = ExponentialBuilder::new()
            .with_factor(2.0)
            .with_min_delay(self.first)
            .with_max_delay(self.cap);
        let builder = match self.max_retries {
            Some(n) => builder.with_max_times(usize::try_from(n).unwrap_or(usize::MAX)),
            None => builder.without_max_times(),
        };
        builder.build()
    }
}

impl BackoffBuilder for Policy {
    type Backoff = Delays;

    fn build(self) -> Delays {
        self.delays()
    }
}

/// The waits of one run of a [`Policy`], in order: an iterator of [`Duration`]s that ends
/// when the policy gives up.
#[derive(Debug)]
pub struct Delays {
    policy: Policy,
    ceilings: ExponentialBackoff,
    rng: fastrand::Rng,
}

impl Delays {
    /// The next wait; the cap once a policy with a retry limit has given up (for loops that
    /// never give up).
    pub fn next_wait(&mut self) -> Duration {
        self.next().unwrap_or(self.policy.cap)
    }

    /// Starts over from the first wait (after a success, or a connection that held).
    pub fn reset(&mut self) {
        self.ceilings = self.policy.ceilings();
    }
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let ceiling = self.ceilings.next()?;
        let ms = (ceiling.as_nanos() + 500_000) / 1_000_000;
        let ceiling = Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX));
        Some(self.policy.jitter.draw(ceiling, &mut self.rng))
    }
}

/// Reads from the exchange (`GET`, signed or not) after a network error, a timeout or an
/// HTTP 5xx: 250 ms doubling up to 4 s, full jitter, at most `max_retries` retries.
/// Requests that change state are never resent (`max_retries` 0).
pub fn exchange_reads(max_retries: u32) -> Policy {
    Policy::exponential(
        Duration::from_millis(250),
        Duration::from_secs(4),
        Jitter::Full,
    )
    .with_max_retries(max_retries)
}

/// Queries of an order whose placement outcome is unknown: 200 ms doubling up to 30 s, no
/// jitter, until the exchange says what happened (the resolver also shortens a wait so as
/// not to ask later than the moment its answer becomes conclusive).
pub fn resolve_order() -> Policy {
    Policy::exponential(
        Duration::from_millis(200),
        Duration::from_secs(30),
        Jitter::None,
    )
}

/// Writes of an order the exchange has and the database refused: 100 ms doubling up to
/// 60 s, no jitter, until the write lands or the component stops.
pub fn record_order() -> Policy {
    Policy::exponential(
        Duration::from_millis(100),
        Duration::from_secs(60),
        Jitter::None,
    )
}

/// The orders' reconciliation at start while the exchange cannot be reached: 1 s doubling
/// up to 60 s, no jitter, until it succeeds or the daemon stops.
pub fn reconcile_orders() -> Policy {
    Policy::exponential(
        Duration::from_secs(1),
        Duration::from_secs(60),
        Jitter::None,
    )
}

/// Reconnects of the user-data stream and of the paper venue's book ticker streams: `first`
/// doubling up to `cap` (1 s and 60 s by default), equal jitter, without end; a stream
/// starts over once a connection has held (a book ticker stream: once it delivered).
pub fn reconnect(first: Duration, cap: Duration) -> Policy {
    Policy::exponential(first, cap, Jitter::Equal)
}

/// The user-data stream's reconciliation after a (re)connect: `first` doubling up to `cap`
/// (2 s and 60 s by default), no jitter, until it succeeds.
pub fn reconcile_stream(first: Duration, cap: Duration) -> Policy {
    Policy::exponential(first, cap, Jitter::None)
}

/// A batch of user-data events the database refused: 200 ms, then 400 ms, no jitter, for
/// `max_retries` retries; then the stream reconciles instead.
pub fn user_data_writes(max_retries: u32) -> Policy {
    Policy::exponential(
        Duration::from_millis(200),
        Duration::from_millis(400),
        Jitter::None,
    )
    .with_max_retries(max_retries)
}

/// The backfill while the exchange or the database fails: `first` doubling up to `cap`
/// (1 s and 60 s by default), equal jitter, without end (a `Retry-After` or a ban may make
/// a wait longer).
pub fn backfill(first: Duration, cap: Duration) -> Policy {
    Policy::exponential(first, cap, Jitter::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// The ceilings of `policy`: its waits without jitter.
    fn ceilings(policy: Policy, n: usize) -> Vec<Duration> {
        Policy {
            jitter: Jitter::None,
            ..policy
        }
        .delays()
        .take(n)
        .collect()
    }

    #[test]
    fn ceilings_double_up_to_the_cap_in_whole_milliseconds() {
        let cases: [(Policy, &[u64]); 7] = [
            (
                exchange_reads(10),
                &[250, 500, 1000, 2000, 4000, 4000, 4000],
            ),
            (
                resolve_order(),
                &[
                    200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000,
                ],
            ),
            (record_order(), &[100, 200, 400, 800, 1600, 3200, 6400]),
            (
                reconcile_orders(),
                &[1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000],
            ),
            (
                reconnect(Duration::from_secs(1), Duration::from_secs(60)),
                &[1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000],
            ),
            (reconcile_stream(ms(100), ms(400)), &[100, 200, 400, 400]),
            (backfill(ms(50), ms(500)), &[50, 100, 200, 400, 500, 500]),
        ];
        for (policy, want) in cases {
            let want: Vec<Duration> = want.iter().copied().map(ms).collect();
            assert_eq!(ceilings(policy, want.len()), want, "{policy:?}");
        }
        // A first wait longer than the cap is capped too.
        assert_eq!(
            ceilings(reconnect(ms(500), ms(300)), 3),
            [ms(300), ms(300), ms(300)]
        );
    }

    #[test]
    fn unjittered_waits_are_the_ceilings() {
        let got: Vec<Duration> = resolve_order().delays().take(12).collect();
        assert_eq!(got, ceilings(resolve_order(), 12));
        assert_eq!(
            reconcile_stream(ms(2000), ms(60_000)).delays().next(),
            Some(ms(2000))
        );
    }

    #[test]
    fn retry_limits_count_waits() {
        assert_eq!(exchange_reads(3).delays().count(), 3);
        assert_eq!(exchange_reads(0).delays().next(), None);
        // The user-data writer: three attempts, two waits of 200 and 400 ms.
        let waits: Vec<Duration> = user_data_writes(2).delays().collect();
        assert_eq!(waits, [ms(200), ms(400)]);
        // Policies without end keep going, at the cap.
        let mut d = record_order().delays();
        assert_eq!(d.nth(10_000), Some(Duration::from_secs(60)));
        // `next_wait` falls back to the cap once a limited policy has given up.
        let mut d = user_data_writes(1).delays();
        assert_eq!((d.next_wait(), d.next_wait()), (ms(200), ms(400)));
    }

    #[test]
    fn full_jitter_spreads_over_the_whole_window() {
        let policy = exchange_reads(6);
        let want = ceilings(policy, 6);
        let mut seen = vec![Vec::new(); 6];
        for seed in 0..200 {
            for (i, d) in policy
                .delays_with(fastrand::Rng::with_seed(seed))
                .enumerate()
            {
                seen[i].push(d);
            }
        }
        for (i, samples) in seen.iter().enumerate() {
            let max = want[i];
            assert!(samples.iter().all(|d| *d <= max), "retry {i}: {samples:?}");
            assert!(
                samples.iter().any(|d| *d < max / 4),
                "retry {i}: jittered low"
            );
            assert!(
                samples.iter().any(|d| *d > max * 3 / 4),
                "retry {i}: and high"
            );
        }
    }

    #[test]
    fn equal_jitter_stays_between_half_and_all_of_the_ceiling() {
        for policy in [
            reconnect(Duration::from_secs(1), Duration::from_secs(60)),
            backfill(Duration::from_secs(1), Duration::from_secs(60)),
        ] {
            let want = ceilings(policy, 12);
            for seed in 0..50 {
                let got: Vec<Duration> = policy
                    .delays_with(fastrand::Rng::with_seed(seed))
                    .take(12)
                    .collect();
                for (d, max) in got.iter().zip(&want) {
                    assert!(*d >= *max / 2 && d <= max, "{d:?} vs {max:?}");
                }
            }
            let spread: Vec<Duration> = (0..50)
                .map(|seed| {
                    policy
                        .delays_with(fastrand::Rng::with_seed(seed))
                        .nth(3)
                        .unwrap_or_default()
                })
                .collect();
            assert!(spread.iter().any(|d| *d < ms(6000)) && spread.iter().any(|d| *d > ms(7000)));
            // However long the outage, never past the cap.
            assert!(policy.delays().nth(100_000).unwrap_or_default() <= Duration::from_secs(60));
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut d = resolve_order().delays();
        d.by_ref().take(5).for_each(drop);
        assert_eq!(d.next(), Some(ms(6400)));
        d.reset();
        assert_eq!(d.next(), Some(ms(200)));
        let mut d = user_data_writes(1).delays();
        assert_eq!((d.next(), d.next()), (Some(ms(200)), None));
        d.reset();
        assert_eq!(d.next(), Some(ms(200)));
    }

    #[tokio::test(start_paused = true)]
    async fn backon_sleeps_the_waits_on_tokio_time() {
        let start = tokio::time::Instant::now();
        let mut calls = 0;
        let mut waits = Vec::new();
        let result: Result<(), &str> = (|| {
            calls += 1;
            async { Err("down") }
        })
        .retry(user_data_writes(2))
        .notify(|_, wait| waits.push(wait))
        .await;
        assert_eq!(result, Err("down"));
        assert_eq!(calls, 3);
        assert_eq!(waits, [ms(200), ms(400)]);
        assert_eq!(start.elapsed(), ms(600));
    }
}
