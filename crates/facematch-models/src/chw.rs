//! Images → planar (CHW) float tensors: the one packer every model input goes
//! through, and the one place a model run's failure becomes a describer error.

use facematch_core::PipelineError;
use facematch_engine::{EngineError, InferenceModel, Tensor};
use image::RgbImage;

use crate::error::describer;

/// Which image channel fills each plane of the tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    /// Planes R, G, B.
    Rgb,
    /// Planes B, G, R (models trained on OpenCV input).
    Bgr,
}

impl ChannelOrder {
    /// The image channel (0 = R) of each plane, in plane order.
    fn channels(self) -> [usize; 3] {
        match self {
            ChannelOrder::Rgb => [0, 1, 2],
            ChannelOrder::Bgr => [2, 1, 0],
        }
    }
}

/// How 8-bit RGB pixels become a model's float planes: value `v` of channel `c` (R, G,
/// B) becomes `(v − mean[c]) / std[c]`, and the planes are stacked in `order`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChwFormat {
    /// Plane order.
    pub order: ChannelOrder,
    /// Subtracted from each channel (R, G, B).
    pub mean: [f32; 3],
    /// Each channel is divided by this after the mean is subtracted (R, G, B).
    pub std: [f32; 3],
}

impl ChwFormat {
    /// Raw 0–255 values, RGB planes (dlib's ResNet, face-api.js's age net).
    pub const RAW_RGB: ChwFormat = ChwFormat {
        order: ChannelOrder::Rgb,
        mean: [0.0; 3],
        std: [1.0; 3],
    };

    /// Raw 0–255 values, BGR planes (YuNet).
    pub const RAW_BGR: ChwFormat = ChwFormat {
        order: ChannelOrder::Bgr,
        ..ChwFormat::RAW_RGB
    };

    /// dlib's age and gender nets: RGB planes, `(v − mean) / 256` with the channel means
    /// of the models' `manifest.json`.
    pub const DLIB_ATTRIBUTES: ChwFormat = ChwFormat {
        order: ChannelOrder::Rgb,
        mean: [122.782, 117.001, 104.298],
        std: [256.0; 3],
    };

    /// ArcFace recognizers: `(v − 127.5) / 127.5` in planes of `order`.
    pub const fn arcface(order: ChannelOrder) -> ChwFormat {
        ChwFormat {
            order,
            mean: [127.5; 3],
            std: [127.5; 3],
        }
    }

    /// Each plane's value of every 8-bit level, computed with the very expression the
    /// format names, so a lookup gives the same bits as computing it per pixel.
    fn tables(&self) -> [[f32; 256]; 3] {
        let channels = self.order.channels();
        std::array::from_fn(|plane| {
            let c = channels[plane];
            std::array::from_fn(|v| (f32::from(v as u8) - self.mean[c]) / self.std[c])
        })
    }

    /// The planes of `image`: `3 × height × width` values.
    pub fn pack(&self, image: &RgbImage) -> Vec<f32> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let mut data = vec![0f32; 3 * w * h];
        self.pack_into(image, &mut data, (w, h), (0, 0));
        data
    }

    /// Writes `image` into `canvas`, three planes of `size` = (width, height), with its
    /// top-left pixel at `offset` = (x, y); the rest of the canvas is left as it is.
    /// The part of the image that falls outside the canvas is dropped.
    pub fn pack_into(
        &self,
        image: &RgbImage,
        canvas: &mut [f32],
        size: (usize, usize),
        offset: (usize, usize),
    ) {
        let (cw, ch) = size;
        let plane = cw * ch;
        if canvas.len() < 3 * plane {
            return;
        }
        let tables = self.tables();
        let channels = self.order.channels();
        let cols = cw.saturating_sub(offset.0);
        for (y, row) in image.rows().enumerate().take(ch.saturating_sub(offset.1)) {
            let base = (y + offset.1) * cw + offset.0;
            for (x, p) in row.enumerate().take(cols) {
                for (k, table) in tables.iter().enumerate() {
                    canvas[k * plane + base + x] = table[usize::from(p[channels[k]])];
                }
            }
        }
    }

    /// One N×3×H×W tensor of same-sized `chips`.
    pub fn batch(&self, chips: &[&RgbImage]) -> Result<Tensor, EngineError> {
        let (w, h) = chips.first().map_or((0, 0), |c| c.dimensions());
        if chips.iter().any(|c| c.dimensions() != (w, h)) {
            return Err(EngineError::BadOutput(
                "the chips of one batch differ in size".into(),
            ));
        }
        let (w, h) = (w as usize, h as usize);
        let mut data = vec![0f32; chips.len() * 3 * w * h];
        for (chip, out) in chips.iter().zip(data.chunks_mut(3 * w * h)) {
            self.pack_into(chip, out, (w, h), (0, 0));
        }
        Tensor::new(vec![chips.len(), 3, h, w], data)
    }
}

