//! Futures trading against the simulator's USD-M and COIN-M order engines: every futures
//! type placed, queried and cancelled; USD-M conditional types through the Algo Service
//! (never `/fapi/v1/order`); a 503 after execution resolved by query; positions following
//! fills; leverage and margin type; a filter violation refused locally. Each test builds an
//! [`Orders`] for one futures market in this process, signed with the simulator's test key.

mod orders_support;

use std::time::Duration;

use exchange_sim::{OrderFault, SimConfig, SimHandle};
use orders_support::{credentials, d};
use tempfile::TempDir;
use tradebeat::clock::Clock;
use tradebeat::domain::{
    ClientOrderId, MarginType, Market, OrderRef, OrderRequest, OrderStatus, OrderType,
    PositionSide, Side, TimeInForce,
};
use tradebeat::exchange::{ClientOptions, ExchangeError, FuturesClient, Network};
use tradebeat::orders::{OrderError, Orders};
use tradebeat::store::Store;

struct FuturesBench {
    sim: SimHandle,
    dir: TempDir,
    store: Store,
    orders: Orders,
}

async fn bench(market: Market) -> FuturesBench {
    let sim = exchange_sim::spawn(SimConfig::default())
        .await
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("tradebeat.db")).expect("store");
    type Make = fn(ClientOptions, Clock) -> Result<FuturesClient, ExchangeError>;
    let (url, make): (&str, Make) = match market {
        Market::UsdM => (&sim.usdm_url, FuturesClient::usdm),
        _ => (&sim.coinm_url, FuturesClient::coinm),
    };
    let options = ClientOptions::for_network(Network::Testnet, Some(url), Duration::from_secs(5))
        .expect("options");
    let client: FuturesClient = make(options, Clock::system()).expect("client");
    client.sync_time().await.expect("time");
    let orders = Orders::futures(
        &client,
        Some(&credentials()),
        5_000,
        store.clone(),
        Clock::system(),
    )
    .expect("orders");
    FuturesBench {
        sim,
        dir,
        store,
        orders,
    }
}

fn req(market: Market, symbol: &str, side: Side, t: OrderType, qty: &str) -> OrderRequest {
    let mut r = OrderRequest::new(symbol.parse().expect("symbol"), side, t);
    r.market = market;
    r.quantity = Some(d(qty));
    r
}

fn by_id(id: &ClientOrderId) -> OrderRef {
    OrderRef::ClientOrderId(id.clone())
}

