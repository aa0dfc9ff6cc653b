//! The recorded USDⓈ-M 1m klines replayed on the wall clock, and the COIN-M series derived
//! from them.
//!
//! `data/BTCUSDT-1m-2023-11-15_to_2023-11-21.csv` (10,080 rows, exactly one week) and
//! `data/ETHUSDT-1m-2023-10-01_to_2023-10-12.csv` (17,280 rows, twelve days) are real
//! data.binance.vision `futures/um` monthly-dump rows: a header, then the 12 columns
//! `open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,
//! taker_buy_quote_volume,ignore`, times in ms, decimals as Binance wrote them.
//!
//! Replay: wall-clock minute `m` shows row `(m - first_open_minute) mod rows`. Both series
//! are whole days long, so every UTC day (and, for BTCUSDT, every weekday) shows the same
//! recorded day on every run; the replay is deterministic and never runs out.
//!
//! COIN-M rows are derived from the USD-M rows of the same coin (see [`Series::coinm`]).

use std::sync::OnceLock;

use crate::decimal::{SCALE, div_round, parse_units};

/// The recorded USD-M series: (symbol, CSV text).
const RECORDED: [(&str, &str); 2] = [
    (
        "BTCUSDT",
        include_str!("../../data/BTCUSDT-1m-2023-11-15_to_2023-11-21.csv"),
    ),
    (
        "ETHUSDT",
        include_str!("../../data/ETHUSDT-1m-2023-10-01_to_2023-10-12.csv"),
    ),
];

/// Minute length in ms.
pub(crate) const MINUTE_MS: i64 = 60_000;

/// A decimal as served: exact value in `1e-8` units and its wire text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Value {
    pub units: i64,
    pub text: Box<str>,
}

/// Number of additive columns: volume, index 7, taker buy volume, taker buy index 10.
pub(crate) const ADDITIVE: usize = 4;

/// One minute of a series.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub open: Value,
    pub high: Value,
    pub low: Value,
    pub close: Value,
    /// Volume, quote (USD-M) / base (COIN-M) volume, taker buy volume, taker buy quote
    /// (USD-M) / base (COIN-M) volume.
    pub add: [Value; ADDITIVE],
    pub trades: u64,
}

/// Totals of the additive columns over a run of rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub add: [i128; ADDITIVE],
    pub trades: u64,
}

impl Sums {
    fn plus(self, other: Sums) -> Sums {
        let mut add = self.add;
        for (a, b) in add.iter_mut().zip(other.add) {
            *a += b;
        }
        Sums {
            add,
            trades: self.trades.saturating_add(other.trades),
        }
    }

    fn minus(self, other: Sums) -> Sums {
        let mut add = self.add;
        for (a, b) in add.iter_mut().zip(other.add) {
            *a -= b;
        }
        Sums {
            add,
            trades: self.trades.saturating_sub(other.trades),
        }
    }

    fn times(self, n: i64) -> Sums {
        let mut add = self.add;
        for a in &mut add {
            *a *= i128::from(n);
        }
        Sums {
            add,
            trades: self.trades.saturating_mul(u64::try_from(n).unwrap_or(0)),
        }
    }
}

/// Rows per block of the high/low index.
const BLOCK: usize = 64;

