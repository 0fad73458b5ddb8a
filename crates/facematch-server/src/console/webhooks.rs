//! Webhook destinations of the account: the list with each one's delivery log (Resend on
//! each try), creating one (label, URL, events; the signing secret shown once), rotating
//! its secret (shown once), sending a test event. The URL and event rules are the API's
//! own (`routes::webhooks::destinations`), called, not copied.
//!
//! In the store a destination is made through a key and belongs to the key's account; the
//! console acts through the account's oldest key that is not revoked.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use facematch_store::{
    AttemptLog, Destination, ExposeSecret, KeyRecord, NewDestination, STATUS_UPDATED,
    WEBHOOK_EVENTS,
};
use maud::{html, Markup};
use time::OffsetDateTime;

use super::error::PageError;
use super::form::{uuid_id, CsrfOnly, DoneQuery, PageForm};
use super::layout::{self, csrf_field, when, Nav};
use super::session::AdminAuth;
use crate::error::ApiError;
use crate::routes::webhooks::destinations::{check_events, checked_url};
use crate::routes::webhooks::send::send_now;
use crate::state::AppState;

/// Tries shown per destination.
const LOG_ROWS: usize = 20;

/// The webhooks routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/webhooks", get(list).post(create))
        .route("/console/webhooks/{id}/rotate", post(rotate))
        .route("/console/webhooks/{id}/test", post(test))
        .route(
            "/console/webhooks/{id}/deliveries/{attempt}/resend",
            post(resend),
        )
}

fn done_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "tested" => Some("Test event sent: its try is at the top of the destination's log."),
        "resent" => Some("Sent again: the new try is at the top of the destination's log."),
        _ => None,
    }
}

fn no_destination() -> PageError {
    PageError::NotFound(
        "This webhook destination or delivery does not exist or belongs to another account.".into(),
    )
}

fn api_gone() -> ApiError {
    ApiError::NotFound("no such webhook destination".into())
}

/// The key the console acts through: the oldest not revoked one.
fn acting_key(keys: &[KeyRecord]) -> Option<&KeyRecord> {
    keys.iter().find(|k| k.revoked_at.is_none())
}

/// What the list page shows.
struct Listing {
    key: Option<KeyRecord>,
    destinations: Vec<(Destination, Vec<AttemptLog>)>,
}

async fn listing(state: &AppState, account: String) -> Result<Listing, PageError> {
    Ok(state
        .with_store(move |store| {
            let keys = store.list_account_keys(&account)?;
            let key = acting_key(&keys).cloned();
            let mut destinations = Vec::new();
            if let Some(k) = &key {
                for d in store.list_destinations(&k.id)? {
                    let log = store
                        .destination_attempts(&d.id, &k.id, LOG_ROWS)?
                        .unwrap_or_default();
                    destinations.push((d, log));
                }
            }
            Ok::<_, facematch_store::StoreError>(Listing { key, destinations })
        })
        .await?)
}

fn log_table(d: &Destination, log: &[AttemptLog], csrf: &str) -> Markup {
    html! {
        @if log.is_empty() { p.muted { "No delivery yet." } }
        @else {
            div.table-wrap { table {
                caption.muted { "Latest " (log.len()) " tries" }
                thead { tr {
                    th scope="col" { "When" } th scope="col" { "Event" } th scope="col" { "Answer" }
                    th scope="col" { "Time" } th scope="col" { "State" } th scope="col" { span.sr-only { "Actions" } }
                } }
                tbody { @for a in log { tr {
                    td { (when(a.created_at)) @if a.resend { " (resend)" } }
                    td { (a.webhook_type) @if a.session_id.is_none() { " (test)" } }
                    td { @match (a.response_status, &a.error) {
                        (Some(s), _) => (s),
                        (None, Some(e)) => (e),
                        (None, None) => "—",
                    } }
                    td { @match a.response_time_ms { Some(ms) => { (ms) " ms" }, None => "—" } }
                    td { (a.delivery_state) }
                    td { form method="post" action={ "/console/webhooks/" (d.id) "/deliveries/" (a.id) "/resend" } {
                        (csrf_field(csrf))
                        button type="submit" { "Resend" }
                    } }
                } } }
            } }
        }
    }
}

