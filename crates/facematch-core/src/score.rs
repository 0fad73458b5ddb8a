//! The one place where a distance between two face embeddings becomes the 0–100 score.
//!
//! The score is a false-match rate (FMR) on a log scale, the same for every model,
//! fixed by [`FMR_ANCHORS`] and log-linear between them: score 30 ⇔ FMR 1e-2,
//! 50 ⇔ 3e-3, 70 ⇔ 1e-3, 90 ⇔ 1e-4, 100 ⇔ 1e-5, 0 ⇔ 1 ([`score_of_fmr`],
//! [`fmr_of_score`]). Why these anchors: the contract's default decline threshold 30
//! then admits one impostor in a hundred, about where dlib's own threshold 0.6 lies;
//! 50 (the usual stricter threshold) sits where the dev pairs are classified best;
//! and the contract's bands 70 ("likely the same person") and 90 ("same person")
//! stand for one in a thousand and one in ten thousand, which the calibration data
//! still measures. What a
//! model's distances mean in FMR is
//! measured on impostor pairs and shipped with the model as a [`CalibrationTable`]
//! (built by `facematch calibrate`); [`ScoreMapping`] turns such a table into a
//! strictly decreasing, piecewise-linear function of the distance. Because it is
//! strictly decreasing, every score threshold is a distance threshold and the
//! ordering of pairs is never changed.

use serde::{Deserialize, Serialize};

/// The scale: (score, false-match rate) pairs, score increasing; between two anchors
/// the score is linear in log10 FMR.
pub const FMR_ANCHORS: [(f64, f64); 6] = [
    (0.0, 1.0),
    (30.0, 1e-2),
    (50.0, 3e-3),
    (70.0, 1e-3),
    (90.0, 1e-4),
    (100.0, 1e-5),
];

/// The anchors as text, e.g. for a calibration table's notes.
pub fn fmr_scale_description() -> String {
    FMR_ANCHORS
        .iter()
        .map(|(s, f)| format!("{s} = FMR {f:.0e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A mapping or FMR that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScoreError {
    /// A target false-match rate outside (0, 1].
    #[error("a false-match rate must be a number in (0, 1], not {0}")]
    InvalidFmr(f64),
    /// A calibration whose knots do not form a strictly decreasing 0–100 curve.
    #[error("invalid calibration: {0}")]
    InvalidCalibration(String),
}

/// The score (0–100, unrounded) that stands for a false-match rate.
pub fn score_of_fmr(fmr: f64) -> f64 {
    if fmr.is_nan() {
        return 0.0;
    }
    if fmr <= 0.0 {
        return 100.0;
    }
    let x = fmr.log10();
    for w in FMR_ANCHORS.windows(2) {
        let ((s0, f0), (s1, f1)) = (w[0], w[1]);
        let (x0, x1) = (f0.log10(), f1.log10());
        if x >= x1 {
            return (s0 + (s1 - s0) * (x0 - x) / (x0 - x1)).clamp(0.0, 100.0);
        }
    }
    100.0
}

/// The false-match rate that a score stands for (inverse of [`score_of_fmr`] on
/// 0–100; score 0 stands for FMR 1, score 100 for 1e-5).
pub fn fmr_of_score(score: f64) -> f64 {
    let s = if score.is_nan() {
        0.0
    } else {
        score.clamp(0.0, 100.0)
    };
    for w in FMR_ANCHORS.windows(2) {
        let ((s0, f0), (s1, f1)) = (w[0], w[1]);
        if s <= s1 {
            let (x0, x1) = (f0.log10(), f1.log10());
            return 10f64.powf(x0 + (x1 - x0) * (s - s0) / (s1 - s0));
        }
    }
    FMR_ANCHORS[FMR_ANCHORS.len() - 1].1
}

/// The decline threshold (a 0–100 score) that keeps the false-match rate at or below
/// `fmr`: the request-level knob `face_match_target_fmr`. Decisions compare the
/// rounded integer score, so the effective FMR is within half a score point (about
/// 6 %) of the target.
pub fn threshold_for_fmr(fmr: f64) -> Result<f32, ScoreError> {
    if !fmr.is_finite() || fmr <= 0.0 || fmr > 1.0 {
        return Err(ScoreError::InvalidFmr(fmr));
    }
    Ok(score_of_fmr(fmr) as f32)
}

/// How two embeddings are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// One row of a calibration table: the distance at which a score's FMR is reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRow {
    /// The score (0–100).
    pub score: f32,
    /// The distance threshold: pairs at or below it score at least `score`.
    pub distance: f32,
    /// The FMR that `score` stands for ([`fmr_of_score`]).
    pub fmr: f64,
    /// Impostor pairs at or below `distance` in the calibration data.
    pub impostors_matched: u64,
    /// Share of genuine pairs above `distance` (false non-match rate) in the data.
    pub fnmr: f64,
    /// True where the FMR is below what the data can measure and the distance was
    /// extrapolated (see the table's notes).
    pub extrapolated: bool,
}

/// A model's measured distance → FMR table, shipped with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationTable {
    /// Which recognizer (and pre-processing) the table belongs to.
    pub model: String,
    /// The metric whose distances the rows hold.
    pub metric: Metric,
    /// How the score is defined from the FMR.
    pub score_definition: String,
    /// The command that built the table.
    pub command: String,
    /// The data it was measured on.
    pub data: String,
    /// Number of impostor (different-person) pairs.
    pub impostor_pairs: u64,
    /// Number of genuine (same-person) pairs.
    pub genuine_pairs: u64,
    /// How to read the table: what is measured, what is extrapolated and how.
    pub notes: Vec<String>,
    /// Rows by increasing distance and decreasing score.
    pub rows: Vec<CalibrationRow>,
}

