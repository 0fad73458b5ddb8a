//! facematch's HTTP API: Didit-compatible `POST /v3/face-match/`, API keys and credits,
//! saved decisions and their review, self-service sign-up, health, Prometheus metrics
//! and an OpenAPI document — as a library, so that tests (and other programs) can build
//! the [`app`] router in-process or [`serve_on`] any listener.
//!
//! Layout, as a request flows: [`serve`] (accept loop, shutdown, start-up) →
//! [`router`] (the routes, registered once with their OpenAPI paths, and the layer
//! order) → [`middleware`] (request span, metrics, fault log, deadline) → [`auth`] (key
//! extractor, credits) and [`extract`] (JSON body) → [`routes`] (handlers; [`form`]
//! reads the streamed multipart form) → [`state`] (store, pipeline, bounded worker
//! pool) → [`error`] (the one error type, its status table and every conversion into
//! it). Beside them: [`config`], [`metrics`], [`openapi`] (the document's shared
//! parts), [`mail`], [`ratelimit`].

pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod form;
pub mod mail;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
pub mod router;
pub mod routes;
pub mod security;
pub mod serve;
pub mod state;

pub use config::ServerConfig;
pub use error::ApiError;
pub use router::{app, openapi_document};
pub use serve::{serve, serve_loading, serve_on, shutdown_signal, ServerError};
pub use state::AppState;
