//! The strategy runner's scheduling, in paper mode against the simulator: the concurrency
//! bound (`strategies.max_concurrent`) holds and every due strategy still runs;
//! `strategy.update` takes effect at the next run (its command, its timeout); `sync.now`
//! triggers no strategy run (only a scheduled beat does, once per closed candle); a USD-M
//! trade strategy's orders are placed on USD-M, never on spot.
//!
//! Beats are driven as in `tests/strategies.rs`: the simulator's clock is moved a minute
//! ahead, so that the next beat sees one more closed candle. No test waits on the wall
//! clock; each waits for rows, with a deadline.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use tradebeat::control::Client;
use tradebeat::control::protocol::{
    StrategyAdd, StrategyAddParams, StrategyRef, StrategyUpdate, StrategyUpdateParams, SyncNow,
    SyncNowParams, TradeStrategyAdd, TradeStrategyAddParams,
};

const MINUTE: i64 = 60_000;

/// Writes an executable script.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn paper_config(sim: &exchange_sim::SimHandle, dir: &Path) -> tradebeat::config::Config {
    let mut config = config(&sim.base_url(), dir, &["BTCUSDT"], &["1m"]);
    config.paper.enabled = true;
    config.paper.starting_balances = Some(BTreeMap::from([(
        "USDT".to_string(),
        tradebeat::config::PaperBalance::Amount("10000".to_string()),
    )]));
    config
}

/// Starts a paper daemon and connects once its first beat has committed.
async fn start(config: tradebeat::config::Config) -> (InProcess, Client, PathBuf) {
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();
    let daemon = InProcess::start(config);
    wait_until("the first beat", Duration::from_secs(15), || {
        heartbeat_count(&db) >= 1
    })
    .await;
    let client = Client::connect(&socket).await.expect("connects");
    (daemon, client, db)
}

/// Registers a strategy and attaches it to BTCUSDT 1m; the trade strategy's id.
async fn add(client: &mut Client, name: &str, command: String, timeout_ms: i64) -> i64 {
    let s = client
        .call::<StrategyAdd>(&StrategyAddParams {
            name: name.to_string(),
            slug: None,
            command,
            timeout_ms: Some(timeout_ms),
        })
        .await
        .expect("strategy added");
    client
        .call::<TradeStrategyAdd>(&TradeStrategyAddParams {
            strategy: StrategyRef::Slug(s.slug),
            symbol: "BTCUSDT".parse().unwrap(),
            market: None,
            interval: "1m".parse().unwrap(),
            params: None,
        })
        .await
        .expect("attached")
        .id
}

/// One `strategy_runs` row.
#[derive(Debug, Clone)]
struct Run {
    outcome: String,
    note: Option<String>,
    beat_time: i64,
    candle_open_time: i64,
}

