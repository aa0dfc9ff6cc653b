//! One handler per control method, and the [`Dispatch`] table that routes a request line
//! to its handler.
//!
//! A handler is an `async fn(Arc<ControlContext>, M::Params) -> Result<M::Result,
//! ErrorObject>` for a [`Method`] `M` of [`protocol`](super::protocol); registering it in
//! [`Dispatch::new`] is all it takes to serve a new method. The table decodes the parameters (`-32602` naming the bad
//! one), calls the handler and encodes its result.
//!
//! Handlers validate everything before they write, so a refused request leaves nothing
//! behind; each write is one store transaction. Database work runs on the blocking pool
//! ([`Store::run`]), so a slow disk never stalls the connection tasks.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use serde_json::{Value, json};

use super::ControlContext;
use super::actions::{ActionLog, ActionSource, action_row, changes_state};
use super::protocol::ContractView;
use super::protocol::{
    self, BackfillStart, BackfillStartParams, BackfillSummary, BalanceList, BalanceListParams,
    BalanceView, BeatView, ErrorObject, JobView, KlineList, KlineListParams, KlineView, Method,
    NoParams, OrderCancel, OrderGet, OrderList, OrderListParams, OrderPlace, OrderRefParams,
    OrderRequest, OrderView, Response, SeriesView, Status, StatusInfo, SymbolAdd, SymbolAddParams,
    SymbolAdded, SymbolCountsView, SymbolEntry, SymbolList, SymbolListParams, SymbolParams,
    SymbolRemove, SymbolView, SyncNow, SyncNowParams, WeightView, code,
};
use super::protocol::{BackfillWait, BackfillWaitParams};
use super::rate::RequestRate;

mod actions;
mod futures_queries;
mod futures_trading;
mod queries;
mod strategies;
mod watchlist;
use crate::backfill::{BackfillError, JobState};
use crate::domain::JobStatus;
use crate::domain::OrderRef;
use crate::domain::{Interval, Kline, Market, Symbol, SymbolStatus};
use crate::exchange::{ExchangeError, MarketClient};
use crate::orders::{OrderError, OrderFilter};
use crate::store::{BeatTrigger, HeartbeatRow, Registration, Store, StoreError, SymbolRow};

/// A boxed handler: the context, the raw params and the request's action log in, the
/// encoded result out.
type Handler = Box<
    dyn Fn(
            Arc<ControlContext>,
            Option<Value>,
            ActionLog,
        ) -> BoxFuture<'static, Result<Value, ErrorObject>>
        + Send
        + Sync,
>;

/// Where a method name leads.
enum Route {
    /// A method served now.
    Serve(Handler),
    /// A method of the control protocol (README.md, "The protocol") that a later release
    /// serves: answered with `-32007`.
    Planned,
}

/// The method table. Built once, shared by every connection.
pub struct Dispatch {
    routes: HashMap<&'static str, Route>,
}

impl Default for Dispatch {
    fn default() -> Self {
        Dispatch::new()
    }
}

/// The methods that send requests to the exchange: held to a rate per connection
/// ([`Dispatch::handle_line_rated`]).
pub const EXCHANGE_METHODS: [&str; 13] = [
    SymbolAdd::NAME,
    SyncNow::NAME,
    OrderPlace::NAME,
    OrderCancel::NAME,
    OrderGet::NAME,
    protocol::TickerGet::NAME,
    protocol::MarketGet::NAME,
    protocol::OrderCancelAll::NAME,
    protocol::OrderTest::NAME,
    protocol::WatchlistAdd::NAME,
    protocol::PositionList::NAME,
    protocol::LeverageSet::NAME,
    protocol::MarginTypeSet::NAME,
];

/// The longest method name echoed back in a `-32601` error, in bytes.
const MAX_ECHOED_METHOD: usize = 64;

impl Dispatch {
    /// The table of every method served now, plus the planned ones.
    pub fn new() -> Dispatch {
        let mut d = Dispatch {
            routes: HashMap::new(),
        };
        d.register::<Status, _, _>(status);
        d.register::<SymbolAdd, _, _>(symbol_add);
        d.register::<SymbolRemove, _, _>(symbol_remove);
        d.register::<SymbolList, _, _>(symbol_list);
        d.register::<SyncNow, _, _>(sync_now);
        d.register::<BackfillStart, _, _>(backfill_start);
        d.register::<BackfillWait, _, _>(backfill_wait);
        d.register::<KlineList, _, _>(kline_list);
        d.register_logged::<OrderPlace, _, _>(order_place);
        d.register_logged::<OrderCancel, _, _>(order_cancel);
        d.register::<OrderGet, _, _>(order_get);
        d.register::<OrderList, _, _>(order_list);
        d.register::<BalanceList, _, _>(balance_list);
        d.register::<protocol::MarkPriceList, _, _>(futures_queries::mark_price_list);
        d.register::<protocol::FundingRateList, _, _>(futures_queries::funding_rate_list);
        d.register::<protocol::OpenInterestList, _, _>(futures_queries::open_interest_list);
        d.register::<protocol::PnlList, _, _>(pnl_list);
        d.register::<protocol::TickerGet, _, _>(queries::ticker_get);
        d.register::<protocol::MarketGet, _, _>(queries::market_get);
        d.register::<protocol::TradeList, _, _>(queries::trade_list);
        d.register::<protocol::OrderCancelAll, _, _>(queries::order_cancel_all);
        d.register::<protocol::OrderTest, _, _>(queries::order_test);
        d.register::<protocol::StrategyAdd, _, _>(strategies::strategy_add);
        d.register::<protocol::StrategyUpdate, _, _>(strategies::strategy_update);
        d.register::<protocol::StrategyRemove, _, _>(strategies::strategy_remove);
        d.register::<protocol::StrategyList, _, _>(strategies::strategy_list);
        d.register::<protocol::TradeStrategyAdd, _, _>(strategies::trade_strategy_add);
        d.register::<protocol::TradeStrategyRemove, _, _>(strategies::trade_strategy_remove);
        d.register::<protocol::TradeStrategyList, _, _>(strategies::trade_strategy_list);
        d.register::<protocol::StrategyRunList, _, _>(strategies::strategy_run_list);
        d.register::<protocol::Subscribe, _, _>(subscribe_elsewhere);
        d.register::<protocol::ActionList, _, _>(actions::action_list);
        d.register::<protocol::WatchlistAdd, _, _>(watchlist::watchlist_add);
        d.register::<protocol::WatchlistRemove, _, _>(watchlist::watchlist_remove);
        d.register::<protocol::PositionList, _, _>(futures_trading::position_list);
        d.register::<protocol::LeverageSet, _, _>(futures_trading::leverage_set);
        d.register::<protocol::MarginTypeSet, _, _>(futures_trading::margin_type_set);
        d.register::<protocol::WatchlistList, _, _>(watchlist::watchlist_list);
        for name in protocol::PLANNED_METHODS {
            d.routes.insert(name, Route::Planned);
        }
        d
    }

