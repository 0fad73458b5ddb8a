//! Errors raised while running the face pipeline on an already decoded image.

/// A failure inside a pipeline stage: these are faults of the models or the runtime,
/// never of the user's input (input problems are reported as warnings or decode errors).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The face detector failed to run.
    #[error("face detection failed: {0}")]
    Detector(String),
    /// Landmarks, chip extraction or a recognition/attribute model failed.
    #[error("face description failed: {0}")]
    Describer(String),
}