/// A trade strategy's runs, oldest first.
fn runs(db: &Path, ts: i64) -> Vec<Run> {
    let c = read_db(db);
    let mut stmt = c
        .prepare(
            "SELECT outcome, note, beat_time, candle_open_time FROM strategy_runs
             WHERE trade_strategy_id = ?1 ORDER BY id",
        )
        .unwrap();
    stmt.query_map([ts], |r| {
        Ok(Run {
            outcome: r.get(0)?,
            note: r.get(1)?,
            beat_time: r.get(2)?,
            candle_open_time: r.get(3)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The newest stored BTCUSDT 1m candle's open time.
fn newest_candle(db: &Path) -> i64 {
    stored_klines(&read_db(db), "BTCUSDT", "1m")
        .last()
        .map(|k| k.0)
        .expect("candles stored")
}

/// The most intervals of `spans` (start, end) that overlap at one instant.
fn max_overlap(spans: &[(u128, u128)]) -> usize {
    // An end sorts before a start at the same instant: touching spans do not overlap.
    let mut events: Vec<(u128, i32)> = spans.iter().flat_map(|&(s, e)| [(s, 1), (e, -1)]).collect();
    events.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in events {
        now += step;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

#[test]
fn max_overlap_counts_what_runs_at_one_instant() {
    assert_eq!(max_overlap(&[]), 0);
    assert_eq!(max_overlap(&[(0, 10), (10, 20), (20, 30)]), 1);
    assert_eq!(max_overlap(&[(0, 10), (5, 20), (6, 7), (15, 30)]), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_concurrent_strategies_run_at_once_and_every_due_one_runs() {
    const N: usize = 6;
    const K: usize = 2;
    let sim = sim().await;
    let dir = tempdir();
    let d = dir.path();
    let mut config = paper_config(&sim, d);
    config.strategies.max_concurrent = K;
    let (daemon, mut client, db) = start(config).await;

    // Answers `{}` at once until `armed` exists; then notes its start and end (ns) around
    // a second of work.
    let armed = d.join("armed");
    let times = d.join("times");
    let worker = script(
        d,
        "worker.sh",
        "#!/bin/sh\nif [ -e \"$1\" ]; then\n\
         \x20 echo \"$2 start $(date +%s%N)\" >> \"$3\"\n\
         \x20 sleep 1\n\
         \x20 echo \"$2 end $(date +%s%N)\" >> \"$3\"\n\
         fi\necho '{}'\n",
    );
    let mut all = Vec::new();
    for i in 0..N {
        let name = format!("w{i}");
        let command = format!(
            "{} {} {name} {}",
            worker.display(),
            armed.display(),
            times.display()
        );
        all.push((name.clone(), add(&mut client, &name, command, 10_000).await));
    }
    wait_until(
        "a first run of every strategy",
        Duration::from_secs(20),
        || all.iter().all(|(_, ts)| !runs(&db, *ts).is_empty()),
    )
    .await;

    // One more candle closes: all N are due on the same beat, and each works a second.
    std::fs::write(&armed, b"").unwrap();
    sim.set_clock_skew_ms(MINUTE);
    let spans = |text: &str| -> HashMap<String, Vec<(u128, u128)>> {
        let mut open: HashMap<String, u128> = HashMap::new();
        let mut spans: HashMap<String, Vec<(u128, u128)>> = HashMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [slug, what, ns] = f[..] else {
                panic!("bad line {line:?}")
            };
            let ns: u128 = ns.parse().unwrap();
            match what {
                "start" => {
                    open.insert(slug.to_string(), ns);
                }
                _ => {
                    let start = open.remove(slug).expect("an end after its start");
                    spans.entry(slug.to_string()).or_default().push((start, ns));
                }
            }
        }
        // A run still working (a later candle's) counts as running until the end of time.
        for (slug, start) in open {
            spans.entry(slug).or_default().push((start, u128::MAX));
        }
        spans
    };
    wait_until(
        "a second, working run of every strategy",
        Duration::from_secs(40),
        || {
            let text = std::fs::read_to_string(&times).unwrap_or_default();
            let s = spans(&text);
            all.iter().all(|(name, ts)| {
                runs(&db, *ts).len() >= 2 && s.get(name).is_some_and(|v| !v.is_empty())
            })
        },
    )
    .await;
    let by_slug = spans(&std::fs::read_to_string(&times).unwrap());
    let every: Vec<(u128, u128)> = by_slug.values().flatten().copied().collect();
    assert!(every.len() >= N, "{by_slug:?}");
    let most = max_overlap(&every);
    assert!(
        most <= K,
        "{most} strategies ran at once, bound {K}: {by_slug:?}"
    );
    assert_eq!(
        most, K,
        "the runs of one beat use the whole bound: {by_slug:?}"
    );
    for (name, ts) in &all {
        let r = runs(&db, *ts);
        assert!(
            r.iter().skip(1).all(|r| r.outcome == "ok"),
            "{name}: waiting for a place is not a timeout: {r:?}"
        );
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategy_update_takes_effect_at_the_next_run() {
    let sim = sim().await;
    let dir = tempdir();
    let d = dir.path();
    let (daemon, mut client, db) = start(paper_config(&sim, d)).await;
    let v1 = script(d, "v1.sh", "#!/bin/sh\necho '{\"note\": \"v1\"}'\n");
    let v2 = script(d, "v2.sh", "#!/bin/sh\necho '{\"note\": \"v2\"}'\n");
    let slow = script(
        d,
        "slow.sh",
        "#!/bin/sh\nsleep 5\necho '{\"note\": \"slow\"}'\n",
    );
    let ts = add(&mut client, "upd", v1.display().to_string(), 5_000).await;
    wait_until("the first run", Duration::from_secs(20), || {
        !runs(&db, ts).is_empty()
    })
    .await;
    let first = runs(&db, ts).remove(0);
    assert_eq!(
        (first.outcome.as_str(), first.note.as_deref()),
        ("ok", Some("v1"))
    );

    // A new command: the next candle's run is the new program's.
    let view = client
        .call::<StrategyUpdate>(&StrategyUpdateParams {
            strategy: StrategyRef::Slug("upd".into()),
            name: None,
            command: Some(v2.display().to_string()),
            timeout_ms: None,
        })
        .await
        .expect("updated");
    assert_eq!(view.command, v2.display().to_string());
    assert_eq!(view.timeout_ms, 5_000, "what was not given is kept");
    sim.set_clock_skew_ms(MINUTE);
    wait_until("a run after the update", Duration::from_secs(20), || {
        runs(&db, ts).len() >= 2
    })
    .await;
    let second = runs(&db, ts).remove(1);
    assert!(second.candle_open_time > first.candle_open_time);
    assert_eq!(
        (second.outcome.as_str(), second.note.as_deref()),
        ("ok", Some("v2"))
    );

    // A slow command and a timeout shorter than it: the next run times out at the new
    // timeout.
    let view = client
        .call::<StrategyUpdate>(&StrategyUpdateParams {
            strategy: StrategyRef::Slug("upd".into()),
            name: None,
            command: Some(slow.display().to_string()),
            timeout_ms: Some(300),
        })
        .await
        .expect("updated");
    assert_eq!(view.timeout_ms, 300);
    sim.set_clock_skew_ms(2 * MINUTE);
    wait_until(
        "a run after the second update",
        Duration::from_secs(20),
        || runs(&db, ts).len() >= 3,
    )
    .await;
    let third = runs(&db, ts).remove(2);
    assert!(third.candle_open_time > second.candle_open_time);
    assert_eq!(third.outcome, "timeout", "{third:?}");
    assert!(
        third.note.as_deref().unwrap_or("").contains("300 ms"),
        "{third:?}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_triggers_no_strategy_run_only_a_scheduled_beat_does() {
    let sim = sim().await;
    let dir = tempdir();
    let d = dir.path();
    let (daemon, mut client, db) = start(paper_config(&sim, d)).await;
    let quick = script(d, "quick.sh", "#!/bin/sh\necho '{}'\n");
    let ts = add(&mut client, "quick", quick.display().to_string(), 5_000).await;
    wait_until("the first run", Duration::from_secs(20), || {
        !runs(&db, ts).is_empty()
    })
    .await;

    // A manual beat that itself stores a newly closed candle (a scheduled beat may get to
    // it first: then the next minute is tried).
    let mut manual = None;
    for minutes in 1..=5 {
        sim.set_clock_skew_ms(minutes * MINUTE);
        let beat = client
            .call::<SyncNow>(&SyncNowParams::default())
            .await
            .expect("a manual beat");
        assert_eq!(beat.trigger, "manual");
        if beat.klines_written > 0 {
            manual = Some(beat);
            break;
        }
    }
    let manual = manual.expect("a manual beat stored a new candle");
    let candle = newest_candle(&db);
    // More manual beats change nothing either.
    for _ in 0..2 {
        client
            .call::<SyncNow>(&SyncNowParams::default())
            .await
            .expect("a manual beat");
    }
    wait_until(
        "a run on the candle the manual beat stored",
        Duration::from_secs(20),
        || runs(&db, ts).iter().any(|r| r.candle_open_time >= candle),
    )
    .await;
    let all = runs(&db, ts);
    let run = all
        .iter()
        .find(|r| r.candle_open_time >= candle)
        .unwrap()
        .clone();
    // A scheduled beat ran it, not the manual one that stored its candle.
    assert_ne!(run.beat_time, manual.beat_time, "{run:?}");
    let trigger: String = read_db(&db)
        .query_row(
            "SELECT trigger FROM heartbeats WHERE beat_time = ?1",
            [run.beat_time],
            |r| r.get(0),
        )
        .expect("the run's beat is recorded");
    assert_eq!(trigger, "schedule", "{run:?}");
    // No run was ever credited to a manual beat, and no candle ran twice.
    let c = read_db(&db);
    let on_manual: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM strategy_runs r JOIN heartbeats h ON h.beat_time = r.beat_time
             WHERE h.trigger = 'manual'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(on_manual, 0, "{all:?}");
    let mut candles: Vec<i64> = all.iter().map(|r| r.candle_open_time).collect();
    candles.dedup();
    assert_eq!(candles.len(), all.len(), "one run per candle: {all:?}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usdm_trade_strategys_orders_go_to_usdm_never_to_spot() {
    let sim = sim().await;
    sim.usdm().set_last_price("BTCUSDT", Some("40000"));
    let dir = tempdir();
    let d = dir.path();
    let mut config = paper_config(&sim, d);
    config.exchange.usdm_rest_url = Some(sim.usdm_url.clone());
    config.exchange.coinm_rest_url = Some(sim.coinm_url.clone());
    config.market_data.usdm_symbols = vec!["BTCUSDT".parse().unwrap()];
    config.paper.starting_balances = Some(BTreeMap::from([
        (
            "USDT".to_string(),
            tradebeat::config::PaperBalance::Amount("10000".to_string()),
        ),
        (
            "usdm".to_string(),
            tradebeat::config::PaperBalance::Market(BTreeMap::from([(
                "USDT".to_string(),
                "5000".to_string(),
            )])),
        ),
    ]));
    let (daemon, mut client, db) = start(config).await;
    let buy = script(
        d,
        "buy.sh",
        "#!/bin/sh\ncat > /dev/null\necho '{\"orders\": [{\"side\": \"BUY\", \"type\": \"MARKET\", \"quantity\": \"0.010\"}]}'\n",
    );
    let s = client
        .call::<StrategyAdd>(&StrategyAddParams {
            name: "futures buyer".to_string(),
            slug: Some("fbuy".to_string()),
            command: buy.display().to_string(),
            timeout_ms: Some(5_000),
        })
        .await
        .expect("strategy added");
    let ts = client
        .call::<TradeStrategyAdd>(&TradeStrategyAddParams {
            strategy: StrategyRef::Slug(s.slug),
            symbol: "BTCUSDT".parse().unwrap(),
            market: Some(tradebeat::domain::Market::UsdM),
            interval: "1m".parse().unwrap(),
            params: None,
        })
        .await
        .expect("attached")
        .id;
    sim.set_clock_skew_ms(MINUTE);
    wait_until("the first run", Duration::from_secs(20), || {
        !runs(&db, ts).is_empty()
    })
    .await;
    let run = runs(&db, ts).remove(0);
    assert_eq!(run.outcome, "ok", "{run:?}");
    let c = read_db(&db);
    let orders: Vec<(String, String, String)> = c
        .prepare("SELECT market, client_order_id, status FROM orders ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0].0, "usdm", "{orders:?}");
    assert!(orders[0].1.starts_with("tb-fbuy-"), "{orders:?}");
    assert_eq!(orders[0].2, "FILLED", "{orders:?}");
    let quantity: String = c
        .query_row(
            "SELECT quantity FROM positions WHERE market = 'usdm' AND symbol = 'BTCUSDT'",
            [],
            |r| r.get(0),
        )
        .expect("a usdm position");
    assert_eq!(quantity.parse::<f64>().unwrap(), 0.010);
    daemon.stop().await;
}
