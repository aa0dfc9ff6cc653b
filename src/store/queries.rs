//! Read-only queries for the control methods that report what is stored: the fills of
//! `trade.list`.

use std::str::FromStr as _;

use rusqlite::params;
use rust_decimal::Decimal;

use super::{Store, StoreError};
use crate::domain::{Market, Side, Symbol};

/// One fill as stored in `executions` (a row with a trade id). Decimals parsed; times ms
/// since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillRow {
    pub market: Market,
    pub symbol: Symbol,
    /// The exchange's time of the fill (`T`, REST `time`), ms.
    pub time: i64,
    pub trade_id: i64,
    pub order_id: i64,
    pub client_order_id: Option<String>,
    pub side: Option<Side>,
    pub price: Decimal,
    pub qty: Decimal,
    /// As the exchange reported it, else price × qty.
    pub quote_qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: Option<String>,
    pub maker: Option<bool>,
}

/// Which fills [`Store::fills`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillFilter {
    pub market: Market,
    pub symbol: Option<Symbol>,
    /// Fill times `start..=end`, ms.
    pub start: i64,
    pub end: i64,
    pub limit: u32,
}

impl Store {
    /// The fills of `filter`, newest first (by time, then trade id). A stored value that
    /// does not parse is [`StoreError::Corrupt`].
    pub fn fills(&self, filter: &FillFilter) -> Result<Vec<FillRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT symbol, transaction_time, trade_id, order_id, client_order_id, side,
                    last_price, last_qty, last_quote_qty, commission, commission_asset, is_maker
             FROM executions
             WHERE market = ?1 AND trade_id IS NOT NULL AND (?2 IS NULL OR symbol = ?2)
               AND transaction_time BETWEEN ?3 AND ?4
             ORDER BY transaction_time DESC, trade_id DESC
             LIMIT ?5",
        )?;
        let symbol = filter.symbol.as_ref().map(|s| s.as_str().to_string());
        let raw = stmt
            .query_map(
                params![
                    filter.market.as_str(),
                    symbol,
                    filter.start,
                    filter.end,
                    filter.limit
                ],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        [
                            r.get::<_, Option<String>>(6)?,
                            r.get::<_, Option<String>>(7)?,
                            r.get::<_, Option<String>>(8)?,
                            r.get::<_, Option<String>>(9)?,
                        ],
                        r.get::<_, Option<String>>(10)?,
                        r.get::<_, Option<bool>>(11)?,
                    ))
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        raw.into_iter()
            .map(
                |(symbol, time, trade_id, order_id, client_order_id, side, nums, asset, maker)| {
                    let [price, qty, quote_qty, commission] = nums;
                    let dec =
                        |what: &str, v: Option<String>| -> Result<Option<Decimal>, StoreError> {
                            v.map(|s| {
                                Decimal::from_str(&s).map_err(|e| {
                                    StoreError::Corrupt(format!(
                                        "executions.{what} {s:?} of trade {trade_id}: {e}"
                                    ))
                                })
                            })
                            .transpose()
                        };
                    let price = dec("last_price", price)?.unwrap_or_default();
                    let qty = dec("last_qty", qty)?.unwrap_or_default();
                    let quote_qty = dec("last_quote_qty", quote_qty)?.unwrap_or(price * qty);
                    let commission = dec("commission", commission)?.unwrap_or_default();
                    Ok(FillRow {
                        market: filter.market,
                        symbol: symbol.parse().map_err(|e| {
                            StoreError::Corrupt(format!("executions.symbol {symbol:?}: {e}"))
                        })?,
                        time,
                        trade_id,
                        order_id,
                        client_order_id,
                        side: side
                            .map(|s| {
                                s.parse::<Side>().map_err(|e| {
                                    StoreError::Corrupt(format!("executions.side {s:?}: {e}"))
                                })
                            })
                            .transpose()?,
                        price,
                        qty,
                        quote_qty,
                        commission,
                        commission_asset: asset,
                        maker,
                    })
                },
            )
            .collect()
    }
}
