//! Structural completeness checks: is every byte the file declares actually there?
//!
//! Decoders are lenient about files that end early (the JPEG decoder fills a missing
//! scan with grey, PNG never reads the final IEND chunk, WebP and TIFF stop reading
//! once they have their pixels), so a photo damaged in transit can decode "fine". A
//! face match must not judge such a photo, so once the header is read and before any
//! pixel is decoded [`check`] walks the container structure (one linear pass at most)
//! and reports an incomplete file as [`ImageError::Truncated`]: a damaged upload costs
//! no decode.
//!
//! The rules, per format:
//! - **JPEG**: an end-of-image marker (`FF D9`) must follow the last start-of-scan
//!   marker. Bytes after EOI are allowed (zero padding, camera trailers), since they
//!   are not part of the decoded image. A scan cut short has no EOI after it, so a
//!   short scan is caught by the same rule.
//! - **PNG**: every chunk must be whole, up to and including the `IEND` chunk and its
//!   CRC. Bytes after `IEND` are allowed.
//! - **WebP**: the RIFF size must not exceed the bytes present.
//! - **TIFF**: the first IFD must be present, every entry's out-of-line value (strip
//!   tables, ICC profile, …) and every strip's or tile's declared `offset + byte count`
//!   must lie within the bytes present.

use crate::error::ImageError;
use crate::format::ImageFormatKind;

/// Checks that `bytes`, whose header was read as `format`, are complete. Makes no
/// assumption that the rest of the file is valid: it only reads declared sizes and
/// markers, bounds-checked.
///
/// Returns [`ImageError::Truncated`] naming the format and what is missing.
pub(crate) fn check(bytes: &[u8], format: ImageFormatKind) -> Result<(), ImageError> {
    let missing = match format {
        ImageFormatKind::Jpeg => jpeg(bytes),
        ImageFormatKind::Png => png(bytes),
        ImageFormatKind::WebP => webp(bytes),
        ImageFormatKind::Tiff => tiff(bytes),
    };
    match missing {
        None => Ok(()),
        Some(missing) => Err(ImageError::Truncated { format, missing }),
    }
}

/// Reads `N` bytes at `at`, if they are all present.
fn take<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// JPEG: what is missing, or `None` when the file is complete.
///
/// In entropy-coded data every `0xFF` is followed by `0x00` or a restart marker, so
/// `FF DA` (start of scan) and `FF D9` (end of image) bytes are markers there. The
/// last scan of the picture must be followed by an end-of-image marker; searching for
/// the last `FF DA` rather than walking the segment lengths keeps the check as lenient
/// as the decoder about damaged headers, and an EXIF thumbnail (its own scan and EOI,
/// before the picture's scans) cannot stand in for the picture's EOI.
fn jpeg(bytes: &[u8]) -> Option<String> {
    let Some(last_scan) = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]) else {
        return Some("no scan data".to_owned());
    };
    if bytes[last_scan..].windows(2).any(|w| w == [0xFF, 0xD9]) {
        None
    } else {
        Some("no end-of-image marker: the scan data is cut short".to_owned())
    }
}

/// PNG: what is missing, or `None` when the file is complete.
fn png(bytes: &[u8]) -> Option<String> {
    let mut at = 8;
    loop {
        let Some(len) = take::<4>(bytes, at).map(u32::from_be_bytes) else {
            return Some("no IEND chunk".to_owned());
        };
        let Some(kind) = take::<4>(bytes, at + 4) else {
            return Some("the file ends inside a chunk header".to_owned());
        };
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            // Not a chunk type: the file is damaged, not cut short, and the decoder
            // reports that (a CRC or a zlib error) as a corrupt image.
            return None;
        }
        // Length, type, data, CRC.
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| (at + 12).checked_add(len));
        match end {
            Some(end) if end <= bytes.len() => {
                if &kind == b"IEND" {
                    return None;
                }
                at = end;
            }
            _ => {
                let name = String::from_utf8_lossy(&kind).into_owned();
                return Some(format!("the {name} chunk is cut short"));
            }
        }
    }
}

/// WebP: what is missing, or `None` when the file is complete.
fn webp(bytes: &[u8]) -> Option<String> {
    let size = take::<4>(bytes, 4).map(u32::from_le_bytes)?;
    let declared = u64::from(size) + 8;
    let present = bytes.len() as u64;
    (declared > present)
        .then(|| format!("the RIFF header declares {declared} bytes, only {present} are present"))
}

