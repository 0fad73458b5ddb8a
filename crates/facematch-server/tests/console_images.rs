//! Review images in the console (`--review-images`): kept by a saved face match as the
//! mode says, served to the owning account's signed-in users only (as uploaded, or the
//! face's crop as PNG), never cached, and a 404 page (never a 500) for everyone and
//! everything else.

mod common;

use axum::http::header;
use common::console::{account, save, sign_in, PASSWORD};
use common::{off_runtime, photo, test_store, Form, Reply, TestApp};
use facematch_core::Status;
use facematch_server::config::ReviewImages;
use facematch_store::ReviewImagesKey;
use time::{Duration, OffsetDateTime};

/// An app whose store seals review images, in `mode`.
fn app(mode: ReviewImages) -> TestApp {
    let store = test_store().with_review_images_key(ReviewImagesKey::try_random().expect("key"));
    TestApp::on_store(store, |c| c.review_images = mode)
}

/// A GET through the whole app with a cookie.
async fn fetch(app: &TestApp, uri: &str, cookie: &str) -> Reply {
    common::console::get(app, uri, cookie).await
}

/// Keeps `source` and `target` for decision `id` for an hour.
fn keep(app: &TestApp, id: &str, source: &[u8], target: &[u8]) {
    let store = app.store();
    off_runtime(|| {
        store
            .save_review_images(
                id,
                source,
                target,
                OffsetDateTime::now_utc() + Duration::hours(1),
            )
            .expect("kept");
    });
}

fn no_store(reply: &Reply) {
    assert_eq!(
        reply
            .headers
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().expect("ascii")),
        Some("no-store"),
        "{:?}",
        reply.headers
    );
}

/// A saved decision of `acct` with its photos kept; its request id.
fn kept_decision(app: &TestApp, key_id: &str) -> (String, Vec<u8>, Vec<u8>) {
    let (source, target) = (
        photo("fixtures/one_face_hopper.jpg"),
        photo("fixtures/one_face_hopper.webp"),
    );
    let id = save(app, key_id, Status::InReview, 50);
    keep(app, &id, &source, &target);
    (id, source, target)
}

#[tokio::test]
async fn without_a_session_the_images_send_to_sign_in() {
    let app = app(ReviewImages::All);
    let acct = account(&app, "boss@example.com");
    let (id, source, _) = kept_decision(&app, &acct.key_id);
    for (cookie, uri) in [
        ("", format!("/console/checks/{id}/image/source")),
        ("fm_console=x", format!("/console/checks/{id}/image/target")),
        (
            &format!("fm_console={}", "a".repeat(43)),
            format!("/console/checks/{id}/crop/source"),
        ),
    ] {
        let reply = fetch(&app, &uri, cookie).await;
        assert_eq!(reply.status.as_u16(), 303, "{uri} {cookie:?}");
        let location = reply.headers["location"].to_str().expect("ascii");
        assert!(
            location.starts_with("/console/sign-in?next=%2Fconsole%2Fchecks%2F"),
            "{location}"
        );
        assert!(!reply
            .raw
            .windows(64)
            .any(|w| source.windows(64).any(|s| s == w)));
    }
}

#[tokio::test]
async fn the_owner_gets_both_images_as_uploaded_and_never_cached() {
    let app = app(ReviewImages::All);
    let acct = account(&app, "boss@example.com");
    let (id, source, target) = kept_decision(&app, &acct.key_id);
    let cookie = sign_in(&app, &acct.email, PASSWORD).await;
    let reply = fetch(&app, &format!("/console/checks/{id}/image/source"), &cookie).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    assert_eq!(reply.headers[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(reply.raw, source);
    no_store(&reply);
    let reply = fetch(&app, &format!("/console/checks/{id}/image/target"), &cookie).await;
    assert_eq!(reply.status.as_u16(), 200);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "image/webp");
    assert_eq!(reply.raw, target);
    no_store(&reply);
    // A TIFF (no browser shows one) comes as a PNG of the same pixels.
    let tiff_id = save(&app, &acct.key_id, Status::InReview, 50);
    let tiff = photo("fixtures/one_face_astronaut.tiff");
    keep(&app, &tiff_id, &source, &tiff);
    let reply = fetch(
        &app,
        &format!("/console/checks/{tiff_id}/image/target"),
        &cookie,
    )
    .await;
    assert_eq!(reply.status.as_u16(), 200);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "image/png");
    let png = image::load_from_memory(&reply.raw).expect("a PNG");
    let original = image::load_from_memory(&tiff).expect("the TIFF");
    assert_eq!(
        (png.width(), png.height()),
        (original.width(), original.height())
    );
    no_store(&reply);
}

