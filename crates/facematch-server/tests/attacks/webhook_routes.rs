//! The webhook routes as an attacker would try them: without a key or with a bad one,
//! on another key's destinations and decisions, with URLs that point inside the network,
//! oversize fields and bodies, too many destinations, a flood of writes; and the secret
//! never shown after its creation.

use facematch_core::{FaceMatch, ImageFaces, Status};
use facematch_server::ratelimit::ManualClock;
use facematch_store::SavedDecision;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::common::{Reply, TestApp};

/// (method, path, body) of every webhook route, for a destination `d`, a decision `s` and
/// a try `t`.
fn every_route(d: &str, s: &str, t: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        (
            "POST",
            "/v3/webhook/destinations/".into(),
            Some(
                json!({"label": "x", "url": "https://hooks.example.com/", "subscribed_events": ["status.updated"]}),
            ),
        ),
        ("GET", "/v3/webhook/destinations/".into(), None),
        ("GET", format!("/v3/webhook/destinations/{d}/"), None),
        (
            "PATCH",
            format!("/v3/webhook/destinations/{d}/"),
            Some(json!({"label": "mine now"})),
        ),
        ("DELETE", format!("/v3/webhook/destinations/{d}/"), None),
        (
            "POST",
            format!("/v3/webhook/destinations/{d}/rotate-secret/"),
            None,
        ),
        ("POST", format!("/v3/webhook/destinations/{d}/test/"), None),
        (
            "GET",
            format!("/v3/webhook/destinations/{d}/deliveries/"),
            None,
        ),
        (
            "GET",
            format!("/v3/webhook/destinations/{d}/deliveries/{t}/"),
            None,
        ),
        (
            "POST",
            format!("/v3/webhook/destinations/{d}/deliveries/{t}/resend/"),
            None,
        ),
        ("GET", format!("/v3/session/{s}/webhooks/"), None),
        ("GET", format!("/v3/session/{s}/webhook/{t}"), None),
        ("POST", format!("/v3/session/{s}/webhook/{t}/resend"), None),
    ]
}

async fn create(app: &TestApp, key: &str, body: Value) -> Reply {
    app.json("POST", "/v3/webhook/destinations/", Some(key), Some(body))
        .await
}

fn destination(url: &str) -> Value {
    json!({"label": "hooks", "url": url, "subscribed_events": ["status.updated"]})
}