/// Runs `model` on a batch of same-sized `chips` packed in `format`; a failure is a
/// describer error.
pub(crate) fn run_chips(
    model: &dyn InferenceModel,
    format: &ChwFormat,
    chips: &[&RgbImage],
) -> Result<Vec<Tensor>, PipelineError> {
    let input = format.batch(chips).map_err(describer)?;
    model.run(&input).map_err(describer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn the_lookup_is_bitwise_the_per_pixel_expression() {
        for format in [
            ChwFormat::RAW_RGB,
            ChwFormat::DLIB_ATTRIBUTES,
            ChwFormat::arcface(ChannelOrder::Bgr),
        ] {
            let tables = format.tables();
            let channels = format.order.channels();
            for (k, table) in tables.iter().enumerate() {
                let c = channels[k];
                for v in 0..=255u8 {
                    let direct = (f32::from(v) - format.mean[c]) / format.std[c];
                    assert_eq!(table[usize::from(v)].to_bits(), direct.to_bits());
                }
            }
        }
        // Raw values are the pixel values themselves.
        assert_eq!(ChwFormat::RAW_RGB.tables()[0][200], 200.0);
    }

    #[test]
    fn planes_follow_the_channel_order_and_the_offset() {
        let img = RgbImage::from_pixel(2, 1, Rgb([10, 20, 30]));
        assert_eq!(
            ChwFormat::RAW_RGB.pack(&img),
            [10.0, 10.0, 20.0, 20.0, 30.0, 30.0]
        );
        assert_eq!(
            ChwFormat::RAW_BGR.pack(&img),
            [30.0, 30.0, 20.0, 20.0, 10.0, 10.0]
        );
        // Placed at (1, 1) on a 3×2 canvas: the rest stays zero, the overhang is dropped.
        let mut canvas = vec![0f32; 3 * 6];
        ChwFormat::RAW_RGB.pack_into(&img, &mut canvas, (3, 2), (1, 1));
        assert_eq!(&canvas[..6], &[0.0, 0.0, 0.0, 0.0, 10.0, 10.0]);
        assert_eq!(&canvas[12..], &[0.0, 0.0, 0.0, 0.0, 30.0, 30.0]);
        let mut small = vec![0f32; 3];
        ChwFormat::RAW_RGB.pack_into(&img, &mut small, (1, 1), (0, 0));
        assert_eq!(small, [10.0, 20.0, 30.0]);
    }

    #[test]
    fn a_batch_stacks_same_sized_chips() {
        let a = RgbImage::from_pixel(2, 2, Rgb([1, 2, 3]));
        let b = RgbImage::from_pixel(2, 2, Rgb([4, 5, 6]));
        let t = ChwFormat::RAW_RGB.batch(&[&a, &b]).expect("batch");
        assert_eq!(t.shape, [2, 3, 2, 2]);
        assert_eq!(&t.data[12..16], &[4.0; 4]);
        let odd = RgbImage::new(3, 2);
        let err = ChwFormat::RAW_RGB
            .batch(&[&a, &odd])
            .expect_err("chips of two sizes batched");
        assert!(
            matches!(&err, EngineError::BadOutput(m) if m == "the chips of one batch differ in size"),
            "{err:?}"
        );
    }
}
