//! Usage counters and the Usage page's queries, on both databases.

use facematch_core::Status;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::accounts::test_account as account;
use crate::test_backends::{decision, each_backend};
use crate::NewKey;

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("valid time")
}

fn key(store: &Store, account_id: &str) -> String {
    store
        .create_key(NewKey {
            name: "k".into(),
            credits: 0,
            admin: false,
            expires_at: None,
            account_id: Some(account_id.to_owned()),
        })
        .expect("key")
        .record
        .id
}

#[test]
fn quantiles_land_in_the_right_bucket() {
    assert_eq!(latency_quantile_bucket(&[0; LATENCY_BUCKETS], 0.5), None);
    let lat = [10, 0, 0, 0, 0, 0, 0];
    assert_eq!(latency_quantile_bucket(&lat, 0.95), Some(0));
    // 90 fast, 10 slow: p50 fast, p95 slow.
    let lat = [90, 0, 0, 0, 0, 0, 10];
    assert_eq!(latency_quantile_bucket(&lat, 0.5), Some(0));
    assert_eq!(latency_quantile_bucket(&lat, 0.95), Some(6));
    assert_eq!(bucket_of(0), 0);
    assert_eq!(bucket_of(50), 0);
    assert_eq!(bucket_of(51), 1);
    assert_eq!(bucket_of(1600), 5);
    assert_eq!(bucket_of(1601), 6);
    assert_eq!(day_of(OffsetDateTime::UNIX_EPOCH + Duration::hours(25)), 1);
}

each_backend! {
    fn a_face_match_marks_its_key_last_used_to_the_minute(store) {
        let a = account(&store, "a@example.com");
        let k = key(&store, &a);
        let last = |store: &Store| store.get_key(&k).expect("read").expect("key").last_used_at;
        assert_eq!(last(&store), None);
        store.record_usage(&k, t0(), Status::Approved, 40).expect("record");
        assert_eq!(last(&store), Some(t0()));
        store.record_usage(&k, t0() + Duration::seconds(30), Status::Approved, 40).expect("record");
        assert_eq!(last(&store), Some(t0()), "not rewritten within the minute");
        store.record_usage(&k, t0() + Duration::seconds(90), Status::Approved, 40).expect("record");
        assert_eq!(last(&store), Some(t0() + Duration::seconds(90)));
    }

    fn usage_is_summed_per_day_over_the_accounts_keys_only(store) {
        let a = account(&store, "a@example.com");
        let b = account(&store, "b@example.com");
        let (k1, k2, other) = (key(&store, &a), key(&store, &a), key(&store, &b));
        let today = day_of(t0());
        store.record_usage(&k1, t0(), Status::Approved, 40).expect("record");
        store.record_usage(&k1, t0(), Status::Declined, 120).expect("record");
        store.record_usage(&k2, t0(), Status::InReview, 5000).expect("record");
        store.record_usage(&k1, t0() - Duration::days(1), Status::Approved, 60).expect("record");
        store.record_usage(&other, t0(), Status::Approved, 10).expect("record");
        let days = store.account_usage(&a, today - 30, today).expect("usage");
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].day, today - 1);
        assert_eq!((days[0].matches, days[0].approved), (1, 1));
        assert_eq!(days[0].latency, [0, 1, 0, 0, 0, 0, 0]);
        let d = &days[1];
        assert_eq!(d.day, today);
        assert_eq!((d.matches, d.approved, d.declined, d.in_review), (3, 1, 1, 1));
        assert_eq!(d.latency, [1, 0, 1, 0, 0, 0, 1]);
        // The window bounds hold.
        assert_eq!(store.account_usage(&a, today, today).expect("usage").len(), 1);
        let theirs = store.account_usage(&b, today - 30, today).expect("usage");
        assert_eq!(theirs.len(), 1);
        assert_eq!(theirs[0].matches, 1);
        // An unknown key is an error the caller logs, not a silent row.
        assert!(store.record_usage("no-such-key", t0(), Status::Approved, 1).is_err());
    }

    fn the_score_histogram_counts_the_accounts_saved_decisions(store) {
        let a = account(&store, "a@example.com");
        let b = account(&store, "b@example.com");
        let (k, other) = (key(&store, &a), key(&store, &b));
        for (score, at) in [(5, t0()), (15, t0()), (19, t0()), (100, t0()), (95, t0()), (50, t0() - Duration::days(40))] {
            let mut d = decision(&k, Status::Approved, at);
            d.face_match.score = Some(score);
            store.save_decision(&d).expect("save");
        }
        let mut none = decision(&k, Status::Declined, t0());
        none.face_match.score = None;
        store.save_decision(&none).expect("save");
        let mut theirs = decision(&other, Status::Approved, t0());
        theirs.face_match.score = Some(55);
        store.save_decision(&theirs).expect("save");
        let h = store.account_score_histogram(&a, t0() - Duration::days(30)).expect("histogram");
        assert_eq!(h, [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]);
    }
}