/// A replayable 1m series with indexes for cheap aggregation.
pub(crate) struct Series {
    /// Open time of row 0 in minutes since the epoch.
    pub first_open_min: i64,
    pub rows: Vec<Row>,
    /// Fractional digits of each additive column (sums are written with as many).
    pub add_decimals: [u32; ADDITIVE],
    /// `prefix[i]` = totals of rows `0..i`.
    prefix: Vec<Sums>,
    /// Row with the highest high / lowest low of each block.
    block_high: Vec<usize>,
    block_low: Vec<usize>,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("first_open_min", &self.first_open_min)
            .field("rows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

/// A run of minutes aggregated: the rows holding the first open, last close, highest
/// high and lowest low, and the sums.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Run {
    pub first: usize,
    pub last: usize,
    pub high: usize,
    pub low: usize,
    pub sums: Sums,
}

fn value(text: &str) -> Option<Value> {
    Some(Value {
        units: parse_units(text)?,
        text: text.into(),
    })
}

fn decimals(text: &str) -> u32 {
    text.split_once('.')
        .map_or(0, |(_, frac)| u32::try_from(frac.len()).unwrap_or(8))
}

impl Series {
    /// Parses a data.binance.vision futures CSV (header plus 12 columns).
    ///
    /// # Panics
    ///
    /// On a malformed or non-contiguous file: the files are compiled in and checked by the
    /// unit tests, so this is a build defect.
    fn parse(symbol: &str, csv: &str) -> Series {
        let mut lines = csv.lines();
        let header = lines.next().unwrap_or_default();
        assert!(
            header.starts_with("open_time,open,high,low,close,volume,close_time,quote_volume"),
            "{symbol}: unexpected header {header:?}"
        );
        let mut rows = Vec::new();
        let mut first_open_min = None;
        let mut add_decimals = [0; ADDITIVE];
        for (n, line) in lines.enumerate() {
            let cols: Vec<&str> = line.split(',').collect();
            let row = (cols.len() == 12)
                .then(|| {
                    let add = [
                        value(cols[5])?,
                        value(cols[7])?,
                        value(cols[9])?,
                        value(cols[10])?,
                    ];
                    Some(Row {
                        open: value(cols[1])?,
                        high: value(cols[2])?,
                        low: value(cols[3])?,
                        close: value(cols[4])?,
                        add,
                        trades: cols[8].parse().ok()?,
                    })
                })
                .flatten();
            let open: Option<i64> = cols.first().and_then(|t| t.parse().ok());
            let (Some(row), Some(open)) = (row, open) else {
                panic!("{symbol}: malformed row {n}: {line:?}");
            };
            let first = *first_open_min.get_or_insert(open / MINUTE_MS);
            assert_eq!(
                open,
                (first + i64::try_from(n).unwrap_or(i64::MAX)) * MINUTE_MS,
                "{symbol}: row {n} is not contiguous"
            );
            for (d, i) in add_decimals.iter_mut().zip([5, 7, 9, 10]) {
                *d = (*d).max(decimals(cols[i]));
            }
            rows.push(row);
        }
        Series::build(first_open_min.unwrap_or(0), rows, add_decimals)
    }

    fn build(first_open_min: i64, rows: Vec<Row>, add_decimals: [u32; ADDITIVE]) -> Series {
        let mut prefix = Vec::with_capacity(rows.len() + 1);
        let mut acc = Sums::default();
        prefix.push(acc);
        for row in &rows {
            let mut add = [0; ADDITIVE];
            for (a, v) in add.iter_mut().zip(&row.add) {
                *a = i128::from(v.units);
            }
            acc = acc.plus(Sums {
                add,
                trades: row.trades,
            });
            prefix.push(acc);
        }
        let best = |better: &dyn Fn(usize, usize) -> bool| -> Vec<usize> {
            (0..rows.len())
                .step_by(BLOCK)
                .map(|lo| {
                    (lo..(lo + BLOCK).min(rows.len()))
                        .fold(lo, |b, i| if better(i, b) { i } else { b })
                })
                .collect()
        };
        let block_high = best(&|a, b| rows[a].high.units > rows[b].high.units);
        let block_low = best(&|a, b| rows[a].low.units < rows[b].low.units);
        Series {
            first_open_min,
            rows,
            add_decimals,
            prefix,
            block_high,
            block_low,
        }
    }

    /// The COIN-M series of an inverse contract of `contract_size` USD derived from a
    /// USD-M series: prices unchanged; volume = round(quote volume / contract size)
    /// contracts; index 7 = the recorded base volume; taker buy volume =
    /// round(taker buy quote volume / contract size) contracts; index 10 = the recorded
    /// taker buy base volume; trades unchanged.
    pub(crate) fn coinm(&self, contract_size: i64) -> Series {
        let size = i128::from(contract_size) * i128::from(SCALE);
        let contracts = |quote: &Value| {
            let n = div_round(i128::from(quote.units), size);
            Value {
                units: i64::try_from(n * i128::from(SCALE)).unwrap_or(i64::MAX),
                text: n.to_string().into(),
            }
        };
        let rows = self
            .rows
            .iter()
            .map(|r| Row {
                open: r.open.clone(),
                high: r.high.clone(),
                low: r.low.clone(),
                close: r.close.clone(),
                add: [
                    contracts(&r.add[1]),
                    r.add[0].clone(),
                    contracts(&r.add[3]),
                    r.add[2].clone(),
                ],
                trades: r.trades,
            })
            .collect();
        let add_decimals = [0, self.add_decimals[0], 0, self.add_decimals[2]];
        Series::build(self.first_open_min, rows, add_decimals)
    }

