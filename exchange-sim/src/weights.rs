//! Request weights and the IP rate limiter (Binance spot "LIMITS" section: "IP Limits").
//!
//! * Every request costs a weight ([`request_weight`]); the used weight of the current fixed
//!   1-minute window (server time, resetting on minute boundaries) is reported in
//!   `X-MBX-USED-WEIGHT-1M` on every response.
//! * A request that would exceed the REQUEST_WEIGHT limit is rejected with HTTP 429 and
//!   `Retry-After` (seconds until the window ends); it adds no weight.
//! * A client that keeps sending after a 429 — more than
//!   [`REQUESTS_AFTER_429_BEFORE_BAN`] further rejected requests in the same window — is
//!   banned: HTTP 418 with `Retry-After`, 2 minutes for the first ban, doubling for repeat
//!   offenders up to 3 days. During a ban every request gets 418 and adds no weight.
//!
//! The simulator only listens on loopback, so all clients share one limiter ("one IP").

use std::sync::Mutex;

use axum::http::Method;

use crate::{lock, params::Params, params::count_symbols};

/// Rejected requests tolerated after the first 429 of a window before an IP ban.
pub const REQUESTS_AFTER_429_BEFORE_BAN: u32 = 5;

/// Length of the first IP ban.
pub const FIRST_BAN_MS: i64 = 2 * 60_000;

/// Longest IP ban (3 days, as documented by Binance).
pub const MAX_BAN_MS: i64 = 3 * 86_400_000;

/// Length of the weight window.
const WINDOW_MS: i64 = 60_000;

/// The weight of a request (Binance spot REST docs, "Weight" of each endpoint).
///
/// `params` is `None` when the query string could not be decoded; the endpoint's base
/// weight is charged then. Unknown paths cost 1.
pub(crate) fn request_weight(method: &Method, path: &str, params: Option<&Params>) -> u32 {
    let has = |name: &str| params.is_some_and(|p| p.get(name).is_some());
    let symbols = params.and_then(|p| p.get("symbols")).map(count_symbols);
    match (method, path) {
        (&Method::GET, "/api/v3/ping" | "/api/v3/time") => 1,
        (&Method::GET, "/api/v3/exchangeInfo") => 20,
        (&Method::GET, "/api/v3/klines") => 2,
        (&Method::GET, "/api/v3/ticker/price" | "/api/v3/ticker/bookTicker") => {
            if has("symbol") {
                2
            } else {
                4
            }
        }
        (&Method::GET, "/api/v3/ticker/24hr") => match symbols {
            _ if has("symbol") => 2,
            Some(0..=20) => 2,
            Some(21..=100) => 40,
            Some(_) | None => 80,
        },
        // Trading and account endpoints (weights as documented in
        // https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints
        // and
        // https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints).
        (&Method::GET, "/api/v3/order") => 4,
        (&Method::GET, "/api/v3/openOrders") => {
            if has("symbol") {
                6
            } else {
                80
            }
        }
        (&Method::GET, "/api/v3/allOrders" | "/api/v3/account") => 20,
        (&Method::GET, "/api/v3/myTrades") => {
            if has("orderId") {
                5
            } else {
                20
            }
        }
        _ => 1,
    }
}

/// Outcome of [`RateLimiter::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Served; the weight was added.
    Allowed,
    /// HTTP 429: over the limit for this window.
    Throttled {
        /// Seconds until the window ends (`Retry-After`).
        retry_after_secs: i64,
        /// The REQUEST_WEIGHT limit, for the message.
        limit: u32,
    },
    /// HTTP 418: the IP is banned.
    Banned {
        /// Seconds until the ban ends (`Retry-After`).
        retry_after_secs: i64,
        /// End of the ban, ms since the epoch.
        until_ms: i64,
    },
}

