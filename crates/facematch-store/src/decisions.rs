//! Saved face-match decisions and their review history. Images are never stored.
//!
//! A decision is kept as the typed [`FaceMatch`] it was answered with, serialized as JSON in the
//! `face_match` column; a reviewer's verdict changes its [`Status`] and the whole object is written
//! again. The `status`, `score` and `warnings` columns repeat parts of it for SQL (the review queue
//! filters on `status`) and are written from it, never read back into a decision. Statuses are
//! spelled by serde ([`Status`]'s `Display`/`FromStr`); the schema's CHECK lists the same
//! spellings, which a test holds equal.

use facematch_core::{FaceMatch, Status};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::db::{self, Violation};
use crate::review::{is_a_change, ReviewError, MAX_HISTORY};
use crate::sql::{args, Conn, Row};
use crate::{Store, StoreError};

/// A decision a reviewer may set on a saved request: the [`Status`]es other than `In Review`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Status", try_from = "Status")]
pub enum ReviewStatus {
    /// Accept the match.
    Approved,
    /// Reject the match.
    Declined,
}

impl From<ReviewStatus> for Status {
    fn from(s: ReviewStatus) -> Self {
        match s {
            ReviewStatus::Approved => Status::Approved,
            ReviewStatus::Declined => Status::Declined,
        }
    }
}

impl TryFrom<Status> for ReviewStatus {
    type Error = StoreError;

    /// `Approved` and `Declined`; `In Review` is not a verdict (`Invalid`).
    fn try_from(s: Status) -> Result<Self, Self::Error> {
        match s {
            Status::Approved => Ok(ReviewStatus::Approved),
            Status::Declined => Ok(ReviewStatus::Declined),
            Status::InReview => Err(not_a_verdict(&s.to_string())),
        }
    }
}

impl std::fmt::Display for ReviewStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Status::from(*self).fmt(f)
    }
}

impl std::str::FromStr for ReviewStatus {
    type Err = StoreError;

    /// Parses exactly `"Approved"` or `"Declined"` (case-sensitive, as the API is).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<Status>()
            .map_err(|_| not_a_verdict(s))
            .and_then(ReviewStatus::try_from)
    }
}

fn not_a_verdict(s: &str) -> StoreError {
    StoreError::Invalid(format!(
        "new_status must be \"Approved\" or \"Declined\", got {s:?}"
    ))
}

/// One entry of a saved decision's history: a status change made by a reviewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// Status before the change.
    pub from: Status,
    /// Status after the change.
    pub to: Status,
    /// The reviewer's note, if any.
    pub comment: Option<String>,
    /// When the change was made.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The console user (e-mail) who made it; `None` when made with an API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<String>,
}

/// A saved face-match decision (never the images).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedDecision {
    /// The request id (UUID) returned to the client.
    pub request_id: String,
    /// Id of the key that made the request; only that key can read or update it.
    pub key_id: String,
    /// The `face_match` object as returned (status, score, entities, warnings); its status
    /// follows reviews, so it is the decision's current [`Status`].
    pub face_match: FaceMatch,
    /// `face_match_score_decline_threshold` used for the decision.
    pub decline_threshold: f64,
    /// `face_match_score_review_threshold`, if one was given.
    pub review_threshold: Option<f64>,
    /// The client's `vendor_data`, if any.
    pub vendor_data: Option<String>,
    /// The client's `metadata` (a JSON object), if any.
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Per key 1, 2, 3, … in the order saved, never reused: assigned by
    /// [`Store::save_decision`] (the value given there is ignored).
    #[serde(default)]
    pub session_number: i64,
    /// When the request was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the decision last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Reviewer status changes, oldest first. Read back: at most the newest
    /// [`MAX_HISTORY`] (see [`DecisionView::history_truncated`]).
    pub history: Vec<StatusChange>,
}

