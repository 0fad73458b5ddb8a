//! Who is signed in: the session cookie, the [`ConsoleAuth`] extractor that every console
//! page takes (no session → a redirect to the sign-in page that comes back here), the
//! admin-only [`AdminAuth`], and CSRF tokens.
//!
//! - The cookie `fm_console` holds the session's 256-bit secret: `HttpOnly`,
//!   `SameSite=Strict`, `Path=/console`, `Secure` when the server (or its proxy) speaks TLS.
//!   The database keeps only its SHA-256.
//! - CSRF: every form carries `csrf`, the HMAC-SHA256 of a fixed label keyed by the session
//!   secret — unguessable without the cookie, so nothing needs storing; compared in constant
//!   time. Forms shown before sign-in use a double-submit cookie (`fm_csrf`) instead.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use facematch_store::{is_token_shaped, ConsoleSession, ConsoleUser, Role, SessionLimits};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::error::PageError;
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "fm_console";

/// The pre-sign-in CSRF cookie's name (double submit).
pub const PRE_CSRF_COOKIE: &str = "fm_csrf";

/// A signed-in console user, taken by every console page.
#[derive(Debug)]
pub struct ConsoleAuth {
    session: ConsoleSession,
    token: SecretString,
}

impl ConsoleAuth {
    /// The signed-in user.
    pub fn user(&self) -> &ConsoleUser {
        &self.session.user
    }

    /// The session secret (to keep this session when a password change ends the others).
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// The CSRF token every form of this session carries.
    pub fn csrf(&self) -> String {
        csrf_for(self.token.expose_secret())
    }

    /// Checks a form's CSRF token against this session.
    pub fn check_csrf(&self, given: &str) -> Result<(), PageError> {
        let expected = self.csrf();
        if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            Ok(())
        } else {
            Err(PageError::Csrf)
        }
    }

    /// Whether the user is an admin.
    pub fn is_admin(&self) -> bool {
        self.session.user.role == Role::Admin
    }
}

/// HMAC-SHA256("facematch console csrf") keyed by the session secret, hex.
fn csrf_for(secret: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length; unreachable, but no panic on an input path.
        return String::new();
    };
    mac.update(b"facematch console csrf");
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The session limits the server is configured with.
pub fn limits(state: &AppState) -> SessionLimits {
    let c = state.config();
    SessionLimits {
        idle: time::Duration::minutes(i64::from(c.console_idle_minutes.max(1))),
        absolute: time::Duration::hours(i64::from(c.console_session_hours.max(1))),
    }
}

/// Whether cookies get `Secure`: the server speaks TLS, or is told its proxy does.
fn secure(state: &AppState) -> bool {
    let c = state.config();
    c.tls_cert.is_some() || c.console_secure_cookie
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(state: &AppState, token: &SecretString) -> HeaderValue {
    let secure = if secure(state) { "; Secure" } else { "" };
    let max_age = i64::from(state.config().console_session_hours.max(1)) * 3600;
    let value = format!(
        "{SESSION_COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        token.expose_secret()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_static("fm_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The pre-sign-in CSRF token of this request's cookie, or a fresh one with the
/// `Set-Cookie` that stores it.
pub fn pre_csrf(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(v) = cookie(headers, PRE_CSRF_COOKIE).filter(|v| is_token_shaped(v)) {
        return (v.to_owned(), None);
    }
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let token = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
    let secure = if secure(state) { "; Secure" } else { "" };
    let set = HeaderValue::from_str(&format!(
        "{PRE_CSRF_COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict{secure}"
    ))
    .ok();
    (token, set)
}

/// Checks a pre-sign-in form's CSRF token against its cookie.
pub fn check_pre_csrf(headers: &HeaderMap, given: &str) -> Result<(), PageError> {
    match cookie(headers, PRE_CSRF_COOKIE) {
        Some(expected)
            if is_token_shaped(expected)
                && bool::from(expected.as_bytes().ct_eq(given.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(PageError::Csrf),
    }
}

/// Where an unauthenticated request goes: the sign-in page, which returns to `next`.
pub struct SignInFirst {
    next: String,
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let target = format!(
            "/console/sign-in?next={}",
            url::form_urlencoded::byte_serialize(self.next.as_bytes()).collect::<String>()
        );
        let mut response = Redirect::to(&target).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Rejection of the console extractors.
pub enum AuthRejection {
    /// No valid session: sign in first.
    SignIn(SignInFirst),
    /// A page error (the database is down, the role may not).
    Page(PageError),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::SignIn(s) => s.into_response(),
            AuthRejection::Page(e) => e.into_response(),
        }
    }
}

/// Only console paths come back after sign-in (no open redirect).
pub fn safe_next(next: &str) -> &str {
    let ok = next.starts_with("/console/")
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 512;
    if ok {
        next
    } else {
        "/console/"
    }
}

impl FromRequestParts<AppState> for ConsoleAuth {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // A form posted after the session ended returns to the page it came from.
        let next = if parts.method == axum::http::Method::GET {
            parts
                .uri
                .path_and_query()
                .map_or("/console/", |p| p.as_str())
                .to_owned()
        } else {
            "/console/".to_owned()
        };
        let sign_in = || AuthRejection::SignIn(SignInFirst { next: next.clone() });
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE)
            .filter(|t| is_token_shaped(t))
            .map(str::to_owned)
        else {
            return Err(sign_in());
        };
        let limits = limits(state);
        let now = time::OffsetDateTime::now_utc();
        let lookup = token.clone();
        let session = state
            .with_store(move |store| store.console_session(&lookup, limits, now))
            .await
            .map_err(|e| AuthRejection::Page(e.into()))?;
        match session {
            Some(session) => Ok(ConsoleAuth {
                session,
                token: SecretString::from(token),
            }),
            None => Err(sign_in()),
        }
    }
}

/// A signed-in admin: reviewers get a 403 page.
#[derive(Debug)]
pub struct AdminAuth(pub ConsoleAuth);

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = ConsoleAuth::from_request_parts(parts, state).await?;
        if auth.is_admin() {
            Ok(AdminAuth(auth))
        } else {
            Err(AuthRejection::Page(PageError::Forbidden))
        }
    }
}

impl AdminAuth {
    /// The start of an admin's change to one item: the form's CSRF token, the item's id (a
    /// UUID, else `not_found`, before any query) and the user's write budget (the
    /// `--review-writes-per-minute` limiter, per user). Answers the id.
    pub fn item_write(
        &self,
        state: &AppState,
        csrf: &str,
        raw_id: &str,
        not_found: fn() -> PageError,
    ) -> Result<String, PageError> {
        self.0.check_csrf(csrf)?;
        let id = super::form::uuid_id(raw_id, not_found)?;
        state.check_review_rate(&self.0.user().id)?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_depends_on_the_session_secret() {
        let a = csrf_for("a".repeat(43).as_str());
        let b = csrf_for("b".repeat(43).as_str());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(a, csrf_for("a".repeat(43).as_str()));
    }

    #[test]
    fn next_stays_inside_the_console() {
        assert_eq!(safe_next("/console/checks?x=1"), "/console/checks?x=1");
        for bad in [
            "https://evil.example/",
            "//evil.example/console/",
            "/other",
            "/console/\\x",
        ] {
            assert_eq!(safe_next(bad), "/console/", "{bad}");
        }
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("xfm_console=1; fm_console=abc"),
        );
        assert_eq!(cookie(&h, "fm_console"), Some("abc"));
        assert_eq!(cookie(&h, "fm_csrf"), None);
    }
}
