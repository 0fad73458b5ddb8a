//! Self-service sign-up: register with e-mail and password, receive a 6-character code
//! (SMTP or the server log), verify it to get an API key with the sign-up credits.
//!
//! Off unless `--signup open` (403 `signup_closed`). Neither route tells a stranger
//! anything about an address: registering answers the same 201 whether the address is
//! new, pending (a new code is sent only when the password matches the pending one) or
//! already verified (nothing is sent); verifying answers the same 400 `invalid_code`
//! for a wrong code and for an address with nothing pending. Only the holder of the
//! right code learns that it expired or was locked by too many wrong tries. Tries are
//! throttled per client address (`--verify-per-15min`) before they count against the
//! code, and counted per client, so a stranger cannot lock the owner's code (see
//! `facematch_store`'s accounts module for the limits).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use facematch_store::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::client_ip::ClientIp;
use crate::config::SignupMode;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

/// Sign-up request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RegisterRequest {
    /// The address the code is sent to.
    #[schema(example = "dev@example.com")]
    pub email: String,
    /// At least 8 characters.
    pub password: String,
}

/// Sign-up response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegisterResponse {
    /// What happened.
    pub message: String,
    /// The (normalised) address the code was sent to.
    pub email: String,
    /// Minutes the code stays valid.
    pub expires_in_minutes: i64,
}

/// Register an account; a verification code is sent to the e-mail address.
#[utoipa::path(
    post,
    path = "/auth/v2/programmatic/register/",
    tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Code sent", body = RegisterResponse),
        (status = 400, description = "Bad e-mail or password", body = ErrorBody),
        (status = 403, description = "Sign-up is closed (`signup_closed`)", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this address (`rate_limited`), or too many passwords being hashed at once (`server_busy`)", body = ErrorBody),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    signup_open(&state)?;
    state
        .register_limiter()
        .take(ip.limiter_key())
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let email = body.email.trim().to_lowercase();
    let now = time::OffsetDateTime::now_utc();
    let (address, password) = (email.clone(), body.password);
    // Invalid requests are answered before they can take (or wait for) a hashing slot.
    facematch_store::Store::check_registration(&address, &password)?;
    let permit = state.password_hashing_permit()?;
    let registration = state
        .with_store(move |store| {
            let _hashing = permit;
            store.register(&address, &password, now)
        })
        .await?;
    // Nothing to send (the address is verified, or pending under another password): the
    // same answer as when a code went out.
    if let Some(code) = registration.code() {
        state.mailer().send_code(&email, code.expose()).await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(RegisterResponse {
            message: format!("If {email} may sign up, a verification code was sent to it."),
            email,
            expires_in_minutes: facematch_store::OTP_TTL.whole_minutes(),
        }),
    ))
}

/// Verification request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VerifyRequest {
    /// The registered address.
    pub email: String,
    /// The 6-character code.
    pub code: String,
}

/// Verification response: the new key, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyResponse {
    /// The API key, to send as `x-api-key`. It is not stored and cannot be shown again.
    pub api_key: String,
    /// The key's public prefix (safe to show and log).
    pub key_prefix: String,
    /// Credits on the new key.
    pub credits: i64,
    /// What happened.
    pub message: String,
}

/// Verify the e-mail with its code; returns a new API key.
#[utoipa::path(
    post,
    path = "/auth/v2/programmatic/verify-email/",
    tag = "accounts",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "Verified; the key is in api_key", body = VerifyResponse),
        (status = 400, description = "Wrong code or nothing pending (`invalid_code`); the right code but expired (`code_expired`) or locked by too many wrong tries (`too_many_attempts`)", body = ErrorBody),
        (status = 403, description = "Sign-up is closed (`signup_closed`)", body = ErrorBody),
        (status = 429, description = "Too many tries from this address", body = ErrorBody),
    )
)]
pub async fn verify_email(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    signup_open(&state)?;
    // Throttled before the store is touched, so throttled tries never count against the
    // code.
    let key = ip.limiter_key();
    state
        .verify_limiter()
        .take(key)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let client = key
        .address()
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    let now = time::OffsetDateTime::now_utc();
    let credits = state.config().signup_credits;
    let created = state
        .with_store(move |store| store.verify_email(&body.email, &body.code, &client, now, credits))
        .await?;
    Ok(Json(VerifyResponse {
        api_key: created.secret.expose_secret().to_owned(),
        key_prefix: created.record.prefix,
        credits: created.record.credits,
        message: "E-mail verified. Keep this API key safe: it is shown only once.".into(),
    }))
}

/// [`ApiError::SignupClosed`] unless `--signup open`.
fn signup_open(state: &AppState) -> Result<(), ApiError> {
    match state.config().signup {
        SignupMode::Open => Ok(()),
        SignupMode::Closed => Err(ApiError::SignupClosed),
    }
}
