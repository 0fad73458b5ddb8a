//! `facematch eval` and `facematch eval-attributes`: the accuracy of the default
//! bundle on a pair list or a label file, with the same pipeline as `compare`.
//! Each image is analysed once (in parallel over the cores) and the pairs reuse the
//! analyses; the metrics themselves live in `facematch-eval`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, Context};
use facematch_core::pipeline::ImageAnalysis;
use facematch_core::{CompareOptions, ImageInput, Pipeline, Status};
use facematch_eval::{ScoredPair, TarAtFar, TenFold};
use facematch_models::{load_pipeline as load_bundle, Bundle, BundleOptions};
use serde::Serialize;

use crate::cli::{EvalArgs, EvalAttributesArgs};
use crate::input::read_image;
use crate::CliError;

/// The FAR levels reported by `eval`.
const FARS: [f64; 4] = [1e-1, 1e-2, 1e-3, 1e-4];

/// A description of `bundle` for the JSON reports.
pub fn bundle_description(bundle: &Bundle) -> String {
    match bundle {
        Bundle::Default => "default (YuNet + dlib ResNet v1 + dlib age/gender)".into(),
        Bundle::BuffaloS => {
            "buffalo_s (YuNet + InsightFace w600k_mbf, ArcFace 112x112 + dlib age/gender)".into()
        }
        Bundle::Custom(c) => format!(
            "custom ({} , {}, calibration {}) + YuNet + dlib age/gender",
            c.path.display(),
            c.preprocessing.name(),
            c.calibration
                .as_ref()
                .map_or("provisional".into(), |p| p.display().to_string())
        ),
    }
}

/// A model file of the bundle, for reproducibility.
#[derive(Serialize)]
pub struct ModelHash {
    role: String,
    file: String,
    sha256: String,
}

/// The bundle's model files and their sha256.
pub fn model_hashes(bundle: &Bundle) -> Vec<ModelHash> {
    let mut hashes: Vec<ModelHash> = bundle
        .files(facematch_models::AgeModel::from_env().unwrap_or_default())
        .iter()
        .map(|f| ModelHash {
            role: format!("{:?}", f.role),
            file: f.file_name.into(),
            sha256: f.sha256.into(),
        })
        .collect();
    if let Bundle::Custom(c) = bundle {
        hashes.push(ModelHash {
            role: "Recognizer".into(),
            file: c.path.display().to_string(),
            sha256: c.sha256.clone(),
        });
    }
    hashes
}

/// The bundle called `name` (`--bundle`); `custom` reads `FACEMATCH_CUSTOM_*`.
pub fn parse_bundle(name: &str) -> Result<Bundle, CliError> {
    Bundle::from_name(name).map_err(|e| CliError::Input(e.into()))
}

