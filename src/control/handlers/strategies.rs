//! The handlers of the strategy registry: `strategy.add|update|remove|list` and
//! `trade_strategy.add|remove|list`. Every parameter is checked before the one store
//! transaction that writes, so a refusal leaves nothing behind. Registered in
//! [`super::Dispatch::new`].

use std::sync::Arc;

use serde_json::{Value, json};

use super::db;
use crate::control::ControlContext;
use crate::control::protocol::{
    ErrorObject, STRATEGY_DEFAULT_TIMEOUT_MS, STRATEGY_MAX_TIMEOUT_MS,
    STRATEGY_RUN_LIST_DEFAULT_LIMIT, STRATEGY_RUN_LIST_MAX_LIMIT, STRATEGY_RUN_OUTCOMES,
    StrategyAddParams, StrategyListParams, StrategyRef, StrategyRefParams, StrategyRunListParams,
    StrategyRunView, StrategyUpdateParams, StrategyView, TradeStrategyAddParams,
    TradeStrategyListParams, TradeStrategyRemoveParams, TradeStrategyView, code,
};
use crate::domain::Market;
use crate::store::{
    StrategyAdded, StrategyRow, StrategyRunFilter, StrategyRunRow, StrategyUpdate, TradeStrategyRow,
};
use crate::strategies::command;

/// The longest strategy name, in bytes.
const MAX_NAME_LEN: usize = 200;
/// The longest command line, in bytes.
const MAX_COMMAND_LEN: usize = 4096;

fn strategy_view(row: &StrategyRow) -> StrategyView {
    StrategyView {
        id: row.id,
        name: row.name.clone(),
        slug: row.slug.clone(),
        command: row.command.clone(),
        timeout_ms: row.timeout_ms,
        created_at: row.created_at,
        updated_at: row.updated_at,
        deleted_at: row.deleted_at,
    }
}

fn trade_strategy_view(row: &TradeStrategyRow) -> TradeStrategyView {
    TradeStrategyView {
        id: row.id,
        strategy_id: row.strategy_id,
        strategy: row.strategy_slug.clone(),
        market: row.market,
        symbol: row.symbol.clone(),
        interval: row.interval,
        params: serde_json::from_str(&row.params).unwrap_or(Value::Null),
        created_at: row.created_at,
        updated_at: row.updated_at,
        deleted_at: row.deleted_at,
    }
}

/// `-32602` naming a strategy that is not live.
fn unknown_strategy(reference: &StrategyRef) -> ErrorObject {
    ErrorObject::new(
        code::INVALID_PARAMS,
        format!("strategy {reference} does not exist (or was removed)"),
    )
    .with_data(json!({ "strategy": reference.to_string() }))
}

fn check_name(name: &str) -> Result<(), ErrorObject> {
    if name.trim().is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ErrorObject::invalid_param(
            "name",
            format_args!("must be 1 to {MAX_NAME_LEN} bytes, not blank"),
        ));
    }
    Ok(())
}

/// The command checked: it splits, and its program exists and is executable.
fn check_command(text: &str) -> Result<(), ErrorObject> {
    if text.len() > MAX_COMMAND_LEN {
        return Err(ErrorObject::invalid_param(
            "command",
            format_args!("is longer than {MAX_COMMAND_LEN} bytes"),
        ));
    }
    command::parse(text)
        .map(|_| ())
        .map_err(|e| ErrorObject::invalid_param("command", format_args!("is refused: {e}")))
}

fn check_timeout(timeout_ms: i64) -> Result<(), ErrorObject> {
    if !(1..=STRATEGY_MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ErrorObject::invalid_param(
            "timeout_ms",
            format_args!("must be 1..={STRATEGY_MAX_TIMEOUT_MS} ms, not {timeout_ms}"),
        ));
    }
    Ok(())
}

/// The live strategy `reference` names, else `-32602`.
async fn live_strategy(
    ctx: &ControlContext,
    reference: &StrategyRef,
) -> Result<StrategyRow, ErrorObject> {
    let text = reference.to_string();
    db(&ctx.store, move |s| s.live_strategy(&text))
        .await?
        .ok_or_else(|| unknown_strategy(reference))
}

