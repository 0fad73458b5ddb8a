//! Operations: readiness, Prometheus metrics, the OpenAPI document and its page.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Extension, Json};
use secrecy::ExposeSecret;
use serde::Serialize;
use subtle::ConstantTimeEq;
use utoipa::openapi::OpenApi;

use crate::config::ServerConfig;
use crate::error::{ApiError, ErrorBody, Fault};
use crate::state::AppState;

/// Readiness.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` once the models are loaded, `loading` before.
    pub status: &'static str,
}

/// Ready only when the models are loaded (503 while they load).
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Models still loading", body = Health),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    if state.pipeline().is_some() {
        (StatusCode::OK, Json(Health { status: "ok" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status: "loading" }),
        )
    }
}

/// Prometheus text exposition. With `--metrics-token`, only for
/// `Authorization: Bearer <token>`; without one, only for local clients (a loopback
/// peer that came through no proxy).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus metrics", content_type = "text/plain"),
        (status = 401, description = "No or wrong metrics token, or a client that is not local without one", body = ErrorBody),
    )
)]
pub async fn metrics(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    if !metrics_allowed(state.config(), peer, &headers) {
        return Err(ApiError::MetricsUnauthorized);
    }
    let text = state.metrics().render().map_err(Fault::from)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Who may read `/metrics`. With a token: exactly the requests whose `Authorization`
/// is `Bearer <token>` (compared in constant time). Without one: requests from a
/// loopback peer that carry no `Forwarded`/`X-Forwarded-For` header (a reverse proxy on
/// the same host connects from loopback but adds one), and in-process calls, which have
/// no peer at all (the real server always records it).
fn metrics_allowed(config: &ServerConfig, peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    if let Some(token) = &config.metrics_token {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        else {
            return false;
        };
        let expected = token.expose_secret().as_bytes();
        return !expected.is_empty() && bool::from(given.ct_eq(expected));
    }
    let local = peer.is_none_or(|addr| addr.ip().is_loopback());
    let proxied =
        headers.contains_key(header::FORWARDED) || headers.contains_key("x-forwarded-for");
    local && !proxied
}

/// `GET /openapi.json`: the OpenAPI 3 document `doc`, built once from the routes when
/// the router is built.
pub fn openapi_json(doc: OpenApi) -> MethodRouter<AppState> {
    let doc = Arc::new(doc);
    get(move || {
        let doc = Arc::clone(&doc);
        async move { Json(doc.as_ref()).into_response() }
    })
}

/// A small self-contained page listing the operations of `/openapi.json` (no assets
/// from outside: the page works offline).
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("../../static/docs.html"))
}
