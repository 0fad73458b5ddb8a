//! Model-specific pre- and post-processing of the default bundle, and the loader
//! that assembles it into a [`facematch_core::Pipeline`].
//!
//! - [`yunet`]: the YuNet face detector.
//! - [`dlib_face`]: dlib's shape predictor, face chips, ResNet recognizer and gender
//!   net, behind [`facematch_core::FaceDescriber`].
//! - [`age`]: the age estimator (face-api.js's net by default, or dlib's).
//! - [`arcface`]: ArcFace-style recognizers (`buffalo_s`, a user's own model) on
//!   112×112 aligned chips.
//! - [`bundle`]: fetch-on-first-use loading of a whole bundle.

pub mod age;
pub mod arcface;
pub mod bundle;
pub mod dlib_face;
pub mod error;
pub mod resize;
pub mod yunet;

pub use age::{AgeModel, AgeNet};
pub use bundle::{load_default_pipeline, load_pipeline, Bundle, BundleOptions, CustomModel};
pub use error::ModelError;
