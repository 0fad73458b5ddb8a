//! Accuracy on the LFW dev pairs at threshold 50, and `best_angle` on the rotated list,
//! each held at the value measured, so that one more wrong pair fails.

mod common;

use common::{load, pairs, pipeline};
use facematch_core::CompareOptions;

#[test]
fn lfw_dev_pairs_accuracy_at_threshold_50_is_402_of_404() {
    let p = pipeline();
    let list = pairs("pairs_lfw_dev.tsv");
    assert_eq!(list.len(), 404);
    let options = CompareOptions {
        decline_threshold: 50.0,
        ..CompareOptions::default()
    };
    // Each photo is analysed once; pairs reuse the analyses.
    let mut analyses = std::collections::HashMap::new();
    for (left, right, _) in &list {
        for path in [left, right] {
            if !analyses.contains_key(path) {
                let facematch_core::ImageInput::Image(img) = load(path).expect("decodes") else {
                    panic!("{path} is empty");
                };
                analyses.insert(path.clone(), p.analyze(&img, false).expect("analyze"));
            }
        }
    }
    let mut correct = 0;
    let mut failures = Vec::new();
    for (left, right, same) in &list {
        let r = p.decide(analyses.get(left), analyses.get(right), &options);
        let approved = r.status == facematch_core::Status::Approved;
        if approved == *same {
            correct += 1;
        } else {
            failures.push(format!("{left} {right} same={same} score={:?}", r.score));
        }
    }
    let accuracy = correct as f64 / list.len() as f64;
    eprintln!("LFW dev accuracy at 50: {accuracy:.4}; errors: {failures:#?}");
    // Measured: 402 of 404 (99.5%). The nearest right decision is a same-person pair
    // at score 52 and the nearest right impostor pair scores 40, far from what float
    // noise between machines moves; one more error is a regression.
    assert!(correct >= 402, "{correct} of 404 right: {failures:#?}");
}

#[test]
fn rotated_pairs_get_the_right_best_angle_on_every_photo() {
    let p = pipeline();
    let list = pairs("pairs_lfw_dev_rotated.tsv");
    let mut right_angle = 0;
    let mut wrong = Vec::new();
    for (_, rotated, _) in &list {
        let expected: u16 = rotated
            .split("best_angle_")
            .nth(1)
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse().ok())
            .expect("angle in path");
        let facematch_core::ImageInput::Image(img) = load(rotated).expect("decodes") else {
            panic!("{rotated} is empty");
        };
        let (angle, _, faces) = p.detect_oriented(&img, true).expect("detect");
        if angle == expected && !faces.is_empty() {
            right_angle += 1;
        } else {
            wrong.push(format!("{rotated}: {angle}"));
        }
    }
    // Measured: all 404. The best angle's detector confidence beats the runner-up's by
    // at least 0.027 on every photo, far above float noise.
    assert_eq!(list.len(), 404);
    assert_eq!(right_angle, 404, "wrong best_angle: {wrong:#?}");
}
