//! The reads behind the HTTP server's `/health` and `/metrics`: the newest beat that reached
//! the exchange, a write probe, the beats committed since a watermark and the orders
//! counted by status.

use rusqlite::params;

use super::{BeatTrigger, HeartbeatRow, Store, StoreError};

/// Where [`Store::heartbeats_after`] goes on from: the `(finished_at, beat_time)` of the
/// last row seen (beats never overlap, so rows commit in `finished_at` order).
pub type BeatWatermark = (i64, i64);

/// [`Store::beat_watermark`]'s query: two searches of the `heartbeats_finished` index
/// (schema 15).
const WATERMARK_SQL: &str =
    "SELECT coalesce(max(finished_at), 0), coalesce(max(beat_time), 0) FROM heartbeats
     WHERE finished_at = (SELECT max(finished_at) FROM heartbeats)";

/// [`Store::heartbeats_after`]'s condition: a range of the `heartbeats_finished` index.
const AFTER_CONDITION: &str =
    "(finished_at, beat_time) > (?1, ?2) ORDER BY finished_at, beat_time LIMIT ?3";

impl Store {
    /// The newest scheduled or start-up beat that reached the exchange (every symbol
    /// fetched, or at least one; a beat with nothing to follow counts too), if any.
    pub fn last_good_beat(&self) -> Result<Option<HeartbeatRow>, StoreError> {
        Ok(self
            .heartbeats_where(
                "trigger IN ('schedule', 'startup') AND (symbols_failed = 0 OR symbols_ok > 0)
                 ORDER BY beat_time DESC LIMIT 1",
                params![],
            )?
            .pop())
    }

    /// Checks that the database accepts a write: one `BEGIN IMMEDIATE` transaction that
    /// takes the write lock, checks the file is still the one opened, touches no row and
    /// commits.
    pub fn probe_write(&self) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("DELETE FROM heartbeats WHERE 0", [])?;
            Ok(())
        })
    }

    /// The newest watermark: the last committed beat's, or `(0, 0)` without any.
    pub fn beat_watermark(&self) -> Result<BeatWatermark, StoreError> {
        let conn = self.conn()?;
        Ok(conn.query_row(WATERMARK_SQL, [], |r| Ok((r.get(0)?, r.get(1)?)))?)
    }

    /// The beats committed after `after`, oldest first, at most `limit`.
    pub fn heartbeats_after(
        &self,
        after: BeatWatermark,
        limit: u32,
    ) -> Result<Vec<HeartbeatRow>, StoreError> {
        self.heartbeats_where(AFTER_CONDITION, params![after.0, after.1, limit])
    }

    /// Orders per status (`NEW`, `FILLED`, `pending` …), every market.
    pub fn order_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare_cached("SELECT status, count(*) FROM orders GROUP BY status")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Strategy runs in the database, by outcome (`ok`, `timeout`, …): the `/metrics`
    /// gauge `tradebeat_strategy_runs`.
    ///
    /// # Errors
    /// The database could not be read.
    pub fn strategy_run_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare_cached("SELECT outcome, count(*) FROM strategy_runs GROUP BY outcome")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn heartbeats_where(
        &self,
        condition: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<HeartbeatRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT beat_time, started_at, finished_at, symbols_ok, symbols_failed,
                    klines_written, skipped_before, trigger, error
             FROM heartbeats WHERE {condition}"
        ))?;
        let rows = stmt.query_map(params, |r| {
            Ok(HeartbeatRow {
                beat_time: r.get(0)?,
                started_at: r.get(1)?,
                finished_at: r.get(2)?,
                symbols_ok: r.get(3)?,
                symbols_failed: r.get(4)?,
                klines_written: r.get(5)?,
                skipped_before: r.get(6)?,
                trigger: match r.get::<_, String>(7)?.as_str() {
                    "manual" => BeatTrigger::Manual,
                    "startup" => BeatTrigger::Startup,
                    _ => BeatTrigger::Schedule,
                },
                error: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beats_after_a_watermark_are_read_through_the_index() {
        let (_dir, store) = super::super::temp_store();
        let conn = store.pool.get().unwrap();
        // Beat 3 finished before beat 2 (an overrun): the watermark follows finished_at.
        for (beat_time, finished_at) in [(60_000, 61_000), (120_000, 185_000), (180_000, 182_000)] {
            conn.execute(
                "INSERT INTO heartbeats (beat_time, started_at, finished_at, symbols_ok,
                                         symbols_failed, klines_written)
                 VALUES (?1, ?1, ?2, 1, 0, 1)",
                params![beat_time, finished_at],
            )
            .unwrap();
        }
        assert_eq!(store.beat_watermark().unwrap(), (185_000, 120_000));
        let after: Vec<i64> = store
            .heartbeats_after((61_000, 60_000), 10)
            .unwrap()
            .iter()
            .map(|b| b.beat_time)
            .collect();
        assert_eq!(after, vec![180_000, 120_000]);

        for sql in [
            WATERMARK_SQL.to_string(),
            format!("SELECT beat_time FROM heartbeats WHERE {AFTER_CONDITION}"),
        ] {
            let plan = super::super::query_plan(&store, &sql);
            assert!(
                plan.iter().all(|step| !step.starts_with("SCAN heartbeats")),
                "{sql}: {plan:?}"
            );
            assert!(
                plan.iter().any(|step| step.contains("heartbeats_finished")),
                "{sql}: {plan:?}"
            );
        }
    }
}
