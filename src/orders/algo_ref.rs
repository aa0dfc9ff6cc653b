//! An order named by a numeric id on USDⓈ-M may be an algo order: a conditional order
//! (STOP, TAKE_PROFIT, … through the Algo Service) has an `algoId` until it triggers, and
//! no order id of the matching engine. [`Orders::get`] and [`Orders::cancel`] look such an
//! id up in the `orders` table's `algo_id` column and ask the exchange by the row's client
//! order id (which the Algo Service knows as `clientAlgoId`), so the id `order.place`
//! answered finds the order before and after it triggers.

use super::{OrderError, Orders};
use crate::domain::{Market, OrderRef, Symbol};

impl Orders {
    /// `which`, or, when it is a numeric id that no stored order of `symbol` carries as
    /// its order id but one carries as its algo id, that order's client order id.
    ///
    /// # Errors
    /// `Store`.
    pub(super) async fn algo_ref(
        &self,
        symbol: &Symbol,
        which: &OrderRef,
    ) -> Result<OrderRef, OrderError> {
        let (OrderRef::OrderId(id), market) = (which, self.inner.market) else {
            return Ok(which.clone());
        };
        if market == Market::Spot {
            return Ok(which.clone());
        }
        let (id, symbol) = (*id, symbol.clone());
        let found = self
            .inner
            .store
            .run(move |s| {
                if s.order_by_exchange_id(market, &symbol, id)?.is_some() {
                    return Ok(None);
                }
                Ok(s.order_by_algo_id(market, id)?
                    .filter(|row| row.symbol == symbol))
            })
            .await?;
        Ok(match found {
            Some(row) => OrderRef::ClientOrderId(row.client_order_id),
            None => which.clone(),
        })
    }
}
