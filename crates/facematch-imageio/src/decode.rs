//! Safe decoding of untrusted image bytes into upright RGB8 pixels.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::error::{ImageError, SizeLimit};
use crate::format::{detect_format, ImageFormatKind};
use crate::reduce::Reduction;

/// Resource limits applied while decoding an untrusted image.
///
/// Dimension limits are checked against the header *before* any pixel buffer is
/// allocated, so a small file that declares a huge image (a decompression bomb) is
/// refused cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Maximum `width * height`.
    pub max_pixels: u64,
    /// Maximum width and maximum height, each.
    pub max_side: u32,
    /// Maximum bytes the decoder may allocate at once (passed to `image::Limits::max_alloc`).
    ///
    /// Best effort only: not every decoder of `image` 0.25 honours it (its PNG decoder
    /// ignores it; checked on the 30000x30000 bomb fixture), so `max_pixels` and
    /// `max_side` are the real guard.
    pub max_alloc: u64,
}

impl Default for DecodeLimits {
    /// 50 megapixels, 20,000 px per side, 512 MiB decoder allocation.
    ///
    /// Why these numbers: 50 MP is above any phone or DSLR photo people upload for a
    /// face match (a 4096x4800 upload is 19.7 MP) while bounding the work per request.
    /// 20,000 px per side refuses absurd panoramas/strips whose pixel count alone would
    /// pass. 512 MiB covers the decoder's largest legitimate buffer at that size: 50 MP
    /// of 16-bit RGBA is 400 MB (8 bytes/px); RGB8 output of 50 MP is 150 MB more,
    /// allocated by the conversion after the decoder's budget is released.
    fn default() -> Self {
        DecodeLimits {
            max_pixels: 50_000_000,
            max_side: 20_000,
            max_alloc: 512 * 1024 * 1024,
        }
    }
}

/// Worst-case bytes a comparison holds per pixel of its images while decoding, when
/// both images are at the pixel limit: the first image's RGB8 (3 B) while the second
/// one decodes: its decoder buffer (16-bit RGBA PNG, 8 B), the EXIF-rotated copy of that
/// buffer (8 B) and its RGB8 conversion (3 B). The `decode_memory` test measured the
/// decode at 16.03 B/px (8 MP, VmHWM), so 19.03 in all, rounded up to 20; it fails if
/// a decode ever takes more.
pub const PEAK_BYTES_PER_PIXEL: u64 = 20;

impl DecodeLimits {
    /// The default limits with `max_pixels` lowered so that one comparison (two images)
    /// fits `bytes` of memory: `min(50 MP, bytes / PEAK_BYTES_PER_PIXEL)`, at least 1.
    pub fn within_memory(bytes: u64) -> Self {
        let default = Self::default();
        Self {
            max_pixels: (bytes / PEAK_BYTES_PER_PIXEL).clamp(1, default.max_pixels),
            ..default
        }
    }
}

/// An image decoded to upright 8-bit RGB.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    /// Upright pixels (EXIF orientation already applied), 8-bit RGB.
    pub rgb: RgbImage,
    /// Format detected from the bytes.
    pub format: ImageFormatKind,
    /// EXIF orientation found in the file (1..=8; 1 when absent, unreadable or invalid).
    /// Already applied to [`DecodedImage::rgb`]; reported for diagnostics only.
    pub exif_orientation: u8,
    /// How far the decode reduced the image: 1 at full size, else 2, 4 or 8 (see
    /// [`decode_reduced`]). A point `(x, y)` of [`DecodedImage::rgb`] is
    /// `(x * scale, y * scale)` in the uploaded photo (upright).
    pub scale: u32,
}

