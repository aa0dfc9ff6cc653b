//! Configuration: one struct read with figment from defaults, then the TOML file given with
//! `--config`, then environment variables `TRADEBEAT_SECTION__KEY`.
//!
//! The keys are a contract with users (README.md, "Configuration"); `config.toml.example`
//! documents each with its unit. Unknown keys are refused, and so are values that cannot work
//! (an unknown interval, an offset not below the period …): the daemon does not start on a
//! config it does not fully understand. Secrets are [`Secret`]s: redacted in `Debug`, in
//! serialization and in `check-config` output.
//!
//! - **Layers.** Built-in defaults, then the file, then the environment; a later layer wins
//!   key by key, and a list replaces the list below it whole.
//! - **Environment.** `TRADEBEAT_HEARTBEAT__PERIOD_SECS=2` sets `heartbeat.period_secs`:
//!   the name after the prefix is lower-cased and `__` separates section and key. A value
//!   starting with `[` or `{` is read as a list or table (`'["BTCUSDT"]'`,
//!   `'{ 1m = 30 }'`); any other value is a string, and numbers may be given as strings
//!   (also in the file). The list keys ([`LIST_KEYS`]) also take a comma-separated value,
//!   each item trimmed (`BTCUSDT,SOLUSDT`; an empty item is refused). Variables of the
//!   prefix without `__`, such as `TRADEBEAT_CONFIG`, belong to the command line and are
//!   ignored here.
//! - **Duplicates** in `market_data.symbols` or `market_data.intervals` are an error, not
//!   silently dropped: a symbol listed twice is usually a typo for another one.
//! - **URL overrides** carry no user name or password. On mainnet, or with credentials,
//!   they use TLS (`https`, `wss`) unless the host is loopback (a simulator, a tunnel).
//! - **Relative paths** (database, socket, log directory, credential files) are resolved
//!   against the daemon's working directory; this module leaves them as written.
//! - **Errors** name the key (`heartbeat.period_secs`) and where its value came from (the
//!   file, or the environment variable); they never contain the value of a secret.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use figment::error::Kind;
use figment::providers::Serialized;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::{Deserialize, Serialize};
use url::Url;

mod paper;
pub use paper::{PaperBalance, PaperConfig};

use crate::clock::BeatSchedule;
use crate::domain::{Credentials, Secret};
use crate::domain::{Interval, Symbol};
use crate::exchange::Network;

mod http;
pub use http::HttpConfig;

mod orders;
pub use orders::{KeepClosed, OrdersConfig};

mod strategies;
pub use strategies::StrategiesConfig;

/// The prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "TRADEBEAT_";

/// The values `logging.level` accepts, most severe first.
pub const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// The list-valued keys, whose environment variables may also be comma-separated lists
/// (`TRADEBEAT_MARKET_DATA__SYMBOLS=BTCUSDT,SOLUSDT`).
pub const LIST_KEYS: [&str; 4] = [
    "market_data.symbols",
    "market_data.intervals",
    "market_data.usdm_symbols",
    "market_data.coinm_symbols",
];

/// The keys whose values are never shown, in errors or in `check-config` output.
const SECRET_KEYS: [&str; 2] = ["exchange.api_key", "exchange.api_secret"];

/// The largest credential file (`api_key_file`, `api_secret_file`) read, in bytes (4 KiB).
/// A Binance API key is 64 characters, an Ed25519 private key in PEM about 120.
pub const MAX_CREDENTIAL_FILE_BYTES: u64 = 4096;

/// How deep an environment variable may nest, its key's levels (`section.key` is 2) and its
/// value's lists and tables together. The deepest key of this configuration is 3 levels
/// (`market_data.retention_days.1m`) and its values 1; a deeper variable is refused before
/// it is parsed.
pub const MAX_ENV_NESTING: usize = 16;

/// The longest Unix socket path Linux accepts, in bytes (`sun_path` less its final NUL).
const MAX_SOCKET_PATH_BYTES: usize = 107;

/// Reads the configuration: defaults, then the TOML file at `path` when one is given, then
/// the `TRADEBEAT_SECTION__KEY` variables of the process environment; then validates it.
///
/// # Errors
/// The file cannot be read or is not TOML, a key is unknown or has a value of the wrong
/// type, or [`Config::validate`] refuses a value.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let vars = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
    load_with_env(path, vars)
}

/// As [`load`], with the environment given as `(name, value)` pairs instead of read from the
/// process, so that tests need not change the process environment. Names without the
/// [`ENV_PREFIX`] are ignored.
///
/// # Errors
/// As [`load`].
pub fn load_with_env<K, V>(
    path: Option<&Path>,
    vars: impl IntoIterator<Item = (K, V)>,
) -> Result<Config, ConfigError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let text = match path {
        Some(path) => Some(
            std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
                path: path.to_path_buf(),
                error,
            })?,
        ),
        None => None,
    };
    from_sources(path.zip(text.as_deref()), vars)
}

/// Merges defaults, the file (its path, for messages, and its text) and the environment,
/// then validates the result.
fn from_sources<K, V>(
    file: Option<(&Path, &str)>,
    vars: impl IntoIterator<Item = (K, V)>,
) -> Result<Config, ConfigError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some((path, text)) = file {
        figment = figment.merge(Layer::file(path, text)?);
    }
    for (name, value) in vars {
        if let Some(layer) = Layer::env(name.as_ref(), value.as_ref())? {
            figment = figment.merge(layer);
        }
    }
    let config: Config = figment.extract_lossy().map_err(ConfigError::from_figment)?;
    config.validate().map_err(|e| e.with_origin(&figment))?;
    Ok(config)
}

/// One source of values merged over the defaults: the config file, or one environment
/// variable. Its metadata names the source in error messages.
struct Layer {
    metadata: Metadata,
    dict: Dict,
}

impl Layer {
    /// The config file at `path`, whose content is `text`.
    fn file(path: &Path, text: &str) -> Result<Layer, ConfigError> {
        let dict = toml::from_str::<Dict>(text).map_err(|e| syntax_error(path, text, &e))?;
        Ok(Layer {
            metadata: Metadata::from("config file", path),
            dict,
        })
    }

    /// The variable `name` when it has the form `TRADEBEAT_SECTION__KEY`, else `None`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when the key's levels and the value's nesting together go
    /// deeper than [`MAX_ENV_NESTING`]: parsing them (figment recurses) could overflow the
    /// stack, and no key of this configuration is nested that deep.
    fn env(name: &str, raw: &str) -> Result<Option<Layer>, ConfigError> {
        let Some(key) = name.strip_prefix(ENV_PREFIX) else {
            return Ok(None);
        };
        if !key.contains("__") {
            return Ok(None);
        }
        let key = key.replace("__", ".").to_ascii_lowercase();
        let structured = raw.trim_start().starts_with(['[', '{']);
        let parsed = structured && !SECRET_KEYS.contains(&key.as_str());
        let depth = key.split('.').count() + if parsed { nesting_depth(raw) } else { 0 };
        if depth > MAX_ENV_NESTING {
            return Err(ConfigError::Invalid {
                key: shorten(&key),
                message: format!(
                    "is nested {depth} levels deep (key and value); at most {MAX_ENV_NESTING} \
                     are accepted"
                ),
                origin: Origin::Env(shorten(name)),
            });
        }
        let value = if parsed {
            let Ok(value) = raw.parse::<Value>();
            value
        } else if LIST_KEYS.contains(&key.as_str()) {
            let items: Vec<&str> = raw.split(',').map(str::trim).collect();
            Value::from(items)
        } else {
            Value::from(raw.to_string())
        };
        Ok(figment::util::nest(&key, value)
            .into_dict()
            .map(|dict| Layer {
                metadata: Metadata::from(format!("environment variable {name}"), name.to_string()),
                dict,
            }))
    }
}

