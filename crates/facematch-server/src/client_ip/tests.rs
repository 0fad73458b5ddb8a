//! Unit tests of the client address: an untrusted peer, trusted proxies and both forwarding
//! headers, IPv6 by its /64.

use axum::http::HeaderValue;

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|n| n.parse().expect("cidr")).collect()
}

fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for v in values {
        map.append(name, HeaderValue::from_str(v).expect("value"));
    }
    map
}

#[test]
fn ipv6_is_bucketed_by_its_slash_64_and_mapped_ipv4_as_ipv4() {
    assert_eq!(
        bucket_address(ip("2001:db8:aaaa:bbbb:1:2:3:4")),
        ip("2001:db8:aaaa:bbbb::")
    );
    assert_eq!(
        AddressKey::from(ip("2001:db8:aaaa:bbbb::1")),
        AddressKey::from(ip("2001:db8:aaaa:bbbb:ffff:ffff:ffff:ffff"))
    );
    assert_ne!(
        AddressKey::from(ip("2001:db8:aaaa:bbbb::1")),
        AddressKey::from(ip("2001:db8:aaaa:bbbc::1"))
    );
    assert_eq!(
        bucket_address(ip("::ffff:198.51.100.9")),
        ip("198.51.100.9")
    );
    assert_eq!(bucket_address(ip("198.51.100.9")), ip("198.51.100.9"));
    assert_ne!(
        AddressKey::from(ip("198.51.100.9")),
        AddressKey::from(ip("198.51.100.10")),
        "IPv4 is not grouped"
    );
    assert_eq!(AddressKey::from(None::<IpAddr>).address(), None);
    assert_eq!(
        ClientIp(Some(ip("2001:db8::5"))).limiter_key().address(),
        Some(ip("2001:db8::"))
    );
}

#[test]
fn an_untrusted_peer_is_the_client_whatever_it_sends() {
    let spoof = headers("x-forwarded-for", &["203.0.113.1"]);
    let trusted = nets(&["10.0.0.0/8"]);
    let xff = ForwardedHeader::XForwardedFor;
    assert_eq!(
        client_address(ip("192.0.2.1"), &spoof, &trusted, xff),
        ip("192.0.2.1")
    );
    assert_eq!(
        client_address(ip("192.0.2.1"), &spoof, &[], xff),
        ip("192.0.2.1")
    );
    let fwd = headers("forwarded", &["for=203.0.113.1"]);
    assert_eq!(
        client_address(ip("192.0.2.1"), &fwd, &trusted, ForwardedHeader::Forwarded),
        ip("192.0.2.1")
    );
}

#[test]
fn x_forwarded_for_is_read_right_to_left_skipping_trusted_proxies() {
    let trusted = nets(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
    let xff = ForwardedHeader::XForwardedFor;
    let peer = ip("10.0.0.1");
    let cases: &[(&[&str], &str)] = &[
        // The client's own (spoofed) entries are left of the real one.
        (&["1.1.1.1, 203.0.113.7"], "203.0.113.7"),
        (&["1.1.1.1, 203.0.113.7, 10.9.9.9"], "203.0.113.7"),
        // Several lines are one list.
        (&["1.1.1.1, 203.0.113.7", "10.9.9.9"], "203.0.113.7"),
        // Ports and brackets, IPv4-mapped, empty elements.
        (&["203.0.113.7:5555"], "203.0.113.7"),
        (&["[2001:db8::7]:443, 10.1.1.1"], "2001:db8::7"),
        (&["2001:db8::7"], "2001:db8::7"),
        (&["::ffff:203.0.113.7"], "203.0.113.7"),
        (&["203.0.113.7,, "], "203.0.113.7"),
        (
            &["2001:db8:ffff:1::1, 2001:db8:1::1, 2001:db8:ffff::2"],
            "2001:db8:1::1",
        ),
        // All trusted: the left-most proxy sent it.
        (&["10.2.2.2, 10.3.3.3"], "10.2.2.2"),
        // Garbage left of the client is never read.
        (&["garbage, 203.0.113.7"], "203.0.113.7"),
        // Malformed where the client should be: the peer.
        (&["203.0.113.7, garbage"], "10.0.0.1"),
        (&["203.0.113.7, unknown, 10.1.1.1"], "10.0.0.1"),
        (&["[2001:db8::7]:port"], "10.0.0.1"),
        (&["[2001:db8::7"], "10.0.0.1"),
        (&[""], "10.0.0.1"),
        (&[], "10.0.0.1"),
    ];
    for (values, want) in cases {
        let map = headers("x-forwarded-for", values);
        assert_eq!(
            client_address(peer, &map, &trusted, xff),
            ip(want),
            "{values:?}"
        );
    }
    // A mapped peer address is matched as IPv4.
    let map = headers("x-forwarded-for", &["203.0.113.7"]);
    assert_eq!(
        client_address(ip("::ffff:10.0.0.1"), &map, &trusted, xff),
        ip("203.0.113.7")
    );
    // Bytes that are not text: the peer.
    let mut map = HeaderMap::new();
    map.insert(
        "x-forwarded-for",
        HeaderValue::from_bytes(b"203.0.113.\xff").expect("value"),
    );
    assert_eq!(client_address(peer, &map, &trusted, xff), peer);
}

#[test]
fn forwarded_for_is_parsed_as_rfc_7239_writes_it() {
    let trusted = nets(&["10.0.0.0/8"]);
    let fwd = ForwardedHeader::Forwarded;
    let peer = ip("10.0.0.1");
    let cases: &[(&[&str], &str)] = &[
        (&["for=203.0.113.7"], "203.0.113.7"),
        (&["For=\"[2001:db8:cafe::17]:4711\""], "2001:db8:cafe::17"),
        (
            &["for=\"203.0.113.7:47011\";proto=https;by=10.0.0.1"],
            "203.0.113.7",
        ),
        (&["proto=http;FOR=203.0.113.7"], "203.0.113.7"),
        (
            &["for=1.1.1.1, for=203.0.113.7;by=\"a,b;c\", for=10.5.5.5"],
            "203.0.113.7",
        ),
        (&["for=1.1.1.1", "for=203.0.113.7"], "203.0.113.7"),
        // Not an address where the client should be: the peer.
        (&["for=unknown"], "10.0.0.1"),
        (&["for=_hidden, for=10.5.5.5"], "10.0.0.1"),
        (&["proto=https"], "10.0.0.1"),
        (&["for=\"[2001:db8::1]\\\"\""], "10.0.0.1"),
        (&["for=\"203.0.113.7"], "10.0.0.1"),
    ];
    for (values, want) in cases {
        let map = headers("forwarded", values);
        assert_eq!(
            client_address(peer, &map, &trusted, fwd),
            ip(want),
            "{values:?}"
        );
    }
    // Only the configured header is read: a client-sent `Forwarded` passed through a
    // proxy that sets `X-Forwarded-For` does not choose the address, and vice versa.
    let mut both = headers("x-forwarded-for", &["203.0.113.7"]);
    both.append("forwarded", HeaderValue::from_static("for=1.1.1.1"));
    assert_eq!(
        client_address(peer, &both, &trusted, ForwardedHeader::XForwardedFor),
        ip("203.0.113.7")
    );
    assert_eq!(client_address(peer, &both, &trusted, fwd), ip("1.1.1.1"));
}
