//! The handlers of `watchlist.add`, `watchlist.remove` and `watchlist.list`. Registered in
//! [`super::Dispatch::new`]. The beats read the watchlist themselves
//! ([`crate::store::Store::watched_ticker_only`]).

use std::sync::Arc;

use serde_json::json;

use super::{EXCHANGE_INFO_MAX_AGE_MS, db, exchange_error, market_client, spot_only};
use crate::control::ControlContext;
use crate::control::protocol::{
    ErrorObject, MarketSymbolParams, WatchView, WatchlistListParams, code,
};
use crate::domain::SymbolStatus;
use crate::store::SymbolRow;

fn view(row: &SymbolRow, added_at: i64) -> WatchView {
    WatchView {
        market: row.market,
        symbol: row.symbol.clone(),
        added_at,
        following: row.active && row.status == SymbolStatus::Trading.as_str(),
    }
}

/// `watchlist.add`: the symbol must be listed and trading on the exchange (the cached
/// `exchangeInfo`, read again when older than 10 minutes or not listing it).
pub(super) async fn watchlist_add(
    ctx: Arc<ControlContext>,
    p: MarketSymbolParams,
) -> Result<WatchView, ErrorObject> {
    let market = spot_only(p.market)?;
    let exchange = market_client(&ctx, market)?;
    let symbol = p.symbol;
    let info = match exchange
        .cached_exchange_info(EXCHANGE_INFO_MAX_AGE_MS)
        .filter(|info| info.symbol(&symbol).is_some())
    {
        Some(info) => info,
        None => Arc::new(exchange.exchange_info().await.map_err(exchange_error)?),
    };
    let Some(listed) = info.symbol(&symbol).cloned() else {
        return Err(ErrorObject::new(
            code::UNKNOWN_SYMBOL,
            format!("symbol {symbol} is not listed by the exchange on the {market} market"),
        )
        .with_data(json!({ "symbol": symbol, "market": market.as_str() })));
    };
    if listed.status != SymbolStatus::Trading {
        return Err(ErrorObject::new(
            code::SYMBOL_NOT_TRADING,
            format!(
                "symbol {symbol} is not trading on the exchange (status {})",
                listed.status
            ),
        )
        .with_data(json!({ "symbol": symbol, "status": listed.status.as_str() })));
    }
    let now = ctx.clock.now_ms();
    let (row, added_at, _already) =
        db(&ctx.store, move |s| s.watch_symbol(market, &listed, now)).await?;
    tracing::info!(market = market.as_str(), symbol = %row.symbol, "symbol watched");
    Ok(view(&row, added_at))
}

/// `watchlist.remove`: `-32004` when the symbol is not watched.
pub(super) async fn watchlist_remove(
    ctx: Arc<ControlContext>,
    p: MarketSymbolParams,
) -> Result<WatchView, ErrorObject> {
    let market = spot_only(p.market)?;
    let symbol = p.symbol;
    let name = symbol.clone();
    match db(&ctx.store, move |s| s.unwatch_symbol(market, &name)).await? {
        Some((row, added_at)) => Ok(view(&row, added_at)),
        None => Err(ErrorObject::new(
            code::NOT_FOUND,
            format!("symbol {symbol} is not on the {market} watchlist"),
        )
        .with_data(json!({ "symbol": symbol }))),
    }
}

/// `watchlist.list`.
pub(super) async fn watchlist_list(
    ctx: Arc<ControlContext>,
    p: WatchlistListParams,
) -> Result<Vec<WatchView>, ErrorObject> {
    let market = p.market;
    let rows = db(&ctx.store, move |s| s.watchlist(market)).await?;
    Ok(rows.iter().map(|(row, at)| view(row, *at)).collect())
}
