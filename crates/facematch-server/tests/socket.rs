//! Real-socket tests on 127.0.0.1:0: the credits race, 429 under overload, graceful
//! shutdown, and `scripts/match_faces.py` against a live server.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{http, live, Form, Live, Reply};

const HOPPER: &str = "fixtures/one_face_hopper.jpg";
const HOPPER_WEBP: &str = "fixtures/one_face_hopper.webp";

impl Live {
    async fn face_match(&self, key: &str, form: &Form) -> Reply {
        http(
            self.addr,
            "POST",
            "/v3/face-match/",
            &[
                ("x-api-key", key.to_owned()),
                ("content-type", Form::content_type()),
            ],
            &form.body(),
        )
        .await
        .expect("http")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_requests_on_the_last_credit_exactly_one_succeeds() {
    let server = live(|c| c.workers = Some(2)).await;
    let key = server.app.key(1);
    let form = Form::pair(HOPPER, HOPPER_WEBP);
    let (a, b) = tokio::join!(
        server.face_match(&key, &form),
        server.face_match(&key, &form)
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 403], "{} / {}", a.text(), b.text());
    let refused = if a.status == 403 { &a } else { &b };
    refused.assert_error(403, "insufficient_credits");
    assert_eq!(server.app.balance(&key), 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_is_answered_with_429_and_retry_after_never_5xx() {
    let server = live(|c| {
        c.workers = Some(1);
        c.queue = Some(1);
    })
    .await;
    let key = server.app.key(100);
    // Rotation makes each match run detection four times per image: long enough for the
    // six requests to overlap on one worker.
    let form =
        Form::pair("fixtures/large_hopper_4096x4800.jpg", HOPPER).text("rotate_image", "true");
    let replies =
        futures_util::future::join_all((0..6).map(|_| server.face_match(&key, &form))).await;
    let mut ok = 0;
    let mut busy = 0;
    for r in &replies {
        match r.status.as_u16() {
            200 => ok += 1,
            429 => {
                busy += 1;
                r.assert_error(429, "server_busy");
                assert_eq!(r.headers["retry-after"], "1");
            }
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    assert!(ok >= 1 && busy >= 1, "ok {ok}, busy {busy}");
    assert!(
        ok <= 2 + 1,
        "at most workers + queue at once (plus one that came late): {ok}"
    );
    assert_eq!(server.app.balance(&key), 100 - ok, "429s are free");
    let metrics = http(server.addr, "GET", "/metrics", &[], b"")
        .await
        .expect("metrics")
        .text();
    assert!(metrics.contains(&format!("facematch_face_match_rejected_busy_total {busy}")));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let server = live(|_| {}).await;
    let key = server.app.key(5);
    let form = Form::pair(HOPPER, HOPPER_WEBP).text("rotate_image", "true");
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
    // Let the request reach the server, then ask it to stop.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let store = server.app.store().clone();
    server.shutdown().await;
    let reply = pending.await.expect("task").expect("http");
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Saved before the response: the acknowledged decision is in the store.
    let id = reply.json["request_id"].as_str().expect("id");
    let owner = store.list_keys().expect("keys")[0].id.clone();
    assert!(store.get_decision(id, &owner).expect("get").is_some());
}

/// Runs a client script (`interpreter script USER REF [args]`, key from `DIDIT_API_KEY`,
/// server from `FACEMATCH_URL`) against a live server: Approved exits 0 with the JSON on
/// stdout, Declined exits 1, a bad key exits 2 with the server's 401 on stderr.
async fn check_client_script(interpreter: &'static str, script: &str, skip_hint: &str) {
    if std::process::Command::new(interpreter)
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("{interpreter} not found: skipped{skip_hint}");
        return;
    }
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
    check_client_script("python3", "match_faces.py", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fetch_twin_works_against_a_live_server() {
    // The JavaScript/TypeScript client path: Node's built-in fetch + FormData.
    check_client_script("node", "match_faces.mjs", " (.ci/run installs it)").await;
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
    // Both were free.
    for _ in 0..50 {
        if server.app.balance(&key) == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.app.balance(&key), 5);
    server.shutdown().await;
}
