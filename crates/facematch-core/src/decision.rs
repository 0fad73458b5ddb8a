//! The decision: from the analyses of the two images (or their absence) to the
//! contract's `face_match` object — score, status, faces and warnings. This is the one
//! place a status is chosen; [`Pipeline::decide`](crate::Pipeline::decide) and
//! [`Pipeline::compare`](crate::Pipeline::compare) reach it.

use crate::analysis::ImageAnalysis;
use crate::response::{
    round_to, Entity, FaceMatch, Gender, ImageFaces, LogType, Side, Status, Warning, WarningTag,
};
use crate::score::ScoreMapping;

/// Per-request settings of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    /// Scores below this are declined (0–100).
    pub decline_threshold: f32,
    /// Scores at or above the decline threshold but below this are `In Review`.
    pub review_threshold: Option<f32>,
    /// Try 0/90/180/270 degrees and keep the best.
    pub rotate: bool,
    /// Faces below this quality level are not compared (`LOW_FACE_QUALITY`).
    pub quality_filter: crate::quality::QualityFilter,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            decline_threshold: 30.0,
            review_threshold: None,
            rotate: false,
            quality_filter: crate::quality::QualityFilter::None,
        }
    }
}

/// Scores and decides from two analyses (`None` = empty image part), scoring the
/// largest faces' embeddings with `mapping`.
pub(crate) fn decide(
    user: Option<&ImageAnalysis>,
    reference: Option<&ImageAnalysis>,
    mapping: &ScoreMapping,
    options: &CompareOptions,
) -> FaceMatch {
    let sides = [(Side::User, user), (Side::Reference, reference)];
    let mut warnings = Vec::new();
    let missing = fields_where(&sides, |a| a.is_none());
    if !missing.is_empty() {
        warnings.push(Warning {
            risk: WarningTag::NoReferenceImage,
            log_type: LogType::Error,
            short_description: "Image missing".into(),
            long_description: format!(
                "The {} part was empty, so there was nothing to compare against.",
                missing.join(" and ")
            ),
        });
    }
    let faceless = fields_where(&sides, |a| a.is_some_and(|a| a.faces.is_empty()));
    if !faceless.is_empty() {
        warnings.push(Warning {
            risk: WarningTag::NoFaceDetected,
            log_type: LogType::Error,
            short_description: "No face detected".into(),
            long_description: format!("No face was detected in {}.", faceless.join(" nor in ")),
        });
    }
    let score = match (
        user.and_then(ImageAnalysis::embedding),
        reference.and_then(ImageAnalysis::embedding),
    ) {
        (Some(a), Some(b)) => Some(mapping.score(a, b).round().clamp(0.0, 100.0) as u8),
        _ => None,
    };
    if let Some(s) = score {
        if f32::from(s) < options.decline_threshold {
            warnings.push(Warning {
                risk: WarningTag::LowFaceMatchSimilarity,
                log_type: LogType::Warning,
                short_description: "Low face match similarity".into(),
                long_description: format!(
                    "The faces scored {s}, below the decline threshold {}.",
                    options.decline_threshold
                ),
            });
        }
    }
    let status = match score {
        Some(s) if warnings.is_empty() => match options.review_threshold {
            Some(r) if f32::from(s) < r => Status::InReview,
            _ => Status::Approved,
        },
        _ => Status::Declined,
    };
    // For the record only, after the status: a crowded image is still decided.
    for (side, analysis) in sides {
        if let Some(a) = analysis.filter(|a| !a.undescribed.is_empty()) {
            warnings.push(too_many_faces(side, a));
        }
    }
    FaceMatch {
        status,
        score,
        user_image: image_faces(user),
        ref_image: image_faces(reference),
        warnings,
    }
}

/// The `TOO_MANY_FACES` warning of one side, with its counts.
fn too_many_faces(side: Side, analysis: &ImageAnalysis) -> Warning {
    let (described, rest) = (analysis.faces.len(), analysis.undescribed.len());
    Warning {
        risk: WarningTag::TooManyFaces,
        log_type: LogType::Information,
        short_description: format!("Too many faces: {} found", described + rest),
        long_description: format!(
            "{} holds {} faces; only the {described} largest were described (age and \
             gender), the other {rest} are listed without them.",
            side.field(),
            described + rest
        ),
    }
}

