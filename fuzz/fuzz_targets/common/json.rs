//! Structured JSON bodies for the targets that fuzz the JSON routes: mostly-valid objects
//! whose fields hold odd strings (very long, NUL, control characters, non-BMP unicode,
//! near-miss spellings), values of the wrong type, duplicate and unknown keys — or raw
//! bytes, so that the JSON reader itself is still fuzzed. `arbitrary` builds them from
//! the fuzzer's bytes; nothing here recurses (a recursive value type would let a small
//! input build a nesting deep enough to overflow the harness's own stack), and
//! [`Scalar::Nested`] reaches serde_json's nesting limit on purpose instead.
#![allow(dead_code)] // each target uses a different subset

use arbitrary::Arbitrary;
use serde_json::Value;

/// Longest string a [`FuzzString::Repeat`] builds: past every limit the routes have
/// (1,000-character comments, 200-character key names), below the body limit.
pub const MAX_REPEAT_CHARS: usize = 20_000;

/// Strings that mean something to one of the routes, so that the fuzzer starts next to
/// the branches instead of having to guess them.
const KNOWN: &[&str] = &[
    "",
    " ",
    "Approved",
    "Declined",
    "In Review",
    "approved",
    "APPROVED",
    " Approved",
    "Approved\0",
    "\u{feff}Approved",
    "Not Finished",
    "dev@example.com",
    "DEV@Example.COM ",
    "dev+tag@example.com",
    "dev+@example.com",
    "dev@sub.example.com",
    "@example.com",
    "dev@",
    "dev",
    "dev@@example.com",
    "\"dev\"@example.com",
    "dev@[127.0.0.1]",
    "dev@xn--bcher-kva.example",
    "dév@exämple.com",
    "long enough pw",
    "short",
    "1234567",
    "12345678",
    "ABC123",
    "abc123",
    " abc123 ",
    "000000",
    "null",
    "true",
    "0",
    "-1",
    "1e309",
];

/// A string a client could send.
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzString {
    /// Any UTF-8 text.
    Text(String),
    /// One of the strings the routes care about.
    Known(u8),
    /// A known string with `extra` spliced in at a byte offset (snapped to a char
    /// boundary): near misses.
    Spliced {
        /// Index into the known strings.
        known: u8,
        /// Where to splice.
        at: u8,
        /// What to splice in.
        extra: String,
    },
    /// `unit` repeated until about `chars` characters: the over-long fields.
    Repeat {
        /// The repeated text (a default one when empty).
        unit: String,
        /// Characters wanted (capped at [`MAX_REPEAT_CHARS`]).
        chars: u16,
    },
    /// Text with a NUL and other control characters around it.
    Controls(String),
    /// An e-mail-shaped string built from parts.
    Email {
        /// Before the `@`.
        local: String,
        /// A `+tag`, if any.
        tag: Option<String>,
        /// After the `@`.
        domain: String,
    },
}

impl FuzzString {
    /// The string itself.
    pub fn build(&self) -> String {
        match self {
            FuzzString::Text(s) => s.clone(),
            FuzzString::Known(i) => known(*i).to_owned(),
            FuzzString::Spliced {
                known: i,
                at,
                extra,
            } => {
                let mut s = known(*i).to_owned();
                let mut at = usize::from(*at).min(s.len());
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                s.insert_str(at, extra);
                s
            }
            FuzzString::Repeat { unit, chars } => {
                let unit = if unit.is_empty() { "x" } else { unit.as_str() };
                unit.chars()
                    .cycle()
                    .take(usize::from(*chars).min(MAX_REPEAT_CHARS))
                    .collect()
            }
            FuzzString::Controls(s) => format!("\0{s}\u{1}\r\n\t\u{7f}\0"),
            FuzzString::Email { local, tag, domain } => match tag {
                Some(tag) => format!("{local}+{tag}@{domain}"),
                None => format!("{local}@{domain}"),
            },
        }
    }
}

fn known(i: u8) -> &'static str {
    KNOWN[usize::from(i) % KNOWN.len()]
}

/// A JSON value that is not a container of containers.
#[derive(Arbitrary, Debug, Clone)]
pub enum Scalar {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (non-finite ones become `null`, as JSON has no spelling for them).
    Float(f64),
    /// A string.
    Str(FuzzString),
    /// An array of strings.
    Strings(Vec<FuzzString>),
    /// An object of strings.
    Object(Vec<(FuzzString, FuzzString)>),
    /// A string inside `depth` nested arrays (serde_json refuses past 128).
    Nested {
        /// Levels of `[...]`.
        depth: u8,
        /// What is inside.
        inner: FuzzString,
    },
}

impl Scalar {
    /// The value.
    pub fn build(&self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Int(i) => Value::from(*i),
            Scalar::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Scalar::Str(s) => Value::String(s.build()),
            Scalar::Strings(v) => {
                Value::Array(v.iter().map(|s| Value::String(s.build())).collect())
            }
            Scalar::Object(kv) => Value::Object(
                kv.iter()
                    .map(|(k, v)| (k.build(), Value::String(v.build())))
                    .collect(),
            ),
            Scalar::Nested { depth, inner } => {
                let mut v = Value::String(inner.build());
                for _ in 0..*depth {
                    v = Value::Array(vec![v]);
                }
                v
            }
        }
    }
}

/// One field of a request object.
#[derive(Arbitrary, Debug, Clone)]
pub enum Field<T> {
    /// The field with a value of the right type.
    Value(T),
    /// Left out.
    Absent,
    /// A value of any (usually the wrong) type.
    Other(Scalar),
}

/// The `Content-Type` of the request.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ContentType {
    /// `application/json`.
    Json,
    /// `application/json; charset=utf-8`.
    JsonUtf8,
    /// A `+json` suffix type.
    ProblemJson,
    /// `text/plain`.
    Text,
    /// No header at all.
    Missing,
}

impl ContentType {
    /// The header value, if any.
    pub fn header(self) -> Option<&'static str> {
        match self {
            ContentType::Json => Some("application/json"),
            ContentType::JsonUtf8 => Some("application/json; charset=utf-8"),
            ContentType::ProblemJson => Some("application/problem+json"),
            ContentType::Text => Some("text/plain"),
            ContentType::Missing => None,
        }
    }
}

/// A request object written key by key, so that it may repeat a key (which
/// `serde_json::Map` could not express).
#[derive(Debug, Default)]
pub struct ObjectWriter {
    entries: Vec<(String, Value)>,
}

impl ObjectWriter {
    /// Adds `name` when the field is not [`Field::Absent`], building a right-typed
    /// value with `value`.
    pub fn field<T>(&mut self, name: &str, field: &Field<T>, value: impl FnOnce(&T) -> Value) {
        match field {
            Field::Value(v) => self.entries.push((name.to_owned(), value(v))),
            Field::Absent => {}
            Field::Other(s) => self.entries.push((name.to_owned(), s.build())),
        }
    }

    /// Adds extra entries: unknown keys, or a known key a second time.
    pub fn extras(&mut self, extras: &[(FuzzString, Scalar)]) {
        for (k, v) in extras {
            self.entries.push((k.build(), v.build()));
        }
    }

    /// The JSON text.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = b"{".to_vec();
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Serializing a String or a Value cannot fail.
            out.extend(serde_json::to_vec(k).unwrap_or_default());
            out.push(b':');
            out.extend(serde_json::to_vec(v).unwrap_or_default());
        }
        out.push(b'}');
        out
    }
}
