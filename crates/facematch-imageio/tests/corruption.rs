//! Truncated and bit-flipped copies of real fixtures: each outcome is pinned, and none
//! may be a caught decoder panic. `decode()` turns a panic into an error so a server
//! survives it, which is why "did not panic" alone proves nothing here: the test has to
//! look at which error came back.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

mod common;

use common::{decode_fixture, read};
use facematch_imageio::{decode, DecodeLimits, ImageError, RgbImage};

/// What a decode gave, as one letter, so a whole series reads as a string.
fn letter(result: &Result<facematch_imageio::DecodedImage, ImageError>, full: (u32, u32)) -> char {
    match result {
        Ok(d) if d.rgb.dimensions() == full => 'O',
        Ok(_) => 'o',
        Err(ImageError::Empty) => 'E',
        Err(ImageError::UnsupportedFormat { detected: None }) => 'U',
        Err(ImageError::UnsupportedFormat { .. }) => 'u',
        Err(ImageError::TooLarge { .. } | ImageError::MemoryLimit(_)) => 'L',
        Err(ImageError::UnsupportedFeature(_)) => 'F',
        Err(ImageError::Decode(_)) => 'D',
        Err(ImageError::DecoderPanicked) => 'P',
        Err(ImageError::Truncated { .. }) => 'T',
    }
}

/// A short description of a result for failure messages (never the pixels).
fn describe(result: &Result<facematch_imageio::DecodedImage, ImageError>) -> String {
    match result {
        Ok(d) => format!("Ok({:?})", d.rgb.dimensions()),
        Err(e) => format!("Err({e:?})"),
    }
}

/// End of the first start-of-scan header of a JPEG, read from its marker segments
/// (independently of any decoder): from there on the decoder has every table it needs.
fn jpeg_first_scan(bytes: &[u8]) -> usize {
    let mut at = 2;
    loop {
        assert_eq!(bytes[at], 0xFF, "marker expected at {at}");
        let marker = bytes[at + 1];
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        at += 2 + len;
        if marker == 0xDA {
            return at;
        }
    }
}

/// A fixture, the outcome expected for a prefix of `len` bytes, and the letters
/// expected for the 19 bit-flip patterns of [`flipped`].
struct Case {
    rel: &'static str,
    prefix: fn(len: usize, bytes: &[u8]) -> char,
    flips: &'static str,
}

/// JPEG: the 3-byte signature, then the headers (a cut there is a decode error), then
/// from the first scan on the decoder would fill the missing part in, and the missing
/// end-of-image marker makes it a truncated image (issue 10).
fn jpeg_prefix(len: usize, bytes: &[u8]) -> char {
    match len {
        0 => 'E',
        1..=2 => 'U',
        _ if len < jpeg_first_scan(bytes) => 'D',
        _ => 'T',
    }
}

/// WebP: the 12-byte RIFF/WEBP signature, then decode errors until the decoder has its
/// header (the `VP8 ` chunk header and the 10-byte frame header: 30 bytes); every later
/// cut is refused by the completeness check before any pixel is decoded (the RIFF size
/// exceeds the bytes present).
fn webp_prefix(len: usize, bytes: &[u8]) -> char {
    assert_eq!(&bytes[12..16], b"VP8 ", "a lossy WebP");
    match len {
        0 => 'E',
        1..=11 => 'U',
        _ if len < 12 + 8 + 10 => 'D',
        _ => 'T',
    }
}

/// PNG: the 8-byte signature, then decode errors until the decoder has read its header
/// (every chunk up to the first IDAT chunk's length and type); every later cut is
/// refused by the completeness check before any pixel is decoded.
fn png_prefix(len: usize, bytes: &[u8]) -> char {
    let idat = bytes.windows(4).position(|w| w == b"IDAT").unwrap() - 4;
    match len {
        0 => 'E',
        1..=7 => 'U',
        _ if len < idat + 8 => 'D',
        _ => 'T',
    }
}

const CASES: [Case; 4] = [
    Case {
        rel: "fixtures/one_face_hopper.jpg",
        prefix: jpeg_prefix,
        // Flipped bytes in entropy-coded data only change pixels.
        flips: "OOOOOOOOOOOOOOOOOOO",
    },
    Case {
        rel: "fixtures/one_face_hopper_progressive.jpg",
        prefix: jpeg_prefix,
        flips: "OOOOOOOOOOOOOOOOOOO",
    },
    Case {
        rel: "fixtures/one_face_hopper.webp",
        prefix: webp_prefix,
        // Pattern 1 flips the top byte of the RIFF size (byte 7), which then claims
        // far more bytes than the file has: truncated. Pattern 4 flips a bit of the
        // frame height: a 512x514 image.
        flips: "TDDoOOOOOOOOOOOOOOO",
    },
    Case {
        rel: "fixtures/tiny_image_64x64.png",
        prefix: png_prefix,
        // Pattern 1 breaks the signature; every other one fails a CRC or the zlib stream.
        flips: "UDDDDDDDDDDDDDDDDDD",
    },
];

/// Deterministic corruption: pattern `step` XORs bytes at spread-out offsets.
fn flipped(bytes: &[u8], step: usize) -> Vec<u8> {
    let mut corrupt = bytes.to_vec();
    let mut i = step * 7;
    while i < corrupt.len() {
        corrupt[i] ^= 0x5A;
        i += corrupt.len() / (step * 3) + 1;
    }
    corrupt
}

#[test]
fn truncations_are_named_errors_or_complete_images() {
    let limits = DecodeLimits::default();
    for case in &CASES {
        let bytes = read(case.rel);
        let full: RgbImage = decode_fixture(case.rel);
        let mut cuts = vec![1, 2, 3, 4, 8, 12, 16, 32, 100, 500, bytes.len() / 2];
        // Just before and at the point where the decoder has what it needs (and only
        // the completeness check can tell the file is cut).
        if let Some(first) = (1..bytes.len()).find(|&n| (case.prefix)(n, &bytes) == 'T') {
            cuts.extend([first - 1, first]);
        }
        cuts.push(bytes.len() - 1);
        for len in cuts {
            let result = decode(&bytes[..len], &limits);
            let got = letter(&result, full.dimensions());
            let want = (case.prefix)(len, &bytes);
            assert_eq!(
                got,
                want,
                "{}: prefix of {len} bytes: {}",
                case.rel,
                describe(&result)
            );
        }
        // Even losing only bytes the decoder never reads is a truncated image, and
        // the whole file still decodes.
        assert!(
            matches!(
                decode(&bytes[..bytes.len() - 1], &limits),
                Err(ImageError::Truncated { .. })
            ),
            "{}: last byte cut",
            case.rel
        );
        assert!(decode(&bytes, &limits).unwrap().rgb == full, "{}", case.rel);
    }
}

#[test]
fn bit_flips_give_their_pinned_outcome_and_never_a_caught_panic() {
    let limits = DecodeLimits::default();
    for case in &CASES {
        let bytes = read(case.rel);
        let full = decode_fixture(case.rel).dimensions();
        let got: String = (1..20)
            .map(|step| letter(&decode(&flipped(&bytes, step), &limits), full))
            .collect();
        assert!(
            !got.contains('P'),
            "{}: a decoder panicked: {got}",
            case.rel
        );
        assert_eq!(got, case.flips, "{}", case.rel);
    }
}
