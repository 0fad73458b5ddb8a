//! Retention: saved decisions older than `--retention-days` are deleted, with their review
//! history (and their webhook events, deliveries and attempt log), by a background task that
//! `serve` starts. Finished webhook events (every delivery delivered or given up) older than
//! the same window are deleted too, whatever decision they belong to; a pending delivery is
//! never purged.
//!
//! The purge never holds SQLite's write lock for long: each transaction deletes at most
//! [`PURGE_BATCH`] decisions (oldest first, through an index), and the task pauses
//! [`PAUSE_BETWEEN_BATCHES`] before the next one, so requests waiting for the lock get it
//! in between. A sweep runs at start and then every [`SWEEP_EVERY`]. With several replicas
//! on one PostgreSQL database, a sweep runs under an advisory lock: one replica at a time.

use std::time::Duration;

use time::OffsetDateTime;

use facematch_store::{Store, StoreError};

use crate::error::ApiError;
use crate::state::AppState;

/// Decisions deleted per transaction.
pub const PURGE_BATCH: usize = 500;

/// Pause between two batches of one sweep: lets waiting requests take the write lock.
pub const PAUSE_BETWEEN_BATCHES: Duration = Duration::from_millis(50);

/// How often the retention sweep runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5 * 60);

/// The creation time before which decisions are purged at `now`, with `days` of
/// retention; `None` when nothing is purged (`days` is 0, or the cutoff falls before any
/// representable time).
pub fn cutoff(now: OffsetDateTime, days: u32) -> Option<OffsetDateTime> {
    if days == 0 {
        return None;
    }
    now.checked_sub(time::Duration::days(i64::from(days)))
}

/// The advisory lock a sweep holds on PostgreSQL, so that one replica at a time sweeps (the
/// others find it taken and skip this round). Any fixed number unlikely to be another program's.
pub const RETENTION_LOCK: i64 = 0x666d_7265_7465;

/// One sweep at `now`: deletes, batch by batch, every decision created more than
/// `--retention-days` before `now`, then every finished webhook event older than that;
/// returns how many decisions. Does nothing when retention is 0, or (PostgreSQL) while another
/// replica is sweeping.
pub async fn sweep(state: &AppState, now: OffsetDateTime) -> Result<usize, ApiError> {
    let Some(cutoff) = cutoff(now, state.config().retention_days) else {
        return Ok(0);
    };
    state
        .with_store(move |store| sweep_exclusively(store, cutoff))
        .await
}

/// The sweep on a blocking thread, under [`RETENTION_LOCK`].
fn sweep_exclusively(store: &Store, cutoff: OffsetDateTime) -> Result<usize, StoreError> {
    let mut total = 0;
    let ran = store.exclusive(RETENTION_LOCK, || {
        total = in_batches(|| store.purge_decisions_older_than(cutoff, PURGE_BATCH))?;
        let events = in_batches(|| store.purge_webhook_events_older_than(cutoff, PURGE_BATCH))?;
        if events > 0 {
            tracing::info!(events, "retention: old finished webhook events deleted");
        }
        Ok(())
    })?;
    if !ran {
        tracing::debug!("retention: another replica is sweeping; skipped");
    }
    Ok(total)
}

/// Runs `batch` until it deletes fewer than [`PURGE_BATCH`], pausing between batches;
/// returns the total.
fn in_batches(mut batch: impl FnMut() -> Result<usize, StoreError>) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let n = batch()?;
        total += n;
        if n < PURGE_BATCH {
            return Ok(total);
        }
        std::thread::sleep(PAUSE_BETWEEN_BATCHES);
    }
}

/// Starts the sweeping task (at once, then every [`SWEEP_EVERY`]) when retention is on;
/// it runs until the runtime stops. A failed sweep is logged and retried next time.
pub fn spawn(state: AppState) -> Option<tokio::task::JoinHandle<()>> {
    let days = state.config().retention_days;
    if days == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match sweep(&state, OffsetDateTime::now_utc()).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, days, "retention: old decisions deleted"),
                Err(e) => tracing::warn!(error = %e, "retention sweep failed; retrying later"),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_days_keeps_everything_and_a_huge_window_does_not_overflow() {
        let now = OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("valid time");
        assert_eq!(cutoff(now, 0), None);
        assert_eq!(cutoff(now, 90), Some(now - time::Duration::days(90)));
        assert_eq!(cutoff(now, u32::MAX), None);
    }
}
