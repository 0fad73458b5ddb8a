//! The one error type of the HTTP layer and its mapping onto responses.
//!
//! When to use what: handlers and extractors return [`ApiError`]; every failure a
//! client can cause has its own variant, and [`ApiError::status_and_code`] is the single
//! table from variant to HTTP status and stable machine-readable `code`. Faults of the
//! server itself (the store, the models, a task that died) are [`ApiError::Internal`]:
//! the details go to the log, the client only sees a generic message — internals never
//! leak into a response. The body is always the contract's
//! `{"detail": "...", "code": "..."}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use facematch_imageio::ImageError;
use serde::Serialize;

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
    /// A service we depend on (the SMTP server) failed.
    #[error("could not deliver the verification code; try again later")]
    Upstream(String),
    /// The resource does not exist (or belongs to another key).
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not with this method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// The request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// An email verification failed in a way the client can fix.
    #[error("{detail}")]
    Verification {
        /// Stable code (`invalid_code`, `code_expired`, `no_pending_code`, `too_many_attempts`).
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
    /// The models are still loading.
    #[error("the server is starting (models are loading); retry later")]
    NotReady,
    /// The request did not finish within the configured time.
    #[error("the request took longer than {0} s")]
    Timeout(u64),
    /// A fault of the server; the string is logged, never sent.
    #[error("internal error")]
    Internal(String),
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
            Verification { code, .. } => (StatusCode::BAD_REQUEST, code),
            Busy => (StatusCode::TOO_MANY_REQUESTS, "server_busy"),
            RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            NotReady => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }

    /// `Retry-After` seconds for the variants that have one.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Busy | ApiError::Timeout(_) => Some(1),
            ApiError::NotReady => Some(5),
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// Wraps a server-side fault.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        ApiError::Internal(err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ApiError::Upstream(detail) => tracing::warn!(%detail, "upstream failure"),
            _ => {}
        }
        let body = ErrorBody {
            detail: self.to_string(),
            code,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The JSON of a handler panic caught by `CatchPanicLayer`: a 500 in the contract's
/// error shape, without the panic message (which could hold internals).
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::Internal("handler panicked".into()).into_response()
}
