//! The body of a face match answer around the `face_match` object: one type for the
//! HTTP API's 200 response and the JSON that `facematch compare` prints.

use serde::{Deserialize, Serialize};

use crate::response::FaceMatch;

/// The 200 response of a face match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FaceMatchResponse {
    /// UUID of this request; the id to retrieve it by when it was saved.
    pub request_id: String,
    /// The decision, score, faces and warnings.
    pub face_match: FaceMatch,
    /// UTC, RFC 3339 with microseconds.
    pub created_at: String,
    /// Beyond the contract, only when `face_match_target_fmr` was sent: the
    /// thresholds the decision used (Didit clients ignore extra fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
}

impl FaceMatchResponse {
    /// The envelope of `face_match`, made at `created_at` (written as
    /// [`rfc3339_micros`]).
    pub fn new(
        request_id: String,
        face_match: FaceMatch,
        created_at: time::OffsetDateTime,
        thresholds: Option<Thresholds>,
    ) -> Self {
        Self {
            request_id,
            face_match,
            created_at: rfc3339_micros(created_at),
            thresholds,
        }
    }
}

/// The thresholds a decision used, reported when they were derived from
/// `face_match_target_fmr`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Thresholds {
    /// The requested false-match rate.
    pub target_fmr: f64,
    /// The decline threshold derived from it (unrounded score on the calibrated scale;
    /// the integer score is compared with it).
    pub decline_threshold: f32,
    /// The review threshold, when one was sent.
    pub review_threshold: Option<f32>,
}

/// `created_at` as the contract writes it: UTC, RFC 3339 with microseconds.
pub fn rfc3339_micros(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::{ImageFaces, Status};

    fn at() -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp_nanos(1_746_105_067_977_806_123)
            .expect("valid time")
    }

    #[test]
    fn timestamps_have_microseconds_and_a_z() {
        assert_eq!(rfc3339_micros(at()), "2025-05-01T13:11:07.977806Z");
    }

    #[test]
    fn the_envelope_keeps_its_field_order_and_omits_absent_thresholds() {
        let face_match = FaceMatch {
            status: Status::InReview,
            score: Some(55),
            user_image: ImageFaces::default(),
            ref_image: ImageFaces::default(),
            warnings: vec![],
        };
        let fm = r#"{"status":"In Review","score":55,"user_image":{"entities":[],"best_angle":0},"ref_image":{"entities":[],"best_angle":0},"warnings":[]}"#;
        let plain = FaceMatchResponse::new("id".into(), face_match.clone(), at(), None);
        assert_eq!(
            serde_json::to_string(&plain).expect("serializes"),
            format!(
                r#"{{"request_id":"id","face_match":{fm},"created_at":"2025-05-01T13:11:07.977806Z"}}"#
            )
        );
        let thresholds = Thresholds {
            target_fmr: 1e-4,
            decline_threshold: 90.0,
            review_threshold: None,
        };
        let with = FaceMatchResponse::new("id".into(), face_match, at(), Some(thresholds));
        assert_eq!(
            serde_json::to_string(&with).expect("serializes"),
            format!(
                r#"{{"request_id":"id","face_match":{fm},"created_at":"2025-05-01T13:11:07.977806Z","thresholds":{{"target_fmr":0.0001,"decline_threshold":90.0,"review_threshold":null}}}}"#
            )
        );
    }
}
