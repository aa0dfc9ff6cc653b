//! The start-up steps of paper trading: the database's trading mode (paper or live, for
//! good) and the paper venue with its starting balances.

use anyhow::{Context as _, bail};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{Market, TradingMode};
use crate::exchange::SpotClient;
use crate::store::Store;
use crate::venue::{BookFeed, PaperVenue};

/// The mode the configuration asks for (`paper.enabled`), recorded in the database when it
/// has none yet.
///
/// # Errors
/// The database records the other mode (the message names both; the start fails, exit
/// 1), or cannot be read.
pub(super) async fn claim_mode(
    config: &Config,
    store: &Store,
    clock: &Clock,
) -> anyhow::Result<TradingMode> {
    let wanted = if config.paper.enabled {
        TradingMode::Paper
    } else {
        TradingMode::Live
    };
    let now = clock.now_ms();
    let recorded = store
        .run(move |s| s.claim_trading_mode(wanted, now))
        .await
        .context("cannot read the database's trading mode")?;
    if recorded != wanted {
        bail!(
            "database {} is a {recorded} trading database but the configuration asks for {wanted} trading (paper.enabled = {}): a database is paper or live for good; point storage.database at another file",
            store.path().display(),
            config.paper.enabled
        );
    }
    Ok(recorded)
}

/// The paper venue over `exchange`'s public endpoints, its account given the configured
/// starting balances when it has none yet. Its orders read the book from the market
/// streams at `exchange.ws_url` ([`BookFeed`], ending with `shutdown`).
///
/// # Errors
/// A fee or balance that is not a decimal (checked with the config already); the
/// database.
pub(super) async fn paper_venue(
    config: &Config,
    exchange: &SpotClient,
    store: &Store,
    clock: &Clock,
    shutdown: &CancellationToken,
) -> anyhow::Result<PaperVenue> {
    let fees = config.paper.fees()?;
    let balances = config.paper.starting_balances(Market::Spot)?;
    let venue = PaperVenue::new(exchange.clone(), store.clone(), clock.clone(), fees);
    venue.set_book_feed(BookFeed::new(
        config.exchange.resolved_ws_url(),
        shutdown.child_token(),
    ));
    if venue
        .seed_balances(&balances)
        .await
        .context("cannot write the paper starting balances")?
    {
        tracing::info!(target: "tradebeat::daemon", balances = ?balances, "paper account opened with its starting balances");
    }
    Ok(venue)
}

/// The paper venue of one futures market over `client`'s public endpoints (fees:
/// Binance's base tier, `venue::futures_paper_fees`), its account given the configured
/// starting balances of that market when it has none yet.
///
/// # Errors
/// A balance that is not a decimal (checked with the config already); the database.
pub(super) async fn paper_futures_venue(
    config: &Config,
    client: &crate::exchange::FuturesClient,
    store: &Store,
    clock: &Clock,
) -> anyhow::Result<crate::venue::PaperFuturesVenue> {
    let market = client.market();
    let balances = config.paper.starting_balances(market)?;
    let venue = crate::venue::PaperFuturesVenue::new(
        client.clone(),
        store.clone(),
        clock.clone(),
        crate::venue::futures_paper_fees(market),
    );
    if venue.seed_balances(&balances).await.with_context(|| {
        format!(
            "cannot write the {} paper starting balances",
            market.as_str()
        )
    })? {
        tracing::info!(target: "tradebeat::daemon", market = market.as_str(), balances = ?balances, "paper futures account opened with its starting balances");
    }
    Ok(venue)
}
