//! One WebSocket API connection of the spot user-data stream: open, subscribe
//! (`userDataStream.subscribe.signature`), read frames, keep alive, close. See
//! https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/user-data-stream-requests
//!
//! The component that owns the connection's life (reconnects, renewal, reconciliation) is
//! `crate::user_stream`; it hands this module a [`WsApiConfig`] and an [`EventSink`].
//!
//! Every method that reads is cancel-safe at its await points except [`Connection::handle`],
//! which the session runs to completion (a `select!` handler body), so a frame taken off
//! the socket is always handed on.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use std::future::Future;

use super::user_data::{Frame, WsResponse, parse_frame};
use crate::domain::{Secret, UserDataEvent};
use crate::exchange::HmacSha256;
use crate::exchange::Signer as _;
use crate::exchange::signing::ws_api_payload;

/// How to reach and subscribe to the WebSocket API.
#[derive(Debug, Clone)]
pub struct WsApiConfig {
    /// The endpoint, whole (`wss://ws-api.binance.com:443/ws-api/v3`).
    pub url: String,
    /// Sent as `apiKey` in the subscription (never logged).
    pub api_key: Secret,
    /// Signs the subscription (HMAC-SHA256 with the API secret).
    pub signer: HmacSha256,
    /// `recvWindow` of the subscription, ms.
    pub recv_window_ms: u64,
    /// Bound on connecting, and on subscribing.
    pub connect_timeout: Duration,
    /// A connection without any frame for this long is half-open: it is ended.
    pub silence_timeout: Duration,
    /// After this long without a frame, the connection pings the server.
    pub keepalive_after: Duration,
}

/// Where a connection hands what it reads, and where it takes the time it signs with.
pub trait EventSink: Send + Sync {
    /// Takes one user-data event (execution report, balance …) in the order received.
    fn deliver(&self, event: UserDataEvent) -> impl Future<Output = ()> + Send;
    /// The exchange's time now (local clock plus measured offset), ms since the epoch.
    fn server_now_ms(&self) -> i64;
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The largest frame accepted: user-data events are a few hundred bytes.
const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Payload of the stream's own pings.
const KEEPALIVE_PAYLOAD: &[u8] = b"tradebeat";
/// How long a close handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Binance codes that mean the API key, its IP whitelist or its permissions are refused
/// (<https://developers.binance.com/docs/binance-spot-api-docs/errors>): retrying soon cannot help.
const REJECTED_KEY_CODES: [i64; 4] = [-2015, -2014, -1022, -1002];
const TIMESTAMP_CODE: i64 = -1021;
const SUBSCRIPTION_ACTIVE: i64 = -2035;

/// Why a connection attempt failed; decides how long to wait before the next.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP, TLS or the WebSocket handshake failed, or the connection closed early.
    #[error("cannot connect to the websocket api: {0}")]
    Transport(String),
    /// Connecting or subscribing took longer than the connect timeout.
    #[error("no answer from the websocket api within {0:?} while {1}")]
    Timeout(Duration, &'static str),
    /// The exchange refused the API key (`-2015`, `-2014`, `-1022`, `-1002`).
    #[error("subscription rejected: code {code}: {msg}")]
    Rejected { code: i64, msg: String },
    /// `-1021`: the timestamp is outside the recvWindow (clock offset).
    #[error("subscription timestamp refused: {0}")]
    Timestamp(String),
    /// Any other error answer.
    #[error("subscription refused (status {status}): code {code}: {msg}")]
    Refused { status: u16, code: i64, msg: String },
}

/// How a session ended.
#[derive(Debug)]
pub enum Ended {
    /// The daemon is stopping.
    Shutdown,
    /// The exchange announced `serverShutdown`: reconnect at once.
    ServerShutdown,
    /// The connection broke, closed, went silent or lost its subscription: back off,
    /// then reconnect.
    Lost(String),
}

/// What the session does after a frame.
#[derive(Debug)]
pub enum Step {
    Continue,
    /// Something may have been missed (a subscription ended and was renewed): reconcile.
    Reconcile,
    /// The connection can no longer deliver (a futures listen key expired): open a new
    /// one, then close this one (make before break). The reason is logged.
    Renew(&'static str),
    End(Ended),
}

/// An open, subscribed connection.
pub struct Connection {
    ws: Socket,
    pub subscription_id: i64,
    /// When it was subscribed.
    pub opened: Instant,
    last_frame: Instant,
    pinged: bool,
    next_id: u64,
    /// The id of a re-subscription in flight (after `eventStreamTerminated`).
    resubscribing: Option<String>,
}

impl Connection {
    /// Connects to the endpoint and subscribes, within the connect timeout each.
    pub async fn open<S: EventSink>(
        config: &WsApiConfig,
        sink: &S,
    ) -> Result<Connection, ConnectError> {
        let timeout = config.connect_timeout;
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let url = config.url.as_str();
        tracing::debug!(url, "connecting the user-data stream");
        let (ws, _) = tokio::time::timeout(
            timeout,
            tokio_tungstenite::connect_async_with_config(url, Some(ws_config), true),
        )
        .await
        .map_err(|_| ConnectError::Timeout(timeout, "connecting"))?
        .map_err(|e| ConnectError::Transport(e.to_string()))?;
        let mut conn = Connection {
            ws,
            subscription_id: 0,
            opened: Instant::now(),
            last_frame: Instant::now(),
            pinged: false,
            next_id: 0,
            resubscribing: None,
        };
        let id = conn.send_subscribe(config, sink).await?;
        let deadline = Instant::now() + timeout;
        loop {
            let msg = tokio::time::timeout_at(deadline, conn.ws.next())
                .await
                .map_err(|_| ConnectError::Timeout(timeout, "subscribing"))?;
            let text = match msg {
                None => return Err(ConnectError::Transport("closed before subscribing".into())),
                Some(Err(e)) => return Err(ConnectError::Transport(e.to_string())),
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    return Err(ConnectError::Transport(format!(
                        "closed by the server before subscribing: {}",
                        close_reason(frame.as_ref())
                    )));
                }
                Some(Ok(Message::Ping(_))) => {
                    conn.flush().await;
                    continue;
                }
                Some(Ok(_)) => continue,
            };
            match parse_frame(&text) {
                Ok(Frame::Response(r)) if r.id.as_deref() == Some(id.as_str()) => {
                    conn.subscription_id = subscribed(&r)?;
                    conn.opened = Instant::now();
                    conn.last_frame = Instant::now();
                    return Ok(conn);
                }
                Ok(Frame::Response(r)) => {
                    tracing::debug!(
                        id = r.id.as_deref(),
                        status = r.status,
                        "answer to another request while subscribing"
                    );
                }
                Ok(Frame::Event(e)) => sink.deliver(e.event).await,
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable frame while subscribing: ignored");
                }
            }
        }
    }

