//! Paper trading vocabulary: the best prices a paper fill is made at ([`BookTicker`]) and
//! the fees it pays ([`PaperFees`]).

use rust_decimal::Decimal;
use serde::Serialize;

use super::Symbol;
use super::order::decimal_str;

/// The best bid and ask of a symbol at one moment (spot `GET /api/v3/ticker/bookTicker`,
/// "Symbol order book ticker" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>).
/// Prices in the quote asset, quantities in the base asset, exact decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BookTicker {
    pub symbol: Symbol,
    #[serde(with = "decimal_str")]
    pub bid_price: Decimal,
    #[serde(with = "decimal_str")]
    pub bid_qty: Decimal,
    #[serde(with = "decimal_str")]
    pub ask_price: Decimal,
    #[serde(with = "decimal_str")]
    pub ask_qty: Decimal,
}

impl BookTicker {
    /// Whether the book has both sides (a symbol without trades answers zeros): only
    /// then can a paper order be filled at it.
    pub fn is_two_sided(&self) -> bool {
        self.bid_price > Decimal::ZERO && self.ask_price > Decimal::ZERO
    }
}

/// The fee rates of paper fills, as fractions of the traded amount (`0.001` = 0.1 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PaperFees {
    /// Paid by a fill that rested on the book first.
    #[serde(with = "decimal_str")]
    pub maker: Decimal,
    /// Paid by a fill that took liquidity at once.
    #[serde(with = "decimal_str")]
    pub taker: Decimal,
}

/// Whether orders are sent to the exchange (`live`) or simulated (`paper`); a database
/// records one for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TradingMode {
    Live,
    Paper,
}

impl TradingMode {
    /// `live` or `paper`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TradingMode::Live => "live",
            TradingMode::Paper => "paper",
        }
    }

    /// From the stored spelling.
    pub fn parse(text: &str) -> Option<TradingMode> {
        match text {
            "live" => Some(TradingMode::Live),
            "paper" => Some(TradingMode::Paper),
            _ => None,
        }
    }
}

impl std::fmt::Display for TradingMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
