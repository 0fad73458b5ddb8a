//! Server settings: every one a command-line flag of `facematch serve` and an
//! environment variable (`FACEMATCH_…`), documented in `--help`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use facematch_store::{DatabaseLocation, Migrate, PostgresOptions};
use secrecy::{ExposeSecret, SecretString};

use crate::client_ip::ForwardedHeader;

mod parse;
#[cfg(test)]
mod tests;

pub use parse::parse_otp_secret;
use parse::{parse_origin, parse_positive, parse_proxy_range, parse_rate};

/// Total request body limit by default: two 5 MiB images plus the form fields and
/// multipart framing.
pub const DEFAULT_MAX_BODY_BYTES: usize = 12 * 1024 * 1024;

/// Settings of `facematch serve`.
#[derive(Clone, clap::Args)]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, env = "FACEMATCH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Where keys, credits, decisions and webhooks live: an SQLite file (the embedded
    /// default, created with its tables on first start) or a PostgreSQL URL
    /// (`postgres://user:password@host:5432/db`, `?sslmode=require` for TLS) shared by
    /// several replicas.
    #[arg(long, env = "FACEMATCH_DATABASE", default_value = "facematch.db")]
    pub database: DatabaseLocation,

    /// Apply pending schema migrations at start. Without it, a database whose schema is
    /// older than this build is refused (run `facematch db migrate` first); an empty one is
    /// always set up. A newer schema is always refused.
    #[arg(long, env = "FACEMATCH_MIGRATE")]
    pub migrate: bool,

    /// PostgreSQL: connections this replica opens at most.
    #[arg(long, env = "FACEMATCH_DATABASE_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_pool_size: u32,

    /// PostgreSQL: longest a statement may run before the server cancels it (ms); the
    /// request then fails with 503.
    #[arg(long, env = "FACEMATCH_DATABASE_STATEMENT_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub database_statement_timeout_ms: u64,

    /// PostgreSQL: longest a request waits for a connection, and a connection attempt
    /// may take (ms): with the database down, requests fail with 503 after this, not hang.
    #[arg(long, env = "FACEMATCH_DATABASE_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub database_timeout_ms: u64,

    /// PostgreSQL with `sslmode=require`: PEM file of the authorities that sign the
    /// server's certificate (default: the public web roots). The certificate is always
    /// verified, host name included.
    #[arg(long, env = "FACEMATCH_DATABASE_CA_FILE")]
    pub database_ca_file: Option<PathBuf>,

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

    /// MiB of upload bytes the whole server may hold in memory at once (default 256).
    /// Images are read before a worker admits the request, so without a shared bound
    /// clients that withhold the end of their body could hold ~10 MiB each ×
    /// `--max-connections`. Every image buffer is taken from this budget as it grows;
    /// when it is spent the request is refused at once with 429 `server_busy` and
    /// Retry-After (never queued), and the bytes return when the request ends. 256 MiB
    /// holds ~25 full two-image uploads, well above the workers + queue a machine runs;
    /// the use is the `facematch_upload_buffer_bytes` gauge.
    #[arg(long, env = "FACEMATCH_UPLOAD_BUFFER_MIB", default_value_t = 256, value_parser = parse_positive)]
    pub upload_buffer_mib: usize,

    /// Faces described (landmarks, age, gender) per image: the N largest (default 10).
    /// Further faces are still listed with their box and confidence but without `age`
    /// and `gender`, and a `TOO_MANY_FACES` warning (information, does not decline) says
    /// how many. Describing is the costly stage, so an image holding a grid of hundreds
    /// of faces would otherwise cost hundreds of model runs.
    #[arg(long, env = "FACEMATCH_MAX_FACES", default_value_t = facematch_core::DEFAULT_MAX_DESCRIBED_FACES, value_parser = parse_positive)]
    pub max_faces: usize,

    /// MiB of decoded-image memory all workers together may use (default 4096). Each
    /// worker gets `budget / workers`; an image is refused (400 `image_too_large`, from
    /// its header, before any pixel is decoded) when it has more than
    /// `min(50 MP, (budget / workers) / PEAK_BYTES_PER_PIXEL)` pixels, where
    /// `PEAK_BYTES_PER_PIXEL` (facematch-imageio, measured by its `decode_memory` test)
    /// is the worst case a worker holds per pixel, 20 B: the first image's RGB (3 B)
    /// while the second decodes (16-bit RGBA buffer and its EXIF-rotated copy, 16 B
    /// measured). 4096 MiB lets 8 workers take ~26 MP images each, above a 12 MP phone
    /// photo; with more workers or bigger photos, raise it to what the machine has.
    #[arg(long, env = "FACEMATCH_DECODE_MEMORY_MIB", default_value_t = 4096, value_parser = parse_positive)]
    pub decode_memory_mib: usize,

    /// Whether anyone may create an account by e-mail (`/register/`, `/verify-email/`):
    /// `open` or `closed`. Default `closed`: a self-hosted identity service (for a bank, a
    /// shop) is usually provisioned by its operator, who creates keys with `facematch keys
    /// create --credits N`; open sign-ups are an abuse path (every mailbox is an
    /// account). Closed, both routes answer 403 `signup_closed` and store nothing.
    #[arg(long, env = "FACEMATCH_SIGNUP", value_enum, default_value_t = SignupMode::Closed)]
    pub signup: SignupMode,

    /// Credits of the key created by a verified sign-up. Default 0: a sign-up proves
    /// only a mailbox, so it must not mint free face matches; the operator tops keys up
    /// (`facematch keys top-up`, `POST /v3/billing/top-up/`).
    #[arg(long, env = "FACEMATCH_SIGNUP_CREDITS", default_value_t = 0)]
    pub signup_credits: i64,

    /// Verification tries (`/verify-email/`) allowed per client address (IPv6: per /64)
    /// and 15 minutes, right or wrong, for any address; 429 with Retry-After beyond.
    /// Default 10. Each code also allows 5 wrong tries per client and 30 for all clients
    /// together; once these are spent only a new registration (with the same password)
    /// gives a working code.
    #[arg(long, env = "FACEMATCH_VERIFY_PER_15MIN", default_value_t = 10)]
    pub verify_per_15min: u32,

    /// Secret key of the e-mail codes' HMAC, at least 32 bytes, given as hex (64+ hex
    /// digits) or base64. Default: a random one drawn at start and kept in memory only,
    /// so codes pending at a restart stop working (register again). Replicas sharing a
    /// database must share one secret. Rotate by restarting with a new one: pending
    /// codes become invalid; verified accounts and keys are unaffected.
    #[arg(long, env = "FACEMATCH_OTP_SECRET", hide_env_values = true)]
    pub otp_secret: Option<SecretString>,

    /// Credits granted per dollar by `POST /v3/billing/top-up/`.
    #[arg(long, env = "FACEMATCH_CREDITS_PER_DOLLAR", default_value_t = 10)]
    pub credits_per_dollar: i64,

    /// Sign-up attempts allowed per client IP and hour (`/register/`); 429 beyond.
    #[arg(long, env = "FACEMATCH_REGISTER_PER_HOUR", default_value_t = 10)]
    pub register_per_hour: u32,

    /// Reverse proxies in front of the server, comma-separated CIDR ranges or single
    /// addresses (e.g. `127.0.0.1/32,10.0.0.0/8`). Default: none, and then the TCP peer
    /// is the client and forwarding headers are ignored (anyone can send them). When the
    /// peer is inside one of these ranges, the client is the right-most address of
    /// `--trusted-proxy-header` that is not itself a trusted proxy (a malformed header
    /// falls back to the peer). Per-address limits then apply per real client instead of
    /// one bucket for everyone behind the proxy. List only proxies that overwrite or
    /// append to that header.
    #[arg(long, env = "FACEMATCH_TRUSTED_PROXY", value_delimiter = ',', value_parser = parse_proxy_range)]
    pub trusted_proxy: Vec<ipnet::IpNet>,

    /// The forwarding header the `--trusted-proxy` proxies set: `x-forwarded-for` (the
    /// default: what nginx's `$proxy_add_x_forwarded_for`, Caddy and HAProxy set) or
    /// `forwarded` (RFC 7239 `for=`). Only this one is read: a proxy passes the other
    /// through from the client untouched, so reading both would let a client pick its
    /// own address.
    #[arg(long, env = "FACEMATCH_TRUSTED_PROXY_HEADER", value_enum, default_value_t = ForwardedHeader::XForwardedFor)]
    pub trusted_proxy_header: ForwardedHeader,

    /// Face matches allowed per API key and second, averaged (a token bucket; 0, the
    /// default, means no per-key limit). Beyond it the key gets 429 with Retry-After,
    /// before any credit is taken, so one client cannot keep every worker busy.
    #[arg(long, env = "FACEMATCH_RATE_PER_KEY", default_value_t = 0.0, value_parser = parse_rate)]
    pub rate_per_key: f64,

    /// Face matches one key may send at once (the bucket's size) before
    /// `--rate-per-key` applies.
    #[arg(long, env = "FACEMATCH_RATE_BURST_PER_KEY", default_value_t = 10)]
    pub rate_burst_per_key: u32,

    /// Face matches one API key may have in progress at once, counted from the moment the
    /// key is authenticated until the answer (so it also bounds one key's uploads in
    /// flight); beyond it, 429 `too_many_in_flight` with `Retry-After: 1`, before a credit
    /// is taken or the upload read. 0 means no limit. Default 4: a client sending one
    /// request at a time (every official client) never meets it, while one key cannot
    /// hold every worker and queue place of a shared server.
    #[arg(long, env = "FACEMATCH_MAX_IN_FLIGHT_PER_KEY", default_value_t = 4)]
    pub max_in_flight_per_key: usize,

    /// Review writes (`PATCH …/update-status/`, and deletes: `DELETE …/delete/`, `POST
    /// /v3/sessions/delete/`) allowed per API key and minute, averaged
    /// (a token bucket of 10 at once; 0 means no limit). Default 60: a person reviewing
    /// by hand never gets near it, while a script flooding decisions' histories gets 429
    /// with Retry-After before the store is touched (each write takes the database's
    /// write lock, which every authenticated request also needs).
    #[arg(long, env = "FACEMATCH_REVIEW_WRITES_PER_MINUTE", default_value_t = 60)]
    pub review_writes_per_minute: u32,

    /// Session reads (`GET /v3/sessions/`, `GET /v3/session/{id}/decision/`) allowed per API
    /// key and minute, averaged (a token bucket of 60 at once; 0 means no limit). Default
    /// 600, Didit's limit for reads: a listing with a search scans the key's decisions
    /// while holding the database, so one key must not be able to hold it without pause.
    #[arg(
        long,
        env = "FACEMATCH_SESSION_READS_PER_MINUTE",
        default_value_t = 600
    )]
    pub session_reads_per_minute: u32,

    /// Business Console: minutes without a request after which a signed-in session ends.
    #[arg(long, env = "FACEMATCH_CONSOLE_IDLE_MINUTES", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=10_080))]
    pub console_idle_minutes: u32,

    /// Business Console: hours after sign-in at which a session ends, however active.
    #[arg(long, env = "FACEMATCH_CONSOLE_SESSION_HOURS", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=720))]
    pub console_session_hours: u32,

    /// Business Console: sign-in attempts per client address per 15 minutes (per replica;
    /// each user's sign-in also locks for 15 minutes after 5 wrong passwords in a row, in
    /// the database). 0 means no per-address limit.
    #[arg(
        long,
        env = "FACEMATCH_CONSOLE_SIGN_IN_PER_15MIN",
        default_value_t = 30
    )]
    pub console_sign_in_per_15min: u32,

    /// Business Console: mark its cookies `Secure` although this server speaks plain HTTP
    /// (a TLS-terminating proxy in front). With `--tls-cert` they always are.
    #[arg(long, env = "FACEMATCH_CONSOLE_SECURE_COOKIE")]
    pub console_secure_cookie: bool,

    /// Days a saved decision (and its review history) is kept, counted from the face
    /// match; older ones are deleted by a background sweep (at start, then every 5
    /// minutes, 500 per transaction with a pause between, so requests are never held up).
    /// Default 0: keep forever, as Didit does by default ("unlimited"): deleting an
    /// operator's records is irreversible, so the window is the operator's choice (their
    /// data-protection duty), not a surprise of an upgrade. Clients can also delete a
    /// decision themselves (`DELETE /v3/session/{id}/delete/`). At most 36500.
    #[arg(long, env = "FACEMATCH_RETENTION_DAYS", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub retention_days: u32,

    /// SMTP server for verification codes, e.g. `smtps://user:pass@smtp.example.com:465`
    /// (or `smtp://…?tls=required` for STARTTLS). Without it, codes are written to the
    /// server log.
    #[arg(long, env = "FACEMATCH_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SecretString>,

    /// Sender address of verification emails, e.g. `facematch <noreply@example.com>`.
    #[arg(long, env = "FACEMATCH_SMTP_FROM")]
    pub smtp_from: Option<String>,

    /// PEM certificate chain to serve HTTPS with, together with `--tls-key` (both or
    /// neither; default: neither, plain HTTP). Both files are re-read on SIGHUP; a pair
    /// that does not load is logged and the previous one kept. With TLS every response
    /// carries `Strict-Transport-Security: max-age=31536000`.
    #[arg(long, env = "FACEMATCH_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "FACEMATCH_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve plain HTTP on an address that is not loopback. Off by default: API keys
    /// travel in headers, so without TLS the server listens on loopback only. Give it
    /// only behind a TLS-terminating reverse proxy (docs/deploy.md); a warning is
    /// printed at start.
    #[arg(long, env = "FACEMATCH_ALLOW_PLAIN_HTTP")]
    pub allow_plain_http: bool,

    /// Browser origins allowed to call the API cross-origin (CORS), comma-separated,
    /// e.g. `https://app.example.com`. Default: none, no CORS headers at all. `*` is
    /// refused: any web page could then use a key it got hold of (or one a user typed).
    /// Methods GET, POST, PATCH, DELETE; headers `x-api-key`, `content-type`; no
    /// credentials.
    #[arg(long, env = "FACEMATCH_CORS_ORIGIN", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origin: Vec<String>,

    /// Bearer token that `GET /metrics` requires (`Authorization: Bearer TOKEN`, compared
    /// in constant time; 401 otherwise). Default: none, and then `/metrics` answers only
    /// clients connected from a loopback address that came through no proxy (no
    /// `Forwarded`/`X-Forwarded-For` header).
    #[arg(long, env = "FACEMATCH_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<SecretString>,

    /// Accept `http://` webhook URLs. Off by default: webhooks carry decisions and
    /// their signatures, so destinations must be `https://` unless the operator says
    /// otherwise (tests and a receiver on the same trusted network).
    #[arg(long, env = "FACEMATCH_ALLOW_HTTP_WEBHOOKS")]
    pub allow_http_webhooks: bool,

    /// Send webhooks to private addresses. Off by default: a URL (or any address its
    /// name resolves to, checked again at connect time against DNS rebinding) that is
    /// loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (incl. the
    /// cloud metadata address 169.254.169.254), CGNAT, multicast, documentation or
    /// benchmarking ranges, or named `localhost`, is refused, so an API client cannot
    /// make the server reach its internal network. Give it only for a receiver inside
    /// that network (and in tests).
    #[arg(long, env = "FACEMATCH_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,

    /// Delays between tries of a webhook that failed (no 2xx answer: a 3xx, 4xx or 5xx,
    /// a timeout, a refused address, a connection error), a comma list of whole numbers
    /// with `ms`, `s`, `m` or `h` (at most 100 delays, each at most 7 days), each drawn
    /// with ±20 % jitter. Default `10s,30s,2m,10m,30m,1h,2h,4h,8h,8h`: 11 tries spread
    /// over about 24 hours, so a receiver down for a night still gets every event; after
    /// the last the delivery is given up (kept in the log, resendable).
    #[arg(long, env = "FACEMATCH_WEBHOOK_RETRY_SCHEDULE",
          default_value = crate::webhooks::schedule::DEFAULT_SCHEDULE)]
    pub webhook_retry_schedule: crate::webhooks::schedule::RetrySchedule,

    /// Seconds one webhook try may take in all (connect, send, answer) before it counts
    /// as failed and is retried. Default 10, as receivers are told to answer at once and
    /// work afterwards; 1 to 300.
    #[arg(long, env = "FACEMATCH_WEBHOOK_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub webhook_timeout_secs: u64,

    /// Webhook sends in flight at once, over all destinations. Default 8: enough that
    /// one slow receiver (holding a send for up to the timeout) leaves room for the
    /// others, few enough to stay a small part of the server's sockets and memory.
    /// Sends never run on the face-match workers.
    #[arg(long, env = "FACEMATCH_WEBHOOK_CONCURRENCY", default_value_t = 8, value_parser = parse_positive)]
    pub webhook_concurrency: usize,

    /// File holding the key that seals webhook destination secrets in the database
    /// (32 random bytes, or 64 hex digits). Default: `<database>.webhook-key` beside the
    /// database, created (mode 0600) on first start; a file readable by group or others,
    /// or of the wrong length, is refused. `facematch webhooks` must use the same file.
    /// Losing it makes the stored secrets unreadable (rotate each destination's secret).
    /// An in-memory database gets a random key per start.
    #[arg(long, env = "FACEMATCH_WEBHOOK_KEY_FILE")]
    pub webhook_key_file: Option<PathBuf>,

    /// Keep the two uploaded images of saved decisions for the Business Console's
    /// reviewers: `off` (the default: no image is ever stored), `in-review` (only decisions
    /// whose status is `In Review`) or `all` (every saved decision). Kept images are sealed
    /// with AES-256-GCM under `--review-images-key-file`, and deleted when the decision is
    /// reviewed, after `--review-images-ttl-hours`, or with the decision, whichever comes
    /// first.
    #[arg(long, env = "FACEMATCH_REVIEW_IMAGES", value_enum, default_value_t = ReviewImages::Off)]
    pub review_images: ReviewImages,

    /// The key sealing review images: a file of 32 random bytes or 64 hex digits, mode
    /// 0600 or narrower (e.g. `head -c 32 /dev/urandom > review.key; chmod 600 review.key`),
    /// never the webhook key. Required when `--review-images` is not `off`: the server
    /// refuses to start without it, with a file readable by group or others, or of the
    /// wrong length. Losing it makes the kept images unreadable (they expire anyway).
    #[arg(long, env = "FACEMATCH_REVIEW_IMAGES_KEY_FILE")]
    pub review_images_key_file: Option<PathBuf>,

    /// Hours a kept review image pair lives at most (default 72, at least 1); the
    /// background sweep deletes expired ones, and an expired pair is never served.
    #[arg(long, env = "FACEMATCH_REVIEW_IMAGES_TTL_HOURS", default_value_t = 72,
          value_parser = clap::value_parser!(u32).range(1..=8_760))]
    pub review_images_ttl_hours: u32,

    /// Tests only: the review images' lifetime in seconds, overriding
    /// `--review-images-ttl-hours` (the sweep then also runs that often).
    #[arg(long, hide = true, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub review_images_ttl_seconds: Option<u64>,
}

