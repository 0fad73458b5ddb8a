//! The inference runtime of facematch: float tensors in, float tensors out.
//!
//! - [`tensor`]: [`Tensor`] and the small [`InferenceModel`] trait every model stands
//!   behind, so another backend can stand beside ONNX Runtime.
//! - [`runtime`]: ONNX Runtime, loaded dynamically from a file, and [`OrtModel`], a
//!   pool of its sessions.
//!
//! Which model files exist and how they reach the disk is `facematch-fetch`'s job.

pub mod error;
pub mod runtime;
pub mod tensor;

pub use error::EngineError;
pub use runtime::{init_runtime, OrtModel, SessionOptions};
pub use tensor::{InferenceModel, Tensor};
