//! The session decision routes (`GET …/decision/`, Didit's `PATCH …/update-status/`) and
//! the face match's `metadata`, as an attacker would try them: another key's decision,
//! oversize comment and metadata, a same-status update that must write nothing, refused
//! statuses, and a flood.

use std::time::Duration;

use facematch_core::{FaceMatch, ImageFaces, Status};
use facematch_server::ratelimit::ManualClock;
use facematch_store::SavedDecision;
use serde_json::{json, Value};

use crate::common::{http, live_app, Form, Live, Reply, TestApp};

const HOPPER: &str = "fixtures/one_face_hopper.jpg";

/// Saves a decision of `key` with `status` straight into the store; returns its id.
fn saved(app: &TestApp, key: &str, status: Status) -> String {
    let now = time::OffsetDateTime::now_utc();
    let key_id = app.store().authenticate(key, now).expect("valid key").id;
    let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
    app.store()
        .save_decision(&SavedDecision {
            request_id: request_id.clone(),
            key_id,
            face_match: FaceMatch {
                status,
                score: Some(60),
                user_image: ImageFaces::default(),
                ref_image: ImageFaces::default(),
                warnings: vec![],
            },
            decline_threshold: 30.0,
            review_threshold: Some(70.0),
            vendor_data: Some("alice-1".into()),
            metadata: serde_json::from_value(json!({"owner": "alice"})).expect("object"),
            session_number: 0,
            created_at: now,
            updated_at: now,
            history: vec![],
        })
        .expect("save");
    request_id
}

async fn get(live: &Live, key: &str, id: &str) -> Reply {
    http(
        live.addr,
        "GET",
        &format!("/v3/session/{id}/decision/"),
        &[("x-api-key", key.to_owned())],
        b"",
    )
    .await
    .expect("get")
}

async fn patch(live: &Live, key: &str, id: &str, body: &Value) -> Reply {
    http(
        live.addr,
        "PATCH",
        &format!("/v3/session/{id}/update-status/"),
        &[
            ("x-api-key", key.to_owned()),
            ("content-type", "application/json".to_owned()),
        ],
        body.to_string().as_bytes(),
    )
    .await
    .expect("patch")
}

fn reviews(decision: &Reply) -> usize {
    decision.json["reviews"]
        .as_array()
        .map_or_else(|| panic!("no reviews: {}", decision.text()), Vec::len)
}

/// Another key's decision is a 404 for both routes, the same as an unknown id, and the
/// answer names nothing of it; the decision is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_keys_session_is_not_found_for_get_and_patch() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let (alice, mallory) = (live.app.key(0), live.app.key(0));
    let id = saved(&live.app, &alice, Status::InReview);
    let before = get(&live, &alice, &id).await;
    assert_eq!(before.status, 200, "{}", before.text());

    let detail = get(&live, &mallory, &id)
        .await
        .assert_error(404, "not_found");
    assert!(!detail.contains("alice"), "{detail}");
    for status in ["Approved", "Declined"] {
        let detail = patch(&live, &mallory, &id, &json!({ "new_status": status }))
            .await
            .assert_error(404, "not_found");
        assert!(!detail.contains("alice"), "{detail}");
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    patch(
        &live,
        &mallory,
        &unknown,
        &json!({"new_status": "Approved"}),
    )
    .await
    .assert_error(404, "not_found");
    // No key at all: 401 before anything else.
    let no_key = http(
        live.addr,
        "GET",
        &format!("/v3/session/{id}/decision/"),
        &[],
        b"",
    )
    .await
    .expect("get");
    assert_eq!(no_key.status, 401, "{}", no_key.text());
    assert_eq!(get(&live, &alice, &id).await.json, before.json);
    live.shutdown().await;
}

/// A comment over Didit's 10,000 characters, `Resubmitted`, `In Review` and `send_email:
/// true` are 400s naming their field, and none of them writes anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_updates_are_400s_that_write_nothing() {
    let live = live_app(TestApp::loading(|c| c.review_writes_per_minute = 0)).await;
    let key = live.app.key(0);
    let id = saved(&live.app, &key, Status::InReview);
    let before = get(&live, &key, &id).await;

    let cases = [
        (
            json!({"new_status": "Approved", "comment": "x".repeat(10_001)}),
            "comment",
        ),
        (json!({"new_status": "Resubmitted"}), "resubmitted"),
        (json!({"new_status": "In Review"}), "new_status"),
        (
            json!({"new_status": "Approved", "send_email": true}),
            "send_email",
        ),
    ];
    for (body, named) in cases {
        let detail = patch(&live, &key, &id, &body)
            .await
            .assert_error(400, "invalid_field");
        assert!(detail.contains(named), "{named}: {detail}");
    }
    // A body over the JSON routes' 64 KiB limit is a 413, not a 500.
    let huge = json!({"new_status": "Approved", "comment": "x".repeat(70_000)});
    let reply = patch(&live, &key, &id, &huge).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(get(&live, &key, &id).await.json, before.json);

    // Exactly 10,000 characters (of 2 bytes each) is accepted.
    let ok = patch(
        &live,
        &key,
        &id,
        &json!({"new_status": "Approved", "comment": "é".repeat(10_000)}),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(reviews(&get(&live, &key, &id).await), 1);
    live.shutdown().await;
}

