//! How many face matches each API key has in progress, bounded per key
//! (`--max-in-flight-per-key`).
//!
//! A map from key id to a count, behind one mutex held only to add or subtract: an entry
//! exists only while its count is above 0 (the last [`InFlightSlot`] to drop removes
//! it), so the map never holds more entries than there are requests in progress.
//! Hand-written (30 lines) because no well-kept crate offers a keyed counting semaphore
//! that forgets idle keys (`governor` limits rates, not concurrency; a map of tokio
//! semaphores would need the same removal logic around it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Face matches in progress per key; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct KeyInFlight {
    limit: usize,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl KeyInFlight {
    /// At most `limit` per key at once; 0 means no limit.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            counts: Arc::default(),
        }
    }

    /// One more request of `key_id` in progress, held until the slot drops; `None` when
    /// the key already has `limit` in progress.
    pub fn try_enter(&self, key_id: &str) -> Option<InFlightSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key_id.to_owned()).or_insert(0);
        if self.limit > 0 && *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(InFlightSlot {
            counts: Arc::clone(&self.counts),
            key_id: key_id.to_owned(),
        })
    }

    /// Keys with at least one request in progress (the map's size).
    pub fn keys(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One request of a key in progress; dropping it ends it.
#[derive(Debug)]
pub struct InFlightSlot {
    counts: Arc<Mutex<HashMap<String, usize>>>,
    key_id: String,
}

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_limit_others_are_unaffected_and_idle_keys_are_forgotten() {
        let limits = KeyInFlight::new(2);
        let a1 = limits.try_enter("a").expect("first");
        let a2 = limits.try_enter("a").expect("second");
        assert!(limits.try_enter("a").is_none(), "third of the same key");
        let b = limits.try_enter("b").expect("another key");
        assert_eq!(limits.keys(), 2);
        drop(a1);
        let a3 = limits.try_enter("a").expect("a slot was freed");
        drop((a2, a3, b));
        assert_eq!(limits.keys(), 0, "no entry outlives its requests");
        // 0 is no limit; the entry still goes with the last request.
        let none = KeyInFlight::new(0);
        let many: Vec<_> = (0..100)
            .map(|_| none.try_enter("c").expect("no limit"))
            .collect();
        assert_eq!(none.keys(), 1);
        drop(many);
        assert_eq!(none.keys(), 0);
    }
}