    /// Serves method `M` with `handler`.
    fn register<M, F, Fut>(&mut self, handler: F)
    where
        M: Method,
        F: Fn(Arc<ControlContext>, M::Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<M::Result, ErrorObject>> + Send + 'static,
    {
        self.register_logged::<M, _, _>(move |ctx, params, _log| handler(ctx, params));
    }

    /// [`Dispatch::register`] for a handler that writes its request's `actions` row itself,
    /// in the transaction of its answer ([`ActionLog`]).
    fn register_logged<M, F, Fut>(&mut self, handler: F)
    where
        M: Method,
        F: Fn(Arc<ControlContext>, M::Params, ActionLog) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<M::Result, ErrorObject>> + Send + 'static,
    {
        let boxed: Handler =
            Box::new(
                move |ctx, params, log| match protocol::decode_params::<M::Params>(params) {
                    Err(e) => futures::future::ready(Err(e)).boxed(),
                    Ok(params) => {
                        let call = handler(ctx, params, log);
                        async move {
                            let result = call.await?;
                            serde_json::to_value(result).map_err(|e| {
                                ErrorObject::internal(format!("result could not be encoded: {e}"))
                            })
                        }
                        .boxed()
                    }
                },
            );
        self.routes.insert(M::NAME, Route::Serve(boxed));
    }

    /// Answers one request line (without its `\n`): decodes it, runs its method, and
    /// returns the response. Never fails: every problem is an error response. A
    /// state-changing request is logged with source `daemon`; transports name theirs with
    /// [`Dispatch::handle_line_from`].
    pub async fn handle_line(&self, ctx: &Arc<ControlContext>, line: &[u8]) -> Response {
        self.handle(ctx, line, None, &ActionSource::Daemon).await
    }

    /// As [`Dispatch::handle_line`], logging a state-changing request as made by `source`.
    pub async fn handle_line_from(
        &self,
        ctx: &Arc<ControlContext>,
        line: &[u8],
        source: &ActionSource,
    ) -> Response {
        self.handle(ctx, line, None, source).await
    }

    /// As [`Dispatch::handle_line`], for a connection whose requests that reach the
    /// exchange ([`EXCHANGE_METHODS`]) are held to `rate`: beyond it, the request is
    /// answered `-32008` with `data.retry_after_ms` and not run.
    pub async fn handle_line_rated(
        &self,
        ctx: &Arc<ControlContext>,
        line: &[u8],
        rate: &Mutex<RequestRate>,
    ) -> Response {
        self.handle(ctx, line, Some(rate), &ActionSource::Daemon)
            .await
    }

    /// [`Dispatch::handle_line_rated`] for requests made by `source` (the socket passes
    /// `ctl` with the peer's uid, the HTTP server `http`).
    pub async fn handle_line_rated_from(
        &self,
        ctx: &Arc<ControlContext>,
        line: &[u8],
        rate: &Mutex<RequestRate>,
        source: &ActionSource,
    ) -> Response {
        self.handle(ctx, line, Some(rate), source).await
    }

    /// Calls `method` with `params` (a JSON object, or `None` for none) on behalf of
    /// `source`, as a request line would, without the JSON-RPC envelope: the result, or the
    /// error a client would get. A state-changing call leaves its `actions` row like any
    /// other: a strategy runner calls `order.place` here with
    /// [`ActionSource::Strategy`] to have its orders logged as `strategy:<slug>`.
    pub async fn call_as(
        &self,
        ctx: &Arc<ControlContext>,
        method: &str,
        params: Option<Value>,
        source: &ActionSource,
    ) -> Result<Value, ErrorObject> {
        self.dispatch(ctx, method.to_string(), params, None, source)
            .await
    }

    async fn handle(
        &self,
        ctx: &Arc<ControlContext>,
        line: &[u8],
        rate: Option<&Mutex<RequestRate>>,
        source: &ActionSource,
    ) -> Response {
        let request = match protocol::decode_request(line) {
            Ok(request) => request,
            Err(e) => {
                tracing::debug!(code = e.error.code, error = %e.error.message, "bad request line");
                return e.into_response();
            }
        };
        let id = request.id;
        match self
            .dispatch(ctx, request.method, request.params, rate, source)
            .await
        {
            Ok(result) => Response::result(id, result),
            Err(error) => Response::error(id, error),
        }
    }

    /// Runs one decoded request and, when its method is served and changes state, appends
    /// its `actions` row (whatever the outcome) before answering. A row that cannot be
    /// written is reported in the daemon's log; the answer stands.
    async fn dispatch(
        &self,
        ctx: &Arc<ControlContext>,
        method: String,
        params: Option<Value>,
        rate: Option<&Mutex<RequestRate>>,
        source: &ActionSource,
    ) -> Result<Value, ErrorObject> {
        let logged = changes_state(&method)
            && matches!(self.routes.get(method.as_str()), Some(Route::Serve(_)));
        if !logged {
            return self
                .run(ctx, method, params, rate, ActionLog::default())
                .await;
        }
        let time = ctx.clock.now_ms();
        let kept = params.clone();
        let name = method.clone();
        let log = ActionLog::new(action_row(time, source, &name, kept.as_ref(), Ok(())));
        let outcome = self.run(ctx, method, params, rate, log.clone()).await;
        if log.take().is_none() {
            // The handler wrote the success row with its answer.
            if outcome.is_err() {
                tracing::warn!(method = %name, "answered with an error after its action row was written as a success");
            }
            return outcome;
        }
        let row = action_row(
            time,
            source,
            &name,
            kept.as_ref(),
            outcome.as_ref().map(|_| ()),
        );
        if let Err(e) = ctx.store.run(move |s| s.insert_action(&row)).await {
            tracing::warn!(method = %name, error = %e, "the action log row could not be written");
        }
        outcome
    }

    /// Runs one decoded request: the connection's rate, then the method's handler.
    async fn run(
        &self,
        ctx: &Arc<ControlContext>,
        method: String,
        params: Option<Value>,
        rate: Option<&Mutex<RequestRate>>,
        log: ActionLog,
    ) -> Result<Value, ErrorObject> {
        let rate = rate.filter(|_| EXCHANGE_METHODS.contains(&method.as_str()));
        if let Some(rate) = rate {
            let mut rate = rate.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(retry_after_ms) = rate.take() {
                tracing::debug!(method = %method, retry_after_ms,
                    "request refused: this connection's exchange request rate is spent");
                return Err(ErrorObject::new(
                    code::SERVER_BUSY,
                    format!(
                        "too many requests to the exchange on this connection (one per {} ms once the burst is used): retry after {retry_after_ms} ms",
                        rate.period().as_millis()
                    ),
                )
                .with_data(json!({ "retry_after_ms": retry_after_ms })));
            }
        }
        match self.routes.get(method.as_str()) {
            Some(Route::Serve(handler)) => match handler(Arc::clone(ctx), params, log).await {
                Ok(result) => Ok(result),
                Err(error) => {
                    tracing::debug!(method = %method, code = error.code,
                            error = %error.message, "request refused");
                    if error.code == code::INVALID_PARAMS
                        && let Some(rate) = rate
                    {
                        // Refused for its parameters: it never reached the exchange.
                        rate.lock().unwrap_or_else(PoisonError::into_inner).refund();
                    }
                    Err(error)
                }
            },
            Some(Route::Planned) => Err(ErrorObject::new(
                code::NOT_AVAILABLE,
                format!("method {method} is not available in this release"),
            )
            .with_data(json!({ "method": method }))),
            None => {
                let mut name = method;
                if name.len() > MAX_ECHOED_METHOD {
                    let mut cut = MAX_ECHOED_METHOD;
                    while !name.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    name.truncate(cut);
                }
                Err(ErrorObject::new(
                    code::METHOD_NOT_FOUND,
                    format!(
                        "method not found: {name:?}; methods are {}",
                        protocol::METHODS.join(", ")
                    ),
                )
                .with_data(json!({ "method": name })))
            }
        }
    }
}

/// `subscribe` through the dispatcher (HTTP `/rpc`): refused, since only a connection
/// that stays open can receive notifications. The control socket answers it before the
/// dispatcher (`control/subscribe.rs`).
async fn subscribe_elsewhere(
    _ctx: Arc<ControlContext>,
    _params: protocol::SubscribeParams,
) -> Result<protocol::Subscribed, ErrorObject> {
    Err(ErrorObject::new(
        code::NOT_AVAILABLE,
        "subscribe is served on the control socket only (a connection that stays open)",
    ))
}

/// One manual beat shared by every `sync.now` that arrives while it runs.
type SharedBeat = Shared<BoxFuture<'static, HeartbeatRow>>;

/// Coalesces concurrent `sync.now` calls: while a manual beat runs, further calls wait for
/// it and share its row instead of queueing beats of their own. So however many clients
/// ask at once, at most one manual beat waits for the beat lock, and a burst of requests
/// cannot push the scheduled beats back by more than one beat.
#[derive(Default)]
pub(crate) struct ManualBeats {
    inflight: Mutex<Option<SharedBeat>>,
}

impl ManualBeats {
    /// Runs a manual beat, or joins the one running; returns its row. A new manual beat
    /// first counts a beat's request weight against the control share: when that share
    /// is spent, `-32006` with `data.retry_after_ms`, and no beat runs (the weight kept for
    /// the scheduled beats stays theirs). Joining a running one costs nothing.
    async fn run(&self, ctx: &ControlContext) -> Result<HeartbeatRow, ErrorObject> {
        let beat = {
            let mut slot = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            match slot.as_ref() {
                Some(beat) if beat.peek().is_none() => beat.clone(),
                _ => {
                    ctx.exchange
                        .prepay_control(ctx.market_data.beat_weight())
                        .map_err(exchange_error)?;
                    let market_data = Arc::clone(&ctx.market_data);
                    let clock = ctx.clock.clone();
                    let beat = async move {
                        market_data
                            .beat(clock.now_ms(), BeatTrigger::Manual, 0)
                            .await
                    }
                    .boxed()
                    .shared();
                    *slot = Some(beat.clone());
                    beat
                }
            }
        };
        let row = beat.clone().await;
        let mut slot = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|b| b.ptr_eq(&beat)) {
            *slot = None;
        }
        Ok(row)
    }
}

