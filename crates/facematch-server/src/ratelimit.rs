//! A small in-memory token bucket per client: per address for sign-ups (enough to stop
//! one client from flooding mailboxes or the database), per API key id for face matches
//! (one key cannot take every worker). Not shared between server processes.
//!
//! **Per address** means per [`AddressKey`]: an IPv4 address, or an IPv6 client's /64
//! (one host is routinely given a whole /64, so per full IPv6 address a single machine
//! would have 2^64 buckets); IPv4-mapped IPv6 addresses count as their IPv4 address.
//! Which address is the client's (the TCP peer, or behind `--trusted-proxy` the one its
//! forwarding header names) is decided in [`crate::client_ip`].
//!
//! **Memory is bounded** at [`MAX_TRACKED`] buckets per limiter, and a limited client is
//! never forgotten early: when the table is full and a new client comes, only buckets
//! that have refilled completely are dropped (a full bucket is indistinguishable from a
//! new one, so nothing is lost). If none is full, the newcomer is refused (429, with
//! the seconds until the first bucket is full again) rather than freeing a limited
//! client's bucket: a scan of many addresses can delay newcomers for at most one refill
//! period, but can never reset anyone's limit. Clients already tracked are served as
//! usual. (Hand-written rather than `governor`: its keyed limiter bounds memory only
//! through `retain_recent`, which drops the same full buckets, so the choice of what to
//! do when none is full — the part that matters here — would be ours all the same, on
//! top of a second clock abstraction.)
//!
//! The limiter reads the time from its [`Clock`]: the system's monotonic clock when
//! serving, a [`ManualClock`] that only moves when told in tests (a refill is then a
//! call to [`ManualClock::advance`], not a sleep).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::client_ip::AddressKey;

/// Most clients one limiter tracks. At the cap, fully refilled buckets are dropped for a
/// newcomer; if none is full the newcomer is refused (see the module docs).
pub const MAX_TRACKED: usize = 10_000;

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

/// Token buckets keyed by client (by default its [`AddressKey`]: address, IPv6 by /64;
/// address unknown: one shared bucket), at most [`MAX_TRACKED`] of them.
#[derive(Debug)]
pub struct RateLimiter<K = AddressKey> {
    capacity: f64,
    per_second: f64,
    clock: Clock,
    buckets: Mutex<Buckets<K>>,
}

/// The tracked clients' buckets.
#[derive(Debug)]
struct Buckets<K> {
    /// Tokens left and when they were counted, per client.
    map: HashMap<K, (f64, Instant)>,
    /// Set when the table was full with no full bucket to drop: no bucket is full again
    /// before this time, so newcomers until then are refused without another scan.
    none_full_until: Option<Instant>,
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
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                none_full_until: None,
            }),
        }
    }

    /// The same limiter reading the time from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Takes one token for `client` at the limiter's clock's time (see [`check`](Self::check)).
    /// The client is anything that converts into the key: a per-address limiter takes
    /// an `Option<IpAddr>` or a [`ClientIp`](crate::client_ip::ClientIp) and buckets it
    /// by [`AddressKey`].
    pub fn take(&self, client: impl Into<K>) -> Result<(), u64> {
        self.check(client.into(), self.clock.now())
    }

    /// Takes one token for `client` at `now`; `Err(seconds)` until the next token when
    /// none is left, or, for a new client while [`MAX_TRACKED`] limited clients are
    /// tracked, until the first of their buckets is full again.
    pub fn check(&self, client: K, now: Instant) -> Result<(), u64> {
        // A poisoned lock only means another request panicked mid-update of plain
        // numbers; the map is still usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.map.len() >= MAX_TRACKED && !buckets.map.contains_key(&client) {
            self.make_room(&mut buckets, now)?;
        }
        let (tokens, at) = buckets.map.entry(client).or_insert((self.capacity, now));
        let refilled = self.tokens_at(*tokens, *at, now);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            Err(whole_seconds((1.0 - refilled) / self.per_second))
        }
    }

    /// Tokens of a bucket that held `tokens` at `at`, at `now` (at most the capacity).
    fn tokens_at(&self, tokens: f64, at: Instant, now: Instant) -> f64 {
        (tokens + now.saturating_duration_since(at).as_secs_f64() * self.per_second)
            .min(self.capacity)
    }

    /// Drops every full bucket; `Err(seconds until one is full)` when none was (the table
    /// is kept whole: a limited client is never forgotten early).
    fn make_room(&self, buckets: &mut Buckets<K>, now: Instant) -> Result<(), u64> {
        if let Some(until) = buckets.none_full_until {
            if now < until {
                return Err(whole_seconds((until - now).as_secs_f64()));
            }
        }
        let mut soonest = f64::INFINITY;
        buckets.map.retain(|_, (tokens, at)| {
            let missing = self.capacity - self.tokens_at(*tokens, *at, now);
            soonest = soonest.min(missing / self.per_second);
            missing > 0.0
        });
        if buckets.map.len() < MAX_TRACKED {
            buckets.none_full_until = None;
            return Ok(());
        }
        // `soonest` is finite and > 0 here: the table is not empty and nothing was full.
        let wait = Duration::try_from_secs_f64(soonest).unwrap_or(Duration::from_secs(1));
        buckets.none_full_until = now.checked_add(wait);
        Err(whole_seconds(soonest))
    }
}