/// The deepest nesting of `[` and `{` in `raw`, outside `"` strings (`\"` escapes a quote).
/// Counts brackets, not what figment's parser makes of them: never less than the depth of
/// the parsed value.
fn nesting_depth(raw: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for c in raw.chars() {
        match (in_string, c) {
            (true, _) if escaped => escaped = false,
            (true, '\\') => escaped = true,
            (_, '"') => in_string = !in_string,
            (false, '[' | '{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// `text` cut to 64 characters and `…`, for messages that name a variable of any length.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// A TOML syntax error with its line and column, counted from 1. Only toml's message is
/// kept, not its excerpt of the file, which could show a secret.
fn syntax_error(path: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let at = error.span().map_or(0, |span| span.start);
    let before = text.get(..at).unwrap_or(text);
    let message = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line: before.matches('\n').count() + 1,
        column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
        message,
    }
}

/// Why a configuration was refused. Every message names the key or the file at fault and
/// never shows a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file named on the command line cannot be read.
    #[error("cannot read config file {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    /// The config file is not valid TOML.
    #[error("invalid toml in {} at line {line}, column {column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A key that no section has (`unknown key `heartbeat.perid_secs``).
    #[error("unknown key `{key}`{origin}: expected one of {expected}")]
    UnknownKey {
        key: String,
        expected: String,
        origin: Origin,
    },
    /// A key whose value has the wrong type or cannot work.
    #[error("invalid `{key}`{origin}: {message}")]
    Invalid {
        key: String,
        message: String,
        origin: Origin,
    },
    /// A credential file (`api_key_file`, `api_secret_file`) cannot be read.
    #[error("cannot read `{key}` {}: {error}", path.display())]
    SecretFile {
        key: &'static str,
        path: PathBuf,
        error: io::Error,
    },
}

impl ConfigError {
    /// An invalid value of `key`, origin not (yet) known.
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
            origin: Origin::Default,
        }
    }

    /// Translates figment's error, rendering its path as `section.key` (`list[1]` for list
    /// items) and hiding the value of a secret key.
    fn from_figment(error: figment::Error) -> ConfigError {
        let mut key = String::new();
        for part in &error.path {
            if !key.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                key.push_str(&format!("[{part}]"));
            } else {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(part);
            }
        }
        let origin = error.metadata.as_ref().map(Origin::of).unwrap_or_default();
        match error.kind {
            Kind::UnknownField(_, expected) => ConfigError::UnknownKey {
                key,
                expected: expected.join(", "),
                origin,
            },
            _ if SECRET_KEYS.contains(&key.as_str()) => ConfigError::Invalid {
                key,
                message: "expected a string (the value is not shown)".to_string(),
                origin,
            },
            kind => ConfigError::Invalid {
                key,
                message: plain_message(kind),
                origin,
            },
        }
    }

    /// Names the layer that supplied the refused value, when validation found it.
    fn with_origin(mut self, figment: &Figment) -> ConfigError {
        if let ConfigError::Invalid { key, origin, .. } = &mut self
            && *origin == Origin::Default
        {
            *origin = figment
                .find_metadata(key)
                .map(Origin::of)
                .unwrap_or_default();
        }
        self
    }
}

/// Words for serde's complaint, where figment's own are obscure (`expected u64`).
fn plain_message(kind: Kind) -> String {
    let plain = |expected: String| match expected.as_str() {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".to_string(),
        _ => expected,
    };
    match kind {
        Kind::InvalidType(found, expected) | Kind::InvalidValue(found, expected) => {
            format!("found {found}, expected {}", plain(expected))
        }
        Kind::UnknownVariant(found, expected) => {
            format!(
                "unknown value `{found}`: expected one of {}",
                expected.join(", ")
            )
        }
        kind => kind.to_string(),
    }
}

/// Where a configuration value came from, for error messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origin {
    /// A built-in default, or not known.
    #[default]
    Default,
    /// The config file at this path.
    File(PathBuf),
    /// This environment variable.
    Env(String),
}

impl Origin {
    fn of(metadata: &Metadata) -> Origin {
        match &metadata.source {
            Some(Source::File(path)) => Origin::File(path.clone()),
            Some(Source::Custom(name)) => Origin::Env(name.clone()),
            _ => Origin::Default,
        }
    }
}

/// Empty for [`Origin::Default`], else ` in FILE` or ` from VARIABLE`, to follow a key.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => Ok(()),
            Origin::File(path) => write!(f, " in {}", path.display()),
            Origin::Env(name) => write!(f, " from {name}"),
        }
    }
}

/// The whole configuration. Every section has defaults, so an empty file is valid.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[exchange]`: the Binance environment, request settings, credentials.
    pub exchange: ExchangeConfig,
    /// `[heartbeat]`: when beats fire.
    pub heartbeat: HeartbeatConfig,
    /// `[market_data]`: symbols, intervals, backfill and retention.
    pub market_data: MarketDataConfig,
    /// `[storage]`: the SQLite database.
    pub storage: StorageConfig,
    /// `[control]`: the control socket.
    pub control: ControlConfig,
    /// `[logging]`: log files and level.
    pub logging: LoggingConfig,
    /// `[paper]`: paper trading (simulated orders against real prices).
    pub paper: PaperConfig,
    /// `[http]`: the optional HTTP server.
    pub http: HttpConfig,
    /// `[orders]`: order retention.
    pub orders: OrdersConfig,
    /// `[strategies]`: the strategy runner's concurrency bound.
    pub strategies: StrategiesConfig,
}

/// `[exchange]`: which Binance environment to talk to, and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeConfig {
    /// `testnet` (default) or `mainnet`; mainnet must be chosen explicitly.
    pub network: Network,
    /// REST base (`scheme://host[:port]`); `/api/v3/...` is appended. Default: the network's.
    pub rest_url: Option<String>,
    /// Market-stream base; `/ws/<stream>` is appended. Default: the network's.
    pub ws_url: Option<String>,
    /// The WebSocket API endpoint, whole. Default: the network's.
    pub ws_api_url: Option<String>,
    /// `recvWindow` sent with signed requests, ms (1..=60000). Default 5000, Binance's.
    pub recv_window_ms: u64,
    /// Timeout of one REST request, ms, connect included (> 0). Default 10000.
    pub request_timeout_ms: u64,
    /// API key; prefer env `TRADEBEAT_EXCHANGE__API_KEY` or `api_key_file`.
    pub api_key: Option<Secret>,
    /// API secret; prefer env `TRADEBEAT_EXCHANGE__API_SECRET` or `api_secret_file`.
    pub api_secret: Option<Secret>,
    /// A file holding the API key (systemd `LoadCredential=`).
    pub api_key_file: Option<PathBuf>,
    /// A file holding the API secret (systemd `LoadCredential=`).
    pub api_secret_file: Option<PathBuf>,
    /// USDⓈ-M futures REST base (`scheme://host[:port]`); `/fapi/...` is appended.
    /// Default: the network's.
    pub usdm_rest_url: Option<String>,
    /// USDⓈ-M futures stream base; `/ws/<listenKey>` is appended. Default: the network's.
    pub usdm_ws_url: Option<String>,
    /// COIN-M futures REST base (`scheme://host[:port]`); `/dapi/...` is appended.
    /// Default: the network's.
    pub coinm_rest_url: Option<String>,
    /// COIN-M futures stream base; `/ws/<listenKey>` is appended. Default: the network's.
    pub coinm_ws_url: Option<String>,
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        ExchangeConfig {
            network: Network::Testnet,
            rest_url: None,
            ws_url: None,
            ws_api_url: None,
            recv_window_ms: 5000,
            request_timeout_ms: 10_000,
            api_key: None,
            api_secret: None,
            api_key_file: None,
            api_secret_file: None,
            usdm_rest_url: None,
            usdm_ws_url: None,
            coinm_rest_url: None,
            coinm_ws_url: None,
        }
    }
}

