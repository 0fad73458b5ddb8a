//! The JSON text of a webhook payload, written the one way both ends agree on.
//!
//! Didit's receivers recompute `X-Signature-V2` from the *parsed* body as
//! `JSON.stringify(sortKeys(shortenFloats(body)))` (Python: `json.dumps(body,
//! sort_keys=True, separators=(",", ":"), ensure_ascii=False)` after turning whole
//! floats into ints). [`canonical_json`] writes exactly that: object keys sorted
//! recursively (by code point; arrays keep their order), no spaces, whole-number floats
//! as integers (`90.0` → `90`), non-ASCII characters as they are, control characters
//! escaped as JSON does (`\n`, `\u001f`, lowercase hex).
//!
//! [`ascii_json`] is the body we send: the same text with every non-ASCII character
//! escaped as `\uXXXX` (lowercase hex, a surrogate pair above U+FFFF), so the bytes are
//! plain ASCII and survive any middleware, and a receiver that parses and re-serializes
//! gets the V2 input back.
//!
//! Floats print differently in Rust, JavaScript and Python only in their long or tiny
//! forms, so [`round_floats`] first rounds every non-integer number of a payload to at
//! most 4 decimals and writes `|x| < 1e-4` as 0: what remains prints the same
//! (shortest round-trip form) in all three. Whole numbers beyond ±2^63 cannot be
//! written as integers here and stay in exponent form; a receiver's V2 may then
//! differ, while `X-Signature` (raw bytes) still verifies.

use serde_json::Value;

/// Decimals kept by [`round_floats`].
const DECIMALS: f64 = 1e4;

/// Rounds every non-integer number in `v` (recursively) to at most 4 decimals; values
/// with `|x| < 1e-4` become 0, whole values become integers.
pub fn round_floats(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                let rounded = if f.abs() < 1.0 / DECIMALS {
                    0.0
                } else {
                    (f * DECIMALS).round() / DECIMALS
                };
                *v = number_value(rounded);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round_floats),
        Value::Object(map) => map.values_mut().for_each(round_floats),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

/// `f` as a JSON number: an integer when it is whole and fits an `i64`.
fn number_value(f: f64) -> Value {
    whole_as_i64(f).map_or_else(
        || serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Value::from,
    )
}

/// `f` as an `i64` when it is a whole number within range (`-0.0` is 0).
fn whole_as_i64(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every whole f64 below it in magnitude fits.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.fract() == 0.0 && f.abs() < LIMIT).then_some(f as i64)
}

/// The V2 signature's input: sorted keys, compact, whole floats as integers,
/// non-ASCII characters unescaped.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, false);
    out
}

/// The body as sent: [`canonical_json`] with every non-ASCII character escaped
/// (`\u00e9`; `\ud83d\ude00` above U+FFFF).
pub fn ascii_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, true);
    out
}

fn write_value(out: &mut String, v: &Value, ascii: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s, ascii),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, ascii);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key, ascii);
                out.push(':');
                write_value(out, item, ascii);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &serde_json::Number) {
    match n.as_f64().filter(|_| n.is_f64()).and_then(whole_as_i64) {
        Some(whole) => out.push_str(&whole.to_string()),
        None => out.push_str(&n.to_string()),
    }
}

fn write_string(out: &mut String, s: &str, ascii: bool) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sorted_recursively_arrays_keep_order_compact() {
        let v = json!({"b": 1, "a": {"z": [3, 1, {"y": 0, "x": null}], "c": true}, "A": "x"});
        assert_eq!(
            canonical_json(&v),
            r#"{"A":"x","a":{"c":true,"z":[3,1,{"x":null,"y":0}]},"b":1}"#
        );
    }

    #[test]
    fn non_ascii_raw_in_canonical_escaped_in_ascii() {
        let v = json!({"name": "José", "city": "日本", "face": "😀"});
        assert_eq!(
            canonical_json(&v),
            r#"{"city":"日本","face":"😀","name":"José"}"#
        );
        assert_eq!(
            ascii_json(&v),
            r#"{"city":"\u65e5\u672c","face":"\ud83d\ude00","name":"Jos\u00e9"}"#
        );
        assert!(ascii_json(&v).is_ascii());
    }

    #[test]
    fn control_characters_quotes_and_backslashes_escaped_as_json_does() {
        let v = json!({"s": "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{1f}i\u{0}j\u{7f}/"});
        // DEL (0x7f) is not a control character to JSON: kept as it is, as Python does.
        let want = concat!(
            r#"{"s":"a\"b\\c\nd\re\tf\bg\fh\u001fi\u0000j"#,
            "\u{7f}",
            r#"/"}"#
        );
        assert_eq!(canonical_json(&v), want);
        assert_eq!(ascii_json(&v), want);
    }

    #[test]
    fn whole_floats_become_integers() {
        let v = json!({"a": 90.0, "b": -0.0, "c": 65.4321, "d": 3, "e": 1.5e3});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":90,"b":0,"c":65.4321,"d":3,"e":1500}"#
        );
    }

    #[test]
    fn round_floats_keeps_four_decimals_and_zeroes_tiny_values() {
        let mut v = json!({"a": 65.43216, "b": [0.00004, -0.00004, 0.0001], "c": {"d": 89.99999},
                           "e": 7, "f": 0.1});
        round_floats(&mut v);
        assert_eq!(
            canonical_json(&v),
            r#"{"a":65.4322,"b":[0,0,0.0001],"c":{"d":90},"e":7,"f":0.1}"#
        );
        // Whole results are integers in the value itself, not only in its text.
        assert!(v["c"]["d"].is_i64());
    }
}
