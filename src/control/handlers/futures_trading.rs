//! The futures side of the `order.*` methods (which orders component a request goes to,
//! and the futures fields a spot order may not carry) and `position.list`, `leverage.set`,
//! `margin_type.set`. Each is one call into the market's [`Orders`].

use std::sync::Arc;

use super::order_error;
use crate::control::ControlContext;
use crate::control::protocol::{
    ErrorObject, LeverageSetParams, LeverageView, MarginTypeSetParams, MarginTypeView,
    PositionListParams, PositionView,
};
use crate::domain::{Market, OrderRequest};
use crate::orders::Orders;

/// The orders component of `market` (`spot` when absent): the control handle of the spot
/// one, or of the futures market's (live, or the paper venue's in paper mode). A futures
/// market without one answers why: no credentials (`-32003`).
pub(super) fn orders_for(
    ctx: &ControlContext,
    market: Option<Market>,
) -> Result<Orders, ErrorObject> {
    let market = market.unwrap_or(Market::Spot);
    if market == Market::Spot {
        return Ok(ctx.orders.clone());
    }
    match ctx.futures_orders(market) {
        Some(orders) => Ok(orders),
        None => Err(order_error(crate::orders::OrderError::NoCredentials)),
    }
}

/// The orders component `order.list` reads through: the market's, or the spot one (the
/// list is the database only, so a futures market without credentials still lists).
pub(super) fn orders_for_list(
    ctx: &ControlContext,
    market: Option<Market>,
) -> Result<Orders, ErrorObject> {
    match orders_for(ctx, market) {
        Ok(orders) => Ok(orders),
        Err(_) => Ok(ctx.orders.clone()),
    }
}

/// A spot order carrying a futures field, or a type or time in force the market does not
/// offer: `-32602` naming the field.
pub(super) fn check_market_fields(req: &OrderRequest) -> Result<(), ErrorObject> {
    let market = req.market;
    if market == Market::Spot
        && let Some(field) = req.futures_fields_set().first()
    {
        return Err(ErrorObject::invalid_param(
            field,
            "is a futures field: not allowed on a spot order (give market usdm or coinm)",
        ));
    }
    if !req.order_type.is_offered_on(market) {
        return Err(ErrorObject::invalid_param(
            "type",
            format_args!(
                "{} is not an order type of {}",
                req.order_type,
                market.as_str()
            ),
        ));
    }
    if let Some(tif) = req.time_in_force
        && !tif.is_offered_on(market)
    {
        return Err(ErrorObject::invalid_param(
            "time_in_force",
            format_args!("{tif} is not offered on {}", market.as_str()),
        ));
    }
    if market != Market::Spot && req.quote_quantity.is_some() {
        return Err(ErrorObject::invalid_param(
            "quote_quantity",
            "is a spot field: futures orders take a quantity",
        ));
    }
    Ok(())
}

/// Paper mode: a futures order of a type the paper venue does not simulate
/// (`TRAILING_STOP_MARKET`) is refused, `-32602` naming `type`.
pub(super) fn check_paper_order(
    ctx: &ControlContext,
    req: &OrderRequest,
) -> Result<(), ErrorObject> {
    if ctx.config.paper.enabled && req.order_type == crate::domain::OrderType::TrailingStopMarket {
        return Err(ErrorObject::invalid_param(
            "type",
            "TRAILING_STOP_MARKET is not simulated in paper trading",
        ));
    }
    Ok(())
}

fn futures_market(market: Market) -> Result<Market, ErrorObject> {
    match market {
        Market::Spot => Err(ErrorObject::invalid_param(
            "market",
            "must be usdm or coinm: spot has no positions, leverage or margin type",
        )),
        m => Ok(m),
    }
}

