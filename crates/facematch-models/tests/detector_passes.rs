//! The detector's two passes on real photos: the quick pass (longer side ≤ 320, a small
//! photo at its own size) finds the same face as the full 640×640 pass where it is
//! conclusive, gives way to the full pass where faces are small or absent, and finds
//! the right angle on turned photos without turning the photo itself.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use facematch_core::pipeline::Detection;
use facematch_core::{ImageInput, Pipeline};
use image::{Rgb, RgbImage};

fn photo(rel: &str) -> RgbImage {
    match common::load(rel).unwrap() {
        ImageInput::Image(img) => img,
        _ => panic!("{rel} is not a whole image"),
    }
}

fn largest(mut faces: Vec<Detection>) -> Detection {
    facematch_core::pipeline::sort_largest_first(&mut faces);
    faces.into_iter().next().expect("a face")
}

/// Photos of several sizes and shapes: LFW 250×250, ~1 MP portrait and landscape,
/// a 4096×4800 painting, a fixture PNG.
const PHOTOS: [&str; 6] = [
    "lfw/original/Abdullatif_Sener/Abdullatif_Sener_0001.jpg",
    "lfw/original/George_P_Bush/George_P_Bush_0001.jpg",
    "celebs/Barack_Obama/obama.jpg",
    "celebs/Barack_Obama/obama1.jpg",
    "fixtures/large_hopper_4096x4800.jpg",
    "fixtures/one_face_astronaut.png",
];

#[test]
fn the_quick_pass_finds_the_full_passs_face() {
    let p = common::pipeline();
    for rel in PHOTOS {
        let img = photo(rel);
        let full = largest(p.detector().detect(&img).unwrap());
        let quick = p
            .detector()
            .quick_detect_turned(&img, 0)
            .unwrap()
            .unwrap_or_else(|| panic!("{rel}: the quick pass was not conclusive"));
        let quick = largest(quick);
        let iou = full.bbox.iou(&quick.bbox);
        assert!(iou > 0.8, "{rel}: IoU {iou:.3} ({full:?} vs {quick:?})");
        assert!(
            (full.confidence - quick.confidence).abs() < 0.1,
            "{rel}: confidence {} vs {}",
            full.confidence,
            quick.confidence
        );
        // The pipeline keeps the quick boxes of a photo larger than the full pass's
        // 640 px; a smaller one gets the full pass's boxes.
        let (angle, turned, faces) = p.detect_oriented(&img, false).unwrap();
        assert_eq!((angle, turned.is_none()), (0, true));
        let kept = if img.width().max(img.height()) > 640 {
            quick.bbox
        } else {
            full.bbox
        };
        assert_eq!(faces[0].bbox, kept, "{rel}");
    }
}

/// A 250×250 LFW photo shrunk to 200×200 in the middle of a 1600×1200 grey canvas: the
/// face (~90 px) is ~18 input pixels in the quick pass, so the pass is not conclusive,
/// and the full pass (which sees it at ~36 px) finds it.
#[test]
fn a_small_face_falls_back_to_the_full_pass() {
    let p = common::pipeline();
    let face = photo("lfw/original/George_P_Bush/George_P_Bush_0001.jpg");
    let small = image::imageops::resize(&face, 200, 200, image::imageops::FilterType::Triangle);
    let mut canvas = RgbImage::from_pixel(1600, 1200, Rgb([128, 128, 128]));
    image::imageops::overlay(&mut canvas, &small, 700, 500);
    assert!(
        p.detector()
            .quick_detect_turned(&canvas, 0)
            .unwrap()
            .is_none(),
        "an 18-pixel face must not make the quick pass conclusive"
    );
    let (_, _, faces) = p.detect_oriented(&canvas, false).unwrap();
    let found = faces.first().expect("the full pass finds the small face");
    let (cx, cy) = (
        (found.bbox.x1 + found.bbox.x2) / 2.0,
        (found.bbox.y1 + found.bbox.y2) / 2.0,
    );
    assert!(
        (700.0..900.0).contains(&cx) && (500.0..700.0).contains(&cy),
        "{found:?}"
    );
}

