//! `facematch eval`: the accuracy of a bundle on a pair list, with the same pipeline
//! and decision as `compare`. Each photo is analysed once ([`analyze_all`]) and the
//! pairs reuse the analyses; the metrics are `facematch-eval`'s. The photos with two
//! faces or more are analysed a second time under the other face selection
//! (`--select`), so that both figures are reported.

mod print;
mod score;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use facematch_core::{CompareOptions, FaceSelection, ImageAnalysis, QualityFilter};
use facematch_eval::{QualityBand, QualityLevel, RatesAtScore, TarAtFar, TenFold};
use facematch_fetch::FetchEvent;
use serde::Serialize;

use crate::analyze::{analyze_all, Analysis};
use crate::pairs::{angle_in_path, read_pairs, unique};
use crate::provenance::{bundle_description, command_line, model_hashes, write_json, ModelHash};
use crate::setup::{load_pipeline, parse_bundle, thread_count};
use crate::LabError;
use score::{compared_quality, face_count, score_pairs, PairDetail};

/// The FAR levels reported.
const FARS: [f64; 4] = [1e-1, 1e-2, 1e-3, 1e-4];

/// The scores whose error rates are reported (`rates_at_scores`): the contract's
/// band edges and the default decline threshold.
pub const RATE_SCORES: [f64; 4] = [30.0, 50.0, 70.0, 90.0];

/// What to evaluate, as `facematch eval` takes it.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Pair list: left<TAB>right<TAB>same(1|0), paths relative to `root`.
    pub pairs: PathBuf,
    /// Folder the pair list's paths are relative to.
    pub root: PathBuf,
    /// Try 0/90/180/270 degrees (as `compare --rotate`) and check `best_angle`.
    pub rotate: bool,
    /// Decline threshold to report accuracy at (default: compare's default).
    pub threshold: Option<f32>,
    /// Where to write every number, the bundle, model hashes and the command (JSON).
    pub json: Option<PathBuf>,
    /// Worker threads (default: one per core).
    pub threads: Option<usize>,
    /// Bundle name: `default`, `buffalo_s` or `custom`.
    pub bundle: String,
    /// The primary face selection; the other one is reported beside it.
    pub select: FaceSelection,
    /// The LOW, MEDIUM and HIGH minimum qualities for the quality-level table, in
    /// place of the built-in ones (AUTO follows MEDIUM); the report only.
    pub quality_cutoffs: Option<[f64; 3]>,
    /// Where to draw the report's figure (SVG; [`crate::plot`]).
    pub plot: Option<PathBuf>,
}

/// A face selection by its command-line name (`largest`, `center`).
pub fn parse_selection(s: &str) -> Result<FaceSelection, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "largest" => Ok(FaceSelection::Largest),
        "center" | "centre" => Ok(FaceSelection::Center),
        _ => Err(format!(
            "`{s}` is not a face selection: expected largest or center"
        )),
    }
}

/// A selection's command-line name.
pub fn selection_name(selection: FaceSelection) -> &'static str {
    match selection {
        FaceSelection::Largest => "largest",
        FaceSelection::Center => "center",
    }
}

/// The selection that is not `selection`.
fn other_selection(selection: FaceSelection) -> FaceSelection {
    match selection {
        FaceSelection::Largest => FaceSelection::Center,
        FaceSelection::Center => FaceSelection::Largest,
    }
}

/// Parses `--quality-cutoffs`: three 0–100 numbers, comma-separated, not decreasing
/// (LOW, MEDIUM, HIGH).
pub fn parse_quality_cutoffs(s: &str) -> Result<[f64; 3], String> {
    let values = s
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| (0.0..=100.0).contains(v))
                .ok_or_else(|| format!("`{}` is not a number in 0–100", v.trim()))
        })
        .collect::<Result<Vec<f64>, String>>()?;
    let cutoffs: [f64; 3] = values
        .try_into()
        .map_err(|_| format!("`{s}`: expected three cut-offs, LOW,MEDIUM,HIGH (e.g. 20,40,60)"))?;
    if cutoffs[0] > cutoffs[1] || cutoffs[1] > cutoffs[2] {
        return Err(format!(
            "`{s}`: the cut-offs must not decrease (LOW ≤ MEDIUM ≤ HIGH)"
        ));
    }
    Ok(cutoffs)
}

