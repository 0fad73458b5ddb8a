//! Auth and abuse: wrong, revoked and expired keys; another account's key on a saved
//! decision; OTP brute force; rate limits per key (face match) and per IP (sign-up,
//! over a real socket), on a manual clock; and keys and codes never in the log. (That
//! keys are compared in constant time is a unit test of the comparison itself, in
//! `facematch-store`'s `db.rs`: timing it through the API could not tell.)
//!
//! The whole binary logs into one captured buffer (a global subscriber at TRACE), so
//! every test's server output, blocking-pool threads included, is checked for secrets.

mod common;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use common::{Form, TestApp};
use facematch_server::mail::{Mailer, Outbox};
use facematch_server::ratelimit::{Clock, ManualClock};
use facematch_server::{AppState, ServerConfig};
use facematch_store::{ExposeSecret, NewKey, Store};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------
// Log capture.

/// The log of this test binary so far (installs the capturing subscriber on first use).
fn logs() -> String {
    static CAPTURE: OnceLock<common::Capture> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        common::install_log_capture(
            tracing::Level::TRACE,
            tracing_subscriber::fmt::format::FmtSpan::NONE,
        )
    });
    capture.text()
}

/// The secret part of `fm_<prefix>_<secret>` (the prefix is public and may be logged).
fn secret_part(key: &str) -> &str {
    key.rsplit('_').next().expect("key shape")
}

// ---------------------------------------------------------------------------------
// Helpers.

async fn verify(app: &TestApp, email: &str, code: &str) -> common::Reply {
    app.json(
        "POST",
        "/auth/v2/programmatic/verify-email/",
        None,
        Some(json!({"email": email, "code": code})),
    )
    .await
}

/// Signs up `email` through the API and returns its new key.
async fn sign_up(app: &TestApp, email: &str) -> String {
    let r = app.register(email).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let code = app.outbox.last_code_for(email).expect("code sent");
    let r = verify(app, email, &code).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json["api_key"].as_str().expect("api_key").to_owned()
}

/// A face match with two empty images: a cheap 200 (NO_REFERENCE_IMAGE), saved.
fn empty_match() -> Form {
    Form::new()
        .file("user_image", "a.jpg", vec![])
        .file("ref_image", "b.jpg", vec![])
}

/// A code of the OTP alphabet that differs from `code` in every position.
fn wrong_code(code: &str) -> String {
    code.chars()
        .map(|c| if c == 'A' { 'B' } else { 'A' })
        .collect()
}

// ---------------------------------------------------------------------------------
// Keys.

#[tokio::test]
async fn wrong_revoked_and_expired_keys_get_distinct_401s() {
    let _ = logs();
    let app = TestApp::new(|_| {});
    let good = app.key(5);
    let (prefix_part, secret) = good.rsplit_once('_').expect("shape");
    let mut flip_last = secret.to_owned();
    let last = flip_last.pop().expect("non-empty");
    flip_last.push(if last == 'a' { 'b' } else { 'a' });
    let wrong = [
        format!("{prefix_part}_{flip_last}"), // right prefix, last char off
        format!("{prefix_part}_{}", &secret[..secret.len() - 1]), // one char short
        format!("{prefix_part}_{secret}x"),   // one char long
        good.to_uppercase(),                  // case matters
        format!("fm_AAAAAAAA_{secret}"),      // unknown prefix
        format!("{good}\u{0}"),               // trailing NUL
        "fm_".to_owned(),
        "x".repeat(8 * 1024), // long garbage
        "' OR 1=1 --".to_owned(),
    ];
    let mut codes = std::collections::BTreeSet::new();
    for key in &wrong {
        // A header value cannot hold a NUL: such a request cannot even be sent.
        if axum::http::HeaderValue::from_str(key).is_err() {
            continue;
        }
        let reply = app.face_match(key, &empty_match()).await;
        reply.assert_error(401, "invalid_api_key");
        codes.insert("invalid_api_key");
    }
    app.face_match("", &empty_match())
        .await
        .assert_error(401, "missing_api_key");
    codes.insert("missing_api_key");

    let revoked = app.key(5);
    let record = app
        .store()
        .authenticate(&revoked, time::OffsetDateTime::now_utc())
        .expect("valid");
    assert!(app.store().revoke_key(&record.prefix).expect("revoke"));
    let expired = app
        .store()
        .create_key(NewKey {
            name: "old".into(),
            credits: 5,
            admin: false,
            expires_at: Some(time::OffsetDateTime::now_utc() - time::Duration::seconds(1)),
            account_id: None,
        })
        .expect("key")
        .secret
        .expose_secret()
        .to_owned();
    // Every authenticated route tells revoked and expired keys apart.
    let id = uuid::Uuid::new_v4();
    for (method, uri) in [
        ("GET", "/v3/billing/balance/".to_owned()),
        ("GET", "/v3/review-queue/".to_owned()),
        ("GET", format!("/v3/session/{id}/decision/")),
    ] {
        app.json(method, &uri, Some(&revoked), None)
            .await
            .assert_error(401, "revoked_api_key");
        app.json(method, &uri, Some(&expired), None)
            .await
            .assert_error(401, "expired_api_key");
    }
    app.face_match(&revoked, &empty_match())
        .await
        .assert_error(401, "revoked_api_key");
    app.face_match(&expired, &empty_match())
        .await
        .assert_error(401, "expired_api_key");
    codes.extend(["revoked_api_key", "expired_api_key"]);
    assert_eq!(codes.len(), 4, "four distinct 401 codes: {codes:?}");
    // None of them cost the good key anything.
    assert_eq!(app.balance(&good), 5);
}

