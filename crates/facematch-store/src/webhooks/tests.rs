//! Webhook store: sealed secrets, the key file, owner scoping, the outbox, leases, the
//! attempt state machine, the log's scoping, the purge and the limits.
#![allow(clippy::unwrap_used)]

use facematch_core::Status;
use secrecy::ExposeSecret;
use time::{Duration, OffsetDateTime};

use crate::sql::args;
use crate::test_backends::each_backend;
use crate::{
    AttemptOutcome, AttemptRecord, DestinationUpdate, NewDestination, NewKey, ReviewStatus,
    SavedDecision, Store, StoreError, WebhookKey, WebhookKeyError, MAX_DESTINATIONS_PER_OWNER,
};

const LEASE: Duration = Duration::seconds(30);

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn key_in(store: &Store, account_id: Option<&str>) -> String {
    store
        .create_key(NewKey {
            name: "t".into(),
            credits: 0,
            admin: false,
            expires_at: None,
            account_id: account_id.map(str::to_owned),
        })
        .unwrap()
        .record
        .id
}

fn key(store: &Store) -> String {
    key_in(store, None)
}

fn account(store: &Store, id: &str) {
    let email = format!("{id}@example.com");
    store
        .run(|c| {
            c.execute(
                "INSERT INTO accounts (id, email, mailbox, password_hash, created_at, verified_at) \
                 VALUES (?1, ?2, ?2, 'x', 0, 0)",
                args![id, &email],
            )
        })
        .unwrap();
}

fn new_dest(key_id: &str, events: &[&str], enabled: bool) -> NewDestination {
    NewDestination {
        key_id: key_id.to_owned(),
        label: "prod".into(),
        url: "https://example.com/hook".into(),
        subscribed_events: events.iter().map(|e| (*e).to_owned()).collect(),
        enabled,
    }
}

fn dest(store: &Store, key_id: &str) -> String {
    store
        .create_destination(new_dest(key_id, &["status.updated"], true), t0())
        .unwrap()
        .0
        .id
}

/// An `In Review` decision of `key_id` made at `at`.
fn decision(key_id: &str, at: OffsetDateTime) -> SavedDecision {
    SavedDecision {
        vendor_data: Some("user-1".into()),
        ..crate::test_backends::decision(key_id, Status::InReview, at)
    }
}

/// Saves an `In Review` decision of `key_id` made at `at`; returns its id.
fn saved_at(store: &Store, key_id: &str, at: OffsetDateTime) -> String {
    let d = decision(key_id, at);
    store.save_decision(&d).unwrap();
    d.request_id
}

fn saved(store: &Store, key_id: &str) -> String {
    saved_at(store, key_id, t0())
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .run(|c| {
            c.query_one(&format!("SELECT count(*) FROM {table}"), args![], |r| {
                r.get(0)
            })
        })
        .unwrap()
}

