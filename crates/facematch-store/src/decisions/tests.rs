//! The decision statuses: the schema's CHECK against the serde spellings, review statuses.

use super::*;

/// The schema's CHECK on `decisions.status` cannot read Rust: it must list exactly the serde
/// spellings of [`Status`], or a decision could be refused (or a typo admitted) by the
/// database. Both schemas: SQLite's migrations and PostgreSQL's.
#[test]
fn the_schema_checks_exactly_the_serde_spellings_of_every_status() {
    let sqlite = crate::migrations::MIGRATIONS
        .iter()
        .map(|(_, sql)| *sql)
        .collect::<String>();
    let postgres = crate::migrations::POSTGRES_MIGRATIONS
        .iter()
        .map(|(_, _, sql)| *sql)
        .collect::<String>();
    let spelled: Vec<String> = Status::ALL.iter().map(Status::to_string).collect();
    for sql in [sqlite, postgres] {
        let check = "CHECK (status IN (";
        let start = sql.find(check).expect("a CHECK on status") + check.len();
        let listed: Vec<&str> = sql[start..]
            .split(')')
            .next()
            .expect("a closed list")
            .split(',')
            .map(|v| v.trim().trim_matches('\''))
            .collect();
        assert_eq!(listed, spelled);
    }
}

#[test]
fn a_review_status_is_a_status_other_than_in_review() {
    for s in Status::ALL {
        match ReviewStatus::try_from(s) {
            Ok(r) => assert_eq!(Status::from(r), s),
            Err(_) => assert_eq!(s, Status::InReview),
        }
    }
    assert!("In Review".parse::<ReviewStatus>().is_err());
    assert_eq!(ReviewStatus::Declined.to_string(), "Declined");
}
