//! Manual Checks: every saved decision of the account (filtered, keyset pages), the In
//! Review queue (oldest first, with each item's age), a decision's page, and the review
//! form (Approve / Decline with a comment → history, webhook).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use facematch_core::score::fmr_of_score;
use facematch_core::{Entity, ImageFaces, Status};
use facematch_store::{
    CheckCursor, CheckFilter, CheckPage, ConsoleReview, DecisionView, ReviewStatus,
};
use maud::{html, Markup};
use serde::Deserialize;
use time::OffsetDateTime;

use super::error::PageError;
use super::form::PageForm;
use super::images::Frames;
use super::layout::{self, csrf_field, status_badge, when, Nav};
use super::session::ConsoleAuth;
use crate::state::AppState;

/// Rows per page.
const PAGE_ROWS: usize = 50;

/// The queue's heading counts waiting decisions up to this many.
const QUEUE_COUNT_CAP: i64 = 1000;

/// Longest reviewer comment (Didit's limit, as the API's).
const MAX_COMMENT_CHARS: usize = 10_000;

/// The Manual Checks filters, as the form sends them (empty fields mean "any").
#[derive(Debug, Default, Deserialize)]
pub struct ChecksQuery {
    status: Option<String>,
    score_min: Option<String>,
    score_max: Option<String>,
    from: Option<String>,
    to: Option<String>,
    vendor_data: Option<String>,
    after: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn parse_score(v: &Option<String>, name: &str) -> Result<Option<i64>, PageError> {
    non_empty(v)
        .map(|s| {
            s.parse::<i64>()
                .ok()
                .filter(|n| (0..=100).contains(n))
                .ok_or_else(|| {
                    PageError::BadRequest(format!("{name} must be a whole number 0–100"))
                })
        })
        .transpose()
}

/// A `YYYY-MM-DD` date, as `<input type="date">` sends it.
fn date(s: &str) -> Option<time::Date> {
    let mut parts = s.splitn(3, '-');
    let year = parts.next()?.parse::<i32>().ok()?;
    let month = time::Month::try_from(parts.next()?.parse::<u8>().ok()?).ok()?;
    let day = parts.next()?.parse::<u8>().ok()?;
    time::Date::from_calendar_date(year, month, day).ok()
}

fn parse_day(v: &Option<String>, name: &str) -> Result<Option<OffsetDateTime>, PageError> {
    non_empty(v)
        .map(|s| {
            date(s)
                .map(|d| d.midnight().assume_utc())
                .ok_or_else(|| PageError::BadRequest(format!("{name} must be a date YYYY-MM-DD")))
        })
        .transpose()
}

impl ChecksQuery {
    fn filter(&self) -> Result<CheckFilter, PageError> {
        let status = non_empty(&self.status)
            .map(|s| {
                s.parse::<Status>()
                    .map_err(|_| PageError::BadRequest(format!("unknown status {s:?}")))
            })
            .transpose()?;
        let vendor_data = non_empty(&self.vendor_data).map(str::to_owned);
        if vendor_data
            .as_ref()
            .is_some_and(|v| v.chars().count() > 1000)
        {
            return Err(PageError::BadRequest(
                "vendor_data is at most 1,000 characters".into(),
            ));
        }
        Ok(CheckFilter {
            status,
            score_min: parse_score(&self.score_min, "score from")?,
            score_max: parse_score(&self.score_max, "score to")?,
            from: parse_day(&self.from, "from")?,
            // "to" is a whole day, included.
            to: parse_day(&self.to, "to")?.map(|d| d + time::Duration::days(1)),
            vendor_data,
        })
    }

    fn cursor(&self) -> Result<Option<CheckCursor>, PageError> {
        non_empty(&self.after)
            .map(|a| {
                CheckCursor::decode(a)
                    .ok_or_else(|| PageError::BadRequest("the page link is malformed".into()))
            })
            .transpose()
    }

    /// This query's filters with another cursor, as a URL query string.
    fn with_after(&self, after: &CheckCursor) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &self.status),
            ("score_min", &self.score_min),
            ("score_max", &self.score_max),
            ("from", &self.from),
            ("to", &self.to),
            ("vendor_data", &self.vendor_data),
        ] {
            if let Some(v) = non_empty(v) {
                q.append_pair(k, v);
            }
        }
        q.append_pair("after", &after.encode());
        q.finish()
    }
}

