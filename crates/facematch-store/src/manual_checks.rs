//! The Business Console's view of saved decisions: every decision of an account's keys
//! (Manual Checks), newest first, filtered, one keyset page at a time; the In Review queue,
//! oldest first; one decision read and reviewed by a console user.
//!
//! Pages are keyset, never OFFSET: a page is the rows strictly after a `(created_at,
//! request_id)` cursor, so page 1,000 costs what page 1 costs and a decision saved meanwhile
//! neither repeats nor skips a row. The `decisions_created_request` and
//! `decisions_status_created` indexes serve the two orders.

use facematch_core::Status;
use time::OffsetDateTime;

use crate::decisions::{apply_review, find, Review, StatusUpdate};
use crate::review::ReviewError;
use crate::sql::{Arg, Row};
use crate::{db, DecisionView, ReviewStatus, Store, StoreError};

/// Most rows one page may hold.
pub const MAX_CHECKS_PAGE: usize = 100;

/// Which of an account's decisions a listing shows; conditions combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only scores at or above (decisions without a score never match a score bound).
    pub score_min: Option<i64>,
    /// Only scores at or below.
    pub score_max: Option<i64>,
    /// Only decisions made at or after.
    pub from: Option<OffsetDateTime>,
    /// Only decisions made before.
    pub to: Option<OffsetDateTime>,
    /// Only decisions whose `vendor_data` is exactly this.
    pub vendor_data: Option<String>,
}

/// Where a page starts: the last row of the page before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckCursor {
    /// That row's creation time, in Unix nanoseconds.
    pub created_at: i64,
    /// That row's request id.
    pub request_id: String,
}

impl CheckCursor {
    /// The cursor as a URL-safe text: `nanos.request_id`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.request_id)
    }

    /// Parses [`encode`](Self::encode)'s text; `None` for anything else.
    pub fn decode(text: &str) -> Option<CheckCursor> {
        let (nanos, id) = text.split_once('.')?;
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        ok.then_some(())?;
        Some(CheckCursor {
            created_at: nanos.parse().ok()?,
            request_id: id.to_owned(),
        })
    }
}

/// One decision as a row of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRow {
    /// The request id.
    pub request_id: String,
    /// Its key's session number.
    pub session_number: i64,
    /// The name of the key that made it.
    pub key_name: String,
    /// Its current status.
    pub status: Status,
    /// Its score, when faces were compared.
    pub score: Option<i64>,
    /// The client's `vendor_data`.
    pub vendor_data: Option<String>,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

impl CheckRow {
    /// The cursor that starts the page after this row.
    pub fn cursor(&self) -> Result<CheckCursor, StoreError> {
        Ok(CheckCursor {
            created_at: db::to_nanos(self.created_at)?,
            request_id: self.request_id.clone(),
        })
    }
}

/// One page of a listing, and whether more rows follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckPage {
    /// The rows, in the listing's order.
    pub rows: Vec<CheckRow>,
    /// The cursor of the next page, when there is one.
    pub next: Option<CheckCursor>,
}

/// What a console review did.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleReview {
    /// The status changed: one history entry, one event.
    Changed(DecisionView),
    /// The decision changed since the reviewer loaded it (another reviewer, the API, or this
    /// reviewer's own earlier submit): nothing was written; the decision as it is now.
    Stale(DecisionView),
    /// The decision already had that status (and had not changed since it was loaded):
    /// nothing was written.
    Unchanged(DecisionView),
}

const ROW_COLUMNS: &str = "d.request_id, d.session_number, k.name, d.status, d.score, \
     d.vendor_data, d.created_at";

fn row_from(r: &Row) -> Result<CheckRow, StoreError> {
    Ok(CheckRow {
        request_id: r.get(0)?,
        session_number: r.get::<Option<i64>>(1)?.unwrap_or(0),
        key_name: r.get(2)?,
        status: r.status(3)?,
        score: r.get(4)?,
        vendor_data: r.get(5)?,
        created_at: r.time(6)?,
    })
}

/// Owned values of the dynamic WHERE clause, bound in order.
enum Bound {
    Int(i64),
    Text(String),
}

impl Store {
    /// A page of the account's decisions, newest first, under `filter`, after `cursor`
    /// (`None`: the first page); at most `limit` ([`MAX_CHECKS_PAGE`]) rows.
    pub fn manual_checks(
        &self,
        account_id: &str,
        filter: &CheckFilter,
        cursor: Option<&CheckCursor>,
        limit: usize,
    ) -> Result<CheckPage, StoreError> {
        let mut sql = format!(
            "SELECT {ROW_COLUMNS} FROM decisions d JOIN api_keys k ON k.id = d.key_id \
             WHERE k.account_id = ?1"
        );
        let mut bound = Vec::new();
        let mut push = |sql: &mut String, clause: &str, v: Bound| {
            bound.push(v);
            sql.push_str(&clause.replace('#', &format!("?{}", bound.len() + 1)));
        };
        if let Some(s) = filter.status {
            push(&mut sql, " AND d.status = #", Bound::Text(s.to_string()));
        }
        if let Some(v) = filter.score_min {
            push(&mut sql, " AND d.score >= #", Bound::Int(v));
        }
        if let Some(v) = filter.score_max {
            push(&mut sql, " AND d.score <= #", Bound::Int(v));
        }
        if let Some(t) = filter.from {
            push(
                &mut sql,
                " AND d.created_at >= #",
                Bound::Int(db::to_nanos(t)?),
            );
        }
        if let Some(t) = filter.to {
            push(
                &mut sql,
                " AND d.created_at < #",
                Bound::Int(db::to_nanos(t)?),
            );
        }
        if let Some(v) = &filter.vendor_data {
            push(&mut sql, " AND d.vendor_data = #", Bound::Text(v.clone()));
        }
        if let Some(c) = cursor {
            push(&mut sql, " AND (d.created_at < #", Bound::Int(c.created_at));
            push(&mut sql, " OR (d.created_at = #", Bound::Int(c.created_at));
            push(
                &mut sql,
                " AND d.request_id < #))",
                Bound::Text(c.request_id.clone()),
            );
        }
        let limit = limit.clamp(1, MAX_CHECKS_PAGE);
        sql.push_str(&format!(
            " ORDER BY d.created_at DESC, d.request_id DESC LIMIT {}",
            limit + 1
        ));
        self.page(&sql, account_id, &bound, limit)
    }

