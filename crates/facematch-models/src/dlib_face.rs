//! Face description with dlib's models: the detector's box is mapped onto the framing
//! dlib's shape predictor was trained on, the five dlib landmarks place the chips, and
//! the chips feed the ResNet recognizer (150×150, padding 0.25) and the gender net
//! (32×32, padding 0.2). Ages come from [`crate::age::AgeNet`].

use facematch_core::geometry::BBox;
use facematch_core::pipeline::{Detection, FaceDescriber, FaceDescription};
use facematch_core::score::{CalibrationTable, ScoreMapping};
use facematch_core::PipelineError;
use facematch_dlib::chip::{extract_image_chip, get_face_chip_details};
use facematch_dlib::geometry::{DRect, Point2};
use facematch_dlib::shape_predictor::ShapePredictor;
use facematch_engine::{InferenceModel, Tensor};
use image::RgbImage;

use crate::age::AgeNet;

/// Channel means (R, G, B) that the age and gender nets subtract before dividing by
/// 256, from the models' `manifest.json`.
const ATTRIBUTE_MEANS: [f32; 3] = [122.782, 117.001, 104.298];
/// Ages of the age net's 81 classes: 0.25, then 1..=80 years.
fn age_of_class(i: usize) -> f32 {
    if i == 0 {
        0.25
    } else {
        i as f32
    }
}

/// How a YuNet box maps onto dlib's detector framing, as fractions of the YuNet box:
/// the dlib box centre is offset by (`dx`, `dy`) × (width, height) and its side is
/// `scale` × the YuNet box's mean side. Fitted by `examples/fit_dlib_box.rs` on the
/// dev photos against dlib's own detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxMapping {
    /// Horizontal centre offset, in YuNet box widths.
    pub dx: f32,
    /// Vertical centre offset, in YuNet box heights.
    pub dy: f32,
    /// dlib box side over the YuNet box's mean side.
    pub scale: f32,
}

impl BoxMapping {
    /// Fitted by `cargo run --release -p facematch-models --example fit_dlib_box` on
    /// the 389 dev photos with a dlib face: mean landmark error 0.40% of the box side
    /// (identity mapping: 0.43%). See `docs/accuracy.md`.
    pub const FITTED: BoxMapping = BoxMapping {
        dx: 0.003,
        dy: 0.042,
        scale: 0.957,
    };

    /// dlib's rectangle (inclusive pixel convention) for a YuNet box.
    pub fn to_dlib(&self, b: &BBox) -> DRect {
        let side = f64::from(self.scale * (b.width() + b.height()) / 2.0);
        let cx = f64::from((b.x1 + b.x2) / 2.0 + self.dx * b.width());
        let cy = f64::from((b.y1 + b.y2) / 2.0 + self.dy * b.height());
        // dlib's square boxes have width = right - left + 1.
        let len = side.round().max(1.0);
        // dlib's centre of [left, right] is (left + right) / 2.
        let left = (cx - (len - 1.0) / 2.0).round();
        let top = (cy - (len - 1.0) / 2.0).round();
        DRect {
            left,
            top,
            right: left + len - 1.0,
            bottom: top + len - 1.0,
        }
    }
}

/// The dlib-based describer of the default bundle.
pub struct DlibDescriber {
    /// dlib's 5-point shape predictor.
    pub predictor: ShapePredictor,
    /// dlib's ResNet, converted to ONNX: 1×3×150×150 raw RGB → 128-d.
    pub recognizer: Box<dyn InferenceModel>,
    /// Age estimator.
    pub age: AgeNet,
    /// Gender net: N×3×32×32 normalised RGB → (female, male) probabilities.
    pub gender: Box<dyn InferenceModel>,
    /// YuNet → dlib box framing.
    pub box_mapping: BoxMapping,
    /// Also embed the mirrored chip and average the two descriptors.
    pub flip_embedding: bool,
}

impl DlibDescriber {
    /// dlib's five landmarks for a detected face.
    pub fn landmarks(
        &self,
        image: &RgbImage,
        face: &Detection,
    ) -> Result<[Point2; 5], PipelineError> {
        dlib_landmarks(&self.predictor, self.box_mapping, image, face)
    }

    /// The 128-d descriptor of the face whose dlib landmarks are `points`.
    pub fn embed(&self, image: &RgbImage, points: &[Point2; 5]) -> Result<Vec<f32>, PipelineError> {
        let chip = extract_image_chip(image, &get_face_chip_details(points, 150, 0.25));
        let mut batch = vec![chip_tensor_data(&chip, None)];
        if self.flip_embedding {
            batch.push(chip_tensor_data(
                &image::imageops::flip_horizontal(&chip),
                None,
            ));
        }
        let out = run_batch(self.recognizer.as_ref(), batch, 150)?;
        let first = out
            .first()
            .ok_or_else(|| describer("recognizer gave no output"))?;
        let dims = first.data.len() / first.shape.first().copied().unwrap_or(1).max(1);
        if dims != 128 {
            return Err(describer(&format!(
                "recognizer output has {dims} values, not 128"
            )));
        }
        let n = first.data.len() / dims;
        let mut mean = vec![0f32; dims];
        for row in first.data.chunks(dims) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / n as f32;
            }
        }
        Ok(mean)
    }

    /// (age in years, probability of male) of `face`, whose landmarks are `points`.
    pub fn attributes(
        &self,
        image: &RgbImage,
        face: &Detection,
        points: &[Point2; 5],
    ) -> Result<(f32, f32), PipelineError> {
        face_attributes(&self.age, self.gender.as_ref(), image, face, points)
    }
}

