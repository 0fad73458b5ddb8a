//! Translation of a parsed [`DlibNet`] into an ONNX `ModelProto`.
//!
//! The graph reproduces dlib's forward pass exactly (up to float rounding):
//! - input `chip`: `float32[N, 3, rows, cols]`, raw RGB values 0–255; the
//!   `(x - mean) / 256` of `input_rgb_image_sized` happens inside the graph;
//! - `con_` + `affine_` pairs become a single `Conv` with the affine folded into its
//!   weights and bias (`gamma * (W*x + b) + beta` = `(gamma*W)*x + (gamma*b + beta)`),
//!   which is what lets ONNX Runtime fuse the following `Relu`;
//! - `add_prev_` becomes `Add`, after zero-padding (at the end of each axis) whichever
//!   operand is smaller, because dlib's `add_prev_` outputs the elementwise maximum of
//!   both shapes and adds over the overlap;
//! - output `embedding`: `float32[N, 128]`, the raw `fc_` result (dlib does not
//!   L2-normalize its face descriptors).

use std::collections::HashMap;

use facematch_onnx::{attr_int, attr_ints, Dim, GraphBuilder};

use super::layers::{Affine, Conv, DlibNet, FullyConnected, Layer, Pool};
use crate::error::DatError;

/// Name of the graph input: `float32[N, 3, rows, cols]`, RGB, 0–255.
pub const INPUT_NAME: &str = "chip";
/// Name of the graph output: `float32[N, 128]`.
pub const OUTPUT_NAME: &str = "embedding";

/// A value in the graph and its per-sample shape `[channels, rows, cols]`
/// (a flattened vector is `[len, 1, 1]` with `flat` set).
#[derive(Debug, Clone)]
struct Value {
    name: String,
    shape: [usize; 3],
    flat: bool,
}

/// The dlib layers, as extensions of the shared graph builder.
trait DlibLayers {
    fn normalize_input(&mut self, x: Value, mean_rgb: [f32; 3]) -> Value;
    fn conv(&mut self, x: &Value, conv: &Conv, affine: Option<&Affine>) -> Result<Value, DatError>;
    fn affine(&mut self, x: &Value, a: &Affine) -> Result<Value, DatError>;
    fn relu(&mut self, x: &Value) -> Value;
    fn pool(&mut self, x: &Value, p: &Pool, max: bool) -> Result<Value, DatError>;
    fn pad_to(&mut self, x: &Value, shape: [usize; 3]) -> Value;
    fn add_prev(&mut self, a: &Value, b: &Value) -> Result<Value, DatError>;
    fn fc(&mut self, x: &Value, fc: &FullyConnected) -> Result<Value, DatError>;
}

impl DlibLayers for GraphBuilder {
    /// `(x - mean) / 256` per channel, as `input_rgb_image_sized::to_tensor` does.
    fn normalize_input(&mut self, x: Value, mean_rgb: [f32; 3]) -> Value {
        let mean = self.init_f32("input_mean", &[1, 3, 1, 1], &mean_rgb);
        let scale = self.init_f32("input_scale", &[1], &[1.0 / 256.0]);
        let centered = self.fresh("centered");
        self.node("Sub", &[&x.name, &mean], &centered, &[]);
        let out = self.fresh("normalized");
        self.node("Mul", &[&centered, &scale], &out, &[]);
        Value { name: out, ..x }
    }

    /// `con_`, optionally followed by an `affine_` folded into its weights and bias.
    fn conv(&mut self, x: &Value, conv: &Conv, affine: Option<&Affine>) -> Result<Value, DatError> {
        let [c, h, w] = x.shape;
        if x.flat || c != conv.in_channels {
            return Err(DatError::Invalid(format!(
                "con_ expects {} input channels, its input has shape {:?}",
                conv.in_channels, x.shape
            )));
        }
        let per_filter = conv.in_channels * conv.kernel[0] * conv.kernel[1];
        if conv.out_channels == 0
            || conv.weights.len() != conv.out_channels * per_filter
            || conv.bias.len() != conv.out_channels
        {
            return Err(DatError::Invalid(format!(
                "con_ with {} filters has {} weights and {} biases",
                conv.out_channels,
                conv.weights.len(),
                conv.bias.len()
            )));
        }
        let out_h = window_output(
            h,
            conv.kernel[0],
            conv.stride[0],
            conv.padding[0],
            "con_ rows",
        )?;
        let out_w = window_output(
            w,
            conv.kernel[1],
            conv.stride[1],
            conv.padding[1],
            "con_ cols",
        )?;
        let (weights, bias) = match affine {
            None => (conv.weights.clone(), conv.bias.clone()),
            Some(a) => {
                if a.gamma.len() != conv.out_channels || a.beta.len() != conv.out_channels {
                    return Err(DatError::Invalid(format!(
                        "affine_ has {} channels after a con_ with {} filters",
                        a.gamma.len(),
                        conv.out_channels
                    )));
                }
                // One exact-size extend per filter (not a flat_map, whose unknown length
                // regrows and copies the 22 MB of a large network's weights).
                let mut weights = Vec::with_capacity(conv.weights.len());
                for (filter, &g) in conv.weights.chunks(per_filter).zip(&a.gamma) {
                    weights.extend(filter.iter().map(|&v| v * g));
                }
                let bias = conv
                    .bias
                    .iter()
                    .zip(a.gamma.iter().zip(&a.beta))
                    // f64 so the folded bias is rounded once.
                    .map(|(&b, (&g, &be))| (f64::from(b) * f64::from(g) + f64::from(be)) as f32)
                    .collect();
                (weights, bias)
            }
        };
        let wn = self.init_f32(
            "conv_w",
            &[
                conv.out_channels,
                conv.in_channels,
                conv.kernel[0],
                conv.kernel[1],
            ],
            &weights,
        );
        let bn = self.init_f32("conv_b", &[conv.out_channels], &bias);
        let out = self.fresh("conv");
        let attrs = [
            attr_ints("kernel_shape", &conv.kernel),
            attr_ints("strides", &conv.stride),
            attr_ints(
                "pads",
                &[
                    conv.padding[0],
                    conv.padding[1],
                    conv.padding[0],
                    conv.padding[1],
                ],
            ),
        ];
        self.node("Conv", &[&x.name, &wn, &bn], &out, &attrs);
        Ok(Value {
            name: out,
            shape: [conv.out_channels, out_h, out_w],
            flat: false,
        })
    }

