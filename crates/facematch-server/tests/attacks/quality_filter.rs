//! `quality_filter` attacked: an oversize value, garbage bytes, the field sent twice,
//! a value that only looks like a level. Each is a 400 naming the field (never a 500),
//! costs no credit, and the long value is not echoed whole.

use crate::common::{live_app, Form, TestApp};

const HOPPER: &str = "fixtures/one_face_hopper.jpg";

#[tokio::test]
async fn oversize_garbage_and_repeated_quality_filters_are_400s() {
    let live = live_app(TestApp::new(|_| {})).await;
    let key = live.app.key(5);
    let huge = "MEDIUM".repeat(2000);
    let cases: Vec<(&str, Form, &str)> = vec![
        (
            "oversize",
            Form::pair(HOPPER, HOPPER).text("quality_filter", huge.as_bytes()),
            "invalid_field",
        ),
        (
            "not UTF-8",
            Form::pair(HOPPER, HOPPER).text("quality_filter", [0xff, 0xfe, b'M']),
            "invalid_field",
        ),
        (
            "NUL inside",
            Form::pair(HOPPER, HOPPER).text("quality_filter", "MED\0IUM"),
            "invalid_field",
        ),
        (
            "lookalike",
            Form::pair(HOPPER, HOPPER).text("quality_filter", "ＭＥＤＩＵＭ"),
            "invalid_field",
        ),
        (
            "repeated",
            Form::pair(HOPPER, HOPPER)
                .text("quality_filter", "NONE")
                .text("quality_filter", "HIGH"),
            "duplicate_field",
        ),
    ];
    for (what, form, code) in cases {
        let reply = live.face_match(&key, &form).await;
        let detail = reply.assert_error(400, code);
        assert!(detail.contains("quality_filter"), "{what}: {detail}");
        assert!(detail.len() < 500, "{what}: the value is not echoed whole");
    }
    assert_eq!(live.app.balance(&key), 5, "no 400 costs a credit");
    live.shutdown().await;
}
