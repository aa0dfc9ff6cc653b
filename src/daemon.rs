//! The daemon: opens the store, builds the components, runs them until SIGTERM or SIGINT,
//! then drains them.
//!
//! This is the one place that starts components: each implements
//! [`Component`](crate::component::Component) (a name, a drain deadline,
//! `run(self, shutdown)`) and is added to one [`Components`] set with one line; all of them share one shutdown token. A first signal cancels it: no new beat
//! starts, the beat in flight gets a grace period to commit, every component gets its drain
//! deadline (one still running then is aborted), and the process exits 0. A second signal
//! exits at once (status 130).
//!
//! Under systemd (`Type=notify`, see [`crate::notify`]) it sends `READY=1` once start-up is
//! complete: the database is open and migrated (the binary took the instance lock before
//! that), and the first exchange contact, the start-up beat, has finished or
//! [`FIRST_CONTACT_WAIT`] has passed. It sends `STOPPING=1` as soon as a stop begins. The
//! heartbeat sends STATUS after every beat and the watchdog pings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use signal_hook::consts::{SIGINT, SIGTERM};
use tokio_util::sync::CancellationToken;

use crate::backfill::{Backfill, BackfillHandle, BackfillOptions};
use crate::clock::Clock;
use crate::component::{Components, Stop};
use crate::config::Config;
use crate::control::{ControlContext, ControlServer};
use crate::exchange::{ClientOptions, FuturesClient, MarketClient, SpotClient};
use crate::heartbeat::{Heartbeat, HeartbeatStatus};
use crate::market_data::MarketData;
use crate::notify;
use crate::orders::{Orders, OrdersComponent};
use crate::store::Store;
use crate::user_stream::{UserStream, UserStreamHandle, UserStreamOptions};

mod futures_streams;
mod futures_use;
mod paper_start;

/// The longest start-up waits for the first exchange contact (the start-up beat: clock
/// sync, `exchangeInfo`, catch-up) before it reports ready anyway. A healthy exchange
/// answers in about a second, and an unreachable one (connection refused) fails the beat
/// within a few; only a black-holed or very slow exchange reaches this. Waiting longer would
/// keep the unit "activating" through an exchange outage, which tradebeat rides out on its
/// own (every beat retries), and block `systemctl start` for as long.
pub const FIRST_CONTACT_WAIT: Duration = Duration::from_secs(15);

/// Runs the daemon until SIGTERM or SIGINT. Errors are start-up failures (database,
/// exchange client set-up); once running, the daemon reports problems and carries on.
///
/// `lock` is the instance lock `main` holds: the daemon stops (exit 1) once its file is
/// deleted or replaced ([`crate::instance::LockWatch`]).
pub async fn run(config: Config, lock: crate::instance::HeldLock) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let signals = signal_hook_tokio::Signals::new([SIGTERM, SIGINT])
        .context("cannot install signal handlers")?;
    let handle = signals.handle();
    let watcher = tokio::spawn(watch_signals(signals, shutdown.clone()));
    let options = RunOptions {
        lock: Some(lock),
        ..RunOptions::default()
    };
    let result = run_with(config, Clock::system(), shutdown, options).await;
    handle.close();
    watcher.abort();
    result
}

/// First signal: cancel `shutdown`. Second: exit at once.
async fn watch_signals(mut signals: signal_hook_tokio::Signals, shutdown: CancellationToken) {
    while let Some(signal) = signals.next().await {
        if shutdown.is_cancelled() {
            tracing::warn!(signal, "second signal: exiting at once");
            std::process::exit(130);
        }
        tracing::info!(signal, "shutdown requested");
        shutdown.cancel();
    }
}

/// Handles to the running components: what tests (and benchmarks) talk to; the control
/// socket gets its own copy.
#[derive(Debug, Clone)]
pub struct Handles {
    /// Backfill jobs and gaps (`symbol.add`, `symbol.remove`, `backfill.start`,
    /// `symbol.list`, `status`).
    pub backfill: BackfillHandle,
    /// The user-data stream's state ([`UserStreamHandle::off`] without credentials).
    pub user_stream: UserStreamHandle,
    /// Each futures market's user-data stream (live mode with credentials only).
    pub futures_user_streams: Vec<(crate::domain::Market, UserStreamHandle)>,
    /// The store's event bus (what `subscribe` reads).
    pub events: crate::store::EventBus,
}

