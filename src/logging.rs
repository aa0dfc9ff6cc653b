//! Logging: one file per component under `logging.dir`, `tradebeat.log` with every event,
//! and stderr (journald under systemd), all in one line format:
//!
//! ```text
//! 2026-11-21T12:01:05.123456Z INFO heartbeat: beat finished beat_time=1795262465000 symbols_ok=2
//! ```
//!
//! RFC 3339 UTC time (µs), level, component, message, then the fields of the event and of
//! the spans it is in, as `key=value` (values with spaces, quotes or `=` are quoted and
//! escaped). One line per event, no colours.
//!
//! Values are plain (`quantity=0.001`), never the `Debug` of a wrapper: an optional field
//! is given as an `Option` of a tracing value (`price = price.map(tracing::field::display)`,
//! `order_id = row.order_id`), which records the value or leaves the field out, not as
//! `?option` (`price="Some(\"60000\")"`).
//!
//! - **Components.** An event's component comes from its target ([`component_of`]):
//!   `tradebeat::heartbeat` and `tradebeat::exchange::weight` belong to `heartbeat` and
//!   `exchange`, a bare target such as `target: "orders"` to `orders`, any other tradebeat
//!   module (config, the binary) to `daemon`. Events of other crates (reqwest, hyper …) go
//!   to `tradebeat.log` and stderr only. [`COMPONENTS`] lists the files.
//! - **Level.** `logging.level` for tradebeat's events, `warn` for other crates; the
//!   environment variable `RUST_LOG` (comma-separated `target=level` directives and an
//!   optional bare default level, e.g. `info,tradebeat::exchange=debug`; the
//!   `tracing_subscriber::filter::Targets` syntax) replaces both when set.
//! - **Rotation.** The current file is always `<dir>/<component>.log`. At the first write
//!   after local midnight (UTC on a typical server) it is renamed after the day before,
//!   `heartbeat.log.2026-11-20`: the day it covers when the daemon ran through midnight.
//!   The oldest files beyond `logging.max_files` per component (the current one included)
//!   are deleted.
//! - **Modes.** The directory, when created here, is 0700 and every log file tradebeat
//!   creates (rotation included) 0600, whatever the umask ([`crate::files`]).
//! - **Writers.** Each event is formatted once, on the thread that logs it, and handed to
//!   two background threads (`tracing_appender::non_blocking`): one writes the files, one
//!   stderr. Logging never blocks a task on the disk; a full queue drops the line. Keep the
//!   [`LogGuard`] until exit; dropping it flushes.

use std::fmt::{self, Write as _};
use std::path::Path;

use anyhow::Context as _;
use file_rotate::compression::Compression;
use file_rotate::suffix::{AppendTimestamp, DateFrom, FileLimit};
use file_rotate::{ContentLimit, FileRotate, TimeFrequency};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber};
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_subscriber::Registry;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LOG_LEVELS, LoggingConfig};

/// The components that have a log file of their own, `<dir>/<component>.log`. A new
/// module's events get a file by adding its name here.
pub const COMPONENTS: &[&str] = &[
    "heartbeat",
    "market_data",
    "exchange",
    "store",
    "backfill",
    "orders",
    "user_stream",
    "control",
    "daemon",
];

/// The crate's target prefix, and the name of the file with every event.
const CRATE: &str = "tradebeat";

/// The component of tradebeat's modules that are not in [`COMPONENTS`].
const FALLBACK: &str = "daemon";

/// The time at the start of each line: RFC 3339, UTC, microseconds, fixed width.
const TIMESTAMP: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Keeps the log writer threads running; dropping it flushes what they hold and stops them.
#[derive(Debug)]
#[must_use = "dropping the guard stops logging"]
pub struct LogGuard {
    _workers: Vec<WorkerGuard>,
}