/// The command line as run (program name as `facematch`), for the JSON reports.
pub fn command_line() -> String {
    std::iter::once("facematch".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Number of worker threads: `requested`, or one per core.
pub fn thread_count(requested: Option<usize>) -> usize {
    requested
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// Loads `bundle` with one session per worker thread.
pub fn load_pipeline(bundle: &Bundle, threads: usize) -> Result<Pipeline, CliError> {
    let options = BundleOptions {
        bundle: bundle.clone(),
        sessions: threads,
        ..BundleOptions::default()
    };
    load_bundle(&options, &mut crate::print_progress).map_err(|e| CliError::Other(e.into()))
}

/// What became of one image.
pub type Analysis = Result<ImageAnalysis, String>;

/// Analyses every path (relative to `root`) once, on `threads` workers pulling from a
/// shared index, with a progress line and ETA on stderr. A file that cannot be read
/// or decoded, or an empty one, is an `Err` with the reason.
pub fn analyze_all(
    pipeline: &Pipeline,
    root: &Path,
    paths: &[String],
    rotate: bool,
    threads: usize,
) -> Vec<Analysis> {
    let n = paths.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Analysis>>> = Mutex::new((0..n).map(|_| None).collect());
    let start = Instant::now();
    // Print about 100 updates in all, so a log file stays readable.
    let every = (n / 100).max(1);
    std::thread::scope(|s| {
        for _ in 0..threads.min(n.max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(rel) = paths.get(i) else { break };
                let result = analyze_one(pipeline, &root.join(rel), rotate);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d.is_multiple_of(every) || d == n {
                    let secs = start.elapsed().as_secs_f64();
                    let rate = d as f64 / secs.max(1e-9);
                    let eta = (n - d) as f64 / rate.max(1e-9);
                    eprint!(
                        "\r[eval] {d}/{n} images, {rate:.1}/s, elapsed {secs:.0} s, ETA {eta:.0} s   "
                    );
                    let _ = std::io::stderr().flush();
                }
            });
        }
    });
    eprintln!();
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not analysed".into())))
        .collect()
}

fn analyze_one(pipeline: &Pipeline, path: &Path, rotate: bool) -> Analysis {
    match read_image(path).map_err(|e| e.to_string())? {
        ImageInput::Image(img) => pipeline.analyze(&img, rotate).map_err(|e| e.to_string()),
        ImageInput::Empty => Err(format!("{} is empty", path.display())),
    }
}

/// One line of a pair list.
struct PairLine {
    left: String,
    right: String,
    same: bool,
}

fn read_pairs(path: &Path) -> Result<Vec<PairLine>, CliError> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(CliError::Input)?;
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let same = match f.get(2).map(|s| s.trim()) {
            Some("1") => true,
            Some("0") => false,
            _ => {
                return Err(CliError::Input(anyhow!(
                    "{}:{}: expected left<TAB>right<TAB>1|0",
                    path.display(),
                    i + 1
                )))
            }
        };
        pairs.push(PairLine {
            left: f[0].to_string(),
            right: f[1].to_string(),
            same,
        });
    }
    if pairs.is_empty() {
        return Err(CliError::Input(anyhow!(
            "{} holds no pairs",
            path.display()
        )));
    }
    Ok(pairs)
}

/// The clockwise angle named by a `best_angle_AAA` folder in `path`, if any.
fn angle_in_path(path: &str) -> Option<u16> {
    path.split("best_angle_")
        .nth(1)
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
}