fn state(store: &Store, delivery_id: &str) -> (String, i64, Option<i64>) {
    store
        .run(|c| {
            c.query_one(
                "SELECT state, attempts, next_attempt_at FROM webhook_deliveries WHERE id = ?1",
                args![delivery_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
        .unwrap()
}

fn backoff_until(store: &Store, destination_id: &str) -> Option<i64> {
    store
        .run(|c| {
            c.query_one(
                "SELECT backoff_until FROM webhook_destinations WHERE id = ?1",
                args![destination_id],
                |r| r.get(0),
            )
        })
        .unwrap()
}

fn sealed_secret(store: &Store, destination_id: &str) -> Vec<u8> {
    store
        .run(|c| {
            c.query_one(
                "SELECT secret_sealed FROM webhook_destinations WHERE id = ?1",
                args![destination_id],
                |r| r.get(0),
            )
        })
        .unwrap()
}

fn record(status: Option<u16>) -> AttemptRecord {
    AttemptRecord {
        request_url: "https://example.com/hook".into(),
        request_headers: "{}".into(),
        request_body: "{\"webhook_type\":\"status.updated\"}".into(),
        response_status: status,
        response_body: Some("ok".into()),
        response_time_ms: Some(12),
        error: None,
    }
}

fn nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap()
}

// ---- Secrets ------------------------------------------------------------------------------

/// SQLite only: it reads the database's files, and reopens them with other webhook keys.
#[test]
fn the_secret_is_shown_once_sealed_at_rest_and_opens_only_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let key_file = dir.path().join("webhook.key");
    let store = Store::open(&db)
        .unwrap()
        .with_webhook_key(WebhookKey::load_or_create(&key_file).unwrap());
    let k = key(&store);
    let (d, secret) = store
        .create_destination(new_dest(&k, &["status.updated"], true), t0())
        .unwrap();
    let secret = secret.expose_secret().to_owned();
    // Didit's format: 43 URL-safe base64 characters (32 bytes, no padding).
    assert_eq!(secret.len(), 43);
    assert!(secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(
        store
            .destination_secret(&d.id)
            .unwrap()
            .unwrap()
            .expose_secret(),
        secret
    );
    let sealed = sealed_secret(&store, &d.id);
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
    assert_eq!(sealed.len(), 12 + 43 + 16);
    drop(store);
    // Nowhere in the database files either.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }

    // The same key file opens it again; another key cannot: a typed error, not a panic.
    let again = Store::open(&db)
        .unwrap()
        .with_webhook_key(WebhookKey::load_or_create(&key_file).unwrap());
    assert_eq!(
        again
            .destination_secret(&d.id)
            .unwrap()
            .unwrap()
            .expose_secret(),
        secret
    );
    let other = Store::open(&db)
        .unwrap()
        .with_webhook_key(WebhookKey::random());
    assert!(matches!(
        other.destination_secret(&d.id),
        Err(StoreError::WebhookKey(WebhookKeyError::Unseal))
    ));
    assert!(other.destination_secret("no-such").unwrap().is_none());
}

each_backend! {
    /// The secret is stored sealed (nonce, ciphertext, tag), never as it is, and opens again.
    fn the_stored_secret_is_sealed_and_opens(store) {
        let k = key(&store);
        let (d, secret) = store
            .create_destination(new_dest(&k, &["status.updated"], true), t0())
            .unwrap();
        let secret = secret.expose_secret().to_owned();
        let sealed = sealed_secret(&store, &d.id);
        assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
        assert_eq!(sealed.len(), 12 + 43 + 16);
        assert_eq!(
            store
                .destination_secret(&d.id)
                .unwrap()
                .unwrap()
                .expose_secret(),
            secret
        );
        assert!(store.destination_secret("no-such").unwrap().is_none());
    }
}

each_backend! {
    fn a_sealed_secret_copied_onto_another_destination_does_not_open(store) {
        let k = key(&store);
        let (a, b) = (dest(&store, &k), dest(&store, &k));
        store
            .run(|c| {
                c.execute(
                    "UPDATE webhook_destinations SET secret_sealed = \
                     (SELECT secret_sealed FROM webhook_destinations WHERE id = ?1) WHERE id = ?2",
                    args![&a, &b],
                )
            })
            .unwrap();
        assert!(store.destination_secret(&a).unwrap().is_some());
        assert!(matches!(
            store.destination_secret(&b),
            Err(StoreError::WebhookKey(WebhookKeyError::Unseal))
        ));
    }
}

each_backend! {
    fn rotation_replaces_the_secret(store) {
        let (k, other) = (key(&store), key(&store));
        let (d, first) = store
            .create_destination(new_dest(&k, &["status.updated"], true), t0())
            .unwrap();
        assert!(store
            .rotate_destination_secret(&d.id, &other, t0())
            .unwrap()
            .is_none());
        let later = t0() + Duration::hours(1);
        let second = store
            .rotate_destination_secret(&d.id, &k, later)
            .unwrap()
            .unwrap();
        assert_ne!(first.expose_secret(), second.expose_secret());
        assert_eq!(
            store
                .destination_secret(&d.id)
                .unwrap()
                .unwrap()
                .expose_secret(),
            second.expose_secret()
        );
        assert_eq!(
            store
                .get_destination(&d.id, &k)
                .unwrap()
                .unwrap()
                .updated_at,
            later
        );
    }
}

#[cfg(unix)]
#[test]
fn the_key_file_is_created_private_and_refused_when_readable_by_others_or_malformed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/webhook.key");
    let made = WebhookKey::load_or_create(&path).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 65);
    // Loaded again: the same key (what one seals, the other opens).
    let loaded = WebhookKey::load_or_create(&path).unwrap();
    let sealed = made.seal(b"hello", "ctx").unwrap();
    assert_eq!(loaded.open(&sealed, "ctx").unwrap().as_slice(), b"hello");
    assert!(loaded.open(&sealed, "other").is_err());
    assert_eq!(format!("{loaded:?}"), "WebhookKey([REDACTED])");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        WebhookKey::load_or_create(&path),
        Err(StoreError::WebhookKey(WebhookKeyError::Permissions {
            mode: 0o644,
            ..
        }))
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(WebhookKey::load_or_create(&path).is_err());

    let write_private = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    };
    for bad in [
        &[7u8; 31][..],
        &[7u8; 33][..],
        &[b'a'; 63][..],
        &[b'g'; 64][..],
        &[0u8; 4096][..],
    ] {
        let p = write_private("bad.key", bad);
        assert!(
            matches!(
                WebhookKey::load_or_create(&p),
                Err(StoreError::WebhookKey(WebhookKeyError::Malformed { .. }))
            ),
            "{} bytes accepted",
            bad.len()
        );
    }
    // 32 raw bytes, and 64 hex characters with or without a newline, are the same key.
    let raw = write_private("raw.key", &[0xab; 32]);
    let hex = write_private("hex.key", "AB".repeat(32).as_bytes());
    let hex_nl = write_private("hexnl.key", format!("{}\r\n", "ab".repeat(32)).as_bytes());
    let sealed = WebhookKey::load_or_create(&raw)
        .unwrap()
        .seal(b"x", "c")
        .unwrap();
    for p in [hex, hex_nl] {
        assert!(WebhookKey::load_or_create(&p)
            .unwrap()
            .open(&sealed, "c")
            .is_ok());
    }
}

