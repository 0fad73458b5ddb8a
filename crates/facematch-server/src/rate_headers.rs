//! `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` on the answers of
//! routes where a per-key limit applies, as Didit documents them (Reset in Unix seconds).
//!
//! A limit is checked deep in a handler (after authentication), far from where the answer is
//! built; rather than thread the numbers through every handler's return type, the check
//! notes them in a task-local slot that [`rate_limit_headers`] opens around each request and
//! reads when the answer comes back. A 429 carries them too, beside `Retry-After`.
//!
//! The limits are token buckets: `Limit` is the sustained rate per minute, `Remaining` the
//! requests that may be made at once right now (at most the burst), `Reset` the Unix time
//! at which `Remaining` is back to the full burst.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// What one limit check left for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    /// Sustained requests per minute.
    pub limit: u32,
    /// Requests the client may still make at once.
    pub remaining: u32,
    /// Unix seconds at which the client's allowance is full again.
    pub reset: u64,
}

impl RateHeaders {
    /// The headers for a check made now that leaves `remaining`, full again after `full_in`.
    pub fn now(limit: u32, remaining: u32, full_in: Duration) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let reset = now.saturating_add(full_in);
        // Round up: at `reset` the allowance is full.
        let reset = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
        Self {
            limit,
            remaining,
            reset,
        }
    }
}

tokio::task_local! {
    static NOTED: Cell<Option<RateHeaders>>;
}

/// Notes the outcome of a limit check for the current request's answer (the last check
/// wins). Outside a request (a unit test calling a handler directly) it does nothing.
pub fn note(headers: RateHeaders) {
    // Err only outside `rate_limit_headers`' scope: nothing to annotate then.
    let _ = NOTED.try_with(|slot| slot.set(Some(headers)));
}

/// Middleware: runs the request with an empty slot and adds the headers to the answer when
/// a limit check noted them.
pub async fn rate_limit_headers(request: Request, next: Next) -> Response {
    NOTED
        .scope(Cell::new(None), async move {
            let mut response = next.run(request).await;
            if let Some(noted) = NOTED.with(Cell::get) {
                let headers = response.headers_mut();
                headers.insert("x-ratelimit-limit", HeaderValue::from(noted.limit));
                headers.insert("x-ratelimit-remaining", HeaderValue::from(noted.remaining));
                headers.insert("x-ratelimit-reset", HeaderValue::from(noted.reset));
            }
            response
        })
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reset_rounds_up_to_the_next_whole_second() {
        let h = RateHeaders::now(60, 3, Duration::from_millis(1500));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(h.reset >= now + 2 && h.reset <= now + 3, "{h:?} at {now}");
        assert_eq!((h.limit, h.remaining), (60, 3));
    }

    #[test]
    fn noting_outside_a_request_is_harmless() {
        note(RateHeaders::now(1, 0, Duration::ZERO));
    }
}
