//! `GET /v3/sessions/` (Didit's session list) and the batch delete by session number,
//! over real sockets on loopback: every filter narrows as it should, the pages walk every
//! row exactly once, one page is pinned field by field (snapshot).

mod common;

use common::{http, live_app, Live, Reply, TestApp};
use facematch_core::{FaceMatch, ImageFaces, Status};
use facematch_store::SavedDecision;
use serde_json::{json, Map, Value};
use time::{Duration, OffsetDateTime};

/// 2026-06-01T00:00:00Z.
fn day0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_780_272_000).expect("time")
}

/// Saves a decision of `key` with these fields; returns its request id.
fn save(
    app: &TestApp,
    key: &str,
    id: Option<&str>,
    status: Status,
    score: Option<u8>,
    vendor_data: Option<&str>,
    at: OffsetDateTime,
) -> String {
    let key_id = app
        .store()
        .authenticate(key, OffsetDateTime::now_utc())
        .expect("valid key")
        .id;
    let request_id = id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let mut metadata = Map::new();
    metadata.insert("flow".into(), json!("login"));
    app.store()
        .save_decision(&SavedDecision {
            request_id: request_id.clone(),
            key_id,
            face_match: FaceMatch {
                status,
                score,
                user_image: ImageFaces::default(),
                ref_image: ImageFaces::default(),
                warnings: vec![],
            },
            decline_threshold: 30.0,
            review_threshold: None,
            vendor_data: vendor_data.map(str::to_owned),
            metadata: vendor_data.is_some().then_some(metadata),
            session_number: 0,
            created_at: at,
            updated_at: at,
            history: vec![],
        })
        .expect("save");
    request_id
}

async fn get(live: &Live, key: &str, path: &str) -> Reply {
    http(
        live.addr,
        "GET",
        path,
        &[("x-api-key", key.to_owned())],
        b"",
    )
    .await
    .expect("http")
}

/// The session numbers of one page, and the count.
async fn numbers(live: &Live, key: &str, query: &str) -> (u64, Vec<i64>) {
    let reply = get(live, key, &format!("/v3/sessions/?{query}")).await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.text());
    let results = reply.json["results"].as_array().expect("results");
    (
        reply.json["count"].as_u64().expect("count"),
        results
            .iter()
            .map(|r| r["session_number"].as_i64().expect("number"))
            .collect(),
    )
}

/// Seven sessions of one key, numbers 1–7, 12 hours apart from 2026-06-01T00:00Z, and
/// one of another key.
fn fixture(app: &TestApp) -> (String, String) {
    let (mine, theirs) = (app.key(0), app.key(0));
    let h = Duration::hours(12);
    let rows = [
        (Status::Approved, Some("user-1")),
        (Status::Declined, Some("user-2")),
        (Status::InReview, Some("User-10")),
        (Status::Approved, None),
        (Status::InReview, Some("user-1")),
        (Status::Declined, Some("50%_off")),
        (Status::Approved, Some("user-3")),
    ];
    for (i, (status, vendor_data)) in rows.into_iter().enumerate() {
        let at = day0() + h * i32::try_from(i).expect("small");
        save(app, &mine, None, status, Some(60), vendor_data, at);
    }
    save(
        app,
        &theirs,
        None,
        Status::Approved,
        Some(90),
        Some("user-1"),
        day0(),
    );
    (mine, theirs)
}

#[tokio::test]
async fn each_filter_narrows_the_list_as_documented() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let (mine, _) = fixture(&live.app);
    let cases: &[(&str, &[i64])] = &[
        ("", &[7, 6, 5, 4, 3, 2, 1]),
        ("status=Approved", &[7, 4, 1]),
        ("status=APPROVED,IN_REVIEW", &[7, 5, 4, 3, 1]),
        ("status=In%20Review", &[5, 3]),
        ("status=In+Review,Declined", &[6, 5, 3, 2]),
        ("status=Not%20Started", &[]),
        ("status=NOT_STARTED,DECLINED", &[6, 2]),
        ("vendor_data=user-1", &[5, 1]),
        ("vendor_data=user", &[]),
        // Made on 2026-06-02 (UTC): the whole day, both bounds inclusive.
        ("date_from=2026-06-02&date_to=2026-06-02", &[4, 3]),
        ("date_to=2026-06-01", &[2, 1]),
        ("date_from=2026-06-03", &[7, 6, 5]),
        ("date_from=2026-06-02T12:00:00Z", &[7, 6, 5, 4]),
        ("date_from=2026-06-02T12:00:00.000001Z", &[7, 6, 5]),
        ("date_to=2026-06-02T14:00:00%2B02:00", &[4, 3, 2, 1]),
        ("search=USER-1", &[5, 3, 1]),
        ("search=%25", &[6]),
        ("search=r_1", &[]),
        ("session_kind=user", &[7, 6, 5, 4, 3, 2, 1]),
        ("session_kind=all", &[7, 6, 5, 4, 3, 2, 1]),
        ("session_kind=business", &[]),
        ("workflow_id=11111111-2222-3333-4444-555555555555", &[]),
        ("country=ESP", &[]),
        (
            "status=Approved&search=user&date_from=2026-06-01T12:00:00Z",
            &[7],
        ),
        ("ordering=created_at&status=", &[7, 6, 5, 4, 3, 2, 1]),
    ];
    for (query, want) in cases {
        let (count, got) = numbers(&live, &mine, query).await;
        assert_eq!(got, *want, "{query}");
        assert_eq!(count, want.len() as u64, "{query}");
    }
    live.shutdown().await;
}

