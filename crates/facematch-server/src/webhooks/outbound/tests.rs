use super::*;
use crate::webhooks::sign::sign_payload;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const OPEN: OutboundPolicy = OutboundPolicy {
    allow_http: true,
    allow_private: true,
};
const STRICT: OutboundPolicy = OutboundPolicy {
    allow_http: false,
    allow_private: false,
};
const HTTP_ONLY: OutboundPolicy = OutboundPolicy {
    allow_http: true,
    allow_private: false,
};

fn refused(url: &str, policy: OutboundPolicy) -> String {
    match check_url(url, policy) {
        Err(e) => e.to_string(),
        Ok(u) => panic!("{url} was accepted as {u}"),
    }
}

#[test]
fn public_https_urls_pass() {
    for url in [
        "https://hooks.example.com/didit",
        "https://93.184.216.34:8443/x?y=1",
        "https://[2606:4700::1111]/hook",
        "https://8.8.8.8/",
    ] {
        assert!(check_url(url, STRICT).is_ok(), "{url}");
    }
}

#[test]
fn every_special_ipv4_range_is_refused() {
    for (ip, what) in [
        ("0.0.0.0", "unspecified"),
        ("10.1.2.3", "private"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.255", "CGNAT"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("169.254.169.254", "link-local"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.0.0.8", "IETF"),
        ("192.0.2.1", "documentation"),
        ("192.168.1.1", "private"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.1", "benchmarking"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
    ] {
        let msg = refused(&format!("https://{ip}/"), STRICT);
        assert!(msg.contains(ip) && msg.contains(what), "{ip}: {msg}");
    }
    // Neighbours just outside the ranges pass.
    for ip in [
        "100.63.255.255",
        "100.128.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "198.17.255.255",
        "198.20.0.0",
        "11.0.0.1",
    ] {
        assert!(check_url(&format!("https://{ip}/"), STRICT).is_ok(), "{ip}");
    }
}

#[test]
fn every_special_ipv6_range_and_embedded_ipv4_is_refused() {
    for (ip, what) in [
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fd00:ec2::254", "private"),
        ("fe80::1", "link-local"),
        ("febf::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.1", "loopback"),
        ("::192.168.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2002:c0a8:0101::", "private"),
        ("2002:7f00:1::", "loopback"),
    ] {
        let msg = refused(&format!("https://[{ip}]/"), STRICT);
        assert!(msg.contains(what), "{ip}: {msg}");
    }
    assert!(check_url("https://[::ffff:8.8.8.8]/", STRICT).is_ok());
    assert!(check_url("https://[2002:0808:0808::]/", STRICT).is_ok());
}

#[test]
fn tricky_spellings_of_loopback_are_refused() {
    // The WHATWG parser reads these as IPv4 literals, as reqwest does.
    for url in [
        "https://2130706433/",
        "https://0x7f.1/",
        "https://127.1/",
        "https://0177.0.0.1/",
    ] {
        assert!(refused(url, STRICT).contains("loopback"), "{url}");
    }
    for url in [
        "https://localhost/",
        "https://LOCALHOST./x",
        "https://api.localhost:8443/",
    ] {
        assert!(refused(url, STRICT).contains("local name"), "{url}");
    }
}

#[test]
fn allow_private_lets_special_addresses_through() {
    for url in [
        "http://127.0.0.1:9/",
        "http://localhost/",
        "https://[::1]/",
        "https://169.254.169.254/",
    ] {
        assert!(check_url(url, OPEN).is_ok(), "{url}");
    }
}

#[test]
fn scheme_userinfo_and_length_rules() {
    assert!(refused("http://hooks.example.com/", STRICT).contains("must use https"));
    assert!(check_url("http://hooks.example.com/", HTTP_ONLY).is_ok());
    assert!(refused("ftp://hooks.example.com/", OPEN).contains("unsupported URL scheme"));
    assert!(refused("file:///etc/passwd", OPEN).contains("unsupported URL scheme"));
    assert!(refused("https://user:pw@hooks.example.com/", OPEN).contains("user name or password"));
    assert!(refused("https://user@hooks.example.com/", OPEN).contains("user name or password"));
    assert!(refused("not a url", OPEN).contains("not a valid URL"));
    let base = "https://hooks.example.com/";
    let at_limit = format!("{base}{}", "a".repeat(MAX_URL_BYTES - base.len()));
    assert!(check_url(&at_limit, STRICT).is_ok());
    let over = format!("{at_limit}a");
    assert!(refused(&over, STRICT).contains("2049 bytes"));
}

#[test]
fn resolved_addresses_are_each_checked() {
    let public: SocketAddr = "8.8.8.8:0".parse().expect("addr");
    let private: SocketAddr = "10.0.0.1:0".parse().expect("addr");
    assert!(checked_addresses("h.example", vec![public], false).is_ok());
    // One private address among public ones is enough to refuse the name (rebinding).
    let err = checked_addresses("h.example", vec![public, private], false).map(|_| ());
    assert_eq!(
        err.map_err(|e| e.to_string()),
        Err("address 10.0.0.1 is private (10.0.0.0/8)".to_owned())
    );
    assert!(checked_addresses("h.example", vec![public, private], true).is_ok());
    assert!(checked_addresses("h.example", vec![], true).is_err());
}

#[tokio::test]
async fn the_resolver_refuses_a_name_that_resolves_to_loopback() {
    let name: Name = "localhost".parse().expect("name");
    let result = GuardedResolver {
        allow_private: false,
    }
    .resolve(name)
    .await;
    let err = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("local name") || err.contains("loopback"),
        "{err:?}"
    );
    let name: Name = "localhost".parse().expect("name");
    let open = GuardedResolver {
        allow_private: true,
    }
    .resolve(name)
    .await;
    assert!(open.is_ok_and(|mut addrs| addrs.next().is_some_and(|a| a.ip().is_loopback())));
}

