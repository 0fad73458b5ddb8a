//! The deliverer: takes due deliveries from the outbox (`webhook_deliveries`, written in
//! the same transaction as the decision or its status change) and POSTs them, signed, to
//! their destinations, with retries on [`RetrySchedule`].
//!
//! How it keeps its promises:
//! - **Nothing lost.** A delivery is *claimed* before it is sent: the store moves its next
//!   try to `now + lease` (the send timeout + 30 s) in one transaction. If the process dies
//!   mid-send (`kill -9`), the delivery becomes due again when the lease ends and is sent
//!   again: at least once, with the same `event_id` for the receiver to de-duplicate.
//! - **Face matches never wait for a receiver.** The loop runs on its own task; each send
//!   runs on a task of its own, at most `--webhook-concurrency` at once (a semaphore); a
//!   slow or dead receiver holds only its own slots until the timeout, and the store's
//!   per-destination `backoff_until` keeps a failing destination from taking every slot.
//! - **Prompt.** Saving a decision or changing its status [`WebhookRuntime::wake`]s the loop;
//!   otherwise it polls every [`POLL_EVERY`] (retries coming due, events written by another
//!   process on the same database).
//! - **Shutdown.** [`Deliverer::stop`] stops claiming and gives the sends in flight up to
//!   the send timeout to finish; those still running are dropped, and their lease makes
//!   them due again after a restart.
//!
//! Logs name the delivery, event and destination ids, the answer's status and the time it
//! took, never the destination's secret, the signatures or the URL (which may carry a
//! receiver's token).

use std::sync::Arc;
use std::time::Duration;

use facematch_store::{
    AttemptOutcome, AttemptRecord, DueDelivery, ExposeSecret, Store, StoreError,
};
use prometheus::IntCounterVec;
use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::config::ServerConfig;
use crate::state::AppState;
use crate::webhooks::outbound::{check_url, OutboundError, OutboundPolicy, SendOutcome, Sender};
use crate::webhooks::payload::event_payload;
use crate::webhooks::schedule::RetrySchedule;
use crate::webhooks::sign::sign_payload;

/// How often the loop looks for due deliveries when nothing wakes it.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// Added to the send timeout to make a claim's lease: a claimed delivery whose send never
/// reported back (the process died) is due again this long after it was claimed.
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// How often the pending-deliveries gauge is refreshed.
const PENDING_GAUGE_EVERY: Duration = Duration::from_secs(5);

