//! A saved decision in Didit's v3 session shape: the body of
//! `GET /v3/session/{id}/decision/`, of the review queue's pages and of the webhooks'
//! `decision`.
//!
//! A standalone face match is a single-feature, API-type session: `session_kind` is
//! `"user"`, `features` is `["FACE_MATCH"]`, `face_matches` holds its one report and every
//! other feature array is `null` (Didit: "a block is null until the workflow has run that
//! feature"). Fields Didit fills from a hosted flow (`session_url`, `workflow_id`,
//! `expected_details`, `contact_details`, `callback`) are `null`, and so are the image URLs:
//! images are never stored. The keys are written in Didit's order; what we add beyond
//! Didit's documented fields is marked *extension* in each field's documentation.

use facematch_core::{ImageFaces, LogType, Status, Warning, WarningTag};
use facematch_store::{DecisionView, SavedDecision, StatusChange};
use serde::Serialize;

/// The one feature a standalone face match runs, as Didit spells it.
pub const FACE_MATCH_FEATURE: &str = "FACE_MATCH";

/// The `user` of a review made through the API, as Didit names it.
pub const API_CLIENT: &str = "API Client";

/// A JSON object or `null`, as `metadata` is.
type JsonObject = serde_json::Map<String, serde_json::Value>;

/// A saved face match as Didit's v3 session decision (`GET /v3/session/{id}/decision/`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SessionDecision {
    /// The session id: the face match's `request_id`.
    pub session_id: String,
    /// Always `"user"` (Didit's KYC kind; `"business"` is KYB).
    #[schema(example = "user")]
    pub session_kind: &'static str,
    /// Per API key 1, 2, 3, … in the order the face matches were saved, never reused.
    pub session_number: i64,
    /// Always `null`: an API-type session has no hosted flow.
    #[schema(value_type = Option<String>)]
    pub session_url: Option<String>,
    /// `Approved`, `Declined` or `In Review` (after a review: the reviewer's verdict).
    #[schema(value_type = String, example = "Approved")]
    pub status: Status,
    /// Always `"live"`.
    #[schema(example = "live")]
    pub environment: &'static str,
    /// Always `null`: no workflow runs a standalone face match.
    #[schema(value_type = Option<String>)]
    pub workflow_id: Option<String>,
    /// Always `["FACE_MATCH"]`.
    pub features: Vec<&'static str>,
    /// The client's `vendor_data`, or `null`.
    pub vendor_data: Option<String>,
    /// The client's `metadata` object as sent with the face match, or `null`.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<JsonObject>,
    /// Always `null` (a session-creation input).
    #[schema(value_type = Option<Object>)]
    pub expected_details: Option<JsonObject>,
    /// Always `null` (a session-creation input).
    #[schema(value_type = Option<Object>)]
    pub contact_details: Option<JsonObject>,
    /// Always `null` (a session-creation input).
    #[schema(value_type = Option<String>)]
    pub callback: Option<String>,
    /// Always `null`: not run.
    #[schema(value_type = Option<Vec<Object>>)]
    pub id_verifications: Option<Vec<serde_json::Value>>,
    /// Always `null`: not run.
    #[schema(value_type = Option<Vec<Object>>)]
    pub nfc_verifications: Option<Vec<serde_json::Value>>,
    /// Always `null`: not run.
    #[schema(value_type = Option<Vec<Object>>)]
    pub liveness_checks: Option<Vec<serde_json::Value>>,
    /// The face match's report: exactly one item.
    pub face_matches: Vec<FaceMatchReport>,
    /// Always `null`: not run.
    #[schema(value_type = Option<Vec<Object>>)]
    pub poa_verifications: Option<Vec<serde_json::Value>>,
    /// Always `null`: not run.
    #[schema(value_type = Option<Vec<Object>>)]
    pub document_ai_documents: Option<Vec<serde_json::Value>>,
    /// Always `null`: not run.
    #[schema(value_type = Option<Vec<Object>>)]
    pub phone_verifications: Option<Vec<serde_json::Value>>,
    /// Always `null`: not run.
    #[schema(value_type = Option<Vec<Object>>)]
    pub email_verifications: Option<Vec<serde_json::Value>>,
    /// Always `null`: not run.
    #[schema(value_type = Option<Vec<Object>>)]
    pub aml_screenings: Option<Vec<serde_json::Value>>,
    /// Always `null`: not run.
    #[schema(value_type = Option<Vec<Object>>)]
    pub ip_analyses: Option<Vec<serde_json::Value>>,
    /// Always `null`: not run.
    #[schema(value_type = Option<Vec<Object>>)]
    pub database_validations: Option<Vec<serde_json::Value>>,
    /// Always `null`: not run.
    #[schema(value_type = Option<Vec<Object>>)]
    pub questionnaire_responses: Option<Vec<serde_json::Value>>,
    /// Status changes made through the API, oldest first: at most the newest 50.
    pub reviews: Vec<SessionReview>,
    /// When the face match was made (RFC 3339 UTC, microseconds).
    pub created_at: String,
    /// *Extension*: when the decision last changed (RFC 3339 UTC, microseconds).
    pub updated_at: String,
    /// *Extension*: present (and `true`) only when older status changes than those in
    /// `reviews` exist; only a database written before the 50-change cap can hold them.
    #[serde(skip_serializing_if = "is_false")]
    pub reviews_truncated: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The one item of `face_matches`: Didit's face match report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FaceMatchReport {
    /// Always `null`: Didit's value for a single-feature session.
    #[schema(value_type = Option<String>)]
    pub node_id: Option<String>,
    /// `Approved`, `Declined` or `In Review`: the decision's status (it follows reviews).
    #[schema(value_type = String, example = "Approved")]
    pub status: Status,
    /// Similarity 0–100, or `null` when no pair of faces could be compared.
    pub score: Option<u8>,
    /// Always `null`: the reference image was uploaded, not taken from a session.
    #[schema(value_type = Option<String>)]
    pub source_image_session_id: Option<String>,
    /// Always `null`: images are never stored, so there is no URL to give.
    #[schema(value_type = Option<String>)]
    pub source_image: Option<String>,
    /// Always `null`: images are never stored, so there is no URL to give.
    #[schema(value_type = Option<String>)]
    pub target_image: Option<String>,
    /// The face match's warnings, as v3 warning objects.
    pub warnings: Vec<SessionWarning>,
    /// *Extension*: `face_match_score_decline_threshold` used for the decision.
    pub face_match_score_decline_threshold: f64,
    /// *Extension*: `face_match_score_review_threshold` used, or `null`.
    pub face_match_score_review_threshold: Option<f64>,
    /// *Extension*: the faces found in `user_image`, as the face match returned them.
    pub user_image: ImageFaces,
    /// *Extension*: the faces found in `ref_image`, as the face match returned them.
    pub ref_image: ImageFaces,
}

