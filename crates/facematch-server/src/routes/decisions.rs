//! Saved decisions: retrieval by request id, the review queue (beyond the contract) and
//! a reviewer's status update. Every query is scoped to the calling key: another key's
//! decision is a 404, indistinguishable from one that does not exist.
//!
//! Bounded against a flood of status updates (issue 10): the transitions a reviewer may
//! make are one table ([`facematch_store::transition_allowed`]), a decision keeps at
//! most [`facematch_store::MAX_HISTORY`] (50) status changes, writes are rate-limited
//! per key (`--review-writes-per-minute`), and every read returns at most that many
//! history entries (a bounded SQL read), so no answer and no hold of the database lock
//! grows with what a client wrote.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::Json;
use facematch_core::{FaceMatch, Status};
use facematch_store::{DecisionView, ReviewError, ReviewStatus, SavedDecision, StatusChange};
use serde::{Deserialize, Serialize, Serializer};

use crate::auth::ApiKey;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::middleware::record_request_id;
use crate::openapi::{BadKey, NoSuchDecision};
use crate::state::AppState;

/// A saved face-match decision (never the images).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionResponse {
    /// The request id returned by the face match.
    pub request_id: String,
    /// `Approved`, `Declined` or `In Review` (after a review: the reviewer's decision).
    #[schema(value_type = String)]
    pub status: Status,
    /// Score 0–100, or null when no pair of faces could be compared.
    pub score: Option<i64>,
    /// Decline threshold used.
    pub decline_threshold: f64,
    /// Review threshold used, if any.
    pub review_threshold: Option<f64>,
    /// The `face_match` object as returned (its status follows reviews).
    #[serde(serialize_with = "keys_in_alphabetical_order")]
    pub face_match: FaceMatch,
    /// The client's `vendor_data`.
    pub vendor_data: Option<String>,
    /// When the request was made (RFC 3339, microseconds).
    pub created_at: String,
    /// When the decision last changed.
    pub updated_at: String,
    /// Reviewers' status changes, oldest first: at most the newest 50.
    pub history: Vec<HistoryEntry>,
    /// Present (and `true`) only when older status changes than those in `history`
    /// exist; only a database written before the 50-change cap can hold them.
    #[serde(skip_serializing_if = "is_false")]
    pub history_truncated: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One reviewer's status change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// Status before.
    #[schema(value_type = String)]
    pub from: Status,
    /// Status after.
    #[schema(value_type = String)]
    pub to: Status,
    /// The reviewer's note.
    pub comment: Option<String>,
    /// When (RFC 3339, microseconds).
    pub at: String,
}

/// A saved decision's `face_match` has always been answered with its keys in alphabetical
/// order (it used to be kept as a JSON value); it still is, so the answer stays byte for byte
/// the same.
fn keys_in_alphabetical_order<S: Serializer>(
    face_match: &FaceMatch,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde_json::to_value(face_match)
        .map_err(serde::ser::Error::custom)?
        .serialize(serializer)
}

impl From<SavedDecision> for DecisionResponse {
    fn from(d: SavedDecision) -> Self {
        Self {
            request_id: d.request_id,
            status: d.face_match.status,
            score: d.face_match.score.map(i64::from),
            decline_threshold: d.decline_threshold,
            review_threshold: d.review_threshold,
            face_match: d.face_match,
            vendor_data: d.vendor_data,
            created_at: facematch_core::rfc3339_micros(d.created_at),
            updated_at: facematch_core::rfc3339_micros(d.updated_at),
            history: d.history.into_iter().map(HistoryEntry::from).collect(),
            history_truncated: false,
        }
    }
}

impl From<DecisionView> for DecisionResponse {
    fn from(v: DecisionView) -> Self {
        Self {
            history_truncated: v.history_truncated,
            ..v.decision.into()
        }
    }
}

/// A refused status update: an unknown decision is the usual 404, a refusal of the
/// transition table or the history cap a 409 with its own code.
impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::InvalidTransition { from, to } => ApiError::InvalidTransition { from, to },
            ReviewError::HistoryFull { limit } => ApiError::HistoryFull { limit },
            ReviewError::Store(e) => e.into(),
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

