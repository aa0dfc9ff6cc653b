//! End-to-end tests over real TCP with a minimal HTTP/1.1 client and a frozen server clock
//! (no sleeping: the clock is stopped at a chosen instant).

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    MAP_ANCHOR_MS, RECORDED_ANCHOR_MS, SimConfig, SimHandle, SimKline, decimal::parse_units, spawn,
};

/// 2026-11-21 05:17:42.123 UTC: mid-minute, mid-hour.
const NOW: i64 = MAP_ANCHOR_MS + 5 * 3_600_000 + 17 * 60_000 + 42_123;
const MIN: i64 = 60_000;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn used_weight(&self) -> u32 {
        self.header("x-mbx-used-weight-1m")
            .and_then(|v| v.parse().ok())
            .expect("X-MBX-USED-WEIGHT-1M header")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn error_code(&self) -> i64 {
        self.json()["code"].as_i64().expect("error code")
    }
}

/// Sends one `GET` on a fresh connection; `None` if the connection was dropped.
async fn try_get(sim: &SimHandle, path_and_query: &str) -> Option<Reply> {
    let mut stream = TcpStream::connect(sim.addr()).await.expect("connect");
    let request =
        format!("GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.ok()?;
    if raw.is_empty() {
        return None;
    }
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    assert!(!chunked, "the simulator answers with Content-Length bodies");
    Some(Reply {
        status,
        headers,
        body: body.to_owned(),
    })
}

async fn get(sim: &SimHandle, path_and_query: &str) -> Reply {
    try_get(sim, path_and_query)
        .await
        .unwrap_or_else(|| panic!("connection dropped for {path_and_query}"))
}

async fn frozen(config: SimConfig) -> SimHandle {
    let sim = spawn(config).await.expect("spawn");
    sim.shared.clock.freeze(NOW);
    sim
}

/// Parses a served kline array like a client would.
fn parse_kline(v: &Value) -> SimKline {
    let f = |i: usize| -> f64 {
        v[i].as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("field {i} of {v}"))
    };
    let n = |i: usize| v[i].as_i64().unwrap_or_else(|| panic!("field {i} of {v}"));
    assert_eq!(v.as_array().map(Vec::len), Some(12), "{v}");
    assert_eq!(v[11], "0");
    SimKline {
        open_time: n(0),
        close_time: n(6),
        open: f(1),
        high: f(2),
        low: f(3),
        close: f(4),
        volume: f(5),
        quote_volume: f(7),
        trades: v[8].as_u64().expect("trades"),
        taker_buy_base_volume: f(9),
        taker_buy_quote_volume: f(10),
    }
}

fn opens(reply: &Reply) -> Vec<i64> {
    reply
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|k| k[0].as_i64().expect("open time"))
        .collect()
}

#[tokio::test]
async fn kline_ranges_over_http() {
    let sim = frozen(SimConfig::default()).await;
    let current = NOW - NOW % MIN;
    let base = "/api/v3/klines?symbol=BTCUSDT&interval=1m";

    let none = get(&sim, base).await;
    assert_eq!(none.status, 200);
    assert_eq!(
        none.header("content-type"),
        Some("application/json;charset=UTF-8")
    );
    let got = opens(&none);
    assert_eq!(got.len(), 500);
    assert_eq!(got[499], current, "latest is the still-open candle");
    assert!(got.windows(2).all(|w| w[1] - w[0] == MIN));

    let max = get(&sim, &format!("{base}&limit=1000")).await;
    assert_eq!(opens(&max).len(), 1000);
    for bad in ["1001", "0", "abc", "-5"] {
        let reply = get(&sim, &format!("{base}&limit={bad}")).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (400, -1100),
            "limit={bad}"
        );
    }

    let start = current - 100 * MIN - 1;
    let start_only = get(&sim, &format!("{base}&startTime={start}&limit=3")).await;
    assert_eq!(opens(&start_only), [100, 99, 98].map(|k| current - k * MIN));

    let near_now = get(&sim, &format!("{base}&startTime={}", current - 2 * MIN)).await;
    assert_eq!(opens(&near_now).len(), 3, "never beyond now");

    let end = current - 10 * MIN;
    let end_only = get(&sim, &format!("{base}&endTime={end}&limit=2")).await;
    assert_eq!(opens(&end_only), [current - 11 * MIN, current - 10 * MIN]);

    let both = get(
        &sim,
        &format!(
            "{base}&startTime={}&endTime={}",
            current - 20 * MIN,
            current - 18 * MIN + 5
        ),
    )
    .await;
    assert_eq!(opens(&both), [20, 19, 18].map(|k| current - k * MIN));

    let future = get(&sim, &format!("{base}&startTime={}", NOW + 1)).await;
    assert_eq!(future.body, "[]");

    // Every closed candle served equals the handle's final values.
    for kline in max.json().as_array().expect("array").iter().take(999) {
        let served = parse_kline(kline);
        assert_eq!(sim.kline("BTCUSDT", "1m", served.open_time), Some(served));
    }
    let listed = sim.klines("BTCUSDT", "1m", current - 20 * MIN, current + 5 * MIN);
    assert_eq!(listed.len(), 20, "handle lists closed candles only");
    assert_eq!(listed[19].open_time, current - MIN);

    // Symbols without data are listed but have no klines.
    let ethbtc = get(&sim, "/api/v3/klines?symbol=ETHBTC&interval=1h").await;
    assert_eq!((ethbtc.status, ethbtc.body.as_str()), (200, "[]"));
}

