//! A small, bounded HTTP load client for `POST /v3/face-match/`, loopback only.
//!
//! Sends the same pair of photos `--requests` times at each `--concurrency` level (one
//! keep-alive HTTP/1.1 connection per concurrent client) and prints requests/s, latency
//! percentiles and counts by status. Each level stops after its request count or its
//! time cap, whichever comes first.
//!
//! Its URL check and percentiles are `facematch_lab::loopback`'s (tested there), its
//! HTTP client and form builder the test kit's.
//!
//! ```text
//! cargo run --release -p facematch-lab --example load -- \
//!     --url http://127.0.0.1:8080 --key KEY --user a.jpg --ref b.jpg \
//!     --requests 200 --concurrency 1,2,4,8
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use facematch_lab::loopback::{parse_url, percentile_ms, Target};
use facematch_testkit::http1::{self, exchange, Conn};
use facematch_testkit::Form;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    about = "Bounded loopback load test of POST /v3/face-match/",
    args_override_self = true
)]
struct Args {
    /// Server base URL; the host must be loopback (127.0.0.0/8, localhost or [::1]).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key (`x-api-key`).
    #[arg(long, env = "FACEMATCH_KEY", hide_env_values = true)]
    key: String,
    /// Photo sent as `user_image`.
    #[arg(long)]
    user: PathBuf,
    /// Photo sent as `ref_image`.
    #[arg(long = "ref")]
    reference: PathBuf,
    /// Requests per concurrency level (at most 100000).
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Comma-separated concurrency levels (each at most 256).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8", action = clap::ArgAction::Set)]
    concurrency: Vec<usize>,
    /// Time cap per level in seconds: no request starts after it.
    #[arg(long, default_value_t = 120)]
    max_secs: u64,
    /// Timeout of one request in seconds (counted as an error).
    #[arg(long, default_value_t = 60)]
    request_timeout_secs: u64,
    /// Unmeasured requests sent before the first level (first-run model warm-up).
    #[arg(long, default_value_t = 4)]
    warmup: usize,
    /// Value of the `save_api_request` form field; left out (server default) if absent.
    #[arg(long)]
    save_api_request: Option<bool>,
    /// PID of the server (Linux): with it, each level also reports the CPU used by the
    /// server, by this client and by other processes, from /proc (other load distorts
    /// the numbers).
    #[arg(long)]
    server_pid: Option<u32>,
    /// After a 429, wait for its Retry-After (capped at 1 s) before that client's next
    /// request, as a well-behaved client would; without it, retry at once.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    honor_retry_after: bool,
}

/// What one request ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Status(u16),
    /// Connection refused/reset, malformed response or timeout.
    Error,
}

/// One finished request.
#[derive(Debug, Clone, Copy)]
struct Sample {
    outcome: Outcome,
    latency: Duration,
}

/// Settings shared by the clients of one level.
struct Shared {
    target: Target,
    request: Vec<u8>,
    issued: AtomicUsize,
    limit: usize,
    deadline: Instant,
    request_timeout: Duration,
    honor_retry_after: bool,
}

