//! One connection of a spot `<symbol>@bookTicker` market stream: the WebSocket at
//! `<ws_url>/ws/<lowercase symbol>@bookTicker` (a raw stream: the name in the path is the
//! subscription). Binance pushes the symbol's best bid and ask, with their quantities, in
//! real time at every change; the server pings every 20 s and drops a connection whose pong
//! is missing for a minute; a connection lives at most 24 h. Binance: "Individual Symbol
//! Book Ticker Streams" and "General WSS information" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams>.
//!
//! Event: `{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000",
//! "a":"25.36520000","A":"40.66000000"}` (prices and quantities are decimal strings).

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::domain::{BookTicker, Symbol, parse_decimal};
use crate::exchange::ExchangeError;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What errors name as the endpoint.
const ENDPOINT: &str = "/ws/<symbol>@bookTicker";
/// The largest frame accepted: an event is about a hundred bytes.
const MAX_MESSAGE_BYTES: usize = 64 << 10;
/// After this long without a frame, the connection pings the server (Binance pings every
/// 20 s on its own, so this is only reached on a link that went quiet).
pub const KEEPALIVE_AFTER: Duration = Duration::from_secs(30);
/// A connection without any frame for this long is half-open: it is ended, and the book it
/// last sent is no longer current.
pub const SILENCE_TIMEOUT: Duration = Duration::from_secs(45);

/// The wire event (see the module docs).
#[derive(Deserialize)]
struct WireEvent {
    s: String,
    b: String,
    #[serde(rename = "B")]
    bid_qty: String,
    a: String,
    #[serde(rename = "A")]
    ask_qty: String,
}

/// Parses one `bookTicker` event of `symbol`.
///
/// # Errors
/// `Decode` for a frame that is not such an event, is for another symbol, or has a price
/// or quantity that is not a decimal.
pub fn parse_book_ticker_event(symbol: &Symbol, text: &str) -> Result<BookTicker, ExchangeError> {
    let decode = |detail: String| ExchangeError::Decode {
        endpoint: ENDPOINT,
        detail,
    };
    let wire: WireEvent = serde_json::from_str(text).map_err(|e| decode(e.to_string()))?;
    if wire.s != symbol.as_str() {
        return Err(decode(format!("event is for {:?}", wire.s)));
    }
    let dec = |key: &str, s: &str| parse_decimal(s).map_err(|e| decode(format!("{key}: {e}")));
    Ok(BookTicker {
        symbol: symbol.clone(),
        bid_price: dec("b", &wire.b)?,
        bid_qty: dec("B", &wire.bid_qty)?,
        ask_price: dec("a", &wire.a)?,
        ask_qty: dec("A", &wire.ask_qty)?,
    })
}

/// An open `<symbol>@bookTicker` connection.
pub struct BookTickerStream {
    ws: Socket,
    symbol: Symbol,
}

impl BookTickerStream {
    /// Connects to `<ws_url>/ws/<lowercase symbol>@bookTicker` within `connect_timeout`.
    ///
    /// # Errors
    /// `Connectivity` when the connection cannot be made in time or the upgrade is refused.
    pub async fn open(
        ws_url: &str,
        symbol: &Symbol,
        connect_timeout: Duration,
    ) -> Result<BookTickerStream, ExchangeError> {
        let url = format!(
            "{}/ws/{}@bookTicker",
            ws_url.trim_end_matches('/'),
            symbol.as_str().to_ascii_lowercase()
        );
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let connectivity = |detail: String| ExchangeError::Connectivity {
            endpoint: ENDPOINT,
            detail,
        };
        let (ws, _) = tokio::time::timeout(
            connect_timeout,
            tokio_tungstenite::connect_async_with_config(url, Some(ws_config), true),
        )
        .await
        .map_err(|_| connectivity(format!("no connection within {connect_timeout:?}")))?
        .map_err(|e| connectivity(e.to_string()))?;
        Ok(BookTickerStream {
            ws,
            symbol: symbol.clone(),
        })
    }

