//! Real-socket tests on 127.0.0.1:0: the credits race (with a deliberately racy
//! implementation as the harness's negative control), 429 under overload, graceful
//! shutdown, the drain of unread uploads before an early error, and the Python and Node
//! clients (`scripts/match_faces.py`, `.mjs`) against a live server.
//!
//! Requests are held inside the pipeline by a [`Gate`] rather than timed with sleeps:
//! the test knows when a request got there and decides when it may go on.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::gate::{gated, until};
use common::{http, live, live_app, Form, TestApp};
use facematch_testkit::http1;
use tokio::io::AsyncWriteExt;

const HOPPER: &str = "fixtures/one_face_hopper.jpg";
const HOPPER_WEBP: &str = "fixtures/one_face_hopper.webp";

// ---------------------------------------------------------------------------------
// The credits race.

/// One round of a race: `n` clients connect, then — all at once — each sends `request`
/// on its own connection; their statuses, sorted. (The whole request goes at once: the
/// credit is taken as soon as the head is read, before the body.)
async fn race(addr: SocketAddr, request: &[u8], n: usize) -> Vec<u16> {
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(http1::connect(addr).await.expect("connect"));
    }
    let start = Arc::new(tokio::sync::Barrier::new(n));
    let racers = conns.into_iter().map(|mut conn| {
        let (start, request) = (Arc::clone(&start), request.to_vec());
        tokio::spawn(async move {
            start.wait().await;
            conn.get_mut().write_all(&request).await.expect("write");
            http1::read_response(&mut conn).await.expect("answer")
        })
    });
    let mut statuses = Vec::new();
    for racer in futures_util::future::join_all(racers).await {
        statuses.push(racer.expect("racer").status);
    }
    statuses.sort_unstable();
    statuses
}

/// A face match whose images are empty (a 200 that costs no model time), saved.
fn cheap_match(addr: SocketAddr, key: &str) -> Vec<u8> {
    let form = Form::new()
        .file("user_image", "a.jpg", vec![])
        .file("ref_image", "b.jpg", vec![]);
    let content_type = Form::content_type();
    http1::request(
        "POST",
        "/v3/face-match/",
        &addr.to_string(),
        &[("x-api-key", key), ("content-type", &content_type)],
        &form.body(),
    )
}

/// Racers per round, and rounds. Measured against a check-then-debit put into the
/// server's credit reservation on purpose: about 70% of rounds overspent, so ten rounds
/// miss it with a probability below 1e-5.
const RACERS: usize = 4;
const ROUNDS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_requests_on_the_last_credit_exactly_one_succeeds() {
    let server = live(|c| c.workers = Some(RACERS)).await;
    for round in 0..ROUNDS {
        let key = server.app.key(1);
        let statuses = race(server.addr, &cheap_match(server.addr, &key), RACERS).await;
        assert_eq!(statuses, [200, 403, 403, 403], "round {round}");
        assert_eq!(server.app.balance(&key), 0, "round {round}");
    }
    // The refused ones got the contract's error.
    let key = server.app.key(0);
    server
        .face_match(&key, &Form::pair(HOPPER, HOPPER))
        .await
        .assert_error(403, "insufficient_credits");
    server.shutdown().await;
}

/// The negative control of the race harness: a check-then-debit written here (read the
/// balance, do the work, then write balance − 1) overspends under the same [`race`],
/// so the harness does put requests side by side; the server's credit would be caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_race_harness_catches_a_check_then_debit() {
    use axum::extract::State;
    use axum::http::StatusCode;

    async fn racy_spend(State(balance): State<Arc<Mutex<i64>>>) -> StatusCode {
        let seen = *balance.lock().expect("balance");
        if seen < 1 {
            return StatusCode::FORBIDDEN;
        }
        // The work between the check and the debit (the face match itself).
        tokio::time::sleep(Duration::from_millis(50)).await;
        *balance.lock().expect("balance") = seen - 1;
        StatusCode::OK
    }

    let balance = Arc::new(Mutex::new(0_i64));
    let app = axum::Router::new()
        .route("/v3/face-match/", axum::routing::post(racy_spend))
        .with_state(Arc::clone(&balance));
    let server = facematch_testkit::LiveServer::start(|listener, shutdown| {
        std::future::IntoFuture::into_future(
            axum::serve(listener, app).with_graceful_shutdown(shutdown),
        )
    })
    .await
    .expect("bind");
    let mut overspent = 0;
    for _ in 0..ROUNDS {
        *balance.lock().expect("balance") = 1;
        let statuses = race(server.addr(), &cheap_match(server.addr(), "k"), RACERS).await;
        overspent += usize::from(statuses.iter().filter(|s| **s == 200).count() > 1);
    }
    assert!(
        overspent >= 1,
        "the racy debit never overspent in {ROUNDS} rounds"
    );
    server
        .shutdown(Duration::from_secs(30))
        .await
        .expect("stops")
        .expect("server");
}

