//! The futures queries of the control socket: `mark_price.list`, `funding_rate.list`,
//! `open_interest.list`, read from the store only (no request to the exchange).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::{ControlContext, db, not_on_market};
use crate::control::protocol::{
    self, ErrorObject, FundingRateView, FuturesListParams, HistoryView, MarkPriceView,
    MarketStatusView, OpenInterestView, SymbolCountsView, WeightView,
};
use crate::control::protocol::{ContractView, code};
use crate::domain::{ContractSpec, Market, OPEN_INTEREST_PERIODS, Symbol};
use crate::exchange::MarketClient;
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
        let history = match ctx.backfill.history(market).await {
            Ok(states) => states.iter().map(history_view).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "futures history could not be read for status");
                Vec::new()
            }
        };
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
            history,
            user_stream: ctx.futures_user_stream(market),
        });
    }
    Ok(out)
}

/// A history series' state as the protocol shows it.
pub(super) fn history_view(h: &crate::backfill::history::HistoryState) -> HistoryView {
    HistoryView {
        symbol: h.symbol.clone(),
        series: h.series.clone(),
        rows: h.rows,
        oldest: h.oldest,
        newest: h.newest,
        not_kept: h.not_kept.map(|(a, b)| [a, b]),
        last_error: h.last_error.clone(),
        retry_at: h.retry_at,
    }
}

/// `-32001` for a symbol its futures market's `exchangeInfo` does not list, naming the
/// market.
pub(super) fn not_listed(symbol: &Symbol, market: Market) -> ErrorObject {
    ErrorObject::new(
        code::UNKNOWN_SYMBOL,
        format!("symbol {symbol} is not listed by the exchange on the {market} market"),
    )
    .with_data(json!({ "symbol": symbol, "market": market.as_str() }))
}

/// `symbol.add`'s check of a futures contract against its market's `exchangeInfo` (read
/// just before): a delivery contract past its delivery date, or a contract without a
/// positive size, is refused with `-32002` (not trading). `None` on spot.
pub(super) fn checked_contract(
    ctx: &ControlContext,
    exchange: &MarketClient,
    symbol: &Symbol,
    market: Market,
) -> Result<Option<ContractSpec>, ErrorObject> {
    let Some(spec) = exchange.contract_spec(symbol) else {
        return Ok(None);
    };
    let now = exchange.server_now_ms().max(ctx.clock.now_ms());
    spec.check(now).map_err(|reason| {
        ErrorObject::new(
            code::SYMBOL_NOT_TRADING,
            format!("symbol {symbol} cannot be followed on the {market} market: {reason}"),
        )
        .with_data(json!({
            "symbol": symbol,
            "market": market.as_str(),
            "contract_type": spec.contract_type,
            "delivery_date": spec.delivery_date,
        }))
    })?;
    Ok(Some(spec))
}

/// Stores a just-registered futures symbol's contract spec; returns it as shown. A
/// failed write is logged (the beats write it again at their next `exchangeInfo`).
pub(super) async fn store_contract(
    ctx: &ControlContext,
    market: Market,
    spec: Option<ContractSpec>,
    now: i64,
) -> Option<ContractView> {
    let spec = spec?;
    let view = ContractView::from(&spec);
    let stored = db(&ctx.store, move |s| {
        s.upsert_contract_specs(market, std::slice::from_ref(&spec), now)
    })
    .await;
    if let Err(e) = stored {
        tracing::warn!(market = market.as_str(), error = ?e, "contract spec not stored");
    }
    Some(view)
}

/// `symbol.list`'s futures extras: the stored contract specs and the history backfill's
/// state, by symbol id (empty on spot).
pub(super) async fn symbols_extras(
    ctx: &ControlContext,
    market: Market,
) -> Result<(HashMap<i64, ContractSpec>, HashMap<i64, Vec<HistoryView>>), ErrorObject> {
    if market == Market::Spot {
        return Ok((HashMap::new(), HashMap::new()));
    }
    let specs = db(&ctx.store, move |s| s.contract_specs(market)).await?;
    let mut history: HashMap<i64, Vec<HistoryView>> = HashMap::new();
    match ctx.backfill.history(market).await {
        Ok(states) => {
            for h in &states {
                history
                    .entry(h.symbol_id)
                    .or_default()
                    .push(history_view(h));
            }
        }
        Err(e) => tracing::warn!(error = %e, "futures history could not be read for symbol.list"),
    }
    Ok((specs, history))
}
