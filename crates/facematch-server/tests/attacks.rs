//! The server tried as an attacker would, over real sockets on loopback (issue 10):
//! each test asserts a bounded outcome. So far: metrics labels stay bounded under
//! made-up methods, and every response carries the security headers (and no CORS).

#[path = "attacks/accounts.rs"]
mod accounts;
#[path = "attacks/charging.rs"]
mod charging;
mod common;
#[path = "attacks/deletes.rs"]
mod deletes;
#[path = "attacks/health.rs"]
mod health;
#[path = "attacks/history.rs"]
mod history;
#[path = "attacks/limits.rs"]
mod limits;
#[path = "attacks/list_sessions.rs"]
mod list_sessions;
#[path = "attacks/quality_filter.rs"]
mod quality_filter;
#[path = "attacks/rate_headers.rs"]
mod rate_headers;
#[path = "attacks/session_decision.rs"]
mod session_decision;
#[path = "attacks/transport.rs"]
mod transport;
#[path = "attacks/uploads.rs"]
mod uploads;
#[path = "attacks/webhook_routes.rs"]
mod webhook_routes;

use common::{http, live_app, Live, Reply, TestApp};
use facematch_testkit::http1;

impl Live {
    async fn get(&self, path: &str, headers: &[(&str, String)]) -> Reply {
        http(self.addr, "GET", path, headers, b"")
            .await
            .expect("http")
    }

    async fn metrics_text(&self) -> String {
        let reply = self.get("/metrics", &[]).await;
        assert_eq!(reply.status, 200);
        reply.text()
    }
}

/// A made-up method token of about 1 kB, distinct per `i`.
fn odd_method(i: usize) -> String {
    format!("X{i}{}", "Z".repeat(1_000))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_made_up_methods_do_not_grow_metrics() {
    // No pipeline needed: /health and /metrics answer while loading.
    let live = live_app(TestApp::loading(|_| {})).await;
    // Every series the flood can touch exists once before the baseline: the odd
    // method's own (route /health, method other) and those of GET /metrics.
    let first = http1::send(live.addr, &odd_method(0), "/health", &[], b"")
        .await
        .expect("odd method");
    assert!(
        first.status >= 400,
        "an unknown method is refused: {}",
        first.status
    );
    live.metrics_text().await;
    let before = live.metrics_text().await.len();

    for i in 1..=1_000 {
        let response = http1::send(live.addr, &odd_method(i), "/health", &[], b"")
            .await
            .expect("odd method");
        assert!(response.status >= 400, "{}", response.status);
    }

    let after = live.metrics_text().await;
    let grown = after.len().saturating_sub(before);
    assert!(
        grown < 2_048,
        "/metrics grew by {grown} bytes after 1,000 distinct methods ({before} → {})",
        after.len()
    );
    assert!(after.contains("method=\"other\""), "{after}");
    assert!(!after.contains("ZZZZ"), "a raw method reached a label");
    live.shutdown().await;
}

/// The headers every response carries.
fn assert_security_headers(what: &str, reply: &Reply) {
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} ({:?})", reply.headers))
            .to_owned()
    };
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    let csp = header("content-security-policy");
    assert!(csp.starts_with("default-src 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe"), "{what}: {csp}");
    // No CORS: nothing lets another origin read the answer.
    for name in reply.headers.keys() {
        assert!(
            !name.as_str().starts_with("access-control-"),
            "{what}: CORS header {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_family_carries_the_security_headers_and_no_cors() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let key = live.app.key(5);
    let origin = [("origin", "https://evil.example".to_owned())];

    let face_match = http(live.addr, "POST", "/v3/face-match/", &origin, b"")
        .await
        .expect("http");
    assert_eq!(face_match.status, 400, "{}", face_match.text());
    let cases = [
        ("face-match error", face_match),
        (
            "JSON route",
            live.get(
                "/v3/billing/balance/",
                &[("x-api-key", key), origin[0].clone()],
            )
            .await,
        ),
        ("404 fallback", live.get("/no/such/route", &origin).await),
        (
            "405",
            http(live.addr, "DELETE", "/health", &origin, b"")
                .await
                .expect("http"),
        ),
        ("/health", live.get("/health", &origin).await),
        ("/metrics", live.get("/metrics", &origin).await),
        ("/openapi.json", live.get("/openapi.json", &origin).await),
        ("/docs", live.get("/docs", &origin).await),
    ];
    for (what, reply) in &cases {
        assert_security_headers(what, reply);
    }
    assert_eq!(cases[1].1.status, 200, "{}", cases[1].1.text());
    assert_eq!(cases[2].1.status, 404);

    // /docs: its inline script and style by hash, its fetch of /openapi.json, nothing else.
    let docs = &cases[7].1;
    assert_eq!(docs.status, 200);
    let csp = docs
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(csp.contains("style-src 'sha256-"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    live.shutdown().await;
}
