//! Transport (issue 10, "Also"): TLS with HSTS, plain HTTP refused on the TLS port, the
//! certificate reloaded (SIGHUP's function) with a broken pair keeping the old one, CORS
//! only for the configured origins, and `/metrics` behind its token. Real sockets on
//! loopback; certificates are made at test time with rcgen.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use facematch_server::tls::CertStore;
use facematch_server::AppState;
use facematch_testkit::LiveServer;
use rustls::pki_types::{CertificateDer, ServerName};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{http, live_app, TestApp};

/// A self-signed certificate for `localhost`: its PEM files' contents and its DER.
struct SelfSigned {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn self_signed() -> SelfSigned {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    SelfSigned {
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
        der: made.cert.der().clone(),
    }
}

/// Writes `cert` and `key` PEM text to `dir/cert.pem` and `dir/key.pem`.
fn write_pair(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert).expect("write cert");
    std::fs::write(&k, key).expect("write key");
    (c, k)
}

/// Serves `state` over TLS with `certs` on a free loopback port.
async fn serve_tls(
    state: AppState,
    certs: Arc<CertStore>,
) -> LiveServer<facematch_server::ServerError> {
    LiveServer::start(move |listener, shutdown| async move {
        facematch_server::serve_tls_on(listener, state, &certs, shutdown).await
    })
    .await
    .expect("bind")
}

/// What a TLS client saw: the server's certificate and the raw HTTP answer.
struct TlsReply {
    peer: CertificateDer<'static>,
    alpn: Option<Vec<u8>>,
    raw: String,
}

impl TlsReply {
    fn status(&self) -> &str {
        self.raw.split(' ').nth(1).unwrap_or("<none>")
    }

