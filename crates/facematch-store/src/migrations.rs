//! Embedded schema migrations, tracked in SQLite's `user_version`.
//!
//! Each entry is applied once, in order, inside one `IMMEDIATE` transaction together with the
//! version bump, so two processes opening a fresh database at the same time cannot both apply it,
//! and a crash mid-migration leaves the previous version intact. Never edit a released migration:
//! append a new file.

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

/// `(name, sql)` in order; migration `i` brings the schema to version `i + 1`.
pub(crate) const MIGRATIONS: &[(&str, &str)] =
    &[("0001_init", include_str!("../migrations/0001_init.sql"))];

/// Schema version this build expects after [`migrate`].
pub(crate) const SCHEMA_VERSION: usize = MIGRATIONS.len();

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let current = usize::try_from(current)
        .map_err(|_| StoreError::Migration(format!("invalid schema version {current}")))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Migration(format!(
            "database schema version {current} is newer than this build supports \
             ({SCHEMA_VERSION}); upgrade facematch"
        )));
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Migration(format!("{name}: {e}")))?;
        // PRAGMA cannot take bound parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()?;
    Ok(())
}
