//! Security headers sent on every response: `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`, and a
//! `Content-Security-Policy` — `default-src 'none'` everywhere, and on `/docs` a policy
//! that allows exactly the page's own inline script and style (by their SHA-256) and
//! its one `fetch` of `/openapi.json`. Over TLS, `Strict-Transport-Security` too
//! ([`hsts`], added per connection by `serve`). No CORS headers are sent unless
//! `--cors-origin` names origins ([`with_cors`]): browsers on other origins cannot read
//! the answers.

use std::sync::OnceLock;

use base64::Engine as _;

use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{header, HeaderValue, Method};
use axum::Router;
use sha2::{Digest, Sha256};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// The `/docs` page, as `routes::ops::docs` serves it.
const DOCS_HTML: &str = include_str!("../static/docs.html");

/// The policy of every response but `/docs`: nothing may load, nothing may frame it.
/// The API answers JSON and plain text; a browser that renders one runs nothing.
pub const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
                               form-action 'none'";

/// Adds the headers every response carries (outermost, so that 404s, 405s, timeouts
/// and caught panics carry them too). A route's own `Content-Security-Policy` (that
/// of `/docs`) is kept; every other response gets [`DEFAULT_CSP`].
pub fn with_security_headers<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

/// `Strict-Transport-Security` of every response over TLS: one year, this host only
/// (no `includeSubDomains`: the server cannot know what else runs under its domain).
pub fn hsts() -> HeaderValue {
    HeaderValue::from_static("max-age=31536000")
}

/// CORS for exactly `origins` (`--cors-origin`; already checked: `http(s)://host[:port]`,
/// never `*`): methods GET, POST, PATCH, DELETE, request headers `x-api-key` and
/// `content-type`, no credentials. With no origins the router is returned unchanged,
/// and no response carries an `Access-Control-*` header.
pub fn with_cors<S>(router: Router<S>, origins: &[String]) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| o.as_str() != "*")
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return router;
    }
    router.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::HeaderName::from_static("x-api-key"),
                header::CONTENT_TYPE,
            ])
            .allow_credentials(false),
    )
}

/// The layer that gives `/docs` its policy ([`docs_csp`]).
pub fn docs_csp_layer() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(CONTENT_SECURITY_POLICY, docs_csp().clone())
}

/// The `/docs` policy: `default-src 'none'`, plus the page's inline `<script>` and
/// `<style>` by hash (no `'unsafe-inline'`: the page is one static file, so its hashes
/// are known), and `connect-src 'self'` for its `fetch('/openapi.json')`. Computed once
/// from the page itself, so that editing the page cannot leave a stale hash.
pub fn docs_csp() -> &'static HeaderValue {
    static CSP: OnceLock<HeaderValue> = OnceLock::new();
    CSP.get_or_init(|| {
        let scripts = hashes(DOCS_HTML, "<script>", "</script>");
        let styles = hashes(DOCS_HTML, "<style>", "</style>");
        let policy = format!(
            "default-src 'none'; script-src {scripts}; style-src {styles}; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        );
        // Only ASCII goes in: quoted base64 hashes and fixed text.
        HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static(DEFAULT_CSP))
    })
}

/// `'sha256-…'` of the text of each `open`…`close` element in `html`, space-separated;
/// `'none'` when there is none.
fn hashes(html: &str, open: &str, close: &str) -> String {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(close) else { break };
        out.push(format!(
            "'sha256-{}'",
            base64(&Sha256::digest(&body.as_bytes()[..end]))
        ));
        rest = &body[end + close.len()..];
    }
    if out.is_empty() {
        "'none'".to_owned()
    } else {
        out.join(" ")
    }
}

/// Standard base64 with padding (RFC 4648 §4), as CSP hash sources are written.
fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn hashes_are_those_of_the_element_text() {
        // SHA-256("abc"), base64.
        assert_eq!(
            hashes("x<script>abc</script>y", "<script>", "</script>"),
            "'sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0='"
        );
        assert_eq!(hashes("no script", "<script>", "</script>"), "'none'");
    }

    #[test]
    fn the_docs_policy_names_one_script_and_one_style_and_no_unsafe_inline() {
        let csp = docs_csp().to_str().expect("ascii");
        assert!(
            csp.starts_with("default-src 'none'; script-src 'sha256-"),
            "{csp}"
        );
        assert!(csp.contains("style-src 'sha256-"), "{csp}");
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
    }
}
