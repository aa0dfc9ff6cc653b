//! SQL of "is this market in use?": whether the database follows a symbol of a market or
//! holds orders there. The daemon starts a futures market's orders component and
//! user-data stream only for a market in use (`src/daemon/futures_use.rs`).

use super::{Store, StoreError};
use crate::domain::Market;

impl Store {
    /// Whether `market` is in use in the database: an active `symbols` row of it, or any
    /// `orders` row of it (whatever its status).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn market_in_use(&self, market: Market) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        let used: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM symbols WHERE market = ?1 AND active = 1)
                     OR EXISTS (SELECT 1 FROM orders WHERE market = ?1)",
            )?
            .query_row([market.as_str()], |r| r.get(0))?;
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_market_is_in_use_with_an_active_symbol_or_any_order_there() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        for market in [Market::Spot, Market::UsdM, Market::CoinM] {
            assert!(!store.market_in_use(market).unwrap(), "{market}");
        }
        let conn = store.conn().unwrap();
        // An inactive (removed) symbol does not count; an active one does.
        conn.execute(
            "INSERT INTO symbols (market, symbol, base_asset, quote_asset, status, active,
                 added_at, updated_at) VALUES ('usdm', 'BTCUSDT', 'BTC', 'USDT', 'TRADING', 0, 1, 1)",
            [],
        )
        .unwrap();
        assert!(!store.market_in_use(Market::UsdM).unwrap());
        conn.execute("UPDATE symbols SET active = 1", []).unwrap();
        assert!(store.market_in_use(Market::UsdM).unwrap());
        // A final order row counts too.
        conn.execute(
            "INSERT INTO orders (market, symbol, client_order_id, side, type, status,
                 created_at, updated_at) VALUES ('coinm', 'BTCUSD_PERP', 'x1', 'BUY', 'LIMIT',
                 'CANCELED', 1, 1)",
            [],
        )
        .unwrap();
        assert!(store.market_in_use(Market::CoinM).unwrap());
        assert!(!store.market_in_use(Market::Spot).unwrap());
    }
}