/// The component an event with this target belongs to: `tradebeat::<component>[::…]` or a
/// bare `<component>` gives that component, any other `tradebeat::…` gives `daemon`, and a
/// foreign target gives its crate name (`hyper::client` → `hyper`), which is no component.
pub fn component_of(target: &str) -> &str {
    let mut path = target.split("::");
    let first = path.next().unwrap_or(target);
    if first != CRATE {
        return first;
    }
    match path.next() {
        Some(module) if COMPONENTS.contains(&module) => module,
        _ => FALLBACK,
    }
}

/// Installs the global subscriber: the files under `config.dir` (created when missing) and
/// stderr, at `config.level` or as `RUST_LOG` says.
///
/// # Errors
/// The directory or a file cannot be created, `RUST_LOG` or the level cannot be parsed, or
/// a global subscriber is already installed.
pub fn init(config: &LoggingConfig) -> anyhow::Result<LogGuard> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (subscriber, guard) = subscriber(config, rust_log.as_deref(), true)?;
    tracing::subscriber::set_global_default(subscriber)
        .context("a global tracing subscriber is already installed")?;
    Ok(guard)
}

/// The subscriber [`init`] installs, not installed, so that a test can use it with
/// `tracing::subscriber::with_default`. `rust_log` replaces `config.level` when it is set
/// and not blank; `stderr` adds the stderr output.
///
/// # Errors
/// As [`init`], except for the global subscriber.
pub fn subscriber(
    config: &LoggingConfig,
    rust_log: Option<&str>,
    stderr: bool,
) -> anyhow::Result<(impl Subscriber + Send + Sync + 'static, LogGuard)> {
    let filter = level_filter(&config.level, rust_log)?;
    let dir = std::path::absolute(&config.dir)
        .with_context(|| format!("cannot resolve log directory {}", config.dir.display()))?;
    crate::files::create_dir_all(&dir)
        .with_context(|| format!("cannot create log directory {}", dir.display()))?;
    crate::files::check_dir(&dir)?;

    let files = Files {
        components: COMPONENTS
            .iter()
            .map(|component| rotating_file(&dir, component, config.max_files))
            .collect::<anyhow::Result<_>>()?,
        all: rotating_file(&dir, CRATE, config.max_files)?,
    };
    let (files, files_worker) = non_blocking(files);
    let mut workers = vec![files_worker];
    // stderr (journald under systemd) on a thread of its own: should it stall, the files
    // do not.
    let stderr = stderr.then(|| {
        let (writer, worker) = non_blocking(std::io::stderr());
        workers.push(worker);
        writer
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .fmt_fields(LineFields)
        .event_format(LineFormat)
        .with_writer(Outputs { files, stderr });

    let subscriber = Registry::default().with(filter).with(layer);
    Ok((subscriber, LogGuard { _workers: workers }))
}

/// Where each formatted line goes: the files' thread (its component's file and
/// `tradebeat.log`) and the stderr thread. The line is formatted once, whatever the number
/// of outputs.
struct Outputs {
    files: NonBlocking,
    stderr: Option<NonBlocking>,
}

impl<'a> MakeWriter<'a> for Outputs {
    type Writer = Line<'a>;

    /// A line of no component: `tradebeat.log` and stderr.
    fn make_writer(&'a self) -> Line<'a> {
        Line {
            outputs: self,
            file: NO_COMPONENT,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line<'a> {
        let component = component_of(meta.target());
        let file = COMPONENTS
            .iter()
            .position(|c| *c == component)
            .and_then(|i| u8::try_from(i).ok())
            .unwrap_or(NO_COMPONENT);
        Line {
            outputs: self,
            file,
        }
    }
}

/// The index that names no component file.
const NO_COMPONENT: u8 = u8::MAX;

/// One event's writer: the formatter hands it the whole line in one write.
struct Line<'a> {
    outputs: &'a Outputs,
    /// The index of the component's file in [`COMPONENTS`], or [`NO_COMPONENT`].
    file: u8,
}

impl std::io::Write for Line<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut message = Vec::with_capacity(line.len() + 1);
        message.push(self.file);
        message.extend_from_slice(line);
        // Each is one message: a non-blocking writer queues it whole, or (full) drops it.
        self.outputs.files.make_writer().write_all(&message)?;
        if let Some(stderr) = &self.outputs.stderr {
            stderr.make_writer().write_all(line)?;
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log files, written by one thread. Each message is a component's index (one byte,
/// [`Line`]) and the line, written to that component's file, if any, and to
/// `tradebeat.log`.
struct Files {
    /// One per [`COMPONENTS`] entry, in its order.
    components: Vec<FileRotate<AppendTimestamp>>,
    /// `tradebeat.log`.
    all: FileRotate<AppendTimestamp>,
}

impl std::io::Write for Files {
    /// tracing-appender's worker hands over one whole message per call.
    fn write(&mut self, message: &[u8]) -> std::io::Result<usize> {
        let Some((&index, line)) = message.split_first() else {
            return Ok(0);
        };
        if let Some(file) = self.components.get_mut(usize::from(index)) {
            file.write_all(line)?;
        }
        self.all.write_all(line)?;
        Ok(message.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.components
            .iter_mut()
            .try_for_each(std::io::Write::flush)?;
        self.all.flush()
    }
}

/// Lines each writer thread queues before new ones are dropped (and counted by the
/// writer). The queue is allocated and touched whole when the writer starts, 32 bytes a
/// line: tracing-appender's default, 128 000, is about 4 MB. 4096 lines (128 KiB) hold
/// several times the biggest burst the daemon logs at `info` (one line per symbol
/// registered at start, a few hundred), and a thread drains its queue as fast as its
/// output takes the lines.
const QUEUED_LINES: usize = 4096;

/// A writer on its own thread, with a queue of [`QUEUED_LINES`].
fn non_blocking<W: std::io::Write + Send + 'static>(writer: W) -> (NonBlocking, WorkerGuard) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .finish(writer)
}

/// `rust_log` when set and not blank, else `level` for tradebeat's targets and `warn` (or
/// `error`, if that is the level) for everything else.
fn level_filter(level: &str, rust_log: Option<&str>) -> anyhow::Result<Targets> {
    if let Some(directives) = rust_log.filter(|d| !d.trim().is_empty()) {
        return directives
            .parse::<Targets>()
            .with_context(|| format!("invalid RUST_LOG {directives:?}"));
    }
    anyhow::ensure!(
        LOG_LEVELS.contains(&level),
        "invalid `logging.level` {level:?}: expected one of {}",
        LOG_LEVELS.join(", ")
    );
    let others = if level == "error" { "error" } else { "warn" };
    let mut directives = format!("{others},{CRATE}={level}");
    for component in COMPONENTS {
        let _ = write!(directives, ",{component}={level}");
    }
    directives
        .parse::<Targets>()
        .with_context(|| format!("invalid log filter {directives:?}"))
}

/// `<dir>/<name>.log`, rotated daily, at most `max_files` files kept, the current one
/// included. The file is opened once here, because `FileRotate` would silently drop every
/// line it cannot write. Strategies' stderr logs (`strategy-<slug>.log`) use it too.
///
/// # Errors
/// The file cannot be opened (or is a symbolic link).
pub fn rotating_file(
    dir: &Path,
    name: &str,
    max_files: usize,
) -> anyhow::Result<FileRotate<AppendTimestamp>> {
    let path = dir.join(format!("{name}.log"));
    // Every file FileRotate opens (this one, and the new one after each rotation) is
    // created 0600; a rotated file is renamed, so it keeps its mode.
    let mut options = crate::files::open_options();
    options.read(true).create(true).append(true);
    crate::files::open_nofollow(&options, &path)
        .with_context(|| format!("cannot open log file {}", path.display()))?;
    let suffix = AppendTimestamp::with_format(
        "%Y-%m-%d",
        FileLimit::MaxFiles(max_files.saturating_sub(1)),
        DateFrom::DateYesterday,
    );
    Ok(FileRotate::new(
        path,
        suffix,
        ContentLimit::Time(TimeFrequency::Daily),
        Compression::None,
        Some(options),
    ))
}

/// The event format: `TIME LEVEL component: message key=value …`, then the fields of the
/// event's spans, outermost first. Events of other crates show their whole target.
struct LineFormat;

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let time = OffsetDateTime::now_utc()
            .format(TIMESTAMP)
            .map_err(|_| fmt::Error)?;
        let component = component_of(meta.target());
        let label = if COMPONENTS.contains(&component) {
            component
        } else {
            meta.target()
        };
        write!(writer, "{time} {} {label}: ", meta.level())?;
        ctx.format_fields(writer.by_ref(), event)?;
        for span in ctx
            .event_scope()
            .into_iter()
            .flat_map(|scope| scope.from_root())
        {
            let extensions = span.extensions();
            if let Some(fields) = extensions.get::<FormattedFields<N>>()
                && !fields.is_empty()
            {
                write!(writer, " {fields}")?;
            }
        }
        writeln!(writer)
    }
}

/// The field format of events and spans: the message first, then `key=value` pairs.
struct LineFields;

impl<'w> FormatFields<'w> for LineFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'w>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = FieldVisitor::default();
        fields.record(&mut visitor);
        let gap = if visitor.message.is_empty() || visitor.pairs.is_empty() {
            ""
        } else {
            " "
        };
        write!(writer, "{}{gap}{}", visitor.message, visitor.pairs)
    }
}