/// The minimum quality of `level`, from `cutoffs` (LOW, MEDIUM, HIGH; AUTO follows
/// MEDIUM) when given, else the level's own.
pub fn level_min_quality(level: QualityFilter, cutoffs: Option<[f64; 3]>) -> Option<f64> {
    let Some([low, medium, high]) = cutoffs else {
        return level.min_quality();
    };
    match level {
        QualityFilter::None => None,
        QualityFilter::Low => Some(low),
        QualityFilter::Auto | QualityFilter::Medium => Some(medium),
        QualityFilter::High => Some(high),
    }
}

/// `best_angle` against the `best_angle_AAA` folders.
#[derive(Serialize)]
struct RotationReport {
    pairs_with_angle: usize,
    matched: usize,
    share: f64,
}

/// The figures of the other face selection (`other_selection`).
#[derive(Serialize)]
struct OtherSelectionReport {
    selection: &'static str,
    ten_fold: TenFold,
    accuracy_at_threshold: f64,
    auc: f64,
    /// Pairs whose score differs from the primary selection's.
    pairs_changed: usize,
    /// Pairs whose status differs from the primary selection's.
    decisions_changed: usize,
    /// Photos analysed again (two faces or more).
    images_reanalysed: usize,
}

/// Everything `eval --json` writes.
#[derive(Serialize)]
struct EvalReport {
    command: String,
    bundle: String,
    models: Vec<ModelHash>,
    pairs_file: PathBuf,
    root: PathBuf,
    rotate: bool,
    threads: usize,
    seconds: f64,
    images: usize,
    unreadable_images: Vec<(String, String)>,
    failures_to_acquire: Vec<String>,
    pairs: usize,
    genuine_pairs: usize,
    impostor_pairs: usize,
    pairs_compared: usize,
    ten_fold: TenFold,
    ten_fold_mean_threshold_distance: f64,
    ten_fold_mean_threshold_score: f32,
    threshold: f32,
    accuracy_at_threshold: f64,
    errors_at_threshold: Vec<String>,
    auc: f64,
    tar_at_far: Vec<TarAtFar>,
    rotation: Option<RotationReport>,
    selection: &'static str,
    other_selection: OtherSelectionReport,
    rates_at_scores: Vec<RatesAtScore>,
    quality_bands: Vec<QualityBand>,
    quality_cutoffs: Option<[f64; 3]>,
    quality_levels: Vec<QualityLevel>,
    pairs_detail: Vec<PairDetail>,
}

