//! The ResNet reader must reject damaged input with an error, never a panic.

use std::path::{Path, PathBuf};

use facematch_dlib::error::DatError;
use facematch_dlib::resnet::{
    dlib_resnet_to_onnx, parse_face_recognition_resnet, Layer, MODEL_FILE_NAME,
};

fn read_model() -> Vec<u8> {
    let dir = match std::env::var_os("FACEMATCH_MODELS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(&std::env::var_os("HOME").expect("HOME or FACEMATCH_MODELS"))
            .join(".cache/facematch/models"),
    };
    let path = dir.join(MODEL_FILE_NAME);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "dlib model {} is missing ({e}); fetch the models or set FACEMATCH_MODELS",
            path.display()
        )
    })
}

#[test]
fn parses_the_real_model_into_the_expected_layers() {
    let net = parse_face_recognition_resnet(&read_model()).expect("model parses");
    assert_eq!(net.input.rows, 150);
    assert_eq!(net.input.cols, 150);
    assert!((net.input.mean_rgb[0] - 122.782).abs() < 1e-3);
    assert!((net.input.mean_rgb[1] - 117.001).abs() < 1e-3);
    assert!((net.input.mean_rgb[2] - 104.298).abs() < 1e-3);
    assert!((net.loss.distance_threshold - 0.6).abs() < 1e-6);
    let convs = net
        .layers
        .iter()
        .filter(|l| matches!(l, Layer::Conv(_)))
        .count();
    let affines = net
        .layers
        .iter()
        .filter(|l| matches!(l, Layer::Affine(_)))
        .count();
    assert_eq!((convs, affines), (29, 29));
    match net.layers.last() {
        Some(Layer::Fc(fc)) => {
            assert_eq!((fc.inputs, fc.outputs), (256, 128));
            assert!(fc.bias.is_none());
        }
        other => panic!("last layer should be fc_no_bias, got {other:?}"),
    }
}

#[test]
fn truncated_files_are_errors() {
    let dat = read_model();
    // Every prefix of the header region, then prefixes spread over the weights.
    let mut lengths: Vec<usize> = (0..=1000).collect();
    lengths.extend((1..40).map(|i| dat.len() / 40 * i));
    lengths.push(dat.len() - 1);
    for len in lengths {
        let err = dlib_resnet_to_onnx(&dat[..len]).expect_err("truncated model must fail");
        assert!(
            // Lengths are checked against the remaining input, so a cut can also show
            // up as a length that is too large for what is left.
            matches!(err, DatError::Truncated { .. } | DatError::TooLarge { .. }),
            "prefix of {len} bytes: unexpected error {err}"
        );
    }
}

#[test]
fn damaged_files_are_errors() {
    let dat = read_model();

    assert!(matches!(
        dlib_resnet_to_onnx(&[]),
        Err(DatError::Truncated { offset: 0, .. })
    ));
    // The first integer's control byte claims 127 bytes.
    assert!(matches!(
        dlib_resnet_to_onnx(&[0xff; 64]),
        Err(DatError::BadVarint { offset: 0, .. })
    ));

    let mut trailing = dat.clone();
    trailing.push(0);
    assert!(matches!(
        dlib_resnet_to_onnx(&trailing),
        Err(DatError::Invalid(_))
    ));

    // Rename the loss layer.
    let mut renamed = dat.clone();
    let at = dat
        .windows(13)
        .position(|w| w == b"loss_metric_2")
        .expect("loss tag");
    renamed[at + 12] = b'3';
    assert!(matches!(
        dlib_resnet_to_onnx(&renamed),
        Err(DatError::Invalid(_))
    ));

    // Change the first convolution's stride (2 -> 3).
    let mut strided = dat.clone();
    let con = dat
        .windows(5)
        .position(|w| w == b"con_4")
        .expect("con_ tag");
    // "con_4", params tensor header (5 ints) and its 4736 floats, then
    // num_filters, nr, nc, stride_y: locate stride_y by walking the known encoding.
    let params_len = 2 + 2 + 3 + 2 + 2 + 2 + 4736 * 4;
    let stride_y = con + 5 + params_len + 2 + 2 + 2 + 1;
    assert_eq!(
        strided[stride_y], 2,
        "test assumes the reference model layout"
    );
    strided[stride_y] = 3;
    assert!(matches!(
        dlib_resnet_to_onnx(&strided),
        Err(DatError::Invalid(_))
    ));

    // A tensor claiming an absurd size must be rejected before allocating.
    let mut huge = dat.clone();
    // The params tensor's num_samples is `02 80 12` (4736); make it 8 bytes of 0x7f.
    let n_at = con + 5 + 2;
    assert_eq!(&huge[n_at..n_at + 3], &[0x02, 0x80, 0x12]);
    huge.splice(
        n_at..n_at + 3,
        [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
    );
    assert!(matches!(
        dlib_resnet_to_onnx(&huge),
        Err(DatError::TooLarge { .. })
    ));
}
