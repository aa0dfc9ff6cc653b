//! Domain types shared by every component: symbols, intervals, klines, tickers and what
//! the exchange says about its symbols.
//!
//! These are *our* types, not Binance's wire format: the `exchange` module parses the wire
//! payloads into them, and nothing else in the crate knows a Binance JSON field name.
//! Times are `i64` milliseconds since the Unix epoch, UTC, as Binance sends them.
//! Market-data prices and volumes are `f64` (they are stored as REAL); money of record
//! (orders, executions, balances) uses `rust_decimal::Decimal` and lives in
//! [`crate::orders`] (the order vocabulary and [`SymbolFilters`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use super::SymbolFilters;

/// Milliseconds in one minute.
pub const MINUTE_MS: i64 = 60_000;
/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;

/// Why a string is not a valid value of one of the domain types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a Binance symbol name (1–20 of `A-Z`, `0-9`), nor `BASE/QUOTE` joining to one.
    #[error("invalid symbol {0:?}: expected 1 to 20 letters or digits, e.g. BTCUSDT or BTC/USDT")]
    Symbol(String),
    /// Not one of the supported kline intervals.
    #[error("unknown interval {0:?}: expected one of {list}", list = Interval::NAMES.join(", "))]
    Interval(String),
    /// Not one of the markets tradebeat knows.
    #[error("unknown market {0:?}: expected spot, usdm or coinm")]
    Market(String),
}

/// A Binance symbol name such as `BTCUSDT`: upper-case letters and digits, 1 to 20 of them,
/// with inner underscores for COIN-M contracts (`BTCUSD_PERP`, `BTCUSD_251226`).
///
/// Lower-case input is accepted and upper-cased (`btcusdt` → `BTCUSDT`), as Binance's
/// REST API expects upper case (spot `rest-api.md`, "Terminology"). The ccxt spelling
/// `BASE/QUOTE` is accepted too and joined (`BTC/USDT` → `BTCUSDT`): exactly one `/` with
/// letters or digits on both sides, the joined name within the same limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(String);

