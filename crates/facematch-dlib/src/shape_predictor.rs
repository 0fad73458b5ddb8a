//! dlib's `shape_predictor` (Kazemi & Sullivan's ensemble of regression trees): a reader
//! for its serialized `.dat` file and a bit-faithful port of
//! `shape_predictor::operator()(img, rect)` from `dlib/image_processing/shape_predictor.h`.
//!
//! The prediction works in a normalized space where the detector rectangle is the unit
//! square. Each cascade level samples a few hundred pixel intensities at positions
//! anchored to the current shape estimate (warped by the similarity between the mean
//! shape and the current one), then adds the leaf vectors of its trees to the shape.
//!
//! Arithmetic follows dlib's types exactly (f32 shapes and deltas, f64 transforms,
//! `floor(x + 0.5)` pixel rounding, integer-average grayscale), so the predicted points
//! match dlib's to the pixel.

use std::path::Path;

use image::RgbImage;

use crate::error::{DatError, DatResult};
use crate::geometry::{find_similarity_transform, Affine2, DRect, Point2};
use crate::serialize::DatReader;

/// Upper bounds for the model's dimensions. The 68-point model (the largest dlib ships)
/// has 15 cascades of 500 trees of depth 5 over 400 pixels; these limits are generous
/// but keep a hostile file from asking for absurd allocations.
const MAX_PARTS: u64 = 1 << 12;
const MAX_CASCADES: u64 = 1 << 10;
const MAX_TREES: u64 = 1 << 14;
const MAX_SPLITS: u64 = 1 << 16;
const MAX_FEATURES: u64 = 1 << 16;

/// One split node: go left when `pixel[idx1] - pixel[idx2] > thresh`.
#[derive(Debug, Clone, Copy)]
struct Split {
    idx1: u32,
    idx2: u32,
    thresh: f32,
}

/// A complete binary regression tree with its leaves flattened.
#[derive(Debug, Clone)]
struct Tree {
    splits: Vec<Split>,
    /// `splits.len() + 1` leaves of `2 * num_parts` floats each, back to back.
    leaves: Vec<f32>,
}

/// One level of the cascade: the pixels it samples and the trees it evaluates.
#[derive(Debug, Clone)]
struct Cascade {
    trees: Vec<Tree>,
    /// Index of the mean-shape part each feature pixel is anchored to.
    anchor: Vec<u32>,
    /// Offset of each feature pixel from its anchor, in normalized mean-shape space.
    deltas: Vec<[f32; 2]>,
}

/// A loaded dlib shape predictor (e.g. `shape_predictor_5_face_landmarks.dat`).
#[derive(Debug, Clone)]
pub struct ShapePredictor {
    /// Mean shape in normalized coordinates: x0, y0, x1, y1, ...
    initial_shape: Vec<f32>,
    cascades: Vec<Cascade>,
}

