//! Verification metrics on scored pairs: higher similarity means "more likely the same
//! person", and a pair is accepted when its similarity is at or above the threshold.
//! A pair where a face could not be found (failure to acquire) is scored
//! `f64::NEG_INFINITY`, so it is rejected at every threshold, as LFW's protocol counts it.

use std::cmp::Ordering;

use serde::Serialize;

use crate::EvalError;

/// One compared pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoredPair {
    /// Higher = more similar (for a distance, pass its negation).
    pub similarity: f64,
    /// Ground truth: both photos show the same person.
    pub genuine: bool,
}

/// LFW-protocol 10-fold accuracy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenFold {
    /// Accuracy of each fold at the threshold chosen on the other nine.
    pub fold_accuracies: Vec<f64>,
    /// The threshold each fold was tested at.
    pub fold_thresholds: Vec<f64>,
    /// Mean of the fold accuracies.
    pub mean: f64,
    /// Population standard deviation of the fold accuracies (as the LFW reference code
    /// and most papers report it).
    pub std: f64,
}

/// True accept rate at a fixed false accept rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TarAtFar {
    /// The requested false accept rate.
    pub far: f64,
    /// Impostor pairs available.
    pub impostors: usize,
    /// Share of genuine pairs accepted; `None` when `far × impostors < 1` (not enough
    /// impostors to measure that rate).
    pub tar: Option<f64>,
    /// Similarity that a pair must exceed (strictly) to be accepted.
    pub threshold: Option<f64>,
    /// Impostor pairs accepted at that threshold (at most `far × impostors`).
    pub false_accepts: usize,
}

fn check(pairs: &[ScoredPair]) -> Result<(), EvalError> {
    if pairs.is_empty() {
        return Err(EvalError::NotEnoughData("no pairs".into()));
    }
    if pairs.iter().any(|p| p.similarity.is_nan()) {
        return Err(EvalError::InvalidValue("a similarity is NaN".into()));
    }
    Ok(())
}

/// Share of pairs decided right when accepting `similarity >= threshold`.
pub fn accuracy_at(pairs: &[ScoredPair], threshold: f64) -> Result<f64, EvalError> {
    check(pairs)?;
    let correct = pairs
        .iter()
        .filter(|p| (p.similarity >= threshold) == p.genuine)
        .count();
    Ok(correct as f64 / pairs.len() as f64)
}

/// The threshold with the best accuracy on `pairs`. Candidates are the observed
/// similarities (accept everything at or above one) and "accept none"; the winner is
/// moved to the midpoint below it so that it generalises to unseen pairs. When
/// several thresholds tie for the best accuracy, the median of them is taken, so the
/// choice does not lean towards accepting or rejecting more.
pub fn best_threshold(pairs: &[ScoredPair]) -> Result<f64, EvalError> {
    check(pairs)?;
    let mut sorted: Vec<ScoredPair> = pairs.to_vec();
    sorted.sort_by(|a, b| a.similarity.total_cmp(&b.similarity));
    let genuine_total = sorted.iter().filter(|p| p.genuine).count();
    // Threshold = sorted[i].similarity accepts sorted[i..] (after skipping equal values).
    let (mut genuine_below, mut impostor_below) = (0usize, 0usize);
    let mut candidates: Vec<(usize, f64)> = Vec::new(); // (correct, threshold)
    let mut i = 0;
    while i <= sorted.len() {
        let correct = genuine_total - genuine_below + impostor_below;
        let threshold = match sorted.get(i) {
            Some(p) => {
                let below = i.checked_sub(1).map(|j| sorted[j].similarity);
                match below {
                    Some(b) if b.is_finite() && p.similarity.is_finite() => {
                        (b + p.similarity) / 2.0
                    }
                    _ => p.similarity,
                }
            }
            None => f64::INFINITY,
        };
        // A threshold of −∞ would accept failures to acquire: never choose it.
        if threshold > f64::NEG_INFINITY {
            candidates.push((correct, threshold));
        }
        // Move past every pair with this similarity.
        let Some(v) = sorted.get(i).map(|p| p.similarity) else {
            break;
        };
        while let Some(p) = sorted.get(i) {
            if p.similarity.total_cmp(&v) != Ordering::Equal {
                break;
            }
            if p.genuine {
                genuine_below += 1;
            } else {
                impostor_below += 1;
            }
            i += 1;
        }
    }
    let most = candidates.iter().map(|c| c.0).max().unwrap_or(0);
    let best: Vec<f64> = candidates
        .iter()
        .filter(|c| c.0 == most)
        .map(|c| c.1)
        .collect();
    Ok(best.get(best.len() / 2).copied().unwrap_or(f64::INFINITY))
}

