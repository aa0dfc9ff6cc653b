//! [`RequestRate`]: the per-connection rate of requests that reach the exchange.
//!
//! A token bucket per connection: `burst` requests at once, then one every
//! `1 / per_second` seconds. A request beyond it is refused at once with `-32008` and
//! `data.retry_after_ms`, without running (one refused for its parameters is given back), so one client cannot keep the exchange busy
//! (the request-weight gate already keeps the beats' share; this keeps one client from
//! taking all of the control share). Time is tokio's, so the rule is tested with paused time.

use std::time::Duration;

use tokio::time::Instant;

/// Requests that reach the exchange, per second and connection, once the burst is used.
pub const EXCHANGE_REQUESTS_PER_SEC: u32 = 5;

/// Requests that reach the exchange a connection may send at once.
pub const EXCHANGE_REQUEST_BURST: u32 = 10;

/// A token bucket (see the module docs). One per connection, used by one task.
#[derive(Debug)]
pub struct RequestRate {
    per_second: u32,
    burst: u32,
    /// Tokens left, in thousandths of a request.
    milli_tokens: u64,
    refilled_at: Instant,
}

impl RequestRate {
    /// A full bucket of `burst` (at least 1) refilled at `per_second` (at least 1).
    pub fn new(per_second: u32, burst: u32) -> RequestRate {
        let burst = burst.max(1);
        RequestRate {
            per_second: per_second.max(1),
            burst,
            milli_tokens: u64::from(burst) * 1000,
            refilled_at: Instant::now(),
        }
    }

    /// The default rate of exchange requests per connection
    /// ([`EXCHANGE_REQUESTS_PER_SEC`], [`EXCHANGE_REQUEST_BURST`]).
    pub fn exchange_default() -> RequestRate {
        RequestRate::new(EXCHANGE_REQUESTS_PER_SEC, EXCHANGE_REQUEST_BURST)
    }

    /// Takes one request now, or says how long until one is allowed (`Err`, ms, ≥ 1).
    pub fn take(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        let elapsed_ms =
            u64::try_from(now.duration_since(self.refilled_at).as_millis()).unwrap_or(u64::MAX);
        self.refilled_at = now;
        let cap = u64::from(self.burst) * 1000;
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(elapsed_ms.saturating_mul(u64::from(self.per_second)))
            .min(cap);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            Ok(())
        } else {
            let missing = 1000 - self.milli_tokens;
            Err(missing.div_ceil(u64::from(self.per_second)).max(1))
        }
    }

    /// Gives back the request last taken (it never reached the exchange: refused for its
    /// parameters).
    pub fn refund(&mut self) {
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(1000)
            .min(u64::from(self.burst) * 1000);
    }

    /// The time one request takes to come back, for messages.
    pub fn period(&self) -> Duration {
        Duration::from_millis(1000 / u64::from(self.per_second))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_the_rate_then_refill() {
        let mut rate = RequestRate::new(5, 10);
        for i in 0..10 {
            assert_eq!(rate.take(), Ok(()), "request {i} of the burst");
        }
        assert_eq!(rate.take(), Err(200));
        tokio::time::advance(Duration::from_millis(150)).await;
        assert_eq!(rate.take(), Err(50));
        tokio::time::advance(Duration::from_millis(50)).await;
        assert_eq!(rate.take(), Ok(()));
        assert_eq!(rate.take(), Err(200));
        // A long pause refills the burst, no more.
        tokio::time::advance(Duration::from_secs(60)).await;
        for _ in 0..10 {
            assert_eq!(rate.take(), Ok(()));
        }
        assert!(rate.take().is_err());
        rate.refund();
        assert_eq!(rate.take(), Ok(()));
        assert!(rate.take().is_err());
        assert_eq!(rate.period(), Duration::from_millis(200));
    }
}
