//! The console's admin pages at the HTTP level: API keys, billing, users, usage, webhooks,
//! settings — happy paths, and the attacks (no session, reviewer, CSRF, another account's
//! ids, bad input).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::StatusCode;
use common::{console, off_runtime, Reply, TestApp};
use facematch_core::Status;
use facematch_store::{ExposeSecret, Role, SignIn, UserAccount};

const PW: &str = "long enough pw";

/// A signed-in console user: the session cookie and the page's CSRF token.
struct Who {
    cookie: String,
    csrf: String,
    account: String,
    id: String,
}

async fn user(app: &TestApp, email: &str, role: Role, owner: Option<&str>) -> Who {
    let store = app.store().clone();
    let (user, token) = off_runtime(move || {
        let now = time::OffsetDateTime::now_utc();
        let account = match owner {
            Some(o) => UserAccount::OwnedBy(o),
            None => UserAccount::New,
        };
        let user = store
            .create_console_user(email, PW, role, account, now)
            .expect("user");
        let SignIn::Ok { token, .. } = store.sign_in(email, PW, now).expect("sign in") else {
            panic!("signed in");
        };
        (user, token.expose_secret().to_owned())
    });
    let cookie = format!("fm_console={token}");
    Who {
        // As a page gives it (every page's sign-out form carries it).
        csrf: console::csrf(app, &cookie).await,
        cookie,
        account: user.account_id,
        id: user.id,
    }
}

/// A GET as `who` (or as nobody).
async fn get(app: &TestApp, who: Option<&Who>, uri: &str) -> Reply {
    console::get(app, uri, who.map_or("", |w| w.cookie.as_str())).await
}

/// A form POST as `who` (or as nobody).
async fn post(app: &TestApp, who: Option<&Who>, uri: &str, form: &[(&str, &str)]) -> Reply {
    console::post(app, uri, who.map_or("", |w| w.cookie.as_str()), form).await
}

