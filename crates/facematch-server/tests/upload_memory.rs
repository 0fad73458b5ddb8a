//! Uploads as a weapon (issue 10, item 3), in a test binary of its own: stalled bodies
//! against the global upload byte budget. It measures the resident memory of its
//! process, which every test running beside it in one binary (sign-ups hashing
//! passwords, pipeline runs) would grow as well — so it runs alone. Part of the attack
//! suite of `tests/attacks.rs`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{http, live, Form, Live};
use facematch_testkit::http1;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const HOPPER: &str = "fixtures/one_face_hopper.jpg";

const MIB: usize = 1024 * 1024;

/// Resident memory of this process (the server runs in it) in bytes.
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// The head of a face-match request with `key`, announcing `len` body bytes.
fn head(key: &str, len: usize) -> Vec<u8> {
    format!(
        "POST /v3/face-match/ HTTP/1.1\r\nHost: test\r\nx-api-key: {key}\r\n\
         content-type: {}\r\ncontent-length: {len}\r\n\r\n",
        Form::content_type()
    )
    .into_bytes()
}

/// Opens a connection and sends the head and all of `body` but its last KiB (the end
/// of the second image and the closing boundary): a client that stalls. A write the
/// server cut short is not an error here: the connection is returned either way.
async fn stalled_upload(addr: std::net::SocketAddr, key: &str, body: &[u8]) -> http1::Conn {
    let mut conn = BufReader::new(TcpStream::connect(addr).await.expect("connect"));
    let sent = body.len() - 1024;
    let stream = conn.get_mut();
    if stream.write_all(&head(key, body.len())).await.is_ok() {
        let _ = stream.write_all(&body[..sent]).await;
    }
    conn
}

/// Polls the budget gauge (the server's own count, no sleep as synchronisation) until
/// `done` holds, for at most 60 s.
async fn wait_for_budget(live: &Live, done: impl Fn(i64) -> bool) -> i64 {
    let budget = live.app.state.upload_budget();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = budget.in_use_bytes();
        if done(now) || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_stalled_uploads_stay_within_the_upload_budget() {
    const BUDGET_MIB: usize = 64;
    // Per-connection buffers (request heads, the HTTP and multipart readers) and what
    // the allocator keeps: measured ~35 MiB here.
    const MARGIN: usize = 64 * MIB;
    let live = live(|c| {
        c.upload_buffer_mib = BUDGET_MIB;
        // The stalls must outlive the test: the deadline is not what bounds them.
        c.request_timeout_secs = 600;
    })
    .await;
    // Two images of 4.75 MiB (never decoded: the body never completes): ~9.5 MiB.
    let image = vec![0x5a; 4 * MIB + 3 * MIB / 4];
    let body: Arc<Vec<u8>> = Arc::new(Form::images(&image, &image).body());
    drop(image);
    let keys: Vec<String> = (0..220).map(|_| live.app.key(1)).collect();
    let baseline = rss_bytes();

    // 200 clients at once send all but the end of their upload, and stall.
    let mut tasks = Vec::new();
    for key in &keys[..200] {
        let (addr, body, key) = (live.addr, body.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            stalled_upload(addr, &key, &body).await
        }));
    }
    let mut stalled = Vec::new();
    for task in tasks {
        stalled.push(task.await.expect("client task"));
    }
    let held = live.app.state.upload_budget().in_use_bytes();
    let grown = rss_bytes().saturating_sub(baseline);
    assert!(
        grown < BUDGET_MIB * MIB + MARGIN,
        "RSS grew by {} MiB with 200 stalled uploads (budget {BUDGET_MIB} MiB)",
        grown / MIB
    );
    assert!(
        held as usize <= BUDGET_MIB * MIB,
        "{held} bytes held, over the budget"
    );

    // Fill what is left, one stalled upload at a time, until one is refused: each is
    // either held (the gauge grows by its size) or answered 429 at once.
    let mut next_key = keys[200..].iter();
    let refused = loop {
        let before = live.app.state.upload_budget().in_use_bytes();
        let key = next_key
            .next()
            .expect("the budget runs out within 20 uploads");
        let mut conn = stalled_upload(live.addr, key, &body).await;
        let held = wait_for_budget(&live, |now| now >= before + 9 * MIB as i64);
        tokio::select! {
            response = http1::read_response(&mut conn) => break response.expect("answer"),
            now = held => {
                assert!(now >= before + 9 * MIB as i64, "neither held nor refused");
                stalled.push(conn);
            }
        }
    };
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.retry_after(), Some(1));
    let full = rss_bytes().saturating_sub(baseline);
    assert!(full < BUDGET_MIB * MIB + MARGIN, "{} MiB", full / MIB);

    // A further, complete upload is refused at once (it does not wait for room). Its
    // two images of just under 5 MiB need 10 MiB of buffer, at least what the refused
    // one needed, and nothing was given back since.
    let started = Instant::now();
    let largest = vec![0x5a; 5 * MIB - 64];
    let form = Form::images(&largest, &largest);
    let busy = live.face_match(&keys[219], &form).await;
    busy.assert_error(429, "server_busy");
    assert_eq!(busy.headers["retry-after"], "1");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let metrics = http(live.addr, "GET", "/metrics", &[], b"")
        .await
        .expect("metrics")
        .text();
    assert!(
        metrics.contains("facematch_upload_buffer_bytes "),
        "{metrics}"
    );

    // The stalled clients go away: every byte comes back, and a normal request works.
    drop(stalled);
    let left = wait_for_budget(&live, |now| now == 0).await;
    assert_eq!(left, 0, "bytes still held after every client left");
    let ok = live
        .face_match(&live.app.key(1), &Form::pair(HOPPER, HOPPER))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    live.shutdown().await;
}
