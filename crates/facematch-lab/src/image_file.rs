//! Reading a photo file the way the API reads an upload (the same size limit, decoder
//! and limits), so that the lab measures what the service would answer.

use std::path::Path;

use facematch_core::{image_input, ImageInput, MAX_IMAGE_BYTES};
use facematch_imageio::DecodeLimits;

use crate::LabError;

/// Reads and decodes `path`; an empty file is [`ImageInput::Empty`] (the contract's
/// NO_REFERENCE_IMAGE); a file over 5 MiB or one that does not decode is an error.
pub fn read_image(path: &Path) -> Result<ImageInput, LabError> {
    let read_error = |source| LabError::Read {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::metadata(path).map_err(read_error)?.len();
    if bytes > MAX_IMAGE_BYTES as u64 {
        return Err(LabError::TooLarge {
            path: path.to_path_buf(),
            bytes,
        });
    }
    let data = std::fs::read(path).map_err(read_error)?;
    image_input(&data, &DecodeLimits::default()).map_err(|source| LabError::Unusable {
        path: path.to_path_buf(),
        source,
    })
}
