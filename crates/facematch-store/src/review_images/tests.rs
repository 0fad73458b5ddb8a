//! Review images on both databases: sealed at rest, opened only with their key and row,
//! and gone on expiry, on review and with their decision.
#![allow(clippy::unwrap_used, clippy::panic)]

use facematch_core::Status;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::test_backends::{decision, each_backend};
use crate::{NewKey, ReviewStatus, StatusUpdate, WebhookKeyError};

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap()
}

/// Two distinct "images" of 4 KiB each (no 64-byte run of one occurs in the other).
fn images() -> (Vec<u8>, Vec<u8>) {
    let source: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(7) ^ (i >> 3)) as u8)
        .collect();
    let target: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(13) ^ 0x5a ^ (i >> 5)) as u8)
        .collect();
    (source, target)
}

/// `store` with a random review key, one key id and `n` saved decisions `status`.
fn setup(store: Store, status: Status, n: usize) -> (Store, String, Vec<String>) {
    let store = store.with_review_images_key(ReviewImagesKey::try_random().unwrap());
    let key = store
        .create_key(NewKey {
            name: "k".into(),
            credits: 0,
            admin: false,
            expires_at: None,
            account_id: None,
        })
        .unwrap()
        .record
        .id;
    let ids = (0..n)
        .map(|_| {
            let d = decision(&key, status, t0());
            store.save_decision(&d).unwrap();
            d.request_id
        })
        .collect();
    (store, key, ids)
}

fn rows(store: &Store) -> i64 {
    store
        .run(|c| c.query_one("SELECT count(*) FROM review_images", args![], |r| r.get(0)))
        .unwrap()
}

/// Every stored byte of the table (both columns of every row).
fn stored_bytes(store: &Store) -> Vec<Vec<u8>> {
    store
        .run(|c| {
            c.query_map("SELECT source, target FROM review_images", args![], |r| {
                Ok([r.get::<Vec<u8>>(0)?, r.get::<Vec<u8>>(1)?])
            })
        })
        .unwrap()
        .into_iter()
        .flatten()
        .collect()
}

/// Whether any 64-byte window of `plain` occurs in `hay`.
fn holds_a_run_of(hay: &[u8], plain: &[u8]) -> bool {
    plain
        .windows(64)
        .step_by(1)
        .any(|w| hay.windows(64).any(|h| h == w))
}

