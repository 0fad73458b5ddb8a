//! Who is calling: the `x-api-key` extractor, the client address, and the credit
//! reservation that makes "one credit per 200" atomic.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
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

/// The client's IP address when the server was started with connect info (`None` in
/// in-process tests). Proxy headers are not trusted: behind a reverse proxy all clients
/// share the proxy's address.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

/// One credit taken from a key for a request in progress. [`commit`](Self::commit) it
/// when the request ends in a 200; [`refund`](Self::refund) it otherwise. If the
/// request is dropped half-way (client gone, timeout), `Drop` gives it back.
pub struct CreditReservation {
    state: AppState,
    key_id: String,
    settled: bool,
}

impl CreditReservation {
    /// Takes one credit atomically; [`ApiError::NoCredits`] (403) when none is left.
    /// The key was just authenticated: any refusal of the store here is a fault.
    pub async fn take(state: &AppState, key_id: &str) -> Result<Self, ApiError> {
        let id = key_id.to_owned();
        let taken = state
            .with_store(move |store| store.reserve_credit(&id).map_err(Fault::Store))
            .await?;
        if !taken {
            return Err(ApiError::NoCredits);
        }
        Ok(Self {
            state: state.clone(),
            key_id: key_id.to_owned(),
            settled: false,
        })
    }

    /// The request succeeded: the credit is spent.
    pub fn commit(mut self) {
        self.settled = true;
    }

    /// The request failed: give the credit back before answering, so that a client that
    /// reads its balance right after the error sees it restored.
    pub async fn refund(mut self) {
        self.settled = true;
        let key_id = std::mem::take(&mut self.key_id);
        let refunded = self
            .state
            .with_store(move |store| store.refund_credit(&key_id).map_err(Fault::Store))
            .await;
        if let Err(e) = refunded {
            // Not a response: logged here, with its cause.
            tracing::error!(error = %crate::middleware::ErrorChain(&e), "credit refund failed");
        }
    }
}

impl Drop for CreditReservation {
    fn drop(&mut self) {
        if self.settled {
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