impl Symbol {
    /// The symbol as sent to the exchange, e.g. `"BTCUSDT"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Symbol {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        // ccxt's `BASE/QUOTE`: both parts present, at most one slash.
        let upper = match upper.split_once('/') {
            Some((base, quote)) if !base.is_empty() && !quote.is_empty() => base.to_owned() + quote,
            Some(_) => String::new(),
            None => upper,
        };
        // COIN-M symbols carry their contract after an underscore: `BTCUSD_PERP`.
        let valid = (1..=20).contains(&upper.len())
            && upper
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && !upper.starts_with('_')
            && !upper.ends_with('_');
        if valid {
            Ok(Symbol(upper))
        } else {
            Err(ParseError::Symbol(s.to_string()))
        }
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The market a symbol trades on. Stored in `symbols.market` as `spot`, `usdm` or `coinm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Market {
    /// Binance spot (`/api/v3`).
    Spot,
    /// USDⓈ-M futures (`/fapi/v1`); not served yet.
    UsdM,
    /// COIN-M futures (`/dapi/v1`); not served yet.
    CoinM,
}

impl Market {
    /// The name used in the database, the config and the control protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::UsdM => "usdm",
            Market::CoinM => "coinm",
        }
    }
}

impl FromStr for Market {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "spot" => Ok(Market::Spot),
            "usdm" => Ok(Market::UsdM),
            "coinm" => Ok(Market::CoinM),
            other => Err(ParseError::Market(other.to_string())),
        }
    }
}

impl Serialize for Market {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Market {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kline (candlestick) interval, spelled as Binance spells it (`1m`, `15m`, `1h`, `1d`,
/// `3d`, `1w`, `1M` …; "Kline/Candlestick data",
/// https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints,
/// and "Kline/Candlestick chart intervals",
/// https://developers.binance.com/docs/binance-spot-api-docs/enums).
///
/// Every interval Binance serves is supported except `1s` (too fine for a minute
/// heartbeat). Candles open (UTC) on a grid:
///
/// * `1m` … `1d`: at multiples of the interval since the Unix epoch;
/// * `3d`: every three days from 1970-01-02 (2017-08-17, 2017-08-20 … as Binance's 3d
///   candles of BTCUSDT open; the day count since the epoch is 1 modulo 3);
/// * `1w`: on Mondays 00:00 (1970-01-05 was the first);
/// * `1M`: on the first day of each calendar month, 00:00; its candles last 28 to 31 days.
///
/// Because of `1M`, candles have no common length: step along the grid with
/// [`Interval::add_candles`] and count with [`Interval::candle_count`], never with a
/// fixed number of milliseconds. `Ord` orders intervals shortest first, as
/// [`Interval::ALL`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interval {
    M1,
    M3,
    M5,
    M15,
    M30,
    H1,
    H2,
    H4,
    H6,
    H8,
    H12,
    D1,
    /// `3d`: three days.
    D3,
    W1,
    /// `1M`: one calendar month (UTC).
    Mo1,
}

/// Where an interval's candles open.
#[derive(Debug, Clone, Copy)]
enum Grid {
    /// Every `length_ms` from `anchor_ms` (ms since the epoch), both ways.
    Fixed { length_ms: i64, anchor_ms: i64 },
    /// The first of every calendar month, 00:00 UTC.
    Month,
}

/// Month numbers ([`Interval::Mo1`]'s candle index: 0 is 1970-01) of the first and the last
/// month the `time` crate can represent (years -9999 to 9999); times beyond are clamped.
const FIRST_MONTH: i64 = (-9999 - 1970) * 12;
const LAST_MONTH: i64 = (9999 - 1970) * 12 + 11;

/// The number of the calendar month (UTC) containing `t_ms`, 0 being 1970-01.
fn month_containing(t_ms: i64) -> i64 {
    match time::OffsetDateTime::from_unix_timestamp(t_ms.div_euclid(1000)) {
        Ok(t) => (i64::from(t.year()) - 1970) * 12 + i64::from(u8::from(t.month())) - 1,
        Err(_) if t_ms < 0 => FIRST_MONTH,
        Err(_) => LAST_MONTH,
    }
}

/// The first instant (ms) of month number `month` (0 being 1970-01), clamped to the
/// months the `time` crate can represent.
fn month_start_ms(month: i64) -> i64 {
    let month = month.clamp(FIRST_MONTH, LAST_MONTH);
    let start = i32::try_from(1970 + month.div_euclid(12))
        .ok()
        .zip(u8::try_from(month.rem_euclid(12) + 1).ok())
        .and_then(|(year, m)| {
            let m = time::Month::try_from(m).ok()?;
            time::Date::from_calendar_date(year, m, 1).ok()
        })
        .map(|d| d.midnight().assume_utc().unix_timestamp());
    match start {
        Some(secs) => secs.saturating_mul(1000),
        // Unreachable: the clamped month always is a valid date.
        None if month < 0 => i64::MIN,
        None => i64::MAX,
    }
}

impl Interval {
    /// Every supported interval, shortest first.
    pub const ALL: [Interval; 15] = [
        Interval::M1,
        Interval::M3,
        Interval::M5,
        Interval::M15,
        Interval::M30,
        Interval::H1,
        Interval::H2,
        Interval::H4,
        Interval::H6,
        Interval::H8,
        Interval::H12,
        Interval::D1,
        Interval::D3,
        Interval::W1,
        Interval::Mo1,
    ];

    /// The names of [`Interval::ALL`], for error messages and help texts.
    pub const NAMES: [&'static str; 15] = [
        "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
    ];

    /// Binance's name, e.g. `"15m"`.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self.index()]
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|i| *i == self).unwrap_or(0)
    }

    fn grid(self) -> Grid {
        const H: i64 = 60 * MINUTE_MS;
        let fixed = |length_ms| Grid::Fixed {
            length_ms,
            anchor_ms: 0,
        };
        match self {
            Interval::M1 => fixed(MINUTE_MS),
            Interval::M3 => fixed(3 * MINUTE_MS),
            Interval::M5 => fixed(5 * MINUTE_MS),
            Interval::M15 => fixed(15 * MINUTE_MS),
            Interval::M30 => fixed(30 * MINUTE_MS),
            Interval::H1 => fixed(H),
            Interval::H2 => fixed(2 * H),
            Interval::H4 => fixed(4 * H),
            Interval::H6 => fixed(6 * H),
            Interval::H8 => fixed(8 * H),
            Interval::H12 => fixed(12 * H),
            Interval::D1 => fixed(DAY_MS),
            Interval::D3 => Grid::Fixed {
                length_ms: 3 * DAY_MS,
                anchor_ms: DAY_MS,
            },
            Interval::W1 => Grid::Fixed {
                length_ms: 7 * DAY_MS,
                anchor_ms: 4 * DAY_MS,
            },
            Interval::Mo1 => Grid::Month,
        }
    }

    /// The number of the candle containing the instant `t_ms` on this interval's grid
    /// (0 is the candle opening at the grid's anchor, earlier ones are negative).
    fn candle_number(self, t_ms: i64) -> i64 {
        match self.grid() {
            Grid::Fixed {
                length_ms,
                anchor_ms,
            } => t_ms.saturating_sub(anchor_ms).div_euclid(length_ms),
            Grid::Month => month_containing(t_ms),
        }
    }

    /// The open time (ms) of candle number `n` (see [`Interval::candle_number`]).
    fn open_time_of(self, n: i64) -> i64 {
        match self.grid() {
            Grid::Fixed {
                length_ms,
                anchor_ms,
            } => n.saturating_mul(length_ms).saturating_add(anchor_ms),
            Grid::Month => month_start_ms(n),
        }
    }

    /// The length of the longest candle in ms: the length of every candle for the fixed
    /// intervals, 31 days for `1M`. For thresholds only; step along the grid
    /// with [`Interval::add_candles`].
    pub fn longest_ms(self) -> i64 {
        match self.grid() {
            Grid::Fixed { length_ms, .. } => length_ms,
            Grid::Month => 31 * DAY_MS,
        }
    }

    /// The open time (ms) of the candle that contains the instant `t_ms`.
    pub fn open_time_containing(self, t_ms: i64) -> i64 {
        self.add_candles(t_ms, 0)
    }

    /// The open time (ms) of the candle `n` candles after the one containing the instant
    /// `t_ms` (before it for a negative `n`; that candle itself for 0). For `1M` this
    /// follows the calendar: one candle after 2024-01-31 12:00 opens 2024-02-01.
    pub fn add_candles(self, t_ms: i64, n: i64) -> i64 {
        self.open_time_of(self.candle_number(t_ms).saturating_add(n))
    }

    /// How many candles `first_ms..=last_ms` spans: from the candle containing `first_ms`
    /// to the one containing `last_ms`, both counted; 0 or less when the latter opens
    /// before the former.
    pub fn candle_count(self, first_ms: i64, last_ms: i64) -> i64 {
        self.candle_number(last_ms)
            .saturating_sub(self.candle_number(first_ms))
            .saturating_add(1)
    }

    /// The open time of the newest candle that has fully closed at instant `now_ms`: the
    /// candle before the one containing `now_ms`.
    pub fn last_closed_open_time(self, now_ms: i64) -> i64 {
        self.add_candles(now_ms, -1)
    }

    /// The close time Binance reports for the candle opening at `open_time_ms`: one ms
    /// before the next candle opens (`open_time + length - 1` for fixed lengths).
    pub fn close_time(self, open_time_ms: i64) -> i64 {
        self.add_candles(open_time_ms, 1).saturating_sub(1)
    }
}

impl FromStr for Interval {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| ParseError::Interval(s.to_string()))
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One candle, as `GET /api/v3/klines` returns it (spot `rest-api.md`,
/// "Kline/Candlestick data"): a 12-element array whose last element is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Kline {
    /// Open time, ms since the epoch (UTC). Identifies the candle.
    pub open_time: i64,
    /// Close time, ms: `open_time + interval - 1`.
    pub close_time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// Volume in the base asset.
    pub volume: f64,
    /// Volume in the quote asset.
    pub quote_volume: f64,
    /// Number of trades.
    pub trades: u64,
    /// Base-asset volume bought by takers.
    pub taker_buy_base_volume: f64,
    /// Quote-asset volume bought by takers.
    pub taker_buy_quote_volume: f64,
}

/// A rolling 24-hour ticker snapshot of one symbol (spot `GET /api/v3/ticker/24hr`,
/// `type=FULL`). Prices in the quote asset, volumes as named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticker {
    pub symbol: Symbol,
    /// Last traded price.
    pub last_price: f64,
    /// Best bid price and quantity.
    pub bid_price: f64,
    pub bid_qty: f64,
    /// Best ask price and quantity.
    pub ask_price: f64,
    pub ask_qty: f64,
    /// Price 24 hours ago, and the window's high and low.
    pub open_price: f64,
    pub high_price: f64,
    pub low_price: f64,
    /// Relative change over the window, in percent.
    pub price_change_percent: f64,
    /// Base-asset and quote-asset volume over the window.
    pub volume: f64,
    pub quote_volume: f64,
    /// Number of trades in the window.
    pub trades: u64,
    /// The window, ms since the epoch.
    pub open_time: i64,
    pub close_time: i64,
}

/// Trading status of a symbol (spot `enums.md`, "Symbol status"). Only `TRADING` symbols
/// are followed; any status Binance adds later is kept as [`SymbolStatus::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SymbolStatus {
    Trading,
    EndOfDay,
    Halt,
    Break,
    CancelOnly,
    Other(String),
}

impl SymbolStatus {
    /// Binance's spelling, e.g. `"TRADING"`.
    pub fn as_str(&self) -> &str {
        match self {
            SymbolStatus::Trading => "TRADING",
            SymbolStatus::EndOfDay => "END_OF_DAY",
            SymbolStatus::Halt => "HALT",
            SymbolStatus::Break => "BREAK",
            SymbolStatus::CancelOnly => "CANCEL_ONLY",
            SymbolStatus::Other(s) => s,
        }
    }

