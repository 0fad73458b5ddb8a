//! `facematch calibrate`: measures the recognizer's distance → FMR/FNMR table on every
//! pair of the dev photos and writes the calibration table that the score is built
//! from (`crates/facematch-models/calibration/`).
//!
//! Identities: LFW photos by their folder (`lfw/original/<Name>/`), celebrities by
//! folder (`celebs/<Name>/`), and each UTKFace crop its own person (UTKFace gives no
//! identities; 144 random crops are very unlikely to repeat one). Rotated and
//! deep-funneled LFW copies are left out: they are the same photos again.

use std::path::{Path, PathBuf};
use std::time::Instant;

use facematch_eval::{build_calibration, calibration_markdown, CalibrationOptions};
use facematch_fetch::FetchEvent;
use facematch_models::Bundle;

use crate::analyze::analyze_all;
use crate::provenance::{command_line, write_json};
use crate::setup::{load_pipeline, parse_bundle, thread_count};
use crate::LabError;

/// What to calibrate, as `facematch calibrate` takes it.
#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    /// The dev photos (lfw/original, celebs, utkface).
    pub root: PathBuf,
    /// Where to write the calibration table (JSON).
    pub out: PathBuf,
    /// Worker threads (default: one per core).
    pub threads: Option<usize>,
    /// Bundle name: `default`, `buffalo_s` or `custom`.
    pub bundle: String,
}

/// Model name written into the table.
fn model_name(bundle: &Bundle) -> String {
    match bundle {
        Bundle::Default => "dlib_face_recognition_resnet_model_v1 (YuNet box -> dlib 5-point chip 150x150, padding 0.25, no flip)".into(),
        Bundle::BuffaloS => "w600k_mbf (buffalo_s; YuNet 5 landmarks -> ArcFace 112x112 similarity alignment, RGB, (x-127.5)/127.5, L2-normalised)".into(),
        Bundle::Custom(c) => format!(
            "{} (sha256 {}; YuNet 5 landmarks -> ArcFace 112x112 similarity alignment, {})",
            c.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            c.sha256,
            c.preprocessing.name()
        ),
    }
}

/// The visible entries of `root/rel`, sorted by name.
fn sorted_dir(root: &Path, rel: &str) -> Result<Vec<String>, LabError> {
    let dir = root.join(rel);
    let mut names = std::fs::read_dir(&dir)
        .map_err(|source| LabError::List {
            path: dir.clone(),
            source,
        })?
        .filter_map(std::result::Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect::<Vec<_>>();
    names.sort();
    Ok(names)
}

/// `(relative path, identity)` of every photo used.
fn photos(root: &Path) -> Result<Vec<(String, String)>, LabError> {
    let mut out = Vec::new();
    for group in ["lfw/original", "celebs"] {
        for person in sorted_dir(root, group)? {
            let rel = format!("{group}/{person}");
            if !root.join(&rel).is_dir() {
                continue;
            }
            for file in sorted_dir(root, &rel)? {
                out.push((format!("{rel}/{file}"), format!("{group}/{person}")));
            }
        }
    }
    for file in sorted_dir(root, "utkface")? {
        let rel = format!("utkface/{file}");
        out.push((rel.clone(), rel));
    }
    Ok(out)
}

/// Runs the calibration: writes the table to `options.out` and prints it as
/// Markdown with its notes. `progress` hears of each model file fetched.
pub fn run(
    options: &CalibrateOptions,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<(), LabError> {
    let photos = photos(&options.root)?;
    let threads = thread_count(options.threads);
    let bundle = parse_bundle(&options.bundle)?;
    let pipeline = load_pipeline(&bundle, threads, progress)?;
    let metric = pipeline.describer().score_mapping().metric;
    let paths: Vec<String> = photos.iter().map(|(p, _)| p.clone()).collect();
    let t0 = Instant::now();
    let analyses = analyze_all(&pipeline, &options.root, &paths, false, threads);
    let mut embedded: Vec<(&str, &[f32])> = Vec::new();
    let mut failed = Vec::new();
    for ((path, identity), analysis) in photos.iter().zip(&analyses) {
        match analysis.as_ref().ok().and_then(|a| a.embedding()) {
            Some(e) => embedded.push((identity.as_str(), e)),
            None => failed.push(path.as_str()),
        }
    }
    let (mut impostor, mut genuine) = (Vec::new(), Vec::new());
    for (i, (id_a, a)) in embedded.iter().enumerate() {
        for (id_b, b) in &embedded[i + 1..] {
            let d = f64::from(metric.distance(a, b));
            if id_a == id_b {
                genuine.push(d);
            } else {
                impostor.push(d);
            }
        }
    }
    eprintln!(
        "[calibrate] {} photos ({} without a face), {} impostor and {} genuine pairs, {:.0} s",
        photos.len(),
        failed.len(),
        impostor.len(),
        genuine.len(),
        t0.elapsed().as_secs_f64()
    );
    let calibration = CalibrationOptions {
        model: model_name(&bundle),
        metric,
        command: command_line(),
        data: format!(
            "shared/data/faces (dev data): {} photos with a face of lfw/original (identity = folder), celebs (identity = folder) \
             and utkface (each crop its own identity); all pairs of them; {} photos without a face left out: {}",
            embedded.len(),
            failed.len(),
            failed.join(", ")
        ),
        ..CalibrationOptions::default()
    };
    let table = build_calibration(&impostor, &genuine, &calibration)?;
    write_json(&options.out, &table)?;
    println!("{}", calibration_markdown(&table));
    for note in &table.notes {
        println!("- {note}");
    }
    Ok(())
}
