//! Shared state of the server: the store, the pipeline (once loaded), the bounded
//! worker pool, metrics, the mailer and the sign-up rate limiter.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use facematch_core::Pipeline;
use facematch_imageio::DecodeLimits;
use facematch_store::Store;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::ServerConfig;
use crate::error::{ApiError, Fault};
use crate::key_in_flight::{InFlightSlot, KeyInFlight};
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::rate_headers::{self, RateHeaders};
use crate::ratelimit::{Clock, RateLimiter};
use crate::upload_budget::UploadBudget;
use crate::webhooks::deliver::WebhookRuntime;

/// Review writes one key may send at once before `--review-writes-per-minute` applies.
pub const REVIEW_WRITES_BURST: u32 = 10;

/// Session reads one key may make at once (`--session-reads-per-minute` is the average).
pub const SESSION_READS_BURST: u32 = 60;

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The metrics registry refused a metric (a bug).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The SMTP settings are unusable.
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    /// `--otp-secret` is not hex or base64 of at least 32 bytes (the message names no
    /// part of it).
    #[error("{0}")]
    OtpSecret(String),
    /// The webhook deliverer's HTTP client could not be built.
    #[error(transparent)]
    Webhooks(#[from] crate::webhooks::deliver::DeliverError),
}

/// Handle to the server's shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    pipeline: OnceLock<Pipeline>,
    config: ServerConfig,
    /// One permit per worker: at most this many face matches compute at once.
    workers: Arc<Semaphore>,
    /// Workers + queue permits: face matches admitted (running or waiting). When none is
    /// left the request is refused at once with 429 instead of waiting in memory.
    admission: Arc<Semaphore>,
    /// One permit per worker: sign-ups hashing a password (two Argon2id runs of 19 MiB
    /// each) at once. Without it, a flood from many addresses would run one hash per
    /// blocking thread (up to 512) and hold gigabytes.
    password_hashing: Arc<Semaphore>,
    metrics: Metrics,
    mailer: Mailer,
    register_limiter: RateLimiter,
    /// E-mail verification tries per client address (`verify_per_15min`).
    verify_limiter: RateLimiter,
    /// Console sign-in tries per client address (`console_sign_in_per_15min`).
    sign_in_limiter: RateLimiter,
    /// Face matches per key id; `None` when `rate_per_key` is 0 (no limit).
    key_limiter: Option<RateLimiter<String>>,
    /// Face matches in progress per key id (`max_in_flight_per_key`).
    key_in_flight: KeyInFlight,
    /// Review writes per key id; `None` when `review_writes_per_minute` is 0 (no limit).
    review_limiter: Option<RateLimiter<String>>,
    /// Session reads per key id; `None` when `session_reads_per_minute` is 0 (no limit).
    read_limiter: Option<RateLimiter<String>>,
    /// Pixel limits derived from `decode_memory_mib` / workers.
    decode_limits: DecodeLimits,
    /// Upload bytes held in memory by all requests (`upload_buffer_mib`).
    upload_budget: UploadBudget,
    /// The webhook settings, HTTP client and the deliverer's wake-up.
    webhooks: WebhookRuntime,
    /// The last readiness check of the database: when, and whether it answered.
    database_check: tokio::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

