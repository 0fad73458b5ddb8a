//! Raw bytes → the JSON body of `POST /auth/v2/programmatic/register/`, through the real
//! router (every middleware, the JSON extractor, the handler, the store, the in-memory
//! mailer) with sign-ups open and the sign-up limit at its maximum. Goal: no panic, no
//! hang, never a 5xx, every refusal in the contract's error shape, and a sign-up accepted
//! only for a body whose `email` and `password` are strings, the password at least
//! `MIN_PASSWORD_CHARS` long. Seeds: `fuzz/seeds/register_body/` (valid and near-valid
//! bodies). Accepted sign-ups hash the password with Argon2 (deliberately slow), so the
//! executions per second depend on how many inputs are valid.
#![no_main]

#[path = "common/app.rs"]
mod app;

use std::sync::OnceLock;

use axum::http::Method;
use facematch_store::MIN_PASSWORD_CHARS;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::Value;

const ROUTE: &str = "/auth/v2/programmatic/register/";

/// The fields of a sign-up, of any JSON type.
#[derive(Deserialize)]
struct Sent {
    email: Value,
    password: Value,
}

fn fuzzed() -> &'static app::Fuzzed {
    static APP: OnceLock<app::Fuzzed> = OnceLock::new();
    APP.get_or_init(|| app::build(app::settings()))
}

fuzz_target!(|data: &[u8]| {
    let fuzzed = fuzzed();
    let (status, body) = app::send(
        &fuzzed.router,
        Method::POST,
        ROUTE,
        Some("application/json"),
        None,
        data.to_vec(),
    );
    let answer = app::check_answer(status, &body, &String::from_utf8_lossy(data));
    if status.is_success() {
        let sent: Sent = app::read_like_server(data).unwrap_or_else(|e| {
            panic!("{status} for a body the server's reading refuses ({e}): {data:?}\nanswer: {answer}")
        });
        assert!(
            sent.email.is_string()
                && sent
                    .password
                    .as_str()
                    .is_some_and(|p| p.chars().count() >= MIN_PASSWORD_CHARS),
            "{status} for a sign-up without a string e-mail and a long enough password: \
             {:?}\nanswer: {answer}",
            String::from_utf8_lossy(data)
        );
    }
});
