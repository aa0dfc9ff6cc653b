//! systemd service notifications (`sd_notify(3)`): READY, STATUS, WATCHDOG and STOPPING.
//!
//! Under `Type=notify` systemd passes a datagram socket in `NOTIFY_SOCKET` and, with
//! `WatchdogSec=`, the watchdog interval in `WATCHDOG_USEC`. Every function here is a
//! no-op when `NOTIFY_SOCKET` is unset (a terminal, a test, another supervisor), never
//! fails and never blocks: a notification that cannot be sent is logged once and dropped.
//!
//! Who sends what (systemd/tradebeat.service documents the unit side):
//!
//! - `READY=1`: the daemon, once the instance lock is held, the database is open and
//!   migrated, and the first exchange contact finished or [`crate::daemon`]'s bounded wait
//!   for it passed.
//! - `STATUS=`: the heartbeat after every beat ([`beat_status`]), and the daemon at start
//!   and stop.
//! - `WATCHDOG=1`: only the heartbeat loop ([`crate::heartbeat`]), from the end of the
//!   start-up beat on: every half interval while it waits for the next beat and right
//!   before and after each beat, never during one. A
//!   beat that runs longer than `WatchdogSec` (a hung heartbeat, not merely a live process)
//!   therefore gets the service killed and restarted by systemd.
//! - `STOPPING=1`: the daemon, as soon as a shutdown signal arrived.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::exchange::DEFAULT_MAX_RETRIES;
use crate::store::HeartbeatRow;

/// The longest error text a STATUS line carries, in characters (the whole error is in the
/// log and in `heartbeats.error`).
const MAX_STATUS_ERROR_CHARS: usize = 120;

/// Kline requests a beat keeps in flight at once (`market_data`'s concurrency), for
/// [`worst_case_beat`].
const BEAT_REQUEST_CONCURRENCY: usize = 8;

/// Backoff a request may sleep between its retries, in all (250 + 500 + 1000 ms, rounded
/// up), for [`worst_case_beat`].
const RETRY_BACKOFF_TOTAL: Duration = Duration::from_secs(2);

/// Beat times in STATUS lines: RFC 3339, UTC, seconds.
const STATUS_TIME: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Set after the first notification that could not be sent, so that a broken socket is
/// reported once rather than at every ping.
static SEND_FAILED: AtomicBool = AtomicBool::new(false);

/// `READY=1` with `STATUS=status`: start-up is complete (systemd's watchdog starts now).
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(&one_line(status))]);
}

/// `STATUS=text`: the one-line state `systemctl status tradebeat` shows.
pub fn status(text: &str) {
    send(&[NotifyState::Status(&one_line(text))]);
}

/// `WATCHDOG=1`: the heartbeat is alive. Only the heartbeat loop sends it.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// `STOPPING=1` with `STATUS=status`: the service is shutting down.
pub fn stopping(status: &str) {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status(&one_line(status)),
    ]);
}

/// The watchdog interval systemd expects `WATCHDOG=1` within (`WATCHDOG_USEC`, for this
/// process when `WATCHDOG_PID` is set), or `None` when there is no watchdog.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero())
}

/// How often to ping a watchdog of `interval` while idle: half of it, as `sd_watchdog_enabled(3)`
/// recommends.
pub fn ping_period(interval: Duration) -> Duration {
    (interval / 2).max(Duration::from_millis(1))
}

/// The STATUS line for a finished beat, e.g.
/// `last beat 2026-11-21T12:01:05Z ok: 2 symbols, 3 klines in 184 ms` or
/// `last beat 2026-11-21T12:01:05Z failed: 2 of 2 symbols; exchange not ready: …`.
/// The time is the beat's scheduled time (UTC); an error is cut to 120 characters.
pub fn beat_status(row: &HeartbeatRow) -> String {
    let when = format_ms(row.beat_time);
    let took = row.finished_at - row.started_at;
    let symbols = row.symbols_ok + row.symbols_failed;
    if row.symbols_failed == 0 && row.error.is_none() {
        return format!(
            "last beat {when} ok: {} symbols, {} klines in {took} ms",
            row.symbols_ok, row.klines_written
        );
    }
    let mut line = format!(
        "last beat {when} failed: {} of {symbols} symbols",
        row.symbols_failed
    );
    if let Some(error) = &row.error {
        line.push_str("; ");
        line.extend(error.chars().take(MAX_STATUS_ERROR_CHARS));
        if error.chars().count() > MAX_STATUS_ERROR_CHARS {
            line.push('…');
        }
    }
    line
}

