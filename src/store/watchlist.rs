//! Watchlists (`watchlist`, schema version 9): symbols whose 24 h ticker every beat stores
//! without klines or backfill.

use rusqlite::params;

use super::{Store, StoreError, SymbolRow, symbol_by_name};
use crate::domain::{Market, Symbol, SymbolInfo};

impl Store {
    /// Watches `info`'s symbol on `market`: registers it inactive when it is not registered
    /// (an existing row keeps its state), then adds it to the watchlist. Returns its row,
    /// when it was added to the watchlist (ms), and whether it was watched already.
    ///
    /// # Errors
    /// The database's.
    pub fn watch_symbol(
        &self,
        market: Market,
        info: &SymbolInfo,
        now_ms: i64,
    ) -> Result<(SymbolRow, i64, bool), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO symbols (market, symbol, base_asset, quote_asset, status, active,
                                      added_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6)
                 ON CONFLICT (market, symbol) DO NOTHING",
                params![
                    market.as_str(),
                    info.symbol.as_str(),
                    info.base_asset,
                    info.quote_asset,
                    info.status.as_str(),
                    now_ms
                ],
            )?;
            let row = symbol_by_name(tx, market, &info.symbol)?
                .ok_or_else(|| StoreError::Corrupt(format!("symbol {} vanished", info.symbol)))?;
            let inserted = tx.execute(
                "INSERT INTO watchlist (symbol_id, added_at) VALUES (?1, ?2)
                 ON CONFLICT (symbol_id) DO NOTHING",
                params![row.id, now_ms],
            )?;
            let added_at: i64 = tx.query_row(
                "SELECT added_at FROM watchlist WHERE symbol_id = ?1",
                [row.id],
                |r| r.get(0),
            )?;
            Ok((row, added_at, inserted == 0))
        })
    }

    /// Removes a symbol from the watchlist; returns its row and when it had been added, or
    /// `None` when it was not watched. Its `symbols` row and data stay.
    ///
    /// # Errors
    /// The database's.
    pub fn unwatch_symbol(
        &self,
        market: Market,
        symbol: &Symbol,
    ) -> Result<Option<(SymbolRow, i64)>, StoreError> {
        self.write(|tx| {
            let Some(row) = symbol_by_name(tx, market, symbol)? else {
                return Ok(None);
            };
            let added_at: Option<i64> = rusqlite::OptionalExtension::optional(tx.query_row(
                "DELETE FROM watchlist WHERE symbol_id = ?1 RETURNING added_at",
                [row.id],
                |r| r.get(0),
            ))?;
            Ok(added_at.map(|at| (row, at)))
        })
    }

    /// The watched symbols of `market` (every market when `None`), by name, each with
    /// when it was added (ms).
    ///
    /// # Errors
    /// The database's.
    pub fn watchlist(&self, market: Option<Market>) -> Result<Vec<(SymbolRow, i64)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT s.market, s.symbol, w.added_at FROM watchlist w
             JOIN symbols s ON s.id = w.symbol_id
             WHERE ?1 IS NULL OR s.market = ?1
             ORDER BY s.market, s.symbol",
        )?;
        let names = stmt
            .query_map([market.map(|m| m.as_str())], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
            })?
            .collect::<Result<Vec<(String, String, i64)>, _>>()?;
        let mut out = Vec::with_capacity(names.len());
        for (market, symbol, added_at) in names {
            let market: Market = market
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("symbols.market: {market:?}")))?;
            let symbol: Symbol = symbol
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("symbols.symbol: {e}")))?;
            if let Some(row) = symbol_by_name(&conn, market, &symbol)? {
                out.push((row, added_at));
            }
        }
        Ok(out)
    }

    /// The watched symbols of `market` that the beats do not follow already (inactive) and
    /// that trade (a delisted or halted one would fail the beat's whole ticker request):
    /// their `symbols.id` and name, for that request.
    ///
    /// # Errors
    /// The database's.
    pub fn watched_ticker_only(&self, market: Market) -> Result<Vec<(i64, Symbol)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT s.id, s.symbol FROM watchlist w JOIN symbols s ON s.id = w.symbol_id
             WHERE s.market = ?1 AND s.active = 0 AND s.status = 'TRADING'
             ORDER BY s.symbol",
        )?;
        let rows = stmt
            .query_map([market.as_str()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, name)| {
                name.parse()
                    .map(|s| (id, s))
                    .map_err(|e| StoreError::Corrupt(format!("symbols.symbol: {e}")))
            })
            .collect()
    }
}
