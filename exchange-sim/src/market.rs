//! Replay of the recorded 1m series onto wall-clock time: klines of every interval,
//! the still-open partial candle, 24h statistics and exchange information.
//!
//! # Time mapping
//!
//! A recorded series has `N` rows starting at minute `R0`. The candle of wall-clock minute
//! `t` (its open time in minutes since the epoch) shows recorded row
//!
//! ```text
//! row(t) = ((t - R0) + SHIFT_MINUTES + phase).rem_euclid(N)
//! ```
//!
//! where `phase` is 0 for the real symbols (see [`Market::new`] for the benchmark clones).
//! [`SHIFT_MINUTES`] = −332 640 (−231 days = −33 weeks) maps wall-clock
//! 2026-11-21 00:00 UTC ([`MAP_ANCHOR_MS`]) onto the recorded minute 2026-04-04 00:00 UTC
//! ([`RECORDED_ANCHOR_MS`]). Because the shift is a whole number of weeks, weekday and
//! time-of-day seasonality line up with the wall clock, and because it is one constant for
//! every symbol the five series stay aligned with each other (cross-asset correlation is
//! real). The recording wraps ("the seam", a price jump) every `N` minutes; around the
//! anchor the seams fall on 2026-11-09 ≈12:09 and 2026-12-09 ≈12:08 UTC, i.e. 11.5 days
//! before and 18.5 days after 2026-11-21, far outside ±3 days (a unit test checks this).
//!
//! Every minute, past and future, has data (before [`LISTING_MS`] nothing is served, like a
//! symbol that is not listed yet), and restarting the simulator serves identical data.
//!
//! # Kline values (Binance "Kline/Candlestick data", `GET /api/v3/klines`)
//!
//! * A closed 1m candle serves the recorded open/high/low/close/volume *strings* verbatim.
//! * Synthetic fields: quote volume = volume × (high + low + close) / 3, trades =
//!   ⌈quote volume / 1000⌉ (per minute, see [`crate::data::synthetic`]); taker buy base =
//!   volume / 2 and taker buy quote = quote volume / 2 (truncated to 8 decimals); the last
//!   field ("ignore") is `"0"`. Derived decimals are written with 8 decimals.
//! * Higher intervals aggregate the 1m candles: first open, last close, max high, min low
//!   (recorded strings), summed volume / quote volume / trades (8 decimals), taker fields
//!   recomputed from the sums. Every `GET /api/v3/klines` interval but `1s` is served.
//!   Weekly candles open on Mondays 00:00 UTC, 3d candles every three days from
//!   1970-01-02 (as Binance's do), monthly ones (`1M`) on the first of each calendar month
//!   (28 to 31 days of minutes), others at multiples of their length since the epoch.
//! * The candle containing "now" is partial: closed minutes plus the current minute as of
//!   now, with `f = elapsed / 60 s`: open = recorded open, close = open + (close − open)·f
//!   rounded to the tick size, high/low = max/min(open, close), volume = volume·f.
//! * Halted minutes ([`Gaps`]) are left out; a candle with no minute left is not served.

use std::{borrow::Cow, collections::HashMap};

use serde::Serialize;
use serde_json::Value;

use crate::{
    data::{self, MINUTE_MS, RowRun, Series, Sums, synthetic},
    decimal::{
        SCALE, div_round, format_units, parse_units, round_to_tick, write_digits, write_units,
    },
};

/// Wall-clock time (2026-11-21T00:00:00Z, ms) that shows [`RECORDED_ANCHOR_MS`].
pub const MAP_ANCHOR_MS: i64 = 1_795_219_200_000;

/// Recorded minute (2026-04-04T00:00:00Z, ms) shown at [`MAP_ANCHOR_MS`].
pub const RECORDED_ANCHOR_MS: i64 = 1_775_260_800_000;

/// The replay shift in minutes: `row(t) = ((t - R0) + SHIFT_MINUTES).rem_euclid(N)`.
/// Equals −332 640 minutes = −231 days = −33 whole weeks.
pub const SHIFT_MINUTES: i64 = (RECORDED_ANCHOR_MS - MAP_ANCHOR_MS) / MINUTE_MS;

/// Synthetic listing time of every symbol (2017-08-17T04:00:00Z, the first BTCUSDT kline on
/// Binance). Klines opening before it are not served, so `startTime=0` behaves as on Binance.
pub const LISTING_MS: i64 = 1_502_942_400_000;

/// Quantity served for the synthetic `lastQty`, `bidQty` and `askQty` (1.0, in `1e-8` units).
pub(crate) const SYNTHETIC_QTY: i64 = SCALE;

/// Symbol whose exchange-info entry and data the benchmark clones copy.
const CLONE_TEMPLATE: &str = "BTCUSDT";

/// Length of the rolling 24h ticker window in minutes.
const DAY_MINUTES: i64 = 1440;

/// A kline interval supported by `GET /api/v3/klines` (case-sensitive names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interval {
    name: &'static str,
    grid: Grid,
}

/// Where an interval's candles open (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grid {
    /// Every `minutes` from `anchor_days` days after the epoch, both ways.
    Fixed { minutes: i64, anchor_days: i64 },
    /// The first of every calendar month, 00:00.
    Month,
}

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// Month numbers (0 is 1970-01) of the first and last month the `time` crate represents.
const FIRST_MONTH: i64 = (-9999 - 1970) * 12;
const LAST_MONTH: i64 = (9999 - 1970) * 12 + 11;

/// The number of the calendar month containing `t` (ms), 0 being 1970-01.
fn month_of(t: i64) -> i64 {
    match time::OffsetDateTime::from_unix_timestamp(t.div_euclid(1000)) {
        Ok(t) => (i64::from(t.year()) - 1970) * 12 + i64::from(u8::from(t.month())) - 1,
        Err(_) if t < 0 => FIRST_MONTH,
        Err(_) => LAST_MONTH,
    }
}

