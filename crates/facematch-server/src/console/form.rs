//! The console's form extractor: an URL-encoded body whose rejection is an HTML 400 page
//! that says what is wrong, not axum's plain-text one.

use axum::extract::{FromRequest, Request};
use axum::Form;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::PageError;

/// An URL-encoded form body deserialised into `T`.
#[derive(Debug)]
pub struct PageForm<T>(pub T);

impl<S, T> FromRequest<S> for PageForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(value)) => Ok(PageForm(value)),
            Err(rejection) => {
                let status = rejection.status();
                if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Err(PageError::TooLarge)
                } else {
                    Err(PageError::BadRequest(format!(
                        "the form could not be read: {}",
                        rejection.body_text()
                    )))
                }
            }
        }
    }
}

/// A form that carries only its CSRF token (sign-out, revoke, remove, rotate, resend).
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    /// The token; missing reads as empty, which fails the check (403, not 400).
    #[serde(default)]
    pub csrf: String,
}

/// `?done=` of a page shown after a redirect: a code each page turns into its own words
/// (never the query's text itself, so nothing can be injected into the page).
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    /// The code.
    pub done: Option<String>,
}

/// An id from a path or a form that must be a UUID, in its canonical form; anything else
/// is `not_found` before any query.
pub fn uuid_id(raw: &str, not_found: fn() -> PageError) -> Result<String, PageError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| not_found())
}
