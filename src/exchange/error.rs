//! [`ExchangeError`]: every way a REST call can fail, split by what the caller does next.
//!
//! Messages are lowercase without a trailing period and never contain a secret, a query
//! string or a full URL: the variants carry the endpoint path only (`/api/v3/klines`).

/// Why a request to the exchange failed. Each variant names the caller's next move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The exchange could not be reached or answered HTTP 5xx, after the client's own
    /// retries: a network error, a timeout or a server-side failure. Try again later.
    /// For an order, a 5xx means the execution status is unknown ("HTTP Return Codes" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/http-return-codes>).
    #[error("cannot reach the exchange on {endpoint}: {detail}")]
    Connectivity {
        endpoint: &'static str,
        detail: String,
    },
    /// HTTP 429 was received, or an earlier 429's `Retry-After` period is still running
    /// (then nothing was sent). Back off for `retry_after_ms` milliseconds ("IP Limits" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>).
    #[error("rate limited by the exchange: retry after {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    /// HTTP 418: the IP is banned until `until_ms` (server time, ms since the epoch, UTC).
    /// No request is sent before then ("IP Limits" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>).
    #[error("ip banned by the exchange until {until_ms} (ms since the epoch)")]
    Banned { until_ms: i64 },
    /// A request made for a control client was not sent: it would have taken request
    /// weight kept for the beats (the control share of this one-minute window is spent).
    /// Retry after `retry_after_ms` milliseconds, when the next window starts.
    #[error(
        "request weight kept for the beats: control requests may use no more in this minute, retry after {retry_after_ms} ms"
    )]
    WeightReserved { retry_after_ms: u64 },
    /// The exchange rejected the request with `{"code": .., "msg": ..}`
    /// (<https://developers.binance.com/docs/binance-spot-api-docs/errors>).
    /// Give up and show the code and message; `code` is 0 when the body was not JSON (the
    /// start of the body text is in `msg` then).
    #[error(
        "exchange rejected {endpoint} (http {http_status}): code {code}: {}",
        msg.trim_end_matches('.')
    )]
    Api {
        endpoint: &'static str,
        http_status: u16,
        code: i64,
        msg: String,
    },
    /// The exchange answered with a payload that is malformed, truncated or not the
    /// expected shape.
    #[error("unexpected response from {endpoint}: {detail}")]
    Decode {
        endpoint: &'static str,
        detail: String,
    },
    /// The request broke one of our own preconditions (a limit out of range, a bad base
    /// URL, no credentials for a signed endpoint) and was not sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A request that changes state (a new order, a cancel) may or may not have been
    /// executed: it timed out after being sent, the exchange answered HTTP 5xx, or it said
    /// `-1006`/`-1007`/`-1000`. Never resend it: query the order (by its client order id)
    /// until the exchange says what happened. Binance: "HTTP Return Codes" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/http-return-codes>, and
    /// <https://developers.binance.com/docs/binance-spot-api-docs/errors>.
    #[error("outcome of {endpoint} unknown: {detail}")]
    UnknownOutcome {
        endpoint: &'static str,
        detail: String,
    },
    /// The account's order-rate limit (`ORDERS`) is reached: the local
    /// count says one more order would pass it (nothing was sent), or the exchange
    /// answered 429 `-1015`. Only new orders wait; other requests go on. Retry placing
    /// after `retry_after_ms` milliseconds. Binance: "Unfilled Order Count" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>.
    #[error("order rate limit reached ({detail}): retry after {retry_after_ms} ms")]
    OrderRateLimited { retry_after_ms: u64, detail: String },
}

/// What an exchange rejection ([`ExchangeError::Api`]) means for the caller, read from
/// Binance's error code, so that no code outside `exchange` compares error numbers.
/// Codes: https://developers.binance.com/docs/binance-spot-api-docs/errors
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// `-1121` invalid symbol: the exchange does not (or no longer) list it.
    UnknownSymbol,
    /// `-1013` a filter failure: the symbol's rules changed, cached rules are stale.
    FilterFailure,
    /// `-2011` cancel rejected: usually the order is no longer open.
    CancelRejected,
    /// `-2013` the order does not exist (or not yet, or no more).
    NoSuchOrder,
    /// Any other code: show the code and message.
    Other,
}

impl Rejection {
    /// The meaning of Binance error code `code` (`-2013` → [`Rejection::NoSuchOrder`]).
    pub fn of(code: i64) -> Rejection {
        match code {
            UNKNOWN_SYMBOL => Rejection::UnknownSymbol,
            FILTER_FAILURE => Rejection::FilterFailure,
            CANCEL_REJECTED => Rejection::CancelRejected,
            NO_SUCH_ORDER => Rejection::NoSuchOrder,
            _ => Rejection::Other,
        }
    }
}

