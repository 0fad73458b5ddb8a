//! Saved decisions in Didit's session shapes (issue 11), over real sockets: the decision
//! body, the update-status answer and a review-queue page pinned as snapshots (decisions
//! saved straight into the store with fixed ids and times), the decision body held to
//! Didit's documented examples field by field, and `metadata` from the face-match form to
//! the decision.

mod common;

use common::{http, live_app, Form, Live, Reply, TestApp};
use facematch_core::{FaceMatch, ImageFaces, LogType, Status, Warning, WarningTag};
use facematch_server::didit::SessionDecision;
use facematch_store::{SavedDecision, StatusChange};
use serde_json::{json, Value};
use time::OffsetDateTime;

const HOPPER: &str = "fixtures/one_face_hopper.jpg";
const ASTRONAUT: &str = "fixtures/one_face_astronaut.png";

const APPROVED_ID: &str = "11111111-2222-3333-4444-555555555555";
const DECLINED_ID: &str = "66666666-7777-8888-9999-000000000000";
const IN_REVIEW_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000 + seconds).expect("valid time")
}

fn key_id(app: &TestApp, key: &str) -> String {
    app.store()
        .authenticate(key, OffsetDateTime::now_utc())
        .expect("valid key")
        .id
}

/// Three decisions of `key` with fixed ids and times: one approved by a reviewer (with
/// metadata and vendor_data), one declined by the model (with its warning), one in review.
fn save_fixed(app: &TestApp, key: &str) {
    let key_id = key_id(app, key);
    let base = |request_id: &str, status, score| SavedDecision {
        request_id: request_id.into(),
        key_id: key_id.clone(),
        face_match: FaceMatch {
            status,
            score,
            user_image: ImageFaces::default(),
            ref_image: ImageFaces::default(),
            warnings: vec![],
        },
        decline_threshold: 30.0,
        review_threshold: Some(70.0),
        vendor_data: None,
        metadata: None,
        session_number: 0,
        created_at: at(0),
        updated_at: at(0),
        history: vec![],
    };
    let mut approved = base(APPROVED_ID, Status::Approved, Some(65));
    approved.vendor_data = Some("user-42".into());
    approved.metadata =
        serde_json::from_value(json!({"flow": "login", "tries": 2})).expect("an object");
    approved.updated_at = at(60);
    approved.history = vec![StatusChange {
        from: Status::InReview,
        to: Status::Approved,
        comment: Some("same person, checked by hand".into()),
        at: at(60),
        reviewer: None,
    }];
    let mut declined = base(DECLINED_ID, Status::Declined, Some(12));
    declined.created_at = at(1);
    declined.updated_at = at(1);
    declined.face_match.warnings = vec![Warning {
        risk: WarningTag::LowFaceMatchSimilarity,
        log_type: LogType::Warning,
        short_description: "Low face match similarity".into(),
        long_description: "The faces do not match.".into(),
    }];
    let mut in_review = base(IN_REVIEW_ID, Status::InReview, Some(50));
    in_review.created_at = at(2);
    in_review.updated_at = at(2);
    for d in [approved, declined, in_review] {
        app.store().save_decision(&d).expect("save");
    }
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
    .expect("get")
}