/// What a reviewer's status update did ([`Store::update_status`]).
#[derive(Debug, Clone, PartialEq)]
pub enum StatusUpdate {
    /// The status changed: a [`StatusChange`] was appended (the last of `history`).
    Changed(SavedDecision),
    /// The decision already had that status: nothing was written (Didit's rule: no
    /// history entry, no event). The decision as it is.
    Unchanged(SavedDecision),
}

impl StatusUpdate {
    /// The decision after the update (changed or not).
    pub fn decision(&self) -> &SavedDecision {
        match self {
            StatusUpdate::Changed(d) | StatusUpdate::Unchanged(d) => d,
        }
    }

    /// The decision after the update (changed or not), taken out.
    pub fn into_decision(self) -> SavedDecision {
        match self {
            StatusUpdate::Changed(d) | StatusUpdate::Unchanged(d) => d,
        }
    }
}

/// A saved decision as read back, with whether older history entries were left out.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionView {
    /// The decision; its history holds at most the newest [`MAX_HISTORY`] entries.
    pub decision: SavedDecision,
    /// Whether it has older entries than those in `decision.history`. Only a database
    /// written before the cap existed can hold more than [`MAX_HISTORY`].
    pub history_truncated: bool,
}

impl SavedDecision {
    /// The decision's current status (the original one, or the last reviewer's).
    pub fn status(&self) -> Status {
        self.face_match.status
    }
}

/// Columns read by [`decision_from_row`], in order.
const DECISION_COLUMNS: &str = "request_id, key_id, face_match, decline_threshold, \
     review_threshold, vendor_data, created_at, updated_at, metadata, session_number";

/// Reads a decision row; `history` is filled separately.
fn decision_from_row(row: &Row) -> Result<SavedDecision, StoreError> {
    Ok(SavedDecision {
        request_id: row.get(0)?,
        key_id: row.get(1)?,
        face_match: row.json(2)?,
        decline_threshold: row.get(3)?,
        review_threshold: row.get(4)?,
        vendor_data: row.get(5)?,
        created_at: row.time(6)?,
        updated_at: row.time(7)?,
        metadata: row.opt_json(8)?,
        session_number: row.get::<Option<i64>>(9)?.unwrap_or(0),
        history: Vec::new(),
    })
}

/// The newest [`MAX_HISTORY`] entries of a decision's history, oldest first, and whether
/// there are older ones: one bounded, indexed read however long the stored history is.
fn load_history(
    c: &mut dyn Conn,
    request_id: &str,
) -> Result<(Vec<StatusChange>, bool), StoreError> {
    // One more than kept: its presence says that older entries exist.
    let probe = i64::try_from(MAX_HISTORY + 1).unwrap_or(i64::MAX);
    let mut newest_first = c.query_map(
        "SELECT from_status, to_status, comment, at, reviewer FROM decision_history \
         WHERE request_id = ?1 ORDER BY id DESC LIMIT ?2",
        args![request_id, probe],
        |row| {
            Ok(StatusChange {
                from: row.status(0)?,
                to: row.status(1)?,
                comment: row.get(2)?,
                at: row.time(3)?,
                reviewer: row.get(4)?,
            })
        },
    )?;
    let truncated = newest_first.len() > MAX_HISTORY;
    newest_first.truncate(MAX_HISTORY);
    newest_first.reverse();
    Ok((newest_first, truncated))
}

/// How many status changes a decision has (the cap's count; an indexed count).
fn history_len(c: &mut dyn Conn, request_id: &str) -> Result<usize, StoreError> {
    let n: i64 = c.query_one(
        "SELECT count(*) FROM decision_history WHERE request_id = ?1",
        args![request_id],
        |r| r.get(0),
    )?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

fn insert_history(
    c: &mut dyn Conn,
    request_id: &str,
    change: &StatusChange,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO decision_history (request_id, from_status, to_status, comment, at, \
         reviewer) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![
            request_id,
            &change.from.to_string(),
            &change.to.to_string(),
            change.comment.as_deref(),
            db::to_nanos(change.at)?,
            change.reviewer.as_deref()
        ],
    )?;
    Ok(())
}