    /// A stand-alone `affine_` (not preceded by a convolution): `x * gamma + beta`.
    fn affine(&mut self, x: &Value, a: &Affine) -> Result<Value, DatError> {
        let c = x.shape[0];
        if x.flat || a.gamma.len() != c || a.beta.len() != c {
            return Err(DatError::Invalid(format!(
                "affine_ with {} channels applied to shape {:?}",
                a.gamma.len(),
                x.shape
            )));
        }
        let g = self.init_f32("affine_gamma", &[1, c, 1, 1], &a.gamma);
        let b = self.init_f32("affine_beta", &[1, c, 1, 1], &a.beta);
        let scaled = self.fresh("affine_scaled");
        self.node("Mul", &[&x.name, &g], &scaled, &[]);
        let out = self.fresh("affine");
        self.node("Add", &[&scaled, &b], &out, &[]);
        Ok(Value {
            name: out,
            ..x.clone()
        })
    }

    fn relu(&mut self, x: &Value) -> Value {
        Value {
            name: self.unary("Relu", &x.name),
            ..x.clone()
        }
    }

    fn pool(&mut self, x: &Value, p: &Pool, max: bool) -> Result<Value, DatError> {
        let [c, h, w] = x.shape;
        if x.flat {
            return Err(DatError::Invalid(
                "pooling applied to a flattened vector".into(),
            ));
        }
        if p.window == [0, 0] {
            // `*_pool_everything`: one window over the whole input.
            let op = if max {
                "GlobalMaxPool"
            } else {
                "GlobalAveragePool"
            };
            let out = self.fresh(&op.to_ascii_lowercase());
            self.node(op, &[&x.name], &out, &[]);
            return Ok(Value {
                name: out,
                shape: [c, 1, 1],
                flat: false,
            });
        }
        if !max && p.padding != [0, 0] {
            // dlib's and ONNX's treatment of padding in average pooling (what the
            // border windows divide by) is not verified to agree; this model has none.
            return Err(DatError::Invalid(
                "padded avg_pool_ is not supported".into(),
            ));
        }
        let out_h = window_output(h, p.window[0], p.stride[0], p.padding[0], "pool rows")?;
        let out_w = window_output(w, p.window[1], p.stride[1], p.padding[1], "pool cols")?;
        let op = if max { "MaxPool" } else { "AveragePool" };
        let out = self.fresh(&op.to_ascii_lowercase());
        let attrs = [
            attr_ints("kernel_shape", &p.window),
            attr_ints("strides", &p.stride),
            attr_ints(
                "pads",
                &[p.padding[0], p.padding[1], p.padding[0], p.padding[1]],
            ),
        ];
        self.node(op, &[&x.name], &out, &attrs);
        Ok(Value {
            name: out,
            shape: [c, out_h, out_w],
            flat: false,
        })
    }

    /// Zero-pads `x` at the end of each axis up to `shape`.
    fn pad_to(&mut self, x: &Value, shape: [usize; 3]) -> Value {
        if x.shape == shape {
            return x.clone();
        }
        let mut pads = [0i64; 8];
        for axis in 0..3 {
            // Ends of axes 1..=3 (channels, rows, cols) live at pads[5..8].
            pads[5 + axis] = (shape[axis] - x.shape[axis]) as i64;
        }
        let pads = self.init_i64("pads", &pads);
        let out = self.fresh("padded");
        self.node("Pad", &[&x.name, &pads], &out, &[]);
        Value {
            name: out,
            shape,
            flat: false,
        }
    }

