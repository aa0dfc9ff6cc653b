//! `ctl log` (the action log, `action.list`) and `ctl watchlist add|remove|list`, rendered
//! for a person.

use super::{Exit, Output, call, table, utc};
use crate::cli::WatchlistCommand;
use crate::control::Client;
use crate::control::ClientError;
use crate::control::protocol::{
    ActionList, ActionListParams, ActionView, MarketSymbolParams, WatchView, WatchlistAdd,
    WatchlistList, WatchlistListParams, WatchlistRemove,
};

/// `ctl watchlist …`.
pub(super) async fn watchlist(
    client: &mut Client,
    out: &mut Output,
    command: WatchlistCommand,
) -> Result<Exit, ClientError> {
    match command {
        WatchlistCommand::Add { symbol, market } => {
            let (raw, v) =
                call::<WatchlistAdd>(client, &MarketSymbolParams { symbol, market }).await?;
            out.print(&raw, || format!("watching {} ({})\n", v.symbol, v.market));
        }
        WatchlistCommand::Remove { symbol, market } => {
            let (raw, v) =
                call::<WatchlistRemove>(client, &MarketSymbolParams { symbol, market }).await?;
            out.print(&raw, || {
                format!("no longer watching {} ({})\n", v.symbol, v.market)
            });
        }
        WatchlistCommand::List { market } => {
            let (raw, rows) =
                call::<WatchlistList>(client, &WatchlistListParams { market }).await?;
            out.print(&raw, || render_watchlist(&rows));
        }
    }
    Ok(Exit::Success)
}

/// Watched symbols as a table: symbol, market, since when, and whether the beats also
/// follow it (klines and backfill).
pub fn render_watchlist(rows: &[WatchView]) -> String {
    if rows.is_empty() {
        return "no symbols watched\n".to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|w| {
            vec![
                w.symbol.to_string(),
                w.market.to_string(),
                utc(w.added_at),
                if w.following {
                    "yes"
                } else {
                    "no (tickers only)"
                }
                .to_string(),
            ]
        })
        .collect();
    table(
        &["SYMBOL", "MARKET", "WATCHED SINCE", "FOLLOWED"],
        &cells,
        &[false, false, false, false],
    )
}

/// `ctl log`.
pub(super) async fn log(
    client: &mut Client,
    out: &mut Output,
    params: ActionListParams,
) -> Result<Exit, ClientError> {
    let (raw, rows) = call::<ActionList>(client, &params).await?;
    out.print(&raw, || render_actions(&rows));
    Ok(Exit::Success)
}

/// Logged requests as a table, newest first: id, time, source (with the uid of a socket
/// peer), method, market and symbol, and the outcome (`ok`, or the error code and message).
pub fn render_actions(rows: &[ActionView]) -> String {
    if rows.is_empty() {
        return "no actions logged\n".to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|a| {
            let source = match a.uid {
                Some(uid) => format!("{} (uid {uid})", a.source),
                None => a.source.clone(),
            };
            let target = match (&a.market, &a.symbol) {
                (Some(m), Some(s)) => format!("{s} ({m})"),
                (None, Some(s)) => s.clone(),
                (Some(m), None) => m.clone(),
                (None, None) => "-".to_string(),
            };
            let outcome = if a.ok {
                "ok".to_string()
            } else {
                format!(
                    "{} {}",
                    a.error_code.map(|c| c.to_string()).unwrap_or_default(),
                    a.error_message.as_deref().unwrap_or("")
                )
            };
            vec![
                a.id.to_string(),
                utc(a.time),
                source,
                a.method.clone(),
                target,
                outcome,
            ]
        })
        .collect();
    table(
        &["ID", "TIME", "SOURCE", "METHOD", "SYMBOL", "OUTCOME"],
        &cells,
        &[true, false, false, false, false, false],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_log_shows_source_uid_method_and_outcome() {
        let rows = [ActionView {
            id: 7,
            time: 1_764_720_000_000,
            source: "ctl".into(),
            uid: Some(1000),
            method: "symbol.add".into(),
            market: Some("spot".into()),
            symbol: Some("NOPEUSDT".into()),
            params: json!({"symbol": "NOPEUSDT"}),
            ok: false,
            error_code: Some(-32001),
            error_message: Some("unknown symbol NOPEUSDT".into()),
        }];
        let text = render_actions(&rows);
        for needle in [
            "ctl (uid 1000)",
            "symbol.add",
            "NOPEUSDT (spot)",
            "-32001 unknown symbol",
        ] {
            assert!(text.contains(needle), "{needle} missing in:\n{text}");
        }
        assert_eq!(render_actions(&[]), "no actions logged\n");
    }
}
