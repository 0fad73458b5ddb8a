//! Reduced decoding of large JPEGs (`decode_reduced`): which files are reduced and by
//! how much, that the pixels are the full decode's shrunk (EXIF orientation included),
//! and that every check of the full decode still comes first (limits, completeness).

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use std::io::Cursor;

use common::{mean_abs_diff, orientation_le, read};
use facematch_imageio::{
    decode, decode_reduced, DecodeLimits, DecodedImage, ImageError, ImageFormatKind, Reduction,
    RgbImage, SizeLimit,
};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageEncoder};

/// A picture whose halves differ (red-ish left, blue-ish right, a vertical ramp), so
/// that a wrong orientation or a wrong scale shows.
fn picture(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let ramp = (y * 200 / height) as u8;
        if x < width / 2 {
            image::Rgb([220, ramp, 40])
        } else {
            image::Rgb([30, ramp, 210])
        }
    })
}

/// `image` as a JPEG (quality 90), with an EXIF orientation tag when `orientation` is
/// given.
fn jpeg(image: &DynamicImage, orientation: Option<u16>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, 90);
    if let Some(o) = orientation {
        encoder.set_exif_metadata(orientation_le(o)).unwrap();
    }
    encoder
        .write_image(
            image.as_bytes(),
            image.width(),
            image.height(),
            image.color().into(),
        )
        .unwrap();
    out
}

fn reduced(bytes: &[u8]) -> DecodedImage {
    decode_reduced(bytes, &DecodeLimits::default(), Reduction::DEFAULT, || {}).unwrap()
}

/// The full decode shrunk to `size` (area averaging), for comparing pixels.
fn full_shrunk(bytes: &[u8], (w, h): (u32, u32)) -> RgbImage {
    image::imageops::resize(
        &decode(bytes, &DecodeLimits::default()).unwrap().rgb,
        w,
        h,
        FilterType::Triangle,
    )
}

#[test]
fn a_large_jpeg_is_decoded_at_the_largest_reduction_that_keeps_2000_px() {
    for ((w, h), factor, out) in [
        ((4000, 300), 2, (2000, 150)),
        ((300, 4001), 2, (150, 2001)), // sides round up
        ((8000, 64), 4, (2000, 16)),
        ((16000, 40), 8, (2000, 5)),
    ] {
        let bytes = jpeg(&DynamicImage::ImageRgb8(picture(w, h)), None);
        let d = reduced(&bytes);
        assert_eq!((d.rgb.dimensions(), d.scale), (out, factor), "{w}x{h}");
        assert_eq!(d.format, ImageFormatKind::Jpeg);
        // The same picture: within JPEG noise of the full decode shrunk.
        let diff = mean_abs_diff(&d.rgb, &full_shrunk(&bytes, out));
        assert!(diff < 4.0, "{w}x{h}: {diff:.2} off the full decode");
    }
}

#[test]
fn decode_and_the_never_rule_keep_the_full_size() {
    let bytes = jpeg(&DynamicImage::ImageRgb8(picture(4000, 300)), None);
    let full = decode(&bytes, &DecodeLimits::default()).unwrap();
    assert_eq!((full.rgb.dimensions(), full.scale), ((4000, 300), 1));
    let never = decode_reduced(&bytes, &DecodeLimits::default(), Reduction::Never, || {}).unwrap();
    assert_eq!((never.rgb.dimensions(), never.scale), ((4000, 300), 1));
}

#[test]
fn a_jpeg_under_4000_px_is_never_reduced() {
    for (w, h) in [(3999, 300), (300, 3999), (64, 64)] {
        let d = reduced(&jpeg(&DynamicImage::ImageRgb8(picture(w, h)), None));
        assert_eq!((d.rgb.dimensions(), d.scale), ((w, h), 1));
    }
}

#[test]
fn png_and_webp_are_never_reduced() {
    let image = DynamicImage::ImageRgb8(picture(4000, 40));
    for format in [image::ImageFormat::Png, image::ImageFormat::WebP] {
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), format)
            .unwrap();
        let d = reduced(&bytes);
        assert_eq!((d.rgb.dimensions(), d.scale), ((4000, 40), 1), "{format:?}");
        assert_eq!(d.rgb, picture(4000, 40), "{format:?} is lossless");
    }
}

