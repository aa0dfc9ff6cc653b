//! The exchange's rules, checked before an order is sent: the symbol filters
//! (<https://developers.binance.com/docs/binance-spot-api-docs/filters>) and the parameters of
//! "New order (TRADE)"
//! (<https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>).
//!
//! [`check`] is a pure function of the request, the symbol's `exchangeInfo` entry and, for
//! MARKET orders given a quantity, the last price. It checks, in this order:
//!
//! 1. the symbol trades (`status` `TRADING`) and allows the order type (`orderTypes`);
//! 2. the parameters each type needs and refuses (the per-type table of "New order (TRADE)"):
//!    price, stop price, time in force, quantity or quote quantity; every decimal given is
//!    positive;
//! 3. `PRICE_FILTER` on price and stop price: minimum, maximum, multiple of the tick size;
//! 4. `LOT_SIZE` on the quantity, and `MARKET_LOT_SIZE` too for MARKET orders;
//! 5. `MIN_NOTIONAL` / `NOTIONAL` on price × quantity: the limit price for limit types, the
//!    stop price for STOP_LOSS / TAKE_PROFIT, the last price for MARKET (only when the
//!    filter applies to market orders), the quote quantity itself for quote-quantity
//!    MARKET orders.
//!
//! A violation names the filter (or rule) and, where there is one, the nearest valid
//! value: `price 100.005 is not a multiple of tick size 0.01 (PRICE_FILTER); nearest
//! valid: 100.00 or 100.01`. Binance's own check is the same arithmetic on exact decimals,
//! so an order that passes here is not refused for these filters there (the exchange
//! stays the judge: it may use an average price, and its filters may change; the cache
//! in [`crate::orders`] refreshes them after a `-1013`).
//!
//! Not checked locally: `PERCENT_PRICE(_BY_SIDE)` (needs the exchange's average price),
//! `MAX_NUM_ORDERS` / `MAX_NUM_ALGO_ORDERS` (needs the open-order count), `ICEBERG_PARTS`
//! and `TRAILING_DELTA` (not offered), balances (the exchange answers `-2010`).

use rust_decimal::Decimal;

use super::order::{LotSizeFilter, OrderRequest, OrderType, PriceFilter, SymbolFilters};
use super::{Market, SymbolInfo, SymbolStatus};

#[path = "rules_futures.rs"]
mod futures;
pub use futures::check_max_num_orders;

/// The rule names that are not filters.
pub mod rule {
    /// The symbol is not `TRADING`.
    pub const SYMBOL_STATUS: &str = "SYMBOL_STATUS";
    /// The symbol does not allow the order type.
    pub const ORDER_TYPE: &str = "ORDER_TYPE";
    /// A parameter is missing, not allowed, or not positive ("New order (TRADE)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>).
    pub const PARAMETERS: &str = "PARAMETERS";
}

/// Why an order breaks the exchange's rules. The message is the whole story, e.g.
/// `quantity 0.000015 is not a multiple of step size 0.00001 (LOT_SIZE); nearest valid:
/// 0.00001 or 0.00002`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleViolation {
    /// The filter (`PRICE_FILTER`, `LOT_SIZE`, `MARKET_LOT_SIZE`, `MIN_NOTIONAL`,
    /// `NOTIONAL`) or the rule ([`rule::SYMBOL_STATUS`], [`rule::ORDER_TYPE`],
    /// [`rule::PARAMETERS`]).
    pub rule: &'static str,
    /// Which parameter is at fault: `price`, `stop_price`, `quantity`,
    /// `quote_quantity`, `time_in_force`, `type` or `symbol`.
    pub param: &'static str,
    pub message: String,
    /// The nearest valid values of `param`, when there are any.
    pub nearest: Vec<Decimal>,
}

impl RuleViolation {
    fn new(rule: &'static str, param: &'static str, message: String) -> RuleViolation {
        RuleViolation {
            rule,
            param,
            message,
            nearest: Vec::new(),
        }
    }
}

/// Whether [`check`] needs the last price for `req`: a MARKET order given a quantity, on a
/// symbol whose notional filter applies to market orders.
pub fn needs_market_price(req: &OrderRequest, filters: &SymbolFilters) -> bool {
    if req.market != Market::Spot {
        // Futures: MIN_NOTIONAL applies to MARKET orders too; PERCENT_PRICE to limit prices.
        return (req.order_type == OrderType::Market && filters.min_notional.is_some())
            || (req.price.is_some() && filters.percent_price.is_some());
    }
    req.order_type == OrderType::Market
        && req.quantity.is_some()
        && (filters.min_notional.is_some_and(|f| f.apply_to_market)
            || filters
                .notional
                .is_some_and(|f| f.apply_min_to_market || f.apply_max_to_market))
}

