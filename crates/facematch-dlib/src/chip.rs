//! Face-chip alignment as dlib does it: `get_face_chip_details` (5-point variant) and
//! `extract_image_chip` from `dlib/image_transforms/interpolation.h`.
//!
//! A chip is described by a (possibly fractional) source rectangle, a rotation angle
//! around its center and an output size. When the chip is much smaller than the source
//! region, dlib first halves the region with its `pyramid_down<2>` (5-tap binomial
//! filter, integer arithmetic) until bilinear sampling no longer skips pixels, then
//! samples the chosen level bilinearly. Samples whose 2×2 neighbourhood leaves the
//! (cropped) source are black. All of this, including dlib's crop to a grown bounding box
//! of the rotated chip and the truncating float→u8 conversion, is reproduced here.

use image::RgbImage;

use crate::geometry::{find_similarity_transform, rotate_point, DRect, Point2};

/// Mean positions of dlib's 5 landmarks in a unit face square (dlib's template for
/// `get_face_chip_details`), in the shape predictor's part order.
pub const FACE_TEMPLATE_5: [Point2; 5] = [
    Point2::new(0.8595674595992, 0.2134981538014),
    Point2::new(0.6460604764104, 0.2289674387677),
    Point2::new(0.1205750620789, 0.2137274526848),
    Point2::new(0.3340850613712, 0.2290642403242),
    Point2::new(0.4901123135679, 0.6277975316475),
];

/// Where and how to cut a chip out of an image (dlib's `chip_details`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipDetails {
    /// Source region before rotation (inclusive `drectangle`).
    pub rect: DRect,
    /// Rotation of the region around its center, in radians.
    pub angle: f64,
    /// Output height in pixels.
    pub rows: u32,
    /// Output width in pixels.
    pub cols: u32,
}

impl ChipDetails {
    /// dlib's constructor from point correspondences: fits the similarity transform taking
    /// `chip_points` (in chip pixels) to `img_points`, then expresses it as a rotated
    /// rectangle of the source.
    pub fn from_points(
        chip_points: &[Point2],
        img_points: &[Point2],
        rows: u32,
        cols: u32,
    ) -> Self {
        let tform = find_similarity_transform(chip_points, img_points);
        // Image of the unit x vector: its direction is the rotation, its length the scale.
        let (px, py) = (tform.m[0][0], tform.m[1][0]);
        let angle = py.atan2(px);
        let scale = (px * px + py * py).sqrt();
        let center = tform.apply(Point2::new(f64::from(cols) / 2.0, f64::from(rows) / 2.0));
        let rect = DRect::centered(center, f64::from(cols) * scale, f64::from(rows) * scale);
        Self {
            rect,
            angle,
            rows,
            cols,
        }
    }

    /// `rows * cols`, the chip's pixel count.
    pub fn size(&self) -> f64 {
        f64::from(self.rows) * f64::from(self.cols)
    }
}

/// dlib's `get_face_chip_details` for a 5-point shape: a `size`×`size` chip where the
/// face template, padded by `padding` (fraction of the face width on each side), maps
/// onto `points` (the shape predictor's output in dlib's part order).
pub fn get_face_chip_details(points: &[Point2; 5], size: u32, padding: f64) -> ChipDetails {
    let s = f64::from(size);
    let chip_points: Vec<Point2> = FACE_TEMPLATE_5
        .iter()
        .map(|p| {
            let x = (padding + p.x) / (2.0 * padding + 1.0);
            let y = (padding + p.y) / (2.0 * padding + 1.0);
            Point2::new(x * s, y * s)
        })
        .collect();
    ChipDetails::from_points(&chip_points, points, size, size)
}

/// A borrowed RGB8 raster: `w`×`h` pixels starting at `data[0]`, rows `stride` bytes
/// apart (so a crop of a larger image needs no copy).
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [u8],
    stride: usize,
    w: usize,
    h: usize,
}

