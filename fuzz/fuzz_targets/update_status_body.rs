//! Structured inputs → `PATCH /v3/session/{request_id}/update-status/` through the real
//! router: a mostly-valid JSON body (`new_status`, `comment`) whose fields hold odd
//! strings, values of the wrong type, unknown or repeated keys — or raw bytes — sent with
//! the owner's key, another key, a malformed one or none, on a decision of the owner, one
//! of another key, an unknown id or a malformed one. One owner key and one other key are
//! created at start through the store; the decisions are saved through the store:
//!
//! - slot 0 is always `In Review` (replaced by a fresh one after every change that
//!   succeeded on it), so the first-verdict path runs on every valid input;
//! - slot 1 is never replaced: it takes verdict after verdict, reaching the same-status
//!   rule (200, nothing written) and the history cap.
//!
//! Goal: no panic, no hang, never a 5xx, every refusal in the contract's error shape;
//! a change succeeds only with the key that owns the decision (the owner's on its slots,
//! the other key on its own decision), for `new_status` exactly `Approved` or `Declined`
//! and a comment of at most 10,000 characters (Didit's limit), and the answer is then
//! Didit's `{"session_id": …}` while the decision carries that status.
#![no_main]

#[path = "common/app.rs"]
mod app;
#[path = "common/json.rs"]
mod json;

use std::sync::{Mutex, OnceLock};

use arbitrary::Arbitrary;
use axum::http::Method;
use facematch_core::{FaceMatch, ImageFaces, Status};
use facematch_store::{ExposeSecret, NewKey, SavedDecision};
use json::{ContentType, Field, FuzzString, ObjectWriter, Scalar};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::Value;

/// Longest comment the route accepts, in characters (Didit's limit).
const MAX_COMMENT_CHARS: usize = 10_000;

/// The fields of a status change, of any JSON type.
#[derive(Deserialize)]
struct Sent {
    new_status: Value,
    #[serde(default)]
    comment: Value,
}

#[derive(Arbitrary, Debug)]
struct Input {
    key: Key,
    decision: Decision,
    content_type: ContentType,
    body: Body,
}

/// The `x-api-key` header.
#[derive(Arbitrary, Debug)]
enum Key {
    Owner,
    /// A valid key that does not own the decisions.
    Other,
    Missing,
    /// Any header value.
    Odd(FuzzString),
    /// The owner's key, altered.
    OwnerSpliced {
        at: u8,
        extra: String,
    },
}

/// The `{request_id}` in the path.
#[derive(Arbitrary, Debug)]
enum Decision {
    /// The owner's slot 0 (always `In Review`).
    Fresh,
    /// The owner's slot 1 (changed again and again).
    Kept,
    /// The owner's slot 0, id upper-cased.
    FreshUpper,
    /// A decision of the other key.
    OthersKeys,
    /// A well-formed UUID nobody saved.
    Unknown(u128),
    /// Any text, percent-encoded into the path segment.
    Odd(FuzzString),
}

#[derive(Arbitrary, Debug)]
enum Body {
    Object {
        new_status: Field<NewStatus>,
        comment: Field<Comment>,
        extras: Vec<(FuzzString, Scalar)>,
    },
    Raw(RawBody),
}

/// Any bytes as the body; as the input's last field it takes all the bytes left, so a
/// seed is four variant words followed by the body as plain text.
struct RawBody(Vec<u8>);

impl std::fmt::Debug for RawBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RawBody")
            .field(&String::from_utf8_lossy(&self.0))
            .finish()
    }
}

impl<'a> Arbitrary<'a> for RawBody {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(<&[u8]>::arbitrary(u)?.to_vec()))
    }

    fn arbitrary_take_rest(u: arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u.take_rest().to_vec()))
    }
}

#[derive(Arbitrary, Debug)]
enum NewStatus {
    Approved,
    Declined,
    InReview,
    Odd(FuzzString),
}

