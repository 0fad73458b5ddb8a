//! Raw bytes → the JSON body of `POST /auth/v2/programmatic/verify-email/`, through the
//! real router, with a pending registration always present so that both paths are
//! reachable: an address with a code waiting (right code, wrong code, tries used up) and
//! one without. The input is the body, in which placeholders are replaced before it is
//! sent — `$EMAIL` / `$EMAILX` by the pending address (as registered / upper-cased),
//! `$CODE` / `$code` by its code (as sent / lower-cased) — so the seeds
//! (`fuzz/seeds/verify_email_body/`) are readable bodies and the fuzzer mutates around
//! the right values it could never guess. The pending registration is made through the
//! register route (its code read from the in-memory mailer) and replaced by a fresh
//! address after it is verified or after [`USES_PER_ADDRESS`] inputs named it, which
//! leaves room for the "too many attempts" branch.
//!
//! Goal: no panic, no hang, never a 5xx, every refusal in the contract's error shape, and
//! a key handed out only for an input that carried the pending address and its code,
//! with the configured sign-up credits.
#![no_main]

#[path = "common/app.rs"]
mod app;

use std::sync::{Mutex, OnceLock};

use axum::http::Method;
use facematch_store::MAX_OTP_ATTEMPTS;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const ROUTE: &str = "/auth/v2/programmatic/verify-email/";

/// Inputs naming one pending address before it is replaced: past the store's
/// attempt limit, so that the locked-code branch runs too.
const USES_PER_ADDRESS: u32 = MAX_OTP_ATTEMPTS + 3;

/// The registration waiting for its code.
struct Pending {
    email: String,
    code: String,
    uses: u32,
}

struct Target {
    app: app::Fuzzed,
    /// Addresses registered so far (each pending address is a new one: re-registering
    /// one need not refresh its code).
    registered: u64,
    pending: Pending,
}

impl Target {
    /// Registers a fresh address through the route and reads its code from the outbox.
    fn new_pending(&mut self) {
        self.registered += 1;
        let email = format!("pending{}@example.com", self.registered);
        let body = serde_json::json!({"email": email, "password": "long enough pw"});
        let (status, answer) = app::send(
            &self.app.router,
            Method::POST,
            "/auth/v2/programmatic/register/",
            Some("application/json"),
            None,
            body.to_string().into_bytes(),
        );
        assert!(
            status.is_success(),
            "seeding a pending registration: {status} {}",
            String::from_utf8_lossy(&answer)
        );
        let code = self
            .app
            .outbox
            .last_code_for(&email)
            .expect("the register route sent a code");
        self.pending = Pending {
            email,
            code,
            uses: 0,
        };
    }
}

fn target() -> &'static Mutex<Target> {
    static TARGET: OnceLock<Mutex<Target>> = OnceLock::new();
    TARGET.get_or_init(|| {
        let mut t = Target {
            app: app::build(app::settings()),
            registered: 0,
            pending: Pending {
                email: String::new(),
                code: String::new(),
                uses: 0,
            },
        };
        t.new_pending();
        Mutex::new(t)
    })
}

/// `data` with the placeholders replaced (longest first: `$EMAILX` before `$EMAIL`).
fn substitute(data: &[u8], pending: &Pending) -> Vec<u8> {
    let replacements: [(&[u8], String); 4] = [
        (b"$EMAILX", pending.email.to_uppercase()),
        (b"$EMAIL", pending.email.clone()),
        (b"$CODE", pending.code.clone()),
        (b"$code", pending.code.to_lowercase()),
    ];
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut rest = data;
    'scan: while let Some((&first, tail)) = rest.split_first() {
        if first == b'$' {
            for (from, to) in &replacements {
                if let Some(after) = rest.strip_prefix(*from) {
                    out.extend_from_slice(to.as_bytes());
                    rest = after;
                    continue 'scan;
                }
            }
        }
        out.push(first);
        rest = tail;
    }
    out
}

fn contains(data: &[u8], needle: &[u8]) -> bool {
    data.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    let mut t = target()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let names_pending = contains(data, b"$EMAIL");
    let carries_code = contains(data, b"$CODE") || contains(data, b"$code");
    let body = substitute(data, &t.pending);
    let (status, answer) = app::send(
        &t.app.router,
        Method::POST,
        ROUTE,
        Some("application/json"),
        None,
        body.clone(),
    );
    let answer = app::check_answer(status, &answer, &String::from_utf8_lossy(&body));
    if status.is_success() {
        assert!(
            names_pending && carries_code,
            "{status}: a key for a body without the pending address and its code: {}\n\
             answer: {answer}",
            String::from_utf8_lossy(&body)
        );
        let credits = t.app.state.config().signup_credits;
        assert!(
            answer
                .get("api_key")
                .and_then(Value::as_str)
                .is_some_and(|k| k.starts_with(facematch_store::KEY_PREFIX))
                && answer.get("credits").and_then(Value::as_i64) == Some(credits),
            "{status}: not a new key with {credits} credits: {answer}"
        );
    }
    if names_pending {
        t.pending.uses += 1;
    }
    if status.is_success() || t.pending.uses >= USES_PER_ADDRESS {
        t.new_pending();
    }
});