/// 00:00 UTC on the first day of month number `month` (0 being 1970-01), in ms.
fn month_start(month: i64) -> i64 {
    let month = month.clamp(FIRST_MONTH, LAST_MONTH);
    i32::try_from(1970 + month.div_euclid(12))
        .ok()
        .zip(u8::try_from(month.rem_euclid(12) + 1).ok())
        .and_then(|(year, m)| {
            time::Date::from_calendar_date(year, time::Month::try_from(m).ok()?, 1).ok()
        })
        .map_or(i64::MAX, |d| {
            d.midnight()
                .assume_utc()
                .unix_timestamp()
                .saturating_mul(1000)
        })
}

impl Interval {
    /// The supported intervals, shortest first: every `GET /api/v3/klines` interval but
    /// `1s`.
    pub(crate) const ALL: [Interval; 15] = [
        Interval::fixed("1m", 1),
        Interval::fixed("3m", 3),
        Interval::fixed("5m", 5),
        Interval::fixed("15m", 15),
        Interval::fixed("30m", 30),
        Interval::fixed("1h", 60),
        Interval::fixed("2h", 120),
        Interval::fixed("4h", 240),
        Interval::fixed("6h", 360),
        Interval::fixed("8h", 480),
        Interval::fixed("12h", 720),
        Interval::fixed("1d", 1440),
        // Binance's 3d candles open every three days from 1970-01-02 (BTCUSDT's first ones
        // on 2017-08-17 and 2017-08-20).
        Interval::anchored("3d", 3 * 1440, 1),
        // Weekly candles open on Mondays; 1970-01-05 was the first.
        Interval::anchored("1w", 7 * 1440, 4),
        Interval {
            name: "1M",
            grid: Grid::Month,
        },
    ];

    /// One minute.
    pub(crate) const MINUTE: Interval = Interval::ALL[0];

    const fn fixed(name: &'static str, minutes: i64) -> Interval {
        Interval::anchored(name, minutes, 0)
    }

    const fn anchored(name: &'static str, minutes: i64, anchor_days: i64) -> Interval {
        Interval {
            name,
            grid: Grid::Fixed {
                minutes,
                anchor_days,
            },
        }
    }

    /// Looks up an interval by its Binance name (`"1m"`, `"1h"`, `"1M"` …; case-sensitive).
    pub(crate) fn parse(name: &str) -> Option<Interval> {
        Interval::ALL.into_iter().find(|i| i.name == name)
    }

    /// Open time of the candle containing `t`.
    pub(crate) fn align_down(self, t: i64) -> i64 {
        match self.grid {
            Grid::Fixed {
                minutes,
                anchor_days,
            } => {
                let (length, anchor) = (minutes * MINUTE_MS, anchor_days * DAY_MS);
                anchor + (t - anchor).div_euclid(length) * length
            }
            Grid::Month => month_start(month_of(t)),
        }
    }

    /// Smallest candle open time `>= t`.
    pub(crate) fn align_up(self, t: i64) -> i64 {
        let down = self.align_down(t);
        if down == t { t } else { self.next_open(down) }
    }

    /// Open time of the candle after the one containing `t`.
    pub(crate) fn next_open(self, t: i64) -> i64 {
        match self.grid {
            Grid::Fixed { minutes, .. } => self.align_down(t) + minutes * MINUTE_MS,
            Grid::Month => month_start(month_of(t) + 1),
        }
    }

    /// Open time of the candle before the one containing `t`.
    pub(crate) fn prev_open(self, t: i64) -> i64 {
        match self.grid {
            Grid::Fixed { minutes, .. } => self.align_down(t) - minutes * MINUTE_MS,
            Grid::Month => month_start(month_of(t) - 1),
        }
    }

    /// Minutes in the candle opening at `open` (28 to 31 days' worth for `1M`).
    pub(crate) fn minutes_at(self, open: i64) -> i64 {
        (self.next_open(open) - open) / MINUTE_MS
    }
}

/// A decimal as served: exact value in `1e-8` units, and the recorded CSV text for
/// recorded values (computed ones are served with 8 decimals, formatted when written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dec {
    pub units: i128,
    recorded: Option<&'static str>,
}

impl Dec {
    fn recorded(units: i64, text: &'static str) -> Dec {
        Dec {
            units: i128::from(units),
            recorded: Some(text),
        }
    }

    pub(crate) fn computed(units: i128) -> Dec {
        Dec {
            units,
            recorded: None,
        }
    }

    /// The wire text: the recorded text, or 8 decimals.
    pub(crate) fn text(&self) -> Cow<'static, str> {
        match self.recorded {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(format_units(self.units)),
        }
    }

    /// Appends the wire text to `out` (no allocation for a computed value that fits in 64
    /// bits, which every served one does).
    fn write_text(&self, out: &mut String) {
        match self.recorded {
            Some(text) => out.push_str(text),
            None => write_units(out, self.units),
        }
    }

    /// The text as a client parses it.
    pub(crate) fn to_f64(&self) -> f64 {
        self.text().parse().unwrap_or(f64::NAN)
    }
}

/// One kline as served by `GET /api/v3/klines`.
#[derive(Clone, Debug)]
pub(crate) struct Candle {
    pub open_time: i64,
    pub close_time: i64,
    pub open: Dec,
    pub high: Dec,
    pub low: Dec,
    pub close: Dec,
    pub volume: Dec,
    pub quote_volume: Dec,
    pub trades: u64,
    pub taker_buy_base: Dec,
    pub taker_buy_quote: Dec,
}