fn rows_table(page: &CheckPage, now: OffsetDateTime, show_age: bool) -> Markup {
    html! {
        div.table-wrap {
            table {
                caption.muted { (page.rows.len()) " shown" }
                thead { tr {
                    th scope="col" { "Session" }
                    th scope="col" { "Status" }
                    th scope="col" { "Score" }
                    th scope="col" { "vendor_data" }
                    th scope="col" { "Key" }
                    th scope="col" { "Created" }
                    @if show_age { th scope="col" { "Waiting" } }
                } }
                tbody {
                    @for r in &page.rows {
                        tr {
                            td { a href={ "/console/checks/" (r.request_id) } { "#" (r.session_number) } }
                            td { (status_badge(r.status)) }
                            td { @match r.score { Some(s) => (s), None => span.muted { "—" } } }
                            td { (r.vendor_data.as_deref().unwrap_or("")) }
                            td { (r.key_name) }
                            td { (when(r.created_at)) }
                            @if show_age { td { (layout::age(r.created_at, now)) } }
                        }
                    }
                }
            }
        }
        @if page.rows.is_empty() { p.muted { "Nothing here." } }
    }
}

/// GET /console/checks
pub async fn list(
    State(state): State<AppState>,
    auth: ConsoleAuth,
    Query(q): Query<ChecksQuery>,
) -> Result<Response, PageError> {
    let filter = q.filter()?;
    let cursor = q.cursor()?;
    let account = auth.user().account_id.clone();
    let page = state
        .with_store(move |store| store.manual_checks(&account, &filter, cursor.as_ref(), PAGE_ROWS))
        .await?;
    let now = OffsetDateTime::now_utc();
    let selected = |s: &str| non_empty(&q.status) == Some(s);
    let body = html! {
        h1 { "Manual Checks" }
        p.muted { "Every saved face match of your account, newest first." }
        form.inline method="get" action="/console/checks" role="search" aria-label="Filter" {
            label { "Status"
                select name="status" {
                    option value="" { "Any" }
                    @for s in ["Approved", "Declined", "In Review"] {
                        option value=(s) selected[selected(s)] { (s) }
                    }
                }
            }
            label { "Score from" input type="number" name="score_min" min="0" max="100" value=(q.score_min.as_deref().unwrap_or("")); }
            label { "Score to" input type="number" name="score_max" min="0" max="100" value=(q.score_max.as_deref().unwrap_or("")); }
            label { "From" input type="date" name="from" value=(q.from.as_deref().unwrap_or("")); }
            label { "To" input type="date" name="to" value=(q.to.as_deref().unwrap_or("")); }
            label { "vendor_data" input type="text" name="vendor_data" maxlength="1000" value=(q.vendor_data.as_deref().unwrap_or("")); }
            button type="submit" { "Filter" }
            a href="/console/checks" { "Clear" }
        }
        (rows_table(&page, now, false))
        nav.pager aria-label="Pages" {
            @if q.cursor()?.is_some() { a href="/console/checks" { "← First page" } }
            @if let Some(next) = &page.next { a href={ "/console/checks?" (q.with_after(next)) } rel="next" { "Next page →" } }
        }
    };
    Ok(layout::page("Manual Checks", &auth, Nav::Checks, body).into_response())
}

/// `?after=` of the queue.
#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    after: Option<String>,
}

