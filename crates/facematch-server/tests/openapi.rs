//! The OpenAPI document as `/openapi.json` serves it, snapshot-tested: any change of the
//! HTTP contract's description shows up as a diff of `snapshots/openapi__document.snap`
//! to review (`cargo insta review`, or rerun with `INSTA_UPDATE=always` and read the
//! diff). No models needed: the document does not depend on them.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use facematch_server::{AppState, ServerConfig};
use facematch_store::Store;
use tower::ServiceExt;

/// The served document, parsed.
async fn served_document() -> serde_json::Value {
    let store = Store::open_in_memory().expect("store");
    let state = AppState::new(ServerConfig::default(), store).expect("state");
    let request = Request::get("/openapi.json")
        .body(Body::empty())
        .expect("request");
    let response = facematch_server::app(state)
        .oneshot(request)
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    serde_json::from_slice(&body).expect("JSON")
}

#[tokio::test]
async fn the_document_matches_its_snapshot() {
    insta::assert_json_snapshot!("document", served_document().await);
}

#[tokio::test]
async fn the_served_document_is_the_one_the_library_builds() {
    let built = serde_json::to_value(facematch_server::openapi_document()).expect("JSON");
    assert_eq!(served_document().await, built);
}
