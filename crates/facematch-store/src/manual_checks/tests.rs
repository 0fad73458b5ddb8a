//! Manual Checks listings and console reviews on both databases.

use facematch_core::Status;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::test_backends::{decision, each_backend};
use crate::{NewKey, Role, SavedDecision, UserAccount};

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("valid time")
}

/// An account with one key; returns (account id, key id).
fn account(store: &Store, email: &str) -> (String, String) {
    let user = store
        .create_console_user(email, "password123", Role::Admin, UserAccount::New, t0())
        .expect("user");
    let key = store
        .create_key(NewKey {
            name: format!("key of {email}"),
            credits: 0,
            admin: false,
            expires_at: None,
            account_id: Some(user.account_id.clone()),
        })
        .expect("key")
        .record
        .id;
    (user.account_id, key)
}

/// Saves decision `i` of `key`: id `d{i:03}`, made `i` minutes after t0, score `i % 101`,
/// every third one In Review, vendor_data `v{i % 5}`.
fn save(store: &Store, key: &str, i: i64, prefix: &str) -> String {
    let status = match i % 3 {
        0 => Status::InReview,
        1 => Status::Approved,
        _ => Status::Declined,
    };
    let mut d: SavedDecision = decision(key, status, t0() + Duration::minutes(i));
    d.request_id = format!("{prefix}{i:03}");
    d.face_match.score = Some(u8::try_from(i % 101).expect("score"));
    d.vendor_data = Some(format!("v{}", i % 5));
    store.save_decision(&d).expect("save");
    d.request_id
}

fn walk(store: &Store, account: &str, filter: &CheckFilter, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .manual_checks(account, filter, cursor.as_ref(), limit)
            .expect("page");
        assert!(page.rows.len() <= limit);
        seen.extend(page.rows.iter().map(|r| r.request_id.clone()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return seen,
        }
    }
}

