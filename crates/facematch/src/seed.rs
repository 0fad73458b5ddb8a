//! `facematch db seed`: fills an account with made-up saved decisions, for benchmarks of
//! the Business Console (p95 page times at 100,000 decisions) and for demos. It refuses an
//! account that already has decisions, so it can never mix fake rows into real ones.

use facematch_core::{Entity, FaceMatch, Gender, ImageFaces, Status};
use facematch_store::{NewKey, SavedDecision, Store};
use time::{Duration, OffsetDateTime};

use crate::CliError;

/// One made-up face of a 640×480 photo.
fn face(i: u64, shift: i64) -> Entity {
    let x = 180 + (i % 60) as i64 + shift;
    Entity {
        age: Some(20.0 + (i % 50) as f64),
        bbox: [x, 120, x + 200, 380],
        confidence: 0.9 + (i % 10) as f64 / 100.0,
        gender: Some(if i.is_multiple_of(2) {
            Gender::Male
        } else {
            Gender::Female
        }),
        landmarks: None,
        pose: None,
        quality: None,
    }
}

/// Decision `i` of `n`: statuses about 70 % Approved, 20 % Declined, 10 % In Review;
/// made over the last 90 days, oldest first.
fn decision(key_id: &str, i: u64, n: u64, now: OffsetDateTime) -> SavedDecision {
    // A fixed, cheap scramble of i: the same seed makes the same rows.
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    let (status, score) = match h % 10 {
        0 => (Status::InReview, 30 + (h >> 8) % 40),
        1 | 2 => (Status::Declined, (h >> 8) % 30),
        _ => (Status::Approved, 70 + (h >> 8) % 31),
    };
    let span = Duration::days(90).whole_seconds();
    let at = now - Duration::seconds(span - span * i as i64 / n.max(1) as i64);
    SavedDecision {
        request_id: uuid::Uuid::new_v4().hyphenated().to_string(),
        key_id: key_id.to_owned(),
        face_match: FaceMatch {
            status,
            score: Some(u8::try_from(score).unwrap_or(100)),
            user_image: ImageFaces {
                entities: vec![face(h, 0)],
                best_angle: 0,
            },
            ref_image: ImageFaces {
                entities: vec![face(h >> 3, 20)],
                best_angle: 0,
            },
            warnings: vec![],
        },
        decline_threshold: 30.0,
        review_threshold: Some(70.0),
        vendor_data: Some(format!("user-{}", h % 50_000)),
        metadata: None,
        session_number: 0,
        created_at: at,
        updated_at: at,
        history: vec![],
    }
}

/// Adds `n` made-up decisions under a new key named `seed` of the account of `account_email`.
pub fn seed(store: &Store, account_email: &str, n: u64) -> Result<u64, CliError> {
    let account_id = store
        .account_id_by_email(account_email)
        .map_err(|e| CliError::Other(e.into()))?
        .ok_or_else(|| {
            CliError::Input(anyhow::anyhow!(
                "no account with the e-mail {account_email}"
            ))
        })?;
    let existing = store
        .manual_checks(&account_id, &Default::default(), None, 1)
        .map_err(|e| CliError::Other(e.into()))?;
    if !existing.rows.is_empty() {
        return Err(CliError::Input(anyhow::anyhow!(
            "the account of {account_email} already has decisions: seed only an empty account"
        )));
    }
    let key = store
        .create_key(NewKey {
            name: "seed".into(),
            credits: 0,
            admin: false,
            expires_at: None,
            account_id: Some(account_id),
        })
        .map_err(|e| CliError::Other(e.into()))?;
    let now = OffsetDateTime::now_utc();
    for i in 0..n {
        store
            .save_decision(&decision(&key.record.id, i, n, now))
            .map_err(|e| CliError::Other(e.into()))?;
    }
    Ok(n)
}