impl Candle {
    /// Appends the Binance 12-element array:
    /// `[openTime,"open","high","low","close","volume",closeTime,"quoteVolume",trades,
    /// "takerBuyBase","takerBuyQuote","0"]`.
    pub(crate) fn write_json(&self, out: &mut String) {
        use std::fmt::Write as _;
        // Pieces pushed one by one: one `write!` with eleven arguments goes through the
        // formatting machinery for every field, and this runs for every candle served.
        let quoted = |out: &mut String, dec: &Dec| {
            out.push_str(",\"");
            dec.write_text(out);
            out.push('"');
        };
        let int = |out: &mut String, v: i64| match u64::try_from(v) {
            Ok(v) => write_digits(out, v, 1),
            Err(_) => {
                let _ = write!(out, "{v}");
            }
        };
        out.push('[');
        int(out, self.open_time);
        quoted(out, &self.open);
        quoted(out, &self.high);
        quoted(out, &self.low);
        quoted(out, &self.close);
        quoted(out, &self.volume);
        out.push(',');
        int(out, self.close_time);
        quoted(out, &self.quote_volume);
        out.push(',');
        write_digits(out, self.trades, 1);
        quoted(out, &self.taker_buy_base);
        quoted(out, &self.taker_buy_quote);
        out.push_str(",\"0\"]");
    }
}

/// Minute ranges (inclusive, in minutes since the epoch) that serve no klines: halted
/// markets added with [`crate::SimHandle::add_gap`], plus the time before listing.
/// Kept sorted and merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Gaps {
    ranges: Vec<(i64, i64)>,
}

impl Gaps {
    /// Blocks the minutes whose open time lies in `[start_ms, end_ms]`.
    pub(crate) fn add_ms(&mut self, start_ms: i64, end_ms: i64) {
        let first = start_ms.div_euclid(MINUTE_MS) + i64::from(start_ms.rem_euclid(MINUTE_MS) != 0);
        let last = end_ms.div_euclid(MINUTE_MS);
        self.add_minutes(first, last);
    }

    fn add_minutes(&mut self, first: i64, last: i64) {
        if first > last {
            return;
        }
        self.ranges.push((first, last));
        self.ranges.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(self.ranges.len());
        for &(a, b) in &self.ranges {
            match merged.last_mut() {
                Some(prev) if a <= prev.1.saturating_add(1) => prev.1 = prev.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.ranges = merged;
    }

    fn contains(&self, minute: i64) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= minute && minute <= b)
    }

    /// First unblocked minute `>= minute`, if any.
    fn next_open(&self, mut minute: i64) -> Option<i64> {
        for &(a, b) in &self.ranges {
            if a <= minute && minute <= b {
                minute = b.checked_add(1)?;
            }
        }
        Some(minute)
    }

    /// Last unblocked minute `<= minute`, if any.
    fn prev_open(&self, mut minute: i64) -> Option<i64> {
        for &(a, b) in self.ranges.iter().rev() {
            if a <= minute && minute <= b {
                minute = a.checked_sub(1)?;
            }
        }
        Some(minute)
    }

    /// The unblocked sub-ranges of `[lo, hi]`, chronologically.
    fn segments(&self, lo: i64, hi: i64) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut cursor = lo;
        for &(a, b) in &self.ranges {
            if cursor > hi {
                break;
            }
            if b < cursor {
                continue;
            }
            if a > cursor {
                out.push((cursor, (a - 1).min(hi)));
            }
            cursor = match b.checked_add(1) {
                Some(c) => c,
                None => return out,
            };
        }
        if cursor <= hi {
            out.push((cursor, hi));
        }
        out
    }
}

/// Values of a run of consecutive minutes, chronological.
struct Piece {
    open: Dec,
    high: Dec,
    low: Dec,
    close: Dec,
    sums: Sums,
    minutes: u64,
    /// The recorded volume text when the piece is exactly one closed recorded minute.
    recorded_volume: Option<Dec>,
}

/// Folds pieces into one candle.
#[derive(Default)]
struct Accumulator {
    open: Option<Dec>,
    high: Option<Dec>,
    low: Option<Dec>,
    close: Option<Dec>,
    sums: Sums,
    minutes: u64,
    recorded_volume: Option<Dec>,
}

impl Accumulator {
    fn push(&mut self, piece: Piece) {
        self.open.get_or_insert(piece.open);
        if self
            .high
            .as_ref()
            .is_none_or(|h| piece.high.units > h.units)
        {
            self.high = Some(piece.high);
        }
        if self.low.as_ref().is_none_or(|l| piece.low.units < l.units) {
            self.low = Some(piece.low);
        }
        self.close = Some(piece.close);
        self.sums = self.sums.add(piece.sums);
        self.recorded_volume = if self.minutes == 0 {
            piece.recorded_volume
        } else {
            None
        };
        self.minutes += piece.minutes;
    }

    fn finish(self, open_time: i64, close_time: i64) -> Option<Candle> {
        let volume = match self.recorded_volume {
            Some(v) if self.minutes == 1 => v,
            _ => Dec::computed(self.sums.volume),
        };
        Some(Candle {
            open_time,
            close_time,
            open: self.open?,
            high: self.high?,
            low: self.low?,
            close: self.close?,
            volume,
            quote_volume: Dec::computed(self.sums.quote_volume),
            trades: self.sums.trades,
            taker_buy_base: Dec::computed(self.sums.volume / 2),
            taker_buy_quote: Dec::computed(self.sums.quote_volume / 2),
        })
    }
}

/// Rolling 24h statistics (`GET /api/v3/ticker/24hr`), all decimals in `1e-8` units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DayStats {
    pub open: i128,
    pub high: i128,
    pub low: i128,
    pub last: i128,
    pub prev_close: i128,
    pub volume: i128,
    pub quote_volume: i128,
    pub open_time: i64,
    pub close_time: i64,
    pub first_id: i64,
    pub last_id: i64,
    pub count: u64,
}