fn page(
    auth: &AdminAuth,
    listing: &Listing,
    secret: Option<(&str, &str)>,
    done: Option<&str>,
) -> Response {
    let csrf = auth.0.csrf();
    let body = html! {
        h1 { "Webhooks" }
        (layout::notice(done))
        @if let Some((label, secret)) = secret {
            section.secret aria-labelledby="secret-title" {
                h2 id="secret-title" { "Signing secret of “" (label) "”" }
                p { strong { "Copy it now: " } "it is shown this once. Every event is signed with it (X-Signature headers)." }
                p { code id="webhook-secret" { (secret) } " " button type="button" hidden data-copy="webhook-secret" { "Copy" } }
            }
        }
        @if listing.key.is_none() {
            p role="alert" { "Webhooks are sent for the face matches of your API keys, and your account has no active key. "
                a href="/console/keys" { "Create a key" } " first." }
        }
        @for (d, log) in &listing.destinations {
            section.destination aria-labelledby={ "dest-" (d.id) } data-destination-id=(d.id) {
                h2 id={ "dest-" (d.id) } { (d.label) @if !d.enabled { " " span.muted { "(disabled)" } } }
                dl.facts {
                    dt { "URL" } dd { code { (d.url) } }
                    dt { "Events" } dd { (d.subscribed_events.join(", ")) }
                    dt { "Created" } dd { (when(d.created_at)) }
                }
                div.inline {
                    form method="post" action={ "/console/webhooks/" (d.id) "/test" } {
                        (csrf_field(&csrf)) button type="submit" { "Send test event" }
                    }
                    form method="post" action={ "/console/webhooks/" (d.id) "/rotate" }
                        data-confirm="Rotate the signing secret? The old one stops working at once." {
                        (csrf_field(&csrf)) button type="submit" { "Rotate secret" }
                    }
                }
                h3 { "Delivery log" }
                (log_table(d, log, &csrf))
            }
        }
        @if listing.key.is_some() && listing.destinations.is_empty() { p.muted { "No destination yet." } }
        @if listing.key.is_some() {
            h2 { "Add a destination" }
            form.stack id="create-webhook" method="post" action="/console/webhooks" {
                (csrf_field(&csrf))
                label { "Label" input type="text" name="label" required maxlength="100"; }
                label { "URL" input type="url" name="url" required maxlength="2048" placeholder="https://"; }
                fieldset {
                    legend { "Events" }
                    @for e in WEBHOOK_EVENTS {
                        label.check { input type="checkbox" name="events" value=(e) checked[*e == STATUS_UPDATED]; " " (e) }
                    }
                }
                button type="submit" { "Add destination" }
            }
        }
    };
    layout::page("Webhooks", &auth.0, Nav::Webhooks, body).into_response()
}

/// GET /console/webhooks
pub async fn list(
    State(state): State<AppState>,
    auth: AdminAuth,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let l = listing(&state, auth.0.user().account_id.clone()).await?;
    Ok(page(&auth, &l, None, done_text(q.done.as_deref())))
}

/// The create form, read by hand: `events` repeats (one per checked box).
struct CreateForm {
    csrf: String,
    label: String,
    url: String,
    events: Vec<String>,
}

fn parse_create(body: &[u8]) -> CreateForm {
    let mut f = CreateForm {
        csrf: String::new(),
        label: String::new(),
        url: String::new(),
        events: vec![],
    };
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "csrf" => f.csrf = v.into_owned(),
            "label" => f.label = v.into_owned(),
            "url" => f.url = v.into_owned(),
            "events" => f.events.push(v.into_owned()),
            _ => {}
        }
    }
    f
}

/// An API refusal of a field as the page's 400.
fn field_error(e: ApiError) -> PageError {
    match e {
        ApiError::InvalidField { field, reason } => {
            PageError::BadRequest(format!("{field}: {reason}"))
        }
        other => PageError::Api(other),
    }
}

