//! The `positions` table (schema version 12): one futures position per (market, symbol,
//! position side), as the exchange last reported it (`positionRisk` or `ACCOUNT_UPDATE`).
//!
//! A report replaces a row only when it is not older than the stored one (its `updated_at`,
//! the exchange's time, is newer or equal); a report without leverage or margin type keeps
//! the stored values.

use std::str::FromStr;

use rusqlite::{Connection, params};
use rust_decimal::Decimal;

use super::{Store, StoreError};
use crate::domain::{MarginType, Market, Position, PositionSide, Symbol};

const COLUMNS: &str = "market, symbol, position_side, quantity, entry_price, break_even_price,
     unrealized_pnl, leverage, margin_type, isolated_wallet, updated_at";

impl Store {
    /// Writes each reported position unless its stored row is newer
    /// ([`upsert_positions_tx`]), in one transaction. Returns the rows written.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a spot position (positions are futures only; nothing
    /// is written then); the database's errors.
    pub fn upsert_positions(&self, positions: &[Position]) -> Result<usize, StoreError> {
        self.write(|tx| upsert_positions_tx(tx, positions))
    }

    /// Stored positions, of `market` and `symbol` when given, by market, symbol and side.
    /// `open_only` leaves out flat ones (quantity zero).
    ///
    /// # Errors
    /// The database's errors; `Corrupt` for a row that does not parse.
    pub fn positions(
        &self,
        market: Option<Market>,
        symbol: Option<&Symbol>,
        open_only: bool,
    ) -> Result<Vec<Position>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM positions
             WHERE (?1 IS NULL OR market = ?1) AND (?2 IS NULL OR symbol = ?2)
             ORDER BY market, symbol, position_side"
        ))?;
        let rows = stmt
            .query_map(
                params![market.map(Market::as_str), symbol.map(Symbol::as_str)],
                position_row,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let p = row?;
            if !open_only || !p.quantity.is_zero() {
                out.push(p);
            }
        }
        Ok(out)
    }
}

/// [`Store::upsert_positions`] inside a transaction, for a caller that writes more with it
/// (an `ACCOUNT_UPDATE` event with its balances). Returns the rows written.
///
/// # Errors
/// `Corrupt` for a spot position; the database's errors.
pub(crate) fn upsert_positions_tx(
    tx: &Connection,
    positions: &[Position],
) -> Result<usize, StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO positions (market, symbol, position_side, quantity, entry_price,
             break_even_price, unrealized_pnl, leverage, margin_type, isolated_wallet,
             updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (market, symbol, position_side) DO UPDATE SET
             quantity = excluded.quantity,
             entry_price = excluded.entry_price,
             break_even_price = COALESCE(excluded.break_even_price, break_even_price),
             unrealized_pnl = excluded.unrealized_pnl,
             leverage = COALESCE(excluded.leverage, leverage),
             margin_type = COALESCE(excluded.margin_type, margin_type),
             isolated_wallet = COALESCE(excluded.isolated_wallet, isolated_wallet),
             updated_at = excluded.updated_at
         WHERE excluded.updated_at >= updated_at",
    )?;
    let mut written = 0;
    for p in positions {
        if p.market == Market::Spot {
            return Err(StoreError::Corrupt(format!(
                "position of {} on spot: positions are futures only",
                p.symbol
            )));
        }
        written += stmt.execute(params![
            p.market.as_str(),
            p.symbol.as_str(),
            p.position_side.as_str(),
            p.quantity.to_string(),
            p.entry_price.to_string(),
            p.break_even_price.map(|d| d.to_string()),
            p.unrealized_pnl.to_string(),
            p.leverage,
            p.margin_type.map(MarginType::as_str),
            p.isolated_wallet.map(|d| d.to_string()),
            p.updated_at,
        ])?;
    }
    Ok(written)
}

/// Sets the leverage and/or margin type of a stored position row (after `leverage.set` /
/// `margin_type.set` succeeded), creating a flat `BOTH` row when none exists.
pub(crate) fn set_position_settings_tx(
    tx: &Connection,
    market: Market,
    symbol: &Symbol,
    leverage: Option<u32>,
    margin_type: Option<MarginType>,
    time_ms: i64,
) -> Result<(), StoreError> {
    let updated = tx
        .prepare_cached(
            "UPDATE positions SET leverage = COALESCE(?3, leverage),
                 margin_type = COALESCE(?4, margin_type)
             WHERE market = ?1 AND symbol = ?2",
        )?
        .execute(params![
            market.as_str(),
            symbol.as_str(),
            leverage,
            margin_type.map(MarginType::as_str)
        ])?;
    if updated == 0 {
        tx.prepare_cached(
            "INSERT INTO positions (market, symbol, position_side, quantity, entry_price,
                 unrealized_pnl, leverage, margin_type, updated_at)
             VALUES (?1, ?2, 'BOTH', '0', '0', '0', ?3, ?4, ?5)",
        )?
        .execute(params![
            market.as_str(),
            symbol.as_str(),
            leverage,
            margin_type.map(MarginType::as_str),
            time_ms
        ])?;
    }
    Ok(())
}

