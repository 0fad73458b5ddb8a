//! Webhooks: where events go (destinations, their signing secrets sealed at rest), the outbox
//! of events written in the same transaction as the change they report, and the log of every
//! try to deliver them.
//!
//! The life of an event: [`enqueue_status_event`] writes one `webhook_events` row and one
//! pending `webhook_deliveries` row per subscribed, enabled destination, inside the
//! transaction that saved or changed the decision, so an event exists exactly when its change
//! does. The server's deliverer takes due deliveries with [`Store::claim_due_deliveries`]
//! (which leases them, so a crash mid-send retries them after the lease: at least once), sends
//! them, and reports each try with [`Store::record_attempt`], which logs it and moves the
//! delivery on (delivered, retried later, or given up).
//!
//! Owners: a destination made by a key of an account belongs to the account (every key of the
//! account sees it and its events go there); one made by a key without an account, to the key.
//!
//! [`Store::claim_due_deliveries`]: crate::Store::claim_due_deliveries
//! [`Store::record_attempt`]: crate::Store::record_attempt

use time::OffsetDateTime;

use crate::SavedDecision;

mod destinations;
mod log;
mod outbox;
mod secret_box;

pub(crate) use destinations::{
    create_destination, delete_destination, destination_secret, destination_stats, get_destination,
    list_destinations, rotate_destination_secret, update_destination,
};
pub(crate) use log::{
    destination_attempt, destination_attempts, destination_resend_target, record_attempt,
    resend_target, session_attempt, session_attempts,
};
pub(crate) use outbox::{
    claim_due_deliveries, delete_events_of_decision, enqueue_status_event, enqueue_test_event,
    pending_deliveries, purge_events_older_than,
};
pub use secret_box::{WebhookKey, WebhookKeyError};

/// The event sent when a saved face match is created and whenever its status changes.
pub const STATUS_UPDATED: &str = "status.updated";

/// Didit's event names (a destination may subscribe to any; only [`STATUS_UPDATED`] is
/// emitted).
pub const WEBHOOK_EVENTS: &[&str] = &[
    "status.updated",
    "data.updated",
    "user.status.updated",
    "user.data.updated",
    "business.status.updated",
    "business.data.updated",
    "activity.created",
    "transaction.created",
    "transaction.status.updated",
];

/// Most destinations one owner (an account, or a key without one) may have; creating one more
/// is a `Conflict`.
pub const MAX_DESTINATIONS_PER_OWNER: usize = 20;

/// Most events one destination may subscribe to (there are fewer distinct names).
pub const MAX_SUBSCRIBED_EVENTS: usize = 20;

/// Longest destination label, in characters.
pub const MAX_LABEL_CHARS: usize = 100;

/// Longest destination URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// Most bytes of a receiver's response body kept in the log.
pub const MAX_LOGGED_RESPONSE_BYTES: usize = 1024;

/// Most log entries one [`Store::destination_attempts`](crate::Store::destination_attempts)
/// call returns.
pub const MAX_ATTEMPTS_PAGE: usize = 100;

/// A destination to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDestination {
    /// The key creating it (it decides the owner).
    pub key_id: String,
    /// A name for people, 1 to [`MAX_LABEL_CHARS`] characters.
    pub label: String,
    /// Where events are POSTed, at most [`MAX_URL_BYTES`] bytes (its safety is the server's
    /// to check).
    pub url: String,
    /// Event names from [`WEBHOOK_EVENTS`], 1 to [`MAX_SUBSCRIBED_EVENTS`]; duplicates are
    /// dropped.
    pub subscribed_events: Vec<String>,
    /// Whether events are sent to it (a disabled one keeps its deliveries pending).
    pub enabled: bool,
}

/// A stored destination, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Its id (UUID v4).
    pub id: String,
    /// The key that created it.
    pub key_id: String,
    /// The account that owns it, when the creating key had one.
    pub account_id: Option<String>,
    /// A name for people.
    pub label: String,
    /// Where events are POSTed.
    pub url: String,
    /// The events it receives, in the order given, without duplicates.
    pub subscribed_events: Vec<String>,
    /// Whether events are sent to it.
    pub enabled: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed (including a secret rotation).
    pub updated_at: OffsetDateTime,
}

