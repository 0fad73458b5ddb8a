//! Errors of loading a model bundle, and the two constructors through which a model's
//! failure at run time becomes a [`PipelineError`].

use facematch_core::error::Cause;
use facematch_core::PipelineError;

/// Why the bundle could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Fetching, verifying or reading a model file failed.
    #[error(transparent)]
    Fetch(#[from] facematch_fetch::FetchError),
    /// ONNX Runtime could not be loaded or could not build a model's sessions.
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
    Pipeline(#[from] PipelineError),
}

/// A failure of the detector stage (running YuNet or reading its outputs); the cause
/// is kept as the error's source.
pub(crate) fn detector(cause: impl Into<Cause>) -> PipelineError {
    PipelineError::detector(cause)
}

/// A failure of the describer stage (landmarks, chips, a recognition or attribute
/// model); the cause is kept as the error's source.
pub(crate) fn describer(cause: impl Into<Cause>) -> PipelineError {
    PipelineError::describer(cause)
}
