//! The handler of `action.list` (the action log, from the database). Registered in
//! [`super::Dispatch::new`]; the rows themselves are written by the dispatcher.

use std::sync::Arc;

use super::db;
use crate::control::ControlContext;
use crate::control::protocol::{
    ACTION_LIST_DEFAULT_LIMIT, ACTION_LIST_MAX_LIMIT, ActionListParams, ActionView, ErrorObject,
};
use crate::store::{ActionFilter, ActionRow};

/// `action.list`: the newest `limit` rows the filters select.
pub(super) async fn action_list(
    ctx: Arc<ControlContext>,
    p: ActionListParams,
) -> Result<Vec<ActionView>, ErrorObject> {
    let limit = p.limit.unwrap_or(ACTION_LIST_DEFAULT_LIMIT);
    if !(1..=ACTION_LIST_MAX_LIMIT).contains(&limit) {
        return Err(ErrorObject::invalid_param(
            "limit",
            format_args!("must be 1..={ACTION_LIST_MAX_LIMIT}, not {limit}"),
        ));
    }
    if let Some(source) = &p.source
        && source.is_empty()
    {
        return Err(ErrorObject::invalid_param(
            "source",
            "must be ctl, http, daemon or strategy:<slug>",
        ));
    }
    let filter = ActionFilter {
        symbol: p.symbol.map(|s| s.to_string()),
        source: p.source,
        before_id: p.before_id,
        limit,
    };
    let rows = db(&ctx.store, move |s| s.actions(&filter)).await?;
    Ok(rows.into_iter().map(action_view).collect())
}

fn action_view(r: ActionRow) -> ActionView {
    r.into()
}
