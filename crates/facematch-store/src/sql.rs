//! The one SQL interface every storage module is written against, whichever database runs it.
//!
//! Why one set of queries and not one `Store` implementation per database: the rules (a credit
//! spent once, an e-mail code's attempt limits, a decision's history cap) live in the modules, and
//! two copies of them would drift. The SQL is portable (SQLite ≥ 3.35 and PostgreSQL ≥ 13 both
//! speak `RETURNING`, `ON CONFLICT`, `EXISTS`, `LIMIT`), written with SQLite's `?N` placeholders,
//! which the PostgreSQL backend turns into `$N`. The few places where the dialects differ ask
//! [`Conn::dialect`] (`FOR UPDATE SKIP LOCKED`, case-insensitive `LIKE`, JSON arrays).
//!
//! Values cross this boundary as [`Arg`] (in) and [`Value`] (out), so no module sees a driver
//! type: integers are `i64` (SQLite's INTEGER, PostgreSQL's BIGINT; a PostgreSQL `boolean`
//! result reads as 0/1), text, bytes and reals.

use std::fmt;

use facematch_core::Status;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::StoreError;

/// Which database a connection speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded SQLite file (the default).
    Sqlite,
    /// A PostgreSQL server shared by several replicas.
    Postgres,
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Arg<'a> {
    /// SQL NULL.
    Null,
    /// An integer (also booleans, as 0/1, and timestamps, as Unix nanoseconds).
    Int(i64),
    /// A double.
    Real(f64),
    /// Text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}

impl From<f64> for Arg<'_> {
    fn from(v: f64) -> Self {
        Arg::Real(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Blob(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Arg<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Arg::Blob(v)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Arg<'a> {
    fn from(v: &'a [u8; N]) -> Self {
        Arg::Blob(v)
    }
}

impl<'a, T> From<Option<T>> for Arg<'a>
where
    T: Into<Arg<'a>>,
{
    fn from(v: Option<T>) -> Self {
        v.map_or(Arg::Null, Into::into)
    }
}

/// `args![a, b, c]`: the placeholders' values, in order (`?1`, `?2`, ...).
macro_rules! args {
    () => { &[] as &[$crate::sql::Arg<'_>] };
    ($($v:expr),+ $(,)?) => { &[$($crate::sql::Arg::from($v)),+] as &[$crate::sql::Arg<'_>] };
}
pub(crate) use args;

/// A value read from a result column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// SQL NULL.
    Null,
    /// An integer (PostgreSQL's smallint/integer/bigint/boolean).
    Int(i64),
    /// A double.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "bytes",
        }
    }
}

/// One result row, read whole (our rows are small: a key, a decision, a page of 100 summaries).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    values: Vec<Value>,
}

impl Row {
    /// A row of these values (the backends build rows with it).
    pub(crate) fn new(values: Vec<Value>) -> Row {
        Row { values }
    }

    /// Column `idx` as `T`; a missing column or another type is [`StoreError::Corrupt`].
    pub(crate) fn get<T: FromValue>(&self, idx: usize) -> Result<T, StoreError> {
        let value = self
            .values
            .get(idx)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {idx} in the result")))?;
        T::from_value(value).ok_or_else(|| {
            StoreError::Corrupt(format!("column {idx}: unexpected {}", value.kind()))
        })
    }

    /// A stored timestamp column (Unix nanoseconds).
    pub(crate) fn time(&self, idx: usize) -> Result<OffsetDateTime, StoreError> {
        nanos_to_time(self.get(idx)?)
    }

    /// A nullable stored timestamp column.
    pub(crate) fn opt_time(&self, idx: usize) -> Result<Option<OffsetDateTime>, StoreError> {
        self.get::<Option<i64>>(idx)?.map(nanos_to_time).transpose()
    }

    /// A JSON text column, decoded.
    pub(crate) fn json<T: DeserializeOwned>(&self, idx: usize) -> Result<T, StoreError> {
        let s: String = self.get(idx)?;
        serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("column {idx}: {e}")))
    }

    /// A nullable JSON text column, decoded.
    pub(crate) fn opt_json<T: DeserializeOwned>(
        &self,
        idx: usize,
    ) -> Result<Option<T>, StoreError> {
        let s: Option<String> = self.get(idx)?;
        s.map(|s| {
            serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("column {idx}: {e}")))
        })
        .transpose()
    }

    /// A status column (spelled as [`Status`]'s `Display`).
    pub(crate) fn status(&self, idx: usize) -> Result<Status, StoreError> {
        let s: String = self.get(idx)?;
        s.parse()
            .map_err(|e| StoreError::Corrupt(format!("column {idx}: {e}")))
    }
}

pub(crate) fn nanos_to_time(n: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n))
        .map_err(|e| StoreError::Corrupt(format!("stored timestamp {n}: {e}")))
}

/// A Rust type a column converts to.
pub(crate) trait FromValue: Sized {
    /// `None` when the value has another type.
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl FromValue for u32 {
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).and_then(|i| u32::try_from(i).ok())
    }
}

