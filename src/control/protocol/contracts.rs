//! Part of the protocol: the futures contract spec shown by `symbol.add`, `symbol.list` and
//! `market.get`, and the futures history backfill's progress shown by `status` and
//! `symbol.list`.

use serde::{Deserialize, Serialize};

use crate::domain::{ContractSpec, Symbol};

/// A futures contract's spec, as its market's `exchangeInfo` last gave it (Binance:
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractView {
    /// `PERPETUAL`, `CURRENT_QUARTER`, `NEXT_QUARTER`, …
    pub contract_type: String,
    /// The value of one contract in the quote asset, a decimal string (COIN-M: `"100"` USD
    /// for BTC); `null` on USDⓈ-M, whose quantities are in the base asset.
    pub contract_size: Option<String>,
    /// Delivery time, ms (perpetuals: Binance's date in 2100); `null` when not given.
    pub delivery_date: Option<i64>,
    /// Listing time, ms; `null` when not given.
    pub onboard_date: Option<i64>,
}

impl From<&ContractSpec> for ContractView {
    fn from(c: &ContractSpec) -> ContractView {
        ContractView {
            contract_type: c.contract_type.clone(),
            contract_size: c.contract_size.map(|d| d.to_string()),
            delivery_date: c.delivery_date,
            onboard_date: c.onboard_date,
        }
    }
}

/// Where one futures history series of a symbol stands: funding events (`series`
/// `"funding"`) or open interest at a period (`"open_interest_5m"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    pub symbol: Symbol,
    /// `funding` or `open_interest_<period>`.
    pub series: String,
    /// Rows stored.
    pub rows: u64,
    /// Oldest and newest stored time, ms; `null` while there are none.
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
    /// What the exchange no longer keeps (open interest: the last 30 days only), recorded
    /// as a gap: `[first, last]` time missing, ms; `null` when none.
    pub not_kept: Option<[i64; 2]>,
    /// Why the last attempt failed; `null` once it succeeded.
    pub last_error: Option<String>,
    /// When the next attempt may run after failures (backoff), ms; `null` when not
    /// waiting.
    pub retry_at: Option<i64>,
}
