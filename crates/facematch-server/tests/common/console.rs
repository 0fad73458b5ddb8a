//! Business Console helpers: an account with a console admin and a key, saved decisions of
//! that key, and signing in through the real sign-in form (its CSRF cookie included).

use axum::body::Body;
use axum::http::{header, Request};
use facematch_core::{FaceMatch, ImageFaces, Status};
use facematch_store::{ExposeSecret, NewKey, Role, SavedDecision, UserAccount};

use super::{off_runtime, Reply, TestApp};

/// The password every console fixture user has.
pub const PASSWORD: &str = "correct horse battery";

/// An account: its console admin's e-mail, the account id, and one key of it.
pub struct Account {
    /// The admin's e-mail.
    pub email: String,
    /// The account id.
    pub id: String,
    /// The key's id.
    pub key_id: String,
    /// The key's secret.
    pub key: String,
}

/// Makes an account with an admin `email` and one key with 100 credits.
pub fn account(app: &TestApp, email: &str) -> Account {
    let store = app.store();
    off_runtime(|| {
        let now = time::OffsetDateTime::now_utc();
        let user = store
            .create_console_user(email, PASSWORD, Role::Admin, UserAccount::New, now)
            .expect("admin");
        let created = store
            .create_key(NewKey {
                name: "console test".into(),
                credits: 100,
                admin: false,
                expires_at: None,
                account_id: Some(user.account_id.clone()),
            })
            .expect("key");
        Account {
            email: user.email,
            id: user.account_id,
            key_id: created.record.id,
            key: created.secret.expose_secret().to_owned(),
        }
    })
}

/// Adds a console user with `role` to the account of `owner`.
pub fn add_user(app: &TestApp, owner: &str, email: &str, role: Role) {
    let store = app.store();
    off_runtime(|| {
        store
            .create_console_user(
                email,
                PASSWORD,
                role,
                UserAccount::OwnedBy(owner),
                time::OffsetDateTime::now_utc(),
            )
            .expect("user")
    });
}

/// Saves a decision of `key_id` with `status` and `score`; returns its request id.
pub fn save(app: &TestApp, key_id: &str, status: Status, score: u8) -> String {
    let store = app.store();
    let now = time::OffsetDateTime::now_utc();
    let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let d = SavedDecision {
        request_id: request_id.clone(),
        key_id: key_id.to_owned(),
        face_match: FaceMatch {
            status,
            score: Some(score),
            user_image: ImageFaces::default(),
            ref_image: ImageFaces::default(),
            warnings: vec![],
        },
        decline_threshold: 30.0,
        review_threshold: Some(70.0),
        vendor_data: Some("user-1".into()),
        metadata: None,
        session_number: 0,
        created_at: now,
        updated_at: now,
        history: vec![],
    };
    off_runtime(|| store.save_decision(&d).expect("save"));
    request_id
}

/// The value of `name=` in the response's `Set-Cookie` headers.
pub fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?;
            let (k, value) = first.split_once('=')?;
            (k == name).then(|| value.to_owned())
        })
}

/// The `value` of the first hidden input `name` in a page.
pub fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    let end = page[start..].find('"')?;
    Some(page[start..start + end].to_owned())
}

/// A GET with cookies.
pub async fn get(app: &TestApp, uri: &str, cookie: &str) -> Reply {
    let request = Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    app.call(request).await
}

/// A form POST with cookies; `fields` are URL-encoded.
pub async fn post(app: &TestApp, uri: &str, cookie: &str, fields: &[(&str, &str)]) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let request = Request::post(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    app.call(request).await
}

/// Signs in through the form; returns the `Cookie` header value of the session.
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> String {
    let form = get(app, "/console/sign-in", "").await;
    let pre = set_cookie(&form, "fm_csrf").expect("pre-sign-in CSRF cookie");
    let csrf = hidden(&form.text(), "csrf").expect("csrf field");
    assert_eq!(pre, csrf);
    let reply = post(
        app,
        "/console/sign-in",
        &format!("fm_csrf={pre}"),
        &[("csrf", &csrf), ("email", email), ("password", password)],
    )
    .await;
    assert_eq!(reply.status.as_u16(), 303, "sign-in: {}", reply.text());
    let session = set_cookie(&reply, "fm_console").expect("session cookie");
    format!("fm_console={session}")
}

/// The CSRF token of a signed-in page (any console page carries it in the sign-out form).
pub async fn csrf(app: &TestApp, cookie: &str) -> String {
    let page = get(app, "/console/account", cookie).await;
    hidden(&page.text(), "csrf").expect("csrf field")
}
