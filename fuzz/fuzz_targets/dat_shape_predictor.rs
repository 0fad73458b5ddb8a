//! Bytes → `ShapePredictor::from_bytes`, and, for any model it accepts, a prediction on
//! a small image: `from_bytes` promises to validate every index so that prediction can
//! never index out of bounds. Seeds are prefixes of the real
//! `shape_predictor_5_face_landmarks.dat`, cut by `scripts/fuzz.sh`.
#![no_main]

use facematch_dlib::{DRect, ShapePredictor};
use image::RgbImage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sp) = ShapePredictor::from_bytes(data) else {
        return;
    };
    let img = RgbImage::from_fn(24, 16, |x, y| {
        image::Rgb([(x * 10) as u8, (y * 15) as u8, 7])
    });
    // A rect inside, one hanging off the image, and a degenerate one.
    for rect in [
        DRect::new(2.0, 2.0, 20.0, 14.0),
        DRect::new(-30.0, -30.0, 100.0, 100.0),
        DRect::new(5.0, 5.0, 5.0, 5.0),
    ] {
        let points = sp.predict(&img, rect);
        assert_eq!(points.len(), sp.num_parts());
        let _ = sp.predict_subpixel(&img, rect);
        let _ = sp.predict5(&img, rect);
    }
});
