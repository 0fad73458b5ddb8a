//! SQLite storage for facematch: API keys, credits, saved decisions and accounts.
//!
//! One [`Store`] wraps one SQLite database (a file or in memory). Every method is synchronous and
//! short; the async server calls them from `tokio::task::spawn_blocking`.
//!
//! Design choices, and why:
//! - **One connection behind a mutex.** SQLite serializes writers anyway, our statements are tiny,
//!   and a single connection makes every multi-statement operation trivially atomic within this
//!   process. Atomicity against *other* processes (the CLI editing keys while the server runs) comes
//!   from SQLite itself: each write is a single conditional `UPDATE` or an `IMMEDIATE` transaction.
//! - **WAL + `synchronous=NORMAL`.** A committed transaction survives a `kill -9` of the process
//!   (only an OS crash or power loss could lose the last commits), and readers never block writers.
//! - **Secrets are never stored.** API keys and e-mail codes are stored as SHA-256 hashes, compared
//!   in constant time; passwords as Argon2id hashes. Plaintext leaves this crate exactly once, in a
//!   type whose `Debug` is redacted ([`SecretString`], [`OtpCode`]).
//! - **Times** are stored as integer Unix nanoseconds (UTC), so they sort correctly in SQL and round
//!   trip exactly; they come back as UTC [`OffsetDateTime`]s.
//! - **Migrations** are embedded SQL files (`migrations/NNNN_*.sql`), applied in order and tracked in
//!   SQLite's `user_version`, so opening a database twice, or an old one, is always safe.
//!
//! ```
//! use facematch_store::{ExposeSecret, NewKey, Store};
//! use time::OffsetDateTime;
//!
//! let store = Store::open_in_memory()?;
//! let created = store.create_key(NewKey {
//!     name: "ci".into(),
//!     credits: 1,
//!     admin: false,
//!     expires_at: None,
//!     account_id: None,
//! })?;
//! let key = store.authenticate(created.secret.expose_secret(), OffsetDateTime::now_utc())?;
//! assert!(store.reserve_credit(&key.id)?);
//! assert!(!store.reserve_credit(&key.id)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use secrecy::{ExposeSecret, SecretString};
pub use time::OffsetDateTime;

mod accounts;
mod credits;
mod db;
mod decisions;
mod keys;
mod migrations;
mod random;

/// Maximum number of attempts allowed for one e-mail verification code; the next try fails even
/// with the right code.
pub const MAX_OTP_ATTEMPTS: u32 = 5;

/// How long an e-mail verification code stays valid after it was issued.
pub const OTP_TTL: time::Duration = time::Duration::minutes(15);

/// Every API key starts with this, so a leaked key is recognisable (e.g. by secret scanners).
pub const KEY_PREFIX: &str = "fm_";

/// Minimum password length (in characters) accepted by [`Store::register`].
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Errors of the storage layer.
///
/// `NotFound`, `Invalid` and `Conflict` describe the caller's request (map them to 404, 400 and
/// 409); every other variant is an internal failure (500) whose message must not reach a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be brought up to date (or is newer than this build knows).
    #[error("migration failed: {0}")]
    Migration(String),
    /// The named thing (key, account, decision) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The input was rejected (bad e-mail, short password, negative balance, ...). The message is
    /// safe to show to the client.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The operation conflicts with existing state (e-mail already verified, duplicate request id).
    /// The message is safe to show to the client.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Filesystem error while opening the database.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// Stored data could not be decoded (bad JSON or timestamp in a row).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Something that should not fail did (OS random source, password hashing).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a presented API key was rejected. Every variant except `Store` means HTTP 401.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No key was presented (empty string).
    #[error("missing API key")]
    Missing,
    /// The key is malformed or matches no stored key.
    #[error("unknown API key")]
    Unknown,
    /// The key was revoked.
    #[error("revoked API key")]
    Revoked,
    /// The key's expiry time has passed.
    #[error("expired API key")]
    Expired,
    /// The database failed while checking the key (HTTP 500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an e-mail verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No account with a pending code for this e-mail (never registered, already verified, or the
    /// code was already used).
    #[error("no pending verification code for this e-mail")]
    NoPendingCode,
    /// The code is older than [`OTP_TTL`]; register again for a new one.
    #[error("verification code expired")]
    Expired,
    /// [`MAX_OTP_ATTEMPTS`] tries were used up; register again for a new code.
    #[error("too many attempts; request a new code")]
    TooManyAttempts,
    /// The code is wrong; `attempts_left` more tries are allowed for this code.
    #[error("wrong verification code ({attempts_left} attempts left)")]
    WrongCode {
        /// Remaining tries for the current code (0 means the next try is refused).
        attempts_left: u32,
    },
    /// The database failed (HTTP 500), or the account's key could not be created.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to create with [`Store::create_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// Human-readable label shown in listings.
    pub name: String,
    /// Initial credit balance (must be ≥ 0).
    pub credits: i64,
    /// Whether the key may use operator routes (credit top-up).
    pub admin: bool,
    /// After this instant the key is rejected with [`AuthError::Expired`].
    pub expires_at: Option<OffsetDateTime>,
    /// The account that owns the key, if it was created through e-mail sign-up.
    pub account_id: Option<String>,
}

