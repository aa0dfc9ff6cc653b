//! Paper trading against the simulator's real replay: fills at the book, resting orders
//! filled by later candles (also after a restart), -2010 changing nothing, IOC and
//! LIMIT_MAKER, the database's mode, and no signed request ever sent.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rust_decimal::Decimal;
use tradebeat::clock::Clock;
use tradebeat::domain::{
    BookTicker, Market, OrderRequest, OrderStatus, OrderType, PaperFees, Side, Symbol, TimeInForce,
    TradingMode,
};
use tradebeat::exchange::{ClientOptions, Network, SpotClient};
use tradebeat::orders::{OrderError, Orders};
use tradebeat::store::Store;
use tradebeat::venue::{BookFeed, PaperVenue, Venue};

const MINUTE: i64 = 60_000;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn btc() -> Symbol {
    "BTCUSDT".parse().unwrap()
}

/// [`client`], for tests where a control client shadows the name.
fn client_of(sim: &exchange_sim::SimHandle) -> SpotClient {
    client(sim)
}

fn client(sim: &exchange_sim::SimHandle) -> SpotClient {
    let options = ClientOptions::for_network(
        Network::Testnet,
        Some(&sim.base_url()),
        Duration::from_secs(2),
    )
    .expect("options");
    SpotClient::new(options, Clock::system()).expect("client")
}

/// Maker and taker fees told apart.
fn fees() -> PaperFees {
    PaperFees {
        maker: d("0.0005"),
        taker: d("0.001"),
    }
}

/// A paper venue and orders over `db`, the account seeded (once) with 10000 USDT and 1 BTC.
async fn paper(sim: &exchange_sim::SimHandle, db: &Path) -> (Store, PaperVenue, Orders) {
    let store = Store::open(db).expect("store");
    // The venue's idea of the exchange's time (placements are stamped with it) follows the
    // simulator's clock, even when a test moved it.
    let client = client(sim);
    client.sync_time().await.expect("server time");
    let venue = PaperVenue::new(client, store.clone(), Clock::system(), fees());
    let balances = BTreeMap::from([
        ("USDT".to_string(), d("10000")),
        ("BTC".to_string(), d("1")),
    ]);
    venue.seed_balances(&balances).await.expect("seed");
    let orders = Orders::with_venue(
        Some(Arc::new(venue.clone()) as Arc<dyn Venue>),
        store.clone(),
        Clock::system(),
    );
    (store, venue, orders)
}

fn balances(store: &Store) -> BTreeMap<String, (Decimal, Decimal)> {
    store
        .balances(Market::Spot)
        .unwrap()
        .into_iter()
        .map(|b| (b.asset, (b.free, b.locked)))
        .collect()
}

fn request(side: Side, order_type: OrderType, qty: &str) -> OrderRequest {
    let mut r = OrderRequest::new(btc(), side, order_type);
    r.quantity = Some(d(qty));
    r
}

/// No request carried a signature or went to an account endpoint, and no WebSocket API
/// connection was opened.
fn assert_nothing_signed(sim: &exchange_sim::SimHandle) {
    let log = sim.request_log();
    assert!(!log.is_empty(), "public market data was read");
    for r in &log {
        assert!(
            !r.query.contains("signature") && !r.query.contains("timestamp"),
            "signed request sent: {} {}",
            r.method,
            r.path
        );
        assert!(
            ![
                "/api/v3/order",
                "/api/v3/openOrders",
                "/api/v3/allOrders",
                "/api/v3/myTrades",
                "/api/v3/account"
            ]
            .contains(&r.path.as_str()),
            "account endpoint called: {} {}",
            r.method,
            r.path
        );
    }
    assert_eq!(sim.ws_connections_total(), 0, "no user-data connection");
}

