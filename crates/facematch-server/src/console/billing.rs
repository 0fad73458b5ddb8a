//! Billing: the account's total credit balance, each key's credits, and a top-up form per
//! key (admins only; only the account's own keys).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;

use super::error::PageError;
use super::form::{uuid_id, DoneQuery, PageForm};
use super::keys::{no_key, opt_number, MAX_CREDITS};
use super::layout::{self, csrf_field, Nav};
use super::session::AdminAuth;
use crate::state::AppState;

/// The billing routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/billing", get(show))
        .route("/console/billing/top-up", post(top_up))
}

/// GET /console/billing
pub async fn show(
    State(state): State<AppState>,
    auth: AdminAuth,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let account = auth.0.user().account_id.clone();
    let keys = state
        .with_store(move |store| store.list_account_keys(&account))
        .await?;
    let total: i64 = keys.iter().map(|k| k.credits).sum();
    let csrf = auth.0.csrf();
    let done = (q.done.as_deref() == Some("topped-up")).then_some("Credits added.");
    let body = html! {
        h1 { "Billing" }
        (layout::notice(done))
        p { "Total balance: " strong id="total-balance" { (total) } " credits (one face match uses one credit)." }
        @if keys.is_empty() { p { "No key yet: " a href="/console/keys" { "create one" } "." } }
        div.table-wrap { table {
            thead { tr { th scope="col" { "Key" } th scope="col" { "Name" } th scope="col" { "Credits" } th scope="col" { "Top up" } } }
            tbody {
                @for k in &keys {
                    tr {
                        td { code { "fm_" (k.prefix) } }
                        td { (k.name) @if k.revoked_at.is_some() { " " span.muted { "(revoked)" } } }
                        td data-credits=(k.id) { (k.credits) }
                        td {
                            form.inline method="post" action="/console/billing/top-up" {
                                (csrf_field(&csrf))
                                input type="hidden" name="key_id" value=(k.id);
                                label { span.sr-only { "Credits to add to fm_" (k.prefix) }
                                    input type="number" name="credits" min="1" max="1000000" required; }
                                button type="submit" { "Add credits" }
                            }
                        }
                    }
                }
            }
        } }
    };
    Ok(layout::page("Billing", &auth.0, Nav::Billing, body).into_response())
}

/// The top-up form's fields.
#[derive(Debug, Deserialize)]
pub struct TopUpForm {
    #[serde(default)]
    csrf: String,
    key_id: String,
    credits: String,
}

/// POST /console/billing/top-up
pub async fn top_up(
    State(state): State<AppState>,
    auth: AdminAuth,
    PageForm(form): PageForm<TopUpForm>,
) -> Result<Response, PageError> {
    auth.0.check_csrf(&form.csrf)?;
    let amount = opt_number(Some(&form.credits), 1..=MAX_CREDITS, "credits")?.ok_or_else(|| {
        PageError::BadRequest("credits must be a whole number from 1 to 1000000".into())
    })?;
    let id = uuid_id(&form.key_id, no_key)?;
    state.check_review_rate(&auth.0.user().id)?;
    let account = auth.0.user().account_id.clone();
    let added = state
        .with_store(move |store| match store.get_account_key(&account, &id)? {
            Some(key) => store.add_credits(&key.id, amount).map(Some),
            None => Ok(None),
        })
        .await?;
    match added {
        Some(_) => Ok(Redirect::to("/console/billing?done=topped-up").into_response()),
        None => Err(no_key()),
    }
}
