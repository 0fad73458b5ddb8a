//! The outbox: events written with the change they report, their deliveries claimed under a
//! lease, test events, and the retention purge of finished events.

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use time::OffsetDateTime;

use super::{new_id, DueDelivery, STATUS_UPDATED, VISIBLE_TO_KEY};
use crate::deletion::MAX_PURGE_BATCH;
use crate::sql::{args, Conn, Dialect};
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
        insert_delivery_in(c, &new_id(), &event_id, destination, now_n, now_n)?;
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

/// Inserts one pending delivery (portable form).
fn insert_delivery_in(
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

/// Transitional: the rusqlite form, until the rest of this module is ported.
fn insert_delivery(
    conn: &Connection,
    id: &str,
    event_id: &str,
    destination_id: &str,
    due: i64,
    now: i64,
) -> Result<(), StoreError> {
    insert_delivery_in(
        &mut crate::backend::sqlite::SqliteConn(conn),
        id,
        event_id,
        destination_id,
        due,
        now,
    )
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

fn due_from_row(row: &Row<'_>) -> rusqlite::Result<DueDelivery> {
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
        snapshot: db::json_col::<Option<SavedDecision>>(row, 7)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        event_created_at: db::time_col(row, 9)?,
    })
}

/// The delivery `delivery_id` as a [`DueDelivery`] (the destination's current URL).
pub(super) fn due_delivery(
    conn: &Connection,
    delivery_id: &str,
) -> Result<Option<DueDelivery>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {DUE_COLUMNS} FROM webhook_deliveries d \
                 JOIN webhook_events e ON e.id = d.event_id \
                 JOIN webhook_destinations w ON w.id = d.destination_id WHERE d.id = ?1"
            ),
            [delivery_id],
            due_from_row,
        )
        .optional()?)
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
    let mut conn = store.conn();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let visible: Option<String> = tx
        .query_row(
            &format!(
                "SELECT w.id FROM webhook_destinations w WHERE w.id = ?2 AND {VISIBLE_TO_KEY}"
            ),
            params![key_id, destination_id],
            |r| r.get(0),
        )
        .optional()?;
    if visible.is_none() {
        return Ok(None);
    }
    let event_id = new_id();
    tx.execute(
        "INSERT INTO webhook_events (id, key_id, request_id, webhook_type, snapshot, created_at) \
         VALUES (?1, ?2, NULL, ?3, 'null', ?4)",
        params![event_id, key_id, STATUS_UPDATED, now_n],
    )?;
    let delivery_id = new_id();
    insert_delivery(
        &tx,
        &delivery_id,
        &event_id,
        destination_id,
        leased_until,
        now_n,
    )?;
    let due = due_delivery(&tx, &delivery_id)?;
    tx.commit()?;
    Ok(due)
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
    let mut conn = store.conn();
    // IMMEDIATE: the choice and the lease are one step, so two deliverers (or two processes)
    // never take the same delivery.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let due = {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {DUE_COLUMNS} FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id \
             JOIN webhook_destinations w ON w.id = d.destination_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 AND w.enabled = 1 \
               AND (w.backoff_until IS NULL OR w.backoff_until <= ?1) \
             ORDER BY d.created_at, d.rowid LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![now_n, limit], due_from_row)?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    for d in &due {
        tx.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = ?2, updated_at = ?3 WHERE id = ?1",
            params![d.delivery_id, leased_until, now_n],
        )?;
    }
    tx.commit()?;
    Ok(due)
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
    let mut conn = store.conn();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let ids: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT e.id FROM webhook_events e WHERE e.created_at < ?1 AND NOT EXISTS \
             (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.state = 'pending') \
             ORDER BY e.created_at LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![cutoff, limit], |r| r.get(0))?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    for id in &ids {
        tx.execute("DELETE FROM webhook_attempts WHERE event_id = ?1", [id])?;
        tx.execute("DELETE FROM webhook_deliveries WHERE event_id = ?1", [id])?;
        tx.execute("DELETE FROM webhook_events WHERE id = ?1", [id])?;
    }
    tx.commit()?;
    Ok(ids.len())
}

pub(crate) fn pending_deliveries(store: &Store) -> Result<i64, StoreError> {
    Ok(store.conn().query_row(
        "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?)
}
