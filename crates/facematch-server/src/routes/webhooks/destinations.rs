//! Webhook destinations, Didit's management routes (`/v3/webhook/destinations/…`), plus
//! three of ours on a destination: rotate its secret, send it a test event now, read its
//! delivery log.
//!
//! Limits: at most [`facematch_store::MAX_DESTINATIONS_PER_OWNER`] (20) destinations per key or account (409
//! beyond); a label of 1 to 100 characters; a URL of at most 2,048 bytes that must be
//! https (unless the server runs with `--allow-http-webhooks`), without user name or
//! password, whose host is not a private, loopback, link-local or metadata address (unless
//! `--allow-private-webhooks`); 1 to 20 event names, each one of Didit's; a JSON body of at
//! most 64 KiB.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use facematch_store::{
    Destination, DestinationStats, DestinationUpdate, ExposeSecret, NewDestination, SecretString,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::record::{DeliveryDetail, DeliveryRecord};
use super::send::send_now;
use super::{no_destination, parse_uuid};
use crate::auth::ApiKey;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::openapi::BadKey;
use crate::state::AppState;
use crate::webhooks::outbound::check_url;

/// The only payload version facematch sends (Didit's current one).
pub const WEBHOOK_VERSION: &str = "v3";

/// Largest `limit` of a destination's delivery log.
pub const MAX_LOG_LIMIT: usize = 100;

/// A new destination (Didit's create body).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDestinationRequest {
    /// A name for people: 1 to 100 characters.
    #[schema(example = "Production session webhooks")]
    pub label: String,
    /// Where events are POSTed: https (unless `--allow-http-webhooks`), at most 2,048 bytes,
    /// no user name or password, not a private/loopback/link-local/metadata address (unless
    /// `--allow-private-webhooks`).
    #[schema(example = "https://yourapp.example/webhooks/didit")]
    pub url: String,
    /// Event names (1 to 20; no wildcard): `status.updated`, `data.updated`,
    /// `user.status.updated`, `user.data.updated`, `business.status.updated`,
    /// `business.data.updated`, `activity.created`, `transaction.created`,
    /// `transaction.status.updated`. facematch emits `status.updated` only.
    pub subscribed_events: Vec<String>,
    /// Whether events are sent to it (default true); a disabled destination keeps its
    /// events pending until it is enabled again.
    pub enabled: Option<bool>,
    /// Payload version: only `v3` (the default).
    #[schema(example = "v3")]
    pub webhook_version: Option<String>,
}

/// A change to a destination (Didit's update body): the fields sent replace the old ones;
/// `subscribed_events` is replaced as a whole, never merged.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDestinationRequest {
    /// A new label (1 to 100 characters).
    pub label: Option<String>,
    /// A new URL, checked like at creation.
    pub url: Option<String>,
    /// The new list (1 to 20 names); an empty list is a 400.
    pub subscribed_events: Option<Vec<String>>,
    /// Turn delivery on or off.
    pub enabled: Option<bool>,
    /// Only `v3`.
    pub webhook_version: Option<String>,
}

/// A destination's delivery figures (Didit's `summary`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DestinationSummary {
    /// Tries made to it (first tries, retries and resends).
    pub total_deliveries: i64,
    /// Tries that did not get a 2xx.
    pub failed_deliveries: i64,
    /// `failed_deliveries` / `total_deliveries` × 100, rounded to 2 decimals (0 with no tries).
    pub error_rate_percentage: f64,
    /// Fastest answered try, ms.
    pub min_response_time_ms: Option<i64>,
    /// Mean of the answered tries, ms.
    pub avg_response_time_ms: Option<i64>,
    /// Slowest answered try, ms.
    pub max_response_time_ms: Option<i64>,
    /// When the last try was made (RFC 3339).
    pub last_delivery_at: Option<String>,
}

/// A destination (Didit's destination object). `secret_shared_key` is present only in the
/// answers of a create and a rotation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DestinationResponse {
    /// The destination's id.
    pub uuid: String,
    /// Its label.
    pub label: String,
    /// Its URL.
    pub url: String,
    /// Whether events are sent to it.
    pub enabled: bool,
    /// Always `v3`.
    pub webhook_version: &'static str,
    /// The HMAC-SHA256 signing secret (43-character URL-safe token). Only in the answer of
    /// the create: unlike Didit's, a `GET` never shows it again (rotate it if it is lost).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_shared_key: Option<String>,
    /// The event names it receives.
    pub subscribed_events: Vec<String>,
    /// Created (RFC 3339, microseconds).
    pub created_at: String,
    /// Last changed (RFC 3339, microseconds).
    pub updated_at: String,
    /// Its delivery figures.
    pub summary: DestinationSummary,
}

