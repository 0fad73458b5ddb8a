//! Pure-Rust ports of the dlib stages facematch relies on: model-file deserialization,
//! the 5-point shape predictor and face-chip extraction.

pub mod chip;
pub mod error;
pub mod geometry;
pub mod resnet;
pub mod serialize;
pub mod shape_predictor;

pub use chip::{extract_image_chip, get_face_chip_details, ChipDetails};
pub use error::{DatError, DatResult};
pub use geometry::{DRect, Point2};
pub use shape_predictor::ShapePredictor;