#[test]
fn a_grayscale_jpeg_is_reduced_to_gray_rgb() {
    let gray = DynamicImage::ImageRgb8(picture(4000, 200)).into_luma8();
    let d = reduced(&jpeg(&DynamicImage::ImageLuma8(gray), None));
    assert_eq!((d.rgb.dimensions(), d.scale), ((2000, 100), 2));
    assert!(d.rgb.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
}

/// EXIF orientation 6 (turn clockwise) and 8 on a reduced decode: the sides swap and
/// the pixels are the full (oriented) decode's, shrunk.
#[test]
fn the_exif_orientation_is_applied_to_the_reduced_image() {
    for orientation in [6u16, 8, 3] {
        let bytes = jpeg(
            &DynamicImage::ImageRgb8(picture(4000, 200)),
            Some(orientation),
        );
        let d = reduced(&bytes);
        assert_eq!(d.exif_orientation, orientation as u8);
        let expected_size = if orientation == 3 {
            (2000, 100)
        } else {
            (100, 2000)
        };
        assert_eq!((d.rgb.dimensions(), d.scale), (expected_size, 2));
        let diff = mean_abs_diff(&d.rgb, &full_shrunk(&bytes, expected_size));
        assert!(diff < 4.0, "orientation {orientation}: {diff:.2} off");
        // Negative control: the unrotated reduction is far off.
        let unturned = image::imageops::rotate180(&full_shrunk(&bytes, expected_size));
        assert!(mean_abs_diff(&d.rgb, &unturned) > 40.0);
    }
}

#[test]
fn limits_and_completeness_are_checked_on_the_full_size_first() {
    let bytes = jpeg(&DynamicImage::ImageRgb8(picture(4000, 300)), None);
    // 1.2 MP refused by a 1 MP limit although its reduction (0.3 MP) would fit.
    let limits = DecodeLimits {
        max_pixels: 1_000_000,
        ..DecodeLimits::default()
    };
    let mut reached_pixels = false;
    let err = decode_reduced(&bytes, &limits, Reduction::DEFAULT, || {
        reached_pixels = true;
    })
    .unwrap_err();
    assert_eq!(
        err,
        ImageError::TooLarge {
            width: 4000,
            height: 300,
            limit: SizeLimit::Pixels(1_000_000)
        }
    );
    assert!(!reached_pixels);
    // Cut short: refused before its pixels, as by the full decode.
    let cut = &bytes[..bytes.len() * 2 / 3];
    let err = decode_reduced(cut, &DecodeLimits::default(), Reduction::DEFAULT, || {
        reached_pixels = true;
    })
    .unwrap_err();
    assert!(matches!(err, ImageError::Truncated { .. }), "{err:?}");
    assert!(!reached_pixels);
    assert_eq!(err, decode(cut, &DecodeLimits::default()).unwrap_err());
}

#[test]
fn the_bomb_fixture_is_still_refused_from_its_header() {
    let bytes = read("fixtures/bomb_30000x30000.png");
    let mut reached_pixels = false;
    let err = decode_reduced(&bytes, &DecodeLimits::default(), Reduction::DEFAULT, || {
        reached_pixels = true;
    })
    .unwrap_err();
    assert!(matches!(err, ImageError::TooLarge { .. }), "{err:?}");
    assert!(!reached_pixels);
}

/// The large fixture (a real 4096×4800 photo) decodes at 1/2, the same picture as its
/// full decode shrunk.
#[test]
fn the_large_fixture_is_reduced_to_half() {
    let bytes = read("fixtures/large_hopper_4096x4800.jpg");
    let d = reduced(&bytes);
    assert_eq!((d.rgb.dimensions(), d.scale), ((2048, 2400), 2));
    let diff = mean_abs_diff(&d.rgb, &full_shrunk(&bytes, (2048, 2400)));
    assert!(diff < 3.0, "{diff:.2} off the full decode");
}

/// A large JPEG damaged inside its scan (complete, so past the completeness check) is
/// refused with the full decode's own error, or decodes as the full decode does: the
/// reduced decoder's refusal falls back to a full-size decode.
#[test]
fn a_damaged_large_jpeg_gets_the_full_decodes_answer() {
    let bytes = jpeg(&DynamicImage::ImageRgb8(picture(4000, 300)), None);
    // The first scan's data starts after the SOS segment.
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let scan = sos + 2 + usize::from(u16::from_be_bytes([bytes[sos + 2], bytes[sos + 3]]));
    let mut refused_by_both = 0;
    for (at, junk) in [
        (scan + 100, &[0xFF, 0xC4, 0x00, 0x02][..]), // a marker inside the entropy data
        (scan + 10, &[0xFF, 0xDA, 0x00, 0x00][..]),  // a broken second SOS
        (scan + 50, &[0xFF, 0xD0, 0xFF, 0xD7][..]),  // restart markers out of place
        (scan + 5, &[0x00; 64][..]),                 // zeroed entropy data
    ] {
        let mut damaged = bytes.clone();
        damaged[at..at + junk.len()].copy_from_slice(junk);
        let full = decode(&damaged, &DecodeLimits::default());
        match (reduced_or_error(&damaged), full) {
            (Err(r), Err(f)) => {
                assert_eq!(r, f, "damage at {at}");
                refused_by_both += 1;
            }
            (Ok(r), Ok(f)) => {
                let (w, h) = f.rgb.dimensions();
                let expected = if r.scale == 1 {
                    (w, h)
                } else {
                    (w.div_ceil(2), h.div_ceil(2))
                };
                assert_eq!(r.rgb.dimensions(), expected, "damage at {at}");
            }
            (r, f) => panic!(
                "damage at {at}: reduced {:?}, full {:?}",
                r.map(|d| d.scale),
                f.map(|d| d.scale)
            ),
        }
    }
    assert!(
        refused_by_both > 0,
        "no damage was refused: the test checks nothing"
    );
}

fn reduced_or_error(bytes: &[u8]) -> Result<DecodedImage, ImageError> {
    decode_reduced(bytes, &DecodeLimits::default(), Reduction::DEFAULT, || {})
}
