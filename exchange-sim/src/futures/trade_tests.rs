//! Futures trading over real TCP with frozen market clocks and prices set by the test.

use std::time::Duration;

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::FuturesSim;
use crate::{SimConfig, SimHandle, TEST_API_KEY, TEST_API_SECRET, spawn};

/// 2026-12-02 12:34:56.789 UTC.
const NOW: i64 = 1_796_212_800_000 + 34 * 60_000 + 56_789;

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

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn code(&self) -> i64 {
        self.json()["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no error code: {}", self.body))
    }
}

async fn send(base: &str, method: &str, path_and_query: &str, key: Option<&str>) -> Reply {
    let addr = base.strip_prefix("http://").expect("http URL");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let key = key.map_or(String::new(), |k| format!("X-MBX-APIKEY: {k}\r\n"));
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

fn sign(query: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let query = if query.is_empty() {
        format!("timestamp={NOW}")
    } else {
        format!("{query}&timestamp={NOW}")
    };
    let mut mac =
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(TEST_API_SECRET.as_bytes()).expect("key");
    mac.update(query.as_bytes());
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{query}&signature={sig}")
}

/// A signed request on a futures market.
async fn call(m: &FuturesSim, method: &str, path: &str, query: &str) -> Reply {
    send(
        m.url(),
        method,
        &format!("{path}?{}", sign(query)),
        Some(TEST_API_KEY),
    )
    .await
}

async fn ok(m: &FuturesSim, method: &str, path: &str, query: &str) -> Value {
    let reply = call(m, method, path, query).await;
    assert_eq!(reply.status, 200, "{method} {path}?{query}: {}", reply.body);
    reply.json()
}

async fn frozen() -> SimHandle {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let sim = spawn(SimConfig {
        clock_skew_ms: NOW - wall,
        ..SimConfig::default()
    })
    .await
    .expect("spawn");
    sim.usdm.shared.clock.freeze(NOW);
    sim.coinm.shared.clock.freeze(NOW);
    sim
}

fn position(m: &FuturesSim, symbol: &str, side: &str) -> (String, String, String) {
    m.positions()
        .into_iter()
        .find(|p| p.symbol == symbol && p.position_side == side)
        .map_or_else(
            || ("0".into(), "0".into(), "0".into()),
            |p| (p.amount, p.entry_price, p.realized_pnl),
        )
}

const ORDER: &str = "/fapi/v1/order";

async fn market(m: &FuturesSim, side: &str, qty: &str, extra: &str) -> Value {
    let path = format!("{}/order", m.market().prefix());
    let symbol = match m.market() {
        super::FuturesMarket::Usdm => "BTCUSDT",
        super::FuturesMarket::Coinm => "BTCUSD_PERP",
    };
    ok(
        m,
        "POST",
        &path,
        &format!(
            "symbol={symbol}&side={side}&type=MARKET&quantity={qty}&newOrderRespType=RESULT{extra}"
        ),
    )
    .await
}

#[tokio::test]
async fn usdm_market_buy_fills_with_commission_and_opens_a_position() {
    let sim = frozen().await;
    let m = sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    let reply = call(
        m,
        "POST",
        ORDER,
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&newClientOrderId=buy-1&newOrderRespType=RESULT",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-mbx-order-count-10s"), Some("1"));
    assert_eq!(reply.header("x-mbx-order-count-1m"), Some("1"));
    let order = reply.json();
    assert_eq!(order["status"], "FILLED");
    assert_eq!(order["clientOrderId"], "buy-1");
    assert_eq!(order["executedQty"], "0.010");
    assert_eq!(order["avgPrice"], "50000.00");
    assert_eq!(order["cumQuote"], "500.00000000");
    assert_eq!(order["positionSide"], "BOTH");
    // The recorded real answer's keys are all there.
    let recorded: Value =
        serde_json::from_str(include_str!("../../tests/data/futures_order_response.json"))
            .expect("recorded");
    for key in recorded.as_object().expect("object").keys() {
        assert!(order.get(key).is_some() || key == "time", "missing {key}");
    }
    let trades = ok(m, "GET", "/fapi/v1/userTrades", "symbol=BTCUSDT").await;
    assert_eq!(trades.as_array().map(Vec::len), Some(1));
    assert_eq!(trades[0]["commission"], "0.20000000");
    assert_eq!(trades[0]["commissionAsset"], "USDT");
    assert_eq!(trades[0]["realizedPnl"], "0.00000000");
    assert_eq!(trades[0]["maker"], false);
    let risk = ok(m, "GET", "/fapi/v2/positionRisk", "symbol=BTCUSDT").await;
    assert_eq!(risk[0]["positionAmt"], "0.010");
    assert_eq!(risk[0]["entryPrice"], "50000.00000000");
    let account = ok(m, "GET", "/fapi/v2/account", "").await;
    assert_eq!(account["assets"][0]["walletBalance"], "99999.80000000");
    // ACK (the default) answers the order as accepted.
    let ack = ok(
        m,
        "POST",
        ORDER,
        "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.010",
    )
    .await;
    assert_eq!(ack["status"], "NEW");
    assert_eq!(ack["executedQty"], "0.000");
    let done = ok(
        m,
        "GET",
        ORDER,
        &format!("symbol=BTCUSDT&orderId={}", ack["orderId"]),
    )
    .await;
    assert_eq!(done["status"], "FILLED");
    assert_eq!(position(m, "BTCUSDT", "BOTH").0, "0.000");
}