impl ServerConfig {
    /// The PostgreSQL pool settings of these flags.
    pub fn postgres_options(&self) -> PostgresOptions {
        PostgresOptions {
            pool_size: self.database_pool_size,
            statement_timeout: std::time::Duration::from_millis(self.database_statement_timeout_ms),
            acquire_timeout: std::time::Duration::from_millis(self.database_timeout_ms),
            connect_timeout: std::time::Duration::from_millis(self.database_timeout_ms),
            ca_file: self.database_ca_file.clone(),
        }
    }

    /// What opening the database does with an older schema (`--migrate`).
    pub fn migrate_policy(&self) -> Migrate {
        if self.migrate {
            Migrate::Apply
        } else {
            Migrate::IfEmpty
        }
    }

    /// Workers to run: the setting, or the number of CPU cores.
    pub fn effective_workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }

    /// How long kept review images live: `--review-images-ttl-seconds` when given, else
    /// `--review-images-ttl-hours`.
    pub fn review_images_ttl(&self) -> std::time::Duration {
        match self.review_images_ttl_seconds {
            Some(seconds) => std::time::Duration::from_secs(seconds.max(1)),
            None => std::time::Duration::from_secs(
                3600 * u64::from(self.review_images_ttl_hours.max(1)),
            ),
        }
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
            database: DatabaseLocation::Sqlite(PathBuf::from("facematch.db")),
            migrate: false,
            database_pool_size: 16,
            database_statement_timeout_ms: 5000,
            database_timeout_ms: 2000,
            database_ca_file: None,
            workers: None,
            queue: None,
            request_timeout_secs: 30,
            header_timeout_secs: 10,
            max_connections: 1024,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            upload_buffer_mib: 256,
            max_faces: facematch_core::DEFAULT_MAX_DESCRIBED_FACES,
            decode_memory_mib: 4096,
            signup: SignupMode::Closed,
            signup_credits: 0,
            verify_per_15min: 10,
            otp_secret: None,
            credits_per_dollar: 10,
            register_per_hour: 10,
            trusted_proxy: Vec::new(),
            trusted_proxy_header: ForwardedHeader::XForwardedFor,
            rate_per_key: 0.0,
            rate_burst_per_key: 10,
            max_in_flight_per_key: 4,
            review_writes_per_minute: 60,
            session_reads_per_minute: 600,
            console_idle_minutes: 60,
            console_session_hours: 12,
            console_sign_in_per_15min: 30,
            console_secure_cookie: false,
            retention_days: 0,
            smtp_url: None,
            smtp_from: None,
            tls_cert: None,
            tls_key: None,
            allow_plain_http: false,
            cors_origin: Vec::new(),
            metrics_token: None,
            allow_http_webhooks: false,
            allow_private_webhooks: false,
            webhook_retry_schedule: crate::webhooks::schedule::RetrySchedule::default(),
            webhook_timeout_secs: 10,
            webhook_concurrency: 8,
            webhook_key_file: None,
            review_images: ReviewImages::Off,
            review_images_key_file: None,
            review_images_ttl_hours: 72,
            review_images_ttl_seconds: None,
        }
    }
}

