//! The futures queries of the control socket: `mark_price.list`, `funding_rate.list`,
//! `open_interest.list`, read from the store only (no request to the exchange).

use std::sync::Arc;

use super::{ControlContext, db, not_on_market};
use crate::control::protocol::{
    self, ErrorObject, FundingRateView, FuturesListParams, MarkPriceView, MarketStatusView,
    OpenInterestView, SymbolCountsView, WeightView,
};
use crate::domain::{Market, OPEN_INTEREST_PERIODS};
use crate::store::BEAT_PERIOD;

/// The checked query: the symbol's id, the range and the limit.
struct Query {
    symbol_id: i64,
    start: i64,
    end: i64,
    limit: u32,
}

async fn query(ctx: &ControlContext, p: &FuturesListParams) -> Result<Query, ErrorObject> {
    if p.market == Market::Spot {
        return Err(ErrorObject::invalid_param(
            "market",
            "must be usdm or coinm: futures data exist on the futures markets only",
        ));
    }
    let limit = p.limit.unwrap_or(protocol::KLINE_LIST_DEFAULT_LIMIT);
    if !(1..=protocol::KLINE_LIST_MAX_LIMIT).contains(&limit) {
        return Err(ErrorObject::invalid_param(
            "limit",
            format_args!(
                "must be 1..={}, not {limit}",
                protocol::KLINE_LIST_MAX_LIMIT
            ),
        ));
    }
    let (start, end) = (p.start.unwrap_or(i64::MIN), p.end.unwrap_or(i64::MAX));
    if start > end {
        return Err(ErrorObject::invalid_param(
            "start",
            format_args!("({start}) is after `end` ({end})"),
        ));
    }
    let (name, market) = (p.symbol.clone(), p.market);
    let row = db(&ctx.store, move |s| s.symbol_by_name(market, &name))
        .await?
        .ok_or_else(|| not_on_market(&p.symbol, market))?;
    Ok(Query {
        symbol_id: row.id,
        start,
        end,
        limit,
    })
}

fn no_period(p: &FuturesListParams) -> Result<(), ErrorObject> {
    match &p.period {
        None => Ok(()),
        Some(_) => Err(ErrorObject::invalid_param(
            "period",
            "is taken by open_interest.list only",
        )),
    }
}

/// `mark_price.list`.
pub(super) async fn mark_price_list(
    ctx: Arc<ControlContext>,
    p: FuturesListParams,
) -> Result<Vec<MarkPriceView>, ErrorObject> {
    no_period(&p)?;
    let q = query(&ctx, &p).await?;
    let rows = db(&ctx.store, move |s| {
        s.mark_prices(q.symbol_id, q.start, q.end, q.limit)
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| MarkPriceView {
            time: r.time,
            mark_price: r.mark_price.to_string(),
            index_price: r.index_price.to_string(),
            estimated_settle_price: r.estimated_settle_price.map(|d| d.to_string()),
            funding_rate: r.funding_rate.map(|d| d.to_string()),
            next_funding_time: r.next_funding_time,
        })
        .collect())
}

/// `funding_rate.list`.
pub(super) async fn funding_rate_list(
    ctx: Arc<ControlContext>,
    p: FuturesListParams,
) -> Result<Vec<FundingRateView>, ErrorObject> {
    no_period(&p)?;
    let q = query(&ctx, &p).await?;
    let symbol = p.symbol.clone();
    let rows = db(&ctx.store, move |s| {
        s.funding_rates(&symbol, q.symbol_id, q.start, q.end, q.limit)
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| FundingRateView {
            funding_time: r.funding_time,
            funding_rate: r.funding_rate.to_string(),
            mark_price: r.mark_price.map(|d| d.to_string()),
        })
        .collect())
}

/// `open_interest.list`.
pub(super) async fn open_interest_list(
    ctx: Arc<ControlContext>,
    p: FuturesListParams,
) -> Result<Vec<OpenInterestView>, ErrorObject> {
    let period = p.period.clone().unwrap_or_else(|| BEAT_PERIOD.to_string());
    if period != BEAT_PERIOD && !OPEN_INTEREST_PERIODS.contains(&period.as_str()) {
        return Err(ErrorObject::invalid_param(
            "period",
            format_args!(
                "must be {BEAT_PERIOD} or one of {}, not {period:?}",
                OPEN_INTEREST_PERIODS.join(" ")
            ),
        ));
    }
    let q = query(&ctx, &p).await?;
    let rows = db(&ctx.store, move |s| {
        s.open_interest(q.symbol_id, &period, q.start, q.end, q.limit)
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OpenInterestView {
            period: r.period,
            time: r.time,
            open_interest: r.open_interest.to_string(),
            open_interest_value: r.open_interest_value.map(|d| d.to_string()),
        })
        .collect())
}

/// `status`'s futures markets: symbols, weight used and limit, clock offset, last error.
pub(super) async fn market_status(
    ctx: &ControlContext,
) -> Result<Vec<MarketStatusView>, ErrorObject> {
    let mut out = Vec::new();
    for (client, last_error) in ctx.market_data.futures_status() {
        let market = client.market();
        let counts = db(&ctx.store, move |s| s.symbol_counts(market)).await?;
        let weight = client.weight();
        out.push(MarketStatusView {
            market,
            symbols: SymbolCountsView {
                registered: counts.registered,
                active: counts.active,
                following: counts.following,
            },
            request_weight: WeightView {
                used: weight.used,
                limit: weight.limit,
                window_start: weight.window_start_ms,
            },
            clock_offset_ms: client.clock_offset_ms(),
            last_error,
            user_stream: ctx.futures_user_stream(market),
        });
    }
    Ok(out)
}
