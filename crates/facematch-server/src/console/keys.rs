//! API keys of the account: the list (prefix, name, created, expiry, credits, revoked),
//! creating one (its secret shown once, on the page that answers the form, never again) and
//! revoking one. Admins only.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use facematch_store::{ExposeSecret, KeyRecord, NewKey};
use maud::{html, Markup};
use serde::Deserialize;
use time::OffsetDateTime;

use super::error::PageError;
use super::form::{CsrfOnly, DoneQuery, PageForm};
use super::layout::{self, csrf_field, when, Nav};
use super::session::AdminAuth;
use crate::state::AppState;

/// Longest key name (the store's limit).
const MAX_NAME_CHARS: usize = 200;
/// Most credits a key can be given here.
pub const MAX_CREDITS: i64 = 1_000_000;
/// Longest expiry, in days.
const MAX_EXPIRES_DAYS: i64 = 3650;

/// The keys routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/keys", get(list).post(create))
        .route("/console/keys/{id}/revoke", post(revoke))
}

fn done_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "revoked" => Some("The key is revoked: requests made with it now get 401."),
        _ => None,
    }
}

/// The page of a key that is not the account's (or does not exist).
pub(crate) fn no_key() -> PageError {
    PageError::NotFound("This API key does not exist or belongs to another account.".into())
}

fn keys_table(keys: &[KeyRecord], csrf: &str, now: OffsetDateTime) -> Markup {
    html! {
        div.table-wrap { table id="keys" {
            caption.muted { (keys.len()) " keys" }
            thead { tr {
                th scope="col" { "Prefix" } th scope="col" { "Name" } th scope="col" { "Created" }
                th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { "Credits" }
                th scope="col" { "State" }
                th scope="col" { span.sr-only { "Actions" } }
            } }
            tbody {
                @for k in keys {
                    tr data-key-id=(k.id) {
                        td { code { "fm_" (k.prefix) } }
                        td { (k.name) }
                        td { (when(k.created_at)) }
                        td { @match k.last_used_at { Some(t) => (when(t)), None => span.muted { "never" } } }
                        td { @match k.expires_at { Some(t) => (when(t)), None => span.muted { "never" } } }
                        td { (k.credits) }
                        td {
                            @if let Some(t) = k.revoked_at { "revoked " (when(t)) }
                            @else if k.expires_at.is_some_and(|t| t <= now) { "expired" }
                            @else { "active" }
                        }
                        td {
                            @if k.revoked_at.is_none() {
                                form method="post" action={ "/console/keys/" (k.id) "/revoke" }
                                    data-confirm={ "Revoke the key fm_" (k.prefix) " (" (k.name) ")? Requests made with it will fail at once." } {
                                    (csrf_field(csrf))
                                    button.danger type="submit" aria-label={ "Revoke fm_" (k.prefix) } { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        } }
        @if keys.is_empty() { p.muted { "No key yet." } }
    }
}

fn page(
    auth: &AdminAuth,
    keys: &[KeyRecord],
    created: Option<(&KeyRecord, &str)>,
    done: Option<&str>,
) -> Response {
    let csrf = auth.0.csrf();
    let body = html! {
        h1 { "API keys" }
        (layout::notice(done))
        @if let Some((record, secret)) = created {
            section.secret aria-labelledby="new-key-title" {
                h2 id="new-key-title" { "New key “" (record.name) "”" }
                p { strong { "Copy it now: " } "it is shown this once and cannot be shown again." }
                p { code id="new-key-secret" { (secret) } " "
                    button type="button" hidden data-copy="new-key-secret" { "Copy" } }
            }
        }
        (keys_table(keys, &csrf, OffsetDateTime::now_utc()))
        h2 { "Create a key" }
        form.stack id="create-key" method="post" action="/console/keys" {
            (csrf_field(&csrf))
            label { "Name" input type="text" name="name" required maxlength="200"; }
            label { "Credits (optional, 0 to 1,000,000)" input type="number" name="credits" min="0" max="1000000"; }
            label { "Expires after days (optional, 1 to 3650)" input type="number" name="expires_days" min="1" max="3650"; }
            button type="submit" { "Create key" }
        }
    };
    layout::page("API keys", &auth.0, Nav::Keys, body).into_response()
}

async fn account_keys(state: &AppState, account: String) -> Result<Vec<KeyRecord>, PageError> {
    Ok(state
        .with_store(move |store| store.list_account_keys(&account))
        .await?)
}

/// GET /console/keys
pub async fn list(
    State(state): State<AppState>,
    auth: AdminAuth,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let keys = account_keys(&state, auth.0.user().account_id.clone()).await?;
    Ok(page(&auth, &keys, None, done_text(q.done.as_deref())))
}

/// The create form's fields (optional numbers arrive as empty strings).
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    name: String,
    credits: Option<String>,
    expires_days: Option<String>,
}

/// An optional whole number in `range`, named `what` in the error.
pub(crate) fn opt_number(
    v: Option<&str>,
    range: std::ops::RangeInclusive<i64>,
    what: &str,
) -> Result<Option<i64>, PageError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| range.contains(n))
            .map(Some)
            .ok_or_else(|| {
                PageError::BadRequest(format!(
                    "{what} must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ))
            }),
    }
}

/// POST /console/keys
pub async fn create(
    State(state): State<AppState>,
    auth: AdminAuth,
    PageForm(form): PageForm<CreateForm>,
) -> Result<Response, PageError> {
    auth.0.check_csrf(&form.csrf)?;
    let name = form.name.trim().to_owned();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(PageError::BadRequest(format!(
            "the name must be 1 to {MAX_NAME_CHARS} characters, without control characters"
        )));
    }
    let credits = opt_number(form.credits.as_deref(), 0..=MAX_CREDITS, "credits")?.unwrap_or(0);
    let days = opt_number(
        form.expires_days.as_deref(),
        1..=MAX_EXPIRES_DAYS,
        "expires after days",
    )?;
    state.check_review_rate(&auth.0.user().id)?;
    let account = auth.0.user().account_id.clone();
    let new = NewKey {
        name,
        credits,
        admin: false,
        expires_at: days.map(|d| OffsetDateTime::now_utc() + time::Duration::days(d)),
        account_id: Some(account.clone()),
    };
    let (created, keys) = state
        .with_store(move |store| {
            let created = store.create_key(new)?;
            Ok::<_, facematch_store::StoreError>((created, store.list_account_keys(&account)?))
        })
        .await?;
    tracing::info!(key = %created.record.prefix, by = %auth.0.user().email, "console: API key created");
    Ok(page(
        &auth,
        &keys,
        Some((&created.record, created.secret.expose_secret())),
        None,
    ))
}

/// POST /console/keys/{id}/revoke
pub async fn revoke(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path(raw): Path<String>,
    PageForm(form): PageForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let id = auth.item_write(&state, &form.csrf, &raw, no_key)?;
    let account = auth.0.user().account_id.clone();
    let revoked = state
        .with_store(move |store| store.revoke_account_key(&account, &id))
        .await?;
    if !revoked {
        return Err(no_key());
    }
    Ok(Redirect::to("/console/keys?done=revoked").into_response())
}
