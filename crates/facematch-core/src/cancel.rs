//! What a caller and the worker running its comparison share: a cancellation token the
//! caller sets when it no longer wants the answer (the client went away, the deadline
//! passed), and a flag the pipeline sets when work that costs has started (the first
//! image's pixels are about to be decoded), so that the caller can charge for it.
//!
//! Hand-written on two `Arc<AtomicBool>`s rather than a crate's token (tokio-util's
//! `CancellationToken`): the core must not depend on an async runtime, and the worker
//! only ever polls a flag between stages: nothing here waits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cooperative cancellation flag: [`cancel`](Self::cancel) on one thread, and the
/// pipeline stops at its next stage boundary (before decoding each part, before each
/// detection angle, before describing each face) with [`Cancelled`]. Clones share the
/// flag. The default token is never cancelled unless someone cancels it.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the work to stop at its next stage boundary; idempotent.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// A stage boundary: `Err(Cancelled)` once the token is cancelled.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Set by the pipeline the moment work that costs begins: an uploaded part's header was
/// read, its dimensions accepted and the file found complete, and its pixels are about
/// to be decoded. Never unset.
/// Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct WorkStarted(Arc<AtomicBool>);

impl WorkStarted {
    /// Nothing started yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that work has started.
    pub fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether work has started.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The work was stopped because its [`CancelToken`] was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the comparison was cancelled (its caller no longer waits for it)")]
pub struct Cancelled;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_each_flag() {
        let token = CancelToken::new();
        let seen_by_worker = token.clone();
        assert_eq!(seen_by_worker.check(), Ok(()));
        token.cancel();
        assert_eq!(seen_by_worker.check(), Err(Cancelled));

        let started = WorkStarted::new();
        let seen_by_caller = started.clone();
        assert!(!seen_by_caller.is_set());
        started.mark();
        assert!(seen_by_caller.is_set());
    }
}
