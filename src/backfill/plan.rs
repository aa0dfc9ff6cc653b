//! The arithmetic of backfill and gap repair, free of I/O: which open times a job wants,
//! how its pages are cut, which candles a stored series is missing, when a gap is asked for
//! again, and what retention deletes. Every function takes explicit times (ms since the
//! epoch, UTC) so that the unit tests below pin each rule with exact values.

use std::time::Duration;

use crate::domain::{DAY_MS, Interval};

use crate::domain::{GapStatus, Span};

/// Largest `limit` of `GET /api/v3/klines` ("Kline/Candlestick data" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>):
/// candles per page.
pub const PAGE_CANDLES: i64 = 1000;

/// The first open time at or after `t_ms` on `interval`'s grid.
pub fn align_up(interval: Interval, t_ms: i64) -> i64 {
    let open = interval.open_time_containing(t_ms);
    if open == t_ms {
        open
    } else {
        interval.add_candles(open, 1)
    }
}

/// Open times before this are deleted by a retention of `days` at time `now_ms`.
pub fn retention_cutoff(now_ms: i64, days: u32) -> i64 {
    now_ms - i64::from(days) * DAY_MS
}

/// The oldest open time on `interval`'s grid that a retention of `retention_days` (if
/// any) keeps at `now_ms`; `i64::MIN` when everything is kept.
pub fn kept_from(interval: Interval, now_ms: i64, retention_days: Option<u32>) -> i64 {
    retention_days.map_or(i64::MIN, |d| {
        align_up(interval, retention_cutoff(now_ms, d))
    })
}

/// The oldest open time a backfill started at server time `now_ms` wants: the first candle
/// that opens within the last `days` days, and never one that retention (`retention_days`,
/// if any) would delete.
pub fn job_from(interval: Interval, now_ms: i64, days: u32, retention_days: Option<u32>) -> i64 {
    let wanted = align_up(interval, now_ms - i64::from(days) * DAY_MS);
    wanted.max(kept_from(interval, now_ms, retention_days))
}

/// How many candles a job's pages are planned over at once (the store is asked which of
/// them are already there): 32 pages. The fetch pipeline drains at the end of each window
/// (its last page is written before the next window's first page is asked for), so fewer
/// windows keep the writer busier: a 20-day 1m backfill (29 pages) is one window.
pub const PLAN_WINDOW_CANDLES: i64 = 32 * PAGE_CANDLES;

/// The end of the window a job plans next: `PLAN_WINDOW_CANDLES` candles from
/// `next_start`, not beyond `to`.
pub fn plan_window_end(interval: Interval, next_start: i64, to: i64) -> i64 {
    to.min(interval.add_candles(next_start, PLAN_WINDOW_CANDLES - 1))
}

/// The pages to fetch for the window `next_start..=window_end`, given the open times
/// already stored in it (`stored`, ascending) and the known gaps to leave to their own
/// schedule (`skip`). Each page starts and ends at a wanted candle and spans at most
/// [`PAGE_CANDLES`]; stored candles between wanted ones inside a page are fetched again
/// (an upsert of the same values), runs of stored or skipped candles between pages are
/// not fetched. Nothing stored: consecutive pages of 1000 candles.
pub fn plan_pages(
    interval: Interval,
    next_start: i64,
    window_end: i64,
    stored: &[i64],
    skip: &[Span],
) -> Vec<Span> {
    let mut pages = Vec::new();
    let mut stored = stored.iter().copied().peekable();
    let mut is_stored = |t: i64| {
        while stored.next_if(|&s| s < t).is_some() {}
        stored.next_if_eq(&t).is_some() || skip.iter().any(|g| g.start <= t && t <= g.end)
    };
    let mut t = next_start;
    let mut page: Option<Span> = None;
    while t <= window_end {
        let missing = !is_stored(t);
        match page.as_mut() {
            Some(p) if interval.candle_count(p.start, t) > PAGE_CANDLES => {
                pages.extend(page.take());
                if missing {
                    page = Some(Span::new(t, t));
                }
            }
            Some(p) if missing => p.end = t,
            Some(_) => {}
            None if missing => page = Some(Span::new(t, t)),
            None => {}
        }
        t = interval.add_candles(t, 1);
    }
    pages.extend(page);
    pages
}

/// The parts of `range` whose open times are not in `returned` (ascending): what the
/// exchange did not send when asked for `range`.
pub fn uncovered(interval: Interval, range: Span, returned: &[i64]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut cursor = range.start;
    for &t in returned
        .iter()
        .filter(|&&t| t >= range.start && t <= range.end)
    {
        if t > cursor {
            out.push(Span::new(cursor, interval.add_candles(t, -1)));
        }
        cursor = cursor.max(interval.add_candles(t, 1));
    }
    if cursor <= range.end {
        out.push(Span::new(cursor, range.end));
    }
    out
}

