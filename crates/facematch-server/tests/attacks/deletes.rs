//! Deleting saved decisions (`DELETE /v3/session/{id}/delete/`, `POST /v3/sessions/delete/`)
//! and the retention sweep: the happy path, then as an attacker would try them — no key,
//! another account's ids, oversize batches, a flood.

use std::time::Duration;

use facematch_core::{FaceMatch, ImageFaces, Status};
use facematch_server::ratelimit::ManualClock;
use facematch_server::retention;
use facematch_store::SavedDecision;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::common::{Reply, TestApp};

/// Saves an `In Review` decision of `key` made at `at`; returns its id.
fn saved_at(app: &TestApp, key: &str, at: OffsetDateTime) -> String {
    let now = OffsetDateTime::now_utc();
    let key_id = app.store().authenticate(key, now).expect("valid key").id;
    let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
    app.store()
        .save_decision(&SavedDecision {
            request_id: request_id.clone(),
            key_id,
            face_match: FaceMatch {
                status: Status::InReview,
                score: Some(60),
                user_image: ImageFaces::default(),
                ref_image: ImageFaces::default(),
                warnings: vec![],
            },
            decline_threshold: 30.0,
            review_threshold: Some(70.0),
            vendor_data: None,
            metadata: None,
            session_number: 0,
            created_at: at,
            updated_at: at,
            history: vec![],
        })
        .expect("save");
    request_id
}

fn saved(app: &TestApp, key: &str) -> String {
    saved_at(app, key, OffsetDateTime::now_utc())
}

async fn get_decision(app: &TestApp, key: &str, id: &str) -> Reply {
    app.json(
        "GET",
        &format!("/v3/session/{id}/decision/"),
        Some(key),
        None,
    )
    .await
}

async fn delete(app: &TestApp, key: Option<&str>, id: &str) -> Reply {
    app.json("DELETE", &format!("/v3/session/{id}/delete/"), key, None)
        .await
}

async fn batch(app: &TestApp, key: &str, body: Value) -> Reply {
    app.json("POST", "/v3/sessions/delete/", Some(key), Some(body))
        .await
}