// ---------------------------------------------------------------------------------
// Overload and shutdown.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_is_answered_with_429_and_retry_after_never_5xx() {
    let (server, gate) = gated(|c| {
        c.workers = Some(1);
        c.queue = Some(1);
    })
    .await;
    let key = server.app.key(100);
    let form = Form::pair(HOPPER, HOPPER_WEBP).text("save_api_request", "false");
    let send = || {
        let (addr, key, body) = (server.addr, key.clone(), form.body());
        tokio::spawn(async move {
            http(
                addr,
                "POST",
                "/v3/face-match/",
                &[("x-api-key", key), ("content-type", Form::content_type())],
                &body,
            )
            .await
            .expect("http")
        })
    };
    // The first takes the one worker and is held in the pipeline ...
    let running = send();
    gate.until_arrived(1).await;
    // ... the second takes the one queue place ...
    let queued = send();
    let metrics = server.app.state.metrics().clone();
    until("two face matches admitted", || metrics.queued.get() == 2).await;
    // ... and the next four are refused without waiting for the worker, for free (the
    // bound only turns a request stuck behind the gate into a failure, not a hang).
    for _ in 0..4 {
        let r = tokio::time::timeout(Duration::from_secs(30), send())
            .await
            .expect("refused without waiting for the worker")
            .expect("task");
        r.assert_error(429, "server_busy");
        assert_eq!(r.headers["retry-after"], "1");
    }
    gate.open();
    for r in [running.await.expect("task"), queued.await.expect("task")] {
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json["face_match"]["status"], "Approved");
    }
    assert_eq!(server.app.balance(&key), 98, "429s are free");
    let metrics = http(server.addr, "GET", "/metrics", &[], b"")
        .await
        .expect("metrics")
        .text();
    assert!(
        metrics.contains("facematch_face_match_rejected_busy_total 4"),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let (server, gate) = gated(|_| {}).await;
    let key = server.app.key(5);
    let form = Form::pair(HOPPER, HOPPER_WEBP);
    let addr = server.addr;
    let pending = tokio::spawn(async move {
        http(
            addr,
            "POST",
            "/v3/face-match/",
            &[("x-api-key", key), ("content-type", Form::content_type())],
            &form.body(),
        )
        .await
    });
    // The request is inside the pipeline; then the server is asked to stop.
    gate.until_arrived(1).await;
    let store = server.app.store().clone();
    let stopping = tokio::spawn(server.shutdown());
    // Shutdown has begun once the listener is closed; the request is still held.
    let mut refused = false;
    for _ in 0..6000 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "the listener was never closed");
    assert!(
        !stopping.is_finished(),
        "shutdown waits for the request in flight"
    );
    gate.open();
    let reply = pending.await.expect("task").expect("http");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json["face_match"]["status"], "Approved");
    stopping.await.expect("shutdown task");
    // Saved before the response: the acknowledged decision is in the store.
    let id = reply.json["request_id"].as_str().expect("id");
    let owner = store.list_keys().expect("keys")[0].id.clone();
    assert!(store.get_decision(id, &owner).expect("get").is_some());
}

// ---------------------------------------------------------------------------------
// The Python and Node clients.

/// Set to `1` to skip the client-script tests where `python3` or `node` cannot be
/// installed; otherwise a missing interpreter fails them (CI installs both).
const SKIP_CLIENTS: &str = "FACEMATCH_SKIP_CLIENT_TESTS";

