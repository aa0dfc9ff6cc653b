//! The action log (`actions`, schema version 9): one row per state-changing request and
//! its outcome, appended by the control dispatcher and read by `action.list`.

use rusqlite::{Connection, params};

use super::{Store, StoreError};

/// One `actions` row. Times are ms since the epoch, UTC; `params` is JSON text with its
/// secrets already removed by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRow {
    /// The row's id (0 before it is inserted).
    pub id: i64,
    /// When the request arrived, ms.
    pub time: i64,
    /// `ctl`, `http`, `daemon` or `strategy:<slug>`.
    pub source: String,
    /// The socket peer's uid for `ctl`, when the kernel told it.
    pub uid: Option<u32>,
    /// The method's name, e.g. `order.place`.
    pub method: String,
    pub market: Option<String>,
    pub symbol: Option<String>,
    /// The params as JSON text, secrets removed.
    pub params: String,
    /// Whether the request succeeded.
    pub ok: bool,
    /// The control error code of a refusal.
    pub error_code: Option<i64>,
    /// The refusal's message.
    pub error_message: Option<String>,
}

/// Which rows [`Store::actions`] returns: newest first, ids below `before_id` when given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionFilter {
    pub symbol: Option<String>,
    pub source: Option<String>,
    pub before_id: Option<i64>,
    pub limit: u32,
}

impl Store {
    /// Appends one action row in its own transaction; returns its id. Published as
    /// [`super::StoreEvent::Action`] after the commit.
    ///
    /// # Errors
    /// The database's.
    pub fn insert_action(&self, row: &ActionRow) -> Result<i64, StoreError> {
        let id = self.write(|tx| insert_action_tx(tx, row))?;
        self.published_action(row, id);
        Ok(id)
    }

    /// Publishes `row`, inserted as `id`, as [`super::StoreEvent::Action`] (after its
    /// commit).
    pub(super) fn published_action(&self, row: &ActionRow, id: i64) {
        if self.events.has_subscribers() {
            self.events
                .publish(super::StoreEvent::Action(ActionRow { id, ..row.clone() }));
        }
    }

    /// The action rows `filter` selects, newest (highest id) first.
    ///
    /// # Errors
    /// The database's.
    pub fn actions(&self, filter: &ActionFilter) -> Result<Vec<ActionRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, time, source, uid, method, market, symbol, params, ok, error_code,
                    error_message
             FROM actions
             WHERE (?1 IS NULL OR symbol = ?1)
               AND (?2 IS NULL OR source = ?2)
               AND (?3 IS NULL OR id < ?3)
             ORDER BY id DESC
             LIMIT ?4",
        )?;
        let rows = stmt
            .query_map(
                params![filter.symbol, filter.source, filter.before_id, filter.limit],
                |r| {
                    Ok(ActionRow {
                        id: r.get(0)?,
                        time: r.get(1)?,
                        source: r.get(2)?,
                        uid: r.get(3)?,
                        method: r.get(4)?,
                        market: r.get(5)?,
                        symbol: r.get(6)?,
                        params: r.get(7)?,
                        ok: r.get(8)?,
                        error_code: r.get(9)?,
                        error_message: r.get(10)?,
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// Appends `row` in the caller's transaction; returns its id.
pub(super) fn insert_action_tx(conn: &Connection, row: &ActionRow) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO actions (time, source, uid, method, market, symbol, params, ok,
                              error_code, error_message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        row.time,
        row.source,
        row.uid,
        row.method,
        row.market,
        row.symbol,
        row.params,
        row.ok,
        row.error_code,
        row.error_message,
    ])?;
    Ok(conn.last_insert_rowid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(source: &str, symbol: Option<&str>, ok: bool) -> ActionRow {
        ActionRow {
            id: 0,
            time: 1_700_000_000_000,
            source: source.into(),
            uid: None,
            method: "symbol.add".into(),
            market: symbol.map(|_| "spot".into()),
            symbol: symbol.map(str::to_string),
            params: "{}".into(),
            ok,
            error_code: (!ok).then_some(-32001),
            error_message: (!ok).then(|| "unknown symbol".into()),
        }
    }

    #[test]
    fn actions_are_listed_newest_first_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let a = store
            .insert_action(&row("ctl", Some("BTCUSDT"), true))
            .unwrap();
        let b = store
            .insert_action(&row("http", Some("ETHUSDT"), false))
            .unwrap();
        let c = store.insert_action(&row("ctl", None, true)).unwrap();
        let all = store
            .actions(&ActionFilter {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [c, b, a]);
        assert_eq!(all[1].error_code, Some(-32001));
        let ctl = store
            .actions(&ActionFilter {
                source: Some("ctl".into()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(ctl.iter().map(|r| r.id).collect::<Vec<_>>(), [c, a]);
        let eth = store
            .actions(&ActionFilter {
                symbol: Some("ETHUSDT".into()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(eth.iter().map(|r| r.id).collect::<Vec<_>>(), [b]);
        let page = store
            .actions(&ActionFilter {
                before_id: Some(c),
                limit: 1,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [b]);
    }
}
