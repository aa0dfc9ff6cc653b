//! Orders under faults: an exchange that executes and answers 503, one that answers 503
//! without executing, an answer that never comes, a placement abandoned mid-flight (the
//! daemon's crash, in process), reconciliation and import at start. Every test proves
//! exactly one order at the exchange and a row that converges to the exchange's state.

mod orders_support;

use std::time::Duration;

use exchange_sim::{OrderFault, SimConfig};
use orders_support::*;
use tradebeat::clock::Clock;
use tradebeat::domain::Market;
use tradebeat::domain::{ClientOrderId, OrderStatus};
use tradebeat::orders::{OrderError, Orders, ReconcileReport};
use tradebeat::store::Inserted;

/// Waits until the row of `id` has left `pending`/`unknown`; returns it.
async fn settled(b: &Bench, id: &ClientOrderId, timeout: Duration) -> tradebeat::orders::OrderRow {
    let store = b.store.clone();
    let id2 = id.clone();
    wait_for("the order's outcome to be resolved", timeout, || {
        let store = store.clone();
        let id = id2.clone();
        async move {
            let row = store.order_by_client_id(&id).unwrap().unwrap();
            !matches!(row.status, OrderStatus::Pending | OrderStatus::Unknown)
        }
    })
    .await;
    b.store.order_by_client_id(id).unwrap().unwrap()
}

#[tokio::test]
async fn executed_then_503_is_one_order_and_the_row_converges() {
    let b = bench().await;
    b.sim.set_order_fault(Some(OrderFault::ExecuteThen503));
    let err = b
        .orders
        .place(req("BTCUSDT", "MARKET BUY q=0.002"))
        .await
        .unwrap_err();
    let OrderError::OutcomeUnknown { order, detail } = &err else {
        panic!("expected an unknown outcome, got {err:?}");
    };
    assert_eq!(order.status, OrderStatus::Unknown);
    assert!(detail.contains("503"), "{detail}");
    assert!(err.to_string().contains("it was not sent again"), "{err}");
    let id = order.client_order_id.clone();
    b.sim.set_order_fault(None);

    let row = settled(&b, &id, Duration::from_secs(10)).await;
    assert_eq!(row.status, OrderStatus::Filled);
    let on_exchange: Vec<_> = b.sim.orders();
    assert_eq!(on_exchange.len(), 1, "exactly one order at the exchange");
    assert_matches_exchange(&row, &on_exchange[0]);
    assert_eq!(requests(&b.sim, "POST", "/api/v3/order"), 1, "never resent");
    assert!(
        requests(&b.sim, "GET", "/api/v3/order") >= 1,
        "resolved by querying"
    );
}

#[tokio::test]
async fn an_answer_that_never_comes_converges_without_a_second_order() {
    // Requests time out after 1 s; the exchange executes and answers after 3 s.
    let b = bench_with(SimConfig::default(), Duration::from_secs(1), 5_000).await;
    b.sim
        .set_order_fault(Some(OrderFault::DelayAnswer(Duration::from_secs(3))));
    let err = b
        .orders
        .place(req(
            "BTCUSDT",
            "LIMIT BUY q=0.001 p=60000 tif=GTC id=slow-answer-1",
        ))
        .await
        .unwrap_err();
    let OrderError::OutcomeUnknown { order, detail } = &err else {
        panic!("expected an unknown outcome, got {err:?}");
    };
    assert!(detail.contains("timed out"), "{detail}");
    assert_eq!(order.status, OrderStatus::Unknown);
    b.sim.set_order_fault(None);
    let id: ClientOrderId = "slow-answer-1".parse().unwrap();
    let row = settled(&b, &id, Duration::from_secs(10)).await;
    assert_eq!(row.status, OrderStatus::New);
    assert_eq!(b.sim.orders().len(), 1);
    assert_matches_exchange(&row, &b.sim.orders()[0]);
    // The simulator logs a request when it answers; the timed-out one never was.
    assert_eq!(requests(&b.sim, "POST", "/api/v3/order"), 0, "never resent");
}

#[tokio::test]
async fn orders_that_never_reached_the_exchange_end_not_placed() {
    // A short recvWindow: -2013 is conclusive 1 s (+ margin) after the request.
    let b = bench_with(SimConfig::default(), Duration::from_secs(5), 1_000).await;

    // (a) The exchange answers 503 without executing.
    b.sim.set_order_fault(Some(OrderFault::Reject503));
    let err = b
        .orders
        .place(req("BTCUSDT", "MARKET BUY q=0.001 id=lost-in-transit"))
        .await
        .unwrap_err();
    assert!(matches!(err, OrderError::OutcomeUnknown { .. }), "{err:?}");
    b.sim.set_order_fault(None);

    // (b) The daemon stopped between writing the row and sending: a `pending` row the
    // exchange never saw, found by reconciliation.
    let crashed: ClientOrderId = "tb-crashed-before-send".parse().unwrap();
    let request = req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC");
    let inserted = b
        .store
        .insert_pending_order(Market::Spot, &request, &crashed, 1)
        .unwrap();
    assert!(matches!(inserted, Inserted::New(_)));
    let report = b.orders.reconcile_at_start().await.unwrap();
    assert_eq!(report.resolving, 2, "{report:?}");

    for id in ["lost-in-transit", "tb-crashed-before-send"] {
        let id: ClientOrderId = id.parse().unwrap();
        let row = settled(&b, &id, Duration::from_secs(15)).await;
        assert_eq!(row.status, OrderStatus::NotPlaced, "{id}");
        assert_eq!(row.error_code, Some(-2013), "{id}");
        assert!(
            row.error_msg.as_deref().unwrap().contains("never placed"),
            "{id}"
        );
    }
    assert!(b.sim.orders().is_empty());
    assert_eq!(requests(&b.sim, "POST", "/api/v3/order"), 1, "never resent");
}

