//! A photo decoded reduced (`ImageInput::Reduced`) is analysed at its reduced size and
//! reported in the upload's pixels: boxes, landmarks and faces beyond the describe cap
//! multiplied by the scale, face quality's size judged at full size. Stand-in models:
//! the detector finds faces at fixed fractions of the image, so the same photo at full
//! size and at 1/4 gives the same faces.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

use std::sync::Arc;

use facematch_core::score::{Metric, ScoreMapping};
use facematch_core::{
    BBox, CompareOptions, Detection, FaceDescriber, FaceDescription, FaceDetector, FaceMatch,
    ImageInput, Pipeline, PipelineError, Point, QualityIssue,
};
use image::{Rgb, RgbImage};

/// Two faces at fixed fractions of the image: the larger (a quarter of the width)
/// and a smaller one. Eyes 1/16 of the width apart on the larger.
struct FractionDetector;
impl FaceDetector for FractionDetector {
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, PipelineError> {
        let w = image.width() as f32;
        let face = |x: f32, size: f32| {
            let p = |fx: f32, fy: f32| Point::new((x + fx * size) * w, (0.1 + fy * size) * w);
            Detection {
                bbox: BBox::new(x * w, 0.1 * w, (x + size) * w, (0.1 + size) * w),
                confidence: 0.9,
                landmarks: [
                    p(0.375, 0.4),
                    p(0.625, 0.4),
                    p(0.5, 0.6),
                    p(0.4, 0.8),
                    p(0.6, 0.8),
                ],
            }
        };
        Ok(vec![face(0.1, 0.25), face(0.6, 0.1)])
    }
}

/// The same embedding for every face: every comparison scores 100.
struct SameDescriber;
impl FaceDescriber for SameDescriber {
    fn describe(
        &self,
        _image: &RgbImage,
        _face: &Detection,
        with_embedding: bool,
    ) -> Result<FaceDescription, PipelineError> {
        Ok(FaceDescription {
            age: 30.0,
            male_probability: 0.5,
            embedding: with_embedding.then(|| vec![1.0]),
            quality: None,
        })
    }
    fn score_mapping(&self) -> ScoreMapping {
        ScoreMapping::from_knots(Metric::Euclidean, &[(0.0, 100.0), (1.0, 0.0)]).unwrap()
    }
}

/// A textured photo (so that the quality crop is not flat).
fn photo(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let v = (((x * 4 / width.max(1) * 7) ^ (y * 37 / height.max(1))) % 2) as u8;
        Rgb([60 + 120 * v, 90 + 80 * v, 70 + 100 * v])
    })
}

fn compare(input: &ImageInput) -> FaceMatch {
    Pipeline::new(Arc::new(FractionDetector), Arc::new(SameDescriber))
        .with_max_described_faces(1)
        .compare(input, input, &CompareOptions::default())
        .unwrap()
        .face_match
}

#[test]
fn a_reduced_photo_is_reported_in_the_uploads_pixels() {
    // The upload is 640 px wide; decoded at 1/4 it is 160 px wide: eyes 10 px apart
    // there ("too small" under 25 px), 40 px in the upload.
    let full = compare(&ImageInput::Image(photo(640, 480)));
    let reduced = compare(&ImageInput::Reduced {
        image: photo(160, 120),
        scale: 4,
    });
    let (f, r) = (&full.user_image.entities, &reduced.user_image.entities);
    assert_eq!((f.len(), r.len()), (2, 2));
    for (f, r) in f.iter().zip(r) {
        // The described face and the one beyond the cap alike.
        assert_eq!(r.bbox, f.bbox);
    }
    assert_eq!(r[0].bbox, [64, 64, 224, 224]);
    let (fl, rl) = (f[0].landmarks.unwrap(), r[0].landmarks.unwrap());
    for (a, b) in fl.iter().zip(&rl) {
        assert!(
            (a[0] - b[0]).abs() < 0.01 && (a[1] - b[1]).abs() < 0.01,
            "{a:?} {b:?}"
        );
    }
    let (fq, rq) = (f[0].quality.unwrap(), r[0].quality.unwrap());
    assert_eq!(rq.face_size, 40.0);
    assert_eq!(rq.face_size, fq.face_size);
    assert_ne!(rq.limited_by, Some(QualityIssue::TooSmall), "{rq:?}");
    assert_eq!(reduced.status, full.status);
    assert_eq!(reduced.score, full.score);
}

/// Negative control: the same reduced pixels taken as a full-size photo are reported
/// at their own size, and their face is too small.
#[test]
fn the_same_pixels_at_full_size_are_not_scaled() {
    let as_is = compare(&ImageInput::Image(photo(160, 120)));
    let face = &as_is.user_image.entities[0];
    assert_eq!(face.bbox, [16, 16, 56, 56]);
    let quality = face.quality.unwrap();
    assert_eq!(quality.face_size, 10.0);
    assert_eq!(quality.limited_by, Some(QualityIssue::TooSmall));
}