async fn patch(live: &Live, key: &str, id: &str, body: Value) -> Reply {
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

/// The body as the store's decision gives it, written in Didit's key order.
fn expected_body(app: &TestApp, key: &str, id: &str) -> SessionDecision {
    let view = app
        .store()
        .decision_view(id, &key_id(app, key))
        .expect("read")
        .expect("found");
    SessionDecision::from(&view)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_body_is_didits_session_decision() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let key = live.app.key(0);
    save_fixed(&live.app, &key);
    for (name, id) in [("approved", APPROVED_ID), ("declined", DECLINED_ID)] {
        let reply = get(&live, &key, &format!("/v3/session/{id}/decision/")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let expected = expected_body(&live.app, &key, id);
        // Byte for byte, keys in Didit's order.
        assert_eq!(
            reply.text(),
            serde_json::to_string(&expected).expect("JSON")
        );
        insta::assert_json_snapshot!(format!("decision_{name}"), expected);
    }
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_status_answers_the_session_id_and_the_decision_follows() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let key = live.app.key(0);
    save_fixed(&live.app, &key);
    let reply = patch(
        &live,
        &key,
        IN_REVIEW_ID,
        json!({"new_status": "Declined", "comment": "Duplicated user", "send_email": false}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    insta::assert_json_snapshot!("update_status", reply.json);

    let after = get(
        &live,
        &key,
        &format!("/v3/session/{IN_REVIEW_ID}/decision/"),
    )
    .await;
    assert_eq!(after.json["status"], "Declined");
    assert_eq!(after.json["face_matches"][0]["status"], "Declined");
    let reviews = after.json["reviews"].as_array().expect("reviews");
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["user"], "API Client");
    assert_eq!(reviews[0]["new_status"], "Declined");
    assert_eq!(reviews[0]["comment"], "Duplicated user");
    assert_eq!(
        after.json["reviews"][0]["created_at"],
        after.json["updated_at"]
    );

    // The same status again: 200 with the same body, and nothing written.
    let again = patch(&live, &key, IN_REVIEW_ID, json!({"new_status": "Declined"})).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json, reply.json);
    let unchanged = get(
        &live,
        &key,
        &format!("/v3/session/{IN_REVIEW_ID}/decision/"),
    )
    .await;
    assert_eq!(unchanged.json, after.json);
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_queue_page_holds_session_decisions() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let key = live.app.key(0);
    save_fixed(&live.app, &key);
    let reply = get(&live, &key, "/v3/review-queue/?limit=10").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let expected = expected_body(&live.app, &key, IN_REVIEW_ID);
    assert_eq!(
        reply.json["results"],
        json!([serde_json::to_value(&expected).expect("JSON")])
    );
    insta::assert_json_snapshot!("review_queue_page", reply.json);
    live.shutdown().await;
}

/// The JSON type of a value, as Didit's docs name them.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks that `object` has every field of `fields` with one of its documented types
/// (`number` takes integers too).
fn assert_fields(what: &str, object: &Value, fields: &[(&str, &[&str])]) {
    let object = object
        .as_object()
        .unwrap_or_else(|| panic!("{what}: {object}"));
    for (field, types) in fields {
        let value = object
            .get(*field)
            .unwrap_or_else(|| panic!("{what}: no `{field}`"));
        let k = kind(value);
        let ok = types.contains(&k) || (k == "integer" && types.contains(&"number"));
        assert!(ok, "{what}.{field} is {k}, documented {types:?}: {value}");
    }
}

/// Didit's retrieve-session example (docs.didit.me/sessions-api/retrieve-session, the
/// head of it, verbatim).
const DIDIT_RETRIEVE_EXAMPLE: &str = r#"{
  "session_id": "11111111-2222-3333-4444-555555555555",
  "session_kind": "user",
  "session_number": 43762,
  "session_url": "https://verify.didit.me/session/11111111-2222-3333-4444-555555555555",
  "status": "In Review",
  "environment": "live",
  "workflow_id": "11111111-2222-3333-4444-555555555555",
  "features": ["ID_VERIFICATION","NFC","LIVENESS","FACE_MATCH","POA","PHONE","DATABASE_VALIDATION","AML","IP_ANALYSIS"],
  "vendor_data": "11111111-1111-1111-1111-111111111111",
  "metadata": { "user_type": "premium", "account_id": "ABC123" },
  "expected_details": { "first_name": "Carmen", "last_name": "Española Española" },
  "contact_details": { "email": "carmen@example.com", "email_lang": "es", "send_notification_emails": false, "phone": null },
  "callback": "https://verify.didit.me/",
  "id_verifications": [ { "node_id": "feature_ocr_1", "status": "Approved" } ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_has_every_documented_field_with_its_documented_type() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let key = live.app.key(0);
    save_fixed(&live.app, &key);
    const FEATURE_ARRAYS: [&str; 12] = [
        "id_verifications",
        "nfc_verifications",
        "liveness_checks",
        "face_matches",
        "poa_verifications",
        "document_ai_documents",
        "phone_verifications",
        "email_verifications",
        "aml_screenings",
        "ip_analyses",
        "database_validations",
        "questionnaire_responses",
    ];
    let top: Vec<(&str, &[&str])> = [
        ("session_id", &["string"][..]),
        ("session_kind", &["string"]),
        ("session_number", &["integer"]),
        ("session_url", &["string", "null"]),
        ("status", &["string"]),
        ("environment", &["string"]),
        ("workflow_id", &["string", "null"]),
        ("features", &["array"]),
        ("vendor_data", &["string", "null"]),
        ("metadata", &["object", "null"]),
        ("expected_details", &["object", "null"]),
        ("contact_details", &["object", "null"]),
        ("callback", &["string", "null"]),
        ("reviews", &["array"]),
        ("created_at", &["string"]),
    ]
    .into_iter()
    .chain(FEATURE_ARRAYS.map(|f| (f, &["array", "null"][..])))
    .collect();
    // The example itself satisfies the table (the table is the docs'), and each of its
    // keys is in ours.
    let example: Value = serde_json::from_str(DIDIT_RETRIEVE_EXAMPLE).expect("example");
    let documented: Vec<&str> = top.iter().map(|(k, _)| *k).collect();
    for k in example.as_object().expect("object").keys() {
        assert!(documented.contains(&k.as_str()), "{k} not checked");
    }
    let example_fields: Vec<_> = top
        .iter()
        .filter(|(k, _)| example.get(*k).is_some())
        .copied()
        .collect();
    assert_fields("Didit's example", &example, &example_fields);

    for id in [APPROVED_ID, DECLINED_ID, IN_REVIEW_ID] {
        let reply = get(&live, &key, &format!("/v3/session/{id}/decision/")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body = &reply.json;
        assert_fields("decision", body, &top);
        assert_eq!(body["session_kind"], "user");
        assert_eq!(body["environment"], "live");
        assert_eq!(body["features"], json!(["FACE_MATCH"]));
        assert!(
            ["Approved", "Declined", "In Review"].contains(&body["status"].as_str().unwrap_or(""))
        );
        for f in FEATURE_ARRAYS.iter().filter(|f| **f != "face_matches") {
            assert_eq!(body[*f], Value::Null, "{f}: not run");
        }
        let items = body["face_matches"].as_array().expect("face_matches");
        assert_eq!(items.len(), 1);
        assert_fields(
            "face_matches[0]",
            &items[0],
            &[
                ("status", &["string"]),
                ("score", &["number", "null"]),
                ("source_image_session_id", &["string", "null"]),
                ("source_image", &["string", "null"]),
                ("target_image", &["string", "null"]),
                ("warnings", &["array"]),
                ("node_id", &["string", "null"]),
            ],
        );
        for warning in items[0]["warnings"].as_array().expect("warnings") {
            assert_fields(
                "warning",
                warning,
                &[
                    ("feature", &["string"]),
                    ("risk", &["string"]),
                    ("additional_data", &["string", "object", "null"]),
                    ("log_type", &["string"]),
                    ("short_description", &["string"]),
                    ("long_description", &["string"]),
                    ("node_id", &["string", "null"]),
                ],
            );
            assert!(["information", "warning", "error"]
                .contains(&warning["log_type"].as_str().unwrap_or("")));
            assert_eq!(warning["feature"], "FACE_MATCH");
        }
        for review in body["reviews"].as_array().expect("reviews") {
            assert_fields(
                "review",
                review,
                &[
                    ("user", &["string"]),
                    ("new_status", &["string"]),
                    ("comment", &["string", "null"]),
                    ("created_at", &["string"]),
                ],
            );
        }
    }
    // The fixtures exercise the optional parts: a warning, a review, metadata.
    let declined = get(&live, &key, &format!("/v3/session/{DECLINED_ID}/decision/")).await;
    assert_eq!(
        declined.json["face_matches"][0]["warnings"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let approved = get(&live, &key, &format!("/v3/session/{APPROVED_ID}/decision/")).await;
    assert_eq!(approved.json["reviews"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        approved.json["metadata"],
        json!({"flow": "login", "tries": 2})
    );
    live.shutdown().await;
}

/// `metadata` travels from the form to the decision (not into the face-match answer);
/// with `save_api_request=false` nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_sent_with_a_face_match_comes_back_with_its_decision() {
    let live = live_app(TestApp::new(|_| {})).await;
    let key = live.app.key(5);
    let metadata = json!({"flow": "login", "account": {"id": "ABC123", "tier": 2}});
    let form = Form::pair(HOPPER, ASTRONAUT)
        .text("vendor_data", "user-7")
        .text("metadata", metadata.to_string());
    let reply = live.face_match(&key, &form).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.json.get("metadata").is_none(), "{}", reply.text());
    let id = reply.json["request_id"].as_str().expect("id").to_owned();
    let decision = get(&live, &key, &format!("/v3/session/{id}/decision/")).await;
    assert_eq!(decision.status, 200, "{}", decision.text());
    assert_eq!(decision.json["metadata"], metadata);
    assert_eq!(decision.json["vendor_data"], "user-7");
    assert_eq!(decision.json["session_number"], 1);

    // Without metadata: null.
    let plain = live.face_match(&key, &Form::pair(HOPPER, HOPPER)).await;
    assert_eq!(plain.status, 200, "{}", plain.text());
    let plain_id = plain.json["request_id"].as_str().expect("id");
    let got = get(&live, &key, &format!("/v3/session/{plain_id}/decision/")).await;
    assert_eq!(got.json["metadata"], Value::Null);
    assert_eq!(got.json["session_number"], 2);

    // save_api_request=false: nothing stored, metadata included.
    let unsaved = live
        .face_match(
            &key,
            &Form::pair(HOPPER, HOPPER)
                .text("save_api_request", "false")
                .text("metadata", r#"{"flow":"secret"}"#),
        )
        .await;
    assert_eq!(unsaved.status, 200, "{}", unsaved.text());
    let unsaved_id = unsaved.json["request_id"].as_str().expect("id");
    get(&live, &key, &format!("/v3/session/{unsaved_id}/decision/"))
        .await
        .assert_error(404, "not_found");
    // Not even a session number was used: the next saved one is 3.
    let next = live.face_match(&key, &Form::pair(HOPPER, HOPPER)).await;
    let next_id = next.json["request_id"].as_str().expect("id");
    let got = get(&live, &key, &format!("/v3/session/{next_id}/decision/")).await;
    assert_eq!(got.json["session_number"], 3);
    live.shutdown().await;
}
