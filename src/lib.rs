//! tradebeat: a daemon that keeps Binance market data and your own orders in one SQLite
//! file.
//!
//! The crate is a library with a thin binary (`src/main.rs`). Its modules form layers, and
//! every import points down (ARCHITECTURE.md has the full picture and the invariants). From
//! the bottom up:
//!
//! - [`domain`]: the vocabulary: markets, symbols, intervals, klines, tickers, the order
//!   vocabulary and filters, user-data events, secrets. Imports nothing else of the crate.
//! - [`clock`]: wall time, virtual time for tests, and the beat schedule.
//! - [`retry`]: the one retry policy: every backoff the daemon waits, named, with its numbers.
//! - [`files`]: the directories (0700) and files (0600) tradebeat creates, whatever the umask.
//! - [`exchange`]: Binance, and the only module that knows it: the shared transport
//!   (HTTP, signing, weights, clock offset, errors) and one module per API (`spot`).
//! - [`config`]: the one `Config` struct, read with figment (defaults → TOML → env).
//! - [`store`]: SQLite (r2d2 pool, WAL), the only module that knows SQL.
//! - [`logging`], [`instance`], [`notify`]: log files, the single-instance lock, systemd.
//! - [`venue`]: the trading seam `Orders` calls (`Venue`); Binance spot is `SpotVenue`.
//! - The components, each with `run(self, shutdown)`: [`market_data`] (what a beat does),
//!   [`heartbeat`] (fires the beats), [`backfill`] (history and gap repair), [`orders`]
//!   (checked, recorded before sending, never duplicated), [`user_stream`] (the user-data
//!   stream), and [`control`] (the socket: JSON-RPC 2.0 protocol, server, handlers, client).
//! - [`component`]: the `Component` trait and the set that starts and drains them.
//! - [`daemon`]: builds the components, runs them until SIGTERM/SIGINT, drains them.
//! - [`cli`], [`ctl`]: the command line and `tradebeat ctl`, the socket's client.

pub mod backfill;
pub mod chart;
pub mod cli;
pub mod clock;
pub mod component;
pub mod config;
pub mod control;
pub mod ctl;
pub mod daemon;
pub mod domain;
pub mod exchange;
pub mod export;
pub mod files;
pub mod heartbeat;
pub mod http;
pub mod instance;
pub mod logging;
pub mod market_data;
pub mod notify;
pub mod orders;
pub mod retry;
pub mod store;
pub mod strategies;
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
