//! Migration 0004's session numbers, backfilled on decisions saved by the schema before it.
//! SQLite only: PostgreSQL support starts at version 4, so no PostgreSQL database predates it.

#![allow(clippy::unwrap_used)]

use facematch_core::{FaceMatch, ImageFaces, Status};
use rusqlite::{params, Connection};
use time::OffsetDateTime;

use super::SavedDecision;
use crate::migrations::{migrate_with, MIGRATIONS};
use crate::Store;

fn face_match() -> FaceMatch {
    FaceMatch {
        status: Status::Approved,
        score: Some(80),
        user_image: ImageFaces::default(),
        ref_image: ImageFaces::default(),
        warnings: vec![],
    }
}

/// Two decisions saved at schema version 3 (one key), a third of another key between
/// them: after the migration they read back as 1 and 2 (per key, in the order made) and
/// 1, and the key's next save gets 3.
#[test]
fn migration_0004_numbers_old_decisions_per_key_and_new_ones_follow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    {
        let mut conn = Connection::open(&path).unwrap();
        migrate_with(&mut conn, &MIGRATIONS[..3]).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 3);
        for (id, prefix) in [("k1", "aaaaaaaa"), ("k2", "bbbbbbbb")] {
            conn.execute(
                "INSERT INTO api_keys (id, prefix, key_hash, name, created_at) \
                 VALUES (?1, ?2, ?3, 'old', 0)",
                params![id, prefix, id.as_bytes()],
            )
            .unwrap();
        }
        let fm = serde_json::to_string(&face_match()).unwrap();
        // Inserted newest first: the numbers follow created_at, not the insertion order.
        for (request_id, key, at) in [
            ("second", "k1", 20_i64),
            ("other", "k2", 15),
            ("first", "k1", 10),
        ] {
            conn.execute(
                "INSERT INTO decisions (request_id, key_id, status, score, decline_threshold, \
                 review_threshold, warnings, face_match, vendor_data, created_at, updated_at) \
                 VALUES (?1, ?2, 'Approved', 80, 30.0, NULL, '[]', ?3, NULL, ?4, ?4)",
                params![request_id, key, fm, at * 1_000_000_000],
            )
            .unwrap();
        }
    }
    let store = Store::open(&path).unwrap();
    let number = |id: &str, key: &str| {
        store
            .get_decision(id, key)
            .unwrap()
            .expect("kept")
            .session_number
    };
    assert_eq!(number("first", "k1"), 1);
    assert_eq!(number("second", "k1"), 2);
    assert_eq!(number("other", "k2"), 1);
    assert_eq!(
        store.get_decision("first", "k1").unwrap().unwrap().metadata,
        None
    );

    let at = OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap();
    let next = store
        .save_decision(&SavedDecision {
            request_id: "third".into(),
            key_id: "k1".into(),
            face_match: face_match(),
            decline_threshold: 30.0,
            review_threshold: None,
            vendor_data: None,
            metadata: None,
            session_number: 0,
            created_at: at,
            updated_at: at,
            history: vec![],
        })
        .unwrap();
    assert_eq!(next, 3);
    assert_eq!(number("third", "k1"), 3);
}
