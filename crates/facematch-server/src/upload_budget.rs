//! The one budget of upload bytes the whole server may hold in memory at once.
//!
//! A face-match form is read before it is admitted to a worker, so a client that
//! withholds the closing boundary keeps its image bytes in memory until the deadline.
//! Without a shared bound that is ~10 MiB per connection × `--max-connections`. Every
//! byte of image buffer [`crate::form::read_form`] allocates is first taken from this
//! budget (`--upload-buffer-mib`, in KiB permits of a [`Semaphore`]); when none is left
//! the request is refused at once ([`crate::ApiError::Busy`]: 429 `server_busy`,
//! `Retry-After`), never queued. The bytes go back when the image buffer is dropped:
//! the permits travel inside the [`Bytes`] of the form, so they are held exactly as
//! long as the upload itself (through decoding on a worker) and released however the
//! request ends.

use std::sync::Arc;

use axum::body::Bytes;
use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One permit of the budget.
const PERMIT_BYTES: usize = 1024;

/// The shared budget; cheap to clone.
#[derive(Clone)]
pub struct UploadBudget {
    permits: Arc<Semaphore>,
    /// Bytes currently held (the `facematch_upload_buffer_bytes` gauge).
    in_use: IntGauge,
}

/// The budget has no room for the bytes asked for.
#[derive(Debug, thiserror::Error)]
#[error("the upload byte budget is exhausted")]
pub struct BudgetExhausted;

impl UploadBudget {
    /// A budget of `mib` MiB whose use is reported in `in_use` (bytes).
    pub fn new(mib: usize, in_use: IntGauge) -> Self {
        let permits = mib
            .saturating_mul(1024 * 1024 / PERMIT_BYTES)
            .min(Semaphore::MAX_PERMITS);
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            in_use,
        }
    }

    /// An empty holding, grown with [`Held::cover`].
    pub fn hold(&self) -> Held {
        Held {
            budget: self.clone(),
            permit: None,
            kib: 0,
        }
    }

    /// Bytes currently held by uploads.
    pub fn in_use_bytes(&self) -> i64 {
        self.in_use.get()
    }
}

/// Permits held for one buffer; given back when dropped.
pub struct Held {
    budget: UploadBudget,
    permit: Option<OwnedSemaphorePermit>,
    kib: usize,
}

impl Held {
    /// Makes this holding cover at least `bytes` (taking only the difference), or
    /// refuses at once when the budget has no room; what was held stays held.
    pub fn cover(&mut self, bytes: usize) -> Result<(), BudgetExhausted> {
        let wanted = bytes.div_ceil(PERMIT_BYTES);
        if wanted <= self.kib {
            return Ok(());
        }
        let more = u32::try_from(wanted - self.kib).map_err(|_| BudgetExhausted)?;
        let permit = self
            .budget
            .permits
            .clone()
            .try_acquire_many_owned(more)
            .map_err(|_| BudgetExhausted)?;
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        self.kib = wanted;
        self.budget.in_use.add(kib_to_bytes(more as usize));
        Ok(())
    }

    /// Gives back what this holding has beyond `bytes`.
    pub fn release_to(&mut self, bytes: usize) {
        let wanted = bytes.div_ceil(PERMIT_BYTES);
        if wanted >= self.kib {
            return;
        }
        if let Some(permit) = &mut self.permit {
            drop(permit.split(self.kib - wanted));
        }
        self.budget.in_use.sub(kib_to_bytes(self.kib - wanted));
        self.kib = wanted;
    }

    /// `buf` as [`Bytes`] that keep this holding until the last clone is dropped.
    pub fn into_bytes(self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(HeldBuf { buf, _held: self })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // The permit itself goes back to the semaphore when dropped right after this.
        self.budget.in_use.sub(kib_to_bytes(self.kib));
    }
}

fn kib_to_bytes(kib: usize) -> i64 {
    i64::try_from(kib.saturating_mul(PERMIT_BYTES)).unwrap_or(i64::MAX)
}

/// A buffer and the budget it was taken from.
struct HeldBuf {
    buf: Vec<u8>,
    _held: Held,
}

impl AsRef<[u8]> for HeldBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(mib: usize) -> UploadBudget {
        UploadBudget::new(mib, IntGauge::new("in_use", "bytes held").expect("gauge"))
    }

    #[test]
    fn holdings_grow_refuse_at_once_and_give_back_on_drop() {
        let budget = budget(1);
        let mut a = budget.hold();
        a.cover(1).expect("1 byte");
        assert_eq!(budget.in_use_bytes(), 1024);
        a.cover(700 * 1024).expect("700 KiB");
        assert_eq!(budget.in_use_bytes(), 700 * 1024);
        let mut b = budget.hold();
        b.cover(400 * 1024).expect_err("over the budget");
        b.cover(324 * 1024).expect("the rest");
        assert_eq!(budget.in_use_bytes(), 1024 * 1024);
        let bytes = a.into_bytes(vec![7; 10]);
        let copy = bytes.clone();
        drop(bytes);
        assert_eq!(budget.in_use_bytes(), 1024 * 1024, "a clone still holds it");
        drop(copy);
        assert_eq!(budget.in_use_bytes(), 324 * 1024);
        b.cover(700 * 1024).expect("room again");
        b.release_to(100 * 1024);
        assert_eq!(budget.in_use_bytes(), 100 * 1024);
        assert_eq!(budget.permits.available_permits(), 924);
        drop(b);
        assert_eq!(budget.in_use_bytes(), 0);
        assert_eq!(budget.permits.available_permits(), 1024);
    }
}