/// One client: a keep-alive connection sending requests until the level's count or
/// time cap is reached.
async fn client(shared: Arc<Shared>) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut conn: Option<Conn> = None;
    loop {
        if Instant::now() >= shared.deadline {
            break;
        }
        if shared.issued.fetch_add(1, Ordering::Relaxed) >= shared.limit {
            break;
        }
        let started = Instant::now();
        let attempt = async {
            let c = match conn.take() {
                Some(c) => c,
                None => http1::connect(shared.target.addr).await?,
            };
            let mut c = c;
            let r = exchange(&mut c, &shared.request).await?;
            Ok::<_, std::io::Error>((c, r))
        };
        let result = tokio::time::timeout(shared.request_timeout, attempt).await;
        let latency = started.elapsed();
        let mut pause = None;
        let outcome = match result {
            Ok(Ok((c, r))) => {
                if !r.close {
                    conn = Some(c);
                }
                if r.status == 429 && shared.honor_retry_after {
                    pause = Some(
                        Duration::from_secs(r.retry_after().unwrap_or(1))
                            .min(Duration::from_secs(1)),
                    );
                }
                if r.status != 200 && r.status != 429 {
                    let text = String::from_utf8_lossy(&r.body);
                    eprintln!(
                        "  HTTP {}: {}",
                        r.status,
                        text.chars().take(200).collect::<String>()
                    );
                }
                Outcome::Status(r.status)
            }
            Ok(Err(e)) => {
                eprintln!("  request error: {e}");
                Outcome::Error
            }
            Err(_) => {
                eprintln!("  request timed out after {:?}", shared.request_timeout);
                Outcome::Error
            }
        };
        samples.push(Sample { outcome, latency });
        if let Some(p) = pause {
            tokio::time::sleep(p).await;
        }
    }
    samples
}

/// CPU time counters from /proc, in clock ticks.
#[derive(Debug, Clone, Copy)]
struct CpuSnapshot {
    /// All CPUs, busy (not idle or iowait).
    machine: u64,
    /// This process (utime + stime).
    client: u64,
    /// The server (utime + stime), if its PID is known.
    server: Option<u64>,
}

/// utime + stime of a process from /proc/PID/stat.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

impl CpuSnapshot {
    fn take(server_pid: Option<u32>) -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
        let v: Vec<u64> = cpu
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        // user nice system idle iowait irq softirq steal
        let busy = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum();
        Some(Self {
            machine: busy,
            client: process_ticks("self")?,
            server: server_pid.and_then(|p| process_ticks(&p.to_string())),
        })
    }
}

/// CPU used during a level, in cores (CPU seconds per wall second).
#[derive(Debug, Clone, Copy)]
struct CpuUse {
    machine: f64,
    client: f64,
    server: Option<f64>,
}

impl CpuUse {
    fn between(a: CpuSnapshot, b: CpuSnapshot, wall: Duration) -> Self {
        // USER_HZ is 100 on Linux.
        let cores = |t: u64| t as f64 / 100.0 / wall.as_secs_f64().max(1e-9);
        Self {
            machine: cores(b.machine.saturating_sub(a.machine)),
            client: cores(b.client.saturating_sub(a.client)),
            server: match (a.server, b.server) {
                (Some(x), Some(y)) => Some(cores(y.saturating_sub(x))),
                _ => None,
            },
        }
    }

    /// Busy cores not used by the server or this client.
    fn other(&self) -> Option<f64> {
        self.server
            .map(|s| (self.machine - s - self.client).max(0.0))
    }
}

/// Results of one level.
struct LevelResult {
    concurrency: usize,
    wall: Duration,
    samples: Vec<Sample>,
    capped: bool,
    cpu: Option<CpuUse>,
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
}

impl LevelResult {
    fn counts(&self) -> BTreeMap<Outcome, usize> {
        let mut counts = BTreeMap::new();
        for s in &self.samples {
            *counts.entry(s.outcome).or_insert(0) += 1;
        }
        counts
    }

    fn count(&self, outcome: Outcome) -> usize {
        self.counts().get(&outcome).copied().unwrap_or(0)
    }

