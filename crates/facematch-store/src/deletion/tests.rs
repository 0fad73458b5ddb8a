//! Deletion by owner and by age: what goes, what stays, and how much one call may take.
//!
//! The fixtures write decisions, their history and their webhook rows in SQL (as
//! `save_decision`, `update_status`, `create_destination` and `record_attempt` would), so
//! that these tests run on both databases with no other module.
#![allow(clippy::unwrap_used)]

use facematch_core::Status;
use time::{Duration, OffsetDateTime};

use crate::sql::{args, Dialect};
use crate::test_backends::{each_backend, postgres_url};
use crate::{
    db, Migrate, NewKey, PostgresOptions, ReviewStatus, Store, StoreError, STATUS_UPDATED,
};

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

/// Saves an `In Review` decision of `key_id` made at `at`, then approves it (so it has one
/// history row, and a `status.updated` event for each change goes to every destination
/// subscribed); returns its id.
fn saved(store: &Store, key_id: &str, at: OffsetDateTime) -> String {
    let d = crate::test_backends::decision(key_id, Status::InReview, at);
    let id = d.request_id.clone();
    store.save_decision(&d).unwrap();
    store
        .update_status(&id, key_id, ReviewStatus::Approved, Some("ok"), at)
        .unwrap()
        .unwrap();
    id
}

/// The count a `SELECT count(*) …` answers, with `id` bound to `?1` when given.
fn count_of(store: &Store, sql: &str, id: Option<&str>) -> i64 {
    let args = match id {
        Some(id) => args![id],
        None => args![],
    };
    store.run(|c| c.query_one(sql, args, |r| r.get(0))).unwrap()
}

/// Rows of `table` where `condition` holds (`?1`: `id`).
fn count_where(store: &Store, table: &str, condition: &str, id: Option<&str>) -> i64 {
    count_of(
        store,
        &format!("SELECT count(*) FROM {table} WHERE {condition}"),
        id,
    )
}

/// Rows of `table`.
fn count(store: &Store, table: &str) -> i64 {
    count_of(store, &format!("SELECT count(*) FROM {table}"), None)
}

/// Whether the decision `id` is stored.
fn stored(store: &Store, id: &str) -> bool {
    count_where(store, "decisions", "request_id = ?1", Some(id)) == 1
}

/// History rows of the decision `id`.
fn history(store: &Store, id: &str) -> i64 {
    count_where(store, "decision_history", "request_id = ?1", Some(id))
}

/// A destination of `key_id` subscribed to `status.updated`.
fn webhook_destination(store: &Store, key_id: &str) {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let now = db::to_nanos(OffsetDateTime::now_utc()).unwrap();
    let events = serde_json::to_string(&[STATUS_UPDATED]).unwrap();
    store
        .run(|c| {
            c.execute(
                "INSERT INTO webhook_destinations (id, key_id, label, url, subscribed_events, \
                 enabled, secret_sealed, created_at, updated_at) \
                 VALUES (?1, ?2, 'hook', 'https://example.com/hook', ?3, 1, ?4, ?5, ?5)",
                args![&id, key_id, &events, &[0u8; 16], now],
            )
        })
        .unwrap();
}

/// Logs one failed try of every pending delivery, so each event has a delivery and an
/// attempt.
fn try_all_once(store: &Store, now: OffsetDateTime) {
    let now = db::to_nanos(now).unwrap();
    store
        .write(|c| {
            c.execute(
                "INSERT INTO webhook_attempts (id, delivery_id, event_id, request_url, \
                 request_headers, request_body, response_status, next_try_at, created_at) \
                 SELECT 'attempt-' || d.id, d.id, d.event_id, 'https://example.com/hook', \
                 '{}', '{}', 500, ?1, ?1 FROM webhook_deliveries d WHERE d.state = 'pending'",
                args![now],
            )?;
            c.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?1, \
                 updated_at = ?1 WHERE state = 'pending'",
                args![now],
            )
        })
        .unwrap();
}

