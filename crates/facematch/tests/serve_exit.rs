//! How the real `facematch serve` process ends: models that cannot be loaded stop it
//! with exit code 4 and a message that says why; SIGTERM stops it gracefully (the request
//! in flight is answered and paid for once) with exit code 0.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{
    balance, create_key, faces, free_port, multipart, request, serve_args, spawn_healthy,
};
use facematch_fetch::{ModelFile, DEFAULT_BUNDLE, MODELS_ENV, NPM_ENV, PYTHON_ENV};

/// What the fake registry client prints before failing, as pip would without a network.
const OFFLINE: &str = "fake client: no registry reachable from this test";

/// Waits for `child` to exit; past `limit` (a bound for a broken build, far above what a
/// stop takes) it is killed and the test fails.
fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `facematch serve` on a free port with the models in `models` and registry clients
/// that always fail (nothing can be fetched); returns its exit status and stderr.
fn serve_with_models(dir: &Path, models: &Path) -> (ExitStatus, String) {
    let fake_client = dir.join("fake-client");
    std::fs::write(
        &fake_client,
        format!("#!/bin/sh\necho '{OFFLINE}' >&2\nexit 1\n"),
    )
    .expect("write the fake client");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake_client, std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let log = dir.join("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_facematch"))
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--database")
        .arg(dir.join("facematch.db"))
        .env(MODELS_ENV, models)
        .env(PYTHON_ENV, &fake_client)
        .env(NPM_ENV, &fake_client)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("facematch serve starts");
    let status = wait_bounded(&mut child, Duration::from_secs(120), "serve without models");
    (status, std::fs::read_to_string(&log).expect("log"))
}

fn bundle_file(file_name: &str) -> ModelFile {
    DEFAULT_BUNDLE
        .into_iter()
        .find(|f| f.file_name == file_name)
        .expect("a default bundle file")
}

/// The exit, the message: `facematch: server failed: loading the models failed: …` with
/// the package it could not get and what the registry client said; no panic.
fn assert_models_failure(status: ExitStatus, stderr: &str, file: &ModelFile) {
    assert_eq!(status.code(), Some(4), "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("facematch: "))
        .unwrap_or_else(|| panic!("no error line in:\n{stderr}"));
    assert!(
        error.starts_with(
            "facematch: server failed: loading the models failed: could not download "
        ) && error.contains(&file.requirement()),
        "{stderr}"
    );
    assert!(stderr.contains(OFFLINE), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn serve_exits_4_with_a_clear_error_when_the_models_cannot_be_loaded() {
    // An empty model folder, nothing fetchable: the first file it needs is the runtime.
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("models");
    std::fs::create_dir(&empty).expect("mkdir");
    let (status, stderr) = serve_with_models(dir.path(), &empty);
    assert_models_failure(status, &stderr, &bundle_file("libonnxruntime.so.1.32.0"));
    assert_eq!(
        std::fs::read_dir(&empty).expect("read_dir").count(),
        0,
        "nothing was installed"
    );

    // A copy of the real cache (links to its files; only the corrupt one is a file of
    // its own) whose detector is corrupt: its hash check fails, it cannot be fetched
    // again, and the server stops instead of serving with a broken model.
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("models");
    std::fs::create_dir(&copy).expect("mkdir");
    let real = facematch_fetch::ModelStore::from_env();
    let detector = bundle_file("face_detection_yunet_2023mar.onnx");
    for entry in std::fs::read_dir(real.dir()).expect("the model cache") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("file name");
        if name != detector.file_name {
            std::os::unix::fs::symlink(&path, copy.join(name)).expect("symlink");
        }
    }
    let mut corrupt = std::fs::read(real.dir().join(detector.file_name)).expect("the detector");
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    std::fs::write(copy.join(detector.file_name), &corrupt).expect("write");
    let (status, stderr) = serve_with_models(dir.path(), &copy);
    assert_models_failure(status, &stderr, &detector);
    assert_eq!(
        std::fs::read(copy.join(detector.file_name)).expect("read"),
        corrupt,
        "the corrupt file was left as it was"
    );
}

/// Parses a whole HTTP/1.1 response read up to the end of the connection: status,
/// lower-cased headers, body.
fn parse_response(raw: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no complete answer before the connection closed: {:?}",
                String::from_utf8_lossy(raw)
            )
        });
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

#[test]
fn sigterm_answers_the_request_in_flight_then_exits_0() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("facematch.db");
    let key = create_key(Command::new(env!("CARGO_BIN_EXE_facematch")), &db, 10);
    let port = free_port();
    let log = dir.path().join("serve.log");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_facematch"));
    serve_args(&mut serve, port, 1, &db).stderr(std::fs::File::create(&log).expect("log file"));
    let mut server = spawn_healthy(serve, port);

    // A face match whose last body byte is held back: the server has taken its credit
    // and waits for the rest of the upload.
    let user = std::fs::read(faces("fixtures/one_face_hopper.jpg")).expect("photo");
    let reference = std::fs::read(faces("fixtures/one_face_hopper.webp")).expect("photo");
    let (ctype, body) = multipart(&user, &reference, &[("save_api_request", "true")]);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = format!(
        "POST /v3/face-match/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-api-key: {key}\r\n\
         content-type: {ctype}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    let (most, last) = body.split_at(body.len() - 1);
    stream.write_all(most).expect("body");
    // Wait until it is in flight (this request and the /metrics request that reads the
    // gauge) with its credit taken.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, metrics) = request(port, "GET", "/metrics", &[], None).expect("metrics");
        assert_eq!(status, 200);
        if metrics.contains("\nfacematch_http_requests_in_flight 2\n") && balance(port, &key) == 9 {
            break;
        }
        assert!(Instant::now() < deadline, "the upload never got in flight");
        std::thread::sleep(Duration::from_millis(20));
    }

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    // Shutdown has begun once the listener is closed: new clients are refused.
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        server.try_wait().expect("try_wait"),
        None,
        "exited with a request in flight"
    );

    stream.write_all(last).expect("the last byte");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("the answer");
    let (status, headers, body) = parse_response(&raw);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{text}");
    assert!(
        headers.contains(&("connection".to_owned(), "close".to_owned())),
        "{headers:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["face_match"]["status"], "Approved", "{text}");
    let request_id = v["request_id"].as_str().expect("request_id").to_owned();

    let status = wait_bounded(&mut server, Duration::from_secs(60), "serve after SIGTERM");
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("shutting down: finishing requests in flight"),
        "{stderr}"
    );
    assert!(stderr.contains("stopped"), "{stderr}");

    // Paid for exactly once, and saved before it was answered.
    let store = facematch_store::Store::open(&db).expect("the database");
    let keys = store.list_keys().expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(store.balance(&keys[0].id).expect("balance"), 9);
    let saved = store
        .get_decision(&request_id, &keys[0].id)
        .expect("get")
        .expect("the answered request was saved");
    assert_eq!(saved.face_match.status.to_string(), "Approved");
}
