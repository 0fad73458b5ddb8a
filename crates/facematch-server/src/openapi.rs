//! The OpenAPI 3 document, assembled by utoipa from the handlers' `#[utoipa::path]`
//! annotations and the request/response types' `ToSchema` derives.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{accounts, billing, decisions, face_match, ops};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "facematch",
        description = "Self-hosted face match, compatible with Didit's Face Match API (v3). \
                       Send your key in the `x-api-key` header."
    ),
    paths(
        face_match::face_match,
        decisions::get_decision,
        decisions::review_queue,
        decisions::update_status,
        accounts::register,
        accounts::verify_email,
        billing::balance,
        billing::top_up,
        ops::health,
        ops::metrics,
    ),
    components(schemas(
        crate::error::ErrorBody,
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

/// The document served at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
