//! The strategy registry's methods (`strategy.*`, `trade_strategy.*`), with their
//! parameters and views. Part of [`super`] (the one definition of the control protocol);
//! like it, this file imports only the domain.
//!
//! Times are ms since the Unix epoch, UTC (the daemon's clock).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Method;
use crate::domain::{Interval, Market, Symbol};

/// `strategy.add`: registers a strategy, a program the daemon runs after each closed
/// candle of the series it is attached to. Its command must name an executable file.
pub struct StrategyAdd;
impl Method for StrategyAdd {
    const NAME: &'static str = "strategy.add";
    type Params = StrategyAddParams;
    type Result = StrategyView;
}

/// `strategy.update`: changes a live strategy's name, command or timeout.
pub struct StrategyUpdate;
impl Method for StrategyUpdate {
    const NAME: &'static str = "strategy.update";
    type Params = StrategyUpdateParams;
    type Result = StrategyView;
}

/// `strategy.remove`: soft-deletes a strategy (`deleted_at` set, rows kept, its slug free
/// again); its trade strategies stop running.
pub struct StrategyRemove;
impl Method for StrategyRemove {
    const NAME: &'static str = "strategy.remove";
    type Params = StrategyRefParams;
    type Result = StrategyView;
}

/// `strategy.list`: the strategies, oldest first.
pub struct StrategyList;
impl Method for StrategyList {
    const NAME: &'static str = "strategy.list";
    type Params = StrategyListParams;
    type Result = Vec<StrategyView>;
}

/// `trade_strategy.add`: attaches a live strategy to a registered symbol's interval.
pub struct TradeStrategyAdd;
impl Method for TradeStrategyAdd {
    const NAME: &'static str = "trade_strategy.add";
    type Params = TradeStrategyAddParams;
    type Result = TradeStrategyView;
}

/// `trade_strategy.remove`: soft-deletes an attachment; it runs no more.
pub struct TradeStrategyRemove;
impl Method for TradeStrategyRemove {
    const NAME: &'static str = "trade_strategy.remove";
    type Params = TradeStrategyRemoveParams;
    type Result = TradeStrategyView;
}

/// `trade_strategy.list`: the attachments, oldest first.
pub struct TradeStrategyList;
impl Method for TradeStrategyList {
    const NAME: &'static str = "trade_strategy.list";
    type Params = TradeStrategyListParams;
    type Result = Vec<TradeStrategyView>;
}

/// A strategy named by its id or its slug: a JSON integer, or a string (all digits: an id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum StrategyRef {
    Id(i64),
    Slug(String),
}

impl fmt::Display for StrategyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrategyRef::Id(id) => write!(f, "{id}"),
            StrategyRef::Slug(slug) => f.write_str(slug),
        }
    }
}

/// The default `timeout_ms` of a strategy.
pub const STRATEGY_DEFAULT_TIMEOUT_MS: i64 = 5000;
/// The longest `timeout_ms` accepted (10 minutes).
pub const STRATEGY_MAX_TIMEOUT_MS: i64 = 600_000;

/// `strategy.add` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyAddParams {
    /// A name for people, e.g. `"MA crossover"`.
    pub name: String,
    /// `[a-z0-9-]`, 1–32 characters, not all digits; absent: derived from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// The command line, e.g. `"python3 /opt/strategies/ma.py"`: split like a shell would,
    /// run without a shell; its program must exist (a path, or a name on `PATH`).
    pub command: String,
    /// 1..=[`STRATEGY_MAX_TIMEOUT_MS`]; absent: [`STRATEGY_DEFAULT_TIMEOUT_MS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<i64>,
}

/// `strategy.update` parameters: the strategy, then what changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyUpdateParams {
    pub strategy: StrategyRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<i64>,
}

/// Parameters naming one live strategy (`strategy.remove`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyRefParams {
    pub strategy: StrategyRef,
}

/// `strategy.list` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyListParams {
    /// `true`: removed strategies too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
}

/// `trade_strategy.add` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TradeStrategyAddParams {
    /// A live strategy.
    pub strategy: StrategyRef,
    /// A registered symbol of `market`.
    pub symbol: Symbol,
    /// `"spot"` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
    /// The candle interval whose closes run the strategy, e.g. `"1m"`.
    pub interval: Interval,
    /// Handed to the strategy as the context's `params`; absent: `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
}

/// `trade_strategy.remove` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TradeStrategyRemoveParams {
    /// The trade strategy's id (a JSON integer or a string of digits).
    pub id: StrategyRef,
}

/// `trade_strategy.list` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TradeStrategyListParams {
    /// Only this live strategy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<StrategyRef>,
    /// `true`: removed ones too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
}

/// A strategy (`strategy.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategyView {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub command: String,
    pub timeout_ms: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// When it was removed; `null` while live.
    pub deleted_at: Option<i64>,
}

/// A strategy attached to a series (`trade_strategy.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeStrategyView {
    pub id: i64,
    pub strategy_id: i64,
    /// The strategy's slug.
    pub strategy: String,
    pub market: Market,
    pub symbol: Symbol,
    pub interval: Interval,
    /// A JSON object.
    pub params: Value,
    pub created_at: i64,
    pub updated_at: i64,
    /// When it was removed; `null` while live.
    pub deleted_at: Option<i64>,
}

/// `strategy_run.list`: the strategies' runs (`strategy_runs`), newest first.
pub struct StrategyRunList;
impl Method for StrategyRunList {
    const NAME: &'static str = "strategy_run.list";
    type Params = StrategyRunListParams;
    type Result = Vec<StrategyRunView>;
}

/// The number of rows `strategy_run.list` returns when no `limit` is given.
pub const STRATEGY_RUN_LIST_DEFAULT_LIMIT: u32 = 100;
/// The most rows one `strategy_run.list` returns.
pub const STRATEGY_RUN_LIST_MAX_LIMIT: u32 = 1000;

/// How a run ended: the values of `strategy_runs.outcome`.
pub const STRATEGY_RUN_OUTCOMES: [&str; 6] = [
    "ok",
    "timeout",
    "exit_code",
    "invalid_output",
    "killed",
    "spawn_failed",
];

/// `strategy_run.list` parameters; every filter is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyRunListParams {
    /// Only this strategy's runs: an id, or a slug (removed strategies included: a slug
    /// selects every strategy that had it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<StrategyRef>,
    /// Only runs on this symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<Symbol>,
    /// Only runs on this market.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
    /// Only runs that ended so: one of [`STRATEGY_RUN_OUTCOMES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Only runs started at or after this time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// Only runs started at or before this time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
    /// 1..=[`STRATEGY_RUN_LIST_MAX_LIMIT`]; absent: [`STRATEGY_RUN_LIST_DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One run of a strategy (`strategy_run.list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategyRunView {
    pub id: i64,
    pub trade_strategy_id: i64,
    pub strategy_id: i64,
    /// The strategy's slug.
    pub strategy: String,
    pub market: Market,
    pub symbol: Symbol,
    pub interval: Interval,
    /// The beat after which it ran, ms.
    pub beat_time: i64,
    /// The open time of the closed candle it ran for, ms.
    pub candle_open_time: i64,
    /// When the run started (the daemon's clock), ms.
    pub started_at: i64,
    /// From start to its row, ms (context, process, orders).
    pub duration_ms: i64,
    /// One of [`STRATEGY_RUN_OUTCOMES`].
    pub outcome: String,
    /// The process's exit code, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Orders placed from its answer.
    pub orders_placed: i64,
    /// The strategy's note, or why the run failed, and how many orders were refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
