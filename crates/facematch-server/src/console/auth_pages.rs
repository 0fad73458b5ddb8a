//! Signing in and out, the user's own password, a forgotten password (reset by a link
//! e-mailed with a one-time token) and accepting an invitation.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use facematch_store::{is_token_shaped, SignIn, TokenPurpose};
use maud::html;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::error::PageError;
use super::form::{CsrfOnly, PageForm};
use super::layout::{self, csrf_field, Nav};
use super::session::{self, ConsoleAuth};
use crate::client_ip::ClientIp;
use crate::state::AppState;

/// `?next=` of the sign-in page, `?done=` of a page shown after a redirect.
#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    done: Option<String>,
}

/// The words of a `done=` code (never the query's own text: no content injection).
fn done_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "signed-out" => Some("You are signed out."),
        "password-set" => Some("Your password is set. Sign in with it."),
        "reset-sent" => Some(
            "If that e-mail belongs to a console user, a reset link is on its way. It is \
             valid for 30 minutes.",
        ),
        "password-changed" => Some("Password changed. Your other sessions were signed out."),
        _ => None,
    }
}

fn with_cookie(mut response: Response, cookie: Option<axum::http::HeaderValue>) -> Response {
    if let Some(c) = cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

fn sign_in_page(
    csrf: &str,
    next: &str,
    email: &str,
    error: Option<&str>,
    done: Option<&str>,
) -> axum::response::Html<String> {
    layout::bare(
        "Sign in",
        html! {
            h1 { "Sign in" }
            (layout::notice(done))
            @if let Some(error) = error { p.alert role="alert" { (error) } }
            form.stack method="post" action="/console/sign-in" {
                (csrf_field(csrf))
                input type="hidden" name="next" value=(next);
                label { "E-mail" input type="email" name="email" autocomplete="username" required value=(email); }
                label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
            p { a href="/console/reset-password" { "Forgot your password?" } }
        },
    )
}

/// GET /console/sign-in
pub async fn sign_in_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Response {
    let (csrf, set) = session::pre_csrf(&state, &headers);
    let next = session::safe_next(q.next.as_deref().unwrap_or("/console/"));
    let page = sign_in_page(&csrf, next, "", None, done_text(q.done.as_deref()));
    with_cookie(page.into_response(), set)
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    email: String,
    password: String,
    next: Option<String>,
}

/// Takes one try of the client address's sign-in budget (`--console-sign-in-per-15min`;
/// 0: no per-address limit).
fn throttle(state: &AppState, ip: Option<std::net::IpAddr>) -> Result<(), PageError> {
    if state.config().console_sign_in_per_15min == 0 {
        return Ok(());
    }
    state
        .sign_in_limiter()
        .take(ClientIp(ip).limiter_key())
        .map_err(PageError::RateLimited)
}

/// POST /console/sign-in
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(form): PageForm<SignInForm>,
) -> Result<Response, PageError> {
    session::check_pre_csrf(&headers, &form.csrf)?;
    throttle(&state, ip)?;
    if form.email.len() > 254 || form.password.len() > 1024 {
        return Err(PageError::BadRequest("e-mail or password too long".into()));
    }
    let next = session::safe_next(form.next.as_deref().unwrap_or("/console/")).to_owned();
    let permit = state.password_hashing_permit()?;
    let now = time::OffsetDateTime::now_utc();
    let (email, password) = (form.email.clone(), form.password);
    let outcome = state
        .with_store(move |store| {
            let _permit = permit;
            store.sign_in(&email, &password, now)
        })
        .await?;
    match outcome {
        SignIn::Ok { token, .. } => {
            let mut response = Redirect::to(&next).into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, session::session_cookie(&state, &token));
            Ok(response)
        }
        SignIn::Wrong => {
            let page = sign_in_page(
                &form.csrf,
                &next,
                &form.email,
                Some("Wrong e-mail or password."),
                None,
            );
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        SignIn::Locked { until } => {
            let secs = (until - now).whole_seconds().max(1);
            let page = sign_in_page(
                &form.csrf,
                &next,
                &form.email,
                Some(&format!(
                    "Too many wrong passwords: sign-in for this user is locked for {} more \
                     minutes. Reset the password to unlock it now.",
                    (secs + 59) / 60
                )),
                None,
            );
            let mut response = (StatusCode::TOO_MANY_REQUESTS, page).into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs as u64),
            );
            Ok(response)
        }
    }
}

