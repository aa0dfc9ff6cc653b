//! The REST routes under `/api/v1` and `POST /rpc`: each route names a control method,
//! and every call goes through the socket's [`Dispatch`](crate::control::Dispatch), so no
//! method has logic of its own here. Adding a route for a new method is one line in
//! [`ROUTES`].
//!
//! A route's parameters are its query string, its path segments and (for `POST`) its JSON
//! body object, merged into the method's `params`; a key given twice is refused.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use crate::control::protocol::{ErrorObject, code};

/// One REST route: the HTTP method and path (axum syntax, `{name}` for a segment), the
/// control method it calls, and what it does (for the OpenAPI document).
#[derive(Debug, Clone, Copy)]
pub struct RestRoute {
    pub method: HttpMethod,
    /// Under `/api/v1`.
    pub path: &'static str,
    /// The control method's name (`"symbol.list"`).
    pub rpc: &'static str,
    pub summary: &'static str,
}

/// The HTTP methods the REST routes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Delete,
}

impl HttpMethod {
    /// `"get"`, `"post"`, `"delete"`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "get",
            HttpMethod::Post => "post",
            HttpMethod::Delete => "delete",
        }
    }

    fn http(self) -> Method {
        match self {
            HttpMethod::Get => Method::GET,
            HttpMethod::Post => Method::POST,
            HttpMethod::Delete => Method::DELETE,
        }
    }
}

const fn route(
    method: HttpMethod,
    path: &'static str,
    rpc: &'static str,
    summary: &'static str,
) -> RestRoute {
    RestRoute {
        method,
        path,
        rpc,
        summary,
    }
}

use HttpMethod::{Delete, Get, Post};

/// Every REST route. A route whose method this daemon does not serve (yet) answers what
/// the socket answers for it, as HTTP 501.
pub const ROUTES: &[RestRoute] = &[
    route(Get, "/status", "status", "The daemon's state at a glance"),
    route(Get, "/symbols", "symbol.list", "The registered symbols"),
    route(
        Post,
        "/symbols",
        "symbol.add",
        "Register a symbol (JSON body: symbol, market, intervals, backfill_days)",
    ),
    route(
        Delete,
        "/symbols/{symbol}",
        "symbol.remove",
        "Stop following a symbol (query: market); its data stay",
    ),
    route(
        Get,
        "/klines",
        "kline.list",
        "Stored candles (query: symbol, interval, market, start, end, limit)",
    ),
    route(
        Get,
        "/orders",
        "order.list",
        "Stored orders (query: symbol, open, limit, market)",
    ),
    route(
        Post,
        "/orders",
        "order.place",
        "Place an order (JSON body as order.place)",
    ),
    route(
        Get,
        "/orders/{client_order_id}",
        "order.get",
        "One order by client order id (query: symbol, market)",
    ),
    route(
        Delete,
        "/orders/{client_order_id}",
        "order.cancel",
        "Cancel an order by client order id (query: symbol, market)",
    ),
    route(
        Get,
        "/balances",
        "balance.list",
        "Account balances (query: asset)",
    ),
    route(
        Post,
        "/sync",
        "sync.now",
        "Run a beat now (JSON body: symbol)",
    ),
    route(
        Post,
        "/backfill",
        "backfill.start",
        "Start a history backfill (JSON body: symbol, interval, from, market)",
    ),
    route(
        Get,
        "/backfill",
        "backfill.wait",
        "Wait for a symbol's backfill to end (query: symbol, market, timeout_ms)",
    ),
    route(
        Delete,
        "/orders",
        "order.cancel_all",
        "Cancel every open order of a symbol (query: symbol, market)",
    ),
    route(
        Post,
        "/order-test",
        "order.test",
        "Check an order locally and with the exchange's test endpoint; nothing placed",
    ),
    route(
        Get,
        "/tickers/{symbol}",
        "ticker.get",
        "The live 24 h ticker from the exchange (query: market)",
    ),
    route(
        Get,
        "/markets/{symbol}",
        "market.get",
        "A symbol's trading rules (query: market)",
    ),
    route(
        Get,
        "/trades",
        "trade.list",
        "Your fills (query: symbol, market, start, end, limit)",
    ),
    route(
        Get,
        "/positions",
        "position.list",
        "Futures positions, refreshed from the exchange (query: market, symbol, all)",
    ),
    route(Get, "/pnl", "pnl.list", "Profit and loss"),
    route(
        Get,
        "/mark-prices",
        "mark_price.list",
        "Futures mark prices",
    ),
    route(
        Get,
        "/open-interest",
        "open_interest.list",
        "Futures open interest",
    ),
    route(
        Get,
        "/funding-rates",
        "funding_rate.list",
        "Futures funding rates",
    ),
    route(Get, "/strategies", "strategy.list", "Strategies"),
    route(Post, "/strategies", "strategy.add", "Add a strategy"),
    route(
        Get,
        "/trade-strategies",
        "trade_strategy.list",
        "Trading strategies",
    ),
    route(
        Post,
        "/trade-strategies",
        "trade_strategy.add",
        "Add a trading strategy",
    ),
    route(
        Post,
        "/strategies/{strategy}",
        "strategy.update",
        "Change a strategy (JSON body: name, command, timeout_ms)",
    ),
    route(
        Delete,
        "/strategies/{strategy}",
        "strategy.remove",
        "Remove a strategy (soft: its rows stay)",
    ),
    route(
        Delete,
        "/trade-strategies/{id}",
        "trade_strategy.remove",
        "Detach a strategy (soft: its rows stay)",
    ),
    route(Get, "/actions", "action.list", "The action log"),
    route(
        Get,
        "/watchlist",
        "watchlist.list",
        "Watched symbols (query: market)",
    ),
    route(
        Post,
        "/watchlist",
        "watchlist.add",
        "Watch a symbol: tickers only",
    ),
    route(
        Delete,
        "/watchlist/{symbol}",
        "watchlist.remove",
        "Stop watching a symbol (query: market)",
    ),
    route(
        Post,
        "/leverage",
        "leverage.set",
        "Set a futures symbol's leverage (JSON body: symbol, market, leverage)",
    ),
    route(
        Post,
        "/margin-type",
        "margin_type.set",
        "Set a futures symbol's margin type (JSON body: symbol, market, margin_type)",
    ),
    route(
        Get,
        "/strategy-runs",
        "strategy_run.list",
        "Strategy runs, newest first (query: strategy, symbol, market, outcome, start, end, limit)",
    ),
];

