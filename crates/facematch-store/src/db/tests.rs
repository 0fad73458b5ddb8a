#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Instant;

use super::*;
use crate::{AuthError, NewKey};

/// A database file with one key of 5 credits, opened with `busy_timeout`; and a second,
/// plain connection to the same file (another process, such as the CLI).
fn store_and_other(dir: &tempfile::TempDir, busy_timeout: Duration) -> (Store, String, Connection) {
    let path = dir.path().join("fm.db");
    let store = open_file_with(&path, busy_timeout, Migrate::Apply).unwrap();
    let id = store
        .create_key(NewKey {
            name: "busy".into(),
            credits: 5,
            admin: false,
            expires_at: None,
            account_id: None,
        })
        .unwrap()
        .record
        .id;
    (store, id, Connection::open(&path).unwrap())
}

fn is_busy(result: &Result<bool, AuthError>) -> bool {
    matches!(result, Err(AuthError::Store(StoreError::Sqlite(e)))
        if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy))
}

/// Mode bits (permission part) of `path`.
#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn the_database_and_its_wal_and_shm_files_are_0600() {
    let dir = tempfile::tempdir().unwrap();
    // The umask this test runs under: a typical 0o022 makes plain files 0644.
    let probe = dir.path().join("probe");
    std::fs::write(&probe, b"").unwrap();
    let umask_mode = mode_of(&probe);
    let (store, id, _other) = store_and_other(&dir, BUSY_TIMEOUT);
    // One more write through the store, after the open.
    assert!(store.reserve_credit(&id).unwrap());
    let path = dir.path().join("fm.db");
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        assert!(file.exists(), "{} exists", file.display());
        assert_eq!(
            mode_of(&file),
            0o600,
            "{} (plain files here are {umask_mode:o})",
            file.display()
        );
    }
}

#[cfg(unix)]
#[test]
fn an_existing_world_readable_database_is_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    drop(open_file(&path).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = open_file(&path).unwrap();
    assert_eq!(mode_of(&path), 0o600);
}

#[test]
fn a_store_waits_five_seconds_for_another_connections_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("fm.db")).unwrap();
    let ms: i64 = store
        .run(|c| c.query_one("PRAGMA busy_timeout", &[], |r| r.get(0)))
        .unwrap();
    assert_eq!(ms, 5000);
    assert_eq!(BUSY_TIMEOUT, Duration::from_secs(5));
}

/// Another connection holds the write lock for longer than the busy timeout: a write waits
/// the whole timeout, then fails with SQLite's busy error (a 500 for the server, never a
/// wrong balance); reads go on meanwhile (WAL); once the lock is gone, the same store
/// writes again. Without a timeout the write fails at once.
#[test]
fn a_write_lock_held_past_the_timeout_is_a_busy_error_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_millis(300);
    let (store, id, other) = store_and_other(&dir, timeout);
    other
        .execute_batch("BEGIN IMMEDIATE; UPDATE api_keys SET credits = 9;")
        .unwrap();

    let started = Instant::now();
    let result = store.reserve_credit(&id);
    let waited = started.elapsed();
    assert!(is_busy(&result), "{result:?}");
    assert!(waited >= timeout, "gave up after {waited:?}");
    // The uncommitted write is invisible, and reading does not wait for the lock.
    assert_eq!(store.balance(&id).unwrap(), 5);

    other.execute_batch("ROLLBACK").unwrap();
    assert!(store.reserve_credit(&id).unwrap());
    assert_eq!(store.balance(&id).unwrap(), 4);

    let dir = tempfile::tempdir().unwrap();
    let (store, id, other) = store_and_other(&dir, Duration::ZERO);
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let result = store.reserve_credit(&id);
    assert!(is_busy(&result), "{result:?}");
}

/// Another connection holds the write lock for less than the busy timeout: the write waits
/// for it and then succeeds, on top of what the other connection committed.
#[test]
fn a_write_lock_released_within_the_timeout_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id, other) = store_and_other(&dir, BUSY_TIMEOUT);
    other
        .execute_batch("BEGIN IMMEDIATE; UPDATE api_keys SET credits = 9;")
        .unwrap();
    let (calling_tx, calling_rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        calling_tx.send(()).unwrap();
        let result = store.reserve_credit(&id);
        (result, store.balance(&id))
    });
    calling_rx.recv().unwrap();
    // The lock stays held a while after the waiter starts its write (the contention this
    // test is about; 200 ms against a 5 s timeout). Were the waiter descheduled for longer
    // than that before its write, it would find no lock and still pass: this sleep cannot
    // make the test fail, only, rarely, not exercise the wait.
    std::thread::sleep(Duration::from_millis(200));
    other.execute_batch("COMMIT").unwrap();
    let (result, balance) = waiter.join().unwrap();
    assert!(result.unwrap());
    assert_eq!(balance.unwrap(), 8);
}