impl ShapePredictor {
    /// Reads a shape predictor from a dlib `.dat` file.
    pub fn from_file(path: impl AsRef<Path>) -> DatResult<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| DatError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Parses a serialized shape predictor and validates every index in it, so that
    /// prediction can never index out of bounds.
    pub fn from_bytes(bytes: &[u8]) -> DatResult<Self> {
        let mut r = DatReader::new(bytes);
        r.expect_version("shape_predictor", 1)?;

        let shape = r.read_matrix_f32(2 * MAX_PARTS)?;
        if shape.cols != 1 || shape.data.is_empty() || shape.data.len() % 2 != 0 {
            return Err(DatError::Invalid(format!(
                "initial shape must be a non-empty column vector of even length, got {}x{}",
                shape.rows, shape.cols
            )));
        }
        let initial_shape = shape.data;
        let coords = initial_shape.len();
        let num_parts = coords / 2;

        let forests = r.read_vec(MAX_CASCADES, |r| {
            r.read_vec(MAX_TREES, |r| {
                let splits = r.read_vec(MAX_SPLITS, |r| {
                    let idx1 = r.read_u64()?;
                    let idx2 = r.read_u64()?;
                    let thresh = r.read_f32()?;
                    Ok((idx1, idx2, thresh))
                })?;
                let leaves = r.read_vec(MAX_SPLITS + 1, |r| r.read_matrix_f32(2 * MAX_PARTS))?;
                Ok((splits, leaves))
            })
        })?;
        let anchors = r.read_vec(MAX_CASCADES, |r| {
            r.read_vec(MAX_FEATURES, super::serialize::DatReader::read_u64)
        })?;
        let deltas = r.read_vec(MAX_CASCADES, |r| {
            r.read_vec(MAX_FEATURES, super::serialize::DatReader::read_vector2_f32)
        })?;

        if forests.len() != anchors.len() || forests.len() != deltas.len() {
            return Err(DatError::Invalid(format!(
                "{} forests but {} anchor lists and {} delta lists",
                forests.len(),
                anchors.len(),
                deltas.len()
            )));
        }

        let mut cascades = Vec::with_capacity(forests.len());
        for (level, ((forest, anchor), delta)) in
            forests.into_iter().zip(anchors).zip(deltas).enumerate()
        {
            if anchor.len() != delta.len() {
                return Err(DatError::Invalid(format!(
                    "cascade {level}: {} anchors but {} deltas",
                    anchor.len(),
                    delta.len()
                )));
            }
            let num_features = delta.len() as u64;
            let anchor = anchor
                .into_iter()
                .map(|a| {
                    if a < num_parts as u64 {
                        Ok(a as u32)
                    } else {
                        Err(DatError::Invalid(format!(
                            "cascade {level}: anchor {a} but only {num_parts} parts"
                        )))
                    }
                })
                .collect::<DatResult<Vec<u32>>>()?;

            let mut trees = Vec::with_capacity(forest.len());
            for (t, (splits, leaves)) in forest.into_iter().enumerate() {
                // Evaluation walks i -> 2i+1 / 2i+2 while i < splits.len(), so it can end
                // on any index up to 2*splits.len(); dlib requires a full tree with
                // exactly one more leaf than splits, which keeps the leaf index in range.
                if leaves.len() != splits.len() + 1 {
                    return Err(DatError::Invalid(format!(
                        "cascade {level} tree {t}: {} splits but {} leaves",
                        splits.len(),
                        leaves.len()
                    )));
                }
                let splits = splits
                    .into_iter()
                    .map(|(i1, i2, thresh)| {
                        if i1 < num_features && i2 < num_features {
                            Ok(Split {
                                idx1: i1 as u32,
                                idx2: i2 as u32,
                                thresh,
                            })
                        } else {
                            Err(DatError::Invalid(format!(
                                "cascade {level} tree {t}: split on pixel {i1}/{i2} of {num_features}"
                            )))
                        }
                    })
                    .collect::<DatResult<Vec<Split>>>()?;
                let mut flat = Vec::with_capacity(leaves.len() * coords);
                for leaf in leaves {
                    if leaf.data.len() != coords {
                        return Err(DatError::Invalid(format!(
                            "cascade {level} tree {t}: leaf of length {} for a shape of {coords}",
                            leaf.data.len()
                        )));
                    }
                    flat.extend_from_slice(&leaf.data);
                }
                trees.push(Tree {
                    splits,
                    leaves: flat,
                });
            }
            cascades.push(Cascade {
                trees,
                anchor,
                deltas: delta,
            });
        }

        Ok(Self {
            initial_shape,
            cascades,
        })
    }

    /// Number of landmarks the model predicts (5 for `shape_predictor_5_face_landmarks`).
    pub fn num_parts(&self) -> usize {
        self.initial_shape.len() / 2
    }

    /// Number of cascade levels.
    pub fn num_cascades(&self) -> usize {
        self.cascades.len()
    }

    /// Predicts the landmarks inside `rect` (a detector box with whole-pixel edges, dlib's
    /// inclusive convention) and returns them rounded to whole pixels exactly as dlib's
    /// `full_object_detection` stores them.
    pub fn predict(&self, img: &RgbImage, rect: DRect) -> Vec<Point2> {
        self.predict_subpixel(img, rect)
            .into_iter()
            .map(Point2::round_dlib)
            .collect()
    }

    /// Like [`predict`](Self::predict) for a 5-part model, as a fixed-size array;
    /// `None` if the model has a different number of parts.
    pub fn predict5(&self, img: &RgbImage, rect: DRect) -> Option<[Point2; 5]> {
        self.predict(img, rect).try_into().ok()
    }

    /// Predicts the landmarks without dlib's final rounding to integer pixels.
    pub fn predict_subpixel(&self, img: &RgbImage, rect: DRect) -> Vec<Point2> {
        let to_img = unnormalizing_tform(&rect);
        let mut shape = self.initial_shape.clone();
        let mut features: Vec<f32> = Vec::new();
        for cascade in &self.cascades {
            self.extract_features(img, &to_img, &shape, cascade, &mut features);
            for tree in &cascade.trees {
                let leaf = tree.leaf(&features, shape.len());
                for (s, l) in shape.iter_mut().zip(leaf) {
                    *s += *l;
                }
            }
        }
        shape
            .chunks_exact(2)
            .map(|xy| to_img.apply(Point2::new(f64::from(xy[0]), f64::from(xy[1]))))
            .collect()
    }