#[tokio::test]
async fn served_1m_candle_is_the_csv_row() {
    let sim = frozen(SimConfig::default()).await;
    let csv = include_str!("../data/XRP_USDT-1m.csv");
    for k in [0, 1, 59, 123] {
        let open = MAP_ANCHOR_MS + k * MIN;
        let reply = get(
            &sim,
            &format!("/api/v3/klines?symbol=XRPUSDT&interval=1m&startTime={open}&limit=1"),
        )
        .await;
        let kline = &reply.json()[0];
        let prefix = format!("{},", RECORDED_ANCHOR_MS + k * MIN);
        let row = csv
            .lines()
            .find(|l| l.starts_with(&prefix))
            .expect("csv row");
        let fields: Vec<&str> = row.split(',').skip(1).collect();
        let served: Vec<&str> = (1..=5)
            .map(|i| kline[i].as_str().expect("string"))
            .collect();
        assert_eq!(served, fields, "minute {k}");
        assert_eq!(kline[0], open);
        assert_eq!(kline[6], open + MIN - 1);
        let parsed = parse_kline(kline);
        assert_eq!(parsed.close, fields[3].parse::<f64>().expect("f64"));
        assert_eq!(sim.kline("XRPUSDT", "1m", open), Some(parsed));
    }
}

#[tokio::test]
async fn aggregates_15m_and_1h_from_1m() {
    let sim = frozen(SimConfig::default()).await;
    let start = MAP_ANCHOR_MS + 3_600_000; // 01:00, all closed at NOW
    let minutes = get(
        &sim,
        &format!("/api/v3/klines?symbol=BNBUSDT&interval=1m&startTime={start}&limit=60"),
    )
    .await
    .json();
    let minutes = minutes.as_array().expect("array");
    let units = |v: &Value, i: usize| parse_units(v[i].as_str().expect("decimal")).expect("units");
    for (interval, per) in [("15m", 15usize), ("1h", 60)] {
        let reply = get(
            &sim,
            &format!(
                "/api/v3/klines?symbol=BNBUSDT&interval={interval}&startTime={start}&limit={}",
                60 / per
            ),
        )
        .await;
        let candles = reply.json();
        for (j, candle) in candles.as_array().expect("array").iter().enumerate() {
            let part = &minutes[j * per..(j + 1) * per];
            assert_eq!(candle[0], part[0][0]);
            assert_eq!(candle[1], part[0][1], "open = first open");
            assert_eq!(candle[4], part[per - 1][4], "close = last close");
            assert_eq!(
                units(candle, 2),
                part.iter().map(|m| units(m, 2)).max().expect("max")
            );
            assert_eq!(
                units(candle, 3),
                part.iter().map(|m| units(m, 3)).min().expect("min")
            );
            for field in [5, 7] {
                assert_eq!(
                    units(candle, field),
                    part.iter().map(|m| units(m, field)).sum::<i64>()
                );
            }
            let trades: u64 = part.iter().map(|m| m[8].as_u64().expect("trades")).sum();
            assert_eq!(candle[8], trades);
            assert_eq!(units(candle, 9), units(candle, 5) / 2);
            assert_eq!(candle[6], part[per - 1][6], "close time");
            let open_time = candle[0].as_i64().expect("open");
            assert_eq!(
                sim.kline("BNBUSDT", interval, open_time),
                Some(parse_kline(candle))
            );
        }
    }
    assert_eq!(
        sim.kline("BNBUSDT", "1h", start + MIN),
        None,
        "not on the grid"
    );
}

#[tokio::test]
async fn open_candle_is_partial() {
    let sim = frozen(SimConfig::default()).await;
    let current = NOW - NOW % MIN;
    for interval in ["1m", "1h", "1d"] {
        let reply = get(
            &sim,
            &format!("/api/v3/klines?symbol=SOLUSDT&interval={interval}&limit=1"),
        )
        .await;
        let partial = parse_kline(&reply.json()[0]);
        let last = sim
            .kline("SOLUSDT", interval, partial.open_time)
            .expect("final");
        assert!(partial.open_time <= current);
        assert_ne!(partial, last, "{interval}: partial differs from final");
        assert!(partial.volume < last.volume);
        assert_eq!(partial.open, last.open);
    }
}