    fn count_5xx(&self) -> usize {
        self.samples
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Status(c) if c >= 500))
            .count()
    }

    /// Latencies of the 200s, sorted.
    fn ok_latencies(&self) -> Vec<Duration> {
        let mut v: Vec<Duration> = self
            .samples
            .iter()
            .filter(|s| s.outcome == Outcome::Status(200))
            .map(|s| s.latency)
            .collect();
        v.sort();
        v
    }

    /// Successful face matches per second.
    fn ok_per_sec(&self) -> f64 {
        self.count(Outcome::Status(200)) as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// All responses per second.
    fn all_per_sec(&self) -> f64 {
        self.samples.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    fn other(&self) -> usize {
        self.samples.len()
            - self.count(Outcome::Status(200))
            - self.count(Outcome::Status(429))
            - self.count(Outcome::Status(503))
    }

    /// The server's CPU time per 200 response, in ms (the 429s' small cost included): the
    /// figure that bounds throughput, and steadier than the rate on a machine whose other
    /// tenants come and go.
    fn server_cpu_ms_per_match(&self) -> Option<f64> {
        let ok = self.count(Outcome::Status(200));
        let server = self.cpu.and_then(|c| c.server)?;
        (ok > 0).then(|| server * self.wall.as_secs_f64() * 1000.0 / ok as f64)
    }

    fn print(&self) {
        let lat = self.ok_latencies();
        println!(
            "concurrency {:>3}: {} requests in {:.2} s{} -> {:.1} face matches/s (200s), \
             {:.1} responses/s",
            self.concurrency,
            self.samples.len(),
            self.wall.as_secs_f64(),
            if self.capped { " (time cap hit)" } else { "" },
            self.ok_per_sec(),
            self.all_per_sec(),
        );
        println!(
            "  latency of 200s (ms): p50 {}  p90 {}  p99 {}  max {}",
            fmt_ms(percentile_ms(&lat, 50.0)),
            fmt_ms(percentile_ms(&lat, 90.0)),
            fmt_ms(percentile_ms(&lat, 99.0)),
            fmt_ms(lat.last().map(|d| d.as_secs_f64() * 1000.0)),
        );
        let detail: Vec<String> = self
            .counts()
            .iter()
            .map(|(o, n)| match o {
                Outcome::Status(c) => format!("{c}: {n}"),
                Outcome::Error => format!("errors: {n}"),
            })
            .collect();
        println!("  statuses: {}", detail.join(", "));
        if let Some(cpu) = self.cpu {
            let fmt = |v: Option<f64>| v.map_or_else(|| "?".to_owned(), |v| format!("{v:.2}"));
            println!(
                "  CPU (cores): machine busy {:.2}, server {}, client {:.2}, other processes {}; \
                 server CPU per face match {} ms",
                cpu.machine,
                fmt(cpu.server),
                cpu.client,
                fmt(cpu.other()),
                self.server_cpu_ms_per_match()
                    .map_or_else(|| "?".to_owned(), |v| format!("{v:.1}")),
            );
        }
        let n5xx = self.count_5xx();
        if n5xx > 0 {
            println!("  !! {n5xx} responses were 5xx");
        }
    }
}

/// Runs one level: `concurrency` clients sharing `limit` requests.
async fn run_level(
    target: &Target,
    request: &[u8],
    args: &Args,
    concurrency: usize,
    limit: usize,
) -> LevelResult {
    let before = CpuSnapshot::take(args.server_pid);
    let started = Instant::now();
    let shared = Arc::new(Shared {
        target: target.clone(),
        request: request.to_vec(),
        issued: AtomicUsize::new(0),
        limit,
        deadline: started + Duration::from_secs(args.max_secs),
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        honor_retry_after: args.honor_retry_after,
    });
    let handles: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(client(shared.clone())))
        .collect();
    let mut samples = Vec::with_capacity(limit);
    for h in handles {
        match h.await {
            Ok(s) => samples.extend(s),
            Err(e) => eprintln!("  client task failed: {e}"),
        }
    }
    let wall = started.elapsed();
    let cpu = match (before, CpuSnapshot::take(args.server_pid)) {
        (Some(a), Some(b)) => Some(CpuUse::between(a, b, wall)),
        _ => None,
    };
    LevelResult {
        concurrency,
        wall,
        capped: samples.len() < limit,
        samples,
        cpu,
    }
}