/// Setting the status a decision already has, 30 times: every answer is 200 with the
/// session id, and the decision — its reviews, its updated_at — is exactly as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_status_again_writes_nothing_however_often() {
    let live = live_app(TestApp::loading(|c| c.review_writes_per_minute = 0)).await;
    let key = live.app.key(0);
    let id = saved(&live.app, &key, Status::Approved);
    let before = get(&live, &key, &id).await;
    assert_eq!(reviews(&before), 0);
    for _ in 0..30 {
        let reply = patch(
            &live,
            &key,
            &id,
            &json!({"new_status": "Approved", "comment": "again"}),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json, json!({ "session_id": id }));
    }
    assert_eq!(get(&live, &key, &id).await.json, before.json);
    live.shutdown().await;
}

/// A flood of updates is cut by the per-key write limit (10 at once, then 429 with
/// Retry-After) — same-status updates included, though they write nothing — and the
/// refused ones touch nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_updates_is_rate_limited() {
    let clock = ManualClock::new();
    let live = live_app(TestApp::on_clock(|_| {}, &clock)).await;
    let key = live.app.key(0);
    let id = saved(&live.app, &key, Status::InReview);
    let mut statuses = Vec::new();
    for i in 0..30 {
        let status = if i % 3 == 0 { "Declined" } else { "Approved" };
        let reply = patch(&live, &key, &id, &json!({ "new_status": status })).await;
        statuses.push(reply.status.as_u16());
        if reply.status == 429 {
            assert_eq!(reply.code(), "rate_limited");
            assert!(reply.headers.contains_key("retry-after"));
        }
    }
    let expected: Vec<u16> = (0..30).map(|i| if i < 10 { 200 } else { 429 }).collect();
    assert_eq!(statuses, expected);
    // Of the 10 let through, the changes were: Declined (0), Approved (1), Declined (3),
    // Approved (4), Declined (6), Approved (7), Declined (9): 7 reviews.
    assert_eq!(reviews(&get(&live, &key, &id).await), 7);
    clock.advance(Duration::from_secs(1));
    let reply = patch(&live, &key, &id, &json!({"new_status": "Approved"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    live.shutdown().await;
}

/// `metadata` over 4096 bytes, not an object, not JSON or not UTF-8 is a 400 naming
/// `metadata`; the credit is given back and nothing is saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_metadata_is_a_400_naming_it() {
    let live = live_app(TestApp::new(|_| {})).await;
    let key = live.app.key(10);
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(4_097 - 10));
    assert_eq!(big.len(), 4_097);
    let cases: [(&str, Vec<u8>); 5] = [
        ("too long", big.into_bytes()),
        ("array", b"[1,2]".to_vec()),
        ("string", br#""flow""#.to_vec()),
        ("not JSON", b"{flow: login}".to_vec()),
        ("not UTF-8", b"{\"a\":\"\xff\"}".to_vec()),
    ];
    for (what, value) in cases {
        let form = Form::pair(HOPPER, HOPPER).text("metadata", value);
        let reply = live.face_match(&key, &form).await;
        let detail = reply.assert_error(400, "invalid_field");
        assert!(detail.contains("`metadata`"), "{what}: {detail}");
    }
    assert_eq!(live.app.balance(&key), 10, "every bad request was refunded");
    // Exactly 4096 bytes is accepted.
    let at_limit = format!(r#"{{"pad":"{}"}}"#, "x".repeat(4_096 - 10));
    assert_eq!(at_limit.len(), 4_096);
    let reply = live
        .face_match(&key, &Form::pair(HOPPER, HOPPER).text("metadata", at_limit))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let id = reply.json["request_id"].as_str().expect("id");
    let decision = get(&live, &key, id).await;
    assert_eq!(
        decision.json["session_number"], 1,
        "only this one was saved"
    );
    assert_eq!(
        decision.json["metadata"]["pad"].as_str().map(str::len),
        Some(4_086)
    );
    live.shutdown().await;
}
