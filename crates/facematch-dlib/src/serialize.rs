//! Bounds-checked readers for dlib's binary serialization format (`dlib/serialize.h`).
//!
//! dlib writes everything through a handful of primitives:
//!
//! * **integers** (all widths except `char`): a control byte, then the absolute value in
//!   little-endian order using only as many bytes as needed. The control byte's low 4 bits
//!   hold that byte count and its high bit (`0x80`) marks a negative number.
//! * **floats / doubles**: converted to a `float_details` pair — a signed 64-bit mantissa
//!   and a 16-bit exponent, value = mantissa · 2^exponent — and written as two integers
//!   (mantissa first). Exponents 32000/32001/32002 encode +inf/−inf/NaN.
//! * **`std::string`, `std::vector<T>`**: an `unsigned long` element count, then the
//!   elements (raw bytes for strings and `vector<char>`).
//! * **`dlib::matrix<T>`**: rows and columns as `long`s (negated in the current format),
//!   then the elements in row-major order.
//! * **`dlib::vector<T,2>`**: `x` then `y`.
//!
//! [`DatReader`] reads these from a byte slice. Every read is bounds-checked and returns a
//! [`DatError`] instead of panicking, and every length read from the file is capped (by
//! the bytes that remain, since each element occupies at least one byte, and by explicit
//! limits), so a hostile file cannot make us allocate gigabytes.
//!
//! This module is shared by the shape-predictor and ResNet readers; its API is stable.

use crate::error::{DatError, DatResult};

/// Hard upper bound for any element count read from a file. The largest arrays in dlib's
/// face models hold a few million floats; this leaves ample headroom while still
/// rejecting absurd values early.
pub const MAX_ELEMENTS: u64 = 1 << 28;

/// float_details exponent value meaning +infinity.
const EXP_INF: i16 = 32000;
/// float_details exponent value meaning −infinity.
const EXP_NINF: i16 = 32001;

/// A dense row-major matrix as dlib serializes `dlib::matrix<T>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix<T> {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` elements in row-major order.
    pub data: Vec<T>,
}

/// Most elements of a generic vector or matrix reserved before they are read (see
/// [`DatReader::read_vec`]).
const PREALLOCATE_MAX: usize = 4096;