/// One row of the destination list (Didit's list row; never the secret).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DestinationListRow {
    /// The destination's id.
    pub uuid: String,
    /// Its label.
    pub label: String,
    /// Its URL.
    pub url: String,
    /// Whether events are sent to it.
    pub enabled: bool,
    /// Always `v3`.
    pub webhook_version: &'static str,
    /// How many event names it receives.
    pub subscribed_events_count: usize,
    /// Tries made to it.
    pub deliveries_count: i64,
    /// Tries that did not get a 2xx.
    pub failed_deliveries_count: i64,
    /// Mean of the answered tries, ms.
    pub average_response_time_ms: Option<i64>,
    /// Failed / total × 100, 2 decimals.
    pub error_rate_percentage: f64,
    /// When the last try was made.
    pub last_delivery_at: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
}

/// The answer of a rotation: the new secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    /// The new signing secret; the old one stops signing at once.
    pub secret_shared_key: String,
}

/// Paging of a destination's delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LogPage {
    /// At most this many tries, newest first (1–100, default 50).
    pub limit: Option<usize>,
}

fn error_rate(stats: &DestinationStats) -> f64 {
    if stats.total_deliveries <= 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let rate = stats.failed_deliveries as f64 * 100.0 / stats.total_deliveries as f64;
    (rate * 100.0).round() / 100.0
}

fn summary(stats: &DestinationStats) -> DestinationSummary {
    DestinationSummary {
        total_deliveries: stats.total_deliveries,
        failed_deliveries: stats.failed_deliveries,
        error_rate_percentage: error_rate(stats),
        min_response_time_ms: stats.min_response_time_ms,
        avg_response_time_ms: stats.avg_response_time_ms,
        max_response_time_ms: stats.max_response_time_ms,
        last_delivery_at: stats.last_delivery_at.map(facematch_core::rfc3339_micros),
    }
}

fn response(
    d: Destination,
    stats: &DestinationStats,
    secret: Option<&SecretString>,
) -> DestinationResponse {
    DestinationResponse {
        uuid: d.id,
        label: d.label,
        url: d.url,
        enabled: d.enabled,
        webhook_version: WEBHOOK_VERSION,
        secret_shared_key: secret.map(|s| s.expose_secret().to_owned()),
        subscribed_events: d.subscribed_events,
        created_at: facematch_core::rfc3339_micros(d.created_at),
        updated_at: facematch_core::rfc3339_micros(d.updated_at),
        summary: summary(stats),
    }
}

fn list_row(d: Destination, stats: &DestinationStats) -> DestinationListRow {
    DestinationListRow {
        uuid: d.id,
        label: d.label,
        url: d.url,
        enabled: d.enabled,
        webhook_version: WEBHOOK_VERSION,
        subscribed_events_count: d.subscribed_events.len(),
        deliveries_count: stats.total_deliveries,
        failed_deliveries_count: stats.failed_deliveries,
        average_response_time_ms: stats.avg_response_time_ms,
        error_rate_percentage: error_rate(stats),
        last_delivery_at: stats.last_delivery_at.map(facematch_core::rfc3339_micros),
        created_at: facematch_core::rfc3339_micros(d.created_at),
        updated_at: facematch_core::rfc3339_micros(d.updated_at),
    }
}

/// `webhook_version`, when sent, must be `v3`.
fn check_version(version: Option<&str>) -> Result<(), ApiError> {
    match version {
        None | Some(WEBHOOK_VERSION) => Ok(()),
        Some(other) => Err(ApiError::InvalidField {
            field: "webhook_version",
            reason: format!("only \"{WEBHOOK_VERSION}\" is supported, got {other:?}"),
        }),
    }
}

/// An explicit empty list is refused (Didit's rule: no wildcard, no "nothing").
pub(crate) fn check_events(events: &[String]) -> Result<(), ApiError> {
    if events.is_empty() {
        return Err(ApiError::InvalidField {
            field: "subscribed_events",
            reason: "must name at least one event (there is no wildcard)".into(),
        });
    }
    Ok(())
}