pub(crate) fn find(
    c: &mut dyn Conn,
    request_id: &str,
    key_id: &str,
) -> Result<Option<DecisionView>, StoreError> {
    let found = c.query_row(
        &format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE request_id = ?1 AND key_id = ?2"),
        args![request_id, key_id],
        decision_from_row,
    )?;
    match found {
        Some(mut decision) => {
            let (history, history_truncated) = load_history(c, request_id)?;
            decision.history = history;
            Ok(Some(DecisionView {
                decision,
                history_truncated,
            }))
        }
        None => Ok(None),
    }
}

/// The `face_match` object as stored.
fn face_match_json(face_match: &FaceMatch) -> Result<String, StoreError> {
    serde_json::to_string(face_match).map_err(|e| StoreError::Internal(format!("face_match: {e}")))
}

pub(crate) fn save_decision(store: &Store, d: &SavedDecision) -> Result<i64, StoreError> {
    if d.history.len() > MAX_HISTORY {
        return Err(StoreError::Invalid(format!(
            "a decision keeps at most {MAX_HISTORY} status changes, got {}",
            d.history.len()
        )));
    }
    let face_match = face_match_json(&d.face_match)?;
    let warnings = serde_json::to_string(&d.face_match.warnings)
        .map_err(|e| StoreError::Internal(format!("warnings: {e}")))?;
    let created_at = db::to_nanos(d.created_at)?;
    let updated_at = db::to_nanos(d.updated_at)?;
    let metadata = d
        .metadata
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Internal(format!("metadata: {e}")))?;

    let status = d.status().to_string();
    let score = d.face_match.score.map(i64::from);

    store.write(|c| {
        let session_number: Option<i64> = c.query_row(
            "UPDATE api_keys SET sessions_made = sessions_made + 1 WHERE id = ?1 \
             RETURNING sessions_made",
            args![&d.key_id],
            |r| r.get(0),
        )?;
        let Some(session_number) = session_number else {
            return Err(StoreError::NotFound(format!("key {}", d.key_id)));
        };
        // ON CONFLICT, not a caught error: on PostgreSQL an error would end the transaction.
        let res = c.execute(
            "INSERT INTO decisions (request_id, key_id, status, score, decline_threshold, \
             review_threshold, warnings, face_match, vendor_data, created_at, updated_at, \
             metadata, session_number) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT DO NOTHING",
            args![
                &d.request_id,
                &d.key_id,
                &status,
                score,
                d.decline_threshold,
                d.review_threshold,
                &warnings,
                &face_match,
                d.vendor_data.as_deref(),
                created_at,
                updated_at,
                metadata.as_deref(),
                session_number
            ],
        );
        match res {
            Ok(0) => {
                // The refused save takes no number: the transaction is rolled back.
                return Err(StoreError::Conflict(format!(
                    "request {} is already saved",
                    d.request_id
                )));
            }
            Ok(_) => {}
            // The key exists (its counter was just updated), so this cannot happen short of a
            // concurrent deletion; named all the same, and the transaction ends here.
            Err(e) if db::store_violation(&e) == Some(Violation::ForeignKey) => {
                return Err(StoreError::NotFound(format!("key {}", d.key_id)));
            }
            Err(e) => return Err(e),
        }
        for change in &d.history {
            insert_history(c, &d.request_id, change)?;
        }
        crate::webhooks::enqueue_status_event(
            c,
            &SavedDecision {
                session_number,
                ..d.clone()
            },
            d.updated_at,
        )?;
        // The commit is the durability point: after it returns, the row is on disk (SQLite's
        // WAL, PostgreSQL's).
        Ok(session_number)
    })
}

pub(crate) fn get_decision(
    store: &Store,
    request_id: &str,
    key_id: &str,
) -> Result<Option<DecisionView>, StoreError> {
    store.run(|c| find(c, request_id, key_id))
}

