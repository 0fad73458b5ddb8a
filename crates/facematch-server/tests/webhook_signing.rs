//! Our webhook signatures against a receiver written from Didit's docs
//! (`scripts/didit_webhook_receiver.py`): its verifying functions called from Python on
//! payloads signed here, then the script run as a live receiver that our webhook client
//! posts to. All three signatures must verify; a flipped byte, a wrong secret and a
//! stale timestamp must not.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use facematch_server::webhooks::canonical::{canonical_json, round_floats};
use facematch_server::webhooks::outbound::{OutboundPolicy, Sender};
use facematch_server::webhooks::sign::{sign_payload, SignedRequest};
use facematch_testkit::http1;
use serde_json::{json, Value};

const SECRET: &str = "tno2NTeRC1ZK3sBOYlBJDyEzBVENl3pQ1AcZyAW0xnQ";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/didit_webhook_receiver.py")
}

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("seconds fit")
}

/// Payloads with everything that tends to break canonical forms.
fn payloads() -> Vec<Value> {
    vec![
        json!({"webhook_type": "status.updated", "session_id": "11111111-2222-3333-4444-555555555555",
               "status": "Approved", "vendor_data": "José", "event_id": "e-1",
               "metadata": {"city": "日本", "mood": "😀", "note": "line1\nline2\u{1f}",
                            "quote": "say \"hi\"", "path": "C:\\dir\\f", "z": [3, 1, 2],
                            "nested": {"b": {"d": 1, "c": [{"y": 2.5, "x": null}]}, "a": true}},
               "decision": {"face_matches": [{"score": 90.0, "similarity": 65.4321,
                                              "status": "Approved", "warnings": []}]}}),
        json!({"webhook_type": "status.updated", "session_id": "s-2", "status": "Declined",
               "decision": {"score": 12.345678, "tiny": 0.00001, "neg": -3.75, "big": 123456789.5}}),
        json!({"session_id": "s-3", "status": null}),
    ]
}

/// Non-integer numbers that must print the same in Rust and Python after rounding.
fn float_grid() -> Value {
    let mut values = Vec::new();
    for i in 1..400_i32 {
        let base = f64::from(i) / 7.0;
        for scale in [1e-5, 1e-4, 1e-3, 0.1, 1.0, 10.0, 1e3, 1e6, 1e9, 1e12] {
            values.push(json!(base * scale));
            values.push(json!(-base * scale));
        }
    }
    json!({"session_id": "floats", "status": "Approved", "webhook_type": "status.updated",
           "values": values})
}

