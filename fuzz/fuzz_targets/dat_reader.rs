//! `facematch_dlib::serialize::DatReader` primitives driven by the input itself: the
//! first byte picks a program of reads (so one input exercises a sequence of integers,
//! floats, strings, vectors and matrices), the rest is the serialized data. Goal: every
//! read either succeeds within the bytes that remain or returns an error: no panic, no
//! allocation beyond what the input could hold.
#![no_main]

use facematch_dlib::serialize::{DatReader, MAX_ELEMENTS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, bytes)) = data.split_first() else {
        return;
    };
    let mut r = DatReader::new(bytes);
    // A program: each step's operation comes from the seed byte and the step number, so
    // that the fuzzer can pick a starting op and the data decides how far it goes.
    for step in 0u32..64 {
        let before = r.position();
        let op = (u32::from(seed) + step * 7) % 17;
        let ok = match op {
            0 => r.read_u64().is_ok(),
            1 => r.read_i64().is_ok(),
            2 => r.read_u32().is_ok(),
            3 => r.read_i32().is_ok(),
            4 => r.read_u16().is_ok(),
            5 => r.read_i16().is_ok(),
            6 => r.read_bool().is_ok(),
            7 => r.read_f32().is_ok(),
            8 => r.read_f64().is_ok(),
            9 => r.read_string().is_ok(),
            10 => r.read_vec(MAX_ELEMENTS, |r| r.read_i32()).is_ok(),
            11 => r.read_vec_f32(MAX_ELEMENTS).is_ok(),
            12 => match r.read_matrix_f32(MAX_ELEMENTS) {
                Ok(m) => {
                    assert_eq!(m.data.len(), m.rows * m.cols);
                    true
                }
                Err(_) => false,
            },
            13 => r.read_matrix_f64(MAX_ELEMENTS).is_ok(),
            14 => r
                .read_matrix(MAX_ELEMENTS, |r| r.read_vector2_f32())
                .is_ok(),
            15 => r.read_len("len", u64::MAX, 1).is_ok(),
            _ => r.expect_string("fc_2").is_ok(),
        };
        assert!(r.position() <= bytes.len());
        assert_eq!(r.position() + r.remaining(), bytes.len());
        if !ok {
            // After an error the position is unspecified (like a failed C++ stream):
            // stop, as every caller does.
            break;
        }
        assert!(
            r.position() > before || op == 15,
            "a successful read consumed nothing"
        );
        if r.is_at_end() {
            break;
        }
    }
});