/// The URL through the server's outbound policy: a refusal is a 400 naming the reason.
pub(crate) fn checked_url(state: &AppState, url: &str) -> Result<(), ApiError> {
    check_url(url, state.webhooks().policy)
        .map(|_| ())
        .map_err(|e| ApiError::InvalidField {
            field: "url",
            reason: e.to_string(),
        })
}

/// The `{uuid}` of a destination route.
fn destination_id(raw: &str) -> Result<String, ApiError> {
    parse_uuid(raw, no_destination)
}

/// Create a destination for this key's account (or this key, without one). The answer
/// carries `secret_shared_key`, shown this once: every event is signed with it
/// (`X-Signature`, `X-Signature-V2`, `X-Signature-Simple`, as Didit's).
#[utoipa::path(
    post,
    path = "/v3/webhook/destinations/",
    tag = "webhooks",
    request_body = CreateDestinationRequest,
    responses(
        (status = 201, description = "Created; the secret is in this answer only", body = DestinationResponse),
        (status = 400, description = "Bad label, URL (refused address, http, userinfo, too long), events or version", body = ErrorBody),
        BadKey,
        (status = 409, description = "Already 20 destinations for this key or account", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 429, description = "Too many writes for this key; see Retry-After", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create_destination(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    ApiJson(body): ApiJson<CreateDestinationRequest>,
) -> Result<(StatusCode, Json<DestinationResponse>), ApiError> {
    check_version(body.webhook_version.as_deref())?;
    check_events(&body.subscribed_events)?;
    checked_url(&state, &body.url)?;
    state.check_review_rate(&key.id)?;
    let new = NewDestination {
        key_id: key.id,
        label: body.label,
        url: body.url,
        subscribed_events: body.subscribed_events,
        enabled: body.enabled.unwrap_or(true),
    };
    let (destination, secret, stats) = state
        .with_store(move |store| {
            let (d, secret) = store.create_destination(new, OffsetDateTime::now_utc())?;
            let stats = store.destination_stats(&d.id)?;
            Ok::<_, facematch_store::StoreError>((d, secret, stats))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(response(destination, &stats, Some(&secret))),
    ))
}

/// This key's destinations and its account's, oldest first (never the secrets).
#[utoipa::path(
    get,
    path = "/v3/webhook/destinations/",
    tag = "webhooks",
    responses(
        (status = 200, description = "Oldest first; not paginated (at most 20)", body = [DestinationListRow]),
        BadKey,
    ),
    security(("api_key" = []))
)]
pub async fn list_destinations(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
) -> Result<Json<Vec<DestinationListRow>>, ApiError> {
    let rows = state
        .with_store(move |store| {
            let mut rows = Vec::new();
            for d in store.list_destinations(&key.id)? {
                let stats = store.destination_stats(&d.id)?;
                rows.push(list_row(d, &stats));
            }
            Ok::<_, facematch_store::StoreError>(rows)
        })
        .await?;
    Ok(Json(rows))
}