    /// Parses Binance's spelling; unknown values become [`SymbolStatus::Other`].
    pub fn parse(s: &str) -> SymbolStatus {
        match s {
            "TRADING" => SymbolStatus::Trading,
            "END_OF_DAY" => SymbolStatus::EndOfDay,
            "HALT" => SymbolStatus::Halt,
            "BREAK" => SymbolStatus::Break,
            "CANCEL_ONLY" => SymbolStatus::CancelOnly,
            other => SymbolStatus::Other(other.to_string()),
        }
    }
}

impl fmt::Display for SymbolStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `exchangeInfo` says about one symbol (spot `rest-api.md`, "Exchange information").
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolInfo {
    pub symbol: Symbol,
    pub status: SymbolStatus,
    /// The asset bought and sold, e.g. `BTC` in `BTCUSDT`.
    pub base_asset: String,
    /// The asset prices are quoted in, e.g. `USDT` in `BTCUSDT`.
    pub quote_asset: String,
    /// The trading rules orders are checked against before they are sent
    /// (<https://developers.binance.com/docs/binance-spot-api-docs/filters>); empty when the
    /// answer carried none.
    pub filters: SymbolFilters,
}

/// The kind of a rate limiter in `exchangeInfo.rateLimits` (spot `enums.md`, "Rate limiters").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitKind {
    /// Request weight per IP; the budget every REST call draws on.
    RequestWeight,
    /// Unfilled orders per account.
    Orders,
    /// Raw request count per IP.
    RawRequests,
    Other(String),
}

