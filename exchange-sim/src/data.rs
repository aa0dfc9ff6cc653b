//! The recorded market data embedded in the binary, and the indexes built over it.
//!
//! `data/*.csv` are real Binance spot 1-minute klines (2026-03-23 12:09 → 2026-04-22 12:08
//! UTC, header `open_time_ms,open,high,low,close,volume`, decimals written as Python `repr`).
//! `data/exchange_info.json` is a real `GET /api/v3/exchangeInfo` answer (2024-09-08).
//! Both are compiled in with `include_str!`, so the simulator works from any working
//! directory, and parsed lazily, once per process ([`recorded`], [`exchange_info`]).
//!
//! Every recorded row keeps a reference to its original CSV text: a closed 1m candle is
//! served with exactly the recorded strings, so a client parsing them gets bit-identical
//! `f64`s. Only six columns were recorded; the other kline fields are synthesised
//! deterministically by [`synthetic`] (see the crate docs for the formulas).
//!
//! For cheap aggregation (1w candles, 24h tickers over hundreds of symbols) each series has
//! prefix sums of volume / quote volume / trades and block indexes answering "row with the
//! highest high / lowest low in a range" in a few hundred steps.

use std::sync::OnceLock;

use serde_json::Value;

use crate::decimal::{SCALE, div_round, parse_units};

/// The recorded series: (symbol, CSV text).
const RECORDED_CSV: [(&str, &str); 5] = [
    ("BTCUSDT", include_str!("../data/BTC_USDT-1m.csv")),
    ("ETHUSDT", include_str!("../data/ETH_USDT-1m.csv")),
    ("BNBUSDT", include_str!("../data/BNB_USDT-1m.csv")),
    ("SOLUSDT", include_str!("../data/SOL_USDT-1m.csv")),
    ("XRPUSDT", include_str!("../data/XRP_USDT-1m.csv")),
];

/// The recorded `GET /api/v3/exchangeInfo` answer.
const EXCHANGE_INFO_JSON: &str = include_str!("../data/exchange_info.json");

/// One minute in milliseconds.
pub(crate) const MINUTE_MS: i64 = 60_000;

/// Quote volume (in `1e-8` units) per synthetic trade: one trade per started 1,000 units of
/// quote asset (USDT), which gives realistic counts (BTCUSDT ≈ 2,000 trades a minute).
pub(crate) const QUOTE_PER_TRADE: i128 = 1_000 * SCALE as i128;

/// Synthesises the fields Binance serves but the recording lacks, from one minute's
/// volume and high/low/close (all in `1e-8` units):
///
/// * quote volume = volume × (high + low + close) / 3, rounded to `1e-8`;
/// * trades = ⌈quote volume / 1000⌉ (0 only for zero volume).
///
/// Taker-buy volumes are derived later from (possibly aggregated) totals as half of the
/// volume / quote volume, see [`crate::market`].
pub(crate) fn synthetic(volume: i64, high: i64, low: i64, close: i64) -> (i64, u64) {
    let typical_sum = i128::from(high) + i128::from(low) + i128::from(close);
    let quote = div_round(i128::from(volume) * typical_sum, 3 * i128::from(SCALE)).max(0);
    let trades = (quote + QUOTE_PER_TRADE - 1) / QUOTE_PER_TRADE;
    (
        i64::try_from(quote).unwrap_or(i64::MAX),
        u64::try_from(trades).unwrap_or(u64::MAX),
    )
}

/// One recorded minute: exact values (in `1e-8` units) plus where its text lives.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row {
    /// Byte offset of the CSV line in the series text.
    line_start: u32,
    /// Length of the CSV line in bytes (without the newline).
    line_len: u16,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub volume: i64,
    /// Synthetic quote volume, see [`synthetic`].
    pub quote_volume: i64,
    /// Synthetic trade count, see [`synthetic`].
    pub trades: u64,
}

/// The recorded text of one row's decimals, exactly as in the CSV.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowText {
    pub open: &'static str,
    pub high: &'static str,
    pub low: &'static str,
    pub close: &'static str,
    pub volume: &'static str,
}

/// Additive totals over a run of minutes (all in `1e-8` units except `trades`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub volume: i128,
    pub quote_volume: i128,
    pub trades: u64,
}

impl Sums {
    fn of(row: &Row) -> Sums {
        Sums {
            volume: i128::from(row.volume),
            quote_volume: i128::from(row.quote_volume),
            trades: row.trades,
        }
    }

