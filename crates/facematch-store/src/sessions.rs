//! Listing a key's saved decisions as sessions (Didit's `GET /v3/sessions/`): filtered,
//! newest first by session number, one page at a time, with the exact count of all that
//! match.
//!
//! Every query is scoped to one key and bounded: a page is at most [`MAX_SESSION_PAGE`]
//! rows after at most [`MAX_SESSION_OFFSET`] skipped ones. The default listing walks the
//! `decisions_key_session_number` index backwards (no sort); a date window can use
//! `decisions_key_created`. A test pins the plan of the default query.

use facematch_core::Status;
use serde_json::{Map, Value as Json};
use time::OffsetDateTime;

use crate::sql::{Arg, Conn, Dialect, Row, Value};
use crate::{db, Store, StoreError};

/// Most sessions one page may hold.
pub const MAX_SESSION_PAGE: usize = 100;

/// Largest offset of a listing: SQLite steps over skipped rows one by one, so an unbounded
/// offset would be a long hold of the database lock.
pub const MAX_SESSION_OFFSET: usize = 10_000;

/// Longest `search` text, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;

/// Which of a key's saved decisions [`Store::list_sessions`] returns; the conditions
/// combine with AND. `Default` matches every decision of the key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFilter {
    /// Only these statuses (`None`: any; an empty list matches nothing).
    pub statuses: Option<Vec<Status>>,
    /// Only decisions whose `vendor_data` is exactly this.
    pub vendor_data: Option<String>,
    /// Only decisions made at or after this instant.
    pub created_from: Option<OffsetDateTime>,
    /// Only decisions made at or before this instant.
    pub created_to: Option<OffsetDateTime>,
    /// Only decisions whose `vendor_data` contains this text (ASCII letters compared
    /// case-insensitively, as SQLite's `LIKE` does; PostgreSQL's `ILIKE` may also fold
    /// other letters, as the database's locale says; `%`, `_` and `\` match themselves).
    /// At most [`MAX_SEARCH_CHARS`] characters.
    pub search: Option<String>,
}

/// One saved decision as a row of the session list.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    /// The request id (the session id).
    pub request_id: String,
    /// The key's session number of the decision.
    pub session_number: i64,
    /// Its current status (after reviews).
    pub status: Status,
    /// Its score 0–100, or `None` when no pair of faces could be compared.
    pub score: Option<i64>,
    /// The client's `vendor_data`.
    pub vendor_data: Option<String>,
    /// The client's `metadata`.
    pub metadata: Option<Map<String, Json>>,
    /// When the face match was made.
    pub created_at: OffsetDateTime,
}

/// One page of a session listing.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPage {
    /// How many decisions match the filter in all (every page).
    pub count: u64,
    /// This page's, newest first (highest session number first).
    pub sessions: Vec<SessionSummary>,
}

/// Columns read by [`summary_from_row`], in order.
const SUMMARY_COLUMNS: &str =
    "request_id, session_number, status, score, vendor_data, metadata, created_at";

fn summary_from_row(row: &Row) -> Result<SessionSummary, StoreError> {
    Ok(SessionSummary {
        request_id: row.get(0)?,
        session_number: row.get::<Option<i64>>(1)?.unwrap_or(0),
        status: row.status(2)?,
        score: row.get(3)?,
        vendor_data: row.get(4)?,
        metadata: row.opt_json(5)?,
        created_at: row.time(6)?,
    })
}

/// The placeholders' values of a built query, borrowed for a statement (in the order the
/// bare `?` appear in its text: PostgreSQL's backend numbers them so).
fn as_args(params: &[Value]) -> Vec<Arg<'_>> {
    params
        .iter()
        .map(|v| match v {
            Value::Null => Arg::Null,
            Value::Int(i) => Arg::Int(*i),
            Value::Real(r) => Arg::Real(*r),
            Value::Text(s) => Arg::Text(s),
            Value::Blob(b) => Arg::Blob(b),
        })
        .collect()
}

