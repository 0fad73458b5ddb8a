//! Items 4, 7 and 8 (accounts): sign-ups that mint credits, the verify-email oracle and
//! lock, long addresses and the stored code hash, over real sockets from many loopback
//! source addresses.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use facematch_server::config::SignupMode;
use facematch_server::mail::{Mailer, Outbox};
use facematch_server::{AppState, ServerConfig};
use facematch_store::Store;
use facematch_testkit::http1;
use serde_json::{json, Value};
use tokio::io::BufReader;
use tokio::net::TcpSocket;

use crate::common::{live_app, Live, TestApp};

const REGISTER: &str = "/auth/v2/programmatic/register/";
const VERIFY: &str = "/auth/v2/programmatic/verify-email/";
const PASSWORD: &str = "long enough pw";

/// The client at `127.3.x.y` for `n = x * 256 + y` (one source address per `n`).
fn client(n: u16) -> Ipv4Addr {
    let [x, y] = n.to_be_bytes();
    Ipv4Addr::new(127, 3, x, y)
}

/// One JSON POST on a new connection from source address `from`: status, raw body and
/// `Retry-After`.
async fn post_from(server: SocketAddr, from: Ipv4Addr, path: &str, body: &Value) -> Answer {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind a loopback source address");
    let stream = socket.connect(server).await.expect("connect");
    let headers = [
        ("Connection", "close"),
        ("Content-Type", "application/json"),
    ];
    let body = body.to_string();
    let request = http1::request("POST", path, &server.to_string(), &headers, body.as_bytes());
    let response = http1::exchange(&mut BufReader::new(stream), &request)
        .await
        .expect("answer");
    Answer {
        status: response.status,
        retry_after: response.retry_after(),
        json: serde_json::from_slice(&response.body).unwrap_or(Value::Null),
        body: response.body,
    }
}

/// What the server answered.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Vec<u8>,
    json: Value,
}

async fn register(live: &Live, from: Ipv4Addr, email: &str, password: &str) -> Answer {
    post_from(
        live.addr,
        from,
        REGISTER,
        &json!({"email": email, "password": password}),
    )
    .await
}

async fn verify(live: &Live, from: Ipv4Addr, email: &str, code: &str) -> Answer {
    post_from(
        live.addr,
        from,
        VERIFY,
        &json!({"email": email, "code": code}),
    )
    .await
}

/// Any other valid-looking code.
fn wrong_code(code: &str) -> String {
    if code == "AAAAAA" { "BBBBBB" } else { "AAAAAA" }.to_owned()
}

/// A test app on a database file (the tests read its rows), with `tweak`ed settings on
/// top of the test defaults (sign-up open).
fn file_app(db: &Path, tweak: impl FnOnce(&mut ServerConfig)) -> TestApp {
    let mut config = ServerConfig {
        workers: Some(1),
        signup: SignupMode::Open,
        ..ServerConfig::default()
    };
    tweak(&mut config);
    let outbox = Outbox::default();
    let store = Store::open(db).expect("store");
    let state =
        AppState::with_mailer(config, store, Mailer::Memory(outbox.clone())).expect("state");
    TestApp {
        router: facematch_server::app(state.clone()),
        state,
        outbox,
    }
}

/// `(keys, total credits)` of the store.
fn keys_and_credits(store: &Store) -> (usize, i64) {
    let keys = store.list_keys().expect("keys");
    (keys.len(), keys.iter().map(|k| k.credits).sum())
}

/// Twenty tagged spellings of one mailbox, each registered and verified from its own
/// address, as an attacker farming credits would: one account, and its credits are
/// `--signup-credits` (0 by default), not 20 × 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_tagged_sign_ups_make_one_account_with_the_signup_credits() {
    for (credits, expected) in [(None, 0), (Some(5), 5)] {
        let live = live_app(TestApp::loading(|c| {
            c.signup_credits = credits.unwrap_or(ServerConfig::default().signup_credits);
        }))
        .await;
        for n in 1..=20u16 {
            let email = format!("victim+{n}@example.com");
            let reply = register(&live, client(n), &email, PASSWORD).await;
            assert_eq!(
                reply.status,
                201,
                "{}",
                String::from_utf8_lossy(&reply.body)
            );
            if let Some(code) = live.app.outbox.last_code_for(&email) {
                let ok = verify(&live, client(100 + n), &email, &code).await;
                assert!(
                    ok.status == 200 || n > 1,
                    "the first verifies: {}",
                    String::from_utf8_lossy(&ok.body)
                );
            }
        }
        assert_eq!(
            keys_and_credits(live.app.store()),
            (1, expected),
            "signup_credits {credits:?}"
        );
        live.shutdown().await;
    }
}