/// `[heartbeat]`: beats fire at `k * period_secs + offset_secs` seconds since the epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// Seconds between beats (> 0). Default 60.
    pub period_secs: u64,
    /// Seconds after each multiple of the period (< period_secs). Default 5.
    pub offset_secs: u64,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            period_secs: 60,
            offset_secs: 5,
        }
    }
}

/// `[market_data]`: what to follow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketDataConfig {
    /// Spot symbols registered at start (more via `ctl symbols add`).
    pub symbols: Vec<Symbol>,
    /// Kline intervals stored for every symbol that does not name its own.
    pub intervals: Vec<Interval>,
    /// Days of history each new symbol is backfilled to (> 0). Default 30.
    pub backfill_days: u32,
    /// Days of klines kept per interval (`{ "1m" = 30 }`); an interval not named is kept
    /// forever.
    pub retention_days: BTreeMap<Interval, u32>,
    /// USDⓈ-M futures symbols registered at start (`BTCUSDT`; `BTC/USDT` accepted).
    /// Default: none.
    pub usdm_symbols: Vec<Symbol>,
    /// COIN-M futures symbols registered at start (`BTCUSD_PERP`, `BTCUSD_251226`).
    /// Default: none.
    pub coinm_symbols: Vec<Symbol>,
}

impl Default for MarketDataConfig {
    fn default() -> Self {
        MarketDataConfig {
            symbols: vec![sym("BTCUSDT"), sym("ETHUSDT")],
            intervals: vec![
                Interval::M1,
                Interval::M15,
                Interval::H1,
                Interval::H4,
                Interval::D1,
            ],
            backfill_days: 30,
            retention_days: BTreeMap::new(),
            usdm_symbols: Vec::new(),
            coinm_symbols: Vec::new(),
        }
    }
}

fn sym(s: &str) -> Symbol {
    s.parse()
        .unwrap_or_else(|_| unreachable!("built-in symbol {s} is valid"))
}

/// `[storage]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// The SQLite database file; its parent directory is created when missing.
    pub database: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            database: PathBuf::from("data/tradebeat.db"),
        }
    }
}

/// `[control]`: the local control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// Path of the Unix socket.
    pub socket: PathBuf,
    /// Permission bits of the socket, as an octal string (`"0600"`; `"0660"` for a group).
    pub socket_mode: String,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: PathBuf::from("data/control.sock"),
            socket_mode: "0600".to_string(),
        }
    }
}

/// `[logging]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Directory of `<component>.log` files; created when missing.
    pub dir: PathBuf,
    /// `error`, `warn`, `info`, `debug` or `trace`; `RUST_LOG` overrides it.
    pub level: String,
    /// Daily files kept per component, today's included (> 0). Default 14.
    pub max_files: usize,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            dir: PathBuf::from("logs"),
            level: "info".to_string(),
            max_files: 14,
        }
    }
}

impl Config {
    /// Checks what the types alone do not: ranges, URL schemes (no user or password; on
    /// mainnet or with credentials, plain-text `http`/`ws` only to a loopback host), the
    /// socket mode, the log level, duplicates, and that credentials come in pairs from one
    /// source each. Reads no file; [`Config::credentials`] does.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first key refused.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.exchange.validate()?;
        self.heartbeat.validate()?;
        self.market_data.validate()?;
        non_empty_path("storage.database", &self.storage.database)?;
        self.control.validate()?;
        self.logging.validate()?;
        self.paper.validate()?;
        self.http.validate()?;
        self.orders.validate()?;
        self.strategies.validate()
    }

    /// The API key pair, read from the config values or from the files they name (surrounding
    /// whitespace trimmed); `None` when neither is configured (market data only).
    ///
    /// # Errors
    /// Only one of key and secret is configured, one is given both as a value and as a
    /// file, a file cannot be read, is not a regular file, is larger than
    /// [`MAX_CREDENTIAL_FILE_BYTES`] or is empty, or the key is not printable ASCII. Errors
    /// name the file, never its content.
    pub fn credentials(&self) -> Result<Option<Credentials>, ConfigError> {
        let Some((key, secret)) = self.exchange.credential_sources()? else {
            return Ok(None);
        };
        let key_name = match key {
            SecretSource::Value(_) => "exchange.api_key",
            SecretSource::File(_) => "exchange.api_key_file",
        };
        let api_key = key.read("exchange.api_key_file")?;
        // Sent as the `X-MBX-APIKEY` header: visible ASCII only.
        if !api_key.expose().bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::invalid(
                key_name,
                "the api key must be printable ascii without spaces (the value is not shown)",
            ));
        }
        Ok(Some(Credentials {
            api_key,
            api_secret: secret.read("exchange.api_secret_file")?,
        }))
    }

    /// When heartbeats fire.
    ///
    /// # Panics
    /// If the heartbeat section was not accepted by [`Config::validate`] (which [`load`]
    /// calls).
    pub fn heartbeat_schedule(&self) -> BeatSchedule {
        self.heartbeat
            .schedule()
            .expect("heartbeat section checked by Config::validate")
    }

    /// The effective configuration as TOML, for `tradebeat check-config`: every key after
    /// defaults, file and environment were merged, with the network's URLs filled in.
    /// `api_key` and `api_secret` show as `"<redacted>"` when set (not even part of a key
    /// is printed); `api_key_file` and `api_secret_file` show their paths only.
    pub fn render_effective(&self) -> String {
        let mut effective = self.clone();
        let exchange = &mut effective.exchange;
        let network = exchange.network;
        exchange
            .rest_url
            .get_or_insert_with(|| network.rest_url().into());
        exchange
            .ws_url
            .get_or_insert_with(|| network.ws_url().into());
        exchange
            .ws_api_url
            .get_or_insert_with(|| network.ws_api_url().into());
        exchange
            .usdm_rest_url
            .get_or_insert_with(|| network.usdm_rest_url().into());
        exchange
            .usdm_ws_url
            .get_or_insert_with(|| network.usdm_ws_url().into());
        exchange
            .coinm_rest_url
            .get_or_insert_with(|| network.coinm_rest_url().into());
        exchange
            .coinm_ws_url
            .get_or_insert_with(|| network.coinm_ws_url().into());
        toml::to_string(&effective)
            .unwrap_or_else(|e| format!("# cannot render the configuration as toml: {e}\n"))
    }
}