// ---------------------------------------------------------------------------------------
// The handlers, in the order of README.md's method table ("The protocol").

/// `status`.
async fn status(ctx: Arc<ControlContext>, _: NoParams) -> Result<StatusInfo, ErrorObject> {
    let heartbeat = ctx.heartbeat.borrow().clone();
    let counts = db(&ctx.store, |s| s.symbol_counts(Market::Spot)).await?;
    let backfill = match ctx.backfill.jobs(None).await {
        Ok(jobs) => summarize(&jobs),
        Err(e) => {
            tracing::warn!(error = %e, "backfill jobs could not be read for status");
            BackfillSummary::default()
        }
    };
    let weight = ctx.exchange.weight();
    Ok(StatusInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        now: ctx.clock.now_ms(),
        started_at: ctx.started_at_ms,
        uptime_secs: ctx.started.elapsed().as_secs(),
        network: ctx.config.exchange.network,
        rest_url: ctx.exchange.rest_url().to_string(),
        database: ctx.store.path().display().to_string(),
        last_beat: heartbeat.last.as_ref().map(beat_view),
        next_beat_time: heartbeat.next_beat_time,
        symbols: SymbolCountsView {
            registered: counts.registered,
            active: counts.active,
            following: counts.following,
        },
        backfill,
        request_weight: WeightView {
            used: weight.used,
            limit: weight.limit,
            window_start: weight.window_start_ms,
        },
        clock_offset_ms: ctx.exchange.clock_offset_ms(),
        user_stream: ctx.user_stream.status(),
        futures: futures_queries::market_status(&ctx).await?,
        paper: ctx.config.paper.enabled,
    })
}

/// The most days of history a symbol may ask for (about ten years).
const MAX_BACKFILL_DAYS: u32 = 3650;

/// How old a cached `exchangeInfo` `symbol.add` validates against may be, ms.
const EXCHANGE_INFO_MAX_AGE_MS: i64 = 10 * 60_000;

