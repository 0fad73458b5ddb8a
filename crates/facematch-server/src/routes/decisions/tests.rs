//! Didit's update-status body: what is accepted, ignored and refused.

use facematch_store::ReviewStatus;
use serde_json::json;

use super::{UpdateStatusRequest, MAX_COMMENT_CHARS};
use crate::error::ApiError;

fn check(body: serde_json::Value) -> Result<ReviewStatus, ApiError> {
    serde_json::from_value::<UpdateStatusRequest>(body)
        .expect("parses")
        .verdict()
}

fn refused_field(body: serde_json::Value) -> (&'static str, String) {
    match check(body) {
        Err(ApiError::InvalidField { field, reason }) => (field, reason),
        other => panic!("expected InvalidField, got {other:?}"),
    }
}

#[test]
fn didits_example_and_its_optional_fields_are_accepted() {
    assert_eq!(
        check(
            json!({"new_status": "Approved", "comment": "All verifications passed manual review"})
        )
        .expect("accepted"),
        ReviewStatus::Approved
    );
    assert_eq!(
        check(json!({
            "new_status": "Declined",
            "send_email": false,
            "email_address": "a@example.com",
            "email_language": "es",
            "nodes_to_resubmit": [{"node_id": "feature_poa_1", "feature": "POA"}],
            "something_new": 1,
        }))
        .expect("accepted"),
        ReviewStatus::Declined
    );
}

#[test]
fn resubmitted_in_review_and_others_are_refused_naming_new_status() {
    let (field, reason) = refused_field(json!({"new_status": "Resubmitted"}));
    assert_eq!(field, "new_status");
    assert!(reason.contains("cannot be resubmitted"), "{reason}");
    for other in ["In Review", "approved", "Kyc Expired", ""] {
        let (field, reason) = refused_field(json!({ "new_status": other }));
        assert_eq!(field, "new_status");
        assert!(reason.contains("must be"), "{reason}");
    }
}

#[test]
fn a_comment_may_have_didits_ten_thousand_characters_and_no_more() {
    let at_limit = "é".repeat(MAX_COMMENT_CHARS);
    assert!(check(json!({"new_status": "Approved", "comment": at_limit})).is_ok());
    let over = "x".repeat(MAX_COMMENT_CHARS + 1);
    let (field, reason) = refused_field(json!({"new_status": "Approved", "comment": over}));
    assert_eq!(field, "comment");
    assert_eq!(reason, "at most 10000 characters");
}

#[test]
fn send_email_true_is_refused_as_not_supported() {
    let (field, reason) = refused_field(json!({"new_status": "Approved", "send_email": true}));
    assert_eq!(field, "send_email");
    assert!(reason.starts_with("not supported"), "{reason}");
}
