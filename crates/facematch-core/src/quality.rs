//! Face quality: how far a face's photo can be trusted, measured on the aligned face
//! crop (sharpness, brightness, contrast), from the landmarks (size, pose), and one
//! overall 0–100 `quality` with the factor that limits it. [`QualityFilter`] turns the
//! overall score into a pass/fail per request (`quality_filter`).

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::analysis::Detection;

/// The measures of one face. Every number is rounded (one decimal) so that the JSON
/// is stable under re-encoding the same photo.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FaceQuality {
    /// Detail on the aligned crop, 0 (flat) – 100 (sharp).
    pub sharpness: f64,
    /// Mean luminance of the aligned crop, 0 (black) – 100 (white).
    pub brightness: f64,
    /// Spread of luminance on the aligned crop, 0 (flat) – 100.
    pub contrast: f64,
    /// Distance between the eye centres in pixels of the analysed image.
    pub face_size: f64,
    /// Overall 0–100: the weakest of the factors below.
    pub quality: f64,
    /// The factor that limits `quality`, when it is below 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited_by: Option<QualityIssue>,
}

/// Why a face's quality is low; each reads as the reason in a `LOW_FACE_QUALITY`
/// warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QualityIssue {
    /// Little detail: blur, motion, heavy compression or an upscaled tiny face.
    Blurred,
    /// Too dark (or too little contrast in the dark).
    TooDark,
    /// Overexposed (washed out).
    Overexposed,
    /// Too few pixels between the eyes.
    TooSmall,
    /// Turned or tilted too far from frontal.
    PoseTooFar,
}

impl QualityIssue {
    /// The reason in words, as a warning says it ("blurred", "too dark", …).
    pub const fn words(self) -> &'static str {
        match self {
            QualityIssue::Blurred => "blurred",
            QualityIssue::TooDark => "too dark",
            QualityIssue::Overexposed => "overexposed",
            QualityIssue::TooSmall => "too small",
            QualityIssue::PoseTooFar => "pose too far from frontal",
        }
    }
}

/// The request field `quality_filter` (as AWS Rekognition names its levels): faces
/// below the level are not compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum QualityFilter {
    /// Every face is compared (the contract's behaviour).
    #[default]
    None,
    /// The level recommended by measurement (see `min_quality`).
    Auto,
    /// Removes only the worst faces.
    Low,
    /// A middle level.
    Medium,
    /// The strictest level.
    High,
}

impl QualityFilter {
    /// Every level, in order of strictness.
    pub const ALL: [QualityFilter; 5] = [
        QualityFilter::None,
        QualityFilter::Auto,
        QualityFilter::Low,
        QualityFilter::Medium,
        QualityFilter::High,
    ];

    /// The lowest overall `quality` a face may have to be compared; `None` for `NONE`.
    /// The cut-offs are chosen by measurement (docs/accuracy.md, "Face quality").
    pub fn min_quality(self) -> Option<f64> {
        match self {
            QualityFilter::None => None,
            QualityFilter::Low => Some(10.0),
            QualityFilter::Auto | QualityFilter::Medium => Some(25.0),
            QualityFilter::High => Some(50.0),
        }
    }

    /// The level's name as the API spells it (`NONE`, `AUTO`, …).
    pub fn name(self) -> &'static str {
        match self {
            QualityFilter::None => "NONE",
            QualityFilter::Auto => "AUTO",
            QualityFilter::Low => "LOW",
            QualityFilter::Medium => "MEDIUM",
            QualityFilter::High => "HIGH",
        }
    }
}

impl std::str::FromStr for QualityFilter {
    type Err = UnknownQualityFilter;

    /// Parses a level, case-insensitively (`MEDIUM`, `medium`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QualityFilter::ALL
            .into_iter()
            .find(|level| level.name().eq_ignore_ascii_case(s.trim()))
            .ok_or(UnknownQualityFilter)
    }
}

/// A text that is not a quality filter level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a quality filter level: expected NONE, AUTO, LOW, MEDIUM or HIGH")]
pub struct UnknownQualityFilter;

/// Measures the quality of `face` in `image` (the frame its detection is in): cuts the
/// aligned crop from the five landmarks, measures it, and combines the measures with
/// the face's size and pose into the overall score. Degenerate landmarks (all in one
/// point, not finite) give a zero crop: every measure 0, limited by `Blurred` unless
/// the size is the smaller factor.
pub fn assess(image: &RgbImage, face: &Detection) -> FaceQuality {
    let crop = measure::face_window(image, &face.landmarks);
    let measures = measure::Measures::of(&crop);
    combine(
        measures.sharpness,
        measures.brightness,
        measures.contrast,
        &face.landmarks,
    )
}

impl FaceQuality {
    /// These measures for the same face in an image `scale` times larger, given its
    /// `landmarks` there: the eye distance (`face_size`) and the pose are measured
    /// again and the overall quality recomputed with them. The crop measures
    /// (sharpness, brightness, contrast) are kept: they are taken on an aligned crop of
    /// fixed size. Used for a photo decoded reduced, so that the "too small" ramp
    /// judges the face as uploaded.
    pub fn at_full_size(self, landmarks: &[crate::geometry::Point; 5]) -> FaceQuality {
        combine(self.sharpness, self.brightness, self.contrast, landmarks)
    }
}

/// The crop measures combined with the face's size and pose (from its `landmarks`)
/// into the overall quality, every figure rounded to one decimal.
fn combine(
    sharpness: f64,
    brightness: f64,
    contrast: f64,
    landmarks: &[crate::geometry::Point; 5],
) -> FaceQuality {
    let face_size = eye_distance(landmarks);
    let rounded = |v: f64| crate::response::round_to(v, 1);
    let (quality, limited_by) = factors::overall(&factors::Inputs {
        sharpness,
        brightness,
        face_size,
        pose: crate::pose::estimate(landmarks),
    });
    let quality = rounded(quality);
    FaceQuality {
        sharpness: rounded(sharpness),
        brightness: rounded(brightness),
        contrast: rounded(contrast),
        face_size: rounded(face_size),
        quality,
        limited_by: limited_by.filter(|_| quality < 100.0),
    }
}

/// The distance between the eye centres (the first two landmarks), 0 when not finite.
fn eye_distance(landmarks: &[crate::geometry::Point; 5]) -> f64 {
    let [le, re, ..] = *landmarks;
    let d = f64::from(le.x - re.x).hypot(f64::from(le.y - re.y));
    if d.is_finite() {
        d
    } else {
        0.0
    }
}

mod factors;
mod measure;
#[cfg(test)]
mod tests;
