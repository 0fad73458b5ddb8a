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

/// Readiness, in one word.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` once the models are loaded and the database answers; `loading` while the models
    /// load; `database_unavailable` while the database cannot be reached.
    pub status: &'static str,
}

/// Readiness with its parts, for operators and load balancers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ok` when both parts are, else `loading` or `database_unavailable`.
    pub status: &'static str,
    /// `ok` or `loading`.
    pub models: &'static str,
    /// `ok` or `unreachable` (one trivial query, within the pool's acquire timeout; one
    /// check answers every caller for a second).
    pub database: &'static str,
}

/// Liveness: the process serves requests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Liveness {
    /// Always `alive`.
    pub status: &'static str,
}

/// Checks both parts of readiness.
async fn readiness(state: &AppState) -> (StatusCode, Readiness) {
    let models = if state.pipeline().is_some() {
        "ok"
    } else {
        "loading"
    };
    let database = if state.database_reachable().await {
        "ok"
    } else {
        "unreachable"
    };
    let status = match (models, database) {
        ("ok", "ok") => "ok",
        (_, "ok") => "loading",
        _ => "database_unavailable",
    };
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Readiness {
            status,
            models,
            database,
        },
    )
}

/// Ready when the models are loaded and the database answers (503 otherwise): the one check
/// a load balancer needs.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Models still loading, or the database unreachable", body = Health),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let (code, ready) = readiness(&state).await;
    (
        code,
        Json(Health {
            status: ready.status,
        }),
    )
}

/// Readiness with the state of the models and of the database reported apart.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Models still loading, or the database unreachable", body = Readiness),
    )
)]
pub async fn health_ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let (code, ready) = readiness(&state).await;
    (code, Json(ready))
}

/// Liveness: 200 whenever the process answers, whatever the models and the database do (a
/// supervisor restarts a replica only when this fails).
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "operations",
    responses((status = 200, description = "The process serves requests", body = Liveness))
)]
pub async fn health_live() -> Json<Liveness> {
    Json(Liveness { status: "alive" })
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
