//! Age estimation: face-api.js's age net (the default) or dlib's.
//!
//! face-api.js's `AgeGenderNet` (MIT, from npm) regresses the age from a square,
//! axis-aligned crop around the face; dlib's age net (CC0, from PyPI) classifies a
//! 64×64 aligned chip into 81 one-year classes. On the UTKFace dev crops the first
//! errs by 4.9 years on average, the second by 10.8 (`facematch eval-attributes`,
//! `docs/accuracy.md`), so face-api.js's net is the default and dlib's remains for a
//! machine without the npm client (`FACEMATCH_AGE_MODEL=dlib`).

use std::str::FromStr;

use facematch_core::geometry::BBox;
use facematch_core::PipelineError;
use facematch_dlib::chip::{extract_image_chip, get_face_chip_details, ChipDetails};
use facematch_dlib::geometry::Point2;
use facematch_engine::InferenceModel;
use image::RgbImage;

use crate::chw::{run_chips, ChwFormat};
use crate::error::describer;
use crate::geometry::square_around;

/// Environment variable choosing the age model: `faceapi` (default) or `dlib`.
pub const AGE_MODEL_ENV: &str = "FACEMATCH_AGE_MODEL";

/// Side of face-api.js's crop over the detector box's mean side. Chosen on the
/// UTKFace dev crops among 1.0, 1.2, 1.4 and 1.6 (MAE 6.4, 5.2, 4.9, 5.3) by the
/// `attribute_study` study (`crates/facematch-lab/examples`); dlib-aligned chips did
/// worse at every padding (7.7 at best), so the net wants the loose, unrotated framing
/// it was trained on.
pub const FACEAPI_CROP_SCALE: f32 = 1.4;

/// Which network estimates ages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AgeModel {
    /// face-api.js's `AgeGenderNet` (MIT, fetched with npm).
    #[default]
    FaceApi,
    /// dlib's age net (CC0, fetched with pip).
    Dlib,
}

impl FromStr for AgeModel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_', '.'], "")
            .as_str()
        {
            "" | "faceapi" | "faceapijs" => Ok(AgeModel::FaceApi),
            "dlib" => Ok(AgeModel::Dlib),
            other => Err(format!(
                "unknown age model {other:?} (expected faceapi or dlib)"
            )),
        }
    }
}

impl AgeModel {
    /// The model named by `FACEMATCH_AGE_MODEL` (the default when unset).
    pub fn from_env() -> Result<Self, String> {
        std::env::var(AGE_MODEL_ENV)
            .map_or(Ok(AgeModel::FaceApi), |v| v.parse())
            .map_err(|e| format!("{AGE_MODEL_ENV}: {e}"))
    }

    /// Short name, as `FACEMATCH_AGE_MODEL` takes it.
    pub fn name(self) -> &'static str {
        match self {
            AgeModel::FaceApi => "faceapi",
            AgeModel::Dlib => "dlib",
        }
    }
}

/// What the age estimator gives for one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgeEstimate {
    /// Estimated age in years.
    pub years: f32,
    /// face-api.js's probability that the face is male (its net classifies gender
    /// alongside the age); `None` from dlib's age net.
    pub male_probability: Option<f32>,
}

/// A loaded age estimator.
pub enum AgeNet {
    /// face-api.js's net converted to ONNX: N×3×112×112 RGB 0–255 → (age, gender).
    FaceApi(Box<dyn InferenceModel>),
    /// dlib's net: N×3×64×64 normalised chip → 81 class probabilities.
    Dlib(Box<dyn InferenceModel>),
}

impl AgeNet {
    /// The age (and, from face-api.js's net, gender) of the face detected at `bbox`
    /// whose dlib landmarks are `points`; each net gets the framing it was trained on.
    pub fn estimate(
        &self,
        image: &RgbImage,
        bbox: &BBox,
        points: &[Point2; 5],
    ) -> Result<AgeEstimate, PipelineError> {
        match self {
            AgeNet::Dlib(model) => Ok(AgeEstimate {
                years: expected_age(&dlib_age_probabilities(model.as_ref(), image, points)?),
                male_probability: None,
            }),
            AgeNet::FaceApi(model) => {
                let side = facematch_faceapi::INPUT_SIZE as u32;
                let crop = square_crop(image, bbox, FACEAPI_CROP_SCALE, side);
                let out = run_chips(model.as_ref(), &ChwFormat::RAW_RGB, &[&crop])?;
                let value = |output: usize| {
                    out.get(output)
                        .and_then(|t| t.data.first())
                        .copied()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| describer("face-api.js net gave no output"))
                };
                Ok(AgeEstimate {
                    // A regressor can stray below zero on a baby's face.
                    years: value(0)?.max(0.0),
                    male_probability: Some(value(1)?.clamp(0.0, 1.0)),
                })
            }
        }
    }
}

