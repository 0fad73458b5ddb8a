//! 12 MP phone photos through the API's path (`compare_uploads`: a JPEG of 4000 px or
//! more is decoded at 1/2 in the DCT domain) against the same photos decoded at full
//! size: the same decision, the score within 2 points, boxes and landmarks in the
//! upload's pixels within a few pixels, the same face size. The photos are made here
//! from dev photos: each pasted, resized, on a plain 4000×3000 wall and saved as JPEG
//! (quality 90), with the face filling the height or about 6 % of the width.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use common::{faces_root, pipeline};
use facematch_core::{image_input, CompareOptions, FaceMatch, ImageInput};
use facematch_imageio::{decode, DecodeLimits};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{ImageEncoder, Rgb, RgbImage};

/// A 4000×3000 JPEG: the dev photo `rel` resized to `photo_width` px wide (at most
/// 3000 high), centred on a plain wall.
fn phone_photo(rel: &str, photo_width: u32) -> Vec<u8> {
    let src = decode(
        &std::fs::read(faces_root().join(rel)).unwrap(),
        &DecodeLimits::default(),
    )
    .unwrap()
    .rgb;
    let mut w = photo_width;
    let mut h = src.height() * w / src.width();
    if h > 3000 {
        w = w * 3000 / h;
        h = 3000;
    }
    let photo = image::imageops::resize(&src, w, h, FilterType::Triangle);
    let mut canvas = RgbImage::from_pixel(4000, 3000, Rgb([120, 130, 125]));
    image::imageops::overlay(
        &mut canvas,
        &photo,
        i64::from((4000 - w) / 2),
        i64::from((3000 - h) / 2),
    );
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(canvas.as_raw(), 4000, 3000, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// The comparison as the API makes it (reduced decode) and with both photos decoded
/// at full size.
fn both_ways(a: &[u8], b: &[u8]) -> (FaceMatch, FaceMatch) {
    let limits = DecodeLimits::default();
    let options = CompareOptions::default();
    let api = pipeline()
        .compare_uploads(a, b, &limits, &options)
        .unwrap()
        .face_match;
    let full = |bytes: &[u8]| ImageInput::Image(decode(bytes, &limits).unwrap().rgb);
    let full = pipeline()
        .compare(&full(a), &full(b), &options)
        .unwrap()
        .face_match;
    (api, full)
}

/// `api` within `px` pixels of `full` (boxes, landmarks), the same decision, the score
/// within 2 points, the eye distance within 3 %.
fn assert_close(api: &FaceMatch, full: &FaceMatch, px: f64, case: &str) {
    assert_eq!(api.status, full.status, "{case}");
    let (s, t) = (api.score.unwrap(), full.score.unwrap());
    assert!(s.abs_diff(t) <= 2, "{case}: score {s} against {t}");
    for (a, f) in [
        (&api.user_image, &full.user_image),
        (&api.ref_image, &full.ref_image),
    ] {
        assert_eq!(a.entities.len(), f.entities.len(), "{case}");
        let (a, f) = (&a.entities[0], &f.entities[0]);
        for (x, y) in a.bbox.iter().zip(&f.bbox) {
            assert!(
                (x - y).abs() as f64 <= px,
                "{case}: box {:?} against {:?}",
                a.bbox,
                f.bbox
            );
        }
        for (p, q) in a.landmarks.unwrap().iter().zip(&f.landmarks.unwrap()) {
            let d = (p[0] - q[0]).hypot(p[1] - q[1]);
            assert!(d <= px, "{case}: landmark {p:?} against {q:?}");
        }
        let (sa, sf) = (a.quality.unwrap().face_size, f.quality.unwrap().face_size);
        assert!(
            (sa - sf).abs() <= 0.03 * sf,
            "{case}: face size {sa} against {sf}"
        );
    }
}

#[test]
fn a_12_mp_pair_compares_as_at_full_size() {
    let a = phone_photo("celebs/Barack_Obama/obama.jpg", 4000);
    let b = phone_photo("celebs/Barack_Obama/obama1.jpg", 4000);
    // The API's decode is reduced, by 2.
    let limits = DecodeLimits::default();
    let ImageInput::Reduced { image, scale } = image_input(&a, &limits).unwrap() else {
        panic!("a 4000×3000 JPEG is decoded reduced");
    };
    assert_eq!((image.dimensions(), scale), ((2000, 1500), 2));
    let (api, full) = both_ways(&a, &b);
    // The boxes are in the upload's pixels: a 2000 px frame's boxes would be half.
    assert!(
        api.user_image.entities[0].bbox[2] > 2000,
        "{:?}",
        api.user_image.entities[0].bbox
    );
    assert_close(&api, &full, 3.0 * 2.0, "faces filling the height");
}

#[test]
fn small_faces_in_12_mp_photos_compare_as_at_full_size() {
    // Faces about 6 % of the photo's width (240 px; 120 px in the reduced decode).
    let a = phone_photo("celebs/Barack_Obama/obama.jpg", 910);
    let b = phone_photo("celebs/Barack_Obama/obama1.jpg", 1000);
    let (api, full) = both_ways(&a, &b);
    assert_close(&api, &full, 3.0 * 2.0, "small faces");
}

/// The large fixture (4096×4800) keeps its outcome (one face found, the same) when
/// decoded reduced.
#[test]
fn the_large_fixture_compares_as_at_full_size() {
    let bytes = std::fs::read(faces_root().join("fixtures/large_hopper_4096x4800.jpg")).unwrap();
    let reference = std::fs::read(faces_root().join("fixtures/one_face_hopper.jpg")).unwrap();
    let (api, full) = both_ways(&bytes, &reference);
    assert_close(&api, &full, 3.0 * 2.0, "large fixture");
}