#[tokio::test]
async fn another_accounts_key_cannot_read_or_patch_a_decision() {
    let _ = logs();
    let app = TestApp::new(|_| {});
    let alice = sign_up(&app, "alice@example.com").await;
    let mallory = sign_up(&app, "mallory@example.com").await;
    let reply = app
        .face_match(&alice, &empty_match().text("vendor_data", "alice-1"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let id = reply.json["request_id"].as_str().expect("id").to_owned();
    let get = format!("/v3/session/{id}/decision/");
    let patch = format!("/v3/session/{id}/update-status/");
    let before = app.json("GET", &get, Some(&alice), None).await;
    assert_eq!(before.status, 200, "{}", before.text());

    app.json("GET", &get, Some(&mallory), None)
        .await
        .assert_error(404, "not_found");
    for status in ["Approved", "Declined"] {
        let detail = app
            .json(
                "PATCH",
                &patch,
                Some(&mallory),
                Some(json!({"new_status": status, "comment": "mine now"})),
            )
            .await
            .assert_error(404, "not_found");
        // The same answer as for an id that does not exist: nothing to learn.
        assert!(!detail.contains("alice"), "{detail}");
    }
    let unknown = format!("/v3/session/{}/update-status/", uuid::Uuid::new_v4());
    app.json(
        "PATCH",
        &unknown,
        Some(&mallory),
        Some(json!({"new_status": "Approved"})),
    )
    .await
    .assert_error(404, "not_found");
    let queue = app
        .json("GET", "/v3/review-queue/", Some(&mallory), None)
        .await;
    assert_eq!(queue.status, 200, "{}", queue.text());
    assert!(!queue.text().contains(&id), "{}", queue.text());
    // Alice's decision is untouched.
    let after = app.json("GET", &get, Some(&alice), None).await;
    assert_eq!(after.json, before.json);
    assert_eq!(after.json["reviews"], json!([]));
}

// ---------------------------------------------------------------------------------
// OTP brute force.

#[tokio::test]
async fn otp_brute_force_locks_the_code_and_only_a_new_registration_resets_it() {
    let _ = logs();
    // The per-code lock, not the per-address throttle (tests/attacks/accounts.rs), is
    // what this test is about.
    let app = TestApp::new(|c| c.verify_per_15min = 100);
    let email = "target@example.com";
    assert_eq!(app.register(email).await.status, 201);
    let code = app.outbox.last_code_for(email).expect("code");
    let wrong = wrong_code(&code);
    for left in (0..5).rev() {
        let detail = verify(&app, email, &wrong)
            .await
            .assert_error(400, "invalid_code");
        assert!(!detail.contains("attempts left"), "{left}: {detail}");
    }
    // The sixth guess and every one after it: locked, whatever the code; only the
    // right code learns that it is locked.
    verify(&app, email, &wrong)
        .await
        .assert_error(400, "invalid_code");
    for guess in [code.as_str(), &code.to_lowercase()] {
        verify(&app, email, guess)
            .await
            .assert_error(400, "too_many_attempts");
    }
    // A new registration issues a new code and resets the counter; the old code is
    // dead (and costs an attempt like any wrong guess).
    assert_eq!(app.register(email).await.status, 201);
    let fresh = app.outbox.last_code_for(email).expect("code");
    if fresh != code {
        verify(&app, email, &code)
            .await
            .assert_error(400, "invalid_code");
    }
    let ok = verify(&app, email, &fresh).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    verify(&app, email, &fresh)
        .await
        .assert_error(400, "invalid_code");

    // An expired code is refused even when right, and wrong guesses at it do not
    // reveal whether they were close.
    let old = time::OffsetDateTime::now_utc() - time::Duration::minutes(16);
    let late = app
        .store()
        .register("late@example.com", "long enough pw", old)
        .expect("register");
    let late = late.code().expect("a new code");
    verify(&app, "late@example.com", &wrong_code(late.expose()))
        .await
        .assert_error(400, "invalid_code");
    verify(&app, "late@example.com", late.expose())
        .await
        .assert_error(400, "code_expired");
}

// ---------------------------------------------------------------------------------
// Rate limits.

#[tokio::test]
async fn face_matches_are_rate_limited_per_key() {
    let _ = logs();
    let clock = ManualClock::new();
    let app = TestApp::on_clock(
        |c| {
            c.rate_per_key = 1.0;
            c.rate_burst_per_key = 2;
        },
        &clock,
    );
    let key = app.key(100);
    let other = app.key(100);
    for _ in 0..2 {
        let r = app.face_match(&key, &empty_match()).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = app.face_match(&key, &empty_match()).await;
    let detail = r.assert_error(429, "rate_limited");
    assert!(detail.contains("retry"), "{detail}");
    assert_eq!(r.headers["retry-after"], "1");
    // Refused before the credit: only the two 200s were paid.
    assert_eq!(app.balance(&key), 98);
    // Another key has its own bucket.
    assert_eq!(app.face_match(&other, &empty_match()).await.status, 200);
    // A bad key is a 401, not a 429 (auth comes first and spends no token).
    app.face_match("fm_AAAAAAAA_nope", &empty_match())
        .await
        .assert_error(401, "invalid_api_key");
    // Half a second later: still empty (half a token).
    clock.advance(Duration::from_millis(500));
    let r = app.face_match(&key, &empty_match()).await;
    r.assert_error(429, "rate_limited");
    assert_eq!(r.headers["retry-after"], "1");
    // One second after the first refusal the bucket holds one token again, and only one.
    clock.advance(Duration::from_millis(500));
    assert_eq!(app.face_match(&key, &empty_match()).await.status, 200);
    app.face_match(&key, &empty_match())
        .await
        .assert_error(429, "rate_limited");
    assert_eq!(app.balance(&key), 97);

    // Off by default: 20 back-to-back requests all pass.
    let unlimited = TestApp::new(|_| {});
    let key = unlimited.key(100);
    for _ in 0..20 {
        assert_eq!(unlimited.face_match(&key, &empty_match()).await.status, 200);
    }
}

/// A live server with connect info (client addresses) on a free port, its rate limiters
/// on `clock`.
async fn live(
    tweak: impl FnOnce(&mut ServerConfig),
    clock: &ManualClock,
) -> (
    SocketAddr,
    Outbox,
    facematch_testkit::LiveServer<facematch_server::ServerError>,
) {
    let mut config = ServerConfig {
        workers: Some(1),
        signup: facematch_server::config::SignupMode::Open,
        ..ServerConfig::default()
    };
    tweak(&mut config);
    let outbox = Outbox::default();
    let store = Store::open_in_memory().expect("store");
    let state = AppState::with_clock(
        config,
        store,
        Mailer::Memory(outbox.clone()),
        Clock::Manual(clock.clone()),
    )
    .expect("state");
    let server = common::serve_state(state).await;
    (server.addr(), outbox, server)
}

/// `POST /register/` over a socket bound to `from` (any 127.x.y.z is loopback on Linux).
async fn register_from(from: [u8; 4], server: SocketAddr, email: &str) -> (u16, Value, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind a loopback source address");
    let mut stream = socket.connect(server).await.expect("connect");
    let body = json!({"email": email, "password": "long enough pw"}).to_string();
    let head = format!(
        "POST /auth/v2/programmatic/register/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_are_rate_limited_per_client_ip_over_a_socket() {
    let _ = logs();
    let clock = ManualClock::new();
    let (addr, outbox, mut server) = live(|c| c.register_per_hour = 2, &clock).await;
    let a = [127, 0, 0, 1];
    let b = [127, 0, 0, 2];
    for i in 0..2 {
        let (status, _, text) = register_from(a, addr, &format!("a{i}@example.com")).await;
        assert_eq!(status, 201, "{text}");
    }
    // The third from the same address is refused, for any e-mail: re-registering to
    // reset the OTP counter is bounded by this too (2 codes × 5 guesses per hour).
    let (status, json, text) = register_from(a, addr, "a0@example.com").await;
    assert_eq!(status, 429, "{text}");
    assert_eq!(json["code"], "rate_limited");
    let retry: u64 = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after: ")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("Retry-After");
    // 2 per hour: the next token comes in half an hour (the clock stands still).
    assert_eq!(retry, 1800);
    assert!(outbox.last_code_for("a0@example.com").is_some());
    // Another address is not affected.
    let (status, _, text) = register_from(b, addr, "b0@example.com").await;
    assert_eq!(status, 201, "{text}");
    // Half an hour later `a` has exactly one sign-up again.
    clock.advance(Duration::from_secs(1800));
    let (status, _, text) = register_from(a, addr, "a2@example.com").await;
    assert_eq!(status, 201, "{text}");
    let (status, _, text) = register_from(a, addr, "a3@example.com").await;
    assert_eq!(status, 429, "{text}");
    server.stop();
}

// ---------------------------------------------------------------------------------
// Secrets in the log.

#[tokio::test]
async fn keys_and_codes_never_reach_the_log() {
    let _ = logs();
    // Without a mailer the log *is* the delivery channel: the code appears there once,
    // in its delivery line, and nowhere else.
    let outbox = Outbox::default();
    let store = Store::open_in_memory().expect("store");
    let state = AppState::with_mailer(
        ServerConfig {
            workers: Some(1),
            signup: facematch_server::config::SignupMode::Open,
            signup_credits: 100,
            ..ServerConfig::default()
        },
        store,
        Mailer::Log,
    )
    .expect("state");
    state.set_pipeline(common::pipeline());
    let log_app = TestApp {
        router: facematch_server::app(state.clone()),
        state,
        outbox,
    };
    let email = "logged@example.com";
    assert_eq!(log_app.register(email).await.status, 201);
    let delivery: Vec<String> = logs()
        .lines()
        .filter(|l| l.contains(email) && l.contains("verification code"))
        .map(str::to_owned)
        .collect();
    assert_eq!(delivery.len(), 1, "one delivery line: {delivery:?}");
    let logged_code = delivery[0]
        .split("code=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("code= in the delivery line")
        .to_owned();
    assert_eq!(logged_code.len(), 6, "{}", delivery[0]);
    let wrong = wrong_code(&logged_code);
    verify(&log_app, email, &wrong)
        .await
        .assert_error(400, "invalid_code");
    let ok = verify(&log_app, email, &logged_code).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let log_key = ok.json["api_key"].as_str().expect("key").to_owned();
    assert_eq!(
        log_app.face_match(&log_key, &empty_match()).await.status,
        200
    );

    // With a mailer configured (here the in-memory one) codes never reach the log.
    let app = TestApp::new(|_| {});
    let mailed = sign_up(&app, "mailed@example.com").await;
    let mailed_code = app
        .outbox
        .last_code_for("mailed@example.com")
        .expect("code");
    verify(&app, "mailed@example.com", &wrong_code(&mailed_code))
        .await
        .assert_error(400, "invalid_code");
    // Keys used in every way: good, wrong, revoked; on every kind of route.
    let admin = app.key_with(10, true);
    let revoked = app.key(1);
    let record = app
        .store()
        .authenticate(&revoked, time::OffsetDateTime::now_utc())
        .expect("valid");
    app.store().revoke_key(&record.prefix).expect("revoke");
    let wrong_key = format!("{mailed}x");
    for key in [&mailed, &admin, &revoked, &wrong_key] {
        let _ = app.face_match(key, &empty_match()).await;
        let _ = app
            .json("GET", "/v3/billing/balance/", Some(key), None)
            .await;
        let _ = app
            .json(
                "POST",
                "/v3/billing/top-up/",
                Some(key),
                Some(json!({"amount_in_dollars": 1})),
            )
            .await;
    }
    let log = logs();
    assert!(!log.is_empty(), "the capture works");
    assert!(
        log.contains("/v3/face-match/"),
        "requests are traced at this level"
    );
    for key in [&log_key, &mailed, &admin, &revoked, &wrong_key] {
        assert!(
            !log.contains(secret_part(key)),
            "an API key reached the log"
        );
    }
    let with_code: Vec<&str> = log.lines().filter(|l| l.contains(&logged_code)).collect();
    assert_eq!(
        with_code.len(),
        1,
        "the code only in its delivery line: {with_code:?}"
    );
    assert!(!log.contains(&wrong), "a guessed code reached the log");
    assert!(!log.contains(&mailed_code), "a mailed code reached the log");
}
