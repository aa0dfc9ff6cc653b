//! History backfill of the futures markets (USDⓈ-M and COIN-M) against the simulator:
//! klines complete and exact over the jobs' ranges, funding events equal to the
//! simulator's, open-interest history beyond Binance's 30 days recorded once as a gap and
//! not asked for, across a restart too.

mod common;

use std::time::Duration;

use common::*;
use exchange_sim::{FuturesSim, SimHandle};
use rusqlite::Connection;
use rust_decimal::Decimal;
use tradebeat::backfill::BackfillOptions;
use tradebeat::config::Config;
use tradebeat::control::protocol::{
    HistoryView, NoParams, Status, SymbolAdd, SymbolAddParams, SymbolList, SymbolListParams,
};
use tradebeat::domain::{DAY_MS, Interval, Market};

/// Backfill knobs for a test: no pause between history requests, short retries.
fn fast() -> BackfillOptions {
    BackfillOptions {
        retry_base: Duration::from_millis(50),
        retry_cap: Duration::from_millis(500),
        history_request_spacing: Duration::ZERO,
        ..BackfillOptions::default()
    }
}

/// A daemon config over spot BTCUSDT and the given futures symbols, at `intervals`.
fn futures_config(sim: &SimHandle, dir: &std::path::Path, usdm: &[&str], coinm: &[&str]) -> Config {
    let mut config = config(&sim.base_url(), dir, &["BTCUSDT"], &["1m", "1h"]);
    config.exchange.usdm_rest_url = Some(sim.usdm_url.clone());
    config.exchange.coinm_rest_url = Some(sim.coinm_url.clone());
    config.market_data.usdm_symbols = usdm.iter().map(|s| s.parse().unwrap()).collect();
    config.market_data.coinm_symbols = coinm.iter().map(|s| s.parse().unwrap()).collect();
    config
}

fn query_i64(db: &std::path::Path, sql: &str) -> i64 {
    Connection::open(db)
        .ok()
        .and_then(|c| c.query_row(sql, [], |r| r.get(0)).ok())
        .unwrap_or(0)
}

/// Done `backfill_jobs` of futures symbols.
fn futures_jobs_done(db: &std::path::Path) -> i64 {
    query_i64(
        db,
        "SELECT COUNT(*) FROM backfill_jobs j JOIN symbols s ON s.id = j.symbol_id
         WHERE s.market <> 'spot' AND j.state = 'done'",
    )
}

