//! The chart page rendered in a real headless Chromium: one series per followed symbol on
//! a log-scale axis, nothing loaded from another host. The page and a screenshot are kept
//! under `target/chart-test/` as artifacts.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tradebeat::domain::Secret;

fn chromium() -> &'static str {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name;
        }
    }
    panic!("no chromium found: install Debian's chromium (.ci/run does it when run as root)");
}

fn candles(db: &std::path::Path, symbol: &str) -> i64 {
    if !db.exists() {
        return 0;
    }
    common::read_db(db)
        .query_row(
            "SELECT count(*) FROM klines k JOIN symbols s ON s.id = k.symbol_id
             WHERE s.symbol = ?1 AND k.interval = '1h'",
            [symbol],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_renders_one_log_scale_series_per_symbol_in_chromium() {
    let browser = chromium();
    let sim = common::sim().await;
    let dir = common::tempdir();
    let mut config = common::config(
        &sim.base_url(),
        dir.path(),
        &["BTCUSDT", "ETHUSDT"],
        &["1h"],
    );
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    config.http.listen = Some(addr);
    config.http.token = Some(Secret::new("chart-test-token"));
    let daemon = common::InProcess::start(config);
    let db = daemon.db.clone();
    common::wait_until(
        "1h candles of both symbols",
        Duration::from_secs(60),
        || candles(&db, "BTCUSDT") > 2 && candles(&db, "ETHUSDT") > 2,
    )
    .await;

    // No token needed for the chart by default; bad params are refused.
    let http = reqwest::Client::new();
    let bad = http
        .get(format!("http://{addr}/chart?days=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let response = http
        .get(format!("http://{addr}/chart?interval=1h&days=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "nothing from another host"
    );
    // `ctl chart` over the socket: the same chart, as SVG (one polyline per symbol) and HTML.
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chart-test");
    std::fs::create_dir_all(&out).unwrap();
    let socket = dir.path().join("control.sock");
    for format in ["svg", "html"] {
        let file = out.join(format!("ctl-chart.{format}"));
        let ctl = tokio::task::spawn_blocking({
            let (dir, socket, file) = (dir.path().to_path_buf(), socket.clone(), file.clone());
            move || {
                common::tradebeat_command(&dir)
                    .arg("ctl")
                    .arg("--socket")
                    .arg(&socket)
                    .args([
                        "chart",
                        "--format",
                        format,
                        "--interval",
                        "1h",
                        "--days",
                        "2",
                        "--out",
                    ])
                    .arg(&file)
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        assert!(
            ctl.status.success(),
            "ctl chart: {}",
            String::from_utf8_lossy(&ctl.stderr)
        );
        let text = std::fs::read_to_string(&file).unwrap();
        if format == "svg" {
            // One polyline in each symbol's colour (the grid is drawn in grey).
            for colour in ["#1F77B4", "#FF7F0E"] {
                let lines = text
                    .lines()
                    .filter(|l| l.contains("<polyline") && l.to_uppercase().contains(colour))
                    .count();
                assert_eq!(lines, 1, "one line in {colour}");
            }
            assert!(text.contains("BTCUSDT") && text.contains("ETHUSDT"));
        } else {
            assert!(text.contains(r#""names":["BTCUSDT","ETHUSDT"]"#));
        }
    }
    daemon.stop().await;

    let file = out.join("chart.html");
    std::fs::write(&file, &page).unwrap();
    let url = format!("file://{}", file.display());
    let profile = common::tempdir();
    let run = |extra: &[&str]| {
        let mut cmd = Command::new(browser);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,800",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=5000"])
        .args(extra)
        .arg(&url);
        cmd.output().expect("chromium runs")
    };
    let dom = run(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains(r#"data-rendered="true""#),
        "the script did not run:\n{dom:.2000}"
    );
    assert!(dom.contains(r#"data-series="2""#), "{dom:.2000}");
    assert!(dom.contains(r#"data-y-distr="log""#), "{dom:.2000}");
    // uPlot's legend: one row per symbol (plus time), each named.
    assert_eq!(
        dom.matches(r#"<tr class="u-series""#).count(),
        3,
        "legend rows"
    );
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        assert!(
            dom.contains(&format!(">{symbol}<")),
            "{symbol} not in the legend"
        );
    }
    assert!(dom.contains("<canvas"), "no canvas drawn");
    let shot = out.join("chart.png");
    let screenshot = run(&[&format!("--screenshot={}", shot.display())]);
    assert!(
        screenshot.status.success(),
        "{}",
        String::from_utf8_lossy(&screenshot.stderr)
    );
    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 1000)
            .unwrap_or(false),
        "screenshot"
    );
    drop(sim);
}
