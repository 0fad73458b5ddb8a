//! What every tool sets up first: the bundle named on the command line, the number of
//! worker threads, and the pipeline with one session per worker.

use facematch_core::Pipeline;
use facematch_fetch::FetchEvent;
use facematch_models::{load_pipeline as load_bundle, Bundle, BundleOptions};

use crate::LabError;

/// The bundle called `name` (`--bundle`); `custom` reads `FACEMATCH_CUSTOM_*`.
pub fn parse_bundle(name: &str) -> Result<Bundle, LabError> {
    Bundle::from_name(name).map_err(LabError::Bundle)
}

/// Number of worker threads: `requested`, or one per core.
pub fn thread_count(requested: Option<usize>) -> usize {
    requested
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
        .max(1)
}

/// Loads `bundle` with one session per worker thread; `progress` hears of each model
/// file (fetched on first use).
pub fn load_pipeline(
    bundle: &Bundle,
    threads: usize,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<Pipeline, LabError> {
    let options = BundleOptions {
        bundle: bundle.clone(),
        sessions: threads,
        ..BundleOptions::default()
    };
    load_bundle(&options, progress).map_err(LabError::Models)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_are_at_least_one() {
        assert_eq!(thread_count(Some(0)), 1);
        assert_eq!(thread_count(Some(3)), 3);
        assert!(thread_count(None) >= 1);
    }

    #[test]
    fn unknown_bundles_are_input_errors() {
        assert!(parse_bundle("no-such-bundle").is_err_and(|e| e.is_input()));
        assert!(matches!(parse_bundle("default"), Ok(Bundle::Default)));
    }
}