each_backend! {
    fn a_saved_pair_opens_back_and_is_only_ciphertext_at_rest(store) {
        let (store, _, ids) = setup(store, Status::InReview, 1);
        let (source, target) = images();
        let expires = t0() + Duration::hours(72);
        store.save_review_images(&ids[0], &source, &target, expires).unwrap();
        assert_eq!(
            store.review_images(&ids[0], t0()).unwrap(),
            Some(ReviewImagePair {
                source: source.clone(),
                target: target.clone()
            })
        );
        let stored = stored_bytes(&store);
        assert_eq!(stored.len(), 2);
        for sealed in &stored {
            assert!(!holds_a_run_of(sealed, &source), "a run of the source is stored");
            assert!(!holds_a_run_of(sealed, &target), "a run of the target is stored");
        }
        // Past its expiry it is not served, even before a purge removes it.
        assert_eq!(store.review_images(&ids[0], expires).unwrap(), None);
        // Unknown decisions: nothing to keep, nothing to read.
        assert!(matches!(
            store.save_review_images("nope", &source, &target, expires),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(store.review_images("nope", t0()).unwrap(), None);
    }

    fn another_key_or_a_swapped_row_does_not_open(store) {
        let (store, key, ids) = setup(store, Status::InReview, 2);
        let (source, target) = images();
        let expires = t0() + Duration::hours(1);
        for id in &ids {
            store.save_review_images(id, &source, &target, expires).unwrap();
        }
        // The same database read with another key (the key file was replaced).
        let other = store.clone().with_review_images_key(ReviewImagesKey::try_random().unwrap());
        assert!(matches!(
            other.review_images(&ids[0], t0()),
            Err(StoreError::WebhookKey(WebhookKeyError::Unseal))
        ));
        // Source and target swapped within a row.
        store
            .run(|c| {
                c.execute(
                    "UPDATE review_images SET source = target, target = source WHERE request_id = ?1",
                    args![&ids[0]],
                )
            })
            .unwrap();
        assert!(matches!(
            store.review_images(&ids[0], t0()),
            Err(StoreError::WebhookKey(WebhookKeyError::Unseal))
        ));
        // Another decision's sealed pair copied onto this row.
        store
            .run(|c| {
                c.execute(
                    "UPDATE review_images SET source = (SELECT source FROM review_images \
                     WHERE request_id = ?2), target = (SELECT target FROM review_images \
                     WHERE request_id = ?2) WHERE request_id = ?1",
                    args![&ids[0], &ids[1]],
                )
            })
            .unwrap();
        assert!(matches!(
            store.review_images(&ids[0], t0()),
            Err(StoreError::WebhookKey(WebhookKeyError::Unseal))
        ));
        // A truncated value is an error too, not a panic.
        store
            .run(|c| {
                c.execute(
                    "UPDATE review_images SET source = ?2 WHERE request_id = ?1",
                    args![&ids[1], &[1u8, 2, 3]],
                )
            })
            .unwrap();
        assert!(store.review_images(&ids[1], t0()).is_err());
        // Without a key: nothing is saved, nothing read.
        let off = crate::test_backends::sqlite_store();
        assert!(matches!(
            off.save_review_images(&ids[0], &source, &target, expires),
            Err(StoreError::Invalid(_))
        ));
        let _ = key;
    }

    fn the_purge_removes_exactly_the_expired_rows(store) {
        let n = REVIEW_IMAGES_PURGE_BATCH + 3;
        let (store, _, ids) = setup(store, Status::InReview, n + 2);
        let (source, target) = images();
        for (i, id) in ids.iter().enumerate() {
            // The first n expire at t0 + 1 h; the last two a day later.
            let expires = if i < n { t0() + Duration::hours(1) } else { t0() + Duration::hours(25) };
            store.save_review_images(id, &source[..100], &target[..100], expires).unwrap();
        }
        assert_eq!(store.purge_expired_review_images(t0()).unwrap(), 0);
        // Across more than one batch.
        assert_eq!(
            store.purge_expired_review_images(t0() + Duration::hours(1)).unwrap(),
            n
        );
        assert_eq!(rows(&store), 2);
        assert!(store.review_images(&ids[n], t0()).unwrap().is_some());
        assert_eq!(store.review_images(&ids[0], t0()).unwrap(), None);
        // The decisions themselves stay.
        assert!(store.decision_view(&ids[0], &store.list_keys().unwrap()[0].id).unwrap().is_some());
    }

    fn a_review_deletes_the_images(store) {
        let (store, key, ids) = setup(store, Status::InReview, 2);
        let (source, target) = images();
        for id in &ids {
            store.save_review_images(id, &source, &target, t0() + Duration::hours(1)).unwrap();
        }
        let done = store
            .update_status(&ids[0], &key, ReviewStatus::Approved, Some("ok"), t0())
            .unwrap()
            .unwrap();
        assert!(matches!(done, StatusUpdate::Changed(_)));
        assert_eq!(store.review_images(&ids[0], t0()).unwrap(), None);
        assert!(store.review_images(&ids[1], t0()).unwrap().is_some());
        assert_eq!(rows(&store), 1);
    }

    fn deleting_the_decision_deletes_the_images(store) {
        let (store, key, ids) = setup(store, Status::InReview, 3);
        let (source, target) = images();
        for id in &ids {
            store.save_review_images(id, &source, &target, t0() + Duration::hours(1)).unwrap();
        }
        // The API's delete.
        assert_eq!(store.delete_decisions(&ids[..1], &key).unwrap(), vec![true]);
        assert_eq!(rows(&store), 2);
        // Retention.
        let mut old = decision(&key, Status::InReview, t0() - Duration::days(400));
        old.request_id = "old".into();
        store.save_decision(&old).unwrap();
        store.save_review_images("old", &source, &target, t0() + Duration::hours(1)).unwrap();
        assert_eq!(rows(&store), 3);
        assert_eq!(store.purge_decisions_older_than(t0() - Duration::days(1), 10).unwrap(), 1);
        assert_eq!(rows(&store), 2);
        // The schema itself: a decision row deleted by hand takes its images along
        // (ON DELETE CASCADE, on SQLite with foreign keys on and on PostgreSQL).
        store
            .run(|c| c.execute("DELETE FROM decisions WHERE request_id = ?1", args![&ids[1]]))
            .unwrap();
        assert_eq!(rows(&store), 1);
        assert!(store.review_images(&ids[2], t0()).unwrap().is_some());
    }
}
