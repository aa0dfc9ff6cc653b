//! Request-weight accounting: the local gate every REST request passes before it is sent.
//!
//! Binance counts `REQUEST_WEIGHT` per IP in fixed one-minute windows that reset on
//! server-time minute boundaries, reports the running total in the
//! `X-MBX-USED-WEIGHT-1M` header of every response, answers 429 with `Retry-After`
//! once the limit is exceeded and bans the IP with 418 when that is ignored. Binance:
//! "IP Limits" in <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>,
//! and the fixed windows under "Rate limits" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/rate-limits>.
//!
//! [`WeightGate`] is pure bookkeeping over explicit server times (ms since the epoch, UTC),
//! with no clock and no sleeping, so that every rule is unit-tested with exact times:
//!
//! - a request reserves its weight before it is sent; it is held back until the next window
//!   when `used + in_flight + weight` would pass its [`Priority`]'s share of the limit
//!   (95 % for interactive work, 60 % for background work, so that background work always
//!   leaves interactive work room);
//! - the beats' weight for a whole window is reserved ([`WeightGate::set_beat_reserve`],
//!   from the requests the beats will make): a request made for a control client
//!   ([`Priority::Control`]) is refused at once, never queued, when `used + in_flight +
//!   weight + reserve` would pass 95 %, and background work stays below that line too, so
//!   neither can take the weight a beat needs;
//! - a response's reported weight is authoritative: `used` becomes the maximum of what we
//!   knew and what the exchange says, within the same window;
//! - after a 429 or a 418, requests are refused without being sent until the block ends.

use crate::domain::MINUTE_MS;

use super::error::ExchangeError;

/// The request-weight limit per minute assumed until `exchangeInfo` publishes one (the
/// documented `REQUEST_WEIGHT` example, "Rate limiters" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/enums>).
pub const DEFAULT_WEIGHT_LIMIT: u32 = 6000;

/// Length of a weight window, ms.
const WINDOW_MS: i64 = MINUTE_MS;

/// Interactive requests are held back when they would pass this share of the limit (‰).
const INTERACTIVE_MAX_PERMILLE: u64 = 950;

/// Background requests are held back when they would pass this share of the limit (‰).
const BACKGROUND_MAX_PERMILLE: u64 = 600;

/// Held-back requests wake this long after the window boundary, so that a small error in
/// the measured clock offset does not put them into the old window at the exchange.
const WINDOW_GUARD_MS: i64 = 250;

/// How long to back off after a 429 that carries no `Retry-After`, ms.
const DEFAULT_RETRY_AFTER_MS: i64 = 60_000;

/// How long a 418 ban is assumed to last when neither `Retry-After` nor the message says
/// (bans last 2 minutes at least: "IP Limits" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>), ms.
const DEFAULT_BAN_MS: i64 = 120_000;

/// Which share of the weight budget a request may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// Beats and control requests: held back only above 95 % of the limit.
    #[default]
    Interactive,
    /// History backfill: held back above 60 % of the limit, so it never starves
    /// interactive work, and above 95 % less the beats' reserve.
    Background,
    /// Requests a control client asked for (`order.get`, `symbol.add` …): never held
    /// back; refused at once with [`ExchangeError::WeightReserved`] when they would pass
    /// 95 % of the limit less the beats' reserve.
    Control,
}

impl Priority {
    fn max_permille(self) -> u64 {
        match self {
            Priority::Interactive | Priority::Control => INTERACTIVE_MAX_PERMILLE,
            Priority::Background => BACKGROUND_MAX_PERMILLE,
        }
    }
}

/// The weight budget as last known: `used` of `limit` in the one-minute window starting at
/// `window_start_ms` (server time, ms since the epoch, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightStatus {
    pub used: u32,
    pub limit: u32,
    pub window_start_ms: i64,
}

/// A reservation of `weight` made in the window starting at `window_start_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ticket {
    weight: u32,
    window_start_ms: i64,
}

/// What the gate says about a request that wants to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Admission {
    /// Send it; hand the ticket back to [`WeightGate::finish`] when it is over.
    Send(Ticket),
    /// Ask again at this server time (the next window, plus a guard).
    HoldUntil(i64),
    /// Do not send it: a 429 back-off or a 418 ban is running.
    Refuse(ExchangeError),
}

