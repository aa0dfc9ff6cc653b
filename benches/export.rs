//! Benchmark of `ctl export` (issue 18): 1 000 000 1m klines of one symbol, exported to
//! Parquet and to CSV from a database on disk: wall-clock time of each export, and the
//! process's peak resident memory (VmHWM, reset through `/proc/self/clear_refs` after
//! seeding) during each. Goals: Parquet ≤ 2 s and ≤ 50 MB.
//!
//! Run with `cargo bench --bench export` (release build). `EXPORT_BENCH_ROWS` changes the
//! row count. Results go to stdout; copy them into BENCHMARKS.md with the machine.

use std::time::Instant;

use tradebeat::domain::{Interval, Kline, Market, SymbolInfo, SymbolStatus};
use tradebeat::export::{Format, export_to_file};
use tradebeat::store::Store;
use tradebeat::store::export::{ExportFilter, ExportKind};

const MINUTE: i64 = 60_000;

/// Peak resident set size of this process, KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let rows: i64 = std::env::var("EXPORT_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("tradebeat.db");
    let store = Store::open(&db).expect("store");
    let info = SymbolInfo {
        symbol: "BTCUSDT".parse().unwrap(),
        status: SymbolStatus::Trading,
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        filters: Default::default(),
    };
    let symbol = store
        .upsert_symbol(Market::Spot, &info, None, None, 0)
        .expect("symbol");
    let seeding = Instant::now();
    let start = 1_700_000_040_000 - 1_700_000_040_000 % MINUTE;
    let mut i = 0;
    while i < rows {
        let chunk: Vec<Kline> = (i..(i + 10_000).min(rows))
            .map(|n| {
                let p = 60_000.0 + (n % 1000) as f64 * 0.01;
                Kline {
                    open_time: start + n * MINUTE,
                    close_time: start + n * MINUTE + MINUTE - 1,
                    open: p,
                    high: p + 5.0,
                    low: p - 5.0,
                    close: p + 0.5,
                    volume: 12.345,
                    quote_volume: 740_000.12,
                    trades: 1000 + (n % 77) as u64,
                    taker_buy_base_volume: 6.1,
                    taker_buy_quote_volume: 366_000.5,
                }
            })
            .collect();
        store
            .upsert_klines(symbol.id, Interval::M1, &chunk)
            .expect("seed");
        i += 10_000;
    }
    drop(store);
    println!(
        "seeded {rows} klines in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    for (format, name) in [(Format::Parquet, "parquet"), (Format::Csv, "csv")] {
        let out = dir.path().join(format!("klines.{name}"));
        reset_peak_rss();
        let before = peak_rss_kib();
        let t = Instant::now();
        let n = export_to_file(
            &db,
            ExportKind::Klines,
            &ExportFilter::default(),
            &out,
            format,
        )
        .expect("export");
        let took = t.elapsed();
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        println!(
            "{name:8} {n} rows in {:.2} s ({:.0} rows/s), file {:.1} MB, peak RSS {:.1} MB (at start {:.1} MB)",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            size as f64 / 1e6,
            peak_rss_kib() as f64 / 1024.0,
            before as f64 / 1024.0,
        );
    }
}
