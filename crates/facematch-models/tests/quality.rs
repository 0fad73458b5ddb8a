//! Face quality through the real models: degraded copies of a fixture face get
//! `LOW_FACE_QUALITY` with the right reason at `MEDIUM`, the original does not, the
//! measures are stable under re-encoding, and `quality_filter: NONE` leaves every
//! fixture pair's outcome as it was.
//!
//! The asserts hold for any `MEDIUM` cut-off between 20 and 50: a good face must
//! score at least 60, a degraded one below 20.

mod common;

use common::{load, pairs, pipeline};
use facematch_core::{
    CompareOptions, FaceMatch, FaceQuality, ImageAnalysis, ImageInput, QualityFilter, QualityIssue,
    WarningTag,
};
use image::{Rgb, RgbImage};

/// A decoded fixture photo.
fn photo(rel: &str) -> RgbImage {
    match load(rel) {
        Ok(ImageInput::Image(img)) => img,
        other => panic!("{rel} did not decode to an image: {other:?}"),
    }
}

fn analyse(img: &RgbImage) -> ImageAnalysis {
    pipeline()
        .analyze(img, true)
        .unwrap_or_else(|e| panic!("analysis failed: {e}"))
}

/// The measured quality of the compared (first) face.
fn quality_of(img: &RgbImage) -> FaceQuality {
    let a = analyse(img);
    let (_, desc) = a.faces.first().expect("a face is found");
    desc.quality.expect("the pipeline measures quality")
}

/// The decision of the original hopper photo against `degraded` at `MEDIUM`.
fn medium_against(degraded: &RgbImage) -> FaceMatch {
    let options = CompareOptions {
        quality_filter: QualityFilter::Medium,
        ..CompareOptions::default()
    };
    let original = analyse(&photo("fixtures/one_face_hopper.jpg"));
    pipeline().decide(Some(&original), Some(&analyse(degraded)), &options)
}

/// Asserts one `LOW_FACE_QUALITY` warning on the reference side, with `words`.
fn assert_low_quality(r: &FaceMatch, issue: QualityIssue) {
    let low: Vec<_> = r
        .warnings
        .iter()
        .filter(|w| w.risk == WarningTag::LowFaceQuality)
        .collect();
    assert_eq!(low.len(), 1, "{:?}", r.warnings);
    let expected = format!("The face in ref_image is {} (quality", issue.words());
    assert!(
        low[0].long_description.starts_with(&expected),
        "{}",
        low[0].long_description
    );
    assert_eq!(r.score, None);
    assert_eq!(r.status, facematch_core::Status::Declined);
    let q = r.ref_image.entities[0].quality;
    if let Some(q) = q {
        assert!(q.quality < 20.0, "{q:?}");
    }
}

#[test]
fn the_original_fixture_face_is_good_and_compared_at_medium() {
    let hopper = photo("fixtures/one_face_hopper.jpg");
    let q = quality_of(&hopper);
    assert!(q.quality >= 60.0, "{q:?}");
    let r = medium_against(&hopper);
    assert!(r.score.is_some());
    assert!(r
        .warnings
        .iter()
        .all(|w| w.risk != WarningTag::LowFaceQuality));
}

#[test]
fn a_blurred_fixture_face_is_not_compared_at_medium() {
    // σ 8 on hopper's 80-px eye distance is σ 3.5 on a 35-px face.
    let blurred = image::imageops::blur(&photo("fixtures/one_face_hopper.jpg"), 8.0);
    let q = quality_of(&blurred);
    assert_eq!(q.limited_by, Some(QualityIssue::Blurred), "{q:?}");
    assert!(q.quality < 20.0, "{q:?}");
    assert_low_quality(&medium_against(&blurred), QualityIssue::Blurred);
}

#[test]
fn a_darkened_fixture_face_is_not_compared_at_medium() {
    let hopper = photo("fixtures/one_face_hopper.jpg");
    let dark = RgbImage::from_fn(hopper.width(), hopper.height(), |x, y| {
        Rgb(hopper.get_pixel(x, y).0.map(|c| c / 24))
    });
    let q = quality_of(&dark);
    assert_eq!(q.limited_by, Some(QualityIssue::TooDark), "{q:?}");
    assert!(q.quality < 20.0, "{q:?}");
    assert_low_quality(&medium_against(&dark), QualityIssue::TooDark);
}

#[test]
fn a_tiny_fixture_face_is_not_compared_at_medium() {
    let hopper = photo("fixtures/one_face_hopper.jpg");
    let face_width = analyse(&hopper).faces[0].0.bbox.width();
    // Shrink so the face box is about 20 px wide, on a grey canvas.
    let k = 20.0 / face_width;
    let (w, h) = (
        (hopper.width() as f32 * k).round() as u32,
        (hopper.height() as f32 * k).round() as u32,
    );
    let small = image::imageops::resize(&hopper, w, h, image::imageops::FilterType::Triangle);
    let mut canvas = RgbImage::from_pixel(w.max(160), h.max(160), Rgb([128, 128, 128]));
    image::imageops::overlay(&mut canvas, &small, 20, 20);
    let q = quality_of(&canvas);
    assert_eq!(q.limited_by, Some(QualityIssue::TooSmall), "{q:?}");
    assert_low_quality(&medium_against(&canvas), QualityIssue::TooSmall);
}

