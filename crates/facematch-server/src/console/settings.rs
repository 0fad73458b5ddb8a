//! Settings (read-only): retention, the default thresholds and what they mean, review
//! images, session limits — as the server was started.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use facematch_core::CompareOptions;
use maud::html;

use super::checks::fmr_words;
use super::layout::{self, Nav};
use super::session::AdminAuth;
use crate::config::ReviewImages;
use crate::state::AppState;

/// The settings route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/console/settings", get(show))
}

/// GET /console/settings
pub async fn show(State(state): State<AppState>, auth: AdminAuth) -> Response {
    let c = state.config();
    let defaults = CompareOptions::default();
    let decline = f64::from(defaults.decline_threshold);
    let images = match c.review_images {
        ReviewImages::Off => "off: no image is ever stored".to_owned(),
        ReviewImages::InReview => format!(
            "in-review: the two images of decisions saved In Review are kept encrypted until reviewed or for {} hours",
            c.review_images_ttl_hours
        ),
        ReviewImages::All => format!(
            "all: the two images of every saved decision are kept encrypted until reviewed or for {} hours",
            c.review_images_ttl_hours
        ),
    };
    let body = html! {
        h1 { "Settings" }
        p.muted { "Set when the server starts (command-line flags or environment); shown here read-only." }
        dl.facts id="settings" {
            dt { "Retention" }
            dd { @if c.retention_days == 0 { "forever: saved decisions are kept until deleted" }
                 @else { "saved decisions are deleted " (c.retention_days) " days after the face match" } }
            dt { "Default decline threshold" }
            dd { (format!("{decline:.0}")) ": scores below it are Declined; at this threshold about "
                 (fmr_words(decline)) " pairs of different people would still be approved (the false-match rate)." }
            dt { "Default review threshold" }
            dd { @match defaults.review_threshold {
                Some(r) => { (format!("{r:.0}")) ": scores from the decline threshold up to it go In Review (about " (fmr_words(f64::from(r))) ")." }
                None => "none: nothing goes In Review unless a request sets review_threshold (or a warning asks for it).",
            } }
            dt { "Review images" } dd { (images) }
            dt { "Session limits" }
            dd { "signed out after " (c.console_idle_minutes.max(1)) " minutes without a request, and "
                 (c.console_session_hours.max(1)) " hours after sign-in at the latest" }
        }
    };
    layout::page("Settings", &auth.0, Nav::Settings, body).into_response()
}