/// A `side`×`side` crop of the square of side `scale` × the box's mean side, centred on
/// the box, unrotated. It is cut by dlib's `extract_image_chip` (the one used for every
/// other chip here): bilinear, an image pyramid first when the face is much larger than
/// the crop (no aliasing on a big selfie), and black outside the image, as face-api.js
/// pads a face to a square with zeros.
pub fn square_crop(image: &RgbImage, bbox: &BBox, scale: f32, side: u32) -> RgbImage {
    let details = ChipDetails {
        rect: square_around(bbox, scale),
        angle: 0.0,
        rows: side,
        cols: side,
    };
    extract_image_chip(image, &details)
}

/// Ages of dlib's age net's 81 classes: 0.25, then 1..=80 years.
fn age_of_class(i: usize) -> f32 {
    if i == 0 {
        0.25
    } else {
        i as f32
    }
}

/// dlib's age net's 81 class probabilities (class 0 = 0.25 years, class i = i years)
/// for the face whose dlib landmarks are `points`, from its 64×64 chip.
pub(crate) fn dlib_age_probabilities(
    age: &dyn InferenceModel,
    image: &RgbImage,
    points: &[Point2; 5],
) -> Result<Vec<f32>, PipelineError> {
    let age_chip = extract_image_chip(image, &get_face_chip_details(points, 64, 0.2));
    let age_out = run_chips(age, &ChwFormat::DLIB_ATTRIBUTES, &[&age_chip])?;
    let probs = age_out
        .into_iter()
        .next()
        .ok_or_else(|| describer("age net gave no output"))?
        .data;
    if probs.len() != 81 {
        return Err(describer(format!(
            "age net gave {} values, not 81",
            probs.len()
        )));
    }
    Ok(probs)
}

/// dlib's own age decoding: the probability-weighted mean of the class ages.
pub(crate) fn expected_age(probs: &[f32]) -> f32 {
    probs
        .iter()
        .enumerate()
        .map(|(i, p)| p * age_of_class(i))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn age_model_names_parse() {
        assert_eq!("faceapi".parse(), Ok(AgeModel::FaceApi));
        assert_eq!("face-api.js".parse(), Ok(AgeModel::FaceApi));
        assert_eq!("DLIB".parse(), Ok(AgeModel::Dlib));
        assert_eq!(
            "ssrnet".parse::<AgeModel>(),
            Err("unknown age model \"ssrnet\" (expected faceapi or dlib)".to_string())
        );
        for m in [AgeModel::FaceApi, AgeModel::Dlib] {
            assert_eq!(m.name().parse(), Ok(m));
        }
    }

    #[test]
    fn the_age_decoding_is_the_expected_class_age() {
        // Class 0 stands for a quarter of a year, class i for i years.
        let mut one_hot = vec![0.0; 81];
        one_hot[0] = 1.0;
        assert_eq!(expected_age(&one_hot), 0.25);
        one_hot[0] = 0.0;
        one_hot[40] = 1.0;
        assert_eq!(expected_age(&one_hot), 40.0);
        let mut split = vec![0.0; 81];
        split[20] = 0.5;
        split[60] = 0.5;
        assert!((expected_age(&split) - 40.0).abs() < 1e-4);
    }

    #[test]
    fn the_crop_is_centred_on_the_box_and_black_outside_the_image() {
        // A white 10×10 square at (20..30, 20..30) in a 50×50 grey image.
        let mut img = RgbImage::from_pixel(50, 50, Rgb([100, 100, 100]));
        for y in 20..30 {
            for x in 20..30 {
                img.put_pixel(x, y, Rgb([255, 255, 255]));
            }
        }
        let bbox = BBox::new(20.0, 20.0, 30.0, 30.0);
        let crop = square_crop(&img, &bbox, 1.0, 10);
        assert!(crop.pixels().all(|p| p.0 == [255, 255, 255]));
        // Scale 2 shows the grey ring around the square.
        let wide = square_crop(&img, &bbox, 2.0, 20);
        assert_eq!(wide.get_pixel(0, 0).0, [100, 100, 100]);
        assert_eq!(wide.get_pixel(10, 10).0, [255, 255, 255]);
        // A box at the corner: the part outside the image is black.
        let corner = square_crop(&img, &BBox::new(0.0, 0.0, 10.0, 10.0), 2.0, 20);
        assert_eq!(corner.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(corner.get_pixel(15, 15).0, [100, 100, 100]);
    }
}
