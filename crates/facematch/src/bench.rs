//! `facematch bench`: median time of each pipeline stage on two ~1 MP JPEGs of the dev
//! data (the numbers recorded in `docs/benchmarks.md` come from this command).

use std::time::{Duration, Instant};

use anyhow::Context;
use facematch_core::{CompareOptions, ImageInput};
use facematch_imageio::{decode, DecodeLimits};
use facematch_models::load_pipeline;

use crate::compare::cli_bundle_options;
use crate::eval::parse_bundle;

use crate::cli::BenchArgs;
use crate::CliError;

/// Two ~1 MP JPEGs of the same person (910×1137 and 1480×832).
const PHOTOS: [&str; 2] = [
    "celebs/Barack_Obama/obama.jpg",
    "celebs/Barack_Obama/obama1.jpg",
];

/// Runs every stage `args.iterations` times and prints median and p90 per stage.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let n = args.iterations.max(1);
    let bytes = PHOTOS
        .iter()
        .map(|p| {
            let path = args.root.join(p);
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(CliError::Input)?;
    let limits = DecodeLimits::default();
    let t0 = Instant::now();
    let options = facematch_models::BundleOptions {
        bundle: parse_bundle(&args.bundle)?,
        ..cli_bundle_options()
    };
    println!("bundle: {}", options.bundle.name());
    let pipeline = load_pipeline(&options, &mut crate::print_progress)
        .map_err(|e| CliError::Other(e.into()))?
        .with_parallel_sides(true);
    println!(
        "model load (verify + build sessions): {:.1} ms",
        ms(t0.elapsed())
    );
    let image = decode(&bytes[0], &limits)
        .map_err(|e| CliError::Input(e.into()))?
        .rgb;
    let faces = pipeline
        .detector()
        .detect(&image)
        .map_err(|e| CliError::Other(e.into()))?;
    let face = faces
        .first()
        .ok_or_else(|| CliError::Other(anyhow::anyhow!("no face in {}", PHOTOS[0])))?
        .clone();
    let other = |e: anyhow::Error| CliError::Other(e);
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
        decode(&bytes[0], &limits).map(|_| ()).map_err(Into::into)
    })
    .map_err(other)?;
    report("  of which letterbox to 640×640", n, || {
        facematch_models::yunet::preprocess(&image);
        Ok(())
    })
    .map_err(other)?;
    report("detect (YuNet, letterbox 640)", n, || {
        pipeline
            .detector()
            .detect(&image)
            .map(|_| ())
            .map_err(Into::into)
    })
    .map_err(other)?;
    report("describe: landmarks+chips+age+gender", n, || {
        pipeline
            .describer()
            .describe(&image, &face, false)
            .map(|_| ())
            .map_err(Into::into)
    })
    .map_err(other)?;
    report("describe + embed (recognizer)", n, || {
        pipeline
            .describer()
            .describe(&image, &face, true)
            .map(|_| ())
            .map_err(Into::into)
    })
    .map_err(other)?;
    let options = CompareOptions::default();
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
        pipeline.compare(
            &ImageInput::Image(first?.rgb),
            &ImageInput::Image(second?.rgb),
            &CompareOptions { rotate, ..options },
        )?;
        Ok(())
    };
    report("whole compare (2 JPEGs, decode incl.)", n, || whole(false)).map_err(other)?;
    report("whole compare --rotate", n.div_ceil(3), || whole(true)).map_err(other)?;
    Ok(())
}

fn report(name: &str, n: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<()> {
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
