//! dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`) as an
//! ONNX graph.
//!
//! [`dat`] parses dlib's serialized network, checked against the expected network
//! type (`arch`), into the typed layers of [`layers`] with `f32` weights; [`onnx`]
//! turns those into ONNX `ModelProto` bytes that ONNX Runtime can load from memory.
//! The conversion runs once (when the model is loaded); inference then goes through
//! ONNX Runtime.

mod arch;
pub mod dat;
pub mod layers;
pub mod onnx;

pub use dat::parse_face_recognition_resnet;
pub use layers::{DlibNet, Layer};
pub use onnx::{net_to_onnx, INPUT_NAME, OUTPUT_NAME};

use crate::error::DatError;

/// File name of dlib's face-recognition model.
pub const MODEL_FILE_NAME: &str = "dlib_face_recognition_resnet_model_v1.dat";

/// Converts the bytes of `dlib_face_recognition_resnet_model_v1.dat` into an ONNX model.
///
/// The model takes `chip`: `float32[N, 3, 150, 150]`, RGB values 0–255 of the chips
/// dlib's `get_face_chip(img, shape, 150, 0.25)` extracts, and returns `embedding`:
/// `float32[N, 128]`, dlib's (unnormalized) face descriptor.
pub fn dlib_resnet_to_onnx(dat: &[u8]) -> Result<Vec<u8>, DatError> {
    let net = parse_face_recognition_resnet(dat)?;
    net_to_onnx(&net)
}
