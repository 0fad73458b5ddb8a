//! Errors of a comparison: a part that does not decode (the caller's fault) and a
//! failure inside a pipeline stage (ours).

use std::fmt;

use facematch_imageio::ImageError;

use crate::cancel::Cancelled;
use crate::response::Side;

/// What made a stage fail (an engine error, a message), kept whole.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure inside a pipeline stage: these are faults of the models or the runtime,
/// never of the user's input (input problems are reported as warnings or decode errors);
/// or the work was [cancelled](PipelineError::Cancelled) by its caller.
///
/// The message names the stage and the cause (`face detection failed: <cause>`), and
/// [`source`](std::error::Error::source) continues with the cause's own source, so a
/// printed chain holds every cause once.
#[derive(Debug)]
pub enum PipelineError {
    /// The face detector failed to run.
    Detector(Cause),
    /// Landmarks, chip extraction or a recognition/attribute model failed.
    Describer(Cause),
    /// The caller cancelled the work (its [`CancelToken`](crate::CancelToken)); the
    /// pipeline stopped at a stage boundary. Not a fault.
    Cancelled(Cancelled),
}

impl From<Cancelled> for PipelineError {
    fn from(c: Cancelled) -> Self {
        PipelineError::Cancelled(c)
    }
}

impl PipelineError {
    /// A failure of the detector stage.
    pub fn detector(cause: impl Into<Cause>) -> Self {
        PipelineError::Detector(cause.into())
    }

    /// A failure of the describer stage.
    pub fn describer(cause: impl Into<Cause>) -> Self {
        PipelineError::Describer(cause.into())
    }

    /// What made the stage fail.
    pub fn cause(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        match self {
            PipelineError::Detector(cause) | PipelineError::Describer(cause) => cause.as_ref(),
            PipelineError::Cancelled(cancelled) => cancelled,
        }
    }

    /// Whether the work was cancelled rather than failed.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, PipelineError::Cancelled(_))
    }
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self {
            PipelineError::Detector(_) => "face detection",
            PipelineError::Describer(_) => "face description",
            PipelineError::Cancelled(cancelled) => return write!(f, "{cancelled}"),
        };
        write!(f, "{stage} failed: {}", self.cause())
    }
}

impl std::error::Error for PipelineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause().source()
    }
}

/// Why [`Pipeline::compare_uploads`](crate::Pipeline::compare_uploads) gave no decision.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// One uploaded image is not a usable JPEG, PNG, WebP or TIFF (a client error).
    #[error("{side} cannot be decoded")]
    Decode {
        /// The image that failed.
        side: Side,
        /// What the decoder said.
        #[source]
        source: ImageError,
    },
    /// A model or the runtime failed (a server error), or the work was cancelled.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

impl From<Cancelled> for CompareError {
    fn from(c: Cancelled) -> Self {
        CompareError::Pipeline(PipelineError::Cancelled(c))
    }
}

impl CompareError {
    /// Whether the work was cancelled rather than failed.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, CompareError::Pipeline(e) if e.is_cancelled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("session failed")]
    struct Engine(#[source] std::io::Error);

    #[test]
    fn the_chain_holds_each_cause_once() {
        let e = PipelineError::describer(Engine(std::io::Error::other("disk")));
        assert_eq!(e.to_string(), "face description failed: session failed");
        let chain: Vec<String> =
            std::iter::successors(std::error::Error::source(&e), |s| s.source())
                .map(ToString::to_string)
                .collect();
        assert_eq!(chain, ["disk"]);
        let e = PipelineError::detector(format!("YuNet output {} missing", "loc"));
        assert_eq!(
            e.to_string(),
            "face detection failed: YuNet output loc missing"
        );
        assert!(std::error::Error::source(&e).is_none());
    }
}
