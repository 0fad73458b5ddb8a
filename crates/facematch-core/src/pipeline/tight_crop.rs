//! The tight-crop retry: a photo cut close around the face (an ID photo cropped to the
//! head, a 200×200 face chip) often gets no detection although a face fills the frame,
//! because the detector expects some context around a face. When no face is found the
//! pipeline detects again on the photo inside a mid-grey border, then maps the faces
//! back to the photo's own coordinates.
//!
//! Why mid-grey rather than repeating the edge pixels: both bring every failure to
//! acquire of the dev crops to zero (LFW deep-funneled photos cut to 45% and 40% of
//! each side, UTKFace chips), but the age and gender models read a grey border
//! better (UTKFace age MAE with every chip padded: 6.4 years grey, 12.8 edge-repeated).

use image::{imageops, Rgb, RgbImage};

use crate::analysis::Detection;
use crate::geometry::Point;

/// The border added on each edge, as a share of the photo's larger side.
pub const BORDER_SHARE: f32 = 0.25;

/// The border's colour: mid-grey.
pub const FILL: Rgb<u8> = Rgb([128, 128, 128]);

/// The least detector confidence of a face found by the retry. The retry is a second
/// look at a photo the detector already passed over, so it asks for more than the
/// detector's own 0.6: measured, the faces it recovers from tight crops score 0.71–0.89,
/// while the only face it "finds" in the no-face fixtures (the coffee cup) scores 0.62.
pub const MIN_CONFIDENCE: f32 = 0.7;

/// The least width of a face found by the retry, as a share of the photo's smaller
/// side (after mapping back): the retry is for photos that a face fills (measured:
/// 0.74–1.0 on the tight crops).
pub const MIN_WIDTH_SHARE: f32 = 0.6;

/// Whether a face found by the retry, already mapped back to a `width` × `height`
/// photo, fills the photo as a tight crop's face does and is confident enough.
pub fn is_tight_crop_face(det: &Detection, width: u32, height: u32) -> bool {
    det.confidence >= MIN_CONFIDENCE
        && det.bbox.width() >= MIN_WIDTH_SHARE * width.min(height) as f32
}

/// The largest side the retry looks at: a larger photo is shrunk (area averaging)
/// before it is padded. The detector sees 640 px anyway, a face filling 1024 px still
/// gives the recognizer's 150 px chip plenty, and a padded full-size copy of a 50 MP
/// photo would take about 340 MB per request.
pub const MAX_SIDE: u32 = 1024;

/// How a padded copy maps back to the photo: `photo = (padded − border) / scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Padding {
    /// The border in pixels of the padded copy, on every edge.
    pub border: u32,
    /// The copy's size over the photo's (1 unless the photo was larger than
    /// [`MAX_SIDE`]).
    pub scale: f32,
}

/// The border in pixels for a `width` × `height` photo: [`BORDER_SHARE`] of its larger
/// side, at least one pixel.
pub fn border_for(width: u32, height: u32) -> u32 {
    ((width.max(height) as f32 * BORDER_SHARE).round() as u32).max(1)
}

/// `image` (shrunk to at most [`MAX_SIDE`]) inside a [`FILL`] border of
/// [`BORDER_SHARE`] of its larger side, and how to map the copy back.
pub fn padded_copy(image: &RgbImage) -> (RgbImage, Padding) {
    let (w, h) = image.dimensions();
    let larger = w.max(h).max(1);
    if larger <= MAX_SIDE {
        let border = border_for(w, h);
        return (pad(image, border), Padding { border, scale: 1.0 });
    }
    let scale = MAX_SIDE as f32 / larger as f32;
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let small = imageops::thumbnail(image, sw, sh);
    let border = border_for(sw, sh);
    let scale = sw as f32 / w as f32;
    (pad(&small, border), Padding { border, scale })
}

/// `image` inside a [`FILL`] border of `border` pixels on every edge.
pub fn pad(image: &RgbImage, border: u32) -> RgbImage {
    let mut canvas = RgbImage::from_pixel(
        image.width() + 2 * border,
        image.height() + 2 * border,
        FILL,
    );
    imageops::replace(&mut canvas, image, i64::from(border), i64::from(border));
    canvas
}

