//! Face alignment: a 4-DoF similarity transform (scale, rotation, translation) fitted
//! by least squares from the detector's five landmarks onto a template, and a bilinear
//! warp that cuts the aligned face chip out of the image.
//!
//! In 2-D the least-squares similarity (Umeyama's method without reflection) has a
//! closed form: treat points as complex numbers, centre both sets, and the rotation ×
//! scale is `Σ conj(s)·d / Σ |s|²`. This is what InsightFace's `estimate_norm`
//! (scikit-image `SimilarityTransform.estimate`) computes for ArcFace models.

use image::{Rgb, RgbImage};

use crate::geometry::Point;

/// The standard ArcFace 112×112 template, in YuNet's landmark order: right eye (on
/// the image's left), left eye, nose tip, right mouth corner, left mouth corner.
pub const ARCFACE_TEMPLATE_112: [Point; 5] = [
    Point::new(38.2946, 51.6963),
    Point::new(73.5318, 51.5014),
    Point::new(56.0252, 71.7366),
    Point::new(41.5493, 92.3655),
    Point::new(70.7299, 92.2041),
];

/// `p ↦ (a·x − b·y + tx, b·x + a·y + ty)`: scale `√(a² + b²)`, rotation `atan2(b, a)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Scale × cos(angle).
    pub a: f64,
    /// Scale × sin(angle).
    pub b: f64,
    /// Horizontal translation.
    pub tx: f64,
    /// Vertical translation.
    pub ty: f64,
}

impl Similarity {
    /// The transform of scale `scale`, rotation `angle` (radians, clockwise on screen
    /// because y grows downwards) and translation `(tx, ty)`.
    pub fn from_parts(scale: f64, angle: f64, tx: f64, ty: f64) -> Self {
        Self {
            a: scale * angle.cos(),
            b: scale * angle.sin(),
            tx,
            ty,
        }
    }

    /// The image of `(x, y)`.
    pub fn apply_xy(&self, x: f64, y: f64) -> (f64, f64) {
        (
            self.a * x - self.b * y + self.tx,
            self.b * x + self.a * y + self.ty,
        )
    }

    /// The image of a point.
    pub fn apply(&self, p: Point) -> Point {
        let (x, y) = self.apply_xy(f64::from(p.x), f64::from(p.y));
        Point::new(x as f32, y as f32)
    }

    /// The scale factor.
    pub fn scale(&self) -> f64 {
        self.a.hypot(self.b)
    }

