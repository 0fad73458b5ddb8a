//! Untrusted upload bytes → `facematch_imageio::decode` (JPEG, PNG, WebP, TIFF, EXIF
//! orientation) and `facematch_core::image_input`, the two entry points the API and CLI
//! use. Goal: no panic (even a caught one: libfuzzer-sys aborts on any panic, so a
//! decoder panic that `decode` converts into an error still shows up here), no hang, and
//! memory bounded by `DecodeLimits`.
#![no_main]

use facematch_core::{image_input, ImageInput};
use facematch_imageio::{decode, read_dimensions, DecodeLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default();
    let header = read_dimensions(data);
    let decoded = decode(data, &limits);
    match &decoded {
        Ok(img) => {
            let (w, h) = img.rgb.dimensions();
            // The contract of `decode`: limits hold after orientation too, and the
            // buffer is exactly RGB8.
            assert!(w > 0 && h > 0, "empty image decoded");
            assert!(w <= limits.max_side && h <= limits.max_side);
            assert!(u64::from(w) * u64::from(h) <= limits.max_pixels);
            assert_eq!(img.rgb.as_raw().len(), w as usize * h as usize * 3);
            assert!((1..=8).contains(&img.exif_orientation));
            // The header read alone must agree (up to a quarter turn from EXIF).
            if let Ok((hw, hh)) = header {
                assert!(
                    (hw, hh) == (w, h) || (hh, hw) == (w, h),
                    "header {hw}x{hh} vs {w}x{h}"
                );
            }
        }
        Err(e) => {
            // Every error has a stable machine code.
            assert!(!e.code().is_empty());
        }
    }
    // `image_input` (the API's and CLI's path) must agree with `decode`: same pixels,
    // and the empty part only for 0 bytes. Decoding twice also catches nondeterminism,
    // but halves the speed: only small inputs (most of what the fuzzer tries) pay for it.
    if data.len() > 4096 {
        return;
    }
    match (image_input(data, &limits), decoded) {
        (Ok(ImageInput::Empty), _) => assert!(data.is_empty()),
        (Ok(ImageInput::Image(rgb)), Ok(img)) => assert!(rgb == img.rgb, "decodes differ"),
        // A large JPEG decoded reduced: 1/scale of the full decode's sides. The reduced
        // decoder may accept a damaged scan that the full one refuses.
        (Ok(ImageInput::Reduced { image, scale }), full) => {
            assert!(matches!(scale, 2 | 4 | 8));
            if let Ok(img) = full {
                let (w, h) = img.rgb.dimensions();
                assert_eq!(image.dimensions(), (w.div_ceil(scale), h.div_ceil(scale)));
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(ImageInput::Image(_)), Err(_)) | (Err(_), Ok(_)) => panic!("decodes disagree"),
    }
});