/// GET /console/queue
pub async fn queue(
    State(state): State<AppState>,
    auth: ConsoleAuth,
    Query(q): Query<QueueQuery>,
) -> Result<Response, PageError> {
    let cursor = non_empty(&q.after)
        .map(|a| {
            CheckCursor::decode(a)
                .ok_or_else(|| PageError::BadRequest("the page link is malformed".into()))
        })
        .transpose()?;
    let account = auth.user().account_id.clone();
    let (page, total) = state
        .with_store(move |store| {
            let page = store.review_queue_page(&account, cursor.as_ref(), PAGE_ROWS)?;
            let waiting = store.review_queue_len(&account, QUEUE_COUNT_CAP)?;
            Ok::<_, facematch_store::StoreError>((page, waiting))
        })
        .await?;
    let now = OffsetDateTime::now_utc();
    let body = html! {
        h1 { "In Review" }
        p {
            @if total > QUEUE_COUNT_CAP { "More than " (thousands(QUEUE_COUNT_CAP as u64)) } @else { (total) }
            " waiting for a decision, oldest first."
        }
        (rows_table(&page, now, true))
        nav.pager aria-label="Pages" {
            @if non_empty(&q.after).is_some() { a href="/console/queue" { "← Oldest" } }
            @if let Some(next) = &page.next { a href={ "/console/queue?after=" (next.encode()) } rel="next" { "Next page →" } }
        }
    };
    Ok(layout::page("In Review", &auth, Nav::Queue, body).into_response())
}

/// A request id from the path: a UUID's characters only, else 404 before any query.
fn checked_id(id: &str) -> Result<&str, PageError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(id)
    } else {
        Err(gone())
    }
}

fn gone() -> PageError {
    PageError::NotFound(
        "This decision does not exist: it was deleted (by its client, or by retention) or \
         belongs to another account."
            .into(),
    )
}

/// What a score means, in words: how often two different people score at least this
/// high (the false-match rate the calibrated score stands for).
pub fn fmr_words(score: f64) -> String {
    let fmr = fmr_of_score(score);
    if fmr >= 0.01 {
        return format!("{:.0}% of pairs of different people", fmr * 100.0);
    }
    let n = (1.0 / fmr).round();
    let n = if n >= 1000.0 {
        (n / 100.0).round() * 100.0
    } else {
        n
    };
    format!(
        "about 1 in {} pairs of different people",
        thousands(n as u64)
    )
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn faces_table(faces: &ImageFaces) -> Markup {
    html! {
        @if faces.entities.is_empty() {
            p.muted { "No face found." }
        } @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "#" } th scope="col" { "Box [x1, y1, x2, y2]" } th scope="col" { "Confidence" } th scope="col" { "Age" } th scope="col" { "Gender" } } }
                tbody {
                    @for (i, e) in faces.entities.iter().enumerate() {
                        tr {
                            td { (i + 1) @if i == 0 { " " strong { "(compared)" } } }
                            td { (format!("{:?}", e.bbox)) }
                            td { (format!("{:.3}", e.confidence)) }
                            td { @match e.age { Some(a) => (format!("{a:.0}")), None => "—" } }
                            td { (e.gender.map_or_else(|| "—".to_owned(), |g| format!("{g:?}").to_lowercase())) }
                        }
                    }
                }
            } }
            @if faces.best_angle != 0 { p.muted { "Found with the photo turned " (faces.best_angle) "°." } }
        }
    }
}

/// Boxes over a photo of `size` (its pixels, the boxes' frame) as an SVG laid over the
/// image: the compared face solid, the others dashed.
fn boxes_svg(entities: &[Entity], (w, h): (u32, u32)) -> Markup {
    html! {
        svg viewBox={ "0 0 " (w) " " (h) } preserveAspectRatio="none" aria-hidden="true" {
            @for (i, e) in entities.iter().enumerate() {
                rect x=(e.bbox[0]) y=(e.bbox[1]) width=((e.bbox[2] - e.bbox[0]).max(1)) height=((e.bbox[3] - e.bbox[1]).max(1))
                    fill="none" stroke=(if i == 0 { "#00e676" } else { "#ffbf47" }) stroke-width="3"
                    vector-effect="non-scaling-stroke" stroke-dasharray=(if i == 0 { "none" } else { "6 4" }) {}
            }
        }
    }
}

/// One side's kept photo with its boxes (when its frame is known) and its face crop.
fn photo(
    request_id: &str,
    side: &str,
    label: &str,
    faces: &ImageFaces,
    frame: Option<(u32, u32)>,
) -> Markup {
    html! {
        div.photo {
            img src={ "/console/checks/" (request_id) "/image/" (side) } alt={ (label) " as uploaded" };
            @if let Some(size) = frame { (boxes_svg(&faces.entities, size)) }
        }
        @if frame.is_none() && !faces.entities.is_empty() {
            p.muted { "The faces were found with the photo turned " (faces.best_angle) "°: see the crop." }
        }
        @if !faces.entities.is_empty() {
            p { img.crop src={ "/console/checks/" (request_id) "/crop/" (side) } alt={ "Compared face of the " (label) }; }
        }
    }
}

