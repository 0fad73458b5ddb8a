//! The webhook management routes (Didit's `/v3/webhook/destinations/…`), a destination's
//! test event and log, and a saved decision's delivery log and resend, end to end: real
//! receivers on loopback (the server runs with `--allow-http-webhooks
//! --allow-private-webhooks`), the deliverer's own `send_once`.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::{Reply, TestApp};
use facematch_core::{FaceMatch, ImageFaces, Status};
use facematch_server::webhooks::deliver::send_once;
use facematch_server::webhooks::sign::hmac_hex;
use facematch_store::SavedDecision;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tracing_subscriber::fmt::format::FmtSpan;

/// One POST a receiver got: its headers (lower-case names) and body.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(k, _)| k == name).map_or_else(
            || panic!("no {name} header: {:?}", self.headers),
            |(_, v)| v.as_str(),
        )
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A webhook receiver on loopback: records every POST to `/hook`, answers `status`.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start(status: u16) -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(status));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let receiver = Self { addr, got, status };
        let app = Router::new()
            .route("/hook", post(record))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }
}

async fn record(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, &'static str) {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    r.got.lock().expect("lock").push(Received { headers, body });
    (
        StatusCode::from_u16(r.status.load(Ordering::SeqCst)).expect("status"),
        "receiver says hi",
    )
}

fn app() -> TestApp {
    TestApp::loading(|c| {
        c.allow_http_webhooks = true;
        c.allow_private_webhooks = true;
    })
}

async fn create(app: &TestApp, key: &str, url: &str) -> Reply {
    app.json(
        "POST",
        "/v3/webhook/destinations/",
        Some(key),
        Some(json!({
            "label": "Production session webhooks",
            "url": url,
            "subscribed_events": ["status.updated", "data.updated"],
        })),
    )
    .await
}

/// Saves an `In Review` decision of `key` (its `status.updated` event goes to the key's
/// destinations); returns its request id.
fn save_decision(app: &TestApp, key: &str) -> String {
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
            vendor_data: Some("user-42".into()),
            metadata: None,
            session_number: 0,
            created_at: now,
            updated_at: now,
            history: vec![],
        })
        .expect("save");
    request_id
}

/// Sends every due delivery once, as the background deliverer would.
async fn deliver_due(app: &TestApp) -> usize {
    let due = app
        .store()
        .claim_due_deliveries(OffsetDateTime::now_utc(), time::Duration::seconds(60), 100)
        .expect("claim");
    let n = due.len();
    for d in due {
        send_once(app.store(), app.state.webhooks(), d, false)
            .await
            .expect("send");
    }
    n
}

fn str_field<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name}: {v}"))
}

