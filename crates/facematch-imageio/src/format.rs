//! Image format detection from magic bytes.
//!
//! The format is always taken from the content, never from a file name or a
//! client-supplied content type: those are trivially wrong (`png_bytes_named.jpg`) or
//! hostile, and the decoder must match the actual bytes.

use crate::error::ImageError;

/// An accepted image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormatKind {
    /// JPEG (baseline or progressive; gray, YCbCr or CMYK).
    Jpeg,
    /// PNG (any bit depth and colour type).
    Png,
    /// WebP (lossy or lossless).
    WebP,
    /// TIFF (classic or BigTIFF, little- or big-endian).
    Tiff,
}

impl ImageFormatKind {
    /// Short human-readable name, e.g. `"JPEG"`.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormatKind::Jpeg => "JPEG",
            ImageFormatKind::Png => "PNG",
            ImageFormatKind::WebP => "WebP",
            ImageFormatKind::Tiff => "TIFF",
        }
    }

    /// IANA media type, e.g. `"image/jpeg"`.
    pub fn mime_type(self) -> &'static str {
        match self {
            ImageFormatKind::Jpeg => "image/jpeg",
            ImageFormatKind::Png => "image/png",
            ImageFormatKind::WebP => "image/webp",
            ImageFormatKind::Tiff => "image/tiff",
        }
    }

    /// The matching format of the `image` crate.
    pub(crate) fn to_image_format(self) -> image::ImageFormat {
        match self {
            ImageFormatKind::Jpeg => image::ImageFormat::Jpeg,
            ImageFormatKind::Png => image::ImageFormat::Png,
            ImageFormatKind::WebP => image::ImageFormat::WebP,
            ImageFormatKind::Tiff => image::ImageFormat::Tiff,
        }
    }
}

impl std::fmt::Display for ImageFormatKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Formats we recognise only to refuse them with a precise message.
/// Order matters only where one signature is a prefix of another (none here overlap).
const REFUSED: &[(&[u8], &str)] = &[
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (&[0x00, 0x00, 0x01, 0x00], "ICO"),
    (&[0x00, 0x00, 0x02, 0x00], "CUR"),
    (&[0xFF, 0x0A], "JPEG XL"),
    (&[0x00, 0x00, 0x00, 0x0C, b'J', b'X', b'L', b' '], "JPEG XL"),
    (
        &[0x00, 0x00, 0x00, 0x0C, b'j', b'P', b' ', b' '],
        "JPEG 2000",
    ),
    (&[0xFF, 0x4F, 0xFF, 0x51], "JPEG 2000"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
    (b"qoif", "QOI"),
    (b"farbfeld", "Farbfeld"),
    (&[0x76, 0x2F, 0x31, 0x01], "OpenEXR"),
    (b"#?RADIANCE", "HDR"),
    (b"#?RGBE", "HDR"),
    (b"DDS ", "DDS"),
];

/// Detects the format of `bytes` from their magic numbers.
///
/// Returns [`ImageError::Empty`] for zero bytes and [`ImageError::UnsupportedFormat`]
/// for anything that is not JPEG, PNG, WebP or TIFF (with the detected name when the
/// format is recognised, e.g. GIF or BMP). Only the first few bytes are inspected, so a
/// correct signature does not imply the rest of the file is valid.
pub fn detect_format(bytes: &[u8]) -> Result<ImageFormatKind, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageFormatKind::Jpeg);
    }
    if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        return Ok(ImageFormatKind::Png);
    }
    if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        return Ok(ImageFormatKind::WebP);
    }
    // Classic TIFF (42) and BigTIFF (43), both byte orders.
    if bytes.starts_with(b"II*\0")
        || bytes.starts_with(b"MM\0*")
        || bytes.starts_with(b"II+\0")
        || bytes.starts_with(b"MM\0+")
    {
        return Ok(ImageFormatKind::Tiff);
    }
    Err(ImageError::UnsupportedFormat {
        detected: detect_refused(bytes),
    })
}

/// Names a recognised but refused format, if any.
fn detect_refused(bytes: &[u8]) -> Option<&'static str> {
    if let Some((_, name)) = REFUSED.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Some(name);
    }
    // ISO-BMFF containers (HEIC/HEIF/AVIF): `....ftyp<brand>`.
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return Some(match &bytes[8..12] {
            b"avif" | b"avis" => "AVIF",
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"mif1" | b"msf1" | b"heim" | b"heis" => "HEIF",
            _ => "ISO media (MP4/MOV/HEIF)",
        });
    }
    if bytes.len() >= 12 && bytes.starts_with(b"RIFF") {
        return Some("RIFF (not WebP)");
    }
    // Netpbm: "P1".."P7" followed by whitespace.
    if bytes.len() >= 3
        && bytes[0] == b'P'
        && (b'1'..=b'7').contains(&bytes[1])
        && bytes[2].is_ascii_whitespace()
    {
        return Some("PNM");
    }
    // SVG is text; look for the root element near the start, ignoring a BOM/XML prolog.
    let head = &bytes[..bytes.len().min(512)];
    if head.windows(4).any(|w| w.eq_ignore_ascii_case(b"<svg")) {
        return Some("SVG");
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure
mod tests {
    use super::*;

    #[test]
    fn accepted_signatures() {
        assert_eq!(
            detect_format(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]),
            Ok(ImageFormatKind::Jpeg)
        );
        assert_eq!(
            detect_format(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Ok(ImageFormatKind::Png)
        );
        assert_eq!(
            detect_format(b"RIFF\x10\0\0\0WEBPVP8 "),
            Ok(ImageFormatKind::WebP)
        );
        assert_eq!(detect_format(b"II*\0\x08\0\0\0"), Ok(ImageFormatKind::Tiff));
        assert_eq!(detect_format(b"MM\0*\0\0\0\x08"), Ok(ImageFormatKind::Tiff));
    }

    #[test]
    fn refused_signatures() {
        let refused = |bytes: &[u8]| match detect_format(bytes) {
            Err(ImageError::UnsupportedFormat { detected }) => detected,
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        };
        assert_eq!(refused(b"GIF89a\x01\0\x01\0"), Some("GIF"));
        assert_eq!(refused(b"BM\x36\0\0\0"), Some("BMP"));
        assert_eq!(refused(&[0, 0, 1, 0, 1, 0]), Some("ICO"));
        assert_eq!(refused(b"\0\0\0\x1cftypheic\0\0\0\0"), Some("HEIF"));
        assert_eq!(refused(b"\0\0\0\x1cftypavif\0\0\0\0"), Some("AVIF"));
        assert_eq!(refused(b"RIFF\x10\0\0\0WAVEfmt "), Some("RIFF (not WebP)"));
        assert_eq!(refused(b"<?xml version=\"1.0\"?><svg "), Some("SVG"));
        assert_eq!(refused(b"hello, this is not an image\n"), None);
        // Too short to match anything fully.
        assert_eq!(refused(&[0xFF, 0xD8]), None);
        assert_eq!(refused(b"RIFF"), None);
    }

    #[test]
    fn empty_is_its_own_error() {
        assert_eq!(detect_format(&[]), Err(ImageError::Empty));
    }
}
