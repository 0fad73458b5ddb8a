//! Does embedding the mirrored chip too (and averaging) help? Compares both settings on
//! the dev pair lists: best-threshold accuracy, accuracy at dlib's 0.6, and ROC AUC of
//! the distances.
//!
//! Run: `cargo run --release -p facematch-lab --example flip_check [-- ROOT]`

use std::collections::HashMap;

use facematch_core::pipeline::FaceDescriber;
use facematch_core::pipeline::{sort_largest_first, FaceDetector};
use facematch_core::score::Metric;
use facematch_models::lab::{load_detector, load_dlib_describer, prepare_runtime};
use facematch_models::BundleOptions;

fn main() -> anyhow::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/faces".into());
    let options = BundleOptions::default();
    prepare_runtime(&options, &mut |_| {})?;
    let detector = load_detector(&options)?;
    for list in [
        "pairs_lfw_dev.tsv",
        "pairs_lfw_dev_deepfunneled.tsv",
        "pairs_celebs.tsv",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{list}"))?;
        let pairs: Vec<(String, String, bool)> = text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                Some((
                    f.first()?.to_string(),
                    f.get(1)?.to_string(),
                    f.get(2)?.trim() == "1",
                ))
            })
            .collect();
        for flip in [false, true] {
            let describer = load_dlib_describer(&options, flip)?;
            let mut cache: HashMap<String, Option<Vec<f32>>> = HashMap::new();
            let mut embed = |path: &str| -> anyhow::Result<Option<Vec<f32>>> {
                if let Some(e) = cache.get(path) {
                    return Ok(e.clone());
                }
                let img = image::open(format!("{root}/{path}"))?.to_rgb8();
                let mut faces = detector.detect(&img)?;
                sort_largest_first(&mut faces);
                let e = match faces.first() {
                    Some(f) => describer.describe(&img, f, true)?.embedding,
                    None => None,
                };
                cache.insert(path.to_string(), e.clone());
                Ok(e)
            };
            let mut scored = Vec::new();
            for (a, b, same) in &pairs {
                let d = match (embed(a)?, embed(b)?) {
                    (Some(x), Some(y)) => Metric::Euclidean.distance(&x, &y),
                    _ => f32::INFINITY,
                };
                scored.push((d, *same));
            }
            let acc_at = |t: f32| {
                scored.iter().filter(|(d, s)| (*d < t) == *s).count() as f32 / scored.len() as f32
            };
            let best = (30..90)
                .map(|i| acc_at(i as f32 / 100.0))
                .fold(0.0, f32::max);
            let genuine: Vec<f32> = scored.iter().filter(|p| p.1).map(|p| p.0).collect();
            let impostor: Vec<f32> = scored.iter().filter(|p| !p.1).map(|p| p.0).collect();
            let mut wins = 0.0;
            for g in &genuine {
                for i in &impostor {
                    wins += if g < i {
                        1.0
                    } else if g == i {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            let auc = wins / (genuine.len() * impostor.len()) as f64;
            println!(
                "{list:<32} flip={flip:<5} acc@0.6={:.4} best-acc={best:.4} AUC={auc:.5}",
                acc_at(0.6)
            );
        }
    }
    Ok(())
}
