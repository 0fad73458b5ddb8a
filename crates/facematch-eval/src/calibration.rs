//! Builds a model's calibration table (distance → FMR, FNMR) from the distances of
//! impostor and genuine pairs; [`facematch_core::score::ScoreMapping::from_table`]
//! turns it into the score.
//!
//! Rows are placed on a grid of scores. For each score the FMR it stands for
//! ([`fmr_of_score`]) is looked up in the impostor distances as a quantile, as long as
//! at least `min_matched` impostor pairs fall at or below it ("measured"). Below that,
//! log10 FMR is extrapolated as a straight line in the distance, fitted on the measured
//! rows with FMR ≤ `fit_max_fmr`. Impostor distances of face recognizers have a
//! roughly Gaussian lower tail, whose log falls faster than a line, so the line
//! overstates the FMR there: the extrapolated scores err on the low (safe) side.

use facematch_core::score::{
    fmr_of_score, fmr_scale_description, CalibrationRow, CalibrationTable, Metric,
};

use crate::EvalError;

/// How the table is built and described.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationOptions {
    /// Model name written into the table.
    pub model: String,
    /// Metric of the distances.
    pub metric: Metric,
    /// The command that built the table.
    pub command: String,
    /// Description of the data.
    pub data: String,
    /// Score step of the rows (e.g. 5).
    pub step: f64,
    /// Fewest impostor pairs at or below a distance for its FMR to count as measured.
    pub min_matched: usize,
    /// The tail fit uses measured rows with FMR at or below this.
    pub fit_max_fmr: f64,
    /// Highest extrapolated score; above it the curve runs straight to 100 at distance
    /// 0 (identical embeddings).
    pub top_score: f64,
}

impl Default for CalibrationOptions {
    fn default() -> Self {
        Self {
            model: String::new(),
            metric: Metric::Euclidean,
            command: String::new(),
            data: String::new(),
            step: 5.0,
            min_matched: 10,
            fit_max_fmr: 1e-2,
            top_score: 95.0,
        }
    }
}

/// The distance below which `k` of the sorted impostor distances lie (linear between
/// order statistics; `k ≥ 1`).
fn quantile(sorted: &[f64], k: f64) -> f64 {
    let lo = (k.floor() as usize).clamp(1, sorted.len());
    let frac = k - lo as f64;
    match sorted.get(lo) {
        Some(&next) => sorted[lo - 1] + frac * (next - sorted[lo - 1]),
        None => sorted[lo - 1],
    }
}

/// Least-squares line `y = a + b·x`.
fn fit_line(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let b = sxy / sxx;
    Some((my - b * mx, b))
}

