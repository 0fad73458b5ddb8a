//! The comparison pipeline: detect (optionally at four rotations), keep the largest
//! face, describe every face, score the pair and decide — the same for the CLI and the
//! server. Models stand behind [`FaceDetector`] and [`FaceDescriber`], which take
//! `&self` so one pipeline serves many requests at once.

use std::sync::Arc;

use image::RgbImage;

use crate::error::PipelineError;
use crate::geometry::{BBox, Point};
use crate::response::{round_to, Entity, FaceMatch, ImageFaces, Status, Warning, WarningTag};
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

/// One side of a comparison, as it arrived.
#[derive(Debug, Clone)]
pub enum ImageInput {
    /// A decoded, EXIF-oriented image.
    Image(RgbImage),
    /// The image part was present but held no bytes.
    Empty,
}

/// Per-request settings of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    /// Scores below this are declined (0–100).
    pub decline_threshold: f32,
    /// Scores at or above the decline threshold but below this are `In Review`.
    pub review_threshold: Option<f32>,
    /// Try 0/90/180/270 degrees and keep the best.
    pub rotate: bool,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            decline_threshold: 30.0,
            review_threshold: None,
            rotate: false,
        }
    }
}

/// The faces of one image with the embedding of the largest, after detection at the
/// best angle.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageAnalysis {
    /// Clockwise rotation under which the faces were found.
    pub best_angle: u16,
    /// Faces, largest first, with their descriptions.
    pub faces: Vec<(Detection, FaceDescription)>,
}

impl ImageAnalysis {
    /// The embedding of the largest face, if a face was found.
    pub fn embedding(&self) -> Option<&[f32]> {
        self.faces.first().and_then(|(_, d)| d.embedding.as_deref())
    }
}

/// The angles tried with `rotate_image=true`, upright first so that ties keep 0.
pub const ROTATION_ANGLES: [u16; 4] = [0, 90, 180, 270];

/// The face pipeline: a detector and a describer behind shared pointers.
#[derive(Clone)]
pub struct Pipeline {
    detector: Arc<dyn FaceDetector>,
    describer: Arc<dyn FaceDescriber>,
    parallel_sides: bool,
}

impl Pipeline {
    /// A pipeline from its two stages.
    pub fn new(detector: Arc<dyn FaceDetector>, describer: Arc<dyn FaceDescriber>) -> Self {
        Self {
            detector,
            describer,
            parallel_sides: false,
        }
    }

    /// Analyse the two images of a comparison on two threads. Halves the latency of
    /// one comparison on a multi-core machine (the CLI); a server already busy with
    /// concurrent requests gains nothing and keeps it off. Needs at least two
    /// inference sessions per model to pay off.
    pub fn with_parallel_sides(mut self, parallel: bool) -> Self {
        self.parallel_sides = parallel;
        self
    }

    /// The detector stage.
    pub fn detector(&self) -> &dyn FaceDetector {
        self.detector.as_ref()
    }

    /// The describer stage.
    pub fn describer(&self) -> &dyn FaceDescriber {
        self.describer.as_ref()
    }

    /// Detects faces, at the best of four angles when `rotate`; returns the angle and
    /// the faces sorted largest first, in the frame of that angle.
    pub fn detect_oriented(
        &self,
        image: &RgbImage,
        rotate: bool,
    ) -> Result<(u16, Option<RgbImage>, Vec<Detection>), PipelineError> {
        let mut faces = self.detector.detect(image)?;
        sort_largest_first(&mut faces);
        if !rotate {
            return Ok((0, None, faces));
        }
        let mut best: (u16, Option<RgbImage>, Vec<Detection>) = (0, None, faces);
        for angle in ROTATION_ANGLES.into_iter().skip(1) {
            let turned = facematch_imageio::rotate_clockwise(image, u32::from(angle));
            let mut found = self.detector.detect(&turned)?;
            sort_largest_first(&mut found);
            if largest_confidence(&found) > largest_confidence(&best.2) {
                best = (angle, Some(turned), found);
            }
        }
        Ok(best)
    }

