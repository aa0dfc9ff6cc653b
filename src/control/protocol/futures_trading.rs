//! `position.list`, `leverage.set` and `margin_type.set` (futures trading), with their
//! parameters and views. Part of [`super`] (the one definition of the control protocol);
//! like it, this file imports only the domain.
//!
//! Decimals are strings; times are ms since the Unix epoch, UTC. Quantities are contracts
//! on COIN-M, the base asset on USDⓈ-M.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Method;
use crate::domain::{MarginType, Market, PositionSide, Symbol, decimal_str};

/// `position.list`: the futures positions, refreshed from the exchange (`GET positionRisk`)
/// for each futures market with credentials, then read from the `positions` table; flat
/// ones left out unless `all`.
pub struct PositionList;
impl Method for PositionList {
    const NAME: &'static str = "position.list";
    type Params = PositionListParams;
    type Result = Vec<PositionView>;
}

/// `leverage.set`: sets a futures symbol's initial leverage (`POST /fapi/v1/leverage`,
/// `/dapi/v1/leverage`); answers the leverage the exchange set.
pub struct LeverageSet;
impl Method for LeverageSet {
    const NAME: &'static str = "leverage.set";
    type Params = LeverageSetParams;
    type Result = LeverageView;
}

/// `margin_type.set`: sets a futures symbol's margin type (`POST /fapi/v1/marginType`,
/// `/dapi/v1/marginType`); a symbol already in that mode counts as done.
pub struct MarginTypeSet;
impl Method for MarginTypeSet {
    const NAME: &'static str = "margin_type.set";
    type Params = MarginTypeSetParams;
    type Result = MarginTypeView;
}

/// `position.list` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionListParams {
    /// Only this futures market (`usdm` or `coinm`); both when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
    /// Only this symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<Symbol>,
    /// `true`: flat positions (quantity 0) too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
}

/// `leverage.set` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeverageSetParams {
    pub symbol: Symbol,
    /// `usdm` or `coinm`.
    pub market: Market,
    /// 1..=125.
    pub leverage: u32,
}

/// `margin_type.set` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarginTypeSetParams {
    pub symbol: Symbol,
    /// `usdm` or `coinm`.
    pub market: Market,
    /// `ISOLATED` or `CROSSED`.
    pub margin_type: MarginType,
}

/// One futures position (a `positions` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionView {
    pub market: Market,
    pub symbol: Symbol,
    pub position_side: PositionSide,
    /// Signed: positive long, negative short.
    #[serde(with = "decimal_str")]
    pub quantity: Decimal,
    #[serde(with = "decimal_str")]
    pub entry_price: Decimal,
    #[serde(with = "decimal_str::option")]
    pub break_even_price: Option<Decimal>,
    #[serde(with = "decimal_str")]
    pub unrealized_pnl: Decimal,
    pub leverage: Option<u32>,
    pub margin_type: Option<MarginType>,
    #[serde(with = "decimal_str::option")]
    pub isolated_wallet: Option<Decimal>,
    /// The exchange's time of the report, ms.
    pub updated_at: i64,
}

/// The result of `leverage.set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeverageView {
    pub market: Market,
    pub symbol: Symbol,
    pub leverage: u32,
}

/// The result of `margin_type.set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarginTypeView {
    pub market: Market,
    pub symbol: Symbol,
    pub margin_type: MarginType,
}