#[tokio::test]
async fn one_way_position_opens_increases_reduces_closes_and_flips_with_realized_pnl() {
    let sim = frozen().await;
    let m = sim.usdm();
    let at = |p: &str| m.set_last_price("BTCUSDT", Some(p));
    at("50000");
    market(m, "BUY", "0.010", "").await;
    at("52000");
    market(m, "BUY", "0.010", "").await;
    assert_eq!(
        position(m, "BTCUSDT", "BOTH"),
        ("0.020".into(), "51000.00000000".into(), "0.00000000".into())
    );
    at("53000");
    let reduce = market(m, "SELL", "0.005", "").await;
    assert_eq!(reduce["status"], "FILLED");
    assert_eq!(position(m, "BTCUSDT", "BOTH").0, "0.015");
    assert_eq!(position(m, "BTCUSDT", "BOTH").2, "10.00000000");
    at("50000");
    market(m, "SELL", "0.015", "").await;
    assert_eq!(position(m, "BTCUSDT", "BOTH").0, "0.000");
    // 10 + (50000 - 51000) × 0.015
    assert_eq!(position(m, "BTCUSDT", "BOTH").2, "-5.00000000");
    market(m, "SELL", "0.020", "").await;
    at("49000");
    market(m, "BUY", "0.030", "").await;
    let (amount, entry, realized) = position(m, "BTCUSDT", "BOTH");
    assert_eq!(
        (amount.as_str(), entry.as_str()),
        ("0.010", "49000.00000000")
    );
    // -5 + (50000 - 49000) × 0.020
    assert_eq!(realized, "15.00000000");
    let trades = m.trades();
    assert_eq!(
        trades.last().map(|t| t.realized_pnl.as_str()),
        Some("20.00000000")
    );
    // Reduce-only beyond the position is capped; on the same side it is refused.
    let refused = call(
        m,
        "POST",
        ORDER,
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&reduceOnly=true",
    )
    .await;
    assert_eq!(refused.code(), -2022);
    let capped = market(m, "SELL", "0.050", "&reduceOnly=true").await;
    assert_eq!(capped["executedQty"], "0.010");
    assert_eq!(capped["status"], "EXPIRED");
    assert_eq!(position(m, "BTCUSDT", "BOTH").0, "0.000");
}

#[tokio::test]
async fn hedge_mode_keeps_long_and_short_apart() {
    let sim = frozen().await;
    let m = sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    let dual = "/fapi/v1/positionSide/dual";
    ok(m, "POST", dual, "dualSidePosition=true").await;
    assert_eq!(
        call(m, "POST", dual, "dualSidePosition=true").await.code(),
        -4059
    );
    assert_eq!(ok(m, "GET", dual, "").await["dualSidePosition"], true);
    // BOTH is refused in hedge mode, and so is reduceOnly.
    assert_eq!(
        call(
            m,
            "POST",
            ORDER,
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010"
        )
        .await
        .code(),
        -4061
    );
    assert_eq!(
        call(
            m,
            "POST",
            ORDER,
            "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.010&positionSide=LONG&reduceOnly=true"
        )
        .await
        .code(),
        -1106
    );
    market(m, "BUY", "0.020", "&positionSide=LONG").await;
    market(m, "SELL", "0.010", "&positionSide=SHORT").await;
    assert_eq!(position(m, "BTCUSDT", "LONG").0, "0.020");
    assert_eq!(position(m, "BTCUSDT", "SHORT").0, "-0.010");
    m.set_last_price("BTCUSDT", Some("51000"));
    market(m, "SELL", "0.005", "&positionSide=LONG").await;
    market(m, "BUY", "0.010", "&positionSide=SHORT").await;
    assert_eq!(
        position(m, "BTCUSDT", "LONG"),
        ("0.015".into(), "50000.00000000".into(), "5.00000000".into())
    );
    assert_eq!(
        position(m, "BTCUSDT", "SHORT"),
        ("0.000".into(), "0.00000000".into(), "-10.00000000".into())
    );
    let risk = ok(m, "GET", "/fapi/v2/positionRisk", "symbol=BTCUSDT").await;
    let sides: Vec<&str> = risk
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["positionSide"].as_str())
        .collect();
    assert_eq!(sides, ["LONG", "SHORT"]);
    // Closing more than the side holds is refused.
    assert_eq!(
        call(
            m,
            "POST",
            ORDER,
            "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.100&positionSide=LONG"
        )
        .await
        .code(),
        -2022
    );
    // With a position open the mode cannot change.
    assert_eq!(
        call(m, "POST", dual, "dualSidePosition=false").await.code(),
        -4068
    );
}

