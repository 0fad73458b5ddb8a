//! Model-specific pre- and post-processing of the default bundle, and the loader
//! that assembles it into a [`facematch_core::Pipeline`].
//!
//! - [`yunet`]: the YuNet face detector.
//! - [`dlib_face`]: dlib's shape predictor, face chips, ResNet recognizer and the
//!   age/gender nets, behind [`facematch_core::FaceDescriber`].
//! - [`bundle`]: fetch-on-first-use loading of the whole default bundle.

pub mod bundle;
pub mod dlib_face;
pub mod error;
pub mod resize;
pub mod yunet;

pub use bundle::{load_default_pipeline, BundleOptions};
pub use error::ModelError;
