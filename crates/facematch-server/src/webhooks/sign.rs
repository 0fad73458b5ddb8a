//! A webhook request signed as Didit signs its own: the body and the headers
//! `X-Signature`, `X-Signature-V2`, `X-Signature-Simple` and `X-Timestamp`.
//!
//! Every signature is the lowercase hex HMAC-SHA256, keyed with the destination
//! secret's UTF-8 bytes, of:
//! - `X-Signature`: the raw body bytes (what [`SignedRequest::body`] holds);
//! - `X-Signature-V2`: the canonical JSON of the parsed body ([`canonical_json`]:
//!   sorted keys, compact, whole floats as integers, non-ASCII unescaped);
//! - `X-Signature-Simple`: `"{timestamp}:{session_id}:{status}:{webhook_type}"` from the
//!   body's fields (a missing or null field is the empty string).
//!
//! `X-Timestamp` is the Unix time in seconds at sending, equal to the body's
//! `timestamp`; receivers reject a request more than 300 s away from their clock.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::canonical::{ascii_json, canonical_json, round_floats};

/// `User-Agent` of every webhook request.
pub const USER_AGENT: &str = concat!("facematch-webhook/", env!("CARGO_PKG_VERSION"));

/// A webhook request ready to POST: its body and headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// The body: canonical JSON, all ASCII.
    pub body: String,
    /// `Content-Type`, the three signatures, `X-Timestamp` and `User-Agent`.
    pub headers: Vec<(&'static str, String)>,
}

impl SignedRequest {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Inserts `"timestamp": now_unix` into `payload` (replacing one already there, as a
/// resend does), rounds its floats ([`round_floats`]), serializes it and signs it with
/// `secret`. A payload that is not an object is signed without a timestamp.
pub fn sign_payload(secret: &str, mut payload: Value, now_unix: i64) -> SignedRequest {
    if let Value::Object(map) = &mut payload {
        map.insert("timestamp".to_owned(), Value::from(now_unix));
    }
    round_floats(&mut payload);
    let body = ascii_json(&payload);
    let v2_input = canonical_json(&payload);
    let simple_input = simple_input(&payload);
    let headers = vec![
        ("Content-Type", "application/json".to_owned()),
        ("X-Signature", hmac_hex(secret, body.as_bytes())),
        ("X-Signature-V2", hmac_hex(secret, v2_input.as_bytes())),
        (
            "X-Signature-Simple",
            hmac_hex(secret, simple_input.as_bytes()),
        ),
        ("X-Timestamp", now_unix.to_string()),
        ("User-Agent", USER_AGENT.to_owned()),
    ];
    SignedRequest { body, headers }
}

/// The string `X-Signature-Simple` signs: `timestamp:session_id:status:webhook_type`.
pub fn simple_input(payload: &Value) -> String {
    let field = |name: &str| match payload.get(name) {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => canonical_json(other),
    };
    format!(
        "{}:{}:{}:{}",
        field("timestamp"),
        field("session_id"),
        field("status"),
        field("webhook_type")
    )
}

/// Lowercase hex HMAC-SHA256 of `message` keyed with `secret`'s UTF-8 bytes.
pub fn hmac_hex(secret: &str, message: &[u8]) -> String {
    use std::fmt::Write as _;
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(message);
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_hmac_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_hex("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signs_body_canonical_form_and_simple_string() {
        let payload = json!({"session_id": "s-1", "status": "Approved",
                             "webhook_type": "status.updated", "vendor_data": "José",
                             "score": 90.0});
        let req = sign_payload("sekret", payload, 1_700_000_000);
        assert_eq!(
            req.body,
            r#"{"score":90,"session_id":"s-1","status":"Approved","timestamp":1700000000,"vendor_data":"Jos\u00e9","webhook_type":"status.updated"}"#
        );
        assert_eq!(
            req.header("x-signature"),
            Some(hmac_hex("sekret", req.body.as_bytes()).as_str())
        );
        let v2 = r#"{"score":90,"session_id":"s-1","status":"Approved","timestamp":1700000000,"vendor_data":"José","webhook_type":"status.updated"}"#;
        assert_eq!(
            req.header("X-Signature-V2"),
            Some(hmac_hex("sekret", v2.as_bytes()).as_str())
        );
        let simple = "1700000000:s-1:Approved:status.updated";
        assert_eq!(
            req.header("X-Signature-Simple"),
            Some(hmac_hex("sekret", simple.as_bytes()).as_str())
        );
        assert_eq!(req.header("X-Timestamp"), Some("1700000000"));
        assert_eq!(req.header("Content-Type"), Some("application/json"));
        assert_eq!(req.header("User-Agent"), Some(USER_AGENT));
    }

    #[test]
    fn resend_refreshes_the_timestamp() {
        let first = sign_payload("k", json!({"timestamp": 1, "session_id": "a"}), 5);
        assert!(first.body.contains(r#""timestamp":5"#));
        assert_eq!(
            simple_input(&json!({"session_id": "a", "status": null})),
            ":a::"
        );
    }
}