    /// A page of the account's `In Review` decisions, oldest first, after `cursor`.
    pub fn review_queue_page(
        &self,
        account_id: &str,
        cursor: Option<&CheckCursor>,
        limit: usize,
    ) -> Result<CheckPage, StoreError> {
        let mut sql = format!(
            "SELECT {ROW_COLUMNS} FROM decisions d JOIN api_keys k ON k.id = d.key_id \
             WHERE k.account_id = ?1 AND d.status = ?2"
        );
        let mut bound = vec![Bound::Text(Status::InReview.to_string())];
        if let Some(c) = cursor {
            sql.push_str(" AND (d.created_at > ?3 OR (d.created_at = ?3 AND d.request_id > ?4))");
            bound.push(Bound::Int(c.created_at));
            bound.push(Bound::Text(c.request_id.clone()));
        }
        let limit = limit.clamp(1, MAX_CHECKS_PAGE);
        sql.push_str(&format!(
            " ORDER BY d.created_at, d.request_id LIMIT {}",
            limit + 1
        ));
        self.page(&sql, account_id, &bound, limit)
    }

    /// How many of the account's decisions are `In Review`, counted up to `cap` (the queue's
    /// heading says "more than `cap`" beyond: an exact count of a long queue would cost a
    /// walk over all of it on every view).
    pub fn review_queue_len(&self, account_id: &str, cap: i64) -> Result<i64, StoreError> {
        let in_review = Status::InReview.to_string();
        self.run(|c| {
            c.query_one(
                "SELECT count(*) FROM (SELECT 1 FROM decisions d \
                 JOIN api_keys k ON k.id = d.key_id \
                 WHERE k.account_id = ?1 AND d.status = ?2 LIMIT ?3) AS waiting",
                crate::sql::args![account_id, &in_review, cap.saturating_add(1)],
                |r| r.get(0),
            )
        })
    }

    fn page(
        &self,
        sql: &str,
        account_id: &str,
        bound: &[Bound],
        limit: usize,
    ) -> Result<CheckPage, StoreError> {
        let mut args: Vec<Arg<'_>> = vec![Arg::Text(account_id)];
        args.extend(bound.iter().map(|b| match b {
            Bound::Int(v) => Arg::Int(*v),
            Bound::Text(v) => Arg::Text(v),
        }));
        let mut rows = self.run(|c| c.query_map(sql, &args, row_from))?;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(CheckRow::cursor).transpose()?
        } else {
            None
        };
        Ok(CheckPage { rows, next })
    }

    /// A decision of one of the account's keys, with its history; `None` when it does not
    /// exist or belongs to another account.
    pub fn account_decision(
        &self,
        account_id: &str,
        request_id: &str,
    ) -> Result<Option<DecisionView>, StoreError> {
        self.run(|c| match owning_key(c, account_id, request_id)? {
            Some(key_id) => find(c, request_id, &key_id),
            None => Ok(None),
        })
    }

    /// A console user's verdict on a decision of the account. `seen` is the decision's
    /// `updated_at` when the reviewer loaded it: if it has changed since, nothing is written
    /// ([`ConsoleReview::Stale`]) and the reviewer is shown who decided first — so a double
    /// submit or two reviewers on one item make one history entry. `None`: no such decision
    /// in the account.
    #[allow(clippy::too_many_arguments)]
    pub fn console_review(
        &self,
        account_id: &str,
        request_id: &str,
        verdict: ReviewStatus,
        comment: Option<&str>,
        reviewer: &str,
        seen: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<ConsoleReview>, ReviewError> {
        let seen = db::to_nanos(seen)?;
        let review = Review {
            new_status: verdict,
            comment,
            reviewer: Some(reviewer),
            now,
        };
        self.write(|c| {
            let Some(key_id) = owning_key(c, account_id, request_id)? else {
                return Ok(None);
            };
            let Some(view) = find(c, request_id, &key_id)? else {
                return Ok(None);
            };
            if db::to_nanos(view.decision.updated_at)? != seen {
                return Ok(Some(ConsoleReview::Stale(view)));
            }
            let truncated = view.history_truncated;
            match apply_review(c, view.decision, &review)? {
                StatusUpdate::Changed(decision) => Ok(Some(ConsoleReview::Changed(DecisionView {
                    decision,
                    history_truncated: truncated,
                }))),
                StatusUpdate::Unchanged(decision) => {
                    Ok(Some(ConsoleReview::Unchanged(DecisionView {
                        decision,
                        history_truncated: truncated,
                    })))
                }
            }
        })
    }
}

/// The key id of a decision when that key belongs to `account_id`.
fn owning_key(
    c: &mut dyn crate::sql::Conn,
    account_id: &str,
    request_id: &str,
) -> Result<Option<String>, StoreError> {
    c.query_row(
        "SELECT d.key_id FROM decisions d JOIN api_keys k ON k.id = d.key_id \
         WHERE d.request_id = ?1 AND k.account_id = ?2",
        crate::sql::args![request_id, account_id],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests;
