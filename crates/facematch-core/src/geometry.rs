//! Plain geometry: points, boxes, IoU, non-maximum suppression and letterbox mapping.

use serde::Serialize;

/// A point in image pixels (sub-pixel precision).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Point {
    /// Horizontal coordinate, growing to the right.
    pub x: f32,
    /// Vertical coordinate, growing downwards.
    pub y: f32,
}

impl Point {
    /// A point at `(x, y)`.
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }
}

/// An axis-aligned box `[x1, y1) × [y1, y2)` in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct BBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

impl BBox {
    /// A box from its corners.
    pub const fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    /// Width, zero for an inverted box.
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    /// Height, zero for an inverted box.
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    /// Area in square pixels.
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union with `other`, 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = BBox::new(
            self.x1.max(other.x1),
            self.y1.max(other.y1),
            self.x2.min(other.x2),
            self.y2.min(other.y2),
        )
        .area();
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    /// This box clipped to an image of `width` × `height`.
    pub fn clamp_to(&self, width: u32, height: u32) -> BBox {
        let (w, h) = (width as f32, height as f32);
        BBox::new(
            self.x1.clamp(0.0, w),
            self.y1.clamp(0.0, h),
            self.x2.clamp(0.0, w),
            self.y2.clamp(0.0, h),
        )
    }

    /// Integer `[x1, y1, x2, y2]` as the API reports it (rounded to the nearest pixel).
    pub fn to_int_array(&self) -> [i64; 4] {
        [
            self.x1.round() as i64,
            self.y1.round() as i64,
            self.x2.round() as i64,
            self.y2.round() as i64,
        ]
    }
}

/// Greedy non-maximum suppression: returns the indices of the kept items, best score
/// first. An item is dropped when it overlaps an already kept, higher-scoring one by
/// more than `iou_threshold`.
pub fn nms(boxes: &[BBox], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len().min(scores.len())).collect();
    // total_cmp keeps the sort total even if a model ever emits NaN.
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut keep: Vec<usize> = Vec::new();
    for i in order {
        if keep
            .iter()
            .all(|&k| boxes[k].iou(&boxes[i]) <= iou_threshold)
        {
            keep.push(i);
        }
    }
    keep
}

/// How an image was scaled and padded into a fixed model input, so that outputs in
/// model coordinates map back to the original pixels exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Model pixels per image pixel (the same on both axes: aspect ratio is kept).
    pub scale: f32,
    /// Padding added on the left, in model pixels.
    pub pad_x: f32,
    /// Padding added on top, in model pixels.
    pub pad_y: f32,
    /// Width of the scaled image inside the model input, in model pixels.
    pub scaled_width: u32,
    /// Height of the scaled image inside the model input, in model pixels.
    pub scaled_height: u32,
    /// Width of the whole model input (scaled image and padding).
    pub input_width: u32,
    /// Height of the whole model input (scaled image and padding).
    pub input_height: u32,
}

impl Letterbox {
    /// Fits a `width` × `height` image into a `target` × `target` square, centred.
    pub fn fit(width: u32, height: u32, target: u32) -> Self {
        let longest = width.max(height).max(1) as f32;
        let scale = target as f32 / longest;
        let scaled_width = ((width as f32 * scale).round() as u32).clamp(1, target);
        let scaled_height = ((height as f32 * scale).round() as u32).clamp(1, target);
        Self {
            scale,
            pad_x: ((target - scaled_width) / 2) as f32,
            pad_y: ((target - scaled_height) / 2) as f32,
            scaled_width,
            scaled_height,
            input_width: target,
            input_height: target,
        }
    }

    /// Scales a `width` × `height` image so that its longer side is `longest` (never
    /// enlarging it when `enlarge` is false) and pads it on the right and bottom to
    /// the next multiple of `multiple` on each axis: a model input no larger than the
    /// image needs, for fully convolutional models whose strides divide `multiple`.
    pub fn fit_padded(width: u32, height: u32, longest: u32, multiple: u32, enlarge: bool) -> Self {
        let (width, height, multiple) = (width.max(1), height.max(1), multiple.max(1));
        let mut scale = longest.max(1) as f32 / width.max(height) as f32;
        if !enlarge {
            scale = scale.min(1.0);
        }
        let scaled_width = ((width as f32 * scale).round() as u32).max(1);
        let scaled_height = ((height as f32 * scale).round() as u32).max(1);
        Self {
            scale,
            pad_x: 0.0,
            pad_y: 0.0,
            scaled_width,
            scaled_height,
            input_width: scaled_width.div_ceil(multiple) * multiple,
            input_height: scaled_height.div_ceil(multiple) * multiple,
        }
    }

    /// Maps a point from model input coordinates back to image coordinates.
    pub fn to_image(&self, p: Point) -> Point {
        Point::new(
            (p.x - self.pad_x) / self.scale,
            (p.y - self.pad_y) / self.scale,
        )
    }

    /// Maps a point from image coordinates into model input coordinates.
    pub fn to_model(&self, p: Point) -> Point {
        Point::new(p.x * self.scale + self.pad_x, p.y * self.scale + self.pad_y)
    }

