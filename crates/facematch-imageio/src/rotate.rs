//! Quarter-turn rotations and the matching point mappings.
//!
//! Used to search for the upright orientation of a photo (`rotate_image=true`) and
//! to report face boxes found in a rotated copy in the coordinates of the original.
//!
//! Convention: rotations are **clockwise** as seen on screen (x to the right, y down),
//! the same convention as the API's `best_angle`. Point mappings use continuous pixel
//! coordinates: pixel `(i, j)` covers `[i, i+1) x [j, j+1)` and its centre is
//! `(i + 0.5, j + 0.5)`, so box corners and landmark positions map exactly.

use image::{imageops, RgbImage};

/// A rotation by a multiple of 90 degrees, clockwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuarterTurn {
    /// No rotation.
    R0,
    /// 90 degrees clockwise.
    R90,
    /// 180 degrees.
    R180,
    /// 270 degrees clockwise (90 counter-clockwise).
    R270,
}

impl QuarterTurn {
    /// All four rotations, in increasing angle.
    pub const ALL: [QuarterTurn; 4] = [
        QuarterTurn::R0,
        QuarterTurn::R90,
        QuarterTurn::R180,
        QuarterTurn::R270,
    ];

    /// Exact conversion: `Some` only for 0, 90, 180 or 270 modulo 360.
    pub fn from_degrees(degrees: u32) -> Option<Self> {
        match degrees % 360 {
            0 => Some(QuarterTurn::R0),
            90 => Some(QuarterTurn::R90),
            180 => Some(QuarterTurn::R180),
            270 => Some(QuarterTurn::R270),
            _ => None,
        }
    }

    /// Lenient conversion: `degrees` modulo 360, rounded to the nearest quarter turn
    /// (45 rounds up to 90). Never fails.
    pub fn nearest(degrees: u32) -> Self {
        match ((degrees % 360) + 45) / 90 % 4 {
            0 => QuarterTurn::R0,
            1 => QuarterTurn::R90,
            2 => QuarterTurn::R180,
            _ => QuarterTurn::R270,
        }
    }

    /// The angle in degrees (0, 90, 180 or 270), clockwise.
    pub fn degrees(self) -> u32 {
        match self {
            QuarterTurn::R0 => 0,
            QuarterTurn::R90 => 90,
            QuarterTurn::R180 => 180,
            QuarterTurn::R270 => 270,
        }
    }

    /// The rotation that undoes this one.
    pub fn inverse(self) -> Self {
        match self {
            QuarterTurn::R0 => QuarterTurn::R0,
            QuarterTurn::R90 => QuarterTurn::R270,
            QuarterTurn::R180 => QuarterTurn::R180,
            QuarterTurn::R270 => QuarterTurn::R90,
        }
    }

    /// Size `(width, height)` of an image of size `width x height` after this rotation.
    pub fn rotated_size(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            QuarterTurn::R0 | QuarterTurn::R180 => (width, height),
            QuarterTurn::R90 | QuarterTurn::R270 => (height, width),
        }
    }
}

/// Returns a copy of `img` turned clockwise by `degrees`.
///
/// `degrees` should be 0, 90, 180 or 270 (taken modulo 360). Any other value is rounded
/// to the nearest quarter turn (see [`QuarterTurn::nearest`]) rather than panicking.
/// A 90 or 270 degree turn swaps width and height.
pub fn rotate_clockwise(img: &RgbImage, degrees: u32) -> RgbImage {
    rotate(img, QuarterTurn::nearest(degrees))
}

/// Returns a copy of `img` turned clockwise by `turn`.
pub fn rotate(img: &RgbImage, turn: QuarterTurn) -> RgbImage {
    match turn {
        QuarterTurn::R0 => img.clone(),
        QuarterTurn::R90 => imageops::rotate90(img),
        QuarterTurn::R180 => imageops::rotate180(img),
        QuarterTurn::R270 => imageops::rotate270(img),
    }
}

/// Maps a point of the original image into the image turned clockwise by `degrees`
/// (rounded like [`rotate_clockwise`]).
///
/// `original_width`/`original_height` are the size of the image **before** rotation.
/// Coordinates are continuous (see the module docs), so this is exact for box corners;
/// a box's corners map to two opposite corners of the rotated box (take min/max).
pub fn map_point_to_rotated(
    x: f32,
    y: f32,
    original_width: u32,
    original_height: u32,
    degrees: u32,
) -> (f32, f32) {
    let (w, h) = (original_width as f32, original_height as f32);
    match QuarterTurn::nearest(degrees) {
        QuarterTurn::R0 => (x, y),
        QuarterTurn::R90 => (h - y, x),
        QuarterTurn::R180 => (w - x, h - y),
        QuarterTurn::R270 => (y, w - x),
    }
}