#[tokio::test]
async fn limits_rest_then_fill_as_maker_and_time_in_force_rules_hold() {
    let sim = frozen().await;
    let m = sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    let resting = ok(
        m,
        "POST",
        ORDER,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.010&price=49500.0",
    )
    .await;
    assert_eq!(resting["status"], "NEW");
    let open = ok(m, "GET", "/fapi/v1/openOrders", "symbol=BTCUSDT").await;
    assert_eq!(open.as_array().map(Vec::len), Some(1));
    m.set_last_price("BTCUSDT", Some("49400"));
    let filled = ok(
        m,
        "GET",
        ORDER,
        &format!("symbol=BTCUSDT&orderId={}", resting["orderId"]),
    )
    .await;
    assert_eq!(filled["status"], "FILLED");
    assert_eq!(filled["avgPrice"], "49500.00");
    let trade = m.trades().pop().expect("trade");
    assert!(trade.maker);
    // 495 × 0.02 %
    assert_eq!(trade.commission, "0.09900000");
    // GTX that would take is refused; IOC that cannot fill expires.
    let gtx = call(
        m,
        "POST",
        ORDER,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTX&quantity=0.010&price=49500",
    )
    .await;
    assert_eq!(gtx.code(), -5022);
    let ioc = ok(
        m,
        "POST",
        ORDER,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.010&price=49000&newOrderRespType=RESULT",
    )
    .await;
    assert_eq!(ioc["status"], "EXPIRED");
    // Cancel by client id; a second cancel is -2011.
    ok(
        m,
        "POST",
        ORDER,
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.010&price=50000&newClientOrderId=c1",
    )
    .await;
    let canceled = ok(m, "DELETE", ORDER, "symbol=BTCUSDT&origClientOrderId=c1").await;
    assert_eq!(canceled["status"], "CANCELED");
    assert_eq!(
        call(m, "DELETE", ORDER, "symbol=BTCUSDT&origClientOrderId=c1")
            .await
            .code(),
        -2011
    );
    assert_eq!(
        call(m, "GET", ORDER, "symbol=BTCUSDT&orderId=1")
            .await
            .code(),
        -2013
    );
}

#[tokio::test]
async fn filters_and_order_limits_answer_binances_codes() {
    let sim = frozen().await;
    let m = sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    m.set_last_price("ETHUSDT", Some("2000"));
    let code = |q: &'static str| async move { call(m, "POST", ORDER, q).await.code() };
    assert_eq!(
        code("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.010&price=49000.05")
            .await,
        -4014
    );
    assert_eq!(
        code("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.0105").await,
        -4023
    );
    assert_eq!(
        code("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.0001").await,
        -4004
    );
    assert_eq!(
        code("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.0002").await,
        -4004
    );
    assert_eq!(
        code("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=5000").await,
        -4024
    );
    assert_eq!(
        code("symbol=ETHUSDT&side=BUY&type=MARKET&quantity=0.001").await,
        -4164
    );
    assert_eq!(
        code("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.010&price=49000").await,
        -1102
    );
    assert_eq!(
        code("symbol=BTCUSDT&side=UP&type=MARKET&quantity=0.010").await,
        -1117
    );
    assert_eq!(
        code("symbol=BTCUSDT&side=BUY&type=ICEBERG&quantity=0.010").await,
        -1116
    );
    assert_eq!(
        code("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=100").await,
        -2019
    );
    // ORDERS limit: -1015 with HTTP 429.
    m.set_order_limits(2, 1200);
    let info = send(m.url(), "GET", "/fapi/v1/exchangeInfo", None)
        .await
        .json();
    assert_eq!(info["rateLimits"][2]["limit"], 2);
    let q = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.010&price=49000";
    let third = call(m, "POST", ORDER, q).await;
    assert_eq!((third.status, third.code()), (429, -1015));
    // Every order request so far counted, refused ones too.
    assert_eq!(third.header("x-mbx-order-count-10s"), Some("10"));
    // Signature and key checks as on spot.
    let bad = send(
        m.url(),
        "GET",
        &format!(
            "/fapi/v1/openOrders?{}",
            sign("").replace("signature=", "signature=0")
        ),
        Some(TEST_API_KEY),
    )
    .await;
    assert_eq!(bad.code(), -1022);
    let no_key = send(
        m.url(),
        "GET",
        &format!("/fapi/v1/openOrders?{}", sign("")),
        None,
    )
    .await;
    assert_eq!((no_key.status, no_key.code()), (401, -2014));
}