    /// Detects and describes every face of `image`; embeds the largest one.
    pub fn analyze(&self, image: &RgbImage, rotate: bool) -> Result<ImageAnalysis, PipelineError> {
        let (best_angle, turned, detections) = self.detect_oriented(image, rotate)?;
        let frame = turned.as_ref().unwrap_or(image);
        let faces = detections
            .into_iter()
            .enumerate()
            .map(|(i, det)| {
                let description = self.describer.describe(frame, &det, i == 0)?;
                Ok((det, description))
            })
            .collect::<Result<Vec<_>, PipelineError>>()?;
        Ok(ImageAnalysis { best_angle, faces })
    }

    /// Compares two images and builds the contract's `face_match` object.
    pub fn compare(
        &self,
        user: &ImageInput,
        reference: &ImageInput,
        options: &CompareOptions,
    ) -> Result<FaceMatch, PipelineError> {
        let (user_analysis, ref_analysis) = if self.parallel_sides {
            std::thread::scope(|scope| {
                let other = scope.spawn(|| self.analyze_input(reference, options.rotate));
                let mine = self.analyze_input(user, options.rotate);
                // A panic in the other thread is re-raised here, as it would have been
                // had both sides run on this thread.
                let theirs = other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (mine, theirs)
            })
        } else {
            (
                self.analyze_input(user, options.rotate),
                self.analyze_input(reference, options.rotate),
            )
        };
        let (user_analysis, ref_analysis) = (user_analysis?, ref_analysis?);
        Ok(self.decide(user_analysis.as_ref(), ref_analysis.as_ref(), options))
    }

    fn analyze_input(
        &self,
        input: &ImageInput,
        rotate: bool,
    ) -> Result<Option<ImageAnalysis>, PipelineError> {
        match input {
            ImageInput::Image(img) => self.analyze(img, rotate).map(Some),
            ImageInput::Empty => Ok(None),
        }
    }

    /// Scores and decides from two analyses (`None` = empty image part).
    pub fn decide(
        &self,
        user: Option<&ImageAnalysis>,
        reference: Option<&ImageAnalysis>,
        options: &CompareOptions,
    ) -> FaceMatch {
        let mut warnings = Vec::new();
        let missing: Vec<&str> = [("user_image", user), ("ref_image", reference)]
            .iter()
            .filter(|(_, a)| a.is_none())
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            warnings.push(Warning {
                risk: WarningTag::NoReferenceImage,
                log_type: "error",
                short_description: "Image missing".into(),
                long_description: format!(
                    "The {} part was empty, so there was nothing to compare against.",
                    missing.join(" and ")
                ),
            });
        }
        let faceless: Vec<&str> = [("user_image", user), ("ref_image", reference)]
            .iter()
            .filter(|(_, a)| a.is_some_and(|a| a.faces.is_empty()))
            .map(|(name, _)| *name)
            .collect();
        if !faceless.is_empty() {
            warnings.push(Warning {
                risk: WarningTag::NoFaceDetected,
                log_type: "error",
                short_description: "No face detected".into(),
                long_description: format!("No face was detected in {}.", faceless.join(" nor in ")),
            });
        }
        let mapping = self.describer.score_mapping();
        let score = match (
            user.and_then(ImageAnalysis::embedding),
            reference.and_then(ImageAnalysis::embedding),
        ) {
            (Some(a), Some(b)) => Some(mapping.score(a, b).round().clamp(0.0, 100.0) as u8),
            _ => None,
        };
        if let Some(s) = score {
            if f32::from(s) < options.decline_threshold {
                warnings.push(Warning {
                    risk: WarningTag::LowFaceMatchSimilarity,
                    log_type: "warning",
                    short_description: "Low face match similarity".into(),
                    long_description: format!(
                        "The faces scored {s}, below the decline threshold {}.",
                        options.decline_threshold
                    ),
                });
            }
        }
        let status = match score {
            Some(s) if warnings.is_empty() => match options.review_threshold {
                Some(r) if f32::from(s) < r => Status::InReview,
                _ => Status::Approved,
            },
            _ => Status::Declined,
        };
        FaceMatch {
            status,
            score,
            user_image: image_faces(user),
            ref_image: image_faces(reference),
            warnings,
        }
    }
}

