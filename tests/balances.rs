//! `balance.list` over the daemon's real control socket, and `tradebeat ctl balances` as a
//! process: the balances a user-data batch and an account snapshot stored, by asset,
//! decimals exact.

mod common;

use std::process::Output;
use std::time::Duration;

use common::*;
use serde_json::Value;
use tradebeat::control::Client;
use tradebeat::control::protocol::{BalanceList, BalanceListParams, code};
use tradebeat::domain::Market;
use tradebeat::domain::UserDataEvent;
use tradebeat::domain::{Account, Balance};
use tradebeat::exchange::spot::{Frame, parse_frame};
use tradebeat::store::Store;

fn recorded(name: &str) -> UserDataEvent {
    let path = format!("{}/tests/data/user_data/{name}", env!("CARGO_MANIFEST_DIR"));
    match parse_frame(&std::fs::read_to_string(path).unwrap()) {
        Ok(Frame::Event(e)) => e.event,
        other => panic!("{other:?}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_list_and_ctl_balances_show_the_stored_balances() {
    let sim = sim().await;
    let tmp = tempdir();
    let dir = tmp.path().to_path_buf();
    let config = config(&sim.base_url(), &dir, &["BTCUSDT"], &["1m"]);
    let socket = config.control.socket.clone();
    let db = config.storage.database.clone();

    // Before the daemon starts: the recorded outboundAccountPosition (USDT 10000/2500,
    // ETH 5/0 at u=1709654400000), then an older account snapshot that must not win, and
    // a newer one that adds BTC.
    {
        let store = Store::open(&db).unwrap();
        let report = store
            .apply_user_data(Market::Spot, &[recorded("account_position.json")], 1)
            .unwrap();
        assert_eq!(report.balances_updated, 2);
        let older = Account {
            can_trade: true,
            update_time: 1709654300000,
            balances: vec![Balance {
                asset: "USDT".into(),
                free: "1".parse().unwrap(),
                locked: "0".parse().unwrap(),
            }],
        };
        assert_eq!(store.apply_account(Market::Spot, &older, 2).unwrap(), 0);
        let newer = Account {
            can_trade: true,
            update_time: 1709654500000,
            balances: vec![
                Balance {
                    asset: "USDT".into(),
                    free: "10000.00000000".parse().unwrap(),
                    locked: "2500.00000000".parse().unwrap(),
                },
                Balance {
                    asset: "ETH".into(),
                    free: "5.00000000".parse().unwrap(),
                    locked: "0.00000000".parse().unwrap(),
                },
                Balance {
                    asset: "BTC".into(),
                    free: "0.12345678".parse().unwrap(),
                    locked: "0.00000001".parse().unwrap(),
                },
            ],
        };
        assert_eq!(store.apply_account(Market::Spot, &newer, 3).unwrap(), 1);
    }

    let daemon = InProcess::start(config);
    wait_until("the control socket", Duration::from_secs(20), || {
        socket.exists()
    })
    .await;
    let mut client = Client::connect(&socket).await.unwrap();
    let all = client
        .call::<BalanceList>(&BalanceListParams::default())
        .await
        .unwrap();
    let view: Vec<(&str, String, String, i64, &str)> = all
        .iter()
        .map(|b| {
            (
                b.asset.as_str(),
                b.free.to_string(),
                b.locked.to_string(),
                b.update_time,
                b.source.as_str(),
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            (
                "BTC",
                "0.12345678".into(),
                "0.00000001".into(),
                1709654500000,
                "rest"
            ),
            (
                "ETH",
                "5.00000000".into(),
                "0.00000000".into(),
                1709654400000,
                "stream"
            ),
            (
                "USDT",
                "10000.00000000".into(),
                "2500.00000000".into(),
                1709654400000,
                "stream"
            ),
        ]
    );
    // One asset, lower case accepted; decimals travel as strings.
    let raw = client
        .call_value::<BalanceList>(&BalanceListParams {
            asset: Some("usdt".into()),
        })
        .await
        .unwrap();
    assert_eq!(raw.as_array().unwrap().len(), 1);
    assert_eq!(raw[0]["free"], "10000.00000000");
    assert_eq!(raw[0]["locked"], "2500.00000000");
    assert_eq!(raw[0]["update_time"], 1709654400000_i64);
    let bad = client
        .call::<BalanceList>(&BalanceListParams {
            asset: Some("US-DT".into()),
        })
        .await
        .unwrap_err();
    match bad {
        tradebeat::control::ClientError::Rpc(e) => {
            assert_eq!(e.code, code::INVALID_PARAMS);
            assert_eq!(e.data.unwrap()["param"], "asset");
        }
        other => panic!("{other:?}"),
    }

    // ctl balances: a table, and --json with the daemon's result.
    let s = socket.to_str().unwrap().to_string();
    let run = |args: Vec<String>| {
        let mut cmd = tradebeat_command(&dir);
        cmd.args(args);
        tokio::task::spawn_blocking(move || cmd.output().expect("run tradebeat"))
    };
    let out: Output = run(vec![
        "ctl".into(),
        "--socket".into(),
        s.clone(),
        "balances".into(),
    ])
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("ASSET"), "{stdout}");
    for header in ["FREE", "LOCKED", "UPDATED"] {
        assert!(lines[0].contains(header), "{stdout}");
    }
    assert!(
        lines[1].starts_with("BTC") && lines[1].contains("0.12345678"),
        "{stdout}"
    );
    assert!(lines[3].contains("10000.00000000") && lines[3].contains("2500.00000000"));
    assert!(lines[3].contains("2024-03-05 16:00:00"), "{stdout}");
    let out = run(vec![
        "ctl".into(),
        "--socket".into(),
        s,
        "--json".into(),
        "balances".into(),
        "ETH".into(),
    ])
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["asset"], "ETH");
    assert_eq!(json[0]["free"], "5.00000000");
    assert_eq!(json[0]["source"], "stream");

    daemon.stop().await;
}
