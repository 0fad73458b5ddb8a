//! A saved decision's webhook delivery log and its resend, Didit's per-session routes:
//! `GET /v3/session/{id}/webhooks/`, `GET /v3/session/{id}/webhook/{uuid}` and
//! `POST /v3/session/{id}/webhook/{uuid}/resend` (the last two without a trailing slash, as
//! Didit's). The log is not paginated (a decision has few events; retention removes the
//! finished ones after `--retention-days`).

use axum::extract::{Path, State};
use axum::Json;

use super::record::{DeliveryDetail, DeliveryRecord};
use super::send::send_now;
use super::{no_delivery, parse_uuid};
use crate::auth::ApiKey;
use crate::error::{ApiError, ErrorBody};
use crate::middleware::record_request_id;
use crate::openapi::{BadKey, NoSuchDecision};
use crate::state::AppState;

/// The decision's id, parsed (not a UUID: 404) and recorded on the request's span.
fn session_id(raw: &str) -> Result<String, ApiError> {
    let id = parse_uuid(raw, no_delivery)?;
    record_request_id(&id);
    Ok(id)
}

/// Every webhook try about this decision (first tries, retries, resends; every
/// destination), newest first. `[]` when nothing was sent yet.
#[utoipa::path(
    get,
    path = "/v3/session/{request_id}/webhooks/",
    tag = "webhooks",
    params(("request_id" = String, Path, description = "The face match's request_id (Didit's session id)")),
    responses(
        (status = 200, description = "Tries, newest first; not paginated", body = [DeliveryRecord]),
        BadKey,
        NoSuchDecision,
    ),
    security(("api_key" = []))
)]
pub async fn session_deliveries(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(raw): Path<String>,
) -> Result<Json<Vec<DeliveryRecord>>, ApiError> {
    let id = session_id(&raw)?;
    let log = state
        .with_store(move |store| store.session_attempts(&id, &key.id))
        .await?
        .ok_or_else(no_delivery)?;
    Ok(Json(log.iter().map(DeliveryRecord::from).collect()))
}

/// One try about this decision, with the request as sent (`request_header` and
/// `request_body` as JSON-encoded strings, as Didit's) and the start of the answer.
#[utoipa::path(
    get,
    path = "/v3/session/{request_id}/webhook/{webhook_uuid}",
    tag = "webhooks",
    params(
        ("request_id" = String, Path, description = "The face match's request_id"),
        ("webhook_uuid" = String, Path, description = "The try's uuid"),
    ),
    responses(
        (status = 200, description = "The try", body = DeliveryDetail),
        BadKey,
        (status = 404, description = "Unknown decision or try, another key's, or a try of another decision", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn session_delivery(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path((raw_session, raw_try)): Path<(String, String)>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let id = session_id(&raw_session)?;
    let attempt = parse_uuid(&raw_try, no_delivery)?;
    let found = state
        .with_store(move |store| store.session_attempt(&id, &attempt, &key.id))
        .await?
        .ok_or_else(no_delivery)?;
    Ok(Json(DeliveryDetail::from(found)))
}

/// Send a logged event again, now: the same `event_id` and payload, to the URL that try
/// went to (Didit's rule: the original URL), with a fresh `timestamp` and signatures made
/// with the destination's current secret.
/// Waits for the receiver (at most the webhook timeout, `--webhook-timeout-secs`) and
/// answers the new try (the old one is unchanged). A receiver that fails is not an error:
/// the new try says `failed`. No body.
#[utoipa::path(
    post,
    path = "/v3/session/{request_id}/webhook/{webhook_uuid}/resend",
    tag = "webhooks",
    params(
        ("request_id" = String, Path, description = "The face match's request_id"),
        ("webhook_uuid" = String, Path, description = "The uuid of a try of the event to resend"),
    ),
    responses(
        (status = 200, description = "The new try, delivered or not", body = DeliveryDetail),
        BadKey,
        (status = 404, description = "Unknown decision or try, another key's, or its destination was deleted", body = ErrorBody),
        (status = 429, description = "Too many writes for this key; see Retry-After", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn resend_delivery(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path((raw_session, raw_try)): Path<(String, String)>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let id = session_id(&raw_session)?;
    let attempt = parse_uuid(&raw_try, no_delivery)?;
    state.check_review_rate(&key.id)?;
    let key_id = key.id.clone();
    let session = id.clone();
    let due = state
        .with_store(move |store| {
            let Some(due) = store.resend_target(&session, &attempt, &key_id)? else {
                return Ok(None);
            };
            // To the URL of the try (Didit resends to the original URL); the secret is
            // read at send time, so it is the destination's current one. A destination
            // deleted since is a 404.
            let current = store.get_destination(&due.destination_id, &key_id)?;
            Ok::<_, facematch_store::StoreError>(current.map(|_| due))
        })
        .await?
        .ok_or_else(no_delivery)?;
    let new_attempt = send_now(&state, due, true, no_delivery).await?;
    let found = state
        .with_store(move |store| store.session_attempt(&id, &new_attempt, &key.id))
        .await?
        .ok_or_else(no_delivery)?;
    Ok(Json(DeliveryDetail::from(found)))
}