/// Decodes untrusted `bytes` to upright RGB8 pixels.
///
/// Steps: detect the format from magic bytes (never the file name), read the header,
/// refuse images over `limits` before allocating pixels, decode, apply the EXIF
/// orientation, convert to RGB8.
///
/// Colour handling: grayscale is replicated to three channels; CMYK JPEG is converted
/// by the JPEG decoder; 16-bit samples are scaled to 8 bits. **Alpha is dropped, not
/// composited**: transparent pixels keep whatever colour they store (often black). Face
/// detection works on the visible content and a background colour would be a guess.
///
/// A truncated file is always an error: [`ImageError::Truncated`] when its container
/// structure is incomplete, [`ImageError::Decode`] when the header itself cannot be
/// read. The decoders are lenient (the JPEG decoder fills a missing scan, PNG never
/// reads `IEND`), so before any pixel is decoded the container structure is checked for
/// completeness: JPEG needs an end-of-image marker after its last
/// scan (bytes after it are allowed), PNG a whole `IEND` chunk (bytes after it are
/// allowed), WebP its whole RIFF size, TIFF every strip or tile of its first image. A
/// damaged file therefore costs no decode. Cuts inside the signature are
/// [`ImageError::UnsupportedFormat`].
///
/// Never panics: a panic inside a decoder is caught and reported as
/// [`ImageError::DecoderPanicked`] (shown to clients like [`ImageError::Decode`]), so a
/// hostile file cannot take a server thread down.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage, ImageError> {
    decode_reporting(bytes, limits, || {})
}

/// [`decode`], calling `before_pixels` once every check that needs no pixels has passed
/// (format, header, dimensions within `limits`, completeness) and just before the
/// pixels are decoded — the point where a face match's work, and its charge, begins. A
/// file refused before that never calls it.
pub fn decode_reporting(
    bytes: &[u8],
    limits: &DecodeLimits,
    before_pixels: impl FnOnce(),
) -> Result<DecodedImage, ImageError> {
    decode_reduced(bytes, limits, Reduction::Never, before_pixels)
}

/// [`decode_reporting`], decoding a JPEG larger than `reduction` allows at 1/2, 1/4 or
/// 1/8 of each side, in the DCT domain (cheaper in time and memory than decoding at
/// full size and shrinking). [`DecodedImage::scale`] says by how much. Every check is
/// the same and runs on the file's full size: the limits and the completeness check;
/// the EXIF orientation is applied to the reduced image. A JPEG the reduced decoder
/// refuses (a damaged scan) is decoded again at full size, so its error is
/// [`decode`]'s. PNG, WebP and TIFF are decoded at full size (`scale` 1), as is a CMYK
/// or 16-bit JPEG.
pub fn decode_reduced(
    bytes: &[u8],
    limits: &DecodeLimits,
    reduction: Reduction,
    before_pixels: impl FnOnce(),
) -> Result<DecodedImage, ImageError> {
    let format = detect_format(bytes)?;
    catch_decoder_panic(|| decode_detected(bytes, format, limits, reduction, before_pixels))
}

/// Reads only the header and returns `(width, height)` as stored (before EXIF
/// orientation), after the same format checks as [`decode`]. Cheap: no pixel decoding.
pub fn read_dimensions(bytes: &[u8]) -> Result<(u32, u32), ImageError> {
    let format = detect_format(bytes)?;
    let read = || -> Result<(u32, u32), ImageError> {
        let decoder = ImageReader::with_format(Cursor::new(bytes), format.to_image_format())
            .into_decoder()
            .map_err(ImageError::from_image)?;
        Ok(decoder.dimensions())
    };
    catch_decoder_panic(read)
}

/// Runs `f`, turning a panic into [`ImageError::DecoderPanicked`].
///
/// `AssertUnwindSafe` is sound here: the closure only reads the caller's byte slice and
/// owns everything it builds, so no state is left half-updated after a panic. This
/// relies on `panic = "unwind"` (the default); with `panic = "abort"` a decoder panic
/// would still abort the process.
fn catch_decoder_panic<T>(f: impl FnOnce() -> Result<T, ImageError>) -> Result<T, ImageError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(ImageError::DecoderPanicked))
}

