//! Uploads as a weapon (issue 10, item 8): a grid of faces against the describe cap,
//! and a large photo against the decode memory budget. (Item 3, stalled bodies against
//! the upload byte budget, measures its process's memory and so runs alone in
//! `tests/upload_memory.rs`.)

use crate::common::{live, Form, Reply};

const MIB: usize = 1024 * 1024;

const HOPPER: &str = "fixtures/one_face_hopper.jpg";

/// JPEG bytes of `img`.
fn jpeg(img: &image::RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img.clone())
        .write_to(
            &mut std::io::Cursor::new(&mut out),
            image::ImageFormat::Jpeg,
        )
        .expect("encode");
    out
}

/// The hopper fixture at `scale`, tiled `n`×`n`.
fn grid(n: u32, scale: f32) -> Vec<u8> {
    let face = image::load_from_memory(&crate::common::photo(HOPPER))
        .expect("fixture")
        .to_rgb8();
    let (w, h) = (
        (face.width() as f32 * scale) as u32,
        (face.height() as f32 * scale) as u32,
    );
    let tile = image::imageops::resize(&face, w, h, image::imageops::FilterType::Triangle);
    let mut out = image::RgbImage::new(w * n, h * n);
    for y in 0..n {
        for x in 0..n {
            image::imageops::replace(&mut out, &tile, i64::from(x * w), i64::from(y * h));
        }
    }
    jpeg(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_of_faces_is_described_only_up_to_the_cap() {
    const CAP: usize = 4;
    let crowd = grid(5, 0.5);
    let form = Form::images(&crowd, &crate::common::photo(HOPPER));
    let capped = live(|c| c.max_faces = CAP).await;
    let reply = capped.face_match(&capped.app.key(1), &form).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let entities = reply.json["face_match"]["user_image"]["entities"]
        .as_array()
        .expect("entities")
        .clone();
    assert!(
        entities.len() >= 20,
        "{} faces found in the grid",
        entities.len()
    );
    let described = entities.iter().filter(|e| e.get("age").is_some()).count();
    assert_eq!(described, CAP, "{entities:?}");
    for (i, e) in entities.iter().enumerate() {
        let has = |k: &str| e.get(k).is_some();
        assert_eq!((has("age"), has("gender")), (i < CAP, i < CAP), "{e}");
        assert!(has("bbox") && has("confidence"), "{e}");
    }
    let warnings = reply.json["face_match"]["warnings"]
        .as_array()
        .expect("warnings")
        .clone();
    // A grid of one face repeated: the faces are the same size, so MULTIPLE_FACES too.
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings[1]["risk"], "MULTIPLE_FACES");
    assert_eq!(warnings[0]["risk"], "TOO_MANY_FACES");
    assert_eq!(warnings[0]["log_type"], "information");
    let long = warnings[0]["long_description"].as_str().expect("text");
    assert!(
        long.contains(&format!("holds {} faces", entities.len()))
            && long.contains(&format!("only the {CAP} largest")),
        "{long}"
    );
    capped.shutdown().await;

    // The same pair with every face described: the same decision.
    let all = live(|c| c.max_faces = 1_000).await;
    let full = all.face_match(&all.app.key(1), &form).await;
    assert_eq!(full.status, 200, "{}", full.text());
    let face_match = |r: &Reply| {
        (
            r.json["face_match"]["status"].clone(),
            r.json["face_match"]["score"].clone(),
        )
    };
    assert_eq!(face_match(&reply), face_match(&full));
    let risks: Vec<_> = full.json["face_match"]["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w["risk"].clone())
        .collect();
    assert_eq!(risks, ["MULTIPLE_FACES"]);
    all.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decode_memory_budget_bounds_the_pixels_of_an_image() {
    // 200 MiB over 2 workers: 100 MiB each, ~5.2 MP at 20 bytes per pixel.
    let live = live(|c| {
        c.decode_memory_mib = 200;
        c.workers = Some(2);
    })
    .await;
    let big = jpeg(&image::RgbImage::from_pixel(
        5_000,
        4_000,
        image::Rgb([90, 120, 150]),
    ));
    assert!(big.len() < 5 * MIB, "{} bytes", big.len());
    let hopper = crate::common::photo(HOPPER);
    let key = live.app.key(5);
    let refused = live.face_match(&key, &Form::images(&hopper, &big)).await;
    let detail = refused.assert_error(400, "image_too_large");
    assert!(detail.contains("ref_image"), "{detail}");
    assert!(detail.contains("5000x4000"), "{detail}");

    let face = image::load_from_memory(&hopper).expect("fixture").to_rgb8();
    let one_mp = image::imageops::resize(&face, 850, 1_000, image::imageops::FilterType::Triangle);
    let passed = live
        .face_match(&key, &Form::images(&jpeg(&one_mp), &hopper))
        .await;
    assert_eq!(passed.status, 200, "{}", passed.text());
    live.shutdown().await;
}
