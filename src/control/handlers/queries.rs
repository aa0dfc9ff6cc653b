//! The handlers of the query methods: `ticker.get` (live from the exchange), `market.get`
//! (the symbol's rules from a cached `exchangeInfo`) and `trade.list` (fills from the
//! database); and of the order conveniences: `order.list` with `live: true`,
//! `order.cancel_all` and `order.test` (one call each into `Orders`). Registered in
//! [`super::Dispatch::new`].

use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::json;

use super::{db, decimal, exchange_error, market_client, order_error, spot_only};
use crate::control::ControlContext;
use crate::control::protocol::{
    self, ErrorObject, FillView, MarketSymbolParams, MarketView, OrderListParams, OrderRequest,
    OrderTested, OrderView, TickerView, TradeListParams, TradeView, code,
};
use crate::domain::{ExchangeInfo, Market, Order, OrderType, Symbol, SymbolInfo, Ticker};
use crate::exchange::{ExchangeError, Rejection};
use crate::orders::LiveOrder;
use crate::store::{FillFilter, FillRow};

/// How long a fetched `exchangeInfo` answers `market.get`, ms.
const MARKET_INFO_TTL_MS: i64 = 10 * 60 * 1000;

/// The market's `exchangeInfo` for `market.get`: the copy the client last read (the beats
/// read it at start and hourly, `symbol.add` when it is older) when younger than
/// [`MARKET_INFO_TTL_MS`], else a fresh one; a stale copy when the exchange cannot be asked.
async fn market_info(
    ctx: &ControlContext,
    market: Market,
) -> Result<Arc<ExchangeInfo>, ErrorObject> {
    let exchange = market_client(ctx, market)?;
    if let Some(info) = exchange.cached_exchange_info(MARKET_INFO_TTL_MS) {
        return Ok(info);
    }
    match exchange.exchange_info().await {
        Ok(info) => Ok(Arc::new(info)),
        Err(e) => match exchange.cached_exchange_info(i64::MAX) {
            Some(info) => {
                tracing::warn!(%market, error = %e, "cannot refresh exchangeInfo for market.get, using the cached one");
                Ok(info)
            }
            None => Err(exchange_error(e)),
        },
    }
}

/// `-32001` for a symbol the exchange does not list.
fn unknown_symbol(symbol: &Symbol) -> ErrorObject {
    ErrorObject::new(
        code::UNKNOWN_SYMBOL,
        format!("symbol {symbol} is not listed by the exchange"),
    )
    .with_data(json!({ "symbol": symbol }))
}

/// An exchange failure of a request about `symbol`: its "invalid symbol" is `-32001`.
fn symbol_error(symbol: &Symbol, e: ExchangeError) -> ErrorObject {
    if e.rejection() == Some(Rejection::UnknownSymbol) {
        unknown_symbol(symbol)
    } else {
        exchange_error(e)
    }
}

/// `ticker.get`: one 24-hour ticker request at control priority.
pub(super) async fn ticker_get(
    ctx: Arc<ControlContext>,
    p: MarketSymbolParams,
) -> Result<TickerView, ErrorObject> {
    let market = spot_only(p.market)?;
    let tickers = ctx
        .exchange
        .tickers_24hr(std::slice::from_ref(&p.symbol))
        .await
        .map_err(|e| symbol_error(&p.symbol, e))?;
    let ticker = tickers
        .into_iter()
        .find(|t| t.symbol == p.symbol)
        .ok_or_else(|| unknown_symbol(&p.symbol))?;
    Ok(ticker_view(market, &ticker))
}

fn ticker_view(market: crate::domain::Market, t: &Ticker) -> TickerView {
    TickerView {
        market,
        symbol: t.symbol.clone(),
        last: decimal(t.last_price),
        bid: decimal(t.bid_price),
        bid_qty: decimal(t.bid_qty),
        ask: decimal(t.ask_price),
        ask_qty: decimal(t.ask_qty),
        open: decimal(t.open_price),
        high: decimal(t.high_price),
        low: decimal(t.low_price),
        change_percent: decimal(t.price_change_percent),
        volume: decimal(t.volume),
        quote_volume: decimal(t.quote_volume),
        trades: t.trades,
        open_time: t.open_time,
        close_time: t.close_time,
    }
}

