//! Analysing many photos once each, in parallel over the cores, so that the pairs and
//! labels of a report can reuse the analyses.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use facematch_core::{ImageAnalysis, ImageInput, Pipeline};

use crate::error::chain;
use crate::image_file::read_image;

/// What became of one image: its analysis, or why there is none (unreadable,
/// undecodable, empty, or a pipeline error).
pub type Analysis = Result<ImageAnalysis, String>;

/// Analyses every path (relative to `root`) once, on `threads` workers pulling from a
/// shared index, with a progress line and ETA on stderr. A file that cannot be read
/// or decoded, or an empty one, is an `Err` with the reason.
pub fn analyze_all(
    pipeline: &Pipeline,
    root: &Path,
    paths: &[String],
    rotate: bool,
    threads: usize,
) -> Vec<Analysis> {
    let n = paths.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Analysis>>> = Mutex::new((0..n).map(|_| None).collect());
    let start = Instant::now();
    // Print about 100 updates in all, so a log file stays readable.
    let every = (n / 100).max(1);
    std::thread::scope(|s| {
        for _ in 0..threads.min(n.max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(rel) = paths.get(i) else { break };
                let result = analyze_one(pipeline, &root.join(rel), rotate);
                results.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(result);
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d.is_multiple_of(every) || d == n {
                    let secs = start.elapsed().as_secs_f64();
                    let rate = d as f64 / secs.max(1e-9);
                    let eta = (n - d) as f64 / rate.max(1e-9);
                    eprint!(
                        "\r[eval] {d}/{n} images, {rate:.1}/s, elapsed {secs:.0} s, ETA {eta:.0} s   "
                    );
                    let _ = std::io::stderr().flush();
                }
            });
        }
    });
    eprintln!();
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not analysed".into())))
        .collect()
}

fn analyze_one(pipeline: &Pipeline, path: &Path, rotate: bool) -> Analysis {
    match read_image(path).map_err(|e| chain(&e))? {
        ImageInput::Image(img) => pipeline.analyze(&img, rotate).map_err(|e| e.to_string()),
        ImageInput::Reduced { image, scale } => pipeline
            .analyze(&image, rotate)
            .map(|a| a.scaled_up(scale))
            .map_err(|e| e.to_string()),
        ImageInput::Empty => Err(format!("{} is empty", path.display())),
    }
}