#[tokio::test]
async fn leverage_margin_type_and_account_round_trip() {
    let sim = frozen().await;
    let m = sim.usdm();
    let lev = ok(m, "POST", "/fapi/v1/leverage", "symbol=BTCUSDT&leverage=5").await;
    assert_eq!(lev["leverage"], 5);
    assert_eq!(
        call(
            m,
            "POST",
            "/fapi/v1/leverage",
            "symbol=BTCUSDT&leverage=126"
        )
        .await
        .code(),
        -4028
    );
    let mt = "/fapi/v1/marginType";
    assert_eq!(
        call(m, "POST", mt, "symbol=BTCUSDT&marginType=CROSSED")
            .await
            .code(),
        -4046
    );
    ok(m, "POST", mt, "symbol=BTCUSDT&marginType=ISOLATED").await;
    assert_eq!(
        call(m, "POST", mt, "symbol=BTCUSDT&marginType=ISOLATED")
            .await
            .code(),
        -4046
    );
    let risk = ok(m, "GET", "/fapi/v3/positionRisk", "").await;
    assert_eq!(risk.as_array().map(Vec::len), Some(0));
    m.set_last_price("BTCUSDT", Some("50000"));
    market(m, "BUY", "0.010", "").await;
    let risk = ok(m, "GET", "/fapi/v3/positionRisk", "").await;
    assert_eq!(risk[0]["leverage"], "5");
    assert_eq!(risk[0]["marginType"], "isolated");
    // 500 / 5
    assert_eq!(risk[0]["isolatedWallet"], "100.00000000");
    assert_eq!(
        call(m, "POST", mt, "symbol=BTCUSDT&marginType=CROSSED")
            .await
            .code(),
        -4048
    );
    let risk = ok(m, "GET", "/fapi/v2/positionRisk", "symbol=BTCUSDT").await;
    let recorded_risk: Value =
        serde_json::from_str(include_str!("../../tests/data/futures_position_risk.json"))
            .expect("recorded");
    for key in recorded_risk[0].as_object().expect("object").keys() {
        assert!(risk[0].get(key).is_some(), "positionRisk lacks {key}");
    }
    let account = ok(m, "GET", "/fapi/v3/account", "").await;
    let recorded: Value = serde_json::from_str(include_str!(
        "../../tests/data/futures_account_info_v2.json"
    ))
    .expect("recorded");
    for key in recorded.as_object().expect("object").keys() {
        assert!(account.get(key).is_some(), "account lacks {key}");
    }
    for key in recorded["positions"][0].as_object().expect("object").keys() {
        assert!(
            account["positions"][0].get(key).is_some(),
            "position lacks {key}"
        );
    }
}