impl FromValue for usize {
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).and_then(|i| usize::try_from(i).ok())
    }
}

impl FromValue for bool {
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).map(|i| i != 0)
    }
}

impl FromValue for f64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Real(r) => Some(*r),
            #[allow(clippy::cast_precision_loss)]
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One connection, or one transaction on it. Statements use `?N` placeholders.
pub(crate) trait Conn {
    /// The database behind this connection.
    fn dialect(&self) -> Dialect;

    /// Runs one statement; returns how many rows it changed.
    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<usize, StoreError>;

    /// Runs one query and reads every row.
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError>;
}

impl dyn Conn + '_ {
    /// The first row mapped by `f`, or `None` when the query found nothing.
    pub(crate) fn query_row<T>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl FnOnce(&Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.query(sql, args)?.first().map(f).transpose()
    }

    /// The first row mapped by `f`; a query that found nothing is [`StoreError::Corrupt`] (for
    /// queries that always answer one row, e.g. `SELECT count(*)`).
    pub(crate) fn query_one<T>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl FnOnce(&Row) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.query_row(sql, args, f)?.ok_or_else(|| {
            StoreError::Corrupt("a query that always answers a row answered none".into())
        })
    }

    /// Every row mapped by `f`.
    pub(crate) fn query_map<T>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl FnMut(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.query(sql, args)?.iter().map(f).collect()
    }
}

/// A database: connections handed out for one closure at a time.
///
/// Object-safe (the [`Store`](crate::Store) holds an `Arc<dyn Database>`); the generic helpers
/// are [`Store::run`](crate::Store) and [`Store::write`](crate::Store).
pub(crate) trait Database: Send + Sync + fmt::Debug {
    /// The database's dialect.
    fn dialect(&self) -> Dialect;

    /// Runs `f` on a connection in autocommit mode: each statement commits on its own.
    fn autocommit(
        &self,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Runs `f` inside one transaction that behaves as if it ran alone (SQLite: `BEGIN
    /// IMMEDIATE`; PostgreSQL: `SERIALIZABLE`). `f` answers whether to commit; it may be run
    /// again when the database reports a serialization conflict, so it must have no effect
    /// outside the database.
    fn transaction(
        &self,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<Finish, StoreError>,
    ) -> Result<(), StoreError>;

    /// Answers whether the database can be reached now (a trivial query).
    fn ping(&self) -> Result<(), StoreError>;

    /// When a caller last found the database unreachable, if that is the current state
    /// (cleared once a connection is had again). SQLite: never.
    fn found_unreachable_at(&self) -> Option<std::time::Instant> {
        None
    }

    /// Runs `f` only if no other process is running it under the same `lock` (PostgreSQL: a
    /// session advisory lock; SQLite: a single process's file, `f` always runs). Answers
    /// whether `f` ran.
    fn exclusive(
        &self,
        lock: i64,
        f: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<bool, StoreError>;
}

/// How a transaction's closure wants it to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// Keep what it wrote.
    Commit,
    /// Undo what it wrote.
    Rollback,
}

/// Rewrites SQLite's `?N` and bare `?` placeholders as PostgreSQL's `$N`, leaving string
/// literals, quoted identifiers and comments alone.
pub(crate) fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next_bare = 1usize;
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    out.push_str(&next_bare.to_string());
                    next_bare += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn placeholders_become_numbered_outside_literals() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE b = ?1 AND c = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = $12"
        );
        assert_eq!(
            numbered_placeholders("WHERE a = ? AND b LIKE ? ESCAPE '\\' AND c = '?'"),
            "WHERE a = $1 AND b LIKE $2 ESCAPE '\\' AND c = '?'"
        );
        assert_eq!(
            numbered_placeholders("\"odd?name\" = ?2"),
            "\"odd?name\" = $2"
        );
    }

    #[test]
    fn row_reads_typed_columns_and_names_the_mismatch() {
        let row = Row::new(vec![
            Value::Int(3),
            Value::Null,
            Value::Text("x".into()),
            Value::Blob(vec![1, 2]),
        ]);
        assert_eq!(row.get::<i64>(0).unwrap(), 3);
        assert!(row.get::<bool>(0).unwrap());
        assert_eq!(row.get::<Option<i64>>(1).unwrap(), None);
        assert_eq!(row.get::<String>(2).unwrap(), "x");
        assert_eq!(row.get::<Vec<u8>>(3).unwrap(), vec![1, 2]);
        let err = row.get::<i64>(2).unwrap_err().to_string();
        assert!(err.contains("column 2") && err.contains("text"), "{err}");
        assert!(row.get::<i64>(9).is_err());
        assert!(row.get::<u32>(0).is_ok());
        assert!(Row::new(vec![Value::Int(-1)]).get::<u32>(0).is_err());
    }

    #[test]
    fn args_convert_options_and_bools() {
        let none: Option<&str> = None;
        assert_eq!(
            args![1i64, true, none, Some("a"), "b"],
            &[
                Arg::Int(1),
                Arg::Int(1),
                Arg::Null,
                Arg::Text("a"),
                Arg::Text("b")
            ]
        );
    }
}