/// POST /console/sign-out
pub async fn sign_out(
    State(state): State<AppState>,
    auth: ConsoleAuth,
    PageForm(form): PageForm<CsrfOnly>,
) -> Result<Response, PageError> {
    auth.check_csrf(&form.csrf)?;
    let token = auth.token().expose_secret().to_owned();
    state
        .with_store(move |store| store.end_console_session(&token))
        .await?;
    let mut response = Redirect::to("/console/sign-in?done=signed-out").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::clear_session_cookie());
    Ok(response)
}

/// GET /console/account
pub async fn account(auth: ConsoleAuth, Query(q): Query<SignInQuery>) -> Response {
    account_page(&auth, None, done_text(q.done.as_deref())).into_response()
}

fn account_page(
    auth: &ConsoleAuth,
    error: Option<&str>,
    done: Option<&str>,
) -> axum::response::Html<String> {
    let user = auth.user();
    layout::page(
        "Account",
        auth,
        Nav::Account,
        html! {
            h1 { "Your account" }
            (layout::notice(done))
            dl.facts {
                dt { "E-mail" } dd { (user.email) }
                dt { "Role" } dd { (user.role) }
                dt { "User since" } dd { (layout::when(user.created_at)) }
            }
            h2 { "Change password" }
            @if let Some(error) = error { p.alert role="alert" { (error) } }
            form.stack method="post" action="/console/account/password" {
                (csrf_field(&auth.csrf()))
                label { "Current password" input type="password" name="current" autocomplete="current-password" required; }
                label { "New password (at least 8 characters)" input type="password" name="new" autocomplete="new-password" minlength="8" required; }
                button type="submit" { "Change password" }
            }
        },
    )
}

/// The password change form's fields.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current: String,
    new: String,
}

