//! The readiness routes are public: a flood of them must not become a flood of database
//! queries (each would hold a connection that face matches need). One check answers every
//! caller for a second; the liveness route touches nothing. Other methods are refused.

use futures_util::future::join_all;

use crate::common::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readiness_flood_queries_the_database_about_once_a_second() {
    let app = TestApp::new(|_| {});
    let checks = || app.state.metrics().database_checks.get();
    let before = checks();
    let started = std::time::Instant::now();
    let replies = join_all((0..400).map(|i| {
        let path = if i % 2 == 0 {
            "/health/ready"
        } else {
            "/health"
        };
        app.json("GET", path, None, None)
    }))
    .await;
    let elapsed = started.elapsed();
    assert!(
        replies.iter().all(|r| r.status == 200),
        "a readiness check failed"
    );
    let made = checks() - before;
    // One check per started second of the flood (and at least one).
    let allowed = elapsed.as_secs() + 1;
    assert!(
        (1..=allowed).contains(&made),
        "{made} database checks for 400 requests in {elapsed:?}"
    );
    // Liveness never asks the database.
    let before = checks();
    for _ in 0..50 {
        assert_eq!(
            app.json("GET", "/health/live", None, None).await.status,
            200
        );
    }
    assert_eq!(checks(), before);
    // The routes are GET only.
    for path in ["/health/ready", "/health/live"] {
        let r = app.json("POST", path, None, None).await;
        assert_eq!(r.status, 405, "POST {path}: {}", r.text());
    }
}
