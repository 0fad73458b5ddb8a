//! Mutations deep inside the real dlib models: the input is `[model, mode, offset: u32 LE,
//! patch...]`, applied to `shape_predictor_5_face_landmarks.dat` (model even) or
//! `dlib_face_recognition_resnet_model_v1.dat` (odd), which are read once from
//! `$FACEMATCH_MODELS` (default `~/.cache/facematch/models`). Prefix seeds alone rarely
//! get past the first layers; splicing reaches every layer of the ResNet reader, the
//! ONNX writer and shape prediction. Without the model files the target does nothing.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use facematch_dlib::resnet::dlib_resnet_to_onnx;
use facematch_dlib::{DRect, ShapePredictor};
use image::RgbImage;
use libfuzzer_sys::fuzz_target;

/// The two real models, or empty vectors where they are missing.
fn models() -> &'static [Vec<u8>; 2] {
    static MODELS: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = std::env::var_os("FACEMATCH_MODELS")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/facematch/models"))
            })
            .unwrap_or_default();
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_default();
        [
            read("shape_predictor_5_face_landmarks.dat"),
            read("dlib_face_recognition_resnet_model_v1.dat"),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let [which, mode, o0, o1, o2, o3, patch @ ..] = data else {
        return;
    };
    let model = &models()[usize::from(which & 1)];
    if model.is_empty() {
        return;
    }
    let offset = u32::from_le_bytes([*o0, *o1, *o2, *o3]) as usize % model.len();
    let mut bytes = model.clone();
    match mode % 3 {
        // Overwrite in place: corrupt a length, a version, a weight.
        0 => {
            let end = (offset + patch.len()).min(bytes.len());
            bytes[offset..end].copy_from_slice(&patch[..end - offset]);
        }
        // Insert: shift everything after the offset.
        1 => {
            bytes.splice(offset..offset, patch.iter().copied());
        }
        // Truncate, then append the patch.
        _ => {
            bytes.truncate(offset);
            bytes.extend_from_slice(patch);
        }
    }
    if which & 1 == 0 {
        if let Ok(sp) = ShapePredictor::from_bytes(&bytes) {
            let img = RgbImage::from_fn(24, 16, |x, y| {
                image::Rgb([(x * 10) as u8, (y * 15) as u8, 7])
            });
            let points = sp.predict(&img, DRect::new(2.0, 2.0, 20.0, 14.0));
            assert_eq!(points.len(), sp.num_parts());
        }
    } else {
        let _ = dlib_resnet_to_onnx(&bytes);
    }
});
