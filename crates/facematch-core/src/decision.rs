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
    let low_quality: Vec<Warning> = sides
        .iter()
        .filter_map(|(side, a)| low_face_quality(*side, (*a)?, options.quality_filter))
        .collect();
    let compared = low_quality.is_empty();
    warnings.extend(low_quality);
    let score = match (
        user.and_then(ImageAnalysis::embedding),
        reference.and_then(ImageAnalysis::embedding),
    ) {
        (Some(a), Some(b)) if compared => Some(mapping.score(a, b).round().clamp(0.0, 100.0) as u8),
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
    for (side, analysis) in sides {
        if let Some(w) = analysis.and_then(|a| multiple_faces(side, a)) {
            warnings.push(w);
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

/// The `LOW_FACE_QUALITY` warning of one side: when `filter` sets a level and the
/// side's compared (first) face has a measured quality below it.
fn low_face_quality(
    side: Side,
    analysis: &ImageAnalysis,
    filter: crate::quality::QualityFilter,
) -> Option<Warning> {
    let min = filter.min_quality()?;
    let quality = analysis.faces.first()?.1.quality?;
    if quality.quality >= min {
        return None;
    }
    let reason = quality.limited_by.map_or("of low quality", |i| i.words());
    Some(Warning {
        risk: WarningTag::LowFaceQuality,
        log_type: LogType::Error,
        short_description: "Low face quality".into(),
        long_description: format!(
            "The face in {} is {reason} (quality {:.1}, below {min} for {}); it was not \
             compared.",
            side.field(),
            quality.quality,
            filter.name()
        ),
    })
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

/// A second face at least this share of the compared face's box width makes the
/// choice of face "not obvious" (`MULTIPLE_FACES`).
pub const MULTIPLE_FACES_WIDTH_RATIO: f32 = 0.7;

/// The `MULTIPLE_FACES` warning of one side: when its second face (described or not)
/// is at least [`MULTIPLE_FACES_WIDTH_RATIO`] of the compared face's box width.
fn multiple_faces(side: Side, analysis: &ImageAnalysis) -> Option<Warning> {
    let mut boxes = analysis
        .faces
        .iter()
        .map(|(det, _)| det.bbox)
        .chain(analysis.undescribed.iter().map(|det| det.bbox));
    let (compared, second) = (boxes.next()?.width(), boxes.next()?.width());
    (second >= MULTIPLE_FACES_WIDTH_RATIO * compared).then(|| Warning {
        risk: WarningTag::MultipleFaces,
        log_type: LogType::Information,
        short_description: "Multiple faces of similar size".into(),
        long_description: format!(
            "{} holds another face {second:.0} px wide beside the compared one, {compared:.0} \
             px wide (at least {:.0}% of its width), so the choice of face was not obvious.",
            side.field(),
            MULTIPLE_FACES_WIDTH_RATIO * 100.0
        ),
    })
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
                quality: desc.quality,
                ..listed(det)
            })
            .chain(analysis.undescribed.iter().map(listed))
            .collect(),
    }
}

/// A face as found: box, confidence, landmarks and pose (one decimal); no attributes.
fn listed(det: &crate::analysis::Detection) -> Entity {
    let pose = crate::pose::estimate(&det.landmarks);
    Entity {
        age: None,
        bbox: det.bbox.to_int_array(),
        confidence: round_to(f64::from(det.confidence), 3),
        gender: None,
        landmarks: Some(
            det.landmarks
                .map(|p| [round_to(f64::from(p.x), 1), round_to(f64::from(p.y), 1)]),
        ),
        // A pose that is not a number (degenerate landmarks) is left out: JSON has no NaN.
        pose: [pose.yaw, pose.pitch, pose.roll]
            .iter()
            .all(|v| v.is_finite())
            .then(|| crate::pose::Pose {
                yaw: round_to(pose.yaw, 1),
                pitch: round_to(pose.pitch, 1),
                roll: round_to(pose.roll, 1),
            }),
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

    fn face(x1: f32, width: f32) -> Detection {
        Detection {
            bbox: BBox::new(x1, 0.0, x1 + width, width),
            confidence: 0.9,
            landmarks: [
                Point::new(1.04, 2.06),
                Point::new(3.0, 2.0),
                Point::new(2.0, 3.0),
                Point::new(1.5, 4.0),
                Point::new(2.5, 4.0),
            ],
        }
    }

    fn with_second_face(second_width: f32) -> ImageAnalysis {
        let mut a = analysis(Some(0.0));
        a.faces[0].0 = face(0.0, 100.0);
        a.faces[0].1.quality = Some(crate::quality::FaceQuality {
            quality: 55.5,
            ..Default::default()
        });
        let mut second = a.faces[0].clone();
        second.0 = face(200.0, second_width);
        a.faces.push(second);
        a
    }

    #[test]
    fn entities_carry_landmarks_pose_and_quality() {
        let mut a = with_second_face(50.0);
        a.undescribed.push(face(400.0, 10.0));
        let r = decide(Some(&a), Some(&a), &mapping(), &CompareOptions::default());
        let [first, _, last] = &r.user_image.entities[..] else {
            panic!("three faces: {r:?}");
        };
        let landmarks = first.landmarks.expect("landmarks");
        assert_eq!(landmarks[0], [1.0, 2.1], "one decimal");
        let pose = crate::pose::estimate(&a.faces[0].0.landmarks);
        let p = first.pose.expect("pose");
        assert_eq!(p.roll, round_to(pose.roll, 1));
        assert_eq!(first.quality.map(|q| q.quality), Some(55.5));
        assert!(
            last.landmarks.is_some() && last.pose.is_some(),
            "undescribed too"
        );
        assert_eq!(
            last.quality, None,
            "quality is measured on described faces only"
        );
    }

    #[test]
    fn a_second_face_close_in_width_is_named_without_changing_the_status() {
        let options = CompareOptions::default();
        let plain = analysis(Some(0.0));
        let close = with_second_face(70.0);
        let r = decide(Some(&plain), Some(&close), &mapping(), &options);
        assert_eq!((r.status, r.score), (Status::Approved, Some(100)));
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        let w = &r.warnings[0];
        assert_eq!(
            (w.risk, w.log_type),
            (WarningTag::MultipleFaces, LogType::Information)
        );
        assert_eq!(
            w.long_description,
            "ref_image holds another face 70 px wide beside the compared one, 100 px wide \
             (at least 70% of its width), so the choice of face was not obvious."
        );
        let far = with_second_face(69.0);
        let r = decide(Some(&far), Some(&far), &mapping(), &options);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        // After a decline's warning, never instead of it.
        let declined = CompareOptions {
            decline_threshold: 101.0,
            ..options
        };
        let r = decide(Some(&close), Some(&close), &mapping(), &declined);
        assert_eq!(r.status, Status::Declined);
        let risks: Vec<_> = r.warnings.iter().map(|w| w.risk).collect();
        assert_eq!(
            risks,
            [
                WarningTag::LowFaceMatchSimilarity,
                WarningTag::MultipleFaces,
                WarningTag::MultipleFaces
            ]
        );
    }

    #[test]
    fn a_decision_with_the_new_fields_reads_back_as_stored() {
        let mut a = with_second_face(90.0);
        a.undescribed.push(face(400.0, 10.0));
        let r = decide(Some(&a), None, &mapping(), &CompareOptions::default());
        let json = serde_json::to_string(&r).expect("serializes");
        assert!(json.contains("\"landmarks\"") && json.contains("\"quality\""));
        let back: FaceMatch = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, r);
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
        // The extra faces are as wide as the compared one: MULTIPLE_FACES too.
        assert_eq!(r.warnings.len(), 2);
        assert_eq!(r.warnings[1].risk, WarningTag::MultipleFaces);
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
        assert_eq!(
            json.to_string(),
            r#"{"bbox":[5,6,7,8],"confidence":0.5,"landmarks":[[0.0,0.0],[0.0,0.0],[0.0,0.0],[0.0,0.0],[0.0,0.0]],"pose":{"pitch":0.0,"roll":0.0,"yaw":0.0}}"#
        );
    }

    /// An analysis whose compared face has the given measured quality.
    fn with_quality(q: f64, by: crate::quality::QualityIssue) -> ImageAnalysis {
        let mut a = analysis(Some(0.0));
        a.faces[0].1.quality = Some(crate::quality::FaceQuality {
            quality: q,
            limited_by: Some(by),
            ..Default::default()
        });
        a
    }

    #[test]
    fn a_face_below_the_quality_filter_is_not_compared() {
        use crate::quality::{QualityFilter, QualityIssue};
        let dark = with_quality(23.0, QualityIssue::TooDark);
        let good = with_quality(100.0, QualityIssue::Blurred);
        let medium = CompareOptions {
            quality_filter: QualityFilter::Medium,
            ..CompareOptions::default()
        };
        let r = decide(Some(&good), Some(&dark), &mapping(), &medium);
        assert_eq!((r.status, r.score), (Status::Declined, None));
        let low: Vec<_> = r
            .warnings
            .iter()
            .filter(|w| w.risk == WarningTag::LowFaceQuality)
            .collect();
        assert_eq!(low.len(), 1, "{:?}", r.warnings);
        assert_eq!(low[0].log_type, LogType::Error);
        assert_eq!(low[0].short_description, "Low face quality");
        assert_eq!(
            low[0].long_description,
            "The face in ref_image is too dark (quality 23.0, below 25 for MEDIUM); it was \
             not compared."
        );
        // Both sides low: one warning each, user's first.
        let blurred = with_quality(10.0, QualityIssue::Blurred);
        let r = decide(Some(&blurred), Some(&dark), &mapping(), &medium);
        let sides: Vec<_> = r
            .warnings
            .iter()
            .filter(|w| w.risk == WarningTag::LowFaceQuality)
            .map(|w| w.long_description.split(' ').nth(3).unwrap_or_default())
            .collect();
        assert_eq!(sides, ["user_image", "ref_image"]);
        // At the level, or with no measure, the pair is compared.
        let at = with_quality(25.0, QualityIssue::Blurred);
        let r = decide(Some(&at), Some(&analysis(Some(0.0))), &mapping(), &medium);
        assert_eq!((r.status, r.score), (Status::Approved, Some(100)));
        // LOW lets the dark face through.
        let low_level = CompareOptions {
            quality_filter: QualityFilter::Low,
            ..medium
        };
        let r = decide(Some(&good), Some(&dark), &mapping(), &low_level);
        assert_eq!((r.status, r.score), (Status::Approved, Some(100)));
    }

    #[test]
    fn quality_filter_none_keeps_todays_decision() {
        let dark = with_quality(1.0, crate::quality::QualityIssue::TooDark);
        let r = decide(
            Some(&dark),
            Some(&dark),
            &mapping(),
            &CompareOptions::default(),
        );
        assert_eq!((r.status, r.score), (Status::Approved, Some(100)));
        assert!(r
            .warnings
            .iter()
            .all(|w| w.risk != WarningTag::LowFaceQuality));
    }
}
