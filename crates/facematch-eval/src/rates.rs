//! Error rates at a score threshold, with 95% confidence intervals.
//!
//! A pair is accepted when its score is at or above the threshold; a pair without a
//! score (a failure to acquire: no face on one side) is rejected at every threshold,
//! as the decision declines it. The false non-match rate (FNMR) is the share of
//! genuine pairs rejected, the false match rate (FMR) the share of impostor pairs
//! accepted.
//!
//! The interval is **Wilson's score interval** (Wilson 1927; Newcombe 1998, method 3),
//! not Clopper–Pearson's: it is closed-form (no beta quantiles, so no numerics crate),
//! its coverage is close to the nominal 95% on average where Clopper–Pearson's is
//! deliberately above it (wider than needed), and unlike the normal ("Wald") interval
//! it stays inside [0, 1] and does not collapse to zero width when no error is seen —
//! 0 false matches in 3,000 pairs still gives an upper bound of 0.13%.

use serde::Serialize;

/// The normal quantile of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Wilson's 95% score interval `[lo, hi]` for `k` successes in `n` trials; `None`
/// when `n` is 0 (nothing measured) or `k > n`.
pub fn wilson_ci95(k: usize, n: usize) -> Option<[f64; 2]> {
    if n == 0 || k > n {
        return None;
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    // At 0 (or n) successes the bound is exactly 0 (or 1); the formula only gets
    // there up to rounding.
    let lo = if k == 0.0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if k == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    Some([lo, hi])
}

/// `k / n`, or `None` when `n` is 0.
pub fn share(k: usize, n: usize) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

/// One pair as the decision saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairOutcome {
    /// Ground truth: both photos show the same person.
    pub genuine: bool,
    /// The 0–100 score; `None` for a failure to acquire (no face on a side).
    pub score: Option<f64>,
    /// The overall quality (0–100) of the compared face of each photo (left, right);
    /// `None` where there is no face or it was not measured.
    pub quality: [Option<f64>; 2],
}

impl PairOutcome {
    /// Whether the pair is accepted at `threshold` (score at or above it).
    pub fn accepted_at(&self, threshold: f64) -> bool {
        self.score.is_some_and(|s| s >= threshold)
    }

    /// Whether the decision at `threshold` is wrong: a genuine pair rejected or an
    /// impostor pair accepted.
    pub fn is_error_at(&self, threshold: f64) -> bool {
        self.accepted_at(threshold) != self.genuine
    }

    /// The pair's quality: the lower of its two faces', when both are known.
    pub fn pair_quality(&self) -> Option<f64> {
        match self.quality {
            [Some(l), Some(r)] => Some(l.min(r)),
            _ => None,
        }
    }
}

/// Counts of errors among genuine and impostor pairs, with rates and intervals.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ErrorCounts {
    /// Genuine (same-person) pairs counted.
    pub genuine: usize,
    /// Genuine pairs rejected.
    pub false_non_matches: usize,
    /// `false_non_matches / genuine`; `None` without genuine pairs.
    pub fnmr: Option<f64>,
    /// Wilson 95% interval of `fnmr`.
    pub fnmr_ci95: Option<[f64; 2]>,
    /// Impostor (different-person) pairs counted.
    pub impostors: usize,
    /// Impostor pairs accepted.
    pub false_matches: usize,
    /// `false_matches / impostors`; `None` without impostor pairs.
    pub fmr: Option<f64>,
    /// Wilson 95% interval of `fmr`.
    pub fmr_ci95: Option<[f64; 2]>,
}

impl ErrorCounts {
    /// The counts of `pairs` at `threshold` (a failure to acquire is a rejection).
    pub fn at<'a>(pairs: impl IntoIterator<Item = &'a PairOutcome>, threshold: f64) -> Self {
        let (mut genuine, mut fnm, mut impostors, mut fm) = (0, 0, 0, 0);
        for p in pairs {
            let accepted = p.accepted_at(threshold);
            if p.genuine {
                genuine += 1;
                fnm += usize::from(!accepted);
            } else {
                impostors += 1;
                fm += usize::from(accepted);
            }
        }
        Self::from_counts(genuine, fnm, impostors, fm)
    }

    /// Rates and intervals from the four counts.
    pub fn from_counts(
        genuine: usize,
        false_non_matches: usize,
        impostors: usize,
        false_matches: usize,
    ) -> Self {
        Self {
            genuine,
            false_non_matches,
            fnmr: share(false_non_matches, genuine),
            fnmr_ci95: wilson_ci95(false_non_matches, genuine),
            impostors,
            false_matches,
            fmr: share(false_matches, impostors),
            fmr_ci95: wilson_ci95(false_matches, impostors),
        }
    }
}