/// The weight bookkeeping shared by every request of one client (see the module docs).
#[derive(Debug)]
pub(super) struct WeightGate {
    limit: u32,
    window_start_ms: i64,
    /// Weight spent in the current window, as reported by the exchange or counted locally.
    used: u32,
    /// Weight of requests admitted but not finished.
    in_flight: u32,
    /// Server time until which a 429 asks us to send nothing (0: none).
    rate_limited_until_ms: i64,
    /// Server time until which the IP is banned (0: none).
    banned_until_ms: i64,
    /// Weight kept for the beats of one window: control and background requests never
    /// take it.
    beat_reserve: u32,
    /// 429 answers (weight, not `-1015`) and 418 bans seen since start, for `/metrics`.
    limits_seen: LimitsSeen,
}

/// How many 429 (request weight) and 418 (IP ban) answers a client has seen since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitsSeen {
    pub rate_limited: u64,
    pub banned: u64,
}

fn window_start(now_ms: i64) -> i64 {
    now_ms.div_euclid(WINDOW_MS) * WINDOW_MS
}

impl WeightGate {
    /// A gate with the default limit and nothing spent.
    pub(super) fn new() -> WeightGate {
        WeightGate {
            limit: DEFAULT_WEIGHT_LIMIT,
            window_start_ms: 0,
            used: 0,
            in_flight: 0,
            rate_limited_until_ms: 0,
            banned_until_ms: 0,
            beat_reserve: 0,
            limits_seen: LimitsSeen::default(),
        }
    }

    /// Keeps `weight` of every window for the beats (the weight of the requests the beats
    /// of one window make, see [`WeightGate::admit`]).
    pub(super) fn set_beat_reserve(&mut self, weight: u32) {
        self.beat_reserve = weight;
    }

    /// The weight below which control and background work must stay: 95 % of the limit
    /// less the beats' reserve.
    fn unreserved_cap(&self) -> u64 {
        (u64::from(self.limit) * INTERACTIVE_MAX_PERMILLE / 1000)
            .saturating_sub(u64::from(self.beat_reserve))
    }

    /// How long, ms, until the next window (plus the guard) from `now_ms`.
    fn until_next_window(&self, now_ms: i64) -> u64 {
        u64::try_from(self.window_start_ms + WINDOW_MS + WINDOW_GUARD_MS - now_ms).unwrap_or(0)
    }

    /// Counts `weight` as spent now for control work that runs at [`Priority::Interactive`]
    /// afterwards (a manual beat), if it fits the control share at `now_ms` (the rule of
    /// [`Priority::Control`] in [`WeightGate::admit`]). The requests' reported weight later
    /// replaces the count (`used` is the maximum of both), so nothing is counted twice.
    ///
    /// Errors with [`ExchangeError::WeightReserved`] (or the running 429/418) otherwise.
    pub(super) fn prepay_control(&mut self, now_ms: i64, weight: u32) -> Result<(), ExchangeError> {
        match self.admit(now_ms, weight, Priority::Control) {
            Admission::Send(ticket) => {
                self.in_flight = self.in_flight.saturating_sub(ticket.weight);
                self.used = self.used.saturating_add(ticket.weight);
                Ok(())
            }
            Admission::Refuse(e) => Err(e),
            Admission::HoldUntil(_) => Err(ExchangeError::WeightReserved {
                retry_after_ms: self.until_next_window(now_ms),
            }),
        }
    }

    /// Adopts the exchange's one-minute request-weight limit (ignored when 0).
    pub(super) fn set_limit(&mut self, limit: u32) {
        if limit > 0 {
            self.limit = limit;
        }
    }

    /// Starts a new window when `now_ms` has left the current one. A clock that steps back
    /// does not return to an older window.
    fn roll(&mut self, now_ms: i64) {
        let start = window_start(now_ms);
        if start > self.window_start_ms {
            self.window_start_ms = start;
            self.used = 0;
        }
    }

    /// Decides whether a request of `weight` at `priority` may be sent at server time
    /// `now_ms`, and if so reserves its weight.
    pub(super) fn admit(&mut self, now_ms: i64, weight: u32, priority: Priority) -> Admission {
        self.roll(now_ms);
        if now_ms < self.banned_until_ms {
            return Admission::Refuse(ExchangeError::Banned {
                until_ms: self.banned_until_ms,
            });
        }
        if now_ms < self.rate_limited_until_ms {
            return Admission::Refuse(ExchangeError::RateLimited {
                retry_after_ms: u64::try_from(self.rate_limited_until_ms - now_ms).unwrap_or(0),
            });
        }
        let committed = u64::from(self.used) + u64::from(self.in_flight);
        let wanted = committed + u64::from(weight);
        let cap = u64::from(self.limit) * priority.max_permille() / 1000;
        if priority == Priority::Control {
            // Never queued: a control request waiting for the next window would be sent
            // in it together with that window's beats.
            if wanted > self.unreserved_cap() {
                return Admission::Refuse(ExchangeError::WeightReserved {
                    retry_after_ms: self.until_next_window(now_ms),
                });
            }
        } else if priority == Priority::Background
            && committed > 0
            && wanted > self.unreserved_cap()
        {
            return Admission::HoldUntil(self.window_start_ms + WINDOW_MS + WINDOW_GUARD_MS);
        }
        // A request alone in its window always goes, even if it is heavier than the cap:
        // holding it would hold it forever.
        if committed == 0 || wanted <= cap {
            self.in_flight = self.in_flight.saturating_add(weight);
            Admission::Send(Ticket {
                weight,
                window_start_ms: self.window_start_ms,
            })
        } else {
            Admission::HoldUntil(self.window_start_ms + WINDOW_MS + WINDOW_GUARD_MS)
        }
    }

