//! The streamed best bid and ask of the symbols a paper venue trades, so that a paper order
//! is decided without a request to the exchange (Hummingbot's paper connectors keep their
//! books from the exchange's streams the same way).
//!
//! The first time a symbol is asked for, [`BookFeed::latest`] answers `None` (the caller
//! reads the REST book ticker instead) and starts following the symbol's
//! `<symbol>@bookTicker` stream (`crate::exchange::spot::book_stream`) on a task of its own.
//! From its first event on, `latest` answers the last book it sent. Binance sends one at
//! every change of the best bid or ask, so the last one is the book now for as long as the
//! connection is up. When the connection ends (closed, broken, or half-open: no frame for
//! [`SILENCE_TIMEOUT`](crate::exchange::spot::book_stream::SILENCE_TIMEOUT)), the symbol's
//! book is forgotten at once (`latest` is `None` again, and callers fall back to REST) and
//! the task connects again as the user-data stream does ([`crate::retry::reconnect`]: waits
//! of 1 s doubling up to [`MAX_BACKOFF`], jittered). The tasks end with the feed's
//! cancellation token.
//!
//! One connection per symbol, and at most [`MAX_SYMBOLS`] of them: Binance allows 300
//! connection attempts per 5 minutes per IP ("WebSocket Limits" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams>), and a
//! network cut makes every stream connect again. Orders on further symbols read REST.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::locked;
use crate::domain::{BookTicker, Symbol};
use crate::exchange::spot::book_stream::BookTickerStream;
use crate::retry;

/// The ceiling of the first wait before connecting again (the waits are drawn below their
/// ceilings, [`retry::reconnect`]).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The highest ceiling of a wait between two connection attempts of one symbol.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Bound on connecting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most symbols followed at once (module docs).
pub const MAX_SYMBOLS: usize = 32;

/// Symbol → its last streamed book (`None` while its stream is not delivering).
type Books = HashMap<Symbol, Option<BookTicker>>;

/// Streamed books by symbol (module docs). Cheap to clone; clones share the books.
#[derive(Clone)]
pub struct BookFeed {
    inner: Arc<Inner>,
}

struct Inner {
    ws_url: String,
    books: Mutex<Books>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for BookFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BookFeed")
            .field("ws_url", &self.inner.ws_url)
            .finish_non_exhaustive()
    }
}

impl BookFeed {
    /// A feed of the market streams at `ws_url` (the config's `exchange.ws_url`: the
    /// network's `wss://stream.binance.com:9443` or `wss://stream.testnet.binance.vision`),
    /// its tasks ending with `cancel`.
    pub fn new(ws_url: &str, cancel: CancellationToken) -> BookFeed {
        BookFeed {
            inner: Arc::new(Inner {
                ws_url: ws_url.to_string(),
                books: Mutex::new(HashMap::new()),
                cancel,
            }),
        }
    }

    /// The last book `symbol`'s stream sent, while its connection is up; `None` before its
    /// first event, while it is down, or for a symbol beyond the first [`MAX_SYMBOLS`]. The
    /// first call for a symbol starts following it (on the current tokio runtime).
    pub fn latest(&self, symbol: &Symbol) -> Option<BookTicker> {
        let mut books = locked(&self.inner.books);
        if let Some(book) = books.get(symbol) {
            return book.clone();
        }
        if books.len() >= MAX_SYMBOLS {
            return None;
        }
        if books.len() + 1 == MAX_SYMBOLS {
            tracing::info!(
                max = MAX_SYMBOLS,
                "book ticker streams: the last one a paper venue follows; orders on further symbols read the book over REST"
            );
        }
        books.insert(symbol.clone(), None);
        drop(books);
        if !self.inner.cancel.is_cancelled() {
            tokio::spawn(follow(Arc::clone(&self.inner), symbol.clone()));
        }
        None
    }

    /// How many symbols are followed.
    pub fn followed(&self) -> usize {
        locked(&self.inner.books).len()
    }
}

/// Keeps `symbol`'s book current from its stream until the feed is cancelled (module docs).
/// Reconnects wait as the user-data stream's do ([`retry::reconnect`]), starting over once
/// a connection delivered.
async fn follow(inner: Arc<Inner>, symbol: Symbol) {
    let mut waits = retry::reconnect(FIRST_BACKOFF, MAX_BACKOFF).delays();
    loop {
        let opened = tokio::select! {
            () = inner.cancel.cancelled() => return,
            opened = BookTickerStream::open(&inner.ws_url, &symbol, CONNECT_TIMEOUT) => opened,
        };
        match opened {
            Ok(stream) => {
                tracing::debug!(%symbol, "book ticker stream connected");
                let delivered = relay(&inner, &symbol, stream).await;
                locked(&inner.books).insert(symbol.clone(), None);
                if inner.cancel.is_cancelled() {
                    return;
                }
                if delivered {
                    waits.reset();
                }
                tracing::info!(%symbol, "book ticker stream ended; paper orders read the book over REST until it is back");
            }
            Err(e) => {
                tracing::warn!(%symbol, error = %e, "book ticker stream: cannot connect");
            }
        }
        tokio::select! {
            () = inner.cancel.cancelled() => return,
            () = tokio::time::sleep(waits.next_wait()) => {}
        }
    }
}

/// Keeps `symbol`'s book from `stream`'s events until the connection ends or the feed is
/// cancelled; an unreadable event forgets the book until the next one. Returns whether any
/// event was delivered.
async fn relay(inner: &Inner, symbol: &Symbol, mut stream: BookTickerStream) -> bool {
    let mut delivered = false;
    loop {
        let next = tokio::select! {
            () = inner.cancel.cancelled() => return delivered,
            next = stream.next() => next,
        };
        let book = match next {
            Ok(Some(book)) => Some(book),
            Ok(None) => return delivered,
            Err(e) => {
                tracing::warn!(%symbol, error = %e, "book ticker stream: unreadable event; the book is read over REST until the next one");
                None
            }
        };
        delivered |= book.is_some();
        locked(&inner.books).insert(symbol.clone(), book);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn follows_at_most_max_symbols() {
        let cancel = CancellationToken::new();
        // Nothing listens there: every connection fails, and the books stay unknown.
        let feed = BookFeed::new("ws://127.0.0.1:1", cancel.clone());
        for i in 0..MAX_SYMBOLS + 8 {
            let symbol: Symbol = format!("SIM{i:03}USDT").parse().unwrap();
            assert_eq!(feed.latest(&symbol), None);
            assert_eq!(feed.latest(&symbol), None, "asked again: still unknown");
        }
        assert_eq!(feed.followed(), MAX_SYMBOLS);
        cancel.cancel();
    }
}