/// Where one credential comes from.
enum SecretSource<'a> {
    Value(&'a Secret),
    File(&'a Path),
}

impl SecretSource<'_> {
    /// The secret, read from its file if it has one; `file_key` names that file's key.
    fn read(self, file_key: &'static str) -> Result<Secret, ConfigError> {
        let path = match self {
            SecretSource::Value(secret) => return Ok(secret.clone()),
            SecretSource::File(path) => path,
        };
        let text = read_credential_file(path).map_err(|error| ConfigError::SecretFile {
            key: file_key,
            path: path.to_path_buf(),
            error,
        })?;
        match text.trim() {
            "" => Err(ConfigError::invalid(
                file_key,
                format!("{} is empty", path.display()),
            )),
            value => Ok(Secret::new(value)),
        }
    }
}

/// Reads a credential file: a regular file (a device such as `/dev/zero`, a pipe or a
/// socket is refused before it is read: it could be endless or block) of at most
/// [`MAX_CREDENTIAL_FILE_BYTES`], in UTF-8. Never reads more than that bound plus one byte.
fn read_credential_file(path: &Path) -> io::Result<String> {
    use std::io::Read as _;
    let not_regular = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "is not a regular file (a device, a pipe or a socket cannot hold a credential)",
        )
    };
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path)?;
    // Checked again on what was opened: the path may have changed in between.
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    file.take(MAX_CREDENTIAL_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CREDENTIAL_FILE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "is larger than {MAX_CREDENTIAL_FILE_BYTES} bytes; a credential file holds one \
                 key"
            ),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not valid UTF-8 text"))
}

impl ExchangeConfig {
    /// The REST base URL in use: `rest_url`, or the network's.
    pub fn resolved_rest_url(&self) -> &str {
        self.rest_url.as_deref().unwrap_or(self.network.rest_url())
    }

    /// The market-stream base URL in use: `ws_url`, or the network's.
    pub fn resolved_ws_url(&self) -> &str {
        self.ws_url.as_deref().unwrap_or(self.network.ws_url())
    }

    /// The WebSocket API endpoint in use: `ws_api_url`, or the network's.
    pub fn resolved_ws_api_url(&self) -> &str {
        self.ws_api_url
            .as_deref()
            .unwrap_or(self.network.ws_api_url())
    }

    /// The USDⓈ-M futures REST base URL in use: `usdm_rest_url`, or the network's.
    pub fn resolved_usdm_rest_url(&self) -> &str {
        self.usdm_rest_url
            .as_deref()
            .unwrap_or(self.network.usdm_rest_url())
    }

    /// The COIN-M futures REST base URL in use: `coinm_rest_url`, or the network's.
    pub fn resolved_coinm_rest_url(&self) -> &str {
        self.coinm_rest_url
            .as_deref()
            .unwrap_or(self.network.coinm_rest_url())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=60_000).contains(&self.recv_window_ms) {
            return Err(ConfigError::invalid(
                "exchange.recv_window_ms",
                format!("must be 1 to 60000 (ms), not {}", self.recv_window_ms),
            ));
        }
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "exchange.request_timeout_ms",
                "must be at least 1 (ms)",
            ));
        }
        // Mainnet and signed traffic go over TLS, except to this machine (a simulator, a
        // local tunnel): a plain-text hop elsewhere could read or alter them.
        let tls_needed = match self.network {
            Network::Mainnet => Some("on mainnet"),
            Network::Testnet if self.has_credentials() => Some("with api keys configured"),
            Network::Testnet => None,
        };
        check_url(
            "exchange.rest_url",
            self.rest_url.as_deref(),
            ["https", "http"],
            tls_needed,
        )?;
        check_url(
            "exchange.ws_url",
            self.ws_url.as_deref(),
            ["wss", "ws"],
            tls_needed,
        )?;
        check_url(
            "exchange.ws_api_url",
            self.ws_api_url.as_deref(),
            ["wss", "ws"],
            tls_needed,
        )?;
        for (key, url) in [
            ("exchange.usdm_rest_url", self.usdm_rest_url.as_deref()),
            ("exchange.coinm_rest_url", self.coinm_rest_url.as_deref()),
        ] {
            check_url(key, url, ["https", "http"], tls_needed)?;
        }
        for (key, url) in [
            ("exchange.usdm_ws_url", self.usdm_ws_url.as_deref()),
            ("exchange.coinm_ws_url", self.coinm_ws_url.as_deref()),
        ] {
            check_url(key, url, ["wss", "ws"], tls_needed)?;
        }
        self.credential_sources().map(drop)
    }

    /// Whether any credential key is set, paired or not, as a value or as a file.
    fn has_credentials(&self) -> bool {
        self.api_key.is_some()
            || self.api_secret.is_some()
            || self.api_key_file.is_some()
            || self.api_secret_file.is_some()
    }

    /// Where the key and the secret come from, without reading any file.
    fn credential_sources(
        &self,
    ) -> Result<Option<(SecretSource<'_>, SecretSource<'_>)>, ConfigError> {
        let key = secret_source(
            "api_key",
            self.api_key.as_ref(),
            self.api_key_file.as_deref(),
        )?;
        let secret = secret_source(
            "api_secret",
            self.api_secret.as_ref(),
            self.api_secret_file.as_deref(),
        )?;
        let missing = |name: &str| {
            ConfigError::invalid(
                format!("exchange.{name}"),
                format!("missing: the api key and secret go together (set {name} or {name}_file)"),
            )
        };
        match (key, secret) {
            (Some(key), Some(secret)) => Ok(Some((key, secret))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(missing("api_secret")),
            (None, Some(_)) => Err(missing("api_key")),
        }
    }
}

/// One credential's source: its value `name` or its file `name_file`, not both, not empty.
fn secret_source<'a>(
    name: &str,
    value: Option<&'a Secret>,
    file: Option<&'a Path>,
) -> Result<Option<SecretSource<'a>>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            format!("exchange.{name}"),
            format!("set either {name} or {name}_file, not both"),
        )),
        (Some(value), None) if value.expose().trim().is_empty() => {
            Err(ConfigError::invalid(format!("exchange.{name}"), "is empty"))
        }
        (Some(value), None) => Ok(Some(SecretSource::Value(value))),
        (None, Some(path)) => {
            non_empty_path(&format!("exchange.{name}_file"), path)?;
            Ok(Some(SecretSource::File(path)))
        }
        (None, None) => Ok(None),
    }
}

