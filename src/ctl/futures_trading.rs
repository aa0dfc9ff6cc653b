//! `tradebeat ctl positions | leverage | margin-type`: the futures account commands, as
//! tables (or `--json`).

use super::{Exit, Output, call, table, utc};
use crate::control::Client;
use crate::control::ClientError;
use crate::control::protocol::{
    LeverageSet, LeverageSetParams, MarginTypeSet, MarginTypeSetParams, PositionList,
    PositionListParams, PositionView,
};
use crate::domain::{MarginType, Market, Symbol};

/// `ctl positions [--market M] [--symbol S] [--all]`.
pub(super) async fn positions(
    client: &mut Client,
    out: &mut Output,
    market: Option<Market>,
    symbol: Option<Symbol>,
    all: bool,
) -> Result<Exit, ClientError> {
    let params = PositionListParams {
        market,
        symbol,
        all: all.then_some(true),
    };
    let (raw, rows) = call::<PositionList>(client, &params).await?;
    out.print(&raw, || render_positions(&rows));
    Ok(Exit::Success)
}

/// The `position.list` table.
pub(super) fn render_positions(rows: &[PositionView]) -> String {
    if rows.is_empty() {
        return "no open futures positions\n".to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|p| {
            vec![
                p.market.as_str().to_string(),
                p.symbol.to_string(),
                p.position_side.to_string(),
                p.quantity.to_string(),
                p.entry_price.to_string(),
                p.break_even_price
                    .map_or_else(|| "-".to_string(), |d| d.to_string()),
                p.unrealized_pnl.to_string(),
                p.leverage
                    .map_or_else(|| "-".to_string(), |l| format!("{l}x")),
                p.margin_type
                    .map_or_else(|| "-".to_string(), |m| m.to_string()),
                utc(p.updated_at),
            ]
        })
        .collect();
    table(
        &[
            "MARKET",
            "SYMBOL",
            "SIDE",
            "QUANTITY",
            "ENTRY",
            "BREAK-EVEN",
            "UNREALIZED PNL",
            "LEVERAGE",
            "MARGIN",
            "UPDATED (UTC)",
        ],
        &cells,
        &[
            false, false, false, true, true, true, true, true, false, false,
        ],
    )
}

/// `ctl leverage SYMBOL N --market M`.
pub(super) async fn leverage(
    client: &mut Client,
    out: &mut Output,
    symbol: Symbol,
    market: Market,
    leverage: u32,
) -> Result<Exit, ClientError> {
    let params = LeverageSetParams {
        symbol,
        market,
        leverage,
    };
    let (raw, set) = call::<LeverageSet>(client, &params).await?;
    out.print(&raw, || {
        format!(
            "{} ({}): leverage {}x\n",
            set.symbol,
            set.market.as_str(),
            set.leverage
        )
    });
    Ok(Exit::Success)
}

/// `ctl margin-type SYMBOL isolated|crossed --market M`.
pub(super) async fn margin_type(
    client: &mut Client,
    out: &mut Output,
    symbol: Symbol,
    market: Market,
    margin_type: MarginType,
) -> Result<Exit, ClientError> {
    let params = MarginTypeSetParams {
        symbol,
        market,
        margin_type,
    };
    let (raw, set) = call::<MarginTypeSet>(client, &params).await?;
    out.print(&raw, || {
        format!(
            "{} ({}): margin type {}\n",
            set.symbol,
            set.market.as_str(),
            set.margin_type
        )
    });
    Ok(Exit::Success)
}
