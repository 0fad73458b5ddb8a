//! Item 2 of issue 10, work for free: the charging rule (a credit is spent once pixel
//! decoding starts, refunded only when nothing was decoded or the server failed), the
//! cancellation of abandoned work, and the per-key limit on face matches in progress.

use std::net::SocketAddr;
use std::time::Duration;

use facematch_testkit::http1;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::io::AsyncWriteExt;

use crate::common::gate::{gated, until};
use crate::common::{face_match_at, live, photo, Form, Live};

const HOPPER: &str = "fixtures/one_face_hopper.jpg";

/// The raw bytes of a face match of `form` with `key`.
fn request(addr: SocketAddr, key: &str, form: &Form) -> Vec<u8> {
    http1::request(
        "POST",
        "/v3/face-match/",
        &addr.to_string(),
        &[("x-api-key", key), ("content-type", &Form::content_type())],
        &form.body(),
    )
}

fn full_compares(live: &Live) -> u64 {
    live.app
        .state
        .metrics()
        .stage_seconds
        .with_label_values(&["compare"])
        .get_sample_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_hang_up_pay_and_their_work_stops() {
    const N: usize = 5;
    // A worker for each, so that every request starts its work; no per-key limit here.
    let (live, gate) = gated(|c| {
        c.workers = Some(N);
        c.max_in_flight_per_key = 0;
    })
    .await;
    let key = live.app.key(10);
    let bytes = request(live.addr, &key, &Form::pair(HOPPER, HOPPER));
    let mut sockets = Vec::new();
    for _ in 0..N {
        let mut socket = tokio::net::TcpStream::connect(live.addr)
            .await
            .expect("connect");
        socket.write_all(&bytes).await.expect("send");
        sockets.push(socket);
    }
    // Every request decoded its user image and waits in its first detection.
    until("every request reached detection", || gate.arrived() == N).await;
    drop(sockets);
    let metrics = live.app.state.metrics().clone();
    until("the server dropped every request", || {
        metrics.in_flight.get() == 0
    })
    .await;
    gate.open();
    until("every worker finished", || metrics.queued.get() == 0).await;

    assert_eq!(metrics.cancelled.get(), N as u64, "each one stopped early");
    assert_eq!(full_compares(&live), 0, "no comparison ran to its end");
    assert_eq!(gate.arrived(), N, "no reference image was detected");
    assert_eq!(
        live.app.balance(&key),
        10 - N as i64,
        "each one was charged"
    );
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_second_image_costs_a_credit_a_bad_first_one_does_not() {
    let live = live(|_| {}).await;
    let key = live.app.key(5);
    let garbage = b"not an image, just text".to_vec();
    let hopper = photo(HOPPER);

    let reply = live
        .face_match(&key, &Form::images(&garbage, &hopper))
        .await;
    assert!(reply
        .assert_error(400, "unsupported_format")
        .contains("user_image"));
    assert_eq!(live.app.balance(&key), 5, "nothing was decoded: refunded");

    let reply = live
        .face_match(&key, &Form::images(&hopper, &garbage))
        .await;
    assert!(reply
        .assert_error(400, "unsupported_format")
        .contains("ref_image"));
    assert_eq!(
        live.app.balance(&key),
        4,
        "the user image was decoded: spent"
    );

    assert_eq!(
        live.face_match(&key, &Form::images(&hopper, &hopper))
            .await
            .status,
        200
    );
    assert_eq!(live.app.balance(&key), 3);
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_after_work_started_is_charged() {
    let (live, gate) = gated(|c| c.request_timeout_secs = 1).await;
    let key = live.app.key(3);
    let reply = live.face_match(&key, &Form::pair(HOPPER, HOPPER)).await;
    reply.assert_error(503, "timeout");
    assert_eq!(gate.arrived(), 1, "the work had started");
    assert_eq!(live.app.balance(&key), 2, "spent, not refunded");
    gate.open();
    let metrics = live.app.state.metrics().clone();
    until("the worker stopped", || metrics.queued.get() == 0).await;
    assert_eq!(metrics.cancelled.get(), 1);
    assert_eq!(live.app.balance(&key), 2);
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_gets_four_face_matches_at_once_by_default() {
    // Enough workers for all of them: the refusals are the per-key limit's, not the pool's.
    let (live, gate) = gated(|c| c.workers = Some(8)).await;
    assert_eq!(live.app.state.config().max_in_flight_per_key, 4);
    let (greedy, other) = (live.app.key(10), live.app.key(1));
    let form = Form::pair(HOPPER, HOPPER);
    // Tasks, so that each keeps sending and reading while the test waits on others.
    let mut replies: FuturesUnordered<_> = (0..10)
        .map(|_| {
            let (addr, key, form) = (live.addr, greedy.clone(), form.clone());
            tokio::spawn(async move { face_match_at(addr, &key, &form).await })
        })
        .collect();
    // Six are refused at once, while four wait in detection.
    let mut refused = Vec::new();
    for _ in 0..6 {
        let reply = tokio::time::timeout(Duration::from_secs(30), replies.next())
            .await
            .expect("refused at once")
            .expect("a reply")
            .expect("the task");
        reply.assert_error(429, "too_many_in_flight");
        assert_eq!(reply.headers["retry-after"], "1");
        refused.push(reply);
    }
    until("four reached detection", || gate.arrived() == 4).await;
    // Another key is not affected (empty parts: a 200 that needs no detection).
    let cheap = Form::images(&[], &[]);
    assert_eq!(live.face_match(&other, &cheap).await.status, 200);
    gate.open();
    while let Some(reply) = replies.next().await {
        let reply = reply.expect("the task");
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    assert_eq!(live.app.balance(&greedy), 6, "only the four admitted paid");
    until("every slot was given back", || {
        live.app.state.metrics().queued.get() == 0
    })
    .await;
    // The slots are free again.
    assert_eq!(live.face_match(&greedy, &cheap).await.status, 200);
    live.shutdown().await;
}