/// dlib's five landmarks for a detected face: the detector's box mapped onto dlib's
/// framing by `mapping`, then the shape predictor. Every bundle places its age and
/// gender chips with them.
pub fn dlib_landmarks(
    predictor: &ShapePredictor,
    mapping: BoxMapping,
    image: &RgbImage,
    face: &Detection,
) -> Result<[Point2; 5], PipelineError> {
    predictor
        .predict5(image, mapping.to_dlib(&face.bbox))
        .ok_or_else(|| describer("the shape predictor does not give 5 points"))
}

/// (age in years, probability of male) of `face`, whose dlib landmarks are `points`,
/// from the age estimator and dlib's gender net: shared by every bundle, whatever
/// recognizer it uses.
///
/// When the age estimator is face-api.js's net, which classifies gender as well, the
/// probability is the plain mean of both nets: they err on different faces (dlib's
/// on children and tight crops, face-api.js's on news photos of adults), and the
/// mean is right more often than either on the LFW and UTKFace dev photos together
/// (`examples/attribute_study.rs`, `docs/accuracy.md`).
pub fn face_attributes(
    age: &AgeNet,
    gender: &dyn InferenceModel,
    image: &RgbImage,
    face: &Detection,
    points: &[Point2; 5],
) -> Result<(f32, f32), PipelineError> {
    let estimate = age.estimate(image, &face.bbox, points)?;
    let gender_chip = extract_image_chip(image, &get_face_chip_details(points, 32, 0.2));
    let gender_out = run_batch(
        gender,
        vec![chip_tensor_data(&gender_chip, Some(ATTRIBUTE_MEANS))],
        32,
    )?;
    let g = &gender_out
        .first()
        .ok_or_else(|| describer("gender net gave no output"))?
        .data;
    if g.len() != 2 {
        return Err(describer(&format!(
            "gender net gave {} values, not 2",
            g.len()
        )));
    }
    let male = match estimate.male_probability {
        Some(p) => (p + g[1]) / 2.0,
        None => g[1],
    };
    Ok((estimate.years, male))
}

/// The age net's 81 class probabilities (class 0 = 0.25 years, class i = i years) for
/// the face whose dlib landmarks are `points`. Public so that the age decoding can be
/// studied offline (`examples/fit_age_calibration.rs`) on exactly the served inputs.
pub fn dlib_age_probabilities(
    age: &dyn InferenceModel,
    image: &RgbImage,
    points: &[Point2; 5],
) -> Result<Vec<f32>, PipelineError> {
    let age_chip = extract_image_chip(image, &get_face_chip_details(points, 64, 0.2));
    let age_out = run_batch(
        age,
        vec![chip_tensor_data(&age_chip, Some(ATTRIBUTE_MEANS))],
        64,
    )?;
    let probs = age_out
        .into_iter()
        .next()
        .ok_or_else(|| describer("age net gave no output"))?
        .data;
    if probs.len() != 81 {
        return Err(describer(&format!(
            "age net gave {} values, not 81",
            probs.len()
        )));
    }
    Ok(probs)
}

/// dlib's own age decoding: the probability-weighted mean of the class ages.
pub fn expected_age(probs: &[f32]) -> f32 {
    probs
        .iter()
        .enumerate()
        .map(|(i, p)| p * age_of_class(i))
        .sum()
}

impl FaceDescriber for DlibDescriber {
    fn describe(
        &self,
        image: &RgbImage,
        face: &Detection,
        with_embedding: bool,
    ) -> Result<FaceDescription, PipelineError> {
        let points = self.landmarks(image, face)?;
        let (age, male_probability) = self.attributes(image, face, &points)?;
        let embedding = if with_embedding {
            Some(self.embed(image, &points)?)
        } else {
            None
        };
        Ok(FaceDescription {
            age,
            male_probability,
            embedding,
        })
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

fn describer(msg: &str) -> PipelineError {
    PipelineError::Describer(msg.to_string())
}

/// Planar RGB floats of a chip: raw 0–255 values, or `(v − mean) / 256` when `means`
/// are given.
pub fn chip_tensor_data(chip: &RgbImage, means: Option<[f32; 3]>) -> Vec<f32> {
    let plane = (chip.width() * chip.height()) as usize;
    let mut data = vec![0f32; 3 * plane];
    for (i, p) in chip.pixels().enumerate() {
        for c in 0..3 {
            let v = f32::from(p[c]);
            data[c * plane + i] = match means {
                Some(m) => (v - m[c]) / 256.0,
                None => v,
            };
        }
    }
    data
}

/// Runs `model` on a batch of planar chips of `side`×`side`; errors become describer
/// errors.
pub(crate) fn run_batch(
    model: &dyn InferenceModel,
    chips: Vec<Vec<f32>>,
    side: usize,
) -> Result<Vec<Tensor>, PipelineError> {
    let n = chips.len();
    let input = Tensor::new(vec![n, 3, side, side], chips.concat())
        .map_err(|e| PipelineError::Describer(e.to_string()))?;
    model
        .run(&input)
        .map_err(|e| PipelineError::Describer(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
