//! YuNet (2023mar) face detector: letterbox to 640×640 BGR, decode the anchor-free
//! outputs at strides 8/16/32, threshold, NMS, and map back to image pixels.

use facematch_core::geometry::{nms, BBox, Letterbox, Point};
use facematch_core::pipeline::{Detection, FaceDetector};
use facematch_core::PipelineError;
use facematch_engine::{InferenceModel, Tensor};
use image::RgbImage;

use crate::chw::ChwFormat;
use crate::error::detector;

/// Side of YuNet's square input.
pub const INPUT_SIZE: u32 = 640;
const STRIDES: [usize; 3] = [8, 16, 32];

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
}

impl Default for YunetConfig {
    fn default() -> Self {
        Self {
            score_threshold: 0.6,
            nms_threshold: 0.3,
            min_face_px: 8.0,
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

    /// Detections in letterboxed model coordinates (before mapping back).
    fn decode(&self, out: &[Tensor]) -> Result<Candidates, PipelineError> {
        let mut found = Candidates::default();
        for (s, &stride) in STRIDES.iter().enumerate() {
            let cols = INPUT_SIZE as usize / stride;
            let cells = cols * cols;
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
}

/// Faces above the threshold, before NMS, in model coordinates.
#[derive(Default)]
struct Candidates {
    boxes: Vec<BBox>,
    scores: Vec<f32>,
    marks: Vec<[Point; 5]>,
}

/// Letterboxes `image` into YuNet's input: 1×3×640×640, BGR, 0–255, zero padding.
pub fn preprocess(image: &RgbImage) -> (Tensor, Letterbox) {
    let (w, h) = image.dimensions();
    let lb = Letterbox::fit(w, h, INPUT_SIZE);
    let resized = crate::resize::resize_rgb(image, lb.scaled_width, lb.scaled_height);
    let side = INPUT_SIZE as usize;
    let mut data = vec![0f32; 3 * side * side];
    let offset = (lb.pad_x as usize, lb.pad_y as usize);
    ChwFormat::RAW_BGR.pack_into(&resized, &mut data, (side, side), offset);
    (
        Tensor {
            shape: vec![1, 3, side, side],
            data,
        },
        lb,
    )
}

impl FaceDetector for YunetDetector {
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, PipelineError> {
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Ok(Vec::new());
        }
        let (input, lb) = preprocess(image);
        let out = self.model.run(&input).map_err(detector)?;
        let Candidates {
            boxes,
            scores,
            marks,
        } = self.decode(&out)?;
        let keep = nms(&boxes, &scores, self.config.nms_threshold);
        Ok(keep
            .into_iter()
            .filter_map(|i| {
                let bbox = lb.box_to_image(boxes[i]).clamp_to(w, h);
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
