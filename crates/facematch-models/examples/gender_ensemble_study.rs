//! Which gender estimate: dlib's gender net, face-api.js's (it classifies gender
//! alongside the age), or the mean of the two? Measures each on the LFW dev photos
//! (news photos of adults) and the UTKFace dev crops (tight crops, all ages).
//!
//! Run: `cargo run --release -p facematch-models --example gender_ensemble_study [-- ROOT]`

use facematch_core::pipeline::{sort_largest_first, FaceDetector};
use facematch_models::bundle::{
    load_age_net, load_describer, load_detector, prepare_runtime, BundleOptions,
};
use facematch_models::dlib_face::face_attributes;
use facematch_models::{AgeModel, AgeNet};

fn main() -> anyhow::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/faces".into());
    let mut options = BundleOptions::default();
    prepare_runtime(&options, &mut |_| {})?;
    let detector = load_detector(&options)?;
    let describer = load_describer(&options)?;
    // dlib's gender net alone is what the pipeline gives with dlib's age net.
    options.age_model = AgeModel::Dlib;
    facematch_models::bundle::ensure_bundle_files(
        &options.store,
        &options.bundle,
        AgeModel::Dlib,
        &mut |_| {},
    )?;
    let dlib_age: AgeNet = load_age_net(&options)?;
    for labels in ["lfw_dev_gender.tsv", "utkface_dev_labels.tsv"] {
        let text = std::fs::read_to_string(format!("{root}/{labels}"))?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
        let col = |name: &str| header.iter().position(|h| *h == name);
        let (Some(image_col), Some(gender_col)) = (col("image"), col("gender")) else {
            anyhow::bail!("{labels}: no image or gender column");
        };
        let (mut n, mut right) = (0usize, [0usize; 3]);
        for line in lines {
            let f: Vec<&str> = line.split('\t').collect();
            let (Some(path), Some(gender)) = (f.get(image_col), f.get(gender_col)) else {
                continue;
            };
            let img = image::open(format!("{root}/{path}"))?.to_rgb8();
            let mut faces = detector.detect(&img)?;
            sort_largest_first(&mut faces);
            let Some(face) = faces.first() else { continue };
            let points = describer.landmarks(&img, face)?;
            let (_, dlib) =
                face_attributes(&dlib_age, describer.gender.as_ref(), &img, face, &points)?;
            let faceapi = describer
                .age
                .estimate(&img, &face.bbox, &points)?
                .male_probability
                .unwrap_or(f32::NAN);
            let male = *gender == "male";
            n += 1;
            for (r, p) in right
                .iter_mut()
                .zip([dlib, faceapi, (dlib + faceapi) / 2.0])
            {
                *r += usize::from((p > 0.5) == male);
            }
        }
        let pct = |r: usize| 100.0 * r as f64 / n.max(1) as f64;
        println!(
            "{labels}: {n} faces  dlib {:.2}%  face-api.js {:.2}%  mean {:.2}%",
            pct(right[0]),
            pct(right[1]),
            pct(right[2])
        );
    }
    Ok(())
}
