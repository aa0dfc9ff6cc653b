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

pub use crate::orders::SymbolFilters;

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

/// A Binance symbol name such as `BTCUSDT`: upper-case letters and digits, 1 to 20 of them.
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
        let valid = (1..=20).contains(&upper.len())
            && upper
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
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

/// A kline (candlestick) interval, spelled as Binance spells it (`1m`, `15m`, `1h`, `1d` …;
/// spot `rest-api.md`, "Kline/Candlestick data", and `enums.md`, "Kline/Candlestick chart
/// intervals").
///
/// Only intervals of a fixed length are supported. Their candles open at multiples of the
/// interval since the Unix epoch, except `1w`, whose candles open on Mondays 00:00 UTC.
/// `1s` (too fine for a minute heartbeat), `3d` and `1M` (calendar-aligned) are rejected
/// with a clear error.
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
    W1,
}

impl Interval {
    /// Every supported interval, shortest first.
    pub const ALL: [Interval; 13] = [
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
        Interval::W1,
    ];

    /// The names of [`Interval::ALL`], for error messages and help texts.
    pub const NAMES: [&'static str; 13] = [
        "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "1w",
    ];

    /// Binance's name, e.g. `"15m"`.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self.index()]
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|i| *i == self).unwrap_or(0)
    }

    /// The length of one candle in milliseconds.
    pub fn duration_ms(self) -> i64 {
        const H: i64 = 60 * MINUTE_MS;
        match self {
            Interval::M1 => MINUTE_MS,
            Interval::M3 => 3 * MINUTE_MS,
            Interval::M5 => 5 * MINUTE_MS,
            Interval::M15 => 15 * MINUTE_MS,
            Interval::M30 => 30 * MINUTE_MS,
            Interval::H1 => H,
            Interval::H2 => 2 * H,
            Interval::H4 => 4 * H,
            Interval::H6 => 6 * H,
            Interval::H8 => 8 * H,
            Interval::H12 => 12 * H,
            Interval::D1 => DAY_MS,
            Interval::W1 => 7 * DAY_MS,
        }
    }

    /// Where the candle grid is anchored, in ms since the epoch: weekly candles open on
    /// Mondays (1970-01-05 was the first), all others at multiples of their length.
    fn anchor_ms(self) -> i64 {
        match self {
            Interval::W1 => 4 * DAY_MS,
            _ => 0,
        }
    }

    /// The open time (ms) of the candle that contains the instant `t_ms`.
    pub fn open_time_containing(self, t_ms: i64) -> i64 {
        let d = self.duration_ms();
        let a = self.anchor_ms();
        (t_ms - a).div_euclid(d) * d + a
    }

    /// The open time of the newest candle that has fully closed at instant `now_ms`: the
    /// candle before the one containing `now_ms`.
    pub fn last_closed_open_time(self, now_ms: i64) -> i64 {
        self.open_time_containing(now_ms) - self.duration_ms()
    }

    /// The close time Binance reports for the candle opening at `open_time_ms`:
    /// `open_time + length - 1`.
    pub fn close_time(self, open_time_ms: i64) -> i64 {
        open_time_ms + self.duration_ms() - 1
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
    /// The trading rules orders are checked against before they are sent (BINANCE.md
    /// §3.4); empty when the answer carried none.
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
        assert!("1M".parse::<Interval>().is_err());
        assert!("1s".parse::<Interval>().is_err());
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
}
