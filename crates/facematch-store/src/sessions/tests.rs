//! The session list (filters, order, count, paging, its query plan) and the batch
//! delete by session number.
#![allow(clippy::unwrap_used)]

use facematch_core::Status;
use time::{Duration, OffsetDateTime};

use super::{as_args, page_query, SessionFilter};
use crate::sql::{args, Dialect};
use crate::test_backends::each_backend;
use crate::{NewKey, SavedDecision, SessionRef, Store, StoreError};

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

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap()
}

/// Saves a decision of `key_id`; returns its id.
fn save(
    store: &Store,
    key_id: &str,
    status: Status,
    vendor_data: Option<&str>,
    at: OffsetDateTime,
) -> String {
    save_with(store, key_id, status, vendor_data, None, at)
}

/// [`save`] with a `metadata` JSON object.
fn save_with(
    store: &Store,
    key_id: &str,
    status: Status,
    vendor_data: Option<&str>,
    metadata: Option<&str>,
    at: OffsetDateTime,
) -> String {
    let d = SavedDecision {
        review_threshold: None,
        vendor_data: vendor_data.map(str::to_owned),
        metadata: metadata.map(|m| serde_json::from_str(m).unwrap()),
        ..crate::test_backends::decision(key_id, status, at)
    };
    let id = d.request_id.clone();
    store.save_decision(&d).unwrap();
    id
}

/// Whether the decision `id` is stored.
fn stored(store: &Store, id: &str) -> bool {
    store
        .run(|c| {
            c.query_one(
                "SELECT count(*) FROM decisions WHERE request_id = ?1",
                args![id],
                |r| r.get::<i64>(0),
            )
        })
        .unwrap()
        == 1
}

/// The session numbers a filter lists (one page of 100).
fn numbers(store: &Store, key_id: &str, filter: &SessionFilter) -> (u64, Vec<i64>) {
    let page = store.list_sessions(key_id, filter, 100, 0).unwrap();
    (
        page.count,
        page.sessions.iter().map(|s| s.session_number).collect(),
    )
}

