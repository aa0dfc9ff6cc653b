//! `tradebeat ctl export`: rows of the database ([`crate::store::export`]) written to a
//! CSV or Parquet file, streamed (memory stays flat in the row count: CSV row by row,
//! Parquet in row groups of [`ROW_GROUP_ROWS`]), into a temporary file beside the output
//! that is renamed into place only once complete, so an error never leaves a partial
//! file.
//!
//! Parquet columns are typed: times as `INT64 TIMESTAMP(MILLIS, UTC)`, market prices and
//! volumes as `DOUBLE`, counts and ids as `INT64`, money of record (orders, executions)
//! and names as UTF-8 strings (decimal strings, exact). CSV writes the same columns with a
//! header line: times as integer ms, floats in their shortest exact form, empty for null.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type as SchemaType;

use crate::store::export::{
    Cell, ColumnKind, ExportColumn, ExportError, ExportFilter, ExportKind, RowSink, export_rows,
};

/// Rows per Parquet row group (the most rows held in memory at once).
pub const ROW_GROUP_ROWS: usize = 65_536;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

/// Exports `kind` from the database at `database` to `out` in `format`. Returns the
/// number of rows written. An empty selection writes a valid file with the columns and
/// no row.
///
/// # Errors
/// The export's (database, missing table, filter) and the output's (an unwritable
/// directory: nothing is left behind).
pub fn export_to_file(
    database: &Path,
    kind: ExportKind,
    filter: &ExportFilter,
    out: &Path,
    format: Format,
) -> Result<u64, ExportError> {
    let tmp = temp_path(out);
    let file = File::create(&tmp)
        .map_err(|e| ExportError::Sink(format!("cannot write {}: {e}", out.display())))?;
    let result = (|| {
        let rows = match format {
            Format::Csv => {
                let mut sink = CsvSink {
                    writer: csv::Writer::from_writer(BufWriter::new(file)),
                };
                let rows = export_rows(database, kind, filter, &mut sink)?;
                let inner = sink
                    .writer
                    .into_inner()
                    .map_err(|e| ExportError::Sink(e.to_string()))?;
                let file = inner
                    .into_inner()
                    .map_err(|e| ExportError::Sink(e.to_string()))?;
                file.sync_all()
                    .map_err(|e| ExportError::Sink(e.to_string()))?;
                rows
            }
            Format::Parquet => {
                let mut sink = ParquetSink {
                    file: Some(file),
                    writer: None,
                    columns: Vec::new(),
                    buffered: Vec::new(),
                    rows_buffered: 0,
                };
                let rows = export_rows(database, kind, filter, &mut sink)?;
                sink.finish().map_err(ExportError::Sink)?;
                rows
            }
        };
        std::fs::rename(&tmp, out)
            .map_err(|e| ExportError::Sink(format!("cannot write {}: {e}", out.display())))?;
        Ok(rows)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `out`'s temporary sibling: `.NAME.tmp-PID`.
fn temp_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    out.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

struct CsvSink {
    writer: csv::Writer<BufWriter<File>>,
}

impl RowSink for CsvSink {
    fn columns(&mut self, columns: &[ExportColumn]) -> Result<(), String> {
        self.writer
            .write_record(columns.iter().map(|c| c.name.as_str()))
            .map_err(|e| e.to_string())
    }

    fn row(&mut self, cells: &[Cell]) -> Result<(), String> {
        for c in cells {
            let field = match c {
                Cell::Null => String::new(),
                Cell::Int(i) => i.to_string(),
                Cell::Float(f) => f.to_string(),
                Cell::Text(t) => t.clone(),
            };
            self.writer.write_field(field).map_err(|e| e.to_string())?;
        }
        self.writer
            .write_record(None::<&[u8]>)
            .map_err(|e| e.to_string())
    }
}

/// One column's buffered values and definition levels (1 present, 0 null).
enum Buffer {
    Int(Vec<i64>, Vec<i16>),
    Float(Vec<f64>, Vec<i16>),
    Text(Vec<ByteArray>, Vec<i16>),
}

struct ParquetSink {
    file: Option<File>,
    writer: Option<SerializedFileWriter<File>>,
    columns: Vec<ExportColumn>,
    buffered: Vec<Buffer>,
    rows_buffered: usize,
}

fn schema(columns: &[ExportColumn]) -> Result<SchemaType, String> {
    let fields = columns
        .iter()
        .map(|c| {
            let (physical, logical) = match c.kind {
                ColumnKind::TimeMs => (
                    PhysicalType::INT64,
                    Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
                ),
                ColumnKind::Int => (PhysicalType::INT64, None),
                ColumnKind::Float => (PhysicalType::DOUBLE, None),
                ColumnKind::Text => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
            };
            let repetition = if c.nullable {
                Repetition::OPTIONAL
            } else {
                Repetition::REQUIRED
            };
            SchemaType::primitive_type_builder(&c.name, physical)
                .with_logical_type(logical)
                .with_repetition(repetition)
                .build()
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    SchemaType::group_type_builder("tradebeat")
        .with_fields(fields)
        .build()
        .map_err(|e| e.to_string())
}

impl ParquetSink {
    fn flush(&mut self) -> Result<(), String> {
        if self.rows_buffered == 0 {
            return Ok(());
        }
        let writer = self.writer.as_mut().ok_or("parquet writer not open")?;
        let mut group = writer.next_row_group().map_err(|e| e.to_string())?;
        for (buffer, column) in self.buffered.iter_mut().zip(&self.columns) {
            let mut w = group
                .next_column()
                .map_err(|e| e.to_string())?
                .ok_or("fewer parquet columns than buffered")?;
            let levels = |d: &[i16]| {
                if column.nullable {
                    Some(d.to_vec())
                } else {
                    None
                }
            };
            match buffer {
                Buffer::Int(v, d) => {
                    let d = levels(d);
                    w.typed::<Int64Type>()
                        .write_batch(v, d.as_deref(), None)
                        .map_err(|e| e.to_string())?;
                    v.clear();
                }
                Buffer::Float(v, d) => {
                    let d = levels(d);
                    w.typed::<DoubleType>()
                        .write_batch(v, d.as_deref(), None)
                        .map_err(|e| e.to_string())?;
                    v.clear();
                }
                Buffer::Text(v, d) => {
                    let d = levels(d);
                    w.typed::<ByteArrayType>()
                        .write_batch(v, d.as_deref(), None)
                        .map_err(|e| e.to_string())?;
                    v.clear();
                }
            }
            match buffer {
                Buffer::Int(_, d) | Buffer::Float(_, d) | Buffer::Text(_, d) => d.clear(),
            }
            w.close().map_err(|e| e.to_string())?;
        }
        group.close().map_err(|e| e.to_string())?;
        self.rows_buffered = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<(), String> {
        self.flush()?;
        let writer = self.writer.take().ok_or("parquet writer not open")?;
        let file = writer.into_inner().map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())
    }
}

impl RowSink for ParquetSink {
    fn columns(&mut self, columns: &[ExportColumn]) -> Result<(), String> {
        let schema = Arc::new(schema(columns)?);
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::UNCOMPRESSED)
                .build(),
        );
        let file = self.file.take().ok_or("parquet output already used")?;
        self.writer =
            Some(SerializedFileWriter::new(file, schema, props).map_err(|e| e.to_string())?);
        self.columns = columns.to_vec();
        self.buffered = columns
            .iter()
            .map(|c| match c.kind {
                ColumnKind::TimeMs | ColumnKind::Int => Buffer::Int(Vec::new(), Vec::new()),
                ColumnKind::Float => Buffer::Float(Vec::new(), Vec::new()),
                ColumnKind::Text => Buffer::Text(Vec::new(), Vec::new()),
            })
            .collect();
        Ok(())
    }

    fn row(&mut self, cells: &[Cell]) -> Result<(), String> {
        for ((buffer, cell), column) in self.buffered.iter_mut().zip(cells).zip(&self.columns) {
            let missing = || format!("column {} is null in a row but not nullable", column.name);
            match (buffer, cell) {
                (Buffer::Int(_, d) | Buffer::Float(_, d) | Buffer::Text(_, d), Cell::Null) => {
                    if !column.nullable {
                        return Err(missing());
                    }
                    d.push(0);
                }
                (Buffer::Int(v, d), Cell::Int(i)) => {
                    v.push(*i);
                    d.push(1);
                }
                (Buffer::Float(v, d), Cell::Float(f)) => {
                    v.push(*f);
                    d.push(1);
                }
                (Buffer::Text(v, d), Cell::Text(t)) => {
                    v.push(ByteArray::from(t.as_str()));
                    d.push(1);
                }
                (_, other) => {
                    return Err(format!(
                        "column {}: unexpected value {other:?}",
                        column.name
                    ));
                }
            }
        }
        self.rows_buffered += 1;
        if self.rows_buffered >= ROW_GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }
}
