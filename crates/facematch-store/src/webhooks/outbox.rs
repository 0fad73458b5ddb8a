//! The outbox: events written with the change they report, their deliveries claimed under a
//! lease, test events, and the retention purge of finished events.

use time::OffsetDateTime;

use super::{new_id, DueDelivery, STATUS_UPDATED, VISIBLE_TO_KEY};
use crate::deletion::MAX_PURGE_BATCH;
use crate::sql::{args, Conn, Dialect, Row};
use crate::{db, SavedDecision, Store, StoreError};

/// Writes a `status.updated` event for `d` (as it is after the change) and one pending
/// delivery, due `now`, per enabled destination subscribed to it that `d.key_id`'s events go
/// to (the key's own destinations and its account's). Writes nothing when there is none. Call
/// it inside the transaction that makes the change.
pub(crate) fn enqueue_status_event(
    c: &mut dyn Conn,
    d: &SavedDecision,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let subscribed = subscribed_to(c.dialect());
    let destinations: Vec<String> = c.query_map(
        &format!(
            "SELECT w.id FROM webhook_destinations w WHERE w.enabled = 1 AND {VISIBLE_TO_KEY} \
             AND {subscribed} ORDER BY w.created_at, w.id"
        ),
        args![&d.key_id, STATUS_UPDATED],
        |r| r.get(0),
    )?;
    if destinations.is_empty() {
        return Ok(());
    }
    let snapshot = serde_json::to_string(d)
        .map_err(|e| StoreError::Internal(format!("event snapshot: {e}")))?;
    let now_n = db::to_nanos(now)?;
    let event_id = new_id();
    c.execute(
        "INSERT INTO webhook_events (id, key_id, request_id, webhook_type, snapshot, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![
            &event_id,
            &d.key_id,
            &d.request_id,
            STATUS_UPDATED,
            &snapshot,
            now_n
        ],
    )?;
    for destination in &destinations {
        insert_delivery(c, &new_id(), &event_id, destination, now_n, now_n)?;
    }
    Ok(())
}

/// The condition "destination `w` subscribes to the event type bound to `?2`" (its
/// `subscribed_events` is a JSON array of names): SQLite's `json_each`, PostgreSQL's
/// `json_array_elements_text`.
pub(crate) fn subscribed_to(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "EXISTS (SELECT 1 FROM json_each(w.subscribed_events) WHERE value = ?2)",
        Dialect::Postgres => {
            "EXISTS (SELECT 1 FROM json_array_elements_text(w.subscribed_events::json) AS e(v) \
             WHERE e.v = ?2)"
        }
    }
}

/// Inserts one pending delivery, due at `due`.
fn insert_delivery(
    c: &mut dyn Conn,
    id: &str,
    event_id: &str,
    destination_id: &str,
    due: i64,
    now: i64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO webhook_deliveries (id, event_id, destination_id, state, attempts, \
         next_attempt_at, created_at, updated_at) VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?5, ?5)",
        args![id, event_id, destination_id, due, now],
    )?;
    Ok(())
}

/// Deletes a decision's events with their deliveries (pending ones included: Didit drops
/// the queued deliveries of a deleted session) and their log. For the deletions' transactions.
pub(crate) fn delete_events_of_decision(
    c: &mut dyn Conn,
    request_id: &str,
) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM webhook_attempts WHERE event_id IN \
         (SELECT id FROM webhook_events WHERE request_id = ?1)",
        args![request_id],
    )?;
    c.execute(
        "DELETE FROM webhook_deliveries WHERE event_id IN \
         (SELECT id FROM webhook_events WHERE request_id = ?1)",
        args![request_id],
    )?;
    c.execute(
        "DELETE FROM webhook_events WHERE request_id = ?1",
        args![request_id],
    )?;
    Ok(())
}

/// Columns read by [`due_from_row`], of deliveries `d`, events `e` and destinations `w`.
const DUE_COLUMNS: &str = "d.id, d.event_id, d.destination_id, w.url, e.webhook_type, \
     e.key_id, e.request_id, e.snapshot, d.attempts, e.created_at";

fn due_from_row(row: &Row) -> Result<DueDelivery, StoreError> {
    let attempts: i64 = row.get(8)?;
    Ok(DueDelivery {
        delivery_id: row.get(0)?,
        event_id: row.get(1)?,
        destination_id: row.get(2)?,
        url: row.get(3)?,
        webhook_type: row.get(4)?,
        key_id: row.get(5)?,
        request_id: row.get(6)?,
        // A test event's snapshot is JSON `null`.
        snapshot: row.json::<Option<SavedDecision>>(7)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        event_created_at: row.time(9)?,
    })
}

/// The delivery `delivery_id` as a [`DueDelivery`] (the destination's current URL).
pub(super) fn due_delivery(
    c: &mut dyn Conn,
    delivery_id: &str,
) -> Result<Option<DueDelivery>, StoreError> {
    c.query_row(
        &format!(
            "SELECT {DUE_COLUMNS} FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id \
             JOIN webhook_destinations w ON w.id = d.destination_id WHERE d.id = ?1"
        ),
        args![delivery_id],
        due_from_row,
    )
}