/// Saves a decision of `key`; returns its id.
fn saved(app: &TestApp, key: &str) -> String {
    let now = OffsetDateTime::now_utc();
    let key_id = app.store().authenticate(key, now).expect("valid key").id;
    let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
    app.store()
        .save_decision(&SavedDecision {
            request_id: request_id.clone(),
            key_id,
            face_match: FaceMatch {
                status: Status::Approved,
                score: Some(90),
                user_image: ImageFaces::default(),
                ref_image: ImageFaces::default(),
                warnings: vec![],
            },
            decline_threshold: 30.0,
            review_threshold: None,
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

/// The first try of the one pending event, made by hand as the deliverer would (to an
/// unreachable receiver: a failed try is logged all the same).
async fn one_try(app: &TestApp) {
    let due = app
        .store()
        .claim_due_deliveries(OffsetDateTime::now_utc(), time::Duration::seconds(60), 10)
        .expect("claim");
    assert_eq!(due.len(), 1);
    for d in due {
        facematch_server::webhooks::deliver::send_once(app.store(), app.state.webhooks(), d, false)
            .await
            .expect("send");
    }
}

#[tokio::test]
async fn no_key_or_a_bad_key_is_401_on_every_route() {
    let app = TestApp::loading(|_| {});
    let id = uuid::Uuid::new_v4().to_string();
    for (method, path, body) in every_route(&id, &id, &id) {
        app.json(method, &path, None, body.clone())
            .await
            .assert_error(401, "missing_api_key");
        app.json(method, &path, Some("fm_nope_nope"), body)
            .await
            .assert_error(401, "invalid_api_key");
    }
}

/// Key B cannot read, change, delete, rotate, test or read the log of key A's destination,
/// nor read or resend key A's decision's tries: 404 everywhere, and A's destination is
/// unchanged.
#[tokio::test]
async fn another_keys_destination_and_session_log_are_404_everywhere() {
    let app = TestApp::loading(|c| {
        c.allow_http_webhooks = true;
        c.allow_private_webhooks = true;
    });
    let owner = app.key(0);
    let other = app.key(0);
    // A receiver nobody listens on: the try fails, but is logged.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let created = create(
        &app,
        &owner,
        destination(&format!("http://127.0.0.1:{port}/h")),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let d = created.json["uuid"].as_str().expect("uuid").to_owned();
    let s = saved(&app, &owner);
    one_try(&app).await;
    let log = app
        .json(
            "GET",
            &format!("/v3/session/{s}/webhooks/"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(log.status, 200, "{}", log.text());
    let t = log.json[0]["uuid"].as_str().expect("a try").to_owned();

    // The list of B has nothing of A's; the create is B's own (skipped here).
    let listed = app
        .json("GET", "/v3/webhook/destinations/", Some(&other), None)
        .await;
    assert_eq!(listed.json, json!([]), "{}", listed.text());
    for (method, path, body) in every_route(&d, &s, &t).into_iter().skip(2) {
        let reply = app.json(method, &path, Some(&other), body).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text());
        reply.assert_error(404, "not_found");
    }
    // A try of another decision of A's is not reachable through this decision either.
    let s2 = saved(&app, &owner);
    app.json(
        "GET",
        &format!("/v3/session/{s2}/webhook/{t}"),
        Some(&owner),
        None,
    )
    .await
    .assert_error(404, "not_found");
    // Not UUIDs: 404, not 400 or 500.
    for path in [
        "/v3/webhook/destinations/not-a-uuid/",
        "/v3/session/x/webhooks/",
        "/v3/session/x/webhook/y",
    ] {
        app.json("GET", path, Some(&owner), None)
            .await
            .assert_error(404, "not_found");
    }
    // A's destination is as it was, and B's writes sent nothing.
    let mine = app
        .json(
            "GET",
            &format!("/v3/webhook/destinations/{d}/"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.json["label"], "hooks");
    assert_eq!(
        mine.json["summary"]["total_deliveries"],
        1,
        "{}",
        mine.text()
    );
}

/// Without `--allow-*-webhooks`: http, private, loopback, metadata, userinfo and
/// `localhost` URLs are refused with a 400 that names the reason, on create and update.
#[tokio::test]
async fn internal_and_plain_http_urls_are_refused() {
    let app = TestApp::loading(|_| {});
    let key = app.key(0);
    for url in [
        "http://hooks.example.com/",
        "https://10.0.0.1/hook",
        "https://192.168.1.1/hook",
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://user:pw@hooks.example.com/",
        "https://localhost/hook",
        "ftp://hooks.example.com/",
        "not a url",
    ] {
        let reply = create(&app, &key, destination(url)).await;
        let detail = reply.assert_error(400, "invalid_field");
        assert!(detail.contains("url"), "{url}: {detail}");
    }
    let ok = create(&app, &key, destination("https://hooks.example.com/")).await;
    assert_eq!(ok.status, 201, "{}", ok.text());
    let d = ok.json["uuid"].as_str().expect("uuid");
    app.json(
        "PATCH",
        &format!("/v3/webhook/destinations/{d}/"),
        Some(&key),
        Some(json!({"url": "https://169.254.169.254/"})),
    )
    .await
    .assert_error(400, "invalid_field");
    let listed = app
        .json("GET", "/v3/webhook/destinations/", Some(&key), None)
        .await;
    assert_eq!(listed.json.as_array().map(Vec::len), Some(1));
    assert_eq!(listed.json[0]["url"], "https://hooks.example.com/");
}

/// 20 destinations per key; the 21st is a 409. Oversize label, URL and body are refused,
/// and so are unknown events, an empty list, an unknown version, an unknown field.
#[tokio::test]
async fn limits_on_count_fields_and_body() {
    let app = TestApp::loading(|c| c.review_writes_per_minute = 0);
    let key = app.key(0);
    for i in 0..20 {
        let reply = create(
            &app,
            &key,
            destination(&format!("https://h{i}.example.com/")),
        )
        .await;
        assert_eq!(reply.status, 201, "{i}: {}", reply.text());
    }
    create(&app, &key, destination("https://h20.example.com/"))
        .await
        .assert_error(409, "conflict");

    let other = app.key(0);
    let long_label = json!({"label": "x".repeat(101), "url": "https://hooks.example.com/", "subscribed_events": ["status.updated"]});
    create(&app, &other, long_label)
        .await
        .assert_error(400, "invalid_request");
    let long_url = format!("https://hooks.example.com/{}", "a".repeat(2_100));
    create(&app, &other, destination(&long_url))
        .await
        .assert_error(400, "invalid_field");
    let huge = json!({"label": "x", "url": "https://hooks.example.com/", "subscribed_events": ["status.updated"], "pad": "a".repeat(70_000)});
    create(&app, &other, huge)
        .await
        .assert_error(413, "body_too_large");
    for body in [
        json!({"label": "x", "url": "https://hooks.example.com/", "subscribed_events": []}),
        json!({"label": "x", "url": "https://hooks.example.com/", "subscribed_events": ["status.updated"], "webhook_version": "v2"}),
        json!({"label": "x", "url": "https://hooks.example.com/", "subscribed_events": ["status.updated"], "secret_shared_key": "mine"}),
    ] {
        let reply = create(&app, &other, body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
    }
    create(
        &app,
        &other,
        json!({"label": "x", "url": "https://hooks.example.com/", "subscribed_events": ["everything.*"]}),
    )
    .await
    .assert_error(400, "invalid_request");
    let listed = app
        .json("GET", "/v3/webhook/destinations/", Some(&other), None)
        .await;
    assert_eq!(
        listed.json,
        json!([]),
        "nothing was made: {}",
        listed.text()
    );
}

/// Writes share the key's review-write budget: a flood is cut with 429 and Retry-After,
/// and nothing beyond the budget is created.
#[tokio::test]
async fn a_flood_of_writes_is_429() {
    let clock = ManualClock::default();
    let app = TestApp::on_clock(|c| c.review_writes_per_minute = 60, &clock);
    let key = app.key(0);
    let mut created = 0;
    let mut limited = None;
    for i in 0..30 {
        let reply = create(
            &app,
            &key,
            destination(&format!("https://f{i}.example.com/")),
        )
        .await;
        match reply.status.as_u16() {
            201 => created += 1,
            429 => {
                limited = Some(reply);
                break;
            }
            other => panic!("{other}: {}", reply.text()),
        }
    }
    let limited = limited.expect("the flood was cut");
    limited.assert_error(429, "rate_limited");
    assert!(limited.headers.get("retry-after").is_some());
    assert_eq!(created, 10, "the burst");
    let d = app
        .json("GET", "/v3/webhook/destinations/", Some(&key), None)
        .await;
    let first = d.json[0]["uuid"].as_str().expect("uuid").to_owned();
    for (method, path) in [
        ("DELETE", format!("/v3/webhook/destinations/{first}/")),
        (
            "POST",
            format!("/v3/webhook/destinations/{first}/rotate-secret/"),
        ),
        ("POST", format!("/v3/webhook/destinations/{first}/test/")),
    ] {
        app.json(method, &path, Some(&key), None)
            .await
            .assert_error(429, "rate_limited");
    }
    // Reads are not writes.
    assert_eq!(d.status, 200);
}

/// After its creation, no answer shows a destination's secret again.
#[tokio::test]
async fn the_secret_is_shown_once() {
    let app = TestApp::loading(|_| {});
    let key = app.key(0);
    let created = create(&app, &key, destination("https://hooks.example.com/")).await;
    let secret = created.json["secret_shared_key"]
        .as_str()
        .expect("shown at creation")
        .to_owned();
    let d = created.json["uuid"].as_str().expect("uuid").to_owned();
    for (method, path, body) in [
        ("GET", "/v3/webhook/destinations/".to_owned(), None),
        ("GET", format!("/v3/webhook/destinations/{d}/"), None),
        (
            "PATCH",
            format!("/v3/webhook/destinations/{d}/"),
            Some(json!({"label": "again"})),
        ),
        (
            "GET",
            format!("/v3/webhook/destinations/{d}/deliveries/"),
            None,
        ),
    ] {
        let reply = app.json(method, &path, Some(&key), body).await;
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.text());
        assert!(
            !reply.text().contains(&secret),
            "{method} {path} shows the secret"
        );
        assert!(
            !reply.text().contains("secret_shared_key"),
            "{method} {path}"
        );
    }
}
