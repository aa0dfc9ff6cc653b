//! The futures endpoints over real TCP with frozen market clocks (no sleeping).

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{FuturesMarket, FuturesSim};
use crate::{SimConfig, SimHandle, decimal::parse_units, spawn};

/// 2026-12-02 12:34:56.789 UTC.
const NOW: i64 = 1_796_212_800_000 + 34 * 60_000 + 56_789;
const MIN: i64 = 60_000;

const BTC_CSV: &str = include_str!("../../data/BTCUSDT-1m-2023-11-15_to_2023-11-21.csv");
const BTC_FIRST_OPEN: i64 = 1_700_006_400_000;

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

/// One `GET` on a fresh connection to `base` (`http://127.0.0.1:PORT`).
async fn get(base: &str, path_and_query: &str) -> Reply {
    let addr = base.strip_prefix("http://").expect("http URL");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request =
        format!("GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
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

/// A simulator whose markets all stand still at [`NOW`], started as if at [`NOW`] (the
/// COIN-M delivery contract listed depends on the start time).
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
    sim.shared.clock.freeze(NOW);
    sim.usdm.shared.clock.freeze(NOW);
    sim.coinm.shared.clock.freeze(NOW);
    sim
}

/// The recorded CSV columns wall-clock minute `open_ms` replays on BTCUSDT.
fn recorded_btc(open_ms: i64) -> Vec<&'static str> {
    let index = (open_ms - BTC_FIRST_OPEN)
        .div_euclid(MIN)
        .rem_euclid(10_080);
    let line = BTC_CSV
        .lines()
        .nth(usize::try_from(index).expect("index") + 1)
        .expect("row");
    line.split(',').collect()
}

fn units(v: &Value) -> i128 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    i128::from(parse_units(s).unwrap_or_else(|| panic!("not a decimal: {s}")))
}

fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn recorded(name: &str) -> Value {
    let text = match name {
        "premium_index" => include_str!("../../tests/data/http_futures_market_premium_index.json"),
        "ticker_24hr" => include_str!("../../tests/data/http_futures_market_ticker_24hr.json"),
        "funding_rate" => include_str!("../../tests/data/http_futures_market_funding_rate.json"),
        "open_interest" => include_str!("../../tests/data/http_futures_market_open_interest.json"),
        "open_interest_historical" => {
            include_str!("../../tests/data/http_futures_market_open_interest_historical.json")
        }
        "klines" => include_str!("../../tests/data/http_futures_market_klines.json"),
        _ => panic!("no recording {name}"),
    };
    serde_json::from_str(text).expect("recorded payload")
}