/// The decode itself, once the format is known to be one we accept.
fn decode_detected(
    bytes: &[u8],
    format: ImageFormatKind,
    limits: &DecodeLimits,
    reduction: Reduction,
    before_pixels: impl FnOnce(),
) -> Result<DecodedImage, ImageError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.to_image_format());
    // Width/height limits are left unset on purpose: the decoder would then fail inside
    // `into_decoder` without telling us the dimensions. We check them ourselves below,
    // still before any pixel buffer exists.
    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(image_limits);

    let mut decoder = reader.into_decoder().map_err(ImageError::from_image)?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    // Before the pixels: a file cut short is refused without paying for its decode.
    crate::completeness::check(bytes, format)?;

    // A broken EXIF block must not make an otherwise fine photo undecodable: treat an
    // unreadable orientation as "no transform".
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);

    before_pixels();
    let factor = match format {
        ImageFormatKind::Jpeg => reduction.factor(width, height),
        _ => 1,
    };
    // A file the reduced decoder refuses is decoded at full size, so that its error
    // (or its pixels: the full decoder is lenient) is the full decoder's, as before.
    let reduced = if factor > 1 {
        crate::reduce::decode_jpeg(bytes, (width, height), factor, limits.max_alloc)
    } else {
        None
    };
    let (mut image, scale) = match reduced {
        Some(image) => (image, factor),
        None => (
            DynamicImage::from_decoder(decoder).map_err(ImageError::from_image)?,
            1,
        ),
    };
    image.apply_orientation(orientation);
    Ok(DecodedImage {
        rgb: image.into_rgb8(),
        format,
        exif_orientation: orientation.to_exif(),
        scale,
    })
}