/// Six decisions of one key (numbers 1–6, an hour apart; the first with metadata) and one
/// of another key.
fn fixture(store: &Store) -> (String, String) {
    let (mine, theirs) = (key(store), key(store));
    let h = Duration::hours(1);
    save_with(
        store,
        &mine,
        Status::Approved,
        Some("user-1"),
        Some(r#"{"k":"v"}"#),
        t0(),
    );
    save(store, &mine, Status::Declined, Some("user-2"), t0() + h);
    save(
        store,
        &mine,
        Status::InReview,
        Some("USER-1x"),
        t0() + h * 2,
    );
    save(store, &mine, Status::Approved, None, t0() + h * 3);
    save(
        store,
        &mine,
        Status::Approved,
        Some("50%_off\\"),
        t0() + h * 4,
    );
    save(store, &mine, Status::Declined, Some("user-1"), t0() + h * 5);
    save(store, &theirs, Status::Approved, Some("user-1"), t0());
    (mine, theirs)
}

/// The plan SQLite picks for a listing, one line per step.
fn plan(store: &Store, filter: &SessionFilter) -> String {
    let (sql, params) = page_query(Dialect::Sqlite, "k", filter, 50, 0).unwrap();
    store
        .run(|c| {
            c.query_map(
                &format!("EXPLAIN QUERY PLAN {sql}"),
                &as_args(&params),
                |r| r.get::<String>(3),
            )
        })
        .unwrap()
        .join("\n")
}

/// The default listing (and the vendor_data one) walks the key's session-number index:
/// no scan of the table and no sort, however many decisions the key has. Negative
/// control: the same query against a copy without that index scans and sorts. SQLite
/// only: `EXPLAIN QUERY PLAN` and its wording are SQLite's.
#[test]
fn the_default_listing_uses_the_session_number_index_without_a_sort() {
    let store = Store::open_in_memory().unwrap();
    for filter in [
        SessionFilter::default(),
        SessionFilter {
            vendor_data: Some("u".into()),
            ..Default::default()
        },
    ] {
        let plan = plan(&store, &filter);
        assert!(
            plan.contains("USING INDEX decisions_key_session_number"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    store
        .run(|c| c.execute("DROP INDEX decisions_key_session_number", &[]))
        .unwrap();
    let plan = plan(&store, &SessionFilter::default());
    assert!(plan.contains("TEMP B-TREE"), "{plan}");
}

each_backend! {
    /// Only the key's own, newest first, each field read back.
    fn lists_only_the_keys_decisions_newest_first_with_their_fields(store) {
        let (mine, theirs) = fixture(&store);
        assert_eq!(
            numbers(&store, &mine, &SessionFilter::default()),
            (6, vec![6, 5, 4, 3, 2, 1])
        );
        assert_eq!(
            numbers(&store, &theirs, &SessionFilter::default()),
            (1, vec![1])
        );
        let page = store
            .list_sessions(&mine, &SessionFilter::default(), 1, 5)
            .unwrap();
        let first = &page.sessions[0];
        assert_eq!(first.session_number, 1);
        assert_eq!(first.status, Status::Approved);
        assert_eq!(first.score, Some(60));
        assert_eq!(first.vendor_data.as_deref(), Some("user-1"));
        assert_eq!(first.created_at, t0());
        assert_eq!(
            first.metadata.as_ref().and_then(|m| m.get("k")),
            Some(&serde_json::json!("v"))
        );
    }

    /// Every filter, alone and combined, the same on both databases (the search ignores
    /// ASCII case on both: `ILIKE` on PostgreSQL).
    fn each_filter_narrows_and_they_combine(store) {
        let (mine, _) = fixture(&store);
        let h = Duration::hours(1);
        let by = |f: SessionFilter| numbers(&store, &mine, &f);
        assert_eq!(
            by(SessionFilter {
                statuses: Some(vec![Status::Approved]),
                ..Default::default()
            }),
            (3, vec![5, 4, 1])
        );
        assert_eq!(
            by(SessionFilter {
                statuses: Some(vec![Status::Declined, Status::InReview]),
                ..Default::default()
            }),
            (3, vec![6, 3, 2])
        );
        assert_eq!(
            by(SessionFilter {
                statuses: Some(vec![]),
                ..Default::default()
            }),
            (0, vec![])
        );
        assert_eq!(
            by(SessionFilter {
                vendor_data: Some("user-1".into()),
                ..Default::default()
            }),
            (2, vec![6, 1])
        );
        // Both bounds inclusive, to the nanosecond.
        assert_eq!(
            by(SessionFilter {
                created_from: Some(t0() + h),
                created_to: Some(t0() + h * 3),
                ..Default::default()
            }),
            (3, vec![4, 3, 2])
        );
        assert_eq!(
            by(SessionFilter {
                created_from: Some(t0() + h + Duration::nanoseconds(1)),
                created_to: Some(t0() + h * 3 - Duration::nanoseconds(1)),
                ..Default::default()
            }),
            (1, vec![3])
        );
        // Substring, ASCII case-insensitive.
        assert_eq!(
            by(SessionFilter {
                search: Some("user-1".into()),
                ..Default::default()
            }),
            (3, vec![6, 3, 1])
        );
        // LIKE's wildcards and the escape character match themselves only.
        for (text, want) in [
            ("%", vec![5]),
            ("_", vec![5]),
            ("\\", vec![5]),
            ("r_1", vec![]),
        ] {
            assert_eq!(
                by(SessionFilter {
                    search: Some(text.into()),
                    ..Default::default()
                })
                .1,
                want,
                "{text}"
            );
        }
        assert_eq!(
            by(SessionFilter {
                statuses: Some(vec![Status::Approved, Status::Declined]),
                search: Some("USER".into()),
                created_from: Some(t0() + h),
                ..Default::default()
            }),
            (2, vec![6, 2])
        );
    }

    /// Paging, and the bounds on limit, offset and search.
    fn pages_cover_every_row_once_and_bounds_are_checked(store) {
        let (mine, _) = fixture(&store);
        let mut seen = vec![];
        for offset in (0..6).step_by(4) {
            let page = store
                .list_sessions(&mine, &SessionFilter::default(), 4, offset)
                .unwrap();
            assert_eq!(page.count, 6);
            seen.extend(page.sessions.iter().map(|s| s.session_number));
        }
        assert_eq!(seen, vec![6, 5, 4, 3, 2, 1]);
        let page = store
            .list_sessions(&mine, &SessionFilter::default(), 4, 10_000)
            .unwrap();
        assert_eq!((page.count, page.sessions.len()), (6, 0));

        for (limit, offset) in [(0, 0), (101, 0), (1, 10_001)] {
            assert!(matches!(
                store.list_sessions(&mine, &SessionFilter::default(), limit, offset),
                Err(StoreError::Invalid(_))
            ));
        }
        let long = SessionFilter {
            search: Some("é".repeat(101)),
            ..Default::default()
        };
        assert!(matches!(
            store.list_sessions(&mine, &long, 1, 0),
            Err(StoreError::Invalid(_))
        ));
    }

    /// 100,000 decisions of one key: the first page and the exact count come back right.
    fn a_key_with_100_000_decisions_lists_its_newest_page(store) {
        let mine = key(&store);
        save(&store, &mine, Status::Approved, Some("seed"), t0());
        // The seed copied 99,999 times in one statement, numbers 2 to 100,000.
        store
            .run(|c| {
                c.execute(
                "INSERT INTO decisions (request_id, key_id, status, score, decline_threshold, \
                 warnings, face_match, vendor_data, created_at, updated_at, session_number) \
                 WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
                 SELECT d.request_id || '-' || n.i, d.key_id, d.status, d.score, \
                 d.decline_threshold, d.warnings, d.face_match, d.vendor_data, \
                 d.created_at + n.i, d.updated_at, n.i \
                 FROM n, decisions AS d WHERE d.key_id = ?1 AND d.session_number = 1",
                args![&mine],
            )
            })
            .unwrap();
        let started = std::time::Instant::now();
        let page = store
            .list_sessions(&mine, &SessionFilter::default(), 50, 0)
            .unwrap();
        eprintln!(
            "100,000 decisions: first page and count in {:?}",
            started.elapsed()
        );
        assert_eq!(page.count, 100_000);
        assert_eq!(page.sessions[0].session_number, 100_000);
        assert_eq!(page.sessions[49].session_number, 99_951);
    }

    /// The batch delete by number or request id takes only the key's own.
    fn batch_delete_by_number_takes_only_the_keys_own(store) {
        let (mine, theirs) = fixture(&store);
        let deleted = store
            .delete_sessions(
                &[
                    SessionRef::Number(2),
                    SessionRef::Number(99),
                    SessionRef::Number(2),
                ],
                &mine,
            )
            .unwrap();
        assert_eq!(deleted[0].as_ref().unwrap().session_number, 2);
        assert_eq!(deleted[1..], [None, None]);
        // Their number 1 is untouched by my number 1's deletion.
        let by_number = store.delete_decisions_by_number(&[1], &mine).unwrap();
        assert!(by_number[0].is_some());
        assert_eq!(numbers(&store, &theirs, &SessionFilter::default()).1, [1]);
        assert_eq!(
            numbers(&store, &mine, &SessionFilter::default()).1,
            [6, 5, 4, 3]
        );
        // By request id: its number comes back.
        let id = store
            .list_sessions(&mine, &SessionFilter::default(), 1, 0)
            .unwrap()
            .sessions[0]
            .request_id
            .clone();
        let deleted = store
            .delete_sessions(&[SessionRef::RequestId(id.clone())], &theirs)
            .unwrap();
        assert_eq!(deleted, [None]);
        let deleted = store
            .delete_sessions(&[SessionRef::RequestId(id.clone())], &mine)
            .unwrap();
        assert_eq!(deleted[0].as_ref().unwrap().session_number, 6);
        assert!(!stored(&store, &id));

        let many = vec![SessionRef::Number(3); 101];
        assert!(matches!(
            store.delete_sessions(&many, &mine),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(numbers(&store, &mine, &SessionFilter::default()).0, 3);
    }
}
