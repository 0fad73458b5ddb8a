//! Operations: readiness, Prometheus metrics, the OpenAPI document and its page.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Json;
use serde::Serialize;
use utoipa::openapi::OpenApi;

use crate::error::{ApiError, Fault};
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

/// Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus metrics", content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
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
