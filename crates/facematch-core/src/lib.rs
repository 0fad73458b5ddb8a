//! Engine-free domain of facematch: geometry, scoring, the response model and the
//! comparison pipeline, written against small traits so that any detector or face
//! describer (ONNX Runtime today, something else tomorrow) can stand behind them.

pub mod align;
pub mod error;
pub mod geometry;
pub mod input;
pub mod pipeline;
pub mod response;
pub mod score;

pub use error::PipelineError;
pub use geometry::{nms, BBox, Letterbox, Point};
pub use input::{image_input, rfc3339_micros, MAX_IMAGE_BYTES};
pub use pipeline::{
    CompareOptions, Detection, FaceDescriber, FaceDescription, FaceDetector, ImageInput, Pipeline,
};
pub use response::{Entity, FaceMatch, ImageFaces, Status, Warning, WarningTag};
