//! `tradebeat ctl export`: a database seeded with real recorded candles (the simulator's
//! data) and fills, exported to CSV and Parquet and read back with the `csv` and `parquet`
//! crates: the row count and every value equal the database's. Also: an empty range
//! writes a valid empty file, an unwritable path fails with exit 1 and leaves nothing, a
//! table the database lacks is a clear error.

mod common;

use std::path::{Path, PathBuf};

use parquet::basic::{LogicalType, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;
use tradebeat::domain::{Interval, Kline, Market, SymbolInfo, SymbolStatus, Trade};
use tradebeat::export::{Format, export_to_file};
use tradebeat::store::Store;
use tradebeat::store::export::{ExportError, ExportFilter, ExportKind};

const MINUTE: i64 = 60_000;
const CANDLES: i64 = 3000;

/// A database with [`CANDLES`] real 1m BTCUSDT candles and two fills; returns its path
/// and the candles.
async fn seeded(dir: &Path) -> (PathBuf, Vec<Kline>) {
    let sim = common::sim().await;
    let db = dir.join("tradebeat.db");
    let store = Store::open(&db).unwrap();
    let info = SymbolInfo {
        symbol: "BTCUSDT".parse().unwrap(),
        status: SymbolStatus::Trading,
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        filters: Default::default(),
    };
    let row = store
        .upsert_symbol(Market::Spot, &info, None, None, 0)
        .unwrap();
    let newest = Interval::M1.last_closed_open_time(sim.now_ms()) - 60 * MINUTE;
    let klines: Vec<Kline> = sim
        .klines("BTCUSDT", "1m", newest - (CANDLES - 1) * MINUTE, newest)
        .iter()
        .map(common::to_kline)
        .collect();
    assert_eq!(klines.len() as i64, CANDLES);
    store.upsert_klines(row.id, Interval::M1, &klines).unwrap();
    let trade = |id: i64, price: &str, qty: &str, maker: bool| Trade {
        symbol: "BTCUSDT".parse().unwrap(),
        id,
        order_id: 100 + id,
        price: price.parse().unwrap(),
        qty: qty.parse().unwrap(),
        quote_qty: price.parse::<rust_decimal::Decimal>().unwrap()
            * qty.parse::<rust_decimal::Decimal>().unwrap(),
        commission: "0.00000100".parse().unwrap(),
        commission_asset: "BTC".into(),
        time: 1_795_262_400_000 + id,
        is_buyer: true,
        is_maker: maker,
        realized_pnl: None,
        position_side: None,
    };
    store
        .record_trades(
            Market::Spot,
            &[
                trade(1, "65000.01", "0.00100000", false),
                trade(2, "64999.99", "0.00200000", true),
            ],
            0,
        )
        .unwrap();
    (db, klines)
}

fn read_parquet(path: &Path) -> SerializedFileReader<std::fs::File> {
    SerializedFileReader::new(std::fs::File::open(path).unwrap()).expect("a valid parquet file")
}

fn export(db: &Path, kind: ExportKind, filter: &ExportFilter, out: &Path, f: Format) -> u64 {
    export_to_file(db, kind, filter, out, f).expect("export")
}

#[tokio::test]
async fn klines_and_executions_round_trip_through_csv_and_parquet() {
    let dir = common::tempdir();
    let (db, klines) = seeded(dir.path()).await;
    let all = ExportFilter::default();

    // Parquet: typed columns, every value equal.
    let pq = dir.path().join("klines.parquet");
    assert_eq!(
        export(&db, ExportKind::Klines, &all, &pq, Format::Parquet),
        CANDLES as u64
    );
    let reader = read_parquet(&pq);
    let schema = reader.metadata().file_metadata().schema_descr();
    let column = |name: &str| {
        (0..schema.num_columns())
            .map(|i| schema.column(i))
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    assert_eq!(column("open_time").physical_type(), PhysicalType::INT64);
    assert!(matches!(
        column("open_time").logical_type_ref(),
        Some(LogicalType::Timestamp(_))
    ));
    assert_eq!(column("close").physical_type(), PhysicalType::DOUBLE);
    assert_eq!(column("trades").physical_type(), PhysicalType::INT64);
    let rows: Vec<_> = reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(rows.len(), klines.len());
    for (row, k) in rows.iter().zip(&klines) {
        assert_eq!(row.get_string(1).unwrap(), "BTCUSDT");
        assert_eq!(row.get_string(2).unwrap(), "1m");
        assert_eq!(row.get_timestamp_millis(3).unwrap(), k.open_time);
        assert_eq!(row.get_timestamp_millis(4).unwrap(), k.close_time);
        assert_eq!(
            [
                row.get_double(5).unwrap(),
                row.get_double(6).unwrap(),
                row.get_double(7).unwrap(),
                row.get_double(8).unwrap(),
                row.get_double(9).unwrap(),
                row.get_double(10).unwrap(),
            ],
            [k.open, k.high, k.low, k.close, k.volume, k.quote_volume]
        );
        assert_eq!(row.get_long(11).unwrap(), k.trades as i64);
    }

    // CSV: a header, then the same values (floats read back exactly).
    let csv_path = dir.path().join("klines.csv");
    let first = klines[10].open_time;
    let last = klines[1009].open_time;
    let range = ExportFilter {
        symbol: Some("BTCUSDT".parse().unwrap()),
        interval: Some(Interval::M1),
        start: Some(first),
        end: Some(last),
        ..Default::default()
    };
    assert_eq!(
        export(&db, ExportKind::Klines, &range, &csv_path, Format::Csv),
        1000
    );
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().take(5).collect::<Vec<_>>(),
        ["market", "symbol", "interval", "open_time", "close_time"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 1000);
    for (r, k) in records.iter().zip(&klines[10..]) {
        assert_eq!(r[3].parse::<i64>().unwrap(), k.open_time);
        assert_eq!(r[8].parse::<f64>().unwrap(), k.close);
        assert_eq!(r[9].parse::<f64>().unwrap(), k.volume);
        assert_eq!(r[11].parse::<u64>().unwrap(), k.trades);
    }

    // Executions: money of record as exact decimal strings, in both formats.
    let ex_pq = dir.path().join("executions.parquet");
    assert_eq!(
        export(&db, ExportKind::Executions, &all, &ex_pq, Format::Parquet),
        2
    );
    let reader = read_parquet(&ex_pq);
    let schema = reader.metadata().file_metadata().schema_descr();
    let idx = |name: &str| {
        (0..schema.num_columns())
            .find(|&i| schema.column(i).name() == name)
            .unwrap()
    };
    let rows: Vec<_> = reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get_string(idx("last_price")).unwrap(), "65000.01");
    assert_eq!(rows[1].get_string(idx("last_qty")).unwrap(), "0.00200000");
    assert_eq!(rows[1].get_string(idx("commission")).unwrap(), "0.00000100");
    assert_eq!(rows[1].get_long(idx("is_maker")).unwrap(), 1);
    assert_eq!(
        rows[0]
            .get_timestamp_millis(idx("transaction_time"))
            .unwrap(),
        1_795_262_400_001
    );
    let ex_csv = dir.path().join("executions.csv");
    assert_eq!(
        export(&db, ExportKind::Executions, &all, &ex_csv, Format::Csv),
        2
    );
    let mut reader = csv::Reader::from_path(&ex_csv).unwrap();
    let h = reader.headers().unwrap().clone();
    let price = h.iter().position(|c| c == "last_price").unwrap();
    let records: Vec<_> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(
        (&records[0][price], &records[1][price]),
        ("65000.01", "64999.99")
    );
}

#[tokio::test]
async fn empty_ranges_unwritable_paths_and_missing_tables() {
    let dir = common::tempdir();
    let (db, _) = seeded(dir.path()).await;
    let nothing = ExportFilter {
        symbol: Some("ETHUSDT".parse().unwrap()),
        ..Default::default()
    };
    // An empty range: valid files with the columns and no row.
    let pq = dir.path().join("empty.parquet");
    assert_eq!(
        export(&db, ExportKind::Klines, &nothing, &pq, Format::Parquet),
        0
    );
    let reader = read_parquet(&pq);
    assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    assert_eq!(
        reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .num_columns(),
        14
    );
    let csv_path = dir.path().join("empty.csv");
    assert_eq!(
        export(&db, ExportKind::Tickers, &nothing, &csv_path, Format::Csv),
        0
    );
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    assert_eq!(&reader.headers().unwrap()[2], "time");
    assert_eq!(reader.records().count(), 0);

    // A table this database lacks (one made before the futures tables): a clear error,
    // no file.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DROP TABLE mark_prices")
        .unwrap();
    let mark = dir.path().join("mark.csv");
    let e = export_to_file(&db, ExportKind::MarkPrices, &nothing, &mark, Format::Csv).unwrap_err();
    assert!(matches!(e, ExportError::NoTable("mark_prices")), "{e}");
    assert!(!mark.exists());

    // An unwritable path, through the command line: exit 1, a clear message, nothing left.
    let out = dir.path().join("no-such-dir").join("k.parquet");
    let output = common::tradebeat_command(dir.path())
        .args(["ctl", "export", "klines", "--database"])
        .arg(&db)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot write") && stderr.contains("k.parquet"),
        "{stderr}"
    );
    assert!(!out.parent().unwrap().exists());
    // The same export to a good path: exit 0, the format from the extension, no temp file.
    let good = dir.path().join("k.parquet");
    let output = common::tradebeat_command(dir.path())
        .args(["ctl", "export", "klines", "--interval", "1m", "--database"])
        .arg(&db)
        .arg("--out")
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        read_parquet(&good).metadata().file_metadata().num_rows(),
        CANDLES
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // --interval on anything but klines is refused.
    let e = export_to_file(
        &db,
        ExportKind::Orders,
        &ExportFilter {
            interval: Some(Interval::M1),
            ..Default::default()
        },
        &dir.path().join("o.csv"),
        Format::Csv,
    )
    .unwrap_err();
    assert!(matches!(e, ExportError::Filter(_)), "{e}");
}