/// Builds the table from pair distances (non-finite distances are left out).
pub fn build_calibration(
    impostor: &[f64],
    genuine: &[f64],
    options: &CalibrationOptions,
) -> Result<CalibrationTable, EvalError> {
    let mut imp: Vec<f64> = impostor.iter().copied().filter(|d| d.is_finite()).collect();
    let gen: Vec<f64> = genuine.iter().copied().filter(|d| d.is_finite()).collect();
    if imp.len() < options.min_matched.max(1) * 100 || gen.is_empty() {
        return Err(EvalError::NotEnoughData(format!(
            "{} impostor and {} genuine distances",
            imp.len(),
            gen.len()
        )));
    }
    if options.step.is_nan() || options.step <= 0.0 {
        return Err(EvalError::InvalidValue(
            "score step must be positive".into(),
        ));
    }
    imp.sort_by(f64::total_cmp);
    let n = imp.len() as f64;
    let matched = |d: f64| imp.partition_point(|&x| x <= d) as u64;
    let fnmr = |d: f64| gen.iter().filter(|&&g| g > d).count() as f64 / gen.len() as f64;
    let row = |score: f64, distance: f64, extrapolated: bool| CalibrationRow {
        score: score as f32,
        distance: distance as f32,
        fmr: fmr_of_score(score),
        impostors_matched: matched(distance),
        fnmr: fnmr(distance),
        extrapolated,
    };

    // Measured rows, from score 0 upwards while enough impostors lie below.
    let mut rows = Vec::new();
    let mut score = 0.0;
    while score <= 100.0 {
        let k = fmr_of_score(score) * n;
        // The tolerance keeps 1e-4 × 100 000 (= 9.999…) from falling short of 10.
        if k < options.min_matched as f64 - 1e-6 {
            break;
        }
        rows.push(row(score, quantile(&imp, k), false));
        score += options.step;
    }
    let measured_top = rows.last().map_or(0.0, |r| f64::from(r.score));
    let fit_points: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.fmr <= options.fit_max_fmr)
        .map(|r| (f64::from(r.distance), r.fmr.log10()))
        .collect();
    let mut notes = vec![
        format!(
            "Score s stands for an FMR, log-linear between the anchors {}. \
             A pair scores at least s when its distance is at or below the row's distance.",
            fmr_scale_description()
        ),
        format!(
            "Measured: rows up to score {measured_top} (FMR {:.1e}), where at least {} of the {} impostor pairs \
             lie at or below the distance; between rows the score is linear in the distance.",
            fmr_of_score(measured_top),
            options.min_matched,
            imp.len()
        ),
    ];
    // Only scores the data cannot measure are extrapolated (none when the measured
    // rows already reach 100).
    if measured_top + options.step <= options.top_score + 1e-9 {
        match fit_line(&fit_points).filter(|&(_, b)| b > 0.0) {
            Some((a, b)) => {
                notes.push(format!(
                    "Extrapolated (extrapolated = true): above score {measured_top} up to {}, log10 FMR = {a:.3} + {b:.3} * distance, \
                     a line fitted on the {} measured rows with FMR <= {:.0e}; a Gaussian-like impostor tail falls faster, \
                     so these rows overstate the FMR (err on the safe side).",
                    options.top_score,
                    fit_points.len(),
                    options.fit_max_fmr
                ));
                let mut s = measured_top + options.step;
                while s <= options.top_score + 1e-9 {
                    let d = (fmr_of_score(s).log10() - a) / b;
                    if d <= 0.0 {
                        break;
                    }
                    rows.push(row(s, d, true));
                    s += options.step;
                }
            }
            None => notes.push(
                "Too few measured tail rows to extrapolate; the curve runs straight to 100.".into(),
            ),
        }
    }
    if rows
        .last()
        .is_some_and(|r| r.distance > 0.0 && r.score < 100.0)
    {
        notes.push(
            "Above the last row the curve runs straight to score 100 at distance 0 (identical embeddings)."
                .into(),
        );
        rows.push(row(100.0, 0.0, true));
    } else {
        notes.push("Distances below the score-100 row score 100.".into());
    }
    notes.push("Distances beyond the score-0 row score 0.".into());
    rows.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    // Tied impostor distances could give two scores one distance: keep the higher
    // score (the first after sorting by distance, since score falls with distance)
    // so the mapping stays strictly monotone.
    rows.dedup_by(|later, earlier| {
        later.distance <= earlier.distance || later.score >= earlier.score
    });
    Ok(CalibrationTable {
        model: options.model.clone(),
        metric: options.metric,
        score_definition: format!(
            "score is log-linear in FMR between the anchors {}",
            fmr_scale_description()
        ),
        command: options.command.clone(),
        data: options.data.clone(),
        impostor_pairs: imp.len() as u64,
        genuine_pairs: gen.len() as u64,
        notes,
        rows,
    })
}