/// `symbol.add`: validate, check the exchange, register, start the backfill.
async fn symbol_add(
    ctx: Arc<ControlContext>,
    p: SymbolAddParams,
) -> Result<SymbolAdded, ErrorObject> {
    let market = p.market.unwrap_or(Market::Spot);
    let exchange = market_client(&ctx, market)?;
    if let Some(intervals) = &p.intervals {
        if intervals.is_empty() {
            return Err(ErrorObject::invalid_param(
                "intervals",
                "must name at least one interval (or be left out to follow the config)",
            ));
        }
        let mut seen = HashSet::new();
        if let Some(twice) = intervals.iter().find(|i| !seen.insert(**i)) {
            return Err(ErrorObject::invalid_param(
                "intervals",
                format_args!("names {twice} twice"),
            ));
        }
    }
    if let Some(days) = p.backfill_days
        && !(1..=MAX_BACKFILL_DAYS).contains(&days)
    {
        return Err(ErrorObject::invalid_param(
            "backfill_days",
            format_args!("must be 1..={MAX_BACKFILL_DAYS} days, not {days}"),
        ));
    }
    let symbol = p.symbol;
    // Refuse a registered symbol before spending exchangeInfo's weight on it.
    let name = symbol.clone();
    if let Some(row) = db(&ctx.store, move |s| s.symbol_by_name(market, &name)).await?
        && row.active
    {
        return Err(already_registered(&row));
    }
    // The cached exchangeInfo (the beats read it at start and hourly) unless it is older
    // than 10 minutes or does not list the symbol: then read again (weight 20; refused at
    // once with -32006 when the control share of the weight is spent).
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
    let contract = futures_queries::checked_contract(&ctx, &exchange, &symbol, market)?;
    let now = ctx.clock.now_ms();
    let intervals = p.intervals;
    let days = p.backfill_days;
    let registration = db(&ctx.store, move |s| {
        s.register_symbol(market, &listed, intervals.as_deref(), days, now)
    })
    .await?;
    let row = match registration {
        Registration::Registered(row) => row,
        Registration::AlreadyActive(row) => return Err(already_registered(&row)),
    };
    let contract = futures_queries::store_contract(&ctx, market, contract, now).await;
    // A futures symbol puts its market in use: its orders and user-data stream start.
    if let Some(orders) = ctx.futures_orders(market) {
        orders.mark_in_use();
    }
    tracing::info!(market = market.as_str(), symbol = %row.symbol, id = row.id,
        "symbol registered on the control socket");
    // Every market is backfilled (futures through their own clients and budgets).
    let started = ctx.backfill.start(row.id, None, None).await;
    let (backfill, backfill_error) = match started {
        Ok(jobs) => (jobs.iter().map(JobView::from).collect(), None),
        Err(e) => {
            tracing::warn!(symbol = %row.symbol, error = %e, "backfill did not start");
            (Vec::new(), Some(backfill_error(e)))
        }
    };
    Ok(SymbolAdded {
        symbol: SymbolView {
            contract,
            ..symbol_view(&ctx, &row)
        },
        backfill,
        backfill_error,
    })
}

/// `symbol.remove`: deactivate (data stay) and stop its backfill jobs.
async fn symbol_remove(
    ctx: Arc<ControlContext>,
    p: SymbolParams,
) -> Result<SymbolView, ErrorObject> {
    let market = p.market.unwrap_or(Market::Spot);
    let now = ctx.clock.now_ms();
    let name = p.symbol.clone();
    let row = db(&ctx.store, move |s| s.deactivate_symbol(market, &name, now))
        .await?
        .ok_or_else(|| match market {
            Market::Spot => ErrorObject::not_found(&p.symbol, "not registered"),
            _ => not_on_market(&p.symbol, market),
        })?;
    match ctx.backfill.stop(row.id).await {
        Ok(()) => {}
        // No backfill component (yet, or any more): there are no jobs to stop.
        Err(BackfillError::NotRunning) => {
            tracing::debug!(symbol = %row.symbol, "backfill not running; no jobs to stop");
        }
        Err(e) => tracing::warn!(symbol = %row.symbol, error = %e, "backfill jobs not stopped"),
    }
    tracing::info!(symbol = %row.symbol, id = row.id, "symbol removed on the control socket; its data stay");
    Ok(symbol_view(&ctx, &row))
}

/// `symbol.list`.
async fn symbol_list(
    ctx: Arc<ControlContext>,
    p: SymbolListParams,
) -> Result<Vec<SymbolEntry>, ErrorObject> {
    let active = p.active;
    let market = p.market.unwrap_or(Market::Spot);
    let series = db(&ctx.store, move |s| s.symbol_series(market, active)).await?;
    let (contracts, history) = futures_queries::symbols_extras(&ctx, market).await?;
    let jobs = match ctx.backfill.jobs(None).await {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::warn!(error = %e, "backfill jobs could not be read for symbol.list");
            Vec::new()
        }
    };
    let mut by_symbol: HashMap<i64, Vec<JobState>> = HashMap::new();
    for job in jobs {
        by_symbol.entry(job.job.symbol_id).or_default().push(job);
    }
    Ok(series
        .into_iter()
        .map(|s| SymbolEntry {
            last_kline_time: s.newest.iter().map(|(_, t)| *t).max(),
            newest: s
                .newest
                .iter()
                .map(|&(interval, open_time)| SeriesView {
                    interval,
                    open_time,
                })
                .collect(),
            backfill: by_symbol.get(&s.row.id).map(|jobs| summarize(jobs)),
            history: history.get(&s.row.id).cloned().unwrap_or_default(),
            symbol: SymbolView {
                contract: contracts.get(&s.row.id).map(ContractView::from),
                ..symbol_view(&ctx, &s.row)
            },
        })
        .collect())
}

/// `sync.now`: one manual beat (shared with concurrent callers), serialized with the
/// scheduled beats by the market-data beat lock; the schedule is not touched.
async fn sync_now(ctx: Arc<ControlContext>, p: SyncNowParams) -> Result<BeatView, ErrorObject> {
    if let Some(symbol) = p.symbol {
        let row = active_symbol(&ctx, &symbol).await?;
        if row.status != SymbolStatus::Trading.as_str() {
            return Err(ErrorObject::new(
                code::SYMBOL_NOT_TRADING,
                format!(
                    "symbol {symbol} is not trading on the exchange (status {}); beats skip it",
                    row.status
                ),
            )
            .with_data(json!({ "symbol": symbol, "status": row.status })));
        }
    }
    let row = ctx.manual_beats.run(&ctx).await?;
    tracing::info!(
        beat_time = row.beat_time,
        symbols_ok = row.symbols_ok,
        symbols_failed = row.symbols_failed,
        "manual beat on the control socket"
    );
    Ok(beat_view(&row))
}

