//! `GET /health`: 200 while the daemon does its job, 503 with the reason otherwise.
//!
//! Healthy means: the newest scheduled (or start-up) beat that reached the exchange is at
//! most two beat periods old (counted from the daemon's start before there is one), and
//! the database accepts a write (a `BEGIN IMMEDIATE` transaction on the file opened).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::domain::Market;

/// `GET /health`: `{"status": "ok" | "unhealthy", "reason"?, "now", "last_beat", "max_age_ms",
/// "database", "markets": {"spot": {"following", "weight_used", "weight_limit"}}}`;
/// times in ms since the epoch (UTC).
pub async fn health(State(state): State<Arc<AppState>>) -> Response {
    let ctx = &state.ctx;
    let now = ctx.clock.now_ms();
    let max_age_ms = state.period_ms.saturating_mul(2);
    let checked = ctx
        .store
        .run(|s| {
            let text = |e: crate::store::StoreError| e.to_string();
            Ok((
                s.last_good_beat().map_err(text),
                s.probe_write().map_err(text),
                s.symbol_counts(Market::Spot).map_err(text),
            ))
        })
        .await;
    let (beat, write, counts) = match checked {
        Ok(parts) => parts,
        Err(e) => (Err(e.to_string()), Err(e.to_string()), Err(e.to_string())),
    };
    let mut reasons = Vec::new();
    let last_beat = match beat {
        Ok(Some(row)) => {
            // Before this daemon's first beat, its start stands in for it.
            let since = row.beat_time.max(ctx.started_at_ms);
            if now - since > max_age_ms {
                reasons.push(format!(
                    "the last beat that reached the exchange was at {} ms, {} s ago (more than two periods)",
                    row.beat_time,
                    (now - row.beat_time) / 1000
                ));
            }
            json!({
                "beat_time": row.beat_time,
                "finished_at": row.finished_at,
                "trigger": row.trigger.as_str(),
                "symbols_ok": row.symbols_ok,
                "symbols_failed": row.symbols_failed,
            })
        }
        Ok(None) => {
            if now - ctx.started_at_ms > max_age_ms {
                reasons.push("no beat has reached the exchange yet".to_string());
            }
            serde_json::Value::Null
        }
        Err(e) => {
            reasons.push(format!("the beats cannot be read: {e}"));
            serde_json::Value::Null
        }
    };
    let database = match write {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            reasons.push(format!("the database does not accept a write: {e}"));
            format!("error: {e}")
        }
    };
    let following = counts.map(|c| c.following).unwrap_or(0);
    let weight = ctx.exchange.weight();
    let healthy = reasons.is_empty();
    let mut body = json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "now": now,
        "last_beat": last_beat,
        "max_age_ms": max_age_ms,
        "database": database,
        "markets": {
            Market::Spot.as_str(): {
                "following": following,
                "weight_used": weight.used,
                "weight_limit": weight.limit,
            }
        },
    });
    if !healthy {
        body["reason"] = json!(reasons.join("; "));
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}