/// A tradable symbol: its exchange-info entry and (if recorded) its replayed data.
#[derive(Debug)]
pub(crate) struct Instrument {
    /// Symbol name, e.g. `BTCUSDT`.
    pub name: String,
    /// The `symbols[]` entry of exchange information.
    pub info: Value,
    series: Option<&'static Series>,
    /// Extra replay offset in minutes (benchmark clones).
    phase_min: i64,
    /// `PRICE_FILTER.tickSize` in `1e-8` units.
    pub tick: i64,
}

impl Instrument {
    /// Whether klines/tickers have data (the recorded symbols and their clones).
    pub(crate) fn has_data(&self) -> bool {
        self.series.is_some()
    }

    /// Recorded row shown at wall-clock minute `minute`.
    fn row_of(&self, series: &Series, minute: i64) -> usize {
        let n = series.len() as i64;
        let offset = minute - series.first_open_min + SHIFT_MINUTES + self.phase_min;
        offset.rem_euclid(n) as usize
    }

    /// The closed minutes `first..first + count` (`count > 0`).
    fn closed_piece(&self, series: &Series, first: i64, count: u64) -> Piece {
        let run: RowRun = series.aggregate(self.row_of(series, first), count);
        // A row's text is cut out of its CSV line on every call: a run of one minute
        // (every 1m candle served) reads it once.
        let first_text = series.text(run.first);
        let field = |index: usize| {
            let text = if index == run.first {
                first_text
            } else {
                series.text(index)
            };
            (series.row(index), text)
        };
        let (first_row, first_text) = field(run.first);
        let (last_row, last_text) = field(run.last);
        let (high_row, high_text) = field(run.high);
        let (low_row, low_text) = field(run.low);
        Piece {
            open: Dec::recorded(first_row.open, first_text.open),
            high: Dec::recorded(high_row.high, high_text.high),
            low: Dec::recorded(low_row.low, low_text.low),
            close: Dec::recorded(last_row.close, last_text.close),
            sums: run.sums,
            minutes: count,
            recorded_volume: (count == 1)
                .then(|| Dec::recorded(first_row.volume, first_text.volume)),
        }
    }

    /// Minute `minute` as of `elapsed_ms` (0..60 000) after its open.
    fn partial_piece(&self, series: &Series, minute: i64, elapsed_ms: i64) -> Piece {
        let index = self.row_of(series, minute);
        let (row, text) = (series.row(index), series.text(index));
        let elapsed = i128::from(elapsed_ms.clamp(0, MINUTE_MS - 1));
        let minute_ms = i128::from(MINUTE_MS);
        let open = i128::from(row.open);
        let moved = div_round((i128::from(row.close) - open) * elapsed, minute_ms);
        let close_units = round_to_tick(open + moved, self.tick).max(0);
        let open_dec = Dec::recorded(row.open, text.open);
        let close_dec = Dec::computed(close_units);
        let (high, low) = if close_units > open {
            (close_dec.clone(), open_dec.clone())
        } else if close_units < open {
            (open_dec.clone(), close_dec.clone())
        } else {
            (open_dec.clone(), open_dec.clone())
        };
        let volume = i128::from(row.volume) * elapsed / minute_ms;
        let to_i64 = |v: i128| i64::try_from(v).unwrap_or(i64::MAX);
        let (quote_volume, trades) = synthetic(
            to_i64(volume),
            to_i64(high.units),
            to_i64(low.units),
            to_i64(close_units),
        );
        Piece {
            open: open_dec,
            high,
            low,
            close: close_dec,
            sums: Sums {
                volume,
                quote_volume: i128::from(quote_volume),
                trades,
            },
            minutes: 1,
            recorded_volume: None,
        }
    }

    /// `gaps` plus the time before listing.
    pub(crate) fn blocked(&self, gaps: Option<&Gaps>) -> Gaps {
        let mut blocked = gaps.cloned().unwrap_or_default();
        blocked.add_minutes(i64::MIN, LISTING_MS / MINUTE_MS - 1);
        blocked
    }

    /// The candle opening at `open_time` (must be aligned to `interval`).
    ///
    /// With `now = Some(t)` it is the candle as served at server time `t` (partial if it
    /// contains `t`, `None` if it opens after `t`); with `now = None` it is the final,
    /// closed candle. `None` as well when no minute of it is available (no data, halted,
    /// before listing).
    pub(crate) fn candle(
        &self,
        interval: Interval,
        open_time: i64,
        now: Option<i64>,
        blocked: &Gaps,
    ) -> Option<Candle> {
        let series = self.series?;
        let first = open_time.div_euclid(MINUTE_MS);
        let last = first + interval.minutes_at(open_time) - 1;
        let (closed_last, partial) = match now {
            None => (last, None),
            Some(now) => {
                let now_min = now.div_euclid(MINUTE_MS);
                if first > now_min {
                    return None;
                }
                if last < now_min {
                    (last, None)
                } else {
                    (now_min - 1, Some((now_min, now - now_min * MINUTE_MS)))
                }
            }
        };
        let mut acc = Accumulator::default();
        if first <= closed_last {
            for (a, b) in blocked.segments(first, closed_last) {
                acc.push(self.closed_piece(series, a, (b - a + 1) as u64));
            }
        }
        if let Some((minute, elapsed)) = partial
            && !blocked.contains(minute)
        {
            acc.push(self.partial_piece(series, minute, elapsed));
        }
        acc.finish(open_time, interval.next_open(open_time) - 1)
    }