    /// dlib's `extract_feature_pixel_values`: the grayscale value of each feature pixel
    /// after warping its mean-shape position onto the current shape.
    fn extract_features(
        &self,
        img: &RgbImage,
        to_img: &Affine2,
        shape: &[f32],
        cascade: &Cascade,
        out: &mut Vec<f32>,
    ) {
        let tform = tform_between_shapes(&self.initial_shape, shape);
        // dlib casts the similarity's linear part to a float matrix before use.
        let t = [
            [tform.m[0][0] as f32, tform.m[0][1] as f32],
            [tform.m[1][0] as f32, tform.m[1][1] as f32],
        ];
        let (w, h) = img.dimensions();
        let raw = img.as_raw();
        out.clear();
        out.reserve(cascade.deltas.len());
        for (d, &a) in cascade.deltas.iter().zip(&cascade.anchor) {
            let a = a as usize * 2;
            // float arithmetic as in dlib: tform*delta + location(shape, anchor).
            let nx = (t[0][0] * d[0] + t[0][1] * d[1]) + shape[a];
            let ny = (t[1][0] * d[0] + t[1][1] * d[1]) + shape[a + 1];
            let p = to_img.apply(Point2::new(f64::from(nx), f64::from(ny)));
            // Conversion to dlib's integer point rounds with floor(v + 0.5).
            let px = (p.x + 0.5).floor();
            let py = (p.y + 0.5).floor();
            let v = if px >= 0.0 && py >= 0.0 && px < f64::from(w) && py < f64::from(h) {
                let i = (py as usize * w as usize + px as usize) * 3;
                // dlib's get_pixel_intensity(rgb_pixel): the truncated mean of R, G, B.
                let sum = u32::from(raw[i]) + u32::from(raw[i + 1]) + u32::from(raw[i + 2]);
                (sum / 3) as f32
            } else {
                0.0
            };
            out.push(v);
        }
    }
}

impl Tree {
    /// Walks the tree on the feature values and returns the selected leaf vector.
    #[inline]
    fn leaf<'a>(&'a self, features: &[f32], coords: usize) -> &'a [f32] {
        let mut i = 0usize;
        while let Some(s) = self.splits.get(i) {
            // Indices were validated against the feature count at load time.
            let diff = features[s.idx1 as usize] - features[s.idx2 as usize];
            i = if diff > s.thresh {
                2 * i + 1
            } else {
                2 * i + 2
            };
        }
        let leaf = i - self.splits.len();
        &self.leaves[leaf * coords..(leaf + 1) * coords]
    }
}

/// dlib's `unnormalizing_tform(rect)`: the affine map taking (0,0), (1,0), (1,1) to the
/// rectangle's top-left, top-right and bottom-right corners. dlib solves this
/// three-point fit with a pseudo-inverse; the exact solution is written out here.
/// The corners pass through `f32` as in dlib (`vector<float,2>` points).
pub fn unnormalizing_tform(rect: &DRect) -> Affine2 {
    let l = f64::from(rect.left as f32);
    let t = f64::from(rect.top as f32);
    let r = f64::from(rect.right as f32);
    let b = f64::from(rect.bottom as f32);
    Affine2 {
        m: [[r - l, 0.0], [0.0, b - t]],
        b: [l, t],
    }
}

/// dlib's `normalizing_tform(rect)`: the inverse of [`unnormalizing_tform`], mapping the
/// rectangle's top-left corner to (0,0) and its bottom-right corner to (1,1).
pub fn normalizing_tform(rect: &DRect) -> Affine2 {
    unnormalizing_tform(rect)
        .inverse()
        .unwrap_or(Affine2::IDENTITY)
}

/// dlib's `find_tform_between_shapes`: similarity from one flattened shape to another
/// (identity for a single landmark).
fn tform_between_shapes(from: &[f32], to: &[f32]) -> Affine2 {
    let n = from.len() / 2;
    if n <= 1 {
        return Affine2::IDENTITY;
    }
    // Two tiny allocations per cascade level; negligible next to the pixel sampling.
    let to_points = |s: &[f32]| -> Vec<Point2> {
        s.chunks_exact(2)
            .map(|xy| Point2::new(f64::from(xy[0]), f64::from(xy[1])))
            .collect()
    };
    find_similarity_transform(&to_points(from), &to_points(to))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure
mod tests {
    use super::*;

    #[test]
    fn unnormalizing_maps_corners() {
        let rect = DRect::new(10.0, 20.0, 110.0, 140.0);
        let t = unnormalizing_tform(&rect);
        assert_eq!(t.apply(Point2::new(0.0, 0.0)), Point2::new(10.0, 20.0));
        assert_eq!(t.apply(Point2::new(1.0, 1.0)), Point2::new(110.0, 140.0));
        let n = normalizing_tform(&rect);
        let p = n.apply(Point2::new(110.0, 140.0));
        assert!((p.x - 1.0).abs() < 1e-12 && (p.y - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            ShapePredictor::from_bytes(&[]),
            Err(DatError::Truncated { offset: 0, .. })
        ));
        // Version 2.
        assert!(matches!(
            ShapePredictor::from_bytes(&[0x01, 0x02]),
            Err(DatError::UnexpectedVersion { .. })
        ));
        // Version 1 then a truncated matrix.
        assert!(matches!(
            ShapePredictor::from_bytes(&[0x01, 0x01, 0x81, 0x02]),
            Err(DatError::Truncated { .. })
        ));
    }
}
