//! The futures user-data streams the daemon runs: one per futures market with an orders
//! component (live mode, credentials configured), at `exchange.usdm_ws_url` /
//! `coinm_ws_url` (`/ws/<listenKey>` appended), reconciling through that market's orders
//! component ([`crate::user_stream::UserStream::futures`]).

use anyhow::Context as _;

use crate::clock::{BeatSchedule, Clock};
use crate::config::Config;
use crate::domain::{Credentials, Market};
use crate::exchange::FuturesClient;
use crate::orders::Orders;
use crate::store::Store;
use crate::user_stream::{FuturesStreamOptions, UserStream, UserStreamHandle};

/// The stream base URL of a futures `market` in use: the configured override, or the
/// network's.
fn ws_url(config: &Config, market: Market) -> &str {
    let network = config.exchange.network;
    match market {
        Market::CoinM => config
            .exchange
            .coinm_ws_url
            .as_deref()
            .unwrap_or(network.coinm_ws_url()),
        _ => config
            .exchange
            .usdm_ws_url
            .as_deref()
            .unwrap_or(network.usdm_ws_url()),
    }
}

/// One stream per orders component of `futures_orders` (whose market client is in
/// `clients`), with `credentials`; none without them.
///
/// # Errors
/// When the API key cannot be an HTTP header value.
#[allow(clippy::too_many_arguments)]
pub(super) fn build(
    config: &Config,
    credentials: Option<&Credentials>,
    clients: &[FuturesClient],
    futures_orders: &[Orders],
    store: &Store,
    clock: &Clock,
    schedule: BeatSchedule,
    options: &FuturesStreamOptions,
) -> anyhow::Result<Vec<(Market, UserStream, UserStreamHandle)>> {
    let Some(credentials) = credentials else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for orders in futures_orders {
        let market = orders.market();
        let Some(client) = clients.iter().find(|c| c.market() == market) else {
            continue;
        };
        let (stream, handle) = UserStream::futures(
            ws_url(config, market),
            credentials,
            config.exchange.recv_window_ms,
            client,
            orders.clone(),
            store.clone(),
            clock.clone(),
            schedule,
            options.clone(),
        )
        .with_context(|| {
            format!("cannot use the api credentials for the {market} user-data stream")
        })?;
        out.push((market, stream, handle));
    }
    Ok(out)
}
