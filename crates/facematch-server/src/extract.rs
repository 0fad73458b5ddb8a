//! Request extractors whose rejections are [`ApiError`]s, so that a bad body answers in
//! the contract's error shape like every other failure.

use axum::extract::{FromRequest, Request};
use axum::Json;

use crate::error::ApiError;

/// A JSON body, like [`axum::Json`], rejected as [`ApiError::BodyTooLarge`] (413) over
/// the route's body limit and [`ApiError::Json`] (400) when it cannot be read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(Self(value))
    }
}
