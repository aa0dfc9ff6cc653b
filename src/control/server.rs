//! [`ControlServer`]: the component that owns the control socket.
//!
//! **The socket file.** [`ControlServer::bind`] creates the parent directory when missing,
//! then looks at what is at the path:
//! - nothing: bind;
//! - a socket nobody listens on (a crashed run left it; connecting is refused): replace it;
//! - a socket a live process serves (connecting succeeds, or hangs): refuse to start,
//!   [`BindError::InUse`], never stealing a running daemon's socket;
//! - anything else (a file, a directory, a symlink): refuse, [`BindError::NotASocket`].
//!
//! The socket never exists at its path with looser permissions than configured: it is
//! bound inside a fresh private directory (mode 0700, next to the final path, so on the
//! same filesystem), given its mode with `chmod` there, and then `rename`d into place,
//! which also replaces a stale socket atomically. Only when the private directory's path
//! would exceed the 107 bytes a socket path may have does it bind in place and `chmod`
//! at once; in that microsecond window the file has the process umask's permissions (with
//! the usual umask 022 nobody else may connect, since connecting needs write permission).
//! At shutdown, or when the server is dropped, the file is removed, if it is still the one
//! this server bound (same device and inode).
//!
//! Checking and binding are not one atomic step: two daemons started at the same instant
//! on one path could both see no live socket. The daemon's single-instance lock (the
//! lock file beside the database) is what rules that out.
//!
//! **Connections.** One task per connection; requests on a connection are answered one
//! at a time, in order (a client may pipeline many). [`ControlLimits`] bound what a client
//! can take: a line longer than `max_line_bytes` is answered with `-32600` and the
//! connection closed; a connection that sends no complete request for `idle_timeout` is
//! closed (blank lines do not count: they cannot keep a slot); a client that does not read
//! its responses for `write_timeout` is dropped; requests that reach the exchange are held
//! to a rate per connection ([`super::rate`]: beyond it, `-32008` with
//! `data.retry_after_ms`, the connection stays open). Beyond `max_connections`, up to
//! [`OVERFLOW_CONNECTIONS`] more connections each get [`OVERFLOW_WAIT`] to send one line:
//! a `status` request is answered (so an operator can always see the daemon's state), any
//! other gets a `-32008` line; then the connection is closed. Beyond those, a new
//! connection gets the `-32008` line at once and is closed. None of it touches the
//! heartbeat, which runs in its own task, so a slow or hostile client cannot delay a beat.

use std::fs;
use std::future::Future;
use std::io;
use std::os::unix::fs::{
    DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::ControlContext;
use super::handlers::Dispatch;
use super::protocol::{ErrorObject, Id, MAX_LINE_BYTES, Response, code};
use super::rate::RequestRate;
use super::subscribe::{Subscription, answer_subscribe};
use crate::config::ControlConfig;
use std::sync::PoisonError;

/// The longest path a Unix socket may be bound at, in bytes (`sun_path` less its NUL).
const MAX_SOCKET_PATH_BYTES: usize = 107;
/// How long connecting to an existing socket file may take before it is taken to be
/// served by a live (if busy) process.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause after a failed `accept` (out of file descriptors …) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Bytes read from a connection at a time.
const READ_CHUNK: usize = 8 * 1024;
/// Connections served beyond `max_connections`, one `status` request each.
pub const OVERFLOW_CONNECTIONS: usize = 8;
/// How long an overflow connection has to send its one line.
pub const OVERFLOW_WAIT: Duration = Duration::from_secs(2);

/// What one client may take. The defaults suit an operator's shell and scripts.
#[derive(Debug, Clone)]
pub struct ControlLimits {
    /// The longest request line, in bytes. Default [`MAX_LINE_BYTES`] (64 KiB).
    pub max_line_bytes: usize,
    /// Connections served at once; more are refused with `-32008`. Default 64.
    pub max_connections: usize,
    /// A connection that sends no complete request (blank lines do not count) for this
    /// long is closed. Default 60 s.
    pub idle_timeout: Duration,
    /// A response the client does not read within this long drops the connection.
    /// Default 10 s.
    pub write_timeout: Duration,
    /// At shutdown, how long requests in flight get to finish. Default 2 s.
    pub drain_timeout: Duration,
}

impl Default for ControlLimits {
    fn default() -> Self {
        ControlLimits {
            max_line_bytes: MAX_LINE_BYTES,
            max_connections: 64,
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(2),
        }
    }
}

/// Why the control socket could not be bound. The daemon does not start then.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A live process serves the socket: most likely another tradebeat.
    #[error(
        "control socket {} is in use by a running process (another tradebeat?): stop it first, or set control.socket to another path",
        path.display()
    )]
    InUse { path: PathBuf },
    /// Something other than a socket is at the path; it is left alone.
    #[error(
        "control socket path {} exists and is not a socket: remove it, or set control.socket to another path",
        path.display()
    )]
    NotASocket { path: PathBuf },
    /// `control.socket_mode` is not a valid mode (the config check refuses this first).
    #[error("invalid control.socket_mode {0:?}")]
    Mode(String),
    /// A file-system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// The control-socket component (see the module docs).