#[tokio::test]
async fn usdm_conditional_types_are_refused_on_the_order_endpoint_and_counted() {
    let sim = frozen().await;
    let m = sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    assert_eq!(m.conditional_on_order_endpoint_attempts(), 0);
    let reply = call(
        m,
        "POST",
        ORDER,
        "symbol=BTCUSDT&side=SELL&type=STOP_MARKET&quantity=0.010&stopPrice=49000",
    )
    .await;
    assert_eq!((reply.status, reply.code()), (400, -4120));
    assert_eq!(
        reply.json()["msg"],
        "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
    );
    assert_eq!(m.conditional_on_order_endpoint_attempts(), 1);
    assert!(m.orders().is_empty());
    // COIN-M still takes them on /dapi/v1/order.
    let c = sim.coinm();
    c.set_last_price("BTCUSD_PERP", Some("50000"));
    let stop = ok(
        c,
        "POST",
        "/dapi/v1/order",
        "symbol=BTCUSD_PERP&side=SELL&type=STOP_MARKET&quantity=1&stopPrice=49000",
    )
    .await;
    assert_eq!(stop["status"], "NEW");
    assert_eq!(stop["type"], "STOP_MARKET");
    assert_eq!(stop["pair"], "BTCUSD");
    assert_eq!(
        call(
            c,
            "POST",
            "/dapi/v1/order",
            "symbol=BTCUSD_PERP&side=SELL&type=STOP_MARKET&quantity=1&stopPrice=51000"
        )
        .await
        .code(),
        -2021
    );
    c.set_last_price("BTCUSD_PERP", Some("48900"));
    let done = ok(
        c,
        "GET",
        "/dapi/v1/order",
        &format!("symbol=BTCUSD_PERP&orderId={}", stop["orderId"]),
    )
    .await;
    assert_eq!(done["status"], "FILLED");
    assert_eq!(done["avgPrice"], "48900.0");
    assert_eq!(position(c, "BTCUSD_PERP", "BOTH").0, "-1");
}