/// Changes to a destination; `None` leaves a field as it is. `subscribed_events` replaces the
/// list (never merges), with the same rules as at creation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationUpdate {
    /// A new label.
    pub label: Option<String>,
    /// A new URL.
    pub url: Option<String>,
    /// A new list of events.
    pub subscribed_events: Option<Vec<String>>,
    /// Enable or disable it.
    pub enabled: Option<bool>,
}

/// A destination's delivery summary, over the attempts still in the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationStats {
    /// Tries made (automatic and resent).
    pub total_deliveries: i64,
    /// Tries that did not get a 2xx answer.
    pub failed_deliveries: i64,
    /// Fastest answer, in milliseconds.
    pub min_response_time_ms: Option<i64>,
    /// Mean answer time, in milliseconds (rounded down).
    pub avg_response_time_ms: Option<i64>,
    /// Slowest answer, in milliseconds.
    pub max_response_time_ms: Option<i64>,
    /// When the last try was made.
    pub last_delivery_at: Option<OffsetDateTime>,
}

/// A delivery to send now.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    /// The delivery's id (one per event and destination).
    pub delivery_id: String,
    /// The event's id: the same on every retry and resend, for receivers to de-duplicate.
    pub event_id: String,
    /// Where it goes.
    pub destination_id: String,
    /// The URL to POST to: the destination's current one, or for a resend the URL the
    /// resent attempt went to.
    pub url: String,
    /// The event's name (e.g. [`STATUS_UPDATED`]).
    pub webhook_type: String,
    /// The key whose decision the event reports (or that asked for a test event).
    pub key_id: String,
    /// The decision's request id (the session id); `None` for a test event.
    pub request_id: Option<String>,
    /// The decision as it was when the event happened (None for a test event).
    pub snapshot: Option<SavedDecision>,
    /// Tries made so far (automatic ones; resends are not counted).
    pub attempts: u32,
    /// When the event happened.
    pub event_created_at: OffsetDateTime,
}

/// What one try sent and got back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The URL it was sent to.
    pub request_url: String,
    /// The request headers as a JSON object (never the secret).
    pub request_headers: String,
    /// The request body as sent.
    pub request_body: String,
    /// The receiver's status code, if it answered.
    pub response_status: Option<u16>,
    /// The start of the receiver's body (the caller caps it; the store keeps at most
    /// [`MAX_LOGGED_RESPONSE_BYTES`]).
    pub response_body: Option<String>,
    /// How long the receiver took, in milliseconds.
    pub response_time_ms: Option<i64>,
    /// Why the try failed without an answer (timeout, refused address, …).
    pub error: Option<String>,
}

/// What happens to a delivery after a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The receiver took it (2xx): the delivery is done.
    Delivered,
    /// Try again at this time.
    RetryAt(OffsetDateTime),
    /// No more tries: the delivery failed.
    GiveUp,
}

/// One entry of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptLog {
    /// The attempt's id (UUID v4).
    pub id: String,
    /// The delivery it was a try of.
    pub delivery_id: String,
    /// The event's id.
    pub event_id: String,
    /// Where it went.
    pub destination_id: String,
    /// The decision's request id; `None` for a test event.
    pub session_id: Option<String>,
    /// The event's name.
    pub webhook_type: String,
    /// The URL it was sent to.
    pub request_url: String,
    /// The request headers as a JSON object.
    pub request_headers: String,
    /// The request body as sent.
    pub request_body: String,
    /// The receiver's status code, if it answered.
    pub response_status: Option<u16>,
    /// How long the receiver took, in milliseconds.
    pub response_time_ms: Option<i64>,
    /// Why the try failed without an answer.
    pub error: Option<String>,
    /// The automatic retry this try scheduled, if any.
    pub next_try_at: Option<OffsetDateTime>,
    /// Whether it was a manual resend.
    pub resend: bool,
    /// delivered | failed | pending: the delivery's state now
    pub delivery_state: String,
    /// When the try was made.
    pub created_at: OffsetDateTime,
    /// The start of the receiver's answer (at most 1 KiB), if it answered.
    pub response_body: Option<String>,
}

/// A fresh UUID v4, hyphenated (the ids of destinations, events, deliveries, attempts).
fn new_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// The SQL condition "destination `w` is visible to key `?1`": the key's own, and its
/// account's.
const VISIBLE_TO_KEY: &str = "(w.key_id = ?1 OR (w.account_id IS NOT NULL AND w.account_id = \
     (SELECT account_id FROM api_keys WHERE id = ?1)))";

#[cfg(test)]
mod tests;
