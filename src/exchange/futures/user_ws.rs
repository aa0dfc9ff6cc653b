//! One connection of a futures user-data stream: the WebSocket at `<ws_url>/ws/<listenKey>`
//! (no subscription: the key in the path is the subscription). Frames are parsed by
//! [`super::parse_futures_frame`] and handed to an [`EventSink`];
//! `listenKeyExpired` asks the session for a new key and connection ([`Step::Renew`]).
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Connect>,
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/user-data-streams/Connect>.
//!
//! The server pings every 3 minutes and drops a connection whose pong is missing for 10;
//! a connection lives at most 24 h. The component that owns the connection's life
//! (reconnects, renewal, keep-alive of the key, reconciliation) is `crate::user_stream`,
//! which drives this one through the same [`Step`]s as the spot connection.
//!
//! The URL carries the listen key, which lets anyone read the account's events: it is
//! never logged, and transport errors are reported without it.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::parse_futures_frame;
use crate::domain::{FuturesEvent, Secret, UserDataEvent};
use crate::exchange::ExchangeError;
use crate::exchange::spot::ws_api::{ConnectError, Ended, EventSink, Step};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The largest frame accepted: user-data events are a few hundred bytes.
const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Payload of the stream's own pings.
const KEEPALIVE_PAYLOAD: &[u8] = b"tradebeat";
/// How long a close handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How a listen-key connection is timed.
#[derive(Debug, Clone, Copy)]
pub struct ListenKeyTimings {
    /// Bound on connecting.
    pub connect_timeout: Duration,
    /// A connection without any frame for this long is half-open: it is ended.
    pub silence_timeout: Duration,
    /// After this long without a frame, the connection pings the server.
    pub keepalive_after: Duration,
}

/// An open connection to one listen key's stream.
pub struct ListenKeyConnection {
    ws: Socket,
    /// When it was opened.
    pub opened: Instant,
    last_frame: Instant,
    pinged: bool,
}

/// `<ws_url>/ws/<listenKey>`, the base's trailing slashes dropped.
fn stream_url(ws_url: &str, listen_key: &Secret) -> String {
    format!(
        "{}/ws/{}",
        ws_url.trim_end_matches('/'),
        listen_key.expose()
    )
}

/// A transport error as text, without the URL (it carries the listen key).
fn describe(e: &tungstenite::Error, listen_key: &Secret) -> String {
    e.to_string().replace(listen_key.expose(), "<listen key>")
}

impl ListenKeyConnection {
    /// Connects to `<ws_url>/ws/<listen_key>` within the connect timeout.
    ///
    /// # Errors
    /// [`ConnectError::Timeout`] or [`ConnectError::Transport`] (the key never in it).
    pub async fn open(
        ws_url: &str,
        listen_key: &Secret,
        timings: &ListenKeyTimings,
    ) -> Result<ListenKeyConnection, ConnectError> {
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        tracing::debug!(ws_url, "connecting the futures user-data stream");
        let (ws, _) = tokio::time::timeout(
            timings.connect_timeout,
            tokio_tungstenite::connect_async_with_config(
                stream_url(ws_url, listen_key),
                Some(ws_config),
                true,
            ),
        )
        .await
        .map_err(|_| ConnectError::Timeout(timings.connect_timeout, "connecting"))?
        .map_err(|e| ConnectError::Transport(describe(&e, listen_key)))?;
        Ok(ListenKeyConnection {
            ws,
            opened: Instant::now(),
            last_frame: Instant::now(),
            pinged: false,
        })
    }

    /// The next message (cancel-safe).
    pub async fn next(&mut self) -> Option<Result<Message, tungstenite::Error>> {
        self.ws.next().await
    }

