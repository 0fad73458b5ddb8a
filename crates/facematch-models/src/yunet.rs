//! YuNet (2023mar) face detector: scale the photo into the model's input (BGR), decode
//! the anchor-free outputs at strides 8/16/32, threshold, NMS, and map back to image
//! pixels.
//!
//! Two passes. The full pass letterboxes the photo into 640×640, as the model was
//! exported. The quick pass ([`FaceDetector::quick_detect_turned`]) looks at the photo
//! with its longer side at [`YunetConfig::quick_side`] (320 by default, a smaller photo
//! enlarged to it), padded to a multiple of 32 — a quarter of the full pass's pixels.
//! YuNet is fully convolutional; only its declared input size is fixed, which
//! [`free_input_size`] lifts. The quick pass is conclusive only when it finds a face at
//! least [`YunetConfig::quick_min_face`] input pixels tall and wide; otherwise the
//! pipeline runs the full pass, so small and missed faces are looked for exactly as
//! before. Its boxes are kept only for photos larger than the full pass's 640 px; on a
//! smaller photo it only chooses the angle ([`FaceDetector::quick_boxes_are_final`])
//! and the full pass at that angle gives the boxes.

use facematch_core::geometry::{nms, BBox, Letterbox, Point};
use facematch_core::pipeline::{Detection, FaceDetector};
use facematch_core::PipelineError;
use facematch_engine::{InferenceModel, Tensor};
use facematch_imageio::QuarterTurn;
use image::RgbImage;

use crate::chw::ChwFormat;
use crate::error::detector;

/// Side of YuNet's square input in the full pass (the size it was exported with).
pub const INPUT_SIZE: u32 = 640;
const STRIDES: [usize; 3] = [8, 16, 32];
/// Every input side must be a multiple of the largest stride.
const INPUT_MULTIPLE: u32 = 32;
/// The model's input, whose height and width [`free_input_size`] makes symbolic.
const INPUT_NAME: &str = "input";

/// Detection settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YunetConfig {
    /// Faces scoring below this (0–1) are dropped.
    pub score_threshold: f32,
    /// Boxes overlapping a better one by more than this IoU are dropped.
    pub nms_threshold: f32,
    /// Faces smaller than this many image pixels on their shorter side are dropped:
    /// too small to compare reliably.
    pub min_face_px: f32,
    /// Longer side of the quick pass's input (0: no quick pass, always the full one).
    pub quick_side: u32,
    /// The quick pass is conclusive when a face is at least this many input pixels on
    /// its shorter side; smaller faces are looked for again by the full pass.
    pub quick_min_face: f32,
}

impl Default for YunetConfig {
    fn default() -> Self {
        Self {
            score_threshold: 0.6,
            nms_threshold: 0.3,
            min_face_px: 8.0,
            quick_side: 320,
            quick_min_face: 32.0,
        }
    }
}

/// The YuNet detector over any inference backend.
pub struct YunetDetector {
    model: Box<dyn InferenceModel>,
    config: YunetConfig,
    /// Index of each output (cls/obj/bbox/kps × stride) in the model's output list.
    outputs: [[usize; 3]; 4],
}

impl YunetDetector {
    /// Wraps a loaded YuNet model; fails if its outputs are not YuNet's.
    pub fn new(model: Box<dyn InferenceModel>, config: YunetConfig) -> Result<Self, PipelineError> {
        let mut outputs = [[0usize; 3]; 4];
        for (k, kind) in ["cls", "obj", "bbox", "kps"].iter().enumerate() {
            for (s, stride) in STRIDES.iter().enumerate() {
                let name = format!("{kind}_{stride}");
                outputs[k][s] = model
                    .output_names()
                    .iter()
                    .position(|n| *n == name)
                    .ok_or_else(|| detector(format!("YuNet output {name} missing")))?;
            }
        }
        Ok(Self {
            model,
            config,
            outputs,
        })
    }

    /// Detections in model input coordinates (before mapping back) from the outputs
    /// of one run on an input of `lb.input_width` × `lb.input_height`.
    fn decode(&self, out: &[Tensor], lb: &Letterbox) -> Result<Candidates, PipelineError> {
        let mut found = Candidates::default();
        for (s, &stride) in STRIDES.iter().enumerate() {
            let cols = lb.input_width as usize / stride;
            let cells = cols * (lb.input_height as usize / stride);
            let get = |k: usize, width: usize| -> Result<&[f32], PipelineError> {
                let t = &out[self.outputs[k][s]];
                if t.data.len() != cells * width {
                    return Err(detector(format!(
                        "YuNet output {k}/{stride} has {} values, expected {}",
                        t.data.len(),
                        cells * width
                    )));
                }
                Ok(&t.data)
            };
            let (cls, obj, bbox, kps) = (get(0, 1)?, get(1, 1)?, get(2, 4)?, get(3, 10)?);
            let st = stride as f32;
            for idx in 0..cells {
                let score = (cls[idx].clamp(0.0, 1.0) * obj[idx].clamp(0.0, 1.0)).sqrt();
                // NaN fails this test too, so a broken output yields no face.
                if score.is_nan() || score < self.config.score_threshold {
                    continue;
                }
                let (r, c) = ((idx / cols) as f32, (idx % cols) as f32);
                let b = &bbox[idx * 4..idx * 4 + 4];
                let cx = (c + b[0]) * st;
                let cy = (r + b[1]) * st;
                // Clamp the log-size so a hostile activation can't overflow to inf.
                let w = b[2].clamp(-10.0, 10.0).exp() * st;
                let h = b[3].clamp(-10.0, 10.0).exp() * st;
                found.boxes.push(BBox::new(
                    cx - w / 2.0,
                    cy - h / 2.0,
                    cx + w / 2.0,
                    cy + h / 2.0,
                ));
                found.scores.push(score);
                let k = &kps[idx * 10..idx * 10 + 10];
                found.marks.push(std::array::from_fn(|n| {
                    Point::new((k[2 * n] + c) * st, (k[2 * n + 1] + r) * st)
                }));
            }
        }
        Ok(found)
    }

