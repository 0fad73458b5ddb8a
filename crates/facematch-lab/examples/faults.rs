//! Overload and fault client for `scripts/overload.sh`, loopback only.
//!
//! `faults load` offers `POST /v3/face-match/` at a fixed rate (open loop: a request
//! starts every 1/rate s whether or not earlier ones have finished, so a slow server
//! cannot slow the offered load down), for a bounded time, and classifies every request:
//!
//! * an HTTP status (200, 429, 503, …);
//! * `refused`: the TCP connect failed — the server never accepted it (it is down or
//!   its listener is closed);
//! * `retried`: a reused keep-alive connection was closed by the server before any
//!   byte of an answer (the server closes idle connections on shutdown and at the
//!   header timeout; it had not read the request). Like HTTP client libraries, the
//!   request is then sent once more on a new connection and counted by that outcome;
//! * `dropped`: the connection was accepted and the request sent, but no complete
//!   answer came back (reset, EOF or timeout) — what must not happen on SIGTERM.
//!
//! With `--record-ids FILE` it writes the `request_id` of every 200 to FILE, one a
//! line; `faults verify --ids FILE` then reads each back with
//! `GET /v3/session/{id}/decision/`.
//!
//! The last line of each command is `SUMMARY key=value …` for scripts.
//!
//! Built and run by `scripts/overload.sh` (`cargo build --release -p facematch-lab
//! --example faults`); its address checks and percentiles are `facematch_lab::loopback`'s
//! (tested there), its HTTP client and form builder the test kit's.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use facematch_lab::loopback::{loopback, plausible_id};
use facematch_testkit::http1::{self, read_response, Conn, Response};
use facematch_testkit::Form;
use futures_util::FutureExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Bounded loopback overload and fault client for facematch")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Offer face matches at a fixed rate for a bounded time.
    Load(LoadArgs),
    /// Read back saved decisions by request_id.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// Server address; must be loopback (127.0.0.0/8 or ::1).
    #[arg(long)]
    addr: SocketAddr,
    /// API key (`x-api-key`).
    #[arg(long, env = "FACEMATCH_KEY", hide_env_values = true)]
    key: String,
    /// Photo sent as `user_image`.
    #[arg(long)]
    user: PathBuf,
    /// Photo sent as `ref_image`.
    #[arg(long = "ref")]
    reference: PathBuf,
    /// Requests started per second (1..=1000).
    #[arg(long, default_value_t = 60.0)]
    rate: f64,
    /// Seconds to offer load (1..=600); no request starts after it.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Requests in flight at most; a request due beyond it is counted as `skipped`.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Seconds one request may take before it counts as dropped.
    #[arg(long, default_value_t = 60)]
    request_timeout_secs: u64,
    /// Value of the `save_api_request` form field (left out if absent).
    #[arg(long)]
    save_api_request: Option<bool>,
    /// Write the request_id of every 200 to this file, one a line.
    #[arg(long)]
    record_ids: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// Server address; must be loopback (127.0.0.0/8 or ::1).
    #[arg(long)]
    addr: SocketAddr,
    /// API key that made the requests.
    #[arg(long, env = "FACEMATCH_KEY", hide_env_values = true)]
    key: String,
    /// File of request_ids, one a line (at most 1,000,000).
    #[arg(long)]
    ids: PathBuf,
}

/// How sending on one connection ended.
enum Attempt {
    Answered(Conn, Response),
    /// Closed (EOF, reset or a failed write) before any byte of an answer.
    ClosedBeforeAnswer,
    /// Failed after some bytes of an answer, or a malformed answer.
    Broken(std::io::Error),
}

/// Sends `request` on `conn` and reads one answer.
async fn attempt(mut conn: Conn, request: &[u8]) -> Attempt {
    // The server may answer (and close) before reading the whole body: still read.
    let written = conn.get_mut().write_all(request).await;
    match conn.fill_buf().await {
        Ok([]) | Err(_) => return Attempt::ClosedBeforeAnswer,
        Ok(_) => {}
    }
    match read_response(&mut conn).await {
        Ok(r) => Attempt::Answered(conn, r),
        Err(e) => Attempt::Broken(written.err().unwrap_or(e)),
    }
}

/// What one request ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Status(u16),
    Refused,
    Dropped,
    Skipped,
}

/// Idle keep-alive connections, reused by later requests.
#[derive(Default)]
struct Pool(Mutex<Vec<Conn>>);