    /// The inverse transform; `None` when the scale is zero or not finite.
    pub fn inverse(&self) -> Option<Self> {
        let n = self.a * self.a + self.b * self.b;
        if n == 0.0 || !n.is_finite() {
            return None;
        }
        // The inverse of z ↦ m·z + t is z ↦ conj(m)/|m|² · (z − t).
        let (a, b) = (self.a / n, -self.b / n);
        Some(Self {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }

    /// The least-squares similarity that maps `src` onto `dst` (same length, at least
    /// two points). `None` when the lengths differ, a coordinate is not finite, or the
    /// source points all coincide (no scale or rotation can be measured).
    pub fn estimate(src: &[Point], dst: &[Point]) -> Option<Self> {
        if src.len() != dst.len() || src.len() < 2 {
            return None;
        }
        let finite = |p: &Point| p.x.is_finite() && p.y.is_finite();
        if !src.iter().chain(dst).all(finite) {
            return None;
        }
        let n = src.len() as f64;
        let mean = |pts: &[Point]| {
            let (sx, sy) = pts.iter().fold((0.0, 0.0), |(sx, sy), p| {
                (sx + f64::from(p.x), sy + f64::from(p.y))
            });
            (sx / n, sy / n)
        };
        let (smx, smy) = mean(src);
        let (dmx, dmy) = mean(dst);
        let (mut num_a, mut num_b, mut den) = (0.0, 0.0, 0.0);
        for (s, d) in src.iter().zip(dst) {
            let (sx, sy) = (f64::from(s.x) - smx, f64::from(s.y) - smy);
            let (dx, dy) = (f64::from(d.x) - dmx, f64::from(d.y) - dmy);
            num_a += sx * dx + sy * dy;
            num_b += sx * dy - sy * dx;
            den += sx * sx + sy * sy;
        }
        // Relative to the spread of the points, not an absolute epsilon: landmarks
        // of a 10-pixel face are as valid as those of a 1000-pixel one.
        if den <= f64::EPSILON * (smx * smx + smy * smy).max(1.0) {
            return None;
        }
        let (a, b) = (num_a / den, num_b / den);
        Some(Self {
            a,
            b,
            tx: dmx - (a * smx - b * smy),
            ty: dmy - (b * smx + a * smy),
        })
    }
}

/// Cuts a `width × height` chip out of `image`: output pixel `(x, y)` is the bilinear
/// sample of `image` at `to_chip⁻¹(x, y)` (pixel centres at integer coordinates, as
/// OpenCV's `warpAffine`), black outside the image. A degenerate transform gives a
/// black chip.
pub fn warp_similarity(
    image: &RgbImage,
    to_chip: &Similarity,
    width: u32,
    height: u32,
) -> RgbImage {
    let mut out = RgbImage::new(width, height);
    let Some(inv) = to_chip.inverse() else {
        return out;
    };
    for (x, y, px) in out.enumerate_pixels_mut() {
        let (sx, sy) = inv.apply_xy(f64::from(x), f64::from(y));
        *px = sample_bilinear(image, sx, sy);
    }
    out
}

/// Bilinear sample at `(x, y)`; pixels outside the image count as black (OpenCV's
/// constant border), so the chip fades to black at the image edge.
pub fn sample_bilinear(image: &RgbImage, x: f64, y: f64) -> Rgb<u8> {
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    if !x.is_finite() || !y.is_finite() || x <= -1.0 || y <= -1.0 || x >= w as f64 || y >= h as f64
    {
        return Rgb([0, 0, 0]);
    }
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let at = |xi: i64, yi: i64| -> [f64; 3] {
        if xi < 0 || yi < 0 || xi >= w || yi >= h {
            [0.0; 3]
        } else {
            // In range: checked just above.
            let p = image.get_pixel(xi as u32, yi as u32);
            [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])]
        }
    };
    let (p00, p10, p01, p11) = (
        at(x0, y0),
        at(x0 + 1, y0),
        at(x0, y0 + 1),
        at(x0 + 1, y0 + 1),
    );
    let mut out = [0u8; 3];
    for c in 0..3 {
        let top = p00[c] * (1.0 - fx) + p10[c] * fx;
        let bottom = p01[c] * (1.0 - fx) + p11[c] * fx;
        out[c] = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

/// The ArcFace chip (`side × side`, template scaled from 112) of a face with five
/// landmarks in YuNet's order; `None` when the landmarks are degenerate.
pub fn arcface_chip(image: &RgbImage, landmarks: &[Point; 5], side: u32) -> Option<RgbImage> {
    let k = side as f32 / 112.0;
    let template = ARCFACE_TEMPLATE_112.map(|p| Point::new(p.x * k, p.y * k));
    let t = Similarity::estimate(landmarks, &template)?;
    Some(warp_similarity(image, &t, side, side))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn synthetic_transforms_are_recovered_exactly() {
        for (scale, angle, tx, ty) in [
            (1.0, 0.0, 0.0, 0.0),
            (0.37, 0.3, 12.5, -40.0),
            (2.5, -1.2, 300.0, 7.0),
            (0.05, 3.0, -1.0, 1000.0),
            (1.7, std::f64::consts::FRAC_PI_2, 0.0, 0.0),
        ] {
            let t = Similarity::from_parts(scale, angle, tx, ty);
            let dst = ARCFACE_TEMPLATE_112.map(|p| t.apply(p));
            let est = Similarity::estimate(&ARCFACE_TEMPLATE_112, &dst).expect("estimable");
            let tol = 1e-4 * (1.0 + tx.abs().max(ty.abs()));
            assert!(close(est.a, t.a, 1e-5), "{est:?} vs {t:?}");
            assert!(close(est.b, t.b, 1e-5), "{est:?} vs {t:?}");
            assert!(close(est.tx, t.tx, tol), "{est:?} vs {t:?}");
            assert!(close(est.ty, t.ty, tol), "{est:?} vs {t:?}");
            assert!(close(est.scale(), scale, 1e-5));
        }
    }

    #[test]
    fn least_squares_averages_noise_and_ignores_no_point() {
        // Move one point: the fit changes, but less than the move, and stays a
        // similarity (the other four points are nearly where they were).
        let mut dst = ARCFACE_TEMPLATE_112;
        dst[2].x += 4.0;
        let est = Similarity::estimate(&ARCFACE_TEMPLATE_112, &dst).expect("estimable");
        let moved = est.apply(ARCFACE_TEMPLATE_112[2]);
        assert!(moved.x > ARCFACE_TEMPLATE_112[2].x && moved.x < dst[2].x);
        // The mean of the residuals is zero for a least-squares fit with translation.
        let (mut rx, mut ry) = (0.0f64, 0.0f64);
        for (s, d) in ARCFACE_TEMPLATE_112.iter().zip(&dst) {
            let p = est.apply(*s);
            rx += f64::from(d.x - p.x);
            ry += f64::from(d.y - p.y);
        }
        assert!(rx.abs() < 1e-3 && ry.abs() < 1e-3, "{rx} {ry}");
    }

    #[test]
    fn inverse_round_trips() {
        let t = Similarity::from_parts(0.8, 0.7, -15.0, 22.0);
        let inv = t.inverse().expect("invertible");
        for p in ARCFACE_TEMPLATE_112 {
            let back = inv.apply(t.apply(p));
            assert!((back.x - p.x).abs() < 1e-4 && (back.y - p.y).abs() < 1e-4);
        }
        let id =
            Similarity::estimate(&ARCFACE_TEMPLATE_112, &ARCFACE_TEMPLATE_112).expect("estimable");
        assert!(close(id.a, 1.0, 1e-9) && close(id.b, 0.0, 1e-9));
        assert!(Similarity::from_parts(0.0, 0.0, 1.0, 1.0)
            .inverse()
            .is_none());
    }

    #[test]
    fn degenerate_inputs_are_refused() {
        let same = [Point::new(5.0, 5.0); 5];
        assert!(Similarity::estimate(&same, &ARCFACE_TEMPLATE_112).is_none());
        assert!(Similarity::estimate(&ARCFACE_TEMPLATE_112[..3], &ARCFACE_TEMPLATE_112).is_none());
        let mut nan = ARCFACE_TEMPLATE_112;
        nan[0].x = f32::NAN;
        assert!(Similarity::estimate(&nan, &ARCFACE_TEMPLATE_112).is_none());
        assert!(arcface_chip(&RgbImage::new(10, 10), &same, 112).is_none());
    }

    /// A smooth pattern whose bilinear samples are exactly its values in between.
    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x * 2) as u8, (y * 3) as u8, 100]))
    }

    #[test]
    fn warp_then_unwarp_round_trips_the_image() {
        let img = gradient(100, 80);
        // Scale 1 and a pure translation by whole pixels: the chip is an exact crop.
        let t = Similarity::from_parts(1.0, 0.0, -10.0, -20.0);
        let chip = warp_similarity(&img, &t, 40, 30);
        for (x, y, p) in chip.enumerate_pixels() {
            assert_eq!(p, img.get_pixel(x + 10, y + 20));
        }
        // Rotate by 90° and back: pixels land on pixels, so the round trip is exact
        // where both warps stay inside the images.
        let r = Similarity::from_parts(1.0, std::f64::consts::FRAC_PI_2, 79.0, 0.0);
        let turned = warp_similarity(&img, &r, 80, 100);
        let back = warp_similarity(&turned, &r.inverse().expect("invertible"), 100, 80);
        assert_eq!(back, img);
        // Upscaling a linear gradient by 2 samples its values half-way between pixels.
        let s = Similarity::from_parts(2.0, 0.0, 0.0, 0.0);
        let big = warp_similarity(&img, &s, 20, 20);
        assert_eq!(big.get_pixel(1, 0)[0], 1); // x = 0.5 → (0 + 2) / 2
        assert_eq!(big.get_pixel(0, 3)[1], 5); // y = 1.5 → (3 + 6) / 2 = 4.5 → 5
                                               // Outside the source the chip is black.
        let off = Similarity::from_parts(1.0, 0.0, 500.0, 0.0);
        assert!(warp_similarity(&img, &off, 4, 4)
            .pixels()
            .all(|p| p.0 == [0, 0, 0]));
    }

    #[test]
    fn arcface_chip_puts_the_landmarks_on_the_template() {
        // Draw five white dots where a rotated, scaled face would have its landmarks,
        // then check the chip has them at the template positions.
        let t = Similarity::from_parts(2.2, 0.4, 60.0, 30.0);
        let landmarks = ARCFACE_TEMPLATE_112.map(|p| t.apply(p));
        let mut img = RgbImage::new(400, 400);
        for p in landmarks {
            for dy in -2..=2 {
                for dx in -2..=2 {
                    let (x, y) = (
                        (p.x.round() as i32 + dx) as u32,
                        (p.y.round() as i32 + dy) as u32,
                    );
                    img.put_pixel(x, y, Rgb([255, 255, 255]));
                }
            }
        }
        let chip = arcface_chip(&img, &landmarks, 112).expect("chip");
        assert_eq!(chip.dimensions(), (112, 112));
        for p in ARCFACE_TEMPLATE_112 {
            let v = chip.get_pixel(p.x.round() as u32, p.y.round() as u32)[0];
            assert!(v > 200, "landmark at {p:?} is {v}");
        }
        // Far from every landmark the chip is black.
        assert_eq!(chip.get_pixel(5, 5)[0], 0);
    }
}