fn image_faces(analysis: Option<&ImageAnalysis>) -> ImageFaces {
    let Some(analysis) = analysis else {
        return ImageFaces::default();
    };
    ImageFaces {
        best_angle: analysis.best_angle,
        entities: analysis
            .faces
            .iter()
            .map(|(det, desc)| Entity {
                age: round_to(f64::from(desc.age), 2),
                bbox: det.bbox.to_int_array(),
                confidence: round_to(f64::from(det.confidence), 3),
                gender: if desc.male_probability >= 0.5 {
                    "male"
                } else {
                    "female"
                },
            })
            .collect(),
    }
}

/// Sorts faces by box area, largest first; equal areas keep the higher confidence first.
pub fn sort_largest_first(faces: &mut [Detection]) {
    faces.sort_by(|a, b| {
        b.bbox
            .area()
            .total_cmp(&a.bbox.area())
            .then(b.confidence.total_cmp(&a.confidence))
    });
}

fn largest_confidence(faces: &[Detection]) -> f32 {
    faces.first().map_or(f32::NEG_INFINITY, |f| f.confidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A detector that "finds" one face wherever the image has a red pixel at its
    /// top-left corner, with a confidence given by the green channel: enough to test
    /// rotation and ordering without a model.
    struct CornerDetector;
    impl FaceDetector for CornerDetector {
        fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, PipelineError> {
            let p = image.get_pixel(0, 0);
            if p[0] != 255 {
                return Ok(vec![]);
            }
            let small = Detection {
                bbox: BBox::new(0.0, 0.0, 2.0, 2.0),
                confidence: 0.99,
                landmarks: [Point::default(); 5],
            };
            let big = Detection {
                bbox: BBox::new(1.0, 1.0, 4.0, 4.0),
                confidence: f32::from(p[1]) / 255.0,
                landmarks: [Point::default(); 5],
            };
            Ok(vec![small, big])
        }
    }

    /// A describer whose embedding is the image's mean blue value.
    struct BlueDescriber;
    impl FaceDescriber for BlueDescriber {
        fn describe(
            &self,
            image: &RgbImage,
            _face: &Detection,
            with_embedding: bool,
        ) -> Result<FaceDescription, PipelineError> {
            Ok(FaceDescription {
                age: 33.333,
                male_probability: 0.2,
                embedding: with_embedding
                    .then(|| vec![f32::from(image.get_pixel(1, 1)[2]) / 100.0]),
            })
        }
        fn score_mapping(&self) -> ScoreMapping {
            // Distance 0 → 100, 0.6 → 50, 1.2 and beyond → 0.
            ScoreMapping::from_knots(
                crate::score::Metric::Euclidean,
                &[(0.0, 100.0), (0.6, 50.0), (1.2, 0.0)],
            )
            .expect("valid knots")
        }
    }

    fn pipeline() -> Pipeline {
        Pipeline::new(Arc::new(CornerDetector), Arc::new(BlueDescriber))
    }

    fn image_with(corner: Rgb<u8>, corner_xy: (u32, u32), blue: u8) -> RgbImage {
        let mut img = RgbImage::from_pixel(6, 4, Rgb([0, 0, blue]));
        img.put_pixel(corner_xy.0, corner_xy.1, corner);
        img
    }

    #[test]
    fn same_embedding_is_approved_with_largest_face_first() {
        let a = ImageInput::Image(image_with(Rgb([255, 200, 0]), (0, 0), 10));
        let r = pipeline()
            .compare(&a, &a, &CompareOptions::default())
            .expect("compare");
        assert_eq!(r.status, Status::Approved);
        assert_eq!(r.score, Some(100));
        assert!(r.warnings.is_empty());
        assert_eq!(r.user_image.entities.len(), 2);
        assert_eq!(r.user_image.entities[0].bbox, [1, 1, 4, 4]);
        assert_eq!(r.user_image.entities[0].age, 33.33);
        assert_eq!(r.user_image.entities[0].gender, "female");
    }

    #[test]
    fn distant_embeddings_are_declined_with_low_similarity() {
        let a = ImageInput::Image(image_with(Rgb([255, 200, 0]), (0, 0), 10));
        let b = ImageInput::Image(image_with(Rgb([255, 200, 0]), (0, 0), 200));
        let r = pipeline()
            .compare(&a, &b, &CompareOptions::default())
            .expect("compare");
        assert_eq!(r.status, Status::Declined);
        assert_eq!(r.score, Some(0));
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(r.warnings[0].risk, WarningTag::LowFaceMatchSimilarity);
    }

    #[test]
    fn review_band_and_threshold_edges() {
        let a = ImageInput::Image(image_with(Rgb([255, 200, 0]), (0, 0), 10));
        // Blue 70 vs 10 → distance 0.6 → score 50.
        let b = ImageInput::Image(image_with(Rgb([255, 200, 0]), (0, 0), 70));
        let p = pipeline();
        let at = |decline: f32, review: Option<f32>| {
            p.compare(
                &a,
                &b,
                &CompareOptions {
                    decline_threshold: decline,
                    review_threshold: review,
                    rotate: false,
                },
            )
            .expect("compare")
        };
        assert_eq!(at(50.0, None).score, Some(50));
        assert_eq!(at(50.0, None).status, Status::Approved);
        assert_eq!(at(51.0, None).status, Status::Declined);
        assert_eq!(at(30.0, Some(60.0)).status, Status::InReview);
        assert_eq!(at(30.0, Some(50.0)).status, Status::Approved);
    }

    #[test]
    fn missing_and_faceless_images_are_declined_with_their_warnings() {
        let a = ImageInput::Image(image_with(Rgb([255, 200, 0]), (0, 0), 10));
        let blank = ImageInput::Image(RgbImage::new(5, 5));
        let p = pipeline();
        let r = p
            .compare(&a, &ImageInput::Empty, &CompareOptions::default())
            .expect("compare");
        assert_eq!(r.status, Status::Declined);
        assert_eq!(r.score, None);
        assert_eq!(r.warnings[0].risk, WarningTag::NoReferenceImage);
        assert!(r.warnings[0].long_description.contains("ref_image"));
        let r = p
            .compare(&blank, &a, &CompareOptions::default())
            .expect("compare");
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(r.warnings[0].risk, WarningTag::NoFaceDetected);
        assert!(r.warnings[0].long_description.contains("user_image"));
        assert!(r.user_image.entities.is_empty());
        assert_eq!(r.ref_image.entities.len(), 2);
    }

    #[test]
    fn rotation_finds_the_angle_that_brings_the_marker_to_the_corner() {
        // A marker at the top-right corner reaches (0,0) after turning 270° clockwise.
        let img = image_with(Rgb([255, 250, 0]), (5, 0), 10);
        let p = pipeline();
        let (angle, turned, faces) = p.detect_oriented(&img, true).expect("detect");
        assert_eq!(angle, 270);
        assert_eq!(turned.map(|t| t.dimensions()), Some((4, 6)));
        assert_eq!(faces.len(), 2);
        let (angle, _, faces) = p.detect_oriented(&img, false).expect("detect");
        assert_eq!((angle, faces.len()), (0, 0));
        // Upright wins ties.
        let upright = image_with(Rgb([255, 250, 255]), (0, 0), 10);
        assert_eq!(p.detect_oriented(&upright, true).expect("detect").0, 0);
    }
}
