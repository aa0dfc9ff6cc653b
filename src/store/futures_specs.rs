//! The SQL of `contract_specs` (schema version 13): each futures symbol's contract type,
//! size and dates as its market's `exchangeInfo` last gave them; and where each futures
//! history series (funding events, open interest at a period) stands, for `status`.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::{ContractSpec, Market, Symbol};

/// Where one futures history series of a symbol stands in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySeries {
    pub symbol_id: i64,
    pub symbol: Symbol,
    /// Rows stored.
    pub rows: u64,
    /// Oldest and newest stored time, ms (`funding_time`, or the reading's `time`).
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
    /// The range recorded as not kept by the exchange (open interest only): first and last
    /// time missing, ms, over all its recorded gaps.
    pub gap: Option<(i64, i64)>,
}

/// Reads a symbol name column; a name that is not a valid [`Symbol`] is a conversion error.
fn symbol_col(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Symbol> {
    let name: String = r.get(i)?;
    name.parse::<Symbol>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

fn spec_of(symbol: Symbol, r: &rusqlite::Row<'_>) -> rusqlite::Result<ContractSpec> {
    let size: Option<String> = r.get(1)?;
    let contract_size = match size {
        None => None,
        Some(s) => Some(s.parse().map_err(|e: rust_decimal::Error| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?),
    };
    Ok(ContractSpec {
        symbol,
        contract_type: r.get(0)?,
        contract_size,
        delivery_date: r.get(2)?,
        onboard_date: r.get(3)?,
    })
}

impl Store {
    /// Stores the specs of the registered symbols of `market` among `specs` (others are
    /// left out), replacing what was stored, in one transaction; returns the rows written.
    pub fn upsert_contract_specs(
        &self,
        market: Market,
        specs: &[ContractSpec],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO contract_specs (symbol_id, contract_type, contract_size,
                     delivery_date, onboard_date, updated_at)
                 SELECT id, ?3, ?4, ?5, ?6, ?7 FROM symbols WHERE market = ?1 AND symbol = ?2
                 ON CONFLICT (symbol_id) DO UPDATE SET contract_type = excluded.contract_type,
                     contract_size = excluded.contract_size,
                     delivery_date = excluded.delivery_date,
                     onboard_date = excluded.onboard_date, updated_at = excluded.updated_at",
            )?;
            let mut n = 0;
            for s in specs {
                n += stmt.execute(params![
                    market.as_str(),
                    s.symbol.as_str(),
                    s.contract_type,
                    s.contract_size.map(|d| d.to_string()),
                    s.delivery_date,
                    s.onboard_date,
                    now_ms
                ])?;
            }
            Ok(n)
        })
    }

    /// The stored contract spec of a symbol, if any.
    pub fn contract_spec(&self, symbol_id: i64) -> Result<Option<ContractSpec>, StoreError> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT c.contract_type, c.contract_size, c.delivery_date, c.onboard_date,
                        s.symbol
                 FROM contract_specs c JOIN symbols s ON s.id = c.symbol_id
                 WHERE c.symbol_id = ?1",
                [symbol_id],
                |r| spec_of(symbol_col(r, 4)?, r),
            )
            .optional()?)
    }

    /// The stored contract specs of `market`'s symbols, by symbol id.
    pub fn contract_specs(&self, market: Market) -> Result<HashMap<i64, ContractSpec>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT c.contract_type, c.contract_size, c.delivery_date, c.onboard_date,
                    s.symbol, s.id
             FROM contract_specs c JOIN symbols s ON s.id = c.symbol_id
             WHERE s.market = ?1",
        )?;
        let rows = stmt.query_map([market.as_str()], |r| {
            Ok((r.get::<_, i64>(5)?, spec_of(symbol_col(r, 4)?, r)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Where the funding-event history (`period` `None`) or the open-interest history at
    /// `period` stands, for each active symbol of `market`, by symbol name.
    pub fn history_series(
        &self,
        market: Market,
        period: Option<&str>,
    ) -> Result<Vec<HistorySeries>, StoreError> {
        let conn = self.conn()?;
        let sql = match period {
            None => {
                "SELECT s.id, s.symbol, COUNT(f.funding_time), MIN(f.funding_time),
                        MAX(f.funding_time), NULL, NULL
                 FROM symbols s LEFT JOIN funding_rates f ON f.symbol_id = s.id
                 WHERE s.market = ?1 AND s.active = 1 AND ?2 IS NULL
                 GROUP BY s.id ORDER BY s.symbol"
            }
            Some(_) => {
                "SELECT s.id, s.symbol,
                        (SELECT COUNT(*) FROM open_interest o
                         WHERE o.symbol_id = s.id AND o.period = ?2),
                        (SELECT MIN(time) FROM open_interest o
                         WHERE o.symbol_id = s.id AND o.period = ?2),
                        (SELECT MAX(time) FROM open_interest o
                         WHERE o.symbol_id = s.id AND o.period = ?2),
                        (SELECT MIN(start_time) FROM open_interest_gaps g
                         WHERE g.symbol_id = s.id AND g.period = ?2),
                        (SELECT MAX(end_time) FROM open_interest_gaps g
                         WHERE g.symbol_id = s.id AND g.period = ?2)
                 FROM symbols s WHERE s.market = ?1 AND s.active = 1 ORDER BY s.symbol"
            }
        };
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![market.as_str(), period], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                symbol_col(r, 1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (symbol_id, symbol, rows, oldest, newest, gap_start, gap_end) = row?;
            out.push(HistorySeries {
                symbol_id,
                symbol,
                rows: u64::try_from(rows).unwrap_or(0),
                oldest,
                newest,
                gap: gap_start.zip(gap_end),
            });
        }
        Ok(out)
    }
}