/// What the daemon takes besides its config: knobs for tests and benchmarks.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// The backfill's internal knobs (defaults in production).
    pub backfill: BackfillOptions,
    /// The user-data stream's timings (defaults in production).
    pub user_stream: UserStreamOptions,
    /// The futures user-data streams' timings (defaults in production).
    pub futures_user_stream: crate::user_stream::FuturesStreamOptions,
    /// Receives the components' handles once they are built.
    pub handles: Option<tokio::sync::oneshot::Sender<Handles>>,
    /// The instance lock to watch (`run` only: the tests' daemons take no lock).
    pub lock: Option<crate::instance::HeldLock>,
}

/// Runs the daemon with `clock` until `shutdown` is cancelled (the tests' entry point).
pub async fn run_until(
    config: Config,
    clock: Clock,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_with(config, clock, shutdown, RunOptions::default()).await
}

/// [`run_until`] with [`RunOptions`].
pub async fn run_with(
    config: Config,
    clock: Clock,
    shutdown: CancellationToken,
    run_options: RunOptions,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let db_path = config.storage.database.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&db_path))
        .await
        .context("database task failed")??;

    let options = ClientOptions::for_network(
        config.exchange.network,
        config.exchange.rest_url.as_deref(),
        Duration::from_millis(config.exchange.request_timeout_ms),
    )?;
    let exchange = SpotClient::new(options, clock.clone())?;
    let schedule = config
        .heartbeat
        .schedule()
        .context("heartbeat.period_secs and offset_secs do not make a schedule")?;
    let market_data = MarketData::new(
        exchange.clone(),
        store.clone(),
        clock.clone(),
        config.market_data.symbols.clone(),
        config.market_data.intervals.clone(),
    )
    .with_beat_period(schedule.period_ms());
    // Each futures market gets its own client (own URL, weight budget and clock offset)
    // and its own part of every beat; a market with no symbols sends nothing.
    let timeout = Duration::from_millis(config.exchange.request_timeout_ms);
    let network = config.exchange.network;
    let usdm = ClientOptions::for_network(
        network,
        Some(config.exchange.resolved_usdm_rest_url()),
        timeout,
    )?;
    let coinm = ClientOptions::for_network(
        network,
        Some(config.exchange.resolved_coinm_rest_url()),
        timeout,
    )?;
    let usdm = FuturesClient::usdm(usdm, clock.clone())?;
    let coinm = FuturesClient::coinm(coinm, clock.clone())?;
    // Futures trading shares each market's client (its budgets, offset and order counts).
    let futures_trading = [usdm.clone(), coinm.clone()];
    // The backfill shares each futures market's client (its weight budget and offset).
    let futures_backfill = vec![
        MarketClient::from(usdm.clone()),
        MarketClient::from(coinm.clone()),
    ];
    let market_data = market_data
        .with_futures_market(usdm, config.market_data.usdm_symbols.clone())
        .with_futures_market(coinm, config.market_data.coinm_symbols.clone());
    let market_data = Arc::new(market_data);
    let watchdog = notify::watchdog_interval();
    let heartbeat =
        Heartbeat::new(schedule, clock.clone(), Arc::clone(&market_data)).with_watchdog(watchdog);
    let mut beats = heartbeat.status();
    let heartbeat_status = heartbeat.status();
    // Backfill shares the client's weight budget at background priority and checks for
    // gaps after every beat (the heartbeat's status watch).
    let (backfill, backfill_handle) = Backfill::for_markets(
        &config.market_data,
        store.clone(),
        &exchange,
        futures_backfill,
        clock.clone(),
        heartbeat.status(),
        run_options.backfill,
    );
    // Paper or live: the database says which it is, for good; the other is refused.
    let mode = paper_start::claim_mode(&config, &store, &clock).await?;
    let paper = match mode {
        crate::domain::TradingMode::Paper => {
            Some(paper_start::paper_venue(&config, &exchange, &store, &clock, &shutdown).await?)
        }
        crate::domain::TradingMode::Live => None,
    };
    // Orders: signed with the configured credentials; without any, orders answer a clear
    // error and market data runs alone. Unreadable credential files stop the start. In
    // paper mode, no credentials are read: orders go to the paper venue.
    let credentials = match paper {
        Some(_) => None,
        None => config
            .credentials()
            .context("cannot read the api credentials")?,
    };
    let orders = match &paper {
        Some(venue) => Orders::with_venue(
            Some(Arc::new(venue.clone()) as Arc<dyn crate::venue::Venue>),
            store.clone(),
            clock.clone(),
        ),
        None => Orders::new(
            exchange.clone(),
            credentials.as_ref(),
            config.exchange.recv_window_ms,
            store.clone(),
            clock.clone(),
        )
        .context("cannot use the api credentials")?,
    };
    // Paper mode: one paper venue per futures market, over its public endpoints.
    let mut paper_futures = Vec::new();
    if paper.is_some() {
        for client in &futures_trading {
            paper_futures
                .push(paper_start::paper_futures_venue(&config, client, &store, &clock).await?);
        }
    }
    // One orders component per futures market: live with credentials, or paper.
    let futures_orders: Vec<Orders> = match (&paper, credentials.as_ref()) {
        (Some(_), _) => paper_futures
            .iter()
            .map(|venue| {
                Orders::with_venue(
                    Some(Arc::new(venue.clone()) as Arc<dyn crate::venue::Venue>),
                    store.clone(),
                    clock.clone(),
                )
            })
            .collect(),
        (None, Some(credentials)) => futures_trading
            .iter()
            .map(|client| {
                Orders::futures(
                    client,
                    Some(credentials),
                    config.exchange.recv_window_ms,
                    store.clone(),
                    clock.clone(),
                )
            })
            .collect::<Result<_, _>>()
            .context("cannot use the api credentials for futures")?,
        _ => Vec::new(),
    };
    // A futures market's orders and stream start once it is in use (`futures_use`).
    futures_use::mark_used_at_start(&config, &store, &futures_orders).await;
    // The user-data stream: with credentials only (it needs the account's key).
    let (user_stream, user_stream_handle) = match credentials.as_ref() {
        Some(credentials) => {
            let (stream, handle) = UserStream::new(
                config.exchange.resolved_ws_api_url(),
                credentials,
                config.exchange.recv_window_ms,
                &exchange,
                orders.clone(),
                store.clone(),
                clock.clone(),
                schedule,
                run_options.user_stream,
            )
            .context("cannot use the api credentials for the user-data stream")?;
            (Some(stream), handle)
        }
        None => (None, UserStreamHandle::off()),
    };
    // One futures user-data stream per futures orders component.
    let futures_streams = futures_streams::build(
        &config,
        credentials.as_ref(),
        &futures_trading,
        &futures_orders,
        &store,
        &clock,
        schedule,
        &run_options.futures_user_stream,
    )?;
    let futures_stream_handles: Vec<(crate::domain::Market, UserStreamHandle)> = futures_streams
        .iter()
        .map(|(market, _, handle)| (*market, handle.clone()))
        .collect();
    if let Some(tx) = run_options.handles {
        let _ = tx.send(Handles {
            backfill: backfill_handle.clone(),
            user_stream: user_stream_handle.clone(),
            futures_user_streams: futures_stream_handles.clone(),
            events: store.events().clone(),
        });
    }

    let symbols: Vec<&str> = config
        .market_data
        .symbols
        .iter()
        .map(|s| s.as_str())
        .collect();
    tracing::info!(
        target: "tradebeat::daemon",
        version = crate::VERSION,
        build_commit = crate::BUILD_COMMIT,
        pid = std::process::id(),
        network = %config.exchange.network,
        rest_url = %exchange.rest_url(),
        database = %store.path().display(),
        symbols = %symbols.join(","),
        usdm_symbols = %config.market_data.usdm_symbols.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
        coinm_symbols = %config.market_data.coinm_symbols.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
        mode = if paper.is_some() { "PAPER" } else { "live" },
        orders = if paper.is_some() { "PAPER (simulated, nothing sent)" } else if orders.has_credentials() { "on" } else { "off (no api credentials)" },
        user_stream = if user_stream.is_some() { config.exchange.resolved_ws_api_url() } else if paper.is_some() { "off (paper)" } else { "off (no api credentials)" },
        socket = %std::path::absolute(&config.control.socket)
            .unwrap_or_else(|_| config.control.socket.clone())
            .display(),
        period_secs = config.heartbeat.period_secs,
        offset_secs = config.heartbeat.offset_secs,
        watchdog_secs = watchdog.map_or(0, |w| w.as_secs()),
        "tradebeat started"
    );
    if let Some(interval) = watchdog {
        let series = config.market_data.symbols.len() * config.market_data.intervals.len();
        let request_timeout = Duration::from_millis(config.exchange.request_timeout_ms);
        let worst = notify::worst_case_beat(request_timeout, series);
        if interval < worst {
            tracing::warn!(
                target: "tradebeat::daemon",
                watchdog_secs = interval.as_secs(),
                worst_beat_secs = worst.as_secs(),
                request_timeout_ms = config.exchange.request_timeout_ms,
                series,
                "WatchdogSec is shorter than a beat can take while the exchange does not answer; systemd may restart tradebeat during an exchange outage: raise WatchdogSec"
            );
        }
    }

    // READINESS: start-up steps that can fail the start and that READY=1 must wait for
    // (the database above; binding the control socket, ...) go here, before the heartbeat
    // starts, each returning its error (exit 1, "failed to start" for systemd).
    //
    // The control socket: a daemon that cannot serve it (another one holds it, its
    // directory cannot be created) does not start.
    // Strategies run after beats, at most `strategies.max_concurrent` at once.
    let strategies = crate::strategies::StrategyRunner::new(
        crate::strategies::RunnerContext {
            store: store.clone(),
            orders: orders.clone(),
            futures_orders: futures_orders.clone(),
            clock: clock.clone(),
            mode,
            logs: crate::strategies::log::StrategyLogs::new(
                config.logging.dir.clone(),
                config.logging.max_files,
            ),
        },
        heartbeat.status(),
        config.strategies.max_concurrent,
    );
    let control_context = ControlContext::new(
        store.clone(),
        market_data,
        heartbeat.status(),
        backfill_handle,
        orders.clone(),
        config.clone(),
        clock,
        user_stream_handle.clone(),
    );
    control_context.set_futures_orders(futures_orders.clone());
    control_context.set_futures_user_streams(futures_stream_handles.clone());
    let control = ControlServer::bind(&config.control, Arc::clone(&control_context))
        .await
        .context("cannot start the control socket")?;
    // The HTTP server, when `[http] listen` is set: the same dispatcher over TCP.
    let http = match config.http.listen {
        Some(_) => {
            let token = config.http.token().context("cannot read the http token")?;
            let server = crate::http::HttpServer::bind(
                &config.http,
                token,
                Arc::clone(&control_context),
                schedule.period_ms(),
            )
            .await
            .context("cannot start the http server")?;
            Some(server)
        }
        None => None,
    };

    notify::status("starting: waiting for the first exchange contact");
    // The components, in start order; adding one is adding a line here.
    let mut components = Components::new(shutdown.clone());
    // The database deleted or replaced under us ends the daemon (exit 1): see its module.
    components.start(crate::store::DatabaseWatch::new(store.clone()));
    components.start(crate::store::Checkpointer::new(store.clone()));
    if let Some(lock) = run_options.lock {
        components.start(crate::instance::LockWatch::new(lock));
    }
    components.start(heartbeat);
    components.start(control);
    if let Some(http) = http {
        components.start(http);
    }
    components.start(backfill);
    components.start(OrdersComponent::new(orders, user_stream_handle.watch()));
    let futures_orders_of = futures_orders.clone();
    for futures in futures_orders {
        // Working orders are refreshed every minute unless the market's stream is healthy.
        let stream = futures_stream_handles
            .iter()
            .find(|(market, _)| *market == futures.market())
            .map_or_else(UserStreamHandle::off, |(_, handle)| handle.clone());
        let component = OrdersComponent::new(futures.clone(), stream.watch());
        components.start(futures_use::WhenInUse::new(component, &futures));
    }
    components.start(strategies);
    // `[orders] keep_closed_per_symbol`: closed orders beyond the newest N, daily.
    if let crate::config::KeepClosed::Newest(keep) = config.orders.keep_closed_per_symbol {
        components.start(crate::orders::OrderRetention::new(store.clone(), keep));
    }
    if let Some(venue) = paper {
        let watch = paper_futures.into_iter().fold(
            crate::venue::PaperWatch::new(venue, heartbeat_status),
            |w, v| w.with(v),
        );
        components.start(watch);
    }
    match user_stream {
        Some(stream) => components.start(stream),
        None => {
            tracing::info!(target: "tradebeat::user_stream", "no api credentials configured: no user-data stream")
        }
    }
    for (market, stream, _) in futures_streams {
        match futures_orders_of.iter().find(|o| o.market() == market) {
            Some(orders) => components.start(futures_use::WhenInUse::new(stream, orders)),
            None => components.start(stream),
        }
    }

    // READY=1 once the steps above are done and the first exchange contact (the start-up
    // beat) finished, or FIRST_CONTACT_WAIT passed; not at all when a stop came first.
    if let Some(contacted) = first_contact(&mut beats, FIRST_CONTACT_WAIT, &shutdown).await {
        let status = match (&beats.borrow().last, contacted) {
            (Some(row), true) => notify::beat_status(row),
            _ => format!(
                "ready; no answer from the exchange after {} s, the start-up beat goes on",
                FIRST_CONTACT_WAIT.as_secs()
            ),
        };
        tracing::info!(
            target: "tradebeat::daemon",
            startup_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            first_contact = contacted,
            "tradebeat ready"
        );
        notify::ready(&status);
    }

    // Until a signal, or until the heartbeat (the one essential component) stops alone.
    let outcome = match components.wait().await {
        Stop::Shutdown => {
            notify::stopping("stopping: finishing the beat in flight");
            Ok(())
        }
        Stop::Ended { name, outcome } => match outcome {
            Ok(()) => Err(anyhow::anyhow!("the {name} stopped unexpectedly")),
            Err(e) => Err(anyhow::anyhow!("the {name} task failed: {e}")),
        },
    };
    // Every component stops on the same token (cancelled here when the heartbeat stopped
    // alone), each within its drain deadline. A backfill page being written commits or
    // rolls back whole.
    let drained = components.drain().await;
    let uptime_secs = started.elapsed().as_secs();
    match outcome {
        Ok(()) => {
            let stop = if drained.late.is_empty() {
                "clean"
            } else {
                "drain deadline passed"
            };
            tracing::info!(target: "tradebeat::daemon", uptime_secs, stop, "tradebeat stopped");
            Ok(())
        }
        Err(e) => {
            notify::stopping(&format!("failed: {e:#}"));
            tracing::error!(target: "tradebeat::daemon", uptime_secs, stop = "error",
                error = %format!("{e:#}"), "tradebeat stopped");
            Err(e)
        }
    }
}