/// The largest request body, in bytes (1 MiB); larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The HTTP status of a control error code: 400 invalid params or request, 404 unknown
/// symbol or order, 409 conflict (already registered, not trading, no credentials), 429
/// this transport's request rate, 503 the exchange's limits or outage, 502 an exchange
/// rejection, 504 an order whose outcome is unknown, 501 a method not served, 500 the
/// daemon's own failure (and any code this table does not know).
pub fn status_of(error_code: i64) -> StatusCode {
    match error_code {
        code::PARSE_ERROR | code::INVALID_REQUEST | code::INVALID_PARAMS => StatusCode::BAD_REQUEST,
        code::UNKNOWN_SYMBOL | code::NOT_FOUND => StatusCode::NOT_FOUND,
        code::ALREADY_REGISTERED | code::SYMBOL_NOT_TRADING | code::NO_CREDENTIALS => {
            StatusCode::CONFLICT
        }
        code::SERVER_BUSY => StatusCode::TOO_MANY_REQUESTS,
        code::EXCHANGE_UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        code::EXCHANGE_REJECTED => StatusCode::BAD_GATEWAY,
        code::ORDER_OUTCOME_UNKNOWN => StatusCode::GATEWAY_TIMEOUT,
        code::METHOD_NOT_FOUND | code::NOT_AVAILABLE => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error answer: `{"error": {code, message, data}}` with the status of its code, and
/// `Retry-After` (whole seconds, rounded up) when `data.retry_after_ms` says when.
pub fn error_response(error: ErrorObject) -> Response {
    error_response_with(status_of(error.code), error)
}

/// [`error_response`] with a status chosen by the caller.
pub fn error_response_with(status: StatusCode, error: ErrorObject) -> Response {
    let retry_after = error
        .data
        .as_ref()
        .and_then(|d| d.get("retry_after_ms"))
        .and_then(Value::as_u64);
    let mut response = (status, axum::Json(json!({ "error": error }))).into_response();
    if let Some(ms) = retry_after
        && let Ok(value) = HeaderValue::from_str(&ms.div_ceil(1000).to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The router of [`ROUTES`], each path with its methods (405 for another one).
pub fn rest_router(state: Arc<AppState>) -> axum::Router {
    let mut router = axum::Router::new();
    let mut paths: Vec<&'static str> = Vec::new();
    for r in ROUTES {
        if !paths.contains(&r.path) {
            paths.push(r.path);
        }
    }
    for path in paths {
        let mut method_router = axum::routing::MethodRouter::new();
        for r in ROUTES.iter().filter(|r| r.path == path) {
            let rpc = r.rpc;
            let filter = axum::routing::MethodFilter::try_from(r.method.http())
                .unwrap_or(axum::routing::MethodFilter::GET);
            method_router = method_router.on(
                filter,
                move |State(state): State<Arc<AppState>>,
                      Path(segments): Path<Vec<(String, String)>>,
                      RawQuery(query): RawQuery,
                      body: Bytes| async move {
                    call_rest(&state, rpc, segments, query.as_deref(), &body).await
                },
            );
        }
        router = router.route(path, method_router.fallback(method_not_allowed));
    }
    router.with_state(state)
}

async fn method_not_allowed() -> Response {
    error_response_with(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorObject::new(code::INVALID_REQUEST, "method not allowed on this route"),
    )
}

/// Builds the params of a REST call and runs it through the dispatcher.
async fn call_rest(
    state: &AppState,
    rpc: &str,
    segments: Vec<(String, String)>,
    query: Option<&str>,
    body: &[u8],
) -> Response {
    let params = match rest_params(segments, query, body) {
        Ok(params) => params,
        Err(error) => return error_response(error),
    };
    let request = json!({ "jsonrpc": "2.0", "id": 1, "method": rpc, "params": params });
    let line = request.to_string();
    let response = state.call(line.as_bytes()).await;
    match (response.result, response.error) {
        (_, Some(error)) => error_response(error),
        (Some(result), None) => axum::Json(result).into_response(),
        (None, None) => axum::Json(Value::Null).into_response(),
    }
}

/// Merges the JSON body (an object, or nothing), the query string and the path segments
/// into one params object. Query values that read as integers or booleans become
/// numbers or booleans (`limit=10`, `open=true`); path segments stay strings.
fn rest_params(
    segments: Vec<(String, String)>,
    query: Option<&str>,
    body: &[u8],
) -> Result<Value, ErrorObject> {
    let mut params = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(ErrorObject::new(
                    code::INVALID_PARAMS,
                    "the request body must be a JSON object of the method's params",
                ));
            }
            Err(e) => {
                return Err(ErrorObject::new(
                    code::PARSE_ERROR,
                    format!("the request body is not valid JSON: {e}"),
                ));
            }
        }
    };
    let mut insert = |key: String, value: Value| {
        if params.contains_key(&key) {
            return Err(ErrorObject::invalid_param(
                &key,
                "is given twice (body, query or path)",
            ));
        }
        params.insert(key, value);
        Ok(())
    };
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let value = match value.as_ref() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            v => v
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(v.to_string())),
        };
        insert(key.into_owned(), value)?;
    }
    for (key, value) in segments {
        insert(key, Value::String(value))?;
    }
    Ok(Value::Object(params))
}

