//! The delivery log: recording a try (and moving its delivery on), and reading the log by
//! session, by attempt, and by destination, always as seen by one key.

use time::OffsetDateTime;

use super::outbox::due_delivery;
use super::{
    new_id, AttemptLog, AttemptOutcome, AttemptRecord, DueDelivery, MAX_ATTEMPTS_PAGE,
    MAX_LOGGED_RESPONSE_BYTES, VISIBLE_TO_KEY,
};
use crate::sql::{args, Conn, Row};
use crate::{db, Store, StoreError};

/// How long a destination is left alone after a failed try, at most (a retry due sooner
/// shortens it).
const MAX_DESTINATION_BACKOFF: time::Duration = time::Duration::seconds(60);

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub(crate) fn record_attempt(
    store: &Store,
    delivery_id: &str,
    attempt: &AttemptRecord,
    outcome: AttemptOutcome,
    resend: bool,
    now: OffsetDateTime,
) -> Result<String, StoreError> {
    let now_n = db::to_nanos(now)?;
    let response_body = attempt
        .response_body
        .as_deref()
        .map(|b| truncate_utf8(b, MAX_LOGGED_RESPONSE_BYTES));
    let response_status = attempt.response_status.map(i64::from);
    store.write(|c| {
        let delivery: Option<(String, String, String)> = c.query_row(
            "SELECT event_id, destination_id, state FROM webhook_deliveries WHERE id = ?1",
            args![delivery_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let Some((event_id, destination_id, state)) = delivery else {
            return Err(StoreError::NotFound(format!(
                "webhook delivery {delivery_id}"
            )));
        };
        let next_try_at = match outcome {
            AttemptOutcome::RetryAt(t) if !resend && state == "pending" => Some(db::to_nanos(t)?),
            _ => None,
        };
        let id = new_id();
        c.execute(
            "INSERT INTO webhook_attempts (id, delivery_id, event_id, request_url, \
             request_headers, request_body, response_status, response_body, response_time_ms, \
             error, next_try_at, resend, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            args![
                &id,
                delivery_id,
                &event_id,
                &attempt.request_url,
                &attempt.request_headers,
                &attempt.request_body,
                response_status,
                response_body,
                attempt.response_time_ms,
                attempt.error.as_deref(),
                next_try_at,
                resend,
                now_n
            ],
        )?;
        let bump = i64::from(!resend);
        match outcome {
            AttemptOutcome::Delivered => {
                c.execute(
                    "UPDATE webhook_deliveries SET state = 'delivered', next_attempt_at = NULL, \
                     attempts = attempts + ?2, updated_at = ?3 WHERE id = ?1",
                    args![delivery_id, bump, now_n],
                )?;
                c.execute(
                    "UPDATE webhook_destinations SET backoff_until = NULL WHERE id = ?1",
                    args![&destination_id],
                )?;
            }
            // A resend that failed leaves the schedule as it was; so does a late report on a
            // delivery that is no longer pending (a lease that ran out while the first try was
            // still being sent, and another deliverer finished it).
            _ if resend || state != "pending" => {}
            AttemptOutcome::RetryAt(t) => {
                let backoff = db::to_nanos(t.min(now + MAX_DESTINATION_BACKOFF))?;
                c.execute(
                    "UPDATE webhook_deliveries SET next_attempt_at = ?2, attempts = attempts + 1, \
                     updated_at = ?3 WHERE id = ?1",
                    args![delivery_id, next_try_at, now_n],
                )?;
                c.execute(
                    "UPDATE webhook_destinations SET backoff_until = ?2 WHERE id = ?1",
                    args![&destination_id, backoff],
                )?;
            }
            AttemptOutcome::GiveUp => {
                c.execute(
                    "UPDATE webhook_deliveries SET state = 'failed', next_attempt_at = NULL, \
                     attempts = attempts + 1, updated_at = ?2 WHERE id = ?1",
                    args![delivery_id, now_n],
                )?;
            }
        }
        Ok(id)
    })
}

/// Columns read by [`log_from_row`], of attempts `a`, deliveries `d` and events `e`.
const LOG_COLUMNS: &str = "a.id, a.delivery_id, a.event_id, d.destination_id, e.request_id, \
     e.webhook_type, a.request_url, a.request_headers, a.request_body, a.response_status, \
     a.response_time_ms, a.error, a.next_try_at, a.resend, d.state, a.created_at, a.response_body";

/// The joins under [`LOG_COLUMNS`].
const LOG_FROM: &str = "webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
     JOIN webhook_events e ON e.id = d.event_id";

fn log_from_row(row: &Row) -> Result<AttemptLog, StoreError> {
    let response_status = row
        .get::<Option<i64>>(9)?
        .map(|s| {
            u16::try_from(s).map_err(|_| StoreError::Corrupt(format!("logged response status {s}")))
        })
        .transpose()?;
    Ok(AttemptLog {
        id: row.get(0)?,
        delivery_id: row.get(1)?,
        event_id: row.get(2)?,
        destination_id: row.get(3)?,
        session_id: row.get(4)?,
        webhook_type: row.get(5)?,
        request_url: row.get(6)?,
        request_headers: row.get(7)?,
        request_body: row.get(8)?,
        response_status,
        response_time_ms: row.get(10)?,
        error: row.get(11)?,
        next_try_at: row.opt_time(12)?,
        resend: row.get(13)?,
        delivery_state: row.get(14)?,
        created_at: row.time(15)?,
        response_body: row.get(16)?,
    })
}

/// Whether the decision exists and is `key_id`'s.
fn owns_decision(c: &mut dyn Conn, request_id: &str, key_id: &str) -> Result<bool, StoreError> {
    c.query_one(
        "SELECT EXISTS (SELECT 1 FROM decisions WHERE request_id = ?1 AND key_id = ?2)",
        args![request_id, key_id],
        |r| r.get(0),
    )
}

pub(crate) fn session_attempts(
    store: &Store,
    request_id: &str,
    key_id: &str,
) -> Result<Option<Vec<AttemptLog>>, StoreError> {
    store.run(|c| {
        if !owns_decision(c, request_id, key_id)? {
            return Ok(None);
        }
        let log = c.query_map(
            &format!(
                "SELECT {LOG_COLUMNS} FROM {LOG_FROM} WHERE e.request_id = ?1 \
                 ORDER BY a.created_at DESC, a.rowid DESC"
            ),
            args![request_id],
            log_from_row,
        )?;
        Ok(Some(log))
    })
}

/// One attempt of `request_id`'s log, if the decision is `key_id`'s.
fn find_session_attempt(
    c: &mut dyn Conn,
    request_id: &str,
    attempt_id: &str,
    key_id: &str,
) -> Result<Option<AttemptLog>, StoreError> {
    if !owns_decision(c, request_id, key_id)? {
        return Ok(None);
    }
    c.query_row(
        &format!("SELECT {LOG_COLUMNS} FROM {LOG_FROM} WHERE e.request_id = ?1 AND a.id = ?2"),
        args![request_id, attempt_id],
        log_from_row,
    )
}

pub(crate) fn session_attempt(
    store: &Store,
    request_id: &str,
    attempt_id: &str,
    key_id: &str,
) -> Result<Option<AttemptLog>, StoreError> {
    store.run(|c| find_session_attempt(c, request_id, attempt_id, key_id))
}

pub(crate) fn resend_target(
    store: &Store,
    request_id: &str,
    attempt_id: &str,
    key_id: &str,
) -> Result<Option<DueDelivery>, StoreError> {
    store.run(
        |c| match find_session_attempt(c, request_id, attempt_id, key_id)? {
            Some(attempt) => resend_of(c, attempt),
            None => Ok(None),
        },
    )
}

/// The delivery of a logged `attempt`, to send again: Didit resends to the URL the
/// recorded attempt went to (not re-scheduled).
fn resend_of(c: &mut dyn Conn, attempt: AttemptLog) -> Result<Option<DueDelivery>, StoreError> {
    Ok(
        due_delivery(c, &attempt.delivery_id)?.map(|due| DueDelivery {
            url: attempt.request_url,
            ..due
        }),
    )
}

/// Whether `key_id` sees the destination (its own, or its account's).
fn sees_destination(
    c: &mut dyn Conn,
    destination_id: &str,
    key_id: &str,
) -> Result<bool, StoreError> {
    c.query_one(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM webhook_destinations w WHERE w.id = ?2 \
             AND {VISIBLE_TO_KEY})"
        ),
        args![key_id, destination_id],
        |r| r.get(0),
    )
}

