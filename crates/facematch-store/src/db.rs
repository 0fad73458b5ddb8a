//! Opening the connection, and the small conversions every module shares.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};
use time::OffsetDateTime;

use crate::backend::postgres::PostgresDatabase;
use crate::backend::sqlite::SqliteDatabase;
use crate::sql::{Conn, Finish};
use crate::{migrations, Migrate, PostgresOptions, Store, StoreError};

/// How long a statement waits for another process's write lock (e.g. the CLI topping up credits
/// while the server runs) before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn open_file(path: &Path) -> Result<Store, StoreError> {
    open_file_with(path, BUSY_TIMEOUT, Migrate::Apply)
}

pub(crate) fn open_file_with_policy(path: &Path, migrate: Migrate) -> Result<Store, StoreError> {
    open_file_with(path, BUSY_TIMEOUT, migrate)
}

/// [`open_file`] with another busy timeout (the tests wait less than [`BUSY_TIMEOUT`]).
fn open_file_with(
    path: &Path,
    busy_timeout: Duration,
    migrate: Migrate,
) -> Result<Store, StoreError> {
    // SQLite's own spelling for an in-memory database; WAL does not apply there, and creating a
    // file named ":memory:" would surprise whoever passed it.
    if path.as_os_str() == ":memory:" {
        return open_memory();
    }
    // Create the parent folder so `--database ~/.local/share/facematch/db.sqlite` works on first
    // start; SQLite itself creates the file.
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)?;
        }
    }
    create_private(path)?;
    let conn = Connection::open(path)?;
    let store = init(conn, true, busy_timeout, migrate)?;
    // `init` has written (WAL mode, migrations): the `-wal` and `-shm` files exist now.
    tighten(path)?;
    Ok(store)
}

/// Owner read/write only: the database holds key and password hashes and every decision.
#[cfg(unix)]
const PRIVATE_MODE: u32 = 0o600;

/// Creates the database file with mode 0600 (whatever the umask) before SQLite opens it, so
/// that it is never readable by others, not even for a moment. SQLite then creates the `-wal`
/// and `-shm` files with the main file's permissions. An existing file is left to [`tighten`].
/// `file:` URIs are SQLite's to interpret and left alone.
#[cfg(unix)]
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.to_string_lossy().starts_with("file:") {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_MODE)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Removes group and other access from the database file and its `-wal` and `-shm` files
/// (a database created by an older version, or a `-shm` SQLite could not give the main
/// file's mode): each ends 0600 or narrower.
#[cfg(unix)]
fn tighten(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let mut shm = path.as_os_str().to_owned();
    shm.push("-shm");
    for file in [path.as_os_str().to_owned(), wal, shm] {
        let meta = match std::fs::metadata(&file) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & PRIVATE_MODE))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

pub(crate) fn open_memory() -> Result<Store, StoreError> {
    init(
        Connection::open_in_memory()?,
        false,
        BUSY_TIMEOUT,
        Migrate::Apply,
    )
}

fn init(
    mut conn: Connection,
    file: bool,
    busy_timeout: Duration,
    migrate: Migrate,
) -> Result<Store, StoreError> {
    conn.busy_timeout(busy_timeout)?;
    if file {
        // `journal_mode` answers with the mode in force; a file database that cannot switch to WAL
        // (e.g. on some network filesystems) would silently lose our durability/concurrency story.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Migration(format!(
                "could not enable WAL journal mode (got {mode:?})"
            )));
        }
    }
    // NORMAL is durable against process crashes in WAL mode; only an OS crash can lose the last
    // commits, which is the trade-off SQLite recommends for WAL.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Foreign keys are off by default in SQLite and per connection.
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrations::migrate_sqlite(&mut conn, migrate)?;
    let sqlite = Arc::new(SqliteDatabase::new(conn));
    Ok(Store {
        db: sqlite,
        otp: Arc::new(crate::OtpSecret::random()?),
        webhook_key: Arc::new(crate::WebhookKey::try_random()?),
        review_images_key: None,
    })
}