    pub(crate) fn add(self, other: Sums) -> Sums {
        Sums {
            volume: self.volume + other.volume,
            quote_volume: self.quote_volume + other.quote_volume,
            trades: self.trades.saturating_add(other.trades),
        }
    }

    fn sub(self, other: Sums) -> Sums {
        Sums {
            volume: self.volume - other.volume,
            quote_volume: self.quote_volume - other.quote_volume,
            trades: self.trades - other.trades,
        }
    }

    fn times(self, n: u64) -> Sums {
        Sums {
            volume: self.volume * i128::from(n),
            quote_volume: self.quote_volume * i128::from(n),
            trades: self.trades.saturating_mul(n),
        }
    }
}

/// Aggregate over a (cyclic) run of rows: which rows hold the first open, last close,
/// highest high and lowest low, and the additive totals.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowRun {
    pub first: usize,
    pub last: usize,
    pub high: usize,
    pub low: usize,
    pub sums: Sums,
}

/// Rows per block of a [`BlockIndex`].
const BLOCK: usize = 64;

/// Range-"best" queries (highest high, lowest low) by block decomposition: the best row of
/// every 64-row block is precomputed in one pass, a query scans at most two partial blocks
/// plus the block summaries (≈ 300 steps for a week of minutes).
struct BlockIndex {
    best: Vec<usize>,
}

impl BlockIndex {
    /// `better(a, b)` is true when row `a` should win over row `b`.
    fn build(n: usize, better: impl Fn(usize, usize) -> bool) -> BlockIndex {
        let best = (0..n)
            .step_by(BLOCK)
            .map(|lo| scan(lo, (lo + BLOCK).min(n), lo, &better))
            .collect();
        BlockIndex { best }
    }

    /// Best row in `lo..hi` (`lo < hi`); ties go to the earlier row.
    fn query(&self, lo: usize, hi: usize, better: impl Fn(usize, usize) -> bool) -> usize {
        debug_assert!(lo < hi);
        let first_full = lo.div_ceil(BLOCK);
        let end_full = hi / BLOCK;
        if first_full >= end_full {
            return scan(lo + 1, hi, lo, &better);
        }
        let mut best = scan(lo, first_full * BLOCK, lo, &better);
        for &candidate in &self.best[first_full..end_full] {
            if better(candidate, best) {
                best = candidate;
            }
        }
        scan(end_full * BLOCK, hi, best, &better)
    }
}

/// Best of `best` and the rows `lo..hi`, earlier rows winning ties.
fn scan(lo: usize, hi: usize, mut best: usize, better: &impl Fn(usize, usize) -> bool) -> usize {
    for i in lo..hi {
        if better(i, best) {
            best = i;
        }
    }
    best
}

/// One recorded symbol: contiguous 1m rows starting at `first_open_min`.
pub(crate) struct Series {
    pub symbol: &'static str,
    text: &'static str,
    /// Open time of row 0, in minutes since the Unix epoch (`R0` in the crate docs).
    pub first_open_min: i64,
    rows: Vec<Row>,
    /// `prefix[i]` = totals of rows `0..i`; `len() + 1` entries.
    prefix: Vec<Sums>,
    max_high: BlockIndex,
    min_low: BlockIndex,
    /// Aggregate of one whole cycle (all rows).
    cycle: RowRun,
}

