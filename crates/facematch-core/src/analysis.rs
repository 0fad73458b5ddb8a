//! What the models see and say: the two model stages a [`Pipeline`](crate::Pipeline) is
//! built from ([`FaceDetector`], [`FaceDescriber`]), what each returns, and the
//! analysis of one image that a decision is made from. The stages take `&self` so one
//! pipeline serves many requests at once.

use image::RgbImage;

use crate::error::PipelineError;
use crate::geometry::{BBox, Point};
use crate::score::ScoreMapping;

/// One face found by a detector, in the coordinates of the image it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The face box.
    pub bbox: BBox,
    /// Detector confidence, 0–1.
    pub confidence: f32,
    /// Five landmarks: right eye, left eye (from the viewer: the eye on the image's
    /// left comes first), nose tip, right and left mouth corner — YuNet's order.
    pub landmarks: [Point; 5],
}

/// Finds faces in an image.
pub trait FaceDetector: Send + Sync {
    /// All faces above the detector's confidence threshold, in any order.
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, PipelineError>;
}

/// What a describer tells about one face.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceDescription {
    /// Estimated age in years.
    pub age: f32,
    /// Probability that the face is male, 0–1.
    pub male_probability: f32,
    /// The identity embedding, when it was asked for.
    pub embedding: Option<Vec<f32>>,
    /// The face's quality measures. Describers leave it `None`; the
    /// [`Pipeline`](crate::Pipeline) fills it in for every described face.
    pub quality: Option<crate::quality::FaceQuality>,
}

/// Turns a detected face into attributes and, on request, an identity embedding.
pub trait FaceDescriber: Send + Sync {
    /// Describes `face` in `image`; computes the embedding only if `with_embedding`.
    fn describe(
        &self,
        image: &RgbImage,
        face: &Detection,
        with_embedding: bool,
    ) -> Result<FaceDescription, PipelineError>;

    /// How this describer's embeddings become a 0–100 score.
    fn score_mapping(&self) -> ScoreMapping;
}

/// The faces of one image with the embedding of the largest, after detection at the
/// best angle.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageAnalysis {
    /// Clockwise rotation under which the faces were found.
    pub best_angle: u16,
    /// Faces, largest first, with their descriptions (at most the pipeline's
    /// [describe cap](crate::Pipeline::with_max_described_faces)).
    pub faces: Vec<(Detection, FaceDescription)>,
    /// Faces beyond the describe cap, largest first: found, not described.
    pub undescribed: Vec<Detection>,
}

impl ImageAnalysis {
    /// The embedding of the largest face, if a face was found.
    pub fn embedding(&self) -> Option<&[f32]> {
        self.faces.first().and_then(|(_, d)| d.embedding.as_deref())
    }
}
