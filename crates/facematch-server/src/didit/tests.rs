//! The session decision's keys, in Didit's order.

use facematch_core::{FaceMatch, ImageFaces, LogType, Status, Warning, WarningTag};
use facematch_store::{DecisionView, SavedDecision, StatusChange};

use super::SessionDecision;

fn decision() -> SavedDecision {
    let at = time::OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("valid time");
    SavedDecision {
        request_id: "id".into(),
        key_id: "key".into(),
        face_match: FaceMatch {
            status: Status::Declined,
            score: Some(12),
            user_image: ImageFaces::default(),
            ref_image: ImageFaces::default(),
            warnings: vec![Warning {
                risk: WarningTag::LowFaceMatchSimilarity,
                log_type: LogType::Warning,
                short_description: "s".into(),
                long_description: "l".into(),
            }],
        },
        decline_threshold: 30.0,
        review_threshold: None,
        vendor_data: Some("v".into()),
        metadata: None,
        session_number: 7,
        created_at: at,
        updated_at: at,
        history: vec![StatusChange {
            from: Status::InReview,
            to: Status::Declined,
            comment: Some("c".into()),
            at,
            reviewer: None,
        }],
    }
}

/// The top-level keys of a JSON object, in the order written (a `Value` sorts them).
fn top_level_keys(json: &str) -> Vec<String> {
    struct Keys;
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some((k, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                keys.push(k);
            }
            Ok(keys)
        }
    }
    serde::Deserializer::deserialize_map(&mut serde_json::Deserializer::from_str(json), Keys)
        .expect("an object")
}

#[test]
fn keys_come_in_didits_order() {
    let text = serde_json::to_string(&SessionDecision::from(&decision())).expect("serializes");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        top_level_keys(&text),
        [
            "session_id",
            "session_kind",
            "session_number",
            "session_url",
            "status",
            "environment",
            "workflow_id",
            "features",
            "vendor_data",
            "metadata",
            "expected_details",
            "contact_details",
            "callback",
            "id_verifications",
            "nfc_verifications",
            "liveness_checks",
            "face_matches",
            "poa_verifications",
            "document_ai_documents",
            "phone_verifications",
            "email_verifications",
            "aml_screenings",
            "ip_analyses",
            "database_validations",
            "questionnaire_responses",
            "reviews",
            "created_at",
            "updated_at",
        ]
    );
    assert_eq!(
        json["face_matches"][0]["warnings"][0],
        serde_json::json!({
            "feature": "FACE_MATCH",
            "risk": "LOW_FACE_MATCH_SIMILARITY",
            "additional_data": null,
            "log_type": "warning",
            "short_description": "s",
            "long_description": "l",
            "node_id": null,
        })
    );
    assert_eq!(
        json["reviews"],
        serde_json::json!([{
            "user": "API Client",
            "new_status": "Declined",
            "comment": "c",
            "created_at": "2025-06-15T15:06:40.000000Z",
        }])
    );
}

/// Only a truncated history adds the flag; the usual answer is without it.
#[test]
fn a_truncated_history_says_so() {
    let shown = |history_truncated| {
        serde_json::to_value(SessionDecision::from(&DecisionView {
            decision: decision(),
            history_truncated,
        }))
        .expect("serializes")
    };
    assert_eq!(shown(true)["reviews_truncated"], true);
    assert!(shown(false).get("reviews_truncated").is_none());
}
