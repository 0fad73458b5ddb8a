//! Behaviour of the public `Store` API, on SQLite and on PostgreSQL (`each_backend!`), plus
//! what only one of them has: SQLite's file (processes racing over it, reopening it, what it
//! holds) and PostgreSQL's replicas (several stores on one database).
#![allow(clippy::unwrap_used)]

// The crate's own test support, shared by file; this suite saves richer decisions of its own.
#[path = "../src/test_backends.rs"]
#[allow(dead_code)]
mod test_backends;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;

use facematch_core::{Entity, FaceMatch, Gender, ImageFaces, LogType, Status, Warning, WarningTag};
use facematch_store::{
    AuthError, ExposeSecret, Migrate, NewKey, OtpSecret, PostgresOptions, Registration,
    ReviewStatus, SavedDecision, StatusChange, StatusUpdate, Store, StoreError, VerifyError,
    MAX_OTP_ATTEMPTS, MAX_OTP_ATTEMPTS_TOTAL,
};
use test_backends::{each_backend, postgres_url};
use time::{Duration, OffsetDateTime};

fn key(name: &str, credits: i64) -> NewKey {
    NewKey {
        name: name.into(),
        credits,
        admin: false,
        expires_at: None,
        account_id: None,
    }
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap() + Duration::nanoseconds(123_456_789)
}

// ---- keys ---------------------------------------------------------------------------------

each_backend! {
    fn key_format_and_authentication(s) {
        let created = s.create_key(key("ci", 3)).unwrap();
        let secret = created.secret.expose_secret();
        let rest = secret.strip_prefix("fm_").unwrap();
        let (prefix, tail) = rest.split_once('_').unwrap();
        assert_eq!(prefix, created.record.prefix);
        assert_eq!(prefix.len(), 8);
        assert!(tail.len() >= 32);
        assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        assert!(
            !format!("{created:?}").contains(tail),
            "Debug leaks the secret"
        );

        let rec = s.authenticate(secret, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(rec, created.record);
        assert_eq!(rec.credits, 3);
        // Surrounding whitespace from a header is tolerated.
        assert!(s.authenticate(&format!(" {secret}\n"), t0()).is_ok());
    }
}

each_backend! {
    fn authentication_failures(s) {
        let created = s.create_key(key("a", 1)).unwrap();
        let secret = created.secret.expose_secret().to_owned();
        let now = OffsetDateTime::now_utc();

        assert!(matches!(s.authenticate("", now), Err(AuthError::Missing)));
        assert!(matches!(s.authenticate("  ", now), Err(AuthError::Missing)));
        for bad in [
            "nonsense",
            "fm_",
            "fm_abc_def",
            "fm_ABCDEFGH_",
            "fm_ABCDEFGH_ab-cd",
        ] {
            assert!(
                matches!(s.authenticate(bad, now), Err(AuthError::Unknown)),
                "{bad}"
            );
        }
        // Right prefix, wrong secret: still unknown.
        let mut tampered = secret.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'a' { 'b' } else { 'a' });
        assert!(matches!(
            s.authenticate(&tampered, now),
            Err(AuthError::Unknown)
        ));
        // Unknown prefix.
        let other = format!("fm_ZZZZZZZZ_{}", &secret[12..]);
        assert!(matches!(
            s.authenticate(&other, now),
            Err(AuthError::Unknown)
        ));

        assert!(s.revoke_key(&created.record.prefix).unwrap());
        assert!(matches!(
            s.authenticate(&secret, now),
            Err(AuthError::Revoked)
        ));
        assert!(!s.revoke_key("no-such-key").unwrap());

        let exp = s
            .create_key(NewKey {
                expires_at: Some(t0()),
                ..key("exp", 1)
            })
            .unwrap();
        let exp_secret = exp.secret.expose_secret();
        assert!(s
            .authenticate(exp_secret, t0() - Duration::seconds(1))
            .is_ok());
        assert!(matches!(
            s.authenticate(exp_secret, t0()),
            Err(AuthError::Expired)
        ));
        assert!(matches!(
            s.authenticate(exp_secret, t0() + Duration::days(1)),
            Err(AuthError::Expired)
        ));
    }
}

each_backend! {
    fn list_get_revoke_keys(s) {
        let a = s.create_key(key("a", 1)).unwrap().record;
        let b = s
            .create_key(NewKey {
                admin: true,
                ..key("b", 2)
            })
            .unwrap()
            .record;
        let list = s.list_keys().unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.contains(&a) && list.contains(&b));
        assert_eq!(s.get_key(&a.id).unwrap().unwrap(), a);
        assert_eq!(s.get_key(&format!("fm_{}", b.prefix)).unwrap().unwrap(), b);
        assert!(s.get_key("nope").unwrap().is_none());

        assert!(s.revoke_key(&a.id).unwrap());
        let first = s.get_key(&a.id).unwrap().unwrap().revoked_at.unwrap();
        assert!(s.revoke_key(&a.id).unwrap());
        assert_eq!(s.get_key(&a.id).unwrap().unwrap().revoked_at, Some(first));
        assert!(s.get_key(&b.id).unwrap().unwrap().revoked_at.is_none());

        assert!(matches!(
            s.create_key(key("neg", -1)),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.create_key(NewKey {
                account_id: Some("missing".into()),
                ..key("x", 0)
            }),
            Err(StoreError::NotFound(_))
        ));
    }
}