impl Series {
    /// Parses one embedded CSV. Panics on malformed data: the files are part of the crate
    /// and covered by tests, so a failure here is a build defect, not a runtime condition.
    fn parse(symbol: &'static str, text: &'static str) -> Series {
        let mut rows = Vec::with_capacity(text.len() / 48);
        let mut first_open_ms = None;
        for (start, line) in csv_lines(text) {
            if line.starts_with('o') {
                continue; // header
            }
            let fields = split_fields(line).unwrap_or_else(|| bad_row(symbol, line));
            let open_time: i64 = fields[0].parse().unwrap_or_else(|_| bad_row(symbol, line));
            let decimal =
                |i: usize| parse_units(fields[i]).unwrap_or_else(|| bad_row(symbol, line));
            let (open, high, low, close, volume) =
                (decimal(1), decimal(2), decimal(3), decimal(4), decimal(5));
            let first = *first_open_ms.get_or_insert(open_time);
            if open_time != first + MINUTE_MS * rows.len() as i64 {
                panic!("embedded {symbol} data is not contiguous at {open_time}");
            }
            let (quote_volume, trades) = synthetic(volume, high, low, close);
            rows.push(Row {
                line_start: u32::try_from(start).expect("embedded CSV larger than 4 GiB"),
                line_len: u16::try_from(line.len()).expect("embedded CSV line too long"),
                open,
                high,
                low,
                close,
                volume,
                quote_volume,
                trades,
            });
        }
        let first_open_ms =
            first_open_ms.unwrap_or_else(|| panic!("embedded {symbol} data is empty"));
        let mut prefix = Vec::with_capacity(rows.len() + 1);
        let mut acc = Sums::default();
        prefix.push(acc);
        for row in &rows {
            acc = acc.add(Sums::of(row));
            prefix.push(acc);
        }
        let max_high = BlockIndex::build(rows.len(), |a, b| rows[a].high > rows[b].high);
        let min_low = BlockIndex::build(rows.len(), |a, b| rows[a].low < rows[b].low);
        let mut series = Series {
            symbol,
            text,
            first_open_min: first_open_ms.div_euclid(MINUTE_MS),
            rows,
            prefix,
            max_high,
            min_low,
            cycle: RowRun {
                first: 0,
                last: 0,
                high: 0,
                low: 0,
                sums: Sums::default(),
            },
        };
        series.cycle = series.run(0, series.len());
        series
    }

    /// Number of recorded minutes (`N` in the crate docs).
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn row(&self, index: usize) -> &Row {
        &self.rows[index]
    }

    /// The original CSV text of a row's decimals.
    pub(crate) fn text(&self, index: usize) -> RowText {
        let row = &self.rows[index];
        let start = row.line_start as usize;
        let line = &self.text[start..start + usize::from(row.line_len)];
        // A plain byte scan: this runs for every candle served, and `split(',')` costs
        // several times more on these short fields.
        let mut rest = line.find(',').map_or("", |i| &line[i + 1..]);
        let mut next = || {
            let end = rest.bytes().position(|b| b == b',').unwrap_or(rest.len());
            let field = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
            field
        };
        RowText {
            open: next(),
            high: next(),
            low: next(),
            close: next(),
            volume: next(),
        }
    }

    fn higher(&self, a: usize, b: usize) -> bool {
        self.rows[a].high > self.rows[b].high
    }

    fn lower(&self, a: usize, b: usize) -> bool {
        self.rows[a].low < self.rows[b].low
    }

    /// Aggregate over the non-wrapping row range `lo..hi` (`lo < hi <= len`).
    fn run(&self, lo: usize, hi: usize) -> RowRun {
        if hi == lo + 1 {
            // One row (every 1m candle served): its own high and low, no range query.
            return RowRun {
                first: lo,
                last: lo,
                high: lo,
                low: lo,
                sums: self.prefix[hi].sub(self.prefix[lo]),
            };
        }
        RowRun {
            first: lo,
            last: hi - 1,
            high: self.max_high.query(lo, hi, |a, b| self.higher(a, b)),
            low: self.min_low.query(lo, hi, |a, b| self.lower(a, b)),
            sums: self.prefix[hi].sub(self.prefix[lo]),
        }
    }

    /// Aggregate over `count > 0` consecutive minutes starting at row `start`, wrapping
    /// around the end of the recording as often as needed (the replay is cyclic).
    pub(crate) fn aggregate(&self, start: usize, count: u64) -> RowRun {
        debug_assert!(count > 0 && start < self.len());
        let n = self.len();
        let head = (n - start).min(usize::try_from(count).unwrap_or(usize::MAX));
        let mut agg = self.run(start, start + head);
        let rest = count - head as u64;
        let full_cycles = rest / n as u64;
        let tail = (rest % n as u64) as usize;
        if full_cycles > 0 {
            let cycle = self.cycle;
            agg = self.merge(agg, cycle);
            agg.sums = agg.sums.add(cycle.sums.times(full_cycles - 1));
        }
        if tail > 0 {
            agg = self.merge(agg, self.run(0, tail));
        }
        agg
    }

    /// Chronological merge of two runs (`later` follows `earlier`).
    fn merge(&self, earlier: RowRun, later: RowRun) -> RowRun {
        RowRun {
            first: earlier.first,
            last: later.last,
            high: if self.higher(later.high, earlier.high) {
                later.high
            } else {
                earlier.high
            },
            low: if self.lower(later.low, earlier.low) {
                later.low
            } else {
                earlier.low
            },
            sums: earlier.sums.add(later.sums),
        }
    }
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("symbol", &self.symbol)
            .field("rows", &self.len())
            .finish_non_exhaustive()
    }
}