    /// `GET /api/v3/klines` selection at server time `now`, chronological:
    ///
    /// * `start` given: the first `limit` candles with `start <= open_time <= min(end, now)`;
    /// * otherwise: the last `limit` candles with `open_time <= min(end, now)` (the latest
    ///   being the still-open one when no `end` is given).
    pub(crate) fn klines(
        &self,
        interval: Interval,
        start: Option<i64>,
        end: Option<i64>,
        limit: usize,
        now: i64,
        blocked: &Gaps,
    ) -> Vec<Candle> {
        let mut out = Vec::new();
        if self.series.is_none() || limit == 0 {
            return out;
        }
        let upper = end.map_or(now, |e| e.min(now));
        let last_open = interval.align_down(upper);
        match start {
            Some(start) => {
                if start > upper {
                    return out;
                }
                let mut open = interval.align_up(start);
                while open <= last_open && out.len() < limit {
                    if let Some(candle) = self.candle(interval, open, Some(now), blocked) {
                        out.push(candle);
                        open = interval.next_open(open);
                        continue;
                    }
                    // Fully halted / unlisted: jump to the candle of the next open minute.
                    match blocked.next_open(open.div_euclid(MINUTE_MS)) {
                        Some(minute) => {
                            open = interval
                                .align_down(minute * MINUTE_MS)
                                .max(interval.next_open(open))
                        }
                        None => break,
                    }
                }
            }
            None => {
                let mut open = last_open;
                while out.len() < limit {
                    if let Some(candle) = self.candle(interval, open, Some(now), blocked) {
                        out.push(candle);
                        open = interval.prev_open(open);
                        continue;
                    }
                    match blocked.prev_open(interval.next_open(open).div_euclid(MINUTE_MS) - 1) {
                        Some(minute) => {
                            open = interval
                                .align_down(minute * MINUTE_MS)
                                .min(interval.prev_open(open))
                        }
                        None => break,
                    }
                }
                out.reverse();
            }
        }
        out
    }

    /// Rolling 24h statistics at server time `now` over the 1440 1m candles ending with the
    /// current (partial) one; `None` for symbols without data. Halts are ignored here.
    ///
    /// Trade ids are deterministic: the id of a minute's first trade is the number of
    /// synthetic trades since [`LISTING_MS`].
    pub(crate) fn day_stats(&self, now: i64) -> Option<DayStats> {
        let series = self.series?;
        let now_min = now.div_euclid(MINUTE_MS);
        let first = now_min - (DAY_MINUTES - 1);
        let closed = self.closed_piece(series, first, (DAY_MINUTES - 1) as u64);
        let partial = self.partial_piece(series, now_min, now - now_min * MINUTE_MS);
        let prev_close = series.row(self.row_of(series, first - 1)).close;
        let sums = closed.sums.add(partial.sums);
        let first_id = i64::try_from(self.trades_before(series, first)).unwrap_or(i64::MAX);
        let count = sums.trades;
        let (first_id, last_id) = if count == 0 {
            (-1, -1)
        } else {
            let count = i64::try_from(count).unwrap_or(i64::MAX);
            (first_id, first_id.saturating_add(count - 1))
        };
        Some(DayStats {
            open: closed.open.units,
            high: closed.high.units.max(partial.high.units),
            low: closed.low.units.min(partial.low.units),
            last: partial.close.units,
            prev_close: i128::from(prev_close),
            volume: sums.volume,
            quote_volume: sums.quote_volume,
            open_time: first * MINUTE_MS,
            close_time: now,
            first_id,
            last_id,
            count,
        })
    }

    /// Synthetic trades in the minutes `[listing, minute)`.
    fn trades_before(&self, series: &Series, minute: i64) -> u64 {
        let listing = LISTING_MS / MINUTE_MS;
        if minute <= listing {
            return 0;
        }
        series
            .aggregate(self.row_of(series, listing), (minute - listing) as u64)
            .sums
            .trades
    }
}

/// The top-level shape of `GET /api/v3/exchangeInfo`, in Binance's field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExchangeInfo<'a> {
    timezone: &'a Value,
    server_time: i64,
    pub(crate) rate_limits: Vec<Value>,
    exchange_filters: &'a Value,
    pub(crate) symbols: Vec<Value>,
}

/// All symbols the simulator lists, in exchange-information order.
#[derive(Debug)]
pub(crate) struct Market {
    instruments: Vec<Instrument>,
    index: HashMap<String, usize>,
}

/// Name of benchmark clone `i` (1-based): `SIM001USDT`, `SIM002USDT`, …
pub(crate) fn clone_name(i: usize) -> String {
    format!("SIM{i:03}USDT")
}

