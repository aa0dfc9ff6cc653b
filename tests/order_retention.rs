//! Order retention (`[orders] keep_closed_per_symbol`) against the simulator, in paper
//! mode: orders placed over the socket, then a restart with `keep_closed_per_symbol = 2`
//! (a pass runs at start) keeps the two newest closed orders per market and symbol, never
//! deletes a working order, keeps the executions of the kept orders and deletes those of
//! the deleted ones, and logs what it deleted.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::*;
use rust_decimal::Decimal;
use tradebeat::config::{KeepClosed, PaperBalance};
use tradebeat::control::Client;
use tradebeat::control::protocol::OrderPlace;
use tradebeat::domain::{OrderRequest, OrderStatus, OrderType, Side, Symbol, TimeInForce};

fn market_buy(symbol: &str) -> OrderRequest {
    let symbol: Symbol = symbol.parse().unwrap();
    let mut r = OrderRequest::new(symbol, Side::Buy, OrderType::Market);
    r.quantity = Some("0.01".parse().unwrap());
    r
}

/// (market, symbol, client_order_id, status) of every order, oldest first.
fn orders(db: &Path) -> Vec<(String, String, String, String)> {
    read_db(db)
        .prepare("SELECT market, symbol, client_order_id, status FROM orders ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The number of executions of the order `client_order_id` (through its exchange id).
fn executions_of(db: &Path, client_order_id: &str) -> i64 {
    read_db(db)
        .query_row(
            "SELECT COUNT(*) FROM executions e JOIN orders o
               ON o.market = e.market AND o.symbol = e.symbol AND o.order_id = e.order_id
             WHERE o.client_order_id = ?1",
            [client_order_id],
            |r| r.get(0),
        )
        .unwrap()
}

fn executions(db: &Path) -> i64 {
    read_db(db)
        .query_row("SELECT COUNT(*) FROM executions", [], |r| r.get(0))
        .unwrap()
}

async fn connect(socket: &Path) -> Client {
    wait_until("the control socket", Duration::from_secs(15), || {
        socket.exists()
    })
    .await;
    for _ in 0..200 {
        if let Ok(c) = Client::connect(socket).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no connection to {}", socket.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_newest_closed_orders_per_market_and_symbol_and_every_working_one() {
    let sim = sim().await;
    let dir = tempdir();
    let mut config = config(
        &sim.base_url(),
        dir.path(),
        &["BTCUSDT", "ETHUSDT"],
        &["1m"],
    );
    config.paper.enabled = true;
    config.paper.starting_balances = Some(BTreeMap::from([(
        "USDT".to_string(),
        PaperBalance::Amount("100000".to_string()),
    )]));
    assert_eq!(config.orders.keep_closed_per_symbol, KeepClosed::All);
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();
    // The daemon's log files, as `tradebeat run` writes them (this binary's only test).
    let logs = tradebeat::logging::init(&config.logging).expect("logging");

    // First run, keeping everything: BTCUSDT a resting LIMIT first (working), then four
    // MARKET fills; ETHUSDT three MARKET fills.
    let daemon = InProcess::start(config.clone());
    wait_until("a beat", Duration::from_secs(20), || {
        heartbeat_count(&db) >= 1
    })
    .await;
    let mut client = connect(&socket).await;
    let close = stored_klines(&read_db(&db), "BTCUSDT", "1m")
        .last()
        .expect("a stored candle")
        .5;
    let mut resting = OrderRequest::new("BTCUSDT".parse().unwrap(), Side::Buy, OrderType::Limit);
    resting.quantity = Some("0.01".parse().unwrap());
    resting.price = Some(
        Decimal::try_from(close * 0.9)
            .unwrap()
            .round_dp(2)
            .normalize(),
    );
    resting.time_in_force = Some(TimeInForce::Gtc);
    let working = client.call::<OrderPlace>(&resting).await.expect("rests");
    assert_eq!(working.status, OrderStatus::New);
    let mut filled = Vec::new();
    for symbol in [
        "BTCUSDT", "BTCUSDT", "BTCUSDT", "BTCUSDT", "ETHUSDT", "ETHUSDT", "ETHUSDT",
    ] {
        let o = client
            .call::<OrderPlace>(&market_buy(symbol))
            .await
            .expect("filled");
        assert_eq!(o.status, OrderStatus::Filled);
        filled.push((symbol, o.client_order_id.to_string()));
    }
    drop(client);
    daemon.stop().await;
    assert_eq!(orders(&db).len(), 8);
    for (_, id) in &filled {
        assert!(executions_of(&db, id) >= 1, "{id} has its fill");
    }
    let before = executions(&db);

    // Three closed orders of the same symbol on another market (as the futures venues
    // record them), the newest last.
    let c = rusqlite::Connection::open(&db).unwrap();
    for i in 1..=3_i64 {
        c.execute(
            "INSERT INTO orders (market, symbol, client_order_id, order_id, side, type, status,
                 transact_time, created_at, updated_at)
             VALUES ('usdm', 'BTCUSDT', ?1, ?2, 'BUY', 'MARKET', 'FILLED', ?3, ?3, ?3)",
            rusqlite::params![format!("usdm-{i}"), 900 + i, i],
        )
        .unwrap();
    }
    drop(c);

    // Second run, keeping two: the pass at start prunes.
    config.orders.keep_closed_per_symbol = KeepClosed::Newest(2);
    assert!(
        config
            .render_effective()
            .contains("keep_closed_per_symbol = 2"),
        "check-config shows the key"
    );
    let daemon = InProcess::start(config);
    wait_until("the pass at start", Duration::from_secs(20), || {
        orders(&db).len() == 7
    })
    .await;
    let left = orders(&db);
    let ids: Vec<&str> = left.iter().map(|o| o.2.as_str()).collect();
    // The working order, whatever its age.
    assert!(ids.contains(&working.client_order_id.as_str()), "{left:?}");
    assert_eq!(
        left.iter()
            .find(|o| o.2 == working.client_order_id.as_str())
            .map(|o| o.3.as_str()),
        Some("NEW")
    );
    // The two newest closed ones per (market, symbol).
    let btc: Vec<&str> = filled
        .iter()
        .filter(|f| f.0 == "BTCUSDT")
        .map(|f| f.1.as_str())
        .collect();
    let eth: Vec<&str> = filled
        .iter()
        .filter(|f| f.0 == "ETHUSDT")
        .map(|f| f.1.as_str())
        .collect();
    for kept in [btc[2], btc[3], eth[1], eth[2], "usdm-2", "usdm-3"] {
        assert!(ids.contains(&kept), "{kept} kept: {left:?}");
    }
    for gone in [btc[0], btc[1], eth[0], "usdm-1"] {
        assert!(!ids.contains(&gone), "{gone} deleted: {left:?}");
    }
    // Executions of kept orders stay; those of the deleted ones are gone.
    for kept in [btc[2], btc[3], eth[1], eth[2]] {
        assert!(executions_of(&db, kept) >= 1, "{kept}'s fill kept");
    }
    let per_order = |id: &str| {
        read_db(&db)
            .query_row(
                "SELECT COUNT(*) FROM executions WHERE client_order_id = ?1",
                [id],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
    };
    for gone in [btc[0], btc[1], eth[0]] {
        assert_eq!(per_order(gone), 0, "{gone}'s fills deleted");
    }
    assert!(executions(&db) < before);
    daemon.stop().await;
    drop(logs);

    // What was deleted is logged, per market and symbol.
    let log = std::fs::read_to_string(dir.path().join("logs").join("orders.log")).unwrap();
    assert!(
        log.contains("order retention: closed orders deleted")
            && log.contains("symbol=ETHUSDT")
            && log.contains("orders=1"),
        "{log}"
    );
}
