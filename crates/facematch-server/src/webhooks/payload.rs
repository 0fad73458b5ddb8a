//! The body of a `status.updated` webhook, Didit's session envelope, before the send-time
//! `timestamp` is added ([`crate::webhooks::sign::sign_payload`] adds it and signs).
//!
//! Fields, as Didit documents them for session events:
//! - `event_id`: the event's stable id; every try and every resend of one event carries
//!   the same, so a receiver can de-duplicate on it;
//! - `webhook_type`: `status.updated`;
//! - `session_id`: the face match's `request_id`;
//! - `status`: the decision's status after the change (`Approved`, `Declined`,
//!   `In Review`);
//! - `created_at`: when the event happened, in Unix seconds;
//! - `vendor_data` and `metadata`: only when the face match was sent with them (Didit:
//!   "included only if they are included in the session");
//! - `decision`: the session decision as `GET /v3/session/{id}/decision/` answers it,
//!   as it was when the event happened; Didit sends it for Approved, Declined and In Review,
//!   which are every status a face match can have.
//!
//! A test event (`POST /v3/webhook/destinations/{uuid}/test/`, `facematch webhooks test`)
//! has no decision behind it; its body is synthetic and says so: `session_id` is the event
//! id, `status` is `Approved`, `vendor_data` is [`TEST_EVENT_VENDOR_DATA`] and there is no
//! `decision`.

use facematch_core::Status;
use facematch_store::DueDelivery;
use serde_json::{Map, Value};

use crate::didit::SessionDecision;

/// `vendor_data` of a test event's body.
pub const TEST_EVENT_VENDOR_DATA: &str = "facematch-test-event";

/// The envelope of `due`'s event, without `timestamp`.
pub fn event_payload(due: &DueDelivery) -> Value {
    let mut body = Map::new();
    body.insert("event_id".into(), due.event_id.clone().into());
    body.insert("webhook_type".into(), due.webhook_type.clone().into());
    body.insert(
        "created_at".into(),
        due.event_created_at.unix_timestamp().into(),
    );
    match &due.snapshot {
        Some(decision) => {
            let status = decision.face_match.status;
            body.insert("session_id".into(), decision.request_id.clone().into());
            body.insert("status".into(), status.to_string().into());
            if let Some(vendor_data) = &decision.vendor_data {
                body.insert("vendor_data".into(), vendor_data.clone().into());
            }
            if let Some(metadata) = &decision.metadata {
                body.insert("metadata".into(), Value::Object(metadata.clone()));
            }
            if carries_decision(status) {
                let decision = serde_json::to_value(SessionDecision::from(decision))
                    // A struct of strings, numbers and maps always serializes.
                    .unwrap_or(Value::Null);
                body.insert("decision".into(), decision);
            }
        }
        None => {
            body.insert("session_id".into(), due.event_id.clone().into());
            body.insert("status".into(), Status::Approved.to_string().into());
            body.insert("vendor_data".into(), TEST_EVENT_VENDOR_DATA.into());
        }
    }
    Value::Object(body)
}

/// Whether Didit includes `decision` for a session in `status`: Approved, Declined,
/// In Review (and Abandoned, which a face match never is).
fn carries_decision(status: Status) -> bool {
    matches!(
        status,
        Status::Approved | Status::Declined | Status::InReview
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use facematch_core::{FaceMatch, ImageFaces};
    use facematch_store::SavedDecision;
    use time::OffsetDateTime;

    fn due(snapshot: Option<SavedDecision>) -> DueDelivery {
        DueDelivery {
            delivery_id: "d1".into(),
            event_id: "e1".into(),
            destination_id: "w1".into(),
            url: "https://example.com/hook".into(),
            webhook_type: "status.updated".into(),
            key_id: "k1".into(),
            request_id: snapshot.as_ref().map(|d| d.request_id.clone()),
            snapshot,
            attempts: 0,
            event_created_at: OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("time"),
        }
    }

    fn decision(
        status: Status,
        vendor_data: Option<&str>,
        metadata: Option<Value>,
    ) -> SavedDecision {
        let at = OffsetDateTime::from_unix_timestamp(1_749_999_000).expect("time");
        let face_match = FaceMatch {
            status,
            score: Some(91),
            user_image: ImageFaces::default(),
            ref_image: ImageFaces::default(),
            warnings: vec![],
        };
        SavedDecision {
            request_id: "r1".into(),
            key_id: "k1".into(),
            face_match,
            decline_threshold: 30.0,
            review_threshold: None,
            vendor_data: vendor_data.map(str::to_owned),
            metadata: metadata.and_then(|m| m.as_object().cloned()),
            session_number: 7,
            created_at: at,
            updated_at: at,
            history: Vec::new(),
        }
    }

    #[test]
    fn a_decision_event_has_didits_fields_and_the_decision() {
        let d = decision(
            Status::Approved,
            Some("user-42"),
            Some(serde_json::json!({"flow": "login"})),
        );
        let body = event_payload(&due(Some(d.clone())));
        assert_eq!(body["event_id"], "e1");
        assert_eq!(body["webhook_type"], "status.updated");
        assert_eq!(body["session_id"], "r1");
        assert_eq!(body["status"], "Approved");
        assert_eq!(body["created_at"], 1_750_000_000);
        assert_eq!(body["vendor_data"], "user-42");
        assert_eq!(body["metadata"], serde_json::json!({"flow": "login"}));
        assert_eq!(
            body["decision"],
            serde_json::to_value(SessionDecision::from(&d)).expect("json")
        );
        assert!(body.get("timestamp").is_none(), "added at send time");
    }

    #[test]
    fn vendor_data_and_metadata_only_when_sent_and_in_review_keeps_its_decision() {
        let body = event_payload(&due(Some(decision(Status::InReview, None, None))));
        let obj = body.as_object().expect("object");
        assert!(!obj.contains_key("vendor_data"), "{body}");
        assert!(!obj.contains_key("metadata"), "{body}");
        assert_eq!(body["status"], "In Review");
        assert_eq!(body["decision"]["status"], "In Review");
        let declined = event_payload(&due(Some(decision(Status::Declined, None, None))));
        assert_eq!(declined["decision"]["session_id"], "r1");
    }

    #[test]
    fn a_test_event_is_synthetic_and_says_so() {
        let body = event_payload(&due(None));
        assert_eq!(body["session_id"], "e1");
        assert_eq!(body["status"], "Approved");
        assert_eq!(body["vendor_data"], TEST_EVENT_VENDOR_DATA);
        assert!(body.get("decision").is_none());
        assert!(body.get("metadata").is_none());
    }
}
