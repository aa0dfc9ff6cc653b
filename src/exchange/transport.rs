//! [`RestClient`]: the one REST client for Binance spot, public and signed.
//!
//! It owns the HTTP connection pool, the server clock offset, the request-weight gate
//! ([`super::weight`]) and the order-count gate ([`super::order_count`]). Every request
//! goes through `RestClient::execute`, which reserves the endpoint's weight (as each
//! endpoint's documentation states it), sends, adopts the weight and order counts the
//! exchange reports, and turns 429/418 into a back-off or a ban that stops further requests
//! locally: a 429 `-1015` (too many orders) stops new orders only, any other 429 stops
//! everything. Binance: "LIMITS" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>.
//!
//! Reads (GET) are retried after network errors and 5xx with capped, fully jittered
//! exponential backoff ([`crate::retry::exchange_reads`]). Requests that change state (a
//! new order, a cancel) are never resent: a failure after the request may have left is
//! [`ExchangeError::UnknownOutcome`], for the caller to reconcile ("HTTP Return Codes" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/http-return-codes>).
//!
//! Signed requests ("SIGNED Endpoint security" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security>) go
//! through a handle made by [`RestClient::with_credentials`]:
//! `timestamp` from the local clock corrected by the measured server offset,
//! `recvWindow`, the `X-MBX-APIKEY` header (marked sensitive) and the signature over the
//! percent-encoded parameters, all in the query string. On `-1021` (timestamp outside the
//! recvWindow) the offset is measured again and the request re-signed and sent once more:
//! a `-1021` is refused before execution, so this never duplicates anything. URLs are
//! never logged and are stripped from transport errors, so a signed query string never
//! reaches a log line or an error message.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use url::Url;

use super::error::ExchangeError;
use super::order_count::{OrderCountGate, parse_order_count_header};
use super::signing::{HmacSha256, Signer, encode_params};
use super::weight::{Admission, Priority, Ticket, WeightGate, WeightStatus};
use super::{Network, wire};
use crate::clock::Clock;
use crate::domain::{Credentials, ExchangeInfo, RateLimitKind, Secret};
use crate::retry;

/// Default number of extra attempts for a GET after a network error or a 5xx.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// The connect timeout never exceeds this (nor the request timeout).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept per host: enough for ~16 concurrent requests.
const POOL_MAX_IDLE_PER_HOST: usize = 16;
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const USER_AGENT: &str = concat!("tradebeat/", env!("CARGO_PKG_VERSION"));

/// How much of a non-JSON error body is kept in an error, in characters.
const ERROR_BODY_MAX_CHARS: usize = 200;

/// A REST endpoint and its request weight, as the endpoint's documentation states it
/// (<https://developers.binance.com/docs/binance-spot-api-docs/rest-api>).
#[derive(Debug, Clone, Copy)]
pub(super) struct Endpoint {
    pub(super) path: &'static str,
    pub(super) weight: u32,
}

/// Binance error codes that leave the execution status unknown: `-1000 UNKNOWN`,
/// `-1006 UNEXPECTED_RESP`, `-1007 TIMEOUT`
/// (<https://developers.binance.com/docs/binance-spot-api-docs/errors>).
const UNKNOWN_OUTCOME_CODES: [i64; 3] = [-1000, -1006, -1007];

/// Binance's code for a timestamp outside the recvWindow
/// (<https://developers.binance.com/docs/binance-spot-api-docs/errors>).
const INVALID_TIMESTAMP: i64 = -1021;

/// Binance's code for too many new orders, sent with HTTP 429
/// (<https://developers.binance.com/docs/binance-spot-api-docs/errors>).
const TOO_MANY_ORDERS: i64 = -1015;

/// What the transport needs to know of one Binance API (spot `/api/v3`, USD-M `/fapi`,
/// COIN-M `/dapi`): where it tells the server time, for the clock offset.
#[derive(Debug, Clone, Copy)]
pub(super) struct Api {
    /// `GET …/time` (`{"serverTime": ms}`), weight 1 on every Binance API.
    pub(super) time: Endpoint,
}

/// Whether a request may be sent again after a failure that leaves its outcome open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resend {
    /// A read: network errors and 5xx are retried with backoff.
    Idempotent,
    /// A request that changes state: sent once; a failure after it may have left is
    /// [`ExchangeError::UnknownOutcome`].
    Never,
}

/// How to reach the exchange. Built by [`ClientOptions::for_network`] from the config.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Scheme, host and optional port, e.g. `https://api.binance.com` or
    /// `http://127.0.0.1:8080`; `/api/v3/...` is appended.
    pub rest_url: Url,
    /// Timeout of one HTTP request, connect included.
    pub request_timeout: Duration,
    /// Extra attempts for a GET after a network error, a timeout or a 5xx.
    pub max_retries: u32,
}

impl ClientOptions {
    /// The options for `network` ([`Network::rest_url`]), with its REST URL replaced by
    /// `rest_url_override` when given, and [`DEFAULT_MAX_RETRIES`].
    ///
    /// Errors with [`ExchangeError::InvalidRequest`] when the URL is not `http` or `https`,
    /// has no host, carries credentials, a path other than `/`, a query or a fragment.
    pub fn for_network(
        network: Network,
        rest_url_override: Option<&str>,
        request_timeout: Duration,
    ) -> Result<ClientOptions, ExchangeError> {
        let text = rest_url_override.unwrap_or(network.rest_url());
        let rest_url = Url::parse(text).map_err(|e| {
            ExchangeError::InvalidRequest(format!("rest_url {text:?} is not a url: {e}"))
        })?;
        check_rest_url(&rest_url)?;
        Ok(ClientOptions {
            rest_url,
            request_timeout,
            max_retries: DEFAULT_MAX_RETRIES,
        })
    }
}

