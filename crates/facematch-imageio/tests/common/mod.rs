//! Helpers shared by this crate's integration tests: where the face data lives, and
//! EXIF blocks to write into test JPEGs.

#![allow(dead_code)] // each test binary uses its own subset
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

use std::path::PathBuf;

use facematch_imageio::{decode, DecodeLimits, RgbImage};

/// `shared/data/faces`, beside the repository.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces")
}

/// The bytes of a file under `shared/data/faces`.
pub fn read(rel: &str) -> Vec<u8> {
    let path = data_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A fixture decoded with the default limits; panics (fails the test) if it does not
/// decode.
pub fn decode_fixture(rel: &str) -> RgbImage {
    decode(&read(rel), &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .rgb
}

/// Mean absolute difference per channel; images must have the same size.
pub fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&p, &q)| u64::from(p.abs_diff(q)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

/// A TIFF-structured EXIF block with one IFD entry (tag, type, count, 16-bit value),
/// little-endian.
pub fn exif_entry(tag: u16, kind: u16, count: u32, value: u16) -> Vec<u8> {
    let mut b = b"II*\0".to_vec();
    b.extend(8u32.to_le_bytes()); // first IFD right after the header
    b.extend(1u16.to_le_bytes()); // one entry
    b.extend(tag.to_le_bytes());
    b.extend(kind.to_le_bytes());
    b.extend(count.to_le_bytes());
    b.extend(value.to_le_bytes());
    b.extend([0, 0]); // the rest of the 4-byte value field
    b.extend(0u32.to_le_bytes()); // no next IFD
    b
}

/// The orientation tag (0x0112, SHORT, one value), little-endian.
pub fn orientation_le(value: u16) -> Vec<u8> {
    exif_entry(0x0112, 3, 1, value)
}
