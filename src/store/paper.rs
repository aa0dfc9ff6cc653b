//! The store's part of paper trading and of `pnl.list`: the database's trading mode
//! (schema version 8, `trading_mode`), the next ids a paper venue hands out, and the fills
//! and last prices PnL is computed from. Paper fills themselves are written by
//! [`Store::apply_user_data`] (simulated execution reports and account updates), like live
//! ones.

use std::str::FromStr;

use rusqlite::{OptionalExtension, params};
use rust_decimal::Decimal;

use super::{Store, StoreError};
use crate::domain::pnl::PnlFill;
use crate::domain::{Market, Side, Symbol, TradingMode};

/// The largest ids used so far in a market, for a paper venue to continue from (0 when
/// none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaperIds {
    /// Largest `orders.order_id`.
    pub order_id: i64,
    /// Largest `executions.trade_id`.
    pub trade_id: i64,
    /// Largest `executions.execution_id`.
    pub execution_id: i64,
}

/// The fills of one (market, symbol), oldest first, with what PnL needs around them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolFills {
    pub market: Market,
    pub symbol: Symbol,
    /// From `symbols` when registered; else `None`.
    pub assets: Option<(String, String)>,
    pub fills: Vec<PnlFill>,
    /// The newest stored 24 h ticker's last price, else the newest stored candle's close.
    pub last_price: Option<Decimal>,
    /// COIN-M: the contract size (USD per contract) from `contract_specs`, when the
    /// symbol is registered; `None` otherwise.
    pub contract_size: Option<Decimal>,
}

