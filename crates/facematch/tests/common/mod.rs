//! What the binary's end-to-end tests share: the photos, and a live `facematch serve`
//! process spoken to over raw HTTP/1.1 on loopback. The photos, the form builder and
//! the HTTP client are the test kit's (`facematch-testkit`), shared with the server's
//! tests and the load tools.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use facematch_testkit::{faces_dir, http1, Form};

/// A photo under `shared/data/faces`.
pub fn faces(rel: &str) -> PathBuf {
    faces_dir().join(rel)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Runs `keys_create` (a prepared `facematch` command) as `keys create --credits N
/// --database DB` and returns the key it prints.
pub fn create_key(mut keys_create: Command, db: &std::path::Path, credits: u32) -> String {
    let out = keys_create
        .args([
            "keys",
            "create",
            "--credits",
            &credits.to_string(),
            "--database",
        ])
        .arg(db)
        .output()
        .expect("keys create runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 key")
        .trim()
        .to_string()
}

/// Spawns `serve` (a prepared command) and waits until `/health` answers 200; a server
/// that never gets there is killed and reaped before the test fails.
pub fn spawn_healthy(mut serve: Command, port: u16) -> Child {
    let mut child = serve.spawn().expect("facematch serve starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok((200, _)) = request(port, "GET", "/health", &[], None) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not become healthy within 60 s");
}

/// Sets `serve` up to listen on `127.0.0.1:port` with `workers` workers and the database
/// `db`, stdout discarded (stderr stays the caller's to set).
pub fn serve_args<'a>(
    serve: &'a mut Command,
    port: u16,
    workers: u32,
    db: &Path,
) -> &'a mut Command {
    serve
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--workers")
        .arg(workers.to_string())
        .arg("--database")
        .arg(db)
        .stdout(Stdio::null())
}

/// The credit balance of `key` as the server at `port` reports it.
pub fn balance(port: u16, key: &str) -> i64 {
    let (status, body) = request(
        port,
        "GET",
        "/v3/billing/balance/",
        &[("x-api-key", key)],
        None,
    )
    .expect("balance");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["balance"]
        .as_i64()
        .expect("balance")
}

/// One HTTP/1.1 request with `Connection: close` (the test kit's client, given 60 s);
/// returns (status, body).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> std::io::Result<(u16, String)> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut all = headers.to_vec();
    if let Some((ctype, _)) = body {
        all.push(("Content-Type", ctype));
    }
    let bytes = body.map_or(&[][..], |(_, b)| b);
    let response = http1::send_blocking(addr, method, path, &all, bytes, Duration::from_secs(60))?;
    Ok((response.status, response.text()))
}

/// A face-match form: the two images plus text `fields`; returns (content type, body).
pub fn multipart(user: &[u8], reference: &[u8], fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let form = fields
        .iter()
        .fold(Form::images(user, reference), |form, (name, value)| {
            form.text(name, value)
        });
    (Form::content_type(), form.body())
}