// ---- Validation and limits ----------------------------------------------------------------

each_backend! {
    fn bad_destinations_are_invalid_and_the_21st_is_a_conflict(store) {
        let k = key(&store);
        let invalid = |new: NewDestination| {
            matches!(
                store.create_destination(new, t0()),
                Err(StoreError::Invalid(_))
            )
        };
        assert!(invalid(new_dest(&k, &["status.changed"], true)));
        assert!(invalid(new_dest(&k, &[], true)));
        assert!(invalid(new_dest(&k, &["status.updated"; 21], true)));
        assert!(invalid(NewDestination {
            label: "  ".into(),
            ..new_dest(&k, &["status.updated"], true)
        }));
        assert!(invalid(NewDestination {
            label: "x".repeat(101),
            ..new_dest(&k, &["status.updated"], true)
        }));
        assert!(invalid(NewDestination {
            label: "a\nb".into(),
            ..new_dest(&k, &["status.updated"], true)
        }));
        assert!(invalid(NewDestination {
            url: format!("https://example.com/{}", "a".repeat(2049 - 20)),
            ..new_dest(&k, &["status.updated"], true)
        }));
        assert!(matches!(
            store.create_destination(new_dest("no-such-key", &["status.updated"], true), t0()),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(count(&store, "webhook_destinations"), 0);

        // At the limits: accepted; duplicates dropped in order.
        let (d, _) = store
            .create_destination(
                NewDestination {
                    label: "é".repeat(100),
                    url: format!("https://example.com/{}", "a".repeat(2048 - 20)),
                    ..new_dest(
                        &k,
                        &["data.updated", "status.updated", "data.updated"],
                        true,
                    )
                },
                t0(),
            )
            .unwrap();
        assert_eq!(d.subscribed_events, ["data.updated", "status.updated"]);
        for _ in 1..MAX_DESTINATIONS_PER_OWNER {
            dest(&store, &k);
        }
        assert!(matches!(
            store.create_destination(new_dest(&k, &["status.updated"], true), t0()),
            Err(StoreError::Conflict(_))
        ));
        // Another owner is not counted against this one.
        dest(&store, &key(&store));

        // Updates follow the same rules and change nothing when refused.
        for bad in [
            DestinationUpdate {
                subscribed_events: Some(vec![]),
                ..DestinationUpdate::default()
            },
            DestinationUpdate {
                subscribed_events: Some(vec!["nope".into()]),
                ..DestinationUpdate::default()
            },
            DestinationUpdate {
                label: Some(String::new()),
                ..DestinationUpdate::default()
            },
        ] {
            assert!(matches!(
                store.update_destination(&d.id, &k, bad, t0()),
                Err(StoreError::Invalid(_))
            ));
        }
        assert_eq!(store.get_destination(&d.id, &k).unwrap().unwrap(), d);
    }
}

// ---- Owners -------------------------------------------------------------------------------

each_backend! {
    fn a_key_cannot_see_change_or_delete_another_keys_destination(store) {
        let (a, b) = (key(&store), key(&store));
        let d = dest(&store, &a);
        assert!(store.get_destination(&d, &b).unwrap().is_none());
        assert!(store.list_destinations(&b).unwrap().is_empty());
        assert!(store
            .update_destination(
                &d,
                &b,
                DestinationUpdate {
                    enabled: Some(false),
                    ..DestinationUpdate::default()
                },
                t0()
            )
            .unwrap()
            .is_none());
        assert!(!store.delete_destination(&d, &b).unwrap());
        assert!(store
            .enqueue_test_event(&d, &b, t0(), LEASE)
            .unwrap()
            .is_none());
        assert!(store.destination_attempts(&d, &b, 10).unwrap().is_none());
        // Untouched, and still the owner's.
        let kept = store.get_destination(&d, &a).unwrap().unwrap();
        assert!(kept.enabled);
        assert_eq!(store.list_destinations(&a).unwrap(), vec![kept]);
        assert_eq!(count(&store, "webhook_events"), 0);
        assert!(store.delete_destination(&d, &a).unwrap());
        assert!(store.get_destination(&d, &a).unwrap().is_none());
    }
}

each_backend! {
    fn the_keys_of_one_account_share_its_destinations_and_their_events_go_there(store) {
        account(&store, "acc");
        account(&store, "other");
        let (k1, k2) = (key_in(&store, Some("acc")), key_in(&store, Some("acc")));
        let outsider = key_in(&store, Some("other"));
        let (d, _) = store
            .create_destination(new_dest(&k1, &["status.updated"], true), t0())
            .unwrap();
        assert_eq!(d.account_id.as_deref(), Some("acc"));
        let later = d.created_at + Duration::seconds(1);
        let second = store
            .create_destination(new_dest(&k2, &["status.updated"], true), later)
            .unwrap()
            .0;
        // Oldest first, the same list for both keys.
        let ids = |k: &str| -> Vec<String> {
            store
                .list_destinations(k)
                .unwrap()
                .into_iter()
                .map(|d| d.id)
                .collect()
        };
        assert_eq!(ids(&k1), [d.id.clone(), second.id.clone()]);
        assert_eq!(ids(&k2), ids(&k1));
        assert!(ids(&outsider).is_empty());
        assert!(store
            .update_destination(
                &d.id,
                &k2,
                DestinationUpdate {
                    label: Some("renamed".into()),
                    ..DestinationUpdate::default()
                },
                later
            )
            .unwrap()
            .is_some());
        assert_eq!(
            store.get_destination(&d.id, &k1).unwrap().unwrap().label,
            "renamed"
        );
        // k2's decision is delivered to both account destinations; the outsider's to none.
        saved(&store, &k2);
        assert_eq!(count(&store, "webhook_deliveries"), 2);
        saved(&store, &outsider);
        assert_eq!(count(&store, "webhook_events"), 1);
    }
}

// ---- The outbox ---------------------------------------------------------------------------

each_backend! {
    fn events_are_written_only_for_enabled_subscribed_destinations_one_delivery_each(store) {
        let k = key(&store);
        // Nothing at all when no destination would receive it.
        saved(&store, &k);
        assert_eq!(count(&store, "webhook_events"), 0);
        store
            .create_destination(new_dest(&k, &["data.updated"], true), t0())
            .unwrap();
        store
            .create_destination(new_dest(&k, &["status.updated"], false), t0())
            .unwrap();
        saved(&store, &k);
        assert_eq!(count(&store, "webhook_events"), 0);

        let (a, b) = (dest(&store, &k), dest(&store, &k));
        let id = saved(&store, &k);
        assert_eq!(count(&store, "webhook_events"), 1);
        assert_eq!(store.pending_deliveries().unwrap(), 2);
        let due = store.claim_due_deliveries(t0(), LEASE, 10).unwrap();
        let mut dests: Vec<_> = due.iter().map(|d| d.destination_id.clone()).collect();
        dests.sort();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(dests, want);
        assert_eq!(due[0].event_id, due[1].event_id);
        let snap = due[0].snapshot.as_ref().unwrap();
        assert_eq!(snap.request_id, id);
        assert_eq!(snap.status(), Status::InReview);
        // The snapshot carries the session number just assigned (the fourth of this key).
        assert_eq!(snap.session_number, 3);
        assert_eq!(due[0].request_id.as_deref(), Some(id.as_str()));
        assert_eq!(due[0].webhook_type, "status.updated");
        assert_eq!(due[0].key_id, k);
        assert_eq!(due[0].attempts, 0);
        assert_eq!(due[0].url, "https://example.com/hook");
    }
}

each_backend! {
    /// The decisions module's own writes (`save_decision`, `update_status`) enqueue their
    /// events in their transactions.
    fn a_review_through_the_decisions_api_writes_an_event_with_the_decision_after_it(store) {
        let k = key(&store);
        dest(&store, &k);
        saved(&store, &k);
        let d = decision(&k, t0());
        let id = d.request_id.clone();
        let number = store.save_decision(&d).unwrap();
        let due = store.claim_due_deliveries(t0(), LEASE, 10).unwrap();
        assert_eq!(due.len(), 2);
        let due = due
            .iter()
            .find(|x| x.request_id.as_deref() == Some(id.as_str()))
            .unwrap();
        let snap = due.snapshot.as_ref().unwrap();
        assert_eq!(snap.request_id, id);
        // The snapshot carries the session number just assigned (the second of this key).
        assert_eq!((snap.session_number, number), (2, 2));

        // A review writes a second event, with the decision as it is after the change.
        assert!(store
            .update_status(&id, &k, ReviewStatus::Approved, Some("ok"), t0())
            .unwrap()
            .is_some());
        assert_eq!(count(&store, "webhook_events"), 3);
        let due = store
            .claim_due_deliveries(t0() + Duration::seconds(1), LEASE, 10)
            .unwrap();
        assert_eq!(due.len(), 1);
        let snap = due[0].snapshot.as_ref().unwrap();
        assert_eq!(snap.status(), Status::Approved);
        assert_eq!(snap.history.len(), 1);
        assert_eq!(snap.history[0].comment.as_deref(), Some("ok"));
        // The same status again changes nothing, so no event.
        assert!(store
            .update_status(&id, &k, ReviewStatus::Approved, None, t0())
            .unwrap()
            .is_some());
        assert_eq!(count(&store, "webhook_events"), 3);
    }
}

each_backend! {
    fn a_claim_leases_its_deliveries_and_they_come_back_after_the_lease(store) {
        let k = key(&store);
        dest(&store, &k);
        saved(&store, &k);
        let first = store.claim_due_deliveries(t0(), LEASE, 10).unwrap();
        assert_eq!(first.len(), 1);
        // A second deliverer, before the lease runs out: nothing.
        assert!(store
            .claim_due_deliveries(t0() + LEASE - Duration::seconds(1), LEASE, 10)
            .unwrap()
            .is_empty());
        // The first crashed without reporting: after the lease, it is taken again (at least once).
        let again = store.claim_due_deliveries(t0() + LEASE, LEASE, 10).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].delivery_id, first[0].delivery_id);
        assert_eq!(again[0].event_id, first[0].event_id);
        // `limit` is honoured, oldest first.
        saved_at(&store, &k, t0() + Duration::seconds(1));
        let later = t0() + Duration::hours(1);
        let one = store.claim_due_deliveries(later, LEASE, 1).unwrap();
        assert_eq!(one[0].delivery_id, first[0].delivery_id);
    }
}

