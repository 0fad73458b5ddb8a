//! Reader for dlib's serialized face-recognition ResNet
//! (`dlib_face_recognition_resnet_model_v1.dat`).
//!
//! dlib writes a network by recursion: each `add_layer` writes its version, then its
//! whole subnetwork, then its own details, so the file holds the layers' versions from
//! the loss inward and then their parameters from the input outward. Tag and skip
//! layers write only a version (not their ids), so the file alone cannot say which tag
//! an `add_prev` refers to: like dlib itself, the reader needs the network *type*. It
//! therefore walks the file against the known `anet_type` of dlib's
//! `dnn_face_recognition_ex.cpp` and rejects anything that does not match it.

use super::arch::{default_padding, face_resnet_specs, Spec};
use super::layers::{
    Affine, Conv, DlibNet, FullyConnected, InputRgbImageSized, Layer, LossMetric, Pool, Tensor,
};
use crate::error::DatError;
use crate::serialize::DatReader;

/// Largest tensor accepted, in elements. The biggest tensor in the real model has
/// ~600k elements; this cap only stops a corrupt size field from allocating gigabytes.
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 26;

/// dlib's `layer_mode::CONV_MODE`: one affine coefficient per channel.
const CONV_MODE: i32 = 0;
/// dlib's `fc_bias_mode::FC_NO_BIAS`.
const FC_NO_BIAS: i32 = 1;
/// dlib's `fc_bias_mode::FC_HAS_BIAS`.
const FC_HAS_BIAS: i32 = 0;

// ---------------------------------------------------------------------------------------
// dnn-specific primitives on top of the crate's `DatReader` (dlib/dnn/tensor.h)
// ---------------------------------------------------------------------------------------

/// Reads an `int` version and checks it lies in `accepted`.
fn expect_version_in(
    r: &mut DatReader<'_>,
    what: &'static str,
    accepted: std::ops::RangeInclusive<i32>,
) -> Result<i32, DatError> {
    let offset = r.position();
    let found = r.read_i32()?;
    if accepted.contains(&found) {
        Ok(found)
    } else {
        Err(DatError::UnexpectedVersion {
            what,
            found: i64::from(found),
            expected: i64::from(*accepted.end()),
            offset,
        })
    }
}

/// Reads a non-negative C++ `long` (dlib's tensor dimensions are `long long`).
fn read_dim(r: &mut DatReader<'_>, what: &'static str) -> Result<u64, DatError> {
    let offset = r.position();
    let v = r.read_i64()?;
    u64::try_from(v)
        .map_err(|_| DatError::Invalid(format!("{what} at byte {offset} is negative ({v})")))
}

/// Four tensor dimensions (`num_samples, k, nr, nc`) and their product, capped.
fn read_dims(r: &mut DatReader<'_>, what: &'static str) -> Result<([usize; 4], usize), DatError> {
    let offset = r.position();
    let mut dims = [0usize; 4];
    let mut count: u64 = 1;
    for d in &mut dims {
        let v = read_dim(r, what)?;
        count = count.saturating_mul(v);
        if v > MAX_TENSOR_ELEMENTS || count > MAX_TENSOR_ELEMENTS {
            return Err(DatError::TooLarge {
                what,
                len: count.max(v),
                max: MAX_TENSOR_ELEMENTS,
                offset,
            });
        }
        // Both are <= MAX_TENSOR_ELEMENTS, which fits any usize.
        *d = v as usize;
    }
    Ok((dims, count as usize))
}

/// A `dlib::tensor` (version 2: dims, then raw little-endian IEEE floats rather than
/// dlib's portable float encoding).
fn read_tensor(r: &mut DatReader<'_>, what: &'static str) -> Result<Tensor, DatError> {
    expect_version_in(r, "dlib::tensor", 2..=2)?;
    let (dims, count) = read_dims(r, what)?;
    // read_bytes checks the length against the input before anything is allocated.
    let raw = r.read_bytes(count * 4)?;
    let data = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Tensor { dims, data })
}