const UNKNOWN_SYMBOL: i64 = -1121;
const FILTER_FAILURE: i64 = -1013;
const CANCEL_REJECTED: i64 = -2011;
const NO_SUCH_ORDER: i64 = -2013;

/// Binance error codes that ask the client to retry later: `-1001 DISCONNECTED` and
/// `-1008 SERVER_BUSY` (<https://developers.binance.com/docs/binance-spot-api-docs/errors>).
const RETRYABLE_API_CODES: [i64; 2] = [-1001, -1008];

impl ExchangeError {
    /// Whether sending the same request again later may succeed: connectivity failures,
    /// rate limiting (after `retry_after_ms`) and the API codes Binance marks as transient.
    /// A ban, a rejection, a bad payload or a bad request are not retryable, and neither
    /// is an unknown outcome (resending could execute it twice).
    pub fn is_retryable(&self) -> bool {
        match self {
            ExchangeError::Connectivity { .. }
            | ExchangeError::RateLimited { .. }
            | ExchangeError::WeightReserved { .. }
            | ExchangeError::OrderRateLimited { .. } => true,
            ExchangeError::Api { code, .. } => RETRYABLE_API_CODES.contains(code),
            ExchangeError::Banned { .. }
            | ExchangeError::Decode { .. }
            | ExchangeError::InvalidRequest(_)
            | ExchangeError::UnknownOutcome { .. } => false,
        }
    }

    /// What the exchange's rejection means, for [`ExchangeError::Api`]; `None` for every
    /// other variant.
    pub fn rejection(&self) -> Option<Rejection> {
        match self {
            ExchangeError::Api { code, .. } => Some(Rejection::of(*code)),
            _ => None,
        }
    }

    /// Whether this is the exchange saying it has no such order (`-2013`).
    pub fn is_no_such_order(&self) -> bool {
        self.rejection() == Some(Rejection::NoSuchOrder)
    }

    /// The exchange's error code (e.g. `-1121`) for [`ExchangeError::Api`], else `None`:
    /// to show or store, never to branch on (use [`ExchangeError::rejection`]).
    pub fn code(&self) -> Option<i64> {
        match self {
            ExchangeError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_without_trailing_period() {
        let cases = [
            (
                ExchangeError::Api {
                    endpoint: "/api/v3/klines",
                    http_status: 400,
                    code: -1121,
                    msg: "Invalid symbol.".into(),
                },
                "exchange rejected /api/v3/klines (http 400): code -1121: Invalid symbol",
            ),
            (
                ExchangeError::RateLimited {
                    retry_after_ms: 60_000,
                },
                "rate limited by the exchange: retry after 60000 ms",
            ),
            (
                ExchangeError::Banned { until_ms: 42 },
                "ip banned by the exchange until 42 (ms since the epoch)",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn retryability_and_codes() {
        let api = |code| ExchangeError::Api {
            endpoint: "/api/v3/time",
            http_status: 400,
            code,
            msg: String::new(),
        };
        assert!(api(-1001).is_retryable());
        assert!(!api(-1121).is_retryable());
        assert_eq!(api(-1121).code(), Some(-1121));
        assert_eq!(api(-1121).rejection(), Some(Rejection::UnknownSymbol));
        assert_eq!(api(-1013).rejection(), Some(Rejection::FilterFailure));
        assert_eq!(api(-2011).rejection(), Some(Rejection::CancelRejected));
        assert_eq!(api(-2013).rejection(), Some(Rejection::NoSuchOrder));
        assert!(api(-2013).is_no_such_order());
        assert_eq!(api(-2010).rejection(), Some(Rejection::Other));
        assert_eq!(ExchangeError::Banned { until_ms: 1 }.rejection(), None);
        assert!(ExchangeError::RateLimited { retry_after_ms: 1 }.is_retryable());
        assert!(!ExchangeError::Banned { until_ms: 1 }.is_retryable());
        assert!(!ExchangeError::InvalidRequest("x".into()).is_retryable());
        assert_eq!(ExchangeError::Banned { until_ms: 1 }.code(), None);
        let unknown = ExchangeError::UnknownOutcome {
            endpoint: "/api/v3/order",
            detail: "http 503".into(),
        };
        assert!(
            !unknown.is_retryable(),
            "an unknown outcome is never resent"
        );
        assert_eq!(
            unknown.to_string(),
            "outcome of /api/v3/order unknown: http 503"
        );
        let orders = ExchangeError::OrderRateLimited {
            retry_after_ms: 6000,
            detail: "50 orders per 10 s reached".into(),
        };
        assert!(orders.is_retryable());
        assert_eq!(
            orders.to_string(),
            "order rate limit reached (50 orders per 10 s reached): retry after 6000 ms"
        );
    }
}
