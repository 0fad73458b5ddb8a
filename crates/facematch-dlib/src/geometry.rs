//! Small geometry types mirroring dlib's `dpoint`, `rectangle`/`drectangle` and
//! `point_transform_affine`, with dlib's conventions kept where results depend on them.

/// A point in image coordinates (x to the right, y down), like dlib's `dpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point2 {
    /// Horizontal coordinate in pixels.
    pub x: f64,
    /// Vertical coordinate in pixels.
    pub y: f64,
}

impl Point2 {
    /// Creates a point.
    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }

    /// Rounds both coordinates the way dlib converts a `dpoint` to an integer `point`:
    /// `floor(v + 0.5)` (halves round up, also for negative values).
    pub fn round_dlib(self) -> Self {
        Self {
            x: (self.x + 0.5).floor(),
            y: (self.y + 0.5).floor(),
        }
    }
}

/// A rectangle with dlib's *inclusive* convention: `right` and `bottom` are the last
/// pixel inside, so `width = right - left + 1`. Integer-valued for dlib's `rectangle`
/// (detector boxes), possibly fractional for `drectangle` (chip regions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DRect {
    /// Leftmost column.
    pub left: f64,
    /// Topmost row.
    pub top: f64,
    /// Rightmost column (inclusive).
    pub right: f64,
    /// Bottom row (inclusive).
    pub bottom: f64,
}

impl Default for DRect {
    /// dlib's default rectangle, which is empty.
    fn default() -> Self {
        Self::EMPTY
    }
}

impl DRect {
    /// dlib's default (empty) rectangle `(0, 0, -1, -1)`.
    pub const EMPTY: DRect = DRect {
        left: 0.0,
        top: 0.0,
        right: -1.0,
        bottom: -1.0,
    };

    /// Creates a rectangle from its inclusive edges.
    pub const fn new(left: f64, top: f64, right: f64, bottom: f64) -> Self {
        Self {
            left,
            top,
            right,
            bottom,
        }
    }

    /// The rectangle covering a `width` × `height` image: `(0, 0, width-1, height-1)`.
    pub fn of_image(width: u32, height: u32) -> Self {
        Self::new(0.0, 0.0, f64::from(width) - 1.0, f64::from(height) - 1.0)
    }

    /// True when the rectangle contains no pixel (`top > bottom || left > right`).
    pub fn is_empty(&self) -> bool {
        self.top > self.bottom || self.left > self.right
    }

    /// Inclusive width `right - left + 1`, or 0 when empty.
    pub fn width(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.right - self.left + 1.0
        }
    }

    /// Inclusive height `bottom - top + 1`, or 0 when empty.
    pub fn height(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.bottom - self.top + 1.0
        }
    }

    /// `width() * height()`.
    pub fn area(&self) -> f64 {
        self.width() * self.height()
    }

    /// The center `((left+right)/2, (top+bottom)/2)`.
    pub fn center(&self) -> Point2 {
        Point2::new(
            (self.left + self.right) / 2.0,
            (self.top + self.bottom) / 2.0,
        )
    }

    /// Top-left corner.
    pub fn tl(&self) -> Point2 {
        Point2::new(self.left, self.top)
    }
    /// Top-right corner.
    pub fn tr(&self) -> Point2 {
        Point2::new(self.right, self.top)
    }
    /// Bottom-left corner.
    pub fn bl(&self) -> Point2 {
        Point2::new(self.left, self.bottom)
    }
    /// Bottom-right corner.
    pub fn br(&self) -> Point2 {
        Point2::new(self.right, self.bottom)
    }

    /// Intersection (may be empty), as dlib's `intersect`.
    pub fn intersect(&self, o: &DRect) -> DRect {
        DRect::new(
            self.left.max(o.left),
            self.top.max(o.top),
            self.right.min(o.right),
            self.bottom.min(o.bottom),
        )
    }

    /// Smallest rectangle holding both, where an empty operand is ignored (dlib's `+`).
    pub fn union(&self, o: &DRect) -> DRect {
        if o.is_empty() {
            *self
        } else if self.is_empty() {
            *o
        } else {
            DRect::new(
                self.left.min(o.left),
                self.top.min(o.top),
                self.right.max(o.right),
                self.bottom.max(o.bottom),
            )
        }
    }

    /// Grows the rectangle to include `p` (dlib's `drectangle += dpoint`).
    pub fn include(&self, p: Point2) -> DRect {
        self.union(&DRect::new(p.x, p.y, p.x, p.y))
    }

    /// Moves every edge outwards by `n` (dlib's `grow_rect`).
    pub fn grow(&self, n: f64) -> DRect {
        DRect::new(self.left - n, self.top - n, self.right + n, self.bottom + n)
    }

    /// Shifts the rectangle by `(dx, dy)`.
    pub fn translate(&self, dx: f64, dy: f64) -> DRect {
        DRect::new(
            self.left + dx,
            self.top + dy,
            self.right + dx,
            self.bottom + dy,
        )
    }

    /// Rounds every edge with `floor(v + 0.5)`, as dlib converts a `drectangle` into an
    /// integer `rectangle`.
    pub fn round_dlib(&self) -> DRect {
        let r = |v: f64| (v + 0.5).floor();
        DRect::new(r(self.left), r(self.top), r(self.right), r(self.bottom))
    }

    /// A rectangle of the given inclusive width and height centered on `p`
    /// (dlib's `centered_drect`).
    pub fn centered(p: Point2, width: f64, height: f64) -> DRect {
        let (w, h) = (width - 1.0, height - 1.0);
        DRect::new(p.x - w / 2.0, p.y - h / 2.0, p.x + w / 2.0, p.y + h / 2.0)
    }
}