/// A `dlib::alias_tensor`: only a shape (it views part of a layer's `params`).
fn read_alias_tensor(r: &mut DatReader<'_>, what: &'static str) -> Result<[usize; 4], DatError> {
    expect_version_in(r, "dlib::alias_tensor", 1..=1)?;
    Ok(read_dims(r, what)?.0)
}

fn mismatch(
    what: &str,
    offset: usize,
    expected: impl std::fmt::Debug,
    found: impl std::fmt::Debug,
) -> DatError {
    DatError::Invalid(format!(
        "{what} near byte {offset}: expected {expected:?}, found {found:?}"
    ))
}

// ---------------------------------------------------------------------------------------
// Layer details
// ---------------------------------------------------------------------------------------

fn read_conv(
    r: &mut DatReader<'_>,
    filters: usize,
    size: usize,
    stride: usize,
) -> Result<Conv, DatError> {
    let offset = r.position();
    r.expect_string("con_4")?;
    let params = read_tensor(r, "con_ params")?;
    let num_filters = r.read_u64()?;
    let nr = r.read_u64()?;
    let nc = r.read_u64()?;
    let stride_y = r.read_i32()?;
    let stride_x = r.read_i32()?;
    let padding_y = r.read_i32()?;
    let padding_x = r.read_i32()?;
    let filt = read_alias_tensor(r, "con_ filters")?;
    let biases = read_alias_tensor(r, "con_ biases")?;
    for _ in 0..4 {
        // learning-rate and weight-decay multipliers: training only.
        r.read_f64()?;
    }
    let pad = default_padding(size, stride) as i32;
    let found = (
        num_filters,
        nr,
        nc,
        stride_y,
        stride_x,
        padding_y,
        padding_x,
    );
    let expected = (
        filters as u64,
        size as u64,
        size as u64,
        stride as i32,
        stride as i32,
        pad,
        pad,
    );
    if found != expected {
        return Err(mismatch(
            "con_ (filters, nr, nc, stride_y, stride_x, padding_y, padding_x)",
            offset,
            expected,
            found,
        ));
    }
    let [fo, fi, fh, fw] = filt;
    if fo != filters || fh != size || fw != size || fi == 0 {
        return Err(mismatch(
            "con_ filter shape",
            offset,
            [filters, 0, size, size],
            filt,
        ));
    }
    if biases != [1, filters, 1, 1] {
        return Err(mismatch(
            "con_ bias shape",
            offset,
            [1, filters, 1, 1],
            biases,
        ));
    }
    let n_weights = fo * fi * fh * fw;
    if params.data.len() != n_weights + filters {
        return Err(mismatch(
            "con_ parameter count",
            offset,
            n_weights + filters,
            params.data.len(),
        ));
    }
    let mut weights = params.data;
    let bias = weights.split_off(n_weights);
    Ok(Conv {
        out_channels: filters,
        in_channels: fi,
        kernel: [size, size],
        stride: [stride, stride],
        padding: [pad as usize, pad as usize],
        weights,
        bias,
    })
}

fn read_affine(r: &mut DatReader<'_>) -> Result<Affine, DatError> {
    let offset = r.position();
    r.expect_string("affine_")?;
    let params = read_tensor(r, "affine_ params")?;
    let gamma = read_alias_tensor(r, "affine_ gamma")?;
    let beta = read_alias_tensor(r, "affine_ beta")?;
    let mode = r.read_i32()?;
    if mode != CONV_MODE {
        return Err(mismatch(
            "affine_ mode (CONV_MODE)",
            offset,
            CONV_MODE,
            mode,
        ));
    }
    let channels = gamma[1];
    if gamma != [1, channels, 1, 1] || beta != gamma || channels == 0 {
        return Err(mismatch("affine_ gamma/beta shapes", offset, gamma, beta));
    }
    if params.data.len() != 2 * channels {
        return Err(mismatch(
            "affine_ parameter count",
            offset,
            2 * channels,
            params.data.len(),
        ));
    }
    let mut gamma = params.data;
    let beta = gamma.split_off(channels);
    Ok(Affine { gamma, beta })
}