/// `POST /rpc`: the body is one JSON-RPC request, as on the socket; the answer is the
/// socket's response object. 200, or 400 when the body is no request at all (not JSON,
/// not a request object).
pub async fn rpc(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let response = state.call(&body).await;
    let status = match &response.error {
        Some(e) if e.code == code::PARSE_ERROR || e.code == code::INVALID_REQUEST => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::OK,
    };
    (status, axum::Json(response)).into_response()
}

/// The control methods the REST routes name, for tests: each is a method of the protocol
/// or one a later release serves.
pub fn route_methods() -> Vec<&'static str> {
    ROUTES.iter().map(|r| r.rpc).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol;

    #[test]
    fn every_served_method_but_none_has_a_route() {
        for method in protocol::METHODS {
            if method == <protocol::Subscribe as protocol::Method>::NAME {
                // A subscription needs a connection that stays open: socket only.
                continue;
            }
            assert!(
                route_methods().contains(&method),
                "control method {method} has no REST route"
            );
        }
    }

    #[test]
    fn the_error_mapping_table() {
        let table = [
            (code::PARSE_ERROR, 400),
            (code::INVALID_REQUEST, 400),
            (code::INVALID_PARAMS, 400),
            (code::UNKNOWN_SYMBOL, 404),
            (code::NOT_FOUND, 404),
            (code::ALREADY_REGISTERED, 409),
            (code::SYMBOL_NOT_TRADING, 409),
            (code::NO_CREDENTIALS, 409),
            (code::SERVER_BUSY, 429),
            (code::EXCHANGE_UNAVAILABLE, 503),
            (code::EXCHANGE_REJECTED, 502),
            (code::ORDER_OUTCOME_UNKNOWN, 504),
            (code::METHOD_NOT_FOUND, 501),
            (code::NOT_AVAILABLE, 501),
            (code::INTERNAL_ERROR, 500),
            (-31999, 500),
        ];
        for (c, status) in table {
            assert_eq!(status_of(c).as_u16(), status, "code {c}");
        }
    }

    #[test]
    fn params_merge_body_query_and_path_and_refuse_a_key_twice() {
        let params = rest_params(
            vec![("symbol".into(), "BTCUSDT".into())],
            Some("limit=5&open=true&market=spot"),
            b"",
        )
        .unwrap();
        assert_eq!(
            params,
            json!({"symbol": "BTCUSDT", "limit": 5, "open": true, "market": "spot"})
        );
        let body = rest_params(vec![], None, br#"{"symbol":"ETHUSDT"}"#).unwrap();
        assert_eq!(body, json!({"symbol": "ETHUSDT"}));
        let twice = rest_params(vec![], Some("symbol=A"), br#"{"symbol":"B"}"#).unwrap_err();
        assert_eq!(twice.code, code::INVALID_PARAMS);
        assert_eq!(
            rest_params(vec![], None, b"{not json").unwrap_err().code,
            code::PARSE_ERROR
        );
        assert_eq!(
            rest_params(vec![], None, b"[1]").unwrap_err().code,
            code::INVALID_PARAMS
        );
    }
}
