//! Which face crop suits face-api.js's age net? Runs YuNet and dlib's landmarks on the
//! UTKFace dev crops and feeds the net several crops of each face: dlib-aligned chips
//! at several paddings and square detector boxes at several scales (the framing
//! `FACEAPI_CROP_SCALE` was chosen from), next to dlib's own age net and the
//! average of the two.
//!
//! Run: `cargo run --release -p facematch-models --example age_crop_study [-- ROOT]`

use facematch_core::pipeline::{sort_largest_first, FaceDetector};
use facematch_dlib::chip::{extract_image_chip, get_face_chip_details};
use facematch_engine::Tensor;
use facematch_models::age::square_crop;
use facematch_models::bundle::{
    load_age_net, load_describer, load_detector, prepare_runtime, BundleOptions,
};
use facematch_models::dlib_face::chip_tensor_data;
use facematch_models::{AgeModel, AgeNet};
use image::RgbImage;

fn main() -> anyhow::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/faces".into());
    let mut options = BundleOptions::default();
    prepare_runtime(&options, &mut |_| {})?;
    let detector = load_detector(&options)?;
    let describer = load_describer(&options)?;
    options.age_model = AgeModel::Dlib;
    facematch_models::bundle::ensure_bundle_files(
        &options.store,
        &options.bundle,
        AgeModel::Dlib,
        &mut |_| {},
    )?;
    let dlib_age = load_age_net(&options)?;
    let AgeNet::FaceApi(net) = &describer.age else {
        anyhow::bail!("the default age net is not face-api.js's");
    };
    let faceapi_age = |crop: &RgbImage| -> anyhow::Result<f32> {
        let side = crop.width() as usize;
        let input = Tensor::new(vec![1, 3, side, side], chip_tensor_data(crop, None))?;
        Ok(net.run(&input)?[0].data[0])
    };
    let paddings = [0.2, 0.3, 0.4, 0.5];
    let scales = [1.0f32, 1.2, 1.4, 1.6];
    let mut names = vec!["dlib net".to_string()];
    names.extend(paddings.iter().map(|p| format!("chip padding {p}")));
    names.extend(scales.iter().map(|s| format!("box scale {s}")));
    names.extend(scales.iter().map(|s| format!("box {s} + mirror")));
    let mut preds: Vec<Vec<f32>> = vec![Vec::new(); names.len()];
    let mut truth = Vec::new();
    let text = std::fs::read_to_string(format!("{root}/utkface_dev_labels.tsv"))?;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let img = image::open(format!("{root}/{}", f[0]))?.to_rgb8();
        let mut faces = detector.detect(&img)?;
        sort_largest_first(&mut faces);
        let Some(face) = faces.first() else { continue };
        let points = describer.landmarks(&img, face)?;
        truth.push(f.get(1).unwrap_or(&"").parse::<f32>()?);
        let mut row = vec![dlib_age.estimate(&img, &face.bbox, &points)?.years];
        for p in paddings {
            let chip = extract_image_chip(&img, &get_face_chip_details(&points, 112, p));
            row.push(faceapi_age(&chip)?);
        }
        for s in scales {
            row.push(faceapi_age(&square_crop(&img, &face.bbox, s, 112))?);
        }
        for s in scales {
            let crop = square_crop(&img, &face.bbox, s, 112);
            let mirrored = image::imageops::flip_horizontal(&crop);
            row.push((faceapi_age(&crop)? + faceapi_age(&mirrored)?) / 2.0);
        }
        for (p, v) in preds.iter_mut().zip(row) {
            p.push(v);
        }
    }
    let mae = |p: &[f32]| {
        p.iter()
            .zip(&truth)
            .map(|(a, t)| (a - t).abs())
            .sum::<f32>()
            / truth.len() as f32
    };
    println!("{} faces of the UTKFace dev crops", truth.len());
    for (n, p) in names.iter().zip(&preds) {
        let mean: Vec<f32> = p
            .iter()
            .zip(&preds[0])
            .map(|(a, d)| (a + d) / 2.0)
            .collect();
        println!(
            "{n:>18}  MAE {:5.2}   averaged with the dlib net {:5.2}",
            mae(p),
            mae(&mean)
        );
    }
    Ok(())
}
