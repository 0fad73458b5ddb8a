//! Table-driven tests over every file in `shared/data/faces/fixtures/`, as listed in
//! `fixtures.tsv`.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use facematch_imageio::{
    decode, detect_format, read_dimensions, rotate_clockwise, DecodeLimits, ImageError,
    ImageFormatKind, RgbImage,
};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces")
}

fn read(rel: &str) -> Vec<u8> {
    let path = data_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn decode_fixture(rel: &str) -> RgbImage {
    decode(&read(rel), &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .rgb
}

/// Rows of fixtures.tsv under `fixtures/`: (image, faces column).
fn fixture_rows() -> Vec<(String, String)> {
    let tsv = std::fs::read_to_string(data_dir().join("fixtures.tsv")).unwrap();
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(&header[..2], ["image", "faces"]);
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[0].to_owned(), cols[1].to_owned())
        })
        .filter(|(image, _)| image.starts_with("fixtures/"))
        .collect()
}

/// Upright (after EXIF) size of every decodable fixture, taken from the file headers
/// (`file(1)`) and fixtures.tsv notes, not from our decoder.
fn expected_sizes() -> BTreeMap<&'static str, (u32, u32, ImageFormatKind)> {
    use ImageFormatKind::*;
    BTreeMap::from([
        ("one_face_astronaut.png", (512, 512, Png)),
        ("one_face_hopper.jpg", (512, 600, Jpeg)),
        ("one_face_hopper.webp", (512, 600, WebP)),
        ("one_face_astronaut.tiff", (512, 512, Tiff)),
        ("one_face_hopper_gray.jpg", (512, 600, Jpeg)),
        ("one_face_hopper_cmyk.jpg", (512, 600, Jpeg)),
        ("one_face_hopper_progressive.jpg", (512, 600, Jpeg)),
        ("one_face_astronaut_rgba.png", (512, 512, Png)),
        ("one_face_astronaut_gray16.png", (512, 512, Png)),
        ("one_face_hopper_best_angle_090.jpg", (600, 512, Jpeg)),
        ("one_face_astronaut_best_angle_090.png", (512, 512, Png)),
        ("one_face_hopper_best_angle_180.jpg", (512, 600, Jpeg)),
        ("one_face_astronaut_best_angle_180.png", (512, 512, Png)),
        ("one_face_hopper_best_angle_270.jpg", (600, 512, Jpeg)),
        ("one_face_astronaut_best_angle_270.png", (512, 512, Png)),
        ("one_face_hopper_exif_orientation_3.jpg", (512, 600, Jpeg)),
        ("one_face_hopper_exif_orientation_6.jpg", (512, 600, Jpeg)),
        ("one_face_hopper_exif_orientation_8.jpg", (512, 600, Jpeg)),
        ("profile_face_camera.png", (512, 512, Png)),
        ("no_face_coffee.png", (600, 400, Png)),
        ("no_face_rocket.jpg", (640, 427, Jpeg)),
        ("no_face_cat.png", (451, 300, Png)),
        ("no_face_blank.png", (640, 480, Png)),
        ("several_faces_collage.jpg", (1600, 900, Jpeg)),
        ("tiny_face_1024x768.png", (1024, 768, Png)),
        ("tiny_image_64x64.png", (64, 64, Png)),
        ("large_hopper_4096x4800.jpg", (4096, 4800, Jpeg)),
        ("png_bytes_named.jpg", (512, 600, Png)),
    ])
}