/// `backfill.start`.
async fn backfill_start(
    ctx: Arc<ControlContext>,
    p: BackfillStartParams,
) -> Result<Vec<JobView>, ErrorObject> {
    let row = active_symbol_on(&ctx, &p.symbol, p.market.unwrap_or(Market::Spot)).await?;
    if let Some(interval) = p.interval {
        let followed = effective_intervals(&ctx, &row);
        if !followed.contains(&interval) {
            return Err(ErrorObject::invalid_param(
                "interval",
                format_args!(
                    "{interval} is not one of {}'s intervals ({})",
                    row.symbol,
                    join(&followed)
                ),
            ));
        }
    }
    if let Some(from) = p.from {
        let now = ctx.clock.now_ms();
        if !(0..=now).contains(&from) {
            return Err(ErrorObject::invalid_param(
                "from",
                format_args!("must be a past time in ms since the epoch, not {from}"),
            ));
        }
    }
    let jobs = ctx
        .backfill
        .start(row.id, p.interval, p.from)
        .await
        .map_err(backfill_error)?;
    tracing::info!(symbol = %row.symbol, jobs = jobs.len(), "backfill started on the control socket");
    Ok(jobs.iter().map(JobView::from).collect())
}

/// The longest `backfill.wait`, ms.
const MAX_BACKFILL_WAIT_MS: u64 = 60_000;

/// `backfill.wait`: the symbol's jobs summed up once they have all ended, or at the
/// timeout; woken by the backfill each time a job ends (never a poll).
async fn backfill_wait(
    ctx: Arc<ControlContext>,
    p: BackfillWaitParams,
) -> Result<BackfillSummary, ErrorObject> {
    let timeout_ms = p.timeout_ms.unwrap_or(1_000);
    if timeout_ms > MAX_BACKFILL_WAIT_MS {
        return Err(ErrorObject::invalid_param(
            "timeout_ms",
            format_args!("must be 0..={MAX_BACKFILL_WAIT_MS} ms, not {timeout_ms}"),
        ));
    }
    let row = active_symbol_on(&ctx, &p.symbol, p.market.unwrap_or(Market::Spot)).await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
    let mut ends = ctx.backfill.job_ends();
    loop {
        ends.borrow_and_update();
        let jobs = ctx
            .backfill
            .jobs(Some(row.id))
            .await
            .map_err(backfill_error)?;
        let summary = summarize(&jobs);
        if summary.done + summary.failed + summary.stopped >= summary.jobs {
            return Ok(summary);
        }
        tokio::select! {
            changed = ends.changed() => {
                if changed.is_err() {
                    // The backfill has stopped: nothing will end any more.
                    return Ok(summary);
                }
            }
            () = tokio::time::sleep_until(deadline) => return Ok(summary),
        }
    }
}

/// `kline.list`.
async fn kline_list(
    ctx: Arc<ControlContext>,
    p: KlineListParams,
) -> Result<Vec<KlineView>, ErrorObject> {
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
    if let (Some(start), Some(end)) = (p.start, p.end)
        && start > end
    {
        return Err(ErrorObject::invalid_param(
            "start",
            format_args!("({start}) is after `end` ({end})"),
        ));
    }
    let name = p.symbol.clone();
    let market = p.market.unwrap_or(Market::Spot);
    let row = db(&ctx.store, move |s| s.symbol_by_name(market, &name))
        .await?
        .ok_or_else(|| match market {
            Market::Spot => ErrorObject::not_found(&p.symbol, "not registered"),
            _ => not_on_market(&p.symbol, market),
        })?;
    let (interval, start, end) = (p.interval, p.start, p.end.unwrap_or(i64::MAX));
    let klines = db(&ctx.store, move |s| match start {
        Some(start) => s.klines(row.id, interval, start, end, limit),
        None => s.latest_klines(row.id, interval, end, limit),
    })
    .await?;
    Ok(klines.iter().map(kline_view).collect())
}

/// `order.place`: the orders component does the work (rules, pending row, one request).
/// The request's `actions` row is written in the transaction that records the exchange's
/// answer (when the order is placed and its answer stored).
async fn order_place(
    ctx: Arc<ControlContext>,
    p: OrderRequest,
    log: ActionLog,
) -> Result<OrderView, ErrorObject> {
    futures_trading::check_market_fields(&p)?;
    futures_trading::check_paper_order(&ctx, &p)?;
    let orders = futures_trading::orders_for(&ctx, Some(p.market))?;
    let mut action = log.take();
    let placed = orders.place_logged(p, &mut action).await;
    log.put_back(action);
    placed.map(|row| OrderView::from(&row)).map_err(order_error)
}

/// `order.cancel`.
/// The request's `actions` row is written in the transaction that records the exchange's
/// answer (when the cancel succeeds and its answer is stored).
async fn order_cancel(
    ctx: Arc<ControlContext>,
    p: OrderRefParams,
    log: ActionLog,
) -> Result<OrderView, ErrorObject> {
    let which = order_ref(&p)?;
    let orders = futures_trading::orders_for(&ctx, p.market)?;
    let mut action = log.take();
    let cancelled = orders.cancel_logged(&p.symbol, &which, &mut action).await;
    log.put_back(action);
    cancelled
        .map(|row| OrderView::from(&row))
        .map_err(order_error)
}

/// `order.get`.
async fn order_get(ctx: Arc<ControlContext>, p: OrderRefParams) -> Result<OrderView, ErrorObject> {
    let which = order_ref(&p)?;
    futures_trading::orders_for(&ctx, p.market)?
        .get(&p.symbol, &which)
        .await
        .map(|row| OrderView::from(&row))
        .map_err(order_error)
}

/// `order.list`: from the database, newest first.
async fn order_list(
    ctx: Arc<ControlContext>,
    p: OrderListParams,
) -> Result<Vec<OrderView>, ErrorObject> {
    if p.live == Some(true) {
        return queries::order_list_live(ctx, p).await;
    }
    let limit = p.limit.unwrap_or(protocol::ORDER_LIST_DEFAULT_LIMIT);
    if !(1..=protocol::ORDER_LIST_MAX_LIMIT).contains(&limit) {
        return Err(ErrorObject::invalid_param(
            "limit",
            format_args!(
                "must be 1..={}, not {limit}",
                protocol::ORDER_LIST_MAX_LIMIT
            ),
        ));
    }
    let orders = futures_trading::orders_for_list(&ctx, p.market)?;
    let filter = OrderFilter {
        market: p.market,
        symbol: p.symbol,
        open: p.open.unwrap_or(false),
        limit,
    };
    orders
        .list(filter)
        .await
        .map(|rows| rows.iter().map(OrderView::from).collect())
        .map_err(order_error)
}