/// An affine map `p ↦ m·p + b` (dlib's `point_transform_affine`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine2 {
    /// Row-major 2×2 linear part.
    pub m: [[f64; 2]; 2],
    /// Translation.
    pub b: [f64; 2],
}

impl Default for Affine2 {
    /// The identity.
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl Affine2 {
    /// The identity map.
    pub const IDENTITY: Affine2 = Affine2 {
        m: [[1.0, 0.0], [0.0, 1.0]],
        b: [0.0, 0.0],
    };

    /// Maps a point.
    #[inline]
    pub fn apply(&self, p: Point2) -> Point2 {
        Point2::new(
            self.m[0][0] * p.x + self.m[0][1] * p.y + self.b[0],
            self.m[1][0] * p.x + self.m[1][1] * p.y + self.b[1],
        )
    }

    /// The inverse map, or `None` when the linear part is singular.
    pub fn inverse(&self) -> Option<Affine2> {
        let [[a, b], [c, d]] = self.m;
        let det = a * d - b * c;
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let m = [[d / det, -b / det], [-c / det, a / det]];
        let bx = -(m[0][0] * self.b[0] + m[0][1] * self.b[1]);
        let by = -(m[1][0] * self.b[0] + m[1][1] * self.b[1]);
        Some(Affine2 { m, b: [bx, by] })
    }
}

/// Least-squares similarity transform (rotation, uniform scale, translation) taking
/// `from[i]` to `to[i]`, as dlib's `find_similarity_transform` (Umeyama's method).
///
/// dlib gets the rotation from an SVD of the 2×2 cross-covariance; in 2-D the optimal
/// proper rotation and scale have a closed form that is algebraically identical (also
/// when the covariance determinant is negative, where Umeyama flips the smaller singular
/// value), so we use it: `c·R = [[a, −b], [b, a]]` with `a = (C₀₀ + C₁₁)/σ²`,
/// `b = (C₁₀ − C₀₁)/σ²`. Everything is computed in `f64` like dlib.
///
/// Returns the identity for fewer than 2 pairs or mismatched lengths (dlib asserts).
pub fn find_similarity_transform(from: &[Point2], to: &[Point2]) -> Affine2 {
    let n = from.len();
    if n < 2 || to.len() != n {
        return Affine2::IDENTITY;
    }
    let nf = n as f64;
    let (mut mfx, mut mfy, mut mtx, mut mty) = (0.0, 0.0, 0.0, 0.0);
    for (f, t) in from.iter().zip(to) {
        mfx += f.x;
        mfy += f.y;
        mtx += t.x;
        mty += t.y;
    }
    mfx /= nf;
    mfy /= nf;
    mtx /= nf;
    mty /= nf;

    let mut sigma_from = 0.0;
    let mut cov = [[0.0f64; 2]; 2];
    for (f, t) in from.iter().zip(to) {
        let (fx, fy) = (f.x - mfx, f.y - mfy);
        let (tx, ty) = (t.x - mtx, t.y - mty);
        sigma_from += fx * fx + fy * fy;
        cov[0][0] += tx * fx;
        cov[0][1] += tx * fy;
        cov[1][0] += ty * fx;
        cov[1][1] += ty * fy;
    }
    sigma_from /= nf;
    for row in &mut cov {
        for v in row.iter_mut() {
            *v /= nf;
        }
    }

    let m = if sigma_from != 0.0 {
        let a = (cov[0][0] + cov[1][1]) / sigma_from;
        let b = (cov[1][0] - cov[0][1]) / sigma_from;
        [[a, -b], [b, a]]
    } else {
        // All source points coincide: dlib's scale stays 1 and the rotation is whatever
        // the SVD of a zero matrix yields (the identity).
        [[1.0, 0.0], [0.0, 1.0]]
    };
    let b = [
        mtx - (m[0][0] * mfx + m[0][1] * mfy),
        mty - (m[1][0] * mfx + m[1][1] * mfy),
    ];
    Affine2 { m, b }
}

/// Rotates `p` by `angle` radians around `center` (dlib's `rotate_point`).
pub fn rotate_point(center: Point2, p: Point2, angle: f64) -> Point2 {
    let (s, c) = angle.sin_cos();
    let (x, y) = (p.x - center.x, p.y - center.y);
    Point2::new(c * x - s * y + center.x, s * x + c * y + center.y)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure
mod tests {
    use super::*;

    #[test]
    fn similarity_round_trip() {
        // A known similarity: scale 1.7, rotate 0.3 rad, translate (12, -5).
        let (s, c) = 0.3f64.sin_cos();
        let k = 1.7;
        let truth = Affine2 {
            m: [[k * c, -k * s], [k * s, k * c]],
            b: [12.0, -5.0],
        };
        let from = [
            Point2::new(0.0, 0.0),
            Point2::new(10.0, 1.0),
            Point2::new(3.0, 7.0),
            Point2::new(-4.0, 2.5),
            Point2::new(5.0, 5.0),
        ];
        let to: Vec<Point2> = from.iter().map(|&p| truth.apply(p)).collect();
        let t = find_similarity_transform(&from, &to);
        for i in 0..2 {
            for j in 0..2 {
                assert!((t.m[i][j] - truth.m[i][j]).abs() < 1e-12);
            }
            assert!((t.b[i] - truth.b[i]).abs() < 1e-12);
        }
        // And back again through the inverse.
        let inv = t.inverse().unwrap();
        for (f, tp) in from.iter().zip(&to) {
            let back = inv.apply(*tp);
            assert!((back.x - f.x).abs() < 1e-9 && (back.y - f.y).abs() < 1e-9);
        }
        // The reverse fit is the inverse.
        let r = find_similarity_transform(&to, &from);
        for i in 0..2 {
            for j in 0..2 {
                assert!((r.m[i][j] - inv.m[i][j]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn similarity_least_squares_with_reflection() {
        // Mirrored points: no proper similarity maps them, so the least-squares one must
        // be found (dlib flips the smaller singular value). By hand: both sets have mean
        // (0, 2/3), variance σ² = 14/9 and cross-covariance diag(−2/3, 8/9), whose best
        // rotation is the identity with scale (8/9 − 2/3)/σ² = 1/7; the translation
        // then maps mean to mean: b = (0, 2/3 − 2/21) = (0, 4/7).
        let from = [
            Point2::new(-1.0, 0.0),
            Point2::new(1.0, 0.0),
            Point2::new(0.0, 2.0),
        ];
        let to = [
            Point2::new(1.0, 0.0),
            Point2::new(-1.0, 0.0),
            Point2::new(0.0, 2.0),
        ];
        let t = find_similarity_transform(&from, &to);
        let want = Affine2 {
            m: [[1.0 / 7.0, 0.0], [0.0, 1.0 / 7.0]],
            b: [0.0, 4.0 / 7.0],
        };
        for i in 0..2 {
            for j in 0..2 {
                assert!((t.m[i][j] - want.m[i][j]).abs() < 1e-12, "{t:?}");
            }
            assert!((t.b[i] - want.b[i]).abs() < 1e-12, "{t:?}");
        }
        // It is the least-squares optimum: nudging scale, angle or shift costs more.
        let cost = |a: &Affine2| -> f64 {
            from.iter()
                .zip(&to)
                .map(|(f, w)| {
                    let p = a.apply(*f);
                    (p.x - w.x).powi(2) + (p.y - w.y).powi(2)
                })
                .sum()
        };
        let best = cost(&t);
        let (s, c) = 0.01f64.sin_cos();
        let k = 1.0 / 7.0;
        for other in [
            Affine2 {
                m: [[k * 1.1, 0.0], [0.0, k * 1.1]],
                ..t
            },
            Affine2 {
                m: [[k * c, -k * s], [k * s, k * c]],
                ..t
            },
            Affine2 {
                b: [0.01, 4.0 / 7.0],
                ..t
            },
        ] {
            assert!(cost(&other) > best, "{other:?} is as good as {t:?}");
        }
        // Degenerate inputs do not panic.
        let same = [Point2::new(1.0, 1.0); 3];
        assert_eq!(find_similarity_transform(&same, &to).m, Affine2::IDENTITY.m);
        assert_eq!(
            find_similarity_transform(&same[..1], &to[..1]),
            Affine2::IDENTITY
        );
    }

    #[test]
    fn rect_conventions() {
        let r = DRect::new(10.0, 20.0, 19.0, 39.0);
        assert_eq!(r.width(), 10.0);
        assert_eq!(r.height(), 20.0);
        assert!(DRect::EMPTY.is_empty());
        assert_eq!(DRect::EMPTY.area(), 0.0);
        let c = DRect::centered(Point2::new(5.0, 5.0), 11.0, 11.0);
        assert_eq!(c, DRect::new(0.0, 0.0, 10.0, 10.0));
        assert_eq!(Point2::new(-0.5, 2.5).round_dlib(), Point2::new(0.0, 3.0));
    }
}