fn read_pool(
    r: &mut DatReader<'_>,
    tag: &'static str,
    size: usize,
    stride: usize,
) -> Result<Pool, DatError> {
    let offset = r.position();
    r.expect_string(tag)?;
    let nr = r.read_u64()?;
    let nc = r.read_u64()?;
    let stride_y = r.read_i32()?;
    let stride_x = r.read_i32()?;
    let padding_y = r.read_i32()?;
    let padding_x = r.read_i32()?;
    // `*_pool_everything` (size 0) has padding 0 whatever its stride.
    let pad = if size == 0 {
        0
    } else {
        default_padding(size, stride)
    };
    let found = (nr, nc, stride_y, stride_x, padding_y, padding_x);
    let expected = (
        size as u64,
        size as u64,
        stride as i32,
        stride as i32,
        pad as i32,
        pad as i32,
    );
    if found != expected {
        return Err(mismatch(tag, offset, expected, found));
    }
    Ok(Pool {
        window: [size, size],
        stride: [stride, stride],
        padding: [pad; 2],
    })
}

fn read_fc(r: &mut DatReader<'_>, outputs: usize) -> Result<FullyConnected, DatError> {
    let offset = r.position();
    r.expect_string("fc_2")?;
    let num_outputs = r.read_u64()?;
    let num_inputs = r.read_u64()?;
    let params = read_tensor(r, "fc_ params")?;
    let weights = read_alias_tensor(r, "fc_ weights")?;
    let _biases = read_alias_tensor(r, "fc_ biases")?;
    let bias_mode = r.read_i32()?;
    for _ in 0..4 {
        // learning-rate and weight-decay multipliers: training only.
        r.read_f64()?;
    }
    if num_outputs != outputs as u64 || bias_mode != FC_NO_BIAS {
        return Err(mismatch(
            "fc_no_bias (num_outputs, bias_mode)",
            offset,
            (outputs, FC_NO_BIAS),
            (num_outputs, bias_mode),
        ));
    }
    let inputs = weights[0];
    if weights != [inputs, outputs, 1, 1] || inputs as u64 != num_inputs || inputs == 0 {
        return Err(mismatch(
            "fc_ weight shape",
            offset,
            [num_inputs as usize, outputs, 1, 1],
            weights,
        ));
    }
    let n_weights = inputs * outputs;
    let with_bias = bias_mode == FC_HAS_BIAS;
    let expected_len = n_weights + if with_bias { outputs } else { 0 };
    if params.data.len() != expected_len {
        return Err(mismatch(
            "fc_ parameter count",
            offset,
            expected_len,
            params.data.len(),
        ));
    }
    let mut w = params.data;
    let bias = if with_bias {
        Some(w.split_off(n_weights))
    } else {
        None
    };
    Ok(FullyConnected {
        inputs,
        outputs,
        weights: w,
        bias,
    })
}

fn read_details(r: &mut DatReader<'_>, spec: Spec) -> Result<Option<Layer>, DatError> {
    Ok(Some(match spec {
        Spec::Conv {
            filters,
            size,
            stride,
        } => Layer::Conv(read_conv(r, filters, size, stride)?),
        Spec::Affine => Layer::Affine(read_affine(r)?),
        Spec::Relu => {
            r.expect_string("relu_")?;
            Layer::Relu
        }
        Spec::MaxPool { size, stride } => Layer::MaxPool(read_pool(r, "max_pool_2", size, stride)?),
        Spec::AvgPool { size, stride } => Layer::AvgPool(read_pool(r, "avg_pool_2", size, stride)?),
        Spec::AddPrev(tag) => {
            r.expect_string("add_prev_")?;
            Layer::AddPrev { tag }
        }
        Spec::FcNoBias { outputs } => Layer::Fc(read_fc(r, outputs)?),
        Spec::Tag(_) | Spec::Skip(_) => return Ok(None),
    }))
}