/// `--signup closed` (the default): both routes are 403 `signup_closed`, no code is
/// sent and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_sign_up_is_403_and_stores_nothing() {
    assert_eq!(ServerConfig::default().signup, SignupMode::Closed);
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("fm.db");
    let live = live_app(file_app(&db, |c| c.signup = ServerConfig::default().signup)).await;
    let email = "closed@example.com";
    for answer in [
        register(&live, client(1), email, PASSWORD).await,
        verify(&live, client(1), email, "AAAAAA").await,
    ] {
        assert_eq!(answer.status, 403, "{answer:?}");
        assert_eq!(answer.json["code"], "signup_closed", "{answer:?}");
    }
    assert_eq!(live.app.outbox.last_code_for(email), None);
    live.shutdown().await;
    let conn = rusqlite::Connection::open(&db).expect("open");
    let accounts: i64 = conn
        .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))
        .expect("count");
    assert_eq!(accounts, 0);
}

/// A stranger guessing at the victim's pending code from one address is throttled (429
/// with Retry-After, the throttled tries not counted) and cannot lock it: the victim,
/// from another address, still verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_wrong_codes_cannot_lock_the_victims_code() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let email = "victim@example.com";
    assert_eq!(
        register(&live, client(1), email, PASSWORD).await.status,
        201
    );
    let code = live.app.outbox.last_code_for(email).expect("code");
    let stranger = client(2);
    let per_15min = ServerConfig::default().verify_per_15min;
    for _ in 0..per_15min {
        let answer = verify(&live, stranger, email, &wrong_code(&code)).await;
        assert_eq!(answer.status, 400, "{answer:?}");
        assert_eq!(answer.json["code"], "invalid_code");
    }
    // Throttled: 10 per 15 minutes is one every 90 s.
    let answer = verify(&live, stranger, email, &wrong_code(&code)).await;
    assert_eq!(answer.status, 429, "{answer:?}");
    assert_eq!(answer.json["code"], "rate_limited");
    assert_eq!(answer.retry_after, Some(90));
    // ... even with the right code: the throttle comes before the store.
    assert_eq!(verify(&live, stranger, email, &code).await.status, 429);

    let ok = verify(&live, client(3), email, &code).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let key = ok.json["api_key"].as_str().expect("key");
    assert!(key.starts_with("fm_"));
    live.shutdown().await;
}

/// A wrong code for a pending address, any code for an address nobody registered, and
/// a wrong code for a verified address: one answer, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_code_and_nothing_pending_answer_alike() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let pending = "pending@example.com";
    let verified = "verified@example.com";
    for email in [pending, verified] {
        assert_eq!(
            register(&live, client(1), email, PASSWORD).await.status,
            201
        );
    }
    let done = live.app.outbox.last_code_for(verified).expect("code");
    assert_eq!(verify(&live, client(1), verified, &done).await.status, 200);
    let code = live.app.outbox.last_code_for(pending).expect("code");

    let wrong = verify(&live, client(2), pending, &wrong_code(&code)).await;
    let nobody = verify(&live, client(3), "nobody@example.com", &code).await;
    let after = verify(&live, client(4), verified, &wrong_code(&done)).await;
    assert_eq!(wrong.status, 400, "{wrong:?}");
    for other in [&nobody, &after] {
        assert_eq!(
            (other.status, &other.body),
            (wrong.status, &wrong.body),
            "{} vs {}",
            String::from_utf8_lossy(&other.body),
            String::from_utf8_lossy(&wrong.body)
        );
    }
    live.shutdown().await;
}

/// Re-registering a pending address with another password changes nothing (no code is
/// sent, the first password's registration and code stand) and answers exactly as a
/// first registration does; so does registering a verified address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_registering_with_another_password_keeps_the_first_registration() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let email = "owner@example.com";
    let first = register(&live, client(1), email, PASSWORD).await;
    assert_eq!(first.status, 201);
    let code = live.app.outbox.last_code_for(email).expect("code");

    let other = register(&live, client(2), email, "another password").await;
    assert_eq!((other.status, &other.body), (first.status, &first.body));
    // No new code (a fresh one would differ but for a 1 in 31^6 chance).
    assert_eq!(live.app.outbox.last_code_for(email), Some(code.clone()));
    // The owner's code still works.
    let ok = verify(&live, client(1), email, &code).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));

    // Verified: the same 201, nothing sent (was 409 "already registered").
    let again = register(&live, client(3), email, "another password").await;
    assert_eq!((again.status, &again.body), (first.status, &first.body));
    assert_eq!(live.app.outbox.last_code_for(email), Some(code));
    assert_eq!(keys_and_credits(live.app.store()).0, 1);
    live.shutdown().await;
}

