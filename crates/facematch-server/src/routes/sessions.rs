//! Didit's session list, `GET /v3/sessions/`: the calling key's saved face matches as
//! sessions, filtered, newest first by session number, in DRF's `{count, next, previous,
//! results}` pages. `/v3/sessions` without the slash is a 301 to it, query kept.
//!
//! Each row is Didit's list row (its fields in its order). A face match has no hosted
//! flow, portrait, document, name, country, phone or e-mail: those are `null`. Beyond
//! Didit's row: `metadata`. Didit's `didit_internal_id` is left out.

mod query;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use facematch_core::Status;
use facematch_store::{SessionPage, SessionSummary};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::ApiKey;
use crate::error::{ApiError, ErrorBody};
use crate::openapi::BadKey;
use crate::state::AppState;

pub use query::{ListQuery, DEFAULT_LIMIT, MAX_QUERY_BYTES};

/// One page of sessions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionList {
    /// How many sessions match the filters in all (exact).
    pub count: u64,
    /// The next page: this query with the next `offset`, as a path relative to the
    /// server (`/v3/sessions/?…`); null on the last page, and where the next offset
    /// would pass 10,000.
    pub next: Option<String>,
    /// The previous page, relative to the server like `next`; null on the first.
    pub previous: Option<String>,
    /// This page's sessions, newest first (highest `session_number` first).
    pub results: Vec<SessionRow>,
}

/// A saved face match as a row of Didit's session list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionRow {
    /// The face match's `request_id`.
    pub session_id: String,
    /// Always `user`.
    #[schema(example = "user")]
    pub session_kind: &'static str,
    /// The key's counter: 1, 2, 3, … in the order saved, never reused.
    pub session_number: i64,
    /// Always null: a face match has no hosted flow.
    #[schema(value_type = Option<String>)]
    pub session_url: Option<String>,
    /// Always null: images are never stored.
    #[schema(value_type = Option<String>)]
    pub portrait_image: Option<String>,
    /// Always null: no document is read.
    #[schema(value_type = Option<String>)]
    pub document_type: Option<String>,
    /// Always null.
    #[schema(value_type = Option<String>)]
    pub full_name: Option<String>,
    /// Always null.
    #[schema(value_type = Option<String>)]
    pub country: Option<String>,
    /// `Approved`, `Declined` or `In Review` (after a review: the reviewer's).
    #[schema(value_type = String)]
    pub status: Status,
    /// The client's `vendor_data`.
    pub vendor_data: Option<String>,
    /// The client's `metadata` (beyond Didit's row).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// When the face match was made (RFC 3339, UTC, microseconds).
    pub created_at: String,
    /// One: `FACE_MATCH` with the session's status.
    pub features: Vec<FeatureStatus>,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub phone_number: Option<Value>,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub email_address: Option<Value>,
    /// The face match's score.
    pub additional_details: AdditionalDetails,
}

/// A feature of a session and its status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeatureStatus {
    /// `FACE_MATCH`.
    #[schema(example = "FACE_MATCH")]
    pub feature: &'static str,
    /// The face match's status.
    #[schema(value_type = String)]
    pub status: Status,
}

/// Per-feature details of a list row.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdditionalDetails {
    /// The face match.
    pub face_match: FaceMatchDetails,
}

/// The face match's detail in a list row.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FaceMatchDetails {
    /// The score as a fraction, 0 to 1 (the face match's 0–100 score / 100, as Didit's
    /// list shows it); null when no pair of faces could be compared.
    pub score: Option<f64>,
}

