//! Freeing the declared size of an existing model's input.
//!
//! Some exported models declare a fixed input size although every operator in them
//! works at any size (YuNet: convolutions, `Reshape` to `[1, -1, k]`, `Resize` by
//! scale factors). ONNX Runtime refuses any other input shape than the declared one,
//! so [`free_input_dims`] rewrites the declaration: the named dimensions of one input
//! become symbolic, and every graph output's shape is dropped (it is optional in ONNX
//! and would be wrong at other sizes). Nothing else of the model changes: each other
//! field is copied byte for byte.
//!
//! A reader for the few messages touched is all this needs (`ModelProto.graph`,
//! `GraphProto.input/output`, `ValueInfoProto.type`, `TypeProto.tensor_type`,
//! `TypeProto.Tensor.shape`), so it is written here over the wire format rather than
//! generating code for all of ONNX's schema.

use crate::proto::put_varint;

/// Why a model could not be rewritten.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FreeDimsError {
    /// The bytes are not a well-formed protobuf message.
    #[error("malformed ONNX model: {0}")]
    Malformed(&'static str),
    /// The model has no graph input of that name.
    #[error("the model has no input named {0:?}")]
    NoSuchInput(String),
    /// The input has fewer dimensions than the index asked for.
    #[error("input {input:?} has no dimension {index}")]
    NoSuchDim {
        /// The input's name.
        input: String,
        /// The dimension asked for.
        index: usize,
    },
}

// Field numbers of the ONNX messages walked here (onnx.proto3).
const MODEL_GRAPH: u32 = 7;
const GRAPH_INPUT: u32 = 11;
const GRAPH_OUTPUT: u32 = 12;
const VALUE_INFO_NAME: u32 = 1;
const VALUE_INFO_TYPE: u32 = 2;
const TYPE_TENSOR: u32 = 1;
const TENSOR_SHAPE: u32 = 2;
const SHAPE_DIM: u32 = 1;
const DIM_PARAM: u32 = 2;

const WIRE_VARINT: u8 = 0;
const WIRE_I64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_I32: u8 = 5;

/// One field of a message as it lies on the wire: its number, wire type, and the
/// bytes of its value (for length-delimited fields, without the length prefix).
#[derive(Debug, Clone, Copy)]
struct Field<'a> {
    number: u32,
    wire: u8,
    /// The whole encoded field (key, length, value), to copy unchanged.
    raw: &'a [u8],
    /// The value (payload of a length-delimited field).
    value: &'a [u8],
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Result<u64, FreeDimsError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes
            .get(*at)
            .ok_or(FreeDimsError::Malformed("truncated varint"))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(FreeDimsError::Malformed("varint longer than 10 bytes"))
}

/// The fields of one message, in order.
fn fields(bytes: &[u8]) -> Result<Vec<Field<'_>>, FreeDimsError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let key = read_varint(bytes, &mut at)?;
        let number =
            u32::try_from(key >> 3).map_err(|_| FreeDimsError::Malformed("field number"))?;
        let wire = (key & 7) as u8;
        let (value_start, len) = match wire {
            WIRE_VARINT => {
                read_varint(bytes, &mut at)?;
                (at, 0)
            }
            WIRE_I64 => (at, 8),
            WIRE_I32 => (at, 4),
            WIRE_LEN => {
                let len = usize::try_from(read_varint(bytes, &mut at)?)
                    .map_err(|_| FreeDimsError::Malformed("length"))?;
                (at, len)
            }
            _ => return Err(FreeDimsError::Malformed("unsupported wire type")),
        };
        let end = value_start
            .checked_add(len)
            .filter(|&end| end <= bytes.len())
            .ok_or(FreeDimsError::Malformed("field runs past the end"))?;
        at = end;
        out.push(Field {
            number,
            wire,
            raw: &bytes[start..end],
            value: &bytes[value_start..end],
        });
    }
    Ok(out)
}

