//! Where the detector's geometry meets dlib's. facematch-core speaks `f32`
//! [`BBox`]/[`Point`](facematch_core::geometry::Point) in continuous coordinates (pixel
//! centres at +0.5); facematch-dlib speaks `f64` [`DRect`]/[`Point2`] in pixel indices,
//! with inclusive rectangles. Every conversion from the one to the other is in this
//! module.

use facematch_core::geometry::BBox;
use facematch_dlib::geometry::{DRect, Point2};

/// How a YuNet box maps onto dlib's detector framing, as fractions of the YuNet box:
/// the dlib box centre is offset by (`dx`, `dy`) × (width, height) and its side is
/// `scale` × the YuNet box's mean side. Fitted by the `fit_dlib_box` study
/// (`crates/facematch-lab/examples/fit_dlib_box.rs`) on the dev photos against dlib's
/// own detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxMapping {
    /// Horizontal centre offset, in YuNet box widths.
    pub dx: f32,
    /// Vertical centre offset, in YuNet box heights.
    pub dy: f32,
    /// dlib box side over the YuNet box's mean side.
    pub scale: f32,
}

impl BoxMapping {
    /// Fitted by `cargo run --release -p facematch-lab --example fit_dlib_box` on the
    /// 389 dev photos with a dlib face: mean landmark error 0.40% of the box side
    /// (identity mapping: 0.43%). See `docs/accuracy.md`.
    pub const FITTED: BoxMapping = BoxMapping {
        dx: 0.003,
        dy: 0.042,
        scale: 0.957,
    };

    /// dlib's rectangle (inclusive pixel convention) for a YuNet box.
    pub fn to_dlib(&self, b: &BBox) -> DRect {
        let side = f64::from(self.scale * (b.width() + b.height()) / 2.0);
        let cx = f64::from((b.x1 + b.x2) / 2.0 + self.dx * b.width());
        let cy = f64::from((b.y1 + b.y2) / 2.0 + self.dy * b.height());
        // dlib's square boxes have width = right - left + 1.
        let len = side.round().max(1.0);
        // dlib's centre of [left, right] is (left + right) / 2.
        let left = (cx - (len - 1.0) / 2.0).round();
        let top = (cy - (len - 1.0) / 2.0).round();
        DRect {
            left,
            top,
            right: left + len - 1.0,
            bottom: top + len - 1.0,
        }
    }
}

/// The unrotated square of side `scale` × the box's mean side, centred on the box, as
/// a dlib rectangle (for dlib's chip extraction).
pub fn square_around(bbox: &BBox, scale: f32) -> DRect {
    let extent = f64::from(scale * (bbox.width() + bbox.height()) / 2.0);
    // The box is in continuous coordinates (pixel centres at +0.5); dlib's rectangles
    // are in pixel indices.
    let centre = Point2::new(
        f64::from((bbox.x1 + bbox.x2) / 2.0) - 0.5,
        f64::from((bbox.y1 + bbox.y2) / 2.0) - 0.5,
    );
    DRect::centered(centre, extent, extent)
}
