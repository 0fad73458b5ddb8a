//! Real-socket tests of the accept loop (`serve_on`): the request-head timeout closes
//! half-sent heads (slowloris) while other clients are served, the connection cap makes
//! extra clients wait instead of failing, and shutdown still finishes. The timeouts are
//! the features here: their lower bounds are exact (a timer never fires early), their
//! upper bounds generous. (That stalled heads do not delay others at all is
//! `hostile.rs`'s `stalled_heads_do_not_block_other_clients`.)

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{live_app, Live, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A live server without models (the routes used here do not need them).
async fn live(tweak: impl FnOnce(&mut facematch_server::ServerConfig)) -> Live {
    live_app(TestApp::loading(tweak)).await
}

/// How long any single answer may take before the test calls the server stuck.
const STUCK: Duration = Duration::from_secs(30);

/// `GET /openapi.json` on a new connection, within `limit`: its status.
async fn openapi(addr: SocketAddr, limit: Duration) -> u16 {
    tokio::time::timeout(limit, common::http(addr, "GET", "/openapi.json", &[], b""))
        .await
        .unwrap_or_else(|_| panic!("no answer within {limit:?}"))
        .expect("http")
        .status
        .as_u16()
}

/// A connection that sends half a request head and stops.
async fn half_head(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"POST /v3/face-match/ HTTP/1.1\r\nHost: x\r\nx-slow: ")
        .await
        .expect("write");
    stream
}

/// Waits for the server to close `stream`; returns when (from `since`) and what it sent.
async fn closed_after(
    mut stream: TcpStream,
    since: Instant,
    limit: Duration,
) -> (Duration, Vec<u8>) {
    let mut got = Vec::new();
    tokio::time::timeout(limit, async {
        let mut buf = [0_u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the connection was still open after {limit:?}"));
    (since.elapsed(), got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_sent_heads_are_closed_at_the_header_timeout_and_others_are_served() {
    let server = live(|c| c.header_timeout_secs = 1).await;
    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..50 {
        stalled.push(half_head(server.addr).await);
    }
    // One that connects and sends nothing at all.
    stalled.push(TcpStream::connect(server.addr).await.expect("connect"));
    // Others are served meanwhile.
    for _ in 0..5 {
        assert_eq!(openapi(server.addr, STUCK).await, 200);
    }
    for (i, stream) in stalled.into_iter().enumerate() {
        // Closed by the header timeout (1 s), not earlier.
        let (after, got) = closed_after(stream, started, STUCK).await;
        assert!(
            after >= Duration::from_secs(1),
            "{i}: closed after {after:?}"
        );
        // hyper closes without an answer (or with a 408): never a 2xx/5xx.
        let text = String::from_utf8_lossy(&got);
        assert!(
            got.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{i}: {text}"
        );
    }
    assert_eq!(openapi(server.addr, STUCK).await, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_the_connection_cap_clients_wait_and_are_served_when_a_slot_frees() {
    let server = live(|c| {
        c.header_timeout_secs = 1;
        c.max_connections = 2;
    })
    .await;
    let started = Instant::now();
    let a = half_head(server.addr).await;
    let b = half_head(server.addr).await;
    // Both slots are held by stalled heads: the third client waits in the accept queue
    // (it is not refused or reset) and is served once the header timeout frees a slot.
    assert_eq!(openapi(server.addr, STUCK).await, 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "served after {waited:?}: the cap did not apply"
    );
    drop((a, b));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_closes_idle_keep_alive_connections_and_refuses_new_ones() {
    // An idle connection would otherwise be kept for the whole header timeout.
    let server = live(|c| c.header_timeout_secs = 600).await;
    let addr = server.addr;
    // A keep-alive connection that got one answer and stays idle.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    // Read the whole answer (head, then Content-Length bytes), however the socket splits it.
    let mut got = Vec::new();
    let mut buf = vec![0_u8; 64 * 1024];
    let body_start = loop {
        let n = idle.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed before the answer");
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    assert!(got.starts_with(b"HTTP/1.1 200"));
    let head = String::from_utf8_lossy(&got[..body_start]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .expect("content-length")
        .trim()
        .parse()
        .expect("length");
    let mut body = vec![0_u8; length.saturating_sub(got.len() - body_start)];
    idle.read_exact(&mut body)
        .await
        .expect("the rest of the body");
    // Shutdown does not wait for the idle connection's 600 s header timeout:
    // `Live::shutdown` fails the test unless the server stops within 30 s.
    server.shutdown().await;
    // Every connection task has ended: the idle connection is closed, without an answer.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(STUCK, idle.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the idle connection was not closed");
    assert_eq!(rest, b"", "closed without another answer");
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "the listener is still open");
}
