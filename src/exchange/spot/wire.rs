//! Binance's JSON payloads and their conversion into domain types (shapes: "General
//! endpoints" and "Market Data endpoints" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api>; the error body:
//! <https://developers.binance.com/docs/binance-spot-api-docs/errors>).
//!
//! Private to `exchange`: nothing else in the crate knows a Binance field name. Every
//! parser takes the raw body and returns the domain value or a one-line description of
//! what is wrong with the payload; it never panics on input.
//!
//! Tolerance follows Binance's own habits: ids, times and counts are accepted as JSON
//! numbers or as strings of digits; decimals (prices, volumes) must be strings, as Binance
//! sends them, and are parsed with `str::parse::<f64>` (correctly rounded, so the result
//! is bit-identical to parsing the same text anywhere else); non-finite values are
//! refused. Unknown fields are ignored everywhere.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, de::DeserializeOwned};

use rust_decimal::Decimal;

use crate::domain::{
    DAY_MS, ExchangeInfo, Kline, LotSizeFilter, MINUTE_MS, MinNotionalFilter, NotionalFilter,
    OrderType, PercentPriceFilter, PriceFilter, RateLimit, RateLimitKind, Symbol, SymbolFilters,
    SymbolInfo, SymbolStatus, Ticker,
};
use crate::exchange::wire::Int;

/// A non-negative integer (a count), as [`Int`].
#[derive(Debug, Clone, Copy)]
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Int(v) = Int::deserialize(d)?;
        u64::try_from(v)
            .map(Count)
            .map_err(|_| de::Error::custom(format!("count {v} is negative")))
    }
}

/// A decimal sent as a string (`"60685.22000000"`), parsed to a finite `f64`.
#[derive(Debug, Clone, Copy)]
struct Dec(f64);

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DecVisitor;
        impl Visitor<'_> for DecVisitor {
            type Value = Dec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number in a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dec, E> {
                match v.parse::<f64>() {
                    Ok(x) if x.is_finite() => Ok(Dec(x)),
                    _ => Err(E::custom(format!("{v:?} is not a finite decimal"))),
                }
            }
        }
        d.deserialize_str(DecVisitor)
    }
}

/// One kline: an array of at least 11 elements (Binance sends 12, the last unused:
/// "Kline/Candlestick data" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>).
/// Elements past the 11th are ignored.
struct WireKline(Kline);

impl<'de> Deserialize<'de> for WireKline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KlineVisitor;
        const EXPECTED: &str = "a kline array of at least 11 elements";

        fn next<'de, A: SeqAccess<'de>, T: Deserialize<'de>>(
            seq: &mut A,
            index: usize,
        ) -> Result<T, A::Error> {
            seq.next_element()?
                .ok_or_else(|| de::Error::invalid_length(index, &EXPECTED))
        }

        impl<'de> Visitor<'de> for KlineVisitor {
            type Value = WireKline;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireKline, A::Error> {
                let Int(open_time) = next(&mut seq, 0)?;
                let Dec(open) = next(&mut seq, 1)?;
                let Dec(high) = next(&mut seq, 2)?;
                let Dec(low) = next(&mut seq, 3)?;
                let Dec(close) = next(&mut seq, 4)?;
                let Dec(volume) = next(&mut seq, 5)?;
                let Int(close_time) = next(&mut seq, 6)?;
                let Dec(quote_volume) = next(&mut seq, 7)?;
                let Count(trades) = next(&mut seq, 8)?;
                let Dec(taker_buy_base_volume) = next(&mut seq, 9)?;
                let Dec(taker_buy_quote_volume) = next(&mut seq, 10)?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(WireKline(Kline {
                    open_time,
                    close_time,
                    open,
                    high,
                    low,
                    close,
                    volume,
                    quote_volume,
                    trades,
                    taker_buy_base_volume,
                    taker_buy_quote_volume,
                }))
            }
        }
        d.deserialize_seq(KlineVisitor)
    }
}

