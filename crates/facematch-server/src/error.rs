//! The one error type of the HTTP layer and the only place errors become responses.
//!
//! When to use what: handlers and extractors return [`ApiError`]; every failure a
//! client can cause has its own variant, and [`ApiError::status_and_code`] is the single
//! table from variant to HTTP status and stable machine-readable `code`. The errors of
//! the layers below (store, key check, e-mail code, pipeline, mailer, JSON and multipart
//! rejections) become an `ApiError` through the `From` impls here, and nowhere else.
//!
//! Faults of the server itself (the store, the models, a task that died) are
//! [`ApiError::Internal`], which keeps its cause as a [`Fault`] source: the client only
//! sees a generic message — internals never leak into a response — and the cause, with
//! its whole source chain, is logged once by [`crate::middleware::log_faults`] (this
//! module does not log). The body is always the contract's `{"detail": "...", "code":
//! "..."}`.

use std::sync::Arc;

use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use facematch_core::{CompareError, PipelineError};
use facematch_imageio::ImageError;
use facematch_store::{AuthError, StoreError, VerifyError};
use serde::Serialize;

use crate::mail::MailError;

/// The error body of every non-2xx response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A human-readable message; may change between versions.
    pub detail: String,
    /// A stable machine-readable code.
    pub code: &'static str,
}

