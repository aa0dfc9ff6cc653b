//! Queries of the user-data stream's reconciliation ([`crate::user_stream::reconcile`]).

use rusqlite::params;

use super::{Store, StoreError};
use crate::domain::{Market, Symbol};

impl Store {
    /// The symbols of `market` whose fills reconciliation fetches: registered (active)
    /// symbols, symbols with stored orders and symbols with stored executions, sorted.
    pub fn reconcile_symbols(&self, market: Market) -> Result<Vec<Symbol>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT symbol FROM symbols WHERE market = ?1 AND active = 1
             UNION SELECT symbol FROM orders WHERE market = ?1
             UNION SELECT symbol FROM executions WHERE market = ?1
             ORDER BY 1",
        )?;
        let names = stmt
            .query_map(params![market.as_str()], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        names
            .into_iter()
            .map(|n| {
                n.parse::<Symbol>()
                    .map_err(|e| StoreError::Corrupt(format!("symbol {n:?}: {e}")))
            })
            .collect()
    }
}
