//! Fits the YuNet → dlib box mapping (`BoxMapping::FITTED`) on the dev photos.
//!
//! dlib's 5-point shape predictor was trained on boxes from dlib's HOG detector, which
//! frame a face differently from YuNet. This runs YuNet on every photo of
//! `shared/data/faces/golden/dlib_reference.jsonl`, pairs its largest face with dlib's
//! rectangle, and takes the median centre offset and scale. It then reports how far the
//! shape predictor's points land from dlib's own when seeded by the mapped box.
//!
//! Run: `cargo run --release -p facematch-lab --example fit_dlib_box [-- ROOT]`

use facematch_core::pipeline::{sort_largest_first, FaceDetector};
use facematch_dlib::geometry::DRect;
use facematch_models::geometry::BoxMapping;
use facematch_models::lab::{load_detector, load_shape_predictor, prepare_runtime};
use facematch_models::BundleOptions;

fn median(v: &mut [f32]) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/faces".to_string());
    let options = BundleOptions::default();
    prepare_runtime(&options, &mut |_| {})?;
    let detector = load_detector(&options)?;
    let predictor = load_shape_predictor(&options)?;
    let golden = std::fs::read_to_string(format!("{root}/golden/dlib_reference.jsonl"))?;
    let mut rows = Vec::new();
    for line in golden.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let Some(rect) = v["dlib_rect_ltrb"].as_array() else {
            continue;
        };
        let r: Vec<f64> = rect.iter().filter_map(serde_json::Value::as_f64).collect();
        let pts: Vec<(f64, f64)> = v["sp5_points"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
                    .collect()
            })
            .unwrap_or_default();
        let path = format!("{root}/{}", v["image"].as_str().unwrap_or_default());
        let img = image::open(&path)?.to_rgb8();
        let mut faces = detector.detect(&img)?;
        sort_largest_first(&mut faces);
        // Pair dlib's box with the YuNet face whose centre is nearest to it.
        let (dcx, dcy) = ((r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0);
        let Some(face) = faces.iter().min_by(|a, b| {
            let d = |f: &facematch_core::Detection| {
                let cx = f64::from(f.bbox.x1 + f.bbox.x2) / 2.0 - dcx;
                let cy = f64::from(f.bbox.y1 + f.bbox.y2) / 2.0 - dcy;
                cx * cx + cy * cy
            };
            d(a).total_cmp(&d(b))
        }) else {
            println!("no YuNet face: {path}");
            continue;
        };
        rows.push((img, face.clone(), r, pts));
    }
    let (mut dx, mut dy, mut sc) = (Vec::new(), Vec::new(), Vec::new());
    for (_, f, r, _) in &rows {
        let (w, h) = (f.bbox.width(), f.bbox.height());
        let (cx, cy) = ((f.bbox.x1 + f.bbox.x2) / 2.0, (f.bbox.y1 + f.bbox.y2) / 2.0);
        dx.push((((r[0] + r[2]) / 2.0) as f32 - cx) / w);
        dy.push((((r[1] + r[3]) / 2.0) as f32 - cy) / h);
        sc.push((r[2] - r[0] + 1.0) as f32 / ((w + h) / 2.0));
    }
    let median_fit = BoxMapping {
        dx: median(&mut dx),
        dy: median(&mut dy),
        scale: median(&mut sc),
    };
    // Matching boxes is only a proxy: what matters is where the predictor puts the
    // points. Search a grid around the box fit for the mapping whose landmarks land
    // closest to dlib's own, in % of the box side.
    let landmark_error = |m: &BoxMapping| -> f32 {
        let mut total = 0.0;
        for (img, f, r, pts) in &rows {
            let got = predictor.predict(img, m.to_dlib(&f.bbox));
            let side = r[2] - r[0] + 1.0;
            let err: f64 = got
                .iter()
                .zip(pts)
                .map(|(g, p)| ((g.x - p.0).powi(2) + (g.y - p.1).powi(2)).sqrt())
                .sum::<f64>()
                / 5.0;
            total += (err / side * 100.0) as f32;
        }
        total / rows.len() as f32
    };
    let mut fitted = median_fit;
    let mut best = landmark_error(&fitted);
    for step in [0.02f32, 0.01, 0.005] {
        let mut improved = true;
        while improved {
            improved = false;
            for (ddx, ddy, dsc) in [
                (step, 0.0, 0.0),
                (-step, 0.0, 0.0),
                (0.0, step, 0.0),
                (0.0, -step, 0.0),
                (0.0, 0.0, step),
                (0.0, 0.0, -step),
            ] {
                let m = BoxMapping {
                    dx: fitted.dx + ddx,
                    dy: fitted.dy + ddy,
                    scale: fitted.scale + dsc,
                };
                let e = landmark_error(&m);
                if e < best {
                    (best, fitted, improved) = (e, m, true);
                }
            }
        }
    }
    println!("median box fit: {median_fit:?}");
    println!("paired faces: {}", rows.len());
    println!("fitted: {fitted:?}");
    for (name, mapping) in [
        (
            "identity",
            BoxMapping {
                dx: 0.0,
                dy: 0.0,
                scale: 1.0,
            },
        ),
        ("median box fit", median_fit),
        ("fitted", fitted),
    ] {
        let mut errs = Vec::new();
        let mut exact_rect = Vec::new();
        for (img, f, r, pts) in &rows {
            let rect = mapping.to_dlib(&f.bbox);
            let got = predictor.predict(img, rect);
            let side = r[2] - r[0] + 1.0;
            let err = got
                .iter()
                .zip(pts)
                .map(|(g, p)| ((g.x - p.0).powi(2) + (g.y - p.1).powi(2)).sqrt())
                .sum::<f64>()
                / 5.0;
            errs.push((err / side * 100.0) as f32);
            let dlib = DRect {
                left: r[0],
                top: r[1],
                right: r[2],
                bottom: r[3],
            };
            let exact = predictor.predict(img, dlib);
            exact_rect.push(
                exact
                    .iter()
                    .zip(pts)
                    .all(|(g, p)| (g.x - p.0).abs() <= 1.0 && (g.y - p.1).abs() <= 1.0),
            );
        }
        let mean = errs.iter().sum::<f32>() / errs.len() as f32;
        println!(
            "{name}: landmark error vs dlib (mean over 5 points, % of box side): mean {mean:.2}, median {:.2}, max {:.2}; dlib-box seeded within 1px: {}/{}",
            median(&mut errs.clone()),
            errs.iter().copied().fold(0.0, f32::max),
            exact_rect.iter().filter(|x| **x).count(),
            exact_rect.len()
        );
    }
    Ok(())
}