    /// The next book ticker: `Ok(None)` when the connection ended (closed, broken, or
    /// silent for [`SILENCE_TIMEOUT`]: it pings the server after [`KEEPALIVE_AFTER`]).
    /// Pings are answered on the way.
    ///
    /// # Errors
    /// `Decode` for an event that cannot be read (the connection stays usable).
    pub async fn next(&mut self) -> Result<Option<BookTicker>, ExchangeError> {
        let mut pinged = false;
        loop {
            let wait = if pinged {
                SILENCE_TIMEOUT - KEEPALIVE_AFTER
            } else {
                KEEPALIVE_AFTER
            };
            let msg = match tokio::time::timeout(wait, self.ws.next()).await {
                Ok(msg) => msg,
                Err(_) if pinged => return Ok(None),
                Err(_) => {
                    pinged = true;
                    let ping = Message::Ping(Bytes::from_static(b"tradebeat"));
                    if self.ws.send(ping).await.is_err() {
                        return Ok(None);
                    }
                    continue;
                }
            };
            pinged = false;
            match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(text))) => {
                    return parse_book_ticker_event(&self.symbol, &text).map(Some);
                }
                Some(Ok(Message::Ping(_))) => {
                    // tungstenite queued the pong (echoing the payload); send it now.
                    if self.ws.flush().await.is_err() {
                        return Ok(None);
                    }
                }
                Some(Ok(Message::Pong(_) | Message::Binary(_) | Message::Frame(_))) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btc() -> Symbol {
        "BTCUSDT".parse().unwrap()
    }

    #[test]
    fn parses_binance_documented_event() {
        // The example of "Individual Symbol Book Ticker Streams", symbol changed.
        let text = r#"{"u":400900217,"s":"BTCUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
        let book = parse_book_ticker_event(&btc(), text).unwrap();
        assert_eq!(book.bid_price.to_string(), "25.35190000");
        assert_eq!(book.bid_qty.to_string(), "31.21000000");
        assert_eq!(book.ask_price.to_string(), "25.36520000");
        assert_eq!(book.ask_qty.to_string(), "40.66000000");
    }

    /// A server that accepts one connection and sends `event`, then nothing: with
    /// `answer_pings` it keeps reading (tungstenite answers pings then) and reports each
    /// ping it got; without, it never reads again (a half-open link: no pong comes back).
    async fn quiet_server(
        event: &'static str,
        answer_pings: bool,
    ) -> (String, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (pings, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            ws.send(Message::Text(event.into())).await.unwrap();
            if !answer_pings {
                std::future::pending::<()>().await;
            }
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Ping(payload) = msg {
                    let _ = pings.send(payload.to_vec());
                }
            }
        });
        (format!("ws://{addr}"), rx)
    }

    const EVENT: &str = r#"{"u":1,"s":"BTCUSDT","b":"1.5","B":"2","a":"1.6","A":"3"}"#;

    #[tokio::test(start_paused = true)]
    async fn a_half_open_connection_ends_after_the_silence_timeout() {
        let (url, _pings) = quiet_server(EVENT, false).await;
        let mut stream = BookTickerStream::open(&url, &btc(), Duration::from_secs(5))
            .await
            .unwrap();
        let book = stream.next().await.unwrap().expect("the event");
        assert_eq!(book.ask_price.to_string(), "1.6");
        let started = tokio::time::Instant::now();
        assert_eq!(stream.next().await.unwrap(), None, "ended: no pong");
        assert_eq!(started.elapsed(), SILENCE_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_connection_that_answers_pings_stays_open() {
        // Binance sends the book only when it changes: a quiet symbol on a live link keeps
        // its book.
        let (url, mut pings) = quiet_server(EVENT, true).await;
        let mut stream = BookTickerStream::open(&url, &btc(), Duration::from_secs(5))
            .await
            .unwrap();
        stream.next().await.unwrap().expect("the event");
        let waited = tokio::time::timeout(SILENCE_TIMEOUT * 4, stream.next()).await;
        assert!(waited.is_err(), "still open: {waited:?}");
        assert_eq!(pings.recv().await.as_deref(), Some(&b"tradebeat"[..]));
    }

    #[test]
    fn refuses_other_symbols_and_non_decimals() {
        let other = r#"{"u":1,"s":"ETHUSDT","b":"1","B":"1","a":"2","A":"1"}"#;
        let e = parse_book_ticker_event(&btc(), other).unwrap_err();
        assert!(e.to_string().contains("ETHUSDT"), "{e}");
        let bad = r#"{"u":1,"s":"BTCUSDT","b":"x","B":"1","a":"2","A":"1"}"#;
        let e = parse_book_ticker_event(&btc(), bad).unwrap_err();
        assert!(e.to_string().contains("b:"), "{e}");
        assert!(parse_book_ticker_event(&btc(), "[]").is_err());
    }
}
