//! face-api.js's age and gender network (MIT), read from its TensorFlow.js weight
//! files and turned into an ONNX graph in memory, so ONNX Runtime runs it like every
//! other model here.
//!
//! [`weights`] decodes the weights manifest and binary; [`age_gender`] writes the
//! graph. [`age_gender_onnx`] does both.

pub mod age_gender;
pub mod error;
pub mod weights;

pub use age_gender::{age_gender_to_onnx, AGE_OUTPUT, GENDER_OUTPUT, INPUT_NAME, INPUT_SIZE};
pub use error::FaceApiError;
pub use weights::{read_weights, Tensor};

/// Converts `age_gender_model-weights_manifest.json` and `age_gender_model.bin` into
/// the ONNX model described in [`age_gender`].
pub fn age_gender_onnx(manifest: &[u8], binary: &[u8]) -> Result<Vec<u8>, FaceApiError> {
    age_gender_to_onnx(&read_weights(manifest, binary)?)
}
