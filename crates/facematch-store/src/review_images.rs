//! The two uploaded images of a saved decision, kept for the console's reviewers
//! (`--review-images in-review | all`), sealed at rest with AES-256-GCM.
//!
//! Each image is sealed on its own (`nonce (12 random bytes) ‖ ciphertext+tag`, the format of
//! the webhook secrets) with `<request_id>/source` or `<request_id>/target` as associated
//! data, so a sealed image copied onto another row, or swapped with its pair, does not open.
//! The key is the operator's file (`--review-images-key-file`), never the webhook key. A row
//! is deleted when its decision is reviewed (`decisions::apply_review`), when the decision is
//! deleted (explicitly, and by the foreign key's `ON DELETE CASCADE`), and once `expires_at`
//! has passed ([`Store::purge_expired_review_images`]).

use std::fmt;
use std::path::Path;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::sql::args;
use crate::{db, Store, StoreError, WebhookKey};

/// Rows one purge transaction deletes at most (each holds up to two sealed 5 MiB images).
pub const REVIEW_IMAGES_PURGE_BATCH: usize = 100;

/// Which of a decision's two images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewImageSide {
    /// The user's photo (`user_image`).
    Source,
    /// The reference photo (`ref_image`).
    Target,
}

impl ReviewImageSide {
    /// `source` or `target`, as in the console's URLs and the sealing context.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewImageSide::Source => "source",
            ReviewImageSide::Target => "target",
        }
    }
}

/// A decision's two kept uploads, opened.
#[derive(Clone, PartialEq, Eq)]
pub struct ReviewImagePair {
    /// The user's photo (`user_image`), as received.
    pub source: Vec<u8>,
    /// The reference photo (`ref_image`), as received.
    pub target: Vec<u8>,
}

impl ReviewImagePair {
    /// The image of `side`.
    pub fn side(&self, side: ReviewImageSide) -> &[u8] {
        match side {
            ReviewImageSide::Source => &self.source,
            ReviewImageSide::Target => &self.target,
        }
    }
}

impl fmt::Debug for ReviewImagePair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ReviewImagePair {{ source: {} bytes, target: {} bytes }}",
            self.source.len(),
            self.target.len()
        )
    }
}

/// The AES-256-GCM key sealing review images: a file of 32 raw bytes or 64 hex characters,
/// mode 0600 or narrower, which the operator creates (it is never created for them).
/// `Debug` is redacted; the bytes are zeroed on drop.
pub struct ReviewImagesKey(WebhookKey);

impl ReviewImagesKey {
    /// Reads the key file; a missing, group/other-readable or malformed file is refused
    /// ([`crate::WebhookKeyError`]).
    pub fn load(path: &Path) -> Result<ReviewImagesKey, StoreError> {
        WebhookKey::load(path).map(ReviewImagesKey)
    }

    /// A fresh random key kept in memory only (tests).
    pub fn try_random() -> Result<ReviewImagesKey, StoreError> {
        Ok(ReviewImagesKey(WebhookKey::try_random()?))
    }
}

impl fmt::Debug for ReviewImagesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReviewImagesKey([REDACTED])")
    }
}

/// The associated data of one side's sealed bytes.
fn context(request_id: &str, side: ReviewImageSide) -> String {
    format!("{request_id}/{}", side.as_str())
}

/// The key of `store`, or [`StoreError::Invalid`] when review images are off.
fn key(store: &Store) -> Result<&ReviewImagesKey, StoreError> {
    store
        .review_images_key()
        .ok_or_else(|| StoreError::Invalid("review images are off: no review images key".into()))
}

pub(crate) fn save(
    store: &Store,
    request_id: &str,
    source: &[u8],
    target: &[u8],
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    let key = key(store)?;
    // Sealed before the transaction: the write lock is not held for the cipher's work.
    let source = key
        .0
        .seal(source, &context(request_id, ReviewImageSide::Source))?;
    let target = key
        .0
        .seal(target, &context(request_id, ReviewImageSide::Target))?;
    let expires_at = db::to_nanos(expires_at)?;
    let saved = store.write(|c| {
        // Only for a saved decision (the foreign key would refuse another, and on PostgreSQL
        // a refused statement ends the transaction): the INSERT selects it.
        c.execute(
            "INSERT INTO review_images (request_id, source, target, expires_at) \
             SELECT request_id, ?2, ?3, ?4 FROM decisions WHERE request_id = ?1 \
             ON CONFLICT (request_id) DO UPDATE SET source = excluded.source, \
             target = excluded.target, expires_at = excluded.expires_at",
            args![request_id, &source, &target, expires_at],
        )
    })?;
    if saved == 0 {
        return Err(StoreError::NotFound(format!("decision {request_id}")));
    }
    Ok(())
}

pub(crate) fn open(
    store: &Store,
    request_id: &str,
    now: OffsetDateTime,
) -> Result<Option<ReviewImagePair>, StoreError> {
    let Some(key) = store.review_images_key() else {
        return Ok(None);
    };
    let now = db::to_nanos(now)?;
    let sealed: Option<(Vec<u8>, Vec<u8>)> = store.run(|c| {
        c.query_row(
            "SELECT source, target FROM review_images WHERE request_id = ?1 AND expires_at > ?2",
            args![request_id, now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    })?;
    let Some((source, target)) = sealed else {
        return Ok(None);
    };
    let mut source: Zeroizing<Vec<u8>> = key
        .0
        .open(&source, &context(request_id, ReviewImageSide::Source))?;
    let mut target: Zeroizing<Vec<u8>> = key
        .0
        .open(&target, &context(request_id, ReviewImageSide::Target))?;
    // Handed over as plain vectors (the caller serves them); the Zeroizing wrappers are
    // emptied, not copied.
    Ok(Some(ReviewImagePair {
        source: std::mem::take(&mut *source),
        target: std::mem::take(&mut *target),
    }))
}

pub(crate) fn purge_expired(store: &Store, now: OffsetDateTime) -> Result<usize, StoreError> {
    let now = db::to_nanos(now)?;
    let limit = i64::try_from(REVIEW_IMAGES_PURGE_BATCH).unwrap_or(i64::MAX);
    let mut total = 0;
    loop {
        let n = store.write(|c| {
            c.execute(
                "DELETE FROM review_images WHERE request_id IN \
                 (SELECT request_id FROM review_images WHERE expires_at <= ?1 \
                  ORDER BY expires_at LIMIT ?2)",
                args![now, limit],
            )
        })?;
        total += n;
        if n < REVIEW_IMAGES_PURGE_BATCH {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests;
