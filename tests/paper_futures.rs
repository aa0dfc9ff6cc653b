//! Futures paper trading (USD-M and COIN-M) against the simulator's futures markets: a long
//! opened and closed at the book with realized PnL and fees exact and balances conserved,
//! COIN-M PnL in coins, a resting LIMIT filled by a later candle (not before, and after a
//! restart), -2019
//! changing nothing, `pnl.list` / `position.list` / `leverage.set` through a paper daemon,
//! and no signed request ever sent.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use exchange_sim::{FuturesSim, SimHandle};
use rust_decimal::Decimal;
use tradebeat::clock::Clock;
use tradebeat::domain::{
    Market, OrderRequest, OrderStatus, OrderType, PositionSide, Side, Symbol, TimeInForce,
};
use tradebeat::exchange::{ClientOptions, ExchangeError, FuturesClient, Network};
use tradebeat::orders::{OrderError, Orders};
use tradebeat::store::Store;
use tradebeat::venue::{PaperFuturesVenue, Venue, futures_paper_fees};

const MINUTE: i64 = 60_000;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn sym(s: &str) -> Symbol {
    s.parse().unwrap()
}

fn futures_sim(sim: &SimHandle, market: Market) -> &FuturesSim {
    match market {
        Market::CoinM => sim.coinm(),
        _ => sim.usdm(),
    }
}

async fn client(sim: &SimHandle, market: Market) -> FuturesClient {
    type Make = fn(ClientOptions, Clock) -> Result<FuturesClient, ExchangeError>;
    let (url, make): (&str, Make) = match market {
        Market::CoinM => (&sim.coinm_url, FuturesClient::coinm),
        _ => (&sim.usdm_url, FuturesClient::usdm),
    };
    let options = ClientOptions::for_network(Network::Testnet, Some(url), Duration::from_secs(5))
        .expect("options");
    let client = make(options, Clock::system()).expect("client");
    client.sync_time().await.expect("time");
    client
}

/// A futures paper venue and its orders over `db`, the account seeded (once) with
/// `balances`, Binance's base-tier fees.
async fn paper(
    sim: &SimHandle,
    market: Market,
    db: &Path,
    balances: &[(&str, &str)],
) -> (Store, PaperFuturesVenue, Orders) {
    let store = Store::open(db).expect("store");
    let venue = PaperFuturesVenue::new(
        client(sim, market).await,
        store.clone(),
        Clock::system(),
        futures_paper_fees(market),
    );
    let balances: BTreeMap<String, Decimal> = balances
        .iter()
        .map(|(a, v)| ((*a).to_string(), d(v)))
        .collect();
    venue.seed_balances(&balances).await.expect("seed");
    let orders = Orders::with_venue(
        Some(Arc::new(venue.clone()) as Arc<dyn Venue>),
        store.clone(),
        Clock::system(),
    );
    (store, venue, orders)
}

fn request(market: Market, symbol: &str, side: Side, t: OrderType, qty: &str) -> OrderRequest {
    let mut r = OrderRequest::new(sym(symbol), side, t);
    r.market = market;
    r.quantity = Some(d(qty));
    r
}

fn wallet(store: &Store, market: Market, asset: &str) -> Decimal {
    store
        .balances(market)
        .unwrap()
        .into_iter()
        .find(|b| b.asset == asset)
        .map(|b| b.free)
        .unwrap_or_default()
}

/// (signed quantity, entry price, leverage) of the stored BOTH position.
fn position(
    store: &Store,
    market: Market,
    symbol: &str,
) -> Option<(Decimal, Decimal, Option<u32>)> {
    store
        .positions(Some(market), Some(&sym(symbol)), false)
        .unwrap()
        .into_iter()
        .find(|p| p.position_side == PositionSide::Both)
        .map(|p| (p.quantity, p.entry_price, p.leverage))
}

/// The trade executions of `market`: (order id, last price, commission, asset,
/// realized PnL, position side, raw), oldest first.
type Exec = (i64, String, String, String, String, String, String);

