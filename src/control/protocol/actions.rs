//! `action.list`: the action log, with its parameters and view. Part of [`super`] (the one
//! definition of the control protocol); like it, this file imports only the domain.
//!
//! Times are ms since the Unix epoch, UTC.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Method;
use crate::domain::Symbol;

/// `action.list`: the logged state-changing requests (every source), newest first.
pub struct ActionList;
impl Method for ActionList {
    const NAME: &'static str = "action.list";
    type Params = ActionListParams;
    type Result = Vec<ActionView>;
}

/// The number of rows `action.list` returns when no `limit` is given.
pub const ACTION_LIST_DEFAULT_LIMIT: u32 = 100;
/// The most rows one `action.list` returns.
pub const ACTION_LIST_MAX_LIMIT: u32 = 1000;

/// `action.list` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionListParams {
    /// Only requests naming this symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<Symbol>,
    /// Only this source: `ctl`, `http`, `daemon` or `strategy:<slug>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// 1..=[`ACTION_LIST_MAX_LIMIT`]; absent: [`ACTION_LIST_DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Only rows with a smaller id (the next page: the last id of the previous one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_id: Option<i64>,
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionView {
    pub id: i64,
    /// When the request arrived, ms.
    pub time: i64,
    /// `ctl`, `http`, `daemon` or `strategy:<slug>`.
    pub source: String,
    /// The socket peer's uid (source `ctl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// The method, e.g. `order.place`.
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// The request's params, secrets replaced by `"[redacted]"`.
    pub params: Value,
    /// Whether it succeeded.
    pub ok: bool,
    /// The error code of a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// The refusal's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}