fn check_rest_url(url: &Url) -> Result<(), ExchangeError> {
    let problem = if !matches!(url.scheme(), "http" | "https") {
        Some("must start with http:// or https://")
    } else if url.host().is_none() {
        Some("has no host")
    } else if !url.username().is_empty() || url.password().is_some() {
        Some("must not contain credentials")
    } else if url.path() != "/" && !url.path().is_empty() {
        Some("must not have a path: the API's path (/api/v3/...) is appended to scheme and host")
    } else if url.query().is_some() {
        Some("must not have a query")
    } else if url.fragment().is_some() {
        Some("must not have a fragment")
    } else {
        None
    };
    match problem {
        Some(p) => Err(ExchangeError::InvalidRequest(format!(
            "rest_url {}://{} {p}",
            url.scheme(),
            url.host_str().unwrap_or("")
        ))),
        None => Ok(()),
    }
}

/// The Binance spot REST client (public market data).
///
/// Cheap to clone: clones share the connection pool, the clock offset and the weight
/// budget. All methods are safe to call concurrently.
///
/// Every request method fails with an [`ExchangeError`]: `Connectivity` once network
/// errors, timeouts or 5xx outlast [`ClientOptions::max_retries`]; `RateLimited` or
/// `Banned` on a 429 or 418, and without sending anything while that back-off or ban
/// runs; `Api` when the exchange rejects the request (never retried); `Decode` for a
/// payload that does not parse; `InvalidRequest` for a broken precondition. A request may
/// also wait (asynchronously) for the next one-minute weight window when the budget of
/// its [`Priority`] is spent, or less: until the budget changes enough to admit it (a
/// published limit, weight given back); on a [`RestClient::control`] handle it never
/// waits but fails at once with `WeightReserved` instead.
#[derive(Clone)]
pub struct RestClient {
    inner: Arc<Inner>,
    priority: Priority,
    /// Present on handles made by [`RestClient::with_credentials`].
    auth: Option<Arc<Auth>>,
}

struct Inner {
    http: reqwest::Client,
    options: ClientOptions,
    clock: Clock,
    /// Server time minus local time, ms.
    offset_ms: AtomicI64,
    /// The newest `serverTime` a time answer reported, ms (`i64::MIN` before the first).
    server_time_seen: AtomicI64,
    /// The API this client speaks to (its time endpoint).
    api: Api,
    /// Never held across an `.await`.
    gate: Mutex<WeightGate>,
    /// Woken whenever the gate's limit, usage, reservations or reserve change, so a held
    /// request is decided again at once instead of sleeping to the end of the window.
    gate_changed: tokio::sync::Notify,
    /// The newest full `exchangeInfo` and when it was read (local clock, ms).
    exchange_info: Mutex<Option<(i64, Arc<ExchangeInfo>)>>,
    /// Never held across an `.await`.
    orders: Mutex<OrderCountGate>,
}

/// What a signed handle adds: the API key header, the signer and the recvWindow.
struct Auth {
    /// `X-MBX-APIKEY`, marked sensitive so that no `Debug` of a request shows it.
    api_key: HeaderValue,
    signer: Arc<dyn Signer>,
    /// `recvWindow`, ms (1..=60000).
    recv_window_ms: u64,
}

impl Inner {
    fn gate(&self) -> MutexGuard<'_, WeightGate> {
        // The gate's methods do not panic; should one ever, its numbers are still usable.
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn orders(&self) -> MutexGuard<'_, OrderCountGate> {
        self.orders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends a reservation and wakes the held requests: the weight it gives back or the
    /// usage the exchange reported may let them go.
    fn finish(&self, ticket: Ticket, reported: Option<u32>) {
        let now = self.server_now_ms();
        self.gate().finish(ticket, now, reported);
        self.gate_changed.notify_waiters();
    }

    fn server_now_ms(&self) -> i64 {
        self.clock.now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("rest_url", &self.inner.options.rest_url.as_str())
            .field("priority", &self.priority)
            .field("signed", &self.auth.is_some())
            .finish_non_exhaustive()
    }
}

/// A successful (2xx) answer and when, by the local clock, its request left and the
/// answer arrived.
pub(super) struct Reply {
    pub(super) body: Vec<u8>,
    sent_local_ms: i64,
    received_local_ms: i64,
}

/// An answer of any status, read whole.
struct RawResponse {
    status: StatusCode,
    used_weight: Option<u32>,
    retry_after_ms: Option<u64>,
    /// `X-MBX-ORDER-COUNT-*` headers: `(interval_ms, count)`.
    order_counts: Vec<(i64, u32)>,
    body: Vec<u8>,
}

/// A weight reservation that is given back when dropped, so a cancelled request does not
/// leak in-flight weight. Without a response its weight counts as used (it may have
/// reached the exchange).
struct Reservation<'a> {
    inner: &'a Inner,
    ticket: Option<Ticket>,
}

impl Reservation<'_> {
    fn finish(mut self, reported: Option<u32>) {
        if let Some(ticket) = self.ticket.take() {
            self.inner.finish(ticket, reported);
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.inner.finish(ticket, None);
        }
    }
}

