//! From uploaded bytes to a pipeline input, the same way for the API and the CLI.

use facematch_imageio::{decode_reduced, DecodeLimits, ImageError, Reduction};
use image::RgbImage;

/// One side of a comparison, as it arrived.
#[derive(Debug, Clone)]
pub enum ImageInput {
    /// A decoded, EXIF-oriented image at full size.
    Image(RgbImage),
    /// A large JPEG decoded, EXIF-oriented, at 1/`scale` of each side
    /// ([`Reduction::DEFAULT`]). The pipeline analyses `image` and reports faces in the
    /// uploaded photo's pixels (multiplied by `scale`).
    Reduced {
        /// The reduced pixels.
        image: RgbImage,
        /// 2, 4 or 8: a pixel of `image` is `scale` × `scale` pixels of the upload.
        scale: u32,
    },
    /// The image part was present but held no bytes.
    Empty,
}

/// Largest accepted image, in bytes (5 × 1024 × 1024), as the contract says.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// Decodes one image part: 0 bytes is [`ImageInput::Empty`] (the contract's
/// `NO_REFERENCE_IMAGE`); anything else must decode as JPEG, PNG, WebP or TIFF within
/// `limits`, with its EXIF orientation applied. A JPEG whose longer side is at least
/// twice [`facematch_imageio::MIN_REDUCED_LONG_SIDE`] is decoded reduced
/// ([`ImageInput::Reduced`]).
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
    let decoded = decode_reduced(bytes, limits, Reduction::DEFAULT, before_pixels)?;
    Ok(match decoded.scale {
        1 => ImageInput::Image(decoded.rgb),
        scale => ImageInput::Reduced {
            image: decoded.rgb,
            scale,
        },
    })
}

impl ImageInput {
    /// The pixels to analyse and the factor from them to the upload's pixels (1 at full
    /// size); `None` for an empty part.
    pub fn pixels(&self) -> Option<(&RgbImage, u32)> {
        match self {
            ImageInput::Image(image) => Some((image, 1)),
            ImageInput::Reduced { image, scale } => Some((image, *scale)),
            ImageInput::Empty => None,
        }
    }
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