#[tokio::test]
async fn market_buy_fills_at_the_book_ask_with_the_taker_fee_and_conserves_balances() {
    let sim = sim().await;
    let dir = tempdir();
    let (store, _venue, orders) = paper(&sim, &dir.path().join("paper.db")).await;
    let c = client(&sim);
    let before: BookTicker = c.book_ticker(&btc()).await.unwrap();
    let row = orders
        .place(request(Side::Buy, OrderType::Market, "0.01"))
        .await
        .expect("placed");
    let after: BookTicker = c.book_ticker(&btc()).await.unwrap();
    assert_eq!(row.status, OrderStatus::Filled);
    assert_eq!(row.executed_qty, d("0.01"));
    assert_eq!(row.fills.len(), 1);
    let fill = &row.fills[0];
    // The replay moves within the minute: the ask the venue read lies between the two.
    let (lo, hi) = (
        before.ask_price.min(after.ask_price),
        before.ask_price.max(after.ask_price),
    );
    assert!(
        lo <= fill.price && fill.price <= hi,
        "filled at {} while the ask went from {} to {}",
        fill.price,
        before.ask_price,
        after.ask_price
    );
    assert_eq!(
        fill.commission,
        d("0.00001"),
        "taker fee on the base bought"
    );
    assert_eq!(fill.commission_asset, "BTC");
    // Conservation, exactly: quote out = qty × price; base in = qty − commission.
    let b = balances(&store);
    assert_eq!(
        b["USDT"],
        (d("10000") - d("0.01") * fill.price, Decimal::ZERO)
    );
    assert_eq!(b["BTC"], (d("1") + d("0.01") - d("0.00001"), Decimal::ZERO));
    // The execution row is the simulated report, marked paper, and the row is the order's.
    let execs = store
        .executions_of_order(Market::Spot, &btc(), row.order_id.unwrap())
        .unwrap();
    let trade = execs
        .iter()
        .find(|e| e.execution_type == "TRADE")
        .expect("a TRADE execution");
    assert!(trade.raw.contains("\"paper\":true"), "{}", trade.raw);
    assert_eq!(
        trade.last_price.as_deref(),
        Some(fill.price.to_string().as_str())
    );
    assert_eq!(trade.commission_asset.as_deref(), Some("BTC"));
    // A sell pays its fee in the quote asset.
    let sell = orders
        .place(request(Side::Sell, OrderType::Market, "0.005"))
        .await
        .expect("sold");
    let f = &sell.fills[0];
    assert_eq!(f.commission_asset, "USDT");
    assert_eq!(f.commission, d("0.005") * f.price * d("0.001"));
    let b2 = balances(&store);
    assert_eq!(
        b2["USDT"].0,
        b["USDT"].0 + d("0.005") * f.price - f.commission
    );
    assert_eq!(b2["BTC"].0, b["BTC"].0 - d("0.005"));
    assert_nothing_signed(&sim);
}

#[tokio::test]
async fn insufficient_balance_answers_minus_2010_and_changes_nothing() {
    let sim = sim().await;
    let dir = tempdir();
    let (store, _venue, orders) = paper(&sim, &dir.path().join("paper.db")).await;
    let before = balances(&store);
    let executions = store.execution_count().unwrap();
    // About 65000 USDT for 1 BTC, with 10000 USDT; 2 BTC sold with 1 BTC.
    for r in [
        request(Side::Buy, OrderType::Market, "1"),
        request(Side::Sell, OrderType::Market, "2"),
    ] {
        match orders.place(r).await {
            Err(OrderError::Rejected { code, msg, .. }) => {
                assert_eq!(code, -2010);
                assert_eq!(
                    msg,
                    "Account has insufficient balance for requested action."
                );
            }
            other => panic!("expected -2010, got {other:?}"),
        }
    }
    assert_eq!(balances(&store), before, "balances unchanged");
    assert_eq!(store.execution_count().unwrap(), executions, "no execution");
    assert_nothing_signed(&sim);
}

