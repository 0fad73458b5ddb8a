//! dlib's ResNet recognizer (the default bundle's): a 150×150 chip with padding 0.25,
//! placed by dlib's five landmarks, raw RGB → a 128-d descriptor compared by Euclidean
//! distance.

use facematch_core::pipeline::Detection;
use facematch_core::score::{CalibrationTable, ScoreMapping};
use facematch_core::PipelineError;
use facematch_dlib::chip::{extract_image_chip, get_face_chip_details};
use facematch_dlib::geometry::Point2;
use facematch_engine::InferenceModel;
use image::RgbImage;

use crate::chw::{run_chips, ChwFormat};
use crate::error::describer;
use crate::recognizer::Recognizer;

/// Side of the chip dlib's ResNet takes.
const CHIP_SIDE: u32 = 150;
/// Length of its descriptor.
const DIMS: usize = 128;

/// dlib's ResNet, converted to ONNX: N×3×150×150 raw RGB → N×128.
pub struct DlibRecognizer {
    model: Box<dyn InferenceModel>,
    /// Also embed the mirrored chip and average (a study's setting, never served).
    flip: bool,
}

impl DlibRecognizer {
    /// The recognizer over a loaded model.
    pub fn new(model: Box<dyn InferenceModel>) -> Self {
        Self { model, flip: false }
    }

    /// Also embeds the mirrored chip and averages the two descriptors (the
    /// `flip_check` study).
    #[cfg(feature = "lab")]
    pub fn with_flip(mut self, flip: bool) -> Self {
        self.flip = flip;
        self
    }
}

impl Recognizer for DlibRecognizer {
    fn embed(
        &self,
        image: &RgbImage,
        _face: &Detection,
        points: &[Point2; 5],
    ) -> Result<Vec<f32>, PipelineError> {
        let chip = extract_image_chip(image, &get_face_chip_details(points, CHIP_SIDE, 0.25));
        let flipped = self.flip.then(|| image::imageops::flip_horizontal(&chip));
        let chips: Vec<&RgbImage> = std::iter::once(&chip).chain(flipped.as_ref()).collect();
        let out = run_chips(self.model.as_ref(), &ChwFormat::RAW_RGB, &chips)?;
        let first = out
            .first()
            .ok_or_else(|| describer("recognizer gave no output"))?;
        let dims = first.data.len() / first.shape.first().copied().unwrap_or(1).max(1);
        if dims != DIMS {
            return Err(describer(format!(
                "recognizer output has {dims} values, not {DIMS}"
            )));
        }
        // The mean over the batch (one row unless flipped).
        let n = first.data.len() / dims;
        let mut mean = vec![0f32; dims];
        for row in first.data.chunks(dims) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / n as f32;
            }
        }
        Ok(mean)
    }

    fn score_mapping(&self) -> ScoreMapping {
        dlib_resnet_mapping().clone()
    }
}

/// The calibration table of dlib's ResNet as this pipeline feeds it (built by
/// `facematch calibrate`; see `docs/accuracy.md`).
pub const DLIB_RESNET_CALIBRATION: &str = include_str!("../calibration/dlib_resnet_v1.json");

/// The distance → score mapping of [`DLIB_RESNET_CALIBRATION`], parsed once.
pub fn dlib_resnet_mapping() -> &'static ScoreMapping {
    static MAPPING: std::sync::OnceLock<ScoreMapping> = std::sync::OnceLock::new();
    MAPPING.get_or_init(|| {
        // The table is compiled in and checked by a unit test, so a failure here is a
        // build defect, not an input problem.
        serde_json::from_str::<CalibrationTable>(DLIB_RESNET_CALIBRATION)
            .map_err(|e| e.to_string())
            .and_then(|t| ScoreMapping::from_table(&t).map_err(|e| e.to_string()))
            .expect("the embedded dlib calibration table is valid")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_calibration_is_a_valid_strictly_decreasing_mapping() {
        let m = dlib_resnet_mapping();
        assert_eq!(m.metric, facematch_core::score::Metric::Euclidean);
        assert_eq!(m.score_of_distance(0.0), 100.0);
        assert_eq!(m.score_of_distance(2.0), 0.0);
        // Flat at 100 below the score-100 row and at 0 beyond the score-0 row,
        // strictly decreasing in between.
        let mut last = f32::MAX;
        for i in 0..=120 {
            let s = m.score_of_distance(i as f32 * 0.01);
            assert!(s < last || s == 0.0 || s == 100.0, "not decreasing at {i}");
            last = s;
        }
        // dlib's own decision threshold 0.6 is accepted at the default decline
        // threshold 30 and declined at 50.
        let at_dlib_threshold = m.score_of_distance(0.6);
        assert!(
            (30.0..50.0).contains(&at_dlib_threshold),
            "{at_dlib_threshold}"
        );
    }
}
