//! The one HTTP client that delivers webhooks, and the rules on where it may go.
//!
//! A webhook URL is chosen by an API client, so it is checked like untrusted input:
//! [`check_url`] runs when a destination is created or updated and again before every
//! send. `https://` only (unless [`OutboundPolicy::allow_http`]), no user name or
//! password, at most [`MAX_URL_BYTES`]; unless [`OutboundPolicy::allow_private`], no
//! host named `localhost` and no address in a private, loopback, link-local (the cloud
//! metadata address included), CGNAT, multicast, benchmarking, documentation or other
//! special range, IPv4-mapped, -compatible, NAT64 and 6to4 IPv6 forms of those
//! included ([`refused_range`]). A name is checked on every address DNS returns, at
//! connect time, by the client's own resolver, so a name that resolves to a public
//! address when the destination is saved and to a private one later (DNS rebinding)
//! is still refused. IP-literal hosts never reach a resolver: [`check_url`] checks them.
//!
//! [`Sender`] wraps one pooled `reqwest` client (rustls, ring provider; chosen as a
//! well-kept client with connection pooling, a redirect policy and a DNS-resolver
//! hook): it never follows redirects (a 3xx is a failed try), ignores proxy
//! environment variables (a proxy would resolve names itself, past the check), reads at
//! most [`MAX_RESPONSE_BYTES`] of a response (keeping the first [`KEPT_RESPONSE_BYTES`]
//! as text) and gives up after a total timeout. [`Sender::post`] never fails: what went
//! wrong is in its [`SendOutcome`].

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::sign::SignedRequest;

/// Longest webhook URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// Most bytes of a receiver's response body read; the rest is never downloaded.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024;

/// Bytes of a receiver's response body kept (as lossy UTF-8 text) in the outcome.
pub const KEPT_RESPONSE_BYTES: usize = 1024;

/// What the operator allows webhook URLs to reach (`--allow-http-webhooks`,
/// `--allow-private-webhooks`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// `http://` URLs are accepted, not only `https://`.
    pub allow_http: bool,
    /// Loopback, private and other special addresses may be reached.
    pub allow_private: bool,
}

/// Why a webhook URL is refused.
#[derive(Debug, thiserror::Error)]
pub enum UrlRefused {
    /// Longer than [`MAX_URL_BYTES`].
    #[error("the URL is {len} bytes long; at most {MAX_URL_BYTES} are accepted")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not a URL.
    #[error("not a valid URL: {0}")]
    Invalid(#[from] url::ParseError),
    /// `http://` without `--allow-http-webhooks`.
    #[error("webhook URLs must use https (this server does not allow http webhooks)")]
    HttpNotAllowed,
    /// Neither http nor https.
    #[error("unsupported URL scheme {scheme:?}: webhook URLs must use https")]
    Scheme {
        /// The scheme given.
        scheme: String,
    },
    /// A user name or password in the URL.
    #[error("webhook URLs must not hold a user name or password")]
    UserInfo,
    /// No host.
    #[error("the URL has no host")]
    NoHost,
    /// A `localhost` name.
    #[error("host {host} is a local name")]
    LocalName {
        /// The host.
        host: String,
    },
    /// An address in a refused range.
    #[error("address {addr} is {range}")]
    Address {
        /// The address.
        addr: IpAddr,
        /// The range's description, e.g. `private`.
        range: &'static str,
    },
    /// A name that resolves to no address.
    #[error("host {host} resolves to no address")]
    NoAddress {
        /// The host.
        host: String,
    },
}

/// Checks a webhook URL against `policy` (see the module doc) and parses it.
pub fn check_url(url: &str, policy: OutboundPolicy) -> Result<url::Url, UrlRefused> {
    if url.len() > MAX_URL_BYTES {
        return Err(UrlRefused::TooLong { len: url.len() });
    }
    let parsed = url::Url::parse(url)?;
    match parsed.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => return Err(UrlRefused::HttpNotAllowed),
        other => {
            return Err(UrlRefused::Scheme {
                scheme: other.to_owned(),
            })
        }
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlRefused::UserInfo);
    }
    let host = parsed.host().ok_or(UrlRefused::NoHost)?;
    if !policy.allow_private {
        match host {
            url::Host::Domain(name) => check_name(name)?,
            url::Host::Ipv4(v4) => check_ip(IpAddr::V4(v4))?,
            url::Host::Ipv6(v6) => check_ip(IpAddr::V6(v6))?,
        }
    }
    Ok(parsed)
}

