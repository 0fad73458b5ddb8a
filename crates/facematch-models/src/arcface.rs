//! ArcFace-style recognizers (InsightFace's `buffalo_s` MobileFaceNet, or an ONNX model
//! the user brings): the face is aligned onto the standard 112×112 ArcFace template from
//! the detector's five landmarks, normalised to `(x − 127.5) / 127.5`, fed as NCHW, and
//! the embedding is compared by cosine. Age and gender are the bundle's shared
//! [`Attributes`](crate::attributes::Attributes), as in the default bundle.

use std::str::FromStr;

use facematch_core::align::arcface_chip;
use facematch_core::pipeline::Detection;
use facematch_core::score::{CalibrationTable, Metric, ScoreMapping};
use facematch_core::PipelineError;
use facematch_dlib::geometry::Point2;
use facematch_engine::InferenceModel;
use image::RgbImage;

use crate::chw::{run_chips, ChannelOrder, ChwFormat};
use crate::error::describer;
use crate::recognizer::Recognizer;

/// Side of the aligned chip ArcFace models take.
pub const ARCFACE_SIDE: u32 = 112;

/// How the aligned chip becomes the model's input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preprocessing {
    /// `arcface112`: 112×112 ArcFace alignment, RGB planes, `(x − 127.5) / 127.5`
    /// (InsightFace's `buffalo_*` recognizers).
    Arcface112,
    /// `arcface112-bgr`: the same with BGR planes, for models trained on OpenCV input.
    Arcface112Bgr,
}

impl Preprocessing {
    /// The name used on the command line and in `FACEMATCH_CUSTOM_PREPROCESSING`.
    pub fn name(&self) -> &'static str {
        match self {
            Preprocessing::Arcface112 => "arcface112",
            Preprocessing::Arcface112Bgr => "arcface112-bgr",
        }
    }

    /// How the aligned chip's pixels become the input planes.
    pub fn format(&self) -> ChwFormat {
        ChwFormat::arcface(match self {
            Preprocessing::Arcface112 => ChannelOrder::Rgb,
            Preprocessing::Arcface112Bgr => ChannelOrder::Bgr,
        })
    }
}

impl FromStr for Preprocessing {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "arcface112" | "arcface112-rgb" => Ok(Preprocessing::Arcface112),
            "arcface112-bgr" => Ok(Preprocessing::Arcface112Bgr),
            other => Err(format!(
                "unknown preprocessing profile {other:?} (expected arcface112 or arcface112-bgr)"
            )),
        }
    }
}

/// An ArcFace-style recognizer: N×3×112×112 → N×D embedding, compared by cosine.
pub struct ArcFaceRecognizer {
    model: Box<dyn InferenceModel>,
    preprocessing: Preprocessing,
    /// The embedding length the model must give; `None` accepts any length ≥ 2 (a
    /// user's own model).
    expected_dims: Option<usize>,
    /// Cosine distance → score.
    mapping: ScoreMapping,
}

impl ArcFaceRecognizer {
    /// The recognizer over a loaded model: its input profile, the embedding length it
    /// must give (`None`: any length ≥ 2) and its distance → score mapping.
    pub fn new(
        model: Box<dyn InferenceModel>,
        preprocessing: Preprocessing,
        expected_dims: Option<usize>,
        mapping: ScoreMapping,
    ) -> Self {
        Self {
            model,
            preprocessing,
            expected_dims,
            mapping,
        }
    }
}

impl Recognizer for ArcFaceRecognizer {
    /// The L2-normalised embedding of `face`, aligned from the detector's landmarks.
    fn embed(
        &self,
        image: &RgbImage,
        face: &Detection,
        _points: &[Point2; 5],
    ) -> Result<Vec<f32>, PipelineError> {
        let chip = arcface_chip(image, &face.landmarks, ARCFACE_SIDE)
            .ok_or_else(|| describer("the face's landmarks are degenerate"))?;
        let out = run_chips(self.model.as_ref(), &self.preprocessing.format(), &[&chip])?;
        let mut embedding = out
            .into_iter()
            .next()
            .ok_or_else(|| describer("recognizer gave no output"))?
            .data;
        let dims = embedding.len();
        match self.expected_dims {
            Some(expected) if dims != expected => {
                return Err(describer(format!(
                    "recognizer output has {dims} values, not {expected}"
                )))
            }
            None if dims < 2 => {
                return Err(describer(format!(
                    "recognizer output has {dims} values; an embedding needs at least 2"
                )))
            }
            _ => {}
        }
        if embedding.iter().any(|v| !v.is_finite()) {
            return Err(describer("recognizer output is not finite"));
        }
        // Cosine ignores the norm; normalising makes embeddings comparable across
        // tools that expect unit vectors (InsightFace's `normed_embedding`).
        let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            embedding.iter_mut().for_each(|v| *v /= norm);
        }
        Ok(embedding)
    }

    fn score_mapping(&self) -> ScoreMapping {
        self.mapping.clone()
    }
}