// Hand-written so that the SMTP password never reaches a log through `{:?}`.
impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("database", &self.database)
            .field("migrate", &self.migrate)
            .field("database_pool_size", &self.database_pool_size)
            .field("workers", &self.workers)
            .field("queue", &self.queue)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("upload_buffer_mib", &self.upload_buffer_mib)
            .field("max_faces", &self.max_faces)
            .field("decode_memory_mib", &self.decode_memory_mib)
            .field("signup", &self.signup)
            .field("signup_credits", &self.signup_credits)
            .field("verify_per_15min", &self.verify_per_15min)
            .field(
                "otp_secret",
                &self.otp_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("credits_per_dollar", &self.credits_per_dollar)
            .field("register_per_hour", &self.register_per_hour)
            .field("trusted_proxy", &self.trusted_proxy)
            .field("trusted_proxy_header", &self.trusted_proxy_header)
            .field("rate_per_key", &self.rate_per_key)
            .field("rate_burst_per_key", &self.rate_burst_per_key)
            .field("max_in_flight_per_key", &self.max_in_flight_per_key)
            .field("review_writes_per_minute", &self.review_writes_per_minute)
            .field("session_reads_per_minute", &self.session_reads_per_minute)
            .field("console_idle_minutes", &self.console_idle_minutes)
            .field("console_session_hours", &self.console_session_hours)
            .field("console_sign_in_per_15min", &self.console_sign_in_per_15min)
            .field("console_secure_cookie", &self.console_secure_cookie)
            .field("retention_days", &self.retention_days)
            .field(
                "smtp_url",
                &self
                    .smtp_url
                    .as_ref()
                    .map(|u| redact_url(u.expose_secret())),
            )
            .field("smtp_from", &self.smtp_from)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("allow_plain_http", &self.allow_plain_http)
            .field("cors_origin", &self.cors_origin)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "[redacted]"),
            )
            .field("allow_http_webhooks", &self.allow_http_webhooks)
            .field("allow_private_webhooks", &self.allow_private_webhooks)
            .field("webhook_retry_schedule", &self.webhook_retry_schedule)
            .field("webhook_timeout_secs", &self.webhook_timeout_secs)
            .field("webhook_concurrency", &self.webhook_concurrency)
            .field("webhook_key_file", &self.webhook_key_file)
            .field("review_images", &self.review_images)
            .field("review_images_key_file", &self.review_images_key_file)
            .field("review_images_ttl_hours", &self.review_images_ttl_hours)
            .field("review_images_ttl_seconds", &self.review_images_ttl_seconds)
            .finish()
    }
}

/// Whether e-mail sign-ups are accepted (`--signup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SignupMode {
    /// Anyone may register an e-mail address and get a key.
    Open,
    /// Only the operator creates keys; the sign-up routes answer 403.
    Closed,
}

/// Which saved decisions keep their two uploaded images for the console
/// (`--review-images`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReviewImages {
    /// None: no image is ever stored (the default).
    #[default]
    Off,
    /// Only decisions saved with status `In Review`.
    InReview,
    /// Every saved decision.
    All,
}

impl ReviewImages {
    /// Whether a decision saved with `status` keeps its images.
    pub fn keeps(self, status: facematch_core::Status) -> bool {
        match self {
            ReviewImages::Off => false,
            ReviewImages::InReview => status == facematch_core::Status::InReview,
            ReviewImages::All => true,
        }
    }
}

/// `scheme://host:port` of a URL, without credentials, path or query.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}