    /// Ends a reservation at server time `now_ms`. `reported` is the response's
    /// `X-MBX-USED-WEIGHT-1M`: adopted when the request was sent in the current window;
    /// otherwise (no response, or a response from an older window) the request's own
    /// weight is counted in the current window, which errs on the safe side.
    pub(super) fn finish(&mut self, ticket: Ticket, now_ms: i64, reported: Option<u32>) {
        self.in_flight = self.in_flight.saturating_sub(ticket.weight);
        self.roll(now_ms);
        match reported {
            Some(used) if ticket.window_start_ms == self.window_start_ms => {
                self.used = self.used.max(used);
            }
            _ => self.used = self.used.saturating_add(ticket.weight),
        }
    }

    /// Records a 429 at `now_ms`: nothing is sent for `retry_after_ms` (default 60 s).
    /// Returns the back-off in ms.
    pub(super) fn rate_limited(&mut self, now_ms: i64, retry_after_ms: Option<u64>) -> u64 {
        let wait = retry_after_ms
            .and_then(|ms| i64::try_from(ms).ok())
            .unwrap_or(DEFAULT_RETRY_AFTER_MS);
        self.limits_seen.rate_limited += 1;
        self.rate_limited_until_ms = self.rate_limited_until_ms.max(now_ms.saturating_add(wait));
        u64::try_from(wait).unwrap_or(0)
    }

    /// Records a 418 at `now_ms`: banned for `retry_after_ms` if given, else until
    /// `until_ms` (from the message), else for 2 minutes. Returns the end of the ban.
    pub(super) fn banned(
        &mut self,
        now_ms: i64,
        retry_after_ms: Option<u64>,
        until_ms: Option<i64>,
    ) -> i64 {
        let until = retry_after_ms
            .and_then(|ms| i64::try_from(ms).ok())
            .map(|ms| now_ms.saturating_add(ms))
            .or(until_ms)
            .unwrap_or(now_ms + DEFAULT_BAN_MS);
        self.limits_seen.banned += 1;
        self.banned_until_ms = self.banned_until_ms.max(until);
        self.banned_until_ms
    }

    /// The 429s and 418s seen so far.
    pub(super) fn limits_seen(&self) -> LimitsSeen {
        self.limits_seen
    }