    /// Sends `userDataStream.subscribe.signature`; returns the request id.
    async fn send_subscribe<S: EventSink>(
        &mut self,
        config: &WsApiConfig,
        sink: &S,
    ) -> Result<String, ConnectError> {
        self.next_id += 1;
        let id = format!("subscribe-{}", self.next_id);
        let key = config.api_key.expose();
        let timestamp = sink.server_now_ms();
        let (ts, rw) = (timestamp.to_string(), config.recv_window_ms.to_string());
        let payload = ws_api_payload(&[("apiKey", key), ("recvWindow", &rw), ("timestamp", &ts)]);
        let signature = config.signer.sign(payload.as_bytes());
        let request = json!({
            "id": id,
            "method": "userDataStream.subscribe.signature",
            "params": {
                "apiKey": key,
                "recvWindow": config.recv_window_ms,
                "timestamp": timestamp,
                "signature": signature,
            }
        });
        // The frame carries the api key and a signature: it is never logged.
        self.ws
            .send(Message::text(request.to_string()))
            .await
            .map_err(|e| ConnectError::Transport(e.to_string()))?;
        Ok(id)
    }

    /// The next message (cancel-safe).
    pub async fn next(&mut self) -> Option<Result<Message, tungstenite::Error>> {
        self.ws.next().await
    }

    /// Handles one message taken off the socket.
    pub async fn handle<S: EventSink>(
        &mut self,
        config: &WsApiConfig,
        sink: &S,
        msg: Option<Result<Message, tungstenite::Error>>,
    ) -> Step {
        let msg = match msg {
            None => return Step::End(Ended::Lost("connection closed".into())),
            Some(Err(e)) => return Step::End(Ended::Lost(format!("connection broken: {e}"))),
            Some(Ok(m)) => m,
        };
        self.last_frame = Instant::now();
        self.pinged = false;
        match msg {
            Message::Text(text) => self.handle_text(config, sink, &text).await,
            Message::Ping(_) => {
                // tungstenite queued the pong (echoing the payload); send it now.
                self.flush().await;
                Step::Continue
            }
            Message::Pong(_) | Message::Frame(_) => Step::Continue,
            Message::Binary(bytes) => {
                tracing::warn!(
                    bytes = bytes.len(),
                    "binary frame on a json session: ignored"
                );
                Step::Continue
            }
            Message::Close(frame) => Step::End(Ended::Lost(format!(
                "closed by the server: {}",
                close_reason(frame.as_ref())
            ))),
        }
    }