/// The error rates at one score threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatesAtScore {
    /// The threshold: pairs scoring at or above it are accepted.
    pub score: f64,
    /// The counts and rates.
    #[serde(flatten)]
    pub counts: ErrorCounts,
}

/// The error rates of `pairs` at each of `scores`.
pub fn rates_at_scores(pairs: &[PairOutcome], scores: &[f64]) -> Vec<RatesAtScore> {
    scores
        .iter()
        .map(|&score| RatesAtScore {
            score,
            counts: ErrorCounts::at(pairs, score),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f64; 2], b: [f64; 2]) -> bool {
        (a[0] - b[0]).abs() < 5e-5 && (a[1] - b[1]).abs() < 5e-5
    }

    #[test]
    fn wilson_matches_newcombes_published_intervals() {
        // Newcombe (1998), Statistics in Medicine 17:857, table I, method 3.
        for (k, n, lo, hi) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ] {
            let ci = wilson_ci95(k, n).expect("n > 0");
            assert!(close(ci, [lo, hi]), "{k}/{n}: {ci:?}");
        }
    }

    #[test]
    fn wilson_is_symmetric_and_bounded() {
        let ci = wilson_ci95(5, 10).expect("n > 0");
        assert!((ci[0] + ci[1] - 1.0).abs() < 1e-12, "{ci:?}");
        let all = wilson_ci95(10, 10).expect("n > 0");
        assert_eq!(all[1], 1.0);
        assert!((all[0] - 0.722_467).abs() < 1e-6, "{all:?}");
        // No error seen in 3,000 still bounds the rate at about 3.84 / n.
        assert_eq!(wilson_ci95(0, 7).map(|c| c[0]), Some(0.0));
        let zero = wilson_ci95(0, 3000).expect("n > 0");
        assert_eq!(zero[0], 0.0);
        assert!((zero[1] - 0.001_278_8).abs() < 1e-6, "{zero:?}");
        assert_eq!(wilson_ci95(0, 0), None);
        assert_eq!(wilson_ci95(3, 2), None);
    }

    fn pair(genuine: bool, score: Option<f64>) -> PairOutcome {
        PairOutcome {
            genuine,
            score,
            quality: [None, None],
        }
    }

    #[test]
    fn rates_count_failures_to_acquire_as_rejections() {
        let pairs = [
            pair(true, Some(95.0)),
            pair(true, Some(50.0)),
            pair(true, Some(49.0)),
            pair(true, None),
            pair(false, Some(50.0)),
            pair(false, Some(10.0)),
            pair(false, None),
        ];
        let r = rates_at_scores(&pairs, &[50.0, 96.0]);
        assert_eq!(r[0].score, 50.0);
        let c = r[0].counts;
        assert_eq!((c.genuine, c.false_non_matches), (4, 2));
        assert_eq!((c.impostors, c.false_matches), (3, 1));
        assert_eq!(c.fnmr, Some(0.5));
        assert_eq!(c.fmr, Some(1.0 / 3.0));
        assert_eq!(c.fnmr_ci95, wilson_ci95(2, 4));
        let c = r[1].counts;
        assert_eq!((c.false_non_matches, c.false_matches), (4, 0));
    }

    #[test]
    fn rates_without_a_class_are_null() {
        let c = ErrorCounts::at(&[pair(true, Some(80.0))], 50.0);
        assert_eq!(c.fnmr, Some(0.0));
        assert_eq!((c.impostors, c.fmr, c.fmr_ci95), (0, None, None));
    }

    #[test]
    fn pair_quality_is_the_weaker_face() {
        let mut p = pair(true, Some(80.0));
        assert_eq!(p.pair_quality(), None);
        p.quality = [Some(70.0), Some(35.5)];
        assert_eq!(p.pair_quality(), Some(35.5));
        p.quality = [Some(70.0), None];
        assert_eq!(p.pair_quality(), None);
    }
}
