//! face-api.js's `AgeGenderNet` as an ONNX graph.
//!
//! The network is a small Xception ("TinyXception" with two middle blocks) on a
//! 112×112 RGB face, average-pooled to 512 features, with a one-unit age regressor
//! and a two-way gender classifier on top. TensorFlow.js runs it in NHWC with "same"
//! padding; ONNX Runtime runs NCHW, so kernels are transposed here and every "same"
//! is written out as explicit pads (TensorFlow puts the odd pixel at the end).
//!
//! The graph input `face` is `float32[N, 3, 112, 112]`, RGB values 0–255 of the face
//! crop; `(x - mean) / 256` happens inside the graph, as face-api.js does it. Outputs:
//! `age` `float32[N, 1]` in years and `gender` `float32[N, 2]`, the softmax
//! probabilities of (male, female).

use std::collections::HashMap;

use facematch_onnx::{attr_int, attr_ints, Dim, GraphBuilder};

use crate::error::FaceApiError;
use crate::weights::Tensor;

/// Name of the graph input: `float32[N, 3, 112, 112]`, RGB, 0–255.
pub const INPUT_NAME: &str = "face";
/// Name of the age output: `float32[N, 1]`, years.
pub const AGE_OUTPUT: &str = "age";
/// Name of the gender output: `float32[N, 2]`, probabilities of (male, female).
pub const GENDER_OUTPUT: &str = "gender";
/// Side of the square input, in pixels.
pub const INPUT_SIZE: usize = 112;

/// Per-channel RGB means face-api.js subtracts before dividing by 256.
const MEAN_RGB: [f32; 3] = [122.782, 117.001, 104.298];
/// Middle-flow blocks of the age/gender feature extractor.
const MAIN_BLOCKS: usize = 2;

/// A value in the graph with its per-sample shape.
#[derive(Debug, Clone)]
struct Value {
    name: String,
    channels: usize,
    size: usize,
}

/// TensorFlow's "same" padding for one axis: `(begin, end)`.
fn same_pads(input: usize, kernel: usize, stride: usize) -> (usize, usize, usize) {
    let out = input.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(input);
    (total / 2, total - total / 2, out)
}

/// Builds the graph from the named tensors of the weights file.
struct Builder<'a> {
    g: GraphBuilder,
    weights: &'a HashMap<String, Tensor>,
}

