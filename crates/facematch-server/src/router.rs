//! The router: every route registered once — with its handler, its body limit and its
//! `#[utoipa::path]` — so that the axum router and the OpenAPI paths come from the same
//! list; then the fallbacks and the middleware, in an order explained below.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::ServerConfig;
use crate::error;
use crate::middleware::{deadline, log_faults, request_span, track};
use crate::openapi::ApiDoc;
use crate::rate_headers;
use crate::routes::webhooks::{deliveries as webhook_log, destinations as webhook_destinations};
use crate::routes::{self, accounts, billing, decisions, deletion, face_match, ops, sessions};
use crate::security;
use crate::state::AppState;

/// Largest JSON body accepted by the JSON routes (sign-up, review, batch delete, top-up).
const MAX_JSON_BYTES: usize = 64 * 1024;

/// The documented routes, each with its body limit: the one list both the router and
/// the OpenAPI document are built from.
fn documented(max_body: usize) -> OpenApiRouter<AppState> {
    // The face match reads up to two 5 MiB images: it alone gets the large body limit
    // (enforced while streaming, 413); JSON routes keep a small one.
    let face_match = OpenApiRouter::default()
        .routes(routes!(face_match::face_match))
        .layer(DefaultBodyLimit::max(max_body));
    let api = OpenApiRouter::default()
        .routes(routes!(decisions::get_decision))
        .routes(routes!(decisions::update_status))
        .routes(routes!(decisions::review_queue))
        .routes(routes!(deletion::delete_decision))
        .routes(routes!(deletion::delete_batch))
        .routes(routes!(sessions::list_sessions))
        .routes(routes!(accounts::register))
        .routes(routes!(accounts::verify_email))
        .routes(routes!(billing::balance))
        .routes(routes!(billing::top_up))
        .routes(routes!(
            webhook_destinations::create_destination,
            webhook_destinations::list_destinations
        ))
        .routes(routes!(
            webhook_destinations::get_destination,
            webhook_destinations::update_destination,
            webhook_destinations::delete_destination
        ))
        .routes(routes!(webhook_destinations::rotate_secret))
        .routes(routes!(webhook_destinations::test_destination))
        .routes(routes!(webhook_destinations::destination_deliveries))
        .routes(routes!(webhook_destinations::destination_delivery))
        .routes(routes!(webhook_destinations::resend_destination_delivery))
        .routes(routes!(webhook_log::session_deliveries))
        .routes(routes!(webhook_log::session_delivery))
        .routes(routes!(webhook_log::resend_delivery))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES));
    let ops = OpenApiRouter::default()
        .routes(routes!(ops::health))
        .routes(routes!(ops::health_ready))
        .routes(routes!(ops::health_live))
        .routes(routes!(ops::metrics));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(face_match)
        .merge(api)
        .merge(ops)
}

/// The OpenAPI 3 document of the API, as `/openapi.json` serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    // Body limits are layers: they do not show in the document.
    documented(ServerConfig::default().max_body_bytes).into_openapi()
}

/// The router with every route and middleware.
pub fn app(state: AppState) -> Router {
    let max_body = state.config().max_body_bytes;
    let timeout = Duration::from_secs(state.config().request_timeout_secs.max(1));
    let (router, doc) = documented(max_body).split_for_parts();
    let router = router
        // Undocumented: the document itself and its page.
        .route("/openapi.json", ops::openapi_json(doc))
        // Didit answers the list without its slash with a 301 to it.
        .route("/v3/sessions", get(sessions::redirect_to_slash))
        // Its own Content-Security-Policy: the page's inline script and style by hash.
        .route("/docs", get(ops::docs).layer(security::docs_csp_layer()))
        // The Business Console: HTML pages with their own CSP and no-store.
        .merge(crate::console::routes())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        // Innermost: the per-request deadline (a slow upload or a stuck request becomes a
        // 503 JSON). Inside CatchPanic so that the deadline's own response is ordinary.
        // A face match cut short here drops its handler future: the credit is refunded by
        // the reservation's Drop and the worker keeps its permit until it really ends.
        .layer(middleware::from_fn_with_state(timeout, deadline))
        // The `X-RateLimit-*` headers of a per-key limit checked by the handler, on its
        // answer or its 429 (outside the deadline, which cuts the handler short).
        .layer(middleware::from_fn(rate_headers::rate_limit_headers))
        // Turns a handler panic into a 500 JSON (decoder panics are already caught in
        // imageio; this is the last net). Inside the fault log, the metrics and trace
        // layers so that the 500 is logged and counted like any response.
        .layer(CatchPanicLayer::custom(error::panic_response))
        // Logs the cause of each 500 (and of each failed upstream), once, with its source
        // chain. Inside the trace layer so that the line carries the request's span.
        .layer(middleware::from_fn(log_faults))
        // Counts every response by matched route and status, including 404s and 500s.
        .layer(middleware::from_fn_with_state(state.clone(), track))
        // Outermost: one span per request (method, route, request id; never headers,
        // which carry the API key), so that everything below logs inside it — the
        // blocking workers enter it too (`AppState::run_bounded`, `with_store`).
        .layer(TraceLayer::new_for_http().make_span_with(request_span));
    // Around everything: the security headers, on every response the router makes
    // (404s, 405s, timeouts and caught panics included). Headers only; bodies unchanged.
    // CORS (only with `--cors-origin`) inside them, so that its own preflight answers
    // carry the security headers too.
    let origins = state.config().cors_origin.clone();
    security::with_security_headers(security::with_cors(router, &origins)).with_state(state)
}
