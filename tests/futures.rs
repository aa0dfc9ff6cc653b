//! Futures market data (USDⓈ-M and COIN-M) per beat, against the simulator: exact klines,
//! one mark price and one open-interest row per symbol per beat, one market's ban or
//! malformed answer never stopping the others, settled contracts retired.

mod common;

use std::time::Duration;

use common::*;
use exchange_sim::{FuturesSim, SimFuturesKline, SimHandle};
use rusqlite::Connection;
use tradebeat::clock::Clock;
use tradebeat::control::protocol::{MarketGet, MarketSymbolParams};
use tradebeat::domain::{Interval, Market};
use tradebeat::exchange::{ClientOptions, FuturesClient, Network, SpotClient};
use tradebeat::market_data::MarketData;
use tradebeat::store::{BeatTrigger, HeartbeatRow, Store};

fn options(url: &str) -> ClientOptions {
    ClientOptions::for_network(Network::Testnet, Some(url), Duration::from_secs(2))
        .expect("options")
}

/// Beats over spot BTCUSDT, usdm BTCUSDT and coinm `coinm` at 1m and 1h.
fn beats(sim: &SimHandle, db: &std::path::Path, coinm: &[&str]) -> MarketData {
    let store = Store::open(db).unwrap();
    let clock = Clock::system();
    let spot = SpotClient::new(options(&sim.base_url()), clock.clone()).unwrap();
    let usdm = FuturesClient::usdm(options(&sim.usdm_url), clock.clone()).unwrap();
    let coinm_client = FuturesClient::coinm(options(&sim.coinm_url), clock.clone()).unwrap();
    MarketData::new(
        spot,
        store,
        clock,
        vec!["BTCUSDT".parse().unwrap()],
        vec![Interval::M1, Interval::H1],
    )
    .with_futures_market(usdm, vec!["BTCUSDT".parse().unwrap()])
    .with_futures_market(
        coinm_client,
        coinm.iter().map(|s| s.parse().unwrap()).collect(),
    )
}

async fn beat(md: &MarketData) -> HeartbeatRow {
    md.beat(Clock::system().now_ms(), BeatTrigger::Manual, 0)
        .await
}