pub struct ControlServer {
    listener: UnixListener,
    socket: SocketFile,
    ctx: Arc<ControlContext>,
    dispatch: Arc<Dispatch>,
    limits: ControlLimits,
}

impl ControlServer {
    /// Binds `config.socket` with `config.socket_mode` (see the module docs for what
    /// happens to an existing file). Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`BindError::InUse`] when a live process serves the socket, [`BindError::NotASocket`]
    /// when something else is at the path, [`BindError::Io`] when the directory cannot be
    /// created or the socket cannot be bound.
    pub async fn bind(
        config: &ControlConfig,
        ctx: Arc<ControlContext>,
    ) -> Result<ControlServer, BindError> {
        let mode = config
            .socket_mode_bits()
            .ok_or_else(|| BindError::Mode(config.socket_mode.clone()))?;
        let path = config.socket.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::create_dir_all(dir).map_err(|source| BindError::Io {
                action: "create the control socket's directory",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        probe_existing(&path).await?;
        let std_listener = bind_private(&path, mode)?;
        let io_err = |action, source| BindError::Io {
            action,
            path: path.clone(),
            source,
        };
        std_listener
            .set_nonblocking(true)
            .map_err(|e| io_err("set up the control socket", e))?;
        let meta = fs::symlink_metadata(&path).map_err(|e| io_err("inspect", e))?;
        // Owned from here: dropped (on any error below, or at the end of `run`), the
        // file is removed.
        let socket = SocketFile {
            path: path.clone(),
            dev: meta.dev(),
            ino: meta.ino(),
        };
        let listener = UnixListener::from_std(std_listener).map_err(|e| io_err("listen on", e))?;
        Ok(ControlServer {
            listener,
            socket,
            ctx,
            dispatch: Arc::new(Dispatch::new()),
            limits: ControlLimits::default(),
        })
    }

    /// The same server with other limits (tests use short timeouts).
    pub fn with_limits(mut self, limits: ControlLimits) -> ControlServer {
        self.limits = limits;
        self
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.socket.path
    }

    /// Serves connections until `shutdown` is cancelled; then stops accepting, removes the
    /// socket file, and gives requests in flight `drain_timeout` to finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let ControlServer {
            listener,
            socket,
            ctx,
            dispatch,
            limits,
        } = self;
        let limits = Arc::new(limits);
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let overflow = Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS));
        let mut connections = JoinSet::new();
        let next_id = AtomicU64::new(1);
        let mut refusals = Refusals::default();
        tracing::info!(socket = %socket.path.display(), max_connections = limits.max_connections,
            "control socket listening");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(joined) = connections.join_next(), if !connections.is_empty() => {
                    if let Err(e) = joined {
                        tracing::error!(error = %e, "control connection task failed");
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let conn = next_id.fetch_add(1, Ordering::Relaxed);
                        match Arc::clone(&permits).try_acquire_owned() {
                            Ok(permit) => {
                                let (ctx, dispatch, limits, shutdown) = (
                                    Arc::clone(&ctx),
                                    Arc::clone(&dispatch),
                                    Arc::clone(&limits),
                                    shutdown.clone(),
                                );
                                connections.spawn(async move {
                                    serve(conn, stream, ctx, dispatch, &limits, &shutdown).await;
                                    drop(permit);
                                });
                            }
                            Err(_) => match Arc::clone(&overflow).try_acquire_owned() {
                                Ok(permit) => {
                                    let (ctx, dispatch, limits) = (
                                        Arc::clone(&ctx),
                                        Arc::clone(&dispatch),
                                        Arc::clone(&limits),
                                    );
                                    connections.spawn(async move {
                                        serve_overflow(stream, &limits, move |line| {
                                            async move { dispatch.handle_line(&ctx, &line).await.to_line() }
                                        })
                                        .await;
                                        drop(permit);
                                    });
                                }
                                Err(_) => refusals.refuse(conn, &stream, limits.max_connections),
                            },
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
            }
        }
        // New clients now find no socket (the daemon is stopping); requests in flight
        // finish, up to the deadline.
        drop(listener);
        drop(socket);
        let drained = tokio::time::timeout(limits.drain_timeout, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = connections.len(),
                "control requests still running at the drain deadline; abandoned"
            );
            connections.abort_all();
        }
        tracing::info!("control socket closed");
    }
}