#[tokio::test]
async fn ticker_shapes() {
    let sim = frozen(SimConfig {
        extra_symbols: 3,
        ..SimConfig::default()
    })
    .await;
    let reply = get(&sim, "/api/v3/ticker/24hr?symbol=ETHUSDT").await;
    assert_eq!(reply.status, 200);
    let t = reply.json();
    let keys: Vec<&str> = t
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "symbol",
        "priceChange",
        "priceChangePercent",
        "weightedAvgPrice",
        "prevClosePrice",
        "lastPrice",
        "lastQty",
        "bidPrice",
        "bidQty",
        "askPrice",
        "askQty",
        "openPrice",
        "highPrice",
        "lowPrice",
        "volume",
        "quoteVolume",
        "openTime",
        "closeTime",
        "firstId",
        "lastId",
        "count",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    let eight = |k: &str| {
        let s = t[k].as_str().unwrap_or_else(|| panic!("{k} is a string"));
        assert_eq!(s.split_once('.').map(|(_, f)| f.len()), Some(8), "{k}={s}");
        s.parse::<f64>().expect("decimal")
    };
    for k in [
        "priceChange",
        "weightedAvgPrice",
        "prevClosePrice",
        "lastPrice",
        "lastQty",
        "bidPrice",
        "bidQty",
        "askPrice",
        "askQty",
        "openPrice",
        "highPrice",
        "lowPrice",
        "volume",
        "quoteVolume",
    ] {
        eight(k);
    }
    let pct = t["priceChangePercent"].as_str().expect("percent");
    assert_eq!(pct.split_once('.').map(|(_, f)| f.len()), Some(3));
    assert!(eight("bidPrice") < eight("lastPrice") && eight("lastPrice") < eight("askPrice"));
    assert!(eight("lowPrice") <= eight("lastPrice") && eight("lastPrice") <= eight("highPrice"));
    assert_eq!(t["closeTime"], NOW);
    assert_eq!(t["openTime"], NOW - NOW % MIN - 1439 * MIN);
    let (first, last, count) = (
        t["firstId"].as_i64(),
        t["lastId"].as_i64(),
        t["count"].as_i64(),
    );
    assert_eq!(last.zip(first).map(|(l, f)| l - f + 1), count);

    // The last price is the close of the open 1m candle.
    let kline = get(&sim, "/api/v3/klines?symbol=ETHUSDT&interval=1m&limit=1")
        .await
        .json();
    let close: f64 = kline[0][4]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("close");
    assert_eq!(close, eight("lastPrice"));

    let all = get(&sim, "/api/v3/ticker/24hr").await.json();
    let names: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["symbol"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "BTCUSDT",
            "ETHUSDT",
            "BNBUSDT",
            "XRPUSDT",
            "SOLUSDT",
            "SIM001USDT",
            "SIM002USDT",
            "SIM003USDT"
        ]
    );

    for query in [
        // What URL libraries send: `"` must be percent-encoded (the `http` crate rejects
        // raw quotes in a request target); brackets and commas may stay raw.
        "symbols=[%22BTCUSDT%22,%22SIM002USDT%22]",
        "symbols=%5B%22BTCUSDT%22%2C%22SIM002USDT%22%5D",
    ] {
        for path in [
            "/api/v3/ticker/price",
            "/api/v3/ticker/bookTicker",
            "/api/v3/ticker/24hr",
        ] {
            let reply = get(&sim, &format!("{path}?{query}")).await;
            assert_eq!(reply.status, 200, "{path}?{query}: {}", reply.body);
            let list = reply.json();
            assert_eq!(list[0]["symbol"], "BTCUSDT");
            assert_eq!(list[1]["symbol"], "SIM002USDT");
        }
    }
    let price = get(&sim, "/api/v3/ticker/price?symbol=BTCUSDT")
        .await
        .json();
    assert_eq!(price.as_object().map(|o| o.len()), Some(2));
    let book = get(&sim, "/api/v3/ticker/bookTicker").await.json();
    assert_eq!(book.as_array().map(Vec::len), Some(8));
    let mini = get(&sim, "/api/v3/ticker/24hr?symbol=BTCUSDT&type=MINI")
        .await
        .json();
    assert_eq!(mini.as_object().map(|o| o.len()), Some(12));
    let empty = get(&sim, "/api/v3/ticker/24hr?symbol=ETHBTC").await.json();
    assert_eq!(
        (empty["lastPrice"].as_str(), empty["firstId"].as_i64()),
        (Some("0.00000000"), Some(-1))
    );

    let unknown = get(
        &sim,
        "/api/v3/ticker/price?symbols=[%22BTCUSDT%22,%22NOPEUSDT%22]",
    )
    .await;
    assert_eq!((unknown.status, unknown.error_code()), (400, -1121));
    let both = get(
        &sim,
        "/api/v3/ticker/price?symbol=BTCUSDT&symbols=[%22BTCUSDT%22]",
    )
    .await;
    assert_eq!((both.status, both.error_code()), (400, -1101));
    let bad_type = get(&sim, "/api/v3/ticker/24hr?type=HUGE").await;
    assert_eq!(bad_type.error_code(), -1139);
}

