//! Webhooks through the API, in Didit's shapes: the destinations an account's events go
//! to (`/v3/webhook/destinations/…`, [`destinations`]) and the delivery log of a saved
//! decision with its resend (`/v3/session/{id}/webhooks/`, [`deliveries`]).
//!
//! Scoping: a key sees the destinations it made and those of its account (a key of an
//! account shares them with the account's other keys); anything else — another key's
//! destination, another key's decision or delivery, an id that is not a UUID — is a 404,
//! indistinguishable from one that does not exist. Every write (create, update, delete,
//! rotate, test, resend) counts against the key's review-write rate
//! (`--review-writes-per-minute`; 429 with Retry-After beyond).
//!
//! The signing secret is shown twice only: in the answer of the create and in that of a
//! rotation. Didit's `GET` of a destination shows it again; facematch does not (it is kept
//! sealed at rest and never leaves the server otherwise).

pub mod deliveries;
pub mod destinations;
mod record;
pub(crate) mod send;

pub use record::{DeliveryDetail, DeliveryRecord, DeliveryStatus};

use crate::error::ApiError;

/// Only well-formed UUIDs can name a destination, a decision or a delivery; anything else
/// is `missing` (a 404) without a query.
fn parse_uuid(raw: &str, missing: fn() -> ApiError) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| missing())
}

/// The 404 of the destination routes: unknown, deleted, or not this key's (account's).
fn no_destination() -> ApiError {
    ApiError::NotFound("no webhook destination with this uuid for this API key".into())
}

/// The 404 of the delivery routes: unknown decision or delivery, or another key's.
fn no_delivery() -> ApiError {
    ApiError::NotFound(
        "no saved decision with this session id, or no delivery with this uuid, for this API key"
            .into(),
    )
}