/// The table as markdown: score → FMR → FNMR (and distance), one row per table row,
/// highest score first.
pub fn calibration_markdown(table: &CalibrationTable) -> String {
    let mut out = String::from(
        "| score ≥ | FMR (definition) | impostor pairs matched (measured FMR) | FNMR on the data | distance ≤ | |\n\
         |---:|---:|---:|---:|---:|---|\n",
    );
    for r in &table.rows {
        let measured = r.impostors_matched as f64 / table.impostor_pairs.max(1) as f64;
        out.push_str(&format!(
            "| {} | {:.1e} | {} ({:.1e}) | {:.1}% | {:.4} | {} |\n",
            r.score,
            r.fmr,
            r.impostors_matched,
            measured,
            100.0 * r.fnmr,
            r.distance,
            if r.extrapolated {
                "extrapolated"
            } else {
                "measured"
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use facematch_core::score::ScoreMapping;

    /// Impostor distances 1..=100_000 scaled to (0, 1], genuine below them.
    fn uniform() -> (Vec<f64>, Vec<f64>) {
        let imp = (1..=100_000).map(|i| f64::from(i) / 100_000.0).collect();
        let gen = (0..100).map(|i| f64::from(i) / 1000.0 + 0.0005).collect();
        (imp, gen)
    }

    #[test]
    fn uniform_impostors_give_known_quantiles() {
        let (imp, gen) = uniform();
        let t = build_calibration(&imp, &gen, &CalibrationOptions::default()).expect("table");
        let at = |s: f32| {
            t.rows
                .iter()
                .find(|r| r.score == s)
                .unwrap_or_else(|| panic!("{s}: {:#?}", t.rows))
        };
        // FMR(d) = d on a uniform (0, 1] tail.
        for (s, fmr) in [(30.0, 1e-2), (50.0, 3e-3), (70.0, 1e-3), (90.0, 1e-4)] {
            let r = at(s);
            assert!(!r.extrapolated);
            assert!(
                (f64::from(r.distance) - fmr).abs() < 1e-6,
                "{s}: {}",
                r.distance
            );
            assert!((r.impostors_matched as f64 - fmr * 1e5).abs() <= 1.0);
        }
        // 1e-4 → 10 pairs is the last measured row; above it everything is extrapolated
        // (here the tail line reaches distance 0 at once, so only the score-100 row).
        assert!(t
            .rows
            .iter()
            .filter(|r| r.score > 90.0)
            .all(|r| r.extrapolated));
        assert!(t
            .rows
            .iter()
            .filter(|r| r.score <= 90.0)
            .all(|r| !r.extrapolated));
        assert_eq!(
            t.rows.first().map(|r| (r.score, r.distance)),
            Some((100.0, 0.0))
        );
        // Genuine at 0.0005, 0.0015, …: 10 of 100 are at or below 0.01 → FNMR 0.9.
        assert!((at(30.0).fnmr - 0.9).abs() < 1e-12);
        assert_eq!(t.impostor_pairs, 100_000);
        let m = ScoreMapping::from_table(&t).expect("strictly monotone");
        assert_eq!(m.score_of_distance(0.0), 100.0);
        assert!((m.score_of_distance(1e-3) - 70.0).abs() < 0.1);
        assert_eq!(m.score_of_distance(1.5), 0.0);
    }

    #[test]
    fn exponential_tail_is_extrapolated_along_its_line() {
        // FMR(d) = 10^(10 d - 10) for d ≤ 1: impostors at d_i = 1 + log10(i/N)/10.
        let n = 100_000;
        let imp: Vec<f64> = (1..=n)
            .map(|i| 1.0 + (f64::from(i) / f64::from(n)).log10() / 10.0)
            .collect();
        let t = build_calibration(&imp, &[0.1], &CalibrationOptions::default()).expect("table");
        assert!(
            !t.rows
                .iter()
                .find(|r| r.score == 90.0)
                .expect("row")
                .extrapolated
        );
        let r95 = t.rows.iter().find(|r| r.score == 95.0).expect("row");
        assert!(r95.extrapolated);
        // log10(10^-4.5) = 10 d - 10 → d = 0.55
        assert!(
            (f64::from(r95.distance) - 0.55).abs() < 2e-3,
            "{}",
            r95.distance
        );
    }

    #[test]
    fn markdown_has_one_line_per_row() {
        let (imp, gen) = uniform();
        let t = build_calibration(&imp, &gen, &CalibrationOptions::default()).expect("table");
        let md = calibration_markdown(&t);
        assert_eq!(md.lines().count(), t.rows.len() + 2);
        assert!(md.contains("| 30 | 1.0e-2 | 1000 (1.0e-2) |"), "{md}");
    }

    #[test]
    fn too_little_data_is_refused() {
        let options = CalibrationOptions::default();
        assert!(matches!(
            build_calibration(&[0.5; 10], &[0.1], &options),
            Err(EvalError::NotEnoughData(_))
        ));
        let (imp, _) = uniform();
        assert!(matches!(
            build_calibration(&imp, &[], &options),
            Err(EvalError::NotEnoughData(_))
        ));
        // Non-finite genuine distances do not count as data.
        assert!(matches!(
            build_calibration(&imp, &[f64::NAN], &options),
            Err(EvalError::NotEnoughData(_))
        ));
        let zero_step = CalibrationOptions {
            step: 0.0,
            ..CalibrationOptions::default()
        };
        assert!(matches!(
            build_calibration(&imp, &[0.1], &zero_step),
            Err(EvalError::InvalidValue(_))
        ));
    }
}
