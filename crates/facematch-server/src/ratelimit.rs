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
        self.check_detailed(client, now)
            .map(|_| ())
            .map_err(|denied| denied.retry_after)
    }

    /// [`take`](Self::take), saying what is left: the [`Grant`] when a token was taken,
    /// the [`Denied`] wait otherwise (for the `X-RateLimit-*` headers).
    pub fn take_detailed(&self, client: impl Into<K>) -> Result<Grant, Denied> {
        self.check_detailed(client.into(), self.clock.now())
    }

    /// The sustained rate, in requests per minute (the `X-RateLimit-Limit` value).
    pub fn per_minute(&self) -> u32 {
        // Rates are configured per minute or per second with small values; the cast
        // saturates for anything absurd.
        (self.per_second * 60.0).round() as u32
    }

    /// [`check`](Self::check), saying what is left.
    pub fn check_detailed(&self, client: K, now: Instant) -> Result<Grant, Denied> {
        // A poisoned lock only means another request panicked mid-update of plain
        // numbers; the map is still usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.map.len() >= MAX_TRACKED && !buckets.map.contains_key(&client) {
            self.make_room(&mut buckets, now)
                .map_err(|retry_after| Denied {
                    retry_after,
                    full_in: Duration::from_secs(retry_after),
                })?;
        }
        let (tokens, at) = buckets.map.entry(client).or_insert((self.capacity, now));
        let refilled = self.tokens_at(*tokens, *at, now);
        *at = now;
        let full_in = |left: f64| {
            Duration::try_from_secs_f64((self.capacity - left).max(0.0) / self.per_second)
                .unwrap_or(Duration::MAX)
        };
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(Grant {
                // Whole tokens left; at most the capacity, a small u32.
                remaining: tokens.floor() as u32,
                full_in: full_in(*tokens),
            })
        } else {
            *tokens = refilled;
            Err(Denied {
                retry_after: whole_seconds((1.0 - refilled) / self.per_second),
                full_in: full_in(refilled),
            })
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

/// A token taken: what the client has left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grant {
    /// Whole requests the client may still make at once.
    pub remaining: u32,
    /// Until the client's bucket is full again.
    pub full_in: Duration,
}

/// No token left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Denied {
    /// Seconds until the next token (the `Retry-After` value).
    pub retry_after: u64,
    /// Until the client's bucket is full again.
    pub full_in: Duration,
}

/// A wait in seconds, rounded up, at least 1 (the `Retry-After` value).
fn whole_seconds(seconds: f64) -> u64 {
    seconds.ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests;
