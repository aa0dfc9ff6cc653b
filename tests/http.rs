//! The HTTP server against a daemon on the simulator: every REST route with and without
//! the token, the error mapping, the limits, `POST /rpc`, the OpenAPI document, `/health`
//! flipping with the exchange, and `/metrics` moving with beats and orders.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use exchange_sim::{SimHandle, TEST_API_KEY, TEST_API_SECRET};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tradebeat::domain::{OrderRequest, OrderType, Secret, Side, TimeInForce};
use tradebeat::http::routes::{HttpMethod, ROUTES};

const TOKEN: &str = "test-token-9f8e7d6c5b4a";

struct Running {
    sim: SimHandle,
    dir: TempDir,
    daemon: common::InProcess,
    base: String,
    http: Client,
}

/// A free loopback port (bound, then released for the daemon).
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

impl Running {
    async fn start() -> Running {
        Running::start_with(|_| {}).await
    }

    async fn start_with(adjust: impl FnOnce(&mut tradebeat::config::Config)) -> Running {
        let sim = common::sim().await;
        sim.set_order_types("BTCUSDT", &["LIMIT", "MARKET"]);
        sim.set_order_price("BTCUSDT", Some("65000.00"));
        let dir = common::tempdir();
        let mut config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
        config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
        config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
        let addr = free_addr();
        config.http.listen = Some(addr);
        config.http.token = Some(Secret::new(TOKEN));
        adjust(&mut config);
        let daemon = common::InProcess::start(config);
        let running = Running {
            sim,
            dir,
            daemon,
            base: format!("http://{addr}"),
            http: Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        };
        let db = running.daemon.db.clone();
        common::wait_until("a beat", Duration::from_secs(20), || {
            common::heartbeat_count(&db) >= 1
        })
        .await;
        running
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, String) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, text) = self
            .send(
                method,
                path,
                Some(TOKEN),
                body.map(|b| b.to_string().into_bytes()),
            )
            .await;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
        (status, value)
    }
}

fn http_method(m: HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Delete => Method::DELETE,
    }
}

fn concrete(path: &str) -> String {
    path.replace("{symbol}", "ETHUSDT")
        .replace("{client_order_id}", "no-such-order")
}

