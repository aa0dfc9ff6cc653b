//! The futures trading vocabulary (USDⓈ-M `/fapi`, COIN-M `/dapi`): [`PositionSide`],
//! [`WorkingType`], [`MarginType`], what a futures order reports beyond a spot one
//! ([`FuturesOrderState`]), and a futures [`Position`].
//!
//! Spellings follow Binance ("Common Definition" in
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/common-definition>).
//! Quantities keep Binance's units: contracts on COIN-M, the base asset on USDⓈ-M. Money is
//! [`Decimal`]; times are ms since the Unix epoch, UTC.
//!
//! The order types themselves are [`OrderType`]'s: the futures ones (`STOP`, `STOP_MARKET`,
//! `TAKE_PROFIT_MARKET`, `TRAILING_STOP_MARKET`) next to spot's. `TAKE_PROFIT` is spelled
//! the same on both but means a limit order with a trigger on futures (a market one on
//! spot): ask [`OrderType::needs_price_on`] and its siblings with the market.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::order::{OrderParseError, spelled_enum};
use super::{Market, Order, OrderType, Symbol, TimeInForce};

spelled_enum!(
    /// Which position a futures order or fill belongs to: `BOTH` in one-way mode, `LONG`
    /// or `SHORT` in hedge mode.
    PositionSide, PositionSide, {
        Both => "BOTH",
        Long => "LONG",
        Short => "SHORT",
    }
);

spelled_enum!(
    /// The price a futures trigger compares with.
    WorkingType, WorkingType, {
        /// The mark price.
        MarkPrice => "MARK_PRICE",
        /// The last traded price (Binance's default).
        ContractPrice => "CONTRACT_PRICE",
    }
);

spelled_enum!(
    /// How a futures position is margined (`POST /fapi/v1/marginType` takes `ISOLATED` or
    /// `CROSSED`; reports say `isolated` or `cross`, see [`MarginType::from_reported`]).
    MarginType, MarginType, {
        Isolated => "ISOLATED",
        Crossed => "CROSSED",
    }
);

impl MarginType {
    /// Parses a margin type as Binance's reports spell it (`positionRisk.marginType`,
    /// `ACCOUNT_UPDATE` `mt`): `isolated` or `cross`; the request spellings are accepted too.
    ///
    /// # Errors
    /// [`OrderParseError::MarginType`] for anything else.
    pub fn from_reported(s: &str) -> Result<MarginType, OrderParseError> {
        if s.trim().eq_ignore_ascii_case("cross") {
            return Ok(MarginType::Crossed);
        }
        s.parse()
    }
}

impl OrderType {
    /// Every futures order type, in Binance's documentation order.
    pub const FUTURES: [OrderType; 7] = [
        OrderType::Limit,
        OrderType::Market,
        OrderType::Stop,
        OrderType::StopMarket,
        OrderType::TakeProfit,
        OrderType::TakeProfitMarket,
        OrderType::TrailingStopMarket,
    ];

    /// Whether `market` offers the type (spot: its seven types; futures: [`OrderType::FUTURES`]).
    pub fn is_offered_on(self, market: Market) -> bool {
        match market {
            Market::Spot => !matches!(
                self,
                OrderType::Stop
                    | OrderType::StopMarket
                    | OrderType::TakeProfitMarket
                    | OrderType::TrailingStopMarket
            ),
            Market::UsdM | Market::CoinM => OrderType::FUTURES.contains(&self),
        }
    }

    /// Whether the type is a futures conditional order (`STOP`, `STOP_MARKET`,
    /// `TAKE_PROFIT`, `TAKE_PROFIT_MARKET`, `TRAILING_STOP_MARKET`): on USDⓈ-M these go
    /// through the Algo Service.
    pub fn is_conditional_on(self, market: Market) -> bool {
        market != Market::Spot
            && matches!(
                self,
                OrderType::Stop
                    | OrderType::StopMarket
                    | OrderType::TakeProfit
                    | OrderType::TakeProfitMarket
                    | OrderType::TrailingStopMarket
            )
    }

    /// Whether the type takes a `price` on `market`.
    pub fn needs_price_on(self, market: Market) -> bool {
        match market {
            Market::Spot => self.needs_price(),
            Market::UsdM | Market::CoinM => {
                matches!(
                    self,
                    OrderType::Limit | OrderType::Stop | OrderType::TakeProfit
                )
            }
        }
    }

    /// Whether the type takes a `time_in_force` on `market` (futures: the limit ones).
    pub fn needs_time_in_force_on(self, market: Market) -> bool {
        match market {
            Market::Spot => self.needs_time_in_force(),
            Market::UsdM | Market::CoinM => self.needs_price_on(market),
        }
    }

    /// Whether the order trades at the market when it executes, on `market`.
    pub fn is_market_on(self, market: Market) -> bool {
        match market {
            Market::Spot => self.is_market(),
            Market::UsdM | Market::CoinM => matches!(
                self,
                OrderType::Market
                    | OrderType::StopMarket
                    | OrderType::TakeProfitMarket
                    | OrderType::TrailingStopMarket
            ),
        }
    }
}

impl TimeInForce {
    /// Whether `market` offers it (`GTX` is futures only).
    pub fn is_offered_on(self, market: Market) -> bool {
        market != Market::Spot || self != TimeInForce::Gtx
    }
}