/// Everything that can make a request fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `x-api-key` header.
    #[error("missing x-api-key header")]
    MissingKey,
    /// The key is unknown (or malformed).
    #[error("invalid API key")]
    InvalidKey,
    /// The key was revoked.
    #[error("this API key was revoked")]
    RevokedKey,
    /// The key is past its expiry.
    #[error("this API key has expired")]
    ExpiredKey,
    /// No credit left on the key.
    #[error("no credits left on this API key; top up to continue")]
    NoCredits,
    /// The operation needs an admin key.
    #[error("this operation needs an admin API key")]
    AdminOnly,
    /// `/metrics` without the right `Authorization: Bearer` token (`--metrics-token`),
    /// or, with no token configured, from a client that is not local.
    #[error(
        "/metrics needs `Authorization: Bearer <token>` (--metrics-token); without a \
         token it answers local clients only"
    )]
    MetricsUnauthorized,
    /// A required multipart field is absent.
    #[error("the field `{0}` is required")]
    MissingField(&'static str),
    /// A field was sent more than once.
    #[error("the field `{0}` was sent more than once")]
    DuplicateField(String),
    /// A field has a value outside its rules.
    #[error("invalid `{field}`: {reason}")]
    InvalidField {
        /// The field's name as the client sent it.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The body is not valid multipart/form-data (no boundary, broken framing, …).
    #[error("malformed multipart body: {0}")]
    Multipart(String),
    /// A JSON body could not be read.
    #[error("invalid JSON body: {0}")]
    Json(String),
    /// An image could not be used.
    #[error("`{field}`: {source}")]
    Image {
        /// `user_image` or `ref_image`.
        field: &'static str,
        /// Why.
        source: ImageError,
    },
    /// One image part is over the per-image limit.
    #[error("`{field}` is larger than {limit} bytes")]
    FileTooLarge {
        /// `user_image` or `ref_image`.
        field: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// The whole body is over the total limit.
    #[error("the request body is larger than the server accepts")]
    BodyTooLarge,
    /// A request the store refused for a reason safe to show (bad e-mail, short password…).
    #[error("{0}")]
    BadRequest(String),
    /// A service we depend on (the SMTP server) failed; the cause is logged, never sent.
    #[error("could not deliver the verification code; try again later")]
    Upstream(#[source] MailError),
    /// The resource does not exist (or belongs to another key).
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not with this method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// The request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// The decision already has the most status changes kept (`facematch_store::MAX_HISTORY`).
    #[error("this decision already has {limit} status changes, the most kept")]
    HistoryFull {
        /// The cap.
        limit: usize,
    },
    /// E-mail sign-up is turned off (`--signup closed`): only the operator creates keys.
    #[error("sign-up is closed on this server; ask its operator for an API key")]
    SignupClosed,
    /// An email verification failed in a way the client can fix.
    #[error("{detail}")]
    Verification {
        /// Stable code (`invalid_code`, `code_expired`, `too_many_attempts`).
        code: &'static str,
        /// Message.
        detail: String,
    },
    /// All workers are busy and the queue is full.
    #[error("the server is at capacity; retry later")]
    Busy,
    /// Too many requests from this client for this operation.
    #[error("too many requests; retry in {retry_after} s")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// This API key already has as many face matches in progress as it may
    /// (`--max-in-flight-per-key`).
    #[error("this API key already has {limit} face matches in progress; retry when one ends")]
    TooManyInFlight {
        /// The per-key limit.
        limit: usize,
    },
    /// The models are still loading.
    #[error("the server is starting (models are loading); retry later")]
    NotReady,
    /// The request did not finish within the configured time.
    #[error("the request took longer than {0} s")]
    Timeout(u64),
    /// A fault of the server; the cause is logged, never sent.
    #[error("internal error")]
    Internal(#[from] Fault),
}

/// What went wrong inside the server when a request ends in a 500: kept as the
/// [`ApiError::Internal`] source so that the log shows the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// The store failed (or refused something the server itself built).
    #[error("the store failed")]
    Store(#[source] StoreError),
    /// A model or the inference runtime failed.
    #[error("the face pipeline failed")]
    Pipeline(#[from] PipelineError),
    /// A blocking task died (it panicked, or the runtime is shutting down).
    #[error("a worker task failed")]
    Task(#[from] tokio::task::JoinError),
    /// The worker pool's semaphore was closed (never happens while the server runs).
    #[error("the worker pool is closed")]
    PoolClosed(#[from] tokio::sync::AcquireError),
    /// The metrics could not be rendered.
    #[error("rendering the metrics failed")]
    Metrics(#[from] prometheus::Error),
    /// Sending a webhook now (a test event, a resend) failed inside the server (the store,
    /// the destination's secret); a receiver that fails is not a fault.
    #[error("sending the webhook failed")]
    Webhook(#[source] crate::webhooks::deliver::DeliverError),
    /// A request handler panicked (caught by `CatchPanicLayer`; the message is not kept,
    /// it could hold internals).
    #[error("a request handler panicked")]
    Panic,
}

impl ApiError {
    /// The one table: status and stable code of each variant.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use ApiError::*;
        match self {
            MissingKey => (StatusCode::UNAUTHORIZED, "missing_api_key"),
            InvalidKey => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            RevokedKey => (StatusCode::UNAUTHORIZED, "revoked_api_key"),
            ExpiredKey => (StatusCode::UNAUTHORIZED, "expired_api_key"),
            NoCredits => (StatusCode::FORBIDDEN, "insufficient_credits"),
            AdminOnly => (StatusCode::FORBIDDEN, "admin_required"),
            MetricsUnauthorized => (StatusCode::UNAUTHORIZED, "metrics_unauthorized"),
            MissingField(_) => (StatusCode::BAD_REQUEST, "missing_field"),
            DuplicateField(_) => (StatusCode::BAD_REQUEST, "duplicate_field"),
            InvalidField { .. } => (StatusCode::BAD_REQUEST, "invalid_field"),
            Multipart(_) => (StatusCode::BAD_REQUEST, "invalid_multipart"),
            Json(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            // Every decode failure (format, corruption, a decompression bomb refused from
            // its header) is the client's file: 400 with imageio's own stable code.
            Image { source, .. } => (StatusCode::BAD_REQUEST, source.code()),
            FileTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "file_too_large"),
            BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Upstream(_) => (StatusCode::BAD_GATEWAY, "mail_delivery_failed"),
            NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            HistoryFull { .. } => (StatusCode::CONFLICT, "history_full"),
            SignupClosed => (StatusCode::FORBIDDEN, "signup_closed"),
            Verification { code, .. } => (StatusCode::BAD_REQUEST, code),
            Busy => (StatusCode::TOO_MANY_REQUESTS, "server_busy"),
            RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            TooManyInFlight { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_in_flight"),
            NotReady => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            // The database cannot be reached now (down, restarting, overloaded): the request
            // failed fast and may be retried; it recovers by itself.
            Internal(Fault::Store(StoreError::Unavailable(_))) => {
                (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
            }
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }

    /// `Retry-After` seconds for the variants that have one.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Busy | ApiError::Timeout(_) | ApiError::TooManyInFlight { .. } => Some(1),
            ApiError::Internal(Fault::Store(StoreError::Unavailable(_))) => Some(1),
            ApiError::NotReady => Some(5),
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// Whether this error hides a cause an operator must see (a fault of the server or
    /// of a service it depends on): such errors travel to the log with the response.
    fn has_hidden_cause(&self) -> bool {
        matches!(self, ApiError::Internal(_) | ApiError::Upstream(_))
    }
}

/// An error whose cause the client does not see, carried in the response's extensions
/// from [`ApiError::into_response`] to the one middleware that logs it
/// ([`crate::middleware::log_faults`]).
#[derive(Debug, Clone)]
pub struct HiddenCause(pub Arc<ApiError>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let detail = if code == "database_unavailable" {
            "the database is unavailable; retry later".to_owned()
        } else {
            self.to_string()
        };
        let body = ErrorBody { detail, code };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.has_hidden_cause() {
            response
                .extensions_mut()
                .insert(HiddenCause(Arc::new(self)));
        }
        response
    }
}

/// The JSON of a handler panic caught by `CatchPanicLayer`: a 500 in the contract's
/// error shape, without the panic message (which could hold internals).
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal(Fault::Panic).into_response()
}

/// The status of each store error, in one place: `Invalid`, `NotFound` and `Conflict`
/// describe the client's request and keep their (client-safe) message; anything else is
/// a fault. Where the server itself built what the store refused (saving a decision,
/// taking a credit), the caller maps with [`Fault::Store`] instead: any refusal is then
/// ours.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(m) => ApiError::BadRequest(m),
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            other => ApiError::Internal(Fault::Store(other)),
        }
    }
}

/// A rejected key is a 401; a store that failed while checking it, a 500.
impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => ApiError::MissingKey,
            AuthError::Unknown => ApiError::InvalidKey,
            AuthError::Revoked => ApiError::RevokedKey,
            AuthError::Expired => ApiError::ExpiredKey,
            AuthError::Store(e) => ApiError::Internal(Fault::Store(e)),
        }
    }
}

/// A failed e-mail verification: a 400 with a stable code the client can act on. A
/// wrong code and an address with nothing pending get one answer, byte for byte, so that
/// verifying does not tell a stranger whether an address is registered; the store
/// returns `Expired` and `TooManyAttempts` only for the right code.
impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::NoPendingCode | VerifyError::WrongCode { .. } => ApiError::Verification {
                code: "invalid_code",
                detail: "wrong verification code, or no code pending for this e-mail".into(),
            },
            VerifyError::Expired => ApiError::Verification {
                code: "code_expired",
                detail: "the verification code expired; register again for a new one".into(),
            },
            VerifyError::TooManyAttempts => ApiError::Verification {
                code: "too_many_attempts",
                detail: "too many wrong attempts; register again (with the same password) for a \
                         new code"
                    .into(),
            },
            VerifyError::Store(e) => e.into(),
        }
    }
}

