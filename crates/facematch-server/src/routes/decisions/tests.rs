//! The decision answers' JSON, pinned.

use facematch_core::{FaceMatch, ImageFaces, Status};
use facematch_store::{DecisionView, SavedDecision, StatusChange};

use super::DecisionResponse;

#[test]
fn a_saved_decision_is_answered_as_it_always_was() {
    let at = time::OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("valid time");
    let decision = SavedDecision {
        request_id: "id".into(),
        key_id: "key".into(),
        face_match: FaceMatch {
            status: Status::Approved,
            score: Some(61),
            user_image: ImageFaces::default(),
            ref_image: ImageFaces::default(),
            warnings: vec![],
        },
        decline_threshold: 30.0,
        review_threshold: None,
        vendor_data: None,
        metadata: None,
        session_number: 0,
        created_at: at,
        updated_at: at,
        history: vec![StatusChange {
            from: Status::InReview,
            to: Status::Approved,
            comment: None,
            at,
        }],
    };
    let json = serde_json::to_string(&DecisionResponse::from(decision)).expect("serializes");
    assert_eq!(
        json,
        r#"{"request_id":"id","status":"Approved","score":61,"decline_threshold":30.0,"review_threshold":null,"face_match":{"ref_image":{"best_angle":0,"entities":[]},"score":61,"status":"Approved","user_image":{"best_angle":0,"entities":[]},"warnings":[]},"vendor_data":null,"created_at":"2025-06-15T15:06:40.000000Z","updated_at":"2025-06-15T15:06:40.000000Z","history":[{"from":"In Review","to":"Approved","comment":null,"at":"2025-06-15T15:06:40.000000Z"}]}"#
    );
}

/// Only a truncated history adds the flag (after `history`); the usual answer is unchanged.
#[test]
fn a_truncated_history_says_so() {
    let at = time::OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("valid time");
    let decision = SavedDecision {
        request_id: "id".into(),
        key_id: "key".into(),
        face_match: FaceMatch {
            status: Status::Declined,
            score: None,
            user_image: ImageFaces::default(),
            ref_image: ImageFaces::default(),
            warnings: vec![],
        },
        decline_threshold: 30.0,
        review_threshold: None,
        vendor_data: None,
        metadata: None,
        session_number: 0,
        created_at: at,
        updated_at: at,
        history: vec![],
    };
    let shown = |history_truncated| {
        serde_json::to_value(DecisionResponse::from(DecisionView {
            decision: decision.clone(),
            history_truncated,
        }))
        .expect("serializes")
    };
    assert_eq!(shown(true)["history_truncated"], true);
    assert!(shown(false).get("history_truncated").is_none());
}
