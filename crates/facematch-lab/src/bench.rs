//! `facematch bench`: median and p90 time of each pipeline stage on two ~1 MP JPEGs
//! of the dev data (the numbers recorded in `docs/benchmarks.md` come from it).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use facematch_core::{CompareOptions, ImageInput};
use facematch_fetch::FetchEvent;
use facematch_imageio::{decode, DecodeLimits};
use facematch_models::{load_pipeline, BundleOptions};

use crate::setup::parse_bundle;
use crate::LabError;

/// Two ~1 MP JPEGs of the same person (910×1137 and 1480×832).
const PHOTOS: [&str; 2] = [
    "celebs/Barack_Obama/obama.jpg",
    "celebs/Barack_Obama/obama1.jpg",
];

/// What to time, as `facematch bench` takes it.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Folder of face photos (the shared dev data).
    pub root: PathBuf,
    /// Repetitions of each timed stage (at least 1).
    pub iterations: usize,
    /// Bundle name: `default`, `buffalo_s` or `custom`.
    pub bundle: String,
    /// Sessions per model, as `compare` loads them (2: both sides of a comparison at
    /// once).
    pub sessions: usize,
}

/// A timed stage's error, kept whole.
fn stage(e: impl std::error::Error + Send + Sync + 'static) -> LabError {
    LabError::Stage(Box::new(e))
}

/// Runs every stage `options.iterations` times and prints median and p90 per stage.
/// `progress` hears of each model file fetched.
pub fn run(options: &BenchOptions, progress: &mut dyn FnMut(FetchEvent)) -> Result<(), LabError> {
    let n = options.iterations.max(1);
    let bytes = PHOTOS
        .iter()
        .map(|p| {
            let path = options.root.join(p);
            std::fs::read(&path).map_err(|source| LabError::Read { path, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let limits = DecodeLimits::default();
    let t0 = Instant::now();
    let bundle = BundleOptions {
        bundle: parse_bundle(&options.bundle)?,
        sessions: options.sessions,
        ..BundleOptions::default()
    };
    println!("bundle: {}", bundle.bundle.name());
    let pipeline = load_pipeline(&bundle, progress)
        .map_err(LabError::Models)?
        .with_parallel_sides(true);
    println!(
        "model load (verify + build sessions): {:.1} ms",
        ms(t0.elapsed())
    );
    let image = decode(&bytes[0], &limits).map_err(LabError::Decode)?.rgb;
    let faces = pipeline.detector().detect(&image)?;
    let face = faces
        .first()
        .ok_or_else(|| LabError::NoFace(PHOTOS[0].to_string()))?
        .clone();
    println!(
        "photo: {} ({}x{}, {} bytes); {} iterations; stages on 1 thread, whole compares on 2",
        PHOTOS[0],
        image.width(),
        image.height(),
        bytes[0].len(),
        n
    );
    println!("{:<34} {:>9} {:>9}", "stage", "median", "p90");
    report("decode (JPEG → RGB)", n, || {
        decode(&bytes[0], &limits).map(|_| ()).map_err(stage)
    })?;
    report("  of which letterbox to 640×640", n, || {
        facematch_models::yunet::preprocess(&image);
        Ok(())
    })?;
    report("detect (YuNet, letterbox 640)", n, || {
        pipeline
            .detector()
            .detect(&image)
            .map(|_| ())
            .map_err(stage)
    })?;
    report("describe: landmarks+chips+age+gender", n, || {
        pipeline
            .describer()
            .describe(&image, &face, false)
            .map(|_| ())
            .map_err(stage)
    })?;
    report("describe + embed (recognizer)", n, || {
        pipeline
            .describer()
            .describe(&image, &face, true)
            .map(|_| ())
            .map_err(stage)
    })?;
    report("quality + pose (per face)", n, || {
        facematch_core::quality::assess(&image, &face);
        Ok(())
    })?;
    let compare = CompareOptions::default();
    let whole = |rotate: bool| {
        // As `facematch compare` does: the two images decode and are analysed on two
        // threads.
        let (first, second) = std::thread::scope(|scope| {
            let second = scope.spawn(|| decode(&bytes[1], &limits));
            let first = decode(&bytes[0], &limits);
            let second = second
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (first, second)
        });
        pipeline
            .compare(
                &ImageInput::Image(first.map_err(stage)?.rgb),
                &ImageInput::Image(second.map_err(stage)?.rgb),
                &CompareOptions { rotate, ..compare },
            )
            .map_err(stage)?;
        Ok(())
    };
    report("whole compare (2 JPEGs, decode incl.)", n, || whole(false))?;
    report("whole compare --rotate", n.div_ceil(3), || whole(true))?;
    Ok(())
}

/// Runs `f` once to warm up, then `n` timed times, and prints the median and p90.
fn report(
    name: &str,
    n: usize,
    mut f: impl FnMut() -> Result<(), LabError>,
) -> Result<(), LabError> {
    f()?; // warm-up: first runs allocate ORT buffers
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed());
    }
    times.sort();
    let p90 = times[(times.len() * 9 / 10).min(times.len() - 1)];
    println!(
        "{:<34} {:>6.1} ms {:>6.1} ms",
        name,
        ms(times[times.len() / 2]),
        ms(p90)
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