/// Maps a point of the image turned clockwise by `degrees` back to the original image;
/// the inverse of [`map_point_to_rotated`] with the same arguments.
///
/// `original_width`/`original_height` are the size of the image **before** rotation
/// (not the rotated frame the point lives in).
pub fn map_point_back(
    x: f32,
    y: f32,
    original_width: u32,
    original_height: u32,
    degrees: u32,
) -> (f32, f32) {
    let (w, h) = (original_width as f32, original_height as f32);
    match QuarterTurn::nearest(degrees) {
        QuarterTurn::R0 => (x, y),
        QuarterTurn::R90 => (y, h - x),
        QuarterTurn::R180 => (w - x, h - y),
        QuarterTurn::R270 => (w - y, x),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure
mod tests {
    use super::*;
    use image::Rgb;

    /// A 5x3 image where every pixel is unique, so any mix-up shows.
    fn numbered(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([x as u8, y as u8, (x * 7 + y) as u8])
        })
    }

    #[test]
    fn sizes_and_directions() {
        let img = numbered(5, 3);
        let r90 = rotate_clockwise(&img, 90);
        assert_eq!(r90.dimensions(), (3, 5));
        // Turning clockwise brings the bottom-left corner to the top-left.
        assert_eq!(r90.get_pixel(0, 0), img.get_pixel(0, 2));
        assert_eq!(r90.get_pixel(2, 0), img.get_pixel(0, 0));
        let r180 = rotate_clockwise(&img, 180);
        assert_eq!(r180.dimensions(), (5, 3));
        assert_eq!(r180.get_pixel(0, 0), img.get_pixel(4, 2));
        let r270 = rotate_clockwise(&img, 270);
        assert_eq!(r270.dimensions(), (3, 5));
        assert_eq!(r270.get_pixel(0, 0), img.get_pixel(4, 0));
        assert_eq!(rotate_clockwise(&img, 0), img);
        assert_eq!(rotate_clockwise(&img, 360), img);
    }

    #[test]
    fn four_quarter_turns_are_identity() {
        let img = numbered(5, 3);
        let mut turned = img.clone();
        for _ in 0..4 {
            turned = rotate_clockwise(&turned, 90);
        }
        assert_eq!(turned, img);
        assert_eq!(rotate_clockwise(&rotate_clockwise(&img, 90), 270), img);
    }

    #[test]
    fn point_mapping_agrees_with_pixels() {
        let img = numbered(5, 3);
        for degrees in [0, 90, 180, 270] {
            let rotated = rotate_clockwise(&img, degrees);
            for (rx, ry, pixel) in rotated.enumerate_pixels() {
                // Map the centre of each rotated pixel back to the original.
                let (ox, oy) = map_point_back(rx as f32 + 0.5, ry as f32 + 0.5, 5, 3, degrees);
                assert_eq!(
                    img.get_pixel((ox - 0.5) as u32, (oy - 0.5) as u32),
                    pixel,
                    "{degrees} deg, rotated pixel ({rx},{ry})"
                );
                // And forward again.
                assert_eq!(
                    map_point_to_rotated(ox, oy, 5, 3, degrees),
                    (rx as f32 + 0.5, ry as f32 + 0.5)
                );
            }
        }
    }

    #[test]
    fn corners_round_trip_exactly() {
        let (w, h) = (640u32, 480u32);
        for degrees in [0, 90, 180, 270] {
            let (rw, rh) = QuarterTurn::nearest(degrees).rotated_size(w, h);
            for (x, y) in [
                (0.0, 0.0),
                (640.0, 0.0),
                (0.0, 480.0),
                (640.0, 480.0),
                (12.25, 400.5),
            ] {
                let (rx, ry) = map_point_to_rotated(x, y, w, h, degrees);
                assert!((0.0..=rw as f32).contains(&rx) && (0.0..=rh as f32).contains(&ry));
                assert_eq!(map_point_back(rx, ry, w, h, degrees), (x, y));
            }
        }
    }

    #[test]
    fn quarter_turn_conversions() {
        assert_eq!(QuarterTurn::from_degrees(450), Some(QuarterTurn::R90));
        assert_eq!(QuarterTurn::from_degrees(45), None);
        assert_eq!(QuarterTurn::nearest(44), QuarterTurn::R0);
        assert_eq!(QuarterTurn::nearest(45), QuarterTurn::R90);
        assert_eq!(QuarterTurn::nearest(350), QuarterTurn::R0);
        assert_eq!(
            QuarterTurn::nearest(u32::MAX),
            QuarterTurn::nearest(u32::MAX % 360)
        );
        for turn in QuarterTurn::ALL {
            assert_eq!(QuarterTurn::from_degrees(turn.degrees()), Some(turn));
            assert_eq!((turn.degrees() + turn.inverse().degrees()) % 360, 0);
        }
    }
}
