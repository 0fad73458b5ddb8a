//! The server on a real PostgreSQL that goes away: requests fail fast with 503
//! `database_unavailable` (never a 500, never a hang), the health routes report the database
//! apart from the models, and everything recovers by itself when the database is back.

mod common;

use std::time::{Duration, Instant};

use common::{Form, TestApp};
use facematch_store::{Migrate, PostgresOptions, Store};
use facematch_testkit::TestCluster;
use tokio::task::block_in_place;

/// A photo with one face, against itself (a 200 whenever the database answers).
const ASTRONAUT: &str = "fixtures/one_face_astronaut.png";

fn pair() -> Form {
    Form::pair(ASTRONAUT, ASTRONAUT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_a_fast_503_and_recovers_by_itself() {
    let cluster = TestCluster::start().expect("test cluster");
    let url = cluster.create_database().expect("database");
    let options = PostgresOptions {
        acquire_timeout: Duration::from_millis(1000),
        connect_timeout: Duration::from_millis(1000),
        ..PostgresOptions::default()
    };
    // The store's calls block (the server makes them on blocking threads); here, outside
    // the server, block_in_place lets the test's own calls block too.
    let store =
        block_in_place(|| Store::connect_postgres(&url, &options, Migrate::Apply)).expect("store");
    let app = TestApp::on_store(store, |_| {});
    let key = block_in_place(|| app.key(100));

    let ready = app.json("GET", "/health/ready", None, None).await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(ready.json["database"], "ok");
    assert_eq!(app.face_match(&key, &pair()).await.status, 200);

    cluster.stop().expect("stop");
    for _ in 0..3 {
        let started = Instant::now();
        let reply = app.face_match(&key, &pair()).await;
        reply.assert_error(503, "database_unavailable");
        assert_eq!(reply.headers["retry-after"], "1");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "took {:?}",
            started.elapsed()
        );
    }
    // Readiness is checked at most once a second (the routes are public): past that, it
    // sees the outage.
    tokio::time::sleep(facematch_server::state::DATABASE_CHECK_EVERY + Duration::from_millis(100))
        .await;
    let ready = app.json("GET", "/health/ready", None, None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json["database"], "unreachable");
    assert_eq!(ready.json["models"], "ok");
    assert_eq!(app.json("GET", "/health", None, None).await.status, 503);
    assert_eq!(
        app.json("GET", "/health/live", None, None).await.status,
        200
    );

    cluster.restart().expect("restart");
    let started = Instant::now();
    loop {
        let reply = app.face_match(&key, &pair()).await;
        if reply.status == 200 {
            break;
        }
        reply.assert_error(503, "database_unavailable");
        assert!(started.elapsed() < Duration::from_secs(15), "no recovery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Readiness follows within its one-second check interval.
    let started = Instant::now();
    while app.json("GET", "/health/ready", None, None).await.status != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "readiness stayed 503"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two answered face matches spent two credits; the refused ones none.
    assert_eq!(block_in_place(|| app.balance(&key)), 98);
}