/// Rows of `table` for (market, symbol), with an extra condition.
fn rows_of(db: &std::path::Path, table: &str, market: Market, symbol: &str, cond: &str) -> i64 {
    query_i64(
        db,
        &format!(
            "SELECT COUNT(*) FROM {table} t JOIN symbols s ON s.id = t.symbol_id
             WHERE s.market = '{}' AND s.symbol = '{symbol}' AND {cond}",
            market.as_str()
        ),
    )
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The (market, symbol, interval) job's range; its stored candles are every candle of it,
/// each equal to the simulator's.
fn assert_klines_complete(
    conn: &Connection,
    sim: &FuturesSim,
    market: Market,
    symbol: &str,
    interval: Interval,
) {
    let (from, to, state): (i64, i64, String) = conn
        .query_row(
            "SELECT j.from_time, j.to_time, j.state FROM backfill_jobs j
             JOIN symbols s ON s.id = j.symbol_id
             WHERE s.market = ?1 AND s.symbol = ?2 AND j.interval = ?3",
            [market.as_str(), symbol, interval.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(state, "done", "{market:?} {symbol} {interval}");
    let mut stmt = conn
        .prepare(
            "SELECT k.open_time, k.close_time, k.open, k.high, k.low, k.close, k.volume,
                    k.quote_volume, k.trades, k.taker_buy_base_volume, k.taker_buy_quote_volume
             FROM klines k JOIN symbols s ON s.id = k.symbol_id
             WHERE s.market = ?1 AND s.symbol = ?2 AND k.interval = ?3
               AND k.open_time BETWEEN ?4 AND ?5 ORDER BY k.open_time",
        )
        .unwrap();
    let rows: Vec<Row> = stmt
        .query_map(
            rusqlite::params![market.as_str(), symbol, interval.as_str(), from, to],
            |r| {
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
            },
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows.len() as i64,
        interval.candle_count(from, to),
        "{market:?} {symbol} {interval}: every candle of the job's range, once"
    );
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.0, interval.add_candles(from, i as i64), "no hole");
        let k = sim
            .kline(symbol, interval.as_str(), row.0)
            .unwrap_or_else(|| panic!("no served {symbol} {interval} at {}", row.0))
            .to_sim_kline();
        let served: Row = (
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
        );
        assert_eq!(*row, served, "{market:?} {symbol} {interval} at {}", row.0);
    }
}

/// Stored funding events of (market, symbol): (time, rate, mark price).
fn funding(
    conn: &Connection,
    market: Market,
    symbol: &str,
) -> Vec<(i64, Decimal, Option<Decimal>)> {
    let mut stmt = conn
        .prepare(
            "SELECT f.funding_time, f.funding_rate, f.mark_price FROM funding_rates f
             JOIN symbols s ON s.id = f.symbol_id WHERE s.market = ?1 AND s.symbol = ?2
             ORDER BY f.funding_time",
        )
        .unwrap();
    stmt.query_map([market.as_str(), symbol], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            dec(&r.get::<_, String>(1)?),
            r.get::<_, Option<String>>(2)?.map(|s| dec(&s)),
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_futures_backfill_stores_exact_klines_funding_and_open_interest_history() {
    let sim = sim().await;
    let dir = tempdir();
    let started = sim.usdm().now_ms();
    let config = futures_config(&sim, dir.path(), &["BTCUSDT"], &["BTCUSD_PERP"]);
    let db = config.storage.database.clone();
    let socket = config.control.socket.clone();
    let (daemon, _handles) = InProcess::start_with(config, fast()).await;
    let oi = "t.period = '5m'";
    wait_until(
        "futures history backfilled",
        Duration::from_secs(60),
        || {
            futures_jobs_done(&db) == 4
                && rows_of(&db, "funding_rates", Market::UsdM, "BTCUSDT", "1") > 0
                && rows_of(&db, "funding_rates", Market::CoinM, "BTCUSD_PERP", "1") > 0
                && rows_of(&db, "open_interest", Market::UsdM, "BTCUSDT", oi) > 0
                && rows_of(&db, "open_interest", Market::CoinM, "BTCUSD_PERP", oi) > 0
        },
    )
    .await;
    // The history's progress is in `status`, as stored; the contracts in `symbol.list`.
    let mut c = tradebeat::control::Client::connect(&socket).await.unwrap();
    let status = c.call::<Status>(&NoParams {}).await.unwrap();
    let series = |h: &HistoryView| {
        if h.series == "funding" {
            "funding_rates"
        } else {
            "open_interest"
        }
    };
    for m in &status.futures {
        let symbol = if m.market == Market::UsdM {
            "BTCUSDT"
        } else {
            "BTCUSD_PERP"
        };
        let names: Vec<&str> = m.history.iter().map(|h| h.series.as_str()).collect();
        assert_eq!(names, ["funding", "open_interest_5m"], "{:?}", m.market);
        for h in &m.history {
            assert_eq!(h.symbol.as_str(), symbol);
            let cond = if h.series == "funding" {
                "1"
            } else {
                "t.period = '5m'"
            };
            let stored = rows_of(&db, series(h), m.market, symbol, cond);
            assert!(h.rows > 0 && h.rows as i64 <= stored, "{h:?}: {stored}");
            assert!(h.oldest <= h.newest && h.newest.is_some(), "{h:?}");
            assert_eq!(
                (&h.last_error, h.retry_at, h.not_kept),
                (&None, None, None),
                "{h:?}"
            );
        }
    }
    assert_eq!(status.futures.len(), 2);
    for (market, size) in [(Market::UsdM, None), (Market::CoinM, Some("100"))] {
        let list = c
            .call::<SymbolList>(&SymbolListParams {
                active: None,
                market: Some(market),
            })
            .await
            .unwrap();
        let contract = list[0].symbol.contract.clone().expect("a contract spec");
        assert_eq!(contract.contract_type, "PERPETUAL", "{market:?}");
        assert_eq!(contract.contract_size.as_deref(), size, "{market:?}");
        assert!(contract.onboard_date.is_some(), "{market:?}");
        assert_eq!(list[0].history.len(), 2, "{market:?}");
    }
    let specs = query_i64(&db, "SELECT COUNT(*) FROM contract_specs");
    assert_eq!(specs, 2, "one row per futures symbol, none for spot");
    daemon.stop().await;
    let conn = read_db(&db);
    let day_ago = started - DAY_MS;
    for (market, symbol, fsim) in [
        (Market::UsdM, "BTCUSDT", sim.usdm()),
        (Market::CoinM, "BTCUSD_PERP", sim.coinm()),
    ] {
        for interval in [Interval::M1, Interval::H1] {
            assert_klines_complete(&conn, fsim, market, symbol, interval);
        }
        // Funding: exactly the simulator's events over the backfilled day.
        let stored = funding(&conn, market, symbol);
        let first = stored[0].0;
        let last = stored[stored.len() - 1].0;
        assert!(
            first >= day_ago && first < day_ago + 8 * 3_600_000,
            "{market:?}: {first}"
        );
        let served: Vec<(i64, Decimal, Option<Decimal>)> = fsim
            .funding_rates(symbol, first, last)
            .iter()
            .map(|f| {
                (
                    f.funding_time,
                    dec(&f.funding_rate),
                    // COIN-M's `fundingRate` carries no mark price.
                    (market == Market::UsdM).then(|| dec(&f.mark_price)),
                )
            })
            .collect();
        assert_eq!(stored, served, "{market:?} {symbol} funding");
        assert!(
            fsim.funding_rates(symbol, last + 1, started).is_empty(),
            "{market:?}: every event up to the start is stored"
        );
        // Open interest: a reading every 5 minutes of the day, equal to the simulator's.
        let mut stmt = conn
            .prepare(
                "SELECT o.time, o.open_interest FROM open_interest o
                 JOIN symbols s ON s.id = o.symbol_id
                 WHERE s.market = ?1 AND s.symbol = ?2 AND o.period = '5m' ORDER BY o.time",
            )
            .unwrap();
        let readings: Vec<(i64, String)> = stmt
            .query_map([market.as_str(), symbol], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            readings.len() >= 288 - 2,
            "{market:?}: {} readings",
            readings.len()
        );
        for pair in readings.windows(2) {
            assert_eq!(pair[1].0 - pair[0].0, 300_000, "{market:?}: no hole");
        }
        for (t, oi) in &readings {
            let served = fsim.open_interest(symbol, *t).expect("served");
            assert_eq!(dec(oi), dec(&served.open_interest), "{market:?} at {t}");
        }
        let gaps = query_i64(&db, "SELECT COUNT(*) FROM open_interest_gaps");
        assert_eq!(gaps, 0, "one day is inside what the exchange keeps");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_interest_beyond_thirty_days_is_one_gap_not_asked_for_across_a_restart() {
    let sim = sim().await;
    let dir = tempdir();
    let config = futures_config(&sim, dir.path(), &[], &[]);
    let db = config.storage.database.clone();
    let socket = config.control.socket.clone();
    let (daemon, _handles) = InProcess::start_with(config.clone(), fast()).await;
    wait_until("control socket", Duration::from_secs(10), || {
        socket.exists()
    })
    .await;
    let mut c = tradebeat::control::Client::connect(&socket).await.unwrap();
    let added = c
        .call::<SymbolAdd>(&SymbolAddParams {
            symbol: "BTCUSDT".parse().unwrap(),
            market: Some(Market::UsdM),
            intervals: Some(vec![Interval::D1]),
            backfill_days: Some(40),
        })
        .await
        .expect("symbol.add usdm");
    // Started as on spot: its klines job is in the answer.
    assert_eq!(added.backfill.len(), 1, "{added:?}");
    let oi = "t.period = '5m'";
    wait_until("30 days of open interest", Duration::from_secs(60), || {
        rows_of(&db, "open_interest", Market::UsdM, "BTCUSDT", oi) >= 30 * 288 - 2
            && futures_jobs_done(&db) == 1
    })
    .await;
    daemon.stop().await;
    let gap = |db: &std::path::Path| -> Vec<(i64, i64, String)> {
        let conn = read_db(db);
        let mut stmt = conn
            .prepare("SELECT start_time, end_time, reason FROM open_interest_gaps")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let before = gap(&db);
    assert_eq!(before.len(), 1, "{before:?}");
    let (start, end, reason) = before[0].clone();
    assert_eq!(reason, "not_kept_by_exchange");
    let now = sim.usdm().now_ms();
    assert!(
        (end - start) > 9 * DAY_MS && (end - start) < 11 * DAY_MS,
        "{start}..{end}"
    );
    assert!(
        now - end <= 30 * DAY_MS,
        "the gap ends where the exchange's history begins"
    );
    let oldest = query_i64(
        &db,
        "SELECT MIN(time) FROM open_interest WHERE period = '5m'",
    );
    assert!(oldest > end, "nothing stored inside the gap");
    // No request ever asked the exchange for what it does not keep (-1130 otherwise).
    let log = sim.usdm().request_log();
    assert!(
        log.iter()
            .filter(|r| r.path == "/futures/data/openInterestHist")
            .all(|r| r.status == 200),
        "every openInterestHist request was answered"
    );
    // A restart resumes from the stored data: the gap is not recorded again.
    let beats = query_i64(&db, "SELECT COUNT(*) FROM heartbeats");
    let (daemon, _handles) = InProcess::start_with(config, fast()).await;
    wait_until(
        "two beats after the restart",
        Duration::from_secs(20),
        || query_i64(&db, "SELECT COUNT(*) FROM heartbeats") >= beats + 2,
    )
    .await;
    daemon.stop().await;
    let after = gap(&db);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].0, start, "the same gap");
}

/// `tradebeat run` as a child process over spot BTCUSDT and USD-M BTCUSDT at 1m, seven
/// days of history; the database is `dir/data/tradebeat.db`.
fn futures_child(dir: &std::path::Path, sim: &SimHandle) -> std::process::Child {
    use std::process::Stdio;
    tradebeat_command(dir)
        .arg("run")
        .env("TRADEBEAT_EXCHANGE__REST_URL", sim.base_url())
        .env("TRADEBEAT_EXCHANGE__USDM_REST_URL", &sim.usdm_url)
        .env("TRADEBEAT_EXCHANGE__REQUEST_TIMEOUT_MS", "3000")
        .env("TRADEBEAT_HEARTBEAT__PERIOD_SECS", "2")
        .env("TRADEBEAT_HEARTBEAT__OFFSET_SECS", "1")
        .env("TRADEBEAT_MARKET_DATA__SYMBOLS", r#"["BTCUSDT"]"#)
        .env("TRADEBEAT_MARKET_DATA__USDM_SYMBOLS", r#"["BTCUSDT"]"#)
        .env("TRADEBEAT_MARKET_DATA__INTERVALS", r#"["1m"]"#)
        .env("TRADEBEAT_MARKET_DATA__BACKFILL_DAYS", "7")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tradebeat starts")
}

/// Waits for `child` to exit (SIGKILLed after `timeout`, then the test fails).
async fn exit_of(mut child: std::process::Child, timeout: Duration) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("tradebeat did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap()
}

/// The USD-M BTCUSDT 1m job: (from, next_start_time, rows, state). Opened read-only, so
/// that a poll before the daemon made the file never creates it.
fn usdm_job(db: &std::path::Path) -> Option<(i64, i64, i64, String)> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    Connection::open_with_flags(db, flags)
        .ok()?
        .query_row(
            "SELECT j.from_time, j.next_start_time, j.rows_written, j.state FROM backfill_jobs j
         JOIN symbols s ON s.id = j.symbol_id
         WHERE s.market = 'usdm' AND s.symbol = 'BTCUSDT' AND j.interval = '1m'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .ok()
}

/// A `startTime` of a 200 request to `path` in the log.
fn start_times(log: &[exchange_sim::RequestRecord], path: &str) -> Vec<i64> {
    log.iter()
        .filter(|r| r.path == path && r.status == 200)
        .filter_map(|r| {
            r.query
                .split('&')
                .find_map(|p| p.strip_prefix("startTime="))
                .and_then(|v| v.parse().ok())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_futures_backfill_killed_with_sigkill_resumes_without_hole_or_refetch() {
    let sim = sim().await;
    // Slow USD-M answers, so that the kill lands in the middle of its backfill.
    sim.usdm().set_latency(Duration::from_millis(400));
    let dir = tempdir();
    let db = dir.path().join("data/tradebeat.db");
    let mut child = futures_child(dir.path(), &sim);
    wait_until(
        "a committed USD-M klines page",
        Duration::from_secs(60),
        || usdm_job(&db).is_some_and(|(_, _, rows, _)| rows > 0),
    )
    .await;
    child.kill().unwrap(); // SIGKILL: no shutdown path runs
    exit_of(child, Duration::from_secs(5)).await;

    let (from, next, rows, state) = usdm_job(&db).expect("the job");
    assert_ne!(state, "done", "killed mid-backfill");
    let oi = "t.period = '5m'";
    let oi_at_kill = query_i64(
        &db,
        "SELECT COALESCE(MAX(time), 0) FROM open_interest WHERE period = '5m'",
    );
    {
        // What was committed is whole: the job's rows are exactly its pages so far.
        let stored = query_i64(
            &db,
            &format!(
                "SELECT COUNT(*) FROM klines k JOIN symbols s ON s.id = k.symbol_id
                 WHERE s.market = 'usdm' AND k.interval = '1m'
                   AND k.open_time >= {from} AND k.open_time < {next}"
            ),
        );
        assert_eq!(stored, (next - from) / 60_000);
        assert_eq!(stored, rows);
    }

    sim.usdm().clear_request_log();
    sim.usdm().set_latency(Duration::from_millis(10));
    let child = futures_child(dir.path(), &sim);
    wait_until(
        "the USD-M backfill and its history done after the restart",
        Duration::from_secs(60),
        || {
            usdm_job(&db).is_some_and(|j| j.3 == "done")
                && rows_of(&db, "open_interest", Market::UsdM, "BTCUSDT", oi) >= 7 * 288 - 2
                && rows_of(&db, "funding_rates", Market::UsdM, "BTCUSDT", "1") > 0
        },
    )
    .await;
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(exit_of(child, Duration::from_secs(10)).await.success());

    // Nothing committed before the kill was asked for again: klines resume at the job's
    // stored next start, open interest after the newest stored reading.
    let log = sim.usdm().request_log();
    let klines = start_times(&log, "/fapi/v1/klines");
    assert!(
        klines.iter().all(|&t| t >= next),
        "refetched: {klines:?} < {next}"
    );
    let hist = start_times(&log, "/futures/data/openInterestHist");
    assert!(!hist.is_empty());
    assert!(hist.iter().all(|&t| t > oi_at_kill), "refetched: {hist:?}");
    let conn = read_db(&db);
    assert_klines_complete(&conn, sim.usdm(), Market::UsdM, "BTCUSDT", Interval::M1);
    // Open interest every 5 minutes without a hole, equal to the simulator's.
    let mut stmt = conn
        .prepare(
            "SELECT o.time, o.open_interest FROM open_interest o JOIN symbols s ON s.id = o.symbol_id
             WHERE s.market = 'usdm' AND o.period = '5m' ORDER BY o.time",
        )
        .unwrap();
    let readings: Vec<(i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for pair in readings.windows(2) {
        assert_eq!(pair[1].0 - pair[0].0, 300_000, "no hole");
    }
    for (t, v) in &readings {
        let served = sim.usdm().open_interest("BTCUSDT", *t).expect("served");
        assert_eq!(dec(v), dec(&served.open_interest), "at {t}");
    }
    let stored = funding(&conn, Market::UsdM, "BTCUSDT");
    let served: Vec<(i64, Decimal, Option<Decimal>)> = sim
        .usdm()
        .funding_rates("BTCUSDT", stored[0].0, stored[stored.len() - 1].0)
        .iter()
        .map(|f| {
            (
                f.funding_time,
                dec(&f.funding_rate),
                Some(dec(&f.mark_price)),
            )
        })
        .collect();
    assert_eq!(stored, served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_history_series_waits_its_backoff_and_status_says_why() {
    let sim = sim().await;
    // Every funding-rate answer is malformed from the start.
    sim.usdm().set_malformed("/fapi/v1/fundingRate", true);
    let dir = tempdir();
    let config = futures_config(&sim, dir.path(), &["BTCUSDT"], &[]);
    let db = config.storage.database.clone();
    let socket = config.control.socket.clone();
    // A long first backoff (10 s, equal jitter: 5 to 10 s) against beats every 2 s.
    let options = BackfillOptions {
        retry_base: Duration::from_secs(10),
        retry_cap: Duration::from_secs(60),
        ..fast()
    };
    let (daemon, _handles) = InProcess::start_with(config, options).await;
    let funding_requests = || {
        sim.usdm()
            .request_log()
            .iter()
            .filter(|r| r.path == "/fapi/v1/fundingRate")
            .count()
    };
    wait_until("a funding-rate request", Duration::from_secs(20), || {
        funding_requests() >= 1
    })
    .await;
    let beats = query_i64(&db, "SELECT COUNT(*) FROM heartbeats");
    wait_until("two more beats", Duration::from_secs(20), || {
        query_i64(&db, "SELECT COUNT(*) FROM heartbeats") >= beats + 2
    })
    .await;
    // A pass runs after every beat, but the failed series waits its backoff.
    assert_eq!(
        funding_requests(),
        1,
        "asked again before its backoff ended"
    );
    let mut c = tradebeat::control::Client::connect(&socket).await.unwrap();
    let status = c.call::<Status>(&NoParams {}).await.unwrap();
    let usdm = status
        .futures
        .iter()
        .find(|m| m.market == Market::UsdM)
        .unwrap();
    let funding = usdm
        .history
        .iter()
        .find(|h| h.series == "funding")
        .expect("the funding series");
    let error = funding.last_error.as_deref().expect("its failure");
    assert!(error.contains("fundingRate"), "{error}");
    let retry_at = funding.retry_at.expect("its retry time");
    assert!(
        retry_at > status.now && retry_at <= status.now + 10_000,
        "{retry_at} vs {}",
        status.now
    );
    // The other series is not held back by it.
    let oi = usdm
        .history
        .iter()
        .find(|h| h.series == "open_interest_5m")
        .unwrap();
    assert_eq!(oi.last_error, None);
    assert!(oi.rows > 0, "{oi:?}");
    daemon.stop().await;
}