/// `spans` without the open times covered by `known` (both sorted or not; the result is
/// sorted and its spans do not touch each other).
pub fn subtract(interval: Interval, spans: &[Span], known: &[Span]) -> Vec<Span> {
    let mut known: Vec<Span> = known.to_vec();
    known.sort_by_key(|k| k.start);
    let mut out = Vec::new();
    let mut spans: Vec<Span> = spans.to_vec();
    spans.sort_by_key(|s| s.start);
    for s in spans {
        let mut cursor = s.start;
        for k in known
            .iter()
            .filter(|k| k.end >= s.start && k.start <= s.end)
        {
            if k.start > cursor {
                out.push(Span::new(cursor, interval.add_candles(k.start, -1)));
            }
            cursor = cursor.max(interval.add_candles(k.end, 1));
        }
        if cursor <= s.end {
            out.push(Span::new(cursor, s.end));
        }
    }
    out
}

/// Groups missing spans (sorted) into fetch windows of at most [`PAGE_CANDLES`] candles:
/// spans close enough to share one request share it, a long span is cut into pages.
/// Each window starts and ends on a missing candle.
pub fn fetch_windows(interval: Interval, missing: &[Span]) -> Vec<Span> {
    let max_end = |start: i64| interval.add_candles(start, PAGE_CANDLES - 1);
    let mut out: Vec<Span> = Vec::new();
    for s in missing {
        let mut start = s.start;
        if let Some(last) = out.last_mut()
            && start <= max_end(last.start)
        {
            last.end = s.end.min(max_end(last.start));
            start = interval.add_candles(last.end, 1);
        }
        while start <= s.end {
            let end = s.end.min(max_end(start));
            out.push(Span::new(start, end));
            start = interval.add_candles(end, 1);
        }
    }
    out
}

/// After a gap's `attempts`-th unsuccessful attempt at `now_ms`: its state and when it is
/// asked for again. Attempt `n` (from 1) is followed by `retry_delays[n - 1]`; once the
/// delays are used up the gap is permanent and re-checked every `permanent_recheck`.
pub fn gap_schedule(
    attempts: u32,
    now_ms: i64,
    retry_delays: &[Duration],
    permanent_recheck: Duration,
) -> (GapStatus, i64) {
    let ms = |d: &Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let index = usize::try_from(attempts.max(1) - 1).unwrap_or(usize::MAX);
    match retry_delays.get(index) {
        Some(d) => (GapStatus::Open, now_ms.saturating_add(ms(d))),
        None => (
            GapStatus::Permanent,
            now_ms.saturating_add(ms(&permanent_recheck)),
        ),
    }
}

/// How far a job over `from..=to` is when its next page starts at `next_start`, in percent
/// of the candles of the range (0.0 ..= 100.0).
pub fn percent(interval: Interval, from: i64, to: i64, next_start: i64) -> f64 {
    if to < from || next_start > to {
        return 100.0;
    }
    let total = interval.candle_count(from, to) as f64;
    let done = (interval.candle_count(from, next_start) - 1).max(0) as f64;
    (done / total * 100.0).clamp(0.0, 100.0)
}

