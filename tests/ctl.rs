//! `tradebeat ctl` as a process against a daemon running in this test: exit statuses
//! (0 success, 1 the daemon refused, 2 usage or unreachable), human output and `--json`.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Runs the binary with `args` in `dir`, without the developer's TRADEBEAT_* variables,
/// on the blocking pool (the daemon shares this runtime).
async fn tradebeat(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = tradebeat_command(dir);
    cmd.args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run tradebeat"))
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_exit_statuses_tables_and_json() {
    let sim = sim().await;
    let tmp = tempdir();
    let dir = tmp.path().to_path_buf();
    let config = config(&sim.base_url(), &dir, &["BTCUSDT", "ETHUSDT"], &["1m"]);
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();
    // The same socket path in a config file, for `ctl --config`.
    std::fs::write(
        dir.join("ctl.toml"),
        format!("[control]\nsocket = {:?}\n", socket.display().to_string()),
    )
    .unwrap();
    let daemon = InProcess::start(config);
    wait_until("the socket and a beat", Duration::from_secs(20), || {
        socket.exists() && heartbeat_count(&db) >= 1
    })
    .await;
    let s = socket.to_str().unwrap();

    // status: a readable table, every line labelled.
    let out = tradebeat(&dir, &["ctl", "--socket", s, "status"]).await;
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    for label in [
        "tradebeat",
        "network",
        "database",
        "last beat",
        "next beat",
        "symbols",
        "backfill",
        "request weight",
        "clock offset",
        "user stream",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(label)),
            "no {label:?} line in\n{stdout}"
        );
    }
    assert!(stdout.contains("UTC"), "{stdout}");
    assert!(stdout.contains("2 followed"), "{stdout}");

    // --json: the raw result, parseable.
    let out = tradebeat(&dir, &["ctl", "--socket", s, "--json", "status"]).await;
    assert_exit(&out, 0);
    let status: Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["symbols"]["following"], 2);
    assert!(status["last_beat"]["beat_time"].is_i64());

    // The socket from --config.
    let out = tradebeat(
        &dir,
        &["ctl", "--config", "ctl.toml", "symbols", "list", "--json"],
    )
    .await;
    assert_exit(&out, 0);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["BTCUSDT", "ETHUSDT"]);

    // symbols add: success (0), then refusals (1) with the message on stderr. The symbol
    // is given ccxt-style, BASE/QUOTE, and registered as Binance spells it.
    let out = tradebeat(
        &dir,
        &[
            "ctl",
            "--socket",
            s,
            "symbols",
            "add",
            "SOL/USDT",
            "--intervals",
            "1m,15m",
        ],
    )
    .await;
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("registered  SOLUSDT (SOL/USDT, TRADING)"),
        "{stdout}"
    );
    assert!(stdout.contains("1m,15m (its own)"), "{stdout}");

    let out = tradebeat(&dir, &["ctl", "--socket", s, "symbols", "add", "SOLUSDT"]).await;
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("already registered"),
        "{}",
        text(&out.stderr)
    );

    let out = tradebeat(
        &dir,
        &["ctl", "--socket", s, "--json", "symbols", "add", "NOPEUSDT"],
    )
    .await;
    assert_exit(&out, 1);
    let error: Value = serde_json::from_slice(&out.stdout).expect("the error object as JSON");
    assert_eq!(error["code"], -32001);
    assert_eq!(error["data"]["symbol"], "NOPEUSDT");
    assert!(text(&out.stderr).contains("not listed by the exchange"));

    // --wait follows the backfill to its end; with the backfill skeleton (until issue 3
    // is merged) there is nothing to follow, which is an error.
    let out = tradebeat(
        &dir,
        &[
            "ctl",
            "--socket",
            s,
            "symbols",
            "add",
            "XRPUSDT",
            "--intervals",
            "1h",
            "--backfill-days",
            "1",
            "--wait",
        ],
    )
    .await;
    match out.status.code() {
        Some(0) => assert!(
            text(&out.stderr).contains("backfill XRPUSDT: 100.0%"),
            "{}",
            text(&out.stderr)
        ),
        _ => {
            assert_exit(&out, 1);
            assert!(
                text(&out.stderr).contains("nothing to wait for"),
                "{}",
                text(&out.stderr)
            );
        }
    }
    let out = tradebeat(
        &dir,
        &["ctl", "--socket", s, "symbols", "remove", "XRPUSDT"],
    )
    .await;
    assert_exit(&out, 0);

    // symbols list as a table.
    let out = tradebeat(&dir, &["ctl", "--socket", s, "symbols", "list"]).await;
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    assert!(lines.next().unwrap().starts_with("SYMBOL"), "{stdout}");
    assert_eq!(lines.count(), 3, "{stdout}");

    // symbols remove, then list --all shows it removed.
    let out = tradebeat(
        &dir,
        &["ctl", "--socket", s, "symbols", "remove", "ETHUSDT"],
    )
    .await;
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains("removed ETHUSDT"));
    let out = tradebeat(&dir, &["ctl", "--socket", s, "symbols", "list", "--all"]).await;
    assert!(
        text(&out.stdout)
            .lines()
            .any(|l| l.starts_with("ETHUSDT") && l.contains("removed")),
        "{}",
        text(&out.stdout)
    );

    // sync: a manual beat.
    let out = tradebeat(&dir, &["ctl", "--socket", s, "sync"]).await;
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("(manual)"),
        "{}",
        text(&out.stdout)
    );

    // klines: a table of what the beats stored; --json decimals as strings.
    let out = tradebeat(
        &dir,
        &[
            "ctl", "--socket", s, "klines", "BTCUSDT", "1m", "--limit", "3",
        ],
    )
    .await;
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).starts_with("OPEN TIME (UTC)"),
        "{}",
        text(&out.stdout)
    );
    let out = tradebeat(
        &dir,
        &[
            "ctl", "--socket", s, "--json", "klines", "BTCUSDT", "1m", "--limit", "3",
        ],
    )
    .await;
    assert_exit(&out, 0);
    let klines: Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &klines.as_array().unwrap()[0];
    assert!(
        first["close"].is_string() && first["open_time"].is_i64(),
        "{first}"
    );

    // backfill: refused while the backfill component is not running (the skeleton), or
    // a table of jobs once it is.
    let out = tradebeat(
        &dir,
        &[
            "ctl",
            "--socket",
            s,
            "backfill",
            "BTCUSDT",
            "--from",
            "2026-11-01",
        ],
    )
    .await;
    match out.status.code() {
        Some(0) => assert!(
            text(&out.stdout).starts_with("SYMBOL"),
            "{}",
            text(&out.stdout)
        ),
        _ => {
            assert_exit(&out, 1);
            assert!(text(&out.stderr).contains("backfill is not running"));
        }
    }

    // Usage errors (clap): 2.
    let out = tradebeat(&dir, &["ctl", "--socket", s, "klines", "BTCUSDT", "2m"]).await;
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("unknown interval"));
    let out = tradebeat(
        &dir,
        &[
            "ctl",
            "--socket",
            s,
            "backfill",
            "BTCUSDT",
            "--from",
            "last week",
        ],
    )
    .await;
    assert_exit(&out, 2);
    let out = tradebeat(&dir, &["ctl", "--socket", s, "frobnicate"]).await;
    assert_exit(&out, 2);

    // The daemon answered an out-of-range value: 1.
    let out = tradebeat(
        &dir,
        &[
            "ctl", "--socket", s, "klines", "BTCUSDT", "1m", "--limit", "0",
        ],
    )
    .await;
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("`limit`"),
        "{}",
        text(&out.stderr)
    );

    daemon.stop().await;

    // Unreachable: 2, with a hint naming the socket and how to start the daemon.
    let out = tradebeat(&dir, &["ctl", "--socket", s, "status"]).await;
    assert_exit(&out, 2);
    let stderr = text(&out.stderr);
    assert!(stderr.contains(s), "{stderr}");
    assert!(stderr.contains("tradebeat run --config"), "{stderr}");

    // A config that does not load: 2.
    std::fs::write(dir.join("bad.toml"), "[control]\nsockett = 1\n").unwrap();
    let out = tradebeat(&dir, &["ctl", "--config", "bad.toml", "status"]).await;
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("control.sockett"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn completions_are_printed_for_each_shell() {
    let dir = tempdir();
    for shell in ["bash", "zsh", "fish"] {
        let out = tradebeat(dir.path(), &["completions", shell]).await;
        assert_exit(&out, 0);
        let script = text(&out.stdout);
        assert!(script.contains("tradebeat"), "{shell}");
        assert!(
            script.contains("symbols"),
            "{shell}: ctl's subcommands are completed"
        );
    }
    let out = tradebeat(dir.path(), &["completions", "tcsh"]).await;
    assert_exit(&out, 2);
}