/// One rate limiter from `exchangeInfo.rateLimits`: at most `limit` per fixed window of
/// `interval_ms` milliseconds (windows reset on boundaries, spot `rest-api.md`, "LIMITS").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub kind: RateLimitKind,
    pub interval_ms: i64,
    pub limit: u32,
}

/// The parts of `GET /api/v3/exchangeInfo` the daemon uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeInfo {
    /// Server time when the answer was made, ms.
    pub server_time: i64,
    pub rate_limits: Vec<RateLimit>,
    pub symbols: Vec<SymbolInfo>,
}

impl ExchangeInfo {
    /// The one-minute request-weight limit, if the exchange published one.
    pub fn request_weight_per_minute(&self) -> Option<u32> {
        self.rate_limits
            .iter()
            .find(|r| r.kind == RateLimitKind::RequestWeight && r.interval_ms == MINUTE_MS)
            .map(|r| r.limit)
    }

    /// Looks a symbol up by name.
    pub fn symbol(&self, symbol: &Symbol) -> Option<&SymbolInfo> {
        self.symbols.iter().find(|s| &s.symbol == symbol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_upper_cased_and_validated() {
        assert_eq!("btcusdt".parse::<Symbol>().unwrap().as_str(), "BTCUSDT");
        assert!("".parse::<Symbol>().is_err());
        assert!("BTC-USDT".parse::<Symbol>().is_err());
        assert!("BTC USDT".parse::<Symbol>().is_err());
        assert!("A".repeat(21).parse::<Symbol>().is_err());
        // COIN-M contracts: an inner underscore, never a leading or trailing one.
        assert_eq!(
            "btcusd_perp".parse::<Symbol>().unwrap().as_str(),
            "BTCUSD_PERP"
        );
        assert!("BTCUSD_251226".parse::<Symbol>().is_ok());
        assert!("_BTCUSD".parse::<Symbol>().is_err());
        assert!("BTCUSD_".parse::<Symbol>().is_err());
    }

    #[test]
    fn ccxt_base_slash_quote_symbols_are_joined() {
        for (input, expected) in [
            ("BTC/USDT", "BTCUSDT"),
            ("eth/btc", "ETHBTC"),
            (" Sol/Usdt ", "SOLUSDT"),
            ("1000SATS/USDT", "1000SATSUSDT"),
            // 20 characters once joined: the longest a symbol may be.
            ("ABCDEFGHIJ/KLMNOPQRST", "ABCDEFGHIJKLMNOPQRST"),
        ] {
            let symbol = input.parse::<Symbol>();
            assert_eq!(
                symbol.as_ref().map(Symbol::as_str),
                Ok(expected),
                "{input:?}"
            );
        }
        for input in [
            "/",
            "BTC/",
            "/USDT",
            "BTC//USDT",
            "BTC/USDT/EUR",
            "BTC / USDT",
            "BTC/USDT:USDT",
            "BTC-/USDT",
            "ABCDEFGHIJK/KLMNOPQRST",
        ] {
            let error = input.parse::<Symbol>().unwrap_err().to_string();
            assert!(
                error.contains(&format!("{input:?}")) && error.contains("BTC/USDT"),
                "{input:?} gave {error}"
            );
        }
    }

    #[test]
    fn interval_names_round_trip_and_unknown_ones_are_named() {
        for i in Interval::ALL {
            assert_eq!(i.as_str().parse::<Interval>().unwrap(), i);
        }
        let err = "2m".parse::<Interval>().unwrap_err().to_string();
        assert!(err.contains("\"2m\"") && err.contains("15m"), "{err}");
        // Every Binance interval but 1s; names are case-sensitive (1M is a month).
        assert_eq!(Interval::NAMES.len(), 15);
        assert_eq!("1M".parse::<Interval>(), Ok(Interval::Mo1));
        assert_eq!("3d".parse::<Interval>(), Ok(Interval::D3));
        assert!("1s".parse::<Interval>().is_err());
        assert!("1mo".parse::<Interval>().is_err());
        assert!("3D".parse::<Interval>().is_err());
    }

    #[test]
    fn candle_grid_matches_binance() {
        // 2021-10-22 23:03:00 UTC, from the recorded klines payload.
        let t = 1_634_943_780_000;
        assert_eq!(Interval::M1.open_time_containing(t + 59_999), t);
        assert_eq!(Interval::M1.close_time(t), 1_634_943_839_999);
        assert_eq!(Interval::H1.open_time_containing(t), 1_634_943_600_000);
        assert_eq!(Interval::D1.open_time_containing(t), 1_634_860_800_000);
        // Weekly candles open on Mondays: 2021-10-18 was a Monday.
        assert_eq!(Interval::W1.open_time_containing(t), 1_634_515_200_000);
        assert_eq!(
            Interval::M15.last_closed_open_time(t + 1),
            t - 3 * MINUTE_MS - 15 * MINUTE_MS
        );
    }

    /// `t` in ms since the epoch.
    fn ms(t: time::OffsetDateTime) -> i64 {
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap()
    }

    /// 00:00 UTC on `year`-`month`-01, in ms.
    fn first_of(year: i32, month: time::Month) -> i64 {
        let date = time::Date::from_calendar_date(year, month, 1).unwrap();
        ms(date.midnight().assume_utc())
    }

    #[test]
    fn monthly_candles_follow_the_calendar() {
        use time::Month::{December, February, January, March, November};
        use time::macros::datetime;
        let m = Interval::Mo1;
        // January to February.
        let (jan, feb, mar) = (
            first_of(2024, January),
            first_of(2024, February),
            first_of(2024, March),
        );
        assert_eq!(
            m.open_time_containing(ms(datetime!(2024-01-31 12:00 UTC))),
            jan
        );
        assert_eq!(m.add_candles(jan, 1), feb);
        assert_eq!(m.add_candles(ms(datetime!(2024-01-31 12:00 UTC)), 1), feb);
        assert_eq!(m.close_time(jan), feb - 1);
        // A leap February has 29 days: 2024 and 2000; a common one 28: 2023 and 2100.
        let leap_day_end = ms(datetime!(2024-02-29 23:59:59.999 UTC));
        assert_eq!(m.open_time_containing(leap_day_end), feb);
        assert_eq!(m.close_time(feb), leap_day_end);
        assert_eq!(m.add_candles(feb, 1), mar);
        for (year, days) in [(2024, 29), (2000, 29), (2023, 28), (2100, 28)] {
            let feb = first_of(year, February);
            assert_eq!(m.add_candles(feb, 1) - feb, days * DAY_MS, "{year}");
            assert_eq!(m.close_time(feb), first_of(year, March) - 1, "{year}");
        }
        // December to January of the next year, both ways.
        let dec = first_of(2023, December);
        assert_eq!(m.add_candles(dec, 1), jan);
        assert_eq!(m.close_time(dec), jan - 1);
        assert_eq!(m.add_candles(jan, -1), dec);
        assert_eq!(m.open_time_containing(jan - 1), dec);
        assert_eq!(m.last_closed_open_time(jan), dec);
        assert_eq!(m.last_closed_open_time(jan - 1), first_of(2023, November));
        // Many months at once, and counting them.
        assert_eq!(m.add_candles(jan, 13), first_of(2025, February));
        assert_eq!(m.add_candles(jan, -25), first_of(2021, December));
        let (from, to) = (
            ms(datetime!(2023-11-15 0:00 UTC)),
            ms(datetime!(2024-02-03 0:00 UTC)),
        );
        assert_eq!(m.candle_count(from, to), 4);
        assert_eq!(m.candle_count(to, from), -2);
        // Before the epoch.
        assert_eq!(m.open_time_containing(-1), first_of(1969, December));
        assert_eq!(m.add_candles(0, -1), first_of(1969, December));
        // BTCUSDT's monthly candles as Binance served them (recorded by OctoBot's history
        // collector, Drakkar-Software/OctoBot tests/static): 2017-08-01, 2017-09-01.
        assert_eq!(m.open_time_containing(1_502_928_000_000), 1_501_545_600_000);
        assert_eq!(m.add_candles(1_501_545_600_000, 1), 1_504_224_000_000);
        assert_eq!(
            first_of(2017, January),
            m.add_candles(1_501_545_600_000, -7)
        );
    }

    #[test]
    fn weekly_candles_open_on_monday() {
        use time::macros::datetime;
        let w = Interval::W1;
        // 2024-01-08 was a Monday: Sunday evening belongs to the week before.
        let monday = ms(datetime!(2024-01-08 0:00 UTC));
        assert_eq!(w.open_time_containing(monday - 1), monday - 7 * DAY_MS);
        assert_eq!(w.open_time_containing(monday), monday);
        assert_eq!(w.open_time_containing(monday + 7 * DAY_MS - 1), monday);
        assert_eq!(w.close_time(monday), monday + 7 * DAY_MS - 1);
        for n in [-3000, -1, 0, 1, 52, 3000] {
            let open = w.add_candles(monday, n);
            let day = time::OffsetDateTime::from_unix_timestamp(open / 1000).unwrap();
            assert_eq!(day.weekday(), time::Weekday::Monday, "{n}");
            assert_eq!(day.time(), time::Time::MIDNIGHT, "{n}");
        }
        // Before the epoch too: the week of 1970-01-01 opened on Monday 1969-12-29.
        assert_eq!(w.open_time_containing(0), -3 * DAY_MS);
        // Recorded Binance BTCUSDT weekly candles (same recording): 2017-08-14, 2017-08-21.
        assert_eq!(w.open_time_containing(1_502_928_000_000), 1_502_668_800_000);
        assert_eq!(w.add_candles(1_502_668_800_000, 1), 1_503_273_600_000);
    }

    #[test]
    fn three_day_candles_are_aligned_as_binance_aligns_them() {
        // BTCUSDT's first 3d candles on Binance open on 2017-08-17 and 2017-08-20 (recorded
        // by OctoBot's history collector, 85 consecutive candles): days since 1970-01-01
        // that are 1 modulo 3, i.e. every three days from 1970-01-02.
        let d3 = Interval::D3;
        let (first, second) = (1_502_928_000_000, 1_503_187_200_000);
        assert_eq!((first / DAY_MS) % 3, 1);
        assert_eq!(d3.open_time_containing(first), first);
        assert_eq!(d3.open_time_containing(second - 1), first);
        assert_eq!(d3.open_time_containing(second), second);
        assert_eq!(d3.add_candles(first, 1), second);
        assert_eq!(d3.close_time(first), second - 1);
        assert_eq!(d3.last_closed_open_time(second + DAY_MS), first);
        assert_eq!(d3.candle_count(first, second + 3 * DAY_MS - 1), 2);
        // Around the epoch: 1969-12-30, then 1970-01-02.
        assert_eq!(d3.open_time_containing(0), -2 * DAY_MS);
        assert_eq!(d3.open_time_containing(DAY_MS), DAY_MS);
        assert_eq!(d3.open_time_containing(DAY_MS - 1), -2 * DAY_MS);
    }

    #[test]
    fn every_grid_is_consistent_and_extreme_times_saturate() {
        // 2026-11-21 12:00 UTC and around it, and before the epoch.
        let times = [
            1_795_262_400_000,
            1_795_262_400_001,
            1_795_262_399_999,
            -1,
            0,
        ];
        for i in Interval::ALL {
            for t in times {
                let open = i.open_time_containing(t);
                let next = i.add_candles(t, 1);
                assert!(open <= t && t < next, "{i} at {t}");
                assert_eq!(i.close_time(open), next - 1, "{i} at {t}");
                assert_eq!(i.open_time_containing(open), open, "{i} at {t}");
                assert_eq!(i.add_candles(next, -1), open, "{i} at {t}");
                assert_eq!(i.last_closed_open_time(t), i.add_candles(open, -1), "{i}");
                assert_eq!(i.candle_count(open, i.add_candles(t, 9)), 10, "{i}");
                assert!(next - open <= i.longest_ms(), "{i}");
            }
            // Far outside any real time: no overflow, nothing out of order.
            for t in [i64::MIN, i64::MAX] {
                let open = i.open_time_containing(t);
                assert!(i.add_candles(t, i64::MIN) <= open && open <= i.add_candles(t, i64::MAX));
                let _ = (i.close_time(open), i.last_closed_open_time(t));
                assert!(i.candle_count(i64::MIN, i64::MAX) > 0);
            }
        }
    }
}