/// SQLite only: it scans the database's files (PostgreSQL stores the same hashes).
#[test]
fn database_file_holds_no_plaintext_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fm.db");
    let s = Store::open(&path).unwrap();
    let created = s.create_key(key("k", 1)).unwrap();
    let code = s
        .register("ann@example.com", "correct horse", t0())
        .unwrap()
        .code()
        .cloned()
        .unwrap();
    let secret = created.secret.expose_secret().to_owned();
    let secret_tail = secret.rsplit('_').next().unwrap().to_owned();
    drop(s);
    // Scan the database and its WAL (the rows may not be checkpointed yet).
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        contains(created.record.prefix.as_bytes()),
        "scan sees the file"
    );
    assert!(
        !contains(secret_tail.as_bytes()),
        "key secret stored in clear"
    );
    assert!(!contains(b"correct horse"), "password stored in clear");
    assert!(!contains(code.expose().as_bytes()), "code stored in clear");
    assert!(!format!("{code:?}").contains(code.expose()));
}

// ---- credits ------------------------------------------------------------------------------

/// A database file with one key holding no credits yet; returns the folder (keep it alive),
/// the file and the key's id.
fn race_db() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fm.db");
    let id = Store::open(&path)
        .unwrap()
        .create_key(key("race", 0))
        .unwrap()
        .record
        .id;
    (dir, path, id)
}

/// One race per round over the database file at `path`: `threads` racers, each with its own
/// connection (`open`, called once in each racer's thread, so nothing in this process serialises
/// them: only SQLite's locking does), start together at a barrier and call `reserve` once for the
/// key `id`, which holds `credits` credits at the start of every round. Returns, for each round,
/// how many racers got a credit and the balance once they all returned.
fn race_rounds<C>(
    path: &Path,
    id: &str,
    credits: i64,
    threads: usize,
    rounds: usize,
    open: impl Fn(&Path) -> C + Sync,
    reserve: impl Fn(&C, &str) -> bool + Sync,
) -> Vec<(usize, i64)> {
    let admin = rusqlite::Connection::open(path).unwrap();
    // The racers and this thread meet twice a round: at the start, and once every racer has
    // returned.
    let start = Barrier::new(threads + 1);
    let done = Barrier::new(threads + 1);
    let won = AtomicUsize::new(0);
    // A racer that panics still meets the others at every barrier (else they would wait
    // forever); the panics are counted and fail the test once every round is over.
    let panics = AtomicUsize::new(0);
    let mut results = Vec::with_capacity(rounds);
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let conn = catch_unwind(AssertUnwindSafe(|| open(path))).ok();
                if conn.is_none() {
                    panics.fetch_add(1, Ordering::SeqCst);
                }
                for _ in 0..rounds {
                    start.wait();
                    if let Some(conn) = &conn {
                        match catch_unwind(AssertUnwindSafe(|| reserve(conn, id))) {
                            Ok(true) => {
                                won.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(false) => {}
                            Err(_) => {
                                panics.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                    done.wait();
                }
            });
        }
        for _ in 0..rounds {
            admin
                .execute(
                    "UPDATE api_keys SET credits = ?2 WHERE id = ?1",
                    rusqlite::params![id, credits],
                )
                .unwrap();
            won.store(0, Ordering::SeqCst);
            start.wait();
            done.wait();
            let balance: i64 = admin
                .query_row("SELECT credits FROM api_keys WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .unwrap();
            results.push((won.load(Ordering::SeqCst), balance));
        }
    });
    assert_eq!(panics.into_inner(), 0, "racers panicked (see above)");
    results
}

/// `Store::reserve_credit` raced through independent connections (`Store::open` on the same file
/// in every racer's thread, as several server processes or the server and the CLI would): in
/// every round exactly as many callers win as there were credits, and the balance ends at 0.
fn store_race(credits: i64, threads: usize, rounds: usize) {
    let (_dir, path, id) = race_db();
    let results = race_rounds(
        &path,
        &id,
        credits,
        threads,
        rounds,
        |path| Store::open(path).unwrap(),
        |store, id| store.reserve_credit(id).unwrap(),
    );
    let expected = vec![(usize::try_from(credits).unwrap(), 0); rounds];
    assert_eq!(
        results, expected,
        "(winners, balance) per round, {credits} credits, {threads} racers"
    );
}

#[test]
fn last_credit_goes_to_exactly_one_of_many_connections() {
    store_race(1, 8, 40);
}

#[test]
fn n_credits_go_to_exactly_n_of_n_plus_five_connections() {
    store_race(3, 8, 20);
}

