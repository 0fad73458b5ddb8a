//! Errors of the inference runtime.

use std::path::PathBuf;

/// What can go wrong while loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A model file could not be read.
    #[error("model file I/O error at {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// ONNX Runtime failed to load, to build a session or to run it.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    /// A tensor's shape does not match its data, or a model returned outputs of an
    /// unexpected shape or count.
    #[error("unexpected model output: {0}")]
    BadOutput(String),
}