/// Checks `req` against the rules of `info` (see the module docs). `market_price` is the
/// last price, used for MARKET orders given a quantity; without it their notional is not
/// checked.
///
/// # Errors
/// The first [`RuleViolation`] found.
pub fn check(
    req: &OrderRequest,
    info: &SymbolInfo,
    market_price: Option<Decimal>,
) -> Result<(), RuleViolation> {
    let filters = &info.filters;
    if info.status != SymbolStatus::Trading {
        return Err(RuleViolation::new(
            rule::SYMBOL_STATUS,
            "symbol",
            format!(
                "{} is not trading (status {}): no order can be placed",
                info.symbol, info.status
            ),
        ));
    }
    let t = req.order_type;
    if !t.is_offered_on(req.market) {
        return Err(RuleViolation::new(
            rule::ORDER_TYPE,
            "type",
            format!("{t} orders are not offered on {}", req.market.as_str()),
        ));
    }
    if let Some(tif) = req.time_in_force
        && !tif.is_offered_on(req.market)
    {
        return Err(param_error(
            format!(
                "time in force {tif} is not offered on {}",
                req.market.as_str()
            ),
            "time_in_force",
        ));
    }
    if !filters.order_types.is_empty() && !filters.order_types.contains(&t) {
        let allowed: Vec<&str> = filters.order_types.iter().map(|t| t.as_str()).collect();
        return Err(RuleViolation::new(
            rule::ORDER_TYPE,
            "type",
            format!(
                "{t} orders are not allowed on {}; allowed: {}",
                info.symbol,
                allowed.join(", ")
            ),
        ));
    }
    let futures_filters;
    let filters = if req.market == Market::Spot {
        check_parameters(req, filters, &info.symbol.to_string())?;
        filters
    } else {
        futures::check_parameters(req)?;
        futures::check_percent_price(req, filters, market_price)?;
        // Futures MIN_NOTIONAL applies to every order, MARKET ones at the last price.
        let mut f = filters.clone();
        if let Some(m) = f.min_notional.as_mut() {
            m.apply_to_market = true;
        }
        futures_filters = f;
        &futures_filters
    };
    if let Some(pf) = filters.price {
        if let Some(price) = req.price {
            check_price(&pf, "price", "price", price)?;
        }
        if let Some(stop) = req.stop_price {
            check_price(&pf, "stop_price", "stop price", stop)?;
        }
    }
    if let Some(qty) = req.quantity {
        if let Some(lot) = filters.lot_size {
            check_lot(&lot, "LOT_SIZE", qty)?;
        }
        let market_lot = match req.market {
            Market::Spot => t == OrderType::Market,
            futures => t.is_market_on(futures),
        };
        if market_lot && let Some(lot) = filters.market_lot_size {
            check_lot(&lot, "MARKET_LOT_SIZE", qty)?;
        }
    }
    check_notional(req, filters, market_price)
}

fn param_error(message: String, param: &'static str) -> RuleViolation {
    RuleViolation::new(rule::PARAMETERS, param, message)
}

