//! The converted graph against face-api.js itself: outputs of TensorFlow.js (CPU
//! backend, `AgeGenderNet.predictAgeAndGender` in face-api.js 0.22.2 with the weights
//! of `@vladmandic/face-api@1.7.15`) on two synthetic 112×112 images, recorded once.
//! A transposed kernel, a misplaced pad or a wrong mean changes them by far more than
//! the float tolerance.

use std::path::PathBuf;

use facematch_engine::runtime::{init_runtime, SessionOptions};
use facematch_engine::{InferenceModel, OrtModel, Tensor};
use facematch_faceapi::{age_gender_onnx, INPUT_SIZE};

fn model_dir() -> PathBuf {
    match std::env::var_os("FACEMATCH_MODELS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME or FACEMATCH_MODELS"))
            .join(".cache/facematch/models"),
    }
}

fn read(name: &str) -> Vec<u8> {
    let path = model_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}); run `facematch models fetch` or set FACEMATCH_MODELS",
            path.display()
        )
    })
}

/// The test pattern, NCHW, as the recording script built it in NHWC.
fn pattern(inverted: bool) -> Vec<f32> {
    let n = INPUT_SIZE;
    let mut data = vec![0f32; 3 * n * n];
    for y in 0..n {
        for x in 0..n {
            for c in 0..3 {
                let v = (x * 7 + y * 13 + c * 29 + (x * y) % 17) % 256;
                let v = if inverted { 255 - v } else { v };
                data[(c * n + y) * n + x] = v as f32;
            }
        }
    }
    data
}

#[test]
fn converted_graph_reproduces_face_api_js() {
    init_runtime(&model_dir().join("libonnxruntime.so.1.32.0")).expect("ONNX Runtime");
    let onnx = age_gender_onnx(
        &read("age_gender_model-weights_manifest.json"),
        &read("age_gender_model.bin"),
    )
    .expect("convert");
    let model = OrtModel::from_bytes("faceapi", &onnx, SessionOptions::default()).expect("load");
    assert_eq!(model.output_names(), ["age", "gender"]);
    // (inverted, age, probability of male, recorded decimals of it) from TensorFlow.js.
    let recorded = [
        (false, 49.073_097_f32, 0.999_950_2_f64, 7),
        (true, 30.366_724, 0.998_64, 5),
    ];
    for (inverted, age, male, decimals) in recorded {
        let input =
            Tensor::new(vec![1, 3, INPUT_SIZE, INPUT_SIZE], pattern(inverted)).expect("tensor");
        let out = model.run(&input).expect("run");
        assert_eq!(out[0].shape, vec![1, 1]);
        assert_eq!(out[1].shape, vec![1, 2]);
        // Measured: 1.5e-5 and 1.9e-6 years off (float32 at ~50 is 4e-6 apart).
        assert!(
            (out[0].data[0] - age).abs() < 1e-4,
            "age {} vs {age}",
            out[0].data[0]
        );
        let (p_male, p_female) = (f64::from(out[1].data[0]), f64::from(out[1].data[1]));
        assert!((p_male + p_female - 1.0).abs() < 1e-5);
        // p(male) is saturated (0.99995): a probability tolerance would let the
        // logits drift far. Compare the log-odds ln(p_male / p_female), which is the
        // difference of the two logits, within what the recorded digits allow: half a
        // unit of the last one, divided by dp/dlogit = p(1 - p), plus 10%. That is
        // 1.1e-3 and 4.0e-3; measured 1.1e-4 and 1.4e-5.
        let log_odds = (p_male / p_female).ln();
        let want = (male / (1.0 - male)).ln();
        let tolerance = 1.1 * 0.5 * 10f64.powi(-decimals) / (male * (1.0 - male));
        assert!(
            (log_odds - want).abs() < tolerance,
            "gender log-odds {log_odds} vs {want} (tolerance {tolerance:.1e})"
        );
    }
}
