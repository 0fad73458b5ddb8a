//! The rules of a reviewer's status update, in one place: which transitions are allowed,
//! how long a decision's history may grow, and why an update is refused.
//!
//! Transitions (see [`transition_allowed`]):
//!
//! | from \ to     | `Approved` | `Declined` |
//! |---------------|------------|------------|
//! | `In Review`   | yes        | yes        |
//! | `Approved`    | no (same)  | yes        |
//! | `Declined`    | yes        | no (same)  |
//!
//! - A reviewer settles an `In Review` decision, and may correct any verdict (the model's
//!   or another reviewer's) to the other one.
//! - Setting the status a decision already has is refused: it changes nothing and would
//!   only grow the history.
//! - Nothing leads back to `In Review`: it is the model's "a person must look", not a
//!   verdict; a reviewer who is unsure leaves the decision as it is. Allowing it would let
//!   a decision ping-pong in and out of the review queue. (`In Review` is not even a
//!   [`ReviewStatus`], so the API refuses it as a bad field before this table.)
//!
//! Every allowed change appends one [`StatusChange`](crate::StatusChange); at most
//! [`MAX_HISTORY`] are kept per decision, checked in the transaction that appends, so
//! concurrent updates cannot overshoot it.

use facematch_core::Status;

use crate::{ReviewStatus, StoreError};

/// Most status changes one decision may have; the next update is refused with
/// [`ReviewError::HistoryFull`] and nothing is written. Reads return at most this many
/// (the newest), so one decision's answer stays small (≤ 50 × a 1,000-character comment).
pub const MAX_HISTORY: usize = 50;

/// Whether a reviewer may move a decision whose status is `from` to `to` (the table in
/// this module's documentation).
pub fn transition_allowed(from: Status, to: ReviewStatus) -> bool {
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
    /// The transition is not in the table ([`transition_allowed`]).
    #[error("a decision cannot go from \"{from}\" to \"{to}\"")]
    InvalidTransition {
        /// The decision's current status.
        from: Status,
        /// The status asked for.
        to: Status,
    },
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

impl From<rusqlite::Error> for ReviewError {
    fn from(e: rusqlite::Error) -> Self {
        ReviewError::Store(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, cell by cell.
    #[test]
    fn only_a_real_change_of_verdict_is_allowed() {
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
            assert_eq!(transition_allowed(from, to), allowed, "{from} → {to}");
        }
        assert_eq!(table.len(), Status::ALL.len() * 2, "every cell is listed");
    }

    #[test]
    fn a_refusal_names_both_statuses() {
        let e = ReviewError::InvalidTransition {
            from: Status::Approved,
            to: Status::Approved,
        };
        assert_eq!(
            e.to_string(),
            r#"a decision cannot go from "Approved" to "Approved""#
        );
    }
}
