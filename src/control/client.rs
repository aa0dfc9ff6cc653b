//! [`Client`]: talks to a daemon's control socket; used by `tradebeat ctl`, the tests and
//! the benchmark.
//!
//! One connection, requests answered in order. [`Client::call`] is the typed way in (a
//! [`Method`] marker names the method, its params and its result); [`Client::call_value`]
//! returns the raw JSON result (`ctl --json`); [`Client::send_raw`] and
//! [`Client::read_response`] let tests send anything at all.

use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::protocol::{ErrorObject, Id, Method, Request, Response};

/// The longest response line the client reads, in bytes (5000 klines are about 1.5 MB).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
/// How long a call waits for its answer by default. `sync.now` waits for a beat, and
/// `symbol.add` for `exchangeInfo`, each bounded by the exchange client's own timeouts.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket cannot be connected to: no daemon, wrong path, or no permission.
    #[error("cannot connect to the control socket {}: {source}", path.display())]
    Connect { path: PathBuf, source: io::Error },
    /// The connection broke.
    #[error("connection to the daemon lost: {0}")]
    Io(#[from] io::Error),
    /// The daemon closed the connection before answering.
    #[error("the daemon closed the connection without answering")]
    Closed,
    /// No answer in time.
    #[error("no answer from the daemon within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The answer is not a response to the request, or its result has the wrong shape.
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
    /// The daemon answered with an error.
    #[error("{0}")]
    Rpc(ErrorObject),
    /// The socket (or the process serving it) belongs to another user than ours and
    /// root: it may be a squatter's, so nothing was sent.
    #[error(
        "refusing the control socket {}: it is owned by uid {owner}, not by us (uid {ours}) nor root; nothing was sent",
        path.display()
    )]
    Untrusted {
        path: PathBuf,
        owner: u32,
        ours: u32,
    },
}

impl ClientError {
    /// The daemon's error, when it answered with one.
    pub fn rpc(&self) -> Option<&ErrorObject> {
        match self {
            ClientError::Rpc(e) => Some(e),
            _ => None,
        }
    }
}

/// This process's effective uid, read without `unsafe`: the peer credentials of one end
/// of a socket pair it just made are its own.
fn own_uid() -> io::Result<u32> {
    let (a, _b) = UnixStream::pair()?;
    Ok(a.peer_cred()?.uid())
}

/// A connection to a daemon's control socket.
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    timeout: Duration,
}

impl Client {
    /// Connects to the socket at `path`, after checking that the socket file is owned by
    /// our own uid or root, and, once connected, that the process serving it runs as one
    /// of them: a socket planted by another user in a shared directory gets no request
    /// (an order's parameters, say).
    ///
    /// # Errors
    /// [`ClientError::Connect`] when nothing listens there or permission is denied;
    /// [`ClientError::Untrusted`] when the socket or its server belongs to another user.
    pub async fn connect(path: &Path) -> Result<Client, ClientError> {
        let connect_err = |source| ClientError::Connect {
            path: path.to_path_buf(),
            source,
        };
        let ours = own_uid().map_err(connect_err)?;
        let untrusted = |owner| ClientError::Untrusted {
            path: path.to_path_buf(),
            owner,
            ours,
        };
        let owner = std::fs::metadata(path).map_err(connect_err)?.uid();
        if owner != ours && owner != 0 {
            return Err(untrusted(owner));
        }
        let stream = UnixStream::connect(path).await.map_err(connect_err)?;
        let server = stream.peer_cred().map_err(connect_err)?.uid();
        if server != ours && server != 0 {
            return Err(untrusted(server));
        }
        let (reader, writer) = stream.into_split();
        Ok(Client {
            reader: BufReader::new(reader),
            writer,
            next_id: 1,
            timeout: DEFAULT_CALL_TIMEOUT,
        })
    }

    /// The same client with another call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// Calls method `M` and decodes its result.
    ///
    /// # Errors
    /// [`ClientError::Rpc`] when the daemon answers with an error; the others when the
    /// connection fails or the answer does not fit `M::Result`.
    pub async fn call<M: Method>(&mut self, params: &M::Params) -> Result<M::Result, ClientError> {
        let value = self.call_value::<M>(params).await?;
        serde_json::from_value(value).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Calls method `M` and returns its result as JSON, as the daemon sent it.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn call_value<M: Method>(
        &mut self,
        params: &M::Params,
    ) -> Result<Value, ClientError> {
        let id = Id::from(self.next_id);
        self.next_id += 1;
        let request =
            Request::new::<M>(id, params).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let response = self.request(&request).await?;
        response.into_result().map_err(ClientError::Rpc)
    }

    /// Sends `request` and reads its response (checking the id).
    ///
    /// # Errors
    /// As [`Client::call`], except that an error response is returned as a response.
    pub async fn request(&mut self, request: &Request) -> Result<Response, ClientError> {
        let mut line =
            serde_json::to_vec(request).map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.send_raw(&line).await?;
        let response = self.read_response().await?;
        if response.id != request.id {
            return Err(ClientError::Protocol(format!(
                "answer to request {} arrived for request {}",
                response.id, request.id
            )));
        }
        Ok(response)
    }

    /// Writes bytes as they are (tests send malformed input with this).
    ///
    /// # Errors
    /// The connection broke.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.writer.write_all(bytes).await?;
        Ok(())
    }

    /// Reads the next notification of a subscribed connection (`subscribe`), waiting up
    /// to `wait` (`None`: for as long as it takes). `Ok(None)` when the daemon closed the
    /// connection (it stopped).
    ///
    /// # Errors
    /// [`ClientError::Timeout`], [`ClientError::Io`], and [`ClientError::Protocol`] for a
    /// line that is not a notification.
    pub async fn read_event(
        &mut self,
        wait: Option<Duration>,
    ) -> Result<Option<super::protocol::Event>, ClientError> {
        let mut line = Vec::new();
        let mut bounded = (&mut self.reader).take(MAX_RESPONSE_BYTES);
        let read = bounded.read_until(b'\n', &mut line);
        let n = match wait {
            Some(wait) => tokio::time::timeout(wait, read)
                .await
                .map_err(|_| ClientError::Timeout(wait))??,
            None => read.await?,
        };
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice::<super::protocol::EventNotification>(&line)
            .map(|n| Some(n.params))
            .map_err(|e| {
                ClientError::Protocol(format!(
                    "{e}: {}",
                    String::from_utf8_lossy(&line[..line.len().min(200)])
                ))
            })
    }

    /// Reads the next response line.
    ///
    /// # Errors
    /// [`ClientError::Closed`] at end of stream, [`ClientError::Timeout`],
    /// [`ClientError::Protocol`] for a line that is not a response.
    pub async fn read_response(&mut self) -> Result<Response, ClientError> {
        let mut line = Vec::new();
        let mut bounded = (&mut self.reader).take(MAX_RESPONSE_BYTES);
        let read = bounded.read_until(b'\n', &mut line);
        let n = tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))??;
        if n == 0 {
            return Err(ClientError::Closed);
        }
        serde_json::from_slice(&line).map_err(|e| {
            ClientError::Protocol(format!(
                "{e}: {}",
                String::from_utf8_lossy(&line[..line.len().min(200)])
            ))
        })
    }
}