/// Runs `code` in Python with the receiver script importable as `r`; returns stdout.
fn python(code: &str, stdin: &str) -> String {
    let prelude = format!(
        "import importlib.util, json, sys\n\
         spec = importlib.util.spec_from_file_location('r', {path:?})\n\
         r = importlib.util.module_from_spec(spec); spec.loader.exec_module(r)\n",
        path = script().display().to_string()
    );
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(format!("{prelude}{code}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the webhook receiver tests");
    {
        use std::io::Write as _;
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// The receiver's `verify` on each (secret, request, now): `[timestamp_ok, raw, v2, simple]`.
fn python_verify(cases: &[(&str, &SignedRequest, i64)]) -> Vec<[bool; 4]> {
    let input: Vec<Value> = cases
        .iter()
        .map(|(secret, req, now)| {
            let headers: serde_json::Map<String, Value> = req
                .headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(v.clone())))
                .collect();
            json!({"secret": secret, "body": req.body, "headers": headers, "now": now})
        })
        .collect();
    let out = python(
        "cases = json.load(sys.stdin)\n\
         res = []\n\
         for c in cases:\n\
         \x20   ok, v, _ = r.verify(c['secret'], c['body'].encode('utf-8'), c['headers'], now=c['now'])\n\
         \x20   res.append([ok, v['raw'], v['v2'], v['simple']])\n\
         print(json.dumps(res))\n",
        &serde_json::to_string(&input).expect("json"),
    );
    serde_json::from_str(&out).expect("a JSON list")
}

#[test]
fn all_three_signatures_verify_with_the_receiver_written_from_the_docs() {
    let ts = 1_760_000_000;
    let mut signed: Vec<SignedRequest> = payloads()
        .into_iter()
        .map(|p| sign_payload(SECRET, p, ts))
        .collect();
    signed.push(sign_payload(SECRET, float_grid(), ts));
    let cases: Vec<_> = signed.iter().map(|r| (SECRET, r, ts + 10)).collect();
    for (i, result) in python_verify(&cases).into_iter().enumerate() {
        assert_eq!(result, [true; 4], "payload {i}: {}", signed[i].body);
    }
    assert!(signed.iter().all(|r| r.body.is_ascii()));
}

#[test]
fn python_and_rust_print_the_rounded_floats_identically() {
    let mut grid = float_grid();
    round_floats(&mut grid);
    let ours = canonical_json(&grid);
    let theirs = python(
        "print(r.canonical_json(json.loads(sys.stdin.read())), end='')\n",
        &ours,
    );
    assert_eq!(theirs, ours);
}

#[test]
fn tampering_a_wrong_secret_and_a_stale_timestamp_fail() {
    let ts = 1_760_000_000;
    let good = sign_payload(SECRET, payloads().remove(0), ts);
    // One byte of the session id flipped: every signature breaks.
    let mut flipped = good.clone();
    flipped.body = flipped.body.replacen("11111111-", "11111112-", 1);
    assert_ne!(flipped.body, good.body);
    // A byte inside the metadata (not part of the Simple string).
    let mut flipped_meta = good.clone();
    flipped_meta.body = flipped_meta.body.replacen("line1", "line2", 1);
    let wrong_secret = sign_payload("another-secret", payloads().remove(0), ts);
    let results = python_verify(&[
        (SECRET, &good, ts + 300),
        (SECRET, &flipped, ts),
        (SECRET, &flipped_meta, ts),
        (SECRET, &wrong_secret, ts),
        (SECRET, &good, ts + 301),
        (SECRET, &good, ts - 301),
    ]);
    assert_eq!(
        results,
        vec![
            [true, true, true, true],
            [true, false, false, false],
            [true, false, false, true],
            [true, false, false, false],
            [false, true, true, true],
            [false, true, true, true],
        ]
    );
}

/// The receiver script, live, on a free loopback port.
struct Receiver {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl Receiver {
    fn start(extra: &[&str]) -> Receiver {
        let log = tempfile::NamedTempFile::new().expect("log file");
        let mut child = Command::new("python3")
            .arg(script())
            .args(["--port", "0", "--log"])
            .arg(log.path())
            .args(extra)
            .env("DIDIT_WEBHOOK_SECRET", SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed for the webhook receiver tests");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the receiver says where it listens");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Receiver { child, port, log }
    }

    fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log.path())
            .expect("log")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_live_receiver_accepts_our_client_and_refuses_forgeries() {
    let receiver = Receiver::start(&["--require-all"]);
    let url = format!("http://127.0.0.1:{}/webhooks/didit", receiver.port);
    let policy = OutboundPolicy {
        allow_http: true,
        allow_private: true,
    };
    let sender = Sender::new(policy, Duration::from_secs(5)).expect("client");
    let good = sign_payload(SECRET, payloads().remove(0), now());
    let out = sender.post(&url, &good).await;
    assert_eq!(
        (out.status, out.error.as_deref()),
        (Some(200), None),
        "{out:?}"
    );
    assert!(out.delivered());

    let forged = sign_payload("not-the-secret", payloads().remove(0), now());
    assert_eq!(sender.post(&url, &forged).await.status, Some(401));
    let stale = sign_payload(SECRET, payloads().remove(0), now() - 600);
    assert_eq!(sender.post(&url, &stale).await.status, Some(401));

    // The same bytes through the testkit's raw client, one byte flipped.
    let addr = ([127, 0, 0, 1], receiver.port).into();
    let headers: Vec<(&str, &str)> = good.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let tampered = good.body.replacen("Approved", "Approvee", 1);
    let answer = http1::send(
        addr,
        "POST",
        "/webhooks/didit",
        &headers,
        tampered.as_bytes(),
    )
    .await
    .expect("answer");
    assert_eq!(answer.status, 401);

    let log = receiver.log();
    let answered: Vec<i64> = log.iter().filter_map(|l| l["answered"].as_i64()).collect();
    assert_eq!(answered, vec![200, 401, 401, 401]);
    assert_eq!(
        log[0]["verified"],
        json!({"raw": true, "v2": true, "simple": true})
    );
    assert_eq!(log[0]["event_id"], "e-1");
    assert_eq!(log[0]["timestamp_ok"], true);
    assert_eq!(log[2]["timestamp_ok"], false);
}

#[tokio::test]
async fn the_receivers_testing_aids_fail_first_and_hang() {
    let receiver = Receiver::start(&["--fail-first", "1", "--hang-seconds", "2"]);
    let url = format!("http://127.0.0.1:{}/", receiver.port);
    let policy = OutboundPolicy {
        allow_http: true,
        allow_private: true,
    };
    let quick = Sender::new(policy, Duration::from_secs(1)).expect("client");
    let out = quick
        .post(
            &url,
            &sign_payload(SECRET, json!({"session_id": "h"}), now()),
        )
        .await;
    assert_eq!(out.error.as_deref(), Some("timed out after 1 s"));
    let patient = Sender::new(policy, Duration::from_secs(10)).expect("client");
    let out = patient
        .post(
            &url,
            &sign_payload(SECRET, json!({"session_id": "h"}), now()),
        )
        .await;
    assert_eq!(out.status, Some(200), "{out:?}");
}

/// The receivers written in JavaScript from Didit's docs compute V2 as
/// `JSON.stringify(sortKeys(shortenFloats(JSON.parse(raw))))`: ours must verify there too,
/// as must the raw-body and Simple signatures (Node's own HMAC and JSON, nothing of ours).
#[test]
fn all_three_signatures_verify_with_a_javascript_receiver() {
    const VERIFY_JS: &str = r#"
const crypto = require("crypto");
const shortenFloats = (v) => Array.isArray(v) ? v.map(shortenFloats)
  : (v && typeof v === "object") ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shortenFloats(x)]))
  : (typeof v === "number" && !Number.isInteger(v) && v % 1 === 0) ? Math.trunc(v) : v;
