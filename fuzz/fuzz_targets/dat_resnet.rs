//! Bytes → `dlib_resnet_to_onnx` (parse dlib's face-recognition ResNet, then write the
//! ONNX graph). Seeds are prefixes of the real
//! `dlib_face_recognition_resnet_model_v1.dat`, cut by `scripts/fuzz.sh`. Goal: no
//! panic and no allocation beyond what the input holds.
#![no_main]

use facematch_dlib::resnet::dlib_resnet_to_onnx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dlib_resnet_to_onnx(data);
});