/// Runs a client script (`interpreter script USER REF [args]`, key from `DIDIT_API_KEY`,
/// server from `FACEMATCH_URL`) against a live server: Approved exits 0 with the JSON on
/// stdout, Declined exits 1, a bad key exits 2 with the server's 401 on stderr.
async fn check_client_script(interpreter: &'static str, script: &str) {
    if std::env::var_os(SKIP_CLIENTS).is_some_and(|v| v == "1") {
        eprintln!("{SKIP_CLIENTS}=1: the {interpreter} client test is skipped");
        return;
    }
    let found = std::process::Command::new(interpreter)
        .arg("--version")
        .output();
    assert!(
        found.is_ok_and(|out| out.status.success()),
        "{interpreter} is needed to test {script} (set {SKIP_CLIENTS}=1 to skip it)"
    );
    let server = live(|_| {}).await;
    let key = server.app.key(5);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(script);
    let faces = common::faces_dir();
    let path = |rel: &str| faces.join(rel).display().to_string();
    let run = |args: Vec<String>, key: String| {
        let (script, addr) = (script.clone(), server.addr);
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(interpreter)
                .arg(&script)
                .args(args)
                .env("DIDIT_API_KEY", key)
                .env("FACEMATCH_URL", format!("http://{addr}"))
                .output()
                .expect("the client script runs")
        })
    };
    let threshold = || ["--threshold".to_string(), "50".to_string()];
    let mut args = vec![path(HOPPER), path(HOPPER_WEBP)];
    args.extend(threshold());
    args.push("--rotate".into());
    let out = run(args, key.clone()).await.expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(json["face_match"]["status"], "Approved");
    assert_eq!(json["face_match"]["user_image"]["best_angle"], 0);
    // Different people: Declined, exit 1.
    let mut args = vec![path(HOPPER), path("fixtures/one_face_astronaut.png")];
    args.extend(threshold());
    let out = run(args, key).await.expect("join");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A bad key: exit 2 with the server's error on stderr.
    let out = run(vec![path(HOPPER), path(HOPPER_WEBP)], "fm_wrong".into())
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_python_script_works_against_a_live_server() {
    check_client_script("python3", "match_faces.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fetch_twin_works_against_a_live_server() {
    // The JavaScript/TypeScript client path: Node's built-in fetch + FormData.
    check_client_script("node", "match_faces.mjs").await;
}

/// Sends a head and only part of the body, then reads whatever the server answers.
async fn partial_upload(addr: SocketAddr, key: &str, declared: usize, sent: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /v3/face-match/ HTTP/1.1\r\nHost: {addr}\r\nx-api-key: {key}\r\n\
         content-type: {}\r\ncontent-length: {declared}\r\n\r\n",
        Form::content_type()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(sent).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    raw.extend_from_slice(&buf[..n]);
                    if raw.windows(4).any(|w| w == b"\r\n\r\n") && raw.ends_with(b"}") {
                        break;
                    }
                }
            }
        }
    })
    .await
    .expect("the server answers instead of hanging");
    String::from_utf8_lossy(&raw).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_100_mb_body_is_refused_at_once_and_a_slow_body_times_out() {
    let server = live(|c| c.request_timeout_secs = 1).await;
    let key = server.app.key(5);
    let start = format!("--{}\r\n", common::BOUNDARY);
    let answer = partial_upload(server.addr, &key, 100 * 1024 * 1024, start.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    // Declares 1 KiB, sends 40 bytes, then stalls: cut at the deadline.
    let answer = partial_upload(server.addr, &key, 1024, start.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"timeout\""), "{answer}");
    // Both were free (the cut-short one is refunded on the blocking pool: poll).
    until("the credit is back", || server.app.balance(&key) == 5).await;
    server.shutdown().await;
}

/// Streams a whole upload of `size` bytes, then reads the answer: the write must
/// succeed (the server reads and drops the body of an early error instead of closing
/// on it, which would reset the connection) and the answer be the JSON error.
async fn upload_then_read(addr: SocketAddr, key: &str, size: usize) -> http1::Response {
    let form = Form::new()
        .file("user_image", "a.jpg", vec![0xAB; size / 2])
        .file("ref_image", "b.jpg", vec![0xCD; size / 2]);
    let content_type = Form::content_type();
    let request = http1::request(
        "POST",
        "/v3/face-match/",
        &addr.to_string(),
        &[("x-api-key", key), ("content-type", &content_type)],
        &form.body(),
    );
    let mut conn = http1::connect(addr).await.expect("connect");
    conn.get_mut()
        .write_all(&request)
        .await
        .expect("the whole upload is read, not reset");
    http1::read_response(&mut conn).await.expect("the answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn early_errors_read_the_whole_upload_before_answering() {
    // 10 MiB: far more than the socket buffers hold, within the 12 MiB body limit.
    const SIZE: usize = 10 * 1024 * 1024;
    let server = live(|_| {}).await;
    let broke = server.app.key(0);
    for (key, status, code) in [
        ("fm_AAAAAAAA_wrong", 401, "invalid_api_key"),
        (broke.as_str(), 403, "insufficient_credits"),
    ] {
        let answer = upload_then_read(server.addr, key, SIZE).await;
        assert_eq!(answer.status, status, "{}", answer.text());
        assert!(answer.text().contains(code), "{}", answer.text());
    }
    server.shutdown().await;
    let loading = live_app(TestApp::loading(|_| {})).await;
    let key = loading.app.key(1);
    let answer = upload_then_read(loading.addr, &key, SIZE).await;
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert!(answer.text().contains("not_ready"), "{}", answer.text());
    assert_eq!(loading.app.balance(&key), 1);
    loading.shutdown().await;
}