/// POST /console/webhooks
pub async fn create(
    State(state): State<AppState>,
    auth: AdminAuth,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = parse_create(&body);
    auth.0.check_csrf(&form.csrf)?;
    check_events(&form.events).map_err(field_error)?;
    checked_url(&state, &form.url).map_err(field_error)?;
    state.check_review_rate(&auth.0.user().id)?;
    let account = auth.0.user().account_id.clone();
    let keys = state
        .with_store(move |store| store.list_account_keys(&account))
        .await?;
    let key = acting_key(&keys).ok_or_else(|| {
        PageError::BadRequest("the account has no active API key: create one first".into())
    })?;
    let new = NewDestination {
        key_id: key.id.clone(),
        label: form.label.trim().to_owned(),
        url: form.url,
        subscribed_events: form.events,
        enabled: true,
    };
    let (d, secret) = state
        .with_store(move |store| store.create_destination(new, OffsetDateTime::now_utc()))
        .await?;
    let l = listing(&state, auth.0.user().account_id.clone()).await?;
    Ok(page(
        &auth,
        &l,
        Some((&d.label, secret.expose_secret())),
        None,
    ))
}

/// The acting key of the account, else a 404 (no key: nothing of the account to see).
async fn key_of(state: &AppState, auth: &AdminAuth) -> Result<KeyRecord, PageError> {
    let account = auth.0.user().account_id.clone();
    let keys = state
        .with_store(move |store| store.list_account_keys(&account))
        .await?;
    acting_key(&keys).cloned().ok_or_else(no_destination)
}

/// POST /console/webhooks/{id}/rotate
pub async fn rotate(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path(raw): Path<String>,
    PageForm(form): PageForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let id = auth.item_write(&state, &form.csrf, &raw, no_destination)?;
    let key = key_of(&state, &auth).await?;
    let found = state
        .with_store(move |store| {
            let Some(d) = store.get_destination(&id, &key.id)? else {
                return Ok(None);
            };
            let secret =
                store.rotate_destination_secret(&id, &key.id, OffsetDateTime::now_utc())?;
            Ok::<_, facematch_store::StoreError>(secret.map(|s| (d, s)))
        })
        .await?;
    let (d, secret) = found.ok_or_else(no_destination)?;
    let l = listing(&state, auth.0.user().account_id.clone()).await?;
    Ok(page(
        &auth,
        &l,
        Some((&d.label, secret.expose_secret())),
        None,
    ))
}

/// POST /console/webhooks/{id}/test
pub async fn test(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path(raw): Path<String>,
    PageForm(form): PageForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let id = auth.item_write(&state, &form.csrf, &raw, no_destination)?;
    let key = key_of(&state, &auth).await?;
    let lease = state.webhooks().lease();
    let due = state
        .with_store(move |store| {
            store.enqueue_test_event(&id, &key.id, OffsetDateTime::now_utc(), lease)
        })
        .await?
        .ok_or_else(no_destination)?;
    send_now(&state, due, false, api_gone).await?;
    Ok(Redirect::to("/console/webhooks?done=tested").into_response())
}

/// POST /console/webhooks/{id}/deliveries/{attempt}/resend
pub async fn resend(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((raw, raw_attempt)): Path<(String, String)>,
    PageForm(form): PageForm<CsrfOnly>,
) -> Result<Response, PageError> {
    auth.0.check_csrf(&form.csrf)?;
    let id = uuid_id(&raw, no_destination)?;
    let attempt = uuid_id(&raw_attempt, no_destination)?;
    state.check_review_rate(&auth.0.user().id)?;
    let key = key_of(&state, &auth).await?;
    let due = state
        .with_store(move |store| store.destination_resend_target(&id, &attempt, &key.id))
        .await?
        .ok_or_else(no_destination)?;
    send_now(&state, due, true, api_gone).await?;
    Ok(Redirect::to("/console/webhooks?done=resent").into_response())
}