/// A cursor over a byte slice holding dlib-serialized data.
///
/// After an error the cursor position is unspecified and the reader should be dropped,
/// like a failed C++ stream.
#[derive(Debug, Clone)]
pub struct DatReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> DatReader<'a> {
    /// Starts reading at the beginning of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Current offset from the start of the input, in bytes.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Number of bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// True when every byte has been consumed.
    pub fn is_at_end(&self) -> bool {
        self.remaining() == 0
    }

    /// Peeks at the next byte without consuming it.
    pub fn peek_byte(&self) -> DatResult<u8> {
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.truncated(1))
    }

    /// Reads one raw byte (dlib's encoding of `char` / `unsigned char`).
    pub fn read_byte(&mut self) -> DatResult<u8> {
        let b = self.peek_byte()?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads `n` raw bytes.
    pub fn read_bytes(&mut self, n: usize) -> DatResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.truncated(n));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> DatResult<()> {
        self.read_bytes(n).map(|_| ())
    }

    fn truncated(&self, needed: usize) -> DatError {
        DatError::Truncated {
            offset: self.pos,
            needed,
            available: self.remaining(),
        }
    }

    /// Reads the control byte and magnitude of an integer holding at most `width` bytes.
    /// Returns `(negative, magnitude)`.
    fn read_int_parts(&mut self, width: u8, signed: bool) -> DatResult<(bool, u64)> {
        let offset = self.pos;
        let ctrl = self.read_byte()?;
        let negative = ctrl & 0x80 != 0;
        // dlib's signed reader ignores the three reserved bits (0x70); its unsigned reader
        // keeps the sign bit in the size, so a negative value for an unsigned type fails.
        let size = if signed { ctrl & 0x0F } else { ctrl & 0x8F };
        if !signed && negative {
            return Err(DatError::BadVarint {
                offset,
                reason: "negative value for an unsigned integer",
            });
        }
        if size > width {
            return Err(DatError::BadVarint {
                offset,
                reason: "more bytes than the target integer type holds",
            });
        }
        if size == 0 {
            // dlib never writes a zero-length integer (zero is one 0x00 byte) and its
            // reader has undefined behaviour on one, so reject it.
            return Err(DatError::BadVarint {
                offset,
                reason: "zero-length integer",
            });
        }
        let raw = self.read_bytes(usize::from(size))?;
        let magnitude = raw
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        Ok((negative, magnitude))
    }

    /// Reads an unsigned integer of `width` bytes (as `unpack_int` does for unsigned types).
    fn read_unsigned(&mut self, width: u8) -> DatResult<u64> {
        Ok(self.read_int_parts(width, false)?.1)
    }

    /// Reads a signed integer of `width` bytes. Like dlib, the magnitude is accumulated
    /// in the target width (wrapping) and then negated.
    fn read_signed(&mut self, width: u8) -> DatResult<i64> {
        let (negative, magnitude) = self.read_int_parts(width, true)?;
        let bits = u32::from(width) * 8;
        // Sign-extend the wrapped `width`-byte value, as the C++ code would see it.
        let shift = 64 - bits;
        let v = ((magnitude << shift) as i64) >> shift;
        let v = if negative { v.wrapping_neg() } else { v };
        // Re-wrap the negation into the target width (e.g. -(i32::MIN) stays i32::MIN).
        Ok((v << shift) >> shift)
    }

    /// Reads a `uint64` / `unsigned long` (8 bytes on the LP64 platforms dlib models come from).
    pub fn read_u64(&mut self) -> DatResult<u64> {
        self.read_unsigned(8)
    }

    /// Reads an `int64` / `long`.
    pub fn read_i64(&mut self) -> DatResult<i64> {
        self.read_signed(8)
    }

    /// Reads an `unsigned int`.
    pub fn read_u32(&mut self) -> DatResult<u32> {
        // read_unsigned(4) never yields more than 32 bits.
        Ok(self.read_unsigned(4)? as u32)
    }

    /// Reads an `int`.
    pub fn read_i32(&mut self) -> DatResult<i32> {
        Ok(self.read_signed(4)? as i32)
    }

    /// Reads an `unsigned short`.
    pub fn read_u16(&mut self) -> DatResult<u16> {
        Ok(self.read_unsigned(2)? as u16)
    }

    /// Reads a `short` / `int16`.
    pub fn read_i16(&mut self) -> DatResult<i16> {
        Ok(self.read_signed(2)? as i16)
    }

    /// Reads a `bool`, which dlib writes as the ASCII byte `'1'` or `'0'`.
    pub fn read_bool(&mut self) -> DatResult<bool> {
        let offset = self.pos;
        match self.read_byte()? {
            b'1' => Ok(true),
            b'0' => Ok(false),
            _ => Err(DatError::BadVarint {
                offset,
                reason: "bool is neither '0' nor '1'",
            }),
        }
    }

    /// Reads the raw `(mantissa, exponent)` pair of a `float_details`.
    pub fn read_float_details(&mut self) -> DatResult<(i64, i16)> {
        // dlib tells its binary float format from the pre-2013 ASCII one by the first
        // byte: an integer control byte never has any of the bits 0x70 set.
        let offset = self.pos;
        if self.peek_byte()? & 0x70 != 0 {
            return Err(DatError::Unsupported {
                offset,
                what: "old ASCII floating point format",
            });
        }
        let mantissa = self.read_i64()?;
        let exponent = self.read_i16()?;
        Ok((mantissa, exponent))
    }

    /// Reads a `float` (dlib's `float_details` encoding), converting exactly as dlib does:
    /// `ldexpf((float)mantissa, exponent)`.
    pub fn read_f32(&mut self) -> DatResult<f32> {
        let (m, e) = self.read_float_details()?;
        Ok(match e {
            EXP_INF => f32::INFINITY,
            EXP_NINF => f32::NEG_INFINITY,
            e if e > EXP_NINF => f32::NAN,
            e => ldexp_f32(m as f32, i32::from(e)),
        })
    }

    /// Reads a `double` (dlib's `float_details` encoding): `ldexp((double)mantissa, exponent)`.
    pub fn read_f64(&mut self) -> DatResult<f64> {
        let (m, e) = self.read_float_details()?;
        Ok(match e {
            EXP_INF => f64::INFINITY,
            EXP_NINF => f64::NEG_INFINITY,
            e if e > EXP_NINF => f64::NAN,
            e => ldexp_f64(m as f64, i32::from(e)),
        })
    }

    /// Reads an element count (an `unsigned long`) and checks it against `max` and against
    /// the remaining input, given that each element occupies at least `min_elem_bytes`.
    pub fn read_len(
        &mut self,
        what: &'static str,
        max: u64,
        min_elem_bytes: usize,
    ) -> DatResult<usize> {
        let offset = self.pos;
        let len = self.read_u64()?;
        let by_input = (self.remaining() / min_elem_bytes.max(1)) as u64;
        let limit = max.min(MAX_ELEMENTS).min(by_input);
        if len > limit {
            return Err(DatError::TooLarge {
                what,
                len,
                max: limit,
                offset,
            });
        }
        // len <= MAX_ELEMENTS, which fits usize on every supported platform.
        usize::try_from(len).map_err(|_| DatError::TooLarge {
            what,
            len,
            max: limit,
            offset,
        })
    }

    /// Reads a `std::string` as raw bytes (dlib does not enforce any encoding).
    pub fn read_byte_string(&mut self) -> DatResult<&'a [u8]> {
        let n = self.read_len("string length", MAX_ELEMENTS, 1)?;
        self.read_bytes(n)
    }

    /// Reads a `std::string`; non-UTF-8 bytes are replaced (dlib's tags are plain ASCII).
    pub fn read_string(&mut self) -> DatResult<String> {
        Ok(String::from_utf8_lossy(self.read_byte_string()?).into_owned())
    }

    /// Reads a `std::string` and fails with [`DatError::Invalid`] unless it equals `expected`
    /// (dlib uses such tags to name the layers of a network).
    pub fn expect_string(&mut self, expected: &str) -> DatResult<()> {
        let offset = self.pos;
        let s = self.read_byte_string()?;
        if s == expected.as_bytes() {
            Ok(())
        } else {
            Err(DatError::Invalid(format!(
                "expected tag {expected:?} at byte {offset}, found {:?}",
                String::from_utf8_lossy(s)
            )))
        }
    }

    /// Reads an `int` version tag and checks it.
    pub fn expect_version(&mut self, what: &'static str, expected: i32) -> DatResult<()> {
        let offset = self.pos;
        let found = self.read_i32()?;
        if found == expected {
            Ok(())
        } else {
            Err(DatError::UnexpectedVersion {
                what,
                found: i64::from(found),
                expected: i64::from(expected),
                offset,
            })
        }
    }

    /// Reads a `std::vector<T>` whose elements are read by `elem`. The length is capped by
    /// `max` and by the remaining input (every dlib element takes at least one byte).
    pub fn read_vec<T>(
        &mut self,
        max: u64,
        mut elem: impl FnMut(&mut Self) -> DatResult<T>,
    ) -> DatResult<Vec<T>> {
        let n = self.read_len("vector length", max, 1)?;
        // The length is only a claim: reserve a bounded amount up front and let the
        // vector grow as elements really arrive, so a hostile length cannot make us
        // allocate `n × size_of::<T>()` bytes for a file that holds a few bytes each.
        let mut out = Vec::with_capacity(n.min(PREALLOCATE_MAX));
        for _ in 0..n {
            out.push(elem(self)?);
        }
        Ok(out)
    }

    /// Reads a `std::vector<float>`.
    pub fn read_vec_f32(&mut self, max: u64) -> DatResult<Vec<f32>> {
        // A float takes at least 2 bytes (mantissa and exponent control bytes).
        let n = self.read_len("float vector length", max, 2)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.read_f32()?);
        }
        Ok(out)
    }

    /// Reads `out.len()` consecutive floats (e.g. the body of a serialized tensor).
    pub fn read_f32_into(&mut self, out: &mut [f32]) -> DatResult<()> {
        for v in out.iter_mut() {
            *v = self.read_f32()?;
        }
        Ok(())
    }

    /// Reads the `(rows, cols)` header of a `dlib::matrix`, accepting both the current
    /// (negated) and the old (positive) encoding, and checks `rows * cols <= max`.
    pub fn read_matrix_dims(
        &mut self,
        max: u64,
        min_elem_bytes: usize,
    ) -> DatResult<(usize, usize)> {
        let offset = self.pos;
        let mut nr = self.read_i64()?;
        let mut nc = self.read_i64()?;
        if nr < 0 || nc < 0 {
            nr = nr.wrapping_neg();
            nc = nc.wrapping_neg();
        }
        if nr < 0 || nc < 0 {
            return Err(DatError::BadVarint {
                offset,
                reason: "matrix dimensions of mixed sign",
            });
        }
        let count = (nr as u64).saturating_mul(nc as u64);
        let by_input = (self.remaining() / min_elem_bytes.max(1)) as u64;
        let limit = max.min(MAX_ELEMENTS).min(by_input);
        if count > limit {
            return Err(DatError::TooLarge {
                what: "matrix size",
                len: count,
                max: limit,
                offset,
            });
        }
        // The product is within limits; also bound each side so that a `0 x huge`
        // matrix cannot smuggle an absurd dimension into callers' index math.
        let too_big = |len: i64| DatError::TooLarge {
            what: "matrix dimension",
            len: len as u64,
            max: MAX_ELEMENTS,
            offset,
        };
        if nr as u64 > MAX_ELEMENTS {
            return Err(too_big(nr));
        }
        if nc as u64 > MAX_ELEMENTS {
            return Err(too_big(nc));
        }
        Ok((nr as usize, nc as usize))
    }

    /// Reads a `dlib::matrix<T>` whose elements are read by `elem`.
    pub fn read_matrix<T>(
        &mut self,
        max: u64,
        mut elem: impl FnMut(&mut Self) -> DatResult<T>,
    ) -> DatResult<Matrix<T>> {
        let (rows, cols) = self.read_matrix_dims(max, 1)?;
        let n = rows * cols;
        let mut data = Vec::with_capacity(n.min(PREALLOCATE_MAX));
        for _ in 0..n {
            data.push(elem(self)?);
        }
        Ok(Matrix { rows, cols, data })
    }

    /// Reads a `dlib::matrix<float>`.
    pub fn read_matrix_f32(&mut self, max: u64) -> DatResult<Matrix<f32>> {
        let (rows, cols) = self.read_matrix_dims(max, 2)?;
        let mut data = vec![0f32; rows * cols];
        self.read_f32_into(&mut data)?;
        Ok(Matrix { rows, cols, data })
    }

    /// Reads a `dlib::matrix<double>`.
    pub fn read_matrix_f64(&mut self, max: u64) -> DatResult<Matrix<f64>> {
        let (rows, cols) = self.read_matrix_dims(max, 2)?;
        let mut data = Vec::with_capacity(rows * cols);
        for _ in 0..rows * cols {
            data.push(self.read_f64()?);
        }
        Ok(Matrix { rows, cols, data })
    }

    /// Reads a `dlib::vector<float,2>` as `[x, y]`.
    pub fn read_vector2_f32(&mut self) -> DatResult<[f32; 2]> {
        Ok([self.read_f32()?, self.read_f32()?])
    }
}