/// What becomes of a field's value: its new value, or `None` to drop the field.
type Edit<'e> = dyn FnMut(&[u8]) -> Result<Option<Vec<u8>>, FreeDimsError> + 'e;

/// Appends a length-delimited field.
fn put_len_field(out: &mut Vec<u8>, number: u32, value: &[u8]) {
    put_varint(out, (u64::from(number) << 3) | u64::from(WIRE_LEN));
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// Copies `message`, replacing each length-delimited field `number` by what `edit`
/// makes of its value (`None`: drop the field).
fn rewrite_fields(
    message: &[u8],
    number: u32,
    edit: &mut Edit<'_>,
) -> Result<Vec<u8>, FreeDimsError> {
    let mut out = Vec::with_capacity(message.len());
    for field in fields(message)? {
        if field.number == number && field.wire == WIRE_LEN {
            if let Some(value) = edit(field.value)? {
                put_len_field(&mut out, number, &value);
            }
        } else {
            out.extend_from_slice(field.raw);
        }
    }
    Ok(out)
}

/// The name of a `ValueInfoProto`.
fn value_info_name(value_info: &[u8]) -> Result<String, FreeDimsError> {
    Ok(fields(value_info)?
        .iter()
        .find(|f| f.number == VALUE_INFO_NAME && f.wire == WIRE_LEN)
        .map(|f| String::from_utf8_lossy(f.value).into_owned())
        .unwrap_or_default())
}

/// A `ValueInfoProto` whose tensor shape is edited by `edit_shape` (`None`: removed).
fn edit_value_info_shape(
    value_info: &[u8],
    edit_shape: &mut Edit<'_>,
) -> Result<Vec<u8>, FreeDimsError> {
    rewrite_fields(value_info, VALUE_INFO_TYPE, &mut |ty| {
        rewrite_fields(ty, TYPE_TENSOR, &mut |tensor| {
            rewrite_fields(tensor, TENSOR_SHAPE, &mut *edit_shape).map(Some)
        })
        .map(Some)
    })
}

/// Rewrites `model` so that dimension `index` of input `input` is the symbolic size
/// `name`, for each `(index, name)` in `dims`, and no graph output declares a shape.
pub fn free_input_dims(
    model: &[u8],
    input: &str,
    dims: &[(usize, &str)],
) -> Result<Vec<u8>, FreeDimsError> {
    let mut found = false;
    let out = rewrite_fields(model, MODEL_GRAPH, &mut |graph| {
        let graph = rewrite_fields(graph, GRAPH_INPUT, &mut |value_info| {
            if value_info_name(value_info)? != input {
                return Ok(Some(value_info.to_vec()));
            }
            found = true;
            edit_value_info_shape(value_info, &mut |shape| {
                free_dims_of_shape(shape, input, dims).map(Some)
            })
            .map(Some)
        })?;
        rewrite_fields(&graph, GRAPH_OUTPUT, &mut |value_info| {
            edit_value_info_shape(value_info, &mut |_| Ok(None)).map(Some)
        })
        .map(Some)
    })?;
    if !found {
        return Err(FreeDimsError::NoSuchInput(input.to_string()));
    }
    Ok(out)
}

/// A `TensorShapeProto` with the dimensions at `dims`' indices made symbolic.
fn free_dims_of_shape(
    shape: &[u8],
    input: &str,
    dims: &[(usize, &str)],
) -> Result<Vec<u8>, FreeDimsError> {
    let mut out = Vec::with_capacity(shape.len() + 16);
    let mut index = 0;
    for field in fields(shape)? {
        if field.number != SHAPE_DIM || field.wire != WIRE_LEN {
            out.extend_from_slice(field.raw);
            continue;
        }
        match dims.iter().find(|(i, _)| *i == index) {
            Some((_, name)) => {
                let mut dim = Vec::new();
                put_len_field(&mut dim, DIM_PARAM, name.as_bytes());
                put_len_field(&mut out, SHAPE_DIM, &dim);
            }
            None => out.extend_from_slice(field.raw),
        }
        index += 1;
    }
    if let Some((missing, _)) = dims.iter().find(|(i, _)| *i >= index) {
        return Err(FreeDimsError::NoSuchDim {
            input: input.to_string(),
            index: *missing,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dim, GraphBuilder};

    fn identity_model(h: usize, w: usize) -> Vec<u8> {
        let mut g = GraphBuilder::new();
        g.node("Identity", &["x"], "y", &[]);
        let dims = [Dim::Fixed(1), Dim::Fixed(3), Dim::Fixed(h), Dim::Fixed(w)];
        g.finish("g", &[("x", &dims)], &[("y", &dims)], ("test", "1"))
    }

    /// The dims of every value info of the graph, as (name, [value or param]).
    fn declared(model: &[u8]) -> Vec<(u32, String, Vec<String>)> {
        let mut out = Vec::new();
        for f in fields(model).expect("model") {
            if f.number != MODEL_GRAPH {
                continue;
            }
            for g in fields(f.value).expect("graph") {
                if g.number != GRAPH_INPUT && g.number != GRAPH_OUTPUT {
                    continue;
                }
                let mut dims = Vec::new();
                for v in fields(g.value).expect("vi") {
                    if v.number != VALUE_INFO_TYPE {
                        continue;
                    }
                    for t in fields(v.value).expect("type") {
                        for s in fields(t.value).expect("tensor") {
                            if s.number != TENSOR_SHAPE {
                                continue;
                            }
                            for d in fields(s.value).expect("shape") {
                                for x in fields(d.value).expect("dim") {
                                    dims.push(match x.number {
                                        DIM_PARAM => String::from_utf8_lossy(x.value).into(),
                                        _ => {
                                            let mut at = 0;
                                            read_varint(d.value, &mut at).expect("key");
                                            read_varint(d.value, &mut at).expect("v").to_string()
                                        }
                                    });
                                }
                            }
                        }
                    }
                }
                out.push((g.number, value_info_name(g.value).expect("name"), dims));
            }
        }
        out
    }

    #[test]
    fn named_dims_become_symbolic_and_output_shapes_go() {
        let model = identity_model(640, 640);
        let freed = free_input_dims(&model, "x", &[(2, "height"), (3, "width")]).expect("ok");
        assert_eq!(
            declared(&model),
            vec![
                (
                    GRAPH_INPUT,
                    "x".into(),
                    vec!["1".into(), "3".into(), "640".into(), "640".into()]
                ),
                (
                    GRAPH_OUTPUT,
                    "y".into(),
                    vec!["1".into(), "3".into(), "640".into(), "640".into()]
                ),
            ]
        );
        assert_eq!(
            declared(&freed),
            vec![
                (
                    GRAPH_INPUT,
                    "x".into(),
                    vec!["1".into(), "3".into(), "height".into(), "width".into()]
                ),
                (GRAPH_OUTPUT, "y".into(), vec![]),
            ]
        );
    }

    #[test]
    fn unknown_inputs_dims_and_garbage_are_errors() {
        let model = identity_model(4, 4);
        assert_eq!(
            free_input_dims(&model, "nope", &[(2, "h")]),
            Err(FreeDimsError::NoSuchInput("nope".into()))
        );
        assert!(matches!(
            free_input_dims(&model, "x", &[(4, "h")]),
            Err(FreeDimsError::NoSuchDim { index: 4, .. })
        ));
        assert!(matches!(
            free_input_dims(&[0x3a, 0xff, 0x01], "x", &[]),
            Err(FreeDimsError::Malformed(_))
        ));
        assert!(matches!(
            free_input_dims(&[0x0b], "x", &[]),
            Err(FreeDimsError::Malformed(_))
        ));
    }
}
