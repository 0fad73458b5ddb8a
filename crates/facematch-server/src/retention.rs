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
//!
//! With `--review-images` on, each sweep also deletes the kept images past their expiry,
//! whatever `--retention-days` says, and it runs at least once per images' lifetime
//! ([`sweep_period`]). Every sweep also deletes the Business Console's expired sessions and
//! e-mailed tokens (so the task always runs).

use crate::config::{ReviewImages, ServerConfig};

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
    let cutoff = cutoff(now, state.config().retention_days);
    let images = state.config().review_images != ReviewImages::Off;
    let sessions = crate::console::session::limits(state);
    state
        .with_store(move |store| {
            let purged = store.purge_console_sessions(sessions, now)?;
            if purged > 0 {
                tracing::debug!(purged, "expired console sessions and tokens deleted");
            }
            if cutoff.is_none() && !images {
                return Ok(0);
            }
            sweep_exclusively(store, cutoff, images.then_some(now))
        })
        .await
}

/// The sweep on a blocking thread, under [`RETENTION_LOCK`]: decisions and events older
/// than `cutoff` (if any), review images expired at `images_at` (if on).
fn sweep_exclusively(
    store: &Store,
    cutoff: Option<OffsetDateTime>,
    images_at: Option<OffsetDateTime>,
) -> Result<usize, StoreError> {
    let mut total = 0;
    let ran = store.exclusive(RETENTION_LOCK, || {
        if let Some(cutoff) = cutoff {
            total = in_batches(|| store.purge_decisions_older_than(cutoff, PURGE_BATCH))?;
            let events = in_batches(|| store.purge_webhook_events_older_than(cutoff, PURGE_BATCH))?;
            if events > 0 {
                tracing::info!(events, "retention: old finished webhook events deleted");
            }
        }
        if let Some(now) = images_at {
            let images = store.purge_expired_review_images(now)?;
            if images > 0 {
                tracing::info!(images, "retention: expired review images deleted");
            }
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

/// How often the sweep runs: [`SWEEP_EVERY`], or the review images' lifetime when that is
/// shorter (so none outlives it by more than one lifetime).
pub fn sweep_period(config: &ServerConfig) -> Duration {
    if config.review_images == ReviewImages::Off {
        return SWEEP_EVERY;
    }
    SWEEP_EVERY
        .min(config.review_images_ttl())
        .max(Duration::from_secs(1))
}

/// Starts the sweeping task (at once, then every [`sweep_period`]); it runs until the
/// runtime stops. A failed sweep is logged and retried next time.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    let days = state.config().retention_days;
    let period = sweep_period(state.config());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(period);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match sweep(&state, OffsetDateTime::now_utc()).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, days, "retention: old decisions deleted"),
                Err(e) => tracing::warn!(error = %e, "retention sweep failed; retrying later"),
            }
        }
    })
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

    #[test]
    fn review_images_sweep_at_least_once_per_lifetime() {
        let mut config = ServerConfig::default();
        assert_eq!(sweep_period(&config), SWEEP_EVERY);
        config.review_images = ReviewImages::All;
        assert_eq!(sweep_period(&config), SWEEP_EVERY);
        config.review_images_ttl_seconds = Some(2);
        assert_eq!(sweep_period(&config), Duration::from_secs(2));
    }
}
