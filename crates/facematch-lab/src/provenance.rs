//! What makes a JSON report reproducible: the command as run, the bundle in words,
//! each model file with its sha256, and writing the report out.

use std::path::Path;

use facematch_models::{AgeModel, Bundle};
use serde::Serialize;

use crate::LabError;

/// Where ages and gender come from with `age` (the same in every bundle).
fn attributes_description(age: AgeModel) -> &'static str {
    match age {
        AgeModel::FaceApi => {
            "face-api.js age, gender as the mean of dlib's and face-api.js's gender nets"
        }
        AgeModel::Dlib => "dlib age and gender",
    }
}

/// A description of `bundle` for the JSON reports, with the age model chosen by
/// `FACEMATCH_AGE_MODEL`.
pub fn bundle_description(bundle: &Bundle) -> String {
    let attributes = attributes_description(AgeModel::from_env().unwrap_or_default());
    match bundle {
        Bundle::Default => format!("default (YuNet + dlib ResNet v1 + {attributes})"),
        Bundle::BuffaloS => {
            format!("buffalo_s (YuNet + InsightFace w600k_mbf, ArcFace 112x112 + {attributes})")
        }
        Bundle::Custom(c) => format!(
            "custom ({} , {}, calibration {}) + YuNet + {attributes}",
            c.path.display(),
            c.preprocessing.name(),
            c.calibration
                .as_ref()
                .map_or("provisional".into(), |p| p.display().to_string())
        ),
    }
}

/// A model file of the bundle, for reproducibility.
#[derive(Debug, Clone, Serialize)]
pub struct ModelHash {
    /// The file's role (`Detector`, `Recognizer`, …).
    pub role: String,
    /// Its file name (a custom recognizer: its path).
    pub file: String,
    /// Its pinned sha256.
    pub sha256: String,
}

/// The bundle's model files and their sha256.
pub fn model_hashes(bundle: &Bundle) -> Vec<ModelHash> {
    let mut hashes: Vec<ModelHash> = bundle
        .files(AgeModel::from_env().unwrap_or_default())
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

/// The command line as run (program name as `facematch`), for the JSON reports.
pub fn command_line() -> String {
    std::iter::once("facematch".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `value` as pretty JSON to `path`, with a final newline.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), LabError> {
    let json = serde_json::to_string_pretty(value)?;
    std::fs::write(path, json + "\n").map_err(|source| LabError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_not_credited_to_dlib_by_default() {
        let text = attributes_description(AgeModel::default());
        assert!(text.starts_with("face-api.js age"), "{text}");
        assert!(text.contains("mean"), "{text}");
    }
}
