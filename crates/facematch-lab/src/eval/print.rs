//! The human-readable `eval` report: the headline figures, then the error rates, the
//! quality bands and the quality levels as small tables.

use facematch_eval::ErrorCounts;

use super::{with_list, EvalReport};

/// The human-readable report.
pub(super) fn print_report(r: &EvalReport) {
    println!(
        "{}: {} pairs ({} same, {} different), {} images, {} threads, {:.1} s, {}",
        r.pairs_file.display(),
        r.pairs,
        r.genuine_pairs,
        r.impostor_pairs,
        r.images,
        r.threads,
        r.seconds,
        if r.rotate { "--rotate" } else { "upright" }
    );
    for (p, e) in &r.unreadable_images {
        println!("  unreadable: {p}: {e}");
    }
    println!(
        "failures to acquire (no face): {}",
        with_list(&r.failures_to_acquire)
    );
    println!("pairs compared: {} of {}", r.pairs_compared, r.pairs);
    println!(
        "10-fold accuracy: {:.2}% ± {:.2}% (mean fold threshold: distance {:.3} ≈ score {:.0})",
        100.0 * r.ten_fold.mean,
        100.0 * r.ten_fold.std,
        r.ten_fold_mean_threshold_distance,
        r.ten_fold_mean_threshold_score
    );
    println!(
        "accuracy at threshold {}: {:.2}% ({} errors)",
        r.threshold,
        100.0 * r.accuracy_at_threshold,
        r.errors_at_threshold.len()
    );
    println!("ROC AUC: {:.4}", r.auc);
    for t in &r.tar_at_far {
        match t.tar {
            Some(tar) => println!(
                "TAR @ FAR {:.0e}: {:.2}% ({} impostor pairs, {} accepted)",
                t.far,
                100.0 * tar,
                t.impostors,
                t.false_accepts
            ),
            None => println!(
                "TAR @ FAR {:.0e}: not enough impostors ({} impostor pairs)",
                t.far, t.impostors
            ),
        }
    }
    if let Some(rot) = &r.rotation {
        println!(
            "best_angle = angle of the best_angle_AAA folder: {:.2}% ({} of {})",
            100.0 * rot.share,
            rot.matched,
            rot.pairs_with_angle
        );
    }
    let o = &r.other_selection;
    println!(
        "with --select {}: 10-fold {:.2}% ± {:.2}%, accuracy at {}: {:.2}%, {} pairs changed",
        o.selection,
        100.0 * o.ten_fold.mean,
        100.0 * o.ten_fold.std,
        r.threshold,
        100.0 * o.accuracy_at_threshold,
        o.pairs_changed
    );
    println!("error rates (accepted: score ≥ threshold; no face: rejected; 95% Wilson intervals):");
    println!("  score  FNMR                                 FMR");
    for row in &r.rates_at_scores {
        println!("  {:>5}  {}", row.score, rates(&row.counts));
    }
    println!(
        "by pair quality (the weaker face), at threshold {}:",
        r.threshold
    );
    println!("  quality    FNMR                                 FMR");
    for band in &r.quality_bands {
        println!("  {:<9}  {}", band.label, rates(&band.counts));
    }
    println!(
        "quality levels at threshold {} (a rejected photo declines its pairs){}:",
        r.threshold,
        if r.quality_cutoffs.is_some() {
            " — cut-offs from --quality-cutoffs"
        } else {
            ""
        }
    );
    println!(
        "  level   min  photos rejected  pairs rejected  compared: errors (removed), error rate  all: errors (removed)  FNMR kept               FMR kept"
    );
    for l in &r.quality_levels {
        println!(
            "  {:<6} {:>4}  {:>15}  {:>14}  {:>38}  {:>21}  {:<22}  {}",
            l.level,
            l.min_quality.map_or("-".into(), |m| format!("{m}")),
            format!("{} of {}", l.photos_rejected, l.photos),
            l.pairs_rejected,
            format!(
                "{}→{} ({}), {}→{}",
                l.compared_errors_before,
                l.compared_errors_after,
                l.compared_errors_removed_share
                    .map_or("-".into(), |s| format!("{:.0}%", 100.0 * s)),
                l.compared_error_rate_before
                    .map_or("-".into(), |s| format!("{:.2}%", 100.0 * s)),
                l.compared_error_rate_after
                    .map_or("-".into(), |s| format!("{:.2}%", 100.0 * s)),
            ),
            format!(
                "{}→{} ({})",
                l.errors_before,
                l.errors_after,
                l.errors_removed_share
                    .map_or("-".into(), |s| format!("{:.0}%", 100.0 * s))
            ),
            rate(l.fnmr_kept, l.fnmr_kept_ci95, l.genuine_kept),
            rate(l.fmr_kept, l.fmr_kept_ci95, l.impostors_kept),
        );
    }
}

/// FNMR and FMR of one row, each with its interval and counts.
fn rates(c: &ErrorCounts) -> String {
    format!(
        "{:<22} {:>5} of {:<6}  {:<22} {:>5} of {}",
        rate(c.fnmr, c.fnmr_ci95, c.genuine),
        c.false_non_matches,
        c.genuine,
        rate(c.fmr, c.fmr_ci95, c.impostors),
        c.false_matches,
        c.impostors
    )
}

/// `2.50% [1.20–4.80]`, or `-` when nothing was measured.
fn rate(rate: Option<f64>, ci: Option<[f64; 2]>, n: usize) -> String {
    match (rate, ci) {
        (Some(r), Some([lo, hi])) if n > 0 => {
            format!("{:>6.2}% [{:.2}–{:.2}]", 100.0 * r, 100.0 * lo, 100.0 * hi)
        }
        _ => format!("{:>6}", "-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_print_as_percent_with_their_interval() {
        assert_eq!(
            rate(Some(0.025), Some([0.012, 0.048]), 40),
            "  2.50% [1.20–4.80]"
        );
        assert_eq!(rate(None, None, 0), "     -");
    }
}