/// `text` for a `LIKE … ESCAPE '\'` pattern that matches it anywhere.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The `WHERE` clause of a filter, for `dialect`, and its parameters (the key first; in
/// the order of their bare `?` in the text).
pub(crate) fn where_clause(
    dialect: Dialect,
    key_id: &str,
    filter: &SessionFilter,
) -> Result<(String, Vec<Value>), StoreError> {
    let mut sql = String::from("key_id = ?");
    let mut params = vec![Value::Text(key_id.to_owned())];
    if let Some(statuses) = &filter.statuses {
        if statuses.is_empty() {
            // Not a bare `0`: PostgreSQL's AND takes booleans only.
            sql.push_str(" AND 1 = 0");
        } else {
            let marks = vec!["?"; statuses.len()].join(", ");
            sql.push_str(&format!(" AND status IN ({marks})"));
            params.extend(statuses.iter().map(|s| Value::Text(s.to_string())));
        }
    }
    if let Some(vendor_data) = &filter.vendor_data {
        sql.push_str(" AND vendor_data = ?");
        params.push(Value::Text(vendor_data.clone()));
    }
    if let Some(from) = filter.created_from {
        sql.push_str(" AND created_at >= ?");
        params.push(Value::Int(db::to_nanos(from)?));
    }
    if let Some(to) = filter.created_to {
        sql.push_str(" AND created_at <= ?");
        params.push(Value::Int(db::to_nanos(to)?));
    }
    if let Some(search) = &filter.search {
        if search.chars().count() > MAX_SEARCH_CHARS {
            return Err(StoreError::Invalid(format!(
                "search is at most {MAX_SEARCH_CHARS} characters"
            )));
        }
        // SQLite's LIKE ignores ASCII case; PostgreSQL's needs ILIKE for that.
        sql.push_str(match dialect {
            Dialect::Sqlite => " AND vendor_data LIKE ? ESCAPE '\\'",
            Dialect::Postgres => " AND vendor_data ILIKE ? ESCAPE '\\'",
        });
        params.push(Value::Text(contains_pattern(search)));
    }
    Ok((sql, params))
}

/// The page query of a filter, for `dialect`: the `SELECT` and its parameters.
pub(crate) fn page_query(
    dialect: Dialect,
    key_id: &str,
    filter: &SessionFilter,
    limit: usize,
    offset: usize,
) -> Result<(String, Vec<Value>), StoreError> {
    let (clause, mut params) = where_clause(dialect, key_id, filter)?;
    params.push(Value::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    params.push(Value::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
    Ok((
        format!(
            "SELECT {SUMMARY_COLUMNS} FROM decisions WHERE {clause} \
             ORDER BY session_number DESC LIMIT ? OFFSET ?"
        ),
        params,
    ))
}

pub(crate) fn list_sessions(
    store: &Store,
    key_id: &str,
    filter: &SessionFilter,
    limit: usize,
    offset: usize,
) -> Result<SessionPage, StoreError> {
    if !(1..=MAX_SESSION_PAGE).contains(&limit) {
        return Err(StoreError::Invalid(format!(
            "limit must be from 1 to {MAX_SESSION_PAGE}"
        )));
    }
    if offset > MAX_SESSION_OFFSET {
        return Err(StoreError::Invalid(format!(
            "offset must be from 0 to {MAX_SESSION_OFFSET}"
        )));
    }
    let dialect = store.dialect();
    let (clause, count_params) = where_clause(dialect, key_id, filter)?;
    let count_sql = format!("SELECT count(*) FROM decisions WHERE {clause}");
    let (select, page_params) = page_query(dialect, key_id, filter, limit, offset)?;
    let read = |c: &mut dyn Conn| -> Result<SessionPage, StoreError> {
        let count: i64 = c.query_one(&count_sql, &as_args(&count_params), |r| r.get(0))?;
        let sessions = c.query_map(&select, &as_args(&page_params), summary_from_row)?;
        Ok(SessionPage {
            count: u64::try_from(count).unwrap_or(0),
            sessions,
        })
    };
    // Both reads see the same data, so the count and the page agree: on SQLite, under the
    // one connection's lock (as before, no write lock taken for a read); on PostgreSQL,
    // whose autocommit statements each see their own snapshot, in one transaction.
    match dialect {
        Dialect::Sqlite => store.run(read),
        Dialect::Postgres => store.write(read),
    }
}

#[cfg(test)]
mod tests;
