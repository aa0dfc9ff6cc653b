//! The query methods over the control socket, against the simulator: `ticker.get`,
//! `market.get` and `trade.list` (a daemon in this process with the simulator's test
//! credentials, driven over its real Unix socket).

mod common;
mod orders_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use exchange_sim::{SimHandle, TEST_API_KEY, TEST_API_SECRET};
use serde_json::Value;
use tempfile::TempDir;
use tradebeat::config::Config;
use tradebeat::control::protocol::{
    MarketGet, MarketSymbolParams, OrderCancelAll, OrderList, OrderListParams, OrderPlace,
    OrderTest, TickerGet, TradeList, TradeListParams, code,
};
use tradebeat::control::{Client, ClientError};
use tradebeat::domain::{Market, OrderStatus, Secret, Side};

use orders_support::{BTC_PRICE, d, req};

/// A daemon with the test credentials on a simulator where BTCUSDT allows LIMIT and
/// MARKET orders at [`BTC_PRICE`].
struct Running {
    sim: SimHandle,
    _dir: TempDir,
    _daemon: common::InProcess,
    socket: PathBuf,
}

impl Running {
    /// `stream: false`: the simulator refuses WebSocket connections, so no user-data
    /// stream tells the daemon about orders placed outside it.
    async fn start_with(stream: bool) -> Running {
        let sim = common::sim().await;
        sim.set_ws_refuse_connections(!stream);
        sim.set_order_types("BTCUSDT", &["LIMIT", "MARKET"]);
        sim.set_order_price("BTCUSDT", Some(BTC_PRICE));
        let dir = common::tempdir();
        let mut config: Config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
        config.exchange.usdm_rest_url = Some(sim.usdm_url.clone());
        config.exchange.api_key = Some(Secret::new(TEST_API_KEY));
        config.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
        let socket = config.control.socket.clone();
        let daemon = common::InProcess::start(config);
        common::wait_until("the control socket", Duration::from_secs(20), || {
            socket.exists()
        })
        .await;
        Running {
            sim,
            _dir: dir,
            _daemon: daemon,
            socket,
        }
    }

    async fn start() -> Running {
        Running::start_with(true).await
    }

    async fn client(&self) -> Client {
        Client::connect(&self.socket)
            .await
            .expect("connect to the control socket")
            .with_timeout(Duration::from_secs(20))
    }
}

fn rpc_code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (i64, Value) {
    match result {
        Err(ClientError::Rpc(e)) => (e.code, e.data.unwrap_or(Value::Null)),
        other => panic!("expected an error response, got {other:?}"),
    }
}

