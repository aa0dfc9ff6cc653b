//! Orders end to end against the exchange simulator: every order type, local validation
//! that sends nothing, rejections stored with Binance's code, cancel by both ids,
//! duplicate client order ids, credentials, order-rate limits and clock resync.

mod orders_support;

use std::time::Duration;

use exchange_sim::SimConfig;
use orders_support::*;
use tradebeat::clock::Clock;
use tradebeat::domain::Interval;
use tradebeat::domain::{OrderRef, OrderStatus};
use tradebeat::orders::{OrderError, OrderFilter, Orders};

#[tokio::test]
async fn every_order_type_end_to_end_matches_the_exchange() {
    let b = bench().await;
    // (request, status right after placement)
    let cases = [
        ("MARKET BUY q=0.001", "FILLED"),
        ("MARKET SELL qq=100", "FILLED"),
        ("LIMIT BUY q=0.001 p=60000 tif=GTC", "NEW"),
        ("LIMIT BUY q=0.001 p=66000 tif=FOK", "FILLED"),
        ("LIMIT SELL q=0.001 p=70000 tif=IOC", "EXPIRED"),
        ("LIMIT_MAKER SELL q=0.001 p=70000", "NEW"),
        ("STOP_LOSS SELL q=0.001 sp=60000", "NEW"),
        (
            "STOP_LOSS_LIMIT SELL q=0.001 p=59000 sp=59500 tif=GTC",
            "NEW",
        ),
        ("TAKE_PROFIT SELL q=0.001 sp=70000", "NEW"),
        (
            "TAKE_PROFIT_LIMIT BUY q=0.001 p=61000 sp=60500 tif=GTC",
            "NEW",
        ),
    ];
    let mut rows = Vec::new();
    for (spec, status) in cases {
        let row = b
            .orders
            .place(req("BTCUSDT", spec))
            .await
            .unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_eq!(row.status.as_str(), status, "{spec}");
        assert!(row.client_order_id.is_ours(), "{spec}: generated id");
        let sim_order = b
            .sim
            .order(row.client_order_id.as_str())
            .expect("on the exchange");
        assert_matches_exchange(&row, &sim_order);
        if status == "FILLED" {
            assert!(!row.fills.is_empty(), "{spec}: FULL answers carry fills");
            let filled: rust_decimal::Decimal = row.fills.iter().map(|f| f.qty).sum();
            assert_eq!(filled, row.executed_qty, "{spec}");
        }
        // The database holds exactly what `place` returned.
        let stored = b
            .store
            .order_by_client_id(&row.client_order_id)
            .unwrap()
            .unwrap();
        assert_eq!(stored, row, "{spec}");
        rows.push(row);
    }
    assert_eq!(
        b.sim.orders().len(),
        cases.len(),
        "one exchange order per placement"
    );

    // The market falls to 59000: the resting LIMIT BUY at 60000 fills, the STOP_LOSS at
    // 60000 triggers and fills, the STOP_LOSS_LIMIT at 59500 triggers and its limit at
    // 59000 fills, the TAKE_PROFIT_LIMIT BUY at 60500 triggers and fills at 61000.
    b.sim.set_order_price("BTCUSDT", Some("59000.00"));
    for (i, want) in [
        (2, "FILLED"),
        (5, "NEW"),
        (6, "FILLED"),
        (7, "FILLED"),
        (8, "NEW"),
        (9, "FILLED"),
    ] {
        let row = &rows[i];
        let fresh = b
            .orders
            .get(
                &row.symbol,
                &OrderRef::ClientOrderId(row.client_order_id.clone()),
            )
            .await
            .unwrap();
        assert_eq!(fresh.status.as_str(), want, "{}", cases[i].0);
        assert_matches_exchange(&fresh, &b.sim.order(row.client_order_id.as_str()).unwrap());
        assert_eq!(
            b.store
                .order_by_client_id(&row.client_order_id)
                .unwrap()
                .unwrap(),
            fresh
        );
    }

    // Cancel by client order id and by order id.
    let by_client = b
        .orders
        .cancel(
            &rows[5].symbol,
            &OrderRef::ClientOrderId(rows[5].client_order_id.clone()),
        )
        .await
        .unwrap();
    assert_eq!(by_client.status, OrderStatus::Canceled);
    let by_id = b
        .orders
        .cancel(
            &rows[8].symbol,
            &OrderRef::OrderId(rows[8].order_id.unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(by_id.status, OrderStatus::Canceled);
    for row in [&by_client, &by_id] {
        assert_matches_exchange(row, &b.sim.order(row.client_order_id.as_str()).unwrap());
    }
    // Cancelling a filled order: -2011, and the row reports the exchange's state.
    match b
        .orders
        .cancel(
            &rows[0].symbol,
            &OrderRef::ClientOrderId(rows[0].client_order_id.clone()),
        )
        .await
    {
        Err(OrderError::Rejected {
            code: -2011,
            order: Some(order),
            ..
        }) => assert_eq!(order.status, OrderStatus::Filled),
        other => panic!("expected -2011, got {other:?}"),
    }

    // Every stored order matches the exchange; the list is newest first and `open`
    // filters out what is final.
    let all = b.orders.list(OrderFilter::default()).await.unwrap();
    assert_eq!(all.len(), cases.len());
    for row in &all {
        assert_matches_exchange(row, &b.sim.order(row.client_order_id.as_str()).unwrap());
    }
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    let open = b
        .orders
        .list(OrderFilter {
            open: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(open.is_empty(), "{open:?}");

    // Balances moved: the account holds what the fills say (spot check on BTC).
    let balances = b.sim.balances();
    let btc = balances.iter().find(|x| x.asset == "BTC").unwrap();
    assert_ne!(btc.free, "1.00000000");
}

#[tokio::test]
async fn refused_locally_means_nothing_is_sent_or_stored() {
    let b = bench().await;
    // Learn the rules once, so that every refusal below happens without any request.
    b.orders
        .place(req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC"))
        .await
        .unwrap();
    b.sim.clear_request_log();
    let cases = [
        (
            "LIMIT BUY q=0.001 p=60000.005 tif=GTC",
            "price 60000.005 is not a multiple of tick size 0.01 (PRICE_FILTER); nearest valid: 60000.00 or 60000.01",
        ),
        (
            "LIMIT BUY q=0.0000105 p=60000 tif=GTC",
            "quantity 0.0000105 is not a multiple of step size 0.00001 (LOT_SIZE); nearest valid: 0.00001 or 0.00002",
        ),
        (
            "LIMIT BUY q=0.00001 p=60000 tif=GTC",
            "notional 0.6 (price 60000 × quantity 0.00001) is below the minimum notional 5 (NOTIONAL); nearest valid quantity: 0.00009",
        ),
        ("LIMIT BUY q=0.001 tif=GTC", "LIMIT orders need a price"),
        (
            "LIMIT BUY q=0.001 p=60000",
            "LIMIT orders need a time in force (GTC, IOC or FOK)",
        ),
        (
            "LIMIT_MAKER BUY q=0.001 p=60000 tif=GTC",
            "LIMIT_MAKER orders take no time in force",
        ),
        ("MARKET BUY q=0", "quantity must be positive, not 0"),
        (
            "MARKET BUY q=-0.001",
            "quantity must be positive, not -0.001",
        ),
        (
            "MARKET BUY",
            "MARKET orders need a quantity or a quote quantity",
        ),
        (
            "STOP_LOSS SELL q=0.001",
            "STOP_LOSS orders need a stop price",
        ),
    ];
    for (spec, message) in cases {
        let err = b.orders.place(req("BTCUSDT", spec)).await.unwrap_err();
        match &err {
            OrderError::Rule(v) => assert_eq!(v.message, message, "{spec}"),
            other => panic!("{spec}: expected a rule violation, got {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("order refused before sending: "),
            "{err}"
        );
    }
    // An unknown symbol is answered too; only the exchange-info lookup was sent.
    let err = b
        .orders
        .place(req("NOSUCHUSDT", "MARKET BUY q=1"))
        .await
        .unwrap_err();
    assert!(matches!(err, OrderError::UnknownSymbol(_)), "{err:?}");
    assert_eq!(
        requests(&b.sim, "POST", "/api/v3/order"),
        0,
        "no order request was sent"
    );
    assert_eq!(
        b.sim
            .request_log()
            .iter()
            .filter(|r| r.path != "/api/v3/exchangeInfo")
            .count(),
        0,
        "{:?}",
        b.sim.request_log()
    );
    assert_eq!(
        b.orders.list(OrderFilter::default()).await.unwrap().len(),
        1,
        "nothing half-stored"
    );
}

#[tokio::test]
async fn exchange_rejections_are_stored_with_binances_code_and_msg() {
    let b = bench().await;
    // 10 BTC at 65000 is more than the 100000 USDT the account has.
    let err = b
        .orders
        .place(req(
            "BTCUSDT",
            "LIMIT BUY q=10 p=65000 tif=GTC id=too-big-1",
        ))
        .await
        .unwrap_err();
    let OrderError::Rejected {
        code,
        msg,
        order: Some(row),
        ..
    } = err
    else {
        panic!("expected a rejection, got {err:?}");
    };
    assert_eq!(
        (code, msg.as_str()),
        (
            -2010,
            "Account has insufficient balance for requested action."
        )
    );
    assert_eq!(row.status, OrderStatus::Rejected);
    assert_eq!(row.error_code, Some(-2010));
    assert_eq!(
        row.error_msg.as_deref(),
        Some("Account has insufficient balance for requested action.")
    );
    assert_eq!(
        b.store
            .order_by_client_id(&row.client_order_id)
            .unwrap()
            .unwrap(),
        *row
    );
    assert!(b.sim.orders().is_empty());

    // A LIMIT_MAKER that would take: -2010 as well.
    let err = b
        .orders
        .place(req("BTCUSDT", "LIMIT_MAKER BUY q=0.001 p=66000"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, OrderError::Rejected { code: -2010, .. }),
        "{err:?}"
    );
    // A stop on the wrong side of the market.
    let err = b
        .orders
        .place(req("BTCUSDT", "STOP_LOSS SELL q=0.001 sp=66000"))
        .await
        .unwrap_err();
    let OrderError::Rejected { msg, .. } = err else {
        panic!()
    };
    assert_eq!(msg, "Order would trigger immediately.");
}

#[tokio::test]
async fn a_client_order_id_is_never_used_twice() {
    let b = bench().await;
    let first = b
        .orders
        .place(req(
            "BTCUSDT",
            "LIMIT BUY q=0.001 p=60000 tif=GTC id=my-order-7",
        ))
        .await
        .unwrap();
    assert_eq!(first.client_order_id.as_str(), "my-order-7");
    b.sim.clear_request_log();
    let err = b
        .orders
        .place(req(
            "BTCUSDT",
            "LIMIT BUY q=0.001 p=60000 tif=GTC id=my-order-7",
        ))
        .await
        .unwrap_err();
    let OrderError::DuplicateClientOrderId { existing } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(existing.id, first.id);
    assert_eq!(
        err.to_string(),
        format!(
            "client order id my-order-7 is already used by order {} (status NEW)",
            first.id
        )
    );
    assert_eq!(requests(&b.sim, "POST", "/api/v3/order"), 0);
    assert_eq!(b.sim.orders().len(), 1);
}

#[tokio::test]
async fn without_credentials_orders_answer_clearly_and_market_data_works() {
    let b = bench().await;
    let orders = Orders::new(
        b.exchange.clone(),
        None,
        5_000,
        b.store.clone(),
        Clock::system(),
    )
    .unwrap();
    assert!(!orders.has_credentials());
    let err = orders
        .place(req("BTCUSDT", "MARKET BUY q=0.001"))
        .await
        .unwrap_err();
    assert!(matches!(err, OrderError::NoCredentials));
    assert!(
        err.to_string().contains("TRADEBEAT_EXCHANGE__API_KEY"),
        "{err}"
    );
    let which = OrderRef::OrderId(1);
    let symbol = "BTCUSDT".parse().unwrap();
    assert!(matches!(
        orders.get(&symbol, &which).await,
        Err(OrderError::NoCredentials)
    ));
    assert!(matches!(
        orders.cancel(&symbol, &which).await,
        Err(OrderError::NoCredentials)
    ));
    assert!(matches!(
        orders.reconcile_at_start().await,
        Err(OrderError::NoCredentials)
    ));
    assert!(
        orders
            .list(OrderFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    // Market data through the same client.
    let klines = b
        .exchange
        .klines(&symbol, Interval::M1, None, None, 5)
        .await
        .unwrap();
    assert_eq!(klines.len(), 5);
    assert_eq!(b.exchange.tickers_24hr(&[symbol]).await.unwrap().len(), 1);
    assert_eq!(requests(&b.sim, "POST", "/api/v3/order"), 0);
}

#[tokio::test]
async fn wrong_credentials_are_rejected_and_stored() {
    let b = bench().await;
    let wrong_secret = tradebeat::domain::Credentials {
        api_key: tradebeat::domain::Secret::new(exchange_sim::TEST_API_KEY),
        api_secret: tradebeat::domain::Secret::new("not-the-secret"),
    };
    let orders = Orders::new(
        b.exchange.clone(),
        Some(&wrong_secret),
        5_000,
        b.store.clone(),
        Clock::system(),
    )
    .unwrap();
    let err = orders
        .place(req("BTCUSDT", "MARKET BUY q=0.001"))
        .await
        .unwrap_err();
    let OrderError::Rejected {
        code,
        msg,
        order: Some(row),
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (code, msg.as_str()),
        (-1022, "Signature for this request is not valid.")
    );
    assert_eq!(row.status, OrderStatus::Rejected);

    let wrong_key = tradebeat::domain::Credentials {
        api_key: tradebeat::domain::Secret::new("someoneElsesKey123"),
        api_secret: tradebeat::domain::Secret::new(exchange_sim::TEST_API_SECRET),
    };
    let orders = Orders::new(
        b.exchange.clone(),
        Some(&wrong_key),
        5_000,
        b.store.clone(),
        Clock::system(),
    )
    .unwrap();
    let err = orders
        .place(req("BTCUSDT", "MARKET BUY q=0.001"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, OrderError::Rejected { code: -2015, .. }),
        "{err:?}"
    );
    assert!(b.sim.orders().is_empty());
}

#[tokio::test]
async fn a_stale_clock_is_resynced_and_the_order_sent_once_more() {
    let b = bench().await;
    b.orders
        .place(req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC"))
        .await
        .unwrap();
    b.sim.clear_request_log();
    // The exchange's clock jumps 20 s ahead: our timestamps fall outside the recvWindow.
    b.sim.set_clock_skew_ms(20_000);
    let row = b
        .orders
        .place(req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC"))
        .await
        .unwrap();
    assert_eq!(row.status, OrderStatus::New);
    let log: Vec<(String, u16)> = b
        .sim
        .request_log()
        .iter()
        .map(|r| (format!("{} {}", r.method, r.path), r.status))
        .collect();
    assert_eq!(
        log,
        [
            ("POST /api/v3/order".to_string(), 400),
            ("GET /api/v3/time".to_string(), 200),
            ("POST /api/v3/order".to_string(), 200),
        ]
    );
    assert_eq!(b.sim.orders().len(), 2);
    assert!(
        (19_000..=21_000).contains(&b.exchange.clock_offset_ms()),
        "{}",
        b.exchange.clock_offset_ms()
    );
}

#[tokio::test]
async fn the_order_rate_limit_is_respected_locally() {
    let b = bench_with(
        SimConfig {
            orders_per_10s: 3,
            ..SimConfig::default()
        },
        Duration::from_secs(5),
        5_000,
    )
    .await;
    // Start early in a 10 s window so that all four placements fall in it.
    wait_for(
        "the start of a 10 s window",
        Duration::from_secs(11),
        || async { b.sim.now_ms() % 10_000 < 8_000 },
    )
    .await;
    for _ in 0..3 {
        b.orders
            .place(req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC"))
            .await
            .unwrap();
    }
    let err = b
        .orders
        .place(req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC"))
        .await
        .unwrap_err();
    let OrderError::RateLimited {
        retry_after_ms,
        detail,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(detail, "3 orders per 10 s reached");
    assert!(*retry_after_ms <= 10_000);
    assert_eq!(
        requests(&b.sim, "POST", "/api/v3/order"),
        3,
        "the fourth was not sent"
    );
    assert_eq!(b.sim.count_status(429), 0);
    assert_eq!(
        b.orders.list(OrderFilter::default()).await.unwrap().len(),
        3,
        "nothing stored for it"
    );
}

#[tokio::test]
async fn an_exchange_minus_1015_stops_orders_but_not_market_data() {
    let b = bench().await;
    b.orders
        .place(req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC"))
        .await
        .unwrap();
    // The exchange lowers its limit without us knowing: the next order gets 429 -1015.
    b.sim.set_orders_per_10s(0);
    let err = b
        .orders
        .place(req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC"))
        .await
        .unwrap_err();
    assert!(matches!(err, OrderError::RateLimited { .. }), "{err:?}");
    assert_eq!(b.sim.count_status(429), 1);
    let rows = b.orders.list(OrderFilter::default()).await.unwrap();
    assert_eq!(
        rows[0].status,
        OrderStatus::NotPlaced,
        "the refused order is recorded as never placed"
    );
    // Market data goes on; orders wait without sending.
    let symbol = "BTCUSDT".parse().unwrap();
    b.exchange
        .klines(&symbol, Interval::M1, None, None, 3)
        .await
        .unwrap();
    b.exchange.tickers_24hr(&[symbol]).await.unwrap();
    let err = b
        .orders
        .place(req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC"))
        .await
        .unwrap_err();
    assert!(matches!(err, OrderError::RateLimited { .. }), "{err:?}");
    assert_eq!(b.sim.count_status(429), 1, "no second 429: refused locally");
}

#[tokio::test]
async fn account_endpoints_report_what_the_exchange_holds() {
    let b = bench().await;
    let bought = b
        .orders
        .place(req("BTCUSDT", "MARKET BUY q=0.01"))
        .await
        .unwrap();
    let resting = b
        .orders
        .place(req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC"))
        .await
        .unwrap();
    let signed = b.exchange.with_credentials(&credentials(), 5_000).unwrap();
    let symbol = "BTCUSDT".parse().unwrap();

    let open = signed.open_orders(Some(&symbol)).await.unwrap();
    assert_eq!(
        open.iter().map(|o| o.order_id).collect::<Vec<_>>(),
        [resting.order_id.unwrap()]
    );
    assert_eq!(signed.open_orders(None).await.unwrap().len(), 1);
    let all = signed.all_orders(&symbol, None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    let trades = signed
        .my_trades(&symbol, bought.order_id, 10)
        .await
        .unwrap();
    assert_eq!(trades.len(), 1);
    assert_eq!(trades[0].qty, d("0.01"));
    assert_eq!(trades[0].price, bought.fills[0].price);
    assert!(trades[0].is_buyer && !trades[0].is_maker);

    // 1 BTC + 0.01 bought − 0.1 % commission in BTC; USDT − cost − 60 locked.
    let account = signed.account().await.unwrap();
    assert!(account.can_trade);
    let btc = account.balances.iter().find(|x| x.asset == "BTC").unwrap();
    assert_eq!(btc.free, d("1.00999"));
    let usdt = account.balances.iter().find(|x| x.asset == "USDT").unwrap();
    assert_eq!(usdt.locked, d("60"));
    assert_eq!(
        usdt.free,
        d("100000") - bought.cummulative_quote_qty - d("60")
    );
    // The same through the simulator's own view.
    let sim_btc = b
        .sim
        .balances()
        .into_iter()
        .find(|x| x.asset == "BTC")
        .unwrap();
    assert_eq!(d(&sim_btc.free), btc.free);
    assert_eq!(signed.my_trades(&symbol, None, 10).await.unwrap().len(), 1);
    assert!(
        signed.all_orders(&symbol, None, 0).await.is_err(),
        "limit 0 is refused locally"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resting_order_reaches_its_final_state_in_the_database_without_being_asked() {
    let b = bench().await;
    let resting = b
        .orders
        .place(req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC"))
        .await
        .unwrap();
    assert_eq!(resting.status.as_str(), "NEW");
    let untouched = b
        .orders
        .place(req("BTCUSDT", "LIMIT BUY q=0.001 p=50000 tif=GTC"))
        .await
        .unwrap();

    // The market falls to 59000: the order at 60000 fills on the exchange, the one at
    // 50000 keeps resting. Nothing has asked tradebeat about either.
    b.sim.set_order_price("BTCUSDT", Some("59000.00"));
    assert_eq!(b.orders.refresh_working().await.unwrap(), 2);

    let filled = b
        .store
        .order_by_client_id(&resting.client_order_id)
        .unwrap()
        .unwrap();
    assert_eq!(filled.status.as_str(), "FILLED");
    assert_matches_exchange(
        &filled,
        &b.sim.order(resting.client_order_id.as_str()).unwrap(),
    );
    let still = b
        .store
        .order_by_client_id(&untouched.client_order_id)
        .unwrap()
        .unwrap();
    assert_eq!(still.status.as_str(), "NEW");

    // A final order is not asked about again.
    let before = requests(&b.sim, "GET", "/api/v3/order");
    assert_eq!(b.orders.refresh_working().await.unwrap(), 1);
    assert_eq!(requests(&b.sim, "GET", "/api/v3/order"), before + 1);
}
