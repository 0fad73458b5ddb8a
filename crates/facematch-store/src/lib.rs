//! Storage for facematch: API keys, credits, saved decisions, accounts and webhooks, on the
//! embedded SQLite file (the default) or on a PostgreSQL server shared by several replicas.
//!
//! One [`Store`] is the handle every route and CLI command goes through, whichever database is
//! behind it ([`Store::open`] for SQLite, [`Store::connect_postgres`] for PostgreSQL). Every
//! method is synchronous and short; the async server calls them from
//! `tokio::task::spawn_blocking`.
//!
//! Design choices, and why:
//! - **One set of rules, two databases.** The modules are written once against the `sql` module's small
//!   interface in portable SQL; `backend::sqlite` and `backend::postgres` run it. Every
//!   multi-statement operation is one transaction that behaves as if it ran alone (SQLite's
//!   `BEGIN IMMEDIATE`, PostgreSQL's `SERIALIZABLE` retried on conflict), so a credit is spent
//!   once and an attempt limit holds across processes and replicas alike.
//! - **SQLite: one connection behind a mutex; WAL + `synchronous=NORMAL`.** A committed transaction survives a `kill -9` of the process
//!   (only an OS crash or power loss could lose the last commits), and readers never block writers.
//! - **Secrets are never stored.** API keys are stored as SHA-256 hashes, e-mail codes as
//!   HMAC-SHA256 keyed by the server's [`OtpSecret`] (a code has only ~30 bits), both compared
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
use std::sync::Arc;

pub use secrecy::{ExposeSecret, SecretString};
pub use time::OffsetDateTime;

mod accounts;
mod backend;
mod console;
mod credits;
mod db;
mod decisions;
mod deletion;
mod error;
mod keys;
mod location;
mod mailbox;
mod manual_checks;
mod migrations;
mod otp;
mod random;
mod review;
mod review_images;
mod sessions;
mod sql;
#[cfg(test)]
mod test_backends;
mod usage;
mod webhooks;

pub use accounts::{OtpCode, Registration};
pub use backend::postgres::PostgresOptions;
pub use console::{
    is_token_shaped, ConsoleSession, ConsoleUser, Role, SessionLimits, SignIn, TokenPurpose,
    UserAccount, INVITE_TTL, LOCK_AFTER, LOCK_FOR, RESET_TTL,
};
pub use decisions::{DecisionView, ReviewStatus, SavedDecision, StatusChange, StatusUpdate};
pub use deletion::{DeletedSession, SessionRef, MAX_DELETE_IDS, MAX_PURGE_BATCH};
pub use error::{AuthError, StoreError, VerifyError};
pub use keys::{CreatedKey, KeyRecord, NewKey};
pub use location::DatabaseLocation;
pub use manual_checks::{
    CheckCursor, CheckFilter, CheckPage, CheckRow, ConsoleReview, MAX_CHECKS_PAGE,
};
pub use migrations::Migrate;
pub use otp::{OtpSecret, MIN_OTP_SECRET_BYTES};
pub use review::{is_a_change, ReviewError, MAX_HISTORY};
pub use review_images::{
    ReviewImagePair, ReviewImageSide, ReviewImagesKey, REVIEW_IMAGES_PURGE_BATCH,
};
pub use sessions::{
    SessionFilter, SessionPage, SessionSummary, MAX_SEARCH_CHARS, MAX_SESSION_OFFSET,
    MAX_SESSION_PAGE,
};
pub use sql::Dialect;
pub use usage::{
    day_of, latency_quantile_bucket, UsageDay, LATENCY_BOUNDS_MS, LATENCY_BUCKETS, SCORE_BUCKETS,
};
pub use webhooks::{
    AttemptLog, AttemptOutcome, AttemptRecord, Destination, DestinationStats, DestinationUpdate,
    DueDelivery, NewDestination, WebhookKey, WebhookKeyError, MAX_ATTEMPTS_PAGE,
    MAX_DESTINATIONS_PER_OWNER, MAX_LABEL_CHARS, MAX_LOGGED_RESPONSE_BYTES, MAX_SUBSCRIBED_EVENTS,
    MAX_URL_BYTES, STATUS_UPDATED, WEBHOOK_EVENTS,
};

/// Wrong tries one client (IP address, or IPv6 /64) may make at one e-mail verification code;
/// its next try fails even with the right code. Counted per client so that a stranger's guesses
/// cannot lock the owner's code.
pub const MAX_OTP_ATTEMPTS: u32 = 5;

