//! Futures market data (USDⓈ-M `/fapi`, COIN-M `/dapi`): the mark price and funding
//! snapshot, funding events and open interest, as the beats and the backfill store them.
//!
//! Prices, rates and quantities are exact [`Decimal`]s (stored as decimal strings); times
//! are ms since the Unix epoch, UTC. Quantities keep Binance's units: contracts on COIN-M,
//! the base asset on USDⓈ-M.

use rust_decimal::Decimal;

use super::market::Symbol;

/// One `premiumIndex` snapshot of a futures symbol (Binance: "Mark Price" in
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Mark-Price>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkPrice {
    pub symbol: Symbol,
    /// The mark price, quote asset.
    pub mark_price: Decimal,
    /// The index price, quote asset.
    pub index_price: Decimal,
    /// The estimated settle price (meaningful in the hour before a settlement); `None`
    /// when the exchange sent none.
    pub estimated_settle_price: Option<Decimal>,
    /// The latest funding rate; `None` for delivery contracts (Binance sends `""`).
    pub funding_rate: Option<Decimal>,
    /// When the next funding happens, ms; `None` for delivery contracts (Binance sends 0).
    pub next_funding_time: Option<i64>,
    /// The exchange's time of the snapshot, ms.
    pub time: i64,
}

/// One funding event of a perpetual (Binance: "Get Funding Rate History" in
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Get-Funding-Rate-History>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingRate {
    pub symbol: Symbol,
    /// When the funding happened, ms.
    pub funding_time: i64,
    /// The rate applied (a fraction: `0.0001` is 0.01 %).
    pub funding_rate: Decimal,
    /// The mark price at the funding time, when the exchange gave it.
    pub mark_price: Option<Decimal>,
}

/// The open interest of a futures symbol at a time (Binance: "Open Interest" and "Open
/// Interest Statistics" in
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInterest {
    pub symbol: Symbol,
    /// The exchange's time of the reading (for history: the period's timestamp), ms.
    pub time: i64,
    /// Open interest: contracts on COIN-M, base asset on USDⓈ-M.
    pub open_interest: Decimal,
    /// Its value (USDⓈ-M: quote asset; COIN-M: base asset), when the exchange gave it.
    pub open_interest_value: Option<Decimal>,
}

/// The period of an open-interest history series (`openInterestHist`'s `period`):
/// `5m 15m 30m 1h 2h 4h 6h 12h 1d`.
pub const OPEN_INTEREST_PERIODS: [&str; 9] =
    ["5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"];

/// Statuses of a futures contract that end it for good: a delivery contract that settled
/// or a perpetual that was delisted (Binance: "Contract status" in
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/common-definition>).
/// A followed symbol whose status becomes one of these (or that is no longer listed) is
/// retired.
pub fn is_contract_finished(status: &str) -> bool {
    matches!(
        status,
        "SETTLING" | "DELIVERING" | "DELIVERED" | "CLOSE" | "UNKNOWN"
    )
}

/// The contract specification of a futures symbol, as its market's `exchangeInfo` gives it
/// (Binance: "Exchange Information" in
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information>
/// and
/// <https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Exchange-Information>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractSpec {
    pub symbol: Symbol,
    /// `PERPETUAL`, `CURRENT_QUARTER`, `NEXT_QUARTER`, … as Binance names it; empty when
    /// the exchange sent none.
    pub contract_type: String,
    /// The value of one contract in the quote asset (COIN-M: e.g. 100 USD for BTC, 10 USD
    /// for the others); `None` on USDⓈ-M, whose quantities are in the base asset.
    pub contract_size: Option<Decimal>,
    /// When the contract is delivered, ms (Binance gives perpetuals a date in 2100);
    /// `None` when not given.
    pub delivery_date: Option<i64>,
    /// When the contract was listed, ms; `None` when not given.
    pub onboard_date: Option<i64>,
}

impl ContractSpec {
    /// Whether the contract can be followed at `now_ms`: a delivery contract whose
    /// delivery date has passed cannot, nor a contract whose size is not positive.
    ///
    /// # Errors
    /// A one-line reason, naming the symbol.
    pub fn check(&self, now_ms: i64) -> Result<(), String> {
        if let Some(size) = self.contract_size
            && size <= Decimal::ZERO
        {
            return Err(format!(
                "contract {} has a contract size of {size}, which is not positive",
                self.symbol
            ));
        }
        if self.contract_type != "PERPETUAL"
            && let Some(delivery) = self.delivery_date
            && delivery > 0
            && delivery <= now_ms
        {
            return Err(format!(
                "contract {} ({}) was delivered at {delivery} ms",
                self.symbol, self.contract_type
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(contract_type: &str, size: Option<&str>, delivery: Option<i64>) -> ContractSpec {
        ContractSpec {
            symbol: "BTCUSD_251226".parse().unwrap(),
            contract_type: contract_type.to_string(),
            contract_size: size.map(|s| s.parse().unwrap()),
            delivery_date: delivery,
            onboard_date: None,
        }
    }

    #[test]
    fn a_delivered_or_sizeless_contract_is_refused() {
        assert_eq!(
            spec("PERPETUAL", Some("100"), Some(4_133_404_800_000)).check(10),
            Ok(())
        );
        assert_eq!(
            spec("CURRENT_QUARTER", Some("100"), Some(20)).check(10),
            Ok(())
        );
        assert_eq!(spec("PERPETUAL", None, Some(5)).check(10), Ok(()));
        let delivered = spec("CURRENT_QUARTER", Some("100"), Some(10)).check(10);
        assert!(delivered.unwrap_err().contains("delivered at 10"));
        let sizeless = spec("PERPETUAL", Some("0"), None).check(10);
        assert!(sizeless.unwrap_err().contains("not positive"));
    }

    #[test]
    fn finished_statuses_are_the_ends_of_a_contract() {
        for s in ["SETTLING", "DELIVERING", "DELIVERED", "CLOSE", "UNKNOWN"] {
            assert!(is_contract_finished(s), "{s}");
        }
        for s in ["TRADING", "PENDING_TRADING", "PRE_DELIVERING", "PRE_SETTLE"] {
            assert!(!is_contract_finished(s), "{s}");
        }
    }
}
