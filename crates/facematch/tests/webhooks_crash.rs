//! Webhooks survive `kill -9`: with the receiver down, five saved face matches leave five
//! pending events; the server is killed without warning, the receiver started, the server
//! restarted on the same database: every event is delivered, and no event is delivered
//! twice in a row without a failed try between (at least once, never a blind duplicate).
//! The receiver is `scripts/didit_webhook_receiver.py --require-all` (Didit's rules).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{create_key, faces, free_port, multipart, request, serve_args, spawn_healthy};
use facematch_server::webhooks::key_file::load_key;
use facematch_store::{ExposeSecret, NewDestination, Store};
use time::OffsetDateTime;

fn start_server(db: &Path, port: u16) -> Child {
    // Retries every second for 100 s: the receiver is down for a while on purpose.
    let schedule = vec!["1s"; 100].join(",");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_facematch"));
    serve_args(&mut serve, port, 2, db)
        .args(["--allow-private-webhooks", "--allow-http-webhooks"])
        .args(["--webhook-timeout-secs", "2", "--webhook-retry-schedule"])
        .arg(schedule)
        .stderr(Stdio::null());
    spawn_healthy(serve, port)
}

fn start_receiver(secret: &str, port: u16, log: &Path) -> Child {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/didit_webhook_receiver.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--port", &port.to_string(), "--require-all", "--log"])
        .arg(log)
        .env("DIDIT_WEBHOOK_SECRET", secret)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the receiver");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the receiver starts");
    assert_eq!(line.trim(), format!("listening on {port}"));
    child
}

fn receiver_lines(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// Fails when any event's answers hold two 2xx in a row with no failure between.
fn assert_no_blind_duplicate(what: &str, sequences: &BTreeMap<String, Vec<bool>>) {
    for (event, delivered) in sequences {
        assert!(delivered.contains(&true), "{what}: {event} never delivered");
        for pair in delivered.windows(2) {
            assert!(
                !(pair[0] && pair[1]),
                "{what}: {event} delivered twice in a row: {delivered:?}"
            );
        }
    }
}

#[test]
fn pending_events_are_delivered_after_kill_9_and_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("facematch.db");
    let key = create_key(Command::new(env!("CARGO_BIN_EXE_facematch")), &db, 100);
    let receiver_port = free_port();
    let receiver_log = dir.path().join("receiver.jsonl");
    // The destination, written with the key file the server will find beside the database.
    let (key_id, secret) = {
        let store = Store::open(&db)
            .expect("database")
            .with_webhook_key(load_key(None, &db).expect("webhook key file"));
        let key_id = store
            .authenticate(&key, OffsetDateTime::now_utc())
            .expect("key")
            .id;
        let (_, secret) = store
            .create_destination(
                NewDestination {
                    key_id: key_id.clone(),
                    label: "crash test".into(),
                    url: format!("http://127.0.0.1:{receiver_port}/hook"),
                    subscribed_events: vec!["status.updated".into()],
                    enabled: true,
                },
                OffsetDateTime::now_utc(),
            )
            .expect("destination");
        (key_id, secret.expose_secret().to_owned())
    };

    let port = free_port();
    let mut server = start_server(&db, port);
    let user = std::fs::read(faces("fixtures/one_face_hopper.jpg")).expect("photo");
    let reference = std::fs::read(faces("fixtures/one_face_hopper.webp")).expect("photo");
    let (ctype, body) = multipart(&user, &reference, &[]);
    let mut sessions = BTreeSet::new();
    for _ in 0..5 {
        let (status, text) = request(
            port,
            "POST",
            "/v3/face-match/",
            &[("x-api-key", &key)],
            Some((&ctype, &body)),
        )
        .expect("face match");
        assert_eq!(status, 200, "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        sessions.insert(v["request_id"].as_str().expect("request_id").to_owned());
    }
    // Wait until every event has failed at least once against the absent receiver, so
    // the kill lands on deliveries in the middle of their retries.
    let reader = Store::open(&db).expect("second connection");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tried = sessions
            .iter()
            .filter(|id| {
                reader
                    .session_attempts(id, &key_id)
                    .ok()
                    .flatten()
                    .is_some_and(|log| !log.is_empty())
            })
            .count();
        if tried == sessions.len() {
            break;
        }
        assert!(Instant::now() < deadline, "only {tried} of 5 events tried");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(reader.pending_deliveries().expect("pending"), 5);
    server.kill().expect("SIGKILL");
    let _ = server.wait();

    let mut receiver = start_receiver(&secret, receiver_port, &receiver_log);
    let mut server = start_server(&db, port);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let lines = receiver_lines(&receiver_log);
        let delivered: BTreeSet<&str> = lines
            .iter()
            .filter(|l| l["answered"] == 200)
            .filter_map(|l| l["session_id"].as_str())
            .collect();
        if delivered.len() == sessions.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 5 events delivered after the restart: {lines:?}",
            delivered.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill().expect("stop");
    let _ = server.wait();
    let _ = receiver.kill();
    let _ = receiver.wait();

    // The receiver's log: every session's event verified, delivered, one event id each.
    let mut at_receiver = BTreeMap::<String, Vec<bool>>::new();
    let mut event_of_session = BTreeMap::<String, String>::new();
    for line in &receiver_lines(&receiver_log) {
        assert_eq!(line["timestamp_ok"], true, "{line}");
        let session = line["session_id"].as_str().expect("session_id").to_owned();
        let event = line["event_id"].as_str().expect("event_id").to_owned();
        assert!(sessions.contains(&session), "{line}");
        let known = event_of_session
            .entry(session)
            .or_insert_with(|| event.clone());
        assert_eq!(*known, event, "one stable event id per session");
        at_receiver
            .entry(event)
            .or_default()
            .push(line["answered"] == 200);
    }
    assert_eq!(at_receiver.len(), 5);
    assert_no_blind_duplicate("receiver log", &at_receiver);

    // The server's delivery log: failed tries before the kill (no receiver), then the
    // delivery; never two successful tries of one event without a failure between.
    let mut in_log = BTreeMap::<String, Vec<bool>>::new();
    for session in &sessions {
        let mut log = reader
            .session_attempts(session, &key_id)
            .expect("log")
            .expect("the key's session");
        log.reverse();
        assert!(
            log.first()
                .is_some_and(|a| a.response_status.is_none() && a.error.is_some()),
            "the first try failed without a receiver: {log:?}"
        );
        for a in log {
            in_log
                .entry(a.event_id)
                .or_default()
                .push(a.response_status.is_some_and(|s| (200..300).contains(&s)));
        }
    }
    assert_eq!(in_log.len(), 5);
    assert_no_blind_duplicate("delivery log", &in_log);
    assert_eq!(reader.pending_deliveries().expect("pending"), 0);
}
