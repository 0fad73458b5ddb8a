//! Every fixture of `shared/data/faces/fixtures.tsv` gets the outcome the table expects,
//! through the real models.

mod common;

use common::{faces_root, load, pipeline};
use facematch_core::{CompareOptions, ImageInput, Status, WarningTag};

/// Size limit of one image part (5 MiB), as the API and CLI enforce it.
const MAX_BYTES: u64 = 5 * 1024 * 1024;

struct Row {
    image: String,
    faces: String,
    best_angle: String,
    expect: String,
}

fn rows() -> Vec<Row> {
    std::fs::read_to_string(faces_root().join("fixtures.tsv"))
        .expect("fixtures.tsv")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                image: f[0].into(),
                faces: f[1].into(),
                best_angle: f[2].into(),
                expect: f[3].into(),
            }
        })
        .collect()
}

#[test]
fn every_fixture_gets_its_expected_outcome() {
    let p = pipeline();
    let reference = load("fixtures/one_face_hopper.jpg").expect("reference decodes");
    let mut checked = 0;
    for row in rows() {
        let path = faces_root().join(&row.image);
        let size = std::fs::metadata(&path).expect("fixture exists").len();
        if row.expect.starts_with("413") {
            assert!(size > MAX_BYTES, "{}: expected over 5 MiB", row.image);
            checked += 1;
            continue;
        }
        assert!(size <= MAX_BYTES, "{} is over the limit", row.image);
        let input = match load(&row.image) {
            Ok(i) => i,
            Err(e) => {
                assert!(
                    row.expect.starts_with("400"),
                    "{}: decode failed ({e}) but expected {}",
                    row.image,
                    row.expect
                );
                checked += 1;
                continue;
            }
        };
        if row.expect.starts_with("400") {
            // Only the truncated JPEG may decode (to a partial image) instead of a 400.
            assert!(
                row.image.contains("truncated"),
                "{} decoded but expected 400",
                row.image
            );
            checked += 1;
            continue;
        }
        let rotate = row.expect.contains("rotate_image=true");
        let options = CompareOptions {
            rotate,
            ..CompareOptions::default()
        };
        let result = p
            .compare(&input, &reference, &options)
            .expect("pipeline runs")
            .face_match;
        let tags: Vec<WarningTag> = result.warnings.iter().map(|w| w.risk).collect();
        match row.expect.as_str() {
            e if e.starts_with("NO_REFERENCE_IMAGE") => {
                assert!(matches!(input, ImageInput::Empty));
                assert_eq!(tags, vec![WarningTag::NoReferenceImage], "{}", row.image);
                assert_eq!(result.status, Status::Declined);
            }
            e if e.starts_with("NO_FACE_DETECTED") => {
                assert_eq!(tags, vec![WarningTag::NoFaceDetected], "{}", row.image);
                assert!(result.user_image.entities.is_empty());
                assert_eq!(result.score, None);
            }
            "either" => {}
            _ => {
                let found = result.user_image.entities.len();
                if let Ok(n) = row.faces.parse::<usize>() {
                    assert_eq!(found, n, "{}: faces found", row.image);
                } else {
                    assert!(found <= 1, "{}: {found} faces", row.image);
                }
                assert!(!tags.contains(&WarningTag::NoFaceDetected), "{}", row.image);
            }
        }
        if let Ok(angle) = row.best_angle.parse::<u16>() {
            if !result.user_image.entities.is_empty() {
                assert_eq!(
                    result.user_image.best_angle, angle,
                    "{}: best_angle",
                    row.image
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 44, "only {checked} fixtures checked");
}

#[test]
fn fixture_pairs_same_photo_scores_high_and_others_low() {
    let p = pipeline();
    let mut n = 0;
    for (left, right, same) in common::pairs("pairs_fixtures.tsv") {
        let (Ok(a), Ok(b)) = (load(&left), load(&right)) else {
            panic!("{left} or {right} does not decode");
        };
        let rotate = left.contains("best_angle") || right.contains("best_angle");
        let options = CompareOptions {
            rotate,
            ..CompareOptions::default()
        };
        let r = p.compare(&a, &b, &options).expect("compare").face_match;
        let score = r
            .score
            .unwrap_or_else(|| panic!("{left} vs {right}: no score ({:?})", r.warnings));
        if same {
            assert!(score >= 80, "{left} vs {right}: same photo scored {score}");
            assert_eq!(r.status, Status::Approved);
        } else {
            assert!(
                score < 30,
                "{left} vs {right}: different people scored {score}"
            );
            assert_eq!(r.status, Status::Declined);
        }
        n += 1;
    }
    assert!(n >= 20);
}

#[test]
fn the_collage_compares_its_largest_face_hopper() {
    let p = pipeline();
    let collage = load("fixtures/several_faces_collage.jpg").expect("collage");
    let hopper = load("fixtures/one_face_hopper.jpg").expect("hopper");
    let astronaut = load("fixtures/one_face_astronaut.png").expect("astronaut");
    let opts = CompareOptions::default();
    let with_hopper = p
        .compare(&collage, &hopper, &opts)
        .expect("compare")
        .face_match;
    let with_astronaut = p
        .compare(&collage, &astronaut, &opts)
        .expect("compare")
        .face_match;
    assert_eq!(with_hopper.status, Status::Approved);
    assert_eq!(with_astronaut.status, Status::Declined);
    // Hopper 640×750 at (40,75): the first entity is her box.
    let b = with_hopper.user_image.entities[0].bbox;
    assert!(
        b[0] >= 40 && b[2] <= 680 && b[1] >= 75 && b[3] <= 825,
        "{b:?}"
    );
    // Entities come largest first.
    let areas: Vec<i64> = with_hopper
        .user_image
        .entities
        .iter()
        .map(|e| (e.bbox[2] - e.bbox[0]) * (e.bbox[3] - e.bbox[1]))
        .collect();
    assert!(areas.windows(2).all(|w| w[0] >= w[1]), "{areas:?}");
}