/// TIFF: what is missing, or `None` when the file is complete.
fn tiff(bytes: &[u8]) -> Option<String> {
    let little = bytes.starts_with(b"II");
    let u16_at = |at: usize| {
        take::<2>(bytes, at).map(|b| {
            if little {
                u16::from_le_bytes(b)
            } else {
                u16::from_be_bytes(b)
            }
        })
    };
    let u32_at = |at: usize| {
        take::<4>(bytes, at).map(|b| {
            if little {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        })
    };
    let u64_at = |at: usize| {
        take::<8>(bytes, at).map(|b| {
            if little {
                u64::from_le_bytes(b)
            } else {
                u64::from_be_bytes(b)
            }
        })
    };
    let big = u16_at(2)? == 43;
    let cut = || Some("the first image directory is cut short".to_owned());

    // Layout of the first IFD: entry count, then 12-byte (classic) or 20-byte
    // (BigTIFF) entries of tag, type, count, value-or-offset.
    let (ifd, entry_size, count_size) = if big {
        (u64_at(8).and_then(|o| usize::try_from(o).ok()), 20, 8)
    } else {
        (u32_at(4).and_then(|o| usize::try_from(o).ok()), 12, 2)
    };
    let Some(ifd) = ifd else { return cut() };
    let entries = if big {
        u64_at(ifd).and_then(|n| usize::try_from(n).ok())
    } else {
        u16_at(ifd).map(usize::from)
    };
    let Some(entries) = entries else { return cut() };
    let first = ifd + count_size;
    match entries
        .checked_mul(entry_size)
        .and_then(|n| n.checked_add(first))
    {
        Some(end) if end <= bytes.len() => {}
        _ => return cut(),
    }

    // One IFD entry's values as u64: SHORT, LONG or LONG8, inline or at an offset.
    let values = |entry: usize| -> Option<Vec<u64>> {
        let kind = u16_at(entry + 2)?;
        let (count, inline, value_at) = if big {
            (u64_at(entry + 4)?, 8, entry + 12)
        } else {
            (u64::from(u32_at(entry + 4)?), 4, entry + 8)
        };
        let width: usize = match kind {
            1 | 2 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 11 | 13 => 4,
            5 | 10 | 12 | 16 | 17 | 18 => 8,
            // An unknown type: its size is unknown, so it cannot be checked.
            _ => return Some(Vec::new()),
        };
        let count = usize::try_from(count).ok()?;
        let total = count.checked_mul(width)?;
        let start = if total <= inline {
            value_at
        } else if big {
            usize::try_from(u64_at(value_at)?).ok()?
        } else {
            usize::try_from(u32_at(value_at)?).ok()?
        };
        if start.checked_add(total)? > bytes.len() {
            return None;
        }
        if !matches!(kind, 3 | 4 | 13 | 16 | 18) {
            // Present, but not an unsigned offset or count: nothing more to read.
            return Some(Vec::new());
        }
        (0..count)
            .map(|i| {
                let at = start + i * width;
                match width {
                    2 => u16_at(at).map(u64::from),
                    4 => u32_at(at).map(u64::from),
                    _ => u64_at(at),
                }
            })
            .collect()
    };

    let mut offsets = None;
    let mut counts = None;
    for i in 0..entries {
        let entry = first + i * entry_size;
        let tag = u16_at(entry)?;
        // Every entry's out-of-line value (strip tables, ICC profile, …) must be there.
        let Some(v) = values(entry) else {
            return Some(format!(
                "the value of tag {tag} lies past the end of the file"
            ));
        };
        match tag {
            273 | 324 => offsets = Some(v),
            279 | 325 => counts = Some(v),
            _ => {}
        }
    }
    let (Some(offsets), Some(counts)) = (offsets, counts) else {
        return None;
    };
    let present = bytes.len() as u64;
    for (offset, count) in offsets.iter().zip(&counts) {
        let end = offset.saturating_add(*count);
        if end > present {
            return Some(format!(
                "a strip or tile ends at byte {end}, only {present} are present"
            ));
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure
mod tests {
    use super::*;

    #[test]
    fn jpeg_needs_an_end_of_image_after_the_scan() {
        let head = [0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02];
        let whole = [&head[..], &[0x12, 0xFF, 0x00, 0xFF, 0xD9]].concat();
        assert_eq!(jpeg(&whole), None);
        // Trailing bytes after EOI (zero padding, trailers) are fine.
        assert_eq!(jpeg(&[&whole[..], &[0, 0, 0, 7]].concat()), None);
        assert!(jpeg(&whole[..whole.len() - 1]).is_some());
        assert!(jpeg(&head[..5]).is_some());
        // An EXIF thumbnail's own scan and EOI do not complete the picture's scan.
        let thumbnail = [0xFF, 0xE1, 0x00, 0x08, 0xFF, 0xDA, 0x01, 0xFF, 0xD9];
        let cut = [&[0xFF, 0xD8][..], &thumbnail[..], &head[2..], &[0x12]].concat();
        assert!(jpeg(&cut).is_some());
    }

    #[test]
    fn webp_riff_size_must_fit() {
        let mut riff = b"RIFF\x04\0\0\0WEBP".to_vec();
        assert_eq!(webp(&riff), None);
        riff[4] = 5;
        assert!(webp(&riff).is_some());
    }
}