/// `balance.list`: the spot balances from the database, by asset; `asset` picks one
/// (`-32602` when it is not 1 to 20 letters or digits). An asset never reported gives an
/// empty list.
async fn balance_list(
    ctx: Arc<ControlContext>,
    p: BalanceListParams,
) -> Result<Vec<BalanceView>, ErrorObject> {
    let asset = match p.asset {
        Some(a) => {
            let valid = (1..=20).contains(&a.len()) && a.bytes().all(|b| b.is_ascii_alphanumeric());
            if !valid {
                return Err(ErrorObject::invalid_param(
                    "asset",
                    format_args!("must be 1 to 20 letters or digits (e.g. BTC), not {a:?}"),
                ));
            }
            Some(a.to_ascii_uppercase())
        }
        None => None,
    };
    let mut rows = db(&ctx.store, |s| s.balances(Market::Spot)).await?;
    if let Some(asset) = asset {
        rows.retain(|b| b.asset == asset);
    }
    Ok(rows.iter().map(BalanceView::from).collect())
}

/// `pnl.list`: the stored fills of each (market, symbol) through `domain::pnl::pnl_of_market`.
async fn pnl_list(
    ctx: Arc<ControlContext>,
    p: protocol::PnlListParams,
) -> Result<Vec<protocol::PnlView>, ErrorObject> {
    let entries = db(&ctx.store, move |s| {
        s.fills_for_pnl(p.market, p.symbol.as_ref())
    })
    .await?;
    Ok(entries.into_iter().map(super::views::pnl_view).collect())
}

// ---------------------------------------------------------------------------------------
// Helpers: lookups, conversions to the wire types, error mapping.

/// The order `order_id` or `client_order_id` names; `-32602` naming both when neither is
/// given.
fn order_ref(p: &OrderRefParams) -> Result<OrderRef, ErrorObject> {
    OrderRef::from_parts(p.order_id, p.client_order_id.clone()).ok_or_else(|| {
        ErrorObject::new(
            code::INVALID_PARAMS,
            "invalid params: give `order_id` or `client_order_id` to name the order",
        )
        .with_data(json!({ "param": "order_id", "params": ["order_id", "client_order_id"] }))
    })
}

/// An orders failure as a control error (README.md's error table):
/// - a rule violation, an unknown symbol, a client order id in use: `-32602`, `data`
///   naming the `param`, the `rule` (filter) and the `nearest` valid values;
/// - the exchange's rejection: `-32005` with Binance's `code` and `msg`, the
///   `http_status` and the stored `order`;
/// - an unknown outcome: `-32009` with the stored `order` (being reconciled);
/// - the order-rate limit: `-32006` with `retry_after_ms`;
/// - no such order (whatever the method): `-32004` with the order asked for and the
///   exchange's `code` and `msg`; no credentials: `-32010`; the database: `-32603`.
fn order_error(e: OrderError) -> ErrorObject {
    let message = e.to_string();
    match e {
        OrderError::NoCredentials => ErrorObject::new(code::NO_CREDENTIALS, message).with_data(
            json!({ "env": ["TRADEBEAT_EXCHANGE__API_KEY", "TRADEBEAT_EXCHANGE__API_SECRET"],
                    "config": ["exchange.api_key_file", "exchange.api_secret_file"] }),
        ),
        OrderError::Rule(v) => ErrorObject::new(
            code::INVALID_PARAMS,
            format!("invalid params: {message}"),
        )
        .with_data(json!({
            "param": v.param,
            "rule": v.rule,
            "nearest": v.nearest.iter().map(|d| d.normalize().to_string()).collect::<Vec<_>>(),
        })),
        OrderError::UnknownSymbol(symbol) => ErrorObject::new(
            code::INVALID_PARAMS,
            format!("invalid params: `symbol` {message}"),
        )
        .with_data(json!({ "param": "symbol", "symbol": symbol })),
        OrderError::DuplicateClientOrderId { existing } => ErrorObject::new(
            code::INVALID_PARAMS,
            format!("invalid params: `client_order_id` {message}; nothing was sent"),
        )
        .with_data(json!({ "param": "client_order_id", "order": OrderView::from(&*existing) })),
        OrderError::NotFound {
            symbol,
            which,
            code: binance_code,
            msg,
        } => {
            let (key, value) = match &which {
                OrderRef::OrderId(id) => ("order_id", json!(id)),
                OrderRef::ClientOrderId(c) => ("client_order_id", json!(c)),
            };
            ErrorObject::new(code::NOT_FOUND, message).with_data(
                json!({ "symbol": symbol, key: value, "code": binance_code, "msg": msg }),
            )
        }
        OrderError::Rejected {
            code: binance_code,
            msg,
            http_status,
            order,
        } => ErrorObject::new(code::EXCHANGE_REJECTED, message).with_data(json!({
            "code": binance_code,
            "msg": msg,
            "http_status": http_status,
            "order": order.as_deref().map(OrderView::from),
        })),
        OrderError::OutcomeUnknown { order, detail } => {
            ErrorObject::new(code::ORDER_OUTCOME_UNKNOWN, message)
                .with_data(json!({ "order": OrderView::from(&*order), "detail": detail }))
        }
        OrderError::RateLimited { retry_after_ms, .. } => {
            ErrorObject::new(code::EXCHANGE_UNAVAILABLE, message)
                .with_data(json!({ "retry_after_ms": retry_after_ms }))
        }
        OrderError::Exchange(e) => exchange_error(e),
        OrderError::Store(e) => {
            tracing::error!(error = %e, "database failed on an order request");
            ErrorObject::internal(message)
        }
    }
}

/// Runs store work on the blocking pool; a failure is an internal error (and logged).
async fn db<R: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, ErrorObject> {
    store.run(f).await.map_err(|e| {
        tracing::error!(error = %e, "database failed on a control request");
        ErrorObject::internal(e.to_string())
    })
}

/// The row of a registered, active symbol, else `-32004`.
async fn active_symbol(ctx: &ControlContext, symbol: &Symbol) -> Result<SymbolRow, ErrorObject> {
    let name = symbol.clone();
    match db(&ctx.store, move |s| s.symbol_by_name(Market::Spot, &name)).await? {
        Some(row) if row.active => Ok(row),
        Some(_) => Err(ErrorObject::not_found(
            symbol,
            "removed; add it again with symbol.add",
        )),
        None => Err(ErrorObject::not_found(symbol, "not registered")),
    }
}