impl Pool {
    /// An idle connection the server has not closed meanwhile (a pending read means
    /// nothing to read and no EOF); `None` if there is none.
    fn take(&self) -> Option<Conn> {
        loop {
            let mut conn = self.0.lock().ok()?.pop()?;
            if conn.fill_buf().now_or_never().is_none() {
                return Some(conn);
            }
            // EOF, an error or unexpected bytes: not reusable.
        }
    }

    fn put(&self, conn: Conn) {
        if let Ok(mut idle) = self.0.lock() {
            idle.push(conn);
        }
    }
}

/// One finished request.
struct Sample {
    outcome: Outcome,
    latency: Duration,
    retried: bool,
    request_id: Option<String>,
}

/// Sends one request: on a pooled connection if there is one (once more on a new
/// connection if the server had closed it before answering), else on a new one.
async fn one_request(
    addr: SocketAddr,
    pool: &Pool,
    request: &[u8],
) -> (Outcome, bool, Option<Response>) {
    let mut retried = false;
    if let Some(conn) = pool.take() {
        match attempt(conn, request).await {
            Attempt::Answered(conn, r) => return finish(pool, conn, r, false),
            Attempt::ClosedBeforeAnswer => retried = true,
            Attempt::Broken(e) => {
                eprintln!("  dropped (reused connection): {e}");
                return (Outcome::Dropped, false, None);
            }
        }
    }
    let Ok(conn) = http1::connect(addr).await else {
        return (Outcome::Refused, retried, None);
    };
    match attempt(conn, request).await {
        Attempt::Answered(conn, r) => finish(pool, conn, r, retried),
        Attempt::ClosedBeforeAnswer => {
            eprintln!("  dropped: accepted, closed before any answer");
            (Outcome::Dropped, retried, None)
        }
        Attempt::Broken(e) => {
            eprintln!("  dropped: {e}");
            (Outcome::Dropped, retried, None)
        }
    }
}

fn finish(
    pool: &Pool,
    conn: Conn,
    r: Response,
    retried: bool,
) -> (Outcome, bool, Option<Response>) {
    if !r.close {
        pool.put(conn);
    }
    (Outcome::Status(r.status), retried, Some(r))
}

/// Nearest-rank percentile of sorted durations, in milliseconds (NaN when empty).
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    facematch_lab::loopback::percentile_ms(sorted, p).unwrap_or(f64::NAN)
}

