//! The shared photos: `shared/data/faces`, beside the repository.

use std::path::PathBuf;

/// `shared/data/faces` (the dev photos and fixtures), found from this crate's folder.
pub fn faces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces")
}

/// Bytes of the file `rel` under [`faces_dir`]; panics (failing the test) if it cannot
/// be read.
pub fn photo(rel: &str) -> Vec<u8> {
    let path = faces_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
