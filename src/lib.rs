//! tradebeat: a daemon that keeps Binance market data and your own orders in one SQLite
//! file.
//!
//! The crate is a library with a thin binary (`src/main.rs`). Map of the modules, from the
//! edges in (ARCHITECTURE.md has the full picture and the invariants):
//!
//! - [`cli`]: the command line (`run`, `check-config`).
//! - [`config`]: the one `Config` struct, read with figment (defaults → TOML → env).
//! - [`logging`]: one log file per component plus `tradebeat.log`, rotated daily.
//! - [`daemon`]: builds the components, runs them until SIGTERM/SIGINT, drains them.
//! - [`heartbeat`]: fires a beat at every `k * period + offset`; never overlaps, never drifts.
//! - [`market_data`]: what a beat does: tickers and closed klines into the store.
//! - [`backfill`]: history backfill and gap repair jobs.
//! - [`orders`]: signed spot orders: local rule checks, recorded before sending, never
//!   duplicated, reconciled with the exchange.
//! - [`exchange`]: the Binance REST client, the only module that knows Binance's wire format.
//! - [`store`]: SQLite (r2d2 pool, WAL), the only module that knows SQL.
//! - [`clock`]: wall time, virtual time for tests, and the beat schedule.
//! - [`types`]: the domain vocabulary: `Symbol`, `Interval`, `Kline`, `Ticker` … (the order
//!   vocabulary is in [`orders`]).

pub mod backfill;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod exchange;
pub mod heartbeat;
pub mod logging;
pub mod market_data;
pub mod orders;
pub mod store;
pub mod types;
