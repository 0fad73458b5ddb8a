//! Model-specific pre- and post-processing of the model bundles, and the loader that
//! assembles one into a [`facematch_core::Pipeline`].
//!
//! The face flows through, in this order:
//! - [`yunet`]: the YuNet face detector (letterbox in, boxes and five landmarks out).
//! - [`attributes`]: what every bundle shares: dlib's five landmarks, which place the
//!   chips, and age ([`age`]: face-api.js's net by default, or dlib's) and gender (the
//!   mean of dlib's gender net and face-api.js's gender head).
//! - [`recognizer`]: the identity embedding, by dlib's ResNet ([`dlib_resnet`]) or an
//!   ArcFace-style model ([`arcface`]: `buffalo_s`, a user's own).
//! - [`describer`]: attributes + one recognizer, behind [`facematch_core::FaceDescriber`].
//!
//! Underneath: [`chw`] packs every image into a model's input planes, [`resize`]
//! scales images, and [`geometry`] is where the detector's `f32` geometry meets dlib's
//! `f64` one. [`bundle`] names the bundles and their files; [`load_pipeline`] loads
//! one, fetching what is missing on first use.

pub mod age;
pub mod arcface;
pub mod attributes;
pub mod bundle;
pub mod chw;
pub mod describer;
pub mod dlib_resnet;
pub mod error;
pub mod geometry;
#[cfg(feature = "lab")]
pub mod lab;
mod load;
pub mod recognizer;
pub mod resize;
pub mod yunet;

pub use age::{AgeModel, AgeNet};
pub use bundle::{ensure_bundle_files, Bundle, CustomModel};
pub use error::ModelError;
pub use load::{load_pipeline, BundleOptions};