/// `market.get`: the symbol's rules from the cached `exchangeInfo`.
pub(super) async fn market_get(
    ctx: Arc<ControlContext>,
    p: MarketSymbolParams,
) -> Result<MarketView, ErrorObject> {
    let market = p.market.unwrap_or(Market::Spot);
    let info = market_info(&ctx, market).await?;
    let listed = info
        .symbol(&p.symbol)
        .ok_or_else(|| unknown_symbol(&p.symbol))?;
    Ok(market_view(market, listed))
}

/// Decimal places of a step (`0.0100` → 2); `None` for no step (zero).
fn places(step: Decimal) -> Option<u32> {
    (!step.is_zero()).then(|| step.normalize().scale())
}

fn market_view(market: crate::domain::Market, s: &SymbolInfo) -> MarketView {
    let f = &s.filters;
    let (min_notional, max_notional) = match (&f.notional, &f.min_notional) {
        (Some(n), _) => (Some(n.min_notional), Some(n.max_notional)),
        (None, Some(m)) => (Some(m.min_notional), None),
        (None, None) => (None, None),
    };
    MarketView {
        market,
        symbol: s.symbol.clone(),
        status: s.status.as_str().to_string(),
        base_asset: s.base_asset.clone(),
        quote_asset: s.quote_asset.clone(),
        tick_size: f.price.map(|p| p.tick_size),
        min_price: f.price.map(|p| p.min_price),
        max_price: f.price.map(|p| p.max_price),
        step_size: f.lot_size.map(|l| l.step_size),
        min_qty: f.lot_size.map(|l| l.min_qty),
        max_qty: f.lot_size.map(|l| l.max_qty),
        market_step_size: f.market_lot_size.map(|l| l.step_size),
        market_max_qty: f.market_lot_size.map(|l| l.max_qty),
        min_notional,
        max_notional,
        price_precision: f.price.and_then(|p| places(p.tick_size)),
        quantity_precision: f.lot_size.and_then(|l| places(l.step_size)),
        order_types: f.order_types.clone(),
        quote_order_qty_market_allowed: f.quote_order_qty_market_allowed,
    }
}

/// `trade.list`: fills from `executions`, newest first.
pub(super) async fn trade_list(
    ctx: Arc<ControlContext>,
    p: TradeListParams,
) -> Result<Vec<TradeView>, ErrorObject> {
    let market = spot_only(p.market)?;
    let limit = p.limit.unwrap_or(protocol::TRADE_LIST_DEFAULT_LIMIT);
    if !(1..=protocol::TRADE_LIST_MAX_LIMIT).contains(&limit) {
        return Err(ErrorObject::invalid_param(
            "limit",
            format_args!(
                "must be 1..={}, not {limit}",
                protocol::TRADE_LIST_MAX_LIMIT
            ),
        ));
    }
    let (start, end) = (p.start.unwrap_or(0), p.end.unwrap_or(i64::MAX));
    if start > end {
        return Err(ErrorObject::invalid_param(
            "start",
            format_args!("({start}) is after `end` ({end})"),
        ));
    }
    let filter = FillFilter {
        market,
        symbol: p.symbol,
        start,
        end,
        limit,
    };
    let rows = db(&ctx.store, move |s| s.fills(&filter)).await?;
    Ok(rows.iter().map(trade_view).collect())
}

