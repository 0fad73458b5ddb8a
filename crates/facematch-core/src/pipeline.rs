//! The comparison pipeline: decode, detect (optionally at four rotations), keep the
//! largest face, describe every face, then decide — the same for the CLI, the server
//! and the evaluation tools. [`Pipeline::compare`] is the one way a decision is made;
//! each stage runs in a tracing span (`decode`, `analyze`, `detect`, `describe`) so a
//! slow request can be attributed to a stage in the logs.
//!
//! The `_with` variants take a [`CancelToken`]: they stop with
//! [`PipelineError::Cancelled`] at the next stage boundary once it is cancelled —
//! before decoding each part, before each detection angle and before describing each
//! face. A stage already running finishes first (a model call cannot be interrupted).

use std::sync::Arc;
use std::time::{Duration, Instant};

use facematch_imageio::DecodeLimits;
use image::RgbImage;

pub use crate::analysis::{Detection, FaceDescriber, FaceDescription, FaceDetector, ImageAnalysis};
use crate::cancel::{CancelToken, WorkStarted};
use crate::comparison::{Comparison, StageTimings};
pub use crate::decision::CompareOptions;
use crate::error::{CompareError, PipelineError};
use crate::input::{image_input_reporting, ImageInput};
use crate::response::{FaceMatch, Side};

mod tight_crop;

/// The angles tried with `rotate_image=true`, upright first so that ties keep 0.
pub const ROTATION_ANGLES: [u16; 4] = [0, 90, 180, 270];

/// Faces described per image unless [`Pipeline::with_max_described_faces`] says
/// otherwise: the largest ten. Describing (landmarks, age, gender) is the costly stage,
/// so a grid of hundreds of faces must not cost hundreds of model runs.
pub const DEFAULT_MAX_DESCRIBED_FACES: usize = 10;

/// Which face of an image is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaceSelection {
    /// The largest face (the contract's rule; the default).
    #[default]
    Largest,
    /// The face whose box centre is nearest the image's centre (the LFW protocol's
    /// convention), for evaluation.
    Center,
}

/// The face pipeline: a detector and a describer behind shared pointers.
#[derive(Clone)]
pub struct Pipeline {
    detector: Arc<dyn FaceDetector>,
    describer: Arc<dyn FaceDescriber>,
    parallel_sides: bool,
    max_described_faces: usize,
    selection: FaceSelection,
}

/// One side after analysis: `None` for an empty part, with how long the analysis took.
struct Analysed {
    analysis: Option<ImageAnalysis>,
    took: Option<Duration>,
}

impl Pipeline {
    /// A pipeline from its two stages.
    pub fn new(detector: Arc<dyn FaceDetector>, describer: Arc<dyn FaceDescriber>) -> Self {
        Self {
            detector,
            describer,
            parallel_sides: false,
            max_described_faces: DEFAULT_MAX_DESCRIBED_FACES,
            selection: FaceSelection::Largest,
        }
    }

    /// Analyse the two images of a comparison on two threads. Halves the latency of
    /// one comparison on a multi-core machine with two inference sessions per model
    /// (`facematch bench`); with one (`facematch compare`) the sides overlap everywhere
    /// but in model runs. A server already busy with concurrent requests gains nothing
    /// and keeps it off.
    pub fn with_parallel_sides(mut self, parallel: bool) -> Self {
        self.parallel_sides = parallel;
        self
    }

    /// Describe at most the `max` largest faces of each image (at least 1); the others
    /// are kept in [`ImageAnalysis::undescribed`] and the decision lists them without
    /// attributes under a `TOO_MANY_FACES` warning. Default
    /// [`DEFAULT_MAX_DESCRIBED_FACES`].
    pub fn with_max_described_faces(mut self, max: usize) -> Self {
        self.max_described_faces = max.max(1);
        self
    }

    /// Compare the face chosen by `selection` (default: the largest). The chosen face
    /// comes first in [`ImageAnalysis::faces`] and is the one embedded.
    pub fn with_face_selection(mut self, selection: FaceSelection) -> Self {
        self.selection = selection;
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
        self.detect_oriented_with(image, rotate, &CancelToken::new())
    }