    /// Maps a box from model input coordinates back to image coordinates.
    pub fn box_to_image(&self, b: BBox) -> BBox {
        let a = self.to_image(Point::new(b.x1, b.y1));
        let c = self.to_image(Point::new(b.x2, b.y2));
        BBox::new(a.x, a.y, c.x, c.y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(BBox::new(5.0, 5.0, 1.0, 1.0).area(), 0.0);
    }

    #[test]
    fn nms_keeps_the_best_of_each_cluster_best_first() {
        let boxes = [
            BBox::new(0.0, 0.0, 10.0, 10.0),
            BBox::new(1.0, 1.0, 11.0, 11.0),
            BBox::new(50.0, 50.0, 60.0, 60.0),
            BBox::new(0.5, 0.0, 10.5, 10.0),
        ];
        let scores = [0.8, 0.95, 0.7, 0.9];
        assert_eq!(nms(&boxes, &scores, 0.3), vec![1, 2]);
        // With a permissive threshold nothing overlapping less than 0.99 is removed,
        // and all come back best first.
        assert_eq!(nms(&boxes, &scores, 0.99), vec![1, 3, 0, 2]);
        // Overlaps: IoU(1, 3) = 85.5/114.5 ≈ 0.75, IoU(1, 0) = 81/119 ≈ 0.68 and
        // IoU(3, 0) = 95/105 ≈ 0.90. A box goes only when it overlaps a kept one by
        // strictly more than the threshold.
        let iou30 = boxes[3].iou(&boxes[0]);
        assert!((iou30 - 95.0 / 105.0).abs() < 1e-6);
        assert_eq!(nms(&boxes, &scores, iou30), vec![1, 3, 0, 2]);
        assert_eq!(nms(&boxes, &scores, 0.9), vec![1, 3, 2]);
        assert_eq!(nms(&boxes, &scores, 0.7), vec![1, 0, 2]);
        assert_eq!(nms(&boxes, &scores, 0.6), vec![1, 2]);
        assert!(nms(&[], &[], 0.3).is_empty());
        // Extra scores (or boxes) beyond the shorter list are ignored.
        assert_eq!(nms(&boxes[..2], &scores, 0.99), vec![1, 0]);
    }

    #[test]
    fn nms_survives_nan_scores() {
        let boxes = [BBox::new(0.0, 0.0, 1.0, 1.0); 3];
        // `total_cmp` orders a (positive) NaN above every number, so the NaN-scored box
        // comes first and suppresses the identical others: deterministic, no panic.
        assert_eq!(nms(&boxes, &[f32::NAN, 0.5, 0.2], 0.5), vec![0]);
        // Apart from one another, all three are kept, the NaN first.
        let apart = [
            BBox::new(0.0, 0.0, 1.0, 1.0),
            BBox::new(5.0, 5.0, 6.0, 6.0),
            BBox::new(9.0, 9.0, 10.0, 10.0),
        ];
        assert_eq!(nms(&apart, &[0.5, f32::NAN, 0.2], 0.5), vec![1, 0, 2]);
    }

    #[test]
    fn letterbox_round_trips_on_wide_and_tall_images() {
        for (w, h) in [
            (1920u32, 1080u32),
            (480, 1280),
            (640, 640),
            (150, 150),
            (7, 3001),
        ] {
            let lb = Letterbox::fit(w, h, 640);
            assert!(lb.scaled_width <= 640 && lb.scaled_height <= 640);
            assert!(lb.scaled_width == 640 || lb.scaled_height == 640);
            for p in [
                Point::new(0.0, 0.0),
                Point::new(w as f32, h as f32),
                Point::new(3.5, 1.25),
            ] {
                let back = lb.to_image(lb.to_model(p));
                assert!(
                    (back.x - p.x).abs() < 1e-3 && (back.y - p.y).abs() < 1e-3,
                    "{w}x{h} {p:?}"
                );
            }
        }
    }

    #[test]
    fn letterbox_centres_a_wide_image_vertically() {
        let lb = Letterbox::fit(1280, 720, 640);
        assert_eq!((lb.scaled_width, lb.scaled_height), (640, 360));
        assert_eq!((lb.pad_x, lb.pad_y), (0.0, 140.0));
        // The image's bottom-right corner lands at the end of the scaled content.
        let corner = lb.to_model(Point::new(1280.0, 720.0));
        assert_eq!((corner.x, corner.y), (640.0, 500.0));
        let b = lb.box_to_image(BBox::new(0.0, 140.0, 320.0, 320.0));
        assert_eq!(b.to_int_array(), [0, 0, 640, 360]);
    }

    #[test]
    fn fit_padded_shrinks_to_the_longest_side_and_pads_to_the_multiple() {
        // A 910×1137 photo at 320: 256×320 exactly; 1480×832 at 320: 320×180 → 320×192.
        let lb = Letterbox::fit_padded(910, 1137, 320, 32, false);
        assert_eq!((lb.scaled_width, lb.scaled_height), (256, 320));
        assert_eq!((lb.input_width, lb.input_height), (256, 320));
        let lb = Letterbox::fit_padded(1480, 832, 320, 32, false);
        assert_eq!((lb.scaled_width, lb.scaled_height), (320, 180));
        assert_eq!((lb.input_width, lb.input_height), (320, 192));
        assert_eq!((lb.pad_x, lb.pad_y), (0.0, 0.0));
        let back = lb.to_image(Point::new(320.0, 180.0));
        assert!((back.x - 1480.0).abs() < 1e-3 && (back.y - 832.0).abs() < 3.0);
        // A small photo keeps its size unless enlarging is asked for.
        let lb = Letterbox::fit_padded(150, 150, 320, 32, false);
        assert_eq!((lb.scale, lb.scaled_width, lb.input_width), (1.0, 150, 160));
        let lb = Letterbox::fit_padded(150, 150, 320, 32, true);
        assert_eq!((lb.scaled_width, lb.input_width), (320, 320));
        // Degenerate sizes give a 1-pixel image in one padded block, not a panic.
        let lb = Letterbox::fit_padded(0, 0, 320, 32, false);
        assert_eq!((lb.input_width, lb.input_height), (32, 32));
    }
}
