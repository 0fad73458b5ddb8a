//! Deletion by owner and by age: what goes, what stays, and how much one call may take.
#![allow(clippy::unwrap_used)]

use facematch_core::{FaceMatch, ImageFaces, Status};
use time::{Duration, OffsetDateTime};

use crate::{NewKey, ReviewStatus, SavedDecision, Store, StoreError};

fn key(store: &Store) -> String {
    store
        .create_key(NewKey {
            name: "t".into(),
            credits: 0,
            admin: false,
            expires_at: None,
            account_id: None,
        })
        .unwrap()
        .record
        .id
}

/// Saves an `In Review` decision of `key_id` made at `at`, with one review (so it has
/// history); returns its id.
fn saved(store: &Store, key_id: &str, at: OffsetDateTime) -> String {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    store
        .save_decision(&SavedDecision {
            request_id: id.clone(),
            key_id: key_id.to_owned(),
            face_match: FaceMatch {
                status: Status::InReview,
                score: Some(60),
                user_image: ImageFaces::default(),
                ref_image: ImageFaces::default(),
                warnings: vec![],
            },
            decline_threshold: 30.0,
            review_threshold: Some(70.0),
            vendor_data: None,
            metadata: None,
            session_number: 0,
            created_at: at,
            updated_at: at,
            history: vec![],
        })
        .unwrap();
    store
        .update_status(&id, key_id, ReviewStatus::Approved, Some("ok"), at)
        .unwrap()
        .unwrap();
    id
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .conn()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_purge_takes_the_older_decisions_with_their_history_and_leaves_the_younger() {
    let store = Store::open_in_memory().unwrap();
    let (a, b) = (key(&store), key(&store));
    let now = OffsetDateTime::now_utc();
    let cutoff = now - Duration::days(90);
    let old_a = saved(&store, &a, cutoff - Duration::seconds(1));
    let old_b = saved(&store, &b, now - Duration::days(400));
    let young = saved(&store, &a, cutoff + Duration::seconds(1));
    assert_eq!(count(&store, "decision_history"), 3);

    assert_eq!(store.purge_decisions_older_than(cutoff, 500).unwrap(), 2);
    assert_eq!(store.get_decision(&old_a, &a).unwrap(), None);
    assert_eq!(store.get_decision(&old_b, &b).unwrap(), None);
    let kept = store.get_decision(&young, &a).unwrap().unwrap();
    assert_eq!(kept.history.len(), 1);
    // The history of the purged decisions is gone too, not only hidden.
    assert_eq!(count(&store, "decision_history"), 1);
    assert_eq!(count(&store, "decisions"), 1);
    // Nothing older is left: the next sweep removes nothing.
    assert_eq!(store.purge_decisions_older_than(cutoff, 500).unwrap(), 0);
}

/// One call removes at most `batch` decisions, oldest first; repeated calls finish the job.
#[test]
fn a_purge_is_bounded_by_its_batch() {
    let store = Store::open_in_memory().unwrap();
    let a = key(&store);
    let now = OffsetDateTime::now_utc();
    let ids: Vec<String> = (1..=5)
        .map(|d| saved(&store, &a, now - Duration::days(100 + d)))
        .collect();
    let young = saved(&store, &a, now);
    let cutoff = now - Duration::days(90);

    assert_eq!(store.purge_decisions_older_than(cutoff, 2).unwrap(), 2);
    // The two oldest went first (ids[4] is 105 days old, ids[3] 104).
    assert_eq!(store.get_decision(&ids[4], &a).unwrap(), None);
    assert_eq!(store.get_decision(&ids[3], &a).unwrap(), None);
    assert!(store.get_decision(&ids[2], &a).unwrap().is_some());
    assert_eq!(store.purge_decisions_older_than(cutoff, 2).unwrap(), 2);
    assert_eq!(store.purge_decisions_older_than(cutoff, 2).unwrap(), 1);
    assert_eq!(store.purge_decisions_older_than(cutoff, 2).unwrap(), 0);
    assert_eq!(count(&store, "decisions"), 1);
    assert!(store.get_decision(&young, &a).unwrap().is_some());

    for bad in [0, crate::MAX_PURGE_BATCH + 1] {
        assert!(matches!(
            store.purge_decisions_older_than(cutoff, bad),
            Err(StoreError::Invalid(_))
        ));
    }
}

/// The owner's delete removes the decision and its history; another key's delete of the
/// same id removes nothing; a second delete finds nothing.
#[test]
fn only_the_owner_deletes_a_decision_and_its_history() {
    let store = Store::open_in_memory().unwrap();
    let (a, b) = (key(&store), key(&store));
    let now = OffsetDateTime::now_utc();
    let mine = saved(&store, &a, now);
    let theirs = saved(&store, &b, now);

    assert!(!store.delete_decision(&theirs, &a).unwrap());
    assert!(store.get_decision(&theirs, &b).unwrap().is_some());
    assert_eq!(count(&store, "decision_history"), 2);

    assert!(store.delete_decision(&mine, &a).unwrap());
    assert_eq!(store.get_decision(&mine, &a).unwrap(), None);
    assert_eq!(count(&store, "decision_history"), 1);
    assert!(!store.delete_decision(&mine, &a).unwrap());

    let answers = store
        .delete_decisions(&[theirs.clone(), "nope".into()], &a)
        .unwrap();
    assert_eq!(answers, vec![false, false]);
    assert_eq!(answers.len(), 2);
    assert!(store.get_decision(&theirs, &b).unwrap().is_some());
    assert_eq!(
        store
            .delete_decisions(std::slice::from_ref(&theirs), &b)
            .unwrap(),
        vec![true]
    );
    assert_eq!(count(&store, "decision_history"), 0);
}

#[test]
fn a_batch_delete_is_bounded_and_refused_whole_beyond() {
    let store = Store::open_in_memory().unwrap();
    let a = key(&store);
    let id = saved(&store, &a, OffsetDateTime::now_utc());
    let mut ids = vec![id.clone(); crate::MAX_DELETE_IDS];
    ids.push(id.clone());
    assert!(matches!(
        store.delete_decisions(&ids, &a),
        Err(StoreError::Invalid(_))
    ));
    assert!(store.get_decision(&id, &a).unwrap().is_some());
    ids.pop();
    let answers = store.delete_decisions(&ids, &a).unwrap();
    assert_eq!(answers.iter().filter(|d| **d).count(), 1);
}

/// A destination of `key_id` subscribed to `status.updated`.
fn webhook_destination(store: &Store, key_id: &str) {
    store
        .create_destination(
            crate::NewDestination {
                key_id: key_id.to_owned(),
                label: "hook".into(),
                url: "https://example.com/hook".into(),
                subscribed_events: vec!["status.updated".into()],
                enabled: true,
            },
            OffsetDateTime::now_utc(),
        )
        .unwrap();
}

/// Logs one failed try of every due delivery, so each event has a delivery and an attempt.
fn try_all_once(store: &Store, now: OffsetDateTime) {
    for due in store
        .claim_due_deliveries(now, Duration::seconds(30), 100)
        .unwrap()
    {
        let attempt = crate::AttemptRecord {
            request_url: due.url.clone(),
            request_headers: "{}".into(),
            request_body: "{}".into(),
            response_status: Some(500),
            ..crate::AttemptRecord::default()
        };
        store
            .record_attempt(
                &due.delivery_id,
                &attempt,
                crate::AttemptOutcome::RetryAt(now + Duration::minutes(1)),
                false,
                now,
            )
            .unwrap();
    }
}

/// Rows of a webhook table that belong to `request_id`'s events.
fn webhook_rows(store: &Store, table: &str, request_id: &str) -> i64 {
    let column = if table == "webhook_events" {
        "id"
    } else {
        "event_id"
    };
    store
        .conn()
        .query_row(
            &format!(
                "SELECT count(*) FROM {table} WHERE {column} IN \
                 (SELECT id FROM webhook_events WHERE request_id = ?1)"
            ),
            [request_id],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn deleting_a_decision_drops_its_webhook_events_queued_deliveries_and_log() {
    let store = Store::open_in_memory().unwrap();
    // Deleted explicitly, whatever the connection's foreign_keys setting.
    store
        .conn()
        .pragma_update(None, "foreign_keys", "OFF")
        .unwrap();
    let (a, b) = (key(&store), key(&store));
    webhook_destination(&store, &a);
    webhook_destination(&store, &b);
    let now = OffsetDateTime::now_utc();
    // Each has two events (saved, reviewed), each tried once and still pending.
    let gone = saved(&store, &a, now);
    let kept = saved(&store, &a, now);
    let theirs = saved(&store, &b, now);
    try_all_once(&store, now + Duration::hours(1));
    for id in [&gone, &kept, &theirs] {
        assert_eq!(webhook_rows(&store, "webhook_events", id), 2);
        assert_eq!(webhook_rows(&store, "webhook_deliveries", id), 2);
        assert_eq!(webhook_rows(&store, "webhook_attempts", id), 2);
    }
    // Another key's delete takes nothing of it.
    assert!(!store.delete_decision(&gone, &b).unwrap());
    assert_eq!(webhook_rows(&store, "webhook_attempts", &gone), 2);

    assert!(store.delete_decision(&gone, &a).unwrap());
    for table in ["webhook_events", "webhook_deliveries", "webhook_attempts"] {
        assert_eq!(webhook_rows(&store, table, &gone), 0, "{table}");
        assert_eq!(webhook_rows(&store, table, &kept), 2, "{table}");
    }
    assert_eq!(count(&store, "webhook_events"), 4);
    assert_eq!(count(&store, "webhook_deliveries"), 4);
    assert_eq!(count(&store, "webhook_attempts"), 4);
    assert_eq!(store.pending_deliveries().unwrap(), 4);
}

#[test]
fn the_retention_purge_drops_the_webhook_events_of_the_decisions_it_removes() {
    let store = Store::open_in_memory().unwrap();
    store
        .conn()
        .pragma_update(None, "foreign_keys", "OFF")
        .unwrap();
    let a = key(&store);
    webhook_destination(&store, &a);
    let now = OffsetDateTime::now_utc();
    let cutoff = now - Duration::days(90);
    let old = saved(&store, &a, cutoff - Duration::seconds(1));
    let young = saved(&store, &a, cutoff + Duration::seconds(1));
    try_all_once(&store, now);
    assert_eq!(store.purge_decisions_older_than(cutoff, 500).unwrap(), 1);
    for table in ["webhook_events", "webhook_deliveries", "webhook_attempts"] {
        assert_eq!(webhook_rows(&store, table, &old), 0, "{table}");
        assert_eq!(webhook_rows(&store, table, &young), 2, "{table}");
    }
    assert_eq!(count(&store, "webhook_events"), 2);
    assert_eq!(count(&store, "webhook_attempts"), 2);
}
