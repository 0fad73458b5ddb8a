//! Unit tests of the rate limiter on a manual clock: refill, per-address and per-key
//! buckets, the tracking cap.

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