    /// Number of rows (the replay cycle in minutes).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The row wall-clock minute `minute` shows.
    pub(crate) fn index(&self, minute: i64) -> usize {
        let n = i64::try_from(self.rows.len()).unwrap_or(1).max(1);
        usize::try_from((minute - self.first_open_min).rem_euclid(n)).unwrap_or(0)
    }

    /// The row wall-clock minute `minute` shows.
    pub(crate) fn row(&self, minute: i64) -> &Row {
        &self.rows[self.index(minute)]
    }

    fn best(
        &self,
        lo: usize,
        hi: usize,
        blocks: &[usize],
        better: impl Fn(usize, usize) -> bool,
    ) -> usize {
        let mut best = lo;
        let mut i = lo;
        while i < hi {
            if i.is_multiple_of(BLOCK) && i + BLOCK <= hi {
                let candidate = blocks[i / BLOCK];
                if better(candidate, best) {
                    best = candidate;
                }
                i += BLOCK;
            } else {
                if better(i, best) {
                    best = i;
                }
                i += 1;
            }
        }
        best
    }

    /// Trades in the replay before wall-clock minute `minute` since the replay anchor
    /// (row 0's minute): deterministic trade ids.
    pub(crate) fn trades_before(&self, minute: i64) -> u64 {
        let n = i64::try_from(self.rows.len()).unwrap_or(1).max(1);
        let cycles = u64::try_from((minute - self.first_open_min).div_euclid(n)).unwrap_or(0);
        let total = self.prefix[self.rows.len()].trades;
        cycles
            .saturating_mul(total)
            .saturating_add(self.prefix[self.index(minute)].trades)
    }

