//! Errors of loading the model bundle.

/// Why the bundle could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Fetching, verifying or running a model file failed.
    #[error(transparent)]
    Engine(#[from] facematch_engine::EngineError),
    /// A dlib `.dat` file could not be read or converted.
    #[error("dlib model {file}: {source}")]
    Dat {
        /// The file concerned.
        file: &'static str,
        /// What was wrong in it.
        source: facematch_dlib::error::DatError,
    },
    /// face-api.js's weight files could not be read or converted.
    #[error("face-api.js model {file}: {source}")]
    FaceApi {
        /// The file concerned.
        file: &'static str,
        /// What was wrong in it.
        source: facematch_faceapi::FaceApiError,
    },
    /// The bundle's settings (name, `FACEMATCH_CUSTOM_*` variables) are unusable.
    #[error("bundle configuration: {0}")]
    Config(String),
    /// A calibration table could not be read or is not a valid mapping.
    #[error("calibration table {path}: {detail}")]
    Calibration {
        /// The file concerned.
        path: std::path::PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A model is not the one the pipeline expects.
    #[error(transparent)]
    Pipeline(#[from] facematch_core::PipelineError),
}