/// Why a send could not be made or recorded (a failed *try* is not an error: it is
/// recorded and retried).
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The store failed reading the secret or recording the try.
    #[error("the webhook store failed")]
    Store(#[from] StoreError),
    /// The destination was deleted after the delivery was claimed (its deliveries went
    /// with it).
    #[error("the webhook destination no longer exists")]
    NoDestination,
    /// A blocking store call died.
    #[error("a webhook store task failed")]
    Task(#[from] tokio::task::JoinError),
    /// The outbound HTTP client could not be built.
    #[error("the webhook HTTP client could not be built")]
    Client(#[from] OutboundError),
}

/// What became of one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryResult {
    /// A 2xx answer: the delivery is done.
    Delivered,
    /// Failed; tried again at the given time.
    Retry(OffsetDateTime),
    /// Failed, and the schedule is spent: the delivery is given up.
    GaveUp,
    /// A failed resend: logged, the delivery's own schedule unchanged.
    ResendFailed,
}

/// One try, as recorded.
#[derive(Debug, Clone)]
pub struct AttemptSummary {
    /// The attempt's id in the delivery log.
    pub attempt_id: String,
    /// The event's stable id.
    pub event_id: String,
    /// The delivery tried.
    pub delivery_id: String,
    /// The receiver's HTTP status, if it answered.
    pub response_status: Option<u16>,
    /// How long the try took, in milliseconds.
    pub response_time_ms: i64,
    /// Why it failed, when it did without an answer (timeout, refused address, …).
    pub error: Option<String>,
    /// What became of it.
    pub result: TryResult,
}

impl AttemptSummary {
    /// Whether the receiver answered 2xx.
    pub fn delivered(&self) -> bool {
        self.result == TryResult::Delivered
    }
}

/// The webhook settings and shared parts every send uses: held by [`AppState`]
/// ([`AppState::webhooks`]), or built by itself (the CLI's `webhooks test`).
pub struct WebhookRuntime {
    /// Which URLs may be reached (`--allow-http-webhooks`, `--allow-private-webhooks`).
    pub policy: OutboundPolicy,
    /// The outbound HTTP client.
    pub sender: Sender,
    /// When failed deliveries are tried again.
    pub schedule: RetrySchedule,
    /// Total time one try may take (`--webhook-timeout-secs`).
    pub timeout: Duration,
    /// Sends in flight at once (`--webhook-concurrency`).
    pub concurrency: usize,
    wake: Notify,
    attempts_total: Option<IntCounterVec>,
}

impl WebhookRuntime {
    /// A runtime with these settings (no metrics).
    pub fn new(
        policy: OutboundPolicy,
        timeout: Duration,
        schedule: RetrySchedule,
        concurrency: usize,
    ) -> Result<Self, DeliverError> {
        Ok(Self {
            policy,
            sender: Sender::new(policy, timeout)?,
            schedule,
            timeout,
            concurrency: concurrency.max(1),
            wake: Notify::new(),
            attempts_total: None,
        })
    }

    /// The runtime `config`'s webhook flags describe.
    pub fn from_config(config: &ServerConfig) -> Result<Self, DeliverError> {
        Self::new(
            OutboundPolicy {
                allow_http: config.allow_http_webhooks,
                allow_private: config.allow_private_webhooks,
            },
            Duration::from_secs(config.webhook_timeout_secs),
            config.webhook_retry_schedule.clone(),
            config.webhook_concurrency,
        )
    }

    /// Counts every try in `counter` (label `outcome`: `delivered`, `retry`, `gave_up`).
    pub fn with_attempt_counter(mut self, counter: IntCounterVec) -> Self {
        self.attempts_total = Some(counter);
        self
    }

    /// Tells the deliverer that an event may be waiting (a decision was saved or its
    /// status changed). Never blocks; several wakes before the loop looks are one.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// How long a claimed delivery stays invisible to other claims: the send timeout
    /// plus [`LEASE_MARGIN`].
    pub fn lease(&self) -> time::Duration {
        time::Duration::try_from(self.timeout + LEASE_MARGIN).unwrap_or(time::Duration::HOUR)
    }

    fn count(&self, result: TryResult) {
        if let Some(counter) = &self.attempts_total {
            let outcome = match result {
                TryResult::Delivered => "delivered",
                TryResult::GaveUp => "gave_up",
                TryResult::Retry(_) | TryResult::ResendFailed => "retry",
            };
            counter.with_label_values(&[outcome]).inc();
        }
    }
}

/// Sends `due` once, now, and records the try: the destination's secret, the payload
/// ([`event_payload`]) signed with the current time, the URL checked again against the
/// policy (a destination whose name now resolves to a refused address fails the try),
/// the POST, and the outcome from the schedule (`resend`: a manual resend, which never
/// changes the delivery's schedule). Store calls run on the blocking pool.
pub async fn send_once(
    store: &Store,
    rt: &WebhookRuntime,
    due: DueDelivery,
    resend: bool,
) -> Result<AttemptSummary, DeliverError> {
    let secret = {
        let store = store.clone();
        let id = due.destination_id.clone();
        tokio::task::spawn_blocking(move || store.destination_secret(&id)).await??
    }
    .ok_or(DeliverError::NoDestination)?;
    let payload = event_payload(&due);
    let now = OffsetDateTime::now_utc();
    let signed = sign_payload(secret.expose_secret(), payload, now.unix_timestamp());
    drop(secret);
    let outcome = match check_url(&due.url, rt.policy) {
        Ok(_) => rt.sender.post(&due.url, &signed).await,
        Err(refused) => SendOutcome {
            status: None,
            body: None,
            elapsed_ms: 0,
            error: Some(refused.to_string()),
        },
    };
    let done = OffsetDateTime::now_utc();
    let (result, store_outcome) = if outcome.delivered() {
        (TryResult::Delivered, AttemptOutcome::Delivered)
    } else {
        let next = rt
            .schedule
            .next(due.attempts.saturating_add(1))
            .and_then(|d| time::Duration::try_from(d).ok())
            .and_then(|d| done.checked_add(d));
        match (resend, next) {
            (true, _) => (
                TryResult::ResendFailed,
                // Ignored by the store for a resend: the schedule stays as it was.
                AttemptOutcome::RetryAt(done),
            ),
            (false, Some(at)) => (TryResult::Retry(at), AttemptOutcome::RetryAt(at)),
            (false, None) => (TryResult::GaveUp, AttemptOutcome::GiveUp),
        }
    };
    let headers: serde_json::Map<String, serde_json::Value> = signed
        .headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone().into()))
        .collect();
    let record = AttemptRecord {
        request_url: due.url.clone(),
        request_headers: serde_json::Value::Object(headers).to_string(),
        request_body: signed.body,
        response_status: outcome.status,
        response_body: outcome.body.clone(),
        response_time_ms: Some(outcome.elapsed_ms),
        error: outcome.error.clone(),
    };
    let attempt_id = {
        let store = store.clone();
        let delivery_id = due.delivery_id.clone();
        tokio::task::spawn_blocking(move || {
            store.record_attempt(&delivery_id, &record, store_outcome, resend, done)
        })
        .await??
    };
    rt.count(result);
    let summary = AttemptSummary {
        attempt_id,
        event_id: due.event_id,
        delivery_id: due.delivery_id,
        response_status: outcome.status,
        response_time_ms: outcome.elapsed_ms,
        error: outcome.error,
        result,
    };
    log_try(
        &summary,
        &due.destination_id,
        due.attempts.saturating_add(1),
    );
    Ok(summary)
}

