//! The multipart form of `POST /v3/face-match/`, read as a stream and parsed strictly.
//!
//! Images are read chunk by chunk and refused (413) as soon as one passes 5 MiB, before
//! any decoding; the whole body is capped by `DefaultBodyLimit` (413 as well). Every
//! image being received reserves the 5 MiB it may grow to from the server's
//! [`UploadBudget`] before its first byte is kept, and gives back what it did not use
//! once complete: when there is no room the request is refused at once (429
//! `server_busy`) having allocated nothing, its other buffers given back, and the rest
//! of its body is not read (reading it would cost the memory being protected). A field
//! sent twice is a 400; unknown fields are skipped unread (their bytes still count
//! towards the body limit). Every bad value is a 400 that names its field.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::multipart::Field;
use axum::extract::Multipart;
use facematch_core::score::threshold_for_fmr;
use facematch_core::{CompareOptions, Side, MAX_IMAGE_BYTES};

use crate::error::ApiError;
use crate::upload_budget::UploadBudget;

/// `user_image`.
pub const USER_IMAGE: &str = Side::User.field();
/// `ref_image`.
pub const REF_IMAGE: &str = Side::Reference.field();
/// `face_match_score_decline_threshold`.
pub const DECLINE_THRESHOLD: &str = "face_match_score_decline_threshold";
/// `face_match_score_review_threshold` (beyond the contract).
pub const REVIEW_THRESHOLD: &str = "face_match_score_review_threshold";
/// `face_match_target_fmr` (beyond the contract): a false-match rate that sets the
/// decline threshold from the calibrated scale.
pub const TARGET_FMR: &str = "face_match_target_fmr";
/// `rotate_image`.
pub const ROTATE_IMAGE: &str = "rotate_image";
/// `quality_filter` (beyond the contract): `NONE` (default), `AUTO`, `LOW`, `MEDIUM` or
/// `HIGH`, any case; faces below the level are not compared (`LOW_FACE_QUALITY`).
pub const QUALITY_FILTER: &str = "quality_filter";
/// `save_api_request`.
pub const SAVE_API_REQUEST: &str = "save_api_request";
/// `vendor_data`.
pub const VENDOR_DATA: &str = "vendor_data";

/// `metadata` (Didit's, beyond the contract): a JSON object, sent as JSON text.
pub const METADATA: &str = "metadata";
/// Largest `metadata`, in bytes of its JSON text.
pub const MAX_METADATA_BYTES: usize = 4096;

/// Longest `vendor_data`, in characters.
pub const MAX_VENDOR_DATA_CHARS: usize = 1000;
/// Largest text field in bytes (1,000 characters of UTF-8 fit in 4,000).
const MAX_TEXT_BYTES: usize = 4 * MAX_VENDOR_DATA_CHARS;
/// Default decline threshold of the contract.
pub const DEFAULT_DECLINE_THRESHOLD: f32 = 30.0;