/// Refuses `localhost` and names under it (RFC 6761), with or without a final dot.
fn check_name(name: &str) -> Result<(), UrlRefused> {
    let bare = name.trim_end_matches('.').to_ascii_lowercase();
    if bare == "localhost" || bare.ends_with(".localhost") {
        return Err(UrlRefused::LocalName {
            host: name.to_owned(),
        });
    }
    Ok(())
}

/// Refuses an address in a special range.
fn check_ip(addr: IpAddr) -> Result<(), UrlRefused> {
    match refused_range(addr) {
        Some(range) => Err(UrlRefused::Address { addr, range }),
        None => Ok(()),
    }
}

/// IPv4 ranges never reached without `allow_private`: (network, prefix length, name).
const V4_RANGES: &[(u32, u8, &str)] = &[
    (0x0000_0000, 8, "unspecified (0.0.0.0/8)"),
    (0x0a00_0000, 8, "private (10.0.0.0/8)"),
    (0x6440_0000, 10, "shared CGNAT space (100.64.0.0/10)"),
    (0x7f00_0000, 8, "loopback"),
    (
        0xa9fe_0000,
        16,
        "link-local (169.254.0.0/16, cloud metadata)",
    ),
    (0xac10_0000, 12, "private (172.16.0.0/12)"),
    (
        0xc000_0000,
        24,
        "reserved for IETF protocols (192.0.0.0/24)",
    ),
    (0xc000_0200, 24, "documentation (192.0.2.0/24)"),
    (0xc058_6300, 24, "6to4 relay anycast (192.88.99.0/24)"),
    (0xc0a8_0000, 16, "private (192.168.0.0/16)"),
    (0xc612_0000, 15, "benchmarking (198.18.0.0/15)"),
    (0xc633_6400, 24, "documentation (198.51.100.0/24)"),
    (0xcb00_7100, 24, "documentation (203.0.113.0/24)"),
    (0xe000_0000, 4, "multicast"),
    (0xf000_0000, 4, "reserved (240.0.0.0/4, broadcast)"),
];

/// IPv6 ranges never reached without `allow_private` (embedded IPv4 forms are
/// checked as IPv4 by [`refused_range`]).
const V6_RANGES: &[(u128, u8, &str)] = &[
    (0, 128, "unspecified"),
    (1, 128, "loopback"),
    (0x0100_0000_0000_0000 << 64, 64, "discard-only (100::/64)"),
    (0x2001_0db8 << 96, 32, "documentation (2001:db8::/32)"),
    (
        0x2001_0000 << 96,
        23,
        "IETF protocol assignments (2001::/23)",
    ),
    (0x3fff << 112, 20, "documentation (3fff::/20)"),
    (0xfc00 << 112, 7, "private (unique local, fc00::/7)"),
    (0xfe80 << 112, 10, "link-local (fe80::/10)"),
    (0xfec0 << 112, 10, "site-local (fec0::/10)"),
    (0xff00 << 112, 8, "multicast"),
];

/// The special range `addr` falls in, if any (see the module doc).
pub fn refused_range(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => embedded_v4(v6).map_or_else(|| v6_range(v6), v4_range),
    }
}

fn v4_range(v4: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(v4);
    V4_RANGES
        .iter()
        .find(|(net, len, _)| bits >> (32 - u32::from(*len)) == net >> (32 - u32::from(*len)))
        .map(|(_, _, name)| *name)
}