    /// Handles one message taken off the socket: events go to `sink`; `listenKeyExpired`
    /// is [`Step::Renew`]; a close or an error ends the session.
    pub async fn handle<S: EventSink>(
        &mut self,
        sink: &S,
        msg: Option<Result<Message, tungstenite::Error>>,
    ) -> Step {
        let msg = match msg {
            None => return Step::End(Ended::Lost("connection closed".into())),
            Some(Err(e)) => {
                let text = e.to_string();
                return Step::End(Ended::Lost(format!("connection broken: {text}")));
            }
            Some(Ok(m)) => m,
        };
        self.last_frame = Instant::now();
        self.pinged = false;
        match msg {
            Message::Text(text) => match parse_futures_frame(&text) {
                Ok(UserDataEvent::Futures(FuturesEvent::ListenKeyExpired { event_time })) => {
                    tracing::warn!(
                        event_time,
                        "the listen key expired (listenKeyExpired): opening a new key and connection"
                    );
                    Step::Renew("the listen key expired")
                }
                Ok(event) => {
                    sink.deliver(event).await;
                    Step::Continue
                }
                Err(e) => {
                    tracing::warn!(error = %e, bytes = text.len(), "unreadable futures user-data frame: ignored");
                    Step::Continue
                }
            },
            Message::Ping(_) => {
                // tungstenite queued the pong (echoing the payload); send it now.
                if let Err(e) = self.ws.flush().await {
                    tracing::debug!(error = %e, "flushing the pong failed");
                }
                Step::Continue
            }
            Message::Pong(_) | Message::Frame(_) => Step::Continue,
            Message::Binary(bytes) => {
                tracing::warn!(
                    bytes = bytes.len(),
                    "binary frame on a json stream: ignored"
                );
                Step::Continue
            }
            Message::Close(frame) => Step::End(Ended::Lost(match frame {
                Some(f) => format!("closed by the server: code {}", u16::from(f.code)),
                None => "closed by the server".to_string(),
            })),
        }
    }

    /// Checks for silence; pings the server after `keepalive_after` without a frame.
    pub async fn keepalive(&mut self, timings: &ListenKeyTimings) -> Step {
        let idle = self.last_frame.elapsed();
        if idle >= timings.silence_timeout {
            return Step::End(Ended::Lost(format!(
                "no frame for {} ms: connection silent or half-open",
                idle.as_millis()
            )));
        }
        if idle >= timings.keepalive_after && !self.pinged {
            self.pinged = true;
            if let Err(e) = self.ws.send(Message::Ping(KEEPALIVE_PAYLOAD.into())).await {
                return Step::End(Ended::Lost(format!("cannot send a ping: {e}")));
            }
        }
        Step::Continue
    }

    /// Closes the connection (close handshake, bounded in time).
    pub async fn close(&mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.ws.close(None)).await;
    }
}

/// Binance codes that mean the API key, its IP whitelist or its permissions are refused
/// (<https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code>).
const REJECTED_KEY_CODES: [i64; 4] = [-2015, -2014, -1022, -1002];

/// A failed `POST …/listenKey` as a connection error: a refused API key is
/// [`ConnectError::Rejected`] (retried slowly), any other answer
/// [`ConnectError::Refused`], a network failure [`ConnectError::Transport`].
pub fn listen_key_error(e: ExchangeError) -> ConnectError {
    match e {
        ExchangeError::Api {
            code,
            msg,
            http_status,
            ..
        } => {
            if REJECTED_KEY_CODES.contains(&code) {
                ConnectError::Rejected { code, msg }
            } else {
                ConnectError::Refused {
                    status: http_status,
                    code,
                    msg,
                }
            }
        }
        other => ConnectError::Transport(format!("cannot get a listen key: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_url_appends_ws_and_the_key() {
        let key = Secret::new("abc123");
        assert_eq!(
            stream_url("ws://127.0.0.1:9000", &key),
            "ws://127.0.0.1:9000/ws/abc123"
        );
        assert_eq!(
            stream_url("wss://fstream.binance.com/private/", &key),
            "wss://fstream.binance.com/private/ws/abc123"
        );
    }

    #[test]
    fn a_refused_api_key_is_rejected_and_other_failures_are_retried() {
        let api = |code| ExchangeError::Api {
            endpoint: "/fapi/v1/listenKey",
            http_status: 401,
            code,
            msg: "Invalid API-key, IP, or permissions for action.".into(),
        };
        assert!(matches!(
            listen_key_error(api(-2015)),
            ConnectError::Rejected { code: -2015, .. }
        ));
        assert!(matches!(
            listen_key_error(api(-1125)),
            ConnectError::Refused {
                code: -1125,
                status: 401,
                ..
            }
        ));
        assert!(matches!(
            listen_key_error(ExchangeError::InvalidRequest("x".into())),
            ConnectError::Transport(_)
        ));
    }
}
