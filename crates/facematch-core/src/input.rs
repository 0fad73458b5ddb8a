//! From uploaded bytes to a pipeline input, the same way for the API and the CLI.

use facematch_imageio::{decode, DecodeLimits, ImageError};

use crate::pipeline::ImageInput;

/// Largest accepted image, in bytes (5 × 1024 × 1024), as the contract says.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// Decodes one image part: 0 bytes is [`ImageInput::Empty`] (the contract's
/// `NO_REFERENCE_IMAGE`); anything else must decode as JPEG, PNG, WebP or TIFF within
/// `limits`, with its EXIF orientation applied.
pub fn image_input(bytes: &[u8], limits: &DecodeLimits) -> Result<ImageInput, ImageError> {
    if bytes.is_empty() {
        return Ok(ImageInput::Empty);
    }
    decode(bytes, limits).map(|d| ImageInput::Image(d.rgb))
}

/// `created_at` as the contract writes it: UTC, RFC 3339 with microseconds.
pub fn rfc3339_micros(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bytes_are_an_empty_part_and_text_is_refused() {
        let limits = DecodeLimits::default();
        assert!(matches!(image_input(b"", &limits), Ok(ImageInput::Empty)));
        assert!(image_input(b"hello, not an image", &limits).is_err());
    }

    #[test]
    fn timestamps_have_microseconds_and_a_z() {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_746_105_067_977_806_123)
            .expect("valid time");
        assert_eq!(rfc3339_micros(t), "2025-05-01T13:11:07.977806Z");
    }
}
