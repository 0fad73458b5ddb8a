//! The served detector and describer against an independent reference: what dlib
//! itself computes on the golden photos (`shared/data/faces/golden/`, see its README:
//! dlib's HOG box, its five points and its 128-d embedding of each photo's largest
//! face). YuNet is not dlib's detector, so the two never agree exactly; the bounds sit
//! just above the spread measured, so that a fault in YuNet's pre-processing
//! (letterbox, channel order, scaling) or post-processing (anchor decoding, mapping
//! back to the image), or in the box mapping onto dlib's framing, shows up as boxes,
//! eyes or embeddings that drift from dlib's.

mod common;

use common::{faces_root, load, pipeline};
use facematch_core::pipeline::Detection;
use facematch_core::ImageInput;
use facematch_models::geometry::BoxMapping;

/// Every 8th photo of the reference (49 faces): a spread of the dev photos that runs
/// in a few seconds.
const STEP: usize = 8;

/// One golden photo's reference values.
struct Golden {
    image: String,
    /// dlib's box, `[left, top, right, bottom]`, inclusive pixel indices.
    rect: [f64; 4],
    /// dlib's five points (pixel indices).
    points: [[f64; 2]; 5],
    /// dlib's descriptor.
    embedding: Vec<f32>,
}

fn golden() -> Vec<Golden> {
    let text = std::fs::read_to_string(faces_root().join("golden/dlib_reference.jsonl"))
        .expect("golden/dlib_reference.jsonl");
    let nums = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    };
    text.lines()
        .step_by(STEP)
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON line"))
        .filter(|v| v["faces"].as_u64().expect("faces") > 0)
        .map(|v| {
            let rect = nums(&v["dlib_rect_ltrb"]);
            let points: Vec<Vec<f64>> = v["sp5_points"]
                .as_array()
                .expect("sp5_points")
                .iter()
                .map(nums)
                .collect();
            Golden {
                image: v["image"].as_str().expect("image").to_string(),
                rect: std::array::from_fn(|i| rect[i]),
                points: std::array::from_fn(|i| [points[i][0], points[i][1]]),
                embedding: nums(&v["embedding_128"])
                    .into_iter()
                    .map(|x| x as f32)
                    .collect(),
            }
        })
        .collect()
}

/// The largest corner error between `face`'s box, mapped onto dlib's framing, and
/// dlib's own box, as a fraction of dlib's box side.
fn box_error(face: &Detection, g: &Golden) -> f64 {
    let r = BoxMapping::FITTED.to_dlib(&face.bbox);
    let side = g.rect[2] - g.rect[0] + 1.0;
    [r.left, r.top, r.right, r.bottom]
        .iter()
        .zip(&g.rect)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / side
}

/// The larger distance between one of YuNet's eye centres and the midpoint of dlib's
/// two corners of the same eye, as a fraction of dlib's box side.
fn eye_error(face: &Detection, g: &Golden) -> f64 {
    let side = g.rect[2] - g.rect[0] + 1.0;
    let mid = |a: usize, b: usize| {
        [
            (g.points[a][0] + g.points[b][0]) / 2.0,
            (g.points[a][1] + g.points[b][1]) / 2.0,
        ]
    };
    // YuNet: 0 = the eye on the image's left, 1 = on its right; dlib: 2 and 3 are the
    // corners of the eye on the image's left, 0 and 1 of the one on its right. YuNet's
    // points are continuous coordinates (pixel centres at +0.5), dlib's are indices.
    [(0, mid(2, 3)), (1, mid(0, 1))]
        .iter()
        .map(|(k, m)| {
            let p = face.landmarks[*k];
            let dx = f64::from(p.x) - 0.5 - m[0];
            let dy = f64::from(p.y) - 0.5 - m[1];
            dx.hypot(dy) / side
        })
        .fold(0.0, f64::max)
}

#[test]
fn yunet_boxes_eyes_and_embeddings_stay_close_to_dlibs_own() {
    let p = pipeline();
    let photos = golden();
    assert_eq!(photos.len(), 49);
    let (mut dist_sum, mut box_sum, mut eye_sum) = (0.0f64, 0.0f64, 0.0f64);
    let mut far = Vec::new();
    for g in &photos {
        let ImageInput::Image(img) = load(&g.image).expect("decodes") else {
            panic!("{} is empty", g.image);
        };
        // The face dlib described: on a photo of several people, the detection
        // nearest to dlib's box (largest-first could pick another person).
        let faces = p.detector().detect(&img).expect("detect");
        let face = faces
            .iter()
            .min_by(|a, b| box_error(a, g).total_cmp(&box_error(b, g)))
            .unwrap_or_else(|| panic!("{}: no face found", g.image));
        let embedding = p
            .describer()
            .describe(&img, face, true)
            .expect("describe")
            .embedding
            .expect("embedding");
        assert_eq!(embedding.len(), 128);
        let dist = f64::from(
            embedding
                .iter()
                .zip(&g.embedding)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
                .sqrt(),
        );
        let (box_err, eye_err) = (box_error(face, g), eye_error(face, g));
        // Measured maxima on these 49: 0.093 (embedding distance; dlib's
        // same-person threshold is 0.6), 0.302 (box corner), 0.092 (eye).
        if dist > 0.10 || box_err > 0.32 || eye_err > 0.10 {
            far.push(format!(
                "{}: distance {dist:.4}, box {box_err:.4}, eye {eye_err:.4}",
                g.image
            ));
        }
        dist_sum += dist;
        box_sum += box_err;
        eye_sum += eye_err;
    }
    assert!(far.is_empty(), "far from dlib's own: {far:#?}");
    let n = photos.len() as f64;
    let (dist, box_err, eye) = (dist_sum / n, box_sum / n, eye_sum / n);
    // Measured means: 0.0407 (embedding distance), 0.1036 (box corner), 0.0410 (eye).
    assert!(
        dist <= 0.045 && box_err <= 0.11 && eye <= 0.045,
        "mean distance {dist:.4}, box {box_err:.4}, eye {eye:.4}"
    );
}