fn request() -> SignedRequest {
    sign_payload(
        "secret",
        json!({"session_id": "s", "status": "Approved"}),
        1_700_000_000,
    )
}

/// Reads one request head (and whatever body came with it).
async fn read_head(stream: &mut tokio::net::TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Serves `answer` (then keeps the connection open until the client leaves) to every
/// connection; returns the address and the number of connections accepted.
async fn serve(answer: Vec<u8>) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                read_head(&mut stream).await;
                let _ = stream.write_all(&answer).await;
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            });
        }
    });
    (addr, hits)
}

#[tokio::test]
async fn a_2xx_is_delivered_with_the_body_kept() {
    let (addr, _) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()).await;
    let sender = Sender::new(OPEN, Duration::from_secs(5)).expect("sender");
    let out = sender
        .post(&format!("http://{addr}/hook"), &request())
        .await;
    assert_eq!(
        (out.status, out.body.as_deref(), out.error.as_deref()),
        (Some(200), Some("ok"), None)
    );
    assert!(out.delivered());
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (target, target_hits) =
        serve(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()).await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{target}/\r\nContent-Length: 0\r\n\r\n"
    );
    let (addr, hits) = serve(redirect.into_bytes()).await;
    let sender = Sender::new(OPEN, Duration::from_secs(5)).expect("sender");
    let out = sender.post(&format!("http://{addr}/"), &request()).await;
    assert_eq!(out.status, Some(307));
    assert!(!out.delivered());
    assert_eq!(out.error.as_deref(), Some("redirect not followed"));
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(target_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_huge_response_is_read_only_to_the_cap() {
    // 1 MiB announced, 16 KiB sent, then silence: reading it all would time out.
    let mut answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n".to_vec();
    answer.extend(std::iter::repeat_n(b'x', 16 * 1024));
    let (addr, _) = serve(answer).await;
    let sender = Sender::new(OPEN, Duration::from_secs(3)).expect("sender");
    let out = sender.post(&format!("http://{addr}/"), &request()).await;
    assert_eq!(out.error, None, "{out:?}");
    assert_eq!(out.status, Some(200));
    assert_eq!(out.body.map(|b| b.len()), Some(KEPT_RESPONSE_BYTES));
    assert!(out.elapsed_ms < 2_000, "{}", out.elapsed_ms);
}

#[tokio::test]
async fn a_hanging_receiver_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let sender = Sender::new(OPEN, Duration::from_secs(1)).expect("sender");
    let started = Instant::now();
    let out = sender.post(&format!("http://{addr}/"), &request()).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.error.as_deref(), Some("timed out after 1 s"));
    assert_eq!(out.status, None);
    assert!(!out.delivered());
}

#[tokio::test]
async fn localhost_is_refused_without_a_connection() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let sender = Sender::new(HTTP_ONLY, Duration::from_secs(2)).expect("sender");
    for url in [
        format!("http://localhost:{port}/"),
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
    ] {
        let out = sender.post(&url, &request()).await;
        assert_eq!(out.status, None);
        let error = out.error.unwrap_or_default();
        assert!(
            error.contains("local name") || error.contains("loopback"),
            "{url}: {error}"
        );
    }
    // Nothing ever connected: the accept queue is empty.
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock)
    );
}

#[tokio::test]
async fn https_only_refuses_http_before_connecting() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let sender = Sender::new(
        OutboundPolicy {
            allow_http: false,
            allow_private: true,
        },
        Duration::from_secs(2),
    )
    .expect("sender");
    let out = sender
        .post(&format!("http://127.0.0.1:{port}/"), &request())
        .await;
    assert!(out.error.unwrap_or_default().contains("must use https"));
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock)
    );
}
