//! A minimal protocol-buffers *writer*, just enough to emit ONNX `ModelProto` bytes.
//!
//! ONNX models are protobuf messages. Pulling in a protobuf code generator for the
//! handful of messages we emit would cost far more than the ~100 lines below: the wire
//! format only needs varints and length-delimited fields.

/// Wire type of varint-encoded scalars (`int32`, `int64`, `enum`, `bool`).
const WIRE_VARINT: u8 = 0;
/// Wire type of length-delimited values (strings, bytes, embedded messages).
const WIRE_LEN: u8 = 2;

/// Appends `value` to `out` as a base-128 varint (least significant group first).
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        // Low 7 bits with the continuation bit set; truncation is the point here.
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// One protobuf message under construction; fields are appended in call order.
#[derive(Debug, Default, Clone)]
pub struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty message with room for `bytes` of fields.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
        }
    }

    /// Bytes encoded so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no field was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The encoded bytes of the message (without any length prefix).
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn key(&mut self, field: u32, wire: u8) {
        put_varint(&mut self.buf, (u64::from(field) << 3) | u64::from(wire));
    }

    /// An `int64` field. Negative values take ten bytes (two's complement), as
    /// protobuf specifies for non-zigzag signed types.
    pub fn int64(&mut self, field: u32, value: i64) -> &mut Self {
        self.key(field, WIRE_VARINT);
        // Reinterpreting the bits is exactly protobuf's int64 encoding.
        put_varint(&mut self.buf, value as u64);
        self
    }

    /// A `bytes` field.
    pub fn bytes(&mut self, field: u32, value: &[u8]) -> &mut Self {
        self.key(field, WIRE_LEN);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(value);
        self
    }

    /// A `bytes` field holding `values` as little-endian float32s (ONNX `raw_data`),
    /// written straight into the message: the weights of a large network are copied
    /// once here, not first into a temporary buffer.
    pub fn f32_bytes(&mut self, field: u32, values: &[f32]) -> &mut Self {
        self.key(field, WIRE_LEN);
        put_varint(&mut self.buf, (values.len() * 4) as u64);
        // Sized once, then filled four bytes at a time: a loop the compiler turns into
        // a plain copy on a little-endian machine (a per-value `extend_from_slice` does not).
        let start = self.buf.len();
        self.buf.resize(start + values.len() * 4, 0);
        for (out, v) in self.buf[start..].chunks_exact_mut(4).zip(values) {
            out.copy_from_slice(&v.to_le_bytes());
        }
        self
    }

    /// A `string` field (UTF-8 bytes, length-delimited).
    pub fn string(&mut self, field: u32, value: &str) -> &mut Self {
        self.bytes(field, value.as_bytes())
    }

    /// An embedded message field.
    pub fn message(&mut self, field: u32, value: &Msg) -> &mut Self {
        self.bytes(field, &value.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        out
    }

    #[test]
    fn varints_match_the_protobuf_spec() {
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(1), [0x01]);
        assert_eq!(varint(127), [0x7f]);
        assert_eq!(varint(128), [0x80, 0x01]);
        // The example from the protobuf encoding guide.
        assert_eq!(varint(150), [0x96, 0x01]);
        assert_eq!(varint(300), [0xac, 0x02]);
        assert_eq!(varint(16_384), [0x80, 0x80, 0x01]);
        assert_eq!(
            varint(u64::MAX),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn float_bytes_are_the_little_endian_raw_data() {
        let values = [1.0f32, -2.5, f32::MIN_POSITIVE, 3.25e7];
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut expected = Msg::new();
        expected.bytes(9, &raw);
        let mut m = Msg::new();
        m.f32_bytes(9, &values);
        assert_eq!(m.len(), 2 + 16);
        assert_eq!(m.into_bytes(), expected.into_bytes());
        // Appended after what the message already holds.
        let (mut first, mut expected) = (Msg::new(), Msg::new());
        first.int64(1, 150).f32_bytes(9, &values);
        expected.int64(1, 150).bytes(9, &raw);
        assert_eq!(first.into_bytes(), expected.into_bytes());
    }

    #[test]
    fn fields_are_keyed_and_length_prefixed() {
        let mut m = Msg::new();
        m.int64(1, 150);
        assert_eq!(m.clone().into_bytes(), [0x08, 0x96, 0x01]);

        let mut m = Msg::new();
        m.string(2, "testing");
        assert_eq!(
            m.into_bytes(),
            [0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g']
        );

        // -1 as int64 is ten bytes of two's complement.
        let mut m = Msg::new();
        m.int64(3, -1);
        let b = m.into_bytes();
        assert_eq!(b.len(), 11);
        assert_eq!(b[0], 0x18);
        assert_eq!(b[10], 0x01);

        let mut inner = Msg::new();
        inner.int64(1, 150);
        let mut outer = Msg::new();
        outer.message(3, &inner);
        assert_eq!(outer.into_bytes(), [0x1a, 0x03, 0x08, 0x96, 0x01]);
    }
}
