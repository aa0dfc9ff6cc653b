//! The futures account methods of [`Orders`] (a component whose venue is a futures market):
//! positions ([`Orders::positions`]), leverage ([`Orders::set_leverage`]) and margin type
//! ([`Orders::set_margin_type`]). Each asks the venue and records what it answered in the
//! `positions` table, in one transaction.

use std::sync::Arc;

use super::{OrderError, Orders};
use crate::domain::{MarginType, Market, Position, Symbol};
use crate::exchange::ExchangeError;

/// The error of a state-changing futures account request the exchange refused.
fn refused(e: ExchangeError) -> OrderError {
    match e {
        ExchangeError::Api {
            code,
            msg,
            http_status,
            ..
        } => OrderError::Rejected {
            code,
            msg,
            http_status,
            order: None,
        },
        other => OrderError::Exchange(other),
    }
}

impl Orders {
    /// The market this component trades.
    pub fn market(&self) -> Market {
        self.inner.market
    }

    /// Reads the account's positions (of `symbol` when given) from the venue and records
    /// them (a stored row is replaced only by a report not older); returns them. Flat
    /// positions are recorded only when a row for them exists (a position that was open).
    ///
    /// # Errors
    /// `NoCredentials`; `Exchange` when the venue cannot be asked (or has no positions:
    /// spot); `Store`.
    pub async fn refresh_positions(
        &self,
        symbol: Option<&Symbol>,
    ) -> Result<Vec<Position>, OrderError> {
        let venue = Arc::clone(self.venue()?);
        let reported = venue
            .positions(symbol)
            .await
            .map_err(OrderError::Exchange)?;
        let market = self.inner.market;
        let stored = self
            .inner
            .store
            .run(move |s| s.positions(Some(market), None, false))
            .await?;
        let keep: Vec<Position> = reported
            .into_iter()
            .filter(|p| {
                !p.quantity.is_zero()
                    || stored
                        .iter()
                        .any(|s| s.symbol == p.symbol && s.position_side == p.position_side)
            })
            .collect();
        let copy = keep.clone();
        self.inner
            .store
            .run(move |s| s.upsert_positions(&copy))
            .await?;
        Ok(keep)
    }

    /// Sets the initial leverage of `symbol` (1..=125) on the venue, once, and records the
    /// leverage it answered on the symbol's positions. Returns it.
    ///
    /// # Errors
    /// `NoCredentials`; `Rejected` with the exchange's code and msg; `Exchange`; `Store`.
    pub async fn set_leverage(&self, symbol: &Symbol, leverage: u32) -> Result<u32, OrderError> {
        let venue = Arc::clone(self.venue()?);
        tracing::info!(symbol = %symbol, leverage, market = self.inner.market.as_str(), "setting leverage");
        let set = venue
            .set_leverage(symbol, leverage)
            .await
            .map_err(refused)?;
        let (market, symbol, now) = (self.inner.market, symbol.clone(), venue.server_now_ms());
        self.inner
            .store
            .run(move |s| s.set_position_settings(market, &symbol, Some(set), None, now))
            .await?;
        Ok(set)
    }

    /// Sets the margin type of `symbol` on the venue, once (already in that mode counts as
    /// done), and records it on the symbol's positions.
    ///
    /// # Errors
    /// `NoCredentials`; `Rejected` with the exchange's code and msg (an open position or
    /// open orders); `Exchange`; `Store`.
    pub async fn set_margin_type(
        &self,
        symbol: &Symbol,
        margin_type: MarginType,
    ) -> Result<(), OrderError> {
        let venue = Arc::clone(self.venue()?);
        tracing::info!(symbol = %symbol, margin_type = %margin_type, market = self.inner.market.as_str(), "setting margin type");
        venue
            .set_margin_type(symbol, margin_type)
            .await
            .map_err(refused)?;
        let (market, symbol, now) = (self.inner.market, symbol.clone(), venue.server_now_ms());
        self.inner
            .store
            .run(move |s| s.set_position_settings(market, &symbol, None, Some(margin_type), now))
            .await?;
        Ok(())
    }
}

impl Orders {
    /// A futures market's part of the reconciliation at start: its positions
    /// ([`Orders::refresh_positions`]) and its account's balances (`balances` of the market).
    ///
    /// # Errors
    /// `Exchange` when the venue cannot be asked; `Store`.
    pub(super) async fn reconcile_futures_account(&self) -> Result<(), OrderError> {
        let positions = self.refresh_positions(None).await?;
        let venue = Arc::clone(self.venue()?);
        let account = venue.account().await.map_err(OrderError::Exchange)?;
        let (market, now) = (self.inner.market, self.inner.clock.now_ms());
        let changed = self
            .inner
            .store
            .run(move |s| s.apply_account(market, &account, now))
            .await?;
        tracing::info!(
            market = market.as_str(),
            positions = positions.len(),
            balances_changed = changed,
            "futures positions and balances reconciled"
        );
        Ok(())
    }

    /// An orders component trading on the futures market of `client` (USDⓈ-M or COIN-M)
    /// for the account of `credentials`, recording in `store`. Without credentials, every
    /// method but [`Orders::list`] answers [`OrderError::NoCredentials`].
    ///
    /// # Errors
    /// [`OrderError::Exchange`] when the credentials cannot be used.
    pub fn futures(
        client: &crate::exchange::FuturesClient,
        credentials: Option<&crate::domain::Credentials>,
        recv_window_ms: u64,
        store: crate::store::Store,
        clock: crate::clock::Clock,
    ) -> Result<Orders, OrderError> {
        let venue = credentials
            .map(|c| crate::venue::FuturesVenue::new(client, c, recv_window_ms))
            .transpose()
            .map_err(OrderError::Exchange)?
            .map(|v| Arc::new(v) as Arc<dyn crate::venue::Venue>);
        Ok(Orders::with_venue_in(client.market(), venue, store, clock))
    }
}

/// How many of a symbol's newest fills [`Orders::record_futures_fills`] asks for.
const RECENT_FILLS: u16 = 100;

impl Orders {
    /// Records the newest fills of `symbol` (`userTrades`, with realized PnL and
    /// commission) in `executions`, once each (the same key as the user-data stream's
    /// report of the fill). Futures only; a failure is logged: the user-data stream or the
    /// next reconciliation records them.
    pub(super) async fn record_futures_fills(&self, symbol: &Symbol) {
        let Ok(venue) = self.venue().map(Arc::clone) else {
            return;
        };
        match venue.my_trades(symbol, None, RECENT_FILLS).await {
            Ok(trades) => {
                let (market, now) = (self.inner.market, self.inner.clock.now_ms());
                let stored = self
                    .inner
                    .store
                    .run(move |s| s.record_trades(market, &trades, now))
                    .await;
                if let Err(e) = stored {
                    tracing::warn!(symbol = %symbol, error = %e, "futures fills not recorded");
                }
            }
            Err(e) => {
                tracing::warn!(symbol = %symbol, error = %e, "futures fills not fetched");
            }
        }
    }
}