/// Wrong tries all clients together may make at one code before it is locked for everyone
/// (until its owner registers again with the same password): bounds guessing from many
/// addresses to 30 in 31^6 ≈ 9·10^8 per code.
pub const MAX_OTP_ATTEMPTS_TOTAL: u32 = 30;

/// How long an e-mail verification code stays valid after it was issued.
pub const OTP_TTL: time::Duration = time::Duration::minutes(15);

/// The schema version this build reads and writes (`facematch db migrate` brings a database
/// to it).
pub const SCHEMA_VERSION: usize = migrations::LATEST;

/// Every API key starts with this, so a leaked key is recognisable (e.g. by secret scanners).
pub const KEY_PREFIX: &str = "fm_";

/// Minimum password length (in characters) accepted by [`Store::register`].
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Handle to the database. Cheap to clone; all clones share one connection (SQLite) or one pool
/// (PostgreSQL).
#[derive(Clone)]
pub struct Store {
    db: Arc<dyn sql::Database>,
    /// The key of the e-mail codes' HMAC: random per opening unless set with
    /// [`Store::with_otp_secret`].
    otp: Arc<OtpSecret>,
    /// The key sealing webhook destination secrets: random per opening unless set with
    /// [`Store::with_webhook_key`].
    webhook_key: Arc<WebhookKey>,
    /// The key sealing review images; `None` (the default) when review images are off.
    review_images_key: Option<Arc<ReviewImagesKey>>,
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

    /// [`open`](Self::open) with a migration policy: [`Migrate::IfEmpty`] creates the schema in
    /// a new database but refuses one whose schema is older than this build
    /// ([`StoreError::SchemaOutdated`]).
    pub fn open_with(path: &Path, migrate: Migrate) -> Result<Store, StoreError> {
        db::open_file_with_policy(path, migrate)
    }

    /// Connects to a PostgreSQL database (`postgres://user:password@host:port/db`), checks its
    /// schema under `migrate` (migrations run under an advisory lock, so replicas starting
    /// together apply each one once) and keeps a pool of connections.
    pub fn connect_postgres(
        url: &str,
        options: &PostgresOptions,
        migrate: Migrate,
    ) -> Result<Store, StoreError> {
        db::connect_postgres(url, options, migrate)
    }