impl Builder<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<&Tensor, FaceApiError> {
        let t = self
            .weights
            .get(name)
            .ok_or_else(|| FaceApiError::Network(format!("{name} is missing")))?;
        if t.shape != shape {
            return Err(FaceApiError::Network(format!(
                "{name} has shape {:?}, expected {shape:?}",
                t.shape
            )));
        }
        Ok(t)
    }

    /// `[kh, kw, cin, cout]` (TensorFlow) → `[cout, cin, kh, kw]` (ONNX).
    fn conv_kernel(
        &mut self,
        name: &str,
        k: usize,
        cin: usize,
        cout: usize,
    ) -> Result<String, FaceApiError> {
        let t = self.tensor(name, &[k, k, cin, cout])?;
        let mut data = vec![0f32; t.data.len()];
        for y in 0..k {
            for x in 0..k {
                for i in 0..cin {
                    for o in 0..cout {
                        data[((o * cin + i) * k + y) * k + x] =
                            t.data[((y * k + x) * cin + i) * cout + o];
                    }
                }
            }
        }
        Ok(self.g.init_f32("w", &[cout, cin, k, k], &data))
    }

    fn bias(&mut self, name: &str, len: usize) -> Result<String, FaceApiError> {
        let data = self.tensor(name, &[len])?.data.clone();
        Ok(self.g.init_f32("b", &[len], &data))
    }

    fn conv_node(
        &mut self,
        x: &Value,
        inputs: &[&str],
        k: usize,
        stride: usize,
        cout: usize,
        group: usize,
    ) -> Value {
        let (begin, end, out_size) = same_pads(x.size, k, stride);
        let out = self.g.fresh("conv");
        let mut attrs = vec![
            attr_ints("kernel_shape", &[k, k]),
            attr_ints("strides", &[stride, stride]),
            attr_ints("pads", &[begin, begin, end, end]),
        ];
        if group > 1 {
            attrs.push(attr_int("group", group as i64));
        }
        let mut all = vec![x.name.as_str()];
        all.extend_from_slice(inputs);
        self.g.node("Conv", &all, &out, &attrs);
        Value {
            name: out,
            channels: cout,
            size: out_size,
        }
    }

    /// `conv2d(x, filters, stride, 'same') + bias`.
    fn conv(
        &mut self,
        x: &Value,
        prefix: &str,
        k: usize,
        stride: usize,
        cout: usize,
    ) -> Result<Value, FaceApiError> {
        let w = self.conv_kernel(&format!("{prefix}/filters"), k, x.channels, cout)?;
        let b = self.bias(&format!("{prefix}/bias"), cout)?;
        Ok(self.conv_node(x, &[&w, &b], k, stride, cout, 1))
    }

    /// `separableConv2d(x, depthwise 3×3, pointwise 1×1, 1, 'same') + bias`.
    fn separable(&mut self, x: &Value, prefix: &str, cout: usize) -> Result<Value, FaceApiError> {
        let cin = x.channels;
        // Depthwise `[3, 3, cin, 1]` → `[cin, 1, 3, 3]`: the same transposition as a
        // full kernel with one output per input channel.
        let t = self.tensor(&format!("{prefix}/depthwise_filter"), &[3, 3, cin, 1])?;
        let mut dw = vec![0f32; t.data.len()];
        for pos in 0..9 {
            for c in 0..cin {
                dw[c * 9 + pos] = t.data[pos * cin + c];
            }
        }
        let dw = self.g.init_f32("dw", &[cin, 1, 3, 3], &dw);
        let depthwise = self.conv_node(x, &[&dw], 3, 1, cin, cin);
        let pw = self.conv_kernel(&format!("{prefix}/pointwise_filter"), 1, cin, cout)?;
        let b = self.bias(&format!("{prefix}/bias"), cout)?;
        Ok(self.conv_node(&depthwise, &[&pw, &b], 1, 1, cout, 1))
    }

    fn relu(&mut self, x: &Value) -> Value {
        Value {
            name: self.g.unary("Relu", &x.name),
            ..x.clone()
        }
    }

    fn add(&mut self, a: &Value, b: &Value) -> Value {
        let out = self.g.fresh("add");
        self.g.node("Add", &[&a.name, &b.name], &out, &[]);
        Value {
            name: out,
            ..a.clone()
        }
    }

    fn reduction_block(
        &mut self,
        x: &Value,
        prefix: &str,
        cout: usize,
        activate_input: bool,
    ) -> Result<Value, FaceApiError> {
        let input = if activate_input {
            self.relu(x)
        } else {
            x.clone()
        };
        let out = self.separable(&input, &format!("{prefix}/separable_conv0"), cout)?;
        let out = self.relu(&out);
        let out = self.separable(&out, &format!("{prefix}/separable_conv1"), cout)?;
        let (begin, end, size) = same_pads(out.size, 3, 2);
        let pooled = self.g.fresh("maxpool");
        // ONNX MaxPool ignores padded cells, as TensorFlow's "same" max pooling does.
        self.g.node(
            "MaxPool",
            &[&out.name],
            &pooled,
            &[
                attr_ints("kernel_shape", &[3, 3]),
                attr_ints("strides", &[2, 2]),
                attr_ints("pads", &[begin, begin, end, end]),
            ],
        );
        let pooled = Value {
            name: pooled,
            channels: cout,
            size,
        };
        // The shortcut convolves the block's input before its activation.
        let shortcut = self.conv(x, &format!("{prefix}/expansion_conv"), 1, 2, cout)?;
        Ok(self.add(&pooled, &shortcut))
    }

    fn main_block(&mut self, x: &Value, prefix: &str) -> Result<Value, FaceApiError> {
        let c = x.channels;
        let mut out = x.clone();
        for i in 0..3 {
            let activated = self.relu(&out);
            out = self.separable(&activated, &format!("{prefix}/separable_conv{i}"), c)?;
        }
        Ok(self.add(&out, x))
    }

    fn fully_connected(
        &mut self,
        x: &str,
        prefix: &str,
        inputs: usize,
        outputs: usize,
    ) -> Result<String, FaceApiError> {
        let w = self
            .tensor(&format!("{prefix}/weights"), &[inputs, outputs])?
            .data
            .clone();
        let w = self.g.init_f32("fc_w", &[inputs, outputs], &w);
        let b = self.bias(&format!("{prefix}/bias"), outputs)?;
        let product = self.g.fresh("fc");
        self.g.node("MatMul", &[x, &w], &product, &[]);
        let out = self.g.fresh("fc_biased");
        self.g.node("Add", &[&product, &b], &out, &[]);
        Ok(out)
    }
}

