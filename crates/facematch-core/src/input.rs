//! From uploaded bytes to a pipeline input, the same way for the API and the CLI.

use facematch_imageio::{decode_reporting, DecodeLimits, ImageError};
use image::RgbImage;

/// One side of a comparison, as it arrived.
#[derive(Debug, Clone)]
pub enum ImageInput {
    /// A decoded, EXIF-oriented image.
    Image(RgbImage),
    /// The image part was present but held no bytes.
    Empty,
}

/// Largest accepted image, in bytes (5 × 1024 × 1024), as the contract says.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// Decodes one image part: 0 bytes is [`ImageInput::Empty`] (the contract's
/// `NO_REFERENCE_IMAGE`); anything else must decode as JPEG, PNG, WebP or TIFF within
/// `limits`, with its EXIF orientation applied.
pub fn image_input(bytes: &[u8], limits: &DecodeLimits) -> Result<ImageInput, ImageError> {
    image_input_reporting(bytes, limits, || {})
}

/// [`image_input`], calling `before_pixels` just before pixels are decoded (see
/// `facematch_imageio::decode_reporting`); never for an empty part or a file refused
/// before its pixels.
pub fn image_input_reporting(
    bytes: &[u8],
    limits: &DecodeLimits,
    before_pixels: impl FnOnce(),
) -> Result<ImageInput, ImageError> {
    let _span = tracing::info_span!("decode", bytes = bytes.len()).entered();
    if bytes.is_empty() {
        return Ok(ImageInput::Empty);
    }
    decode_reporting(bytes, limits, before_pixels).map(|d| ImageInput::Image(d.rgb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bytes_are_an_empty_part_and_text_is_refused() {
        let limits = DecodeLimits::default();
        assert!(matches!(image_input(b"", &limits), Ok(ImageInput::Empty)));
        assert!(image_input(b"hello, not an image", &limits).is_err());
    }
}