/// The STATUS line for a beat that has run for `running` without finishing, while the
/// watchdog waits `watchdog` for the next ping.
pub fn stuck_status(beat_time: i64, running: Duration, watchdog: Duration) -> String {
    format!(
        "beat {} running for {} s; no watchdog ping until it finishes (WatchdogSec {} s)",
        format_ms(beat_time),
        running.as_secs(),
        watchdog.as_secs()
    )
}

/// The longest a beat of a healthy tradebeat can take when the exchange does not answer at
/// all: every request times out and is retried ([`DEFAULT_MAX_RETRIES`] times, with
/// backoff), and the beat's requests run one chain after the other: the clock sync,
/// `exchangeInfo`, then the klines of `series` symbol × interval pairs 8 at a time (the
/// ticker request runs beside them). Waiting for the next request-weight window (up to a
/// minute, only near the limit) comes on top. `WatchdogSec` should exceed this.
pub fn worst_case_beat(request_timeout: Duration, series: usize) -> Duration {
    let attempts = DEFAULT_MAX_RETRIES + 1;
    let chain = request_timeout * attempts + RETRY_BACKOFF_TOTAL;
    let waves = series.div_ceil(BEAT_REQUEST_CONCURRENCY).max(1);
    chain * u32::try_from(2 + waves).unwrap_or(u32::MAX)
}

/// `ms` (since the epoch, UTC) as `2026-11-21T12:01:05Z`, or the number if out of range.
fn format_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(STATUS_TIME).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// A STATUS value must be one line: each line of a notification is one assignment.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states)
        && !SEND_FAILED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(target: "tradebeat::daemon", %error,
            "cannot notify systemd (NOTIFY_SOCKET); further failures are not logged");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BeatTrigger;

    fn row(symbols_ok: u32, symbols_failed: u32, error: Option<&str>) -> HeartbeatRow {
        HeartbeatRow {
            // 2026-11-21 12:01:05 UTC.
            beat_time: 1_795_262_465_000,
            started_at: 1_795_262_465_010,
            finished_at: 1_795_262_465_194,
            symbols_ok,
            symbols_failed,
            klines_written: 3,
            skipped_before: 0,
            trigger: BeatTrigger::Schedule,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn beat_status_says_when_and_how_the_last_beat_went() {
        assert_eq!(
            beat_status(&row(2, 0, None)),
            "last beat 2026-11-21T12:01:05Z ok: 2 symbols, 3 klines in 184 ms"
        );
        assert_eq!(
            beat_status(&row(1, 1, Some("ETHUSDT: klines 1m: http 503"))),
            "last beat 2026-11-21T12:01:05Z failed: 1 of 2 symbols; ETHUSDT: klines 1m: http 503"
        );
        assert_eq!(
            one_line(&beat_status(&row(0, 2, Some("x\ny")))),
            "last beat 2026-11-21T12:01:05Z failed: 2 of 2 symbols; x y"
        );
        let long = "e".repeat(500);
        let line = beat_status(&row(0, 2, Some(&long)));
        assert!(line.ends_with(&format!("{}…", "e".repeat(120))), "{line}");
    }

    #[test]
    fn the_worst_case_beat_grows_with_the_timeout_and_the_series() {
        let ten = Duration::from_secs(10);
        // 4 attempts x 10 s + 2 s backoff = 42 s per chain; sync + exchangeInfo + 1 wave.
        assert_eq!(worst_case_beat(ten, 0), Duration::from_secs(3 * 42));
        assert_eq!(worst_case_beat(ten, 8), Duration::from_secs(3 * 42));
        assert_eq!(worst_case_beat(ten, 10), Duration::from_secs(4 * 42));
        assert_eq!(
            worst_case_beat(Duration::from_secs(1), 100),
            Duration::from_secs(15 * 6)
        );
        // The shipped unit's WatchdogSec=5min covers the defaults (2 symbols x 5 intervals).
        assert!(worst_case_beat(ten, 10) < Duration::from_secs(300));
    }
}
