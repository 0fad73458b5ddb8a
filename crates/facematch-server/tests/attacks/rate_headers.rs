//! `X-RateLimit-*` headers (Didit's: Limit, Remaining, Reset in Unix seconds) on the
//! answers of routes where a per-key limit applies, 429s included; none where no limit
//! applies. Over real sockets.

use std::time::{SystemTime, UNIX_EPOCH};

use facematch_server::ratelimit::ManualClock;

use crate::common::{http, live_app, Reply, TestApp};

fn header(reply: &Reply, name: &str) -> Option<u64> {
    reply
        .headers
        .get(name)
        .map(|v| v.to_str().expect("ascii").parse().expect("a number"))
}

/// Sixty writes a minute in bursts of ten: each delete answers how many are left, the
/// eleventh is a 429 that says none, with `Retry-After`; another key's allowance is
/// its own; a read, which no limit governs, carries no such header.
#[tokio::test]
async fn limited_writes_say_what_is_left() {
    let clock = ManualClock::new();
    let live = live_app(TestApp::on_clock(
        |c| c.review_writes_per_minute = 60,
        &clock,
    ))
    .await;
    let key = live.app.key(0);
    let other = live.app.key(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let delete = |key: String| async move {
        let id = uuid::Uuid::new_v4();
        http(
            live.addr,
            "DELETE",
            &format!("/v3/session/{id}/delete/"),
            &[("x-api-key", key)],
            b"",
        )
        .await
        .expect("delete")
    };
    for left in (0..10).rev() {
        let reply = delete(key.clone()).await;
        assert_eq!(reply.status.as_u16(), 404, "{}", reply.text());
        assert_eq!(header(&reply, "x-ratelimit-limit"), Some(60));
        assert_eq!(header(&reply, "x-ratelimit-remaining"), Some(left));
        let reset = header(&reply, "x-ratelimit-reset").expect("reset");
        // Full again after (10 - left) tokens at one a second.
        assert!(
            reset >= now && reset <= now + 12,
            "reset {reset} vs now {now}"
        );
    }
    let refused = delete(key.clone()).await;
    assert_eq!(refused.status.as_u16(), 429, "{}", refused.text());
    assert_eq!(header(&refused, "x-ratelimit-remaining"), Some(0));
    assert_eq!(header(&refused, "x-ratelimit-limit"), Some(60));
    assert!(header(&refused, "retry-after").is_some_and(|s| s >= 1));

    let theirs = delete(other.clone()).await;
    assert_eq!(header(&theirs, "x-ratelimit-remaining"), Some(9));

    clock.advance(std::time::Duration::from_secs(2));
    let refilled = delete(key.clone()).await;
    assert_eq!(refilled.status.as_u16(), 404);
    assert_eq!(header(&refilled, "x-ratelimit-remaining"), Some(1));

    let read = http(
        live.addr,
        "GET",
        "/v3/billing/balance/",
        &[("x-api-key", key.clone())],
        b"",
    )
    .await
    .expect("balance");
    assert_eq!(read.status.as_u16(), 200, "{}", read.text());
    assert!(read.headers.get("x-ratelimit-limit").is_none());
    // Unauthenticated: no key, no per-key limit, no header (and nothing taken).
    let anonymous = http(
        live.addr,
        "DELETE",
        &format!("/v3/session/{}/delete/", uuid::Uuid::new_v4()),
        &[],
        b"",
    )
    .await
    .expect("anonymous");
    assert_eq!(anonymous.status.as_u16(), 401);
    assert!(anonymous.headers.get("x-ratelimit-remaining").is_none());
}

/// A flood of session listings (each may scan the key's decisions while holding the
/// database) stops at the read limit: 60 at once, then 429 with the headers; another
/// key's reads are untouched, and a decision read shares the same allowance.
#[tokio::test]
async fn a_flood_of_session_reads_is_limited_per_key() {
    let clock = ManualClock::new();
    let live = live_app(TestApp::on_clock(
        |c| c.session_reads_per_minute = 600,
        &clock,
    ))
    .await;
    let key = live.app.key(0);
    let other = live.app.key(0);
    let list = |key: String| async move {
        http(
            live.addr,
            "GET",
            "/v3/sessions/?search=abc&status=Approved,In%20Review",
            &[("x-api-key", key)],
            b"",
        )
        .await
        .expect("list")
    };
    for _ in 0..59 {
        let reply = list(key.clone()).await;
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
        assert_eq!(header(&reply, "x-ratelimit-limit"), Some(600));
    }
    // The 60th token goes to a decision read (a 404 for an unknown id, still counted).
    let decision = http(
        live.addr,
        "GET",
        &format!("/v3/session/{}/decision/", uuid::Uuid::new_v4()),
        &[("x-api-key", key.clone())],
        b"",
    )
    .await
    .expect("decision");
    assert_eq!(decision.status.as_u16(), 404);
    assert_eq!(header(&decision, "x-ratelimit-remaining"), Some(0));
    let refused = list(key.clone()).await;
    assert_eq!(refused.status.as_u16(), 429, "{}", refused.text());
    assert!(header(&refused, "retry-after").is_some());
    let theirs = list(other).await;
    assert_eq!(theirs.status.as_u16(), 200);
    assert_eq!(header(&theirs, "x-ratelimit-remaining"), Some(59));
}