/// `img` encoded as PNG and as JPEG quality 90, each decoded back.
fn reencoded(img: &RgbImage) -> (RgbImage, RgbImage) {
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("PNG encodes");
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(img)
        .expect("JPEG encodes");
    let decode = |bytes: &[u8]| image::load_from_memory(bytes).expect("decodes").into_rgb8();
    (decode(&png), decode(&jpeg))
}

#[test]
fn quality_is_stable_under_re_encoding() {
    for rel in [
        "fixtures/one_face_hopper.jpg",
        "fixtures/one_face_astronaut.png",
    ] {
        let (png, jpeg) = reencoded(&photo(rel));
        let (a, b) = (quality_of(&png), quality_of(&jpeg));
        println!("{rel}: PNG {a:?}\n{rel}: JPEG q90 {b:?}");
        assert!(
            (a.quality - b.quality).abs() <= 5.0,
            "{rel}: {a:?} vs {b:?}"
        );
        assert_eq!(a.limited_by, b.limited_by, "{rel}: {a:?} vs {b:?}");
        for (x, y) in [
            (a.sharpness, b.sharpness),
            (a.brightness, b.brightness),
            (a.contrast, b.contrast),
            (a.face_size, b.face_size),
        ] {
            assert!((x - y).abs() <= 5.0, "{rel}: {a:?} vs {b:?}");
        }
    }
}

/// The analysis with every quality measure removed (what a pipeline without quality
/// measurement gave).
fn without_quality(a: &ImageAnalysis) -> ImageAnalysis {
    let mut a = a.clone();
    for (_, desc) in &mut a.faces {
        desc.quality = None;
    }
    a
}

#[test]
fn quality_filter_none_keeps_every_fixture_pairs_outcome() {
    let none = CompareOptions {
        quality_filter: QualityFilter::None,
        ..CompareOptions::default()
    };
    for (left, right, _) in pairs("pairs_fixtures.tsv") {
        let (a, b) = (analyse(&photo(&left)), analyse(&photo(&right)));
        let with = pipeline().decide(Some(&a), Some(&b), &none);
        let (a0, b0) = (without_quality(&a), without_quality(&b));
        let before = pipeline().decide(Some(&a0), Some(&b0), &CompareOptions::default());
        assert_eq!(
            (with.status, with.score),
            (before.status, before.score),
            "{left} vs {right}"
        );
        assert!(with
            .warnings
            .iter()
            .all(|w| w.risk != WarningTag::LowFaceQuality));
        assert_eq!(
            with.warnings.len(),
            before.warnings.len(),
            "{left} vs {right}"
        );
    }
}

#[test]
fn a_large_copy_of_a_face_reads_like_the_small_one() {
    // The same photo at 4096 px (eight times the eye distance): area averaging keeps
    // its noise from reading as extra detail.
    let small = quality_of(&photo("fixtures/one_face_hopper.jpg"));
    let large = quality_of(&photo("fixtures/large_hopper_4096x4800.jpg"));
    println!("small {small:?}\nlarge {large:?}");
    assert!(
        (small.sharpness - large.sharpness).abs() <= 5.0,
        "{small:?} vs {large:?}"
    );
    assert!(
        (small.contrast - large.contrast).abs() <= 3.0,
        "{small:?} vs {large:?}"
    );
    assert_eq!(small.limited_by, large.limited_by);
}

/// The `MULTIPLE_FACES` warnings of a decision of `rel` (as the user image) against the
/// original hopper photo, with the decision's status.
fn multiple_faces_of(rel: &str) -> (Vec<facematch_core::Warning>, facematch_core::Status) {
    let original = analyse(&photo("fixtures/one_face_hopper.jpg"));
    let r = pipeline().decide(
        Some(&analyse(&photo(rel))),
        Some(&original),
        &CompareOptions::default(),
    );
    let warnings = r
        .warnings
        .into_iter()
        .filter(|w| w.risk == WarningTag::MultipleFaces)
        .collect();
    (warnings, r.status)
}

#[test]
fn a_two_person_photo_gets_multiple_faces_and_a_clear_largest_face_does_not() {
    // Two people side by side, faces of about the same size (154 and 148 px wide).
    let (warnings, status) = multiple_faces_of("fixtures_research/two_people.jpg");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].log_type, facematch_core::LogType::Information);
    assert!(
        warnings[0]
            .long_description
            .starts_with("user_image holds another face"),
        "{}",
        warnings[0].long_description
    );
    // For the record only: the two strangers to Hopper are declined on the score, as
    // they would be without it.
    assert_eq!(status, facematch_core::Status::Declined);
    // The collage's largest face (Hopper, 227 px) is three times the next (72 px).
    let (warnings, status) = multiple_faces_of("fixtures/several_faces_collage.jpg");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(status, facematch_core::Status::Approved);
}