    /// dlib's `add_prev_`: output shape is the elementwise maximum, missing values are 0.
    fn add_prev(&mut self, a: &Value, b: &Value) -> Result<Value, DatError> {
        if a.flat || b.flat {
            return Err(DatError::Invalid("add_prev_ on a flattened vector".into()));
        }
        let shape = [0, 1, 2].map(|i| a.shape[i].max(b.shape[i]));
        let a = self.pad_to(a, shape);
        let b = self.pad_to(b, shape);
        let out = self.fresh("add");
        self.node("Add", &[&a.name, &b.name], &out, &[]);
        Ok(Value {
            name: out,
            shape,
            flat: false,
        })
    }

    fn fc(&mut self, x: &Value, fc: &FullyConnected) -> Result<Value, DatError> {
        let [c, h, w] = x.shape;
        let bias_ok = fc.bias.as_ref().is_none_or(|b| b.len() == fc.outputs);
        if c * h * w != fc.inputs || fc.weights.len() != fc.inputs * fc.outputs || !bias_ok {
            return Err(DatError::Invalid(format!(
                "fc_ {}x{} ({} weights) applied to shape {:?}",
                fc.inputs,
                fc.outputs,
                fc.weights.len(),
                x.shape
            )));
        }
        let flat = if x.flat {
            x.name.clone()
        } else {
            // dlib flattens each sample in (k, nr, nc) order, as Flatten does.
            let out = self.fresh("flatten");
            self.node("Flatten", &[&x.name], &out, &[attr_int("axis", 1)]);
            out
        };
        let wn = self.init_f32("fc_w", &[fc.inputs, fc.outputs], &fc.weights);
        let mut out = self.fresh("fc");
        self.node("MatMul", &[&flat, &wn], &out, &[]);
        if let Some(bias) = &fc.bias {
            let bn = self.init_f32("fc_b", &[fc.outputs], bias);
            let biased = self.fresh("fc_biased");
            self.node("Add", &[&out, &bn], &biased, &[]);
            out = biased;
        }
        Ok(Value {
            name: out,
            shape: [fc.outputs, 1, 1],
            flat: true,
        })
    }
}

/// Output length of a sliding window, as dlib computes it:
/// `1 + (in + 2*pad - window) / stride` (floor), requiring the window to fit.
fn window_output(
    input: usize,
    window: usize,
    stride: usize,
    pad: usize,
    what: &str,
) -> Result<usize, DatError> {
    let padded = input + 2 * pad;
    if window == 0 || stride == 0 || padded < window {
        return Err(DatError::Invalid(format!(
            "{what}: window {window} / stride {stride} does not fit input {input} (+2*{pad})"
        )));
    }
    Ok(1 + (padded - window) / stride)
}

/// Builds the ONNX model bytes for a parsed network.
///
/// Fails with [`DatError::Invalid`] if the layers do not fit together (channel counts,
/// window sizes, unknown tags) or the network does not end in a fully connected layer.
pub fn net_to_onnx(net: &DlibNet) -> Result<Vec<u8>, DatError> {
    let mut g = GraphBuilder::new();
    let input = Value {
        name: INPUT_NAME.to_string(),
        shape: [3, net.input.rows, net.input.cols],
        flat: false,
    };
    let mut x = g.normalize_input(input, net.input.mean_rgb);
    let mut tags: HashMap<u32, Value> = HashMap::new();

    let mut layers = net.layers.iter().peekable();
    while let Some(layer) = layers.next() {
        x = match layer {
            Layer::Conv(conv) => {
                let affine = match layers.peek() {
                    Some(Layer::Affine(a)) => {
                        layers.next();
                        Some(a)
                    }
                    _ => None,
                };
                g.conv(&x, conv, affine)?
            }
            Layer::Affine(a) => g.affine(&x, a)?,
            Layer::Relu => g.relu(&x),
            Layer::MaxPool(p) => g.pool(&x, p, true)?,
            Layer::AvgPool(p) => g.pool(&x, p, false)?,
            Layer::Tag(id) => {
                tags.insert(*id, x.clone());
                x
            }
            Layer::Skip(id) => tags.get(id).cloned().ok_or_else(|| {
                DatError::Invalid(format!("skip{id} without a preceding tag{id}"))
            })?,
            Layer::AddPrev { tag } => {
                let other = tags.get(tag).cloned().ok_or_else(|| {
                    DatError::Invalid(format!("add_prev{tag} without a preceding tag{tag}"))
                })?;
                g.add_prev(&x, &other)?
            }
            Layer::Fc(fc) => g.fc(&x, fc)?,
        };
    }
    if !x.flat {
        return Err(DatError::Invalid(
            "network does not end in a fully connected layer".into(),
        ));
    }
    let out_len = x.shape[0];
    // A final Identity gives the output its public name; ORT removes it when optimizing.
    g.node("Identity", &[&x.name], OUTPUT_NAME, &[]);

    Ok(g.finish(
        "dlib_face_recognition_resnet_model_v1",
        &[(
            INPUT_NAME,
            &[
                Dim::Named("N"),
                Dim::Fixed(3),
                Dim::Fixed(net.input.rows),
                Dim::Fixed(net.input.cols),
            ],
        )],
        &[(OUTPUT_NAME, &[Dim::Named("N"), Dim::Fixed(out_len)])],
        ("facematch-dlib", env!("CARGO_PKG_VERSION")),
    ))
}