    /// [`Pipeline::detect_oriented`], checking `cancel` before each angle.
    ///
    /// The detector's quick look ([`FaceDetector::quick_detect_turned`]) comes first,
    /// at every angle tried: when it is conclusive at one angle or more, the best of
    /// those (the highest confidence of its largest face) wins and only that angle's
    /// frame is turned; its faces are kept, or, where the detector says its quick boxes
    /// are not final for a photo of this size, detected in full at that angle alone.
    /// Otherwise every angle is detected in full, as the quick look may have missed
    /// small faces.
    pub fn detect_oriented_with(
        &self,
        image: &RgbImage,
        rotate: bool,
        cancel: &CancelToken,
    ) -> Result<(u16, Option<RgbImage>, Vec<Detection>), PipelineError> {
        let angles = if rotate {
            &ROTATION_ANGLES[..]
        } else {
            &ROTATION_ANGLES[..1]
        };
        let quick_is_final = self
            .detector
            .quick_boxes_are_final(image.width(), image.height());
        // A quick look that cannot give the boxes pays only when it spares the full
        // pass at three other angles.
        let angles = if quick_is_final || rotate {
            angles
        } else {
            &[]
        };
        if let Some((angle, quick_faces)) = self.quick_look(image, angles, cancel)? {
            let turned =
                (angle != 0).then(|| facematch_imageio::rotate_clockwise(image, u32::from(angle)));
            if quick_is_final {
                return Ok((angle, turned, quick_faces));
            }
            cancel.check()?;
            let mut faces = self.detect_at(turned.as_ref().unwrap_or(image), angle)?;
            sort_largest_first(&mut faces);
            // The full pass sees more than the quick one; should it find nothing here,
            // the quick look's faces stand.
            let faces = if faces.is_empty() { quick_faces } else { faces };
            return Ok((angle, turned, faces));
        }
        cancel.check()?;
        let mut faces = self.detect_at(image, 0)?;
        sort_largest_first(&mut faces);
        if !rotate {
            return Ok((0, None, faces));
        }
        let mut best: (u16, Option<RgbImage>, Vec<Detection>) = (0, None, faces);
        for angle in ROTATION_ANGLES.into_iter().skip(1) {
            cancel.check()?;
            let turned = facematch_imageio::rotate_clockwise(image, u32::from(angle));
            let mut found = self.detect_at(&turned, angle)?;
            sort_largest_first(&mut found);
            if largest_confidence(&found) > largest_confidence(&best.2) {
                best = (angle, Some(turned), found);
            }
        }
        Ok(best)
    }

    /// The detector's quick look at each of `angles`: the angle whose conclusive look
    /// has the most confident largest face (the first on ties), with its faces largest
    /// first; `None` when no look was conclusive.
    fn quick_look(
        &self,
        image: &RgbImage,
        angles: &[u16],
        cancel: &CancelToken,
    ) -> Result<Option<(u16, Vec<Detection>)>, PipelineError> {
        let mut best: Option<(u16, Vec<Detection>)> = None;
        for &angle in angles {
            cancel.check()?;
            let found = {
                let _span = tracing::info_span!("detect", angle, pass = "quick").entered();
                self.detector.quick_detect_turned(image, angle)?
            };
            if let Some(mut found) = found {
                sort_largest_first(&mut found);
                let better = best.as_ref().is_none_or(|(_, faces)| {
                    largest_confidence(&found) > largest_confidence(faces)
                });
                if better {
                    best = Some((angle, found));
                }
            }
        }
        Ok(best)
    }

    fn detect_at(&self, image: &RgbImage, angle: u16) -> Result<Vec<Detection>, PipelineError> {
        let _span = tracing::info_span!("detect", angle, pass = "full").entered();
        self.detector.detect(image)
    }

    /// Detects the faces of `image` and describes the largest (up to the describe cap);
    /// embeds the chosen one (the largest, or the most central with
    /// [`FaceSelection::Center`]). When no face is found, detects again inside a border
    /// (the tight-crop retry, `pipeline/tight_crop.rs`): faces are then described from
    /// the padded frame and reported in the photo's own coordinates.
    pub fn analyze(&self, image: &RgbImage, rotate: bool) -> Result<ImageAnalysis, PipelineError> {
        self.analyze_with(image, rotate, &CancelToken::new())
    }

