//! The model bundles and the files each needs.
//!
//! Bundles ([`Bundle`]): the default one (YuNet + dlib's ResNet, MIT/CC0); `buffalo_s`
//! (InsightFace's MobileFaceNet recognizer, non-commercial research only, opt-in); and
//! `custom`, an ArcFace-style ONNX model the user owns, named by `FACEMATCH_CUSTOM_*`
//! variables ([`CustomModel::from_env`]). All three share the YuNet detector, dlib's
//! shape predictor and gender net, and the age net chosen by [`AgeModel`] (by default
//! face-api.js's, whose gender head is averaged with dlib's). Loading them is
//! [`load_pipeline`](crate::load_pipeline)'s job.

use std::path::PathBuf;
use std::str::FromStr;

use facematch_fetch::manifest::{
    default_file, ModelFile, ModelRole, BUFFALO_S_NOTICE, BUFFALO_S_RECOGNIZER, DEFAULT_BUNDLE,
    FACEAPI_AGE_FILES,
};
use facematch_fetch::{FetchEvent, ModelStore};

use crate::age::AgeModel;
use crate::arcface::Preprocessing;
use crate::error::ModelError;

/// Environment variable naming the bundle of `facematch serve`.
pub const BUNDLE_ENV: &str = "FACEMATCH_BUNDLE";
/// Path of the user's ArcFace-style ONNX model (`--bundle custom`).
pub const CUSTOM_MODEL_ENV: &str = "FACEMATCH_CUSTOM_MODEL";
/// Its sha256 (64 hex digits), checked before every load.
pub const CUSTOM_SHA256_ENV: &str = "FACEMATCH_CUSTOM_SHA256";
/// Its preprocessing profile: `arcface112` (default) or `arcface112-bgr`.
pub const CUSTOM_PREPROCESSING_ENV: &str = "FACEMATCH_CUSTOM_PREPROCESSING";
/// Its calibration table, built with `facematch calibrate --bundle custom --out FILE`.
pub const CUSTOM_CALIBRATION_ENV: &str = "FACEMATCH_CUSTOM_CALIBRATION";

/// What scores a user's model without a calibration table, and why it is allowed.
pub const PROVISIONAL_NOTICE: &str = "NOTICE: no FACEMATCH_CUSTOM_CALIBRATION given: scores of the custom model use a \
provisional cosine mapping (similarity 0.3 -> 30, 0.4 -> 50, 0.5 -> 70, 0.6 -> 90) that is NOT a measured \
false-match rate; build a table with `facematch calibrate --bundle custom --out FILE` before relying on them.";

/// A user's own ArcFace-style ONNX model (`--bundle custom`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomModel {
    /// The ONNX file.
    pub path: PathBuf,
    /// Its expected sha256, lower-case hex.
    pub sha256: String,
    /// How aligned chips become its input.
    pub preprocessing: Preprocessing,
    /// Its calibration table; `None` uses [`crate::arcface::provisional_cosine_mapping`].
    pub calibration: Option<PathBuf>,
}

impl CustomModel {
    /// Reads `FACEMATCH_CUSTOM_MODEL`, `FACEMATCH_CUSTOM_SHA256` (both required),
    /// `FACEMATCH_CUSTOM_PREPROCESSING` and `FACEMATCH_CUSTOM_CALIBRATION` (optional).
    pub fn from_env() -> Result<Self, ModelError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let path = var(CUSTOM_MODEL_ENV).ok_or_else(|| {
            ModelError::Config(format!(
                "--bundle custom needs {CUSTOM_MODEL_ENV}=/path/to/model.onnx"
            ))
        })?;
        let sha256 = var(CUSTOM_SHA256_ENV).ok_or_else(|| {
            ModelError::Config(format!(
                "--bundle custom needs {CUSTOM_SHA256_ENV} (the model's sha256, e.g. from `sha256sum`)"
            ))
        })?;
        let sha256 = sha256.trim().to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ModelError::Config(format!(
                "{CUSTOM_SHA256_ENV} must be 64 hex digits"
            )));
        }
        let preprocessing = match var(CUSTOM_PREPROCESSING_ENV) {
            Some(p) => Preprocessing::from_str(&p)
                .map_err(|e| ModelError::Config(format!("{CUSTOM_PREPROCESSING_ENV}: {e}")))?,
            None => Preprocessing::Arcface112,
        };
        Ok(Self {
            path: PathBuf::from(path),
            sha256,
            preprocessing,
            calibration: var(CUSTOM_CALIBRATION_ENV).map(PathBuf::from),
        })
    }
}

/// Which recognizer the pipeline uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Bundle {
    /// YuNet + dlib's ResNet v1, ages from face-api.js's net and gender from the mean
    /// of its and dlib's gender nets: MIT/CC0, the default.
    #[default]
    Default,
    /// InsightFace's `buffalo_s` recognizer (w600k_mbf, 512-d, cosine): weights for
    /// non-commercial research only. Opt-in.
    BuffaloS,
    /// A user's ArcFace-style ONNX model.
    Custom(CustomModel),
}

impl Bundle {
    /// The bundle called `name` (`default`, `buffalo_s`, `custom`); `custom` reads
    /// its settings from the environment ([`CustomModel::from_env`]).
    pub fn from_name(name: &str) -> Result<Self, ModelError> {
        match name.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "" | "default" => Ok(Bundle::Default),
            "buffalo_s" => Ok(Bundle::BuffaloS),
            "custom" => Ok(Bundle::Custom(CustomModel::from_env()?)),
            other => Err(ModelError::Config(format!(
                "unknown bundle {other:?} (expected default, buffalo_s or custom)"
            ))),
        }
    }

    /// The bundle's short name.
    pub fn name(&self) -> &'static str {
        match self {
            Bundle::Default => "default",
            Bundle::BuffaloS => "buffalo_s",
            Bundle::Custom(_) => "custom",
        }
    }

    /// The pinned files the bundle needs from the cache with ages from `age` (a
    /// custom model lives outside it): the default bundle, with the recognizer
    /// replaced or dropped and dlib's age net swapped for face-api.js's if chosen.
    pub fn files(&self, age: AgeModel) -> Vec<ModelFile> {
        let ages: &[ModelFile] = match age {
            AgeModel::FaceApi => &FACEAPI_AGE_FILES,
            AgeModel::Dlib => std::slice::from_ref(default_file(ModelRole::Age)),
        };
        let keep = |f: &&ModelFile| {
            f.role != ModelRole::Age
                && (*self == Bundle::Default || f.role != ModelRole::Recognizer)
        };
        let own = match self {
            Bundle::BuffaloS => Some(BUFFALO_S_RECOGNIZER),
            Bundle::Default | Bundle::Custom(_) => None,
        };
        DEFAULT_BUNDLE
            .iter()
            .filter(keep)
            .copied()
            .chain(own)
            .chain(ages.iter().copied())
            .collect()
    }
}

/// Makes sure every pinned file of `bundle` is cached and verified, downloading what
/// is missing; before `buffalo_s`'s recognizer is downloaded, `progress` receives the
/// non-commercial licence notice.
pub fn ensure_bundle_files(
    store: &ModelStore,
    bundle: &Bundle,
    age: AgeModel,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<(), ModelError> {
    if *bundle == Bundle::BuffaloS && store.verified_path(&BUFFALO_S_RECOGNIZER).is_err() {
        progress(FetchEvent::Notice(BUFFALO_S_NOTICE));
    }
    store.ensure(&bundle.files(age), progress)?;
    Ok(())
}