/// The contract's names of the sides whose analysis satisfies `pred`, user's first.
fn fields_where<'a>(
    sides: &[(Side, Option<&'a ImageAnalysis>)],
    pred: impl Fn(Option<&'a ImageAnalysis>) -> bool,
) -> Vec<&'static str> {
    sides
        .iter()
        .filter(|(_, analysis)| pred(*analysis))
        .map(|(side, _)| side.field())
        .collect()
}

fn image_faces(analysis: Option<&ImageAnalysis>) -> ImageFaces {
    let Some(analysis) = analysis else {
        return ImageFaces::default();
    };
    ImageFaces {
        best_angle: analysis.best_angle,
        entities: analysis
            .faces
            .iter()
            .map(|(det, desc)| Entity {
                age: Some(round_to(f64::from(desc.age), 2)),
                gender: Some(Gender::from_male_probability(desc.male_probability)),
                ..listed(det)
            })
            .chain(analysis.undescribed.iter().map(listed))
            .collect(),
    }
}

/// A face as found: box and confidence, no attributes.
fn listed(det: &crate::analysis::Detection) -> Entity {
    Entity {
        age: None,
        bbox: det.bbox.to_int_array(),
        confidence: round_to(f64::from(det.confidence), 3),
        gender: None,
        landmarks: None,
        pose: None,
        quality: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Detection, FaceDescription};
    use crate::geometry::{BBox, Point};
    use crate::score::Metric;

    fn analysis(embedding: Option<f32>) -> ImageAnalysis {
        ImageAnalysis {
            best_angle: 90,
            faces: embedding
                .map(|e| {
                    let det = Detection {
                        bbox: BBox::new(1.0, 2.0, 3.0, 4.0),
                        confidence: 0.71749,
                        landmarks: [Point::default(); 5],
                    };
                    let desc = FaceDescription {
                        age: 40.005,
                        male_probability: 0.5,
                        embedding: Some(vec![e]),
                        quality: None,
                    };
                    (det, desc)
                })
                .into_iter()
                .collect(),
            undescribed: Vec::new(),
        }
    }

    fn mapping() -> ScoreMapping {
        ScoreMapping::from_knots(Metric::Euclidean, &[(0.0, 100.0), (1.0, 0.0)])
            .expect("valid knots")
    }

    #[test]
    fn both_sides_missing_or_faceless_are_named_in_one_warning_each() {
        let options = CompareOptions::default();
        let r = decide(None, None, &mapping(), &options);
        assert_eq!((r.status, r.score), (Status::Declined, None));
        assert_eq!(
            r.warnings[0].long_description,
            "The user_image and ref_image part was empty, so there was nothing to compare against."
        );
        let faceless = analysis(None);
        let r = decide(Some(&faceless), Some(&faceless), &mapping(), &options);
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(r.warnings[0].log_type, LogType::Error);
        assert_eq!(
            r.warnings[0].long_description,
            "No face was detected in user_image nor in ref_image."
        );
        assert_eq!(r.user_image.best_angle, 90);
    }

    #[test]
    fn entities_are_rounded_for_the_contract() {
        let a = analysis(Some(0.0));
        let r = decide(Some(&a), Some(&a), &mapping(), &CompareOptions::default());
        assert_eq!((r.status, r.score), (Status::Approved, Some(100)));
        let e = &r.ref_image.entities[0];
        assert_eq!(
            (e.age, e.confidence, e.bbox),
            (Some(40.01), 0.717, [1, 2, 3, 4])
        );
        assert_eq!(e.gender, Some(Gender::Male));
    }

    #[test]
    fn undescribed_faces_are_listed_without_attributes_and_do_not_decline() {
        let mut crowded = analysis(Some(0.0));
        let extra = Detection {
            bbox: BBox::new(5.0, 6.0, 7.0, 8.0),
            confidence: 0.5,
            landmarks: [Point::default(); 5],
        };
        crowded.undescribed = vec![extra.clone(), extra];
        let plain = analysis(Some(0.0));
        let r = decide(
            Some(&crowded),
            Some(&plain),
            &mapping(),
            &CompareOptions::default(),
        );
        assert_eq!((r.status, r.score), (Status::Approved, Some(100)));
        assert_eq!(r.user_image.entities.len(), 3);
        assert_eq!(r.ref_image.entities.len(), 1);
        let last = &r.user_image.entities[2];
        assert_eq!(
            (last.age, last.gender, last.bbox),
            (None, None, [5, 6, 7, 8])
        );
        assert_eq!(r.warnings.len(), 1);
        let w = &r.warnings[0];
        assert_eq!(
            (w.risk, w.log_type),
            (WarningTag::TooManyFaces, LogType::Information)
        );
        assert_eq!(w.short_description, "Too many faces: 3 found");
        assert_eq!(
            w.long_description,
            "user_image holds 3 faces; only the 1 largest were described (age and gender), \
             the other 2 are listed without them."
        );
        let json = serde_json::to_value(last).expect("serializes");
        assert_eq!(json.to_string(), r#"{"bbox":[5,6,7,8],"confidence":0.5}"#);
    }
}
