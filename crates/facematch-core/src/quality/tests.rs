//! `assess` on synthetic images with known answers.

use image::{Rgb, RgbImage};

use super::*;
use crate::align::ARCFACE_TEMPLATE_112;
use crate::geometry::{BBox, Point};

/// A face detection whose landmarks are the ArcFace template scaled by `scale` and
/// moved by `(dx, dy)`.
fn face(scale: f32, dx: f32, dy: f32) -> Detection {
    Detection {
        bbox: BBox::new(dx, dy, dx + 112.0 * scale, dy + 112.0 * scale),
        confidence: 0.9,
        landmarks: ARCFACE_TEMPLATE_112.map(|p| Point::new(p.x * scale + dx, p.y * scale + dy)),
    }
}

/// A 200×200 image with one sharp vertical edge (20 on the left, 220 on the right)
/// at x = 100, through the face window of `face(1.0, 40, 40)`. The step is large so
/// that the rounding of the blurred image to 8 bits stays far below the signal.
fn edges() -> RgbImage {
    RgbImage::from_fn(200, 200, |x, _| {
        let v = if x >= 100 { 220 } else { 20 };
        Rgb([v, v, v])
    })
}

/// A deterministic textured image (hashed pixels), mid-grey on average.
fn texture(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 97;
        let v = (80 + v) as u8;
        Rgb([v, v, v])
    })
}

#[test]
fn blurring_a_sharp_edge_lowers_sharpness_monotonically() {
    let det = face(1.0, 40.0, 40.0);
    let sharp = assess(&edges(), &det);
    let mut last = sharp.sharpness;
    assert!(last > 10.0, "{sharp:?}");
    for sigma in [0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0] {
        let q = assess(&image::imageops::blur(&edges(), sigma), &det);
        println!("σ {sigma}: sharpness {}", q.sharpness);
        assert!(q.sharpness < last, "σ {sigma}: {} !< {last}", q.sharpness);
        last = q.sharpness;
    }
    assert!(last < sharp.sharpness / 3.0, "σ 5 still reads {last}");
}

#[test]
fn a_flat_grey_face_reads_its_brightness_no_contrast_and_blurred() {
    let img = RgbImage::from_pixel(200, 200, Rgb([128, 128, 128]));
    let q = assess(&img, &face(1.0, 40.0, 40.0));
    assert_eq!((q.brightness, q.contrast, q.sharpness), (50.2, 0.0, 0.0));
    assert_eq!(
        (q.quality, q.limited_by),
        (0.0, Some(QualityIssue::Blurred))
    );
    assert_eq!(q.face_size, 35.2);
}

#[test]
fn a_sharp_well_lit_large_face_scores_100() {
    let q = assess(&texture(400, 400), &face(2.0, 60.0, 60.0));
    assert_eq!((q.quality, q.limited_by), (100.0, None), "{q:?}");
    assert_eq!(q.face_size, 70.5);
}

#[test]
fn a_tiny_face_is_too_small() {
    let q = assess(&texture(200, 200), &face(0.2, 50.0, 50.0));
    assert_eq!(q.limited_by, Some(QualityIssue::TooSmall), "{q:?}");
    assert!(q.quality < 10.0, "{q:?}");
}

#[test]
fn a_dark_face_is_too_dark_and_a_white_one_overexposed() {
    let base = texture(400, 400);
    let dark = RgbImage::from_fn(400, 400, |x, y| {
        let v = base.get_pixel(x, y)[0] / 8;
        Rgb([v, v, v])
    });
    let q = assess(&dark, &face(2.0, 60.0, 60.0));
    assert_eq!(q.limited_by, Some(QualityIssue::TooDark), "{q:?}");
    let white = RgbImage::from_fn(400, 400, |x, y| {
        let v = 240 + base.get_pixel(x, y)[0] % 16;
        Rgb([v, v, v])
    });
    let q = assess(&white, &face(2.0, 60.0, 60.0));
    assert_eq!(q.limited_by, Some(QualityIssue::Overexposed), "{q:?}");
}

#[test]
fn degenerate_landmarks_do_not_panic() {
    let det = Detection {
        bbox: BBox::default(),
        confidence: 0.5,
        landmarks: [Point::new(f32::NAN, 1.0); 5],
    };
    let q = assess(&texture(50, 50), &det);
    assert_eq!(q.quality, 0.0);
}