#[tokio::test]
async fn a_usdm_market_buy_is_filled_recorded_with_its_fill_and_opens_a_position() {
    let b = bench(Market::UsdM).await;
    let m = b.sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    let row = b
        .orders
        .place(req(
            Market::UsdM,
            "BTCUSDT",
            Side::Buy,
            OrderType::Market,
            "0.010",
        ))
        .await
        .expect("placed");
    assert_eq!(row.status, OrderStatus::Filled);
    assert_eq!(row.market, Market::UsdM);
    assert_eq!(row.executed_qty, d("0.010"));
    let f = row.futures.as_ref().expect("futures columns");
    assert_eq!(f.position_side, Some(PositionSide::Both));
    assert_eq!(f.avg_price, Some(d("50000.00")));
    assert_eq!(f.algo_id, None);

    // The fill, with commission and realized PnL, is an executions row.
    let db = rusqlite::Connection::open(b.dir.path().join("tradebeat.db")).expect("db");
    let (market, commission, asset, pnl, side): (String, String, String, String, String) = db
        .query_row(
            "SELECT market, commission, commission_asset, realized_pnl, position_side
             FROM executions WHERE order_id = ?1",
            [row.order_id.expect("order id")],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .expect("one execution");
    assert_eq!(market, "usdm");
    assert_eq!(d(&commission), d("0.2"));
    assert_eq!(asset, "USDT");
    assert_eq!(d(&pnl), d("0"));
    assert_eq!(side, "BOTH");

    // Positions: open, increase, reduce, close, flip.
    let qty = |store: &Store| {
        store
            .positions(
                Some(Market::UsdM),
                Some(&"BTCUSDT".parse().expect("s")),
                false,
            )
            .expect("positions")
            .first()
            .map(|p| p.quantity)
    };
    b.orders.refresh_positions(None).await.expect("positions");
    assert_eq!(qty(&b.store), Some(d("0.010")), "open");
    let steps = [
        (Side::Buy, "0.005", "0.015"),
        (Side::Sell, "0.007", "0.008"),
        (Side::Sell, "0.008", "0"),
        (Side::Sell, "0.004", "-0.004"),
    ];
    for (side, q, want) in steps {
        b.orders
            .place(req(Market::UsdM, "BTCUSDT", side, OrderType::Market, q))
            .await
            .expect("placed");
        b.orders.refresh_positions(None).await.expect("positions");
        assert_eq!(qty(&b.store), Some(d(want)), "after {side} {q}");
    }
    // A reducing fill realized PnL (zero at one price, but recorded as a number).
    let with_pnl: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM executions WHERE market = 'usdm' AND realized_pnl IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(
        with_pnl, 5,
        "one fill per order, each with its realized PnL"
    );
}

#[tokio::test]
async fn every_usdm_type_is_placed_queried_and_cancelled_conditionals_through_the_algo_service() {
    let b = bench(Market::UsdM).await;
    let m = b.sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    let mut limit = req(
        Market::UsdM,
        "BTCUSDT",
        Side::Buy,
        OrderType::Limit,
        "0.010",
    );
    limit.price = Some(d("40000.0"));
    limit.time_in_force = Some(TimeInForce::Gtx);
    let mut stop = req(
        Market::UsdM,
        "BTCUSDT",
        Side::Sell,
        OrderType::Stop,
        "0.010",
    );
    stop.price = Some(d("44000.0"));
    stop.stop_price = Some(d("45000.0"));
    let mut stop_market = req(
        Market::UsdM,
        "BTCUSDT",
        Side::Sell,
        OrderType::StopMarket,
        "0.010",
    );
    stop_market.stop_price = Some(d("48000.0"));
    stop_market.working_type = Some(tradebeat::domain::WorkingType::MarkPrice);
    let mut take_profit = req(
        Market::UsdM,
        "BTCUSDT",
        Side::Sell,
        OrderType::TakeProfit,
        "0.010",
    );
    take_profit.price = Some(d("54000.0"));
    take_profit.stop_price = Some(d("53000.0"));
    let mut tp_market = req(
        Market::UsdM,
        "BTCUSDT",
        Side::Sell,
        OrderType::TakeProfitMarket,
        "0.010",
    );
    tp_market.stop_price = Some(d("53000.0"));
    let mut trailing = req(
        Market::UsdM,
        "BTCUSDT",
        Side::Sell,
        OrderType::TrailingStopMarket,
        "0.010",
    );
    trailing.callback_rate = Some(d("1.5"));
    trailing.activation_price = Some(d("52000.0"));
    for r in [limit, stop, stop_market, take_profit, tp_market, trailing] {
        let t = r.order_type;
        let placed = b.orders.place(r).await.expect("placed");
        assert_eq!(placed.status, OrderStatus::New, "{t}");
        let f = placed.futures.clone().expect("futures");
        let conditional = t != OrderType::Limit;
        assert_eq!(f.algo_id.is_some(), conditional, "{t}: algo id");
        assert_eq!(placed.order_id.is_some(), !conditional, "{t}: order id");
        if t == OrderType::TrailingStopMarket {
            assert_eq!(f.callback_rate, Some(d("1.5")));
            assert_eq!(f.activation_price, Some(d("52000.0")));
        }
        let got = b
            .orders
            .get(&placed.symbol, &by_id(&placed.client_order_id))
            .await
            .expect("queried");
        assert_eq!((got.order_type, got.status), (t, OrderStatus::New));
        let cancelled = b
            .orders
            .cancel(&placed.symbol, &by_id(&placed.client_order_id))
            .await
            .expect("cancelled");
        assert_eq!(cancelled.status, OrderStatus::Canceled, "{t}");
    }
    assert_eq!(
        m.conditional_on_order_endpoint_attempts(),
        0,
        "no conditional type was ever sent to /fapi/v1/order"
    );
    assert_eq!(m.algo_orders().len(), 5);
}

#[tokio::test]
async fn a_triggered_usdm_trailing_stop_shows_the_order_it_became_under_the_same_get() {
    let b = bench(Market::UsdM).await;
    let m = b.sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    b.orders
        .place(req(
            Market::UsdM,
            "BTCUSDT",
            Side::Buy,
            OrderType::Market,
            "0.010",
        ))
        .await
        .expect("long");
    let mut trailing = req(
        Market::UsdM,
        "BTCUSDT",
        Side::Sell,
        OrderType::TrailingStopMarket,
        "0.010",
    );
    trailing.callback_rate = Some(d("1"));
    trailing.reduce_only = Some(true);
    let placed = b.orders.place(trailing).await.expect("accepted");
    let algo_id = placed.futures.as_ref().and_then(|f| f.algo_id);
    assert!(algo_id.is_some());
    // Up 2 %, then back 1 %: the trailing stop triggers and sells.
    m.set_last_price("BTCUSDT", Some("51000"));
    m.set_last_price("BTCUSDT", Some("50400"));
    let got = b
        .orders
        .get(&placed.symbol, &by_id(&placed.client_order_id))
        .await
        .expect("queried");
    let f = got.futures.as_ref().expect("futures");
    assert_eq!(f.algo_id, algo_id, "the same order, by its algo id");
    let triggered = f.triggered_order_id.expect("triggered order id");
    assert_eq!(got.order_id, Some(triggered));
    assert_eq!(got.order_type, OrderType::TrailingStopMarket);
    assert_eq!(got.status, OrderStatus::Filled);
    assert_eq!(got.executed_qty, d("0.010"));
    assert_eq!(m.conditional_on_order_endpoint_attempts(), 0);
}

#[tokio::test]
async fn a_coinm_limit_rests_and_is_cancelled_and_coinm_stops_go_to_the_order_endpoint() {
    let b = bench(Market::CoinM).await;
    let c = b.sim.coinm();
    c.set_last_price("BTCUSD_PERP", Some("50000"));
    let mut limit = req(
        Market::CoinM,
        "BTCUSD_PERP",
        Side::Buy,
        OrderType::Limit,
        "1",
    );
    limit.price = Some(d("48000.0"));
    limit.time_in_force = Some(TimeInForce::Gtc);
    let placed = b.orders.place(limit).await.expect("placed");
    assert_eq!(placed.status, OrderStatus::New);
    assert_eq!(placed.market, Market::CoinM);
    let cancelled = b
        .orders
        .cancel(&placed.symbol, &by_id(&placed.client_order_id))
        .await
        .expect("cancelled");
    assert_eq!(cancelled.status, OrderStatus::Canceled);

    let mut stop = req(
        Market::CoinM,
        "BTCUSD_PERP",
        Side::Sell,
        OrderType::StopMarket,
        "1",
    );
    stop.stop_price = Some(d("48000.0"));
    let mut trailing = req(
        Market::CoinM,
        "BTCUSD_PERP",
        Side::Sell,
        OrderType::TrailingStopMarket,
        "1",
    );
    trailing.callback_rate = Some(d("2"));
    for r in [stop, trailing] {
        let placed = b.orders.place(r).await.expect("placed");
        let f = placed.futures.as_ref().expect("futures");
        assert_eq!(f.algo_id, None, "COIN-M has no Algo Service");
        assert!(placed.order_id.is_some());
        let cancelled = b
            .orders
            .cancel(&placed.symbol, &by_id(&placed.client_order_id))
            .await
            .expect("cancelled");
        assert_eq!(cancelled.status, OrderStatus::Canceled);
    }
}

#[tokio::test]
async fn an_order_answered_503_after_execution_is_resolved_by_query_never_resent() {
    let b = bench(Market::UsdM).await;
    let m = b.sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    m.set_order_fault(Some(OrderFault::ExecuteThen503));
    let err = b
        .orders
        .place(req(
            Market::UsdM,
            "BTCUSDT",
            Side::Buy,
            OrderType::Market,
            "0.010",
        ))
        .await
        .expect_err("outcome unknown");
    let OrderError::OutcomeUnknown { order, .. } = err else {
        panic!("expected an unknown outcome, got {err}");
    };
    m.set_order_fault(None);
    let id = order.client_order_id.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let row = b.store.order_by_client_id(&id).expect("read").expect("row");
        if row.status == OrderStatus::Filled {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "row stuck at {}",
            row.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let at_exchange = m
        .orders()
        .iter()
        .filter(|o| o.client_order_id == id.as_str())
        .count();
    assert_eq!(at_exchange, 1, "exactly one order at the exchange");
}

#[tokio::test]
async fn leverage_and_margin_type_round_trip_and_land_on_the_position() {
    let b = bench(Market::UsdM).await;
    let symbol = "BTCUSDT".parse().expect("symbol");
    assert_eq!(b.orders.set_leverage(&symbol, 7).await.expect("set"), 7);
    b.orders
        .set_margin_type(&symbol, MarginType::Isolated)
        .await
        .expect("set");
    // Asking again for the mode it is in counts as done.
    b.orders
        .set_margin_type(&symbol, MarginType::Isolated)
        .await
        .expect("no change needed");
    let stored = b
        .store
        .positions(Some(Market::UsdM), Some(&symbol), false)
        .expect("positions");
    assert_eq!(stored[0].leverage, Some(7));
    assert_eq!(stored[0].margin_type, Some(MarginType::Isolated));
    // The exchange reports the same through positionRisk.
    let all = b
        .orders
        .refresh_positions(Some(&symbol))
        .await
        .expect("risk");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        all[0].leverage,
        Some(7),
        "positionRisk reports the leverage set"
    );
    assert_eq!(all[0].margin_type, Some(MarginType::Isolated));
    let stored = b
        .store
        .positions(Some(Market::UsdM), Some(&symbol), false)
        .expect("positions");
    assert_eq!(stored[0].leverage, Some(7));
    assert_eq!(stored[0].margin_type, Some(MarginType::Isolated));
}

#[tokio::test]
async fn a_filter_violation_is_refused_locally_with_nothing_sent_or_stored() {
    let b = bench(Market::UsdM).await;
    b.sim.usdm().set_last_price("BTCUSDT", Some("50000"));
    let mut r = req(
        Market::UsdM,
        "BTCUSDT",
        Side::Buy,
        OrderType::Limit,
        "0.0105",
    );
    r.price = Some(d("40000.0"));
    r.time_in_force = Some(TimeInForce::Gtc);
    let err = b.orders.place(r).await.expect_err("refused");
    let OrderError::Rule(v) = err else {
        panic!("expected a rule violation, got {err}");
    };
    assert_eq!(v.rule, "LOT_SIZE");
    assert_eq!(v.nearest, vec![d("0.010"), d("0.011")]);
    let mut t = req(
        Market::UsdM,
        "BTCUSDT",
        Side::Sell,
        OrderType::TrailingStopMarket,
        "0.010",
    );
    t.callback_rate = Some(d("12"));
    let err = b.orders.place(t).await.expect_err("refused");
    assert!(err.to_string().contains("nearest valid: 10"), "{err}");
    assert!(b.sim.usdm().orders().is_empty() && b.sim.usdm().algo_orders().is_empty());
    assert!(
        b.store
            .orders(&tradebeat::orders::OrderFilter {
                limit: 10,
                ..Default::default()
            })
            .expect("rows")
            .is_empty()
    );
}

#[tokio::test]
async fn an_untriggered_usdm_algo_order_is_found_and_cancelled_by_its_algo_id() {
    let b = bench(Market::UsdM).await;
    let m = b.sim.usdm();
    m.set_last_price("BTCUSDT", Some("50000"));
    let mut stop = req(
        Market::UsdM,
        "BTCUSDT",
        Side::Sell,
        OrderType::StopMarket,
        "0.010",
    );
    stop.stop_price = Some(d("45000.0"));
    let placed = b.orders.place(stop).await.expect("placed");
    let algo_id = placed
        .futures
        .as_ref()
        .and_then(|f| f.algo_id)
        .expect("an algo id");
    assert_eq!(placed.order_id, None, "not triggered: no order id yet");
    let by_algo_id = OrderRef::OrderId(algo_id);
    let got = b
        .orders
        .get(&placed.symbol, &by_algo_id)
        .await
        .expect("found by its algo id");
    assert_eq!(got.client_order_id, placed.client_order_id);
    assert_eq!(
        (got.order_type, got.status),
        (OrderType::StopMarket, OrderStatus::New)
    );
    let cancelled = b
        .orders
        .cancel(&placed.symbol, &by_algo_id)
        .await
        .expect("cancelled by its algo id");
    assert_eq!(cancelled.client_order_id, placed.client_order_id);
    assert_eq!(cancelled.status, OrderStatus::Canceled);
    assert_eq!(
        m.algo_orders()
            .iter()
            .filter(|a| a.algo_id == algo_id)
            .map(|a| a.status.clone())
            .collect::<Vec<_>>(),
        vec!["CANCELED".to_string()]
    );
    // An id that is neither an order id nor an algo id is still not found.
    let unknown = b
        .orders
        .get(&placed.symbol, &OrderRef::OrderId(algo_id + 1_000_000))
        .await;
    assert!(
        matches!(unknown, Err(OrderError::NotFound { .. })),
        "{unknown:?}"
    );
}