/// `GET /api/v3/ticker/24hr`, `type=FULL`: one element of the array ("24hr ticker price
/// change statistics" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTicker {
    symbol: Symbol,
    last_price: Dec,
    bid_price: Dec,
    bid_qty: Dec,
    ask_price: Dec,
    ask_qty: Dec,
    open_price: Dec,
    high_price: Dec,
    low_price: Dec,
    price_change_percent: Dec,
    volume: Dec,
    quote_volume: Dec,
    count: Count,
    open_time: Int,
    close_time: Int,
}

/// `GET /api/v3/exchangeInfo`; only the fields the daemon uses ("Exchange information" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-endpoints>;
/// its `rateLimits`: "Rate limiters" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/enums>).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireExchangeInfo {
    server_time: Int,
    #[serde(default)]
    rate_limits: Vec<WireRateLimit>,
    symbols: Vec<WireSymbol>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRateLimit {
    rate_limit_type: String,
    interval: String,
    /// Missing in some payloads: 1.
    #[serde(default = "one")]
    interval_num: Int,
    limit: Int,
}

fn one() -> Int {
    Int(1)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSymbol {
    symbol: String,
    status: String,
    base_asset: String,
    quote_asset: String,
    /// Missing in some payloads: no local checks then.
    #[serde(default)]
    filters: Vec<Lenient<WireFilter>>,
    #[serde(default)]
    order_types: Vec<String>,
    #[serde(default)]
    quote_order_qty_market_allowed: bool,
}

/// A value that is kept when it parses and dropped (`None`) when it does not, so that one
/// odd filter does not refuse a whole `exchangeInfo`.
struct Lenient<T>(Option<T>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        match serde_json::from_value(value) {
            Ok(t) => Ok(Lenient(Some(t))),
            Err(e) => {
                tracing::debug!(error = %e, "exchange filter not understood, ignored");
                Ok(Lenient(None))
            }
        }
    }
}

/// A filter decimal: a string such as `"0.01000000"`, parsed exactly; an empty string
/// (sent for fields a filter does not use) reads as zero, which turns its check off.
#[derive(Debug, Clone, Copy, Default)]
struct FilterDec(Decimal);

impl<'de> Deserialize<'de> for FilterDec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(FilterDec(Decimal::ZERO));
        }
        match s.parse::<Decimal>() {
            Ok(v) if !v.is_sign_negative() => Ok(FilterDec(v)),
            _ => Err(de::Error::custom(format!("{s:?} is not a decimal"))),
        }
    }
}

/// The symbol filters tradebeat enforces; every other `filterType` is `Other` and ignored
/// (<https://developers.binance.com/docs/binance-spot-api-docs/filters>).
#[derive(Deserialize)]
#[serde(tag = "filterType")]
enum WireFilter {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    Price {
        min_price: FilterDec,
        max_price: FilterDec,
        tick_size: FilterDec,
    },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        min_qty: FilterDec,
        max_qty: FilterDec,
        step_size: FilterDec,
    },
    #[serde(rename = "MARKET_LOT_SIZE", rename_all = "camelCase")]
    MarketLotSize {
        min_qty: FilterDec,
        max_qty: FilterDec,
        step_size: FilterDec,
    },
    #[serde(rename = "MIN_NOTIONAL", rename_all = "camelCase")]
    MinNotional {
        // Futures spell it `notional`.
        #[serde(alias = "notional")]
        min_notional: FilterDec,
        #[serde(default)]
        apply_to_market: bool,
        #[serde(default)]
        avg_price_mins: Option<Count>,
    },
    #[serde(rename = "NOTIONAL", rename_all = "camelCase")]
    Notional {
        #[serde(default)]
        min_notional: FilterDec,
        #[serde(default)]
        apply_min_to_market: bool,
        #[serde(default)]
        max_notional: FilterDec,
        #[serde(default)]
        apply_max_to_market: bool,
        #[serde(default)]
        avg_price_mins: Option<Count>,
    },
    #[serde(rename = "PERCENT_PRICE", rename_all = "camelCase")]
    PercentPrice {
        multiplier_up: FilterDec,
        multiplier_down: FilterDec,
    },
    #[serde(rename = "MAX_NUM_ORDERS", rename_all = "camelCase")]
    MaxNumOrders {
        // Futures spell it `limit`.
        #[serde(alias = "limit")]
        max_num_orders: Count,
    },
    #[serde(other)]
    Other,
}