/// The per-type table of "New order (TRADE)"
/// (<https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>):
/// what each type needs and refuses; positive decimals.
fn check_parameters(
    req: &OrderRequest,
    filters: &SymbolFilters,
    symbol: &str,
) -> Result<(), RuleViolation> {
    let t = req.order_type;
    let given: [(&'static str, &str, Option<Decimal>); 4] = [
        ("quantity", "quantity", req.quantity),
        ("quote_quantity", "quote quantity", req.quote_quantity),
        ("price", "price", req.price),
        ("stop_price", "stop price", req.stop_price),
    ];
    for (param, label, value) in given {
        if let Some(v) = value
            && v <= Decimal::ZERO
        {
            return Err(param_error(
                format!("{label} must be positive, not {}", show(v)),
                param,
            ));
        }
    }
    match (t.needs_price(), req.price.is_some()) {
        (true, false) => return Err(param_error(format!("{t} orders need a price"), "price")),
        (false, true) => return Err(param_error(format!("{t} orders take no price"), "price")),
        _ => {}
    }
    match (t.needs_stop_price(), req.stop_price.is_some()) {
        (true, false) => {
            return Err(param_error(
                format!("{t} orders need a stop price"),
                "stop_price",
            ));
        }
        (false, true) => {
            return Err(param_error(
                format!("{t} orders take no stop price"),
                "stop_price",
            ));
        }
        _ => {}
    }
    match (t.needs_time_in_force(), req.time_in_force.is_some()) {
        (true, false) => {
            return Err(param_error(
                format!("{t} orders need a time in force (GTC, IOC or FOK)"),
                "time_in_force",
            ));
        }
        (false, true) => {
            return Err(param_error(
                format!("{t} orders take no time in force"),
                "time_in_force",
            ));
        }
        _ => {}
    }
    if t == OrderType::Market {
        match (req.quantity.is_some(), req.quote_quantity.is_some()) {
            (true, true) => {
                return Err(param_error(
                    "MARKET orders take a quantity or a quote quantity, not both".to_string(),
                    "quote_quantity",
                ));
            }
            (false, false) => {
                return Err(param_error(
                    "MARKET orders need a quantity or a quote quantity".to_string(),
                    "quantity",
                ));
            }
            (false, true) if !filters.quote_order_qty_market_allowed => {
                return Err(param_error(
                    format!("{symbol} does not allow MARKET orders by quote quantity"),
                    "quote_quantity",
                ));
            }
            _ => {}
        }
    } else {
        if req.quote_quantity.is_some() {
            return Err(param_error(
                format!("{t} orders take no quote quantity: only MARKET orders do"),
                "quote_quantity",
            ));
        }
        if req.quantity.is_none() {
            return Err(param_error(
                format!("{t} orders need a quantity"),
                "quantity",
            ));
        }
    }
    Ok(())
}

/// `PRICE_FILTER` on one price (`price` or `stop_price`).
fn check_price(
    f: &PriceFilter,
    param: &'static str,
    label: &str,
    value: Decimal,
) -> Result<(), RuleViolation> {
    check_bounds_and_step(
        "PRICE_FILTER",
        param,
        label,
        value,
        (f.min_price, f.max_price, f.tick_size),
        ("minimum price", "maximum price", "tick size"),
    )
}

/// `LOT_SIZE` or `MARKET_LOT_SIZE` on the quantity.
fn check_lot(f: &LotSizeFilter, name: &'static str, qty: Decimal) -> Result<(), RuleViolation> {
    check_bounds_and_step(
        name,
        "quantity",
        "quantity",
        qty,
        (f.min_qty, f.max_qty, f.step_size),
        ("minimum quantity", "maximum quantity", "step size"),
    )
}

/// `min <= value <= max` and `value % step == 0`, each check off when its bound is zero
/// (<https://developers.binance.com/docs/binance-spot-api-docs/filters>).
fn check_bounds_and_step(
    filter: &'static str,
    param: &'static str,
    label: &str,
    value: Decimal,
    (min, max, step): (Decimal, Decimal, Decimal),
    (min_name, max_name, step_name): (&str, &str, &str),
) -> Result<(), RuleViolation> {
    let scale = step_scale(step);
    if !min.is_zero() && value < min {
        let nearest = on_grid_at_or_above(min, step);
        return Err(RuleViolation {
            rule: filter,
            param,
            message: format!(
                "{label} {} is below the {min_name} {} ({filter}); nearest valid: {}",
                show(value),
                show(min),
                fmt_scaled(nearest, scale)
            ),
            nearest: vec![nearest],
        });
    }
    if !max.is_zero() && value > max {
        let nearest = on_grid_at_or_below(max, step);
        return Err(RuleViolation {
            rule: filter,
            param,
            message: format!(
                "{label} {} is above the {max_name} {} ({filter}); nearest valid: {}",
                show(value),
                show(max),
                fmt_scaled(nearest, scale)
            ),
            nearest: vec![nearest],
        });
    }
    if !step.is_zero() && !value.checked_rem(step).is_some_and(|r| r.is_zero()) {
        let below = on_grid_at_or_below(value, step);
        let above = below.checked_add(step).unwrap_or(below);
        let nearest: Vec<Decimal> = [below, above]
            .into_iter()
            .filter(|v| *v > Decimal::ZERO)
            .filter(|v| min.is_zero() || *v >= min)
            .filter(|v| max.is_zero() || *v <= max)
            .collect();
        let shown: Vec<String> = nearest.iter().map(|v| fmt_scaled(*v, scale)).collect();
        let tail = if shown.is_empty() {
            String::new()
        } else {
            format!("; nearest valid: {}", shown.join(" or "))
        };
        return Err(RuleViolation {
            rule: filter,
            param,
            message: format!(
                "{label} {} is not a multiple of {step_name} {} ({filter}){tail}",
                show(value),
                show(step)
            ),
            nearest,
        });
    }
    Ok(())
}

/// `MIN_NOTIONAL` and `NOTIONAL`
/// (<https://developers.binance.com/docs/binance-spot-api-docs/filters>).
fn check_notional(
    req: &OrderRequest,
    filters: &SymbolFilters,
    market_price: Option<Decimal>,
) -> Result<(), RuleViolation> {
    let t = req.order_type;
    let is_market = t.is_market();
    // (name, min, max) of the filters that apply to this order.
    let mut bounds: Vec<(&'static str, Decimal, Decimal)> = Vec::new();
    if let Some(f) = filters.min_notional
        && (!is_market || f.apply_to_market)
    {
        bounds.push(("MIN_NOTIONAL", f.min_notional, Decimal::ZERO));
    }
    if let Some(f) = filters.notional {
        let min = if !is_market || f.apply_min_to_market {
            f.min_notional
        } else {
            Decimal::ZERO
        };
        let max = if !is_market || f.apply_max_to_market {
            f.max_notional
        } else {
            Decimal::ZERO
        };
        bounds.push(("NOTIONAL", min, max));
    }
    if bounds.is_empty() {
        return Ok(());
    }
    // Quote-quantity MARKET: the quote quantity is the notional.
    if let Some(quote) = req.quote_quantity {
        for (name, min, max) in bounds {
            if !min.is_zero() && quote < min {
                return Err(RuleViolation {
                    rule: name,
                    param: "quote_quantity",
                    message: format!(
                        "quote quantity {} is below the minimum notional {} ({name}); nearest valid: {}",
                        show(quote),
                        show(min),
                        show(min)
                    ),
                    nearest: vec![min],
                });
            }
            if !max.is_zero() && quote > max {
                return Err(RuleViolation {
                    rule: name,
                    param: "quote_quantity",
                    message: format!(
                        "quote quantity {} is above the maximum notional {} ({name}); nearest valid: {}",
                        show(quote),
                        show(max),
                        show(max)
                    ),
                    nearest: vec![max],
                });
            }
        }
        return Ok(());
    }
    let Some(qty) = req.quantity else {
        return Ok(());
    };
    let (price, price_label) = match t {
        OrderType::Market => match market_price {
            Some(p) if p > Decimal::ZERO => (p, "the last price"),
            _ => return Ok(()),
        },
        OrderType::StopLoss | OrderType::TakeProfit => match req.stop_price {
            Some(p) => (p, "stop price"),
            None => return Ok(()),
        },
        _ => match req.price {
            Some(p) => (p, "price"),
            None => return Ok(()),
        },
    };
    let Some(notional) = price.checked_mul(qty) else {
        return Err(RuleViolation::new(
            rule::PARAMETERS,
            "quantity",
            format!(
                "price {} × quantity {} is too large",
                show(price),
                show(qty)
            ),
        ));
    };
    let step = filters.lot_size.map_or(Decimal::ZERO, |l| l.step_size);
    let scale = step_scale(step);
    for (name, min, max) in bounds {
        if !min.is_zero() && notional < min {
            let nearest = min
                .checked_div(price)
                .map(|q| on_grid_at_or_above(q, step))
                .unwrap_or(min);
            return Err(RuleViolation {
                rule: name,
                param: "quantity",
                message: format!(
                    "notional {} ({price_label} {} × quantity {}) is below the minimum notional {} ({name}); nearest valid quantity: {}",
                    show(notional),
                    show(price),
                    show(qty),
                    show(min),
                    fmt_scaled(nearest, scale)
                ),
                nearest: vec![nearest],
            });
        }
        if !max.is_zero() && notional > max {
            let nearest = max
                .checked_div(price)
                .map(|q| on_grid_at_or_below(q, step))
                .unwrap_or(max);
            return Err(RuleViolation {
                rule: name,
                param: "quantity",
                message: format!(
                    "notional {} ({price_label} {} × quantity {}) is above the maximum notional {} ({name}); nearest valid quantity: {}",
                    show(notional),
                    show(price),
                    show(qty),
                    show(max),
                    fmt_scaled(nearest, scale)
                ),
                nearest: vec![nearest],
            });
        }
    }
    Ok(())
}

/// The largest multiple of `step` at or below `v` (`v` itself when `step` is zero).
fn on_grid_at_or_below(v: Decimal, step: Decimal) -> Decimal {
    if step.is_zero() {
        return v;
    }
    v.checked_div(step)
        .and_then(|n| n.floor().checked_mul(step))
        .unwrap_or(v)
}

/// The smallest multiple of `step` at or above `v` (`v` itself when `step` is zero).
fn on_grid_at_or_above(v: Decimal, step: Decimal) -> Decimal {
    if step.is_zero() {
        return v;
    }
    v.checked_div(step)
        .and_then(|n| n.ceil().checked_mul(step))
        .unwrap_or(v)
}

/// The number of decimals of a step (`0.01000000` → 2); `None` without a step.
fn step_scale(step: Decimal) -> Option<u32> {
    (!step.is_zero()).then(|| step.normalize().scale())
}

/// `v` with the step's number of decimals (`100` with tick `0.01` → `100.00`), or as
/// [`show`] without a step.
fn fmt_scaled(v: Decimal, scale: Option<u32>) -> String {
    match scale {
        Some(s) => {
            let mut v = v.normalize();
            v.rescale(s);
            v.to_string()
        }
        None => show(v),
    }
}

/// A decimal for a message, without trailing zeros (`0.01000000` → `0.01`).
fn show(v: Decimal) -> String {
    v.normalize().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ExchangeInfo, Side, Symbol, TimeInForce};
    use crate::exchange::parse_exchange_info;

    const FULL: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/exchange_info_spot_full.json"
    ));
    const Y2022: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/exchange_info_btcusdt_2022.json"
    ));
    const EDITED: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/exchange_info_btcusdt_handedited.json"
    ));
    const HTTP: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/http_spot_market_exchange_info.json"
    ));
    const DOC: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/doc_exchange_info_response.json"
    ));

    fn info(payload: &str, symbol: &str) -> SymbolInfo {
        let all: ExchangeInfo = parse_exchange_info(payload.as_bytes()).unwrap();
        let symbol: Symbol = symbol.parse().unwrap();
        all.symbol(&symbol).unwrap().clone()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// A request written as `TYPE SIDE key=value …` (keys: q, qq, p, sp, tif).
    fn req(symbol: &str, spec: &str) -> OrderRequest {
        let mut words = spec.split_whitespace();
        let order_type: OrderType = words.next().unwrap().parse().unwrap();
        let side: Side = words.next().unwrap().parse().unwrap();
        let mut r = OrderRequest::new(symbol.parse().unwrap(), side, order_type);
        for w in words {
            let (k, v) = w.split_once('=').unwrap();
            match k {
                "q" => r.quantity = Some(d(v)),
                "qq" => r.quote_quantity = Some(d(v)),
                "p" => r.price = Some(d(v)),
                "sp" => r.stop_price = Some(d(v)),
                "tif" => r.time_in_force = Some(v.parse::<TimeInForce>().unwrap()),
                other => panic!("unknown key {other}"),
            }
        }
        r
    }

    #[test]
    fn filters_are_parsed_exactly_from_real_exchange_info() {
        let btc = info(FULL, "BTCUSDT");
        let f = &btc.filters;
        assert_eq!(f.price.unwrap().tick_size, d("0.01"));
        assert_eq!(f.price.unwrap().max_price, d("1000000"));
        assert_eq!(f.lot_size.unwrap().step_size, d("0.00001"));
        assert_eq!(f.market_lot_size.unwrap().step_size, Decimal::ZERO);
        let n = f.notional.unwrap();
        assert_eq!((n.min_notional, n.max_notional), (d("5"), d("9000000")));
        assert!(n.apply_min_to_market && !n.apply_max_to_market);
        assert_eq!(n.avg_price_mins, 5);
        assert!(f.min_notional.is_none());
        assert_eq!(f.order_types.len(), 5);
        assert!(f.quote_order_qty_market_allowed);

        let old = info(Y2022, "BTCUSDT").filters;
        let mn = old.min_notional.unwrap();
        assert_eq!((mn.min_notional, mn.apply_to_market), (d("10"), true));
        assert!(old.notional.is_none());

        // Empty strings in fields a filter does not use are ignored.
        let edited = info(EDITED, "BTCUSDT").filters;
        assert_eq!(edited.order_types.len(), 7);
        assert_eq!(edited.price.unwrap().tick_size, d("0.01"));
        assert_eq!(edited.notional.unwrap().min_notional, d("5"));

        // No filters at all: nothing to check.
        let doc = info(DOC, "ETHBTC").filters;
        assert!(doc.price.is_none() && doc.lot_size.is_none());

        // Every symbol of the full file has the filters tradebeat enforces.
        let all = parse_exchange_info(FULL.as_bytes()).unwrap();
        assert!(all.symbols.iter().all(|s| {
            s.filters.price.is_some()
                && s.filters.lot_size.is_some()
                && s.filters.notional.is_some()
        }));
    }

    #[test]
    fn valid_orders_pass() {
        let btc = info(FULL, "BTCUSDT");
        let edited = info(EDITED, "BTCUSDT");
        let cases = [
            (&btc, "LIMIT BUY q=0.001 p=65000.01 tif=GTC", None),
            (&btc, "LIMIT SELL q=0.00100000 p=65000.10 tif=IOC", None),
            (&btc, "LIMIT_MAKER BUY q=1 p=100", None),
            (&btc, "MARKET BUY q=0.001", Some(d("65000"))),
            (&btc, "MARKET BUY q=0.001", None),
            (&btc, "MARKET SELL qq=10.5", None),
            (
                &btc,
                "STOP_LOSS_LIMIT SELL q=0.01 p=60000 sp=60100 tif=GTC",
                None,
            ),
            (
                &btc,
                "TAKE_PROFIT_LIMIT SELL q=0.01 p=70000 sp=69900 tif=FOK",
                None,
            ),
            (&edited, "STOP_LOSS SELL q=0.01 sp=60000", None),
            (&edited, "TAKE_PROFIT BUY q=0.01 sp=60000", None),
        ];
        for (info, spec, price) in cases {
            assert_eq!(check(&req("BTCUSDT", spec), info, price), Ok(()), "{spec}");
        }
    }

    #[test]
    fn violations_name_the_filter_and_the_nearest_valid_value() {
        let btc = info(FULL, "BTCUSDT");
        let old = info(Y2022, "BTCUSDT");
        let xrp = info(FULL, "XRPUSDT");
        let eth = info(HTTP, "ETHUSDT");
        // (info, symbol, spec, last price, rule, message)
        type Case<'a> = (
            &'a SymbolInfo,
            &'a str,
            &'a str,
            Option<Decimal>,
            &'a str,
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (
                &eth,
                "ETHUSDT",
                "LIMIT BUY q=0.0001 p=2000 tif=GTC",
                None,
                "MIN_NOTIONAL",
                "notional 0.2 (price 2000 × quantity 0.0001) is below the minimum notional 10 (MIN_NOTIONAL); nearest valid quantity: 0.0050",
            ),
            (
                &eth,
                "ETHUSDT",
                "LIMIT BUY q=0.00015 p=2000 tif=GTC",
                None,
                "LOT_SIZE",
                "quantity 0.00015 is not a multiple of step size 0.0001 (LOT_SIZE); nearest valid: 0.0001 or 0.0002",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=0.001 p=100.005 tif=GTC",
                None,
                "PRICE_FILTER",
                "price 100.005 is not a multiple of tick size 0.01 (PRICE_FILTER); nearest valid: 100.00 or 100.01",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=0.001 p=0.001 tif=GTC",
                None,
                "PRICE_FILTER",
                "price 0.001 is below the minimum price 0.01 (PRICE_FILTER); nearest valid: 0.01",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=0.001 p=2000000 tif=GTC",
                None,
                "PRICE_FILTER",
                "price 2000000 is above the maximum price 1000000 (PRICE_FILTER); nearest valid: 1000000.00",
            ),
            (
                &btc,
                "BTCUSDT",
                "STOP_LOSS_LIMIT SELL q=0.01 p=60000 sp=60000.001 tif=GTC",
                None,
                "PRICE_FILTER",
                "stop price 60000.001 is not a multiple of tick size 0.01 (PRICE_FILTER); nearest valid: 60000.00 or 60000.01",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=0.000015 p=65000 tif=GTC",
                None,
                "LOT_SIZE",
                "quantity 0.000015 is not a multiple of step size 0.00001 (LOT_SIZE); nearest valid: 0.00001 or 0.00002",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=0.000001 p=65000 tif=GTC",
                None,
                "LOT_SIZE",
                "quantity 0.000001 is below the minimum quantity 0.00001 (LOT_SIZE); nearest valid: 0.00001",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=9000.5 p=1 tif=GTC",
                None,
                "LOT_SIZE",
                "quantity 9000.5 is above the maximum quantity 9000 (LOT_SIZE); nearest valid: 9000.00000",
            ),
            (
                &btc,
                "BTCUSDT",
                "MARKET BUY q=130",
                Some(d("1")),
                "MARKET_LOT_SIZE",
                "quantity 130 is above the maximum quantity 129.84957276 (MARKET_LOT_SIZE); nearest valid: 129.84957276",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=0.00005 p=65000 tif=GTC",
                None,
                "NOTIONAL",
                "notional 3.25 (price 65000 × quantity 0.00005) is below the minimum notional 5 (NOTIONAL); nearest valid quantity: 0.00008",
            ),
            (
                &btc,
                "BTCUSDT",
                "MARKET BUY q=0.00005",
                Some(d("65000")),
                "NOTIONAL",
                "notional 3.25 (the last price 65000 × quantity 0.00005) is below the minimum notional 5 (NOTIONAL); nearest valid quantity: 0.00008",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT SELL q=200 p=65000 tif=GTC",
                None,
                "NOTIONAL",
                "notional 13000000 (price 65000 × quantity 200) is above the maximum notional 9000000 (NOTIONAL); nearest valid quantity: 138.46153",
            ),
            (
                &btc,
                "BTCUSDT",
                "MARKET BUY qq=4.99",
                None,
                "NOTIONAL",
                "quote quantity 4.99 is below the minimum notional 5 (NOTIONAL); nearest valid: 5",
            ),
            (
                &old,
                "BTCUSDT",
                "LIMIT BUY q=0.0001 p=65000 tif=GTC",
                None,
                "MIN_NOTIONAL",
                "notional 6.5 (price 65000 × quantity 0.0001) is below the minimum notional 10 (MIN_NOTIONAL); nearest valid quantity: 0.00016",
            ),
            (
                &xrp,
                "XRPUSDT",
                "LIMIT BUY q=10.5 p=0.5 tif=GTC",
                None,
                "LOT_SIZE",
                "quantity 10.5 is not a multiple of step size 1 (LOT_SIZE); nearest valid: 10 or 11",
            ),
            (
                &btc,
                "BTCUSDT",
                "STOP_LOSS SELL q=0.01 sp=60000",
                None,
                "ORDER_TYPE",
                "STOP_LOSS orders are not allowed on BTCUSDT; allowed: LIMIT, LIMIT_MAKER, MARKET, STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=0.001 tif=GTC",
                None,
                "PARAMETERS",
                "LIMIT orders need a price",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=0.001 p=65000",
                None,
                "PARAMETERS",
                "LIMIT orders need a time in force (GTC, IOC or FOK)",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY p=65000 tif=GTC",
                None,
                "PARAMETERS",
                "LIMIT orders need a quantity",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT_MAKER BUY q=1 p=100 tif=GTC",
                None,
                "PARAMETERS",
                "LIMIT_MAKER orders take no time in force",
            ),
            (
                &btc,
                "BTCUSDT",
                "MARKET BUY q=1 p=100",
                None,
                "PARAMETERS",
                "MARKET orders take no price",
            ),
            (
                &btc,
                "BTCUSDT",
                "MARKET BUY",
                None,
                "PARAMETERS",
                "MARKET orders need a quantity or a quote quantity",
            ),
            (
                &btc,
                "BTCUSDT",
                "MARKET BUY q=1 qq=100",
                None,
                "PARAMETERS",
                "MARKET orders take a quantity or a quote quantity, not both",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY qq=100 p=1 tif=GTC",
                None,
                "PARAMETERS",
                "LIMIT orders take no quote quantity: only MARKET orders do",
            ),
            (
                &btc,
                "BTCUSDT",
                "STOP_LOSS_LIMIT SELL q=0.01 p=60000 tif=GTC",
                None,
                "PARAMETERS",
                "STOP_LOSS_LIMIT orders need a stop price",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=0.001 p=65000 sp=1 tif=GTC",
                None,
                "PARAMETERS",
                "LIMIT orders take no stop price",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=0 p=65000 tif=GTC",
                None,
                "PARAMETERS",
                "quantity must be positive, not 0",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=-1 p=65000 tif=GTC",
                None,
                "PARAMETERS",
                "quantity must be positive, not -1",
            ),
            (
                &btc,
                "BTCUSDT",
                "LIMIT BUY q=1 p=-0.01 tif=GTC",
                None,
                "PARAMETERS",
                "price must be positive, not -0.01",
            ),
        ];
        for (info, symbol, spec, price, rule, message) in cases {
            let err = check(&req(symbol, spec), info, price).unwrap_err();
            assert_eq!((err.rule, err.message.as_str()), (rule, message), "{spec}");
        }
    }

    #[test]
    fn nearest_values_are_themselves_valid() {
        let btc = info(FULL, "BTCUSDT");
        for spec in [
            "LIMIT BUY q=1 p=100.005 tif=GTC",
            "LIMIT BUY q=0.000155 p=65000 tif=GTC",
            "LIMIT BUY q=0.00005 p=65000 tif=GTC",
            "LIMIT SELL q=200 p=65000 tif=GTC",
        ] {
            let mut r = req("BTCUSDT", spec);
            let err = check(&r, &btc, None).unwrap_err();
            assert!(!err.nearest.is_empty(), "{spec}");
            for v in err.nearest {
                match err.param {
                    "price" => r.price = Some(v),
                    _ => r.quantity = Some(v),
                }
                assert_eq!(check(&r, &btc, None), Ok(()), "{spec} with {v}");
            }
        }
    }

    #[test]
    fn market_notional_is_checked_only_when_the_filter_applies_to_market() {
        let btc = info(FULL, "BTCUSDT");
        let tiny = req("BTCUSDT", "MARKET BUY q=0.00001");
        assert!(needs_market_price(&tiny, &btc.filters));
        assert!(check(&tiny, &btc, Some(d("65000"))).is_err());
        // The maximum does not apply to market orders on this symbol.
        let huge = req("BTCUSDT", "MARKET BUY q=129");
        assert_eq!(check(&huge, &btc, Some(d("1000000"))), Ok(()));
        // Without filters nothing needs the price.
        let doc = info(DOC, "ETHBTC");
        assert!(!needs_market_price(
            &req("ETHBTC", "MARKET BUY q=1"),
            &doc.filters
        ));
        assert!(!needs_market_price(
            &req("BTCUSDT", "MARKET BUY qq=10"),
            &btc.filters
        ));
    }

    #[test]
    fn a_symbol_that_does_not_trade_refuses_everything() {
        let mut btc = info(FULL, "BTCUSDT");
        btc.status = SymbolStatus::Break;
        let err = check(&req("BTCUSDT", "MARKET BUY q=0.001"), &btc, None).unwrap_err();
        assert_eq!(err.rule, rule::SYMBOL_STATUS);
        assert_eq!(
            err.message,
            "BTCUSDT is not trading (status BREAK): no order can be placed"
        );
    }

    #[test]
    fn every_symbol_of_the_full_file_accepts_its_own_minimum_order() {
        // Table over real data: for every symbol, the smallest LIMIT order that satisfies
        // every filter passes, and one tick or step off fails with the right filter.
        let all = parse_exchange_info(FULL.as_bytes()).unwrap();
        let mut checked = 0;
        for s in &all.symbols {
            let (Some(pf), Some(lot), Some(n)) =
                (s.filters.price, s.filters.lot_size, s.filters.notional)
            else {
                continue;
            };
            let price =
                on_grid_at_or_above(pf.min_price.max(pf.tick_size) * d("1000"), pf.tick_size);
            if price > pf.max_price {
                continue;
            }
            let min_qty = (n.min_notional / price).max(lot.min_qty);
            let qty = on_grid_at_or_above(min_qty, lot.step_size);
            if qty > lot.max_qty {
                continue;
            }
            let mut r = OrderRequest::new(s.symbol.clone(), Side::Buy, OrderType::Limit);
            r.quantity = Some(qty);
            r.price = Some(price);
            r.time_in_force = Some(TimeInForce::Gtc);
            assert_eq!(check(&r, s, None), Ok(()), "{} q={qty} p={price}", s.symbol);
            let mut off = r.clone();
            off.price = Some(price + pf.tick_size / d("2"));
            assert_eq!(
                check(&off, s, None).unwrap_err().rule,
                "PRICE_FILTER",
                "{}",
                s.symbol
            );
            let mut off = r.clone();
            off.quantity = Some(qty + lot.step_size / d("2"));
            assert_eq!(
                check(&off, s, None).unwrap_err().rule,
                "LOT_SIZE",
                "{}",
                s.symbol
            );
            checked += 1;
        }
        assert!(checked > 1000, "{checked} symbols checked");
    }
}
