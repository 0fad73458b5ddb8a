//! Shared set-up of the model tests: one pipeline per test binary, real models, real
//! photos from `../shared/data/faces`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use facematch_core::{ImageInput, Pipeline};
use facematch_imageio::{decode, DecodeLimits};
use facematch_models::{load_pipeline, BundleOptions};

/// `shared/data/faces`, beside the repository.
pub fn faces_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces");
    assert!(
        root.join("README.md").is_file(),
        "the shared face data is missing at {}",
        root.display()
    );
    root
}

/// The default pipeline, loaded once (fetching models with pip if they are missing).
pub fn pipeline() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| {
        load_pipeline(&BundleOptions::default(), &mut |_| {})
            .unwrap_or_else(|e| panic!("cannot load the default bundle: {e}"))
    })
}

/// Reads and decodes a photo under [`faces_root`]; an empty file is `ImageInput::Empty`.
pub fn load(rel: &str) -> Result<ImageInput, facematch_imageio::ImageError> {
    let bytes =
        std::fs::read(faces_root().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"));
    if bytes.is_empty() {
        return Ok(ImageInput::Empty);
    }
    decode(&bytes, &DecodeLimits::default()).map(|d| ImageInput::Image(d.rgb))
}

/// Reads a tab-separated pair list: (left, right, same).
pub fn pairs(list: &str) -> Vec<(String, String, bool)> {
    std::fs::read_to_string(faces_root().join(list))
        .unwrap_or_else(|e| panic!("cannot read {list}: {e}"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string(), f[2].trim() == "1")
        })
        .collect()
}
