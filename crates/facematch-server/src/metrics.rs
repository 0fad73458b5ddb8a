//! Prometheus metrics, one registry per [`crate::AppState`] (not the global one, so
//! that apps built side by side in tests do not mix their counters).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The server's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by matched route, method and status.
    pub requests: IntCounterVec,
    /// Whole-request latency by matched route.
    pub request_seconds: HistogramVec,
    /// Latency of each pipeline stage (`decode`, `analyze`, `compare`).
    pub stage_seconds: HistogramVec,
    /// Faces detected, summed over both images of each face match.
    pub faces_detected: IntCounter,
    /// Face-match decisions by status.
    pub decisions: IntCounterVec,
    /// Requests being handled right now.
    pub in_flight: IntGauge,
    /// Face matches admitted (running or waiting for a worker).
    pub queued: IntGauge,
    /// Face matches refused with 429 because the queue was full.
    pub rejected_busy: IntCounter,
    /// Upload bytes held in memory right now (of `--upload-buffer-mib`).
    pub upload_buffer_bytes: IntGauge,
    /// Face matches whose pipeline stopped early because the request was abandoned
    /// (client gone, deadline passed).
    pub cancelled: IntCounter,
    /// Webhook tries by outcome: `delivered` (2xx), `retry` (failed, tried again; a
    /// failed resend too), `gave_up` (failed, retry schedule spent).
    pub webhook_attempts: IntCounterVec,
    /// Webhook deliveries waiting to be delivered (refreshed every few seconds).
    pub webhook_pending: IntGauge,
    /// Readiness checks that queried the database (at most about one a second, however
    /// often the public health routes are called).
    pub database_checks: IntCounter,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("facematch".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                .buckets(latency_buckets()),
            &["route"],
        )?;
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new(
                "pipeline_stage_duration_seconds",
                "Latency of each pipeline stage (decode, analyze, compare)",
            )
            .buckets(latency_buckets()),
            &["stage"],
        )?;
        let faces_detected = IntCounter::new("faces_detected_total", "Faces detected")?;
        let decisions = IntCounterVec::new(
            Opts::new(
                "face_match_decisions_total",
                "Face-match decisions by status",
            ),
            &["status"],
        )?;
        let in_flight = IntGauge::new("http_requests_in_flight", "Requests being handled")?;
        let queued = IntGauge::new(
            "face_match_admitted",
            "Face matches running or waiting for a worker",
        )?;
        let rejected_busy = IntCounter::new(
            "face_match_rejected_busy_total",
            "Face matches refused with 429 (queue full)",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_seconds.clone()))?;
        registry.register(Box::new(stage_seconds.clone()))?;
        registry.register(Box::new(faces_detected.clone()))?;
        registry.register(Box::new(decisions.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(queued.clone()))?;
        let cancelled = IntCounter::new(
            "face_match_cancelled_total",
            "Face matches whose pipeline stopped early: client gone or deadline passed",
        )?;
        registry.register(Box::new(rejected_busy.clone()))?;
        let upload_buffer_bytes = IntGauge::new(
            "upload_buffer_bytes",
            "Upload bytes held in memory (of the --upload-buffer-mib budget)",
        )?;
        registry.register(Box::new(upload_buffer_bytes.clone()))?;
        registry.register(Box::new(cancelled.clone()))?;
        let webhook_attempts = IntCounterVec::new(
            Opts::new(
                "webhook_attempts_total",
                "Webhook tries by outcome (delivered, retry, gave_up)",
            ),
            &["outcome"],
        )?;
        let webhook_pending = IntGauge::new(
            "webhook_deliveries_pending",
            "Webhook deliveries waiting to be delivered",
        )?;
        registry.register(Box::new(webhook_attempts.clone()))?;
        registry.register(Box::new(webhook_pending.clone()))?;
        let database_checks = IntCounter::new(
            "database_checks_total",
            "Readiness checks that queried the database",
        )?;
        registry.register(Box::new(database_checks.clone()))?;
        Ok(Self {
            registry,
            requests,
            request_seconds,
            stage_seconds,
            faces_detected,
            decisions,
            in_flight,
            queued,
            rejected_busy,
            upload_buffer_bytes,
            cancelled,
            webhook_attempts,
            webhook_pending,
            database_checks,
        })
    }

    /// Records one stage's duration.
    pub fn observe_stage(&self, stage: &str, seconds: f64) {
        self.stage_seconds
            .with_label_values(&[stage])
            .observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

fn latency_buckets() -> Vec<f64> {
    vec![
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]
}
