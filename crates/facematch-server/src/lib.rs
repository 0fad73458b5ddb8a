//! facematch's HTTP API: Didit-compatible `POST /v3/face-match/`, API keys and credits,
//! saved decisions and their review, self-service sign-up, health, Prometheus metrics
//! and an OpenAPI document — as a library, so that tests (and other programs) can build
//! the [`app`] router in-process or [`serve_on`] any listener.
//!
//! Layout, as a request flows: [`serve`] (accept loop, shutdown, start-up) →
//! [`router`] (the routes, registered once with their OpenAPI paths, and the layer
//! order) → [`middleware`] (request span, metrics, fault log, deadline) → [`auth`] (key
//! extractor, credits) and [`extract`] (JSON body) → [`routes`] (handlers; [`form`]
//! reads the streamed multipart form; [`didit`] writes a saved decision in Didit's
//! session shape) → [`state`] (store, pipeline, bounded worker
//! pool, [`key_in_flight`]) → [`error`] (the one error type, its status table and every conversion into
//! it). Beside them: [`config`], [`metrics`], [`openapi`] (the document's shared
//! parts), [`mail`], [`ratelimit`], [`security`] (response headers, CORS), [`tls`]
//! (the reloadable certificate).

pub mod auth;
pub mod client_ip;
pub mod config;
pub mod console;
pub mod didit;
pub mod error;
pub mod extract;
pub mod form;
pub mod key_in_flight;
pub mod mail;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod rate_headers;
pub mod ratelimit;
pub mod retention;
pub mod review_images;
pub mod router;
pub mod routes;
pub mod security;
pub mod serve;
pub mod state;
pub mod tls;
pub mod upload_budget;
pub mod webhooks;

pub use config::ServerConfig;
pub use error::ApiError;
pub use router::{app, openapi_document};
pub use serve::{
    check_transport, plain_http_warning, serve, serve_loading, serve_on, serve_tls_on,
    shutdown_signal, ServerError,
};
pub use state::AppState;