/// The active registered `symbol` of `market`: -32001 when it is not registered there.
async fn active_symbol_on(
    ctx: &ControlContext,
    symbol: &Symbol,
    market: Market,
) -> Result<SymbolRow, ErrorObject> {
    if market == Market::Spot {
        return active_symbol(ctx, symbol).await;
    }
    let name = symbol.clone();
    match db(&ctx.store, move |s| s.symbol_by_name(market, &name)).await? {
        Some(row) if row.active => Ok(row),
        _ => Err(not_on_market(symbol, market)),
    }
}

/// The market-data client of `market` (its control handle): spot's, or the futures
/// market's part of the beats.
fn market_client(ctx: &ControlContext, market: Market) -> Result<MarketClient, ErrorObject> {
    if market == Market::Spot {
        return Ok(ctx.exchange.clone());
    }
    ctx.market_data
        .futures_exchanges()
        .find(|c| c.market() == market)
        .map(MarketClient::control)
        .ok_or_else(|| {
            ErrorObject::not_available(format_args!("the {market} market"))
                .with_data(json!({ "param": "market" }))
        })
}

/// The market of a method that serves only spot yet (`-32007` for another).
fn spot_only(market: Option<Market>) -> Result<Market, ErrorObject> {
    match market.unwrap_or(Market::Spot) {
        Market::Spot => Ok(Market::Spot),
        other => Err(
            ErrorObject::not_available(format_args!("the {other} market"))
                .with_data(json!({ "param": "market" })),
        ),
    }
}

/// `-32001` for a symbol not registered on `market`, naming the market.
fn not_on_market(symbol: &Symbol, market: Market) -> ErrorObject {
    ErrorObject::new(
        code::UNKNOWN_SYMBOL,
        format!("symbol {symbol} is not registered on the {market} market"),
    )
    .with_data(json!({ "symbol": symbol, "market": market.as_str() }))
}

fn already_registered(row: &SymbolRow) -> ErrorObject {
    ErrorObject::new(
        code::ALREADY_REGISTERED,
        format!("symbol {} is already registered", row.symbol),
    )
    .with_data(json!({ "symbol": row.symbol, "id": row.id }))
}

fn effective_intervals(ctx: &ControlContext, row: &SymbolRow) -> Vec<Interval> {
    row.intervals
        .clone()
        .unwrap_or_else(|| ctx.config.market_data.intervals.clone())
}

