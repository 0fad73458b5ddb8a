//! `quality_filter` (beyond the contract): NONE by default, a level any case; a good
//! photo passes MEDIUM; a bad value is a 400 that names the field and costs nothing.

mod common;

use common::{live_app, Form, TestApp};

const HOPPER: &str = "fixtures/one_face_hopper.jpg";
const HOPPER_WEBP: &str = "fixtures/one_face_hopper.webp";

#[tokio::test]
async fn a_good_pair_passes_medium_and_entities_carry_landmarks_pose_and_quality() {
    let live = live_app(TestApp::new(|_| {})).await;
    let key = live.app.key(10);
    for level in ["MEDIUM", "medium", "NONE"] {
        let form = Form::pair(HOPPER, HOPPER_WEBP).text("quality_filter", level);
        let reply = live.face_match(&key, &form).await;
        assert_eq!(reply.status, 200, "{level}: {}", reply.text());
        let fm = &reply.json["face_match"];
        assert_eq!(fm["status"], "Approved", "{level}: {fm}");
        assert_eq!(fm["warnings"].as_array().map(Vec::len), Some(0), "{fm}");
        let e = &fm["user_image"]["entities"][0];
        assert_eq!(e["landmarks"].as_array().map(Vec::len), Some(5), "{e}");
        for axis in ["yaw", "pitch", "roll"] {
            assert!(e["pose"][axis].is_number(), "{e}");
        }
        assert!(e["quality"]["quality"].is_number(), "{e}");
    }
    live.shutdown().await;
}

#[tokio::test]
async fn a_bad_level_is_a_400_naming_the_field_and_costs_nothing() {
    let live = live_app(TestApp::new(|_| {})).await;
    let key = live.app.key(5);
    for bad in ["", "VERY_HIGH", "1", "true", "MEDIUM,HIGH"] {
        let form = Form::pair(HOPPER, HOPPER).text("quality_filter", bad);
        let reply = live.face_match(&key, &form).await;
        let detail = reply.assert_error(400, "invalid_field");
        assert!(
            detail.contains("quality_filter") && detail.contains("NONE, AUTO, LOW, MEDIUM or HIGH"),
            "{bad:?}: {detail}"
        );
    }
    assert_eq!(live.app.balance(&key), 5, "no 400 costs a credit");
    live.shutdown().await;
}
