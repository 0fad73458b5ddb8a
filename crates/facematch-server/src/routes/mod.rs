//! The HTTP handlers, one module per area of the API.

pub mod accounts;
pub mod billing;
pub mod decisions;
pub mod face_match;
pub mod ops;

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;

use crate::error::ApiError;

/// Maps a JSON body rejection: too large is a 413, anything else a 400.
pub fn json_error(e: JsonRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::BodyTooLarge
    } else {
        ApiError::Json(e.body_text())
    }
}

/// Unknown paths: a JSON 404 like every other error.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// Known path, wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
