//! A decision's kept images (`--review-images`) for its reviewers:
//! `GET /console/checks/{request_id}/image/{source|target}`, the upload as received
//! (JPEG, PNG or WebP with its own type; anything else decodable shown as PNG), and
//! `GET /console/checks/{request_id}/crop/{source|target}`, a PNG of the compared face
//! (its box grown by a quarter, at most [`CROP_MAX_SIDE`] pixels a side).
//!
//! Only a signed-in user of the account that owns the decision gets them; anyone else,
//! a malformed id and a decision without kept images all get the same 404 page. Every
//! answer is `Cache-Control: no-store`: the bytes must not outlive the decision in a
//! browser or proxy cache.

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use facematch_core::ImageFaces;
use facematch_imageio::{DecodeLimits, ImageFormatKind, QuarterTurn, RgbImage};
use facematch_store::{ReviewImageSide, StoreError, WebhookKeyError};
use maud::html;

use super::error::PageError;
use super::layout;
use super::session::ConsoleAuth;
use crate::state::AppState;

/// Longest side of a face crop, in pixels.
pub const CROP_MAX_SIDE: u32 = 224;

/// How much wider and taller than the detector's box a crop is (a quarter: some hair,
/// chin and ears for the reviewer).
const CROP_GROWTH: f64 = 0.25;

/// Longest request id accepted (a UUID is 36 characters).
const MAX_ID_CHARS: usize = 64;

/// The image routes, mounted by [`super::routes`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/checks/{id}/image/{side}", get(image))
        .route("/console/checks/{id}/crop/{side}", get(crop))
}

