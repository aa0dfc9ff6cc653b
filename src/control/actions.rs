//! The action log's part of the control layer: who made a request ([`ActionSource`]),
//! which methods change state ([`STATE_CHANGING_METHODS`]) and how a request becomes an
//! `actions` row ([`action_row`], with its secrets removed by [`redact`]).
//!
//! [`Dispatch`](super::Dispatch) writes the row, once per state-changing request and
//! whatever its outcome, so no handler logs anything itself, with one exception: a
//! handler whose answer is written in one store transaction may carry the row into that
//! transaction ([`ActionLog`]); `order.place` and `order.cancel` do, so an order's answer
//! and its log entry commit together.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};

use super::protocol::ErrorObject;
use crate::store::ActionRow;

/// Who made a request: the `source` (and `uid`) of its `actions` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionSource {
    /// The control socket; `uid` is the peer's (SO_PEERCRED) when the kernel told it.
    Ctl { uid: Option<u32> },
    /// The HTTP API.
    Http,
    /// A strategy's orders and cancels, by its slug: source `strategy:<slug>`.
    Strategy(String),
    /// The daemon's own requests.
    Daemon,
}

impl ActionSource {
    /// The `source` column: `ctl`, `http`, `strategy:<slug>` or `daemon`.
    pub fn name(&self) -> String {
        match self {
            ActionSource::Ctl { .. } => "ctl".into(),
            ActionSource::Http => "http".into(),
            ActionSource::Strategy(slug) => format!("strategy:{slug}"),
            ActionSource::Daemon => "daemon".into(),
        }
    }

    /// The `uid` column.
    pub fn uid(&self) -> Option<u32> {
        match self {
            ActionSource::Ctl { uid } => *uid,
            _ => None,
        }
    }
}

/// The `actions` row of one logged request as it reads if the request succeeds, until it
/// is written. Shared by the dispatcher and the request's handler: a handler may take the
/// row ([`ActionLog::take`]) into the transaction that writes its answer, and gives it
/// back ([`ActionLog::put_back`]) when that transaction did not write it; after the
/// handler, the dispatcher writes the row (with the request's outcome) unless it was taken
/// and not given back. Empty for a request that is not logged.
#[derive(Debug, Clone, Default)]
pub struct ActionLog(Arc<Mutex<Option<ActionRow>>>);

impl ActionLog {
    /// The log of a request whose success would be written as `row`.
    pub fn new(row: ActionRow) -> ActionLog {
        ActionLog(Arc::new(Mutex::new(Some(row))))
    }

    /// The row, if it is still to be written; the log is empty afterwards.
    pub fn take(&self) -> Option<ActionRow> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// Gives back a row taken and not written (`None`: it was written).
    pub fn put_back(&self, row: Option<ActionRow>) {
        if let Some(row) = row {
            *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(row);
        }
    }
}

/// The methods that change state: each request of one of them leaves one `actions` row.
/// Names of methods this build does not serve (yet) are harmless here: an unknown method
/// is answered `-32601` before anything is logged.
pub const STATE_CHANGING_METHODS: &[&str] = &[
    "symbol.add",
    "symbol.remove",
    "backfill.start",
    "sync.now",
    "order.place",
    "order.cancel",
    "order.cancel_all",
    "watchlist.add",
    "watchlist.remove",
    "leverage.set",
    "margin_type.set",
    "strategy.add",
    "strategy.update",
    "strategy.remove",
    "trade_strategy.add",
    "trade_strategy.remove",
];

/// Whether `method` changes state (and so is logged).
pub fn changes_state(method: &str) -> bool {
    STATE_CHANGING_METHODS.contains(&method)
}

/// What replaces a secret's value in a logged row.
pub const REDACTED: &str = "[redacted]";

/// Parts of a parameter name (lower case) that mark its value as a secret.
const SECRET_NAME_PARTS: [&str; 8] = [
    "secret",
    "token",
    "password",
    "passphrase",
    "signature",
    "api_key",
    "apikey",
    "private",
];

/// `params` with the value of every object key that names a secret (at any depth)
/// replaced by [`REDACTED`].
pub fn redact(params: &Value) -> Value {
    match params {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    let value = if SECRET_NAME_PARTS.iter().any(|p| lower.contains(p)) {
                        Value::String(REDACTED.into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), value)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// The `actions` row of one request: `params` as received (redacted here), the outcome.
/// `market` and `symbol` are read from the params (a symbol without a market is on
/// `spot`, the protocol's default).
pub fn action_row(
    time: i64,
    source: &ActionSource,
    method: &str,
    params: Option<&Value>,
    outcome: Result<(), &ErrorObject>,
) -> ActionRow {
    let params = params
        .map(redact)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let text = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_string);
    let symbol = text("symbol").map(|s| s.to_ascii_uppercase());
    let market = text("market").or_else(|| symbol.as_ref().map(|_| "spot".to_string()));
    ActionRow {
        id: 0,
        time,
        source: source.name(),
        uid: source.uid(),
        method: method.to_string(),
        market,
        symbol,
        params: params.to_string(),
        ok: outcome.is_ok(),
        error_code: outcome.err().map(|e| e.code),
        error_message: outcome.err().map(|e| e.message.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_removed_at_any_depth() {
        let params = json!({
            "symbol": "BTCUSDT",
            "api_secret": "s3cr3t",
            "nested": [{"Token": "t0k3n", "qty": "1"}],
        });
        let out = redact(&params);
        assert_eq!(
            out,
            json!({
                "symbol": "BTCUSDT",
                "api_secret": REDACTED,
                "nested": [{"Token": REDACTED, "qty": "1"}],
            })
        );
    }

    #[test]
    fn a_row_names_source_market_symbol_and_outcome() {
        let err = ErrorObject::new(-32001, "unknown symbol FOO");
        let row = action_row(
            5,
            &ActionSource::Ctl { uid: Some(1000) },
            "symbol.add",
            Some(&json!({"symbol": "foo"})),
            Err(&err),
        );
        assert_eq!(
            (row.source.as_str(), row.uid, row.market.as_deref()),
            ("ctl", Some(1000), Some("spot"))
        );
        assert_eq!(row.symbol.as_deref(), Some("FOO"));
        assert!(!row.ok);
        assert_eq!(row.error_code, Some(-32001));
        let ok = action_row(
            6,
            &ActionSource::Strategy("ma".into()),
            "order.place",
            None,
            Ok(()),
        );
        assert_eq!(
            (ok.source.as_str(), ok.params.as_str()),
            ("strategy:ma", "{}")
        );
        assert!(ok.ok && ok.error_code.is_none() && ok.market.is_none());
    }
}
