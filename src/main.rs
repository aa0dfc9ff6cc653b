//! The `tradebeat` binary: parses the command line, loads the config, starts logging and
//! hands over to the library. Everything else lives in the library (see `lib.rs`).

use std::path::Path;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser};
use tradebeat::cli::{Cli, Command};
use tradebeat::instance::InstanceLock;
use tradebeat::{config, daemon, logging};

/// Threads of the runtime's blocking pool (tokio's default is 512). Its work is the store's
/// (`Store::run`, which waits for one of the pool's 4 SQLite connections), the WAL
/// checkpointer's short steps (own connection), DNS lookups of new connections and strategy
/// log appends; none of it waits for another blocking task, so a queue in tokio instead of
/// a thread per task cannot deadlock. Unbounded, a fast backfill kept 11 to 20 threads
/// alive (each with its stack and, with glibc, often a malloc arena) that mostly waited for
/// a connection; 8 is the store's 4 connections, the checkpointer, and 3 spare so that slow
/// DNS lookups do not take the threads the store needs.
const MAX_BLOCKING_THREADS: usize = 8;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => run(config.as_deref()),
        Command::CheckConfig { config } => check_config(config.as_deref()),
        Command::Ctl(args) => tradebeat::ctl::main(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "tradebeat",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
    }
}

/// The config of `run` and `check-config`, credential files read and checked too (the
/// daemon reads them again when it builds its clients): an unreadable, oversized or
/// malformed credential is a config error, exit 2, before anything starts.
fn load(path: Option<&Path>) -> Result<config::Config, ExitCode> {
    config::load(path)
        .and_then(|config| config.credentials().map(|_| config))
        .and_then(|config| config.http.token().map(|_| config))
        .map_err(|e| {
            eprintln!("tradebeat: {e}");
            ExitCode::from(2)
        })
}

fn check_config(path: Option<&Path>) -> ExitCode {
    match load(path) {
        Ok(config) => {
            print!("{}", config.render_effective());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn run(path: Option<&Path>) -> ExitCode {
    // Before the config (and the credentials it names) is read: a core would hold them.
    if let Err(e) = tradebeat::files::disable_core_dumps() {
        eprintln!("tradebeat: cannot disable core dumps: {e}");
        return ExitCode::FAILURE;
    }
    let mut config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // One absolute database path for the lock, the store and every message about them.
    if let Ok(database) = std::path::absolute(&config.storage.database) {
        config.storage.database = database;
    }
    // The single-instance lock comes before anything that writes: a second `run` on this
    // database must leave the first one's database and log files alone, so it is refused
    // before logging opens them (its refusal goes to stderr, which is the journal under
    // systemd). Held until `main` returns; the kernel drops it on any exit.
    let instance = match InstanceLock::acquire(&config.storage.database) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("tradebeat: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _log_guard = match logging::init(&config.logging) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("tradebeat: cannot start logging: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // reqwest's rustls may see more than one crypto provider in the graph; pick one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tradebeat: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon::run(config, instance.held())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(target: "tradebeat::daemon", error = %format!("{e:#}"), "tradebeat failed");
            eprintln!("tradebeat: {e:#}");
            ExitCode::FAILURE
        }
    }
}
