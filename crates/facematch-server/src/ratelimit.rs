//! A small in-memory token bucket per client: per address for sign-ups (enough to stop
//! one client from flooding mailboxes or the database), per API key id for face matches
//! (one key cannot take every worker). Not shared between server processes.
//!
//! The limiter reads the time from its [`Clock`]: the system's monotonic clock when
//! serving, a [`ManualClock`] that only moves when told in tests (a refill is then a
//! call to [`ManualClock::advance`], not a sleep).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most addresses remembered; the oldest (fully refilled) buckets are dropped beyond it
/// so that a scan of many addresses cannot grow memory without bound.
const MAX_TRACKED: usize = 10_000;

/// Where a [`RateLimiter`] reads the time.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// [`Instant::now`].
    #[default]
    System,
    /// A clock that moves only when advanced (tests).
    Manual(ManualClock),
}

impl Clock {
    /// The current time of this clock.
    pub fn now(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            Clock::Manual(clock) => clock.now(),
        }
    }
}

/// A clock that stands still until [`advance`](Self::advance)d; clones share the time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    start: Instant,
    elapsed: Arc<Mutex<Duration>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A clock standing at the moment it was made.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            elapsed: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    /// Moves the clock (and every clone of it) forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self
            .elapsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += by;
    }

    /// The time it shows.
    pub fn now(&self) -> Instant {
        self.start
            + *self
                .elapsed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Token buckets keyed by client (by default the client address; `None`: address
/// unknown, one shared bucket).
#[derive(Debug)]
pub struct RateLimiter<K = Option<IpAddr>> {
    capacity: f64,
    per_second: f64,
    clock: Clock,
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
            clock: Clock::System,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The same limiter reading the time from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Takes one token for `client` at the limiter's clock's time (see [`check`](Self::check)).
    pub fn take(&self, client: K) -> Result<(), u64> {
        self.check(client, self.clock.now())
    }

    /// Takes one token for `client` at `now`; `Err(seconds)` until the next token when
    /// none is left.
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
        // 2 per minute: one token every 30 s.
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        assert_eq!(limiter.check(a, t0), Ok(()));
        assert_eq!(limiter.check(a, t0), Ok(()));
        assert_eq!(limiter.check(a, t0), Err(30), "third is refused for 30 s");
        assert_eq!(
            limiter.check(b, t0),
            Ok(()),
            "other addresses are independent"
        );
        // Half a token after 15 s: 15 s more to wait.
        assert_eq!(limiter.check(a, t0 + Duration::from_secs(15)), Err(15));
        // One whole token after 30 s, and only one.
        assert_eq!(limiter.check(a, t0 + Duration::from_secs(30)), Ok(()));
        assert_eq!(limiter.check(a, t0 + Duration::from_secs(30)), Err(30));
    }

    #[test]
    fn per_second_buckets_by_key() {
        let limiter: RateLimiter<String> = RateLimiter::per_second(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check("k1".into(), t0), Ok(()));
        }
        assert_eq!(limiter.check("k1".into(), t0), Err(1));
        assert_eq!(limiter.check("k2".into(), t0), Ok(()));
        // Half a second refills one token at 2/s.
        assert_eq!(
            limiter.check("k1".into(), t0 + Duration::from_millis(500)),
            Ok(())
        );
        assert_eq!(
            limiter.check("k1".into(), t0 + Duration::from_millis(500)),
            Err(1)
        );
        // Slow rates round the wait up to whole seconds.
        let slow: RateLimiter<String> = RateLimiter::per_second(0.1, 1);
        assert_eq!(slow.check("k".into(), t0), Ok(()));
        assert_eq!(slow.check("k".into(), t0), Err(10));
        // A rate that is not a positive number is one per thousand seconds.
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let odd: RateLimiter<String> = RateLimiter::per_second(rate, 1);
            assert_eq!(odd.check("k".into(), t0), Ok(()), "{rate}");
            assert_eq!(odd.check("k".into(), t0), Err(1000), "{rate}");
        }
    }

    #[test]
    fn an_idle_bucket_refills_to_its_capacity_and_no_further() {
        // 3 per minute; a client idle for a day still gets a burst of exactly 3.
        let limiter: RateLimiter<u32> = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(limiter.check(1, t0), Ok(()));
        let later = t0 + Duration::from_secs(24 * 3600);
        for i in 0..3 {
            assert_eq!(limiter.check(1, later), Ok(()), "request {i} of the burst");
        }
        assert_eq!(limiter.check(1, later), Err(20));
        // A capacity of 0 is taken as 1.
        let one: RateLimiter<u32> = RateLimiter::new(0, Duration::from_secs(60));
        assert_eq!(one.check(1, t0), Ok(()));
        assert_eq!(one.check(1, t0), Err(60));
    }

    #[test]
    fn past_the_tracking_cap_full_buckets_are_dropped_and_drained_ones_kept() {
        // 2 per minute: one token every 30 s.
        let limiter: RateLimiter<u32> = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        let tracked = |l: &RateLimiter<u32>| l.buckets.lock().expect("lock").len();
        // A scan of MAX_TRACKED - 1 clients, one request each at t0 ...
        for client in 1..MAX_TRACKED as u32 {
            assert_eq!(limiter.check(client, t0), Ok(()));
        }
        // ... and client 0, which drains its bucket 30 s later.
        let t30 = t0 + Duration::from_secs(30);
        assert_eq!(limiter.check(0, t30), Ok(()));
        assert_eq!(limiter.check(0, t30), Ok(()));
        assert_eq!(tracked(&limiter), MAX_TRACKED);
        // A new client at t0 + 60 s: the scanners' buckets are full again and dropped;
        // client 0 (one token back of two) is kept.
        let t60 = t0 + Duration::from_secs(60);
        assert_eq!(limiter.check(MAX_TRACKED as u32, t60), Ok(()));
        assert_eq!(tracked(&limiter), 2);
        assert_eq!(limiter.check(0, t60), Ok(()), "one token refilled");
        assert_eq!(
            limiter.check(0, t60),
            Err(30),
            "and no more: its state was kept"
        );
    }

    #[test]
    fn past_the_tracking_cap_with_no_full_bucket_everything_is_forgotten() {
        let limiter: RateLimiter<u32> = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        for client in 0..MAX_TRACKED as u32 {
            assert_eq!(limiter.check(client, t0), Ok(()));
        }
        assert_eq!(limiter.check(0, t0), Ok(()));
        assert_eq!(limiter.check(0, t0), Err(30));
        // Memory stays bounded: the map is cleared for the newcomer. The price: client 0
        // starts again with a full bucket.
        assert_eq!(limiter.check(MAX_TRACKED as u32, t0), Ok(()));
        assert_eq!(limiter.buckets.lock().expect("lock").len(), 1);
        assert_eq!(limiter.check(0, t0), Ok(()));
        assert_eq!(limiter.check(0, t0), Ok(()));
        assert_eq!(limiter.check(0, t0), Err(30));
    }

    #[test]
    fn take_reads_the_injected_clock() {
        let clock = ManualClock::new();
        let limiter: RateLimiter<&str> =
            RateLimiter::per_second(1.0, 1).with_clock(Clock::Manual(clock.clone()));
        assert_eq!(limiter.take("k"), Ok(()));
        assert_eq!(limiter.take("k"), Err(1));
        // A clone of the clock moves the limiter's time too.
        let shared = clock.clone();
        shared.advance(Duration::from_millis(999));
        assert_eq!(limiter.take("k"), Err(1));
        shared.advance(Duration::from_millis(1));
        assert_eq!(limiter.take("k"), Ok(()));
        assert_eq!(clock.now(), shared.now());
        assert_eq!(clock.now() - clock.start, Duration::from_secs(1));
    }
}
