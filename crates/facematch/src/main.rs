//! `facematch`: compare faces offline, fetch models, benchmark.
//!
//! Exit codes of `compare`: 0 Approved, 1 Declined, 2 input error, 3 In Review,
//! 4 any other failure (models, runtime).

mod cli;
mod compare;
mod database;
mod input;
mod keys;
mod lab;
mod seed;
mod serve;
mod users;
mod webhooks;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ModelsCommand};

fn main() -> ExitCode {
    // Microsoft's ONNX Runtime builds start a telemetry client when the library loads: it
    // writes a device id and an event store under ~/.cache/Microsoft/DeveloperTools and a
    // `.ses` file in the working directory, whatever `with_telemetry(false)` says later.
    // facematch writes nothing but its database (tests/no_images_at_rest.rs), so it is
    // switched off here, before any thread exists (changing the environment is only
    // sound while the process is single-threaded).
    if std::env::var_os("ORT_DISABLE_TELEMETRY").is_none() {
        std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compare(args) => compare::run(&args),
        Command::Models { command } => match command {
            ModelsCommand::Fetch { bundle } => models_fetch(&bundle).map(|()| ExitCode::SUCCESS),
            ModelsCommand::List => {
                models_list();
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Bench(args) => lab::bench(&args).map(|()| ExitCode::SUCCESS),
        Command::Eval(args) => lab::eval(&args).map(|()| ExitCode::SUCCESS),
        Command::EvalAttributes(args) => lab::eval_attributes(&args).map(|()| ExitCode::SUCCESS),
        Command::Calibrate(args) => lab::calibrate(&args).map(|()| ExitCode::SUCCESS),
        Command::Degrade(args) => lab::degrade(&args).map(|()| ExitCode::SUCCESS),
        Command::Plot(args) => lab::plot(&args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => serve::run(*args),
        Command::Keys { command } => keys::run(command),
        Command::Webhooks { command } => webhooks::run(command),
        Command::Db { command } => database::run(command),
        Command::Users { command } => users::run(command),
    };
    result.unwrap_or_else(|err| {
        eprintln!("facematch: {err:#}");
        ExitCode::from(err.exit_code())
    })
}

/// An error at the binary's edge, with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    /// The user's input is unusable (exit 2).
    Input(anyhow::Error),
    /// Anything else: models, runtime, I/O of our own files (exit 4).
    Other(anyhow::Error),
}

/// The bundle called `name` (`--bundle`); `custom` reads `FACEMATCH_CUSTOM_*`. An
/// unknown name or unusable settings are an input error.
pub fn parse_bundle(name: &str) -> Result<facematch_models::Bundle, CliError> {
    facematch_models::Bundle::from_name(name).map_err(|e| CliError::Input(e.into()))
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_) => 2,
            CliError::Other(_) => 4,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Input(e) | CliError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Other(e)
    }
}

/// Prints a progress line to stderr for each model file fetched (first use).
pub fn print_progress(event: facematch_fetch::FetchEvent) {
    use facematch_fetch::FetchEvent;
    match event {
        FetchEvent::Cached(_) => {}
        FetchEvent::Downloading(req) => eprintln!("[models] downloading {req} ..."),
        FetchEvent::Installed(name) => eprintln!("[models] {name}: installed, sha256 ok"),
        FetchEvent::Notice(text) => eprintln!("[models] {text}"),
    }
}

fn models_fetch(bundle: &str) -> Result<(), CliError> {
    let bundle = parse_bundle(bundle)?;
    // Every cached file is hashed in full here, whatever its verification stamp says
    // (and its stamp refreshed): `models fetch` is also how a user re-verifies.
    let store = facematch_fetch::ModelStore::from_env().hashing_every_file();
    eprintln!("[models] cache: {}", store.dir().display());
    let age =
        facematch_models::AgeModel::from_env().map_err(|e| CliError::Input(anyhow::anyhow!(e)))?;
    facematch_models::bundle::ensure_bundle_files(&store, &bundle, age, &mut |event| {
        if let facematch_fetch::FetchEvent::Cached(name) = event {
            eprintln!("[models] {name}: cached, sha256 ok");
        } else {
            print_progress(event);
        }
    })
    .map_err(|e| CliError::Other(e.into()))
}

fn models_list() {
    let store = facematch_fetch::ModelStore::from_env();
    println!("cache: {}", store.dir().display());
    let opt_in = [facematch_fetch::BUFFALO_S_RECOGNIZER];
    let files = facematch_fetch::DEFAULT_BUNDLE
        .into_iter()
        .chain(facematch_fetch::FACEAPI_AGE_FILES)
        .chain(opt_in);
    for f in files {
        let state = match store.verified_path(&f) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        println!(
            "{:<12} {:<45} {:<22} {:<8} {}",
            format!("{:?}", f.role),
            f.file_name,
            f.requirement(),
            f.license,
            state
        );
    }
}
