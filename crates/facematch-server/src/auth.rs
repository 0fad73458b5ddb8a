//! Who is calling: the `x-api-key` extractor and the credit reservation that makes
//! "one credit per 200" atomic. (The client address: [`crate::client_ip`].)

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use facematch_core::WorkStarted;
use facematch_store::KeyRecord;

use crate::error::{ApiError, Fault};
use crate::state::AppState;

/// The header carrying the API key, as Didit names it.
pub const API_KEY_HEADER: &str = "x-api-key";

/// An authenticated API key (valid, not revoked, not expired). Extracting it answers
/// 401 otherwise. The presented key is never logged.
#[derive(Debug, Clone)]
pub struct ApiKey(pub KeyRecord);

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = match parts.headers.get(API_KEY_HEADER) {
            None => return Err(ApiError::MissingKey),
            // Non-ASCII bytes cannot be one of our keys.
            Some(value) => value.to_str().map_err(|_| ApiError::InvalidKey)?.trim(),
        };
        if presented.is_empty() {
            return Err(ApiError::MissingKey);
        }
        let presented = presented.to_owned();
        let now = time::OffsetDateTime::now_utc();
        let record = state
            .with_store(move |store| store.authenticate(&presented, now))
            .await?;
        Ok(ApiKey(record))
    }
}

/// An [`ApiKey`] that must be an admin key (403 otherwise).
#[derive(Debug, Clone)]
pub struct AdminKey(pub KeyRecord);

impl FromRequestParts<AppState> for AdminKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ApiKey(record) = ApiKey::from_request_parts(parts, state).await?;
        if record.admin {
            Ok(AdminKey(record))
        } else {
            Err(ApiError::AdminOnly)
        }
    }
}

/// One credit taken from a key for a face match in progress, settled by the charging
/// rule (written out in [`crate::routes::face_match`]): spent by a 200, and by any
/// other ending once the pipeline's work has started (`started`, set by the pipeline
/// just before it decodes the first pixels) — a 400 for the other image, a client
/// that went away, a deadline; given back when nothing was decoded or the server
/// itself failed (500). If the request is dropped half-way (client gone, timeout),
/// `Drop` applies the same rule.
pub struct CreditReservation {
    state: AppState,
    key_id: String,
    started: WorkStarted,
    settled: bool,
}

impl CreditReservation {
    /// Takes one credit atomically; [`ApiError::NoCredits`] (403) when none is left, 401
    /// when the key was revoked or expired since it was authenticated (the store checks
    /// both in the same statement). `started` is the flag the pipeline will set.
    pub async fn take(
        state: &AppState,
        key_id: &str,
        started: WorkStarted,
    ) -> Result<Self, ApiError> {
        let id = key_id.to_owned();
        let taken = state
            .with_store(move |store| store.reserve_credit(&id))
            .await?;
        if !taken {
            return Err(ApiError::NoCredits);
        }
        Ok(Self {
            state: state.clone(),
            key_id: key_id.to_owned(),
            started,
            settled: false,
        })
    }

    /// Whether the credit stays spent for a request that ended with `outcome`.
    fn spent_by<T>(&self, outcome: &Result<T, ApiError>) -> bool {
        match outcome {
            Ok(_) => true,
            Err(ApiError::Internal(_)) => false,
            Err(_) => self.started.is_set(),
        }
    }

    /// Settles the credit by the charging rule for a request that ended with
    /// `outcome`: spent, or given back before answering (so that a client that reads
    /// its balance right after the error sees it restored).
    pub async fn settle<T>(self, outcome: &Result<T, ApiError>) {
        if self.spent_by(outcome) {
            self.spend();
        } else {
            self.refund().await;
        }
    }

    /// The credit is spent.
    pub fn spend(mut self) {
        self.settled = true;
    }

    /// The credit goes back to the key now; while the database is unreachable, again and
    /// again in the background (see [`REFUND_RETRY_FOR`]).
    pub async fn refund(mut self) {
        self.settled = true;
        let key_id = std::mem::take(&mut self.key_id);
        if let Err(e) = refund_once(&self.state, key_id.clone()).await {
            if is_database_outage(&e) {
                retry_refund_later(self.state.clone(), key_id);
            } else {
                // Not a response: logged here, with its cause.
                tracing::error!(error = %crate::middleware::ErrorChain(&e), "credit refund failed");
            }
        }
    }
}

/// How long a refund that met a database outage keeps being retried (with a growing pause,
/// at most [`REFUND_RETRY_MAX_PAUSE`]): a request that failed with 503 because the database
/// went away gets its credit back once it returns, unless this replica stops first.
pub const REFUND_RETRY_FOR: Duration = Duration::from_secs(15 * 60);

/// The longest pause between two tries of a pending refund.
pub const REFUND_RETRY_MAX_PAUSE: Duration = Duration::from_secs(5);

async fn refund_once(state: &AppState, key_id: String) -> Result<(), ApiError> {
    state
        .with_store(move |store| store.refund_credit(&key_id).map_err(Fault::Store))
        .await
}

fn is_database_outage(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::Internal(Fault::Store(facematch_store::StoreError::Unavailable(_)))
    )
}

/// Retries a refund in the background until the database answers (or for
/// [`REFUND_RETRY_FOR`]).
fn retry_refund_later(state: AppState, key_id: String) {
    tracing::warn!("the database is unreachable: the credit refund will be retried");
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + REFUND_RETRY_FOR;
        let mut pause = Duration::from_millis(250);
        loop {
            tokio::time::sleep(pause).await;
            match refund_once(&state, key_id.clone()).await {
                Ok(()) => {
                    tracing::info!("credit refund done after the database came back");
                    return;
                }
                Err(e) if is_database_outage(&e) && tokio::time::Instant::now() < deadline => {
                    pause = (pause * 2).min(REFUND_RETRY_MAX_PAUSE);
                }
                Err(e) => {
                    tracing::error!(error = %crate::middleware::ErrorChain(&e), "credit refund failed");
                    return;
                }
            }
        }
    });
}

impl Drop for CreditReservation {
    fn drop(&mut self) {
        // Abandoned (client gone, deadline): spent once work started, else given back.
        if self.settled || self.started.is_set() {
            return;
        }
        let store = self.state.store().clone();
        let key_id = std::mem::take(&mut self.key_id);
        let refund = move || {
            if let Err(e) = store.refund_credit(&key_id) {
                tracing::error!(error = %e, "credit refund failed");
            }
        };
        // Dropped inside the runtime (the usual case): refund off the async workers.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(refund);
            }
            Err(_) => refund(),
        }
    }
}