/// Runs the evaluation: prints the report on stdout (progress on stderr) and writes
/// the JSON report if asked. `progress` hears of each model file fetched.
pub fn run(options: &EvalOptions, progress: &mut dyn FnMut(FetchEvent)) -> Result<(), LabError> {
    let pairs = read_pairs(&options.pairs)?;
    let threads = thread_count(options.threads);
    let bundle = parse_bundle(&options.bundle)?;
    let pipeline = load_pipeline(&bundle, threads, progress)?.with_face_selection(options.select);
    let (paths, index) = unique(pairs.iter().flat_map(|p| [p.left.clone(), p.right.clone()]));
    let t0 = Instant::now();
    let analyses = analyze_all(&pipeline, &options.root, &paths, options.rotate, threads);
    // The other selection can only differ on photos with two faces or more.
    let other = other_selection(options.select);
    let crowded: Vec<String> = paths
        .iter()
        .zip(&analyses)
        .filter(|(_, a)| a.as_ref().is_ok_and(|a| face_count(a) >= 2))
        .map(|(p, _)| p.clone())
        .collect();
    let other_pipeline = pipeline.clone().with_face_selection(other);
    let other_analyses = analyze_all(
        &other_pipeline,
        &options.root,
        &crowded,
        options.rotate,
        threads,
    );
    let seconds = t0.elapsed().as_secs_f64();

    let unreadable: Vec<(String, String)> = paths
        .iter()
        .zip(&analyses)
        .filter_map(|(p, a)| a.as_ref().err().map(|e| (p.clone(), e.clone())))
        .collect();
    let faceless: Vec<String> = paths
        .iter()
        .zip(&analyses)
        .filter(|(_, a)| a.as_ref().is_ok_and(|a| a.faces.is_empty()))
        .map(|(p, _)| p.clone())
        .collect();
    let analysis = |p: &str| lookup(&index, &analyses, p);
    let crowded_index: HashMap<&str, usize> = crowded
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    let other_analysis = |p: &str| match crowded_index.get(p) {
        Some(&i) => other_analyses[i].as_ref().ok(),
        None => analysis(p),
    };

    let mapping = pipeline.describer().score_mapping();
    let threshold = options
        .threshold
        .unwrap_or(CompareOptions::default().decline_threshold);
    let compare_options = CompareOptions {
        decline_threshold: threshold,
        review_threshold: None,
        rotate: options.rotate,
        ..CompareOptions::default()
    };
    let primary = score_pairs(&pipeline, &pairs, analysis, &compare_options);
    let secondary = score_pairs(&other_pipeline, &pairs, other_analysis, &compare_options);
    let mut rotation = RotationReport {
        pairs_with_angle: 0,
        matched: 0,
        share: 0.0,
    };
    for p in &pairs {
        if let Some(expected) = angle_in_path(&p.right) {
            rotation.pairs_with_angle += 1;
            if analysis(&p.right).is_some_and(|a| a.best_angle == expected && !a.faces.is_empty()) {
                rotation.matched += 1;
            }
        }
    }
    let scored = &primary.scored;
    let ten_fold = facematch_eval::ten_fold_accuracy(scored)?;
    let auc = facematch_eval::roc_auc(scored)?;
    let tar_at_far = FARS
        .iter()
        .map(|&far| facematch_eval::tar_at_far(scored, far))
        .collect::<Result<Vec<_>, _>>()?;
    let mean_threshold = -ten_fold.fold_thresholds.iter().sum::<f64>() / 10.0;
    rotation.share = rotation.matched as f64 / rotation.pairs_with_angle.max(1) as f64;
    let genuine_pairs = pairs.iter().filter(|p| p.same).count();
    let other_selection = OtherSelectionReport {
        selection: selection_name(other),
        ten_fold: facematch_eval::ten_fold_accuracy(&secondary.scored)?,
        accuracy_at_threshold: secondary.correct as f64 / pairs.len() as f64,
        auc: facematch_eval::roc_auc(&secondary.scored)?,
        pairs_changed: primary
            .details
            .iter()
            .zip(&secondary.details)
            .filter(|(a, b)| a.score != b.score)
            .count(),
        decisions_changed: primary
            .details
            .iter()
            .zip(&secondary.details)
            .filter(|(a, b)| a.status != b.status)
            .count(),
        images_reanalysed: crowded.len(),
    };
    let photo_qualities: Vec<Option<f64>> = paths
        .iter()
        .map(|p| analysis(p).and_then(compared_quality).map(|q| q.quality))
        .collect();
    let quality_levels = QualityFilter::ALL
        .iter()
        .map(|&level| {
            facematch_eval::quality_level(
                level.name(),
                level_min_quality(level, options.quality_cutoffs),
                &photo_qualities,
                &primary.outcomes,
                f64::from(threshold),
            )
        })
        .collect();
    let report = EvalReport {
        command: command_line(),
        bundle: bundle_description(&bundle),
        models: model_hashes(&bundle),
        pairs_file: options.pairs.clone(),
        root: options.root.clone(),
        rotate: options.rotate,
        threads,
        seconds,
        images: paths.len(),
        unreadable_images: unreadable,
        failures_to_acquire: faceless,
        pairs: pairs.len(),
        genuine_pairs,
        impostor_pairs: pairs.len() - genuine_pairs,
        pairs_compared: primary.compared,
        ten_fold_mean_threshold_distance: mean_threshold,
        ten_fold_mean_threshold_score: mapping.score_of_distance(mean_threshold as f32),
        ten_fold,
        threshold,
        accuracy_at_threshold: primary.correct as f64 / pairs.len() as f64,
        errors_at_threshold: primary.errors,
        auc,
        tar_at_far,
        rotation: (rotation.pairs_with_angle > 0).then_some(rotation),
        selection: selection_name(options.select),
        other_selection,
        rates_at_scores: facematch_eval::rates_at_scores(&primary.outcomes, &RATE_SCORES),
        quality_bands: facematch_eval::quality_bands(&primary.outcomes, f64::from(threshold)),
        quality_cutoffs: options.quality_cutoffs,
        quality_levels,
        pairs_detail: primary.details,
    };
    print::print_report(&report);
    if let Some(out) = &options.json {
        write_json(out, &report)?;
    }
    if let Some(out) = &options.plot {
        crate::plot::plot_results(out, &[serde_json::to_value(&report)?])?;
    }
    Ok(())
}

