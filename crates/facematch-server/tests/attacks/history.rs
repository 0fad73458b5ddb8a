//! Item 6, history flood: `PATCH …/update-status/` over real sockets. The history of a
//! decision stops at the cap, the same status twice writes nothing, writes are rate-limited
//! per key, and an authenticated request keeps answering quickly during a flood.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use facematch_core::{FaceMatch, ImageFaces, Status};
use facematch_server::ratelimit::ManualClock;
use facematch_store::{SavedDecision, MAX_HISTORY};
use serde_json::json;

use crate::common::{http, live_app, Reply, TestApp};

/// Saves an `In Review` decision of `key` straight into the store; returns its id.
fn saved_in_review(app: &TestApp, key: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
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
            created_at: now,
            updated_at: now,
            history: vec![],
        })
        .expect("save");
    request_id
}

/// `Approved` for even `i`, `Declined` for odd: every step is an allowed transition.
fn verdict(i: usize) -> &'static str {
    if i.is_multiple_of(2) {
        "Approved"
    } else {
        "Declined"
    }
}

async fn patch(addr: SocketAddr, key: &str, id: &str, status: &str, comment: &str) -> Reply {
    let body = json!({"new_status": status, "comment": comment}).to_string();
    http(
        addr,
        "PATCH",
        &format!("/v3/session/{id}/update-status/"),
        &[
            ("x-api-key", key.to_owned()),
            ("content-type", "application/json".to_owned()),
        ],
        body.as_bytes(),
    )
    .await
    .expect("patch")
}

async fn get(addr: SocketAddr, key: &str, path: &str) -> Reply {
    http(addr, "GET", path, &[("x-api-key", key.to_owned())], b"")
        .await
        .expect("get")
}

/// Four clients at once, each sending 200 updates with 1,000-character comments to its
/// own decision: exactly the first [`MAX_HISTORY`] of each are written, the other 150
/// are 409 `history_full` (or a 200 that writes nothing, for the status it already has);
/// meanwhile the same key's balance keeps answering within a second,
/// and a decision's answer stays bounded. The rate limit is off here so that the cap
/// alone is what stops the flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_flood_stops_at_the_cap_while_the_key_still_gets_answers() {
    let live = live_app(TestApp::loading(|c| c.review_writes_per_minute = 0)).await;
    let key = live.app.key(0);
    let addr = live.addr;
    let comment = "é".repeat(1_000);

    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let prober = {
        let key = key.clone();
        tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            let mut probes = 0_u32;
            while !*done_rx.borrow_and_update() || probes == 0 {
                let start = Instant::now();
                let reply = get(addr, &key, "/v3/billing/balance/").await;
                worst = worst.max(start.elapsed());
                probes += 1;
                assert_eq!(reply.status, 200, "{}", reply.text());
            }
            (worst, probes)
        })
    };

    let mut clients = Vec::new();
    for _ in 0..4 {
        let id = saved_in_review(&live.app, &key);
        let (key, comment) = (key.clone(), comment.clone());
        clients.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            for i in 0..200 {
                let reply = patch(addr, &key, &id, verdict(i), &comment).await;
                codes.push(match reply.status.as_u16() {
                    200 => "ok".to_owned(),
                    _ => {
                        assert_eq!(reply.status, 409, "{}", reply.text());
                        reply.code().to_owned()
                    }
                });
            }
            (id, codes)
        }));
    }
    let mut ids = Vec::new();
    for client in clients {
        let (id, codes) = client.await.expect("client");
        // Once full, the decision stays at its last verdict (`Declined`, the 50th): asking
        // for `Approved` is refused by the cap, `Declined` again changes nothing (200).
        let expected: Vec<&str> = (0..200)
            .map(|i| match (i < MAX_HISTORY, verdict(i)) {
                (true, _) => "ok",
                (false, "Approved") => "history_full",
                (false, _) => "ok",
            })
            .collect();
        assert_eq!(codes, expected, "first {MAX_HISTORY} written, then 409");
        ids.push(id);
    }
    done_tx.send(true).expect("prober alive");
    let (worst, probes) = prober.await.expect("prober");

    for id in ids {
        let decision = get(addr, &key, &format!("/v3/session/{id}/decision/")).await;
        assert_eq!(decision.status, 200, "{}", decision.text());
        let history = decision.json["reviews"].as_array().expect("reviews");
        assert_eq!(history.len(), MAX_HISTORY);
        assert!(decision.json.get("reviews_truncated").is_none());
        // 50 comments of 1,000 two-byte characters, plus the rest of the decision.
        assert!(
            decision.raw.len() < MAX_HISTORY * 2_200,
            "{} bytes",
            decision.raw.len()
        );
    }

    assert!(probes > 0);
    assert!(
        worst < Duration::from_secs(1),
        "balance took {worst:?} during the flood ({probes} probes)"
    );
    live.shutdown().await;
}

