//! `facematch webhooks add|list|remove|rotate-secret|test`, run as the built binary
//! against a temporary database, with a receiver on loopback for `test`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::thread;

use common::create_key;

fn facematch(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facematch"))
        .arg("webhooks")
        .args(args)
        .arg("--database")
        .arg(db)
        .env_remove("FACEMATCH_DATABASE")
        .env_remove("FACEMATCH_WEBHOOK_KEY_FILE")
        .output()
        .expect("facematch runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A receiver on loopback that answers `status` to `count` POSTs and sends each body on
/// the channel it returns; its URL.
fn receiver(status: u16, count: usize) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
        }
    });
    (url, rx)
}

/// add → list → test (delivered, then a receiver that fails) → rotate-secret → remove.
#[test]
fn add_list_test_rotate_remove() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("fm.db");
    let key = create_key(Command::new(env!("CARGO_BIN_EXE_facematch")), &db, 0);
    let (url, bodies) = receiver(200, 1);

    let added = facematch(
        &db,
        &[
            "add",
            "--key",
            &key,
            "--url",
            &url,
            "--label",
            "ops",
            "--allow-http",
            "--allow-private",
        ],
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let printed = stdout(&added);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "the id, then the secret: {printed}");
    let (id, secret) = (lines[0], lines[1]);
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_eq!(secret.len(), 43, "{secret}");
    assert!(
        stderr(&added).contains("will not be shown again"),
        "{}",
        stderr(&added)
    );
    assert!(
        dir.path().join("fm.db.webhook-key").exists(),
        "the key file beside the database"
    );

    let listed = facematch(&db, &["list", "--key", &key]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let table = stdout(&listed);
    assert!(
        table.contains(id) && table.contains(&url) && table.contains("ops"),
        "{table}"
    );
    assert!(table.contains("status.updated"), "{table}");
    assert!(!table.contains(secret), "list never shows the secret");

    let tested = facematch(
        &db,
        &["test", id, "--key", &key, "--allow-http", "--allow-private"],
    );
    assert_eq!(tested.status.code(), Some(0), "{}", stderr(&tested));
    let line = stdout(&tested);
    assert!(line.starts_with("delivered: HTTP 200 in "), "{line}");
    assert!(line.trim_end().ends_with(" ms"), "{line}");
    let body = bodies.recv().expect("the receiver got the event");
    let event: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(event["webhook_type"], "status.updated");

    let (failing, _) = receiver(500, 1);
    let other = facematch(
        &db,
        &[
            "add",
            "--key",
            &key,
            "--url",
            &failing,
            "--allow-http",
            "--allow-private",
        ],
    );
    assert!(other.status.success(), "{}", stderr(&other));
    let other_id = stdout(&other).lines().next().expect("id").to_owned();
    let failed = facematch(
        &db,
        &[
            "test",
            &other_id,
            "--key",
            &key,
            "--allow-http",
            "--allow-private",
        ],
    );
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stdout(&failed).starts_with("not delivered: HTTP 500 in "),
        "{}",
        stdout(&failed)
    );

    let rotated = facematch(&db, &["rotate-secret", id, "--key", &key]);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let new_secret = stdout(&rotated).trim().to_owned();
    assert_eq!(new_secret.len(), 43);
    assert_ne!(new_secret, secret);

    let removed = facematch(&db, &["remove", id, "--key", &key]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    let table = stdout(&facematch(&db, &["list", "--key", &key]));
    assert!(!table.contains(id), "{table}");
    assert!(table.contains(&other_id), "{table}");
    let again = facematch(&db, &["remove", id, "--key", &key]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
}

/// Refusals are input errors (exit 2) and change nothing: an http or private URL without
/// the flags, an unknown key, another key's destination, an unknown event.
#[test]
fn refusals_are_input_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("fm.db");
    let key = create_key(Command::new(env!("CARGO_BIN_EXE_facematch")), &db, 0);
    let stranger = create_key(Command::new(env!("CARGO_BIN_EXE_facematch")), &db, 0);
    for url in [
        "http://hooks.example.com/",
        "https://10.1.2.3/",
        "https://169.254.169.254/",
        "https://u:p@hooks.example.com/",
    ] {
        let out = facematch(&db, &["add", "--key", &key, "--url", url]);
        assert_eq!(out.status.code(), Some(2), "{url}: {}", stderr(&out));
        assert!(stderr(&out).contains("--url refused"), "{}", stderr(&out));
    }
    let out = facematch(
        &db,
        &[
            "add",
            "--key",
            "fm_nosuchkey",
            "--url",
            "https://hooks.example.com/",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = facematch(
        &db,
        &[
            "add",
            "--key",
            &key,
            "--url",
            "https://hooks.example.com/",
            "--events",
            "everything",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let added = facematch(
        &db,
        &["add", "--key", &key, "--url", "https://hooks.example.com/"],
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let id = stdout(&added).lines().next().expect("id").to_owned();
    for args in [
        vec!["remove", id.as_str(), "--key", &stranger],
        vec!["rotate-secret", id.as_str(), "--key", &stranger],
        vec!["test", id.as_str(), "--key", &stranger],
    ] {
        let out = facematch(&db, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let table = stdout(&facematch(&db, &["list", "--key", &stranger]));
    assert!(!table.contains(&id), "{table}");
    let table = stdout(&facematch(&db, &["list", "--key", &key]));
    assert!(table.contains(&id), "still there: {table}");
}
