//! Usage of the last 30 days: face matches per day (an inline SVG bar chart built here, with
//! the same numbers in a table), Approved / Declined / In Review counts, the score histogram
//! of saved decisions, and p50/p95 latency estimated from the latency buckets.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use facematch_store::{
    day_of, latency_quantile_bucket, UsageDay, LATENCY_BOUNDS_MS, LATENCY_BUCKETS,
};
use maud::{html, Markup};
use time::OffsetDateTime;

use super::error::PageError;
use super::layout::{self, Nav};
use super::session::AdminAuth;
use crate::state::AppState;

/// Days shown.
const DAYS: i64 = 30;

/// The usage route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/console/usage", get(show))
}

/// `YYYY-MM-DD` of a day number.
fn day_label(day: i64) -> String {
    let t = OffsetDateTime::UNIX_EPOCH + time::Duration::days(day);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// A bar chart of `values` (one bar per entry) as SVG markup: bars in the accent colour on a
/// baseline, the largest value on the y axis, the first, middle and last names under the x
/// axis, a title for screen readers and one per bar; the numbers are also in a table beside it.
fn bar_chart(label: &str, values: &[(String, i64)]) -> Markup {
    const W: i64 = 640;
    const H: i64 = 200;
    const LEFT: i64 = 44;
    const BOTTOM: i64 = 24;
    let n = values.len().max(1) as i64;
    let plot_w = W - LEFT - 4;
    let plot_h = H - BOTTOM - 12;
    let bar = plot_w / n;
    let max = values.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"{label}\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" \
         class=\"chart\"><title>{label}</title>\
         <g font-size=\"11\" fill=\"#555\">\
         <text x=\"{}\" y=\"16\" text-anchor=\"end\">{max}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text></g>\
         <line x1=\"{LEFT}\" y1=\"12\" x2=\"{W}\" y2=\"12\" stroke=\"#e0e0e0\"/>",
        LEFT - 6,
        LEFT - 6,
        H - BOTTOM
    );
    for (i, (name, v)) in values.iter().enumerate() {
        let bh = v * plot_h / max;
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{bh}\" fill=\"#0b57d0\">\
             <title>{name}: {v}</title></rect>",
            LEFT + i as i64 * bar + 1,
            H - BOTTOM - bh,
            (bar - 2).max(1)
        ));
    }
    svg.push_str(&format!(
        "<line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{W}\" y2=\"{y}\" stroke=\"#767676\"/>",
        y = H - BOTTOM
    ));
    let last = values.len().saturating_sub(1);
    for (i, anchor) in [(0, "start"), (last / 2, "middle"), (last, "end")] {
        if let Some((name, _)) = values.get(i) {
            let x = match anchor {
                "start" => LEFT + i as i64 * bar,
                "end" => LEFT + (i as i64 + 1) * bar,
                _ => LEFT + i as i64 * bar + bar / 2,
            };
            svg.push_str(&format!(
                "<text x=\"{x}\" y=\"{}\" font-size=\"11\" fill=\"#555\" \
                 text-anchor=\"{anchor}\">{name}</text>",
                H - 8
            ));
        }
    }
    svg.push_str("</svg>");
    // Only numbers and fixed text go in: safe to inline.
    layout::trusted(svg)
}

fn latency_words(bucket: Option<usize>) -> String {
    match bucket {
        None => "—".into(),
        Some(i) => match LATENCY_BOUNDS_MS.get(i) {
            Some(ms) => format!("≤ {ms} ms"),
            None => format!("> {} ms", LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1]),
        },
    }
}

/// GET /console/usage
pub async fn show(State(state): State<AppState>, auth: AdminAuth) -> Result<Response, PageError> {
    let now = OffsetDateTime::now_utc();
    let today = day_of(now);
    let from = today - (DAYS - 1);
    let account = auth.0.user().account_id.clone();
    let (days, histogram) = state
        .with_store(move |store| {
            let days = store.account_usage(&account, from, today)?;
            let since = OffsetDateTime::UNIX_EPOCH + time::Duration::days(from);
            let h = store.account_score_histogram(&account, since)?;
            Ok::<_, facematch_store::StoreError>((days, h))
        })
        .await?;
    let mut total = UsageDay::default();
    for d in &days {
        total.matches += d.matches;
        total.approved += d.approved;
        total.declined += d.declined;
        total.in_review += d.in_review;
        for i in 0..LATENCY_BUCKETS {
            total.latency[i] += d.latency[i];
        }
    }
    let per_day: Vec<(String, i64)> = (from..=today)
        .map(|day| {
            let n = days.iter().find(|d| d.day == day).map_or(0, |d| d.matches);
            (day_label(day), n)
        })
        .collect();
    let scores: Vec<(String, i64)> = histogram
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let hi = if i == 9 { 100 } else { i * 10 + 9 };
            (format!("{}–{hi}", i * 10), *n)
        })
        .collect();
    let body = html! {
        h1 { "Usage" }
        p.muted { "The last " (DAYS) " days (UTC), every face match of the account's keys, saved or not, "
            "counted by the status the API answered (a later review shows in Manual Checks, not here)." }
        dl.facts id="usage-totals" {
            dt { "Face matches" } dd id="usage-matches" { (total.matches) }
            dt { "Answered Approved" } dd id="usage-approved" { (total.approved) }
            dt { "Answered Declined" } dd id="usage-declined" { (total.declined) }
            dt { "Answered In Review" } dd id="usage-in-review" { (total.in_review) }
            dt { "Latency p50" } dd id="usage-p50" { (latency_words(latency_quantile_bucket(&total.latency, 0.5))) }
            dt { "Latency p95" } dd id="usage-p95" { (latency_words(latency_quantile_bucket(&total.latency, 0.95))) }
        }
        h2 { "Face matches per day" }
        (bar_chart("Face matches per day, last 30 days", &per_day))
        details {
            summary { "The numbers" }
            div.table-wrap { table id="usage-days" {
                thead { tr { th scope="col" { "Day" } th scope="col" { "Face matches" } } }
                tbody { @for (day, n) in &per_day { tr { td { (day) } td { (n) } } } }
            } }
        }
        h2 { "Scores of saved decisions" }
        (bar_chart("Score histogram of saved decisions, last 30 days", &scores))
        div.table-wrap { table id="usage-scores" {
            thead { tr { th scope="col" { "Score" } th scope="col" { "Decisions" } } }
            tbody { @for (range, n) in &scores { tr { td { (range) } td { (n) } } } }
        } }
    };
    Ok(layout::page("Usage", &auth.0, Nav::Usage, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_one_bar_per_value_scaled_to_the_largest() {
        let values: Vec<(String, i64)> = [3, 0, 6].iter().map(|v| (format!("d{v}"), *v)).collect();
        let svg = bar_chart("Per day", &values).into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("<title>d6: 6</title>"));
        // The largest bar fills the plot (164 px), the others in proportion.
        assert!(svg.contains("height=\"164\""), "{svg}");
        assert!(svg.contains("height=\"82\""), "{svg}");
        assert!(svg.contains("height=\"0\""), "{svg}");
        assert!(
            svg.contains(">6</text>") && svg.contains(">d3</text>") && svg.contains(">d6</text>")
        );
    }
}