impl crate::component::Component for ControlServer {
    fn name(&self) -> &'static str {
        "control"
    }

    /// [`ControlLimits::drain_timeout`] for the requests in flight, plus a second.
    fn drain_deadline(&self) -> Duration {
        self.limits.drain_timeout + Duration::from_secs(1)
    }

    fn run(self, shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
        ControlServer::run(self, shutdown)
    }
}

/// The socket file this server bound; removed when dropped if it is still that file.
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        match fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.dev() == self.dev && meta.ino() == self.ino => {
                if let Err(e) = fs::remove_file(&self.path) {
                    tracing::warn!(socket = %self.path.display(), error = %e,
                        "control socket file not removed");
                }
            }
            // Gone already, or another file now: not ours to remove.
            _ => {}
        }
    }
}

/// Checks what is at `path` before binding: nothing or a stale socket is fine; a live
/// socket or a non-socket is an error.
async fn probe_existing(path: &Path) -> Result<(), BindError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(BindError::Io {
                action: "inspect",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !meta.file_type().is_socket() {
        return Err(BindError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match tokio::time::timeout(PROBE_TIMEOUT, UnixStream::connect(path)).await {
        // Someone accepted, or holds it without accepting: live.
        Ok(Ok(_)) | Err(_) => Err(BindError::InUse {
            path: path.to_path_buf(),
        }),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(socket = %path.display(),
                "replacing a stale control socket left by an earlier run");
            Ok(())
        }
        Ok(Err(e)) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Ok(Err(source)) => Err(BindError::Io {
            action: "check the existing control socket",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Tells apart the private directories of binds running at once in one process (tests).
static BIND_SEQ: AtomicU64 = AtomicU64::new(0);

/// Binds a listener at `path` with permission bits `mode`, never exposing it with looser
/// ones (see the module docs), replacing a stale socket file.
fn bind_private(path: &Path, mode: u32) -> Result<std::os::unix::net::UnixListener, BindError> {
    let io_err = |action, path: &Path, source| BindError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let private = dir.join(format!(
        ".tradebeat-{}-{}",
        std::process::id(),
        BIND_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let staged = private.join("s");
    if staged.as_os_str().len() > MAX_SOCKET_PATH_BYTES {
        // No room for the private directory: bind in place and chmod at once.
        // `probe_existing` found nothing here, or a stale socket.
        let _ = fs::remove_file(path);
        let listener = std::os::unix::net::UnixListener::bind(path)
            .map_err(|e| io_err("bind the control socket", path, e))?;
        if let Err(e) = fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
            let _ = fs::remove_file(path);
            return Err(io_err("set the mode of", path, e));
        }
        return Ok(listener);
    }
    // A leftover of a crashed process that had our pid: ours to clear.
    let _ = fs::remove_dir_all(&private);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(|e| io_err("create a private directory", &private, e))?;
    let bound = (|| {
        let listener = std::os::unix::net::UnixListener::bind(&staged)
            .map_err(|e| io_err("bind the control socket", path, e))?;
        fs::set_permissions(&staged, fs::Permissions::from_mode(mode))
            .map_err(|e| io_err("set the mode of", path, e))?;
        fs::rename(&staged, path).map_err(|e| io_err("move the control socket to", path, e))?;
        Ok(listener)
    })();
    let _ = fs::remove_dir_all(&private);
    bound
}

/// How often, at most, refused connections are logged.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Refuses connections beyond the limit, logging them at most every
/// [`REFUSAL_LOG_EVERY`] with a count, so a flood of connections cannot flood the log.
#[derive(Default)]
struct Refusals {
    last_logged: Option<tokio::time::Instant>,
    unlogged: u64,
}

impl Refusals {
    /// Tells the connection why it is closed. Never waits: a client that does not read
    /// simply misses the line.
    fn refuse(&mut self, conn: u64, stream: &UnixStream, max: usize) {
        self.unlogged += 1;
        let now = tokio::time::Instant::now();
        if self
            .last_logged
            .is_none_or(|t| now.duration_since(t) >= REFUSAL_LOG_EVERY)
        {
            tracing::warn!(
                conn,
                max_connections = max,
                refused = self.unlogged,
                "control connections refused: too many connections"
            );
            self.last_logged = Some(now);
            self.unlogged = 0;
        }
        let _ = stream.try_write(&busy_line(max));
    }
}

/// The `-32008` line a connection beyond the limit gets.
fn busy_line(max: usize) -> Vec<u8> {
    Response::error(
        Id::Null,
        ErrorObject::new(
            code::SERVER_BUSY,
            format!("server busy: {max} connections are open; try again later"),
        ),
    )
    .to_line()
}

/// Serves a connection beyond `max_connections`: its first line, within
/// [`OVERFLOW_WAIT`], is answered with `handle` when it is a `status` request and with
/// the `-32008` line otherwise; then the connection is closed.
pub(crate) async fn serve_overflow<S, H, Fut>(stream: S, limits: &ControlLimits, handle: H)
where
    S: AsyncRead + AsyncWrite,
    H: FnOnce(Vec<u8>) -> Fut,
    Fut: Future<Output = Vec<u8>>,
{
    let (reader, mut writer) = tokio::io::split(stream);
    let mut lines = LineReader::new(reader, limits.max_line_bytes);
    let line = tokio::time::timeout(OVERFLOW_WAIT, async {
        loop {
            match lines.next_line().await {
                Ok(Frame::Line(line)) if line.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(Frame::Line(line)) => return Some(line),
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let is_status = line.as_deref().is_some_and(|l| {
        super::protocol::decode_request(l)
            .is_ok_and(|r| r.method == <super::protocol::Status as super::protocol::Method>::NAME)
    });
    let reply = match line {
        Some(line) if is_status => handle(line).await,
        _ => busy_line(limits.max_connections),
    };
    let _ = tokio::time::timeout(limits.write_timeout, async {
        writer.write_all(&reply).await?;
        writer.shutdown().await
    })
    .await;
}

/// Serves one accepted connection until it closes, idles out or the daemon stops.
async fn serve(
    conn: u64,
    stream: UnixStream,
    ctx: Arc<ControlContext>,
    dispatch: Arc<Dispatch>,
    limits: &ControlLimits,
    shutdown: &CancellationToken,
) {
    let uid = match stream.peer_cred() {
        Ok(cred) => {
            tracing::debug!(
                conn,
                uid = cred.uid(),
                pid = cred.pid(),
                "control connection opened"
            );
            Some(cred.uid())
        }
        Err(_) => {
            tracing::debug!(conn, "control connection opened");
            None
        }
    };
    // Who the action log says made this connection's state-changing requests.
    let source = Arc::new(super::ActionSource::Ctl { uid });
    // The connection's own rate of requests that reach the exchange.
    let rate = Arc::new(std::sync::Mutex::new(RequestRate::exchange_default()));
    // `subscribe` is answered here: the subscription belongs to the connection.
    let slot: Arc<SubscriptionSlot> = Arc::default();
    let closed = serve_connection_with(stream, limits, shutdown, Some(&slot), |line| {
        let (ctx, dispatch, rate) = (Arc::clone(&ctx), Arc::clone(&dispatch), Arc::clone(&rate));
        let slot = Arc::clone(&slot);
        let source = Arc::clone(&source);
        async move {
            if let Some((reply, subscription)) = answer_subscribe(ctx.store.events(), &line) {
                if let Some(subscription) = subscription {
                    tracing::debug!(conn, events = ?subscription.events(), "control connection subscribed");
                    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(subscription);
                }
                return reply;
            }
            dispatch
                .handle_line_rated_from(&ctx, &line, &rate, &source)
                .await
                .to_line()
        }
    })
    .await;
    tracing::debug!(conn, reason = ?closed, "control connection closed");
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The client closed its side.
    Eof,
    /// No complete request was received for `idle_timeout`.
    Idle,
    /// A line was longer than `max_line_bytes`; the client was told.
    TooLong,
    /// The client did not read a response within `write_timeout`.
    SlowReader,
    /// Reading or writing failed (the client vanished).
    Io,
    /// The daemon is stopping.
    Shutdown,
}

/// The connection loop, over any byte stream: read a line (bounded, with the idle
/// timeout), answer it with `handle`, write the answer (with the write timeout); repeat.
/// Empty lines are skipped and do not reset the idle timeout, which runs from the last
/// answered request. Responses go out in request order.
#[cfg(test)]
pub(crate) async fn serve_connection<S, H, Fut>(
    stream: S,
    limits: &ControlLimits,
    shutdown: &CancellationToken,
    handle: H,
) -> Closed
where
    S: AsyncRead + AsyncWrite,
    H: FnMut(Vec<u8>) -> Fut,
    Fut: Future<Output = Vec<u8>>,
{
    serve_connection_with(stream, limits, shutdown, None, handle).await
}

/// Where a connection's `handle` leaves the subscription a `subscribe` request made.
pub(crate) type SubscriptionSlot = std::sync::Mutex<Option<Subscription>>;

/// The next notification of `subscription`; never ready without one.
async fn next_event(subscription: &mut Option<Subscription>) -> Option<Vec<u8>> {
    match subscription {
        Some(s) => s.next_line().await,
        None => std::future::pending().await,
    }
}

/// [`serve_connection`], with a subscription: once `handle` has put one into `slot`, the
/// connection also writes its notifications (each with the write timeout: a subscriber
/// that does not read for that long is dropped), and is no longer closed as idle.
pub(crate) async fn serve_connection_with<S, H, Fut>(
    stream: S,
    limits: &ControlLimits,
    shutdown: &CancellationToken,
    slot: Option<&SubscriptionSlot>,
    mut handle: H,
) -> Closed
where
    S: AsyncRead + AsyncWrite,
    H: FnMut(Vec<u8>) -> Fut,
    Fut: Future<Output = Vec<u8>>,
{
    let (reader, mut writer) = tokio::io::split(stream);
    let mut lines = LineReader::new(reader, limits.max_line_bytes);
    let mut idle_deadline = tokio::time::Instant::now() + limits.idle_timeout;
    let mut subscription: Option<Subscription> = None;
    loop {
        // A subscribed connection waits for events, not requests: never idle.
        let deadline = match subscription {
            Some(_) => tokio::time::Instant::now() + SUBSCRIBED_IDLE,
            None => idle_deadline,
        };
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Closed::Shutdown,
            next = tokio::time::timeout_at(deadline, lines.next_line()) => next,
            event = next_event(&mut subscription) => {
                match event {
                    Some(line) => {
                        match tokio::time::timeout(limits.write_timeout, writer.write_all(&line)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(_)) => return Closed::Io,
                            Err(_) => return Closed::SlowReader,
                        }
                    }
                    None => subscription = None,
                }
                continue;
            }
        };
        let reply = match next {
            Err(_) => return Closed::Idle,
            Ok(Err(_)) => return Closed::Io,
            Ok(Ok(Frame::Eof)) => return Closed::Eof,
            Ok(Ok(Frame::TooLong)) => {
                let line = Response::error(
                    Id::Null,
                    ErrorObject::new(
                        code::INVALID_REQUEST,
                        format!(
                            "invalid request: line longer than {} bytes; connection closed",
                            limits.max_line_bytes
                        ),
                    )
                    .with_data(serde_json::json!({ "max_line_bytes": limits.max_line_bytes })),
                )
                .to_line();
                let _ = tokio::time::timeout(limits.write_timeout, writer.write_all(&line)).await;
                let _ = tokio::time::timeout(limits.write_timeout, writer.shutdown()).await;
                return Closed::TooLong;
            }
            Ok(Ok(Frame::Line(line))) if line.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(Ok(Frame::Line(line))) => handle(line).await,
        };
        match tokio::time::timeout(limits.write_timeout, writer.write_all(&reply)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Closed::Io,
            Err(_) => return Closed::SlowReader,
        }
        if let Some(made) =
            slot.and_then(|s| s.lock().unwrap_or_else(PoisonError::into_inner).take())
        {
            subscription = Some(made);
        }
        idle_deadline = tokio::time::Instant::now() + limits.idle_timeout;
    }
}

/// How long a subscribed connection may stay silent (a year: in effect, for ever).
const SUBSCRIBED_IDLE: Duration = Duration::from_secs(365 * 24 * 3600);

/// What [`LineReader::next_line`] found.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// One line without its `\n` (nor a `\r` before it). At end of stream, the bytes
    /// after the last `\n`, if any.
    Line(Vec<u8>),
    /// The stream ended.
    Eof,
    /// The line exceeds the limit; the reader holds at most the limit plus one chunk.
    TooLong,
}

/// Splits a byte stream into lines of at most `max` bytes, never buffering more than
/// `max` plus one read chunk, whatever the client sends.
struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Bytes of `buf` known to hold no `\n`.
    scanned: usize,
    max: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    fn new(inner: R, max: usize) -> LineReader<R> {
        LineReader {
            inner,
            buf: Vec::with_capacity(READ_CHUNK),
            scanned: 0,
            max,
        }
    }

    async fn next_line(&mut self) -> io::Result<Frame> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            if let Some(i) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + i;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                self.scanned = 0;
                line.pop();
                return Ok(self.finish(line));
            }
            self.scanned = self.buf.len();
            if self.buf.len() > self.max.saturating_add(1) {
                return Ok(Frame::TooLong);
            }
            let n = self.inner.read(&mut chunk).await?;
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(Frame::Eof);
                }
                let line = std::mem::take(&mut self.buf);
                self.scanned = 0;
                return Ok(self.finish(line));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn finish(&self, mut line: Vec<u8>) -> Frame {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > self.max {
            Frame::TooLong
        } else {
            Frame::Line(line)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt as _;

    fn limits() -> ControlLimits {
        ControlLimits {
            max_line_bytes: 32,
            ..ControlLimits::default()
        }
    }

    /// Echoes each line back, upper-cased, as the "response".
    fn echo(line: Vec<u8>) -> std::future::Ready<Vec<u8>> {
        let mut out = line.to_ascii_uppercase();
        out.push(b'\n');
        std::future::ready(out)
    }

    #[tokio::test]
    async fn lines_are_split_bounded_and_trimmed() {
        let data: &[u8] = b"one\r\ntwo\n\nthree";
        let mut r = LineReader::new(data, 8);
        assert_eq!(r.next_line().await.unwrap(), Frame::Line(b"one".to_vec()));
        assert_eq!(r.next_line().await.unwrap(), Frame::Line(b"two".to_vec()));
        assert_eq!(r.next_line().await.unwrap(), Frame::Line(Vec::new()));
        assert_eq!(r.next_line().await.unwrap(), Frame::Line(b"three".to_vec()));
        assert_eq!(r.next_line().await.unwrap(), Frame::Eof);

        let exact = [b'x'; 8];
        let mut ok = exact.to_vec();
        ok.push(b'\n');
        let mut r = LineReader::new(&ok[..], 8);
        assert_eq!(r.next_line().await.unwrap(), Frame::Line(exact.to_vec()));

        // 2 MB without a newline: refused after reading little more than the limit.
        let big = vec![b'a'; 2 * 1024 * 1024];
        let mut r = LineReader::new(&big[..], 1024);
        assert_eq!(r.next_line().await.unwrap(), Frame::TooLong);
        assert!(r.buf.len() <= 1024 + READ_CHUNK + 1, "{}", r.buf.len());
    }

    #[tokio::test]
    async fn requests_are_answered_in_order_on_one_connection() {
        let (client, server) = tokio::io::duplex(4096);
        let shutdown = CancellationToken::new();
        let server =
            tokio::spawn(async move { serve_connection(server, &limits(), &shutdown, echo).await });
        let (r, mut w) = tokio::io::split(client);
        w.write_all(b"a\nb\n  \nc\n").await.unwrap();
        w.shutdown().await.unwrap();
        let mut lines = tokio::io::BufReader::new(r).lines();
        let mut got = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            got.push(line);
        }
        assert_eq!(got, ["A", "B", "C"]);
        assert_eq!(server.await.unwrap(), Closed::Eof);
    }

    #[tokio::test]
    async fn a_too_long_line_gets_an_error_and_the_connection_closes() {
        let (client, server) = tokio::io::duplex(1 << 20);
        let shutdown = CancellationToken::new();
        let server =
            tokio::spawn(async move { serve_connection(server, &limits(), &shutdown, echo).await });
        let (r, mut w) = tokio::io::split(client);
        w.write_all(&[b'x'; 100]).await.unwrap();
        w.write_all(b"\nnever answered\n").await.unwrap();
        let mut lines = tokio::io::BufReader::new(r).lines();
        let first = lines.next_line().await.unwrap().unwrap();
        let response: Response = serde_json::from_str(&first).unwrap();
        let error = response.error.unwrap();
        assert_eq!(error.code, code::INVALID_REQUEST);
        assert!(
            error.message.contains("longer than 32 bytes"),
            "{}",
            error.message
        );
        assert_eq!(
            lines.next_line().await.unwrap(),
            None,
            "closed after the error"
        );
        assert_eq!(server.await.unwrap(), Closed::TooLong);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_writes_is_dropped_after_the_idle_timeout() {
        let (client, server) = tokio::io::duplex(4096);
        let shutdown = CancellationToken::new();
        let started = tokio::time::Instant::now();
        let closed = serve_connection(server, &limits(), &shutdown, echo).await;
        assert_eq!(closed, Closed::Idle);
        assert_eq!(started.elapsed(), ControlLimits::default().idle_timeout);
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn activity_resets_the_idle_timeout_and_a_slow_reader_is_dropped() {
        let (client, server) = tokio::io::duplex(64);
        let shutdown = CancellationToken::new();
        let limits = ControlLimits {
            max_line_bytes: 32,
            write_timeout: Duration::from_secs(5),
            ..ControlLimits::default()
        };
        let server = tokio::spawn({
            let limits = limits.clone();
            async move {
                // Each answer is 100 bytes: more than the pipe holds, so an unread
                // answer blocks the writer.
                serve_connection(server, &limits, &shutdown, |_| {
                    std::future::ready(vec![b'y'; 100])
                })
                .await
            }
        });
        let (mut r, mut w) = tokio::io::split(client);
        // 50 s of silence, then a line: not idle yet.
        tokio::time::sleep(Duration::from_secs(50)).await;
        w.write_all(b"ping\n").await.unwrap();
        let mut answer = vec![0u8; 100];
        r.read_exact(&mut answer).await.unwrap();
        // Another line, whose answer is never read: dropped after the write timeout.
        let before = tokio::time::Instant::now();
        w.write_all(b"ping\n").await.unwrap();
        assert_eq!(server.await.unwrap(), Closed::SlowReader);
        assert_eq!(before.elapsed(), limits.write_timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn blank_lines_do_not_keep_a_connection_open() {
        let (client, server) = tokio::io::duplex(4096);
        let shutdown = CancellationToken::new();
        let started = tokio::time::Instant::now();
        let server =
            tokio::spawn(async move { serve_connection(server, &limits(), &shutdown, echo).await });
        let (_r, mut w) = tokio::io::split(client);
        let keep_alive = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(50)).await;
                if w.write_all(b"\n").await.is_err() {
                    return;
                }
            }
        });
        let closed = tokio::time::timeout(Duration::from_secs(600), server).await;
        assert_eq!(
            closed.expect("still open after 10 min").unwrap(),
            Closed::Idle
        );
        assert_eq!(started.elapsed(), ControlLimits::default().idle_timeout);
        keep_alive.abort();
    }

    /// What an overflow connection gets back for `request` (the handler answers "served").
    async fn overflow_answer(request: Option<&[u8]>) -> String {
        let (client, server) = tokio::io::duplex(4096);
        let server = tokio::spawn(async move {
            serve_overflow(server, &ControlLimits::default(), |_| {
                std::future::ready(b"served\n".to_vec())
            })
            .await
        });
        let (r, mut w) = tokio::io::split(client);
        if let Some(request) = request {
            w.write_all(request).await.unwrap();
        }
        let mut answer = String::new();
        tokio::io::BufReader::new(r)
            .read_line(&mut answer)
            .await
            .unwrap();
        server.await.unwrap();
        answer
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_the_limit_status_is_answered_and_anything_else_refused() {
        let status = b"\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}\n";
        assert_eq!(overflow_answer(Some(status)).await, "served\n");
        let other = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"symbol.list\"}\n";
        for request in [Some(&other[..]), Some(b"not json\n"), None] {
            let started = tokio::time::Instant::now();
            let answer = overflow_answer(request).await;
            let response: Response = serde_json::from_str(&answer).unwrap();
            assert_eq!(response.error.unwrap().code, code::SERVER_BUSY);
            assert!(started.elapsed() <= OVERFLOW_WAIT);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_closes_an_idle_connection() {
        let (_client, server) = tokio::io::duplex(64);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { serve_connection(server, &limits(), &shutdown, echo).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        shutdown.cancel();
        assert_eq!(task.await.unwrap(), Closed::Shutdown);
    }

    #[tokio::test(start_paused = true)]
    async fn a_subscribed_connection_gets_events_and_is_never_idle() {
        use crate::store::{BeatTrigger, EventBus, HeartbeatRow, StoreEvent};
        let bus = EventBus::new(16);
        let (client, server) = tokio::io::duplex(1 << 16);
        let shutdown = CancellationToken::new();
        let slot: Arc<SubscriptionSlot> = Arc::default();
        let task = {
            let (bus, slot, shutdown) = (bus.clone(), Arc::clone(&slot), shutdown.clone());
            tokio::spawn(async move {
                let handle = |line: Vec<u8>| {
                    let answer = answer_subscribe(&bus, &line);
                    let reply = match answer {
                        Some((reply, Some(sub))) => {
                            *slot.lock().unwrap() = Some(sub);
                            reply
                        }
                        Some((reply, None)) => reply,
                        None => echo(line).into_inner(),
                    };
                    std::future::ready(reply)
                };
                serve_connection_with(
                    server,
                    &ControlLimits::default(),
                    &shutdown,
                    Some(&slot),
                    handle,
                )
                .await
            })
        };
        let (r, mut w) = tokio::io::split(client);
        let mut lines = tokio::io::BufReader::new(r).lines();
        w.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\",\"params\":{\"events\":[\"beat\"]}}\n")
            .await
            .unwrap();
        let answer: Response =
            serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert!(answer.error.is_none(), "{answer:?}");
        // Far past the idle timeout, then an event: delivered, the connection still open.
        tokio::time::sleep(ControlLimits::default().idle_timeout * 3).await;
        let row = HeartbeatRow {
            beat_time: 42,
            started_at: 42,
            finished_at: 43,
            symbols_ok: 1,
            symbols_failed: 0,
            klines_written: 0,
            skipped_before: 0,
            trigger: BeatTrigger::Schedule,
            error: None,
        };
        bus.publish(StoreEvent::Beat(row));
        let line = lines.next_line().await.unwrap().unwrap();
        let note: crate::control::protocol::EventNotification =
            serde_json::from_str(&line).unwrap();
        assert!(
            matches!(note.params, crate::control::protocol::Event::Beat(b) if b.beat_time == 42),
            "{line}"
        );
        // Requests are still answered between events.
        w.write_all(b"ping\n").await.unwrap();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "PING");
        assert!(!task.is_finished());
        shutdown.cancel();
        assert_eq!(task.await.unwrap(), Closed::Shutdown);
    }
}
