//! The futures market-data JSON (USDⓈ-M `/fapi`, COIN-M `/dapi`) and its conversion into
//! domain types. Private to `exchange::futures`: nothing else in the crate knows these
//! field names. Shapes: "Market Data" in
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api>
//! and <https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api>.
//!
//! Every parser takes the raw body and returns the domain value or a one-line description
//! of what is wrong; it never panics on input. Decimals must be strings and are parsed
//! exactly ([`parse_decimal`]); one bad element refuses the whole answer. Klines are the
//! same 12-element rows as spot and are parsed by the spot module's parser.

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};

use rust_decimal::Decimal;

use crate::domain::{
    ContractSpec, FundingRate, MarkPrice, OpenInterest, Symbol, Ticker, parse_decimal,
};
use crate::exchange::wire::Int;

/// An exact decimal sent as a string.
#[derive(Debug, Clone, Copy)]
struct Dec(Decimal);

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_decimal(&s).map(Dec).map_err(de::Error::custom)
    }
}

/// A decimal string that may be empty (`""`: none, as COIN-M sends for the funding rate
/// of a delivery contract), or absent.
#[derive(Debug, Clone, Copy, Default)]
struct OptDec(Option<Decimal>);

impl<'de> Deserialize<'de> for OptDec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(OptDec(None)),
            Some(s) if s.is_empty() => Ok(OptDec(None)),
            Some(s) => parse_decimal(&s)
                .map(|v| OptDec(Some(v)))
                .map_err(de::Error::custom),
        }
    }
}

/// A decimal string parsed to a finite `f64`, for the market-data columns kept as REAL.
#[derive(Debug, Clone, Copy)]
struct Real(f64);

impl<'de> Deserialize<'de> for Real {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Real(x)),
            _ => Err(de::Error::custom(format!("{s:?} is not a finite decimal"))),
        }
    }
}

fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        format!("{path}: {}", e.into_inner())
    })
}

/// An array of `T`, or one `T` alone (the futures APIs answer an object when asked for one
/// symbol and an array otherwise).
fn one_or_many<T: DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, String> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(vec![from_json::<T>(body)?]),
        _ => from_json::<Vec<T>>(body),
    }
}

/// One element of `premiumIndex`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePremiumIndex {
    symbol: Symbol,
    mark_price: Dec,
    index_price: Dec,
    #[serde(default)]
    estimated_settle_price: OptDec,
    #[serde(default)]
    last_funding_rate: OptDec,
    #[serde(default)]
    next_funding_time: Option<Int>,
    time: Int,
}

