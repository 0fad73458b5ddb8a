//! The middleware around every route: the request span, metrics, the one log line of a
//! fault, and the per-request deadline. Their order is set (and explained) in
//! [`crate::router::app`].

use std::error::Error;
use std::fmt;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Span;

use crate::error::{ApiError, HiddenCause};
use crate::state::{AppState, GaugeGuard};

/// The span of one request: method and matched route (the route template, not the
/// path, so that every request to one route shares a name), and `request_id` once one
/// is known. Never headers, which carry the API key. Everything the request logs —
/// including the pipeline's stage spans on the worker thread — nests under it.
pub fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        method = %bounded_method(request.method()),
        route = %route,
        request_id = tracing::field::Empty,
    )
}

/// The method as a metrics label (and span field): one of a fixed set, `other` for any
/// other token. A raw method is client-chosen text of any length; as a label it would
/// add one series per distinct token, without bound.
pub fn bounded_method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Records `request_id` on the current request's span.
pub fn record_request_id(request_id: &str) {
    Span::current().record("request_id", tracing::field::display(request_id));
}

/// Per-request deadline: past it, the request is dropped and answered with a 503.
pub async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit.as_secs()).into_response(),
    }
}

/// Request metrics: in-flight gauge, count and latency by matched route.
///
/// Every label has a bounded domain: `route` is the matched route template (a fixed
/// list) or `unmatched`, `method` is [`bounded_method`], `status` is the numeric code
/// (three digits, bounded by HTTP).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = bounded_method(request.method());
    let metrics = state.metrics().clone();
    metrics.in_flight.inc();
    // Decrements even when the request future is dropped (client gone mid-request).
    let _in_flight = GaugeGuard(metrics.in_flight.clone());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .request_seconds
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .with_label_values(&[&route, method, response.status().as_str()])
        .inc();
    response
}

/// Logs the hidden cause of a response (an internal fault at `ERROR`, a failed upstream
/// at `WARN`), with its whole source chain: the one place errors are logged. The client
/// got a generic message; the operator gets the reason.
pub async fn log_faults(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(HiddenCause(error)) = response.extensions_mut().remove::<HiddenCause>() {
        match error.as_ref() {
            ApiError::Internal(fault) => {
                tracing::error!(error = %ErrorChain(fault), "internal error");
            }
            ApiError::Upstream(cause) => {
                tracing::warn!(error = %ErrorChain(cause), "upstream failure");
            }
            // Only the two above hide a cause (`ApiError::into_response`).
            _ => {}
        }
    }
    response
}

/// Displays an error followed by each of its sources: `a: b: c`.
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