fn validate(args: &Args) -> Result<Target, String> {
    let target = parse_url(&args.url)?;
    if args.requests == 0 || args.requests > 100_000 {
        return Err("--requests must be 1..=100000".into());
    }
    if args.concurrency.is_empty() || args.concurrency.iter().any(|&c| c == 0 || c > 256) {
        return Err("--concurrency levels must be 1..=256".into());
    }
    if args.max_secs == 0 || args.max_secs > 3600 {
        return Err("--max-secs must be 1..=3600".into());
    }
    if args.warmup > 100 {
        return Err("--warmup must be at most 100".into());
    }
    if args.key.contains(['\r', '\n']) {
        return Err("--key must not contain line breaks".into());
    }
    Ok(target)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let target = match validate(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let read =
        |p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let (user, reference) = match (read(&args.user), read(&args.reference)) {
        (Ok(u), Ok(r)) => (u, r),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut form = Form::images(&user, &reference);
    if let Some(save) = args.save_api_request {
        form = form.text("save_api_request", save.to_string());
    }
    let body = form.body();
    let request = http1::request(
        "POST",
        &target.path,
        &target.host_header,
        &[
            ("x-api-key", &args.key),
            ("Content-Type", &Form::content_type()),
        ],
        &body,
    );

    println!(
        "target {} ({}), body {} bytes (user {} B, ref {} B), save_api_request {}",
        target.path,
        target.addr,
        body.len(),
        user.len(),
        reference.len(),
        args.save_api_request
            .map_or_else(|| "default".to_owned(), |s| s.to_string()),
    );

    // One request first, to show what the server answers.
    let probe = async {
        let mut conn = http1::connect(target.addr).await?;
        exchange(&mut conn, &request).await
    };
    match tokio::time::timeout(Duration::from_secs(args.request_timeout_secs), probe).await {
        Ok(Ok(r)) => {
            let text = String::from_utf8_lossy(&r.body);
            println!(
                "probe: HTTP {} {}",
                r.status,
                text.chars().take(300).collect::<String>()
            );
        }
        Ok(Err(e)) => {
            eprintln!("error: cannot reach {}: {e}", target.addr);
            return ExitCode::FAILURE;
        }
        Err(_) => {
            eprintln!("error: the probe request timed out");
            return ExitCode::FAILURE;
        }
    }

    if args.warmup > 0 {
        let warm = run_level(&target, &request, &args, 1, args.warmup).await;
        let ok = warm.count(Outcome::Status(200));
        println!("warm-up: {ok}/{} ok", warm.samples.len());
        if ok == 0 {
            eprintln!(
                "error: no warm-up request succeeded; is the server ready and the key valid?"
            );
            return ExitCode::FAILURE;
        }
    }

    let mut results = Vec::new();
    for &c in &args.concurrency {
        let r = run_level(&target, &request, &args, c, args.requests).await;
        r.print();
        results.push(r);
    }

    println!();
    println!(
        "| concurrency | requests | face matches/s | p50 ms | p90 ms | p99 ms | 200 | 429 | 503 | other | 5xx | server CPU (cores) | server CPU ms per match | other processes' CPU (cores) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &results {
        let lat = r.ok_latencies();
        let cores = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        println!(
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.concurrency,
            r.samples.len(),
            r.ok_per_sec(),
            fmt_ms(percentile_ms(&lat, 50.0)),
            fmt_ms(percentile_ms(&lat, 90.0)),
            fmt_ms(percentile_ms(&lat, 99.0)),
            r.count(Outcome::Status(200)),
            r.count(Outcome::Status(429)),
            r.count(Outcome::Status(503)),
            r.other(),
            r.count_5xx(),
            cores(r.cpu.and_then(|c| c.server)),
            r.server_cpu_ms_per_match()
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.1}")),
            cores(r.cpu.and_then(|c| c.other())),
        );
    }
    let total_5xx: usize = results.iter().map(LevelResult::count_5xx).sum();
    let errors: usize = results.iter().map(|r| r.count(Outcome::Error)).sum();
    if total_5xx > 0 || errors > 0 {
        println!("{total_5xx} responses were 5xx, {errors} requests failed without a response");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
