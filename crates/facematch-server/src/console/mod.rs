//! The Business Console at `/console/`: server-rendered HTML (maud), one stylesheet and one
//! small script compiled into the binary, every core flow working without JavaScript.
//!
//! Its own Content-Security-Policy allows only this origin's stylesheet, script and images,
//! and forms posting back here; every page is `Cache-Control: no-store` (they show personal
//! data). Sessions, CSRF and roles: [`session`].

use axum::extract::DefaultBodyLimit;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

pub mod auth_pages;
pub mod billing;
pub mod checks;
pub mod error;
pub mod form;
pub mod images;
pub mod keys;
pub mod layout;
pub mod session;
pub mod settings;
pub mod usage;
pub mod users;
pub mod webhooks;

/// The console's policy: its own files only; forms post back to it; never framed.
pub const CONSOLE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Largest form body (a 10,000-character comment, URL-encoded, fits).
const MAX_FORM_BYTES: usize = 128 * 1024;

const CSS: &str = include_str!("../../static/console/console.css");
const JS: &str = include_str!("../../static/console/console.js");

/// Every console route, with its headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/queue") }),
        )
        .route(
            "/console/sign-in",
            get(auth_pages::sign_in_form).post(auth_pages::sign_in),
        )
        .route("/console/sign-out", post(auth_pages::sign_out))
        .route("/console/account", get(auth_pages::account))
        .route(
            "/console/account/password",
            post(auth_pages::change_password),
        )
        .route(
            "/console/reset-password",
            get(auth_pages::reset_request_form).post(auth_pages::reset_request),
        )
        .route(
            "/console/reset",
            get(auth_pages::reset_form).post(auth_pages::reset),
        )
        .route(
            "/console/invite",
            get(auth_pages::invite_form).post(auth_pages::accept_invite),
        )
        .route("/console/checks", get(checks::list))
        .route("/console/queue", get(checks::queue))
        .route("/console/checks/{id}", get(checks::decision))
        .route("/console/checks/{id}/review", post(checks::review))
        .merge(images::routes())
        .merge(keys::routes())
        .merge(webhooks::routes())
        .merge(usage::routes())
        .merge(billing::routes())
        .merge(users::routes())
        .merge(settings::routes())
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .route("/console/static/console.css", get(css))
        .route("/console/static/console.js", get(js))
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONSOLE_CSP),
        ))
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
