//! Order-rate accounting: the local gate every new order passes before it is sent.
//!
//! Binance limits the account's new orders per fixed window (`ORDERS` in
//! `exchangeInfo.rateLimits`, e.g. 50 per 10 s and 160 000 per day), reports the count in
//! `X-MBX-ORDER-COUNT-10S` / `-1D` headers of order responses ("Unfilled Order Count" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>)
//! and answers 429 `-1015 TOO_MANY_ORDERS` beyond it. That 429 concerns orders only: it
//! must not stop market-data requests, so it is kept here, apart from the request-weight
//! gate.
//!
//! [`OrderCountGate`] is pure bookkeeping over explicit server times (ms since the epoch,
//! UTC). Windows are fixed and aligned to multiples of their length since the epoch (a
//! `10 SECOND` window resets at :00, :10 …, a `1 DAY` window at 00:00 UTC). An order is
//! refused locally when one more would pass any limit, or while a `-1015` back-off runs;
//! a response's reported count is authoritative for its window (fills lower it:
//! <https://developers.binance.com/docs/binance-spot-api-docs/faqs/order_count_decrement>).

/// How long to stop placing after a 429 `-1015` without `Retry-After`: until the end of
/// the shortest window, at least this long, ms.
const MIN_ORDER_BACKOFF_MS: i64 = 1_000;

/// One `ORDERS` limiter and its count in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    interval_ms: i64,
    limit: u32,
    start_ms: i64,
    count: u32,
}

impl Window {
    fn roll(&mut self, now_ms: i64) {
        let start = now_ms.div_euclid(self.interval_ms) * self.interval_ms;
        if start > self.start_ms {
            self.start_ms = start;
            self.count = 0;
        }
    }

    fn end_ms(&self) -> i64 {
        self.start_ms + self.interval_ms
    }
}

/// Why an order may not be sent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OrderRefusal {
    /// How long until an order may go, ms.
    pub retry_after_ms: u64,
    /// Which limit, in words: `"50 orders per 10 s reached"`.
    pub detail: String,
}

/// The order-count bookkeeping of one account (see the module docs).
#[derive(Debug, Clone, Default)]
pub(super) struct OrderCountGate {
    windows: Vec<Window>,
    /// Server time until which a 429 `-1015` asks us to place nothing (0: none).
    blocked_until_ms: i64,
}

/// `10000` → `"10 s"`, `86400000` → `"1 d"`.
fn describe_interval(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "min"),
        (1_000, "s"),
    ];
    for (unit, name) in UNITS {
        if ms % unit == 0 {
            return format!("{} {name}", ms / unit);
        }
    }
    format!("{ms} ms")
}

impl OrderCountGate {
    /// Adopts the exchange's `ORDERS` limits, `(interval_ms, limit)`. Counts of windows
    /// that keep their length are kept; limits with a zero interval or limit are ignored.
    pub(super) fn set_limits(&mut self, limits: &[(i64, u32)]) {
        let old = std::mem::take(&mut self.windows);
        for &(interval_ms, limit) in limits {
            if interval_ms <= 0 || limit == 0 {
                continue;
            }
            let kept = old.iter().find(|w| w.interval_ms == interval_ms);
            self.windows.push(Window {
                interval_ms,
                limit,
                start_ms: kept.map_or(0, |w| w.start_ms),
                count: kept.map_or(0, |w| w.count),
            });
        }
    }

    /// The limits in force, `(interval_ms, limit)`.
    pub(super) fn limits(&self) -> Vec<(i64, u32)> {
        self.windows
            .iter()
            .map(|w| (w.interval_ms, w.limit))
            .collect()
    }

    /// Decides whether one more order may be sent at `now_ms`; if so, counts it.
    pub(super) fn admit(&mut self, now_ms: i64) -> Result<(), OrderRefusal> {
        if now_ms < self.blocked_until_ms {
            return Err(OrderRefusal {
                retry_after_ms: u64::try_from(self.blocked_until_ms - now_ms).unwrap_or(0),
                detail: "the exchange answered too many new orders (-1015)".to_string(),
            });
        }
        for w in &mut self.windows {
            w.roll(now_ms);
        }
        if let Some(full) = self
            .windows
            .iter()
            .filter(|w| w.count >= w.limit)
            .max_by_key(|w| w.end_ms())
        {
            return Err(OrderRefusal {
                retry_after_ms: u64::try_from(full.end_ms() - now_ms).unwrap_or(0),
                detail: format!(
                    "{} orders per {} reached",
                    full.limit,
                    describe_interval(full.interval_ms)
                ),
            });
        }
        for w in &mut self.windows {
            w.count = w.count.saturating_add(1);
        }
        Ok(())
    }

    /// Whether one more order would be admitted at `now_ms`, without counting it.
    pub(super) fn would_admit(&self, now_ms: i64) -> Result<(), OrderRefusal> {
        self.clone().admit(now_ms)
    }

    /// Adopts the counts a response reported at `now_ms`, `(interval_ms, count)` from
    /// `X-MBX-ORDER-COUNT-*` headers. A count for an interval without a known limit is
    /// ignored.
    pub(super) fn observe(&mut self, now_ms: i64, counts: &[(i64, u32)]) {
        for &(interval_ms, count) in counts {
            if let Some(w) = self
                .windows
                .iter_mut()
                .find(|w| w.interval_ms == interval_ms)
            {
                w.roll(now_ms);
                w.count = count;
            }
        }
    }

