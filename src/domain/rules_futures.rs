//! The futures half of [`super::check`]: the per-type parameters of USDⓈ-M and COIN-M "New
//! Order (TRADE)"
//! (<https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Order>,
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/trade/New-Order>)
//! and `PERCENT_PRICE` / `MAX_NUM_ORDERS`.

use rust_decimal::Decimal;

use super::{RuleViolation, param_error, show};
use crate::domain::order::{OrderRequest, OrderType, SymbolFilters};
use crate::domain::{PositionSide, TimeInForce};

/// The futures callback rate range, percent ("New Order (TRADE)": `callbackRate` min 0.1,
/// max 10).
const CALLBACK_RATE: (Decimal, Decimal) = (Decimal::from_parts(1, 0, 0, false, 1), Decimal::TEN);

/// What each futures type needs and refuses; positive decimals.
pub(super) fn check_parameters(req: &OrderRequest) -> Result<(), RuleViolation> {
    let (t, m) = (req.order_type, req.market);
    let given: [(&'static str, &str, Option<Decimal>); 5] = [
        ("quantity", "quantity", req.quantity),
        ("price", "price", req.price),
        ("stop_price", "stop price", req.stop_price),
        ("callback_rate", "callback rate", req.callback_rate),
        ("activation_price", "activation price", req.activation_price),
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
    if req.quote_quantity.is_some() {
        return Err(param_error(
            "futures orders take no quote quantity: give a quantity".to_string(),
            "quote_quantity",
        ));
    }
    let needs = |need: bool, has: bool, param: &'static str, label: &str| match (need, has) {
        (true, false) => Err(param_error(format!("{t} orders need a {label}"), param)),
        (false, true) => Err(param_error(format!("{t} orders take no {label}"), param)),
        _ => Ok(()),
    };
    needs(t.needs_price_on(m), req.price.is_some(), "price", "price")?;
    needs(
        t.needs_stop_price(),
        req.stop_price.is_some(),
        "stop_price",
        "stop price",
    )?;
    let trailing = t == OrderType::TrailingStopMarket;
    needs(
        trailing,
        req.callback_rate.is_some(),
        "callback_rate",
        "callback rate",
    )?;
    if !trailing && req.activation_price.is_some() {
        return Err(param_error(
            format!("{t} orders take no activation price"),
            "activation_price",
        ));
    }
    if let Some(rate) = req.callback_rate
        && !(CALLBACK_RATE.0..=CALLBACK_RATE.1).contains(&rate)
    {
        let nearest = rate.clamp(CALLBACK_RATE.0, CALLBACK_RATE.1);
        return Err(RuleViolation {
            rule: super::rule::PARAMETERS,
            param: "callback_rate",
            message: format!(
                "callback rate {} is outside 0.1..=10 percent; nearest valid: {}",
                show(rate),
                show(nearest)
            ),
            nearest: vec![nearest],
        });
    }
    match (t == OrderType::Limit, req.time_in_force) {
        (true, None) => {
            return Err(param_error(
                "LIMIT orders need a time in force (GTC, IOC, FOK or GTX)".to_string(),
                "time_in_force",
            ));
        }
        (false, Some(_)) if !t.needs_price_on(m) => {
            return Err(param_error(
                format!("{t} orders take no time in force"),
                "time_in_force",
            ));
        }
        _ => {}
    }
    let close = req.close_position == Some(true);
    if close {
        if !matches!(t, OrderType::StopMarket | OrderType::TakeProfitMarket) {
            return Err(param_error(
                format!(
                    "{t} orders cannot close the position: only STOP_MARKET and TAKE_PROFIT_MARKET"
                ),
                "close_position",
            ));
        }
        if req.quantity.is_some() {
            return Err(param_error(
                "an order closing the position takes no quantity".to_string(),
                "quantity",
            ));
        }
        if req.reduce_only.is_some() {
            return Err(param_error(
                "an order closing the position takes no reduce_only (it only reduces)".to_string(),
                "reduce_only",
            ));
        }
    } else if req.quantity.is_none() {
        return Err(param_error(
            format!("{t} orders need a quantity"),
            "quantity",
        ));
    }
    if req.reduce_only.is_some()
        && matches!(
            req.position_side,
            Some(PositionSide::Long | PositionSide::Short)
        )
    {
        return Err(param_error(
            "reduce_only cannot be sent in hedge mode (position side LONG or SHORT)".to_string(),
            "reduce_only",
        ));
    }
    let conditional = t.is_conditional_on(m);
    if !conditional && req.working_type.is_some() {
        return Err(param_error(
            format!("{t} orders take no working type (it is the trigger's)"),
            "working_type",
        ));
    }
    if !conditional && req.price_protect.is_some() {
        return Err(param_error(
            format!("{t} orders take no price_protect (it is the trigger's)"),
            "price_protect",
        ));
    }
    if req.time_in_force == Some(TimeInForce::Gtx) && !t.needs_price_on(m) {
        return Err(param_error(
            "GTX (post-only) needs a limit order".to_string(),
            "time_in_force",
        ));
    }
    Ok(())
}

/// `PERCENT_PRICE` on the limit price against `reference` (the last price: the mark price
/// Binance uses is close to it; the exchange stays the judge).
pub(super) fn check_percent_price(
    req: &OrderRequest,
    filters: &SymbolFilters,
    reference: Option<Decimal>,
) -> Result<(), RuleViolation> {
    let (Some(f), Some(price), Some(reference)) = (filters.percent_price, req.price, reference)
    else {
        return Ok(());
    };
    if reference <= Decimal::ZERO {
        return Ok(());
    }
    let up = reference.checked_mul(f.multiplier_up);
    let down = reference.checked_mul(f.multiplier_down);
    let (bound, above) = match (up, down) {
        (Some(up), _) if !f.multiplier_up.is_zero() && price > up => (up, true),
        (_, Some(down)) if !f.multiplier_down.is_zero() && price < down => (down, false),
        _ => return Ok(()),
    };
    let nearest = match filters.price.map(|p| p.tick_size).filter(|t| !t.is_zero()) {
        Some(tick) if above => (bound / tick).floor() * tick,
        Some(tick) => (bound / tick).ceil() * tick,
        None => bound,
    };
    Err(RuleViolation {
        rule: "PERCENT_PRICE",
        param: "price",
        message: format!(
            "price {} is {} {} times the last price {} (PERCENT_PRICE); nearest valid: {}",
            show(price),
            if above { "above" } else { "below" },
            show(if above {
                f.multiplier_up
            } else {
                f.multiplier_down
            }),
            show(reference),
            show(nearest.normalize())
        ),
        nearest: vec![nearest],
    })
}

/// `MAX_NUM_ORDERS`: one more order on a symbol with `open` open orders.
///
/// # Errors
/// The violation when `open` already reaches the limit.
pub fn check_max_num_orders(filters: &SymbolFilters, open: usize) -> Result<(), RuleViolation> {
    match filters.max_num_orders {
        Some(max) if open >= max as usize => Err(RuleViolation {
            rule: "MAX_NUM_ORDERS",
            param: "symbol",
            message: format!(
                "the symbol already has {open} open orders, the most MAX_NUM_ORDERS allows ({max}): cancel one first"
            ),
            nearest: Vec::new(),
        }),
        _ => Ok(()),
    }
}