/// Mean absolute difference per channel; images must have the same size.
fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&p, &q)| u64::from(p.abs_diff(q)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn every_fixture_row_behaves_as_documented() {
    let sizes = expected_sizes();
    let limits = DecodeLimits::default();
    let rows = fixture_rows();
    assert!(rows.len() >= 35, "only {} fixture rows", rows.len());
    let mut checked = 0;
    for (image, faces) in &rows {
        let name = image.trim_start_matches("fixtures/");
        let bytes = read(image);
        let started = Instant::now();
        let result = decode(&bytes, &limits);
        let elapsed = started.elapsed();
        match (name, faces.as_str()) {
            ("empty.jpg", "-") => assert_eq!(result.unwrap_err(), ImageError::Empty),
            ("not_an_image.jpg", "-") => assert_eq!(
                result.unwrap_err(),
                ImageError::UnsupportedFormat { detected: None }
            ),
            ("bomb_30000x30000.png", "-") => {
                assert_eq!(result.unwrap_err().code(), "image_too_large");
                assert!(elapsed < Duration::from_secs(1), "bomb took {elapsed:?}");
            }
            ("truncated_hopper.jpg", "-") => match result {
                Err(e) => assert_eq!(e.code(), "corrupt_image", "{e}"),
                Ok(d) => assert_eq!(d.rgb.dimensions(), (512, 600)),
            },
            ("one_face_hopper.gif", _) => assert_eq!(
                result.unwrap_err(),
                ImageError::UnsupportedFormat {
                    detected: Some("GIF")
                }
            ),
            ("one_face_hopper.bmp", _) => assert_eq!(
                result.unwrap_err(),
                ImageError::UnsupportedFormat {
                    detected: Some("BMP")
                }
            ),
            // 6800x7968 = 54.2 MP: over the default 50 MP limit (the API refuses it
            // earlier anyway for being over 5 MiB).
            ("oversize_hopper_over_5mib.jpg", _) => {
                let err = result.unwrap_err();
                assert!(
                    matches!(
                        err,
                        ImageError::TooLarge {
                            width: 6800,
                            height: 7968,
                            ..
                        }
                    ),
                    "{err:?}"
                );
            }
            (_, "-") => panic!("{name}: undocumented non-image fixture, add a case"),
            _ => {
                let &(w, h, format) = sizes
                    .get(name)
                    .unwrap_or_else(|| panic!("{name}: no expected size in the table"));
                let decoded = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(decoded.rgb.dimensions(), (w, h), "{name}");
                assert_eq!(decoded.format, format, "{name}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, rows.len());
    // Every name in the size table is a row of the TSV (no stale entries).
    for name in sizes.keys() {
        assert!(
            rows.iter()
                .any(|(image, _)| image == &format!("fixtures/{name}")),
            "{name} not in fixtures.tsv"
        );
    }
}

#[test]
fn bomb_is_refused_from_the_header() {
    let bytes = read("fixtures/bomb_30000x30000.png");
    assert_eq!(read_dimensions(&bytes).unwrap(), (30000, 30000));
    let started = Instant::now();
    let err = decode(&bytes, &DecodeLimits::default()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        matches!(
            err,
            ImageError::TooLarge {
                width: 30000,
                height: 30000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn exif_orientations_decode_upright() {
    let upright = decode_fixture("fixtures/one_face_hopper.jpg");
    for orientation in [3u8, 6, 8] {
        let rel = format!("fixtures/one_face_hopper_exif_orientation_{orientation}.jpg");
        let decoded = decode(&read(&rel), &DecodeLimits::default()).unwrap();
        assert_eq!(decoded.exif_orientation, orientation, "{rel}");
        let diff = mean_abs_diff(&decoded.rgb, &upright);
        assert!(diff < 8.0, "{rel}: mean abs diff {diff:.2}");
    }
    assert_eq!(
        decode(
            &read("fixtures/one_face_hopper.jpg"),
            &DecodeLimits::default()
        )
        .unwrap()
        .exif_orientation,
        1
    );
}

#[test]
fn colour_variants_match_the_original() {
    let hopper = decode_fixture("fixtures/one_face_hopper.jpg");
    for (rel, max_diff) in [
        ("fixtures/one_face_hopper_progressive.jpg", 8.0),
        ("fixtures/one_face_hopper.webp", 8.0),
        ("fixtures/one_face_hopper_cmyk.jpg", 12.0),
        ("fixtures/png_bytes_named.jpg", 8.0),
    ] {
        let diff = mean_abs_diff(&decode_fixture(rel), &hopper);
        assert!(diff < max_diff, "{rel}: mean abs diff {diff:.2}");
    }
    let gray = decode_fixture("fixtures/one_face_hopper_gray.jpg");
    assert!(gray.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));

    let astronaut = decode_fixture("fixtures/one_face_astronaut.png");
    let tiff = decode_fixture("fixtures/one_face_astronaut.tiff");
    assert_eq!(
        mean_abs_diff(&tiff, &astronaut),
        0.0,
        "LZW TIFF is lossless"
    );
    let gray16 = decode_fixture("fixtures/one_face_astronaut_gray16.png");
    assert!(gray16.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
    // RGBA: alpha dropped; the opaque middle equals the RGB original.
    let rgba = decode_fixture("fixtures/one_face_astronaut_rgba.png");
    let crop = |img: &RgbImage| image::imageops::crop_imm(img, 32, 0, 448, 512).to_image();
    assert!(mean_abs_diff(&crop(&rgba), &crop(&astronaut)) < 1.0);
}

#[test]
fn rotating_best_angle_fixtures_makes_them_upright() {
    let hopper = decode_fixture("fixtures/one_face_hopper.jpg");
    let astronaut = decode_fixture("fixtures/one_face_astronaut.png");
    for degrees in [90u32, 180, 270] {
        for (stem, ext, upright, max_diff) in [
            ("one_face_hopper", "jpg", &hopper, 8.0),
            ("one_face_astronaut", "png", &astronaut, 1.0),
        ] {
            let rel = format!("fixtures/{stem}_best_angle_{degrees:03}.{ext}");
            let turned = rotate_clockwise(&decode_fixture(&rel), degrees);
            let diff = mean_abs_diff(&turned, upright);
            assert!(diff < max_diff, "{rel}: mean abs diff {diff:.2}");
            // The wrong direction must not match (guards against a sign mix-up).
            if degrees != 180 {
                let wrong = rotate_clockwise(&decode_fixture(&rel), 360 - degrees);
                if wrong.dimensions() == upright.dimensions() {
                    assert!(mean_abs_diff(&wrong, upright) > 20.0, "{rel}");
                }
            }
        }
    }
}

#[test]
fn large_jpeg_decodes() {
    let decoded = decode(
        &read("fixtures/large_hopper_4096x4800.jpg"),
        &DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(decoded.rgb.dimensions(), (4096, 4800));
}

#[test]
fn format_is_detected_from_bytes_not_names() {
    assert_eq!(
        detect_format(&read("fixtures/png_bytes_named.jpg")),
        Ok(ImageFormatKind::Png)
    );
    assert_eq!(
        detect_format(&read("fixtures/one_face_astronaut.tiff")),
        Ok(ImageFormatKind::Tiff)
    );
}

#[test]
fn truncations_and_bit_flips_never_panic() {
    let limits = DecodeLimits::default();
    for rel in [
        "fixtures/one_face_hopper.jpg",
        "fixtures/one_face_hopper_progressive.jpg",
        "fixtures/one_face_hopper.webp",
        "fixtures/tiny_image_64x64.png",
    ] {
        let bytes = read(rel);
        for cut in [
            1,
            2,
            3,
            4,
            8,
            12,
            16,
            32,
            100,
            500,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            let _ = decode(&bytes[..cut.min(bytes.len())], &limits);
        }
        // Deterministic corruption: flip bytes at spread-out offsets.
        for step in 1..20usize {
            let mut corrupt = bytes.clone();
            let mut i = step * 7;
            while i < corrupt.len() {
                corrupt[i] ^= 0x5A;
                i += corrupt.len() / (step * 3) + 1;
            }
            let _ = decode(&corrupt, &limits);
        }
    }
}