#[tokio::test]
async fn algo_orders_trigger_into_orders_and_trailing_stops_follow_the_price() {
    let sim = frozen().await;
    let m = sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    market(m, "BUY", "0.020", "").await;
    let algo = "/fapi/v1/algoOrder";
    let stop = ok(
        m,
        "POST",
        algo,
        "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=STOP_MARKET&quantity=0.010&triggerPrice=49000&clientAlgoId=stop-1&reduceOnly=true",
    )
    .await;
    assert_eq!(stop["algoStatus"], "NEW");
    assert_eq!(stop["clientAlgoId"], "stop-1");
    assert_eq!(stop["orderType"], "STOP_MARKET");
    let open = ok(m, "GET", "/fapi/v1/openAlgoOrders", "symbol=BTCUSDT").await;
    assert_eq!(open.as_array().map(Vec::len), Some(1));
    let trailing = ok(
        m,
        "POST",
        algo,
        "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=TRAILING_STOP_MARKET&quantity=0.010&callbackRate=1&activatePrice=51000&clientAlgoId=trail-1",
    )
    .await;
    assert_eq!(trailing["activatePrice"], "51000.00");
    assert_eq!(trailing["callbackRate"], "1.0");
    assert!(m.orders().iter().all(|o| o.order_type == "MARKET"));
    // The stop triggers into a MARKET order that fills.
    m.set_last_price("BTCUSDT", Some("48900"));
    let got = ok(m, "GET", algo, "clientAlgoId=stop-1").await;
    assert_eq!(got["algoStatus"], "FINISHED");
    let actual: i64 = got["actualOrderId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("actual order id");
    let order = ok(m, "GET", ORDER, &format!("symbol=BTCUSDT&orderId={actual}")).await;
    assert_eq!(order["status"], "FILLED");
    assert_eq!(order["type"], "MARKET");
    assert_eq!(order["origType"], "STOP_MARKET");
    assert_eq!(order["clientOrderId"], "stop-1");
    assert_eq!(position(m, "BTCUSDT", "BOTH").0, "0.010");
    // Trailing: not active below 51000; then tracks the high and triggers 1 % below it.
    m.set_last_price("BTCUSDT", Some("50900"));
    m.set_last_price("BTCUSDT", Some("51000"));
    m.set_last_price("BTCUSDT", Some("52000"));
    m.set_last_price("BTCUSDT", Some("51500"));
    assert_eq!(m.algo_orders()[1].status, "NEW");
    assert_eq!(m.algo_orders()[1].trigger_price, "51480.00");
    m.set_last_price("BTCUSDT", Some("51470"));
    let trail = &m.algo_orders()[1];
    assert_eq!(trail.status, "FINISHED");
    assert!(trail.actual_order_id.is_some());
    assert_eq!(position(m, "BTCUSDT", "BOTH").0, "0.000");
    // ALGO_UPDATE events: NEW, TRIGGERING, TRIGGERED, FINISHED for the stop.
    let statuses: Vec<String> = m
        .user_events()
        .iter()
        .filter(|e| e["e"] == "ALGO_UPDATE" && e["o"]["caid"] == "stop-1")
        .map(|e| e["o"]["X"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(statuses, ["NEW", "TRIGGERING", "TRIGGERED", "FINISHED"]);
    // Cancel of an algo order.
    ok(
        m,
        "POST",
        algo,
        "algoType=CONDITIONAL&symbol=BTCUSDT&side=BUY&type=TAKE_PROFIT_MARKET&quantity=0.010&triggerPrice=40000&clientAlgoId=tp-1",
    )
    .await;
    let canceled = ok(m, "DELETE", algo, "clientAlgoId=tp-1").await;
    assert_eq!(canceled["code"], "200");
    assert_eq!(
        call(m, "DELETE", algo, "clientAlgoId=tp-1").await.code(),
        -2011
    );
    assert_eq!(m.conditional_on_order_endpoint_attempts(), 0);
}

#[tokio::test]
async fn coinm_contracts_pay_pnl_and_commission_in_the_coin() {
    let sim = frozen().await;
    let c = sim.coinm();
    c.set_last_price("BTCUSD_PERP", Some("50000"));
    let order = "/dapi/v1/order";
    let limit = ok(
        c,
        "POST",
        order,
        "symbol=BTCUSD_PERP&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=48000.0",
    )
    .await;
    assert_eq!(limit["status"], "NEW");
    assert_eq!(limit["cumBase"], "0.00000000");
    let canceled = ok(
        c,
        "DELETE",
        order,
        &format!("symbol=BTCUSD_PERP&orderId={}", limit["orderId"]),
    )
    .await;
    assert_eq!(canceled["status"], "CANCELED");
    let buy = market(c, "BUY", "10", "").await;
    // 10 × 100 USD / 50000
    assert_eq!(buy["cumBase"], "0.02000000");
    c.set_last_price("BTCUSD_PERP", Some("55000"));
    market(c, "SELL", "10", "").await;
    let trades = ok(c, "GET", "/dapi/v1/userTrades", "symbol=BTCUSD_PERP").await;
    // 1000 × (1/50000 − 1/55000)
    assert_eq!(trades[1]["realizedPnl"], "0.00181818");
    assert_eq!(trades[1]["commissionAsset"], "BTC");
    // 1000 / 55000 × 0.04 %
    assert_eq!(trades[1]["commission"], "0.00000727");
    assert_eq!(trades[0]["baseQty"], "0.02000000");
    let balance = c
        .balances()
        .into_iter()
        .find(|b| b.asset == "BTC")
        .expect("BTC");
    // 10 − 0.0000080 + 0.00181818 − 0.00000727
    assert_eq!(balance.wallet_balance, "10.00180291");
    let account = ok(c, "GET", "/dapi/v1/account", "").await;
    assert!(account["assets"].as_array().is_some_and(|a| !a.is_empty()));
    let risk = ok(c, "GET", "/dapi/v1/positionRisk", "symbol=BTCUSD_PERP").await;
    assert_eq!(risk[0]["positionAmt"], "0");
}

#[tokio::test]
async fn order_fault_executes_then_answers_503() {
    let sim = frozen().await;
    let m = sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    m.set_order_fault(Some(crate::OrderFault::ExecuteThen503));
    let reply = call(
        m,
        "POST",
        ORDER,
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&newClientOrderId=unknown-1",
    )
    .await;
    assert_eq!((reply.status, reply.code()), (503, -1000));
    m.set_order_fault(None);
    let found = ok(
        m,
        "GET",
        ORDER,
        "symbol=BTCUSDT&origClientOrderId=unknown-1",
    )
    .await;
    assert_eq!(found["status"], "FILLED");
    assert_eq!(m.orders().len(), 1);
    m.set_order_fault(Some(crate::OrderFault::Reject503));
    let rejected = call(
        m,
        "POST",
        ORDER,
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010",
    )
    .await;
    assert_eq!(rejected.status, 503);
    assert_eq!(m.orders().len(), 1);
    let _ = Duration::ZERO;
}

// ----- user-data stream -----

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn key_call(m: &FuturesSim, method: &str) -> Reply {
    let path = format!("{}/listenKey", m.market().prefix());
    send(m.url(), method, &path, Some(TEST_API_KEY)).await
}

async fn connect(m: &FuturesSim, key: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("{}/ws/{key}", m.ws_url()))
        .await
        .expect("user stream connects");
    ws
}

/// The next text frame as JSON (5 s deadline); `None` when the stream ended.
async fn next_event(ws: &mut Ws) -> Option<Value> {
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("an event within 5 s");
        match frame {
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(text.as_str()).expect("JSON event"));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            _ => return None,
        }
    }
}

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    keys
}

fn recorded(text: &str) -> Value {
    serde_json::from_str(text).expect("recorded payload")
}

