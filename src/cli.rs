//! The command line (DESIGN.md, "Command line"): `run`, `check-config`, and later `ctl`.
//!
//! Exit status: 0 success, 1 failure at run time, 2 bad usage or a config error.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// tradebeat: Binance market data and your own orders in one SQLite file.
#[derive(Debug, Parser)]
#[command(name = "tradebeat", version = crate::LONG_VERSION, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground (systemd runs this).
    Run {
        /// TOML config file; every key can also be set by env TRADEBEAT_SECTION__KEY.
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Validate the config and print the effective values, secrets redacted.
    CheckConfig {
        /// TOML config file; every key can also be set by env TRADEBEAT_SECTION__KEY.
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
    },
}