/// The parsed form.
#[derive(Debug, Clone)]
pub struct FaceMatchForm {
    /// Bytes of `user_image` (possibly empty: NO_REFERENCE_IMAGE).
    pub user_image: Bytes,
    /// Bytes of `ref_image`.
    pub ref_image: Bytes,
    /// Thresholds and rotation.
    pub options: CompareOptions,
    /// `face_match_target_fmr` when it was sent (the decline threshold then comes
    /// from it).
    pub target_fmr: Option<f64>,
    /// Store the decision (default true).
    pub save: bool,
    /// The client's `vendor_data`.
    pub vendor_data: Option<String>,
    /// The client's `metadata` object.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Reads and validates the whole form, taking its image bytes from `budget`.
pub async fn read_form(
    mut multipart: Multipart,
    budget: &UploadBudget,
) -> Result<FaceMatchForm, ApiError> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut user_image = None;
    let mut ref_image = None;
    let mut decline = None;
    let mut review = None;
    let mut target_fmr = None;
    let mut rotate = None;
    let mut quality_filter = None;
    let mut save = None;
    let mut vendor_data = None;
    let mut metadata = None;
    while let Some(field) = multipart.next_field().await? {
        // A part without a name cannot be one of ours: ignored like unknown fields.
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let known = [
            USER_IMAGE,
            REF_IMAGE,
            DECLINE_THRESHOLD,
            REVIEW_THRESHOLD,
            TARGET_FMR,
            ROTATE_IMAGE,
            QUALITY_FILTER,
            SAVE_API_REQUEST,
            VENDOR_DATA,
            METADATA,
        ]
        .into_iter()
        .find(|k| *k == name);
        let Some(known) = known else {
            // Unknown field: skipped; `next_field` discards its bytes.
            continue;
        };
        if !seen.insert(name) {
            return Err(ApiError::DuplicateField(known.to_owned()));
        }
        match known {
            USER_IMAGE => user_image = Some(read_image(field, USER_IMAGE, budget).await?),
            REF_IMAGE => ref_image = Some(read_image(field, REF_IMAGE, budget).await?),
            METADATA => {
                let text = read_text_up_to(field, METADATA, MAX_METADATA_BYTES).await?;
                metadata = Some(parse_metadata(&text)?);
            }
            _ => {
                let text = read_text(field, known).await?;
                match known {
                    DECLINE_THRESHOLD => decline = Some(parse_threshold(known, &text)?),
                    REVIEW_THRESHOLD => review = Some(parse_threshold(known, &text)?),
                    TARGET_FMR => target_fmr = Some(parse_fmr(known, &text)?),
                    ROTATE_IMAGE => rotate = Some(parse_bool(known, &text)?),
                    QUALITY_FILTER => quality_filter = Some(parse_quality_filter(known, &text)?),
                    SAVE_API_REQUEST => save = Some(parse_bool(known, &text)?),
                    _ => vendor_data = Some(parse_vendor_data(text)?),
                }
            }
        }
    }
    let user_image = user_image.ok_or(ApiError::MissingField(USER_IMAGE))?;
    let ref_image = ref_image.ok_or(ApiError::MissingField(REF_IMAGE))?;
    // Two ways to set one threshold: refuse the pair rather than guess which wins.
    let decline_threshold = match (decline, target_fmr) {
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidField {
                field: TARGET_FMR,
                reason: format!("cannot be combined with {DECLINE_THRESHOLD}; send one of them"),
            })
        }
        (_, Some(fmr)) => threshold_for_fmr(fmr).map_err(|e| ApiError::InvalidField {
            field: TARGET_FMR,
            reason: e.to_string(),
        })?,
        (Some(d), None) => d,
        (None, None) => DEFAULT_DECLINE_THRESHOLD,
    };
    if let Some(r) = review {
        if r < decline_threshold {
            return Err(ApiError::InvalidField {
                field: REVIEW_THRESHOLD,
                reason: format!(
                    "must be at least the decline threshold ({decline_threshold}), got {r}"
                ),
            });
        }
    }
    Ok(FaceMatchForm {
        user_image,
        ref_image,
        options: CompareOptions {
            decline_threshold,
            review_threshold: review,
            rotate: rotate.unwrap_or(false),
            quality_filter: quality_filter.unwrap_or_default(),
        },
        target_fmr,
        save: save.unwrap_or(true),
        vendor_data,
        metadata,
    })
}

/// An image arrives in blocks of this size (fixed-size allocations that the allocator
/// hands from one upload to the next, rather than a buffer that doubles and leaves
/// freed pieces of every size behind).
const BLOCK_BYTES: usize = 64 * 1024;

/// Reads an image part chunk by chunk, refusing it as soon as it passes 5 MiB. At its
/// first byte the whole 5 MiB is reserved from `budget` (refused at once when there is
/// no room, before anything is allocated): an upload refused half-way would leave its
/// freed buffers with the allocator, which keeps them (measured: 200 uploads refused
/// part-way under a 64 MiB budget grew the process by ~250 MiB; reserved up front, by
/// less than the budget plus 64 MiB). The blocks become one buffer at the end, for the
/// decoder, and the returned bytes hold only their own size until they are dropped.
async fn read_image(
    mut field: Field<'_>,
    name: &'static str,
    budget: &UploadBudget,
) -> Result<Bytes, ApiError> {
    let mut held = budget.hold();
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut len = 0;
    while let Some(chunk) = field.chunk().await? {
        if len + chunk.len() > MAX_IMAGE_BYTES {
            return Err(ApiError::FileTooLarge {
                field: name,
                limit: MAX_IMAGE_BYTES,
            });
        }
        held.cover(MAX_IMAGE_BYTES).map_err(|_| ApiError::Busy)?;
        let mut rest: &[u8] = &chunk;
        while !rest.is_empty() {
            let block = match blocks.last_mut() {
                Some(block) if block.len() < BLOCK_BYTES => block,
                _ => {
                    blocks.push(Vec::with_capacity(BLOCK_BYTES));
                    let last = blocks.len() - 1;
                    &mut blocks[last]
                }
            };
            let n = (BLOCK_BYTES - block.len()).min(rest.len());
            block.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        len += chunk.len();
    }
    // One contiguous copy: for a moment the image is held twice, both within budget.
    held.cover(blocks.len() * BLOCK_BYTES + len)
        .map_err(|_| ApiError::Busy)?;
    let mut buf = Vec::with_capacity(len);
    for block in blocks {
        buf.extend_from_slice(&block);
    }
    held.release_to(len);
    Ok(held.into_bytes(buf))
}

/// Reads a text part (at most a few KiB) as UTF-8.
async fn read_text(field: Field<'_>, name: &'static str) -> Result<String, ApiError> {
    read_text_up_to(field, name, MAX_TEXT_BYTES).await
}

/// Reads a text part of at most `max_bytes` as UTF-8; a longer one is refused as soon as
/// it passes the limit.
async fn read_text_up_to(
    mut field: Field<'_>,
    name: &'static str,
    max_bytes: usize,
) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        if buf.len() + chunk.len() > max_bytes {
            return Err(ApiError::InvalidField {
                field: name,
                reason: format!("value is too long (at most {max_bytes} bytes)"),
            });
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| ApiError::InvalidField {
        field: name,
        reason: "value is not valid UTF-8".into(),
    })
}