/// The decision (if the account has it) and its kept photos' frames.
async fn load(
    state: &AppState,
    account: String,
    id: String,
) -> Result<(Option<DecisionView>, Frames), PageError> {
    Ok(state
        .with_store(move |store| {
            let view = store.account_decision(&account, &id)?;
            let frames = match &view {
                Some(v) => {
                    let fm = &v.decision.face_match;
                    super::images::frame_sizes(store, &id, [&fm.user_image, &fm.ref_image])?
                }
                None => None,
            };
            Ok::<_, facematch_store::StoreError>((view, frames))
        })
        .await?)
}

/// GET /console/checks/{id}
pub async fn decision(
    State(state): State<AppState>,
    auth: ConsoleAuth,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = checked_id(&id)?.to_owned();
    let account = auth.user().account_id.clone();
    let (view, frames) = load(&state, account, id).await?;
    let view = view.ok_or_else(gone)?;
    Ok(decision_page(&auth, &view, frames, None, StatusCode::OK))
}

fn decision_page(
    auth: &ConsoleAuth,
    view: &DecisionView,
    frames: Frames,
    alert: Option<String>,
    status: StatusCode,
) -> Response {
    let d = &view.decision;
    let fm = &d.face_match;
    let csrf = auth.csrf();
    let seen = d.updated_at.unix_timestamp_nanos().to_string();
    let body = html! {
        p { a href="/console/checks" { "← Manual Checks" } " · " a href="/console/queue" { "In Review queue" } }
        h1 { "Session #" (d.session_number) " " (status_badge(d.status())) }
        @if let Some(alert) = &alert { p.alert role="alert" { (alert) } }
        dl.facts {
            dt { "Score" }
            dd { @match fm.score {
                Some(s) => { strong { (s) } " / 100 — " (fmr_words(f64::from(s)))
                    " score this high (the false-match rate this score stands for)." }
                None => { "no score: no pair of faces could be compared." }
            } }
            dt { "Thresholds" }
            dd { "declined below " (format!("{:.0}", d.decline_threshold))
                @if let Some(r) = d.review_threshold { "; In Review below " (format!("{r:.0}")) }
                " (at the decline threshold, " (fmr_words(d.decline_threshold)) " are let through)" }
            dt { "Request id" } dd { code { (d.request_id) } }
            dt { "Created" } dd { (when(d.created_at)) }
            dt { "Last change" } dd { (when(d.updated_at)) }
            dt { "vendor_data" } dd { (d.vendor_data.as_deref().unwrap_or("—")) }
            dt { "metadata" } dd { @match &d.metadata {
                Some(m) => code { (serde_json::to_string(m).unwrap_or_default()) },
                None => "—",
            } }
        }
        h2 { "Warnings" }
        @if fm.warnings.is_empty() { p.muted { "None." } }
        ul { @for w in &fm.warnings { li { strong { (w.short_description) } " — " (w.long_description) } } }
        h2 { "Faces" }
        div.faces {
            section aria-labelledby="user-faces" {
                h3 id="user-faces" { "User image" }
                @if let Some([frame, _]) = frames { (photo(&d.request_id, "source", "user image", &fm.user_image, frame)) }
                (faces_table(&fm.user_image))
            }
            section aria-labelledby="ref-faces" {
                h3 id="ref-faces" { "Reference image" }
                @if let Some([_, frame]) = frames { (photo(&d.request_id, "target", "reference image", &fm.ref_image, frame)) }
                (faces_table(&fm.ref_image))
            }
        }
        @if frames.is_none() { p.muted { "The photos are not kept (review images are off, or were deleted after review or their time to live)." } }
        h2 { "Review" }
        form.stack method="post" action={ "/console/checks/" (d.request_id) "/review" } {
            (csrf_field(&csrf))
            input type="hidden" name="seen" value=(seen);
            label { "Comment (optional)" textarea name="comment" rows="3" maxlength="10000" {} }
            div.inline {
                button type="submit" name="verdict" value="Approved" { "Approve" }
                " "
                button.danger type="submit" name="verdict" value="Declined" { "Decline" }
            }
        }
        h2 { "History" }
        @if view.history_truncated { p.muted { "Older entries are not shown." } }
        @if d.history.is_empty() { p.muted { "No review yet." } }
        ol {
            @for c in &d.history {
                li {
                    (when(c.at)) ": " (c.from.to_string()) " → " strong { (c.to.to_string()) }
                    " by " (c.reviewer.as_deref().unwrap_or("an API key"))
                    @if let Some(comment) = &c.comment { " — “" (comment) "”" }
                }
            }
        }
    };
    (status, layout::page("Decision", auth, Nav::Checks, body)).into_response()
}