fn queue_ids(reply: &Reply) -> Vec<String> {
    reply.json["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|d| d["session_id"].as_str().map(str::to_owned))
        .collect()
}

/// 204 with an empty body, then 404 everywhere: the decision, its status update, the
/// review queue, a second delete.
#[tokio::test]
async fn a_deleted_decision_is_gone_from_every_route() {
    let app = TestApp::loading(|_| {});
    let key = app.key(0);
    let id = saved(&app, &key);
    let kept = saved(&app, &key);
    let queue = app.json("GET", "/v3/review-queue/", Some(&key), None).await;
    assert_eq!(queue_ids(&queue), vec![id.clone(), kept.clone()]);

    let reply = delete(&app, Some(&key), &id).await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(reply.text().is_empty());

    get_decision(&app, &key, &id)
        .await
        .assert_error(404, "not_found");
    app.json(
        "PATCH",
        &format!("/v3/session/{id}/update-status/"),
        Some(&key),
        Some(json!({"new_status": "Approved"})),
    )
    .await
    .assert_error(404, "not_found");
    let queue = app.json("GET", "/v3/review-queue/", Some(&key), None).await;
    assert_eq!(queue_ids(&queue), vec![kept.clone()]);
    delete(&app, Some(&key), &id)
        .await
        .assert_error(404, "not_found");
    assert_eq!(get_decision(&app, &key, &kept).await.status, 200);
}

/// No key: 401 and nothing deleted. Another key's decision: 404, as if unknown, and it
/// stays. An id that is not a UUID, or not valid UTF-8: the JSON 404.
#[tokio::test]
async fn only_the_owner_can_delete() {
    let app = TestApp::loading(|_| {});
    let (mine, theirs) = (app.key(0), app.key(0));
    let their_id = saved(&app, &theirs);

    delete(&app, None, &their_id)
        .await
        .assert_error(401, "missing_api_key");
    delete(&app, Some(&mine), &their_id)
        .await
        .assert_error(404, "not_found");
    assert_eq!(get_decision(&app, &theirs, &their_id).await.status, 200);
    for bad in ["not-a-uuid", "%FF", "..%2F..%2Fetc"] {
        delete(&app, Some(&mine), bad)
            .await
            .assert_error(404, "not_found");
    }
}

/// A batch deletes the caller's ids and skips the rest (another key's, unknown, not a
/// UUID), one result per id in order; the other key's decision stays.
#[tokio::test]
async fn a_batch_deletes_only_the_callers_decisions() {
    let app = TestApp::loading(|_| {});
    let (mine, theirs) = (app.key(0), app.key(0));
    let (a, b) = (saved(&app, &mine), saved(&app, &mine));
    let their_id = saved(&app, &theirs);
    let upper = b.to_uppercase();

    let reply = batch(
        &app,
        &mine,
        json!({"session_ids": [a, their_id, "junk", upper, a]}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json,
        json!({
            "results": [
                {"session_id": a, "session_number": 1, "outcome": "deleted"},
                {"session_id": their_id, "session_number": null, "outcome": "none"},
                {"session_id": "junk", "session_number": null, "outcome": "none"},
                {"session_id": upper, "session_number": 2, "outcome": "deleted"},
                {"session_id": a, "session_number": null, "outcome": "none"},
            ],
            "deleted": 2,
        })
    );
    get_decision(&app, &mine, &a)
        .await
        .assert_error(404, "not_found");
    get_decision(&app, &mine, &b)
        .await
        .assert_error(404, "not_found");
    assert_eq!(get_decision(&app, &theirs, &their_id).await.status, 200);
}

/// Empty, over 100 ids, Didit's `delete_all`, an oversize body: refused, nothing
/// deleted; no key: 401.
#[tokio::test]
async fn oversize_and_malformed_batches_are_refused_whole() {
    let app = TestApp::loading(|c| c.review_writes_per_minute = 0);
    let key = app.key(0);
    let id = saved(&app, &key);

    batch(&app, &key, json!({"session_ids": []}))
        .await
        .assert_error(400, "invalid_field");
    let mut many = vec![id.clone(); 100];
    many.push(id.clone());
    batch(&app, &key, json!({"session_ids": many}))
        .await
        .assert_error(400, "invalid_field");
    batch(&app, &key, json!({"delete_all": true}))
        .await
        .assert_error(400, "invalid_field");
    batch(
        &app,
        &key,
        json!({"session_ids": [id], "padding": "x".repeat(70 * 1024)}),
    )
    .await
    .assert_error(413, "body_too_large");
    app.json(
        "POST",
        "/v3/sessions/delete/",
        None,
        Some(json!({"session_ids": [id]})),
    )
    .await
    .assert_error(401, "missing_api_key");
    assert_eq!(get_decision(&app, &key, &id).await.status, 200);
}

/// Deletes share the review-write bucket (bursts of 10): the 11th write, a delete, a
/// batch or a status update, is a 429 before the store is touched; a second later one
/// more goes through. Another key has its own bucket.
#[tokio::test]
async fn a_delete_flood_is_rate_limited_with_the_review_writes() {
    let clock = ManualClock::new();
    let app = TestApp::on_clock(|_| {}, &clock);
    let (key, other) = (app.key(0), app.key(0));
    let id = saved(&app, &key);
    let other_id = saved(&app, &other);

    for _ in 0..10 {
        let unknown = uuid::Uuid::new_v4().to_string();
        delete(&app, Some(&key), &unknown)
            .await
            .assert_error(404, "not_found");
    }
    delete(&app, Some(&key), &id)
        .await
        .assert_error(429, "rate_limited");
    batch(&app, &key, json!({"session_ids": [id]}))
        .await
        .assert_error(429, "rate_limited");
    app.json(
        "PATCH",
        &format!("/v3/session/{id}/update-status/"),
        Some(&key),
        Some(json!({"new_status": "Approved"})),
    )
    .await
    .assert_error(429, "rate_limited");
    assert_eq!(get_decision(&app, &key, &id).await.status, 200);

    assert_eq!(delete(&app, Some(&other), &other_id).await.status, 204);
    clock.advance(Duration::from_secs(1));
    assert_eq!(delete(&app, Some(&key), &id).await.status, 204);
}

/// `--retention-days 90`: the next sweep deletes the decisions made more than 90 days
/// ago (every key's), and keeps the younger; with retention 0 a sweep deletes nothing.
#[tokio::test]
async fn a_sweep_deletes_decisions_older_than_the_retention() {
    let now = OffsetDateTime::now_utc();
    let app = TestApp::loading(|c| c.retention_days = 90);
    let (a, b) = (app.key(0), app.key(0));
    let old_a = saved_at(&app, &a, now - time::Duration::days(91));
    let old_b = saved_at(&app, &b, now - time::Duration::days(365));
    let young = saved_at(&app, &a, now - time::Duration::days(89));

    assert_eq!(retention::sweep(&app.state, now).await.expect("sweep"), 2);
    get_decision(&app, &a, &old_a)
        .await
        .assert_error(404, "not_found");
    get_decision(&app, &b, &old_b)
        .await
        .assert_error(404, "not_found");
    assert_eq!(get_decision(&app, &a, &young).await.status, 200);
    // Ninety days later, the young one has aged out too.
    let later = now + time::Duration::days(2);
    assert_eq!(retention::sweep(&app.state, later).await.expect("sweep"), 1);
    get_decision(&app, &a, &young)
        .await
        .assert_error(404, "not_found");

    let forever = TestApp::loading(|_| {});
    let k = forever.key(0);
    let ancient = saved_at(&forever, &k, now - time::Duration::days(10_000));
    assert_eq!(
        retention::sweep(&forever.state, now).await.expect("sweep"),
        0
    );
    assert_eq!(get_decision(&forever, &k, &ancient).await.status, 200);
}