impl NewStatus {
    fn build(&self) -> String {
        match self {
            NewStatus::Approved => "Approved".into(),
            NewStatus::Declined => "Declined".into(),
            NewStatus::InReview => "In Review".into(),
            NewStatus::Odd(s) => s.build(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Comment {
    Null,
    Text(FuzzString),
    /// `chars` characters of `unit`, near the 1,000-character limit (990 + 0..=19).
    AroundLimit {
        unit: char,
        over: u8,
    },
}

impl Comment {
    fn build(&self) -> Value {
        match self {
            Comment::Null => Value::Null,
            Comment::Text(s) => Value::String(s.build()),
            Comment::AroundLimit { unit, over } => {
                let n = MAX_COMMENT_CHARS - 10 + usize::from(*over % 20);
                Value::String(std::iter::repeat_n(*unit, n).collect())
            }
        }
    }
}

struct Target {
    app: app::Fuzzed,
    owner_key: String,
    owner_id: String,
    other_key: String,
    other_id: String,
    /// Slot 0 (fresh) and slot 1 (kept).
    slots: [String; 2],
    others_decision: String,
    saved: u64,
}

impl Target {
    /// Saves a new `In Review` decision for `key_id` and returns its request id.
    fn save(&mut self, key_id: &str) -> String {
        self.saved += 1;
        let request_id = format!("00000000-0000-4000-8000-{:012x}", self.saved);
        let now = time::OffsetDateTime::now_utc();
        self.app
            .state
            .store()
            .save_decision(&SavedDecision {
                request_id: request_id.clone(),
                key_id: key_id.to_owned(),
                face_match: FaceMatch {
                    status: Status::InReview,
                    score: Some(50),
                    user_image: ImageFaces::default(),
                    ref_image: ImageFaces::default(),
                    warnings: vec![],
                },
                decline_threshold: 30.0,
                review_threshold: Some(60.0),
                vendor_data: Some("fuzz".into()),
                metadata: None,
                session_number: 0,
                created_at: now,
                updated_at: now,
                history: vec![],
            })
            .expect("save a decision");
        request_id
    }
}

fn new_key(app: &app::Fuzzed, name: &str) -> (String, String) {
    let created = app
        .state
        .store()
        .create_key(NewKey {
            name: name.into(),
            credits: 0,
            admin: false,
            expires_at: None,
            account_id: None,
        })
        .expect("create a key");
    (created.secret.expose_secret().to_owned(), created.record.id)
}

fn target() -> &'static Mutex<Target> {
    static TARGET: OnceLock<Mutex<Target>> = OnceLock::new();
    TARGET.get_or_init(|| {
        let app = app::build(app::settings());
        let (owner_key, owner_id) = new_key(&app, "owner");
        let (other_key, other_id) = new_key(&app, "other");
        let mut t = Target {
            app,
            owner_key,
            owner_id,
            other_key,
            other_id: other_id.clone(),
            slots: [String::new(), String::new()],
            others_decision: String::new(),
            saved: 0,
        };
        let owner = t.owner_id.clone();
        t.slots = [t.save(&owner), t.save(&owner)];
        t.others_decision = t.save(&other_id);
        Mutex::new(t)
    })
}

/// Percent-encodes everything but unreserved characters, so any text is one path segment.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fuzz_target!(|input: Input| {
    let mut t = target()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);

    let key: Option<Vec<u8>> = match &input.key {
        Key::Owner => Some(t.owner_key.clone().into_bytes()),
        Key::Other => Some(t.other_key.clone().into_bytes()),
        Key::Missing => None,
        Key::Odd(s) => Some(s.build().into_bytes()),
        Key::OwnerSpliced { at, extra } => {
            let mut k = t.owner_key.clone();
            let mut at = usize::from(*at).min(k.len());
            while !k.is_char_boundary(at) {
                at -= 1;
            }
            k.insert_str(at, extra);
            Some(k.into_bytes())
        }
    };
    let segment = match &input.decision {
        Decision::Fresh => t.slots[0].clone(),
        Decision::Kept => t.slots[1].clone(),
        Decision::FreshUpper => t.slots[0].to_uppercase(),
        Decision::OthersKeys => t.others_decision.clone(),
        Decision::Unknown(n) => uuid_text(*n),
        // At most 4,096 characters (≤ 48 KiB encoded): `http` refuses a URI past 64 KiB.
        Decision::Odd(s) => path_segment(&s.build().chars().take(4096).collect::<String>()),
    };
    let body = match &input.body {
        Body::Object {
            new_status,
            comment,
            extras,
        } => {
            let mut w = ObjectWriter::default();
            w.field("new_status", new_status, |s| Value::String(s.build()));
            w.field("comment", comment, Comment::build);
            w.extras(extras);
            w.finish()
        }
        Body::Raw(RawBody(bytes)) => bytes.clone(),
    };

    let uri = format!("/v3/session/{segment}/update-status/");
    let (status, answer) = app::send(
        &t.app.router,
        Method::PATCH,
        &uri,
        input.content_type.header(),
        key.as_deref(),
        body.clone(),
    );
    let answer = app::check_answer(status, &answer, &input);
    if status.is_success() {
        // The key as the server compares it (surrounding whitespace ignored).
        let presented = key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
            .map(str::trim);
        let owners_change = presented == Some(t.owner_key.as_str())
            && matches!(
                input.decision,
                Decision::Fresh | Decision::Kept | Decision::FreshUpper
            );
        let others_change = presented == Some(t.other_key.as_str())
            && matches!(input.decision, Decision::OthersKeys);
        assert!(
            owners_change || others_change,
            "{status}: a change by a key that does not own the decision\n\
             input: {input:?}\nanswer: {answer}"
        );
        // A success needs an exact verdict and a comment of at most 10,000 characters;
        // the answer is the session id, and the decision carries the verdict.
        let sent: Sent = app::read_like_server(&body).unwrap_or_else(|e| {
            panic!("{status} for a body the server's reading refuses ({e})\ninput: {input:?}")
        });
        let verdict = sent.new_status.as_str();
        let comment_ok = match &sent.comment {
            Value::Null => true,
            Value::String(c) => c.chars().count() <= MAX_COMMENT_CHARS,
            _ => false,
        };
        assert!(
            matches!(verdict, Some("Approved" | "Declined")) && comment_ok,
            "{status} for a body without an exact verdict and a short comment\n\
             input: {input:?}\nanswer: {answer}"
        );
        let id = segment.to_lowercase();
        assert_eq!(
            answer,
            serde_json::json!({ "session_id": id }),
            "the answer is not the session id"
        );
        let owner_id = if others_change {
            t.other_id.clone()
        } else {
            t.owner_id.clone()
        };
        let saved = t
            .app
            .state
            .store()
            .get_decision(&id, &owner_id)
            .expect("read the decision")
            .expect("the decision exists");
        assert_eq!(
            Some(saved.status().to_string().as_str()),
            verdict,
            "the decision's status is not the verdict sent: {answer}"
        );
        if matches!(input.decision, Decision::Fresh | Decision::FreshUpper) {
            let owner = t.owner_id.clone();
            t.slots[0] = t.save(&owner);
        }
    }
});

fn uuid_text(n: u128) -> String {
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