each_backend! {
    fn a_disabled_destination_keeps_its_deliveries_pending(store) {
        let k = key(&store);
        let d = dest(&store, &k);
        saved(&store, &k);
        let off = DestinationUpdate {
            enabled: Some(false),
            ..DestinationUpdate::default()
        };
        store
            .update_destination(&d, &k, off, t0())
            .unwrap()
            .unwrap();
        assert!(store
            .claim_due_deliveries(t0(), LEASE, 10)
            .unwrap()
            .is_empty());
        assert_eq!(store.pending_deliveries().unwrap(), 1);
        let on = DestinationUpdate {
            enabled: Some(true),
            ..DestinationUpdate::default()
        };
        store.update_destination(&d, &k, on, t0()).unwrap().unwrap();
        assert_eq!(
            store.claim_due_deliveries(t0(), LEASE, 10).unwrap().len(),
            1
        );
    }
}

each_backend! {
    fn record_attempt_moves_a_delivery_through_retry_backoff_delivery_and_give_up(store) {
        let k = key(&store);
        let d = dest(&store, &k);
        saved(&store, &k);
        saved(&store, &k);
        // Two deliveries due: one claimed (which of two made at the same instant is the
        // databases' business), the other left.
        let due = store.claim_due_deliveries(t0(), LEASE, 1).unwrap();
        assert_eq!(due.len(), 1);
        let first = &due[0].delivery_id;
        let id = due[0].request_id.clone().unwrap();

        // 500: retry in 10 s; the destination backs off until then, so the other delivery, due
        // now, is not taken either.
        let retry = t0() + Duration::seconds(10);
        store
            .record_attempt(
                first,
                &record(Some(500)),
                AttemptOutcome::RetryAt(retry),
                false,
                t0(),
            )
            .unwrap();
        assert_eq!(
            state(&store, first),
            ("pending".into(), 1, Some(nanos(retry)))
        );
        assert!(store
            .claim_due_deliveries(t0() + Duration::seconds(9), LEASE, 10)
            .unwrap()
            .is_empty());
        let both = store.claim_due_deliveries(retry, LEASE, 10).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(both[0].attempts, 1);

        // A retry far away backs the destination off for at most 60 s.
        let far = retry + Duration::hours(1);
        store
            .record_attempt(
                first,
                &record(None),
                AttemptOutcome::RetryAt(far),
                false,
                retry,
            )
            .unwrap();
        assert_eq!(
            backoff_until(&store, &d),
            Some(nanos(retry + Duration::seconds(60)))
        );
        let log = store.session_attempts(&id, &k).unwrap().unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].next_try_at, Some(far));
        assert_eq!(log[0].response_status, None);
        assert_eq!(log[1].response_status, Some(500));
        assert_eq!(log[0].delivery_state, "pending");

        // Delivered: done, and the destination's backoff is cleared.
        let at = retry + Duration::seconds(61);
        store
            .record_attempt(
                first,
                &record(Some(200)),
                AttemptOutcome::Delivered,
                false,
                at,
            )
            .unwrap();
        assert_eq!(state(&store, first), ("delivered".into(), 3, None));
        assert_eq!(backoff_until(&store, &d), None);
        // A late retry report for it (a lease that ran out) does not undo that.
        store
            .record_attempt(
                first,
                &record(Some(500)),
                AttemptOutcome::RetryAt(far),
                false,
                at,
            )
            .unwrap();
        assert_eq!(state(&store, first), ("delivered".into(), 3, None));
        assert_eq!(
            store.session_attempts(&id, &k).unwrap().unwrap()[0].next_try_at,
            None
        );

        // Give up: failed. A resend that fails leaves it so; one that succeeds delivers it.
        let other = &both
            .iter()
            .find(|x| &x.delivery_id != first)
            .unwrap()
            .delivery_id;
        store
            .record_attempt(other, &record(Some(404)), AttemptOutcome::GiveUp, false, at)
            .unwrap();
        assert_eq!(state(&store, other), ("failed".into(), 1, None));
        store
            .record_attempt(other, &record(Some(500)), AttemptOutcome::GiveUp, true, at)
            .unwrap();
        assert_eq!(state(&store, other), ("failed".into(), 1, None));
        store
            .record_attempt(
                other,
                &record(Some(200)),
                AttemptOutcome::Delivered,
                true,
                at,
            )
            .unwrap();
        assert_eq!(state(&store, other), ("delivered".into(), 1, None));
        assert!(matches!(
            store.record_attempt("nope", &record(None), AttemptOutcome::GiveUp, false, at),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(store.pending_deliveries().unwrap(), 0);

        let stats = store.destination_stats(&d).unwrap();
        assert_eq!(stats.total_deliveries, 7);
        assert_eq!(stats.failed_deliveries, 5);
        assert_eq!(stats.min_response_time_ms, Some(12));
        assert_eq!(stats.last_delivery_at, Some(at));
    }
}