/// Collects the message (newlines escaped, so that an event stays one line) and the other
/// fields as `key=value`, quoted and escaped when the value is empty or holds whitespace,
/// `"` or `=`.
#[derive(Default)]
struct FieldVisitor {
    message: String,
    pairs: String,
}

impl FieldVisitor {
    fn push(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.replace('\n', "\\n").replace('\r', "\\r");
            return;
        }
        if !self.pairs.is_empty() {
            self.pairs.push(' ');
        }
        let name = field.name().trim_start_matches("r#");
        let quote =
            value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == '"' || c == '=');
        let _ = if quote {
            write!(self.pairs, "{name}={value:?}")
        } else {
            write!(self.pairs, "{name}={value}")
        };
    }
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value);
    }

    /// An error with its chain of sources, `outer: inner: root`.
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        self.push(field, &text);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn components_come_from_targets() {
        let cases = [
            ("tradebeat::heartbeat", "heartbeat"),
            ("tradebeat::exchange::weight", "exchange"),
            ("tradebeat::user_stream", "user_stream"),
            ("orders", "orders"),
            ("tradebeat", "daemon"),
            ("tradebeat::config", "daemon"),
            ("hyper::client::pool", "hyper"),
            ("reqwest", "reqwest"),
        ];
        for (target, component) in cases {
            assert_eq!(component_of(target), component, "{target}");
        }
    }

    /// `2026-11-21T12:01:05.123456Z`, checked by shape.
    fn starts_with_timestamp(line: &str) -> bool {
        let shape = "dddd-dd-ddTdd:dd:dd.ddddddZ ";
        line.len() > shape.len()
            && shape.bytes().zip(line.bytes()).all(|(s, l)| match s {
                b'd' => l.is_ascii_digit(),
                _ => s == l,
            })
    }

    #[test]
    fn events_go_to_their_component_file_and_to_tradebeat_log() {
        let temp = tempfile::tempdir().unwrap();
        let config = LoggingConfig {
            dir: temp.path().join("logs"),
            level: "info".to_string(),
            max_files: 3,
        };
        let (subscriber, guard) = subscriber(&config, None, false).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "tradebeat::heartbeat", beat_time = 1_795_262_465_000_i64, symbols_ok = 2, "beat finished");
            tracing::warn!(target: "orders", client_order_id = "tb 1", reason = "", "order\nrejected");
            tracing::debug!(target: "tradebeat::exchange::weight", "below the level");
            tracing::info!(target: "hyper::client", "other crate below warn");
            tracing::warn!(target: "reqwest::connect", "other crate at warn");
            let error = std::io::Error::other("refused");
            let span =
                tracing::info_span!(target: "tradebeat::backfill", "job", symbol = "BTCUSDT");
            span.in_scope(|| tracing::error!(target: "tradebeat::backfill", error = &error as &dyn std::error::Error, "page failed"));
        });
        drop(guard);

        let read = |name: &str| fs::read_to_string(config.dir.join(format!("{name}.log"))).unwrap();
        let heartbeat = read("heartbeat");
        assert!(starts_with_timestamp(&heartbeat), "{heartbeat}");
        assert!(
            heartbeat
                .ends_with(" INFO heartbeat: beat finished beat_time=1795262465000 symbols_ok=2\n"),
            "{heartbeat}"
        );
        let orders = read("orders");
        assert!(
            orders
                .ends_with(" WARN orders: order\\nrejected client_order_id=\"tb 1\" reason=\"\"\n"),
            "{orders}"
        );
        let backfill = read("backfill");
        assert!(
            backfill.ends_with(" ERROR backfill: page failed error=refused symbol=BTCUSDT\n"),
            "{backfill}"
        );
        assert_eq!(read("exchange"), "");
        assert_eq!(read("daemon"), "");

        let all = read(CRATE);
        let lines: Vec<_> = all.lines().collect();
        assert_eq!(lines.len(), 4, "{all}");
        assert!(lines.iter().all(|l| starts_with_timestamp(l)), "{all}");
        assert!(lines[0].contains(" INFO heartbeat: beat finished"), "{all}");
        assert!(
            lines[2].contains(" WARN reqwest::connect: other crate at warn"),
            "{all}"
        );
        assert!(!all.contains("below"), "{all}");
        for component in COMPONENTS {
            assert!(
                config.dir.join(format!("{component}.log")).is_file(),
                "{component}"
            );
        }
    }

    #[test]
    fn a_file_from_an_earlier_day_is_rotated_and_old_ones_deleted() {
        let temp = tempfile::tempdir().unwrap();
        let config = LoggingConfig {
            dir: temp.path().to_path_buf(),
            level: "info".to_string(),
            max_files: 2,
        };
        let current = config.dir.join("heartbeat.log");
        fs::write(&current, "old\n").unwrap();
        let two_days_ago =
            std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
        fs::File::options()
            .write(true)
            .open(&current)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
        for old in ["heartbeat.log.2020-01-01", "heartbeat.log.2020-01-02"] {
            fs::write(config.dir.join(old), "older\n").unwrap();
        }

        let (subscriber, guard) = subscriber(&config, None, false).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "tradebeat::heartbeat", "new day");
        });
        drop(guard);

        assert!(
            fs::read_to_string(&current)
                .unwrap()
                .ends_with(" INFO heartbeat: new day\n")
        );
        let rotated: Vec<_> = fs::read_dir(&config.dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with("heartbeat.log."))
            .collect();
        assert_eq!(rotated.len(), 1, "{rotated:?}");
        assert!(!rotated[0].contains("2020"), "{rotated:?}");
        assert_eq!(
            fs::read_to_string(config.dir.join(&rotated[0])).unwrap(),
            "old\n"
        );
    }

    #[test]
    fn rust_log_replaces_the_level() {
        let filter = level_filter("info", Some("tradebeat::exchange=debug")).unwrap();
        assert_eq!(filter.to_string(), "tradebeat::exchange=debug");
        assert!(
            level_filter("info", Some("  "))
                .unwrap()
                .to_string()
                .contains("tradebeat=info")
        );
        assert!(level_filter("info", Some("tradebeat=[")).is_err());
        assert!(level_filter("loud", None).is_err());
    }
}