/// POST /console/account/password
pub async fn change_password(
    State(state): State<AppState>,
    auth: ConsoleAuth,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    auth.check_csrf(&form.csrf)?;
    let permit = state.password_hashing_permit()?;
    let user_id = auth.user().id.clone();
    let keep = auth.token().expose_secret().to_owned();
    let changed = state
        .with_store(move |store| {
            let _permit = permit;
            store.change_console_password(&user_id, &form.current, &form.new, &keep)
        })
        .await;
    match changed {
        Ok(true) => Ok(Redirect::to("/console/account?done=password-changed").into_response()),
        Ok(false) => Ok((
            StatusCode::BAD_REQUEST,
            account_page(&auth, Some("The current password is wrong."), None),
        )
            .into_response()),
        Err(crate::error::ApiError::BadRequest(m)) => {
            Ok((StatusCode::BAD_REQUEST, account_page(&auth, Some(&m), None)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// GET /console/reset-password
pub async fn reset_request_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (csrf, set) = session::pre_csrf(&state, &headers);
    let page = layout::bare(
        "Reset password",
        html! {
            h1 { "Reset your password" }
            p { "Enter your e-mail. If it belongs to a console user, we send a link that lets you choose a new password." }
            form.stack method="post" action="/console/reset-password" {
                (csrf_field(&csrf))
                label { "E-mail" input type="email" name="email" autocomplete="username" required; }
                button type="submit" { "Send reset link" }
            }
        },
    );
    with_cookie(page.into_response(), set)
}

/// The reset request's fields.
#[derive(Debug, Deserialize)]
pub struct ResetRequestForm {
    #[serde(default)]
    csrf: String,
    email: String,
}

/// POST /console/reset-password — the same answer whether or not the user exists.
pub async fn reset_request(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(form): PageForm<ResetRequestForm>,
) -> Result<Response, PageError> {
    session::check_pre_csrf(&headers, &form.csrf)?;
    // Shares the sign-in budget: each request may send an e-mail.
    throttle(&state, ip)?;
    let now = time::OffsetDateTime::now_utc();
    let email = form.email;
    let issued = state
        .with_store(move |store| store.request_password_reset(&email, now))
        .await?;
    if let Some((user, token)) = issued {
        let link = format!("/console/reset?token={}", token.expose_secret());
        if let Err(e) = state
            .mailer()
            .send_console_link(&user.email, "Reset your facematch console password", &link)
            .await
        {
            tracing::warn!(error = %e, "password reset e-mail not sent");
        }
    }
    Ok(Redirect::to("/console/sign-in?done=reset-sent").into_response())
}

/// `?token=` of the reset and invitation pages.
#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn token_page(
    title: &str,
    action: &str,
    greeting: &str,
    token: &str,
    csrf: &str,
    error: Option<&str>,
) -> axum::response::Html<String> {
    layout::bare(
        title,
        html! {
            h1 { (title) }
            p { (greeting) }
            @if let Some(error) = error { p.alert role="alert" { (error) } }
            form.stack method="post" action=(action) {
                (csrf_field(csrf))
                input type="hidden" name="token" value=(token);
                label { "New password (at least 8 characters)" input type="password" name="password" autocomplete="new-password" minlength="8" required; }
                button type="submit" { "Set password" }
            }
        },
    )
}

async fn token_form(
    state: AppState,
    headers: HeaderMap,
    token: Option<String>,
    purpose: TokenPurpose,
) -> Result<Response, PageError> {
    let token = token
        .filter(|t| is_token_shaped(t))
        .ok_or_else(|| PageError::NotFound(expired_text(purpose).into()))?;
    let now = time::OffsetDateTime::now_utc();
    let lookup = token.clone();
    let user = state
        .with_store(move |store| store.console_token_user(&lookup, purpose, now))
        .await?
        .ok_or_else(|| PageError::NotFound(expired_text(purpose).into()))?;
    let (csrf, set) = session::pre_csrf(&state, &headers);
    let (title, action, greeting) = match purpose {
        TokenPurpose::Invite => (
            "Accept invitation",
            "/console/invite",
            format!(
                "You are invited to the facematch console as {} ({}). Choose a password.",
                user.email, user.role
            ),
        ),
        TokenPurpose::Reset => (
            "Choose a new password",
            "/console/reset",
            format!("Choose a new password for {}.", user.email),
        ),
    };
    let page = token_page(title, action, &greeting, &token, &csrf, None);
    Ok(with_cookie(page.into_response(), set))
}

fn expired_text(purpose: TokenPurpose) -> &'static str {
    match purpose {
        TokenPurpose::Invite => {
            "This invitation is not valid: it was used, withdrawn or has expired. Ask an admin \
             to invite you again."
        }
        TokenPurpose::Reset => {
            "This reset link is not valid: it was used, replaced by a newer one or has expired. \
             Ask for a new one."
        }
    }
}

/// GET /console/reset?token=
pub async fn reset_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    token_form(state, headers, q.token, TokenPurpose::Reset).await
}

/// GET /console/invite?token=
pub async fn invite_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    token_form(state, headers, q.token, TokenPurpose::Invite).await
}

/// The token pages' fields.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    token: String,
    password: String,
}

async fn redeem(
    state: AppState,
    headers: HeaderMap,
    form: TokenForm,
    purpose: TokenPurpose,
) -> Result<Response, PageError> {
    session::check_pre_csrf(&headers, &form.csrf)?;
    if !is_token_shaped(&form.token) {
        return Err(PageError::NotFound(expired_text(purpose).into()));
    }
    let permit = state.password_hashing_permit()?;
    let now = time::OffsetDateTime::now_utc();
    let (token, password) = (form.token.clone(), form.password);
    let redeemed = state
        .with_store(move |store| {
            let _permit = permit;
            store.redeem_console_token(&token, purpose, &password, now)
        })
        .await;
    match redeemed {
        Ok(Some(_)) => Ok(Redirect::to("/console/sign-in?done=password-set").into_response()),
        Ok(None) => Err(PageError::NotFound(expired_text(purpose).into())),
        Err(crate::error::ApiError::BadRequest(m)) => {
            let action = match purpose {
                TokenPurpose::Invite => "/console/invite",
                TokenPurpose::Reset => "/console/reset",
            };
            let page = token_page(
                "Choose a password",
                action,
                "",
                &form.token,
                &form.csrf,
                Some(&m),
            );
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /console/reset
pub async fn reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm<TokenForm>,
) -> Result<Response, PageError> {
    redeem(state, headers, form, TokenPurpose::Reset).await
}

/// POST /console/invite
pub async fn accept_invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm<TokenForm>,
) -> Result<Response, PageError> {
    redeem(state, headers, form, TokenPurpose::Invite).await
}
