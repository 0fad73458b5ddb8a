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
use facematch_dlib::chip::{extract_image_chip, ChipDetails};
use facematch_dlib::geometry::{DRect, Point2};
use facematch_engine::InferenceModel;
use image::RgbImage;

use crate::dlib_face::{chip_tensor_data, dlib_age_probabilities, expected_age, run_batch};

/// Environment variable choosing the age model: `faceapi` (default) or `dlib`.
pub const AGE_MODEL_ENV: &str = "FACEMATCH_AGE_MODEL";

/// Side of face-api.js's crop over the detector box's mean side. Chosen on the
/// UTKFace dev crops among 1.0, 1.2, 1.4 and 1.6 (MAE 6.4, 5.2, 4.9, 5.3) by
/// `examples/attribute_study.rs`; dlib-aligned chips did worse at every padding
/// (7.7 at best), so the net wants the loose, unrotated framing it was trained on.
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
            .map(|v| v.parse())
            .unwrap_or(Ok(AgeModel::FaceApi))
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
                let side = facematch_faceapi::INPUT_SIZE;
                let crop = square_crop(image, bbox, FACEAPI_CROP_SCALE, side as u32);
                let out = run_batch(model.as_ref(), vec![chip_tensor_data(&crop, None)], side)?;
                let value = |output: usize| {
                    out.get(output)
                        .and_then(|t| t.data.first())
                        .copied()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| {
                            PipelineError::Describer("face-api.js net gave no output".into())
                        })
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
    let extent = f64::from(scale * (bbox.width() + bbox.height()) / 2.0);
    // The box is in continuous coordinates (pixel centres at +0.5); dlib's rectangles
    // are in pixel indices.
    let centre = Point2::new(
        f64::from((bbox.x1 + bbox.x2) / 2.0) - 0.5,
        f64::from((bbox.y1 + bbox.y2) / 2.0) - 0.5,
    );
    let details = ChipDetails {
        rect: DRect::centered(centre, extent, extent),
        angle: 0.0,
        rows: side,
        cols: side,
    };
    extract_image_chip(image, &details)
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
        assert!("ssrnet".parse::<AgeModel>().is_err());
        for m in [AgeModel::FaceApi, AgeModel::Dlib] {
            assert_eq!(m.name().parse(), Ok(m));
        }
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