/// A symbol's `filters`, `orderTypes` and `quoteOrderQtyMarketAllowed` → [`SymbolFilters`].
/// Order types tradebeat does not know are left out.
fn symbol_filters(
    filters: Vec<Lenient<WireFilter>>,
    order_types: &[String],
    quote_order_qty_market_allowed: bool,
) -> SymbolFilters {
    let mins = |c: Option<Count>| c.map_or(0, |Count(n)| u32::try_from(n).unwrap_or(u32::MAX));
    let mut out = SymbolFilters {
        order_types: order_types
            .iter()
            .filter_map(|t| t.parse::<OrderType>().ok())
            .collect(),
        quote_order_qty_market_allowed,
        ..SymbolFilters::default()
    };
    for filter in filters.into_iter().filter_map(|f| f.0) {
        match filter {
            WireFilter::Price {
                min_price,
                max_price,
                tick_size,
            } => {
                out.price = Some(PriceFilter {
                    min_price: min_price.0,
                    max_price: max_price.0,
                    tick_size: tick_size.0,
                })
            }
            WireFilter::LotSize {
                min_qty,
                max_qty,
                step_size,
            } => {
                out.lot_size = Some(LotSizeFilter {
                    min_qty: min_qty.0,
                    max_qty: max_qty.0,
                    step_size: step_size.0,
                })
            }
            WireFilter::MarketLotSize {
                min_qty,
                max_qty,
                step_size,
            } => {
                out.market_lot_size = Some(LotSizeFilter {
                    min_qty: min_qty.0,
                    max_qty: max_qty.0,
                    step_size: step_size.0,
                })
            }
            WireFilter::MinNotional {
                min_notional,
                apply_to_market,
                avg_price_mins,
            } => {
                out.min_notional = Some(MinNotionalFilter {
                    min_notional: min_notional.0,
                    apply_to_market,
                    avg_price_mins: mins(avg_price_mins),
                })
            }
            WireFilter::Notional {
                min_notional,
                apply_min_to_market,
                max_notional,
                apply_max_to_market,
                avg_price_mins,
            } => {
                out.notional = Some(NotionalFilter {
                    min_notional: min_notional.0,
                    apply_min_to_market,
                    max_notional: max_notional.0,
                    apply_max_to_market,
                    avg_price_mins: mins(avg_price_mins),
                })
            }
            WireFilter::PercentPrice {
                multiplier_up,
                multiplier_down,
            } => {
                out.percent_price = Some(PercentPriceFilter {
                    multiplier_up: multiplier_up.0,
                    multiplier_down: multiplier_down.0,
                })
            }
            WireFilter::MaxNumOrders { max_num_orders } => {
                out.max_num_orders = Some(mins(Some(max_num_orders)))
            }
            WireFilter::Other => {}
        }
    }
    out
}

fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// Any JSON value (`GET /api/v3/ping` answers `{}`).
pub(super) fn parse_any(body: &[u8]) -> Result<(), String> {
    from_json::<IgnoredAny>(body).map(|_| ())
}

/// An array of klines → [`Kline`]s, in the order sent.
pub(super) fn parse_klines(body: &[u8]) -> Result<Vec<Kline>, String> {
    let rows: Vec<WireKline> = from_json(body)?;
    Ok(rows.into_iter().map(|k| k.0).collect())
}

/// An array of `FULL` 24-hour tickers → [`Ticker`]s, in the order sent.
pub(super) fn parse_tickers(body: &[u8]) -> Result<Vec<Ticker>, String> {
    let rows: Vec<WireTicker> = from_json(body)?;
    Ok(rows
        .into_iter()
        .map(|t| Ticker {
            symbol: t.symbol,
            last_price: t.last_price.0,
            bid_price: t.bid_price.0,
            bid_qty: t.bid_qty.0,
            ask_price: t.ask_price.0,
            ask_qty: t.ask_qty.0,
            open_price: t.open_price.0,
            high_price: t.high_price.0,
            low_price: t.low_price.0,
            price_change_percent: t.price_change_percent.0,
            volume: t.volume.0,
            quote_volume: t.quote_volume.0,
            trades: t.count.0,
            open_time: t.open_time.0,
            close_time: t.close_time.0,
        })
        .collect())
}