/// `position.list`: refreshed from each futures market with credentials that is in use, or
/// from the one named (a market whose request fails keeps its stored rows, logged), then
/// read from the database.
pub(super) async fn position_list(
    ctx: Arc<ControlContext>,
    p: PositionListParams,
) -> Result<Vec<PositionView>, ErrorObject> {
    let markets: Vec<Market> = match p.market {
        Some(m) => vec![futures_market(m)?],
        None => vec![Market::UsdM, Market::CoinM],
    };
    // Without a market, only the markets in use are asked (a spot-only user's call sends
    // nothing to the futures hosts); a market named is asked whatever its use.
    let named = p.market.is_some();
    for market in &markets {
        if let Some(orders) = ctx.futures_orders(*market)
            && orders.has_credentials()
            && (named || orders.is_in_use())
            && let Err(e) = orders.refresh_positions(p.symbol.as_ref()).await
        {
            tracing::warn!(market = market.as_str(), error = %e, "positions not refreshed: showing the stored ones");
        }
    }
    let (symbol, all) = (p.symbol.clone(), p.all.unwrap_or(false));
    let rows = ctx
        .store
        .run(move |s| s.positions(None, symbol.as_ref(), !all))
        .await
        .map_err(|e| ErrorObject::internal(format_args!("database: {e}")))?;
    Ok(rows
        .into_iter()
        .filter(|r| markets.contains(&r.market))
        .map(|r| PositionView {
            market: r.market,
            symbol: r.symbol,
            position_side: r.position_side,
            quantity: r.quantity,
            entry_price: r.entry_price,
            break_even_price: r.break_even_price,
            unrealized_pnl: r.unrealized_pnl,
            leverage: r.leverage,
            margin_type: r.margin_type,
            isolated_wallet: r.isolated_wallet,
            updated_at: r.updated_at,
        })
        .collect())
}

/// `leverage.set`.
pub(super) async fn leverage_set(
    ctx: Arc<ControlContext>,
    p: LeverageSetParams,
) -> Result<LeverageView, ErrorObject> {
    let market = futures_market(p.market)?;
    if !(1..=125).contains(&p.leverage) {
        return Err(ErrorObject::invalid_param(
            "leverage",
            format_args!("must be 1..=125, not {}", p.leverage),
        ));
    }
    let orders = orders_for(&ctx, Some(market))?;
    let leverage = orders
        .set_leverage(&p.symbol, p.leverage)
        .await
        .map_err(order_error)?;
    Ok(LeverageView {
        market,
        symbol: p.symbol,
        leverage,
    })
}

/// `margin_type.set`.
pub(super) async fn margin_type_set(
    ctx: Arc<ControlContext>,
    p: MarginTypeSetParams,
) -> Result<MarginTypeView, ErrorObject> {
    let market = futures_market(p.market)?;
    let orders = orders_for(&ctx, Some(market))?;
    orders
        .set_margin_type(&p.symbol, p.margin_type)
        .await
        .map_err(order_error)?;
    Ok(MarginTypeView {
        market,
        symbol: p.symbol,
        margin_type: p.margin_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderType, Side, TimeInForce};

    fn spot(t: OrderType) -> OrderRequest {
        OrderRequest::new("BTCUSDT".parse().unwrap(), Side::Buy, t)
    }

    fn param_of(e: &ErrorObject) -> String {
        e.data.as_ref().unwrap()["param"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_futures_field_on_spot_or_a_type_the_market_lacks_is_refused_naming_the_field() {
        let mut r = spot(OrderType::Market);
        r.reduce_only = Some(true);
        let e = check_market_fields(&r).unwrap_err();
        assert_eq!(e.code, -32602);
        assert_eq!(param_of(&e), "reduce_only");
        assert!(e.message.contains("futures field"), "{}", e.message);

        let mut r = spot(OrderType::Market);
        r.callback_rate = Some("1".parse().unwrap());
        assert_eq!(
            param_of(&check_market_fields(&r).unwrap_err()),
            "callback_rate"
        );

        let e = check_market_fields(&spot(OrderType::TrailingStopMarket)).unwrap_err();
        assert_eq!((e.code, param_of(&e)), (-32602, "type".to_string()));

        let mut r = spot(OrderType::Limit);
        r.time_in_force = Some(TimeInForce::Gtx);
        assert_eq!(
            param_of(&check_market_fields(&r).unwrap_err()),
            "time_in_force"
        );

        let mut r = spot(OrderType::LimitMaker);
        r.market = Market::UsdM;
        assert_eq!(param_of(&check_market_fields(&r).unwrap_err()), "type");

        let mut r = spot(OrderType::Market);
        r.market = Market::CoinM;
        r.quote_quantity = Some("10".parse().unwrap());
        assert_eq!(
            param_of(&check_market_fields(&r).unwrap_err()),
            "quote_quantity"
        );

        let mut ok = spot(OrderType::TrailingStopMarket);
        ok.market = Market::UsdM;
        ok.callback_rate = Some("1".parse().unwrap());
        ok.reduce_only = Some(true);
        assert!(check_market_fields(&ok).is_ok());
        assert!(check_market_fields(&spot(OrderType::StopLossLimit)).is_ok());
    }
}
