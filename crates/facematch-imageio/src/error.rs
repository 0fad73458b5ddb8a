//! The one error type of this crate, with stable machine codes for API responses.

use std::fmt;

use crate::format::ImageFormatKind;

/// Which size limit an image broke (see [`crate::DecodeLimits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeLimit {
    /// Total pixel count (`width * height`) over this many pixels.
    Pixels(u64),
    /// Width or height over this many pixels.
    Side(u32),
}

impl fmt::Display for SizeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeLimit::Pixels(n) => write!(f, "{n} pixels in total"),
            SizeLimit::Side(n) => write!(f, "{n} pixels per side"),
        }
    }
}

/// Why an uploaded image could not be turned into pixels.
///
/// Every variant maps to a stable, machine-readable [`code`](ImageError::code) that
/// API layers can return verbatim; the `Display` text is for humans and may change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The upload has zero bytes.
    #[error("the image is empty (0 bytes)")]
    Empty,

    /// The bytes are not JPEG, PNG, WebP or TIFF. `detected` names the format when it
    /// was recognised (e.g. `"GIF"`, `"BMP"`), `None` for unknown data such as text.
    #[error("unsupported image format{}; accepted formats are JPEG, PNG, WebP and TIFF",
        match detected { Some(name) => format!(" ({name})"), None => String::new() })]
    UnsupportedFormat {
        /// Name of the detected (refused) format, if it was recognised.
        detected: Option<&'static str>,
    },

    /// The header declares dimensions over the configured limit; refused before any
    /// pixel buffer is allocated (protects against decompression bombs).
    #[error("image is too large: {width}x{height} exceeds the limit of {limit}")]
    TooLarge {
        /// Declared width in pixels.
        width: u32,
        /// Declared height in pixels.
        height: u32,
        /// The limit that was exceeded.
        limit: SizeLimit,
    },

    /// The decoder refused to allocate the memory the image needs (its `max_alloc`
    /// budget). Same machine code as [`ImageError::TooLarge`]: for the client both mean
    /// "send a smaller image".
    #[error("image needs more memory to decode than allowed: {0}")]
    MemoryLimit(String),

    /// The format is accepted but this file uses a feature the decoder does not support
    /// (e.g. an exotic TIFF compression).
    #[error("unsupported image feature: {0}")]
    UnsupportedFeature(String),

    /// The data is corrupt or truncated, or the decoder failed.
    #[error("the image could not be decoded: {0}")]
    Decode(String),

    /// The file decoded, but its structure shows it ends early (no JPEG end-of-image
    /// marker, no PNG `IEND`, a WebP RIFF size or TIFF strips past the end): a photo
    /// damaged in transit is refused rather than judged on filled-in pixels. See the
    /// per-format rules of the completeness check in [`crate::decode`].
    #[error("the {format} image is truncated ({missing}); send the complete file")]
    Truncated {
        /// The detected format.
        format: ImageFormatKind,
        /// What is missing, for humans.
        missing: String,
    },

    /// The decoder panicked on this file; the panic was caught (see [`crate::decode`]).
    /// Shown to clients exactly like [`ImageError::Decode`] (same code and text), but
    /// kept apart so tests can tell a caught panic from a decoder's own error.
    #[error("the image could not be decoded: decoder panicked")]
    DecoderPanicked,
}

impl ImageError {
    /// Stable machine-readable code for this error, suitable for API responses and logs.
    pub fn code(&self) -> &'static str {
        match self {
            ImageError::Empty => "empty_image",
            ImageError::UnsupportedFormat { .. } => "unsupported_format",
            ImageError::TooLarge { .. } | ImageError::MemoryLimit(_) => "image_too_large",
            ImageError::UnsupportedFeature(_) => "unsupported_image_feature",
            ImageError::Decode(_) | ImageError::DecoderPanicked => "corrupt_image",
            ImageError::Truncated { .. } => "truncated_image",
        }
    }

    /// Maps an error of the `image` crate onto ours.
    pub(crate) fn from_image(err: image::ImageError) -> Self {
        match err {
            // Dimension limits are checked by us before decoding; what is left here is
            // a decoder refusing an allocation over `max_alloc`.
            image::ImageError::Limits(limit) => ImageError::MemoryLimit(limit.to_string()),
            image::ImageError::Unsupported(e) => ImageError::UnsupportedFeature(e.to_string()),
            // An I/O error on an in-memory cursor means the data ended early (truncation).
            image::ImageError::IoError(e) => ImageError::Decode(e.to_string()),
            other => ImageError::Decode(other.to_string()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(ImageError::Empty.code(), "empty_image");
        assert_eq!(
            ImageError::UnsupportedFormat { detected: None }.code(),
            "unsupported_format"
        );
        let too_large = ImageError::TooLarge {
            width: 30000,
            height: 30000,
            limit: SizeLimit::Side(20000),
        };
        assert_eq!(too_large.code(), "image_too_large");
        assert_eq!(
            ImageError::MemoryLimit(String::new()).code(),
            "image_too_large"
        );
        assert_eq!(ImageError::Decode(String::new()).code(), "corrupt_image");
        assert_eq!(ImageError::DecoderPanicked.code(), "corrupt_image");
        let truncated = ImageError::Truncated {
            format: ImageFormatKind::Jpeg,
            missing: "no end-of-image marker".to_owned(),
        };
        assert_eq!(truncated.code(), "truncated_image");
        assert_eq!(
            truncated.to_string(),
            "the JPEG image is truncated (no end-of-image marker); send the complete file"
        );
        assert_eq!(
            ImageError::UnsupportedFeature(String::new()).code(),
            "unsupported_image_feature"
        );
    }

    #[test]
    fn messages_are_readable() {
        let gif = ImageError::UnsupportedFormat {
            detected: Some("GIF"),
        };
        assert_eq!(
            gif.to_string(),
            "unsupported image format (GIF); accepted formats are JPEG, PNG, WebP and TIFF"
        );
        let unknown = ImageError::UnsupportedFormat { detected: None };
        assert!(unknown.to_string().starts_with("unsupported image format;"));
        let too_large = ImageError::TooLarge {
            width: 30000,
            height: 30000,
            limit: SizeLimit::Pixels(50_000_000),
        };
        assert_eq!(
            too_large.to_string(),
            "image is too large: 30000x30000 exceeds the limit of 50000000 pixels in total"
        );
        // A caught panic reads exactly as the decoder error it used to be.
        assert_eq!(
            ImageError::DecoderPanicked.to_string(),
            ImageError::Decode("decoder panicked".to_owned()).to_string()
        );
    }
}
