//! `facematch eval` end to end on the fixture pair list (small, so fast): the JSON
//! keeps every pair, and the error rates agree with the errors it lists.

mod common;

use std::process::Command;

use common::faces;

/// Runs `eval` on `pairs_fixtures.tsv` with `extra` flags; returns the JSON report
/// and stdout.
fn eval(extra: &[&str]) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let json = dir.path().join("eval.json");
    let out = Command::new(env!("CARGO_BIN_EXE_facematch"))
        .arg("eval")
        .arg(faces("pairs_fixtures.tsv"))
        .arg("--root")
        .arg(faces(""))
        .arg("--json")
        .arg(&json)
        .args(extra)
        .output()
        .expect("the facematch binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("the JSON report");
    (
        serde_json::from_str(&text).expect("the report is JSON"),
        stdout,
    )
}

fn count(v: &serde_json::Value) -> usize {
    v.as_u64().expect("a count") as usize
}

#[test]
fn eval_json_keeps_every_pair_and_consistent_error_rates() {
    let (v, stdout) = eval(&[]);
    let pairs = count(&v["pairs"]);
    let detail = v["pairs_detail"].as_array().expect("pairs_detail");
    assert_eq!(detail.len(), pairs);
    for d in detail {
        for key in [
            "left",
            "right",
            "same",
            "score",
            "distance",
            "status",
            "left_faces",
            "right_faces",
            "left_quality",
            "right_quality",
            "left_pose",
            "right_pose",
        ] {
            assert!(d.get(key).is_some(), "{key} missing in {d}");
        }
        // A compared face has a measured quality and pose; a side without a face has neither.
        for side in ["left", "right"] {
            let found = d[format!("{side}_faces")].as_u64().is_some_and(|n| n > 0);
            assert_eq!(d[format!("{side}_quality")].is_object(), found, "{d}");
            assert_eq!(d[format!("{side}_pose")]["yaw"].is_number(), found, "{d}");
        }
    }
    // The fixtures' pair list holds a multi-face photo: the face counts say so.
    assert!(detail
        .iter()
        .any(|d| count(&d["right_faces"]) >= 2 || count(&d["left_faces"]) >= 2));

    // At the decline threshold (30, one of the reported scores), the rates count
    // exactly the pairs eval lists as errors.
    assert_eq!(v["threshold"], 30.0);
    let rates = v["rates_at_scores"].as_array().expect("rates_at_scores");
    let scores: Vec<f64> = rates
        .iter()
        .map(|r| r["score"].as_f64().expect("score"))
        .collect();
    assert_eq!(scores, [30.0, 50.0, 70.0, 90.0]);
    let at30 = &rates[0];
    let errors = v["errors_at_threshold"].as_array().expect("errors").len();
    assert_eq!(
        count(&at30["false_non_matches"]) + count(&at30["false_matches"]),
        errors,
        "{at30}"
    );
    assert_eq!(count(&at30["genuine"]), count(&v["genuine_pairs"]));
    assert_eq!(count(&at30["impostors"]), count(&v["impostor_pairs"]));
    // Errors only grow with the threshold's strictness on the genuine side.
    let fnm: Vec<usize> = rates
        .iter()
        .map(|r| count(&r["false_non_matches"]))
        .collect();
    assert!(fnm.windows(2).all(|w| w[0] <= w[1]), "{fnm:?}");
    let ci = at30["fnmr_ci95"].as_array().expect("an interval");
    let fnmr = at30["fnmr"].as_f64().expect("fnmr");
    assert!(ci[0].as_f64() <= Some(fnmr) && Some(fnmr) <= ci[1].as_f64());

    // Every pair is in one quality band row; the levels start with NONE, which
    // changes nothing.
    let bands = v["quality_bands"].as_array().expect("quality_bands");
    let in_bands: usize = bands
        .iter()
        .map(|b| count(&b["genuine"]) + count(&b["impostors"]))
        .sum();
    assert_eq!(in_bands, pairs);
    let levels = v["quality_levels"].as_array().expect("quality_levels");
    let names: Vec<&str> = levels.iter().filter_map(|l| l["level"].as_str()).collect();
    assert_eq!(names, ["NONE", "AUTO", "LOW", "MEDIUM", "HIGH"]);
    assert_eq!(count(&levels[0]["errors_after"]), errors);
    assert_eq!(count(&levels[0]["photos"]), count(&v["images"]));

    assert_eq!(v["selection"], "largest");
    assert_eq!(v["other_selection"]["selection"], "center");
    assert!(v["other_selection"]["pairs_changed"].is_u64());
    assert!(stdout.contains("with --select center: 10-fold"), "{stdout}");
}

#[test]
fn eval_takes_center_selection_and_quality_cutoffs() {
    let (v, _) = eval(&["--select", "center", "--quality-cutoffs", "10,30,50"]);
    assert_eq!(v["selection"], "center");
    assert_eq!(v["other_selection"]["selection"], "largest");
    let mins: Vec<Option<f64>> = v["quality_levels"]
        .as_array()
        .expect("quality_levels")
        .iter()
        .map(|l| l["min_quality"].as_f64())
        .collect();
    assert_eq!(mins, [None, Some(30.0), Some(10.0), Some(30.0), Some(50.0)]);
}

#[test]
fn eval_rejects_bad_selection_and_cutoffs_with_exit_2() {
    for extra in [["--select", "left"], ["--quality-cutoffs", "60,40,20"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_facematch"))
            .arg("eval")
            .arg(faces("pairs_fixtures.tsv"))
            .args(extra)
            .output()
            .expect("the facematch binary runs");
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}
