//! Usage counters: face matches per key and UTC day (saved or not), by outcome and latency
//! bucket, kept in `usage_daily` by one upsert per face match; and the account-wide sums
//! and score histogram the console's Usage page shows.

use facematch_core::Status;
use time::OffsetDateTime;

use crate::db;
use crate::sql::{args, Row};
use crate::{Store, StoreError};

/// Upper bounds (ms, inclusive) of the latency buckets; a last bucket holds the rest.
pub const LATENCY_BOUNDS_MS: [u64; 6] = [50, 100, 200, 400, 800, 1600];

/// Number of latency buckets (the bounds plus "more").
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// Buckets of the score histogram: 0–9, 10–19, …, 90–100.
pub const SCORE_BUCKETS: usize = 10;

/// One day's counters (of one key, or summed over an account's keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageDay {
    /// Days since 1970-01-01, UTC.
    pub day: i64,
    /// Face matches answered.
    pub matches: i64,
    /// Of which Approved.
    pub approved: i64,
    /// Of which Declined.
    pub declined: i64,
    /// Of which In Review.
    pub in_review: i64,
    /// Face matches per latency bucket ([`LATENCY_BOUNDS_MS`], then "more").
    pub latency: [i64; LATENCY_BUCKETS],
}

/// The UTC day of an instant, as days since 1970-01-01.
pub fn day_of(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(86_400)
}

/// The latency bucket of a duration in ms.
fn bucket_of(latency_ms: u64) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|&b| latency_ms <= b)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

/// The bucket holding quantile `q` (0–1) of these counts: an estimate of a percentile as
/// "at most [`LATENCY_BOUNDS_MS`]`[i]`" (or over the last bound when `i` is the last
/// bucket). `None` with no observation.
pub fn latency_quantile_bucket(latency: &[i64; LATENCY_BUCKETS], q: f64) -> Option<usize> {
    let total: i64 = latency.iter().sum();
    if total <= 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as i64).max(1);
    let mut seen = 0;
    for (i, n) in latency.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(i);
        }
    }
    Some(LATENCY_BUCKETS - 1)
}

const LAT_COLUMNS: [&str; LATENCY_BUCKETS] = [
    "lat_50", "lat_100", "lat_200", "lat_400", "lat_800", "lat_1600", "lat_more",
];

fn day_from_row(row: &Row) -> Result<UsageDay, StoreError> {
    let mut latency = [0i64; LATENCY_BUCKETS];
    for (i, slot) in latency.iter_mut().enumerate() {
        *slot = row.get(5 + i)?;
    }
    Ok(UsageDay {
        day: row.get(0)?,
        matches: row.get(1)?,
        approved: row.get(2)?,
        declined: row.get(3)?,
        in_review: row.get(4)?,
        latency,
    })
}

impl Store {
    /// Counts one face match of `key_id` answered at `at` with `status`, that took
    /// `latency_ms`: one upsert of the key's row for that UTC day. `NotFound`-like
    /// constraint errors (the key deleted meanwhile) come back as errors for the caller to
    /// log.
    pub fn record_usage(
        &self,
        key_id: &str,
        at: OffsetDateTime,
        status: Status,
        latency_ms: u64,
    ) -> Result<(), StoreError> {
        let day = day_of(at);
        let mut lat = [0i64; LATENCY_BUCKETS];
        lat[bucket_of(latency_ms)] = 1;
        let (a, d, r) = match status {
            Status::Approved => (1i64, 0i64, 0i64),
            Status::Declined => (0, 1, 0),
            Status::InReview => (0, 0, 1),
        };
        let sums = ["matches", "approved", "declined", "in_review"]
            .iter()
            .chain(LAT_COLUMNS.iter())
            .map(|c| format!("{c} = usage_daily.{c} + excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO usage_daily (key_id, day, matches, approved, declined, in_review, \
             {}) VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (key_id, day) DO UPDATE SET {sums}",
            LAT_COLUMNS.join(", ")
        );
        let at_n = db::to_nanos(at)?;
        let stale = db::to_nanos(at - time::Duration::minutes(1))?;
        self.write(|c| {
            c.execute(
                &sql,
                args![key_id, day, a, d, r, lat[0], lat[1], lat[2], lat[3], lat[4], lat[5], lat[6]],
            )?;
            // The key's "last used", to the minute (at most one write a minute per key).
            c.execute(
                "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 \
                 AND (last_used_at IS NULL OR last_used_at < ?3)",
                args![key_id, at_n, stale],
            )
        })?;
        Ok(())
    }

    /// The account's counters per day from `from_day` to `to_day` (both included), summed
    /// over its keys, oldest first; days without a face match are absent.
    pub fn account_usage(
        &self,
        account_id: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<UsageDay>, StoreError> {
        let sums = ["matches", "approved", "declined", "in_review"]
            .iter()
            .chain(LAT_COLUMNS.iter())
            .map(|c| format!("CAST(SUM(u.{c}) AS BIGINT)"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT u.day, {sums} FROM usage_daily u JOIN api_keys k ON k.id = u.key_id \
             WHERE k.account_id = ?1 AND u.day >= ?2 AND u.day <= ?3 \
             GROUP BY u.day ORDER BY u.day"
        );
        self.run(|c| c.query_map(&sql, args![account_id, from_day, to_day], day_from_row))
    }

    /// How many of the account's saved decisions made at or after `since` fall in each
    /// score bucket (0–9, 10–19, …, 90–100); decisions without a score are not counted.
    pub fn account_score_histogram(
        &self,
        account_id: &str,
        since: OffsetDateTime,
    ) -> Result<[i64; SCORE_BUCKETS], StoreError> {
        let since = db::to_nanos(since)?;
        let rows = self.run(|c| {
            c.query_map(
                "SELECT CASE WHEN d.score >= 90 THEN 9 WHEN d.score < 0 THEN 0 \
                 ELSE d.score / 10 END, count(*) \
                 FROM decisions d JOIN api_keys k ON k.id = d.key_id \
                 WHERE k.account_id = ?1 AND d.score IS NOT NULL AND d.created_at >= ?2 \
                 GROUP BY CASE WHEN d.score >= 90 THEN 9 WHEN d.score < 0 THEN 0 \
                 ELSE d.score / 10 END",
                args![account_id, since],
                |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)),
            )
        })?;
        let mut out = [0i64; SCORE_BUCKETS];
        for (bucket, n) in rows {
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| out.get_mut(b)) {
                *slot += n;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