each_backend! {
    fn a_resend_that_fails_leaves_a_pending_schedule_alone_and_long_bodies_are_cut(store) {
        let k = key(&store);
        dest(&store, &k);
        let id = saved(&store, &k);
        let due = store.claim_due_deliveries(t0(), LEASE, 1).unwrap();
        let delivery = &due[0].delivery_id;
        let before = state(&store, delivery);
        let long = AttemptRecord {
            response_body: Some("é".repeat(1000)),
            ..record(Some(503))
        };
        let retry = t0() + Duration::seconds(5);
        store
            .record_attempt(delivery, &long, AttemptOutcome::RetryAt(retry), true, t0())
            .unwrap();
        assert_eq!(state(&store, delivery), before);
        let body: String = store
            .run(|c| {
                c.query_one("SELECT response_body FROM webhook_attempts", args![], |r| {
                    r.get(0)
                })
            })
            .unwrap();
        assert_eq!(body, "é".repeat(512));
        let log = store.session_attempts(&id, &k).unwrap().unwrap();
        assert!(log[0].resend);
        assert_eq!(log[0].next_try_at, None);
    }
}

// ---- The log ------------------------------------------------------------------------------

each_backend! {
    fn the_log_is_the_decision_owners_alone_newest_first(store) {
        let (a, b) = (key(&store), key(&store));
        let d = dest(&store, &a);
        let mine = saved(&store, &a);
        let also_mine = saved(&store, &a);
        let theirs = saved(&store, &b);
        assert!(store
            .session_attempts(&mine, &a)
            .unwrap()
            .unwrap()
            .is_empty());
        let due = store.claim_due_deliveries(t0(), LEASE, 10).unwrap();
        assert_eq!(due.len(), 2);
        let of = |id: &str| {
            due.iter()
                .find(|d| d.request_id.as_deref() == Some(id))
                .unwrap()
        };
        let first = store
            .record_attempt(
                &of(&mine).delivery_id,
                &record(Some(500)),
                AttemptOutcome::RetryAt(t0() + Duration::seconds(1)),
                false,
                t0(),
            )
            .unwrap();
        let second = store
            .record_attempt(
                &of(&mine).delivery_id,
                &AttemptRecord {
                    request_url: "https://example.com/second".into(),
                    ..record(Some(200))
                },
                AttemptOutcome::Delivered,
                false,
                t0() + Duration::seconds(1),
            )
            .unwrap();
        let elsewhere = store
            .record_attempt(
                &of(&also_mine).delivery_id,
                &record(Some(200)),
                AttemptOutcome::Delivered,
                false,
                t0(),
            )
            .unwrap();

        let log = store.session_attempts(&mine, &a).unwrap().unwrap();
        let ids: Vec<_> = log.iter().map(|l| l.id.clone()).collect();
        assert_eq!(ids, [second.clone(), first.clone()]);
        assert!(log.iter().all(|l| l.delivery_state == "delivered"
            && l.destination_id == d
            && l.session_id.as_deref() == Some(mine.as_str())
            && l.webhook_type == "status.updated"));
        // Another key, an unknown id, another decision's attempt: nothing.
        assert!(store.session_attempts(&mine, &b).unwrap().is_none());
        assert!(store.session_attempts("no-such", &a).unwrap().is_none());
        assert!(store
            .session_attempts(&theirs, &b)
            .unwrap()
            .unwrap()
            .is_empty());
        assert!(store.session_attempt(&mine, &first, &b).unwrap().is_none());
        assert!(store
            .session_attempt(&mine, &elsewhere, &a)
            .unwrap()
            .is_none());
        assert!(store
            .resend_target(&mine, &elsewhere, &a)
            .unwrap()
            .is_none());
        assert!(store.resend_target(&mine, &first, &b).unwrap().is_none());
        assert_eq!(
            store
                .session_attempt(&mine, &first, &a)
                .unwrap()
                .unwrap()
                .id,
            first
        );
        // A resend goes to the URL the attempt went to, with the same event.
        let target = store.resend_target(&mine, &second, &a).unwrap().unwrap();
        assert_eq!(target.url, "https://example.com/second");
        assert_eq!(target.event_id, of(&mine).event_id);
        assert_eq!(target.delivery_id, of(&mine).delivery_id);

        let by_dest = store.destination_attempts(&d, &a, 2).unwrap().unwrap();
        assert_eq!(by_dest.len(), 2);
        assert_eq!(by_dest[0].id, second);
        assert_eq!(
            store
                .destination_attempts(&d, &a, 1000)
                .unwrap()
                .unwrap()
                .len(),
            3
        );
    }
}