#[tokio::test]
async fn binance_errors() {
    let sim = frozen(SimConfig::default()).await;
    let cases = [
        (
            "/api/v3/klines?symbol=NOPEUSDT&interval=1m",
            -1121,
            "Invalid symbol.",
        ),
        (
            "/api/v3/klines?interval=1m",
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        ),
        (
            "/api/v3/klines?symbol=&interval=1m",
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        ),
        (
            "/api/v3/klines?symbol=BTCUSDT",
            -1102,
            "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.",
        ),
        (
            "/api/v3/klines?symbol=BTCUSDT&interval=1H",
            -1120,
            "Invalid interval.",
        ),
        (
            "/api/v3/klines?symbol=BTCUSDT&interval=2m",
            -1120,
            "Invalid interval.",
        ),
        (
            "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1001",
            -1100,
            "Illegal characters found in parameter 'limit'; legal range is '1-1000'.",
        ),
        (
            "/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=soon",
            -1100,
            "Illegal characters found in parameter 'startTime'; legal range is '^[0-9]{1,20}$'.",
        ),
        (
            "/api/v3/klines?symbol=btcusdt&interval=1m",
            -1100,
            "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'.",
        ),
        (
            "/api/v3/klines?symbol=BTCUSDT&symbol=ETHUSDT&interval=1m",
            -1101,
            "Duplicate values for a parameter detected.",
        ),
        (
            "/api/v3/exchangeInfo?symbol=NOPEUSDT",
            -1121,
            "Invalid symbol.",
        ),
        (
            "/api/v3/exchangeInfo?symbols=[%22BTCUSDT%22,%22NOPEUSDT%22]",
            -1121,
            "Invalid symbol.",
        ),
    ];
    for (query, code, msg) in cases {
        let reply = get(&sim, query).await;
        assert_eq!(reply.status, 400, "{query}");
        assert_eq!(
            reply.json(),
            serde_json::json!({"code": code, "msg": msg}),
            "{query}"
        );
        assert!(reply.body.starts_with("{\"code\":"), "{}", reply.body);
    }
    let missing = get(&sim, "/api/v3/nope").await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn weight_header_then_429_then_418() {
    let sim = frozen(SimConfig {
        weight_limit_per_min: 10,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(get(&sim, "/api/v3/ping").await.used_weight(), 1);
    assert_eq!(get(&sim, "/api/v3/time").await.used_weight(), 2);
    let time = get(&sim, "/api/v3/time").await;
    assert_eq!(time.json(), serde_json::json!({"serverTime": NOW}));
    assert_eq!(time.used_weight(), 3);
    let klines = get(&sim, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1").await;
    assert_eq!(klines.used_weight(), 5);
    let failed = get(&sim, "/api/v3/klines?symbol=NOPE&interval=1m").await;
    assert_eq!(
        (failed.status, failed.used_weight()),
        (400, 7),
        "errors cost weight too"
    );
    assert_eq!(sim.used_weight(), 7);

    // ticker/price without symbol weighs 4: 7 + 4 > 10.
    let throttled = get(&sim, "/api/v3/ticker/price").await;
    assert_eq!(throttled.status, 429);
    assert_eq!(
        throttled.used_weight(),
        7,
        "rejected requests add no weight"
    );
    assert_eq!(
        throttled.header("retry-after"),
        Some("18"),
        "seconds to the window end"
    );
    assert_eq!(
        throttled.json(),
        serde_json::json!({"code": -1003, "msg": "Too much request weight used; current limit is 10 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."})
    );
    for _ in 0..crate::REQUESTS_AFTER_429_BEFORE_BAN {
        assert_eq!(get(&sim, "/api/v3/ticker/price").await.status, 429);
    }
    let banned = get(&sim, "/api/v3/ticker/price").await;
    assert_eq!(banned.status, 418);
    assert_eq!(banned.header("retry-after"), Some("120"));
    let until = NOW + crate::FIRST_BAN_MS;
    assert_eq!(
        banned.json(),
        serde_json::json!({"code": -1003, "msg": format!("Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live updates to avoid bans.")})
    );
    assert_eq!(
        get(&sim, "/api/v3/ping").await.status,
        418,
        "everything is refused during a ban"
    );
    assert_eq!(sim.count_status(429), 6);
    assert_eq!(sim.count_status(418), 2);
    let log = sim.request_log();
    assert_eq!(log.len(), 13);
    assert!(
        log.iter()
            .filter(|r| r.status >= 418)
            .all(|r| r.weight == 0)
    );
    assert_eq!(log[3].path, "/api/v3/klines");
    assert_eq!(log[3].query, "symbol=BTCUSDT&interval=1m&limit=1");
    assert_eq!(
        (log[3].weight, log[3].at_ms, log[3].method.as_str()),
        (2, NOW, "GET")
    );

    sim.shared.clock.freeze(until);
    let after = get(&sim, "/api/v3/ping").await;
    assert_eq!((after.status, after.used_weight()), (200, 1));
}

#[tokio::test]
async fn exchange_info_document() {
    let sim = frozen(SimConfig {
        weight_limit_per_min: 1234,
        extra_symbols: 200,
        ..SimConfig::default()
    })
    .await;
    sim.set_symbol_status("ETHBTC", "BREAK");
    let reply = get(&sim, "/api/v3/exchangeInfo").await;
    assert_eq!((reply.status, reply.used_weight()), (200, 20));
    let info = reply.json();
    assert_eq!(info["serverTime"], NOW);
    assert_eq!(info["timezone"], "UTC");
    assert_eq!(info["rateLimits"][0]["rateLimitType"], "REQUEST_WEIGHT");
    assert_eq!(info["rateLimits"][0]["limit"], 1234);
    let symbols = info["symbols"].as_array().expect("symbols");
    assert_eq!(symbols.len(), 207);
    assert_eq!(symbols[0]["symbol"], "ETHBTC");
    assert_eq!(symbols[0]["status"], "BREAK");
    assert_eq!(symbols[206]["symbol"], "SIM200USDT");
    assert_eq!(symbols[206]["baseAsset"], "SIM200");
    let one = get(&sim, "/api/v3/exchangeInfo?symbol=BTCUSDT")
        .await
        .json();
    assert_eq!(one["symbols"].as_array().map(Vec::len), Some(1));
    let two = get(
        &sim,
        "/api/v3/exchangeInfo?symbols=%5B%22XRPUSDT%22,%22ETHBTC%22%5D",
    )
    .await
    .json();
    let names: Vec<&str> = two["symbols"]
        .as_array()
        .expect("symbols")
        .iter()
        .filter_map(|s| s["symbol"].as_str())
        .collect();
    assert_eq!(names, ["XRPUSDT", "ETHBTC"]);
    sim.set_weight_limit(50);
    sim.reset_rate_limits();
    let info = get(&sim, "/api/v3/exchangeInfo?symbol=ETHBTC").await.json();
    assert_eq!(info["rateLimits"][0]["limit"], 50);
    sim.set_weight_limit(6000);
    // 200 clones: the full 24h ticker stays cheap.
    let started = std::time::Instant::now();
    let all = get(&sim, "/api/v3/ticker/24hr").await;
    assert_eq!(all.json().as_array().map(Vec::len), Some(205));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[tokio::test]
async fn injected_faults() {
    let sim = frozen(SimConfig {
        error_rate_5xx: 1.0,
        ..SimConfig::default()
    })
    .await;
    let failed = get(&sim, "/api/v3/ping").await;
    assert_eq!(failed.status, 503);
    assert_eq!(failed.error_code(), -1001);
    assert_eq!(failed.used_weight(), 1);
    sim.set_error_rate_5xx(0.0);

    sim.set_malformed("/api/v3/klines", true);
    let garbled = get(&sim, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=3").await;
    assert_eq!(garbled.status, 200);
    assert!(serde_json::from_str::<Value>(&garbled.body).is_err());
    let error = get(&sim, "/api/v3/klines?symbol=NOPE&interval=1m").await;
    assert_eq!(error.error_code(), -1121, "only 200 answers are garbled");
    sim.set_malformed("/api/v3/klines", false);
    assert_eq!(
        get(&sim, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=3")
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    sim.set_unavailable(true);
    assert!(
        try_get(&sim, "/api/v3/ping").await.is_none(),
        "connections are dropped"
    );
    sim.set_unavailable(false);
    assert_eq!(get(&sim, "/api/v3/ping").await.status, 200);

    sim.set_latency(std::time::Duration::from_millis(30));
    let started = std::time::Instant::now();
    assert_eq!(get(&sim, "/api/v3/ping").await.status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(30));
    assert_eq!(sim.count_status(503), 1);
}

#[tokio::test]
async fn halted_minutes_are_not_served() {
    let sim = frozen(SimConfig::default()).await;
    let current = NOW - NOW % MIN;
    sim.add_gap("BTCUSDT", current - 10 * MIN, current - 8 * MIN);
    let reply = get(
        &sim,
        &format!(
            "/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={}&limit=4",
            current - 11 * MIN
        ),
    )
    .await;
    assert_eq!(opens(&reply), [11, 7, 6, 5].map(|k| current - k * MIN));
    assert_eq!(sim.kline("BTCUSDT", "1m", current - 9 * MIN), None);
    assert_eq!(
        sim.klines("BTCUSDT", "1m", current - 11 * MIN, current - 7 * MIN)
            .len(),
        2
    );
    assert!(sim.kline("ETHUSDT", "1m", current - 9 * MIN).is_some());
    sim.clear_gaps("BTCUSDT");
    assert!(sim.kline("BTCUSDT", "1m", current - 9 * MIN).is_some());
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = spawn(SimConfig::default()).await.expect("spawn");
    let addr = sim.addr();
    assert_eq!(sim.base_url(), format!("http://127.0.0.1:{}", addr.port()));
    let now = sim.now_ms();
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    assert!((now - wall).abs() < 1000);
    sim.set_clock_skew_ms(-5000);
    assert!((sim.now_ms() - (wall - 5000)).abs() < 1000);
    let clone = sim.clone();
    assert_eq!(get(&clone, "/api/v3/ping").await.body, "{}");
    sim.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

/// Sends `method path?query` with an optional API key on a fresh connection.
async fn send(sim: &SimHandle, method: &str, path_and_query: &str, api_key: Option<&str>) -> Reply {
    let mut stream = TcpStream::connect(sim.addr()).await.expect("connect");
    let key = api_key.map_or(String::new(), |k| format!("X-MBX-APIKEY: {k}\r\n"));
    let request = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\n{key}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// `query&timestamp=..&signature=..` signed with `secret`.
fn signed(query: &str, timestamp: i64, secret: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let payload = if query.is_empty() {
        format!("timestamp={timestamp}")
    } else {
        format!("{query}&timestamp={timestamp}")
    };
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(payload.as_bytes());
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{payload}&signature={sig}")
}

#[tokio::test]
async fn signed_requests_check_key_signature_and_timestamp() {
    use crate::{TEST_API_KEY, TEST_API_SECRET};
    let sim = frozen(SimConfig::default()).await;
    let key = Some(TEST_API_KEY);
    let q = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000";
    // (method, path and query, api key, status, code)
    let cases = [
        (
            "POST",
            format!("/api/v3/order?{}", signed(q, NOW, TEST_API_SECRET)),
            None,
            401,
            -2014,
        ),
        (
            "POST",
            format!("/api/v3/order?{}", signed(q, NOW, TEST_API_SECRET)),
            Some("otherKey1"),
            401,
            -2015,
        ),
        (
            "POST",
            format!("/api/v3/order?{}", signed(q, NOW, "wrong")),
            key,
            400,
            -1022,
        ),
        (
            "POST",
            format!("/api/v3/order?{q}&timestamp={NOW}"),
            key,
            400,
            -1102,
        ),
        (
            "POST",
            format!("/api/v3/order?{}", signed(q, NOW - 5_001, TEST_API_SECRET)),
            key,
            400,
            -1021,
        ),
        (
            "POST",
            format!("/api/v3/order?{}", signed(q, NOW + 1_000, TEST_API_SECRET)),
            key,
            400,
            -1021,
        ),
        (
            "POST",
            format!(
                "/api/v3/order?{}",
                signed(&format!("{q}&recvWindow=60001"), NOW, TEST_API_SECRET)
            ),
            key,
            400,
            -1131,
        ),
        (
            "GET",
            format!(
                "/api/v3/order?{}",
                signed("symbol=BTCUSDT&orderId=1", NOW, TEST_API_SECRET)
            ),
            key,
            400,
            -2013,
        ),
        (
            "GET",
            format!(
                "/api/v3/order?{}",
                signed("symbol=BTCUSDT", NOW, TEST_API_SECRET)
            ),
            key,
            400,
            -1102,
        ),
        (
            "DELETE",
            format!(
                "/api/v3/order?{}",
                signed("symbol=BTCUSDT&origClientOrderId=x", NOW, TEST_API_SECRET)
            ),
            key,
            400,
            -2011,
        ),
        (
            "GET",
            format!(
                "/api/v3/order?{}",
                signed("symbol=NOPE&orderId=1", NOW, TEST_API_SECRET)
            ),
            key,
            400,
            -1121,
        ),
    ];
    for (method, path, key, status, code) in &cases {
        let reply = send(&sim, method, path, *key).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (*status, *code),
            "{method} {path}: {}",
            reply.body
        );
    }
    assert!(sim.orders().is_empty());

    // A good one: placed, with order counts; its weight is charged as documented.
    sim.set_order_price("BTCUSDT", Some("65000"));
    let reply = send(
        &sim,
        "POST",
        &format!("/api/v3/order?{}", signed(q, NOW - 4_000, TEST_API_SECRET)),
        key,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["status"], "NEW");
    assert_eq!(reply.header("x-mbx-order-count-10s"), Some("1"));
    assert_eq!(reply.header("x-mbx-order-count-1d"), Some("1"));
    let reply = send(
        &sim,
        "GET",
        &format!(
            "/api/v3/account?{}",
            signed("omitZeroBalances=true", NOW, TEST_API_SECRET)
        ),
        key,
    )
    .await;
    let balances = reply.json()["balances"].clone();
    let usdt = balances
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "USDT")
        .unwrap()
        .clone();
    assert_eq!(
        (usdt["free"].as_str(), usdt["locked"].as_str()),
        (Some("99940.00000000"), Some("60.00000000"))
    );
    let weights: Vec<(String, u32)> = sim
        .request_log()
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| (format!("{} {}", r.method, r.path), r.weight))
        .collect();
    assert_eq!(
        weights,
        [
            ("POST /api/v3/order".to_owned(), 1),
            ("GET /api/v3/account".to_owned(), 20)
        ]
    );
}

#[tokio::test]
async fn order_checks_answer_with_binances_codes() {
    use crate::{TEST_API_KEY, TEST_API_SECRET};
    let sim = frozen(SimConfig::default()).await;
    sim.set_order_price("BTCUSDT", Some("65000"));
    let place = |q: &str| {
        format!(
            "/api/v3/order?{}",
            signed(&format!("symbol=BTCUSDT&{q}"), NOW, TEST_API_SECRET)
        )
    };
    let cases = [
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000.000000001",
            -1111,
        ),
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000.005",
            -1013,
        ),
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.0000105&price=60000",
            -1013,
        ),
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.00001&price=60000",
            -1013,
        ),
        ("side=BUY&type=LIMIT&quantity=0.001&price=60000", -1102),
        ("side=BUY&type=MARKET&quantity=0.001&price=60000", -1106),
        ("side=BUY&type=MARKET", -1102),
        ("side=HOLD&type=MARKET&quantity=1", -1117),
        ("side=BUY&type=OCO&quantity=1", -1116),
        (
            "side=BUY&type=LIMIT&timeInForce=GTX&quantity=0.001&price=60000",
            -1115,
        ),
        (
            "side=BUY&type=STOP_LOSS&quantity=0.001&stopPrice=70000",
            -2010,
        ),
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=10&price=60000",
            -2010,
        ),
        (
            "side=BUY&type=LIMIT_MAKER&quantity=0.001&price=66000",
            -2010,
        ),
        (
            "side=SELL&type=STOP_LOSS_LIMIT&timeInForce=GTC&quantity=0.001&price=66000&stopPrice=66000",
            -2010,
        ),
        (
            "side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000&newClientOrderId=a%20b",
            -1100,
        ),
    ];
    for (q, code) in cases {
        let reply = send(&sim, "POST", &place(q), Some(TEST_API_KEY)).await;
        assert_eq!(reply.error_code(), code, "{q}: {}", reply.body);
    }
    async fn msg(sim: &SimHandle, path: &str) -> String {
        let reply = send(sim, "POST", path, Some(TEST_API_KEY)).await;
        reply.json()["msg"].as_str().unwrap_or_default().to_owned()
    }
    let off_tick = place("side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000.005");
    assert_eq!(msg(&sim, &off_tick).await, "Filter failure: PRICE_FILTER");
    let too_big = place("side=BUY&type=LIMIT&timeInForce=GTC&quantity=10&price=60000");
    assert_eq!(
        msg(&sim, &too_big).await,
        "Account has insufficient balance for requested action."
    );
    // A duplicate of an open order's client id is refused.
    let dup = place(
        "side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000&newClientOrderId=dup-1",
    );
    assert_eq!(
        send(&sim, "POST", &dup, Some(TEST_API_KEY)).await.status,
        200
    );
    assert_eq!(msg(&sim, &dup).await, "Duplicate order sent.");
    assert_eq!(sim.orders().len(), 1);
}

#[tokio::test]
async fn resting_orders_fill_when_later_candles_cross_them() {
    use crate::{TEST_API_KEY, TEST_API_SECRET};
    let sim = frozen(SimConfig::default()).await;
    let price = |v: &Value| parse_units(v["price"].as_str().expect("price")).expect("units");
    let now_price = price(
        &get(&sim, "/api/v3/ticker/price?symbol=BTCUSDT")
            .await
            .json(),
    );
    // The first later minute whose low is well below the current price.
    let minute = |t: i64| t - t.rem_euclid(MIN);
    let (when, low) = (1..120)
        .map(|k| minute(NOW) + k * MIN)
        .find_map(|t| {
            let k = sim.kline("BTCUSDT", "1m", t)?;
            let low = parse_units(&format!("{:.2}", k.low))?;
            (low < now_price - 10 * 1_000_000).then_some((t, low))
        })
        .expect("the replay goes down within two hours");
    let to_text = |units: i64| {
        format!(
            "{}.{:02}",
            units / 100_000_000,
            (units % 100_000_000) / 1_000_000
        )
    };
    let place = |p: &str, id: &str| {
        format!(
            "/api/v3/order?{}",
            signed(
                &format!(
                    "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price={p}&newClientOrderId={id}"
                ),
                NOW,
                TEST_API_SECRET
            )
        )
    };
    // One order the fall reaches, one it does not.
    let reached = to_text(low + 1_000_000);
    let missed = to_text(low - 100 * 100_000_000);
    for (p, id) in [(&reached, "reached"), (&missed, "missed")] {
        let reply = send(&sim, "POST", &place(p, id), Some(TEST_API_KEY)).await;
        assert_eq!(reply.json()["status"], "NEW", "{}", reply.body);
    }
    // Before that minute nothing fills; once it has passed, the crossed order has.
    sim.shared.clock.freeze(when - 1);
    sim.match_orders();
    assert_eq!(sim.order("reached").unwrap().status, "NEW");
    sim.shared.clock.freeze(when + MIN);
    sim.match_orders();
    let filled = sim.order("reached").unwrap();
    assert_eq!(filled.status, "FILLED");
    // Filled whole at its limit price: 0.001 × price.
    assert_eq!(
        parse_units(&filled.cummulative_quote_qty),
        Some((low + 1_000_000) / 1_000)
    );
    assert_eq!(sim.order("missed").unwrap().status, "NEW");
}

#[tokio::test]
async fn cancel_all_cancels_every_open_order_of_the_symbol_and_unlocks() {
    use crate::{TEST_API_KEY, TEST_API_SECRET};
    let sim = frozen(SimConfig::default()).await;
    sim.set_order_price("BTCUSDT", Some("65000"));
    for price in ["60000", "61000"] {
        let q = format!(
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price={price}"
        );
        let reply = send(
            &sim,
            "POST",
            &format!("/api/v3/order?{}", signed(&q, NOW, TEST_API_SECRET)),
            Some(TEST_API_KEY),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let usdt = |sim: &SimHandle| {
        sim.balances()
            .into_iter()
            .find(|b| b.asset == "USDT")
            .unwrap()
    };
    assert_eq!(usdt(&sim).locked, "121.00000000");
    let cancel_all = format!(
        "/api/v3/openOrders?{}",
        signed("symbol=BTCUSDT", NOW, TEST_API_SECRET)
    );
    let reply = send(&sim, "DELETE", &cancel_all, Some(TEST_API_KEY)).await;
    let answers = reply.json();
    let statuses: Vec<&str> = answers
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["CANCELED", "CANCELED"]);
    assert_eq!(
        (usdt(&sim).free.as_str(), usdt(&sim).locked.as_str()),
        ("100000.00000000", "0.00000000")
    );
    let open = send(
        &sim,
        "GET",
        &format!(
            "/api/v3/openOrders?{}",
            signed("symbol=BTCUSDT", NOW, TEST_API_SECRET)
        ),
        Some(TEST_API_KEY),
    )
    .await;
    assert_eq!(open.body, "[]");
    assert_eq!(
        send(&sim, "DELETE", &cancel_all, Some(TEST_API_KEY))
            .await
            .error_code(),
        -2011
    );
}

mod ws;

/// `SimHandle::trades` lists every fill once, with the order it filled, the limit price of
/// a resting order and the taker price of a crossing one; an order resting unfilled and a
/// cancelled one add none.
#[tokio::test]
async fn trades_lists_each_fill_once() {
    let sim = spawn(SimConfig::default()).await.expect("simulator starts");
    sim.set_order_price("BTCUSDT", Some("65000"));
    let limit = |side: &'static str, price: &'static str| {
        [
            ("symbol", "BTCUSDT"),
            ("side", side),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.001"),
            ("price", price),
        ]
    };
    let id = |placed: &Value| placed["orderId"].as_i64().expect("orderId");
    let resting = id(&sim.place_order(&limit("BUY", "64000")).expect("placed"));
    let cancelled = id(&sim.place_order(&limit("BUY", "63000")).expect("placed"));
    sim.cancel_order_by_id("BTCUSDT", cancelled)
        .expect("cancelled");
    let crossing = id(&sim.place_order(&limit("BUY", "66000")).expect("placed"));
    assert_eq!(sim.trades().len(), 1, "the crossing order filled at once");
    sim.set_order_price("BTCUSDT", Some("63999"));
    let trades = sim.trades();
    let seen: Vec<(i64, i64, &str, &str)> = trades
        .iter()
        .map(|t| (t.id, t.order_id, t.price.as_str(), t.qty.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, crossing, "65000.01000000", "0.00100000"),
            (2, resting, "64000.00000000", "0.00100000"),
        ]
    );
    assert!(trades.iter().all(|t| t.symbol == "BTCUSDT" && t.time > 0));
}