#[tokio::test]
async fn user_stream_sends_order_and_account_events_with_binances_fields() {
    let sim = frozen().await;
    let m = sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    assert_eq!(key_call(m, "PUT").await.code(), -1125);
    let no_key = send(m.url(), "POST", "/fapi/v1/listenKey", None).await;
    assert_eq!(no_key.code(), -2014);
    let key = key_call(m, "POST").await.json()["listenKey"]
        .as_str()
        .expect("listenKey")
        .to_owned();
    assert_eq!(key.len(), 64);
    assert_eq!(key_call(m, "POST").await.json()["listenKey"], key.as_str());
    assert_eq!(key_call(m, "PUT").await.json()["listenKey"], key.as_str());
    assert_eq!(m.listen_keys(), std::slice::from_ref(&key));
    let unknown = send(m.url(), "GET", "/ws/nosuchkey", None).await;
    assert_eq!(unknown.status, 400);
    // Binance's routed USD-M path serves the same stream.
    let (routed, _) = tokio_tungstenite::connect_async(format!("{}/private/ws/{key}", m.ws_url()))
        .await
        .expect("routed user stream connects");
    drop(routed);
    let mut ws = connect(m, &key).await;
    market(m, "BUY", "0.010", "&newClientOrderId=ws-1").await;
    let new = next_event(&mut ws).await.expect("NEW");
    assert_eq!(new["e"], "ORDER_TRADE_UPDATE");
    assert_eq!(new["o"]["x"], "NEW");
    assert_eq!(new["o"]["c"], "ws-1");
    let trade = next_event(&mut ws).await.expect("TRADE");
    assert_eq!(trade["o"]["x"], "TRADE");
    assert_eq!(trade["o"]["X"], "FILLED");
    assert_eq!(trade["o"]["l"], "0.010");
    assert_eq!(trade["o"]["L"], "50000.00");
    assert_eq!(trade["o"]["n"], "0.20000000");
    assert_eq!(trade["o"]["N"], "USDT");
    let real = recorded(include_str!(
        "../../tests/data/futures_order_update_trade.json"
    ));
    for key in sorted_keys(&real["o"]) {
        assert!(
            trade["o"].get(&key).is_some(),
            "ORDER_TRADE_UPDATE lacks o.{key}"
        );
    }
    let account = next_event(&mut ws).await.expect("ACCOUNT_UPDATE");
    let real = recorded(include_str!("../../tests/data/futures_account_update.json"));
    assert_eq!(sorted_keys(&account), sorted_keys(&real));
    assert_eq!(sorted_keys(&account["a"]), sorted_keys(&real["a"]));
    assert_eq!(
        sorted_keys(&account["a"]["B"][0]),
        sorted_keys(&real["a"]["B"][0])
    );
    assert_eq!(
        sorted_keys(&account["a"]["P"][0]),
        sorted_keys(&real["a"]["P"][0])
    );
    assert_eq!(account["a"]["m"], "ORDER");
    assert_eq!(account["a"]["P"][0]["pa"], "0.010");
    assert_eq!(account["a"]["B"][0]["wb"], "99999.80000000");
    // ALGO_UPDATE carries every recorded field.
    ok(
        m,
        "POST",
        "/fapi/v1/algoOrder",
        "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=STOP_MARKET&quantity=0.010&triggerPrice=49000",
    )
    .await;
    let algo = next_event(&mut ws).await.expect("ALGO_UPDATE");
    let real = recorded(include_str!(
        "../../tests/data/futures_algo_update_new.json"
    ));
    assert_eq!(sorted_keys(&algo), sorted_keys(&real));
    assert_eq!(sorted_keys(&algo["o"]), sorted_keys(&real["o"]));
    // Anything pushed, and a margin call.
    m.push_user_event(serde_json::json!({"e": "SOMETHING_NEW", "E": 1}));
    assert_eq!(
        next_event(&mut ws).await.expect("pushed")["e"],
        "SOMETHING_NEW"
    );
    m.emit_margin_call();
    let call = next_event(&mut ws).await.expect("MARGIN_CALL");
    assert_eq!(call["e"], "MARGIN_CALL");
    assert_eq!(call["p"][0]["s"], "BTCUSDT");
    // DELETE ends the key and its connections.
    assert_eq!(key_call(m, "DELETE").await.status, 200);
    assert!(next_event(&mut ws).await.is_none());
    assert!(m.listen_keys().is_empty());
}

