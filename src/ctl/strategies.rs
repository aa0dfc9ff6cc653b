//! `ctl strategies add|update|remove|list` and `ctl trade-strategies add|remove|list`:
//! the strategy registry, rendered for a person.

use super::{Exit, Output, call, table, utc};
use crate::cli::{StrategiesCommand, TradeStrategiesCommand};
use crate::control::Client;
use crate::control::ClientError;
use crate::control::protocol::{
    StrategyAdd, StrategyAddParams, StrategyList, StrategyListParams, StrategyRef,
    StrategyRefParams, StrategyRemove, StrategyUpdate, StrategyUpdateParams, StrategyView,
    TradeStrategyAdd, TradeStrategyAddParams, TradeStrategyList, TradeStrategyListParams,
    TradeStrategyRemove, TradeStrategyRemoveParams, TradeStrategyView,
};

/// A strategy named on the command line: digits are an id, anything else a slug.
fn strategy_ref(text: String) -> StrategyRef {
    match text.parse() {
        Ok(id) => StrategyRef::Id(id),
        Err(_) => StrategyRef::Slug(text),
    }
}

/// `ctl strategies …`.
pub(super) async fn strategies(
    client: &mut Client,
    out: &mut Output,
    command: StrategiesCommand,
) -> Result<Exit, ClientError> {
    match command {
        StrategiesCommand::Add {
            name,
            command,
            slug,
            timeout_ms,
        } => {
            let params = StrategyAddParams {
                name,
                slug,
                command,
                timeout_ms,
            };
            let (raw, s) = call::<StrategyAdd>(client, &params).await?;
            out.print(&raw, || render_strategies(std::slice::from_ref(&s)));
        }
        StrategiesCommand::Update {
            strategy,
            name,
            command,
            timeout_ms,
        } => {
            let params = StrategyUpdateParams {
                strategy: strategy_ref(strategy),
                name,
                command,
                timeout_ms,
            };
            let (raw, s) = call::<StrategyUpdate>(client, &params).await?;
            out.print(&raw, || render_strategies(std::slice::from_ref(&s)));
        }
        StrategiesCommand::Remove { strategy } => {
            let params = StrategyRefParams {
                strategy: strategy_ref(strategy),
            };
            let (raw, s) = call::<StrategyRemove>(client, &params).await?;
            out.print(&raw, || render_strategies(std::slice::from_ref(&s)));
        }
        StrategiesCommand::List { all } => {
            let params = StrategyListParams {
                deleted: all.then_some(true),
            };
            let (raw, rows) = call::<StrategyList>(client, &params).await?;
            out.print(&raw, || render_strategies(&rows));
        }
    }
    Ok(Exit::Success)
}

/// `ctl trade-strategies …`.
pub(super) async fn trade_strategies(
    client: &mut Client,
    out: &mut Output,
    command: TradeStrategiesCommand,
) -> Result<Exit, ClientError> {
    match command {
        TradeStrategiesCommand::Add {
            strategy,
            symbol,
            interval,
            market,
            params,
        } => {
            let params = TradeStrategyAddParams {
                strategy: strategy_ref(strategy),
                symbol,
                market,
                interval,
                params,
            };
            let (raw, t) = call::<TradeStrategyAdd>(client, &params).await?;
            out.print(&raw, || render_trade_strategies(std::slice::from_ref(&t)));
        }
        TradeStrategiesCommand::Remove { id } => {
            let params = TradeStrategyRemoveParams {
                id: StrategyRef::Id(id),
            };
            let (raw, t) = call::<TradeStrategyRemove>(client, &params).await?;
            out.print(&raw, || render_trade_strategies(std::slice::from_ref(&t)));
        }
        TradeStrategiesCommand::List { strategy, all } => {
            let params = TradeStrategyListParams {
                strategy: strategy.map(strategy_ref),
                deleted: all.then_some(true),
            };
            let (raw, rows) = call::<TradeStrategyList>(client, &params).await?;
            out.print(&raw, || render_trade_strategies(&rows));
        }
    }
    Ok(Exit::Success)
}

fn removed(deleted_at: Option<i64>) -> String {
    deleted_at.map_or_else(|| "-".to_string(), utc)
}

/// Strategies as a table.
pub fn render_strategies(rows: &[StrategyView]) -> String {
    if rows.is_empty() {
        return "no strategies\n".to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.slug.clone(),
                s.name.clone(),
                s.timeout_ms.to_string(),
                s.command.clone(),
                removed(s.deleted_at),
            ]
        })
        .collect();
    table(
        &["ID", "SLUG", "NAME", "TIMEOUT_MS", "COMMAND", "REMOVED"],
        &cells,
        &[true, false, false, true, false, false],
    )
}

/// Trade strategies as a table.
pub fn render_trade_strategies(rows: &[TradeStrategyView]) -> String {
    if rows.is_empty() {
        return "no trade strategies\n".to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.strategy.clone(),
                t.market.to_string(),
                t.symbol.to_string(),
                t.interval.to_string(),
                t.params.to_string(),
                removed(t.deleted_at),
            ]
        })
        .collect();
    table(
        &[
            "ID", "STRATEGY", "MARKET", "SYMBOL", "INTERVAL", "PARAMS", "REMOVED",
        ],
        &cells,
        &[true, false, false, false, false, false, false],
    )
}