/// The review form's fields.
#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    csrf: String,
    verdict: String,
    seen: String,
    comment: Option<String>,
}

/// POST /console/checks/{id}/review
pub async fn review(
    State(state): State<AppState>,
    auth: ConsoleAuth,
    Path(id): Path<String>,
    PageForm(form): PageForm<ReviewForm>,
) -> Result<Response, PageError> {
    auth.check_csrf(&form.csrf)?;
    let id = checked_id(&id)?.to_owned();
    let verdict: ReviewStatus = form
        .verdict
        .parse()
        .map_err(|_| PageError::BadRequest("the verdict must be Approved or Declined".into()))?;
    let seen = form
        .seen
        .parse::<i128>()
        .ok()
        .and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok())
        .ok_or_else(|| PageError::BadRequest("the form is malformed (seen)".into()))?;
    let comment = form
        .comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
    {
        return Err(PageError::BadRequest(format!(
            "the comment is at most {MAX_COMMENT_CHARS} characters"
        )));
    }
    state.check_review_rate(&auth.user().id)?;
    let account = auth.user().account_id.clone();
    let reviewer = auth.user().email.clone();
    let now = OffsetDateTime::now_utc();
    let target = id.clone();
    let outcome = state
        .with_store(move |store| {
            store.console_review(
                &account,
                &target,
                verdict,
                comment.as_deref(),
                &reviewer,
                seen,
                now,
            )
        })
        .await?
        .ok_or_else(gone)?;
    match outcome {
        ConsoleReview::Changed(_) => {
            state.webhooks().wake();
            Ok(Redirect::to(&format!("/console/checks/{id}")).into_response())
        }
        ConsoleReview::Unchanged(view) => {
            let frames = load(&state, auth.user().account_id.clone(), id).await?.1;
            let text = format!("It is already {}: nothing changed.", view.decision.status());
            Ok(decision_page(
                &auth,
                &view,
                frames,
                Some(text),
                StatusCode::OK,
            ))
        }
        ConsoleReview::Stale(view) => {
            let frames = load(&state, auth.user().account_id.clone(), id).await?.1;
            let by = view.decision.history.last().map_or_else(
                || "it was changed".to_owned(),
                |c| {
                    format!(
                        "{} set it to {} at {}",
                        c.reviewer.as_deref().unwrap_or("an API key"),
                        c.to,
                        layout::when_text(c.at)
                    )
                },
            );
            let text = format!(
                "This decision changed while you were looking at it: {by}. Your review was not \
                 saved; check it below and decide again if needed."
            );
            Ok(decision_page(
                &auth,
                &view,
                frames,
                Some(text),
                StatusCode::CONFLICT,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_read_as_false_match_rates() {
        assert_eq!(
            fmr_words(70.0),
            "about 1 in 1,000 pairs of different people"
        );
        assert_eq!(
            fmr_words(90.0),
            "about 1 in 10,000 pairs of different people"
        );
        assert_eq!(fmr_words(0.0), "100% of pairs of different people");
    }

    #[test]
    fn ids_outside_the_uuid_alphabet_are_not_found() {
        assert!(checked_id("../etc/passwd").is_err());
        assert!(checked_id("").is_err());
        assert!(checked_id(&"a".repeat(65)).is_err());
        assert!(checked_id("7d4f0c1e-1b9a-4c55-9d35-0e1f2a3b4c5d").is_ok());
    }
}
