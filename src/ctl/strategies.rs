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
use crate::control::protocol::{StrategyRunList, StrategyRunListParams, StrategyRunView};

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
        StrategiesCommand::Runs {
            strategy,
            symbol,
            market,
            outcome,
            start,
            end,
            limit,
        } => {
            let params = StrategyRunListParams {
                strategy: strategy.map(strategy_ref),
                symbol,
                market,
                outcome,
                start,
                end,
                limit,
            };
            let (raw, rows) = call::<StrategyRunList>(client, &params).await?;
            out.print(&raw, || render_strategy_runs(&rows));
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

/// Strategy runs as a table, newest first.
pub fn render_strategy_runs(rows: &[StrategyRunView]) -> String {
    if rows.is_empty() {
        return "no strategy runs\n".to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                utc(r.started_at),
                r.strategy.clone(),
                r.trade_strategy_id.to_string(),
                r.market.to_string(),
                r.symbol.to_string(),
                r.interval.to_string(),
                utc(r.candle_open_time),
                r.outcome.clone(),
                r.duration_ms.to_string(),
                r.orders_placed.to_string(),
                r.note.clone().unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    table(
        &[
            "ID", "STARTED", "STRATEGY", "TS", "MARKET", "SYMBOL", "INTERVAL", "CANDLE", "OUTCOME",
            "MS", "ORDERS", "NOTE",
        ],
        &cells,
        &[
            true, false, false, true, false, false, false, false, false, true, true, false,
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_render_as_an_aligned_table() {
        let run = |id: i64, outcome: &str, note: Option<&str>| StrategyRunView {
            id,
            trade_strategy_id: 3,
            strategy_id: 1,
            strategy: "ma-crossover".into(),
            market: crate::domain::Market::Spot,
            symbol: "BTCUSDT".parse().unwrap(),
            interval: "1m".parse().unwrap(),
            beat_time: 1_764_720_061_000,
            candle_open_time: 1_764_720_000_000,
            started_at: 1_764_720_061_012,
            duration_ms: 41,
            outcome: outcome.into(),
            exit_code: Some(0),
            orders_placed: 1,
            note: note.map(String::from),
        };
        let text = render_strategy_runs(&[
            run(12, "ok", Some("buy: fast crossed above slow")),
            run(9, "timeout", None),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID"), "{text}");
        // Columns line up: OUTCOME starts at the same place on every line.
        let at = lines[0].find("OUTCOME").unwrap();
        assert_eq!(&lines[1][at..at + 2], "ok", "{text}");
        assert_eq!(&lines[2][at..at + 7], "timeout", "{text}");
        assert!(lines[1].contains("buy: fast crossed above slow"), "{text}");
        assert!(lines[2].ends_with('-'), "{text}");
        assert_eq!(render_strategy_runs(&[]), "no strategy runs\n");
    }
}