/// A threshold: an integer or a decimal (`50`, `50.0`, `72.5`) from 0 to 100. Signs,
/// exponents, `inf` and `NaN` are refused.
pub fn parse_threshold(field: &'static str, text: &str) -> Result<f32, ApiError> {
    let t = text.trim();
    let bad = || ApiError::InvalidField {
        field,
        reason: format!("must be a number from 0 to 100, got {:?}", truncate(text)),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return Err(bad());
    }
    let v: f64 = t.parse().map_err(|_| bad())?;
    if !(0.0..=100.0).contains(&v) {
        return Err(bad());
    }
    Ok(v as f32)
}

/// A false-match rate in (0, 1]: a decimal or scientific number such as `1e-4`,
/// `0.001` or `1E-3`. `inf`, `NaN`, `0`, negatives and values over 1 are refused.
pub fn parse_fmr(field: &'static str, text: &str) -> Result<f64, ApiError> {
    let t = text.trim();
    let bad = || ApiError::InvalidField {
        field,
        reason: format!(
            "must be a false-match rate in (0, 1] such as 1e-4, got {:?}",
            truncate(text)
        ),
    };
    // Only digits, one optional '.', and an exponent: Rust's parser alone would also
    // take "inf", "NaN" and "+1e-4".
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, "0"));
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix('-').unwrap_or(e)));
    if !digits(int) || !digits(frac) || !exponent_ok {
        return Err(bad());
    }
    let v: f64 = t.parse().map_err(|_| bad())?;
    threshold_for_fmr(v).map_err(|_| bad())?;
    Ok(v)
}

/// A strict boolean: `true/false`, `1/0`, `yes/no`, case-insensitive; anything else
/// (empty, `on`, `2`, …) is a 400, never silently true.
pub fn parse_bool(field: &'static str, text: &str) -> Result<bool, ApiError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ApiError::InvalidField {
            field,
            reason: format!(
                "must be true/false, 1/0 or yes/no, got {:?}",
                truncate(text)
            ),
        }),
    }
}

/// A quality filter level: `NONE`, `AUTO`, `LOW`, `MEDIUM` or `HIGH`, case-insensitive;
/// anything else is a 400 naming the field.
pub fn parse_quality_filter(
    field: &'static str,
    text: &str,
) -> Result<facematch_core::QualityFilter, ApiError> {
    text.parse().map_err(|_| ApiError::InvalidField {
        field,
        reason: format!(
            "must be NONE, AUTO, LOW, MEDIUM or HIGH, got {:?}",
            truncate(text)
        ),
    })
}

fn parse_vendor_data(text: String) -> Result<String, ApiError> {
    let chars = text.chars().count();
    if chars > MAX_VENDOR_DATA_CHARS {
        return Err(ApiError::InvalidField {
            field: VENDOR_DATA,
            reason: format!("at most {MAX_VENDOR_DATA_CHARS} characters, got {chars}"),
        });
    }
    Ok(text)
}

/// `metadata`: a JSON object (any keys and values), as Didit's SDKs send it. Anything
/// else — invalid JSON, an array, a string, `null` — is a 400 naming the field.
pub fn parse_metadata(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let bad = |reason: String| ApiError::InvalidField {
        field: METADATA,
        reason,
    };
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => Err(bad(format!(
            "must be a JSON object (at most {MAX_METADATA_BYTES} bytes), got {}",
            json_kind(&other)
        ))),
        Err(e) => Err(bad(format!(
            "must be a JSON object (at most {MAX_METADATA_BYTES} bytes), not valid JSON: {e}"
        ))),
    }
}

