//! `facematch bench`: median and p90 time of each pipeline stage on two ~1 MP JPEGs
//! of the dev data, or two photos named with `--photos` (the numbers recorded in
//! `docs/benchmarks.md` come from it).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use facematch_core::{image_input, CompareOptions, ImageInput};
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
    /// Two photos to time instead of [`PHOTOS`] (the first must show a face).
    pub photos: Option<[PathBuf; 2]>,
}

/// A timed stage's error, kept whole.
fn stage(e: impl std::error::Error + Send + Sync + 'static) -> LabError {
    LabError::Stage(Box::new(e))
}

/// Runs every stage `options.iterations` times and prints median and p90 per stage.
/// `progress` hears of each model file fetched.
pub fn run(options: &BenchOptions, progress: &mut dyn FnMut(FetchEvent)) -> Result<(), LabError> {
    let n = options.iterations.max(1);
    let paths = options
        .photos
        .clone()
        .unwrap_or_else(|| PHOTOS.map(|p| options.root.join(p)));
    let bytes = paths
        .iter()
        .map(|path| {
            std::fs::read(path).map_err(|source| LabError::Read {
                path: path.clone(),
                source,
            })
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
        .ok_or_else(|| LabError::NoFace(paths[0].display().to_string()))?
        .clone();
    println!(
        "photo: {} ({}x{}, {} bytes); {} iterations; stages on 1 thread, whole compares on 2",
        paths[0].display(),
        image.width(),
        image.height(),
        bytes[0].len(),
        n
    );
    println!("{:<38} {:>9} {:>9}", "stage", "median", "p90");
    report("decode (JPEG → RGB)", n, || {
        decode(&bytes[0], &limits).map(|_| ()).map_err(stage)
    })?;
    report("decode as the API (large: reduced)", n, || {
        image_input(&bytes[0], &limits).map(|_| ()).map_err(stage)
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
    report("detect, quick pass (≤ 320, as served)", n, || {
        pipeline
            .detector()
            .quick_detect_turned(&image, 0)
            .map(|_| ())
            .map_err(stage)
    })?;
    report("detect as served (quick, else full)", n, || {
        pipeline
            .detect_oriented(&image, false)
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
    report("first photo: decode → … → embed", n, || {
        let input = image_input(&bytes[0], &limits).map_err(stage)?;
        if let Some((img, _)) = input.pixels() {
            pipeline.analyze(img, false).map_err(stage)?;
        }
        Ok(())
    })?;
    // A small photo: the first one's centre square at 150×150, JPEG q90, through
    // decode → detect → describe → embed on one thread.
    let small = small_jpeg(&image, 150)?;
    report("150×150 JPEG: decode → … → embed", n, || {
        let input = image_input(&small, &limits).map_err(stage)?;
        if let Some((img, _)) = input.pixels() {
            pipeline.analyze(img, false).map_err(stage)?;
        }
        Ok(())
    })?;
    let compare = CompareOptions::default();
    // As `facematch compare` does: the two images decode (a large JPEG reduced, as the
    // API decodes it; or both at full size, as before issue 14) and are analysed on two
    // threads.
    let read = |bytes: &[u8], full_size: bool| {
        if full_size {
            decode(bytes, &limits).map(|d| ImageInput::Image(d.rgb))
        } else {
            image_input(bytes, &limits)
        }
    };
    let whole = |rotate: bool, full_size: bool| {
        let (first, second) = std::thread::scope(|scope| {
            let second = scope.spawn(|| read(&bytes[1], full_size));
            let first = read(&bytes[0], full_size);
            let second = second
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (first, second)
        });
        pipeline
            .compare(
                &first.map_err(stage)?,
                &second.map_err(stage)?,
                &CompareOptions { rotate, ..compare },
            )
            .map_err(stage)?;
        Ok(())
    };
    report("whole compare (2 JPEGs, decode incl.)", n, || {
        whole(false, false)
    })?;
    if bytes
        .iter()
        .any(|b| matches!(image_input(b, &limits), Ok(ImageInput::Reduced { .. })))
    {
        report("  the same, decoded at full size", n, || whole(false, true))?;
    }
    report("whole compare --rotate", n.div_ceil(3), || {
        whole(true, false)
    })?;
    Ok(())
}

/// The centre square of `image` shrunk to `side` × `side` and encoded as JPEG q90.
fn small_jpeg(image: &image::RgbImage, side: u32) -> Result<Vec<u8>, LabError> {
    let (w, h) = image.dimensions();
    let s = w.min(h);
    let square = image::imageops::crop_imm(image, (w - s) / 2, (h - s) / 2, s, s).to_image();
    let small = image::imageops::resize(&square, side, side, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&small)
        .map_err(stage)?;
    Ok(out)
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
        "{:<38} {:>6.1} ms {:>6.1} ms",
        name,
        ms(times[times.len() / 2]),
        ms(p90)
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