    /// Records a 429 `-1015` at `now_ms`: nothing is placed for `retry_after_ms` if given,
    /// else until the shortest window ends (at least one second). Returns the back-off, ms.
    pub(super) fn too_many_orders(&mut self, now_ms: i64, retry_after_ms: Option<u64>) -> u64 {
        let wait = retry_after_ms
            .and_then(|ms| i64::try_from(ms).ok())
            .unwrap_or_else(|| {
                self.windows
                    .iter()
                    .map(|w| {
                        let mut w = *w;
                        w.roll(now_ms);
                        w.end_ms() - now_ms
                    })
                    .min()
                    .unwrap_or(0)
            })
            .max(MIN_ORDER_BACKOFF_MS);
        self.blocked_until_ms = self.blocked_until_ms.max(now_ms.saturating_add(wait));
        u64::try_from(self.blocked_until_ms - now_ms).unwrap_or(0)
    }
}

/// `X-MBX-ORDER-COUNT-10S: 3` → `(10000, 3)`; `None` for other headers (the suffix is the
/// interval number and letter `S`, `M`, `H` or `D`: "General Info on Limits" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>).
pub(super) fn parse_order_count_header(name: &str, value: &str) -> Option<(i64, u32)> {
    const PREFIX: &str = "x-mbx-order-count-";
    let suffix = name
        .get(..PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(PREFIX))
        .and_then(|_| name.get(PREFIX.len()..))?;
    let (num, unit) = suffix.split_at(suffix.len().checked_sub(1)?);
    let unit_ms = match unit.to_ascii_uppercase().as_str() {
        "S" => 1_000,
        "M" => 60_000,
        "H" => 3_600_000,
        "D" => 86_400_000,
        _ => return None,
    };
    let interval = num.parse::<i64>().ok()?.checked_mul(unit_ms)?;
    let count = value.trim().parse().ok()?;
    Some((interval, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-21 12:00:00 UTC: a 10 s and a minute boundary.
    const NOON: i64 = 1_795_262_400_000;

    fn gate() -> OrderCountGate {
        let mut g = OrderCountGate::default();
        g.set_limits(&[(10_000, 3), (86_400_000, 5)]);
        g
    }

    #[test]
    fn headers_name_their_interval() {
        assert_eq!(
            parse_order_count_header("x-mbx-order-count-10s", "3"),
            Some((10_000, 3))
        );
        assert_eq!(
            parse_order_count_header("X-MBX-ORDER-COUNT-1D", " 12 "),
            Some((86_400_000, 12))
        );
        assert_eq!(
            parse_order_count_header("x-mbx-order-count-1m", "0"),
            Some((60_000, 0))
        );
        assert_eq!(parse_order_count_header("x-mbx-used-weight-1m", "3"), None);
        assert_eq!(parse_order_count_header("x-mbx-order-count-10x", "3"), None);
        assert_eq!(parse_order_count_header("x-mbx-order-count-", "3"), None);
        assert_eq!(
            parse_order_count_header("x-mbx-order-count-10s", "-1"),
            None
        );
    }

    #[test]
    fn the_order_past_a_limit_is_refused_until_its_window_ends() {
        let mut g = gate();
        for i in 0..3 {
            g.admit(NOON + i).unwrap();
        }
        let refused = g.admit(NOON + 4_000).unwrap_err();
        assert_eq!(refused.retry_after_ms, 6_000);
        assert_eq!(refused.detail, "3 orders per 10 s reached");
        // The next 10 s window: two more fit in the day's limit of 5.
        g.admit(NOON + 10_000).unwrap();
        g.admit(NOON + 10_001).unwrap();
        let refused = g.admit(NOON + 20_000).unwrap_err();
        assert_eq!(refused.detail, "5 orders per 1 d reached");
        assert_eq!(
            refused.retry_after_ms,
            43_200_000 - 20_000,
            "until 00:00 UTC"
        );
    }

    #[test]
    fn reported_counts_are_authoritative_and_fills_free_room() {
        let mut g = gate();
        g.admit(NOON).unwrap();
        g.observe(NOON + 1, &[(10_000, 3), (60_000, 99)]);
        assert!(g.admit(NOON + 2).is_err());
        // Two orders filled: the exchange now reports 1.
        g.observe(NOON + 3, &[(10_000, 1)]);
        g.admit(NOON + 4).unwrap();
    }

    #[test]
    fn a_minus_1015_blocks_orders_for_its_retry_after() {
        let mut g = gate();
        assert_eq!(g.too_many_orders(NOON + 2_500, Some(4_000)), 4_000);
        assert_eq!(g.admit(NOON + 6_000).unwrap_err().retry_after_ms, 500);
        g.admit(NOON + 6_500).unwrap();
        // Without Retry-After: until the 10 s window ends.
        let mut g = gate();
        assert_eq!(g.too_many_orders(NOON + 2_500, None), 7_500);
        assert!(g.would_admit(NOON + 9_999).is_err());
        assert!(g.would_admit(NOON + 10_000).is_ok());
        // No limits known at all: a minimum back-off.
        let mut none = OrderCountGate::default();
        assert_eq!(none.too_many_orders(NOON, None), 1_000);
        none.admit(NOON + 1_000).unwrap();
    }

    #[test]
    fn new_limits_keep_counts_of_the_same_interval() {
        let mut g = gate();
        g.admit(NOON).unwrap();
        g.admit(NOON).unwrap();
        g.set_limits(&[(10_000, 2), (0, 5), (60_000, 0)]);
        assert_eq!(g.limits(), [(10_000, 2)]);
        assert!(g.admit(NOON + 1).is_err());
    }
}