    /// Which database this store runs on.
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// Answers whether the database can be reached now (one trivial query): the server's
    /// readiness check.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.db.ping()
    }

    /// When a call last found the database unreachable, while that is still the latest news
    /// (a later successful connection clears it). Never for SQLite.
    pub fn found_unreachable_at(&self) -> Option<std::time::Instant> {
        self.db.found_unreachable_at()
    }

    /// Runs `f` unless another process of the same database is running it under `lock` (a
    /// PostgreSQL advisory lock; with SQLite `f` always runs). Answers whether it ran. Used so
    /// that one replica at a time sweeps retention.
    pub fn exclusive(
        &self,
        lock: i64,
        mut f: impl FnMut() -> Result<(), StoreError>,
    ) -> Result<bool, StoreError> {
        self.db.exclusive(lock, &mut f)
    }

    /// The same database with the e-mail codes keyed by `secret` (by default each opened store
    /// draws a random one, kept in memory only). Set it before cloning the store: clones made
    /// earlier keep the old secret.
    #[must_use]
    pub fn with_otp_secret(mut self, secret: OtpSecret) -> Store {
        self.otp = Arc::new(secret);
        self
    }

    /// The key of the e-mail codes' HMAC.
    pub(crate) fn otp_secret(&self) -> &OtpSecret {
        &self.otp
    }

    /// The same database with webhook destination secrets sealed by `key` (by default each
    /// opened store draws a random one, kept in memory only, so secrets stored by an earlier
    /// run do not open). Set it before cloning the store: clones made earlier keep the old key.
    #[must_use]
    pub fn with_webhook_key(mut self, key: WebhookKey) -> Store {
        self.webhook_key = Arc::new(key);
        self
    }

    /// The key sealing webhook destination secrets.
    pub(crate) fn webhook_key(&self) -> &WebhookKey {
        &self.webhook_key
    }

    /// The same database with review images sealed by `key` (`--review-images-key-file`);
    /// without one, saving review images is refused and none can be read. Set it before
    /// cloning the store.
    #[must_use]
    pub fn with_review_images_key(mut self, key: ReviewImagesKey) -> Store {
        self.review_images_key = Some(Arc::new(key));
        self
    }

    /// The key sealing review images, if review images are on.
    pub(crate) fn review_images_key(&self) -> Option<&ReviewImagesKey> {
        self.review_images_key.as_deref()
    }

    // ---- Review images --------------------------------------------------------------------

    /// Keeps the two uploaded images of saved decision `request_id` for the console until
    /// `expires_at`, each sealed (AES-256-GCM, bound to the request id and its side), replacing
    /// any kept before. `Invalid` without a review images key, `NotFound` for an unknown
    /// decision.
    pub fn save_review_images(
        &self,
        request_id: &str,
        source: &[u8],
        target: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        review_images::save(self, request_id, source, target, expires_at)
    }

    /// The two kept images of `request_id` (source, target), opened; `None` when none are
    /// kept, they expired before `now`, or review images are off. Bytes sealed with another
    /// key, or moved to another row, are [`WebhookKeyError::Unseal`].
    pub fn review_images(
        &self,
        request_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ReviewImagePair>, StoreError> {
        review_images::open(self, request_id, now)
    }

    /// Deletes every kept image pair whose expiry is at or before `now` (in transactions of
    /// at most [`REVIEW_IMAGES_PURGE_BATCH`] rows); how many.
    pub fn purge_expired_review_images(&self, now: OffsetDateTime) -> Result<usize, StoreError> {
        review_images::purge_expired(self, now)
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

    /// Takes one credit from the key if it has any and is still usable, atomically (a single
    /// conditional `UPDATE`): with N credits left and any number of concurrent callers, exactly N
    /// get `true`. The same statement requires the key not revoked and not expired (now), so a
    /// key revoked between [`Store::authenticate`] and this call gets no work:
    /// [`AuthError::Revoked`] / [`AuthError::Expired`]; [`AuthError::Unknown`] when the key does
    /// not exist; `Ok(false)` when it has no credit left.
    pub fn reserve_credit(&self, key_id: &str) -> Result<bool, AuthError> {
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

    /// Stores a decision (and its history) in one committed transaction and returns the
    /// session number it was given (the key's next); once this returns `Ok`, the decision
    /// survives a crash of the process. `Conflict` if the request id already exists,
    /// `NotFound` if the key does not.
    pub fn save_decision(&self, d: &SavedDecision) -> Result<i64, StoreError> {
        decisions::save_decision(self, d)
    }

    /// The decision with this request id, if it belongs to `key_id` (`None` otherwise, so another
    /// key cannot even learn that it exists); its history holds at most the newest
    /// [`MAX_HISTORY`] entries.
    pub fn get_decision(
        &self,
        request_id: &str,
        key_id: &str,
    ) -> Result<Option<SavedDecision>, StoreError> {
        Ok(decisions::get_decision(self, request_id, key_id)?.map(|v| v.decision))
    }

    /// [`get_decision`](Self::get_decision), saying whether older history entries were left
    /// out.
    pub fn decision_view(
        &self,
        request_id: &str,
        key_id: &str,
    ) -> Result<Option<DecisionView>, StoreError> {
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

    /// Sets a reviewer's decision: the saved `face_match`'s status becomes `new_status`,
    /// `updated_at` becomes `now`, and a [`StatusChange`] is appended to the history. `None`
    /// when the decision does not exist or belongs to another key;
    /// [`StatusUpdate::Unchanged`], with nothing written, when the decision already has
    /// `new_status` ([`is_a_change`]); [`ReviewError::HistoryFull`] when the decision already
    /// has [`MAX_HISTORY`] changes (checked in the same transaction as the append; nothing
    /// is written).
    pub fn update_status(
        &self,
        request_id: &str,
        key_id: &str,
        new_status: ReviewStatus,
        comment: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<StatusUpdate>, ReviewError> {
        decisions::update_status(self, request_id, key_id, new_status, comment, now)
    }

    /// Deletes the decision with this request id and its history if it belongs to `key_id`;
    /// `false` when there is none (unknown, already deleted, or another key's: that one is
    /// left untouched).
    pub fn delete_decision(&self, request_id: &str, key_id: &str) -> Result<bool, StoreError> {
        Ok(
            deletion::delete_decisions(self, &[request_id.to_owned()], key_id)?
                .first()
                .copied()
                .unwrap_or(false),
        )
    }

    /// [`delete_decision`](Self::delete_decision) for each id, in one transaction: whether
    /// each was deleted, in order. `Invalid` (nothing deleted) for more than
    /// [`MAX_DELETE_IDS`] ids.
    pub fn delete_decisions(
        &self,
        request_ids: &[String],
        key_id: &str,
    ) -> Result<Vec<bool>, StoreError> {
        deletion::delete_decisions(self, request_ids, key_id)
    }

    /// Retention: deletes up to `batch` decisions created before `cutoff` (oldest first),
    /// every key's, with their history, in one short transaction; returns how many. Call it
    /// again until it returns less than `batch`, pausing between calls so that requests
    /// get the write lock in between. `Invalid` unless `batch` is 1 to [`MAX_PURGE_BATCH`].
    pub fn purge_decisions_older_than(
        &self,
        cutoff: OffsetDateTime,
        batch: usize,
    ) -> Result<usize, StoreError> {
        deletion::purge_older_than(self, cutoff, batch)
    }

    // ---- Sessions (Didit's list and batch delete) -------------------------------------------

    /// One page of the key's decisions that match `filter`, newest first (highest session
    /// number first), and how many match in all. `Invalid` unless `limit` is 1 to
    /// [`MAX_SESSION_PAGE`], `offset` at most [`MAX_SESSION_OFFSET`] and the search at most
    /// [`MAX_SEARCH_CHARS`] characters.
    pub fn list_sessions(
        &self,
        key_id: &str,
        filter: &SessionFilter,
        limit: usize,
        offset: usize,
    ) -> Result<SessionPage, StoreError> {
        sessions::list_sessions(self, key_id, filter, limit, offset)
    }

    /// Deletes, in one transaction, each decision of `key_id` that `refs` names (by request
    /// id or session number) with its history: per ref, in order, what was deleted (`None`:
    /// unknown, already deleted, or another key's, left untouched). `Invalid` (nothing
    /// deleted) for more than [`MAX_DELETE_IDS`] refs.
    pub fn delete_sessions(
        &self,
        refs: &[SessionRef],
        key_id: &str,
    ) -> Result<Vec<Option<DeletedSession>>, StoreError> {
        deletion::delete_sessions(self, refs, key_id)
    }

    /// [`delete_sessions`](Self::delete_sessions) by session numbers only: per number, the
    /// request id deleted.
    pub fn delete_decisions_by_number(
        &self,
        numbers: &[i64],
        key_id: &str,
    ) -> Result<Vec<Option<String>>, StoreError> {
        let refs: Vec<SessionRef> = numbers.iter().copied().map(SessionRef::Number).collect();
        Ok(deletion::delete_sessions(self, &refs, key_id)?
            .into_iter()
            .map(|d| d.map(|d| d.request_id))
            .collect())
    }

    // ---- Webhooks -------------------------------------------------------------------------

    /// Creates a webhook destination. Validates (label 1–[`MAX_LABEL_CHARS`] characters, no
    /// control characters; url 1–[`MAX_URL_BYTES`] bytes, its safety being the server's to
    /// check; events 1–[`MAX_SUBSCRIBED_EVENTS`], each in [`WEBHOOK_EVENTS`], de-duplicated):
    /// `Invalid` otherwise. Generates the signing secret (32 random bytes, URL-safe base64
    /// without padding: 43 chars, like Didit's), seals it, stores. The owner: the key's account
    /// when it has one (every key of the account sees the destination and its events go
    /// there), else the key. `NotFound` for an unknown key, `Conflict` beyond
    /// [`MAX_DESTINATIONS_PER_OWNER`]. Returns the secret once.
    pub fn create_destination(
        &self,
        new: NewDestination,
        now: OffsetDateTime,
    ) -> Result<(Destination, SecretString), StoreError> {
        webhooks::create_destination(self, new, now)
    }

    /// The destinations visible to `key_id` (its own and its account's), oldest first.
    pub fn list_destinations(&self, key_id: &str) -> Result<Vec<Destination>, StoreError> {
        webhooks::list_destinations(self, key_id)
    }

    /// The destination `id` if `key_id` sees it (`None` otherwise, unknown or not its).
    pub fn get_destination(
        &self,
        id: &str,
        key_id: &str,
    ) -> Result<Option<Destination>, StoreError> {
        webhooks::get_destination(self, id, key_id)
    }

    /// Changes the fields given (the same rules as at creation; events replace the list);
    /// `None` when `key_id` does not see the destination.
    pub fn update_destination(
        &self,
        id: &str,
        key_id: &str,
        update: DestinationUpdate,
        now: OffsetDateTime,
    ) -> Result<Option<Destination>, StoreError> {
        webhooks::update_destination(self, id, key_id, update, now)
    }

    /// Gives the destination a new signing secret and returns it once (the old one stops
    /// working at once); `None` when `key_id` does not see the destination.
    pub fn rotate_destination_secret(
        &self,
        id: &str,
        key_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SecretString>, StoreError> {
        webhooks::rotate_destination_secret(self, id, key_id, now)
    }

    /// Deletes the destination with all its deliveries, pending or not, and their log (and the
    /// events left with no delivery); `false` when `key_id` does not see it.
    pub fn delete_destination(&self, id: &str, key_id: &str) -> Result<bool, StoreError> {
        webhooks::delete_destination(self, id, key_id)
    }

    /// The plaintext secret, for signing (deliverer only: no owner check). A secret sealed
    /// with another [`WebhookKey`] is [`WebhookKeyError::Unseal`].
    pub fn destination_secret(&self, id: &str) -> Result<Option<SecretString>, StoreError> {
        webhooks::destination_secret(self, id)
    }

    /// The destination's delivery summary over its logged attempts (a try failed unless it
    /// got a 2xx answer and no error).
    pub fn destination_stats(&self, id: &str) -> Result<DestinationStats, StoreError> {
        webhooks::destination_stats(self, id)
    }

    /// A test `status.updated` event for one destination only (CLI `webhooks test`, API):
    /// snapshot None; returns the new delivery's [`DueDelivery`], already claimed (lease
    /// `lease`), so the caller can send it at once; None if no such destination for the key.
    /// The destination need not be enabled.
    pub fn enqueue_test_event(
        &self,
        destination_id: &str,
        key_id: &str,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<Option<DueDelivery>, StoreError> {
        webhooks::enqueue_test_event(self, destination_id, key_id, now, lease)
    }

    /// Up to `limit` pending deliveries due at `now` (next_attempt_at <= now) whose
    /// destination is enabled and not backing off (backoff_until NULL or <= now), oldest
    /// first; in the same IMMEDIATE transaction sets their next_attempt_at = now + lease, so
    /// a crash mid-send retries them after the lease (at least once) and two deliverers never
    /// take the same one. A delivery whose destination is disabled stays pending.
    pub fn claim_due_deliveries(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        webhooks::claim_due_deliveries(self, now, lease, limit)
    }

    /// Logs one try (a webhook_attempts row; the response body cut to
    /// [`MAX_LOGGED_RESPONSE_BYTES`]) and moves the delivery on: Delivered → state delivered,
    /// destination backoff cleared; RetryAt(t) → stays pending, next_attempt_at = t,
    /// attempts+1, destination backoff_until = min(t, now + 60 s); GiveUp → state failed.
    /// A resend (`resend: true`) logs the row; if it succeeded the delivery becomes delivered,
    /// otherwise its schedule is unchanged. A retry or give-up reported for a delivery that is
    /// no longer pending only logs the row. Returns the attempt's id; `NotFound` when the
    /// delivery is gone (its decision or destination was deleted meanwhile).
    pub fn record_attempt(
        &self,
        delivery_id: &str,
        attempt: &AttemptRecord,
        outcome: AttemptOutcome,
        resend: bool,
        now: OffsetDateTime,
    ) -> Result<String, StoreError> {
        webhooks::record_attempt(self, delivery_id, attempt, outcome, resend, now)
    }

    /// The delivery log of a saved decision (all its events' attempts, every destination),
    /// newest first; None when the decision is not the key's (unknown/another key's).
    pub fn session_attempts(
        &self,
        request_id: &str,
        key_id: &str,
    ) -> Result<Option<Vec<AttemptLog>>, StoreError> {
        webhooks::session_attempts(self, request_id, key_id)
    }

    /// One attempt of that decision's log; None when the decision is not the key's or the
    /// attempt is not of that decision.
    pub fn session_attempt(
        &self,
        request_id: &str,
        attempt_id: &str,
        key_id: &str,
    ) -> Result<Option<AttemptLog>, StoreError> {
        webhooks::session_attempt(self, request_id, attempt_id, key_id)
    }

    /// For a resend: the attempt's delivery as a [`DueDelivery`] (not re-scheduled), its
    /// `url` the one the attempt was sent to (Didit resends to the original URL).
    pub fn resend_target(
        &self,
        request_id: &str,
        attempt_id: &str,
        key_id: &str,
    ) -> Result<Option<DueDelivery>, StoreError> {
        webhooks::resend_target(self, request_id, attempt_id, key_id)
    }

    /// One attempt of a destination's log; None when `key_id` does not see the
    /// destination or the attempt is not of it.
    pub fn destination_attempt(
        &self,
        destination_id: &str,
        attempt_id: &str,
        key_id: &str,
    ) -> Result<Option<AttemptLog>, StoreError> {
        webhooks::destination_attempt(self, destination_id, attempt_id, key_id)
    }

    /// [`resend_target`](Self::resend_target) for an attempt named by its destination
    /// (Didit's destination-scoped resend).
    pub fn destination_resend_target(
        &self,
        destination_id: &str,
        attempt_id: &str,
        key_id: &str,
    ) -> Result<Option<DueDelivery>, StoreError> {
        webhooks::destination_resend_target(self, destination_id, attempt_id, key_id)
    }

    /// A destination's log, newest first, at most `limit` (capped at [`MAX_ATTEMPTS_PAGE`]);
    /// None when `key_id` does not see the destination.
    pub fn destination_attempts(
        &self,
        destination_id: &str,
        key_id: &str,
        limit: usize,
    ) -> Result<Option<Vec<AttemptLog>>, StoreError> {
        webhooks::destination_attempts(self, destination_id, key_id, limit)
    }

    /// Retention: deletes up to `batch` events created before `cutoff` whose deliveries are all
    /// delivered or failed (never a pending one), with their deliveries and attempts; returns
    /// how many events. `Invalid` unless `batch` is 1 to [`MAX_PURGE_BATCH`].
    pub fn purge_webhook_events_older_than(
        &self,
        cutoff: OffsetDateTime,
        batch: usize,
    ) -> Result<usize, StoreError> {
        webhooks::purge_events_older_than(self, cutoff, batch)
    }

    /// Pending deliveries (for metrics/tests).
    pub fn pending_deliveries(&self) -> Result<i64, StoreError> {
        webhooks::pending_deliveries(self)
    }

    // ---- Accounts -------------------------------------------------------------------------

    /// The checks [`Store::register`] makes before hashing the password — the address
    /// parses, the password is 8 characters to its byte limit — without touching the
    /// database: a caller that bounds concurrent hashing checks these first, so an
    /// invalid request never waits for (or takes) a hashing slot.
    pub fn check_registration(email: &str, password: &str) -> Result<(), StoreError> {
        accounts::check_registration(email, password).map(|_| ())
    }

    /// Registers an account for the e-mail's mailbox (one per mailbox: trimmed, lower-cased,
    /// `+tag` and Gmail dots removed) and returns a fresh 6-character verification code valid for
    /// [`OTP_TTL`]; any previous code stops working and the attempt counters start again.
    /// A pending registration keeps its password: re-registering it with another one returns
    /// [`Registration::Unchanged`] (unless it is older than [`OTP_TTL`], when it is taken over),
    /// and so does a verified address. `Invalid` for a malformed e-mail or a password shorter
    /// than [`MIN_PASSWORD_CHARS`].
    pub fn register(
        &self,
        email: &str,
        password: &str,
        now: OffsetDateTime,
    ) -> Result<Registration, StoreError> {
        accounts::register(self, email, password, now)
    }

    /// Checks a verification code tried by `client` (its IP address or IPv6 /64, stored only as a
    /// keyed hash). On success the account is marked verified, the code consumed, and a new key
    /// with `signup_credits` credits is created for the account and returned. The code is
    /// compared case-insensitively, ignoring surrounding whitespace, in constant time. A wrong
    /// code counts against `client` ([`MAX_OTP_ATTEMPTS`]) and against the code
    /// ([`MAX_OTP_ATTEMPTS_TOTAL`]); `Expired` and `TooManyAttempts` are returned only for the
    /// right code, any other failure is `WrongCode` or `NoPendingCode`.
    pub fn verify_email(
        &self,
        email: &str,
        code: &str,
        client: &str,
        now: OffsetDateTime,
        signup_credits: i64,
    ) -> Result<CreatedKey, VerifyError> {
        accounts::verify_email(self, email, code, client, now, signup_credits)
    }
}
