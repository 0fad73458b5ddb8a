//! The `face_match` object of the contract (`shared/spec/face-match-api.md`): what the
//! HTTP API returns, what `facematch compare` prints and what the store keeps.
//!
//! Every text of the contract is spelled here once, in a serde attribute: a status, a
//! warning tag, a log type or a gender is an enum everywhere else, and its `Display` /
//! `FromStr` (where it has them) go through serde, so they cannot drift apart.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The decision on a pair of images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl Status {
    /// Every status, for whatever must list them all (the store's CHECK, metrics).
    pub const ALL: [Status; 3] = [Status::Approved, Status::Declined, Status::InReview];
}

// `Display` writes the serde spelling (`In Review`, not `InReview`).
serde_plain::derive_display_from_serialize!(Status);

impl std::str::FromStr for Status {
    type Err = UnknownStatus;

    /// Parses the serde spelling exactly (case-sensitive, as the API is).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_plain::from_str(s).map_err(UnknownStatus)
    }
}

/// A text that is not one of the contract's statuses.
#[derive(Debug, thiserror::Error)]
#[error("not a face match status")]
pub struct UnknownStatus(#[source] serde_plain::Error);

/// The warning tags of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Beyond the contract: an image held more faces than are described; the largest
    /// were, the others are listed without `age` and `gender`. For the record only
    /// (`information`): it does not decline.
    #[serde(rename = "TOO_MANY_FACES")]
    TooManyFaces,
    /// Beyond the contract: a compared face is below the request's `quality_filter`
    /// level (blurred, too dark, overexposed, too small, pose too far from frontal), so
    /// the pair was not compared (`error`).
    #[serde(rename = "LOW_FACE_QUALITY")]
    LowFaceQuality,
    /// Beyond the contract: another face is close in size to the compared (largest)
    /// one, so the choice of face was not obvious. For the record only
    /// (`information`).
    #[serde(rename = "MULTIPLE_FACES")]
    MultipleFaces,
}

/// How serious a warning is, as the contract spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogType {
    /// The request could not be decided on its merits (`error`).
    Error,
    /// The request was decided, against the user (`warning`).
    Warning,
    /// For the record only (`information`).
    Information,
}

/// One warning as the contract spells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Warning {
    /// The machine-readable tag.
    pub risk: WarningTag,
    /// `error`, `warning` or `information`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub log_type: LogType,
    /// One line for people.
    pub short_description: String,
    /// The longer explanation, naming the image concerned.
    pub long_description: String,
}

/// The estimated gender of a face, as the contract spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    /// `male`.
    Male,
    /// `female`.
    Female,
}

impl Gender {
    /// `Male` at a male probability of 0.5 or more, `Female` below.
    pub fn from_male_probability(male_probability: f32) -> Self {
        if male_probability >= 0.5 {
            Gender::Male
        } else {
            Gender::Female
        }
    }
}

/// One detected face in the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entity {
    /// Estimated age in years, two decimals. Absent for a face beyond the describe cap
    /// (`TOO_MANY_FACES`); present for every other face, as the contract has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<f64>,
    /// `[x1, y1, x2, y2]` in integer pixels of the (EXIF-oriented, `best_angle`) image.
    pub bbox: [i64; 4],
    /// The detector's confidence, 0–1, three decimals.
    pub confidence: f64,
    /// `"male"` or `"female"`. Absent exactly when `age` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub gender: Option<Gender>,
    /// Beyond the contract: the detector's five landmarks `[x, y]` (image-left eye,
    /// image-right eye, nose tip, image-left and image-right mouth corner) in the
    /// `best_angle` frame, one decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landmarks: Option<[[f64; 2]; 5]>,
    /// Beyond the contract: head pose estimated from the landmarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pose: Option<crate::pose::Pose>,
    /// Beyond the contract: quality measures of the face (described faces only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<crate::quality::FaceQuality>,
}

/// What was found in one of the two images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageFaces {
    /// Faces found, the compared (largest) one first.
    pub entities: Vec<Entity>,
    /// Clockwise rotation (0/90/180/270) under which the faces were found.
    pub best_angle: u16,
}

/// The `face_match` object of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The two images of a request, named as the contract names their form fields and
/// their keys in `face_match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `user_image`: the user's photo.
    User,
    /// `ref_image`: the reference photo (e.g. from an ID document).
    Reference,
}

impl Side {
    /// Both sides, user's first.
    pub const BOTH: [Side; 2] = [Side::User, Side::Reference];

    /// The contract's name of this image (`user_image` or `ref_image`).
    pub const fn field(self) -> &'static str {
        match self {
            Side::User => "user_image",
            Side::Reference => "ref_image",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field())
    }
}

/// Rounds to `decimals` places, for stable JSON output.
pub fn round_to(value: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (value * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_one_spelling() {
        let spelled: Vec<String> = Status::ALL.iter().map(Status::to_string).collect();
        assert_eq!(spelled, ["Approved", "Declined", "In Review"]);
        for status in Status::ALL {
            let json = serde_json::to_string(&status).expect("serializes");
            assert_eq!(json, format!("\"{status}\""));
            assert_eq!(status.to_string().parse::<Status>().ok(), Some(status));
        }
        assert!("InReview".parse::<Status>().is_err());
        assert!("approved".parse::<Status>().is_err());
    }

    #[test]
    fn face_match_json_is_the_contracts_and_reads_back() {
        let face_match = FaceMatch {
            status: Status::Declined,
            score: Some(12),
            user_image: ImageFaces {
                entities: vec![Entity {
                    age: Some(27.63),
                    bbox: [40, 40, 100, 100],
                    confidence: 0.717,
                    gender: Some(Gender::from_male_probability(0.5)),
                    landmarks: None,
                    pose: None,
                    quality: None,
                }],
                best_angle: 90,
            },
            ref_image: ImageFaces::default(),
            warnings: vec![Warning {
                risk: WarningTag::LowFaceMatchSimilarity,
                log_type: LogType::Warning,
                short_description: "s".into(),
                long_description: "l".into(),
            }],
        };
        let json = serde_json::to_string(&face_match).expect("serializes");
        assert_eq!(
            json,
            r#"{"status":"Declined","score":12,"user_image":{"entities":[{"age":27.63,"bbox":[40,40,100,100],"confidence":0.717,"gender":"male"}],"best_angle":90},"ref_image":{"entities":[],"best_angle":0},"warnings":[{"risk":"LOW_FACE_MATCH_SIMILARITY","log_type":"warning","short_description":"s","long_description":"l"}]}"#
        );
        let back: FaceMatch = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, face_match);
        assert_eq!(Gender::from_male_probability(0.49), Gender::Female);
        assert_eq!(
            serde_json::to_string(&[LogType::Error, LogType::Information]).expect("serializes"),
            r#"["error","information"]"#
        );
    }

    #[test]
    fn sides_are_named_as_the_form_fields() {
        assert_eq!(Side::BOTH.map(Side::field), ["user_image", "ref_image"]);
        assert_eq!(Side::Reference.to_string(), "ref_image");
    }
}
