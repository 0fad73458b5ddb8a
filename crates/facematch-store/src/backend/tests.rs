//! The backends' own promises: one sweeper at a time, fail-fast when the database is gone,
//! migrations applied once by replicas starting together, and a schema version checked.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use facematch_testkit::TestCluster;

use crate::test_backends::{postgres_url, sqlite_store};
use crate::{Migrate, PostgresOptions, Store, StoreError};

fn connect(url: &str, migrate: Migrate) -> Result<Store, StoreError> {
    Store::connect_postgres(url, &PostgresOptions::default(), migrate)
}

#[test]
fn one_replica_at_a_time_holds_an_exclusive_lock() {
    let url = postgres_url();
    let a = connect(&url, Migrate::Apply).unwrap();
    let b = connect(&url, Migrate::Apply).unwrap();
    let mut inner_ran = None;
    let ran = a
        .exclusive(42, || {
            inner_ran = Some(b.exclusive(42, || Ok(())).unwrap());
            Ok(())
        })
        .unwrap();
    assert!(ran);
    assert_eq!(
        inner_ran,
        Some(false),
        "a second replica entered a held lock"
    );
    assert!(
        b.exclusive(42, || Ok(())).unwrap(),
        "the lock was not released"
    );
    // A failing body releases the lock too.
    assert!(a
        .exclusive(42, || Err(StoreError::Internal("x".into())))
        .is_err());
    assert!(b.exclusive(42, || Ok(())).unwrap());
    // SQLite: one process per file, the body always runs.
    assert!(sqlite_store().exclusive(42, || Ok(())).unwrap());
}

#[test]
fn replicas_starting_together_apply_each_migration_once() {
    let url = postgres_url();
    let stores: Vec<Store> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| connect(&url, Migrate::IfEmpty)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    let versions = stores[0]
        .run(|c| {
            c.query_map(
                "SELECT version FROM facematch_schema ORDER BY version",
                &[],
                |r| r.get::<i64>(0),
            )
        })
        .unwrap();
    // Each PostgreSQL migration recorded exactly once (support starts at version 4), the
    // last one this build's version.
    let expected: Vec<i64> = crate::migrations::POSTGRES_MIGRATIONS
        .iter()
        .map(|(version, _, _)| i64::try_from(*version).unwrap())
        .collect();
    assert_eq!(versions, expected);
    assert_eq!(
        versions.last().copied(),
        Some(i64::try_from(crate::SCHEMA_VERSION).unwrap())
    );
}

#[test]
fn a_newer_schema_is_refused_and_an_older_one_needs_migrate() {
    let url = postgres_url();
    let store = connect(&url, Migrate::IfEmpty).unwrap();
    store
        .run(|c| c.execute("UPDATE facematch_schema SET version = version + 1", &[]))
        .unwrap();
    let err = connect(&url, Migrate::Apply).unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");

    // SQLite at version 3: refused without --migrate, brought up to date with it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        crate::migrations::migrate_with(&mut conn, &crate::migrations::MIGRATIONS[..3]).unwrap();
    }
    match Store::open_with(&path, Migrate::IfEmpty) {
        Err(StoreError::SchemaOutdated { current, latest }) => {
            assert_eq!((current, latest), (3, crate::SCHEMA_VERSION));
        }
        other => panic!("expected SchemaOutdated, got {other:?}"),
    }
    Store::open_with(&path, Migrate::Apply).unwrap();
    Store::open_with(&path, Migrate::IfEmpty).unwrap();
    // An empty database is set up without --migrate.
    Store::open_with(&dir.path().join("new.db"), Migrate::IfEmpty).unwrap();
}

#[test]
fn an_unreachable_server_fails_fast_as_unavailable() {
    // A port nothing listens on: refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let err = connect(
        &format!("postgres://postgres@127.0.0.1:{port}/x"),
        Migrate::Apply,
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_stopped_server_gives_unavailable_within_the_timeout_and_recovers() {
    let cluster = TestCluster::start().unwrap();
    let url = cluster.create_database().unwrap();
    let options = PostgresOptions {
        acquire_timeout: Duration::from_millis(800),
        connect_timeout: Duration::from_millis(800),
        ..PostgresOptions::default()
    };
    let store = Store::connect_postgres(&url, &options, Migrate::Apply).unwrap();
    store.ping().unwrap();
    cluster.stop().unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.ping().unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        // Right after a failed wait, the next call fails at once (a request's later steps
        // do not each wait the whole timeout again).
        let started = Instant::now();
        assert!(matches!(store.ping(), Err(StoreError::Unavailable(_))));
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "the second call waited {:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(1100));
    }
    cluster.restart().unwrap();
    let started = Instant::now();
    while store.ping().is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not recover"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tls_is_used_and_verified_when_the_url_requires_it() {
    let cluster = TestCluster::start_tls().unwrap();
    let url = cluster.create_database().unwrap();
    let ca = cluster.ca_file().unwrap().to_path_buf();
    let on_tls = |store: &Store| {
        store
            .run(|c| {
                c.query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                    |r| r.get::<bool>(0),
                )
            })
            .unwrap()
    };
    // sslmode=require with the authority that signed the server: an encrypted connection.
    let with_ca = PostgresOptions {
        ca_file: Some(ca.clone()),
        ..PostgresOptions::default()
    };
    let secure =
        Store::connect_postgres(&format!("{url}?sslmode=require"), &with_ca, Migrate::Apply)
            .unwrap();
    assert!(on_tls(&secure));
    // The same server with only the public roots: its certificate is not trusted, and the
    // connection is refused rather than made unverified.
    let err = Store::connect_postgres(
        &format!("{url}?sslmode=require"),
        &PostgresOptions::default(),
        Migrate::Apply,
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    // Without sslmode=require the connection is plain, as documented.
    let plain = connect(&url, Migrate::Apply).unwrap();
    assert!(!on_tls(&plain));
    // A CA file that holds no certificate is a clear error.
    let empty = tempfile::NamedTempFile::new().unwrap();
    let bad = PostgresOptions {
        ca_file: Some(empty.path().to_path_buf()),
        ..PostgresOptions::default()
    };
    let err = Store::connect_postgres(&format!("{url}?sslmode=require"), &bad, Migrate::Apply)
        .unwrap_err();
    assert!(err.to_string().contains("no certificate"), "{err}");
}

#[test]
fn a_transaction_that_swallowed_a_failed_statement_does_not_report_a_commit() {
    let store = connect(&postgres_url(), Migrate::Apply).unwrap();
    let result: Result<(), StoreError> = store.write(|c| {
        c.execute(
            "INSERT INTO accounts (id, email, password_hash, created_at, mailbox) \
             VALUES ('a', 'a@x', 'h', 0, 'a@x')",
            &[],
        )?;
        // A duplicate key: the module "handles" the error and carries on (which a module must
        // not do inside a transaction; this is the safety net).
        let _ = c.execute(
            "INSERT INTO accounts (id, email, password_hash, created_at, mailbox) \
             VALUES ('a', 'b@x', 'h', 0, 'b@x')",
            &[],
        );
        Ok(())
    });
    let err = result.unwrap_err();
    assert!(err.to_string().contains("nothing was written"), "{err}");
    let n = store
        .run(|c| c.query_one("SELECT count(*) FROM accounts", &[], |r| r.get::<i64>(0)))
        .unwrap();
    assert_eq!(n, 0);
}
