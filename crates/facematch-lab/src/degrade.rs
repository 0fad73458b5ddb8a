//! `facematch degrade`: degraded copies of the photos of a pair list, and the pair
//! lists that compare them, so that `facematch eval` can measure what blur, low light,
//! over-exposure, heavy JPEG compression, low resolution and tight crops do to the
//! error rates.
//!
//! Each [`Kind`] is one fixed, deterministic transform (no randomness), applied to the
//! decoded 8-bit RGB pixels (alpha is dropped; the EXIF orientation is applied first,
//! as the API applies it):
//!
//! | kind | transform | file |
//! |---|---|---|
//! | `blur` | Gaussian blur, σ = shorter side / 60 (2.5 px on the 150 × 150 LFW dev photos) | PNG |
//! | `dark` | every channel × 0.25 (sRGB code values, rounded): mean luminance ÷ 4, ≈ 4.4 stops under in linear light | PNG |
//! | `bright` | every channel × 2.5, clipped at 255 (over-exposed) | PNG |
//! | `jpeg10` | re-encoded as JPEG at quality 10 | JPEG |
//! | `small` | downscaled to ¼ of each side (rounded, at least 1 px; Lanczos3): a 150 px LFW dev photo becomes 38 px, its face ≈ 18 px wide | PNG |
//! | `tight` | centre crop keeping 55 % of each side (rounded, at least 1 px) | PNG |
//!
//! With `out` as the output folder, the copy of the photo `rel` (relative to the data
//! root) is `out/<kind>/<rel>` with its extension replaced by `.png` or `.jpg`. By
//! default only the right photo of each pair is degraded (the left stays the original,
//! as a clean enrolment photo would); [`DegradeOptions::both`] degrades both. The pair
//! lists `out/pairs_<kind>.tsv` and `out/pairs_all.tsv` name every photo by its
//! absolute path, so `facematch eval` reads them whatever its `--root`.

use std::fmt;
use std::io::BufWriter;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, RgbImage};

use crate::pairs::{read_pairs, unique};
use crate::LabError;

/// One kind of degradation (see the module documentation for the exact transforms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Gaussian blur, σ = shorter side / 60.
    Blur,
    /// Every channel × 0.25.
    Dark,
    /// Every channel × 2.5, clipped.
    Bright,
    /// JPEG at quality 10.
    Jpeg10,
    /// ¼ of each side.
    Small,
    /// Centre crop of 55 % of each side.
    Tight,
}

/// The blur's σ as a fraction of the photo's shorter side.
pub const BLUR_SIGMA_PER_SIDE: f32 = 1.0 / 60.0;
/// The `dark` factor on every channel.
pub const DARK_FACTOR: f32 = 0.25;
/// The `bright` factor on every channel (then clipped at 255).
pub const BRIGHT_FACTOR: f32 = 2.5;
/// The `jpeg10` JPEG quality.
pub const JPEG_QUALITY: u8 = 10;
/// The `small` divisor of each side.
pub const SMALL_DIVISOR: u32 = 4;
/// The share of each side that `tight` keeps.
pub const TIGHT_SHARE: f32 = 0.55;

impl Kind {
    /// Every kind, in the order the pair lists are written.
    pub const ALL: [Kind; 6] = [
        Kind::Blur,
        Kind::Dark,
        Kind::Bright,
        Kind::Jpeg10,
        Kind::Small,
        Kind::Tight,
    ];

    /// The kind's name on the command line and in the output paths.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Blur => "blur",
            Kind::Dark => "dark",
            Kind::Bright => "bright",
            Kind::Jpeg10 => "jpeg10",
            Kind::Small => "small",
            Kind::Tight => "tight",
        }
    }

    /// The extension of the copies: `jpg` for `jpeg10`, `png` (lossless) otherwise.
    pub fn extension(self) -> &'static str {
        if self == Kind::Jpeg10 {
            "jpg"
        } else {
            "png"
        }
    }

    /// The degraded pixels of `image` (for `jpeg10`, the pixels are unchanged: the
    /// loss happens in [`Kind::encode`]).
    pub fn apply(self, image: &RgbImage) -> RgbImage {
        let (w, h) = image.dimensions();
        match self {
            Kind::Blur => {
                let sigma = w.min(h) as f32 * BLUR_SIGMA_PER_SIDE;
                image::imageops::blur(image, sigma)
            }
            Kind::Dark => scale_channels(image, DARK_FACTOR),
            Kind::Bright => scale_channels(image, BRIGHT_FACTOR),
            Kind::Jpeg10 => image.clone(),
            Kind::Small => {
                let side = |v: u32| ((v as f32 / SMALL_DIVISOR as f32).round() as u32).max(1);
                image::imageops::resize(image, side(w), side(h), FilterType::Lanczos3)
            }
            Kind::Tight => {
                let side = |v: u32| ((v as f32 * TIGHT_SHARE).round() as u32).clamp(1, v.max(1));
                let (cw, ch) = (side(w), side(h));
                image::imageops::crop_imm(image, (w - cw) / 2, (h - ch) / 2, cw, ch).to_image()
            }
        }
    }

    /// Writes `image` (already [applied](Kind::apply)) to `path` in the kind's format.
    pub fn encode(self, image: &RgbImage, path: &Path) -> Result<(), LabError> {
        let write_error = |source| LabError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_error)?;
        }
        let file = std::fs::File::create(path).map_err(write_error)?;
        let mut writer = BufWriter::new(file);
        let encoded = if self == Kind::Jpeg10 {
            JpegEncoder::new_with_quality(&mut writer, JPEG_QUALITY).encode_image(image)
        } else {
            image.write_to(&mut writer, ImageFormat::Png)
        };
        encoded.map_err(|source| LabError::Encode {
            path: path.to_path_buf(),
            source,
        })?;
        std::io::Write::flush(&mut writer).map_err(write_error)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown kind `{s}` (expected one of {})", names.join(", "))
            })
    }
}

