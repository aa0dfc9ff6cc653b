//! Benchmark: the chart of 50 symbols × 30 days of 1h candles.
//!
//! One daemon in this process follows the simulator's 50 BTCUSDT clones (`SIM001USDT` …,
//! `extra_symbols`) at `1h` with a 30-day backfill, and serves `[http]` on loopback. Once
//! every symbol holds its 720 candles:
//!
//! 1. `GET /chart?interval=1h&days=30` (the data read through `kline.list` and the page
//!    built): time (p50 / max over `CHART_CALLS`, default 20) and the page's size;
//! 2. headless Chromium: the page loaded from a file, with a line of script added after
//!    the chart's that stamps `performance.now()` (ms since navigation start, real time)
//!    once the chart is drawn and at the next animation frame (its first paint);
//!    and the wall time of `chromium --screenshot` of the page against the same command
//!    on an empty page (the browser's own start-up), medians of `CHART_BROWSER_RUNS`
//!    (default 5).
//!
//! Run with `cargo bench --bench chart` (release build; needs `chromium` on the PATH).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use exchange_sim::SimConfig;
use tokio_util::sync::CancellationToken;
use tradebeat::clock::Clock;
use tradebeat::config::Config;
use tradebeat::domain::{Interval, Secret};

const SYMBOLS: usize = 50;
const CANDLES: i64 = 30 * 24;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// Chromium on `page` with `extra` arguments; its wall time and stdout.
fn chromium(page: &Path, profile: &Path, extra: &[&str]) -> (Duration, String) {
    let start = Instant::now();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        start.elapsed(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The number in `name="…"` of the dumped DOM.
fn attribute(dom: &str, name: &str) -> Option<f64> {
    let at = dom.find(&format!("{name}=\""))? + name.len() + 2;
    dom[at..].split('"').next()?.parse().ok()
}

fn candles(db: &Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    common::read_db(db)
        .query_row(
            "SELECT count(*) FROM klines WHERE interval = '1h'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let calls = env_usize("CHART_CALLS", 20);
    let runs = env_usize("CHART_BROWSER_RUNS", 5);
    let sim = exchange_sim::spawn(SimConfig {
        extra_symbols: SYMBOLS,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port");
    let mut config = Config::default();
    config.exchange.rest_url = Some(sim.base_url());
    config.market_data.symbols = (1..=SYMBOLS)
        .map(|i| format!("SIM{i:03}USDT").parse().expect("symbol"))
        .collect();
    config.market_data.intervals = vec![Interval::H1];
    config.market_data.backfill_days = 30;
    config.storage.database = dir.path().join("chart.db");
    config.control.socket = dir.path().join("control.sock");
    config.logging.dir = dir.path().join("logs");
    config.http.listen = Some(addr);
    config.http.token = Some(Secret::new("chart-bench-token"));
    let db = config.storage.database.clone();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(tradebeat::daemon::run_until(
        config,
        Clock::system(),
        shutdown.clone(),
    ));
    let want = SYMBOLS as i64 * CANDLES;
    common::wait_until(
        "30 days of 1h candles of every symbol",
        Duration::from_secs(300),
        || candles(&db) >= want,
    )
    .await;

    // 1. The endpoint.
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/chart?interval=1h&days=30");
    let mut times = Vec::with_capacity(calls);
    let mut page = String::new();
    for _ in 0..calls.max(1) {
        let t = Instant::now();
        let response = http.get(&url).send().await.expect("the server answers");
        assert_eq!(response.status(), 200);
        page = response.text().await.expect("the page");
        times.push(t.elapsed());
    }
    let max = times.iter().max().copied().unwrap_or_default();
    let series = page.matches("SIM0").count();
    println!(
        "GET /chart?interval=1h&days=30, {SYMBOLS} symbols x {CANDLES} candles: p50 {} max {} \
         over {} calls; page {:.0} KB ({} bytes; symbol names seen {series} times)",
        ms(median(times.clone())),
        ms(max),
        times.len(),
        page.len() as f64 / 1024.0,
        page.len(),
    );
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), daemon).await;

    // 2. The browser.
    let stamp = r#"<script>
document.body.dataset.drawnMs = performance.now().toFixed(1);
requestAnimationFrame(() => { document.body.dataset.paintMs = performance.now().toFixed(1); });
</script>
</body>"#;
    let timed = dir.path().join("chart.html");
    std::fs::write(&timed, page.replacen("</body>", stamp, 1)).expect("write the page");
    let empty = dir.path().join("empty.html");
    std::fs::write(
        &empty,
        "<!DOCTYPE html><html><body><p>empty</p></body></html>",
    )
    .expect("write the empty page");
    let profile = tempfile::tempdir().expect("profile dir");
    let (mut drawn, mut painted, mut with_chart, mut without) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs.max(1) {
        let (_, dom) = chromium(&timed, profile.path(), &["--dump-dom"]);
        assert!(
            dom.contains(r#"data-series="50""#),
            "the chart did not render"
        );
        if let Some(v) = attribute(&dom, "data-drawn-ms") {
            drawn.push(Duration::from_secs_f64(v / 1e3));
        }
        if let Some(v) = attribute(&dom, "data-paint-ms") {
            painted.push(Duration::from_secs_f64(v / 1e3));
        }
        let shot = dir.path().join("chart.png");
        let arg = format!("--screenshot={}", shot.display());
        with_chart.push(chromium(&timed, profile.path(), &[&arg]).0);
        without.push(chromium(&empty, profile.path(), &[&arg]).0);
    }
    println!(
        "chromium, {} runs (medians): chart drawn {} after navigation start, first animation \
         frame {} ({} of {} runs reached it before the DOM dump); --screenshot wall time {} \
         with the chart, {} with an empty page",
        runs.max(1),
        if drawn.is_empty() {
            "-".into()
        } else {
            ms(median(drawn.clone()))
        },
        if painted.is_empty() {
            "-".into()
        } else {
            ms(median(painted.clone()))
        },
        painted.len(),
        runs.max(1),
        ms(median(with_chart)),
        ms(median(without)),
    );
    sim.shutdown().await;
}