    /// [`Pipeline::analyze`], checking `cancel` before each detection angle and before
    /// describing each face.
    pub fn analyze_with(
        &self,
        image: &RgbImage,
        rotate: bool,
        cancel: &CancelToken,
    ) -> Result<ImageAnalysis, PipelineError> {
        let found = self.detect_oriented_with(image, rotate, cancel)?;
        let (best_angle, turned, mut detections, padding) = if found.2.is_empty() {
            match self.detect_padded(image, rotate, cancel)? {
                Some((angle, frame, faces, padding)) => (angle, Some(frame), faces, Some(padding)),
                None => (found.0, found.1, found.2, None),
            }
        } else {
            (found.0, found.1, found.2, None)
        };
        let frame = turned.as_ref().unwrap_or(image);
        if self.selection == FaceSelection::Center {
            move_nearest_centre_first(&mut detections, frame.width(), frame.height());
        }
        let (photo_w, photo_h) = size_at(image, best_angle);
        let unpad = |det: Detection| match padding {
            None => det,
            Some(p) => tight_crop::unpad_detection(&det, p, photo_w, photo_h),
        };
        let undescribed = detections.split_off(detections.len().min(self.max_described_faces));
        let faces = detections
            .into_iter()
            .enumerate()
            .map(|(i, det)| {
                cancel.check()?;
                let _span = tracing::info_span!("describe", face = i).entered();
                let mut description = self.describer.describe(frame, &det, i == 0)?;
                description.quality = Some(crate::quality::assess(frame, &det));
                Ok((unpad(det), description))
            })
            .collect::<Result<Vec<_>, PipelineError>>()?;
        Ok(ImageAnalysis {
            best_angle,
            faces,
            undescribed: undescribed.into_iter().map(unpad).collect(),
        })
    }

    /// The tight-crop retry: detection (at every angle when `rotate`) on a copy of
    /// `image` shrunk to at most [`tight_crop::MAX_SIDE`] and padded with a
    /// [`tight_crop::BORDER_SHARE`] border, keeping only faces that fill the photo with
    /// some confidence ([`tight_crop::is_tight_crop_face`]). `None` when it finds no
    /// such face; else the angle, the padded (turned) frame, the faces largest first in
    /// that frame, and how that frame maps back to the photo.
    #[allow(clippy::type_complexity)]
    fn detect_padded(
        &self,
        image: &RgbImage,
        rotate: bool,
        cancel: &CancelToken,
    ) -> Result<Option<(u16, RgbImage, Vec<Detection>, tight_crop::Padding)>, PipelineError> {
        cancel.check()?;
        let (padded, padding) = tight_crop::padded_copy(image);
        let (angle, turned, mut faces) = self.detect_oriented_with(&padded, rotate, cancel)?;
        let (w, h) = size_at(image, angle);
        faces.retain(|f| {
            tight_crop::is_tight_crop_face(&tight_crop::unpad_detection(f, padding, w, h), w, h)
        });
        if faces.is_empty() {
            return Ok(None);
        }
        Ok(Some((angle, turned.unwrap_or(padded), faces, padding)))
    }

    /// Compares two decoded images: analyses both (on two threads with
    /// [`Pipeline::with_parallel_sides`]) and decides. The timings hold no decoding.
    pub fn compare(
        &self,
        user: &ImageInput,
        reference: &ImageInput,
        options: &CompareOptions,
    ) -> Result<Comparison, PipelineError> {
        self.compare_with(user, reference, options, &CancelToken::new())
    }

    /// [`Pipeline::compare`], stopping at the next stage boundary once `cancel` is
    /// cancelled.
    pub fn compare_with(
        &self,
        user: &ImageInput,
        reference: &ImageInput,
        options: &CompareOptions,
        cancel: &CancelToken,
    ) -> Result<Comparison, PipelineError> {
        let started = Instant::now();
        let (user, reference) = if self.parallel_sides {
            self.analyze_in_parallel(user, reference, options.rotate, cancel)?
        } else {
            (
                self.analyze_side(Side::User, user, options.rotate, cancel)?,
                self.analyze_side(Side::Reference, reference, options.rotate, cancel)?,
            )
        };
        let face_match = self.decide(user.analysis.as_ref(), reference.analysis.as_ref(), options);
        let timings = StageTimings {
            decode: Vec::new(),
            analyze: [user.took, reference.took].into_iter().flatten().collect(),
            compare: started.elapsed(),
        };
        Ok(Comparison {
            face_match,
            timings,
        })
    }

    /// Decodes two uploaded images within `limits` (0 bytes is an empty part) and
    /// [compares](Pipeline::compare) them; the timings include each decoding. A part
    /// that does not decode is named in the error.
    pub fn compare_uploads(
        &self,
        user: &[u8],
        reference: &[u8],
        limits: &DecodeLimits,
        options: &CompareOptions,
    ) -> Result<Comparison, CompareError> {
        let (cancel, started) = (CancelToken::new(), WorkStarted::new());
        self.compare_uploads_with(user, reference, limits, options, &cancel, &started)
    }