fn on(symbol: &str, market: Option<Market>) -> MarketSymbolParams {
    MarketSymbolParams {
        symbol: symbol.parse().unwrap(),
        market,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticker_market_and_trades_over_the_socket() {
    let r = Running::start().await;
    let mut c = r.client().await;

    // ticker.get asks the exchange now: the 24 h window ends at the time of the call (a
    // stored ticker would be older), and the book is coherent.
    let asked_at = r.sim.now_ms();
    let t = c
        .call::<TickerGet>(&on("btcusdt", None))
        .await
        .expect("ticker.get");
    assert!(
        t.close_time >= asked_at,
        "live: {} < {asked_at}",
        t.close_time
    );
    assert_eq!((t.symbol.as_str(), t.market), ("BTCUSDT", Market::Spot));
    let (last, bid, ask) = (d(&t.last), d(&t.bid), d(&t.ask));
    assert!(last > d("0") && bid > d("0") && bid <= ask, "{t:?}");
    assert!(d(&t.low) <= last && last <= d(&t.high), "{t:?}");
    assert!(t.open_time < t.close_time && t.trades > 0, "{t:?}");
    let (e, data) = rpc_code(c.call::<TickerGet>(&on("NOPEUSDT", None)).await);
    assert_eq!(
        (e, data["symbol"].as_str()),
        (code::UNKNOWN_SYMBOL, Some("NOPEUSDT"))
    );
    let (e, data) = rpc_code(
        c.call::<TickerGet>(&on("BTCUSDT", Some(Market::UsdM)))
            .await,
    );
    assert_eq!(
        (e, data["param"].as_str()),
        (code::NOT_AVAILABLE, Some("market"))
    );

    // market.get: the exchange's filters for the symbol, from one cached exchangeInfo.
    let direct = orders_support::client(&r.sim, Duration::from_secs(5))
        .exchange_info_for(&"BTCUSDT".parse().unwrap())
        .await
        .expect("exchangeInfo");
    let listed = &direct.symbols[0].filters;
    let m = c
        .call::<MarketGet>(&on("BTCUSDT", None))
        .await
        .expect("market.get");
    let price = listed.price.expect("PRICE_FILTER");
    let lot = listed.lot_size.expect("LOT_SIZE");
    assert_eq!(m.status, "TRADING");
    assert_eq!(
        (m.base_asset.as_str(), m.quote_asset.as_str()),
        ("BTC", "USDT")
    );
    assert_eq!(m.tick_size, Some(price.tick_size));
    assert_eq!(m.step_size, Some(lot.step_size));
    assert_eq!(m.min_qty, Some(lot.min_qty));
    assert_eq!(m.price_precision, Some(price.tick_size.normalize().scale()));
    assert_eq!(
        m.quantity_precision,
        Some(lot.step_size.normalize().scale())
    );
    assert!(m.min_notional.is_some(), "{m:?}");
    let infos = orders_support::requests(&r.sim, "GET", "/api/v3/exchangeInfo");
    c.call::<MarketGet>(&on("BTCUSDT", None))
        .await
        .expect("market.get again");
    assert_eq!(
        orders_support::requests(&r.sim, "GET", "/api/v3/exchangeInfo"),
        infos,
        "the second market.get is answered from the cache"
    );
    let (e, _) = rpc_code(c.call::<MarketGet>(&on("NOPEUSDT", None)).await);
    assert_eq!(e, code::UNKNOWN_SYMBOL);

    // trade.list: a MARKET fill reaches `executions` (user-data stream) and is listed.
    let none = c
        .call::<TradeList>(&TradeListParams::default())
        .await
        .expect("trade.list");
    assert!(none.is_empty(), "{none:?}");
    let order = c
        .call::<OrderPlace>(&req("BTCUSDT", "MARKET BUY q=0.002"))
        .await
        .expect("MARKET placed");
    let fill = order.fills.first().expect("a fill").clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    let trades = loop {
        let trades = c
            .call::<TradeList>(&TradeListParams {
                symbol: Some("BTCUSDT".parse().unwrap()),
                ..Default::default()
            })
            .await
            .expect("trade.list");
        if !trades.is_empty() || Instant::now() > deadline {
            break trades;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(trades.len(), 1, "{trades:?}");
    let t = &trades[0];
    assert_eq!(t.order_id, order.order_id.unwrap());
    assert_eq!(t.trade_id, fill.trade_id);
    assert_eq!((t.price, t.qty), (fill.price, fill.qty));
    assert_eq!(t.quote_qty, fill.price * fill.qty);
    assert_eq!(t.commission, fill.commission);
    assert_eq!(
        t.commission_asset.as_deref(),
        Some(fill.commission_asset.as_str())
    );
    assert_eq!(
        (t.side, t.maker, t.realized_pnl),
        (Some(Side::Buy), Some(false), None)
    );
    // Filters: a time range that excludes it, another symbol, a bad limit.
    let later = c
        .call::<TradeList>(&TradeListParams {
            start: Some(t.time + 1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(later.is_empty());
    let other = c
        .call::<TradeList>(&TradeListParams {
            symbol: Some("ETHUSDT".parse().unwrap()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(other.is_empty());
    let (e, data) = rpc_code(
        c.call::<TradeList>(&TradeListParams {
            limit: Some(0),
            ..Default::default()
        })
        .await,
    );
    assert_eq!(
        (e, data["param"].as_str()),
        (code::INVALID_PARAMS, Some("limit"))
    );
}

/// An order placed on the exchange outside tradebeat: a LIMIT BUY resting below the price.
fn outside_limit(sim: &SimHandle) -> i64 {
    let answer = sim
        .place_order(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.001"),
            ("price", "60000.00"),
            ("newClientOrderId", "outside-1"),
        ])
        .expect("outside order placed");
    answer["orderId"].as_i64().expect("orderId")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_test_live_list_and_cancel_all() {
    let r = Running::start_with(false).await;
    let mut c = r.client().await;
    let tests_sent = || orders_support::requests(&r.sim, "POST", "/api/v3/order/test");

    // order.test: the exchange's test endpoint is asked, nothing is placed or stored.
    let tested = c
        .call::<OrderTest>(&req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC id=t-1"))
        .await
        .expect("order.test");
    assert!(tested.accepted && !tested.placed);
    assert_eq!(tests_sent(), 1);
    assert!(r.sim.orders().is_empty(), "nothing placed");
    assert_eq!(orders_support::requests(&r.sim, "POST", "/api/v3/order"), 0);
    let stored = c
        .call::<OrderList>(&OrderListParams::default())
        .await
        .unwrap();
    assert!(stored.is_empty(), "nothing stored: {stored:?}");
    // A rule violation is refused locally: the exchange is not asked.
    let (e, data) = rpc_code(
        c.call::<OrderTest>(&req("BTCUSDT", "LIMIT BUY q=0.001 p=60000.005 tif=GTC"))
            .await,
    );
    assert_eq!(
        (e, data["rule"].as_str()),
        (code::INVALID_PARAMS, Some("PRICE_FILTER"))
    );
    assert_eq!(tests_sent(), 1);
    // The exchange's own refusal (here: an order type it stopped allowing since the
    // rules were cached) is -32005 with Binance's code.
    r.sim.set_order_types("BTCUSDT", &["LIMIT"]);
    let (e, data) = rpc_code(
        c.call::<OrderTest>(&req("BTCUSDT", "MARKET BUY q=0.001"))
            .await,
    );
    assert_eq!(e, code::EXCHANGE_REJECTED, "{data}");
    assert!(data["code"].as_i64().is_some_and(|c| c < 0), "{data}");
    assert_eq!(tests_sent(), 2);
    r.sim.set_order_types("BTCUSDT", &["LIMIT", "MARKET"]);
    assert!(r.sim.orders().is_empty(), "still nothing placed");

    // live: true spots an order that exists only on the exchange.
    let ours = c
        .call::<OrderPlace>(&req(
            "BTCUSDT",
            "LIMIT BUY q=0.001 p=61000 tif=GTC id=ours-1",
        ))
        .await
        .expect("placed");
    let outside_id = outside_limit(&r.sim);
    let live = c
        .call::<OrderList>(&OrderListParams {
            live: Some(true),
            ..Default::default()
        })
        .await
        .expect("order.list live");
    let mark = |id: i64| {
        live.iter()
            .find(|o| o.order_id == Some(id))
            .and_then(|o| o.live.clone())
    };
    assert_eq!(live.len(), 2, "{live:?}");
    assert_eq!(mark(ours.order_id.unwrap()).as_deref(), Some("same"));
    assert_eq!(mark(outside_id).as_deref(), Some("exchange_only"));
    let outside = live
        .iter()
        .find(|o| o.order_id == Some(outside_id))
        .unwrap();
    assert_eq!(
        (outside.id, outside.client_order_id.as_str()),
        (0, "outside-1")
    );
    // Without live, the list is the database's and carries no mark.
    let plain = c
        .call::<OrderList>(&OrderListParams::default())
        .await
        .unwrap();
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].live, None);

    // cancel_all: one request; nothing stays open on the exchange or in the database.
    let cancelled = c
        .call::<OrderCancelAll>(&on("BTCUSDT", None))
        .await
        .expect("order.cancel_all");
    assert_eq!(
        orders_support::requests(&r.sim, "DELETE", "/api/v3/openOrders"),
        1
    );
    assert_eq!(cancelled.len(), 2, "{cancelled:?}");
    assert!(cancelled.iter().all(|o| o.status == OrderStatus::Canceled));
    assert!(
        r.sim.orders().iter().all(|o| o.status != "NEW"),
        "nothing open on the exchange"
    );
    let open = c
        .call::<OrderList>(&OrderListParams {
            open: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(open.is_empty(), "nothing open in the database: {open:?}");
    // Nothing open any more: an empty answer, not an error.
    let again = c
        .call::<OrderCancelAll>(&on("BTCUSDT", None))
        .await
        .expect("again");
    assert!(again.is_empty());
    // The same on USDⓈ-M, through that market's own orders component and exchange.
    let futures = c
        .call::<OrderCancelAll>(&on("BTCUSDT", Some(Market::UsdM)))
        .await
        .expect("usdm cancel-all");
    assert!(futures.is_empty(), "{futures:?}");
}

/// `tradebeat ctl --json ARGS…` against the daemon's socket: its JSON output, or a panic
/// with its stderr when it fails.
async fn ctl_json(r: &Running, args: &[&str]) -> Value {
    let socket = r.socket.clone();
    let dir = r._dir.path().to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        common::tradebeat_command(&dir)
            .arg("ctl")
            .arg("--socket")
            .arg(&socket)
            .arg("--json")
            .args(&args)
            .output()
            .expect("ctl runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "ctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_price_market_trades_and_orders_against_the_exchange() {
    let r = Running::start().await;
    let mut c = r.client().await;
    let fill = c
        .call::<OrderPlace>(&req("BTCUSDT", "MARKET BUY q=0.002 id=ctl-fill-1"))
        .await
        .expect("MARKET placed");
    let fill_id = fill.order_id.expect("the exchange's id");

    // ctl price: the live ticker; ctl market: the symbol's rules.
    let ticker = ctl_json(&r, &["price", "BTCUSDT"]).await;
    assert_eq!(ticker["symbol"], "BTCUSDT", "{ticker}");
    assert!(
        ticker["last"].as_str().is_some_and(|p| d(p) > d("0")),
        "{ticker}"
    );
    let rules = ctl_json(&r, &["market", "btcusdt"]).await;
    assert_eq!(rules["status"], "TRADING", "{rules}");
    assert!(rules["tick_size"].is_string(), "{rules}");

    // ctl trades: the fill, once the stream stored it.
    let trades = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let trades = ctl_json(&r, &["trades", "--symbol", "BTCUSDT"]).await;
            let found = trades
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x["order_id"] == fill_id));
            if found {
                break trades;
            }
            assert!(Instant::now() < deadline, "no fill: {trades}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert_eq!(trades[0]["side"], "BUY", "{trades}");

    // ctl orders test: accepted, nothing placed or stored.
    let placed_before = r.sim.orders().len();
    let tested = ctl_json(
        &r,
        &[
            "orders",
            "test",
            "BTCUSDT",
            "--side",
            "BUY",
            "--type",
            "LIMIT",
            "--quantity",
            "0.001",
            "--price",
            "60000",
            "--time-in-force",
            "GTC",
        ],
    )
    .await;
    assert_eq!(
        (tested["accepted"].as_bool(), tested["placed"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(r.sim.orders().len(), placed_before, "nothing placed");

    // ctl orders list --live: a resting order of ours, as the exchange has it.
    let resting = c
        .call::<OrderPlace>(&req(
            "BTCUSDT",
            "LIMIT BUY q=0.001 p=61000 tif=GTC id=ctl-rest-1",
        ))
        .await
        .expect("LIMIT placed");
    let live = ctl_json(&r, &["orders", "list", "--live"]).await;
    assert!(
        live.as_array()
            .is_some_and(|l| l.iter().any(|o| o["client_order_id"] == "ctl-rest-1"
                && o["order_id"] == resting.order_id.unwrap())),
        "{live}"
    );

    // ctl orders cancel-all: nothing open is left.
    let cancelled = ctl_json(&r, &["orders", "cancel-all", "BTCUSDT"]).await;
    assert!(
        cancelled
            .as_array()
            .is_some_and(|l| l.iter().any(|o| o["client_order_id"] == "ctl-rest-1")),
        "{cancelled}"
    );
    let open = c
        .call::<OrderList>(&OrderListParams {
            open: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(open.is_empty(), "still open: {open:?}");
    assert_eq!(
        r.sim.order("ctl-rest-1").map(|o| o.status),
        Some("CANCELED".to_string()),
        "cancelled on the exchange"
    );
}