/// Unique paths in first-seen order, and each path's index.
fn unique(paths: impl IntoIterator<Item = String>) -> (Vec<String>, HashMap<String, usize>) {
    let mut list = Vec::new();
    let mut index = HashMap::new();
    for p in paths {
        if !index.contains_key(&p) {
            index.insert(p.clone(), list.len());
            list.push(p);
        }
    }
    (list, index)
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

/// Runs `facematch eval`.
pub fn run(args: &EvalArgs) -> Result<(), CliError> {
    let pairs = read_pairs(&args.pairs)?;
    let threads = thread_count(args.threads);
    let bundle = parse_bundle(&args.bundle)?;
    let pipeline = load_pipeline(&bundle, threads)?;
    let (paths, index) = unique(pairs.iter().flat_map(|p| [p.left.clone(), p.right.clone()]));
    let t0 = Instant::now();
    let analyses = analyze_all(&pipeline, &args.root, &paths, args.rotate, threads);
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
    let threshold = args
        .threshold
        .unwrap_or(CompareOptions::default().decline_threshold);
    let options = CompareOptions {
        decline_threshold: threshold,
        review_threshold: None,
        rotate: args.rotate,
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
        let decision = pipeline.decide(l, r, &options);
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
    let metric = |e: facematch_eval::EvalError| CliError::Other(e.into());
    let ten_fold = facematch_eval::ten_fold_accuracy(&scored).map_err(metric)?;
    let auc = facematch_eval::roc_auc(&scored).map_err(metric)?;
    let tar_at_far = FARS
        .iter()
        .map(|&far| facematch_eval::tar_at_far(&scored, far))
        .collect::<Result<Vec<_>, _>>()
        .map_err(metric)?;
    let mean_threshold = -ten_fold.fold_thresholds.iter().sum::<f64>() / 10.0;
    rotation.share = rotation.matched as f64 / rotation.pairs_with_angle.max(1) as f64;
    let genuine_pairs = pairs.iter().filter(|p| p.same).count();
    let report = EvalReport {
        command: command_line(),
        bundle: bundle_description(&bundle),
        models: model_hashes(&bundle),
        pairs_file: args.pairs.clone(),
        root: args.root.clone(),
        rotate: args.rotate,
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
    print_eval(&report);
    if let Some(out) = &args.json {
        write_json(out, &report)?;
    }
    Ok(())
}

fn print_eval(r: &EvalReport) {
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
        "failures to acquire (no face): {}{}",
        r.failures_to_acquire.len(),
        if r.failures_to_acquire.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.failures_to_acquire.join(", "))
        }
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

/// Writes `value` as pretty JSON to `path`.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), CliError> {
    let json = serde_json::to_string_pretty(value).map_err(|e| CliError::Other(e.into()))?;
    std::fs::write(path, json + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
        .map_err(CliError::Other)
}

/// A labelled image of an attribute file.
struct Label {
    image: String,
    age: Option<f64>,
    male: Option<bool>,
}

/// Reads a tab-separated label file with a header naming at least `image`, and
/// `age` and/or `gender` (`male`/`female`, `m`/`f`).
fn read_labels(path: &Path) -> Result<Vec<Label>, CliError> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(CliError::Input)?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split('\t')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let image = col(&["image", "path", "file"]).ok_or_else(|| {
        CliError::Input(anyhow!(
            "{}: no `image` column in the header",
            path.display()
        ))
    })?;
    let (age, gender) = (col(&["age"]), col(&["gender", "sex"]));
    if age.is_none() && gender.is_none() {
        return Err(CliError::Input(anyhow!(
            "{}: neither an `age` nor a `gender` column",
            path.display()
        )));
    }
    let mut labels = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').map(str::trim).collect();
        let Some(img) = f.get(image).filter(|s| !s.is_empty()) else {
            continue;
        };
        labels.push(Label {
            image: (*img).to_string(),
            age: age.and_then(|i| f.get(i)).and_then(|s| s.parse().ok()),
            male: gender.and_then(|i| f.get(i)).and_then(|s| {
                match s.to_ascii_lowercase().as_str() {
                    "male" | "m" => Some(true),
                    "female" | "f" => Some(false),
                    _ => None,
                }
            }),
        });
    }
    Ok(labels)
}

/// Everything `eval-attributes --json` writes.
#[derive(Serialize)]
struct AttributesReport {
    command: String,
    bundle: String,
    models: Vec<ModelHash>,
    labels_file: PathBuf,
    root: PathBuf,
    threads: usize,
    seconds: f64,
    images: usize,
    unreadable_images: Vec<(String, String)>,
    failures_to_acquire: Vec<String>,
    age_images: usize,
    age_mae: Option<f64>,
    gender_images: usize,
    gender_accuracy: Option<f64>,
    male_accuracy: Option<f64>,
    female_accuracy: Option<f64>,
    /// Per image: (image, true age, predicted age, true male, predicted P(male)).
    predictions: Vec<Prediction>,
}

/// One image's labels and estimates.
#[derive(Serialize)]
struct Prediction {
    image: String,
    age: Option<f64>,
    predicted_age: f32,
    male: Option<bool>,
    male_probability: f32,
}

