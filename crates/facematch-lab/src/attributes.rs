//! `facematch eval-attributes`: age MAE and gender accuracy on a label file. Ages and
//! gender come from the same nets in every bundle (face-api.js's age net by default,
//! gender as the mean of dlib's and face-api.js's gender heads; dlib's with
//! `FACEMATCH_AGE_MODEL=dlib`), so the default bundle is always the one loaded.

use std::path::{Path, PathBuf};
use std::time::Instant;

use facematch_fetch::FetchEvent;
use facematch_models::Bundle;
use serde::Serialize;

use crate::analyze::analyze_all;
use crate::eval::with_list;
use crate::provenance::{bundle_description, command_line, model_hashes, write_json, ModelHash};
use crate::setup::{load_pipeline, thread_count};
use crate::LabError;

/// What to evaluate, as `facematch eval-attributes` takes it.
#[derive(Debug, Clone)]
pub struct AttributesOptions {
    /// Tab-separated labels with a header naming `image` and `age` and/or `gender`.
    pub labels: PathBuf,
    /// Folder the label file's paths are relative to.
    pub root: PathBuf,
    /// Where to write every number, the bundle, model hashes and the command (JSON).
    pub json: Option<PathBuf>,
    /// Worker threads (default: one per core).
    pub threads: Option<usize>,
}

/// A labelled image of an attribute file.
#[derive(Debug, Clone, PartialEq)]
struct Label {
    image: String,
    age: Option<f64>,
    male: Option<bool>,
}

/// Reads a tab-separated label file with a header naming at least `image`, and
/// `age` and/or `gender` (`male`/`female`, `m`/`f`).
fn read_labels(path: &Path) -> Result<Vec<Label>, LabError> {
    let text = std::fs::read_to_string(path).map_err(|source| LabError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_labels(&text, path)
}

/// Parses the text of the label file `path`.
fn parse_labels(text: &str, path: &Path) -> Result<Vec<Label>, LabError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split('\t')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let image = col(&["image", "path", "file"]).ok_or_else(|| LabError::NoImageColumn {
        path: path.to_path_buf(),
    })?;
    let (age, gender) = (col(&["age"]), col(&["gender", "sex"]));
    if age.is_none() && gender.is_none() {
        return Err(LabError::NoLabelColumn {
            path: path.to_path_buf(),
        });
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

/// Runs the evaluation: prints the report on stdout (progress on stderr) and writes
/// the JSON report if asked. `progress` hears of each model file fetched.
pub fn run(
    options: &AttributesOptions,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<(), LabError> {
    let labels = read_labels(&options.labels)?;
    let threads = thread_count(options.threads);
    let pipeline = load_pipeline(&Bundle::Default, threads, progress)?;
    let paths: Vec<String> = labels.iter().map(|l| l.image.clone()).collect();
    let t0 = Instant::now();
    let analyses = analyze_all(&pipeline, &options.root, &paths, false, threads);
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
        labels_file: options.labels.clone(),
        root: options.root.clone(),
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
    print_report(&report);
    if let Some(out) = &options.json {
        write_json(out, &report)?;
    }
    Ok(())
}

/// The human-readable report.
fn print_report(report: &AttributesReport) {
    println!(
        "{}: {} images, {} threads, {:.1} s",
        report.labels_file.display(),
        report.images,
        report.threads,
        report.seconds
    );
    for (p, e) in &report.unreadable_images {
        println!("  unreadable: {p}: {e}");
    }
    println!(
        "failures to acquire (no face): {}",
        with_list(&report.failures_to_acquire)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_need_an_image_and_an_attribute_column() {
        let path = Path::new("labels.tsv");
        let labels = parse_labels(
            "Image\tAge\tSex\na.jpg\t31\tF\nb.jpg\t?\tmale\n\t4\tm\n",
            path,
        )
        .expect("labels");
        assert_eq!(
            labels,
            [
                Label {
                    image: "a.jpg".into(),
                    age: Some(31.0),
                    male: Some(false)
                },
                Label {
                    image: "b.jpg".into(),
                    age: None,
                    male: Some(true)
                },
            ]
        );
        assert!(matches!(
            parse_labels("file\tname\n", path),
            Err(LabError::NoLabelColumn { .. })
        ));
        assert!(matches!(
            parse_labels("age\n3\n", path),
            Err(LabError::NoImageColumn { .. })
        ));
    }
}