/// The status a decision already has is a 200 that writes nothing (Didit's rule); `In
/// Review` is not a verdict (400); another key's decision is a 404, whatever the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_status_again_writes_nothing_and_another_keys_decision_is_not_found() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let (alice, mallory) = (live.app.key(0), live.app.key(0));
    let id = saved_in_review(&live.app, &alice);

    let first = patch(live.addr, &alice, &id, "Approved", "looks right").await;
    assert_eq!(first.status, 200, "{}", first.text());
    let again = patch(live.addr, &alice, &id, "Approved", "again").await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json, json!({ "session_id": id }));
    patch(live.addr, &alice, &id, "In Review", "undo")
        .await
        .assert_error(400, "invalid_field");
    // A correction is allowed.
    let fixed = patch(live.addr, &alice, &id, "Declined", "second look").await;
    assert_eq!(fixed.status, 200, "{}", fixed.text());

    for status in ["Approved", "Declined"] {
        patch(live.addr, &mallory, &id, status, "mine")
            .await
            .assert_error(404, "not_found");
    }
    let after = get(live.addr, &alice, &format!("/v3/session/{id}/decision/")).await;
    assert_eq!(after.json["status"], "Declined");
    assert_eq!(after.json["reviews"].as_array().map(Vec::len), Some(2));
    live.shutdown().await;
}

/// An id that cannot name a decision — not UTF-8 once percent-decoded, or not a UUID —
/// is the contract's JSON 404 on both decision routes, never a plain-text rejection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_request_id_is_a_json_404() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let key = live.app.key(0);
    for id in ["%FF", "%C3%28", "not-a-uuid", "%00"] {
        get(live.addr, &key, &format!("/v3/session/{id}/decision/"))
            .await
            .assert_error(404, "not_found");
        patch(live.addr, &key, id, "Approved", "x")
            .await
            .assert_error(404, "not_found");
    }
    live.shutdown().await;
}

/// Default limit (60 a minute, bursts of 10): the 11th write at once is a 429 with
/// Retry-After, before the store is touched (the history does not grow); another key
/// has its own bucket; a second later the key may write again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_writes_are_rate_limited_per_key() {
    let clock = ManualClock::new();
    let live = live_app(TestApp::on_clock(|_| {}, &clock)).await;
    let (key, other) = (live.app.key(0), live.app.key(0));
    let id = saved_in_review(&live.app, &key);
    let theirs = saved_in_review(&live.app, &other);

    for i in 0..10 {
        let reply = patch(live.addr, &key, &id, verdict(i), "").await;
        assert_eq!(reply.status, 200, "write {i}: {}", reply.text());
    }
    let limited = patch(live.addr, &key, &id, verdict(10), "").await;
    limited.assert_error(429, "rate_limited");
    assert_eq!(
        limited
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let decision = get(live.addr, &key, &format!("/v3/session/{id}/decision/")).await;
    assert_eq!(decision.json["reviews"].as_array().map(Vec::len), Some(10));

    let reply = patch(live.addr, &other, &theirs, "Approved", "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    clock.advance(Duration::from_secs(1));
    let reply = patch(live.addr, &key, &id, verdict(10), "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    patch(live.addr, &key, &id, verdict(11), "")
        .await
        .assert_error(429, "rate_limited");
    live.shutdown().await;
}

/// The review queue's offset is bounded (SQLite steps over skipped rows under the lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_queue_offset_is_bounded() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let key = live.app.key(0);
    let ok = get(live.addr, &key, "/v3/review-queue/?offset=10000").await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    get(live.addr, &key, "/v3/review-queue/?offset=10001")
        .await
        .assert_error(400, "invalid_field");
    live.shutdown().await;
}