/// `exchangeInfo` → [`ExchangeInfo`]. Unknown statuses become [`SymbolStatus::Other`];
/// a rate limit with an unknown interval and a symbol whose name is not a valid
/// [`Symbol`] are left out (and logged at debug level), rather than failing the whole
/// answer.
pub(in crate::exchange) fn parse_exchange_info(body: &[u8]) -> Result<ExchangeInfo, String> {
    let wire: WireExchangeInfo = from_json(body)?;
    let rate_limits = wire
        .rate_limits
        .into_iter()
        .filter_map(|r| {
            let converted = rate_limit(&r);
            if converted.is_none() {
                tracing::debug!(
                    rate_limit_type = %r.rate_limit_type,
                    interval = %r.interval,
                    interval_num = r.interval_num.0,
                    limit = r.limit.0,
                    "rate limit not understood, ignored"
                );
            }
            converted
        })
        .collect();
    let total = wire.symbols.len();
    let symbols: Vec<SymbolInfo> = wire
        .symbols
        .into_iter()
        .filter_map(|s| {
            let symbol = s.symbol.parse::<Symbol>().ok()?;
            Some(SymbolInfo {
                symbol,
                status: SymbolStatus::parse(&s.status),
                base_asset: s.base_asset,
                quote_asset: s.quote_asset,
                filters: symbol_filters(
                    s.filters,
                    &s.order_types,
                    s.quote_order_qty_market_allowed,
                ),
            })
        })
        .collect();
    if symbols.len() < total {
        tracing::debug!(
            skipped = total - symbols.len(),
            "symbols with names tradebeat cannot handle were left out"
        );
    }
    Ok(ExchangeInfo {
        server_time: wire.server_time.0,
        rate_limits,
        symbols,
    })
}

