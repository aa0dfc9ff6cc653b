//! SQL of order retention (`orders.keep_closed_per_symbol`): per (market, symbol), the
//! final orders ([`OrderStatus::is_final`]) beyond the newest N are deleted with their
//! executions, a batch per transaction. Orders that are not final are never deleted and do
//! not count towards N.
//!
//! "Newest" is the placement time: the exchange's `transact_time`, else the row's
//! `created_at` (ms), then the row id. The order that holds a market's newest order id,
//! and the one whose executions hold its newest trade or execution id, are kept too
//! whatever their rank: a paper venue continues its ids from those maxima, so they never
//! go back.

use std::collections::BTreeMap;

use rusqlite::params;

use super::{Store, StoreError};
use crate::domain::OrderStatus;

/// What one [`Store::prune_closed_orders_batch`] deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrunedOrders {
    /// Orders deleted.
    pub orders: usize,
    /// Their executions deleted.
    pub executions: usize,
    /// (market, symbol) → (orders, executions) deleted.
    pub per_symbol: BTreeMap<(String, String), (usize, usize)>,
}

impl PrunedOrders {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &PrunedOrders) {
        self.orders += other.orders;
        self.executions += other.executions;
        for (key, (o, e)) in &other.per_symbol {
            let entry = self.per_symbol.entry(key.clone()).or_default();
            entry.0 += o;
            entry.1 += e;
        }
    }
}

impl Store {
    /// Deletes at most `batch` final orders that are not among the `keep` newest final
    /// orders of their (market, symbol), with their executions (same market, symbol and
    /// exchange order id), in one transaction.
    ///
    /// # Errors
    /// The database failed; nothing of the batch is deleted then.
    pub fn prune_closed_orders_batch(
        &self,
        keep: u32,
        batch: u32,
    ) -> Result<PrunedOrders, StoreError> {
        let finals: Vec<String> = OrderStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        let finals = finals.join(", ");
        self.write(|tx| {
            let victims: Vec<(i64, String, String, Option<i64>)> = {
                let mut stmt = tx.prepare(&format!(
                    "WITH newest AS (
                         SELECT market,
                                MAX(order_id) AS order_id,
                                (SELECT MAX(trade_id) FROM executions e
                                  WHERE e.market = o.market) AS trade_id,
                                (SELECT MAX(execution_id) FROM executions e
                                  WHERE e.market = o.market) AS execution_id
                         FROM orders o GROUP BY market
                     ),
                     ranked AS (
                         SELECT id, market, symbol, order_id,
                                ROW_NUMBER() OVER (
                                    PARTITION BY market, symbol
                                    ORDER BY COALESCE(transact_time, created_at) DESC, id DESC
                                ) AS rank
                         FROM orders WHERE status IN ({finals})
                     )
                     SELECT r.id, r.market, r.symbol, r.order_id FROM ranked r
                     JOIN newest n ON n.market = r.market
                     WHERE r.rank > ?1
                       AND (r.order_id IS NULL OR (
                            r.order_id IS NOT n.order_id
                            AND NOT EXISTS (
                                SELECT 1 FROM executions e
                                WHERE e.market = r.market AND e.symbol = r.symbol
                                  AND e.order_id = r.order_id
                                  AND (e.trade_id = n.trade_id
                                       OR e.execution_id = n.execution_id))))
                     ORDER BY r.id LIMIT ?2"
                ))?;
                stmt.query_map(params![keep, batch], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<Result<_, _>>()?
            };
            let mut pruned = PrunedOrders::default();
            let mut del_exec = tx.prepare_cached(
                "DELETE FROM executions WHERE market = ?1 AND symbol = ?2 AND order_id = ?3",
            )?;
            let mut del_order = tx.prepare_cached("DELETE FROM orders WHERE id = ?1")?;
            for (id, market, symbol, order_id) in victims {
                let executions = match order_id {
                    Some(order_id) => del_exec.execute(params![market, symbol, order_id])?,
                    None => 0,
                };
                let orders = del_order.execute([id])?;
                pruned.orders += orders;
                pruned.executions += executions;
                let entry = pruned.per_symbol.entry((market, symbol)).or_default();
                entry.0 += orders;
                entry.1 += executions;
            }
            Ok(pruned)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inserts an order row directly: (market, symbol, order id, status, transact time).
    fn order(
        store: &Store,
        market: &str,
        symbol: &str,
        order_id: Option<i64>,
        status: &str,
        t: i64,
    ) {
        store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO orders (market, symbol, client_order_id, order_id, side, type,
                         status, transact_time, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, 'BUY', 'LIMIT', ?5, ?6, ?6, ?6)",
                    params![
                        market,
                        symbol,
                        format!("c-{market}-{symbol}-{t}"),
                        order_id,
                        status,
                        t
                    ],
                )?;
                Ok(())
            })
            .unwrap();
    }