fn trade_view(r: &FillRow) -> TradeView {
    TradeView {
        time: r.time,
        market: r.market,
        symbol: r.symbol.clone(),
        trade_id: r.trade_id,
        order_id: r.order_id,
        client_order_id: r.client_order_id.clone(),
        side: r.side,
        price: r.price,
        qty: r.qty,
        quote_qty: r.quote_qty,
        commission: r.commission,
        commission_asset: r.commission_asset.clone(),
        maker: r.maker,
        realized_pnl: None,
    }
}

/// `order.list` with `live: true`: the exchange's open orders next to the stored ones
/// not in a final state, each marked (`live`).
pub(super) async fn order_list_live(
    ctx: Arc<ControlContext>,
    p: OrderListParams,
) -> Result<Vec<OrderView>, ErrorObject> {
    let compared = ctx
        .orders
        .compare_open(p.symbol.as_ref())
        .await
        .map_err(order_error)?;
    Ok(compared.iter().filter_map(live_view).collect())
}

/// The view of a compared order: the stored row when there is one, else the exchange's
/// order (`id` 0); `None` (logged) for an exchange order whose client order id tradebeat
/// cannot represent.
fn live_view(o: &LiveOrder) -> Option<OrderView> {
    let mut view = match (&o.stored, &o.exchange) {
        (Some(row), _) => OrderView::from(row),
        // Only spot orders are compared today (`Orders` trades on the spot venue).
        (None, Some(order)) => exchange_order_view(crate::domain::Market::Spot, order)?,
        (None, None) => return None,
    };
    view.live = Some(o.mark.as_str().to_string());
    Some(view)
}

fn exchange_order_view(market: crate::domain::Market, o: &Order) -> Option<OrderView> {
    let client_order_id = match o.client_order_id.parse() {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(order_id = o.order_id, error = %e, "open order with a client order id tradebeat cannot show, left out");
            return None;
        }
    };
    let nonzero = |d: Decimal| (!d.is_zero()).then_some(d);
    Some(OrderView {
        id: 0,
        market,
        symbol: o.symbol.clone(),
        client_order_id,
        order_id: Some(o.order_id),
        side: o.side,
        order_type: o.order_type,
        time_in_force: o.time_in_force,
        quantity: nonzero(o.orig_qty),
        quote_quantity: nonzero(o.orig_quote_order_qty),
        price: if o.order_type == OrderType::Market {
            None
        } else {
            nonzero(o.price)
        },
        stop_price: o.stop_price,
        status: o.status,
        executed_qty: o.executed_qty,
        cummulative_quote_qty: o.cummulative_quote_qty,
        fills: o.fills.iter().map(FillView::from).collect(),
        error_code: None,
        error_msg: None,
        transact_time: o.time,
        update_time: o.update_time,
        created_at: 0,
        updated_at: 0,
        live: None,
    })
}

/// `order.cancel_all`: one cancel-all request; the rows follow.
pub(super) async fn order_cancel_all(
    ctx: Arc<ControlContext>,
    p: MarketSymbolParams,
) -> Result<Vec<OrderView>, ErrorObject> {
    let rows = super::futures_trading::orders_for(&ctx, p.market)?
        .cancel_all(&p.symbol)
        .await
        .map_err(order_error)?;
    Ok(rows.iter().map(OrderView::from).collect())
}

/// `order.test`: the local checks and the exchange's test endpoint; nothing stored.
pub(super) async fn order_test(
    ctx: Arc<ControlContext>,
    p: OrderRequest,
) -> Result<OrderTested, ErrorObject> {
    super::futures_trading::check_market_fields(&p)?;
    super::futures_trading::orders_for(&ctx, Some(p.market))?
        .test(&p)
        .await
        .map_err(order_error)?;
    Ok(OrderTested {
        symbol: p.symbol,
        accepted: true,
        placed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precisions_come_from_the_steps() {
        assert_eq!(places("0.01000000".parse().unwrap()), Some(2));
        assert_eq!(places("1.00000000".parse().unwrap()), Some(0));
        assert_eq!(places("0.00001".parse().unwrap()), Some(5));
        assert_eq!(places(Decimal::ZERO), None);
    }
}
