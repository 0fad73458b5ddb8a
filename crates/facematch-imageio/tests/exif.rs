//! EXIF orientation on JPEGs made here from a fixture: all eight orientations (the
//! mirrored ones, 2/4/5/7, have no fixture of their own) and EXIF blocks that are
//! corrupt. The expected pixels come from this file's own mapping of each orientation,
//! written from the EXIF definition ("row 0 is the visual …, column 0 is the visual
//! …"), not from the `image` crate that `decode()` uses.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use common::{decode_fixture, exif_entry, mean_abs_diff, orientation_le};
use facematch_imageio::{decode, DecodeLimits, RgbImage};
use image::codecs::jpeg::JpegEncoder;

/// The upright picture a viewer shows for `stored` pixels tagged with `orientation`.
fn displayed(stored: &RgbImage, orientation: u8) -> RgbImage {
    let (w, h) = stored.dimensions();
    let (dw, dh) = if orientation >= 5 { (h, w) } else { (w, h) };
    RgbImage::from_fn(dw, dh, |x, y| {
        let (sx, sy) = match orientation {
            1 => (x, y),
            2 => (w - 1 - x, y),         // mirrored left-right
            3 => (w - 1 - x, h - 1 - y), // upside down
            4 => (x, h - 1 - y),         // mirrored top-bottom
            5 => (y, x),                 // transposed: row 0 is the left column
            6 => (y, h - 1 - x),         // row 0 is the right column: turn clockwise
            7 => (w - 1 - y, h - 1 - x), // transversed: row 0 is the right column, upwards
            8 => (w - 1 - y, x),         // row 0 is the left column, upwards
            _ => unreachable!("orientation {orientation}"),
        };
        *stored.get_pixel(sx, sy)
    })
}

/// The orientation that undoes `orientation` (the mirrors and 180° undo themselves).
fn inverse(orientation: u8) -> u8 {
    match orientation {
        6 => 8,
        8 => 6,
        o => o,
    }
}

/// The same, big-endian ("MM"), as some cameras write it.
fn orientation_be(value: u16) -> Vec<u8> {
    let mut b = b"MM\0*".to_vec();
    b.extend(8u32.to_be_bytes());
    b.extend(1u16.to_be_bytes());
    b.extend(0x0112u16.to_be_bytes());
    b.extend(3u16.to_be_bytes());
    b.extend(1u32.to_be_bytes());
    b.extend(value.to_be_bytes());
    b.extend([0, 0]);
    b.extend(0u32.to_be_bytes());
    b
}

/// `jpeg` with an APP1 "Exif" segment holding `tiff` right after the SOI marker.
fn with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], [0xFF, 0xD8]);
    let payload_len = u16::try_from(2 + 6 + tiff.len()).unwrap();
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(payload_len.to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(tiff);
    out.extend(&jpeg[2..]);
    out
}

fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 95)
        .encode_image(img)
        .unwrap();
    out
}

/// A non-square crop of a fixture with odd sides, so that a transposition, a swapped
/// mirror or an off-by-one shows.
fn upright() -> RgbImage {
    let hopper = decode_fixture("fixtures/one_face_hopper.jpg");
    image::imageops::crop_imm(&hopper, 150, 180, 161, 97).to_image()
}

#[test]
fn the_mapping_of_this_test_is_consistent() {
    let up = upright();
    for o in 1..=8 {
        assert_eq!(displayed(&displayed(&up, inverse(o)), o), up, "{o}");
    }
    // Spot checks against the EXIF wording, on a 3x2 picture.
    let s = RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8, y as u8, 0]));
    // 6: stored row 0 is the displayed right column, stored column 0 the top row.
    assert_eq!(displayed(&s, 6).dimensions(), (2, 3));
    assert_eq!(displayed(&s, 6).get_pixel(1, 0).0, [0, 0, 0]);
    assert_eq!(displayed(&s, 6).get_pixel(0, 2).0, [2, 1, 0]);
    // 2: stored column 0 is the displayed right edge.
    assert_eq!(displayed(&s, 2).get_pixel(2, 1).0, [0, 1, 0]);
    // 7: stored row 0 is the displayed right column, stored column 0 the bottom row.
    assert_eq!(displayed(&s, 7).get_pixel(1, 2).0, [0, 0, 0]);
    assert_eq!(displayed(&s, 7).get_pixel(0, 0).0, [2, 1, 0]);
}

/// A photo stored turned or mirrored and tagged with the orientation that undoes it
/// decodes upright: every pixel lands where the tag says, and the result is the
/// original picture (up to JPEG loss).
#[test]
fn every_orientation_decodes_upright() {
    let up = upright();
    let limits = DecodeLimits::default();
    for o in 1..=8u8 {
        let stored = displayed(&up, inverse(o));
        let bytes = jpeg(&stored);
        let plain = decode(&bytes, &limits).unwrap();
        assert_eq!(plain.exif_orientation, 1);
        for tiff in [orientation_le(o.into()), orientation_be(o.into())] {
            let tagged = decode(&with_exif(&bytes, &tiff), &limits).unwrap();
            assert_eq!(tagged.exif_orientation, o);
            assert!(
                tagged.rgb == displayed(&plain.rgb, o),
                "orientation {o}: pixels are not where the tag puts them"
            );
            let diff = mean_abs_diff(&tagged.rgb, &up);
            // Measured 1.50 to 1.57 (quality 95 on a crop of a JPEG); a wrong turn or
            // mirror is tens of levels off.
            assert!(diff < 1.75, "orientation {o}: mean abs diff {diff:.2}");
        }
    }
}

/// A broken EXIF block never makes a photo undecodable: the orientation counts as
/// absent (1) and the pixels are those of the same file without the block.
#[test]
fn a_corrupt_exif_block_is_ignored() {
    let stored = displayed(&upright(), inverse(6));
    let bytes = jpeg(&stored);
    let limits = DecodeLimits::default();
    let plain = decode(&bytes, &limits).unwrap().rgb;
    let mut ifd_past_the_end = orientation_le(6);
    ifd_past_the_end[4..8].copy_from_slice(&1000u32.to_le_bytes());
    let mut entries_run_off = exif_entry(0x010F, 2, 4, 0x4141);
    entries_run_off[8..10].copy_from_slice(&0xFFFFu16.to_le_bytes());
    let mut bad_byte_order = orientation_le(6);
    bad_byte_order[..2].copy_from_slice(b"XI");
    let cases: [(&str, Vec<u8>); 9] = [
        ("no TIFF data at all", Vec::new()),
        ("header cut short", orientation_le(6)[..6].to_vec()),
        ("IFD cut inside the entry", orientation_le(6)[..16].to_vec()),
        ("bad byte order", bad_byte_order),
        ("IFD offset past the end", ifd_past_the_end),
        ("entry count past the end", entries_run_off),
        ("orientation 0", orientation_le(0)),
        ("orientation 9", orientation_le(9)),
        ("orientation as a LONG", exif_entry(0x0112, 4, 1, 6)),
    ];
    for (what, tiff) in cases {
        let decoded =
            decode(&with_exif(&bytes, &tiff), &limits).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(decoded.exif_orientation, 1, "{what}");
        assert!(decoded.rgb == plain, "{what}: pixels changed");
    }
}