    fn execution(store: &Store, market: &str, symbol: &str, order_id: i64, trade_id: i64) {
        store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO executions (market, symbol, event_key, source, order_id,
                         execution_type, trade_id, transaction_time, raw, received_at)
                     VALUES (?1, ?2, ?3, 'rest', ?4, 'TRADE', ?5, 1, '{}', 1)",
                    params![
                        market,
                        symbol,
                        format!("trade:{trade_id}"),
                        order_id,
                        trade_id
                    ],
                )?;
                Ok(())
            })
            .unwrap();
    }

    fn left(store: &Store) -> Vec<(String, String, i64, String)> {
        let conn = store.conn().unwrap();
        let mut stmt = conn
            .prepare("SELECT market, symbol, transact_time, status FROM orders ORDER BY market, symbol, transact_time")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn keeps_the_newest_final_orders_per_market_and_symbol_and_every_working_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        // spot BTCUSDT: five final orders, an old working one; spot ETHUSDT: two final;
        // usdm BTCUSDT: four final.
        order(&store, "spot", "BTCUSDT", Some(1), "NEW", 1);
        for (id, t) in [(2, 2), (3, 3), (4, 4), (5, 5)] {
            order(&store, "spot", "BTCUSDT", Some(id), "FILLED", t);
            execution(&store, "spot", "BTCUSDT", id, id * 10);
        }
        order(&store, "spot", "BTCUSDT", None, "not_placed", 6);
        order(&store, "spot", "BTCUSDT", Some(7), "unknown", 0);
        order(&store, "spot", "ETHUSDT", Some(8), "CANCELED", 1);
        order(&store, "spot", "ETHUSDT", Some(9), "REJECTED", 2);
        for (id, t) in [(1, 1), (2, 2), (3, 3), (4, 4)] {
            order(&store, "usdm", "BTCUSDT", Some(id), "EXPIRED", t);
        }

        let mut total = PrunedOrders::default();
        loop {
            let p = store.prune_closed_orders_batch(2, 2).unwrap();
            total.add(&p);
            if p.orders < 2 {
                break;
            }
        }
        assert_eq!((total.orders, total.executions), (5, 3));
        let key = |m: &str, s: &str| (m.to_string(), s.to_string());
        assert_eq!(total.per_symbol.len(), 2, "{total:?}");
        assert_eq!(total.per_symbol[&key("spot", "BTCUSDT")], (3, 3));
        assert_eq!(total.per_symbol[&key("usdm", "BTCUSDT")], (2, 0));
        let rows = left(&store);
        let spot_btc: Vec<_> = rows
            .iter()
            .filter(|r| r.0 == "spot" && r.1 == "BTCUSDT")
            .map(|r| (r.2, r.3.as_str()))
            .collect();
        // The working ones stay, whatever their age; of the final ones the newest two.
        assert_eq!(
            spot_btc,
            [(0, "unknown"), (1, "NEW"), (5, "FILLED"), (6, "not_placed")]
        );
        assert_eq!(rows.iter().filter(|r| r.1 == "ETHUSDT").count(), 2);
        let usdm: Vec<i64> = rows.iter().filter(|r| r.0 == "usdm").map(|r| r.2).collect();
        assert_eq!(usdm, [3, 4]);
        // The kept order's execution stays; the deleted ones' are gone.
        let conn = store.conn().unwrap();
        let trades: Vec<i64> = conn
            .prepare("SELECT trade_id FROM executions ORDER BY trade_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(trades, [50]);
        // Nothing more to do.
        assert_eq!(
            store.prune_closed_orders_batch(2, 100).unwrap(),
            PrunedOrders::default()
        );
    }

    #[test]
    fn the_orders_holding_a_markets_newest_ids_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        // The order placed first was filled last (trade 99) and has the largest order id.
        order(&store, "spot", "BTCUSDT", Some(50), "FILLED", 1);
        execution(&store, "spot", "BTCUSDT", 50, 99);
        order(&store, "spot", "BTCUSDT", Some(2), "CANCELED", 2);
        order(&store, "spot", "BTCUSDT", Some(3), "CANCELED", 3);
        let p = store.prune_closed_orders_batch(1, 100).unwrap();
        assert_eq!((p.orders, p.executions), (1, 0));
        let kept: Vec<i64> = left(&store).iter().map(|r| r.2).collect();
        assert_eq!(kept, [1, 3]);
    }
}