/// The 404 of every decision route: unknown, deleted, or another key's.
pub(crate) fn not_found() -> ApiError {
    ApiError::NotFound("no saved decision with this request id for this API key".into())
}

/// The `{request_id}` of a decision route, parsed before the body is read (an id that
/// cannot name a decision is a 404, whatever the body) and recorded on the request's
/// span.
#[derive(Debug, Clone)]
pub struct DecisionId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for DecisionId {
    /// An id that cannot name a decision — a path segment that is not UTF-8 (`%FF`), or
    /// anything that is not a UUID — is an [`ApiError::NotFound`] in the contract's JSON
    /// shape, never axum's plain-text rejection.
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        let id = request_id(&raw)?;
        record_request_id(&id);
        Ok(Self(id))
    }
}

/// The saved decision of a face match made with this key.
#[utoipa::path(
    get,
    path = "/v3/session/{request_id}/decision/",
    tag = "decisions",
    params(("request_id" = String, Path, description = "The face match's request_id")),
    responses(
        (status = 200, description = "The saved decision", body = DecisionResponse),
        BadKey,
        NoSuchDecision,
    ),
    security(("api_key" = []))
)]
pub async fn get_decision(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    DecisionId(id): DecisionId,
) -> Result<Json<DecisionResponse>, ApiError> {
    let found = state
        .with_store(move |store| store.decision_view(&id, &key.id))
        .await?;
    found.map(|d| Json(d.into())).ok_or_else(not_found)
}

/// Paging of the review queue.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Page {
    /// At most this many (1–100, default 50).
    pub limit: Option<usize>,
    /// Skip this many (0–10000, default 0).
    pub offset: Option<usize>,
}

/// Largest `offset` of the review queue: SQLite steps over skipped rows one by one, so an
/// unbounded offset would be a long hold of the database lock. Reviewing a decision takes
/// it out of the queue, so a reviewer pages from the start.
pub const MAX_QUEUE_OFFSET: usize = 10_000;

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
        BadKey,
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
    if offset > MAX_QUEUE_OFFSET {
        return Err(ApiError::InvalidField {
            field: "offset",
            reason: format!("must be from 0 to {MAX_QUEUE_OFFSET}"),
        });
    }
    let results = state
        .with_store(move |store| store.review_queue(&key.id, limit, offset))
        .await?;
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
///
/// Allowed: `In Review` → `Approved` | `Declined`, and `Approved` ↔ `Declined` (a
/// reviewer corrects a verdict). The status the decision already has is refused (409
/// `invalid_transition`); nothing leads back to `In Review`. A decision keeps at most 50
/// status changes; beyond, 409 `history_full` and nothing is written. Writes are limited
/// per key (`--review-writes-per-minute`, default 60, bursts of 10): beyond, 429 with
/// Retry-After, before the database is touched.
#[utoipa::path(
    patch,
    path = "/v3/session/{request_id}/update-status/",
    tag = "decisions",
    params(("request_id" = String, Path, description = "The face match's request_id")),
    request_body = UpdateStatusRequest,
    responses(
        (status = 200, description = "The updated decision", body = DecisionResponse),
        (status = 400, description = "Bad new_status or comment", body = ErrorBody),
        BadKey,
        NoSuchDecision,
        (status = 409, description = "invalid_transition: the decision already has this status; history_full: it has 50 status changes, the most kept", body = ErrorBody),
        (status = 429, description = "Too many review writes for this key; see Retry-After", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn update_status(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    DecisionId(id): DecisionId,
    ApiJson(body): ApiJson<UpdateStatusRequest>,
) -> Result<Json<DecisionResponse>, ApiError> {
    state.check_review_rate(&key.id)?;
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
    let now = time::OffsetDateTime::now_utc();
    let updated = state
        .with_store(move |store| {
            store.update_status(&id, &key.id, new_status, body.comment.as_deref(), now)
        })
        .await?;
    updated.map(|d| Json(d.into())).ok_or_else(not_found)
}

#[cfg(test)]
mod tests;