/// Non-empty lines of `text` with their byte offsets, without line terminators.
/// (A plain byte scan: much faster than `str::lines` on 200k short lines.)
fn csv_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < bytes.len() {
            let start = pos;
            while pos < bytes.len() && bytes[pos] != b'\n' {
                pos += 1;
            }
            let mut end = pos;
            pos += 1;
            if end > start && bytes[end - 1] == b'\r' {
                end -= 1;
            }
            if end > start {
                return Some((start, &text[start..end]));
            }
        }
        None
    })
}

/// The six comma-separated fields of a data line.
fn split_fields(line: &str) -> Option<[&str; 6]> {
    let mut fields = [""; 6];
    let mut count = 0;
    let mut start = 0;
    for (i, &b) in line.as_bytes().iter().enumerate() {
        if b == b',' {
            *fields.get_mut(count)? = &line[start..i];
            count += 1;
            start = i + 1;
        }
    }
    *fields.get_mut(count)? = &line[start..];
    (count == 5).then_some(fields)
}

#[cold]
fn bad_row(symbol: &str, line: &str) -> ! {
    panic!("malformed embedded {symbol} row: {line:?}")
}

/// All recorded series, parsed once per process.
pub(crate) fn recorded() -> &'static [Series] {
    static SERIES: OnceLock<Vec<Series>> = OnceLock::new();
    SERIES.get_or_init(|| {
        RECORDED_CSV
            .iter()
            .map(|(symbol, text)| Series::parse(symbol, text))
            .collect()
    })
}

/// The recorded exchange information, parsed once per process.
pub(crate) fn exchange_info() -> &'static Value {
    static INFO: OnceLock<Value> = OnceLock::new();
    INFO.get_or_init(|| {
        serde_json::from_str(EXCHANGE_INFO_JSON).expect("embedded exchange_info.json is not JSON")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_series_parse_and_share_the_start() {
        let series = recorded();
        assert_eq!(series.len(), 5);
        for s in series {
            assert!(s.len() >= 43_199, "{} has {} rows", s.symbol, s.len());
            assert_eq!(s.first_open_min * MINUTE_MS, 1_774_267_740_000);
        }
        let btc = &series[0];
        let text = btc.text(0);
        assert_eq!(
            (text.open, text.high, text.low, text.close, text.volume),
            ("69979.98", "70112.55", "69973.41", "70070.53", "32.55652")
        );
        assert_eq!(btc.text(1).low, "70054.0");
        assert_eq!(btc.row(1).low, 7_005_400_000_000);
    }

    #[test]
    fn synthetic_fields() {
        // volume 2, typical price (3+2+1)/3 = 2 → quote 4, one trade.
        let (q, t) = synthetic(2 * SCALE, 3 * SCALE, SCALE, 2 * SCALE);
        assert_eq!((q, t), (4 * SCALE, 1));
        assert_eq!(synthetic(0, SCALE, SCALE, SCALE), (0, 0));
        let (q, t) = synthetic(1_000 * SCALE, 3 * SCALE, 3 * SCALE, 3 * SCALE);
        assert_eq!((q, t), (3_000 * SCALE, 3));
    }

    #[test]
    fn cyclic_aggregate_matches_naive() {
        let s = &recorded()[4];
        let n = s.len();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut cases = vec![
            (0usize, 1u64),
            (5, 90),
            (64, 64),
            (63, 130),
            (n - 10, 25),
            (n - 1, 2 * n as u64 + 7),
            (17, n as u64),
        ];
        cases.extend((0..300).map(|_| (rng.usize(..n), rng.u64(1..12_000))));
        for (start, count) in cases {
            let agg = s.aggregate(start, count);
            let mut sums = Sums::default();
            let (mut hi, mut lo) = (i64::MIN, i64::MAX);
            for k in 0..count {
                let row = s.row((start + k as usize) % n);
                sums = sums.add(Sums::of(row));
                hi = hi.max(row.high);
                lo = lo.min(row.low);
            }
            assert_eq!(agg.sums, sums);
            assert_eq!(s.row(agg.high).high, hi);
            assert_eq!(s.row(agg.low).low, lo);
            assert_eq!(agg.first, start);
            assert_eq!(agg.last, (start + count as usize - 1) % n);
        }
    }

    #[test]
    fn exchange_info_has_the_seven_symbols() {
        let symbols = exchange_info()["symbols"].as_array().map(Vec::len);
        assert_eq!(symbols, Some(7));
    }
}
