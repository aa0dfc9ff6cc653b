//! What orders write to the logs: the CRITICAL line when the database refuses the write
//! after the exchange placed an order (and the write retried until it lands), and no
//! secret anywhere after a full order session logged at trace level.
//!
//! Each test installs tradebeat's own subscriber (files per component, in a temporary
//! directory) as the default of its thread; `#[tokio::test]` runs every task of the test
//! on that thread.

mod orders_support;

use std::time::Duration;

use exchange_sim::{OrderFault, TEST_API_KEY, TEST_API_SECRET};
use orders_support::*;
use tradebeat::config::{Config, LoggingConfig};
use tradebeat::domain::Secret;
use tradebeat::domain::{OrderRef, OrderStatus};
use tradebeat::orders::{OrderError, OrderFilter, Orders};

/// Logging into `dir` at debug level, as the daemon configures it.
fn logging_config(dir: &std::path::Path) -> LoggingConfig {
    LoggingConfig {
        dir: dir.to_path_buf(),
        level: "debug".to_string(),
        max_files: 2,
    }
}

#[tokio::test]
async fn a_failed_write_after_placement_is_critical_and_retried_until_it_lands() {
    let logs = tempfile::tempdir().unwrap();
    let config = logging_config(logs.path());
    let (subscriber, guard) = tradebeat::logging::subscriber(&config, None, false).unwrap();
    let _default = tracing::subscriber::set_default(subscriber);

    let b = bench().await;
    // The exchange answers after 500 ms; meanwhile the database starts refusing updates.
    b.sim
        .set_order_fault(Some(OrderFault::DelayAnswer(Duration::from_millis(500))));
    let orders = b.orders.clone();
    let place = tokio::spawn(async move {
        orders
            .place(req("BTCUSDT", "MARKET BUY q=0.003 id=db-on-fire"))
            .await
    });
    let db = b.dir.path().join("tradebeat.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    wait_for("the pending row", Duration::from_secs(5), || {
        let found = conn
            .query_row(
                "SELECT COUNT(*) FROM orders WHERE client_order_id = 'db-on-fire'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap();
        async move { found == 1 }
    })
    .await;
    conn.execute_batch(
        "CREATE TRIGGER refuse_updates BEFORE UPDATE ON orders
         BEGIN SELECT RAISE(ABORT, 'disk on fire (test)'); END;",
    )
    .unwrap();

    // The caller still learns the order's state from the exchange's answer.
    let row = place.await.unwrap().unwrap();
    assert_eq!(row.status, OrderStatus::Filled);
    let status: String = conn
        .query_row(
            "SELECT status FROM orders WHERE client_order_id = 'db-on-fire'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "pending", "the write was refused");

    // The database accepts writes again: the retry lands.
    conn.execute_batch("DROP TRIGGER refuse_updates").unwrap();
    let store = b.store.clone();
    wait_for("the retried write", Duration::from_secs(10), || {
        let row = store
            .order_by_client_id(&"db-on-fire".parse().unwrap())
            .unwrap()
            .unwrap();
        async move { row.status == OrderStatus::Filled }
    })
    .await;
    let stored = b
        .store
        .order_by_client_id(&"db-on-fire".parse().unwrap())
        .unwrap()
        .unwrap();
    assert_matches_exchange(&stored, &b.sim.order("db-on-fire").unwrap());
    assert_eq!(b.sim.orders().len(), 1);

    drop(_default);
    drop(guard);
    let text = std::fs::read_to_string(logs.path().join("orders.log")).unwrap();
    let critical: Vec<&str> = text.lines().filter(|l| l.contains("CRITICAL")).collect();
    assert!(!critical.is_empty(), "{text}");
    let first = critical[0];
    assert!(first.contains(" ERROR orders: "), "{first}");
    assert!(first.contains("critical=true"), "{first}");
    assert!(first.contains("client_order_id=db-on-fire"), "{first}");
    // The whole order is in the line: enough to rebuild the row by hand.
    for part in [
        "\\\"status\\\":\\\"FILLED\\\"",
        "\\\"executed_qty\\\":\\\"0.00300000\\\"",
        "\\\"order_id\\\":",
    ] {
        assert!(first.contains(part), "{part} missing from {first}");
    }
    assert!(
        text.contains("order recorded after a failed database write"),
        "{text}"
    );
}

#[tokio::test]
async fn no_secret_reaches_a_log_file_or_an_error_after_a_full_order_session() {
    let logs = tempfile::tempdir().unwrap();
    // Everything, from every crate (HTTP client and server included), at trace level.
    let config = logging_config(logs.path());
    let (subscriber, guard) =
        tradebeat::logging::subscriber(&config, Some("trace"), false).unwrap();
    let _default = tracing::subscriber::set_default(subscriber);

    let b = bench().await;
    let mut seen = String::new();
    let mut note = |s: String| {
        seen.push_str(&s);
        seen.push('\n');
    };
    // A full session: every order type, a rejection, local refusals, an unknown outcome
    // and its resolution, queries, cancels, lists and reconciliation.
    for spec in [
        "MARKET BUY q=0.001",
        "MARKET SELL qq=50",
        "LIMIT BUY q=0.001 p=60000 tif=GTC",
        "LIMIT_MAKER SELL q=0.001 p=70000",
        "STOP_LOSS SELL q=0.001 sp=60000",
        "STOP_LOSS_LIMIT SELL q=0.001 p=59000 sp=59500 tif=GTC",
        "TAKE_PROFIT SELL q=0.001 sp=70000",
        "TAKE_PROFIT_LIMIT BUY q=0.001 p=61000 sp=60500 tif=GTC",
        "LIMIT BUY q=100 p=60000 tif=GTC",
        "LIMIT BUY q=0.001 p=60000.001 tif=GTC",
    ] {
        let result = b.orders.place(req("BTCUSDT", spec)).await;
        note(format!("{result:?}"));
        if let Err(e) = &result {
            note(e.to_string());
        }
        if let Ok(row) = result {
            // What the control socket shows of it.
            let view = tradebeat::control::protocol::OrderView::from(&row);
            note(serde_json::to_string(&view).unwrap());
            let which = OrderRef::ClientOrderId(row.client_order_id.clone());
            note(format!("{:?}", b.orders.get(&row.symbol, &which).await));
            if !row.status.is_final() {
                note(format!("{:?}", b.orders.cancel(&row.symbol, &which).await));
            }
        }
    }
    b.sim.set_order_fault(Some(OrderFault::ExecuteThen503));
    let unknown = b.orders.place(req("BTCUSDT", "MARKET BUY q=0.001")).await;
    b.sim.set_order_fault(None);
    let Err(OrderError::OutcomeUnknown { order, .. }) = &unknown else {
        panic!("{unknown:?}")
    };
    note(format!("{unknown:?}"));
    let store = b.store.clone();
    let id = order.client_order_id.clone();
    wait_for("resolution", Duration::from_secs(10), || {
        let row = store.order_by_client_id(&id).unwrap().unwrap();
        async move { row.status == OrderStatus::Filled }
    })
    .await;
    note(format!("{:?}", b.orders.reconcile_at_start().await));
    note(format!("{:?}", b.orders.list(OrderFilter::default()).await));
    note(format!("{:?} {:?}", b.orders, b.exchange));
    note(format!(
        "{:?}",
        tradebeat::domain::Credentials {
            api_key: Secret::new(TEST_API_KEY),
            api_secret: Secret::new(TEST_API_SECRET)
        }
    ));
    let signed = b.exchange.with_credentials(&credentials(), 5_000).unwrap();
    note(format!("{signed:?} {:?}", signed.account().await));
    let mut full = Config::default();
    full.exchange.api_key = Some(Secret::new(TEST_API_KEY));
    full.exchange.api_secret = Some(Secret::new(TEST_API_SECRET));
    note(full.render_effective());
    note(format!("{full:?}"));
    // Without credentials, the error says what to configure, not what was configured.
    let off = Orders::new(
        b.exchange.clone(),
        None,
        5_000,
        b.store.clone(),
        tradebeat::clock::Clock::system(),
    )
    .unwrap();
    note(
        off.place(req("BTCUSDT", "MARKET BUY q=0.001"))
            .await
            .unwrap_err()
            .to_string(),
    );
    b.orders.stop().await;

    drop(_default);
    drop(guard);
    let files = files_under(logs.path());
    assert!(files.len() >= 10, "{files:?}");
    let mut total = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        total += text.len();
        for (what, secret) in [("api secret", TEST_API_SECRET), ("api key", TEST_API_KEY)] {
            assert!(
                !text.contains(secret),
                "the {what} is in {}",
                file.display()
            );
        }
    }
    let all = std::fs::read_to_string(logs.path().join("tradebeat.log")).unwrap();
    assert!(
        all.contains("order placed") && all.contains(" TRACE "),
        "the session was logged at trace level"
    );
    assert!(total > 10_000, "{total} bytes of logs");
    for (what, secret) in [("api secret", TEST_API_SECRET), ("api key", TEST_API_KEY)] {
        assert!(
            !seen.contains(secret),
            "the {what} is in an answer, error or Debug output"
        );
    }
}

