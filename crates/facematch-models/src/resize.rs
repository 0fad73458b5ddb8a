//! Image resizing for model inputs.

use image::imageops::FilterType;
use image::RgbImage;

/// Resizes to exactly `width` × `height` with a triangle (bilinear) filter, which
/// averages over the source footprint when shrinking, so downscaled faces keep detail
/// without aliasing.
pub fn resize_rgb(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    if image.dimensions() == (width, height) {
        return image.clone();
    }
    image::imageops::resize(image, width, height, FilterType::Triangle)
}