    /// The budget at server time `now_ms` (a window that has ended reads as empty).
    pub(super) fn status(&self, now_ms: i64) -> WeightStatus {
        let start = window_start(now_ms);
        if start > self.window_start_ms {
            WeightStatus {
                used: 0,
                limit: self.limit,
                window_start_ms: start,
            }
        } else {
            WeightStatus {
                used: self.used,
                limit: self.limit,
                window_start_ms: self.window_start_ms,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-21 12:00:00 UTC, a window boundary.
    const NOON: i64 = 1_795_262_400_000;

    fn sent(admission: Admission) -> Ticket {
        match admission {
            Admission::Send(ticket) => ticket,
            other => panic!("expected Send, got {other:?}"),
        }
    }

    /// A gate whose current window at `now` has `used` weight reported by the exchange.
    fn gate_with(limit: u32, now: i64, used: u32) -> WeightGate {
        let mut gate = WeightGate::new();
        gate.set_limit(limit);
        let ticket = sent(gate.admit(now, 1, Priority::Interactive));
        gate.finish(ticket, now, Some(used));
        gate
    }

    #[test]
    fn thresholds_per_priority() {
        // (limit, used, weight, priority, sent?)
        let cases = [
            (6000, 5698, 2, Priority::Interactive, true), // 5700 = 95 %
            (6000, 5699, 2, Priority::Interactive, false),
            (6000, 3598, 2, Priority::Background, true), // 3600 = 60 %
            (6000, 3599, 2, Priority::Background, false),
            (6000, 3599, 2, Priority::Interactive, true),
            (1200, 1139, 1, Priority::Interactive, true), // 1140 = 95 % of 1200
            (1200, 1140, 1, Priority::Interactive, false),
            (1200, 720, 1, Priority::Background, false),
        ];
        for (limit, used, weight, priority, want_sent) in cases {
            let mut gate = gate_with(limit, NOON + 10, used);
            let admission = gate.admit(NOON + 20, weight, priority);
            let next_window = NOON + WINDOW_MS + WINDOW_GUARD_MS;
            match admission {
                Admission::Send(_) => assert!(want_sent, "{limit} {used} {priority:?}"),
                Admission::HoldUntil(t) => {
                    assert!(!want_sent, "{limit} {used} {priority:?}");
                    assert_eq!(t, next_window);
                }
                Admission::Refuse(e) => panic!("refused: {e}"),
            }
        }
    }

    #[test]
    fn in_flight_weight_counts_until_finished() {
        let mut gate = WeightGate::new();
        gate.set_limit(100); // interactive cap 95
        let tickets: Vec<_> = (0..4)
            .map(|_| sent(gate.admit(NOON, 20, Priority::Interactive)))
            .collect();
        assert_eq!(
            gate.admit(NOON, 20, Priority::Interactive),
            Admission::HoldUntil(NOON + WINDOW_MS + WINDOW_GUARD_MS)
        );
        // Nothing is reported as used while the requests are in flight.
        assert_eq!(gate.status(NOON).used, 0);
        for t in tickets {
            gate.finish(t, NOON + 5, None);
        }
        assert_eq!(gate.status(NOON + 5).used, 80);
        assert!(matches!(
            gate.admit(NOON + 6, 15, Priority::Interactive),
            Admission::Send(_)
        ));
    }

    #[test]
    fn window_resets_on_the_minute_boundary() {
        let mut gate = gate_with(6000, NOON + 59_000, 5999);
        assert!(matches!(
            gate.admit(NOON + 59_999, 1, Priority::Interactive),
            Admission::HoldUntil(_)
        ));
        let status = gate.status(NOON + WINDOW_MS);
        assert_eq!(
            status,
            WeightStatus {
                used: 0,
                limit: 6000,
                window_start_ms: NOON + WINDOW_MS
            }
        );
        let ticket = sent(gate.admit(NOON + WINDOW_MS, 20, Priority::Background));
        gate.finish(ticket, NOON + WINDOW_MS + 100, Some(25));
        assert_eq!(gate.status(NOON + WINDOW_MS + 100).used, 25);
    }

    #[test]
    fn reported_weight_is_max_with_local_knowledge_in_the_same_window() {
        let mut gate = gate_with(6000, NOON, 300);
        let ticket = sent(gate.admit(NOON + 1, 2, Priority::Interactive));
        gate.finish(ticket, NOON + 2, Some(120)); // stale, lower report
        assert_eq!(gate.status(NOON + 2).used, 300);
        let ticket = sent(gate.admit(NOON + 3, 2, Priority::Interactive));
        gate.finish(ticket, NOON + 4, Some(450));
        assert_eq!(gate.status(NOON + 4).used, 450);
    }

    #[test]
    fn a_report_from_the_previous_window_is_not_adopted() {
        let mut gate = WeightGate::new();
        let ticket = sent(gate.admit(NOON - 10, 20, Priority::Interactive));
        gate.finish(ticket, NOON + 10, Some(5000));
        assert_eq!(gate.status(NOON + 10).used, 20);
    }

    #[test]
    fn a_request_heavier_than_the_cap_goes_when_alone() {
        let mut gate = WeightGate::new();
        gate.set_limit(10);
        assert!(matches!(
            gate.admit(NOON, 20, Priority::Background),
            Admission::Send(_)
        ));
        assert!(matches!(
            gate.admit(NOON, 1, Priority::Interactive),
            Admission::HoldUntil(_)
        ));
    }

    #[test]
    fn a_429_refuses_requests_until_retry_after() {
        let mut gate = WeightGate::new();
        assert_eq!(gate.rate_limited(NOON, Some(30_000)), 30_000);
        assert_eq!(
            gate.admit(NOON + 1, 1, Priority::Interactive),
            Admission::Refuse(ExchangeError::RateLimited {
                retry_after_ms: 29_999
            })
        );
        assert!(matches!(
            gate.admit(NOON + 30_000, 1, Priority::Interactive),
            Admission::Send(_)
        ));
        // No Retry-After: 60 s.
        assert_eq!(gate.rate_limited(NOON + 40_000, None), 60_000);
        assert!(matches!(
            gate.admit(NOON + 99_999, 1, Priority::Interactive),
            Admission::Refuse(ExchangeError::RateLimited { retry_after_ms: 1 })
        ));
    }

    #[test]
    fn a_418_bans_until_its_end_and_wins_over_a_429() {
        let cases = [
            (Some(120_000), None, NOON + 120_000),
            (None, Some(NOON + 3_600_000), NOON + 3_600_000),
            (Some(1_000), Some(NOON + 3_600_000), NOON + 1_000),
            (None, None, NOON + DEFAULT_BAN_MS),
        ];
        for (retry_after, until, want) in cases {
            let mut gate = WeightGate::new();
            assert_eq!(gate.banned(NOON, retry_after, until), want);
            gate.rate_limited(NOON, Some(1));
            assert_eq!(
                gate.admit(want - 1, 1, Priority::Interactive),
                Admission::Refuse(ExchangeError::Banned { until_ms: want })
            );
            assert!(matches!(
                gate.admit(want, 1, Priority::Interactive),
                Admission::Send(_)
            ));
        }
    }

    #[test]
    fn control_requests_beyond_the_unreserved_share_are_refused_at_once() {
        // 95 % of 1000 = 950; 300 kept for the beats: control may go up to 650.
        let mut gate = gate_with(1000, NOON + 10, 640);
        gate.set_beat_reserve(300);
        let ticket = sent(gate.admit(NOON + 20, 10, Priority::Control));
        gate.finish(ticket, NOON + 30, Some(650));
        let retry_after_ms = u64::try_from(WINDOW_MS + WINDOW_GUARD_MS - 40).unwrap();
        assert_eq!(
            gate.admit(NOON + 40, 1, Priority::Control),
            Admission::Refuse(ExchangeError::WeightReserved { retry_after_ms })
        );
        // The beats still have their 300.
        assert!(matches!(
            gate.admit(NOON + 40, 300, Priority::Interactive),
            Admission::Send(_)
        ));
        // In the next window control goes again.
        assert!(matches!(
            gate.admit(NOON + WINDOW_MS, 1, Priority::Control),
            Admission::Send(_)
        ));
    }

    #[test]
    fn control_weight_in_flight_counts_and_nothing_is_ever_held() {
        let mut gate = WeightGate::new();
        gate.set_limit(100); // 95 interactive
        gate.set_beat_reserve(45); // control up to 50
        let _a = sent(gate.admit(NOON, 30, Priority::Control));
        assert!(matches!(
            gate.admit(NOON, 30, Priority::Control),
            Admission::Refuse(ExchangeError::WeightReserved { .. })
        ));
        let _b = sent(gate.admit(NOON, 20, Priority::Control));
    }

    #[test]
    fn background_work_stays_below_the_beats_reserve_too() {
        // 60 % of 1000 = 600, but 950 - 500 = 450 is lower.
        let mut gate = gate_with(1000, NOON + 10, 440);
        gate.set_beat_reserve(500);
        let ticket = sent(gate.admit(NOON + 20, 10, Priority::Background));
        gate.finish(ticket, NOON + 30, Some(450));
        assert_eq!(
            gate.admit(NOON + 40, 1, Priority::Background),
            Admission::HoldUntil(NOON + WINDOW_MS + WINDOW_GUARD_MS)
        );
    }

    #[test]
    fn a_prepaid_manual_beat_counts_once() {
        let mut gate = gate_with(1000, NOON + 10, 600);
        gate.set_beat_reserve(300);
        assert_eq!(gate.prepay_control(NOON + 20, 40), Ok(()));
        assert_eq!(gate.status(NOON + 20).used, 640);
        // The manual beat's own requests report what the exchange counted: no double count.
        let ticket = sent(gate.admit(NOON + 30, 4, Priority::Interactive));
        gate.finish(ticket, NOON + 40, Some(644));
        assert_eq!(gate.status(NOON + 40).used, 644);
        // 644 + 10 + 300 > 950: no room for another manual beat in this window.
        assert!(matches!(
            gate.prepay_control(NOON + 50, 10),
            Err(ExchangeError::WeightReserved { .. })
        ));
        assert_eq!(gate.status(NOON + 50).used, 644);
    }

    #[test]
    fn a_clock_stepping_back_keeps_the_current_window() {
        let mut gate = gate_with(6000, NOON + 5, 100);
        let ticket = sent(gate.admit(NOON - 5, 2, Priority::Interactive));
        gate.finish(ticket, NOON - 4, None);
        assert_eq!(gate.status(NOON - 4).used, 102);
    }
}
