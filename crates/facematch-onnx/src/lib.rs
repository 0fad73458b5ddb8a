//! A small writer of ONNX models, for networks whose weights ship in another format
//! (dlib's `.dat`, TensorFlow.js weight shards) and are turned into an ONNX graph in
//! memory when the model is loaded.
//!
//! [`GraphBuilder`] collects nodes and float/int initializers and [`GraphBuilder::finish`]
//! writes the `ModelProto` bytes. Only what those converters need is here: the protobuf
//! wire format is a handful of varints and length-delimited fields ([`proto`]).

pub mod free_dims;
pub mod proto;

pub use free_dims::{free_input_dims, FreeDimsError};
pub use proto::Msg;

/// ONNX IR version written into the model (ONNX 1.13+; ORT ≥ 1.14 reads it).
const IR_VERSION: i64 = 8;
/// Default-domain opset: 13 is the first with `Pad`'s pads as an input and is
/// supported by every ONNX Runtime release of the last years.
const OPSET: i64 = 13;

// TensorProto.DataType values.
const DT_FLOAT: i64 = 1;
const DT_INT64: i64 = 7;
// AttributeProto.AttributeType values.
const AT_INT: i64 = 2;
const AT_INTS: i64 = 7;

/// One dimension of a graph input or output: fixed, or a named symbolic size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A symbolic size, such as the batch `N`.
    Named(&'static str),
}

/// An `ints` attribute (`kernel_shape`, `strides`, `pads`, ...).
pub fn attr_ints(name: &str, values: &[usize]) -> Msg {
    let mut a = Msg::new();
    a.string(1, name);
    for &v in values {
        // Model dimensions are small; they always fit an i64.
        a.int64(8, v as i64);
    }
    a.int64(20, AT_INTS);
    a
}

/// An `int` attribute (`axis`, `group`, ...).
pub fn attr_int(name: &str, value: i64) -> Msg {
    let mut a = Msg::new();
    a.string(1, name);
    a.int64(3, value);
    a.int64(20, AT_INT);
    a
}

/// Accumulates the nodes and initializers of one graph.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    nodes: Vec<Msg>,
    initializers: Vec<Msg>,
    counter: usize,
}

impl GraphBuilder {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// A value name not used before: `prefix_N`.
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{}", self.counter)
    }

    fn tensor_header(name: &str, dims: &[usize], data_type: i64) -> Msg {
        let mut t = Msg::new();
        for &d in dims {
            t.int64(1, d as i64);
        }
        t.int64(2, data_type);
        t.string(8, name);
        t
    }

    /// Adds a float32 initializer (stored as little-endian `raw_data`) and returns
    /// its name.
    pub fn init_f32(&mut self, prefix: &str, dims: &[usize], data: &[f32]) -> String {
        let name = self.fresh(prefix);
        let mut t = Self::tensor_header(&name, dims, DT_FLOAT);
        t.f32_bytes(9, data);
        self.initializers.push(t);
        name
    }

    /// Adds a one-dimensional int64 initializer and returns its name.
    pub fn init_i64(&mut self, prefix: &str, data: &[i64]) -> String {
        let name = self.fresh(prefix);
        let mut t = Self::tensor_header(&name, &[data.len()], DT_INT64);
        let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        t.bytes(9, &raw);
        self.initializers.push(t);
        name
    }

    /// Adds a node of operator `op` writing `output`.
    pub fn node(&mut self, op: &str, inputs: &[&str], output: &str, attrs: &[Msg]) {
        let mut n = Msg::new();
        for i in inputs {
            n.string(1, i);
        }
        n.string(2, output);
        n.string(3, &format!("{op}_{output}"));
        n.string(4, op);
        for a in attrs {
            n.message(5, a);
        }
        self.nodes.push(n);
    }

    /// Adds a single-input node and returns its fresh output name.
    pub fn unary(&mut self, op: &str, input: &str) -> String {
        let out = self.fresh(&op.to_ascii_lowercase());
        self.node(op, &[input], &out, &[]);
        out
    }

    /// Writes the model: the graph `name` with float32 `inputs` and `outputs`
    /// (name and shape each), produced by `producer` at `version`.
    pub fn finish(
        self,
        name: &str,
        inputs: &[(&str, &[Dim])],
        outputs: &[(&str, &[Dim])],
        producer: (&str, &str),
    ) -> Vec<u8> {
        // Sized up front: the weights of a large network are copied once more here,
        // and once into the model, never through a growing buffer.
        let fields: usize = self
            .nodes
            .iter()
            .chain(&self.initializers)
            .map(|m| m.len() + 16)
            .sum();
        let mut graph = Msg::with_capacity(fields + 4096);
        for n in &self.nodes {
            graph.message(1, n);
        }
        graph.string(2, name);
        for t in &self.initializers {
            graph.message(5, t);
        }
        for (name, dims) in inputs {
            graph.message(11, &value_info(name, dims));
        }
        for (name, dims) in outputs {
            graph.message(12, &value_info(name, dims));
        }
        let mut opset = Msg::new();
        opset.string(1, "");
        opset.int64(2, OPSET);

        let mut model = Msg::with_capacity(graph.len() + 1024);
        model.int64(1, IR_VERSION);
        model.string(2, producer.0);
        model.string(3, producer.1);
        model.message(7, &graph);
        model.message(8, &opset);
        model.into_bytes()
    }
}

fn value_info(name: &str, dims: &[Dim]) -> Msg {
    let mut shape = Msg::new();
    for d in dims {
        let mut dim = Msg::new();
        match d {
            Dim::Fixed(v) => dim.int64(1, *v as i64),
            Dim::Named(param) => dim.string(2, param),
        };
        shape.message(1, &dim);
    }
    let mut tensor_type = Msg::new();
    tensor_type.int64(1, DT_FLOAT);
    tensor_type.message(2, &shape);
    let mut ty = Msg::new();
    ty.message(1, &tensor_type);
    let mut vi = Msg::new();
    vi.string(1, name);
    vi.message(2, &ty);
    vi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_never_repeat() {
        let mut g = GraphBuilder::new();
        let a = g.fresh("x");
        let b = g.fresh("x");
        assert_eq!((a.as_str(), b.as_str()), ("x_1", "x_2"));
    }

    // That a written model loads and computes in ONNX Runtime:
    // tests/runs_in_onnx_runtime.rs.
}