/// LFW-protocol 10-fold accuracy: the folds are consecutive tenths of `pairs` (in
/// file order); each fold is tested at the best threshold of the other nine.
pub fn ten_fold_accuracy(pairs: &[ScoredPair]) -> Result<TenFold, EvalError> {
    check(pairs)?;
    let n = pairs.len();
    if n < 10 {
        return Err(EvalError::NotEnoughData(format!(
            "10 folds need at least 10 pairs, got {n}"
        )));
    }
    let bounds: Vec<(usize, usize)> = (0..10).map(|k| (k * n / 10, (k + 1) * n / 10)).collect();
    let mut fold_accuracies = Vec::with_capacity(10);
    let mut fold_thresholds = Vec::with_capacity(10);
    for &(lo, hi) in &bounds {
        let train: Vec<ScoredPair> = pairs[..lo].iter().chain(&pairs[hi..]).copied().collect();
        let t = best_threshold(&train)?;
        fold_accuracies.push(accuracy_at(&pairs[lo..hi], t)?);
        fold_thresholds.push(t);
    }
    let mean = fold_accuracies.iter().sum::<f64>() / 10.0;
    let std = (fold_accuracies
        .iter()
        .map(|a| (a - mean) * (a - mean))
        .sum::<f64>()
        / 10.0)
        .sqrt();
    Ok(TenFold {
        fold_accuracies,
        fold_thresholds,
        mean,
        std,
    })
}

/// Area under the ROC curve: the probability that a random genuine pair is more
/// similar than a random impostor pair, ties counting one half (Mann–Whitney U with
/// average ranks).
pub fn roc_auc(pairs: &[ScoredPair]) -> Result<f64, EvalError> {
    check(pairs)?;
    let n_pos = pairs.iter().filter(|p| p.genuine).count();
    let n_neg = pairs.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Err(EvalError::NotEnoughData(
            "AUC needs genuine and impostor pairs".into(),
        ));
    }
    let mut sorted: Vec<ScoredPair> = pairs.to_vec();
    sorted.sort_by(|a, b| a.similarity.total_cmp(&b.similarity));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len()
            && sorted[j]
                .similarity
                .total_cmp(&sorted[i].similarity)
                .is_eq()
        {
            j += 1;
        }
        // Ranks i+1 ..= j share their average.
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum_pos += avg_rank * sorted[i..j].iter().filter(|p| p.genuine).count() as f64;
        i = j;
    }
    let u = rank_sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Ok(u / (n_pos as f64 * n_neg as f64))
}

