//! The writer's output is a model ONNX Runtime loads and runs with the right numbers:
//! graph name, producer, named and fixed dimensions, float and int64 initializers, and
//! `int`/`ints` attributes all have to be encoded right for that, which searching the
//! bytes cannot show. Needs the runtime library from the model cache
//! (`facematch models fetch`, or `FACEMATCH_MODELS`).

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

use std::path::PathBuf;

use facematch_onnx::{attr_int, attr_ints, Dim, GraphBuilder};
use ort::session::Session;
use ort::value::{Tensor, ValueType};

const ORT_LIB: &str = "libonnxruntime.so.1.32.0";

fn ort_lib() -> PathBuf {
    let dir = match std::env::var_os("FACEMATCH_MODELS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME or FACEMATCH_MODELS"))
            .join(".cache/facematch/models"),
    };
    let lib = dir.join(ORT_LIB);
    assert!(
        lib.is_file(),
        "{} is missing: run `facematch models fetch` or set FACEMATCH_MODELS",
        lib.display()
    );
    lib
}

/// `y = Reshape(Conv(x, w, b), [-1, 4]) * scale`, for `x` of shape `[N, 1, 3, 3]`.
fn conv_reshape_mul() -> Vec<u8> {
    let mut g = GraphBuilder::new();
    let w = g.init_f32("w", &[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let b = g.init_f32("b", &[1], &[0.5]);
    let conv = g.fresh("conv");
    g.node(
        "Conv",
        &["x", &w, &b],
        &conv,
        &[
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("strides", &[1, 1]),
            attr_ints("pads", &[0, 0, 0, 0]),
            attr_int("group", 1),
        ],
    );
    let shape = g.init_i64("shape", &[-1, 4]);
    let flat = g.fresh("flat");
    g.node("Reshape", &[&conv, &shape], &flat, &[]);
    let scale = g.init_f32("scale", &[4], &[1.0, -1.0, 0.5, 2.0]);
    g.node("Mul", &[&flat, &scale], "y", &[]);
    g.finish(
        "tiny_conv",
        &[(
            "x",
            &[Dim::Named("N"), Dim::Fixed(1), Dim::Fixed(3), Dim::Fixed(3)],
        )],
        &[("y", &[Dim::Named("N"), Dim::Fixed(4)])],
        ("facematch-onnx-test", "7.5"),
    )
}

/// The same computation written out by hand: a 2x2 valid convolution, flattened, then
/// scaled per position.
fn expected(x: &[f32]) -> Vec<f32> {
    let (w, b, scale) = ([1.0, 2.0, 3.0, 4.0], 0.5, [1.0, -1.0, 0.5, 2.0]);
    let mut out = Vec::new();
    for image in x.chunks(9) {
        for (i, (r, c)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
            let at = |dr: usize, dc: usize| image[(r + dr) * 3 + c + dc];
            let conv = w[0] * at(0, 0) + w[1] * at(0, 1) + w[2] * at(1, 0) + w[3] * at(1, 1) + b;
            out.push(conv * scale[i]);
        }
    }
    out
}

#[test]
fn a_written_graph_loads_and_computes_in_onnx_runtime() {
    let env = ort::init_from(ort_lib())
        .expect("load ONNX Runtime")
        .build()
        .expect("ORT environment");
    let mut session = Session::builder(&env)
        .unwrap()
        .commit_from_memory(&conv_reshape_mul())
        .expect("ONNX Runtime accepts the written model");

    let meta = session.metadata().unwrap();
    assert_eq!(meta.name().as_deref(), Some("tiny_conv"));
    assert_eq!(meta.producer().as_deref(), Some("facematch-onnx-test"));
    drop(meta);
    let inputs: Vec<_> = session
        .inputs()
        .iter()
        .map(|o| o.name().to_owned())
        .collect();
    let outputs: Vec<_> = session
        .outputs()
        .iter()
        .map(|o| o.name().to_owned())
        .collect();
    assert_eq!((inputs, outputs), (vec!["x".into()], vec!["y".into()]));
    match session.inputs()[0].dtype() {
        ValueType::Tensor {
            shape,
            dimension_symbols,
            ..
        } => {
            assert_eq!(&shape[..], &[-1, 1, 3, 3]);
            assert_eq!(dimension_symbols[0], "N");
        }
        other => panic!("input is not a tensor: {other:?}"),
    }

    // Two images, so that the named batch dimension really varies.
    let x: Vec<f32> = (0..18).map(|i| i as f32 * 0.25 - 1.0).collect();
    let input = Tensor::from_array(([2usize, 1, 3, 3], x.clone())).unwrap();
    let outputs = session.run(ort::inputs!["x" => input]).expect("inference");
    let (shape, y) = outputs["y"].try_extract_tensor::<f32>().unwrap();
    assert_eq!(&shape[..], &[2, 4]);
    let want = expected(&x);
    assert_eq!(y.len(), want.len());
    for (a, b) in y.iter().zip(&want) {
        assert!((a - b).abs() < 1e-6, "{y:?} vs {want:?}");
    }
}
