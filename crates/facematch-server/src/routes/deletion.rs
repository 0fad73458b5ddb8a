//! Deleting saved decisions, in Didit's shapes: one (`DELETE /v3/session/{id}/delete/`,
//! 204) or a batch (`POST /v3/sessions/delete/`, 200 with one result per id). Scoped to the
//! calling key like every decision route: another key's decision is "not found" and left
//! untouched. Both count against the key's review-write rate (`--review-writes-per-minute`),
//! since each takes the database's write lock; a batch names at most
//! [`MAX_DELETE_IDS`] decisions (one bounded transaction).
//!
//! Differences from Didit, on purpose: Didit's batch names sessions by their console
//! `session_numbers`; facematch has no session numbers, so the batch takes the request ids
//! (`session_ids`) — a body with `session_numbers` or `delete_all` is a 400. Didit answers
//! 202 with a job beyond 20 sessions; a bounded batch here is always done at once (200).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use facematch_store::MAX_DELETE_IDS;
use serde::{Deserialize, Serialize};

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

/// The decisions to delete.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchDeleteRequest {
    /// Request ids (UUIDs) of this key's decisions: 1 to 100.
    pub session_ids: Vec<String>,
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

/// One id's result, in the order sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchDeleteResult {
    /// The id as sent.
    pub session_id: String,
    /// `deleted` or `none`.
    pub outcome: Outcome,
}

/// The answer of a batch delete.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchDeleteResponse {
    /// One per id sent, in order.
    pub results: Vec<BatchDeleteResult>,
    /// How many were deleted.
    pub deleted: usize,
}

/// Delete up to 100 saved decisions of this key, with their history, in one transaction.
/// Ids that name no decision of this key (unknown, deleted, another key's, not a UUID)
/// are skipped, as Didit skips them, and reported as `none`. An empty list or more than
/// 100 ids is a 400 and deletes nothing. One call counts as one review write.
#[utoipa::path(
    post,
    path = "/v3/sessions/delete/",
    tag = "decisions",
    request_body = BatchDeleteRequest,
    responses(
        (status = 200, description = "One result per id", body = BatchDeleteResponse),
        (status = 400, description = "No ids, more than 100, or an unknown field", body = ErrorBody),
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
    let sent = body.session_ids;
    if sent.is_empty() || sent.len() > MAX_DELETE_IDS {
        return Err(ApiError::InvalidField {
            field: "session_ids",
            reason: format!("must hold 1 to {MAX_DELETE_IDS} ids, got {}", sent.len()),
        });
    }
    state.check_review_rate(&key.id)?;
    // Only UUIDs can name a decision; the others are `none` without a query.
    let parsed: Vec<Option<String>> = sent
        .iter()
        .map(|raw| {
            uuid::Uuid::parse_str(raw)
                .ok()
                .map(|u| u.hyphenated().to_string())
        })
        .collect();
    let ids: Vec<String> = parsed.iter().flatten().cloned().collect();
    let mut deleted = state
        .with_store(move |store| store.delete_decisions(&ids, &key.id))
        .await?
        .into_iter();
    let results: Vec<BatchDeleteResult> = sent
        .into_iter()
        .zip(parsed)
        .map(|(session_id, id)| {
            let outcome = match id.and_then(|_| deleted.next()) {
                Some(true) => Outcome::Deleted,
                Some(false) | None => Outcome::NotFound,
            };
            BatchDeleteResult {
                session_id,
                outcome,
            }
        })
        .collect();
    let count = results
        .iter()
        .filter(|r| r.outcome == Outcome::Deleted)
        .count();
    Ok(Json(BatchDeleteResponse {
        results,
        deleted: count,
    }))
}