/// A model or runtime failure is ours (500).
impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        ApiError::Internal(Fault::Pipeline(e))
    }
}

/// A part that does not decode is the client's 400, naming the part; a pipeline
/// failure is ours.
impl From<CompareError> for ApiError {
    fn from(e: CompareError) -> Self {
        match e {
            CompareError::Decode { side, source } => ApiError::Image {
                field: side.field(),
                source,
            },
            CompareError::Pipeline(e) => e.into(),
        }
    }
}

/// The SMTP server failed: a 502 that names no internals.
impl From<MailError> for ApiError {
    fn from(e: MailError) -> Self {
        ApiError::Upstream(e)
    }
}

/// A blocking task that died is ours (500).
impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(Fault::Task(e))
    }
}

/// A JSON body over the route's limit is a 413; anything else wrong with it a 400.
impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge
        } else {
            ApiError::Json(e.body_text())
        }
    }
}

/// A request that is not `multipart/form-data` (or has no boundary) is a 400.
impl From<MultipartRejection> for ApiError {
    fn from(e: MultipartRejection) -> Self {
        ApiError::Multipart(e.body_text())
    }
}

/// A multipart body cut by the body limit is a 413; any other broken body a 400.
impl From<MultipartError> for ApiError {
    fn from(e: MultipartError) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge
        } else {
            ApiError::Multipart(e.body_text())
        }
    }
}