#[derive(Debug)]
struct State {
    limit: u32,
    /// Window length in ms (1 minute unless built [`RateLimiter::with_window`]).
    window_ms: i64,
    window: i64,
    used: u32,
    throttled_in_window: bool,
    rejected_after_429: u32,
    banned_until: Option<i64>,
    bans: u32,
}

/// Fixed-window REQUEST_WEIGHT limiter with 429 → 418 escalation.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    state: Mutex<State>,
}

impl RateLimiter {
    /// A limiter allowing `limit` weight per minute.
    pub(crate) fn new(limit: u32) -> RateLimiter {
        RateLimiter {
            state: Mutex::new(State::new(limit, WINDOW_MS)),
        }
    }

    /// A limiter allowing `limit` per window of `window_ms` (e.g. the request-count limit
    /// of `/futures/data/*`: 1000 per 5 minutes, every request weighing 1).
    pub(crate) fn with_window(limit: u32, window_ms: i64) -> RateLimiter {
        RateLimiter {
            state: Mutex::new(State::new(limit, window_ms.max(1))),
        }
    }

    /// Bans until `until_ms` (a forced 418), counting as one ban for the doubling.
    pub(crate) fn ban_until(&self, until_ms: i64) {
        let mut state = lock(&self.state);
        state.banned_until = Some(until_ms);
        state.bans += 1;
    }

    /// The REQUEST_WEIGHT limit per minute.
    pub(crate) fn limit(&self) -> u32 {
        lock(&self.state).limit
    }

    /// Changes the limit (takes effect immediately, the used weight is kept).
    pub(crate) fn set_limit(&self, limit: u32) {
        lock(&self.state).limit = limit;
    }

    /// Forgets used weight, 429 history and bans.
    pub(crate) fn reset(&self) {
        let mut state = lock(&self.state);
        *state = State::new(state.limit, state.window_ms);
    }

    /// Used weight in the window containing `now_ms`.
    pub(crate) fn used(&self, now_ms: i64) -> u32 {
        let mut state = lock(&self.state);
        state.roll(now_ms);
        state.used
    }

    /// Decides about a request of `weight` at server time `now_ms`, charging it if allowed.
    pub(crate) fn admit(&self, weight: u32, now_ms: i64) -> Admission {
        let mut state = lock(&self.state);
        state.roll(now_ms);
        if let Some(until) = state.banned_until {
            if now_ms < until {
                return banned(now_ms, until);
            }
            state.banned_until = None;
        }
        if state.used.saturating_add(weight) <= state.limit {
            state.used += weight;
            return Admission::Allowed;
        }
        if state.throttled_in_window {
            state.rejected_after_429 += 1;
            if state.rejected_after_429 > REQUESTS_AFTER_429_BEFORE_BAN {
                let length = FIRST_BAN_MS
                    .saturating_mul(1_i64 << state.bans.min(20))
                    .min(MAX_BAN_MS);
                state.bans += 1;
                let until = now_ms + length;
                state.banned_until = Some(until);
                return banned(now_ms, until);
            }
        }
        state.throttled_in_window = true;
        let window_end = (state.window + 1) * state.window_ms;
        Admission::Throttled {
            retry_after_secs: ceil_secs(window_end - now_ms),
            limit: state.limit,
        }
    }
}

impl State {
    fn new(limit: u32, window_ms: i64) -> State {
        State {
            limit,
            window_ms,
            window: i64::MIN,
            used: 0,
            throttled_in_window: false,
            rejected_after_429: 0,
            banned_until: None,
            bans: 0,
        }
    }

    /// Starts a new window when `now_ms` left the current one.
    fn roll(&mut self, now_ms: i64) {
        let window = now_ms.div_euclid(self.window_ms);
        if window != self.window {
            self.window = window;
            self.used = 0;
            self.throttled_in_window = false;
            self.rejected_after_429 = 0;
        }
    }
}

