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

    /// A cheaper look at `image` turned clockwise by `angle` (0, 90, 180 or 270), with
    /// the faces in the turned frame's pixels: `Some` when it is conclusive (it found
    /// a face big enough to trust the look), `None` when the caller must run
    /// [`FaceDetector::detect`] on the turned image instead. A detector without a
    /// cheaper look answers `None` (the default).
    fn quick_detect_turned(
        &self,
        image: &RgbImage,
        angle: u16,
    ) -> Result<Option<Vec<Detection>>, PipelineError> {
        let _ = (image, angle);
        Ok(None)
    }

    /// Whether the faces of a conclusive [`FaceDetector::quick_detect_turned`] on a
    /// `width` × `height` photo are kept as they are (`true`, the default), or only
    /// choose the angle, the boxes then coming from [`FaceDetector::detect`] on the
    /// photo turned to it.
    fn quick_boxes_are_final(&self, width: u32, height: u32) -> bool {
        let _ = (width, height);
        true
    }
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

    /// This analysis of an image decoded at 1/`scale` of each side, in the pixels of
    /// the full-size image: boxes and landmarks multiplied by `scale`, and each face's
    /// quality judged on its full-size eye distance
    /// ([`FaceQuality::at_full_size`](crate::quality::FaceQuality::at_full_size)).
    /// Unchanged when `scale` is 1.
    pub fn scaled_up(mut self, scale: u32) -> Self {
        if scale <= 1 {
            return self;
        }
        let factor = scale as f32;
        for (det, description) in &mut self.faces {
            *det = det.scaled(factor);
            description.quality = description.quality.map(|q| q.at_full_size(&det.landmarks));
        }
        for det in &mut self.undescribed {
            *det = det.scaled(factor);
        }
        self
    }
}

impl Detection {
    /// This detection with every coordinate multiplied by `factor`.
    fn scaled(&self, factor: f32) -> Detection {
        let p = |p: Point| Point::new(p.x * factor, p.y * factor);
        Detection {
            bbox: BBox {
                x1: self.bbox.x1 * factor,
                y1: self.bbox.y1 * factor,
                x2: self.bbox.x2 * factor,
                y2: self.bbox.y2 * factor,
            },
            confidence: self.confidence,
            landmarks: self.landmarks.map(p),
        }
    }
}
