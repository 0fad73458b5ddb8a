//! Errors of console pages: an HTML page with the right status, never JSON and never a
//! stack trace. A server fault shows a generic page and travels to the log like the API's
//! (`HiddenCause`).

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::error::{ApiError, HiddenCause};

use super::layout;

/// Why a console page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The thing does not exist, or belongs to another account (the two look alike).
    #[error("{0}")]
    NotFound(String),
    /// Signed in, but the role may not do this.
    #[error("your role may not open this page")]
    Forbidden,
    /// The form's CSRF token is missing or wrong.
    #[error("the form expired or did not come from this console; reload the page and retry")]
    Csrf,
    /// The form or query is malformed; the message says what to fix.
    #[error("{0}")]
    BadRequest(String),
    /// The form is larger than any console form may be.
    #[error("the form is too large")]
    TooLarge,
    /// Too many attempts; retry after the given seconds.
    #[error("too many attempts; retry in {0} seconds")]
    RateLimited(u64),
    /// An API-level error of a store call or a limiter.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<facematch_store::StoreError> for PageError {
    fn from(e: facematch_store::StoreError) -> Self {
        PageError::Api(e.into())
    }
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Forbidden | PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            PageError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            PageError::Api(e) => e.status_and_code().0,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            match status {
                StatusCode::SERVICE_UNAVAILABLE => {
                    "The service is busy or its database is unavailable. Retry in a moment."
                        .to_owned()
                }
                _ => "Something went wrong on the server. It has been logged.".to_owned(),
            }
        } else {
            self.to_string()
        };
        let title = status.canonical_reason().unwrap_or("Error");
        let body = layout::bare(
            title,
            html! {
                h1 { (title) }
                p role="alert" { (message) }
                p { a href="/console/" { "Back to the console" } }
            },
        );
        let mut response = (status, body).into_response();
        let retry = match &self {
            PageError::RateLimited(s) => Some(*s),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            _ => None,
        };
        if let Some(secs) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let PageError::Api(e) = self {
            if status.is_server_error() {
                response.extensions_mut().insert(HiddenCause(Arc::new(e)));
            }
        }
        response
    }
}
