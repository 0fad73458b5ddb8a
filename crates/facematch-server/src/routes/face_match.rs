//! `POST /v3/face-match/`: the contract's face match.
//!
//! Order of work, and why: authenticate (401) → refuse early what cannot fit (413 by
//! `Content-Length`, 503 while models load, 429 over the key's rate) → take one credit
//! (403, before any image work) → read the form as a stream (400/413) → admit into the
//! bounded worker pool (429) → decode and compare on a worker → save the decision
//! (before answering, so an acknowledged request is durable) → spend the credit. Any
//! failure after the credit was taken gives it back.

use std::time::Instant;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use facematch_core::{image_input, FaceMatch, ImageInput, Pipeline, Status};
use facematch_store::SavedDecision;
use serde::Serialize;

use crate::auth::{ApiKey, CreditReservation};
use crate::error::{ApiError, ErrorBody};
use crate::form::{read_form, FaceMatchForm, REF_IMAGE, USER_IMAGE};
use crate::metrics::Metrics;
use crate::state::{blocking, AppState};

/// The 200 response of a face match.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FaceMatchResponse {
    /// UUID of this request; the id to retrieve it by when it was saved.
    pub request_id: String,
    /// The decision, score, faces and warnings.
    pub face_match: FaceMatch,
    /// UTC, RFC 3339 with microseconds.
    pub created_at: String,
    /// Beyond the contract, only when `face_match_target_fmr` was sent: the
    /// thresholds the decision used (Didit clients ignore extra fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
}

/// The thresholds a decision used, reported when they were derived from
/// `face_match_target_fmr`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Thresholds {
    /// The requested false-match rate.
    pub target_fmr: f64,
    /// The decline threshold derived from it (unrounded score on the calibrated scale;
    /// the integer score is compared with it).
    pub decline_threshold: f32,
    /// The review threshold, when one was sent.
    pub review_threshold: Option<f32>,
}

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
    /// As above; default true.
    #[schema(value_type = Option<String>, example = "true")]
    save_api_request: Option<String>,
    /// At most 1,000 characters, stored with the saved request.
    #[schema(max_length = 1000)]
    vendor_data: Option<String>,
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
        (status = 429, description = "At capacity, or this key is over its rate; retry after Retry-After seconds", body = ErrorBody),
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
    let mut multipart = multipart.map_err(|e| ApiError::Multipart(e.body_text()))?;
    // 401, 403 and 503 are decided before any image work, but the upload is still
    // read (and discarded, within the body limit) before answering: closing a socket
    // that still holds unread request bytes resets the connection, and clients that
    // stream the body (Node's fetch, for one) then see "fetch failed" instead of the
    // JSON error.
    let early = match (key, state.pipeline().cloned()) {
        (Err(e), _) => Err(e),
        (Ok(_), None) => Err(ApiError::NotReady),
        // The per-key rate comes before the credit: a refused request costs nothing.
        (Ok(ApiKey(key)), Some(pipeline)) => match state.check_key_rate(&key.id) {
            Err(e) => Err(e),
            Ok(()) => match CreditReservation::take(&state, &key.id).await {
                Ok(credit) => Ok((key, pipeline, credit)),
                Err(e) => Err(e),
            },
        },
    };
    let (key, pipeline, credit) = match early {
        Ok(ready) => ready,
        Err(e) => {
            drain(&mut multipart).await;
            return Err(e);
        }
    };
    match run(&state, pipeline, &key.id, multipart).await {
        Ok(response) => {
            credit.commit();
            Ok((StatusCode::OK, Json(response)))
        }
        Err(e) => {
            credit.refund().await;
            Err(e)
        }
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
) -> Result<FaceMatchResponse, ApiError> {
    let form = read_form(multipart).await?;
    let (save, vendor_data, options) = (form.save, form.vendor_data.clone(), form.options);
    let thresholds = form.target_fmr.map(|target_fmr| Thresholds {
        target_fmr,
        decline_threshold: options.decline_threshold,
        review_threshold: options.review_threshold,
    });
    let metrics = state.metrics().clone();
    let limits = state.decode_limits();
    let face_match = state
        .run_bounded(move || compare(&pipeline, &form, limits, &metrics))
        .await??;
    let now = time::OffsetDateTime::now_utc();
    let request_id = uuid::Uuid::new_v4().to_string();
    record(state.metrics(), &face_match);
    if save {
        let face_match_json = serde_json::to_value(&face_match).map_err(ApiError::internal)?;
        let decision = SavedDecision {
            request_id: request_id.clone(),
            key_id: key_id.to_owned(),
            status: status_text(face_match.status).to_owned(),
            score: face_match.score.map(i64::from),
            decline_threshold: f64::from(options.decline_threshold),
            review_threshold: options.review_threshold.map(f64::from),
            warnings: face_match_json
                .get("warnings")
                .cloned()
                .unwrap_or(serde_json::Value::Array(vec![])),
            face_match: face_match_json,
            vendor_data,
            created_at: now,
            updated_at: now,
            history: vec![],
        };
        let store = state.store().clone();
        blocking(move || store.save_decision(&decision))
            .await?
            .map_err(ApiError::internal)?;
    }
    Ok(FaceMatchResponse {
        request_id,
        face_match,
        created_at: facematch_core::rfc3339_micros(now),
        thresholds,
    })
}

/// Decoding and inference, on a worker thread. Timed per stage.
fn compare(
    pipeline: &Pipeline,
    form: &FaceMatchForm,
    limits: facematch_imageio::DecodeLimits,
    metrics: &Metrics,
) -> Result<FaceMatch, ApiError> {
    let decode = |bytes: &[u8], field: &'static str| {
        let t = Instant::now();
        let input = image_input(bytes, &limits).map_err(|source| ApiError::Image { field, source });
        metrics.observe_stage("decode", t.elapsed().as_secs_f64());
        input
    };
    let user = decode(&form.user_image, USER_IMAGE)?;
    let reference = decode(&form.ref_image, REF_IMAGE)?;
    let t_compare = Instant::now();
    let analyze = |input: &ImageInput| match input {
        ImageInput::Image(img) => {
            let t = Instant::now();
            let analysis = pipeline.analyze(img, form.options.rotate);
            metrics.observe_stage("analyze", t.elapsed().as_secs_f64());
            analysis.map(Some)
        }
        ImageInput::Empty => Ok(None),
    };
    let user = analyze(&user).map_err(ApiError::internal)?;
    let reference = analyze(&reference).map_err(ApiError::internal)?;
    let face_match = pipeline.decide(user.as_ref(), reference.as_ref(), &form.options);
    metrics.observe_stage("compare", t_compare.elapsed().as_secs_f64());
    Ok(face_match)
}

fn record(metrics: &Metrics, face_match: &FaceMatch) {
    let faces = face_match.user_image.entities.len() + face_match.ref_image.entities.len();
    metrics.faces_detected.inc_by(faces as u64);
    metrics
        .decisions
        .with_label_values(&[status_text(face_match.status)])
        .inc();
}

/// The contract's spelling of a status.
pub fn status_text(status: Status) -> &'static str {
    match status {
        Status::Approved => "Approved",
        Status::Declined => "Declined",
        Status::InReview => "In Review",
    }
}
