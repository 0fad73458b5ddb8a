//! The real router of `facematch-server`, in process, for the targets that fuzz the JSON
//! routes: one [`AppState`] per process over a fresh in-memory SQLite store (private to
//! the process, gone with it, nothing left in /tmp after thousands of runs), the
//! in-memory mailer (nothing is sent; codes land in an [`Outbox`]), and every input sent
//! through the whole middleware stack with `tower::ServiceExt::oneshot` on one
//! current-thread runtime. [`check_answer`] holds what every answer must satisfy.
#![allow(dead_code)] // each target uses a different subset

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use facematch_server::config::SignupMode;
use facematch_server::mail::{Mailer, Outbox};
use facematch_server::{AppState, ServerConfig};
use facematch_store::Store;
use serde_json::Value;
use tower::ServiceExt;

/// The client address every request comes from (a real server sees one; in-process
/// requests carry it as `ConnectInfo`, as `serve` adds it).
pub const CLIENT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 40_000);

/// One current-thread runtime for the whole run (timers on: the deadline middleware
/// needs them; store calls go to its blocking pool).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// The app under test.
pub struct Fuzzed {
    /// Its state (the store, for seeding).
    pub state: AppState,
    /// The router, as `serve` runs it.
    pub router: Router,
    /// Codes "sent" by the in-memory mailer.
    pub outbox: Outbox,
}

/// Default settings, changed so that the handlers' bodies run on every input instead of
/// a refusal in front of them: sign-ups open (the default is closed), and the limiters
/// that would answer 429 after the first few inputs from the one client address — sign-ups
/// per hour, verification tries per 15 minutes, review writes per minute — at their
/// maximum or off. The limits themselves are tested in `tests/attacks.rs`.
pub fn settings() -> ServerConfig {
    ServerConfig {
        workers: Some(1),
        signup: SignupMode::Open,
        register_per_hour: u32::MAX,
        verify_per_15min: u32::MAX,
        review_writes_per_minute: 0,
        ..ServerConfig::default()
    }
}

/// The app over a fresh in-memory store with `config`.
pub fn build(config: ServerConfig) -> Fuzzed {
    let store = Store::open_in_memory().expect("in-memory store");
    let outbox = Outbox::default();
    let state =
        AppState::with_mailer(config, store, Mailer::Memory(outbox.clone())).expect("app state");
    Fuzzed {
        router: facematch_server::app(state.clone()),
        state,
        outbox,
    }
}

/// One request: `body` to `uri`, with `content_type` and the `x-api-key` `key` when
/// given (a key that is not a valid header value is sent as raw bytes or, failing that,
/// left out). Returns the status and the whole body.
pub fn send(
    router: &Router,
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    key: Option<&[u8]>,
    body: Vec<u8>,
) -> (StatusCode, Bytes) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    if let Some(key) = key {
        if let Ok(value) = axum::http::HeaderValue::from_bytes(key) {
            request = request.header(facematch_server::auth::API_KEY_HEADER, value);
        }
    }
    let mut request = request.body(Body::from(body)).expect("request");
    request.extensions_mut().insert(ConnectInfo(CLIENT));
    runtime().block_on(async {
        let response = router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("an in-memory body reads");
        (status, bytes)
    })
}

/// What every answer must satisfy: never a 5xx (a panic caught by the router is a 500,
/// a hang past the deadline a 503 — both are findings); every non-2xx body is the
/// contract's `{"detail": "...", "code": "..."}`; every 2xx body is JSON. Returns the
/// parsed body. With `FUZZ_TRACE=1` in the environment each input and its status are
/// printed to stderr (to see what a reproducer or a seed decodes to).
pub fn check_answer(status: StatusCode, body: &[u8], input: &dyn std::fmt::Debug) -> Value {
    if tracing() {
        eprintln!("{status} {input:?}");
    }
    assert!(
        !status.is_server_error(),
        "{status}: {}\ninput: {input:?}",
        String::from_utf8_lossy(body)
    );
    let json: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "{status} with a non-JSON body ({e}): {}\ninput: {input:?}",
            String::from_utf8_lossy(body)
        )
    });
    if !status.is_success() {
        assert!(
            json.get("detail").is_some_and(Value::is_string)
                && json.get("code").is_some_and(Value::is_string),
            "{status} without string detail and code: {json}\ninput: {input:?}"
        );
    }
    json
}

/// Whether `FUZZ_TRACE=1` is set (read once).
fn tracing() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some_and(|v| v == "1"))
}

/// `body` read as the server reads it into a `#[derive(Deserialize)]` struct `T` (the
/// oracles' own structs name only the fields they check): unknown keys skipped (serde_json
/// skips them without a nesting limit and without checking their strings' UTF-8, so
/// invalid UTF-8 is replaced by U+FFFD first), a repeated key refused, and an array read
/// positionally.
pub fn read_like_server<T: serde::de::DeserializeOwned>(body: &[u8]) -> serde_json::Result<T> {
    serde_json::from_str(&String::from_utf8_lossy(body))
}