/// `premiumIndex` (an array, or an object for one symbol) →
/// [`MarkPrice`]s. A next funding time of 0 (delivery contracts) is `None`.
pub(super) fn parse_premium_index(body: &[u8]) -> Result<Vec<MarkPrice>, String> {
    let rows: Vec<WirePremiumIndex> = one_or_many(body)?;
    Ok(rows
        .into_iter()
        .map(|p| MarkPrice {
            symbol: p.symbol,
            mark_price: p.mark_price.0,
            index_price: p.index_price.0,
            estimated_settle_price: p.estimated_settle_price.0,
            funding_rate: p.last_funding_rate.0,
            next_funding_time: p.next_funding_time.map(|t| t.0).filter(|&t| t > 0),
            time: p.time.0,
        })
        .collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOpenInterest {
    symbol: Symbol,
    open_interest: Dec,
    time: Int,
}

/// `openInterest?symbol=` → [`OpenInterest`] (contracts on COIN-M, base asset on USDⓈ-M;
/// no value).
pub(super) fn parse_open_interest(body: &[u8]) -> Result<OpenInterest, String> {
    let w: WireOpenInterest = from_json(body)?;
    Ok(OpenInterest {
        symbol: w.symbol,
        time: w.time.0,
        open_interest: w.open_interest.0,
        open_interest_value: None,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFundingRate {
    symbol: Symbol,
    funding_rate: Dec,
    funding_time: Int,
    #[serde(default)]
    mark_price: OptDec,
}

/// `fundingRate` (an array, oldest first) → [`FundingRate`]s.
pub(super) fn parse_funding_rates(body: &[u8]) -> Result<Vec<FundingRate>, String> {
    let rows: Vec<WireFundingRate> = from_json(body)?;
    Ok(rows
        .into_iter()
        .map(|f| FundingRate {
            symbol: f.symbol,
            funding_time: f.funding_time.0,
            funding_rate: f.funding_rate.0,
            mark_price: f.mark_price.0,
        })
        .collect())
}

/// One element of `/futures/data/openInterestHist`: USDⓈ-M names the `symbol` and sends
/// `timestamp` as a string; COIN-M names the `pair` and `contractType` and sends a number.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOpenInterestHist {
    sum_open_interest: Dec,
    #[serde(default)]
    sum_open_interest_value: OptDec,
    timestamp: Int,
}

/// `openInterestHist` (an array, oldest first) → [`OpenInterest`]s of `symbol`.
pub(super) fn parse_open_interest_hist(
    body: &[u8],
    symbol: &Symbol,
) -> Result<Vec<OpenInterest>, String> {
    let rows: Vec<WireOpenInterestHist> = from_json(body)?;
    Ok(rows
        .into_iter()
        .map(|h| OpenInterest {
            symbol: symbol.clone(),
            time: h.timestamp.0,
            open_interest: h.sum_open_interest.0,
            open_interest_value: h.sum_open_interest_value.0,
        })
        .collect())
}

/// One element of the futures `ticker/24hr`. USDⓈ-M sends `volume` (base) and
/// `quoteVolume`; COIN-M sends `volume` (contracts) and `baseVolume` (base asset), kept in
/// the ticker's `quote_volume` as the klines keep it: Binance's units, unconverted.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTicker24hr {
    symbol: Symbol,
    last_price: Real,
    open_price: Real,
    high_price: Real,
    low_price: Real,
    price_change_percent: Real,
    volume: Real,
    #[serde(default)]
    quote_volume: Option<Real>,
    #[serde(default)]
    base_volume: Option<Real>,
    count: Int,
    open_time: Int,
    close_time: Int,
}

/// The futures 24-hour tickers (`ticker/24hr`, one object or an array) → [`Ticker`]s.
/// The futures ticker carries no order book: `bid_*` and `ask_*` are 0 ("not given").
pub(super) fn parse_tickers(body: &[u8]) -> Result<Vec<Ticker>, String> {
    let stats: Vec<WireTicker24hr> = one_or_many(body)?;
    let mut out = Vec::with_capacity(stats.len());
    for t in stats {
        let Some(Real(quote_volume)) = t.quote_volume.or(t.base_volume) else {
            return Err(format!(
                "ticker/24hr: {} has neither quoteVolume nor baseVolume",
                t.symbol
            ));
        };
        out.push(Ticker {
            symbol: t.symbol,
            last_price: t.last_price.0,
            bid_price: 0.0,
            bid_qty: 0.0,
            ask_price: 0.0,
            ask_qty: 0.0,
            open_price: t.open_price.0,
            high_price: t.high_price.0,
            low_price: t.low_price.0,
            price_change_percent: t.price_change_percent.0,
            volume: t.volume.0,
            quote_volume,
            trades: u64::try_from(t.count.0)
                .map_err(|_| format!("count {} is negative", t.count.0))?,
            open_time: t.open_time.0,
            close_time: t.close_time.0,
        });
    }
    Ok(out)
}

/// The contract fields of one `exchangeInfo.symbols` element (the rest is read by the spot
/// parser).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireContract {
    symbol: String,
    #[serde(default)]
    contract_type: Option<String>,
    /// A JSON number on COIN-M (`100`); accepted as a string too.
    #[serde(default)]
    contract_size: Option<serde_json::Value>,
    #[serde(default)]
    delivery_date: Option<Int>,
    #[serde(default)]
    onboard_date: Option<Int>,
}

#[derive(Deserialize)]
struct WireContracts {
    #[serde(default)]
    symbols: Vec<WireContract>,
}

/// `exchangeInfo` → the [`ContractSpec`] of every listed symbol whose name is a valid
/// [`Symbol`] (as the spot parser keeps them). A contract size that is neither a number
/// nor a decimal string refuses the answer; a date of 0 is `None`.
pub(super) fn parse_contract_specs(body: &[u8]) -> Result<Vec<ContractSpec>, String> {
    let wire: WireContracts = from_json(body)?;
    let mut out = Vec::with_capacity(wire.symbols.len());
    for c in wire.symbols {
        let Ok(symbol) = c.symbol.parse::<Symbol>() else {
            continue;
        };
        let contract_size = match c.contract_size {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => Some(
                parse_decimal(&n.to_string())
                    .map_err(|e| format!("symbols[{symbol}].contractSize: {e}"))?,
            ),
            Some(serde_json::Value::String(s)) => Some(
                parse_decimal(&s).map_err(|e| format!("symbols[{symbol}].contractSize: {e}"))?,
            ),
            Some(other) => {
                return Err(format!(
                    "symbols[{symbol}].contractSize: {other} is not a number"
                ));
            }
        };
        let date = |d: Option<Int>| d.map(|d| d.0).filter(|&t| t > 0);
        out.push(ContractSpec {
            symbol,
            contract_type: c.contract_type.unwrap_or_default(),
            contract_size,
            delivery_date: date(c.delivery_date),
            onboard_date: date(c.onboard_date),
        });
    }
    Ok(out)
}