#[tokio::test]
async fn usdm_1m_klines_are_the_recorded_rows_verbatim() {
    let sim = frozen().await;
    let start = NOW - NOW % MIN - 30 * MIN;
    let reply = get(
        &sim.usdm_url,
        &format!("/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime={start}&limit=30"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.used_weight(), 1, "limit < 100 weighs 1");
    let served = reply.json();
    let served = served.as_array().expect("array");
    assert_eq!(served.len(), 30);
    for (i, k) in served.iter().enumerate() {
        let open = start + i64::try_from(i).expect("i") * MIN;
        let rec = recorded_btc(open);
        assert_eq!(k[0], open);
        assert_eq!(k[6], open + MIN - 1);
        for (col, text) in [
            (1, rec[1]),
            (2, rec[2]),
            (3, rec[3]),
            (4, rec[4]),
            (5, rec[5]),
        ] {
            assert_eq!(k[col], text, "column {col} of {open}");
        }
        assert_eq!(k[7], rec[7]);
        assert_eq!(
            k[8].as_u64().map(|n| n.to_string()).as_deref(),
            Some(rec[8])
        );
        assert_eq!(k[9], rec[9]);
        assert_eq!(k[10], rec[10]);
        assert_eq!(k[11], "0");
        let handle = sim.usdm().kline("BTCUSDT", "1m", open).expect("kline");
        assert_eq!(handle.close, rec[4]);
    }
    // The same shape as a recorded real answer: 12 fields, strings where Binance has them.
    let real = recorded("klines");
    let kinds = |k: &Value| -> Vec<bool> {
        k.as_array()
            .expect("kline")
            .iter()
            .map(Value::is_string)
            .collect()
    };
    assert_eq!(kinds(&served[0]), kinds(&real[0]));
}

#[tokio::test]
async fn hourly_klines_aggregate_their_minutes_and_coinm_counts_contracts() {
    let sim = frozen().await;
    let hour = NOW - NOW % 3_600_000 - 3_600_000;
    let reply = get(
        &sim.usdm_url,
        &format!("/fapi/v1/klines?symbol=BTCUSDT&interval=1h&startTime={hour}&limit=1"),
    )
    .await;
    let k = &reply.json()[0];
    let minutes: Vec<Vec<&str>> = (0..60).map(|i| recorded_btc(hour + i * MIN)).collect();
    let u = |s: &str| i128::from(parse_units(s).expect("decimal"));
    assert_eq!(k[1], minutes[0][1]);
    assert_eq!(k[4], minutes[59][4]);
    assert_eq!(
        units(&k[2]),
        minutes.iter().map(|m| u(m[2])).max().expect("max")
    );
    assert_eq!(
        units(&k[3]),
        minutes.iter().map(|m| u(m[3])).min().expect("min")
    );
    assert_eq!(units(&k[5]), minutes.iter().map(|m| u(m[5])).sum::<i128>());
    assert_eq!(units(&k[7]), minutes.iter().map(|m| u(m[7])).sum::<i128>());
    let trades: u64 = minutes
        .iter()
        .map(|m| m[8].parse::<u64>().expect("count"))
        .sum();
    assert_eq!(k[8].as_u64(), Some(trades));
    // The running hour is partial: its close is the running minute's open.
    let open_hour = get(
        &sim.usdm_url,
        "/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=1",
    )
    .await
    .json();
    assert_eq!(open_hour[0][0], hour + 3_600_000);
    assert_eq!(open_hour[0][4], recorded_btc(NOW - NOW % MIN)[1]);

    // COIN-M: the same prices, volume in contracts of 100 USD.
    let minute = NOW - NOW % MIN - MIN;
    let coin = get(
        &sim.coinm_url,
        &format!("/dapi/v1/klines?symbol=BTCUSD_PERP&interval=1m&startTime={minute}&limit=1"),
    )
    .await
    .json();
    let rec = recorded_btc(minute);
    assert_eq!(coin[0][1], rec[1]);
    let contracts = coin[0][5]
        .as_str()
        .expect("volume")
        .parse::<i128>()
        .expect("integer");
    assert_eq!(
        contracts,
        (u(rec[7]) + 50 * 100_000_000) / (100 * 100_000_000)
    );
    assert_eq!(coin[0][7], rec[5], "index 7 is the base volume");
    let delivery = sim.coinm().delivery_symbol().expect("delivery contract");
    let reply = get(
        &sim.coinm_url,
        &format!("/dapi/v1/klines?symbol={delivery}&interval=1m&startTime={minute}&limit=1"),
    )
    .await;
    assert_eq!(reply.json()[0][5], coin[0][5]);
    // Nothing before the onboard date.
    let reply = get(
        &sim.usdm_url,
        "/fapi/v1/klines?symbol=BTCUSDT&interval=1d&startTime=0&endTime=1569484800000",
    )
    .await;
    let days = reply.json();
    assert_eq!(days.as_array().map(Vec::len), Some(2));
    // The first daily candle holds the onboard time (2019-09-25 08:00 UTC).
    assert_eq!(days[0][0], 1_569_369_600_000_i64);
}

#[tokio::test]
async fn exchange_info_and_contract_lifecycle() {
    let sim = frozen().await;
    let usdm = get(&sim.usdm_url, "/fapi/v1/exchangeInfo").await;
    assert_eq!(usdm.used_weight(), 1);
    let info = usdm.json();
    assert_eq!(info["serverTime"], NOW);
    assert_eq!(info["rateLimits"][0]["rateLimitType"], "REQUEST_WEIGHT");
    assert_eq!(info["rateLimits"][0]["limit"], 2400);
    let names: Vec<&str> = info["symbols"]
        .as_array()
        .expect("symbols")
        .iter()
        .filter_map(|s| s["symbol"].as_str())
        .collect();
    assert_eq!(names, ["BTCUSDT", "ETHUSDT"]);
    assert_eq!(info["symbols"][0]["contractType"], "PERPETUAL");
    assert_eq!(info["symbols"][0]["status"], "TRADING");
    assert_eq!(info["symbols"][0]["filters"][0]["tickSize"], "0.10");

    let coinm = get(&sim.coinm_url, "/dapi/v1/exchangeInfo").await.json();
    let delivery = sim.coinm().delivery_symbol().expect("delivery");
    assert_eq!(delivery, "BTCUSD_261225");
    let entry = |info: &Value, name: &str| -> Value {
        info["symbols"]
            .as_array()
            .expect("symbols")
            .iter()
            .find(|s| s["symbol"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let perp = entry(&coinm, "BTCUSD_PERP");
    assert_eq!(perp["contractSize"], 100);
    assert_eq!(perp["contractStatus"], "TRADING");
    let quarter = entry(&coinm, &delivery);
    assert_eq!(quarter["contractType"], "CURRENT_QUARTER");
    assert_eq!(quarter["deliveryDate"], 1_798_185_600_000_i64);

    sim.coinm().settle(&delivery);
    let info = get(&sim.coinm_url, "/dapi/v1/exchangeInfo").await.json();
    assert_eq!(entry(&info, &delivery)["contractStatus"], "SETTLING");
    sim.coinm().delist(&delivery);
    let info = get(&sim.coinm_url, "/dapi/v1/exchangeInfo").await.json();
    assert_eq!(entry(&info, &delivery), Value::Null);
    let gone = get(
        &sim.coinm_url,
        &format!("/dapi/v1/openInterest?symbol={delivery}"),
    )
    .await;
    assert_eq!((gone.status, gone.error_code()), (400, -1121));
    // The spot exchange is another listener and knows nothing of futures paths.
    let spot = get(&sim.base_url(), "/fapi/v1/ping").await;
    assert_eq!(spot.status, 404);
}

#[tokio::test]
async fn premium_index_and_open_interest_shapes() {
    let sim = frozen().await;
    let one = get(&sim.usdm_url, "/fapi/v1/premiumIndex?symbol=BTCUSDT").await;
    assert_eq!(one.used_weight(), 1);
    let one = one.json();
    assert_eq!(keys(&one), keys(&recorded("premium_index")));
    assert_eq!(one["time"], NOW);
    assert_eq!(one["nextFundingTime"], 1_796_227_200_000_i64, "16:00 UTC");
    assert_eq!(one["interestRate"], "0.00010000");
    let expected = sim.usdm().premium_index("BTCUSDT", NOW).expect("premium");
    assert_eq!(one["markPrice"], expected.mark_price);
    assert_eq!(
        units(&one["markPrice"]),
        i128::from(parse_units(recorded_btc(NOW - NOW % MIN)[4]).expect("close"))
    );
    let all = get(&sim.usdm_url, "/fapi/v1/premiumIndex").await;
    assert_eq!(all.used_weight(), 11);
    assert_eq!(all.json().as_array().map(Vec::len), Some(2));

    let coin = get(&sim.coinm_url, "/dapi/v1/premiumIndex?pair=BTCUSD").await;
    assert_eq!(coin.used_weight(), 10);
    let coin = coin.json();
    let coin = coin.as_array().expect("COIN-M answers an array");
    assert_eq!(coin.len(), 2);
    assert_eq!(coin[0]["pair"], "BTCUSD");
    assert_ne!(coin[0]["lastFundingRate"], "");
    assert_eq!(
        coin[1]["lastFundingRate"], "",
        "delivery contracts have no funding"
    );
    assert_eq!(coin[1]["nextFundingTime"], 0);

    let oi = get(&sim.usdm_url, "/fapi/v1/openInterest?symbol=BTCUSDT")
        .await
        .json();
    assert_eq!(keys(&oi), keys(&recorded("open_interest")));
    let text = oi["openInterest"].as_str().expect("string");
    assert_eq!(text.split_once('.').map(|(_, f)| f.len()), Some(3));
    let coin_oi = get(&sim.coinm_url, "/dapi/v1/openInterest?symbol=BTCUSD_PERP")
        .await
        .json();
    assert_eq!(coin_oi["contractType"], "PERPETUAL");
    assert_eq!(coin_oi["pair"], "BTCUSD");
    let contracts: i128 = coin_oi["openInterest"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("whole contracts");
    // Contracts of 100 USD worth the USD-M quantity at the mark price.
    let usd = units(&oi["openInterest"]) * units(&one["markPrice"]) / 100_000_000;
    assert_eq!(contracts, (usd + 50 * 100_000_000) / (100 * 100_000_000));

    let unknown = get(&sim.usdm_url, "/fapi/v1/openInterest?symbol=BTCUSD_PERP").await;
    assert_eq!((unknown.status, unknown.error_code()), (400, -1121));
    let missing = get(&sim.usdm_url, "/fapi/v1/openInterest").await;
    assert_eq!(missing.error_code(), -1102);
}

#[tokio::test]
async fn ticker_24hr_shapes() {
    let sim = frozen().await;
    let one = get(&sim.usdm_url, "/fapi/v1/ticker/24hr?symbol=ETHUSDT").await;
    assert_eq!(one.used_weight(), 1);
    let one = one.json();
    assert_eq!(keys(&one), keys(&recorded("ticker_24hr")));
    let change = units(&one["lastPrice"]) - units(&one["openPrice"]);
    let served_change = one["priceChange"].as_str().expect("priceChange");
    let served_change = served_change.trim_start_matches('-');
    assert_eq!(
        i128::from(parse_units(served_change).expect("decimal")),
        change.abs()
    );
    assert!(units(&one["highPrice"]) >= units(&one["lowPrice"]));
    let first = one["firstId"].as_u64().expect("firstId");
    let last = one["lastId"].as_u64().expect("lastId");
    assert_eq!(last - first + 1, one["count"].as_u64().expect("count"));
    let all = get(&sim.usdm_url, "/fapi/v1/ticker/24hr").await;
    assert_eq!(all.used_weight(), 41);
    assert_eq!(all.json().as_array().map(Vec::len), Some(2));
    let coin = get(&sim.coinm_url, "/dapi/v1/ticker/24hr?symbol=BTCUSD_PERP")
        .await
        .json();
    assert_eq!(coin[0]["pair"], "BTCUSD");
    assert!(coin[0]["baseVolume"].is_string());
    assert!(
        !coin[0]["volume"].as_str().expect("volume").contains('.'),
        "contracts"
    );
}

#[tokio::test]
async fn funding_rate_history_pages() {
    let sim = frozen().await;
    const EIGHT_H: i64 = 8 * 3_600_000;
    let start = NOW - 10 * EIGHT_H;
    let page = get(
        &sim.usdm_url,
        &format!("/fapi/v1/fundingRate?symbol=BTCUSDT&startTime={start}&limit=4"),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = page.json();
    let page = page.as_array().expect("array");
    assert_eq!(page.len(), 4);
    let first = (start / EIGHT_H + 1) * EIGHT_H;
    for (i, e) in page.iter().enumerate() {
        assert_eq!(
            e["fundingTime"],
            first + i64::try_from(i).expect("i") * EIGHT_H
        );
        for key in keys(&recorded("funding_rate")[0]) {
            assert!(e.get(&key).is_some(), "{key} missing in {e}");
        }
    }
    let expected = sim.usdm().funding_rates("BTCUSDT", start, NOW);
    assert_eq!(expected.len(), 10);
    assert_eq!(page[0]["fundingRate"], expected[0].funding_rate);
    assert_eq!(page[3]["markPrice"], expected[3].mark_price);
    // Without a range: the most recent ones, up to now.
    let latest = get(&sim.usdm_url, "/fapi/v1/fundingRate?symbol=BTCUSDT&limit=2")
        .await
        .json();
    assert_eq!(latest[1]["fundingTime"], NOW - NOW % EIGHT_H);
    let too_many = get(
        &sim.usdm_url,
        "/fapi/v1/fundingRate?symbol=BTCUSDT&limit=1001",
    )
    .await;
    assert_eq!(too_many.error_code(), -1100);
    let delivery = sim.coinm().delivery_symbol().expect("delivery");
    let none = get(
        &sim.coinm_url,
        &format!("/dapi/v1/fundingRate?symbol={delivery}"),
    )
    .await;
    assert_eq!(none.body, "[]");
    let perp = get(
        &sim.coinm_url,
        "/dapi/v1/fundingRate?symbol=BTCUSD_PERP&limit=1",
    )
    .await
    .json();
    assert_eq!(perp[0]["symbol"], "BTCUSD_PERP");

    // USD-M: 500 requests per 5 minutes of their own, then 429.
    sim.usdm().reset_rate_limits();
    sim.usdm.shared.funding_limiter.set_limit(1);
    let q = "/fapi/v1/fundingRate?symbol=BTCUSDT&limit=1";
    assert_eq!(get(&sim.usdm_url, q).await.status, 200);
    let throttled = get(&sim.usdm_url, q).await;
    assert_eq!((throttled.status, throttled.error_code()), (429, -1003));
    assert_eq!(get(&sim.usdm_url, "/fapi/v1/ping").await.status, 200);
}

#[tokio::test]
async fn open_interest_history_keeps_30_days_and_has_its_own_limit() {
    let sim = frozen().await;
    let path = "/futures/data/openInterestHist";
    let reply = get(&sim.usdm_url, &format!("{path}?symbol=BTCUSDT&period=5m")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.used_weight(), 0, "weight 0 on the fapi host");
    let rows = reply.json();
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 30, "default limit");
    let last = NOW - NOW % (5 * MIN);
    assert_eq!(rows[29]["timestamp"], last.to_string(), "a string on fapi");
    for key in keys(&recorded("open_interest_historical")[0]) {
        assert!(rows[0].get(&key).is_some(), "{key} missing");
    }
    // A range starting more than 30 days back is refused; the last 30 days are there.
    let old = NOW - 31 * 86_400_000;
    let refused = get(
        &sim.usdm_url,
        &format!("{path}?symbol=BTCUSDT&period=1h&startTime={old}"),
    )
    .await;
    assert_eq!((refused.status, refused.error_code()), (400, -1130));
    let kept = NOW - 30 * 86_400_000 + 3_600_000;
    let page = get(
        &sim.usdm_url,
        &format!("{path}?symbol=BTCUSDT&period=4h&startTime={kept}&limit=500"),
    )
    .await
    .json();
    let times: Vec<i64> = page
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            r["timestamp"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .expect("timestamp")
        })
        .collect();
    const FOUR_H: i64 = 4 * 3_600_000;
    assert!(times[0] >= kept && times[0] - FOUR_H < kept, "{}", times[0]);
    assert_eq!(times[times.len() - 1], NOW - NOW % FOUR_H);
    assert!(times.windows(2).all(|w| w[1] - w[0] == FOUR_H), "no gap");
    let over = get(
        &sim.usdm_url,
        &format!("{path}?symbol=BTCUSDT&period=5m&limit=501"),
    )
    .await;
    assert_eq!(over.error_code(), -1100);
    let period = get(&sim.usdm_url, &format!("{path}?symbol=BTCUSDT&period=1m")).await;
    assert_eq!(period.error_code(), -1130);

    let coin = get(
        &sim.coinm_url,
        &format!("{path}?pair=BTCUSD&contractType=ALL&period=5m&limit=1"),
    )
    .await;
    assert_eq!(coin.used_weight(), 1);
    let coin = coin.json();
    assert_eq!(coin[0]["timestamp"], last, "a number on dapi");
    let perp = sim
        .coinm()
        .open_interest("BTCUSD_PERP", last)
        .expect("perp");
    let delivery = sim.coinm().delivery_symbol().expect("delivery");
    let quarter = sim.coinm().open_interest(&delivery, last).expect("quarter");
    let sum = perp.open_interest.parse::<i64>().expect("n")
        + quarter.open_interest.parse::<i64>().expect("n");
    assert_eq!(coin[0]["sumOpenInterest"], sum.to_string());

    // 1000 requests per 5 minutes, then 429, then 418, on this host only.
    sim.usdm().reset_rate_limits();
    sim.usdm.shared.data_limiter.set_limit(2);
    let q = format!("{path}?symbol=BTCUSDT&period=5m&limit=1");
    for _ in 0..2 {
        assert_eq!(get(&sim.usdm_url, &q).await.status, 200);
    }
    let throttled = get(&sim.usdm_url, &q).await;
    assert_eq!((throttled.status, throttled.error_code()), (429, -1003));
    assert!(throttled.header("retry-after").is_some());
    for _ in 0..crate::REQUESTS_AFTER_429_BEFORE_BAN {
        assert_eq!(get(&sim.usdm_url, &q).await.status, 429);
    }
    assert_eq!(get(&sim.usdm_url, &q).await.status, 418);
    assert_eq!(
        get(&sim.usdm_url, "/fapi/v1/ping").await.status,
        200,
        "weight unaffected"
    );
}

async fn statuses(market: &FuturesSim, path: &str) -> u16 {
    get(market.url(), path).await.status
}

#[tokio::test]
async fn limits_bans_and_faults_are_per_market() {
    let sim = frozen().await;
    sim.usdm().set_weight_limit(3);
    let ping = "/fapi/v1/ping";
    for used in 1..=3 {
        assert_eq!(get(&sim.usdm_url, ping).await.used_weight(), used);
    }
    let throttled = get(&sim.usdm_url, ping).await;
    assert_eq!((throttled.status, throttled.error_code()), (429, -1003));
    for _ in 0..crate::REQUESTS_AFTER_429_BEFORE_BAN {
        assert_eq!(statuses(sim.usdm(), ping).await, 429);
    }
    let banned = get(&sim.usdm_url, ping).await;
    assert_eq!((banned.status, banned.error_code()), (418, -1003));
    assert!(banned.header("retry-after").is_some());
    // Spot and COIN-M do not notice.
    assert_eq!(statuses(sim.coinm(), "/dapi/v1/ping").await, 200);
    assert_eq!(get(&sim.base_url(), "/api/v3/ping").await.status, 200);
    assert_eq!(sim.usdm().count_status(418), 1);
    assert_eq!(sim.coinm().count_status(418), 0);

    sim.usdm().reset_rate_limits();
    sim.usdm().set_weight_limit(2400);
    assert_eq!(statuses(sim.usdm(), ping).await, 200);
    sim.coinm().ban_for(std::time::Duration::from_secs(60));
    assert_eq!(statuses(sim.coinm(), "/dapi/v1/time").await, 418);
    assert_eq!(statuses(sim.usdm(), ping).await, 200);

    sim.coinm().reset_rate_limits();
    sim.coinm().set_forced_429(true);
    for _ in 0..=crate::REQUESTS_AFTER_429_BEFORE_BAN + 1 {
        let forced = get(&sim.coinm_url, "/dapi/v1/time").await;
        assert_eq!(
            (forced.status, forced.error_code()),
            (429, -1003),
            "never a ban"
        );
    }
    sim.coinm().set_forced_429(false);
    assert_eq!(statuses(sim.coinm(), "/dapi/v1/time").await, 200);

    sim.usdm().set_malformed("/fapi/v1/premiumIndex", true);
    let garbled = get(&sim.usdm_url, "/fapi/v1/premiumIndex?symbol=BTCUSDT").await;
    assert_eq!(garbled.status, 200);
    assert!(serde_json::from_str::<Value>(&garbled.body).is_err());
    sim.usdm().set_error_rate_5xx(1.0);
    assert_eq!(statuses(sim.usdm(), ping).await, 503);
    assert_eq!(get(&sim.base_url(), "/api/v3/ping").await.status, 200);
    assert_eq!(
        sim.futures(FuturesMarket::Usdm).market(),
        FuturesMarket::Usdm
    );
}

#[tokio::test]
async fn clock_skew_is_per_market() {
    let sim = spawn(SimConfig::default()).await.expect("spawn");
    sim.coinm().set_clock_skew_ms(-3_600_000);
    let spot = get(&sim.base_url(), "/api/v3/time").await.json()["serverTime"]
        .as_i64()
        .expect("time");
    let coin = get(&sim.coinm_url, "/dapi/v1/time").await.json()["serverTime"]
        .as_i64()
        .expect("time");
    let usdm = get(&sim.usdm_url, "/fapi/v1/time").await.json()["serverTime"]
        .as_i64()
        .expect("time");
    // Generous bounds: the three requests happen within seconds.
    assert!((spot - coin - 3_600_000).abs() < 30_000, "{spot} {coin}");
    assert!((usdm - spot).abs() < 30_000, "{usdm} {spot}");
}

#[tokio::test]
async fn kline_weights_and_errors() {
    let sim = frozen().await;
    let weight = |reply: &Reply| reply.used_weight();
    let mut used = 0;
    for (limit, w) in [("99", 1), ("100", 2), ("500", 5), ("1000", 5), ("1001", 10)] {
        let reply = get(
            &sim.usdm_url,
            &format!("/fapi/v1/klines?symbol=ETHUSDT&interval=1m&limit={limit}"),
        )
        .await;
        used += w;
        assert_eq!(weight(&reply), used, "limit {limit}");
    }
    let default = get(&sim.usdm_url, "/fapi/v1/klines?symbol=ETHUSDT&interval=1m").await;
    assert_eq!(weight(&default), used + 5, "default limit 500");
    assert_eq!(default.json().as_array().map(Vec::len), Some(500));
    let over = get(
        &sim.usdm_url,
        "/fapi/v1/klines?symbol=ETHUSDT&interval=1m&limit=1501",
    )
    .await;
    assert_eq!(over.error_code(), -1100);
    let unknown = get(
        &sim.usdm_url,
        "/fapi/v1/klines?symbol=BTCUSD_PERP&interval=1m",
    )
    .await;
    assert_eq!((unknown.status, unknown.error_code()), (400, -1121));
    let interval = get(&sim.usdm_url, "/fapi/v1/klines?symbol=ETHUSDT&interval=2m").await;
    assert_eq!(interval.error_code(), -1120);
    // COIN-M ranges are at most 200 days.
    let start = NOW - 201 * 86_400_000;
    let long = get(
        &sim.coinm_url,
        &format!("/dapi/v1/klines?symbol=BTCUSD_PERP&interval=1d&startTime={start}&endTime={NOW}"),
    )
    .await;
    assert_eq!((long.status, long.error_code()), (400, -1130));
    let from = get(
        &sim.coinm_url,
        &format!("/dapi/v1/klines?symbol=BTCUSD_PERP&interval=1d&startTime={start}&limit=1500"),
    )
    .await
    .json();
    // Daily candles opening in [start, start + 200 days]: 200 of them, none after.
    assert_eq!(from.as_array().map(Vec::len), Some(200));
}
