//! Saved decisions in Didit's session shapes: retrieval (`GET /v3/session/{id}/decision/`,
//! the body of [`crate::didit`]), the review queue (beyond Didit) and Didit's status update
//! (`PATCH /v3/session/{id}/update-status/`). Every query is scoped to the calling key:
//! another key's decision is a 404, indistinguishable from one that does not exist.
//!
//! Bounded against a flood of status updates (issue 10): setting the status a decision
//! already has writes nothing ([`facematch_store::is_a_change`]), a decision keeps at most
//! [`facematch_store::MAX_HISTORY`] (50) status changes, writes are rate-limited per key
//! (`--review-writes-per-minute`), and every read returns at most that many history entries
//! (a bounded SQL read), so no answer and no hold of the database lock grows with what a
//! client wrote.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::Json;
use facematch_store::{ReviewError, ReviewStatus};
use serde::{Deserialize, Serialize};

use crate::auth::ApiKey;
use crate::didit::{SessionDecision, UpdateStatusResponse};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::middleware::record_request_id;
use crate::openapi::{BadKey, NoSuchDecision};
use crate::state::AppState;

/// Longest `comment` of a status update, in characters: Didit's limit.
pub const MAX_COMMENT_CHARS: usize = 10_000;

/// A refused status update: an unknown decision is the usual 404, the history cap a 409
/// `history_full`.
impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::HistoryFull { limit } => ApiError::HistoryFull { limit },
            ReviewError::Store(e) => e.into(),
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

/// The saved decision of a face match made with this key, as Didit's v3 session decision.
///
/// A standalone face match is a single-feature session: `features` is `["FACE_MATCH"]`,
/// `face_matches` holds its one report, every other feature array is null, and the image
/// URLs are null (images are never stored). Beyond Didit: `updated_at`,
/// `reviews_truncated`, and in the report the thresholds used and the faces found.
#[utoipa::path(
    get,
    path = "/v3/session/{request_id}/decision/",
    tag = "decisions",
    params(("request_id" = String, Path, description = "The face match's request_id (Didit's session id)")),
    responses(
        (status = 200, description = "The saved decision, as Didit's session decision", body = SessionDecision),
        BadKey,
        NoSuchDecision,
        (status = 429, description = "Too many session reads for this key (`--session-reads-per-minute`); see Retry-After and X-RateLimit-*", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get_decision(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    DecisionId(id): DecisionId,
) -> Result<Json<SessionDecision>, ApiError> {
    state.check_read_rate(&key.id)?;
    let found = state
        .with_store(move |store| store.decision_view(&id, &key.id))
        .await?;
    found
        .map(|d| Json(SessionDecision::from(&d)))
        .ok_or_else(not_found)
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
    /// Decisions `In Review`, oldest first, as Didit's session decisions.
    pub results: Vec<SessionDecision>,
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
        results: results.iter().map(SessionDecision::from).collect(),
        limit,
        offset,
    }))
}

/// Didit's update-status body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UpdateStatusRequest {
    /// `Approved` or `Declined`. `Resubmitted` is refused (a standalone face match has no
    /// user flow to send back to), and so is anything else, `In Review` included.
    #[schema(example = "Approved")]
    pub new_status: String,
    /// A note for the decision's `reviews` (at most 10,000 characters, Didit's limit).
    pub comment: Option<String>,
    /// Only `false` (or absent): this server sends no e-mail to end users, so `true` is
    /// refused.
    pub send_email: Option<bool>,
    /// Accepted and ignored (only used by Didit with `send_email`).
    pub email_address: Option<String>,
    /// Accepted and ignored (only used by Didit with `send_email`).
    pub email_language: Option<String>,
    /// Accepted and ignored (only used by Didit with `Resubmitted`).
    #[schema(value_type = Option<Vec<Object>>)]
    pub nodes_to_resubmit: Option<Vec<serde_json::Value>>,
}

impl UpdateStatusRequest {
    /// The verdict asked for, or the 400 that names what is wrong with the body.
    fn verdict(&self) -> Result<ReviewStatus, ApiError> {
        if self.new_status == "Resubmitted" {
            return Err(ApiError::InvalidField {
                field: "new_status",
                reason: "a standalone face match cannot be resubmitted: it has no user flow \
                         to send back to; send \"Approved\" or \"Declined\""
                    .into(),
            });
        }
        let verdict = self
            .new_status
            .parse()
            .map_err(|_| ApiError::InvalidField {
                field: "new_status",
                reason: format!(
                    "must be \"Approved\" or \"Declined\", got {:?}",
                    self.new_status
                ),
            })?;
        if self
            .comment
            .as_ref()
            .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
        {
            return Err(ApiError::InvalidField {
                field: "comment",
                reason: format!("at most {MAX_COMMENT_CHARS} characters"),
            });
        }
        if self.send_email == Some(true) {
            return Err(ApiError::InvalidField {
                field: "send_email",
                reason: "not supported: this server sends no e-mail to end users; send \
                         false or leave it out"
                    .into(),
            });
        }
        Ok(verdict)
    }
}

/// Approve or decline a saved decision, as Didit's update-status: the answer is the
/// session id.
///
/// `Approved` or `Declined`, from `In Review` or to correct a verdict; the change is
/// appended to the decision's `reviews` (and a `status.updated` event is queued). The
/// status the decision already has is a 200 that changes nothing: no review entry, no
/// event (Didit's rule). `Resubmitted`, `In Review` or anything else is a 400, and so is
/// `send_email: true` (no e-mail is sent to end users); `email_address`,
/// `email_language` and `nodes_to_resubmit` are accepted and ignored, and so are unknown
/// fields. A decision keeps at most 50 status changes; beyond, 409 `history_full` and
/// nothing is written. Writes are limited per key (`--review-writes-per-minute`, default
/// 60, bursts of 10): beyond, 429 with Retry-After, before the database is touched.
#[utoipa::path(
    patch,
    path = "/v3/session/{request_id}/update-status/",
    tag = "decisions",
    params(("request_id" = String, Path, description = "The face match's request_id (Didit's session id)")),
    request_body = UpdateStatusRequest,
    responses(
        (status = 200, description = "Updated, or already had this status (nothing written)", body = UpdateStatusResponse),
        (status = 400, description = "Bad new_status (Resubmitted, In Review, other), comment over 10,000 characters, or send_email true", body = ErrorBody),
        BadKey,
        NoSuchDecision,
        (status = 409, description = "history_full: the decision has 50 status changes, the most kept", body = ErrorBody),
        (status = 429, description = "Too many review writes for this key; see Retry-After", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn update_status(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    DecisionId(id): DecisionId,
    ApiJson(body): ApiJson<UpdateStatusRequest>,
) -> Result<Json<UpdateStatusResponse>, ApiError> {
    state.check_review_rate(&key.id)?;
    let new_status = body.verdict()?;
    let now = time::OffsetDateTime::now_utc();
    let updated = state
        .with_store(move |store| {
            store.update_status(&id, &key.id, new_status, body.comment.as_deref(), now)
        })
        .await?;
    state.webhooks().wake(); // a changed status put a status.updated event in the outbox
    updated
        .map(|u| {
            Json(UpdateStatusResponse {
                session_id: u.into_decision().request_id,
            })
        })
        .ok_or_else(not_found)
}

#[cfg(test)]
mod tests;
