//! A small in-memory token bucket per client: per address for sign-ups (enough to stop
//! one client from flooding mailboxes or the database), per API key id for face matches
//! (one key cannot take every worker). Not shared between server processes.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses remembered; the oldest (fully refilled) buckets are dropped beyond it
/// so that a scan of many addresses cannot grow memory without bound.
const MAX_TRACKED: usize = 10_000;

/// Token buckets keyed by client (by default the client address; `None`: address
/// unknown, one shared bucket).
#[derive(Debug)]
pub struct RateLimiter<K = Option<IpAddr>> {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// `capacity` requests at once, refilled at `capacity` per `period`.
    pub fn new(capacity: u32, period: Duration) -> Self {
        let capacity = f64::from(capacity.max(1));
        Self::with_rate(capacity, capacity / period.as_secs_f64().max(1e-3))
    }

    /// Bursts of `burst` requests, refilled at `per_second` tokens per second (a rate
    /// that is not a positive number is taken as one per thousand seconds).
    pub fn per_second(per_second: f64, burst: u32) -> Self {
        let rate = if per_second.is_finite() && per_second > 0.0 {
            per_second
        } else {
            1e-3
        };
        Self::with_rate(f64::from(burst.max(1)), rate)
    }

    fn with_rate(capacity: f64, per_second: f64) -> Self {
        Self {
            capacity,
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client`; `Err(seconds)` until the next token when none is
    /// left.
    pub fn check(&self, client: K, now: Instant) -> Result<(), u64> {
        // A poisoned lock only means another request panicked mid-update of plain
        // numbers; the map is still usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&client) {
            let (capacity, rate) = (self.capacity, self.per_second);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < capacity
            });
            if buckets.len() >= MAX_TRACKED {
                buckets.clear();
            }
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.capacity, now));
        let refilled =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.capacity);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            Err(((1.0 - refilled) / self.per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_then_refills_per_address() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        assert!(limiter.check(a, t0).is_ok());
        assert!(limiter.check(a, t0).is_ok());
        let wait = limiter.check(a, t0).expect_err("third is refused");
        assert!((1..=30).contains(&wait), "{wait}");
        assert!(
            limiter.check(b, t0).is_ok(),
            "other addresses are independent"
        );
        assert!(limiter.check(a, t0 + Duration::from_secs(31)).is_ok());
    }

    #[test]
    fn per_second_buckets_by_key() {
        let limiter: RateLimiter<String> = RateLimiter::per_second(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("k1".into(), t0).is_ok());
        }
        assert_eq!(limiter.check("k1".into(), t0), Err(1));
        assert!(limiter.check("k2".into(), t0).is_ok());
        // Half a second refills one token at 2/s.
        assert!(limiter
            .check("k1".into(), t0 + Duration::from_millis(500))
            .is_ok());
        // Slow rates round the wait up to whole seconds.
        let slow: RateLimiter<String> = RateLimiter::per_second(0.1, 1);
        assert!(slow.check("k".into(), t0).is_ok());
        assert_eq!(slow.check("k".into(), t0), Err(10));
    }
}