/// An address of 254 characters (the RFC 5321 limit) registers, verifies, and its key
/// works: the key name made from it is cut to the 200-character limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_254_character_address_verifies_and_its_key_works() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let domain = "@example.com";
    let email = format!("{}{domain}", "a".repeat(254 - domain.len()));
    assert_eq!(email.len(), 254);
    assert_eq!(
        register(&live, client(1), &email, PASSWORD).await.status,
        201
    );
    let code = live.app.outbox.last_code_for(&email).expect("code");
    let ok = verify(&live, client(1), &email, &code).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let key = ok.json["api_key"].as_str().expect("key");
    let balance = crate::common::http(
        live.addr,
        "GET",
        "/v3/billing/balance/",
        &[("x-api-key", key.to_owned())],
        b"",
    )
    .await
    .expect("http");
    assert_eq!(balance.status, 200, "{}", balance.text());
    live.shutdown().await;
}

/// The stored code is HMAC-SHA256 under the server's OTP secret, not SHA-256 of the
/// code: a stolen row cannot be brute-forced offline. Replicas with the same secret
/// accept each other's codes; a new secret (rotation) invalidates pending codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_code_hash_is_keyed_by_the_otp_secret() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("fm.db");
    let secret = "5e".repeat(32);
    let with_secret = |s: &str| {
        let s = s.to_owned();
        move |c: &mut ServerConfig| c.otp_secret = Some(s.into())
    };
    let email = "hash@example.com";

    let first = live_app(file_app(&db, with_secret(&secret))).await;
    assert_eq!(
        register(&first, client(1), email, PASSWORD).await.status,
        201
    );
    let code = first.app.outbox.last_code_for(email).expect("code");
    first.shutdown().await;

    let conn = rusqlite::Connection::open(&db).expect("open");
    let stored: Vec<u8> = conn
        .query_row("SELECT code_hash FROM email_codes", [], |r| r.get(0))
        .expect("row");
    drop(conn);
    assert_eq!(stored.len(), 32);
    for plain in [code.clone(), code.to_lowercase(), format!("{email}{code}")] {
        assert_ne!(stored, Sha256::digest(plain.as_bytes()).to_vec(), "{plain}");
    }

    // Rotated: the pending code no longer verifies (and says nothing more).
    let rotated = live_app(file_app(&db, with_secret(&"77".repeat(32)))).await;
    let answer = verify(&rotated, client(1), email, &code).await;
    assert_eq!(
        (answer.status, answer.json["code"].as_str()),
        (400, Some("invalid_code"))
    );
    rotated.shutdown().await;
    // A replica with the same secret accepts it.
    let replica = live_app(file_app(&db, with_secret(&secret))).await;
    let ok = verify(&replica, client(2), email, &code).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    replica.shutdown().await;
}

/// A sign-up flood from many addresses cannot run more password hashes at once than there
/// are workers (each is two Argon2id runs of 19 MiB): with every hashing permit held, a
/// sign-up is refused at once with 429 `server_busy` and nothing is stored; once a permit
/// is free, the same sign-up goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_hashing_is_bounded_by_the_workers() {
    let live = live_app(TestApp::loading(|c| c.workers = Some(2))).await;
    let held: Vec<_> = (0..2)
        .map(|_| {
            live.app
                .state
                .password_hashing_permit()
                .expect("a free permit")
        })
        .collect();
    let busy = register(&live, client(1), "flood@example.com", PASSWORD).await;
    assert_eq!(
        (busy.status, busy.json["code"].as_str()),
        (429, Some("server_busy"))
    );
    assert!(busy.retry_after.is_some(), "{busy:?}");
    assert_eq!(live.app.outbox.last_code_for("flood@example.com"), None);
    drop(held);
    let ok = register(&live, client(2), "flood@example.com", PASSWORD).await;
    assert_eq!(ok.status, 201, "{ok:?}");
    assert!(live.app.outbox.last_code_for("flood@example.com").is_some());
    live.shutdown().await;
}