pub(crate) fn review_queue(
    store: &Store,
    key_id: &str,
    limit: usize,
    offset: usize,
) -> Result<Vec<SavedDecision>, StoreError> {
    // Both databases take signed 64-bit limits; anything larger means "all" anyway.
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let in_review = Status::InReview.to_string();
    store.run(|c| {
        let mut out = c.query_map(
            &format!(
                "SELECT {DECISION_COLUMNS} FROM decisions WHERE key_id = ?1 AND status = ?2 \
                 ORDER BY created_at, request_id LIMIT ?3 OFFSET ?4"
            ),
            args![key_id, &in_review, limit, offset],
            decision_from_row,
        )?;
        // Nothing leads back to `In Review` (crate::review), so these have no history unless
        // saved with one; each read is bounded all the same.
        for d in &mut out {
            d.history = load_history(c, &d.request_id)?.0;
        }
        Ok(out)
    })
}

pub(crate) fn update_status(
    store: &Store,
    request_id: &str,
    key_id: &str,
    new_status: ReviewStatus,
    comment: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<StatusUpdate>, ReviewError> {
    let review = Review {
        new_status,
        comment,
        reviewer: None,
        now,
    };
    // One transaction that behaves as if it ran alone (SQLite: the write lock held from the
    // count to the commit; PostgreSQL: SERIALIZABLE, run again on a conflict), so two updates
    // (in this process, another, or another replica) cannot both see room for one more entry,
    // nor both change the same status: the second one sees the first's.
    store.write(|c| match find(c, request_id, key_id)? {
        Some(view) => apply_review(c, view.decision, &review).map(Some),
        None => Ok(None),
    })
}

/// A status change asked for, by the API or the console.
pub(crate) struct Review<'a> {
    pub(crate) new_status: ReviewStatus,
    pub(crate) comment: Option<&'a str>,
    /// The console user's e-mail; `None` for an API key.
    pub(crate) reviewer: Option<&'a str>,
    pub(crate) now: OffsetDateTime,
}

/// Applies `review` to `d` (read in the same transaction): the status, a history entry, the
/// `status.updated` event, and the end of its review images (a decided case needs them no more).
pub(crate) fn apply_review(
    c: &mut dyn Conn,
    mut d: SavedDecision,
    review: &Review<'_>,
) -> Result<StatusUpdate, ReviewError> {
    if !is_a_change(d.status(), review.new_status) {
        // Didit's rule: the status the decision already has changes nothing — no history
        // entry, no event. The transaction ends unwritten.
        return Ok(StatusUpdate::Unchanged(d));
    }
    if history_len(c, &d.request_id)? >= MAX_HISTORY {
        return Err(ReviewError::HistoryFull { limit: MAX_HISTORY });
    }
    let now = review.now;
    let change = StatusChange {
        from: d.status(),
        to: review.new_status.into(),
        comment: review.comment.map(str::to_owned),
        at: now,
        reviewer: review.reviewer.map(str::to_owned),
    };
    // The returned face_match object carries the decision's status, so a later GET shows
    // the reviewer's verdict, not the original one.
    d.face_match.status = change.to;
    d.updated_at = now;
    c.execute(
        "UPDATE decisions SET status = ?3, face_match = ?4, updated_at = ?5 \
         WHERE request_id = ?1 AND key_id = ?2",
        args![
            &d.request_id,
            &d.key_id,
            &change.to.to_string(),
            &face_match_json(&d.face_match)?,
            db::to_nanos(now)?
        ],
    )?;
    insert_history(c, &d.request_id, &change)?;
    c.execute(
        "DELETE FROM review_images WHERE request_id = ?1",
        args![&d.request_id],
    )?;
    d.history.push(change);
    crate::webhooks::enqueue_status_event(c, &d, now)?;
    Ok(StatusUpdate::Changed(d))
}

#[cfg(test)]
mod history_tests;

#[cfg(test)]
mod migration_tests;

#[cfg(test)]
mod tests;