#[tokio::test]
async fn a_placement_abandoned_mid_flight_is_reconciled_by_the_next_start() {
    let b = bench().await;
    // The exchange executes at once and answers after 5 s; the "daemon" dies after 300 ms.
    b.sim
        .set_order_fault(Some(OrderFault::DelayAnswer(Duration::from_secs(5))));
    let place = b.orders.place(req(
        "BTCUSDT",
        "LIMIT BUY q=0.001 p=60000 tif=GTC id=killed-mid-flight",
    ));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), place)
            .await
            .is_err()
    );
    b.sim.set_order_fault(None);
    let id: ClientOrderId = "killed-mid-flight".parse().unwrap();
    assert_eq!(
        b.store.order_by_client_id(&id).unwrap().unwrap().status,
        OrderStatus::Pending
    );
    assert_eq!(b.sim.orders().len(), 1, "the exchange has it");

    // An open order of ours the database does not have at all (its write was lost), and
    // one that is not ours: only ours is imported.
    let signed = b.exchange.with_credentials(&credentials(), 5_000).unwrap();
    let ours: ClientOrderId = "tb-lost-record".parse().unwrap();
    let theirs: ClientOrderId = "manual-order-1".parse().unwrap();
    for id in [&ours, &theirs] {
        signed
            .place_order(&req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC"), id)
            .await
            .unwrap();
    }

    // The next start: a fresh component on the same database.
    let restarted = Orders::new(
        b.exchange.clone(),
        Some(&credentials()),
        5_000,
        b.store.clone(),
        Clock::system(),
    )
    .unwrap();
    let report = restarted.reconcile_at_start().await.unwrap();
    assert_eq!(
        report,
        ReconcileReport {
            checked: 1,
            updated: 1,
            resolving: 0,
            imported: 1,
            failed: 0
        }
    );
    let row = b.store.order_by_client_id(&id).unwrap().unwrap();
    assert_eq!(row.status, OrderStatus::New);
    assert_matches_exchange(&row, &b.sim.order("killed-mid-flight").unwrap());
    let imported = b
        .store
        .order_by_client_id(&ours)
        .unwrap()
        .expect("imported");
    assert_matches_exchange(&imported, &b.sim.order("tb-lost-record").unwrap());
    assert!(b.store.order_by_client_id(&theirs).unwrap().is_none());
    assert_eq!(
        b.sim.orders().len(),
        3,
        "nothing was placed by reconciliation"
    );

    // Reconciling again changes nothing.
    let again = restarted.reconcile_at_start().await.unwrap();
    assert_eq!((again.updated, again.imported), (2, 0), "{again:?}");
}

#[tokio::test]
async fn an_open_order_filled_while_the_daemon_was_down_is_brought_up_to_date() {
    let b = bench().await;
    let row = b
        .orders
        .place(req("BTCUSDT", "LIMIT SELL q=0.001 p=70000 tif=GTC"))
        .await
        .unwrap();
    assert_eq!(row.status, OrderStatus::New);
    b.sim.set_order_price("BTCUSDT", Some("70500.00"));
    let report = b.orders.reconcile_at_start().await.unwrap();
    assert_eq!((report.checked, report.updated), (1, 1));
    let now = b
        .store
        .order_by_client_id(&row.client_order_id)
        .unwrap()
        .unwrap();
    assert_eq!(now.status, OrderStatus::Filled);
    assert_matches_exchange(&now, &b.sim.order(row.client_order_id.as_str()).unwrap());
}

#[tokio::test]
async fn an_order_awaiting_its_answer_is_a_foreground_write_until_it_is_stored() {
    // The exchange executes the order (its executionReport would go out on the stream at
    // once) and holds the REST answer for 1.5 s.
    let b = bench_with(SimConfig::default(), Duration::from_secs(5), 5_000).await;
    b.sim
        .set_order_fault(Some(OrderFault::DelayAnswer(Duration::from_millis(1500))));
    assert_eq!(b.store.foreground_pending(), 0);
    let orders = b.orders.clone();
    let placing = tokio::spawn(async move {
        orders
            .place(req(
                "BTCUSDT",
                "LIMIT BUY q=0.001 p=60000 tif=GTC id=held-answer-1",
            ))
            .await
    });
    let sim = b.sim.clone();
    wait_for(
        "the exchange to execute the order",
        Duration::from_secs(5),
        || {
            let sim = sim.clone();
            async move { !sim.orders().is_empty() }
        },
    )
    .await;
    // Executed, answer held: the stream's writer would let this order's row go first.
    assert!(!placing.is_finished());
    assert_eq!(b.store.foreground_pending(), 1);
    let row = placing.await.expect("task").expect("placed");
    assert_eq!(row.status, OrderStatus::New);
    assert_eq!(
        b.store.foreground_pending(),
        0,
        "released once the answer is stored"
    );
}
