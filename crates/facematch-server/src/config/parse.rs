//! The value parsers of `facematch serve`'s flags: the OTP secret, rates, counts of at
//! least one, CORS origins and trusted proxy ranges (each refuses what clap's own
//! parsers would let through).

/// The `--otp-secret` as bytes: hex when it is only hex digits (of even count), base64
/// otherwise; at least [`facematch_store::MIN_OTP_SECRET_BYTES`]. Hand-written hex (five
/// lines) rather than one more crate; base64 is the crate the server already uses.
pub fn parse_otp_secret(text: &str) -> Result<facematch_store::OtpSecret, String> {
    use base64::Engine as _;
    let text = text.trim();
    let hex = text.len().is_multiple_of(2)
        && !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_hexdigit());
    let bytes = if hex {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| "FACEMATCH_OTP_SECRET is not valid hex".to_owned())?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| "FACEMATCH_OTP_SECRET is neither hex nor base64".to_owned())?
    };
    facematch_store::OtpSecret::from_bytes(bytes).map_err(|e| format!("FACEMATCH_OTP_SECRET: {e}"))
}

/// A rate in requests per second: a finite number ≥ 0 (clap would accept `NaN`, `inf`
/// and negative numbers as an `f64`, which would make the bucket meaningless).
pub(super) fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "{text:?} is not a rate (requests per second, a number ≥ 0)"
        )),
    }
}

/// A CORS origin: `http(s)://host[:port]`, as browsers send it in `Origin` (no path,
/// no trailing slash). `*` is refused: see `--cors-origin`.
pub(super) fn parse_origin(text: &str) -> Result<String, String> {
    let origin = text.trim();
    if origin == "*" {
        return Err("`*` is not allowed: name each origin (any page could use a key)".into());
    }
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match host {
        Some(host)
            if !host.is_empty()
                && !host.contains(['/', '*', '?', '#', '@'])
                && origin.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(origin.to_owned())
        }
        _ => Err(format!(
            "{text:?} is not an origin (`https://host` or `https://host:port`)"
        )),
    }
}

/// A count of at least 1 (0 would refuse every request or describe no face).
pub(super) fn parse_positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!("{text:?} is not a whole number ≥ 1")),
    }
}

/// A `--trusted-proxy` entry: a CIDR range, or a single address (its /32 or /128).
pub(super) fn parse_proxy_range(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not a CIDR range (e.g. 10.0.0.0/8) or an address"))
}
