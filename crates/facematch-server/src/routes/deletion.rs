//! Deleting saved decisions, in Didit's shapes: one (`DELETE /v3/session/{id}/delete/`,
//! 204) or a batch (`POST /v3/sessions/delete/`, 200 with one result per id). Scoped to the
//! calling key like every decision route: another key's decision is "not found" and left
//! untouched. Both count against the key's review-write rate (`--review-writes-per-minute`),
//! since each takes the database's write lock; a batch names at most
//! [`MAX_DELETE_IDS`] decisions (one bounded transaction).
//!
//! The batch names sessions as Didit's does, by the key's `session_numbers` (strings of
//! digits, or integers), and also by request id (`session_ids`). Differences from Didit,
//! on purpose: `delete_all` is refused (400: name the sessions); Didit answers 202 with a
//! job beyond 20 sessions, while a bounded batch here is always done at once (200).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use facematch_store::{DeletedSession, SessionRef, MAX_DELETE_IDS};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::ApiKey;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::openapi::{BadKey, NoSuchDecision};
use crate::routes::decisions::{not_found, DecisionId};
use crate::state::AppState;

/// Delete a saved decision of this key and its review history. There is no undo: then
/// every decision route answers 404 for it, and so does a repeated delete. Counts as a
/// review write (`--review-writes-per-minute`; 429 with Retry-After beyond).
#[utoipa::path(
    delete,
    path = "/v3/session/{request_id}/delete/",
    tag = "decisions",
    params(("request_id" = String, Path, description = "The face match's request_id")),
    responses(
        (status = 204, description = "Deleted, with its history; empty body"),
        BadKey,
        NoSuchDecision,
        (status = 429, description = "Too many review writes for this key; see Retry-After", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn delete_decision(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    DecisionId(id): DecisionId,
) -> Result<StatusCode, ApiError> {
    state.check_review_rate(&key.id)?;
    let deleted = state
        .with_store(move |store| store.delete_decision(&id, &key.id))
        .await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// The decisions to delete: by session number, by request id, or both (1 to 100 in all).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchDeleteRequest {
    /// Request ids (UUIDs) of this key's decisions.
    #[serde(default)]
    pub session_ids: Vec<String>,
    /// This key's session numbers, as Didit's: strings of digits (`"1001"`) or integers.
    #[serde(default)]
    #[schema(value_type = Vec<String>, example = json!(["1001", "1002"]))]
    pub session_numbers: Vec<Value>,
    /// Didit deletes every session with `true`; refused here (400): name the sessions.
    #[serde(default)]
    pub delete_all: bool,
}

/// What happened to one id of a batch delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The decision and its history were deleted.
    Deleted,
    /// Nothing to delete: unknown, already deleted, another key's, or not a UUID (Didit's
    /// `none`).
    #[serde(rename = "none")]
    NotFound,
}

/// One named session's result: the `session_ids` in the order sent, then the
/// `session_numbers` in the order sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchDeleteResult {
    /// The id as sent; for a number, the request id deleted (null: none).
    pub session_id: Option<String>,
    /// The number sent; for an id, the session number of the decision deleted (null:
    /// none).
    pub session_number: Option<i64>,
    /// `deleted` or `none`.
    pub outcome: Outcome,
}

/// The answer of a batch delete.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchDeleteResponse {
    /// One per session named.
    pub results: Vec<BatchDeleteResult>,
    /// How many were deleted.
    pub deleted: usize,
}

/// A session number as Didit's batch takes it: a string matching `^[0-9]+$`, or a whole
/// number, at most 2^63 − 1.
fn session_number(value: &Value) -> Result<i64, ApiError> {
    let parsed = match value {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i64>().ok()
        }
        Value::Number(n) => n.as_i64().filter(|n| *n >= 0),
        _ => None,
    };
    parsed.ok_or_else(|| ApiError::InvalidField {
        field: "session_numbers",
        reason: "each must be a string of digits or a whole number, at most \
                 9223372036854775807"
            .into(),
    })
}

/// Delete up to 100 saved decisions of this key, with their history, in one transaction.
/// Name them by Didit's `session_numbers` and/or by `session_ids` (request ids). Those
/// that name no decision of this key (unknown, deleted, another key's, an id that is not
/// a UUID) are skipped, as Didit skips them, and reported as `none`. None named, more
/// than 100, a malformed number, or `delete_all: true` (not supported) is a 400 and
/// deletes nothing. One call counts as one review write.
#[utoipa::path(
    post,
    path = "/v3/sessions/delete/",
    tag = "decisions",
    request_body = BatchDeleteRequest,
    responses(
        (status = 200, description = "One result per session named", body = BatchDeleteResponse),
        (status = 400, description = "None named, more than 100, a malformed session number, delete_all, or an unknown field", body = ErrorBody),
        BadKey,
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 429, description = "Too many review writes for this key; see Retry-After", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn delete_batch(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    ApiJson(body): ApiJson<BatchDeleteRequest>,
) -> Result<Json<BatchDeleteResponse>, ApiError> {
    if body.delete_all {
        return Err(ApiError::InvalidField {
            field: "delete_all",
            reason: format!(
                "is not supported; name the sessions in session_numbers (or session_ids), \
                 at most {MAX_DELETE_IDS} per call"
            ),
        });
    }
    let named = body.session_ids.len() + body.session_numbers.len();
    if named == 0 || named > MAX_DELETE_IDS {
        return Err(ApiError::InvalidField {
            field: "session_numbers",
            reason: format!(
                "session_numbers and session_ids together must name 1 to {MAX_DELETE_IDS} \
                 sessions, got {named}"
            ),
        });
    }
    let numbers = body
        .session_numbers
        .iter()
        .map(session_number)
        .collect::<Result<Vec<_>, _>>()?;
    state.check_review_rate(&key.id)?;
    // Only UUIDs can name a decision; the other ids are `none` without a query.
    let ids: Vec<Option<SessionRef>> = body
        .session_ids
        .iter()
        .map(|raw| {
            uuid::Uuid::parse_str(raw)
                .ok()
                .map(|u| SessionRef::RequestId(u.hyphenated().to_string()))
        })
        .collect();
    let refs: Vec<SessionRef> = ids
        .iter()
        .flatten()
        .cloned()
        .chain(numbers.iter().copied().map(SessionRef::Number))
        .collect();
    let mut deleted = state
        .with_store(move |store| store.delete_sessions(&refs, &key.id))
        .await?
        .into_iter();
    let outcome = |d: &Option<DeletedSession>| match d {
        Some(_) => Outcome::Deleted,
        None => Outcome::NotFound,
    };
    let mut results = Vec::with_capacity(named);
    for (session_id, parsed) in body.session_ids.into_iter().zip(ids) {
        let done = parsed.and_then(|_| deleted.next()).flatten();
        results.push(BatchDeleteResult {
            outcome: outcome(&done),
            session_number: done.map(|d| d.session_number),
            session_id: Some(session_id),
        });
    }
    for number in numbers {
        let done = deleted.next().flatten();
        results.push(BatchDeleteResult {
            outcome: outcome(&done),
            session_id: done.map(|d| d.request_id),
            session_number: Some(number),
        });
    }
    let count = results
        .iter()
        .filter(|r| r.outcome == Outcome::Deleted)
        .count();
    Ok(Json(BatchDeleteResponse {
        results,
        deleted: count,
    }))
}