impl View<'_> {
    #[inline]
    fn px(&self, x: usize, y: usize) -> &[u8] {
        let i = y * self.stride + x * 3;
        &self.data[i..i + 3]
    }
}

/// An owned pyramid level.
struct Level {
    data: Vec<u8>,
    w: usize,
    h: usize,
}

impl Level {
    fn view(&self) -> View<'_> {
        View {
            data: &self.data,
            stride: self.w * 3,
            w: self.w,
            h: self.h,
        }
    }
}

/// dlib's `pyramid_down<2>` on RGB: a separable [1 4 6 4 1] filter with integer sums,
/// keeping every other column (starting at the filter centered on column 2) and every
/// other row (centered on rows 2, 4, ...), divided by 256 with truncation. The output is
/// `(h-3)/2` × `(w-3)/2`; images of 8 pixels or fewer on a side give an empty level.
fn pyramid_down(src: View<'_>) -> Level {
    if src.w <= 8 || src.h <= 8 {
        return Level {
            data: Vec::new(),
            w: 0,
            h: 0,
        };
    }
    let tw = (src.w - 3) / 2;
    let oh = (src.h - 3) / 2;
    let row_len = src.w * 3;
    let out_len = tw * 3;
    // The filter is separable and the sums are exact integers, so the vertical pass
    // may come first: on the kept rows only (half the work of filtering every row
    // horizontally first), over whole contiguous rows that the compiler vectorises.
    // A vertical sum is at most 16 × 255 and a whole one 256 × 255: u16 then u32.
    let mut column_sums = vec![0u16; row_len];
    let mut data = vec![0u8; oh * out_len];
    for (dr, out) in data.chunks_exact_mut(out_len).enumerate() {
        let r = 2 * dr;
        let row = |k: usize| &src.data[(r + k) * src.stride..(r + k) * src.stride + row_len];
        let (r0, r1, r2, r3, r4) = (row(0), row(1), row(2), row(3), row(4));
        for (i, t) in column_sums.iter_mut().enumerate() {
            *t = u16::from(r0[i])
                + 4 * u16::from(r1[i])
                + 6 * u16::from(r2[i])
                + 4 * u16::from(r3[i])
                + u16::from(r4[i]);
        }
        for (c, px) in out.chunks_exact_mut(3).enumerate() {
            let o = 2 * c * 3;
            for (ch, v) in px.iter_mut().enumerate() {
                let p = |k: usize| u32::from(column_sums[o + k * 3 + ch]);
                let sum = p(0) + 4 * p(1) + 6 * p(2) + 4 * p(3) + p(4);
                // At most 256 × 255 / 256 = 255, so this never truncates.
                *v = (sum / 256) as u8;
            }
        }
    }
    Level { data, w: tw, h: oh }
}

/// dlib's `pyramid_down<2>::rect_down`: maps a rectangle one level down the pyramid.
fn rect_down(r: &DRect) -> DRect {
    let down = |p: Point2| Point2::new(p.x / 2.0 - 1.25, p.y / 2.0 - 0.75);
    let (a, b) = (down(r.tl()), down(r.br()));
    DRect::new(a.x, a.y, a.x, a.y).include(b)
}

/// dlib's float→`unsigned char` pixel assignment: saturate, then truncate toward zero.
#[inline]
fn to_u8(v: f64) -> u8 {
    if v <= 255.0 {
        if v >= 0.0 {
            v as u8
        } else {
            0
        }
    } else {
        // Also NaN, as dlib's `<=` test fails for it.
        255
    }
}

