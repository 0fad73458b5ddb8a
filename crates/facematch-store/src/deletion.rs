//! Removing saved decisions, with their review history: by the key that made them
//! (`DELETE …/delete/`, the batch delete) and by age (the retention purge).
//!
//! History rows, kept review images, and the decision's webhook events with their deliveries (queued ones too,
//! as Didit drops them) and attempts, are deleted explicitly, in the same transaction as
//! their decision, rather
//! than left to `ON DELETE CASCADE`, so nothing depends on the connection's `foreign_keys`
//! setting. Every transaction is bounded: at most [`MAX_DELETE_IDS`] decisions for a
//! delete, at most the caller's `batch` for a purge (each decision has at most
//! [`MAX_HISTORY`](crate::MAX_HISTORY) history rows), so no deletion holds the write lock
//! for long, however much is stored.

use time::OffsetDateTime;

use crate::sql::{args, Conn, Dialect};
use crate::{db, Store, StoreError};

/// Most decisions one [`Store::delete_decisions`] call may name.
pub const MAX_DELETE_IDS: usize = 100;

/// Most decisions one [`Store::purge_decisions_older_than`] call may remove.
pub const MAX_PURGE_BATCH: usize = 5_000;

/// Deletes one decision and its history if it belongs to `key_id`; whether it did.
fn delete_one(c: &mut dyn Conn, request_id: &str, key_id: &str) -> Result<bool, StoreError> {
    let owned: bool = c.query_one(
        "SELECT EXISTS (SELECT 1 FROM decisions WHERE request_id = ?1 AND key_id = ?2)",
        args![request_id, key_id],
        |r| r.get(0),
    )?;
    if !owned {
        // Unknown, already deleted, or another key's: left untouched.
        return Ok(false);
    }
    // Its webhook events, their deliveries (queued ones too) and their log.
    crate::webhooks::delete_events_of_decision(c, request_id)?;
    c.execute(
        "DELETE FROM review_images WHERE request_id = ?1",
        args![request_id],
    )?;
    c.execute(
        "DELETE FROM decision_history WHERE request_id = ?1 AND EXISTS \
         (SELECT 1 FROM decisions WHERE request_id = ?1 AND key_id = ?2)",
        args![request_id, key_id],
    )?;
    let n = c.execute(
        "DELETE FROM decisions WHERE request_id = ?1 AND key_id = ?2",
        args![request_id, key_id],
    )?;
    Ok(n > 0)
}

pub(crate) fn delete_decisions(
    store: &Store,
    request_ids: &[String],
    key_id: &str,
) -> Result<Vec<bool>, StoreError> {
    if request_ids.len() > MAX_DELETE_IDS {
        return Err(StoreError::Invalid(format!(
            "at most {MAX_DELETE_IDS} decisions per deletion, got {}",
            request_ids.len()
        )));
    }
    store.write(|c| {
        request_ids
            .iter()
            .map(|id| delete_one(c, id, key_id))
            .collect::<Result<Vec<_>, _>>()
    })
}

/// How a batch delete names a decision: Didit's session number, or our request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRef {
    /// The request id (a hyphenated lower-case UUID, as stored).
    RequestId(String),
    /// The key's session number.
    Number(i64),
}

/// A decision a batch delete removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedSession {
    /// Its request id.
    pub request_id: String,
    /// Its session number.
    pub session_number: i64,
}

/// The decision of `key_id` that `what` names, if any.
fn find_ref(
    c: &mut dyn Conn,
    what: &SessionRef,
    key_id: &str,
) -> Result<Option<DeletedSession>, StoreError> {
    let read = |r: &crate::sql::Row| {
        Ok(DeletedSession {
            request_id: r.get(0)?,
            session_number: r.get::<Option<i64>>(1)?.unwrap_or(0),
        })
    };
    match what {
        SessionRef::RequestId(id) => c.query_row(
            "SELECT request_id, session_number FROM decisions \
             WHERE request_id = ?1 AND key_id = ?2",
            args![id, key_id],
            read,
        ),
        SessionRef::Number(n) => c.query_row(
            "SELECT request_id, session_number FROM decisions \
             WHERE key_id = ?2 AND session_number = ?1",
            args![*n, key_id],
            read,
        ),
    }
}

pub(crate) fn delete_sessions(
    store: &Store,
    refs: &[SessionRef],
    key_id: &str,
) -> Result<Vec<Option<DeletedSession>>, StoreError> {
    if refs.len() > MAX_DELETE_IDS {
        return Err(StoreError::Invalid(format!(
            "at most {MAX_DELETE_IDS} decisions per deletion, got {}",
            refs.len()
        )));
    }
    store.write(|c| {
        let mut out = Vec::with_capacity(refs.len());
        for what in refs {
            let deleted = match find_ref(c, what, key_id)? {
                Some(found) if delete_one(c, &found.request_id, key_id)? => Some(found),
                _ => None,
            };
            out.push(deleted);
        }
        Ok(out)
    })
}

pub(crate) fn purge_older_than(
    store: &Store,
    cutoff: OffsetDateTime,
    batch: usize,
) -> Result<usize, StoreError> {
    if !(1..=MAX_PURGE_BATCH).contains(&batch) {
        return Err(StoreError::Invalid(format!(
            "a purge batch is 1 to {MAX_PURGE_BATCH} decisions, got {batch}"
        )));
    }
    let cutoff = db::to_nanos(cutoff)?;
    let limit = i64::try_from(batch).unwrap_or(i64::MAX);
    store.write(|c| {
        // Oldest first, through the `decisions_created` index: the batch is found without
        // scanning the younger rows. On PostgreSQL, replicas purging at once each take
        // decisions no other one holds (`SKIP LOCKED`) rather than all queueing behind the
        // same batch.
        let select = match c.dialect() {
            Dialect::Sqlite => {
                "SELECT request_id FROM decisions WHERE created_at < ?1 \
                 ORDER BY created_at LIMIT ?2"
            }
            Dialect::Postgres => {
                "SELECT request_id FROM decisions WHERE created_at < ?1 \
                 ORDER BY created_at LIMIT ?2 FOR UPDATE SKIP LOCKED"
            }
        };
        let ids: Vec<String> = c.query_map(select, args![cutoff, limit], |r| r.get(0))?;
        for id in &ids {
            crate::webhooks::delete_events_of_decision(c, id)?;
            c.execute("DELETE FROM review_images WHERE request_id = ?1", args![id])?;
            c.execute(
                "DELETE FROM decision_history WHERE request_id = ?1",
                args![id],
            )?;
            c.execute("DELETE FROM decisions WHERE request_id = ?1", args![id])?;
        }
        Ok(ids.len())
    })
}

#[cfg(test)]
mod tests;
