//! Console users of the account: the list (e-mail, role, active or invited, invited by),
//! inviting one by e-mail (a link to set a password), removing one (never yourself).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use facematch_store::{ExposeSecret, Role};
use maud::html;
use serde::Deserialize;

use super::error::PageError;
use super::form::{CsrfOnly, DoneQuery, PageForm};
use super::layout::{self, csrf_field, when, Nav};
use super::session::AdminAuth;
use crate::state::AppState;

/// The users routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/users", get(list))
        .route("/console/users/invite", post(invite))
        .route("/console/users/{id}/remove", post(remove))
}

fn done_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "invited" => Some("Invitation sent. The link is valid for 72 hours."),
        "invite-not-sent" => Some(
            "The user is invited, but the e-mail could not be sent (see the server log). \
             Remove the user and invite again once mail works.",
        ),
        "removed" => Some("The user is removed and signed out."),
        _ => None,
    }
}

fn no_user() -> PageError {
    PageError::NotFound("This user does not exist or belongs to another account.".into())
}

/// GET /console/users
pub async fn list(
    State(state): State<AppState>,
    auth: AdminAuth,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let account = auth.0.user().account_id.clone();
    let users = state
        .with_store(move |store| store.list_console_users(&account))
        .await?;
    let csrf = auth.0.csrf();
    let me = auth.0.user().id.clone();
    let body = html! {
        h1 { "Users" }
        (layout::notice(done_text(q.done.as_deref())))
        div.table-wrap { table id="users" {
            thead { tr {
                th scope="col" { "E-mail" } th scope="col" { "Role" } th scope="col" { "State" }
                th scope="col" { "Invited by" } th scope="col" { "Since" } th scope="col" { span.sr-only { "Actions" } }
            } }
            tbody {
                @for u in &users {
                    tr {
                        td { (u.email) @if u.id == me { " (you)" } }
                        td { (u.role) }
                        td { @if u.active { "active" } @else { "invited" } }
                        td { (u.invited_by.as_deref().unwrap_or("—")) }
                        td { (when(u.created_at)) }
                        td { @if u.id != me {
                            form method="post" action={ "/console/users/" (u.id) "/remove" }
                                data-confirm={ "Remove " (u.email) " from the console? They are signed out at once." } {
                                (csrf_field(&csrf))
                                button.danger type="submit" aria-label={ "Remove " (u.email) } { "Remove" }
                            }
                        } }
                    }
                }
            }
        } }
        h2 { "Invite a user" }
        form.stack id="invite" method="post" action="/console/users/invite" {
            (csrf_field(&csrf))
            label { "E-mail" input type="email" name="email" required maxlength="254" autocomplete="off"; }
            label { "Role"
                select name="role" {
                    option value="reviewer" selected { "reviewer — Manual Checks only" }
                    option value="admin" { "admin — everything" }
                }
            }
            button type="submit" { "Send invitation" }
        }
    };
    Ok(layout::page("Users", &auth.0, Nav::Users, body).into_response())
}

/// The invite form's fields.
#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    email: String,
    role: String,
}

/// POST /console/users/invite
pub async fn invite(
    State(state): State<AppState>,
    auth: AdminAuth,
    PageForm(form): PageForm<InviteForm>,
) -> Result<Response, PageError> {
    auth.0.check_csrf(&form.csrf)?;
    let email = form.email.trim().to_owned();
    if email.is_empty() || email.len() > 254 {
        return Err(PageError::BadRequest(
            "the e-mail must be 1 to 254 characters".into(),
        ));
    }
    let role: Role = form
        .role
        .parse()
        .map_err(|_| PageError::BadRequest("the role must be admin or reviewer".into()))?;
    // Each invitation sends an e-mail: the same write budget as reviews.
    state.check_review_rate(&auth.0.user().id)?;
    let account = auth.0.user().account_id.clone();
    let by = auth.0.user().email.clone();
    let now = time::OffsetDateTime::now_utc();
    let (user, token) = state
        .with_store(move |store| store.invite_console_user(&account, &email, role, &by, now))
        .await?;
    let link = format!("/console/invite?token={}", token.expose_secret());
    let sent = state
        .mailer()
        .send_console_link(
            &user.email,
            "You are invited to the facematch console",
            &link,
        )
        .await;
    match sent {
        Ok(()) => Ok(Redirect::to("/console/users?done=invited").into_response()),
        Err(e) => {
            tracing::warn!(error = %e, "console invitation e-mail not sent");
            Ok(Redirect::to("/console/users?done=invite-not-sent").into_response())
        }
    }
}

/// POST /console/users/{id}/remove
pub async fn remove(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path(raw): Path<String>,
    PageForm(form): PageForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let id = auth.item_write(&state, &form.csrf, &raw, no_user)?;
    if id == auth.0.user().id {
        return Err(PageError::BadRequest("you cannot remove yourself".into()));
    }
    let account = auth.0.user().account_id.clone();
    let removed = state
        .with_store(move |store| store.remove_console_user(&account, &id))
        .await?;
    if removed {
        Ok(Redirect::to("/console/users?done=removed").into_response())
    } else {
        Err(no_user())
    }
}
