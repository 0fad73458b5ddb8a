//! The real server process, killed with SIGKILL in the middle of a load of saved
//! requests, restarted on the same database: every request that was answered 200 with
//! `save_api_request=true` can still be read back. Loopback only, bounded in count.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{create_key, faces, free_port, multipart, request, spawn_healthy};

fn start_server(db: &Path, port: u16) -> Child {
    let mut serve = Command::new(env!("CARGO_BIN_EXE_facematch"));
    serve
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "2",
        ])
        .arg("--database")
        .arg(db)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    spawn_healthy(serve, port)
}

#[test]
fn every_acknowledged_saved_request_survives_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("facematch.db");
    let key = create_key(Command::new(env!("CARGO_BIN_EXE_facematch")), &db, 1000);
    assert!(key.starts_with("fm_"), "{key}");

    let port = free_port();
    let mut server = start_server(&db, port);
    let user = std::fs::read(faces("fixtures/one_face_hopper.jpg")).expect("photo");
    let reference = std::fs::read(faces("fixtures/one_face_hopper.webp")).expect("photo");
    let (ctype, body) = multipart(&user, &reference, &[("save_api_request", "true")]);
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));

    // Three clients send requests until the server dies under them (at most 40 s).
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (acknowledged, key, ctype, body) = (
                acknowledged.clone(),
                key.clone(),
                ctype.clone(),
                body.clone(),
            );
            std::thread::spawn(move || {
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(40) {
                    match request(
                        port,
                        "POST",
                        "/v3/face-match/",
                        &[("x-api-key", &key)],
                        Some((&ctype, &body)),
                    ) {
                        Ok((200, body)) => {
                            let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
                            let id = v["request_id"].as_str().expect("request_id").to_string();
                            acknowledged.lock().expect("lock").push(id);
                        }
                        Ok(_) => {}
                        Err(_) => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    // Let a few requests complete, then kill without warning.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().expect("lock").len() < 6 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill().expect("SIGKILL");
    let _ = server.wait();
    for c in clients {
        c.join().expect("client thread");
    }
    let saved = acknowledged.lock().expect("lock").clone();
    assert!(
        saved.len() >= 6,
        "only {} requests were answered before the kill",
        saved.len()
    );

    let mut server = start_server(&db, port);
    for id in &saved {
        let (status, body) = request(
            port,
            "GET",
            &format!("/v3/session/{id}/decision/"),
            &[("x-api-key", &key)],
            None,
        )
        .expect("decision request");
        assert_eq!(status, 200, "acknowledged request {id} was lost: {body}");
        assert!(body.contains("Approved"), "{body}");
    }
    // Credits: one per acknowledged request at least, none lost to the crash beyond
    // the requests in flight.
    let (status, body) = request(
        port,
        "GET",
        "/v3/billing/balance/",
        &[("x-api-key", &key)],
        None,
    )
    .expect("balance");
    assert_eq!(status, 200);
    let balance = serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["balance"]
        .as_i64()
        .expect("balance");
    assert!(
        balance <= 1000 - saved.len() as i64,
        "balance {balance} after {} matches",
        saved.len()
    );
    server.kill().expect("stop");
    let _ = server.wait();
}