/// Order fields are plain values in the log: the placement line says `quantity=0.001` and
/// `price=60000`, not the `Debug` of an `Option` (`quantity="Some(\"0.001\")"`), and leaves
/// out the fields the order does not have; the line of an open order imported by
/// reconciliation says `order_id=<digits>`. No line of the run shows `Some(`.
#[tokio::test]
async fn order_fields_are_logged_as_plain_values_and_absent_ones_left_out() {
    let logs = tempfile::tempdir().unwrap();
    let config = logging_config(logs.path());
    let (subscriber, guard) = tradebeat::logging::subscriber(&config, None, false).unwrap();
    let _default = tracing::subscriber::set_default(subscriber);

    let b = bench().await;
    for spec in [
        "MARKET BUY q=0.001 id=plain-market",
        "LIMIT BUY q=0.001 p=60000 tif=GTC id=plain-limit",
    ] {
        b.orders.place(req("BTCUSDT", spec)).await.unwrap();
    }
    // An open order of tradebeat's that the database does not have: reconciliation
    // imports it.
    let signed = b.exchange.with_credentials(&credentials(), 5_000).unwrap();
    let lost = "tb-lost-record".parse().unwrap();
    signed
        .place_order(&req("BTCUSDT", "LIMIT BUY q=0.001 p=60000 tif=GTC"), &lost)
        .await
        .unwrap();
    let report = b.orders.reconcile_at_start().await.unwrap();
    assert_eq!(report.imported, 1, "{report:?}");
    b.orders.stop().await;

    drop(_default);
    drop(guard);
    let text = std::fs::read_to_string(logs.path().join("orders.log")).unwrap();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in {text}"))
    };
    let market = line("order pending, sending client_order_id=plain-market ");
    assert!(
        market.ends_with(" order_type=MARKET quantity=0.001"),
        "{market}"
    );
    let limit = line("order pending, sending client_order_id=plain-limit ");
    assert!(
        limit.ends_with(" order_type=LIMIT quantity=0.001 price=60000"),
        "{limit}"
    );
    let imported = line("missing from the database: imported");
    let order_id = imported
        .split_once(" order_id=")
        .map(|(_, rest)| rest.split(' ').next().unwrap_or(""))
        .unwrap_or_else(|| panic!("no order_id in {imported}"));
    assert!(
        !order_id.is_empty() && order_id.bytes().all(|c| c.is_ascii_digit()),
        "{imported}"
    );
    for file in files_under(logs.path()) {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines() {
            assert!(!line.contains("Some("), "{}: {line}", file.display());
        }
    }
}
