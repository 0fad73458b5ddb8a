//! Errors of the storage layer, one enum per kind of caller: [`StoreError`] for every
//! operation, [`AuthError`] for presenting a key, [`VerifyError`] for an e-mail code.

/// Errors of the storage layer.
///
/// `NotFound`, `Invalid` and `Conflict` describe the caller's request (map them to 404, 400 and
/// 409); `Unavailable` is a temporary outage (503); every other variant is an internal failure
/// (500) whose message must not reach a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL reported an error.
    #[error("database error: {0}")]
    Postgres(#[source] postgres::Error),
    /// The database cannot be reached now (refused or lost connection, server shutting down,
    /// pool exhausted past its wait, statement timeout): map it to 503; it recovers by itself.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database's schema is older than this build and was not migrated (see
    /// `facematch db migrate`, or `serve --migrate`).
    #[error(
        "the database schema is at version {current}, this build needs {latest}: run \
         `facematch db migrate --database …` (or start the server with --migrate)"
    )]
    SchemaOutdated {
        /// The database's version.
        current: usize,
        /// This build's version.
        latest: usize,
    },
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
    /// The webhook key file is unusable, or a destination's sealed secret did not open.
    #[error(transparent)]
    WebhookKey(#[from] crate::WebhookKeyError),
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
    /// The code is older than [`OTP_TTL`](crate::OTP_TTL); register again for a new one.
    #[error("verification code expired")]
    Expired,
    /// [`MAX_OTP_ATTEMPTS`](crate::MAX_OTP_ATTEMPTS) tries were used up; register again for a new code.
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