each_backend! {
    fn a_test_event_is_claimed_at_once_and_goes_to_that_destination_only(store) {
        let k = key(&store);
        let d = dest(&store, &k);
        dest(&store, &k);
        let due = store
            .enqueue_test_event(&d, &k, t0(), LEASE)
            .unwrap()
            .unwrap();
        assert_eq!(due.destination_id, d);
        assert_eq!(due.snapshot, None);
        assert_eq!(due.request_id, None);
        assert_eq!(due.webhook_type, "status.updated");
        assert_eq!(store.pending_deliveries().unwrap(), 1);
        assert!(store
            .claim_due_deliveries(t0(), LEASE, 10)
            .unwrap()
            .is_empty());
        assert!(store
            .enqueue_test_event("no-such", &k, t0(), LEASE)
            .unwrap()
            .is_none());
    }
}

each_backend! {
    fn deleting_a_destination_takes_its_deliveries_and_log_and_leaves_the_others(store) {
        let k = key(&store);
        let (gone, kept) = (dest(&store, &k), dest(&store, &k));
        let id = saved(&store, &k);
        for due in store.claim_due_deliveries(t0(), LEASE, 10).unwrap() {
            store
                .record_attempt(
                    &due.delivery_id,
                    &record(Some(200)),
                    AttemptOutcome::Delivered,
                    false,
                    t0(),
                )
                .unwrap();
        }
        saved(&store, &k);
        assert!(store.delete_destination(&gone, &k).unwrap());
        assert_eq!(count(&store, "webhook_deliveries"), 2);
        let log = store.session_attempts(&id, &k).unwrap().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].destination_id, kept);
        assert_eq!(store.pending_deliveries().unwrap(), 1);
        // The last destination gone, its events go too.
        assert!(store.delete_destination(&kept, &k).unwrap());
        assert_eq!(count(&store, "webhook_events"), 0);
        assert_eq!(count(&store, "webhook_attempts"), 0);
    }
}