fn rate_limit(r: &WireRateLimit) -> Option<RateLimit> {
    let unit_ms = match r.interval.as_str() {
        "SECOND" => 1000,
        "MINUTE" => MINUTE_MS,
        "HOUR" => 60 * MINUTE_MS,
        "DAY" => DAY_MS,
        _ => return None,
    };
    let interval_ms = unit_ms.checked_mul(r.interval_num.0).filter(|ms| *ms > 0)?;
    let kind = match r.rate_limit_type.as_str() {
        "REQUEST_WEIGHT" => RateLimitKind::RequestWeight,
        "ORDERS" => RateLimitKind::Orders,
        "RAW_REQUESTS" => RateLimitKind::RawRequests,
        other => RateLimitKind::Other(other.to_string()),
    };
    Some(RateLimit {
        kind,
        interval_ms,
        limit: u32::try_from(r.limit.0).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::wire::{banned_until_from_msg, parse_api_error, parse_server_time};

    const KLINES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/http_spot_market_klines.json"
    ));
    const DOC_KLINES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/doc_klines_response.json"
    ));
    const DOC_TICKER: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/doc_ticker_24hr_response.json"
    ));
    const TIME: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/http_spot_market_time.json"
    ));
    const PING: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/http_spot_market_ping.json"
    ));
    const INFO_HTTP: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/http_spot_market_exchange_info.json"
    ));
    const INFO_FULL: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/exchange_info_spot_full.json"
    ));
    const INFO_HANDEDITED: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/exchange_info_btcusdt_handedited.json"
    ));
    const INFO_2022: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/exchange_info_btcusdt_2022.json"
    ));
    const INFO_DOC: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/doc_exchange_info_response.json"
    ));

    fn sym(s: &str) -> Symbol {
        s.parse().unwrap()
    }

    #[test]
    fn recorded_klines_parse_exactly() {
        let klines = parse_klines(KLINES.as_bytes()).unwrap();
        assert_eq!(klines.len(), 10);
        assert_eq!(
            klines[0],
            Kline {
                open_time: 1_634_943_780_000,
                close_time: 1_634_943_839_999,
                open: 60685.22,
                high: 60729.84,
                low: 60670.90,
                close: 60719.27,
                volume: 21.63272,
                quote_volume: 1313200.0134041,
                trades: 617,
                taker_buy_base_volume: 12.28492,
                taker_buy_quote_volume: 745719.4102284,
            }
        );
        assert_eq!(
            klines[9],
            Kline {
                open_time: 1_634_944_320_000,
                close_time: 1_634_944_379_999,
                open: 60739.85,
                high: 60739.85,
                low: 60739.85,
                close: 60739.85,
                volume: 0.04734,
                quote_volume: 2875.424499,
                trades: 7,
                taker_buy_base_volume: 0.04734,
                taker_buy_quote_volume: 2875.424499,
            }
        );
        // Bit-identical to parsing the text on its own.
        assert_eq!(
            klines[0].quote_volume.to_bits(),
            "1313200.01340410".parse::<f64>().unwrap().to_bits()
        );
        assert!(
            klines
                .windows(2)
                .all(|w| w[1].open_time - w[0].open_time == 60_000)
        );
    }

    #[test]
    fn doc_klines_parse() {
        let klines = parse_klines(DOC_KLINES.as_bytes()).unwrap();
        assert_eq!(klines.len(), 1);
        let k = klines[0];
        assert_eq!(
            (k.open_time, k.close_time),
            (1_499_040_000_000, 1_499_644_799_999)
        );
        assert_eq!(
            (k.open, k.high, k.low, k.close),
            (0.0163479, 0.8, 0.015758, 0.015771)
        );
        assert_eq!((k.volume, k.quote_volume), (148976.11427815, 2434.19055334));
        assert_eq!(k.trades, 308);
        assert_eq!(
            (k.taker_buy_base_volume, k.taker_buy_quote_volume),
            (1756.87402397, 28.46694368)
        );
    }

    #[test]
    fn kline_shapes() {
        const ROW: &str = r#"1499040000000,"1.5","2","0.5","1","10",1499099999999,"15",3,"4","6""#;
        // (payload, parses?)
        let cases = [
            ("[]".to_string(), true),
            (format!("[[{ROW}]]"), true),       // 11 elements
            (format!("[[{ROW},\"0\"]]"), true), // 12, as Binance sends
            (format!("[[{ROW},\"0\",null,{{\"x\":1}}]]"), true), // extra trailing elements
            (
                r#"[["1499040000000","1","1","1","1","1","1499099999999","1","3","1","1","0"]]"#
                    .to_string(),
                true, // times and counts as strings
            ),
            (
                r#"[[1499040000000,"1","1","1","1","1",1499099999999,"1",3,"1"]]"#.to_string(),
                false,
            ),
            ("[[]]".to_string(), false),
            (format!("[[{}]]", ROW.replace("\"1.5\"", "1.5")), false), // price as a number
            (format!("[[{}]]", ROW.replace("\"1.5\"", "\"abc\"")), false),
            (format!("[[{}]]", ROW.replace("\"1.5\"", "\"NaN\"")), false),
            (format!("[[{}]]", ROW.replace("\"1.5\"", "\"inf\"")), false),
            (format!("[[{}]]", ROW.replace(",3,", ",-3,")), false), // negative trade count
            (format!("[[{}]]", ROW.replace(",3,", ",3.5,")), false),
            (format!("[{{\"t\":{ROW}}}]"), false),
            ("{}".to_string(), false),
            ("".to_string(), false),
        ];
        for (payload, ok) in cases {
            let result = parse_klines(payload.as_bytes());
            assert_eq!(result.is_ok(), ok, "{payload}: {result:?}");
        }
        let k = parse_klines(format!("[[{ROW}]]").as_bytes()).unwrap()[0];
        assert_eq!((k.open, k.trades, k.taker_buy_quote_volume), (1.5, 3, 6.0));
    }

    #[test]
    fn doc_ticker_parses() {
        let tickers = parse_tickers(format!("[{DOC_TICKER}]").as_bytes()).unwrap();
        assert_eq!(
            tickers,
            vec![Ticker {
                symbol: sym("BNBBTC"),
                last_price: 4.000002,
                bid_price: 4.0,
                bid_qty: 100.0,
                ask_price: 4.000002,
                ask_qty: 100.0,
                open_price: 99.0,
                high_price: 100.0,
                low_price: 0.1,
                price_change_percent: -95.96,
                volume: 8913.3,
                quote_volume: 15.3,
                trades: 76,
                open_time: 1_499_783_499_040,
                close_time: 1_499_869_899_040,
            }]
        );
        // A single object (the `symbol=` shape) is not what we ask for.
        assert!(parse_tickers(DOC_TICKER.as_bytes()).is_err());
        // A MINI ticker lacks bid/ask.
        let mini = DOC_TICKER.replace("\"bidPrice\"", "\"x\"");
        assert!(parse_tickers(format!("[{mini}]").as_bytes()).is_err());
    }

    #[test]
    fn exchange_info_fixtures() {
        // (name, payload, symbols, trading, REQUEST_WEIGHT per minute, rate limits)
        let cases = [
            ("http", INFO_HTTP, 2, 2, Some(1200), 4),
            ("full", INFO_FULL, 1248, 1248, Some(6000), 4),
            ("handedited", INFO_HANDEDITED, 1, 1, Some(6000), 4),
            ("2022", INFO_2022, 1, 1, Some(1200), 4),
            ("doc", INFO_DOC, 1, 1, None, 0),
        ];
        for (name, payload, symbols, trading, weight, limits) in cases {
            let info = parse_exchange_info(payload.as_bytes()).unwrap();
            assert_eq!(info.symbols.len(), symbols, "{name}");
            let n = info
                .symbols
                .iter()
                .filter(|s| s.status == SymbolStatus::Trading)
                .count();
            assert_eq!(n, trading, "{name}");
            assert_eq!(info.request_weight_per_minute(), weight, "{name}");
            assert_eq!(info.rate_limits.len(), limits, "{name}");
        }
    }

    #[test]
    fn exchange_info_details() {
        let full = parse_exchange_info(INFO_FULL.as_bytes()).unwrap();
        assert_eq!(full.server_time, 1_725_817_008_719);
        assert_eq!(
            full.rate_limits[3],
            RateLimit {
                kind: RateLimitKind::RawRequests,
                interval_ms: 5 * MINUTE_MS,
                limit: 61_000
            }
        );
        let btc = full.symbol(&sym("BTCUSDT")).unwrap();
        assert_eq!(
            (btc.base_asset.as_str(), btc.quote_asset.as_str()),
            ("BTC", "USDT")
        );

        // No intervalNum: 1.
        let edited = parse_exchange_info(INFO_HANDEDITED.as_bytes()).unwrap();
        assert_eq!(
            edited.rate_limits[1],
            RateLimit {
                kind: RateLimitKind::Orders,
                interval_ms: 1000,
                limit: 50
            }
        );
        let old = parse_exchange_info(INFO_2022.as_bytes()).unwrap();
        assert_eq!(old.rate_limits[1].interval_ms, 10_000);
        assert_eq!(old.symbols[0].symbol, sym("BTCUSDT"));
    }

    #[test]
    fn exchange_info_tolerates_what_it_does_not_know() {
        let payload = r#"{
            "serverTime": "1565246363776",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "limit": 6000},
                {"rateLimitType": "NEW_KIND", "interval": "SECOND", "intervalNum": 10, "limit": 5},
                {"rateLimitType": "ORDERS", "interval": "FORTNIGHT", "intervalNum": 1, "limit": 5}
            ],
            "symbols": [
                {"symbol": "AAAUSDT", "status": "PRE_TRADING", "baseAsset": "AAA",
                 "quoteAsset": "USDT", "filters": [{"filterType": "BRAND_NEW", "x": "1"}]},
                {"symbol": "币安人生USDT", "status": "TRADING", "baseAsset": "币安人生",
                 "quoteAsset": "USDT"},
                {"symbol": "BBBUSDT", "status": "CANCEL_ONLY", "baseAsset": "BBB",
                 "quoteAsset": "USDT", "newField": {"a": [1, 2]}}
            ]
        }"#;
        let info = parse_exchange_info(payload.as_bytes()).unwrap();
        assert_eq!(info.server_time, 1_565_246_363_776);
        assert_eq!(info.request_weight_per_minute(), Some(6000));
        assert_eq!(
            info.rate_limits[1].kind,
            RateLimitKind::Other("NEW_KIND".into())
        );
        assert_eq!(info.rate_limits.len(), 2);
        let statuses: Vec<_> = info.symbols.iter().map(|s| s.status.clone()).collect();
        assert_eq!(
            statuses,
            [
                SymbolStatus::Other("PRE_TRADING".into()),
                SymbolStatus::CancelOnly
            ]
        );
        // Missing symbols is not an exchangeInfo.
        assert!(parse_exchange_info(br#"{"serverTime": 1, "rateLimits": []}"#).is_err());
    }

    #[test]
    fn time_and_ping() {
        assert_eq!(parse_server_time(TIME.as_bytes()), Ok(1_633_835_466_289));
        assert_eq!(parse_server_time(br#"{"serverTime":"1"}"#), Ok(1));
        assert!(parse_server_time(br#"{"serverTime":1.5}"#).is_err());
        assert!(parse_server_time(b"{}").is_err());
        assert_eq!(parse_any(PING.as_bytes()), Ok(()));
        assert!(parse_any(b"<html>").is_err());
    }

    #[test]
    fn truncated_and_garbled_payloads_are_errors() {
        type Parser = fn(&[u8]) -> Result<(), String>;
        let parsers: [(&str, &str, Parser); 6] = [
            ("klines", KLINES, |b| parse_klines(b).map(drop)),
            ("ticker", DOC_TICKER, |b| parse_tickers(b).map(drop)),
            ("time", TIME, |b| parse_server_time(b).map(drop)),
            ("info http", INFO_HTTP, |b| parse_exchange_info(b).map(drop)),
            ("info 2022", INFO_2022, |b| parse_exchange_info(b).map(drop)),
            ("info full", INFO_FULL, |b| parse_exchange_info(b).map(drop)),
        ];
        for (name, payload, parse) in parsers {
            let bytes = payload.trim_end().as_bytes();
            for cut in [1, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
                assert!(parse(&bytes[..cut]).is_err(), "{name} cut at {cut}");
            }
            let garbled = payload.replacen('"', "'", 1);
            assert!(parse(garbled.as_bytes()).is_err(), "{name} garbled");
            assert!(parse(&[0xff, 0xfe, b'[']).is_err(), "{name} binary");
        }
    }

    #[test]
    fn api_error_bodies() {
        type Case = (&'static [u8], Option<(i64, &'static str)>);
        let cases: [Case; 5] = [
            (br#"{"code":-1121,"msg":"Invalid symbol."}"#, Some((-1121, "Invalid symbol."))),
            (
                br#"{"code":-1003,"msg":"Way too much request weight used; IP banned until 1663154404434. Please use WebSocket Streams for live updates to avoid bans."}"#,
                Some((-1003, "Way too much request weight used; IP banned until 1663154404434. Please use WebSocket Streams for live updates to avoid bans.")),
            ),
            (br#"{"code":"-1100","msg":"x"}"#, Some((-1100, "x"))),
            (b"<html><body>403 Forbidden</body></html>", None),
            (br#"{"code":-1121}"#, None),
        ];
        for (body, want) in cases {
            let got = parse_api_error(body);
            assert_eq!(
                got.as_ref().map(|(c, m)| (*c, m.as_str())),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn ban_end_from_message() {
        let cases = [
            (
                "Way too much request weight used; IP banned until 1663154404434. Please use WebSocket Streams for live updates to avoid bans.",
                Some(1_663_154_404_434),
            ),
            ("IP banned until 1663154404434", Some(1_663_154_404_434)),
            ("IP banned until soon", None),
            ("Too much request weight used", None),
        ];
        for (msg, want) in cases {
            assert_eq!(banned_until_from_msg(msg), want, "{msg}");
        }
    }
}