/// Refuses empty images and images over the side or pixel limits.
fn check_dimensions(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Decode(format!(
            "image has no pixels ({width}x{height})"
        )));
    }
    if width > limits.max_side || height > limits.max_side {
        return Err(ImageError::TooLarge {
            width,
            height,
            limit: SizeLimit::Side(limits.max_side),
        });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageError::TooLarge {
            width,
            height,
            limit: SizeLimit::Pixels(limits.max_pixels),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure
mod tests {
    use super::*;

    /// Encodes a small PNG in memory.
    fn png_bytes(img: &DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn decodes_small_png_to_rgb() {
        let mut src = RgbImage::new(3, 2);
        src.put_pixel(2, 1, image::Rgb([10, 20, 30]));
        let bytes = png_bytes(&DynamicImage::ImageRgb8(src.clone()));
        let decoded = decode(&bytes, &DecodeLimits::default()).unwrap();
        assert_eq!(decoded.rgb, src);
        assert_eq!(decoded.format, ImageFormatKind::Png);
        assert_eq!(decoded.exif_orientation, 1);
        assert_eq!(read_dimensions(&bytes).unwrap(), (3, 2));
    }

    #[test]
    fn alpha_is_dropped_not_composited() {
        let src = image::RgbaImage::from_pixel(2, 2, image::Rgba([200, 100, 50, 0]));
        let bytes = png_bytes(&DynamicImage::ImageRgba8(src));
        let decoded = decode(&bytes, &DecodeLimits::default()).unwrap();
        assert_eq!(decoded.rgb.get_pixel(0, 0).0, [200, 100, 50]);
    }

    #[test]
    fn limits_are_checked_from_the_header() {
        let bytes = png_bytes(&DynamicImage::new_rgb8(40, 10));
        let side = DecodeLimits {
            max_side: 39,
            ..DecodeLimits::default()
        };
        assert_eq!(
            decode(&bytes, &side).unwrap_err(),
            ImageError::TooLarge {
                width: 40,
                height: 10,
                limit: SizeLimit::Side(39)
            }
        );
        let pixels = DecodeLimits {
            max_pixels: 399,
            ..DecodeLimits::default()
        };
        assert_eq!(
            decode(&bytes, &pixels).unwrap_err(),
            ImageError::TooLarge {
                width: 40,
                height: 10,
                limit: SizeLimit::Pixels(399)
            }
        );
        let exact = DecodeLimits {
            max_pixels: 400,
            max_side: 40,
            ..DecodeLimits::default()
        };
        // Limits are inclusive: exactly at them decodes.
        assert_eq!(decode(&bytes, &exact).unwrap().rgb.dimensions(), (40, 10));
    }

    #[test]
    fn garbage_after_a_valid_signature_is_a_decode_error() {
        let limits = DecodeLimits::default();
        for bytes in [
            &b"\xFF\xD8\xFF\xE0garbage"[..],
            &b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRxx"[..],
            &b"RIFF\x10\0\0\0WEBPVP8 junk"[..],
            &b"II*\0\xFF\xFF\xFF\xFF"[..],
        ] {
            let err = decode(bytes, &limits).unwrap_err();
            assert!(matches!(err, ImageError::Decode(_)), "{err:?}");
        }
    }

    #[test]
    fn a_decoder_panic_becomes_an_error() {
        let result: Result<(), ImageError> = catch_decoder_panic(|| panic!("hostile file"));
        assert_eq!(result, Err(ImageError::DecoderPanicked));
    }

    /// Every strict prefix of a PNG is a named error, and never a caught panic: the
    /// signature's own prefixes are not recognised as PNG; cuts before the header is
    /// readable (the decoder reads up to the first IDAT chunk) are decode errors; every
    /// later cut, up to the final IEND checksum the decoder never reads, is refused by
    /// the completeness check before any pixel is decoded (`Truncated`); the whole file
    /// decodes to the very same pixels.
    #[test]
    fn every_prefix_of_a_png_is_a_named_error() {
        let src = RgbImage::from_fn(16, 9, |x, y| image::Rgb([x as u8 * 15, y as u8 * 25, 99]));
        let bytes = png_bytes(&DynamicImage::ImageRgb8(src.clone()));
        let iend_crc = bytes.len() - 4;
        assert_eq!(&bytes[iend_crc - 4..iend_crc], b"IEND");
        // Start of the first IDAT chunk (its length field).
        let idat = bytes.windows(4).position(|w| w == b"IDAT").unwrap() - 4;
        let limits = DecodeLimits::default();
        for len in 0..bytes.len() {
            // No prefix gets to its pixels (so a cut file is charged nothing and
            // decoded never).
            let mut reached_pixels = false;
            let result = decode_reporting(&bytes[..len], &limits, || reached_pixels = true);
            assert!(!reached_pixels, "a {len}-byte prefix reached its pixels");
            match len {
                0 => assert_eq!(result.unwrap_err(), ImageError::Empty),
                1..=7 => assert_eq!(
                    result.unwrap_err(),
                    ImageError::UnsupportedFormat { detected: None },
                    "prefix of {len} bytes"
                ),
                _ if len <= idat => assert!(
                    matches!(result, Err(ImageError::Decode(_))),
                    "prefix of {len} of {} bytes: {:?}",
                    bytes.len(),
                    result.map(|d| d.rgb.dimensions())
                ),
                // Inside the IDAT chunk's own length and type: either is a clear refusal.
                _ if len < idat + 8 => assert!(
                    matches!(
                        result,
                        Err(ImageError::Decode(_) | ImageError::Truncated { .. })
                    ),
                    "prefix of {len} bytes"
                ),
                _ => assert!(
                    matches!(result, Err(ImageError::Truncated { .. })),
                    "prefix of {len} bytes"
                ),
            }
        }
        let mut reached_pixels = false;
        let whole = decode_reporting(&bytes, &limits, || reached_pixels = true).unwrap();
        assert!(whole.rgb == src && reached_pixels);
    }
}