pub(crate) fn connect_postgres(
    url: &str,
    options: &PostgresOptions,
    migrate: Migrate,
) -> Result<Store, StoreError> {
    let db = PostgresDatabase::connect(url, options)?;
    migrations::migrate_postgres(&db, migrate)?;
    Ok(Store {
        db: Arc::new(db),
        otp: Arc::new(crate::OtpSecret::random()?),
        webhook_key: Arc::new(crate::WebhookKey::try_random()?),
        review_images_key: None,
    })
}

impl Store {
    /// Runs `f` on a connection in autocommit mode (each statement commits on its own): for
    /// reads and single-statement writes.
    pub(crate) fn run<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut f = Some(f);
        let mut out = None;
        self.db.autocommit(&mut |c| {
            if let Some(f) = f.take() {
                out = Some(f(c));
            }
            Ok(())
        })?;
        out.unwrap_or_else(|| {
            Err(StoreError::Internal("the database did not run a closure".into()).into())
        })
    }

    /// Runs `f` in one transaction that behaves as if it ran alone: committed when `f` answers
    /// `Ok`, rolled back when it answers `Err`. `f` may run more than once (PostgreSQL retries a
    /// serialization conflict), so it must have no effect outside the database.
    pub(crate) fn write<R, E: From<StoreError>>(
        &self,
        mut f: impl FnMut(&mut dyn Conn) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut out = None;
        self.db.transaction(&mut |c| {
            let r = f(c);
            let finish = if r.is_ok() {
                Finish::Commit
            } else {
                Finish::Rollback
            };
            out = Some(r);
            Ok(finish)
        })?;
        out.unwrap_or_else(|| {
            Err(StoreError::Internal("the database did not run a closure".into()).into())
        })
    }

    /// [`write`](Self::write) where `f` chooses how the transaction ends, for an answer that must
    /// keep what was written (a wrong e-mail code's attempt is counted, then refused).
    pub(crate) fn write_with<R>(
        &self,
        mut f: impl FnMut(&mut dyn Conn) -> Result<(Finish, R), StoreError>,
    ) -> Result<R, StoreError> {
        let mut out = None;
        self.db.transaction(&mut |c| {
            let (finish, r) = f(c)?;
            out = Some(r);
            Ok(finish)
        })?;
        out.ok_or_else(|| StoreError::Internal("the database did not run a closure".into()))
    }
}

/// Current time, for `created_at` of rows whose API takes no `now`.
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Timestamp to stored integer (Unix nanoseconds; fits years 1677–2262).
pub(crate) fn to_nanos(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos())
        .map_err(|_| StoreError::Invalid(format!("timestamp out of range: {t}")))
}

/// Optional timestamp to stored integer.
pub(crate) fn opt_to_nanos(t: Option<OffsetDateTime>) -> Result<Option<i64>, StoreError> {
    t.map(to_nanos).transpose()
}

/// Which constraint a failed statement violated, so callers can turn it into `Conflict` or
/// `NotFound` instead of an opaque database error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// UNIQUE or PRIMARY KEY.
    Unique,
    /// FOREIGN KEY.
    ForeignKey,
}

pub(crate) fn violation(e: &rusqlite::Error) -> Option<Violation> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            match f.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => Some(Violation::Unique),
                rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Violation::ForeignKey),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Which constraint a failed statement violated, on either database.
pub(crate) fn store_violation(e: &StoreError) -> Option<Violation> {
    match e {
        StoreError::Sqlite(e) => violation(e),
        StoreError::Postgres(e) => {
            let code = e.code()?;
            if *code == postgres::error::SqlState::UNIQUE_VIOLATION {
                Some(Violation::Unique)
            } else if *code == postgres::error::SqlState::FOREIGN_KEY_VIOLATION {
                Some(Violation::ForeignKey)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// SHA-256 of a secret (API key or e-mail code), as stored.
pub(crate) fn sha256(s: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes()).into()
}

/// Constant-time equality of a computed hash and a stored one: no early exit that would let a
/// caller learn, by timing, how many leading bytes of a guess were right.
pub(crate) fn hash_eq(computed: &[u8; 32], stored: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    // Length is not secret (always 32 for rows we wrote); ct_eq on slices of different lengths
    // returns false anyway.
    bool::from(computed.as_slice().ct_eq(stored))
}

/// The comparison of secrets' hashes (the key-timing property, pinned where it lives).
#[cfg(test)]
mod hash_eq_tests;

#[cfg(test)]
mod tests;
