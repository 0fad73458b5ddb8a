//! Item 5, the per-address rate limit, over real sockets from many loopback source
//! addresses (127.0.0.0/8): a scan of 10,001 addresses does not reset a limited
//! address, IPv6 clients of one /64 share a bucket, and forwarding headers choose the
//! bucket only when the TCP peer is a `--trusted-proxy`.
//!
//! The limit driven is the sign-up one (`--register-per-hour`), taken before anything
//! else the route does; each request's password is too short, so a request the limiter
//! lets through is a cheap 400 (no password hashing, nothing stored) and a refused one
//! the 429.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use facematch_server::config::SignupMode;
use facematch_server::ServerConfig;
use facematch_testkit::http1;
use futures_util::future::join_all;
use tokio::io::BufReader;
use tokio::net::TcpSocket;

use crate::common::{live_app, TestApp};

const REGISTER: &str = "/auth/v2/programmatic/register/";

/// A sign-up body the limiter sees like any other, refused after it with a 400.
const SHORT_PASSWORD: &[u8] = br#"{"email":"scan@example.com","password":"short"}"#;

/// One sign-up attempt to `server` on a new connection from source address `from`,
/// with extra `headers`; the status and `Retry-After`.
async fn register_from(
    server: SocketAddr,
    from: Ipv4Addr,
    headers: &[(&str, &str)],
) -> (u16, Option<u64>) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind a loopback source address");
    let stream = socket.connect(server).await.expect("connect");
    let mut all = vec![
        ("Connection", "close"),
        ("Content-Type", "application/json"),
    ];
    all.extend_from_slice(headers);
    let request = http1::request("POST", REGISTER, &server.to_string(), &all, SHORT_PASSWORD);
    let response = http1::exchange(&mut BufReader::new(stream), &request)
        .await
        .expect("answer");
    (response.status, response.retry_after())
}

/// Sign-ups open, one attempt per hour per address.
fn one_per_hour(config: &mut ServerConfig) {
    config.signup = SignupMode::Open;
    config.register_per_hour = 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_address_stays_limited_after_10_001_other_addresses() {
    let live = live_app(TestApp::loading(one_per_hour)).await;
    let victim = Ipv4Addr::new(127, 0, 0, 2);
    assert_eq!(register_from(live.addr, victim, &[]).await.0, 400);
    let (status, retry) = register_from(live.addr, victim, &[]).await;
    assert_eq!((status, retry.is_some()), (429, true), "victim limited");

    // 10,001 other addresses, one attempt each, 16 at a time.
    let scanners: Vec<Ipv4Addr> = (0..10_001u32)
        .map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 1, 0, 0)) + i))
        .collect();
    let mut statuses = Vec::with_capacity(scanners.len());
    for batch in scanners.chunks(16) {
        let answers = join_all(
            batch
                .iter()
                .map(|from| register_from(live.addr, *from, &[])),
        )
        .await;
        statuses.extend(answers.into_iter().map(|(status, _)| status));
    }
    // The limiter tracks 10,000 clients: the victim and the first 9,999 scanners. With
    // every bucket drained (none full again for an hour) the last two newcomers are
    // refused instead of anyone being forgotten.
    let (status, retry) = register_from(live.addr, victim, &[]).await;
    assert_eq!(
        (status, retry.is_some()),
        (429, true),
        "the victim is still limited after the scan"
    );
    let admitted = statuses.iter().filter(|s| **s == 400).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((admitted, refused), (9_999, 2), "no other answer");
    live.shutdown().await;
}

#[tokio::test]
async fn two_ipv6_addresses_of_one_slash_64_share_a_bucket() {
    // In process, with the peer address set as the real server sets it: loopback has
    // one IPv6 address only.
    let app = TestApp::loading(one_per_hour);
    let from = |peer: &str| {
        let peer: IpAddr = peer.parse().expect("address");
        let mut request = Request::post(REGISTER)
            .header("content-type", "application/json")
            .body(Body::from(SHORT_PASSWORD))
            .expect("request");
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
        request
    };
    assert_eq!(app.call(from("2001:db8:1:2::1")).await.status, 400);
    app.call(from("2001:db8:1:2:aaaa:bbbb:cccc:dddd"))
        .await
        .assert_error(429, "rate_limited");
    assert_eq!(
        app.call(from("2001:db8:1:3::1")).await.status,
        400,
        "the next /64 is another client"
    );
    // A dual-stack socket's IPv4-mapped address is the IPv4 client.
    assert_eq!(app.call(from("192.0.2.9")).await.status, 400);
    app.call(from("::ffff:192.0.2.9"))
        .await
        .assert_error(429, "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_choose_the_bucket_only_from_a_trusted_proxy() {
    let live = live_app(TestApp::loading(|config| {
        one_per_hour(config);
        config.trusted_proxy = vec!["127.0.0.1/32".parse().expect("cidr")];
    }))
    .await;
    let proxy = Ipv4Addr::new(127, 0, 0, 1);
    let stranger = Ipv4Addr::new(127, 0, 0, 2);
    let server = live.addr;
    let send = |from, xff: Option<&'static str>| {
        let headers: Vec<(&str, &str)> = xff.map(|v| ("X-Forwarded-For", v)).into_iter().collect();
        async move { register_from(server, from, &headers).await.0 }
    };

    // Through the proxy, each forwarded client has its own bucket ...
    assert_eq!(send(proxy, Some("203.0.113.5")).await, 400);
    assert_eq!(send(proxy, Some("203.0.113.5")).await, 429, "same client");
    assert_eq!(
        send(proxy, Some("203.0.113.6")).await,
        400,
        "another client"
    );
    // ... named by the right-most entry: what the client itself wrote is left of it.
    assert_eq!(send(proxy, Some("203.0.113.99, 203.0.113.5")).await, 429);
    // A malformed header, or none: the proxy's own bucket.
    assert_eq!(send(proxy, Some("not an address")).await, 400);
    assert_eq!(send(proxy, None).await, 429, "the proxy's bucket");

    // From a peer that is not a trusted proxy the header is ignored: the stranger's
    // bucket, whatever it claims, and it cannot spend another client's.
    assert_eq!(send(stranger, Some("203.0.113.7")).await, 400);
    assert_eq!(send(stranger, Some("203.0.113.8")).await, 429);
    assert_eq!(send(stranger, None).await, 429);
    assert_eq!(
        send(Ipv4Addr::new(127, 0, 0, 3), Some("203.0.113.6")).await,
        400,
        "not 203.0.113.6's bucket"
    );
    live.shutdown().await;
}
