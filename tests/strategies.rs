//! Strategies on the beat, in paper mode against the simulator: the registry's refusals,
//! the context a strategy reads, orders placed with the `tb-<slug>-` prefix (bad ones
//! refused, good ones in the same answer placed), timeouts killing the process group,
//! invalid output, an answer over 1 MiB and non-zero exits recorded with nothing placed, a
//! slow strategy never delaying the beats, cancels applied, the minimal environment, runs
//! read back with `strategy_run.list`, soft deletes keeping rows and stopping runs.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tradebeat::control::protocol::{
    StrategyAdd, StrategyAddParams, StrategyRef, StrategyRefParams, StrategyRemove,
    StrategyRunList, StrategyRunListParams, SyncNow, SyncNowParams, TradeStrategyAdd,
    TradeStrategyAddParams, code,
};
use tradebeat::control::{Client, ClientError};

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
    config
}

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
    let t = client
        .call::<TradeStrategyAdd>(&TradeStrategyAddParams {
            strategy: StrategyRef::Slug(s.slug.clone()),
            symbol: "BTCUSDT".parse().unwrap(),
            market: None,
            interval: "1m".parse().unwrap(),
            params: Some(json!({ "size": "0.001" }).as_object().unwrap().clone()),
        })
        .await
        .expect("attached");
    t.id
}