/// A face found in a padded copy, in the coordinates of the `width` × `height` photo:
/// box and landmarks shifted back, scaled back and clamped to the photo, so no face is
/// reported outside it.
pub fn unpad_detection(det: &Detection, padding: Padding, width: u32, height: u32) -> Detection {
    let (b, s) = (padding.border as f32, padding.scale);
    let (w, h) = (width as f32, height as f32);
    let back = |v: f32| (v - b) / s;
    let mut bbox = det.bbox;
    bbox.x1 = back(bbox.x1);
    bbox.y1 = back(bbox.y1);
    bbox.x2 = back(bbox.x2);
    bbox.y2 = back(bbox.y2);
    let landmarks = det
        .landmarks
        .map(|p| Point::new(back(p.x).clamp(0.0, w), back(p.y).clamp(0.0, h)));
    Detection {
        bbox: bbox.clamp_to(width, height),
        confidence: det.confidence,
        landmarks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BBox;

    #[test]
    fn the_border_is_a_quarter_of_the_larger_side_in_grey() {
        assert_eq!(border_for(200, 100), 50);
        assert_eq!(border_for(1, 1), 1);
        let img = RgbImage::from_pixel(4, 2, Rgb([9, 9, 9]));
        let padded = pad(&img, 1);
        assert_eq!(padded.dimensions(), (6, 4));
        assert_eq!(padded.get_pixel(0, 0), &FILL);
        assert_eq!(padded.get_pixel(1, 1), &Rgb([9, 9, 9]));
        assert_eq!(padded.get_pixel(4, 2), &Rgb([9, 9, 9]));
        assert_eq!(padded.get_pixel(5, 3), &FILL);
    }

    #[test]
    fn faces_are_mapped_back_and_clamped_to_the_photo() {
        let det = Detection {
            bbox: BBox::new(5.0, 20.0, 130.0, 60.0),
            confidence: 0.8,
            landmarks: [
                Point::new(30.0, 30.0),
                Point::new(5.0, 125.0),
                Point::default(),
                Point::default(),
                Point::default(),
            ],
        };
        let back = unpad_detection(
            &det,
            Padding {
                border: 10,
                scale: 1.0,
            },
            100,
            80,
        );
        assert_eq!(back.bbox, BBox::new(0.0, 10.0, 100.0, 50.0));
        assert_eq!(back.landmarks[0], Point::new(20.0, 20.0));
        assert_eq!(back.landmarks[1], Point::new(0.0, 80.0));
        assert_eq!(back.landmarks[2], Point::new(0.0, 0.0));
        assert_eq!(back.confidence, 0.8);
        assert!(is_tight_crop_face(&back, 100, 80), "48 ≥ 0.6 × 80 at 0.8");
        let faint = Detection {
            confidence: 0.65,
            ..back.clone()
        };
        assert!(!is_tight_crop_face(&faint, 100, 80));
        assert!(
            !is_tight_crop_face(&back, 200, 200),
            "a small face is not a tight crop"
        );
        // A shrunk copy maps back at the photo's scale.
        let half = unpad_detection(
            &det,
            Padding {
                border: 10,
                scale: 0.5,
            },
            400,
            400,
        );
        assert_eq!(half.bbox, BBox::new(0.0, 20.0, 240.0, 100.0));
        assert_eq!(half.landmarks[0], Point::new(40.0, 40.0));
    }

    #[test]
    fn a_large_photo_is_shrunk_before_it_is_padded() {
        let big = RgbImage::from_pixel(4000, 3000, Rgb([7, 7, 7]));
        let (copy, padding) = padded_copy(&big);
        assert_eq!(padding.scale, 1024.0 / 4000.0);
        assert_eq!(padding.border, 256);
        assert_eq!(copy.dimensions(), (1024 + 512, 768 + 512));
        let small = RgbImage::from_pixel(200, 100, Rgb([7, 7, 7]));
        let (copy, padding) = padded_copy(&small);
        assert_eq!(
            padding,
            Padding {
                border: 50,
                scale: 1.0
            }
        );
        assert_eq!(copy.dimensions(), (300, 200));
    }
}
