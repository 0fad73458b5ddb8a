//! Safe image input for facematch: turns untrusted uploaded bytes into upright RGB8
//! pixels, and rotates images by quarter turns.
//!
//! - [`detect_format`]: format from magic bytes only (JPEG, PNG, WebP, TIFF accepted;
//!   GIF, BMP and anything else refused, named where recognised).
//! - [`decode`]: header-first decoding with size limits ([`DecodeLimits`]) checked before
//!   any pixel allocation (decompression bombs), EXIF orientation applied, all colour
//!   types converted to RGB8, decoder panics caught, files that end early refused
//!   ([`ImageError::Truncated`]).
//! - [`decode_reduced`]: the same, decoding a large JPEG at 1/2, 1/4 or 1/8 in the DCT
//!   domain ([`Reduction`]), saying by how much ([`DecodedImage::scale`]).
//! - [`rotate_clockwise`], [`map_point_back`], [`map_point_to_rotated`]: quarter-turn
//!   rotations and exact point mappings between the rotated and original frames.
//!
//! Every failure is an [`ImageError`] with a stable machine code ([`ImageError::code`]).

mod completeness;
mod decode;
mod error;
mod format;
mod reduce;
mod rotate;

pub use decode::{
    decode, decode_reduced, decode_reporting, read_dimensions, DecodeLimits, DecodedImage,
    PEAK_BYTES_PER_PIXEL,
};
pub use error::{ImageError, SizeLimit};
pub use format::{detect_format, ImageFormatKind};
pub use image::RgbImage;
pub use reduce::{Reduction, MIN_REDUCED_LONG_SIDE};
pub use rotate::{map_point_back, map_point_to_rotated, rotate, rotate_clockwise, QuarterTurn};
