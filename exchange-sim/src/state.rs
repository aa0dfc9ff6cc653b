//! State shared by the HTTP server and every [`crate::SimHandle`] clone.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Mutex, RwLock,
        atomic::{AtomicI64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use crate::{
    RequestRecord, SimConfig,
    faults::Faults,
    lock,
    market::{Gaps, Market},
    orders::Trading,
    read,
    streams::Streams,
    weights::RateLimiter,
    write,
    ws_api::WsHub,
};

/// Most recent requests kept by the request log.
pub const REQUEST_LOG_CAPACITY: usize = 200_000;

/// Everything the simulator knows.
#[derive(Debug)]
pub(crate) struct Shared {
    pub market: Market,
    pub clock: Clock,
    pub limiter: RateLimiter,
    pub faults: Faults,
    /// Symbol status overrides (`"BREAK"`, `"HALT"`, …) by symbol.
    pub statuses: RwLock<HashMap<String, String>>,
    /// Halted minutes by symbol.
    pub gaps: RwLock<HashMap<String, Gaps>>,
    pub log: RequestLog,
    /// The account, its orders and the order faults.
    pub trading: Trading,
    /// WebSocket API connections, the user-data event log and the WS faults.
    pub ws: WsHub,
    /// Market-stream connections.
    pub streams: Streams,
}

impl Shared {
    pub(crate) fn new(config: &SimConfig) -> Shared {
        Shared {
            market: Market::new(config.extra_symbols),
            clock: Clock::new(config.clock_skew_ms),
            limiter: RateLimiter::new(config.weight_limit_per_min),
            faults: Faults::new(config.latency, config.error_rate_5xx),
            statuses: RwLock::default(),
            gaps: RwLock::default(),
            log: RequestLog::default(),
            trading: Trading::new(
                &config.api_key,
                &config.api_secret,
                &config.balances,
                config.orders_per_10s,
            ),
            ws: WsHub::default(),
            streams: Streams::default(),
        }
    }

    /// The halts configured for `symbol`.
    pub(crate) fn gaps_of(&self, symbol: &str) -> Option<Gaps> {
        read(&self.gaps).get(symbol).cloned()
    }

    /// A snapshot of the status overrides.
    pub(crate) fn statuses(&self) -> HashMap<String, String> {
        read(&self.statuses).clone()
    }

    pub(crate) fn add_gap(&self, symbol: &str, start_ms: i64, end_ms: i64) {
        write(&self.gaps)
            .entry(symbol.to_owned())
            .or_default()
            .add_ms(start_ms, end_ms);
    }
}

/// Server time: the system clock plus a configurable skew.
#[derive(Debug)]
pub(crate) struct Clock {
    skew_ms: AtomicI64,
    /// A frozen time for deterministic unit tests (`i64::MIN` = not frozen).
    frozen_ms: AtomicI64,
}

impl Clock {
    pub(crate) fn new(skew_ms: i64) -> Clock {
        Clock {
            skew_ms: AtomicI64::new(skew_ms),
            frozen_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// Server time in ms since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        let frozen = self.frozen_ms.load(Ordering::Relaxed);
        if frozen != i64::MIN {
            return frozen;
        }
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        wall.saturating_add(self.skew_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn skew_ms(&self) -> i64 {
        self.skew_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn set_skew_ms(&self, skew_ms: i64) {
        self.skew_ms.store(skew_ms, Ordering::Relaxed);
    }

    /// Stops the clock at `ms` (tests only).
    #[cfg(test)]
    pub(crate) fn freeze(&self, ms: i64) {
        self.frozen_ms.store(ms, Ordering::Relaxed);
    }
}

/// Bounded log of served requests plus all-time counters per status.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    inner: Mutex<LogInner>,
}

#[derive(Debug, Default)]
struct LogInner {
    records: VecDeque<RequestRecord>,
    by_status: HashMap<u16, usize>,
}

impl RequestLog {
    pub(crate) fn push(&self, record: RequestRecord) {
        let mut inner = lock(&self.inner);
        *inner.by_status.entry(record.status).or_default() += 1;
        if inner.records.len() == REQUEST_LOG_CAPACITY {
            inner.records.pop_front();
        }
        inner.records.push_back(record);
    }

    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        lock(&self.inner).records.iter().cloned().collect()
    }

    pub(crate) fn count_status(&self, status: u16) -> usize {
        lock(&self.inner)
            .by_status
            .get(&status)
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn clear(&self) {
        let mut inner = lock(&self.inner);
        inner.records.clear();
        inner.by_status.clear();
    }
}