/// Every channel × `factor`, rounded and clipped to 0–255.
fn scale_channels(image: &RgbImage, factor: f32) -> RgbImage {
    let mut out = image.clone();
    for v in out.iter_mut() {
        *v = (f32::from(*v) * factor).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// What to degrade, as `facematch degrade` takes it.
#[derive(Debug, Clone)]
pub struct DegradeOptions {
    /// Folder the pair list's paths are relative to.
    pub root: PathBuf,
    /// Pair list: left<TAB>right<TAB>same(1|0).
    pub pairs: PathBuf,
    /// Output folder (created if missing).
    pub out: PathBuf,
    /// The kinds to write (each once, in the order given).
    pub kinds: Vec<Kind>,
    /// Degrade the left photo too (default: the right one only).
    pub both: bool,
}

/// Writes the degraded copies and pair lists; prints one line per kind on stdout.
pub fn run(options: &DegradeOptions) -> Result<(), LabError> {
    let pairs = read_pairs(&options.pairs)?;
    let root = std::fs::canonicalize(&options.root).map_err(|source| LabError::Read {
        path: options.root.clone(),
        source,
    })?;
    std::fs::create_dir_all(&options.out).map_err(|source| LabError::Write {
        path: options.out.clone(),
        source,
    })?;
    let out = std::fs::canonicalize(&options.out).map_err(|source| LabError::Write {
        path: options.out.clone(),
        source,
    })?;
    let degraded_paths = pairs.iter().flat_map(|p| {
        let left = options.both.then(|| p.left.clone());
        left.into_iter().chain([p.right.clone()])
    });
    let (to_degrade, _) = unique(degraded_paths);
    let mut kinds = Vec::new();
    for k in &options.kinds {
        if !kinds.contains(k) {
            kinds.push(*k);
        }
    }

    // Each photo is decoded once and written once per kind.
    for rel in &to_degrade {
        let source = root.join(rel);
        let image = decode(&source)?;
        for &kind in &kinds {
            kind.encode(&kind.apply(&image), &copy_path(&out, kind, rel))?;
        }
    }

    let mut all = String::new();
    for &kind in &kinds {
        let mut list = String::new();
        for p in &pairs {
            let side = |rel: &str, degraded: bool| {
                let path = if degraded {
                    copy_path(&out, kind, rel)
                } else {
                    root.join(rel)
                };
                path_text(&path)
            };
            let left = side(&p.left, options.both)?;
            let right = side(&p.right, true)?;
            list.push_str(&format!("{left}\t{right}\t{}\n", u8::from(p.same)));
        }
        write_text(&out.join(format!("pairs_{kind}.tsv")), &list)?;
        all.push_str(&list);
        println!(
            "{kind}: {} photos under {}, {} pairs in {}",
            to_degrade.len(),
            out.join(kind.name()).display(),
            pairs.len(),
            out.join(format!("pairs_{kind}.tsv")).display()
        );
    }
    write_text(&out.join("pairs_all.tsv"), &all)?;
    Ok(())
}

/// Decodes `path` to 8-bit RGB, turned upright by its EXIF orientation (as the API
/// turns an upload), so that a copy, which keeps no EXIF, shows what the API saw.
fn decode(path: &Path) -> Result<RgbImage, LabError> {
    let read_error = |source| LabError::Read {
        path: path.to_path_buf(),
        source,
    };
    let photo_error = |source| LabError::Photo {
        path: path.to_path_buf(),
        source,
    };
    let mut decoder = image::ImageReader::open(path)
        .map_err(read_error)?
        .with_guessed_format()
        .map_err(read_error)?
        .into_decoder()
        .map_err(photo_error)?;
    let orientation = image::ImageDecoder::orientation(&mut decoder).map_err(photo_error)?;
    let mut decoded = DynamicImage::from_decoder(decoder).map_err(photo_error)?;
    decoded.apply_orientation(orientation);
    Ok(decoded.into_rgb8())
}

/// `out/<kind>/<rel>` with the kind's extension; `rel`'s root, `.` and `..` parts are
/// dropped, so that a copy never lands outside `out/<kind>`.
pub fn copy_path(out: &Path, kind: Kind, rel: &str) -> PathBuf {
    let mut path = out.join(kind.name());
    for c in Path::new(rel).components() {
        if let Component::Normal(part) = c {
            path.push(part);
        }
    }
    path.set_extension(kind.extension());
    path
}

/// The path as pair-list text: UTF-8 without tab or newline.
fn path_text(path: &Path) -> Result<String, LabError> {
    match path.to_str() {
        Some(s) if !s.contains(['\t', '\n', '\r']) => Ok(s.to_string()),
        _ => Err(LabError::PathText {
            path: path.to_path_buf(),
        }),
    }
}

/// Writes `text` to `path`.
fn write_text(path: &Path, text: &str) -> Result<(), LabError> {
    std::fs::write(path, text).map_err(|source| LabError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A 120 × 80 photo: a left half at 40, a right half at 200, with a gradient row.
    fn synthetic() -> RgbImage {
        RgbImage::from_fn(120, 80, |x, y| {
            let v = if x < 60 { 40 } else { 200 };
            let g = ((x + y) % 50) as u8;
            Rgb([v, v.saturating_add(g) / 2 + 10, v])
        })
    }

    fn mean(image: &RgbImage) -> f64 {
        image.iter().map(|&v| f64::from(v)).sum::<f64>() / image.len() as f64
    }

    /// The steepest horizontal step of the red channel: how sharp the edge is.
    fn max_step(image: &RgbImage) -> u8 {
        let (w, h) = image.dimensions();
        let mut max = 0;
        for y in 0..h {
            for x in 1..w {
                let (a, b) = (image.get_pixel(x - 1, y)[0], image.get_pixel(x, y)[0]);
                max = max.max(a.abs_diff(b));
            }
        }
        max
    }

    #[test]
    fn kinds_are_parsed_by_name() {
        for k in Kind::ALL {
            assert_eq!(k.name().parse::<Kind>(), Ok(k));
        }
        let err = "fog".parse::<Kind>().expect_err("unknown");
        assert!(
            err.contains("blur, dark, bright, jpeg10, small, tight"),
            "{err}"
        );
    }

    #[test]
    fn dark_divides_the_mean_by_four() {
        let img = synthetic();
        let dark = Kind::Dark.apply(&img);
        assert_eq!(dark.dimensions(), img.dimensions());
        let ratio = mean(&dark) / mean(&img);
        assert!((ratio - 0.25).abs() < 0.005, "ratio {ratio}");
        assert_eq!(dark.get_pixel(0, 0)[0], 10); // 40 × 0.25
    }

    #[test]
    fn bright_multiplies_and_clips() {
        let img = synthetic();
        let bright = Kind::Bright.apply(&img);
        assert_eq!(bright.get_pixel(0, 0)[0], 100); // 40 × 2.5
        assert_eq!(bright.get_pixel(100, 0)[0], 255); // 200 × 2.5, clipped
    }

    #[test]
    fn blur_softens_the_edge_by_the_stated_sigma() {
        let img = synthetic();
        let blurred = Kind::Blur.apply(&img);
        assert_eq!(blurred.dimensions(), img.dimensions());
        // A 160-level step blurred by σ ≈ 1.33 has a steepest step of about
        // 160 / (σ √(2π)) ≈ 48.
        assert_eq!(max_step(&img), 160);
        let step = max_step(&blurred);
        assert!((40..=56).contains(&step), "{step}");
        // σ = 80 / 60 ≈ 1.33: the step from 40 to 200 at x = 60 spreads over a few
        // pixels, but the flat parts far from it keep their level.
        let at = |x| blurred.get_pixel(x, 40)[0];
        assert!((38..=42).contains(&at(20)), "{}", at(20));
        assert!(at(59) > 60 && at(60) < 180, "{} {}", at(59), at(60));
    }

    #[test]
    fn small_and_tight_have_the_stated_sizes() {
        let img = synthetic();
        assert_eq!(Kind::Small.apply(&img).dimensions(), (30, 20));
        let tight = Kind::Tight.apply(&img);
        assert_eq!(tight.dimensions(), (66, 44));
        // Centred: the crop starts at x = (120 − 66) / 2 = 27.
        assert_eq!(tight.get_pixel(0, 0), img.get_pixel(27, 18));
        let one = RgbImage::new(1, 1);
        assert_eq!(Kind::Small.apply(&one).dimensions(), (1, 1));
        assert_eq!(Kind::Tight.apply(&one).dimensions(), (1, 1));
    }

    #[test]
    fn jpeg10_decodes_and_loses_detail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let img = synthetic();
        let path = dir.path().join("a/b.jpg");
        Kind::Jpeg10
            .encode(&Kind::Jpeg10.apply(&img), &path)
            .expect("written");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(
            image::guess_format(&bytes).expect("format"),
            ImageFormat::Jpeg
        );
        let back = image::load_from_memory(&bytes)
            .expect("decodes")
            .into_rgb8();
        assert_eq!(back.dimensions(), img.dimensions());
        assert_ne!(back, img);
        let png = dir.path().join("c.png");
        Kind::Dark.encode(&img, &png).expect("written");
        let back = image::open(&png).expect("decodes").into_rgb8();
        assert_eq!(back, img, "PNG is lossless");
    }

    #[test]
    fn copies_stay_under_their_kind_folder() {
        let out = Path::new("/o");
        assert_eq!(
            copy_path(out, Kind::Jpeg10, "lfw/original/A/A_0001.jpg"),
            Path::new("/o/jpeg10/lfw/original/A/A_0001.jpg")
        );
        assert_eq!(
            copy_path(out, Kind::Blur, "../../etc/x.jpg"),
            Path::new("/o/blur/etc/x.png")
        );
        assert_eq!(
            copy_path(out, Kind::Tight, "/abs/y.jpeg"),
            Path::new("/o/tight/abs/y.png")
        );
    }

    #[test]
    fn run_writes_copies_and_absolute_pair_lists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("p")).expect("mkdir");
        synthetic().save(root.join("p/a.png")).expect("save");
        synthetic().save(root.join("p/b.jpg")).expect("save");
        let pairs = dir.path().join("pairs.tsv");
        std::fs::write(&pairs, "p/a.png\tp/b.jpg\t1\np/b.jpg\tp/a.png\t0\n").expect("write");
        let out = dir.path().join("out");
        let options = DegradeOptions {
            root: root.clone(),
            pairs,
            out: out.clone(),
            kinds: vec![Kind::Dark, Kind::Jpeg10, Kind::Dark],
            both: false,
        };
        run(&options).expect("degraded");
        let root = std::fs::canonicalize(root).expect("root");
        let out = std::fs::canonicalize(out).expect("out");
        let dark = std::fs::read_to_string(out.join("pairs_dark.tsv")).expect("list");
        let lines: Vec<&str> = dark.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "{}\t{}\t1",
                root.join("p/a.png").display(),
                out.join("dark/p/b.png").display()
            )
        );
        assert_eq!(lines.len(), 2);
        let read_back = crate::pairs::read_pairs(&out.join("pairs_jpeg10.tsv")).expect("pairs");
        assert!(Path::new(&read_back[1].right).is_absolute());
        // Eval joins paths to its root: an absolute path wins.
        assert_eq!(
            Path::new("/elsewhere").join(&read_back[1].right),
            Path::new(&read_back[1].right)
        );
        assert!(out.join("jpeg10/p/a.jpg").is_file() && out.join("jpeg10/p/b.jpg").is_file());
        let all = std::fs::read_to_string(out.join("pairs_all.tsv")).expect("all");
        assert_eq!(all.lines().count(), 4, "dark once, jpeg10 once");

        // --both degrades the left photo as well.
        let both = DegradeOptions {
            kinds: vec![Kind::Tight],
            both: true,
            ..options
        };
        run(&both).expect("degraded");
        let tight = std::fs::read_to_string(out.join("pairs_tight.tsv")).expect("list");
        assert!(tight.starts_with(&format!("{}\t", out.join("tight/p/a.png").display())));
    }

    #[test]
    fn a_photo_that_does_not_decode_is_an_input_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("x.jpg"), b"not a photo").expect("write");
        std::fs::write(dir.path().join("pairs.tsv"), "x.jpg\tx.jpg\t1\n").expect("write");
        let options = DegradeOptions {
            root: dir.path().to_path_buf(),
            pairs: dir.path().join("pairs.tsv"),
            out: dir.path().join("out"),
            kinds: Kind::ALL.to_vec(),
            both: false,
        };
        let err = run(&options).expect_err("garbage");
        assert!(err.is_input(), "{err}");
        assert!(err.to_string().contains("x.jpg"), "{err}");
    }
}
