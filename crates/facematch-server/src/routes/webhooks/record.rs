//! A delivery try as the API shows it (Didit's delivery record): the list row, and the
//! single record with what was sent. (The receiver's answer body is stored, first 1 KiB,
//! but the store's log read does not return it yet.)

use facematch_store::AttemptLog;
use serde::Serialize;

/// Whether one try reached the receiver: `success` for a 2xx answer, else `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// The receiver answered 2xx.
    Success,
    /// Anything else: another status, a timeout, a refused address, no connection.
    Failed,
}

/// One delivery try (a first try, an automatic retry or a resend), newest first in lists.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryRecord {
    /// The try's id (the delivery record's uuid).
    pub uuid: String,
    /// The saved decision the event is about; null for a test event.
    pub session_id: Option<String>,
    /// The event's id: the same on every retry and resend (receivers de-duplicate on it).
    pub event_id: String,
    /// The URL the try was sent to.
    pub request_url: String,
    /// The receiver's HTTP status; null when none came back (timeout, refused, no connection).
    pub response_status: Option<u16>,
    /// How long the try took, in milliseconds; null when it was never sent.
    pub response_time_ms: Option<i64>,
    /// `success` (2xx) or `failed`.
    pub status: DeliveryStatus,
    /// The event's type, e.g. `status.updated`.
    pub webhook_type: String,
    /// Why the try failed, when it did without an answer (e.g. "timed out after 10 s").
    pub error: Option<String>,
    /// When the automatic retry this try scheduled is due (RFC 3339); null if none.
    pub next_try_at: Option<String>,
    /// Whether this try was a manual resend.
    pub resend: bool,
    /// When the try was made (RFC 3339, microseconds).
    pub created_at: String,
}

/// One delivery try with the request as sent and the start of the answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryDetail {
    /// The try.
    #[serde(flatten)]
    pub record: DeliveryRecord,
    /// The request's headers, as a JSON-encoded string (Didit's shape); the signatures are
    /// there, the secret never.
    pub request_header: String,
    /// The request's body as sent, as a JSON-encoded string (Didit's shape).
    pub request_body: String,
    /// The start of the receiver's answer (at most 1 KiB), if it answered.
    pub response_body: Option<String>,
}

impl From<&AttemptLog> for DeliveryRecord {
    fn from(a: &AttemptLog) -> Self {
        let delivered = a.response_status.is_some_and(|s| (200..300).contains(&s));
        Self {
            uuid: a.id.clone(),
            session_id: a.session_id.clone(),
            event_id: a.event_id.clone(),
            request_url: a.request_url.clone(),
            response_status: a.response_status,
            response_time_ms: a.response_time_ms,
            status: if delivered {
                DeliveryStatus::Success
            } else {
                DeliveryStatus::Failed
            },
            webhook_type: a.webhook_type.clone(),
            error: a.error.clone(),
            next_try_at: a.next_try_at.map(facematch_core::rfc3339_micros),
            resend: a.resend,
            created_at: facematch_core::rfc3339_micros(a.created_at),
        }
    }
}

impl From<AttemptLog> for DeliveryDetail {
    fn from(a: AttemptLog) -> Self {
        Self {
            record: DeliveryRecord::from(&a),
            request_header: a.request_headers,
            request_body: a.request_body,
            response_body: a.response_body,
        }
    }
}
