//! Engine-free domain of facematch: geometry, scoring, the response model and the
//! comparison pipeline, written against small traits so that any detector or face
//! describer (ONNX Runtime today, something else tomorrow) can stand behind them.
//!
//! Read in the order a request flows: [`input`] (bytes → image) → [`analysis`] (the
//! model stages and what they find) → [`pipeline`] (running them) → [`decision`] (score
//! and status) → [`response`] / [`envelope`] (the contract's JSON), with
//! [`comparison`] (decision plus stage timings), [`cancel`] (stopping abandoned work)
//! and [`error`] beside them.

pub mod align;
pub mod analysis;
pub mod cancel;
pub mod comparison;
pub mod decision;
pub mod envelope;
pub mod error;
pub mod geometry;
pub mod input;
pub mod pipeline;
pub mod pose;
pub mod quality;
pub mod response;
pub mod score;

pub use analysis::{Detection, FaceDescriber, FaceDescription, FaceDetector, ImageAnalysis};
pub use cancel::{CancelToken, Cancelled, WorkStarted};
pub use comparison::{Comparison, Stage, StageTimings};
pub use decision::CompareOptions;
pub use envelope::{rfc3339_micros, FaceMatchResponse, Thresholds};
pub use error::{CompareError, PipelineError};
pub use geometry::{nms, BBox, Letterbox, Point};
pub use input::{image_input, image_input_reporting, ImageInput, MAX_IMAGE_BYTES};
pub use pipeline::{FaceSelection, Pipeline, DEFAULT_MAX_DESCRIBED_FACES};
pub use pose::Pose;
pub use quality::{FaceQuality, QualityFilter, QualityIssue};
pub use response::{
    Entity, FaceMatch, Gender, ImageFaces, LogType, Side, Status, UnknownStatus, Warning,
    WarningTag,
};
