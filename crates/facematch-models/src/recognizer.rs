//! The identity stage of a bundle: a face → an embedding, and how distances between
//! embeddings become a score. Implemented by dlib's ResNet
//! ([`crate::dlib_resnet::DlibRecognizer`]) and by ArcFace-style models
//! ([`crate::arcface::ArcFaceRecognizer`]: `buffalo_s`, a user's own).

use facematch_core::pipeline::Detection;
use facematch_core::score::ScoreMapping;
use facematch_core::PipelineError;
use facematch_dlib::geometry::Point2;
use image::RgbImage;

/// Turns a face into an identity embedding.
pub trait Recognizer: Send + Sync {
    /// The embedding of `face` in `image`; `points` are its dlib landmarks, for the
    /// recognizers aligned by them (the others use the detector's own landmarks).
    fn embed(
        &self,
        image: &RgbImage,
        face: &Detection,
        points: &[Point2; 5],
    ) -> Result<Vec<f32>, PipelineError>;

    /// How distances between this recognizer's embeddings become a 0–100 score.
    fn score_mapping(&self) -> ScoreMapping;
}