#[tokio::test]
async fn ioc_that_cannot_fill_expires_and_limit_maker_that_would_take_is_rejected() {
    let sim = sim().await;
    let dir = tempdir();
    let (store, _venue, orders) = paper(&sim, &dir.path().join("paper.db")).await;
    let book = client(&sim).book_ticker(&btc()).await.unwrap();
    let before = balances(&store);

    let mut ioc = request(Side::Buy, OrderType::Limit, "0.01");
    ioc.price = Some((book.bid_price * d("0.9")).round_dp(2));
    ioc.time_in_force = Some(TimeInForce::Ioc);
    let row = orders.place(ioc).await.expect("placed");
    assert_eq!(row.status, OrderStatus::Expired);
    assert_eq!(row.executed_qty, Decimal::ZERO);
    assert_eq!(balances(&store), before, "nothing locked or moved");

    let mut maker = request(Side::Buy, OrderType::LimitMaker, "0.01");
    maker.price = Some((book.ask_price * d("1.01")).round_dp(2));
    match orders.place(maker).await {
        Err(OrderError::Rejected { code, msg, .. }) => {
            assert_eq!(code, -2010);
            assert_eq!(msg, "Order would immediately match and take.");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }

    // An IOC that crosses fills at once as taker, at the book.
    let mut taker = request(Side::Buy, OrderType::Limit, "0.001");
    taker.price = Some((book.ask_price * d("1.01")).round_dp(2));
    taker.time_in_force = Some(TimeInForce::Ioc);
    let row = orders.place(taker).await.expect("placed");
    assert_eq!(row.status, OrderStatus::Filled);
    assert!(row.fills[0].price < (book.ask_price * d("1.01")).round_dp(2));
    assert_eq!(row.fills[0].commission, d("0.000001"), "taker fee");
    assert_nothing_signed(&sim);
}

/// The REST book ticker requests in the simulator's log.
fn book_requests(sim: &exchange_sim::SimHandle) -> usize {
    sim.request_log()
        .iter()
        .filter(|r| r.path == "/api/v3/ticker/bookTicker")
        .count()
}

#[tokio::test]
async fn with_a_book_feed_orders_fill_at_the_streamed_book_and_read_rest_only_while_it_is_down() {
    let sim = sim().await;
    let dir = tempdir();
    let (_store, venue, orders) = paper(&sim, &dir.path().join("paper.db")).await;
    let cancel = tokio_util::sync::CancellationToken::new();
    let feed = BookFeed::new(&sim.ws_url(), cancel.clone());
    venue.set_book_feed(feed.clone());
    let buy = || orders.place(request(Side::Buy, OrderType::Market, "0.001"));

    // The first order on a symbol reads the book over REST and starts its stream.
    sim.clear_request_log();
    assert_eq!(buy().await.expect("placed").status, OrderStatus::Filled);
    assert_eq!(
        book_requests(&sim),
        1,
        "the first order reads the book over REST"
    );
    wait_until("the streamed book", Duration::from_secs(10), || {
        feed.latest(&btc()).is_some()
    })
    .await;
    assert_eq!(sim.market_streams_opened(), 1);

    // Then no request: each fill is at the streamed ask at the time of the order.
    sim.clear_request_log();
    for _ in 0..5 {
        let before = feed.latest(&btc()).expect("streamed").ask_price;
        let row = buy().await.expect("placed");
        let after = feed.latest(&btc()).expect("streamed").ask_price;
        let price = row.fills[0].price;
        assert!(
            before.min(after) <= price && price <= before.max(after),
            "filled at {price} while the streamed ask went from {before} to {after}"
        );
    }
    assert_eq!(book_requests(&sim), 0, "no book read over REST");
    // The resting-order watch takes the streamed book too (with the klines over REST).
    let mut resting = request(Side::Buy, OrderType::Limit, "0.001");
    let bid = feed.latest(&btc()).expect("streamed").bid_price;
    resting.price = Some((bid * d("0.5")).round_dp(2));
    resting.time_in_force = Some(TimeInForce::Gtc);
    assert_eq!(
        orders.place(resting).await.expect("placed").status,
        OrderStatus::New
    );
    assert_eq!(venue.check_resting().await.expect("looked"), 0);
    assert!(
        sim.request_log().iter().any(|r| r.path == "/api/v3/klines"),
        "the watch read the klines"
    );
    assert_eq!(book_requests(&sim), 0, "the watch read no book over REST");

    // The stream cut (and refused for now): the book is forgotten, orders read REST again.
    sim.set_market_streams_refused(true);
    sim.drop_market_streams();
    wait_until(
        "the streamed book forgotten",
        Duration::from_secs(10),
        || feed.latest(&btc()).is_none(),
    )
    .await;
    sim.clear_request_log();
    assert_eq!(buy().await.expect("placed").status, OrderStatus::Filled);
    assert_eq!(
        book_requests(&sim),
        1,
        "read over REST while the stream is down"
    );

    // Back: the feed reconnects on its own, and orders stop reading REST.
    sim.set_market_streams_refused(false);
    wait_until("the stream back", Duration::from_secs(15), || {
        feed.latest(&btc()).is_some()
    })
    .await;
    let read = book_requests(&sim);
    assert_eq!(buy().await.expect("placed").status, OrderStatus::Filled);
    assert_eq!(book_requests(&sim), read, "no book read over REST");
    assert!(sim.market_streams_opened() >= 2);
    cancel.cancel();
    assert_nothing_signed(&sim);
}

#[tokio::test]
async fn resting_orders_survive_a_restart_and_fill_when_a_later_candle_reaches_them() {
    let sim = sim().await;
    let dir = tempdir();
    let db = dir.path().join("paper.db");
    // The lowest price of the next six hours' candles. The replay maps wall-clock minutes
    // onto a recorded month, in which the next six hours do not always fall below the
    // book (about 2 % of the minutes): the simulator's clock is moved ahead by whole hours
    // until they do, so the test does not depend on when it runs.
    let mut skew = 0;
    let (later, low) = loop {
        sim.set_clock_skew_ms(skew);
        let book = client(&sim).book_ticker(&btc()).await.unwrap();
        let now = sim.now_ms();
        let first = now - now % MINUTE + MINUTE;
        let later: Vec<_> = (0..360)
            .filter_map(|i| sim.kline("BTCUSDT", "1m", first + i * MINUTE))
            .collect();
        assert!(later.len() > 300, "the replay has the next hours");
        let low = later.iter().map(|k| k.low).fold(f64::MAX, f64::min);
        let low = d(&low.to_string());
        if low < book.bid_price {
            break (later, low);
        }
        skew += 60 * MINUTE;
        assert!(
            skew <= 48 * 60 * MINUTE,
            "no fall within six hours for two days"
        );
    };
    let (store, venue, orders) = paper(&sim, &db).await;

    // A buy resting at that low, and a stop-loss sell triggering there.
    let mut limit = request(Side::Buy, OrderType::Limit, "0.01");
    limit.price = Some(low);
    limit.time_in_force = Some(TimeInForce::Gtc);
    let resting = orders.place(limit).await.expect("placed");
    assert_eq!(resting.status, OrderStatus::New);
    // (BTCUSDT lists STOP_LOSS_LIMIT, not STOP_LOSS, as on Binance.)
    let mut stop = request(Side::Sell, OrderType::StopLossLimit, "0.02");
    stop.stop_price = Some(low);
    stop.price = Some(low);
    stop.time_in_force = Some(TimeInForce::Gtc);
    let stop = orders.place(stop).await.expect("placed");
    assert_eq!(stop.status, OrderStatus::New);
    let b = balances(&store);
    assert_eq!(
        b["USDT"],
        (d("10000") - d("0.01") * low, d("0.01") * low),
        "quote locked"
    );
    assert_eq!(b["BTC"], (d("0.98"), d("0.02")), "base locked");

    // Not before: no candle after the placement has closed, the book does not cross.
    assert_eq!(venue.check_resting().await.unwrap(), 0);
    assert_eq!(
        store
            .order_by_client_id(&resting.client_order_id)
            .unwrap()
            .unwrap()
            .status,
        OrderStatus::New
    );

    // A restart: the orders are in the database only.
    drop((venue, orders, store));
    let (store, venue, _orders) = paper(&sim, &db).await;
    // Six hours later on the exchange's clock.
    sim.set_clock_skew_ms(skew + 361 * MINUTE);
    assert_eq!(venue.check_resting().await.unwrap(), 2, "both filled");

    let buy = store
        .order_by_client_id(&resting.client_order_id)
        .unwrap()
        .unwrap();
    assert_eq!(buy.status, OrderStatus::Filled);
    assert_eq!(buy.executed_qty, d("0.01"));
    let execs = store
        .executions_of_order(Market::Spot, &btc(), buy.order_id.unwrap())
        .unwrap();
    let trade = execs.iter().find(|e| e.execution_type == "TRADE").unwrap();
    assert_eq!(
        trade.last_price.as_deref(),
        Some(low.to_string().as_str()),
        "at its limit"
    );
    assert_eq!(trade.commission.as_deref(), Some("0.000005"), "maker fee");
    let first_reaching = later.iter().find(|k| d(&k.low.to_string()) <= low).unwrap();
    assert_eq!(
        trade.transaction_time, first_reaching.close_time,
        "filled by the first later candle that reached it"
    );
    let sell = store
        .order_by_client_id(&stop.client_order_id)
        .unwrap()
        .unwrap();
    assert_eq!(sell.status, OrderStatus::Filled);
    // Conservation: every lock released, every amount moved exactly.
    let b = balances(&store);
    // The stop-limit filled at its limit price: maker fee.
    let quote_fee = d("0.02") * low * d("0.0005");
    assert_eq!(
        b["USDT"],
        (
            d("10000") - d("0.01") * low + d("0.02") * low - quote_fee,
            Decimal::ZERO
        )
    );
    assert_eq!(
        b["BTC"],
        (
            d("1") + d("0.01") - d("0.000005") - d("0.02"),
            Decimal::ZERO
        )
    );
    // Nothing more to fill.
    assert_eq!(venue.check_resting().await.unwrap(), 0);
    assert_nothing_signed(&sim);
}

#[tokio::test]
async fn a_cancelled_paper_order_unlocks_its_funds() {
    let sim = sim().await;
    let dir = tempdir();
    let (store, _venue, orders) = paper(&sim, &dir.path().join("paper.db")).await;
    let book = client(&sim).book_ticker(&btc()).await.unwrap();
    let before = balances(&store);
    let mut limit = request(Side::Buy, OrderType::Limit, "0.01");
    limit.price = Some((book.bid_price * d("0.5")).round_dp(2));
    limit.time_in_force = Some(TimeInForce::Gtc);
    let row = orders.place(limit).await.expect("placed");
    assert_ne!(balances(&store), before);
    let which = tradebeat::domain::OrderRef::ClientOrderId(row.client_order_id.clone());
    let cancelled = orders.cancel(&btc(), &which).await.expect("cancelled");
    assert_eq!(cancelled.status, OrderStatus::Canceled);
    assert_eq!(balances(&store), before);
    assert!(matches!(
        orders.cancel(&btc(), &which).await,
        Err(OrderError::Rejected { code: -2011, .. }) | Err(OrderError::NotFound { .. })
    ));
}

#[tokio::test]
async fn cancel_all_unlocks_every_resting_paper_order_and_test_places_nothing() {
    let sim = sim().await;
    let dir = tempdir();
    let (store, _venue, orders) = paper(&sim, &dir.path().join("paper.db")).await;
    let book = client(&sim).book_ticker(&btc()).await.unwrap();
    let before = balances(&store);
    let mut limit = request(Side::Buy, OrderType::Limit, "0.01");
    limit.price = Some((book.bid_price * d("0.5")).round_dp(2));
    limit.time_in_force = Some(TimeInForce::Gtc);
    orders
        .test(&limit)
        .await
        .expect("a valid order passes the test");
    assert!(
        orders.list(Default::default()).await.unwrap().is_empty(),
        "test stores nothing"
    );
    assert_eq!(balances(&store), before, "test locks nothing");
    for _ in 0..2 {
        orders.place(limit.clone()).await.expect("placed");
    }
    let mut ask = request(Side::Sell, OrderType::Limit, "0.02");
    ask.price = Some((book.ask_price * d("2")).round_dp(2));
    ask.time_in_force = Some(TimeInForce::Gtc);
    orders.place(ask).await.expect("placed");
    assert_ne!(balances(&store), before);
    let cancelled = orders.cancel_all(&btc()).await.expect("cancelled");
    assert_eq!(cancelled.len(), 3);
    assert!(cancelled.iter().all(|o| o.status == OrderStatus::Canceled));
    assert_eq!(balances(&store), before, "every lock released");
    // Nothing open any more: the venue's -2011 is an empty answer, as on the exchange.
    assert!(
        orders
            .cancel_all(&btc())
            .await
            .expect("answered")
            .is_empty()
    );
    assert_nothing_signed(&sim);
}

#[tokio::test]
async fn a_database_stays_paper_or_live_and_the_daemon_refuses_the_other_mode() {
    let sim = sim().await;
    let dir = tempdir();
    for (recorded, wanted) in [
        (TradingMode::Paper, TradingMode::Live),
        (TradingMode::Live, TradingMode::Paper),
    ] {
        let sub = dir.path().join(recorded.as_str());
        let mut config = config(&sim.base_url(), &sub, &["BTCUSDT"], &["1m"]);
        {
            let store = Store::open(&config.storage.database).unwrap();
            assert_eq!(store.claim_trading_mode(recorded, 1).unwrap(), recorded);
            // Recorded for good: asking for the other mode answers the recorded one.
            assert_eq!(store.claim_trading_mode(wanted, 2).unwrap(), recorded);
        }
        config.paper.enabled = wanted == TradingMode::Paper;
        let daemon = InProcess::start(config);
        let outcome = tokio::time::timeout(Duration::from_secs(10), daemon.task)
            .await
            .expect("refused at once")
            .expect("joins");
        let message = format!("{:#}", outcome.expect_err("refused"));
        assert!(
            message.contains(&format!("is a {recorded} trading database"))
                && message.contains(&format!("asks for {wanted} trading")),
            "{message}"
        );
    }
    // A database used before modes were recorded (it holds balances) is live.
    let store = Store::open(&dir.path().join("old.db")).unwrap();
    let account = tradebeat::domain::Account {
        can_trade: true,
        update_time: 1,
        balances: vec![tradebeat::domain::Balance {
            asset: "USDT".into(),
            free: d("1"),
            locked: Decimal::ZERO,
        }],
    };
    store.apply_account(Market::Spot, &account, 1).unwrap();
    assert_eq!(
        store.claim_trading_mode(TradingMode::Paper, 1).unwrap(),
        TradingMode::Live
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paper_daemon_trades_over_the_socket_without_credentials_or_signed_requests() {
    use tradebeat::control::Client;
    use tradebeat::control::protocol::{
        BalanceList, BalanceListParams, NoParams, OrderPlace, PnlList, PnlListParams, Status,
    };
    let sim = sim().await;
    let dir = tempdir();
    let mut config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    config.paper.enabled = true;
    config.paper.starting_balances = Some(BTreeMap::from([(
        "USDT".to_string(),
        tradebeat::config::PaperBalance::Amount("5000".to_string()),
    )]));
    let socket = config.control.socket.clone();
    let daemon = InProcess::start(config);
    let mut client = None;
    wait_until("the control socket", Duration::from_secs(10), || {
        socket.exists()
    })
    .await;
    for _ in 0..100 {
        if let Ok(c) = Client::connect(&socket).await {
            client = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut client = client.expect("connects");
    let status = client.call::<Status>(&NoParams {}).await.unwrap();
    assert!(status.paper, "status says paper");

    let buy = client
        .call::<OrderPlace>(&request(Side::Buy, OrderType::Market, "0.01"))
        .await
        .expect("bought");
    let sell = client
        .call::<OrderPlace>(&request(Side::Sell, OrderType::Market, "0.004"))
        .await
        .expect("sold");
    let (pb, ps) = (buy.fills[0].price, sell.fills[0].price);
    let balances = client
        .call::<BalanceList>(&BalanceListParams::default())
        .await
        .unwrap();
    let usdt = balances.iter().find(|b| b.asset == "USDT").unwrap();
    let sell_fee = d("0.004") * ps * d("0.001");
    assert_eq!(
        usdt.free,
        d("5000") - d("0.01") * pb + d("0.004") * ps - sell_fee
    );

    // pnl over the two fills, by hand: held 0.01 − 0.00001 − 0.004 at the buy price.
    let pnl = client
        .call::<PnlList>(&PnlListParams {
            market: Some(Market::Spot),
            symbol: Some(btc()),
        })
        .await
        .unwrap();
    assert_eq!(pnl.len(), 1);
    let p = &pnl[0];
    assert_eq!(p.position, d("0.00599"));
    assert_eq!(p.avg_entry, pb.normalize());
    assert_eq!(p.realized_pnl, (d("0.004") * (ps - pb)).normalize());
    assert_eq!(p.fees, (d("0.00001") * pb + sell_fee).normalize());
    assert_eq!(p.trades, 2);
    assert_eq!(p.quote_asset.as_deref(), Some("USDT"));

    // `tradebeat ctl`: every table starts with the PAPER line; --json stays plain JSON.
    let s = socket.to_str().unwrap();
    for args in [
        vec!["ctl", "--socket", s, "pnl"],
        vec!["ctl", "--socket", s, "balances"],
        vec!["ctl", "--socket", s, "status"],
    ] {
        let mut cmd = tradebeat_command(dir.path());
        cmd.args(&args);
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("run ctl"))
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{args:?}: {stdout}");
        assert!(
            stdout.starts_with(tradebeat::ctl::PAPER_HEADER),
            "{args:?}:\n{stdout}"
        );
        if args[3] == "pnl" {
            assert!(
                stdout.contains("BTCUSDT") && stdout.contains("0.00599"),
                "{stdout}"
            );
        }
    }
    let mut cmd = tradebeat_command(dir.path());
    cmd.args(["ctl", "--socket", s, "--json", "pnl"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run ctl"))
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plain JSON");
    assert_eq!(json[0]["position"], "0.00599");
    daemon.stop().await;
    assert_nothing_signed(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_fills_a_resting_paper_order_after_a_beat_once_the_price_reached_it() {
    use tradebeat::control::Client;
    use tradebeat::control::protocol::OrderPlace;
    let sim = sim().await;
    let dir = tempdir();
    let mut config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    config.paper.enabled = true;
    config.paper.starting_balances = Some(BTreeMap::from([
        (
            "USDT".to_string(),
            tradebeat::config::PaperBalance::Amount("10000".to_string()),
        ),
        (
            "BTC".to_string(),
            tradebeat::config::PaperBalance::Amount("1".to_string()),
        ),
    ]));
    let socket = config.control.socket.clone();
    let daemon = InProcess::start(config);
    wait_until("the control socket", Duration::from_secs(10), || {
        socket.exists()
    })
    .await;
    let mut client = Client::connect(&socket).await.expect("connects");
    let book = client_of(&sim).book_ticker(&btc()).await.unwrap();
    let now = sim.now_ms();
    let first = now - now % MINUTE + MINUTE;
    let later: Vec<_> = (0..120)
        .filter_map(|i| sim.kline("BTCUSDT", "1m", first + i * MINUTE))
        .collect();
    let low = d(&later
        .iter()
        .map(|k| k.low)
        .fold(f64::MAX, f64::min)
        .to_string());
    let high = d(&later
        .iter()
        .map(|k| k.high)
        .fold(f64::MIN, f64::max)
        .to_string());
    // A buy at the coming low, or (the price only rises) a sell at the coming high.
    let mut limit = if low < book.bid_price {
        let mut r = request(Side::Buy, OrderType::Limit, "0.01");
        r.price = Some(low);
        r
    } else {
        let mut r = request(Side::Sell, OrderType::Limit, "0.01");
        r.price = Some(high);
        r
    };
    limit.time_in_force = Some(TimeInForce::Gtc);
    let placed = client.call::<OrderPlace>(&limit).await.expect("placed");
    assert_eq!(placed.status, OrderStatus::New);
    // Two hours later on the exchange: the next beats see the candles that reached it.
    sim.set_clock_skew_ms(121 * MINUTE);
    let db = dir.path().join("tradebeat.db");
    let id = placed.client_order_id.to_string();
    wait_until("the paper order filled", Duration::from_secs(30), || {
        read_db(&db)
            .query_row(
                "SELECT status FROM orders WHERE client_order_id = ?1",
                [&id],
                |r| r.get::<_, String>(0),
            )
            .is_ok_and(|s| s == "FILLED")
    })
    .await;
    daemon.stop().await;
    assert_nothing_signed(&sim);
}