impl Store {
    /// Records a leverage or margin type the exchange accepted for `symbol` on every
    /// stored position side (a flat `BOTH` row is created when none is stored).
    ///
    /// # Errors
    /// The database's errors.
    pub fn set_position_settings(
        &self,
        market: Market,
        symbol: &Symbol,
        leverage: Option<u32>,
        margin_type: Option<MarginType>,
        time_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            set_position_settings_tx(tx, market, symbol, leverage, margin_type, time_ms)
        })
    }
}

/// The stored positions of `market`, by symbol and side (inside a transaction: what the
/// event bus compares before and after a batch of user-data events).
pub(super) fn positions_of_market_tx(
    conn: &Connection,
    market: Market,
) -> Result<Vec<Position>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM positions WHERE market = ?1 ORDER BY symbol, position_side"
    ))?;
    let rows = stmt
        .query_map([market.as_str()], position_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().collect()
}

fn position_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Position, StoreError>> {
    let text = |i: usize| r.get::<_, String>(i);
    let opt = |i: usize| r.get::<_, Option<String>>(i);
    let (market, symbol, side, qty, entry, bep, upnl) = (
        text(0)?,
        text(1)?,
        text(2)?,
        text(3)?,
        text(4)?,
        opt(5)?,
        text(6)?,
    );
    let (leverage, margin, wallet, updated_at): (Option<u32>, _, _, i64) =
        (r.get(7)?, opt(8)?, opt(9)?, r.get(10)?);
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("positions.{what}: {e}"))
    };
    let dec = |what: &str, s: &str| Decimal::from_str(s).map_err(|e| corrupt(what, &e));
    Ok((|| {
        Ok(Position {
            market: market.parse().map_err(|e| corrupt("market", &e))?,
            symbol: symbol.parse().map_err(|e| corrupt("symbol", &e))?,
            position_side: side
                .parse::<PositionSide>()
                .map_err(|e| corrupt("position_side", &e))?,
            quantity: dec("quantity", &qty)?,
            entry_price: dec("entry_price", &entry)?,
            break_even_price: bep.map(|s| dec("break_even_price", &s)).transpose()?,
            unrealized_pnl: dec("unrealized_pnl", &upnl)?,
            leverage,
            margin_type: margin
                .map(|s| s.parse::<MarginType>())
                .transpose()
                .map_err(|e| corrupt("margin_type", &e))?,
            isolated_wallet: wallet.map(|s| dec("isolated_wallet", &s)).transpose()?,
            updated_at,
        })
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn position(qty: &str, time: i64, leverage: Option<u32>) -> Position {
        Position {
            market: Market::UsdM,
            symbol: "BTCUSDT".parse().unwrap(),
            position_side: PositionSide::Both,
            quantity: d(qty),
            entry_price: d("50000.0"),
            break_even_price: Some(d("50020.0")),
            unrealized_pnl: d("1.5"),
            leverage,
            margin_type: Some(MarginType::Crossed),
            isolated_wallet: None,
            updated_at: time,
        }
    }

    #[test]
    fn a_report_replaces_a_position_only_when_not_older_and_keeps_missing_leverage() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        assert_eq!(
            store
                .upsert_positions(&[position("0.010", 100, Some(20))])
                .unwrap(),
            1
        );
        // Older: ignored.
        assert_eq!(
            store
                .upsert_positions(&[position("0.5", 99, None)])
                .unwrap(),
            0
        );
        // Newer, without leverage (an ACCOUNT_UPDATE): quantity moves, leverage stays.
        assert_eq!(
            store
                .upsert_positions(&[position("-0.002", 101, None)])
                .unwrap(),
            1
        );
        let stored = store.positions(Some(Market::UsdM), None, false).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            stored[0].quantity.to_string(),
            "-0.002",
            "signed, exact text"
        );
        assert_eq!(stored[0].leverage, Some(20));
        assert_eq!(stored[0].updated_at, 101);
        // Flat positions are kept but left out of open-only lists.
        store.upsert_positions(&[position("0", 102, None)]).unwrap();
        assert!(store.positions(None, None, true).unwrap().is_empty());
        assert_eq!(
            store.positions(Some(Market::CoinM), None, false).unwrap(),
            vec![]
        );
        // Settings accepted by the exchange land on the row.
        store
            .set_position_settings(
                Market::UsdM,
                &"BTCUSDT".parse().unwrap(),
                Some(7),
                Some(MarginType::Isolated),
                103,
            )
            .unwrap();
        let p = &store.positions(None, None, false).unwrap()[0];
        assert_eq!(
            (p.leverage, p.margin_type),
            (Some(7), Some(MarginType::Isolated))
        );
        // Spot has no positions.
        let mut spot = position("1", 200, None);
        spot.market = Market::Spot;
        assert!(store.upsert_positions(&[spot]).is_err());
        assert_eq!(
            store.positions(None, None, false).unwrap().len(),
            1,
            "nothing half-written"
        );
    }
}
