//! Raw request bodies → the face-match form reader of `facematch-server`
//! (`form::read_form` behind `axum::extract::Multipart`), plus the field parsers
//! (thresholds, booleans) on the same bytes as text. The body arrives whole from memory,
//! so a hang here is a parser loop, not a slow client. Goal: no panic, no hang, and every
//! accepted form within the contract's limits.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::Request;
use facematch_core::MAX_IMAGE_BYTES;
use facematch_server::form::{
    parse_bool, parse_threshold, read_form, DECLINE_THRESHOLD, MAX_VENDOR_DATA_CHARS, ROTATE_IMAGE,
};
use facematch_server::mail::Mailer;
use facematch_server::upload_budget::UploadBudget;
use facematch_server::{AppState, ServerConfig};
use facematch_store::Store;
use libfuzzer_sys::fuzz_target;

/// The boundary the seeds use (`fuzz/seeds/multipart_form/*` are built with it).
const BOUNDARY: &str = "fzb";

/// One current-thread runtime for the whole run: building one per input would dominate
/// the time per execution. Timers on: the form reader bounds how long it discards a
/// refused body.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("tokio runtime")
    })
}

/// The upload budget of a server with default settings (built once).
fn budget() -> &'static UploadBudget {
    static BUDGET: OnceLock<UploadBudget> = OnceLock::new();
    BUDGET.get_or_init(|| {
        let store = Store::open_in_memory().expect("in-memory store");
        AppState::with_mailer(ServerConfig::default(), store, Mailer::Log)
            .expect("app state")
            .upload_budget()
            .clone()
    })
}

fuzz_target!(|data: &[u8]| {
    // The field parsers see any text a client can send.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(v) = parse_threshold(DECLINE_THRESHOLD, text) {
            assert!((0.0..=100.0).contains(&v), "threshold {v} from {text:?}");
        }
        let _ = parse_bool(ROTATE_IMAGE, text);
    }

    let request = Request::post("/v3/face-match/")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(data.to_vec()))
        .expect("request");
    runtime().block_on(async {
        let Ok(multipart) = Multipart::from_request(request, &()).await else {
            return;
        };
        if let Ok(form) = read_form(multipart, budget()).await {
            assert!(form.user_image.len() <= MAX_IMAGE_BYTES);
            assert!(form.ref_image.len() <= MAX_IMAGE_BYTES);
            let o = form.options;
            assert!((0.0..=100.0).contains(&o.decline_threshold));
            if let Some(r) = o.review_threshold {
                assert!((0.0..=100.0).contains(&r) && r >= o.decline_threshold);
            }
            if let Some(v) = &form.vendor_data {
                assert!(v.chars().count() <= MAX_VENDOR_DATA_CHARS);
            }
        }
    });
    assert_eq!(
        budget().in_use_bytes(),
        0,
        "upload bytes still held after the form was dropped"
    );
});
