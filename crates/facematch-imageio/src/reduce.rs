//! Reduced decoding of large JPEG photos: 1/2, 1/4 or 1/8 of each side, computed in
//! the DCT domain (a smaller inverse DCT per 8×8 block) by the `jpeg-decoder` crate,
//! since the `image` crate's JPEG decoder only decodes at full size. A 12 MP phone
//! photo decoded at 1/2 holds 9 MB of RGB instead of 36 MB, and the face stages look
//! at it at 640 px (detector) and 150 px (recognizer chip) anyway.

use std::io::Cursor;

use image::{DynamicImage, GrayImage, RgbImage};
use jpeg_decoder::PixelFormat;

/// The longer side, in pixels, that a reduced decode keeps at least by default
/// ([`Reduction::DEFAULT`]): a 4000×3000 photo decodes at 1/2 (2000×1500), an 8000 px
/// panorama at 1/4; anything under 4000 px is decoded at full size.
///
/// Why 2000: a face 10 % of the photo's width is then still 200 px wide, above the
/// recognizer's 150 px chip, and its eyes about 80 px apart, far above the 25 px from
/// which face quality stops penalising size. The detector sees the photo at 640 px
/// whatever its size, so it finds the same faces.
pub const MIN_REDUCED_LONG_SIDE: u32 = 2000;

/// How far [`decode_reduced`](crate::decode_reduced) may reduce a large JPEG while
/// decoding it. Other formats are always decoded at full size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// Always full size.
    #[default]
    Never,
    /// The largest of 1/2, 1/4 and 1/8 that keeps the longer side at least this many
    /// pixels; full size when even 1/2 would go under it.
    KeepLongSide(u32),
}

impl Reduction {
    /// Keep the longer side at least [`MIN_REDUCED_LONG_SIDE`] pixels.
    pub const DEFAULT: Reduction = Reduction::KeepLongSide(MIN_REDUCED_LONG_SIDE);

    /// The divisor (1, 2, 4 or 8) for an image of `width` × `height` as stored.
    pub fn factor(self, width: u32, height: u32) -> u32 {
        let Reduction::KeepLongSide(min) = self else {
            return 1;
        };
        let long = width.max(height);
        [8, 4, 2]
            .into_iter()
            .find(|f| long / f >= min.max(1))
            .unwrap_or(1)
    }
}

/// Decodes the JPEG `bytes` (`width` × `height` as its header says, already checked
/// against the limits and for completeness) at 1/`factor` of each side. `None` when
/// this decoder cannot do it the way the full decode would (CMYK or 16-bit samples,
/// sides beyond 65535, a header read differently) or refuses the file: the caller then
/// decodes at full size, so that a damaged file gets the full decoder's answer.
pub(crate) fn decode_jpeg(
    bytes: &[u8],
    (width, height): (u32, u32),
    factor: u32,
    max_alloc: u64,
) -> Option<DynamicImage> {
    let (Ok(w), Ok(h)) = (u16::try_from(width), u16::try_from(height)) else {
        return None;
    };
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(usize::try_from(max_alloc).unwrap_or(usize::MAX));
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    if (info.width, info.height) != (w, h)
        || !matches!(info.pixel_format, PixelFormat::L8 | PixelFormat::RGB24)
    {
        return None;
    }
    let divided = |side: u16| side.div_ceil(factor.clamp(1, 8) as u16);
    let (out_w, out_h) = decoder.scale(divided(w), divided(h)).ok()?;
    let pixels = decoder.decode().ok()?;
    let (out_w, out_h) = (u32::from(out_w), u32::from(out_h));
    match info.pixel_format {
        PixelFormat::L8 => GrayImage::from_raw(out_w, out_h, pixels).map(DynamicImage::from),
        _ => RgbImage::from_raw(out_w, out_h, pixels).map(DynamicImage::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_factor_keeps_the_longer_side() {
        let keep = Reduction::DEFAULT;
        assert_eq!(keep.factor(4000, 3000), 2);
        assert_eq!(keep.factor(3000, 4000), 2);
        assert_eq!(keep.factor(3999, 3000), 1);
        assert_eq!(keep.factor(8000, 6000), 4);
        assert_eq!(keep.factor(16000, 100), 8);
        assert_eq!(keep.factor(20000, 20000), 8);
        assert_eq!(keep.factor(640, 480), 1);
        assert_eq!(Reduction::Never.factor(20000, 20000), 1);
        assert_eq!(Reduction::KeepLongSide(0).factor(8, 8), 8);
    }
}