/// The bookkeeping `add_layer` writes after a layer's details: flags and cached
/// training tensors (normally empty). Only validated and skipped.
fn skip_add_layer_state(
    r: &mut DatReader<'_>,
    version: i32,
    on_input: bool,
) -> Result<(), DatError> {
    r.read_bool()?; // this_layer_setup_called
    r.read_bool()?; // gradient_input_is_stale
    r.read_bool()?; // get_output_and_gradient_input_disabled
    read_tensor(r, "x_grad")?;
    read_tensor(r, "cached_output")?;
    if on_input {
        read_tensor(r, "grad_final")?;
        if version >= 3 {
            r.read_u32()?; // _sample_expansion_factor
        }
    } else if version >= 2 {
        read_tensor(r, "params_grad")?;
    }
    Ok(())
}

fn read_input(r: &mut DatReader<'_>) -> Result<InputRgbImageSized, DatError> {
    let offset = r.position();
    r.expect_string("input_rgb_image_sized")?;
    let mut mean_rgb = [0f32; 3];
    for m in &mut mean_rgb {
        let v = r.read_f32()?;
        if !v.is_finite() || !(0.0..=255.0).contains(&v) {
            return Err(DatError::Invalid(format!(
                "input channel mean {v} near byte {offset}"
            )));
        }
        *m = v;
    }
    let rows = r.read_u64()?;
    let cols = r.read_u64()?;
    if rows != 150 || cols != 150 {
        return Err(mismatch(
            "input_rgb_image_sized size",
            offset,
            (150, 150),
            (rows, cols),
        ));
    }
    Ok(InputRgbImageSized {
        mean_rgb,
        rows: rows as usize,
        cols: cols as usize,
    })
}

/// Parses dlib's `dlib_face_recognition_resnet_model_v1.dat` into a layer list.
///
/// The file must have exactly the architecture of dlib's `anet_type`
/// (`dnn_face_recognition_ex.cpp`); any other network, version or truncated data
/// is reported as a [`DatError`].
pub fn parse_face_recognition_resnet(dat: &[u8]) -> Result<DlibNet, DatError> {
    let mut r = DatReader::new(dat);

    // add_loss_layer: version, loss details, then the subnetwork.
    expect_version_in(&mut r, "dlib::add_loss_layer", 1..=1)?;
    r.expect_string("loss_metric_2")?;
    let margin = r.read_f32()?;
    let distance_threshold = r.read_f32()?;

    // Descend: each layer's version, outermost (next to the loss) first.
    let specs = face_resnet_specs();
    let mut versions = vec![0i32; specs.len()];
    for (i, spec) in specs.iter().enumerate().rev() {
        versions[i] = if spec.is_tag_or_skip() {
            expect_version_in(&mut r, "dlib::add_tag_layer/add_skip_layer", 1..=1)?
        } else if i == 0 {
            // The add_layer holding the input layer is a different specialization.
            expect_version_in(&mut r, "dlib::add_layer (on input)", 2..=3)?
        } else {
            expect_version_in(&mut r, "dlib::add_layer", 1..=2)?
        };
    }
    let input = read_input(&mut r)?;

    // Unwind: details of each layer, innermost first.
    let mut layers = Vec::with_capacity(specs.len());
    for (i, &spec) in specs.iter().enumerate() {
        match read_details(&mut r, spec)? {
            Some(layer) => {
                skip_add_layer_state(&mut r, versions[i], i == 0)?;
                layers.push(layer);
            }
            None => layers.push(match spec {
                Spec::Tag(id) => Layer::Tag(id),
                Spec::Skip(id) => Layer::Skip(id),
                _ => return Err(DatError::Invalid("internal: spec without details".into())),
            }),
        }
    }
    if r.remaining() != 0 {
        return Err(DatError::Invalid(format!(
            "{} unexpected trailing byte(s) after the network at byte {}",
            r.remaining(),
            r.position()
        )));
    }
    Ok(DlibNet {
        loss: LossMetric {
            margin,
            distance_threshold,
        },
        input,
        layers,
    })
}