impl Market {
    /// The recorded symbols plus `extra_symbols` benchmark clones of BTCUSDT.
    ///
    /// Clone `i` (1-based) is named [`clone_name`]`(i)`, lists BTCUSDT's exchange-info entry
    /// with `symbol`/`baseAsset` renamed, and replays BTCUSDT's data shifted by
    /// `1 + (i - 1) % 23` hours, so clones are not all identical while their seams stay within
    /// a day of BTCUSDT's.
    pub(crate) fn new(extra_symbols: usize) -> Market {
        let recorded = data::recorded();
        let entries = data::exchange_info()["symbols"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut instruments: Vec<Instrument> = entries
            .into_iter()
            .map(|info| {
                let name = info["symbol"].as_str().unwrap_or_default().to_owned();
                let series = recorded.iter().find(|s| s.symbol == name);
                Instrument {
                    tick: tick_size(&info),
                    name,
                    info,
                    series,
                    phase_min: 0,
                }
            })
            .collect();
        let template = instruments
            .iter()
            .find(|i| i.name == CLONE_TEMPLATE)
            .map(|t| (t.info.clone(), t.series, t.tick));
        if let Some((info, series, tick)) = template {
            for i in 1..=extra_symbols {
                let name = clone_name(i);
                let mut info = info.clone();
                info["symbol"] = Value::from(name.as_str());
                info["baseAsset"] = Value::from(name.trim_end_matches("USDT"));
                instruments.push(Instrument {
                    name,
                    info,
                    series,
                    phase_min: (1 + (i as i64 - 1) % 23) * 60,
                    tick,
                });
            }
        }
        let index = instruments
            .iter()
            .enumerate()
            .map(|(i, inst)| (inst.name.clone(), i))
            .collect();
        Market { instruments, index }
    }

    /// All instruments in exchange-information order.
    pub(crate) fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    /// Position of `symbol` in [`Market::instruments`].
    pub(crate) fn position(&self, symbol: &str) -> Option<usize> {
        self.index.get(symbol).copied()
    }

    /// Looks up a symbol.
    pub(crate) fn get(&self, symbol: &str) -> Option<&Instrument> {
        self.position(symbol).map(|i| &self.instruments[i])
    }

    /// `GET /api/v3/exchangeInfo`: the recorded document with `serverTime` = `now`, the
    /// REQUEST_WEIGHT limit = `weight_limit`, statuses overridden by `statuses`, restricted
    /// to `selection` (positions, in the given order) when given.
    pub(crate) fn exchange_info(
        &self,
        now: i64,
        weight_limit: u32,
        selection: Option<&[usize]>,
        statuses: &HashMap<String, String>,
    ) -> ExchangeInfo<'static> {
        let recorded = data::exchange_info();
        let rate_limits = recorded["rateLimits"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|mut limit| {
                if limit["rateLimitType"] == "REQUEST_WEIGHT" {
                    limit["limit"] = Value::from(weight_limit);
                }
                limit
            })
            .collect();
        let entry = |inst: &Instrument| {
            let mut info = inst.info.clone();
            if let Some(status) = statuses.get(&inst.name) {
                info["status"] = Value::from(status.as_str());
            }
            info
        };
        let symbols = match selection {
            Some(positions) => positions
                .iter()
                .map(|&i| entry(&self.instruments[i]))
                .collect(),
            None => self.instruments.iter().map(entry).collect(),
        };
        ExchangeInfo {
            timezone: &recorded["timezone"],
            server_time: now,
            rate_limits,
            exchange_filters: &recorded["exchangeFilters"],
            symbols,
        }
    }
}