/// `ldexp` for `f64`: `x · 2^e`, applied in steps so that large exponents neither
/// overflow the power of two nor lose the result prematurely.
pub fn ldexp_f64(mut x: f64, mut e: i32) -> f64 {
    // Each step multiplies by an exactly representable power of two.
    while e > 1023 {
        x *= f64::from_bits(0x7FE0_0000_0000_0000); // 2^1023
        e -= 1023;
        if x.is_infinite() {
            return x;
        }
    }
    while e < -1022 {
        x *= f64::from_bits(0x0010_0000_0000_0000); // 2^-1022
        e += 1022;
        if x == 0.0 {
            return x;
        }
    }
    x * f64::from_bits(((e + 1023) as u64) << 52)
}

/// `ldexpf` for `f32`, see [`ldexp_f64`].
pub fn ldexp_f32(mut x: f32, mut e: i32) -> f32 {
    while e > 127 {
        x *= f32::from_bits(0x7F00_0000); // 2^127
        e -= 127;
        if x.is_infinite() {
            return x;
        }
    }
    while e < -126 {
        x *= f32::from_bits(0x0080_0000); // 2^-126
        e += 126;
        if x == 0.0 {
            return x;
        }
    }
    x * f32::from_bits(((e + 127) as u32) << 23)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure
mod tests {
    use super::*;

    /// Encodes an integer the way dlib's `pack_int` does, for round-trip tests.
    fn pack(v: i64) -> Vec<u8> {
        let neg = v < 0;
        let mut m = v.unsigned_abs();
        let mut bytes = Vec::new();
        loop {
            bytes.push((m & 0xFF) as u8);
            m >>= 8;
            if m == 0 {
                break;
            }
        }
        let mut out = vec![bytes.len() as u8 | if neg { 0x80 } else { 0 }];
        out.extend(bytes);
        out
    }

    /// Encodes a float the way dlib's `float_details` does.
    fn pack_f32(v: f32) -> Vec<u8> {
        if v == 0.0 {
            let mut o = pack(0);
            o.extend(pack(0));
            return o;
        }
        // frexp: v = f * 2^exp with 0.5 <= |f| < 1; mantissa = f * 2^24.
        let bits = v.to_bits();
        let exp = ((bits >> 23) & 0xFF) as i32 - 126;
        let f = f64::from(v) / 2f64.powi(exp);
        let mut mant = (f * f64::from(1u32 << 24)) as i64;
        let mut e = exp - 24;
        for _ in 0..8 {
            if mant & 0xFF != 0 {
                break;
            }
            mant >>= 8;
            e += 8;
        }
        let mut o = pack(mant);
        o.extend(pack(e as i64));
        o
    }

    #[test]
    fn integers_round_trip() {
        for v in [
            0i64,
            1,
            -1,
            127,
            128,
            255,
            256,
            -300,
            65535,
            1 << 40,
            i64::MAX,
            -i64::MAX,
        ] {
            let b = pack(v);
            assert_eq!(DatReader::new(&b).read_i64().unwrap(), v, "{v}");
        }
        let b = pack(4_000_000_000);
        assert_eq!(DatReader::new(&b).read_u64().unwrap(), 4_000_000_000);
        assert_eq!(DatReader::new(&[0x01, 0x05]).read_i32().unwrap(), 5);
        assert_eq!(DatReader::new(&[0x81, 0x05]).read_i32().unwrap(), -5);
        // Known bytes: 1000 = 0x03E8 -> [0x02, 0xE8, 0x03].
        assert_eq!(
            DatReader::new(&[0x02, 0xE8, 0x03]).read_u64().unwrap(),
            1000
        );
    }

    #[test]
    fn integer_errors() {
        // Negative value for an unsigned type.
        assert!(matches!(
            DatReader::new(&[0x81, 0x05]).read_u64(),
            Err(DatError::BadVarint { .. })
        ));
        // Five bytes do not fit an int.
        assert!(matches!(
            DatReader::new(&[0x05, 1, 2, 3, 4, 5]).read_i32(),
            Err(DatError::BadVarint { .. })
        ));
        // Nine bytes fit nothing.
        assert!(matches!(
            DatReader::new(&[0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0]).read_u64(),
            Err(DatError::BadVarint { .. })
        ));
        // Zero-length integer.
        assert!(matches!(
            DatReader::new(&[0x00]).read_u64(),
            Err(DatError::BadVarint { .. })
        ));
        // Truncated body and empty input.
        assert!(matches!(
            DatReader::new(&[0x04, 1, 2]).read_u64(),
            Err(DatError::Truncated { .. })
        ));
        assert!(matches!(
            DatReader::new(&[]).read_i64(),
            Err(DatError::Truncated { .. })
        ));
    }

    #[test]
    fn floats_round_trip() {
        for v in [0.0f32, 1.0, -1.0, 0.5, 3.25, -1234.5678, 1e-30, 3e38, 0.1] {
            let b = pack_f32(v);
            assert_eq!(DatReader::new(&b).read_f32().unwrap(), v, "{v}");
            assert_eq!(DatReader::new(&b).read_f64().unwrap(), f64::from(v), "{v}");
        }
        // 1.0 as dlib writes it: mantissa 1 (after compaction), exponent 0.
        assert_eq!(
            DatReader::new(&[0x01, 0x01, 0x01, 0x00])
                .read_f32()
                .unwrap(),
            1.0
        );
        // Specials.
        let mut inf = pack(0);
        inf.extend(pack(32000));
        assert_eq!(DatReader::new(&inf).read_f32().unwrap(), f32::INFINITY);
        let mut nan = pack(0);
        nan.extend(pack(32002));
        assert!(DatReader::new(&nan).read_f64().unwrap().is_nan());
        // Huge exponents saturate instead of panicking.
        let mut big = pack(1);
        big.extend(pack(30000));
        assert_eq!(DatReader::new(&big).read_f32().unwrap(), f32::INFINITY);
        let mut tiny = pack(1);
        tiny.extend(pack(-30000));
        assert_eq!(DatReader::new(&tiny).read_f64().unwrap(), 0.0);
    }

    #[test]
    fn float_errors() {
        // ASCII float ("1.5 ") from the pre-binary format is refused.
        assert!(matches!(
            DatReader::new(b"1.5 ").read_f32(),
            Err(DatError::Unsupported { .. })
        ));
        // Mantissa present, exponent missing.
        assert!(matches!(
            DatReader::new(&[0x01, 0x01]).read_f32(),
            Err(DatError::Truncated { .. })
        ));
        // Exponent wider than int16.
        assert!(matches!(
            DatReader::new(&[0x01, 0x01, 0x03, 1, 2, 3]).read_f32(),
            Err(DatError::BadVarint { .. })
        ));
    }

    #[test]
    fn strings_and_vectors() {
        let mut b = pack(5);
        b.extend_from_slice(b"hello");
        let mut r = DatReader::new(&b);
        assert_eq!(r.read_string().unwrap(), "hello");
        assert!(r.is_at_end());
        r = DatReader::new(&b);
        r.expect_string("hello").unwrap();
        assert!(r.is_at_end());
        assert!(matches!(
            DatReader::new(&b).expect_string("world"),
            Err(DatError::Invalid(_))
        ));

        // vector<int> {1, -2, 300}
        let mut v = pack(3);
        for x in [1, -2, 300] {
            v.extend(pack(x));
        }
        let got = DatReader::new(&v)
            .read_vec(10, super::DatReader::read_i32)
            .unwrap();
        assert_eq!(got, vec![1, -2, 300]);
        // Same data with a cap below the length.
        assert!(matches!(
            DatReader::new(&v).read_vec(2, super::DatReader::read_i32),
            Err(DatError::TooLarge { .. })
        ));
    }

    #[test]
    fn hostile_lengths_are_rejected_without_allocating() {
        // A string claiming u64::MAX bytes.
        let mut b = vec![0x08];
        b.extend([0xFF; 8]);
        assert!(matches!(
            DatReader::new(&b).read_string(),
            Err(DatError::TooLarge { .. })
        ));
        // A vector claiming 2^40 elements with 3 bytes of payload.
        let mut v = pack(1 << 40);
        v.extend([1, 1, 1]);
        assert!(matches!(
            DatReader::new(&v).read_vec(u64::MAX, super::DatReader::read_i32),
            Err(DatError::TooLarge { .. })
        ));
        // A matrix claiming -2^31 x -2^31.
        let mut m = pack(-(1 << 31));
        m.extend(pack(-(1 << 31)));
        assert!(matches!(
            DatReader::new(&m).read_matrix_f32(u64::MAX),
            Err(DatError::TooLarge { .. })
        ));
        // Both negative (the current encoding) but one of them absurd.
        let mut m = pack(-2);
        m.extend(pack(i64::MIN + 1));
        assert!(matches!(
            DatReader::new(&m).read_matrix_f32(u64::MAX),
            Err(DatError::TooLarge { .. })
        ));
        // Mixed-sign dimensions.
        let mut m = pack(-2);
        m.extend(pack(3));
        assert!(matches!(
            DatReader::new(&m).read_matrix_f32(u64::MAX),
            Err(DatError::BadVarint {
                reason: "matrix dimensions of mixed sign",
                ..
            })
        ));
        // String length within limits but body truncated: the length is checked
        // against the bytes that are left.
        let mut s = pack(4);
        s.extend_from_slice(b"ab");
        assert!(matches!(
            DatReader::new(&s).read_string(),
            Err(DatError::TooLarge { len: 4, max: 2, .. })
        ));
    }

    #[test]
    fn matrices() {
        // 2x1 matrix in the current (negated) format: [1.0, -0.5].
        let mut m = pack(-2);
        m.extend(pack(-1));
        m.extend(pack_f32(1.0));
        m.extend(pack_f32(-0.5));
        let got = DatReader::new(&m).read_matrix_f32(100).unwrap();
        assert_eq!((got.rows, got.cols), (2, 1));
        assert_eq!(got.data, vec![1.0, -0.5]);
        // Old positive format is accepted too.
        let mut m = pack(1);
        m.extend(pack(2));
        m.extend(pack_f32(2.0));
        m.extend(pack_f32(4.0));
        let got = DatReader::new(&m).read_matrix_f64(100).unwrap();
        assert_eq!((got.rows, got.cols), (1, 2));
        assert_eq!(got.data, vec![2.0, 4.0]);
        // Truncated body.
        assert!(matches!(
            DatReader::new(&m[..m.len() - 1]).read_matrix_f32(100),
            Err(DatError::Truncated { .. })
        ));
    }

    #[test]
    fn bools_and_versions() {
        assert!(DatReader::new(b"1").read_bool().unwrap());
        assert!(!DatReader::new(b"0").read_bool().unwrap());
        assert!(matches!(
            DatReader::new(b"x").read_bool(),
            Err(DatError::BadVarint { offset: 0, .. })
        ));
        DatReader::new(&pack(1)).expect_version("x", 1).unwrap();
        assert!(matches!(
            DatReader::new(&pack(2)).expect_version("x", 1),
            Err(DatError::UnexpectedVersion { found: 2, .. })
        ));
    }
}