/// `strategy.add`.
pub(super) async fn strategy_add(
    ctx: Arc<ControlContext>,
    p: StrategyAddParams,
) -> Result<StrategyView, ErrorObject> {
    check_name(&p.name)?;
    let slug = match p.slug {
        Some(slug) if command::valid_slug(&slug) => slug,
        Some(slug) => {
            return Err(ErrorObject::invalid_param(
                "slug",
                format_args!(
                    "{slug:?} is not a slug: [a-z0-9-], 1 to {} characters, not all digits",
                    command::MAX_SLUG_LEN
                ),
            ));
        }
        None => command::slug_of(&p.name).ok_or_else(|| {
            ErrorObject::invalid_param("slug", "cannot be derived from the name: give one")
        })?,
    };
    check_command(&p.command)?;
    let timeout_ms = p.timeout_ms.unwrap_or(STRATEGY_DEFAULT_TIMEOUT_MS);
    check_timeout(timeout_ms)?;
    let now = ctx.clock.now_ms();
    let (name, command, slug2) = (p.name, p.command, slug.clone());
    match db(&ctx.store, move |s| {
        s.add_strategy(&name, &slug2, &command, timeout_ms, now)
    })
    .await?
    {
        StrategyAdded::Added(row) => Ok(strategy_view(&row)),
        StrategyAdded::SlugTaken => Err(ErrorObject::new(
            code::ALREADY_REGISTERED,
            format!("a live strategy already has the slug {slug}"),
        )
        .with_data(json!({ "slug": slug }))),
    }
}

/// `strategy.update`.
pub(super) async fn strategy_update(
    ctx: Arc<ControlContext>,
    p: StrategyUpdateParams,
) -> Result<StrategyView, ErrorObject> {
    if let Some(name) = &p.name {
        check_name(name)?;
    }
    if let Some(command) = &p.command {
        check_command(command)?;
    }
    if let Some(timeout_ms) = p.timeout_ms {
        check_timeout(timeout_ms)?;
    }
    let row = live_strategy(&ctx, &p.strategy).await?;
    let update = StrategyUpdate {
        name: p.name,
        command: p.command,
        timeout_ms: p.timeout_ms,
    };
    let now = ctx.clock.now_ms();
    db(&ctx.store, move |s| s.update_strategy(row.id, &update, now))
        .await?
        .map(|row| strategy_view(&row))
        .ok_or_else(|| unknown_strategy(&p.strategy))
}

/// `strategy.remove`: soft.
pub(super) async fn strategy_remove(
    ctx: Arc<ControlContext>,
    p: StrategyRefParams,
) -> Result<StrategyView, ErrorObject> {
    let row = live_strategy(&ctx, &p.strategy).await?;
    let now = ctx.clock.now_ms();
    db(&ctx.store, move |s| s.remove_strategy(row.id, now))
        .await?
        .map(|row| strategy_view(&row))
        .ok_or_else(|| unknown_strategy(&p.strategy))
}

/// `strategy.list`.
pub(super) async fn strategy_list(
    ctx: Arc<ControlContext>,
    p: StrategyListParams,
) -> Result<Vec<StrategyView>, ErrorObject> {
    let deleted = p.deleted.unwrap_or(false);
    let rows = db(&ctx.store, move |s| s.strategies(deleted)).await?;
    Ok(rows.iter().map(strategy_view).collect())
}

/// `trade_strategy.add`: the strategy live, the symbol registered on its market.
pub(super) async fn trade_strategy_add(
    ctx: Arc<ControlContext>,
    p: TradeStrategyAddParams,
) -> Result<TradeStrategyView, ErrorObject> {
    let market = p.market.unwrap_or(Market::Spot);
    let strategy = live_strategy(&ctx, &p.strategy).await?;
    let name = p.symbol.clone();
    if db(&ctx.store, move |s| s.symbol_by_name(market, &name))
        .await?
        .is_none()
    {
        return Err(ErrorObject::new(
            code::UNKNOWN_SYMBOL,
            format!(
                "symbol {} is not registered on the {market} market: symbol.add it first",
                p.symbol
            ),
        )
        .with_data(json!({ "symbol": p.symbol, "market": market.as_str() })));
    }
    let params = Value::Object(p.params.unwrap_or_default()).to_string();
    let (symbol, interval, now) = (p.symbol, p.interval, ctx.clock.now_ms());
    db(&ctx.store, move |s| {
        s.add_trade_strategy(strategy.id, market, &symbol, interval, &params, now)
    })
    .await?
    .map(|row| trade_strategy_view(&row))
    .ok_or_else(|| unknown_strategy(&p.strategy))
}

