//! The listed futures contracts and their exchange information.
//!
//! USD-M: BTCUSDT and ETHUSDT perpetuals with the real contract specifications of a
//! recorded `GET /fapi/v1/exchangeInfo` answer (`data/futures_um_exchange_info.json`;
//! filters PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS,
//! MIN_NOTIONAL, PERCENT_PRICE).
//!
//! COIN-M: BTCUSD_PERP (100 USD a contract), ETHUSD_PERP (10 USD) and the current quarter's
//! delivery contract BTCUSD_yymmdd (100 USD; delivery on the last Friday of March, June,
//! September or December at 08:00 UTC), specified like Binance's `GET /dapi/v1/exchangeInfo`
//! (<https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Exchange-Information>).

use std::{
    collections::{HashMap, HashSet},
    sync::{OnceLock, RwLock},
};

use serde_json::{Value, json};

use super::{
    FuturesMarket,
    series::{Row, Run, Series, derived_coinm, recorded},
};
use crate::{read, write};

/// The recorded `GET /fapi/v1/exchangeInfo` answer (2022-02-19).
const USDM_EXCHANGE_INFO_JSON: &str = include_str!("../../data/futures_um_exchange_info.json");

/// COIN-M pairs: (pair, USD-M symbol its data is derived from, contract size in USD).
pub const COINM_CONTRACT_SIZES: [(&str, &str, i64); 2] =
    [("BTCUSD", "BTCUSDT", 100), ("ETHUSD", "ETHUSDT", 10)];

/// `deliveryDate` Binance gives perpetuals (2100-12-25 08:00 UTC).
const PERPETUAL_DELIVERY_MS: i64 = 4_133_404_800_000;

/// One listed contract.
#[derive(Debug)]
pub(crate) struct Contract {
    pub name: String,
    pub pair: String,
    /// `PERPETUAL` or `CURRENT_QUARTER`.
    pub contract_type: &'static str,
    /// The exchange-information entry (status filled in when served).
    pub info: Value,
    pub series: &'static Series,
    pub onboard_ms: i64,
    /// COIN-M contract size in USD; `None` on USD-M.
    pub contract_size: Option<i64>,
    /// Fractional digits of prices (from the tick size).
    pub price_decimals: u32,
    /// Quantity step as served for `lastQty` (`"0.001"`, `"1"`).
    pub min_qty: &'static str,
    /// The USD-M symbol whose data this contract replays.
    pub base_symbol: &'static str,
    /// Replay offset in minutes (0 but for the benchmark clones).
    pub phase_min: i64,
}

impl Contract {
    /// The row wall-clock minute `minute` shows.
    pub(crate) fn row(&self, minute: i64) -> &Row {
        self.series.row(minute + self.phase_min)
    }

    /// Aggregates `count >= 1` minutes from wall-clock minute `first`.
    pub(crate) fn run(&self, first: i64, count: i64) -> Run {
        self.series.run(first + self.phase_min, count)
    }

    /// Deterministic id of the first trade of wall-clock minute `minute`.
    pub(crate) fn trades_before(&self, minute: i64) -> u64 {
        self.series.trades_before(minute + self.phase_min)
    }

    pub(crate) fn perpetual(&self) -> bool {
        self.contract_type == "PERPETUAL"
    }
}

/// The contracts of one market plus the runtime status overrides and delistings.
#[derive(Debug)]
pub(crate) struct Contracts {
    market: FuturesMarket,
    list: Vec<Contract>,
    statuses: RwLock<HashMap<String, String>>,
    delisted: RwLock<HashSet<String>>,
}

/// The last Friday of `month` (1-12) of `year` at 08:00 UTC, in ms.
fn last_friday_0800(year: i32, month: u8) -> i64 {
    let Ok(m) = time::Month::try_from(month) else {
        return PERPETUAL_DELIVERY_MS;
    };
    let days = m.length(year);
    let Ok(last) = time::Date::from_calendar_date(year, m, days) else {
        return PERPETUAL_DELIVERY_MS;
    };
    let back = (i64::from(last.weekday().number_days_from_monday()) - 4).rem_euclid(7);
    let friday = last - time::Duration::days(back);
    friday.midnight().assume_utc().unix_timestamp() * 1000 + 8 * 3_600_000
}

