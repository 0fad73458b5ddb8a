//! Issue 10, item 9: a file that ends early is never decoded as if it were whole.
//! Every cut of every accepted format is an error (`Truncated` or another named one,
//! never a caught panic), the decoders' lenient cases included, and whole files still
//! decode, with trailing bytes after the end marker allowed.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use common::{decode_fixture, read};
use facematch_imageio::{decode, DecodeLimits, ImageError, ImageFormatKind};

/// One fixture per format and variant (baseline, progressive, CMYK, gray, 16-bit PNG,
/// RGBA PNG, TIFF LZW, lossy WebP).
const FIXTURES: [&str; 8] = [
    "fixtures/one_face_hopper.jpg",
    "fixtures/one_face_hopper_progressive.jpg",
    "fixtures/one_face_hopper_cmyk.jpg",
    "fixtures/one_face_hopper_gray.jpg",
    "fixtures/one_face_astronaut_gray16.png",
    "fixtures/one_face_astronaut_rgba.png",
    "fixtures/one_face_astronaut.tiff",
    "fixtures/one_face_hopper.webp",
];

fn is_truncated(result: &Result<facematch_imageio::DecodedImage, ImageError>) -> bool {
    matches!(result, Err(ImageError::Truncated { .. }))
}

#[test]
fn every_cut_of_every_format_is_an_error_never_an_image() {
    let limits = DecodeLimits::default();
    for rel in FIXTURES {
        let bytes = read(rel);
        let n = bytes.len();
        let mut cuts: Vec<usize> = (1..20).map(|i| n * i / 20).collect();
        cuts.extend([n * 3 / 10, n - 16, n - 4, n - 2, n - 1]);
        for len in cuts {
            match decode(&bytes[..len], &limits) {
                Ok(d) => panic!(
                    "{rel}: cut at {len}/{n} decoded to {:?}",
                    d.rgb.dimensions()
                ),
                Err(ImageError::DecoderPanicked) => panic!("{rel}: cut at {len}: panic"),
                Err(_) => {}
            }
        }
        // The last byte alone is missing: only the completeness check can see it.
        assert!(
            is_truncated(&decode(&bytes[..n - 1], &limits)),
            "{rel}: last byte cut"
        );
        // The whole file decodes as before.
        assert!(decode(&bytes, &limits).unwrap().rgb == decode_fixture(rel));
    }
}

#[test]
fn the_issue_case_a_jpeg_cut_at_30_percent_is_truncated() {
    let bytes = read("fixtures/one_face_hopper.jpg");
    let err = decode(&bytes[..bytes.len() * 3 / 10], &DecodeLimits::default()).unwrap_err();
    assert_eq!(err.code(), "truncated_image");
    assert!(
        matches!(
            &err,
            ImageError::Truncated {
                format: ImageFormatKind::Jpeg,
                missing
            } if missing.contains("end-of-image")
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("JPEG image is truncated"), "{err}");
}

#[test]
fn bytes_after_the_end_marker_are_allowed() {
    let limits = DecodeLimits::default();
    for rel in [
        "fixtures/one_face_hopper.jpg",
        "fixtures/one_face_astronaut.png",
    ] {
        let bytes = read(rel);
        let full = decode_fixture(rel);
        for tail in [&[0u8; 64][..], b"trailer data appended by a camera"] {
            let padded = [&bytes[..], tail].concat();
            assert!(decode(&padded, &limits).unwrap().rgb == full, "{rel}");
        }
    }
}

#[test]
fn png_without_iend_is_refused() {
    let bytes = read("fixtures/one_face_astronaut.png");
    let n = bytes.len();
    assert_eq!(&bytes[n - 8..n - 4], b"IEND");
    let limits = DecodeLimits::default();
    // The whole IEND chunk gone: the decoder itself wants the next chunk header.
    assert!(decode(&bytes[..n - 12], &limits).is_err());
    // IEND there but cut: the decoder never reads it, the completeness check does.
    for cut in [n - 4, n - 2, n - 1] {
        let err = decode(&bytes[..cut], &limits).unwrap_err();
        assert!(
            matches!(
                &err,
                ImageError::Truncated { format: ImageFormatKind::Png, missing } if missing.contains("IEND")
            ),
            "cut at {cut}: {err:?}"
        );
    }
}

#[test]
fn webp_with_a_riff_size_past_the_end_is_truncated() {
    let mut bytes = read("fixtures/one_face_hopper.webp");
    let size = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    bytes[4..8].copy_from_slice(&(size + 100).to_le_bytes());
    let err = decode(&bytes, &DecodeLimits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::Truncated {
                format: ImageFormatKind::WebP,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn tiff_with_strips_past_the_end_is_truncated() {
    let bytes = read("fixtures/one_face_astronaut.tiff");
    let limits = DecodeLimits::default();
    let mut truncated = 0;
    for len in (bytes.len() / 2..bytes.len()).step_by(997) {
        let result = decode(&bytes[..len], &limits);
        assert!(result.is_err(), "cut at {len}");
        truncated += usize::from(is_truncated(&result));
    }
    // At least the cuts the TIFF decoder reads past without noticing are ours.
    assert!(
        is_truncated(&decode(&bytes[..bytes.len() - 1], &limits)),
        "last byte"
    );
    eprintln!("TIFF cuts reported as truncated: {truncated}");
}