/// What a JSON value is, for an error message (never the value itself).
fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The first characters of a bad value, for the error message.
fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_strict() {
        for (s, v) in [
            ("50", 50.0),
            ("50.0", 50.0),
            (" 0 ", 0.0),
            ("100", 100.0),
            ("72.5", 72.5),
        ] {
            assert_eq!(parse_threshold(DECLINE_THRESHOLD, s).expect(s), v);
        }
        for bad in [
            "", "abc", "-1", "100.5", "101", "NaN", "inf", "1e2", "+5", ".5", "5.", "5,0",
        ] {
            let err = parse_threshold(DECLINE_THRESHOLD, bad).expect_err(bad);
            assert!(err.to_string().contains(DECLINE_THRESHOLD), "{err}");
        }
    }

    #[test]
    fn target_fmrs_are_strict() {
        for (s, v) in [
            ("1e-4", 1e-4),
            ("1E-3", 1e-3),
            (" 0.01 ", 0.01),
            ("1", 1.0),
            ("1.0", 1.0),
            ("5e-1", 0.5),
        ] {
            assert_eq!(parse_fmr(TARGET_FMR, s).expect(s), v);
        }
        for bad in [
            "", "0", "0.0", "-1e-4", "+1e-4", "1.5", "2", "1e1", "inf", "NaN", "e-4", "1e", "1e-",
            ".001", "1e-4x", "0,001", "1e+-4",
        ] {
            let err = parse_fmr(TARGET_FMR, bad).expect_err(bad);
            assert!(err.to_string().contains(TARGET_FMR), "{err}");
        }
    }

    #[test]
    fn booleans_are_strict() {
        for t in ["true", "TRUE", "1", "yes", "Yes"] {
            assert!(parse_bool(ROTATE_IMAGE, t).expect(t));
        }
        for f in ["false", "False", "0", "no", "NO"] {
            assert!(!parse_bool(ROTATE_IMAGE, f).expect(f));
        }
        for bad in ["", "on", "off", "2", "y", "truee", "null"] {
            let err = parse_bool(SAVE_API_REQUEST, bad).expect_err(bad);
            assert!(err.to_string().contains(SAVE_API_REQUEST), "{err}");
        }
    }

    #[test]
    fn quality_filter_levels_are_strict_and_case_insensitive() {
        use facematch_core::QualityFilter;
        for (text, level) in [
            ("NONE", QualityFilter::None),
            ("auto", QualityFilter::Auto),
            ("Low", QualityFilter::Low),
            ("medium", QualityFilter::Medium),
            ("HIGH", QualityFilter::High),
        ] {
            assert_eq!(
                parse_quality_filter(QUALITY_FILTER, text).expect(text),
                level
            );
        }
        for bad in ["", "MEDIUMM", "2", "true", "null"] {
            let err = parse_quality_filter(QUALITY_FILTER, bad).expect_err(bad);
            assert!(err.to_string().contains(QUALITY_FILTER), "{err}");
        }
    }

    #[test]
    fn metadata_is_a_json_object_and_nothing_else() {
        let map = parse_metadata(r#"{"flow":"login","n":[1,{"a":null}]}"#).expect("an object");
        assert_eq!(map["flow"], "login");
        assert!(parse_metadata("{}").expect("empty object").is_empty());
        for (text, kind) in [
            ("null", "got null"),
            ("[1]", "got an array"),
            (r#""{}""#, "got a string"),
            ("3", "got a number"),
            ("", "not valid JSON"),
            ("{", "not valid JSON"),
            (r#"{"a":1} x"#, "not valid JSON"),
        ] {
            match parse_metadata(text) {
                Err(ApiError::InvalidField { field, reason }) => {
                    assert_eq!(field, METADATA);
                    assert!(reason.contains(kind), "{text:?}: {reason}");
                    assert!(reason.contains("4096 bytes"), "{reason}");
                }
                other => panic!("{text:?}: expected InvalidField, got {other:?}"),
            }
        }
    }

    #[test]
    fn vendor_data_counts_characters() {
        let at_limit = "é".repeat(1000);
        assert_eq!(
            parse_vendor_data(at_limit.clone()).expect("1000 chars"),
            at_limit
        );
        let err = parse_vendor_data("a".repeat(1001)).expect_err("1001 chars");
        assert_eq!(
            err.to_string(),
            "invalid `vendor_data`: at most 1000 characters, got 1001"
        );
    }
}