#[tokio::test]
async fn listen_key_expires_without_keepalive_and_streams_can_be_cut_or_refused() {
    let sim = frozen().await;
    let c = sim.coinm();
    let key = key_call(c, "POST").await.json()["listenKey"]
        .as_str()
        .expect("listenKey")
        .to_owned();
    let mut ws = connect(c, &key).await;
    c.drop_user_streams();
    assert!(next_event(&mut ws).await.is_none(), "dropped");
    c.refuse_user_stream_connects(true);
    let refused = send(c.url(), "GET", &format!("/ws/{key}"), None).await;
    assert_eq!(refused.status, 503);
    c.refuse_user_stream_connects(false);
    let mut ws = connect(c, &key).await;
    c.set_listen_key_ttl(Duration::from_millis(50));
    let expired = next_event(&mut ws).await.expect("listenKeyExpired");
    assert_eq!(expired["e"], "listenKeyExpired");
    assert_eq!(expired["listenKey"], key.as_str());
    assert!(c.listen_keys().is_empty());
    assert_eq!(key_call(c, "PUT").await.code(), -1125);
    // No further events on the expired key's connection; a new key streams again.
    c.set_listen_key_ttl(super::DEFAULT_LISTEN_KEY_TTL);
    c.set_last_price("BTCUSD_PERP", Some("50000"));
    let fresh = key_call(c, "POST").await.json()["listenKey"]
        .as_str()
        .expect("listenKey")
        .to_owned();
    assert_ne!(fresh, key);
    let mut ws2 = connect(c, &fresh).await;
    market(c, "BUY", "1", "").await;
    let event = next_event(&mut ws2).await.expect("event on the new key");
    assert_eq!(event["e"], "ORDER_TRADE_UPDATE");
    assert_eq!(event["i"], "SgsR");
    assert_eq!(event["o"]["ma"], "BTC");
    c.push_user_event(serde_json::json!({"e": "marker"}));
    assert_eq!(next_event(&mut ws).await.expect("marker")["e"], "marker");
    c.expire_listen_key();
    // After the order's TRADE and ACCOUNT_UPDATE and the pushed marker.
    let mut expired = Value::Null;
    for _ in 0..4 {
        expired = next_event(&mut ws2).await.expect("events then the expiry");
        if expired["e"] == "listenKeyExpired" {
            break;
        }
    }
    assert_eq!(expired["e"], "listenKeyExpired");
    assert_eq!(expired["listenKey"], fresh.as_str());
}

#[tokio::test]
async fn coinm_trailing_stop_and_mark_price_stop_on_the_order_endpoint() {
    let sim = frozen().await;
    let c = sim.coinm();
    let o = "/dapi/v1/order";
    c.set_last_price("BTCUSD_PERP", Some("50000"));
    market(c, "BUY", "4", "").await;
    let trailing = ok(
        c,
        "POST",
        o,
        "symbol=BTCUSD_PERP&side=SELL&type=TRAILING_STOP_MARKET&quantity=2&callbackRate=2&reduceOnly=true",
    )
    .await;
    assert_eq!(trailing["type"], "TRAILING_STOP_MARKET");
    assert_eq!(trailing["priceRate"], "2.0");
    // Active at once (no activation price): best 50000, then 51000; 2 % below is 49980.
    c.set_last_price("BTCUSD_PERP", Some("51000"));
    c.set_last_price("BTCUSD_PERP", Some("50000"));
    assert_eq!(c.orders()[1].status, "NEW");
    c.set_last_price("BTCUSD_PERP", Some("49900"));
    assert_eq!(c.orders()[1].status, "FILLED");
    assert_eq!(position(c, "BTCUSD_PERP", "BOTH").0, "2");
    // A MARK_PRICE stop ignores the contract price.
    let stop = ok(
        c,
        "POST",
        o,
        "symbol=BTCUSD_PERP&side=SELL&type=STOP_MARKET&stopPrice=48000&closePosition=true&workingType=MARK_PRICE",
    )
    .await;
    assert_eq!(stop["closePosition"], true);
    assert_eq!(stop["workingType"], "MARK_PRICE");
    c.set_mark_price("BTCUSD_PERP", Some("49000"));
    c.set_last_price("BTCUSD_PERP", Some("47000"));
    assert_eq!(c.orders()[2].status, "NEW");
    c.set_mark_price("BTCUSD_PERP", Some("47900"));
    assert_eq!(c.orders()[2].status, "FILLED");
    assert_eq!(c.orders()[2].executed_qty, "2");
    assert_eq!(position(c, "BTCUSD_PERP", "BOTH").0, "0");
}