/// Create → list → get → patch → delete, every answer in Didit's shape; the secret only in
/// the create's answer.
#[tokio::test]
async fn destinations_are_created_listed_read_changed_and_deleted() {
    let app = app();
    let key = app.key(0);
    let created = create(&app, &key, "https://hooks.example.com/didit").await;
    assert_eq!(created.status, 201, "{}", created.text());
    let d = &created.json;
    let uuid = str_field(d, "uuid").to_owned();
    assert_eq!(str_field(d, "label"), "Production session webhooks");
    assert_eq!(str_field(d, "url"), "https://hooks.example.com/didit");
    assert_eq!(d["enabled"], true);
    assert_eq!(str_field(d, "webhook_version"), "v3");
    let secret = str_field(d, "secret_shared_key").to_owned();
    assert_eq!(secret.len(), 43, "{secret}");
    assert_eq!(
        d["subscribed_events"],
        json!(["status.updated", "data.updated"])
    );
    assert_eq!(
        d["summary"],
        json!({"total_deliveries": 0, "failed_deliveries": 0, "error_rate_percentage": 0.0,
               "min_response_time_ms": null, "avg_response_time_ms": null,
               "max_response_time_ms": null, "last_delivery_at": null})
    );
    assert!(d["created_at"].as_str().is_some() && d["updated_at"].as_str().is_some());

    let second = create(&app, &key, "https://hooks.example.com/second").await;
    assert_eq!(second.status, 201);
    let list = app
        .json("GET", "/v3/webhook/destinations/", Some(&key), None)
        .await;
    assert_eq!(list.status, 200, "{}", list.text());
    let rows = list.json.as_array().expect("an array");
    assert_eq!(rows.len(), 2);
    assert_eq!(str_field(&rows[0], "uuid"), uuid, "oldest first");
    let mut fields: Vec<&str> = rows[0]
        .as_object()
        .expect("row")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "average_response_time_ms",
            "created_at",
            "deliveries_count",
            "enabled",
            "error_rate_percentage",
            "failed_deliveries_count",
            "label",
            "last_delivery_at",
            "subscribed_events_count",
            "updated_at",
            "url",
            "uuid",
            "webhook_version"
        ]
    );
    assert_eq!(rows[0]["subscribed_events_count"], 2);
    assert!(!list.text().contains(&secret), "the list shows no secret");

    let path = format!("/v3/webhook/destinations/{uuid}/");
    let got = app.json("GET", &path, Some(&key), None).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json["uuid"], uuid.as_str());
    assert!(
        got.json.get("secret_shared_key").is_none(),
        "{}",
        got.text()
    );
    assert!(!got.text().contains(&secret));

    let patched = app
        .json(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({"label": "renamed", "subscribed_events": ["status.updated"], "enabled": false})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(patched.json["label"], "renamed");
    assert_eq!(patched.json["subscribed_events"], json!(["status.updated"]));
    assert_eq!(patched.json["enabled"], false);
    assert_eq!(
        patched.json["url"], "https://hooks.example.com/didit",
        "unchanged"
    );
    assert!(patched.json.get("secret_shared_key").is_none());

    let emptied = app
        .json(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({"subscribed_events": []})),
        )
        .await;
    emptied.assert_error(400, "invalid_field");

    let deleted = app.json("DELETE", &path, Some(&key), None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    assert!(deleted.raw.is_empty());
    app.json("GET", &path, Some(&key), None)
        .await
        .assert_error(404, "not_found");
    app.json("DELETE", &path, Some(&key), None)
        .await
        .assert_error(404, "not_found");
}

