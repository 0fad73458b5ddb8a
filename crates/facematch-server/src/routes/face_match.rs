//! `POST /v3/face-match/`: the contract's face match.
//!
//! Order of work, and why: authenticate (401) → refuse early what cannot fit (413 by
//! `Content-Length`, 503 while models load, 429 when the key already has
//! `--max-in-flight-per-key` face matches in progress, 429 over the key's rate) → take
//! one credit (403, before any image work; 401 if the key was revoked or expired since
//! it was authenticated) → read the form as a stream (400/413) → admit into the bounded
//! worker pool (429) → decode and compare on a worker → save the decision (before
//! answering, so an acknowledged request is durable) → settle the credit.
//!
//! **The charging rule.** The credit is taken before any image work (403 when none is
//! left). It is *spent* once pipeline work has started — the moment the first image's
//! pixel decoding begins (header read, dimensions accepted, file complete) — whatever
//! happens after: a 200, a 400 for the other image, a client that disconnects, a
//! request past its deadline (503). It is *refunded* only when nothing was decoded
//! (form errors, 413, 429 busy / too many in flight / over the key's rate, 503 not
//! ready, a part refused before its pixels: not an image, too large, or cut short — the
//! completeness check runs before the pixel decode) or when the server itself fails
//! (500). So every 200 costs one credit, as the contract says, and no request makes
//! the server decode pixels for free.
//!
//! **Abandoned requests stop.** When the handler is dropped (the client closed its
//! socket, or the deadline passed) a guard cancels the pipeline's
//! [`CancelToken`]: the worker stops at its next stage boundary (before decoding each
//! part, before each detection angle, before describing each face) and counts
//! `facematch_face_match_cancelled_total`. A stage already running finishes first.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use std::sync::Arc;

use facematch_core::{
    CancelToken, FaceMatch, FaceMatchResponse, Pipeline, StageTimings, Thresholds, WorkStarted,
};
use facematch_store::{KeyRecord, SavedDecision};

use crate::auth::{ApiKey, CreditReservation};
use crate::config::ReviewImages;
use crate::error::{ApiError, ErrorBody, Fault};
use crate::form::{read_form, FaceMatchForm};
use crate::key_in_flight::InFlightSlot;
use crate::metrics::Metrics;
use crate::middleware::record_request_id;
use crate::state::AppState;

/// The multipart form (documentation only: the handler reads it as a stream).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct FaceMatchRequest {
    /// The user's photo: JPEG, PNG, WebP or TIFF, at most 5 MiB.
    #[schema(value_type = String, format = Binary)]
    user_image: Vec<u8>,
    /// The reference photo (e.g. from an ID document); same rules.
    #[schema(value_type = String, format = Binary)]
    ref_image: Vec<u8>,
    /// 0–100, default 30; an integer or a decimal such as `50.0`.
    #[schema(minimum = 0, maximum = 100, default = 30)]
    face_match_score_decline_threshold: Option<f64>,
    /// Beyond the contract: 0–100, ≥ the decline threshold; scores between the two are
    /// `In Review`.
    #[schema(minimum = 0, maximum = 100)]
    face_match_score_review_threshold: Option<f64>,
    /// Beyond the contract: a false-match rate in (0, 1], e.g. `1e-4`, that sets the
    /// decline threshold from the calibrated score scale (1e-2 → 30, 1e-3 → 70,
    /// 1e-4 → 90). Not together with `face_match_score_decline_threshold` (400). The
    /// 200 body then reports the threshold used in `thresholds`.
    #[schema(value_type = Option<String>, example = "1e-4")]
    face_match_target_fmr: Option<String>,
    /// `true/false`, `1/0`, `yes/no` (case-insensitive); default false.
    #[schema(value_type = Option<String>, example = "false")]
    rotate_image: Option<String>,
    /// Beyond the contract (as AWS Rekognition's `QualityFilter`): `NONE` (default, every
    /// face is compared), `AUTO`, `LOW`, `MEDIUM` or `HIGH`, case-insensitive. A compared
    /// face below the level is not compared: Declined with a `LOW_FACE_QUALITY` warning
    /// naming the image and the reason. Any other value is a 400 naming the field.
    #[schema(value_type = Option<String>, example = "MEDIUM")]
    quality_filter: Option<String>,
    /// As above; default true.
    #[schema(value_type = Option<String>, example = "true")]
    save_api_request: Option<String>,
    /// At most 1,000 characters, stored with the saved request.
    #[schema(max_length = 1000)]
    vendor_data: Option<String>,
    /// Beyond the contract, as Didit's: a JSON object sent as JSON text (at most 4096
    /// bytes; anything else is a 400 naming `metadata`), stored with the saved request and
    /// returned by `GET /v3/session/{id}/decision/`. Not echoed in this response; not
    /// stored with `save_api_request=false`.
    #[schema(value_type = Option<String>, max_length = 4096, example = r#"{"flow":"login"}"#)]
    metadata: Option<String>,
}

