//! The `face_match` object of the contract (`shared/spec/face-match-api.md`): what the
//! HTTP API returns and what `facematch compare` prints.

use serde::Serialize;

/// The decision on a pair of images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Status {
    /// Score at or above the decline threshold (and the review threshold, if any).
    Approved,
    /// Score below the decline threshold, no face, or an image missing.
    Declined,
    /// Between the decline and the review threshold: waits for a person's decision.
    #[serde(rename = "In Review")]
    InReview,
}

/// The warning tags of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[allow(clippy::enum_variant_names)]
pub enum WarningTag {
    /// An image part was present but empty.
    #[serde(rename = "NO_REFERENCE_IMAGE")]
    NoReferenceImage,
    /// No face in one or both images.
    #[serde(rename = "NO_FACE_DETECTED")]
    NoFaceDetected,
    /// The score is below the decline threshold.
    #[serde(rename = "LOW_FACE_MATCH_SIMILARITY")]
    LowFaceMatchSimilarity,
}

/// One warning as the contract spells it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Warning {
    /// The machine-readable tag.
    pub risk: WarningTag,
    /// `error`, `warning` or `information`.
    pub log_type: &'static str,
    /// One line for people.
    pub short_description: String,
    /// The longer explanation, naming the image concerned.
    pub long_description: String,
}

/// One detected face in the response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entity {
    /// Estimated age in years, two decimals.
    pub age: f64,
    /// `[x1, y1, x2, y2]` in integer pixels of the (EXIF-oriented, `best_angle`) image.
    pub bbox: [i64; 4],
    /// The detector's confidence, 0–1, three decimals.
    pub confidence: f64,
    /// `"male"` or `"female"`.
    pub gender: &'static str,
}

/// What was found in one of the two images.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageFaces {
    /// Faces found, the compared (largest) one first.
    pub entities: Vec<Entity>,
    /// Clockwise rotation (0/90/180/270) under which the faces were found.
    pub best_angle: u16,
}

/// The `face_match` object of a response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FaceMatch {
    /// The decision.
    pub status: Status,
    /// Similarity 0–100, or `None` when no pair of faces could be compared.
    pub score: Option<u8>,
    /// Faces of `user_image`.
    pub user_image: ImageFaces,
    /// Faces of `ref_image`.
    pub ref_image: ImageFaces,
    /// Why the request was declined, if it was.
    pub warnings: Vec<Warning>,
}

/// Rounds to `decimals` places, for stable JSON output.
pub fn round_to(value: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (value * f).round() / f
}
