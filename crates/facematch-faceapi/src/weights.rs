//! TensorFlow.js weight files: a JSON manifest that names each tensor, its shape and
//! its storage (float32, or uint8/uint16 with a linear de-quantization), and the
//! binary that holds the tensors back to back in manifest order.

use std::collections::HashMap;

use serde::Deserialize;

use crate::error::FaceApiError;

/// Most elements one tensor may declare; the real network's largest has 131,072.
/// A hostile manifest cannot make the reader allocate more than this per tensor.
const MAX_TENSOR_ELEMENTS: usize = 1 << 24;

/// One named tensor, values in the order TensorFlow.js stores them (row-major over
/// `shape`).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

#[derive(Debug, Deserialize)]
struct Group {
    weights: Vec<Spec>,
}

#[derive(Debug, Deserialize)]
struct Spec {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    #[serde(default)]
    quantization: Option<Quantization>,
}

#[derive(Debug, Deserialize)]
struct Quantization {
    dtype: String,
    scale: f32,
    min: f32,
}

/// Storage of one tensor in the binary.
#[derive(Debug, Clone, Copy)]
enum Storage {
    F32,
    /// `value = min + q * scale` for an unsigned integer `q` of `bytes` bytes.
    Quantized {
        bytes: usize,
        scale: f32,
        min: f32,
    },
}

impl Storage {
    fn of(spec: &Spec) -> Result<Self, FaceApiError> {
        if spec.dtype != "float32" {
            return Err(FaceApiError::Manifest(format!(
                "{}: dtype {} is not supported",
                spec.name, spec.dtype
            )));
        }
        Ok(match &spec.quantization {
            None => Storage::F32,
            Some(q) => {
                let bytes = match q.dtype.as_str() {
                    "uint8" => 1,
                    "uint16" => 2,
                    other => {
                        return Err(FaceApiError::Manifest(format!(
                            "{}: quantization {other} is not supported",
                            spec.name
                        )))
                    }
                };
                if !q.scale.is_finite() || !q.min.is_finite() {
                    return Err(FaceApiError::Manifest(format!(
                        "{}: quantization parameters are not finite",
                        spec.name
                    )));
                }
                Storage::Quantized {
                    bytes,
                    scale: q.scale,
                    min: q.min,
                }
            }
        })
    }

    fn bytes_per_value(self) -> usize {
        match self {
            Storage::F32 => 4,
            Storage::Quantized { bytes, .. } => bytes,
        }
    }

    fn decode(self, raw: &[u8]) -> Vec<f32> {
        match self {
            Storage::F32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Storage::Quantized {
                bytes: 1,
                scale,
                min,
            } => raw.iter().map(|&q| min + f32::from(q) * scale).collect(),
            Storage::Quantized { scale, min, .. } => raw
                .chunks_exact(2)
                .map(|b| min + f32::from(u16::from_le_bytes([b[0], b[1]])) * scale)
                .collect(),
        }
    }
}

/// Reads a weights manifest (`*-weights_manifest.json`) and the binary it describes
/// (its shards concatenated in order) into named tensors.
///
/// Fails if the manifest is malformed, names a storage this reader does not know, or
/// the binary is shorter or longer than the manifest says.
pub fn read_weights(
    manifest: &[u8],
    binary: &[u8],
) -> Result<HashMap<String, Tensor>, FaceApiError> {
    let groups: Vec<Group> =
        serde_json::from_slice(manifest).map_err(|e| FaceApiError::Manifest(e.to_string()))?;
    let mut tensors = HashMap::new();
    let mut offset = 0usize;
    for spec in groups.iter().flat_map(|g| &g.weights) {
        let storage = Storage::of(spec)?;
        let elements = spec
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= MAX_TENSOR_ELEMENTS)
            .ok_or_else(|| {
                FaceApiError::Manifest(format!(
                    "{}: shape {:?} is too large",
                    spec.name, spec.shape
                ))
            })?;
        let len = elements * storage.bytes_per_value();
        let raw = offset
            .checked_add(len)
            .and_then(|end| binary.get(offset..end))
            .ok_or_else(|| {
                FaceApiError::Weights(format!(
                    "{} needs bytes {offset}..{} of a {}-byte binary",
                    spec.name,
                    offset + len,
                    binary.len()
                ))
            })?;
        offset += len;
        let tensor = Tensor {
            shape: spec.shape.clone(),
            data: storage.decode(raw),
        };
        if tensors.insert(spec.name.clone(), tensor).is_some() {
            return Err(FaceApiError::Manifest(format!(
                "{} is listed twice",
                spec.name
            )));
        }
    }
    if offset != binary.len() {
        return Err(FaceApiError::Weights(format!(
            "the manifest describes {offset} bytes, the binary has {}",
            binary.len()
        )));
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"[{"paths":["x.bin"],"weights":[
        {"name":"a","shape":[2],"dtype":"float32"},
        {"name":"b","shape":[3],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1.0}}
    ]}]"#;

    fn binary() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&1.25f32.to_le_bytes());
        b.extend_from_slice(&(-3.0f32).to_le_bytes());
        b.extend_from_slice(&[0, 2, 255]);
        b
    }

    #[test]
    fn float_and_quantized_tensors_are_decoded_in_order() {
        let t = read_weights(MANIFEST.as_bytes(), &binary()).expect("read");
        assert_eq!(t["a"].data, vec![1.25, -3.0]);
        assert_eq!(t["b"].data, vec![-1.0, 0.0, 126.5]);
        assert_eq!(t["b"].shape, vec![3]);
    }

    #[test]
    fn a_binary_of_the_wrong_length_is_refused() {
        let mut long = binary();
        long.push(0);
        assert!(matches!(
            read_weights(MANIFEST.as_bytes(), &long),
            Err(FaceApiError::Weights(_))
        ));
        let short = &binary()[..10];
        assert!(matches!(
            read_weights(MANIFEST.as_bytes(), short),
            Err(FaceApiError::Weights(_))
        ));
    }

    #[test]
    fn hostile_manifests_are_errors_not_allocations() {
        let huge =
            r#"[{"weights":[{"name":"a","shape":[4294967296,4294967296],"dtype":"float32"}]}]"#;
        assert!(matches!(
            read_weights(huge.as_bytes(), &[]),
            Err(FaceApiError::Manifest(_))
        ));
        let odd = r#"[{"weights":[{"name":"a","shape":[1],"dtype":"int32"}]}]"#;
        assert!(matches!(
            read_weights(odd.as_bytes(), &[0; 4]),
            Err(FaceApiError::Manifest(_))
        ));
        assert!(matches!(
            read_weights(b"not json", &[]),
            Err(FaceApiError::Manifest(_))
        ));
    }
}