/// Distance → score: a strictly decreasing piecewise-linear curve through knots
/// `(distance, score)`. Below the first knot the score is the first knot's, above
/// the last the last knot's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreMapping {
    /// The metric used to compare embeddings.
    pub metric: Metric,
    /// `(distance, score)`, distance strictly increasing, score strictly decreasing.
    knots: Vec<(f32, f32)>,
}

impl ScoreMapping {
    /// A mapping through `knots` (`(distance, score)`): at least two, finite, distance
    /// strictly increasing, score strictly decreasing within 0–100.
    pub fn from_knots(metric: Metric, knots: &[(f32, f32)]) -> Result<Self, ScoreError> {
        let bad = |why: &str| Err(ScoreError::InvalidCalibration(why.to_string()));
        if knots.len() < 2 {
            return bad("fewer than two knots");
        }
        if knots
            .iter()
            .any(|(d, s)| !d.is_finite() || !s.is_finite() || !(0.0..=100.0).contains(s))
        {
            return bad("a knot is not finite or its score is outside 0–100");
        }
        if knots
            .windows(2)
            .any(|w| w[1].0 <= w[0].0 || w[1].1 >= w[0].1)
        {
            return bad("knots are not strictly increasing in distance and decreasing in score");
        }
        Ok(Self {
            metric,
            knots: knots.to_vec(),
        })
    }

    /// The mapping of a calibration table (its rows are the knots).
    pub fn from_table(table: &CalibrationTable) -> Result<Self, ScoreError> {
        let knots: Vec<(f32, f32)> = table.rows.iter().map(|r| (r.distance, r.score)).collect();
        Self::from_knots(table.metric, &knots)
    }

    /// The knots, `(distance, score)`.
    pub fn knots(&self) -> &[(f32, f32)] {
        &self.knots
    }

    /// The similarity score in 0–100 (unrounded) of two embeddings.
    pub fn score(&self, a: &[f32], b: &[f32]) -> f32 {
        self.score_of_distance(self.metric.distance(a, b))
    }

    /// The score in 0–100 (unrounded) of a distance; 0 for NaN or infinity.
    pub fn score_of_distance(&self, distance: f32) -> f32 {
        if !distance.is_finite() {
            return 0.0;
        }
        interpolate(&self.knots, distance, |k| k.0, |k| k.1, false)
    }

    /// The distance at which the score equals `score` (the inverse), for reporting
    /// thresholds in distance units; clamped to the knots' range.
    pub fn distance_of_score(&self, score: f32) -> f32 {
        interpolate(&self.knots, score, |k| k.1, |k| k.0, true)
    }
}