/// A stored API key, without any secret material (only the public prefix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    /// Key id (UUID v4); used as the owner of credits and saved decisions.
    pub id: String,
    /// The 8-character public part of the key (`fm_<prefix>_...`), safe to show and log.
    pub prefix: String,
    /// Human-readable label.
    pub name: String,
    /// Whether the key may use operator routes.
    pub admin: bool,
    /// Current credit balance.
    pub credits: i64,
    /// When the key was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the key stops working, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the key was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Owning account, for keys made by e-mail sign-up.
    pub account_id: Option<String>,
}

/// A newly created key: its record plus the plaintext key, which is never stored and cannot be
/// shown again. `Debug` redacts the secret.
#[derive(Debug)]
pub struct CreatedKey {
    /// The stored record.
    pub record: KeyRecord,
    /// The full key (`fm_<prefix>_<secret>`); use `expose_secret()` to print it once.
    pub secret: SecretString,
}

/// A decision a reviewer may set on a saved request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReviewStatus {
    /// Accept the match.
    Approved,
    /// Reject the match.
    Declined,
}

impl ReviewStatus {
    /// The status text as used in the API and stored (`"Approved"` / `"Declined"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Approved => "Approved",
            ReviewStatus::Declined => "Declined",
        }
    }
}

impl fmt::Display for ReviewStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ReviewStatus {
    type Err = StoreError;

    /// Parses exactly `"Approved"` or `"Declined"` (case-sensitive, as the API is).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Approved" => Ok(ReviewStatus::Approved),
            "Declined" => Ok(ReviewStatus::Declined),
            other => Err(StoreError::Invalid(format!(
                "new_status must be \"Approved\" or \"Declined\", got {other:?}"
            ))),
        }
    }
}

/// One entry of a saved decision's history: a status change made by a reviewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// Status before the change (`"Approved"`, `"Declined"` or `"In Review"`).
    pub from: String,
    /// Status after the change.
    pub to: String,
    /// The reviewer's note, if any.
    pub comment: Option<String>,
    /// When the change was made.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A saved face-match decision (never the images).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedDecision {
    /// The request id (UUID) returned to the client.
    pub request_id: String,
    /// Id of the key that made the request; only that key can read or update it.
    pub key_id: String,
    /// `"Approved"`, `"Declined"` or `"In Review"`; kept equal to `face_match["status"]`.
    pub status: String,
    /// Score 0–100, or `None` when no pair of faces could be compared.
    pub score: Option<i64>,
    /// `face_match_score_decline_threshold` used for the decision.
    pub decline_threshold: f64,
    /// `face_match_score_review_threshold`, if one was given.
    pub review_threshold: Option<f64>,
    /// The warnings array as returned.
    pub warnings: serde_json::Value,
    /// The whole `face_match` object as returned (status, score, entities, warnings).
    pub face_match: serde_json::Value,
    /// The client's `vendor_data`, if any.
    pub vendor_data: Option<String>,
    /// When the request was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the decision last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Reviewer status changes, oldest first.
    pub history: Vec<StatusChange>,
}

/// A plaintext e-mail verification code, returned once by [`Store::register`] so it can be sent.
/// Only its hash is stored. `Debug` is redacted so it cannot leak through a stray log line.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    /// The code itself (6 characters), for the e-mail body or the server log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl ExposeSecret<str> for OtpCode {
    fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode([REDACTED])")
    }
}