async fn load(args: LoadArgs) -> Result<ExitCode, String> {
    let addr = loopback(args.addr)?;
    if !(args.rate >= 1.0 && args.rate <= 1000.0) {
        return Err("--rate must be 1..=1000".into());
    }
    if !(1..=600).contains(&args.duration) {
        return Err("--duration must be 1..=600".into());
    }
    if !(1..=4096).contains(&args.max_in_flight) {
        return Err("--max-in-flight must be 1..=4096".into());
    }
    if args.key.contains(['\r', '\n']) {
        return Err("--key must not contain line breaks".into());
    }
    let read =
        |p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let mut form = Form::images(&read(&args.user)?, &read(&args.reference)?);
    if let Some(save) = args.save_api_request {
        form = form.text("save_api_request", save.to_string());
    }
    let body = form.body();
    let request = http1::request(
        "POST",
        "/v3/face-match/",
        &addr.to_string(),
        &[
            ("x-api-key", &args.key),
            ("Content-Type", &Form::content_type()),
        ],
        &body,
    );
    let request: Arc<[u8]> = request.into();
    let mut ids_file = match &args.record_ids {
        Some(p) => Some(
            std::fs::File::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?,
        ),
        None => None,
    };

    let pool = Arc::new(Pool::default());
    let in_flight = Arc::new(tokio::sync::Semaphore::new(args.max_in_flight));
    let timeout = Duration::from_secs(args.request_timeout_secs.max(1));
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let total = (args.rate * args.duration as f64).round() as usize;
    let started = tokio::time::Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Sample>();
    println!(
        "offering {} req/s for {} s ({total} requests) to {addr}, body {} bytes, save_api_request {:?}",
        args.rate,
        args.duration,
        body.len(),
        args.save_api_request
    );
    for i in 0..total {
        // Open loop: request i starts at i × period, not when request i-1 ends.
        let due = started + period.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            let _ = tx.send(Sample {
                outcome: Outcome::Skipped,
                latency: Duration::ZERO,
                retried: false,
                request_id: None,
            });
            continue;
        };
        let (pool, request, tx) = (pool.clone(), request.clone(), tx.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let begun = Instant::now();
            let (outcome, retried, response) =
                match tokio::time::timeout(timeout, one_request(addr, &pool, &request)).await {
                    Ok(r) => r,
                    Err(_) => {
                        eprintln!("  dropped: no answer within {timeout:?}");
                        (Outcome::Dropped, false, None)
                    }
                };
            let request_id = response
                .filter(|r| r.status == 200)
                .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
                .and_then(|v| v.get("request_id")?.as_str().map(str::to_owned));
            let _ = tx.send(Sample {
                outcome,
                latency: begun.elapsed(),
                retried,
                request_id,
            });
        });
    }
    drop(tx);
    let mut samples = Vec::with_capacity(total);
    while let Some(s) = rx.recv().await {
        samples.push(s);
    }
    let wall = started.elapsed();

    let mut counts: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut ok_latencies = Vec::new();
    let mut saved = 0_usize;
    for s in &samples {
        *counts.entry(s.outcome).or_default() += 1;
        if s.outcome == Outcome::Status(200) {
            ok_latencies.push(s.latency);
            if let (Some(f), Some(id)) = (ids_file.as_mut(), &s.request_id) {
                writeln!(f, "{id}").map_err(|e| format!("cannot write the ids: {e}"))?;
                saved += 1;
            }
        }
    }
    ok_latencies.sort();
    let n = |o: Outcome| counts.get(&o).copied().unwrap_or(0);
    let other_status: usize = counts
        .iter()
        .filter(|(o, _)| matches!(o, Outcome::Status(c) if ![200, 429, 503].contains(c)))
        .map(|(_, n)| n)
        .sum();
    let retried = samples.iter().filter(|s| s.retried).count();
    let detail: Vec<String> = counts.iter().map(|(o, n)| format!("{o:?}: {n}")).collect();
    println!(
        "finished {} requests in {:.1} s: {}",
        samples.len(),
        wall.as_secs_f64(),
        detail.join(", ")
    );
    println!(
        "200 latency (ms): p50 {:.0}  p90 {:.0}  p99 {:.0}  max {:.0}; {:.1} face matches/s",
        percentile_ms(&ok_latencies, 50.0),
        percentile_ms(&ok_latencies, 90.0),
        percentile_ms(&ok_latencies, 99.0),
        percentile_ms(&ok_latencies, 100.0),
        n(Outcome::Status(200)) as f64 / wall.as_secs_f64().max(1e-9),
    );
    println!(
        "SUMMARY sent={} ok={} s429={} s503={} other_status={other_status} refused={} \
         retried={retried} dropped={} skipped={} ids={saved} p50_ms={:.0} p99_ms={:.0} max_ms={:.0} wall_s={:.1}",
        samples.len(),
        n(Outcome::Status(200)),
        n(Outcome::Status(429)),
        n(Outcome::Status(503)),
        n(Outcome::Refused),
        n(Outcome::Dropped),
        n(Outcome::Skipped),
        percentile_ms(&ok_latencies, 50.0),
        percentile_ms(&ok_latencies, 99.0),
        percentile_ms(&ok_latencies, 100.0),
        wall.as_secs_f64(),
    );
    Ok(ExitCode::SUCCESS)
}

async fn verify(args: VerifyArgs) -> Result<ExitCode, String> {
    let addr = loopback(args.addr)?;
    if args.key.contains(['\r', '\n']) {
        return Err("--key must not contain line breaks".into());
    }
    let text = std::fs::read_to_string(&args.ids)
        .map_err(|e| format!("cannot read {}: {e}", args.ids.display()))?;
    let ids: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if ids.len() > 1_000_000 {
        return Err("too many ids".into());
    }
    let pool = Pool::default();
    let (mut found, mut missing) = (0_usize, 0_usize);
    for id in &ids {
        if !plausible_id(id) {
            return Err(format!("{id:?} is not a request_id"));
        }
        let request = http1::request(
            "GET",
            &format!("/v3/session/{id}/decision/"),
            &addr.to_string(),
            &[("x-api-key", &args.key)],
            b"",
        );
        let (outcome, _, response) =
            tokio::time::timeout(Duration::from_secs(30), one_request(addr, &pool, &request))
                .await
                .map_err(|_| format!("GET decision {id}: no answer within 30 s"))?;
        let same = response
            .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
            .is_some_and(|v| v.get("session_id").and_then(|x| x.as_str()) == Some(id));
        if outcome == Outcome::Status(200) && same {
            found += 1;
        } else {
            missing += 1;
            eprintln!("  {id}: {outcome:?}");
        }
    }
    println!(
        "SUMMARY acknowledged={} retrievable={found} lost={missing}",
        ids.len()
    );
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Load(args) => load(args).await,
        Command::Verify(args) => verify(args).await,
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}
