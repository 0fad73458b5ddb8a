//! Who the client is, by address: the [`ClientIp`] extractor and the [`AddressKey`]
//! that per-address rate limits bucket it by.
//!
//! **The address.** The TCP peer's, unless the peer is one of the operator's reverse
//! proxies (`--trusted-proxy CIDR,…`, default none). Only then is the forwarding header
//! named by `--trusted-proxy-header` read (`x-forwarded-for` by default, or RFC 7239
//! `forwarded`'s `for=` parameters), right to left: each proxy appends the address it
//! received the request from, so the right-most entry that is not itself a trusted proxy
//! is the client, and everything left of it is whatever the client chose to send. A
//! missing header means the peer itself is the client; an entry that is not an address
//! (garbage, `unknown`, an obfuscated `_name`) before the client is found makes the
//! header unusable and the peer is taken, never an error. From any other peer the
//! headers are ignored: anyone can send them. Only the one named header is read, since a
//! proxy passes the other one through from the client untouched.
//!
//! **The bucket.** An IPv4 address is its own bucket; an IPv6 address counts by its /64
//! prefix (a single host is routinely given a whole /64) and an IPv4-mapped IPv6 address
//! as its IPv4 address.
//!
//! The RFC 7239 grammar is small (comma-separated elements of `;`-separated pairs,
//! values tokens or quoted strings); it is parsed here rather than through a crate
//! because the ones that exist are little used and we need only `for=`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{HeaderMap, HeaderName, FORWARDED};
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

/// The de-facto header most reverse proxies set (nginx's `$proxy_add_x_forwarded_for`,
/// Caddy, HAProxy's `option forwardfor`).
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client's IP address: the TCP peer's, or behind a trusted proxy the one its
/// forwarding header names (see the module docs). `None` when the server runs without
/// connect info (in-process tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The bucket of this client in per-address rate limits.
    pub fn limiter_key(self) -> AddressKey {
        AddressKey::from(self.0)
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let config = state.config();
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| {
                    client_address(
                        peer.ip(),
                        &parts.headers,
                        &config.trusted_proxy,
                        config.trusted_proxy_header,
                    )
                }),
        ))
    }
}

/// Which forwarding header the trusted proxies set (`--trusted-proxy-header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …`.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    Forwarded,
}

/// The client's address for a request from `peer` (see the module docs): `peer` unless
/// it is inside `trusted`, else the right-most address of the `header` that is not
/// itself trusted.
pub fn client_address(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[IpNet],
    header: ForwardedHeader,
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(hops) = forwarded_hops(headers, header) else {
        return peer;
    };
    // Right to left: the proxies' own entries first. If every entry is a trusted proxy,
    // the left-most one sent the request itself.
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        let Some(ip) = hop else {
            return peer;
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            return client;
        }
    }
    client
}

/// The hops the `header` lists, left to right; `None` for an entry that is not an
/// address. `None` overall when the header is absent or not text.
fn forwarded_hops(headers: &HeaderMap, header: ForwardedHeader) -> Option<Vec<Option<IpAddr>>> {
    let name = match header {
        ForwardedHeader::XForwardedFor => X_FORWARDED_FOR,
        ForwardedHeader::Forwarded => FORWARDED,
    };
    let mut hops = Vec::new();
    // Several header lines are one list, in order.
    for value in headers.get_all(name) {
        let value = value.to_str().ok()?;
        for element in split_outside_quotes(value, ',') {
            let element = element.trim();
            if element.is_empty() {
                continue; // an empty list element is allowed and means nothing
            }
            hops.push(match header {
                ForwardedHeader::XForwardedFor => parse_node(element),
                ForwardedHeader::Forwarded => forwarded_for(element),
            });
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// The address of the `for=` parameter of one `Forwarded` element.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    split_outside_quotes(element, ';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            // A quoted string may escape characters with a backslash; no address has one.
            Some(quoted) if !quoted.contains('\\') => parse_node(quoted),
            Some(_) => None,
            None => parse_node(value),
        }
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`. Anything else (`unknown`, `_hidden`) is not.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || is_port(after.strip_prefix(':')?)) {
            return None;
        }
        return inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    node.parse::<SocketAddr>().ok().map(|addr| addr.ip())
}

/// A port number.
fn is_port(text: &str) -> bool {
    text.parse::<u16>().is_ok()
}

/// `text` split at each `separator` that is not inside a double-quoted string.
fn split_outside_quotes(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    text.split(move |c: char| {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            return true;
        }
        false
    })
}

/// The key of a client in a per-address rate limit: its IPv4 address, its IPv6 /64
/// prefix, or "address unknown" (one shared bucket). Made only from an address, through
/// [`From`], so that every per-address limit buckets the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey(Option<IpAddr>);

impl AddressKey {
    /// The address standing for the bucket (an IPv6 /64 with its last 64 bits zero).
    pub fn address(self) -> Option<IpAddr> {
        self.0
    }
}

impl From<Option<IpAddr>> for AddressKey {
    fn from(ip: Option<IpAddr>) -> Self {
        AddressKey(ip.map(bucket_address))
    }
}

impl From<IpAddr> for AddressKey {
    fn from(ip: IpAddr) -> Self {
        AddressKey(Some(bucket_address(ip)))
    }
}

impl From<ClientIp> for AddressKey {
    fn from(client: ClientIp) -> Self {
        client.limiter_key()
    }
}

/// The address standing for `ip`'s bucket: IPv4 (also when IPv4-mapped) as it is, IPv6
/// with all but its /64 prefix zeroed.
pub fn bucket_address(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
    }
}

#[cfg(test)]
mod tests;
