//! Several `facematch serve` replicas sharing one PostgreSQL database (issue 13): real
//! processes on loopback, a throwaway PostgreSQL cluster (`facematch_testkit::TestCluster`),
//! real photos. What one replica does, the other must see, and no race between them may
//! spend a credit twice, lose an acknowledged decision or deliver a webhook event twice.
//! A database outage must be a fast 503 `database_unavailable` that heals by itself.
//!
//! Every wait is bounded, so a bug fails a test instead of hanging it; every child
//! process is killed and reaped by a guard, panics included.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::{create_key, faces, free_port, multipart, serve_args, spawn_healthy};
use facematch_testkit::{http1, shared_cluster, TestCluster};

fn facematch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_facematch"))
}

/// A database of its own, a webhook key file every replica and the CLI share, and a
/// folder for the replicas' logs.
struct Setup {
    url: String,
    key_file: PathBuf,
    dir: tempfile::TempDir,
}

impl Setup {
    /// A fresh database on `cluster`, migrated once before any replica starts (so that
    /// two replicas never race to create the schema).
    fn new(cluster: &TestCluster) -> Setup {
        let url = cluster.create_database().expect("CREATE DATABASE");
        let dir = tempfile::tempdir().expect("temp dir");
        let key_file = dir.path().join("webhook.key");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key_file)
                .expect("key file");
            f.write_all(b"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
                .expect("key written");
        }
        let out = facematch()
            .args(["db", "migrate", "--database", &url])
            .output()
            .expect("db migrate runs");
        assert!(
            out.status.success(),
            "db migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Setup { url, key_file, dir }
    }

    fn key(&self, credits: u32) -> String {
        let key = create_key(facematch(), Path::new(&self.url), credits);
        assert!(key.starts_with("fm_"), "{key}");
        key
    }

    /// Starts a replica named `name` (its stderr goes to `<dir>/<name>.log`) and waits
    /// until `/health` is 200.
    fn replica(&self, name: &str, extra: &[&str]) -> Replica {
        let port = free_port();
        let log = self.dir.path().join(format!("{name}.log"));
        let mut serve = facematch();
        serve_args(&mut serve, port, 1, Path::new(&self.url))
            .arg("--webhook-key-file")
            .arg(&self.key_file)
            // The tests read back many decisions quickly; the per-key read limit is not
            // what they are about.
            .args(["--session-reads-per-minute", "0"])
            .args(extra)
            .stderr(std::fs::File::create(&log).expect("log file"));
        Replica {
            child: Some(spawn_healthy(serve, port)),
            port,
            log,
        }
    }
}

/// A running `facematch serve`, killed and reaped when dropped.
struct Replica {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Replica {
    /// SIGKILL, and reap.
    fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            let _ = child.wait();
        }
    }

    /// The last lines of its stderr, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// One answer: status, error `code` (when the body has one) and body.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    code: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request with a bound of `limit`: `Err` when there was no answer (refused, cut
/// off, or nothing within `limit`).
fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
    limit: Duration,
) -> std::io::Result<Answer> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut all = headers.to_vec();
    if let Some((ctype, _)) = body {
        all.push(("Content-Type", ctype));
    }
    let bytes = body.map_or(&[][..], |(_, b)| b);
    let r = http1::send_blocking(addr, method, path, &all, bytes, limit)?;
    let body = r.text();
    let code = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned));
    Ok(Answer {
        status: r.status,
        code,
        body,
    })
}

/// A saved face match of two photos of the same person (Approved), as (content type, body).
fn same_person_form() -> (String, Vec<u8>) {
    let user = std::fs::read(faces("fixtures/one_face_hopper.jpg")).expect("photo");
    let reference = std::fs::read(faces("fixtures/one_face_hopper.webp")).expect("photo");
    multipart(&user, &reference, &[("save_api_request", "true")])
}

fn face_match(
    port: u16,
    key: &str,
    form: &(String, Vec<u8>),
    limit: Duration,
) -> std::io::Result<Answer> {
    send(
        port,
        "POST",
        "/v3/face-match/",
        &[("x-api-key", key)],
        Some((&form.0, &form.1)),
        limit,
    )
}