each_backend! {
    fn pages_walk_every_decision_once_newest_first(store) {
        let (acct, key) = account(&store, "a@example.com");
        let (_, other_key) = account(&store, "b@example.com");
        for i in 0..23 {
            save(&store, &key, i, "d");
        }
        save(&store, &other_key, 99, "other");
        let all = walk(&store, &acct, &CheckFilter::default(), 5);
        let expected: Vec<String> = (0..23).rev().map(|i| format!("d{i:03}")).collect();
        assert_eq!(all, expected);
    }

    fn equal_times_are_ordered_by_id_and_never_skipped(store) {
        let (acct, key) = account(&store, "a@example.com");
        for id in ["c", "a", "b", "e", "d"] {
            let mut d = decision(&key, Status::Approved, t0());
            d.request_id = id.into();
            store.save_decision(&d).expect("save");
        }
        assert_eq!(walk(&store, &acct, &CheckFilter::default(), 2), ["e", "d", "c", "b", "a"]);
    }

    fn filters_combine(store) {
        let (acct, key) = account(&store, "a@example.com");
        for i in 0..30 {
            save(&store, &key, i, "d");
        }
        let f = CheckFilter {
            status: Some(Status::InReview),
            score_min: Some(6),
            score_max: Some(21),
            ..CheckFilter::default()
        };
        assert_eq!(walk(&store, &acct, &f, 100), ["d021", "d018", "d015", "d012", "d009", "d006"]);
        let f = CheckFilter {
            vendor_data: Some("v2".into()),
            from: Some(t0() + Duration::minutes(7)),
            to: Some(t0() + Duration::minutes(22)),
            ..CheckFilter::default()
        };
        assert_eq!(walk(&store, &acct, &f, 100), ["d017", "d012", "d007"]);
    }

    fn the_queue_is_in_review_only_oldest_first(store) {
        let (acct, key) = account(&store, "a@example.com");
        let (other_acct, other_key) = account(&store, "b@example.com");
        for i in 0..13 {
            save(&store, &key, i, "d");
        }
        save(&store, &other_key, 0, "x");
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.review_queue_page(&acct, cursor.as_ref(), 2).expect("page");
            seen.extend(page.rows.iter().map(|r| {
                assert_eq!(r.status, Status::InReview);
                r.request_id.clone()
            }));
            match page.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, ["d000", "d003", "d006", "d009", "d012"]);
        assert_eq!(store.review_queue_len(&acct, 100).expect("len"), 5);
        assert_eq!(store.review_queue_len(&other_acct, 100).expect("len"), 1);
        // Beyond the cap the count stops at cap + 1 ("more than cap").
        assert_eq!(store.review_queue_len(&acct, 3).expect("len"), 4);
    }

    fn another_accounts_decision_is_not_found_nor_reviewable(store) {
        let (acct, key) = account(&store, "a@example.com");
        let (other, _) = account(&store, "b@example.com");
        let id = save(&store, &key, 0, "d");
        assert!(store.account_decision(&acct, &id).expect("read").is_some());
        assert!(store.account_decision(&other, &id).expect("read").is_none());
        let r = store
            .console_review(&other, &id, ReviewStatus::Approved, None, "b@example.com", t0(), t0())
            .expect("try");
        assert!(r.is_none());
        assert_eq!(store.account_decision(&acct, &id).expect("read").expect("there").decision.status(), Status::InReview);
    }

    fn a_second_review_of_the_same_version_writes_nothing_and_names_the_first(store) {
        let (acct, key) = account(&store, "a@example.com");
        store
            .create_destination(
                crate::NewDestination {
                    key_id: key.clone(),
                    label: "hook".into(),
                    url: "https://hooks.example.com/in".into(),
                    subscribed_events: vec![crate::STATUS_UPDATED.into()],
                    enabled: true,
                },
                t0(),
            )
            .expect("destination");
        let id = save(&store, &key, 0, "d");
        let seen = store.account_decision(&acct, &id).expect("read").expect("there").decision.updated_at;
        let later = t0() + Duration::hours(1);
        let first = store
            .console_review(&acct, &id, ReviewStatus::Approved, Some("same person"), "ann@example.com", seen, later)
            .expect("review")
            .expect("found");
        let ConsoleReview::Changed(view) = first else { panic!("changed: {first:?}") };
        let change = view.decision.history.last().expect("entry").clone();
        assert_eq!((change.reviewer.as_deref(), change.comment.as_deref()), (Some("ann@example.com"), Some("same person")));
        // Bob loaded the page before Ann decided: his Decline is refused and shows Ann's.
        let second = store
            .console_review(&acct, &id, ReviewStatus::Declined, None, "bob@example.com", seen, later + Duration::seconds(5))
            .expect("review")
            .expect("found");
        let ConsoleReview::Stale(now) = second else { panic!("stale: {second:?}") };
        assert_eq!(now.decision.status(), Status::Approved);
        assert_eq!(now.decision.history.len(), 1);
        assert_eq!(now.decision.history[0].reviewer.as_deref(), Some("ann@example.com"));
        // The same verdict again, on the current version: nothing written either.
        let again = store
            .console_review(&acct, &id, ReviewStatus::Approved, None, "ann@example.com", now.decision.updated_at, later + Duration::seconds(9))
            .expect("review")
            .expect("found");
        assert!(matches!(again, ConsoleReview::Unchanged(_)), "{again:?}");
        let events: i64 = store
            .run(|c| c.query_one("SELECT count(*) FROM webhook_events", crate::sql::args![], |r| r.get(0)))
            .expect("count");
        // One for the save, one for Ann's change.
        assert_eq!(events, 2);
    }

    fn cursors_round_trip_and_junk_is_refused(store) {
        let (acct, key) = account(&store, "a@example.com");
        for i in 0..3 {
            save(&store, &key, i, "d");
        }
        let page = store.manual_checks(&acct, &CheckFilter::default(), None, 1).expect("page");
        let next = page.next.expect("more");
        assert_eq!(CheckCursor::decode(&next.encode()), Some(next.clone()));
        for junk in ["", "x", "1.", ".a", "1.a'b", "abc.def", "1.a b"] {
            assert_eq!(CheckCursor::decode(junk), None, "{junk:?}");
        }
    }
}