/// Negative control for the two tests above: the same harness, racing a check-then-debit (read
/// the balance, then write it back less one in a second statement) written here against the
/// same file, DOES hand out more credits than there are in some round. This is the bug the
/// harness must be able to see; a harness whose racers were serialised (one connection behind a
/// mutex, as these tests once had) would never show it. (The write is `credits = read - 1`, a
/// lost update: `credits = credits - 1` would be refused by the schema's `CHECK (credits >= 0)`
/// once the balance went below zero.)
#[test]
fn negative_control_a_check_then_debit_overspends_in_the_same_harness() {
    fn check_then_debit(conn: &rusqlite::Connection, id: &str) -> bool {
        let credits: i64 = conn
            .query_row("SELECT credits FROM api_keys WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        if credits <= 0 {
            return false;
        }
        conn.execute(
            "UPDATE api_keys SET credits = ?2 WHERE id = ?1",
            rusqlite::params![id, credits - 1],
        )
        .unwrap();
        true
    }
    let (_dir, path, id) = race_db();
    let results = race_rounds(
        &path,
        &id,
        1,
        8,
        40,
        |path| rusqlite::Connection::open(path).unwrap(),
        check_then_debit,
    );
    let overspent = results.iter().filter(|&&(won, _)| won > 1).count();
    assert!(
        overspent >= 1,
        "the racy check-then-debit never overspent: the harness cannot see a race {results:?}"
    );
    // Every winner wrote the same 0: the extra ones took a credit that was not there.
    assert!(
        results
            .iter()
            .all(|&(won, balance)| won >= 1 && balance == 0),
        "{results:?}"
    );
}