fn balance(port: u16, key: &str) -> i64 {
    let a = send(
        port,
        "GET",
        "/v3/billing/balance/",
        &[("x-api-key", key)],
        None,
        Duration::from_secs(10),
    )
    .expect("balance answered");
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["balance"].as_i64().expect("balance")
}

fn decision(port: u16, key: &str, id: &str) -> Answer {
    send(
        port,
        "GET",
        &format!("/v3/session/{id}/decision/"),
        &[("x-api-key", key)],
        None,
        Duration::from_secs(10),
    )
    .expect("decision answered")
}

/// Proves that a key's last credit is spent once across replicas: the check and the
/// decrement are one atomic step in the shared database, not a read on one replica and
/// a write later. With a read-then-write both replicas would see 1 credit and both
/// answer 200 (or the balance would go negative).
#[test]
fn last_credit_race_across_replicas() {
    let cluster = shared_cluster().expect("PostgreSQL test cluster");
    let setup = Setup::new(cluster);
    let key = setup.key(0);
    let a = setup.replica("a", &[]);
    let b = setup.replica("b", &[]);
    // Not saved: the race is about the credit, not the decision.
    let user = std::fs::read(faces("fixtures/one_face_hopper.jpg")).expect("photo");
    let reference = std::fs::read(faces("fixtures/one_face_hopper.webp")).expect("photo");
    let form = Arc::new(multipart(
        &user,
        &reference,
        &[("save_api_request", "false")],
    ));
    for round in 0..5 {
        let out = facematch()
            .args([
                "keys",
                "top-up",
                &key,
                "--credits",
                "1",
                "--database",
                &setup.url,
            ])
            .output()
            .expect("keys top-up runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1",
            "round {round}: the key holds exactly 1 credit before the race"
        );
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = [a.port, b.port]
            .into_iter()
            .map(|port| {
                let (barrier, form, key) = (barrier.clone(), form.clone(), key.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    face_match(port, &key, &form, Duration::from_secs(30))
                })
            })
            .collect();
        let mut answers: Vec<Answer> = racers
            .into_iter()
            .map(|t| t.join().expect("racer").expect("answered"))
            .collect();
        answers.sort_by_key(|a| a.status);
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [200, 403], "round {round}: {answers:?}");
        assert_eq!(
            answers[1].code.as_deref(),
            Some("insufficient_credits"),
            "round {round}: {answers:?}"
        );
        assert_eq!(balance(a.port, &key), 0, "round {round}, seen by A");
        assert_eq!(balance(b.port, &key), 0, "round {round}, seen by B");
    }
}

/// Proves that review state lives in the database, not in a replica: a decision saved
/// through A waits In Review in B's queue, is approved through B, and A then shows the
/// new status with B's review entry (no replica-local cache of decisions).
#[test]
fn review_on_one_replica_is_seen_by_the_other() {
    let cluster = shared_cluster().expect("PostgreSQL test cluster");
    let setup = Setup::new(cluster);
    let key = setup.key(10);
    let a = setup.replica("a", &[]);
    let b = setup.replica("b", &[]);

    // Two different people with decline 0 and review 100: a score in [0, 100) is In Review.
    let user = std::fs::read(faces("fixtures/one_face_hopper.jpg")).expect("photo");
    let reference = std::fs::read(faces("fixtures/one_face_astronaut.png")).expect("photo");
    let form = multipart(
        &user,
        &reference,
        &[
            ("save_api_request", "true"),
            ("face_match_score_decline_threshold", "0"),
            ("face_match_score_review_threshold", "100"),
        ],
    );
    let saved = face_match(a.port, &key, &form, Duration::from_secs(30)).expect("answered");
    assert_eq!(saved.status, 200, "{}", saved.body);
    let v = saved.json();
    assert_eq!(v["face_match"]["status"], "In Review", "{v}");
    let id = v["request_id"].as_str().expect("request_id").to_owned();

    // B sees it in its review queue.
    let queue = send(
        b.port,
        "GET",
        "/v3/review-queue/",
        &[("x-api-key", &key)],
        None,
        Duration::from_secs(10),
    )
    .expect("queue answered");
    assert_eq!(queue.status, 200, "{}", queue.body);
    let ids: Vec<String> = queue.json()["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|d| d["session_id"].as_str().expect("session_id").to_owned())
        .collect();
    assert_eq!(ids, std::slice::from_ref(&id), "B's review queue");

    // B approves it.
    let patch = br#"{"new_status":"Approved","comment":"approved through replica B"}"#;
    let updated = send(
        b.port,
        "PATCH",
        &format!("/v3/session/{id}/update-status/"),
        &[("x-api-key", &key)],
        Some(("application/json", patch)),
        Duration::from_secs(10),
    )
    .expect("update answered");
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        updated.json()["session_id"],
        id.as_str(),
        "{}",
        updated.body
    );

    // A reads the new status and B's review back.
    let read = decision(a.port, &key, &id);
    assert_eq!(read.status, 200, "{}", read.body);
    let d = read.json();
    assert_eq!(d["session_id"], id.as_str(), "{d}");
    assert_eq!(d["status"], "Approved", "{d}");
    let reviews = d["reviews"].as_array().expect("reviews");
    assert_eq!(reviews.len(), 1, "{d}");
    assert_eq!(reviews[0]["new_status"], "Approved", "{d}");
    assert_eq!(reviews[0]["comment"], "approved through replica B", "{d}");

    // And A's queue is empty now.
    let queue = send(
        a.port,
        "GET",
        "/v3/review-queue/",
        &[("x-api-key", &key)],
        None,
        Duration::from_secs(10),
    )
    .expect("queue answered");
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert_eq!(
        queue.json()["results"],
        serde_json::json!([]),
        "{}",
        queue.body
    );
}

