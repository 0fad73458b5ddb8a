//! Embedded schema migrations: SQLite's tracked in its `user_version`, PostgreSQL's in the
//! table `facematch_schema`; both numbered alike (a version is the same tables on either).
//!
//! Each entry is applied once, in order, inside one transaction together with the version bump
//! (SQLite: `IMMEDIATE`; PostgreSQL: under an advisory lock, DDL being transactional there), so
//! two processes opening a fresh database at the same time cannot both apply it, and a crash
//! mid-migration leaves the previous version intact. Never edit a released migration: append a
//! new file to both lists.

use rusqlite::{Connection, TransactionBehavior};

use crate::backend::postgres::PostgresDatabase;
use crate::StoreError;

/// What opening a database does with a schema older than this build's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrate {
    /// Apply every pending migration (`facematch db migrate`, `serve --migrate`).
    Apply,
    /// Create the schema in an empty database, but refuse an older one with
    /// [`StoreError::SchemaOutdated`]: upgrading a shared database is the operator's step, taken
    /// once, not a side effect of whichever replica starts first.
    IfEmpty,
}

/// `(version, name, sql)` for PostgreSQL: support starts at version 4, the whole schema in one
/// file; later versions are appended here and to [`MIGRATIONS`] together.
pub(crate) const POSTGRES_MIGRATIONS: &[(usize, &str, &str)] = &[
    (
        4,
        "0004_schema",
        include_str!("../migrations/postgres/0004_schema.sql"),
    ),
    (
        5,
        "0005_console",
        include_str!("../migrations/postgres/0005_console.sql"),
    ),
];

/// The schema version this build reads and writes.
pub(crate) const LATEST: usize = MIGRATIONS.len();

/// Brings a PostgreSQL database to [`LATEST`] under `policy`.
pub(crate) fn migrate_postgres(db: &PostgresDatabase, policy: Migrate) -> Result<(), StoreError> {
    db.migrate(POSTGRES_MIGRATIONS, LATEST, policy)
}

/// Refuses a schema newer than `latest`, or an older non-empty one under [`Migrate::IfEmpty`].
pub(crate) fn check_version(
    current: usize,
    latest: usize,
    policy: Migrate,
) -> Result<(), StoreError> {
    if current > latest {
        return Err(StoreError::Migration(format!(
            "database schema version {current} is newer than this build supports \
             ({latest}); upgrade facematch"
        )));
    }
    if policy == Migrate::IfEmpty && current > 0 && current < latest {
        return Err(StoreError::SchemaOutdated { current, latest });
    }
    Ok(())
}

/// `(name, sql)` in order; migration `i` brings the schema to version `i + 1`.
pub(crate) const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/0001_init.sql")),
    (
        "0002_accounts",
        include_str!("../migrations/0002_accounts.sql"),
    ),
    (
        "0003_retention",
        include_str!("../migrations/0003_retention.sql"),
    ),
    (
        "0004_sessions_webhooks",
        include_str!("../migrations/0004_sessions_webhooks.sql"),
    ),
    (
        "0005_console",
        include_str!("../migrations/0005_console.sql"),
    ),
];

/// Brings an SQLite database to [`LATEST`] under `policy`.
pub(crate) fn migrate_sqlite(conn: &mut Connection, policy: Migrate) -> Result<(), StoreError> {
    migrate_with_policy(conn, MIGRATIONS, policy)
}

/// [`migrate_sqlite`] with the list given (the tests run lists of their own, failing ones
/// included), applying every pending migration.
#[cfg(test)]
pub(crate) fn migrate_with(
    conn: &mut Connection,
    migrations: &[(&str, &str)],
) -> Result<(), StoreError> {
    migrate_with_policy(conn, migrations, Migrate::Apply)
}

fn migrate_with_policy(
    conn: &mut Connection,
    migrations: &[(&str, &str)],
    policy: Migrate,
) -> Result<(), StoreError> {
    let latest = migrations.len();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let current = usize::try_from(current)
        .map_err(|_| StoreError::Migration(format!("invalid schema version {current}")))?;
    check_version(current, latest, policy)?;
    for (i, (name, sql)) in migrations.iter().enumerate().skip(current) {
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Migration(format!("{name}: {e}")))?;
        // PRAGMA cannot take bound parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const A: (&str, &str) = ("0001_a", "CREATE TABLE a (x INTEGER);");
    /// Creates two tables, then fails half-way (the table it inserts into does not exist).
    const B_FAILS: (&str, &str) = (
        "0002_b",
        "CREATE TABLE b (x INTEGER); CREATE TABLE c (y INTEGER); \
         INSERT INTO missing VALUES (1); CREATE TABLE d (z INTEGER);",
    );
    const B_FIXED: (&str, &str) = ("0002_b", "CREATE TABLE b (x INTEGER);");

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let names = stmt.query_map([], |r| r.get(0)).unwrap();
        names.collect::<Result<_, _>>().unwrap()
    }

    /// A migration that fails half-way leaves the database as it was before `migrate` ran: the
    /// previous `user_version`, none of the failing migration's tables, and (the whole run is one
    /// transaction) none of the tables of migrations that succeeded earlier in the same run. A
    /// later run with the migration fixed applies it.
    #[test]
    fn a_failed_migration_leaves_the_previous_version_and_no_partial_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn = Connection::open(&path).unwrap();
        migrate_with(&mut conn, &[A]).unwrap();
        assert_eq!((version(&conn), tables(&conn)), (1, vec!["a".to_owned()]));

        let err = migrate_with(&mut conn, &[A, B_FAILS]).unwrap_err();
        match err {
            StoreError::Migration(message) => {
                assert!(message.starts_with("0002_b: "), "{message}");
                assert!(message.contains("missing"), "{message}");
            }
            other => panic!("expected a migration error, got {other:?}"),
        }
        // Seen from this connection and from a fresh one (what was committed).
        for conn in [&conn, &Connection::open(&path).unwrap()] {
            assert_eq!((version(conn), tables(conn)), (1, vec!["a".to_owned()]));
        }

        // From scratch: the first migration's table is rolled back with the failing one.
        let mut fresh = Connection::open(dir.path().join("fresh.db")).unwrap();
        assert!(matches!(
            migrate_with(&mut fresh, &[A, B_FAILS]),
            Err(StoreError::Migration(_))
        ));
        assert_eq!((version(&fresh), tables(&fresh)), (0, Vec::<String>::new()));

        migrate_with(&mut conn, &[A, B_FIXED]).unwrap();
        assert_eq!(
            (version(&conn), tables(&conn)),
            (2, vec!["a".to_owned(), "b".to_owned()])
        );
        // Nothing left to apply: a second run changes nothing.
        migrate_with(&mut conn, &[A, B_FIXED]).unwrap();
        assert_eq!(version(&conn), 2);
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_with(&mut conn, &[A, B_FIXED]).unwrap();
        match migrate_with(&mut conn, &[A]) {
            Err(StoreError::Migration(message)) => {
                assert!(message.contains("version 2 is newer"), "{message}");
            }
            other => panic!("expected a migration error, got {other:?}"),
        }
        assert_eq!(version(&conn), 2);
    }
}
