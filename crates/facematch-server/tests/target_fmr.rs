//! `face_match_target_fmr`: the decline threshold set from a false-match rate on the
//! calibrated scale, reported in the 200 body; bad values and conflicts are 400s that
//! name the field and cost no credit.

mod common;

use common::{Form, TestApp};

const ASTRONAUT: &str = "fixtures/one_face_astronaut.png";
/// The same photo with a 24-pixel face: same person, but a score well below 100
/// (85 with the default bundle), so the two target FMRs below decide differently.
const TINY: &str = "fixtures/tiny_face_1024x768.png";

#[tokio::test]
async fn the_target_fmr_sets_and_reports_the_decline_threshold() {
    let app = TestApp::new(|_| {});
    let key = app.key(10);
    let loose = Form::pair(ASTRONAUT, TINY).text("face_match_target_fmr", "1e-2");
    let reply = app.face_match(&key, &loose).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let score = reply.json["face_match"]["score"].as_f64().expect("score");
    assert!(
        (30.0..90.0).contains(&score),
        "the pair must score between the two thresholds, got {score}"
    );
    assert_eq!(reply.json["face_match"]["status"], "Approved");
    assert_eq!(reply.json["thresholds"]["target_fmr"], 0.01);
    assert_eq!(reply.json["thresholds"]["decline_threshold"], 30.0);
    assert!(reply.json["thresholds"]["review_threshold"].is_null());

    // 1e-4 ⇔ score 90 on the scale: the same pair is now declined, for low similarity.
    let strict = Form::pair(ASTRONAUT, TINY)
        .text("face_match_target_fmr", " 1E-4 ")
        .text("face_match_score_review_threshold", "95");
    let reply = app.face_match(&key, &strict).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let fm = &reply.json["face_match"];
    assert_eq!(fm["status"], "Declined");
    assert_eq!(fm["score"].as_f64(), Some(score));
    assert_eq!(fm["warnings"][0]["risk"], "LOW_FACE_MATCH_SIMILARITY");
    let expected = facematch_core::score::threshold_for_fmr(1e-4).expect("valid");
    assert_eq!(
        reply.json["thresholds"]["decline_threshold"].as_f64(),
        Some(f64::from(expected))
    );
    assert_eq!(reply.json["thresholds"]["review_threshold"], 95.0);
    assert_eq!(app.balance(&key), 8);
}

#[tokio::test]
async fn without_a_target_fmr_the_body_has_only_the_contract_fields() {
    let app = TestApp::new(|_| {});
    let key = app.key(10);
    let form = Form::pair(ASTRONAUT, TINY).text("face_match_score_decline_threshold", "90");
    let reply = app.face_match(&key, &form).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.json.get("thresholds").is_none(), "{}", reply.text());
    assert_eq!(reply.json["face_match"]["status"], "Declined");
}

#[tokio::test]
async fn bad_target_fmrs_and_conflicts_are_400s_that_cost_nothing() {
    let app = TestApp::new(|_| {});
    let key = app.key(5);
    for bad in [
        "0", "-1e-4", "1.5", "inf", "NaN", "abc", "", "1e-4x", "+1e-4",
    ] {
        let form = Form::pair(ASTRONAUT, TINY).text("face_match_target_fmr", bad);
        let reply = app.face_match(&key, &form).await;
        let detail = reply.assert_error(400, "invalid_field");
        assert!(
            detail.contains("face_match_target_fmr"),
            "{bad:?}: {detail}"
        );
    }
    // Both ways of setting the decline threshold at once: refused, not guessed.
    let both = Form::pair(ASTRONAUT, TINY)
        .text("face_match_target_fmr", "1e-3")
        .text("face_match_score_decline_threshold", "50");
    let detail = app
        .face_match(&key, &both)
        .await
        .assert_error(400, "invalid_field");
    assert!(detail.contains("face_match_target_fmr"), "{detail}");
    assert!(
        detail.contains("face_match_score_decline_threshold"),
        "{detail}"
    );
    // A review threshold below the derived decline threshold (1e-3 → 70).
    let low_review = Form::pair(ASTRONAUT, TINY)
        .text("face_match_target_fmr", "1e-3")
        .text("face_match_score_review_threshold", "50");
    let detail = app
        .face_match(&key, &low_review)
        .await
        .assert_error(400, "invalid_field");
    assert!(
        detail.contains("face_match_score_review_threshold"),
        "{detail}"
    );
    // Sent twice.
    let twice = Form::pair(ASTRONAUT, TINY)
        .text("face_match_target_fmr", "1e-3")
        .text("face_match_target_fmr", "1e-3");
    app.face_match(&key, &twice)
        .await
        .assert_error(400, "duplicate_field");
    assert_eq!(app.balance(&key), 5);
}

#[tokio::test]
async fn the_openapi_document_describes_the_field_and_the_reported_thresholds() {
    let app = TestApp::new(|_| {});
    let r = app.json("GET", "/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    let doc = r.text();
    assert!(
        doc.contains("face_match_target_fmr"),
        "request field missing"
    );
    assert!(
        r.json["components"]["schemas"]["Thresholds"]["properties"]["decline_threshold"]
            .is_object(),
        "Thresholds schema missing"
    );
}
