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
    MarketGet, MarketSymbolParams, OrderPlace, TickerGet, TradeList, TradeListParams, code,
};
use tradebeat::control::{Client, ClientError};
use tradebeat::domain::{Market, Secret, Side};

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
    async fn start() -> Running {
        let sim = common::sim().await;
        sim.set_order_types("BTCUSDT", &["LIMIT", "MARKET"]);
        sim.set_order_price("BTCUSDT", Some(BTC_PRICE));
        let dir = common::tempdir();
        let mut config: Config = common::config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
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

    // ticker.get asks the exchange now: one more 24 h ticker request, and a coherent book.
    let before = orders_support::requests(&r.sim, "GET", "/api/v3/ticker/24hr");
    let t = c
        .call::<TickerGet>(&on("btcusdt", None))
        .await
        .expect("ticker.get");
    assert_eq!(
        orders_support::requests(&r.sim, "GET", "/api/v3/ticker/24hr"),
        before + 1,
        "ticker.get is live"
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