/// The quarterly delivery contract current at `now_ms`: (`"BTCUSD_yymmdd"`, delivery time in
/// ms), the first quarterly delivery (last Friday of March, June, September, December,
/// 08:00 UTC) after `now_ms`.
pub fn delivery_symbol_at(now_ms: i64) -> (String, i64) {
    let date = time::OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut year = date.year();
    let mut month = u8::from(date.month()).div_ceil(3) * 3;
    loop {
        let delivery = last_friday_0800(year, month);
        if delivery > now_ms {
            let name = format!("BTCUSD_{:02}{:02}{:02}", year.rem_euclid(100), month, {
                time::OffsetDateTime::from_unix_timestamp(delivery / 1000).map_or(0, |d| d.day())
            });
            return (name, delivery);
        }
        month += 3;
        if month > 12 {
            month = 3;
            year += 1;
        }
    }
}

fn decimals_of(tick: &str) -> u32 {
    let trimmed = tick.trim_end_matches('0');
    trimmed
        .split_once('.')
        .map_or(0, |(_, f)| u32::try_from(f.len()).unwrap_or(8))
}

/// The recorded USD-M exchange information, parsed once.
fn usdm_recorded_info() -> &'static Value {
    static INFO: OnceLock<Value> = OnceLock::new();
    INFO.get_or_init(|| serde_json::from_str(USDM_EXCHANGE_INFO_JSON).unwrap_or(Value::Null))
}

fn usdm_contracts() -> Vec<Contract> {
    let info = usdm_recorded_info();
    let symbols = info["symbols"].as_array().cloned().unwrap_or_default();
    ["BTCUSDT", "ETHUSDT"]
        .into_iter()
        .filter_map(|name| {
            let entry = symbols.iter().find(|s| s["symbol"] == name)?.clone();
            let tick = entry["filters"]
                .as_array()?
                .iter()
                .find(|f| f["filterType"] == "PRICE_FILTER")?["tickSize"]
                .as_str()?
                .to_owned();
            Some(Contract {
                name: name.to_owned(),
                pair: name.to_owned(),
                contract_type: "PERPETUAL",
                onboard_ms: entry["onboardDate"].as_i64()?,
                series: recorded(name)?,
                contract_size: None,
                price_decimals: entry["pricePrecision"]
                    .as_u64()
                    .and_then(|p| u32::try_from(p).ok())
                    .unwrap_or_else(|| decimals_of(&tick)),
                min_qty: "0.001",
                base_symbol: name,
                phase_min: 0,
                info: entry,
            })
        })
        .collect()
}

/// What distinguishes one COIN-M contract.
struct CoinmSpec {
    name: String,
    pair: &'static str,
    base: &'static str,
    contract_type: &'static str,
    delivery_ms: i64,
    onboard_ms: i64,
    size: i64,
    tick: &'static str,
    min_price: &'static str,
    max_price: &'static str,
    /// The USD-M symbol whose data it replays.
    source: &'static str,
}

