//! Credits: the key's balance, and a self-hosted operator's top-up (admin keys only;
//! there is no payment provider: "dollars" are converted at a configured rate).

use axum::extract::State;
use axum::Json;
use facematch_store::StoreError;
use serde::{Deserialize, Serialize};

use crate::auth::{AdminKey, ApiKey};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::openapi::BadKey;
use crate::state::AppState;

/// A credit balance.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BalanceResponse {
    /// Credits left: one is spent by each 200 of the face match.
    pub balance: i64,
}

/// The calling key's credit balance.
#[utoipa::path(
    get,
    path = "/v3/billing/balance/",
    tag = "billing",
    responses(
        (status = 200, description = "Credits left", body = BalanceResponse),
        BadKey,
    ),
    security(("api_key" = []))
)]
pub async fn balance(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
) -> Result<Json<BalanceResponse>, ApiError> {
    let balance = state
        .with_store(move |store| store.balance(&key.id))
        .await?;
    Ok(Json(BalanceResponse { balance }))
}

/// A top-up.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TopUpRequest {
    /// Dollars to convert into credits (at the server's rate), > 0.
    #[schema(example = 10)]
    pub amount_in_dollars: f64,
    /// Beyond the contract: the key to credit (its prefix or id); default the caller's.
    pub api_key_prefix: Option<String>,
}

/// The result of a top-up.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopUpResponse {
    /// The credited key's new balance.
    pub balance: i64,
    /// Credits added.
    pub credits_added: i64,
    /// The credited key's prefix.
    pub api_key_prefix: String,
}

/// Most dollars in one top-up: keeps the credit arithmetic far from overflow.
const MAX_TOP_UP_DOLLARS: f64 = 1_000_000.0;

/// Grant credits (admin key only).
#[utoipa::path(
    post,
    path = "/v3/billing/top-up/",
    tag = "billing",
    request_body = TopUpRequest,
    responses(
        (status = 200, description = "Credits added", body = TopUpResponse),
        (status = 400, description = "Bad amount", body = ErrorBody),
        BadKey,
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No key with that prefix", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn top_up(
    State(state): State<AppState>,
    AdminKey(admin): AdminKey,
    ApiJson(body): ApiJson<TopUpRequest>,
) -> Result<Json<TopUpResponse>, ApiError> {
    let dollars = body.amount_in_dollars;
    if !dollars.is_finite() || dollars <= 0.0 || dollars > MAX_TOP_UP_DOLLARS {
        return Err(ApiError::InvalidField {
            field: "amount_in_dollars",
            reason: format!("must be more than 0 and at most {MAX_TOP_UP_DOLLARS}"),
        });
    }
    let credits = (dollars * state.config().credits_per_dollar as f64).round() as i64;
    if credits < 1 {
        return Err(ApiError::InvalidField {
            field: "amount_in_dollars",
            reason: "too small to buy one credit".into(),
        });
    }
    let target = body.api_key_prefix.unwrap_or(admin.id);
    let (balance, prefix) = state
        .with_store(move |store| {
            let key = store
                .get_key(&target)?
                .ok_or_else(|| StoreError::NotFound("no API key with this prefix".into()))?;
            let balance = store.add_credits(&key.id, credits)?;
            Ok::<_, StoreError>((balance, key.prefix))
        })
        .await?;
    tracing::info!(key_prefix = %prefix, credits, "credits topped up");
    Ok(Json(TopUpResponse {
        balance,
        credits_added: credits,
        api_key_prefix: prefix,
    }))
}
