//! The throwaway cluster starts, hands out isolated databases, stops and starts again.
#![allow(clippy::unwrap_used)]

use facematch_testkit::TestCluster;

#[test]
fn cluster_serves_fresh_databases_and_survives_a_restart() {
    let cluster = TestCluster::start().unwrap();
    let a = cluster.create_database().unwrap();
    let b = cluster.create_database().unwrap();
    assert_ne!(a, b);
    let name = a.rsplit('/').next().unwrap();
    let listed = cluster
        .sql("SELECT datname FROM pg_database ORDER BY datname")
        .unwrap();
    assert!(listed.lines().any(|l| l == name), "{listed}");
    cluster.stop().unwrap();
    assert!(
        cluster.sql("SELECT 1").is_err(),
        "a stopped server answered"
    );
    cluster.restart().unwrap();
    let listed = cluster.sql("SELECT datname FROM pg_database").unwrap();
    assert!(
        listed.lines().any(|l| l == name),
        "data lost across a restart"
    );
}
