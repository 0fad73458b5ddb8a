//! facematch's lab: the evaluation tools, kept apart from what ships.
//!
//! Nothing here runs in the server. `facematch eval`, `eval-attributes`, `calibrate`
//! and `bench` are thin wrappers around [`eval`], [`attributes`], [`calibrate`] and
//! [`bench`]; the loopback load and fault clients (`examples/load.rs`,
//! `examples/faults.rs`) share [`loopback`]; the model studies are the other
//! `examples/`. The metrics themselves (10-fold accuracy, AUC, TAR@FAR, calibration
//! tables) are `facematch-eval`'s.
//!
//! Every tool prints its report on stdout and its progress on stderr, and returns a
//! [`LabError`] whose [`is_input`](LabError::is_input) tells the caller's input
//! apart from everything else.

pub mod analyze;
pub mod attributes;
pub mod bench;
pub mod calibrate;
pub mod degrade;
pub mod error;
pub mod eval;
pub mod image_file;
pub mod loopback;
pub mod pairs;
pub mod plot;
pub mod provenance;
pub mod setup;

pub use error::LabError;