/// What a futures order reports beyond a spot one ("Query Order" in
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Query-Order>,
/// and for USDⓈ-M conditional orders "Query Algo Order" in
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Query-Algo-Order>).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct FuturesOrderState {
    /// `BOTH`, `LONG` or `SHORT`; `None` when the exchange did not say.
    pub position_side: Option<PositionSide>,
    pub reduce_only: bool,
    pub close_position: bool,
    /// Trailing stops: the callback rate, percent.
    #[serde(with = "super::decimal_str::option")]
    pub callback_rate: Option<Decimal>,
    /// Trailing stops: the activation price, quote asset.
    #[serde(with = "super::decimal_str::option")]
    pub activation_price: Option<Decimal>,
    pub working_type: Option<WorkingType>,
    pub price_protect: bool,
    /// The average fill price (`avgPrice`); `None` when nothing was filled.
    #[serde(with = "super::decimal_str::option")]
    pub avg_price: Option<Decimal>,
    /// USDⓈ-M conditional orders: the Algo Service's id (`algoId`); `None` otherwise.
    pub algo_id: Option<i64>,
    /// USDⓈ-M conditional orders: the id of the order the trigger placed (`actualOrderId`);
    /// `None` until triggered.
    pub triggered_order_id: Option<i64>,
}

impl FuturesOrderState {
    /// Whether this is a USDⓈ-M conditional order not triggered yet: it has an algo id but
    /// no order on the matching engine, so its [`super::Order::order_id`] means nothing
    /// (tradebeat reports 0 then and stores no order id).
    pub fn is_untriggered_algo(&self) -> bool {
        self.algo_id.is_some() && self.triggered_order_id.is_none()
    }
}

impl Order {
    /// The exchange's order id to store: `None` for a USDⓈ-M conditional order not
    /// triggered yet (it has an algo id and no order on the matching engine), the
    /// reported `order_id` otherwise.
    pub fn exchange_order_id(&self) -> Option<i64> {
        match &self.futures {
            Some(f) if f.is_untriggered_algo() => None,
            _ => Some(self.order_id),
        }
    }
}

/// One futures position as the exchange last reported it (`GET /fapi/v2/positionRisk`,
/// `GET /dapi/v1/positionRisk`, or an `ACCOUNT_UPDATE` event): a row of `positions`.
///
/// Balances of futures markets go to `balances` with `free` = the wallet balance and
/// `locked` = 0 (the account and `ACCOUNT_UPDATE` report no split).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Position {
    pub market: Market,
    pub symbol: Symbol,
    pub position_side: PositionSide,
    /// Signed: positive long, negative short, zero flat. Contracts on COIN-M, base asset
    /// on USDⓈ-M.
    #[serde(with = "super::decimal_str")]
    pub quantity: Decimal,
    /// Average entry price, quote asset (zero when flat).
    #[serde(with = "super::decimal_str")]
    pub entry_price: Decimal,
    /// Break-even price; `None` when the report has none.
    #[serde(with = "super::decimal_str::option")]
    pub break_even_price: Option<Decimal>,
    /// Unrealized profit, margin asset.
    #[serde(with = "super::decimal_str")]
    pub unrealized_pnl: Decimal,
    /// The leverage; `None` when the report has none (`ACCOUNT_UPDATE` does not carry it:
    /// the stored value is kept).
    pub leverage: Option<u32>,
    /// `None` when the report has none (the stored value is kept).
    pub margin_type: Option<MarginType>,
    /// Isolated margin, margin asset; `None` when the report has none.
    #[serde(with = "super::decimal_str::option")]
    pub isolated_wallet: Option<Decimal>,
    /// The exchange's time of the report, ms: a stored row is replaced only by a report
    /// of the same time or newer.
    pub updated_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn futures_spellings_parse_and_margin_reports_say_cross() {
        assert_eq!("long".parse::<PositionSide>().unwrap(), PositionSide::Long);
        assert_eq!(
            "MARK_PRICE".parse::<WorkingType>().unwrap(),
            WorkingType::MarkPrice
        );
        assert_eq!(
            MarginType::from_reported("cross").unwrap(),
            MarginType::Crossed
        );
        assert_eq!(
            MarginType::from_reported("isolated").unwrap(),
            MarginType::Isolated
        );
        assert!(MarginType::from_reported("portfolio").is_err());
        let err = "MIDDLE".parse::<PositionSide>().unwrap_err().to_string();
        assert!(err.contains("BOTH, LONG or SHORT"), "{err}");
    }

    #[test]
    fn take_profit_means_a_limit_order_on_futures_only() {
        assert!(!OrderType::TakeProfit.needs_price_on(Market::Spot));
        assert!(OrderType::TakeProfit.needs_price_on(Market::UsdM));
        assert!(OrderType::TakeProfit.is_market_on(Market::Spot));
        assert!(!OrderType::TakeProfit.is_market_on(Market::CoinM));
        assert!(OrderType::TrailingStopMarket.is_conditional_on(Market::UsdM));
        assert!(!OrderType::Limit.is_conditional_on(Market::UsdM));
        assert!(!OrderType::StopLoss.is_conditional_on(Market::Spot));
        assert!(!OrderType::StopMarket.is_offered_on(Market::Spot));
        assert!(!OrderType::LimitMaker.is_offered_on(Market::UsdM));
        assert!(!TimeInForce::Gtx.is_offered_on(Market::Spot));
        assert!(TimeInForce::Gtx.is_offered_on(Market::CoinM));
    }
}