/// Compare the largest face of two images.
#[utoipa::path(
    post,
    path = "/v3/face-match/",
    tag = "face match",
    request_body(content = FaceMatchRequest, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Decision (Approved, Declined or In Review)", body = FaceMatchResponse),
        (status = 400, description = "Missing image, undecodable file or bad parameter", body = ErrorBody),
        (status = 401, description = "x-api-key absent, unknown, revoked or expired", body = ErrorBody),
        (status = 403, description = "No credits left", body = ErrorBody),
        (status = 413, description = "An image over 5 MiB or a body over the limit", body = ErrorBody),
        (status = 429, description = "At capacity, this key has too many face matches in progress, or it is over its rate; retry after Retry-After seconds", body = ErrorBody),
        (status = 503, description = "Models loading or request timed out", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn face_match(
    State(state): State<AppState>,
    key: Result<ApiKey, ApiError>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<FaceMatchResponse>), ApiError> {
    // A declared length over the limit is refused before a byte of the body is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > state.config().max_body_bytes as u64) {
        return Err(ApiError::BodyTooLarge);
    }
    let mut multipart = multipart?;
    // 401, 403 and 503 are decided before any image work, but the upload is still
    // read (and discarded, within the body limit) before answering: closing a socket
    // that still holds unread request bytes resets the connection, and clients that
    // stream the body (Node's fetch, for one) then see "fetch failed" instead of the
    // JSON error.
    let started = WorkStarted::new();
    let early = match (key, state.pipeline().cloned()) {
        (Err(e), _) => Err(e),
        (Ok(_), None) => Err(ApiError::NotReady),
        (Ok(ApiKey(key)), Some(pipeline)) => admit(&state, key, &started)
            .await
            .map(|(key, slot, credit)| (key, slot, credit, pipeline)),
    };
    let (key, slot, credit, pipeline) = match early {
        Ok(ready) => ready,
        Err(e) => {
            drain(&mut multipart).await;
            return Err(e);
        }
    };
    let cancel = CancelToken::new();
    // Dropped with this future (client gone, deadline) or at its end: either way the
    // worker has nothing left to do for it.
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    // Held here until the answer; the worker holds a clone until its computation ends.
    let slot = Arc::new(slot);
    let job = Job {
        cancel,
        started,
        slot: Arc::clone(&slot),
    };
    let outcome = run(&state, pipeline, &key.id, multipart, job).await;
    credit.settle(&outcome).await;
    drop(slot);
    outcome.map(|response| (StatusCode::OK, Json(response)))
}

/// What may refuse a request of an authenticated key before its body is read, in this
/// order, each before the credit so that a refused request costs nothing: the key's
/// face matches in progress (429 `too_many_in_flight`), its rate (429 `rate_limited`),
/// then the credit itself (403).
async fn admit(
    state: &AppState,
    key: KeyRecord,
    started: &WorkStarted,
) -> Result<(KeyRecord, InFlightSlot, CreditReservation), ApiError> {
    let slot = state.enter_key_in_flight(&key.id)?;
    state.check_key_rate(&key.id)?;
    let credit = CreditReservation::take(state, &key.id, started.clone()).await?;
    Ok((key, slot, credit))
}

/// What the handler and the worker running its comparison share.
struct Job {
    /// Cancelled when the handler is dropped.
    cancel: CancelToken,
    /// Set by the pipeline when pixel decoding begins: the credit is then spent.
    started: WorkStarted,
    /// The key's in-flight slot: held by the handler until the answer, and by the
    /// worker until the computation really ends, whichever is later.
    slot: Arc<InFlightSlot>,
}

/// Cancels the token when dropped.
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Reads and drops what is left of an upload, for at most a few seconds (the body
/// limit bounds the bytes).
async fn drain(multipart: &mut Multipart) {
    let discard = async {
        while let Ok(Some(mut field)) = multipart.next_field().await {
            while let Ok(Some(_)) = field.chunk().await {}
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), discard).await;
}

async fn run(
    state: &AppState,
    pipeline: Pipeline,
    key_id: &str,
    multipart: Multipart,
    job: Job,
) -> Result<FaceMatchResponse, ApiError> {
    let begun = std::time::Instant::now();
    let FaceMatchForm {
        user_image,
        ref_image,
        options,
        target_fmr,
        save,
        vendor_data,
        metadata,
    } = read_form(multipart, state.upload_budget()).await?;
    let thresholds = target_fmr.map(|target_fmr| Thresholds {
        target_fmr,
        decline_threshold: options.decline_threshold,
        review_threshold: options.review_threshold,
    });
    // With --review-images, the uploads as received stay (shared, not copied) until the
    // decision is saved, then are sealed into the store; nowhere else.
    let review_images = state.config().review_images;
    let uploads = (save && review_images != ReviewImages::Off)
        .then(|| (user_image.clone(), ref_image.clone()));
    let metrics = state.metrics().clone();
    let limits = state.decode_limits();
    let Job {
        cancel,
        started,
        slot,
    } = job;
    let comparison = state
        .run_bounded(move || {
            let _slot = slot;
            let comparison = pipeline.compare_uploads_with(
                &user_image,
                &ref_image,
                &limits,
                &options,
                &cancel,
                &started,
            );
            // Observed on the worker, so that a request past its deadline still counts.
            match &comparison {
                Ok(comparison) => observe_stages(&metrics, &comparison.timings),
                Err(e) if e.is_cancelled() => metrics.cancelled.inc(),
                Err(_) => {}
            }
            comparison
        })
        .await??;
    let face_match = comparison.face_match;
    let now = time::OffsetDateTime::now_utc();
    let request_id = uuid::Uuid::new_v4().to_string();
    record_request_id(&request_id);
    record(state.metrics(), &face_match);
    record_usage(state, key_id, now, face_match.status, begun.elapsed());
    if save {
        let decision = SavedDecision {
            request_id: request_id.clone(),
            key_id: key_id.to_owned(),
            face_match: face_match.clone(),
            decline_threshold: f64::from(options.decline_threshold),
            review_threshold: options.review_threshold.map(f64::from),
            vendor_data,
            metadata,
            session_number: 0,
            created_at: now,
            updated_at: now,
            history: vec![],
        };
        let keep = uploads.filter(|_| review_images.keeps(face_match.status));
        let ttl = state.config().review_images_ttl();
        // The server built this record: any refusal of the store is our fault (500).
        state
            .with_store(move |store| {
                store.save_decision(&decision).map_err(Fault::Store)?;
                if let Some((source, target)) = keep {
                    let kept = crate::review_images::keep(
                        store,
                        ttl,
                        &decision.request_id,
                        &source,
                        &target,
                        now,
                    );
                    // The decision is saved and the credit spent: the answer stands, and
                    // the reviewer sees that no image was kept.
                    if let Err(e) = kept {
                        tracing::error!(error = %e, "review images could not be kept");
                    }
                }
                Ok::<_, Fault>(())
            })
            .await?;
        // Its status.updated event (if any destination wants it) is in the outbox now.
        state.webhooks().wake();
    }
    Ok(FaceMatchResponse::new(
        request_id, face_match, now, thresholds,
    ))
}

/// Counts the face match in the key's daily usage (the console's Usage page), in the
/// background: a failure is logged, never the request's.
fn record_usage(
    state: &AppState,
    key_id: &str,
    at: time::OffsetDateTime,
    status: facematch_core::Status,
    took: std::time::Duration,
) {
    let state = state.clone();
    let key_id = key_id.to_owned();
    let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    tokio::spawn(async move {
        let recorded = state
            .with_store(move |store| store.record_usage(&key_id, at, status, ms))
            .await;
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "face match usage not recorded");
        }
    });
}

/// Feeds the stage histogram: one observation per decoded part, per analysed image and
/// per comparison.
fn observe_stages(metrics: &Metrics, timings: &StageTimings) {
    for (stage, took) in timings.iter() {
        metrics.observe_stage(stage.name(), took.as_secs_f64());
    }
}

fn record(metrics: &Metrics, face_match: &FaceMatch) {
    let faces = face_match.user_image.entities.len() + face_match.ref_image.entities.len();
    metrics.faces_detected.inc_by(faces as u64);
    metrics
        .decisions
        .with_label_values(&[face_match.status.to_string()])
        .inc();
}