fn banned(now_ms: i64, until_ms: i64) -> Admission {
    Admission::Banned {
        retry_after_secs: ceil_secs(until_ms - now_ms),
        until_ms,
    }
}

fn ceil_secs(ms: i64) -> i64 {
    ((ms + 999) / 1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_219_200_000;

    #[test]
    fn weights_match_the_docs() {
        let get = |path: &str, query: &str| {
            let params = Params::parse(query).expect("query");
            request_weight(&Method::GET, path, Some(&params))
        };
        assert_eq!(get("/api/v3/ping", ""), 1);
        assert_eq!(get("/api/v3/exchangeInfo", "symbol=BTCUSDT"), 20);
        assert_eq!(get("/api/v3/klines", "symbol=BTCUSDT&interval=1m"), 2);
        assert_eq!(get("/api/v3/ticker/price", "symbol=BTCUSDT"), 2);
        assert_eq!(get("/api/v3/ticker/bookTicker", ""), 4);
        assert_eq!(get("/api/v3/ticker/price", r#"symbols=["BTCUSDT"]"#), 4);
        assert_eq!(get("/api/v3/ticker/24hr", "symbol=BTCUSDT"), 2);
        assert_eq!(get("/api/v3/ticker/24hr", ""), 80);
        let list = |n: usize| {
            let names: Vec<String> = (0..n).map(|i| format!("\"S{i}\"")).collect();
            format!("symbols=[{}]", names.join(","))
        };
        assert_eq!(get("/api/v3/ticker/24hr", &list(20)), 2);
        assert_eq!(get("/api/v3/ticker/24hr", &list(21)), 40);
        assert_eq!(get("/api/v3/ticker/24hr", &list(100)), 40);
        assert_eq!(get("/api/v3/ticker/24hr", &list(101)), 80);
    }

    #[test]
    fn window_resets_on_minute_boundaries() {
        let limiter = RateLimiter::new(10);
        assert_eq!(limiter.admit(6, T0 + 59_000), Admission::Allowed);
        assert_eq!(
            limiter.admit(6, T0 + 59_500),
            Admission::Throttled {
                retry_after_secs: 1,
                limit: 10
            }
        );
        assert_eq!(limiter.used(T0 + 59_999), 6);
        assert_eq!(limiter.used(T0 + 60_000), 0);
        assert_eq!(limiter.admit(6, T0 + 60_000), Admission::Allowed);
    }

    #[test]
    fn escalates_from_429_to_418() {
        let limiter = RateLimiter::new(4);
        assert_eq!(limiter.admit(4, T0), Admission::Allowed);
        let throttled = Admission::Throttled {
            retry_after_secs: 50,
            limit: 4,
        };
        for _ in 0..=REQUESTS_AFTER_429_BEFORE_BAN {
            assert_eq!(limiter.admit(1, T0 + 10_000), throttled);
        }
        let until = T0 + 10_000 + FIRST_BAN_MS;
        let ban = Admission::Banned {
            retry_after_secs: 120,
            until_ms: until,
        };
        assert_eq!(limiter.admit(1, T0 + 10_000), ban);
        // Banned even in the next window, until the ban ends; no weight is added.
        assert!(matches!(
            limiter.admit(1, T0 + 70_000),
            Admission::Banned { .. }
        ));
        assert_eq!(limiter.used(T0 + 70_000), 0);
        assert_eq!(limiter.admit(1, until), Admission::Allowed);
        // A second ban lasts twice as long.
        assert_eq!(limiter.admit(3, until), Admission::Allowed);
        for _ in 0..=REQUESTS_AFTER_429_BEFORE_BAN {
            limiter.admit(1, until);
        }
        assert_eq!(
            limiter.admit(1, until),
            Admission::Banned {
                retry_after_secs: 240,
                until_ms: until + 2 * FIRST_BAN_MS
            }
        );
        limiter.reset();
        assert_eq!(limiter.admit(1, until), Admission::Allowed);
    }
}
