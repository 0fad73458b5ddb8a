//! Review images (`--review-images`): the key that seals them, checked before the server
//! starts, and keeping a saved decision's two uploads for the console.
//!
//! With `off` (the default) nothing here runs and no image is ever stored. Otherwise the
//! key file must exist, be 0600 or narrower and hold 32 bytes (or 64 hex digits): the
//! server refuses to start without it rather than keep images it could not protect.

use std::path::PathBuf;

use facematch_store::{ReviewImagesKey, Store, StoreError};
use time::OffsetDateTime;

use crate::config::{ReviewImages, ServerConfig};

/// Why review images cannot be turned on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewImagesError {
    /// `--review-images` is on but no key file was given.
    #[error(
        "--review-images {mode} needs --review-images-key-file: a file of 32 random bytes, \
         mode 0600 (e.g. `head -c 32 /dev/urandom > review.key && chmod 600 review.key`)"
    )]
    NoKeyFile {
        /// The mode asked for.
        mode: &'static str,
    },
    /// The key file is missing, readable by others, or malformed.
    #[error("cannot load the review images key file {path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: StoreError,
    },
}

/// The flag's spelling of `mode`.
fn mode_name(mode: ReviewImages) -> &'static str {
    match mode {
        ReviewImages::Off => "off",
        ReviewImages::InReview => "in-review",
        ReviewImages::All => "all",
    }
}

/// The key of `--review-images-key-file` when review images are on, `None` when they are
/// off (no file is read then); refuses an absent flag or an unusable file.
pub fn load_key(config: &ServerConfig) -> Result<Option<ReviewImagesKey>, ReviewImagesError> {
    if config.review_images == ReviewImages::Off {
        return Ok(None);
    }
    let path = config
        .review_images_key_file
        .as_ref()
        .ok_or(ReviewImagesError::NoKeyFile {
            mode: mode_name(config.review_images),
        })?;
    ReviewImagesKey::load(path)
        .map(Some)
        .map_err(|source| ReviewImagesError::Key {
            path: path.clone(),
            source,
        })
}

/// Keeps the uploads of saved decision `request_id` (source: `user_image`, target:
/// `ref_image`), as received, until `now` + `ttl` ([`ServerConfig::review_images_ttl`]).
/// Call it on a blocking thread (it seals up to 10 MiB and writes it).
pub fn keep(
    store: &Store,
    ttl: std::time::Duration,
    request_id: &str,
    source: &[u8],
    target: &[u8],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let ttl = time::Duration::try_from(ttl)
        .map_err(|e| StoreError::Invalid(format!("review images lifetime: {e}")))?;
    let expires_at = now
        .checked_add(ttl)
        .ok_or_else(|| StoreError::Invalid("review images lifetime out of range".into()))?;
    store.save_review_images(request_id, source, target, expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: ReviewImages, key_file: Option<PathBuf>) -> ServerConfig {
        ServerConfig {
            review_images: mode,
            review_images_key_file: key_file,
            ..ServerConfig::default()
        }
    }

    #[cfg(unix)]
    fn write(path: &std::path::Path, contents: &[u8], mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, contents).expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn off_reads_nothing_and_on_without_a_key_file_is_refused() {
        let absent = PathBuf::from("/nonexistent/review.key");
        assert!(load_key(&config(ReviewImages::Off, Some(absent.clone())))
            .expect("off needs no file")
            .is_none());
        for mode in [ReviewImages::InReview, ReviewImages::All] {
            let err = load_key(&config(mode, None)).expect_err("refused");
            assert!(matches!(err, ReviewImagesError::NoKeyFile { .. }), "{err}");
            assert!(
                err.to_string().contains("--review-images-key-file"),
                "{err}"
            );
            // An absent file is never created for the operator.
            let err = load_key(&config(mode, Some(absent.clone()))).expect_err("refused");
            assert!(matches!(err, ReviewImagesError::Key { .. }), "{err}");
            assert!(!absent.exists());
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_must_be_private_and_well_formed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("review.key");
        let on = config(ReviewImages::All, Some(path.clone()));
        // Group-readable: refused, naming the mode.
        write(&path, &[7u8; 32], 0o640);
        let err = load_key(&on).expect_err("refused");
        assert!(err.to_string().contains("640"), "{err}");
        // Private but of the wrong length.
        for bad in [&b"short"[..], &[1u8; 33][..], &[b'z'; 64][..]] {
            write(&path, bad, 0o600);
            let err = load_key(&on).expect_err("malformed");
            assert!(err.to_string().contains("expected 32 raw bytes"), "{err}");
        }
        // 32 raw bytes, and 64 hex digits with a newline, both 0600 (or 0400).
        write(&path, &[7u8; 32], 0o600);
        assert!(load_key(&on).expect("loads").is_some());
        write(&path, format!("{}\n", "ab".repeat(32)).as_bytes(), 0o400);
        assert!(load_key(&on).expect("loads").is_some());
    }
}
