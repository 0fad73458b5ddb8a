//! Scoring every pair of a list once for one face selection: the similarity the
//! metrics rank, the decision exactly as `compare` makes it, and the per-pair detail
//! the JSON report keeps.

use facematch_core::{CompareOptions, FaceQuality, ImageAnalysis, Pipeline, Pose, Status};
use facematch_eval::{PairOutcome, ScoredPair};
use serde::Serialize;

use crate::pairs::PairLine;

/// One pair as `eval --json` keeps it (`pairs_detail`; the plot reads these names).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PairDetail {
    /// Left photo, as in the pair list.
    pub left: String,
    /// Right photo.
    pub right: String,
    /// Ground truth: the same person.
    pub same: bool,
    /// The 0–100 score; `None` when a side has no face.
    pub score: Option<u8>,
    /// The embedding distance; `None` when a side has no face.
    pub distance: Option<f32>,
    /// The decision at the decline threshold.
    pub status: Status,
    /// Faces found on the left photo; `None` when it could not be analysed.
    pub left_faces: Option<usize>,
    /// Faces found on the right photo.
    pub right_faces: Option<usize>,
    /// The compared left face's quality.
    pub left_quality: Option<FaceQuality>,
    /// The compared right face's quality.
    pub right_quality: Option<FaceQuality>,
    /// The compared left face's pose (from its landmarks).
    pub left_pose: Option<Pose>,
    /// The compared right face's pose.
    pub right_pose: Option<Pose>,
}

/// Every pair scored under one face selection.
pub(crate) struct SelectionScores {
    /// For the ranking metrics (10-fold, AUC, TAR@FAR).
    pub scored: Vec<ScoredPair>,
    /// For the error rates.
    pub outcomes: Vec<PairOutcome>,
    /// For the JSON report.
    pub details: Vec<PairDetail>,
    /// Pairs with a face on both sides.
    pub compared: usize,
    /// Pairs decided right at the decline threshold.
    pub correct: usize,
    /// The pairs decided wrong, one line each.
    pub errors: Vec<String>,
}

/// The number of faces found on a photo.
pub(crate) fn face_count(a: &ImageAnalysis) -> usize {
    a.faces.len() + a.undescribed.len()
}

/// The quality of the compared face (the first: the selection puts it there).
pub(crate) fn compared_quality(a: &ImageAnalysis) -> Option<FaceQuality> {
    a.faces.first().and_then(|(_, d)| d.quality)
}

/// The pose of the compared face, estimated from its landmarks.
pub(crate) fn compared_pose(a: &ImageAnalysis) -> Option<Pose> {
    a.faces
        .first()
        .map(|(det, _)| facematch_core::pose::estimate(&det.landmarks))
        .filter(|p| p.yaw.is_finite() && p.pitch.is_finite() && p.roll.is_finite())
}

/// Scores `pairs` from the analyses `analysis` finds, deciding with `options`.
pub(crate) fn score_pairs<'a>(
    pipeline: &Pipeline,
    pairs: &[PairLine],
    analysis: impl Fn(&str) -> Option<&'a ImageAnalysis>,
    options: &CompareOptions,
) -> SelectionScores {
    let metric = pipeline.describer().score_mapping().metric;
    let mut s = SelectionScores {
        scored: Vec::with_capacity(pairs.len()),
        outcomes: Vec::with_capacity(pairs.len()),
        details: Vec::with_capacity(pairs.len()),
        compared: 0,
        correct: 0,
        errors: Vec::new(),
    };
    for p in pairs {
        let (l, r) = (analysis(&p.left), analysis(&p.right));
        // A failure to acquire is rejected at every threshold (LFW's convention).
        let distance = match (
            l.and_then(ImageAnalysis::embedding),
            r.and_then(ImageAnalysis::embedding),
        ) {
            (Some(a), Some(b)) => {
                s.compared += 1;
                Some(metric.distance(a, b))
            }
            _ => None,
        };
        s.scored.push(ScoredPair {
            similarity: distance.map_or(f64::NEG_INFINITY, |d| -f64::from(d)),
            genuine: p.same,
        });
        // The decision exactly as `compare` makes it.
        let decision = pipeline.decide(l, r, options);
        if (decision.status == Status::Approved) == p.same {
            s.correct += 1;
        } else {
            s.errors.push(format!(
                "{}\t{}\tsame={}\tscore={}",
                p.left,
                p.right,
                u8::from(p.same),
                decision.score.map_or("-".into(), |s| s.to_string())
            ));
        }
        let (left_quality, right_quality) =
            (l.and_then(compared_quality), r.and_then(compared_quality));
        s.outcomes.push(PairOutcome {
            genuine: p.same,
            score: decision.score.map(f64::from),
            quality: [
                left_quality.map(|q| q.quality),
                right_quality.map(|q| q.quality),
            ],
        });
        s.details.push(PairDetail {
            left: p.left.clone(),
            right: p.right.clone(),
            same: p.same,
            score: decision.score,
            distance: distance.filter(|d| d.is_finite()),
            status: decision.status,
            left_faces: l.map(face_count),
            right_faces: r.map(face_count),
            left_quality,
            right_quality,
            left_pose: l.and_then(compared_pose),
            right_pose: r.and_then(compared_pose),
        });
    }
    s
}
