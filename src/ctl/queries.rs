//! `ctl price`, `ctl market`, `ctl trades`, `ctl orders list --live`, `ctl orders
//! cancel-all` and `ctl orders test`: rendered for a person.

use super::{Exit, ORDER_HEADERS, ORDER_RIGHT, Output, call, order_cells, pairs, table, utc};
use crate::control::Client;
use crate::control::ClientError;
use crate::control::protocol::{
    MarketGet, MarketSymbolParams, MarketView, OrderCancelAll, OrderList, OrderListParams,
    OrderRequest, OrderTest, OrderView, TickerGet, TickerView, TradeList, TradeListParams,
    TradeView,
};
use crate::domain::{Market, Symbol};

/// `ctl price SYMBOL`.
pub(super) async fn price(
    client: &mut Client,
    out: &mut Output,
    symbol: Symbol,
    market: Option<Market>,
) -> Result<Exit, ClientError> {
    let (raw, t) = call::<TickerGet>(client, &MarketSymbolParams { symbol, market }).await?;
    out.print(&raw, || render_ticker(&t));
    Ok(Exit::Success)
}

/// `ctl market SYMBOL`.
pub(super) async fn market(
    client: &mut Client,
    out: &mut Output,
    symbol: Symbol,
    market: Option<Market>,
) -> Result<Exit, ClientError> {
    let (raw, m) = call::<MarketGet>(client, &MarketSymbolParams { symbol, market }).await?;
    out.print(&raw, || render_market(&m));
    Ok(Exit::Success)
}

/// `ctl trades`.
pub(super) async fn trades(
    client: &mut Client,
    out: &mut Output,
    params: TradeListParams,
) -> Result<Exit, ClientError> {
    let (raw, rows) = call::<TradeList>(client, &params).await?;
    out.print(&raw, || render_trades(&rows));
    Ok(Exit::Success)
}

/// A live ticker as key/value lines.
pub fn render_ticker(t: &TickerView) -> String {
    pairs(&[
        ("symbol", format!("{} ({})", t.symbol, t.market)),
        ("last", t.last.clone()),
        ("bid", format!("{} (qty {})", t.bid, t.bid_qty)),
        ("ask", format!("{} (qty {})", t.ask, t.ask_qty)),
        (
            "24h",
            format!(
                "open {} high {} low {} change {} %",
                t.open, t.high, t.low, t.change_percent
            ),
        ),
        (
            "24h volume",
            format!(
                "{} base, {} quote, {} trades",
                t.volume, t.quote_volume, t.trades
            ),
        ),
        (
            "window (UTC)",
            format!("{} to {}", utc(t.open_time), utc(t.close_time)),
        ),
    ])
}

/// A symbol's rules as key/value lines; a filter the exchange did not publish is `-`.
pub fn render_market(m: &MarketView) -> String {
    let d = |v: Option<rust_decimal::Decimal>| {
        v.map_or_else(|| "-".to_string(), |v| v.normalize().to_string())
    };
    let n = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let types: Vec<String> = m.order_types.iter().map(|t| t.to_string()).collect();
    let contract = m
        .contract
        .as_ref()
        .map(super::futures_tables::describe_contract);
    let mut lines = vec![("symbol", format!("{} ({})", m.symbol, m.market))];
    if let Some(c) = contract {
        lines.push(("contract", c));
    }
    lines.extend([
        ("status", m.status.clone()),
        ("assets", format!("{} / {}", m.base_asset, m.quote_asset)),
        ("tick size", d(m.tick_size)),
        (
            "price range",
            format!("{} to {}", d(m.min_price), d(m.max_price)),
        ),
        ("step size", d(m.step_size)),
        (
            "quantity range",
            format!("{} to {}", d(m.min_qty), d(m.max_qty)),
        ),
        ("market step size", d(m.market_step_size)),
        ("market max qty", d(m.market_max_qty)),
        ("min notional", d(m.min_notional)),
        ("max notional", d(m.max_notional)),
        ("price precision", n(m.price_precision)),
        ("quantity precision", n(m.quantity_precision)),
        ("order types", types.join(", ")),
        (
            "quote qty market",
            if m.quote_order_qty_market_allowed {
                "allowed"
            } else {
                "not allowed"
            }
            .to_string(),
        ),
    ]);
    pairs(&lines)
}

/// Fills, newest first, one row each.
pub fn render_trades(rows: &[TradeView]) -> String {
    if rows.is_empty() {
        return "no fills\n".to_string();
    }
    let dash = || "-".to_string();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|t| {
            vec![
                utc(t.time),
                t.symbol.to_string(),
                t.side.map_or_else(dash, |s| s.to_string()),
                t.price.to_string(),
                t.qty.to_string(),
                t.quote_qty.to_string(),
                match &t.commission_asset {
                    Some(a) => format!("{} {a}", t.commission),
                    None => t.commission.to_string(),
                },
                match t.maker {
                    Some(true) => "maker".to_string(),
                    Some(false) => "taker".to_string(),
                    None => dash(),
                },
                t.order_id.to_string(),
                t.trade_id.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "TIME (UTC)",
            "SYMBOL",
            "SIDE",
            "PRICE",
            "QTY",
            "QUOTE QTY",
            "COMMISSION",
            "ROLE",
            "ORDER ID",
            "TRADE ID",
        ],
        &cells,
        &[
            false, false, false, true, true, true, true, false, true, true,
        ],
    )
}

/// `ctl orders list --live`.
pub(super) async fn orders_live(
    client: &mut Client,
    out: &mut Output,
    symbol: Option<Symbol>,
) -> Result<Exit, ClientError> {
    let params = OrderListParams {
        symbol,
        live: Some(true),
        ..Default::default()
    };
    let (raw, rows) = call::<OrderList>(client, &params).await?;
    out.print(&raw, || render_live(&rows));
    Ok(Exit::Success)
}

/// `ctl orders cancel-all SYMBOL`.
pub(super) async fn cancel_all(
    client: &mut Client,
    out: &mut Output,
    symbol: Symbol,
) -> Result<Exit, ClientError> {
    let params = MarketSymbolParams {
        symbol,
        market: None,
    };
    let (raw, rows) = call::<OrderCancelAll>(client, &params).await?;
    out.print(&raw, || {
        if rows.is_empty() {
            "no open orders to cancel\n".to_string()
        } else {
            let cells: Vec<Vec<String>> = rows.iter().map(order_cells).collect();
            table(&ORDER_HEADERS, &cells, &ORDER_RIGHT)
        }
    });
    Ok(Exit::Success)
}

/// `ctl orders test SYMBOL …`.
pub(super) async fn test_order(
    client: &mut Client,
    out: &mut Output,
    request: OrderRequest,
) -> Result<Exit, ClientError> {
    let (raw, tested) = call::<OrderTest>(client, &request).await?;
    out.print(&raw, || {
        format!(
            "{} order accepted by the local checks and the exchange's test endpoint; nothing placed\n",
            tested.symbol
        )
    });
    Ok(Exit::Success)
}

/// Open orders compared with the exchange: the order table with a LIVE column first.
pub fn render_live(rows: &[OrderView]) -> String {
    if rows.is_empty() {
        return "no open orders, on the exchange or in the database\n".to_string();
    }
    let mut headers = vec!["LIVE"];
    headers.extend(ORDER_HEADERS);
    let mut right = vec![false];
    right.extend(ORDER_RIGHT);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|o| {
            let mut row = vec![o.live.clone().unwrap_or_else(|| "-".to_string())];
            row.extend(order_cells(o));
            row
        })
        .collect();
    table(&headers, &cells, &right)
}