fn coinm_entry(s: &CoinmSpec) -> Value {
    json!({
        "symbol": s.name,
        "pair": s.pair,
        "contractType": s.contract_type,
        "deliveryDate": s.delivery_ms,
        "onboardDate": s.onboard_ms,
        "contractStatus": "TRADING",
        "contractSize": s.size,
        "marginAsset": s.base,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": s.base,
        "quoteAsset": "USD",
        "pricePrecision": decimals_of(s.tick),
        "quantityPrecision": 0,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "equalQtyPrecision": 4,
        "maxMoveOrderLimit": 10000,
        "triggerProtect": "0.0500",
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "filters": [
            {"minPrice": s.min_price, "maxPrice": s.max_price, "filterType": "PRICE_FILTER", "tickSize": s.tick},
            {"stepSize": "1", "filterType": "LOT_SIZE", "maxQty": "1000000", "minQty": "1"},
            {"stepSize": "1", "filterType": "MARKET_LOT_SIZE", "maxQty": "60000", "minQty": "1"},
            {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
            {"limit": 20, "filterType": "MAX_NUM_ALGO_ORDERS"},
            {"multiplierDown": "0.9500", "multiplierUp": "1.0500", "multiplierDecimal": "4", "filterType": "PERCENT_PRICE"}
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "liquidationFee": "0.015000",
        "marketTakeBound": "0.05"
    })
}

fn coinm_contracts(now_ms: i64) -> Vec<Contract> {
    let (delivery_name, delivery_ms) = delivery_symbol_at(now_ms);
    let btc = |name: String, contract_type, delivery_ms, onboard_ms| CoinmSpec {
        name,
        pair: "BTCUSD",
        base: "BTC",
        contract_type,
        delivery_ms,
        onboard_ms,
        size: 100,
        tick: "0.1",
        min_price: "1000",
        max_price: "4520958",
        source: "BTCUSDT",
    };
    let specs = [
        btc(
            "BTCUSD_PERP".to_owned(),
            "PERPETUAL",
            PERPETUAL_DELIVERY_MS,
            1_597_042_800_000,
        ),
        CoinmSpec {
            name: "ETHUSD_PERP".to_owned(),
            pair: "ETHUSD",
            base: "ETH",
            contract_type: "PERPETUAL",
            delivery_ms: PERPETUAL_DELIVERY_MS,
            onboard_ms: 1_597_734_000_000,
            size: 10,
            tick: "0.01",
            min_price: "50",
            max_price: "306177",
            source: "ETHUSDT",
        },
        // A quarterly contract is listed about half a year before its delivery.
        btc(
            delivery_name,
            "CURRENT_QUARTER",
            delivery_ms,
            delivery_ms - 182 * 86_400_000,
        ),
    ];
    specs
        .into_iter()
        .filter_map(|spec| {
            Some(Contract {
                pair: spec.pair.to_owned(),
                contract_type: spec.contract_type,
                info: coinm_entry(&spec),
                series: derived_coinm(spec.source, spec.size)?,
                onboard_ms: spec.onboard_ms,
                contract_size: Some(spec.size),
                price_decimals: decimals_of(spec.tick),
                min_qty: "1",
                base_symbol: spec.source,
                phase_min: 0,
                name: spec.name,
            })
        })
        .collect()
}

/// Benchmark clone `i` (1-based) of BTCUSDT (USD-M: `SIM001USDT`) or BTCUSD_PERP (COIN-M:
/// `SIM001USD_PERP`): the template's specification with the names changed, replaying its
/// data shifted by `(1 + (i - 1) mod 23)` hours, as the spot clones do.
fn clone_of(template: &Contract, market: FuturesMarket, i: usize) -> Contract {
    let base = format!("SIM{i:03}");
    let (name, pair) = match market {
        FuturesMarket::Usdm => (format!("{base}USDT"), format!("{base}USDT")),
        FuturesMarket::Coinm => (format!("{base}USD_PERP"), format!("{base}USD")),
    };
    let mut info = template.info.clone();
    info["symbol"] = Value::String(name.clone());
    info["pair"] = Value::String(pair.clone());
    info["baseAsset"] = Value::String(base.clone());
    if market == FuturesMarket::Coinm {
        info["marginAsset"] = Value::String(base);
    }
    Contract {
        name,
        pair,
        contract_type: template.contract_type,
        info,
        series: template.series,
        onboard_ms: template.onboard_ms,
        contract_size: template.contract_size,
        price_decimals: template.price_decimals,
        min_qty: template.min_qty,
        base_symbol: template.base_symbol,
        phase_min: (1 + i64::try_from(i - 1).unwrap_or(0) % 23) * 60,
    }
}

impl Contracts {
    /// The contracts of `market` listed at `now_ms` (the COIN-M delivery contract depends
    /// on it), plus `extra` benchmark clones (see [`clone_of`]).
    pub(crate) fn new(market: FuturesMarket, now_ms: i64, extra: usize) -> Contracts {
        let mut list = match market {
            FuturesMarket::Usdm => usdm_contracts(),
            FuturesMarket::Coinm => coinm_contracts(now_ms),
        };
        if let Some(template) = list.first() {
            let clones: Vec<Contract> =
                (1..=extra).map(|i| clone_of(template, market, i)).collect();
            list.extend(clones);
        }
        Contracts {
            market,
            list,
            statuses: RwLock::default(),
            delisted: RwLock::default(),
        }
    }

    /// A listed (not delisted) contract.
    pub(crate) fn get(&self, symbol: &str) -> Option<&Contract> {
        if read(&self.delisted).contains(symbol) {
            return None;
        }
        self.list.iter().find(|c| c.name == symbol)
    }

    /// Every listed contract in order.
    pub(crate) fn listed(&self) -> Vec<&Contract> {
        let delisted = read(&self.delisted);
        self.list
            .iter()
            .filter(|c| !delisted.contains(&c.name))
            .collect()
    }

    pub(crate) fn listed_names(&self) -> Vec<String> {
        self.listed().into_iter().map(|c| c.name.clone()).collect()
    }

    pub(crate) fn delivery_symbol(&self) -> Option<String> {
        self.list
            .iter()
            .find(|c| !c.perpetual())
            .map(|c| c.name.clone())
    }

    pub(crate) fn set_status(&self, symbol: &str, status: &str) {
        if !self.list.iter().any(|c| c.name == symbol) {
            tracing::warn!(symbol, "status override for an unlisted contract");
        }
        write(&self.statuses).insert(symbol.to_owned(), status.to_owned());
    }

    pub(crate) fn delist(&self, symbol: &str) {
        write(&self.delisted).insert(symbol.to_owned());
    }

    /// The status a contract reports (`TRADING` unless overridden).
    pub(crate) fn status(&self, symbol: &str) -> String {
        read(&self.statuses)
            .get(symbol)
            .cloned()
            .unwrap_or_else(|| "TRADING".to_owned())
    }

    /// The exchange-information answer at `now` with `weight_limit` REQUEST_WEIGHT/min and
    /// the ORDERS limits per minute and per 10 s.
    pub(crate) fn exchange_info(
        &self,
        now: i64,
        weight_limit: u32,
        orders_per_min: u32,
        orders_per_10s: u32,
    ) -> Value {
        let status_key = match self.market {
            FuturesMarket::Usdm => "status",
            FuturesMarket::Coinm => "contractStatus",
        };
        let symbols: Vec<Value> = self
            .listed()
            .into_iter()
            .map(|c| {
                let mut entry = c.info.clone();
                entry[status_key] = Value::String(self.status(&c.name));
                entry
            })
            .collect();
        let rate_limits = json!([
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight_limit},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": orders_per_min},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": orders_per_10s}
        ]);
        match self.market {
            FuturesMarket::Usdm => {
                let assets = usdm_recorded_info()["assets"].clone();
                json!({
                    "timezone": "UTC",
                    "serverTime": now,
                    "futuresType": "U_MARGINED",
                    "rateLimits": rate_limits,
                    "exchangeFilters": [],
                    "assets": assets,
                    "symbols": symbols,
                })
            }
            FuturesMarket::Coinm => json!({
                "timezone": "UTC",
                "serverTime": now,
                "rateLimits": rate_limits,
                "exchangeFilters": [],
                "symbols": symbols,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_dates_are_last_fridays_of_quarters() {
        // 2026-12-02 → 2026-12-25 (a Friday), 08:00 UTC.
        let (name, at) = delivery_symbol_at(1_796_212_800_000);
        assert_eq!(name, "BTCUSD_261225");
        assert_eq!(at, 1_798_185_600_000);
        // Just after that delivery: March 2027's last Friday, the 26th.
        let (name, _) = delivery_symbol_at(at);
        assert_eq!(name, "BTCUSD_270326");
    }

    #[test]
    fn usdm_specs_come_from_the_recording() {
        let c = Contracts::new(FuturesMarket::Usdm, 0, 0);
        assert_eq!(c.listed_names(), ["BTCUSDT", "ETHUSDT"]);
        let btc = c.get("BTCUSDT").expect("BTCUSDT");
        assert_eq!(btc.price_decimals, 2);
        assert_eq!(btc.onboard_ms, 1_569_398_400_000);
        let info = c.exchange_info(5, 2400, 1200, 300);
        let filters: Vec<&str> = info["symbols"][0]["filters"]
            .as_array()
            .expect("filters")
            .iter()
            .filter_map(|f| f["filterType"].as_str())
            .collect();
        assert_eq!(
            filters,
            [
                "PRICE_FILTER",
                "LOT_SIZE",
                "MARKET_LOT_SIZE",
                "MAX_NUM_ORDERS",
                "MAX_NUM_ALGO_ORDERS",
                "MIN_NOTIONAL",
                "PERCENT_PRICE"
            ]
        );
        assert_eq!(info["rateLimits"][0]["limit"], 2400);
    }

    #[test]
    fn clones_copy_the_first_perpetual_with_a_phase() {
        let c = Contracts::new(FuturesMarket::Coinm, 0, 24);
        assert_eq!(c.listed().len(), 3 + 24);
        let perp = c.get("BTCUSD_PERP").expect("perp");
        let clone = c.get("SIM002USD_PERP").expect("clone");
        assert_eq!(clone.pair, "SIM002USD");
        assert_eq!(clone.info["contractSize"], 100);
        assert_eq!(clone.phase_min, 120);
        assert_eq!(c.get("SIM024USD_PERP").map(|c| c.phase_min), Some(60));
        let m = 29_000_000;
        assert_eq!(clone.row(m).open, perp.row(m + 120).open);
    }

    #[test]
    fn settling_and_delisting() {
        let c = Contracts::new(FuturesMarket::Coinm, 1_796_212_800_000, 0);
        let delivery = c.delivery_symbol().expect("delivery contract");
        assert_eq!(
            c.listed_names(),
            ["BTCUSD_PERP", "ETHUSD_PERP", delivery.as_str()]
        );
        c.set_status(&delivery, "SETTLING");
        assert_eq!(
            c.exchange_info(0, 6000, 1200, 300)["symbols"][2]["contractStatus"],
            "SETTLING"
        );
        c.delist(&delivery);
        assert!(c.get(&delivery).is_none());
        assert_eq!(
            c.exchange_info(0, 6000, 1200, 300)["symbols"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }
}
