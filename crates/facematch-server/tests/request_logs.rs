//! What a request leaves in the log. Its tracing span follows the work onto the
//! blocking workers: the pipeline's stage spans (decode, analyze, detect, describe) nest
//! under `request{method, route, request_id}`, so a slow request can be attributed to a
//! stage. A 500 logs its cause once, with the whole source chain, and never sends it.
//! Needs the models.

mod common;

use std::sync::{Arc, OnceLock};

use common::{Form, TestApp};
use facematch_core::{Detection, FaceDetector, Pipeline, PipelineError};
use tracing_subscriber::fmt::format::FmtSpan;

const HOPPER: &str = "fixtures/one_face_hopper.jpg";

fn logs() -> String {
    static CAPTURE: OnceLock<common::Capture> = OnceLock::new();
    let capture =
        CAPTURE.get_or_init(|| common::install_log_capture(tracing::Level::INFO, FmtSpan::CLOSE));
    capture.text()
}

#[tokio::test]
async fn stage_spans_nest_under_the_request_span() {
    let _ = logs();
    let app = TestApp::new(|_| {});
    let key = app.key(1);
    let reply = app.face_match(&key, &Form::pair(HOPPER, HOPPER)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let log = logs();
    let request = "request{method=POST route=/v3/face-match/";
    for stage in ["decode{", "analyze{", "detect{", "describe{"] {
        assert!(
            log.lines()
                .any(|l| l.contains(request) && l.contains(stage)),
            "no {stage} span under the request span in\n{log}"
        );
    }
    // The request id is recorded on the span once it is known.
    let request_id = reply.json["request_id"].as_str().expect("request_id");
    assert!(
        log.contains(&format!("request_id={request_id}")),
        "request_id missing in\n{log}"
    );
}

/// A detector whose runtime fails.
struct Failing;

impl FaceDetector for Failing {
    fn detect(&self, _: &facematch_imageio::RgbImage) -> Result<Vec<Detection>, PipelineError> {
        Err(PipelineError::detector("the runtime exploded"))
    }
}

#[tokio::test]
async fn a_fault_is_logged_once_with_its_cause_and_never_sent() {
    let _ = logs();
    let pipeline = Pipeline::new(
        Arc::new(Failing),
        Arc::new(common::RealDescriber(common::pipeline())),
    );
    let app = TestApp::with_pipeline(pipeline, |_| {});
    let key = app.key(1);
    let reply = app.face_match(&key, &Form::pair(HOPPER, HOPPER)).await;
    let detail = reply.assert_error(500, "internal_error");
    assert!(!detail.contains("exploded"), "no internals leak: {detail}");
    let log = logs();
    let faults: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("internal error") && l.contains("the runtime exploded"))
        .collect();
    assert_eq!(faults.len(), 1, "one fault line in\n{log}");
    assert!(faults[0].contains("ERROR"), "{}", faults[0]);
    assert!(
        faults[0].contains("request{method=POST route=/v3/face-match/"),
        "inside the request span: {}",
        faults[0]
    );
    assert!(
        faults[0].contains("face detection failed: the runtime exploded"),
        "with its source chain: {}",
        faults[0]
    );
}