/// Handle to the database. Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<rusqlite::Connection>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating it and its parent folders if absent) the database file at `path`, enables
    /// WAL, a busy timeout and foreign keys, and applies any pending migrations. Opening the same
    /// file again is safe. The path `:memory:` opens a private in-memory database.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        db::open_file(path)
    }

    /// Opens a fresh, private in-memory database (for tests and `--database :memory:`).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        db::open_memory()
    }

    // ---- API keys -------------------------------------------------------------------------

    /// Creates a key `fm_<8-char prefix>_<43 random base62 chars>`. Only the SHA-256 of the whole
    /// key is stored; the plaintext is in the returned [`CreatedKey::secret`] and nowhere else.
    /// Errors: `Invalid` for negative credits, `NotFound` for an unknown `account_id`.
    pub fn create_key(&self, new: NewKey) -> Result<CreatedKey, StoreError> {
        keys::create_key(self, new)
    }

    /// Checks a presented key at time `now`: [`AuthError::Missing`] when empty,
    /// [`AuthError::Unknown`] when malformed or not stored, then `Revoked`, then `Expired`.
    /// The hash comparison is constant time.
    pub fn authenticate(
        &self,
        presented: &str,
        now: OffsetDateTime,
    ) -> Result<KeyRecord, AuthError> {
        keys::authenticate(self, presented, now)
    }

    /// All keys, oldest first (including revoked and expired ones).
    pub fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        keys::list_keys(self)
    }

    /// The key with this id or prefix (accepts the id, the 8-char prefix, or `fm_<prefix>`).
    pub fn get_key(&self, id_or_prefix: &str) -> Result<Option<KeyRecord>, StoreError> {
        keys::get_key(self, id_or_prefix)
    }

    /// Revokes the key with this id or prefix (as in [`Store::get_key`]). Returns `false` when no
    /// key matches; revoking an already revoked key returns `true` and keeps the first revocation
    /// time.
    pub fn revoke_key(&self, id_or_prefix: &str) -> Result<bool, StoreError> {
        keys::revoke_key(self, id_or_prefix)
    }

    // ---- Credits --------------------------------------------------------------------------

    /// Takes one credit from the key if it has any, atomically (a single conditional `UPDATE`):
    /// with N credits left and any number of concurrent callers, exactly N get `true`.
    /// `NotFound` when the key does not exist.
    pub fn reserve_credit(&self, key_id: &str) -> Result<bool, StoreError> {
        credits::reserve_credit(self, key_id)
    }

    /// Gives back a credit taken by [`Store::reserve_credit`] (the request did not end in a 200).
    pub fn refund_credit(&self, key_id: &str) -> Result<(), StoreError> {
        credits::refund_credit(self, key_id)
    }

    /// The key's current credit balance.
    pub fn balance(&self, key_id: &str) -> Result<i64, StoreError> {
        credits::balance(self, key_id)
    }

    /// Adds `amount` (may be negative) to the credits of the key with this id or prefix and returns
    /// the new balance. `NotFound` for an unknown key, `Invalid` if the balance would go negative
    /// or overflow.
    pub fn add_credits(&self, key_id_or_prefix: &str, amount: i64) -> Result<i64, StoreError> {
        credits::add_credits(self, key_id_or_prefix, amount)
    }

    // ---- Saved decisions ------------------------------------------------------------------

    /// Stores a decision (and its history) in one committed transaction: once this returns `Ok`,
    /// the decision survives a crash of the process. `Conflict` if the request id already exists,
    /// `NotFound` if the key does not.
    pub fn save_decision(&self, d: &SavedDecision) -> Result<(), StoreError> {
        decisions::save_decision(self, d)
    }

    /// The decision with this request id, if it belongs to `key_id` (`None` otherwise, so another
    /// key cannot even learn that it exists).
    pub fn get_decision(
        &self,
        request_id: &str,
        key_id: &str,
    ) -> Result<Option<SavedDecision>, StoreError> {
        decisions::get_decision(self, request_id, key_id)
    }

    /// The key's decisions with status `"In Review"`, oldest first, paginated.
    pub fn review_queue(
        &self,
        key_id: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<SavedDecision>, StoreError> {
        decisions::review_queue(self, key_id, limit, offset)
    }

    /// Sets a reviewer's decision: updates the status (also inside the stored `face_match` JSON)
    /// and `updated_at`, and appends a [`StatusChange`] to the history. `None` when the decision
    /// does not exist or belongs to another key.
    pub fn update_status(
        &self,
        request_id: &str,
        key_id: &str,
        new_status: ReviewStatus,
        comment: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<SavedDecision>, StoreError> {
        decisions::update_status(self, request_id, key_id, new_status, comment, now)
    }

    // ---- Accounts -------------------------------------------------------------------------

    /// Registers (or re-registers, refreshing password and code) an unverified account and returns
    /// a fresh 6-character verification code valid for [`OTP_TTL`] with [`MAX_OTP_ATTEMPTS`]
    /// tries; any previous code stops working. The e-mail is trimmed and lower-cased.
    /// `Invalid` for a malformed e-mail or a password shorter than [`MIN_PASSWORD_CHARS`];
    /// `Conflict` if the e-mail is already verified.
    pub fn register(
        &self,
        email: &str,
        password: &str,
        now: OffsetDateTime,
    ) -> Result<OtpCode, StoreError> {
        accounts::register(self, email, password, now)
    }

    /// Checks a verification code. On success the account is marked verified, the code consumed,
    /// and a new key with `signup_credits` credits is created for the account and returned.
    /// The code is compared case-insensitively, ignoring surrounding whitespace.
    pub fn verify_email(
        &self,
        email: &str,
        code: &str,
        now: OffsetDateTime,
        signup_credits: i64,
    ) -> Result<CreatedKey, VerifyError> {
        accounts::verify_email(self, email, code, now, signup_credits)
    }
}