/// Checks an optional URL override: parseable, with a host and the scheme `tls` or its
/// plain-text twin `plain`, without user name, password, query or fragment. When
/// `tls_needed` gives a reason (`"on mainnet"`), `plain` is allowed only to a loopback
/// host: `127.0.0.0/8`, `::1` or `localhost`. The value is not echoed: it could carry a
/// password.
fn check_url(
    key: &str,
    value: Option<&str>,
    [tls, plain]: [&str; 2],
    tls_needed: Option<&str>,
) -> Result<(), ConfigError> {
    let Some(value) = value else {
        return Ok(());
    };
    let url =
        Url::parse(value).map_err(|e| ConfigError::invalid(key, format!("not a url: {e}")))?;
    if ![tls, plain].contains(&url.scheme()) || !url.has_host() {
        return Err(ConfigError::invalid(
            key,
            format!("must be a url with scheme {plain} or {tls} and a host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::invalid(
            key,
            "must not contain a user name or password (the value is not shown)",
        ));
    }
    if let Some(reason) = tls_needed
        && url.scheme() == plain
        && !is_loopback(&url)
    {
        return Err(ConfigError::invalid(
            key,
            format!(
                "must use {tls}, not plain-text {plain}, {reason}, unless the host is loopback \
                 (127.0.0.0/8, ::1 or localhost)"
            ),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::invalid(
            key,
            "must not have a query or fragment",
        ));
    }
    Ok(())
}

/// Whether `url`'s host is this machine: an address in `127.0.0.0/8`, `::1`, or the name
/// `localhost` (any case).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Refuses an empty path (an unset environment variable, often).
fn non_empty_path(key: &str, path: &Path) -> Result<(), ConfigError> {
    if path.as_os_str().is_empty() {
        return Err(ConfigError::invalid(key, "must not be empty"));
    }
    Ok(())
}

/// Refuses the first value listed twice in `items`.
fn no_duplicates<T: Ord + fmt::Display>(key: &str, items: &[T]) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    match items.iter().find(|item| !seen.insert(*item)) {
        Some(item) => Err(ConfigError::invalid(key, format!("{item} is listed twice"))),
        None => Ok(()),
    }
}

impl HeartbeatConfig {
    /// The schedule, or `None` if the period is 0 or the offset not below it.
    pub fn schedule(&self) -> Option<BeatSchedule> {
        BeatSchedule::new(self.period_secs, self.offset_secs)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.period_secs == 0 {
            return Err(ConfigError::invalid(
                "heartbeat.period_secs",
                "must be at least 1 (seconds)",
            ));
        }
        if self.offset_secs >= self.period_secs {
            return Err(ConfigError::invalid(
                "heartbeat.offset_secs",
                format!(
                    "must be less than heartbeat.period_secs ({}), not {}",
                    self.period_secs, self.offset_secs
                ),
            ));
        }
        match self.schedule() {
            Some(_) => Ok(()),
            None => Err(ConfigError::invalid(
                "heartbeat.period_secs",
                "is too large",
            )),
        }
    }
}

impl MarketDataConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        no_duplicates("market_data.symbols", &self.symbols)?;
        no_duplicates("market_data.usdm_symbols", &self.usdm_symbols)?;
        no_duplicates("market_data.coinm_symbols", &self.coinm_symbols)?;
        no_duplicates("market_data.intervals", &self.intervals)?;
        if self.backfill_days == 0 {
            return Err(ConfigError::invalid(
                "market_data.backfill_days",
                "must be at least 1 (days)",
            ));
        }
        match self.retention_days.iter().find(|(_, days)| **days == 0) {
            Some((interval, _)) => Err(ConfigError::invalid(
                format!("market_data.retention_days.{interval}"),
                "must be at least 1 (days); leave the interval out to keep its klines forever",
            )),
            None => Ok(()),
        }
    }
}

impl ControlConfig {
    /// The permission bits of `socket_mode` (`"0600"` → `0o600`), or `None` unless it is 3
    /// or 4 octal digits no greater than `0777`.
    pub fn socket_mode_bits(&self) -> Option<u32> {
        let mode = self.socket_mode.as_str();
        let octal =
            (3..=4).contains(&mode.len()) && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
        octal
            .then(|| u32::from_str_radix(mode, 8).ok())
            .flatten()
            .filter(|bits| *bits <= 0o777)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        non_empty_path("control.socket", &self.socket)?;
        if self.socket.as_os_str().len() > MAX_SOCKET_PATH_BYTES {
            return Err(ConfigError::invalid(
                "control.socket",
                format!(
                    "is longer than the {MAX_SOCKET_PATH_BYTES} bytes a unix socket path may have"
                ),
            ));
        }
        if self.socket_mode_bits().is_none() {
            return Err(ConfigError::invalid(
                "control.socket_mode",
                format!(
                    "must be 3 or 4 octal digits no greater than 0777, such as \"0600\", not {:?}",
                    self.socket_mode
                ),
            ));
        }
        Ok(())
    }
}

