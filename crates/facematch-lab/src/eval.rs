//! `facematch eval`: the accuracy of a bundle on a pair list, with the same pipeline
//! and decision as `compare`. Each photo is analysed once ([`analyze_all`]) and the
//! pairs reuse the analyses; the metrics are `facematch-eval`'s.

use std::path::PathBuf;
use std::time::Instant;

use facematch_core::{CompareOptions, ImageAnalysis, Status};
use facematch_eval::{ScoredPair, TarAtFar, TenFold};
use facematch_fetch::FetchEvent;
use serde::Serialize;

use crate::analyze::analyze_all;
use crate::pairs::{angle_in_path, read_pairs, unique};
use crate::provenance::{bundle_description, command_line, model_hashes, write_json, ModelHash};
use crate::setup::{load_pipeline, parse_bundle, thread_count};
use crate::LabError;

/// The FAR levels reported.
const FARS: [f64; 4] = [1e-1, 1e-2, 1e-3, 1e-4];

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
}

/// `best_angle` against the `best_angle_AAA` folders.
#[derive(Serialize)]
struct RotationReport {
    pairs_with_angle: usize,
    matched: usize,
    share: f64,
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
}

/// Runs the evaluation: prints the report on stdout (progress on stderr) and writes
/// the JSON report if asked. `progress` hears of each model file fetched.
pub fn run(options: &EvalOptions, progress: &mut dyn FnMut(FetchEvent)) -> Result<(), LabError> {
    let pairs = read_pairs(&options.pairs)?;
    let threads = thread_count(options.threads);
    let bundle = parse_bundle(&options.bundle)?;
    let pipeline = load_pipeline(&bundle, threads, progress)?;
    let (paths, index) = unique(pairs.iter().flat_map(|p| [p.left.clone(), p.right.clone()]));
    let t0 = Instant::now();
    let analyses = analyze_all(&pipeline, &options.root, &paths, options.rotate, threads);
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
    let analysis = |p: &str| index.get(p).and_then(|&i| analyses[i].as_ref().ok());

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
    let mut scored = Vec::with_capacity(pairs.len());
    let mut compared = 0;
    let mut errors_at_threshold = Vec::new();
    let mut correct_at_threshold = 0;
    let mut rotation = RotationReport {
        pairs_with_angle: 0,
        matched: 0,
        share: 0.0,
    };
    for p in &pairs {
        let (l, r) = (analysis(&p.left), analysis(&p.right));
        // A failure to acquire is rejected at every threshold (LFW's convention).
        let similarity = match (
            l.and_then(ImageAnalysis::embedding),
            r.and_then(ImageAnalysis::embedding),
        ) {
            (Some(a), Some(b)) => {
                compared += 1;
                -f64::from(mapping.metric.distance(a, b))
            }
            _ => f64::NEG_INFINITY,
        };
        scored.push(ScoredPair {
            similarity,
            genuine: p.same,
        });
        // The decision exactly as `compare` makes it.
        let decision = pipeline.decide(l, r, &compare_options);
        if (decision.status == Status::Approved) == p.same {
            correct_at_threshold += 1;
        } else {
            errors_at_threshold.push(format!(
                "{}\t{}\tsame={}\tscore={}",
                p.left,
                p.right,
                u8::from(p.same),
                decision.score.map_or("-".into(), |s| s.to_string())
            ));
        }
        if let Some(expected) = angle_in_path(&p.right) {
            rotation.pairs_with_angle += 1;
            if r.is_some_and(|a| a.best_angle == expected && !a.faces.is_empty()) {
                rotation.matched += 1;
            }
        }
    }
    let ten_fold = facematch_eval::ten_fold_accuracy(&scored)?;
    let auc = facematch_eval::roc_auc(&scored)?;
    let tar_at_far = FARS
        .iter()
        .map(|&far| facematch_eval::tar_at_far(&scored, far))
        .collect::<Result<Vec<_>, _>>()?;
    let mean_threshold = -ten_fold.fold_thresholds.iter().sum::<f64>() / 10.0;
    rotation.share = rotation.matched as f64 / rotation.pairs_with_angle.max(1) as f64;
    let genuine_pairs = pairs.iter().filter(|p| p.same).count();
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
        pairs_compared: compared,
        ten_fold_mean_threshold_distance: mean_threshold,
        ten_fold_mean_threshold_score: mapping.score_of_distance(mean_threshold as f32),
        ten_fold,
        threshold,
        accuracy_at_threshold: correct_at_threshold as f64 / pairs.len() as f64,
        errors_at_threshold,
        auc,
        tar_at_far,
        rotation: (rotation.pairs_with_angle > 0).then_some(rotation),
    };
    print_report(&report);
    if let Some(out) = &options.json {
        write_json(out, &report)?;
    }
    Ok(())
}

/// The human-readable report.
fn print_report(r: &EvalReport) {
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
}