/// One destination with its delivery summary. Unlike Didit's, without the secret: it is
/// shown only when made (create, rotate).
#[utoipa::path(
    get,
    path = "/v3/webhook/destinations/{uuid}/",
    tag = "webhooks",
    params(("uuid" = String, Path, description = "The destination's uuid")),
    responses(
        (status = 200, description = "The destination (no secret)", body = DestinationResponse),
        BadKey,
        (status = 404, description = "Unknown, deleted, or another key's", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get_destination(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(raw): Path<String>,
) -> Result<Json<DestinationResponse>, ApiError> {
    let id = destination_id(&raw)?;
    let found = state
        .with_store(move |store| {
            let Some(d) = store.get_destination(&id, &key.id)? else {
                return Ok(None);
            };
            let stats = store.destination_stats(&d.id)?;
            Ok::<_, facematch_store::StoreError>(Some((d, stats)))
        })
        .await?;
    let (d, stats) = found.ok_or_else(no_destination)?;
    Ok(Json(response(d, &stats, None)))
}

/// Change a destination: the fields sent replace the old ones (`subscribed_events` as a
/// whole). A new URL is checked like at creation. The secret is unchanged and not shown.
#[utoipa::path(
    patch,
    path = "/v3/webhook/destinations/{uuid}/",
    tag = "webhooks",
    params(("uuid" = String, Path, description = "The destination's uuid")),
    request_body = UpdateDestinationRequest,
    responses(
        (status = 200, description = "The destination as changed (no secret)", body = DestinationResponse),
        (status = 400, description = "Bad label, URL, events (an empty list included) or version", body = ErrorBody),
        BadKey,
        (status = 404, description = "Unknown, deleted, or another key's", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 429, description = "Too many writes for this key; see Retry-After", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn update_destination(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<UpdateDestinationRequest>,
) -> Result<Json<DestinationResponse>, ApiError> {
    let id = destination_id(&raw)?;
    check_version(body.webhook_version.as_deref())?;
    if let Some(events) = &body.subscribed_events {
        check_events(events)?;
    }
    if let Some(url) = &body.url {
        checked_url(&state, url)?;
    }
    state.check_review_rate(&key.id)?;
    let update = DestinationUpdate {
        label: body.label,
        url: body.url,
        subscribed_events: body.subscribed_events,
        enabled: body.enabled,
    };
    let found = state
        .with_store(move |store| {
            let Some(d) =
                store.update_destination(&id, &key.id, update, OffsetDateTime::now_utc())?
            else {
                return Ok(None);
            };
            let stats = store.destination_stats(&d.id)?;
            Ok::<_, facematch_store::StoreError>(Some((d, stats)))
        })
        .await?;
    let (d, stats) = found.ok_or_else(no_destination)?;
    Ok(Json(response(d, &stats, None)))
}

/// Delete a destination, with its pending deliveries and their log. No undo.
#[utoipa::path(
    delete,
    path = "/v3/webhook/destinations/{uuid}/",
    tag = "webhooks",
    params(("uuid" = String, Path, description = "The destination's uuid")),
    responses(
        (status = 204, description = "Deleted; empty body"),
        BadKey,
        (status = 404, description = "Unknown, deleted, or another key's", body = ErrorBody),
        (status = 429, description = "Too many writes for this key; see Retry-After", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn delete_destination(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = destination_id(&raw)?;
    state.check_review_rate(&key.id)?;
    let deleted = state
        .with_store(move |store| store.delete_destination(&id, &key.id))
        .await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_destination())
    }
}

/// Beyond Didit: a new signing secret for a destination, shown this once; the old one
/// stops signing at once (retries and resends use the new one).
#[utoipa::path(
    post,
    path = "/v3/webhook/destinations/{uuid}/rotate-secret/",
    tag = "webhooks",
    params(("uuid" = String, Path, description = "The destination's uuid")),
    responses(
        (status = 200, description = "The new secret, shown this once", body = RotatedSecret),
        BadKey,
        (status = 404, description = "Unknown, deleted, or another key's", body = ErrorBody),
        (status = 429, description = "Too many writes for this key; see Retry-After", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(raw): Path<String>,
) -> Result<Json<RotatedSecret>, ApiError> {
    let id = destination_id(&raw)?;
    state.check_review_rate(&key.id)?;
    let secret = state
        .with_store(move |store| {
            store.rotate_destination_secret(&id, &key.id, OffsetDateTime::now_utc())
        })
        .await?
        .ok_or_else(no_destination)?;
    Ok(Json(RotatedSecret {
        secret_shared_key: secret.expose_secret().to_owned(),
    }))
}

/// Beyond Didit: send the destination a test `status.updated` event now (a synthetic body:
/// `session_id` is the event id, `status` `Approved`, `vendor_data`
/// `facematch-test-event`), wait for the receiver (at most the webhook timeout) and answer
/// the try as logged. A receiver that fails is not an error: the try says `failed`, and
/// the event is retried on the usual schedule. Sent even when the destination is disabled.
#[utoipa::path(
    post,
    path = "/v3/webhook/destinations/{uuid}/test/",
    tag = "webhooks",
    params(("uuid" = String, Path, description = "The destination's uuid")),
    responses(
        (status = 200, description = "The try, delivered or not", body = DeliveryDetail),
        BadKey,
        (status = 404, description = "Unknown, deleted, or another key's", body = ErrorBody),
        (status = 429, description = "Too many writes for this key; see Retry-After", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn test_destination(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(raw): Path<String>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let id = destination_id(&raw)?;
    state.check_review_rate(&key.id)?;
    let lease = state.webhooks().lease();
    let key_id = key.id.clone();
    let destination = id.clone();
    let due = state
        .with_store(move |store| {
            store.enqueue_test_event(&destination, &key_id, OffsetDateTime::now_utc(), lease)
        })
        .await?
        .ok_or_else(no_destination)?;
    let attempt_id = send_now(&state, due, false, no_destination).await?;
    let log = state
        .with_store(move |store| store.destination_attempts(&id, &key.id, MAX_LOG_LIMIT))
        .await?
        .unwrap_or_default();
    log.into_iter()
        .find(|a| a.id == attempt_id)
        .map(|a| Json(DeliveryDetail::from(a)))
        // Deleted while the try was in flight.
        .ok_or_else(no_destination)
}

/// Beyond Didit's list (which it has per destination too): a destination's delivery log,
/// newest first, every event and try.
#[utoipa::path(
    get,
    path = "/v3/webhook/destinations/{uuid}/deliveries/",
    tag = "webhooks",
    params(("uuid" = String, Path, description = "The destination's uuid"), LogPage),
    responses(
        (status = 200, description = "Tries, newest first", body = [DeliveryRecord]),
        (status = 400, description = "Bad limit", body = ErrorBody),
        BadKey,
        (status = 404, description = "Unknown, deleted, or another key's", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn destination_deliveries(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(raw): Path<String>,
    page: Result<Query<LogPage>, QueryRejection>,
) -> Result<Json<Vec<DeliveryRecord>>, ApiError> {
    let id = destination_id(&raw)?;
    let Query(page) = page.map_err(|e| ApiError::InvalidField {
        field: "limit",
        reason: e.body_text(),
    })?;
    let limit = page.limit.unwrap_or(50);
    if !(1..=MAX_LOG_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidField {
            field: "limit",
            reason: format!("must be from 1 to {MAX_LOG_LIMIT}"),
        });
    }
    let log = state
        .with_store(move |store| store.destination_attempts(&id, &key.id, limit))
        .await?
        .ok_or_else(no_destination)?;
    Ok(Json(log.iter().map(DeliveryRecord::from).collect()))
}

/// One try of a destination's log, with the request as sent (Didit's
/// destination-scoped delivery: `request_header` and `request_body` as JSON strings).
#[utoipa::path(
    get,
    path = "/v3/webhook/destinations/{uuid}/deliveries/{delivery_uuid}/",
    tag = "webhooks",
    params(
        ("uuid" = String, Path, description = "The destination's uuid"),
        ("delivery_uuid" = String, Path, description = "The try's uuid"),
    ),
    responses(
        (status = 200, description = "The try", body = DeliveryDetail),
        BadKey,
        (status = 404, description = "Unknown destination or try, or another key's", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn destination_delivery(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path((raw, raw_try)): Path<(String, String)>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let id = destination_id(&raw)?;
    let attempt = parse_uuid(&raw_try, no_destination)?;
    let found = state
        .with_store(move |store| store.destination_attempt(&id, &attempt, &key.id))
        .await?
        .ok_or_else(no_destination)?;
    Ok(Json(DeliveryDetail::from(found)))
}

/// Send a logged try's event again, now (Didit's destination-scoped resend): the same
/// `event_id` and payload, to the URL that try went to, with a fresh `timestamp` and
/// signatures made with the destination's current secret; waits for the receiver (at most
/// `--webhook-timeout-secs`) and answers the new try. No body.
#[utoipa::path(
    post,
    path = "/v3/webhook/destinations/{uuid}/deliveries/{delivery_uuid}/resend/",
    tag = "webhooks",
    params(
        ("uuid" = String, Path, description = "The destination's uuid"),
        ("delivery_uuid" = String, Path, description = "The uuid of a try of the event to resend"),
    ),
    responses(
        (status = 200, description = "The new try, delivered or not", body = DeliveryDetail),
        BadKey,
        (status = 404, description = "Unknown destination or try, or another key's", body = ErrorBody),
        (status = 429, description = "Too many writes for this key; see Retry-After", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn resend_destination_delivery(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path((raw, raw_try)): Path<(String, String)>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let id = destination_id(&raw)?;
    let attempt = parse_uuid(&raw_try, no_destination)?;
    state.check_review_rate(&key.id)?;
    let (destination, key_id) = (id.clone(), key.id.clone());
    let due = state
        .with_store(move |store| store.destination_resend_target(&destination, &attempt, &key_id))
        .await?
        .ok_or_else(no_destination)?;
    let new_attempt = send_now(&state, due, true, no_destination).await?;
    let found = state
        .with_store(move |store| store.destination_attempt(&id, &new_attempt, &key.id))
        .await?
        .ok_or_else(no_destination)?;
    Ok(Json(DeliveryDetail::from(found)))
}
