//! The page shell every console page shares: head, skip link, navigation by role, main
//! landmark; and small pieces (time, status badge, CSRF field) the pages reuse.

use axum::response::Html;
use facematch_core::Status;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use time::OffsetDateTime;

use super::session::ConsoleAuth;

/// A page for a signed-in user: navigation (admin links only for admins), a sign-out
/// form, and `body` in `<main>`.
pub fn page(title: &str, auth: &ConsoleAuth, current: Nav, body: Markup) -> Html<String> {
    let user = auth.user();
    let csrf = auth.csrf();
    let links: &[(Nav, &str, &str)] = &[
        (Nav::Checks, "/console/checks", "Manual Checks"),
        (Nav::Queue, "/console/queue", "In Review"),
        (Nav::Keys, "/console/keys", "API keys"),
        (Nav::Webhooks, "/console/webhooks", "Webhooks"),
        (Nav::Usage, "/console/usage", "Usage"),
        (Nav::Billing, "/console/billing", "Billing"),
        (Nav::Users, "/console/users", "Users"),
        (Nav::Settings, "/console/settings", "Settings"),
    ];
    let shown = links
        .iter()
        .filter(|(nav, _, _)| auth.is_admin() || matches!(nav, Nav::Checks | Nav::Queue));
    document(
        title,
        html! {
            header.top {
                a.brand href="/console/" { "facematch" span.sub { " Business Console" } }
                nav aria-label="Main" {
                    ul {
                        @for (nav, href, label) in shown {
                            li {
                                @if *nav == current {
                                    a href=(href) aria-current="page" { (label) }
                                } @else {
                                    a href=(href) { (label) }
                                }
                            }
                        }
                    }
                }
                div.who {
                    span { (user.email) " · " (user.role) }
                    a href="/console/account" { "Account" }
                    form method="post" action="/console/sign-out" {
                        (csrf_field(&csrf))
                        button.link type="submit" { "Sign out" }
                    }
                }
            }
            main id="main" tabindex="-1" { (body) }
        },
    )
}

/// A page without navigation (sign-in, errors, invitations).
pub fn bare(title: &str, body: Markup) -> Html<String> {
    document(
        title,
        html! {
            header.top { a.brand href="/console/" { "facematch" span.sub { " Business Console" } } }
            main id="main" tabindex="-1" class="narrow" { (body) }
        },
    )
}

fn document(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="referrer" content="no-referrer";
                    title { (title) " · facematch console" }
                    link rel="stylesheet" href="/console/static/console.css";
                    script src="/console/static/console.js" defer {}
                }
                body {
                    a.skip href="#main" { "Skip to content" }
                    (body)
                }
            }
        }
        .into_string(),
    )
}

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// Manual Checks (and a decision page).
    Checks,
    /// The In Review queue.
    Queue,
    /// API keys.
    Keys,
    /// Webhooks.
    Webhooks,
    /// Usage.
    Usage,
    /// Billing.
    Billing,
    /// Users and invitations.
    Users,
    /// Settings.
    Settings,
    /// The user's own account (password).
    Account,
}

/// The hidden CSRF field of a form.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A UTC time as `2026-11-28 17:05:09 UTC` inside `<time datetime>`.
pub fn when(t: OffsetDateTime) -> Markup {
    let iso = t
        .to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    html! { time datetime=(iso) { (when_text(t)) } }
}

/// A UTC time as `2026-11-28 17:05:09 UTC`.
pub fn when_text(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// How long ago, in words: "3 min", "2 h 5 min", "4 d 3 h".
pub fn age(since: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (now - since).whole_seconds().max(0);
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// A status as a coloured badge with its name in words (colour is never the only cue).
pub fn status_badge(status: Status) -> Markup {
    let class = match status {
        Status::Approved => "badge ok",
        Status::Declined => "badge bad",
        Status::InReview => "badge warn",
    };
    html! { span class=(class) { (status.to_string()) } }
}

/// A flash line (after a redirect), as a polite live region.
pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p.notice role="status" { (text) }
        }
    }
}

/// Inline text known to be safe markup (an SVG built here from numbers).
pub fn trusted(svg: String) -> Markup {
    PreEscaped(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_words() {
        let t = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(age(t, t + time::Duration::minutes(3)), "3 min");
        assert_eq!(age(t, t + time::Duration::minutes(125)), "2 h 5 min");
        assert_eq!(age(t, t + time::Duration::hours(99)), "4 d 3 h");
        assert_eq!(age(t + time::Duration::hours(1), t), "0 min");
    }
}