/// The id of `trade_strategy.remove`, else `-32602`.
fn trade_strategy_id(reference: &StrategyRef) -> Result<i64, ErrorObject> {
    match reference {
        StrategyRef::Id(id) => Ok(*id),
        StrategyRef::Slug(text) => text
            .parse()
            .map_err(|_| ErrorObject::invalid_param("id", format_args!("{text:?} is not an id"))),
    }
}

/// `trade_strategy.remove`: soft.
pub(super) async fn trade_strategy_remove(
    ctx: Arc<ControlContext>,
    p: TradeStrategyRemoveParams,
) -> Result<TradeStrategyView, ErrorObject> {
    let id = trade_strategy_id(&p.id)?;
    let now = ctx.clock.now_ms();
    db(&ctx.store, move |s| s.remove_trade_strategy(id, now))
        .await?
        .map(|row| trade_strategy_view(&row))
        .ok_or_else(|| {
            ErrorObject::new(
                code::INVALID_PARAMS,
                format!("trade strategy {id} does not exist (or was removed)"),
            )
            .with_data(json!({ "id": id }))
        })
}

/// `trade_strategy.list`.
pub(super) async fn trade_strategy_list(
    ctx: Arc<ControlContext>,
    p: TradeStrategyListParams,
) -> Result<Vec<TradeStrategyView>, ErrorObject> {
    let strategy_id = match &p.strategy {
        Some(reference) => Some(live_strategy(&ctx, reference).await?.id),
        None => None,
    };
    let deleted = p.deleted.unwrap_or(false);
    let rows = db(&ctx.store, move |s| {
        s.trade_strategies(strategy_id, deleted)
    })
    .await?;
    Ok(rows.iter().map(trade_strategy_view).collect())
}

/// `strategy_run.list`: the runs the filters select, newest first. An unknown strategy
/// (never registered, by id or slug) or outcome is `-32602` naming it.
pub(super) async fn strategy_run_list(
    ctx: Arc<ControlContext>,
    p: StrategyRunListParams,
) -> Result<Vec<StrategyRunView>, ErrorObject> {
    let limit = p.limit.unwrap_or(STRATEGY_RUN_LIST_DEFAULT_LIMIT);
    if !(1..=STRATEGY_RUN_LIST_MAX_LIMIT).contains(&limit) {
        return Err(ErrorObject::invalid_param(
            "limit",
            format_args!("must be 1..={STRATEGY_RUN_LIST_MAX_LIMIT}, not {limit}"),
        ));
    }
    if let Some(outcome) = &p.outcome
        && !STRATEGY_RUN_OUTCOMES.contains(&outcome.as_str())
    {
        return Err(ErrorObject::invalid_param(
            "outcome",
            format_args!(
                "{outcome:?} is not one of {}",
                STRATEGY_RUN_OUTCOMES.join(", ")
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
    let (strategy_id, strategy_slug) = match &p.strategy {
        None => (None, None),
        Some(StrategyRef::Id(id)) => (Some(*id), None),
        Some(StrategyRef::Slug(text)) => match text.parse::<i64>() {
            Ok(id) => (Some(id), None),
            Err(_) => (None, Some(text.clone())),
        },
    };
    if let Some(reference) = &p.strategy {
        let slug = strategy_slug.clone();
        let known = db(&ctx.store, move |s| {
            s.strategy_ever_existed(strategy_id, slug.as_deref())
        })
        .await?;
        if !known {
            return Err(ErrorObject::new(
                code::INVALID_PARAMS,
                format!("strategy {reference} was never registered"),
            )
            .with_data(json!({ "strategy": reference.to_string() })));
        }
    }
    let filter = StrategyRunFilter {
        strategy_id,
        strategy_slug,
        symbol: p.symbol,
        market: p.market,
        outcome: p.outcome,
        start,
        end,
        limit,
    };
    let rows = db(&ctx.store, move |s| s.strategy_runs(&filter)).await?;
    Ok(rows.into_iter().map(strategy_run_view).collect())
}

fn strategy_run_view(r: StrategyRunRow) -> StrategyRunView {
    StrategyRunView {
        id: r.id,
        trade_strategy_id: r.trade_strategy_id,
        strategy_id: r.strategy_id,
        strategy: r.strategy_slug,
        market: r.market,
        symbol: r.symbol,
        interval: r.interval,
        beat_time: r.beat_time,
        candle_open_time: r.candle_open_time,
        started_at: r.started_at,
        duration_ms: r.duration_ms,
        outcome: r.outcome,
        exit_code: r.exit_code,
        orders_placed: r.orders_placed,
        note: r.note,
    }
}