/// Waits for the first exchange contact: the start-up beat's row on `beats`. `Some(true)`
/// when it came, `Some(false)` when `limit` passed first or the heartbeat ended without a
/// beat, `None` when `shutdown` came first (no READY then).
async fn first_contact(
    beats: &mut tokio::sync::watch::Receiver<HeartbeatStatus>,
    limit: Duration,
    shutdown: &CancellationToken,
) -> Option<bool> {
    tokio::select! {
        waited = tokio::time::timeout(limit, beats.wait_for(|s| s.last.is_some())) => {
            Some(matches!(waited, Ok(Ok(_))))
        }
        _ = shutdown.cancelled() => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BeatTrigger, HeartbeatRow};

    fn row() -> HeartbeatRow {
        HeartbeatRow {
            beat_time: 1_795_262_465_000,
            started_at: 1_795_262_465_000,
            finished_at: 1_795_262_465_100,
            symbols_ok: 2,
            symbols_failed: 0,
            klines_written: 0,
            skipped_before: 0,
            trigger: BeatTrigger::Startup,
            error: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_waits_for_the_startup_beat_but_no_longer_than_the_limit() {
        let shutdown = CancellationToken::new();
        let limit = Duration::from_secs(15);

        // The start-up beat finishes after 2 s: ready then, with contact.
        let (tx, mut rx) = tokio::sync::watch::channel(HeartbeatStatus::default());
        let beat = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            tx.send_modify(|s| s.last = Some(row()));
            tx
        });
        let start = tokio::time::Instant::now();
        assert_eq!(first_contact(&mut rx, limit, &shutdown).await, Some(true));
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        let _tx = beat.await.unwrap();

        // The exchange never answers: ready anyway once the limit has passed.
        let (_tx, mut rx) = tokio::sync::watch::channel(HeartbeatStatus::default());
        let start = tokio::time::Instant::now();
        assert_eq!(first_contact(&mut rx, limit, &shutdown).await, Some(false));
        assert_eq!(start.elapsed(), limit);

        // Shutdown first: no readiness at all.
        let (_tx, mut rx) = tokio::sync::watch::channel(HeartbeatStatus::default());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stop.cancel();
        });
        assert_eq!(first_contact(&mut rx, limit, &shutdown).await, None);
    }
}