    /// Aggregates `count >= 1` minutes starting at wall-clock minute `first`.
    pub(crate) fn run(&self, first: i64, count: i64) -> Run {
        let n = self.rows.len();
        let start = self.index(first);
        let last = self.index(first + count - 1);
        let n64 = i64::try_from(n).unwrap_or(1);
        let cycles = count / n64;
        let rest = usize::try_from(count % n64).unwrap_or(0);
        let higher = |a: usize, b: usize| self.rows[a].high.units > self.rows[b].high.units;
        let lower = |a: usize, b: usize| self.rows[a].low.units < self.rows[b].low.units;
        let mut sums = (self.prefix[n].minus(self.prefix[0])).times(cycles);
        // Linear pieces of the partial cycle: [start, start + rest) wrapped at n.
        let mut pieces = Vec::with_capacity(2);
        if rest > 0 {
            if start + rest <= n {
                pieces.push((start, start + rest));
            } else {
                pieces.push((start, n));
                pieces.push((0, start + rest - n));
            }
        }
        if cycles > 0 {
            pieces.push((0, n));
        }
        let (mut high, mut low) = (start, start);
        for &(lo, hi) in &pieces {
            let h = self.best(lo, hi, &self.block_high, higher);
            let l = self.best(lo, hi, &self.block_low, lower);
            if higher(h, high) {
                high = h;
            }
            if lower(l, low) {
                low = l;
            }
            if cycles == 0 || (lo, hi) != (0, n) {
                sums = sums.plus(self.prefix[hi].minus(self.prefix[lo]));
            }
        }
        Run {
            first: start,
            last,
            high,
            low,
            sums,
        }
    }
}

/// The recorded USD-M series by symbol, parsed once per process.
pub(crate) fn recorded(symbol: &str) -> Option<&'static Series> {
    static SERIES: OnceLock<Vec<(&'static str, Series)>> = OnceLock::new();
    SERIES
        .get_or_init(|| {
            RECORDED
                .iter()
                .map(|(s, csv)| (*s, Series::parse(s, csv)))
                .collect()
        })
        .iter()
        .find(|(s, _)| *s == symbol)
        .map(|(_, series)| series)
}

/// The derived COIN-M series of `usdm_symbol`'s coin for `contract_size` USD contracts.
pub(crate) fn derived_coinm(usdm_symbol: &str, contract_size: i64) -> Option<&'static Series> {
    static SERIES: OnceLock<Vec<(&'static str, i64, Series)>> = OnceLock::new();
    SERIES
        .get_or_init(|| {
            super::contracts::COINM_CONTRACT_SIZES
                .iter()
                .filter_map(|&(_, usdm, size)| Some((usdm, size, recorded(usdm)?.coinm(size))))
                .collect()
        })
        .iter()
        .find(|(s, size, _)| *s == usdm_symbol && *size == contract_size)
        .map(|(_, _, series)| series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_files_parse_and_are_whole_days() {
        let btc = recorded("BTCUSDT").expect("BTCUSDT");
        assert_eq!(btc.len(), 10_080);
        assert_eq!(btc.first_open_min * MINUTE_MS, 1_700_006_400_000);
        assert_eq!(btc.add_decimals, [3, 5, 3, 5]);
        let first = &btc.rows[0];
        assert_eq!(&*first.open.text, "35559.10");
        assert_eq!(&*first.high.text, "35567");
        assert_eq!(&*first.add[1].text, "6983542.53060");
        assert_eq!(first.trades, 1925);
        let eth = recorded("ETHUSDT").expect("ETHUSDT");
        assert_eq!(eth.len(), 17_280);
        assert_eq!(eth.len() % 1440, 0);
        assert!(recorded("SOLUSDT").is_none());
    }

    #[test]
    fn replay_is_cyclic() {
        let btc = recorded("BTCUSDT").expect("BTCUSDT");
        let m = btc.first_open_min;
        assert_eq!(btc.index(m), 0);
        assert_eq!(btc.index(m + 10_080), 0);
        assert_eq!(btc.index(m - 1), 10_079);
        assert_eq!(btc.index(m + 7 * 1440 * 150 + 61), 61);
    }

    #[test]
    fn runs_match_a_naive_scan() {
        let eth = recorded("ETHUSDT").expect("ETHUSDT");
        let n = i64::try_from(eth.len()).expect("len");
        for (first, count) in [(0, 1), (5, 60), (n - 30, 90), (7, 1440), (n - 1, 2 * n + 3)] {
            let first = eth.first_open_min + first;
            let run = eth.run(first, count);
            let rows: Vec<&Row> = (first..first + count).map(|m| eth.row(m)).collect();
            let max = rows.iter().map(|r| r.high.units).max();
            let min = rows.iter().map(|r| r.low.units).min();
            assert_eq!(Some(eth.rows[run.high].high.units), max);
            assert_eq!(Some(eth.rows[run.low].low.units), min);
            let volume: i128 = rows.iter().map(|r| i128::from(r.add[0].units)).sum();
            let trades: u64 = rows.iter().map(|r| r.trades).sum();
            assert_eq!(run.sums.add[0], volume);
            assert_eq!(run.sums.trades, trades);
            assert_eq!(eth.rows[run.first].open, rows[0].open);
            assert_eq!(eth.rows[run.last].close, rows[rows.len() - 1].close);
        }
    }

    #[test]
    fn coinm_rows_count_contracts() {
        let btc = recorded("BTCUSDT").expect("BTCUSDT");
        let coin = btc.coinm(100);
        // 6983542.53060 USDT of quote volume = 69835 contracts of 100 USD.
        assert_eq!(&*coin.rows[0].add[0].text, "69835");
        assert_eq!(&*coin.rows[0].add[1].text, "196.425");
        assert_eq!(&*coin.rows[0].add[2].text, "41572");
        assert_eq!(&*coin.rows[0].add[3].text, "116.930");
        assert_eq!(coin.rows[0].open, btc.rows[0].open);
    }
}