/// Builds the ONNX model bytes of `AgeGenderNet` from its named weight tensors
/// (see [`crate::read_weights`]).
///
/// Fails with [`FaceApiError::Network`] if a tensor is missing or has the wrong shape.
pub fn age_gender_to_onnx(weights: &HashMap<String, Tensor>) -> Result<Vec<u8>, FaceApiError> {
    let mut b = Builder {
        g: GraphBuilder::new(),
        weights,
    };
    let mean = b.g.init_f32("mean", &[1, 3, 1, 1], &MEAN_RGB);
    let scale = b.g.init_f32("scale", &[1], &[1.0 / 256.0]);
    let centered = b.g.fresh("centered");
    b.g.node("Sub", &[INPUT_NAME, &mean], &centered, &[]);
    let normalized = b.g.fresh("normalized");
    b.g.node("Mul", &[&centered, &scale], &normalized, &[]);
    let x = Value {
        name: normalized,
        channels: 3,
        size: INPUT_SIZE,
    };

    let x = b.conv(&x, "entry_flow/conv_in", 3, 2, 32)?;
    let x = b.relu(&x);
    let x = b.reduction_block(&x, "entry_flow/reduction_block_0", 64, false)?;
    let mut x = b.reduction_block(&x, "entry_flow/reduction_block_1", 128, true)?;
    for i in 0..MAIN_BLOCKS {
        x = b.main_block(&x, &format!("middle_flow/main_block_{i}"))?;
    }
    let x = b.reduction_block(&x, "exit_flow/reduction_block", 256, true)?;
    let x = b.separable(&x, "exit_flow/separable_conv", 512)?;
    let x = b.relu(&x);
    if x.size != 7 {
        return Err(FaceApiError::Network(format!(
            "features are {}×{}, expected 7×7",
            x.size, x.size
        )));
    }
    // avgPool 7×7, stride 2, 'valid' over a 7×7 map: one window, the mean of all cells.
    let pooled = b.g.unary("GlobalAveragePool", &x.name);
    let flat = b.g.fresh("flatten");
    b.g.node("Flatten", &[&pooled], &flat, &[attr_int("axis", 1)]);
    let age = b.fully_connected(&flat, "fc/age", x.channels, 1)?;
    b.g.node("Identity", &[&age], AGE_OUTPUT, &[]);
    let logits = b.fully_connected(&flat, "fc/gender", x.channels, 2)?;
    b.g.node("Softmax", &[&logits], GENDER_OUTPUT, &[attr_int("axis", 1)]);

    let batch = Dim::Named("N");
    Ok(b.g.finish(
        "faceapi_age_gender_net",
        &[(
            INPUT_NAME,
            &[
                batch,
                Dim::Fixed(3),
                Dim::Fixed(INPUT_SIZE),
                Dim::Fixed(INPUT_SIZE),
            ],
        )],
        &[
            (AGE_OUTPUT, &[batch, Dim::Fixed(1)]),
            (GENDER_OUTPUT, &[batch, Dim::Fixed(2)]),
        ],
        ("facematch-faceapi", env!("CARGO_PKG_VERSION")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        // 112 → 56 with a 3×3 stride-2 kernel: one extra row at the end.
        assert_eq!(same_pads(112, 3, 2), (0, 1, 56));
        // 1×1 stride 2 never pads.
        assert_eq!(same_pads(56, 1, 2), (0, 0, 28));
        // 3×3 stride 1 pads one on each side.
        assert_eq!(same_pads(14, 3, 1), (1, 1, 14));
        assert_eq!(same_pads(7, 3, 2), (1, 1, 4));
    }

    #[test]
    fn missing_tensors_are_named() {
        let err = age_gender_to_onnx(&HashMap::new()).expect_err("built from nothing");
        assert!(
            err.to_string().contains("entry_flow/conv_in/filters"),
            "{err}"
        );
    }
}