/// Following `next` from the first page visits every session exactly once, newest first;
/// following `previous` back does too; `count` is the same on every page.
#[tokio::test]
async fn next_and_previous_walk_every_row_exactly_once() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let (mine, _) = fixture(&live.app);
    let mut path = Some("/v3/sessions/?limit=3&status=Approved,Declined,In%20Review".to_owned());
    let mut seen = vec![];
    let mut last = Value::Null;
    while let Some(p) = path {
        let reply = get(&live, &mine, &p).await;
        assert_eq!(reply.status, 200, "{p}: {}", reply.text());
        assert_eq!(reply.json["count"], 7);
        seen.extend(
            reply.json["results"]
                .as_array()
                .expect("results")
                .iter()
                .map(|r| r["session_number"].as_i64().expect("number")),
        );
        path = reply.json["next"].as_str().map(str::to_owned);
        last = reply.json;
    }
    assert_eq!(seen, [7, 6, 5, 4, 3, 2, 1]);
    let mut back = vec![];
    let mut path = last["previous"].as_str().map(str::to_owned);
    while let Some(p) = path {
        let reply = get(&live, &mine, &p).await;
        let mut page: Vec<i64> = reply.json["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["session_number"].as_i64().expect("number"))
            .collect();
        page.reverse();
        back.extend(page);
        path = reply.json["previous"].as_str().map(str::to_owned);
    }
    // Back from the last page (row 1): every earlier row once.
    assert_eq!(back, [2, 3, 4, 5, 6, 7]);
    let first = get(&live, &mine, "/v3/sessions/?limit=3").await;
    assert_eq!(first.json["previous"], Value::Null);
    assert_eq!(first.json["next"], "/v3/sessions/?limit=3&offset=3");
    live.shutdown().await;
}

/// One page, every field of Didit's row, pinned.
#[tokio::test]
async fn a_page_has_didits_row_shape() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let key = live.app.key(0);
    let at = day0() + Duration::microseconds(328_364);
    // Number 1, on the next page.
    save(
        &live.app,
        &key,
        Some("00000000-0000-4000-8000-000000000001"),
        Status::InReview,
        Some(50),
        Some("older"),
        day0(),
    );
    save(
        &live.app,
        &key,
        Some("5b3720ed-d429-42ef-b67f-37ea805f48ee"),
        Status::Approved,
        Some(95),
        Some("your-user-id-123"),
        at,
    );
    save(
        &live.app,
        &key,
        Some("11111111-2222-3333-4444-555555555555"),
        Status::Declined,
        None,
        None,
        at + Duration::seconds(1),
    );
    let reply = get(&live, &key, "/v3/sessions/?limit=2").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    insta::assert_json_snapshot!("page", reply.json);
    // Didit's field order, on the wire.
    let text = reply.text();
    let order = [
        "session_id",
        "session_kind",
        "session_number",
        "session_url",
        "portrait_image",
        "document_type",
        "full_name",
        "country",
        "status",
        "vendor_data",
        "metadata",
        "created_at",
        "features",
        "phone_number",
        "email_address",
        "additional_details",
    ]
    .map(|k| text.find(&format!("\"{k}\":")).expect(k));
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    live.shutdown().await;
}

/// `/v3/sessions` without the slash: 301 to the slashed path, the query kept.
#[tokio::test]
async fn the_unslashed_path_redirects_with_its_query() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let key = live.app.key(0);
    let reply = get(&live, &key, "/v3/sessions?status=In%20Review&limit=5").await;
    assert_eq!(reply.status, 301);
    assert_eq!(
        reply.headers["location"],
        "/v3/sessions/?status=In%20Review&limit=5"
    );
    let reply = get(&live, &key, "/v3/sessions").await;
    assert_eq!(reply.status, 301);
    assert_eq!(reply.headers["location"], "/v3/sessions/");
    live.shutdown().await;
}

/// Didit's batch body: numbers as strings or integers, mixed with request ids; each
/// result names both; the deleted ones leave the list.
#[tokio::test]
async fn batch_delete_takes_didits_session_numbers() {
    let live = live_app(TestApp::loading(|c| c.review_writes_per_minute = 0)).await;
    let (mine, _) = fixture(&live.app);
    let page = get(&live, &mine, "/v3/sessions/?vendor_data=user-3").await;
    let id7 = page.json["results"][0]["session_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let page = get(&live, &mine, "/v3/sessions/?limit=1&offset=6").await;
    let id1 = page.json["results"][0]["session_id"]
        .as_str()
        .expect("id")
        .to_owned();

    let reply = http(
        live.addr,
        "POST",
        "/v3/sessions/delete/",
        &[
            ("x-api-key", mine.clone()),
            ("content-type", "application/json".into()),
        ],
        json!({"session_ids": [id7], "session_numbers": ["2", 3, "99", "007"]})
            .to_string()
            .as_bytes(),
    )
    .await
    .expect("http");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let results = reply.json["results"].as_array().expect("results");
    assert_eq!(
        results[0],
        json!({"session_id": id7, "session_number": 7, "outcome": "deleted"})
    );
    assert_eq!(results[1]["session_number"], 2);
    assert_eq!(results[1]["outcome"], "deleted");
    assert!(results[1]["session_id"].is_string());
    assert_eq!(results[2]["outcome"], "deleted");
    assert_eq!(
        results[3],
        json!({"session_id": null, "session_number": 99, "outcome": "none"})
    );
    assert_eq!(
        results[4],
        json!({"session_id": null, "session_number": 7, "outcome": "none"})
    );
    assert_eq!(reply.json["deleted"], 3);
    assert_eq!(numbers(&live, &mine, "").await, (4, vec![6, 5, 4, 1]));
    let one = get(&live, &mine, &format!("/v3/session/{id1}/decision/")).await;
    assert_eq!(one.status, 200);
    live.shutdown().await;
}
