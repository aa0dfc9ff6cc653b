//! `watchlist.add`, `watchlist.remove` and `watchlist.list`, with their parameters and
//! view. Part of [`super`] (the one definition of the control protocol); like it, this
//! file imports only the domain.
//!
//! Times are ms since the Unix epoch, UTC.

use serde::{Deserialize, Serialize};

use super::{MarketSymbolParams, Method};
use crate::domain::{Market, Symbol};

/// `watchlist.add`: watch a symbol listed and trading on the exchange: its 24 h ticker is
/// stored every beat (in the beat's one ticker request), with no klines and no backfill.
/// `symbol.add` of it later starts the rest. Watching a watched symbol changes nothing.
pub struct WatchlistAdd;
impl Method for WatchlistAdd {
    const NAME: &'static str = "watchlist.add";
    type Params = MarketSymbolParams;
    type Result = WatchView;
}

/// `watchlist.remove`: stop watching a symbol (`-32004` when it is not watched); its
/// stored tickers stay, and a symbol registered with `symbol.add` stays followed.
pub struct WatchlistRemove;
impl Method for WatchlistRemove {
    const NAME: &'static str = "watchlist.remove";
    type Params = MarketSymbolParams;
    type Result = WatchView;
}

/// `watchlist.list`: the watched symbols, by market and name.
pub struct WatchlistList;
impl Method for WatchlistList {
    const NAME: &'static str = "watchlist.list";
    type Params = WatchlistListParams;
    type Result = Vec<WatchView>;
}

/// `watchlist.list` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchlistListParams {
    /// Only this market.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
}

/// One watched symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchView {
    pub market: Market,
    pub symbol: Symbol,
    /// When it was added to the watchlist, ms.
    pub added_at: i64,
    /// Whether the beats also follow it (registered with `symbol.add`, active, trading):
    /// then it gets klines and backfill as well.
    pub following: bool,
}
