//! `tradebeat ctl export`: the database file, opened read-only, to a CSV or Parquet file
//! ([`crate::export`]). Needs no daemon. Exit 0 with the row count on stderr; 1 when the
//! export failed (nothing left at `--out`); 2 for bad usage or a config that does not load.

use std::path::PathBuf;

use super::Exit;
use crate::cli::{CtlArgs, ExportArgs, ExportFormat, ExportWhat};
use crate::export::{Format, export_to_file};
use crate::store::export::{ExportFilter, ExportKind};

/// Runs one export.
pub(super) fn run(args: &CtlArgs, export: &ExportArgs) -> Exit {
    let database: PathBuf = match &export.database {
        Some(path) => path.clone(),
        None => match crate::config::load(args.config.as_deref()) {
            Ok(config) => config.storage.database,
            Err(e) => {
                eprintln!("tradebeat: {e}");
                return Exit::Usage;
            }
        },
    };
    if let (Some(start), Some(end)) = (export.start, export.end)
        && start > end
    {
        eprintln!("tradebeat: --start ({start}) is after --end ({end})");
        return Exit::Usage;
    }
    let format = match export.format {
        Some(ExportFormat::Csv) => Format::Csv,
        Some(ExportFormat::Parquet) => Format::Parquet,
        None => match export.out.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq") => {
                Format::Parquet
            }
            _ => Format::Csv,
        },
    };
    let kind = match export.what {
        ExportWhat::Klines => ExportKind::Klines,
        ExportWhat::Tickers => ExportKind::Tickers,
        ExportWhat::Orders => ExportKind::Orders,
        ExportWhat::Executions => ExportKind::Executions,
        ExportWhat::MarkPrices => ExportKind::MarkPrices,
        ExportWhat::OpenInterest => ExportKind::OpenInterest,
    };
    let filter = ExportFilter {
        market: export.market,
        symbol: export.symbol.clone(),
        interval: export.interval,
        start: export.start,
        end: export.end,
    };
    match export_to_file(&database, kind, &filter, &export.out, format) {
        Ok(rows) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({ "rows": rows, "out": export.out.display().to_string() })
                );
            } else {
                eprintln!(
                    "tradebeat: {rows} row(s) written to {}",
                    export.out.display()
                );
            }
            Exit::Success
        }
        Err(e) => {
            eprintln!("tradebeat: export failed: {e}");
            Exit::Failed
        }
    }
}