    /// [`Pipeline::compare_uploads`] for a caller that may abandon it and pays for it:
    /// stops with [`PipelineError::Cancelled`] at the next stage boundary once `cancel`
    /// is cancelled (checked before decoding each part, then as in
    /// [`Pipeline::compare_with`]), and marks `started` the moment a part passed every
    /// check that needs no pixels (header read, dimensions accepted, file complete),
    /// just before its pixels are decoded. A part refused before its pixels (not an
    /// image, over the limits, cut short) leaves `started` unset, unless the other part
    /// already set it.
    pub fn compare_uploads_with(
        &self,
        user: &[u8],
        reference: &[u8],
        limits: &DecodeLimits,
        options: &CompareOptions,
        cancel: &CancelToken,
        started: &WorkStarted,
    ) -> Result<Comparison, CompareError> {
        let mut decode = Vec::with_capacity(Side::BOTH.len());
        let mut decode_part = |side: Side, bytes: &[u8]| -> Result<ImageInput, CompareError> {
            cancel.check()?;
            let began = Instant::now();
            let input = image_input_reporting(bytes, limits, || started.mark())
                .map_err(|source| CompareError::Decode { side, source });
            decode.push(began.elapsed());
            input
        };
        let user = decode_part(Side::User, user)?;
        let reference = decode_part(Side::Reference, reference)?;
        let mut comparison = self.compare_with(&user, &reference, options, cancel)?;
        comparison.timings.decode = decode;
        Ok(comparison)
    }

    /// The reference side on a second thread (carrying the caller's span), the user's
    /// on this one.
    fn analyze_in_parallel(
        &self,
        user: &ImageInput,
        reference: &ImageInput,
        rotate: bool,
        cancel: &CancelToken,
    ) -> Result<(Analysed, Analysed), PipelineError> {
        let span = tracing::Span::current();
        let (mine, theirs) = std::thread::scope(|scope| {
            let other = scope.spawn(|| {
                span.in_scope(|| self.analyze_side(Side::Reference, reference, rotate, cancel))
            });
            let mine = self.analyze_side(Side::User, user, rotate, cancel);
            // A panic in the other thread is re-raised here, as it would have been
            // had both sides run on this thread.
            let theirs = other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (mine, theirs)
        });
        Ok((mine?, theirs?))
    }

    fn analyze_side(
        &self,
        side: Side,
        input: &ImageInput,
        rotate: bool,
        cancel: &CancelToken,
    ) -> Result<Analysed, PipelineError> {
        let Some((image, scale)) = input.pixels() else {
            return Ok(Analysed {
                analysis: None,
                took: None,
            });
        };
        let _span = tracing::info_span!("analyze", side = side.field()).entered();
        let started = Instant::now();
        // A reduced decode is analysed as it is; faces are reported in the upload's pixels.
        let analysis = self.analyze_with(image, rotate, cancel)?.scaled_up(scale);
        Ok(Analysed {
            analysis: Some(analysis),
            took: Some(started.elapsed()),
        })
    }

    /// Scores and decides from two analyses (`None` = empty image part) with this
    /// pipeline's score mapping: for tools that analyse each image once and compare it
    /// many times. [`Pipeline::compare`] decides through it.
    pub fn decide(
        &self,
        user: Option<&ImageAnalysis>,
        reference: Option<&ImageAnalysis>,
        options: &CompareOptions,
    ) -> FaceMatch {
        crate::decision::decide(user, reference, &self.describer.score_mapping(), options)
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

/// Moves the face whose box centre is nearest the centre of a `width` × `height`
/// frame to the front; the others keep their order (largest first). Ties keep the
/// larger face.
pub fn move_nearest_centre_first(faces: &mut [Detection], width: u32, height: u32) {
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let distance = |d: &Detection| {
        let (x, y) = ((d.bbox.x1 + d.bbox.x2) / 2.0, (d.bbox.y1 + d.bbox.y2) / 2.0);
        (x - cx).powi(2) + (y - cy).powi(2)
    };
    let nearest = faces
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| distance(a).total_cmp(&distance(b)))
        .map(|(i, _)| i);
    if let Some(i) = nearest {
        faces[..=i].rotate_right(1);
    }
}

/// The size of `image` once turned clockwise by `angle` (a quarter turn swaps it).
fn size_at(image: &RgbImage, angle: u16) -> (u32, u32) {
    facematch_imageio::QuarterTurn::nearest(u32::from(angle))
        .rotated_size(image.width(), image.height())
}

fn largest_confidence(faces: &[Detection]) -> f32 {
    faces.first().map_or(f32::NEG_INFINITY, |f| f.confidence)
}

#[cfg(test)]
mod tests;