/// Now by the wall clock, the daemon's: ms since the epoch.
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// (outcome, orders_placed, note, candle_open_time) of a trade strategy's runs, oldest first.
fn runs(db: &Path, ts: i64) -> Vec<(String, i64, Option<String>, i64)> {
    let c = read_db(db);
    let mut stmt = c
        .prepare(
            "SELECT outcome, orders_placed, note, candle_open_time FROM strategy_runs
             WHERE trade_strategy_id = ?1 ORDER BY id",
        )
        .unwrap();
    stmt.query_map([ts], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn orders_with_prefix(db: &Path, prefix: &str) -> Vec<(String, String)> {
    let c = read_db(db);
    let mut stmt = c
        .prepare("SELECT client_order_id, status FROM orders WHERE client_order_id LIKE ?1 || '%'")
        .unwrap();
    stmt.query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn rpc_error(e: ClientError) -> tradebeat::control::protocol::ErrorObject {
    match e {
        ClientError::Rpc(e) => e,
        other => panic!("expected an error answer, got {other}"),
    }
}

/// `tradebeat ctl --socket SOCKET ARGS…`, off the runtime's workers.
async fn ctl(dir: &Path, socket: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = tradebeat_command(dir);
    cmd.arg("ctl").arg("--socket").arg(socket).args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run tradebeat"))
        .await
        .unwrap()
}

fn alive(pid: &str) -> bool {
    Path::new("/proc").join(pid.trim()).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategies_run_after_the_beat_and_misbehaving_ones_change_nothing() {
    let sim = sim().await;
    let dir = tempdir();
    let d = dir.path();
    let config = paper_config(&sim, d);
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();
    let daemon = InProcess::start(config);
    wait_until("the first beat", Duration::from_secs(15), || {
        heartbeat_count(&db) >= 1
    })
    .await;
    let mut client = Client::connect(&socket).await.expect("connects");

    // The registry's refusals.
    let missing = d.join("missing.py");
    let e = rpc_error(
        client
            .call::<StrategyAdd>(&StrategyAddParams {
                name: "ghost".into(),
                slug: None,
                command: format!("{} --fast", missing.display()),
                timeout_ms: None,
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, code::INVALID_PARAMS);
    assert!(
        e.message.contains(&missing.display().to_string()),
        "{}",
        e.message
    );
    let e = rpc_error(
        client
            .call::<TradeStrategyAdd>(&TradeStrategyAddParams {
                strategy: StrategyRef::Slug("nosuch".into()),
                symbol: "BTCUSDT".parse().unwrap(),
                market: None,
                interval: "1m".parse().unwrap(),
                params: None,
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, code::INVALID_PARAMS);
    assert!(e.message.contains("nosuch"), "{}", e.message);
    let e = rpc_error(
        client
            .call::<TradeStrategyAdd>(&TradeStrategyAddParams {
                strategy: StrategyRef::Slug("nosuch".into()),
                symbol: "NOPEUSDT".parse().unwrap(),
                market: None,
                interval: "1m".parse().unwrap(),
                params: None,
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(
        e.code,
        code::INVALID_PARAMS,
        "the strategy is checked first"
    );
    client
        .call::<StrategyAdd>(&StrategyAddParams {
            name: "probe".into(),
            slug: None,
            command: "true".into(),
            timeout_ms: None,
        })
        .await
        .expect("added");
    let e = rpc_error(
        client
            .call::<TradeStrategyAdd>(&TradeStrategyAddParams {
                strategy: StrategyRef::Slug("probe".into()),
                symbol: "NOPEUSDT".parse().unwrap(),
                market: None,
                interval: "1m".parse().unwrap(),
                params: None,
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, code::UNKNOWN_SYMBOL);
    assert!(e.message.contains("NOPEUSDT"), "{}", e.message);

    // The context, dumped; python answers two orders, one of them bad.
    let ctx_file = d.join("context.json");
    let env_file = d.join("env.json");
    let dump = script(
        d,
        "dump.py",
        "#!/usr/bin/env python3\nimport json, os, sys\n\
         open(sys.argv[1], 'w').write(sys.stdin.read())\n\
         open(sys.argv[2], 'w').write(json.dumps(dict(os.environ)))\n\
         print(json.dumps({'note': 'seen'}))\n",
    );
    // Rests a LIMIT far below the market, and cancels it on its next run.
    let rester = script(
        d,
        "rester.py",
        "#!/usr/bin/env python3\nimport json, sys\nctx = json.load(sys.stdin)\n\
         mine = [o for o in ctx['open_orders'] if o['client_order_id'].startswith('tb-rester-')]\n\
         if mine:\n\
         \x20   print(json.dumps({'cancel': [{'client_order_id': o['client_order_id']} for o in mine], 'note': 'cancelled'}))\n\
         else:\n\
         \x20   price = round(float(ctx['klines'][-1]['close']) * 0.9, 2)\n\
         \x20   print(json.dumps({'orders': [{'side': 'BUY', 'type': 'LIMIT', 'time_in_force': 'GTC', \
         'quantity': ctx['params']['size'], 'price': str(price)}], 'note': 'rested'}))\n",
    );
    // Answers 1.2 MB without reading its input.
    let big = script(
        d,
        "big.sh",
        "#!/bin/sh\nhead -c 1200000 /dev/zero | tr '\\0' x\n",
    );
    let buyer = script(
        d,
        "buyer.py",
        "#!/usr/bin/env python3\nimport json, sys\nctx = json.load(sys.stdin)\n\
         size = ctx['params']['size']\n\
         print(json.dumps({'orders': [\n\
           {'side': 'BUY', 'type': 'MARKET', 'quantity': size},\n\
           {'side': 'BUY', 'type': 'MARKET', 'quantity': size, 'colour': 'red'},\n\
           {'side': 'BUY', 'type': 'MARKET', 'quantity': '0.0000001'}],\n\
           'note': 'bought'}))\n",
    );
    let pids = d.join("pids");
    let sleeper = script(
        d,
        "sleeper.sh",
        "#!/bin/sh\nsleep 30 &\necho $$ $! > \"$1\"\nwait\necho '{\"orders\": [{\"side\": \"BUY\", \"type\": \"MARKET\", \"quantity\": \"0.001\"}]}'\n",
    );
    let liar = script(d, "liar.sh", "#!/bin/sh\necho 'orders: all of them'\n");
    let crasher = script(
        d,
        "crasher.sh",
        "#!/bin/sh\necho '{\"orders\": [{\"side\": \"BUY\", \"type\": \"MARKET\", \"quantity\": \"0.001\"}]}'\nexit 3\n",
    );
    let slow_pid = d.join("slow-pid");
    let slow = script(d, "slow.sh", "#!/bin/sh\necho $$ > \"$1\"\nexec sleep 30\n");

    let ts_slow = add(
        &mut client,
        "slow",
        format!("{} {}", slow.display(), slow_pid.display()),
        60_000,
    )
    .await;
    let slow_added = wall_ms();
    let ts_dump = add(
        &mut client,
        "dump",
        format!(
            "{} {} {}",
            dump.display(),
            ctx_file.display(),
            env_file.display()
        ),
        5_000,
    )
    .await;
    let ts_rester = add(&mut client, "rester", rester.display().to_string(), 5_000).await;
    // Far longer than it takes: an answer over 1 MiB ends the run at once.
    let ts_big = add(&mut client, "big", big.display().to_string(), 60_000).await;
    let ts_buyer = add(&mut client, "buyer", buyer.display().to_string(), 5_000).await;
    let ts_sleeper = add(
        &mut client,
        "sleeper",
        format!("{} {}", sleeper.display(), pids.display()),
        300,
    )
    .await;
    let ts_liar = add(&mut client, "liar", liar.display().to_string(), 5_000).await;
    let ts_crasher = add(&mut client, "crasher", crasher.display().to_string(), 5_000).await;
    let e = rpc_error(
        client
            .call::<StrategyAdd>(&StrategyAddParams {
                name: "Buyer".into(),
                slug: None,
                command: buyer.display().to_string(),
                timeout_ms: None,
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, code::ALREADY_REGISTERED, "a duplicate live slug");

    // The example strategy, as the README registers it.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ma_crossover.py");
    let ts_example = add(
        &mut client,
        "MA crossover",
        format!("python3 '{}'", example.display()),
        5_000,
    )
    .await;

    let all = [
        ts_dump, ts_buyer, ts_sleeper, ts_liar, ts_crasher, ts_example, ts_rester, ts_big,
    ];
    wait_until("a run of every strategy", Duration::from_secs(20), || {
        all.iter().all(|ts| !runs(&db, *ts).is_empty())
    })
    .await;

    // The slow one (30 s) is still running, and beats go on: two beats asked for now
    // each commit their `heartbeats` row within a deadline, and every scheduled beat since
    // the slow strategy was attached started on time (its lag far below 30 s).
    assert!(
        runs(&db, ts_slow).is_empty(),
        "the slow strategy still runs"
    );
    let beats = heartbeat_count(&db);
    for _ in 0..2 {
        let row = tokio::time::timeout(
            Duration::from_secs(10),
            client.call::<SyncNow>(&SyncNowParams::default()),
        )
        .await
        .expect("a beat while the slow strategy runs")
        .expect("the beat ran");
        assert_eq!(row.trigger, "manual");
        assert!(row.finished_at >= row.started_at);
    }
    assert_eq!(heartbeat_count(&db), beats + 2);
    let worst_lag: Option<i64> = read_db(&db)
        .query_row(
            "SELECT MAX(started_at - beat_time) FROM heartbeats
             WHERE trigger = 'schedule' AND beat_time >= ?1",
            [slow_added],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        worst_lag.is_none_or(|lag| lag < 5_000),
        "a scheduled beat started {worst_lag:?} ms late"
    );
    assert!(
        runs(&db, ts_slow).is_empty(),
        "the slow strategy still runs"
    );
    let slow_pid = std::fs::read_to_string(&slow_pid).unwrap();
    assert!(alive(&slow_pid));

    // The context holds the stored klines, oldest first, and the rest.
    let ctx: Value = serde_json::from_slice(&std::fs::read(&ctx_file).unwrap()).unwrap();
    for key in [
        "strategy",
        "trade_strategy_id",
        "market",
        "symbol",
        "interval",
        "beat_time",
        "mode",
        "params",
        "klines",
        "ticker",
        "position",
        "balances",
        "open_orders",
    ] {
        assert!(ctx.get(key).is_some(), "context lacks {key}: {ctx}");
    }
    assert_eq!(ctx["strategy"], "dump");
    assert_eq!(ctx["mode"], "paper");
    assert_eq!(ctx["params"], json!({ "size": "0.001" }));
    let klines = ctx["klines"].as_array().unwrap();
    let newest = klines.last().unwrap()["open_time"].as_i64().unwrap();
    let stored = stored_klines(&read_db(&db), "BTCUSDT", "1m");
    let stored: Vec<_> = stored.into_iter().filter(|k| k.0 <= newest).collect();
    let stored = &stored[stored.len().saturating_sub(500)..];
    assert_eq!(klines.len(), stored.len());
    for (k, s) in klines.iter().zip(stored) {
        assert_eq!(k["open_time"].as_i64(), Some(s.0));
        assert_eq!(k["close"].as_str().unwrap().parse::<f64>().unwrap(), s.5);
    }
    assert_eq!(runs(&db, ts_dump)[0].2.as_deref(), Some("seen"));
    // Its environment: the documented names only, no key, no secret.
    let env: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(&env_file).unwrap()).unwrap();
    // (Less what a launcher adds on its way to python: a shell's PWD and SHLVL, pyenv's.)
    let launcher = |n: &str| {
        ["PWD", "SHLVL", "_"].contains(&n) || n.trim_start_matches('_').starts_with("PYENV")
    };
    for name in env.keys().filter(|n| !launcher(n)) {
        assert!(
            tradebeat::strategies::STRATEGY_ENV.contains(&name.as_str()),
            "unexpected {name} in {env:?}"
        );
    }
    assert_eq!(env.get("TRADEBEAT_MODE").map(String::as_str), Some("paper"));
    assert_eq!(
        env.get("TRADEBEAT_STRATEGY").map(String::as_str),
        Some("dump")
    );
    // The resting order, placed with the prefix and open.
    assert_eq!(runs(&db, ts_rester)[0].1, 1, "{:?}", runs(&db, ts_rester));
    let rested = orders_with_prefix(&db, "tb-rester-");
    assert_eq!(rested.len(), 1, "{rested:?}");
    assert_eq!(rested[0].1, "NEW");

    // The good order placed with the prefix, the two bad ones refused.
    let (outcome, placed, note, _) = runs(&db, ts_buyer).remove(0);
    assert_eq!((outcome.as_str(), placed), ("ok", 1), "{note:?}");
    assert_eq!(note.as_deref(), Some("bought (2 refused)"));
    let bought = orders_with_prefix(&db, "tb-buyer-");
    assert_eq!(bought.len(), 1, "{bought:?}");
    assert_eq!(bought[0].1, "FILLED");
    // The action log holds the two orders that reached order.place (the one with an
    // unknown field was refused while parsing): the placed one, and the one under the lot
    // size, refused by the local checks.
    let actions: Vec<(String, bool, Option<String>, String)> = read_db(&db)
        .prepare(
            "SELECT method, ok, symbol, params FROM actions
             WHERE source = 'strategy:buyer' ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(
        actions
            .iter()
            .all(|a| a.0 == "order.place" && a.2.as_deref() == Some("BTCUSDT"))
    );
    assert_eq!((actions[0].1, actions[1].1), (true, false), "{actions:?}");
    assert!(actions[0].3.contains(bought[0].0.as_str()), "{actions:?}");

    // Timeout: killed with its children, nothing placed.
    assert_eq!(runs(&db, ts_sleeper)[0].0, "timeout");
    let pids = std::fs::read_to_string(&pids).unwrap();
    for pid in pids.split_whitespace() {
        wait_until(
            "the sleeper's processes gone",
            Duration::from_secs(5),
            || !alive(pid),
        )
        .await;
    }
    assert!(orders_with_prefix(&db, "tb-sleeper-").is_empty());
    // Invalid output, non-zero exit: recorded, nothing placed.
    assert_eq!(runs(&db, ts_liar)[0].0, "invalid_output");
    assert_eq!(runs(&db, ts_crasher)[0].0, "exit_code");
    assert!(orders_with_prefix(&db, "tb-crasher-").is_empty());
    // Over 1 MiB: cut, invalid, long before its timeout.
    let (outcome, placed, note, _) = runs(&db, ts_big).remove(0);
    assert_eq!(
        (outcome.as_str(), placed),
        ("invalid_output", 0),
        "{note:?}"
    );
    assert!(
        note.as_deref().unwrap_or("").contains("longer than"),
        "{note:?}"
    );

    // strategy_run.list reads the runs back: by strategy and outcome, newest first.
    let listed = client
        .call::<StrategyRunList>(&StrategyRunListParams {
            strategy: Some(StrategyRef::Slug("crasher".into())),
            ..StrategyRunListParams::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (
            listed[0].trade_strategy_id,
            listed[0].outcome.as_str(),
            listed[0].exit_code
        ),
        (ts_crasher, "exit_code", Some(3))
    );
    assert_eq!(listed[0].symbol.as_str(), "BTCUSDT");
    let timeouts = client
        .call::<StrategyRunList>(&StrategyRunListParams {
            outcome: Some("timeout".into()),
            ..StrategyRunListParams::default()
        })
        .await
        .unwrap();
    assert!(
        !timeouts.is_empty() && timeouts.iter().all(|r| r.strategy == "sleeper"),
        "{timeouts:?}"
    );
    let newest = client
        .call::<StrategyRunList>(&StrategyRunListParams {
            limit: Some(2),
            ..StrategyRunListParams::default()
        })
        .await
        .unwrap();
    assert_eq!(newest.len(), 2);
    assert!(newest[0].id > newest[1].id, "newest first");
    for bad in [
        StrategyRunListParams {
            outcome: Some("fine".into()),
            ..StrategyRunListParams::default()
        },
        StrategyRunListParams {
            strategy: Some(StrategyRef::Slug("ghost".into())),
            ..StrategyRunListParams::default()
        },
        StrategyRunListParams {
            limit: Some(1001),
            ..StrategyRunListParams::default()
        },
    ] {
        let e = rpc_error(client.call::<StrategyRunList>(&bad).await.unwrap_err());
        assert_eq!(e.code, code::INVALID_PARAMS, "{bad:?}");
    }
    // ctl strategies runs: an aligned table, and the rows as JSON.
    let out = ctl(d, &socket, &["strategies", "runs", "--strategy", "crasher"]).await;
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    // After the PAPER banner: the header and one run.
    let lines: Vec<&str> = table.lines().skip_while(|l| !l.starts_with("ID")).collect();
    assert_eq!(lines.len(), 2, "{table}");
    let at = lines[0].find("OUTCOME").expect("a header");
    assert!(lines[1][at..].starts_with("exit_code"), "{table}");
    let out = ctl(
        d,
        &socket,
        &[
            "--json",
            "strategies",
            "runs",
            "--outcome",
            "invalid_output",
        ],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let slugs: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["strategy"].as_str().unwrap())
        .collect();
    assert!(slugs.contains(&"liar") && slugs.contains(&"big"), "{json}");
    assert!(std::fs::metadata(d.join("logs").join("strategy-crasher.log")).is_ok());

    // The example answered (a decision or "no cross"), with a note.
    let (outcome, _, note, _) = runs(&db, ts_example).remove(0);
    assert_eq!(outcome, "ok", "{note:?}");
    assert!(note.is_some());

    // Soft delete: rows kept, runs stopped; the others run on the next candle.
    client
        .call::<StrategyRemove>(&StrategyRefParams {
            strategy: StrategyRef::Slug("buyer".into()),
        })
        .await
        .expect("removed");
    // A scheduled beat may have run it on a newer candle before the removal (the test runs
    // on the wall clock): what counts is that no run starts after it.
    let removed_ms = wall_ms();
    sim.set_clock_skew_ms(MINUTE);
    // A beat now sees the next candle closed (scheduled ones would too, a little later).
    client
        .call::<SyncNow>(&SyncNowParams::default())
        .await
        .expect("a beat");
    let first = runs(&db, ts_dump)[0].3;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !runs(&db, ts_dump).iter().any(|r| r.3 > first)
        || !runs(&db, ts_rester).iter().any(|r| r.3 > first)
    {
        if std::time::Instant::now() > deadline {
            let newest = stored_klines(&read_db(&db), "BTCUSDT", "1m")
                .last()
                .map(|k| k.0);
            panic!(
                "no run on a newer candle: first {first}, newest stored {newest:?}, runs {:?}, beats {}",
                runs(&db, ts_dump),
                heartbeat_count(&db)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let buyer_started: Vec<i64> = read_db(&db)
        .prepare("SELECT started_at FROM strategy_runs WHERE trade_strategy_id = ?1")
        .unwrap()
        .query_map([ts_buyer], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        !buyer_started.is_empty() && buyer_started.iter().all(|&t| t <= removed_ms),
        "a removed strategy runs no more: runs started at {buyer_started:?}, removed at {removed_ms}"
    );
    // The rester saw its order among the open ones and cancelled it.
    let second = runs(&db, ts_rester).remove(1);
    assert_eq!(
        (second.0.as_str(), second.2.as_deref()),
        ("ok", Some("cancelled"))
    );
    let rested = orders_with_prefix(&db, "tb-rester-");
    assert_eq!(rested.len(), 1, "{rested:?}");
    assert_eq!(rested[0].1, "CANCELED");
    let cancels: Vec<(String, bool)> = read_db(&db)
        .prepare("SELECT method, ok FROM actions WHERE source = 'strategy:rester' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        cancels,
        [
            ("order.place".to_string(), true),
            ("order.cancel".to_string(), true)
        ]
    );
    let c = read_db(&db);
    let deleted: Option<i64> = c
        .query_row(
            "SELECT deleted_at FROM strategies WHERE slug = 'buyer'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(deleted.is_some());

    // At shutdown the slow run is killed and recorded.
    daemon.stop().await;
    assert_eq!(
        runs(&db, ts_slow).first().map(|r| r.0.as_str()),
        Some("killed")
    );
    wait_until("the slow process gone", Duration::from_secs(5), || {
        !alive(&slow_pid)
    })
    .await;
}