    async fn handle_text<S: EventSink>(
        &mut self,
        config: &WsApiConfig,
        sink: &S,
        text: &str,
    ) -> Step {
        match parse_frame(text) {
            Ok(Frame::Event(parsed)) => match parsed.event {
                UserDataEvent::StreamTerminated { event_time } => {
                    tracing::warn!(
                        event_time,
                        subscription_id = parsed.subscription_id,
                        "the exchange ended the subscription (eventStreamTerminated): subscribing again"
                    );
                    match self.send_subscribe(config, sink).await {
                        Ok(id) => {
                            self.resubscribing = Some(id);
                            Step::Continue
                        }
                        Err(e) => Step::End(Ended::Lost(e.to_string())),
                    }
                }
                UserDataEvent::ServerShutdown { .. } => Step::End(Ended::ServerShutdown),
                event => {
                    sink.deliver(event).await;
                    Step::Continue
                }
            },
            Ok(Frame::Response(r)) => {
                if r.id.is_some() && r.id == self.resubscribing {
                    self.resubscribing = None;
                    return match subscribed(&r) {
                        Ok(id) => {
                            self.subscription_id = id;
                            tracing::info!(
                                subscription_id = id,
                                "user-data stream subscribed again"
                            );
                            Step::Reconcile
                        }
                        Err(e) => Step::End(Ended::Lost(e.to_string())),
                    };
                }
                match &r.error {
                    Some(e) => {
                        tracing::warn!(id = r.id.as_deref(), status = r.status, code = e.code, msg = %e.msg, "error answer on the user-data connection")
                    }
                    None => {
                        tracing::debug!(
                            id = r.id.as_deref(),
                            status = r.status,
                            "answer on the user-data connection"
                        )
                    }
                }
                Step::Continue
            }
            Err(e) => {
                tracing::warn!(error = %e, bytes = text.len(), "unreadable user-data frame: ignored");
                Step::Continue
            }
        }
    }

    /// Checks for silence; pings the server after `keepalive_after` without a frame.
    pub async fn keepalive(&mut self, config: &WsApiConfig) -> Step {
        let idle = self.last_frame.elapsed();
        if idle >= config.silence_timeout {
            return Step::End(Ended::Lost(format!(
                "no frame for {} ms: connection silent or half-open",
                idle.as_millis()
            )));
        }
        if idle >= config.keepalive_after && !self.pinged {
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

    async fn flush(&mut self) {
        if let Err(e) = self.ws.flush().await {
            tracing::debug!(error = %e, "flushing the pong failed");
        }
    }
}

/// The subscription id of a successful answer, or the error the answer carries.
fn subscribed(r: &WsResponse) -> Result<i64, ConnectError> {
    if let Some(e) = &r.error {
        return match e.code {
            SUBSCRIPTION_ACTIVE => {
                tracing::warn!("subscription already active on this connection: carrying on");
                Ok(0)
            }
            code if REJECTED_KEY_CODES.contains(&code) => Err(ConnectError::Rejected {
                code,
                msg: e.msg.clone(),
            }),
            TIMESTAMP_CODE => Err(ConnectError::Timestamp(e.msg.clone())),
            code => Err(ConnectError::Refused {
                status: r.status,
                code,
                msg: e.msg.clone(),
            }),
        };
    }
    let id = r
        .result
        .as_ref()
        .and_then(|v| v.get("subscriptionId"))
        .and_then(serde_json::Value::as_i64);
    match id {
        Some(id) if r.status == 200 => Ok(id),
        _ => Err(ConnectError::Refused {
            status: r.status,
            code: 0,
            msg: "answer without an error or a subscriptionId".into(),
        }),
    }
}

fn close_reason(frame: Option<&tungstenite::protocol::CloseFrame>) -> String {
    match frame {
        Some(f) if f.reason.is_empty() => format!("code {}", u16::from(f.code)),
        Some(f) => format!("code {}: {}", u16::from(f.code), f.reason),
        None => "no close frame".into(),
    }
}