const sortKeys = (v) => Array.isArray(v) ? v.map(sortKeys)
  : (v && typeof v === "object") ? Object.keys(v).sort().reduce((o, k) => (o[k] = sortKeys(v[k]), o), {}) : v;
const hmac = (secret, s) => crypto.createHmac("sha256", secret).update(s, "utf8").digest("hex");
let input = "";
process.stdin.on("data", (d) => input += d);
process.stdin.on("end", () => {
  const out = JSON.parse(input).map(({ secret, body, headers }) => {
    const parsed = JSON.parse(body);
    const simple = `${headers["x-timestamp"]}:${parsed.session_id ?? ""}:${parsed.status ?? ""}:${parsed.webhook_type ?? ""}`;
    return [
      hmac(secret, body) === headers["x-signature"],
      hmac(secret, JSON.stringify(sortKeys(shortenFloats(parsed)))) === headers["x-signature-v2"],
      hmac(secret, simple) === headers["x-signature-simple"],
    ];
  });
  console.log(JSON.stringify(out));
});
"#;
    let mut cases = Vec::new();
    let mut all = payloads();
    all.push(float_grid());
    for payload in all {
        let signed = sign_payload(SECRET, payload, now());
        let headers: serde_json::Map<String, Value> = signed
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone())))
            .collect();
        cases.push(json!({"secret": SECRET, "body": signed.body, "headers": headers}));
    }
    // A wrong secret must fail all three there too (the check can fail).
    let forged = sign_payload("not-the-secret", payloads().remove(0), now());
    let headers: serde_json::Map<String, Value> = forged
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone())))
        .collect();
    cases.push(json!({"secret": SECRET, "body": forged.body, "headers": headers}));

    let mut child = Command::new("node")
        .args(["-e", VERIFY_JS])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (CI installs nodejs for the model fetcher)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(Value::Array(cases).to_string().as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("node ran");
    assert!(out.status.success(), "node failed");
    let results: Vec<[bool; 3]> = serde_json::from_slice(&out.stdout).expect("JSON from node");
    let (forged_result, genuine) = results.split_last().expect("results");
    for (i, r) in genuine.iter().enumerate() {
        assert_eq!(r, &[true, true, true], "payload {i}: raw, V2, Simple");
    }
    assert_eq!(forged_result, &[false, false, false]);
}