/// What a request for a kept image comes to.
enum Outcome {
    /// Bytes to send with this type.
    Image(&'static str, Vec<u8>),
    /// Nothing to show (unknown, another account's, not kept, no face): the message.
    Missing(&'static str),
    /// Kept bytes that no decoder reads.
    Unsupported,
}

/// The upload as received.
async fn image(
    auth: ConsoleAuth,
    State(state): State<AppState>,
    Path((id, side)): Path<(String, String)>,
) -> Result<Response, PageError> {
    serve(auth, state, id, side, Kind::Original).await
}

/// The compared face, cropped.
async fn crop(
    auth: ConsoleAuth,
    State(state): State<AppState>,
    Path((id, side)): Path<(String, String)>,
) -> Result<Response, PageError> {
    serve(auth, state, id, side, Kind::Crop).await
}

#[derive(Clone, Copy)]
enum Kind {
    Original,
    Crop,
}

const NOT_FOUND: &str = "No such decision in this account.";
const NOT_KEPT: &str = "This decision's images are not kept: review images are off, or the \
     decision was reviewed, or its images expired.";

async fn serve(
    auth: ConsoleAuth,
    state: AppState,
    id: String,
    side: String,
    kind: Kind,
) -> Result<Response, PageError> {
    let side = match side.as_str() {
        "source" => ReviewImageSide::Source,
        "target" => ReviewImageSide::Target,
        _ => return Ok(page(Outcome::Missing(NOT_FOUND))),
    };
    if !is_id_shaped(&id) {
        return Ok(page(Outcome::Missing(NOT_FOUND)));
    }
    let account = auth.user().account_id.clone();
    let limits = state.decode_limits();
    // Reading, opening, decoding and encoding all run on the blocking pool.
    let outcome = state
        .with_store(move |store| -> Result<Outcome, StoreError> {
            let Some(view) = store.account_decision(&account, &id)? else {
                return Ok(Outcome::Missing(NOT_FOUND));
            };
            let kept = match store.review_images(&id, time::OffsetDateTime::now_utc()) {
                Ok(kept) => kept,
                // Sealed under another key (the key file was replaced) or altered: the
                // reviewer learns they are gone; the operator, why.
                Err(StoreError::WebhookKey(WebhookKeyError::Unseal)) => {
                    tracing::warn!(
                        request_id = %id,
                        "review images do not open with --review-images-key-file"
                    );
                    return Ok(Outcome::Missing(NOT_KEPT));
                }
                Err(e) => return Err(e),
            };
            let Some(pair) = kept else {
                return Ok(Outcome::Missing(NOT_KEPT));
            };
            let (bytes, faces) = match side {
                ReviewImageSide::Source => (pair.source, &view.decision.face_match.user_image),
                ReviewImageSide::Target => (pair.target, &view.decision.face_match.ref_image),
            };
            if bytes.is_empty() {
                return Ok(Outcome::Missing("No image was uploaded on this side."));
            }
            Ok(match kind {
                Kind::Original => original(bytes, &limits),
                Kind::Crop => face_crop(&bytes, faces, &limits),
            })
        })
        .await?;
    Ok(page(outcome))
}

/// What the decision page knows of the kept photos: `None` when none are kept, else each
/// side's size in its boxes' frame (`None` for a side whose boxes cannot be drawn over it).
pub(crate) type Frames = Option<[Option<(u32, u32)>; 2]>;

/// The size of each kept photo in the frame its face boxes are in, as a browser shows the
/// upload (EXIF orientation applied), read from the headers only; `None` for a side whose
/// boxes are in another frame (found turned by `best_angle`) or whose header does not read.
/// `None` overall when no images are kept (or they do not open).
pub(crate) fn frame_sizes(
    store: &facematch_store::Store,
    request_id: &str,
    faces: [&ImageFaces; 2],
) -> Result<Frames, StoreError> {
    let pair = match store.review_images(request_id, time::OffsetDateTime::now_utc()) {
        Ok(Some(pair)) => pair,
        Ok(None) | Err(StoreError::WebhookKey(WebhookKeyError::Unseal)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let size = |bytes: &[u8], faces: &ImageFaces| {
        if faces.best_angle != 0 {
            return None;
        }
        header_size(bytes)
    };
    Ok(Some([
        size(&pair.source, faces[0]),
        size(&pair.target, faces[1]),
    ]))
}

/// Width and height of an image as displayed (EXIF orientation applied), from its header.
fn header_size(bytes: &[u8]) -> Option<(u32, u32)> {
    use image::ImageDecoder as _;
    let mut decoder = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()?
        .into_decoder()
        .ok()?;
    let (w, h) = decoder.dimensions();
    let turned = matches!(
        decoder.orientation().ok()?,
        image::metadata::Orientation::Rotate90
            | image::metadata::Orientation::Rotate270
            | image::metadata::Orientation::Rotate90FlipH
            | image::metadata::Orientation::Rotate270FlipH
    );
    Some(if turned { (h, w) } else { (w, h) })
}

/// A request id as the server makes them: hex digits and hyphens, at most
/// [`MAX_ID_CHARS`]. Anything else (`..`, slashes, junk) is not looked up.
fn is_id_shaped(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The upload itself when a browser shows its format, else re-encoded as PNG.
fn original(bytes: Vec<u8>, limits: &DecodeLimits) -> Outcome {
    match facematch_imageio::detect_format(&bytes) {
        Ok(format @ (ImageFormatKind::Jpeg | ImageFormatKind::Png | ImageFormatKind::WebP)) => {
            Outcome::Image(format.mime_type(), bytes)
        }
        _ => match facematch_imageio::decode(&bytes, limits) {
            Ok(decoded) => png(&decoded.rgb),
            Err(_) => Outcome::Unsupported,
        },
    }
}

/// The compared (first) face of `faces`, from the upright image turned by `best_angle`
/// (the frame its box is in), grown by [`CROP_GROWTH`], shrunk to [`CROP_MAX_SIDE`].
fn face_crop(bytes: &[u8], faces: &ImageFaces, limits: &DecodeLimits) -> Outcome {
    let Some(face) = faces.entities.first() else {
        return Outcome::Missing("No face was found in this image.");
    };
    let Ok(decoded) = facematch_imageio::decode(bytes, limits) else {
        return Outcome::Unsupported;
    };
    let turn = QuarterTurn::nearest(u32::from(faces.best_angle));
    let upright = facematch_imageio::rotate(&decoded.rgb, turn);
    match crop_box(face.bbox, upright.width(), upright.height()) {
        Some((x, y, w, h)) => {
            let cut = image::imageops::crop_imm(&upright, x, y, w, h).to_image();
            let (tw, th) = fit(w, h, CROP_MAX_SIDE);
            let small = if (tw, th) == (w, h) {
                cut
            } else {
                image::imageops::resize(&cut, tw, th, image::imageops::FilterType::Triangle)
            };
            png(&small)
        }
        None => Outcome::Missing("The face's box lies outside the image."),
    }
}

/// `bbox` (`[x1, y1, x2, y2]`) grown by [`CROP_GROWTH`] around its centre and clipped to a
/// `width` × `height` image: `(x, y, w, h)`, or `None` when nothing of it is inside.
fn crop_box(bbox: [i64; 4], width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
    let [x1, y1, x2, y2] = bbox.map(|v| v as f64);
    let (w, h) = ((x2 - x1).max(1.0), (y2 - y1).max(1.0));
    let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
    let (hw, hh) = (w * (1.0 + CROP_GROWTH) / 2.0, h * (1.0 + CROP_GROWTH) / 2.0);
    let clip = |v: f64, max: u32| v.clamp(0.0, f64::from(max)).round() as u32;
    let (left, right) = (clip(cx - hw, width), clip(cx + hw, width));
    let (top, bottom) = (clip(cy - hh, height), clip(cy + hh, height));
    (right > left && bottom > top).then(|| (left, top, right - left, bottom - top))
}

/// `w` × `h` shrunk (never grown) so that its longest side is at most `max`.
fn fit(w: u32, h: u32, max: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= max {
        return (w, h);
    }
    let scale = f64::from(max) / f64::from(long);
    let side = |v: u32| ((f64::from(v) * scale).round() as u32).clamp(1, max);
    (side(w), side(h))
}

/// `img` as a PNG.
fn png(img: &RgbImage) -> Outcome {
    let mut out = std::io::Cursor::new(Vec::new());
    match img.write_to(&mut out, image::ImageFormat::Png) {
        Ok(()) => Outcome::Image("image/png", out.into_inner()),
        Err(_) => Outcome::Unsupported,
    }
}

/// The answer: the bytes, or an HTML page saying why not; never cached.
fn page(outcome: Outcome) -> Response {
    let mut response = match outcome {
        Outcome::Image(content_type, bytes) => {
            let mut r = bytes.into_response();
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            r
        }
        Outcome::Missing(message) => PageError::NotFound(message.to_owned()).into_response(),
        Outcome::Unsupported => {
            let title = "Unsupported image";
            let body = layout::bare(
                title,
                html! {
                    h1 { (title) }
                    p role="alert" { "This image's format cannot be shown." }
                    p { a href="/console/" { "Back to the console" } }
                },
            );
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, body).into_response()
        }
    };
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_and_hyphens_only() {
        assert!(is_id_shaped("0b8e5c1a-4f7e-4a55-9a53-6a1b2b3c4d5e"));
        for bad in ["", "..", "../x", "a/b", "%2e%2e", "x", &"a".repeat(65), "é"] {
            assert!(!is_id_shaped(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_crop_grows_the_box_and_stays_inside() {
        // A 100×100 box in the middle: 125×125 around the same centre.
        assert_eq!(
            crop_box([100, 100, 200, 200], 400, 400),
            Some((88, 88, 125, 125))
        );
        // At a corner: clipped to the image.
        assert_eq!(crop_box([0, 0, 40, 40], 400, 400), Some((0, 0, 45, 45)));
        // Entirely outside, or reversed into nothing: none.
        assert_eq!(crop_box([500, 500, 600, 600], 400, 400), None);
        assert_eq!(crop_box([-90, -90, -50, -50], 400, 400), None);
        assert!(crop_box([i64::MIN, i64::MIN, i64::MAX, i64::MAX], 10, 10).is_some());
    }

    #[test]
    fn crops_shrink_to_the_limit_and_never_grow() {
        assert_eq!(fit(100, 50, 224), (100, 50));
        assert_eq!(fit(448, 224, 224), (224, 112));
        assert_eq!(fit(1000, 1, 224), (224, 1));
    }

    #[test]
    fn sizes_come_from_the_header_and_junk_has_none() {
        let img = RgbImage::from_pixel(40, 30, image::Rgb([10, 20, 30]));
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png)
            .expect("png");
        assert_eq!(header_size(&png.into_inner()), Some((40, 30)));
        assert_eq!(header_size(b"not an image"), None);
    }

    #[test]
    fn a_tiff_or_junk_is_never_sent_as_is() {
        let img = RgbImage::from_pixel(8, 8, image::Rgb([10, 20, 30]));
        let mut tiff = std::io::Cursor::new(Vec::new());
        img.write_to(&mut tiff, image::ImageFormat::Tiff)
            .expect("tiff");
        let limits = DecodeLimits::default();
        match original(tiff.into_inner(), &limits) {
            Outcome::Image(t, bytes) => {
                assert_eq!(t, "image/png");
                assert!(bytes.starts_with(b"\x89PNG"));
            }
            _ => panic!("a TIFF becomes a PNG"),
        }
        assert!(matches!(
            original(b"<svg onload=alert(1)>".to_vec(), &limits),
            Outcome::Unsupported
        ));
    }
}