/// One attempt of a destination's log, if `key_id` sees the destination.
fn find_destination_attempt(
    c: &mut dyn Conn,
    destination_id: &str,
    attempt_id: &str,
    key_id: &str,
) -> Result<Option<AttemptLog>, StoreError> {
    if !sees_destination(c, destination_id, key_id)? {
        return Ok(None);
    }
    c.query_row(
        &format!("SELECT {LOG_COLUMNS} FROM {LOG_FROM} WHERE d.destination_id = ?1 AND a.id = ?2"),
        args![destination_id, attempt_id],
        log_from_row,
    )
}

pub(crate) fn destination_attempt(
    store: &Store,
    destination_id: &str,
    attempt_id: &str,
    key_id: &str,
) -> Result<Option<AttemptLog>, StoreError> {
    store.run(|c| find_destination_attempt(c, destination_id, attempt_id, key_id))
}

pub(crate) fn destination_resend_target(
    store: &Store,
    destination_id: &str,
    attempt_id: &str,
    key_id: &str,
) -> Result<Option<DueDelivery>, StoreError> {
    store.run(
        |c| match find_destination_attempt(c, destination_id, attempt_id, key_id)? {
            Some(attempt) => resend_of(c, attempt),
            None => Ok(None),
        },
    )
}

pub(crate) fn destination_attempts(
    store: &Store,
    destination_id: &str,
    key_id: &str,
    limit: usize,
) -> Result<Option<Vec<AttemptLog>>, StoreError> {
    let limit = i64::try_from(limit.min(MAX_ATTEMPTS_PAGE)).unwrap_or(0);
    store.run(|c| {
        if !sees_destination(c, destination_id, key_id)? {
            return Ok(None);
        }
        let log = c.query_map(
            &format!(
                "SELECT {LOG_COLUMNS} FROM {LOG_FROM} WHERE d.destination_id = ?1 \
                 ORDER BY a.created_at DESC, a.rowid DESC LIMIT ?2"
            ),
            args![destination_id, limit],
            log_from_row,
        )?;
        Ok(Some(log))
    })
}
