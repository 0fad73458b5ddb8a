//! Server settings: every one a command-line flag of `facematch serve` and an
//! environment variable (`FACEMATCH_…`), documented in `--help`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

/// Total request body limit by default: two 5 MiB images plus the form fields and
/// multipart framing.
pub const DEFAULT_MAX_BODY_BYTES: usize = 12 * 1024 * 1024;

/// Settings of `facematch serve`.
#[derive(Clone, clap::Args)]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, env = "FACEMATCH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// SQLite database file (created with its tables on first start).
    #[arg(long, env = "FACEMATCH_DATABASE", default_value = "facematch.db")]
    pub database: PathBuf,

    /// Face matches computed at the same time (default: the number of CPU cores). Each
    /// worker has its own model sessions.
    #[arg(long, env = "FACEMATCH_WORKERS")]
    pub workers: Option<usize>,

    /// Face matches allowed to wait for a worker (default: 2 × workers); beyond that the
    /// server answers 429 with Retry-After instead of piling up memory.
    #[arg(long, env = "FACEMATCH_QUEUE")]
    pub queue: Option<usize>,

    /// Seconds a face match may take, upload included, before a 503.
    #[arg(long, env = "FACEMATCH_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Seconds a client may take to send a complete request head (request line and
    /// headers), counted from when the server starts waiting for it; beyond that the
    /// connection is closed without an answer. It also bounds how long an idle
    /// keep-alive connection is kept. Stops slow-header (slowloris) clients from holding
    /// connections forever; bodies are bounded by `--request-timeout-secs`.
    #[arg(long, env = "FACEMATCH_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Connections open at once; further clients wait in the kernel's accept queue
    /// until one closes. Bounds per-connection memory (a request head may buffer up to
    /// ~400 KiB before a 431, so 1024 connections ≤ ~400 MiB) and file descriptors;
    /// face matches themselves are bounded by the workers and `--queue`. Keep it below
    /// the process's open-file limit (`ulimit -n`).
    #[arg(long, env = "FACEMATCH_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Largest accepted request body in bytes (413 beyond); each image is also capped at
    /// 5 MiB.
    #[arg(long, env = "FACEMATCH_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Credits of the key created by a verified sign-up.
    #[arg(long, env = "FACEMATCH_SIGNUP_CREDITS", default_value_t = 100)]
    pub signup_credits: i64,

    /// Credits granted per dollar by `POST /v3/billing/top-up/`.
    #[arg(long, env = "FACEMATCH_CREDITS_PER_DOLLAR", default_value_t = 10)]
    pub credits_per_dollar: i64,

    /// Sign-up attempts allowed per client IP and hour (`/register/`); 429 beyond.
    #[arg(long, env = "FACEMATCH_REGISTER_PER_HOUR", default_value_t = 10)]
    pub register_per_hour: u32,

    /// Face matches allowed per API key and second, averaged (a token bucket; 0, the
    /// default, means no per-key limit). Beyond it the key gets 429 with Retry-After,
    /// before any credit is taken, so one client cannot keep every worker busy.
    #[arg(long, env = "FACEMATCH_RATE_PER_KEY", default_value_t = 0.0, value_parser = parse_rate)]
    pub rate_per_key: f64,

    /// Face matches one key may send at once (the bucket's size) before
    /// `--rate-per-key` applies.
    #[arg(long, env = "FACEMATCH_RATE_BURST_PER_KEY", default_value_t = 10)]
    pub rate_burst_per_key: u32,

    /// SMTP server for verification codes, e.g. `smtps://user:pass@smtp.example.com:465`
    /// (or `smtp://…?tls=required` for STARTTLS). Without it, codes are written to the
    /// server log.
    #[arg(long, env = "FACEMATCH_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SecretString>,

    /// Sender address of verification emails, e.g. `facematch <noreply@example.com>`.
    #[arg(long, env = "FACEMATCH_SMTP_FROM")]
    pub smtp_from: Option<String>,
}

impl ServerConfig {
    /// Workers to run: the setting, or the number of CPU cores.
    pub fn effective_workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }

    /// Queue length: the setting, or twice the workers.
    pub fn effective_queue(&self) -> usize {
        self.queue.unwrap_or(2 * self.effective_workers())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: PathBuf::from("facematch.db"),
            workers: None,
            queue: None,
            request_timeout_secs: 30,
            header_timeout_secs: 10,
            max_connections: 1024,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            signup_credits: 100,
            credits_per_dollar: 10,
            register_per_hour: 10,
            rate_per_key: 0.0,
            rate_burst_per_key: 10,
            smtp_url: None,
            smtp_from: None,
        }
    }
}

// Hand-written so that the SMTP password never reaches a log through `{:?}`.
impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("database", &self.database)
            .field("workers", &self.workers)
            .field("queue", &self.queue)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("signup_credits", &self.signup_credits)
            .field("credits_per_dollar", &self.credits_per_dollar)
            .field("register_per_hour", &self.register_per_hour)
            .field("rate_per_key", &self.rate_per_key)
            .field("rate_burst_per_key", &self.rate_burst_per_key)
            .field(
                "smtp_url",
                &self
                    .smtp_url
                    .as_ref()
                    .map(|u| redact_url(u.expose_secret())),
            )
            .field("smtp_from", &self.smtp_from)
            .finish()
    }
}

/// A rate in requests per second: a finite number ≥ 0 (clap would accept `NaN`, `inf`
/// and negative numbers as an `f64`, which would make the bucket meaningless).
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "{text:?} is not a rate (requests per second, a number ≥ 0)"
        )),
    }
}

/// `scheme://host:port` of a URL, without credentials, path or query.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_smtp_password() {
        let config = ServerConfig {
            smtp_url: Some(SecretString::from("smtps://me:hunter2@mail.test:465/?x=1")),
            ..ServerConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("smtps://mail.test:465"), "{shown}");
    }

    #[test]
    fn rates_are_finite_and_not_negative() {
        assert_eq!(parse_rate("2.5"), Ok(2.5));
        assert_eq!(parse_rate("0"), Ok(0.0));
        for bad in ["-1", "NaN", "inf", "", "fast"] {
            assert_eq!(
                parse_rate(bad),
                Err(format!(
                    "{bad:?} is not a rate (requests per second, a number ≥ 0)"
                )),
            );
        }
    }

    #[test]
    fn workers_and_queue_defaults() {
        let config = ServerConfig {
            workers: Some(3),
            ..ServerConfig::default()
        };
        assert_eq!(
            (config.effective_workers(), config.effective_queue()),
            (3, 6)
        );
        let zero = ServerConfig {
            workers: Some(0),
            queue: Some(0),
            ..ServerConfig::default()
        };
        assert_eq!((zero.effective_workers(), zero.effective_queue()), (1, 0));
    }
}
