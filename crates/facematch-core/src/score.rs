//! The one place where a distance between two face embeddings becomes the 0–100 score.
//!
//! Provisional mapping (a calibrated, false-match-rate based table is a later step):
//! a logistic curve of the distance, anchored so that the recognizer's own decision
//! threshold scores exactly 50. It is strictly decreasing in the distance, so every
//! score threshold is a distance threshold and the ordering of pairs is never changed.

use serde::Serialize;

/// How two embeddings are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Metric {
    /// Euclidean distance of the raw vectors (dlib's descriptors).
    Euclidean,
    /// One minus the cosine similarity (ArcFace-style embeddings).
    Cosine,
}

impl Metric {
    /// The distance between `a` and `b` under this metric; `f32::INFINITY` when the
    /// vectors differ in length or are degenerate, so such a pair never matches.
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        if a.len() != b.len() || a.is_empty() {
            return f32::INFINITY;
        }
        match self {
            Metric::Euclidean => a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
                .sqrt(),
            Metric::Cosine => {
                let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
                let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
                if na == 0.0 || nb == 0.0 {
                    f32::INFINITY
                } else {
                    1.0 - dot / (na * nb)
                }
            }
        }
    }
}

/// Distance → score mapping: `score = 100 / (1 + exp((d − anchor) / spread))`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreMapping {
    /// The metric used to compare embeddings.
    pub metric: Metric,
    /// The distance that scores exactly 50 (the model's own decision threshold).
    pub anchor: f32,
    /// How many distance units one logistic unit spans; smaller is steeper.
    pub spread: f32,
}

impl ScoreMapping {
    /// The mapping for dlib's ResNet descriptor: dlib's documented threshold 0.6 ↦ 50.
    /// The spread 0.06 puts dlib's typical same-person distances (0.3–0.5) at 84–99 and
    /// typical different-person distances (0.7–0.9) at 16–1, matching the contract's
    /// bands on the dev pairs (see `docs/`).
    pub const DLIB_RESNET: ScoreMapping = ScoreMapping {
        metric: Metric::Euclidean,
        anchor: 0.6,
        spread: 0.06,
    };

    /// The similarity score in 0–100 (unrounded) of two embeddings.
    pub fn score(&self, a: &[f32], b: &[f32]) -> f32 {
        self.score_of_distance(self.metric.distance(a, b))
    }

    /// The score in 0–100 (unrounded) of a distance.
    pub fn score_of_distance(&self, distance: f32) -> f32 {
        if !distance.is_finite() {
            return 0.0;
        }
        let z = ((distance - self.anchor) / self.spread).clamp(-80.0, 80.0);
        100.0 / (1.0 + z.exp())
    }

    /// The distance at which the score equals `score` (inverse of the mapping), for
    /// reporting thresholds in distance units.
    pub fn distance_of_score(&self, score: f32) -> f32 {
        let s = score.clamp(1e-4, 100.0 - 1e-4);
        self.anchor + self.spread * (100.0 / s - 1.0).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: ScoreMapping = ScoreMapping::DLIB_RESNET;

    #[test]
    fn anchor_scores_fifty_and_mapping_is_strictly_decreasing() {
        assert!((M.score_of_distance(0.6) - 50.0).abs() < 1e-4);
        let mut last = f32::MAX;
        for i in 0..200 {
            let s = M.score_of_distance(i as f32 * 0.01);
            assert!(s < last || s == 0.0, "not decreasing at {i}");
            assert!((0.0..=100.0).contains(&s));
            last = s;
        }
    }

    #[test]
    fn bands_are_sensible_for_typical_dlib_distances() {
        assert!(M.score_of_distance(0.35) >= 90.0);
        assert!(M.score_of_distance(0.5) >= 70.0);
        assert!(M.score_of_distance(0.75) < 30.0);
        assert!(M.score_of_distance(f32::NAN) == 0.0);
        assert!(M.score_of_distance(f32::INFINITY) == 0.0);
    }

    #[test]
    fn inverse_round_trips() {
        for s in [1.0f32, 30.0, 50.0, 70.0, 99.0] {
            assert!((M.score_of_distance(M.distance_of_score(s)) - s).abs() < 1e-2);
        }
    }

    #[test]
    fn metrics_on_known_vectors() {
        let a = [1.0, 0.0];
        let b = [0.0, 1.0];
        assert!((Metric::Euclidean.distance(&a, &b) - 2f32.sqrt()).abs() < 1e-6);
        assert!((Metric::Cosine.distance(&a, &b) - 1.0).abs() < 1e-6);
        assert!(Metric::Cosine.distance(&a, &a).abs() < 1e-6);
        assert_eq!(Metric::Euclidean.distance(&a, &[1.0]), f32::INFINITY);
        assert_eq!(Metric::Cosine.distance(&[0.0, 0.0], &a), f32::INFINITY);
    }
}
