//! Saved face-match decisions and their review history. Images are never stored.

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use time::OffsetDateTime;

use crate::db::{self, Violation};
use crate::{ReviewStatus, SavedDecision, StatusChange, Store, StoreError};

/// Statuses a saved decision may have (mirrors the CHECK in the schema).
const STATUSES: [&str; 3] = ["Approved", "Declined", "In Review"];

/// Status of decisions waiting for a reviewer.
const IN_REVIEW: &str = "In Review";

/// Columns read by [`decision_from_row`], in order.
const DECISION_COLUMNS: &str = "request_id, key_id, status, score, decline_threshold, \
     review_threshold, warnings, face_match, vendor_data, created_at, updated_at";

/// Reads a decision row; `history` is filled separately.
fn decision_from_row(row: &Row<'_>) -> rusqlite::Result<SavedDecision> {
    Ok(SavedDecision {
        request_id: row.get(0)?,
        key_id: row.get(1)?,
        status: row.get(2)?,
        score: row.get(3)?,
        decline_threshold: row.get(4)?,
        review_threshold: row.get(5)?,
        warnings: db::json_col(row, 6)?,
        face_match: db::json_col(row, 7)?,
        vendor_data: row.get(8)?,
        created_at: db::time_col(row, 9)?,
        updated_at: db::time_col(row, 10)?,
        history: Vec::new(),
    })
}

fn load_history(conn: &Connection, request_id: &str) -> Result<Vec<StatusChange>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT from_status, to_status, comment, at FROM decision_history \
         WHERE request_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([request_id], |row| {
        Ok(StatusChange {
            from: row.get(0)?,
            to: row.get(1)?,
            comment: row.get(2)?,
            at: db::time_col(row, 3)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn insert_history(
    conn: &Connection,
    request_id: &str,
    change: &StatusChange,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO decision_history (request_id, from_status, to_status, comment, at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            request_id,
            change.from,
            change.to,
            change.comment,
            db::to_nanos(change.at)?
        ],
    )?;
    Ok(())
}

fn find(
    conn: &Connection,
    request_id: &str,
    key_id: &str,
) -> Result<Option<SavedDecision>, StoreError> {
    let found = conn
        .query_row(
            &format!(
                "SELECT {DECISION_COLUMNS} FROM decisions WHERE request_id = ?1 AND key_id = ?2"
            ),
            [request_id, key_id],
            decision_from_row,
        )
        .optional()?;
    match found {
        Some(mut d) => {
            d.history = load_history(conn, request_id)?;
            Ok(Some(d))
        }
        None => Ok(None),
    }
}

pub(crate) fn save_decision(store: &Store, d: &SavedDecision) -> Result<(), StoreError> {
    if !STATUSES.contains(&d.status.as_str()) {
        return Err(StoreError::Invalid(format!(
            "status must be one of {STATUSES:?}, got {:?}",
            d.status
        )));
    }
    let warnings = serde_json::to_string(&d.warnings)
        .map_err(|e| StoreError::Invalid(format!("warnings: {e}")))?;
    let face_match = serde_json::to_string(&d.face_match)
        .map_err(|e| StoreError::Invalid(format!("face_match: {e}")))?;
    let created_at = db::to_nanos(d.created_at)?;
    let updated_at = db::to_nanos(d.updated_at)?;

    let mut conn = store.conn();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let res = tx.execute(
        &format!(
            "INSERT INTO decisions ({DECISION_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            d.request_id,
            d.key_id,
            d.status,
            d.score,
            d.decline_threshold,
            d.review_threshold,
            warnings,
            face_match,
            d.vendor_data,
            created_at,
            updated_at
        ],
    );
    match res {
        Ok(_) => {}
        Err(e) => {
            return Err(match db::violation(&e) {
                Some(Violation::Unique) => {
                    StoreError::Conflict(format!("request {} is already saved", d.request_id))
                }
                Some(Violation::ForeignKey) => StoreError::NotFound(format!("key {}", d.key_id)),
                None => e.into(),
            })
        }
    }
    for change in &d.history {
        insert_history(&tx, &d.request_id, change)?;
    }
    // The commit is the durability point: after it returns, the row is in the WAL on disk.
    tx.commit()?;
    Ok(())
}

pub(crate) fn get_decision(
    store: &Store,
    request_id: &str,
    key_id: &str,
) -> Result<Option<SavedDecision>, StoreError> {
    let conn = store.conn();
    find(&conn, request_id, key_id)
}

pub(crate) fn review_queue(
    store: &Store,
    key_id: &str,
    limit: usize,
    offset: usize,
) -> Result<Vec<SavedDecision>, StoreError> {
    // SQLite takes signed 64-bit limits; anything larger means "all" anyway.
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let conn = store.conn();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DECISION_COLUMNS} FROM decisions WHERE key_id = ?1 AND status = ?2 \
         ORDER BY created_at, request_id LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = stmt.query_map(params![key_id, IN_REVIEW, limit, offset], decision_from_row)?;
    let mut out = rows.collect::<Result<Vec<_>, _>>()?;
    for d in &mut out {
        d.history = load_history(&conn, &d.request_id)?;
    }
    Ok(out)
}

pub(crate) fn update_status(
    store: &Store,
    request_id: &str,
    key_id: &str,
    new_status: ReviewStatus,
    comment: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<SavedDecision>, StoreError> {
    let now_n = db::to_nanos(now)?;
    let mut conn = store.conn();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(mut d) = find(&tx, request_id, key_id)? else {
        return Ok(None);
    };
    let change = StatusChange {
        from: d.status.clone(),
        to: new_status.as_str().to_owned(),
        comment: comment.map(str::to_owned),
        at: now,
    };
    // Keep the returned face_match object consistent with the decision's status, so a later GET
    // shows the reviewer's verdict, not the original one.
    if let Some(obj) = d.face_match.as_object_mut() {
        obj.insert(
            "status".into(),
            serde_json::Value::from(new_status.as_str()),
        );
    }
    let face_match = serde_json::to_string(&d.face_match)
        .map_err(|e| StoreError::Internal(format!("face_match: {e}")))?;
    tx.execute(
        "UPDATE decisions SET status = ?3, face_match = ?4, updated_at = ?5 \
         WHERE request_id = ?1 AND key_id = ?2",
        params![request_id, key_id, new_status.as_str(), face_match, now_n],
    )?;
    insert_history(&tx, request_id, &change)?;
    tx.commit()?;
    d.status = change.to.clone();
    d.updated_at = now;
    d.history.push(change);
    Ok(Some(d))
}
