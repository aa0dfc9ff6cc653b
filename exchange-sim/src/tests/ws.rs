//! WebSocket API tests with a real client (tokio-tungstenite): subscription and its errors,
//! user-data events shaped like the recorded real payload, keepalive and faults. Every wait
//! is for an event with a deadline.

use std::{collections::BTreeSet, time::Duration};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::{net::TcpStream, time::Instant};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Error as WsError, Message, protocol::frame::coding::CloseCode},
};

use super::{get, send, signed};
use crate::{SimConfig, SimHandle, TEST_API_KEY, TEST_API_SECRET, spawn};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for anything the simulator should do.
const WAIT: Duration = Duration::from_secs(5);
/// The recorded real payload the simulator's execution reports are shaped like.
const RECORDED: &str = include_str!("../../tests/data/execution_report_wrapped.json");

async fn sim_at(price: &str) -> SimHandle {
    let sim = spawn(SimConfig::default()).await.expect("spawn");
    sim.set_order_price("BTCUSDT", Some(price));
    sim
}

async fn connect(sim: &SimHandle) -> Ws {
    connect_async(sim.ws_api_url()).await.expect("ws connect").0
}

/// Polls `condition` until it holds, failing after [`WAIT`].
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// HMAC-SHA256 hex of `payload`, computed here independently of the simulator.
fn hmac_hex(secret: &str, payload: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(payload.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Subscription params signed over `apiKey=…&recvWindow=…&timestamp=…`.
fn subscribe_params(key: &str, secret: &str, timestamp: i64, recv_window: Option<i64>) -> Value {
    let payload = match recv_window {
        Some(w) => format!("apiKey={key}&recvWindow={w}&timestamp={timestamp}"),
        None => format!("apiKey={key}&timestamp={timestamp}"),
    };
    let mut params = json!({
        "apiKey": key,
        "timestamp": timestamp,
        "signature": hmac_hex(secret, &payload),
    });
    if let Some(w) = recv_window {
        params["recvWindow"] = json!(w);
    }
    params
}

async fn send_json(ws: &mut Ws, value: &Value) {
    ws.send(Message::text(value.to_string()))
        .await
        .expect("ws send");
}

/// The next text frame as JSON (pings are answered by the client and skipped).
async fn next_json(ws: &mut Ws) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a frame within the deadline")
            .expect("connection open")
            .expect("a valid frame");
        match frame {
            Message::Text(text) => {
                return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The next user-data event (unwrapped), checking the wrapper's subscription id.
async fn next_event(ws: &mut Ws, subscription_id: u64) -> Value {
    let frame = next_json(ws).await;
    assert_eq!(frame["subscriptionId"], subscription_id, "{frame}");
    frame["event"].clone()
}

async fn call(ws: &mut Ws, id: impl Into<Value>, method: &str, params: Value) -> Value {
    let id: Value = id.into();
    send_json(ws, &json!({"id": id, "method": method, "params": params})).await;
    let answer = next_json(ws).await;
    assert_eq!(answer["id"], id, "{answer}");
    answer
}

async fn subscribe(sim: &SimHandle, ws: &mut Ws) -> u64 {
    let params = subscribe_params(TEST_API_KEY, TEST_API_SECRET, sim.now_ms(), Some(5000));
    let answer = call(ws, "sub", "userDataStream.subscribe.signature", params).await;
    assert_eq!(answer["status"], 200, "{answer}");
    answer["result"]["subscriptionId"]
        .as_u64()
        .expect("subscription id")
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn error_of(answer: &Value) -> (i64, i64, &str) {
    (
        answer["status"].as_i64().expect("status"),
        answer["error"]["code"].as_i64().expect("code"),
        answer["error"]["msg"].as_str().expect("msg"),
    )
}

async fn rest(sim: &SimHandle, method: &str, path: &str, query: &str) -> super::Reply {
    let path = format!("{path}?{}", signed(query, sim.now_ms(), TEST_API_SECRET));
    send(sim, method, &path, Some(TEST_API_KEY)).await
}

#[tokio::test]
async fn rest_market_order_streams_new_then_trade_shaped_like_binance() {
    let sim = sim_at("65000").await;
    let mut ws = connect(&sim).await;
    let sub = subscribe(&sim, &mut ws).await;
    assert_eq!(sub, 0);
    assert_eq!(sim.ws_subscriptions_active(), 1);

    let reply = rest(
        &sim,
        "POST",
        "/api/v3/order",
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.002&newClientOrderId=mkt1",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let placed = reply.json();
    let fill = &placed["fills"][0];

    let recorded: Value = serde_json::from_str(RECORDED).expect("recorded payload");
    let recorded_keys = keys(&recorded["event"]);
    let new = next_event(&mut ws, sub).await;
    assert_eq!(keys(&new), recorded_keys, "{new}");
    assert_eq!(new["e"], "executionReport");
    assert_eq!(
        (new["x"].as_str(), new["X"].as_str()),
        (Some("NEW"), Some("NEW"))
    );
    assert_eq!(new["c"], "mkt1");
    assert_eq!(new["C"], "");
    assert_eq!(new["i"], placed["orderId"]);
    assert_eq!(new["q"], "0.00200000");
    assert_eq!(new["z"], "0.00000000");
    assert_eq!(new["N"], Value::Null);
    assert_eq!(new["t"], -1);
    assert_eq!(new["n"], "0");

    let trade = next_event(&mut ws, sub).await;
    assert_eq!(keys(&trade), recorded_keys, "{trade}");
    assert_eq!(
        (trade["x"].as_str(), trade["X"].as_str()),
        (Some("TRADE"), Some("FILLED"))
    );
    assert_eq!(trade["i"], placed["orderId"]);
    assert_eq!(trade["l"], "0.00200000");
    assert_eq!(trade["z"], "0.00200000");
    assert_eq!(trade["L"], fill["price"]);
    assert_eq!(trade["L"], "65000.01000000", "a buy fills at the ask");
    assert_eq!(trade["n"], fill["commission"]);
    assert_eq!(trade["N"], "BTC");
    assert_eq!(trade["t"], fill["tradeId"]);
    assert_eq!(trade["Y"], "130.00002000");
    assert_eq!(trade["Z"], placed["cummulativeQuoteQty"]);
    assert_eq!(trade["m"], false);
    let execution_ids = (
        new["I"].as_i64().expect("I"),
        trade["I"].as_i64().expect("I"),
    );
    assert_eq!(
        execution_ids.1,
        execution_ids.0 + 1,
        "a global execution id counter"
    );

    let position = next_event(&mut ws, sub).await;
    assert_eq!(position["e"], "outboundAccountPosition", "{position}");
    let assets: Vec<&str> = position["B"]
        .as_array()
        .expect("B")
        .iter()
        .map(|b| b["a"].as_str().expect("a"))
        .collect();
    assert_eq!(assets, ["BTC", "USDT"]);
    let btc = sim
        .balances()
        .into_iter()
        .find(|b| b.asset == "BTC")
        .expect("BTC");
    assert_eq!(position["B"][0]["f"], btc.free.as_str());

    // A resting order placed outside tradebeat, then filled by a price move alone.
    let placed = sim
        .place_order(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.001"),
            ("price", "64000"),
        ])
        .expect("placed");
    let new = next_event(&mut ws, sub).await;
    assert_eq!(
        (new["x"].as_str(), new["w"].as_bool()),
        (Some("NEW"), Some(true))
    );
    assert_eq!(new["W"], new["O"]);
    assert_eq!(
        next_event(&mut ws, sub).await["e"],
        "outboundAccountPosition"
    );
    sim.set_order_price("BTCUSDT", Some("63999"));
    let trade = next_event(&mut ws, sub).await;
    assert_eq!(trade["i"], placed["orderId"]);
    assert_eq!(
        (trade["x"].as_str(), trade["m"].as_bool()),
        (Some("TRADE"), Some(true))
    );
    assert_eq!(
        trade["L"], "64000.00000000",
        "a resting limit fills at its price"
    );
    assert_eq!(
        next_event(&mut ws, sub).await["e"],
        "outboundAccountPosition"
    );

    // The log holds exactly the frames sent.
    let log = sim.ws_events();
    assert_eq!(log.len(), 7);
    assert!(
        log.iter()
            .all(|e| e.delivered == 1 && e.subscription_id == Some(0))
    );
    let logged: Value = serde_json::from_str(&log[1].json).expect("json");
    assert_eq!(logged["event"]["x"], "TRADE");
}

#[tokio::test]
async fn subscription_requests_answer_with_binances_codes() {
    let sim = sim_at("65000").await;
    let mut ws = connect(&sim).await;
    let now = sim.now_ms();
    let method = "userDataStream.subscribe.signature";
    let mut bad_signature = subscribe_params(TEST_API_KEY, TEST_API_SECRET, now, None);
    bad_signature["signature"] = json!(hmac_hex("wrong", "x"));
    let other_key = "otherKey0123";
    let cases = [
        (bad_signature, 400, -1022),
        (
            subscribe_params(other_key, TEST_API_SECRET, now, None),
            401,
            -2015,
        ),
        (
            subscribe_params(TEST_API_KEY, TEST_API_SECRET, now - 6000, None),
            400,
            -1021,
        ),
        (
            subscribe_params(TEST_API_KEY, TEST_API_SECRET, now + 2000, None),
            400,
            -1021,
        ),
        (
            subscribe_params(TEST_API_KEY, TEST_API_SECRET, now, Some(70_000)),
            400,
            -1131,
        ),
        (json!({"timestamp": now, "signature": "00"}), 400, -1102),
    ];
    for (i, (params, status, code)) in cases.into_iter().enumerate() {
        let answer = call(&mut ws, format!("c{i}"), method, params).await;
        assert_eq!(
            (error_of(&answer).0, error_of(&answer).1),
            (status, code),
            "case {i}: {answer}"
        );
    }
    let answer = call(
        &mut ws,
        "k",
        method,
        subscribe_params(other_key, TEST_API_SECRET, now, None),
    )
    .await;
    assert_eq!(
        error_of(&answer).2,
        "Invalid API-key, IP, or permissions for action."
    );
    // An old timestamp passes with a wide enough recvWindow.
    let params = subscribe_params(TEST_API_KEY, TEST_API_SECRET, now - 6000, Some(60_000));
    let answer = call(&mut ws, "ok", method, params).await;
    assert_eq!(answer["result"], json!({"subscriptionId": 0}), "{answer}");
    let limits = &answer["rateLimits"][0];
    assert_eq!(limits["rateLimitType"], "REQUEST_WEIGHT");
    assert_eq!(limits["limit"], 6000);
    assert!(limits["count"].as_u64().expect("count") >= 2);

    let params = subscribe_params(TEST_API_KEY, TEST_API_SECRET, sim.now_ms(), None);
    let answer = call(&mut ws, "again", method, params).await;
    assert_eq!(
        error_of(&answer),
        (400, -2035, "User Data Stream subscription already active.")
    );
    let answer = call(&mut ws, "list", "session.subscriptions", json!({})).await;
    assert_eq!(answer["result"], json!([{"subscriptionId": 0}]));
    let answer = call(&mut ws, 7, "ping", json!({})).await;
    assert_eq!(
        (answer["status"].as_i64(), &answer["result"]),
        (Some(200), &json!({}))
    );
    let answer = call(&mut ws, "u", "no.such.method", json!({})).await;
    assert_eq!(error_of(&answer).1, -1020);
    ws.send(Message::text("{not json")).await.expect("send");
    let answer = next_json(&mut ws).await;
    assert_eq!(
        (answer["id"].clone(), error_of(&answer).1),
        (Value::Null, -1000)
    );

    // Unsubscribe: eventStreamTerminated, then the answer; then nothing is active.
    send_json(
        &mut ws,
        &json!({"id": "un", "method": "userDataStream.unsubscribe"}),
    )
    .await;
    let terminated = next_json(&mut ws).await;
    assert_eq!(terminated["subscriptionId"], 0);
    assert_eq!(terminated["event"]["e"], "eventStreamTerminated");
    assert!(terminated["event"]["E"].is_i64());
    let answer = next_json(&mut ws).await;
    assert_eq!(
        (answer["id"].as_str(), &answer["result"]),
        (Some("un"), &json!({}))
    );
    assert_eq!(sim.ws_subscriptions_active(), 0);
    let answer = call(&mut ws, "un2", "userDataStream.unsubscribe", json!({})).await;
    assert_eq!(
        error_of(&answer),
        (400, -2036, "User Data Stream subscription not active.")
    );
    // The next subscription on the connection gets the next id.
    assert_eq!(subscribe(&sim, &mut ws).await, 1);

    // A forced subscribe error (bad-credential tests).
    sim.set_ws_subscribe_error(Some((
        401,
        -2015,
        "Invalid API-key, IP, or permissions for action.".into(),
    )));
    let mut other = connect(&sim).await;
    let params = subscribe_params(TEST_API_KEY, TEST_API_SECRET, sim.now_ms(), None);
    let answer = call(&mut other, "f", method, params).await;
    assert_eq!((error_of(&answer).0, error_of(&answer).1), (401, -2015));
    assert_eq!(sim.ws_subscriptions_active(), 1);
}

#[tokio::test]
async fn cancels_and_expiries_stream_with_binances_client_ids() {
    let sim = sim_at("65000").await;
    let mut ws = connect(&sim).await;
    let sub = subscribe(&sim, &mut ws).await;
    let reply = rest(
        &sim,
        "POST",
        "/api/v3/order",
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.001&price=70000&newClientOrderId=rest1",
    )
    .await;
    assert_eq!(reply.json()["status"], "NEW", "{}", reply.body);
    assert_eq!(next_event(&mut ws, sub).await["X"], "NEW");
    assert_eq!(
        next_event(&mut ws, sub).await["e"],
        "outboundAccountPosition"
    );
    let reply = rest(
        &sim,
        "DELETE",
        "/api/v3/order",
        "symbol=BTCUSDT&origClientOrderId=rest1&newClientOrderId=myCancel",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let canceled = next_event(&mut ws, sub).await;
    assert_eq!(
        (canceled["x"].as_str(), canceled["X"].as_str()),
        (Some("CANCELED"), Some("CANCELED"))
    );
    assert_eq!(
        (canceled["c"].as_str(), canceled["C"].as_str()),
        (Some("myCancel"), Some("rest1"))
    );
    let position = next_event(&mut ws, sub).await;
    assert_eq!(
        position["B"],
        json!([{"a": "BTC", "f": "1.00000000", "l": "0.00000000"}])
    );

    // IOC that cannot fill: NEW, then EXPIRED; no balance moved, so no position event.
    let placed = sim
        .place_order(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "IOC"),
            ("quantity", "0.001"),
            ("price", "60000"),
        ])
        .expect("placed");
    assert_eq!(placed["status"], "EXPIRED");
    let new = next_event(&mut ws, sub).await;
    assert_eq!(
        (new["x"].as_str(), new["w"].as_bool()),
        (Some("NEW"), Some(false))
    );
    let expired = next_event(&mut ws, sub).await;
    assert_eq!(
        (expired["x"].as_str(), expired["X"].as_str()),
        (Some("EXPIRED"), Some("EXPIRED"))
    );
    assert_eq!(expired["f"], "IOC");

    // A cancel outside tradebeat: generated cancel id, original id in C.
    let placed = sim
        .place_order(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.001"),
            ("price", "60000"),
            ("newClientOrderId", "outside1"),
        ])
        .expect("placed");
    let order_id = placed["orderId"].as_i64().expect("order id");
    assert_eq!(next_event(&mut ws, sub).await["c"], "outside1");
    assert_eq!(
        next_event(&mut ws, sub).await["e"],
        "outboundAccountPosition"
    );
    let answer = sim
        .cancel_order_by_id("BTCUSDT", order_id)
        .expect("canceled");
    let canceled = next_event(&mut ws, sub).await;
    assert_eq!(canceled["X"], "CANCELED");
    assert_eq!(canceled["c"], answer["clientOrderId"]);
    assert_eq!(canceled["C"], "outside1");
    assert_eq!(
        sim.cancel_order_by_id("BTCUSDT", order_id),
        Err((-2011, "Unknown order sent.".to_owned()))
    );
    assert_eq!(
        sim.place_order(&[("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET")])
            .map_err(|e| e.0),
        Err(-1102)
    );
}

#[tokio::test]
async fn deposits_pushed_events_and_replays_reach_subscribers() {
    let sim = sim_at("65000").await;
    let mut ws = connect(&sim).await;
    let sub = subscribe(&sim, &mut ws).await;
    sim.deposit("USDT", "250.5");
    let update = next_event(&mut ws, sub).await;
    assert_eq!(keys(&update), keys(&json!({"e":0,"E":0,"a":0,"d":0,"T":0})));
    assert_eq!(
        (
            update["e"].as_str(),
            update["a"].as_str(),
            update["d"].as_str()
        ),
        (Some("balanceUpdate"), Some("USDT"), Some("250.50000000"))
    );
    let position = next_event(&mut ws, sub).await;
    assert_eq!(
        position["B"],
        json!([{"a": "USDT", "f": "100250.50000000", "l": "0.00000000"}])
    );
    assert_eq!(position["u"], position["E"]);

    let list_status = json!({"e": "listStatus", "E": 1, "s": "BTCUSDT", "g": 2});
    sim.push_ws_event(list_status.clone());
    assert_eq!(next_event(&mut ws, sub).await, list_status);
    sim.replay_ws_events(3);
    assert_eq!(next_event(&mut ws, sub).await, update);
    assert_eq!(next_event(&mut ws, sub).await, position);
    assert_eq!(next_event(&mut ws, sub).await, list_status);
    assert_eq!(sim.ws_events().len(), 6);
}

#[tokio::test]
async fn pings_arrive_and_a_client_that_never_pongs_is_closed() {
    let sim = sim_at("65000").await;
    sim.set_ws_ping_interval(Duration::from_millis(100));
    sim.set_ws_pong_timeout(Duration::from_millis(400));
    let mut mute = connect(&sim).await; // never reads, so never pongs
    let live = connect(&sim).await;
    // The live client reads, which answers every ping with its payload.
    let reader = tokio::spawn(async move {
        let mut live = live;
        let mut pings = Vec::new();
        while let Some(Ok(frame)) = live.next().await {
            if let Message::Ping(payload) = frame {
                pings.push(payload);
            }
            if pings.len() == 8 {
                break;
            }
        }
        (live, pings)
    });
    wait_until("the mute client to be closed", || {
        sim.ws_connections_open() == 1
    })
    .await;
    let (_live, pings) = tokio::time::timeout(WAIT, reader)
        .await
        .expect("eight pings in time")
        .expect("reader");
    assert!(
        pings.iter().all(|p| !p.is_empty()),
        "ping payloads are non-empty"
    );
    assert_eq!(sim.ws_connections_open(), 1, "the ponging client stays");
    wait_until("pongs to be counted", || sim.ws_pongs_received() >= 7).await;
    // The mute client finds its pings, then the end of the connection (a close frame with
    // 1008, unless answering the queued pings on the closed socket reset it first).
    let mut pings = 0;
    loop {
        match tokio::time::timeout(WAIT, mute.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(frame.map(|f| f.code), Some(CloseCode::Policy));
                break;
            }
            Some(Ok(other)) => panic!("unexpected frame {other:?}"),
            None | Some(Err(_)) => break,
        }
    }
    assert!(pings >= 1, "the mute client was pinged before being closed");
}

#[tokio::test]
async fn dropped_connections_lose_events_and_refused_upgrades_get_503() {
    let sim = sim_at("65000").await;
    let mut ws = connect(&sim).await;
    subscribe(&sim, &mut ws).await;
    sim.drop_ws_connections();
    // No close frame: the socket just ends.
    let end = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("end in time");
    assert!(
        matches!(
            end,
            None | Some(Err(WsError::Protocol(_)
                | WsError::Io(_)
                | WsError::ConnectionClosed))
        ),
        "{end:?}"
    );
    wait_until("the connection to be gone", || {
        sim.ws_connections_open() == 0
    })
    .await;
    sim.deposit("BTC", "0.5");
    let lost = sim.ws_events();
    assert_eq!(lost.len(), 2);
    assert!(lost.iter().all(|e| e.delivered == 0), "{lost:?}");

    sim.set_ws_refuse_connections(true);
    match connect_async(sim.ws_api_url()).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    sim.set_ws_refuse_connections(false);
    let mut ws = connect(&sim).await;
    assert_eq!(subscribe(&sim, &mut ws).await, 0);
    assert_eq!(
        sim.ws_connections_total(),
        2,
        "the refused upgrade is not counted"
    );

    // The 24 h limit, shortened: a close frame once the connection is older.
    sim.set_ws_max_lifetime(Duration::from_millis(200));
    let mut closed = None;
    while let Some(Ok(frame)) = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("in time")
    {
        if let Message::Close(frame) = frame {
            closed = frame;
            break;
        }
    }
    assert_eq!(closed.map(|f| f.code), Some(CloseCode::Normal));
    wait_until("the old connection to be closed", || {
        sim.ws_connections_open() == 0
    })
    .await;
}

#[tokio::test]
async fn a_silent_server_sends_nothing_until_it_speaks_again() {
    let sim = sim_at("65000").await;
    sim.set_ws_ping_interval(Duration::from_millis(50));
    let mut ws = connect(&sim).await;
    let sub = subscribe(&sim, &mut ws).await;
    sim.set_ws_silent(true);
    sim.deposit("BTC", "0.25");
    send_json(&mut ws, &json!({"id": "p", "method": "ping"})).await;
    ws.send(Message::Ping("client".into())).await.expect("ping");
    // Nothing at all arrives — no event, answer, pong or server ping — in six ping intervals.
    let quiet = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(quiet.is_err(), "a silent server sent {quiet:?}");
    assert!(sim.ws_events().iter().all(|e| e.delivered == 0));
    assert_eq!(sim.ws_connections_open(), 1, "the link stays open");
    // A new connection is silent too.
    let mut other = connect(&sim).await;
    send_json(&mut other, &json!({"id": "q", "method": "ping"})).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(100), other.next())
            .await
            .is_err()
    );

    sim.set_ws_silent(false);
    let answer = next_json(&mut ws).await;
    assert_eq!(
        (answer["id"].as_str(), answer["status"].as_i64()),
        (Some("p"), Some(200))
    );
    sim.deposit("BTC", "0.25");
    let update = next_event(&mut ws, sub).await;
    assert_eq!(update["e"], "balanceUpdate");
}

