//! `facematch compare`: the API's face match, offline, printed as the API's 200 body.

use std::process::ExitCode;

use facematch_core::{CompareOptions, FaceMatchResponse, Status};
use facematch_models::{load_pipeline, BundleOptions};

use crate::cli::CompareArgs;
use crate::input::read_image;
use crate::CliError;

/// The bundle as `facematch compare` loads it: one session per model. The two images are
/// still analysed on two threads (decoding, landmarks, chips and quality run side by side;
/// a model runs one image at a time), because a second session of each model costs more
/// to build than it saves on one comparison: the whole process took 0.22–0.24 s instead of
/// 0.30–0.31 s (median of 8, docs/benchmarks.md).
pub fn cli_bundle_options() -> BundleOptions {
    BundleOptions {
        sessions: 1,
        ..BundleOptions::default()
    }
}

/// Sessions per model for a process that compares many pairs (`facematch bench`): two, so
/// that the two images of a comparison never wait for each other's model runs.
pub const MANY_PAIRS_SESSIONS: usize = 2;

/// Runs the comparison and prints the JSON response; the exit code is the decision.
pub fn run(args: &CompareArgs) -> Result<ExitCode, CliError> {
    // --target-fmr (already checked to lie in (0, 1]) replaces --threshold; clap
    // refuses the two together.
    let threshold = match args.target_fmr {
        Some(fmr) => facematch_core::score::threshold_for_fmr(fmr)
            .map_err(|e| CliError::Input(anyhow::anyhow!("--target-fmr: {e}")))?,
        None => args.threshold,
    };
    if let Some(review) = args.review_threshold {
        if review < threshold {
            return Err(CliError::Input(anyhow::anyhow!(
                "--review-threshold ({review}) must be at least the decline threshold ({threshold})"
            )));
        }
    }
    let bundle = crate::parse_bundle(&args.bundle)?;
    let options = BundleOptions {
        bundle,
        ..cli_bundle_options()
    };
    // Models load (hash checks, ResNet conversion, sessions) on their own thread while
    // the two images decode on two others. A bad file still ends the run, but only
    // once the loader is done: leaving `main` while ONNX Runtime builds sessions on
    // other threads tears its globals down under them (glibc aborted with "malloc():
    // unaligned fastbin chunk detected" once loading ran on three threads).
    let loader = std::thread::spawn(move || load_pipeline(&options, &mut crate::print_progress));
    let (user, reference) = std::thread::scope(|scope| {
        let reference = scope.spawn(|| read_image(&args.ref_image));
        let user = read_image(&args.user_image);
        let reference = reference
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (user, reference)
    });
    let (user, reference) = match (user, reference) {
        (Ok(user), Ok(reference)) => (user, reference),
        (Err(e), _) | (_, Err(e)) => {
            // The loader's own outcome no longer matters, only that it has finished.
            let _finished = loader.join();
            return Err(e);
        }
    };
    let pipeline = loader
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        .map_err(|e| CliError::Other(e.into()))?
        .with_parallel_sides(true);
    let options = CompareOptions {
        decline_threshold: threshold,
        review_threshold: args.review_threshold,
        rotate: args.rotate,
        quality_filter: args.quality_filter,
    };
    let face_match = pipeline
        .compare(&user, &reference, &options)
        .map_err(|e| CliError::Other(e.into()))?
        .face_match;
    let status = face_match.status;
    // The API's 200 body; `thresholds` is the server's report of `face_match_target_fmr`
    // and is left out here, as it always was.
    let response = FaceMatchResponse::new(
        uuid::Uuid::new_v4().to_string(),
        face_match,
        time::OffsetDateTime::now_utc(),
        None,
    );
    let json = if args.pretty {
        serde_json::to_string_pretty(&response)
    } else {
        serde_json::to_string(&response)
    }
    .map_err(|e| CliError::Other(e.into()))?;
    println!("{json}");
    Ok(ExitCode::from(match status {
        Status::Approved => 0,
        Status::Declined => 1,
        Status::InReview => 3,
    }))
}
