//! Reading an image file the way the API reads an upload.

use std::path::Path;

use anyhow::Context;
use facematch_core::{image_input, ImageInput, MAX_IMAGE_BYTES};
use facematch_imageio::DecodeLimits;

use crate::CliError;

/// Reads and decodes `path`; an empty file is [`ImageInput::Empty`] (the contract's
/// NO_REFERENCE_IMAGE); a file over 5 MiB or one that does not decode is an input error.
pub fn read_image(path: &Path) -> Result<ImageInput, CliError> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(CliError::Input)?;
    if meta.len() > MAX_IMAGE_BYTES as u64 {
        return Err(CliError::Input(anyhow::anyhow!(
            "{} is {} bytes, over the 5 MiB limit",
            path.display(),
            meta.len()
        )));
    }
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(CliError::Input)?;
    image_input(&bytes, &DecodeLimits::default())
        .with_context(|| format!("{} cannot be used", path.display()))
        .map_err(CliError::Input)
}