/// TAR at `far`: the threshold is the `(k+1)`-th highest impostor similarity with
/// `k = ⌊far × impostors⌋`, and a pair is accepted when strictly above it, so at most
/// `k` impostors pass even with ties.
pub fn tar_at_far(pairs: &[ScoredPair], far: f64) -> Result<TarAtFar, EvalError> {
    check(pairs)?;
    let mut impostors: Vec<f64> = pairs
        .iter()
        .filter(|p| !p.genuine)
        .map(|p| p.similarity)
        .collect();
    let genuine: Vec<f64> = pairs
        .iter()
        .filter(|p| p.genuine)
        .map(|p| p.similarity)
        .collect();
    if genuine.is_empty() {
        return Err(EvalError::NotEnoughData("no genuine pairs".into()));
    }
    let n_imp = impostors.len();
    let allowed = far * n_imp as f64;
    // NaN (an invalid far) also lands here.
    if allowed.is_nan() || allowed < 1.0 {
        return Ok(TarAtFar {
            far,
            impostors: n_imp,
            tar: None,
            threshold: None,
            false_accepts: 0,
        });
    }
    impostors.sort_by(|a, b| b.total_cmp(a));
    let k = (allowed.floor() as usize).min(n_imp);
    let (threshold, false_accepts, tar) = match impostors.get(k) {
        Some(&t) => {
            let fa = impostors.iter().filter(|&&s| s > t).count();
            let ta = genuine.iter().filter(|&&s| s > t).count();
            (t, fa, ta as f64 / genuine.len() as f64)
        }
        // far ≥ 1: every pair may be accepted.
        None => (f64::NEG_INFINITY, n_imp, 1.0),
    };
    Ok(TarAtFar {
        far,
        impostors: n_imp,
        tar: Some(tar),
        threshold: Some(threshold),
        false_accepts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(similarity: f64, genuine: bool) -> ScoredPair {
        ScoredPair {
            similarity,
            genuine,
        }
    }

    /// 100 pairs alternating genuine (1.0) and impostor (0.0), with pair 5 (fold 0) a
    /// genuine pair scored like an impostor.
    fn hundred_with_one_error() -> Vec<ScoredPair> {
        (0..100)
            .map(|i| {
                let genuine = i % 2 == 1;
                let s = if genuine && i != 5 { 1.0 } else { 0.0 };
                p(s, genuine)
            })
            .collect()
    }

    #[test]
    fn ten_fold_on_a_separable_set_is_perfect() {
        let clean: Vec<_> = (0..40)
            .map(|i| p(if i % 2 == 0 { 0.9 } else { 0.1 }, i % 2 == 0))
            .collect();
        let r = ten_fold_accuracy(&clean).expect("ten fold");
        assert_eq!(r.mean, 1.0);
        assert_eq!(r.std, 0.0);
        for t in &r.fold_thresholds {
            assert!((t - 0.5).abs() < 1e-12, "midpoint threshold, got {t}");
        }
    }

    #[test]
    fn ten_fold_with_one_error_has_known_mean_and_std() {
        let r = ten_fold_accuracy(&hundred_with_one_error()).expect("ten fold");
        assert!((r.fold_accuracies[0] - 0.9).abs() < 1e-12);
        assert!(r.fold_accuracies[1..].iter().all(|&a| a == 1.0));
        assert!((r.mean - 0.99).abs() < 1e-12);
        // sqrt(((0.9-0.99)² + 9·(1-0.99)²)/10) = 0.03
        assert!((r.std - 0.03).abs() < 1e-12);
    }

    #[test]
    fn folds_are_consecutive_tenths_of_the_file() {
        // All errors in the last tenth: only fold 9 suffers.
        let mut pairs: Vec<_> = (0..50).map(|i| p(f64::from(i % 2), i % 2 == 1)).collect();
        for q in &mut pairs[45..] {
            q.genuine = !q.genuine;
        }
        let r = ten_fold_accuracy(&pairs).expect("ten fold");
        assert_eq!(r.fold_accuracies[9], 0.0);
        assert!(r.fold_accuracies[..9].iter().all(|&a| a == 1.0));
        assert!(matches!(
            ten_fold_accuracy(&pairs[..9]),
            Err(EvalError::NotEnoughData(_))
        ));
    }

    #[test]
    fn accuracy_at_threshold_counts_ties_as_accepted() {
        let pairs = [p(0.5, true), p(0.5, false), p(0.2, false), p(0.9, true)];
        assert_eq!(accuracy_at(&pairs, 0.5).expect("acc"), 0.75);
        assert_eq!(accuracy_at(&pairs, 0.6).expect("acc"), 0.75);
        assert_eq!(accuracy_at(&pairs, 1.0).expect("acc"), 0.5);
        assert!(matches!(
            accuracy_at(&[], 0.5),
            Err(EvalError::NotEnoughData(_))
        ));
        assert!(matches!(
            accuracy_at(&[p(f64::NAN, true)], 0.5),
            Err(EvalError::InvalidValue(_))
        ));
    }

    #[test]
    fn tied_best_thresholds_give_their_median() {
        // Separable: only "accept ≥ 5" is perfect; it becomes the midpoint 3.
        let pairs = [p(0.0, false), p(1.0, false), p(5.0, true), p(6.0, true)];
        assert_eq!(best_threshold(&pairs).expect("best"), 3.0);
        // Impostor 0, genuine 5, impostor 6, genuine 7: "≥ 5" (2.5) and "≥ 7" (6.5)
        // both make one error; ≥ 0, ≥ 6 and none make two. Three-way ties would take
        // the middle one; of two, the upper.
        let pairs = [p(0.0, false), p(5.0, true), p(6.0, false), p(7.0, true)];
        assert_eq!(best_threshold(&pairs).expect("best"), 6.5);
        let pairs = [p(0.0, false), p(7.0, false), p(5.0, true), p(6.0, true)];
        assert_eq!(best_threshold(&pairs).expect("best"), 2.5);
    }

    #[test]
    fn failures_to_acquire_are_always_rejected() {
        let pairs = [
            p(f64::NEG_INFINITY, true),
            p(f64::NEG_INFINITY, false),
            p(1.0, true),
        ];
        assert!((accuracy_at(&pairs, 0.0).expect("acc") - 2.0 / 3.0).abs() < 1e-12);
        // Candidates: "accept ≥ 1.0" (right on the impostor and the scored genuine
        // pair: 2 of 3) and "accept none" (1 of 3); −∞ is never one. No finite
        // neighbour below 1.0, so no midpoint: the threshold is 1.0 itself.
        assert_eq!(best_threshold(&pairs).expect("best"), 1.0);
        // Even where accepting everything (−∞) would be right most often, it is not
        // chosen: two failed genuine pairs and one impostor at 1.0 leave "accept none".
        let pairs = [
            p(f64::NEG_INFINITY, true),
            p(f64::NEG_INFINITY, true),
            p(1.0, false),
        ];
        assert_eq!(best_threshold(&pairs).expect("best"), f64::INFINITY);
    }

    #[test]
    fn auc_handles_ties_as_one_half() {
        let pairs = [p(1.0, true), p(0.5, true), p(0.5, false), p(0.0, false)];
        assert!((roc_auc(&pairs).expect("auc") - 0.875).abs() < 1e-12);
        let all_tied = [p(0.3, true), p(0.3, false), p(0.3, false)];
        assert!((roc_auc(&all_tied).expect("auc") - 0.5).abs() < 1e-12);
        let perfect = [p(2.0, true), p(1.0, false)];
        assert_eq!(roc_auc(&perfect).expect("auc"), 1.0);
        let inverted = [p(0.0, true), p(1.0, false)];
        assert_eq!(roc_auc(&inverted).expect("auc"), 0.0);
        assert!(matches!(
            roc_auc(&[p(1.0, true)]),
            Err(EvalError::NotEnoughData(_))
        ));
    }

    #[test]
    fn tar_at_far_uses_the_kth_impostor_and_says_when_there_are_too_few() {
        let mut pairs: Vec<_> = (0..10).map(|i| p(f64::from(i) / 10.0, false)).collect();
        pairs.extend([p(0.95, true), p(0.85, true), p(0.5, true)]);
        let r = tar_at_far(&pairs, 0.1).expect("tar");
        assert_eq!(r.impostors, 10);
        assert_eq!(r.threshold, Some(0.8));
        assert_eq!(r.false_accepts, 1);
        assert!((r.tar.expect("enough") - 2.0 / 3.0).abs() < 1e-12);
        let r = tar_at_far(&pairs, 0.2).expect("tar");
        assert_eq!((r.threshold, r.false_accepts), (Some(0.7), 2));
        let r = tar_at_far(&pairs, 0.01).expect("tar");
        assert_eq!(r.tar, None);
        assert_eq!(r.impostors, 10);
        // Ties at the threshold are rejected, so FAR never exceeds the target.
        let tied = [p(0.5, false), p(0.5, false), p(0.5, true), p(0.6, true)];
        let r = tar_at_far(&tied, 0.5).expect("tar");
        assert_eq!(r.false_accepts, 0);
        assert_eq!(r.tar, Some(0.5));
    }
}