impl RestClient {
    /// A client for `options`, reading time from `clock`, at [`Priority::Interactive`].
    ///
    /// Errors with [`ExchangeError::InvalidRequest`] for a bad `rest_url` (see
    /// [`ClientOptions::for_network`]), a zero timeout, or when the HTTP client cannot be
    /// built. Installs nothing process-wide (reqwest uses rustls with aws-lc-rs).
    pub(super) fn new(
        options: ClientOptions,
        clock: Clock,
        api: Api,
    ) -> Result<RestClient, ExchangeError> {
        check_rest_url(&options.rest_url)?;
        if options.request_timeout.is_zero() {
            return Err(ExchangeError::InvalidRequest(
                "request timeout must be positive".to_string(),
            ));
        }
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout.min(MAX_CONNECT_TIMEOUT))
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            // Binance does not redirect; following one would resend signed queries.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                ExchangeError::InvalidRequest(format!(
                    "cannot build the http client: {}",
                    describe(e)
                ))
            })?;
        Ok(RestClient {
            inner: Arc::new(Inner {
                http,
                options,
                clock,
                api,
                offset_ms: AtomicI64::new(0),
                server_time_seen: AtomicI64::new(i64::MIN),
                gate: Mutex::new(WeightGate::new()),
                gate_changed: tokio::sync::Notify::new(),
                exchange_info: Mutex::new(None),
                orders: Mutex::new(OrderCountGate::default()),
            }),
            priority: Priority::Interactive,
            auth: None,
        })
    }

    /// A handle sharing this client's connection pool, clock offset, weight budget and
    /// order counts that can also make SIGNED requests: HMAC-SHA256 with
    /// `credentials.api_secret`, `X-MBX-APIKEY: credentials.api_key`, and `recvWindow =
    /// recv_window_ms` ("SIGNED Endpoint security" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security>).
    ///
    /// Errors with [`ExchangeError::InvalidRequest`] when `recv_window_ms` is not in
    /// 1..=60000 or the API key cannot be an HTTP header value (the message never shows
    /// the key).
    pub fn with_credentials(
        &self,
        credentials: &Credentials,
        recv_window_ms: u64,
    ) -> Result<RestClient, ExchangeError> {
        let signer = Arc::new(HmacSha256::new(credentials.api_secret.expose()));
        self.with_signer(&credentials.api_key, signer, recv_window_ms)
    }

    /// As [`RestClient::with_credentials`], with any [`Signer`] (an Ed25519 key, a
    /// test double).
    ///
    /// # Errors
    /// As [`RestClient::with_credentials`].
    pub fn with_signer(
        &self,
        api_key: &Secret,
        signer: Arc<dyn Signer>,
        recv_window_ms: u64,
    ) -> Result<RestClient, ExchangeError> {
        if !(1..=60_000).contains(&recv_window_ms) {
            return Err(ExchangeError::InvalidRequest(format!(
                "recvWindow {recv_window_ms} ms is out of range 1..=60000"
            )));
        }
        let mut header = HeaderValue::from_str(api_key.expose()).map_err(|_| {
            ExchangeError::InvalidRequest(
                "the api key has characters an http header cannot carry".to_string(),
            )
        })?;
        header.set_sensitive(true);
        Ok(RestClient {
            inner: Arc::clone(&self.inner),
            priority: self.priority,
            auth: Some(Arc::new(Auth {
                api_key: header,
                signer,
                recv_window_ms,
            })),
        })
    }

    /// Whether this handle can make signed requests.
    pub fn is_signed(&self) -> bool {
        self.auth.is_some()
    }

    /// The `recvWindow` of signed requests, ms; `None` on an unsigned handle.
    pub fn recv_window_ms(&self) -> Option<u64> {
        self.auth.as_ref().map(|a| a.recv_window_ms)
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.inner.options.request_timeout
    }

    /// The REST base URL requests go to.
    pub fn rest_url(&self) -> &Url {
        &self.inner.options.rest_url
    }

    /// A handle sharing this client's connection pool, clock offset and weight budget,
    /// whose requests run at [`Priority::Background`] (history backfill).
    pub fn background(&self) -> RestClient {
        RestClient {
            inner: Arc::clone(&self.inner),
            priority: Priority::Background,
            auth: self.auth.clone(),
        }
    }

    /// A handle sharing everything with this one whose requests run at
    /// [`Priority::Control`]: refused at once with [`ExchangeError::WeightReserved`], never
    /// held, when they would take weight kept for the beats.
    pub fn control(&self) -> RestClient {
        RestClient {
            inner: Arc::clone(&self.inner),
            priority: Priority::Control,
            auth: self.auth.clone(),
        }
    }

    /// Keeps `weight` of every one-minute window for the beats (see [`super::weight`]).
    pub(super) fn reserve_for_beats(&self, weight: u32) {
        self.inner.gate().set_beat_reserve(weight);
        self.inner.gate_changed.notify_waiters();
    }

    /// Counts `weight` as spent now by control work (a manual beat) if it fits the control
    /// share, before that work runs at interactive priority.
    ///
    /// # Errors
    /// [`ExchangeError::WeightReserved`] when it does not fit; `RateLimited` or `Banned`
    /// while a 429 back-off or a 418 ban runs.
    pub(super) fn prepay_control(&self, weight: u32) -> Result<(), ExchangeError> {
        let now = self.server_now_ms();
        self.inner.gate().prepay_control(now, weight)
    }

    /// `GET /api/v3/time` (weight 1): measures the clock offset as
    /// `serverTime - midpoint(local send, local receive)`, stores it for
    /// [`RestClient::server_now_ms`] and returns it, in ms (positive: the server is
    /// ahead). Binance: "Check server time" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-endpoints>.
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        self.measure_time().await.map(|(offset, _)| offset)
    }

    /// `GET /api/v3/time` (weight 1), as [`RestClient::sync_time`], returning the exchange's
    /// own `serverTime` (ms since the epoch): a moment the exchange's clock has certainly
    /// passed before any request sent after this call returns.
    ///
    /// # Errors
    /// As any request; [`ExchangeError::Decode`] for an answer without `serverTime`.
    pub async fn server_time(&self) -> Result<i64, ExchangeError> {
        self.measure_time()
            .await
            .map(|(_, server_time)| server_time)
    }

    /// The newest `serverTime` the exchange reported to this client (through
    /// [`RestClient::sync_time`] or [`RestClient::server_time`]), ms; `i64::MIN` before
    /// the first. Read before sending a request, it is a time the exchange's clock had
    /// passed when it answered that request: never an estimate from the local clock.
    pub fn server_time_seen(&self) -> i64 {
        self.inner.server_time_seen.load(Ordering::Relaxed)
    }

    /// Measures the offset; returns it and the server time of the answer.
    async fn measure_time(&self) -> Result<(i64, i64), ExchangeError> {
        let time = self.inner.api.time;
        let reply = self.get(time, &[]).await?;
        let server_time = wire::parse_server_time(&reply.body).map_err(decode(time))?;
        let round_trip_ms = reply.received_local_ms - reply.sent_local_ms;
        let offset = server_time - (reply.sent_local_ms + round_trip_ms / 2);
        self.inner.offset_ms.store(offset, Ordering::Relaxed);
        self.inner
            .server_time_seen
            .fetch_max(server_time, Ordering::Relaxed);
        tracing::debug!(offset_ms = offset, round_trip_ms, "clock offset measured");
        Ok((offset, server_time))
    }

    /// The last measured clock offset (server minus local), ms; 0 before
    /// [`RestClient::sync_time`].
    pub fn clock_offset_ms(&self) -> i64 {
        self.inner.offset_ms.load(Ordering::Relaxed)
    }

    /// The exchange's time now, as estimated: local clock plus offset, ms since the epoch.
    pub fn server_now_ms(&self) -> i64 {
        self.inner.server_now_ms()
    }

    /// Takes the one-minute `REQUEST_WEIGHT` limit as the weight budget and the `ORDERS`
    /// limits as the order-count limits ("Rate limiters" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/enums>).
    pub(super) fn adopt_limits(&self, info: &ExchangeInfo) {
        if let Some(limit) = info.request_weight_per_minute() {
            self.inner.gate().set_limit(limit);
            // A held request may fit the limit the exchange published.
            self.inner.gate_changed.notify_waiters();
        }
        let orders: Vec<(i64, u32)> = info
            .rate_limits
            .iter()
            .filter(|r| r.kind == RateLimitKind::Orders)
            .map(|r| (r.interval_ms, r.limit))
            .collect();
        if !orders.is_empty() {
            self.inner.orders().set_limits(&orders);
        }
    }

    /// Keeps `info`, a full `exchangeInfo` just read, for [`RestClient::cached_exchange_info`].
    pub(super) fn remember_exchange_info(&self, info: &ExchangeInfo) {
        let now = self.inner.clock.now_ms();
        *self
            .inner
            .exchange_info
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((now, Arc::new(info.clone())));
    }

    /// The newest full `exchangeInfo` any handle of this client read, if it was read at
    /// most `max_age_ms` ago (local clock). Sends nothing.
    pub fn cached_exchange_info(&self, max_age_ms: i64) -> Option<Arc<ExchangeInfo>> {
        let now = self.inner.clock.now_ms();
        self.inner
            .exchange_info
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|(read_at, _)| now - read_at <= max_age_ms)
            .map(|(_, info)| Arc::clone(info))
    }

    /// The `ORDERS` limits in force, `(interval_ms, limit)`: empty until an
    /// `exchangeInfo` answer published some.
    pub fn order_limits(&self) -> Vec<(i64, u32)> {
        self.inner.orders().limits()
    }

    /// The request-weight budget as last reported, in the current server-time window.
    pub fn weight(&self) -> WeightStatus {
        let now = self.server_now_ms();
        self.inner.gate().status(now)
    }

    /// The 429s (request weight) and 418s this client has seen since start.
    pub fn limits_seen(&self) -> super::weight::LimitsSeen {
        self.inner.gate().limits_seen()
    }

    /// Sends `GET endpoint?query`, with weight accounting and retries (module docs).
    pub(super) async fn get(
        &self,
        endpoint: Endpoint,
        query: &[(&str, String)],
    ) -> Result<Reply, ExchangeError> {
        let mut url = self.inner.options.rest_url.clone();
        url.set_path(endpoint.path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.execute(
            Method::GET,
            endpoint,
            || url.clone(),
            None,
            Resend::Idempotent,
        )
        .await
    }

    /// Sends a SIGNED request: `params`, then `recvWindow`, `timestamp`
    /// and `signature`, all in the query string, with the `X-MBX-APIKEY` header. GETs are
    /// retried like [`RestClient::get`] (each attempt signed afresh); other methods are
    /// sent once ([`Resend::Never`]). On `-1021` the clock offset is measured again and the
    /// request signed and sent once more. Binance: "SIGNED Endpoint security" and "Timing
    /// security" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security>.
    ///
    /// Errors with [`ExchangeError::InvalidRequest`] on a handle without credentials.
    pub(super) async fn signed(
        &self,
        method: Method,
        endpoint: Endpoint,
        params: &[(&str, String)],
    ) -> Result<Reply, ExchangeError> {
        let Some(auth) = self.auth.as_deref() else {
            return Err(ExchangeError::InvalidRequest(format!(
                "{} needs api credentials, and none are configured",
                endpoint.path
            )));
        };
        let resend = if method == Method::GET {
            Resend::Idempotent
        } else {
            Resend::Never
        };
        let mut resynced = false;
        loop {
            let build = || self.signed_url(auth, endpoint, params);
            let result = self
                .execute(method.clone(), endpoint, build, Some(&auth.api_key), resend)
                .await;
            match result {
                Err(e) if e.code() == Some(INVALID_TIMESTAMP) && !resynced => {
                    resynced = true;
                    tracing::warn!(
                        endpoint = endpoint.path,
                        offset_ms = self.clock_offset_ms(),
                        error = %e,
                        "timestamp outside the recvWindow: measuring the clock offset again and retrying once"
                    );
                    self.sync_time().await?;
                }
                other => return other,
            }
        }
    }

    /// Sends a request with the `X-MBX-APIKEY` header and no signature (USER_STREAM
    /// security: the futures listen-key endpoints), once: such requests are idempotent for
    /// the exchange (a new key is the active one), and the caller decides when to try again.
    ///
    /// Errors with [`ExchangeError::InvalidRequest`] on a handle without credentials.
    pub(super) async fn keyed(
        &self,
        method: Method,
        endpoint: Endpoint,
    ) -> Result<Reply, ExchangeError> {
        let Some(auth) = self.auth.as_deref() else {
            return Err(ExchangeError::InvalidRequest(format!(
                "{} needs an api key, and none is configured",
                endpoint.path
            )));
        };
        let mut url = self.inner.options.rest_url.clone();
        url.set_path(endpoint.path);
        self.execute(
            method,
            endpoint,
            || url.clone(),
            Some(&auth.api_key),
            Resend::Never,
        )
        .await
    }

    /// The URL of one signed attempt: a fresh `timestamp` (server time now), the
    /// percent-encoded parameters and their signature.
    fn signed_url(&self, auth: &Auth, endpoint: Endpoint, params: &[(&str, String)]) -> Url {
        let recv_window = auth.recv_window_ms.to_string();
        let timestamp = self.server_now_ms().to_string();
        let query = encode_params(params.iter().map(|(k, v)| (*k, v.as_str())).chain([
            ("recvWindow", recv_window.as_str()),
            ("timestamp", timestamp.as_str()),
        ]));
        let signature = auth.signer.sign(query.as_bytes());
        let mut url = self.inner.options.rest_url.clone();
        url.set_path(endpoint.path);
        url.set_query(Some(&format!("{query}&signature={signature}")));
        url
    }

    /// Sends `method url()` with weight and order-count accounting. With
    /// [`Resend::Idempotent`], network errors and 5xx are retried with backoff (a fresh
    /// `url()` per attempt); with [`Resend::Never`] the request is sent once, and a
    /// failure after it may have reached the exchange is
    /// [`ExchangeError::UnknownOutcome`].
    pub(super) async fn execute(
        &self,
        method: Method,
        endpoint: Endpoint,
        url: impl Fn() -> Url,
        api_key: Option<&HeaderValue>,
        resend: Resend,
    ) -> Result<Reply, ExchangeError> {
        let max_retries = match resend {
            Resend::Idempotent => self.inner.options.max_retries,
            Resend::Never => 0,
        };
        let mut delays = retry::exchange_reads(max_retries).delays();
        let mut attempt = 0;
        loop {
            let reservation = self.reserve(endpoint).await?;
            let sent_local_ms = self.inner.clock.now_ms();
            let started = tokio::time::Instant::now();
            let result = self.send(method.clone(), url(), api_key).await;
            let received_local_ms = self.inner.clock.now_ms();
            let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let failure = match result {
                Ok(response) => {
                    reservation.finish(response.used_weight);
                    if !response.order_counts.is_empty() {
                        let now = self.server_now_ms();
                        self.inner.orders().observe(now, &response.order_counts);
                    }
                    tracing::debug!(
                        method = %method,
                        endpoint = endpoint.path,
                        weight = endpoint.weight,
                        status = response.status.as_u16(),
                        latency_ms,
                        used_weight = response.used_weight,
                        attempt,
                        "request done"
                    );
                    if response.status.is_success() {
                        return Ok(Reply {
                            body: response.body,
                            sent_local_ms,
                            received_local_ms,
                        });
                    }
                    if !response.status.is_server_error() {
                        let error = self.rejected(endpoint, response);
                        return Err(match error {
                            ExchangeError::Api { code, msg, .. }
                                if resend == Resend::Never
                                    && UNKNOWN_OUTCOME_CODES.contains(&code) =>
                            {
                                ExchangeError::UnknownOutcome {
                                    endpoint: endpoint.path,
                                    detail: format!("code {code}: {}", msg.trim_end_matches('.')),
                                }
                            }
                            other => other,
                        });
                    }
                    let detail = format!(
                        "http {}: {}",
                        response.status.as_u16(),
                        body_excerpt(&response.body)
                    );
                    if resend == Resend::Never {
                        return Err(ExchangeError::UnknownOutcome {
                            endpoint: endpoint.path,
                            detail,
                        });
                    }
                    detail
                }
                Err(e) => {
                    drop(reservation);
                    // A connect error means no byte of the request left: not sent.
                    let not_sent = e.is_connect();
                    let detail = describe(e);
                    tracing::debug!(
                        method = %method,
                        endpoint = endpoint.path,
                        weight = endpoint.weight,
                        latency_ms,
                        attempt,
                        error = %detail,
                        "request failed"
                    );
                    if resend == Resend::Never && !not_sent {
                        return Err(ExchangeError::UnknownOutcome {
                            endpoint: endpoint.path,
                            detail,
                        });
                    }
                    detail
                }
            };
            let Some(delay) = delays.next() else {
                return Err(ExchangeError::Connectivity {
                    endpoint: endpoint.path,
                    detail: failure,
                });
            };
            attempt += 1;
            tracing::warn!(
                endpoint = endpoint.path,
                attempt,
                max_retries,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %failure,
                "request failed, retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Whether a new order would pass the `ORDERS` limits now, without counting it:
    /// [`ExchangeError::OrderRateLimited`] when it would not ("Unfilled Order Count" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>).
    pub fn check_order_rate(&self) -> Result<(), ExchangeError> {
        let now = self.server_now_ms();
        self.inner
            .orders()
            .would_admit(now)
            .map_err(|refusal| ExchangeError::OrderRateLimited {
                retry_after_ms: refusal.retry_after_ms,
                detail: refusal.detail,
            })
    }

    /// Counts one new order against the `ORDERS` limits, or refuses it locally with
    /// [`ExchangeError::OrderRateLimited`] (nothing is sent then).
    pub(super) fn admit_order(&self) -> Result<(), ExchangeError> {
        let now = self.server_now_ms();
        self.inner.orders().admit(now).map_err(|refusal| {
            tracing::warn!(
                retry_after_ms = refusal.retry_after_ms,
                limit = %refusal.detail,
                "order rate limit reached, order not sent"
            );
            ExchangeError::OrderRateLimited {
                retry_after_ms: refusal.retry_after_ms,
                detail: refusal.detail,
            }
        })
    }

    /// Waits until the gate admits `endpoint`'s weight at this handle's priority. A held
    /// request is decided again when its window ends and whenever the gate changes (a
    /// limit published, weight given back, usage reported, the beats' reserve moved).
    async fn reserve(&self, endpoint: Endpoint) -> Result<Reservation<'_>, ExchangeError> {
        let mut held_since: Option<i64> = None;
        loop {
            // Registered before the gate is read, so no change between the two is missed.
            let changed = self.inner.gate_changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let now = self.server_now_ms();
            let admission = self.inner.gate().admit(now, endpoint.weight, self.priority);
            match admission {
                Admission::Send(ticket) => {
                    if let Some(since) = held_since {
                        tracing::debug!(
                            endpoint = endpoint.path,
                            held_ms = now - since,
                            "held request released"
                        );
                    }
                    return Ok(Reservation {
                        inner: &self.inner,
                        ticket: Some(ticket),
                    });
                }
                Admission::Refuse(err) => {
                    tracing::debug!(endpoint = endpoint.path, error = %err, "request not sent");
                    return Err(err);
                }
                Admission::HoldUntil(until) => {
                    if held_since.is_none() {
                        held_since = Some(now);
                        self.log_hold(endpoint, until - now);
                    }
                    let local_until = until - self.clock_offset_ms();
                    tokio::select! {
                        () = self.inner.clock.sleep_until_ms(local_until) => {}
                        () = changed => {}
                    }
                }
            }
        }
    }

    /// Says why a request is held and for how long at most (`wait_ms`).
    fn log_hold(&self, endpoint: Endpoint, wait_ms: i64) {
        let status = self.weight();
        // Background work waiting for the next window is normal flow control.
        if self.priority == Priority::Interactive {
            tracing::warn!(
                endpoint = endpoint.path,
                weight = endpoint.weight,
                used = status.used,
                limit = status.limit,
                wait_ms,
                "request weight nearly spent, holding request until the next window or a change of the budget"
            );
        } else {
            tracing::info!(
                endpoint = endpoint.path,
                weight = endpoint.weight,
                used = status.used,
                limit = status.limit,
                wait_ms,
                "background share of request weight spent, holding request until the next window or a change of the budget"
            );
        }
    }

    /// One HTTP request, body read whole.
    async fn send(
        &self,
        method: Method,
        url: Url,
        api_key: Option<&HeaderValue>,
    ) -> Result<RawResponse, reqwest::Error> {
        let mut request = self.inner.http.request(method, url);
        if let Some(key) = api_key {
            request = request.header("x-mbx-apikey", key.clone());
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers();
        let used_weight = header_u64(headers, "x-mbx-used-weight-1m")
            .or_else(|| header_u64(headers, "x-mbx-used-weight"))
            .map(|w| u32::try_from(w).unwrap_or(u32::MAX));
        let retry_after_ms =
            header_u64(headers, "retry-after").map(|secs| secs.saturating_mul(1000));
        let order_counts = headers
            .iter()
            .filter_map(|(name, value)| {
                parse_order_count_header(name.as_str(), value.to_str().ok()?)
            })
            .collect();
        let body = Vec::from(response.bytes().await?);
        Ok(RawResponse {
            status,
            used_weight,
            retry_after_ms,
            order_counts,
            body,
        })
    }

    /// The error for a non-2xx, non-5xx answer; records 429 back-offs and 418 bans.
    fn rejected(&self, endpoint: Endpoint, response: RawResponse) -> ExchangeError {
        let api = wire::parse_api_error(&response.body);
        let msg = api.as_ref().map(|(_, m)| m.as_str()).unwrap_or("");
        let now = self.server_now_ms();
        match response.status {
            StatusCode::TOO_MANY_REQUESTS
                if api.as_ref().map(|(c, _)| *c) == Some(TOO_MANY_ORDERS) =>
            {
                // The account's order count, not the IP's weight: only orders wait.
                let retry_after_ms = self
                    .inner
                    .orders()
                    .too_many_orders(now, response.retry_after_ms);
                tracing::warn!(
                    endpoint = endpoint.path,
                    retry_after_ms,
                    msg,
                    "too many new orders (429 -1015): new orders wait, other requests go on"
                );
                ExchangeError::OrderRateLimited {
                    retry_after_ms,
                    detail: format!("the exchange said: {}", msg.trim_end_matches('.')),
                }
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after_ms = self.inner.gate().rate_limited(now, response.retry_after_ms);
                tracing::warn!(
                    endpoint = endpoint.path,
                    retry_after_ms,
                    msg,
                    "rate limited (429)"
                );
                ExchangeError::RateLimited { retry_after_ms }
            }
            StatusCode::IM_A_TEAPOT => {
                let until_ms = self.inner.gate().banned(
                    now,
                    response.retry_after_ms,
                    wire::banned_until_from_msg(msg),
                );
                tracing::warn!(endpoint = endpoint.path, until_ms, msg, "ip banned (418)");
                ExchangeError::Banned { until_ms }
            }
            status => match api {
                Some((code, msg)) => ExchangeError::Api {
                    endpoint: endpoint.path,
                    http_status: status.as_u16(),
                    code,
                    msg,
                },
                None => ExchangeError::Api {
                    endpoint: endpoint.path,
                    http_status: status.as_u16(),
                    code: 0,
                    msg: body_excerpt(&response.body),
                },
            },
        }
    }
}

/// Maps a payload problem to [`ExchangeError::Decode`] for `endpoint`.
pub(super) fn decode(endpoint: Endpoint) -> impl FnOnce(String) -> ExchangeError {
    move |detail| ExchangeError::Decode {
        endpoint: endpoint.path,
        detail,
    }
}

fn header_u64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The start of a body as text, for error messages: at most [`ERROR_BODY_MAX_CHARS`].
fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(ERROR_BODY_MAX_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// A reqwest error as one line, without its URL (which may carry a signed query).
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Interval, Symbol};
    use crate::exchange::spot::{KLINES_MAX_LIMIT, SpotClient, ticker_24hr};

    use std::sync::Mutex as StdMutex;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use crate::domain::MINUTE_MS;

    // 2026-11-21 12:00:00 UTC, a weight-window boundary.
    const NOON: i64 = 1_795_262_400_000;
    const KLINES_BODY: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/http_spot_market_klines.json"
    ));
    const TICKER_BODY: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/doc_ticker_24hr_response.json"
    ));
    const INFO_BODY: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/http_spot_market_exchange_info.json"
    ));

    #[test]
    fn rest_url_validation() {
        let cases = [
            (Some("http://127.0.0.1:8080"), Ok("http://127.0.0.1:8080/")),
            (Some("http://127.0.0.1:8080/"), Ok("http://127.0.0.1:8080/")),
            (
                Some("https://api1.binance.com"),
                Ok("https://api1.binance.com/"),
            ),
            (None, Ok("https://testnet.binance.vision/")),
            (Some("ftp://example.com"), Err("http:// or https://")),
            (Some("https://testnet.binance.vision/api"), Err("path")),
            (Some("https://example.com/?a=1"), Err("query")),
            (Some("https://example.com/#x"), Err("fragment")),
            (Some("https://key:secret@example.com"), Err("credentials")),
            (Some("example.com"), Err("not a url")),
            (Some("unix:/run/x.sock"), Err("http:// or https://")),
        ];
        for (input, want) in cases {
            let got = ClientOptions::for_network(Network::Testnet, input, Duration::from_secs(1));
            match (got, want) {
                (Ok(o), Ok(url)) => {
                    assert_eq!(o.rest_url.as_str(), url);
                    assert_eq!(o.max_retries, DEFAULT_MAX_RETRIES);
                }
                (Err(ExchangeError::InvalidRequest(msg)), Err(part)) => {
                    assert!(msg.contains(part), "{input:?}: {msg}");
                    assert!(!msg.contains("secret"), "{msg}");
                }
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
        let mainnet = ClientOptions::for_network(Network::Mainnet, None, Duration::from_secs(1));
        assert_eq!(
            mainnet.unwrap().rest_url.as_str(),
            "https://api.binance.com/"
        );
    }

    #[test]
    fn ticker_weights_follow_the_symbol_count() {
        for (n, weight) in [(1, 2), (20, 2), (21, 40), (100, 40), (101, 80), (3000, 80)] {
            assert_eq!(ticker_24hr(n).weight, weight, "{n} symbols");
        }
    }

    /// One canned HTTP answer.
    struct Canned {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    }

    fn answer(status: u16, body: &str) -> Canned {
        Canned {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    impl Canned {
        fn header(mut self, name: &'static str, value: impl ToString) -> Canned {
            self.headers.push((name, value.to_string()));
            self
        }
    }

    /// A loopback server answering one connection per canned response, in order, then
    /// closing its socket; returns its URL and the request lines it received.
    async fn serve(responses: Vec<Canned>) -> (Url, Arc<StdMutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let requests = Arc::new(StdMutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            for canned in responses {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.unwrap();
                    assert!(n > 0, "client closed early");
                    head.extend_from_slice(&buf[..n]);
                }
                let text = String::from_utf8_lossy(&head);
                seen.lock()
                    .unwrap()
                    .push(text.lines().next().unwrap_or("").to_string());
                let mut out = format!(
                    "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    canned.status,
                    canned.body.len()
                );
                for (name, value) in &canned.headers {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&canned.body);
                socket.write_all(out.as_bytes()).await.unwrap();
                socket.shutdown().await.unwrap();
            }
        });
        (url, requests)
    }

    fn client(url: Url) -> SpotClient {
        let options = ClientOptions {
            rest_url: url,
            request_timeout: Duration::from_secs(30),
            max_retries: DEFAULT_MAX_RETRIES,
        };
        SpotClient::new(options, Clock::virtual_from(NOON + 10_000)).unwrap()
    }

    fn btc() -> Symbol {
        "BTCUSDT".parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_5xx_is_retried_and_the_query_is_as_documented() {
        let (url, requests) = serve(vec![
            answer(503, "busy"),
            answer(200, KLINES_BODY).header("x-mbx-used-weight-1m", 4),
        ])
        .await;
        let c = client(url);
        let klines = c
            .klines(&btc(), Interval::M1, Some(1_634_943_780_000), None, 10)
            .await
            .unwrap();
        assert_eq!(klines.len(), 10);
        let requests = requests.lock().unwrap().clone();
        let line = "GET /api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=1634943780000&limit=10 HTTP/1.1";
        assert_eq!(requests, [line, line]);
        assert_eq!(c.weight().used, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn connectivity_after_retries_names_no_url() {
        let (url, requests) = serve((0..4).map(|_| answer(500, "oops")).collect()).await;
        let err = client(url).ping().await.unwrap_err();
        assert_eq!(
            err,
            ExchangeError::Connectivity {
                endpoint: "/api/v3/ping",
                detail: "http 500: oops".into()
            }
        );
        assert_eq!(requests.lock().unwrap().len(), 4);

        // Nobody listening: a network error, retried, then Connectivity without the query.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        let err = client(url)
            .klines(&btc(), Interval::H1, None, None, 5)
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        let text = err.to_string();
        assert!(
            text.starts_with("cannot reach the exchange on /api/v3/klines: "),
            "{text}"
        );
        assert!(
            !text.contains("symbol=") && !text.contains("127.0.0.1"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        // Accepts connections and never answers.
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let options = ClientOptions {
            rest_url: url,
            request_timeout: Duration::from_secs(2),
            max_retries: 1,
        };
        let c = SpotClient::new(options, Clock::virtual_from(NOON)).unwrap();
        let err = c.ping().await.unwrap_err();
        assert!(err.is_retryable());
        assert!(err.to_string().contains("timed out"), "{err}");
        // Two attempts of 2 s each, and at most one backoff of 250 ms.
        let elapsed = c.server_now_ms() - NOON;
        assert!((4_000..=4_250).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn rejections_are_api_errors_and_not_retried() {
        let (url, requests) = serve(vec![
            answer(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#),
            answer(403, "<html>Forbidden</html>"),
        ])
        .await;
        let c = client(url);
        let err = c.tickers_24hr(&[btc()]).await.unwrap_err();
        assert_eq!(err.code(), Some(-1121));
        assert!(!err.is_retryable());
        let err = c.ping().await.unwrap_err();
        assert_eq!(
            err,
            ExchangeError::Api {
                endpoint: "/api/v3/ping",
                http_status: 403,
                code: 0,
                msg: "<html>Forbidden</html>".into()
            }
        );
        assert_eq!(requests.lock().unwrap().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_truncated_body_is_a_decode_error() {
        let (url, requests) = serve(vec![answer(200, &KLINES_BODY[..500])]).await;
        let err = client(url)
            .klines(&btc(), Interval::M1, None, None, 10)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ExchangeError::Decode {
                    endpoint: "/api/v3/klines",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(requests.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_stops_requests_until_retry_after() {
        let (url, requests) = serve(vec![
            answer(
                429,
                r#"{"code":-1003,"msg":"Too much request weight used."}"#,
            )
            .header("retry-after", 7)
            .header("x-mbx-used-weight-1m", 6001),
            answer(200, "{}"),
        ])
        .await;
        let c = client(url);
        let err = c.ping().await.unwrap_err();
        assert_eq!(
            err,
            ExchangeError::RateLimited {
                retry_after_ms: 7000
            }
        );
        assert_eq!(c.weight().used, 6001);
        let err = c.background().ping().await.unwrap_err();
        assert_eq!(
            err,
            ExchangeError::RateLimited {
                retry_after_ms: 7000
            }
        );
        assert_eq!(
            requests.lock().unwrap().len(),
            1,
            "nothing sent while blocked"
        );
        // After the back-off the next window has begun too (NOON + 10 s + 7 s is in the
        // same window, but 6001 > 95 %: the ping waits for the next window and goes).
        tokio::time::advance(Duration::from_secs(7)).await;
        c.ping().await.unwrap();
        assert_eq!(requests.lock().unwrap().len(), 2);
        assert!(c.server_now_ms() >= NOON + MINUTE_MS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_418_bans_until_the_end_the_message_names() {
        let until = NOON + 3_600_000;
        let (url, requests) = serve(vec![answer(
            418,
            &format!(
                r#"{{"code":-1003,"msg":"Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live updates to avoid bans."}}"#
            ),
        )])
        .await;
        let c = client(url);
        assert_eq!(
            c.ping().await.unwrap_err(),
            ExchangeError::Banned { until_ms: until }
        );
        assert_eq!(
            c.sync_time().await.unwrap_err(),
            ExchangeError::Banned { until_ms: until }
        );
        assert_eq!(requests.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn background_requests_yield_the_budget_to_interactive_ones() {
        let (url, requests) = serve(vec![
            answer(200, "{}").header("x-mbx-used-weight-1m", 3700),
            answer(200, "{}").header("x-mbx-used-weight-1m", 3701),
            answer(200, "{}"),
        ])
        .await;
        let c = client(url);
        c.ping().await.unwrap();
        // 3700 of 6000 is above the background share: interactive still goes now …
        c.ping().await.unwrap();
        assert_eq!(c.server_now_ms(), NOON + 10_000);
        // … background waits for the next window (plus its guard).
        c.background().ping().await.unwrap();
        assert!(
            c.server_now_ms() >= NOON + MINUTE_MS,
            "{}",
            c.server_now_ms()
        );
        assert_eq!(requests.lock().unwrap().len(), 3);
        assert_eq!(c.weight().window_start_ms, NOON + MINUTE_MS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_request_goes_as_soon_as_exchange_info_raises_the_limit() {
        // exchangeInfo publishing a limit of 12000 instead of the assumed 6000.
        let info = INFO_BODY.replacen("\"limit\": 1200", "\"limit\": 12000", 1);
        assert_ne!(info, INFO_BODY);
        let (url, requests) = serve(vec![
            answer(200, "{}").header("x-mbx-used-weight-1m", 3700),
            answer(200, &info).header("x-mbx-used-weight-1m", 3720),
            answer(200, "{}"),
        ])
        .await;
        let c = client(url);
        c.ping().await.unwrap();
        // 3700 of 6000 is above the background share: the background request is held.
        let background = c.background();
        let mut held = std::pin::pin!(background.ping());
        assert!(futures::poll!(held.as_mut()).is_pending());
        assert_eq!(requests.lock().unwrap().len(), 1);
        // While it waits, exchangeInfo says the limit is 12000: 3720 is below 60 % of it.
        let arrived = tokio::time::Instant::now();
        c.exchange_info().await.unwrap();
        assert_eq!(c.weight().limit, 12000);
        held.await.unwrap();
        assert!(
            arrived.elapsed() < Duration::from_secs(1),
            "released {:?} after the limit rose",
            arrived.elapsed()
        );
        assert!(
            c.server_now_ms() < NOON + MINUTE_MS,
            "{}",
            c.server_now_ms()
        );
        assert_eq!(requests.lock().unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn time_exchange_info_and_tickers() {
        let tickers = format!("[{TICKER_BODY},{TICKER_BODY}]");
        let (url, requests) = serve(vec![
            answer(200, &format!(r#"{{"serverTime":{}}}"#, NOON + 15_250)),
            answer(200, INFO_BODY),
            answer(200, &tickers),
        ])
        .await;
        let c = client(url);
        assert_eq!(c.sync_time().await.unwrap(), 5_250);
        assert_eq!(c.clock_offset_ms(), 5_250);
        assert_eq!(c.server_now_ms(), NOON + 15_250);

        let info = c.exchange_info().await.unwrap();
        assert_eq!(info.symbols.len(), 2);
        assert_eq!(c.weight().limit, 1200);

        assert_eq!(c.tickers_24hr(&[]).await.unwrap(), vec![]);
        let eth: Symbol = "ETHUSDT".parse().unwrap();
        let got = c.tickers_24hr(&[btc(), eth]).await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            requests.lock().unwrap().clone(),
            [
                "GET /api/v3/time HTTP/1.1",
                "GET /api/v3/exchangeInfo HTTP/1.1",
                "GET /api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D&type=FULL HTTP/1.1",
            ]
        );
    }

    #[tokio::test]
    async fn preconditions_fail_without_a_request() {
        // Nothing listens on this URL; an InvalidRequest proves nothing was tried.
        let c = client(Url::parse("http://127.0.0.1:9").unwrap());
        for limit in [0, KLINES_MAX_LIMIT + 1] {
            let err = c
                .klines(&btc(), Interval::M1, None, None, limit)
                .await
                .unwrap_err();
            assert!(matches!(err, ExchangeError::InvalidRequest(_)), "{err}");
        }
        let err = c
            .klines(&btc(), Interval::M1, Some(2), Some(1), 10)
            .await
            .unwrap_err();
        assert!(matches!(err, ExchangeError::InvalidRequest(_)), "{err}");
        let bad = ClientOptions {
            rest_url: Url::parse("http://127.0.0.1:9/api").unwrap(),
            request_timeout: Duration::from_secs(1),
            max_retries: 0,
        };
        assert!(SpotClient::new(bad, Clock::system()).is_err());
    }
}
