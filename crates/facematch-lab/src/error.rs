//! The lab's one error type. Each variant keeps its cause as `#[source]`;
//! [`LabError::is_input`] sorts them into "the caller's input is unusable" and
//! "anything else" (models, runtime, our own output files), which the CLI maps to its
//! exit codes 2 and 4.

use std::path::PathBuf;

/// Why an evaluation tool stopped.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// An input file (pair list, label file, photo) could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An input folder could not be listed.
    #[error("cannot list {}", path.display())]
    List {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of a pair list is not `left<TAB>right<TAB>1|0`.
    #[error("{}:{line}: expected left<TAB>right<TAB>1|0", path.display())]
    PairLine {
        /// The pair list.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
    },
    /// A pair list holds no pair.
    #[error("{} holds no pairs", path.display())]
    NoPairs {
        /// The pair list.
        path: PathBuf,
    },
    /// A label file's header names no image column.
    #[error("{}: no `image` column in the header", path.display())]
    NoImageColumn {
        /// The label file.
        path: PathBuf,
    },
    /// A label file's header names neither an age nor a gender column.
    #[error("{}: neither an `age` nor a `gender` column", path.display())]
    NoLabelColumn {
        /// The label file.
        path: PathBuf,
    },
    /// A photo is over the API's 5 MiB limit.
    #[error("{} is {bytes} bytes, over the 5 MiB limit", path.display())]
    TooLarge {
        /// The photo.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// A photo does not decode as the API would decode it.
    #[error("{} cannot be used", path.display())]
    Unusable {
        /// The photo.
        path: PathBuf,
        /// Why it does not decode.
        #[source]
        source: facematch_imageio::ImageError,
    },
    /// The bundle named on the command line, or its `FACEMATCH_CUSTOM_*` settings,
    /// cannot be used.
    #[error(transparent)]
    Bundle(facematch_models::ModelError),
    /// The bundle's models could not be fetched or loaded.
    #[error(transparent)]
    Models(facematch_models::ModelError),
    /// A benchmark photo does not decode.
    #[error(transparent)]
    Decode(facematch_imageio::ImageError),
    /// A pipeline stage failed on a photo that decoded.
    #[error(transparent)]
    Pipeline(#[from] facematch_core::PipelineError),
    /// A timed stage of the benchmark failed.
    #[error(transparent)]
    Stage(Box<dyn std::error::Error + Send + Sync>),
    /// The benchmark photo shows no face.
    #[error("no face in {0}")]
    NoFace(String),
    /// A metric could not be computed (e.g. no genuine or no impostor pair).
    #[error(transparent)]
    Metric(#[from] facematch_eval::EvalError),
    /// A report could not be serialised.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A report could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A photo to degrade does not decode (`facematch degrade`).
    #[error("{} does not decode", path.display())]
    Photo {
        /// The photo.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },
    /// A degraded copy could not be encoded (`facematch degrade`).
    #[error("cannot encode {}", path.display())]
    Encode {
        /// The copy.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },
    /// A path cannot be written into a pair list (not UTF-8, or holds a tab or newline).
    #[error("{} cannot be written into a pair list (not UTF-8, or a tab or newline in it)", path.display())]
    PathText {
        /// The path.
        path: PathBuf,
    },
    /// A result file given to `facematch plot` is not JSON.
    #[error("{} is not JSON", path.display())]
    ResultJson {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A result given to the plot is not an `eval --json` report with per-pair scores.
    #[error("{name} is not an `eval --json` result with per-pair scores: {reason}")]
    NotAResult {
        /// Which result (its file, or its position).
        name: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// The figure could not be drawn.
    #[error("cannot draw the figure")]
    Figure(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl LabError {
    /// Whether the caller's input (files, folders, flags) is at fault, rather than
    /// the models, the runtime or our own output.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            LabError::Read { .. }
                | LabError::List { .. }
                | LabError::PairLine { .. }
                | LabError::NoPairs { .. }
                | LabError::NoImageColumn { .. }
                | LabError::NoLabelColumn { .. }
                | LabError::TooLarge { .. }
                | LabError::Unusable { .. }
                | LabError::Bundle(_)
                | LabError::Decode(_)
                | LabError::Photo { .. }
                | LabError::PathText { .. }
                | LabError::ResultJson { .. }
                | LabError::NotAResult { .. }
        )
    }
}

/// `error` and its sources joined by `": "`, as one line (how reasons are recorded in
/// the reports).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_join_every_cause() {
        let e = LabError::Read {
            path: "a.tsv".into(),
            source: std::io::Error::other("gone"),
        };
        assert_eq!(chain(&e), "cannot read a.tsv: gone");
        assert!(e.is_input());
        let w = LabError::Write {
            path: "out.json".into(),
            source: std::io::Error::other("full"),
        };
        assert!(!w.is_input());
    }
}
