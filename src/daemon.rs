//! The daemon: opens the store, builds the components, runs them until SIGTERM or SIGINT,
//! then drains them.
//!
//! This is the one place that spawns and joins components. Each component is a struct with
//! `async fn run(self, shutdown: CancellationToken)`; all of them share one shutdown token.
//! A first signal cancels it: no new beat starts, the beat in flight gets a grace period to
//! commit, and the process exits 0. A second signal exits at once (status 130).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use signal_hook::consts::{SIGINT, SIGTERM};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Config;
use crate::exchange::{ClientOptions, ExchangeClient};
use crate::heartbeat::{Heartbeat, SHUTDOWN_GRACE};
use crate::market_data::MarketData;
use crate::orders::Orders;
use crate::store::Store;

/// How long the components get to stop after the shutdown signal, beyond which the daemon
/// exits anyway. Above the heartbeat's own grace, below systemd's default stop timeout.
const DRAIN_DEADLINE: Duration = Duration::from_millis(SHUTDOWN_GRACE.as_millis() as u64 + 1000);

/// Runs the daemon until SIGTERM or SIGINT. Errors are start-up failures (database,
/// exchange client set-up); once running, the daemon reports problems and carries on.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let signals = signal_hook_tokio::Signals::new([SIGTERM, SIGINT])
        .context("cannot install signal handlers")?;
    let handle = signals.handle();
    let watcher = tokio::spawn(watch_signals(signals, shutdown.clone()));
    let result = run_until(config, Clock::system(), shutdown).await;
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

/// Runs the daemon with `clock` until `shutdown` is cancelled (the tests' entry point).
pub async fn run_until(
    config: Config,
    clock: Clock,
    shutdown: CancellationToken,
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
    let exchange = ExchangeClient::new(options, clock.clone())?;
    let market_data = Arc::new(MarketData::new(
        exchange.clone(),
        store.clone(),
        clock.clone(),
        config.market_data.symbols.clone(),
        config.market_data.intervals.clone(),
    ));
    let schedule = config
        .heartbeat
        .schedule()
        .context("heartbeat.period_secs and offset_secs do not make a schedule")?;
    // Orders: signed with the configured credentials; without any, orders answer a clear
    // error and market data runs alone. Unreadable credential files stop the start.
    let credentials = config
        .credentials()
        .context("cannot read the api credentials")?;
    let orders = Orders::new(
        exchange.clone(),
        credentials.as_ref(),
        config.exchange.recv_window_ms,
        store.clone(),
        clock.clone(),
    )?;
    let orders_task = tokio::spawn(orders.clone().run(shutdown.clone()));
    let heartbeat = Heartbeat::new(schedule, clock, market_data);

    let symbols: Vec<&str> = config
        .market_data
        .symbols
        .iter()
        .map(|s| s.as_str())
        .collect();
    tracing::info!(
        target: "tradebeat::daemon",
        version = env!("CARGO_PKG_VERSION"),
        network = %config.exchange.network,
        rest_url = %exchange.rest_url(),
        database = %store.path().display(),
        symbols = %symbols.join(","),
        orders = if orders.has_credentials() { "on" } else { "off (no api credentials)" },
        period_secs = config.heartbeat.period_secs,
        offset_secs = config.heartbeat.offset_secs,
        "tradebeat started"
    );

    let mut heartbeat_task = tokio::spawn(heartbeat.run(shutdown.clone()));
    let outcome = tokio::select! {
        joined = &mut heartbeat_task => match joined {
            Ok(()) if shutdown.is_cancelled() => "clean",
            Ok(()) => "heartbeat stopped unexpectedly",
            Err(e) => { tracing::error!(error = %e, "heartbeat task failed"); "heartbeat failed" }
        },
        _ = shutdown.cancelled() => {
            match tokio::time::timeout(DRAIN_DEADLINE, &mut heartbeat_task).await {
                Ok(_) => "clean",
                Err(_) => { heartbeat_task.abort(); "drain deadline passed" }
            }
        }
    };
    if tokio::time::timeout(DRAIN_DEADLINE, orders_task)
        .await
        .is_err()
    {
        tracing::warn!(target: "tradebeat::daemon", "orders did not stop in time");
    }
    tracing::info!(
        target: "tradebeat::daemon",
        uptime_secs = started.elapsed().as_secs(),
        stop = outcome,
        "tradebeat stopped"
    );
    Ok(())
}