/// A rotation answers a new secret, and the test event that follows is signed with it.
#[tokio::test]
async fn rotate_then_test_signs_with_the_new_secret_and_logs_the_try() {
    let app = app();
    let key = app.key(0);
    let receiver = Receiver::start(200).await;
    let created = create(&app, &key, &receiver.url()).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let uuid = str_field(&created.json, "uuid").to_owned();
    let old = str_field(&created.json, "secret_shared_key").to_owned();

    let rotated = app
        .json(
            "POST",
            &format!("/v3/webhook/destinations/{uuid}/rotate-secret/"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let new = str_field(&rotated.json, "secret_shared_key").to_owned();
    assert_eq!(new.len(), 43);
    assert_ne!(new, old);

    let tested = app
        .json(
            "POST",
            &format!("/v3/webhook/destinations/{uuid}/test/"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.text());
    let t = &tested.json;
    assert_eq!(t["status"], "success", "{t}");
    assert_eq!(t["response_status"], 200);
    assert_eq!(t["resend"], false);
    assert_eq!(t["webhook_type"], "status.updated");
    assert_eq!(t["request_url"], receiver.url().as_str());
    assert!(t["response_time_ms"].as_i64().is_some(), "{t}");
    let got = receiver.received();
    assert_eq!(got.len(), 1, "one POST");
    assert_eq!(got[0].json()["event_id"], t["event_id"]);
    assert_eq!(
        got[0].header("x-signature"),
        hmac_hex(&new, got[0].body.as_bytes())
    );
    assert_ne!(
        got[0].header("x-signature"),
        hmac_hex(&old, got[0].body.as_bytes())
    );
    // The logged request as Didit shows it: JSON-encoded strings.
    let headers: Value =
        serde_json::from_str(str_field(t, "request_header")).expect("headers: a JSON string");
    assert!(headers.is_object(), "{headers}");
    assert_eq!(str_field(t, "request_body"), got[0].body);
    assert!(!tested.text().contains(&new), "the secret is never logged");

    let log = app
        .json(
            "GET",
            &format!("/v3/webhook/destinations/{uuid}/deliveries/?limit=10"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(log.status, 200, "{}", log.text());
    let rows = log.json.as_array().expect("array");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["uuid"], t["uuid"]);
    assert!(
        rows[0].get("request_body").is_none(),
        "rows are the short shape"
    );
    let summary = app
        .json(
            "GET",
            &format!("/v3/webhook/destinations/{uuid}/"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        summary.json["summary"]["total_deliveries"],
        1,
        "{}",
        summary.text()
    );
    assert_eq!(summary.json["summary"]["failed_deliveries"], 0);
    app.json(
        "GET",
        &format!("/v3/webhook/destinations/{uuid}/deliveries/?limit=0"),
        Some(&key),
        None,
    )
    .await
    .assert_error(400, "invalid_field");
}

/// A decision's log lists its tries newest first; one try reads with its request as
/// JSON-encoded strings; a resend goes, as Didit's, to the URL the event was first sent to,
/// signed with the destination's current secret, keeps the event id and answers the new
/// try.
#[tokio::test]
async fn session_log_and_resend_to_the_original_url_with_the_current_secret() {
    let app = app();
    let key = app.key(0);
    let failing = Receiver::start(500).await;
    let created = create(&app, &key, &failing.url()).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let uuid = str_field(&created.json, "uuid").to_owned();
    let request_id = save_decision(&app, &key);

    let log_path = format!("/v3/session/{request_id}/webhooks/");
    let empty = app.json("GET", &log_path, Some(&key), None).await;
    assert_eq!(empty.status, 200, "{}", empty.text());
    assert_eq!(empty.json, json!([]), "nothing sent yet");

    assert_eq!(deliver_due(&app).await, 1);
    let first_post = failing.received();
    assert_eq!(first_post.len(), 1);
    let event_id = str_field(&first_post[0].json(), "event_id").to_owned();

    let log = app.json("GET", &log_path, Some(&key), None).await;
    assert_eq!(log.status, 200, "{}", log.text());
    let rows = log.json.as_array().expect("array");
    assert_eq!(rows.len(), 1);
    let first = &rows[0];
    assert_eq!(first["status"], "failed");
    assert_eq!(first["response_status"], 500);
    assert_eq!(first["session_id"], request_id.as_str());
    assert_eq!(first["event_id"], event_id.as_str());
    assert_eq!(first["resend"], false);
    assert!(
        first["next_try_at"].as_str().is_some(),
        "a retry is scheduled: {first}"
    );
    let try_id = str_field(first, "uuid").to_owned();

    let one = app
        .json(
            "GET",
            &format!("/v3/session/{request_id}/webhook/{try_id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.json["uuid"], try_id.as_str());
    assert_eq!(one.json["response_body"], "receiver says hi");
    let sent_headers: Value =
        serde_json::from_str(str_field(&one.json, "request_header")).expect("JSON string");
    assert!(
        sent_headers
            .to_string()
            .to_lowercase()
            .contains("x-signature"),
        "{sent_headers}"
    );
    let sent_body: Value =
        serde_json::from_str(str_field(&one.json, "request_body")).expect("JSON string");
    assert_eq!(sent_body["event_id"], event_id.as_str());
    assert_eq!(sent_body["session_id"], request_id.as_str());

    // The destination moves and gets a new secret; the resend keeps the original URL
    // (Didit's rule) and signs with the new secret.
    let working = Receiver::start(200).await;
    let moved = app
        .json(
            "PATCH",
            &format!("/v3/webhook/destinations/{uuid}/"),
            Some(&key),
            Some(json!({"url": working.url()})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text());
    let rotated = app
        .json(
            "POST",
            &format!("/v3/webhook/destinations/{uuid}/rotate-secret/"),
            Some(&key),
            None,
        )
        .await;
    let secret = str_field(&rotated.json, "secret_shared_key").to_owned();

    let resent = app
        .json(
            "POST",
            &format!("/v3/session/{request_id}/webhook/{try_id}/resend"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(resent.status, 200, "{}", resent.text());
    let r = &resent.json;
    assert_ne!(r["uuid"], try_id.as_str(), "a new try");
    assert_eq!(r["status"], "failed", "the original URL still answers 500");
    assert_eq!(r["response_status"], 500);
    assert_eq!(r["resend"], true);
    assert_eq!(r["event_id"], event_id.as_str());
    assert_eq!(r["request_url"], failing.url().as_str());
    let got = failing.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].json()["event_id"], event_id.as_str());
    assert_eq!(
        got[1].header("x-signature"),
        hmac_hex(&secret, got[1].body.as_bytes())
    );
    assert!(working.received().is_empty(), "the new URL got nothing");

    let log = app.json("GET", &log_path, Some(&key), None).await;
    let rows = log.json.as_array().expect("array");
    assert_eq!(rows.len(), 2, "{}", log.text());
    assert_eq!(rows[0]["uuid"], r["uuid"], "newest first");
    assert_eq!(rows[1]["uuid"], try_id.as_str(), "the old try is unchanged");
    assert_eq!(rows[1]["status"], "failed");
}

/// The secrets never reach the server's log, whatever route made or used them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_log() {
    let capture = common::install_log_capture(tracing::Level::TRACE, FmtSpan::CLOSE);
    let app = app();
    let key = app.key(0);
    let receiver = Receiver::start(200).await;
    let created = create(&app, &key, &receiver.url()).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let uuid = str_field(&created.json, "uuid").to_owned();
    let first = str_field(&created.json, "secret_shared_key").to_owned();
    let rotated = app
        .json(
            "POST",
            &format!("/v3/webhook/destinations/{uuid}/rotate-secret/"),
            Some(&key),
            None,
        )
        .await;
    let second = str_field(&rotated.json, "secret_shared_key").to_owned();
    let tested = app
        .json(
            "POST",
            &format!("/v3/webhook/destinations/{uuid}/test/"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.text());
    save_decision(&app, &key);
    assert_eq!(deliver_due(&app).await, 1);
    let log = capture.text();
    assert!(!log.is_empty(), "the capture works");
    assert!(!log.contains(&first), "first secret in the log");
    assert!(!log.contains(&second), "second secret in the log");
    assert!(!log.contains(&key), "API key in the log");
}

/// Didit's destination-scoped delivery routes: one try read by its destination, and a
/// resend of it (same event id, the URL of the try, the current secret), answered as the
/// new try and listed first in the destination's log.
#[tokio::test]
async fn a_destinations_try_is_read_and_resent_by_its_destination() {
    let app = app();
    let key = app.key(0);
    let receiver = Receiver::start(503).await;
    let created = create(&app, &key, &receiver.url()).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let uuid = str_field(&created.json, "uuid").to_owned();
    save_decision(&app, &key);
    assert_eq!(deliver_due(&app).await, 1);
    let event_id = str_field(&receiver.received()[0].json(), "event_id").to_owned();

    let log = app
        .json(
            "GET",
            &format!("/v3/webhook/destinations/{uuid}/deliveries/"),
            Some(&key),
            None,
        )
        .await;
    let try_id = str_field(&log.json[0], "uuid").to_owned();
    let one = app
        .json(
            "GET",
            &format!("/v3/webhook/destinations/{uuid}/deliveries/{try_id}/"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.json["uuid"], try_id.as_str());
    assert_eq!(one.json["response_status"], 503);
    assert_eq!(one.json["status"], "failed");
    let body: Value = serde_json::from_str(str_field(&one.json, "request_body")).expect("JSON");
    assert_eq!(body["event_id"], event_id.as_str());

    // The receiver recovers; the resend reaches it with the same event and a new secret.
    receiver.status.store(200, Ordering::SeqCst);
    let rotated = app
        .json(
            "POST",
            &format!("/v3/webhook/destinations/{uuid}/rotate-secret/"),
            Some(&key),
            None,
        )
        .await;
    let secret = str_field(&rotated.json, "secret_shared_key").to_owned();
    let resent = app
        .json(
            "POST",
            &format!("/v3/webhook/destinations/{uuid}/deliveries/{try_id}/resend/"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(resent.status, 200, "{}", resent.text());
    assert_ne!(resent.json["uuid"], try_id.as_str());
    assert_eq!(resent.json["status"], "success");
    assert_eq!(resent.json["resend"], true);
    assert_eq!(resent.json["event_id"], event_id.as_str());
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].json()["event_id"], event_id.as_str());
    assert_eq!(
        got[1].header("x-signature"),
        hmac_hex(&secret, got[1].body.as_bytes())
    );
    let log = app
        .json(
            "GET",
            &format!("/v3/webhook/destinations/{uuid}/deliveries/"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(log.json[0]["uuid"], resent.json["uuid"], "newest first");

    // A try of another destination is not this one's.
    let other = create(&app, &key, &receiver.url()).await;
    let other_uuid = str_field(&other.json, "uuid").to_owned();
    let wrong = app
        .json(
            "GET",
            &format!("/v3/webhook/destinations/{other_uuid}/deliveries/{try_id}/"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(wrong.status, 404, "{}", wrong.text());
}
