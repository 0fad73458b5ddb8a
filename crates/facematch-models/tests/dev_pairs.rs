//! Accuracy on the LFW dev pairs at threshold 50, and `best_angle` on the rotated list.

mod common;

use common::{load, pairs, pipeline};
use facematch_core::CompareOptions;

#[test]
fn lfw_dev_pairs_accuracy_at_threshold_50_is_at_least_97_percent() {
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
    assert!(accuracy >= 0.97, "accuracy {accuracy:.4}: {failures:#?}");
}

#[test]
fn rotated_pairs_get_the_right_best_angle_on_at_least_98_percent() {
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
    let share = right_angle as f64 / list.len() as f64;
    eprintln!("best_angle right on {share:.4}; wrong: {wrong:#?}");
    assert!(share >= 0.98, "best_angle right on {share:.4}: {wrong:#?}");
}
