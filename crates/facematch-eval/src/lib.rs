//! Engine-free accuracy metrics for facematch: verification (LFW-protocol 10-fold
//! accuracy, accuracy at a threshold, ROC AUC, TAR at fixed FAR), error rates with
//! Wilson 95% intervals, overall and by face-quality band, attributes (age MAE,
//! gender accuracy) and the builder of a model's calibration table. Everything here
//! works on plain numbers, so it is tested on small synthetic sets with known answers;
//! the `facematch eval` / `calibrate` commands feed it real pipeline outputs.

pub mod attributes;
pub mod calibration;
pub mod quality_rates;
pub mod rates;
pub mod verification;

pub use attributes::{age_mae, gender_accuracy};
pub use calibration::{build_calibration, calibration_markdown, CalibrationOptions};
pub use quality_rates::{quality_bands, quality_level, QualityBand, QualityLevel};
pub use rates::{rates_at_scores, wilson_ci95, ErrorCounts, PairOutcome, RatesAtScore};
pub use verification::{
    accuracy_at, roc_auc, tar_at_far, ten_fold_accuracy, ScoredPair, TarAtFar, TenFold,
};

/// Inputs that no metric can be computed from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The set holds no item (or none of a class the metric needs).
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    /// A value is NaN where a number is needed.
    #[error("invalid value: {0}")]
    InvalidValue(String),
}