/// The calibration table of `buffalo_s` (w600k_mbf) as this pipeline feeds it (built
/// by `facematch calibrate --bundle buffalo_s`; see `docs/accuracy.md`).
pub const BUFFALO_S_CALIBRATION: &str = include_str!("../calibration/buffalo_s_w600k_mbf.json");

/// The distance → score mapping of [`BUFFALO_S_CALIBRATION`].
pub fn buffalo_s_mapping() -> Result<ScoreMapping, String> {
    mapping_from_json(BUFFALO_S_CALIBRATION)
}

/// A mapping from a calibration table's JSON text; the table must use the cosine
/// metric (an ArcFace table).
pub fn mapping_from_json(json: &str) -> Result<ScoreMapping, String> {
    let table: CalibrationTable = serde_json::from_str(json).map_err(|e| e.to_string())?;
    if table.metric != Metric::Cosine {
        return Err(format!(
            "the table is for the {:?} metric; ArcFace models are compared by cosine",
            table.metric
        ));
    }
    ScoreMapping::from_table(&table).map_err(|e| e.to_string())
}

/// The provisional mapping of a user's ArcFace model that has no calibration table
/// yet: cosine similarity 0.3 → 30, 0.4 → 50, 0.5 → 70, 0.6 → 90 (as cosine
/// distance 0.7, 0.6, 0.5, 0.4), 0 and below → 0, 1 → 100. These are typical of
/// ArcFace models but NOT measured for the model at hand: the scores are not false-
/// match rates until `facematch calibrate --bundle custom` has built a table. It
/// exists so that the model can be tried and calibrated at all.
pub fn provisional_cosine_mapping() -> ScoreMapping {
    // Fixed, valid knots: construction cannot fail (checked by a unit test).
    ScoreMapping::from_knots(
        Metric::Cosine,
        &[
            (0.0, 100.0),
            (0.4, 90.0),
            (0.5, 70.0),
            (0.6, 50.0),
            (0.7, 30.0),
            (1.0, 0.0),
        ],
    )
    .unwrap_or_else(|_| unreachable!("the provisional knots are valid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn profiles_parse_and_normalise() {
        assert_eq!("arcface112".parse(), Ok(Preprocessing::Arcface112));
        assert_eq!("ArcFace112-BGR".parse(), Ok(Preprocessing::Arcface112Bgr));
        assert_eq!(
            "arcface128".parse::<Preprocessing>(),
            Err(
                "unknown preprocessing profile \"arcface128\" (expected arcface112 or \
                 arcface112-bgr)"
                    .to_string()
            )
        );
        let chip = RgbImage::from_pixel(2, 1, Rgb([255, 0, 127]));
        let rgb = Preprocessing::Arcface112.format().pack(&chip);
        assert_eq!(rgb.len(), 6);
        assert_eq!(rgb[0], 1.0); // R plane
        assert_eq!(rgb[2], -1.0); // G plane
        assert!((rgb[4] + 0.5 / 127.5).abs() < 1e-6); // B plane: (127 − 127.5) / 127.5
        let bgr = Preprocessing::Arcface112Bgr.format().pack(&chip);
        assert_eq!(bgr[0], rgb[4]);
        assert_eq!(bgr[4], rgb[0]);
    }

    #[test]
    fn the_embedded_buffalo_s_calibration_is_a_cosine_mapping() {
        let m = buffalo_s_mapping().expect("valid table");
        assert_eq!(m.metric, Metric::Cosine);
        assert_eq!(m.score_of_distance(0.0), 100.0);
        assert_eq!(m.score_of_distance(2.0), 0.0);
        // An orthogonal pair (cosine 0) of a 512-d model is an impostor pair.
        assert!(m.score_of_distance(1.0) < 5.0);
    }

    #[test]
    fn the_provisional_mapping_is_valid_and_monotone() {
        let m = provisional_cosine_mapping();
        assert_eq!(m.metric, Metric::Cosine);
        assert_eq!(m.score_of_distance(0.0), 100.0);
        assert!((m.score_of_distance(0.6) - 50.0).abs() < 1e-4);
        assert_eq!(m.score_of_distance(1.5), 0.0);
        assert_eq!(
            mapping_from_json(crate::dlib_resnet::DLIB_RESNET_CALIBRATION).err(),
            Some(
                "the table is for the Euclidean metric; ArcFace models are compared by cosine"
                    .to_string()
            )
        );
    }
}
