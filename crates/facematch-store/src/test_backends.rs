//! The databases every store test runs on (SQLite in memory and a fresh database on the test
//! process's throwaway PostgreSQL cluster), and the decision they save. The databases: (`facematch_testkit::postgres`). PostgreSQL is
//! required: a machine without it fails these tests rather than skipping half of them.
#![allow(clippy::unwrap_used, clippy::panic)]

use facematch_core::{FaceMatch, ImageFaces, Status};
use time::OffsetDateTime;

use crate::{Migrate, PostgresOptions, SavedDecision, Store};

/// A new in-memory SQLite store.
pub(crate) fn sqlite_store() -> Store {
    Store::open_in_memory().unwrap()
}

/// A new store on a fresh PostgreSQL database.
pub(crate) fn postgres_store() -> Store {
    let url = postgres_url();
    Store::connect_postgres(&url, &PostgresOptions::default(), Migrate::Apply).unwrap()
}

/// The URL of a fresh, empty PostgreSQL database (for tests that open several stores on one
/// database, as replicas do).
pub(crate) fn postgres_url() -> String {
    facematch_testkit::fresh_database().unwrap_or_else(|e| panic!("{e}"))
}

/// The decision the store's tests save: `key_id`'s, made at `at`, `status` with score 60
/// (thresholds 30 and 70), no faces, no vendor data, no history; a fresh request id.
pub(crate) fn decision(key_id: &str, status: Status, at: OffsetDateTime) -> SavedDecision {
    SavedDecision {
        request_id: uuid::Uuid::new_v4().hyphenated().to_string(),
        key_id: key_id.to_owned(),
        face_match: FaceMatch {
            status,
            score: Some(60),
            user_image: ImageFaces::default(),
            ref_image: ImageFaces::default(),
            warnings: vec![],
        },
        decline_threshold: 30.0,
        review_threshold: Some(70.0),
        vendor_data: None,
        metadata: None,
        session_number: 0,
        created_at: at,
        updated_at: at,
        history: vec![],
    }
}

/// `each_backend! { fn name(store) { body } }`: a module `name` with one test per database,
/// `name::sqlite` and `name::postgres`, each running `body` on a fresh `store`.
macro_rules! each_backend {
    ($($(#[$meta:meta])* fn $name:ident($store:ident) $body:block)+) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(clippy::needless_pass_by_value)]
            fn body($store: $crate::Store) $body

            #[test]
            fn sqlite() {
                body($crate::test_backends::sqlite_store());
            }

            #[test]
            fn postgres() {
                body($crate::test_backends::postgres_store());
            }
        }
    )+};
}
pub(crate) use each_backend;