/// A small turned photo (LFW, 250×250): the quick pass chooses the angle, the full pass
/// at that angle alone gives the boxes — the same boxes as the full pass on the photo
/// turned by hand.
#[test]
fn a_small_turned_photo_gets_the_full_passs_boxes_at_the_quick_angle() {
    let p = common::pipeline();
    let upright = photo("lfw/original/George_P_Bush/George_P_Bush_0001.jpg");
    let uploaded = facematch_imageio::rotate_clockwise(&upright, 90);
    let (angle, turned, faces) = p.detect_oriented(&uploaded, true).unwrap();
    assert_eq!(angle, 270);
    let by_hand = largest(p.detector().detect(&turned.expect("turned")).unwrap());
    assert_eq!(faces[0].bbox, by_hand.bbox);
    assert_eq!(faces[0].confidence, by_hand.confidence);
}

#[test]
fn nothing_to_find_is_not_conclusive() {
    let p = common::pipeline();
    for rel in ["fixtures/no_face_blank.png", "fixtures/no_face_rocket.jpg"] {
        let img = photo(rel);
        assert!(p.detector().quick_detect_turned(&img, 0).unwrap().is_none());
        assert!(p
            .detector()
            .quick_detect_turned(&img, 90)
            .unwrap()
            .is_none());
    }
}

/// Turned photos: with rotation the pipeline picks the angle that makes them upright,
/// from the quick pass, and the box it reports in the turned frame matches the full
/// pass on the photo turned by hand.
#[test]
fn rotation_is_found_on_the_small_copy() {
    let p: &Pipeline = common::pipeline();
    let upright = photo("celebs/Barack_Obama/obama1.jpg");
    for (stored, undo) in [(90u32, 270u16), (180, 180), (270, 90)] {
        // The photo as a user uploads it: turned by `stored`; `undo` uprights it.
        let uploaded = facematch_imageio::rotate_clockwise(&upright, stored);
        assert!(
            p.detector()
                .quick_detect_turned(&uploaded, undo)
                .unwrap()
                .is_some(),
            "{stored}"
        );
        let (angle, turned, faces) = p.detect_oriented(&uploaded, true).unwrap();
        assert_eq!(angle, undo, "photo turned by {stored}");
        let turned = turned.expect("the chosen frame");
        assert_eq!(turned.dimensions(), upright.dimensions());
        let by_hand = largest(p.detector().detect(&turned).unwrap());
        let iou = by_hand.bbox.iou(&faces[0].bbox);
        assert!(iou > 0.8, "{stored}: IoU {iou:.3}");
    }
}

/// Study (run with `--ignored --nocapture`): how the quick pass's boxes differ from the
/// full pass's on every LFW dev photo.
#[test]
#[ignore]
fn study_quick_vs_full_boxes() {
    let p = common::pipeline();
    let mut seen = std::collections::BTreeSet::new();
    for (l, r, _) in common::pairs("pairs_lfw_dev.tsv") {
        seen.insert(l);
        seen.insert(r);
    }
    let (mut n, mut inconclusive) = (0usize, 0usize);
    let (mut sw, mut sh, mut sx, mut sy, mut sc) = (0f64, 0f64, 0f64, 0f64, 0f64);
    let mut ious = Vec::new();
    for rel in &seen {
        let img = photo(rel);
        let full = largest(p.detector().detect(&img).unwrap());
        let Some(quick) = p.detector().quick_detect_turned(&img, 0).unwrap() else {
            inconclusive += 1;
            continue;
        };
        let quick = largest(quick);
        let (fw, fh) = (full.bbox.width() as f64, full.bbox.height() as f64);
        sw += quick.bbox.width() as f64 / fw;
        sh += quick.bbox.height() as f64 / fh;
        sx += ((quick.bbox.x1 + quick.bbox.x2) - (full.bbox.x1 + full.bbox.x2)) as f64 / 2.0 / fw;
        sy += ((quick.bbox.y1 + quick.bbox.y2) - (full.bbox.y1 + full.bbox.y2)) as f64 / 2.0 / fh;
        sc += (quick.confidence - full.confidence) as f64;
        ious.push(full.bbox.iou(&quick.bbox));
        n += 1;
    }
    ious.sort_by(f32::total_cmp);
    let k = n as f64;
    println!(
        "{n} photos, {inconclusive} inconclusive; mean width ratio {:.4}, height ratio {:.4}, centre shift x {:.4} y {:.4} (of the box), confidence {:+.4}; IoU min {:.3} p10 {:.3} median {:.3}",
        sw / k, sh / k, sx / k, sy / k, sc / k, ious[0], ious[ious.len() / 10], ious[ious.len() / 2]
    );
}