each_backend! {
    fn reserve_refund_balance_add(s) {
        let k = s.create_key(key("k", 1)).unwrap().record;
        assert!(s.reserve_credit(&k.id).unwrap());
        assert!(!s.reserve_credit(&k.id).unwrap());
        assert_eq!(s.balance(&k.id).unwrap(), 0);
        s.refund_credit(&k.id).unwrap();
        assert_eq!(s.balance(&k.id).unwrap(), 1);

        assert_eq!(s.add_credits(&k.prefix, 10).unwrap(), 11);
        assert_eq!(s.add_credits(&k.id, -11).unwrap(), 0);
        assert!(matches!(
            s.add_credits(&k.id, -1),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.add_credits(&k.id, i64::MAX)
                .and_then(|_| s.add_credits(&k.id, 1)),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.add_credits("nope", 1),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(s.reserve_credit("nope"), Err(AuthError::Unknown)));
        assert!(matches!(
            s.refund_credit("nope"),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(s.balance("nope"), Err(StoreError::NotFound(_))));
    }
}

each_backend! {
    /// The reservation itself re-checks the key: one revoked or expired after it was authenticated
    /// gets no credit taken and the reason, and its balance is untouched.
    fn reserving_a_credit_rechecks_revocation_and_expiry(s) {
        let k = s.create_key(key("k", 3)).unwrap();
        let record = s
            .authenticate(k.secret.expose_secret(), OffsetDateTime::now_utc())
            .unwrap();
        assert!(s.revoke_key(&record.id).unwrap());
        assert!(matches!(
            s.reserve_credit(&record.id),
            Err(AuthError::Revoked)
        ));
        assert_eq!(s.balance(&record.id).unwrap(), 3);

        // Expired a second ago: the reservation alone (no authentication before it) refuses it.
        let past = OffsetDateTime::now_utc() - Duration::seconds(1);
        let record = s
            .create_key(NewKey {
                expires_at: Some(past),
                ..key("e", 2)
            })
            .unwrap()
            .record;
        assert!(matches!(
            s.reserve_credit(&record.id),
            Err(AuthError::Expired)
        ));
        assert_eq!(s.balance(&record.id).unwrap(), 2);
    }
}

// ---- decisions ----------------------------------------------------------------------------

fn decision(request_id: &str, key_id: &str, status: Status, at: OffsetDateTime) -> SavedDecision {
    SavedDecision {
        request_id: request_id.into(),
        key_id: key_id.into(),
        decline_threshold: 50.0,
        review_threshold: Some(70.0),
        face_match: FaceMatch {
            status,
            score: Some(61),
            user_image: ImageFaces {
                entities: vec![Entity {
                    age: Some(27.63),
                    bbox: [40, 40, 100, 100],
                    confidence: 0.717,
                    gender: Some(Gender::Male),
                    landmarks: None,
                    pose: None,
                    quality: None,
                }],
                best_angle: 0,
            },
            ref_image: ImageFaces::default(),
            warnings: vec![],
        },
        vendor_data: Some("user-42 ünïcode".into()),
        metadata: None,
        session_number: 0,
        created_at: at,
        updated_at: at,
        history: vec![],
    }
}

each_backend! {
    fn decision_round_trip_and_isolation(s) {
        let a = s.create_key(key("a", 1)).unwrap().record;
        let b = s.create_key(key("b", 1)).unwrap().record;
        let mut d = decision("req-1", &a.id, Status::Approved, t0());
        d.metadata = serde_json::json!({"flow": "login", "n": [1, 2.5]})
            .as_object()
            .cloned();
        // The number given is ignored: the store assigns the key's next one.
        d.session_number = 77;
        assert_eq!(s.save_decision(&d).unwrap(), 1);
        d.session_number = 1;
        assert_eq!(s.get_decision("req-1", &a.id).unwrap(), Some(d.clone()));
        assert_eq!(s.get_decision("req-1", &b.id).unwrap(), None);
        assert_eq!(s.get_decision("req-2", &a.id).unwrap(), None);

        assert!(matches!(s.save_decision(&d), Err(StoreError::Conflict(_))));
        assert!(matches!(
            s.save_decision(&decision("req-3", "ghost", Status::Approved, t0())),
            Err(StoreError::NotFound(_))
        ));
        // A status outside the contract's cannot even be written down: `Status` has no such
        // value (and the schema's CHECK refuses it: `a_status_outside_the_contract_...`).
        assert!("Maybe".parse::<Status>().is_err());
        let mut no_score = decision("req-5", &a.id, Status::Declined, t0());
        no_score.face_match.score = None;
        no_score.review_threshold = None;
        no_score.vendor_data = None;
        no_score.face_match.warnings = vec![Warning {
            risk: WarningTag::NoFaceDetected,
            log_type: LogType::Error,
            short_description: "No face detected".into(),
            long_description: "No face was detected in ref_image.".into(),
        }];
        // The refused saves above took no number.
        assert_eq!(s.save_decision(&no_score).unwrap(), 2);
        no_score.session_number = 2;
        assert_eq!(s.get_decision("req-5", &a.id).unwrap(), Some(no_score));
        // Numbers are per key.
        assert_eq!(
            s.save_decision(&decision("req-6", &b.id, Status::Approved, t0()))
                .unwrap(),
            1
        );
        // Serializes for the server.
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["created_at"], "2025-06-15T15:06:40.123456789Z");
    }
}

each_backend! {
    fn review_queue_and_update_status(s) {
        let a = s.create_key(key("a", 1)).unwrap().record;
        let b = s.create_key(key("b", 1)).unwrap().record;
        // Saved out of order: the queue must be oldest first.
        s.save_decision(&decision(
            "r2",
            &a.id,
            Status::InReview,
            t0() + Duration::seconds(2),
        ))
        .unwrap();
        s.save_decision(&decision(
            "r1",
            &a.id,
            Status::InReview,
            t0() + Duration::seconds(1),
        ))
        .unwrap();
        s.save_decision(&decision(
            "r3",
            &a.id,
            Status::InReview,
            t0() + Duration::seconds(3),
        ))
        .unwrap();
        s.save_decision(&decision("ok", &a.id, Status::Approved, t0()))
            .unwrap();
        s.save_decision(&decision("rb", &b.id, Status::InReview, t0()))
            .unwrap();

        let ids = |v: Vec<SavedDecision>| v.into_iter().map(|d| d.request_id).collect::<Vec<_>>();
        assert_eq!(
            ids(s.review_queue(&a.id, 10, 0).unwrap()),
            ["r1", "r2", "r3"]
        );
        assert_eq!(ids(s.review_queue(&a.id, 1, 1).unwrap()), ["r2"]);
        assert_eq!(ids(s.review_queue(&a.id, usize::MAX, 0).unwrap()).len(), 3);
        assert_eq!(ids(s.review_queue(&b.id, 10, 0).unwrap()), ["rb"]);

        let later = t0() + Duration::hours(1);
        // Another key cannot touch it.
        assert_eq!(
            s.update_status("r1", &b.id, ReviewStatus::Approved, None, later)
                .unwrap(),
            None
        );
        let updated = s
            .update_status(
                "r1",
                &a.id,
                ReviewStatus::Declined,
                Some("not the same person"),
                later,
            )
            .unwrap()
            .unwrap()
            .into_decision();
        assert_eq!(updated.status(), Status::Declined);
        assert_eq!(updated.face_match.status, Status::Declined);
        assert_eq!(updated.updated_at, later);
        assert_eq!(
            updated.history,
            vec![StatusChange {
                from: Status::InReview,
                to: Status::Declined,
                comment: Some("not the same person".into()),
                at: later,
                reviewer: None,
            }]
        );
        assert_eq!(s.get_decision("r1", &a.id).unwrap(), Some(updated));
        assert_eq!(ids(s.review_queue(&a.id, 10, 0).unwrap()), ["r2", "r3"]);

        let again = s
            .update_status(
                "r1",
                &a.id,
                ReviewStatus::Approved,
                None,
                later + Duration::minutes(1),
            )
            .unwrap()
            .unwrap()
            .into_decision();
        assert_eq!(again.history.len(), 2);
        assert_eq!(again.history[1].from, Status::Declined);
        assert_eq!(again.history[1].comment, None);
        assert_eq!(s.get_decision("r1", &a.id).unwrap(), Some(again));

        assert_eq!(
            "Approved".parse::<ReviewStatus>().unwrap(),
            ReviewStatus::Approved
        );
        assert!("approved".parse::<ReviewStatus>().is_err());
        assert_eq!(
            serde_json::to_value(ReviewStatus::Declined).unwrap(),
            "Declined"
        );
    }
}

// ---- accounts -----------------------------------------------------------------------------

each_backend! {
    fn register_and_verify(s) {
        let code = s
            .register("Ann@Example.com", "password1", t0())
            .unwrap()
            .code()
            .cloned()
            .unwrap();
        let c = code.expose();
        assert_eq!(c.len(), 6);
        assert!(c
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        assert!(!c.contains(['0', 'O', '1', 'I', 'L']));

        let created = s
            .verify_email(
                "ann@example.com",
                &c.to_lowercase(),
                "203.0.113.1",
                t0() + Duration::minutes(1),
                25,
            )
            .unwrap();
        assert_eq!(created.record.credits, 25);
        assert!(created.record.account_id.is_some());
        assert!(s.authenticate(created.secret.expose_secret(), t0()).is_ok());
        // Consumed.
        assert!(matches!(
            s.verify_email("ann@example.com", c, "203.0.113.1", t0(), 25),
            Err(VerifyError::NoPendingCode)
        ));
        // Verified: registering again changes nothing (and says nothing).
        assert!(matches!(
            s.register("ann@example.com", "password2", t0()),
            Ok(Registration::Unchanged)
        ));
        assert!(matches!(
            s.verify_email("nobody@example.com", "ABCDEF", "203.0.113.1", t0(), 1),
            Err(VerifyError::NoPendingCode)
        ));
    }
}

each_backend! {
    fn register_validation(s) {
        assert!(matches!(
            s.register("not-an-email", "password1", t0()),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.register("a@example.com", "short", t0()),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.register("a@example.com", "1234567", t0()),
            Err(StoreError::Invalid(_))
        ));
        assert!(s.register("a@example.com", "12345678", t0()).is_ok());
    }
}

fn wrong(code: &str) -> String {
    // Any other valid-looking code.
    if code == "AAAAAA" { "BBBBBB" } else { "AAAAAA" }.to_owned()
}

each_backend! {
    fn code_expires_after_15_minutes(s) {
        let code = s
            .register("b@example.com", "password1", t0())
            .unwrap()
            .code()
            .cloned()
            .unwrap();
        assert!(matches!(
            s.verify_email(
                "b@example.com",
                code.expose(),
                "203.0.113.1",
                t0() + Duration::minutes(15),
                1
            ),
            Err(VerifyError::Expired)
        ));
        // A fresh registration issues a new code that works, and the old one no longer does.
        let code2 = s
            .register("b@example.com", "password1", t0() + Duration::minutes(16))
            .unwrap()
            .code()
            .cloned()
            .unwrap();
        let at = t0() + Duration::minutes(30);
        if code2.expose() != code.expose() {
            assert!(matches!(
                s.verify_email("b@example.com", code.expose(), "203.0.113.1", at, 1),
                Err(VerifyError::WrongCode { .. })
            ));
        }
        assert!(s
            .verify_email("b@example.com", code2.expose(), "203.0.113.1", at, 1)
            .is_ok());
    }
}

each_backend! {
    fn five_attempts_then_locked_even_with_right_code(s) {
        let code = s
            .register("c@example.com", "password1", t0())
            .unwrap()
            .code()
            .cloned()
            .unwrap();
        let bad = wrong(code.expose());
        for left in (0..MAX_OTP_ATTEMPTS).rev() {
            match s.verify_email("c@example.com", &bad, "203.0.113.1", t0(), 1) {
                Err(VerifyError::WrongCode { attempts_left }) => assert_eq!(attempts_left, left),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(matches!(
            s.verify_email("c@example.com", code.expose(), "203.0.113.1", t0(), 1),
            Err(VerifyError::TooManyAttempts)
        ));
        // Re-registering resets the counter with a new code.
        let code2 = s
            .register("c@example.com", "password1", t0())
            .unwrap()
            .code()
            .cloned()
            .unwrap();
        assert!(s
            .verify_email("c@example.com", code2.expose(), "203.0.113.1", t0(), 1)
            .is_ok());
    }
}

each_backend! {
    fn right_code_on_fifth_attempt_succeeds(s) {
        let code = s
            .register("d@example.com", "password1", t0())
            .unwrap()
            .code()
            .cloned()
            .unwrap();
        let bad = wrong(code.expose());
        for _ in 0..MAX_OTP_ATTEMPTS - 1 {
            assert!(s
                .verify_email("d@example.com", &bad, "203.0.113.1", t0(), 1)
                .is_err());
        }
        assert!(s
            .verify_email("d@example.com", code.expose(), "203.0.113.1", t0(), 1)
            .is_ok());
    }
}

fn code_of(r: Result<Registration, StoreError>) -> String {
    r.unwrap()
        .code()
        .expect("a code is sent")
        .expose()
        .to_owned()
}

each_backend! {
    fn one_account_per_mailbox_and_a_pending_registration_keeps_its_password(s) {
        let first = code_of(s.register("victim+1@example.com", "password1", t0()));
        // Another spelling of the mailbox with another password: nothing changes.
        for (i, spelling) in ["victim+2@example.com", "Victim@Example.com "]
            .iter()
            .enumerate()
        {
            let at = t0() + Duration::minutes(i as i64);
            assert_eq!(
                s.register(spelling, "password2", at).unwrap(),
                Registration::Unchanged
            );
        }
        // The first code still works, with any spelling.
        let created = s
            .verify_email("VICTIM+9@example.com", &first, "203.0.113.1", t0(), 3)
            .unwrap();
        assert_eq!(created.record.credits, 3);
        assert_eq!(s.list_keys().unwrap().len(), 1);
        // Gmail: dots and the googlemail alias name the same mailbox.
        code_of(s.register("a.b@gmail.com", "password1", t0()));
        assert_eq!(
            s.register("ab+x@googlemail.com", "password2", t0())
                .unwrap(),
            Registration::Unchanged
        );
    }
}

each_backend! {
    fn the_owner_refreshes_the_code_and_a_stale_registration_is_taken_over(s) {
        let old = code_of(s.register("e@example.com", "password1", t0()));
        // Same password: a new code, the old one dead.
        let new = code_of(s.register("e+x@example.com", "password1", t0()));
        if new != old {
            assert!(matches!(
                s.verify_email("e@example.com", &old, "203.0.113.1", t0(), 1),
                Err(VerifyError::WrongCode { .. })
            ));
        }
        // After a code's lifetime anyone may take the registration over.
        let later = t0() + Duration::minutes(15);
        let taken = code_of(s.register("e@example.com", "password2", later));
        assert!(s
            .verify_email("e@example.com", &taken, "203.0.113.1", later, 1)
            .is_ok());
    }
}

each_backend! {
    fn wrong_tries_count_per_client_and_all_clients_together(s) {
        let code = code_of(s.register("f@example.com", "password1", t0()));
        let bad = wrong(&code);
        for _ in 0..MAX_OTP_ATTEMPTS {
            assert!(s
                .verify_email("f@example.com", &bad, "stranger", t0(), 1)
                .is_err());
        }
        // The stranger is locked out (and learns it only with the right code) ...
        assert!(matches!(
            s.verify_email("f@example.com", &bad, "stranger", t0(), 1),
            Err(VerifyError::WrongCode { attempts_left: 0 })
        ));
        assert!(matches!(
            s.verify_email("f@example.com", &code, "stranger", t0(), 1),
            Err(VerifyError::TooManyAttempts)
        ));
        // ... the owner is not.
        assert!(s
            .verify_email("f@example.com", &code, "owner", t0(), 1)
            .is_ok());

        // Many clients together lock the code for everyone.
        let code = code_of(s.register("g@example.com", "password1", t0()));
        let bad = wrong(&code);
        let clients = MAX_OTP_ATTEMPTS_TOTAL / MAX_OTP_ATTEMPTS;
        for c in 0..clients {
            for _ in 0..MAX_OTP_ATTEMPTS {
                let client = format!("c{c}");
                assert!(s
                    .verify_email("g@example.com", &bad, &client, t0(), 1)
                    .is_err());
            }
        }
        assert!(matches!(
            s.verify_email("g@example.com", &code, "owner", t0(), 1),
            Err(VerifyError::TooManyAttempts)
        ));
        // The owner's re-registration resets every counter.
        let code = code_of(s.register("g@example.com", "password1", t0()));
        assert!(s
            .verify_email("g@example.com", &code, "owner", t0(), 1)
            .is_ok());
    }
}

each_backend! {
    fn the_longest_address_verifies(s) {
        let email = format!("{}@example.com", "x".repeat(254 - "@example.com".len()));
        assert_eq!(email.len(), 254);
        let code = code_of(s.register(&email, "password1", t0()));
        let created = s
            .verify_email(&email, &code, "203.0.113.1", t0(), 1)
            .unwrap();
        assert_eq!(created.record.name.chars().count(), 200);
        assert!(s.authenticate(created.secret.expose_secret(), t0()).is_ok());
    }
}

// ---- migrations and persistence -----------------------------------------------------------

/// SQLite only: reopening a file (PostgreSQL's migrations have their own tests).
#[test]
fn reopen_is_idempotent_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/fm.db");
    let (secret, id) = {
        let s = Store::open(&path).unwrap();
        let k = s.create_key(key("persist", 5)).unwrap();
        assert!(s.reserve_credit(&k.record.id).unwrap());
        s.save_decision(&decision("p1", &k.record.id, Status::InReview, t0()))
            .unwrap();
        s.update_status("p1", &k.record.id, ReviewStatus::Approved, Some("ok"), t0())
            .unwrap();
        (k.secret.expose_secret().to_owned(), k.record.id)
    };
    // Two more opens: migrations must not be re-applied (CREATE TABLE would fail).
    let _again = Store::open(&path).unwrap();
    let s = Store::open(&path).unwrap();
    let rec = s.authenticate(&secret, t0()).unwrap();
    assert_eq!(rec.id, id);
    assert_eq!(s.balance(&id).unwrap(), 4);
    let d = s.get_decision("p1", &id).unwrap().unwrap();
    assert_eq!(d.status(), Status::Approved);
    assert_eq!(d.history.len(), 1);
}

/// SQLite only: the file's `user_version`.
#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fm.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(conn);
    assert!(matches!(Store::open(&path), Err(StoreError::Migration(_))));
}

/// SQLite only: SQLite's `:memory:` path.
#[test]
fn memory_path_opens_in_memory() {
    let s = Store::open(std::path::Path::new(":memory:")).unwrap();
    assert!(s.list_keys().unwrap().is_empty());
    assert!(!std::path::Path::new(":memory:").exists());
}

/// SQLite's schema, written to through the file (PostgreSQL's: the test after this one).
#[test]
fn a_status_outside_the_contract_is_refused_by_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fm.db");
    let s = Store::open(&path).unwrap();
    let k = s.create_key(key("check", 1)).unwrap().record;
    drop(s);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let insert = |id: &str, status: &str| {
        conn.execute(
            "INSERT INTO decisions (request_id, key_id, status, score, decline_threshold, \
             review_threshold, warnings, face_match, vendor_data, created_at, updated_at) \
             VALUES (?1, ?2, ?3, NULL, 30.0, NULL, '[]', '{}', NULL, 0, 0)",
            rusqlite::params![id, k.id, status],
        )
    };
    for (i, status) in Status::ALL.iter().enumerate() {
        insert(&format!("ok-{i}"), &status.to_string()).unwrap();
    }
    assert!(insert("bad", "Maybe").is_err());
    assert!(insert("bad", "InReview").is_err());
}

/// PostgreSQL's schema refuses a status outside the contract too.
#[test]
fn a_status_outside_the_contract_is_refused_by_the_postgres_schema() {
    let url = postgres_url();
    let s = Store::connect_postgres(&url, &PostgresOptions::default(), Migrate::Apply).unwrap();
    let k = s.create_key(key("check", 1)).unwrap().record;
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut insert = |id: &str, status: &str| {
        client.execute(
            "INSERT INTO decisions (request_id, key_id, status, score, decline_threshold, \
             review_threshold, warnings, face_match, vendor_data, created_at, updated_at) \
             VALUES ($1, $2, $3, NULL, 30.0, NULL, '[]', '{}', NULL, 0, 0)",
            &[&id, &k.id, &status],
        )
    };
    for (i, status) in Status::ALL.iter().enumerate() {
        insert(&format!("ok-{i}"), &status.to_string()).unwrap();
    }
    assert!(insert("bad", "Maybe").is_err());
    assert!(insert("bad", "InReview").is_err());
}

/// SQLite only: PostgreSQL support started after decisions were typed.
///
/// Databases written before decisions were typed hold the `face_match` object with its keys in
/// alphabetical order (it was kept as a JSON value, and a review patched its `"status"`): they
/// read back as the same typed decision.
#[test]
fn decisions_saved_as_json_values_read_back_typed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fm.db");
    let s = Store::open(&path).unwrap();
    let k = s.create_key(key("old", 1)).unwrap().record;
    drop(s);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let face_match = r#"{"ref_image":{"best_angle":0,"entities":[]},"score":61,"status":"Approved","user_image":{"best_angle":0,"entities":[{"age":27.63,"bbox":[40,40,100,100],"confidence":0.717,"gender":"male"}]},"warnings":[]}"#;
    let at = i64::try_from(t0().unix_timestamp_nanos()).unwrap();
    conn.execute(
        "INSERT INTO decisions (request_id, key_id, status, score, decline_threshold, \
         review_threshold, warnings, face_match, vendor_data, created_at, updated_at) \
         VALUES ('old-1', ?1, 'Approved', 61, 50.0, 70.0, '[]', ?2, 'user-42 ünïcode', ?3, ?3)",
        rusqlite::params![k.id, face_match, at],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO decision_history (request_id, from_status, to_status, comment, at) \
         VALUES ('old-1', 'In Review', 'Approved', NULL, ?1)",
        [at],
    )
    .unwrap();
    drop(conn);
    let s = Store::open(&path).unwrap();
    let mut expected = decision("old-1", &k.id, Status::Approved, t0());
    expected.history = vec![StatusChange {
        from: Status::InReview,
        to: Status::Approved,
        comment: None,
        at: t0(),
        reviewer: None,
    }];
    assert_eq!(s.get_decision("old-1", &k.id).unwrap(), Some(expected));
}