#[tokio::test]
async fn server_shutdown_is_announced_then_closed() {
    let sim = sim_at("65000").await;
    let mut ws = connect(&sim).await;
    sim.ws_server_shutdown();
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["event"]["e"], "serverShutdown");
    assert!(frame.get("subscriptionId").is_none());
    let close = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("in time");
    assert!(
        matches!(close, Some(Ok(Message::Close(Some(ref f)))) if f.code == CloseCode::Normal),
        "{close:?}"
    );
    wait_until("the connection to be closed", || {
        sim.ws_connections_open() == 0
    })
    .await;
    assert_eq!(
        sim.ws_events().last().map(|e| e.subscription_id),
        Some(None)
    );
}

#[tokio::test]
async fn my_trades_pages_by_id_and_time_and_account_lists_need_no_symbol() {
    let sim = sim_at("65000").await;
    for _ in 0..5 {
        sim.place_order(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "0.001"),
        ])
        .expect("market order");
    }
    let ids = |reply: &super::Reply| -> Vec<i64> {
        reply
            .json()
            .as_array()
            .unwrap_or_else(|| panic!("array: {}", reply.body))
            .iter()
            .map(|t| t["id"].as_i64().expect("id"))
            .collect()
    };
    let trades = |query: &'static str| rest(&sim, "GET", "/api/v3/myTrades", query);
    let all = ids(&trades("symbol=BTCUSDT").await);
    assert_eq!(all.len(), 5);
    let first = all[0];
    let page = ids(&rest(
        &sim,
        "GET",
        "/api/v3/myTrades",
        &format!("symbol=BTCUSDT&fromId={}&limit=2", first + 1),
    )
    .await);
    assert_eq!(page, [first + 1, first + 2]);
    let page = ids(&rest(
        &sim,
        "GET",
        "/api/v3/myTrades",
        &format!("symbol=BTCUSDT&fromId={}&limit=2", first + 3),
    )
    .await);
    assert_eq!(page, [first + 3, first + 4]);
    assert_eq!(
        ids(&trades("symbol=BTCUSDT&limit=2").await),
        [first + 3, first + 4],
        "the most recent"
    );
    let now = sim.now_ms();
    let window =
        |start: i64, end: i64| format!("symbol=BTCUSDT&startTime={start}&endTime={end}&limit=3");
    assert_eq!(
        ids(&rest(
            &sim,
            "GET",
            "/api/v3/myTrades",
            &window(now - 60_000, now + 1)
        )
        .await),
        all[..3]
    );
    assert!(
        ids(&rest(&sim, "GET", "/api/v3/myTrades", &window(now + 10, now + 20)).await).is_empty()
    );
    let too_long = rest(
        &sim,
        "GET",
        "/api/v3/myTrades",
        &window(now - 90_000_000, now),
    )
    .await;
    assert_eq!(too_long.error_code(), -1127);
    let bad_combo = rest(
        &sim,
        "GET",
        "/api/v3/myTrades",
        &format!("symbol=BTCUSDT&orderId=1&startTime={now}"),
    )
    .await;
    assert_eq!(bad_combo.error_code(), -1128);

    sim.clear_request_log();
    let account = rest(&sim, "GET", "/api/v3/account", "").await;
    assert_eq!(account.status, 200, "{}", account.body);
    assert!(account.json()["balances"].is_array());
    let open = rest(&sim, "GET", "/api/v3/openOrders", "").await;
    assert_eq!(open.json(), json!([]));
    let weights: Vec<u32> = sim.request_log().iter().map(|r| r.weight).collect();
    assert_eq!(weights, [20, 80]);
}

