//! History backfill and gap repair end to end, against the exchange simulator: complete
//! windows identical to the recorded data, resume after a real `kill -9`, holes repaired
//! within one beat of start, no 429 under a lowered weight limit while beats stay on time,
//! exchange gaps recorded instead of retried forever, failing pages retried, the handle
//! the control socket uses, and the idle line logged only once there are jobs and all of
//! them are done.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use exchange_sim::{RequestRecord, SimHandle};
use rusqlite::Connection;
use tradebeat::backfill::{BackfillError, BackfillOptions};
use tradebeat::domain::{BackfillJob, GapReason, GapStatus, JobStatus};
use tradebeat::domain::{DAY_MS, Interval, Kline, MINUTE_MS, Market, SymbolInfo, SymbolStatus};
use tradebeat::store::Store;

/// Backfill knobs with short waits, so that retries and gap schedules fit in a test.
fn fast() -> BackfillOptions {
    BackfillOptions {
        gap_retry_delays: vec![Duration::from_millis(300), Duration::from_millis(300)],
        retry_base: Duration::from_millis(50),
        retry_cap: Duration::from_millis(500),
        progress_log_every: Duration::from_millis(200),
        ..BackfillOptions::default()
    }
}

/// `backfill_jobs` rows as the test reads them.
#[derive(Debug, Clone)]
struct Job {
    symbol: String,
    interval: Interval,
    from: i64,
    to: i64,
    next: i64,
    state: String,
    rows: i64,
    last_error: Option<String>,
    started_at: i64,
    updated_at: i64,
}