fn v6_range(v6: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(v6);
    V6_RANGES
        .iter()
        .find(|(net, len, _)| {
            *len == 128 && bits == *net
                || *len < 128 && bits >> (128 - u32::from(*len)) == net >> (128 - u32::from(*len))
        })
        .map(|(_, _, name)| *name)
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(v6);
    let low = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if bits >> 32 == 0xffff || (bits >> 32 == 0 && bits > 1) || bits >> 32 == 0x0064_ff9b << 64 {
        return Some(low);
    }
    if bits >> 112 == 0x2002 {
        return Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    None
}

/// The client's DNS resolver: the system's, then every address checked (unless
/// private addresses are allowed), so the check holds at connect time.
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver {
    /// Whether special addresses are let through.
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs = checked_addresses(&host, found, allow_private)?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// `found` when every address passes (or `allow_private`), else the first refusal.
pub fn checked_addresses(
    host: &str,
    found: Vec<SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, UrlRefused> {
    if found.is_empty() {
        return Err(UrlRefused::NoAddress {
            host: host.to_owned(),
        });
    }
    if !allow_private {
        check_name(host)?;
        for addr in &found {
            check_ip(addr.ip())?;
        }
    }
    Ok(found)
}

/// Why the webhook client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// reqwest refused the configuration (e.g. no TLS backend).
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// What one delivery try came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendOutcome {
    /// The response's status, when one came.
    pub status: Option<u16>,
    /// The first [`KEPT_RESPONSE_BYTES`] of the response body, as lossy UTF-8.
    pub body: Option<String>,
    /// Milliseconds from the start of the try to its end.
    pub elapsed_ms: i64,
    /// What went wrong, e.g. `timed out after 10 s`, `address 10.0.0.1 is private
    /// (10.0.0.0/8)`, `redirect not followed`; `None` when an answer came.
    pub error: Option<String>,
}

impl SendOutcome {
    /// Whether the receiver answered 2xx.
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The webhook HTTP client (one connection pool for all destinations).
#[derive(Clone, Debug)]
pub struct Sender {
    client: reqwest::Client,
    policy: OutboundPolicy,
    timeout: Duration,
}

impl Sender {
    /// A client with `policy` whose every try ends within `timeout` (connect, send and
    /// reading the capped response together).
    pub fn new(policy: OutboundPolicy, timeout: Duration) -> Result<Sender, OutboundError> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(!policy.allow_http)
            .timeout(timeout)
            .connect_timeout(timeout)
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: policy.allow_private,
            }))
            .build()?;
        Ok(Sender {
            client,
            policy,
            timeout,
        })
    }

    /// POSTs `req` to `url` once (see the module doc); never errors out.
    pub async fn post(&self, url: &str, req: &SignedRequest) -> SendOutcome {
        let started = Instant::now();
        let result = match check_url(url, self.policy) {
            Err(refused) => Err(refused.to_string()),
            Ok(parsed) => tokio::time::timeout(self.timeout, self.try_post(parsed, req))
                .await
                .unwrap_or_else(|_| Err(self.timed_out())),
        };
        let elapsed_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match result {
            Ok((status, body)) => SendOutcome {
                status: Some(status),
                body: Some(body),
                elapsed_ms,
                error: (300..400)
                    .contains(&status)
                    .then(|| "redirect not followed".to_owned()),
            },
            Err(error) => SendOutcome {
                status: None,
                body: None,
                elapsed_ms,
                error: Some(error),
            },
        }
    }

    async fn try_post(&self, url: url::Url, req: &SignedRequest) -> Result<(u16, String), String> {
        let mut request = self.client.post(url).body(req.body.clone());
        for (name, value) in &req.headers {
            request = request.header(*name, value);
        }
        let mut response = request.send().await.map_err(|e| self.describe(&e))?;
        let status = response.status().as_u16();
        let mut kept = Vec::new();
        let mut read = 0usize;
        while read < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    let room = KEPT_RESPONSE_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..room.min(chunk.len())]);
                }
                // The status came; a body cut short does not change it.
                Ok(None) | Err(_) => break,
            }
        }
        Ok((status, String::from_utf8_lossy(&kept).into_owned()))
    }

    fn timed_out(&self) -> String {
        let t = self.timeout;
        if t.subsec_millis() == 0 {
            format!("timed out after {} s", t.as_secs())
        } else {
            format!("timed out after {} ms", t.as_millis())
        }
    }

    /// A reqwest error in words: a refusal of the resolver as itself, a timeout as
    /// such, anything else as its source chain.
    fn describe(&self, error: &reqwest::Error) -> String {
        if error.is_timeout() {
            return self.timed_out();
        }
        let mut source: Option<&(dyn StdError + 'static)> = Some(error);
        let mut parts = Vec::new();
        while let Some(e) = source {
            if let Some(refused) = e.downcast_ref::<UrlRefused>() {
                return refused.to_string();
            }
            let text = e.to_string();
            if !parts.iter().any(|p: &String| p.contains(&text)) {
                parts.push(text);
            }
            source = e.source();
        }
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests;
