//! `GET /v3/sessions/` and the batch delete by session number, as an attacker would try
//! them: no key, another key's sessions and numbers, bad and huge query strings, a flood
//! of batch deletes.

use facematch_core::{FaceMatch, ImageFaces, Status};
use facematch_server::ratelimit::ManualClock;
use facematch_store::SavedDecision;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::common::{http, live_app, Live, Reply, TestApp};

/// Saves an `Approved` decision of `key` with `vendor_data`; returns its id.
fn saved(app: &TestApp, key: &str, vendor_data: &str) -> String {
    let now = OffsetDateTime::now_utc();
    let key_id = app.store().authenticate(key, now).expect("valid key").id;
    let request_id = uuid::Uuid::new_v4().to_string();
    app.store()
        .save_decision(&SavedDecision {
            request_id: request_id.clone(),
            key_id,
            face_match: FaceMatch {
                status: Status::Approved,
                score: Some(80),
                user_image: ImageFaces::default(),
                ref_image: ImageFaces::default(),
                warnings: vec![],
            },
            decline_threshold: 30.0,
            review_threshold: None,
            vendor_data: Some(vendor_data.to_owned()),
            metadata: None,
            session_number: 0,
            created_at: now,
            updated_at: now,
            history: vec![],
        })
        .expect("save");
    request_id
}

async fn list(live: &Live, key: Option<&str>, query: &str) -> Reply {
    let headers: Vec<(&str, String)> = key
        .map(|k| ("x-api-key", k.to_owned()))
        .into_iter()
        .collect();
    http(
        live.addr,
        "GET",
        &format!("/v3/sessions/?{query}"),
        &headers,
        b"",
    )
    .await
    .expect("http")
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["session_id"].as_str().expect("id").to_owned())
        .collect()
}

async fn batch(app: &TestApp, key: &str, body: Value) -> Reply {
    app.json("POST", "/v3/sessions/delete/", Some(key), Some(body))
        .await
}

/// Another key's sessions are never listed, whatever the filter names; no key or a bad
/// one is a 401.
#[tokio::test]
async fn another_keys_sessions_are_never_listed() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let (mine, theirs) = (live.app.key(0), live.app.key(0));
    let my_id = saved(&live.app, &mine, "me");
    saved(&live.app, &theirs, "victim");
    saved(&live.app, &theirs, "victim");

    for query in [
        "",
        "vendor_data=victim",
        "search=vic",
        "session_kind=all",
        "limit=100",
    ] {
        let reply = list(&live, Some(&mine), query).await;
        assert_eq!(reply.status, 200, "{query}");
        let want: Vec<String> = if query.contains("vic") {
            vec![]
        } else {
            vec![my_id.clone()]
        };
        assert_eq!(ids(&reply), want, "{query}");
        assert_eq!(reply.json["count"], want.len(), "{query}");
    }
    list(&live, None, "")
        .await
        .assert_error(401, "missing_api_key");
    list(&live, Some("fm_nope_x"), "")
        .await
        .assert_error(401, "invalid_api_key");
    live.shutdown().await;
}

/// Every bad value is a 400 whose detail names its parameter; none is a 500.
#[tokio::test]
async fn bad_filters_and_paging_are_400s_naming_the_field() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let key = live.app.key(0);
    saved(&live.app, &key, "v");
    let long_search = format!("search={}", "a".repeat(101));
    let long_vendor = format!("vendor_data={}", "a".repeat(1001));
    let cases: Vec<(&str, &str)> = vec![
        ("status=Maybe", "status"),
        ("status=Approved,,Declined", "status"),
        ("status=%00", "status"),
        ("date_from=yesterday", "date_from"),
        ("date_from=2026-02-30", "date_from"),
        ("date_to=2026-06-01T25:00:00Z", "date_to"),
        ("date_from=2026-06-02&date_to=2026-06-01", "date_from"),
        ("date_to=9999-12-31", "date_to"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("offset=10001", "offset"),
        ("offset=-1", "offset"),
        (long_search.as_str(), "search"),
        (long_vendor.as_str(), "vendor_data"),
        ("session_kind=admin", "session_kind"),
        ("workflow_id=1%27%20OR%201=1", "workflow_id"),
        ("country=E%25", "country"),
    ];
    for (query, field) in cases {
        let detail = list(&live, Some(&key), query)
            .await
            .assert_error(400, "invalid_field");
        assert!(detail.contains(&format!("`{field}`")), "{query}: {detail}");
    }
    let detail = list(&live, Some(&key), "limit=1&limit=2")
        .await
        .assert_error(400, "duplicate_field");
    assert!(detail.contains("limit"), "{detail}");
    live.shutdown().await;
}

