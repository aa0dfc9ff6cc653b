//! tradebeat: a daemon that keeps Binance market data and your own orders in one SQLite
//! file.
//!
//! The crate is a library with a thin binary (`src/main.rs`). Map of the modules, from the
//! edges in (ARCHITECTURE.md has the full picture and the invariants):
//!
//! - [`cli`]: the command line (`run`, `check-config`, `ctl`, `completions`).
//! - [`ctl`]: `tradebeat ctl`, the control socket's command-line client: tables and `--json`.
//! - [`config`]: the one `Config` struct, read with figment (defaults → TOML → env).
//! - [`logging`]: one log file per component plus `tradebeat.log`, rotated daily.
//! - [`daemon`]: builds the components, runs them until SIGTERM/SIGINT, drains them.
//! - [`component`]: the `Component` trait and the set that starts and drains them.
//! - [`heartbeat`]: fires a beat at every `k * period + offset`; never overlaps, never drifts.
//! - [`market_data`]: what a beat does: tickers and closed klines into the store.
//! - [`backfill`]: history backfill and gap repair jobs.
//! - [`user_data`]: the spot user-data stream's frames (execution reports, balances) parsed.
//! - [`orders`]: signed spot orders: local rule checks, recorded before sending, never
//!   duplicated, reconciled with the exchange.
//! - [`venue`]: the trading seam `Orders` calls (`Venue`); Binance spot is `SpotVenue`.
//! - [`control`]: the control socket: JSON-RPC 2.0 protocol, server, handlers, client.
//! - [`exchange`]: the Binance REST client, the only module that knows Binance's wire format.
//! - [`store`]: SQLite (r2d2 pool, WAL), the only module that knows SQL.
//! - [`clock`]: wall time, virtual time for tests, and the beat schedule.
//! - [`retry`]: the one retry policy: every backoff the daemon waits, named, with its numbers.
//! - [`instance`]: the single-instance lock beside the database.
//! - [`files`]: the directories (0700) and files (0600) tradebeat creates, whatever the umask.
//! - [`notify`]: systemd notifications (READY, STATUS, WATCHDOG, STOPPING).
//! - [`types`]: the domain vocabulary: `Symbol`, `Interval`, `Kline`, `Ticker` … (the order
//!   vocabulary is in [`orders`]).

pub mod backfill;
pub mod cli;
pub mod clock;
pub mod component;
pub mod config;
pub mod control;
pub mod ctl;
pub mod daemon;
pub mod domain;
pub mod exchange;
pub mod files;
pub mod heartbeat;
pub mod instance;
pub mod logging;
pub mod market_data;
pub mod notify;
pub mod orders;
pub mod retry;
pub mod store;
pub mod user_stream;
pub mod venue;

/// tradebeat's version, from `Cargo.toml` (`0.1.0`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from: 12 hex digits (`856cfca1b2c3`), or `unknown`
/// when built outside a git checkout (a source tarball). Set by `build.rs`; a packager may
/// give it as the build environment's `TRADEBEAT_BUILD_COMMIT`.
pub const BUILD_COMMIT: &str = env!("TRADEBEAT_BUILD_COMMIT");

/// `VERSION (BUILD_COMMIT)`, as `tradebeat --version` prints it after the name.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("TRADEBEAT_BUILD_COMMIT"),
    ")"
);
