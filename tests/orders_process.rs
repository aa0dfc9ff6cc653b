//! The real `tradebeat` binary reconciles orders at start: a placement cut off between
//! sending and the answer (the state a daemon killed with SIGKILL at that moment leaves:
//! a `pending` row, an order executed at the exchange) converges to the exchange's state
//! once the daemon starts, and an open order of ours missing from the database is
//! imported. No secret reaches a log file or the process's output.

mod common;
mod orders_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use exchange_sim::{OrderFault, SimConfig, TEST_API_KEY, TEST_API_SECRET};
use orders_support::*;
use tradebeat::clock::Clock;
use tradebeat::domain::ClientOrderId;
use tradebeat::orders::Orders;
use tradebeat::store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_tradebeat");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_daemon_reconciles_an_order_cut_off_mid_flight() {
    let sim = exchange_sim::spawn(SimConfig::default()).await.unwrap();
    sim.set_order_price("BTCUSDT", Some(BTC_PRICE));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/tradebeat.db");

    // The state at the moment of the kill: the row is written `pending`, the request has
    // reached the exchange (which executes it), the answer has not come back.
    {
        let store = Store::open(&db).unwrap();
        let exchange = client(&sim, Duration::from_secs(5));
        let orders = Orders::new(
            exchange.clone(),
            Some(&credentials()),
            5_000,
            store.clone(),
            Clock::system(),
        )
        .unwrap();
        sim.set_order_fault(Some(OrderFault::DelayAnswer(Duration::from_secs(10))));
        let place = orders.place(req(
            "BTCUSDT",
            "LIMIT BUY q=0.001 p=60000 tif=GTC id=cut-off-1",
        ));
        assert!(
            tokio::time::timeout(Duration::from_millis(500), place)
                .await
                .is_err()
        );
        sim.set_order_fault(None);
        let row = store
            .order_by_client_id(&"cut-off-1".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(row.status.as_str(), "pending");
        // And an open order of ours whose row was lost altogether.
        let signed = exchange.with_credentials(&credentials(), 5_000).unwrap();
        let lost: ClientOrderId = "tb-row-lost".parse().unwrap();
        signed
            .place_order(&req("BTCUSDT", "LIMIT SELL q=0.001 p=70000 tif=GTC"), &lost)
            .await
            .unwrap();
    }
    assert_eq!(sim.orders().len(), 2);

    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[exchange]\nrest_url = \"{}\"\nws_api_url = \"{}\"\nrequest_timeout_ms = 2000\n\n[heartbeat]\nperiod_secs = 2\noffset_secs = 1\n\n\
             [market_data]\nsymbols = [\"BTCUSDT\"]\nintervals = [\"1m\"]\n\n[storage]\ndatabase = \"data/tradebeat.db\"\n\n\
             [logging]\ndir = \"logs\"\nlevel = \"debug\"\n",
            sim.base_url(),
            common::ws_api_url(&sim.base_url())
        ),
    )
    .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir.path())
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("TRADEBEAT_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .env("TRADEBEAT_EXCHANGE__API_KEY", TEST_API_KEY)
        .env("TRADEBEAT_EXCHANGE__API_SECRET", TEST_API_SECRET)
        .spawn()
        .unwrap();

    let read = |id: &str| -> Option<(String, Option<i64>)> {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .ok()?;
        conn.busy_timeout(Duration::from_secs(5)).ok()?;
        conn.query_row(
            "SELECT status, order_id FROM orders WHERE client_order_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let cut = read("cut-off-1");
        let lost = read("tb-row-lost");
        if cut.as_ref().is_some_and(|(s, _)| s == "NEW") && lost.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "not reconciled: {cut:?} {lost:?}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let on_exchange = sim.order("cut-off-1").unwrap();
    assert_eq!(
        read("cut-off-1"),
        Some(("NEW".to_string(), Some(on_exchange.order_id)))
    );
    let lost = sim.order("tb-row-lost").unwrap();
    assert_eq!(
        read("tb-row-lost"),
        Some(("NEW".to_string(), Some(lost.order_id)))
    );
    assert_eq!(sim.orders().len(), 2, "reconciliation placed nothing");
    assert_eq!(
        requests(&sim, "POST", "/api/v3/order"),
        1,
        "only the lost row's order was ever answered"
    );

    // Stop it; nothing secret in its logs or output.
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let orders_log = std::fs::read_to_string(dir.path().join("logs/orders.log")).unwrap();
    assert!(
        orders_log.contains("orders reconciled with the exchange"),
        "{orders_log}"
    );
    assert!(orders_log.contains("imported"), "{orders_log}");
    for file in files_under(&dir.path().join("logs")) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(TEST_API_SECRET) && !text.contains(TEST_API_KEY),
            "{}",
            file.display()
        );
    }
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(!text.contains(TEST_API_SECRET) && !text.contains(TEST_API_KEY));
    }
}
