//! The history cap and the same-status rule, through the store's own API (and raw SQL for
//! a database written before the cap existed).

use facematch_core::Status;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::review::{ReviewError, MAX_HISTORY};
use crate::test_backends::each_backend;
use crate::NewKey;

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("valid time")
}

/// Adds to `store` one key and one decision `r` of that key with `status`; returns the key id.
fn key_with(store: &Store, status: Status) -> String {
    let key = store
        .create_key(NewKey {
            name: "k".into(),
            credits: 0,
            admin: false,
            expires_at: None,
            account_id: None,
        })
        .expect("key")
        .record
        .id;
    let d = SavedDecision {
        request_id: "r".into(),
        ..crate::test_backends::decision(&key, status, t0())
    };
    store.save_decision(&d).expect("save");
    key
}

fn rows(store: &Store) -> usize {
    store.run(|c| history_len(c, "r")).expect("count")
}

fn flip(i: usize) -> ReviewStatus {
    if i.is_multiple_of(2) {
        ReviewStatus::Approved
    } else {
        ReviewStatus::Declined
    }
}

each_backend! {
    fn the_history_stops_at_the_cap_and_a_refused_update_writes_nothing(store) {
        let key = key_with(&store, Status::InReview);
        let comment = "x".repeat(1_000);
        for i in 0..MAX_HISTORY {
            let at = t0() + Duration::seconds(i as i64 + 1);
            let d = store
                .update_status("r", &key, flip(i), Some(&comment), at)
                .expect("allowed")
                .expect("found");
            let StatusUpdate::Changed(d) = d else {
                panic!("a change: {d:?}")
            };
            assert_eq!(d.history.len(), i + 1);
        }
        let before = store
            .decision_view("r", &key)
            .expect("read")
            .expect("found");
        assert_eq!(before.decision.history.len(), MAX_HISTORY);
        assert!(!before.history_truncated);

        let refused = store.update_status(
            "r",
            &key,
            flip(MAX_HISTORY),
            None,
            t0() + Duration::hours(1),
        );
        assert!(
            matches!(
                refused,
                Err(ReviewError::HistoryFull { limit: MAX_HISTORY })
            ),
            "{refused:?}"
        );
        assert_eq!(rows(&store), MAX_HISTORY);
        assert_eq!(store.decision_view("r", &key).expect("read"), Some(before));
    }

    fn the_same_status_again_is_accepted_and_writes_nothing(store) {
        for status in [Status::Approved, Status::Declined] {
            store.run(|c| c.execute("DELETE FROM decisions", crate::sql::args![])).expect("clear");
            let key = key_with(&store, status);
            let before = store.decision_view("r", &key).expect("read");
            let same = ReviewStatus::try_from(status).expect("a verdict");
            let later = t0() + Duration::minutes(5);
            let unchanged = store
                .update_status("r", &key, same, Some("again"), later)
                .expect("accepted")
                .expect("found");
            let StatusUpdate::Unchanged(d) = unchanged else {
                panic!("expected Unchanged, got {unchanged:?}")
            };
            assert_eq!(d.status(), status);
            assert!(d.history.is_empty());
            assert_eq!(rows(&store), 0);
            // Nothing at all was written: not even `updated_at`.
            assert_eq!(store.decision_view("r", &key).expect("read"), before);
            // The other verdict is a correction, a change.
            let other = if same == ReviewStatus::Approved {
                ReviewStatus::Declined
            } else {
                ReviewStatus::Approved
            };
            let changed = store
                .update_status("r", &key, other, None, later)
                .expect("allowed")
                .expect("found");
            assert!(matches!(changed, StatusUpdate::Changed(_)), "{changed:?}");
            assert_eq!(changed.decision().status(), Status::from(other));
            assert_eq!(rows(&store), 1);
        }
    }

    fn a_longer_history_from_before_the_cap_is_read_bounded_and_takes_no_more(store) {
        let key = key_with(&store, Status::Approved);
        let extra = MAX_HISTORY + 7;
        for i in 0..extra {
            let change = StatusChange {
                from: Status::Approved,
                to: Status::Declined,
                comment: Some(format!("#{i}")),
                at: t0() + Duration::seconds(i as i64),
                reviewer: None,
            };
            store
                .run(|c| insert_history(c, "r", &change))
                .expect("raw insert");
        }
        let view = store
            .decision_view("r", &key)
            .expect("read")
            .expect("found");
        assert!(view.history_truncated);
        let comments: Vec<_> = view
            .decision
            .history
            .iter()
            .map(|c| c.comment.clone().unwrap_or_default())
            .collect();
        let newest: Vec<_> = (extra - MAX_HISTORY..extra)
            .map(|i| format!("#{i}"))
            .collect();
        assert_eq!(comments, newest, "the newest, oldest first");
        assert!(matches!(
            store.update_status("r", &key, ReviewStatus::Declined, None, t0()),
            Err(ReviewError::HistoryFull { .. })
        ));
        assert_eq!(rows(&store), extra);
    }

    fn a_decision_cannot_be_saved_with_more_than_the_cap(store) {
        let key = key_with(&store, Status::InReview);
        let mut d = store.get_decision("r", &key).expect("read").expect("found");
        d.request_id = "r2".into();
        d.history = vec![
            StatusChange {
                from: Status::InReview,
                to: Status::Approved,
                comment: None,
                at: t0(),
                reviewer: None,
            };
            MAX_HISTORY + 1
        ];
        assert!(matches!(
            store.save_decision(&d),
            Err(StoreError::Invalid(_))
        ));
        d.history.truncate(MAX_HISTORY);
        store.save_decision(&d).expect("at the cap is fine");
    }
}
