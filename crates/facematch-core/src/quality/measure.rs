//! The photometric measures of a face: the luminance of the inner face window of the
//! aligned ArcFace crop (eyes, nose and mouth; little background or hair), and its
//! sharpness, brightness and contrast.

use image::RgbImage;

use crate::align::{Similarity, ARCFACE_TEMPLATE_112};
use crate::geometry::Point;

/// The inner face window in 112×112 ArcFace crop coordinates: `x` from 26 to 86,
/// `y` from 38 to 102 — from just outside the eyes (at x 38 and 74, y 52) to just
/// below the mouth (y 92), so the measures see the face, not the background.
pub(super) const WINDOW: (u32, u32, u32, u32) = (26, 38, 60, 64);

/// At most this many samples per crop pixel along each axis when the face is larger
/// than the crop: an area average (box filter) of up to 2×2 bilinear samples, so a
/// large face is less aliased (JPEG noise would read as detail; each sample already
/// averages 2×2 pixels) while the cost stays bounded (60·64·4 samples, about 0.1 ms)
/// whatever the face's size. Measured: the 4096-px hopper fixture (80 px → 640 px
/// between the eyes) reads within 1 point of the 512-px one.
const MAX_SUPERSAMPLES: u32 = 2;

/// Floor added to the mean luminance when sharpness is normalised by it (grey
/// levels): the normalisation makes sharpness independent of exposure (a face
/// darkened ×0.25 keeps its sharpness, and reads "too dark", not "blurred"), the
/// floor keeps the noise of a nearly black window from reading as detail.
const MEAN_FLOOR: f64 = 10.0;

/// Normalised Laplacian energy that maps to sharpness 63 (`1 − 1/e`) on the
/// saturating curve `100·(1 − exp(−x / SHARPNESS_SCALE))`. Chosen so the range
/// spreads: 31 LFW deepfunneled faces read sharpness 39–74 (10th–90th percentile)
/// as they are and 9.5–18 after a σ = 3 Gaussian blur.
const SHARPNESS_SCALE: f64 = 0.1;

/// The luminance (Rec. 601 weights, 0–255) of the inner face window, row by row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Window {
    /// Width in crop pixels.
    pub width: usize,
    /// Height in crop pixels.
    pub height: usize,
    /// `width × height` luminance values.
    pub luma: Vec<f64>,
}

/// Rec. 601 luminance of the pixel at `(x, y)`, 0 (black) outside the image.
#[inline]
fn luma_at(raw: &[u8], w: i64, h: i64, x: i64, y: i64) -> f32 {
    if x < 0 || y < 0 || x >= w || y >= h {
        return 0.0;
    }
    // In range: checked just above; `raw` holds `w × h` RGB pixels.
    let i = ((y * w + x) * 3) as usize;
    match raw.get(i..i + 3) {
        Some(&[r, g, b]) => 0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b),
        _ => 0.0,
    }
}

