//! Market streams on the spot listener: `GET /ws/<symbol>@bookTicker`, Binance's
//! "Individual Symbol Book Ticker Streams" (raw stream: the stream name in the path, no
//! subscription message), in
//! <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams>.
//!
//! A connection gets the symbol's top of book (the same one `GET /api/v3/ticker/bookTicker`
//! answers at that moment) at once, then again each time it changes: the replay moves the
//! price within the minute, so the book is looked at every [`BOOK_TICK`] and whenever the
//! simulator's clock is moved ([`crate::SimHandle::set_clock_skew_ms`]). Events:
//! `{"u":<update id>,"s":"BTCUSDT","b":"<bid>","B":"<bid qty>","a":"<ask>","A":"<ask qty>"}`.
//!
//! An unknown stream or symbol is answered 400 before the upgrade.
//! [`crate::SimHandle::drop_market_streams`] cuts every open connection (no close frame),
//! [`crate::SimHandle::set_market_streams_refused`] answers new ones 503;
//! [`crate::SimHandle::market_streams_opened`] counts the connections accepted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::{
    extract::{
        Path, State,
        ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use tokio::sync::watch;

use crate::{rest::top_of_book, state::Shared};

/// How often a connection looks at its book between clock moves.
pub(crate) const BOOK_TICK: Duration = Duration::from_millis(20);

/// The market streams' shared state: the connections accepted, and the signal that cuts
/// them or tells them the clock moved.
#[derive(Debug)]
pub(crate) struct Streams {
    opened: AtomicU64,
    /// Upgrades answered 503 while set.
    refuse: AtomicBool,
    /// Bumped to cut every connection.
    cut: watch::Sender<u64>,
    /// Bumped when the clock moves: every connection looks at its book at once.
    moved: watch::Sender<u64>,
}

impl Default for Streams {
    fn default() -> Streams {
        Streams {
            opened: AtomicU64::new(0),
            refuse: AtomicBool::new(false),
            cut: watch::Sender::new(0),
            moved: watch::Sender::new(0),
        }
    }
}

impl Streams {
    /// Connections accepted so far.
    pub(crate) fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Answers new connections 503 while `refuse` holds.
    pub(crate) fn set_refuse(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::Relaxed);
    }

    /// Cuts every open connection.
    pub(crate) fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// Tells every connection the clock moved.
    pub(crate) fn clock_moved(&self) {
        self.moved.send_modify(|n| *n += 1);
    }
}

/// `GET /ws/{stream}`: `<lowercase symbol>@bookTicker` of a listed symbol, else 400.
pub(crate) async fn upgrade(
    State(sim): State<Arc<Shared>>,
    Path(stream): Path<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let symbol = match stream.split_once('@') {
        Some((symbol, "bookTicker")) if symbol == symbol.to_ascii_lowercase() => {
            symbol.to_ascii_uppercase()
        }
        _ => return (StatusCode::BAD_REQUEST, "unknown stream").into_response(),
    };
    if sim.streams.refuse.load(Ordering::Relaxed) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if sim.market.get(&symbol).is_none() {
        return (StatusCode::BAD_REQUEST, "invalid symbol").into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    sim.streams.opened.fetch_add(1, Ordering::Relaxed);
    ws.on_upgrade(move |socket| serve(sim, symbol, socket))
}

/// Sends `symbol`'s book at once and at each change, until the client leaves or the
/// connections are cut.
async fn serve(sim: Arc<Shared>, symbol: String, mut socket: WebSocket) {
    let Some(inst) = sim.market.get(&symbol) else {
        return;
    };
    let mut cut = sim.streams.cut.subscribe();
    let mut moved = sim.streams.moved.subscribe();
    let mut tick = tokio::time::interval(BOOK_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = None;
    let mut update_id = 0u64;
    loop {
        let book = top_of_book(inst, sim.clock.now_ms());
        if last.as_ref() != Some(&book) {
            update_id += 1;
            let (bid, ask, qty) = &book;
            let event = serde_json::json!({
                "u": update_id, "s": symbol, "b": bid, "B": qty, "a": ask, "A": qty,
            });
            if socket
                .send(Message::Text(event.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
            last = Some(book);
        }
        tokio::select! {
            _ = tick.tick() => {}
            changed = moved.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = cut.changed() => return,
            msg = socket.recv() => match msg {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
