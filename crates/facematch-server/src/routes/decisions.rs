//! Saved decisions: retrieval by request id, the review queue (beyond the contract) and
//! a reviewer's status update. Every query is scoped to the calling key: another key's
//! decision is a 404, indistinguishable from one that does not exist.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use facematch_core::FaceMatch;
use facematch_store::{ReviewStatus, SavedDecision, StatusChange};
use serde::{Deserialize, Serialize};

use crate::auth::ApiKey;
use crate::error::{ApiError, ErrorBody};
use crate::routes::json_error;
use crate::state::{blocking, AppState};

/// A saved face-match decision (never the images).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionResponse {
    /// The request id returned by the face match.
    pub request_id: String,
    /// `Approved`, `Declined` or `In Review` (after a review: the reviewer's decision).
    pub status: String,
    /// Score 0–100, or null when no pair of faces could be compared.
    pub score: Option<i64>,
    /// Decline threshold used.
    pub decline_threshold: f64,
    /// Review threshold used, if any.
    pub review_threshold: Option<f64>,
    /// The `face_match` object as returned (its status follows reviews).
    #[schema(value_type = FaceMatch)]
    pub face_match: serde_json::Value,
    /// The client's `vendor_data`.
    pub vendor_data: Option<String>,
    /// When the request was made (RFC 3339, microseconds).
    pub created_at: String,
    /// When the decision last changed.
    pub updated_at: String,
    /// Reviewers' status changes, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// One reviewer's status change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// Status before.
    pub from: String,
    /// Status after.
    pub to: String,
    /// The reviewer's note.
    pub comment: Option<String>,
    /// When (RFC 3339, microseconds).
    pub at: String,
}

impl From<SavedDecision> for DecisionResponse {
    fn from(d: SavedDecision) -> Self {
        Self {
            request_id: d.request_id,
            status: d.status,
            score: d.score,
            decline_threshold: d.decline_threshold,
            review_threshold: d.review_threshold,
            face_match: d.face_match,
            vendor_data: d.vendor_data,
            created_at: facematch_core::rfc3339_micros(d.created_at),
            updated_at: facematch_core::rfc3339_micros(d.updated_at),
            history: d.history.into_iter().map(HistoryEntry::from).collect(),
        }
    }
}

impl From<StatusChange> for HistoryEntry {
    fn from(c: StatusChange) -> Self {
        Self {
            from: c.from,
            to: c.to,
            comment: c.comment,
            at: facematch_core::rfc3339_micros(c.at),
        }
    }
}

/// Only well-formed UUIDs can name a decision; anything else is a 404 without a query.
fn request_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| not_found())
}

fn not_found() -> ApiError {
    ApiError::NotFound("no saved decision with this request id for this API key".into())
}

/// The saved decision of a face match made with this key.
#[utoipa::path(
    get,
    path = "/v3/session/{request_id}/decision/",
    tag = "decisions",
    params(("request_id" = String, Path, description = "The face match's request_id")),
    responses(
        (status = 200, description = "The saved decision", body = DecisionResponse),
        (status = 401, description = "Bad key", body = ErrorBody),
        (status = 404, description = "Unknown, not saved, or another key's", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get_decision(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(raw_id): Path<String>,
) -> Result<Json<DecisionResponse>, ApiError> {
    let id = request_id(&raw_id)?;
    let store = state.store().clone();
    let found = blocking(move || store.get_decision(&id, &key.id))
        .await?
        .map_err(ApiError::internal)?;
    found.map(|d| Json(d.into())).ok_or_else(not_found)
}

/// Paging of the review queue.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Page {
    /// At most this many (1–100, default 50).
    pub limit: Option<usize>,
    /// Skip this many (default 0).
    pub offset: Option<usize>,
}

/// A page of the review queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewQueue {
    /// Decisions `In Review`, oldest first.
    pub results: Vec<DecisionResponse>,
    /// The page size used.
    pub limit: usize,
    /// The offset used.
    pub offset: usize,
}

/// Beyond the contract: this key's saved decisions waiting for review.
#[utoipa::path(
    get,
    path = "/v3/review-queue/",
    tag = "decisions",
    params(Page),
    responses(
        (status = 200, description = "Decisions In Review, oldest first", body = ReviewQueue),
        (status = 400, description = "Bad paging", body = ErrorBody),
        (status = 401, description = "Bad key", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn review_queue(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<ReviewQueue>, ApiError> {
    let Query(page) = page.map_err(|e| ApiError::InvalidField {
        field: "limit/offset",
        reason: e.body_text(),
    })?;
    let limit = page.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::InvalidField {
            field: "limit",
            reason: "must be from 1 to 100".into(),
        });
    }
    let offset = page.offset.unwrap_or(0);
    let store = state.store().clone();
    let results = blocking(move || store.review_queue(&key.id, limit, offset))
        .await?
        .map_err(ApiError::internal)?;
    Ok(Json(ReviewQueue {
        results: results.into_iter().map(DecisionResponse::from).collect(),
        limit,
        offset,
    }))
}

/// A reviewer's decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UpdateStatusRequest {
    /// `Approved` or `Declined`.
    #[schema(example = "Approved")]
    pub new_status: String,
    /// A note for the history (at most 1,000 characters).
    pub comment: Option<String>,
}

/// Approve or decline a saved decision; the change is appended to its history.
#[utoipa::path(
    patch,
    path = "/v3/session/{request_id}/update-status/",
    tag = "decisions",
    params(("request_id" = String, Path, description = "The face match's request_id")),
    request_body = UpdateStatusRequest,
    responses(
        (status = 200, description = "The updated decision", body = DecisionResponse),
        (status = 400, description = "Bad new_status or comment", body = ErrorBody),
        (status = 401, description = "Bad key", body = ErrorBody),
        (status = 404, description = "Unknown, not saved, or another key's", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn update_status(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(raw_id): Path<String>,
    body: Result<Json<UpdateStatusRequest>, JsonRejection>,
) -> Result<Json<DecisionResponse>, ApiError> {
    let id = request_id(&raw_id)?;
    let Json(body) = body.map_err(json_error)?;
    let new_status: ReviewStatus = body
        .new_status
        .parse()
        .map_err(|_| ApiError::InvalidField {
            field: "new_status",
            reason: format!(
                "must be \"Approved\" or \"Declined\", got {:?}",
                body.new_status
            ),
        })?;
    if body
        .comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > 1000)
    {
        return Err(ApiError::InvalidField {
            field: "comment",
            reason: "at most 1000 characters".into(),
        });
    }
    let store = state.store().clone();
    let now = time::OffsetDateTime::now_utc();
    let updated = blocking(move || {
        store.update_status(&id, &key.id, new_status, body.comment.as_deref(), now)
    })
    .await?
    .map_err(ApiError::internal)?;
    updated.map(|d| Json(d.into())).ok_or_else(not_found)
}