fn location(r: &Reply) -> String {
    r.headers
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn secret_on(page: &str) -> String {
    let start = page.find("id=\"new-key-secret\">").expect("secret shown") + 20;
    page[start..].split('<').next().unwrap().to_owned()
}

fn account_keys(app: &TestApp, account: &str) -> Vec<facematch_store::KeyRecord> {
    let store = app.store().clone();
    let account = account.to_owned();
    off_runtime(move || store.list_account_keys(&account).expect("keys"))
}

const PAGES: [&str; 6] = [
    "/console/keys",
    "/console/webhooks",
    "/console/usage",
    "/console/billing",
    "/console/users",
    "/console/settings",
];

#[tokio::test]
async fn every_admin_page_needs_a_session_and_the_admin_role() {
    let app = TestApp::loading(|_| {});
    let admin = user(&app, "admin@example.com", Role::Admin, None).await;
    let reviewer = user(
        &app,
        "rev@example.com",
        Role::Reviewer,
        Some("admin@example.com"),
    )
    .await;
    for page in PAGES {
        let r = get(&app, None, page).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{page}");
        assert!(location(&r).starts_with("/console/sign-in?next="), "{page}");
        assert_eq!(
            get(&app, Some(&reviewer), page).await.status,
            StatusCode::FORBIDDEN,
            "{page}"
        );
        let ok = get(&app, Some(&admin), page).await;
        assert_eq!(ok.status, StatusCode::OK, "{page}: {}", ok.text());
    }
    // Reviewers cannot write either.
    let r = post(
        &app,
        Some(&reviewer),
        "/console/keys",
        &[("csrf", &reviewer.csrf), ("name", "x")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(account_keys(&app, &admin.account).is_empty());
}

#[tokio::test]
async fn a_key_is_created_shown_once_works_and_stops_when_revoked() {
    let app = TestApp::loading(|_| {});
    let admin = user(&app, "admin@example.com", Role::Admin, None).await;
    let r = post(
        &app,
        Some(&admin),
        "/console/keys",
        &[
            ("csrf", &admin.csrf),
            ("name", "prod"),
            ("credits", "7"),
            ("expires_days", ""),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let secret = secret_on(&r.text());
    assert!(secret.starts_with("fm_"));
    let keys = account_keys(&app, &admin.account);
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0].name.as_str(), keys[0].credits), ("prod", 7));
    // Never shown again.
    let list = get(&app, Some(&admin), "/console/keys").await.text();
    assert!(!list.contains(&secret) && !list.contains("new-key-secret"));
    assert!(list.contains(&keys[0].prefix));
    // The key works on the API, then gets 401 once revoked.
    let probe = "/v3/session/00000000-0000-4000-8000-000000000000/decision/";
    assert_eq!(
        app.json("GET", probe, Some(&secret), None).await.status,
        StatusCode::NOT_FOUND
    );
    let revoke = format!("/console/keys/{}/revoke", keys[0].id);
    let r = post(&app, Some(&admin), &revoke, &[("csrf", &admin.csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(
        app.json("GET", probe, Some(&secret), None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn key_forms_refuse_bad_csrf_bad_input_and_other_accounts() {
    let app = TestApp::loading(|_| {});
    let admin = user(&app, "admin@example.com", Role::Admin, None).await;
    let other = user(&app, "other@example.com", Role::Admin, None).await;
    for csrf in ["", "0".repeat(64).as_str(), other.csrf.as_str()] {
        let r = post(
            &app,
            Some(&admin),
            "/console/keys",
            &[("csrf", csrf), ("name", "x")],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    let r = post(&app, Some(&admin), "/console/keys", &[("name", "x")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no csrf field at all");
    let long = "n".repeat(201);
    for (name, credits, days) in [
        ("", "", ""),
        (long.as_str(), "", ""),
        ("x", "-1", ""),
        ("x", "1000001", ""),
        ("x", "abc", ""),
        ("x", "", "0"),
        ("x", "", "99999999999999999999"),
        ("a\u{7}b", "", ""),
    ] {
        let r = post(
            &app,
            Some(&admin),
            "/console/keys",
            &[
                ("csrf", &admin.csrf),
                ("name", name),
                ("credits", credits),
                ("expires_days", days),
            ],
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{name:?} {credits:?} {days:?}"
        );
    }
    let huge = "x".repeat(200_000);
    let r = post(
        &app,
        Some(&admin),
        "/console/keys",
        &[("csrf", &admin.csrf), ("name", &huge)],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "an HTML 413 page, not a 500"
    );
    assert!(account_keys(&app, &admin.account).is_empty());
    // Another account's key: 404, and it stays alive.
    post(
        &app,
        Some(&other),
        "/console/keys",
        &[("csrf", &other.csrf), ("name", "theirs")],
    )
    .await;
    let theirs = account_keys(&app, &other.account)[0].id.clone();
    let r = post(
        &app,
        Some(&admin),
        &format!("/console/keys/{theirs}/revoke"),
        &[("csrf", &admin.csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(account_keys(&app, &other.account)[0].revoked_at.is_none());
    let r = post(
        &app,
        Some(&admin),
        "/console/keys/not-a-uuid/revoke",
        &[("csrf", &admin.csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!get(&app, Some(&admin), "/console/keys")
        .await
        .text()
        .contains("theirs"));
}

#[tokio::test]
async fn billing_tops_up_only_the_accounts_keys() {
    let app = TestApp::loading(|_| {});
    let admin = user(&app, "admin@example.com", Role::Admin, None).await;
    let other = user(&app, "other@example.com", Role::Admin, None).await;
    post(
        &app,
        Some(&admin),
        "/console/keys",
        &[("csrf", &admin.csrf), ("name", "a"), ("credits", "5")],
    )
    .await;
    post(
        &app,
        Some(&other),
        "/console/keys",
        &[("csrf", &other.csrf), ("name", "b"), ("credits", "5")],
    )
    .await;
    let mine = account_keys(&app, &admin.account)[0].id.clone();
    let theirs = account_keys(&app, &other.account)[0].id.clone();
    let r = post(
        &app,
        Some(&admin),
        "/console/billing/top-up",
        &[("csrf", &admin.csrf), ("key_id", &mine), ("credits", "10")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(account_keys(&app, &admin.account)[0].credits, 15);
    assert!(get(&app, Some(&admin), "/console/billing")
        .await
        .text()
        .contains("id=\"total-balance\">15<"));
    let r = post(
        &app,
        Some(&admin),
        "/console/billing/top-up",
        &[
            ("csrf", &admin.csrf),
            ("key_id", &theirs),
            ("credits", "10"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(account_keys(&app, &other.account)[0].credits, 5);
    for credits in ["0", "-5", "1000001", "x", ""] {
        let r = post(
            &app,
            Some(&admin),
            "/console/billing/top-up",
            &[
                ("csrf", &admin.csrf),
                ("key_id", &mine),
                ("credits", credits),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{credits:?}");
    }
    let r = post(
        &app,
        Some(&admin),
        "/console/billing/top-up",
        &[("csrf", "bad"), ("key_id", &mine), ("credits", "10")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(account_keys(&app, &admin.account)[0].credits, 15);
}

#[tokio::test]
async fn an_invited_reviewer_gets_a_link_and_users_are_removed_but_not_oneself() {
    let app = TestApp::loading(|_| {});
    let admin = user(&app, "admin@example.com", Role::Admin, None).await;
    let other = user(&app, "other@example.com", Role::Admin, None).await;
    let r = post(
        &app,
        Some(&admin),
        "/console/users/invite",
        &[
            ("csrf", &admin.csrf),
            ("email", "new@example.com"),
            ("role", "reviewer"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let link = app
        .outbox
        .last_code_for("new@example.com")
        .expect("invitation sent");
    assert!(link.contains("/console/invite?token="), "{link}");
    let page = get(&app, Some(&admin), "/console/users").await.text();
    assert!(page.contains("new@example.com") && page.contains("invited"));
    // Twice: a clear 409, not a 500.
    let r = post(
        &app,
        Some(&admin),
        "/console/users/invite",
        &[
            ("csrf", &admin.csrf),
            ("email", "new@example.com"),
            ("role", "reviewer"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    for (email, role) in [
        ("new2@example.com", "owner"),
        ("not an email", "admin"),
        ("", "admin"),
    ] {
        let r = post(
            &app,
            Some(&admin),
            "/console/users/invite",
            &[("csrf", &admin.csrf), ("email", email), ("role", role)],
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{email:?} {role:?}");
    }
    let r = post(
        &app,
        Some(&admin),
        "/console/users/invite",
        &[("email", "x@example.com"), ("role", "admin"), ("csrf", "")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(app.outbox.last_code_for("x@example.com").is_none());
    // Oneself: refused; another account's user: 404; one's own reviewer: removed.
    let me = post(
        &app,
        Some(&admin),
        &format!("/console/users/{}/remove", admin.id),
        &[("csrf", &admin.csrf)],
    )
    .await;
    assert_eq!(me.status, StatusCode::BAD_REQUEST);
    let r = post(
        &app,
        Some(&admin),
        &format!("/console/users/{}/remove", other.id),
        &[("csrf", &admin.csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&app, Some(&other), "/console/users").await.status,
        StatusCode::OK,
        "still signed in"
    );
    let store = app.store().clone();
    let account = admin.account.clone();
    let invited = off_runtime(move || store.list_console_users(&account).unwrap())
        .into_iter()
        .find(|u| u.email == "new@example.com")
        .unwrap();
    let r = post(
        &app,
        Some(&admin),
        &format!("/console/users/{}/remove", invited.id),
        &[("csrf", &admin.csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(!get(&app, Some(&admin), "/console/users")
        .await
        .text()
        .contains("new@example.com"));
}

#[tokio::test]
async fn usage_shows_what_was_recorded_for_the_account_only() {
    let app = TestApp::loading(|_| {});
    let admin = user(&app, "admin@example.com", Role::Admin, None).await;
    let other = user(&app, "other@example.com", Role::Admin, None).await;
    post(
        &app,
        Some(&admin),
        "/console/keys",
        &[("csrf", &admin.csrf), ("name", "a")],
    )
    .await;
    post(
        &app,
        Some(&other),
        "/console/keys",
        &[("csrf", &other.csrf), ("name", "b")],
    )
    .await;
    let mine = account_keys(&app, &admin.account)[0].id.clone();
    let theirs = account_keys(&app, &other.account)[0].id.clone();
    let store = app.store().clone();
    off_runtime(move || {
        let now = time::OffsetDateTime::now_utc();
        for (status, ms) in [
            (Status::Approved, 30),
            (Status::Approved, 40),
            (Status::Declined, 90),
            (Status::InReview, 3000),
        ] {
            store.record_usage(&mine, now, status, ms).unwrap();
        }
        store
            .record_usage(&theirs, now, Status::Approved, 10)
            .unwrap();
    });
    let page = get(&app, Some(&admin), "/console/usage").await.text();
    for (id, value) in [
        ("usage-matches", "4"),
        ("usage-approved", "2"),
        ("usage-declined", "1"),
        ("usage-in-review", "1"),
        ("usage-p50", "≤ 50 ms"),
        ("usage-p95", "&gt; 1600 ms"),
    ] {
        assert!(
            page.contains(&format!("id=\"{id}\">{value}<")),
            "{id} = {value}: {page}"
        );
    }
    assert!(page.contains("<svg role=\"img\""));
    let theirs_page = get(&app, Some(&other), "/console/usage").await.text();
    assert!(theirs_page.contains("id=\"usage-matches\">1<"));
}

#[tokio::test]
async fn webhooks_use_the_api_rules_and_stay_in_the_account() {
    let app = TestApp::loading(|_| {});
    let admin = user(&app, "admin@example.com", Role::Admin, None).await;
    let other = user(&app, "other@example.com", Role::Admin, None).await;
    // No key yet: the page says so and links to Keys.
    let page = get(&app, Some(&admin), "/console/webhooks").await.text();
    assert!(page.contains("no active key") && page.contains("href=\"/console/keys\""));
    post(
        &app,
        Some(&admin),
        "/console/keys",
        &[("csrf", &admin.csrf), ("name", "a")],
    )
    .await;
    post(
        &app,
        Some(&other),
        "/console/keys",
        &[("csrf", &other.csrf), ("name", "b")],
    )
    .await;
    // The API's URL rules: private addresses and http are refused.
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://169.254.169.254/",
    ] {
        let r = post(
            &app,
            Some(&admin),
            "/console/webhooks",
            &[
                ("csrf", &admin.csrf),
                ("label", "x"),
                ("url", url),
                ("events", "status.updated"),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}");
    }
    let r = post(
        &app,
        Some(&admin),
        "/console/webhooks",
        &[
            ("csrf", &admin.csrf),
            ("label", "x"),
            ("url", "https://example.com/hook"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "no event");
    let r = post(
        &app,
        Some(&admin),
        "/console/webhooks",
        &[
            ("csrf", "nope"),
            ("label", "x"),
            ("url", "https://example.com/hook"),
            ("events", "status.updated"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        Some(&other),
        "/console/webhooks",
        &[
            ("csrf", &other.csrf),
            ("label", "theirs"),
            ("url", "https://example.org/hook"),
            ("events", "status.updated"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("id=\"webhook-secret\""));
    let theirs = r
        .text()
        .split("data-destination-id=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let mine_page = get(&app, Some(&admin), "/console/webhooks").await.text();
    assert!(!mine_page.contains("theirs") && !mine_page.contains(&theirs));
    for action in ["rotate", "test"] {
        let r = post(
            &app,
            Some(&admin),
            &format!("/console/webhooks/{theirs}/{action}"),
            &[("csrf", &admin.csrf)],
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{action}");
    }
    let r = post(
        &app,
        Some(&admin),
        &format!(
            "/console/webhooks/{theirs}/deliveries/00000000-0000-4000-8000-000000000000/resend"
        ),
        &[("csrf", &admin.csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Their own rotation shows a new secret once.
    let r = post(
        &app,
        Some(&other),
        &format!("/console/webhooks/{theirs}/rotate"),
        &[("csrf", &other.csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("id=\"webhook-secret\""));
    assert!(!get(&app, Some(&other), "/console/webhooks")
        .await
        .text()
        .contains("webhook-secret"));
}

#[tokio::test]
async fn settings_show_retention_and_thresholds() {
    let app = TestApp::loading(|c| c.retention_days = 90);
    let admin = user(&app, "admin@example.com", Role::Admin, None).await;
    let page = get(&app, Some(&admin), "/console/settings").await.text();
    assert!(page.contains("deleted 90 days after"), "{page}");
    assert!(page.contains("Default decline threshold"));
}
