//! The query string of `GET /v3/sessions/`: read into a store filter and a page, each bad
//! value a 400 that names its parameter; and the `next`/`previous` links rebuilt from it.

use facematch_core::Status;
use facematch_store::{SessionFilter, MAX_SEARCH_CHARS, MAX_SESSION_OFFSET, MAX_SESSION_PAGE};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, Duration, OffsetDateTime};

use crate::error::ApiError;
use crate::form::MAX_VENDOR_DATA_CHARS;

/// Longest query string read, in bytes (every parameter's own limit fits well within).
pub const MAX_QUERY_BYTES: usize = 8 * 1024;

/// Page size when `limit` is not given (Didit's).
pub const DEFAULT_LIMIT: usize = 50;

/// The path the links point to (relative to the server).
const LIST_PATH: &str = "/v3/sessions/";

/// Didit's other session statuses: accepted in `status`, matched by no face match.
const OTHER_DIDIT_STATUSES: [&str; 7] = [
    "NOT_STARTED",
    "IN_PROGRESS",
    "AWAITING_USER",
    "ABANDONED",
    "EXPIRED",
    "KYC_EXPIRED",
    "RESUBMITTED",
];

/// The parameters this route reads; any other is ignored (as Didit's DRF API does).
const KNOWN: [&str; 10] = [
    "status",
    "vendor_data",
    "date_from",
    "date_to",
    "search",
    "session_kind",
    "workflow_id",
    "country",
    "limit",
    "offset",
];

/// A listing request, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// The query's pairs as sent (the links keep them).
    pairs: Vec<(String, String)>,
    /// What the store filters on.
    pub filter: SessionFilter,
    /// A filter no face match can pass (`session_kind=business`, a `workflow_id`, a
    /// `country`): the answer is empty without a query.
    pub matches_nothing: bool,
    /// Page size.
    pub limit: usize,
    /// Rows skipped.
    pub offset: usize,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::InvalidField {
        field,
        reason: reason.into(),
    }
}

impl ListQuery {
    /// Reads the raw query string (`None`: no `?`).
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let raw = raw.unwrap_or("");
        if raw.len() > MAX_QUERY_BYTES {
            return Err(invalid(
                "query",
                format!("the query string is longer than {MAX_QUERY_BYTES} bytes"),
            ));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|e| invalid("query", format!("not a query string: {e}")))?;
        let mut values: [Option<&str>; KNOWN.len()] = [None; KNOWN.len()];
        for (name, value) in &pairs {
            if let Some(i) = KNOWN.iter().position(|k| k == name) {
                if values[i].is_some() {
                    return Err(ApiError::DuplicateField(name.clone()));
                }
                // An empty value is as if the parameter were absent.
                values[i] = Some(value.as_str()).filter(|v| !v.is_empty());
            }
        }
        let [status, vendor_data, date_from, date_to, search, session_kind, workflow_id, country, limit, offset] =
            values;

