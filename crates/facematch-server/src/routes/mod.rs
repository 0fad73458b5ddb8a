//! The HTTP handlers, one module per area of the API.

pub mod accounts;
pub mod billing;
pub mod decisions;
pub mod deletion;
pub mod face_match;
pub mod ops;
pub mod sessions;
pub mod webhooks;

use crate::error::ApiError;

/// Unknown paths: a JSON 404 like every other error.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// Known path, wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
