//! Typed errors for reading dlib's serialized model files.

use thiserror::Error;

/// Everything that can go wrong while reading a dlib `.dat` file.
///
/// Every variant carries the byte offset where the problem was found so that a
/// corrupt or hostile file can be diagnosed without a debugger.
#[derive(Debug, Error)]
pub enum DatError {
    /// The input ended before a value was complete.
    #[error(
        "truncated dlib data at byte {offset}: needed {needed} more byte(s), {available} left"
    )]
    Truncated {
        /// Offset of the value that could not be read.
        offset: usize,
        /// Bytes the value still needed.
        needed: usize,
        /// Bytes that were left in the input.
        available: usize,
    },
    /// An integer's control byte was malformed or the value does not fit the target type.
    #[error("bad dlib integer at byte {offset}: {reason}")]
    BadVarint {
        /// Offset of the control byte.
        offset: usize,
        /// What exactly was wrong.
        reason: &'static str,
    },
    /// A version tag did not have the value this reader understands.
    #[error("unexpected version {found} of {what} at byte {offset} (expected {expected})")]
    UnexpectedVersion {
        /// The object whose version tag was read.
        what: &'static str,
        /// The version found in the file.
        found: i64,
        /// The version this reader supports.
        expected: i64,
        /// Offset of the version tag.
        offset: usize,
    },
    /// A length or dimension exceeds what a sane model (or the remaining input) can hold.
    #[error("{what} at byte {offset} is too large: {len} (limit {max})")]
    TooLarge {
        /// What was being sized (vector length, matrix dimension, ...).
        what: &'static str,
        /// The length found in the file.
        len: u64,
        /// The largest value accepted at that point.
        max: u64,
        /// Offset of the length field.
        offset: usize,
    },
    /// The data uses an encoding this reader deliberately does not support.
    #[error("unsupported dlib encoding at byte {offset}: {what}")]
    Unsupported {
        /// Offset of the offending value.
        offset: usize,
        /// Which encoding was found.
        what: &'static str,
    },
    /// The file parsed, but its content is inconsistent (an index out of range, a
    /// shape with the wrong size, ...), so using it could panic or give garbage.
    #[error("invalid dlib model: {0}")]
    Invalid(String),
    /// Reading the file from disk failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file being read.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias used by the dlib readers.
pub type DatResult<T> = Result<T, DatError>;