    /// Runs the model on `scaled` (the photo turned into the frame of `frame` =
    /// (width, height) and scaled by `lb`) and returns the faces in frame pixels.
    fn run(
        &self,
        scaled: &RgbImage,
        lb: &Letterbox,
        frame: (u32, u32),
    ) -> Result<Vec<Detection>, PipelineError> {
        let input = pack(scaled, lb);
        let out = self.model.run(&input).map_err(detector)?;
        let Candidates {
            boxes,
            scores,
            marks,
        } = self.decode(&out, lb)?;
        let keep = nms(&boxes, &scores, self.config.nms_threshold);
        Ok(keep
            .into_iter()
            .filter_map(|i| {
                let bbox = lb.box_to_image(boxes[i]).clamp_to(frame.0, frame.1);
                if bbox.width().min(bbox.height()) < self.config.min_face_px {
                    return None;
                }
                Some(Detection {
                    bbox,
                    confidence: scores[i],
                    landmarks: marks[i].map(|p| lb.to_image(p)),
                })
            })
            .collect())
    }
}

/// Faces above the threshold, before NMS, in model coordinates.
#[derive(Default)]
struct Candidates {
    boxes: Vec<BBox>,
    scores: Vec<f32>,
    marks: Vec<[Point; 5]>,
}

/// Letterboxes `image` into YuNet's full-pass input: 1×3×640×640, BGR, 0–255, zero
/// padding.
pub fn preprocess(image: &RgbImage) -> (Tensor, Letterbox) {
    let (w, h) = image.dimensions();
    let lb = Letterbox::fit(w, h, INPUT_SIZE);
    let resized = crate::resize::resize_rgb(image, lb.scaled_width, lb.scaled_height);
    (pack(&resized, &lb), lb)
}

/// The model input for `scaled` (already `lb.scaled_width` × `lb.scaled_height`):
/// BGR planes of `lb.input_width` × `lb.input_height`, 0–255, zero padding.
fn pack(scaled: &RgbImage, lb: &Letterbox) -> Tensor {
    let (w, h) = (lb.input_width as usize, lb.input_height as usize);
    let mut data = vec![0f32; 3 * w * h];
    let offset = (lb.pad_x as usize, lb.pad_y as usize);
    ChwFormat::RAW_BGR.pack_into(scaled, &mut data, (w, h), offset);
    Tensor {
        shape: vec![1, 3, h, w],
        data,
    }
}

/// YuNet's ONNX file with its input's height and width made symbolic, so that the
/// quick pass may feed other sizes (the operators allow any multiple of 32).
pub fn free_input_size(model: &[u8]) -> Result<Vec<u8>, PipelineError> {
    facematch_onnx::free_input_dims(model, INPUT_NAME, &[(2, "height"), (3, "width")])
        .map_err(detector)
}

impl FaceDetector for YunetDetector {
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, PipelineError> {
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Ok(Vec::new());
        }
        let lb = Letterbox::fit(w, h, INPUT_SIZE);
        let resized = crate::resize::resize_rgb(image, lb.scaled_width, lb.scaled_height);
        self.run(&resized, &lb, (w, h))
    }

    fn quick_detect_turned(
        &self,
        image: &RgbImage,
        angle: u16,
    ) -> Result<Option<Vec<Detection>>, PipelineError> {
        let (w, h) = image.dimensions();
        if self.config.quick_side == 0 || w == 0 || h == 0 {
            return Ok(None);
        }
        let turn = QuarterTurn::nearest(u32::from(angle));
        let frame = turn.rotated_size(w, h);
        let lb = Letterbox::fit_padded(
            frame.0,
            frame.1,
            self.config.quick_side,
            INPUT_MULTIPLE,
            true,
        );
        // Scale first, turn the small copy: the photo itself is never turned here.
        let (sw, sh) = turn
            .inverse()
            .rotated_size(lb.scaled_width, lb.scaled_height);
        let small = crate::resize::resize_rgb(image, sw, sh);
        let small = facematch_imageio::rotate(&small, turn);
        let faces = self.run(&small, &lb, frame)?;
        let conclusive = faces
            .iter()
            .any(|f| f.bbox.width().min(f.bbox.height()) * lb.scale >= self.config.quick_min_face);
        Ok(conclusive.then_some(faces))
    }

    fn quick_boxes_are_final(&self, width: u32, height: u32) -> bool {
        // The full pass shrinks such a photo too, and the quick pass sees it at half
        // that scale or more. A smaller photo is enlarged to 640 by the full pass: its
        // boxes there are measurably better (LFW dev at 50: 2 errors, not 4; UTKFace
        // age MAE 4.92 years, not 5.21), so the quick pass only chooses its angle.
        width.max(height) > INPUT_SIZE
    }
}