/// Runs `facematch eval-attributes`.
pub fn run_attributes(args: &EvalAttributesArgs) -> Result<(), CliError> {
    let labels = read_labels(&args.labels)?;
    let threads = thread_count(args.threads);
    // Age and gender come from dlib's nets in every bundle.
    let pipeline = load_pipeline(&Bundle::Default, threads)?;
    let paths: Vec<String> = labels.iter().map(|l| l.image.clone()).collect();
    let t0 = Instant::now();
    let analyses = analyze_all(&pipeline, &args.root, &paths, false, threads);
    let seconds = t0.elapsed().as_secs_f64();
    let mut unreadable = Vec::new();
    let mut faceless = Vec::new();
    let (mut ages, mut genders) = (Vec::new(), Vec::new());
    let mut predictions = Vec::new();
    for (label, analysis) in labels.iter().zip(&analyses) {
        let a = match analysis {
            Ok(a) => a,
            Err(e) => {
                unreadable.push((label.image.clone(), e.clone()));
                continue;
            }
        };
        // The largest face, as the API reports it first.
        let Some((_, face)) = a.faces.first() else {
            faceless.push(label.image.clone());
            continue;
        };
        predictions.push(Prediction {
            image: label.image.clone(),
            age: label.age,
            predicted_age: face.age,
            male: label.male,
            male_probability: face.male_probability,
        });
        if let Some(age) = label.age {
            ages.push((f64::from(face.age), age));
        }
        if let Some(male) = label.male {
            genders.push((face.male_probability >= 0.5, male));
        }
    }
    let of_class = |male: bool| {
        let class: Vec<(bool, bool)> = genders.iter().copied().filter(|g| g.1 == male).collect();
        facematch_eval::gender_accuracy(&class).ok()
    };
    let report = AttributesReport {
        command: command_line(),
        bundle: bundle_description(&Bundle::Default),
        models: model_hashes(&Bundle::Default),
        labels_file: args.labels.clone(),
        root: args.root.clone(),
        threads,
        seconds,
        images: labels.len(),
        unreadable_images: unreadable,
        failures_to_acquire: faceless,
        age_images: ages.len(),
        age_mae: facematch_eval::age_mae(&ages).ok(),
        gender_images: genders.len(),
        gender_accuracy: facematch_eval::gender_accuracy(&genders).ok(),
        male_accuracy: of_class(true),
        female_accuracy: of_class(false),
        predictions,
    };
    println!(
        "{}: {} images, {} threads, {:.1} s",
        report.labels_file.display(),
        report.images,
        threads,
        seconds
    );
    for (p, e) in &report.unreadable_images {
        println!("  unreadable: {p}: {e}");
    }
    println!(
        "failures to acquire (no face): {}{}",
        report.failures_to_acquire.len(),
        if report.failures_to_acquire.is_empty() {
            String::new()
        } else {
            format!(" ({})", report.failures_to_acquire.join(", "))
        }
    );
    if let Some(mae) = report.age_mae {
        println!("age MAE: {mae:.2} years ({} images)", report.age_images);
    }
    if let Some(acc) = report.gender_accuracy {
        println!(
            "gender accuracy: {:.2}% ({} images; male {:.2}%, female {:.2}%)",
            100.0 * acc,
            report.gender_images,
            100.0 * report.male_accuracy.unwrap_or(f64::NAN),
            100.0 * report.female_accuracy.unwrap_or(f64::NAN)
        );
    }
    if let Some(out) = &args.json {
        write_json(out, &report)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angles_are_read_from_best_angle_folders() {
        assert_eq!(
            angle_in_path("lfw/rotated/best_angle_090/A/A_0001.jpg"),
            Some(90)
        );
        assert_eq!(
            angle_in_path("fixtures/one_face_best_angle_270.png"),
            Some(270)
        );
        assert_eq!(angle_in_path("lfw/original/A/A_0001.jpg"), None);
    }

    #[test]
    fn unique_keeps_first_seen_order() {
        let (list, index) = unique(["b", "a", "b", "c"].map(String::from));
        assert_eq!(list, ["b", "a", "c"]);
        assert_eq!(index["c"], 2);
    }
}