fn join(intervals: &[Interval]) -> String {
    intervals
        .iter()
        .map(|i| i.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn symbol_view(ctx: &ControlContext, row: &SymbolRow) -> SymbolView {
    SymbolView {
        id: row.id,
        market: row.market,
        symbol: row.symbol.clone(),
        base_asset: row.base_asset.clone(),
        quote_asset: row.quote_asset.clone(),
        status: row.status.clone(),
        active: row.active,
        intervals: effective_intervals(ctx, row),
        own_intervals: row.intervals.is_some(),
        backfill_days: row
            .backfill_days
            .unwrap_or(ctx.config.market_data.backfill_days),
        added_at: row.added_at,
        updated_at: row.updated_at,
        contract: None,
    }
}

pub(super) fn beat_view(row: &HeartbeatRow) -> BeatView {
    BeatView {
        beat_time: row.beat_time,
        started_at: row.started_at,
        finished_at: row.finished_at,
        symbols_ok: row.symbols_ok,
        symbols_failed: row.symbols_failed,
        klines_written: row.klines_written,
        skipped_before: row.skipped_before,
        trigger: match row.trigger {
            BeatTrigger::Schedule => "schedule",
            BeatTrigger::Manual => "manual",
            BeatTrigger::Startup => "startup",
        }
        .to_string(),
        error: row.error.clone(),
    }
}

/// Sums jobs up: counts per state, mean progress, rows, and the longest ETA of the
/// running ones.
fn summarize(jobs: &[JobState]) -> BackfillSummary {
    let mut s = BackfillSummary {
        jobs: u32::try_from(jobs.len()).unwrap_or(u32::MAX),
        ..BackfillSummary::default()
    };
    for state in jobs {
        let job = &state.job;
        match job.status {
            JobStatus::Pending => s.pending += 1,
            JobStatus::Running => s.running += 1,
            JobStatus::Done => s.done += 1,
            JobStatus::Failed => s.failed += 1,
            JobStatus::Stopped => s.stopped += 1,
        }
        s.rows_written = s.rows_written.saturating_add(job.rows_written);
        if job.status == JobStatus::Running {
            s.eta_secs = s.eta_secs.max(state.eta_secs);
        }
    }
    if !jobs.is_empty() {
        let total: f64 = jobs.iter().map(|j| j.percent.clamp(0.0, 100.0)).sum();
        s.percent = total / jobs.len() as f64;
    }
    s
}

/// A stored price or volume as a decimal string: the shortest text that reads back as the
/// same number (`43210.5`, `0.00012`), never in exponent notation.
fn decimal(x: f64) -> String {
    format!("{x}")
}

pub(super) fn kline_view(k: &Kline) -> KlineView {
    KlineView {
        open_time: k.open_time,
        close_time: k.close_time,
        open: decimal(k.open),
        high: decimal(k.high),
        low: decimal(k.low),
        close: decimal(k.close),
        volume: decimal(k.volume),
        quote_volume: decimal(k.quote_volume),
        trades: k.trades,
        taker_buy_base_volume: decimal(k.taker_buy_base_volume),
        taker_buy_quote_volume: decimal(k.taker_buy_quote_volume),
    }
}

/// An exchange failure as a control error: a rejection carries Binance's `code` and
/// `msg`; everything that may pass (network, 5xx, 429, 418, garbage) is "unavailable".
fn exchange_error(e: ExchangeError) -> ErrorObject {
    let message = e.to_string();
    match e {
        ExchangeError::Api {
            http_status,
            code: binance_code,
            msg,
            ..
        } => ErrorObject::new(code::EXCHANGE_REJECTED, message).with_data(json!({
            "code": binance_code,
            "msg": msg,
            "http_status": http_status,
        })),
        ExchangeError::RateLimited { retry_after_ms }
        | ExchangeError::WeightReserved { retry_after_ms } => {
            ErrorObject::new(code::EXCHANGE_UNAVAILABLE, message)
                .with_data(json!({ "retry_after_ms": retry_after_ms }))
        }
        ExchangeError::Banned { until_ms } => ErrorObject::new(code::EXCHANGE_UNAVAILABLE, message)
            .with_data(json!({ "banned_until": until_ms })),
        ExchangeError::OrderRateLimited { retry_after_ms, .. } => {
            ErrorObject::new(code::EXCHANGE_UNAVAILABLE, message)
                .with_data(json!({ "retry_after_ms": retry_after_ms }))
        }
        ExchangeError::Connectivity { .. }
        | ExchangeError::Decode { .. }
        | ExchangeError::UnknownOutcome { .. } => {
            ErrorObject::new(code::EXCHANGE_UNAVAILABLE, message)
        }
        ExchangeError::InvalidRequest(_) => ErrorObject::internal(message),
    }
}

/// A backfill failure as a control error. `NotRunning` (no backfill component in this
/// daemon yet, or the daemon is stopping) is "not available".
fn backfill_error(e: BackfillError) -> ErrorObject {
    match e {
        BackfillError::UnknownSymbol(symbol) => ErrorObject::new(
            code::NOT_FOUND,
            format!("symbol {symbol} is not registered"),
        )
        .with_data(json!({ "symbol": symbol })),
        BackfillError::UnknownInterval { symbol, interval } => ErrorObject::invalid_param(
            "interval",
            format_args!("{interval} is not one of {symbol}'s intervals"),
        ),
        BackfillError::InvalidFrom(from) => ErrorObject::invalid_param(
            "from",
            format_args!("must be a past time in ms since the epoch, not {from}"),
        ),
        BackfillError::NotRunning => ErrorObject::new(
            code::NOT_AVAILABLE,
            "backfill is not running (not available yet in this daemon, or the daemon is stopping)",
        ),
        BackfillError::MarketNotServed(market) => {
            ErrorObject::not_available(format_args!("backfill on the {market} market"))
                .with_data(json!({ "param": "market" }))
        }
        BackfillError::Store(e) => {
            tracing::error!(error = %e, "database failed in backfill");
            ErrorObject::internal(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Symbol;

    fn job(status: JobStatus, percent: f64, eta: Option<u64>) -> JobState {
        JobState {
            job: crate::domain::BackfillJob {
                symbol_id: 1,
                symbol: "BTCUSDT".parse::<Symbol>().unwrap(),
                interval: Interval::M1,
                from_ms: 0,
                to_ms: 10,
                next_start_ms: 5,
                status,
                rows_written: 10,
                last_error: None,
                started_at: 1,
                updated_at: 1,
            },
            percent,
            eta_secs: eta,
        }
    }

    #[test]
    fn summaries_count_states_and_average_progress() {
        let s = summarize(&[
            job(JobStatus::Done, 100.0, None),
            job(JobStatus::Running, 50.0, Some(30)),
            job(JobStatus::Running, 0.0, Some(90)),
            job(JobStatus::Failed, 10.0, None),
        ]);
        assert_eq!(
            (s.jobs, s.done, s.running, s.failed, s.pending, s.stopped),
            (4, 1, 2, 1, 0, 0)
        );
        assert_eq!(s.percent, 40.0);
        assert_eq!(s.eta_secs, Some(90));
        assert_eq!(s.rows_written, 40);
        assert_eq!(summarize(&[]), BackfillSummary::default());
    }

    #[test]
    fn exchange_rejections_carry_binance_code_and_msg() {
        let e = exchange_error(ExchangeError::Api {
            endpoint: "/api/v3/exchangeInfo",
            http_status: 400,
            code: -1121,
            msg: "Invalid symbol.".into(),
        });
        assert_eq!(e.code, code::EXCHANGE_REJECTED);
        assert_eq!(
            e.data,
            Some(json!({"code": -1121, "msg": "Invalid symbol.", "http_status": 400}))
        );
        let e = exchange_error(ExchangeError::RateLimited {
            retry_after_ms: 1000,
        });
        assert_eq!(e.code, code::EXCHANGE_UNAVAILABLE);
        assert_eq!(e.data, Some(json!({"retry_after_ms": 1000})));
    }

    #[test]
    fn order_errors_map_to_documented_codes_with_data() {
        let v = crate::domain::RuleViolation {
            rule: "PRICE_FILTER",
            param: "price",
            message: "price 100.005 is not a multiple of tick size 0.01 (PRICE_FILTER); nearest valid: 100.00 or 100.01".into(),
            nearest: vec!["100.00".parse().unwrap(), "100.01".parse().unwrap()],
        };
        let e = order_error(OrderError::Rule(v));
        assert_eq!(e.code, code::INVALID_PARAMS);
        assert_eq!(
            e.data,
            Some(json!({"param": "price", "rule": "PRICE_FILTER", "nearest": ["100", "100.01"]}))
        );
        assert!(e.message.contains("PRICE_FILTER") && e.message.contains("100.01"));
        let e = order_error(OrderError::NoCredentials);
        assert_eq!(e.code, code::NO_CREDENTIALS);
        assert!(
            e.message.contains("TRADEBEAT_EXCHANGE__API_KEY"),
            "{}",
            e.message
        );
        let e = order_error(OrderError::RateLimited {
            retry_after_ms: 6200,
            detail: "50 orders per 10 s".into(),
        });
        assert_eq!(e.code, code::EXCHANGE_UNAVAILABLE);
        assert_eq!(e.data, Some(json!({"retry_after_ms": 6200})));
        let e = order_error(OrderError::Rejected {
            code: -2010,
            msg: "Account has insufficient balance for requested action.".into(),
            http_status: 400,
            order: None,
        });
        assert_eq!(e.code, code::EXCHANGE_REJECTED);
        assert_eq!(e.data.as_ref().unwrap()["code"], -2010);
        assert_eq!(e.data.as_ref().unwrap()["http_status"], 400);
        let e = order_error(OrderError::NotFound {
            symbol: "BTCUSDT".parse().unwrap(),
            which: OrderRef::OrderId(7),
            code: -2013,
            msg: "Order does not exist.".into(),
        });
        assert_eq!(e.code, code::NOT_FOUND);
        assert_eq!(
            e.data,
            Some(
                json!({"symbol": "BTCUSDT", "order_id": 7, "code": -2013, "msg": "Order does not exist."})
            )
        );
    }

    #[test]
    fn backfill_not_running_is_not_available() {
        let e = backfill_error(BackfillError::NotRunning);
        assert_eq!(e.code, code::NOT_AVAILABLE);
        assert!(e.message.contains("backfill"), "{}", e.message);
    }

    #[test]
    fn decimals_are_plain_strings() {
        assert_eq!(decimal(43210.5), "43210.5");
        assert_eq!(decimal(0.00012), "0.00012");
        assert_eq!(decimal(1e-8), "0.00000001");
        assert_eq!(decimal(100.0), "100");
    }
}