/// Piecewise-linear interpolation of `y(x)` through `knots`, whose `x` is increasing
/// (or decreasing when `x_decreasing`); clamped at both ends.
fn interpolate(
    knots: &[(f32, f32)],
    x: f32,
    kx: impl Fn(&(f32, f32)) -> f32,
    ky: impl Fn(&(f32, f32)) -> f32,
    x_decreasing: bool,
) -> f32 {
    let before = |a: f32, b: f32| if x_decreasing { a > b } else { a < b };
    let (Some(first), Some(last)) = (knots.first(), knots.last()) else {
        return 0.0;
    };
    if !before(kx(first), x) {
        return ky(first);
    }
    if !before(x, kx(last)) {
        return ky(last);
    }
    for w in knots.windows(2) {
        let (x0, x1) = (kx(&w[0]), kx(&w[1]));
        if !before(x1, x) {
            let t = (x - x0) / (x1 - x0);
            return ky(&w[0]) + t * (ky(&w[1]) - ky(&w[0]));
        }
    }
    ky(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> ScoreMapping {
        ScoreMapping::from_knots(
            Metric::Euclidean,
            &[
                (0.0, 100.0),
                (0.4, 70.0),
                (0.5, 50.0),
                (0.6, 30.0),
                (0.8, 0.0),
            ],
        )
        .expect("valid knots")
    }

    #[test]
    fn the_fmr_scale_has_its_anchors() {
        for (score, fmr) in FMR_ANCHORS {
            assert!((score_of_fmr(fmr) - score).abs() < 1e-9, "{fmr}");
            assert!((fmr_of_score(score) / fmr - 1.0).abs() < 1e-9, "{score}");
        }
        assert_eq!(score_of_fmr(1.0), 0.0);
        assert_eq!(score_of_fmr(1e-9), 100.0);
        assert_eq!(score_of_fmr(0.0), 100.0);
        assert_eq!(score_of_fmr(f64::NAN), 0.0);
        // Strictly decreasing in the FMR over the whole scale, and invertible.
        let mut last = -1.0;
        for i in 0..=50 {
            let fmr = 10f64.powf(-f64::from(i) / 10.0);
            let s = score_of_fmr(fmr);
            assert!(s > last, "not increasing at {fmr}");
            assert!((fmr_of_score(s) / fmr - 1.0).abs() < 1e-9);
            last = s;
        }
    }

    #[test]
    fn threshold_for_fmr_validates_and_maps() {
        assert_eq!(threshold_for_fmr(1e-4), Ok(90.0));
        assert_eq!(threshold_for_fmr(1e-3), Ok(70.0));
        assert_eq!(threshold_for_fmr(1e-2), Ok(30.0));
        // Between anchors the scale is log-linear: 10^-3.5 is halfway from 70 to 90.
        assert!((threshold_for_fmr(10f64.powf(-3.5)).expect("valid") - 80.0).abs() < 1e-4);
        assert_eq!(threshold_for_fmr(1.0), Ok(0.0));
        for bad in [0.0, -1e-3, 1.5, f64::NAN, f64::INFINITY] {
            assert!(threshold_for_fmr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mapping_passes_through_knots_and_is_strictly_decreasing_inside() {
        let m = mapping();
        assert_eq!(m.score_of_distance(0.0), 100.0);
        assert!((m.score_of_distance(0.5) - 50.0).abs() < 1e-4);
        assert!((m.score_of_distance(0.45) - 60.0).abs() < 1e-3);
        let mut last = f32::MAX;
        for i in 0..=80 {
            let s = m.score_of_distance(i as f32 * 0.01);
            assert!(s < last, "not decreasing at {i}");
            assert!((0.0..=100.0).contains(&s));
            last = s;
        }
        assert_eq!(m.score_of_distance(-1.0), 100.0);
        assert_eq!(m.score_of_distance(2.0), 0.0);
        assert_eq!(m.score_of_distance(f32::NAN), 0.0);
        assert_eq!(m.score_of_distance(f32::INFINITY), 0.0);
    }

    #[test]
    fn inverse_round_trips() {
        let m = mapping();
        for s in [1.0f32, 30.0, 45.0, 50.0, 70.0, 99.0] {
            assert!((m.score_of_distance(m.distance_of_score(s)) - s).abs() < 1e-3);
        }
        assert_eq!(m.distance_of_score(100.0), 0.0);
        assert_eq!(m.distance_of_score(0.0), 0.8);
    }

    #[test]
    fn invalid_knots_are_refused() {
        let e = Metric::Euclidean;
        assert!(ScoreMapping::from_knots(e, &[(0.0, 100.0)]).is_err());
        assert!(ScoreMapping::from_knots(e, &[(0.0, 100.0), (0.0, 50.0)]).is_err());
        assert!(ScoreMapping::from_knots(e, &[(0.0, 100.0), (0.5, 100.0)]).is_err());
        assert!(ScoreMapping::from_knots(e, &[(0.0, 120.0), (0.5, 10.0)]).is_err());
        assert!(ScoreMapping::from_knots(e, &[(0.0, 100.0), (f32::NAN, 10.0)]).is_err());
    }

    #[test]
    fn a_table_becomes_its_knots() {
        let row = |score: f32, distance: f32| CalibrationRow {
            score,
            distance,
            fmr: fmr_of_score(f64::from(score)),
            impostors_matched: 0,
            fnmr: 0.0,
            extrapolated: false,
        };
        let table = CalibrationTable {
            model: "test".into(),
            metric: Metric::Cosine,
            score_definition: String::new(),
            command: String::new(),
            data: String::new(),
            impostor_pairs: 0,
            genuine_pairs: 0,
            notes: vec![],
            rows: vec![row(100.0, 0.0), row(50.0, 0.3), row(0.0, 0.9)],
        };
        let m = ScoreMapping::from_table(&table).expect("valid");
        assert_eq!(m.metric, Metric::Cosine);
        assert_eq!(m.knots(), &[(0.0, 100.0), (0.3, 50.0), (0.9, 0.0)]);
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
