//! Reading the list's query string and rebuilding its links.
#![allow(clippy::unwrap_used)]

use facematch_core::Status;

use super::ListQuery;
use crate::error::ApiError;

fn field(raw: &str) -> String {
    match ListQuery::parse(Some(raw)).unwrap_err() {
        ApiError::InvalidField { field, .. } => field.to_owned(),
        ApiError::DuplicateField(f) => format!("dup:{f}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn both_status_spellings_and_other_didit_statuses() {
    let q = ListQuery::parse(Some("status=Approved,IN_REVIEW,in%20review,Not%20Started")).unwrap();
    assert_eq!(
        q.filter.statuses,
        Some(vec![Status::Approved, Status::InReview])
    );
    let q = ListQuery::parse(Some("status=NOT_STARTED")).unwrap();
    assert_eq!(q.filter.statuses, Some(vec![]));
    assert_eq!(field("status=Approved,Maybe"), "status");
    assert_eq!(field("status=Approved,"), "status");
}

#[test]
fn a_date_only_date_to_takes_in_the_whole_day() {
    let q = ListQuery::parse(Some("date_from=2026-06-01&date_to=2026-06-01")).unwrap();
    let (from, to) = (q.filter.created_from.unwrap(), q.filter.created_to.unwrap());
    assert_eq!(from.unix_timestamp(), 1_780_272_000);
    assert_eq!(to.unix_timestamp_nanos(), 1_780_358_400_000_000_000 - 1);
    let q = ListQuery::parse(Some("date_to=2026-06-01T10:00:00%2B02:00")).unwrap();
    assert_eq!(q.filter.created_to.unwrap().unix_timestamp(), 1_780_300_800);
    assert_eq!(
        field("date_from=2026-06-02&date_to=2026-06-01"),
        "date_from"
    );
    assert_eq!(field("date_to=2026-13-01"), "date_to");
    assert_eq!(field("date_from=3000-01-01"), "date_from");
    assert_eq!(field("date_from=2026-06-01T10:00:00+02:00"), "date_from");
}

#[test]
fn bounds_and_duplicates_name_their_field() {
    for (raw, want) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("offset=10001", "offset"),
        ("offset=-1", "offset"),
        ("session_kind=robot", "session_kind"),
        ("workflow_id=nope", "workflow_id"),
        ("country=Spain", "country"),
        ("limit=1&limit=2", "dup:limit"),
    ] {
        assert_eq!(field(raw), want, "{raw}");
    }
    assert_eq!(field(&format!("search={}", "a".repeat(101))), "search");
    assert!(ListQuery::parse(Some(&format!("search={}", "é".repeat(100)))).is_ok());
    assert_eq!(field(&format!("x={}", "a".repeat(9000))), "query");
}

#[test]
fn links_keep_the_query_and_move_the_offset() {
    let q = ListQuery::parse(Some("status=In%20Review&ordering=x&offset=4&limit=3")).unwrap();
    assert_eq!(
        q.next(10).as_deref(),
        Some("/v3/sessions/?status=In+Review&ordering=x&limit=3&offset=7")
    );
    assert_eq!(
        q.previous().as_deref(),
        Some("/v3/sessions/?status=In+Review&ordering=x&limit=3&offset=1")
    );
    assert_eq!(q.next(7), None);
    let q = ListQuery::parse(Some("offset=2")).unwrap();
    assert_eq!(q.previous().as_deref(), Some("/v3/sessions/?limit=50"));
    assert_eq!(ListQuery::parse(None).unwrap().previous(), None);
    let q = ListQuery::parse(Some("offset=9990&limit=10")).unwrap();
    assert_eq!(
        q.next(100_000).as_deref(),
        Some("/v3/sessions/?limit=10&offset=10000")
    );
    let q = ListQuery::parse(Some("offset=10000&limit=10")).unwrap();
    assert_eq!(q.next(100_000), None);
}

#[test]
fn filters_no_face_match_passes_need_no_query() {
    for raw in [
        "session_kind=business",
        "workflow_id=11111111-2222-3333-4444-555555555555",
        "country=ESP",
    ] {
        assert!(
            ListQuery::parse(Some(raw)).unwrap().matches_nothing,
            "{raw}"
        );
    }
    for raw in ["session_kind=user", "session_kind=all", "country=", ""] {
        assert!(
            !ListQuery::parse(Some(raw)).unwrap().matches_nothing,
            "{raw}"
        );
    }
}