fn jobs(db: &std::path::Path) -> Vec<Job> {
    if !db.exists() {
        return Vec::new();
    }
    let conn = read_db(db);
    let Ok(mut stmt) = conn.prepare(
        "SELECT s.symbol, j.interval, j.from_time, j.to_time, j.next_start_time, j.state,
                j.rows_written, j.last_error, j.started_at, j.updated_at
         FROM backfill_jobs j JOIN symbols s ON s.id = j.symbol_id ORDER BY s.symbol, j.interval",
    ) else {
        return Vec::new();
    };
    stmt.query_map([], |r| {
        Ok(Job {
            symbol: r.get(0)?,
            interval: r.get::<_, String>(1)?.parse().unwrap(),
            from: r.get(2)?,
            to: r.get(3)?,
            next: r.get(4)?,
            state: r.get(5)?,
            rows: r.get(6)?,
            last_error: r.get(7)?,
            started_at: r.get(8)?,
            updated_at: r.get(9)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn jobs_done(db: &std::path::Path) -> usize {
    jobs(db).iter().filter(|j| j.state == "done").count()
}

/// Asserts that the stored `symbol` × `interval` has every candle of `from..=to`, equal to
/// the simulator's.
fn assert_complete(
    conn: &Connection,
    sim: &SimHandle,
    symbol: &str,
    interval: Interval,
    from: i64,
    to: i64,
) {
    let stored: Vec<Row> = stored_klines(conn, symbol, interval.as_str())
        .into_iter()
        .filter(|r| r.0 >= from && r.0 <= to)
        .collect();
    let expected = interval.candle_count(from, to);
    assert_eq!(
        stored.len() as i64,
        expected,
        "{symbol} {interval}: every candle of the window, once"
    );
    for (i, row) in stored.iter().enumerate() {
        assert_eq!(
            row.0,
            interval.add_candles(from, i as i64),
            "{symbol} {interval}: no hole"
        );
        assert_eq!(
            *row,
            sim_row(sim, symbol, interval.as_str(), row.0),
            "{symbol} {interval} at {}",
            row.0
        );
    }
}

/// A klines request of the simulator's log: (symbol, interval, startTime, endTime).
fn klines_request(r: &RequestRecord) -> Option<(String, String, i64, i64)> {
    if r.path != "/api/v3/klines" || r.status != 200 {
        return None;
    }
    let mut q: BTreeMap<&str, &str> = BTreeMap::new();
    for pair in r.query.split('&') {
        let (k, v) = pair.split_once('=')?;
        q.insert(k, v);
    }
    Some((
        q.get("symbol")?.to_string(),
        q.get("interval")?.to_string(),
        q.get("startTime")?.parse().ok()?,
        q.get("endTime")
            .and_then(|v| v.parse().ok())
            .unwrap_or(i64::MAX),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_stores_every_closed_candle_of_the_window_identical_to_the_exchange() {
    let sim = sim().await;
    let dir = tempdir();
    let mut config = config(
        &sim.base_url(),
        dir.path(),
        &["BTCUSDT", "ETHUSDT"],
        &["1m", "15m", "1h"],
    );
    config.market_data.backfill_days = 2;
    let db = config.storage.database.clone();
    let (daemon, handles) = InProcess::start_with(config, fast()).await;
    wait_until("six jobs done", Duration::from_secs(60), || {
        jobs_done(&db) == 6
    })
    .await;
    let states = handles.backfill.jobs(None).await.unwrap();
    daemon.stop().await;

    assert_eq!(states.len(), 6);
    let conn = read_db(&db);
    for job in jobs(&db) {
        let state = states
            .iter()
            .find(|s| s.job.symbol.as_str() == job.symbol && s.job.interval == job.interval)
            .unwrap();
        assert_eq!((state.job.status, state.percent), (JobStatus::Done, 100.0));
        assert_eq!(state.job.to_ms, job.to);
        let interval = job.interval;
        // The window: candles opening within the two days before the job was created, up
        // to the newest closed candle when it finished (the beats own the later ones).
        let wanted_from = job.started_at - 2 * DAY_MS;
        assert!(
            job.from >= wanted_from - 1_000
                && job.from <= interval.add_candles(wanted_from + 1_000, 1),
            "{} {interval}: from {} for a start at {}",
            job.symbol,
            job.from,
            job.started_at
        );
        let newest_closed = (
            interval.last_closed_open_time(job.started_at - 1_000),
            interval.last_closed_open_time(job.updated_at + 1_000),
        );
        assert!(
            job.to >= newest_closed.0 && job.to <= newest_closed.1,
            "{} {interval}: to {} for newest closed {newest_closed:?}",
            job.symbol,
            job.to
        );
        // The beats may have stored the newest candles first: the job skips them.
        assert!(
            job.rows <= interval.candle_count(job.from, job.to),
            "nothing written twice"
        );
        assert_complete(&conn, &sim, &job.symbol, interval, job.from, job.to);
        // Backfill and beats meet without a hole, and nothing older than the window.
        let all = stored_klines(&conn, &job.symbol, interval.as_str());
        assert_eq!(all[0].0, job.from);
        for pair in all.windows(2) {
            assert_eq!(
                pair[1].0,
                interval.add_candles(pair[0].0, 1),
                "{} {interval}",
                job.symbol
            );
        }
    }
    let gaps: i64 = conn
        .query_row("SELECT COUNT(*) FROM gaps", [], |r| r.get(0))
        .unwrap();
    assert_eq!(gaps, 0, "the simulator has every candle");
}

fn tradebeat_child(dir: &std::path::Path, sim_url: &str) -> Child {
    let mut cmd = tradebeat_command(dir);
    cmd.arg("run")
        .env("TRADEBEAT_EXCHANGE__REST_URL", sim_url)
        .env("TRADEBEAT_EXCHANGE__REQUEST_TIMEOUT_MS", "3000")
        .env("TRADEBEAT_HEARTBEAT__PERIOD_SECS", "2")
        .env("TRADEBEAT_HEARTBEAT__OFFSET_SECS", "1")
        .env("TRADEBEAT_MARKET_DATA__SYMBOLS", r#"["BTCUSDT","ETHUSDT"]"#)
        .env("TRADEBEAT_MARKET_DATA__INTERVALS", r#"["1m"]"#)
        .env("TRADEBEAT_MARKET_DATA__BACKFILL_DAYS", "7")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tradebeat starts")
}

async fn wait_exit(mut child: Child, timeout: Duration) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("tradebeat did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_backfill_resumes_without_gap_or_duplicate() {
    let sim = sim().await;
    // Slow answers, so that the kill lands in the middle of the backfill.
    sim.set_latency(Duration::from_millis(300));
    let dir = tempdir();
    let db = dir.path().join("data/tradebeat.db");
    let mut child = tradebeat_child(dir.path(), &sim.base_url());
    wait_until("a committed backfill page", Duration::from_secs(60), || {
        jobs(&db).iter().any(|j| j.rows > 0)
    })
    .await;
    child.kill().unwrap(); // SIGKILL: no shutdown path runs
    wait_exit(child, Duration::from_secs(5)).await;

    let at_kill = jobs(&db);
    assert_eq!(at_kill.len(), 2);
    assert!(
        at_kill.iter().any(|j| j.state != "done"),
        "killed mid-backfill: {at_kill:?}"
    );
    {
        // What was committed is whole: each job's rows are exactly its pages so far.
        let conn = read_db(&db);
        for j in &at_kill {
            let stored: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM klines k JOIN symbols s ON s.id = k.symbol_id
                     WHERE s.symbol = ?1 AND k.interval = '1m' AND k.open_time >= ?2
                       AND k.open_time < ?3",
                    rusqlite::params![j.symbol, j.from, j.next],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(stored, (j.next - j.from) / MINUTE_MS, "{j:?}");
            assert_eq!(stored, j.rows, "{j:?}");
        }
    }

    sim.clear_request_log();
    sim.set_latency(Duration::from_millis(20));
    let child = tradebeat_child(dir.path(), &sim.base_url());
    wait_until(
        "both jobs done after the restart",
        Duration::from_secs(60),
        || jobs_done(&db) == 2,
    )
    .await;
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(wait_exit(child, Duration::from_secs(10)).await.success());

    // Nothing committed before the kill was asked for again.
    for j in &at_kill {
        let refetched: Vec<_> = sim
            .request_log()
            .iter()
            .filter_map(klines_request)
            .filter(|(s, i, start, _)| s == &j.symbol && i == "1m" && *start < j.next)
            .collect();
        assert!(refetched.is_empty(), "{}: {refetched:?}", j.symbol);
    }
    let conn = read_db(&db);
    for j in jobs(&db) {
        assert_eq!(
            j.from,
            at_kill.iter().find(|k| k.symbol == j.symbol).unwrap().from
        );
        assert_complete(&conn, &sim, &j.symbol, Interval::M1, j.from, j.to);
        // And on to the beats' candles without a hole.
        let all = stored_klines(&conn, &j.symbol, "1m");
        for pair in all.windows(2) {
            assert_eq!(pair[1].0 - pair[0].0, MINUTE_MS, "{}", j.symbol);
        }
    }
    let duplicates: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM (SELECT symbol_id, interval, open_time FROM klines
             GROUP BY 1, 2, 3 HAVING COUNT(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(duplicates, 0);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");

    // logs/backfill.log tells how far it got, one RFC 3339-stamped line per event.
    let log = std::fs::read_to_string(dir.path().join("logs/backfill.log")).unwrap();
    for event in ["backfill job started", "backfill job done"] {
        assert!(log.contains(event), "backfill.log has {event:?}:\n{log}");
    }
    for line in log.lines() {
        let stamp = line.split(' ').next().unwrap();
        assert!(
            time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{line}"
        );
        assert!(line.contains("backfill"), "{line}");
    }
}

/// Registers `symbol` in the database at `db` and stores the simulator's 1m candles of
/// `from..=to` except `hole`, with a completed backfill job over `from..=to`: the state a
/// daemon leaves when it stopped at `to` and some candles went missing.
fn seed_history(
    db: &std::path::Path,
    sim: &SimHandle,
    symbol: &str,
    from: i64,
    to: i64,
    hole: (i64, i64),
) -> i64 {
    let store = Store::open(db).unwrap();
    let info = SymbolInfo {
        symbol: symbol.parse().unwrap(),
        status: SymbolStatus::Trading,
        base_asset: symbol[..3].to_string(),
        quote_asset: symbol[3..].to_string(),
        filters: Default::default(),
    };
    let row = store
        .upsert_symbol(Market::Spot, &info, None, None, 0)
        .unwrap();
    let klines: Vec<Kline> = sim
        .klines(symbol, "1m", from, to)
        .iter()
        .filter(|k| k.open_time < hole.0 || k.open_time > hole.1)
        .map(to_kline)
        .collect();
    store.upsert_klines(row.id, Interval::M1, &klines).unwrap();
    store
        .put_backfill_job(&BackfillJob {
            symbol_id: row.id,
            symbol: info.symbol,
            interval: Interval::M1,
            from_ms: from,
            to_ms: to,
            next_start_ms: to + MINUTE_MS,
            status: JobStatus::Done,
            rows_written: klines.len() as u64,
            last_error: None,
            started_at: 0,
            updated_at: 0,
        })
        .unwrap();
    row.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holes_in_stored_history_are_repaired_within_one_beat_of_start() {
    let sim = sim().await;
    let dir = tempdir();
    let mut config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m"]);
    config.market_data.backfill_days = 2;
    let db = config.storage.database.clone();

    // History of the last two days, but the daemon stopped 25 hours ago (more than one
    // beat's page behind) and 40 candles in the middle went missing.
    let newest_closed = Interval::M1.last_closed_open_time(sim.now_ms());
    let from = newest_closed - 2 * DAY_MS;
    let stopped = newest_closed - 1500 * MINUTE_MS;
    let hole = (from + 600 * MINUTE_MS, from + 639 * MINUTE_MS);
    seed_history(&db, &sim, "BTCUSDT", from, stopped, hole);

    let daemon = InProcess::start(config);
    let mut beats_when_complete = None;
    wait_until("history complete", Duration::from_secs(30), || {
        let complete = {
            let conn = read_db(&db);
            let newest: i64 = conn
                .query_row("SELECT MAX(open_time) FROM klines", [], |r| r.get(0))
                .unwrap_or(0);
            let count: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM klines WHERE open_time >= ?1",
                    [from],
                    |r| r.get(0),
                )
                .unwrap();
            newest > stopped && count == (newest - from) / MINUTE_MS + 1
        };
        if complete {
            beats_when_complete = Some(heartbeat_count(&db));
        }
        complete
    })
    .await;
    daemon.stop().await;
    let beats = beats_when_complete.unwrap();
    assert!(
        beats <= 2,
        "repaired by the end of the first beat after start ({beats} beats ran)"
    );

    let conn = read_db(&db);
    let newest: i64 = conn
        .query_row("SELECT MAX(open_time) FROM klines", [], |r| r.get(0))
        .unwrap();
    assert_complete(&conn, &sim, "BTCUSDT", Interval::M1, from, newest);
    // Only the holes were asked for (the 40 candles, the 500 the beat did not fetch), in
    // one or two requests; a request may span stored candles between two holes.
    let repairs: Vec<_> = sim
        .request_log()
        .iter()
        .filter_map(klines_request)
        .filter(|(_, _, start, _)| *start <= stopped + MINUTE_MS)
        .collect();
    assert!(!repairs.is_empty());
    for (_, _, start, end) in &repairs {
        let hits_hole = *start <= hole.1 && *end >= hole.0;
        let hits_tail = *end > stopped;
        assert!(
            hits_hole || hits_tail,
            "a stored range was fetched again: {start}..{end}"
        );
    }
    assert!(repairs.len() <= 2, "{repairs:?}");
    let gaps: i64 = conn
        .query_row("SELECT COUNT(*) FROM gaps", [], |r| r.get(0))
        .unwrap();
    assert_eq!(gaps, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_weight_limit_earns_no_429_and_beats_stay_on_time() {
    let sim = sim().await;
    // 300 per minute: background work may use 180 (60 %) minus what the beats used; the
    // backfill below needs about 90 klines requests (180), so it must wait for a later
    // window.
    sim.set_weight_limit(300);
    // Start 45 s into the exchange's minute, so that the next weight window is near.
    let phase = sim.now_ms().rem_euclid(MINUTE_MS);
    sim.set_clock_skew_ms((45_000 - phase).rem_euclid(MINUTE_MS));
    let dir = tempdir();
    let symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
    let mut config = config(&sim.base_url(), dir.path(), &symbols, &["1m", "15m"]);
    config.market_data.backfill_days = 20;
    config.heartbeat.period_secs = 5;
    let db = config.storage.database.clone();
    let (daemon, _handles) = InProcess::start_with(config, fast()).await;
    wait_until("six jobs done", Duration::from_secs(150), || {
        jobs_done(&db) == 6
    })
    .await;
    // One more beat after the backfill, to see that beats are still fine.
    let beats = heartbeat_count(&db);
    wait_until("one more beat", Duration::from_secs(10), || {
        heartbeat_count(&db) > beats
    })
    .await;
    daemon.stop().await;

    assert_eq!(sim.count_status(429), 0, "no 429");
    assert_eq!(sim.count_status(418), 0, "no 418");
    // The exchange saw at most its limit in every minute, over more than one minute.
    let mut per_window: BTreeMap<i64, u32> = BTreeMap::new();
    for r in sim.request_log() {
        *per_window.entry(r.at_ms.div_euclid(MINUTE_MS)).or_default() += r.weight;
    }
    assert!(per_window.values().all(|&w| w <= 300), "{per_window:?}");
    let backfill_windows: std::collections::BTreeSet<i64> = sim
        .request_log()
        .iter()
        .filter(|r| klines_request(r).is_some_and(|(_, i, _, _)| i == "1m"))
        .map(|r| r.at_ms.div_euclid(MINUTE_MS))
        .collect();
    assert!(
        backfill_windows.len() >= 2,
        "the backfill was held back to a later window: {backfill_windows:?}"
    );

    let conn = read_db(&db);
    for job in jobs(&db) {
        assert_complete(&conn, &sim, &job.symbol, job.interval, job.from, job.to);
    }
    let beats: Vec<(i64, i64, i64, i64, Option<String>)> = conn
        .prepare(
            "SELECT beat_time, started_at, finished_at, skipped_before, error FROM heartbeats
             WHERE trigger = 'schedule' ORDER BY beat_time",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(beats.len() >= 3, "{} beats", beats.len());
    for (beat_time, started, finished, skipped, error) in beats {
        assert!(
            started - beat_time < 1_000,
            "beat {beat_time} started {} ms late",
            started - beat_time
        );
        assert!(
            finished - started < 2_000,
            "beat {beat_time} took {} ms",
            finished - started
        );
        assert_eq!((skipped, error), (0, None), "beat {beat_time}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_gap_ends_in_the_gaps_table_not_in_an_endless_loop() {
    let sim = sim().await;
    // The market was halted for two hours, ten hours ago.
    let hour = 60 * MINUTE_MS;
    let halt_start = Interval::H1.open_time_containing(sim.now_ms()) - 10 * hour;
    let halt_end = halt_start + 2 * hour - MINUTE_MS; // open time of the last halted minute
    sim.add_gap("BTCUSDT", halt_start, halt_end);
    let dir = tempdir();
    let mut config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m", "1h"]);
    config.market_data.backfill_days = 1;
    let db = config.storage.database.clone();
    let (daemon, handles) = InProcess::start_with(config, fast()).await;

    let permanent = |db: &std::path::Path| -> i64 {
        read_db(db)
            .query_row(
                "SELECT COUNT(*) FROM gaps WHERE state = 'permanent'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0)
    };
    wait_until("both gaps permanent", Duration::from_secs(30), || {
        permanent(&db) == 2
    })
    .await;
    let asked = |sim: &SimHandle, interval: &str| -> (usize, usize) {
        let requests: Vec<_> = sim
            .request_log()
            .iter()
            .filter_map(klines_request)
            .filter(|(_, i, start, end)| i == interval && *start <= halt_end && *end >= halt_start)
            .collect();
        let retries = requests
            .iter()
            .filter(|(_, _, start, _)| *start == halt_start)
            .count();
        (requests.len(), retries)
    };
    let before = (asked(&sim, "1m"), asked(&sim, "1h"));
    // Several more beats (and gap checks) later, nobody asked again.
    let beats = heartbeat_count(&db);
    wait_until("three more beats", Duration::from_secs(15), || {
        heartbeat_count(&db) >= beats + 3
    })
    .await;
    let gaps = handles.backfill.open_gaps(None).await.unwrap();
    daemon.stop().await;
    assert_eq!(
        before,
        (asked(&sim, "1m"), asked(&sim, "1h")),
        "no request after permanent"
    );
    for (interval, (requests, retries)) in [("1m", before.0), ("1h", before.1)] {
        // The job's page, then the two retries of the schedule: three attempts in all.
        assert_eq!(retries, 2, "{interval}");
        assert!(
            requests <= 4,
            "{interval}: {requests} requests for the halted range"
        );
    }

    assert_eq!(gaps.len(), 2);
    for g in &gaps {
        assert_eq!(g.symbol.as_str(), "BTCUSDT");
        assert_eq!(
            (g.status, g.reason, g.attempts),
            (GapStatus::Permanent, GapReason::NoCandles, 3)
        );
        assert_eq!(
            (g.start_ms, g.end_ms),
            match g.interval {
                Interval::M1 => (halt_start, halt_end),
                _ => (halt_start, halt_start + hour),
            }
        );
        assert!(
            g.next_check_ms - g.first_seen_ms >= DAY_MS - 60_000,
            "re-checked daily"
        );
    }
    // Nothing invented: no candle inside the halt, and the job completed around it.
    let conn = read_db(&db);
    for interval in ["1m", "1h"] {
        let inside = stored_klines(&conn, "BTCUSDT", interval)
            .iter()
            .filter(|r| r.0 >= halt_start && r.0 <= halt_end)
            .count();
        assert_eq!(inside, 0, "{interval}");
    }
    assert_eq!(jobs_done(&db), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_page_is_retried_and_the_job_carries_on() {
    let sim = sim().await;
    sim.set_malformed("/api/v3/klines", true);
    let dir = tempdir();
    let mut config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m", "1h"]);
    config.market_data.backfill_days = 1;
    let db = config.storage.database.clone();
    let daemon = InProcess::start_with(config, fast()).await.0;
    wait_until("a page failure recorded", Duration::from_secs(30), || {
        jobs(&db).iter().any(|j| {
            j.last_error
                .as_deref()
                .is_some_and(|e| e.contains("unexpected response"))
        })
    })
    .await;
    assert!(
        jobs(&db)
            .iter()
            .all(|j| j.state == "running" || j.state == "pending")
    );
    sim.set_malformed("/api/v3/klines", false);
    wait_until("both jobs done", Duration::from_secs(30), || {
        jobs_done(&db) == 2
    })
    .await;
    daemon.stop().await;
    let conn = read_db(&db);
    for j in jobs(&db) {
        assert_eq!(j.last_error, None, "cleared by the next good page");
        assert_complete(&conn, &sim, &j.symbol, j.interval, j.from, j.to);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handle_starts_extends_and_stops_jobs() {
    let sim = sim().await;
    let dir = tempdir();
    let mut config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1h"]);
    config.market_data.backfill_days = 1;
    let db = config.storage.database.clone();
    let (daemon, handles) = InProcess::start_with(config, fast()).await;
    wait_until("the job done", Duration::from_secs(30), || {
        jobs_done(&db) == 1
    })
    .await;
    let backfill = handles.backfill;
    let first = backfill.jobs(None).await.unwrap().remove(0).job;
    let id = first.symbol_id;

    // Asked again for the same range: done, nothing refetched.
    let same = backfill.start(id, None, None).await.unwrap();
    assert_eq!(same.len(), 1);
    assert_eq!(
        (same[0].job.status, same[0].job.from_ms),
        (JobStatus::Done, first.from_ms)
    );

    // Three days back: a new run that fetches only the two older days.
    sim.clear_request_log();
    let three_days = sim.now_ms() - 3 * DAY_MS;
    let started = backfill
        .start(id, Some(Interval::H1), Some(three_days))
        .await
        .unwrap();
    assert_eq!(started[0].job.status, JobStatus::Pending);
    assert_eq!(
        started[0].job.from_ms,
        tradebeat::backfill::plan::align_up(Interval::H1, three_days)
    );
    wait_until("the longer job done", Duration::from_secs(30), || {
        jobs_done(&db) == 1
    })
    .await;
    let done = backfill.jobs(Some(id)).await.unwrap().remove(0).job;
    assert_eq!(done.status, JobStatus::Done);
    // (The 1m request with limit=1 asks for the first candle since the start.)
    for (_, _, start, end) in sim
        .request_log()
        .iter()
        .filter_map(klines_request)
        .filter(|(_, i, _, _)| i == "1h")
    {
        assert!(
            start > first.to_ms || end < first.from_ms,
            "stored hours were fetched again: {start}..{end}"
        );
    }
    {
        let conn = read_db(&db);
        assert_complete(
            &conn,
            &sim,
            "BTCUSDT",
            Interval::H1,
            done.from_ms,
            done.to_ms,
        );
    }

    // Bad requests are clear errors.
    assert!(matches!(
        backfill.start(id, Some(Interval::M1), None).await,
        Err(BackfillError::UnknownInterval { .. })
    ));
    assert!(matches!(
        backfill.start(id + 100, None, None).await,
        Err(BackfillError::UnknownSymbol(_))
    ));
    assert!(matches!(
        backfill.start(id, None, Some(sim.now_ms() + DAY_MS)).await,
        Err(BackfillError::InvalidFrom(_))
    ));

    // The symbol is removed (the control socket deactivates it, then stops its jobs).
    {
        let conn = Connection::open(&db).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.execute("UPDATE symbols SET active = 0 WHERE id = ?1", [id])
            .unwrap();
    }
    backfill.stop(id).await.unwrap();
    assert_eq!(
        backfill.jobs(Some(id)).await.unwrap()[0].job.status,
        JobStatus::Stopped
    );
    daemon.stop().await;
    assert!(matches!(
        backfill.start(id, None, None).await,
        Err(BackfillError::NotRunning)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_old_candles_and_backfill_never_fetches_them() {
    let sim = sim().await;
    let dir = tempdir();
    let mut config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1m", "1h"]);
    config.market_data.backfill_days = 3;
    config.market_data.retention_days = BTreeMap::from([(Interval::M1, 1)]);
    let db = config.storage.database.clone();

    // 1m candles from two days ago, which a 1-day retention deletes.
    let now = sim.now_ms();
    let old_from = Interval::M1.open_time_containing(now - 2 * DAY_MS);
    let old_to = old_from + 99 * MINUTE_MS;
    seed_history(&db, &sim, "BTCUSDT", old_from, old_to, (0, -1));
    // The seeded job is for that old range: start over as a new symbol would.
    {
        let conn = Connection::open(&db).unwrap();
        conn.execute("DELETE FROM backfill_jobs", []).unwrap();
    }

    let daemon = InProcess::start_with(config, fast()).await.0;
    wait_until("both jobs done", Duration::from_secs(30), || {
        jobs_done(&db) == 2
    })
    .await;
    let pruned = |db: &std::path::Path| -> i64 {
        read_db(db)
            .query_row(
                "SELECT COUNT(*) FROM klines WHERE interval = '1m' AND open_time <= ?1",
                [old_to],
                |r| r.get(0),
            )
            .unwrap()
    };
    wait_until("the old candles pruned", Duration::from_secs(10), || {
        pruned(&db) == 0
    })
    .await;
    daemon.stop().await;

    let by_interval: BTreeMap<Interval, Job> =
        jobs(&db).into_iter().map(|j| (j.interval, j)).collect();
    let m1 = &by_interval[&Interval::M1];
    let h1 = &by_interval[&Interval::H1];
    // 1m keeps one day, so its backfill starts one day back; 1h keeps everything: three.
    let day_before = |j: &Job, days: i64| j.started_at - days * DAY_MS;
    assert!(
        (m1.from - day_before(m1, 1)).abs() < 2 * MINUTE_MS,
        "{m1:?}"
    );
    assert!(
        (h1.from - day_before(h1, 3)).abs() < 60 * MINUTE_MS + 1_000,
        "{h1:?}"
    );
    for (_, interval, start, _) in sim.request_log().iter().filter_map(klines_request) {
        if interval == "1m" {
            assert!(
                start >= m1.from,
                "1m asked for {start}, before what is kept"
            );
        }
    }
    let conn = read_db(&db);
    assert_complete(&conn, &sim, "BTCUSDT", Interval::M1, m1.from, m1.to);
    assert_complete(&conn, &sim, "BTCUSDT", Interval::H1, h1.from, h1.to);
}

/// A `tradebeat run` child that is killed if the test ends (or panics) before stopping it.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    /// Stops the daemon with SIGTERM and asserts it exits cleanly.
    async fn stop(&mut self) {
        let Some(child) = self.0.take() else {
            return;
        };
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        assert!(wait_exit(child, Duration::from_secs(10)).await.success());
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `tradebeat ctl --socket <socket> <args>` in `dir` on the blocking pool and returns
/// its output.
async fn ctl(dir: &std::path::Path, socket: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = tradebeat_command(dir);
    cmd.arg("ctl").arg("--socket").arg(socket).args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run tradebeat ctl"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_line_waits_for_jobs_and_follows_their_completion() {
    let sim = sim().await;
    let dir = tempdir();
    let db = dir.path().join("data/tradebeat.db");
    let socket = dir.path().join("data/control.sock");
    // A fresh database and no symbol in the config: the backfill starts with no job.
    let child = tradebeat_command(dir.path())
        .arg("run")
        .env("TRADEBEAT_EXCHANGE__REST_URL", sim.base_url())
        .env(
            "TRADEBEAT_EXCHANGE__WS_API_URL",
            ws_api_url(&sim.base_url()),
        )
        .env("TRADEBEAT_HEARTBEAT__PERIOD_SECS", "1")
        .env("TRADEBEAT_HEARTBEAT__OFFSET_SECS", "0")
        .env("TRADEBEAT_MARKET_DATA__SYMBOLS", "[]")
        .env("TRADEBEAT_MARKET_DATA__INTERVALS", r#"["1m","1h"]"#)
        .env("TRADEBEAT_MARKET_DATA__BACKFILL_DAYS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tradebeat starts");
    let mut daemon = KillOnDrop(Some(child));
    // Several beats, each followed by a gap check, with nothing to backfill.
    wait_until("three beats", Duration::from_secs(30), || {
        heartbeat_count(&db) >= 3
    })
    .await;
    let log_path = dir.path().join("logs/backfill.log");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(!log.contains("backfill idle"), "idle without a job:\n{log}");

    // A symbol comes: its jobs run, and only then is the backfill idle.
    let out = ctl(
        dir.path(),
        &socket,
        &[
            "symbols",
            "add",
            "BTCUSDT",
            "--intervals",
            "1m,1h",
            "--wait",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("the idle line", Duration::from_secs(30), || {
        std::fs::read_to_string(&log_path).is_ok_and(|t| t.contains("backfill idle"))
    })
    .await;
    daemon.stop().await;

    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let idle: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("backfill idle"))
        .collect();
    let done: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("backfill job done"))
        .collect();
    assert_eq!(done.len(), 2, "{log}");
    assert_eq!(idle.len(), 1, "{log}");
    assert!(done.iter().all(|&d| d < idle[0]), "{log}");
}

/// The newest stored open time of `symbol` × `interval`.
fn newest_stored(db: &std::path::Path, symbol: &str, interval: &str) -> Option<i64> {
    stored_klines(&read_db(db), symbol, interval)
        .last()
        .map(|r| r.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symbol_added_between_beats_is_complete_to_the_last_closed_candle_once_its_jobs_are_done()
{
    let sim = sim().await;
    // The exchange's clock 5 s into a minute: the add and its one-day backfill are done
    // long before the next minute.
    let phase = sim.now_ms().rem_euclid(MINUTE_MS);
    sim.set_clock_skew_ms(sim.clock_skew_ms() + (5_000 - phase).rem_euclid(MINUTE_MS));
    let dir = tempdir();
    let mut config = config(&sim.base_url(), dir.path(), &[], &["1m"]);
    // One beat an hour, the next one half an hour away: after the start-up beat no beat
    // runs during the test, so whatever the new symbol has, its backfill stored.
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    config.heartbeat.period_secs = 3600;
    config.heartbeat.offset_secs = (now_secs + 1800) % 3600;
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();
    let daemon = InProcess::start(config);
    wait_until(
        "the socket and the start-up beat",
        Duration::from_secs(20),
        || socket.exists() && heartbeat_count(&db) >= 1,
    )
    .await;

    let before = sim.now_ms();
    let out = ctl(
        dir.path(),
        &socket,
        &[
            "symbols",
            "add",
            "ETHUSDT",
            "--intervals",
            "1m,15m",
            "--backfill-days",
            "1",
            "--wait",
        ],
    )
    .await;
    let after = sim.now_ms();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        heartbeat_count(&db),
        1,
        "no beat ran after the start-up beat"
    );
    daemon.stop().await;
    assert_eq!(
        Interval::M1.last_closed_open_time(before),
        Interval::M1.last_closed_open_time(after),
        "the add and its backfill took more than the rest of the minute"
    );

    let conn = read_db(&db);
    for interval in [Interval::M1, Interval::M15] {
        let last_closed = interval.last_closed_open_time(after);
        assert_eq!(
            newest_stored(&db, "ETHUSDT", interval.as_str()),
            Some(last_closed),
            "{interval}: the last closed candle when the wait returned"
        );
        let job = jobs(&db)
            .into_iter()
            .find(|j| j.symbol == "ETHUSDT" && j.interval == interval)
            .unwrap();
        assert_eq!((job.state.as_str(), job.to), ("done", last_closed));
        assert_complete(&conn, &sim, "ETHUSDT", interval, job.from, last_closed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_day_weekly_and_monthly_history_equals_what_the_exchange_serves() {
    let sim = sim().await;
    let dir = tempdir();
    let config = config(&sim.base_url(), dir.path(), &[], &["1m"]);
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();
    let daemon = InProcess::start(config);
    wait_until(
        "the socket and the start-up beat",
        Duration::from_secs(20),
        || socket.exists() && heartbeat_count(&db) >= 1,
    )
    .await;
    // 400 days: about 133 three-day, 57 weekly and 13 monthly candles.
    let before = sim.now_ms();
    let out = ctl(
        dir.path(),
        &socket,
        &[
            "symbols",
            "add",
            "BTCUSDT",
            "--intervals",
            "3d,1w,1M",
            "--backfill-days",
            "400",
            "--wait",
        ],
    )
    .await;
    let after = sim.now_ms();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    daemon.stop().await;

    let conn = read_db(&db);
    let day = |t: i64| time::OffsetDateTime::from_unix_timestamp(t / 1000).unwrap();
    for (interval, at_least) in [(Interval::D3, 130), (Interval::W1, 56), (Interval::Mo1, 13)] {
        let job = jobs(&db)
            .into_iter()
            .find(|j| j.symbol == "BTCUSDT" && j.interval == interval)
            .unwrap();
        assert_eq!(job.state, "done", "{interval}");
        // The window: 400 days back, to the last closed candle.
        let newest = (
            interval.last_closed_open_time(before),
            interval.last_closed_open_time(after),
        );
        assert!(job.to >= newest.0 && job.to <= newest.1, "{interval}");
        let wanted_from = job.started_at - 400 * DAY_MS;
        assert!(
            job.from >= wanted_from - 1_000
                && job.from <= interval.add_candles(wanted_from + 1_000, 1),
            "{interval}"
        );
        assert_complete(&conn, &sim, "BTCUSDT", interval, job.from, job.to);
        let rows = stored_klines(&conn, "BTCUSDT", interval.as_str());
        assert!(rows.len() >= at_least, "{interval}: {} candles", rows.len());
        for pair in rows.windows(2) {
            assert_eq!(pair[0].1, pair[1].0 - 1, "{interval}: close time");
        }
        for row in &rows {
            let open = day(row.0);
            assert_eq!(open.time(), time::Time::MIDNIGHT, "{interval}");
            match interval {
                Interval::D3 => assert_eq!((row.0 / DAY_MS) % 3, 1, "{interval} {open}"),
                Interval::W1 => assert_eq!(open.weekday(), time::Weekday::Monday),
                _ => {
                    assert_eq!(open.day(), 1, "{interval} {open}");
                    let next = day(row.1 + 1);
                    assert_eq!((next.day(), next.time()), (1, time::Time::MIDNIGHT));
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_from_1970_starts_at_the_first_candle() {
    let sim = sim().await;
    let dir = tempdir();
    let config = config(&sim.base_url(), dir.path(), &["BTCUSDT"], &["1h", "1w"]);
    let db = config.storage.database.clone();
    let (daemon, handles) = InProcess::start_with(config, fast()).await;
    wait_until("the jobs done", Duration::from_secs(30), || {
        jobs_done(&db) == 2
    })
    .await;
    let backfill = handles.backfill;
    let id = backfill.jobs(None).await.unwrap()[0].job.symbol_id;
    // `--from 1970-01-01`: the jobs start at the listing (2017-08-17 04:00 UTC, a
    // Thursday), on each interval's grid: the hour, and the week (from Monday) holding it.
    let started = backfill.start(id, None, Some(0)).await.unwrap();
    let from: BTreeMap<Interval, i64> = started
        .iter()
        .map(|j| (j.job.interval, j.job.from_ms))
        .collect();
    let listing = exchange_sim::LISTING_MS;
    assert_eq!(
        from,
        BTreeMap::from([
            (Interval::H1, listing),
            (Interval::W1, listing - 3 * DAY_MS - 4 * 3_600_000),
        ])
    );
    daemon.stop().await;
}