fn trades(db: &Path, market: Market) -> Vec<Exec> {
    let conn = read_db(db);
    let mut stmt = conn
        .prepare(
            "SELECT order_id, last_price, commission, commission_asset, realized_pnl,
                    position_side, raw
             FROM executions WHERE market = ?1 AND trade_id IS NOT NULL ORDER BY id",
        )
        .unwrap();
    stmt.query_map([market.as_str()], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// No futures request carried a signature or went to a trading or account endpoint.
fn assert_nothing_signed(sim: &SimHandle) {
    let mut seen = 0;
    for market in [Market::UsdM, Market::CoinM] {
        for r in futures_sim(sim, market).request_log() {
            seen += 1;
            assert!(
                !r.query.contains("signature") && !r.query.contains("timestamp"),
                "signed request sent: {} {}",
                r.method,
                r.path
            );
            let trading = [
                "/order",
                "/openOrders",
                "/allOrders",
                "/allOpenOrders",
                "/userTrades",
                "/account",
                "/balance",
                "/positionRisk",
                "/leverage",
                "/marginType",
                "/listenKey",
                "/algoOrder",
            ];
            assert!(
                !trading.iter().any(|t| r.path.ends_with(t)),
                "trading endpoint called: {} {}",
                r.method,
                r.path
            );
        }
    }
    assert!(seen > 0, "public futures market data was read");
    for market in [Market::UsdM, Market::CoinM] {
        assert!(
            futures_sim(sim, market).orders().is_empty(),
            "the simulator's {} engine got no order",
            market.as_str()
        );
    }
}

#[tokio::test]
async fn a_usdm_long_opened_and_closed_at_the_book_realizes_exact_pnl_and_fees() {
    let sim = sim().await;
    let dir = tempdir();
    let db = dir.path().join("paper.db");
    let (store, _venue, orders) = paper(&sim, Market::UsdM, &db, &[("USDT", "10000")]).await;
    // The simulator's futures book is one price on both sides: the contract price.
    sim.usdm().set_last_price("BTCUSDT", Some("50000"));
    let open = orders
        .place(request(
            Market::UsdM,
            "BTCUSDT",
            Side::Buy,
            OrderType::Market,
            "0.010",
        ))
        .await
        .expect("bought");
    assert_eq!(open.status, OrderStatus::Filled);
    assert_eq!(open.market, Market::UsdM);
    assert_eq!(open.executed_qty, d("0.010"));
    assert_eq!(
        position(&store, Market::UsdM, "BTCUSDT"),
        Some((d("0.010"), d("50000"), Some(20))),
        "long 0.01 at 50000, default leverage 20"
    );
    sim.usdm().set_last_price("BTCUSDT", Some("52000"));
    let close = orders
        .place(request(
            Market::UsdM,
            "BTCUSDT",
            Side::Sell,
            OrderType::Market,
            "0.010",
        ))
        .await
        .expect("sold");
    assert_eq!(close.status, OrderStatus::Filled);
    assert_eq!(
        position(&store, Market::UsdM, "BTCUSDT").map(|p| p.0),
        Some(Decimal::ZERO),
        "flat"
    );

    // By hand: taker 0.05 % of 500 = 0.25 and of 520 = 0.26; realized 0.01 × 2000 = 20.
    let t = trades(&db, Market::UsdM);
    assert_eq!(t.len(), 2);
    let (buy, sell) = (&t[0], &t[1]);
    assert_eq!(d(&buy.1), d("50000"));
    assert_eq!((d(&buy.2), buy.3.as_str()), (d("0.25"), "USDT"));
    assert_eq!(d(&buy.4), Decimal::ZERO);
    assert_eq!(d(&sell.1), d("52000"));
    assert_eq!((d(&sell.2), sell.3.as_str()), (d("0.26"), "USDT"));
    assert_eq!(d(&sell.4), d("20"), "realized PnL of the close");
    for e in &t {
        assert_eq!(e.5, "BOTH");
        assert!(
            e.6.contains("\"paper\":true") && e.6.contains("ORDER_TRADE_UPDATE"),
            "{}",
            e.6
        );
    }
    // Conservation: start + realized − fees = end, exactly.
    let realized: Decimal = t.iter().map(|e| d(&e.4)).sum();
    let fees: Decimal = t.iter().map(|e| d(&e.2)).sum();
    assert_eq!(
        wallet(&store, Market::UsdM, "USDT"),
        d("10000") + realized - fees
    );
    assert_eq!(wallet(&store, Market::UsdM, "USDT"), d("10019.49"));
    // The order rows are the futures orders they were.
    let row = store
        .order_by_client_id(&close.client_order_id)
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OrderStatus::Filled);
    assert_eq!(
        row.futures.as_ref().and_then(|f| f.avg_price),
        Some(d("52000"))
    );
    assert_nothing_signed(&sim);
}

#[tokio::test]
async fn a_coinm_long_realizes_its_pnl_in_coins() {
    let sim = sim().await;
    let dir = tempdir();
    let db = dir.path().join("paper.db");
    let (store, _venue, orders) = paper(&sim, Market::CoinM, &db, &[("BTC", "1")]).await;
    sim.coinm().set_last_price("BTCUSD_PERP", Some("50000"));
    let open = orders
        .place(request(
            Market::CoinM,
            "BTCUSD_PERP",
            Side::Buy,
            OrderType::Market,
            "2",
        ))
        .await
        .expect("bought");
    assert_eq!(open.status, OrderStatus::Filled);
    assert_eq!(
        position(&store, Market::CoinM, "BTCUSD_PERP").map(|p| (p.0, p.1)),
        Some((d("2"), d("50000")))
    );
    sim.coinm().set_last_price("BTCUSD_PERP", Some("62500"));
    orders
        .place(request(
            Market::CoinM,
            "BTCUSD_PERP",
            Side::Sell,
            OrderType::Market,
            "2",
        ))
        .await
        .expect("sold");
    // 2 contracts × 100 USD: 0.004 BTC at 50000, 0.0032 BTC at 62500.
    // PnL = 2 × 100 × (1/50000 − 1/62500) = 0.0008 BTC; fees 0.05 % of each: 0.000002 and
    // 0.0000016 BTC.
    let t = trades(&db, Market::CoinM);
    assert_eq!(t.len(), 2);
    assert_eq!((d(&t[0].2), t[0].3.as_str()), (d("0.000002"), "BTC"));
    assert_eq!((d(&t[1].2), t[1].3.as_str()), (d("0.0000016"), "BTC"));
    assert_eq!(d(&t[1].4), d("0.0008"));
    assert_eq!(wallet(&store, Market::CoinM, "BTC"), d("1.0007964"));
    assert_eq!(
        position(&store, Market::CoinM, "BTCUSD_PERP").map(|p| p.0),
        Some(Decimal::ZERO)
    );
    assert_nothing_signed(&sim);
}

#[tokio::test]
async fn insufficient_margin_answers_minus_2019_and_changes_nothing() {
    let sim = sim().await;
    let dir = tempdir();
    let db = dir.path().join("paper.db");
    let (store, _venue, orders) = paper(&sim, Market::UsdM, &db, &[("USDT", "1000")]).await;
    sim.usdm().set_last_price("BTCUSDT", Some("50000"));
    let executions = store.execution_count().unwrap();
    // 1 BTC at 50000 with leverage 20 needs 2500 + 25 of margin; the wallet has 1000.
    let e = orders
        .place(request(
            Market::UsdM,
            "BTCUSDT",
            Side::Buy,
            OrderType::Market,
            "1",
        ))
        .await
        .expect_err("refused");
    match e {
        OrderError::Rejected { code, msg, .. } => {
            assert_eq!((code, msg.as_str()), (-2019, "Margin is insufficient."));
        }
        other => panic!("expected -2019, got {other:?}"),
    }
    // A resting order's margin counts too: 0.38 BTC at 49000 (931 + 3.724) fits; then
    // 0.03 at 50000 (75 + 0.75) does not fit in the 69 left.
    let mut limit = request(
        Market::UsdM,
        "BTCUSDT",
        Side::Buy,
        OrderType::Limit,
        "0.380",
    );
    limit.price = Some(d("49000"));
    limit.time_in_force = Some(TimeInForce::Gtc);
    let resting = orders.place(limit).await.expect("rests");
    assert_eq!(resting.status, OrderStatus::New);
    let executions = executions + 1;
    assert_eq!(store.execution_count().unwrap(), executions);
    let e = orders
        .place(request(
            Market::UsdM,
            "BTCUSDT",
            Side::Buy,
            OrderType::Market,
            "0.030",
        ))
        .await
        .expect_err("refused");
    assert!(
        matches!(e, OrderError::Rejected { code: -2019, .. }),
        "{e:?}"
    );
    assert_eq!(wallet(&store, Market::UsdM, "USDT"), d("1000"));
    assert_eq!(store.execution_count().unwrap(), executions, "no execution");
    assert_eq!(
        position(&store, Market::UsdM, "BTCUSDT")
            .map(|p| p.0)
            .unwrap_or_default(),
        Decimal::ZERO,
        "no position"
    );
    assert_nothing_signed(&sim);
}

#[tokio::test]
async fn a_resting_limit_survives_a_restart_and_fills_at_its_price_when_a_later_candle_reaches_it()
{
    let sim = sim().await;
    let dir = tempdir();
    let db = dir.path().join("paper.db");
    let (store, venue, orders) = paper(&sim, Market::UsdM, &db, &[("USDT", "10000")]).await;
    let book = client(&sim, Market::UsdM)
        .await
        .book_ticker(&sym("BTCUSDT"))
        .await
        .unwrap();
    let now = sim.usdm().now_ms();
    let first = now - now % MINUTE + MINUTE;
    let later: Vec<_> = (0..120)
        .filter_map(|i| sim.usdm().kline("BTCUSDT", "1m", first + i * MINUTE))
        .collect();
    assert!(later.len() > 100, "the replay has the next two hours");
    let low = later.iter().map(|k| d(&k.low)).min().unwrap();
    let high = later.iter().map(|k| d(&k.high)).max().unwrap();
    // A buy at the coming low, or (the price only rises) a sell at the coming high.
    let (side, price) = if low < book.bid_price {
        (Side::Buy, low)
    } else {
        (Side::Sell, high)
    };
    let mut limit = request(Market::UsdM, "BTCUSDT", side, OrderType::Limit, "0.010");
    limit.price = Some(price);
    limit.time_in_force = Some(TimeInForce::Gtc);
    let placed = orders.place(limit).await.expect("placed");
    assert_eq!(placed.status, OrderStatus::New);

    // Not before: no candle after the placement has closed, and the book does not cross.
    assert_eq!(venue.check_resting().await.unwrap(), 0);
    assert!(trades(&db, Market::UsdM).is_empty());
    // A restart: the order is in the database only.
    drop((venue, orders, store));
    let (store, venue, _orders) = paper(&sim, Market::UsdM, &db, &[("USDT", "10000")]).await;
    // Two hours later on the exchange's clock: the candles that reached it have closed.
    sim.usdm().set_clock_skew_ms(121 * MINUTE);
    assert_eq!(venue.check_resting().await.unwrap(), 1, "filled");
    let row = store
        .order_by_client_id(&placed.client_order_id)
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OrderStatus::Filled);
    let t = trades(&db, Market::UsdM);
    assert_eq!(t.len(), 1);
    assert_eq!(d(&t[0].1), price, "at its limit");
    // Maker: 0.02 % of the notional.
    let fee = d("0.010") * price * d("0.0002");
    assert_eq!(d(&t[0].2), fee);
    let reaching = later
        .iter()
        .find(|k| match side {
            Side::Buy => d(&k.low) <= price,
            Side::Sell => d(&k.high) >= price,
        })
        .unwrap();
    let conn = read_db(&db);
    let time: i64 = conn
        .query_row(
            "SELECT transaction_time FROM executions WHERE trade_id IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        time, reaching.close_time,
        "filled by the first later candle reaching it"
    );
    let signed = match side {
        Side::Buy => d("0.010"),
        Side::Sell => d("-0.010"),
    };
    assert_eq!(
        position(&store, Market::UsdM, "BTCUSDT").map(|p| (p.0, p.1)),
        Some((signed, price))
    );
    assert_eq!(wallet(&store, Market::UsdM, "USDT"), d("10000") - fee);
    assert_eq!(venue.check_resting().await.unwrap(), 0, "nothing more");
    assert_nothing_signed(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paper_daemon_trades_futures_over_the_socket_and_lists_their_pnl() {
    use tradebeat::control::Client;
    use tradebeat::control::protocol::{
        LeverageSet, LeverageSetParams, OrderPlace, PnlList, PnlListParams, PositionList,
        PositionListParams,
    };
    let sim = sim().await;
    let dir = tempdir();
    let mut config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    config.exchange.usdm_rest_url = Some(sim.usdm_url.clone());
    config.exchange.coinm_rest_url = Some(sim.coinm_url.clone());
    config.paper.enabled = true;
    config.paper.starting_balances = Some(BTreeMap::from([(
        "usdm".to_string(),
        tradebeat::config::PaperBalance::Market(BTreeMap::from([(
            "USDT".to_string(),
            "5000".to_string(),
        )])),
    )]));
    let socket = config.control.socket.clone();
    let daemon = InProcess::start(config);
    wait_until("the control socket", Duration::from_secs(10), || {
        socket.exists()
    })
    .await;
    let mut client = None;
    for _ in 0..100 {
        if let Ok(c) = Client::connect(&socket).await {
            client = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut client = client.expect("connects");

    let lev = client
        .call::<LeverageSet>(&LeverageSetParams {
            symbol: sym("BTCUSDT"),
            market: Market::UsdM,
            leverage: 10,
        })
        .await
        .expect("leverage set");
    assert_eq!(lev.leverage, 10);
    sim.usdm().set_last_price("BTCUSDT", Some("40000"));
    let buy = client
        .call::<OrderPlace>(&request(
            Market::UsdM,
            "BTCUSDT",
            Side::Buy,
            OrderType::Market,
            "0.030",
        ))
        .await
        .expect("bought");
    assert_eq!(buy.status, OrderStatus::Filled);
    sim.usdm().set_last_price("BTCUSDT", Some("41000"));
    client
        .call::<OrderPlace>(&request(
            Market::UsdM,
            "BTCUSDT",
            Side::Sell,
            OrderType::Market,
            "0.010",
        ))
        .await
        .expect("sold");
    let positions = client
        .call::<PositionList>(&PositionListParams {
            market: Some(Market::UsdM),
            symbol: Some(sym("BTCUSDT")),
            all: None,
        })
        .await
        .expect("positions");
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].quantity, d("0.020"));
    assert_eq!(positions[0].entry_price, d("40000"));
    assert_eq!(positions[0].leverage, Some(10));

    // By hand: entry 40000; 0.01 closed at 41000 realizes 10; fees 0.05 % of 1200 and 410.
    let pnl = client
        .call::<PnlList>(&PnlListParams {
            market: Some(Market::UsdM),
            symbol: Some(sym("BTCUSDT")),
        })
        .await
        .expect("pnl");
    assert_eq!(pnl.len(), 1);
    let p = &pnl[0];
    assert_eq!(p.market, Market::UsdM);
    assert_eq!(p.position, d("0.02"));
    assert_eq!(p.avg_entry, d("40000"));
    assert_eq!(p.realized_pnl, d("10"));
    assert_eq!(p.fees, d("0.805"));
    assert_eq!(p.trades, 2);

    // A trailing stop is not simulated: refused before anything is stored.
    let mut trailing = request(
        Market::UsdM,
        "BTCUSDT",
        Side::Sell,
        OrderType::TrailingStopMarket,
        "0.010",
    );
    trailing.callback_rate = Some(d("1"));
    trailing.reduce_only = Some(true);
    let e = client
        .call::<OrderPlace>(&trailing)
        .await
        .expect_err("refused");
    assert!(format!("{e:?}").contains("-32602"), "{e:?}");
    daemon.stop().await;
    let db = dir.path().join("tradebeat.db");
    assert_eq!(
        read_db(&db)
            .query_row(
                "SELECT wb FROM (SELECT free AS wb FROM balances WHERE market = 'usdm' AND asset = 'USDT')",
                [],
                |r| r.get::<_, String>(0)
            )
            .map(|s| d(&s))
            .unwrap(),
        d("5000") + d("10") - d("0.805")
    );
    assert_nothing_signed(&sim);
}

#[tokio::test]
async fn hedge_sides_are_positions_of_their_own_and_refusals_are_binances() {
    let sim = sim().await;
    let dir = tempdir();
    let db = dir.path().join("paper.db");
    let (store, _venue, orders) = paper(&sim, Market::UsdM, &db, &[("USDT", "10000")]).await;
    sim.usdm().set_last_price("BTCUSDT", Some("50000"));
    let code = |e: OrderError| match e {
        OrderError::Rejected { code, .. } => code,
        other => panic!("expected a rejection, got {other:?}"),
    };
    let on = |side: Side, ps: PositionSide, qty: &str| {
        let mut r = request(Market::UsdM, "BTCUSDT", side, OrderType::Market, qty);
        r.position_side = Some(ps);
        r
    };
    // Nothing to reduce: -2022, one-way reduce-only and hedge SELL on LONG alike.
    let mut reduce = request(
        Market::UsdM,
        "BTCUSDT",
        Side::Sell,
        OrderType::Market,
        "0.010",
    );
    reduce.reduce_only = Some(true);
    assert_eq!(code(orders.place(reduce).await.unwrap_err()), -2022);
    assert_eq!(
        code(
            orders
                .place(on(Side::Sell, PositionSide::Long, "0.010"))
                .await
                .unwrap_err()
        ),
        -2022
    );
    // A post-only order that would take: -5022; a stop that would trigger at once: -2021.
    let mut gtx = request(
        Market::UsdM,
        "BTCUSDT",
        Side::Buy,
        OrderType::Limit,
        "0.010",
    );
    gtx.price = Some(d("50100"));
    gtx.time_in_force = Some(TimeInForce::Gtx);
    assert_eq!(code(orders.place(gtx).await.unwrap_err()), -5022);
    let mut stop = request(
        Market::UsdM,
        "BTCUSDT",
        Side::Buy,
        OrderType::StopMarket,
        "0.010",
    );
    stop.stop_price = Some(d("49900"));
    assert_eq!(code(orders.place(stop).await.unwrap_err()), -2021);
    assert!(trades(&db, Market::UsdM).is_empty(), "nothing filled");

    // LONG and SHORT are two positions; closing the LONG realizes its PnL only.
    orders
        .place(on(Side::Buy, PositionSide::Long, "0.010"))
        .await
        .expect("long opened");
    orders
        .place(on(Side::Sell, PositionSide::Short, "0.020"))
        .await
        .expect("short opened");
    sim.usdm().set_last_price("BTCUSDT", Some("51000"));
    orders
        .place(on(Side::Sell, PositionSide::Long, "0.010"))
        .await
        .expect("long closed");
    let sides: std::collections::HashMap<PositionSide, Decimal> = store
        .positions(Some(Market::UsdM), Some(&sym("BTCUSDT")), false)
        .unwrap()
        .into_iter()
        .map(|p| (p.position_side, p.quantity))
        .collect();
    assert_eq!(sides.get(&PositionSide::Long), Some(&Decimal::ZERO));
    assert_eq!(sides.get(&PositionSide::Short), Some(&d("-0.020")));
    let t = trades(&db, Market::UsdM);
    assert_eq!(t.len(), 3);
    assert_eq!(
        t.iter().map(|e| e.5.as_str()).collect::<Vec<_>>(),
        ["LONG", "SHORT", "LONG"]
    );
    assert_eq!(d(&t[2].4), d("10"), "0.01 × (51000 − 50000)");
    let fees: Decimal = t.iter().map(|e| d(&e.2)).sum();
    assert_eq!(fees, d("0.25") + d("0.5") + d("0.255"));
    assert_eq!(
        wallet(&store, Market::UsdM, "USDT"),
        d("10000") + d("10") - fees
    );
    assert_nothing_signed(&sim);
}