fn error_code(body: &Value) -> i64 {
    body["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("an error body: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_routes_token_errors_limits_rpc_and_openapi() {
    let d = Running::start().await;

    // Every route: 401 without the token or with a wrong one, never 401 with it.
    for r in ROUTES {
        let path = format!("/api/v1{}", concrete(r.path));
        let m = http_method(r.method);
        let (status, body) = d.send(m.clone(), &path, None, None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} without token: {body}"
        );
        assert_eq!(error_code(&serde_json::from_str(&body).unwrap()), -32600);
        let (status, _) = d.send(m.clone(), &path, Some("wrong-token"), None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} with a wrong token"
        );
        let (status, body) = d.send(m, &path, Some(TOKEN), None).await;
        assert_ne!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} with the token: {body}"
        );
        let body: Value = serde_json::from_str(&body).expect("a JSON answer");
        if status != StatusCode::OK {
            assert!(body["error"]["message"].is_string(), "{path}: {body}");
        }
    }

    // Served methods answer their results.
    let (status, body) = d.json(Method::GET, "/api/v1/status", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], tradebeat::VERSION);
    let (status, body) = d.json(Method::GET, "/api/v1/symbols", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["symbol"], "BTCUSDT", "{body}");
    let (status, body) = d
        .json(
            Method::GET,
            "/api/v1/klines?symbol=BTCUSDT&interval=1m&limit=2",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.as_array().is_some_and(|k| k.len() <= 2), "{body}");

    // The error mapping, with the socket's codes.
    let cases: [(Method, &str, Option<Value>, StatusCode, i64); 6] = [
        (
            Method::GET,
            "/api/v1/klines?symbol=BTCUSDT",
            None,
            StatusCode::BAD_REQUEST,
            -32602,
        ),
        (
            Method::POST,
            "/api/v1/symbols",
            Some(json!({"symbol": "NOPEUSDT"})),
            StatusCode::NOT_FOUND,
            -32001,
        ),
        (
            Method::POST,
            "/api/v1/symbols",
            Some(json!({"symbol": "BTCUSDT"})),
            StatusCode::CONFLICT,
            -32003,
        ),
        (
            Method::GET,
            "/api/v1/orders/no-such-order?symbol=BTCUSDT",
            None,
            StatusCode::NOT_FOUND,
            -32004,
        ),
        (
            Method::GET,
            "/api/v1/positions?market=spot",
            None,
            StatusCode::BAD_REQUEST,
            -32602,
        ),
        (
            Method::GET,
            "/api/v1/status?verbose=1",
            None,
            StatusCode::BAD_REQUEST,
            -32602,
        ),
    ];
    for (m, path, body, want, code) in cases {
        let (status, answer) = d.json(m, path, body).await;
        assert_eq!(status, want, "{path}: {answer}");
        assert_eq!(error_code(&answer), code, "{path}: {answer}");
    }
    // Malformed JSON, unknown route, wrong method, oversized body.
    let (status, body) = d
        .send(
            Method::POST,
            "/api/v1/symbols",
            Some(TOKEN),
            Some(b"{not json".to_vec()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&serde_json::from_str(&body).unwrap()), -32700);
    let (status, _) = d
        .send(Method::GET, "/api/v1/nothing-here", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = d.send(Method::GET, "/nothing", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = d
        .send(Method::PUT, "/api/v1/status", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // A body over 1 MiB: 413. Sent raw, since the server may answer (and close) before
    // the whole body is written, which a client library reports as a broken pipe.
    {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let addr = d.base.trim_start_matches("http://").to_string();
        let mut big = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /api/v1/sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            1024 * 1024 + 1
        );
        big.write_all(head.as_bytes()).await.unwrap();
        // As much of the body as the server takes; it may stop reading at any point.
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            big.write_all(&vec![b' '; 1024 * 1024 + 1]),
        )
        .await;
        let mut answer = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(10), big.read(&mut answer))
            .await
            .expect("answered within 10 s")
            .unwrap();
        let head = String::from_utf8_lossy(&answer[..n]);
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    }

    // POST /rpc: the socket's objects as they are.
    let request = json!({"jsonrpc": "2.0", "id": 7, "method": "status"}).to_string();
    let (status, _) = d
        .send(
            Method::POST,
            "/rpc",
            None,
            Some(request.clone().into_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = d
        .send(
            Method::POST,
            "/rpc",
            Some(TOKEN),
            Some(request.into_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["id"], 7);
    assert_eq!(body["result"]["version"], tradebeat::VERSION);
    let (status, body) = d
        .send(Method::POST, "/rpc", Some(TOKEN), Some(b"{]".to_vec()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -32700
    );

    // The OpenAPI document lists every route with its method.
    let (status, doc) = d.json(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for r in ROUTES {
        let path = format!("/api/v1{}", r.path);
        assert!(
            doc["paths"][&path][r.method.as_str()].is_object(),
            "{} {path} missing from the OpenAPI document",
            r.method.as_str()
        );
    }
    for path in ["/rpc", "/health", "/metrics", "/chart"] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }

    // No CORS headers unless configured.
    let response = d
        .http
        .get(format!("{}/api/v1/status", d.base))
        .bearer_auth(TOKEN)
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        response.headers()
    );

    // /health needs no token.
    let (status, body) = d.send(Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["markets"]["spot"]["following"], 1);

    d.daemon.stop().await;
    // The token is in no log line.
    for entry in std::fs::read_dir(d.dir.path().join("logs"))
        .into_iter()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(!text.contains(TOKEN), "the token is in a log file");
    }
    drop(d.sim);
}

/// Sum of a counter's samples whose labels contain every `(name, value)` of `labels`.
fn sample_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_with_beats_and_orders() {
    let d = Running::start().await;
    let (status, first) = d.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let beats_before = sample_sum(&first, "tradebeat_beats_total", &[]);
    assert!(
        sample_sum(
            &first,
            "tradebeat_request_weight_limit",
            &[("market", "spot")]
        ) > 0.0,
        "{first}"
    );
    assert_eq!(
        sample_sum(&first, "tradebeat_orders", &[("status", "NEW")]),
        0.0
    );
    for name in [
        "tradebeat_beat_start_lag_seconds_count",
        "tradebeat_beat_duration_seconds_count",
        "tradebeat_klines_written_total",
        "tradebeat_exchange_429_total",
        "tradebeat_exchange_418_total",
        "tradebeat_user_stream_reconnects_total",
    ] {
        assert!(first.contains(name), "{name} missing:\n{first}");
    }
    assert!(
        first.contains("tradebeat_backfill_jobs{state=\"running\"}")
            || first.contains("tradebeat_backfill_jobs{state=\"done\"}"),
        "{first}"
    );

    // A resting LIMIT order placed over REST.
    let mut order = OrderRequest::new("BTCUSDT".parse().unwrap(), Side::Buy, OrderType::Limit);
    order.quantity = Some("0.001".parse().unwrap());
    order.price = Some("60000".parse().unwrap());
    order.time_in_force = Some(TimeInForce::Gtc);
    order.client_order_id = Some("http-limit-1".parse().unwrap());
    let (status, placed) = d
        .json(
            Method::POST,
            "/api/v1/orders",
            Some(serde_json::to_value(&order).unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    assert_eq!(placed["status"], "NEW");
    let (status, got) = d
        .json(
            Method::GET,
            "/api/v1/orders/http-limit-1?symbol=BTCUSDT",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["client_order_id"], "http-limit-1");

    // Strategy runs by outcome: three runs stored (as the runner records them).
    assert_eq!(sample_sum(&first, "tradebeat_strategy_runs", &[]), 0.0);
    {
        // Removed (deleted_at set): the runner starts no run of its own meanwhile.
        let db = rusqlite::Connection::open(&d.daemon.db).unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        db.execute_batch(
            "INSERT INTO strategies (id, name, slug, command, timeout_ms, created_at,
                     updated_at, deleted_at)
                 VALUES (90, 'metrics', 'metrics', 'true', 1000, 0, 0, 1);
             INSERT INTO trade_strategies (id, strategy_id, market, symbol, interval,
                     created_at, updated_at, deleted_at)
                 VALUES (91, 90, 'spot', 'BTCUSDT', '1m', 0, 0, 1);
             INSERT INTO strategy_runs (trade_strategy_id, beat_time, candle_open_time,
                     started_at, duration_ms, outcome)
                 VALUES (91, 1, 0, 1, 5, 'ok'), (91, 2, 0, 2, 5, 'ok'),
                        (91, 3, 0, 3, 1000, 'timeout');",
        )
        .expect("runs stored");
    }

    // Beats go on: the counters move.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, text) = d.send(Method::GET, "/metrics", None, None).await;
        let beats = sample_sum(&text, "tradebeat_beats_total", &[]);
        let new_orders = sample_sum(&text, "tradebeat_orders", &[("status", "NEW")]);
        if beats > beats_before && new_orders == 1.0 {
            let runs =
                |outcome| sample_sum(&text, "tradebeat_strategy_runs", &[("outcome", outcome)]);
            assert_eq!((runs("ok"), runs("timeout")), (2.0, 1.0), "{text}");
            assert!(sample_sum(&text, "tradebeat_beat_duration_seconds_count", &[]) >= beats - 0.5);
            break;
        }
        assert!(Instant::now() < deadline, "metrics did not move:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    d.daemon.stop().await;
    drop(d.sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_turns_503_while_the_exchange_is_unreachable_and_back() {
    let d = Running::start().await;
    let health = || async {
        let (status, body) = d.send(Method::GET, "/health", None, None).await;
        (status, serde_json::from_str::<Value>(&body).unwrap())
    };
    let (status, body) = health().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["max_age_ms"], 4000);

    d.sim.set_unavailable(true);
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, body) = health().await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break body;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(Instant::now() < deadline, "still healthy: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(body["status"], "unhealthy");
    assert!(
        body["reason"].as_str().unwrap().contains("last beat"),
        "{body}"
    );
    assert_eq!(body["database"], "ok");

    d.sim.set_unavailable(false);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = health().await;
        if status == StatusCode::OK {
            assert_eq!(body["status"], "ok");
            break;
        }
        assert!(Instant::now() < deadline, "still unhealthy: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    d.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_time_out_and_a_crowd_is_served_while_beats_go_on() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let d = Running::start_with(|c| {
        c.http.request_timeout_ms = 500;
        c.http.max_concurrent_requests = 8;
        c.http.cors_origins = vec!["https://dashboard.example".to_string()];
    })
    .await;
    let addr = d.base.trim_start_matches("http://").to_string();

    // A configured CORS origin is allowed, another one is not.
    for (origin, allowed) in [
        ("https://dashboard.example", true),
        ("https://elsewhere.example", false),
    ] {
        let response = d
            .http
            .get(format!("{}/health", d.base))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        let header = response.headers().get("access-control-allow-origin");
        assert_eq!(
            header.and_then(|h| h.to_str().ok()),
            allowed.then_some(origin),
            "{origin}"
        );
    }

    // A client that announces a body and never sends it gets 408 once the timeout passes.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(
        format!(
            "POST /api/v1/sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut answer))
        .await
        .expect("answered within 10 s")
        .unwrap();
    let head = String::from_utf8_lossy(&answer[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");

    // 200 clients at once, 8 served at a time: every one gets its answer.
    let beats_before = common::heartbeat_count(&d.daemon.db);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let http = Client::new();
        let url = format!("{}/health", d.base);
        tasks.push(tokio::spawn(async move {
            http.get(url).send().await.map(|r| r.status())
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(status) if status == StatusCode::OK => ok += 1,
            // Refused cleanly: a 408 for one that waited too long for its turn.
            Ok(status) => assert_eq!(status, StatusCode::REQUEST_TIMEOUT),
            Err(e) => panic!("a client got no answer: {e}"),
        }
    }
    assert!(ok > 0, "none served");
    // The beats went on.
    let db = d.daemon.db.clone();
    common::wait_until("another beat", Duration::from_secs(20), || {
        common::heartbeat_count(&db) > beats_before
    })
    .await;
    d.daemon.stop().await;
}
