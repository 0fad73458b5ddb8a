//! Sending one delivery now, for the routes that wait for it (a destination's test event,
//! a resend): through the deliverer's own `send_once`, so the try is signed, checked,
//! logged and scheduled exactly as an automatic one.

use facematch_store::DueDelivery;

use crate::error::{ApiError, Fault};
use crate::state::AppState;
use crate::webhooks::deliver::{send_once, DeliverError};

/// Sends `due` now (a resend when `resend`), waiting at most the webhook timeout for the
/// receiver; returns the id of the try it logged. A receiver that fails is not an error
/// here: the try is logged as failed and the caller answers it. A destination deleted
/// meanwhile is `gone` (a 404).
pub(crate) async fn send_now(
    state: &AppState,
    due: DueDelivery,
    resend: bool,
    gone: fn() -> ApiError,
) -> Result<String, ApiError> {
    match send_once(state.store(), state.webhooks(), due, resend).await {
        Ok(summary) => Ok(summary.attempt_id),
        Err(DeliverError::NoDestination) => Err(gone()),
        Err(e) => Err(ApiError::Internal(Fault::Webhook(e))),
    }
}