/// dlib's `interpolate_bilinear` for RGB; `None` when the 2×2 neighbourhood is not
/// entirely inside the view.
#[inline]
fn bilinear(v: &View<'_>, x: f64, y: f64) -> Option<[u8; 3]> {
    if !(x.is_finite() && y.is_finite()) {
        return None;
    }
    let (fl, ft) = (x.floor(), y.floor());
    if fl < 0.0 || ft < 0.0 || fl + 1.0 >= v.w as f64 || ft + 1.0 >= v.h as f64 {
        return None;
    }
    let (left, top) = (fl as usize, ft as usize);
    let lr = x - fl;
    let tb = y - ft;
    let (tl, tr) = (v.px(left, top), v.px(left + 1, top));
    let (bl, br) = (v.px(left, top + 1), v.px(left + 1, top + 1));
    let mut out = [0u8; 3];
    for ch in 0..3 {
        let (a, b) = (f64::from(tl[ch]), f64::from(tr[ch]));
        let (c, d) = (f64::from(bl[ch]), f64::from(br[ch]));
        let val = (1.0 - tb) * ((1.0 - lr) * a + lr * b) + tb * ((1.0 - lr) * c + lr * d);
        out[ch] = to_u8(val);
    }
    Some(out)
}

/// Guard against non-terminating pyramid loops on absurd (infinite) rectangles.
const MAX_PYRAMID_LEVELS: usize = 64;

/// dlib's `extract_image_chip(img, details, chip)` with bilinear interpolation: returns
/// a `details.cols`×`details.rows` RGB chip. Pixels that map outside the source are
/// black. The output size comes from the caller and is allocated as is.
pub fn extract_image_chip(img: &RgbImage, details: &ChipDetails) -> RgbImage {
    let (rows, cols) = (details.rows, details.cols);
    let mut chip = RgbImage::new(cols, rows);
    if rows == 0 || cols == 0 {
        return chip;
    }
    let (iw, ih) = img.dimensions();
    let full = View {
        data: img.as_raw(),
        stride: iw as usize * 3,
        w: iw as usize,
        h: ih as usize,
    };
    let img_rect = DRect::of_image(iw, ih);

    // No rotation or scaling: dlib just copies the (rounded) rectangle.
    if details.angle == 0.0
        && f64::from(rows) == details.rect.height()
        && f64::from(cols) == details.rect.width()
    {
        basic_extract(full, &details.rect.round_dlib(), &mut chip);
        return chip;
    }

    // How deep a pyramid the chip needs and how much border that costs.
    let size = details.size();
    let mut grow = 2.0;
    let mut r = rect_down(&details.rect);
    let mut depth = 0;
    while r.area() > size && depth < MAX_PYRAMID_LEVELS {
        r = rect_down(&r);
        depth += 1;
        grow = grow * 2.0 + 2.0;
    }

    // Crop: bounding box of the rotated chip rectangle, grown, clipped to the image and
    // rounded to whole pixels (dlib's `rectangle += drectangle`).
    let center = details.rect.center();
    let rot = |p: Point2| rotate_point(center, p, details.angle);
    let rot_rect = DRect::EMPTY
        .include(rot(details.rect.tl()))
        .include(rot(details.rect.tr()))
        .include(rot(details.rect.bl()))
        .include(rot(details.rect.br()));
    let bbox = DRect::EMPTY.union(&rot_rect.grow(grow).intersect(&img_rect).round_dlib());

    // sub_image(img, bbox): clipped again, empty when the box is empty.
    let sub_rect = bbox.intersect(&img_rect);
    let sub = if sub_rect.is_empty() {
        View {
            data: &[],
            stride: 0,
            w: 0,
            h: 0,
        }
    } else {
        // Edges are whole numbers inside the image here.
        let (x0, y0) = (sub_rect.left as usize, sub_rect.top as usize);
        View {
            data: &full.data[y0 * full.stride + x0 * 3..],
            stride: full.stride,
            w: sub_rect.width() as usize,
            h: sub_rect.height() as usize,
        }
    };

    // Pick the pyramid level, in coordinates relative to the crop.
    let mut rect = details.rect.translate(-bbox.left, -bbox.top);
    let mut levels_needed = 0usize;
    while rect_down(&rect).area() > size && levels_needed < MAX_PYRAMID_LEVELS {
        levels_needed += 1;
        rect = rect_down(&rect);
    }
    let mut levels: Vec<Level> = Vec::with_capacity(levels_needed);
    for i in 0..levels_needed {
        let next = match levels.last() {
            Some(prev) if i > 0 => pyramid_down(prev.view()),
            _ => pyramid_down(sub),
        };
        levels.push(next);
    }
    let src = levels.last().map_or(sub, Level::view);

    // Affine map from chip pixels to the source: chip corners (0,0), (cols-1,0) and
    // (0,rows-1) go to the rotated rectangle's top-left, top-right and bottom-left.
    let c = rect.center();
    let tl = rotate_point(c, rect.tl(), details.angle);
    let tr = rotate_point(c, rect.tr(), details.angle);
    let bl = rotate_point(c, rect.bl(), details.angle);
    let step = |a: f64, b: f64, n: u32| {
        if n > 1 {
            (b - a) / f64::from(n - 1)
        } else {
            0.0
        }
    };
    let m00 = step(tl.x, tr.x, cols);
    let m10 = step(tl.y, tr.y, cols);
    let m01 = step(tl.x, bl.x, rows);
    let m11 = step(tl.y, bl.y, rows);

    let out = chip.as_mut();
    for yr in 0..rows as usize {
        let fr = yr as f64;
        for xc in 0..cols as usize {
            let fc = xc as f64;
            let x = m00 * fc + m01 * fr + tl.x;
            let y = m10 * fc + m11 * fr + tl.y;
            let i = (yr * cols as usize + xc) * 3;
            // Already zero-initialised: outside samples stay black.
            if let Some(p) = bilinear(&src, x, y) {
                out[i..i + 3].copy_from_slice(&p);
            }
        }
    }
    chip
}

