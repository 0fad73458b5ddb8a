//! The rules of a status update (`PATCH /v3/session/{id}/update-status/`), in one place:
//! which updates change a decision, how long its history may grow, and why an update is
//! refused.
//!
//! Updates (see [`is_a_change`]):
//!
//! | from \ to     | `Approved`          | `Declined`          |
//! |---------------|---------------------|---------------------|
//! | `In Review`   | change              | change              |
//! | `Approved`    | nothing (same)      | change              |
//! | `Declined`    | change              | nothing (same)      |
//!
//! - A reviewer settles an `In Review` decision, and may correct any verdict (the model's
//!   or another reviewer's) to the other one.
//! - Setting the status a decision already has is accepted and changes nothing: no history
//!   entry, no event (Didit's rule for update-status). It cannot grow the history.
//! - Nothing leads back to `In Review`: it is the model's "a person must look", not a
//!   verdict (Didit's update-status refuses it too). `In Review` is not even a
//!   [`ReviewStatus`], so the API refuses it as a bad field before this table.
//!
//! Every change appends one [`StatusChange`](crate::StatusChange); at most [`MAX_HISTORY`]
//! are kept per decision, checked in the transaction that appends, so concurrent updates
//! cannot overshoot it.

use facematch_core::Status;

use crate::{ReviewStatus, StoreError};

/// Most status changes one decision may have; the next update is refused with
/// [`ReviewError::HistoryFull`] and nothing is written. Reads return at most this many
/// (the newest), so one decision's answer stays bounded (≤ 50 × a 10,000-character comment).
pub const MAX_HISTORY: usize = 50;

/// Whether setting `to` on a decision whose status is `from` changes it (the table in this
/// module's documentation): `false` exactly when it already has that status.
pub fn is_a_change(from: Status, to: ReviewStatus) -> bool {
    match (from, to) {
        (Status::InReview, ReviewStatus::Approved | ReviewStatus::Declined) => true,
        (Status::Approved, ReviewStatus::Declined) | (Status::Declined, ReviewStatus::Approved) => {
            true
        }
        (Status::Approved, ReviewStatus::Approved) | (Status::Declined, ReviewStatus::Declined) => {
            false
        }
    }
}

/// Why a reviewer's status update was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The decision already has [`MAX_HISTORY`] status changes.
    #[error("this decision already has {limit} status changes, the most kept")]
    HistoryFull {
        /// The cap ([`MAX_HISTORY`]).
        limit: usize,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, cell by cell.
    #[test]
    fn only_a_different_verdict_is_a_change() {
        use ReviewStatus::{Approved, Declined};
        let table = [
            (Status::InReview, Approved, true),
            (Status::InReview, Declined, true),
            (Status::Approved, Declined, true),
            (Status::Declined, Approved, true),
            (Status::Approved, Approved, false),
            (Status::Declined, Declined, false),
        ];
        for (from, to, allowed) in table {
            assert_eq!(is_a_change(from, to), allowed, "{from} → {to}");
        }
        assert_eq!(table.len(), Status::ALL.len() * 2, "every cell is listed");
    }
}