/// Proves that an acknowledged saved face match is committed in the shared database
/// before its 200 (a replica killed right after answering loses nothing), that the other
/// replica keeps serving while one dies, and that no request is charged twice: credits
/// spent are the 200s, plus at most one reserved credit per request the dead replica
/// had in flight (a credit is taken before the upload is read; a killed process
/// refunds nothing — the documented behaviour, as in serve_crash.rs).
#[test]
fn kill_9_during_load_loses_nothing_acknowledged() {
    const CREDITS: i64 = 1000;
    let cluster = shared_cluster().expect("PostgreSQL test cluster");
    let setup = Setup::new(cluster);
    let key = setup.key(CREDITS as u32);
    let mut a = setup.replica("a", &[]);
    let b = setup.replica("b", &[]);
    let form = Arc::new(same_person_form());
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<(char, String)>::new()));

    // Clients 0 and 1 on A, 2 and 3 on B. Each sends until told to stop, or (on A) until
    // its first request with no answer: the kill.
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (on, port) = if i < 2 { ('A', a.port) } else { ('B', b.port) };
            let (form, key, stop, acked) = (form.clone(), key.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut statuses = BTreeMap::<u16, usize>::new();
                let mut unanswered = 0;
                let started = Instant::now();
                while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(120) {
                    match face_match(port, &key, &form, Duration::from_secs(30)) {
                        Ok(answer) => {
                            *statuses.entry(answer.status).or_default() += 1;
                            if answer.status == 200 {
                                let id = answer.json()["request_id"]
                                    .as_str()
                                    .expect("request_id")
                                    .to_owned();
                                acked.lock().expect("acked").push((on, id));
                            }
                        }
                        Err(_) => {
                            unanswered += 1;
                            break;
                        }
                    }
                }
                (on, statuses, unanswered)
            })
        })
        .collect();

    // Kill A once it has acknowledged 5 requests, in the middle of its clients' next ones.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let on_a = acked
            .lock()
            .expect("acked")
            .iter()
            .filter(|(r, _)| *r == 'A')
            .count();
        if on_a >= 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A acknowledged only {on_a} requests"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    a.kill_9();
    let killed_at = Instant::now();
    // B keeps going alone for a while, then everyone stops.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let on_b = acked
            .lock()
            .expect("acked")
            .iter()
            .filter(|(r, _)| *r == 'B')
            .count();
        if killed_at.elapsed() > Duration::from_secs(2) && on_b >= 10 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B acknowledged only {on_b} requests"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    let mut unanswered_on_a = 0;
    for c in clients {
        let (on, statuses, unanswered) = c.join().expect("client thread");
        let total: usize = statuses.values().sum();
        assert_eq!(
            statuses.get(&200).copied().unwrap_or(0),
            total,
            "replica {on}: every answer is a 200: {statuses:?}\nB's log:\n{}",
            b.log_tail()
        );
        match on {
            'A' => {
                assert_eq!(unanswered, 1, "an A client ended by the kill");
                unanswered_on_a += unanswered;
            }
            _ => assert_eq!(
                unanswered, 0,
                "a B client lost an answer: B must not notice A die"
            ),
        }
    }

    // Through B: every acknowledged request, A's included, is there, once.
    let acked = acked.lock().expect("acked").clone();
    let ids: BTreeSet<&str> = acked.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), acked.len(), "a request_id was answered twice");
    for (on, id) in &acked {
        let read = decision(b.port, &key, id);
        assert_eq!(
            read.status, 200,
            "request {id} acknowledged by {on} is lost: {}",
            read.body
        );
        let d = read.json();
        assert_eq!(d["session_id"], id.as_str(), "{d}");
        assert_eq!(d["status"], "Approved", "{d}");
    }
    let spent =
        usize::try_from(CREDITS - balance(b.port, &key)).expect("not above the credits given");
    assert!(
        (acked.len()..=acked.len() + unanswered_on_a).contains(&spent),
        "{spent} credits spent for {} acknowledged requests and {unanswered_on_a} cut off by the kill",
        acked.len()
    );
    eprintln!(
        "kill -9: {} acknowledged ({} by A), {spent} credits spent, {unanswered_on_a} cut off",
        acked.len(),
        acked.iter().filter(|(r, _)| *r == 'A').count()
    );
}

