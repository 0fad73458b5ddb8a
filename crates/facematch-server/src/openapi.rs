//! The parts of the OpenAPI 3 document that belong to no single route: its title, tags,
//! the `x-api-key` scheme, the shared schemas, and the error responses several routes
//! share. The paths come from the routes themselves ([`crate::router`] registers each
//! handler once, with its `#[utoipa::path]`).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorBody;

/// The document without its paths: [`crate::router`] adds them.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "facematch",
        description = "Self-hosted face match, compatible with Didit's Face Match API (v3). \
                       Send your key in the `x-api-key` header."
    ),
    components(schemas(
        ErrorBody,
        facematch_core::FaceMatch,
        facematch_core::ImageFaces,
        facematch_core::Entity,
        facematch_core::Warning,
        facematch_core::WarningTag,
        facematch_core::Status,
    )),
    modifiers(&KeyHeader),
    tags(
        (name = "face match", description = "Compare the faces of two images"),
        (name = "decisions", description = "Saved decisions and their review"),
        (name = "accounts", description = "Self-service sign-up"),
        (name = "billing", description = "Credits"),
        (name = "webhooks", description = "Webhook destinations, delivery logs and resends"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// Declares the `x-api-key` header scheme the operations refer to.
struct KeyHeader;

impl Modify for KeyHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(
                crate::auth::API_KEY_HEADER,
            ))),
        );
    }
}

/// The 401 of every route behind an API key (documentation only).
#[derive(utoipa::IntoResponses)]
#[response(status = 401, description = "Bad key")]
pub struct BadKey(pub ErrorBody);

/// The 404 of the routes that name a saved decision (documentation only).
#[derive(utoipa::IntoResponses)]
#[response(status = 404, description = "Unknown, not saved, or another key's")]
pub struct NoSuchDecision(pub ErrorBody);
