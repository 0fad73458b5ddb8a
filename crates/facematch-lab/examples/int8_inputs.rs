//! Writes the inputs of the int8 study (`scripts/int8_study.sh`): dlib's ResNet as the
//! ONNX graph the server builds from the pinned `.dat`, and the 150×150 chip the
//! recognizer is fed for every photo in the dev pair lists, cut as the pipeline cuts it
//! (YuNet's full pass, the largest face, dlib's landmarks and chip; the photo read as
//! stored, without its EXIF orientation, as the `flip_check` study reads it), with each
//! list rewritten to name the chips; and the chips of the
//! UTKFace dev photos (`calibration.txt`), a set apart from the pair lists that the
//! study calibrates the static int8 model on; and every face of the public-domain and
//! CC0 fixtures (`calibration_open.txt`), which the study augments into a calibration
//! set whose ranges could ship. A photo without a face gets no chip; its pairs are left
//! out of the rewritten list (and counted).
//!
//! Run: `cargo run --release -p facematch-lab --example int8_inputs -- OUT [ROOT]`

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use facematch_core::pipeline::{sort_largest_first, Detection, FaceDetector};
use facematch_dlib::chip::{extract_image_chip, get_face_chip_details};
use facematch_fetch::manifest::{default_file, ModelRole};
use facematch_models::attributes::Attributes;
use facematch_models::lab::{load_attributes, load_detector, prepare_runtime};
use facematch_models::BundleOptions;
use image::RgbImage;

/// The dev lists the study reads, each a TSV of `photo, photo, same (1/0)`.
const LISTS: [&str; 3] = [
    "pairs_lfw_dev.tsv",
    "pairs_lfw_dev_deepfunneled.tsv",
    "pairs_celebs.tsv",
];

/// Public-domain and CC0 fixtures whose faces calibrate an int8 model that may ship.
const OPEN_FIXTURES: [&str; 5] = [
    "fixtures/one_face_astronaut.png",
    "fixtures/one_face_hopper.jpg",
    "fixtures/one_face_hopper_gray.jpg",
    "fixtures/several_faces_collage.jpg",
    "fixtures/profile_face_camera.png",
];

/// A photo as stored (no EXIF orientation applied), as RGB.
fn read_rgb(root: &Path, photo: &str) -> anyhow::Result<RgbImage> {
    Ok(image::open(root.join(photo))
        .with_context(|| format!("reading {photo}"))?
        .to_rgb8())
}

/// Writes the recognizer's 150×150 chip of `face` (dlib's landmarks, padding 0.25) to
/// `path`, cut as the pipeline cuts it.
fn save_chip(
    attributes: &Attributes,
    image: &RgbImage,
    face: &Detection,
    path: &Path,
) -> anyhow::Result<()> {
    let points = attributes.landmarks(image, face)?;
    extract_image_chip(image, &get_face_chip_details(&points, 150, 0.25)).save(path)?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().context("usage: int8_inputs OUT [ROOT]")?);
    let root = PathBuf::from(args.next().unwrap_or_else(|| "../shared/data/faces".into()));
    std::fs::create_dir_all(out.join("chips"))?;

    let options = BundleOptions::default();
    prepare_runtime(&options, &mut |_| {})?;
    let dat = options
        .store
        .read_verified(default_file(ModelRole::Recognizer))?;
    std::fs::write(
        out.join("resnet.onnx"),
        facematch_dlib::resnet::dlib_resnet_to_onnx(&dat)?,
    )?;

    let detector = load_detector(&options)?;
    let attributes = load_attributes(&options)?;
    let mut chips: HashMap<String, Option<String>> = HashMap::new();
    let mut chip_of = |photo: &str| -> anyhow::Result<Option<String>> {
        if let Some(known) = chips.get(photo) {
            return Ok(known.clone());
        }
        let image = read_rgb(&root, photo)?;
        let mut faces = detector.detect(&image)?;
        sort_largest_first(&mut faces);
        let name = match faces.first() {
            Some(face) => {
                let name = format!("chips/{}.png", chips.len());
                save_chip(&attributes, &image, face, &out.join(&name))?;
                Some(name)
            }
            None => None,
        };
        chips.insert(photo.to_string(), name.clone());
        Ok(name)
    };
    for list in LISTS {
        let text = std::fs::read_to_string(root.join(list))
            .with_context(|| format!("reading {}", root.join(list).display()))?;
        let (mut kept, mut dropped) = (String::new(), 0usize);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split('\t').collect();
            let [a, b, same, ..] = fields[..] else {
                anyhow::bail!("{list}: not a pair line: {line:?}");
            };
            match (chip_of(a)?, chip_of(b)?) {
                (Some(a), Some(b)) => kept.push_str(&format!("{a}\t{b}\t{}\n", same.trim())),
                _ => dropped += 1,
            }
        }
        std::fs::write(out.join(list), kept)?;
        println!("{list}: pairs without a face on one side, left out: {dropped}");
    }
    let labels = root.join("utkface_dev_labels.tsv");
    let text = std::fs::read_to_string(&labels)
        .with_context(|| format!("reading {}", labels.display()))?;
    let mut calibration = String::new();
    // The first column names the photo; the first line is the header.
    for photo in text.lines().skip(1).filter_map(|l| l.split('\t').next()) {
        if let Some(name) = chip_of(photo)? {
            calibration.push_str(&name);
            calibration.push('\n');
        }
    }
    std::fs::write(out.join("calibration.txt"), calibration)?;

    // Every face of the open-licence fixtures (public domain / CC0, `fixtures.tsv`): a
    // calibration set that may ship, augmented by the study.
    let mut open = String::new();
    for photo in OPEN_FIXTURES {
        let image = read_rgb(&root, photo)?;
        for face in detector.detect(&image)? {
            let name = format!("chips/open_{}.png", open.lines().count());
            save_chip(&attributes, &image, &face, &out.join(&name))?;
            open.push_str(&name);
            open.push('\n');
        }
    }
    std::fs::write(out.join("calibration_open.txt"), open)?;
    println!("wrote {}", out.display());
    Ok(())
}