/// The analysis of `path`, when it was analysed and could be read.
fn lookup<'a>(
    index: &HashMap<String, usize>,
    analyses: &'a [Analysis],
    path: &str,
) -> Option<&'a ImageAnalysis> {
    index.get(path).and_then(|&i| analyses[i].as_ref().ok())
}

/// `N` or `N (a, b, …)`: a count and, when there are any, the items.
pub(crate) fn with_list(items: &[String]) -> String {
    if items.is_empty() {
        "0".to_string()
    } else {
        format!("{} ({})", items.len(), items.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_counted_then_named() {
        assert_eq!(with_list(&[]), "0");
        assert_eq!(with_list(&["a".into(), "b".into()]), "2 (a, b)");
    }

    #[test]
    fn selections_parse_by_name_and_name_the_other() {
        assert_eq!(parse_selection("largest"), Ok(FaceSelection::Largest));
        assert_eq!(parse_selection("Center"), Ok(FaceSelection::Center));
        assert!(parse_selection("left").is_err());
        assert_eq!(
            selection_name(other_selection(FaceSelection::Largest)),
            "center"
        );
        assert_eq!(
            selection_name(other_selection(FaceSelection::Center)),
            "largest"
        );
    }

    #[test]
    fn quality_cutoffs_are_three_non_decreasing_numbers() {
        assert_eq!(parse_quality_cutoffs("20,40,60"), Ok([20.0, 40.0, 60.0]));
        assert_eq!(
            parse_quality_cutoffs(" 10, 10 ,55.5"),
            Ok([10.0, 10.0, 55.5])
        );
        for bad in [
            "20,40",
            "20,40,60,80",
            "20,x,60",
            "60,40,20",
            "-1,40,60",
            "20,40,101",
        ] {
            assert!(parse_quality_cutoffs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cutoffs_override_the_levels_and_auto_follows_medium() {
        let c = Some([10.0, 30.0, 50.0]);
        let mins: Vec<Option<f64>> = QualityFilter::ALL
            .iter()
            .map(|&l| level_min_quality(l, c))
            .collect();
        assert_eq!(mins, [None, Some(30.0), Some(10.0), Some(30.0), Some(50.0)]);
        for level in QualityFilter::ALL {
            assert_eq!(level_min_quality(level, None), level.min_quality());
        }
    }
}
