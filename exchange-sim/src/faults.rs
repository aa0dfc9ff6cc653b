//! Fault injection: latency, random 5xx answers, outages and malformed payloads.
//!
//! All knobs are changed at runtime through [`crate::SimHandle`] and take effect for the
//! next request. Random decisions use a fixed-seed generator, so a given sequence of
//! requests sees the same faults on every run.

use std::{
    collections::HashSet,
    io,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    body::{Body, to_bytes},
    http::header,
    response::Response,
};
use tokio::net::{TcpListener, TcpStream};

use crate::{lock, read, write};

/// Seed of the fault generator.
const FAULT_SEED: u64 = 0x7472_6164_6562_6561; // "tradebea"

/// Runtime fault settings.
#[derive(Debug)]
pub(crate) struct Faults {
    latency_nanos: AtomicU64,
    error_rate_bits: AtomicU64,
    unavailable: Arc<AtomicBool>,
    malformed: RwLock<HashSet<String>>,
    rng: Mutex<fastrand::Rng>,
}

impl Faults {
    pub(crate) fn new(latency: Duration, error_rate: f64) -> Faults {
        let faults = Faults {
            latency_nanos: AtomicU64::new(0),
            error_rate_bits: AtomicU64::new(0),
            unavailable: Arc::new(AtomicBool::new(false)),
            malformed: RwLock::new(HashSet::new()),
            rng: Mutex::new(fastrand::Rng::with_seed(FAULT_SEED)),
        };
        faults.set_latency(latency);
        faults.set_error_rate(error_rate);
        faults
    }

    /// Delay added before answering each request.
    pub(crate) fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_nanos.store(nanos, Ordering::Relaxed);
    }

    /// Fraction of admitted requests answered with HTTP 503 (clamped to `0.0..=1.0`).
    pub(crate) fn error_rate(&self) -> f64 {
        f64::from_bits(self.error_rate_bits.load(Ordering::Relaxed))
    }

    pub(crate) fn set_error_rate(&self, rate: f64) {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self.error_rate_bits
            .store(rate.to_bits(), Ordering::Relaxed);
    }

    /// Draws whether this request gets an injected 5xx.
    pub(crate) fn roll_5xx(&self) -> bool {
        let rate = self.error_rate();
        rate > 0.0 && lock(&self.rng).f64() < rate
    }

    /// Whether the simulated outage is on.
    pub(crate) fn unavailable(&self) -> bool {
        self.unavailable.load(Ordering::Relaxed)
    }

    pub(crate) fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::Relaxed);
    }

    /// Whether 200 answers on `path` are garbled.
    pub(crate) fn is_malformed(&self, path: &str) -> bool {
        let set = read(&self.malformed);
        !set.is_empty() && set.contains(normalize_path(path))
    }

    pub(crate) fn set_malformed(&self, path: &str, on: bool) {
        let path = normalize_path(path).to_owned();
        let mut set = write(&self.malformed);
        if on {
            set.insert(path);
        } else {
            set.remove(&path);
        }
    }

    /// A listener that drops new connections while the outage is on.
    pub(crate) fn listener(&self, inner: TcpListener) -> OutageListener {
        OutageListener {
            inner,
            unavailable: Arc::clone(&self.unavailable),
        }
    }
}

/// `"api/v3/klines/"` → `"/api/v3/klines"`-style comparison key (leading `/` optional,
/// trailing `/` ignored).
fn normalize_path(path: &str) -> &str {
    let path = path.trim_end_matches('/');
    path.strip_prefix('/').unwrap_or(path)
}

/// Replaces a response body by its first half: truncated JSON with a 200 status, like a
/// connection cut mid-payload by a proxy.
pub(crate) async fn garble(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let truncated = bytes.slice(..bytes.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(truncated))
}

/// TCP listener that closes accepted connections immediately during an outage, so that
/// clients see connection resets/EOFs (requests on already-open keep-alive connections are
/// answered 503 with an empty body by the REST layer instead).
#[derive(Debug)]
pub(crate) struct OutageListener {
    inner: TcpListener,
    unavailable: Arc<AtomicBool>,
}

impl axum::serve::Listener for OutageListener {
    type Io = TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, _)) if self.unavailable.load(Ordering::Relaxed) => drop(stream),
                Ok((stream, addr)) => {
                    // Small JSON answers must not wait for Nagle/delayed-ACK.
                    let _ = stream.set_nodelay(true);
                    return (stream, addr);
                }
                Err(error) => {
                    // Resource exhaustion (EMFILE…) or a connection reset before accept:
                    // back off briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs() {
        let faults = Faults::new(Duration::from_millis(3), 2.0);
        assert_eq!(faults.latency(), Duration::from_millis(3));
        assert_eq!(faults.error_rate(), 1.0);
        assert!(faults.roll_5xx());
        faults.set_error_rate(f64::NAN);
        assert!(!faults.roll_5xx());
        faults.set_malformed("api/v3/klines/", true);
        assert!(faults.is_malformed("/api/v3/klines"));
        faults.set_malformed("/api/v3/klines", false);
        assert!(!faults.is_malformed("/api/v3/klines"));
    }

    #[tokio::test]
    async fn garbling_truncates() {
        let response = Response::new(Body::from("{\"serverTime\":1}"));
        let garbled = garble(response).await;
        let body = to_bytes(garbled.into_body(), usize::MAX)
            .await
            .expect("body");
        assert_eq!(&body[..], b"{\"server");
        assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
    }
}
