//! From measures to factors: each issue's 0–100 factor is a linear ramp between a
//! "worst" value (factor 0) and a "good enough" value (factor 100); the overall
//! quality is the smallest factor. Every constant of the curves is here.

use super::QualityIssue;
use crate::pose::Pose;

/// Sharpness (0–100) at or below which a face scores 0 for blur. The ramp follows
/// the measured error (`scripts/quality_study.sh`, docs/accuracy.md): same-person
/// pairs whose photo reads under 40 were falsely rejected 10–40% of the time at
/// score 30, those above 40 2–6%; under 5 is a smear.
const BLUR_WORST: f64 = 5.0;
/// Sharpness from which a face scores 100 for blur: the LFW dev faces as they are
/// read 39–74 (10th–90th percentile), the fixture portraits 74–96.
const BLUR_GOOD: f64 = 45.0;

/// Brightness (mean luminance, 0–100) at or below which a face scores 0 for
/// darkness. Measured, a dark photo costs the recognizer little: the dev photos
/// darkened ×0.25 (brightness 8–15) were falsely rejected 0.9% of the time, as the
/// originals, so only a nearly black face is penalised.
const DARK_WORST: f64 = 2.0;
/// Brightness from which a face scores 100 for darkness (see [`DARK_WORST`]).
const DARK_GOOD: f64 = 8.0;

/// Brightness at or above which a face scores 0 for overexposure (nearly white):
/// same-person pairs with a photo over 95 were falsely rejected 17% of the time.
const BRIGHT_WORST: f64 = 97.0;
/// Brightness up to which a face scores 100 for overexposure: pale skin in strong
/// light reads up to about 75, and 70–85 cost nothing measurable.
const BRIGHT_GOOD: f64 = 85.0;

/// Eye-centre distance (px) at or below which a face scores 0 for size: the dev
/// photos shrunk to about 6 px between the eyes were falsely rejected 21% of the
/// time at score 30.
const SIZE_WORST: f64 = 6.0;
/// Eye-centre distance (px) from which a face scores 100 for size: from 20–25 px
/// (the LFW dev photos) the false rejections fall to those of large faces (3–6%);
/// under 20 they are 21–28%.
const SIZE_GOOD: f64 = 25.0;

/// Largest of |yaw| and |pitch| (degrees) up to which a face scores 100 for pose:
/// frontal photos read within about ±20° (the estimate's error and ordinary tilt).
const POSE_GOOD: f64 = 25.0;
/// Largest of |yaw| and |pitch| at or beyond which a face scores 0 for pose: a near
/// profile, where the five landmarks (and the recognizer) are unreliable.
const POSE_WORST: f64 = 65.0;

/// What the factors are computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Inputs {
    /// Sharpness, 0–100.
    pub sharpness: f64,
    /// Brightness, 0–100.
    pub brightness: f64,
    /// Eye-centre distance, px.
    pub face_size: f64,
    /// Estimated pose (roll is not used: rotation is undone by alignment).
    pub pose: Pose,
}

/// 0 at `worst`, 100 at `good` (either order), linear between, clamped.
fn ramp(value: f64, worst: f64, good: f64) -> f64 {
    let t = (value - worst) / (good - worst);
    if t.is_nan() {
        0.0
    } else {
        100.0 * t.clamp(0.0, 1.0)
    }
}

/// Every issue's factor, in the order ties are reported.
pub(super) fn factors(i: &Inputs) -> [(QualityIssue, f64); 5] {
    let angle = i.pose.yaw.abs().max(i.pose.pitch.abs());
    [
        (
            QualityIssue::TooSmall,
            ramp(i.face_size, SIZE_WORST, SIZE_GOOD),
        ),
        (
            QualityIssue::TooDark,
            ramp(i.brightness, DARK_WORST, DARK_GOOD),
        ),
        (
            QualityIssue::Overexposed,
            ramp(i.brightness, BRIGHT_WORST, BRIGHT_GOOD),
        ),
        (
            QualityIssue::Blurred,
            ramp(i.sharpness, BLUR_WORST, BLUR_GOOD),
        ),
        (QualityIssue::PoseTooFar, ramp(angle, POSE_WORST, POSE_GOOD)),
    ]
}

/// The overall quality (smallest factor) and the issue that sets it (the first in
/// [`factors`]' order on a tie).
pub(super) fn overall(i: &Inputs) -> (f64, Option<QualityIssue>) {
    factors(i)
        .into_iter()
        .fold((f64::INFINITY, None), |(best, issue), (k, f)| {
            if f < best {
                (f, Some(k))
            } else {
                (best, issue)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Inputs {
        Inputs {
            sharpness: 90.0,
            brightness: 50.0,
            face_size: 60.0,
            pose: Pose::default(),
        }
    }

    #[test]
    fn a_good_face_scores_100_and_each_issue_is_named() {
        assert_eq!(overall(&good()).0, 100.0);
        let cases = [
            (
                Inputs {
                    sharpness: 12.0,
                    ..good()
                },
                QualityIssue::Blurred,
            ),
            (
                Inputs {
                    brightness: 3.0,
                    ..good()
                },
                QualityIssue::TooDark,
            ),
            (
                Inputs {
                    brightness: 95.0,
                    ..good()
                },
                QualityIssue::Overexposed,
            ),
            (
                Inputs {
                    face_size: 8.0,
                    ..good()
                },
                QualityIssue::TooSmall,
            ),
            (
                Inputs {
                    pose: Pose {
                        yaw: -60.0,
                        pitch: 0.0,
                        roll: 0.0,
                    },
                    ..good()
                },
                QualityIssue::PoseTooFar,
            ),
        ];
        for (inputs, issue) in cases {
            let (q, by) = overall(&inputs);
            assert!(q < 30.0, "{inputs:?}: {q}");
            assert_eq!(by, Some(issue));
        }
    }

    #[test]
    fn roll_is_not_a_quality_issue() {
        let i = Inputs {
            pose: Pose {
                yaw: 0.0,
                pitch: 0.0,
                roll: 90.0,
            },
            ..good()
        };
        assert_eq!(overall(&i).0, 100.0);
    }
}
