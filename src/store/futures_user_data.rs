//! What the futures user-data events (USDⓈ-M, COIN-M) write, inside the batch transaction
//! of [`Store::apply_user_data`](super::Store::apply_user_data).

use rusqlite::Transaction;

use super::StoreError;
use super::user_data::{ApplyReport, keep_raw};
use crate::domain::{FuturesEvent, Market};

/// Applies one futures event (see [`super::Store::apply_user_data`]).
pub(super) fn apply(
    tx: &Transaction<'_>,
    market: Market,
    event: &FuturesEvent,
    received_at: i64,
    report: &mut ApplyReport,
) -> Result<(), StoreError> {
    match event.raw() {
        Some(raw) => keep_raw(
            tx,
            market,
            (event.event_type(), Some(event.event_time()), raw, None),
            received_at,
            report,
        ),
        None => Ok(()),
    }
}