    /// The value of header `name` (lower case), if present.
    fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or_default();
        head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// `GET path` over TLS to `addr`, trusting exactly `roots`, as `localhost`.
async fn tls_get(
    addr: SocketAddr,
    roots: &[&CertificateDer<'static>],
    path: &str,
) -> std::io::Result<TlsReply> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add((*root).clone()).expect("root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(store)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await?;
    let (_, session) = tls.get_ref();
    let peer = session
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("a server certificate")
        .clone()
        .into_owned();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut raw))
        .await
        .map_err(|_| std::io::Error::other("no answer in 30 s"))??;
    Ok(TlsReply {
        peer,
        alpn,
        raw: String::from_utf8_lossy(&raw).into_owned(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_answers_with_hsts_and_plain_http_on_the_tls_port_gets_no_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = self_signed();
    let (c, k) = write_pair(dir.path(), &cert.cert_pem, &cert.key_pem);
    let certs = CertStore::load(&c, &k).expect("load");
    let app = TestApp::new(|_| {});
    let server = serve_tls(app.state.clone(), certs).await;

    let reply = tls_get(server.addr(), &[&cert.der], "/health")
        .await
        .expect("TLS");
    assert_eq!(reply.status(), "200", "{}", reply.raw);
    assert!(reply.raw.ends_with(r#"{"status":"ok"}"#), "{}", reply.raw);
    assert_eq!(
        reply.header("strict-transport-security").as_deref(),
        Some("max-age=31536000"),
        "{}",
        reply.raw
    );
    assert_eq!(
        reply.alpn.as_deref(),
        Some(&b"http/1.1"[..]),
        "HTTP/1.1 only"
    );
    // The security headers are there too.
    assert_eq!(
        reply.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );

    // Plain HTTP to the TLS port: the connection closes without an HTTP answer.
    let mut plain = TcpStream::connect(server.addr()).await.expect("connect");
    plain
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), plain.read_to_end(&mut got))
        .await
        .expect("the server closes the connection");
    // Closed (EOF) or reset: either way, nothing that is HTTP.
    if read.is_ok() {
        assert!(
            !got.starts_with(b"HTTP/"),
            "{}",
            String::from_utf8_lossy(&got)
        );
    }

    // The server is still up for TLS clients.
    let again = tls_get(server.addr(), &[&cert.der], "/health")
        .await
        .expect("TLS after the plain client");
    assert_eq!(again.status(), "200");
    server
        .shutdown(Duration::from_secs(30))
        .await
        .expect("stops")
        .expect("server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_responses_carry_no_hsts() {
    // The negative control of the test above: the same app without TLS.
    let live = live_app(TestApp::loading(|_| {})).await;
    let reply = http(live.addr, "GET", "/health", &[], b"")
        .await
        .expect("http");
    assert!(reply.headers.get("strict-transport-security").is_none());
    assert_eq!(reply.headers["x-content-type-options"], "nosniff");
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_serves_the_new_certificate_and_a_broken_pair_keeps_the_current_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, second) = (self_signed(), self_signed());
    let (c, k) = write_pair(dir.path(), &first.cert_pem, &first.key_pem);
    let certs = CertStore::load(&c, &k).expect("load");
    let server = serve_tls(TestApp::loading(|_| {}).state, Arc::clone(&certs)).await;
    let roots = [&first.der, &second.der];

    let before = tls_get(server.addr(), &roots, "/metrics")
        .await
        .expect("TLS");
    assert_eq!(before.peer, first.der);

    // Renewed files, then what SIGHUP runs: new connections get the new certificate.
    write_pair(dir.path(), &second.cert_pem, &second.key_pem);
    certs.reload().expect("the new pair loads");
    let after = tls_get(server.addr(), &roots, "/metrics")
        .await
        .expect("TLS");
    assert_eq!(
        after.peer, second.der,
        "the new certificate after the reload"
    );
    assert_eq!(after.status(), "200");

    // Broken pairs: a key of another certificate, a truncated certificate, an empty
    // key file. Each reload fails and the second certificate stays in use.
    let third = self_signed();
    let truncated = &third.cert_pem[..third.cert_pem.len() / 2];
    for (cert_pem, key_pem) in [
        (third.cert_pem.as_str(), first.key_pem.as_str()),
        (truncated, third.key_pem.as_str()),
        (third.cert_pem.as_str(), ""),
    ] {
        write_pair(dir.path(), cert_pem, key_pem);
        let error = certs.reload().expect_err("a broken pair is refused");
        assert!(!error.to_string().is_empty());
        let still = tls_get(server.addr(), &roots, "/metrics")
            .await
            .expect("TLS");
        assert_eq!(
            still.peer, second.der,
            "kept after a failed reload: {error}"
        );
    }
    server
        .shutdown(Duration::from_secs(30))
        .await
        .expect("stops")
        .expect("server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_headers_only_for_the_configured_origins() {
    let allowed = "https://app.example.com";
    let preflight = |origin: &str| {
        vec![
            ("origin", origin.to_owned()),
            ("access-control-request-method", "POST".to_owned()),
            ("access-control-request-headers", "x-api-key".to_owned()),
        ]
    };
    // Without --cors-origin: no CORS header, even for a preflight (negative control).
    let closed = live_app(TestApp::loading(|_| {})).await;
    let reply = http(
        closed.addr,
        "OPTIONS",
        "/v3/face-match/",
        &preflight(allowed),
        b"",
    )
    .await
    .expect("http");
    assert!(
        reply.headers.get("access-control-allow-origin").is_none(),
        "{reply:?}"
    );
    closed.shutdown().await;

    let open = live_app(TestApp::loading(|c| {
        c.cors_origin = vec![allowed.to_owned()];
    }))
    .await;
    let reply = http(
        open.addr,
        "OPTIONS",
        "/v3/face-match/",
        &preflight(allowed),
        b"",
    )
    .await
    .expect("http");
    assert_eq!(reply.headers["access-control-allow-origin"], allowed);
    let methods = reply.headers["access-control-allow-methods"]
        .to_str()
        .expect("ascii");
    assert_eq!(methods, "GET,POST,PATCH,DELETE");
    let headers = reply.headers["access-control-allow-headers"]
        .to_str()
        .expect("ascii");
    assert_eq!(headers, "x-api-key,content-type");
    assert!(reply
        .headers
        .get("access-control-allow-credentials")
        .is_none());
    assert_eq!(reply.headers["x-content-type-options"], "nosniff");

    let simple = http(
        open.addr,
        "GET",
        "/health",
        &[("origin", allowed.to_owned())],
        b"",
    )
    .await
    .expect("http");
    assert_eq!(simple.headers["access-control-allow-origin"], allowed);

    for other in [
        "https://evil.example",
        "https://app.example.com.evil.example",
        "null",
    ] {
        let reply = http(
            open.addr,
            "OPTIONS",
            "/v3/face-match/",
            &preflight(other),
            b"",
        )
        .await
        .expect("http");
        assert!(
            reply.headers.get("access-control-allow-origin").is_none(),
            "{other}: {reply:?}"
        );
    }
    open.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_needs_its_token_when_one_is_set() {
    let token = "m3trics-t0ken-for-tests";
    let live = live_app(TestApp::loading(|c| {
        c.metrics_token = Some(SecretString::from(token));
    }))
    .await;
    let bearer = |t: &str| vec![("authorization", format!("Bearer {t}"))];
    for headers in [
        vec![],
        bearer("wrong"),
        bearer(""),
        bearer(&format!("{token}x")),
        vec![("authorization", token.to_owned())],
        vec![("x-api-key", token.to_owned())],
    ] {
        let reply = http(live.addr, "GET", "/metrics", &headers, b"")
            .await
            .expect("http");
        reply.assert_error(401, "metrics_unauthorized");
        assert!(!reply.text().contains(token));
    }
    let ok = http(live.addr, "GET", "/metrics", &bearer(token), b"")
        .await
        .expect("http");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(
        ok.text().contains("facematch_http_requests_total"),
        "{}",
        ok.text()
    );
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_metrics_answers_only_local_unproxied_clients() {
    let live = live_app(TestApp::loading(|_| {})).await;
    let local = http(live.addr, "GET", "/metrics", &[], b"")
        .await
        .expect("http");
    assert_eq!(local.status, 200, "{}", local.text());
    // Through a reverse proxy on the same host: loopback peer, but forwarded.
    for forwarded in [
        ("x-forwarded-for", "203.0.113.7".to_owned()),
        ("forwarded", "for=203.0.113.7".to_owned()),
    ] {
        let reply = http(live.addr, "GET", "/metrics", &[forwarded], b"")
            .await
            .expect("http");
        reply.assert_error(401, "metrics_unauthorized");
    }
    live.shutdown().await;
}
