//! The layer tree of a dlib network, in dlib's vocabulary, with `f32` weights: what
//! [`super::dat`] reads from the file and [`super::onnx`] writes as a graph.

/// A dense tensor as dlib stores it: `dims` = `[num_samples, k, nr, nc]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// `[num_samples, k, nr, nc]`.
    pub dims: [usize; 4],
    /// `dims.iter().product()` values.
    pub data: Vec<f32>,
}

/// A convolution (`con_`), weights `[out, in, kh, kw]` plus one bias per output channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    /// Number of filters (output channels).
    pub out_channels: usize,
    /// Input channels each filter spans.
    pub in_channels: usize,
    /// Filter height and width.
    pub kernel: [usize; 2],
    /// Vertical and horizontal stride.
    pub stride: [usize; 2],
    /// Zero padding added above/below and left/right.
    pub padding: [usize; 2],
    /// `out * in * kh * kw` weights, row-major `[out, in, kh, kw]`.
    pub weights: Vec<f32>,
    /// One bias per output channel.
    pub bias: Vec<f32>,
}

/// dlib's inference-time batch norm (`affine_`, conv mode): `y = gamma[c] * x + beta[c]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Affine {
    /// Per-channel scale.
    pub gamma: Vec<f32>,
    /// Per-channel offset.
    pub beta: Vec<f32>,
}

/// A max or average pooling window (`max_pool_` / `avg_pool_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Window height and width; `[0, 0]` means the whole input (`*_pool_everything`).
    pub window: [usize; 2],
    /// Vertical and horizontal stride.
    pub stride: [usize; 2],
    /// Padding above/below and left/right.
    pub padding: [usize; 2],
}

/// A fully connected layer (`fc_`): `y = x · W (+ b)` with `W` stored `[in, out]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FullyConnected {
    /// Length of the (flattened) input.
    pub inputs: usize,
    /// Length of the output.
    pub outputs: usize,
    /// `inputs * outputs` weights, row-major `[in, out]` (dlib computes `x · W`).
    pub weights: Vec<f32>,
    /// Bias per output, absent for `fc_no_bias`.
    pub bias: Option<Vec<f32>>,
}

/// One layer of the network, in dlib's vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// `con_`.
    Conv(Conv),
    /// `affine_`.
    Affine(Affine),
    /// `relu_`.
    Relu,
    /// `max_pool_`.
    MaxPool(Pool),
    /// `avg_pool_`.
    AvgPool(Pool),
    /// `add_prev_<tagN>`: adds the output of tag `N`. dlib zero-pads both operands to
    /// the elementwise maximum of their shapes.
    AddPrev {
        /// The tag whose output is added.
        tag: u32,
    },
    /// `tagN`: remembers the current output under id `N`; passes it through unchanged.
    Tag(u32),
    /// `skipN`: replaces the current output with the output of tag `N`.
    Skip(u32),
    /// `fc_`.
    Fc(FullyConnected),
}

/// `input_rgb_image_sized<NR, NC>`: `(pixel - mean) / 256` per channel, R, G, B planes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputRgbImageSized {
    /// Means subtracted from the red, green and blue channel.
    pub mean_rgb: [f32; 3],
    /// Image rows the network accepts.
    pub rows: usize,
    /// Image columns the network accepts.
    pub cols: usize,
}

/// `loss_metric_`: only meaningful for training; kept for completeness.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossMetric {
    /// Training margin.
    pub margin: f32,
    /// Distance under which two descriptors are considered the same person (0.6).
    pub distance_threshold: f32,
}

/// A parsed dlib network: the input layer, then its layers from input to output.
#[derive(Debug, Clone, PartialEq)]
pub struct DlibNet {
    /// The loss layer's parameters.
    pub loss: LossMetric,
    /// The input layer.
    pub input: InputRgbImageSized,
    /// Layers from the input towards the loss.
    pub layers: Vec<Layer>,
}