impl Store {
    /// The database's trading mode: the recorded one, or `wanted` recorded now when none is
    /// (a database holding orders, executions or balances from before version 8 is
    /// recorded `live`). The caller refuses to go on when it differs from `wanted`.
    ///
    /// # Errors
    /// The database's; `Corrupt` for a mode this binary does not know.
    pub fn claim_trading_mode(
        &self,
        wanted: TradingMode,
        now_ms: i64,
    ) -> Result<TradingMode, StoreError> {
        self.write(|tx| {
            let stored: Option<String> = tx
                .query_row("SELECT mode FROM trading_mode WHERE id = 1", [], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(text) = stored {
                return TradingMode::parse(&text).ok_or_else(|| {
                    StoreError::Corrupt(format!("trading_mode.mode: unknown mode {text:?}"))
                });
            }
            let used: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM orders) OR EXISTS (SELECT 1 FROM executions)
                     OR EXISTS (SELECT 1 FROM balances)",
                [],
                |r| r.get(0),
            )?;
            let mode = if used { TradingMode::Live } else { wanted };
            tx.execute(
                "INSERT INTO trading_mode (id, mode, created_at) VALUES (1, ?1, ?2)",
                params![mode.as_str(), now_ms],
            )?;
            Ok(mode)
        })
    }

    /// The recorded trading mode; `None` before a daemon recorded one.
    ///
    /// # Errors
    /// The database's; `Corrupt` for an unknown mode.
    pub fn trading_mode(&self) -> Result<Option<TradingMode>, StoreError> {
        let text: Option<String> = self
            .conn()?
            .query_row("SELECT mode FROM trading_mode WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        text.map(|t| {
            TradingMode::parse(&t).ok_or_else(|| {
                StoreError::Corrupt(format!("trading_mode.mode: unknown mode {t:?}"))
            })
        })
        .transpose()
    }

    /// The largest order, trade and execution ids stored for `market`. It reads every
    /// order and execution of the market (no index serves these maxima), so a paper venue
    /// reads it once and keeps the ids in step itself.
    ///
    /// # Errors
    /// The database's.
    pub fn paper_ids(&self, market: Market) -> Result<PaperIds, StoreError> {
        let conn = self.conn()?;
        let order_id: Option<i64> = conn.query_row(
            "SELECT MAX(order_id) FROM orders WHERE market = ?1",
            [market.as_str()],
            |r| r.get(0),
        )?;
        let (trade_id, execution_id): (Option<i64>, Option<i64>) = conn.query_row(
            "SELECT MAX(trade_id), MAX(execution_id) FROM executions WHERE market = ?1",
            [market.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(PaperIds {
            order_id: order_id.unwrap_or(0),
            trade_id: trade_id.unwrap_or(0),
            execution_id: execution_id.unwrap_or(0),
        })
    }

    /// The fills (`executions` rows that are trades) of each (market, symbol), filtered
    /// by `market` and `symbol` when given, with the symbol's assets and last stored price;
    /// by market then symbol.
    ///
    /// # Errors
    /// The database's; `Corrupt` for a stored decimal, side or symbol that does not parse.
    pub fn fills_for_pnl(
        &self,
        market: Option<Market>,
        symbol: Option<&Symbol>,
    ) -> Result<Vec<SymbolFills>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT market, symbol, side, last_qty, last_price, commission, commission_asset
             FROM executions
             WHERE trade_id IS NOT NULL AND side IS NOT NULL
               AND (?1 IS NULL OR market = ?1) AND (?2 IS NULL OR symbol = ?2)
             ORDER BY market, symbol, transaction_time, trade_id, id",
        )?;
        type Raw = (
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Raw> = stmt
            .query_map(
                params![market.map(|m| m.as_str()), symbol.map(|s| s.as_str())],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )?
            .collect::<Result<_, _>>()?;
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("executions.{what}: {e}"))
        };
        let dec = |what: &str, s: Option<String>| -> Result<Decimal, StoreError> {
            match s {
                None => Ok(Decimal::ZERO),
                Some(s) => Decimal::from_str(&s).map_err(|e| corrupt(what, &e)),
            }
        };
        let mut out: Vec<SymbolFills> = Vec::new();
        for (market_text, symbol_text, side, qty, price, commission, asset) in rows {
            let market = Market::from_str(&market_text).map_err(|e| corrupt("market", &e))?;
            let symbol = Symbol::from_str(&symbol_text).map_err(|e| corrupt("symbol", &e))?;
            let fill = PnlFill {
                side: Side::from_str(&side).map_err(|e| corrupt("side", &e))?,
                qty: dec("last_qty", qty)?,
                price: dec("last_price", price)?,
                commission: dec("commission", commission)?,
                commission_asset: asset,
            };
            match out.last_mut() {
                Some(last) if last.market == market && last.symbol == symbol => {
                    last.fills.push(fill);
                }
                _ => out.push(SymbolFills {
                    market,
                    symbol,
                    assets: None,
                    fills: vec![fill],
                    last_price: None,
                    contract_size: None,
                }),
            }
        }
        for entry in &mut out {
            let found: Option<(i64, String, String)> = conn
                .query_row(
                    "SELECT id, base_asset, quote_asset FROM symbols WHERE market = ?1 AND symbol = ?2",
                    params![entry.market.as_str(), entry.symbol.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((id, base, quote)) = found else {
                continue;
            };
            entry.assets = Some((base, quote));
            let size: Option<String> = conn
                .query_row(
                    "SELECT contract_size FROM contract_specs WHERE symbol_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            entry.contract_size = size
                .map(|s| {
                    Decimal::from_str(&s).map_err(|e| {
                        StoreError::Corrupt(format!("contract_specs.contract_size: {e}"))
                    })
                })
                .transpose()?
                .filter(|s| *s > Decimal::ZERO);
            let ticker: Option<f64> = conn
                .query_row(
                    "SELECT last_price FROM tickers WHERE symbol_id = ?1 ORDER BY time DESC LIMIT 1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            let close = match ticker {
                Some(p) => Some(p),
                None => conn
                    .query_row(
                        "SELECT close FROM klines WHERE symbol_id = ?1 ORDER BY close_time DESC LIMIT 1",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?,
            };
            // Stored as REAL: its shortest round-trip text is the exchange's decimal.
            entry.last_price = close
                .filter(|p| p.is_finite() && *p > 0.0)
                .and_then(|p| Decimal::from_str(&p.to_string()).ok());
        }
        Ok(out)
    }
}

impl Store {
    /// Writes a futures paper venue's simulated events (through the same code as the
    /// user-data stream's, [`Store::apply_user_data`]) and records `leverage` on the
    /// position rows of `symbol` (`ACCOUNT_UPDATE` carries no leverage), in ONE
    /// transaction.
    ///
    /// # Errors
    /// As [`Store::apply_user_data`]; nothing is written then.
    pub fn apply_paper_futures(
        &self,
        market: Market,
        events: &[crate::domain::UserDataEvent],
        leverage: Option<(&Symbol, u32)>,
        received_at_ms: i64,
    ) -> Result<super::ApplyReport, StoreError> {
        self.apply_user_data_then(market, events, received_at_ms, |tx| match leverage {
            Some((symbol, leverage)) => super::positions::set_position_settings_tx(
                tx,
                market,
                symbol,
                Some(leverage),
                None,
                received_at_ms,
            ),
            None => Ok(()),
        })
    }
}