/// Stored klines of (market, symbol, interval) as the served decimal text parses.
fn stored(db: &Connection, market: Market, symbol: &str, interval: &str) -> Vec<Row> {
    let mut stmt = db
        .prepare(
            "SELECT k.open_time, k.close_time, k.open, k.high, k.low, k.close, k.volume,
                    k.quote_volume, k.trades, k.taker_buy_base_volume, k.taker_buy_quote_volume
             FROM klines k JOIN symbols s ON s.id = k.symbol_id
             WHERE s.market = ?1 AND s.symbol = ?2 AND k.interval = ?3 ORDER BY k.open_time",
        )
        .unwrap();
    stmt.query_map([market.as_str(), symbol, interval], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn served(k: &SimFuturesKline) -> Row {
    let k = k.to_sim_kline();
    (
        k.open_time,
        k.close_time,
        k.open,
        k.high,
        k.low,
        k.close,
        k.volume,
        k.quote_volume,
        k.trades as i64,
        k.taker_buy_base_volume,
        k.taker_buy_quote_volume,
    )
}

/// Every stored candle of the series equals the simulator's, and there is at least one.
fn assert_exact(db: &Connection, sim: &FuturesSim, market: Market, symbol: &str, interval: &str) {
    let rows = stored(db, market, symbol, interval);
    assert!(
        !rows.is_empty(),
        "{market:?} {symbol} {interval}: nothing stored"
    );
    for row in rows {
        let k = sim
            .kline(symbol, interval, row.0)
            .unwrap_or_else(|| panic!("no served {symbol} {interval} at {}", row.0));
        assert_eq!(row, served(&k), "{market:?} {symbol} {interval}");
    }
}

fn count(db: &Connection, table: &str, market: Market, symbol: &str) -> i64 {
    db.query_row(
        &format!(
            "SELECT COUNT(*) FROM {table} t JOIN symbols s ON s.id = t.symbol_id
             WHERE s.market = ?1 AND s.symbol = ?2"
        ),
        [market.as_str(), symbol],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_beats_store_exact_klines_and_one_mark_and_open_interest_row_per_symbol() {
    let sim = sim().await;
    let dir = tempdir();
    let db = dir.path().join("tradebeat.db");
    let md = beats(&sim, &db, &["BTCUSD_PERP"]);

    let first = beat(&md).await;
    assert_eq!(first.error, None);
    assert_eq!((first.symbols_ok, first.symbols_failed), (3, 0));
    let conn = read_db(&db);
    for interval in ["1m", "1h"] {
        assert_exact(&conn, sim.usdm(), Market::UsdM, "BTCUSDT", interval);
        // COIN-M volumes stay in contracts (and base-asset volume), as served.
        assert_exact(&conn, sim.coinm(), Market::CoinM, "BTCUSD_PERP", interval);
    }
    for (market, symbol) in [(Market::UsdM, "BTCUSDT"), (Market::CoinM, "BTCUSD_PERP")] {
        assert_eq!(count(&conn, "mark_prices", market, symbol), 1);
        assert_eq!(count(&conn, "open_interest", market, symbol), 1);
        assert_eq!(count(&conn, "tickers", market, symbol), 1);
    }

    // A second beat: one more row of each per symbol, at that beat's time.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = beat(&md).await;
    assert_eq!(second.error, None);
    for (market, symbol) in [(Market::UsdM, "BTCUSDT"), (Market::CoinM, "BTCUSD_PERP")] {
        assert_eq!(count(&conn, "mark_prices", market, symbol), 2);
        assert_eq!(count(&conn, "open_interest", market, symbol), 2);
    }
    let times: Vec<i64> = conn
        .prepare("SELECT time FROM mark_prices ORDER BY time")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        times,
        vec![
            first.beat_time,
            first.beat_time,
            second.beat_time,
            second.beat_time
        ]
    );
    // COIN-M open interest is a whole number of contracts, stored as sent.
    let oi: String = conn
        .query_row(
            "SELECT open_interest FROM open_interest o JOIN symbols s ON s.id = o.symbol_id
             WHERE s.market = 'coinm' AND period = 'beat' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(oi.parse::<u64>().is_ok(), "contracts: {oi}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_prices_and_open_interest_export_to_parquet_as_stored() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    use tradebeat::export::{Format, export_to_file};
    use tradebeat::store::export::{ExportFilter, ExportKind};

    let sim = sim().await;
    let dir = tempdir();
    let db = dir.path().join("tradebeat.db");
    let md = beats(&sim, &db, &["BTCUSD_PERP"]);
    assert_eq!(beat(&md).await.error, None);
    let conn = read_db(&db);
    let stored: Vec<(String, String, i64, String, Option<String>)> = conn
        .prepare(
            "SELECT s.market, s.symbol, m.time, m.mark_price, m.funding_rate
             FROM mark_prices m JOIN symbols s ON s.id = m.symbol_id
             ORDER BY s.market, s.symbol, m.time",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored.len(), 2);

    let out = dir.path().join("mark.parquet");
    let all = ExportFilter::default();
    let n = export_to_file(&db, ExportKind::MarkPrices, &all, &out, Format::Parquet).unwrap();
    assert_eq!(n, 2);
    let reader = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    let rows: Vec<_> = reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for (row, (market, symbol, time, mark, funding)) in rows.iter().zip(&stored) {
        assert_eq!(row.get_string(0).unwrap(), market);
        assert_eq!(row.get_string(1).unwrap(), symbol);
        assert_eq!(row.get_timestamp_millis(2).unwrap(), *time);
        assert_eq!(row.get_double(3).unwrap(), mark.parse::<f64>().unwrap());
        match funding {
            Some(f) => assert_eq!(row.get_double(6).unwrap(), f.parse::<f64>().unwrap()),
            None => assert!(row.get_double(6).is_err()),
        }
    }

    // Open interest, one market only.
    let coinm = ExportFilter {
        market: Some(Market::CoinM),
        ..Default::default()
    };
    let out = dir.path().join("oi.csv");
    let n = export_to_file(&db, ExportKind::OpenInterest, &coinm, &out, Format::Csv).unwrap();
    assert_eq!(n, 1);
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "market",
            "symbol",
            "period",
            "time",
            "open_interest",
            "open_interest_value"
        ]
    );
    let record = reader.records().next().unwrap().unwrap();
    let oi: String = conn
        .query_row(
            "SELECT open_interest FROM open_interest o JOIN symbols s ON s.id = o.symbol_id
             WHERE s.market = 'coinm'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        (&record[0], &record[1], &record[2]),
        ("coinm", "BTCUSD_PERP", "beat")
    );
    assert_eq!(&record[4], oi.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_on_usdm_leaves_spot_and_coinm_beats_whole() {
    let sim = sim().await;
    let dir = tempdir();
    let db = dir.path().join("tradebeat.db");
    let md = beats(&sim, &db, &["BTCUSD_PERP"]);
    // First beat registers everything; then USD-M bans the IP.
    assert_eq!(beat(&md).await.error, None);
    sim.usdm().ban_for(Duration::from_secs(600));
    let conn = read_db(&db);
    let spot_before = stored(&conn, Market::Spot, "BTCUSDT", "1m").len();

    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let row = beat(&md).await;
    // The ban costs no waiting: the beat is not held up by the banned market.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let error = row.error.expect("the usdm failure is recorded");
    assert!(
        error.starts_with("usdm: ") || error.contains("; usdm: "),
        "{error}"
    );
    assert!(!error.contains("coinm"), "{error}");
    assert_eq!((row.symbols_ok, row.symbols_failed), (2, 1));
    assert_eq!(count(&conn, "mark_prices", Market::CoinM, "BTCUSD_PERP"), 2);
    assert_eq!(count(&conn, "mark_prices", Market::UsdM, "BTCUSDT"), 1);
    assert_eq!(count(&conn, "tickers", Market::Spot, "BTCUSDT"), 2);
    assert!(stored(&conn, Market::Spot, "BTCUSDT", "1m").len() >= spot_before);
    // Banned: after the first 418, nothing more is sent to USD-M.
    assert!(
        sim.usdm().count_status(418) <= 1,
        "{}",
        sim.usdm().count_status(418)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_premium_index_refuses_that_market_only() {
    let sim = sim().await;
    let dir = tempdir();
    let db = dir.path().join("tradebeat.db");
    let md = beats(&sim, &db, &["BTCUSD_PERP"]);
    assert_eq!(beat(&md).await.error, None);
    sim.coinm().set_malformed("/dapi/v1/premiumIndex", true);
    let conn = read_db(&db);
    let coinm_klines = stored(&conn, Market::CoinM, "BTCUSD_PERP", "1m").len();

    tokio::time::sleep(Duration::from_millis(5)).await;
    let row = beat(&md).await;
    let error = row.error.expect("recorded");
    assert!(error.contains("coinm: refused:"), "{error}");
    assert!(error.contains("premiumIndex"), "{error}");
    // Nothing of COIN-M's part of this beat is written; USD-M and spot commit.
    assert_eq!(count(&conn, "mark_prices", Market::CoinM, "BTCUSD_PERP"), 1);
    assert_eq!(
        count(&conn, "open_interest", Market::CoinM, "BTCUSD_PERP"),
        1
    );
    assert_eq!(count(&conn, "tickers", Market::CoinM, "BTCUSD_PERP"), 1);
    assert_eq!(
        stored(&conn, Market::CoinM, "BTCUSD_PERP", "1m").len(),
        coinm_klines
    );
    assert_eq!(count(&conn, "mark_prices", Market::UsdM, "BTCUSDT"), 2);
    assert_eq!(count(&conn, "tickers", Market::Spot, "BTCUSDT"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_open_interest_refuses_that_market_only() {
    let sim = sim().await;
    let dir = tempdir();
    let db = dir.path().join("tradebeat.db");
    let md = beats(&sim, &db, &["BTCUSD_PERP"]);
    assert_eq!(beat(&md).await.error, None);
    sim.usdm().set_malformed("/fapi/v1/openInterest", true);
    let conn = read_db(&db);
    let usdm_klines = stored(&conn, Market::UsdM, "BTCUSDT", "1m").len();

    tokio::time::sleep(Duration::from_millis(5)).await;
    let row = beat(&md).await;
    let error = row.error.expect("recorded");
    assert!(error.contains("usdm: refused:"), "{error}");
    assert!(error.contains("openInterest"), "{error}");
    assert!(!error.contains("coinm"), "{error}");
    // Nothing of USD-M's part of this beat is written, not even its good premiumIndex;
    // COIN-M and spot commit.
    for table in ["mark_prices", "open_interest", "tickers"] {
        assert_eq!(count(&conn, table, Market::UsdM, "BTCUSDT"), 1, "{table}");
        assert_eq!(
            count(&conn, table, Market::CoinM, "BTCUSD_PERP"),
            2,
            "{table}"
        );
    }
    assert_eq!(
        stored(&conn, Market::UsdM, "BTCUSDT", "1m").len(),
        usdm_klines
    );
    assert_eq!(count(&conn, "tickers", Market::Spot, "BTCUSDT"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delisted_contract_is_retired_once_and_the_beats_go_on_clean() {
    let sim = sim().await;
    let delivery = sim.coinm().delivery_symbol().expect("a quarterly contract");
    let dir = tempdir();
    let db = dir.path().join("tradebeat.db");
    let md = beats(&sim, &db, &["BTCUSD_PERP", &delivery]);
    let first = beat(&md).await;
    assert_eq!(first.error, None);
    assert_eq!(first.symbols_ok, 4);
    let conn = read_db(&db);
    let active = |symbol: &str| -> bool {
        conn.query_row(
            "SELECT active FROM symbols WHERE market = 'coinm' AND symbol = ?1",
            [symbol],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(active(&delivery));

    sim.coinm().delist(&delivery);
    // The beat that meets the delisting fails that symbol only, and asks for exchangeInfo
    // again; the next one retires it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let meeting = beat(&md).await;
    assert_eq!(meeting.symbols_failed, 1, "{:?}", meeting.error);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let after = beat(&md).await;
    assert_eq!(after.error, None);
    assert!(!active(&delivery), "retired");
    assert!(active("BTCUSD_PERP"));
    assert_eq!(after.symbols_ok, 3);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let later = beat(&md).await;
    assert_eq!((later.error, later.symbols_failed), (None, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_follows_configured_futures_symbols_next_to_spot() {
    let sim = sim().await;
    let dir = tempdir();
    let mut config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    config.exchange.usdm_rest_url = Some(sim.usdm_url.clone());
    config.exchange.coinm_rest_url = Some(sim.coinm_url.clone());
    config.market_data.usdm_symbols = vec!["BTC/USDT".parse().unwrap()];
    config.market_data.coinm_symbols = vec!["BTCUSD_PERP".parse().unwrap()];
    let db = config.storage.database.clone();
    let socket = config.control.socket.clone();
    let daemon = InProcess::start(config);
    // Two beats of every market (the start-up beat and a scheduled one, 2 s apart).
    wait_until(
        "two beats with futures rows",
        Duration::from_secs(20),
        || {
            db.exists()
                && Connection::open(&db).is_ok_and(|c| {
                    c.query_row(
                        "SELECT COUNT(*) FROM mark_prices m JOIN symbols s ON s.id = m.symbol_id
                     WHERE s.market = 'coinm'",
                        [],
                        |r| r.get::<_, i64>(0),
                    )
                    .is_ok_and(|n| n >= 2)
                })
        },
    )
    .await;
    // market.get answers each market's own rules, from that market's exchangeInfo.
    let mut c = tradebeat::control::Client::connect(&socket).await.unwrap();
    let clock = Clock::system();
    let usdm = FuturesClient::usdm(options(&sim.usdm_url), clock.clone()).unwrap();
    let coinm = FuturesClient::coinm(options(&sim.coinm_url), clock).unwrap();
    for (market, symbol, client) in [
        (Market::UsdM, "BTCUSDT", &usdm),
        (Market::CoinM, "BTCUSD_PERP", &coinm),
    ] {
        let symbol: tradebeat::domain::Symbol = symbol.parse().unwrap();
        let view = c
            .call::<MarketGet>(&MarketSymbolParams {
                symbol: symbol.clone(),
                market: Some(market),
            })
            .await
            .expect("market.get");
        let direct = client.exchange_info_for(&symbol).await.unwrap();
        let rules = direct.symbols[0].filters.clone();
        assert_eq!((view.market, &view.symbol), (market, &symbol));
        let tick = rules.price.map(|p| p.tick_size);
        let step = rules.lot_size.map(|l| l.step_size);
        assert!(tick.is_some() && step.is_some(), "{market:?}: {rules:?}");
        assert_eq!((view.tick_size, view.step_size), (tick, step), "{market:?}");
        assert_eq!(
            view.quote_asset, direct.symbols[0].quote_asset,
            "{market:?}"
        );
        // And the contract spec from the same exchangeInfo.
        let contract = view.contract.expect("a futures contract spec");
        assert_eq!(contract.contract_type, "PERPETUAL", "{market:?}");
        let size = (market == Market::CoinM).then_some("100");
        assert_eq!(contract.contract_size.as_deref(), size, "{market:?}");
    }
    daemon.stop().await;
    let conn = read_db(&db);
    assert_exact(&conn, sim.usdm(), Market::UsdM, "BTCUSDT", "1m");
    assert_exact(&conn, sim.coinm(), Market::CoinM, "BTCUSD_PERP", "1m");
    for (market, symbol) in [
        (Market::Spot, "BTCUSDT"),
        (Market::UsdM, "BTCUSDT"),
        (Market::CoinM, "BTCUSD_PERP"),
    ] {
        assert!(count(&conn, "tickers", market, symbol) >= 2, "{market:?}");
    }
    assert!(count(&conn, "open_interest", Market::UsdM, "BTCUSDT") >= 2);
    let errors: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM heartbeats WHERE error IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(errors, 0);
}