#[tokio::test]
async fn book_ticker_stream_sends_the_rest_book_at_once_and_again_when_the_clock_moves() {
    let sim = spawn(SimConfig::default()).await.expect("spawn");
    let url = format!("{}/ws/btcusdt@bookTicker", sim.ws_url());
    let (mut ws, _) = connect_async(url).await.expect("ws connect");
    let first = next_json(&mut ws).await;
    assert_eq!(first["s"], "BTCUSDT");
    assert_eq!(first["u"], 1);
    let rest = get(&sim, "/api/v3/ticker/bookTicker?symbol=BTCUSDT")
        .await
        .json();
    // The replay moves within the minute: the REST book is the streamed one or newer.
    let bid: f64 = first["b"].as_str().unwrap().parse().unwrap();
    let ask: f64 = first["a"].as_str().unwrap().parse().unwrap();
    assert!(bid < ask, "{first}");
    assert_eq!(first["B"], rest["bidQty"]);
    assert_eq!(sim.market_streams_opened(), 1);

    // Two hours later on the exchange: a new book, sent without waiting for a tick.
    sim.set_clock_skew_ms(2 * 3_600_000);
    let moved = next_json(&mut ws).await;
    assert!(moved["u"].as_u64().unwrap() >= 2);
    let rest = get(&sim, "/api/v3/ticker/bookTicker?symbol=BTCUSDT")
        .await
        .json();
    let streamed: f64 = moved["b"].as_str().unwrap().parse().unwrap();
    let now: f64 = rest["bidPrice"].as_str().unwrap().parse().unwrap();
    assert!(
        (streamed - now).abs() < (bid - now).abs().max(1.0),
        "the stream follows the clock: streamed {streamed}, REST {now}, before {bid}"
    );

    // A cut ends the connection.
    sim.drop_market_streams();
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the connection ends");
}

#[tokio::test]
async fn market_stream_refuses_unknown_streams_and_symbols() {
    let sim = spawn(SimConfig::default()).await.expect("spawn");
    for stream in [
        "nosuchusdt@bookTicker",
        "btcusdt@depth",
        "BTCUSDT@bookTicker",
    ] {
        let url = format!("{}/ws/{stream}", sim.ws_url());
        match connect_async(url).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 400, "{stream}"),
            other => panic!("{stream}: {:?}", other.map(|_| ())),
        }
    }
    assert_eq!(sim.market_streams_opened(), 0);
}