fn log_try(s: &AttemptSummary, destination_id: &str, attempt: u32) {
    let status = s.response_status.map_or(-1, i64::from);
    match s.result {
        TryResult::Delivered => tracing::info!(
            delivery_id = %s.delivery_id, event_id = %s.event_id, destination_id,
            attempt, status, ms = s.response_time_ms, "webhook delivered"
        ),
        TryResult::Retry(at) => tracing::warn!(
            delivery_id = %s.delivery_id, event_id = %s.event_id, destination_id,
            attempt, status, ms = s.response_time_ms, error = s.error.as_deref().unwrap_or(""),
            next_try_unix = at.unix_timestamp(), "webhook try failed; will retry"
        ),
        TryResult::GaveUp => tracing::warn!(
            delivery_id = %s.delivery_id, event_id = %s.event_id, destination_id,
            attempt, status, ms = s.response_time_ms, error = s.error.as_deref().unwrap_or(""),
            "webhook try failed; retry schedule spent, delivery given up"
        ),
        TryResult::ResendFailed => tracing::warn!(
            delivery_id = %s.delivery_id, event_id = %s.event_id, destination_id,
            status, ms = s.response_time_ms, error = s.error.as_deref().unwrap_or(""),
            "webhook resend failed"
        ),
    }
}

/// The running deliverer; [`Deliverer::stop`] ends it.
pub struct Deliverer {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Deliverer {
    /// Starts the delivery loop for `state` on the current runtime.
    pub fn spawn(state: AppState) -> Self {
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(run(state, Arc::clone(&stop)));
        Self { stop, task }
    }

    /// Stops claiming, waits up to the send timeout for sends in flight, drops the rest
    /// (their lease makes them due again after a restart).
    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

async fn run(state: AppState, stop: Arc<Notify>) {
    let rt = state.webhooks();
    let slots = Arc::new(Semaphore::new(rt.concurrency));
    let mut sends = JoinSet::new();
    let mut gauge_at = tokio::time::Instant::now();
    loop {
        while sends.try_join_next().is_some() {}
        let free = slots.available_permits();
        let mut claimed_all = false;
        if free > 0 {
            let store = state.store().clone();
            let lease = rt.lease();
            let claim = tokio::task::spawn_blocking(move || {
                store.claim_due_deliveries(OffsetDateTime::now_utc(), lease, free)
            })
            .await;
            match claim {
                Ok(Ok(due)) => {
                    claimed_all = due.len() == free;
                    for due in due {
                        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                            break;
                        };
                        let state = state.clone();
                        sends.spawn(async move {
                            let _slot = permit;
                            let delivery_id = due.delivery_id.clone();
                            if let Err(e) =
                                send_once(state.store(), state.webhooks(), due, false).await
                            {
                                tracing::warn!(%delivery_id, error = %e, "webhook send not recorded; retried after its lease");
                            }
                        });
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
                Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
            }
        }
        if gauge_at.elapsed() >= PENDING_GAUGE_EVERY {
            gauge_at = tokio::time::Instant::now();
            let store = state.store().clone();
            if let Ok(Ok(n)) = tokio::task::spawn_blocking(move || store.pending_deliveries()).await
            {
                state.metrics().webhook_pending.set(n);
            }
        }
        if claimed_all && slots.available_permits() > 0 {
            // More may be due right now.
            continue;
        }
        tokio::select! {
            () = stop.notified() => break,
            () = rt.wake.notified() => {}
            () = tokio::time::sleep(POLL_EVERY) => {}
            Some(_) = sends.join_next(), if !sends.is_empty() => {}
        }
    }
    // Stop claiming; give the sends in flight their timeout, then drop them.
    let drain = async { while sends.join_next().await.is_some() {} };
    if tokio::time::timeout(rt.timeout + Duration::from_secs(1), drain)
        .await
        .is_err()
    {
        tracing::info!(
            left = sends.len(),
            "webhook sends still in flight at shutdown dropped; retried after their lease"
        );
        sends.abort_all();
    }
}