/// A query string past 8 KiB is a 400 before anything is read; a far larger request line
/// is refused by the server's head limit (a 4xx or a closed connection), never a 500.
#[tokio::test]
async fn a_huge_query_string_is_refused_not_a_500() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let key = live.app.key(0);
    let big = format!("status={}", "Approved,".repeat(7_000));
    let detail = list(&live, Some(&key), &big)
        .await
        .assert_error(400, "invalid_field");
    assert!(detail.contains("`query`"), "{detail}");
    let huge = format!("search={}", "a".repeat(2 * 1024 * 1024));
    let headers = [("x-api-key", key.clone())];
    match http(
        live.addr,
        "GET",
        &format!("/v3/sessions/?{huge}"),
        &headers,
        b"",
    )
    .await
    {
        Ok(reply) => assert!(
            reply.status.is_client_error(),
            "{} {}",
            reply.status,
            reply.text()
        ),
        Err(e) => eprintln!("connection refused the request line: {e}"),
    }
    // The server still answers.
    assert_eq!(list(&live, Some(&key), "").await.status, 200);
    live.shutdown().await;
}

/// Another key's session numbers name only the caller's own sessions: theirs stay.
#[tokio::test]
async fn batch_delete_never_touches_another_keys_numbers() {
    let app = TestApp::loading(|c| c.review_writes_per_minute = 0);
    let (mine, theirs) = (app.key(0), app.key(0));
    let their_ids = [saved(&app, &theirs, "t"), saved(&app, &theirs, "t")];
    let reply = batch(&app, &mine, json!({"session_numbers": ["1", 2]})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json["deleted"], 0);
    for id in &their_ids {
        let r = app
            .json(
                "GET",
                &format!("/v3/session/{id}/decision/"),
                Some(&theirs),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
    }
    // Their ids, sent by me: also none.
    let reply = batch(&app, &mine, json!({"session_ids": their_ids})).await;
    assert_eq!(reply.json["deleted"], 0);
}

/// Malformed numbers, `delete_all`, nothing named or too much: 400, nothing deleted.
#[tokio::test]
async fn malformed_batches_are_refused_whole() {
    let app = TestApp::loading(|c| c.review_writes_per_minute = 0);
    let key = app.key(0);
    let id = saved(&app, &key, "v");
    for bad in [
        json!({"session_numbers": ["1", "1a"]}),
        json!({"session_numbers": ["1", ""]}),
        json!({"session_numbers": ["1", "-1"]}),
        json!({"session_numbers": [1, -1]}),
        json!({"session_numbers": [1.5]}),
        json!({"session_numbers": [null]}),
        json!({"session_numbers": ["99999999999999999999"]}),
        json!({"session_numbers": []}),
        json!({}),
        json!({"session_numbers": vec!["1"; 60], "session_ids": vec![id.clone(); 41]}),
    ] {
        let detail = batch(&app, &key, bad.clone())
            .await
            .assert_error(400, "invalid_field");
        assert!(detail.contains("session_numbers"), "{bad}: {detail}");
    }
    let detail = batch(
        &app,
        &key,
        json!({"delete_all": true, "session_numbers": ["1"]}),
    )
    .await
    .assert_error(400, "invalid_field");
    assert!(
        detail.contains("delete_all") && detail.contains("not supported"),
        "{detail}"
    );
    batch(
        &app,
        &key,
        json!({"session_numbers": ["1"], "filter_status": "Approved"}),
    )
    .await
    .assert_error(400, "invalid_json");
    let r = app
        .json(
            "GET",
            &format!("/v3/session/{id}/decision/"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
}

/// A flood of batch deletes by number hits the review-write bucket (bursts of 10): the
/// 11th is a 429 and deletes nothing.
#[tokio::test]
async fn a_flood_of_batch_deletes_is_rate_limited() {
    let clock = ManualClock::new();
    let app = TestApp::on_clock(|_| {}, &clock);
    let key = app.key(0);
    let id = saved(&app, &key, "v");
    for _ in 0..10 {
        let reply = batch(&app, &key, json!({"session_numbers": ["999"]})).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    batch(&app, &key, json!({"session_numbers": ["1"]}))
        .await
        .assert_error(429, "rate_limited");
    let r = app
        .json(
            "GET",
            &format!("/v3/session/{id}/decision/"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
}