// ---- PostgreSQL replicas ------------------------------------------------------------------

/// Two stores on one fresh PostgreSQL database, as two replicas of the server would be, with
/// the same OTP secret (replicas share it, or a code sent by one would not verify on the other).
fn replicas() -> (Store, Store) {
    let url = postgres_url();
    let secret = OtpSecret::from_bytes(vec![42; 32]).unwrap();
    let open = || {
        Store::connect_postgres(&url, &PostgresOptions::default(), Migrate::Apply)
            .unwrap()
            .with_otp_secret(secret.clone())
    };
    (open(), open())
}

/// Eight threads split across two replicas race for a key's last three credits, round after
/// round: exactly three win each time, and both replicas read the balance 0.
#[test]
fn postgres_replicas_spend_each_credit_once() {
    let (a, b) = replicas();
    let id = a.create_key(key("race", 0)).unwrap().record.id;
    for round in 0..10 {
        assert_eq!(b.add_credits(&id, 3).unwrap(), 3);
        let start = Barrier::new(8);
        let wins: usize = thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (store, start, id) = (if i % 2 == 0 { &a } else { &b }, &start, &id);
                    scope.spawn(move || {
                        start.wait();
                        usize::from(store.reserve_credit(id).unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 3, "round {round}");
        assert_eq!(a.balance(&id).unwrap(), 0);
        assert_eq!(b.balance(&id).unwrap(), 0);
    }
}

/// The per-code limit on wrong tries counts every replica's: wrong codes from ever new clients
/// (so no client reaches its own limit), alternated between two replicas, lock the code once
/// there were [`MAX_OTP_ATTEMPTS_TOTAL`], for the owner too, on both replicas.
#[test]
fn postgres_replicas_count_a_codes_wrong_tries_together() {
    let (a, b) = replicas();
    let code = code_of(a.register("h@example.com", "password1", t0()));
    let bad = wrong(&code);
    for i in 0..MAX_OTP_ATTEMPTS_TOTAL {
        let store = if i % 2 == 0 { &a } else { &b };
        match store.verify_email("h@example.com", &bad, &format!("client-{i}"), t0(), 1) {
            Err(VerifyError::WrongCode { attempts_left }) => {
                assert_eq!(attempts_left, MAX_OTP_ATTEMPTS - 1, "try {i}");
            }
            other => panic!("try {i}: {other:?}"),
        }
    }
    for store in [&a, &b] {
        assert!(matches!(
            store.verify_email("h@example.com", &code, "owner", t0(), 1),
            Err(VerifyError::TooManyAttempts)
        ));
    }
    // The owner's re-registration, through the other replica, resets every counter.
    let code = code_of(b.register("h@example.com", "password1", t0()));
    assert!(a
        .verify_email("h@example.com", &code, "owner", t0(), 1)
        .is_ok());
}

/// A review decided through one replica is what the other reads; two replicas setting the same
/// status at once make one change (the second sees the first's status: `Unchanged`), and two
/// different verdicts at once make two changes, the second from the first's status.
#[test]
fn postgres_replicas_share_reviews_and_one_change_wins() {
    let (a, b) = replicas();
    let k = a.create_key(key("review", 0)).unwrap().record;
    a.save_decision(&decision("r0", &k.id, Status::InReview, t0()))
        .unwrap();
    let queued: Vec<_> = b.review_queue(&k.id, 10, 0).unwrap();
    assert_eq!(queued.len(), 1);
    let later = t0() + Duration::hours(1);
    let decided = a
        .update_status("r0", &k.id, ReviewStatus::Declined, Some("no"), later)
        .unwrap()
        .unwrap()
        .into_decision();
    assert_eq!(b.get_decision("r0", &k.id).unwrap(), Some(decided));
    assert!(b.review_queue(&k.id, 10, 0).unwrap().is_empty());

    let race = |request_id: &str, to_a: ReviewStatus, to_b: ReviewStatus| {
        a.save_decision(&decision(request_id, &k.id, Status::InReview, t0()))
            .unwrap();
        let start = Barrier::new(2);
        thread::scope(|scope| {
            let (start, id, a, b) = (&start, &k.id, &a, &b);
            let one = scope.spawn(move || {
                start.wait();
                a.update_status(request_id, id, to_a, None, later).unwrap()
            });
            let two = scope.spawn(move || {
                start.wait();
                b.update_status(request_id, id, to_b, None, later).unwrap()
            });
            [one.join().unwrap().unwrap(), two.join().unwrap().unwrap()]
        })
    };
    for round in 0..10 {
        let id = format!("same-{round}");
        let outcomes = race(&id, ReviewStatus::Approved, ReviewStatus::Approved);
        let changed = outcomes
            .iter()
            .filter(|u| matches!(u, StatusUpdate::Changed(_)))
            .count();
        assert_eq!(changed, 1, "round {round}: {outcomes:?}");
        let stored = b.get_decision(&id, &k.id).unwrap().unwrap();
        assert_eq!(stored.status(), Status::Approved);
        assert_eq!(stored.history.len(), 1, "round {round}");

        let id = format!("other-{round}");
        let outcomes = race(&id, ReviewStatus::Approved, ReviewStatus::Declined);
        assert!(
            outcomes
                .iter()
                .all(|u| matches!(u, StatusUpdate::Changed(_))),
            "{outcomes:?}"
        );
        let history = a.get_decision(&id, &k.id).unwrap().unwrap().history;
        assert_eq!(history.len(), 2, "round {round}");
        assert_eq!(history[0].from, Status::InReview);
        assert_eq!(history[1].from, history[0].to, "round {round}: {history:?}");
    }
}
