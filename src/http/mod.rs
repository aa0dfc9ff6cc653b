//! The optional HTTP server (`[http] listen`): the control methods as REST under
//! `/api/v1` and as JSON-RPC at `POST /rpc`, `GET /health`, `GET /metrics` and the chart.
//!
//! - [`routes`]: the REST route table (route → control method), the parameter merge and
//!   the HTTP status of each control error code;
//! - [`health`]: `/health` (no token);
//! - [`metrics`]: `/metrics`, Prometheus text (no token unless `metrics_requires_token`);
//! - [`openapi`]: `/api/v1/openapi.json`, generated from the route table and, through
//!   [`params_doc`], the schemas of the methods' params types.
//!
//! One dispatcher, two transports: every method call goes through the control socket's
//! [`Dispatch`], with the same [`ControlContext`], so no method has HTTP logic of its
//! own. Requests that reach the exchange share one [`RequestRate`] for the whole HTTP
//! transport (`-32008` → 429 beyond it).
//!
//! Limits: request bodies of at most [`routes::MAX_BODY_BYTES`] (413 above), a request
//! timeout (`http.request_timeout_ms`, 408), at most `http.max_concurrent_requests`
//! served at once (the others wait within their timeout). No CORS headers unless
//! `http.cors_origins` is set. The bearer token is compared in constant time and never
//! logged.

pub mod health;
pub mod metrics;
pub mod openapi;
pub mod params_doc;
pub mod routes;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::component::Component;
use crate::config::HttpConfig;
use crate::control::protocol::{ErrorObject, Response as RpcResponse, code};
use crate::control::rate::RequestRate;
use crate::control::{ControlContext, Dispatch};
use crate::domain::Secret;

/// What every request handler shares.
pub struct AppState {
    pub(crate) ctx: Arc<ControlContext>,
    dispatch: Dispatch,
    /// The exchange-bound request rate of the whole HTTP transport.
    rate: Mutex<RequestRate>,
    token: Option<Secret>,
    /// The beat period, ms (for `/health`).
    pub(crate) period_ms: i64,
    metrics: metrics::Metrics,
    permits: Semaphore,
}

impl AppState {
    /// Runs one JSON-RPC request (bytes as on the socket) through the dispatcher.
    pub(crate) async fn call(&self, line: &[u8]) -> RpcResponse {
        self.dispatch
            .handle_line_rated_from(
                &self.ctx,
                line,
                &self.rate,
                &crate::control::ActionSource::Http,
            )
            .await
    }

    /// Whether `headers` carry `Authorization: Bearer <token>` (always, without a token
    /// configured). Constant time in the token's content.
    fn authorized(&self, request: &Request) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .unwrap_or(b"");
        bool::from(given.ct_eq(token.expose().as_bytes()))
    }
}

/// The HTTP server component: a bound listener and its router.
pub struct HttpServer {
    listener: TcpListener,
    router: Router,
    addr: SocketAddr,
}

impl HttpServer {
    /// Binds `config.listen` and builds the routes over `ctx`. `token` is
    /// [`HttpConfig::token`]; `period_ms` the beat period.
    ///
    /// # Errors
    /// No `listen` configured, the address cannot be bound, or the database cannot be read
    /// (for the metrics' starting point).
    pub async fn bind(
        config: &HttpConfig,
        token: Option<Secret>,
        ctx: Arc<ControlContext>,
        period_ms: i64,
    ) -> io::Result<HttpServer> {
        let listen = config
            .listen
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "http.listen is not set"))?;
        let watermark = ctx
            .store
            .run(|s| s.beat_watermark())
            .await
            .map_err(io::Error::other)?;
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState {
            ctx,
            dispatch: Dispatch::new(),
            rate: Mutex::new(RequestRate::exchange_default()),
            token,
            period_ms,
            metrics: metrics::Metrics::new(watermark),
            permits: Semaphore::new(config.max_concurrent_requests),
        });
        let router = router(config, state);
        Ok(HttpServer {
            listener,
            router,
            addr,
        })
    }

    /// The address bound (the port chosen when `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// How long the server waits for requests in flight at shutdown.
const DRAIN: Duration = Duration::from_secs(2);