/// `PRICE_FILTER.tickSize` of an exchange-info entry, in `1e-8` units (0 if absent).
fn tick_size(info: &Value) -> i64 {
    info["filters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["filterType"] == "PRICE_FILTER")
        .and_then(|f| f["tickSize"].as_str())
        .and_then(parse_units)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = MAP_ANCHOR_MS + 5 * 3_600_000 + 17 * MINUTE_MS + 42_123;

    fn market() -> Market {
        Market::new(3)
    }

    fn btc(m: &Market) -> &Instrument {
        m.get("BTCUSDT").expect("BTCUSDT")
    }

    fn closed(inst: &Instrument, interval: Interval, open: i64) -> Candle {
        inst.candle(interval, open, None, &inst.blocked(None))
            .expect("candle")
    }

    #[test]
    fn shift_constant_and_anchor() {
        assert_eq!(SHIFT_MINUTES, -332_640);
        assert_eq!(
            SHIFT_MINUTES % (7 * 1440),
            0,
            "whole weeks keep weekday seasonality"
        );
        let m = market();
        for s in data::recorded() {
            let inst = m.get(s.symbol).expect("recorded symbol is listed");
            let row = inst.row_of(s, MAP_ANCHOR_MS / MINUTE_MS);
            assert_eq!(
                s.first_open_min + row as i64,
                RECORDED_ANCHOR_MS / MINUTE_MS
            );
        }
    }

    #[test]
    fn seams_are_far_from_2026_11_21() {
        let m = market();
        let day = 1440;
        let anchor = MAP_ANCHOR_MS / MINUTE_MS;
        for inst in m.instruments().iter().filter(|i| i.has_data()) {
            let s = inst.series.expect("data");
            let mut prev = inst.row_of(s, anchor - 3 * day - 1);
            for t in anchor - 3 * day..=anchor + 4 * day {
                let row = inst.row_of(s, t);
                assert_eq!(row, (prev + 1) % s.len());
                assert_ne!(row, 0, "{} wraps at minute {t}", inst.name);
                prev = row;
            }
        }
    }

    #[test]
    fn served_1m_candle_is_the_csv_row_verbatim() {
        let m = market();
        let inst = btc(&m);
        let s = inst.series.expect("data");
        let open = MAP_ANCHOR_MS + 7 * MINUTE_MS;
        let c = closed(inst, Interval::MINUTE, open);
        let text = s.text(inst.row_of(s, open / MINUTE_MS));
        assert_eq!(
            [
                &*c.open.text(),
                &*c.high.text(),
                &*c.low.text(),
                &*c.close.text(),
                &*c.volume.text()
            ],
            [text.open, text.high, text.low, text.close, text.volume]
        );
        assert_eq!(c.close_time, open + MINUTE_MS - 1);
        assert_eq!(c.taker_buy_base.units, c.volume.units / 2);
        // The recorded minute 2026-04-04 00:07 is what 2026-11-21 00:07 shows.
        let csv = include_str!("../data/BTC_USDT-1m.csv");
        let wanted = format!("{},", RECORDED_ANCHOR_MS + 7 * MINUTE_MS);
        let line = csv.lines().find(|l| l.starts_with(&wanted)).expect("row");
        let fields: Vec<&str> = line.split(',').skip(1).collect();
        assert_eq!(
            fields,
            [text.open, text.high, text.low, text.close, text.volume]
        );
    }

    #[test]
    fn aggregates_match_their_minutes() {
        let m = market();
        let inst = m.get("ETHUSDT").expect("ETHUSDT");
        for (name, open) in [
            ("15m", MAP_ANCHOR_MS + 45 * MINUTE_MS),
            ("1h", MAP_ANCHOR_MS + 3_600_000),
            ("3d", MAP_ANCHOR_MS - 2 * DAY_MS),
            ("1w", 1_794_787_200_000),
            // November 2026: 30 days, more minutes than the recording has (it wraps).
            ("1M", 1_793_491_200_000),
        ] {
            let interval = Interval::parse(name).expect("interval");
            assert_eq!(interval.align_down(open), open);
            let agg = closed(inst, interval, open);
            let minutes: Vec<Candle> = (0..interval.minutes_at(open))
                .map(|k| closed(inst, Interval::MINUTE, open + k * MINUTE_MS))
                .collect();
            assert_eq!(agg.open, minutes[0].open);
            assert_eq!(agg.close, minutes[minutes.len() - 1].close);
            assert_eq!(
                agg.high.units,
                minutes.iter().map(|c| c.high.units).max().unwrap_or(0)
            );
            assert_eq!(
                agg.low.units,
                minutes.iter().map(|c| c.low.units).min().unwrap_or(0)
            );
            assert_eq!(
                agg.volume.units,
                minutes.iter().map(|c| c.volume.units).sum::<i128>()
            );
            assert_eq!(
                agg.quote_volume.units,
                minutes.iter().map(|c| c.quote_volume.units).sum::<i128>()
            );
            assert_eq!(agg.trades, minutes.iter().map(|c| c.trades).sum::<u64>());
            assert_eq!(agg.close_time, interval.next_open(open) - 1);
        }
        let month = Interval::parse("1M").expect("1M");
        assert_eq!(month.minutes_at(1_793_491_200_000), 30 * 1440);
    }

    #[test]
    fn three_day_and_monthly_candles_open_as_on_binance() {
        // 3d: every three days from 1970-01-02, as BTCUSDT's 3d candles on Binance open
        // (2017-08-17, 2017-08-20); 2026-11-21 is in the one opened 2026-11-19.
        let d3 = Interval::parse("3d").expect("3d");
        assert_eq!(d3.align_down(1_503_187_200_000 - 1), 1_502_928_000_000);
        assert_eq!(d3.next_open(1_502_928_000_000), 1_503_187_200_000);
        assert_eq!(d3.align_down(MAP_ANCHOR_MS), MAP_ANCHOR_MS - 2 * DAY_MS);
        assert_eq!(d3.align_down(LISTING_MS), 1_502_928_000_000);
        // 1M: calendar months, December to January, and a leap February (2028).
        let m = Interval::parse("1M").expect("1M");
        let (dec, jan) = (1_796_083_200_000, 1_798_761_600_000);
        assert_eq!(m.align_down(MAP_ANCHOR_MS), 1_793_491_200_000);
        assert_eq!(m.next_open(dec), jan);
        assert_eq!(m.prev_open(jan), dec);
        assert_eq!(m.align_up(dec + 1), jan);
        assert_eq!(m.align_down(jan - 1), dec);
        let (feb_2028, mar_2028) = (1_832_976_000_000, 1_835_481_600_000);
        assert_eq!(m.next_open(feb_2028), mar_2028);
        assert_eq!(m.minutes_at(feb_2028), 29 * 1440);
        assert_eq!(Interval::parse("1mo"), None);
    }

    #[test]
    fn weekly_candles_open_on_monday() {
        let w = Interval::parse("1w").expect("1w");
        // 2026-11-16 and 2026-11-23 are Mondays; 2026-11-21 12:00 is in the first week.
        assert_eq!(w.align_down(MAP_ANCHOR_MS + 43_200_000), 1_794_787_200_000);
        assert_eq!(w.align_up(1_795_392_000_000 - 1), 1_795_392_000_000);
        assert_eq!(w.align_down(1_795_392_000_000), 1_795_392_000_000);
        assert_eq!(Interval::parse("1H"), None);
    }

    #[test]
    fn partial_candle_differs_from_final() {
        let m = market();
        let inst = btc(&m);
        let blocked = inst.blocked(None);
        let open = Interval::MINUTE.align_down(NOW);
        let partial = inst
            .candle(Interval::MINUTE, open, Some(NOW), &blocked)
            .expect("partial");
        let done = closed(inst, Interval::MINUTE, open);
        assert_eq!(partial.open, done.open);
        assert!(partial.volume.units < done.volume.units);
        assert_eq!(partial.volume.units, done.volume.units * 42_123 / 60_000);
        assert!(partial.high.units >= partial.open.units.max(partial.close.units));
        // Same for an aggregate: closed minutes plus the partial one.
        let hour = Interval::parse("1h").expect("1h");
        let h_open = hour.align_down(NOW);
        let h_partial = inst
            .candle(hour, h_open, Some(NOW), &blocked)
            .expect("partial");
        let h_done = closed(inst, hour, h_open);
        assert_ne!(h_partial.volume, h_done.volume);
        assert_eq!(h_partial.close, partial.close);
        // Candles opening after now are never served.
        assert!(
            inst.candle(Interval::MINUTE, open + MINUTE_MS, Some(NOW), &blocked)
                .is_none()
        );
    }

    #[test]
    fn kline_ranges_follow_binance() {
        let m = market();
        let inst = btc(&m);
        let blocked = inst.blocked(None);
        let one = Interval::MINUTE;
        let current = one.align_down(NOW);
        // None: the latest `limit`, ending with the open candle.
        let latest = inst.klines(one, None, None, 500, NOW, &blocked);
        assert_eq!(latest.len(), 500);
        assert_eq!(latest[499].open_time, current);
        assert_eq!(latest[0].open_time, current - 499 * MINUTE_MS);
        // Start only: oldest first from the first open >= start.
        let from = inst.klines(
            one,
            Some(current - 100 * MINUTE_MS - 5),
            None,
            10,
            NOW,
            &blocked,
        );
        assert_eq!(from.len(), 10);
        assert_eq!(from[0].open_time, current - 100 * MINUTE_MS);
        // Start only, close to now: stops at the open candle.
        let tail = inst.klines(one, Some(current - 2 * MINUTE_MS), None, 10, NOW, &blocked);
        assert_eq!(tail.len(), 3);
        // End only: newest up to end (open_time <= end).
        let until = inst.klines(
            one,
            None,
            Some(current - 50 * MINUTE_MS + 1),
            5,
            NOW,
            &blocked,
        );
        let opens: Vec<i64> = until.iter().map(|c| c.open_time).collect();
        assert_eq!(
            opens,
            (0..5)
                .rev()
                .map(|k| current - (50 + k) * MINUTE_MS)
                .collect::<Vec<_>>()
        );
        // Both: from start, never beyond end.
        let both = inst.klines(
            one,
            Some(current - 60 * MINUTE_MS),
            Some(current - 58 * MINUTE_MS),
            500,
            NOW,
            &blocked,
        );
        assert_eq!(both.len(), 3);
        let both = inst.klines(
            one,
            Some(current - 60 * MINUTE_MS),
            Some(current),
            2,
            NOW,
            &blocked,
        );
        assert_eq!(both[1].open_time, current - 59 * MINUTE_MS);
        // Future ranges and inverted ranges are empty.
        assert!(
            inst.klines(one, Some(NOW + 1), None, 5, NOW, &blocked)
                .is_empty()
        );
        assert!(
            inst.klines(one, Some(current), Some(current - 1), 5, NOW, &blocked)
                .is_empty()
        );
        // startTime=0 starts at listing.
        let first = inst.klines(
            Interval::parse("1d").expect("1d"),
            Some(0),
            None,
            2,
            NOW,
            &blocked,
        );
        assert_eq!(
            first[0].open_time,
            Interval::parse("1d").expect("1d").align_down(LISTING_MS)
        );
        assert!(
            inst.klines(one, None, Some(LISTING_MS - 1), 5, NOW, &blocked)
                .is_empty()
        );
    }

    #[test]
    fn gaps_are_skipped() {
        let m = market();
        let inst = btc(&m);
        let one = Interval::MINUTE;
        let current = one.align_down(NOW);
        let mut gaps = Gaps::default();
        gaps.add_ms(current - 30 * MINUTE_MS, current - 21 * MINUTE_MS);
        let blocked = inst.blocked(Some(&gaps));
        let got = inst.klines(one, Some(current - 32 * MINUTE_MS), None, 4, NOW, &blocked);
        let opens: Vec<i64> = got.iter().map(|c| c.open_time).collect();
        assert_eq!(opens, [32, 31, 20, 19].map(|k| current - k * MINUTE_MS));
        let back = inst.klines(one, None, Some(current - 21 * MINUTE_MS), 2, NOW, &blocked);
        assert_eq!(back[1].open_time, current - 31 * MINUTE_MS);
        // An hour with a halted part aggregates the remaining minutes only.
        let hour = Interval::parse("1h").expect("1h");
        let mut gaps = Gaps::default();
        gaps.add_ms(MAP_ANCHOR_MS, MAP_ANCHOR_MS + 29 * MINUTE_MS);
        let blocked = inst.blocked(Some(&gaps));
        let h = inst
            .candle(hour, MAP_ANCHOR_MS, None, &blocked)
            .expect("half hour");
        let m30 = closed(inst, Interval::MINUTE, MAP_ANCHOR_MS + 30 * MINUTE_MS);
        assert_eq!(h.open, m30.open);
        assert!(
            inst.candle(
                Interval::MINUTE,
                MAP_ANCHOR_MS + 29 * MINUTE_MS,
                None,
                &blocked
            )
            .is_none()
        );
    }

    #[test]
    fn day_stats_are_consistent_with_klines() {
        let m = market();
        let inst = m.get("SOLUSDT").expect("SOLUSDT");
        let blocked = inst.blocked(None);
        let stats = inst.day_stats(NOW).expect("stats");
        let candles = inst.klines(Interval::MINUTE, None, None, 1440, NOW, &blocked);
        assert_eq!(stats.open, candles[0].open.units);
        assert_eq!(stats.last, candles[1439].close.units);
        assert_eq!(
            stats.high,
            candles.iter().map(|c| c.high.units).max().unwrap_or(0)
        );
        assert_eq!(
            stats.low,
            candles.iter().map(|c| c.low.units).min().unwrap_or(0)
        );
        assert_eq!(
            stats.volume,
            candles.iter().map(|c| c.volume.units).sum::<i128>()
        );
        assert_eq!(stats.count, candles.iter().map(|c| c.trades).sum::<u64>());
        assert_eq!(stats.last_id - stats.first_id + 1, stats.count as i64);
        assert_eq!(stats.open_time, candles[0].open_time);
        // Ids continue across time: the next minute's window starts later.
        let later = inst.day_stats(NOW + MINUTE_MS).expect("stats");
        assert!(later.first_id > stats.first_id);
    }

    #[test]
    fn clones_copy_btc_with_a_phase() {
        let m = market();
        let clone = m.get("SIM002USDT").expect("clone");
        assert_eq!(clone.info["baseAsset"], "SIM002");
        assert_eq!(clone.info["quoteAsset"], "USDT");
        let open = MAP_ANCHOR_MS;
        let c = closed(clone, Interval::MINUTE, open);
        let b = closed(btc(&m), Interval::MINUTE, open + 2 * 3_600_000);
        assert_eq!((c.open, c.volume), (b.open, b.volume));
        assert!(m.get("ETHBTC").is_some_and(|i| !i.has_data()));
    }
}