#[tokio::test]
async fn another_accounts_decision_is_a_404_page() {
    let app = app(ReviewImages::All);
    let owner = account(&app, "owner@example.com");
    let (id, source, _) = kept_decision(&app, &owner.key_id);
    let stranger = account(&app, "stranger@example.com");
    let cookie = sign_in(&app, &stranger.email, PASSWORD).await;
    for kind in ["image", "crop"] {
        for side in ["source", "target"] {
            let reply = fetch(
                &app,
                &format!("/console/checks/{id}/{kind}/{side}"),
                &cookie,
            )
            .await;
            assert_eq!(reply.status.as_u16(), 404, "{kind}/{side}");
            assert!(
                reply.text().contains("No such decision"),
                "{}",
                reply.text()
            );
            assert!(reply.headers[header::CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .starts_with("text/html"));
            assert!(!reply
                .raw
                .windows(64)
                .any(|w| source.windows(64).any(|s| s == w)));
            no_store(&reply);
        }
    }
    // The owner's own session still works (the 404 was the account check, not a typo).
    let mine = sign_in(&app, &owner.email, PASSWORD).await;
    let reply = fetch(&app, &format!("/console/checks/{id}/image/source"), &mine).await;
    assert_eq!(reply.status.as_u16(), 200);
}

#[tokio::test]
async fn junk_ids_and_sides_are_404_never_500() {
    let app = app(ReviewImages::All);
    let acct = account(&app, "boss@example.com");
    let (id, _, _) = kept_decision(&app, &acct.key_id);
    let cookie = sign_in(&app, &acct.email, PASSWORD).await;
    let long = "a".repeat(10_000);
    let uris = [
        "/console/checks/../image/source".to_owned(),
        "/console/checks/%2e%2e/image/source".to_owned(),
        "/console/checks/%2e%2e%2f%2e%2e%2fetc%2fpasswd/image/source".to_owned(),
        "/console/checks/x'%20OR%201=1--/image/source".to_owned(),
        "/console/checks/%00/crop/source".to_owned(),
        "/console/checks/%FF%FE/crop/target".to_owned(),
        format!("/console/checks/{long}/image/source"),
        format!("/console/checks/{id}/image/both"),
        format!("/console/checks/{id}/image/SOURCE"),
        format!("/console/checks/{id}/crop/%2e%2e"),
        format!("/console/checks/{}/image/source", uuid::Uuid::new_v4()),
    ];
    for uri in &uris {
        let reply = fetch(&app, uri, &cookie).await;
        let status = reply.status.as_u16();
        assert!(status == 404 || status == 400, "{uri}: {status}");
        assert!(!reply.status.is_server_error(), "{uri}");
        if status == 404 {
            no_store(&reply);
        }
    }
}

#[tokio::test]
async fn nothing_is_served_when_not_kept_off_or_reviewed() {
    // Off: the store has no key; the owner's decision has no images.
    let off = TestApp::loading(|_| {});
    let acct = account(&off, "boss@example.com");
    let id = save(&off, &acct.key_id, Status::InReview, 50);
    let cookie = sign_in(&off, &acct.email, PASSWORD).await;
    for uri in [
        format!("/console/checks/{id}/image/source"),
        format!("/console/checks/{id}/crop/target"),
    ] {
        let reply = fetch(&off, &uri, &cookie).await;
        assert_eq!(reply.status.as_u16(), 404, "{uri}");
        assert!(reply.text().contains("not kept"), "{}", reply.text());
        no_store(&reply);
    }
    // On, then reviewed through the console's store call: gone.
    let app = app(ReviewImages::InReview);
    let acct = account(&app, "boss@example.com");
    let (id, _, _) = kept_decision(&app, &acct.key_id);
    let cookie = sign_in(&app, &acct.email, PASSWORD).await;
    assert_eq!(
        fetch(&app, &format!("/console/checks/{id}/image/source"), &cookie)
            .await
            .status
            .as_u16(),
        200
    );
    let store = app.store();
    let key_id = acct.key_id.clone();
    off_runtime(|| {
        store
            .update_status(
                &id,
                &key_id,
                facematch_store::ReviewStatus::Approved,
                Some("same person"),
                OffsetDateTime::now_utc(),
            )
            .expect("review")
            .expect("found")
    });
    let reply = fetch(&app, &format!("/console/checks/{id}/image/source"), &cookie).await;
    assert_eq!(reply.status.as_u16(), 404);
    assert!(reply.text().contains("not kept"), "{}", reply.text());
}

/// A face match of `user` and `reference` with `extra` fields: its request id and status.
async fn run(
    app: &TestApp,
    key: &str,
    (user, reference): (&[u8], &[u8]),
    extra: &[(&str, &str)],
) -> (String, String) {
    let mut form = Form::images(user, reference);
    for (k, v) in extra {
        form = form.text(k, v);
    }
    let reply = app.face_match(key, &form).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    (
        reply.json["request_id"].as_str().expect("id").to_owned(),
        reply.json["face_match"]["status"]
            .as_str()
            .expect("status")
            .to_owned(),
    )
}

/// Whether the store keeps images for `id`.
fn is_kept(app: &TestApp, id: &str) -> bool {
    let store = app.store();
    off_runtime(|| {
        store
            .review_images(id, OffsetDateTime::now_utc())
            .expect("read")
            .is_some()
    })
}

#[tokio::test]
async fn a_face_match_keeps_its_uploads_as_the_mode_says_and_the_crop_is_the_face() {
    let (user, reference) = (
        photo("fixtures/one_face_hopper.jpg"),
        photo("fixtures/one_face_hopper.webp"),
    );
    let pair = (&user[..], &reference[..]);
    // In review: an Approved match keeps nothing; an In Review one (every score between 0
    // and 100 is) keeps both uploads; one not saved keeps nothing.
    let app = app(ReviewImages::InReview);
    let acct = account(&app, "boss@example.com");
    let (approved, status) = run(&app, &acct.key, pair, &[]).await;
    assert_eq!(status, "Approved");
    assert!(!is_kept(&app, &approved));
    let review = &[
        ("face_match_score_decline_threshold", "0"),
        ("face_match_score_review_threshold", "100"),
    ];
    let (in_review, status) = run(&app, &acct.key, pair, review).await;
    assert_eq!(status, "In Review");
    assert!(is_kept(&app, &in_review));
    let (unsaved, _) = run(&app, &acct.key, pair, &[("save_api_request", "false")]).await;
    assert!(!is_kept(&app, &unsaved));

    let cookie = sign_in(&app, &acct.email, PASSWORD).await;
    let reply = fetch(
        &app,
        &format!("/console/checks/{in_review}/image/source"),
        &cookie,
    )
    .await;
    assert_eq!(reply.raw, user, "the upload as received");
    let reply = fetch(
        &app,
        &format!("/console/checks/{in_review}/image/target"),
        &cookie,
    )
    .await;
    assert_eq!(reply.raw, reference);
    // The crops: PNGs of at most 224 px a side, of the face (skin tones, not the
    // background's average).
    for side in ["source", "target"] {
        let reply = fetch(
            &app,
            &format!("/console/checks/{in_review}/crop/{side}"),
            &cookie,
        )
        .await;
        assert_eq!(reply.status.as_u16(), 200, "{side}: {}", reply.text());
        assert_eq!(reply.headers[header::CONTENT_TYPE], "image/png");
        no_store(&reply);
        let crop = image::load_from_memory(&reply.raw).expect("PNG").to_rgb8();
        assert!(crop.width().max(crop.height()) <= 224, "{side}");
        assert!(
            crop.width().min(crop.height()) >= 32,
            "{side}: {}×{}",
            crop.width(),
            crop.height()
        );
    }

    // All: the Approved one is kept too.
    let app_all = self::app(ReviewImages::All);
    let acct = account(&app_all, "boss@example.com");
    let (approved, status) = run(&app_all, &acct.key, pair, &[]).await;
    assert_eq!(status, "Approved");
    assert!(is_kept(&app_all, &approved));
}