impl LoggingConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        non_empty_path("logging.dir", &self.dir)?;
        if !LOG_LEVELS.contains(&self.level.as_str()) {
            return Err(ConfigError::invalid(
                "logging.level",
                format!(
                    "must be one of {}, not {:?}",
                    LOG_LEVELS.join(", "),
                    self.level
                ),
            ));
        }
        if self.max_files == 0 {
            return Err(ConfigError::invalid(
                "logging.max_files",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_ENV: [(&str, &str); 0] = [];
    const SECRET: &str = "S3CR3T-XYZ";

    /// Loads `toml` as the file `test.toml`, with `env`.
    fn load_str(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        from_sources(Some((Path::new("test.toml"), toml)), env.iter().copied())
    }

    /// The message of the error `toml` must produce.
    fn error_of(toml: &str) -> String {
        match load_str(toml, &[]) {
            Ok(_) => panic!("accepted:\n{toml}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_valid() {
        let config = load_with_env(None, NO_ENV).unwrap();
        assert_eq!(
            config.heartbeat_schedule(),
            BeatSchedule::new(60, 5).unwrap()
        );
        assert_eq!(config.exchange.network, Network::Testnet);
        assert_eq!(config.control.socket_mode_bits(), Some(0o600));
        assert!(config.credentials().unwrap().is_none());
    }

    #[test]
    fn the_example_file_is_valid_and_shows_the_defaults() {
        let example = include_str!("../config.toml.example");
        let config = load_str(example, &[]).unwrap();
        assert_eq!(
            config.render_effective(),
            Config::default().render_effective()
        );
    }

    #[test]
    fn refused_values_name_their_key() {
        let cases: &[(&str, &[&str])] = &[
            (
                "[heartbeat]\nperid_secs = 5",
                &["unknown key `heartbeat.perid_secs`", "period_secs"],
            ),
            (
                "[heartbeet]\nperiod_secs = 5",
                &["unknown key `heartbeet`", "in test.toml"],
            ),
            (
                "[heartbeat]\nperiod_secs = 0",
                &["`heartbeat.period_secs`", "at least 1"],
            ),
            (
                "[heartbeat]\nperiod_secs = 60\noffset_secs = 60",
                &["`heartbeat.offset_secs`", "(60)"],
            ),
            (
                "[heartbeat]\nperiod_secs = -1",
                &["`heartbeat.period_secs`", "non-negative integer"],
            ),
            (
                "[heartbeat]\nperiod_secs = \"soon\"",
                &["`heartbeat.period_secs`", "in test.toml"],
            ),
            (
                "[market_data]\nintervals = [\"1m\", \"2m\"]",
                &["`market_data.intervals[1]`", "\"2m\"", "1m, 3m, 5m"],
            ),
            (
                "[market_data]\nintervals = [\"1h\", \"1h\"]",
                &["`market_data.intervals`", "1h is listed twice"],
            ),
            (
                "[market_data]\nsymbols = [\"BTC-USDT\"]",
                &["`market_data.symbols[0]`", "invalid symbol"],
            ),
            (
                "[market_data]\nsymbols = [\"ETHUSDT\", \"ethusdt\"]",
                &["`market_data.symbols`", "ETHUSDT is listed twice"],
            ),
            (
                "[market_data]\nbackfill_days = 0",
                &["`market_data.backfill_days`"],
            ),
            (
                "[market_data]\nretention_days = { 1m = 0 }",
                &["`market_data.retention_days.1m`"],
            ),
            (
                "[market_data]\nretention_days = { 1s = 5 }",
                &["`market_data.retention_days.1s`", "unknown interval"],
            ),
            (
                "[exchange]\nnetwork = \"moonnet\"",
                &["`exchange.network`", "mainnet"],
            ),
            (
                "[exchange]\nrecv_window_ms = 0",
                &["`exchange.recv_window_ms`", "1 to 60000"],
            ),
            (
                "[exchange]\nrecv_window_ms = 60001",
                &["`exchange.recv_window_ms`"],
            ),
            (
                "[exchange]\nrequest_timeout_ms = 0",
                &["`exchange.request_timeout_ms`"],
            ),
            (
                "[exchange]\nrest_url = \"wss://example.com\"",
                &["`exchange.rest_url`", "http or https"],
            ),
            (
                "[exchange]\nrest_url = \"example.com\"",
                &["`exchange.rest_url`", "not a url"],
            ),
            (
                "[exchange]\nws_url = \"https://example.com\"",
                &["`exchange.ws_url`", "ws or wss"],
            ),
            (
                "[exchange]\nws_api_url = \"ws://x?q=1\"",
                &["`exchange.ws_api_url`", "query"],
            ),
            (
                "[control]\nsocket_mode = \"0800\"",
                &["`control.socket_mode`"],
            ),
            (
                "[control]\nsocket_mode = \"1777\"",
                &["`control.socket_mode`", "0777"],
            ),
            (
                "[control]\nsocket_mode = \"60\"",
                &["`control.socket_mode`"],
            ),
            ("[control]\nsocket = \"\"", &["`control.socket`", "empty"]),
            (
                "[logging]\nlevel = \"verbose\"",
                &["`logging.level`", "error, warn, info, debug, trace"],
            ),
            ("[logging]\nmax_files = 0", &["`logging.max_files`"]),
            ("[storage]\ndatabase = \"\"", &["`storage.database`"]),
        ];
        for (toml, expected) in cases {
            let message = error_of(toml);
            for part in *expected {
                assert!(
                    message.contains(part),
                    "{toml:?} gave {message:?}, lacking {part:?}"
                );
            }
            assert!(!message.ends_with('.'), "{message}");
            assert!(!message.starts_with(char::is_uppercase), "{message}");
        }
        let long = format!(
            "[control]\nsocket = \"/{}\"",
            "s".repeat(MAX_SOCKET_PATH_BYTES)
        );
        assert!(error_of(&long).contains("`control.socket`"));
    }

    #[test]
    fn valid_edge_values_are_accepted() {
        let toml = "[heartbeat]\nperiod_secs = 1\noffset_secs = 0\n[exchange]\nrecv_window_ms = 60000\n\
                    rest_url = \"http://127.0.0.1:9000\"\nws_url = \"ws://127.0.0.1:9001\"\n\
                    [control]\nsocket_mode = \"660\"\n[market_data]\nsymbols = []\n\
                    retention_days = { 1m = 7, 1d = 3650 }";
        let config = load_str(toml, &[]).unwrap();
        assert_eq!(config.control.socket_mode_bits(), Some(0o660));
        assert_eq!(config.exchange.resolved_rest_url(), "http://127.0.0.1:9000");
        assert_eq!(
            config.market_data.retention_days.get(&Interval::M1),
            Some(&7)
        );
    }

    #[test]
    fn plain_text_urls_are_refused_on_mainnet_or_with_keys_unless_the_host_is_loopback() {
        let mainnet = "network = \"mainnet\"\n";
        let keys = [
            ("TRADEBEAT_EXCHANGE__API_KEY", "KEY-123"),
            ("TRADEBEAT_EXCHANGE__API_SECRET", SECRET),
        ];
        // (on mainnet, else testnet with keys; the line; what the message names)
        let refused = [
            (
                true,
                "rest_url = \"http://api.binance.com\"",
                "`exchange.rest_url` in test.toml",
            ),
            (
                true,
                "ws_url = \"ws://stream.binance.com:9443\"",
                "`exchange.ws_url`",
            ),
            (
                false,
                "rest_url = \"http://10.0.0.7:8080\"",
                "`exchange.rest_url`",
            ),
            (
                false,
                "ws_api_url = \"ws://proxy.lan/ws-api/v3\"",
                "`exchange.ws_api_url`",
            ),
            // Names that merely look local are not loopback.
            (
                false,
                "rest_url = \"http://localhost.example.com\"",
                "`exchange.rest_url`",
            ),
        ];
        for (on_mainnet, line, key) in refused {
            let (head, env): (&str, &[(&str, &str)]) = if on_mainnet {
                (mainnet, &[])
            } else {
                ("", &keys)
            };
            let toml = format!("[exchange]\n{head}{line}");
            let message = load_str(&toml, env).unwrap_err().to_string();
            let reason = if on_mainnet { "on mainnet" } else { "api keys" };
            for part in [key, reason, "loopback"] {
                assert!(
                    message.contains(part),
                    "{toml:?} gave {message:?}, lacking {part:?}"
                );
            }
            assert!(!message.contains(SECRET), "{message}");
        }

        let accepted = [
            "rest_url = \"http://127.0.0.1:9000\"",
            "rest_url = \"http://127.8.9.10\"",
            "rest_url = \"http://[::1]:9000\"",
            "rest_url = \"http://localhost:9000\"",
            "ws_url = \"ws://LOCALHOST:9001\"",
            "ws_api_url = \"ws://127.0.0.1:9001/ws-api/v3\"",
            "rest_url = \"https://proxy.lan\"",
            "ws_api_url = \"wss://proxy.lan/ws-api/v3\"",
        ];
        for line in accepted {
            let toml = format!("[exchange]\n{mainnet}{line}");
            load_str(&toml, &keys).unwrap_or_else(|e| panic!("{toml:?}: {e}"));
        }
        // Testnet market data without keys may go through a plain-text proxy.
        load_str("[exchange]\nrest_url = \"http://proxy.lan:8080\"", &[]).unwrap();
    }

    #[test]
    fn urls_with_a_user_or_password_are_refused_without_showing_them() {
        for (line, key) in [
            (
                "rest_url = \"https://alice:P4SSW0RD@proxy.lan\"",
                "`exchange.rest_url`",
            ),
            (
                "ws_url = \"wss://:P4SSW0RD@proxy.lan\"",
                "`exchange.ws_url`",
            ),
            (
                "ws_api_url = \"ws://alice:P4SSW0RD@127.0.0.1:9001/ws\"",
                "`exchange.ws_api_url`",
            ),
            (
                "rest_url = \"https://alice@proxy.lan\"",
                "`exchange.rest_url`",
            ),
        ] {
            let message = error_of(&format!("[exchange]\n{line}"));
            assert!(message.contains(key), "{line:?} gave {message:?}");
            assert!(message.contains("user name or password"), "{message}");
            assert!(!message.contains("P4SSW0RD"), "{message}");
            assert!(!message.contains("alice"), "{message}");
        }
        let env = [(
            "TRADEBEAT_EXCHANGE__REST_URL",
            "http://alice:P4SSW0RD@127.0.0.1:1",
        )];
        let error = load_str("", &env).unwrap_err();
        let message = format!("{error} {error:?}");
        assert!(
            message.contains("TRADEBEAT_EXCHANGE__REST_URL"),
            "{message}"
        );
        assert!(!message.contains("P4SSW0RD"), "{message}");
    }

    #[test]
    fn list_keys_take_comma_separated_environment_values() {
        let env = [
            ("TRADEBEAT_MARKET_DATA__SYMBOLS", "BTCUSDT, sol/usdt,ETHBTC"),
            ("TRADEBEAT_MARKET_DATA__INTERVALS", "1m,1h"),
        ];
        let config = load_str("", &env).unwrap();
        let symbols: Vec<_> = config
            .market_data
            .symbols
            .iter()
            .map(Symbol::as_str)
            .collect();
        assert_eq!(symbols, ["BTCUSDT", "SOLUSDT", "ETHBTC"]);
        assert_eq!(config.market_data.intervals, [Interval::M1, Interval::H1]);

        // One value is a list of one; a TOML array still works.
        let env = [
            ("TRADEBEAT_MARKET_DATA__SYMBOLS", "XRPUSDT"),
            ("TRADEBEAT_MARKET_DATA__INTERVALS", " [\"4h\", \"1d\"]"),
        ];
        let config = load_str("", &env).unwrap();
        assert_eq!(config.market_data.symbols, [sym("XRPUSDT")]);
        assert_eq!(config.market_data.intervals, [Interval::H4, Interval::D1]);

        // An empty item is refused, naming the variable and the item.
        for (name, value, key) in [
            (
                "TRADEBEAT_MARKET_DATA__SYMBOLS",
                "BTCUSDT,",
                "`market_data.symbols[1]`",
            ),
            (
                "TRADEBEAT_MARKET_DATA__SYMBOLS",
                "",
                "`market_data.symbols[0]`",
            ),
            (
                "TRADEBEAT_MARKET_DATA__INTERVALS",
                "1m,2m",
                "`market_data.intervals[1]`",
            ),
            (
                "TRADEBEAT_MARKET_DATA__SYMBOLS",
                "BTCUSDT,btc/usdt",
                "BTCUSDT is listed twice",
            ),
        ] {
            let message = load_str("", &[(name, value)]).unwrap_err().to_string();
            assert!(message.contains(key), "{value:?} gave {message:?}");
            assert!(message.contains(name), "{value:?} gave {message:?}");
        }
        // Other keys keep their commas.
        let env = [("TRADEBEAT_LOGGING__DIR", "logs,old")];
        assert_eq!(
            load_str("", &env).unwrap().logging.dir,
            Path::new("logs,old")
        );
    }

    #[test]
    fn deeply_nested_environment_variables_are_refused_before_they_are_parsed() {
        // Before the bound, figment's recursive parser overflowed the stack (SIGABRT) on
        // these: a value nested 1600 levels, a key of 20 000 levels.
        let deep_value = "[".repeat(1600);
        let deep_key = format!("TRADEBEAT_A{}", "__A".repeat(20_000));
        let closed = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let table = format!("{}{}", "{ a = ".repeat(1000), "}".repeat(1000));
        let cases = [
            (
                "TRADEBEAT_MARKET_DATA__SYMBOLS",
                deep_value.as_str(),
                "1602 levels",
            ),
            (
                "TRADEBEAT_MARKET_DATA__INTERVALS",
                closed.as_str(),
                "100002 levels",
            ),
            (
                "TRADEBEAT_MARKET_DATA__RETENTION_DAYS",
                table.as_str(),
                "1002 levels",
            ),
            (deep_key.as_str(), "1", "20001 levels"),
        ];
        for (name, value, depth) in cases {
            let message = load_str("", &[(name, value)]).unwrap_err().to_string();
            assert!(message.contains(depth), "{message}");
            assert!(message.contains("at most 16"), "{message}");
            assert!(message.contains(&name[..30]), "{message}");
            assert!(message.len() < 400, "a long name is shortened: {message}");
        }
        // At the bound, and brackets inside strings, are parsed as before.
        let fourteen = format!("{}\"BTCUSDT\"{}", "[".repeat(14), "]".repeat(14));
        let message = load_str("", &[("TRADEBEAT_MARKET_DATA__SYMBOLS", fourteen.as_str())])
            .unwrap_err()
            .to_string();
        assert!(message.contains("expected a string"), "{message}");
        let quoted = format!("[\"{}\"]", "[".repeat(50));
        let message = load_str("", &[("TRADEBEAT_MARKET_DATA__SYMBOLS", quoted.as_str())])
            .unwrap_err()
            .to_string();
        assert!(message.contains("invalid symbol"), "{message}");
        // A secret is never parsed as a list, so never counted.
        let env = [
            ("TRADEBEAT_EXCHANGE__API_KEY", deep_value.as_str()),
            ("TRADEBEAT_EXCHANGE__API_SECRET", SECRET),
        ];
        load_str("", &env).unwrap();
    }

    #[test]
    fn toml_syntax_errors_name_the_file_line_and_column() {
        let message = error_of("[heartbeat]\nperiod_secs = 60\noffset_secs = = 5\n");
        assert!(message.contains("test.toml"), "{message}");
        assert!(message.contains("line 3, column"), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn a_missing_config_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nowhere.toml");
        let message = load_with_env(Some(&path), NO_ENV).unwrap_err().to_string();
        assert!(message.contains(&*path.to_string_lossy()), "{message}");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let toml = "[heartbeat]\nperiod_secs = 30\noffset_secs = 1\n[market_data]\nsymbols = [\"BNBUSDT\"]";
        let env = [
            ("TRADEBEAT_HEARTBEAT__PERIOD_SECS", "2"),
            (
                "TRADEBEAT_MARKET_DATA__SYMBOLS",
                "[\"SOLUSDT\", \"btcusdt\"]",
            ),
            ("TRADEBEAT_MARKET_DATA__RETENTION_DAYS", "{ 1m = 30 }"),
            ("TRADEBEAT_EXCHANGE__NETWORK", "mainnet"),
            ("TRADEBEAT_CONFIG", "/etc/tradebeat/config.toml"),
            ("PATH", "/usr/bin"),
        ];
        let config = load_str(toml, &env).unwrap();
        assert_eq!(config.heartbeat.period_secs, 2);
        assert_eq!(config.heartbeat.offset_secs, 1);
        let symbols: Vec<_> = config
            .market_data
            .symbols
            .iter()
            .map(Symbol::as_str)
            .collect();
        assert_eq!(symbols, ["SOLUSDT", "BTCUSDT"]);
        assert_eq!(
            config.market_data.retention_days.get(&Interval::M1),
            Some(&30)
        );
        assert_eq!(
            config.exchange.resolved_rest_url(),
            "https://api.binance.com"
        );
    }

    #[test]
    fn errors_name_the_environment_variable_at_fault() {
        let env = [("TRADEBEAT_HEARTBEAT__OFFSET_SECS", "90")];
        let message = load_str("", &env).unwrap_err().to_string();
        assert!(
            message.contains("`heartbeat.offset_secs` from TRADEBEAT_HEARTBEAT__OFFSET_SECS"),
            "{message}"
        );
        let env = [("TRADEBEAT_HEARTBEAT__PERID_SECS", "90")];
        let message = load_str("", &env).unwrap_err().to_string();
        assert!(
            message.contains("unknown key `heartbeat.perid_secs`"),
            "{message}"
        );
    }

    #[test]
    fn secrets_are_never_shown() {
        let toml = format!("[exchange]\napi_key = \"KEY-{SECRET}\"\napi_secret = \"{SECRET}\"");
        let config = load_str(&toml, &[]).unwrap();
        let rendered = config.render_effective();
        assert!(
            rendered.contains("api_secret = \"<redacted>\""),
            "{rendered}"
        );
        assert!(rendered.contains("api_key = \"<redacted>\""), "{rendered}");
        assert!(!rendered.contains(SECRET), "{rendered}");
        assert!(!format!("{config:?}").contains(SECRET));
        let credentials = config.credentials().unwrap().unwrap();
        assert_eq!(credentials.api_secret.expose(), SECRET);
        assert!(!format!("{credentials:?}").contains(SECRET));

        let refused = [
            format!("[exchange]\napi_secret = \"{SECRET}\""),
            format!("[exchange]\napi_key = [\"{SECRET}\"]\napi_secret = \"{SECRET}\""),
            format!("[exchange]\napi_key = {{ k = \"{SECRET}\" }}"),
            format!("[exchange]\napi_secret = {SECRET}"),
            format!("[exchange]\napi_secret = \"{SECRET}"),
            format!("[exchange]\napi_secret = \"{SECRET}\"\napi_secret = \"{SECRET}\""),
            format!("[exchange]\napi_key = \"{SECRET}\"\napi_key_file = \"k\"\napi_secret = \"x\""),
            format!("[exchange]\napi_key = \"{SECRET}\"\napi_secret = \"x\"\nbogus = 1"),
        ];
        for toml in &refused {
            let error = load_str(toml, &[]).unwrap_err();
            assert!(!error.to_string().contains(SECRET), "{toml:?} gave {error}");
            assert!(
                !format!("{error:?}").contains(SECRET),
                "{toml:?} gave {error:?}"
            );
        }
        let env = [("TRADEBEAT_EXCHANGE__API_SECRET", SECRET)];
        let error = load_str("", &env).unwrap_err();
        assert!(error.to_string().contains("`exchange.api_key`"), "{error}");
        assert!(!format!("{error} {error:?}").contains(SECRET));
    }

    #[test]
    fn credentials_are_read_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let (key_file, secret_file) = (dir.path().join("key"), dir.path().join("secret"));
        std::fs::write(&key_file, "KEY123\n").unwrap();
        std::fs::write(&secret_file, format!("{SECRET}\r\n")).unwrap();
        let env = [
            (
                "TRADEBEAT_EXCHANGE__API_KEY_FILE",
                key_file.to_str().unwrap(),
            ),
            (
                "TRADEBEAT_EXCHANGE__API_SECRET_FILE",
                secret_file.to_str().unwrap(),
            ),
        ];
        let config = load_str("", &env).unwrap();
        let credentials = config.credentials().unwrap().unwrap();
        assert_eq!(credentials.api_key.expose(), "KEY123");
        assert_eq!(credentials.api_secret.expose(), SECRET);
        assert!(!config.render_effective().contains(SECRET));

        std::fs::remove_file(&secret_file).unwrap();
        let message = config.credentials().unwrap_err().to_string();
        assert!(message.contains("exchange.api_secret_file"), "{message}");
        assert!(
            message.contains(&*secret_file.to_string_lossy()),
            "{message}"
        );

        std::fs::write(&secret_file, "\n").unwrap();
        let message = config.credentials().unwrap_err().to_string();
        assert!(message.contains("is empty"), "{message}");
    }

    #[test]
    fn credential_files_are_bounded_regular_files_and_the_key_fits_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let (key_file, secret_file) = (dir.path().join("key"), dir.path().join("secret"));
        std::fs::write(&secret_file, SECRET).unwrap();
        let config_with = |key: &Path| {
            let env = [
                ("TRADEBEAT_EXCHANGE__API_KEY_FILE", key.to_str().unwrap()),
                (
                    "TRADEBEAT_EXCHANGE__API_SECRET_FILE",
                    secret_file.to_str().unwrap(),
                ),
            ];
            load_str("", &env).unwrap()
        };
        // At the bound: read.
        std::fs::write(&key_file, "K".repeat(4096)).unwrap();
        let credentials = config_with(&key_file).credentials().unwrap().unwrap();
        assert_eq!(credentials.api_key.expose().len(), 4096);

        // One byte more: refused. Before the bound, /dev/zero was read until memory ran out.
        std::fs::write(&key_file, "K".repeat(4097)).unwrap();
        let message = config_with(&key_file)
            .credentials()
            .unwrap_err()
            .to_string();
        assert!(message.contains("larger than 4096 bytes"), "{message}");
        assert!(message.contains("`exchange.api_key_file`"), "{message}");
        let message = config_with(Path::new("/dev/zero"))
            .credentials()
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("/dev/zero: is not a regular file"),
            "{message}"
        );

        // A pipe without a writer is refused, not waited on.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let message = config_with(&fifo).credentials().unwrap_err().to_string();
        assert!(message.contains("not a regular file"), "{message}");

        // The key goes into an HTTP header: printable ASCII, no inner space; not shown.
        std::fs::write(&key_file, format!("{SECRET} two\n")).unwrap();
        let message = config_with(&key_file)
            .credentials()
            .unwrap_err()
            .to_string();
        assert!(message.contains("`exchange.api_key_file`"), "{message}");
        assert!(message.contains("printable ascii"), "{message}");
        assert!(!message.contains(SECRET), "{message}");
        let env = [
            ("TRADEBEAT_EXCHANGE__API_KEY", "k\u{e9}y"),
            ("TRADEBEAT_EXCHANGE__API_SECRET", SECRET),
        ];
        let message = load_str("", &env)
            .unwrap()
            .credentials()
            .unwrap_err()
            .to_string();
        assert!(message.contains("`exchange.api_key`"), "{message}");
        std::fs::write(&key_file, [0xff, 0xfe]).unwrap();
        let message = config_with(&key_file)
            .credentials()
            .unwrap_err()
            .to_string();
        assert!(message.contains("not valid UTF-8"), "{message}");
    }

    #[test]
    fn futures_symbols_and_urls() {
        let config = load_str(
            "[market_data]\nusdm_symbols = [\"BTC/USDT\"]\ncoinm_symbols = [\"btcusd_perp\"]\n\
             [exchange]\nusdm_rest_url = \"http://127.0.0.1:9100\"",
            &[(
                "TRADEBEAT_MARKET_DATA__COINM_SYMBOLS",
                "BTCUSD_PERP,ETHUSD_PERP",
            )],
        )
        .unwrap();
        let names = |v: &[Symbol]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(names(&config.market_data.usdm_symbols), ["BTCUSDT"]);
        assert_eq!(
            names(&config.market_data.coinm_symbols),
            ["BTCUSD_PERP", "ETHUSD_PERP"]
        );
        assert_eq!(
            config.exchange.resolved_usdm_rest_url(),
            "http://127.0.0.1:9100"
        );
        assert_eq!(
            config.exchange.resolved_coinm_rest_url(),
            "https://testnet.binancefuture.com"
        );
        let rendered = config.render_effective();
        assert!(rendered.contains("coinm_ws_url = \"wss://dstream.binancefuture.com\""));
        for (toml, key) in [
            (
                "[exchange]\ncoinm_rest_url = \"https://user:pw@example.com\"",
                "`exchange.coinm_rest_url`",
            ),
            (
                "[exchange]\nusdm_ws_url = \"https://example.com\"",
                "`exchange.usdm_ws_url`",
            ),
            (
                "[market_data]\nusdm_symbols = [\"BTCUSDT\", \"btcusdt\"]",
                "`market_data.usdm_symbols`",
            ),
        ] {
            let message = error_of(toml);
            assert!(message.contains(key), "{toml:?} gave {message:?}");
            assert!(!message.contains("pw@"), "{message}");
        }
        // Every list is defaulted: futures follow nothing unless asked.
        let config = load_str("", &[]).unwrap();
        assert!(config.market_data.usdm_symbols.is_empty());
        assert!(config.market_data.coinm_symbols.is_empty());
    }
}