/// Seconds left for a job that advanced from `run_start` to `next_start` (open times) in
/// `elapsed` and ends after `to`; `None` before it has advanced.
pub fn eta_secs(
    interval: Interval,
    run_start: i64,
    next_start: i64,
    to: i64,
    elapsed: Duration,
) -> Option<u64> {
    let covered = next_start - run_start;
    if covered <= 0 || elapsed.is_zero() {
        return None;
    }
    let left = (interval.add_candles(to, 1) - next_start).max(0);
    let secs = elapsed.as_secs_f64() * left as f64 / covered as f64;
    Some(secs.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MINUTE_MS;

    // 2026-11-21 12:00:00 UTC.
    const NOON: i64 = 1_795_262_400_000;
    const HOUR: i64 = 60 * MINUTE_MS;

    fn m(n: i64) -> i64 {
        NOON + n * MINUTE_MS
    }

    #[test]
    fn job_range_starts_inside_the_window_and_respects_retention() {
        // 12:00:30 with 1 day: the first 1m candle opening after 12:00:30 yesterday.
        let now = NOON + 30_000;
        assert_eq!(
            job_from(Interval::M1, now, 1, None),
            NOON - DAY_MS + MINUTE_MS
        );
        // On the grid: exactly one day back.
        assert_eq!(job_from(Interval::H1, NOON, 2, None), NOON - 2 * DAY_MS);
        // Retention of 1 day wins over 30 days of backfill.
        assert_eq!(job_from(Interval::M1, NOON, 30, Some(1)), NOON - DAY_MS);
        // A longer retention does not shorten the backfill.
        assert_eq!(job_from(Interval::M1, NOON, 1, Some(30)), NOON - DAY_MS);
        // 1w candles open on Mondays: 2026-11-16 00:00 UTC is the first after 11-14 12:00.
        let monday = 1_795_219_200_000 - 5 * DAY_MS;
        assert_eq!(job_from(Interval::W1, NOON, 7, None), monday);
    }

    #[test]
    fn retention_cutoff_is_days_before_now() {
        assert_eq!(retention_cutoff(NOON, 30), NOON - 30 * DAY_MS);
        assert_eq!(retention_cutoff(NOON, 1), NOON - DAY_MS);
    }

    #[test]
    fn pages_cover_an_empty_window_in_thousands() {
        let pages = plan_pages(Interval::M1, m(0), m(2499), &[], &[]);
        assert_eq!(
            pages,
            vec![
                Span::new(m(0), m(999)),
                Span::new(m(1000), m(1999)),
                Span::new(m(2000), m(2499))
            ]
        );
        // A single candle.
        assert_eq!(
            plan_pages(Interval::H1, NOON, NOON, &[], &[]),
            vec![Span::new(NOON, NOON)]
        );
        // Nothing to do when the window is empty.
        assert!(plan_pages(Interval::M1, m(5), m(4), &[], &[]).is_empty());
    }

    #[test]
    fn pages_skip_stored_runs_and_refetch_nothing_complete() {
        // Stored: 0..=9 and 20..=29 of 0..=39; missing 10..=19 and 30..=39. Both fit one
        // page (the stored 20..=29 in between are fetched again).
        let stored: Vec<i64> = (0..10).chain(20..30).map(m).collect();
        assert_eq!(
            plan_pages(Interval::M1, m(0), m(39), &stored, &[]),
            vec![Span::new(m(10), m(39))]
        );
        // Everything stored: no page.
        let all: Vec<i64> = (0..40).map(m).collect();
        assert!(plan_pages(Interval::M1, m(0), m(39), &all, &[]).is_empty());
        // Beats already stored the tail: the page stops before it.
        let tail: Vec<i64> = (1500..1600).map(m).collect();
        assert_eq!(
            plan_pages(Interval::M1, m(0), m(1599), &tail, &[]),
            vec![Span::new(m(0), m(999)), Span::new(m(1000), m(1499))]
        );
        // Pages start at a missing candle and hold 1000 candles at most.
        let mut sparse: Vec<i64> = (0..1000).map(m).collect();
        sparse.retain(|&t| t != m(3) && t != m(999));
        let pages = plan_pages(Interval::M1, m(0), m(1200), &sparse, &[]);
        assert_eq!(
            pages,
            vec![Span::new(m(3), m(1002)), Span::new(m(1003), m(1200))]
        );
        for p in &pages {
            assert!(p.candles(Interval::M1) <= PAGE_CANDLES);
        }
        // A known gap at the start and one at the end are left to their own schedule.
        let skip = [Span::new(m(0), m(9)), Span::new(m(30), m(39))];
        assert_eq!(
            plan_pages(Interval::M1, m(0), m(39), &[], &skip),
            vec![Span::new(m(10), m(29))]
        );
    }

    #[test]
    fn plan_window_is_32_pages_at_most() {
        assert_eq!(plan_window_end(Interval::M1, m(0), m(100_000)), m(31_999));
        assert_eq!(plan_window_end(Interval::M1, m(0), m(10)), m(10));
    }

    #[test]
    fn uncovered_parts_of_a_range() {
        let range = Span::new(m(0), m(9));
        assert_eq!(uncovered(Interval::M1, range, &[]), vec![range]);
        let all: Vec<i64> = (0..10).map(m).collect();
        assert!(uncovered(Interval::M1, range, &all).is_empty());
        // Halted 3..=5, and the last two never came.
        let got: Vec<i64> = [0, 1, 2, 6, 7].into_iter().map(m).collect();
        assert_eq!(
            uncovered(Interval::M1, range, &got),
            vec![Span::new(m(3), m(5)), Span::new(m(8), m(9))]
        );
        // Nothing before the first returned candle (not listed yet).
        let late: Vec<i64> = (4..10).map(m).collect();
        assert_eq!(
            uncovered(Interval::M1, range, &late),
            vec![Span::new(m(0), m(3))]
        );
    }

    #[test]
    fn known_gaps_are_subtracted() {
        let spans = [Span::new(m(0), m(9)), Span::new(m(20), m(29))];
        let known = [Span::new(m(3), m(4)), Span::new(m(8), m(22))];
        assert_eq!(
            subtract(Interval::M1, &spans, &known),
            vec![
                Span::new(m(0), m(2)),
                Span::new(m(5), m(7)),
                Span::new(m(23), m(29))
            ]
        );
        assert_eq!(subtract(Interval::M1, &spans, &[]), spans.to_vec());
        assert!(subtract(Interval::M1, &spans, &[Span::new(m(-5), m(40))]).is_empty());
    }

    #[test]
    fn fetch_windows_share_requests_and_cut_long_spans() {
        let missing = [
            Span::new(m(0), m(1)),
            Span::new(m(10), m(10)),
            Span::new(m(990), m(1005)),
            Span::new(m(3000), m(5100)),
        ];
        assert_eq!(
            fetch_windows(Interval::M1, &missing),
            vec![
                Span::new(m(0), m(999)),
                Span::new(m(1000), m(1005)),
                Span::new(m(3000), m(3999)),
                Span::new(m(4000), m(4999)),
                Span::new(m(5000), m(5100)),
            ]
        );
        for w in fetch_windows(Interval::M1, &missing) {
            assert!(w.candles(Interval::M1) <= PAGE_CANDLES);
        }
        assert!(fetch_windows(Interval::M1, &[]).is_empty());
    }

    #[test]
    fn gaps_are_retried_a_bounded_number_of_times_then_permanent() {
        let delays = [Duration::from_secs(60), Duration::from_secs(600)];
        let day = Duration::from_secs(86_400);
        assert_eq!(
            gap_schedule(1, NOON, &delays, day),
            (GapStatus::Open, NOON + 60_000)
        );
        assert_eq!(
            gap_schedule(2, NOON, &delays, day),
            (GapStatus::Open, NOON + 600_000)
        );
        assert_eq!(
            gap_schedule(3, NOON, &delays, day),
            (GapStatus::Permanent, NOON + DAY_MS)
        );
        assert_eq!(
            gap_schedule(9, NOON, &delays, day),
            (GapStatus::Permanent, NOON + DAY_MS)
        );
        assert_eq!(
            gap_schedule(1, NOON, &[], day),
            (GapStatus::Permanent, NOON + DAY_MS)
        );
    }

    #[test]
    fn monthly_series_are_planned_by_the_calendar() {
        let mo = Interval::Mo1;
        // NOON is 2026-11-21: month(0) opens 2026-11-01, month(1) 2026-12-01.
        let month = |n: i64| mo.add_candles(NOON, n);
        assert_eq!(month(0), 1_793_491_200_000);
        assert_eq!(align_up(mo, NOON), month(1));
        assert_eq!(align_up(mo, month(1)), month(1));
        // 90 days back from 2026-11-21 is 2026-08-23: the first month after it, September.
        assert_eq!(job_from(mo, NOON, 90, None), month(-2));
        assert_eq!(Span::new(month(-12), month(0)).candles(mo), 13);
        assert_eq!(plan_window_end(mo, month(-12), month(0)), month(0));
        assert_eq!(
            plan_window_end(mo, month(0), i64::MAX),
            month(PLAN_WINDOW_CANDLES - 1)
        );
        // Stored and known months inside one page are fetched again with it.
        let stored = [month(-11)];
        let skip = [Span::new(month(-2), month(-1))];
        assert_eq!(
            plan_pages(mo, month(-12), month(0), &stored, &skip),
            vec![Span::new(month(-12), month(0))]
        );
        assert_eq!(
            plan_pages(mo, month(-12), month(-2), &[], &skip),
            vec![Span::new(month(-12), month(-3))]
        );
        assert_eq!(
            uncovered(mo, Span::new(month(-3), month(0)), &[month(-3), month(-1)]),
            vec![
                Span::new(month(-2), month(-2)),
                Span::new(month(0), month(0))
            ]
        );
        assert_eq!(
            subtract(
                mo,
                &[Span::new(month(-6), month(0))],
                &[Span::new(month(-4), month(-3))]
            ),
            vec![
                Span::new(month(-6), month(-5)),
                Span::new(month(-2), month(0))
            ]
        );
        assert_eq!(
            fetch_windows(mo, &[Span::new(month(-1200), month(0))]),
            vec![
                Span::new(month(-1200), month(-201)),
                Span::new(month(-200), month(0))
            ]
        );
        assert_eq!(percent(mo, month(-3), month(0), month(-1)), 50.0);
    }

    #[test]
    fn percent_and_eta() {
        let (from, to) = (NOON - 10 * HOUR, NOON - HOUR);
        assert_eq!(percent(Interval::H1, from, to, from), 0.0);
        assert_eq!(percent(Interval::H1, from, to, from + 5 * HOUR), 50.0);
        assert_eq!(percent(Interval::H1, from, to, to + HOUR), 100.0);
        // Half the range in 30 s: 30 s to go.
        assert_eq!(
            eta_secs(
                Interval::H1,
                from,
                from + 5 * HOUR,
                to,
                Duration::from_secs(30)
            ),
            Some(30)
        );
        assert_eq!(
            eta_secs(Interval::H1, from, from, to, Duration::from_secs(3)),
            None
        );
    }
}
