//! In-process tests of every route and error, through the router with `oneshot`, on
//! the real models and the shared photos.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use common::{photo, Form, Reply, TestApp, BOUNDARY};
use facematch_core::{Detection, FaceDetector, Pipeline, PipelineError};
use facematch_server::mail::{Mailer, Outbox};
use facematch_server::{AppState, ServerConfig};
use facematch_store::{NewKey, ReviewStatus, SecretString, Store};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

const HOPPER: &str = "fixtures/one_face_hopper.jpg";
const HOPPER_WEBP: &str = "fixtures/one_face_hopper.webp";
const ASTRONAUT: &str = "fixtures/one_face_astronaut.png";

/// Checks the 200 body field by field; returns `face_match`.
fn assert_face_match_body(body: &Value) -> &Value {
    let obj = body.as_object().expect("object");
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "face_match", "request_id"], "{body}");
    let id = body["request_id"].as_str().expect("request_id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let created = body["created_at"].as_str().expect("created_at");
    assert_eq!(
        created.len(),
        "2025-05-01T13:11:07.977806Z".len(),
        "{created}"
    );
    assert!(
        created.ends_with('Z') && created.as_bytes()[19] == b'.',
        "{created}"
    );
    let fm = &body["face_match"];
    let mut keys: Vec<_> = fm
        .as_object()
        .expect("face_match")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["ref_image", "score", "status", "user_image", "warnings"]
    );
    assert!(["Approved", "Declined", "In Review"].contains(&fm["status"].as_str().expect("status")));
    assert!(fm["score"].is_null() || fm["score"].as_u64().is_some_and(|s| s <= 100));
    for side in ["user_image", "ref_image"] {
        let img = &fm[side];
        assert!([0, 90, 180, 270].contains(&img["best_angle"].as_u64().expect("best_angle")));
        for e in img["entities"].as_array().expect("entities") {
            let bbox = e["bbox"].as_array().expect("bbox");
            assert_eq!(bbox.len(), 4);
            assert!(
                bbox.iter().all(serde_json::Value::is_i64),
                "integer bbox: {e}"
            );
            let c = e["confidence"].as_f64().expect("confidence");
            assert!((0.0..=1.0).contains(&c));
            assert!(e["age"].as_f64().is_some());
            assert!(["male", "female"].contains(&e["gender"].as_str().expect("gender")));
        }
    }
    for w in fm["warnings"].as_array().expect("warnings") {
        let mut keys: Vec<_> = w
            .as_object()
            .expect("warning")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["log_type", "long_description", "risk", "short_description"]
        );
    }
    fm
}

fn risks(fm: &Value) -> Vec<&str> {
    fm["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w["risk"].as_str().expect("risk"))
        .collect()
}

#[tokio::test]
async fn every_fixture_gets_its_expected_status() {
    let app = TestApp::new(|_| {});
    let key = app.key(1000);
    let tsv = std::fs::read_to_string(common::faces_dir().join("fixtures.tsv")).expect("tsv");
    let mut ok_count = 0;
    let mut checked = 0;
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, faces, angle, expect) = (cols[0], cols[1], cols[2], cols[3]);
        if !file.starts_with("fixtures/") {
            continue;
        }
        checked += 1;
        let rotate = expect.contains("rotate_image=true");
        let form = Form::pair(file, HOPPER)
            .text("rotate_image", if rotate { "true" } else { "false" })
            .text("save_api_request", "false");
        let before = app.balance(&key);
        let reply = app.face_match(&key, &form).await;
        let status = reply.status.as_u16();
        let ctx = format!("{file} ({expect}): {status} {}", reply.text());
        assert!(status < 500, "{ctx}");
        if status == 200 {
            ok_count += 1;
            assert_eq!(
                app.balance(&key),
                before - 1,
                "a 200 costs one credit: {ctx}"
            );
        } else {
            // The charging rule: an error is free unless pixel decoding had begun. No
            // fixture error gets that far: a file cut short is found truncated before
            // its pixels are decoded.
            assert_eq!(
                app.balance(&key),
                before,
                "an error is free unless pixels were decoded: {ctx}"
            );
        }
        if expect.starts_with("ok") {
            assert_eq!(status, 200, "{ctx}");
            let fm = assert_face_match_body(&reply.json);
            let min_faces: usize = faces.parse().expect("faces");
            let found = fm["user_image"]["entities"]
                .as_array()
                .expect("entities")
                .len();
            assert!(found >= min_faces, "{ctx}");
            assert_eq!(
                fm["user_image"]["best_angle"].as_u64(),
                angle.parse().ok(),
                "{ctx}"
            );
            assert!(!risks(fm).contains(&"NO_FACE_DETECTED"), "{ctx}");
            if file.contains("hopper") && !file.contains("collage") {
                assert_eq!(fm["status"], "Approved", "same person: {ctx}");
            }
        } else if expect.starts_with("either") {
            assert_eq!(status, 200, "{ctx}");
            assert_face_match_body(&reply.json);
        } else if expect == "NO_FACE_DETECTED" {
            assert_eq!(status, 200, "{ctx}");
            let fm = assert_face_match_body(&reply.json);
            assert_eq!(fm["status"], "Declined", "{ctx}");
            assert!(fm["score"].is_null(), "{ctx}");
            assert_eq!(risks(fm), ["NO_FACE_DETECTED"], "{ctx}");
            assert!(fm["warnings"][0]["long_description"]
                .as_str()
                .is_some_and(|d| d.contains("user_image")));
        } else if expect.starts_with("NO_REFERENCE_IMAGE") {
            assert_eq!(status, 200, "{ctx}");
            let fm = assert_face_match_body(&reply.json);
            assert_eq!(fm["status"], "Declined", "{ctx}");
            assert_eq!(risks(fm), ["NO_REFERENCE_IMAGE"], "{ctx}");
        } else if expect.starts_with("413") {
            reply.assert_error(413, "file_too_large");
            assert!(reply.json["detail"]
                .as_str()
                .is_some_and(|d| d.contains("user_image")));
        } else if expect.starts_with("400 or 413") {
            // The bomb's declared 30000×30000 is refused from its header: the file
            // itself is small, so never a 413.
            let detail = reply.assert_error(400, "image_too_large");
            assert!(detail.contains("user_image"), "{ctx}");
        } else if expect.starts_with("400 (cannot be decoded), or") {
            // The JPEG decoder alone would fill the missing 60% of the rows; since
            // issue 10 the file is refused as truncated, naming the image.
            let detail = reply.assert_error(400, "truncated_image");
            assert!(detail.contains("user_image"), "{ctx}");
        } else if expect.starts_with("400") {
            let detail = reply.assert_error(400, reply.code());
            assert!(detail.contains("user_image"), "{ctx}");
            assert!(
                ["unsupported_format", "corrupt_image"].contains(&reply.code()),
                "{ctx}"
            );
        } else {
            panic!("unknown expectation {expect}");
        }
    }
    assert_eq!(checked, 35, "every fixture under fixtures/");
    // All but the oversize file, the bomb, the truncated JPEG, the text file, the GIF
    // and the BMP.
    assert_eq!(ok_count, 29);
}