// ---- Retention ----------------------------------------------------------------------------

each_backend! {
    fn the_event_purge_takes_old_finished_events_and_never_a_pending_one(store) {
        let k = key(&store);
        dest(&store, &k);
        let old = t0() - Duration::days(100);
        let finished = saved_at(&store, &k, old);
        let pending = saved_at(&store, &k, old + Duration::seconds(1));
        let young = saved_at(&store, &k, t0());
        for due in store.claim_due_deliveries(t0(), LEASE, 10).unwrap() {
            if due.request_id.as_deref() != Some(pending.as_str()) {
                store
                    .record_attempt(
                        &due.delivery_id,
                        &record(Some(200)),
                        AttemptOutcome::Delivered,
                        false,
                        t0(),
                    )
                    .unwrap();
            }
        }
        let cutoff = t0() - Duration::days(30);
        assert!(matches!(
            store.purge_webhook_events_older_than(cutoff, 0),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(
            store.purge_webhook_events_older_than(cutoff, 500).unwrap(),
            1
        );
        assert_eq!(
            store.purge_webhook_events_older_than(cutoff, 500).unwrap(),
            0
        );
        assert!(store
            .session_attempts(&finished, &k)
            .unwrap()
            .unwrap()
            .is_empty());
        assert_eq!(
            store.session_attempts(&young, &k).unwrap().unwrap().len(),
            1
        );
        assert_eq!(count(&store, "webhook_events"), 2);
        assert_eq!(store.pending_deliveries().unwrap(), 1);
        // The decisions themselves are the decision purge's business.
        let kept: i64 = store
            .run(|c| {
                c.query_one(
                    "SELECT count(*) FROM decisions WHERE request_id = ?1",
                    args![&finished],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(kept, 1);
    }
}

// ---- Replicas (PostgreSQL) ----------------------------------------------------------------

/// Two stores on one fresh PostgreSQL database, as two replicas (each with its own pool and,
/// unless told otherwise, its own random webhook key).
fn replicas() -> (Store, Store) {
    let url = crate::test_backends::postgres_url();
    let open = || {
        Store::connect_postgres(
            &url,
            &crate::PostgresOptions::default(),
            crate::Migrate::Apply,
        )
        .unwrap()
    };
    (open(), open())
}

/// Two replicas, two deliverer threads each, claiming 200 due deliveries at once in small
/// batches: every delivery is handed out exactly once (none twice, none missed), and each
/// claimed one carries its lease.
#[test]
fn replicas_claiming_at_once_take_each_due_delivery_exactly_once() {
    let (a, b) = replicas();
    let k = key(&a);
    // Two destinations, one made on each replica: 100 events, 200 deliveries.
    dest(&a, &k);
    dest(&b, &k);
    for i in 0..100 {
        saved_at(&a, &k, t0() + Duration::milliseconds(i));
    }
    assert_eq!(b.pending_deliveries().unwrap(), 200);
    let now = t0() + Duration::seconds(1);
    let claims: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = [&a, &a, &b, &b]
            .into_iter()
            .map(|store| {
                s.spawn(move || {
                    let mut mine = Vec::new();
                    // Until a claim finds nothing: rows another claim holds locked are either
                    // leased by it or, if it is retried, taken by it again.
                    loop {
                        let due = store.claim_due_deliveries(now, LEASE, 7).unwrap();
                        if due.is_empty() {
                            break;
                        }
                        mine.extend(due.into_iter().map(|d| d.delivery_id));
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<&String> = claims.iter().flatten().collect();
    let distinct: std::collections::HashSet<&String> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "a delivery was claimed twice");
    assert_eq!(all.len(), 200, "a due delivery was not claimed");
    let leased: i64 = a
        .run(|c| {
            c.query_one(
                "SELECT count(*) FROM webhook_deliveries WHERE next_attempt_at = ?1",
                args![nanos(now + LEASE)],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert_eq!(leased, 200);
    assert!(b
        .claim_due_deliveries(now + LEASE - Duration::seconds(1), LEASE, 1000)
        .unwrap()
        .is_empty());
}

/// Two replicas creating destinations for one key at once, four threads each: exactly
/// [`MAX_DESTINATIONS_PER_OWNER`] are made, every other creation is a `Conflict`. A replica
/// with another webhook key cannot open the secrets the other sealed (a typed error).
#[test]
fn replicas_creating_at_once_never_exceed_the_destination_limit() {
    let (a, b) = replicas();
    let k = key(&a);
    let results: Vec<Result<String, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = [&a, &a, &a, &a, &b, &b, &b, &b]
            .into_iter()
            .map(|store| {
                let k = &k;
                s.spawn(move || {
                    (0..5)
                        .map(|_| {
                            store
                                .create_destination(new_dest(k, &["status.updated"], true), t0())
                                .map(|(d, _)| d.id)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let made: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(made.len(), MAX_DESTINATIONS_PER_OWNER);
    for r in &results {
        assert!(
            matches!(r, Ok(_) | Err(StoreError::Conflict(_))),
            "unexpected {r:?}"
        );
    }
    assert_eq!(
        count(&b, "webhook_destinations"),
        i64::try_from(MAX_DESTINATIONS_PER_OWNER).unwrap()
    );
    let theirs = b.list_destinations(&k).unwrap();
    assert_eq!(theirs.len(), MAX_DESTINATIONS_PER_OWNER);
    let (mut on_a, mut on_b) = (0, 0);
    for d in &theirs {
        match (a.destination_secret(&d.id), b.destination_secret(&d.id)) {
            (Ok(Some(_)), Err(StoreError::WebhookKey(WebhookKeyError::Unseal))) => on_a += 1,
            (Err(StoreError::WebhookKey(WebhookKeyError::Unseal)), Ok(Some(_))) => on_b += 1,
            other => panic!("destination {}: {other:?}", d.id),
        }
    }
    assert_eq!(on_a + on_b, MAX_DESTINATIONS_PER_OWNER);
}
