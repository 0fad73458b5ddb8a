//! `facematch calibrate`: measures the recognizer's distance → FMR/FNMR table on every
//! pair of the dev photos and writes the calibration table that the score is built from
//! (`crates/facematch-models/calibration/`).
//!
//! Identities: LFW photos by their folder (`lfw/original/<Name>/`), celebrities by
//! folder (`celebs/<Name>/`), and each UTKFace crop its own person (UTKFace gives no
//! identities; 144 random crops are very unlikely to repeat one). Rotated and
//! deep-funneled LFW copies are left out: they are the same photos again.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use facematch_eval::{build_calibration, calibration_markdown, CalibrationOptions};

use crate::cli::CalibrateArgs;
use facematch_models::Bundle;

use crate::eval::{
    analyze_all, command_line, load_pipeline, parse_bundle, thread_count, write_json,
};
use crate::CliError;

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

/// `(relative path, identity)` of every photo used.
fn photos(root: &Path) -> Result<Vec<(String, String)>, CliError> {
    let mut out = Vec::new();
    let sorted_dir = |rel: &str| -> Result<Vec<String>, CliError> {
        let dir = root.join(rel);
        let mut names = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))
            .map_err(CliError::Input)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect::<Vec<_>>();
        names.sort();
        Ok(names)
    };
    for group in ["lfw/original", "celebs"] {
        for person in sorted_dir(group)? {
            let rel = format!("{group}/{person}");
            if !root.join(&rel).is_dir() {
                continue;
            }
            for file in sorted_dir(&rel)? {
                out.push((format!("{rel}/{file}"), format!("{group}/{person}")));
            }
        }
    }
    for file in sorted_dir("utkface")? {
        let rel = format!("utkface/{file}");
        out.push((rel.clone(), rel));
    }
    Ok(out)
}

/// Runs `facematch calibrate`.
pub fn run(args: &CalibrateArgs) -> Result<(), CliError> {
    let photos = photos(&args.root)?;
    let threads = thread_count(args.threads);
    let bundle = parse_bundle(&args.bundle)?;
    let pipeline = load_pipeline(&bundle, threads)?;
    let metric = pipeline.describer().score_mapping().metric;
    let paths: Vec<String> = photos.iter().map(|(p, _)| p.clone()).collect();
    let t0 = Instant::now();
    let analyses = analyze_all(&pipeline, &args.root, &paths, false, threads);
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
    let options = CalibrationOptions {
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
    let table =
        build_calibration(&impostor, &genuine, &options).map_err(|e| CliError::Other(e.into()))?;
    write_json(&args.out, &table)?;
    println!("{}", calibration_markdown(&table));
    for note in &table.notes {
        println!("- {note}");
    }
    Ok(())
}