/// Bilinear luminance at `(x, y)` (pixel centres at integer coordinates, black
/// outside the image, as [`crate::align::sample_bilinear`]).
#[inline]
fn luma_bilinear(raw: &[u8], w: i64, h: i64, x: f64, y: f64) -> f32 {
    if !(x > -1.0 && y > -1.0 && x < w as f64 && y < h as f64) {
        return 0.0;
    }
    // Floor without a libm call: both are above −1 here.
    let (xi, yi) = ((x + 1.0) as i64 - 1, (y + 1.0) as i64 - 1);
    let (fx, fy) = ((x - xi as f64) as f32, (y - yi as f64) as f32);
    let luma =
        |p: &[u8]| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
    if xi >= 0 && yi >= 0 && xi + 1 < w && yi + 1 < h {
        // Fast path: all four pixels inside; two 2-pixel runs of the buffer.
        let i = ((yi * w + xi) * 3) as usize;
        let j = i + (w * 3) as usize;
        if let (Some(t), Some(b)) = (raw.get(i..i + 6), raw.get(j..j + 6)) {
            let top = luma(&t[..3]) * (1.0 - fx) + luma(&t[3..]) * fx;
            let bottom = luma(&b[..3]) * (1.0 - fx) + luma(&b[3..]) * fx;
            return top * (1.0 - fy) + bottom * fy;
        }
    }
    let top = luma_at(raw, w, h, xi, yi) * (1.0 - fx) + luma_at(raw, w, h, xi + 1, yi) * fx;
    let bottom =
        luma_at(raw, w, h, xi, yi + 1) * (1.0 - fx) + luma_at(raw, w, h, xi + 1, yi + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Cuts the inner face window of the aligned crop out of `image`, area-averaging
/// when the face is larger than the crop. Degenerate landmarks give a black window.
pub(crate) fn face_window(image: &RgbImage, landmarks: &[Point; 5]) -> Window {
    let (x0, y0, w, h) = WINDOW;
    let mut luma = vec![0.0; (w * h) as usize];
    let inv = Similarity::estimate(landmarks, &ARCFACE_TEMPLATE_112).and_then(|t| t.inverse());
    if let Some(inv) = inv {
        let (iw, ih, raw) = (
            i64::from(image.width()),
            i64::from(image.height()),
            image.as_raw().as_slice(),
        );
        // Source pixels per crop pixel, rounded up (a quarter pixel of slack, so a
        // face at the crop's own scale takes one sample), capped.
        let n = (inv.scale() - 0.25)
            .ceil()
            .clamp(1.0, f64::from(MAX_SUPERSAMPLES)) as u32;
        let offsets: Vec<f64> = (0..n)
            .map(|i| (f64::from(i) + 0.5) / f64::from(n) - 0.5)
            .collect();
        let per = 1.0 / f64::from(n * n);
        for (i, v) in luma.iter_mut().enumerate() {
            let cx = f64::from(x0) + f64::from(i as u32 % w);
            let cy = f64::from(y0) + f64::from(i as u32 / w);
            let mut sum = 0.0_f32;
            for dy in &offsets {
                for dx in &offsets {
                    let (sx, sy) = inv.apply_xy(cx + dx, cy + dy);
                    sum += luma_bilinear(raw, iw, ih, sx, sy);
                }
            }
            *v = f64::from(sum) * per;
        }
    }
    Window {
        width: w as usize,
        height: h as usize,
        luma,
    }
}

/// The photometric measures of a window, unrounded, each 0–100.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Measures {
    /// `100·(1 − exp(−e / SHARPNESS_SCALE))`, `e` the RMS of the 4-neighbour
    /// Laplacian over (mean luminance + `MEAN_FLOOR`).
    pub sharpness: f64,
    /// Mean luminance × 100 / 255.
    pub brightness: f64,
    /// (95th − 5th percentile of luminance) × 100 / 255.
    pub contrast: f64,
}

impl Measures {
    /// Measures `window`.
    pub(crate) fn of(window: &Window) -> Self {
        let (w, h, l) = (window.width, window.height, &window.luma);
        let n = l.len().max(1) as f64;
        let mean = l.iter().sum::<f64>() / n;
        let (mut lap2, mut count) = (0.0, 0.0);
        for y in 1..h.saturating_sub(1) {
            for x in 1..w.saturating_sub(1) {
                let i = y * w + x;
                let lap = l[i - 1] + l[i + 1] + l[i - w] + l[i + w] - 4.0 * l[i];
                lap2 += lap * lap;
                count += 1.0;
            }
        }
        let energy = if count > 0.0 {
            (lap2 / count).sqrt() / (mean + MEAN_FLOOR)
        } else {
            0.0
        };
        let mut scratch = l.clone();
        let mut pct = |q: f64| {
            if scratch.is_empty() {
                return 0.0;
            }
            let k = ((scratch.len() - 1) as f64 * q).round() as usize;
            *scratch.select_nth_unstable_by(k, f64::total_cmp).1
        };
        let (p5, p95) = (pct(0.05), pct(0.95));
        Self {
            sharpness: 100.0 * (1.0 - (-energy / SHARPNESS_SCALE).exp()),
            brightness: mean * 100.0 / 255.0,
            contrast: (p95 - p5) * 100.0 / 255.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(value: f64) -> Window {
        Window {
            width: 60,
            height: 64,
            luma: vec![value; 60 * 64],
        }
    }

    #[test]
    fn a_flat_grey_patch_has_its_brightness_and_no_contrast_or_sharpness() {
        let m = Measures::of(&flat(128.0));
        assert!((m.brightness - 50.196).abs() < 1e-3, "{m:?}");
        assert_eq!((m.contrast, m.sharpness), (0.0, 0.0));
    }

    #[test]
    fn contrast_is_the_spread_between_the_5th_and_95th_percentiles() {
        let mut w = flat(0.0);
        for (i, v) in w.luma.iter_mut().enumerate() {
            *v = if i % 2 == 0 { 51.0 } else { 204.0 };
        }
        let m = Measures::of(&w);
        assert!((m.contrast - 60.0).abs() < 1e-9, "{m:?}");
        assert!((m.brightness - 50.0).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn the_window_of_a_flat_image_is_flat() {
        let img = RgbImage::from_pixel(200, 200, image::Rgb([128, 128, 128]));
        let lm = ARCFACE_TEMPLATE_112.map(|p| Point::new(p.x + 40.0, p.y + 40.0));
        let w = face_window(&img, &lm);
        assert!(w.luma.iter().all(|v| (v - 128.0).abs() < 1e-9));
    }
}
