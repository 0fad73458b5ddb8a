//! SQLite: one connection behind a mutex.
//!
//! SQLite serializes writers anyway, our statements are tiny, and a single connection makes every
//! multi-statement operation atomic within this process; against *other* processes (the CLI
//! editing keys while the server runs) each write is a single conditional statement or a
//! `BEGIN IMMEDIATE` transaction, which takes the file's write lock up front.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use crate::sql::{Arg, Conn, Database, Dialect, Finish, Row, Value};
use crate::StoreError;

/// Statements kept prepared per connection (every query the modules run fits).
const STATEMENT_CACHE: usize = 128;

/// The embedded database.
pub(crate) struct SqliteDatabase {
    conn: Mutex<Connection>,
}

impl fmt::Debug for SqliteDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteDatabase").finish_non_exhaustive()
    }
}

impl SqliteDatabase {
    /// Wraps an open, configured and migrated connection.
    pub(crate) fn new(conn: Connection) -> SqliteDatabase {
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        SqliteDatabase {
            conn: Mutex::new(conn),
        }
    }

    /// The shared connection. A panic while it was held cannot leave a half-done write behind
    /// (an open transaction is rolled back before the next use), so a poisoned lock is safe to
    /// reuse.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if !conn.is_autocommit() {
            // Left open by a panic inside a transaction: undo it before anyone else writes.
            let _ = conn.execute_batch("ROLLBACK");
        }
        conn
    }
}

impl Database for SqliteDatabase {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn autocommit(
        &self,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.lock();
        f(&mut SqliteConn(&conn))
    }

    fn transaction(
        &self,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<Finish, StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(&mut SqliteConn(&conn)) {
            Ok(Finish::Commit) => {
                if let Err(e) = conn.execute_batch("COMMIT") {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(e.into());
                }
                Ok(())
            }
            Ok(Finish::Rollback) => Ok(conn.execute_batch("ROLLBACK")?),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn ping(&self) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    fn exclusive(
        &self,
        _lock: i64,
        f: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<bool, StoreError> {
        // One server process owns an SQLite file; a second one sweeping too would only find
        // nothing left to do (every sweep is a bounded, idempotent DELETE).
        f()?;
        Ok(true)
    }
}

/// A borrowed connection (or the transaction open on it).
pub(crate) struct SqliteConn<'c>(pub(crate) &'c Connection);

impl Conn for SqliteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<usize, StoreError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(args.iter()))?)
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Real(v),
                    ValueRef::Text(t) => Value::Text(
                        std::str::from_utf8(t)
                            .map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))?
                            .to_owned(),
                    ),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(Row::new(values));
        }
        Ok(out)
    }
}

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Null => ValueRef::Null,
            Arg::Int(v) => ValueRef::Integer(v),
            Arg::Real(v) => ValueRef::Real(v),
            Arg::Text(s) => ValueRef::Text(s.as_bytes()),
            Arg::Blob(b) => ValueRef::Blob(b),
        }))
    }
}