/// How long one readiness check of the database answers for every caller.
pub const DATABASE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl AppState {
    /// State for `config`, with the mailer its SMTP settings describe. The pipeline is
    /// not loaded yet: face matches answer 503 until [`AppState::set_pipeline`].
    pub fn new(config: ServerConfig, store: Store) -> Result<Self, StateError> {
        let mailer = Mailer::from_settings(config.smtp_url.as_ref(), config.smtp_from.as_deref())?;
        Self::with_mailer(config, store, mailer)
    }

    /// State with an explicit mailer (tests capture codes with [`Mailer::Memory`]).
    pub fn with_mailer(
        config: ServerConfig,
        store: Store,
        mailer: Mailer,
    ) -> Result<Self, StateError> {
        Self::with_clock(config, store, mailer, Clock::System)
    }

    /// State with an explicit mailer whose rate limiters read the time from `clock`
    /// (tests refill buckets with a [`crate::ratelimit::ManualClock`] instead of
    /// sleeping).
    pub fn with_clock(
        config: ServerConfig,
        store: Store,
        mailer: Mailer,
        clock: Clock,
    ) -> Result<Self, StateError> {
        let workers = config.effective_workers();
        let queue = config.effective_queue();
        let register_limiter =
            RateLimiter::new(config.register_per_hour, Duration::from_secs(3600))
                .with_clock(clock.clone());
        let verify_limiter = RateLimiter::new(config.verify_per_15min, Duration::from_secs(900))
            .with_clock(clock.clone());
        let sign_in_limiter =
            RateLimiter::new(config.console_sign_in_per_15min, Duration::from_secs(900))
                .with_clock(clock.clone());
        // The codes' HMAC key: the configured one, or the random one the store drew.
        let store = match &config.otp_secret {
            Some(text) => store.with_otp_secret(
                crate::config::parse_otp_secret(secrecy::ExposeSecret::expose_secret(text))
                    .map_err(StateError::OtpSecret)?,
            ),
            None => store,
        };
        let read_limiter = (config.session_reads_per_minute > 0).then(|| {
            RateLimiter::per_second(
                f64::from(config.session_reads_per_minute) / 60.0,
                SESSION_READS_BURST,
            )
            .with_clock(clock.clone())
        });
        let review_limiter = (config.review_writes_per_minute > 0).then(|| {
            RateLimiter::per_second(
                f64::from(config.review_writes_per_minute) / 60.0,
                REVIEW_WRITES_BURST,
            )
            .with_clock(clock.clone())
        });
        let metrics = Metrics::new()?;
        let webhooks = WebhookRuntime::from_config(&config)?
            .with_attempt_counter(metrics.webhook_attempts.clone());
        let upload_budget = UploadBudget::new(
            config.upload_buffer_mib,
            metrics.upload_buffer_bytes.clone(),
        );
        // Each worker decodes within its share of the decode memory budget.
        let per_worker = (config.decode_memory_mib as u64)
            .saturating_mul(1024 * 1024)
            .checked_div(workers as u64)
            .unwrap_or(0);
        let decode_limits = DecodeLimits::within_memory(per_worker);
        let key_limiter = (config.rate_per_key > 0.0).then(|| {
            RateLimiter::per_second(config.rate_per_key, config.rate_burst_per_key)
                .with_clock(clock)
        });
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                pipeline: OnceLock::new(),
                workers: Arc::new(Semaphore::new(workers)),
                admission: Arc::new(Semaphore::new(workers + queue)),
                password_hashing: Arc::new(Semaphore::new(workers)),
                metrics,
                mailer,
                register_limiter,
                verify_limiter,
                sign_in_limiter,
                key_limiter,
                key_in_flight: KeyInFlight::new(config.max_in_flight_per_key),
                review_limiter,
                read_limiter,
                decode_limits,
                upload_budget,
                webhooks,
                config,
                database_check: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// Whether the database answers (one trivial query). Checked at most once per
    /// [`DATABASE_CHECK_EVERY`], one check at a time, whatever the number of callers: the
    /// health routes are public, and a flood of them must not become a flood of database
    /// queries holding the connections that face matches need.
    pub async fn database_reachable(&self) -> bool {
        let mut last = self.inner.database_check.lock().await;
        if let Some((at, ok)) = *last {
            // A request that met an outage since the last good check makes it stale at once.
            let outage_since = ok && self.store().found_unreachable_at().is_some_and(|t| t > at);
            if at.elapsed() < DATABASE_CHECK_EVERY && !outage_since {
                return ok;
            }
        }
        self.inner.metrics.database_checks.inc();
        let store = self.store().clone();
        let ok = match tokio::task::spawn_blocking(move || store.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: the database is unreachable");
                false
            }
            Err(_) => false,
        };
        *last = Some((std::time::Instant::now(), ok));
        ok
    }

    /// Makes the server ready; `false` if a pipeline was already set (it is kept).
    /// It describes at most `max_faces` faces per image.
    pub fn set_pipeline(&self, pipeline: Pipeline) -> bool {
        let pipeline = pipeline.with_max_described_faces(self.inner.config.max_faces);
        self.inner.pipeline.set(pipeline).is_ok()
    }

    /// The pipeline, once loaded.
    pub fn pipeline(&self) -> Option<&Pipeline> {
        self.inner.pipeline.get()
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The webhook settings and client; [`WebhookRuntime::wake`] after writing an event.
    pub fn webhooks(&self) -> &WebhookRuntime {
        &self.inner.webhooks
    }

    /// Where verification codes go.
    pub fn mailer(&self) -> &Mailer {
        &self.inner.mailer
    }

    /// The sign-up rate limiter.
    pub fn register_limiter(&self) -> &RateLimiter {
        &self.inner.register_limiter
    }

    /// The e-mail verification rate limiter (per client address).
    pub fn verify_limiter(&self) -> &RateLimiter {
        &self.inner.verify_limiter
    }

    /// Console sign-in tries per client address.
    pub fn sign_in_limiter(&self) -> &RateLimiter {
        &self.inner.sign_in_limiter
    }

    /// Takes one face-match token for the key `key_id`: [`ApiError::RateLimited`] when
    /// its bucket is empty; always `Ok` when no per-key rate is configured.
    pub fn check_key_rate(&self, key_id: &str) -> Result<(), ApiError> {
        match &self.inner.key_limiter {
            None => Ok(()),
            Some(limiter) => take_noting(limiter, key_id),
        }
    }

    /// Takes one review-write token (`PATCH …/update-status/`, a delete) for the key `key_id`:
    /// [`ApiError::RateLimited`] when its bucket is empty; always `Ok` when
    /// `review_writes_per_minute` is 0.
    pub fn check_review_rate(&self, key_id: &str) -> Result<(), ApiError> {
        match &self.inner.review_limiter {
            None => Ok(()),
            Some(limiter) => take_noting(limiter, key_id),
        }
    }

    /// Takes one session-read token (`GET /v3/sessions/`, a decision) for the key
    /// `key_id`: [`ApiError::RateLimited`] when its bucket is empty; always `Ok` when
    /// `session_reads_per_minute` is 0.
    pub fn check_read_rate(&self, key_id: &str) -> Result<(), ApiError> {
        match &self.inner.read_limiter {
            None => Ok(()),
            Some(limiter) => take_noting(limiter, key_id),
        }
    }

    /// One more face match of the key `key_id` in progress, until the returned slot
    /// drops: [`ApiError::TooManyInFlight`] when it already has `max_in_flight_per_key`.
    pub fn enter_key_in_flight(&self, key_id: &str) -> Result<InFlightSlot, ApiError> {
        self.inner
            .key_in_flight
            .try_enter(key_id)
            .ok_or(ApiError::TooManyInFlight {
                limit: self.inner.config.max_in_flight_per_key,
            })
    }

    /// A permit to hash a password, taken without waiting: [`ApiError::Busy`] (429 with
    /// `Retry-After`) when every permit is held. Move it into the blocking call that
    /// hashes, so that it is held until the hashing really ends.
    pub fn password_hashing_permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.inner
            .password_hashing
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                self.metrics().rejected_busy.inc();
                ApiError::Busy
            })
    }

    /// The budget every buffered upload byte is taken from.
    pub fn upload_budget(&self) -> &UploadBudget {
        &self.inner.upload_budget
    }

    /// Limits applied when decoding uploads.
    pub fn decode_limits(&self) -> DecodeLimits {
        self.inner.decode_limits
    }

    /// Runs CPU-heavy `work` (decoding, inference) on the blocking pool, bounded: it is
    /// admitted only if a worker or a queue place is free (else [`ApiError::Busy`], a 429
    /// at once), then waits for a worker. Both permits move into the blocking task, so
    /// a request that times out or whose client goes away keeps its worker busy until
    /// the computation really ends: capacity is never over-committed. `work` runs inside
    /// the request's span, so the pipeline's stage spans nest under the request.
    pub async fn run_bounded<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let metrics = self.metrics().clone();
        let admitted = self
            .inner
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                metrics.rejected_busy.inc();
                ApiError::Busy
            })?;
        metrics.queued.inc();
        let queued_gauge = GaugeGuard(metrics.queued.clone());
        let worker = self
            .inner
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(Fault::from)?;
        in_request_span(move || {
            let _permits = (admitted, worker, queued_gauge);
            work()
        })
        .await
    }

    /// Runs a short synchronous store `call` on the blocking pool (SQLite does file I/O
    /// and waits on its mutex, which must not stall the async workers), inside the
    /// request's span. Its error becomes an [`ApiError`] through the `From` table in
    /// [`crate::error`]; a call whose refusals are the server's own fault maps them with
    /// [`Fault::Store`] first.
    pub async fn with_store<T, E, F>(&self, call: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
        F: FnOnce(&Store) -> Result<T, E> + Send + 'static,
    {
        let store = self.store().clone();
        in_request_span(move || call(&store))
            .await?
            .map_err(Into::into)
    }
}

/// Decrements a gauge when dropped (however the request ends).
pub(crate) struct GaugeGuard(pub(crate) prometheus::IntGauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Runs `f` on the blocking pool inside the caller's tracing span (a span does not
/// follow a task across `spawn_blocking` by itself).
async fn in_request_span<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let span = tracing::Span::current();
    let result = tokio::task::spawn_blocking(move || span.in_scope(f)).await?;
    Ok(result)
}

/// Takes a token of a per-key limiter and notes what is left for the answer's
/// `X-RateLimit-*` headers ([`crate::rate_headers`]), on success and on a 429 alike.
fn take_noting(limiter: &RateLimiter<String>, key_id: &str) -> Result<(), ApiError> {
    let limit = limiter.per_minute();
    match limiter.take_detailed(key_id.to_owned()) {
        Ok(grant) => {
            rate_headers::note(RateHeaders::now(limit, grant.remaining, grant.full_in));
            Ok(())
        }
        Err(denied) => {
            rate_headers::note(RateHeaders::now(limit, 0, denied.full_in));
            Err(ApiError::RateLimited {
                retry_after: denied.retry_after,
            })
        }
    }
}
