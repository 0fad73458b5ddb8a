//! What can go wrong reading face-api.js weights or building their graph.

use thiserror::Error;

/// A face-api.js weight file that cannot be read or does not fit the network.
#[derive(Debug, Error)]
pub enum FaceApiError {
    /// The JSON weights manifest is malformed or names an unsupported storage.
    #[error("face-api.js weights manifest: {0}")]
    Manifest(String),
    /// The weights binary does not match what the manifest describes.
    #[error("face-api.js weights binary: {0}")]
    Weights(String),
    /// A tensor the network needs is absent or has the wrong shape.
    #[error("face-api.js age/gender network: {0}")]
    Network(String),
}