impl Component for HttpServer {
    fn name(&self) -> &'static str {
        "http"
    }

    fn drain_deadline(&self) -> Duration {
        DRAIN + Duration::from_secs(1)
    }

    async fn run(self, shutdown: CancellationToken) {
        tracing::info!(target: "tradebeat::http", addr = %self.addr, "http server listening");
        let serve = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await });
        if let Err(e) = serve.await {
            tracing::error!(target: "tradebeat::http", error = %e, "http server failed");
        }
    }
}

/// The whole router with its limits.
fn router(config: &HttpConfig, state: Arc<AppState>) -> Router {
    let authed = |router: Router| {
        router.route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_token,
        ))
    };
    let api = routes::rest_router(Arc::clone(&state)).route("/openapi.json", get(openapi_json));
    let rpc = Router::new()
        .route("/rpc", axum::routing::post(routes::rpc))
        .with_state(Arc::clone(&state));
    let mut metrics_route = Router::new()
        .route("/metrics", get(metrics_text))
        .with_state(Arc::clone(&state));
    if config.metrics_requires_token {
        metrics_route = authed(metrics_route);
    }
    let mut chart_route = Router::new()
        .route("/chart", get(chart_page))
        .with_state(Arc::clone(&state));
    if config.chart_requires_token {
        chart_route = authed(chart_route);
    }
    let health_route = Router::new()
        .route("/health", get(health::health))
        .with_state(Arc::clone(&state));
    let mut app = Router::new()
        .nest("/api/v1", authed(api))
        .merge(authed(rpc))
        .merge(metrics_route)
        .merge(chart_route)
        .merge(health_route)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            limit_concurrency,
        ))
        .layer(DefaultBodyLimit::max(routes::MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(routes::MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(config.request_timeout_ms),
        ));
    if !config.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
            .collect();
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    app
}

/// 401 unless the request carries the bearer token.
async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.authorized(&request) {
        return next.run(request).await;
    }
    let mut response = routes::error_response_with(
        StatusCode::UNAUTHORIZED,
        ErrorObject::new(
            code::INVALID_REQUEST,
            "missing or wrong bearer token (Authorization: Bearer <token>)",
        ),
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// At most `max_concurrent_requests` requests are served at once; the others wait for a
/// slot (within the request timeout).
async fn limit_concurrency(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    match state.permits.acquire().await {
        Ok(_permit) => next.run(request).await,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn not_found() -> Response {
    routes::error_response_with(
        StatusCode::NOT_FOUND,
        ErrorObject::new(
            code::METHOD_NOT_FOUND,
            "no such route; see /api/v1/openapi.json",
        ),
    )
}

async fn openapi_json() -> Response {
    match openapi::document().to_json() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => routes::error_response(ErrorObject::internal(format!(
            "the OpenAPI document could not be encoded: {e}"
        ))),
    }
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    match state.metrics.render(&state.ctx).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => routes::error_response(ErrorObject::internal(format!(
            "metrics could not be read: {e}"
        ))),
    }
}

/// The dispatcher as the chart's [`Caller`](crate::chart::Caller).
struct DispatchCaller<'a>(&'a AppState);

impl crate::chart::Caller for DispatchCaller<'_> {
    async fn call(
        &mut self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, ErrorObject> {
        let request =
            serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response = self.0.call(request.to_string().as_bytes()).await;
        match response.error {
            Some(error) => Err(error),
            None => Ok(response.result.unwrap_or_default()),
        }
    }
}

/// `GET /chart?interval=1h&days=30`: the self-contained chart page.
async fn chart_page(
    State(state): State<Arc<AppState>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let mut interval = None;
    let mut days = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "interval" => interval = Some(value.into_owned()),
            "days" => match value.parse::<u32>() {
                Ok(d) => days = Some(d),
                Err(_) => {
                    return routes::error_response(ErrorObject::invalid_param(
                        "days",
                        format_args!("{value:?} is not a number of days"),
                    ));
                }
            },
            other => {
                return routes::error_response(ErrorObject::invalid_param(
                    other,
                    "is not a parameter of /chart (interval, days)",
                ));
            }
        }
    }
    let spec = match crate::chart::ChartSpec::new(interval.as_deref(), days) {
        Ok(spec) => spec,
        Err(e) => return routes::error_response(e),
    };
    let now = state.ctx.clock.now_ms();
    match crate::chart::collect(&mut DispatchCaller(&state), spec, now).await {
        Ok(series) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            crate::chart::html(&series, spec),
        )
            .into_response(),
        Err(e) => routes::error_response(e),
    }
}
