//! Age and gender of the served pipeline on the labelled dev photos, and that dlib's
//! age net still works as the npm-free fallback. Issue 4 set the goals (age MAE ≤ 6
//! years on the UTKFace dev crops, gender ≥ 96% on the LFW dev photos); the bounds
//! here sit just past what the pipeline measures today, so a regression fails.

mod common;

use common::{faces_root, load, pipeline};
use facematch_core::{ImageInput, Pipeline};
use facematch_models::{load_pipeline, AgeModel, BundleOptions};

/// (true age or gender, estimated age, P(male)) of the largest face of each labelled
/// image that has one.
fn estimates(pipeline: &Pipeline, labels: &str, column: &str) -> Vec<(String, f32, f32)> {
    let text = std::fs::read_to_string(faces_root().join(labels)).expect("labels");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect("column");
    let (image, label) = (col("image"), col(column));
    lines
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let ImageInput::Image(img) = load(f[image]).expect("decodes") else {
                panic!("{} is empty", f[image]);
            };
            let analysis = pipeline.analyze(&img, false).expect("analysis");
            let (_, d) = analysis.faces.into_iter().next()?;
            Some((f[label].to_string(), d.age, d.male_probability))
        })
        .collect()
}

fn age_mae(rows: &[(String, f32, f32)]) -> f32 {
    let errors: Vec<f32> = rows
        .iter()
        .map(|(age, est, _)| (age.parse::<f32>().expect("age") - est).abs())
        .collect();
    errors.iter().sum::<f32>() / errors.len() as f32
}

#[test]
fn age_error_on_the_utkface_dev_crops_is_at_most_4_95_years() {
    let rows = estimates(pipeline(), "utkface_dev_labels.tsv", "age");
    // A face is found in all 144 crops: the one the detector misses as it is (a face
    // filling the frame) is found by the tight-crop retry on a padded copy (143
    // before it).
    assert_eq!(rows.len(), 144, "faces found in {} crops", rows.len());
    let mae = age_mae(&rows);
    // Measured: 4.92 years (4.90 on the 143 before the retry).
    assert!(mae <= 4.95, "age MAE {mae:.3} years");
    // Not one constant: the estimates spread over the 0–90 years of the set
    // (measured: 0.55 to 93.9).
    let (lo, hi) = rows.iter().fold((f32::MAX, f32::MIN), |(lo, hi), r| {
        (lo.min(r.1), hi.max(r.1))
    });
    assert!(
        lo < 1.0 && hi > 90.0,
        "estimates only span {lo:.1}..{hi:.1}"
    );
}

#[test]
fn gender_is_right_on_361_of_the_374_lfw_dev_photos() {
    let rows = estimates(pipeline(), "lfw_dev_gender.tsv", "gender");
    // A face is found in every photo.
    assert_eq!(rows.len(), 374, "faces found in {} photos", rows.len());
    let right = rows
        .iter()
        .filter(|(g, _, p)| (*p > 0.5) == (g == "male"))
        .count();
    // Measured: 361 of 374 (96.5%); dlib's own reference pipeline gets 357.
    assert!(right >= 361, "gender right on {right} of 374");
}

#[test]
fn dlib_age_net_remains_a_working_fallback() {
    let options = BundleOptions {
        age_model: AgeModel::Dlib,
        ..BundleOptions::default()
    };
    let dlib = load_pipeline(&options, &mut |_| {}).expect("dlib age bundle");
    let rows = estimates(&dlib, "utkface_dev_labels.tsv", "age");
    let mae = age_mae(&rows);
    // Its measured error is 10.77 years: usable, not as good.
    assert_eq!(
        rows.len(),
        144,
        "the tight-crop retry finds every crop's face"
    );
    assert!(mae <= 10.85, "dlib age MAE {mae:.3} years");
    assert!(mae > age_mae(&estimates(pipeline(), "utkface_dev_labels.tsv", "age")));
}