pub(crate) fn enqueue_test_event(
    store: &Store,
    destination_id: &str,
    key_id: &str,
    now: OffsetDateTime,
    lease: time::Duration,
) -> Result<Option<DueDelivery>, StoreError> {
    let now_n = db::to_nanos(now)?;
    let leased_until = db::to_nanos(now + lease)?;
    store.write(|c| {
        let visible: Option<String> = c.query_row(
            &format!(
                "SELECT w.id FROM webhook_destinations w WHERE w.id = ?2 AND {VISIBLE_TO_KEY}"
            ),
            args![key_id, destination_id],
            |r| r.get(0),
        )?;
        if visible.is_none() {
            return Ok(None);
        }
        let event_id = new_id();
        c.execute(
            "INSERT INTO webhook_events (id, key_id, request_id, webhook_type, snapshot, \
             created_at) VALUES (?1, ?2, NULL, ?3, 'null', ?4)",
            args![&event_id, key_id, STATUS_UPDATED, now_n],
        )?;
        let delivery_id = new_id();
        insert_delivery(
            c,
            &delivery_id,
            &event_id,
            destination_id,
            leased_until,
            now_n,
        )?;
        due_delivery(c, &delivery_id)
    })
}

/// The due deliveries' query for `dialect`: oldest first, at most `?2`.
///
/// SQLite: run in an IMMEDIATE transaction, the choice and the lease are one step, so two
/// deliverers (or two processes) never take the same delivery. PostgreSQL: the rows chosen are
/// locked (`FOR UPDATE OF d SKIP LOCKED`) until the lease is written and committed; another
/// replica's claim skips them instead of waiting, and one that read them before that commit
/// fails to lock them (a serialization conflict, retried on fresh data, where they are leased).
/// Ties of `created_at` go by insertion order (`rowid`: SQLite's implicit column, an
/// identity column in the PostgreSQL schema).
fn due_query(dialect: Dialect) -> String {
    let (tie, lock) = match dialect {
        Dialect::Sqlite => ("d.rowid", ""),
        Dialect::Postgres => ("d.rowid", " FOR UPDATE OF d SKIP LOCKED"),
    };
    format!(
        "SELECT {DUE_COLUMNS} FROM webhook_deliveries d \
         JOIN webhook_events e ON e.id = d.event_id \
         JOIN webhook_destinations w ON w.id = d.destination_id \
         WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 AND w.enabled = 1 \
           AND (w.backoff_until IS NULL OR w.backoff_until <= ?1) \
         ORDER BY d.created_at, {tie} LIMIT ?2{lock}"
    )
}

pub(crate) fn claim_due_deliveries(
    store: &Store,
    now: OffsetDateTime,
    lease: time::Duration,
    limit: usize,
) -> Result<Vec<DueDelivery>, StoreError> {
    let now_n = db::to_nanos(now)?;
    let leased_until = db::to_nanos(now + lease)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // One transaction: the choice and the lease are one step (see `due_query`).
    store.write(|c| {
        let due = c.query_map(&due_query(c.dialect()), args![now_n, limit], due_from_row)?;
        for d in &due {
            c.execute(
                "UPDATE webhook_deliveries SET next_attempt_at = ?2, updated_at = ?3 WHERE id = ?1",
                args![&d.delivery_id, leased_until, now_n],
            )?;
        }
        Ok(due)
    })
}

pub(crate) fn purge_events_older_than(
    store: &Store,
    cutoff: OffsetDateTime,
    batch: usize,
) -> Result<usize, StoreError> {
    if !(1..=MAX_PURGE_BATCH).contains(&batch) {
        return Err(StoreError::Invalid(format!(
            "a purge batch is 1 to {MAX_PURGE_BATCH} events, got {batch}"
        )));
    }
    let cutoff = db::to_nanos(cutoff)?;
    let limit = i64::try_from(batch).unwrap_or(i64::MAX);
    store.write(|c| {
        let ids: Vec<String> = c.query_map(
            "SELECT e.id FROM webhook_events e WHERE e.created_at < ?1 AND NOT EXISTS \
             (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.state = 'pending') \
             ORDER BY e.created_at LIMIT ?2",
            args![cutoff, limit],
            |r| r.get(0),
        )?;
        for id in &ids {
            c.execute(
                "DELETE FROM webhook_attempts WHERE event_id = ?1",
                args![id],
            )?;
            c.execute(
                "DELETE FROM webhook_deliveries WHERE event_id = ?1",
                args![id],
            )?;
            c.execute("DELETE FROM webhook_events WHERE id = ?1", args![id])?;
        }
        Ok(ids.len())
    })
}

pub(crate) fn pending_deliveries(store: &Store) -> Result<i64, StoreError> {
    store.run(|c| {
        c.query_one(
            "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'",
            args![],
            |r| r.get(0),
        )
    })
}
