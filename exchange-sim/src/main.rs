//! `exchange-sim`: run the Binance-compatible simulator as a standalone process.
//!
//! Prints exactly one line, `listening on http://127.0.0.1:PORT`, to stdout once it accepts
//! connections (the USD-M and COIN-M listeners are announced on stderr:
//! `usdm listening on http://127.0.0.1:PORT`, `coinm listening on …`), logs to stderr
//! (`RUST_LOG`, default `warn`) and serves until SIGINT or SIGTERM.

use std::{
    io::Write as _,
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use anyhow::Context as _;
use clap::Parser;
use exchange_sim::SimConfig;
use tracing_subscriber::EnvFilter;

/// A Binance-compatible exchange simulator on loopback replaying recorded market data.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// TCP port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// TCP port of the USD-M futures market (`/fapi`) on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    usdm_port: u16,
    /// TCP port of the COIN-M futures market (`/dapi`) on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    coinm_port: u16,
    /// REQUEST_WEIGHT limit per minute.
    #[arg(long, default_value_t = 6000)]
    weight_limit: u32,
    /// Delay added before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fraction (0.0–1.0) of requests answered with HTTP 503.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Orders accepted per 10 s (the ORDERS limit of exchangeInfo; Binance's is 50).
    #[arg(long, default_value_t = 50)]
    orders_per_10s: u32,
    /// Number of BTCUSDT clones (SIM001USDT, …) to list for benchmarks.
    #[arg(long, default_value_t = 0)]
    extra_symbols: usize,
    /// Offset of server time from the system clock, in milliseconds.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    clock_skew_ms: i64,
    /// The API key signed requests must carry (default: the built-in test key).
    #[arg(long, default_value = exchange_sim::TEST_API_KEY)]
    api_key: String,
    /// The API secret signatures are checked with (default: the built-in test secret).
    #[arg(long, default_value = exchange_sim::TEST_API_SECRET)]
    api_secret: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.error_rate),
        "--error-rate must be between 0.0 and 1.0"
    );
    let config = SimConfig {
        weight_limit_per_min: args.weight_limit,
        latency: Duration::from_millis(args.latency_ms),
        error_rate_5xx: args.error_rate,
        extra_symbols: args.extra_symbols,
        orders_per_10s: args.orders_per_10s,
        clock_skew_ms: args.clock_skew_ms,
        api_key: args.api_key,
        api_secret: args.api_secret,
        ..SimConfig::default()
    };
    let sim = exchange_sim::spawn_with_futures_ports(
        config,
        SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        args.usdm_port,
        args.coinm_port,
    )
    .await?;
    {
        let mut stderr = std::io::stderr().lock();
        writeln!(stderr, "usdm listening on {}", sim.usdm_url).context("writing to stderr")?;
        writeln!(stderr, "coinm listening on {}", sim.coinm_url).context("writing to stderr")?;
    }
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", sim.base_url()).context("writing to stdout")?;
        stdout.flush().context("flushing stdout")?;
    }
    wait_for_signal().await?;
    tracing::info!("shutting down");
    sim.shutdown().await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate =
            signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