/// Rows of a webhook table that belong to `request_id`'s events.
fn webhook_rows(store: &Store, table: &str, request_id: &str) -> i64 {
    let column = if table == "webhook_events" {
        "id"
    } else {
        "event_id"
    };
    count_where(
        store,
        table,
        &format!("{column} IN (SELECT id FROM webhook_events WHERE request_id = ?1)"),
        Some(request_id),
    )
}

/// On SQLite, turns the connection's foreign keys off: the deletions must not depend on
/// `ON DELETE CASCADE` (PostgreSQL always enforces them).
fn without_foreign_keys(store: &Store) {
    if store.dialect() == Dialect::Sqlite {
        store
            .run(|c| c.execute("PRAGMA foreign_keys = OFF", &[]))
            .unwrap();
    }
}

each_backend! {
    /// A purge takes the older decisions with their history and leaves the younger.
    fn a_purge_takes_the_older_decisions_with_their_history_and_leaves_the_younger(store) {
        let (a, b) = (key(&store), key(&store));
        let now = OffsetDateTime::now_utc();
        let cutoff = now - Duration::days(90);
        let old_a = saved(&store, &a, cutoff - Duration::seconds(1));
        let old_b = saved(&store, &b, now - Duration::days(400));
        let young = saved(&store, &a, cutoff + Duration::seconds(1));
        assert_eq!(count(&store, "decision_history"), 3);

        assert_eq!(store.purge_decisions_older_than(cutoff, 500).unwrap(), 2);
        assert!(!stored(&store, &old_a));
        assert!(!stored(&store, &old_b));
        assert!(stored(&store, &young));
        assert_eq!(history(&store, &young), 1);
        // The history of the purged decisions is gone too, not only hidden.
        assert_eq!(count(&store, "decision_history"), 1);
        assert_eq!(count(&store, "decisions"), 1);
        // Nothing older is left: the next sweep removes nothing.
        assert_eq!(store.purge_decisions_older_than(cutoff, 500).unwrap(), 0);
    }

    /// One call removes at most `batch` decisions, oldest first; repeated calls finish the job.
    fn a_purge_is_bounded_by_its_batch(store) {
        let a = key(&store);
        let now = OffsetDateTime::now_utc();
        let ids: Vec<String> = (1..=5)
            .map(|d| saved(&store, &a, now - Duration::days(100 + d)))
            .collect();
        let young = saved(&store, &a, now);
        let cutoff = now - Duration::days(90);

        assert_eq!(store.purge_decisions_older_than(cutoff, 2).unwrap(), 2);
        // The two oldest went first (ids[4] is 105 days old, ids[3] 104).
        assert!(!stored(&store, &ids[4]));
        assert!(!stored(&store, &ids[3]));
        assert!(stored(&store, &ids[2]));
        assert_eq!(store.purge_decisions_older_than(cutoff, 2).unwrap(), 2);
        assert_eq!(store.purge_decisions_older_than(cutoff, 2).unwrap(), 1);
        assert_eq!(store.purge_decisions_older_than(cutoff, 2).unwrap(), 0);
        assert_eq!(count(&store, "decisions"), 1);
        assert!(stored(&store, &young));

        for bad in [0, crate::MAX_PURGE_BATCH + 1] {
            assert!(matches!(
                store.purge_decisions_older_than(cutoff, bad),
                Err(StoreError::Invalid(_))
            ));
        }
    }

    /// The owner's delete removes the decision and its history; another key's delete of the
    /// same id removes nothing; a second delete finds nothing.
    fn only_the_owner_deletes_a_decision_and_its_history(store) {
        let (a, b) = (key(&store), key(&store));
        let now = OffsetDateTime::now_utc();
        let mine = saved(&store, &a, now);
        let theirs = saved(&store, &b, now);

        assert!(!store.delete_decision(&theirs, &a).unwrap());
        assert!(stored(&store, &theirs));
        assert_eq!(count(&store, "decision_history"), 2);

        assert!(store.delete_decision(&mine, &a).unwrap());
        assert!(!stored(&store, &mine));
        assert_eq!(count(&store, "decision_history"), 1);
        assert!(!store.delete_decision(&mine, &a).unwrap());

        let answers = store
            .delete_decisions(&[theirs.clone(), "nope".into()], &a)
            .unwrap();
        assert_eq!(answers, vec![false, false]);
        assert!(stored(&store, &theirs));
        assert_eq!(
            store
                .delete_decisions(std::slice::from_ref(&theirs), &b)
                .unwrap(),
            vec![true]
        );
        assert_eq!(count(&store, "decision_history"), 0);
    }

    /// More than [`MAX_DELETE_IDS`](crate::MAX_DELETE_IDS) ids are refused whole; a full
    /// batch naming one decision many times deletes it once.
    fn a_batch_delete_is_bounded_and_refused_whole_beyond(store) {
        let a = key(&store);
        let id = saved(&store, &a, OffsetDateTime::now_utc());
        let mut ids = vec![id.clone(); crate::MAX_DELETE_IDS];
        ids.push(id.clone());
        assert!(matches!(
            store.delete_decisions(&ids, &a),
            Err(StoreError::Invalid(_))
        ));
        assert!(stored(&store, &id));
        ids.pop();
        let answers = store.delete_decisions(&ids, &a).unwrap();
        assert_eq!(answers.iter().filter(|d| **d).count(), 1);
        assert!(!stored(&store, &id));
    }

    /// A deleted decision's webhook events go with it, with their deliveries (queued ones
    /// too) and their log; other decisions' stay.
    fn deleting_a_decision_drops_its_webhook_events_queued_deliveries_and_log(store) {
        // Deleted explicitly, whatever the connection's foreign_keys setting.
        without_foreign_keys(&store);
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
        assert_eq!(
            count_where(&store, "webhook_deliveries", "state = 'pending'", None),
            4
        );
    }

    /// The retention purge drops the webhook events of the decisions it removes.
    fn the_retention_purge_drops_the_webhook_events_of_the_decisions_it_removes(store) {
        without_foreign_keys(&store);
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
}

/// Two replicas (two stores on one PostgreSQL database) purging the same old decisions at
/// once: each decision is deleted by one of them, the counts they answer add up to the
/// decisions removed, and neither fails.
#[test]
fn replicas_purging_at_once_delete_each_decision_once() {
    const OLD: usize = 60;
    const BATCH: usize = 7;
    let url = postgres_url();
    let open = || Store::connect_postgres(&url, &PostgresOptions::default(), Migrate::Apply);
    let (one, two) = (open().unwrap(), open().unwrap());
    let a = key(&one);
    webhook_destination(&one, &a);
    let now = OffsetDateTime::now_utc();
    let cutoff = now - Duration::days(90);
    for i in 0..OLD {
        let age = Duration::days(91) + Duration::minutes(i64::try_from(i).unwrap());
        saved(&one, &a, now - age);
    }
    let young: Vec<String> = (0..3).map(|_| saved(&one, &a, now)).collect();
    try_all_once(&one, now);

    let barrier = std::sync::Barrier::new(2);
    let purge = |store: &Store| -> (usize, usize) {
        barrier.wait();
        let (mut total, mut calls) = (0, 0);
        loop {
            let n = store.purge_decisions_older_than(cutoff, BATCH).unwrap();
            assert!(n <= BATCH, "a purge took {n} > {BATCH}");
            total += n;
            calls += 1;
            if n == 0 {
                return (total, calls);
            }
        }
    };
    let ((first, _), (second, _)) = std::thread::scope(|s| {
        let h1 = s.spawn(|| purge(&one));
        let h2 = s.spawn(|| purge(&two));
        (h1.join().unwrap(), h2.join().unwrap())
    });
    assert_eq!(
        first + second,
        OLD,
        "one purged {first}, the other {second}"
    );
    assert_eq!(count(&one, "decisions"), 3);
    assert_eq!(count(&one, "decision_history"), 3);
    assert_eq!(count(&one, "webhook_events"), 6);
    assert_eq!(count(&one, "webhook_deliveries"), 6);
    assert_eq!(count(&one, "webhook_attempts"), 6);
    for id in &young {
        assert!(stored(&two, id));
    }
    // Nothing left for either.
    assert_eq!(one.purge_decisions_older_than(cutoff, BATCH).unwrap(), 0);
    assert_eq!(two.purge_decisions_older_than(cutoff, BATCH).unwrap(), 0);
}