/// A warning as Didit's v3 session decision writes it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SessionWarning {
    /// Always `"FACE_MATCH"`: the feature that raised it.
    #[schema(example = "FACE_MATCH")]
    pub feature: &'static str,
    /// The machine-readable tag.
    pub risk: WarningTag,
    /// Always `null`.
    #[schema(value_type = Option<Object>)]
    pub additional_data: Option<serde_json::Value>,
    /// `error`, `warning` or `information`.
    #[schema(value_type = String)]
    pub log_type: LogType,
    /// One line for people.
    pub short_description: String,
    /// The longer explanation, naming the image concerned.
    pub long_description: String,
    /// Always `null` (single-feature session).
    #[schema(value_type = Option<String>)]
    pub node_id: Option<String>,
}

/// One status change, as Didit's `reviews` entries write it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SessionReview {
    /// `"API Client"` for a change made with an API key; the console user's e-mail for one
    /// made in the Business Console.
    #[schema(example = "API Client")]
    pub user: String,
    /// The status set.
    #[schema(value_type = String, example = "Approved")]
    pub new_status: Status,
    /// The note given with the change, or `null`.
    pub comment: Option<String>,
    /// When (RFC 3339 UTC, microseconds).
    pub created_at: String,
}

impl From<&Warning> for SessionWarning {
    fn from(w: &Warning) -> Self {
        Self {
            feature: FACE_MATCH_FEATURE,
            risk: w.risk,
            additional_data: None,
            log_type: w.log_type,
            short_description: w.short_description.clone(),
            long_description: w.long_description.clone(),
            node_id: None,
        }
    }
}

impl From<&StatusChange> for SessionReview {
    fn from(c: &StatusChange) -> Self {
        Self {
            user: c.reviewer.clone().unwrap_or_else(|| API_CLIENT.to_owned()),
            new_status: c.to,
            comment: c.comment.clone(),
            created_at: facematch_core::rfc3339_micros(c.at),
        }
    }
}

impl From<&SavedDecision> for FaceMatchReport {
    fn from(d: &SavedDecision) -> Self {
        Self {
            node_id: None,
            status: d.face_match.status,
            score: d.face_match.score,
            source_image_session_id: None,
            source_image: None,
            target_image: None,
            warnings: d
                .face_match
                .warnings
                .iter()
                .map(SessionWarning::from)
                .collect(),
            face_match_score_decline_threshold: d.decline_threshold,
            face_match_score_review_threshold: d.review_threshold,
            user_image: d.face_match.user_image.clone(),
            ref_image: d.face_match.ref_image.clone(),
        }
    }
}

impl From<&SavedDecision> for SessionDecision {
    fn from(d: &SavedDecision) -> Self {
        Self {
            session_id: d.request_id.clone(),
            session_kind: "user",
            session_number: d.session_number,
            session_url: None,
            status: d.status(),
            environment: "live",
            workflow_id: None,
            features: vec![FACE_MATCH_FEATURE],
            vendor_data: d.vendor_data.clone(),
            metadata: d.metadata.clone(),
            expected_details: None,
            contact_details: None,
            callback: None,
            id_verifications: None,
            nfc_verifications: None,
            liveness_checks: None,
            face_matches: vec![FaceMatchReport::from(d)],
            poa_verifications: None,
            document_ai_documents: None,
            phone_verifications: None,
            email_verifications: None,
            aml_screenings: None,
            ip_analyses: None,
            database_validations: None,
            questionnaire_responses: None,
            reviews: d.history.iter().map(SessionReview::from).collect(),
            created_at: facematch_core::rfc3339_micros(d.created_at),
            updated_at: facematch_core::rfc3339_micros(d.updated_at),
            reviews_truncated: false,
        }
    }
}

impl From<&DecisionView> for SessionDecision {
    fn from(v: &DecisionView) -> Self {
        Self {
            reviews_truncated: v.history_truncated,
            ..Self::from(&v.decision)
        }
    }
}

/// The answer of `PATCH /v3/session/{id}/update-status/`, as Didit's: the session id only.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UpdateStatusResponse {
    /// The session (the face match's `request_id`).
    pub session_id: String,
}

#[cfg(test)]
mod tests;
