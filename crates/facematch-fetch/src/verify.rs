//! sha256 checks against the pinned hashes of the manifest.

use std::fs;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::FetchError;
use crate::manifest::ModelFile;

/// Lower-case hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let io = |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = fs::File::open(path).map_err(io)?;
    sha256_reader(&mut f).map_err(io)
}

/// Lower-case hex sha256 of everything `reader` yields, streamed.
pub(crate) fn sha256_reader(reader: &mut dyn Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex sha256 of bytes in memory.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Ok when `actual` is `file`'s pinned sha256.
pub(crate) fn check_hash(file: &ModelFile, actual: String) -> Result<(), FetchError> {
    if actual == file.sha256 {
        return Ok(());
    }
    Err(FetchError::HashMismatch {
        file: file.file_name.to_string(),
        expected: file.sha256.to_string(),
        actual,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_sha256_of_known_bytes() {
        assert_eq!(
            sha256_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
