//! Webhook delivery end to end, on real sockets: a live server, its deliverer, and the
//! receiver written from Didit's docs (`scripts/didit_webhook_receiver.py --require-all`,
//! a child process) that verifies all three signatures and the timestamp window.
//!
//! Events for a saved face match and a status change (not for a same-status update, nor
//! for `save_api_request=false`), Didit's body fields, retries with the same event id
//! until a 2xx, and a hanging receiver that does not slow face matches down.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{http, live, Form, Live};
use facematch_server::webhooks::deliver::{send_once, Deliverer};
use facematch_server::ServerConfig;
use facematch_store::{AttemptLog, DestinationUpdate, ExposeSecret, NewDestination, Store};
use serde_json::Value;
use time::OffsetDateTime;

const HOPPER: &str = "fixtures/one_face_hopper.jpg";
const HOPPER_WEBP: &str = "fixtures/one_face_hopper.webp";

/// The receiver script, a child process killed when this drops.
struct Receiver {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    /// Starts the receiver with `secret`, `--require-all` and `extra` arguments; returns
    /// once it prints the port it listens on.
    fn start(secret: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("receiver.jsonl");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/didit_webhook_receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", "0", "--require-all", "--log"])
            .arg(&log)
            .args(extra)
            .env("DIDIT_WEBHOOK_SECRET", secret)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the receiver prints its port");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/didit-webhook", self.port)
    }

    /// The requests logged so far, in order.
    fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }

    /// Waits (up to `limit`) until at least `n` requests are logged; returns them all.
    async fn wait_lines(&self, n: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let lines = self.lines();
            if lines.len() >= n {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} webhook requests reached the receiver within {limit:?}: {lines:?}",
                lines.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One test of this file at a time: the latency comparison must not share the machine's
/// cores with the other tests' face matches.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A live server whose settings allow loopback http receivers and retry fast, with its
/// deliverer running, and a key with credits.
struct Setup {
    _serial: tokio::sync::MutexGuard<'static, ()>,
    live: Live,
    deliverer: Deliverer,
    key: String,
    key_id: String,
}

async fn setup(tweak: impl FnOnce(&mut ServerConfig)) -> Setup {
    let serial = SERIAL.lock().await;
    let live = live(|c| {
        c.allow_private_webhooks = true;
        c.allow_http_webhooks = true;
        c.webhook_retry_schedule = "200ms,200ms,200ms,200ms".parse().expect("schedule");
        tweak(c);
    })
    .await;
    let deliverer = Deliverer::spawn(live.app.state.clone());
    let key = live.app.key(1000);
    let key_id = live
        .app
        .store()
        .authenticate(&key, OffsetDateTime::now_utc())
        .expect("key")
        .id;
    Setup {
        _serial: serial,
        live,
        deliverer,
        key,
        key_id,
    }
}

impl Setup {
    fn store(&self) -> &Store {
        self.live.app.store()
    }

    /// A destination for `status.updated` and its secret (its URL set later).
    fn destination(&self) -> (String, String) {
        let (d, secret) = self
            .store()
            .create_destination(
                NewDestination {
                    key_id: self.key_id.clone(),
                    label: "test receiver".into(),
                    url: "http://127.0.0.1:9/not-yet".into(),
                    subscribed_events: vec!["status.updated".into()],
                    enabled: true,
                },
                OffsetDateTime::now_utc(),
            )
            .expect("destination");
        (d.id, secret.expose_secret().to_owned())
    }

    fn point(&self, destination: &str, url: String) {
        self.store()
            .update_destination(
                destination,
                &self.key_id,
                DestinationUpdate {
                    url: Some(url),
                    ..DestinationUpdate::default()
                },
                OffsetDateTime::now_utc(),
            )
            .expect("update")
            .expect("found");
    }

    /// A receiver with `extra` arguments behind a new destination.
    fn receiver(&self, extra: &[&str]) -> Receiver {
        let (id, secret) = self.destination();
        let receiver = Receiver::start(&secret, extra);
        self.point(&id, receiver.url());
        receiver
    }

    /// A saved (by default) face match of two photos of the same person with `fields`;
    /// returns its request id.
    async fn face_match(&self, fields: &[(&str, &str)]) -> String {
        let form = fields
            .iter()
            .fold(Form::pair(HOPPER, HOPPER_WEBP), |f, (k, v)| f.text(k, v));
        let reply = self.live.face_match(&self.key, &form).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json["request_id"]
            .as_str()
            .expect("request_id")
            .to_owned()
    }

    async fn update_status(&self, id: &str, status: &str) {
        let body = serde_json::json!({"new_status": status}).to_string();
        let reply = http(
            self.live.addr,
            "PATCH",
            &format!("/v3/session/{id}/update-status/"),
            &[
                ("x-api-key", self.key.clone()),
                ("content-type", "application/json".into()),
            ],
            body.as_bytes(),
        )
        .await
        .expect("update-status");
        assert_eq!(reply.status, 200, "{}", reply.text());
    }

    /// The delivery log of a session, oldest first.
    fn attempts(&self, id: &str) -> Vec<AttemptLog> {
        let mut log = self
            .store()
            .session_attempts(id, &self.key_id)
            .expect("log")
            .expect("the key's session");
        log.reverse();
        log
    }

    async fn shutdown(self) {
        self.deliverer.stop().await;
        self.live.shutdown().await;
    }
}

/// The receiver's verdict on one request: fresh timestamp, all three signatures.
fn assert_verified(line: &Value) {
    assert_eq!(line["timestamp_ok"], true, "{line}");
    assert_eq!(
        line["verified"],
        serde_json::json!({"raw": true, "v2": true, "simple": true}),
        "{line}"
    );
}

/// The body of the attempt that reached the receiver as `line` (matched by event id).
fn sent_body(attempts: &[AttemptLog], line: &Value) -> Value {
    let attempt = attempts
        .iter()
        .find(|a| Some(a.event_id.as_str()) == line["event_id"].as_str())
        .unwrap_or_else(|| panic!("no logged attempt for {line}"));
    serde_json::from_str(&attempt.request_body).expect("JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_and_review_send_verified_events_and_a_same_status_update_sends_none() {
    let s = setup(|_| {}).await;
    let receiver = s.receiver(&[]);
    let limit = Duration::from_secs(20);

    // (a) A saved face match: one status.updated event, Didit's fields, all signatures ok.
    let id = s
        .face_match(&[
            ("vendor_data", "user-42"),
            ("metadata", r#"{"flow":"login","n":2}"#),
        ])
        .await;
    let lines = receiver.wait_lines(1, limit).await;
    let first = &lines[0];
    assert_verified(first);
    assert_eq!(first["answered"], 200);
    assert_eq!(first["session_id"], id.as_str());
    assert_eq!(first["status"], "Approved");
    assert_eq!(first["webhook_type"], "status.updated");
    let body = sent_body(&s.attempts(&id), first);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let timestamp = body["timestamp"].as_i64().expect("timestamp: Unix seconds");
    assert!(
        (now - 30..=now).contains(&timestamp),
        "{timestamp} vs {now}"
    );
    assert!(body["created_at"].is_i64(), "{body}");
    assert_eq!(body["event_id"], first["event_id"]);
    assert_eq!(body["vendor_data"], "user-42");
    assert_eq!(
        body["metadata"],
        serde_json::json!({"flow": "login", "n": 2})
    );
    assert_eq!(body["decision"]["session_id"], id.as_str());
    assert_eq!(body["decision"]["status"], "Approved");
    assert_eq!(body["decision"]["vendor_data"], "user-42");
    let headers: Value =
        serde_json::from_str(&s.attempts(&id)[0].request_headers).expect("headers JSON");
    let header = |name: &str| {
        headers
            .as_object()
            .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("x-timestamp"),
        Some(Value::String(timestamp.to_string()))
    );

    // (b) A review changes the status: a second event, with the new status and decision.
    s.update_status(&id, "Declined").await;
    let lines = receiver.wait_lines(2, limit).await;
    let second = &lines[1];
    assert_verified(second);
    assert_eq!(second["session_id"], id.as_str());
    assert_eq!(second["status"], "Declined");
    assert_ne!(second["event_id"], first["event_id"], "a new event");
    let body = sent_body(&s.attempts(&id), second);
    assert_eq!(body["decision"]["status"], "Declined");

    // The same status again writes nothing: the next event the receiver gets is the one
    // of a later face match (without vendor_data and metadata, so those keys are absent).
    s.update_status(&id, "Declined").await;
    let marker = s.face_match(&[]).await;
    let lines = receiver.wait_lines(3, limit).await;
    assert_eq!(lines[2]["session_id"], marker.as_str(), "{lines:?}");
    let body = sent_body(&s.attempts(&marker), &lines[2]);
    let keys = body.as_object().expect("object");
    assert!(!keys.contains_key("vendor_data"), "{body}");
    assert!(!keys.contains_key("metadata"), "{body}");
    assert_eq!(
        s.attempts(&id).len(),
        2,
        "no third try for the first session"
    );
    assert_eq!(receiver.lines().len(), 3);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_failing_three_times_gets_the_same_event_on_the_fourth_try() {
    let s = setup(|_| {}).await;
    let receiver = s.receiver(&["--fail-first", "3"]);
    let id = s.face_match(&[]).await;
    let lines = receiver.wait_lines(4, Duration::from_secs(20)).await;
    let answered: Vec<i64> = lines
        .iter()
        .filter_map(|l| l["answered"].as_i64())
        .collect();
    assert_eq!(answered, [500, 500, 500, 200]);
    for line in &lines {
        assert_verified(line);
        assert_eq!(line["event_id"], lines[0]["event_id"], "one event id");
        assert_eq!(line["session_id"], id.as_str());
    }
    // The delivery log has the four tries; the failed ones name their next try.
    let log = s.attempts(&id);
    let statuses: Vec<Option<u16>> = log.iter().map(|a| a.response_status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(500), Some(200)]);
    assert!(log[..3].iter().all(|a| a.next_try_at.is_some()), "{log:?}");
    assert!(
        log.iter().all(|a| a.delivery_state == "delivered"),
        "{log:?}"
    );
    let metrics = s.live.app.state.metrics();
    let tries = |outcome: &str| metrics.webhook_attempts.with_label_values(&[outcome]).get();
    // The try is counted just after its log row is committed: give the sending task a
    // moment to get there (the assertion itself is exact).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while tries("delivered") == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        (tries("delivered"), tries("retry"), tries("gave_up")),
        (1, 3, 0)
    );
    assert_eq!(receiver.lines().len(), 4, "nothing after the delivery");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn save_api_request_false_sends_no_event() {
    let s = setup(|_| {}).await;
    let receiver = s.receiver(&[]);
    let unsaved = s.face_match(&[("save_api_request", "false")]).await;
    // The next event is the saved face match's: the unsaved one had none.
    let saved = s.face_match(&[]).await;
    let lines = receiver.wait_lines(1, Duration::from_secs(20)).await;
    assert_eq!(lines[0]["session_id"], saved.as_str());
    assert_ne!(unsaved, saved);
    assert_eq!(s.store().pending_deliveries().expect("pending"), 0);
    assert_eq!(receiver.lines().len(), 1, "{:?}", receiver.lines());
    s.shutdown().await;
}

fn p50(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn timed_face_matches(s: &Setup, n: usize, into: &mut Vec<Duration>) {
    for _ in 0..n {
        let started = Instant::now();
        s.face_match(&[]).await;
        into.push(started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_receiver_does_not_slow_face_matches() {
    let s = setup(|c| c.webhook_timeout_secs = 2).await;
    let (destination, secret) = s.destination();
    let receiver = Receiver::start(&secret, &["--hang-seconds", "30"]);
    s.point(&destination, receiver.url());
    let enable = |on: bool| {
        s.store()
            .update_destination(
                &destination,
                &s.key_id,
                DestinationUpdate {
                    enabled: Some(on),
                    ..DestinationUpdate::default()
                },
                OffsetDateTime::now_utc(),
            )
            .expect("update")
            .expect("found");
    };
    // Warm up; then 20 face matches without a destination (disabled: no event) and 20
    // with the hanging one, alternating one by one so that whatever else the machine
    // does weighs on both alike.
    let mut scratch = Vec::new();
    timed_face_matches(&s, 3, &mut scratch).await;
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        enable(false);
        timed_face_matches(&s, 1, &mut without).await;
        enable(true);
        timed_face_matches(&s, 1, &mut with).await;
    }
    let (without, with) = (p50(without), p50(with));
    println!("face-match p50 without a destination: {without:?}; with a hanging one: {with:?}");
    let allowed = (without.mul_f64(1.2)).max(without + Duration::from_millis(15));
    assert!(
        with <= allowed,
        "p50 {with:?} with a hanging receiver, {without:?} without (allowed {allowed:?})"
    );
    // The receiver was really being tried: its tries time out and are logged.
    let metrics = s.live.app.state.metrics();
    let deadline = Instant::now() + Duration::from_secs(20);
    while metrics.webhook_attempts.with_label_values(&["retry"]).get() == 0 {
        assert!(
            Instant::now() < deadline,
            "no try logged for the hanging receiver; pending {:?}",
            s.store().pending_deliveries()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(receiver);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_test_event_is_sent_at_once_and_retention_purges_it_but_never_a_pending_one() {
    let s = setup(|c| c.retention_days = 1).await;
    let (destination, secret) = s.destination();
    let receiver = Receiver::start(&secret, &[]);
    s.point(&destination, receiver.url());
    let rt = s.live.app.state.webhooks();
    let now = OffsetDateTime::now_utc();
    let test_event = || {
        s.store()
            .enqueue_test_event(&destination, &s.key_id, now, rt.lease())
            .expect("enqueue")
            .expect("the key's destination")
    };
    // Sent now, synthetic body, verified at the receiver.
    let sent = send_once(s.store(), rt, test_event(), false)
        .await
        .expect("sent and recorded");
    assert!(sent.delivered(), "{sent:?}");
    let lines = receiver.wait_lines(1, Duration::from_secs(20)).await;
    assert_verified(&lines[0]);
    assert_eq!(lines[0]["session_id"], sent.event_id.as_str());
    assert_eq!(lines[0]["status"], "Approved");
    let log = || {
        s.store()
            .destination_attempts(&destination, &s.key_id, 100)
            .expect("log")
            .expect("the key's destination")
    };
    assert_eq!(log().len(), 1);
    // A second one stays pending (claimed, never sent).
    let _pending = test_event();
    assert_eq!(s.store().pending_deliveries().expect("pending"), 1);
    // Two days later, with one day of retention: the delivered event and its log go, the
    // pending one stays.
    let decisions =
        facematch_server::retention::sweep(&s.live.app.state, now + time::Duration::days(2))
            .await
            .expect("sweep");
    assert_eq!(decisions, 0);
    assert!(log().is_empty(), "{:?}", log());
    assert_eq!(s.store().pending_deliveries().expect("pending"), 1);
    s.shutdown().await;
}
