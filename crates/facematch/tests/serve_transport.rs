//! The real `facematch serve` and its transport: plain HTTP on an address that is not
//! loopback is refused (exit 2, naming `--allow-plain-http`) before the database or the
//! models are touched; with `--allow-plain-http` it starts and warns that keys travel in
//! clear. Nothing is ever sent to a non-loopback address: the server listens on
//! 0.0.0.0 and is spoken to on 127.0.0.1.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, spawn_healthy};
use facematch_fetch::{MODELS_ENV, NPM_ENV, PYTHON_ENV};

#[test]
fn plain_http_on_all_addresses_is_refused_with_exit_2_before_anything_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("facematch.db");
    // Were the check missing, the server would start and then fail to fetch models
    // (empty cache, no registry client): exit 4, not 2.
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_facematch"))
        .args(["serve", "--listen", "0.0.0.0:0", "--database"])
        .arg(&db)
        .env(MODELS_ENV, dir.path().join("no-models"))
        .env(PYTHON_ENV, "/nonexistent/python")
        .env(NPM_ENV, "/nonexistent/npm")
        .env_remove("FACEMATCH_ALLOW_PLAIN_HTTP")
        .env_remove("FACEMATCH_TLS_CERT")
        .env_remove("FACEMATCH_TLS_KEY")
        .stdin(Stdio::null())
        .output()
        .expect("facematch runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--allow-plain-http"), "{stderr}");
    assert!(stderr.contains("--tls-cert"), "{stderr}");
    assert!(stderr.contains("0.0.0.0:0"), "{stderr}");
    assert!(!db.exists(), "the database was created before the refusal");
    assert!(
        !stderr.contains("[models]"),
        "models were fetched: {stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn allow_plain_http_starts_on_all_addresses_and_warns() {
    let port = free_port();
    // Spoken to on 127.0.0.1 only.
    let stderr =
        stderr_of_a_healthy_serve(&format!("0.0.0.0:{port}"), port, &["--allow-plain-http"]);
    let warning = stderr
        .lines()
        .find(|l| l.contains("warning"))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(warning.contains("API keys travel in clear"), "{warning}");
    assert!(warning.contains("reverse proxy"), "{warning}");
    assert!(warning.contains(&format!("0.0.0.0:{port}")), "{warning}");
}

#[test]
fn loopback_without_tls_starts_without_a_warning() {
    // The negative control of the warning: loopback plain HTTP is the default and quiet.
    let port = free_port();
    let stderr = stderr_of_a_healthy_serve(&format!("127.0.0.1:{port}"), port, &[]);
    assert!(!stderr.contains("travel in clear"), "{stderr}");
}

/// Starts `facematch serve --listen listen` (one worker, a fresh database, `extra`
/// flags), waits for it to answer /health on 127.0.0.1:`port`, stops it, and returns
/// what it wrote to stderr.
fn stderr_of_a_healthy_serve(listen: &str, port: u16, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("serve.log");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_facematch"));
    serve
        .args(["serve", "--listen", listen])
        .args(extra)
        .args(["--workers", "1", "--database"])
        .arg(dir.path().join("facematch.db"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"));
    let mut child = spawn_healthy(serve, port);
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&log).expect("log")
}

/// A self-signed certificate for `localhost`: (cert PEM, key PEM, DER).
fn self_signed() -> (String, String, rustls::pki_types::CertificateDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    (
        made.cert.pem(),
        made.signing_key.serialize_pem(),
        made.cert.der().clone(),
    )
}

/// The certificate the TLS server on `port` presents, after a `GET /health` over that
/// connection; its HTTP status comes back too.
fn tls_peer(
    port: u16,
    roots: &[&rustls::pki_types::CertificateDer<'static>],
) -> std::io::Result<(rustls::pki_types::CertificateDer<'static>, String)> {
    use std::io::{Read, Write};
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add((*root).clone()).map_err(std::io::Error::other)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(store)
    .with_no_client_auth();
    let name =
        rustls::pki_types::ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .map_err(std::io::Error::other)?;
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")?;
    let mut raw = String::new();
    // rustls reports a peer that closes without close_notify as an error after the data.
    let _ = tls.read_to_string(&mut raw);
    let peer = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| std::io::Error::other("no certificate"))?
        .clone()
        .into_owned();
    Ok((peer, raw))
}

#[test]
fn sighup_reloads_the_certificate_and_a_broken_pair_keeps_the_old_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let first = self_signed();
    let second = self_signed();
    std::fs::write(&cert, &first.0).expect("cert");
    std::fs::write(&key, &first.1).expect("key");
    let port = free_port();
    let log = dir.path().join("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_facematch"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--workers", "1", "--database"])
        .arg(dir.path().join("facematch.db"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("facematch serve starts");
    let roots = [&first.2, &second.2];
    let pid = child.id();
    // Polls `what` until it holds, within 60 s; the server is killed if it never does.
    let mut wait_for = |what: &dyn Fn() -> bool, label: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if what() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{label}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    wait_for(
        &|| tls_peer(port, &roots).is_ok_and(|(peer, _)| peer == first.2),
        "TLS with the first certificate",
    );
    let hup = |pid: u32| {
        let status = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    };

    // A broken pair (the second certificate with the first key): refused, old one kept.
    std::fs::write(&cert, &second.0).expect("cert");
    hup(pid);
    wait_for(
        &|| {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("TLS certificate reload failed"))
        },
        "the failed reload is logged",
    );
    let (peer, _) = tls_peer(port, &roots).expect("still serving");
    assert_eq!(peer, first.2, "the old certificate after a failed reload");

    // The whole new pair: new connections get it.
    std::fs::write(&key, &second.1).expect("key");
    hup(pid);
    wait_for(
        &|| tls_peer(port, &roots).is_ok_and(|(peer, _)| peer == second.2),
        "the new certificate after SIGHUP",
    );
    let (_, raw) = tls_peer(port, &roots).expect("TLS");
    assert!(
        raw.to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{raw}"
    );
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "SIGHUP stopped the server"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_wildcard_cors_origin_and_half_a_tls_pair_are_usage_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("facematch.db");
    for (args, names) in [
        (
            &["--cors-origin", "https://a.example,*"][..],
            "`*` is not allowed",
        ),
        (&["--tls-cert", "/nonexistent/cert.pem"][..], "--tls-key"),
        (&["--tls-key", "/nonexistent/key.pem"][..], "--tls-cert"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_facematch"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database"])
            .arg(&db)
            .args(args)
            .env_remove("FACEMATCH_TLS_CERT")
            .env_remove("FACEMATCH_TLS_KEY")
            .env_remove("FACEMATCH_CORS_ORIGIN")
            .stdin(Stdio::null())
            .output()
            .expect("facematch runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
        assert!(!db.exists(), "{args:?}: the database was created");
    }
}
