//! Reading an image file the way the API reads an upload.

use std::path::Path;

use anyhow::Context;
use facematch_core::ImageInput;
use facematch_imageio::{decode, DecodeLimits};

use crate::CliError;

/// Largest accepted image file, as in the API (5 × 1024 × 1024 bytes).
pub const MAX_IMAGE_BYTES: u64 = 5 * 1024 * 1024;

/// Reads and decodes `path`; an empty file is [`ImageInput::Empty`] (the contract's
/// NO_REFERENCE_IMAGE), anything unreadable or undecodable is an input error.
pub fn read_image(path: &Path) -> Result<ImageInput, CliError> {
    let input_err = |e: anyhow::Error| CliError::Input(e);
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(input_err)?;
    if meta.len() > MAX_IMAGE_BYTES {
        return Err(CliError::Input(anyhow::anyhow!(
            "{} is {} bytes, over the 5 MiB limit",
            path.display(),
            meta.len()
        )));
    }
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(input_err)?;
    if bytes.is_empty() {
        return Ok(ImageInput::Empty);
    }
    let decoded = decode(&bytes, &DecodeLimits::default())
        .with_context(|| format!("{} cannot be used", path.display()))
        .map_err(input_err)?;
    Ok(ImageInput::Image(decoded.rgb))
}