/// dlib's `basic_extract_image_chip`: a plain copy of `location` (integer edges), black
/// where it leaves the image.
fn basic_extract(img: View<'_>, location: &DRect, chip: &mut RgbImage) {
    let (cw, ch) = chip.dimensions();
    for yr in 0..ch {
        let sy = location.top + f64::from(yr);
        if sy < 0.0 || sy >= img.h as f64 {
            continue;
        }
        for xc in 0..cw {
            let sx = location.left + f64::from(xc);
            if sx < 0.0 || sx >= img.w as f64 {
                continue;
            }
            let p = img.px(sx as usize, sy as usize);
            chip.put_pixel(xc, yr, image::Rgb([p[0], p[1], p[2]]));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure
mod tests {
    use super::*;

    #[test]
    fn template_maps_onto_itself() {
        // Points placed exactly at the padded template positions of a 100px chip give an
        // axis-aligned chip whose rectangle is the chip itself.
        let pad = 0.25;
        let pts: Vec<Point2> = FACE_TEMPLATE_5
            .iter()
            .map(|p| {
                Point2::new(
                    (pad + p.x) / (2.0 * pad + 1.0) * 100.0 + 10.0,
                    (pad + p.y) / (2.0 * pad + 1.0) * 100.0 + 20.0,
                )
            })
            .collect();
        let pts: [Point2; 5] = pts.try_into().unwrap();
        let d = get_face_chip_details(&pts, 100, pad);
        assert!(d.angle.abs() < 1e-12);
        assert!((d.rect.left - 10.5).abs() < 1e-9, "{:?}", d.rect);
        assert!((d.rect.width() - 100.0).abs() < 1e-9);
        assert_eq!((d.rows, d.cols), (100, 100));
    }

    /// The filter as dlib writes it (horizontal pass over every row, then vertical),
    /// to check the vertical-first version against.
    fn pyramid_down_reference(src: View<'_>) -> Level {
        let tw = (src.w - 3) / 2;
        let oh = (src.h - 3) / 2;
        let mut temp = vec![0u32; src.h * tw * 3];
        for r in 0..src.h {
            for c in 0..tw {
                for ch in 0..3 {
                    let p = |k: usize| u32::from(src.px(2 * c + k, r)[ch]);
                    temp[(r * tw + c) * 3 + ch] = p(0) + 4 * p(1) + 6 * p(2) + 4 * p(3) + p(4);
                }
            }
        }
        let mut data = vec![0u8; oh * tw * 3];
        for dr in 0..oh {
            for i in 0..tw * 3 {
                let t = |k: usize| temp[(2 * dr + k) * tw * 3 + i];
                data[dr * tw * 3 + i] =
                    ((t(0) + 4 * t(1) + 6 * t(2) + 4 * t(3) + t(4)) / 256) as u8;
            }
        }
        Level { data, w: tw, h: oh }
    }

    #[test]
    fn pyramid_matches_dlibs_order_of_passes_bit_for_bit() {
        // Pseudo-random pixels (a fixed LCG), odd and even sizes, a stride wider than
        // the view, and the saturating all-255 image.
        let mut state = 0x2545_f491_u32;
        for (w, h, stride_px) in [(9, 9, 9), (10, 11, 12), (37, 23, 40), (64, 48, 64)] {
            let img: Vec<u8> = (0..stride_px * h * 3)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect();
            let view = View {
                data: &img,
                stride: stride_px * 3,
                w,
                h,
            };
            let (got, want) = (pyramid_down(view), pyramid_down_reference(view));
            assert_eq!((got.w, got.h), (want.w, want.h), "{w}x{h}");
            assert_eq!(got.data, want.data, "{w}x{h}");
        }
        let white = vec![255u8; 12 * 12 * 3];
        let view = View {
            data: &white,
            stride: 36,
            w: 12,
            h: 12,
        };
        assert!(pyramid_down(view).data.iter().all(|&p| p == 255));
    }

    #[test]
    fn pyramid_sizes_and_constant_image() {
        let img = vec![200u8; 20 * 13 * 3];
        let v = View {
            data: &img,
            stride: 20 * 3,
            w: 20,
            h: 13,
        };
        let l = pyramid_down(v);
        assert_eq!((l.w, l.h), (8, 5));
        assert!(l.data.iter().all(|&p| p == 200));
        let small = pyramid_down(View {
            data: &img,
            stride: 60,
            w: 8,
            h: 8,
        });
        assert_eq!((small.w, small.h), (0, 0));
    }

    #[test]
    fn chip_identity_copy_and_outside_is_black() {
        let mut img = RgbImage::new(10, 10);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([x as u8 * 10, y as u8 * 10, 7]);
        }
        // Unrotated, unscaled: plain copy, black outside.
        let d = ChipDetails {
            rect: DRect::new(-2.0, 3.0, 5.0, 6.0),
            angle: 0.0,
            rows: 4,
            cols: 8,
        };
        let chip = extract_image_chip(&img, &d);
        assert_eq!(chip.dimensions(), (8, 4));
        assert_eq!(chip.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(chip.get_pixel(2, 0).0, [0, 30, 7]);
        // A scaled version samples bilinearly: half-pixel positions average neighbours.
        let d = ChipDetails {
            rect: DRect::new(1.0, 1.0, 5.0, 5.0),
            angle: 0.0,
            rows: 9,
            cols: 9,
        };
        let chip = extract_image_chip(&img, &d);
        assert_eq!(chip.get_pixel(1, 0).0, [15, 10, 7]);
        // Degenerate regions give a chip of the asked size, black where nothing of
        // the source can be sampled (an infinite region maps every sample to NaN/∞).
        let d = ChipDetails {
            rect: DRect::new(f64::NEG_INFINITY, 0.0, f64::INFINITY, 1.0),
            angle: 0.3,
            rows: 3,
            cols: 1,
        };
        let chip = extract_image_chip(&img, &d);
        assert_eq!(chip.dimensions(), (1, 3));
        assert!(chip.pixels().all(|p| p.0 == [0, 0, 0]));
        // A zero-sized chip is empty.
        let d = ChipDetails {
            rows: 0,
            cols: 5,
            ..d
        };
        assert_eq!(extract_image_chip(&img, &d).dimensions(), (5, 0));
    }
}