/// A wait in seconds, rounded up, at least 1 (the `Retry-After` value).
fn whole_seconds(seconds: f64) -> u64 {
    seconds.ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

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
        let tracked = |l: &RateLimiter<u32>| l.buckets.lock().expect("lock").map.len();
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
    fn past_the_tracking_cap_with_no_full_bucket_newcomers_wait_and_no_one_is_forgotten() {
        // Bursts of 2, one token every 2 s (binary fractions: exact arithmetic).
        let limiter: RateLimiter<u32> = RateLimiter::per_second(0.5, 2);
        let tracked = |l: &RateLimiter<u32>| l.buckets.lock().expect("lock").map.len();
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        for client in 0..MAX_TRACKED as u32 {
            assert_eq!(limiter.check(client, t0), Ok(()));
        }
        assert_eq!(limiter.check(0, t0), Ok(()));
        assert_eq!(limiter.check(0, t0), Err(2), "client 0 is limited");
        // The table is full and no bucket is full: newcomers are refused until the
        // first bucket refills (2 s: the scanners' half-empty buckets), the table is
        // not cleared, and memory stays at the cap.
        let newcomer = MAX_TRACKED as u32;
        assert_eq!(limiter.check(newcomer, t0), Err(2));
        assert_eq!(
            limiter.check(newcomer + 1, at(1)),
            Err(1),
            "refused again without a rescan, with the remaining wait"
        );
        assert_eq!(tracked(&limiter), MAX_TRACKED);
        assert_eq!(limiter.check(0, at(1)), Err(1), "client 0 stays limited");
        // Tracked clients are served as usual meanwhile.
        assert_eq!(limiter.check(1, at(1)), Ok(()));
        // At 2 s the scanners' buckets (except client 1's, used at 1 s) are full again:
        // they are dropped, the newcomer is admitted, client 0 keeps its state.
        assert_eq!(limiter.check(newcomer, at(2)), Ok(()));
        assert_eq!(tracked(&limiter), 3, "clients 0, 1 and the newcomer");
        assert_eq!(limiter.check(0, at(2)), Ok(()), "one token refilled");
        assert_eq!(limiter.check(0, at(2)), Err(2), "and only one");
    }

    #[test]
    fn a_limited_client_outlives_any_number_of_newcomers() {
        // Capacity 1 per hour: every scanner drains its bucket with its one request.
        let limiter: RateLimiter<u32> = RateLimiter::new(1, Duration::from_secs(3600));
        let t0 = Instant::now();
        assert_eq!(limiter.check(0, t0), Ok(()));
        assert_eq!(limiter.check(0, t0), Err(3600));
        let mut refused = 0;
        for client in 1..=(2 * MAX_TRACKED as u32) {
            if limiter.check(client, t0).is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, MAX_TRACKED + 1, "all past the cap are refused");
        assert_eq!(limiter.check(0, t0), Err(3600), "client 0 is still limited");
    }

    #[test]
    fn one_ipv6_slash_64_is_one_bucket() {
        let limiter: RateLimiter = RateLimiter::new(1, Duration::from_secs(60));
        let host = |text: &str| Some(text.parse::<std::net::IpAddr>().expect("address"));
        assert_eq!(limiter.take(host("2001:db8:1:2::1")), Ok(()));
        assert_eq!(
            limiter.take(host("2001:db8:1:2:ffff:eeee:dddd:cccc")),
            Err(60),
            "same /64: same bucket"
        );
        assert_eq!(limiter.take(host("2001:db8:1:3::1")), Ok(()), "next /64");
        // An IPv4 client over a dual-stack socket is the same client as over IPv4.
        assert_eq!(limiter.take(host("192.0.2.7")), Ok(()));
        assert_eq!(limiter.take(host("::ffff:192.0.2.7")), Err(60));
        assert_eq!(limiter.take(host("192.0.2.8")), Ok(()), "IPv4 by address");
        // Address unknown: one shared bucket.
        assert_eq!(limiter.take(None), Ok(()));
        assert_eq!(limiter.take(None), Err(60));
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