/// Proves that a replica degrades and heals by itself when PostgreSQL goes away: while
/// the database is down every answer is a fast 503 `database_unavailable` (never another
/// 5xx, never a hang past ~5 s), `/health/ready` reports the database unreachable, and
/// once it is back the same replica serves 200s again within seconds (no restart).
#[test]
fn database_outage_gives_503_then_recovers() {
    // A cluster of its own: this test stops it.
    let cluster = TestCluster::start().expect("PostgreSQL test cluster");
    let setup = Setup::new(&cluster);
    let key = setup.key(1000);
    let a = setup.replica("a", &[]);
    let form = Arc::new(same_person_form());
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    // (sent at, answered at, the answer or the error) of every request.
    type Log = Vec<(Duration, Duration, Result<Answer, String>)>;
    let log = Arc::new(Mutex::new(Log::new()));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (form, key, stop, log) = (form.clone(), key.clone(), stop.clone(), log.clone());
            let port = a.port;
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(120) {
                    let sent = t0.elapsed();
                    // 10 s: well past the ~2 s a request may wait for the database.
                    let answer = face_match(port, &key, &form, Duration::from_secs(10))
                        .map_err(|e| e.to_string());
                    let failed = answer.is_err();
                    log.lock().expect("log").push((sent, t0.elapsed(), answer));
                    if failed {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        })
        .collect();
    let count_200_after = |from: Duration| {
        log.lock()
            .expect("log")
            .iter()
            .filter(|(sent, _, a)| *sent >= from && matches!(a, Ok(a) if a.status == 200))
            .count()
    };
    let ready = |port: u16| {
        send(
            port,
            "GET",
            "/health/ready",
            &[],
            None,
            Duration::from_secs(10),
        )
        .map(|a| {
            (
                a.status,
                a.json()["database"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .map_err(|e| e.to_string())
    };

    // Some 200s first.
    let deadline = Instant::now() + Duration::from_secs(60);
    while count_200_after(Duration::ZERO) < 3 {
        assert!(
            Instant::now() < deadline,
            "no load before the outage: {:?}\nreplica log:\n{}",
            log.lock()
                .expect("log")
                .iter()
                .rev()
                .take(3)
                .collect::<Vec<_>>(),
            a.log_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(ready(a.port), Ok((200, "ok".to_owned())));

    // The outage: 5 s with the server down.
    cluster.stop().expect("pg stop");
    let down = t0.elapsed();
    let mut ready_during = Vec::new();
    while t0.elapsed() < down + Duration::from_secs(5) {
        let asked_at = t0.elapsed();
        let asked = Instant::now();
        let r = ready(a.port);
        ready_during.push((asked_at, asked.elapsed(), r));
        std::thread::sleep(Duration::from_millis(500));
    }
    let up_again = t0.elapsed();
    cluster.restart().expect("pg restart");
    let restarted = t0.elapsed();

    // Back: 200s again within 10 s, readiness ok.
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_200_after(restarted) < 2 {
        assert!(
            Instant::now() < deadline,
            "no 200 within 10 s of PostgreSQL's restart\nreplica log:\n{}",
            a.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let recovered_in = t0.elapsed() - restarted;
    let deadline = Instant::now() + Duration::from_secs(10);
    let ready_after = loop {
        let r = ready(a.port);
        if r == Ok((200, "ok".to_owned())) || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().expect("client thread");
    }

    let log = log.lock().expect("log").clone();
    let mut by_kind = BTreeMap::<String, usize>::new();
    for (sent, answered, answer) in &log {
        let kind = match answer {
            Ok(a) => format!("{} {}", a.status, a.code.as_deref().unwrap_or("")),
            Err(e) => format!("no answer: {e}"),
        };
        *by_kind.entry(kind.clone()).or_default() += 1;
        let took = *answered - *sent;
        assert!(
            answer.is_ok(),
            "request sent at {sent:?} (outage {down:?}..{restarted:?}) got no answer after {took:?}: {kind}"
        );
        assert!(
            took < Duration::from_secs(5),
            "request sent at {sent:?} took {took:?}: {kind}"
        );
        let a = answer.as_ref().expect("checked");
        // Any 5xx is the outage's 503; and whatever was sent and answered wholly inside
        // the outage is that 503 (nothing can be charged or saved without the database).
        if a.status >= 500 {
            assert_eq!(
                (a.status, a.code.as_deref()),
                (503, Some("database_unavailable")),
                "request sent at {sent:?} (outage {down:?}..{restarted:?}): {}",
                a.body
            );
        } else {
            assert_eq!(a.status, 200, "request sent at {sent:?}: {}", a.body);
        }
        if *sent >= down && *answered <= up_again {
            assert_eq!(
                (a.status, a.code.as_deref()),
                (503, Some("database_unavailable")),
                "request sent at {sent:?} inside the outage: {}",
                a.body
            );
        }
    }
    let during_outage = log
        .iter()
        .filter(|(sent, answered, _)| *sent >= down && *answered <= up_again)
        .count();
    let timeline: Vec<String> = log
        .iter()
        .map(|(sent, answered, a)| {
            let kind = a
                .as_ref()
                .map_or("no answer".to_owned(), |a| a.status.to_string());
            format!("{sent:.1?}+{:.1?} {kind}", *answered - *sent)
        })
        .collect();
    assert!(
        during_outage >= 1,
        "only {during_outage} requests fell in the outage {down:.1?}..{up_again:.1?}: {timeline:?}"
    );
    assert!(ready_during.len() >= 2, "{ready_during:?}");
    // Readiness checks the database at most once a second (the route is public), so an
    // answer in the first second of the outage may still be the last good one.
    for (asked_at, took, r) in &ready_during {
        if *asked_at < down + Duration::from_secs(1) && *r == Ok((200, "ok".to_owned())) {
            continue;
        }
        assert_eq!(
            r,
            &Ok((503, "unreachable".to_owned())),
            "/health/ready during the outage"
        );
        assert!(
            *took < Duration::from_secs(5),
            "/health/ready took {took:?}"
        );
    }
    assert_eq!(
        ready_after,
        Ok((200, "ok".to_owned())),
        "/health/ready after the restart"
    );
    // Credits: every 200 paid once, a 503 never. A request in flight when the database went
    // away had reserved its credit; its refund failed then and is retried in the background
    // until the database answers, so within a few seconds of the restart the balance is exact.
    let ok = by_kind.get("200 ").copied().unwrap_or(0);
    let settled_by = Instant::now() + Duration::from_secs(20);
    let spent = loop {
        let spent =
            usize::try_from(1000 - balance(a.port, &key)).expect("not above the 1000 given");
        if spent == ok || Instant::now() > settled_by {
            break spent;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!("outage: {spent} credits spent for {ok} answers 200");
    assert_eq!(
        spent, ok,
        "{spent} credits spent for {ok} answers 200: a refused request kept its credit"
    );
    eprintln!("outage {down:.1?}..{restarted:.1?}: answers {by_kind:?}; 200s again {recovered_in:?} after the restart; readiness during: {ready_during:?}\n{timeline:?}"
    );
}

/// A webhook receiver: accepts every POST, answers 200 after `delay` (a slow receiver
/// widens the window in which two replicas could both send one event), and records each
/// body's `(event_id, session_id)`.
struct Receiver {
    port: u16,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    fn start(delay: Duration) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        // Runs until the test process ends (the thread is detached).
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let recorded = recorded.clone();
                std::thread::spawn(move || {
                    if let Some(v) = read_request(conn, delay) {
                        let field = |k: &str| v[k].as_str().unwrap_or("?").to_owned();
                        recorded
                            .lock()
                            .expect("recorded")
                            .push((field("event_id"), field("session_id")));
                    }
                });
            }
        });
        Receiver { port, seen }
    }
}

/// Reads one HTTP request's JSON body, waits `delay`, answers 200.
fn read_request(conn: TcpStream, delay: Duration) -> Option<serde_json::Value> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let v = serde_json::from_slice(&body).ok();
    std::thread::sleep(delay);
    let mut conn = conn;
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    v
}

/// Proves that the two replicas' deliverers share the outbox without double sends: each
/// event is claimed by exactly one replica (a claim is a lease in the database), so the
/// receiver gets every event once — none missing, none twice — even though both
/// replicas run a deliverer and the receiver is slow.
#[test]
fn each_webhook_event_is_delivered_once_across_replicas() {
    const N: usize = 12;
    let cluster = shared_cluster().expect("PostgreSQL test cluster");
    let setup = Setup::new(cluster);
    let key = setup.key(100);
    let receiver = Receiver::start(Duration::from_millis(300));
    let out = facematch()
        .args([
            "webhooks",
            "add",
            "--allow-http",
            "--allow-private",
            "--url",
        ])
        .arg(format!("http://127.0.0.1:{}/hook", receiver.port))
        .args(["--database", &setup.url, "--webhook-key-file"])
        .arg(&setup.key_file)
        .args(["--key", &key])
        .stdin(Stdio::null())
        .output()
        .expect("webhooks add runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let hooks = [
        "--allow-private-webhooks",
        "--allow-http-webhooks",
        "--webhook-timeout-secs",
        "2",
        "--webhook-retry-schedule",
        "1s,1s,1s,1s,1s",
    ];
    let a = setup.replica("a", &hooks);
    let b = setup.replica("b", &hooks);
    let form = Arc::new(same_person_form());
    // Two clients, one per replica, N saved face matches in all.
    let clients: Vec<_> = [a.port, b.port]
        .into_iter()
        .map(|port| {
            let (form, key) = (form.clone(), key.clone());
            std::thread::spawn(move || {
                (0..N / 2)
                    .map(|_| {
                        let answer = face_match(port, &key, &form, Duration::from_secs(30))
                            .expect("answered");
                        assert_eq!(answer.status, 200, "{}", answer.body);
                        answer.json()["request_id"].as_str().expect("id").to_owned()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let sessions: BTreeSet<String> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    assert_eq!(sessions.len(), N);

    let delivered_sessions = || -> BTreeSet<String> {
        receiver
            .seen
            .lock()
            .expect("seen")
            .iter()
            .map(|(_, s)| s.clone())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered_sessions() != sessions {
        assert!(
            Instant::now() < deadline,
            "{} of {N} events delivered in 30 s: {:?}\nA:\n{}\nB:\n{}",
            delivered_sessions().len(),
            receiver.seen.lock().expect("seen"),
            a.log_tail(),
            b.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A late duplicate (a second claim, a retry of a delivered event) would come within
    // a poll (1 s) and a send (0.3 s): wait for it.
    std::thread::sleep(Duration::from_secs(4));
    let seen = receiver.seen.lock().expect("seen").clone();
    let mut per_event = BTreeMap::<&str, Vec<&str>>::new();
    for (event, session) in &seen {
        per_event.entry(event).or_default().push(session);
    }
    let twice: Vec<_> = per_event.iter().filter(|(_, s)| s.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "events delivered more than once: {twice:?}"
    );
    assert_eq!(
        per_event.len(),
        N,
        "one event per saved face match: {seen:?}"
    );
    assert_eq!(seen.len(), N, "{seen:?}");
    let sessions_seen: BTreeSet<&str> = seen.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(sessions_seen.len(), N, "one event per session: {seen:?}");
}