impl From<SessionSummary> for SessionRow {
    fn from(s: SessionSummary) -> Self {
        SessionRow {
            session_id: s.request_id,
            session_kind: "user",
            session_number: s.session_number,
            session_url: None,
            portrait_image: None,
            document_type: None,
            full_name: None,
            country: None,
            status: s.status,
            vendor_data: s.vendor_data,
            metadata: s.metadata,
            created_at: facematch_core::rfc3339_micros(s.created_at),
            features: vec![FeatureStatus {
                feature: "FACE_MATCH",
                status: s.status,
            }],
            phone_number: None,
            email_address: None,
            additional_details: AdditionalDetails {
                face_match: FaceMatchDetails {
                    score: s.score.map(|n| n as f64 / 100.0),
                },
            },
        }
    }
}

/// The query parameters (documentation only: the handler reads the raw query).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Comma-separated statuses: `Approved`, `Declined`, `In Review`, or Didit's
    /// `APPROVED`, `DECLINED`, `IN_REVIEW` (any case). Didit's other statuses (`Not
    /// Started`, `In Progress`, `Abandoned`, `Expired`, …) are accepted and match no face
    /// match; anything else is a 400.
    pub status: Option<String>,
    /// Exact `vendor_data` (at most 1,000 characters).
    pub vendor_data: Option<String>,
    /// Made at or after: an ISO 8601 date (`2026-06-01`, midnight UTC) or an RFC 3339
    /// date-time (send `+` as `%2B`).
    pub date_from: Option<String>,
    /// Made at or before: a date (that whole UTC day included) or an RFC 3339 date-time.
    /// Before `date_from`: 400.
    pub date_to: Option<String>,
    /// Text contained in `vendor_data` (at most 100 characters; ASCII letters compared
    /// case-insensitively; `%` and `_` are plain characters).
    pub search: Option<String>,
    /// `user` (default) or `all`: every face match; `business`: none.
    pub session_kind: Option<String>,
    /// A UUID; face matches run in no workflow, so any value matches none.
    pub workflow_id: Option<String>,
    /// An ISO 3166 code; face matches read no document, so any value matches none.
    pub country: Option<String>,
    /// Page size, 1 to 100 (default 50).
    pub limit: Option<usize>,
    /// Rows to skip, 0 to 10,000 (default 0).
    pub offset: Option<usize>,
}

/// List this key's saved face matches as Didit's sessions, newest first.
///
/// Filters combine with AND; an empty value is as if absent; parameters not listed are
/// ignored. Only the calling key's sessions are listed. The query string is at most
/// 8 KiB; a repeated parameter is a 400.
#[utoipa::path(
    get,
    path = "/v3/sessions/",
    tag = "decisions",
    params(ListParams),
    responses(
        (status = 200, description = "One page of sessions", body = SessionList),
        (status = 400, description = "A bad filter or paging value; `detail` names the parameter", body = ErrorBody),
        BadKey,
        (status = 429, description = "Too many session reads for this key (`--session-reads-per-minute`); see Retry-After and X-RateLimit-*", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    RawQuery(raw): RawQuery,
) -> Result<Json<SessionList>, ApiError> {
    state.check_read_rate(&key.id)?;
    let query = ListQuery::parse(raw.as_deref())?;
    let page = if query.matches_nothing {
        SessionPage {
            count: 0,
            sessions: Vec::new(),
        }
    } else {
        let (filter, limit, offset) = (query.filter.clone(), query.limit, query.offset);
        state
            .with_store(move |store| store.list_sessions(&key.id, &filter, limit, offset))
            .await?
    };
    Ok(Json(SessionList {
        count: page.count,
        next: query.next(page.count),
        previous: query.previous(),
        results: page.sessions.into_iter().map(SessionRow::from).collect(),
    }))
}

/// `/v3/sessions` → 301 to `/v3/sessions/`, the query kept (as Didit answers).
pub async fn redirect_to_slash(RawQuery(raw): RawQuery) -> Response {
    let location = match raw {
        Some(q) => format!("/v3/sessions/?{q}"),
        None => "/v3/sessions/".to_owned(),
    };
    match HeaderValue::try_from(location) {
        Ok(location) => (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => ApiError::InvalidField {
            field: "query",
            reason: "not a valid query string".into(),
        }
        .into_response(),
    }
}