        let mut matches_nothing = false;
        let statuses = status.map(parse_statuses).transpose()?;
        if let Some(v) = vendor_data {
            if v.chars().count() > MAX_VENDOR_DATA_CHARS {
                return Err(invalid(
                    "vendor_data",
                    format!("at most {MAX_VENDOR_DATA_CHARS} characters"),
                ));
            }
        }
        let created_from = date_from
            .map(|v| parse_bound(v, "date_from", false))
            .transpose()?;
        let created_to = date_to
            .map(|v| parse_bound(v, "date_to", true))
            .transpose()?;
        if let (Some(from), Some(to)) = (created_from, created_to) {
            if from > to {
                return Err(invalid("date_from", "is after date_to"));
            }
        }
        if let Some(s) = search {
            if s.chars().count() > MAX_SEARCH_CHARS {
                return Err(invalid(
                    "search",
                    format!("at most {MAX_SEARCH_CHARS} characters"),
                ));
            }
        }
        match session_kind.map(str::to_ascii_lowercase).as_deref() {
            None | Some("user" | "all") => {}
            Some("business") => matches_nothing = true,
            Some(_) => return Err(invalid("session_kind", "must be user, business or all")),
        }
        if let Some(w) = workflow_id {
            uuid::Uuid::parse_str(w).map_err(|_| invalid("workflow_id", "must be a UUID"))?;
            // A face match runs in no workflow.
            matches_nothing = true;
        }
        if let Some(c) = country {
            if !(2..=3).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(invalid("country", "must be an ISO 3166 country code"));
            }
            // A face match reads no document, so it has no country.
            matches_nothing = true;
        }
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_SESSION_PAGE).contains(n))
                .ok_or_else(|| {
                    invalid(
                        "limit",
                        format!("must be a number from 1 to {MAX_SESSION_PAGE}"),
                    )
                })?,
        };
        let offset = match offset {
            None => 0,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_SESSION_OFFSET)
                .ok_or_else(|| {
                    invalid(
                        "offset",
                        format!("must be a number from 0 to {MAX_SESSION_OFFSET}"),
                    )
                })?,
        };
        let filter = SessionFilter {
            statuses,
            vendor_data: vendor_data.map(str::to_owned),
            created_from,
            created_to,
            search: search.map(str::to_owned),
        };
        Ok(ListQuery {
            pairs,
            filter,
            matches_nothing,
            limit,
            offset,
        })
    }

    /// The link to the page after this one, if rows remain and its offset is allowed.
    pub fn next(&self, count: u64) -> Option<String> {
        let next = self.offset.checked_add(self.limit)?;
        if u64::try_from(next).ok()? >= count || next > MAX_SESSION_OFFSET {
            return None;
        }
        Some(self.link(Some(next)))
    }

    /// The link to the page before this one, if this is not the first.
    pub fn previous(&self) -> Option<String> {
        if self.offset == 0 {
            return None;
        }
        let previous = self.offset.saturating_sub(self.limit);
        Some(self.link((previous > 0).then_some(previous)))
    }

    /// This query with this page's `limit` and the given `offset` (none: from the start).
    fn link(&self, offset: Option<usize>) -> String {
        let mut pairs: Vec<(&str, String)> = self
            .pairs
            .iter()
            .filter(|(k, _)| k != "limit" && k != "offset")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        pairs.push(("limit", self.limit.to_string()));
        if let Some(offset) = offset {
            pairs.push(("offset", offset.to_string()));
        }
        // Strings and numbers only: encoding cannot fail.
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("{LIST_PATH}?{query}")
    }
}

/// `status`: comma-separated, each `Approved`, `Declined`, `In Review` or Didit's
/// `APPROVED`, `DECLINED`, `IN_REVIEW` (any case); Didit's other statuses match nothing.
fn parse_statuses(value: &str) -> Result<Vec<Status>, ApiError> {
    let mut out = Vec::new();
    for item in value.split(',') {
        let norm = item.trim().to_ascii_uppercase().replace(' ', "_");
        let status = match norm.as_str() {
            "APPROVED" => Some(Status::Approved),
            "DECLINED" => Some(Status::Declined),
            "IN_REVIEW" => Some(Status::InReview),
            other if OTHER_DIDIT_STATUSES.contains(&other) => None,
            _ => {
                return Err(invalid(
                    "status",
                    "each comma-separated value must be a session status such as Approved, \
                     Declined, In Review (or APPROVED, DECLINED, IN_REVIEW)",
                ))
            }
        };
        if let Some(s) = status.filter(|s| !out.contains(s)) {
            out.push(s);
        }
    }
    Ok(out)
}

/// `date_from`/`date_to`: an ISO 8601 date (midnight UTC; for `date_to`, the day's last
/// nanosecond, so the whole day is in) or an RFC 3339 date-time.
fn parse_bound(
    value: &str,
    field: &'static str,
    end_of_day: bool,
) -> Result<OffsetDateTime, ApiError> {
    let bad = || {
        invalid(
            field,
            "must be a date (2026-06-01) or an RFC 3339 date-time (2026-06-01T12:00:00Z; \
             send + as %2B)",
        )
    };
    let at = if value.contains('T') || value.contains('t') {
        OffsetDateTime::parse(value, &Rfc3339).map_err(|_| bad())?
    } else {
        let day = Date::parse(value, &Iso8601::DATE).map_err(|_| bad())?;
        let start = day.midnight().assume_utc();
        if end_of_day {
            start
                .checked_add(Duration::DAY)
                .and_then(|t| t.checked_sub(Duration::NANOSECOND))
                .ok_or_else(bad)?
        } else {
            start
        }
    };
    // Stored times are i64 nanoseconds: years 1677 to 2262.
    if i64::try_from(at.unix_timestamp_nanos()).is_err() {
        return Err(invalid(field, "must be between the years 1678 and 2261"));
    }
    Ok(at)
}

#[cfg(test)]
mod tests;