#[tokio::test]
async fn same_person_is_approved_and_field_defaults_apply() {
    let app = TestApp::new(|_| {});
    let key = app.key(10);
    let reply = app.face_match(&key, &Form::pair(HOPPER, HOPPER_WEBP)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let fm = assert_face_match_body(&reply.json);
    assert_eq!(fm["status"], "Approved");
    assert!(fm["score"].as_u64().expect("score") >= 90);
    assert_eq!(fm["warnings"], json!([]));
    assert_eq!(
        fm["user_image"]["entities"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(fm["user_image"]["best_angle"], 0);
    // save_api_request defaults to true: the decision is retrievable.
    let id = reply.json["request_id"].as_str().expect("id");
    let got = app
        .json(
            "GET",
            &format!("/v3/session/{id}/decision/"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(
        got.json["face_matches"][0]["face_match_score_decline_threshold"],
        30.0
    );
}

#[tokio::test]
async fn different_people_are_declined_with_low_similarity() {
    let app = TestApp::new(|_| {});
    let key = app.key(10);
    let form = Form::pair(HOPPER, ASTRONAUT).text("face_match_score_decline_threshold", "50.0");
    let reply = app.face_match(&key, &form).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let fm = assert_face_match_body(&reply.json);
    assert_eq!(fm["status"], "Declined");
    assert!(fm["score"].as_u64().expect("score") < 50);
    assert_eq!(risks(fm), ["LOW_FACE_MATCH_SIMILARITY"]);
    assert_eq!(fm["warnings"][0]["log_type"], "warning");
}

#[tokio::test]
async fn bad_values_are_400s_that_name_the_field_and_cost_nothing() {
    let app = TestApp::new(|_| {});
    let key = app.key(5);
    let cases: &[(&str, &str)] = &[
        ("rotate_image", "maybe"),
        ("rotate_image", ""),
        ("save_api_request", "on"),
        ("save_api_request", "2"),
        ("face_match_score_decline_threshold", "abc"),
        ("face_match_score_decline_threshold", "101"),
        ("face_match_score_decline_threshold", "-5"),
        ("face_match_score_decline_threshold", "NaN"),
        ("face_match_score_review_threshold", "1e2"),
    ];
    for (field, value) in cases {
        let form = Form::pair(HOPPER, HOPPER).text(field, value);
        let reply = app.face_match(&key, &form).await;
        let detail = reply.assert_error(400, "invalid_field");
        assert!(detail.contains(field), "{field}={value}: {detail}");
    }
    // Review below decline.
    let form = Form::pair(HOPPER, HOPPER)
        .text("face_match_score_decline_threshold", "60")
        .text("face_match_score_review_threshold", "50");
    let detail = app
        .face_match(&key, &form)
        .await
        .assert_error(400, "invalid_field");
    assert!(
        detail.contains("face_match_score_review_threshold"),
        "{detail}"
    );
    // vendor_data: non-UTF-8 and too long.
    let form = Form::pair(HOPPER, HOPPER).text("vendor_data", [0xff, 0xfe, b'a']);
    let detail = app
        .face_match(&key, &form)
        .await
        .assert_error(400, "invalid_field");
    assert!(
        detail.contains("vendor_data") && detail.contains("UTF-8"),
        "{detail}"
    );
    let form = Form::pair(HOPPER, HOPPER).text("vendor_data", "x".repeat(1001));
    let detail = app
        .face_match(&key, &form)
        .await
        .assert_error(400, "invalid_field");
    assert!(detail.contains("vendor_data"), "{detail}");
    assert_eq!(app.balance(&key), 5, "no 400 costs a credit");
}

#[tokio::test]
async fn repeated_missing_and_unknown_fields() {
    let app = TestApp::new(|_| {});
    let key = app.key(5);
    let twice = Form::pair(HOPPER, HOPPER).file("user_image", "again.jpg", photo(HOPPER));
    let detail = app
        .face_match(&key, &twice)
        .await
        .assert_error(400, "duplicate_field");
    assert!(detail.contains("user_image"), "{detail}");
    let twice = Form::pair(HOPPER, HOPPER)
        .text("rotate_image", "true")
        .text("rotate_image", "true");
    let detail = app
        .face_match(&key, &twice)
        .await
        .assert_error(400, "duplicate_field");
    assert!(detail.contains("rotate_image"), "{detail}");
    let missing = Form::new().file("user_image", "a.jpg", photo(HOPPER));
    let detail = app
        .face_match(&key, &missing)
        .await
        .assert_error(400, "missing_field");
    assert!(detail.contains("ref_image"), "{detail}");
    let missing = Form::new().text("vendor_data", "x");
    let detail = app
        .face_match(&key, &missing)
        .await
        .assert_error(400, "missing_field");
    assert!(detail.contains("user_image"), "{detail}");
    assert_eq!(app.balance(&key), 5);
    // Unknown fields (even repeated) are ignored; vendor_data at the limit is fine.
    let form = Form::pair(HOPPER, HOPPER_WEBP)
        .text("callback", "x")
        .text("callback", "y")
        .text("vendor_data", "é".repeat(1000))
        .text("rotate_image", "YES")
        .text("save_api_request", "0");
    let reply = app.face_match(&key, &form).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(app.balance(&key), 4);
    // Not saved: not retrievable.
    let id = reply.json["request_id"].as_str().expect("id");
    app.json(
        "GET",
        &format!("/v3/session/{id}/decision/"),
        Some(&key),
        None,
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn empty_parts_are_no_reference_image() {
    let app = TestApp::new(|_| {});
    let key = app.key(5);
    let form = Form::new()
        .file("user_image", "selfie.jpg", photo(HOPPER))
        .file("ref_image", "empty.jpg", vec![]);
    let reply = app.face_match(&key, &form).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let fm = assert_face_match_body(&reply.json);
    assert_eq!(fm["status"], "Declined");
    assert!(fm["score"].is_null());
    assert_eq!(risks(fm), ["NO_REFERENCE_IMAGE"]);
    assert_eq!(fm["warnings"][0]["log_type"], "error");
    assert!(fm["warnings"][0]["long_description"]
        .as_str()
        .is_some_and(|d| d.contains("ref_image")));
    assert_eq!(fm["ref_image"], json!({"entities": [], "best_angle": 0}));
    assert_eq!(
        fm["user_image"]["entities"].as_array().map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn oversize_parts_and_bodies_are_413() {
    let app = TestApp::new(|c| c.max_body_bytes = 6 * 1024 * 1024);
    let key = app.key(5);
    // One byte over 5 MiB in ref_image: refused while streaming.
    let form = Form::new().file("user_image", "a.jpg", photo(HOPPER)).file(
        "ref_image",
        "b.jpg",
        vec![0xff; 5 * 1024 * 1024 + 1],
    );
    let detail = app
        .face_match(&key, &form)
        .await
        .assert_error(413, "file_too_large");
    assert!(detail.contains("ref_image"), "{detail}");
    // Exactly 5 MiB is allowed through the size check (then it is not an image: 400).
    let form = Form::new().file("user_image", "a.jpg", photo(HOPPER)).file(
        "ref_image",
        "b.jpg",
        vec![0; 5 * 1024 * 1024],
    );
    app.face_match(&key, &form)
        .await
        .assert_error(400, "unsupported_format");
    // A body over the total limit, declared by Content-Length: refused before reading.
    let big = Form::new()
        .file("user_image", "a.jpg", vec![0; 4 * 1024 * 1024])
        .file("ref_image", "b.jpg", vec![0; 4 * 1024 * 1024]);
    app.face_match(&key, &big)
        .await
        .assert_error(413, "body_too_large");
    // The same without Content-Length (streamed): refused by the body limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .body()
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let request = Request::post("/v3/face-match/")
        .header("x-api-key", &key)
        .header("content-type", Form::content_type())
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("request");
    app.call(request).await.assert_error(413, "body_too_large");
    // Only the 5 MiB case cost a credit: its user image was decoded (the charging rule).
    assert_eq!(app.balance(&key), 4);
}

#[tokio::test]
async fn malformed_multipart_is_400() {
    let app = TestApp::new(|_| {});
    let key = app.key(5);
    let send = |content_type: &'static str, body: &'static [u8]| {
        Request::post("/v3/face-match/")
            .header("x-api-key", &key)
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("request")
    };
    // No boundary.
    app.call(send("multipart/form-data", b"whatever"))
        .await
        .assert_error(400, "invalid_multipart");
    // Not multipart at all.
    app.call(send("application/json", b"{}"))
        .await
        .assert_error(400, "invalid_multipart");
    // Broken framing: a boundary that never closes.
    let ct: &'static str = Box::leak(Form::content_type().into_boxed_str());
    let body: &'static [u8] = Box::leak(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"user_image\"\r\n\r\nabc")
            .into_bytes()
            .into_boxed_slice(),
    );
    app.call(send(ct, body))
        .await
        .assert_error(400, "invalid_multipart");
    // Garbage with the right content type.
    app.call(send(ct, b"\x00\x01garbage"))
        .await
        .assert_error(400, "invalid_multipart");
    // No Content-Type header.
    let request = Request::post("/v3/face-match/")
        .header("x-api-key", &key)
        .body(Body::from("x"))
        .expect("request");
    app.call(request)
        .await
        .assert_error(400, "invalid_multipart");
    assert_eq!(app.balance(&key), 5);
}

#[tokio::test]
async fn keys_are_checked_401_and_credits_403_before_image_work() {
    let app = TestApp::new(|_| {});
    let garbage = Form::new()
        .file("user_image", "a.jpg", b"not an image".to_vec())
        .file("ref_image", "b.jpg", b"not an image".to_vec());
    let request = Request::post("/v3/face-match/")
        .header("content-type", Form::content_type())
        .body(Body::from(garbage.body()))
        .expect("request");
    app.call(request).await.assert_error(401, "missing_api_key");
    app.face_match("fm_nope", &garbage)
        .await
        .assert_error(401, "invalid_api_key");
    app.face_match("", &garbage)
        .await
        .assert_error(401, "missing_api_key");
    let revoked = app.key(5);
    let record = app
        .store()
        .authenticate(&revoked, time::OffsetDateTime::now_utc())
        .expect("valid");
    assert!(app.store().revoke_key(&record.prefix).expect("revoke"));
    app.face_match(&revoked, &garbage)
        .await
        .assert_error(401, "revoked_api_key");
    let expired = app
        .store()
        .create_key(NewKey {
            name: "old".into(),
            credits: 5,
            admin: false,
            expires_at: Some(time::OffsetDateTime::now_utc() - time::Duration::days(1)),
            account_id: None,
        })
        .expect("key");
    let expired = facematch_store::ExposeSecret::expose_secret(&expired.secret).to_owned();
    app.face_match(&expired, &garbage)
        .await
        .assert_error(401, "expired_api_key");
    // No credits: 403 even though the images are garbage (no image work was done).
    let broke = app.key(0);
    app.face_match(&broke, &garbage)
        .await
        .assert_error(403, "insufficient_credits");
    // Every authenticated route answers 401 without a key.
    for (method, uri) in [
        ("GET", "/v3/billing/balance/"),
        ("POST", "/v3/billing/top-up/"),
        ("GET", "/v3/review-queue/"),
        (
            "GET",
            "/v3/session/0b6f1c7e-8a0a-4d43-9d0e-2b1c4f1d9a55/decision/",
        ),
        (
            "PATCH",
            "/v3/session/0b6f1c7e-8a0a-4d43-9d0e-2b1c4f1d9a55/update-status/",
        ),
    ] {
        app.json(method, uri, None, Some(json!({})))
            .await
            .assert_error(401, "missing_api_key");
    }
}

#[tokio::test]
async fn saved_decision_belongs_to_its_key() {
    let app = TestApp::new(|_| {});
    let key = app.key(5);
    let other = app.key(5);
    let form = Form::pair(HOPPER, ASTRONAUT).text("vendor_data", "user-42");
    let reply = app.face_match(&key, &form).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let id = reply.json["request_id"].as_str().expect("id").to_owned();
    let uri = format!("/v3/session/{id}/decision/");
    let got = app.json("GET", &uri, Some(&key), None).await;
    assert_eq!(got.status, 200, "{}", got.text());
    let d = &got.json;
    let mut keys: Vec<_> = d
        .as_object()
        .expect("obj")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    // Didit's session decision (every key: tests/session_shapes.rs).
    assert_eq!(keys.len(), 28, "{keys:?}");
    assert_eq!(d["session_id"], id.as_str());
    assert_eq!(d["status"], "Declined");
    let fm = &d["face_matches"][0];
    let answered = &reply.json["face_match"];
    assert_eq!(fm["status"], "Declined");
    assert_eq!(fm["score"], answered["score"]);
    assert_eq!(fm["user_image"], answered["user_image"]);
    assert_eq!(fm["ref_image"], answered["ref_image"]);
    let risks = |w: &Value| -> Vec<Value> {
        w.as_array()
            .expect("warnings")
            .iter()
            .map(|w| w["risk"].clone())
            .collect()
    };
    assert_eq!(risks(&fm["warnings"]), risks(&answered["warnings"]));
    assert_eq!(d["vendor_data"], "user-42");
    assert_eq!(d["created_at"], reply.json["created_at"]);
    assert_eq!(fm["face_match_score_review_threshold"], Value::Null);
    assert_eq!(d["reviews"], json!([]));
    // Another key, an unknown id, a malformed id: all 404.
    app.json("GET", &uri, Some(&other), None)
        .await
        .assert_error(404, "not_found");
    let unknown = format!("/v3/session/{}/decision/", uuid::Uuid::new_v4());
    app.json("GET", &unknown, Some(&key), None)
        .await
        .assert_error(404, "not_found");
    app.json("GET", "/v3/session/not-a-uuid/decision/", Some(&key), None)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn review_flow_in_review_then_patch_with_history() {
    let app = TestApp::new(|_| {});
    let key = app.key(5);
    let other = app.key(5);
    // Different people score well below 100: with decline 0 and review 100 → In Review.
    let form = Form::pair(HOPPER, ASTRONAUT)
        .text("face_match_score_decline_threshold", "0")
        .text("face_match_score_review_threshold", "100");
    let reply = app.face_match(&key, &form).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json["face_match"]["status"], "In Review");
    assert_eq!(reply.json["face_match"]["warnings"], json!([]));
    let id = reply.json["request_id"].as_str().expect("id").to_owned();

    let queue = app.json("GET", "/v3/review-queue/", Some(&key), None).await;
    assert_eq!(queue.status, 200, "{}", queue.text());
    assert_eq!(queue.json["limit"], 50);
    assert_eq!(queue.json["offset"], 0);
    let results = queue.json["results"].as_array().expect("results");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["session_id"], id.as_str());
    assert_eq!(results[0]["status"], "In Review");
    assert_eq!(
        results[0]["face_matches"][0]["face_match_score_review_threshold"],
        100.0
    );
    let theirs = app
        .json("GET", "/v3/review-queue/", Some(&other), None)
        .await;
    assert_eq!(theirs.json["results"], json!([]));
    app.json("GET", "/v3/review-queue/?limit=0", Some(&key), None)
        .await
        .assert_error(400, "invalid_field");
    app.json("GET", "/v3/review-queue/?limit=abc", Some(&key), None)
        .await
        .assert_error(400, "invalid_field");

    let uri = format!("/v3/session/{id}/update-status/");
    app.json(
        "PATCH",
        &uri,
        Some(&key),
        Some(json!({"new_status": "Maybe"})),
    )
    .await
    .assert_error(400, "invalid_field");
    app.json(
        "PATCH",
        &uri,
        Some(&key),
        Some(json!({"comment": "no status"})),
    )
    .await
    .assert_error(400, "invalid_json");
    app.json(
        "PATCH",
        &uri,
        Some(&other),
        Some(json!({"new_status": "Approved"})),
    )
    .await
    .assert_error(404, "not_found");
    let updated = app
        .json(
            "PATCH",
            &uri,
            Some(&key),
            Some(json!({"new_status": "Approved", "comment": "same person, checked by hand"})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(updated.json, json!({ "session_id": id }));

    let got = app
        .json(
            "GET",
            &format!("/v3/session/{id}/decision/"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(got.json["status"], "Approved");
    assert_eq!(got.json["face_matches"][0]["status"], "Approved");
    let history = got.json["reviews"].as_array().expect("reviews");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["user"], "API Client");
    assert_eq!(history[0]["new_status"], "Approved");
    assert_eq!(history[0]["comment"], "same person, checked by hand");
    assert!(history[0]["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let queue = app.json("GET", "/v3/review-queue/", Some(&key), None).await;
    assert_eq!(queue.json["results"], json!([]));
    // The store agrees (sanity check of the enum the handler used).
    assert_eq!(ReviewStatus::Approved.to_string(), "Approved");
}

#[tokio::test]
async fn register_and_verify_email() {
    let app = TestApp::new(|c| c.signup_credits = 7);
    let email = "dev@example.com";
    let reply = app
        .json(
            "POST",
            "/auth/v2/programmatic/register/",
            None,
            Some(json!({"email": "Dev@Example.com ", "password": "correct horse"})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json["email"], email);
    assert_eq!(reply.json["expires_in_minutes"], 15);
    assert!(reply.json["message"].as_str().is_some());
    let code = app.outbox.last_code_for(email).expect("code sent");
    assert_eq!(code.len(), 6);

    let verify = |code: String| {
        app.json(
            "POST",
            "/auth/v2/programmatic/verify-email/",
            None,
            Some(json!({"email": email, "code": code})),
        )
    };
    let wrong = if code == "000000" { "111111" } else { "000000" }.to_owned();
    verify(wrong.clone())
        .await
        .assert_error(400, "invalid_code");
    for _ in 0..4 {
        verify(wrong.clone())
            .await
            .assert_error(400, "invalid_code");
    }
    // Five tries used: even the right code is refused now.
    verify(code.clone())
        .await
        .assert_error(400, "too_many_attempts");

    // Register again: a fresh code works, once.
    let again = app
        .json(
            "POST",
            "/auth/v2/programmatic/register/",
            None,
            Some(json!({"email": email, "password": "correct horse"})),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text());
    let code = app.outbox.last_code_for(email).expect("new code");
    let ok = verify(code.to_lowercase()).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let api_key = ok.json["api_key"].as_str().expect("api_key").to_owned();
    assert!(api_key.starts_with("fm_"));
    let prefix = ok.json["key_prefix"].as_str().expect("prefix");
    assert!(api_key.contains(prefix));
    assert_eq!(ok.json["credits"], 7);
    let balance = app
        .json("GET", "/v3/billing/balance/", Some(&api_key), None)
        .await;
    assert_eq!(balance.json, json!({"balance": 7}));
    let code_sent = code.clone();
    verify(code).await.assert_error(400, "invalid_code");
    // Already verified: the same 201 as a new sign-up, and no code is sent.
    let again = app
        .json(
            "POST",
            "/auth/v2/programmatic/register/",
            None,
            Some(json!({"email": email, "password": "correct horse"})),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text());
    assert_eq!(app.outbox.last_code_for(email), Some(code_sent));
}

#[tokio::test]
async fn verification_codes_expire_and_bad_sign_ups_are_400() {
    let app = TestApp::new(|_| {});
    // A code issued 16 minutes ago (the store takes the time; the API uses "now").
    let old = time::OffsetDateTime::now_utc() - time::Duration::minutes(16);
    let code = app
        .store()
        .register("late@example.com", "long enough pw", old)
        .expect("register");
    let code = code.code().expect("a new code");
    app.json(
        "POST",
        "/auth/v2/programmatic/verify-email/",
        None,
        Some(json!({"email": "late@example.com", "code": code.expose()})),
    )
    .await
    .assert_error(400, "code_expired");
    app.json(
        "POST",
        "/auth/v2/programmatic/register/",
        None,
        Some(json!({"email": "not-an-email", "password": "long enough pw"})),
    )
    .await
    .assert_error(400, "invalid_request");
    app.json(
        "POST",
        "/auth/v2/programmatic/register/",
        None,
        Some(json!({"email": "a@example.com", "password": "short"})),
    )
    .await
    .assert_error(400, "invalid_request");
    app.json(
        "POST",
        "/auth/v2/programmatic/register/",
        None,
        Some(json!({"email": 1})),
    )
    .await
    .assert_error(400, "invalid_json");
    app.json("POST", "/auth/v2/programmatic/verify-email/", None, None)
        .await
        .assert_error(400, "invalid_json");
}

#[tokio::test]
async fn sign_ups_are_rate_limited() {
    let clock = facematch_server::ratelimit::ManualClock::new();
    let app = TestApp::on_clock(|c| c.register_per_hour = 2, &clock);
    for i in 0..2 {
        let r = app.register(&format!("u{i}@example.com")).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let r = app.register("u9@example.com").await;
    r.assert_error(429, "rate_limited");
    // 2 per hour, the clock standing still: the next sign-up in exactly half an hour.
    assert_eq!(r.headers["retry-after"], "1800");
    clock.advance(std::time::Duration::from_secs(1799));
    let r = app.register("u9@example.com").await;
    r.assert_error(429, "rate_limited");
    assert_eq!(r.headers["retry-after"], "1");
    clock.advance(std::time::Duration::from_secs(1));
    let r = app.register("u9@example.com").await;
    assert_eq!(r.status, 201, "{}", r.text());
}

#[tokio::test]
async fn balance_and_admin_top_up() {
    let app = TestApp::new(|c| c.credits_per_dollar = 10);
    let user = app.key(3);
    let admin = app.key_with(0, true);
    let r = app
        .json("GET", "/v3/billing/balance/", Some(&user), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({"balance": 3}));
    app.json(
        "POST",
        "/v3/billing/top-up/",
        Some(&user),
        Some(json!({"amount_in_dollars": 5})),
    )
    .await
    .assert_error(403, "admin_required");
    let own = app
        .json(
            "POST",
            "/v3/billing/top-up/",
            Some(&admin),
            Some(json!({"amount_in_dollars": 2.5})),
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.text());
    assert_eq!(own.json["balance"], 25);
    assert_eq!(own.json["credits_added"], 25);
    let user_prefix = app
        .store()
        .authenticate(&user, time::OffsetDateTime::now_utc())
        .expect("valid")
        .prefix;
    let theirs = app
        .json(
            "POST",
            "/v3/billing/top-up/",
            Some(&admin),
            Some(json!({"amount_in_dollars": 1, "api_key_prefix": user_prefix})),
        )
        .await;
    assert_eq!(theirs.status, 200, "{}", theirs.text());
    assert_eq!(
        theirs.json,
        json!({"balance": 13, "credits_added": 10, "api_key_prefix": user_prefix})
    );
    assert_eq!(app.balance(&user), 13);
    app.json(
        "POST",
        "/v3/billing/top-up/",
        Some(&admin),
        Some(json!({"amount_in_dollars": 1, "api_key_prefix": "zzzzzzzz"})),
    )
    .await
    .assert_error(404, "not_found");
    for bad in [
        json!({"amount_in_dollars": -1}),
        json!({"amount_in_dollars": 0}),
        json!({"amount_in_dollars": 0.01}),
    ] {
        app.json("POST", "/v3/billing/top-up/", Some(&admin), Some(bad))
            .await
            .assert_error(400, "invalid_field");
    }
    app.json(
        "POST",
        "/v3/billing/top-up/",
        Some(&admin),
        Some(json!({"amount_in_dollars": "ten"})),
    )
    .await
    .assert_error(400, "invalid_json");
    // The most one top-up may grant: a million dollars, not a cent more.
    let max = app
        .json(
            "POST",
            "/v3/billing/top-up/",
            Some(&admin),
            Some(json!({"amount_in_dollars": 1_000_000})),
        )
        .await;
    assert_eq!(max.status, 200, "{}", max.text());
    assert_eq!(max.json["credits_added"], 10_000_000);
    assert_eq!(max.json["balance"], 10_000_025);
    for over in [1_000_000.01, 1e9, 1e308] {
        let detail = app
            .json(
                "POST",
                "/v3/billing/top-up/",
                Some(&admin),
                Some(json!({ "amount_in_dollars": over })),
            )
            .await
            .assert_error(400, "invalid_field");
        assert!(detail.contains("at most 1000000"), "{over}: {detail}");
    }
    assert_eq!(
        app.balance(&admin),
        10_000_025,
        "refused top-ups add nothing"
    );
}

#[tokio::test]
async fn health_is_503_until_models_are_loaded() {
    let app = TestApp::loading(|_| {});
    let r = app.json("GET", "/health", None, None).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json, json!({"status": "loading"}));
    let key = app.key(1);
    let r = app.face_match(&key, &Form::pair(HOPPER, HOPPER)).await;
    r.assert_error(503, "not_ready");
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(app.balance(&key), 1);
    app.state.set_pipeline(common::pipeline());
    let r = app.json("GET", "/health", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({"status": "ok"}));
}

#[tokio::test]
async fn metrics_count_requests_stages_and_faces() {
    let app = TestApp::new(|_| {});
    let key = app.key(5);
    let r = app.face_match(&key, &Form::pair(HOPPER, HOPPER_WEBP)).await;
    assert_eq!(r.status, 200);
    app.face_match("bad", &Form::pair(HOPPER, HOPPER))
        .await
        .assert_error(401, "invalid_api_key");
    let m = app.json("GET", "/metrics", None, None).await;
    assert_eq!(m.status, 200);
    assert!(m.headers["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain"));
    let text = m.text();
    for needle in [
        r#"facematch_http_requests_total{method="POST",route="/v3/face-match/",status="200"} 1"#,
        r#"facematch_http_requests_total{method="POST",route="/v3/face-match/",status="401"} 1"#,
        r#"facematch_pipeline_stage_duration_seconds_count{stage="decode"} 2"#,
        r#"facematch_pipeline_stage_duration_seconds_count{stage="analyze"} 2"#,
        r#"facematch_pipeline_stage_duration_seconds_count{stage="compare"} 1"#,
        "facematch_faces_detected_total 2",
        r#"facematch_face_match_decisions_total{status="Approved"} 1"#,
        "facematch_http_requests_in_flight 1",
        r#"facematch_http_request_duration_seconds_bucket{route="/v3/face-match/""#,
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

/// The document itself is pinned by the snapshot in `tests/openapi.rs`; here, the page
/// that shows it and the fallbacks.
#[tokio::test]
async fn docs_page_and_fallbacks() {
    let app = TestApp::new(|_| {});
    let docs = app.json("GET", "/docs", None, None).await;
    assert_eq!(docs.status, 200);
    assert!(docs.text().contains("/openapi.json"));
    app.json("GET", "/nope", None, None)
        .await
        .assert_error(404, "not_found");
    app.json("GET", "/v3/face-match/", None, None)
        .await
        .assert_error(405, "method_not_allowed");
}

/// A detector that fails in the worst ways, to check the server's nets.
struct Misbehaving {
    sleep: Duration,
    panic: bool,
}

impl FaceDetector for Misbehaving {
    fn detect(&self, _: &facematch_imageio::RgbImage) -> Result<Vec<Detection>, PipelineError> {
        std::thread::sleep(self.sleep);
        if self.panic {
            panic!("detector exploded");
        }
        Ok(vec![])
    }
}

fn misbehaving(sleep: Duration, panic: bool) -> Pipeline {
    let real = common::pipeline();
    let describer: Arc<dyn facematch_core::FaceDescriber> = Arc::new(common::RealDescriber(real));
    Pipeline::new(Arc::new(Misbehaving { sleep, panic }), describer)
}

#[tokio::test]
async fn a_pipeline_panic_is_a_500_json_and_refunds() {
    let app = TestApp::with_pipeline(misbehaving(Duration::ZERO, true), |_| {});
    let key = app.key(2);
    let r = app.face_match(&key, &Form::pair(HOPPER, HOPPER)).await;
    let detail = r.assert_error(500, "internal_error");
    assert!(!detail.contains("exploded"), "no internals leak: {detail}");
    assert_eq!(app.balance(&key), 2);
    // The server still works afterwards.
    assert_eq!(app.json("GET", "/health", None, None).await.status, 200);
}

#[tokio::test]
async fn a_slow_request_times_out_with_503_and_is_charged() {
    let app = TestApp::with_pipeline(misbehaving(Duration::from_millis(2500), false), |c| {
        c.request_timeout_secs = 1;
    });
    let key = app.key(2);
    let r = app.face_match(&key, &Form::pair(HOPPER, HOPPER)).await;
    r.assert_error(503, "timeout");
    assert_eq!(r.headers["retry-after"], "1");
    // Its images were decoded before the deadline: the credit stays spent (the
    // charging rule; a refund would have been spawned as the handler was dropped).
    assert_eq!(app.balance(&key), 1);
}

/// A detector whose runtime fails with an error (not a panic).
struct Failing;

impl FaceDetector for Failing {
    fn detect(&self, _: &facematch_imageio::RgbImage) -> Result<Vec<Detection>, PipelineError> {
        Err(PipelineError::detector("the runtime exploded"))
    }
}

#[tokio::test]
async fn a_pipeline_error_is_a_500_json_and_refunds() {
    let pipeline = Pipeline::new(
        Arc::new(Failing),
        Arc::new(common::RealDescriber(common::pipeline())),
    );
    let app = TestApp::with_pipeline(pipeline, |_| {});
    let key = app.key(2);
    let r = app.face_match(&key, &Form::pair(HOPPER, HOPPER)).await;
    let detail = r.assert_error(500, "internal_error");
    assert_eq!(detail, "internal error", "no internals leak");
    // Refunded before the answer was sent: the balance is whole at once.
    assert_eq!(app.balance(&key), 2);
    let queue = app.json("GET", "/v3/review-queue/", Some(&key), None).await;
    assert_eq!(queue.json["results"], json!([]));
    // Images without a face to look for never reach the detector: still a 200.
    let empty = Form::new()
        .file("user_image", "a.jpg", vec![])
        .file("ref_image", "b.jpg", vec![]);
    assert_eq!(app.face_match(&key, &empty).await.status, 200);
    assert_eq!(app.balance(&key), 1);
}

/// A ready app on a database file (so that a second connection can reach it).
fn app_on_file(path: &std::path::Path) -> TestApp {
    let config = ServerConfig {
        workers: Some(2),
        ..ServerConfig::default()
    };
    let outbox = Outbox::default();
    let store = Store::open(path).expect("store");
    let state =
        AppState::with_mailer(config, store, Mailer::Memory(outbox.clone())).expect("state");
    state.set_pipeline(common::pipeline());
    TestApp {
        router: facematch_server::app(state.clone()),
        state,
        outbox,
    }
}

#[tokio::test]
async fn a_failed_save_is_a_500_and_refunds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("facematch.db");
    let app = app_on_file(&path);
    let key = app.key(3);
    let empty = || {
        Form::new()
            .file("user_image", "a.jpg", vec![])
            .file("ref_image", "b.jpg", vec![])
    };
    assert_eq!(app.face_match(&key, &empty()).await.status, 200);
    assert_eq!(app.balance(&key), 2);
    // From now on the database refuses every new decision.
    let other = rusqlite::Connection::open(&path).expect("second connection");
    other
        .execute_batch(
            "CREATE TRIGGER refuse_saves BEFORE INSERT ON decisions \
             BEGIN SELECT RAISE(ABORT, 'the disk says no'); END;",
        )
        .expect("trigger");
    let r = app.face_match(&key, &empty()).await;
    let detail = r.assert_error(500, "internal_error");
    assert_eq!(detail, "internal error", "no internals leak");
    assert_eq!(app.balance(&key), 2, "the failed save was refunded");
    // A face match that is not saved does not touch the table: still a 200.
    let unsaved = app
        .face_match(&key, &empty().text("save_api_request", "false"))
        .await;
    assert_eq!(unsaved.status, 200, "{}", unsaved.text());
    assert_eq!(app.balance(&key), 1);
    let saved: i64 = other
        .query_row("SELECT count(*) FROM decisions", [], |row| row.get(0))
        .expect("count");
    assert_eq!(saved, 1, "only the first decision was saved");
}

#[tokio::test]
async fn review_queue_paging_edges() {
    let app = TestApp::loading(|_| {});
    let key = app.key(0);
    let key_id = app
        .store()
        .authenticate(&key, time::OffsetDateTime::now_utc())
        .expect("valid")
        .id;
    let t0 = time::OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("time");
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let id = uuid::Uuid::new_v4().to_string();
            let at = t0 + time::Duration::seconds(i);
            let decision = facematch_store::SavedDecision {
                request_id: id.clone(),
                key_id: key_id.clone(),
                face_match: facematch_core::FaceMatch {
                    status: facematch_core::Status::InReview,
                    score: Some(50),
                    user_image: facematch_core::ImageFaces::default(),
                    ref_image: facematch_core::ImageFaces::default(),
                    warnings: vec![],
                },
                decline_threshold: 30.0,
                review_threshold: Some(60.0),
                vendor_data: None,
                metadata: None,
                session_number: 0,
                created_at: at,
                updated_at: at,
                history: vec![],
            };
            app.store().save_decision(&decision).expect("save");
            id
        })
        .collect();
    let page = |query: &'static str| {
        let (app, key) = (&app, &key);
        async move {
            let uri = format!("/v3/review-queue/{query}");
            app.json("GET", &uri, Some(key), None).await
        }
    };
    let results = |r: &Reply| -> (Vec<String>, Value, Value) {
        assert_eq!(r.status, 200, "{}", r.text());
        let ids = r.json["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|d| d["session_id"].as_str().expect("id").to_owned())
            .collect();
        (ids, r.json["limit"].clone(), r.json["offset"].clone())
    };
    let all = ids.clone();
    let cases: [(&str, &[String], u64, u64); 7] = [
        ("", &all, 50, 0),
        ("?limit=1", &all[..1], 1, 0),
        ("?limit=100", &all, 100, 0),
        ("?limit=1&offset=1", &all[1..2], 1, 1),
        ("?offset=2", &all[2..], 50, 2),
        ("?offset=3", &[], 50, 3),
        ("?offset=10000", &[], 50, 10_000),
    ];
    for (query, want, limit, offset) in cases {
        let (got, l, o) = results(&page(query).await);
        assert_eq!(got, want, "{query}");
        assert_eq!((l, o), (json!(limit), json!(offset)), "{query}");
    }
    for (query, field) in [
        ("?limit=0", "`limit`"),
        ("?limit=101", "`limit`"),
        ("?limit=-1", "limit/offset"),
        ("?limit=abc", "limit/offset"),
        ("?limit=", "limit/offset"),
        ("?offset=-1", "limit/offset"),
        // Beyond 10,000 SQLite would step over every skipped row under its lock.
        ("?offset=10001", "`offset`"),
        ("?offset=18446744073709551615", "`offset`"),
        ("?offset=18446744073709551616", "limit/offset"),
    ] {
        let detail = page(query).await.assert_error(400, "invalid_field");
        assert!(detail.contains(field), "{query}: {detail}");
    }
}

/// A ready app that sends its codes by SMTP to `url` (no TLS).
fn app_with_smtp(url: String) -> TestApp {
    let config = ServerConfig {
        workers: Some(1),
        smtp_url: Some(SecretString::from(url)),
        smtp_from: Some("facematch <noreply@example.com>".into()),
        signup: facematch_server::config::SignupMode::Open,
        ..ServerConfig::default()
    };
    let state = AppState::new(config, Store::open_in_memory().expect("store")).expect("state");
    state.set_pipeline(common::pipeline());
    TestApp {
        router: facematch_server::app(state.clone()),
        state,
        outbox: Outbox::default(),
    }
}

/// A fake SMTP server that takes each message and then refuses it (451 at the end of
/// DATA, a temporary failure); the messages it got come out of the channel.
async fn refusing_smtp() -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = tokio::io::BufReader::new(read).lines();
                write.write_all(b"220 fake.test ESMTP\r\n").await?;
                while let Some(line) = lines.next_line().await? {
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 fake.test\r\n",
                        "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                        "DATA" => {
                            write.write_all(b"354 go ahead\r\n").await?;
                            let mut message = String::new();
                            while let Some(line) = lines.next_line().await? {
                                if line == "." {
                                    break;
                                }
                                message.push_str(&line);
                                message.push('\n');
                            }
                            let _ = tx.send(message);
                            b"451 4.3.0 mailbox busy, try again later\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await?;
                            break;
                        }
                        _ => b"502 not implemented\r\n",
                    };
                    write.write_all(answer).await?;
                }
                Ok::<_, std::io::Error>(())
            });
        }
    });
    (addr, rx)
}

async fn verify(app: &TestApp, email: &str, code: &str) -> Reply {
    app.json(
        "POST",
        "/auth/v2/programmatic/verify-email/",
        None,
        Some(json!({"email": email, "code": code})),
    )
    .await
}

#[tokio::test]
async fn a_failed_mail_delivery_is_a_502_and_the_registration_stays_pending() {
    // Nothing listens at the SMTP address.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let app = app_with_smtp(format!("smtp://{closed}"));
    let email = "dev@example.com";
    let detail = app
        .register(email)
        .await
        .assert_error(502, "mail_delivery_failed");
    assert_eq!(
        detail, "could not deliver the verification code; try again later",
        "the cause is logged, never sent"
    );
    // The registration is pending with a code nobody received: a guess fails like any
    // wrong code.
    verify(&app, email, "AAAAAA")
        .await
        .assert_error(400, "invalid_code");
    // Trying again is allowed (not a 409) and fails the same way.
    app.register(email)
        .await
        .assert_error(502, "mail_delivery_failed");

    // A server that takes the message, then refuses it: the client gets the same 502,
    // yet the code that reached the server works, once.
    let (smtp, mut inbox) = refusing_smtp().await;
    let app = app_with_smtp(format!("smtp://{smtp}"));
    app.register(email)
        .await
        .assert_error(502, "mail_delivery_failed");
    let message = inbox
        .try_recv()
        .expect("the message reached the SMTP server");
    let code = message
        .split("verification code is ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("a code in {message}"))
        .to_owned();
    let ok = verify(&app, email, &code).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json["credits"], 0, "--signup-credits defaults to 0");
    verify(&app, email, &code)
        .await
        .assert_error(400, "invalid_code");
}
