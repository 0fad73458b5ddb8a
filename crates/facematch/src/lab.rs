//! `facematch eval`, `eval-attributes`, `calibrate` and `bench`: thin wrappers around
//! the evaluation tools of `facematch-lab`, which print their own reports.

use std::path::PathBuf;

use facematch_lab::attributes::AttributesOptions;
use facematch_lab::bench::BenchOptions;
use facematch_lab::calibrate::CalibrateOptions;
use facematch_lab::degrade::DegradeOptions;
use facematch_lab::eval::EvalOptions;
use facematch_lab::LabError;

use crate::cli::{BenchArgs, CalibrateArgs, DegradeArgs, EvalArgs, EvalAttributesArgs, PlotArgs};
use crate::compare::MANY_PAIRS_SESSIONS;
use crate::CliError;

/// A lab error at the binary's edge: input errors exit 2, the others 4.
fn cli_error(e: LabError) -> CliError {
    if e.is_input() {
        CliError::Input(e.into())
    } else {
        CliError::Other(e.into())
    }
}

/// Runs `facematch eval`.
pub fn eval(args: &EvalArgs) -> Result<(), CliError> {
    let options = EvalOptions {
        pairs: args.pairs.clone(),
        root: args.root.clone(),
        rotate: args.rotate,
        threshold: args.threshold,
        json: args.json.clone(),
        threads: args.threads,
        bundle: args.bundle.clone(),
        select: args.select,
        quality_cutoffs: args.quality_cutoffs,
        plot: args.plot.clone(),
    };
    facematch_lab::eval::run(&options, &mut crate::print_progress).map_err(cli_error)
}

/// Runs `facematch degrade`.
pub fn degrade(args: &DegradeArgs) -> Result<(), CliError> {
    let options = DegradeOptions {
        root: args.root.clone(),
        pairs: args.pairs.clone(),
        out: args.out.clone(),
        kinds: args.kinds.clone(),
        both: args.both,
    };
    facematch_lab::degrade::run(&options).map_err(cli_error)
}

/// Runs `facematch plot`.
pub fn plot(args: &PlotArgs) -> Result<(), CliError> {
    facematch_lab::plot::run(&args.out, &args.results).map_err(cli_error)
}

/// Runs `facematch eval-attributes`.
pub fn eval_attributes(args: &EvalAttributesArgs) -> Result<(), CliError> {
    let options = AttributesOptions {
        labels: args.labels.clone(),
        root: args.root.clone(),
        json: args.json.clone(),
        threads: args.threads,
    };
    facematch_lab::attributes::run(&options, &mut crate::print_progress).map_err(cli_error)
}

/// Runs `facematch calibrate`.
pub fn calibrate(args: &CalibrateArgs) -> Result<(), CliError> {
    let options = CalibrateOptions {
        root: args.root.clone(),
        out: args.out.clone(),
        threads: args.threads,
        bundle: args.bundle.clone(),
    };
    facematch_lab::calibrate::run(&options, &mut crate::print_progress).map_err(cli_error)
}

/// Runs `facematch bench`, with the bundle loaded as a process comparing many pairs loads
/// it (two sessions per model; `facematch compare`, a single comparison, builds one).
pub fn bench(args: &BenchArgs) -> Result<(), CliError> {
    let options = BenchOptions {
        root: args.root.clone(),
        iterations: args.iterations,
        bundle: args.bundle.clone(),
        sessions: MANY_PAIRS_SESSIONS,
        photos: args
            .photos
            .clone()
            .map(|p| {
                <[PathBuf; 2]>::try_from(p)
                    .map_err(|_| CliError::Input(anyhow::anyhow!("--photos takes two paths")))
            })
            .transpose()?,
    };
    facematch_lab::bench::run(&options, &mut crate::print_progress).map_err(cli_error)
}
