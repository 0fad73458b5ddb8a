//! What the loopback load tools (`examples/load.rs`, `examples/faults.rs`) share
//! besides the test kit's HTTP client: refusing any target that is not loopback (they
//! must never load someone else's server), checking request ids before they go into
//! a path, and percentiles.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Where the load client sends its face matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The loopback address to connect to.
    pub addr: SocketAddr,
    /// The `Host` header: the URL's authority as given.
    pub host_header: String,
    /// The face-match path under the URL's base path.
    pub path: String,
}

/// Parses `http://HOST[:PORT][/PATH]`, refusing any host that is not loopback
/// (127.0.0.0/8, `localhost` or `[::1]`).
pub fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url {url:?}: only http:// URLs are supported"))?;
    let (authority, base_path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(format!(
            "--url {url:?}: credentials in the URL are not supported"
        ));
    }
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let (h, tail) = after
            .split_once(']')
            .ok_or_else(|| format!("--url {url:?}: unclosed IPv6 bracket"))?;
        let port = match tail {
            "" => None,
            t => Some(
                t.strip_prefix(':')
                    .ok_or_else(|| format!("--url {url:?}: bad port"))?,
            ),
        };
        (h, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port: u16 = match port {
        Some(p) => p
            .parse()
            .map_err(|_| format!("--url {url:?}: bad port {p:?}"))?,
        None => 80,
    };
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse()
            .map_err(|_| format!("--url {url:?}: host {host:?} is not loopback"))?
    };
    if !ip.is_loopback() {
        return Err(format!(
            "--url {url:?}: host {host:?} is not loopback (127.0.0.0/8, localhost or ::1)"
        ));
    }
    let base = base_path.trim_end_matches('/');
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        host_header: authority.to_owned(),
        path: format!("{base}/v3/face-match/"),
    })
}

/// `addr` if it is loopback (127.0.0.0/8 or ::1); refused otherwise.
pub fn loopback(addr: SocketAddr) -> Result<SocketAddr, String> {
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "{addr} is not loopback (127.0.0.0/8 or ::1): refused"
        ))
    }
}

/// Whether `id` looks like a request_id as the server makes them (a UUID): also
/// keeps the GET path it goes into clean.
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Nearest-rank percentile `p` (0–100) of sorted durations, in milliseconds; `None`
/// when there are none.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted.len()) - 1;
    Some(sorted[i].as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9:1/",
            "http://localhost:18080",
            "http://[::1]:8080",
            "http://LOCALHOST",
        ] {
            assert!(parse_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:8080",
            "http://example.com",
            "http://0.0.0.0:8080",
            "https://127.0.0.1",
            "http://[::2]:80",
            "http://localhost.example.com",
            "http://user@127.0.0.1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_url("http://127.0.0.1:9/base/")
                .map(|t| t.path)
                .unwrap_or_default(),
            "/base/v3/face-match/"
        );
    }

    #[test]
    fn addresses_must_be_loopback() {
        for ok in ["127.0.0.1:1", "127.9.9.9:80", "[::1]:8080"] {
            assert!(loopback(ok.parse().expect("addr")).is_ok(), "{ok}");
        }
        for bad in [
            "10.0.0.1:80",
            "0.0.0.0:80",
            "[::]:80",
            "192.168.1.1:8080",
            "[::2]:80",
        ] {
            assert!(loopback(bad.parse().expect("addr")).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_checked() {
        assert!(plausible_id("1b4e28ba-2fa1-11d2-883f-0016d3cca427"));
        for bad in ["", "../x", "a b", "x\r\nHost: y"] {
            assert!(!plausible_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&v, 50.0), Some(50.0));
        assert_eq!(percentile_ms(&v, 99.0), Some(99.0));
        assert_eq!(percentile_ms(&[], 50.0), None);
    }
}
